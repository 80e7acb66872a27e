/* proxy: see proxy.h. */
#include "gateway/proxy.h"
#include "gateway/gw.h"
#include "gateway/audit.h"
#include "gateway/dedupe.h"
#include "gateway/dispatch.h"
#include "gateway/legacy_flow.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "gateway/sessions.h"
#include "policy/fixed.h"
#include "policy/identity.h"
#include "policy/legacy.h"
#include "policy/limits.h"
#include "policy/normalize.h"
#include "policy/order.h"
#include "policy/roles.h"
#include "policy/route.h"
#include "upstream/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Request headers never forwarded upstream (compared case-insensitively). */
static const char *const proxy_drop_request[] = {
	"host", "content-length", "authorization", "origin", "accept-encoding",
	"expect", "cookie", "connection", "keep-alive", "proxy-authorization",
	"proxy-authenticate", "proxy-connection", "te", "trailer", "trailers",
	"transfer-encoding", "upgrade", "x-request-id", "forwarded",
	"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
};

/* Response headers never relayed to the client: hop-by-hop ones, and those
 * libmicrohttpd writes itself. */
static const char *const proxy_drop_response[] = {
	"content-length", "date", "connection", "keep-alive", "proxy-connection",
	"te", "trailer", "transfer-encoding", "upgrade", "server",
	"x-gateway-rejected", "x-gateway-client", "x-request-id", "x-gateway-outcome",
	"alt-svc", "strict-transport-security", "set-cookie",
};

struct proxy_hdr_ctx {
	struct curl_slist *list;
	const char *connection;  /* the client's Connection header, or NULL */
	int oom;
};

/* Whether `name` (len bytes) is listed as a token of a Connection value. */
static int proxy_in_connection(const char *conn, const char *name)
{
	size_t nl = strlen(name);

	while (conn && *conn) {
		size_t n;
		conn += strspn(conn, " \t,");
		n = strcspn(conn, " \t,");
		if (n == nl && strncasecmp(conn, name, n) == 0)
			return 1;
		conn += n;
	}
	return 0;
}

/* Whether a header name is in a drop list. */
static int proxy_listed(const char *const *list, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcasecmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* MHD header iterator: copies forwardable headers into the list. */
static enum MHD_Result proxy_header_it(void *cls, enum MHD_ValueKind kind,
				       const char *key, const char *value)
{
	struct proxy_hdr_ctx *h = cls;
	char line[8192];
	struct curl_slist *nl;
	int n;

	(void)kind;
	if (!key || !value)
		return MHD_YES;
	if (proxy_listed(proxy_drop_request,
			 sizeof proxy_drop_request / sizeof proxy_drop_request[0], key) ||
	    strncasecmp(key, "kalshi-access-", 14) == 0 ||
	    strncasecmp(key, "x-gateway-", 10) == 0 ||
	    proxy_in_connection(h->connection, key))
		return MHD_YES;
	/* libmicrohttpd never yields CR or LF inside a value; check anyway so
	 * nothing can reach the upstream's header block */
	if (strpbrk(key, "\r\n:") || strpbrk(value, "\r\n"))
		return MHD_YES;
	n = snprintf(line, sizeof line, "%s: %s", key, value);
	if (n < 0 || (size_t)n >= sizeof line)
		return MHD_YES;
	if (value[0] == '\0')  /* curl reads "Name:" as "remove"; "Name;" sends it empty */
		snprintf(line, sizeof line, "%s;", key);
	nl = curl_slist_append(h->list, line);
	if (!nl) {
		h->oom = 1;
		return MHD_NO;
	}
	h->list = nl;
	return MHD_YES;
}

int proxy_forward_headers(struct request *rq, struct curl_slist **out)
{
	struct proxy_hdr_ctx h = { NULL, NULL, 0 };

	h.connection = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONNECTION);
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, proxy_header_it, &h);
	if (h.oom) {
		curl_slist_free_all(h.list);
		return -1;
	}
	*out = h.list;
	return 0;
}

/* What the relayed upstream headers may take of libmicrohttpd's connection
 * memory (see SERVER_HEADER_BUDGET in server.c): past it the rest are
 * dropped (logged), so the answer itself always fits. */
#define PROXY_RELAYED_HEADERS_MAX 4096

/* Copies the upstream's headers that may be relayed onto the response. */
static void proxy_copy_headers(struct MHD_Response *r, const struct curl_slist *h)
{
	size_t total = 0;

	for (; h; h = h->next) {
		char name[256];
		const char *colon = strchr(h->data, ':'), *v;
		size_t nl;

		if (!colon || (nl = (size_t)(colon - h->data)) == 0 || nl >= sizeof name)
			continue;
		memcpy(name, h->data, nl);
		name[nl] = '\0';
		if (proxy_listed(proxy_drop_response,
				 sizeof proxy_drop_response / sizeof proxy_drop_response[0], name))
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		total += nl + strlen(v) + 4;
		if (total > PROXY_RELAYED_HEADERS_MAX) {
			log_warn("upstream answer headers over %d bytes: '%s' and the rest not relayed",
				 PROXY_RELAYED_HEADERS_MAX, name);
			return;
		}
		MHD_add_response_header(r, name, v);
	}
}

