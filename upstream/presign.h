/*
 * presign: ready signatures for the order endpoints, made ahead by a
 * background thread, so an order does not wait ~1 ms for RSA at dispatch.
 *
 * A Kalshi signature covers timestamp, method and path, never the body,
 * so a signature made a little earlier for the same method and path is as
 * good as a fresh one - as long as its timestamp is recent. Each ready
 * signature is for its own millisecond, is used at most once, and is
 * discarded once older than upstream.presign_max_age_ms (the trade-off:
 * Kalshi sees timestamps up to that old). An empty pool means signing
 * inline. The pool follows demand: up to 4 ready signatures per path while
 * it is in use, one otherwise (the batch path: none once unused for a
 * minute), so an idle gateway makes ~13 signatures a second, not 160.
 * Thread-safe.
 */
#ifndef UPSTREAM_PRESIGN_H
#define UPSTREAM_PRESIGN_H

#include <stddef.h>
#include <stdint.h>

struct signer;
struct presign;

/* Starts the pre-signer for the hot paths (POST on the V2 create and batch
 * create endpoints) with signatures at most max_age_ms old. Returns NULL
 * when max_age_ms is 0 (off) or on failure. */
struct presign *presign_start(const struct signer *s, long max_age_ms);

/* Stops the thread and frees. NULL is a no-op. */
void presign_stop(struct presign *p);

/* Takes a ready signature for method + path: returns 1 and fills *ts_ms and
 * sig (cap >= SIGNER_SIG_MAX), 0 on a miss (sign inline), -1 when the path
 * is not pre-signed. Counts hits, misses and discards. */
int presign_take(struct presign *p, const char *method, const char *path, size_t path_len,
		 int64_t *ts_ms, char *sig, size_t cap);

/* Counters since start. */
void presign_counts(const struct presign *p, long *hits, long *misses, long *discards);

#endif
