/*
 * mock_markets.c - a constant table of markets and their JSON form.
 */
#include "tests/mock/mock_markets.h"

#include <string.h>

#include "tests/mock/mock.h"

static const struct mock_market markets_table[] = {
	{ "KXMOCK-26DEC31-A", "KXMOCK-26DEC31", "Mock market A", "active", 0, 4500, 4700 },
	{ "KXMOCK-26DEC31-B", "KXMOCK-26DEC31", "Mock market B", "active", 0, 2000, 2300 },
	{ "KXMOCK-26DEC31-C", "KXMOCK-26DEC31", "Mock market C", "active", 0, 8800, 9000 },
	{ "KXMOCK-26DEC31-CLOSED", "KXMOCK-26DEC31", "Mock closed market", "closed", 0, 0,
	  10000 },
	{ "KXSHARD1-26DEC31-A", "KXSHARD1-26DEC31", "Mock market on shard 1", "active", 1,
	  5000, 5200 },
};

/* See mock_markets.h. */
const struct mock_market *mock_market_find(const char *ticker)
{
	for (size_t i = 0; i < sizeof(markets_table) / sizeof(markets_table[0]); i++)
		if (strcmp(markets_table[i].ticker, ticker) == 0)
			return &markets_table[i];
	return NULL;
}

/* See mock_markets.h. */
size_t mock_market_count(void)
{
	return sizeof(markets_table) / sizeof(markets_table[0]);
}

/* See mock_markets.h. */
const struct mock_market *mock_market_at(size_t i)
{
	return i < mock_market_count() ? &markets_table[i] : NULL;
}

/* See mock_markets.h. */
json_t *mock_market_json(const struct mock_market *m)
{
	json_t *o = json_object(), *ranges = json_array(), *range = json_object();
	const char *t0 = "2026-01-01T00:00:00.000Z", *t1 = "2026-12-31T23:59:00.000Z";

	if (o == NULL || ranges == NULL || range == NULL) {
		json_decref(o);
		json_decref(ranges);
		json_decref(range);
		return NULL;
	}
	json_object_set_new(o, "ticker", json_string(m->ticker));
	json_object_set_new(o, "event_ticker", json_string(m->event_ticker));
	json_object_set_new(o, "market_type", json_string("binary"));
	json_object_set_new(o, "title", json_string(m->title));
	json_object_set_new(o, "subtitle", json_string(""));
	json_object_set_new(o, "yes_sub_title", json_string("Yes"));
	json_object_set_new(o, "no_sub_title", json_string("No"));
	json_object_set_new(o, "created_time", json_string(t0));
	json_object_set_new(o, "updated_time", json_string(t0));
	json_object_set_new(o, "open_time", json_string(t0));
	json_object_set_new(o, "close_time", json_string(t1));
	json_object_set_new(o, "expected_expiration_time", json_string(t1));
	json_object_set_new(o, "latest_expiration_time", json_string(t1));
	json_object_set_new(o, "settlement_timer_seconds", json_integer(60));
	json_object_set_new(o, "status", json_string(m->status));
	json_object_set_new(o, "yes_bid_dollars", mock_json_dollars(m->yes_bid));
	json_object_set_new(o, "yes_bid_size_fp", mock_json_count(100 * MOCK_COUNT_SCALE));
	json_object_set_new(o, "yes_ask_dollars", mock_json_dollars(m->yes_ask));
	json_object_set_new(o, "yes_ask_size_fp", mock_json_count(100 * MOCK_COUNT_SCALE));
	json_object_set_new(o, "no_bid_dollars", mock_json_dollars(MOCK_PRICE_SCALE - m->yes_ask));
	json_object_set_new(o, "no_ask_dollars", mock_json_dollars(MOCK_PRICE_SCALE - m->yes_bid));
	json_object_set_new(o, "last_price_dollars", mock_json_dollars(m->yes_bid));
	json_object_set_new(o, "volume_fp", mock_json_count(0));
	json_object_set_new(o, "volume_24h_fp", mock_json_count(0));
	json_object_set_new(o, "result", json_string(""));
	json_object_set_new(o, "can_close_early", json_true());
	json_object_set_new(o, "open_interest_fp", mock_json_count(0));
	json_object_set_new(o, "notional_value_dollars", mock_json_dollars(MOCK_PRICE_SCALE));
	json_object_set_new(o, "previous_yes_bid_dollars", mock_json_dollars(m->yes_bid));
	json_object_set_new(o, "previous_yes_ask_dollars", mock_json_dollars(m->yes_ask));
	json_object_set_new(o, "previous_price_dollars", mock_json_dollars(m->yes_bid));
	json_object_set_new(o, "expiration_value", json_string(""));
	json_object_set_new(o, "rules_primary", json_string("Mock market for tests."));
	json_object_set_new(o, "rules_secondary", json_string(""));
	json_object_set_new(o, "price_level_structure", json_string("linear_cent"));
	json_object_set_new(range, "start", mock_json_dollars(0));
	json_object_set_new(range, "end", mock_json_dollars(MOCK_PRICE_SCALE));
	json_object_set_new(range, "step", mock_json_dollars(100));
	json_array_append_new(ranges, range);
	json_object_set_new(o, "price_ranges", ranges);
	json_object_set_new(o, "exchange_index", json_integer(m->exchange_index));
	return o;
}
