/* legacy_flow: see legacy_flow.h. */
#include "gateway/legacy_flow.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/proxy.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "policy/legacy.h"
#include "policy/order.h"
#include "policy/path.h"
#include "policy/route.h"
#include "upstream/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOW_ORDERS_PATH "/trade-api/v2/portfolio/orders/"
/* Longest order id the flow puts into a GET path (Kalshi's are UUIDs). */
#define FLOW_ID_MAX 128
/* At most this many GETs after one batch; past them the Orders are partial. */
#define FLOW_MAX_GETS 50

enum flow_stage { FLOW_BEFORE = 0, FLOW_WRITE, FLOW_AFTER };

/* One legacy call in progress; lives in rq->ctx. */
struct legacy_flow {
	struct request *rq;
	enum route_kind kind;        /* the legacy route */
	enum flow_stage stage;
	char *legacy_target;         /* the bot's target, put back for the access log */
	char order_id[FLOW_ID_MAX + 1]; /* from the path (amend, decrease, cancel) */
	int subaccount;              /* amend, decrease: the body's, -1 when absent */
	json_t *legacy_req;          /* the bot's body, parsed (NULL for a cancel) */
	json_t *v2_sent;             /* the V2 body as sent, or NULL */
	json_t *before;              /* amend: the GET answer before, or NULL */
	struct order_ctx *oc;        /* creates and amends: what to settle */
	long v2_status;
	json_t *v2_reply;            /* the 2xx V2 answer (NULL when not JSON) */
	json_t *pending;             /* GETs after: [[order_id, subaccount], ...] */
	size_t next;                 /* next element of pending to fetch */
	json_t *gets;                /* {order_id: GET answer} */
	long upstream_us;            /* every transfer's time, summed */
	/* the GET in flight: kept here so the request stays valid until done */
	char get_path[sizeof FLOW_ORDERS_PATH + FLOW_ID_MAX];
	char get_query[32];
	char code[64];               /* code of a gateway-made answer, for the log */
};

static void flow_free(void *p)
{
	struct legacy_flow *fl = p;

	if (!fl)
		return;
	free(fl->legacy_target);
	json_decref(fl->legacy_req);
	json_decref(fl->v2_sent);
	json_decref(fl->before);
	json_decref(fl->v2_reply);
	json_decref(fl->pending);
	json_decref(fl->gets);
	free(fl->oc);
	free(fl);
}

/* Replaces rq's target with `path` (plen bytes) plus the current query and
 * `extra` (a "name=value" to append, or NULL). The bot's own target is kept
 * the first time. Returns -1 when out of memory (nothing changed). */
static int flow_set_target(struct legacy_flow *fl, const char *path, size_t plen,
			   const char *extra)
{
	struct request *rq = fl->rq;
	const char *q = rq->query;
	size_t ql = q ? strlen(q) : 0, el = extra ? strlen(extra) : 0, n = plen;
	char *t = malloc(plen + ql + el + 3);

	if (!t)
		return -1;
	memcpy(t, path, plen);
	if (q && (ql || !extra)) {
		t[n++] = '?';
		memcpy(t + n, q, ql);
		n += ql;
	}
	if (extra) {
		t[n++] = q && ql ? '&' : '?';
		memcpy(t + n, extra, el);
		n += el;
	}
	t[n] = '\0';
	if (!fl->legacy_target)
		fl->legacy_target = rq->target;
	else
		free(rq->target);
	rq->target = t;
	path_split(rq->target, &rq->path_len, &rq->query);
	return 0;
}

/* Ends the flow: the bot's target back for the log, and the connection
 * resumed when it waited for the upstream. */
static void flow_end(struct legacy_flow *fl)
{
	struct request *rq = fl->rq;

	if (fl->legacy_target) {
		free(rq->target);
		rq->target = fl->legacy_target;
		fl->legacy_target = NULL;
		path_split(rq->target, &rq->path_len, &rq->query);
	}
	if (rq->upstream_us >= 0 || fl->upstream_us > 0)
		rq->upstream_us = fl->upstream_us;
	request_resume(rq);
}

