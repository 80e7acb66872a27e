/*
 * legacy: translation between Kalshi's legacy order mutations
 * (/portfolio/orders*, deprecated) and the V2 ones (/portfolio/events/orders*),
 * for orders.legacy = translate. Pure: JSON in, JSON out; no I/O, no clock
 * (times come from the upstream's ts_ms), no global state. Thread-safe.
 *
 * Invariants
 *  - A request translator either returns 0 with *out a new V2 body whose
 *    "side" is "bid"|"ask", whose "count" parses as a fixed-point count > 0
 *    and whose "price" parses as dollars strictly between 0 and 1 (amend and
 *    create), or returns -1 with *err filled: status 400, code
 *    "invalid_order", a lower-case message saying what to change, and for a
 *    batch the index of the element at fault. Nothing is guessed: a field
 *    without an exact V2 meaning is refused, never dropped or approximated.
 *  - Every amount is a fixed-point integer (counts in hundredths of a
 *    contract, prices in 1/10000 dollar); no floating point.
 *  - A reply translator is only for a 2xx V2 answer (non-2xx answers are
 *    relayed unchanged: both families share Kalshi's error envelope). Once
 *    the V2 answer names the order, the write happened: the translator then
 *    always succeeds and builds the legacy shape from what it has; the
 *    optional GET answers make the Order complete. It fails only for a soft
 *    rejection (a 2xx answer without the expected object), see legacy_err.
 *
 * Ownership: inputs are borrowed and never modified or kept; *out is a new
 * reference the caller releases with json_decref. Out-parameters are written
 * only on success; *err only on failure. err may not be NULL.
 *
 * Mapping (legacy -> V2; KALSHI_API.md "Orders", kalshi-typescript 3.30.0
 * models create-order-request.ts, create-order-v2-request.ts, ...):
 *   side+action      buy yes -> bid, sell no -> bid, buy no -> ask, sell yes -> ask
 *   price            exactly one of yes_price (cents 1..99), no_price (cents),
 *                    yes_price_dollars, no_price_dollars ("0.56", <= 4
 *                    decimals, 0 < p < 1) -> "price" = YES price "0.5600";
 *                    a NO price q gives 1 - q. None or several: refused.
 *   count, count_fp  integer >= 1 and/or string (<= 2 decimals, > 0); both
 *                    must agree -> "count" "10.00"
 *   expiration_ts    -> expiration_time (same Unix seconds)
 *   time_in_force    kept (fill_or_kill | good_till_canceled |
 *                    immediate_or_cancel); absent: good_till_canceled, or
 *                    fill_or_kill when buy_max_cost is given
 *   buy_max_cost     buy orders only; implies fill_or_kill; refused unless
 *                    count x (own-side price) <= buy_max_cost cents, which
 *                    makes the V2 order unable to cost more than the legacy
 *                    one would have
 *   self_trade_prevention_type  kept; absent: the configured default
 *   sell_position_floor  0 dropped, anything else refused (use reduce_only)
 *   type             "limit" dropped; "market" refused (removed Feb 2026)
 *   client_order_id, post_only, reduce_only, cancel_order_on_pause,
 *   subaccount, order_group_id, exchange_index  carried unchanged
 *   any other field  refused
 * JSON null counts as absent for every optional field (as in Kalshi's
 * decoder); JSON reals are refused wherever a number is expected.
 */
#ifndef POLICY_LEGACY_H
#define POLICY_LEGACY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Why a translation failed, and what the gateway answers:
 *   status 400, code "invalid_order": a request that cannot be translated
 *     faithfully (message says what to change). Nothing was sent.
 *   status 400, code = the upstream's error code (or "invalid_order"): a soft
 *     rejection whose 2xx body carries an "error" object; the gateway adds
 *     that object as "upstream" (json_object_get(v2_reply, "error")).
 *   status 502, code "upstream_bad_reply", outcome_unknown 1: a 2xx answer
 *     with neither the expected object nor an error; the write may or may
 *     not have happened (X-Gateway-Outcome: unknown).
 *   status 500, code "internal_error": out of memory, or a bad argument
 *     (e.g. an unknown self-trade-prevention default).
 * message is printable ASCII, lower case, NUL-terminated; client text in it
 * is quoted and cut. index is the batch element at fault, -1 otherwise.
 */
