/* dedupe: see dedupe.h.
 *
 * A flat table allocated (and touched) once at start: buckets of
 * DD_WAYS slots, each id hashed to two buckets (two-choice hashing keeps
 * the table usable up to ~95% full). A slot holds a 128-bit keyed hash of
 * the id (random key per process, so ids cannot be crafted to collide),
 * the time it was claimed and the order id. Expired slots are simply
 * reused, so there is no sweep, no allocation after start, and memory does
 * not grow with traffic.
 */
#include "gateway/dedupe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define DD_WAYS 8
#define DD_ORDER_ID 39           /* order ids kept up to this long (UUIDs are 36) */

struct dd_slot {
	uint64_t k1, k2;         /* keyed hash of the id */
	int64_t at_ms;           /* when claimed */
	char order_id[DD_ORDER_ID];
	uint8_t used;
};

struct dd_bucket {
	struct dd_slot slot[DD_WAYS];
};

struct dedupe {
	pthread_mutex_t lock;
	struct dd_bucket *buckets;
	size_t nbuckets;
	int64_t window_ms;
	uint64_t seed1, seed2;
};

/* One 64-bit keyed hash of s (n bytes): multiply-xorshift over 8-byte
 * words, seeded; different seeds give independent hashes. */
static uint64_t dd_hash64(const char *s, size_t n, uint64_t seed)
{
	uint64_t h = seed ^ (n * UINT64_C(0x9e3779b97f4a7c15));

	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * UINT64_C(0xbf58476d1ce4e5b9);
		h ^= h >> 31;
		s += 8;
		n -= 8;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, s, n);
		h = (h ^ w) * UINT64_C(0xbf58476d1ce4e5b9);
		h ^= h >> 31;
	}
	h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
	return h ^ (h >> 31);
}

/* The id's two keys. */
static void dd_keys(const struct dedupe *d, const char *id, uint64_t *k1, uint64_t *k2)
{
	size_t n = strlen(id);

	*k1 = dd_hash64(id, n, d->seed1);
	*k2 = dd_hash64(id, n, d->seed2);
}

struct dedupe *dedupe_new(int64_t window_ms, size_t max_entries)
{
	struct dedupe *d = calloc(1, sizeof *d);
	uint64_t seeds[2];

	if (!d)
		return NULL;
	/* room for max_entries at ~88% load */
	d->nbuckets = max_entries / (DD_WAYS - 1) + 1;
	d->buckets = malloc(d->nbuckets * sizeof *d->buckets);
	if (!d->buckets) {
		free(d);
		return NULL;
	}
	/* touched now (explicit_bzero: a plain memset after malloc may become
	 * a calloc that touches nothing): the table is resident from the start
	 * and RSS does not grow as ids land on new pages */
	explicit_bzero(d->buckets, d->nbuckets * sizeof *d->buckets);
	if (getrandom(seeds, sizeof seeds, 0) != (ssize_t)sizeof seeds) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seeds[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(uintptr_t)d;
		seeds[1] = (uint64_t)ts.tv_sec * UINT64_C(0xbf58476d1ce4e5b9) ^ seeds[0];
	}
	d->seed1 = seeds[0];
	d->seed2 = seeds[1] ^ UINT64_C(0x94d049bb133111eb);
	pthread_mutex_init(&d->lock, NULL);
	d->window_ms = window_ms;
	return d;
}

void dedupe_free(struct dedupe *d)
{
	if (!d)
		return;
	free(d->buckets);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* The slot holding keys (k1, k2), or NULL. Caller holds the lock. */
static struct dd_slot *dd_find(struct dedupe *d, uint64_t k1, uint64_t k2)
{
	struct dd_bucket *b[2] = { &d->buckets[k1 % d->nbuckets], &d->buckets[k2 % d->nbuckets] };

	for (int j = 0; j < 2; j++)
		for (int i = 0; i < DD_WAYS; i++) {
			struct dd_slot *s = &b[j]->slot[i];
			if (s->used && s->k1 == k1 && s->k2 == k2)
				return s;
		}
	return NULL;
}

/* A slot to put a new id in: empty or expired, in the emptier of the
 * id's two buckets; NULL when both are full of live ids. */
static struct dd_slot *dd_free_slot(struct dedupe *d, uint64_t k1, uint64_t k2, int64_t now_ms)
{
	struct dd_bucket *b[2] = { &d->buckets[k1 % d->nbuckets], &d->buckets[k2 % d->nbuckets] };
	struct dd_slot *pick[2] = { NULL, NULL };
	int nfree[2] = { 0, 0 };

	for (int j = 0; j < 2; j++)
		for (int i = 0; i < DD_WAYS; i++) {
			struct dd_slot *s = &b[j]->slot[i];
			if (!s->used || now_ms - s->at_ms > d->window_ms) {
				nfree[j]++;
				if (!pick[j])
					pick[j] = s;
			}
		}
	return nfree[1] > nfree[0] ? pick[1] : pick[0];
}

int dedupe_claim(struct dedupe *d, const char *id, int64_t now_ms, char *order_id, size_t cap)
{
	struct dd_slot *s;
	uint64_t k1, k2;
	int rc = 0;

	if (!d || !id || !*id)
		return -1;
	dd_keys(d, id, &k1, &k2);
	pthread_mutex_lock(&d->lock);
	s = dd_find(d, k1, k2);
	if (s && now_ms - s->at_ms <= d->window_ms) {
		if (cap)
			snprintf(order_id, cap, "%s", s->order_id);
		rc = 1;
	} else if (s) {
		s->at_ms = now_ms;
		s->order_id[0] = '\0';
	} else if (!(s = dd_free_slot(d, k1, k2, now_ms))) {
		rc = -1;   /* full of live ids: not tracked */
	} else {
		s->k1 = k1;
		s->k2 = k2;
		s->at_ms = now_ms;
		s->order_id[0] = '\0';
		s->used = 1;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void dedupe_accepted(struct dedupe *d, const char *id, const char *order_id)
{
	struct dd_slot *s;
	uint64_t k1, k2;

	if (!d || !id || !order_id)
		return;
	dd_keys(d, id, &k1, &k2);
	pthread_mutex_lock(&d->lock);
	s = dd_find(d, k1, k2);
	/* an order id longer than the slot is not kept (never a cut one) */
	if (s && strlen(order_id) < sizeof s->order_id)
		memcpy(s->order_id, order_id, strlen(order_id) + 1);
	pthread_mutex_unlock(&d->lock);
}

void dedupe_release(struct dedupe *d, const char *id)
{
	struct dd_slot *s;
	uint64_t k1, k2;

	if (!d || !id)
		return;
	dd_keys(d, id, &k1, &k2);
	pthread_mutex_lock(&d->lock);
	s = dd_find(d, k1, k2);
	if (s)
		s->used = 0;
	pthread_mutex_unlock(&d->lock);
}