/* Answers a gateway-made error with an explicit status (the code may be
 * the upstream's own, which reply_status_for does not know). `extra` is
 * stolen. */
static void flow_fail(struct legacy_flow *fl, unsigned int status, const char *code,
		      const char *message, json_t *extra, int outcome_unknown)
{
	struct request *rq = fl->rq;
	struct MHD_Response *r;

	if (rq->reply) {
		json_decref(extra);
		return;
	}
	r = reply_error(code, message, extra);
	if (!r) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	if (outcome_unknown)
		MHD_add_response_header(r, "X-Gateway-Outcome", "unknown");
	snprintf(fl->code, sizeof fl->code, "%s", code);
	request_answer(rq, status, r);
	rq->error_code = fl->code;
}

/* Fills err for a refusal made here (not by the translator). */
static void flow_err(struct legacy_err *err, int status, const char *code, const char *message)
{
	err->status = status;
	snprintf(err->code, sizeof err->code, "%s", code);
	snprintf(err->message, sizeof err->message, "%s", message);
	err->index = -1;
	err->outcome_unknown = 0;
}

/* The value of `subaccount` in a raw query: 1 and *out when present and a
 * small integer, 0 when absent, -1 when present but not a number. */
static int flow_query_subaccount(const char *query, int *out)
{
	const char *p = query;

	while (p && *p) {
		size_t n = strcspn(p, "&");
		if (n > 11 && strncmp(p, "subaccount=", 11) == 0) {
			long v = 0;
			size_t i;
			for (i = 11; i < n && p[i] >= '0' && p[i] <= '9' && v < 1000000; i++)
				v = v * 10 + (p[i] - '0');
			if (i != n)
				return -1;
			*out = (int)v;
			return 1;
		} else if (n >= 10 && strncmp(p, "subaccount", 10) == 0 && (n == 10 || p[10] == '=')) {
			return -1;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* Whether an order id may go into a GET path as it is. */
static int flow_id_ok(const char *id, size_t len)
{
	if (len == 0 || len > FLOW_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '~' || c == ':'))
			return 0;
	}
	return 1;
}

/*
 * Parses the bot's body strictly (duplicate keys and JSON reals refused,
 * as for any order body) and translates it to V2 for the flow's kind.
 * Returns 0 with *legacy and *v2 (new references), or -1 with err filled.
 */
static int flow_translate_body(struct legacy_flow *fl, const json_t *current, json_t **legacy,
			       json_t **v2, struct legacy_err *err)
{
	struct request *rq = fl->rq;
	const struct gw_conf *conf = rq->snap->conf;
	const char *stp = conf->orders.self_trade_prevention_default == GW_STP_MAKER
			  ? "maker" : "taker_at_cross";
	enum order_status st;
	char msg[256];
	json_t *body, *out = NULL;
	int64_t buy_max_cost = -1;
	int rc, sub = -1;

	st = order_check_strict(rq->body ? rq->body : "", rq->body_len, msg, sizeof msg);
	if (st != ORDER_OK) {
		flow_err(err, 400, st == ORDER_INVALID_JSON ? "invalid_json" : "invalid_order", msg);
		return -1;
	}
	body = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (!body) {
		flow_err(err, 400, "invalid_json", "request body is not valid JSON");
		return -1;
	}
	switch (fl->kind) {
	case ROUTE_CREATE_LEGACY:
		rc = legacy_create_to_v2(body, stp, &out, &buy_max_cost, err);
		break;
	case ROUTE_BATCH_CREATE_LEGACY:
		rc = legacy_batch_create_to_v2(body, stp, &out, err);
		break;
	case ROUTE_AMEND:
		rc = legacy_amend_to_v2(body, current, &out, &sub, err);
		break;
	case ROUTE_DECREASE:
		rc = legacy_decrease_to_v2(body, &out, &sub, err);
		break;
	case ROUTE_BATCH_CANCEL:
		rc = legacy_batch_cancel_to_v2(body, &out, err);
		break;
	default:
		flow_err(err, 500, "internal_error", "no translation for this legacy call");
		rc = -1;
		break;
	}
	if (rc < 0) {
		json_decref(body);
		return -1;
	}
	if (sub >= 0) {
		int qsub;
		if (flow_query_subaccount(rq->query, &qsub) != 0) {
			flow_err(err, 400, "invalid_order",
				 "give 'subaccount' in the body or in the query string, not both");
			json_decref(body);
			json_decref(out);
			return -1;
		}
	}
	fl->subaccount = sub;
	*legacy = body;
	*v2 = out;
	return 0;
}

/* Puts a V2 body in place of rq's body. Returns -1 when out of memory. */
static int flow_set_body(struct request *rq, const json_t *v2)
{
	char *text = json_dumps(v2, JSON_COMPACT);

	if (!text)
		return -1;
	free(rq->body);
	rq->body = text;
	rq->body_len = strlen(text);
	rq->body_cap = rq->body_len + 1;
	return 0;
}

/* proxy_body_fn for creates and amends: translates inside the order path,
 * after the session checks, so a refusal counts like any order's. */
static int flow_body_fn(struct request *rq, void *ud, struct legacy_err *err)
{
	struct legacy_flow *fl = ud;
	json_t *legacy = NULL, *v2 = NULL;

	if (flow_translate_body(fl, fl->before, &legacy, &v2, err) < 0)
		return -1;
	if (flow_set_body(rq, v2) < 0) {
		json_decref(legacy);
		json_decref(v2);
		flow_err(err, 500, "internal_error", "out of memory");
		return -1;
	}
	json_decref(fl->legacy_req);
	json_decref(fl->v2_sent);
	fl->legacy_req = legacy;
	fl->v2_sent = v2;
	return 0;
}

/* Answers a refusal made before the V2 call (nothing was sent). */
static void flow_refuse(struct legacy_flow *fl, const struct legacy_err *err)
{
	flow_fail(fl, err->status > 0 ? (unsigned int)err->status : 400,
		  err->code[0] ? err->code : "invalid_order", err->message,
		  err->index >= 0 ? json_pack("{s:I}", "index", (json_int_t)err->index) : NULL, 0);
}

static void flow_write_done(void *ud, struct upstream_response *resp);
static void flow_get_done(void *ud, struct upstream_response *resp);

/* rq->unsent while the V2 call waits: it was never sent (the budget
 * queue's 429, shutdown, a failed start), so the order is released. */
static void flow_unsent(struct request *rq)
{
	struct legacy_flow *fl = rq->ctx;

	if (fl && fl->oc)
		proxy_order_unsent(rq, fl->oc);
}

/* Sends the V2 call (rq's method, V2 target and body, the bot's headers)
 * within the shared budget, like any order (it may wait in the queue and
 * is retried when that is safe). Returns -1 when answered. */
static int flow_send_write(struct legacy_flow *fl)
{
	struct request *rq = fl->rq;
	struct route_info ri;

	fl->stage = FLOW_WRITE;
	route_classify(rq->method, rq->target, rq->path_len, &ri);
	rq->unsent = flow_unsent;
	return proxy_dispatch(rq, &ri, fl->oc, flow_write_done);
}

/* Creates and amends: the order path on the V2 request (fl->before is the
 * GET answer an amend needs), then the V2 call. Returns -1 when answered. */
static int flow_admit_and_send(struct legacy_flow *fl)
{
	struct request *rq = fl->rq;
	struct route_info ri;
	json_t *sent;
	char extra[32];

	route_classify(rq->method, rq->target, rq->path_len, &ri);
	if (proxy_order_prepare(rq, &ri, flow_body_fn, fl, &fl->oc) < 0)
		return -1;
	/* the body as sent, after the session's group was injected */
	sent = json_loadb(rq->body, rq->body_len, 0, NULL);
	if (sent) {
		json_decref(fl->v2_sent);
		fl->v2_sent = sent;
	}
	if (fl->subaccount >= 0) {
		snprintf(extra, sizeof extra, "subaccount=%d", fl->subaccount);
		if (flow_set_target(fl, rq->target, rq->path_len, extra) < 0) {
			proxy_order_unsent(rq, fl->oc);
			request_fail(rq, "upstream_unavailable", "out of memory", NULL);
			return -1;
		}
	}
	return flow_send_write(fl);
}

/* Adds an order to fetch after the write (skipped when its id cannot go
 * into a path, or past FLOW_MAX_GETS). */
static void flow_want_get(struct legacy_flow *fl, const json_t *id, int subaccount)
{
	if (!json_is_string(id) || !flow_id_ok(json_string_value(id), json_string_length(id)) ||
	    json_array_size(fl->pending) >= FLOW_MAX_GETS)
		return;
	json_array_append_new(fl->pending, json_pack("[O,i]", id, subaccount));
}

/* The subaccount of element i of the V2 batch sent, or -1. */
static int flow_sent_subaccount(const json_t *sent, size_t i)
{
	const json_t *v = json_object_get(json_array_get(json_object_get(sent, "orders"), i),
					  "subaccount");

	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1000000
	       ? (int)json_integer_value(v) : -1;
}

/* Works out the GETs after the write from the V2 answer. */
static void flow_plan_gets(struct legacy_flow *fl)
{
	struct request *rq = fl->rq;
	const json_t *r = fl->v2_reply, *arr, *e, *v;
	int sub = -1;
	size_t i;

	if (!json_is_object(r))
		return;
	switch (fl->kind) {
	case ROUTE_CREATE_LEGACY:
		v = json_object_get(fl->v2_sent, "subaccount");
		if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1000000)
			sub = (int)json_integer_value(v);
		flow_want_get(fl, json_object_get(r, "order_id"), sub);
		break;
	case ROUTE_AMEND:
	case ROUTE_DECREASE:
	case ROUTE_CANCEL:
		if (fl->subaccount >= 0)
			sub = fl->subaccount;
		else if (flow_query_subaccount(rq->query, &sub) != 1)
			sub = -1;
		flow_want_get(fl, json_object_get(r, "order_id"), sub);
		break;
	case ROUTE_BATCH_CREATE_LEGACY:
	case ROUTE_BATCH_CANCEL:
		arr = json_object_get(r, "orders");
		json_array_foreach(arr, i, e) {
			v = json_object_get(e, "error");
			if (v && !json_is_null(v))
				continue;
			flow_want_get(fl, json_object_get(e, "order_id"), flow_sent_subaccount(fl->v2_sent, i));
		}
		break;
	default:
		break;
	}
}

