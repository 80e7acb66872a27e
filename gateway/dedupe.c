/* dedupe: see dedupe.h. */
#include "gateway/dedupe.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct dd_entry {
	char *id;
	char order_id[72];
	int64_t at_ms;
	struct dd_entry *next;
};

struct dedupe {
	pthread_mutex_t lock;
	struct dd_entry **buckets;
	size_t nbuckets, count, max;
	int64_t window_ms;
	int64_t last_sweep_ms;
};

/* FNV-1a over the id. */
static size_t dd_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h % n);
}

struct dedupe *dedupe_new(int64_t window_ms, size_t max_entries)
{
	struct dedupe *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->nbuckets = max_entries / 4 + 1;
	d->buckets = calloc(d->nbuckets, sizeof *d->buckets);
	if (!d->buckets) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->max = max_entries;
	d->window_ms = window_ms;
	return d;
}

void dedupe_free(struct dedupe *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nbuckets; i++)
		for (struct dd_entry *e = d->buckets[i], *n; e; e = n) {
			n = e->next;
			free(e->id);
			free(e);
		}
	free(d->buckets);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Drops expired entries (at most once a second). Caller holds the lock. */
static void dd_sweep(struct dedupe *d, int64_t now_ms)
{
	if (now_ms - d->last_sweep_ms < 1000 && d->count < d->max)
		return;
	d->last_sweep_ms = now_ms;
	for (size_t i = 0; i < d->nbuckets; i++)
		for (struct dd_entry **pp = &d->buckets[i]; *pp;) {
			struct dd_entry *e = *pp;
			if (now_ms - e->at_ms > d->window_ms) {
				*pp = e->next;
				free(e->id);
				free(e);
				d->count--;
			} else {
				pp = &e->next;
			}
		}
}

/* The entry for id, or NULL. Caller holds the lock. */
static struct dd_entry **dd_find(struct dedupe *d, const char *id)
{
	struct dd_entry **pp = &d->buckets[dd_hash(id, d->nbuckets)];

	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0)
			return pp;
	return NULL;
}

int dedupe_claim(struct dedupe *d, const char *id, int64_t now_ms, char *order_id, size_t cap)
{
	struct dd_entry **pp, *e = NULL;
	size_t b;
	int rc = 0;

	if (!d || !id || !*id)
		return -1;
	pthread_mutex_lock(&d->lock);
	dd_sweep(d, now_ms);
	pp = dd_find(d, id);
	if (pp && now_ms - (*pp)->at_ms <= d->window_ms) {
		if (cap)
			snprintf(order_id, cap, "%s", (*pp)->order_id);
		rc = 1;
	} else if (pp) {
		(*pp)->at_ms = now_ms;
		(*pp)->order_id[0] = '\0';
	} else if (d->count >= d->max || !(e = calloc(1, sizeof *e)) || !(e->id = strdup(id))) {
		free(e);   /* NULL when full or when calloc failed */
		rc = -1;
	} else {
		e->at_ms = now_ms;
		b = dd_hash(id, d->nbuckets);
		e->next = d->buckets[b];
		d->buckets[b] = e;
		d->count++;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void dedupe_accepted(struct dedupe *d, const char *id, const char *order_id)
{
	struct dd_entry **pp;

	if (!d || !id)
		return;
	pthread_mutex_lock(&d->lock);
	pp = dd_find(d, id);
	if (pp && order_id)
		snprintf((*pp)->order_id, sizeof (*pp)->order_id, "%s", order_id);
	pthread_mutex_unlock(&d->lock);
}

void dedupe_release(struct dedupe *d, const char *id)
{
	struct dd_entry **pp, *e;

	if (!d || !id)
		return;
	pthread_mutex_lock(&d->lock);
	pp = dd_find(d, id);
	if (pp) {
		e = *pp;
		*pp = e->next;
		free(e->id);
		free(e);
		d->count--;
	}
	pthread_mutex_unlock(&d->lock);
}
