/*
 * bench_ratelimit: what the shared rate limiter costs a request. Times the
 * admission decision the gateway makes for every proxied request - the
 * request's cost under the exchange's endpoint_costs table, then the try-admit
 * with refill and the fairness check (ratelimit_request_cost +
 * ratelimit_take_turn) - over a realistic mix: three bots on two server
 * loops, 70% reads, 20% creates, 8% cancels, 2% batches of five, Prestige
 * rates, a clock that advances 1 ms every two requests (so that about a
 * quarter of the requests are refused and would wait).
 *
 *   build/bench_ratelimit [iterations]     (default 4000000)
 *
 * Prints one JSON line: {"limiter_ns_per_request": N, "iterations": N,
 * "admitted_pct": N}. Target: under 5000 ns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "policy/route.h"
#include "upstream/fairq.h"
#include "upstream/ratelimit.h"

/* Kalshi's own table shape (kalshi-typescript GetAccountEndpointCostsResponse). */
static const char bench_costs[] =
	"{\"default_cost\": 10, \"endpoint_costs\": ["
	"{\"method\": \"DELETE\", \"path\": \"/trade-api/v2/portfolio/events/orders/{order_id}\", \"cost\": 2},"
	"{\"method\": \"POST\", \"path\": \"/trade-api/v2/portfolio/orders\", \"cost\": 100},"
	"{\"method\": \"POST\", \"path\": \"/trade-api/v2/portfolio/orders/batched\", \"cost\": 100},"
	"{\"method\": \"DELETE\", \"path\": \"/trade-api/v2/portfolio/orders/{order_id}\", \"cost\": 100},"
	"{\"method\": \"POST\", \"path\": \"/trade-api/v2/portfolio/orders/{order_id}/amend\", \"cost\": 100},"
	"{\"method\": \"POST\", \"path\": \"/trade-api/v2/portfolio/orders/{order_id}/decrease\", \"cost\": 100}]}";

struct bench_req {
	const char *method, *path;
	size_t n;
	struct route_info ri;
	int prio;
};

static double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static struct bench_req mix[100];
	static const char *const bots[] = { "bot1", "bot2", "bot3" };
	struct gw_conf c;
	struct ratelimit *rl;
	struct rl_costs *costs = malloc(sizeof *costs);
	char err[256];
	long iters = argc > 1 ? atol(argv[1]) : 4000000;
	long admitted = 0;
	int loops[2];
	double t0, t1;

	if (!costs || iters <= 0) {
		fprintf(stderr, "usage: bench_ratelimit [iterations > 0]\n");
		return 2;
	}
	for (int i = 0; i < 100; i++) {
		struct bench_req *r = &mix[i];
		if (i < 70) {
			r->method = "GET";
			r->path = "/trade-api/v2/markets/KXMOCK-26DEC31-A/orderbook";
		} else if (i < 90) {
			r->method = "POST";
			r->path = "/trade-api/v2/portfolio/events/orders";
		} else if (i < 98) {
			r->method = "DELETE";
			r->path = "/trade-api/v2/portfolio/events/orders/6f1c2a9e-0b7d-4d7e-9a55-3c1f0e2b8d41";
		} else {
			r->method = "POST";
			r->path = "/trade-api/v2/portfolio/events/orders/batched";
		}
		r->n = i >= 98 ? 5 : 1;
		route_classify(r->method, r->path, strlen(r->path), &r->ri);
		r->prio = (int)fairq_prio_of(&r->ri);
	}
	memset(&c, 0, sizeof c);
	c.rate_limit.tier = GW_TIER_PRESTIGE;
	c.rate_limit.max_queue_ms = 1000;
	rl = ratelimit_new(&c, 0);
	if (!rl || ratelimit_costs_parse(bench_costs, strlen(bench_costs), costs, err, sizeof err) < 0) {
		fprintf(stderr, "bench_ratelimit: setup failed: %s\n", rl ? err : "out of memory");
		return 1;
	}
	ratelimit_set_costs(rl, costs);
	t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		/* a multiplicative walk over the mix, so the pattern is not periodic */
		const struct bench_req *r = &mix[(uint64_t)i * 2654435761u % 100];
		enum rl_bucket b;
		int64_t cost, wait = 0;
		ratelimit_request_cost(rl, r->method, r->path, strlen(r->path), &r->ri, r->n, &b,
				       &cost);
		if (ratelimit_take_turn(rl, b, cost, i / 2, &loops[i & 1], r->prio, bots[i % 3],
					(i & 3) == 0, 0, &wait) == 0)
			admitted++;
	}
	t1 = bench_now_ns();
	printf("{\"limiter_ns_per_request\": %.1f, \"iterations\": %ld, \"admitted_pct\": %.1f}\n",
	       (t1 - t0) / (double)iters, iters, 100.0 * (double)admitted / (double)iters);
	ratelimit_free(rl);
	free(costs);
	return 0;
}
