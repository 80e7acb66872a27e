/*
 * Unit tests for policy/limits: key-by-key merging, glob matching, every
 * per-order limit on both sides of its boundary with the exact refusal
 * fields, session caps (whole session, client share, filled + resting),
 * batches refused whole with the failing index, and the orders-per-second
 * bucket driven by an injected clock.
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
#include "policy/limits.h"

/* Lists used by the tables (gw_strlist wants char **). */
static char t_btc[] = "KXBTC*", t_eth[] = "KXETH-24", t_bad[] = "KXBTC-BAD?";
static char *allow_items[] = { t_btc, t_eth };
static char *deny_items[] = { t_bad };
static const struct gw_strlist allow_list = { allow_items, 2 };
static const struct gw_strlist deny_list = { deny_items, 1 };
static const struct gw_strlist empty_list = { NULL, 0 };

/* A normalised order with a ticker, direction, count, price; cost worked
 * out as normalize.c does. */
static struct norm_order order(const char *ticker, int bid, int64_t count, int64_t price)
{
	struct norm_order o;
	int64_t per = bid ? price : 10000 - price;

	memset(&o, 0, sizeof(o));
	snprintf(o.ticker, sizeof(o.ticker), "%s", ticker);
	o.side_bid = bid;
	o.count = count;
	o.yes_price = price;
	o.has_price = 1;
	o.cost = (count * per + 99) / 100;
	return o;
}

/* Effective limits with every per-order key set. */
static struct limits_eff full_limits(void)
{
	struct limits_eff l;

	memset(&l, 0, sizeof(l));
	l.has_max_order_contracts = 1;
	l.max_order_contracts = 10000;          /* 100.00 */
	l.has_max_order_cost = 1;
	l.max_order_cost = 500000;              /* 50.0000 $ */
	l.has_min_price = 1;
	l.min_price = 1000;                     /* 0.1000 */
	l.has_max_price = 1;
	l.max_price = 9000;                     /* 0.9000 */
	l.tickers = &allow_list;
	l.deny_tickers = &deny_list;
	return l;
}

/* One per-order case: the order, and the refusal expected (limit NULL =
 * accepted). */
struct order_case {
	const char *ticker;
	int bid;
	int64_t count, price;
	const char *limit, *requested, *allowed, *details; /* allowed NULL = JSON null */
};

static const struct order_case order_cases[] = {
	/* max_order_contracts: 100.00 passes, 100.01 does not (price 0.40 keeps cost low) */
	{ "KXBTC-1", 1, 10000, 4000, NULL, NULL, NULL, NULL },
	{ "KXBTC-1", 1, 10001, 1000, "max_order_contracts", "100.01", "100.00",
	  "order for 100.01 contracts is over max_order_contracts 100.00" },
	/* max_order_cost: 50.0000 passes, 50.0001 does not: bid and ask */
	{ "KXBTC-1", 1, 10000, 5000, NULL, NULL, NULL, NULL },              /* 100 x 0.50 = 50 */
	{ "KXBTC-1", 0, 10000, 5000, NULL, NULL, NULL, NULL },
	{ "KXBTC-1", 1, 9999, 5001, "max_order_cost", "50.0050", "50.0000",
	  "order costs 50.0050 dollars, over max_order_cost 50.0000" },
	{ "KXBTC-1", 1, 1, 5001, NULL, NULL, NULL, NULL },
	{ "KXBTC-1", 0, 10000, 4999, "max_order_cost", "50.0100", "50.0000",
	  "order costs 50.0100 dollars, over max_order_cost 50.0000" },
	/* min_price 0.1000 and max_price 0.9000 on the YES price, for asks too */
	{ "KXBTC-1", 1, 100, 1000, NULL, NULL, NULL, NULL },
	{ "KXBTC-1", 1, 100, 999, "min_price", "0.0999", "0.1000",
	  "yes price 0.0999 is under min_price 0.1000" },
	{ "KXBTC-1", 0, 100, 999, "min_price", "0.0999", "0.1000",
	  "yes price 0.0999 is under min_price 0.1000" },
	{ "KXBTC-1", 0, 100, 9000, NULL, NULL, NULL, NULL },
	{ "KXBTC-1", 0, 100, 9001, "max_price", "0.9001", "0.9000",
	  "yes price 0.9001 is over max_price 0.9000" },
	/* tickers: globs and exact names; deny wins over allow */
	{ "KXETH-24", 1, 100, 5000, NULL, NULL, NULL, NULL },
	{ "KXETH-25", 1, 100, 5000, "tickers", "KXETH-25", "KXBTC*, KXETH-24",
	  "ticker 'KXETH-25' is not in tickers (KXBTC*, KXETH-24)" },
	{ "kxbtc-1", 1, 100, 5000, "tickers", "kxbtc-1", "KXBTC*, KXETH-24",
	  "ticker 'kxbtc-1' is not in tickers (KXBTC*, KXETH-24)" },
	{ "KXBTC-BAD1", 1, 100, 5000, "deny_tickers", "KXBTC-BAD1", NULL,
	  "ticker 'KXBTC-BAD1' matches 'KXBTC-BAD?' in deny_tickers" },
	{ "KXBTC-BAD12", 1, 100, 5000, NULL, NULL, NULL, NULL },
	/* several limits broken at once: the ticker rules are reported first */
	{ "KXBTC-BAD1", 1, 99999, 9999, "deny_tickers", "KXBTC-BAD1", NULL,
	  "ticker 'KXBTC-BAD1' matches 'KXBTC-BAD?' in deny_tickers" },
	{ "OTHER", 1, 99999, 9999, "tickers", "OTHER", "KXBTC*, KXETH-24",
	  "ticker 'OTHER' is not in tickers (KXBTC*, KXETH-24)" },
	{ "KXBTC-1", 1, 99999, 9999, "max_order_contracts", "999.99", "100.00",
	  "order for 999.99 contracts is over max_order_contracts 100.00" },
	/* client text is quoted as printable ASCII */
	{ "K\xc3\xa9\n", 1, 100, 5000, "tickers", "K?\?\?", "KXBTC*, KXETH-24",
	  "ticker 'K?\?\?' is not in tickers (KXBTC*, KXETH-24)" },
};

