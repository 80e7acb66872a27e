/* ratelimit: see ratelimit.h. */
#include "upstream/ratelimit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The margin below the exchange's rates, in percent of them. */
#define RL_MARGIN_PCT 90
/* Claims held at once (queues x buckets), and how long past its wait a
 * claim stays fresh. */
#define RL_CLAIMS 64
#define RL_CLAIM_SLACK_MS 50
/* How soon a queue held back by a better claim looks again. */
#define RL_YIELD_MS 2

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
	struct rl_costs *costs;  /* the exchange's costs; NULL = built-in rule */
	struct fairq fair[FAIRQ_PRIO_COUNT];  /* turns, shared by every queue */
	struct rl_claim {
		const void *who;     /* NULL = free */
		int bucket, prio;
		uint64_t rank;       /* the client's last turn */
		int64_t until_ms;    /* lapses then */
	} claim[RL_CLAIMS];
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
	free(rl->costs);
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

/* Whether key (prio, rank) is better than the claim c. */
static int rl_better(int prio, uint64_t rank, const struct rl_claim *c)
{
	return prio < c->prio || (prio == c->prio && rank < c->rank);
}

/* Whether a fresh claim other than who's own (or any, for a newcomer)
 * beats (prio, rank) for bucket b. Caller holds the lock. */
static int rl_outranked(const struct ratelimit *rl, int b, const void *who, int prio,
			uint64_t rank, int newcomer, int64_t now_ms)
{
	for (int i = 0; i < RL_CLAIMS; i++) {
		const struct rl_claim *c = &rl->claim[i];
		if (!c->who || c->bucket != b || c->until_ms < now_ms)
			continue;
		if (c->who == who && !newcomer)
			continue;
		if (rl_better(c->prio, c->rank, &(struct rl_claim){ .prio = prio, .rank = rank }))
			return 1;
	}
	return 0;
}

/* Sets (or clears, when until_ms is 0) who's claim on bucket b. Caller
 * holds the lock. */
static void rl_claim(struct ratelimit *rl, int b, const void *who, int prio, uint64_t rank,
		     int64_t until_ms, int64_t now_ms)
{
	struct rl_claim *slot = NULL;

	for (int i = 0; i < RL_CLAIMS; i++) {
		struct rl_claim *c = &rl->claim[i];
		if (c->who == who && c->bucket == b) {
			slot = c;
			break;
		}
		if (!slot && (!c->who || c->until_ms < now_ms))
			slot = c;
	}
	if (!slot)
		return;  /* more queues than slots: this one goes unclaimed */
	if (!until_ms) {
		if (slot->who == who && slot->bucket == b)
			slot->who = NULL;
		return;
	}
	*slot = (struct rl_claim){ .who = who, .bucket = b, .prio = prio, .rank = rank,
				   .until_ms = until_ms };
}

