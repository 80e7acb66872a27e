/*
 * normalize: order families to one fixed-point form (see normalize.h).
 *
 * Each field is read by one small reader that knows its type and range and
 * writes its result only when the value is good, so the family functions
 * are a list of reads followed by the direction mapping. A JSON null counts
 * as an absent key: bots built on generated clients send nulls for unset
 * optional fields, and a required field that is null is still refused.
 * Messages name the field but never quote the client's value, so they are
 * always printable ASCII and safe in a JSON string or a log line.
 */
#include "policy/normalize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/fixed.h"

#define NORM_MAX_BATCH 1000
#define NORM_CENTS_MIN 1
#define NORM_CENTS_MAX 99

/* Formats a message into err (errlen bytes) when there is room for one. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The member `key` of object o, or NULL when absent or JSON null. */
static const json_t *field(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

/* Copies the required string "ticker" into buf (NORM_TICKER_MAX bytes).
 * Refuses a missing, non-string, empty, over-long ticker or one holding a
 * NUL (which would make the C string differ from what Kalshi receives).
 * Returns 0, or -1 with err set (buf untouched). */
static int read_ticker(const json_t *o, char *buf, char *err, size_t errlen)
{
	const json_t *v = field(o, "ticker");
	size_t len;

	if (v == NULL) {
		set_err(err, errlen, "'ticker' is required");
		return -1;
	}
	if (!json_is_string(v)) {
		set_err(err, errlen, "'ticker' must be a string");
		return -1;
	}
	len = json_string_length(v);
	if (len == 0) {
		set_err(err, errlen, "'ticker' must not be empty");
		return -1;
	}
	if (len >= NORM_TICKER_MAX) {
		set_err(err, errlen, "'ticker' is longer than %d bytes", NORM_TICKER_MAX - 1);
		return -1;
	}
	if (memchr(json_string_value(v), '\0', len) != NULL) {
		set_err(err, errlen, "'ticker' must not contain a NUL character");
		return -1;
	}
	memcpy(buf, json_string_value(v), len);
	buf[len] = '\0';
	return 0;
}

/* Reads required string field `key` that must be `a` (result 1) or `b`
 * (result 0). Returns 0 and writes *out, or -1 with err set. */
static int read_choice(const json_t *o, const char *key, const char *a, const char *b,
		       int *out, char *err, size_t errlen)
{
	const json_t *v = field(o, key);
	const char *s;

	if (v == NULL) {
		set_err(err, errlen, "'%s' is required", key);
		return -1;
	}
	s = json_is_string(v) ? json_string_value(v) : NULL;
	if (s != NULL && strlen(s) == json_string_length(v)) {
		if (strcmp(s, a) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, b) == 0) {
			*out = 0;
			return 0;
		}
	}
	set_err(err, errlen, "'%s' must be \"%s\" or \"%s\"", key, a, b);
	return -1;
}

/* Reads `v` (field `key`) as a fixed-point count string greater than 0.
 * Returns 0 and writes *out, or -1 with err set. */
static int read_count_string(const json_t *v, const char *key, int64_t *out,
			     char *err, size_t errlen)
{
	int64_t c;

	if (!json_is_string(v)) {
		set_err(err, errlen, "'%s' must be a string like \"10.00\"", key);
		return -1;
	}
	if (fixed_parse_count(json_string_value(v), json_string_length(v), &c) != 0) {
		set_err(err, errlen, "'%s' must be a count like \"10.00\" (digits, at most 2 "
			"decimals, at most 1000000000000)", key);
		return -1;
	}
	if (c <= 0) {
		set_err(err, errlen, "'%s' must be greater than 0", key);
		return -1;
	}
	*out = c;
	return 0;
}

/* Reads `v` (field `key`) as a dollar price string strictly between 0 and
 * 1. Returns 0 and writes *out (1/10000 $), or -1 with err set. */
static int read_price_dollars(const json_t *v, const char *key, int64_t *out,
			      char *err, size_t errlen)
{
	int64_t p;

	if (!json_is_string(v)) {
		set_err(err, errlen, "'%s' must be a string like \"0.56\"", key);
		return -1;
	}
	if (fixed_parse_dollars(json_string_value(v), json_string_length(v), &p) != 0) {
		set_err(err, errlen, "'%s' must be a dollar price like \"0.56\" (digits, at "
			"most 4 decimals)", key);
		return -1;
	}
	if (p <= 0 || p >= NORM_PRICE_ONE) {
		set_err(err, errlen, "'%s' must be between 0 and 1 dollar, both excluded", key);
		return -1;
	}
	*out = p;
	return 0;
}