/* Checks a refusal against the expected fields. */
static void check_refusal(const struct limits_refusal *r, const char *limit,
			  const char *requested, const char *allowed, const char *details,
			  long index)
{
	char msg[96];

	assert_non_null(r->limit);
	assert_string_equal(r->limit, limit);
	snprintf(msg, sizeof(msg), "order exceeds %s", limit);
	assert_string_equal(r->message, msg);
	if (requested != NULL)
		assert_string_equal(r->requested, requested);
	if (allowed == NULL) {
		assert_int_equal(r->allowed_null, 1);
	} else {
		assert_int_equal(r->allowed_null, 0);
		assert_string_equal(r->allowed, allowed);
	}
	assert_string_equal(r->details, details);
	assert_int_equal(r->index, index);
}

/* Every per-order limit on both sides of its boundary, exact refusal fields. */
static void test_order_table(void **state)
{
	struct limits_eff l = full_limits();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]); i++) {
		const struct order_case *c = &order_cases[i];
		struct norm_order o = order(c->ticker, c->bid, c->count, c->price);
		struct limits_refusal r, sentinel;
		int ret;

		memset(&r, 0x77, sizeof(r));
		memcpy(&sentinel, &r, sizeof(r));
		ret = limits_check_order(&l, &o, &r);
		if (c->limit == NULL) {
			if (ret != 0)
				fail_msg("case %zu refused: %s", i, r.details);
			assert_memory_equal(&r, &sentinel, sizeof(r));
		} else {
			if (ret != -1)
				fail_msg("case %zu accepted", i);
			check_refusal(&r, c->limit, c->requested, c->allowed, c->details, -1);
		}
	}
}

/* Requested has its own width: a ticker copied whole, cut only when
 * longer than the buffer (never, since tickers are < 128 bytes). */
static void test_refusal_ticker_requested(void **state)
{
	struct limits_eff l = full_limits();
	struct norm_order o = order("", 1, 100, 5000);
	struct limits_refusal r;

	(void)state;
	memset(o.ticker, 'Z', sizeof(o.ticker) - 1);
	o.ticker[sizeof(o.ticker) - 1] = '\0';
	assert_int_equal(limits_check_order(&l, &o, &r), -1);
	assert_string_equal(r.requested, o.ticker);
	assert_string_equal(r.limit, "tickers");
}

/* No limits, no price: nothing to refuse; price limits skipped for an
 * amend that sets no price. */
