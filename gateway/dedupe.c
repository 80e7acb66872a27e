/* dedupe: see dedupe.h.
 *
 * A flat table allocated (and touched) once at start: buckets of
 * DD_WAYS slots, each id hashed to two buckets (two-choice hashing keeps
 * the table usable up to ~95% full). A slot holds a 128-bit keyed hash of
 * the id (random key per process, so ids cannot be crafted to collide),
 * the time it was claimed and the order id, in 32 bytes: a 96-bit hash,
 * the time in 16 ms ticks (the window is in seconds), the order id as the
 * 16 bytes of its UUID (Kalshi's form; another form is not kept, and a
 * duplicate refusal then carries no order_id). Expired slots are simply
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
#define DD_TICK_MS 16

struct dd_slot {
	uint64_t k1;             /* keyed hash of the id ... */
	uint32_t k2;             /* ... 96 bits in all */
	uint32_t at;             /* claimed at, in ticks since the table began (+1); 0 = empty */
	uint8_t oid[16];         /* the order id's UUID bytes; all zero = unknown */
};

struct dd_bucket {
	struct dd_slot slot[DD_WAYS];
};

struct dedupe {
	pthread_mutex_t lock;
	struct dd_bucket *buckets;
	size_t nbuckets;
	int64_t window_ms;
	int64_t t0_ms;           /* tick 0; set by the first claim */
	int t0_set;              /* t0_ms is set (it may be 0) */
	uint64_t seed1, seed2;
};

/* now_ms as a slot time (never 0). Caller holds the lock. */
static uint32_t dd_tick(struct dedupe *d, int64_t now_ms)
{
	uint32_t t;

	if (!d->t0_set) {
		d->t0_ms = now_ms - DD_TICK_MS;
		d->t0_set = 1;
	}
	t = (uint32_t)((uint64_t)(now_ms - d->t0_ms) / DD_TICK_MS);
	return t ? t : 1;
}

/* Whether a used slot claimed at tick `at` is past the window at `now`
 * (tick arithmetic wraps safely for windows under a year). */
static int dd_expired(const struct dedupe *d, uint32_t at, uint32_t now)
{
	return (int64_t)(uint32_t)(now - at) * DD_TICK_MS > d->window_ms;
}

/* A canonical lower-case UUID text into 16 bytes; -1 for anything else. */
static int dd_uuid_parse(const char *s, uint8_t out[16])
{
	static const int dash[] = { 8, 13, 18, 23 };
	int k = 0, nib = 0;

	if (strlen(s) != 36)
		return -1;
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		int v;
		if (i == dash[0] || i == dash[1] || i == dash[2] || i == dash[3]) {
			if (c != '-')
				return -1;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		if (nib)
			out[k++] |= (uint8_t)v;
		else
			out[k] = (uint8_t)(v << 4);
		nib = !nib;
	}
	return 0;
}

/* The UUID text of 16 bytes into buf (cap >= 37), or "" when unknown. */
static void dd_uuid_format(const uint8_t in[16], char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t any = 0;
	size_t j = 0;

	for (int i = 0; i < 16; i++)
		any |= in[i];
	if (!any || cap < 37) {
		if (cap)
			buf[0] = '\0';
		return;
	}
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[j++] = '-';
		buf[j++] = hex[in[i] >> 4];
		buf[j++] = hex[in[i] & 15];
	}
	buf[j] = '\0';
}

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

/* The id's two keys (64 + 32 bits). */
static void dd_keys(const struct dedupe *d, const char *id, uint64_t *k1, uint32_t *k2)
{
	size_t n = strlen(id);

	*k1 = dd_hash64(id, n, d->seed1);
	*k2 = (uint32_t)dd_hash64(id, n, d->seed2);
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
	_Static_assert(sizeof(struct dd_slot) == 32, "a dedupe slot is 32 bytes");
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

/* The id's two buckets: from the two halves of k1 (k2 only confirms). */
static void dd_buckets(struct dedupe *d, uint64_t k1, struct dd_bucket *b[2])
{
	b[0] = &d->buckets[(k1 & 0xffffffffu) % d->nbuckets];
	b[1] = &d->buckets[(k1 >> 32) % d->nbuckets];
}

/* The slot holding keys (k1, k2), or NULL. Caller holds the lock. */
static struct dd_slot *dd_find(struct dedupe *d, uint64_t k1, uint32_t k2)
{
	struct dd_bucket *b[2];

	dd_buckets(d, k1, b);
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < DD_WAYS; i++) {
			struct dd_slot *s = &b[j]->slot[i];
			if (s->at && s->k1 == k1 && s->k2 == k2)
				return s;
		}
	return NULL;
}

/* A slot to put a new id in: empty or expired, in the emptier of the
 * id's two buckets; NULL when both are full of live ids. */
static struct dd_slot *dd_free_slot(struct dedupe *d, uint64_t k1, uint32_t now)
{
	struct dd_bucket *b[2];
	struct dd_slot *pick[2] = { NULL, NULL };
	int nfree[2] = { 0, 0 };

	dd_buckets(d, k1, b);
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < DD_WAYS; i++) {
			struct dd_slot *s = &b[j]->slot[i];
			if (!s->at || dd_expired(d, s->at, now)) {
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
	uint64_t k1;
	uint32_t k2, now;
	int rc = 0;

	if (!d || !id || !*id)
		return -1;
	dd_keys(d, id, &k1, &k2);
	pthread_mutex_lock(&d->lock);
	now = dd_tick(d, now_ms);
	s = dd_find(d, k1, k2);
	if (s && !dd_expired(d, s->at, now)) {
		dd_uuid_format(s->oid, order_id, cap);
		rc = 1;
	} else if (s) {
		s->at = now;
		memset(s->oid, 0, sizeof s->oid);
	} else if (!(s = dd_free_slot(d, k1, now))) {
		rc = -1;   /* full of live ids: not tracked */
	} else {
		s->k1 = k1;
		s->k2 = k2;
		s->at = now;
		memset(s->oid, 0, sizeof s->oid);
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void dedupe_accepted(struct dedupe *d, const char *id, const char *order_id)
{
	struct dd_slot *s;
	uint64_t k1;
	uint32_t k2;
	uint8_t oid[16];

	if (!d || !id || !order_id || dd_uuid_parse(order_id, oid) < 0)
		return;   /* an order id in another form is not kept */
	dd_keys(d, id, &k1, &k2);
	pthread_mutex_lock(&d->lock);
	s = dd_find(d, k1, k2);
	if (s)
		memcpy(s->oid, oid, sizeof oid);
	pthread_mutex_unlock(&d->lock);
}

void dedupe_release(struct dedupe *d, const char *id)
{
	struct dd_slot *s;
	uint64_t k1;
	uint32_t k2;

	if (!d || !id)
		return;
	dd_keys(d, id, &k1, &k2);
	pthread_mutex_lock(&d->lock);
	s = dd_find(d, k1, k2);
	if (s)
		s->at = 0;
	pthread_mutex_unlock(&d->lock);
}