/* The GET answer for the (single) order of the call, or NULL. */
static const json_t *flow_single_get(const struct legacy_flow *fl)
{
	const json_t *first = json_array_get(fl->pending, 0);

	if (!first)
		return NULL;
	return json_object_get(fl->gets, json_string_value(json_array_get(first, 0)));
}

/* Builds the legacy answer from the V2 answer and the GETs, and answers. */
static void flow_reply(struct legacy_flow *fl)
{
	struct request *rq = fl->rq;
	struct legacy_err err;
	struct MHD_Response *r;
	json_t *out = NULL;
	unsigned flags = 0;
	int rc;

	memset(&err, 0, sizeof err);
	err.index = -1;
	switch (fl->kind) {
	case ROUTE_CREATE_LEGACY:
		rc = legacy_create_reply(fl->v2_reply, fl->legacy_req, fl->v2_sent, flow_single_get(fl),
					 &out, &flags, &err);
		break;
	case ROUTE_BATCH_CREATE_LEGACY:
		rc = legacy_batch_create_reply(fl->v2_reply, fl->legacy_req, fl->v2_sent, fl->gets,
					       &out, &flags, &err);
		break;
	case ROUTE_AMEND:
		rc = legacy_amend_reply(fl->v2_reply, fl->legacy_req, fl->v2_sent, fl->before,
					flow_single_get(fl), &out, &flags, &err);
		break;
	case ROUTE_DECREASE:
		rc = legacy_decrease_reply(fl->v2_reply, flow_single_get(fl), &out, &flags, &err);
		break;
	case ROUTE_CANCEL:
		rc = legacy_cancel_reply(fl->v2_reply, flow_single_get(fl), &out, &flags, &err);
		break;
	case ROUTE_BATCH_CANCEL:
		rc = legacy_batch_cancel_reply(fl->v2_reply, fl->v2_sent, fl->gets, &out, &flags, &err);
		break;
	default:
		rc = -1;
		snprintf(err.code, sizeof err.code, "internal_error");
		snprintf(err.message, sizeof err.message, "no reply translation for this legacy call");
		err.status = 500;
		break;
	}
	if (rc < 0) {
		json_t *extra = json_object(), *up = json_object_get(fl->v2_reply, "error");
		if (extra && err.status == 400 && json_is_object(up))
			json_object_set(extra, "upstream", up);
		if (extra && err.index >= 0)
			json_object_set_new(extra, "index", json_integer(err.index));
		log_warn("legacy %s %s: the upstream's %ld answer cannot be given the legacy shape: %s",
			 rq->method, fl->legacy_target ? fl->legacy_target : rq->target, fl->v2_status,
			 err.message);
		flow_fail(fl, err.status > 0 ? (unsigned int)err.status : 502,
			  err.code[0] ? err.code : "upstream_bad_reply", err.message, extra,
			  err.outcome_unknown);
		return;
	}
	if (flags & LEGACY_PARTIAL)
		log_info("legacy %s %s: answered with a partial Order (no usable GET %s{id} answer)",
			 rq->method, fl->legacy_target ? fl->legacy_target : rq->target,
			 FLOW_ORDERS_PATH);
	r = reply_json(out);
	if (!r) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	if (flags & LEGACY_OUTCOME_UNKNOWN)
		MHD_add_response_header(r, "X-Gateway-Outcome", "unknown");
	request_answer(rq, (unsigned int)fl->v2_status, r);
}

