/*
 * mock_api.c - routing of /trade-api/v2 requests and the read-only
 * endpoints (exchange, markets, events, series, account, balance).
 */
#include "tests/mock/mock_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mock/mock_book.h"
#include "tests/mock/mock_markets.h"
#include "tests/mock/mock_rate.h"

#define API_PREFIX "/trade-api/v2/"
#define API_MAX_PATH 2048

/* Sets out to Kalshi's 404 for an unknown path. */
static void api_not_found(const struct mock_request *rq, struct mock_reply *out)
{
	char details[300];

	snprintf(details, sizeof(details), "no route for %s %.200s", rq->method, rq->path);
	mock_reply_error(out, 404, "not_found", "not found", details);
}

/* GET /exchange/status. */
static void api_exchange_status(struct mock_reply *out)
{
	mock_reply_json(out, 200, json_pack("{s:b, s:b, s:b}", "exchange_active", 1,
					    "trading_active", 1,
					    "intra_exchange_transfers_active", 1));
}

/* GET /exchange/schedule: always open, no maintenance. */
static void api_exchange_schedule(struct mock_reply *out)
{
	mock_reply_json(out, 200, json_pack("{s:{s:[], s:[]}}", "schedule", "standard_hours",
					    "maintenance_windows"));
}

/* True when ticker is one of the comma-separated tickers in list. */
static bool api_in_list(const char *list, const char *ticker)
{
	size_t n = strlen(ticker);
	const char *p = list;

	while (p != NULL && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, ticker, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* GET /markets with optional ?tickers=A,B, ?status=, ?event_ticker=. */
static void api_markets(const struct mock_request *rq, struct mock_reply *out)
{
	char tickers[1024], status[32], event[128];
	int ht = mock_query_get(rq->query, "tickers", tickers, sizeof(tickers));
	int hs = mock_query_get(rq->query, "status", status, sizeof(status));
	int he = mock_query_get(rq->query, "event_ticker", event, sizeof(event));
	json_t *list = json_array();

	if (ht < 0 || hs < 0 || he < 0) {
		json_decref(list);
		mock_reply_error(out, 400, "invalid_parameters", "invalid query parameter", NULL);
		return;
	}
	for (size_t i = 0; i < mock_market_count(); i++) {
		const struct mock_market *m = mock_market_at(i);
		if ((ht == 1 && tickers[0] && !api_in_list(tickers, m->ticker)) ||
		    (hs == 1 && status[0] && strcmp(status, m->status) != 0 &&
		     !(strcmp(status, "open") == 0 && strcmp(m->status, "active") == 0)) ||
		    (he == 1 && event[0] && strcmp(event, m->event_ticker) != 0))
			continue;
		json_array_append_new(list, mock_market_json(m));
	}
	mock_reply_json(out, 200, json_pack("{s:o, s:s}", "markets", list, "cursor", ""));
}

/* GET /markets/{ticker} and /markets/{ticker}/orderbook. */
static void api_market(const char *ticker, bool orderbook, struct mock_reply *out)
{
	const struct mock_market *m = mock_market_find(ticker);
	char bid[16], ask_no[16];

	if (m == NULL) {
		mock_reply_error(out, 404, "not_found", "market not found", NULL);
		return;
	}
	if (!orderbook) {
		mock_reply_json(out, 200, json_pack("{s:o}", "market", mock_market_json(m)));
		return;
	}
	mock_format_dollars(m->yes_bid, bid, sizeof(bid));
	mock_format_dollars(MOCK_PRICE_SCALE - m->yes_ask, ask_no, sizeof(ask_no));
	mock_reply_json(out, 200, json_pack("{s:{s:[[s,s]], s:[[s,s]]}}", "orderbook_fp",
					    "yes_dollars", bid, "100.00", "no_dollars", ask_no,
					    "100.00"));
}

/* GET /events: one event per distinct event ticker in the market table. */
static void api_events(struct mock_reply *out)
{
	json_t *list = json_array(), *seen = json_object();

	for (size_t i = 0; i < mock_market_count(); i++) {
		const struct mock_market *m = mock_market_at(i);
		char series[64];
		const char *dash = strchr(m->event_ticker, '-');
		if (json_object_get(seen, m->event_ticker))
			continue;
		json_object_set_new(seen, m->event_ticker, json_true());
		snprintf(series, sizeof(series), "%.*s",
			 dash ? (int)(dash - m->event_ticker) : 63, m->event_ticker);
		json_array_append_new(list, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:[], s:i}", "event_ticker",
			m->event_ticker, "series_ticker", series, "sub_title", "", "title",
			"Mock event", "collateral_return_type", "", "mutually_exclusive", 0,
			"category", "Mock", "settlement_sources", "exchange_index",
			m->exchange_index));
	}
	json_decref(seen);
	mock_reply_json(out, 200, json_pack("{s:o, s:s}", "events", list, "cursor", ""));
}

