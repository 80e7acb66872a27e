/*
 * proxy: forwards a request under /trade-api/v2/ to the upstream (same
 * method, raw path, raw query and body; client KALSHI-ACCESS-*,
 * Authorization and hop-by-hop headers dropped; signed at dispatch) and
 * relays the upstream's status, body and content type unchanged.
 */
#ifndef GATEWAY_PROXY_H
#define GATEWAY_PROXY_H

#include <curl/curl.h>

struct request;
struct upstream_response;

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

#endif
