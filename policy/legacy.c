/*
 * legacy: legacy <-> V2 order translation (see legacy.h for the contract
 * and the mapping table).
 *
 * Requests are read field by field against a list of known keys, so a field
 * nobody mapped can never slip through to V2 with a different meaning or be
 * dropped silently. Replies are built in the key order of kalshi-typescript's
 * models/order.ts, so a translated Order reads like one Kalshi sends.
 *
 * Jansson's iterators take a non-const json_t *; read-only walks over the
 * borrowed (const) inputs go through unconst(), a union rather than a cast,
 * which keeps -Wcast-qual quiet without hiding real casts. Nothing here ever
 * writes through it.
 */
#include "policy/legacy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/fixed.h"

#define PRICE_ONE INT64_C(10000)   /* one dollar in 1/10000 */
#define QUOTE_MAX 48               /* longest client text quoted in a message */
/* Year 9999-12-31T23:59:59Z: the largest time RFC 3339 can write. */
#define TIME_MAX_S INT64_C(253402300799)

/* Fields order.ts marks required; an Order missing one is "partial". */
static const char *const order_required[] = {
	"order_id", "user_id", "client_order_id", "ticker", "outcome_side", "book_side",
	"type", "status", "yes_price_dollars", "no_price_dollars", "fill_count_fp",
	"remaining_count_fp", "initial_count_fp", "taker_fill_cost_dollars",
	"maker_fill_cost_dollars", "taker_fees_dollars", "maker_fees_dollars", NULL
};

/* Integer-cents and integer-count fields of Orders from before Kalshi's
 * fixed-point migration; an amend moves them by unknown amounts. */
static const char *const order_stale_ints[] = {
	"yes_price", "no_price", "fill_count", "remaining_count", "initial_count",
	"taker_fees", "maker_fees", "taker_fill_cost", "maker_fill_cost", "queue_position",
	NULL
};

/* ---- small helpers --------------------------------------------------- */

/* Drops const for jansson's read-only iterators (see the top of the file). */
static json_t *unconst(const json_t *j)
{
	union {
		const json_t *c;
		json_t *m;
	} u;

	u.c = j;
	return u.m;
}

/*
 * Copies `len` bytes of client text into out (cap > 4 bytes) for a message:
 * printable ASCII kept, other bytes become '?', long text cut with "...".
 */
