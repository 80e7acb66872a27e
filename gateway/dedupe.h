/*
 * dedupe: the client_order_ids this gateway sent for the account, so a
 * create whose id was already sent - in flight or accepted - within
 * orders.dedupe_window_s is answered locally (409 order_already_exists,
 * Kalshi's own code, with the order_id when known) instead of being sent
 * again. Entries expire after the window; the table is bounded.
 * Thread-safe (one mutex, short critical sections).
 */
#ifndef GATEWAY_DEDUPE_H
#define GATEWAY_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

struct dedupe;

/* A table remembering ids for window_ms, with room for about max_entries
 * live ids (fixed memory, 32 bytes a slot, allocated and touched here; an
 * id whose slots are all taken by live ids is not tracked). NULL on OOM. */
struct dedupe *dedupe_new(int64_t window_ms, size_t max_entries);
void dedupe_free(struct dedupe *d);

/* Claims id at now_ms. Returns 0 when claimed (now in flight), 1 when it
 * was already sent within the window (order_id, cap bytes, gets the known
 * order id or ""), -1 when the table is full (not tracked: the create
 * proceeds, Kalshi's own duplicate check still applies). */
int dedupe_claim(struct dedupe *d, const char *id, int64_t now_ms, char *order_id, size_t cap);

/* The upstream accepted the order: remember its order id. */
void dedupe_accepted(struct dedupe *d, const char *id, const char *order_id);

/* The upstream refused the order for sure: forget the id. */
void dedupe_release(struct dedupe *d, const char *id);

#endif