/* Reads `v` (field `key`) as an integer price in cents, 1..99. Returns 0
 * and writes *out (1/10000 $), or -1 with err set. */
static int read_price_cents(const json_t *v, const char *key, int64_t *out,
			    char *err, size_t errlen)
{
	json_int_t c;

	if (!json_is_integer(v)) {
		set_err(err, errlen, "'%s' must be an integer number of cents", key);
		return -1;
	}
	c = json_integer_value(v);
	if (c < NORM_CENTS_MIN || c > NORM_CENTS_MAX) {
		set_err(err, errlen, "'%s' must be between %d and %d cents", key,
			NORM_CENTS_MIN, NORM_CENTS_MAX);
		return -1;
	}
	*out = (int64_t)c * 100;
	return 0;
}

/*
 * Reads the legacy count: "count" (integer >= 1) and/or "count_fp"
 * (fixed-point string > 0); when both are given they must agree. Returns 1
 * with *out written, 0 when neither is given, -1 with err set.
 */
static int read_legacy_count(const json_t *o, int64_t *out, char *err, size_t errlen)
{
	const json_t *ci = field(o, "count"), *cf = field(o, "count_fp");
	int64_t from_int = 0, from_fp = 0;

	if (ci != NULL) {
		json_int_t c;

		if (!json_is_integer(ci)) {
			set_err(err, errlen, "'count' must be an integer number of contracts "
				"(use 'count_fp' for fractions)");
			return -1;
		}
		c = json_integer_value(ci);
		if (c < 1) {
			set_err(err, errlen, "'count' must be at least 1");
			return -1;
		}
		if (c > FIXED_COUNT_MAX / 100) {
			set_err(err, errlen, "'count' must be at most %lld",
				(long long)(FIXED_COUNT_MAX / 100));
			return -1;
		}
		from_int = (int64_t)c * 100;
	}
	if (cf != NULL && read_count_string(cf, "count_fp", &from_fp, err, errlen) != 0)
		return -1;
	if (ci != NULL && cf != NULL && from_int != from_fp) {
		set_err(err, errlen, "'count' and 'count_fp' disagree");
		return -1;
	}
	if (ci == NULL && cf == NULL)
		return 0;
	*out = ci != NULL ? from_int : from_fp;
	return 1;
}

/*
 * Reads one side's legacy price: `cents_key` (integer cents) and/or
 * `dollars_key` (string); when both are given they must agree. Returns 1
 * with *out written (1/10000 $), 0 when neither is given, -1 with err set.
 */
static int read_legacy_side_price(const json_t *o, const char *cents_key,
				  const char *dollars_key, int64_t *out,
				  char *err, size_t errlen)
{
	const json_t *c = field(o, cents_key), *d = field(o, dollars_key);
	int64_t pc = 0, pd = 0;

	if (c != NULL && read_price_cents(c, cents_key, &pc, err, errlen) != 0)
		return -1;
	if (d != NULL && read_price_dollars(d, dollars_key, &pd, err, errlen) != 0)
		return -1;
	if (c != NULL && d != NULL && pc != pd) {
		set_err(err, errlen, "'%s' and '%s' disagree", cents_key, dollars_key);
		return -1;
	}
	if (c == NULL && d == NULL)
		return 0;
	*out = c != NULL ? pc : pd;
	return 1;
}

/*
 * Reads the legacy price as a YES price: a YES price as given, or a NO
 * price q as 1 - q. A YES price and a NO price together are refused.
 * Returns 1 with *out written, 0 when no price is given, -1 with err set.
 */
static int read_legacy_price(const json_t *o, int64_t *out, char *err, size_t errlen)
{
	int64_t yes = 0, no = 0;
	int has_yes, has_no;

	has_yes = read_legacy_side_price(o, "yes_price", "yes_price_dollars", &yes, err, errlen);
	if (has_yes < 0)
		return -1;
	has_no = read_legacy_side_price(o, "no_price", "no_price_dollars", &no, err, errlen);
	if (has_no < 0)
		return -1;
	if (has_yes && has_no) {
		set_err(err, errlen, "give a yes price or a no price, not both");
		return -1;
	}
	if (!has_yes && !has_no)
		return 0;
	/* no is in (0, 10000), so 10000 - no is too. */
	*out = has_yes ? yes : NORM_PRICE_ONE - no;
	return 1;
}

/*
 * The cost of `count` hundredths on book side `side_bid` at YES price
 * `yes_price` (0 < yes_price < 10000): the dollars at risk, rounded up to
 * 1/10000 $. Returns 0 and writes *out, or -1 when the product would not fit
 * in 64 bits (checked before multiplying).
 */