static void proxy_relay_ex(struct request *rq, struct upstream_response *resp, json_t *unknown);

void proxy_relay(struct request *rq, struct upstream_response *resp)
{
	proxy_relay_ex(rq, resp, NULL);
}

/* proxy_relay; `unknown` (stolen, may be NULL) goes into the error of a
 * write whose outcome is unknown. */
static void proxy_relay_ex(struct request *rq, struct upstream_response *resp, json_t *unknown)
{
	struct MHD_Response *r;
	char msg[CURL_ERROR_SIZE + 64];

	rq->upstream_us = resp->elapsed_us;
	atomic_fetch_add(&rq->gw->upstream_requests, 1);
	if (resp->outcome == UPSTREAM_OK || resp->outcome == UPSTREAM_NOT_SENT ||
	    resp->outcome == UPSTREAM_INTERNAL) {
		/* answered, or surely not placed: no unknown outcome to name */
		json_decref(unknown);
		unknown = NULL;
	}
	switch (resp->outcome) {
	case UPSTREAM_OK:
		if (resp->status == 401) {
			long skew;
			/* what was signed, never the signature itself */
			if (upstream_clock_skew(resp, &skew) == 0)
				log_warn("upstream refused the signature (401) for %s %.*s signed at %lld; "
					 "clock skew with the upstream %+ld s%s", rq->method, (int)rq->path_len,
					 rq->target, (long long)resp->signed_ts_ms, skew,
					 labs(skew) > 1 ? " (over 1 s: fix this machine's clock)" : "");
			else
				log_warn("upstream refused the signature (401) for %s %.*s signed at %lld",
					 rq->method, (int)rq->path_len, rq->target,
					 (long long)resp->signed_ts_ms);
		}
		if (resp->body) {
			r = MHD_create_response_from_buffer_with_free_callback(resp->body_len,
									       resp->body, free);
			if (r)
				resp->body = NULL;
		} else {
			r = MHD_create_response_from_buffer(0, (void *)(uintptr_t)"",
							    MHD_RESPMEM_PERSISTENT);
		}
		if (!r) {
			request_fail(rq, "upstream_unavailable", "out of memory", NULL);
			return;
		}
		proxy_copy_headers(r, resp->headers);
		if (rq->is_write && resp->status >= 500)
			MHD_add_response_header(r, "X-Gateway-Outcome", "unknown");
		request_answer(rq, (unsigned int)resp->status, r);
		return;
	case UPSTREAM_NOT_SENT:
	case UPSTREAM_INTERNAL:
		atomic_fetch_add(&rq->gw->upstream_failures, 1);
		snprintf(msg, sizeof msg, "cannot reach the upstream: %s", resp->error);
		request_fail(rq, "upstream_unavailable", msg, NULL);
		if (rq->reply)
			MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "not_sent");
		return;
	case UPSTREAM_TOO_LARGE:
		atomic_fetch_add(&rq->gw->upstream_failures, 1);
		request_fail(rq, "upstream_unavailable", resp->error, unknown);
		if (rq->is_write && rq->reply)
			MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "unknown");
		return;
	case UPSTREAM_NO_ANSWER:
	default:
		atomic_fetch_add(&rq->gw->upstream_failures, 1);
		if (resp->timed_out)
			snprintf(msg, sizeof msg, "no answer from the upstream within %ld ms",
				 rq->gw->conf->upstream.timeout_ms);
		else
			snprintf(msg, sizeof msg, "the upstream connection failed before an answer: %s",
				 resp->error);
		request_fail(rq, "upstream_timeout", msg, unknown);
		if (rq->is_write && rq->reply)
			MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "unknown");
		return;
	}
}

/* What the order path remembers about a forwarded order, to settle its
 * reservation, count the outcome against its session and audit it. */
struct order_ctx {
	char session[SESSION_NAME_MAX + 1];
	char group[SESSION_ID_MAX];       /* "" when forwarded without a session */
	char client[SESSION_NAME_MAX + 1];
	int batch, amend;
	int64_t reserved;                 /* contracts reserved at admission */
	size_t n;
	char (*coids)[128];               /* client_order_id per order ("" = none), after orders[] */
	int dedupe_claimed;               /* the ids are claimed in gw->dedupe */
	struct norm_order orders[];       /* what was admitted, one per order */
};

/* The client_order_id of each order of a create body (single or batch)
 * into out (n_max slots; "" where absent). Returns the number of orders,
 * or -1 when the body does not parse. */
