/*
 * mock_orders.c - strict validation and handlers of the order endpoints (V2
 * under /portfolio/events/orders, legacy under /portfolio/orders) and the
 * order-group endpoints (/portfolio/order_groups). Bodies are checked the
 * way Kalshi checks them: unknown fields, wrong JSON types, JSON numbers
 * where fixed-point strings are required, and out-of-range values are all
 * refused with 400 invalid_parameters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mock/mock_api.h"
#include "tests/mock/mock_book.h"

#define ORDERS_MAX_BATCH 20
#define ORDERS_MAX_COUNT (10000000LL * MOCK_COUNT_SCALE)
#define ORDERS_MAX_STRING 100
#define ORDERS_MAX_GROUP_LIMIT (1000000LL * MOCK_COUNT_SCALE)

/* Fills err with a 400 invalid_parameters and the formatted message;
 * always returns -1 so callers can `return orders_bad(...)`. */
static int orders_bad(struct mock_book_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int orders_bad(struct mock_book_error *err, const char *fmt, ...)
{
	va_list ap;

	err->status = 400;
	snprintf(err->code, sizeof(err->code), "invalid_parameters");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Sets out to the error envelope for err. */
static void orders_reply_err(struct mock_reply *out, const struct mock_book_error *err)
{
	mock_reply_error(out, err->status, err->code, err->message, NULL);
}

/* Returns a member that is present and not JSON null, else NULL. */
static json_t *orders_member(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_null(v) ? NULL : v;
}

/* Refuses members of o not in allowed[0..n). Returns 0 or -1 with err. */
static int orders_known_fields(json_t *o, const char *const *allowed, size_t n,
			       struct mock_book_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i == n)
			return orders_bad(err, "unknown field '%s'", key);
	}
	return 0;
}

/* Reads a string member (required or optional) of 1..ORDERS_MAX_STRING
 * bytes into *out (borrowed; NULL when absent and optional). Returns 0 or -1
 * with err. */
static int orders_string(json_t *o, const char *name, bool required, const char **out,
			 struct mock_book_error *err)
{
	json_t *v = orders_member(o, name);
	size_t n;

	*out = NULL;
	if (v == NULL)
		return required ? orders_bad(err, "'%s' is required", name) : 0;
	if (!json_is_string(v))
		return orders_bad(err, "'%s' must be a string", name);
	n = json_string_length(v);
	if (n == 0 || n > ORDERS_MAX_STRING || strlen(json_string_value(v)) != n)
		return orders_bad(err, "'%s' must be 1 to %d characters", name, ORDERS_MAX_STRING);
	*out = json_string_value(v);
	return 0;
}

/* Reads a string member that must be one of choices[0..n); *idx gets its
 * position (unchanged when absent and optional). Returns 1 present, 0
 * absent, -1 with err. */
static int orders_enum(json_t *o, const char *name, bool required, const char *const *choices,
		       size_t n, int *idx, struct mock_book_error *err)
{
	json_t *v = orders_member(o, name);

	if (v == NULL)
		return required ? orders_bad(err, "'%s' is required", name) : 0;
	if (json_is_string(v)) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(json_string_value(v), choices[i]) == 0) {
				*idx = (int)i;
				return 1;
			}
		}
	}
	if (n == 2)
		return orders_bad(err, "'%s' must be '%s' or '%s'", name, choices[0], choices[1]);
	return orders_bad(err, "'%s' must be one of '%s', '%s', '%s'", name, choices[0],
			  choices[1], choices[2]);
}

/* Reads an optional boolean member into *out. Returns 0 or -1 with err. */
static int orders_bool(json_t *o, const char *name, bool *out, struct mock_book_error *err)
{
	json_t *v = orders_member(o, name);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return orders_bad(err, "'%s' must be a boolean", name);
	*out = json_is_true(v);
	return 0;
}

/* Reads an optional JSON integer member within [min,max] into *out. Returns
 * 1 present, 0 absent, -1 with err (reals and strings are refused). */