static void test_order_unlimited(void **state)
{
	struct limits_eff none, l = full_limits();
	struct norm_order o = order("ANY", 1, FIXED_COUNT_MAX, 9999);
	struct limits_refusal r;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(limits_check_order(&none, &o, &r), 0);

	o = order("KXBTC-1", 1, 100, 0);
	o.has_price = 0;
	o.cost = 100 * 100;
	assert_int_equal(limits_check_order(&l, &o, &r), 0);
	/* ... but the worst-case cost still counts */
	o.count = 5001;
	o.cost = 5001 * 100;
	assert_int_equal(limits_check_order(&l, &o, &r), -1);
	assert_string_equal(r.limit, "max_order_cost");
	assert_string_equal(r.requested, "50.0100");

	/* an amend that adds nothing passes the count and cost limits */
	o = order("KXBTC-1", 1, 0, 5000);
	assert_int_equal(limits_check_order(&l, &o, &r), 0);
}

/* An empty allow list allows everything; an empty deny list denies
 * nothing. */
static void test_empty_lists(void **state)
{
	struct limits_eff l;
	struct norm_order o = order("WHATEVER", 0, 100, 5000);
	struct limits_refusal r;

	(void)state;
	memset(&l, 0, sizeof(l));
	l.tickers = &empty_list;
	l.deny_tickers = &empty_list;
	assert_int_equal(limits_check_order(&l, &o, &r), 0);
	l.tickers = NULL;
	l.deny_tickers = &deny_list;
	assert_int_equal(limits_check_order(&l, &o, &r), 0);
	o = order("KXBTC-BAD9", 0, 100, 5000);
	assert_int_equal(limits_check_order(&l, &o, &r), -1);
	assert_string_equal(r.limit, "deny_tickers");
}

/* A long allow list is cut with "..." in allowed, never overflowed. */
static void test_long_allow_list(void **state)
{
	static char pattern[200];
	char *items[40];
	struct gw_strlist list = { items, 40 };
	struct limits_eff l;
	struct norm_order o = order("NOPE", 1, 100, 5000);
	struct limits_refusal r;
	size_t i, len;

	(void)state;
	memset(pattern, 'P', sizeof(pattern) - 1);
	for (i = 0; i < 40; i++)
		items[i] = pattern;
	memset(&l, 0, sizeof(l));
	l.tickers = &list;
	assert_int_equal(limits_check_order(&l, &o, &r), -1);
	len = strlen(r.allowed);
	assert_int_equal(len, sizeof(r.allowed) - 1);
	assert_string_equal(r.allowed + len - 3, "...");
	assert_true(strlen(r.details) < sizeof(r.details));
}

struct glob_case {
	const char *pattern, *text;
	int match;
};

static const struct glob_case glob_cases[] = {
	{ "KX*", "KXBTC", 1 }, { "KX*", "KX", 1 }, { "KX*", "K", 0 },
	{ "*", "", 1 }, { "*", "anything", 1 }, { "**", "a", 1 }, { "", "", 1 },
	{ "", "a", 0 }, { "a", "", 0 }, { "?", "", 0 }, { "?", "a", 1 }, { "?", "ab", 0 },
	{ "a?c", "abc", 1 }, { "a?c", "ac", 0 }, { "a*b*c", "aXbYc", 1 },
	{ "a*b*c", "aXbY", 0 }, { "a*b*c", "abcbc", 1 }, { "*a", "aaa", 1 },
	{ "*ab", "aab", 1 }, { "a*", "ba", 0 }, { "*-24", "KXETH-24", 1 },
	{ "*-24", "KXETH-245", 0 }, { "KX?TC-*", "KXBTC-1", 1 },
	{ "kx*", "KXBTC", 0 },                      /* case-sensitive */
	{ "[ab]", "a", 0 }, { "[ab]", "[ab]", 1 },  /* no classes */
	{ "\\*", "\\x", 1 }, { "\\*", "*", 0 },     /* no escapes */
	{ "KXBTC", "KXBTC", 1 }, { "KXBTC", "KXBTCX", 0 },
};