static long proxy_collect_coids(const char *body, size_t len, int batch, char (*out)[128],
				size_t n_max)
{
	json_t *j = json_loadb(body ? body : "", len, 0, NULL), *arr, *o;
	size_t i, n = 0;

	if (!j)
		return -1;
	if (batch) {
		arr = json_object_get(j, "orders");
		json_array_foreach(arr, i, o) {
			const char *c = json_string_value(json_object_get(o, "client_order_id"));
			if (n < n_max)
				snprintf(out[n], sizeof out[n], "%s", c ? c : "");
			n++;
		}
	} else {
		const char *c = json_string_value(json_object_get(j, "client_order_id"));
		if (n_max)
			snprintf(out[0], sizeof out[0], "%s", c ? c : "");
		n = 1;
	}
	json_decref(j);
	return (long)n;
}

/* Parses a fixed-point count member of an answer ("fill_count": "2.00",
 * or an integer); 0 when absent or malformed. */
static int64_t proxy_answer_count(const json_t *o, const char *key, const char *key_fp)
{
	const json_t *v = json_object_get(o, key_fp);
	int64_t n = 0;

	if (!json_is_string(v))
		v = json_object_get(o, key);
	if (json_is_string(v) && fixed_parse_count(json_string_value(v), json_string_length(v), &n) == 0)
		return n;
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < FIXED_COUNT_MAX / 100)
		return json_integer_value(v) * 100;
	return 0;
}

/* Whether an upstream refusal mentions the order group (a sign that the
 * group was triggered), in its code or message. */
static int proxy_mentions_group(const char *body, size_t len)
{
	static const char *const needles[] = { "order group", "order_group", "ordergroup" };

	if (!body)
		return 0;
	for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++) {
		size_t nl = strlen(needles[i]);
		for (size_t k = 0; k + nl <= len; k++)
			if (strncasecmp(body + k, needles[i], nl) == 0)
				return 1;
	}
	return 0;
}

/* Appends key: a JSON string (strlen), or null when s is NULL. */
static void proxy_audit_str(struct audit_line *l, const char *key, const char *s)
{
	audit_line_str(l, key, s, s ? strlen(s) : 0);
}

/* One audit record for an order decision, written straight as text (the
 * members and their order as before; see audit_line_begin). */
static void proxy_audit_order(struct request *rq, const char *session, const char *group,
			      const struct norm_order *o, const char *decision, const char *reason,
			      const char *limit, long upstream_status, const char *order_id)
{
	struct audit_line l;
	char buf[32];

	if (!rq->gw->audit)
		return;
	audit_line_begin(&l);
	proxy_audit_str(&l, "type", "order");
	proxy_audit_str(&l, "request_id", rq->request_id);
	proxy_audit_str(&l, "client", rq->client ? rq->client : "-");
	proxy_audit_str(&l, "session", session);
	proxy_audit_str(&l, "group", group && group[0] ? group : NULL);
	audit_line_str(&l, "endpoint", rq->target, rq->path_len);
	proxy_audit_str(&l, "method", rq->method);
	if (o) {
		proxy_audit_str(&l, "ticker", o->ticker);
		proxy_audit_str(&l, "side", o->side_bid ? "bid" : "ask");
		fixed_format_count(o->count, buf, sizeof buf);
		proxy_audit_str(&l, "count", buf);
		if (o->has_price) {
			fixed_format_dollars(o->yes_price, buf, sizeof buf);
			proxy_audit_str(&l, "price", buf);
		}
		fixed_format_dollars(o->cost, buf, sizeof buf);
		proxy_audit_str(&l, "cost", buf);
	}
	proxy_audit_str(&l, "decision", decision);
	proxy_audit_str(&l, "reason", reason);
	if (limit)
		proxy_audit_str(&l, "limit", limit);
	if (upstream_status > 0)
		audit_line_int(&l, "upstream_status", upstream_status);
	else
		audit_line_null(&l, "upstream_status");
	proxy_audit_str(&l, "order_id", order_id);
	audit_line_int(&l, "latency_us", (long long)(gw_now_us() - rq->start_us));
	audit_line_end(rq->gw->audit, &l);
}

/* Refuses an order before forwarding: the error answer, a metrics count,
 * and one audit record. */
static void proxy_refuse(struct request *rq, const char *session, const char *group,
			 const struct norm_order *o, const char *code, const char *message,
			 json_t *extra, const char *limit)
{
	metrics_order(0, code);
	proxy_audit_order(rq, session, group, o, "refused", code, limit, 0, NULL);
	request_fail(rq, code, message, extra);
}

/* Settles a forwarded order: the reservation, the session counters, the
 * metrics and the audit log, from the upstream's answer. */