/* GET /series. */
static void api_series(struct mock_reply *out)
{
	mock_reply_json(out, 200, json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "series", "ticker",
					    "KXMOCK", "title", "Mock series", "frequency",
					    "daily", "category", "Mock"));
}

/* GET /portfolio/balance: a fixed $1000.00 balance. */
static void api_balance(struct mock_reply *out)
{
	mock_reply_json(out, 200, json_pack("{s:i, s:s, s:i, s:I}", "balance", 100000,
					    "balance_dollars", "1000.0000", "portfolio_value", 0,
					    "updated_ts", (json_int_t)(mock_now_ms() / 1000)));
}

/* Routes GET-only endpoints that do not touch orders. Returns false when
 * the route is not one of them. */
static bool api_route_reads(struct mock_ctx *ctx, const struct mock_request *rq,
			    char *const *seg, size_t nseg, struct mock_reply *out)
{
	if (strcmp(rq->method, "GET") != 0)
		return false;
	if (nseg == 2 && strcmp(seg[0], "exchange") == 0 && strcmp(seg[1], "status") == 0)
		api_exchange_status(out);
	else if (nseg == 2 && strcmp(seg[0], "exchange") == 0 &&
		 strcmp(seg[1], "schedule") == 0)
		api_exchange_schedule(out);
	else if (nseg == 1 && strcmp(seg[0], "markets") == 0)
		api_markets(rq, out);
	else if (nseg == 2 && strcmp(seg[0], "markets") == 0 && strcmp(seg[1], "trades") == 0)
		mock_reply_json(out, 200, json_pack("{s:[], s:s}", "trades", "cursor", ""));
	else if (nseg == 2 && strcmp(seg[0], "markets") == 0)
		api_market(seg[1], false, out);
	else if (nseg == 3 && strcmp(seg[0], "markets") == 0 && strcmp(seg[2], "orderbook") == 0)
		api_market(seg[1], true, out);
	else if (nseg == 1 && strcmp(seg[0], "events") == 0)
		api_events(out);
	else if (nseg == 1 && strcmp(seg[0], "series") == 0)
		api_series(out);
	else if (nseg == 2 && strcmp(seg[0], "account") == 0 && strcmp(seg[1], "limits") == 0)
		mock_reply_json(out, 200, mock_book_limits(ctx->book));
	else if (nseg == 2 && strcmp(seg[0], "account") == 0 &&
		 strcmp(seg[1], "endpoint_costs") == 0)
		mock_reply_json(out, 200, mock_rate_costs(ctx->rate));
	else if (nseg == 2 && strcmp(seg[0], "portfolio") == 0 && strcmp(seg[1], "balance") == 0)
		api_balance(out);
	else if (nseg == 2 && strcmp(seg[0], "portfolio") == 0 &&
		 strcmp(seg[1], "settlements") == 0)
		mock_reply_json(out, 200, json_pack("{s:[], s:s}", "settlements", "cursor", ""));
	else
		return false;
	return true;
}

/* See mock_api.h. */
void mock_api_handle(struct mock_ctx *ctx, const struct mock_request *rq,
		     struct mock_reply *out)
{
	char buf[API_MAX_PATH];
	char *seg[MOCK_MAX_SEGMENTS];
	size_t nseg = 0, plen = strlen(API_PREFIX);
	char *p;

	if (strncmp(rq->path, API_PREFIX, plen) != 0 || strlen(rq->path) - plen >= sizeof(buf)) {
		api_not_found(rq, out);
		return;
	}
	memcpy(buf, rq->path + plen, strlen(rq->path) - plen + 1);
	p = buf;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (*p == '\0' || nseg == MOCK_MAX_SEGMENTS) {
			api_not_found(rq, out);   /* empty segment or too deep */
			return;
		}
		seg[nseg++] = p;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (api_route_reads(ctx, rq, seg, nseg, out))
		return;
	if (strcmp(seg[0], "portfolio") == 0 && mock_orders_route(ctx, rq, seg + 1, nseg - 1, out))
		return;
	api_not_found(rq, out);
}