int ratelimit_take_turn(struct ratelimit *rl, enum rl_bucket b, int64_t cost, int64_t now_ms,
			const void *who, int prio, const char *client, int newcomer, int force,
			int64_t *wait_ms)
{
	struct rl_state *s = &rl->b[b];
	int64_t need = cost * 1000;
	uint64_t rank;
	int rc = 0;

	if (prio < 0 || prio >= FAIRQ_PRIO_COUNT)
		prio = FAIRQ_PRIO_COUNT - 1;
	pthread_mutex_lock(&rl->lock);
	if (rl->off)
		goto out;
	rl_refill(s, now_ms);
	rank = fairq_last(&rl->fair[prio], client);
	if (need > s->cap_milli)
		need = s->cap_milli;
	if (force) {
		s->milli -= cost * 1000;
	} else if (s->milli < need) {
		int64_t missing = need - s->milli, wait = (missing + s->per_s - 1) / s->per_s + 1;
		if (wait_ms)
			*wait_ms = wait;
		if (!newcomer)
			rl_claim(rl, b, who, prio, rank, now_ms + wait + RL_CLAIM_SLACK_MS, now_ms);
		rc = -1;
		goto out;
	} else if (rl_outranked(rl, b, who, prio, rank, newcomer, now_ms)) {
		if (wait_ms)
			*wait_ms = RL_YIELD_MS;
		if (!newcomer)
			rl_claim(rl, b, who, prio, rank, now_ms + RL_YIELD_MS + RL_CLAIM_SLACK_MS, now_ms);
		rc = -1;
		goto out;
	} else {
		s->milli -= cost * 1000;
	}
	fairq_served(&rl->fair[prio], client);
	rl_claim(rl, b, who, prio, rank, 0, now_ms);
out:
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

void *ratelimit_pick(struct ratelimit *rl, int prio, void *head, void *(*next)(void *),
		     const char *(*client)(void *))
{
	void *pick;

	if (prio < 0 || prio >= FAIRQ_PRIO_COUNT)
		return head;
	pthread_mutex_lock(&rl->lock);
	pick = fairq_pick(&rl->fair[prio], head, next, client);
	pthread_mutex_unlock(&rl->lock);
	return pick;
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

/* The API prefix paths may carry. */
#define RL_API_PREFIX "/trade-api/v2"

/* Skips the /trade-api/v2 prefix of a path, if it has it. */
static const char *rl_strip(const char *path, size_t *len)
{
	size_t n = sizeof RL_API_PREFIX - 1;

	if (*len >= n && memcmp(path, RL_API_PREFIX, n) == 0 && (*len == n || path[n] == '/')) {
		*len -= n;
		return path + n;
	}
	return path;
}

/* Reads one {"method","path","cost"} entry into e. */
static int rl_costs_entry(const json_t *o, size_t i, struct rl_cost_entry *e, char *err,
			  size_t errlen)
{
	const json_t *m = json_object_get(o, "method"), *p = json_object_get(o, "path");
	const json_t *c = json_object_get(o, "cost");
	const char *path;
	size_t len;

	if (!json_is_object(o) || !json_is_string(m) || !json_is_string(p)) {
		snprintf(err, errlen, "endpoint_costs[%zu] must be {\"method\", \"path\", \"cost\"}", i);
		return -1;
	}
	if (json_string_length(m) == 0 || json_string_length(m) >= sizeof e->method) {
		snprintf(err, errlen, "endpoint_costs[%zu].method '%s' is not an HTTP method", i,
			 json_string_value(m));
		return -1;
	}
	len = json_string_length(p);
	path = rl_strip(json_string_value(p), &len);
	if (len == 0 || path[0] != '/' || len >= sizeof e->path) {
		snprintf(err, errlen, "endpoint_costs[%zu].path must start with '/' and be under %d bytes",
			 i, RL_COST_PATH);
		return -1;
	}
	if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 1000000) {
		snprintf(err, errlen, "endpoint_costs[%zu].cost must be an integer from 0 to 1000000", i);
		return -1;
	}
	snprintf(e->method, sizeof e->method, "%s", json_string_value(m));
	memcpy(e->path, path, len);
	e->path[len] = '\0';
	e->cost = json_integer_value(c);
	return 0;
}

int ratelimit_costs_parse(const char *body, size_t len, struct rl_costs *out, char *err,
			  size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(body ? body : "", len, 0, &je), *d, *list, *o;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!j) {
		snprintf(err, errlen, "not JSON: %s", je.text);
		return -1;
	}
	d = json_object_get(j, "default_cost");
	list = json_object_get(j, "endpoint_costs");
	if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 1000000) {
		snprintf(err, errlen, "default_cost must be an integer from 1 to 1000000");
		goto out;
	}
	if (!json_is_array(list)) {
		snprintf(err, errlen, "endpoint_costs must be an array");
		goto out;
	}
	if (json_array_size(list) > RL_COSTS_MAX) {
		snprintf(err, errlen, "endpoint_costs has %zu entries, more than %d",
			 json_array_size(list), RL_COSTS_MAX);
		goto out;
	}
	out->default_cost = json_integer_value(d);
	json_array_foreach(list, i, o) {
		if (rl_costs_entry(o, i, &out->e[i], err, errlen) < 0)
			goto out;
	}
	out->n = json_array_size(list);
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* Whether a pattern ("{x}" segments match any one segment) matches path
 * (len bytes). Both start with '/'. */