/* Glob matching: stars, question marks, no classes or escapes, case. */
static void test_glob_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(glob_cases) / sizeof(glob_cases[0]); i++) {
		if (limits_glob_match(glob_cases[i].pattern, glob_cases[i].text) !=
		    glob_cases[i].match)
			fail_msg("glob '%s' on '%s' should be %d", glob_cases[i].pattern,
				 glob_cases[i].text, glob_cases[i].match);
	}
	assert_int_equal(limits_glob_match(NULL, "a"), 0);
	assert_int_equal(limits_glob_match("a", NULL), 0);
}

/* The case that makes recursive matchers exponential finishes at once. */
static void test_glob_pathological(void **state)
{
	char *text = malloc(20001), pattern[64];
	size_t i;

	(void)state;
	assert_non_null(text);
	memset(text, 'a', 20000);
	text[20000] = '\0';
	for (i = 0; i < 30; i++) {
		pattern[2 * i] = 'a';
		pattern[2 * i + 1] = '*';
	}
	pattern[60] = 'b';
	pattern[61] = '\0';
	assert_int_equal(limits_glob_match(pattern, text), 0);
	pattern[60] = '\0';
	assert_int_equal(limits_glob_match(pattern, text), 1);
	free(text);
}

/* Builds a gw_limits with the listed keys set. */
static struct gw_limits conf_limits(int64_t contracts, int64_t cost, int64_t min_p,
				    int64_t max_p, int64_t session, int64_t filled, int64_t per_s)
{
	struct gw_limits g;

	memset(&g, 0, sizeof(g));
	g.has_max_order_contracts = contracts >= 0;
	g.max_order_contracts = contracts;
	g.has_max_order_cost = cost >= 0;
	g.max_order_cost = cost;
	g.has_min_price = min_p >= 0;
	g.min_price = min_p;
	g.has_max_price = max_p >= 0;
	g.max_price = max_p;
	g.has_max_session_contracts = session >= 0;
	g.max_session_contracts = session;
	g.has_max_session_filled_contracts = filled >= 0;
	g.max_session_filled_contracts = filled;
	g.has_max_orders_per_s = per_s >= 0;
	g.max_orders_per_s = per_s;
	return g;
}

/* Merging key by key; max_session_contracts kept in both scopes. */
static void test_merge(void **state)
{
	struct gw_limits g = conf_limits(10000, 500000, 1000, 9000, 100000, 50000, 10);
	struct gw_limits c = conf_limits(2000, -1, -1, 8000, 30000, -1, 2);
	struct limits_eff e;

	(void)state;
	g.has_tickers = 1;
	g.tickers = allow_list;
	g.has_deny_tickers = 1;
	g.deny_tickers = deny_list;

	/* client keys win one by one; the rest come from the global object */
	limits_merge(&g, &c, &e);
	assert_true(e.has_max_order_contracts && e.max_order_contracts == 2000);
	assert_true(e.has_max_order_cost && e.max_order_cost == 500000);
	assert_true(e.has_min_price && e.min_price == 1000);
	assert_true(e.has_max_price && e.max_price == 8000);
	assert_true(e.has_max_session_filled_contracts && e.max_session_filled_contracts == 50000);
	assert_true(e.has_max_orders_per_s && e.max_orders_per_s == 2);
	assert_ptr_equal(e.tickers, &g.tickers);
	assert_ptr_equal(e.deny_tickers, &g.deny_tickers);
	/* max_session_contracts is scoped: both stay */
	assert_true(e.has_session_contracts && e.session_contracts == 100000);
	assert_true(e.has_client_session_contracts && e.client_session_contracts == 30000);

	/* a client's empty list overrides the global one: all tickers */
	c.has_tickers = 1;
	c.tickers = empty_list;
	c.has_deny_tickers = 1;
	c.deny_tickers = empty_list;
	limits_merge(&g, &c, &e);
	assert_ptr_equal(e.tickers, &c.tickers);
	assert_ptr_equal(e.deny_tickers, &c.deny_tickers);

	/* global only, client only, neither */
	limits_merge(&g, NULL, &e);
	assert_int_equal(e.max_order_contracts, 10000);
	assert_int_equal(e.max_price, 9000);
	assert_int_equal(e.has_client_session_contracts, 0);
	assert_int_equal(e.session_contracts, 100000);
	limits_merge(NULL, &c, &e);
	assert_int_equal(e.max_order_contracts, 2000);
	assert_int_equal(e.has_max_order_cost, 0);
	assert_int_equal(e.has_session_contracts, 0);
	assert_int_equal(e.client_session_contracts, 30000);
	limits_merge(NULL, NULL, &e);
	assert_int_equal(e.has_max_order_contracts + e.has_max_order_cost + e.has_min_price +
			 e.has_max_price + e.has_session_contracts +
			 e.has_client_session_contracts + e.has_max_session_filled_contracts +
			 e.has_max_orders_per_s, 0);
	assert_null(e.tickers);
	assert_null(e.deny_tickers);
}