static void quote_text(const char *s, size_t len, char *out, size_t cap)
{
	size_t max = cap - 1, i, n = 0;
	int cut = len > max;

	if (cut)
		max -= 3;
	for (i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)s[i];

		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (cut) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* Quotes a key name (keys are client text too). */
static void quote_key(const char *k, char *out, size_t cap)
{
	quote_text(k, strlen(k), out, cap);
}

static void set_err(struct legacy_err *err, int status, const char *code, long index,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Fills *err: status, code, batch index and a formatted message. */
static void set_err(struct legacy_err *err, int status, const char *code, long index,
		    const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	err->index = index;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* 400 invalid_order with a message. */
#define BAD(err, idx, ...) set_err((err), 400, "invalid_order", (idx), __VA_ARGS__)

static void set_oom(struct legacy_err *err)
{
	set_err(err, 500, "internal_error", -1, "out of memory while translating");
}

/* A member that is present and not JSON null, or NULL. */
static json_t *field(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_null(v) ? NULL : v;
}

/* Whether a string value equals the C string s. */
static int str_is(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	       memcmp(json_string_value(v), s, n) == 0;
}

/* Whether key k is one of the NULL-terminated list. */
static int in_list(const char *k, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(k, *list) == 0)
			return 1;
	return 0;
}

/*
 * Builder: sets o[k] = v, stealing v. A NULL v (a failed constructor) or a
 * failed set marks *oom, so a whole object can be built and checked once.
 */
static void put(json_t *o, const char *k, json_t *v, int *oom)
{
	if (v == NULL || json_object_set_new(o, k, v) != 0)
		*oom = 1;
}

/* Copies o[k] into dst under the same name when present and not null. */
static void carry(json_t *dst, const json_t *o, const char *k, int *oom)
{
	json_t *v = field(o, k);

	if (v != NULL)
		put(dst, k, json_deep_copy(v), oom);
}

static json_t *count_string(int64_t hundredths)
{
	char buf[32];

	fixed_format_count(hundredths, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *dollar_string(int64_t ten_thousandths)
{
	char buf[32];

	fixed_format_dollars(ten_thousandths, buf, sizeof(buf));
	return json_string(buf);
}

/* Reads a fixed-point count string value; 0 or -1 (not a valid count). */
static int count_value(const json_t *v, int64_t *out)
{
	if (!json_is_string(v))
		return -1;
	return fixed_parse_count(json_string_value(v), json_string_length(v), out);
}

/* Reads a dollar string value; 0 or -1. */
static int dollar_value(const json_t *v, int64_t *out)
{
	if (!json_is_string(v))
		return -1;
	return fixed_parse_dollars(json_string_value(v), json_string_length(v), out);
}

/*
 * Writes Unix time `secs` (+ `ms` milliseconds when ms >= 0) as RFC 3339 UTC
 * ("2026-11-29T21:14:48Z" or "...48.123Z"). Civil date from days after
 * H. Hinnant's algorithm; no libc time functions, no time zone. Returns a
 * new string, or NULL when secs is outside 0..year 9999.
 */
static json_t *rfc3339(int64_t secs, int ms)
{
	int64_t z, era, doe, yoe, y, doy, mp, d, m, sod;
	char buf[96];   /* room for any int64 fields, so the compiler can prove no cut */

	if (secs < 0 || secs > TIME_MAX_S)
		return NULL;
	z = secs / 86400 + 719468;
	sod = secs % 86400;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	if (ms >= 0)
		snprintf(buf, sizeof(buf), "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64
			 ":%02" PRId64 ":%02" PRId64 ".%03dZ", y, m, d, sod / 3600,
			 sod / 60 % 60, sod % 60, ms);
	else
		snprintf(buf, sizeof(buf), "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64
			 ":%02" PRId64 ":%02" PRId64 "Z", y, m, d, sod / 3600, sod / 60 % 60,
			 sod % 60);
	return json_string(buf);
}

/* RFC 3339 time of an upstream ts_ms value, or NULL when not usable. */
static json_t *time_of_ts_ms(const json_t *ts)
{
	json_int_t v;

	if (!json_is_integer(ts))
		return NULL;
	v = json_integer_value(ts);
	if (v < 0)
		return NULL;
	return rfc3339((int64_t)(v / 1000), (int)(v % 1000));
}

/* ---- reading legacy request fields ----------------------------------- */

/* Refuses any key of o not in `allowed`. Returns 0 or -1 with *err set. */
static int check_keys(const json_t *o, const char *const *allowed, const char *what,
		      long idx, struct legacy_err *err)
{
	char q[QUOTE_MAX + 1];
	const char *k;
	json_t *v;

	json_object_foreach(unconst(o), k, v) {
		if (!in_list(k, allowed)) {
			quote_key(k, q, sizeof(q));
			BAD(err, idx, "unknown field '%s' in a legacy %s: it has no V2 "
			    "equivalent, remove it", q, what);
			return -1;
		}
	}
	return 0;
}

/* Optional string member; non-empty when `nonempty`. NULL *out when absent. */
static int opt_string(const json_t *o, const char *k, int nonempty, const json_t **out,
		      long idx, struct legacy_err *err)
{
	json_t *v = field(o, k);

	if (v != NULL && (!json_is_string(v) || (nonempty && json_string_length(v) == 0))) {
		BAD(err, idx, "'%s' must be a %sstring", k, nonempty ? "non-empty " : "");
		return -1;
	}
	*out = v;
	return 0;
}

/* Optional boolean member. */
static int opt_bool(const json_t *o, const char *k, long idx, struct legacy_err *err)
{
	json_t *v = field(o, k);

	if (v != NULL && !json_is_boolean(v)) {
		BAD(err, idx, "'%s' must be true or false", k);
		return -1;
	}
	return 0;
}

/* Optional integer member (carried unchanged; Kalshi judges its range). */
static int opt_int(const json_t *o, const char *k, long idx, struct legacy_err *err)
{
	json_t *v = field(o, k);

	if (v != NULL && !json_is_integer(v)) {
		BAD(err, idx, "'%s' must be an integer", k);
		return -1;
	}
	return 0;
}

/* Required non-empty "ticker". */
static int req_ticker(const json_t *o, long idx, struct legacy_err *err)
{
	json_t *v = field(o, "ticker");

	if (!json_is_string(v) || json_string_length(v) == 0) {
		BAD(err, idx, "'ticker' is required (a non-empty string)");
		return -1;
	}
	return 0;
}

/*
 * Reads side ("yes"|"no") and action ("buy"|"sell"). *bid: 1 for the V2
 * bid (buy yes, sell no), 0 for ask (buy no, sell yes).
 */
static int read_direction(const json_t *o, int *bid, int *buy, int *yes, long idx,
			  struct legacy_err *err)
{
	json_t *side = field(o, "side"), *action = field(o, "action");

	if (str_is(side, "bid") || str_is(side, "ask")) {
		BAD(err, idx, "'side' '%s' is a V2 value: a legacy order takes 'side' 'yes' or "
		    "'no' with 'action' 'buy' or 'sell' (or send the V2 order to "
		    "/portfolio/events/orders)", json_string_value(side));
		return -1;
	}
	if (!str_is(side, "yes") && !str_is(side, "no")) {
		BAD(err, idx, "'side' is required: 'yes' or 'no'");
		return -1;
	}
	if (!str_is(action, "buy") && !str_is(action, "sell")) {
		BAD(err, idx, "'action' is required: 'buy' or 'sell'");
		return -1;
	}
	*yes = str_is(side, "yes");
	*buy = str_is(action, "buy");
	*bid = *buy == *yes;
	return 0;
}

/*
 * Reads a count given as integer contracts (ikey) and/or a fixed-point
 * string (fkey); both must agree. min_h is the least value allowed in
 * hundredths (1 for "> 0", 0 for ">= 0"). *present 0 when neither is given.
 */
static int read_count_pair(const json_t *o, const char *ikey, const char *fkey, int64_t min_h,
			   int64_t *out, int *present, long idx, struct legacy_err *err)
{
	json_t *iv = field(o, ikey), *fv = field(o, fkey);
	int64_t from_i = 0, from_f = 0;
	char q[QUOTE_MAX + 1];

	if (iv != NULL) {
		json_int_t c = json_is_integer(iv) ? json_integer_value(iv) : -1;

		if (!json_is_integer(iv) || c < min_h || c > FIXED_COUNT_MAX / 100) {
			BAD(err, idx, "'%s' must be a whole number of contracts, an integer "
			    ">= %d (or send '%s' as a string like \"2.50\")", ikey,
			    (int)min_h, fkey);
			return -1;
		}
		from_i = (int64_t)c * 100;
	}
	if (fv != NULL) {
		if (count_value(fv, &from_f) != 0 || from_f < min_h) {
			BAD(err, idx, "'%s' must be a string count %s with at most 2 decimals, "
			    "like \"10.00\"", fkey, min_h > 0 ? "above 0" : "of 0 or more");
			return -1;
		}
	}
	if (iv != NULL && fv != NULL && from_i != from_f) {
		quote_text(json_string_value(fv), json_string_length(fv), q, sizeof(q));
		BAD(err, idx, "'%s' %" PRId64 " and '%s' \"%s\" disagree: send one of them",
		    ikey, from_i / 100, fkey, q);
		return -1;
	}
	*present = iv != NULL || fv != NULL;
	*out = fv != NULL ? from_f : from_i;
	return 0;
}

static const char *const price_keys[] = {
	"yes_price", "no_price", "yes_price_dollars", "no_price_dollars", NULL
};

/*
 * Reads the one price field and gives the YES price in 1/10000 dollar.
 * required: none is an error; otherwise *present says whether one was
 * given. Several are always an error.
 */
static int read_price(const json_t *o, int required, int64_t *yes_price, int *present,
		      long idx, struct legacy_err *err)
{
	const char *given[4];
	int n = 0, i;
	int64_t p;
	json_t *v;

	for (i = 0; price_keys[i] != NULL; i++)
		if (field(o, price_keys[i]) != NULL)
			given[n++] = price_keys[i];
	if (n > 1) {
		BAD(err, idx, "give exactly one of yes_price, no_price, yes_price_dollars, "
		    "no_price_dollars (got '%s' and '%s')", given[0], given[1]);
		return -1;
	}
	if (n == 0) {
		if (required) {
			BAD(err, idx, "the price is required: give exactly one of yes_price, "
			    "no_price (integer cents 1-99), yes_price_dollars, no_price_dollars "
			    "(like \"0.5600\")");
			return -1;
		}
		*present = 0;
		return 0;
	}
	v = field(o, given[0]);
	if (strcmp(given[0], "yes_price") == 0 || strcmp(given[0], "no_price") == 0) {
		json_int_t c = json_is_integer(v) ? json_integer_value(v) : 0;

		if (c < 1 || c > 99) {
			BAD(err, idx, "'%s' must be an integer number of cents from 1 to 99",
			    given[0]);
			return -1;
		}
		p = (int64_t)c * 100;
	} else if (dollar_value(v, &p) != 0 || p <= 0 || p >= PRICE_ONE) {
		BAD(err, idx, "'%s' must be a dollar string above 0 and below 1 with at most 4 "
		    "decimals, like \"0.5600\"", given[0]);
		return -1;
	}
	*yes_price = given[0][0] == 'y' ? p : PRICE_ONE - p;
	*present = 1;
	return 0;
}

/* Whether v is one of the time_in_force values both families accept. */
static int tif_valid(const json_t *v)
{
	return str_is(v, "fill_or_kill") || str_is(v, "good_till_canceled") ||
	       str_is(v, "immediate_or_cancel");
}

/* ---- create ---------------------------------------------------------- */

static const char *const create_keys[] = {
	"ticker", "client_order_id", "side", "action", "count", "count_fp",
	"yes_price", "no_price", "yes_price_dollars", "no_price_dollars",
	"expiration_ts", "time_in_force", "buy_max_cost", "post_only", "reduce_only",
	"sell_position_floor", "self_trade_prevention_type", "order_group_id",
	"cancel_order_on_pause", "subaccount", "exchange_index", "type", NULL
};

/* Checks the legacy-only fields that are dropped: type and
 * sell_position_floor. Returns 0 or -1. */
static int check_dropped(const json_t *o, long idx, struct legacy_err *err)
{
	json_t *type = field(o, "type"), *floor = field(o, "sell_position_floor");

	if (str_is(type, "market")) {
		BAD(err, idx, "'type' 'market' cannot be translated: Kalshi removed market "
		    "orders; send a limit order with a price (time_in_force "
		    "'immediate_or_cancel' or 'fill_or_kill' keeps it from resting)");
		return -1;
	}
	if (type != NULL && !str_is(type, "limit")) {
		BAD(err, idx, "'type' must be 'limit' (or left out: Kalshi removed it)");
		return -1;
	}
	if (floor != NULL && (!json_is_integer(floor) || json_integer_value(floor) != 0)) {
		BAD(err, idx, "'sell_position_floor' is deprecated and only 0 is accepted: "
		    "remove it (use 'reduce_only' true to cap a sell at your position)");
		return -1;
	}
	return 0;
}

/*
 * Translates one legacy create (element idx of a batch, or -1) into a new V2
 * body. *bmc: buy_max_cost in 1/10000 dollar or -1. Returns 0 or -1.
 */
static int create_one(const json_t *o, const char *stp_default, long idx, json_t **out,
		      int64_t *bmc, struct legacy_err *err)
{
	int bid, buy, yes, present, oom = 0;
	int64_t count, yes_price, max_cost = -1;
	const json_t *coid, *gid, *stp, *tif;
	json_t *v2, *bmc_v;
	const char *tif_s;

	if (!json_is_object(o)) {
		BAD(err, idx, "a legacy order must be a JSON object");
		return -1;
	}
	if (check_keys(o, create_keys, "order", idx, err) != 0 ||
	    check_dropped(o, idx, err) != 0 ||
	    req_ticker(o, idx, err) != 0 ||
	    read_direction(o, &bid, &buy, &yes, idx, err) != 0 ||
	    read_count_pair(o, "count", "count_fp", 1, &count, &present, idx, err) != 0)
		return -1;
	if (!present) {
		BAD(err, idx, "the count is required: 'count' (integer contracts) or "
		    "'count_fp' (string like \"10.00\")");
		return -1;
	}
	if (read_price(o, 1, &yes_price, &present, idx, err) != 0 ||
	    opt_string(o, "client_order_id", 1, &coid, idx, err) != 0 ||
	    opt_string(o, "order_group_id", 0, &gid, idx, err) != 0 ||
	    opt_int(o, "expiration_ts", idx, err) != 0 ||
	    opt_int(o, "subaccount", idx, err) != 0 ||
	    opt_int(o, "exchange_index", idx, err) != 0 ||
	    opt_bool(o, "post_only", idx, err) != 0 ||
	    opt_bool(o, "reduce_only", idx, err) != 0 ||
	    opt_bool(o, "cancel_order_on_pause", idx, err) != 0)
		return -1;

	tif = field(o, "time_in_force");
	if (tif != NULL && !tif_valid(tif)) {
		BAD(err, idx, "'time_in_force' must be 'fill_or_kill', 'good_till_canceled' or "
		    "'immediate_or_cancel'");
		return -1;
	}
	stp = field(o, "self_trade_prevention_type");
	if (stp != NULL && !str_is(stp, "taker_at_cross") && !str_is(stp, "maker")) {
		BAD(err, idx, "'self_trade_prevention_type' must be 'taker_at_cross' or 'maker'");
		return -1;
	}
	if (stp == NULL) {
		if (stp_default == NULL)
			stp_default = "taker_at_cross";
		if (strcmp(stp_default, "taker_at_cross") != 0 && strcmp(stp_default, "maker") != 0) {
			set_err(err, 500, "internal_error", idx, "self-trade prevention default "
				"must be 'taker_at_cross' or 'maker'");
			return -1;
		}
	}

	tif_s = tif != NULL ? json_string_value(tif) : "good_till_canceled";
	bmc_v = field(o, "buy_max_cost");
	if (bmc_v != NULL) {
		json_int_t c = json_is_integer(bmc_v) ? json_integer_value(bmc_v) : 0;
		/* What the order can cost at most: count x the price of the side
		 * bought, rounded up to 1/10000 dollar. count <= 10^14 and
		 * price < 10^4, so the product fits. */
		int64_t own = yes ? yes_price : PRICE_ONE - yes_price;
		int64_t worst = (count * own + 99) / 100;
		char wbuf[32];

		if (c < 1 || c > FIXED_DOLLARS_MAX / 100) {
			BAD(err, idx, "'buy_max_cost' must be a positive integer number of cents");
			return -1;
		}
		if (!buy) {
			BAD(err, idx, "'buy_max_cost' applies to buy orders only: remove it from "
			    "this sell order");
			return -1;
		}
		if (tif != NULL && !str_is(tif, "fill_or_kill")) {
			BAD(err, idx, "'buy_max_cost' makes an order fill-or-kill: remove "
			    "'time_in_force' or set it to 'fill_or_kill'");
			return -1;
		}
		max_cost = (int64_t)c * 100;
		if (worst > max_cost) {
			fixed_format_dollars(worst, wbuf, sizeof(wbuf));
			BAD(err, idx, "'buy_max_cost' %lld cents is below the order's maximum cost "
			    "of %s dollars (count x price); V2 has no cost cap, so raise "
			    "buy_max_cost or lower count or price until count x price fits",
			    (long long)c, wbuf);
			return -1;
		}
		tif_s = "fill_or_kill";
	}

	v2 = json_object();
	if (v2 == NULL) {
		set_oom(err);
		return -1;
	}
	carry(v2, o, "ticker", &oom);
	if (coid != NULL)
		put(v2, "client_order_id", json_deep_copy(coid), &oom);
	put(v2, "side", json_string(bid ? "bid" : "ask"), &oom);
	put(v2, "count", count_string(count), &oom);
	put(v2, "price", dollar_string(yes_price), &oom);
	put(v2, "time_in_force", json_string(tif_s), &oom);
	put(v2, "self_trade_prevention_type",
	    stp != NULL ? json_deep_copy(stp) : json_string(stp_default), &oom);
	if (field(o, "expiration_ts") != NULL)
		put(v2, "expiration_time", json_deep_copy(field(o, "expiration_ts")), &oom);
	carry(v2, o, "post_only", &oom);
	carry(v2, o, "reduce_only", &oom);
	carry(v2, o, "cancel_order_on_pause", &oom);
	carry(v2, o, "subaccount", &oom);
	if (gid != NULL)
		put(v2, "order_group_id", json_deep_copy(gid), &oom);
	carry(v2, o, "exchange_index", &oom);
	if (oom) {
		json_decref(v2);
		set_oom(err);
		return -1;
	}
	*out = v2;
	*bmc = max_cost;
	return 0;
}

int legacy_create_to_v2(const json_t *order, const char *stp_default, json_t **out,
			int64_t *buy_max_cost, struct legacy_err *err)
{
	return create_one(order, stp_default, -1, out, buy_max_cost, err);
}

/* Checks a batch body: an object with only `key`, a non-empty array. */
static const json_t *batch_array(const json_t *body, const char *key, struct legacy_err *err)
{
	static const char *const keys_orders[] = { "orders", NULL };
	const json_t *arr;

	if (!json_is_object(body)) {
		BAD(err, -1, "the body must be a JSON object {\"%s\": [...]}", key);
		return NULL;
	}
	if (check_keys(body, keys_orders, "batch", -1, err) != 0)
		return NULL;
	arr = json_object_get(body, key);
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		BAD(err, -1, "'%s' must be a non-empty array", key);
		return NULL;
	}
	return arr;
}

int legacy_batch_create_to_v2(const json_t *body, const char *stp_default, json_t **out,
			      struct legacy_err *err)
{
	const json_t *arr = batch_array(body, "orders", err);
	json_t *v2 = NULL, *list, *one;
	int64_t bmc;
	size_t i;

	if (arr == NULL)
		return -1;
	list = json_array();
	if (list == NULL)
		goto oom;
	for (i = 0; i < json_array_size(arr); i++) {
		if (create_one(json_array_get(arr, i), stp_default, (long)i, &one, &bmc, err) != 0) {
			json_decref(list);
			return -1;
		}
		if (json_array_append_new(list, one) != 0)
			goto oom;
	}
	v2 = json_object();
	if (v2 == NULL)
		goto oom;
	if (json_object_set_new(v2, "orders", list) != 0) {
		list = NULL;   /* set_new consumed it */
		goto oom;
	}
	*out = v2;
	return 0;
oom:
	json_decref(list);
	json_decref(v2);
	set_oom(err);
	return -1;
}

/* ---- amend, decrease, batch cancel ------------------------------------ */

/* The Order inside a GET answer ({"order": Order} or the Order itself), or
 * NULL when it is not one (no non-empty string order_id). */
static const json_t *get_order(const json_t *get)
{
	const json_t *o;
	json_t *id;

	if (!json_is_object(get))
		return NULL;
	o = json_object_get(get, "order");
	if (json_is_object(o))
		get = o;
	id = json_object_get(get, "order_id");
	if (!json_is_string(id) || json_string_length(id) == 0)
		return NULL;
	return get;
}

/* Writes *subaccount from the body's subaccount (-1 when absent). */
static int read_subaccount(const json_t *o, int *subaccount, struct legacy_err *err)
{
	json_t *v = field(o, "subaccount");

	if (v == NULL) {
		*subaccount = -1;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000) {
		BAD(err, -1, "'subaccount' must be an integer from 0 (primary)");
		return -1;
	}
	*subaccount = (int)json_integer_value(v);
	return 0;
}

static const char *const amend_keys[] = {
	"subaccount", "ticker", "side", "action", "client_order_id", "updated_client_order_id",
	"yes_price", "no_price", "yes_price_dollars", "no_price_dollars", "count", "count_fp",
	"exchange_index", NULL
};

int legacy_amend_to_v2(const json_t *body, const json_t *current, json_t **out,
		       int *subaccount, struct legacy_err *err)
{
	const json_t *cur = get_order(current), *coid, *ucoid;
	int bid, buy, yes, has_count, has_price, sub, oom = 0;
	int64_t count, price, fill, rem;
	json_t *v2;

	if (!json_is_object(body)) {
		BAD(err, -1, "a legacy amend must be a JSON object");
		return -1;
	}
	if (check_keys(body, amend_keys, "amend", -1, err) != 0 ||
	    req_ticker(body, -1, err) != 0 ||
	    read_direction(body, &bid, &buy, &yes, -1, err) != 0 ||
	    read_count_pair(body, "count", "count_fp", 1, &count, &has_count, -1, err) != 0 ||
	    read_price(body, 0, &price, &has_price, -1, err) != 0 ||
	    opt_string(body, "client_order_id", 1, &coid, -1, err) != 0 ||
	    opt_string(body, "updated_client_order_id", 1, &ucoid, -1, err) != 0 ||
	    opt_int(body, "exchange_index", -1, err) != 0 ||
	    read_subaccount(body, &sub, err) != 0)
		return -1;

	/* V2 wants both; "unchanged" means the order's current value. */
	if (!has_price) {
		if (cur == NULL || dollar_value(json_object_get(cur, "yes_price_dollars"), &price) != 0 ||
		    price <= 0 || price >= PRICE_ONE) {
			BAD(err, -1, "a V2 amend needs the price: give one of yes_price, no_price, "
			    "yes_price_dollars, no_price_dollars (the current price to keep it)");
			return -1;
		}
	}
	if (!has_count) {
		if (cur == NULL ||
		    count_value(json_object_get(cur, "fill_count_fp"), &fill) != 0 ||
		    count_value(json_object_get(cur, "remaining_count_fp"), &rem) != 0 ||
		    fill + rem <= 0) {
			BAD(err, -1, "a V2 amend needs the count: give 'count' or 'count_fp', the "
			    "new total (filled + resting) contracts");
			return -1;
		}
		count = fill + rem;
	}

	v2 = json_object();
	if (v2 == NULL) {
		set_oom(err);
		return -1;
	}
	carry(v2, body, "ticker", &oom);
	put(v2, "side", json_string(bid ? "bid" : "ask"), &oom);
	put(v2, "price", dollar_string(price), &oom);
	put(v2, "count", count_string(count), &oom);
	if (coid != NULL)
		put(v2, "client_order_id", json_deep_copy(coid), &oom);
	if (ucoid != NULL)
		put(v2, "updated_client_order_id", json_deep_copy(ucoid), &oom);
	carry(v2, body, "exchange_index", &oom);
	if (oom) {
		json_decref(v2);
		set_oom(err);
		return -1;
	}
	*out = v2;
	*subaccount = sub;
	return 0;
}

static const char *const decrease_keys[] = {
	"subaccount", "reduce_by", "reduce_by_fp", "reduce_to", "reduce_to_fp",
	"exchange_index", NULL
};

int legacy_decrease_to_v2(const json_t *body, json_t **out, int *subaccount,
			  struct legacy_err *err)
{
	int has_by, has_to, sub, oom = 0;
	int64_t by, to;
	json_t *v2;

	if (!json_is_object(body)) {
		BAD(err, -1, "a legacy decrease must be a JSON object");
		return -1;
	}
	if (check_keys(body, decrease_keys, "decrease", -1, err) != 0 ||
	    read_count_pair(body, "reduce_by", "reduce_by_fp", 1, &by, &has_by, -1, err) != 0 ||
	    read_count_pair(body, "reduce_to", "reduce_to_fp", 0, &to, &has_to, -1, err) != 0 ||
	    opt_int(body, "exchange_index", -1, err) != 0 ||
	    read_subaccount(body, &sub, err) != 0)
		return -1;
	if (has_by == has_to) {
		BAD(err, -1, "give exactly one of reduce_by (or reduce_by_fp) and reduce_to (or "
		    "reduce_to_fp)");
		return -1;
	}
	v2 = json_object();
	if (v2 == NULL) {
		set_oom(err);
		return -1;
	}
	if (has_by)
		put(v2, "reduce_by", count_string(by), &oom);
	else
		put(v2, "reduce_to", count_string(to), &oom);
	carry(v2, body, "exchange_index", &oom);
	if (oom) {
		json_decref(v2);
		set_oom(err);
		return -1;
	}
	*out = v2;
	*subaccount = sub;
	return 0;
}

static const char *const cancel_elem_keys[] = {
	"order_id", "subaccount", "exchange_index", "market_ticker", NULL
};

/* One batch-cancel element ({"order_id", ...}) checked and copied. */
static json_t *cancel_elem(const json_t *e, long idx, struct legacy_err *err)
{
	const json_t *id, *mt;
	json_t *c;
	int oom = 0;

	if (!json_is_object(e)) {
		BAD(err, idx, "each element of 'orders' must be an object {\"order_id\": ...}");
		return NULL;
	}
	if (check_keys(e, cancel_elem_keys, "batch cancel element", idx, err) != 0 ||
	    opt_string(e, "order_id", 1, &id, idx, err) != 0 ||
	    opt_string(e, "market_ticker", 1, &mt, idx, err) != 0 ||
	    opt_int(e, "subaccount", idx, err) != 0 ||
	    opt_int(e, "exchange_index", idx, err) != 0)
		return NULL;
	if (id == NULL) {
		BAD(err, idx, "'order_id' is required (a non-empty string)");
		return NULL;
	}
	c = json_object();
	if (c == NULL) {
		set_oom(err);
		return NULL;
	}
	carry(c, e, "order_id", &oom);
	carry(c, e, "subaccount", &oom);
	carry(c, e, "exchange_index", &oom);
	carry(c, e, "market_ticker", &oom);
	if (oom) {
		json_decref(c);
		set_oom(err);
		return NULL;
	}
	return c;
}

int legacy_batch_cancel_to_v2(const json_t *body, json_t **out, struct legacy_err *err)
{
	static const char *const keys[] = { "ids", "orders", NULL };
	const json_t *ids, *orders, *arr;
	json_t *list = NULL, *v2 = NULL, *e, *c;
	size_t i;

	if (!json_is_object(body)) {
		BAD(err, -1, "the body must be a JSON object {\"orders\": [{\"order_id\": ...}]}");
		return -1;
	}
	if (check_keys(body, keys, "batch cancel", -1, err) != 0)
		return -1;
	ids = field(body, "ids");
	orders = field(body, "orders");
	if (ids != NULL && orders != NULL) {
		BAD(err, -1, "give 'orders' or the deprecated 'ids', not both");
		return -1;
	}
	arr = ids != NULL ? ids : orders;
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		BAD(err, -1, "'orders' must be a non-empty array of {\"order_id\": ...} (or "
		    "'ids' a non-empty array of order ids)");
		return -1;
	}
	list = json_array();
	if (list == NULL)
		goto oom;
	for (i = 0; i < json_array_size(arr); i++) {
		e = json_array_get(arr, i);
		if (ids != NULL) {
			if (!json_is_string(e) || json_string_length(e) == 0) {
				BAD(err, (long)i, "each element of 'ids' must be a non-empty string");
				json_decref(list);
				return -1;
			}
			c = json_object();
			if (c == NULL || json_object_set_new(c, "order_id", json_deep_copy(e)) != 0) {
				json_decref(c);
				goto oom;
			}
		} else if ((c = cancel_elem(e, (long)i, err)) == NULL) {
			json_decref(list);
			return -1;
		}
		if (json_array_append_new(list, c) != 0)
			goto oom;
	}
	v2 = json_object();
	if (v2 == NULL)
		goto oom;
	if (json_object_set_new(v2, "orders", list) != 0) {
		list = NULL;   /* set_new consumed it */
		goto oom;
	}
	*out = v2;
	return 0;
oom:
	json_decref(list);
	json_decref(v2);
	set_oom(err);
	return -1;
}

/* ---- paths ----------------------------------------------------------- */

#define PREFIX "/trade-api/v2"
#define LEGACY_BASE "/portfolio/orders"

int legacy_v2_path(const char *path, size_t len, char *out, size_t cap)
{
	static const char v2_base[] = "/portfolio/events/orders";
	size_t plen = 0, blen = strlen(LEGACY_BASE), rest_len, id_len, i;
	const char *rest, *slash;

	if (path == NULL || out == NULL || cap == 0)
		return -1;
	if (len >= strlen(PREFIX) && memcmp(path, PREFIX, strlen(PREFIX)) == 0)
		plen = strlen(PREFIX);
	if (len - plen < blen || memcmp(path + plen, LEGACY_BASE, blen) != 0)
		return -1;
	rest = path + plen + blen;
	rest_len = len - plen - blen;
	/* Only visible ASCII: a NUL, space or control byte (which the front end
	 * refuses anyway) must not turn into a different, shorter path. */
	for (i = 0; i < rest_len; i++)
		if ((unsigned char)rest[i] <= 0x20 || (unsigned char)rest[i] >= 0x7f ||
		    rest[i] == '?' || rest[i] == '#')
			return -1;
	/* "", "/batched", "/{id}", "/{id}/amend", "/{id}/decrease" */
	if (rest_len > 0) {
		if (rest[0] != '/' || rest_len == 1)
			return -1;
		slash = memchr(rest + 1, '/', rest_len - 1);
		id_len = slash != NULL ? (size_t)(slash - (rest + 1)) : rest_len - 1;
		if (id_len == 0)
			return -1;
		if (slash != NULL) {
			size_t tail = rest_len - 1 - id_len;

			if (!(tail == 6 && memcmp(slash, "/amend", 6) == 0) &&
			    !(tail == 9 && memcmp(slash, "/decrease", 9) == 0))
				return -1;
			if (id_len == 7 && memcmp(rest + 1, "batched", 7) == 0)
				return -1;
		}
	}
	if (cap - 1 < plen || cap - 1 - plen < strlen(v2_base) ||
	    cap - 1 - plen - strlen(v2_base) < rest_len)
		return -1;
	memcpy(out, path, plen);
	memcpy(out + plen, v2_base, strlen(v2_base));
	memcpy(out + plen + strlen(v2_base), rest, rest_len);
	out[plen + strlen(v2_base) + rest_len] = '\0';
	return 0;
}

void legacy_reject_message(const char *method, const char *path, size_t len,
			   char *buf, size_t cap)
{
	char v2[512], qm[16], qp[300];

	if (buf == NULL || cap == 0)
		return;
	quote_text(method != NULL ? method : "", method != NULL ? strlen(method) : 0,
		   qm, sizeof(qm));
	if (path != NULL && legacy_v2_path(path, len, v2, sizeof(v2)) == 0) {
		quote_text(v2, strlen(v2), qp, sizeof(qp));
		snprintf(buf, cap, "legacy order endpoints are disabled here (orders.legacy = "
			 "reject): use %s %s with a V2 body", qm, qp);
	} else {
		snprintf(buf, cap, "legacy order endpoints are disabled here (orders.legacy = "
			 "reject): use the V2 endpoints under /trade-api/v2/portfolio/events/orders");
	}
}

/* ---- replies --------------------------------------------------------- */

/*
 * Checks a 2xx V2 answer for a soft rejection: it must be an object with
 * `key` (a non-empty string, or an array when want_array). An "error"
 * object in it is a refusal (400, the upstream's code when it is a plain
 * identifier); anything else missing is a bad reply (502, outcome unknown).
 */
static int check_soft(const json_t *reply, const char *key, int want_array,
		      struct legacy_err *err)
{
	json_t *v, *e, *code, *msg;
	char c[64], m[160];
	size_t i, n;

	if (json_is_object(reply)) {
		v = json_object_get(reply, key);
		if (want_array ? json_is_array(v) : (json_is_string(v) && json_string_length(v) > 0))
			return 0;
		e = json_object_get(reply, "error");
		if (json_is_object(e)) {
			code = json_object_get(e, "code");
			msg = json_object_get(e, "message");
			snprintf(c, sizeof(c), "invalid_order");
			n = json_is_string(code) ? json_string_length(code) : 0;
			if (n > 0 && n < sizeof(c)) {
				const char *s = json_string_value(code);

				for (i = 0; i < n; i++)
					if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
					      s[i] == '_'))
						break;
				if (i == n)
					memcpy(c, s, n + 1);
			}
			if (json_is_string(msg))
				quote_text(json_string_value(msg), json_string_length(msg), m, sizeof(m));
			else
				snprintf(m, sizeof(m), "no message");
			set_err(err, 400, c, -1, "upstream refused the request in a success answer: %s",
				m);
			return -1;
		}
	}
	set_err(err, 502, "upstream_bad_reply", -1, "upstream answered success without '%s'; "
		"the change may or may not have been made: check GET /portfolio/orders before "
		"retrying", key);
	err->outcome_unknown = 1;
	return -1;
}