static int order_cost(int side_bid, int64_t count, int64_t yes_price, int64_t *out)
{
	int64_t per = side_bid ? yes_price : NORM_PRICE_ONE - yes_price;

	if (count < 0 || per <= 0 || per > NORM_PRICE_ONE)
		return -1;
	if (count > (INT64_MAX - 99) / per)
		return -1;
	*out = (count * per + 99) / 100;
	return 0;
}

/* Fills *out from checked parts, computing the cost. Returns 0, or -1 with
 * err set when the cost does not fit. */
static int build_order(const char *ticker, int side_bid, int64_t count, int64_t yes_price,
		       struct norm_order *out, char *err, size_t errlen)
{
	struct norm_order o;

	memset(&o, 0, sizeof(o));
	/* read_ticker guarantees strlen(ticker) < NORM_TICKER_MAX. */
	memcpy(o.ticker, ticker, strlen(ticker) + 1);
	o.side_bid = side_bid;
	o.count = count;
	o.yes_price = yes_price;
	o.has_price = 1;
	if (order_cost(side_bid, count, yes_price, &o.cost) != 0) {
		set_err(err, errlen, "order cost is too large");
		return -1;
	}
	*out = o;
	return 0;
}

/* Normalises a V2 create (see normalize.h). Pure and thread-safe. */
int normalize_v2(const json_t *order, struct norm_order *out, char *err, size_t errlen)
{
	char ticker[NORM_TICKER_MAX];
	const json_t *v;
	int64_t count, price;
	int bid;

	if (!json_is_object(order)) {
		set_err(err, errlen, "order is not a JSON object");
		return -1;
	}
	if (read_ticker(order, ticker, err, errlen) != 0 ||
	    read_choice(order, "side", "bid", "ask", &bid, err, errlen) != 0)
		return -1;
	v = field(order, "count");
	if (v == NULL) {
		set_err(err, errlen, "'count' is required");
		return -1;
	}
	if (read_count_string(v, "count", &count, err, errlen) != 0)
		return -1;
	v = field(order, "price");
	if (v == NULL) {
		set_err(err, errlen, "'price' is required");
		return -1;
	}
	if (read_price_dollars(v, "price", &price, err, errlen) != 0)
		return -1;
	return build_order(ticker, bid, count, price, out, err, errlen);
}

/* Maps legacy side and action to the book side: buy yes and sell no bid
 * for YES, buy no and sell yes offer YES. */
static int legacy_side_bid(int side_yes, int buy)
{
	return side_yes == buy;
}

/* Normalises a legacy create (see normalize.h). Pure and thread-safe. */
int normalize_legacy(const json_t *order, struct norm_order *out, char *err, size_t errlen)
{
	char ticker[NORM_TICKER_MAX];
	int64_t count = 0, price = 0;
	int yes, buy, r;

	if (!json_is_object(order)) {
		set_err(err, errlen, "order is not a JSON object");
		return -1;
	}
	if (read_ticker(order, ticker, err, errlen) != 0 ||
	    read_choice(order, "side", "yes", "no", &yes, err, errlen) != 0 ||
	    read_choice(order, "action", "buy", "sell", &buy, err, errlen) != 0)
		return -1;
	r = read_legacy_count(order, &count, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0) {
		set_err(err, errlen, "'count' or 'count_fp' is required");
		return -1;
	}
	r = read_legacy_price(order, &price, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0) {
		set_err(err, errlen, "one of 'yes_price', 'no_price', 'yes_price_dollars', "
			"'no_price_dollars' is required");
		return -1;
	}
	return build_order(ticker, legacy_side_bid(yes, buy), count, price, out, err, errlen);
}

/* Reads a V2 amend body (see normalize.h). Pure and thread-safe. */
int normalize_amend_v2(const json_t *body, struct norm_amend *out, char *err, size_t errlen)
{
	struct norm_amend a;
	const json_t *v;

	memset(&a, 0, sizeof(a));
	if (!json_is_object(body)) {
		set_err(err, errlen, "amend body is not a JSON object");
		return -1;
	}
	if (read_ticker(body, a.ticker, err, errlen) != 0 ||
	    read_choice(body, "side", "bid", "ask", &a.side_bid, err, errlen) != 0)
		return -1;
	v = field(body, "count");
	if (v != NULL) {
		if (read_count_string(v, "count", &a.count, err, errlen) != 0)
			return -1;
		a.has_count = 1;
	}
	v = field(body, "price");
	if (v != NULL) {
		if (read_price_dollars(v, "price", &a.yes_price, err, errlen) != 0)
			return -1;
		a.has_price = 1;
	}
	*out = a;
	return 0;
}

