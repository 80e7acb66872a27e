/* dispatch: see dispatch.h. */
#include "gateway/dispatch.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "upstream/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPATCH_MAX_ATTEMPTS 3
#define DISPATCH_BACKOFF_MS 100

struct dispatch {
	struct upstream_request ur;
	struct curl_slist *headers;
	enum rl_bucket bucket;
	int64_t cost;
	int prio;
	int is_read;
	int attempts;
	int64_t deadline_ms;       /* answer 429 if still queued then */
	int64_t not_before_ms;     /* backoff before a retry */
	int64_t give_up_ms;        /* no retry starts after this */
	upstream_done_fn done;
	uint64_t jitter;
};

void dispatch_free(void *p)
{
	struct dispatch *d = p;

	if (!d)
		return;
	curl_slist_free_all(d->headers);
	free(d);
}

static void dispatch_done(void *ud, struct upstream_response *resp);

/* Starts the transfer (signing now). Returns 0, or -1 when answered. */
static int dispatch_start(struct request *rq, struct dispatch *d)
{
	char err[512];

	d->attempts++;
	d->ur.headers = d->headers;
	rq->xfer = upstream_pool_start(request_pool(rq), &d->ur, dispatch_done, rq, err, sizeof err);
	if (!rq->xfer) {
		log_error("cannot start upstream request: %s", err);
		request_fail(rq, "upstream_unavailable", err, NULL);
		return -1;
	}
	return 0;
}

/* Answers 429 rate_limited for a request that waited too long. */
static void dispatch_expire(struct request *rq, struct dispatch *d, int64_t wait_ms)
{
	char ra[24], msg[200];
	long secs = (long)((wait_ms + 999) / 1000);

	snprintf(msg, sizeof msg,
		 "the account's %s budget is used up; waited %ld ms (rate_limit.max_queue_ms)",
		 d->bucket == RL_READ ? "read" : "write",
		 (long)rq->gw->conf->rate_limit.max_queue_ms);
	request_fail(rq, "rate_limited", msg, NULL);
	snprintf(ra, sizeof ra, "%ld", secs > 0 ? secs : 1);
	if (rq->reply)
		MHD_add_response_header(rq->reply, "Retry-After", ra);
}

int dispatch_try(struct request *rq, int64_t now_ms, int64_t *wait_ms)
{
	struct dispatch *d = rq->dispatch;
	struct ratelimit *rl = rq->gw->ratelimit;
	int64_t wait = 0;

	if (!d) {
		request_resume(rq);
		return 1;
	}
	if (now_ms < d->not_before_ms) {
		*wait_ms = d->not_before_ms - now_ms;
		return 0;
	}
	if (!rl || ratelimit_take(rl, d->bucket, d->cost, now_ms, d->prio == DISPATCH_PRIO_SESSION,
				  &wait) == 0) {
		if (dispatch_start(rq, d) < 0)
			request_resume(rq);
		return 1;
	}
	if (now_ms + wait > d->deadline_ms && d->attempts == 0) {
		dispatch_expire(rq, d, wait);
		request_resume(rq);
		return 1;
	}
	if (now_ms >= d->deadline_ms && d->attempts > 0) {
		/* a retry that cannot get budget in time: give the last answer up */
		dispatch_expire(rq, d, wait);
		request_resume(rq);
		return 1;
	}
	*wait_ms = wait;
	return 0;
}

/* Whether a finished attempt may be retried, and the exchange's 429 seen. */
static int dispatch_retryable(const struct dispatch *d, const struct upstream_response *resp)
{
	if (resp->outcome == UPSTREAM_NOT_SENT)
		return 1;
	if (resp->outcome == UPSTREAM_OK && resp->status == 429)
		return 1;
	if (!d->is_read)
		return 0;
	if (resp->outcome == UPSTREAM_NO_ANSWER && !resp->timed_out)
		return 1;
	return resp->outcome == UPSTREAM_OK &&
	       (resp->status == 502 || resp->status == 503 || resp->status == 504);
}

/* Transfer completion: retries what is safe to retry, else hands the
 * answer to the handler's callback. */
static void dispatch_done(void *ud, struct upstream_response *resp)
{
	struct request *rq = ud;
	struct dispatch *d = rq->dispatch;
	int64_t now = gw_now_ms();

	rq->xfer = NULL;
	if (resp->outcome == UPSTREAM_OK && resp->status == 429 && rq->gw->ratelimit)
		ratelimit_drain(rq->gw->ratelimit, d->bucket, now);
	if (d->attempts < DISPATCH_MAX_ATTEMPTS && dispatch_retryable(d, resp) &&
	    !atomic_load(&rq->gw->stopping)) {
		int64_t backoff = (int64_t)DISPATCH_BACKOFF_MS << (d->attempts - 1);
		d->jitter = d->jitter * 6364136223846793005ULL + 1442695040888963407ULL;
		backoff += (int64_t)(d->jitter >> 33) % (backoff / 2 + 1);
		if (now + backoff < d->give_up_ms) {
			log_info("retrying %s %.*s (attempt %d) after %s in %lld ms", rq->method,
				 (int)rq->path_len, rq->target, d->attempts + 1,
				 resp->outcome == UPSTREAM_OK ? "a 429/5xx answer" : "a failed connection",
				 (long long)backoff);
			d->not_before_ms = now + backoff;
			d->deadline_ms = d->give_up_ms;
			request_park(rq, d->prio);
			return;
		}
	}
	d->done(rq, resp);
}

int dispatch_send(struct request *rq, const struct upstream_request *ur,
		  struct curl_slist *headers, const struct route_info *ri, size_t n_orders,
		  upstream_done_fn done)
{
	struct dispatch *d = calloc(1, sizeof *d);
	int64_t now = gw_now_ms(), wait = 0;

	if (!d) {
		curl_slist_free_all(headers);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return -1;
	}
	d->ur = *ur;
	d->headers = headers;
	d->done = done;
	d->prio = (int)fairq_prio_of(ri);
	d->is_read = ri->kind == ROUTE_READ;
	d->deadline_ms = now + rq->gw->conf->rate_limit.max_queue_ms;
	d->give_up_ms = now + rq->gw->conf->upstream.timeout_ms;
	d->jitter = (uint64_t)now ^ (uint64_t)(uintptr_t)rq;
	if (rq->gw->ratelimit)
		ratelimit_request_cost(rq->gw->ratelimit, ur->method, ur->path, ur->path_len, ri,
				       n_orders, &d->bucket, &d->cost);
	else
		ratelimit_cost(ri, n_orders, &d->bucket, &d->cost);
	dispatch_free(rq->dispatch);
	rq->dispatch = d;
	if (!rq->gw->ratelimit ||
	    ratelimit_take(rq->gw->ratelimit, d->bucket, d->cost, now, 0, &wait) == 0) {
		if (dispatch_start(rq, d) < 0)
			return -1;
		request_suspend(rq);
		return 0;
	}
	if (wait > rq->gw->conf->rate_limit.max_queue_ms) {
		dispatch_expire(rq, d, wait);
		return -1;
	}
	request_suspend(rq);
	request_park(rq, d->prio);
	return 0;
}

void dispatch_charge(struct gw *gw, const char *method, const char *path, size_t path_len)
{
	struct route_info ri;
	enum rl_bucket b;
	int64_t cost;

	if (!gw->ratelimit)
		return;
	route_classify(method, path, path_len, &ri);
	ratelimit_request_cost(gw->ratelimit, method, path, path_len, &ri, 1, &b, &cost);
	ratelimit_take(gw->ratelimit, b, cost, gw_now_ms(), 1, NULL);
}
