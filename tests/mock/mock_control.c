/*
 * mock_control.c - the /_mock/ control API tests use to inspect and steer
 * the mock. No authentication; control requests are never recorded, never
 * counted in the statistics and never subject to faults. Every answer is
 * JSON with status 200 (400 for a bad body, 404 for an unknown id or path).
 *
 *   GET    /_mock/requests   {"requests":[{"seq","method","path","query",
 *                            "headers","body","sig_valid","status"}]},
 *                            oldest first, the last 10000; status 0 means
 *                            no answer was sent (reset, hang, garbage)
 *   DELETE /_mock/requests   forget them
 *   GET    /_mock/stats      {"in_flight","max_in_flight","total"}
 *   DELETE /_mock/stats      total = 0, max_in_flight = in_flight
 *   PUT    /_mock/fault      {"mode","delay_ms","status","body","count","skip",
 *                            "path_prefix","bytes","process"} (see
 *                            mock_fault.h); answers the fault as stored
 *   GET    /_mock/fault      the current fault and its "hits"
 *   DELETE /_mock/fault      mode none
 *   GET    /_mock/state      {"order_groups":[...],"orders":[...],"fills":[...]}
 *   DELETE /_mock/state      forget every group, order and fill
 *   POST   /_mock/order_groups/{id}/trigger   trigger as the exchange would
 *   POST   /_mock/orders/{id}/fill            {} or {"count":"N.NN"}: fill a
 *                                             resting order as maker
 *   GET    /_mock/limits, PUT /_mock/limits   the /account/limits answer
 *   GET    /_mock/rate, PUT /_mock/rate       exchange-side buckets
 *                            {"enforce", "read_per_s", "write_per_s",
 *                            "read_capacity", "write_capacity"} (Basic tier
 *                            by default; see mock_rate.h); GET adds the
 *                            levels and "limited" (429s answered)
 *   DELETE /_mock/rate       enforcement off
 *   GET    /_mock/endpoint_costs, PUT ...     the /account/endpoint_costs answer
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mock/mock_api.h"
#include "tests/mock/mock_book.h"
#include "tests/mock/mock_fault.h"
#include "tests/mock/mock_log.h"
#include "tests/mock/mock_rate.h"

/* Sets out to a 200 with a body of already-encoded JSON text (owned). */
static void control_reply_text(struct mock_reply *out, char *text)
{
	if (text == NULL) {
		mock_reply_error(out, 500, "internal", "mock out of memory", NULL);
		return;
	}
	mock_reply_release(out);
	out->status = 200;
	out->body = text;
	out->body_len = strlen(text);
}

/* PUT /_mock/fault. */
static void control_set_fault(struct mock_ctx *ctx, const struct mock_request *rq,
			      struct mock_reply *out)
{
	char err[256];
	json_t *spec = mock_parse_body(rq, out, false);

	if (spec == NULL)
		return;
	if (mock_faults_set(ctx->faults, spec, err, sizeof(err)) != 0)
		mock_reply_error(out, 400, "invalid_parameters", err, NULL);
	else
		mock_reply_json(out, 200, mock_faults_get(ctx->faults));
	json_decref(spec);
}

/* POST /_mock/orders/{id}/fill with optional {"count":"N.NN"}: fills a
 * resting order as maker. 200 {"order": Order}. */
static void control_fill(struct mock_ctx *ctx, const struct mock_request *rq, const char *id,
			 struct mock_reply *out)
{
	struct mock_book_error err;
	json_t *body = mock_parse_body(rq, out, true), *c, *res;
	int64_t count = -1;

	if (body == NULL)
		return;
	c = json_is_object(body) ? json_object_get(body, "count") : NULL;
	if (!json_is_object(body) ||
	    (c != NULL && (!json_is_string(c) ||
			   mock_parse_fixed(json_string_value(c), 2, 2, &count) != 0))) {
		json_decref(body);
		mock_reply_error(out, 400, "invalid_parameters",
				 "body must be {} or {\"count\": \"N.NN\"}", NULL);
		return;
	}
	json_decref(body);
	res = mock_book_fill_order(ctx->book, id, count, &err);
	if (res == NULL)
		mock_reply_error(out, err.status, err.code, err.message, NULL);
	else
		mock_reply_json(out, 200, json_pack("{s:o}", "order", res));
}

/* PUT /_mock/limits: replaces the /account/limits answer with the body
 * (a JSON object), 200 with the new value. */
static void control_set_limits(struct mock_ctx *ctx, const struct mock_request *rq,
			       struct mock_reply *out)
{
	json_t *body = mock_parse_body(rq, out, false);

	if (body == NULL)
		return;
	if (!json_is_object(body)) {
		mock_reply_error(out, 400, "invalid_parameters", "limits must be a JSON object",
				 NULL);
	} else {
		mock_book_set_limits(ctx->book, body);
		mock_reply_json(out, 200, mock_book_limits(ctx->book));
	}
	json_decref(body);
}

/* PUT /_mock/rate and PUT /_mock/endpoint_costs: applies the body with
 * set, answers the new value from get. */
static void control_set_rate(struct mock_ctx *ctx, const struct mock_request *rq, bool costs,
			     struct mock_reply *out)
{
	char err[256];
	json_t *body = mock_parse_body(rq, out, false);
	int rc;