static void proxy_settle_orders(struct request *rq, const struct order_ctx *oc,
				const struct upstream_response *resp)
{
	struct sessions *ss = rq->gw->sessions;
	int64_t acc = 0, rej = 0, sub = 0, fill = 0, rest = 0;
	json_t *body = NULL, *arr, *o;
	size_t i;
	int has_session = oc->group[0] != '\0';

	if (resp->outcome == UPSTREAM_NOT_SENT) {
		/* nothing reached the exchange: the reservation and the ids are
		 * released, as for a refusal */
		const char *why = rq->error_code ? rq->error_code : "upstream_unavailable";
		for (i = 0; oc->dedupe_claimed && i < oc->n; i++)
			if (oc->coids[i][0])
				dedupe_release(rq->gw->dedupe, oc->coids[i]);
		if (has_session)
			sessions_settle(ss, oc->session, oc->group, oc->client, oc->reserved, 0, 0,
					oc->amend ? 0 : (int64_t)oc->n, 0, 0);
		for (i = 0; i < oc->n; i++)
			proxy_audit_order(rq, oc->session, oc->group, &oc->orders[i], "refused", why,
					  NULL, 0, NULL);
		metrics_order(0, why);
		return;
	}
	if (resp->outcome != UPSTREAM_OK || resp->status >= 500) {
		/* unknown outcome: the reservation is kept as submitted */
		if (has_session)
			sessions_settle(ss, oc->session, oc->group, oc->client, oc->reserved,
					oc->reserved, 0, 0, 0, 0);
		for (i = 0; i < oc->n; i++)
			proxy_audit_order(rq, oc->session, oc->group, &oc->orders[i], "unknown_outcome",
					  resp->outcome == UPSTREAM_OK ? "upstream_5xx" : "upstream_timeout",
					  NULL, resp->outcome == UPSTREAM_OK ? resp->status : 0, NULL);
		metrics_order(0, resp->outcome == UPSTREAM_OK ? "upstream_5xx" : "upstream_timeout");
		return;
	}
	if (resp->status < 200 || resp->status > 299) {
		for (i = 0; oc->dedupe_claimed && i < oc->n; i++)
			if (oc->coids[i][0])
				dedupe_release(rq->gw->dedupe, oc->coids[i]);
		if (has_session) {
			sessions_settle(ss, oc->session, oc->group, oc->client, oc->reserved, 0, 0,
					oc->amend ? 0 : (int64_t)oc->n, 0, 0);
			if (resp->status >= 400 && resp->status < 500 && !oc->amend &&
			    proxy_mentions_group(resp->body, resp->body_len))
				sessions_suspect_trigger(ss, oc->session, oc->group);
		}
		for (i = 0; i < oc->n; i++)
			proxy_audit_order(rq, oc->session, oc->group, &oc->orders[i], "refused",
					  "upstream_4xx", NULL, resp->status, NULL);
		metrics_order(0, "upstream_4xx");
		return;
	}
	if (resp->body)
		body = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (oc->batch && (arr = json_object_get(body, "orders")) && json_is_array(arr)) {
		json_array_foreach(arr, i, o) {
			json_t *err = json_object_get(o, "error");
			const struct norm_order *no = i < oc->n ? &oc->orders[i] : NULL;
			if (err && !json_is_null(err)) {
				if (oc->dedupe_claimed && i < oc->n && oc->coids[i][0])
					dedupe_release(rq->gw->dedupe, oc->coids[i]);
				rej++;
				proxy_audit_order(rq, oc->session, oc->group, no, "refused", "upstream_refused",
						  NULL, resp->status, NULL);
				metrics_order(0, "upstream_4xx");
				continue;
			}
			acc++;
			if (oc->dedupe_claimed && i < oc->n && oc->coids[i][0])
				dedupe_accepted(rq->gw->dedupe, oc->coids[i],
						json_string_value(json_object_get(o, "order_id")));
			if (no)
				sub += no->count;
			fill += proxy_answer_count(o, "fill_count", "fill_count_fp");
			rest += proxy_answer_count(o, "remaining_count", "remaining_count_fp");
			if (has_session && json_is_string(json_object_get(o, "order_id")))
				sessions_track_order(ss, oc->session, oc->group,
						     json_string_value(json_object_get(o, "order_id")),
						     proxy_answer_count(o, "fill_count", "fill_count_fp"));
			proxy_audit_order(rq, oc->session, oc->group, no, "accepted", NULL, NULL,
					  resp->status, json_string_value(json_object_get(o, "order_id")));
			metrics_order(1, NULL);
		}
	} else {
		o = json_object_get(body, "order");
		if (!json_is_object(o))
			o = body;
		acc = oc->amend ? 0 : (int64_t)oc->n;
		if (oc->dedupe_claimed && oc->n && oc->coids[0][0])
			dedupe_accepted(rq->gw->dedupe, oc->coids[0],
					json_string_value(json_object_get(o, "order_id")));
		for (i = 0; i < oc->n; i++)
			sub += oc->orders[i].count;
		if (!oc->amend) {
			fill = proxy_answer_count(o, "fill_count", "fill_count_fp");
			rest = proxy_answer_count(o, "remaining_count", "remaining_count_fp");
			if (has_session && json_is_string(json_object_get(o, "order_id")))
				sessions_track_order(ss, oc->session, oc->group,
						     json_string_value(json_object_get(o, "order_id")), fill);
		}
		for (i = 0; i < oc->n; i++)
			proxy_audit_order(rq, oc->session, oc->group, &oc->orders[i], "accepted", NULL,
					  NULL, resp->status, json_string_value(json_object_get(o, "order_id")));
		metrics_order(1, NULL);
	}
	json_decref(body);
	if (has_session)
		sessions_settle(ss, oc->session, oc->group, oc->client, oc->reserved, sub, acc, rej,
				fill, rest);
}

