/*
 * Unit tests for policy/normalize: every order family and direction in one
 * fixed-point form, table by table; malformed numbers and fields refused
 * with a message naming the field; out-parameters untouched on failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "policy/fixed.h"
#include "policy/normalize.h"

/* One create: the body, and either the expected form or a piece of the
 * expected message. */
struct create_case {
	const char *json;
	int ok;
	int bid;
	int64_t count, yes_price, cost;
	const char *err;   /* substring of the message when !ok */
};

#define OK(j, b, c, p, k) { j, 1, b, c, p, k, NULL }
#define BAD(j, e) { j, 0, 0, 0, 0, 0, e }

static const struct create_case v2_cases[] = {
	/* directions, cost = count x price (bid) or count x (1 - price) (ask) */
	OK("{\"ticker\":\"KX-A\",\"side\":\"bid\",\"count\":\"10\",\"price\":\"0.56\"}",
	   1, 1000, 5600, 56000),
	OK("{\"ticker\":\"KX-A\",\"side\":\"ask\",\"count\":\"10.00\",\"price\":\"0.5600\"}",
	   0, 1000, 5600, 44000),
	/* edge prices */
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.01\"}", 1, 100, 100, 100),
	OK("{\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"1\",\"price\":\"0.01\"}", 0, 100, 100, 9900),
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.99\"}", 1, 100, 9900, 9900),
	OK("{\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"1\",\"price\":\"0.99\"}", 0, 100, 9900, 100),
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.0001\"}", 1, 100, 1, 1),
	OK("{\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"1\",\"price\":\"0.9999\"}", 0, 100, 9999, 1),
	/* fractional counts and rounding up of the cost */
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0.01\",\"price\":\"0.50\"}", 1, 1, 5000, 50),
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"2.50\",\"price\":\"0.3333\"}",
	   1, 250, 3333, 8333),            /* 8332.5 rounds up */
	OK("{\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"2.5\",\"price\":\"0.6667\"}",
	   0, 250, 6667, 8333),
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0.01\",\"price\":\"0.0001\"}", 1, 1, 1, 1),
	OK("{\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"0.01\",\"price\":\"0.9999\"}", 0, 1, 9999, 1),
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0.03\",\"price\":\"0.0001\"}", 1, 3, 1, 1),
	/* the largest count: still no overflow */
	OK("{\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"1000000000000\",\"price\":\"0.0001\"}",
	   0, FIXED_COUNT_MAX, 1, FIXED_COUNT_MAX * 9999 / 100),
	/* other keys ignored, null optional keys fine */
	OK("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"3\",\"price\":\"0.5\",\"post_only\":true,"
	   "\"expiration_time\":null,\"time_in_force\":\"good_till_canceled\"}", 1, 300, 5000, 15000),
	/* counts */
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1e2\",\"price\":\"0.5\"}", "'count'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"-1\",\"price\":\"0.5\"}", "'count'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0\",\"price\":\"0.5\"}",
	    "'count' must be greater than 0"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0.00\",\"price\":\"0.5\"}",
	    "'count' must be greater than 0"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"\",\"price\":\"0.5\"}", "'count'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0.001\",\"price\":\"0.5\"}", "'count'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\" 1\",\"price\":\"0.5\"}", "'count'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":10,\"price\":\"0.5\"}",
	    "'count' must be a string"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":10.5,\"price\":\"0.5\"}",
	    "'count' must be a string"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":null,\"price\":\"0.5\"}",
	    "'count' is required"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"price\":\"0.5\"}", "'count' is required"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1000000000000.01\",\"price\":\"0.5\"}",
	    "'count'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"99999999999999999999999\",\"price\":\"0.5\"}",
	    "'count'"),
	/* prices */
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0\"}",
	    "'price' must be between 0 and 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.0000\"}",
	    "'price' must be between 0 and 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"1\"}",
	    "'price' must be between 0 and 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"1.00\"}",
	    "'price' must be between 0 and 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.00001\"}", "'price'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"-0.5\"}", "'price'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"5e-1\"}", "'price'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\".5\"}", "'price'"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":0.5}",
	    "'price' must be a string"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":56}",
	    "'price' must be a string"),
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\"}", "'price' is required"),
	/* side and ticker */
	BAD("{\"ticker\":\"T\",\"side\":\"buy\",\"count\":\"1\",\"price\":\"0.5\"}",
	    "'side' must be \"bid\" or \"ask\""),
	BAD("{\"ticker\":\"T\",\"side\":\"BID\",\"count\":\"1\",\"price\":\"0.5\"}", "'side'"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"count\":\"1\",\"price\":\"0.5\"}", "'side'"),
	BAD("{\"ticker\":\"T\",\"count\":\"1\",\"price\":\"0.5\"}", "'side' is required"),
	BAD("{\"ticker\":\"T\",\"side\":1,\"count\":\"1\",\"price\":\"0.5\"}", "'side'"),
	BAD("{\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}", "'ticker' is required"),
	BAD("{\"ticker\":\"\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}",
	    "'ticker' must not be empty"),
	BAD("{\"ticker\":7,\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}",
	    "'ticker' must be a string"),
	BAD("[1]", "not a JSON object"),
	BAD("\"order\"", "not a JSON object"),
};