/* The merged limits decide: a client's looser key beats a stricter global
 * one and vice versa. */
static void test_merge_then_check(void **state)
{
	struct gw_limits g = conf_limits(1000, -1, -1, -1, -1, -1, -1);
	struct gw_limits c = conf_limits(5000, -1, -1, -1, -1, -1, -1);
	struct norm_order o = order("T", 1, 3000, 5000);
	struct limits_eff e;
	struct limits_refusal r;

	(void)state;
	limits_merge(&g, NULL, &e);
	assert_int_equal(limits_check_order(&e, &o, &r), -1);
	assert_string_equal(r.allowed, "10.00");
	limits_merge(&g, &c, &e);
	assert_int_equal(limits_check_order(&e, &o, &r), 0);
	c.max_order_contracts = 2999;
	limits_merge(&g, &c, &e);
	assert_int_equal(limits_check_order(&e, &o, &r), -1);
	assert_string_equal(r.allowed, "29.99");
}

/* One session case: limits, counters, the requested count, the refusal. */
struct session_case {
	int64_t global_cap, client_cap, filled_cap, session_filled_cap; /* -1 = none */
	int64_t submitted, client_submitted, filled, resting, requested;
	const char *limit, *requested_s, *allowed_s, *details;
};

static const struct session_case session_cases[] = {
	/* global cap: the whole session's submitted + reserved */
	{ 10000, -1, -1, -1, 9000, 0, 0, 0, 1000, NULL, NULL, NULL, NULL },
	{ 10000, -1, -1, -1, 9000, 0, 0, 0, 1001, "max_session_contracts", "10.01", "10.00",
	  "order for 10.01 contracts would bring the session to 100.01 contracts submitted, "
	  "over max_session_contracts 100.00 (10.00 left)" },
	{ 10000, -1, -1, -1, 12000, 0, 0, 0, 1, "max_session_contracts", "0.01", "0.00",
	  "order for 0.01 contracts would bring the session to 120.01 contracts submitted, "
	  "over max_session_contracts 100.00 (0.00 left)" },
	/* client share: only this client's submissions count */
	{ 100000, 5000, -1, -1, 50000, 4000, 0, 0, 1000, NULL, NULL, NULL, NULL },
	{ 100000, 5000, -1, -1, 50000, 4000, 0, 0, 1001, "max_session_contracts", "10.01", "10.00",
	  "order for 10.01 contracts would bring this client's share of the session to 50.01 "
	  "contracts submitted, over the client's max_session_contracts 50.00 (10.00 left)" },
	{ -1, 5000, -1, -1, 999999, 0, 0, 0, 5000, NULL, NULL, NULL, NULL },
	/* the global cap is checked before the client's */
	{ 10000, 5000, -1, -1, 9500, 4900, 0, 0, 600, "max_session_contracts", "6.00", "5.00",
	  "order for 6.00 contracts would bring the session to 101.00 contracts submitted, "
	  "over max_session_contracts 100.00 (5.00 left)" },
	/* filled + resting + requested against max_session_filled_contracts */
	{ -1, -1, 10000, -1, 0, 0, 5000, 3000, 2000, NULL, NULL, NULL, NULL },
	{ -1, -1, 10000, -1, 0, 0, 5000, 3000, 2001, "max_session_filled_contracts", "20.01",
	  "20.00", "order for 20.01 contracts on top of 50.00 filled and 30.00 resting makes "
	  "100.01, over max_session_filled_contracts 100.00 (20.00 left)" },
	/* the session's own value overrides the configured one, both ways */
	{ -1, -1, 10000, 20000, 0, 0, 5000, 3000, 2001, NULL, NULL, NULL, NULL },
	{ -1, -1, 10000, 9000, 0, 0, 5000, 3000, 1001, "max_session_filled_contracts", "10.01",
	  "10.00", "order for 10.01 contracts on top of 50.00 filled and 30.00 resting makes "
	  "90.01, over max_session_filled_contracts 90.00 (10.00 left)" },
	{ -1, -1, -1, 9000, 0, 0, 9000, 0, 1, "max_session_filled_contracts", "0.01", "0.00",
	  "order for 0.01 contracts on top of 90.00 filled and 0.00 resting makes 90.01, "
	  "over max_session_filled_contracts 90.00 (0.00 left)" },
	/* no caps: anything goes */
	{ -1, -1, -1, -1, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
	  NULL, NULL, NULL, NULL },
	/* saturating sums: no wrap-around lets an order through */
	{ 10000, -1, -1, -1, INT64_MAX, 0, 0, 0, INT64_MAX, "max_session_contracts", NULL, "0.00",
	  NULL },
	{ -1, -1, 10000, -1, 0, 0, INT64_MAX, INT64_MAX, 1, "max_session_filled_contracts", "0.01",
	  "0.00", NULL },
	/* negative counters (a release racing a reservation) count as 0 */
	{ 10000, 10000, 10000, -1, -500, -500, -500, -500, 10000, NULL, NULL, NULL, NULL },
};