/* Starts a signed GET /portfolio/orders/{id}, with only the team's
 * signature (none of the bot's headers). Returns -1 when it could not start
 * (rq not answered). */
static int flow_send_get(struct legacy_flow *fl, const char *id, int subaccount)
{
	struct upstream_request ur;
	char err[512];

	snprintf(fl->get_path, sizeof fl->get_path, "%s%s", FLOW_ORDERS_PATH, id);
	memset(&ur, 0, sizeof ur);
	ur.method = "GET";
	ur.path = fl->get_path;
	ur.path_len = strlen(fl->get_path);
	if (subaccount >= 0) {
		snprintf(fl->get_query, sizeof fl->get_query, "subaccount=%d", subaccount);
		ur.query = fl->get_query;
	}
	if (proxy_send(fl->rq, &ur, 0, flow_get_done, fl->rq, err, sizeof err) < 0) {
		log_warn("legacy: cannot fetch order %s: %s", id, err);
		return -1;
	}
	return 0;
}

/* Fetches the next pending order, or answers once none is left. Called on
 * the loop with rq suspended. */
static void flow_next(struct legacy_flow *fl)
{
	struct request *rq = fl->rq;

	fl->stage = FLOW_AFTER;
	/* when stopping, answer with what is known rather than wait */
	while (fl->next < json_array_size(fl->pending) && !atomic_load(&rq->gw->stopping)) {
		const json_t *item = json_array_get(fl->pending, fl->next++);
		if (flow_send_get(fl, json_string_value(json_array_get(item, 0)),
				  (int)json_integer_value(json_array_get(item, 1))) == 0)
			return;
	}
	flow_reply(fl);
	flow_end(fl);
}

