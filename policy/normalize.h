/*
 * normalize: every order family reduced to one fixed-point form, so limits
 * are checked once, the same way, whatever the bot sent.
 *
 * The form: a ticker, a book side (bid = buy YES, ask = sell YES), a count
 * in hundredths of a contract, the YES price in 1/10000 dollar and the
 * order's cost (what it can lose) in 1/10000 dollar:
 *   bid: cost = ceil(count * yes_price / 100)
 *   ask: cost = ceil(count * (10000 - yes_price) / 100)
 * No floating point anywhere; every product is range-checked before it is
 * formed, so no input can overflow.
 *
 * Families (KALSHI_API.md "Orders"):
 *   V2 create / amend: "ticker", "side" "bid"|"ask", "count" fixed-point
 *     string, "price" YES dollars string.
 *   legacy create / amend: "ticker", "side" "yes"|"no", "action"
 *     "buy"|"sell", "count" integer >= 1 and/or "count_fp" string (both:
 *     they must agree), the price as "yes_price"/"no_price" integer cents
 *     1..99 or "yes_price_dollars"/"no_price_dollars" strings. Prices of
 *     one side may be given in cents and dollars at once if they agree;
 *     a YES price and a NO price together are refused. A NO price q means
 *     the YES price 1 - q. Direction: buy yes and sell no are bids, buy no
 *     and sell yes are asks.
 * Other keys are ignored here (order_rewrite and Kalshi judge them). JSON
 * reals, wrong types, signs, exponents, too many decimals, a count of 0 and
 * prices outside (0, 1) dollar are refused with a lower-case message naming
 * the field.
 *
 * Invariants of a struct norm_order written by a create normaliser:
 * ticker non-empty and NUL-terminated (tickers of NORM_TICKER_MAX bytes or
 * more are refused, never cut); 0 < count <= FIXED_COUNT_MAX;
 * 0 < yes_price < 10000; has_price = 1; 0 < cost <= count * 100.
 * Amends (see normalize_amend_added) may yield count 0 and has_price 0.
 *
 * Ownership: inputs are borrowed, never kept; results are plain values
 * except normalize_body's array (the caller frees it with free(3)).
 * All functions are pure and thread-safe. Out-parameters are written only
 * on success; err (errlen bytes, may be NULL when errlen is 0) only on
 * failure.
 */
#ifndef POLICY_NORMALIZE_H
#define POLICY_NORMALIZE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NORM_TICKER_MAX 128      /* buffer size: tickers are at most 127 bytes */
#define NORM_PRICE_ONE  INT64_C(10000)  /* 1 dollar in 1/10000 */

/* One order (or what an amend adds) in normalised form. */
struct norm_order {
	char ticker[NORM_TICKER_MAX];
	int side_bid;      /* 1 bid (buy YES), 0 ask (sell YES) */
	int64_t count;     /* hundredths of a contract */
	int64_t yes_price; /* 1/10000 $; 0 when !has_price */
	int64_t cost;      /* 1/10000 $, rounded up; see the top of this file */
	int has_price;     /* 0 only for an amend that does not set a price */
};

/* What an amend body asks for: the order's new state where it says it. */
struct norm_amend {
	char ticker[NORM_TICKER_MAX];
	int side_bid;
	int has_count;
	int64_t count;     /* the new total, hundredths (Kalshi: count is the total) */
	int has_price;
	int64_t yes_price; /* the new YES price, 1/10000 $ */
};

/* Normalises a V2 create (an object with ticker, side, count, price).
 * Returns 0 and writes *out, or -1 with err set. */
int normalize_v2(const json_t *order, struct norm_order *out, char *err, size_t errlen);

/* Normalises a legacy create (ticker, side, action, count/count_fp, one
 * price). Returns 0 and writes *out, or -1 with err set. */
int normalize_legacy(const json_t *order, struct norm_order *out, char *err, size_t errlen);

/* Reads a V2 amend body: ticker and side required; count (new total,
 * > 0) and price optional but checked when present. Returns 0 and writes
 * *out, or -1 with err set. */
int normalize_amend_v2(const json_t *body, struct norm_amend *out, char *err, size_t errlen);

/* Reads a legacy amend body: ticker, side and action required; count /
 * count_fp and one price optional but checked when present. Returns 0 and
 * writes *out, or -1 with err set. */
int normalize_amend_legacy(const json_t *body, struct norm_amend *out, char *err, size_t errlen);

/*
 * What an amend adds, as an order to check. count = new total - prev_count
 * (at least 0); the whole new total when prev_count < 0 (the order's total
 * is unknown to the caller, so all of it is treated as new); 0 when the
 * amend sets no count. Ticker, side and price are the amend's. Without a
 * new price, has_price is 0 (price limits are skipped) and the cost is the
 * worst case, a price of 1 dollar: count * 100. Never fails.
 */
void normalize_amend_added(const struct norm_amend *a, int64_t prev_count,
			   struct norm_order *out);

/*
 * Parses a create body (len bytes; duplicate keys refused) and normalises
 * every order: batch = {"orders": [...]}, legacy = legacy field names.
 * Returns 0 with *out a malloc'd array of *n orders (the caller frees it),
 * or -1 with err set and *index the batch element at fault (-1 when the
 * fault is not in one element). *index is written in both cases.
 */
int normalize_body(const char *body, size_t len, int batch, int legacy,
		   struct norm_order **out, size_t *n, long *index,
		   char *err, size_t errlen);

/* Parses an amend body (len bytes) and reads it as normalize_amend_v2 or
 * _legacy would. Returns 0 and writes *out, or -1 with err set. */
int normalize_amend_body(const char *body, size_t len, int legacy, struct norm_amend *out,
			 char *err, size_t errlen);

#endif