static const struct create_case legacy_cases[] = {
	/* the four directions, with the YES price and the NO price */
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":10,\"yes_price\":56}",
	   1, 1000, 5600, 56000),
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"sell\",\"count\":10,\"no_price\":44}",
	   1, 1000, 5600, 56000),
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":10,\"no_price\":44}",
	   0, 1000, 5600, 44000),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"sell\",\"count\":10,\"yes_price\":56}",
	   0, 1000, 5600, 44000),
	/* a price of the other side is converted, not refused */
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,\"yes_price\":56}",
	   0, 100, 5600, 4400),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"no_price\":44}",
	   1, 100, 5600, 5600),
	/* edge prices in cents and dollars */
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":1}",
	   1, 100, 100, 100),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":99}",
	   1, 100, 9900, 9900),
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,\"no_price\":1}",
	   0, 100, 9900, 100),
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,\"no_price\":99}",
	   0, 100, 100, 9900),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	   "\"yes_price_dollars\":\"0.01\"}", 1, 100, 100, 100),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"sell\",\"count\":1,"
	   "\"yes_price_dollars\":\"0.99\"}", 0, 100, 9900, 100),
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"sell\",\"count\":1,"
	   "\"no_price_dollars\":\"0.4400\"}", 1, 100, 5600, 5600),
	OK("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,"
	   "\"no_price_dollars\":\"0.0001\"}", 0, 100, 9999, 1),
	/* cents and dollars of one side together, agreeing */
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":56,"
	   "\"yes_price_dollars\":\"0.5600\"}", 1, 100, 5600, 5600),
	/* count and count_fp */
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"2.50\","
	   "\"yes_price\":50}", 1, 250, 5000, 12500),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"0.01\","
	   "\"yes_price\":33}", 1, 1, 3300, 33),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":10,"
	   "\"count_fp\":\"10.00\",\"yes_price\":50}", 1, 1000, 5000, 50000),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1000000000000,"
	   "\"yes_price\":99}", 1, FIXED_COUNT_MAX, 9900, FIXED_COUNT_MAX * 99),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"count_fp\":null,"
	   "\"yes_price\":50,\"no_price\":null}", 1, 100, 5000, 5000),
	/* counts */
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":0,\"yes_price\":50}",
	    "'count' must be at least 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":-1,\"yes_price\":50}",
	    "'count' must be at least 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1000000000001,"
	    "\"yes_price\":50}", "'count' must be at most"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":9223372036854775807,"
	    "\"yes_price\":50}", "'count' must be at most"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":\"10\",\"yes_price\":50}",
	    "'count' must be an integer"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1.0,\"yes_price\":50}",
	    "'count' must be an integer"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":10,\"yes_price\":50}",
	    "'count_fp' must be a string"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"0\",\"yes_price\":50}",
	    "'count_fp' must be greater than 0"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"0.001\","
	    "\"yes_price\":50}", "'count_fp'"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"1e2\","
	    "\"yes_price\":50}", "'count_fp'"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"-1\","
	    "\"yes_price\":50}", "'count_fp'"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"\","
	    "\"yes_price\":50}", "'count_fp'"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":10,"
	    "\"count_fp\":\"10.01\",\"yes_price\":50}", "'count' and 'count_fp' disagree"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"yes_price\":50}",
	    "'count' or 'count_fp' is required"),
	/* prices */
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":100}",
	    "'yes_price' must be between 1 and 99 cents"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":0}",
	    "'yes_price' must be between 1 and 99 cents"),
	BAD("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,\"no_price\":100}",
	    "'no_price' must be between 1 and 99 cents"),
	BAD("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,\"no_price\":-3}",
	    "'no_price' must be between 1 and 99 cents"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":\"56\"}",
	    "'yes_price' must be an integer number of cents"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":56.0}",
	    "'yes_price' must be an integer number of cents"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	    "\"yes_price_dollars\":\"1.00\"}", "'yes_price_dollars' must be between 0 and 1"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	    "\"yes_price_dollars\":\"0\"}", "'yes_price_dollars' must be between 0 and 1"),
	OK("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	   "\"yes_price_dollars\":\"0.001\"}", 1, 100, 10, 10),  /* 4 decimals allowed */
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	    "\"yes_price_dollars\":\"0.00001\"}", "'yes_price_dollars' must be a dollar price"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	    "\"yes_price_dollars\":0.5}", "'yes_price_dollars' must be a string"),
	BAD("{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"count\":1,"
	    "\"no_price_dollars\":\"1e-1\"}", "'no_price_dollars'"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":56,"
	    "\"yes_price_dollars\":\"0.57\"}", "'yes_price' and 'yes_price_dollars' disagree"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":56,"
	    "\"no_price\":44}", "not both"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	    "\"yes_price_dollars\":\"0.56\",\"no_price_dollars\":\"0.44\"}", "not both"),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1}",
	    "one of 'yes_price', 'no_price', 'yes_price_dollars', 'no_price_dollars' is required"),
	/* side, action, ticker */
	BAD("{\"ticker\":\"T\",\"side\":\"bid\",\"action\":\"buy\",\"count\":1,\"yes_price\":5}",
	    "'side' must be \"yes\" or \"no\""),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"BUY\",\"count\":1,\"yes_price\":5}",
	    "'action' must be \"buy\" or \"sell\""),
	BAD("{\"ticker\":\"T\",\"side\":\"yes\",\"count\":1,\"yes_price\":5}", "'action' is required"),
	BAD("{\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":5}", "'ticker' is required"),
	BAD("{\"ticker\":null,\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":5}",
	    "'ticker' is required"),
};

