/*
 * mock_rate.c - Kalshi's per-account token buckets and endpoint costs,
 * behind one mutex.
 */
#include "tests/mock/mock_rate.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/mock/mock.h"

#define RATE_PREFIX "/trade-api/v2"

struct rate_bucket {
	int64_t per_s, cap;       /* tokens a second, capacity */
	int64_t milli;            /* tokens x 1000 */
	int64_t last_ms;
};

struct mock_rate {
	pthread_mutex_t lock;
	bool enforce;
	struct rate_bucket b[2];  /* 0 read, 1 write */
	long limited;
	json_t *costs;
};

/* The default table: cheaper V2 cancels, legacy mutations at 10x. */
static json_t *rate_default_costs(void)
{
	return json_pack(
		"{s:i, s:[{s:s, s:s, s:i}, {s:s, s:s, s:i}, {s:s, s:s, s:i}, {s:s, s:s, s:i},"
		" {s:s, s:s, s:i}, {s:s, s:s, s:i}]}",
		"default_cost", 10, "endpoint_costs",
		"method", "DELETE", "path", "/trade-api/v2/portfolio/events/orders/{order_id}",
		"cost", 2,
		"method", "POST", "path", "/trade-api/v2/portfolio/orders", "cost", 100,
		"method", "POST", "path", "/trade-api/v2/portfolio/orders/batched", "cost", 100,
		"method", "DELETE", "path", "/trade-api/v2/portfolio/orders/{order_id}", "cost", 100,
		"method", "POST", "path", "/trade-api/v2/portfolio/orders/{order_id}/amend",
		"cost", 100,
		"method", "POST", "path", "/trade-api/v2/portfolio/orders/{order_id}/decrease",
		"cost", 100);
}

/* Basic tier: 200 read / 100 write tokens a second, one second held. */
static void rate_basic(struct mock_rate *r)
{
	r->b[0].per_s = r->b[0].cap = 200;
	r->b[1].per_s = r->b[1].cap = 100;
}

/* See mock_rate.h. */
struct mock_rate *mock_rate_new(void)
{
	struct mock_rate *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->costs = rate_default_costs();
	if (r->costs == NULL) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	rate_basic(r);
	return r;
}

