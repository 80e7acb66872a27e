/*
 * dispatch: sends a proxied request upstream within the account's shared
 * rate budget (upstream/ratelimit.h), and retries what is safe to retry.
 *
 * Over budget, a request waits suspended in its loop's queue (a timer in
 * the loop, never a sleep) until the budget allows or
 * rate_limit.max_queue_ms passes (then 429 rate_limited with Retry-After).
 * The queue serves priorities in order - session calls, then cancels and
 * decreases, then creates and other writes, then reads - and within one
 * priority takes turns between clients, so one flooding bot cannot starve
 * the others - across loops too: the turns and the claims of waiting
 * queues live with the shared budget (ratelimit_take_turn). Signing
 * happens at dispatch, after any wait, and again for every retry.
 *
 * Retries: reads on a failed connect, 429, 502/503/504 or a lost
 * connection; writes only when nothing was sent or the exchange answered
 * 429. Exponential backoff with jitter, at most 3 attempts, within the
 * request's time. A 429 from the exchange empties the local bucket so the
 * whole team backs off together.
 *
 * Loop thread only (dispatch_charge: any thread).
 */
#ifndef GATEWAY_DISPATCH_H
#define GATEWAY_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "policy/route.h"
#include "upstream/fairq.h"
#include "upstream/client.h"

struct gw;
struct request;

/* The queues, highest priority first (upstream/fairq.h chooses). */
enum dispatch_prio {
	DISPATCH_PRIO_SESSION = FAIRQ_SESSION,
	DISPATCH_PRIO_CANCEL = FAIRQ_CANCEL,
	DISPATCH_PRIO_WRITE = FAIRQ_WRITE,
	DISPATCH_PRIO_READ = FAIRQ_READ,
	DISPATCH_PRIO_COUNT = FAIRQ_PRIO_COUNT
};

/*
 * Sends rq: ur describes the request (its pointers must stay valid while
 * rq lives: they point into rq), headers is taken over. done(ud=rq, resp)
 * is called once with the final answer. The connection is suspended until
 * then. Returns 0, or -1 when answered at once with an error.
 */
int dispatch_send(struct request *rq, const struct upstream_request *ur,
		  struct curl_slist *headers, const struct route_info *ri, size_t n_orders,
		  upstream_done_fn done);

/* When a parked request is a retry waiting out its backoff at now_ms: the
 * time it may go (it takes no turn before then), else 0. */
int64_t dispatch_backoff_until(const struct request *rq, int64_t now_ms);

/* Called by the loop for a parked request: tries to admit it at now_ms.
 * Returns 1 when it left the queue (started, or answered 429 at its
 * deadline), 0 when it must wait (*wait_ms set). */
int dispatch_try(struct request *rq, int64_t now_ms, int64_t *wait_ms);

/*
 * Charges a call the gateway makes on its own (session calls from the
 * sessions worker, legacy translation's follow-ups, the limits fetch) to
 * the shared budget: the cost is deducted at once, the bucket may go
 * negative (later requests then wait), and the call never waits - a kill
 * switch must never queue behind orders. Any thread.
 */
void dispatch_charge(struct gw *gw, const char *method, const char *path, size_t path_len);

/* The parked request a queue (FIFO from head) serves next: the oldest of
 * the least recently served client (upstream/fairq.h), turns shared by
 * every loop. */
void *dispatch_pick(struct gw *gw, int prio, void *head, void *(*next)(void *),
		    const char *(*client)(void *));

/* For a parked request that is not the one picked: answers it 429 when
 * its time in the queue is over (returns 1: it left the queue), else 0 and
 * *wait_ms until then. Never admits it (that is the pick's turn). */
int dispatch_due(struct request *rq, int64_t now_ms, int64_t *wait_ms);

/* Frees a request's dispatch state (request_release calls it). */
void dispatch_free(void *d);

#endif
