/*
 * Unit tests for upstream/ratelimit.c and upstream/fairq.c with an
 * injected clock: tier rates, the 90% margin, refill, burst, costs per
 * route, batch admission (whole or nothing), forced takes for kill
 * switches, the drain after an exchange 429, the endpoint_costs parser and
 * table, per-client turns and priorities, and claims across queues.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "policy/route.h"
#include "upstream/fairq.h"
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

static void test_batch_whole_or_nothing(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int64_t wait = 0, tokens, cap, per_s;
	int off;

	(void)state;
	rl_conf(&c, GW_TIER_BASIC);
	rl = ratelimit_new(&c, 0);
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 50, 0, 0, &wait), 0);
	/* 40 left: a batch of 5 creates (50) is refused whole, nothing taken */
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 50, 0, 0, &wait), -1);
	ratelimit_level(rl, RL_WRITE, 0, &tokens, &cap, &per_s, &off);
	assert_int_equal(tokens, 40);
	assert_true(wait >= 112 && wait <= 113);   /* 10 missing at 90/s */
	/* still short 1 ms early, admitted whole once the wait has passed */
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 50, wait - 2, 0, &wait), -1);
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 50, 113, 0, &wait), 0);
	ratelimit_level(rl, RL_WRITE, 113, &tokens, &cap, &per_s, &off);
	assert_true(tokens >= 0 && tokens <= 1);
	ratelimit_free(rl);
}

static void test_margin_on_account_limits(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int64_t tokens, cap, per_s;
	int off;

	(void)state;
	rl_conf(&c, GW_TIER_AUTO);
	rl = ratelimit_new(&c, 0);
	ratelimit_level(rl, RL_WRITE, 0, &tokens, &cap, &per_s, &off);
	assert_int_equal(per_s, 90);            /* Basic until the account is read */
	/* GET /account/limits said 1000 reads, 500 writes a second */
	ratelimit_set_rates(rl, 0, 1000, 500, 10);
	ratelimit_level(rl, RL_READ, 10, &tokens, &cap, &per_s, &off);
	assert_int_equal(per_s, 900);
	assert_int_equal(cap, 900);
	assert_int_equal(tokens, 180);          /* not refilled by the change */
	ratelimit_level(rl, RL_WRITE, 10, &tokens, &cap, &per_s, &off);
	assert_int_equal(per_s, 450);
	/* refills at the new rate, at most to the new capacity */
	ratelimit_level(rl, RL_WRITE, 1010, &tokens, &cap, &per_s, &off);
	assert_int_equal(tokens, 450);
	ratelimit_free(rl);
}

/* The cost table of the examples below. */
static const char costs_json[] =
	"{\"default_cost\": 10, \"endpoint_costs\": ["
	"{\"method\": \"DELETE\", \"path\": \"/trade-api/v2/portfolio/events/orders/{order_id}\", \"cost\": 2},"
	"{\"method\": \"POST\", \"path\": \"/portfolio/events/orders\", \"cost\": 40},"
	"{\"method\": \"POST\", \"path\": \"/trade-api/v2/portfolio/orders/batched\", \"cost\": 100},"
	"{\"method\": \"get\", \"path\": \"/trade-api/v2/markets/{ticker}/orderbook\", \"cost\": 3}]}";

static void test_costs_parse(void **state)
{
	static const struct { const char *body; const char *err; } bad[] = {
		{ "not json", "not JSON" },
		{ "{\"endpoint_costs\": []}", "default_cost" },
		{ "{\"default_cost\": 0, \"endpoint_costs\": []}", "default_cost" },
		{ "{\"default_cost\": 10}", "endpoint_costs must be an array" },
		{ "{\"default_cost\": 10, \"endpoint_costs\": [1]}", "endpoint_costs[0]" },
		{ "{\"default_cost\": 10, \"endpoint_costs\": [{\"method\": \"GET\", \"path\": \"x\", \"cost\": 1}]}",
		  "endpoint_costs[0].path" },
		{ "{\"default_cost\": 10, \"endpoint_costs\": [{\"method\": \"GET\", \"path\": \"/x\", \"cost\": -1}]}",
		  "endpoint_costs[0].cost" },
		{ "{\"default_cost\": 10, \"endpoint_costs\": [{\"method\": \"GETTINGLONG\", \"path\": \"/x\", \"cost\": 1}]}",
		  "endpoint_costs[0].method" },
	};
	struct rl_costs *c = malloc(sizeof *c);
	char err[256];

	(void)state;
	assert_non_null(c);
	assert_int_equal(ratelimit_costs_parse(costs_json, strlen(costs_json), c, err, sizeof err), 0);
	assert_int_equal(c->default_cost, 10);
	assert_int_equal(c->n, 4);
	assert_string_equal(c->e[0].path, "/portfolio/events/orders/{order_id}");  /* prefix dropped */
	assert_string_equal(c->e[1].path, "/portfolio/events/orders");
	assert_int_equal(c->e[2].cost, 100);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(ratelimit_costs_parse(bad[i].body, strlen(bad[i].body), c, err, sizeof err), -1);
		if (!strstr(err, bad[i].err))
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].body, err, bad[i].err);
	}
	free(c);
}

