/*
 * mock_markets.h - the fixed set of markets the mock lists.
 *
 * Orders may name any ticker: an unknown ticker is treated as an active
 * market on exchange_index 0, so gateway tests can use their own tickers.
 * The table is constant; every function is thread-safe.
 */
#ifndef MOCK_MARKETS_H
#define MOCK_MARKETS_H

#include <stddef.h>

#include <jansson.h>

struct mock_market {
	const char *ticker;
	const char *event_ticker;
	const char *title;
	const char *status;      /* "active" or "closed" */
	int exchange_index;
	long yes_bid, yes_ask;   /* dollars in 1/10000 */
};

/* Returns the market with this ticker, or NULL. */
const struct mock_market *mock_market_find(const char *ticker);

/* Number of markets in the table, and the i-th one. */
size_t mock_market_count(void);
const struct mock_market *mock_market_at(size_t i);

/* Returns a new JSON object in the shape of kalshi-typescript's Market. */
json_t *mock_market_json(const struct mock_market *m);

#endif
