/*
 * request: one HTTP request from a client, from the request line to the
 * answer. Owned by the event loop that accepted its connection and used
 * only on that loop's thread.
 *
 * Phases: REQ_NEW (request line seen) -> REQ_BODY (headers checked, body
 * being read) -> REQ_DISPATCHED (handler ran: answered, or suspended while
 * the upstream works; the upstream callback sets the answer and resumes).
 */
#ifndef GATEWAY_REQUEST_H
#define GATEWAY_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/path.h"

struct gw;
struct gw_snapshot;
struct loop;
struct upstream_pool;
struct upstream_xfer;
struct identity_client;

enum req_phase { REQ_NEW = 0, REQ_BODY, REQ_DISPATCHED };

struct request {
	struct loop *loop;
	struct gw *gw;
	const struct gw_snapshot *snap; /* configuration snapshot taken at the request line */
	struct MHD_Connection *conn;
	struct request *prev, *next;   /* loop's suspended list */
	enum req_phase phase;
	int suspended;                 /* waiting for this loop's upstream pool */
	int handed_off;                /* suspended for another thread (never cleared) */

	char *target;                  /* raw request target, owned */
	size_t path_len;               /* bytes of target before '?' */
	const char *query;             /* into target, after '?', or NULL */
	char method[16];
	enum path_route route;
	int metrics_route;             /* enum metrics_route, set by handlers */
	int is_write;                  /* not GET/HEAD/OPTIONS */

	char *body;                    /* NUL-terminated, owned */
	size_t body_len, body_cap;
	size_t body_over;              /* bytes discarded past the cap */

	const char *client;            /* client name (static or config-owned) */
	const char *client_session;    /* the client's configured session, or NULL */
	const struct identity_client *ident; /* the identified client, or NULL (anonymous) */
	int role;                      /* enum gw_role */
	char request_id[72];

	struct MHD_Response *reply;    /* the answer, once known */
	unsigned int reply_status;
	const char *error_code;        /* gateway error code, for logs */

	struct upstream_xfer *xfer;    /* while waiting for the upstream */
	void *dispatch;                /* rate-budget and retry state (dispatch.c) */
	int park_prio;                 /* queue while parked, -1 when not */
	struct request *park_prev, *park_next;
	void *ctx;                     /* handler-specific state */
	void (*ctx_free)(void *ctx);
	/* Called (once, then cleared) when the gateway answers rq itself and
	 * its upstream call was never sent: the rate-budget queue's 429, a
	 * transfer that could not start, the shutdown drain. The handler
	 * releases what it reserved for the call (session contracts, claimed
	 * client_order_ids). The handler clears it once its call is settled. */
	void (*unsent)(struct request *rq);
	int64_t start_us;
	long upstream_us;              /* -1 = not forwarded */
};

/* Sets the answer to a gateway error with the status of its code; the
 * first answer wins. `extra` (may be NULL) is stolen. */
void request_fail(struct request *rq, const char *code, const char *message, json_t *extra);

/* Sets the answer; resp is taken (destroyed if an answer exists). */
void request_answer(struct request *rq, unsigned int status, struct MHD_Response *resp);

/* Runs and clears rq->unsent, if set (see struct request). */
void request_unsent(struct request *rq);

/* Suspends the connection until request_resume (same thread); a request
 * already suspended stays so (one resume ends it). */
void request_suspend(struct request *rq);
void request_resume(struct request *rq);

/* Suspends the connection for work on another thread, which must call
 * request_resume_external exactly once (thread-safe); the loop does not stop
 * while such requests are out. */
void request_suspend_external(struct request *rq);
void request_resume_external(struct request *rq);

/* Parks a suspended request in its loop's rate-budget queue at priority
 * prio (enum dispatch_prio); the loop calls dispatch_try for it until it
 * leaves. request_unpark takes it out (the loop does, on success). */
void request_park(struct request *rq, int prio);
void request_unpark(struct request *rq);

/* Keeps the request's loop from stopping until request_unhold, for a
 * connection handed to another thread past its answer (an upgraded
 * WebSocket). Returns the loop to pass to request_unhold. Loop thread. */
struct loop *request_hold(struct request *rq);

/* Releases request_hold and wakes the loop; with urh, first gives the
 * upgraded socket back to libmicrohttpd to close
 * (MHD_UPGRADE_ACTION_CLOSE). Thread-safe; uses nothing of the request,
 * which the loop may free as soon as urh is closed. */
void request_unhold(struct loop *l, struct MHD_UpgradeResponseHandle *urh);

/* The upstream pool of the request's loop. */
struct upstream_pool *request_pool(struct request *rq);

/* Frees what the request owns (not the struct). */
void request_release(struct request *rq);

#endif