/* The error's extra fields when an order's outcome is unknown: the
 * client_order_id(s) the bot can look the order up by. NULL if none. */
static json_t *proxy_unknown_extra(const struct order_ctx *oc)
{
	json_t *arr;

	if (!oc || oc->amend || oc->n == 0)
		return NULL;
	if (!oc->batch)
		return oc->coids[0][0] ? json_pack("{s:s}", "client_order_id", oc->coids[0]) : NULL;
	arr = json_array();
	for (size_t i = 0; arr && i < oc->n; i++)
		json_array_append_new(arr, oc->coids[i][0] ? json_string(oc->coids[i]) : json_null());
	return arr ? json_pack("{s:o}", "client_order_ids", arr) : NULL;
}

void proxy_relay_order(struct request *rq, struct upstream_response *resp,
		       const struct order_ctx *oc)
{
	proxy_relay_ex(rq, resp, proxy_unknown_extra(oc));
}

/* Upstream completion: builds the answer and resumes the connection. */
static void proxy_done(void *ud, struct upstream_response *resp)
{
	struct request *rq = ud;

	rq->xfer = NULL;
	rq->unsent = NULL;
	if (rq->ctx)
		proxy_settle_orders(rq, rq->ctx, resp);
	proxy_relay_order(rq, resp, rq->ctx);
	request_resume(rq);
}

void proxy_order_unsent(struct request *rq, const struct order_ctx *oc)
{
	struct upstream_response none;

	memset(&none, 0, sizeof none);
	none.outcome = UPSTREAM_NOT_SENT;
	proxy_settle_orders(rq, oc, &none);
}

/* rq->unsent of a proxied order: answered by the gateway before anything
 * was sent (queue 429, shutdown, a failed start). */
static void proxy_unsent(struct request *rq)
{
	if (rq->ctx)
		proxy_order_unsent(rq, rq->ctx);
}

int proxy_dispatch(struct request *rq, const struct route_info *ri, const struct order_ctx *oc,
		   upstream_done_fn done)
{
	struct curl_slist *headers = NULL;
	struct upstream_request r;

	if (proxy_forward_headers(rq, &headers) < 0) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		request_unsent(rq);
		return -1;
	}
	memset(&r, 0, sizeof r);
	r.method = rq->method;
	r.path = rq->target;
	r.path_len = rq->path_len;
	r.query = rq->query;
	r.body = rq->body;
	r.body_len = rq->body_len;
	r.sign = 1;
	return dispatch_send(rq, &r, headers, ri, oc ? oc->n : 1, done);
}

void proxy_order_settle(struct request *rq, const struct order_ctx *oc,
			const struct upstream_response *resp)
{
	proxy_settle_orders(rq, oc, resp);
}

/* order_inject callback: a fresh client_order_id. */
static void proxy_new_coid(void *ud, char *buf, size_t cap)
{
	(void)ud;
	sessions_uuid(buf, cap);
}

/* The session an order belongs to: the client's configured one (a
 * different X-Gateway-Session is refused), else X-Gateway-Session, else
 * "default". Returns -1 when answered with an error. */
static int proxy_order_session(struct request *rq, char *out, size_t cap)
{
	const char *hdr = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Gateway-Session");

	if (rq->client_session) {
		if (hdr && strcmp(hdr, rq->client_session) != 0) {
			request_fail(rq, "forbidden",
				     "X-Gateway-Session names another session than this client's", NULL);
			return -1;
		}
		snprintf(out, cap, "%s", rq->client_session);
		return 0;
	}
	if (hdr && (!session_name_ok(hdr) || strlen(hdr) >= cap)) {
		request_fail(rq, "invalid_request", "X-Gateway-Session must match [A-Za-z0-9_-]{1,64}", NULL);
		return -1;
	}
	snprintf(out, cap, "%s", hdr ? hdr : "default");
	return 0;
}

/* max_orders_per_s: takes n orders from the client's bucket; answers 429
 * rate_limited with Retry-After when over, auditing the (first) order it
 * refused. Returns -1 when answered. */
