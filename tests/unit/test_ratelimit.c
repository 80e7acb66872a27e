/*
 * Unit tests for upstream/ratelimit.c with an injected clock: tier rates,
 * the 90% margin, refill, burst, costs per route, batch admission, forced
 * takes for kill switches, and the drain after an exchange 429.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "policy/route.h"
#include "upstream/ratelimit.h"

/* A configuration with only the rate_limit keys set. */
static void rl_conf(struct gw_conf *c, enum gw_tier tier)
{
	memset(c, 0, sizeof *c);
	c->rate_limit.tier = tier;
	c->rate_limit.max_queue_ms = 1000;
}

static void test_tier_rates(void **state)
{
	static const struct { enum gw_tier t; long r, w; } rows[] = {
		{ GW_TIER_BASIC, 200, 100 },     { GW_TIER_ADVANCED, 300, 300 },
		{ GW_TIER_EXPERT, 600, 600 },    { GW_TIER_PREMIER, 1000, 1000 },
		{ GW_TIER_PARAGON, 2000, 2000 }, { GW_TIER_PRIME, 4000, 4000 },
		{ GW_TIER_PRESTIGE, 10000, 8000 }, { GW_TIER_AUTO, 200, 100 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		long r, w;
		ratelimit_tier_rates(rows[i].t, &r, &w);
		assert_int_equal(r, rows[i].r);
		assert_int_equal(w, rows[i].w);
	}
}

static void test_margin_burst_and_refill(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int64_t tokens, cap, per_s, wait = 0;
	int off;

	(void)state;
	rl_conf(&c, GW_TIER_BASIC);
	rl = ratelimit_new(&c, 1000);
	assert_non_null(rl);
	ratelimit_level(rl, RL_WRITE, 1000, &tokens, &cap, &per_s, &off);
	assert_int_equal(per_s, 90);      /* 90% of Basic's 100 writes/s */
	assert_int_equal(cap, 90);        /* one second of burst */
	assert_int_equal(tokens, 90);
	assert_int_equal(off, 0);
	/* 9 writes of 10 fit the burst, the 10th waits */
	for (int i = 0; i < 9; i++)
		assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 1000, 0, &wait), 0);
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 1000, 0, &wait), -1);
	assert_true(wait >= 111 && wait <= 113);   /* 10 tokens at 90/s */
	/* reads are a separate bucket */
	assert_int_equal(ratelimit_take(rl, RL_READ, 10, 1000, 0, &wait), 0);
	/* after the wait, one more write fits */
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 1000 + 112, 0, &wait), 0);
	/* refill never passes the capacity */
	ratelimit_level(rl, RL_WRITE, 100000, &tokens, &cap, &per_s, &off);
	assert_int_equal(tokens, 90);
	ratelimit_free(rl);
}

static void test_explicit_rates_and_off(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int64_t tokens, cap, per_s, wait;
	int off;

	(void)state;
	rl_conf(&c, GW_TIER_PREMIER);
	c.rate_limit.has_write_tokens_per_s = 1;
	c.rate_limit.write_tokens_per_s = 50;
	c.rate_limit.has_burst_s = 1;
	c.rate_limit.burst_s = 2;
	rl = ratelimit_new(&c, 0);
	ratelimit_level(rl, RL_WRITE, 0, &tokens, &cap, &per_s, &off);
	assert_int_equal(per_s, 45);
	assert_int_equal(cap, 90);        /* two seconds of burst */
	ratelimit_level(rl, RL_READ, 0, &tokens, &cap, &per_s, &off);
	assert_int_equal(per_s, 900);     /* Premier reads, with the margin */
	ratelimit_free(rl);

	rl_conf(&c, GW_TIER_OFF);
	rl = ratelimit_new(&c, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 0, 0, &wait), 0);
	ratelimit_free(rl);
}

static void test_costs(void **state)
{
	static const struct { enum route_kind k; int legacy; size_t n; enum rl_bucket b; int64_t cost; } rows[] = {
		{ ROUTE_READ, 0, 1, RL_READ, 10 },
		{ ROUTE_CREATE_V2, 0, 1, RL_WRITE, 10 },
		{ ROUTE_BATCH_CREATE_V2, 0, 5, RL_WRITE, 50 },
		{ ROUTE_CANCEL, 0, 1, RL_WRITE, 2 },
		{ ROUTE_BATCH_CANCEL, 0, 4, RL_WRITE, 8 },
		{ ROUTE_CREATE_LEGACY, 1, 1, RL_WRITE, 100 },
		{ ROUTE_BATCH_CREATE_LEGACY, 1, 3, RL_WRITE, 300 },
		{ ROUTE_CANCEL, 1, 1, RL_WRITE, 100 },
		{ ROUTE_AMEND, 0, 1, RL_WRITE, 10 },
		{ ROUTE_DECREASE, 0, 1, RL_WRITE, 10 },
		{ ROUTE_GROUP_MUTATION, 0, 1, RL_WRITE, 10 },
		{ ROUTE_GROUP_CREATE, 0, 1, RL_WRITE, 10 },
		{ ROUTE_CANCEL_ALL, 0, 1, RL_WRITE, 10 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct route_info ri;
		enum rl_bucket b;
		int64_t cost;
		memset(&ri, 0, sizeof ri);
		ri.kind = rows[i].k;
		ri.legacy = rows[i].legacy;
		ratelimit_cost(&ri, rows[i].n, &b, &cost);
		assert_int_equal(b, rows[i].b);
		assert_int_equal(cost, rows[i].cost);
	}
}

static void test_batch_bigger_than_bucket_and_force(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int64_t wait = 0, tokens, cap, per_s;
	int off;

	(void)state;
	rl_conf(&c, GW_TIER_BASIC);
	rl = ratelimit_new(&c, 0);
	/* a batch of 20 orders (200 tokens) on a 90-token bucket: admitted
	 * when the bucket is full, then the bucket is in debt */
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 200, 0, 0, &wait), 0);
	ratelimit_level(rl, RL_WRITE, 0, &tokens, &cap, &per_s, &off);
	assert_int_equal(tokens, -110);
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 0, 0, &wait), -1);
	assert_true(wait > 1000);
	/* a kill switch is never held back */
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 0, 1, &wait), 0);
	ratelimit_free(rl);
}

static void test_drain_after_429(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int64_t wait = 0, tokens, cap, per_s;
	int off;

	(void)state;
	rl_conf(&c, GW_TIER_BASIC);
	rl = ratelimit_new(&c, 0);
	ratelimit_drain(rl, RL_READ, 0);
	ratelimit_level(rl, RL_READ, 0, &tokens, &cap, &per_s, &off);
	assert_int_equal(tokens, 0);
	assert_int_equal(ratelimit_take(rl, RL_READ, 10, 0, 0, &wait), -1);
	assert_true(wait >= 56 && wait <= 57);   /* 10 tokens at 180/s */
	assert_int_equal(ratelimit_take(rl, RL_READ, 10, 60, 0, &wait), 0);
	/* the write bucket was untouched */
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 10, 0, 0, &wait), 0);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tier_rates),
		cmocka_unit_test(test_margin_burst_and_refill),
		cmocka_unit_test(test_explicit_rates_and_off),
		cmocka_unit_test(test_costs),
		cmocka_unit_test(test_batch_bigger_than_bucket_and_force),
		cmocka_unit_test(test_drain_after_429),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