/* Reads a legacy amend body (see normalize.h). Pure and thread-safe. */
int normalize_amend_legacy(const json_t *body, struct norm_amend *out, char *err, size_t errlen)
{
	struct norm_amend a;
	int yes, buy, r;

	memset(&a, 0, sizeof(a));
	if (!json_is_object(body)) {
		set_err(err, errlen, "amend body is not a JSON object");
		return -1;
	}
	if (read_ticker(body, a.ticker, err, errlen) != 0 ||
	    read_choice(body, "side", "yes", "no", &yes, err, errlen) != 0 ||
	    read_choice(body, "action", "buy", "sell", &buy, err, errlen) != 0)
		return -1;
	a.side_bid = legacy_side_bid(yes, buy);
	r = read_legacy_count(body, &a.count, err, errlen);
	if (r < 0)
		return -1;
	a.has_count = r;
	r = read_legacy_price(body, &a.yes_price, err, errlen);
	if (r < 0)
		return -1;
	a.has_price = r;
	*out = a;
	return 0;
}

/* Turns an amend into the order it adds (see normalize.h). Counts from
 * the readers are at most FIXED_COUNT_MAX, so every product fits; a struct
 * filled some other way is clamped rather than overflowed. */
void normalize_amend_added(const struct norm_amend *a, int64_t prev_count,
			   struct norm_order *out)
{
	struct norm_order o;
	int64_t added = 0;

	memset(&o, 0, sizeof(o));
	memcpy(o.ticker, a->ticker, strnlen(a->ticker, sizeof(o.ticker) - 1));
	o.side_bid = a->side_bid;
	if (a->has_count && a->count > 0) {
		added = prev_count < 0 ? a->count
			: a->count > prev_count ? a->count - prev_count : 0;
		if (added > FIXED_COUNT_MAX)
			added = FIXED_COUNT_MAX;
	}
	o.count = added;
	if (a->has_price && a->yes_price > 0 && a->yes_price < NORM_PRICE_ONE) {
		o.has_price = 1;
		o.yes_price = a->yes_price;
		/* added <= FIXED_COUNT_MAX: cannot fail. */
		if (order_cost(o.side_bid, added, o.yes_price, &o.cost) != 0)
			o.cost = added * 100;
	} else {
		o.cost = added * 100;
	}
	*out = o;
}

/* Parses len bytes of body with duplicate keys refused; NULL with err set
 * when it is not one JSON value. The caller owns the result. */
static json_t *load(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (body == NULL || len == 0) {
		set_err(err, errlen, "body is empty");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL)
		set_err(err, errlen, "body is not valid JSON (line %d column %d)",
			jerr.line, jerr.column);
	return root;
}

/* Parses and normalises a create body (see normalize.h). Pure and
 * thread-safe; *out is the caller's to free. */
int normalize_body(const char *body, size_t len, int batch, int legacy,
		   struct norm_order **out, size_t *n, long *index,
		   char *err, size_t errlen)
{
	struct norm_order *orders = NULL;
	const json_t *list = NULL;
	json_t *root;
	size_t count = 1, i;
	long at = -1;
	int ret = -1;

	root = load(body, len, err, errlen);
	if (root == NULL)
		goto out;
	if (!json_is_object(root)) {
		set_err(err, errlen, "body is not a JSON object");
		goto out;
	}
	if (batch) {
		list = json_object_get(root, "orders");
		if (!json_is_array(list) || json_array_size(list) == 0) {
			set_err(err, errlen, "'orders' must be a non-empty array");
			goto out;
		}
		count = json_array_size(list);
		if (count > NORM_MAX_BATCH) {
			set_err(err, errlen, "'orders' has more than %d orders", NORM_MAX_BATCH);
			goto out;
		}
	}
	orders = calloc(count, sizeof(*orders));
	if (orders == NULL) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < count; i++) {
		const json_t *o = batch ? json_array_get(list, i) : root;
		int r = legacy ? normalize_legacy(o, &orders[i], err, errlen)
			       : normalize_v2(o, &orders[i], err, errlen);

		if (r != 0) {
			at = batch ? (long)i : -1;
			goto out;
		}
	}
	*out = orders;
	*n = count;
	orders = NULL;
	ret = 0;
out:
	*index = at;
	free(orders);
	json_decref(root);
	return ret;
}

/* Parses and reads an amend body (see normalize.h). Pure and thread-safe. */
int normalize_amend_body(const char *body, size_t len, int legacy, struct norm_amend *out,
			 char *err, size_t errlen)
{
	json_t *root = load(body, len, err, errlen);
	int ret;

	if (root == NULL)
		return -1;
	ret = legacy ? normalize_amend_legacy(root, out, err, errlen)
		     : normalize_amend_v2(root, out, err, errlen);
	json_decref(root);
	return ret;
}