/* Counts a finished transfer that is not relayed. */
static void flow_account(struct legacy_flow *fl, const struct upstream_response *resp)
{
	fl->upstream_us += resp->elapsed_us;
	atomic_fetch_add(&fl->rq->gw->upstream_requests, 1);
	if (resp->outcome != UPSTREAM_OK)
		atomic_fetch_add(&fl->rq->gw->upstream_failures, 1);
}

/* The body of a 2xx GET answer as JSON, or NULL. */
static json_t *flow_get_body(const struct upstream_response *resp)
{
	if (resp->outcome != UPSTREAM_OK || resp->status < 200 || resp->status > 299 || !resp->body)
		return NULL;
	return json_loadb(resp->body, resp->body_len, 0, NULL);
}

/* The V2 call ended: settle, relay a failure or a non-2xx answer, else go
 * on with the GETs after. */
static void flow_write_done(void *ud, struct upstream_response *resp)
{
	struct request *rq = ud;
	struct legacy_flow *fl = rq->ctx;

	rq->xfer = NULL;
	rq->unsent = NULL;
	if (fl->oc)
		proxy_order_settle(rq, fl->oc, resp);
	if (resp->outcome != UPSTREAM_OK || resp->status < 200 || resp->status > 299) {
		proxy_relay_order(rq, resp, fl->oc);
		fl->upstream_us += resp->elapsed_us;
		flow_end(fl);
		return;
	}
	flow_account(fl, resp);
	fl->v2_status = resp->status;
	fl->v2_reply = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	fl->pending = json_array();
	fl->gets = json_object();
	if (!fl->pending || !fl->gets) {
		flow_fail(fl, 500, "internal_error", "out of memory after the upstream answered; "
			  "check GET /portfolio/orders before retrying", NULL, 1);
		flow_end(fl);
		return;
	}
	flow_plan_gets(fl);
	flow_next(fl);
}