/* Whether msg is non-empty printable ASCII. */
static int printable(const char *msg)
{
	if (msg[0] == '\0')
		return 0;
	for (; *msg != '\0'; msg++)
		if ((unsigned char)*msg < 0x20 || (unsigned char)*msg >= 0x7f)
			return 0;
	return 1;
}

typedef int (*create_fn)(const json_t *, struct norm_order *, char *, size_t);

/* Runs a table of creates through fn, checking results and that *out is
 * untouched and err set on failure. */
static void run_create_table(const struct create_case *t, size_t n, create_fn fn)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct norm_order out, sentinel;
		char err[256] = "";
		json_error_t jerr;
		json_t *j = json_loads(t[i].json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
		int r;

		if (j == NULL)
			fail_msg("case %zu does not parse: %s", i, jerr.text);
		memset(&out, 0xAB, sizeof(out));
		memcpy(&sentinel, &out, sizeof(out));
		r = fn(j, &out, err, sizeof(err));
		if (t[i].ok) {
			if (r != 0)
				fail_msg("case %zu (%s) refused: %s", i, t[i].json, err);
			assert_string_equal(err, "");
			assert_int_equal(out.side_bid, t[i].bid);
			assert_int_equal(out.count, t[i].count);
			assert_int_equal(out.yes_price, t[i].yes_price);
			assert_int_equal(out.cost, t[i].cost);
			assert_int_equal(out.has_price, 1);
			assert_true(out.cost > 0 && out.cost <= out.count * 100);
			assert_non_null(memchr(out.ticker, '\0', sizeof(out.ticker)));
		} else {
			if (r != -1)
				fail_msg("case %zu (%s) accepted", i, t[i].json);
			assert_memory_equal(&out, &sentinel, sizeof(out));
			assert_true(printable(err));
			if (t[i].err != NULL && strstr(err, t[i].err) == NULL)
				fail_msg("case %zu (%s): message '%s' lacks '%s'", i, t[i].json,
					 err, t[i].err);
		}
		json_decref(j);
	}
}

/* V2 creates: both sides, edge prices, fractional counts, malformed fields. */
static void test_v2_table(void **state)
{
	(void)state;
	run_create_table(v2_cases, sizeof(v2_cases) / sizeof(v2_cases[0]), normalize_v2);
}