/* Session caps on both sides of each boundary, with exact refusals. */
static void test_session_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(session_cases) / sizeof(session_cases[0]); i++) {
		const struct session_case *c = &session_cases[i];
		struct limits_eff l;
		struct limits_session_view v;
		struct limits_refusal r;
		int ret;

		memset(&l, 0, sizeof(l));
		memset(&v, 0, sizeof(v));
		l.has_session_contracts = c->global_cap >= 0;
		l.session_contracts = c->global_cap;
		l.has_client_session_contracts = c->client_cap >= 0;
		l.client_session_contracts = c->client_cap;
		l.has_max_session_filled_contracts = c->filled_cap >= 0;
		l.max_session_filled_contracts = c->filled_cap;
		v.has_filled_cap = c->session_filled_cap >= 0;
		v.filled_cap = c->session_filled_cap;
		v.session_submitted = c->submitted;
		v.client_submitted = c->client_submitted;
		v.filled = c->filled;
		v.resting = c->resting;
		ret = limits_check_session(&l, &v, c->requested, &r);
		if (c->limit == NULL) {
			if (ret != 0)
				fail_msg("session case %zu refused: %s", i, r.details);
			continue;
		}
		if (ret != -1)
			fail_msg("session case %zu accepted", i);
		assert_string_equal(r.limit, c->limit);
		if (c->requested_s != NULL)
			assert_string_equal(r.requested, c->requested_s);
		assert_string_equal(r.allowed, c->allowed_s);
		assert_int_equal(r.allowed_null, 0);
		assert_int_equal(r.index, -1);
		if (c->details != NULL)
			assert_string_equal(r.details, c->details);
	}
}

/* Batches: every element's limits, then the running total against the
 * session caps; refused whole, index naming the element. */