static void test_costs_lookup(void **state)
{
	struct rl_costs *c = malloc(sizeof *c);
	char err[256];
	int64_t cost = 0;

	(void)state;
	assert_non_null(c);
	assert_int_equal(ratelimit_costs_parse(costs_json, strlen(costs_json), c, err, sizeof err), 0);
#define LOOKUP(m, p) ratelimit_costs_lookup(c, m, p, strlen(p), &cost)
	assert_int_equal(LOOKUP("DELETE", "/trade-api/v2/portfolio/events/orders/abc-123"), 1);
	assert_int_equal(cost, 2);
	assert_int_equal(LOOKUP("DELETE", "/portfolio/events/orders/abc"), 1);   /* no prefix */
	assert_int_equal(LOOKUP("DELETE", "/trade-api/v2/portfolio/events/orders/"), 0);  /* empty id */
	assert_int_equal(LOOKUP("DELETE", "/trade-api/v2/portfolio/events/orders/a/b"), 0);
	assert_int_equal(LOOKUP("DELETE", "/trade-api/v2/portfolio/events/orders"), 0);
	assert_int_equal(LOOKUP("POST", "/trade-api/v2/portfolio/events/orders/abc"), 0);
	assert_int_equal(LOOKUP("POST", "/trade-api/v2/portfolio/events/orders"), 1);
	assert_int_equal(cost, 40);
	assert_int_equal(LOOKUP("GET", "/trade-api/v2/markets/KX-1/orderbook"), 1);   /* method case */
	assert_int_equal(cost, 3);
	assert_int_equal(LOOKUP("GET", "/trade-api/v2x/markets/KX-1/orderbook"), 0);
	assert_int_equal(LOOKUP("GET", "/trade-api/v2/portfolio/balance"), 0);
#undef LOOKUP
	free(c);
}

/* The cost of method + path under table c (NULL: built in). */
static int64_t table_cost(const struct rl_costs *c, const char *method, const char *path,
			  size_t n, enum rl_bucket *b)
{
	struct route_info ri;
	int64_t cost = -1;

	route_classify(method, path, strlen(path), &ri);
	ratelimit_cost_table(c, method, path, strlen(path), &ri, n, b, &cost);
	return cost;
}

static void test_cost_table(void **state)
{
	struct rl_costs *c = malloc(sizeof *c);
	struct gw_conf conf;
	struct ratelimit *rl;
	struct route_info ri;
	enum rl_bucket b;
	char err[256];
	int64_t cost, wait;
	const char *create = "/trade-api/v2/portfolio/events/orders";

	(void)state;
	assert_non_null(c);
	assert_int_equal(ratelimit_costs_parse(costs_json, strlen(costs_json), c, err, sizeof err), 0);
	/* no table: the built-in rule */
	assert_int_equal(table_cost(NULL, "POST", create, 1, &b), 10);
	/* a listed endpoint costs its cost; a batch of it per item */
	assert_int_equal(table_cost(c, "POST", create, 1, &b), 40);
	assert_int_equal(b, RL_WRITE);
	assert_int_equal(table_cost(c, "POST", "/trade-api/v2/portfolio/events/orders/batched", 3, &b), 120);
	assert_int_equal(table_cost(c, "POST", "/trade-api/v2/portfolio/orders/batched", 2, &b), 200);
	assert_int_equal(table_cost(c, "DELETE", "/trade-api/v2/portfolio/events/orders/batched", 5, &b), 10);
	assert_int_equal(table_cost(c, "GET", "/trade-api/v2/markets/KX/orderbook", 1, &b), 3);
	assert_int_equal(b, RL_READ);
	/* unlisted: the built-in rule scaled by default_cost / 10 */
	assert_int_equal(table_cost(c, "GET", "/trade-api/v2/portfolio/balance", 1, &b), 10);
	c->default_cost = 20;
	assert_int_equal(table_cost(c, "GET", "/trade-api/v2/portfolio/balance", 1, &b), 20);
	assert_int_equal(table_cost(c, "POST", "/trade-api/v2/portfolio/orders", 1, &b), 200);
	/* installed in a limiter: a 40-token create takes 40 */
	rl_conf(&conf, GW_TIER_BASIC);
	rl = ratelimit_new(&conf, 0);
	ratelimit_set_costs(rl, c);
	route_classify("POST", create, strlen(create), &ri);
	ratelimit_request_cost(rl, "POST", create, strlen(create), &ri, 1, &b, &cost);
	assert_int_equal(cost, 40);
	assert_int_equal(ratelimit_take(rl, b, cost, 0, 0, &wait), 0);
	assert_int_equal(ratelimit_take(rl, b, cost, 0, 0, &wait), 0);
	assert_int_equal(ratelimit_take(rl, b, cost, 0, 0, &wait), -1);   /* 90 = 2 x 40 + 10 */
	ratelimit_set_costs(rl, NULL);
	ratelimit_request_cost(rl, "POST", create, strlen(create), &ri, 1, &b, &cost);
	assert_int_equal(cost, 10);
	ratelimit_free(rl);
	free(c);
}

