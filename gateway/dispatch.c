/* dispatch: see dispatch.h. */
#include "gateway/dispatch.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "upstream/ratelimit.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	enum route_kind kind;
	int legacy;
	struct upstream_response dup;  /* a retry's 409 order_already_exists, kept */
	char lookup_query[256];
};

void dispatch_free(void *p)
{
	struct dispatch *d = p;

	if (!d)
		return;
	curl_slist_free_all(d->headers);
	upstream_response_release(&d->dup);
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
		request_unsent(rq);
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
	/* never sent (a retry only waits after a 429, which placed nothing) */
	request_unsent(rq);
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
	if (!rl || ratelimit_take_turn(rl, d->bucket, d->cost, now_ms, rq->loop, d->prio, rq->client,
				       0, d->prio == DISPATCH_PRIO_SESSION, &wait) == 0) {
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

int64_t dispatch_backoff_until(const struct request *rq, int64_t now_ms)
{
	const struct dispatch *d = rq->dispatch;

	return d && now_ms < d->not_before_ms ? d->not_before_ms : 0;
}

int dispatch_due(struct request *rq, int64_t now_ms, int64_t *wait_ms)
{
	struct dispatch *d = rq->dispatch;

	if (!d) {
		request_resume(rq);
		return 1;
	}
	if (now_ms < d->deadline_ms) {
		*wait_ms = d->deadline_ms - now_ms;
		return 0;
	}
	dispatch_expire(rq, d, 1000);
	request_resume(rq);
	return 1;
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

/* Whether an answer is Kalshi's 409 order_already_exists. */
static int dispatch_is_duplicate(const struct upstream_response *resp)
{
	json_t *j, *code;
	int dup;

	if (resp->outcome != UPSTREAM_OK || resp->status != 409 || !resp->body)
		return 0;
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	code = json_object_get(json_object_get(j, "error"), "code");
	dup = json_is_string(code) && strcmp(json_string_value(code), "order_already_exists") == 0;
	json_decref(j);
	return dup;
}

/* Whether s can go into a query unescaped (tickers: letters, digits, -._). */
static int dispatch_query_safe(const char *s)
{
	if (!s || !*s || strlen(s) > 100)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* Unix milliseconds of an RFC 3339 UTC time ("2026-11-29T21:14:48.123Z"),
 * or 0. */
static int64_t dispatch_rfc3339_ms(const char *t)
{
	struct tm tm;
	int ms = 0, n = 0;

	memset(&tm, 0, sizeof tm);
	if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	if (t[n] == '.')
		sscanf(t + n + 1, "%3d", &ms);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The create reply for a found order: V2 {"order_id", "client_order_id",
 * "fill_count", "remaining_count", "ts_ms"}, legacy {"order": Order}.
 * NULL on OOM. */
static char *dispatch_created_body(const struct dispatch *d, json_t *order)
{
	json_t *out;
	char *text;

	if (d->legacy) {
		out = json_pack("{s:O}", "order", order);
	} else {
		json_t *f = json_object_get(order, "fill_count_fp");
		json_t *r = json_object_get(order, "remaining_count_fp");
		out = json_pack("{s:O, s:O, s:O, s:O, s:I}", "order_id",
				json_object_get(order, "order_id"), "client_order_id",
				json_object_get(order, "client_order_id"), "fill_count",
				f ? f : json_string("0.00"), "remaining_count", r ? r : json_string("0.00"),
				"ts_ms", (json_int_t)dispatch_rfc3339_ms(json_string_value(
					json_object_get(order, "created_time"))));
	}
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	return text;
}

/* The answer to the lookup: the first order, answered as a created one
 * (201), else the kept 409. */
static void dispatch_lookup_done(void *ud, struct upstream_response *resp)
{
	struct request *rq = ud;
	struct dispatch *d = rq->dispatch;
	json_t *sent = json_loadb(d->ur.body ? d->ur.body : "", d->ur.body_len, 0, NULL);
	const char *coid = json_string_value(json_object_get(sent, "client_order_id"));
	json_t *list = NULL, *o;
	size_t i;

	rq->xfer = NULL;
	if (resp->outcome == UPSTREAM_OK && resp->status == 200 && resp->body)
		list = json_loadb(resp->body, resp->body_len, 0, NULL);
	json_array_foreach(json_object_get(list, "orders"), i, o) {
		const char *c = json_string_value(json_object_get(o, "client_order_id"));
		char *body;
		if (!coid || !c || strcmp(c, coid) != 0)
			continue;
		body = dispatch_created_body(d, o);
		if (!body)
			break;
		log_info("a retried create met order_already_exists: answering with the first order "
			 "(client_order_id %s)", coid);
		upstream_response_release(&d->dup);
		d->dup.status = 201;
		d->dup.body = body;
		d->dup.body_len = strlen(body);
		d->dup.headers = curl_slist_append(NULL, "Content-Type: application/json");
		break;
	}
	if (d->dup.status == 409)
		log_warn("a retried create met order_already_exists and the first order was not found "
			 "(client_order_id %s): relaying the 409", coid ? coid : "?");
	json_decref(list);
	json_decref(sent);
	d->done(rq, &d->dup);
	upstream_response_release(&d->dup);
}

/*
 * A retry of a create answered 409 order_already_exists: the first attempt
 * was placed after all. Keeps the 409 and looks the order up by its
 * client_order_id (GET /portfolio/orders?ticker=, the only order listing
 * Kalshi offers a trading key; charged to the budget). Returns 1 when the
 * lookup started (it answers), 0 to answer resp as it is.
 */
static int dispatch_lookup_first(struct request *rq, struct dispatch *d,
				 struct upstream_response *resp)
{
	static const char path[] = "/trade-api/v2/portfolio/orders";
	json_t *sent = json_loadb(d->ur.body ? d->ur.body : "", d->ur.body_len, 0, NULL);
	const char *ticker = json_string_value(json_object_get(sent, "ticker"));
	json_t *sub = json_object_get(sent, "subaccount");
	struct upstream_request ur;
	char err[512];
	int ok = dispatch_query_safe(ticker) &&
		 json_is_string(json_object_get(sent, "client_order_id"));

	if (ok) {
		snprintf(d->lookup_query, sizeof d->lookup_query, "ticker=%s&limit=200", ticker);
		if (json_is_integer(sub))
			snprintf(d->lookup_query + strlen(d->lookup_query),
				 sizeof d->lookup_query - strlen(d->lookup_query), "&subaccount=%lld",
				 (long long)json_integer_value(sub));
	}
	json_decref(sent);
	if (!ok)
		return 0;
	memset(&ur, 0, sizeof ur);
	ur.method = "GET";
	ur.path = path;
	ur.path_len = sizeof path - 1;
	ur.query = d->lookup_query;
	ur.sign = 1;
	dispatch_charge(rq->gw, ur.method, ur.path, ur.path_len);
	rq->xfer = upstream_pool_start(request_pool(rq), &ur, dispatch_lookup_done, rq, err,
				       sizeof err);
	if (!rq->xfer) {
		log_warn("cannot look the first order up: %s", err);
		return 0;
	}
	upstream_response_release(&d->dup);
	d->dup = *resp;  /* the 409 is kept: the pool must not free it */
	resp->body = NULL;
	resp->body_len = 0;
	resp->headers = NULL;
	return 1;
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
	if (d->attempts > 1 && (d->kind == ROUTE_CREATE_V2 || d->kind == ROUTE_CREATE_LEGACY) &&
	    dispatch_is_duplicate(resp) && dispatch_lookup_first(rq, d, resp))
		return;
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
		request_unsent(rq);
		return -1;
	}
	d->ur = *ur;
	d->headers = headers;
	d->done = done;
	d->prio = (int)fairq_prio_of(ri);
	d->is_read = ri->kind == ROUTE_READ;
	d->kind = ri->kind;
	d->legacy = ri->legacy;
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
	    ratelimit_take_turn(rq->gw->ratelimit, d->bucket, d->cost, now, rq->loop, d->prio,
				rq->client, 1, 0, &wait) == 0) {
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

void *dispatch_pick(struct gw *gw, int prio, void *head, void *(*next)(void *),
		    const char *(*client)(void *))
{
	return gw->ratelimit ? ratelimit_pick(gw->ratelimit, prio, head, next, client) : head;
}