struct legacy_err {
	int status;
	char code[64];
	char message[256];
	long index;
	int outcome_unknown;
};

/* Bits of the *flags a reply translator writes. */
#define LEGACY_PARTIAL         1u  /* some Order lacks a field order.ts marks
				    * required (no usable GET answer) */
#define LEGACY_OUTCOME_UNKNOWN 2u  /* a batch element came back with neither
				    * order_id nor error */

/* ---- paths ---------------------------------------------------------- */

/*
 * Maps a legacy mutation path (raw, no query; with or without the leading
 * "/trade-api/v2") to its V2 path: /portfolio/orders[/batched|/{id}
 * [/amend|/decrease]] -> /portfolio/events/orders[...], keeping the prefix
 * and the id bytes. Writes a NUL-terminated path into out. Returns 0, or -1
 * when path is not one of those shapes, holds a byte that is not visible
 * ASCII (or '?', '#') after the base, or out (cap bytes) is too small.
 */
int legacy_v2_path(const char *path, size_t len, char *out, size_t cap);

/*
 * For orders.legacy = reject: writes into buf (cap bytes, NUL-terminated,
 * cut when short) the 400 message naming the V2 call to use, e.g.
 * "legacy order endpoints are disabled here (orders.legacy = reject): use
 * POST /trade-api/v2/portfolio/events/orders with a V2 body". Never fails.
 */
void legacy_reject_message(const char *method, const char *path, size_t len,
			   char *buf, size_t cap);

/* ---- requests (legacy body -> V2 body) ------------------------------- */

/*
 * POST /portfolio/orders body -> POST /portfolio/events/orders body (see
 * the mapping above). stp_default: "taker_at_cross" or "maker" (NULL means
 * "taker_at_cross"). *buy_max_cost is the legacy buy_max_cost in 1/10000
 * dollar, or -1 when absent: the translator has already checked the order
 * against it; the gateway may record it. The result then goes through
 * session injection (order_rewrite) and every policy check like any V2
 * create.
 */
int legacy_create_to_v2(const json_t *order, const char *stp_default, json_t **out,
			int64_t *buy_max_cost, struct legacy_err *err);

/*
 * POST /portfolio/orders/batched {"orders": [legacy, ...]} ->
 * POST /portfolio/events/orders/batched {"orders": [V2, ...]}, element by
 * element as legacy_create_to_v2; err->index names the element at fault.
 */
int legacy_batch_create_to_v2(const json_t *body, const char *stp_default, json_t **out,
			      struct legacy_err *err);

/*
 * POST /portfolio/orders/{id}/amend body -> POST
 * /portfolio/events/orders/{id}/amend body: ticker kept; side+action ->
 * side; the price as for create -> price; count/count_fp (the new total,
 * filled + resting, in both families) -> count; client_order_id,
 * updated_client_order_id, exchange_index kept. V2 requires price and
 * count; when the legacy body leaves one out ("unchanged"), it is taken
 * from `current`, the order as GET /portfolio/orders/{id} returned it
 * before the amend (the reply body or its "order"): price = its
 * yes_price_dollars, count = fill_count_fp + remaining_count_fp. Without
 * `current` such a body is refused 400 naming the field to add.
 * The legacy body's subaccount goes to the V2 query string, not the body:
 * *subaccount is it, or -1 when absent (gateway: "?subaccount=N").
 */
int legacy_amend_to_v2(const json_t *body, const json_t *current, json_t **out,
		       int *subaccount, struct legacy_err *err);

/*
 * POST /portfolio/orders/{id}/decrease body -> V2 decrease body: exactly one
 * of reduce_by (integer >= 1) / reduce_by_fp, or reduce_to (integer >= 0) /
 * reduce_to_fp (int and _fp of one must agree) -> "reduce_by" or
 * "reduce_to" as "10.00"; exchange_index kept. *subaccount as for amend.
 */
int legacy_decrease_to_v2(const json_t *body, json_t **out, int *subaccount,
			  struct legacy_err *err);

/*
 * DELETE /portfolio/orders/batched body, either {"ids": ["id", ...]}
 * (deprecated) or {"orders": [{"order_id", "subaccount"?, "exchange_index"?,
 * "market_ticker"?}, ...]} (not both) -> DELETE
 * /portfolio/events/orders/batched {"orders": [{"order_id", ...}, ...]}.
 * The single DELETE /portfolio/orders/{id} needs no body translation: only
 * its path changes (legacy_v2_path), the query is carried verbatim.
 */