/* Legacy creates: the four directions, cents and dollars, count and count_fp. */
static void test_legacy_table(void **state)
{
	(void)state;
	run_create_table(legacy_cases, sizeof(legacy_cases) / sizeof(legacy_cases[0]),
			 normalize_legacy);
}

/* The same order in every family gives the same form. */
static void test_families_agree(void **state)
{
	static const char *const bids[] = {
		"{\"ticker\":\"KX\",\"side\":\"bid\",\"count\":\"7.25\",\"price\":\"0.37\"}",
		"{\"ticker\":\"KX\",\"side\":\"yes\",\"action\":\"buy\",\"count_fp\":\"7.25\",\"yes_price\":37}",
		"{\"ticker\":\"KX\",\"side\":\"no\",\"action\":\"sell\",\"count_fp\":\"7.25\",\"no_price\":63}",
		("{\"ticker\":\"KX\",\"side\":\"no\",\"action\":\"sell\",\"count_fp\":\"7.25\","
		 "\"no_price_dollars\":\"0.63\"}"),
	};
	struct norm_order first, o;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bids) / sizeof(bids[0]); i++) {
		json_t *j = json_loads(bids[i], 0, NULL);

		assert_non_null(j);
		memset(&o, 0, sizeof(o));
		assert_int_equal(i == 0 ? normalize_v2(j, &o, err, sizeof(err))
				 : normalize_legacy(j, &o, err, sizeof(err)), 0);
		if (i == 0)
			first = o;
		assert_memory_equal(&o, &first, sizeof(o));
		json_decref(j);
	}
	assert_string_equal(first.ticker, "KX");
	assert_int_equal(first.side_bid, 1);
	assert_int_equal(first.count, 725);
	assert_int_equal(first.yes_price, 3700);
	assert_int_equal(first.cost, 26825);   /* 7.25 x 0.37 = 2.6825 */
}

/* Tickers up to 127 bytes are copied whole, longer ones refused, never
 * cut; a ticker with a NUL is refused. */