static int proxy_rate(struct request *rq, const struct limits_eff *eff,
		      const struct norm_order *orders, size_t n, int amend, const char *session,
		      const char *group)
{
	struct client_rate *cr;
	int64_t retry_ms = 0;
	int rc;
	char ra[24], msg[160];

	if (!eff->has_max_orders_per_s || !rq->snap->rates)
		return 0;
	cr = &rq->snap->rates[identity_index(rq->snap->ident, rq->ident)];
	pthread_mutex_lock(&cr->lock);
	rc = limits_rate_take(&cr->bucket, gw_now_ms(), eff->max_orders_per_s, (int64_t)n, &retry_ms);
	pthread_mutex_unlock(&cr->lock);
	if (rc == 0)
		return 0;
	snprintf(msg, sizeof msg, "over max_orders_per_s %lld for this client",
		 (long long)eff->max_orders_per_s);
	/* counted against the session like every other refusal */
	if (group && group[0] && !amend)
		sessions_settle(rq->gw->sessions, session, group, rq->client, 0, 0, 0, (int64_t)n, 0, 0);
	proxy_refuse(rq, session, group, n ? &orders[0] : NULL, "rate_limited", msg,
		     json_pack("{s:s}", "limit", "max_orders_per_s"), "max_orders_per_s");
	snprintf(ra, sizeof ra, "%lld", (long long)((retry_ms + 999) / 1000 > 0 ? (retry_ms + 999) / 1000 : 1));
	if (rq->reply)
		MHD_add_response_header(rq->reply, "Retry-After", ra);
	return -1;
}

/* Answers a limits refusal: 403 limit_exceeded with its fields. */
static void proxy_limit_refusal(struct request *rq, const char *session, const char *group,
				const struct norm_order *orders, size_t n,
				const struct limits_refusal *r)
{
	const struct norm_order *o = r->index >= 0 && (size_t)r->index < n ? &orders[r->index]
				     : n ? &orders[0] : NULL;

	proxy_refuse(rq, session, group, o, "limit_exceeded", r->message, limits_refusal_json(r),
		     r->limit);
}

/*
 * The order path for creates and amends: finds the session, refuses when
 * there is none (session.require_session) or it is triggered, runs `body_fn`
 * (when given) to replace the body, rewrites a create with the session's
 * group, subaccount and a client_order_id, normalises every order, applies
 * max_orders_per_s, the per-order limits and the session caps (reserving
 * the contracts), and returns in *out what is needed to settle the outcome
 * (see proxy.h). Returns -1 when answered.
 */
