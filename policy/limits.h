/*
 * limits: the local risk limits of DESIGN.md ("Configuration", limits
 * object) as pure decisions over normalised orders (policy/normalize.h).
 *
 * Units: counts in hundredths of a contract, money and prices in 1/10000
 * dollar, all int64_t; no floating point. Every comparison refuses only
 * when a value passes its limit: a value equal to a limit is allowed.
 *
 * Effective limits: limits_merge() takes the global limits and a client's
 * limits key by key (a key the client sets wins, even an empty list). Two
 * keys are scoped rather than overridden: max_session_contracts in the
 * global object caps the whole session, in a client's object that client's
 * share; both apply. max_orders_per_s is per client either way (the global
 * value is each client's default).
 *
 * Refusals: a check that refuses returns -1 and fills a struct
 * limits_refusal with the limit's key, what was requested, what was allowed
 * (formatted "12.00" for counts, "0.9500" for dollars, the ticker and the
 * allow list for ticker rules) and a human sentence; the gateway answers
 * 403 limit_exceeded with those fields (limits_refusal_json) and forwards
 * nothing. A refusal struct is written only when -1 is returned.
 *
 * Ownership: a struct limits_eff borrows the tickers/deny_tickers lists of
 * the gw_limits it was merged from; it is valid as long as that
 * configuration snapshot is. Nothing else is kept. All functions are pure;
 * they are thread-safe except that a struct limits_rate must not be used by
 * two threads at once (the caller serialises, e.g. with the client's lock).
 */
#ifndef POLICY_LIMITS_H
#define POLICY_LIMITS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "policy/normalize.h"

/* The limits in force for one client in one session. */
struct limits_eff {
	int has_max_order_contracts;  int64_t max_order_contracts;  /* hundredths */
	int has_max_order_cost;       int64_t max_order_cost;       /* 1/10000 $ */
	int has_min_price;            int64_t min_price;            /* YES, 1/10000 $ */
	int has_max_price;            int64_t max_price;            /* YES, 1/10000 $ */
	const struct gw_strlist *tickers;      /* NULL or empty: every ticker */
	const struct gw_strlist *deny_tickers; /* NULL or empty: none denied */
	/* max_session_contracts, global key: submitted by the whole session */
	int has_session_contracts;    int64_t session_contracts;
	/* max_session_contracts, the client's own key: its share */
	int has_client_session_contracts; int64_t client_session_contracts;
	/* max_session_filled_contracts (merged); a session's own value, given
	 * in struct limits_session_view, overrides it */
	int has_max_session_filled_contracts; int64_t max_session_filled_contracts;
	int has_max_orders_per_s;     int64_t max_orders_per_s;     /* per client */
};

#define LIMITS_TEXT_MAX 256
#define LIMITS_LONG_MAX 1024

/* Why an order was refused. All strings are NUL-terminated. */
struct limits_refusal {
	const char *limit;                 /* static: the key, "max_order_cost" */
	char message[96];                  /* short: "order exceeds max_order_cost" */
	char requested[LIMITS_TEXT_MAX];   /* "150.00", "1.2000", a ticker */
	int allowed_null;                  /* 1: "allowed" is JSON null */
	char allowed[LIMITS_LONG_MAX];     /* "100.00", the allow list "A*, B" */
	char details[LIMITS_LONG_MAX];     /* a sentence, printable ASCII */
	long index;                        /* batch element, -1 for a single order */
};

/* The session's counters, read by the caller under its own lock. */
struct limits_session_view {
	int64_t session_submitted; /* whole session: submitted + reserved in flight */
	int64_t client_submitted;  /* this client's share of it, same rule */
	int64_t filled;            /* the session's filled contracts */
	int64_t resting;           /* the session's resting (open, unfilled) contracts */
	int has_filled_cap;        /* the session's own max_session_filled_contracts */
	int64_t filled_cap;
};

/* A per-client token bucket for max_orders_per_s. Zero-initialise; the
 * first take finds it full. Fields are private to limits.c. */
struct limits_rate {
	int64_t milli;    /* tokens x 1000; negative after a batch bigger than the burst */
	int64_t last_ms;
	int started;
};

/* Merges the global limits and a client's (either may be NULL) into *out,
 * key by key as described above. Never fails. */
void limits_merge(const struct gw_limits *global, const struct gw_limits *client,
		  struct limits_eff *out);

/* Whether `text` matches glob `pattern`: '*' any run of bytes (also none),
 * '?' exactly one byte, every other byte itself (case-sensitive; no
 * classes, no escapes). Iterative, O(len(text) * len(pattern)) at worst. */
int limits_glob_match(const char *pattern, const char *text);

/*
 * Per-order limits, in this order: deny_tickers, tickers,
 * max_order_contracts (o->count), max_order_cost (o->cost), min_price and
 * max_price (o->yes_price; skipped when !o->has_price). Returns 0, or -1
 * with *r filled (r->index = -1).
 */
int limits_check_order(const struct limits_eff *l, const struct norm_order *o,
		       struct limits_refusal *r);

/*
 * Session caps for `requested` more contracts (hundredths): the global
 * max_session_contracts against v->session_submitted + requested, the
 * client's against v->client_submitted + requested, then
 * max_session_filled_contracts (v's own cap if set, else l's) against
 * v->filled + v->resting + requested. requested is what the order
 * reserves; allowed in a refusal is what was left (never below 0).
 * Returns 0, or -1 with *r filled (r->index = -1).
 */
int limits_check_session(const struct limits_eff *l, const struct limits_session_view *v,
			 int64_t requested, struct limits_refusal *r);

/*
 * A create (n = 1, batch = 0) or a batch (batch = 1): every element's
 * per-order limits, then, when v is not NULL, the session caps for the
 * running total of the batch, so the batch is refused whole and r->index
 * names the first element that fails or at which the total passes a cap.
 * On 0, *total (may be NULL) is the sum of the counts: what the caller
 * reserves. Returns 0, or -1 with *r filled.
 */
int limits_check_orders(const struct limits_eff *l, const struct limits_session_view *v,
			const struct norm_order *orders, size_t n, int batch,
			int64_t *total, struct limits_refusal *r);

/*
 * Takes `n` orders from bucket b at time now_ms (any monotonic
 * millisecond clock) under a limit of per_s orders a second: the bucket
 * holds per_s tokens (one second of burst) and refills continuously at
 * per_s a second. Admission needs min(n, per_s) tokens and takes n, so a
 * batch bigger than the burst passes on a full bucket and then blocks the
 * client until it is paid for. per_s <= 0 means no limit (always 0).
 * Returns 0 (taken), or -1 (nothing taken) with *retry_after_ms (may be
 * NULL) >= 1: when enough tokens will be there. A clock that goes back
 * refills nothing.
 */
int limits_rate_take(struct limits_rate *b, int64_t now_ms, int64_t per_s, int64_t n,
		     int64_t *retry_after_ms);

/* The members to merge into the error object next to "code" and
 * "message": details, limit, requested, allowed (string or null) and
 * index (when >= 0). A new reference, or NULL when out of memory. */
json_t *limits_refusal_json(const struct limits_refusal *r);

#endif