/* See mock_rate.h. */
void mock_rate_free(struct mock_rate *r)
{
	if (r == NULL)
		return;
	json_decref(r->costs);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Reads an optional positive integer member into *out. */
static int rate_int(const json_t *spec, const char *name, int64_t *out, char *err,
		    size_t errlen)
{
	const json_t *v = json_object_get(spec, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 100000000) {
		snprintf(err, errlen, "'%s' must be a positive integer", name);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* See mock_rate.h. */
int mock_rate_set(struct mock_rate *r, const json_t *spec, char *err, size_t errlen)
{
	struct mock_rate tmp;
	const json_t *en = json_object_get(spec, "enforce");
	int64_t now = mock_mono_ms();

	if (!json_is_object(spec) || !json_is_boolean(en)) {
		snprintf(err, errlen, "rate must be an object with a boolean 'enforce'");
		return -1;
	}
	memset(&tmp, 0, sizeof(tmp));
	rate_basic(&tmp);
	if (rate_int(spec, "read_per_s", &tmp.b[0].per_s, err, errlen) ||
	    rate_int(spec, "write_per_s", &tmp.b[1].per_s, err, errlen))
		return -1;
	tmp.b[0].cap = tmp.b[0].per_s;
	tmp.b[1].cap = tmp.b[1].per_s;
	if (rate_int(spec, "read_capacity", &tmp.b[0].cap, err, errlen) ||
	    rate_int(spec, "write_capacity", &tmp.b[1].cap, err, errlen))
		return -1;
	pthread_mutex_lock(&r->lock);
	r->enforce = json_is_true(en);
	for (int i = 0; i < 2; i++) {
		r->b[i] = tmp.b[i];
		r->b[i].milli = r->b[i].cap * 1000;
		r->b[i].last_ms = now;
	}
	r->limited = 0;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Refills a bucket up to now. Caller holds the lock. */
static void rate_refill(struct rate_bucket *b, int64_t now)
{
	if (now > b->last_ms) {
		b->milli += (now - b->last_ms) * b->per_s;
		if (b->milli > b->cap * 1000)
			b->milli = b->cap * 1000;
		b->last_ms = now;
	}
}

/* See mock_rate.h. */
json_t *mock_rate_get(struct mock_rate *r)
{
	json_t *o;

	pthread_mutex_lock(&r->lock);
	rate_refill(&r->b[0], mock_mono_ms());
	rate_refill(&r->b[1], mock_mono_ms());
	o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "enforce", r->enforce,
		      "read_per_s", (json_int_t)r->b[0].per_s, "write_per_s",
		      (json_int_t)r->b[1].per_s, "read_capacity", (json_int_t)r->b[0].cap,
		      "write_capacity", (json_int_t)r->b[1].cap, "read_tokens",
		      (json_int_t)(r->b[0].milli / 1000), "write_tokens",
		      (json_int_t)(r->b[1].milli / 1000), "limited", (json_int_t)r->limited);
	pthread_mutex_unlock(&r->lock);
	return o;
}

/* See mock_rate.h. */
int mock_rate_set_costs(struct mock_rate *r, const json_t *costs, char *err, size_t errlen)
{
	const json_t *d = json_object_get(costs, "default_cost");
	const json_t *list = json_object_get(costs, "endpoint_costs"), *e;
	size_t i;

	if (!json_is_integer(d) || json_integer_value(d) < 1 || !json_is_array(list)) {
		snprintf(err, errlen, "costs must be {\"default_cost\": N, \"endpoint_costs\": [...]}");
		return -1;
	}
	json_array_foreach(list, i, e) {
		const json_t *c = json_object_get(e, "cost");
		if (!json_is_string(json_object_get(e, "method")) ||
		    !json_is_string(json_object_get(e, "path")) || !json_is_integer(c) ||
		    json_integer_value(c) < 0) {
			snprintf(err, errlen, "endpoint_costs[%zu] must be {method, path, cost}", i);
			return -1;
		}
	}
	pthread_mutex_lock(&r->lock);
	json_decref(r->costs);
	r->costs = json_deep_copy(costs);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* See mock_rate.h. */
json_t *mock_rate_costs(struct mock_rate *r)
{
	json_t *c;

	pthread_mutex_lock(&r->lock);
	c = json_deep_copy(r->costs);
	pthread_mutex_unlock(&r->lock);
	return c;
}

/* Drops the /trade-api/v2 prefix. */
static const char *rate_strip(const char *p)
{
	size_t n = strlen(RATE_PREFIX);

	return strncmp(p, RATE_PREFIX, n) == 0 ? p + n : p;
}

/* Whether pattern ("{x}" = any one segment) matches path. */
static bool rate_match(const char *pat, const char *path)
{
	pat = rate_strip(pat);
	path = rate_strip(path);
	while (*pat == '/' && *path == '/') {
		size_t pl = strcspn(pat + 1, "/"), ql = strcspn(path + 1, "/");
		if (pl >= 2 && pat[1] == '{' && pat[pl] == '}') {
			if (ql == 0)
				return false;
		} else if (pl != ql || strncmp(pat + 1, path + 1, pl) != 0) {
			return false;
		}
		pat += pl + 1;
		path += ql + 1;
	}
	return *pat == '\0' && *path == '\0';
}

/* The listed cost of method + path, or -1. Caller holds the lock. */
static int64_t rate_listed(const struct mock_rate *r, const char *method, const char *path)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(r->costs, "endpoint_costs"), i, e) {
		if (strcasecmp(json_string_value(json_object_get(e, "method")), method) == 0 &&
		    rate_match(json_string_value(json_object_get(e, "path")), path))
			return json_integer_value(json_object_get(e, "cost"));
	}
	return -1;
}

/* The number of orders in a batch body (1 when unreadable). */
static int64_t rate_items(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	size_t n = json_array_size(json_object_get(j, "orders"));

	json_decref(j);
	return n > 0 ? (int64_t)n : 1;
}

/* The cost of a request. Caller holds the lock. */
static int64_t rate_cost(const struct mock_rate *r, const char *method, const char *path,
			 const char *body, size_t len)
{
	const char *p = rate_strip(path);
	size_t pl = strlen(p);
	bool batch = pl > 8 && strcmp(p + pl - 8, "/batched") == 0;
	int64_t c = rate_listed(r, method, path);

	if (!batch)
		return c >= 0 ? c : json_integer_value(json_object_get(r->costs, "default_cost"));
	if (c < 0) {
		char single[128];
		/* POST .../orders/batched -> POST .../orders; DELETE -> .../orders/x */
		snprintf(single, sizeof(single), "%.*s%s", (int)(pl - 8), p,
			 strcmp(method, "DELETE") == 0 ? "/x" : "");
		c = rate_listed(r, method, single);
	}
	if (c < 0)
		c = json_integer_value(json_object_get(r->costs, "default_cost"));
	return c * rate_items(body, len);
}

/* See mock_rate.h. */
bool mock_rate_admit(struct mock_rate *r, const char *method, const char *path,
		     const char *body, size_t body_len)
{
	bool write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
		     strncmp(rate_strip(path), "/portfolio/", 11) == 0;
	struct rate_bucket *b;
	bool ok = true;

	pthread_mutex_lock(&r->lock);
	if (r->enforce) {
		int64_t need = rate_cost(r, method, path, body, body_len) * 1000;
		b = &r->b[write ? 1 : 0];
		rate_refill(b, mock_mono_ms());
		if (b->milli >= need) {
			b->milli -= need;
		} else {
			r->limited++;
			ok = false;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}