static int rl_path_match(const char *pat, const char *path, size_t len)
{
	const char *end = path + len;

	while (*pat && path < end) {
		const char *ps, *qs;
		size_t pl, ql;
		if (*pat != '/' || *path != '/')
			return 0;
		pat++;
		path++;
		ps = strchr(pat, '/');
		ps = ps ? ps : pat + strlen(pat);
		qs = memchr(path, '/', (size_t)(end - path));
		qs = qs ? qs : end;
		pl = (size_t)(ps - pat);
		ql = (size_t)(qs - path);
		if (pl >= 2 && pat[0] == '{' && pat[pl - 1] == '}') {
			if (ql == 0)
				return 0;
		} else if (pl != ql || memcmp(pat, path, pl) != 0) {
			return 0;
		}
		pat = ps;
		path = qs;
	}
	return *pat == '\0' && path == end;
}

int ratelimit_costs_lookup(const struct rl_costs *c, const char *method, const char *path,
			   size_t len, int64_t *cost)
{
	path = rl_strip(path, &len);
	for (size_t i = 0; c && i < c->n; i++)
		if (strcasecmp(c->e[i].method, method) == 0 && rl_path_match(c->e[i].path, path, len)) {
			*cost = c->e[i].cost;
			return 1;
		}
	return 0;
}

/* The single-item endpoint a batch is billed by, or NULL. */
static const char *rl_batch_item(const struct route_info *ri, const char **method)
{
	switch (ri->kind) {
	case ROUTE_BATCH_CREATE_V2:
		*method = "POST";
		return "/portfolio/events/orders";
	case ROUTE_BATCH_CREATE_LEGACY:
		*method = "POST";
		return "/portfolio/orders";
	case ROUTE_BATCH_CANCEL:
		*method = "DELETE";
		return ri->legacy ? "/portfolio/orders/x" : "/portfolio/events/orders/x";
	default:
		return NULL;
	}
}

void ratelimit_cost_table(const struct rl_costs *c, const char *method, const char *path,
			  size_t len, const struct route_info *ri, size_t n, enum rl_bucket *bucket,
			  int64_t *cost)
{
	int64_t items = n ? (int64_t)n : 1, listed;
	const char *im = NULL, *ip;

	ratelimit_cost(ri, n, bucket, cost);
	if (!c)
		return;
	if (ratelimit_costs_lookup(c, method, path, len, &listed)) {
		*cost = rl_batch_item(ri, &im) ? listed * items : listed;
		return;
	}
	ip = rl_batch_item(ri, &im);
	if (ip && ratelimit_costs_lookup(c, im, ip, strlen(ip), &listed)) {
		*cost = listed * items;
		return;
	}
	*cost = *cost * c->default_cost / 10;
}

void ratelimit_set_costs(struct ratelimit *rl, const struct rl_costs *c)
{
	struct rl_costs *copy = NULL, *old;

	if (c) {
		copy = malloc(sizeof *copy);
		if (!copy)
			return;  /* out of memory: the previous costs stay */
		memcpy(copy, c, sizeof *copy);
	}
	pthread_mutex_lock(&rl->lock);
	old = rl->costs;
	rl->costs = copy;
	pthread_mutex_unlock(&rl->lock);
	free(old);
}

void ratelimit_request_cost(struct ratelimit *rl, const char *method, const char *path,
			    size_t len, const struct route_info *ri, size_t n,
			    enum rl_bucket *bucket, int64_t *cost)
{
	pthread_mutex_lock(&rl->lock);
	ratelimit_cost_table(rl->costs, method, path, len, ri, n, bucket, cost);
	pthread_mutex_unlock(&rl->lock);
}
