/*
 * fairq: the choice of which waiting request the shared rate budget serves
 * next. Pure (no I/O, no clock, no locks): the caller owns the queue and
 * the thread.
 *
 * Priority: session calls (group mutations: halt, end, reset) first, then
 * cancels and decreases, then creates and other writes, then reads; each
 * priority is its own queue, served only when the ones above are empty or
 * waiting for budget.
 *
 * Fairness within a priority: least-recently-served client first
 * (round robin by turns). Each queue remembers when each client was last
 * served; the next request served is the oldest one of the client whose
 * last turn is longest ago (a client never served, or forgotten, goes
 * first). A bot that floods with many parallel requests therefore gets one
 * turn per round like a bot with one request in flight, and cannot starve
 * it. Turns are counted in requests, not tokens: a batch is one turn.
 * Only the first FAIRQ_SCAN waiting requests are considered, which bounds a
 * choice's cost; clients are remembered in FAIRQ_SLOTS slots (least
 * recently served forgotten first).
 */
#ifndef UPSTREAM_FAIRQ_H
#define UPSTREAM_FAIRQ_H

#include <stdint.h>

#include "policy/route.h"

enum fairq_prio {
	FAIRQ_SESSION = 0,   /* order-group mutations: kill switches */
	FAIRQ_CANCEL,        /* cancels, batch cancels, cancel all, decreases */
	FAIRQ_WRITE,         /* creates, amends, other writes */
	FAIRQ_READ,          /* reads */
	FAIRQ_PRIO_COUNT
};

#define FAIRQ_SLOTS 32
#define FAIRQ_SCAN 1024
#define FAIRQ_NAME 64

/* One priority's memory of turns. Zero-initialised = nobody served yet. */
struct fairq {
	uint64_t turn;                       /* turns handed out so far */
	struct {
		uint64_t last;               /* turn of the last service; 0 = free */
		char name[FAIRQ_NAME];       /* client name ("" = anonymous) */
	} slot[FAIRQ_SLOTS];
};

/* The queue a request of this route waits in. */
enum fairq_prio fairq_prio_of(const struct route_info *ri);

/* The turn at which client (NULL = anonymous) was last served, 0 if never
 * (or forgotten). */
uint64_t fairq_last(const struct fairq *q, const char *client);

/* Records that client was served now. */
void fairq_served(struct fairq *q, const char *client);

/*
 * Picks the request to serve next from a FIFO queue starting at head
 * (oldest first): next(item) gives the following item (NULL at the end),
 * client(item) its client name (NULL = anonymous). Returns NULL only for an
 * empty queue. Does not record the service (call fairq_served once the
 * request is actually admitted).
 */
void *fairq_pick(const struct fairq *q, void *head, void *(*next)(void *),
		 const char *(*client)(void *));

#endif