static void test_priorities(void **state)
{
	static const struct { enum route_kind k; enum fairq_prio p; } rows[] = {
		{ ROUTE_GROUP_MUTATION, FAIRQ_SESSION }, { ROUTE_CANCEL, FAIRQ_CANCEL },
		{ ROUTE_BATCH_CANCEL, FAIRQ_CANCEL },    { ROUTE_CANCEL_ALL, FAIRQ_CANCEL },
		{ ROUTE_DECREASE, FAIRQ_CANCEL },        { ROUTE_CREATE_V2, FAIRQ_WRITE },
		{ ROUTE_BATCH_CREATE_V2, FAIRQ_WRITE },  { ROUTE_CREATE_LEGACY, FAIRQ_WRITE },
		{ ROUTE_AMEND, FAIRQ_WRITE },            { ROUTE_GROUP_CREATE, FAIRQ_WRITE },
		{ ROUTE_READ, FAIRQ_READ },              { ROUTE_API_KEYS, FAIRQ_READ },
	};

	(void)state;
	/* session > cancels and decreases > creates > reads */
	assert_true(FAIRQ_SESSION < FAIRQ_CANCEL);
	assert_true(FAIRQ_CANCEL < FAIRQ_WRITE);
	assert_true(FAIRQ_WRITE < FAIRQ_READ);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct route_info ri;
		memset(&ri, 0, sizeof ri);
		ri.kind = rows[i].k;
		assert_int_equal(fairq_prio_of(&ri), rows[i].p);
	}
}

/* A fake queue for fairq_pick: items in an array, NULL-terminated. */
struct fake_item {
	const char *client;
	struct fake_item *next;
	int id;
};

static void *fake_next(void *it)
{
	return ((struct fake_item *)it)->next;
}

static const char *fake_client(void *it)
{
	return ((struct fake_item *)it)->client;
}

/* Serves a queue of the given clients (one letter each, oldest first) to
 * the end; writes the order served (by client letter) into out. */
static void serve_all(struct fairq *q, const char *clients, char *out)
{
	struct fake_item items[64];
	static char names[64][2];
	struct fake_item *head;
	size_t n = strlen(clients), k = 0;

	for (size_t i = 0; i < n; i++) {
		names[i][0] = clients[i];
		names[i][1] = '\0';
		items[i].client = clients[i] == '-' ? NULL : names[i];
		items[i].next = i + 1 < n ? &items[i + 1] : NULL;
		items[i].id = (int)i;
	}
	head = n ? &items[0] : NULL;
	while (head) {
		struct fake_item *pick = fairq_pick(q, head, fake_next, fake_client), **pp;
		assert_non_null(pick);
		out[k++] = clients[pick->id];
		fairq_served(q, pick->client);
		for (pp = &head; *pp != pick; pp = &(*pp)->next)
			;
		*pp = pick->next;
	}
	out[k] = '\0';
}

static void test_fair_turns(void **state)
{
	struct fairq q;
	char out[64];

	(void)state;
	memset(&q, 0, sizeof q);
	assert_null(fairq_pick(&q, NULL, fake_next, fake_client));
	/* A floods ahead of B and C: they still get every other turn */
	serve_all(&q, "AAAAAABC", out);
	assert_string_equal(out, "ABCAAAAA");
	/* next round: C and B were served after A's first turn but before
	 * A's last ones, so they go first */
	serve_all(&q, "AAACB", out);
	assert_string_equal(out, "BCAAA");
	/* anonymous requests ('-') are one client */
	memset(&q, 0, sizeof q);
	serve_all(&q, "--A-B", out);
	assert_string_equal(out, "-AB--");
}