/* The amend's GET before ended: translate with the current order, then the
 * order path and the V2 amend. Without a usable answer the amend goes on
 * when its body names both price and count; otherwise the GET's failure is
 * relayed (nothing was changed). */
static void flow_before_done(struct legacy_flow *fl, struct upstream_response *resp)
{
	struct request *rq = fl->rq;
	json_t *get = flow_get_body(resp);

	if (atomic_load(&rq->gw->stopping)) {
		json_decref(get);
		request_fail(rq, "shutting_down", "the gateway is stopping", NULL);
		flow_end(fl);
		return;
	}
	if (!get) {
		struct legacy_err err;
		json_t *legacy = NULL, *v2 = NULL;
		memset(&err, 0, sizeof err);
		if (flow_translate_body(fl, NULL, &legacy, &v2, &err) < 0 &&
		    strcmp(err.code, "invalid_json") != 0) {
			/* relayed as a read: the amend itself was never sent */
			int was_write = rq->is_write;
			rq->is_write = 0;
			proxy_relay(rq, resp);
			rq->is_write = was_write;
			fl->upstream_us += resp->elapsed_us;
			flow_end(fl);
			return;
		}
		json_decref(legacy);
		json_decref(v2);
	}
	flow_account(fl, resp);
	fl->before = get;
	if (flow_admit_and_send(fl) < 0) {
		flow_end(fl);
		return;
	}
}

/* A GET ended (before an amend, or after the write). */
static void flow_get_done(void *ud, struct upstream_response *resp)
{
	struct request *rq = ud;
	struct legacy_flow *fl = rq->ctx;
	const json_t *item;
	json_t *get;

	fl->rq->xfer = NULL;
	if (fl->stage == FLOW_BEFORE) {
		flow_before_done(fl, resp);
		return;
	}
	flow_account(fl, resp);
	item = json_array_get(fl->pending, fl->next - 1);
	get = flow_get_body(resp);
	if (get)
		json_object_set_new(fl->gets, json_string_value(json_array_get(item, 0)), get);
	else
		log_warn("legacy %s %s: GET %s%s answered %ld%s%s: the legacy Order is built without it",
			 fl->rq->method, fl->legacy_target ? fl->legacy_target : fl->rq->target,
			 FLOW_ORDERS_PATH, json_string_value(json_array_get(item, 0)),
			 resp->outcome == UPSTREAM_OK ? resp->status : 0L,
			 resp->outcome == UPSTREAM_OK ? "" : ": ", resp->outcome == UPSTREAM_OK ? "" : resp->error);
	flow_next(fl);
}