static void test_ticker_length(void **state)
{
	char ticker[200], body[400], err[128];
	struct norm_order o;
	json_t *j;

	(void)state;
	memset(ticker, 'A', sizeof(ticker));
	ticker[127] = '\0';
	snprintf(body, sizeof(body),
		 "{\"ticker\":\"%s\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}", ticker);
	j = json_loads(body, 0, NULL);
	assert_int_equal(normalize_v2(j, &o, err, sizeof(err)), 0);
	assert_string_equal(o.ticker, ticker);
	json_decref(j);

	ticker[127] = 'A';
	ticker[128] = '\0';
	snprintf(body, sizeof(body),
		 "{\"ticker\":\"%s\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}", ticker);
	j = json_loads(body, 0, NULL);
	assert_int_equal(normalize_v2(j, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "'ticker' is longer than 127 bytes");
	json_decref(j);

	j = json_pack("{s:s#,s:s,s:s,s:s}", "ticker", "A\0B", (int)3, "side", "bid",
		      "count", "1", "price", "0.5");
	assert_non_null(j);
	assert_int_equal(normalize_v2(j, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "'ticker' must not contain a NUL character");
	json_decref(j);
}

/* A NULL or zero-sized error buffer is allowed; a small one truncates. */
static void test_err_buffers(void **state)
{
	json_t *j = json_loads("{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0\",\"price\":\"0.5\"}",
			       0, NULL);
	struct norm_order o;
	char small[8];

	(void)state;
	assert_int_equal(normalize_v2(j, &o, NULL, 0), -1);
	assert_int_equal(normalize_v2(j, &o, small, sizeof(small)), -1);
	assert_string_equal(small, "'count'");
	json_decref(j);
}

/* One amend: body, expected reading or message piece. */
struct amend_case {
	const char *json;
	int ok;
	int bid, has_count;
	int64_t count;
	int has_price;
	int64_t yes_price;
	const char *err;
};

static const struct amend_case amend_v2_cases[] = {
	{ "{\"ticker\":\"T\",\"side\":\"bid\",\"price\":\"0.56\",\"count\":\"12\"}",
	  1, 1, 1, 1200, 1, 5600, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"ask\",\"price\":\"0.01\",\"count\":\"0.01\","
	  "\"client_order_id\":\"a\",\"updated_client_order_id\":\"b\"}", 1, 0, 1, 1, 1, 100, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"ask\",\"price\":\"0.99\"}", 1, 0, 0, 0, 1, 9900, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"3\"}", 1, 1, 1, 300, 0, 0, NULL },
	{ "{\"side\":\"bid\",\"price\":\"0.5\",\"count\":\"1\"}", 0, 0, 0, 0, 0, 0,
	  "'ticker' is required" },
	{ "{\"ticker\":\"T\",\"price\":\"0.5\",\"count\":\"1\"}", 0, 0, 0, 0, 0, 0,
	  "'side' is required" },
	{ "{\"ticker\":\"T\",\"side\":\"bid\",\"price\":\"1\",\"count\":\"1\"}", 0, 0, 0, 0, 0, 0,
	  "'price' must be between 0 and 1" },
	{ "{\"ticker\":\"T\",\"side\":\"bid\",\"price\":\"0.5\",\"count\":\"0\"}", 0, 0, 0, 0, 0, 0,
	  "'count' must be greater than 0" },
	{ "{\"ticker\":\"T\",\"side\":\"bid\",\"price\":\"0.5\",\"count\":5}", 0, 0, 0, 0, 0, 0,
	  "'count' must be a string" },
	{ "[]", 0, 0, 0, 0, 0, 0, "amend body is not a JSON object" },
};

static const struct amend_case amend_legacy_cases[] = {
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"yes_price\":56,\"count\":12}",
	  1, 1, 1, 1200, 1, 5600, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"no_price\":44,\"count_fp\":\"2.50\"}",
	  1, 0, 1, 250, 1, 5600, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"sell\",\"no_price_dollars\":\"0.10\"}",
	  1, 1, 0, 0, 1, 9000, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"sell\",\"count\":4}",
	  1, 0, 1, 400, 0, 0, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"sell\",\"subaccount\":0}",
	  1, 0, 0, 0, 0, 0, NULL },
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"yes_price\":56,\"no_price\":44}",
	  0, 0, 0, 0, 0, 0, "not both" },
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":2,\"count_fp\":\"3\"}",
	  0, 0, 0, 0, 0, 0, "disagree" },
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"yes_price\":56}", 0, 0, 0, 0, 0, 0,
	  "'action' is required" },
	{ "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"yes_price\":0}", 0, 0, 0, 0, 0, 0,
	  "'yes_price' must be between 1 and 99 cents" },
};

typedef int (*amend_fn)(const json_t *, struct norm_amend *, char *, size_t);

/* Runs a table of amends through fn. */
static void run_amend_table(const struct amend_case *t, size_t n, amend_fn fn)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct norm_amend out, sentinel;
		char err[256] = "";
		json_t *j = json_loads(t[i].json, JSON_DECODE_ANY, NULL);
		int r;

		assert_non_null(j);
		memset(&out, 0x5A, sizeof(out));
		memcpy(&sentinel, &out, sizeof(out));
		r = fn(j, &out, err, sizeof(err));
		if (t[i].ok) {
			if (r != 0)
				fail_msg("amend %zu (%s) refused: %s", i, t[i].json, err);
			assert_string_equal(out.ticker, "T");
			assert_int_equal(out.side_bid, t[i].bid);
			assert_int_equal(out.has_count, t[i].has_count);
			assert_int_equal(out.count, t[i].count);
			assert_int_equal(out.has_price, t[i].has_price);
			assert_int_equal(out.yes_price, t[i].yes_price);
		} else {
			if (r != -1)
				fail_msg("amend %zu (%s) accepted", i, t[i].json);
			assert_memory_equal(&out, &sentinel, sizeof(out));
			if (strstr(err, t[i].err) == NULL)
				fail_msg("amend %zu: message '%s' lacks '%s'", i, err, t[i].err);
		}
		json_decref(j);
	}
}

/* V2 amends: ticker and side required, count and price optional. */
static void test_amend_v2_table(void **state)
{
	(void)state;
	run_amend_table(amend_v2_cases, sizeof(amend_v2_cases) / sizeof(amend_v2_cases[0]),
			normalize_amend_v2);
}

/* Legacy amends: the direction mapping, optional count and price. */
static void test_amend_legacy_table(void **state)
{
	(void)state;
	run_amend_table(amend_legacy_cases,
			sizeof(amend_legacy_cases) / sizeof(amend_legacy_cases[0]),
			normalize_amend_legacy);
}