int proxy_order_prepare(struct request *rq, const struct route_info *ri, proxy_body_fn body_fn,
			void *ud, struct order_ctx **out)
{
	int batch = ri->kind == ROUTE_BATCH_CREATE_V2 || ri->kind == ROUTE_BATCH_CREATE_LEGACY;
	int amend = ri->kind == ROUTE_AMEND;
	struct session_snap snap;
	struct order_inject inj;
	struct order_result res;
	struct order_ctx *oc;
	struct limits_eff eff;
	struct limits_refusal lr;
	struct norm_order *orders = NULL;
	struct order_summary *sums = NULL;  /* from the rewrite: the client_order_ids */
	int have_coids = 0;
	size_t n = 0;
	long index = -1;
	int64_t reserved = 0;
	char name[SESSION_NAME_MAX + 1], msg[512];
	int rc;

	if (proxy_order_session(rq, name, sizeof name) < 0)
		return -1;
	sessions_feed(rq->gw->sessions, name);
	sessions_snapshot(rq->gw->sessions, name, &snap);
	limits_merge(&rq->snap->conf->limits, rq->ident ? rq->ident->limits : NULL, &eff);
	if (!snap.found && rq->snap->conf->session.require_session && !amend) {
		snprintf(msg, sizeof msg,
			 "no active session '%s': start one with POST /session/start", name);
		proxy_refuse(rq, name, NULL, NULL, "no_active_session", msg, NULL, NULL);
		return -1;
	}
	if (snap.found && snap.status == SESSION_TRIGGERED) {
		snprintf(msg, sizeof msg, "session '%s' is triggered (%s); reset it with POST /session/reset",
			 name, snap.status_reason[0] ? snap.status_reason : "triggered");
		sessions_settle(rq->gw->sessions, name, snap.order_group_id, rq->client, 0, 0, 0, 1, 0, 0);
		proxy_refuse(rq, name, snap.order_group_id, NULL, "session_triggered", msg, NULL, NULL);
		return -1;
	}
	if (body_fn) {
		struct legacy_err le;
		memset(&le, 0, sizeof le);
		le.index = -1;
		if (body_fn(rq, ud, &le) < 0) {
			if (snap.found && !amend)
				sessions_settle(rq->gw->sessions, name, snap.order_group_id, rq->client,
						0, 0, 0, 1, 0, 0);
			proxy_refuse(rq, name, snap.found ? snap.order_group_id : NULL, NULL,
				     le.code[0] ? le.code : "invalid_order", le.message,
				     le.index >= 0 ? json_pack("{s:I}", "index", (json_int_t)le.index) : NULL,
				     NULL);
			return -1;
		}
	}
	if (!amend && rq->snap->conf->orders.require_client_order_id) {
		char (*ids)[128] = calloc(1000, sizeof *ids);
		long k = ids ? proxy_collect_coids(rq->body, rq->body_len, batch, ids, 1000) : -1;
		for (long i = 0; i < k; i++)
			if (!ids[i][0]) {
				free(ids);
				proxy_refuse(rq, name, snap.order_group_id, NULL, "invalid_order",
					     "client_order_id is required (orders.require_client_order_id)",
					     batch ? json_pack("{s:I}", "index", (json_int_t)i) : NULL, NULL);
				return -1;
			}
		free(ids);
	}
	if (amend) {
		struct norm_amend a;
		if (order_check_strict(rq->body ? rq->body : "", rq->body_len, msg, sizeof msg) != ORDER_OK ||
		    normalize_amend_body(rq->body ? rq->body : "", rq->body_len, ri->legacy, &a, msg,
					 sizeof msg) < 0) {
			proxy_refuse(rq, name, snap.order_group_id, NULL, "invalid_order", msg, NULL, NULL);
			return -1;
		}
		orders = calloc(1, sizeof *orders);
		if (!orders)
			goto oom;
		/* the order's earlier total is not tracked: all of the new total
		 * counts as added, which can only overstate exposure */
		normalize_amend_added(&a, -1, orders);
		n = 1;
	} else if (!snap.found) {
		if (order_check_strict(rq->body ? rq->body : "", rq->body_len, msg, sizeof msg) != ORDER_OK ||
		    normalize_body(rq->body ? rq->body : "", rq->body_len, batch,
				   ri->kind == ROUTE_CREATE_LEGACY || ri->kind == ROUTE_BATCH_CREATE_LEGACY,
				   &orders, &n, &index, msg, sizeof msg) < 0) {
			proxy_refuse(rq, name, NULL, NULL, "invalid_order", msg,
				     index >= 0 ? json_pack("{s:I}", "index", (json_int_t)index) : NULL, NULL);
			return -1;
		}
		log_info("order forwarded without an order group: no active session '%s' "
			 "and session.require_session is false", name);
	} else {
		memset(&inj, 0, sizeof inj);
		inj.order_group_id = snap.order_group_id;
		inj.subaccount = (int)snap.subaccount;
		inj.new_client_order_id = proxy_new_coid;
		/* one parse: rewritten, normalised and the client_order_ids
		 * (dedupe) all come from it */
		order_rewrite_norm(rq->body ? rq->body : "", rq->body_len, batch,
				   ri->kind == ROUTE_CREATE_LEGACY || ri->kind == ROUTE_BATCH_CREATE_LEGACY,
				   &inj, &res);
		if (res.status != ORDER_OK) {
			json_t *extra = res.index >= 0 ? json_pack("{s:I}", "index", (json_int_t)res.index) : NULL;
			const char *code = res.status == ORDER_INVALID_JSON ? "invalid_json"
					   : res.status == ORDER_GROUP_MISMATCH ? "order_group_mismatch"
										: "invalid_order";
			sessions_settle(rq->gw->sessions, name, snap.order_group_id, rq->client, 0, 0, 0, 1, 0, 0);
			proxy_refuse(rq, name, snap.order_group_id, NULL, code, res.message, extra, NULL);
			order_result_release(&res);
			return -1;
		}
		orders = res.norm;
		n = res.order_count;
		sums = res.orders;
		res.norm = NULL;
		res.orders = NULL;
		free(rq->body);
		rq->body = res.body;
		rq->body_len = res.body_len;
		rq->body_cap = res.body_len + 1;
		res.body = NULL;
		order_result_release(&res);
	}
	if (proxy_rate(rq, &eff, orders, n, amend, name, snap.found ? snap.order_group_id : NULL) < 0) {
		free(orders);
		free(sums);
		return -1;
	}
	if (snap.found) {
		rc = sessions_admit(rq->gw->sessions, name, snap.order_group_id, rq->client, &eff, orders,
				    n, batch, &reserved, &lr);
		if (rc == -2) {
			snprintf(msg, sizeof msg, "session '%s' ended while the order was checked", name);
			proxy_refuse(rq, name, NULL, NULL, "no_active_session", msg, NULL, NULL);
			free(orders);
			free(sums);
			return -1;
		}
	} else {
		rc = limits_check_orders(&eff, NULL, orders, n, batch, NULL, &lr);
	}
	if (rc < 0) {
		if (snap.found)
			sessions_settle(rq->gw->sessions, name, snap.order_group_id, rq->client, 0, 0, 0,
					amend ? 0 : (int64_t)n, 0, 0);
		proxy_limit_refusal(rq, name, snap.order_group_id, orders, n, &lr);
		free(orders);
		free(sums);
		return -1;
	}
	oc = calloc(1, sizeof *oc + n * sizeof oc->orders[0] + n * 128);
	if (!oc) {
		if (snap.found)
			sessions_settle(rq->gw->sessions, name, snap.order_group_id, rq->client, reserved, 0,
					0, 0, 0, 0);
		goto oom;
	}
	snprintf(oc->session, sizeof oc->session, "%s", name);
	snprintf(oc->group, sizeof oc->group, "%s", snap.found ? snap.order_group_id : "");
	snprintf(oc->client, sizeof oc->client, "%s", rq->client ? rq->client : "-");
	oc->batch = batch;
	oc->amend = amend;
	oc->reserved = reserved;
	oc->n = n;
	memcpy(oc->orders, orders, n * sizeof *orders);
	free(orders);
	orders = NULL;
	oc->coids = (char (*)[128])(void *)(oc->orders + n);
	if (sums) {
		/* the ids as rewritten (filled in where absent), from the one parse */
		for (size_t i = 0; i < n; i++)
			memcpy(oc->coids[i], sums[i].client_order_id, sizeof oc->coids[i]);
		free(sums);
		sums = NULL;
		have_coids = 1;
	}
	if (!amend && rq->gw->dedupe &&
	    (have_coids || proxy_collect_coids(rq->body, rq->body_len, batch, oc->coids, n) >= 0)) {
		/* a client_order_id this gateway already sent (in flight or
		 * accepted) is answered here, never sent again */
		int64_t now = gw_now_ms();
		for (size_t i = 0; i < n; i++) {
			char known[72] = "";
			if (!oc->coids[i][0] ||
			    dedupe_claim(rq->gw->dedupe, oc->coids[i], now, known, sizeof known) != 1)
				continue;
			for (size_t k = 0; k < i; k++)
				dedupe_release(rq->gw->dedupe, oc->coids[k]);
			if (snap.found)
				sessions_settle(rq->gw->sessions, name, snap.order_group_id, rq->client,
						reserved, 0, 0, (int64_t)n, 0, 0);
			{
				json_t *extra = json_object();
				char m[256];
				json_object_set_new(extra, "client_order_id", json_string(oc->coids[i]));
				if (known[0])
					json_object_set_new(extra, "order_id", json_string(known));
				if (batch)
					json_object_set_new(extra, "index", json_integer((json_int_t)i));
				snprintf(m, sizeof m, "client_order_id '%.64s' was already sent within orders.dedupe_window_s",
					 oc->coids[i]);
				proxy_refuse(rq, name, snap.order_group_id, &oc->orders[i], "order_already_exists",
					     m, extra, NULL);
			}
			free(oc);
			return -1;
		}
		oc->dedupe_claimed = 1;
	}
	*out = oc;
	rq->metrics_route = METRICS_ROUTE_ORDER;
	return 0;
oom:
	free(orders);
	free(sums);
	request_fail(rq, "upstream_unavailable", "out of memory", NULL);
	return -1;
}