static void test_batch(void **state)
{
	struct limits_eff l = full_limits();
	struct limits_session_view v;
	struct norm_order o[3];
	struct limits_refusal r;
	int64_t total = -1;

	(void)state;
	memset(&v, 0, sizeof(v));
	o[0] = order("KXBTC-1", 1, 1000, 5000);
	o[1] = order("KXBTC-2", 0, 1000, 5000);
	o[2] = order("KXETH-24", 1, 1000, 5000);

	assert_int_equal(limits_check_orders(&l, &v, o, 3, 1, &total, &r), 0);
	assert_int_equal(total, 3000);
	assert_int_equal(limits_check_orders(&l, NULL, o, 3, 1, &total, &r), 0);
	assert_int_equal(total, 3000);

	/* element 1 breaks a per-order limit */
	o[1] = order("KXBTC-2", 0, 1000, 9500);
	total = -1;
	assert_int_equal(limits_check_orders(&l, &v, o, 3, 1, &total, &r), -1);
	assert_int_equal(total, -1);
	check_refusal(&r, "max_price", "0.9500", "0.9000",
		      "yes price 0.9500 is over max_price 0.9000", 1);
	o[1] = order("KXBTC-2", 0, 1000, 5000);

	/* the running total passes the session cap at element 2 */
	l.has_session_contracts = 1;
	l.session_contracts = 2500;
	assert_int_equal(limits_check_orders(&l, &v, o, 3, 1, &total, &r), -1);
	check_refusal(&r, "max_session_contracts", "30.00", "25.00",
		      "batch orders 0..2 for 30.00 contracts would bring the session to 30.00 "
		      "contracts submitted, over max_session_contracts 25.00 (25.00 left)", 2);
	/* already 15.00 submitted: it passes at element 1 */
	v.session_submitted = 1500;
	assert_int_equal(limits_check_orders(&l, &v, o, 3, 1, &total, &r), -1);
	check_refusal(&r, "max_session_contracts", "20.00", "10.00",
		      "batch orders 0..1 for 20.00 contracts would bring the session to 35.00 "
		      "contracts submitted, over max_session_contracts 25.00 (10.00 left)", 1);
	/* at element 0 */
	v.session_submitted = 2000;
	assert_int_equal(limits_check_orders(&l, &v, o, 3, 1, &total, &r), -1);
	check_refusal(&r, "max_session_contracts", "10.00", "5.00",
		      "order for 10.00 contracts would bring the session to 30.00 "
		      "contracts submitted, over max_session_contracts 25.00 (5.00 left)", 0);
	/* without session caps, the session view does not matter */
	assert_int_equal(limits_check_orders(&l, NULL, o, 3, 1, &total, &r), 0);

	/* a single order: index -1 */
	assert_int_equal(limits_check_orders(&l, &v, o, 1, 0, NULL, &r), -1);
	assert_int_equal(r.index, -1);
	v.session_submitted = 0;
	assert_int_equal(limits_check_orders(&l, &v, o, 1, 0, &total, &r), 0);
	assert_int_equal(total, 1000);
}

/* The refusal's JSON members. */
static void test_refusal_json(void **state)
{
	struct limits_eff l = full_limits();
	struct norm_order o[2];
	struct limits_refusal r;
	json_t *j;
	char *s;

	(void)state;
	o[0] = order("KXBTC-1", 1, 100, 5000);
	o[1] = order("KXBTC-1", 1, 10001, 1000);
	assert_int_equal(limits_check_orders(&l, NULL, o, 2, 1, NULL, &r), -1);
	j = limits_refusal_json(&r);
	assert_non_null(j);
	s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"allowed\":\"100.00\",\"details\":\"order for 100.01 contracts "
			    "is over max_order_contracts 100.00\",\"index\":1,\"limit\":"
			    "\"max_order_contracts\",\"requested\":\"100.01\"}");
	free(s);
	json_decref(j);

	o[0] = order("KXBTC-BAD1", 1, 100, 5000);
	assert_int_equal(limits_check_order(&l, &o[0], &r), -1);
	j = limits_refusal_json(&r);
	s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"allowed\":null,\"details\":\"ticker 'KXBTC-BAD1' matches "
			    "'KXBTC-BAD?' in deny_tickers\",\"limit\":\"deny_tickers\","
			    "\"requested\":\"KXBTC-BAD1\"}");
	free(s);
	json_decref(j);
}

/* One step of a rate scenario: at `now`, take `n` under `per_s`; expect
 * `ok`, or a refusal with `retry` ms. */
struct rate_step {
	int64_t now, per_s, n;
	int ok;
	int64_t retry;
};

/* Runs steps on one fresh bucket. */
static void run_rate(const char *name, const struct rate_step *s, size_t n)
{
	struct limits_rate b;
	size_t i;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		int64_t retry = -7;
		int ret = limits_rate_take(&b, s[i].now, s[i].per_s, s[i].n, &retry);

		if (s[i].ok && ret != 0)
			fail_msg("%s step %zu: refused, retry %lld", name, i, (long long)retry);
		if (!s[i].ok && (ret != -1 || retry != s[i].retry))
			fail_msg("%s step %zu: ret %d retry %lld, want -1 and %lld", name, i, ret,
				 (long long)retry, (long long)s[i].retry);
		if (s[i].ok)
			assert_int_equal(retry, -7);   /* untouched */
	}
}