/* What an amend adds: the increase over the known total, everything when
 * unknown, nothing for a decrease or no count; worst-case cost without a
 * price. */
static void test_amend_added(void **state)
{
	static const struct {
		int bid, has_count;
		int64_t count;
		int has_price;
		int64_t price, prev;
		int64_t want_count, want_price, want_cost;
		int want_has_price;
	} t[] = {
		{ 1, 1, 1500, 1, 5600, 1000, 500, 5600, 28000, 1 },
		{ 0, 1, 1500, 1, 5600, 1000, 500, 5600, 22000, 1 },
		{ 1, 1, 1500, 1, 5600, -1, 1500, 5600, 84000, 1 },
		{ 1, 1, 1500, 1, 5600, 2000, 0, 5600, 0, 1 },
		{ 1, 1, 1500, 1, 5600, 1500, 0, 5600, 0, 1 },
		{ 1, 0, 0, 1, 5600, 1000, 0, 5600, 0, 1 },
		{ 1, 1, 1500, 0, 0, 1000, 500, 0, 50000, 0 },
		{ 0, 1, 3, 0, 0, -1, 3, 0, 300, 0 },
		{ 1, 1, 3, 1, 1, -1, 3, 1, 1, 1 },
		/* a struct filled by hand beyond the range is clamped, not overflowed */
		{ 1, 1, INT64_MAX, 1, 9999, -1, FIXED_COUNT_MAX, 9999, FIXED_COUNT_MAX * 9999 / 100, 1 },
		{ 1, 1, INT64_MAX, 0, 0, -1, FIXED_COUNT_MAX, 0, FIXED_COUNT_MAX * 100, 0 },
		/* an out-of-range price is treated as none */
		{ 1, 1, 100, 1, 10000, -1, 100, 0, 10000, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct norm_amend a;
		struct norm_order o;

		memset(&a, 0, sizeof(a));
		strcpy(a.ticker, "KX");
		a.side_bid = t[i].bid;
		a.has_count = t[i].has_count;
		a.count = t[i].count;
		a.has_price = t[i].has_price;
		a.yes_price = t[i].price;
		normalize_amend_added(&a, t[i].prev, &o);
		if (o.count != t[i].want_count || o.yes_price != t[i].want_price ||
		    o.cost != t[i].want_cost || o.has_price != t[i].want_has_price)
			fail_msg("case %zu: count %lld price %lld cost %lld has_price %d", i,
				 (long long)o.count, (long long)o.yes_price, (long long)o.cost,
				 o.has_price);
		assert_string_equal(o.ticker, "KX");
		assert_int_equal(o.side_bid, t[i].bid);
	}
}

/* Whole bodies: single, batch, the failing element named, bad JSON. */
static void test_body(void **state)
{
	static const struct {
		const char *body;
		int batch, legacy, ok;
		size_t n;
		long index;
		const char *err;
	} t[] = {
		{ "{\"ticker\":\"A\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}",
		  0, 0, 1, 1, -1, NULL },
		{ "{\"orders\":[{\"ticker\":\"A\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"},"
		  "{\"ticker\":\"B\",\"side\":\"ask\",\"count\":\"2\",\"price\":\"0.25\"}]}",
		  1, 0, 1, 2, -1, NULL },
		{ "{\"orders\":[{\"ticker\":\"A\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
		  "\"yes_price\":50}]}", 1, 1, 1, 1, -1, NULL },
		{ "{\"orders\":[{\"ticker\":\"A\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"},"
		  "{\"ticker\":\"B\",\"side\":\"ask\",\"count\":\"2\",\"price\":\"0.25\"},"
		  "{\"ticker\":\"C\",\"side\":\"ask\",\"count\":\"0\",\"price\":\"0.25\"}]}",
		  1, 0, 0, 0, 2, "'count' must be greater than 0" },
		{ "{\"orders\":[]}", 1, 0, 0, 0, -1, "'orders' must be a non-empty array" },
		{ "{\"orders\":{}}", 1, 0, 0, 0, -1, "'orders' must be a non-empty array" },
		{ "{}", 1, 0, 0, 0, -1, "'orders' must be a non-empty array" },
		{ "{\"orders\":[7]}", 1, 0, 0, 0, 0, "order is not a JSON object" },
		{ "[]", 0, 0, 0, 0, -1, "body is not a JSON object" },
		{ "", 0, 0, 0, 0, -1, "body is empty" },
		{ "{\"ticker\":", 0, 0, 0, 0, -1, "body is not valid JSON" },
		{ "{\"ticker\":\"A\",\"ticker\":\"B\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}",
		  0, 0, 0, 0, -1, "body is not valid JSON" },
		{ "{\"ticker\":\"A\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"} x",
		  0, 0, 0, 0, -1, "body is not valid JSON" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		static struct norm_order dummy;
		struct norm_order *out = &dummy;
		size_t n = 99;
		long index = 42;
		char err[256] = "";
		int r = normalize_body(t[i].body, strlen(t[i].body), t[i].batch, t[i].legacy,
				       &out, &n, &index, err, sizeof(err));

		if (t[i].ok) {
			if (r != 0)
				fail_msg("body %zu refused: %s", i, err);
			assert_int_equal(n, t[i].n);
			assert_int_equal(index, -1);
			assert_true(out[0].count > 0);
			free(out);
		} else {
			if (r != -1)
				fail_msg("body %zu accepted", i);
			assert_ptr_equal(out, &dummy);
			assert_int_equal(n, 99);
			assert_int_equal(index, t[i].index);
			if (strstr(err, t[i].err) == NULL)
				fail_msg("body %zu: message '%s' lacks '%s'", i, err, t[i].err);
		}
	}
}