/* Whether an Order has every field order.ts marks required. */
static int order_complete(const json_t *o)
{
	size_t i;

	for (i = 0; order_required[i] != NULL; i++)
		if (field(o, order_required[i]) == NULL)
			return 0;
	return 1;
}

/*
 * Adds what the legacy request says about direction to an Order, where the
 * Order does not say it already: side, action (deprecated fields legacy
 * bots read), outcome_side and book_side.
 */
static void add_direction(json_t *o, const json_t *legacy_req, int *oom)
{
	json_t *side = field(legacy_req, "side"), *action = field(legacy_req, "action");
	int yes, buy;

	if (!(str_is(side, "yes") || str_is(side, "no")) ||
	    !(str_is(action, "buy") || str_is(action, "sell")))
		return;
	yes = str_is(side, "yes");
	buy = str_is(action, "buy");
	if (field(o, "side") == NULL)
		put(o, "side", json_string(yes ? "yes" : "no"), oom);
	if (field(o, "action") == NULL)
		put(o, "action", json_string(buy ? "buy" : "sell"), oom);
	if (field(o, "outcome_side") == NULL)
		put(o, "outcome_side", json_string(buy == yes ? "yes" : "no"), oom);
	if (field(o, "book_side") == NULL)
		put(o, "book_side", json_string(buy == yes ? "bid" : "ask"), oom);
}

