/*
 * gw: the gateway's shared context, created at start-up by main.c and
 * read by every event loop and background thread.
 *
 * Invariants: conf, signer and up never change while loops run; the other
 * fields are atomics or guarded by their own mutex.
 */
#ifndef GATEWAY_GW_H
#define GATEWAY_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "conf/conf.h"
#include "policy/limits.h"
#include "upstream/client.h"

struct signer;
struct sessions;
struct identity;
struct audit;
struct ratelimit;
struct dedupe;

/* A client's orders-per-second bucket (max_orders_per_s). */
struct client_rate {
	pthread_mutex_t lock;
	struct limits_rate bucket;
};

/*
 * What a reload may change: the configuration's clients, limits, browser
 * rules and session policy, with the client table and rate buckets built
 * from it. A request takes the current snapshot once and uses it to the
 * end; replaced snapshots are kept until exit (reloads are rare), so no
 * reader ever sees one freed.
 */
struct gw_snapshot {
	struct gw_conf *conf;            /* owned */
	struct identity *ident;          /* owned */
	struct client_rate *rates;       /* identity_count + 1 (anonymous), owned */
	struct verifier **verifiers;     /* bots' public keys, owned */
	size_t verifier_count;
	int anonymous_admin;             /* no clients and no admin token */
	struct gw_snapshot *retired;     /* older snapshots, freed at exit */
};

struct gw {
	const struct gw_conf *conf;      /* the start-up configuration (listen, upstream, state) */
	_Atomic(struct gw_snapshot *) snap; /* the current reloadable snapshot */
	struct signer *signer;           /* NULL when no key is configured */
	struct upstream_opts up;         /* points into conf and signer */
	struct sessions *sessions;       /* session table and worker */
	struct audit *audit;             /* audit log writer */
	struct ratelimit *ratelimit;     /* the account's shared read/write budget */
	struct dedupe *dedupe;           /* client_order_ids sent within orders.dedupe_window_s */

	atomic_int stopping;             /* set once on SIGINT/SIGTERM */
	int64_t stop_deadline_ms;        /* monotonic, valid once stopping */

	/* readiness, written by the probe thread */
	pthread_mutex_t ready_lock;
	int probe_ok;                    /* last probe of /exchange/status succeeded */
	int probe_done;                  /* at least one probe finished */
	char probe_error[CURL_ERROR_SIZE + 64];
	int key_checked;                 /* the key was tried on a signed endpoint */
	int key_refused;                 /* ...and the upstream answered 401 */
	int trading_active;              /* from /exchange/status: 1, 0, or -1 unknown */
	long clock_skew_s;               /* upstream Date minus our clock */

	/* counters for /metrics */
	atomic_long requests_total;
	atomic_long requests_rejected;
	atomic_long upstream_requests;
	atomic_long upstream_failures;
};

/* Monotonic milliseconds and microseconds. Thread-safe. */
int64_t gw_now_ms(void);
int64_t gw_now_us(void);

#endif