/* A batch of more than 1000 orders is refused. */
static void test_body_batch_cap(void **state)
{
	const char *one = "{\"ticker\":\"A\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}";
	size_t len = strlen(one), i, pos = 0, cap = 1001 * (len + 1) + 32;
	char *body = malloc(cap);
	struct norm_order *out = NULL;
	size_t n = 0;
	long index = 0;
	char err[128];

	(void)state;
	assert_non_null(body);
	pos += (size_t)snprintf(body, cap, "{\"orders\":[");
	for (i = 0; i < 1001; i++) {
		if (i > 0)
			body[pos++] = ',';
		memcpy(body + pos, one, len);
		pos += len;
	}
	memcpy(body + pos, "]}", 3);
	pos += 2;
	assert_int_equal(normalize_body(body, pos, 1, 0, &out, &n, &index, err, sizeof(err)), -1);
	assert_string_equal(err, "'orders' has more than 1000 orders");
	/* 1000 exactly is fine: cut the last element off */
	pos -= 2 + len + 1;
	memcpy(body + pos, "]}", 3);
	pos += 2;
	assert_int_equal(normalize_body(body, pos, 1, 0, &out, &n, &index, err, sizeof(err)), 0);
	assert_int_equal(n, 1000);
	free(out);
	free(body);
}

/* Amend bodies from bytes, in both families. */
static void test_amend_body(void **state)
{
	const char *v2 = "{\"ticker\":\"T\",\"side\":\"ask\",\"price\":\"0.40\",\"count\":\"5\"}";
	const char *legacy = "{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\",\"no_price\":60}";
	struct norm_amend a;
	char err[128];

	(void)state;
	assert_int_equal(normalize_amend_body(v2, strlen(v2), 0, &a, err, sizeof(err)), 0);
	assert_int_equal(a.side_bid, 0);
	assert_int_equal(a.count, 500);
	assert_int_equal(a.yes_price, 4000);
	assert_int_equal(normalize_amend_body(legacy, strlen(legacy), 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.side_bid, 0);
	assert_int_equal(a.has_count, 0);
	assert_int_equal(a.yes_price, 4000);
	assert_int_equal(normalize_amend_body(v2, strlen(v2), 1, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "'side' must be \"yes\" or \"no\"");
	assert_int_equal(normalize_amend_body("{", 1, 0, &a, err, sizeof(err)), -1);
	assert_int_equal(normalize_amend_body(NULL, 0, 0, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "body is empty");
}

/* Runs every test; non-zero exit on any failure. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_table),
		cmocka_unit_test(test_legacy_table),
		cmocka_unit_test(test_families_agree),
		cmocka_unit_test(test_ticker_length),
		cmocka_unit_test(test_err_buffers),
		cmocka_unit_test(test_amend_v2_table),
		cmocka_unit_test(test_amend_legacy_table),
		cmocka_unit_test(test_amend_added),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_batch_cap),
		cmocka_unit_test(test_amend_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
