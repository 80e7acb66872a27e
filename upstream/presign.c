/* presign: see presign.h. */
#include "upstream/presign.h"
#include "upstream/signer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRESIGN_SLOTS 4      /* ready signatures kept per path at most */
/* How many a path keeps ready depends on its recent use, so an idle or
 * unused path does not burn CPU on signatures that expire unused: all
 * PRESIGN_SLOTS while taken within the last PRESIGN_BUSY_MS; one while
 * taken within PRESIGN_WARM_MS (the order create path: always one); none
 * otherwise. */
#define PRESIGN_BUSY_MS 1000
#define PRESIGN_WARM_MS 60000

static const char *const presign_paths[] = {
	"/trade-api/v2/portfolio/events/orders",
	"/trade-api/v2/portfolio/events/orders/batched",
};
#define NPATHS (sizeof presign_paths / sizeof presign_paths[0])

struct presign_slot {
	int64_t ts_ms;           /* 0 = empty */
	char sig[SIGNER_SIG_MAX];
};

struct presign {
	const struct signer *signer;
	long max_age_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	struct presign_slot slots[NPATHS][PRESIGN_SLOTS];
	int64_t last_take_ms[NPATHS];  /* wall clock; 0 = never */
	atomic_long hits, misses, discards;
};

/* Wall-clock milliseconds (the timestamp Kalshi checks). */
static int64_t presign_now(void)
{
	return signer_now_ms();
}

/* How many ready signatures path k should have now (see PRESIGN_BUSY_MS).
 * Caller holds the lock. */
static int presign_want(const struct presign *p, size_t k, int64_t now)
{
	int64_t last = p->last_take_ms[k];

	if (last && now - last <= PRESIGN_BUSY_MS)
		return PRESIGN_SLOTS;
	if (k == 0 || (last && now - last <= PRESIGN_WARM_MS))
		return 1;
	return 0;
}

/* The filler: keeps each path's wanted number of slots holding signatures
 * younger than three quarters of the maximum age (so a take always finds
 * one within the age), each for a distinct millisecond. Slots past the
 * wanted number are left to expire. */
static void *presign_main(void *arg)
{
	struct presign *p = arg;
	int64_t last_ts = 0;

	pthread_setname_np(pthread_self(), "gw-presign");
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		int64_t now = presign_now(), fresh = now - p->max_age_ms * 3 / 4;
		int did = 0;
		for (size_t k = 0; k < NPATHS && !p->stop; k++) {
			int want = presign_want(p, k, now), have = 0;
			for (size_t i = 0; i < PRESIGN_SLOTS; i++)
				have += p->slots[k][i].ts_ms && p->slots[k][i].ts_ms >= fresh;
			for (size_t i = 0; i < PRESIGN_SLOTS && have < want && !p->stop; i++) {
				struct presign_slot *sl = &p->slots[k][i];
				char sig[SIGNER_SIG_MAX], err[128];
				int64_t ts;
				if (sl->ts_ms && sl->ts_ms >= fresh)
					continue;
				ts = presign_now();
				if (ts <= last_ts)
					ts = last_ts + 1;  /* one millisecond each */
				last_ts = ts;
				pthread_mutex_unlock(&p->lock);
				if (signer_sign(p->signer, ts, "POST", presign_paths[k],
						strlen(presign_paths[k]), sig, sizeof sig, err, sizeof err) < 0) {
					pthread_mutex_lock(&p->lock);
					continue;
				}
				pthread_mutex_lock(&p->lock);
				if (sl->ts_ms && sl->ts_ms < now - p->max_age_ms)
					atomic_fetch_add(&p->discards, 1);
				sl->ts_ms = ts;
				memcpy(sl->sig, sig, sizeof sig);
				have++;
				did = 1;
			}
		}
		if (!did) {
			struct timespec until;
			long wait_ms = p->max_age_ms / 8 > 0 ? p->max_age_ms / 8 : 1;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += wait_ms * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&p->cond, &p->lock, &until);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct presign *presign_start(const struct signer *s, long max_age_ms)
{
	struct presign *p;

	if (!s || max_age_ms <= 0 || !(p = calloc(1, sizeof *p)))
		return NULL;
	p->signer = s;
	p->max_age_ms = max_age_ms;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, presign_main, p) != 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cond);
		free(p);
		return NULL;
	}
	return p;
}

void presign_stop(struct presign *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

int presign_take(struct presign *p, const char *method, const char *path, size_t path_len,
		 int64_t *ts_ms, char *sig, size_t cap)
{
	int64_t now, best_ts = 0;
	size_t k, best = PRESIGN_SLOTS;

	if (!p || strcmp(method, "POST") != 0)
		return -1;
	for (k = 0; k < NPATHS; k++)
		if (strlen(presign_paths[k]) == path_len && memcmp(presign_paths[k], path, path_len) == 0)
			break;
	if (k == NPATHS)
		return -1;
	now = presign_now();
	pthread_mutex_lock(&p->lock);
	p->last_take_ms[k] = now;
	for (size_t i = 0; i < PRESIGN_SLOTS; i++) {
		struct presign_slot *sl = &p->slots[k][i];
		if (!sl->ts_ms)
			continue;
		if (sl->ts_ms < now - p->max_age_ms) {
			sl->ts_ms = 0;     /* too old: never used */
			atomic_fetch_add(&p->discards, 1);
			continue;
		}
		if (sl->ts_ms > best_ts) {
			best_ts = sl->ts_ms;
			best = i;
		}
	}
	if (best < PRESIGN_SLOTS && cap >= SIGNER_SIG_MAX) {
		*ts_ms = p->slots[k][best].ts_ms;
		memcpy(sig, p->slots[k][best].sig, SIGNER_SIG_MAX);
		p->slots[k][best].ts_ms = 0;   /* used at most once */
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		atomic_fetch_add(&p->hits, 1);
		return 1;
	}
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_add(&p->misses, 1);
	return 0;
}

void presign_counts(const struct presign *p, long *hits, long *misses, long *discards)
{
	*hits = p ? atomic_load(&p->hits) : 0;
	*misses = p ? atomic_load(&p->misses) : 0;
	*discards = p ? atomic_load(&p->discards) : 0;
}