	if (body == NULL)
		return;
	rc = costs ? mock_rate_set_costs(ctx->rate, body, err, sizeof(err))
		   : mock_rate_set(ctx->rate, body, err, sizeof(err));
	if (rc != 0)
		mock_reply_error(out, 400, "invalid_parameters", err, NULL);
	else
		mock_reply_json(out, 200, costs ? mock_rate_costs(ctx->rate) : mock_rate_get(ctx->rate));
	json_decref(body);
}

/* Splits the raw path after "/_mock/" into at most 4 segments in buf;
 * returns the count, or -1 when it is too long or has empty segments. */
static int control_split(const char *path, char *buf, size_t len, char **seg)
{
	const char *rest = path + strlen("/_mock/");
	int n = 0;
	char *p;

	if (strlen(rest) >= len)
		return -1;
	memcpy(buf, rest, strlen(rest) + 1);
	p = buf;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (*p == '\0' || n == 4)
			return -1;
		seg[n++] = p;
		if (slash == NULL)
			return n;
		p = slash + 1;
	}
}

/* See mock_api.h. */
void mock_control_handle(struct mock_ctx *ctx, const struct mock_request *rq,
			 struct mock_reply *out)
{
	const char *m = rq->method;
	bool get = strcmp(m, "GET") == 0, del = strcmp(m, "DELETE") == 0;
	bool put = strcmp(m, "PUT") == 0, post = strcmp(m, "POST") == 0;
	char buf[512];
	char *seg[4];
	int n = strncmp(rq->path, "/_mock/", 7) == 0
		? control_split(rq->path, buf, sizeof(buf), seg) : -1;
	struct mock_book_error err;

	if (n == 1 && strcmp(seg[0], "requests") == 0 && get) {
		control_reply_text(out, mock_log_dump(ctx->log));
	} else if (n == 1 && strcmp(seg[0], "requests") == 0 && del) {
		mock_log_clear(ctx->log);
		mock_reply_json(out, 200, json_object());
	} else if (n == 1 && strcmp(seg[0], "stats") == 0 && get) {
		mock_reply_json(out, 200, mock_log_stats(ctx->log));
	} else if (n == 1 && strcmp(seg[0], "stats") == 0 && del) {
		mock_log_reset_stats(ctx->log);
		mock_reply_json(out, 200, mock_log_stats(ctx->log));
	} else if (n == 1 && strcmp(seg[0], "fault") == 0 && get) {
		mock_reply_json(out, 200, mock_faults_get(ctx->faults));
	} else if (n == 1 && strcmp(seg[0], "fault") == 0 && put) {
		control_set_fault(ctx, rq, out);
	} else if (n == 1 && strcmp(seg[0], "fault") == 0 && del) {
		json_t *none = json_pack("{s:s}", "mode", "none");
		char e[64];
		mock_faults_set(ctx->faults, none, e, sizeof(e));
		json_decref(none);
		mock_reply_json(out, 200, mock_faults_get(ctx->faults));
	} else if (n == 1 && strcmp(seg[0], "state") == 0 && get) {
		mock_reply_json(out, 200, mock_book_state(ctx->book));
	} else if (n == 1 && strcmp(seg[0], "state") == 0 && del) {
		mock_book_clear(ctx->book);
		mock_reply_json(out, 200, json_object());
	} else if (n == 1 && strcmp(seg[0], "limits") == 0 && get) {
		mock_reply_json(out, 200, mock_book_limits(ctx->book));
	} else if (n == 1 && strcmp(seg[0], "limits") == 0 && put) {
		control_set_limits(ctx, rq, out);
	} else if (n == 1 && strcmp(seg[0], "rate") == 0 && get) {
		mock_reply_json(out, 200, mock_rate_get(ctx->rate));
	} else if (n == 1 && strcmp(seg[0], "rate") == 0 && (put || del)) {
		if (put) {
			control_set_rate(ctx, rq, false, out);
		} else {
			json_t *off = json_pack("{s:b}", "enforce", 0);
			char e[64];
			mock_rate_set(ctx->rate, off, e, sizeof(e));
			json_decref(off);
			mock_reply_json(out, 200, mock_rate_get(ctx->rate));
		}
	} else if (n == 1 && strcmp(seg[0], "endpoint_costs") == 0 && get) {
		mock_reply_json(out, 200, mock_rate_costs(ctx->rate));
	} else if (n == 1 && strcmp(seg[0], "endpoint_costs") == 0 && put) {
		control_set_rate(ctx, rq, true, out);
	} else if (n == 3 && strcmp(seg[0], "order_groups") == 0 &&
		   strcmp(seg[2], "trigger") == 0 && post) {
		if (mock_book_group_trigger(ctx->book, seg[1], -1, "mock", &err))
			mock_reply_error(out, err.status, err.code, err.message, NULL);
		else
			mock_reply_json(out, 200, json_object());
	} else if (n == 3 && strcmp(seg[0], "orders") == 0 && strcmp(seg[2], "fill") == 0 &&
		   post) {
		control_fill(ctx, rq, seg[1], out);
	} else {
		mock_reply_error(out, 404, "not_found", "unknown control endpoint", rq->path);
	}
}