int proxy_send(struct request *rq, const struct upstream_request *ur, int forward_headers,
	       upstream_done_fn done, void *ud, char *err, size_t errlen)
{
	struct upstream_request r = *ur;
	struct curl_slist *headers = NULL;

	if (forward_headers && proxy_forward_headers(rq, &headers) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r.headers = headers;
	r.sign = 1;
	dispatch_charge(rq->gw, r.method, r.path, r.path_len);  /* legacy_flow's calls */
	rq->xfer = upstream_pool_start(request_pool(rq), &r, done, ud, err, errlen);
	if (rq->xfer)
		upstream_xfer_own_headers(rq->xfer, headers);  /* borrowed until it ends */
	else
		curl_slist_free_all(headers);
	if (!rq->xfer) {
		log_error("cannot start upstream request: %s", err);
		return -1;
	}
	return 0;
}

void proxy_handle(struct request *rq)
{
	struct route_info ri;
	char err[512];

	route_classify(rq->method, rq->target, rq->path_len, &ri);
	if (ri.kind == ROUTE_GROUP_MUTATION &&
	    sessions_owns_group(rq->gw->sessions, ri.id, ri.id_len)) {
		request_fail(rq, "forbidden",
			     "this order group belongs to an active session: use /session/reset, /session/halt, /session/limit or /session/end",
			     NULL);
		return;
	}
	if (!roles_allow_proxy((enum gw_role)rq->role, ri.kind)) {
		request_fail(rq, "forbidden", "this client's role may not make this request", NULL);
		return;
	}
	if (ri.legacy && rq->snap->conf->orders.legacy != GW_LEGACY_PASS) {
		/* orders.legacy translate or reject: see legacy_flow.h */
		legacy_flow_handle(rq, &ri);
		return;
	}
	if (route_is_create(ri.kind) || ri.kind == ROUTE_AMEND) {
		struct order_ctx *oc = NULL;
		if (proxy_order_prepare(rq, &ri, NULL, NULL, &oc) < 0)
			return;
		rq->ctx = oc;
		rq->ctx_free = free;
		rq->unsent = proxy_unsent;
	} else if (ri.kind == ROUTE_DECREASE || ri.kind == ROUTE_CANCEL ||
		   ri.kind == ROUTE_BATCH_CANCEL) {
		/* never blocked by limits or session state; only malformed JSON
		 * is refused for decreases */
		rq->metrics_route = METRICS_ROUTE_ORDER;
		if (ri.kind == ROUTE_DECREASE &&
		    order_check_strict(rq->body ? rq->body : "", rq->body_len, err, sizeof err) != ORDER_OK) {
			request_fail(rq, "invalid_order", err, NULL);
			return;
		}
	}
	/* within the account's shared budget: may wait in the loop's queue */
	proxy_dispatch(rq, &ri, rq->ctx, proxy_done);
}
