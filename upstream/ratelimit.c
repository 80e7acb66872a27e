/* ratelimit: see ratelimit.h. */
#include "upstream/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>

/* The margin below the exchange's rates, in percent of them. */
#define RL_MARGIN_PCT 90

struct rl_state {
	int64_t milli;      /* tokens x 1000 (may go negative after a forced take) */
	int64_t cap_milli;  /* capacity x 1000 */
	int64_t per_s;      /* refill, tokens a second (after the margin) */
	int64_t last_ms;
};

struct ratelimit {
	pthread_mutex_t lock;
	int off;
	int started;        /* buckets filled once at the first configuration */
	long burst_s;
	struct rl_state b[2];
};

void ratelimit_tier_rates(enum gw_tier tier, long *r, long *w)
{
	static const long rates[][2] = {
		[GW_TIER_AUTO] = { 200, 100 },    [GW_TIER_BASIC] = { 200, 100 },
		[GW_TIER_ADVANCED] = { 300, 300 }, [GW_TIER_EXPERT] = { 600, 600 },
		[GW_TIER_PREMIER] = { 1000, 1000 }, [GW_TIER_PARAGON] = { 2000, 2000 },
		[GW_TIER_PRIME] = { 4000, 4000 }, [GW_TIER_PRESTIGE] = { 10000, 8000 },
		[GW_TIER_OFF] = { 200, 100 },
	};

	*r = rates[tier][0];
	*w = rates[tier][1];
}

/* Refills a bucket up to now. Caller holds the lock. */
static void rl_refill(struct rl_state *s, int64_t now_ms)
{
	if (now_ms > s->last_ms) {
		s->milli += (now_ms - s->last_ms) * s->per_s;
		if (s->milli > s->cap_milli)
			s->milli = s->cap_milli;
		s->last_ms = now_ms;
	}
}

void ratelimit_set_rates(struct ratelimit *rl, int off, long read_per_s, long write_per_s,
			 int64_t now_ms)
{
	long rates[2] = { read_per_s, write_per_s };

	pthread_mutex_lock(&rl->lock);
	rl->off = off;
	for (int i = 0; i < 2; i++) {
		struct rl_state *s = &rl->b[i];
		int64_t per = (int64_t)rates[i] * RL_MARGIN_PCT / 100;
		rl_refill(s, now_ms);
		s->per_s = per > 0 ? per : 1;
		s->cap_milli = s->per_s * rl->burst_s * 1000;
		if (!rl->started) {
			s->milli = s->cap_milli;
			s->last_ms = now_ms;
		}
		if (s->milli > s->cap_milli)
			s->milli = s->cap_milli;
	}
	rl->started = 1;
	pthread_mutex_unlock(&rl->lock);
}

struct ratelimit *ratelimit_new(const struct gw_conf *c, int64_t now_ms)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);
	long r, w;

	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->burst_s = c->rate_limit.has_burst_s ? c->rate_limit.burst_s : 1;
	ratelimit_tier_rates(c->rate_limit.tier, &r, &w);
	if (c->rate_limit.has_read_tokens_per_s)
		r = c->rate_limit.read_tokens_per_s;
	if (c->rate_limit.has_write_tokens_per_s)
		w = c->rate_limit.write_tokens_per_s;
	ratelimit_set_rates(rl, c->rate_limit.tier == GW_TIER_OFF, r, w, now_ms);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

void ratelimit_cost(const struct route_info *ri, size_t n, enum rl_bucket *bucket, int64_t *cost)
{
	int64_t c = 10, items = n ? (int64_t)n : 1;

	switch (ri->kind) {
	case ROUTE_READ:
		*bucket = RL_READ;
		*cost = 10;
		return;
	case ROUTE_API_KEYS:
		*bucket = RL_READ;
		*cost = 10;
		return;
	case ROUTE_CANCEL:
		c = ri->legacy ? 10 : 2;
		break;
	case ROUTE_BATCH_CANCEL:
		c = (ri->legacy ? 10 : 2) * items;
		break;
	case ROUTE_BATCH_CREATE_V2:
	case ROUTE_BATCH_CREATE_LEGACY:
		c = 10 * items;
		break;
	default:
		c = 10;
		break;
	}
	if (ri->legacy)
		c *= 10;
	*bucket = RL_WRITE;
	*cost = c;
}

int ratelimit_take(struct ratelimit *rl, enum rl_bucket b, int64_t cost, int64_t now_ms,
		   int force, int64_t *wait_ms)
{
	struct rl_state *s = &rl->b[b];
	int64_t need = cost * 1000;
	int rc = 0;

	pthread_mutex_lock(&rl->lock);
	if (rl->off) {
		pthread_mutex_unlock(&rl->lock);
		return 0;
	}
	rl_refill(s, now_ms);
	if (need > s->cap_milli)
		need = s->cap_milli;  /* bigger than the bucket: admitted when full */
	if (force || s->milli >= need) {
		s->milli -= cost * 1000;
	} else {
		int64_t missing = need - s->milli;
		if (wait_ms)
			*wait_ms = (missing + s->per_s - 1) / s->per_s + 1;
		rc = -1;
	}
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

void ratelimit_drain(struct ratelimit *rl, enum rl_bucket b, int64_t now_ms)
{
	pthread_mutex_lock(&rl->lock);
	rl_refill(&rl->b[b], now_ms);
	if (rl->b[b].milli > 0)
		rl->b[b].milli = 0;
	pthread_mutex_unlock(&rl->lock);
}

void ratelimit_level(struct ratelimit *rl, enum rl_bucket b, int64_t now_ms, int64_t *tokens,
		     int64_t *capacity, int64_t *per_s, int *off)
{
	pthread_mutex_lock(&rl->lock);
	rl_refill(&rl->b[b], now_ms);
	*tokens = rl->b[b].milli / 1000;
	*capacity = rl->b[b].cap_milli / 1000;
	*per_s = rl->b[b].per_s;
	*off = rl->off;
	pthread_mutex_unlock(&rl->lock);
}
