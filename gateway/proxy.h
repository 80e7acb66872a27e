/*
 * proxy: forwards a request under /trade-api/v2/ to the upstream (same
 * method, raw path, raw query and body; client KALSHI-ACCESS-*,
 * Authorization and hop-by-hop headers dropped; signed at dispatch) and
 * relays the upstream's status, body and content type unchanged.
 */
#ifndef GATEWAY_PROXY_H
#define GATEWAY_PROXY_H

#include <curl/curl.h>

#include "upstream/client.h"

struct request;
struct route_info;
struct legacy_err;
struct order_ctx;

/* Handles a complete proxied request: suspends it while the upstream
 * works, or answers at once with an error. Loop thread only. */
void proxy_handle(struct request *rq);

/*
 * Copies the client's headers that may be forwarded into a new list
 * ("Name: value"): everything but Host, Content-Length, Authorization,
 * KALSHI-ACCESS-*, X-Gateway-*, Origin, Accept-Encoding, Expect, Cookie and
 * the hop-by-hop headers (also those named in Connection). Returns 0 and
 * *out (caller frees with curl_slist_free_all), or -1 on OOM.
 */
int proxy_forward_headers(struct request *rq, struct curl_slist **out);

/* Builds the answer for a finished upstream transfer on rq: the relayed
 * response, or the gateway error for a failed transfer. Takes resp->body. */
void proxy_relay(struct request *rq, struct upstream_response *resp);

/* proxy_relay for an order admitted by proxy_order_prepare (oc, may be
 * NULL): when its outcome is unknown (sent, no complete answer) the 504
 * error names the client_order_id ("client_order_ids" for a batch) the bot
 * can look the order up by. */
void proxy_relay_order(struct request *rq, struct upstream_response *resp,
		       const struct order_ctx *oc);

/*
 * A body transformation the order path runs once the session checks have
 * passed and before it parses the body: it replaces rq->body (e.g. a legacy
 * body translated to V2, see legacy_flow.h). Returns 0, or -1 with *err
 * filled (code, message, index); the order is then refused with err's code
 * and, for a create, counted as rejected against the session.
 */
typedef int (*proxy_body_fn)(struct request *rq, void *ud, struct legacy_err *err);

/*
 * The order path for a V2 create, batch create or amend (ri from
 * route_classify on rq's path): session, body_fn (may be NULL), group
 * injection into rq->body, normalisation, max_orders_per_s, limits and
 * session caps with reservation. Returns 0 and *out (free() it once
 * settled), or -1 when rq was answered with a refusal. Loop thread only.
 */
int proxy_order_prepare(struct request *rq, const struct route_info *ri, proxy_body_fn body_fn,
			void *ud, struct order_ctx **out);

/* Settles what proxy_order_prepare admitted from the upstream's answer
 * (reservation, session counters, metrics, audit). resp is only read. */
void proxy_order_settle(struct request *rq, const struct order_ctx *oc,
			const struct upstream_response *resp);

/* Settles an admitted order that was never sent (nothing reached the
 * exchange): its reservation and client_order_ids are released. */
void proxy_order_unsent(struct request *rq, const struct order_ctx *oc);

/*
 * Sends rq's upstream call (its method, target, query and body as they
 * are now) within the account's shared budget
 * (gateway/dispatch.h: it may wait in the loop's queue, retries what is
 * safe to retry), signed, with the client's forwardable headers; oc (may
 * be NULL) gives the number of orders billed. Suspends rq; done(rq, resp)
 * runs once on this loop. Returns 0, or -1 when rq was answered (after
 * request_unsent). Loop thread only.
 */
int proxy_dispatch(struct request *rq, const struct route_info *ri, const struct order_ctx *oc,
		   upstream_done_fn done);

/*
 * Starts a signed upstream transfer for rq (ur's headers are ignored: the
 * client's forwardable headers are sent when forward_headers is set, none
 * otherwise) and stores it in rq->xfer; done(ud, resp) then runs once on
 * this loop. The caller suspends rq if it is not suspended yet. Returns 0,
 * or -1 with err filled when nothing was started (rq is not answered).
 */
int proxy_send(struct request *rq, const struct upstream_request *ur, int forward_headers,
	       upstream_done_fn done, void *ud, char *err, size_t errlen);

#endif