void legacy_flow_handle(struct request *rq, const struct route_info *ri)
{
	struct legacy_flow *fl;
	struct legacy_err err;
	size_t cap = rq->path_len + 16;
	char *v2path;

	rq->metrics_route = METRICS_ROUTE_ORDER;
	if (rq->snap->conf->orders.legacy == GW_LEGACY_REJECT) {
		char msg[256];
		legacy_reject_message(rq->method, rq->target, rq->path_len, msg, sizeof msg);
		request_fail(rq, "invalid_order", msg, NULL);
		return;
	}
	if (ri->id && ri->id_len > FLOW_ID_MAX) {
		request_fail(rq, "invalid_path", "order id is too long", NULL);
		return;
	}
	fl = calloc(1, sizeof *fl);
	v2path = malloc(cap);
	if (!fl || !v2path) {
		free(fl);
		free(v2path);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	fl->rq = rq;
	fl->kind = ri->kind;
	fl->subaccount = -1;
	if (ri->id) {
		memcpy(fl->order_id, ri->id, ri->id_len);
		fl->order_id[ri->id_len] = '\0';
	}
	rq->ctx = fl;
	rq->ctx_free = flow_free;
	if (legacy_v2_path(rq->target, rq->path_len, v2path, cap) < 0) {
		free(v2path);
		request_fail(rq, "invalid_path", "this legacy order path has no V2 equivalent", NULL);
		return;
	}
	if (flow_set_target(fl, v2path, strlen(v2path), NULL) < 0) {
		free(v2path);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	free(v2path);

	switch (fl->kind) {
	case ROUTE_CREATE_LEGACY:
	case ROUTE_BATCH_CREATE_LEGACY:
		if (flow_admit_and_send(fl) < 0)
			goto answered;
		break;
	case ROUTE_AMEND: {
		/* the current order first: V2 needs price and count, and the
		 * legacy answer the old order */
		int sub = -1;
		json_t *b = rq->body ? json_loadb(rq->body, rq->body_len, 0, NULL) : NULL;
		const json_t *v = json_object_get(b, "subaccount");
		if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1000000)
			sub = (int)json_integer_value(v);
		else if (flow_query_subaccount(rq->query, &sub) != 1)
			sub = -1;
		json_decref(b);
		if (!flow_id_ok(fl->order_id, strlen(fl->order_id))) {
			request_fail(rq, "invalid_path", "this order id cannot be looked up for a legacy amend",
				     NULL);
			goto answered;
		}
		fl->stage = FLOW_BEFORE;
		if (flow_send_get(fl, fl->order_id, sub) < 0) {
			request_fail(rq, "upstream_unavailable", "cannot start the upstream request", NULL);
			goto answered;
		}
		break;
	}
	case ROUTE_DECREASE:
	case ROUTE_BATCH_CANCEL:
		/* never blocked by session state or limits: only translated */
		memset(&err, 0, sizeof err);
		if (flow_translate_body(fl, NULL, &fl->legacy_req, &fl->v2_sent, &err) < 0) {
			flow_refuse(fl, &err);
			goto answered;
		}
		if (flow_set_body(rq, fl->v2_sent) < 0) {
			request_fail(rq, "upstream_unavailable", "out of memory", NULL);
			goto answered;
		}
		if (fl->subaccount >= 0) {
			char extra[32];
			snprintf(extra, sizeof extra, "subaccount=%d", fl->subaccount);
			if (flow_set_target(fl, rq->target, rq->path_len, extra) < 0) {
				request_fail(rq, "upstream_unavailable", "out of memory", NULL);
				goto answered;
			}
		}
		if (flow_send_write(fl) < 0)
			goto answered;
		break;
	case ROUTE_CANCEL:
		/* only the path changes; query and any body go as they are */
		if (flow_send_write(fl) < 0)
			goto answered;
		break;
	default:
		request_fail(rq, "invalid_path", "this legacy order path has no V2 equivalent", NULL);
		goto answered;
	}
	request_suspend(rq);
	return;
answered:
	flow_end(fl);
}