/* The orders-per-second bucket: burst, refill, refusal, retry-after. */
static void test_rate(void **state)
{
	/* burst of 5, then one every 200 ms */
	static const struct rate_step burst[] = {
		{ 1000, 5, 1, 1, 0 }, { 1000, 5, 1, 1, 0 }, { 1000, 5, 1, 1, 0 },
		{ 1000, 5, 1, 1, 0 }, { 1000, 5, 1, 1, 0 },
		{ 1000, 5, 1, 0, 200 }, { 1000, 5, 1, 0, 200 },   /* refusals take nothing */
		{ 1100, 5, 1, 0, 100 }, { 1199, 5, 1, 0, 1 },
		{ 1200, 5, 1, 1, 0 }, { 1200, 5, 1, 0, 200 },
		{ 1400, 5, 1, 1, 0 },
		/* a long pause refills to the burst, not beyond */
		{ 100000, 5, 1, 1, 0 }, { 100000, 5, 1, 1, 0 }, { 100000, 5, 1, 1, 0 },
		{ 100000, 5, 1, 1, 0 }, { 100000, 5, 1, 1, 0 }, { 100000, 5, 1, 0, 200 },
	};
	/* a rate that does not divide 1000: refill is exact, retry rounds up */
	static const struct rate_step thirds[] = {
		{ 0, 3, 1, 1, 0 }, { 0, 3, 1, 1, 0 }, { 0, 3, 1, 1, 0 }, { 0, 3, 1, 0, 334 },
		{ 333, 3, 1, 0, 1 }, { 334, 3, 1, 1, 0 }, { 334, 3, 1, 0, 333 },
	};
	/* batches: n orders at once; bigger than the burst passes on a full
	 * bucket and is paid for afterwards */
	static const struct rate_step batch[] = {
		{ 0, 5, 3, 1, 0 }, { 0, 5, 3, 0, 200 }, { 0, 5, 2, 1, 0 },
		{ 5000, 5, 8, 1, 0 }, { 5000, 5, 1, 0, 800 }, { 5799, 5, 1, 0, 1 },
		{ 5800, 5, 1, 1, 0 },
		{ 20000, 5, 8, 1, 0 }, { 20000, 5, 6, 0, 1600 },
	};
	/* the clock going back refills nothing and does not break later refills */
	static const struct rate_step backwards[] = {
		{ 1000, 1, 1, 1, 0 }, { 500, 1, 1, 0, 1000 }, { 1500, 1, 1, 0, 500 },
		{ 2000, 1, 1, 1, 0 },
	};
	/* per_s changed by a reload: tokens above the new burst are cut */
	static const struct rate_step reload[] = {
		{ 0, 100, 1, 1, 0 }, { 0, 2, 1, 1, 0 }, { 0, 2, 1, 1, 0 }, { 0, 2, 1, 0, 500 },
		{ 0, 0, 1, 1, 0 }, { 0, -1, 50, 1, 0 },       /* no limit */
		{ 0, 2, 0, 1, 0 },                            /* taking nothing */
	};

	(void)state;
	run_rate("burst", burst, sizeof(burst) / sizeof(burst[0]));
	run_rate("thirds", thirds, sizeof(thirds) / sizeof(thirds[0]));
	run_rate("batch", batch, sizeof(batch) / sizeof(batch[0]));
	run_rate("backwards", backwards, sizeof(backwards) / sizeof(backwards[0]));
	run_rate("reload", reload, sizeof(reload) / sizeof(reload[0]));
}

/* Extreme inputs neither overflow nor stall. */
static void test_rate_extremes(void **state)
{
	struct limits_rate b;
	int64_t retry = 0;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(limits_rate_take(&b, INT64_MIN, INT64_MAX, INT64_MAX, &retry), 0);
	assert_int_equal(limits_rate_take(&b, INT64_MAX, INT64_MAX, 1, &retry), 0);
	memset(&b, 0, sizeof(b));
	assert_int_equal(limits_rate_take(&b, 0, 1, INT64_MAX, &retry), 0);
	assert_int_equal(limits_rate_take(&b, 1, 1, 1, &retry), -1);
	assert_true(retry > 0);
	assert_int_equal(limits_rate_take(&b, INT64_MAX, 1, 1, NULL), 0);
}

/* Runs every test; non-zero exit on any failure. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_table),
		cmocka_unit_test(test_refusal_ticker_requested),
		cmocka_unit_test(test_order_unlimited),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_long_allow_list),
		cmocka_unit_test(test_glob_table),
		cmocka_unit_test(test_glob_pathological),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_then_check),
		cmocka_unit_test(test_session_table),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_refusal_json),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_rate_extremes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
