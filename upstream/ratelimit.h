/*
 * ratelimit: the account's shared rate budget, mirroring Kalshi's two token
 * buckets (read and write). Every request of every bot takes its cost from
 * the same buckets before it is sent, so the team as a whole stays under
 * the account's limits instead of each bot drawing 429s on its own.
 *
 * Costs (KALSHI_API.md): 10 tokens a request, V2 cancel 2, batch items
 * billed one by one (a batch is admitted whole or not at all), legacy
 * order mutations 10x; order-group mutations are writes, their GETs reads.
 * Rates: by tier, or explicit rates; the buckets refill at 90% of the
 * exchange's figure (a margin, so arrival jitter never earns a 429) and
 * hold burst_s seconds of budget.
 *
 * Thread-safe: one mutex, held for a few arithmetic operations. Time is
 * passed in (milliseconds, any monotonic clock), so tests drive it.
 */
#ifndef UPSTREAM_RATELIMIT_H
#define UPSTREAM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "policy/route.h"
#include "upstream/fairq.h"

enum rl_bucket { RL_READ = 0, RL_WRITE = 1 };

/* Kalshi's published refill rates, tokens per second, for a tier (Basic
 * for AUTO and OFF). */
void ratelimit_tier_rates(enum gw_tier tier, long *read_per_s, long *write_per_s);

struct ratelimit;

/* A new limiter, configured from rate_limit.* (tier, explicit rates,
 * burst_s). NULL on OOM. */
struct ratelimit *ratelimit_new(const struct gw_conf *c, int64_t now_ms);
void ratelimit_free(struct ratelimit *rl);

/* Sets the exchange's rates (e.g. read from GET /account/limits for
 * tier auto); the margin is applied here. off = no limiting. */
void ratelimit_set_rates(struct ratelimit *rl, int off, long read_per_s, long write_per_s,
			 int64_t now_ms);

/* The bucket and cost of a request: route kind, number of orders in a
 * batch (1 otherwise). Pure. */
void ratelimit_cost(const struct route_info *ri, size_t n_orders, enum rl_bucket *bucket,
		    int64_t *cost);

/*
 * The exchange's non-default endpoint costs (GET /account/endpoint_costs,
 * kalshi-typescript GetAccountEndpointCostsResponse):
 * {"default_cost": 10, "endpoint_costs": [{"method","path","cost"}]}.
 * Paths may or may not start with /trade-api/v2; a "{...}" segment matches
 * any one segment. A listed endpoint costs its cost (a listed batch
 * endpoint: per item); an unlisted batch costs its single-item endpoint's
 * cost per item when that is listed; anything else keeps the built-in rule
 * (ratelimit_cost) scaled by default_cost / 10.
 */
#define RL_COSTS_MAX 128
#define RL_COST_PATH 128

struct rl_cost_entry {
	char method[8];
	char path[RL_COST_PATH];     /* without any /trade-api/v2 prefix */
	int64_t cost;
};

struct rl_costs {
	int64_t default_cost;
	size_t n;
	struct rl_cost_entry e[RL_COSTS_MAX];
};

/* Parses an endpoint_costs answer into out. Pure. Returns 0, or -1 with
 * a message in err (out then unusable). */
int ratelimit_costs_parse(const char *body, size_t len, struct rl_costs *out, char *err,
			  size_t errlen);

/* The listed cost of method + path (raw, no query; with or without the
 * /trade-api/v2 prefix). Pure. Returns 1 and *cost when listed, else 0. */
int ratelimit_costs_lookup(const struct rl_costs *c, const char *method, const char *path,
			   size_t len, int64_t *cost);

/* The bucket and cost of a request under the costs table c (NULL: the
 * built-in rule). Pure. */
void ratelimit_cost_table(const struct rl_costs *c, const char *method, const char *path,
			  size_t len, const struct route_info *ri, size_t n_orders,
			  enum rl_bucket *bucket, int64_t *cost);

/* Installs the exchange's costs (copied); NULL goes back to the built-in
 * rule. */
void ratelimit_set_costs(struct ratelimit *rl, const struct rl_costs *c);

/* ratelimit_cost_table under the installed costs. Thread-safe. */
void ratelimit_request_cost(struct ratelimit *rl, const char *method, const char *path,
			    size_t len, const struct route_info *ri, size_t n_orders,
			    enum rl_bucket *bucket, int64_t *cost);

/*
 * Takes `cost` tokens from a bucket at now_ms. Returns 0 when taken; else
 * -1 and *wait_ms (>= 1) until the bucket will hold them. A cost larger
 * than the bucket's capacity is admitted once the bucket is full (so a big
 * batch is never refused forever). force: take even if it overdraws (for
 * kill switches: halt, end, reset never wait behind orders).
 */
int ratelimit_take(struct ratelimit *rl, enum rl_bucket b, int64_t cost, int64_t now_ms,
		   int force, int64_t *wait_ms);

/*
 * Takes a queued request's turn: like ratelimit_take, but fair between
 * clients and priorities across every queue sharing the budget (one per
 * server loop). `who` names the queue; prio and client the request.
 * Turns are remembered per priority (upstream/fairq.h); a queue that cannot
 * be served leaves a claim (priority, its client's last turn) for the
 * bucket, and a take is refused (-1, *wait_ms small) while another queue
 * holds a better claim - lower priority number, else a client served less
 * recently - that is still fresh (claims lapse a little after the wait they
 * were given). newcomer: a request that has not waited yet; it also yields
 * to its own queue's claim, so it never jumps the line. On success the turn
 * is recorded and the queue's claim cleared. force as in ratelimit_take.
 */
int ratelimit_take_turn(struct ratelimit *rl, enum rl_bucket b, int64_t cost, int64_t now_ms,
			const void *who, int prio, const char *client, int newcomer, int force,
			int64_t *wait_ms);

/* fairq_pick over the shared memory of turns of a priority. */
void *ratelimit_pick(struct ratelimit *rl, int prio, void *head, void *(*next)(void *),
		     const char *(*client)(void *));

/* After a 429 from the exchange: empties the bucket, so every bot backs
 * off together until it refills. */
void ratelimit_drain(struct ratelimit *rl, enum rl_bucket b, int64_t now_ms);

/* Current level and capacity (tokens) and refill rate, for metrics. */
void ratelimit_level(struct ratelimit *rl, enum rl_bucket b, int64_t now_ms, int64_t *tokens,
		     int64_t *capacity, int64_t *per_s, int *off);

#endif