static void test_fair_slots_forget_oldest(void **state)
{
	struct fairq q;
	char name[16];

	(void)state;
	memset(&q, 0, sizeof q);
	for (int i = 0; i < FAIRQ_SLOTS + 5; i++) {
		snprintf(name, sizeof name, "bot%d", i);
		fairq_served(&q, name);
	}
	/* the first five were forgotten (as if never served), the rest kept */
	assert_int_equal(fairq_last(&q, "bot0"), 0);
	assert_int_equal(fairq_last(&q, "bot4"), 0);
	assert_int_equal(fairq_last(&q, "bot5"), 6);
	snprintf(name, sizeof name, "bot%d", FAIRQ_SLOTS + 4);
	assert_int_equal(fairq_last(&q, name), FAIRQ_SLOTS + 5);
	assert_int_equal(fairq_last(&q, NULL), 0);
	fairq_served(&q, NULL);
	assert_int_equal(fairq_last(&q, ""), FAIRQ_SLOTS + 6);   /* NULL is "" */
}

static void test_claims_across_queues(void **state)
{
	struct gw_conf c;
	struct ratelimit *rl;
	int loop1, loop2;   /* two queues (server loops) sharing the budget */
	int64_t wait = 0;

	(void)state;
	rl_conf(&c, GW_TIER_BASIC);
	rl = ratelimit_new(&c, 0);
	/* bot A is served (a turn recorded); then the bucket runs dry */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 0, &loop1, FAIRQ_WRITE, "A", 0, 0, &wait), 0);
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 80, 0, 0, &wait), 0);
	/* both queues wait: loop1 for A (served before), loop2 for B (never) */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 0, &loop1, FAIRQ_WRITE, "A", 0, 0, &wait), -1);
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 1, &loop2, FAIRQ_WRITE, "B", 0, 0, &wait), -1);
	assert_true(wait >= 110 && wait <= 113);
	/* refilled: loop1 wakes first but B's claim is better; it yields */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 120, &loop1, FAIRQ_WRITE, "A", 0, 0, &wait), -1);
	assert_int_equal(wait, 2);
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 121, &loop2, FAIRQ_WRITE, "B", 0, 0, &wait), 0);
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 300, &loop1, FAIRQ_WRITE, "A", 0, 0, &wait), 0);
	assert_int_equal(ratelimit_take(rl, RL_WRITE, 100, 300, 1, &wait), 0);   /* -93: dry */
	/* loop1 waits for never-served C (claim until ~1500) */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 300, &loop1, FAIRQ_WRITE, "C", 0, 0, &wait), -1);
	assert_true(wait >= 1140 && wait <= 1150);
	/* at 1450 the bucket holds 10: a newcomer for A on loop2 does not jump
	 * C's line, nor does one on loop1 itself */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 1450, &loop2, FAIRQ_WRITE, "A", 1, 0, &wait), -1);
	assert_int_equal(wait, 2);
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 1450, &loop1, FAIRQ_WRITE, "B", 1, 0, &wait), -1);
	/* a cancel's claim beats a create's, whoever was served less */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 2, 1450, &loop2, FAIRQ_CANCEL, "A", 0, 0, &wait), 0);
	/* C now waits for the bucket again (8 left) */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 1450, &loop1, FAIRQ_WRITE, "C", 0, 0, &wait), -1);
	/* claims lapse: a queue that stopped asking does not hold others */
	assert_int_equal(ratelimit_take_turn(rl, RL_WRITE, 10, 5000, &loop2, FAIRQ_WRITE, "A", 0, 0, &wait), 0);
	/* reads have claims of their own */
	assert_int_equal(ratelimit_take_turn(rl, RL_READ, 10, 5000, &loop2, FAIRQ_READ, "A", 0, 0, &wait), 0);
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
		cmocka_unit_test(test_batch_whole_or_nothing),
		cmocka_unit_test(test_margin_on_account_limits),
		cmocka_unit_test(test_costs_parse),
		cmocka_unit_test(test_costs_lookup),
		cmocka_unit_test(test_cost_table),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_fair_turns),
		cmocka_unit_test(test_fair_slots_forget_oldest),
		cmocka_unit_test(test_claims_across_queues),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