static int orders_int(json_t *o, const char *name, long long min, long long max,
		      long long *out, struct mock_book_error *err)
{
	json_t *v = orders_member(o, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return orders_bad(err, "'%s' must be an integer from %lld to %lld", name, min, max);
	*out = json_integer_value(v);
	return 1;
}

/* Reads a fixed-point count string member (0-2 decimals) within
 * [min,ORDERS_MAX_COUNT] hundredths into *out. Returns 1 present, 0 absent,
 * -1 with err; a JSON number is refused. */
static int orders_count(json_t *o, const char *name, bool required, int64_t min, int64_t *out,
			struct mock_book_error *err)
{
	json_t *v = orders_member(o, name);
	int64_t c;

	if (v == NULL)
		return required ? orders_bad(err, "'%s' is required", name) : 0;
	if (!json_is_string(v))
		return orders_bad(err, "'%s' must be a fixed-point string such as \"10.00\", not "
				  "a JSON number", name);
	if (mock_parse_fixed(json_string_value(v), 2, 2, &c) != 0)
		return orders_bad(err, "'%s' must be a decimal string with at most 2 decimal "
				  "places", name);
	if (c < min || c > ORDERS_MAX_COUNT)
		return orders_bad(err, "'%s' is out of range", name);
	*out = c;
	return 1;
}

/* Reads a fixed-point dollar price string member (0-4 decimals) that must be
 * within 0.01..0.99 into *out (1/10000). Returns 1 present, 0 absent, -1
 * with err. */
static int orders_price(json_t *o, const char *name, bool required, int64_t *out,
			struct mock_book_error *err)
{
	json_t *v = orders_member(o, name);
	int64_t p;

	if (v == NULL)
		return required ? orders_bad(err, "'%s' is required", name) : 0;
	if (!json_is_string(v))
		return orders_bad(err, "'%s' must be a dollar string such as \"0.5600\", not a "
				  "JSON number", name);
	if (mock_parse_fixed(json_string_value(v), 4, 4, &p) != 0)
		return orders_bad(err, "'%s' must be a decimal string with at most 4 decimal "
				  "places", name);
	if (p < 100 || p > 9900)
		return orders_bad(err, "'%s' must be between 0.01 and 0.99", name);
	*out = p;
	return 1;
}

static const char *const orders_tif_names[] = { "fill_or_kill", "good_till_canceled",
						"immediate_or_cancel" };
static const char *const orders_stp_names[] = { "taker_at_cross", "maker" };

/* Reads the members V2 and legacy creates share: client_order_id,
 * post_only, reduce_only, cancel_order_on_pause, subaccount, order_group_id,
 * exchange_index. Returns 0 or -1 with err. */
static int orders_parse_common(json_t *o, struct mock_order_spec *s,
			       struct mock_book_error *err)
{
	long long v;

	if (orders_string(o, "client_order_id", false, &s->client_order_id, err) ||
	    orders_bool(o, "post_only", &s->post_only, err) ||
	    orders_bool(o, "reduce_only", &s->reduce_only, err) ||
	    orders_bool(o, "cancel_order_on_pause", &s->cancel_on_pause, err) ||
	    orders_string(o, "order_group_id", false, &s->order_group_id, err))
		return -1;
	switch (orders_int(o, "subaccount", 0, 63, &v, err)) {
	case -1: return -1;
	case 1: s->subaccount = (int)v; break;
	default: break;
	}
	switch (orders_int(o, "exchange_index", -1, 1000, &v, err)) {
	case -1: return -1;
	case 1: s->exchange_index = (int)v; break;
	default: break;
	}
	return 0;
}

/* Parses a V2 create body (CreateOrderV2Request) into s. Returns 0 or -1
 * with err. */
static int orders_parse_v2(json_t *o, struct mock_order_spec *s, struct mock_book_error *err)
{
	static const char *const allowed[] = {
		"ticker", "client_order_id", "side", "count", "price", "expiration_time",
		"time_in_force", "post_only", "self_trade_prevention_type",
		"cancel_order_on_pause", "reduce_only", "subaccount", "order_group_id",
		"exchange_index" };
	static const char *const sides[] = { "bid", "ask" };
	int side = 0, tif = 0, stp = 0;
	long long exp;
	int has_exp;

	memset(s, 0, sizeof(*s));
	s->exchange_index = -1;
	if (!json_is_object(o))
		return orders_bad(err, "order must be a JSON object");
	if (orders_known_fields(o, allowed, sizeof(allowed) / sizeof(allowed[0]), err) ||
	    orders_string(o, "ticker", true, &s->ticker, err) ||
	    orders_enum(o, "side", true, sides, 2, &side, err) < 0 ||
	    orders_count(o, "count", true, 1, &s->count, err) < 0 ||
	    orders_price(o, "price", true, &s->price, err) < 0 ||
	    orders_enum(o, "time_in_force", true, orders_tif_names, 3, &tif, err) < 0 ||
	    orders_enum(o, "self_trade_prevention_type", true, orders_stp_names, 2, &stp,
			err) < 0 ||
	    orders_parse_common(o, s, err))
		return -1;
	has_exp = orders_int(o, "expiration_time", 0, 99999999999LL, &exp, err);
	if (has_exp < 0)
		return -1;
	s->side = side == 0 ? MOCK_BID : MOCK_ASK;
	s->tif = (enum mock_tif)tif;
	s->stp = orders_stp_names[stp];
	s->has_expiration = has_exp == 1;
	s->expiration = has_exp == 1 ? exp : 0;
	if (s->has_expiration && s->tif == MOCK_TIF_IOC)
		return orders_bad(err, "immediate_or_cancel cannot be combined with "
				  "expiration_time");
	return 0;
}

/* Reads exactly one of yes_price, no_price (int cents 1..99),
 * yes_price_dollars, no_price_dollars into *yes (YES price, 1/10000).
 * Returns 0 or -1 with err. */
static int orders_legacy_price(json_t *o, int64_t *yes, struct mock_book_error *err)
{
	static const char *const names[] = { "yes_price", "no_price", "yes_price_dollars",
					     "no_price_dollars" };
	int present = 0, which = -1;
	long long cents;
	int64_t p = 0;

	for (int i = 0; i < 4; i++) {
		if (orders_member(o, names[i]) != NULL) {
			present++;
			which = i;
		}
	}
	if (present != 1)
		return orders_bad(err, "exactly one of yes_price, no_price, yes_price_dollars, "
				  "no_price_dollars is required (%d given)", present);
	if (which < 2) {
		if (orders_int(o, names[which], 1, 99, &cents, err) < 0)
			return -1;
		p = cents * 100;
	} else if (orders_price(o, names[which], true, &p, err) < 0) {
		return -1;
	}
	*yes = (which == 0 || which == 2) ? p : MOCK_PRICE_SCALE - p;
	return 0;
}

/* Reads a legacy count: `count` (JSON integer >= 1) and/or `count_fp`
 * (string); when both are given they must agree. Returns 0 or -1 with err. */
static int orders_legacy_count(json_t *o, bool required, bool *has, int64_t *out,
			       struct mock_book_error *err)
{
	long long whole = 0;
	int64_t fp = 0;
	int hw, hf;

	hw = orders_int(o, "count", 1, ORDERS_MAX_COUNT / MOCK_COUNT_SCALE, &whole, err);
	if (hw < 0)
		return -1;
	hf = orders_count(o, "count_fp", false, 1, &fp, err);
	if (hf < 0)
		return -1;
	if (hw && hf && whole * MOCK_COUNT_SCALE != fp)
		return orders_bad(err, "count and count_fp do not match");
	*has = hw || hf;
	if (!*has && required)
		return orders_bad(err, "one of 'count' or 'count_fp' is required");
	*out = hf ? fp : whole * MOCK_COUNT_SCALE;
	return 0;
}

/* Maps a legacy side/action pair to the V2 book side. */
static enum mock_side orders_legacy_book_side(int side_yes_no, int action_buy_sell)
{
	/* buy yes and sell no bid for YES; buy no and sell yes offer it. */
	return (side_yes_no == 0) == (action_buy_sell == 0) ? MOCK_BID : MOCK_ASK;
}

/* Parses a legacy create body (CreateOrderRequest) into s. Returns 0 or -1
 * with err. */
static int orders_parse_legacy(json_t *o, struct mock_order_spec *s,
			       struct mock_book_error *err)
{
	static const char *const allowed[] = {
		"ticker", "client_order_id", "side", "action", "count", "count_fp", "yes_price",
		"no_price", "yes_price_dollars", "no_price_dollars", "expiration_ts",
		"time_in_force", "buy_max_cost", "post_only", "reduce_only",
		"sell_position_floor", "self_trade_prevention_type", "order_group_id",
		"cancel_order_on_pause", "subaccount", "exchange_index" };
	static const char *const sides[] = { "yes", "no" };
	static const char *const actions[] = { "buy", "sell" };
	int side = 0, action = 0, tif = MOCK_TIF_GTC, stp = -1, r;
	long long exp, max_cost, floor_v;
	bool has_count;
	int has_exp;

	memset(s, 0, sizeof(*s));
	s->exchange_index = -1;
	if (!json_is_object(o))
		return orders_bad(err, "order must be a JSON object");
	if (orders_known_fields(o, allowed, sizeof(allowed) / sizeof(allowed[0]), err) ||
	    orders_string(o, "ticker", true, &s->ticker, err) ||
	    orders_enum(o, "side", true, sides, 2, &side, err) < 0 ||
	    orders_enum(o, "action", true, actions, 2, &action, err) < 0 ||
	    orders_legacy_count(o, true, &has_count, &s->count, err) ||
	    orders_legacy_price(o, &s->price, err) ||
	    orders_enum(o, "time_in_force", false, orders_tif_names, 3, &tif, err) < 0 ||
	    orders_enum(o, "self_trade_prevention_type", false, orders_stp_names, 2, &stp,
			err) < 0 ||
	    orders_parse_common(o, s, err))
		return -1;
	has_exp = orders_int(o, "expiration_ts", 0, 99999999999LL, &exp, err);
	if (has_exp < 0)
		return -1;
	r = orders_int(o, "buy_max_cost", 1, 1000000000000LL, &max_cost, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		s->max_cost = max_cost * 100;   /* cents to 1/10000 dollars */
		tif = MOCK_TIF_FOK;
	}
	if (orders_int(o, "sell_position_floor", 0, 0, &floor_v, err) < 0)
		return -1;
	s->side = orders_legacy_book_side(side, action);
	s->tif = (enum mock_tif)tif;
	s->stp = stp >= 0 ? orders_stp_names[stp] : NULL;
	s->has_expiration = has_exp == 1;
	s->expiration = has_exp == 1 ? exp : 0;
	s->legacy_side = sides[side];
	s->legacy_action = actions[action];
	if (s->has_expiration && s->tif == MOCK_TIF_IOC)
		return orders_bad(err, "immediate_or_cancel cannot be combined with "
				  "expiration_ts");
	return 0;
}

/* Parses and places one order of either style. Returns the book's reply
 * object, or NULL with err. */
static json_t *orders_place_one(struct mock_ctx *ctx, json_t *body, enum mock_style style,
				struct mock_book_error *err)
{
	struct mock_order_spec s;
	int rc = style == MOCK_STYLE_V2 ? orders_parse_v2(body, &s, err)
					: orders_parse_legacy(body, &s, err);

	if (rc != 0)
		return NULL;
	return mock_book_place(ctx->book, &s, style, err);
}

/* POST /portfolio/events/orders and POST /portfolio/orders: 201 with the V2
 * create response or {"order": Order}. */
static void orders_create(struct mock_ctx *ctx, const struct mock_request *rq,
			  enum mock_style style, struct mock_reply *out)
{
	struct mock_book_error err;
	json_t *body = mock_parse_body(rq, out, false), *res;

	if (body == NULL)
		return;
	res = orders_place_one(ctx, body, style, &err);
	json_decref(body);
	if (res == NULL) {
		orders_reply_err(out, &err);
		return;
	}
	if (style == MOCK_STYLE_LEGACY)
		res = json_pack("{s:o}", "order", res);
	mock_reply_json(out, 201, res);
}

/* Returns the "orders" array of a batch body {"orders":[...]} of 1 to
 * ORDERS_MAX_BATCH elements, or NULL with err. */
static json_t *orders_batch_array(json_t *body, const char *const *allowed, size_t nallowed,
				  struct mock_book_error *err)
{
	json_t *arr;

	if (!json_is_object(body)) {
		orders_bad(err, "body must be a JSON object");
		return NULL;
	}
	if (orders_known_fields(body, allowed, nallowed, err))
		return NULL;
	arr = json_object_get(body, "orders");
	if (!json_is_array(arr)) {
		orders_bad(err, "'orders' must be an array");
		return NULL;
	}
	if (json_array_size(arr) == 0 || json_array_size(arr) > ORDERS_MAX_BATCH) {
		orders_bad(err, "'orders' must hold 1 to %d orders", ORDERS_MAX_BATCH);
		return NULL;
	}
	return arr;
}

/* POST .../batched: 201 {"orders":[...]} with one result or error per
 * element, in order. */
static void orders_batch_create(struct mock_ctx *ctx, const struct mock_request *rq,
				enum mock_style style, struct mock_reply *out)
{
	static const char *const allowed[] = { "orders" };
	struct mock_book_error err;
	json_t *body = mock_parse_body(rq, out, false), *arr, *el, *results;
	size_t i;

	if (body == NULL)
		return;
	arr = orders_batch_array(body, allowed, 1, &err);
	if (arr == NULL) {
		json_decref(body);
		orders_reply_err(out, &err);
		return;
	}
	results = json_array();
	json_array_foreach(arr, i, el) {
		json_t *res = orders_place_one(ctx, el, style, &err);
		json_t *coid = json_is_object(el) ? json_object_get(el, "client_order_id") : NULL;
		json_t *item;
		if (!json_is_string(coid))
			coid = NULL;
		if (style == MOCK_STYLE_V2) {
			item = res ? res : json_object();
			if (res == NULL) {
				if (coid)
					json_object_set(item, "client_order_id", coid);
				json_object_set_new(item, "error", mock_error_object(
					err.code, err.message, NULL));
			}
		} else {
			item = json_object();
			json_object_set(item, "client_order_id", coid ? coid : json_null());
			json_object_set_new(item, "order", res ? res : json_null());
			json_object_set_new(item, "error", res ? json_null() : mock_error_object(
				err.code, err.message, NULL));
		}
		json_array_append_new(results, item);
	}
	json_decref(body);
	mock_reply_json(out, 201, json_pack("{s:o}", "orders", results));
}

/* Reads the ?subaccount= of a request; absent gives dflt. Returns 0 or -1
 * after setting a 400 on out. */
static int orders_query_subaccount(const struct mock_request *rq, int dflt, int *sub,
				   struct mock_reply *out)
{
	long long v;
	int rc = mock_query_int(rq->query, "subaccount", 0, 63, &v);

	if (rc < 0) {
		mock_reply_error(out, 400, "invalid_parameters",
				 "subaccount must be an integer from 0 to 63", NULL);
		return -1;
	}
	*sub = rc == 1 ? (int)v : dflt;
	return 0;
}

/* DELETE /portfolio/events/orders/{id} (200 CancelOrderV2Response) and
 * DELETE /portfolio/orders/{id} (200 {"order","reduced_by_fp"}); the order
 * must belong to ?subaccount= (default 0). */
static void orders_cancel(struct mock_ctx *ctx, const struct mock_request *rq, const char *id,
			  enum mock_style style, struct mock_reply *out)
{
	struct mock_book_error err;
	json_t *res;
	int sub;

	if (orders_query_subaccount(rq, 0, &sub, out))
		return;
	res = mock_book_cancel(ctx->book, id, sub, style, &err);
	if (res == NULL)
		orders_reply_err(out, &err);
	else
		mock_reply_json(out, 200, res);
}

/* DELETE .../batched with a JSON body. V2: {"orders":[{"order_id",
 * "subaccount"?,"exchange_index"?,"market_ticker"?}]}; legacy also accepts
 * {"ids":[...]}. 200 {"orders":[one result or error per element]}. */
static void orders_batch_cancel(struct mock_ctx *ctx, const struct mock_request *rq,
				enum mock_style style, struct mock_reply *out)
{
	static const char *const allowed_v2[] = { "orders" };
	static const char *const allowed_legacy[] = { "orders", "ids" };
	static const char *const el_allowed[] = { "order_id", "subaccount", "exchange_index",
						  "market_ticker" };
	struct mock_book_error err;
	json_t *body = mock_parse_body(rq, out, false), *arr, *el, *results;
	size_t i;

	if (body == NULL)
		return;
	if (style == MOCK_STYLE_LEGACY && json_is_object(body) &&
	    json_object_get(body, "ids") != NULL && json_object_get(body, "orders") == NULL) {
		/* Legacy {"ids":[...]} is the same as {"orders":[{"order_id"}...]}. */
		json_t *ids = json_object_get(body, "ids"), *conv = json_array();
		if (json_is_array(ids)) {
			json_array_foreach(ids, i, el)
				json_array_append_new(conv, json_pack("{s:O}", "order_id", el));
		} else {
			json_decref(conv);
			conv = json_null();
		}
		json_object_set_new(body, "orders", conv);
		json_object_del(body, "ids");
	}
	arr = orders_batch_array(body, style == MOCK_STYLE_V2 ? allowed_v2 : allowed_legacy,
				 style == MOCK_STYLE_V2 ? 1 : 2, &err);
	if (arr == NULL) {
		json_decref(body);
		orders_reply_err(out, &err);
		return;
	}
	results = json_array();
	json_array_foreach(arr, i, el) {
		const char *id = NULL;
		long long sub = 0, xi = 0;
		json_t *res = NULL, *item;
		if (!json_is_object(el))
			orders_bad(&err, "each element must be an object");
		else if (orders_known_fields(el, el_allowed, 4, &err) == 0 &&
			 orders_string(el, "order_id", true, &id, &err) == 0 &&
			 orders_int(el, "subaccount", 0, 63, &sub, &err) >= 0 &&
			 orders_int(el, "exchange_index", -1, 1000, &xi, &err) >= 0)
			res = mock_book_cancel(ctx->book, id, (int)sub, style, &err);
		if (res != NULL && style == MOCK_STYLE_LEGACY) {
			item = json_object();
			json_object_set_new(item, "order_id", json_string(id));
			json_object_update(item, res);
			json_decref(res);
		} else if (res != NULL) {
			item = res;
		} else {
			item = json_object();
			json_object_set_new(item, "order_id", json_string(id ? id : ""));
			json_object_set_new(item, style == MOCK_STYLE_V2 ? "reduced_by"
								   : "reduced_by_fp",
					    mock_json_count(0));
			json_object_set_new(item, "error",
					    mock_error_object(err.code, err.message, NULL));
		}
		json_array_append_new(results, item);
	}
	json_decref(body);
	mock_reply_json(out, 200, json_pack("{s:o}", "orders", results));
}

/* POST /portfolio/events/orders/{id}/decrease ({"reduce_by"|"reduce_to":
 * count string}) and the legacy decrease (reduce_by/reduce_to integers or
 * their _fp strings). Exactly one quantity. Order of ?subaccount= or any. */
static void orders_decrease(struct mock_ctx *ctx, const struct mock_request *rq,
			    const char *id, enum mock_style style, struct mock_reply *out)
{
	static const char *const allowed_v2[] = { "reduce_by", "reduce_to", "exchange_index",
						  "market_ticker" };
	static const char *const allowed_legacy[] = { "reduce_by", "reduce_to", "reduce_by_fp",
						      "reduce_to_fp", "subaccount",
						      "exchange_index" };
	struct mock_book_error err;
	json_t *body = mock_parse_body(rq, out, false), *res = NULL;
	int64_t by = -1, to = -1, v;
	long long iv, sub_v, xi;
	int sub, n = 0, rc;

	if (body == NULL)
		return;
	if (orders_query_subaccount(rq, -1, &sub, out))
		goto out;
	if (!json_is_object(body)) {
		orders_bad(&err, "body must be a JSON object");
		goto fail;
	}
	if (style == MOCK_STYLE_V2) {
		if (orders_known_fields(body, allowed_v2, 4, &err) ||
		    orders_int(body, "exchange_index", -1, 1000, &xi, &err) < 0)
			goto fail;
		if ((rc = orders_count(body, "reduce_by", false, 1, &v, &err)) < 0)
			goto fail;
		if (rc == 1) {
			by = v;
			n++;
		}
		if ((rc = orders_count(body, "reduce_to", false, 0, &v, &err)) < 0)
			goto fail;
		if (rc == 1) {
			to = v;
			n++;
		}
	} else {
		if (orders_known_fields(body, allowed_legacy, 6, &err) ||
		    orders_int(body, "exchange_index", -1, 1000, &xi, &err) < 0)
			goto fail;
		if ((rc = orders_int(body, "subaccount", 0, 63, &sub_v, &err)) < 0)
			goto fail;
		if (rc == 1)
			sub = (int)sub_v;
		if ((rc = orders_int(body, "reduce_by", 1, ORDERS_MAX_COUNT, &iv, &err)) < 0)
			goto fail;
		if (rc == 1) {
			by = iv * MOCK_COUNT_SCALE;
			n++;
		}
		if ((rc = orders_int(body, "reduce_to", 0, ORDERS_MAX_COUNT, &iv, &err)) < 0)
			goto fail;
		if (rc == 1) {
			to = iv * MOCK_COUNT_SCALE;
			n++;
		}
		if ((rc = orders_count(body, "reduce_by_fp", false, 1, &v, &err)) < 0)
			goto fail;
		if (rc == 1) {
			by = v;
			n++;
		}
		if ((rc = orders_count(body, "reduce_to_fp", false, 0, &v, &err)) < 0)
			goto fail;
		if (rc == 1) {
			to = v;
			n++;
		}
	}
	if (n != 1) {
		orders_bad(&err, "exactly one of reduce_by or reduce_to is required");
		goto fail;
	}
	res = mock_book_decrease(ctx->book, id, sub, by, to, style, &err);
	if (res == NULL)
		goto fail;
	mock_reply_json(out, 200, res);
	goto out;
fail:
	orders_reply_err(out, &err);
out:
	json_decref(body);
}

/* POST /portfolio/events/orders/{id}/amend (AmendOrderV2Request: ticker,
 * side, price, count required) and the legacy amend (AmendOrderRequest).
 * 200 with AmendOrderV2Response or {"old_order","order"}. */
static void orders_amend(struct mock_ctx *ctx, const struct mock_request *rq, const char *id,
			 enum mock_style style, struct mock_reply *out)
{
	static const char *const allowed_v2[] = { "ticker", "side", "price", "count",
						  "client_order_id",
						  "updated_client_order_id", "exchange_index" };
	static const char *const allowed_legacy[] = {
		"subaccount", "ticker", "side", "action", "client_order_id",
		"updated_client_order_id", "yes_price", "no_price", "yes_price_dollars",
		"no_price_dollars", "count", "count_fp", "exchange_index" };
	static const char *const sides_v2[] = { "bid", "ask" };
	static const char *const sides[] = { "yes", "no" };
	static const char *const actions[] = { "buy", "sell" };
	struct mock_book_error err;
	struct mock_amend_spec a;
	json_t *body = mock_parse_body(rq, out, false), *res;
	int side = 0, action = 0, sub;
	long long v;

	if (body == NULL)
		return;
	memset(&a, 0, sizeof(a));
	if (orders_query_subaccount(rq, -1, &sub, out))
		goto out;
	a.subaccount = sub;
	if (!json_is_object(body)) {
		orders_bad(&err, "body must be a JSON object");
		goto fail;
	}
	if (style == MOCK_STYLE_V2) {
		if (orders_known_fields(body, allowed_v2, 7, &err) ||
		    orders_string(body, "ticker", true, &a.ticker, &err) ||
		    orders_enum(body, "side", true, sides_v2, 2, &side, &err) < 0 ||
		    orders_price(body, "price", true, &a.price, &err) < 0 ||
		    orders_count(body, "count", true, 1, &a.count, &err) < 0)
			goto fail;
		a.has_count = true;
		a.side = side == 0 ? MOCK_BID : MOCK_ASK;
	} else {
		if (orders_known_fields(body, allowed_legacy, 13, &err) ||
		    orders_string(body, "ticker", true, &a.ticker, &err) ||
		    orders_enum(body, "side", true, sides, 2, &side, &err) < 0 ||
		    orders_enum(body, "action", true, actions, 2, &action, &err) < 0 ||
		    orders_legacy_price(body, &a.price, &err) ||
		    orders_legacy_count(body, false, &a.has_count, &a.count, &err))
			goto fail;
		switch (orders_int(body, "subaccount", 0, 63, &v, &err)) {
		case -1: goto fail;
		case 1: a.subaccount = (int)v; break;
		default: break;
		}
		a.side = orders_legacy_book_side(side, action);
	}
	if (orders_string(body, "client_order_id", false, &a.client_order_id, &err) ||
	    orders_string(body, "updated_client_order_id", false, &a.updated_client_order_id,
			  &err) ||
	    orders_int(body, "exchange_index", -1, 1000, &v, &err) < 0)
		goto fail;
	res = mock_book_amend(ctx->book, id, &a, style, &err);
	if (res == NULL)
		goto fail;
	mock_reply_json(out, 200, res);
	goto out;
fail:
	orders_reply_err(out, &err);
out:
	json_decref(body);
}

/* Reads the list filter of GET /portfolio/orders and /portfolio/fills
 * (ticker, order_id, status, subaccount, min_ts, max_ts, limit, cursor).
 * Returns 0, or -1 after setting a 400 on out. Strings go to the caller's
 * buffers. */
static int orders_list_filter(const struct mock_request *rq, struct mock_list_filter *f,
			      char *ticker, char *order_id, size_t buflen,
			      struct mock_reply *out)
{
	char status[32], cursor[32];
	long long v;
	int rc;

	memset(f, 0, sizeof(*f));
	f->status = -1;
	f->subaccount = -1;
	f->min_ts = f->max_ts = -1;
	f->limit = 100;
	if ((rc = mock_query_get(rq->query, "ticker", ticker, buflen)) < 0)
		goto bad;
	f->ticker = rc == 1 && ticker[0] ? ticker : NULL;
	if ((rc = mock_query_get(rq->query, "order_id", order_id, buflen)) < 0)
		goto bad;
	f->order_id = rc == 1 && order_id[0] ? order_id : NULL;
	if ((rc = mock_query_get(rq->query, "status", status, sizeof(status))) < 0)
		goto bad;
	if (rc == 1 && status[0]) {
		if (strcmp(status, "resting") == 0)
			f->status = MOCK_RESTING;
		else if (strcmp(status, "canceled") == 0)
			f->status = MOCK_CANCELED;
		else if (strcmp(status, "executed") == 0)
			f->status = MOCK_EXECUTED;
		else
			goto bad;
	}
	if ((rc = mock_query_int(rq->query, "subaccount", 0, 63, &v)) < 0)
		goto bad;
	if (rc == 1)
		f->subaccount = (int)v;
	if ((rc = mock_query_int(rq->query, "min_ts", 0, 99999999999LL, &v)) < 0)
		goto bad;
	if (rc == 1)
		f->min_ts = v;
	if ((rc = mock_query_int(rq->query, "max_ts", 0, 99999999999LL, &v)) < 0)
		goto bad;
	if (rc == 1)
		f->max_ts = v;
	if ((rc = mock_query_int(rq->query, "limit", 1, 1000, &v)) < 0)
		goto bad;
	if (rc == 1)
		f->limit = (long)v;
	if ((rc = mock_query_get(rq->query, "cursor", cursor, sizeof(cursor))) < 0)
		goto bad;
	if (rc == 1 && cursor[0]) {
		char *end;
		f->offset = strtol(cursor, &end, 10);
		if (*end != '\0' || f->offset < 0)
			goto bad;
	}
	return 0;
bad:
	mock_reply_error(out, 400, "invalid_parameters", "invalid query parameter",
			 "accepted: ticker, order_id, status (resting|canceled|executed), "
			 "subaccount, min_ts, max_ts, limit (1-1000), cursor");
	return -1;
}

/* GET /portfolio/orders and GET /portfolio/fills. */
static void orders_list(struct mock_ctx *ctx, const struct mock_request *rq, bool fills,
			struct mock_reply *out)
{
	struct mock_list_filter f;
	char ticker[128], order_id[128];

	if (orders_list_filter(rq, &f, ticker, order_id, sizeof(ticker), out))
		return;
	mock_reply_json(out, 200, fills ? mock_book_fills(ctx->book, &f)
					: mock_book_orders(ctx->book, &f));
}

/* Reads a group limit from contracts_limit (integer) and/or
 * contracts_limit_fp (string; must agree when both are given) into *limit
 * (hundredths, 1..1,000,000 contracts). Returns 0 or -1 with err. */
static int orders_group_limit(json_t *body, int64_t *limit, struct mock_book_error *err)
{
	long long whole = 0;
	int64_t fp = 0;
	int hw, hf;

	hw = orders_int(body, "contracts_limit", 1, 1000000, &whole, err);
	if (hw < 0)
		return -1;
	hf = orders_count(body, "contracts_limit_fp", false, MOCK_COUNT_SCALE, &fp, err);
	if (hf < 0)
		return -1;
	if (hf && fp > ORDERS_MAX_GROUP_LIMIT)
		return orders_bad(err, "'contracts_limit_fp' must be from 1 to 1000000");
	if (!hw && !hf)
		return orders_bad(err, "'contracts_limit' is required");
	if (hw && hf && whole * MOCK_COUNT_SCALE != fp)
		return orders_bad(err, "contracts_limit and contracts_limit_fp do not match");
	*limit = hf ? fp : whole * MOCK_COUNT_SCALE;
	return 0;
}

/* POST /portfolio/order_groups/create: 201 {"order_group_id","subaccount",
 * "exchange_index"}. The subaccount comes from the body or ?subaccount=
 * (they must agree). */
static void orders_group_create(struct mock_ctx *ctx, const struct mock_request *rq,
				struct mock_reply *out)
{
	static const char *const allowed[] = { "contracts_limit", "contracts_limit_fp",
					       "subaccount", "exchange_index" };
	struct mock_book_error err;
	json_t *body = mock_parse_body(rq, out, false), *res;
	long long sub_v = 0, xi = 0;
	int64_t limit;
	int qsub, rc_sub;

	if (body == NULL)
		return;
	if (orders_query_subaccount(rq, -1, &qsub, out))
		goto out;
	if (!json_is_object(body)) {
		orders_bad(&err, "body must be a JSON object");
		goto fail;
	}
	if (orders_known_fields(body, allowed, 4, &err) ||
	    orders_group_limit(body, &limit, &err) ||
	    (rc_sub = orders_int(body, "subaccount", 0, 63, &sub_v, &err)) < 0 ||
	    orders_int(body, "exchange_index", 0, 1000, &xi, &err) < 0)
		goto fail;
	if (rc_sub == 1 && qsub >= 0 && qsub != sub_v) {
		orders_bad(&err, "subaccount in the body and the query differ");
		goto fail;
	}
	if (rc_sub == 0 && qsub >= 0)
		sub_v = qsub;
	res = mock_book_group_create(ctx->book, limit, (int)sub_v, (int)xi, &err);
	if (res == NULL)
		goto fail;
	mock_reply_json(out, 201, res);
	goto out;
fail:
	orders_reply_err(out, &err);
out:
	json_decref(body);
}

/* PUT /portfolio/order_groups/{id}/{reset|trigger|limit}: 200 {}. reset and
 * trigger take an optional body that must be a JSON object; limit takes
 * {"contracts_limit"} or {"contracts_limit_fp"}. */
static void orders_group_mutate(struct mock_ctx *ctx, const struct mock_request *rq,
				const char *id, const char *op, struct mock_reply *out)
{
	static const char *const allowed_limit[] = { "contracts_limit", "contracts_limit_fp" };
	struct mock_book_error err;
	bool is_limit = strcmp(op, "limit") == 0;
	json_t *body = mock_parse_body(rq, out, !is_limit);
	int64_t limit;
	int sub, rc;

	if (body == NULL)
		return;
	if (orders_query_subaccount(rq, 0, &sub, out))
		goto out;
	if (!json_is_object(body)) {
		orders_bad(&err, "body must be a JSON object");
		goto fail;
	}
	if (is_limit) {
		if (orders_known_fields(body, allowed_limit, 2, &err) ||
		    orders_group_limit(body, &limit, &err))
			goto fail;
		rc = mock_book_group_limit(ctx->book, id, sub, limit, &err);
	} else if (strcmp(op, "reset") == 0) {
		rc = mock_book_group_reset(ctx->book, id, sub, &err);
	} else {
		rc = mock_book_group_trigger(ctx->book, id, sub, "api", &err);
	}
	if (rc != 0)
		goto fail;
	mock_reply_json(out, 200, json_object());
	goto out;
fail:
	orders_reply_err(out, &err);
out:
	json_decref(body);
}

/* Routes /portfolio/order_groups[...]; seg[0] is "order_groups". */
static bool orders_route_groups(struct mock_ctx *ctx, const struct mock_request *rq,
				char *const *seg, size_t nseg, struct mock_reply *out)
{
	const char *m = rq->method;
	struct mock_book_error err;
	json_t *res;
	int sub;

	if (nseg == 1 && strcmp(m, "GET") == 0) {
		if (orders_query_subaccount(rq, -1, &sub, out) == 0)
			mock_reply_json(out, 200, mock_book_group_list(ctx->book, sub));
		return true;
	}
	if (nseg == 2 && strcmp(seg[1], "create") == 0 && strcmp(m, "POST") == 0) {
		orders_group_create(ctx, rq, out);
		return true;
	}
	if (nseg == 2 && strcmp(m, "GET") == 0) {
		if (orders_query_subaccount(rq, -1, &sub, out))
			return true;
		res = mock_book_group_get(ctx->book, seg[1], sub, &err);
		if (res == NULL)
			orders_reply_err(out, &err);
		else
			mock_reply_json(out, 200, res);
		return true;
	}
	if (nseg == 2 && strcmp(m, "DELETE") == 0) {
		if (orders_query_subaccount(rq, 0, &sub, out))
			return true;
		if (mock_book_group_delete(ctx->book, seg[1], sub, &err))
			orders_reply_err(out, &err);
		else
			mock_reply_json(out, 200, json_object());
		return true;
	}
	if (nseg == 3 && strcmp(m, "PUT") == 0 &&
	    (strcmp(seg[2], "reset") == 0 || strcmp(seg[2], "trigger") == 0 ||
	     strcmp(seg[2], "limit") == 0)) {
		orders_group_mutate(ctx, rq, seg[1], seg[2], out);
		return true;
	}
	return false;
}

/* Answers a legacy mutation when the mock runs with --legacy-retired;
 * returns true when it did. */
static bool orders_retired(struct mock_ctx *ctx, struct mock_reply *out)
{
	if (!ctx->legacy_retired)
		return false;
	mock_reply_error(out, 400, "invalid_parameters", "Please switch to the V2 endpoints",
			 "legacy /portfolio/orders mutations are retired");
	return true;
}

/* Routes /portfolio/orders[...] (legacy mutations and order reads); seg[0]
 * is "orders". */
static bool orders_route_legacy(struct mock_ctx *ctx, const struct mock_request *rq,
				char *const *seg, size_t nseg, struct mock_reply *out)
{
	const char *m = rq->method;
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
	bool del = strcmp(m, "DELETE") == 0;
	struct mock_book_error err;
	json_t *res;
	int sub;

	if (nseg == 1 && get) {
		orders_list(ctx, rq, false, out);
		return true;
	}
	if (nseg == 2 && get) {
		if (orders_query_subaccount(rq, -1, &sub, out))
			return true;
		res = mock_book_order(ctx->book, seg[1], sub, &err);
		if (res == NULL)
			orders_reply_err(out, &err);
		else
			mock_reply_json(out, 200, json_pack("{s:o}", "order", res));
		return true;
	}
	if (!((nseg == 1 && post) || (nseg == 2 && (post || del)) ||
	      (nseg == 3 && post && (strcmp(seg[2], "amend") == 0 ||
				     strcmp(seg[2], "decrease") == 0))))
		return false;
	if (orders_retired(ctx, out))
		return true;
	if (nseg == 1)
		orders_create(ctx, rq, MOCK_STYLE_LEGACY, out);
	else if (nseg == 2 && strcmp(seg[1], "batched") == 0)
		(post ? orders_batch_create : orders_batch_cancel)(ctx, rq, MOCK_STYLE_LEGACY, out);
	else if (nseg == 2 && del)
		orders_cancel(ctx, rq, seg[1], MOCK_STYLE_LEGACY, out);
	else if (nseg == 2)
		return false;   /* POST /portfolio/orders/{id} */
	else if (strcmp(seg[2], "amend") == 0)
		orders_amend(ctx, rq, seg[1], MOCK_STYLE_LEGACY, out);
	else
		orders_decrease(ctx, rq, seg[1], MOCK_STYLE_LEGACY, out);
	return true;
}

/* Routes /portfolio/events/orders[...] (V2); seg[0..1] are "events",
 * "orders". */
static bool orders_route_v2(struct mock_ctx *ctx, const struct mock_request *rq,
			    char *const *seg, size_t nseg, struct mock_reply *out)
{
	const char *m = rq->method;
	bool post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;
	int sub;

	if (nseg == 2 && post) {
		orders_create(ctx, rq, MOCK_STYLE_V2, out);
	} else if (nseg == 2 && del) {
		if (orders_query_subaccount(rq, -1, &sub, out) == 0) {
			mock_book_cancel_all(ctx->book, sub);
			mock_reply_empty(out, 204);
		}
	} else if (nseg == 3 && strcmp(seg[2], "batched") == 0 && post) {
		orders_batch_create(ctx, rq, MOCK_STYLE_V2, out);
	} else if (nseg == 3 && strcmp(seg[2], "batched") == 0 && del) {
		orders_batch_cancel(ctx, rq, MOCK_STYLE_V2, out);
	} else if (nseg == 3 && del) {
		orders_cancel(ctx, rq, seg[2], MOCK_STYLE_V2, out);
	} else if (nseg == 4 && post && strcmp(seg[3], "amend") == 0) {
		orders_amend(ctx, rq, seg[2], MOCK_STYLE_V2, out);
	} else if (nseg == 4 && post && strcmp(seg[3], "decrease") == 0) {
		orders_decrease(ctx, rq, seg[2], MOCK_STYLE_V2, out);
	} else {
		return false;
	}
	return true;
}

/* See mock_api.h. */
bool mock_orders_route(struct mock_ctx *ctx, const struct mock_request *rq,
		       char *const *seg, size_t nseg, struct mock_reply *out)
{
	if (nseg >= 1 && strcmp(seg[0], "order_groups") == 0)
		return orders_route_groups(ctx, rq, seg, nseg, out);
	if (nseg >= 1 && strcmp(seg[0], "orders") == 0)
		return orders_route_legacy(ctx, rq, seg, nseg, out);
	if (nseg >= 2 && strcmp(seg[0], "events") == 0 && strcmp(seg[1], "orders") == 0)
		return orders_route_v2(ctx, rq, seg, nseg, out);
	if (nseg == 1 && strcmp(seg[0], "fills") == 0 && strcmp(rq->method, "GET") == 0) {
		orders_list(ctx, rq, true, out);
		return true;
	}
	if (nseg == 1 && strcmp(seg[0], "positions") == 0 && strcmp(rq->method, "GET") == 0) {
		int sub;
		if (orders_query_subaccount(rq, -1, &sub, out) == 0)
			mock_reply_json(out, 200, mock_book_positions(ctx->book, sub));
		return true;
	}
	return false;
}