/* The status order.ts defines, from counts in hundredths. */
static const char *status_of(int64_t fill, int64_t remaining, int64_t total)
{
	if (remaining > 0)
		return "resting";
	return fill >= total ? "executed" : "canceled";
}

/* The GET answer's Order when it is for order_id (a string value). */
static const json_t *matching_get(const json_t *get, const json_t *order_id)
{
	const json_t *o = get_order(get);

	if (o == NULL || !json_is_string(order_id) ||
	    !json_equal(json_object_get(o, "order_id"), order_id))
		return NULL;
	return o;
}

/* Looks a GET answer up in an object {order_id: GET answer}. */
static const json_t *gets_lookup(const json_t *gets, const json_t *order_id)
{
	if (!json_is_object(gets) || !json_is_string(order_id))
		return NULL;
	return matching_get(json_object_getn(gets, json_string_value(order_id),
					     json_string_length(order_id)), order_id);
}

/*
 * Builds the Order of a created order: the GET answer when there is one
 * (direction added where missing), else derived from the V2 answer r (one
 * batch element or the whole create answer), the legacy request and the
 * V2 body sent. Returns a new object or NULL (out of memory).
 */
static json_t *create_order(const json_t *r, const json_t *legacy_req, const json_t *sent,
			    const json_t *get)
{
	const json_t *g = matching_get(get, json_object_get(r, "order_id"));
	json_t *o, *coid, *t;
	int64_t fill = 0, rem = 0, total = 0, price;
	int has_fill, has_rem, has_total, oom = 0;

	if (g != NULL) {
		o = json_deep_copy(g);
		if (o == NULL)
			return NULL;
		add_direction(o, legacy_req, &oom);
		if (oom) {
			json_decref(o);
			return NULL;
		}
		return o;
	}

	o = json_object();
	if (o == NULL)
		return NULL;
	has_fill = count_value(json_object_get(r, "fill_count"), &fill) == 0;
	has_rem = count_value(json_object_get(r, "remaining_count"), &rem) == 0;
	has_total = count_value(json_object_get(sent, "count"), &total) == 0;

	carry(o, r, "order_id", &oom);
	coid = field(r, "client_order_id");
	if (!json_is_string(coid))
		coid = field(sent, "client_order_id");
	if (json_is_string(coid))
		put(o, "client_order_id", json_deep_copy(coid), &oom);
	carry(o, sent, "ticker", &oom);
	add_direction(o, legacy_req, &oom);
	put(o, "type", json_string("limit"), &oom);
	if (has_rem && (rem > 0 || (has_fill && has_total)))
		put(o, "status", json_string(status_of(fill, rem, total)), &oom);
	if (dollar_value(json_object_get(sent, "price"), &price) == 0 && price > 0 &&
	    price < PRICE_ONE) {
		put(o, "yes_price_dollars", dollar_string(price), &oom);
		put(o, "no_price_dollars", dollar_string(PRICE_ONE - price), &oom);
	}
	if (has_fill)
		put(o, "fill_count_fp", count_string(fill), &oom);
	if (has_rem)
		put(o, "remaining_count_fp", count_string(rem), &oom);
	if (has_total)
		put(o, "initial_count_fp", count_string(total), &oom);
	/* Fills reported by the create are the order's own taker fills: maker
	 * amounts are exactly 0; taker ones are known only when nothing filled
	 * (V2 gives an average price whose rounding and side are not defined). */
	if (has_fill && fill == 0)
		put(o, "taker_fill_cost_dollars", dollar_string(0), &oom);
	if (has_fill) {
		put(o, "maker_fill_cost_dollars", dollar_string(0), &oom);
		if (fill == 0)
			put(o, "taker_fees_dollars", dollar_string(0), &oom);
		put(o, "maker_fees_dollars", dollar_string(0), &oom);
	}
	t = field(sent, "expiration_time");
	if (json_is_integer(t) && (t = rfc3339((int64_t)json_integer_value(t), -1)) != NULL)
		put(o, "expiration_time", t, &oom);
	if ((t = time_of_ts_ms(json_object_get(r, "ts_ms"))) != NULL) {
		put(o, "last_update_time", json_deep_copy(t), &oom);
		put(o, "created_time", t, &oom);
	}
	carry(o, sent, "self_trade_prevention_type", &oom);
	carry(o, sent, "order_group_id", &oom);
	carry(o, sent, "cancel_order_on_pause", &oom);
	if (json_is_integer(field(sent, "subaccount")))
		put(o, "subaccount_number", json_deep_copy(field(sent, "subaccount")), &oom);
	carry(o, sent, "exchange_index", &oom);
	if (oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Wraps `order` (stolen, also on failure) as {"order": order}; NULL on
 * failure. */
static json_t *wrap_order(json_t *order)
{
	json_t *w;

	if (order == NULL)
		return NULL;
	w = json_object();
	if (w == NULL) {
		json_decref(order);
		return NULL;
	}
	if (json_object_set_new(w, "order", order) != 0) {   /* consumes order */
		json_decref(w);
		return NULL;
	}
	return w;
}

int legacy_create_reply(const json_t *v2_reply, const json_t *legacy_req,
			const json_t *v2_sent, const json_t *get, json_t **out,
			unsigned *flags, struct legacy_err *err)
{
	json_t *order, *w;
	unsigned f;

	if (check_soft(v2_reply, "order_id", 0, err) != 0)
		return -1;
	order = create_order(v2_reply, legacy_req, v2_sent, get);
	f = order != NULL && !order_complete(order) ? LEGACY_PARTIAL : 0;
	w = wrap_order(order);
	if (w == NULL) {
		set_oom(err);
		return -1;
	}
	*out = w;
	*flags = f;
	return 0;
}

/* Index of the sent order a batch answer element belongs to: the one with
 * the same client_order_id, else the same position; -1 when neither. */
static long match_sent(const json_t *sent_orders, const json_t *elem, size_t pos)
{
	json_t *coid = field(elem, "client_order_id");
	size_t i, n = json_array_size(sent_orders);

	if (json_is_string(coid)) {
		for (i = 0; i < n; i++)
			if (json_equal(field(json_array_get(sent_orders, i), "client_order_id"), coid))
				return (long)i;
	}
	return pos < n ? (long)pos : -1;
}

/* {"code": code, "message": msg} for a batch element. */
static json_t *elem_error(const char *code, const char *msg)
{
	return json_pack("{s:s, s:s}", "code", code, "message", msg);
}

int legacy_batch_create_reply(const json_t *v2_reply, const json_t *legacy_req,
			      const json_t *v2_sent, const json_t *gets, json_t **out,
			      unsigned *flags, struct legacy_err *err)
{
	const json_t *ans, *sent_orders = json_object_get(v2_sent, "orders");
	const json_t *legacy_orders = json_object_get(legacy_req, "orders");
	json_t *list, *w = NULL, *e, *le, *id, *coid, *order;
	unsigned f = 0;
	size_t i;
	long j;
	int oom = 0;

	if (check_soft(v2_reply, "orders", 1, err) != 0)
		return -1;
	ans = json_object_get(v2_reply, "orders");
	list = json_array();
	if (list == NULL)
		goto oom;
	for (i = 0; i < json_array_size(ans); i++) {
		const json_t *sent_one, *legacy_one;

		e = json_array_get(ans, i);
		j = match_sent(sent_orders, e, i);
		sent_one = j >= 0 ? json_array_get(sent_orders, (size_t)j) : NULL;
		legacy_one = j >= 0 ? json_array_get(legacy_orders, (size_t)j) : NULL;
		le = json_object();
		if (le == NULL || json_array_append_new(list, le) != 0)
			goto oom;
		coid = field(e, "client_order_id");
		if (!json_is_string(coid))
			coid = field(sent_one, "client_order_id");
		if (json_is_string(coid))
			put(le, "client_order_id", json_deep_copy(coid), &oom);
		id = json_object_get(e, "order_id");
		if (json_is_string(id) && json_string_length(id) > 0) {
			order = create_order(e, legacy_one, sent_one, gets_lookup(gets, id));
			if (order != NULL && !order_complete(order))
				f |= LEGACY_PARTIAL;
			put(le, "order", order, &oom);
		}
		if (json_is_object(field(e, "error"))) {
			put(le, "error", json_deep_copy(field(e, "error")), &oom);
		} else if (!(json_is_string(id) && json_string_length(id) > 0)) {
			put(le, "error", elem_error("upstream_bad_reply", "upstream answered this "
				"element without an order_id or an error; the order may or may not "
				"exist"), &oom);
			f |= LEGACY_OUTCOME_UNKNOWN;
		}
		if (oom)
			goto oom;
	}
	w = json_object();
	if (w == NULL)
		goto oom;
	if (json_object_set_new(w, "orders", list) != 0) {
		list = NULL;   /* set_new consumed it */
		goto oom;
	}
	*out = w;
	*flags = f;
	return 0;
oom:
	json_decref(list);
	json_decref(w);
	set_oom(err);
	return -1;
}

/*
 * The Order after a cancel or decrease: the GET answer, else what the V2
 * answer r says (ids, remaining count, the update time, and the status
 * when it follows: a cancel leaves nothing resting and the order canceled).
 */
static json_t *after_order(const json_t *r, const json_t *get, int cancel)
{
	const json_t *g = matching_get(get, json_object_get(r, "order_id"));
	json_t *o, *t;
	int64_t rem;
	int oom = 0;

	if (g != NULL)
		return json_deep_copy(g);
	o = json_object();
	if (o == NULL)
		return NULL;
	carry(o, r, "order_id", &oom);
	if (json_is_string(field(r, "client_order_id")))
		carry(o, r, "client_order_id", &oom);
	if (cancel) {
		put(o, "status", json_string("canceled"), &oom);
		put(o, "remaining_count_fp", count_string(0), &oom);
	} else if (count_value(json_object_get(r, "remaining_count"), &rem) == 0) {
		if (rem > 0)
			put(o, "status", json_string("resting"), &oom);
		put(o, "remaining_count_fp", count_string(rem), &oom);
	}
	if ((t = time_of_ts_ms(json_object_get(r, "ts_ms"))) != NULL)
		put(o, "last_update_time", t, &oom);
	if (oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The V2 reduced_by of an answer as a legacy reduced_by_fp ("10.00"). */
static json_t *reduced_by_fp(const json_t *r)
{
	int64_t v;

	if (count_value(json_object_get(r, "reduced_by"), &v) == 0)
		return count_string(v);
	return NULL;
}

int legacy_cancel_reply(const json_t *v2_reply, const json_t *get, json_t **out,
			unsigned *flags, struct legacy_err *err)
{
	json_t *order, *w, *rb;
	unsigned f;
	int oom = 0;

	if (check_soft(v2_reply, "order_id", 0, err) != 0)
		return -1;
	order = after_order(v2_reply, get, 1);
	f = order != NULL && !order_complete(order) ? LEGACY_PARTIAL : 0;
	w = wrap_order(order);
	if (w == NULL)
		goto oom;
	rb = reduced_by_fp(v2_reply);
	if (rb != NULL)
		put(w, "reduced_by_fp", rb, &oom);
	else
		f |= LEGACY_PARTIAL;
	if (oom) {
		json_decref(w);
		goto oom;
	}
	*out = w;
	*flags = f;
	return 0;
oom:
	set_oom(err);
	return -1;
}

int legacy_batch_cancel_reply(const json_t *v2_reply, const json_t *v2_sent,
			      const json_t *gets, json_t **out, unsigned *flags,
			      struct legacy_err *err)
{
	const json_t *ans, *sent_orders = json_object_get(v2_sent, "orders");
	json_t *list, *w = NULL, *e, *le, *id, *rb, *order;
	unsigned f = 0;
	size_t i;
	int oom = 0;

	if (check_soft(v2_reply, "orders", 1, err) != 0)
		return -1;
	ans = json_object_get(v2_reply, "orders");
	list = json_array();
	if (list == NULL)
		goto oom;
	for (i = 0; i < json_array_size(ans); i++) {
		e = json_array_get(ans, i);
		le = json_object();
		if (le == NULL || json_array_append_new(list, le) != 0)
			goto oom;
		id = json_object_get(e, "order_id");
		if (!json_is_string(id) || json_string_length(id) == 0)
			id = json_object_get(json_array_get(sent_orders, i), "order_id");
		if (json_is_string(id))
			put(le, "order_id", json_deep_copy(id), &oom);
		order = NULL;
		if (json_is_string(id) && gets_lookup(gets, id) != NULL) {
			order = json_deep_copy(gets_lookup(gets, id));
			if (order != NULL && !order_complete(order))
				f |= LEGACY_PARTIAL;
			put(le, "order", order, &oom);
		}
		rb = reduced_by_fp(e);
		/* An element that failed canceled nothing. */
		if (rb == NULL && json_is_object(field(e, "error")))
			rb = count_string(0);
		if (rb != NULL)
			put(le, "reduced_by_fp", rb, &oom);
		if (json_is_object(field(e, "error"))) {
			put(le, "error", json_deep_copy(field(e, "error")), &oom);
		} else if (rb == NULL || !json_is_string(json_object_get(e, "order_id"))) {
			put(le, "error", elem_error("upstream_bad_reply", "upstream answered this "
				"element without reduced_by or order_id; the order may or may not "
				"be canceled"), &oom);
			f |= LEGACY_OUTCOME_UNKNOWN;
		}
		if (oom)
			goto oom;
	}
	w = json_object();
	if (w == NULL)
		goto oom;
	if (json_object_set_new(w, "orders", list) != 0) {
		list = NULL;   /* set_new consumed it */
		goto oom;
	}
	*out = w;
	*flags = f;
	return 0;
oom:
	json_decref(list);
	json_decref(w);
	set_oom(err);
	return -1;
}

/*
 * The amended Order without a GET after the amend: `before` moved forward
 * by the V2 answer r and the V2 body sent. Price and client_order_id come
 * from the amend; fill = before's + filled by the amend; remaining = the
 * answer's when given (it is given whenever it changed), else before's;
 * status recomputed against the new total. What the amend changed by an
 * unknown amount is removed: initial_count_fp when the total changed,
 * taker cost and fees when the amend filled, and pre-fixed-point integer
 * fields.
 */
static json_t *amended_order(const json_t *before, const json_t *r, const json_t *sent)
{
	json_t *o, *t, *ucoid;
	int64_t price, bf = 0, br = 0, af = 0, ar = 0, total = 0;
	int has_bf, has_br, has_af, has_ar, has_total, oom = 0;
	size_t i;

	o = json_deep_copy(before);
	if (o == NULL)
		return NULL;
	for (i = 0; order_stale_ints[i] != NULL; i++)
		json_object_del(o, order_stale_ints[i]);
	if (json_is_string(field(r, "order_id")))
		carry(o, r, "order_id", &oom);
	if (dollar_value(json_object_get(sent, "price"), &price) == 0 && price > 0 &&
	    price < PRICE_ONE) {
		put(o, "yes_price_dollars", dollar_string(price), &oom);
		put(o, "no_price_dollars", dollar_string(PRICE_ONE - price), &oom);
	} else {
		json_object_del(o, "yes_price_dollars");
		json_object_del(o, "no_price_dollars");
	}
	ucoid = field(sent, "updated_client_order_id");
	if (json_is_string(ucoid))
		put(o, "client_order_id", json_deep_copy(ucoid), &oom);

	has_bf = count_value(json_object_get(before, "fill_count_fp"), &bf) == 0;
	has_br = count_value(json_object_get(before, "remaining_count_fp"), &br) == 0;
	has_af = field(r, "fill_count") == NULL || count_value(field(r, "fill_count"), &af) == 0;
	has_ar = count_value(json_object_get(r, "remaining_count"), &ar) == 0;
	has_total = count_value(json_object_get(sent, "count"), &total) == 0;
	if (!has_ar && has_br && field(r, "remaining_count") == NULL) {
		ar = br;
		has_ar = 1;
	}
	if (has_bf && has_af)
		put(o, "fill_count_fp", count_string(bf + af), &oom);
	else
		json_object_del(o, "fill_count_fp");
	if (has_ar)
		put(o, "remaining_count_fp", count_string(ar), &oom);
	else
		json_object_del(o, "remaining_count_fp");
	if (has_ar && (ar > 0 || (has_bf && has_af && has_total)))
		put(o, "status", json_string(status_of(bf + af, ar, total)), &oom);
	else
		json_object_del(o, "status");
	if (!(has_total && has_bf && has_br && total == bf + br))
		json_object_del(o, "initial_count_fp");
	if (!has_af || af > 0) {
		json_object_del(o, "taker_fill_cost_dollars");
		json_object_del(o, "taker_fees_dollars");
	}
	if ((t = time_of_ts_ms(json_object_get(r, "ts_ms"))) != NULL)
		put(o, "last_update_time", t, &oom);
	if (oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int legacy_amend_reply(const json_t *v2_reply, const json_t *legacy_req,
		       const json_t *v2_sent, const json_t *before, const json_t *after,
		       json_t **out, unsigned *flags, struct legacy_err *err)
{
	const json_t *b = get_order(before);
	const json_t *a = matching_get(after, json_object_get(v2_reply, "order_id"));
	json_t *w = NULL, *old = NULL, *order = NULL, *coid;
	unsigned f;
	int oom = 0;

	if (check_soft(v2_reply, "order_id", 0, err) != 0)
		return -1;
	w = json_object();
	if (w == NULL)
		goto oom;
	if (b != NULL) {
		old = json_deep_copy(b);
		if (old == NULL)
			goto oom;
		add_direction(old, legacy_req, &oom);
	}
	if (a != NULL) {
		order = json_deep_copy(a);
	} else if (b != NULL) {
		order = amended_order(b, v2_reply, v2_sent);
	} else {
		order = json_object();
		if (order != NULL) {
			carry(order, v2_reply, "order_id", &oom);
			coid = field(v2_reply, "client_order_id");
			if (!json_is_string(coid))
				coid = field(v2_sent, "updated_client_order_id");
			if (json_is_string(coid))
				put(order, "client_order_id", json_deep_copy(coid), &oom);
		}
	}
	if (order == NULL)
		goto oom;
	add_direction(order, legacy_req, &oom);
	f = old == NULL || !order_complete(old) || !order_complete(order) ?
	    LEGACY_PARTIAL : 0;
	if (old != NULL)
		put(w, "old_order", old, &oom);
	old = NULL;
	put(w, "order", order, &oom);
	order = NULL;
	if (oom)
		goto oom;
	*out = w;
	*flags = f;
	return 0;
oom:
	json_decref(old);
	json_decref(order);
	json_decref(w);
	set_oom(err);
	return -1;
}

int legacy_decrease_reply(const json_t *v2_reply, const json_t *get, json_t **out,
			  unsigned *flags, struct legacy_err *err)
{
	json_t *order, *w;
	unsigned f;

	if (check_soft(v2_reply, "order_id", 0, err) != 0)
		return -1;
	order = after_order(v2_reply, get, 0);
	f = order != NULL && !order_complete(order) ? LEGACY_PARTIAL : 0;
	w = wrap_order(order);
	if (w == NULL) {
		set_oom(err);
		return -1;
	}
	*out = w;
	*flags = f;
	return 0;
}