int legacy_batch_cancel_to_v2(const json_t *body, json_t **out, struct legacy_err *err);

/* ---- replies (2xx V2 answer -> legacy answer, same status) ------------ */
/*
 * "GET answer" below means the body of GET /portfolio/orders/{id}
 * ({"order": Order}, or the Order itself), which already has the legacy
 * Order shape; it is used only when its order_id matches. Pass NULL when
 * the GET was not made or failed. Without it the Order is built from the
 * V2 request and answer, with only exactly known fields (user_id is never
 * known; fill costs and fees only when nothing filled), and *flags gets
 * LEGACY_PARTIAL. side and action (deprecated, still read by legacy bots)
 * and outcome_side/book_side are added from the request when missing.
 */

/*
 * V2 create answer (201 {order_id, client_order_id, fill_count,
 * remaining_count, ts_ms, ...}) -> 201 {"order": Order}. legacy_req is the
 * bot's body, v2_sent the V2 body as sent (after injection). status:
 * remaining > 0 resting; else fill == count executed; else canceled.
 * get: GET answer after the create, needed for a complete Order.
 */
int legacy_create_reply(const json_t *v2_reply, const json_t *legacy_req,
			const json_t *v2_sent, const json_t *get, json_t **out,
			unsigned *flags, struct legacy_err *err);

/*
 * V2 batch create answer {"orders": [{order_id?, client_order_id?, ...,
 * error?}]} -> {"orders": [{client_order_id, order?, error?}]}. Elements are
 * matched to the request by client_order_id, else by position. gets: NULL
 * or an object {order_id: GET answer}, one per created order, for complete
 * Orders. An element with neither order_id nor error gets an error
 * {"code": "upstream_bad_reply", ...} and *flags LEGACY_OUTCOME_UNKNOWN.
 */
int legacy_batch_create_reply(const json_t *v2_reply, const json_t *legacy_req,
			      const json_t *v2_sent, const json_t *gets, json_t **out,
			      unsigned *flags, struct legacy_err *err);

/*
 * V2 cancel answer {order_id, client_order_id?, reduced_by, ts_ms} ->
 * {"order": Order, "reduced_by_fp": "10.00"}. get: GET answer after the
 * cancel (needed for a complete Order; without it the Order is status
 * canceled, remaining 0, plus ids).
 */
int legacy_cancel_reply(const json_t *v2_reply, const json_t *get, json_t **out,
			unsigned *flags, struct legacy_err *err);

/*
 * V2 batch cancel answer {"orders": [{order_id, reduced_by, error?}]} ->
 * {"orders": [{order_id, order?, reduced_by_fp, error?}]} (order is
 * optional in the model). v2_sent (may be NULL) names the order of an
 * element that lacks order_id, by position. gets: NULL or {order_id: GET
 * answer}.
 */
int legacy_batch_cancel_reply(const json_t *v2_reply, const json_t *v2_sent,
			      const json_t *gets, json_t **out, unsigned *flags,
			      struct legacy_err *err);

/*
 * V2 amend answer {order_id, client_order_id?, remaining_count?,
 * fill_count? (filled by the amend), ts_ms} -> {"old_order": Order,
 * "order": Order}. before: GET answer before the amend (the legacy shape
 * needs the old order: required for old_order; the gateway has it anyway
 * when it called legacy_amend_to_v2 with `current`). after: GET answer
 * after the amend, for a complete "order"; without it "order" is `before`
 * moved forward by the answer (price, client_order_id, fill and remaining
 * counts, status, last_update_time; fields the amend changed by unknown
 * amounts are removed).
 */
int legacy_amend_reply(const json_t *v2_reply, const json_t *legacy_req,
		       const json_t *v2_sent, const json_t *before, const json_t *after,
		       json_t **out, unsigned *flags, struct legacy_err *err);

/*
 * V2 decrease answer {order_id, client_order_id?, remaining_count, ts_ms}
 * -> {"order": Order}. get: GET answer after the decrease (needed for a
 * complete Order).
 */
int legacy_decrease_reply(const json_t *v2_reply, const json_t *get, json_t **out,
			  unsigned *flags, struct legacy_err *err);

#endif
