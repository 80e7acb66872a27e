/*
 * order: strict parsing and rewriting of order-create bodies, so every order
 * carries the session's order group and subaccount and a client_order_id.
 *
 * Strict: duplicate keys, JSON reals (anywhere in the body), a body that is
 * not an object, a batch whose "orders" is not a non-empty array of objects,
 * and non-string client_order_id / order_group_id are refused. Other keys
 * and values are kept as they are (order preserved) when re-serialised.
 * Pure: ids to fill in come from the caller. Thread-safe.
 */
#ifndef POLICY_ORDER_H
#define POLICY_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "policy/normalize.h"

enum order_status {
	ORDER_OK = 0,
	ORDER_INVALID_JSON,          /* 400 invalid_json */
	ORDER_INVALID,               /* 400 invalid_order */
	ORDER_GROUP_MISMATCH         /* 403 order_group_mismatch */
};

/* What to inject. order_group_id NULL = inject nothing (no session). */
struct order_inject {
	const char *order_group_id;
	int subaccount;
	/* Called for each order lacking a client_order_id; writes a fresh
	 * NUL-terminated id (e.g. a UUID) into buf (cap >= 64). NULL = do not
	 * fill in ids. */
	void (*new_client_order_id)(void *ud, char *buf, size_t cap);
	void *ud;
};

/* One order as the gateway saw it, for counters and audit. */
struct order_summary {
	char client_order_id[128];
	char ticker[128];
	int64_t count;               /* hundredths; -1 when not parseable here */
};

struct order_result {
	enum order_status status;
	char message[256];           /* lower-case reason when status != OK */
	long index;                  /* batch element at fault, or -1 */
	char *body;                  /* rewritten body (malloc'd) when OK */
	size_t body_len;
	struct order_summary *orders;/* malloc'd, one per order, when OK */
	size_t order_count;
	struct norm_order *norm;     /* order_rewrite_norm: malloc'd, one per order, when OK */
};

/*
 * Parses and rewrites a create body. batch: {"orders": [...]} form.
 * legacy: legacy field names (count may be an integer, count_fp a string).
 * Fills *res; the caller releases it with order_result_release.
 */
void order_rewrite(const char *body, size_t len, int batch, int legacy,
		   const struct order_inject *inj, struct order_result *res);

/*
 * order_rewrite, and from the same parse every order normalised
 * (normalize_v2, or normalize_legacy when legacy) into res->norm: one JSON
 * parse per body instead of a second one in normalize_body. The orders are
 * normalised as rewritten, after every one of them was rewritten, so the
 * first failure reported is the one order_rewrite then normalize_body on
 * its output would report: ORDER_INVALID, the normaliser's message, and the
 * batch index (-1 for a single order).
 */
void order_rewrite_norm(const char *body, size_t len, int batch, int legacy,
			const struct order_inject *inj, struct order_result *res);

/* Frees what an order_result holds. */
void order_result_release(struct order_result *res);

/* Checks a JSON body strictly (duplicate keys, reals) without rewriting;
 * for amends and other order bodies forwarded unchanged. Returns ORDER_OK
 * or an error status with message filled (cap >= 128). */
enum order_status order_check_strict(const char *body, size_t len, char *message, size_t cap);

#endif
