/*
 * mock_book.h - the mock exchange's state: order groups, orders and fills.
 *
 * Invariants:
 *  - every order and fill ever created is kept (until mock_book_clear) and
 *    found by id; client_order_id values are unique across all orders;
 *  - IOC and FOK orders fill completely at once (unless a legacy
 *    buy_max_cost kills a FOK), GTC orders rest until cancelled, decreased to
 *    zero, filled through mock_book_fill_order, or cancelled by their group;
 *  - a group sums the contracts filled by its orders over a rolling window
 *    (15 s by default); when the sum exceeds its limit, on a trigger, or when
 *    its limit is lowered below the sum, it becomes triggered: its resting
 *    orders are cancelled and new orders naming it are refused until reset.
 * Requests are validated by the caller (mock_orders.c); the book checks only
 * what needs its state. Every function is thread-safe (one mutex) and
 * returns new JSON objects owned by the caller.
 */
#ifndef MOCK_BOOK_H
#define MOCK_BOOK_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct mock_book;

enum mock_side { MOCK_BID, MOCK_ASK };
enum mock_tif { MOCK_TIF_FOK, MOCK_TIF_GTC, MOCK_TIF_IOC };
enum mock_status { MOCK_RESTING, MOCK_CANCELED, MOCK_EXECUTED };
/* Which reply shape an operation produces: V2 (/portfolio/events/orders)
 * or legacy (/portfolio/orders, whole Order objects). */
enum mock_style { MOCK_STYLE_V2, MOCK_STYLE_LEGACY };

/* A validated order create. Strings are borrowed for the call. */
struct mock_order_spec {
	const char *ticker;
	const char *client_order_id;   /* NULL: none */
	enum mock_side side;
	int64_t count;                 /* hundredths, > 0 */
	int64_t price;                 /* YES price in 1/10000 dollars */
	enum mock_tif tif;
	const char *stp;               /* NULL, "taker_at_cross" or "maker" */
	bool has_expiration;
	int64_t expiration;            /* Unix seconds */
	bool post_only, reduce_only, cancel_on_pause;
	int subaccount;
	const char *order_group_id;    /* NULL: none */
	int exchange_index;            /* -1: the market's */
	int64_t max_cost;              /* legacy buy_max_cost in 1/10000 dollars, 0: none */
	const char *legacy_side;       /* "yes"/"no" for legacy creates, else NULL */
	const char *legacy_action;     /* "buy"/"sell" for legacy creates, else NULL */
};

/* A validated amend. count is the new total (initial) count. */
struct mock_amend_spec {
	const char *ticker;
	enum mock_side side;
	int64_t price;                 /* YES price in 1/10000 dollars */
	bool has_count;
	int64_t count;                 /* hundredths */
	const char *client_order_id;   /* NULL: not checked */
	const char *updated_client_order_id;
	int subaccount;                /* -1: any */
};

/* Filter and page for listing orders and fills. */
struct mock_list_filter {
	const char *ticker;            /* NULL: any */
	const char *order_id;          /* fills only; NULL: any */
	int status;                    /* orders only; -1 or enum mock_status */
	int subaccount;                /* -1: any */
	int64_t min_ts, max_ts;        /* Unix seconds; -1: none */
	long limit;                    /* 1..1000 */
	long offset;                   /* from the cursor */
};

/* Why an operation was refused: HTTP status, Kalshi error code, message. */
struct mock_book_error {
	unsigned int status;
	char code[48];
	char message[240];
};

/* Creates an empty book whose groups use a rolling window of window_ms.
 * NULL when out of memory. */
struct mock_book *mock_book_new(int64_t window_ms);

/* Frees the book; NULL is a no-op. */
void mock_book_free(struct mock_book *b);

/* Forgets every group, order and fill. */
void mock_book_clear(struct mock_book *b);

/* Places an order. Returns the V2 create response (style V2) or the Order
 * object (legacy), or NULL with err filled (duplicate client_order_id 409,
 * unknown group 404, triggered group 409, closed market 409, shard mismatch
 * 400). */
json_t *mock_book_place(struct mock_book *b, const struct mock_order_spec *s,
			enum mock_style style, struct mock_book_error *err);

/* Cancels a resting order of subaccount (-1: any). Returns the V2 cancel
 * response or, legacy, {"order","reduced_by_fp"}; NULL with a 404 when no
 * such resting order. */
json_t *mock_book_cancel(struct mock_book *b, const char *order_id, int subaccount,
			 enum mock_style style, struct mock_book_error *err);

/* Cancels every resting order of subaccount (-1: all); returns how many. */
long mock_book_cancel_all(struct mock_book *b, int subaccount);

/* Decreases a resting order by reduce_by, or to reduce_to (the other is
 * -1). Reaching zero cancels it. Returns the V2 decrease response or, legacy,
 * {"order"}; NULL with err (404 unknown, 400 invalid amount). */
json_t *mock_book_decrease(struct mock_book *b, const char *order_id, int subaccount,
			   int64_t reduce_by, int64_t reduce_to, enum mock_style style,
			   struct mock_book_error *err);

/* Amends a resting order's price and total count. Returns the V2 amend
 * response or, legacy, {"old_order","order"}; NULL with err. */
json_t *mock_book_amend(struct mock_book *b, const char *order_id,
			const struct mock_amend_spec *a, enum mock_style style,
			struct mock_book_error *err);

/* Fills count (hundredths; -1: all remaining) of a resting order as maker,
 * as if another trader had crossed it. Returns the Order; NULL with err. */
json_t *mock_book_fill_order(struct mock_book *b, const char *order_id, int64_t count,
			     struct mock_book_error *err);

/* Returns the Order with this id (subaccount -1: any); NULL with a 404. */
json_t *mock_book_order(struct mock_book *b, const char *order_id, int subaccount,
			struct mock_book_error *err);

/* Returns {"orders":[Order...],"cursor"} newest first. */
json_t *mock_book_orders(struct mock_book *b, const struct mock_list_filter *f);

/* Returns {"fills":[Fill...],"cursor"} newest first. */
json_t *mock_book_fills(struct mock_book *b, const struct mock_list_filter *f);

/* Returns {"market_positions":[...],"event_positions":[],"cursor":""} built
 * from the fills of subaccount (-1: all). */
json_t *mock_book_positions(struct mock_book *b, int subaccount);

/* Creates a group; limit in hundredths. Returns
 * {"order_group_id","subaccount","exchange_index"}; NULL with err when the
 * account already has 100000 groups. */
json_t *mock_book_group_create(struct mock_book *b, int64_t limit, int subaccount,
			       int exchange_index, struct mock_book_error *err);

/* Returns {"is_auto_cancel_enabled","orders":[resting ids],
 * "contracts_limit_fp","exchange_index"} of a group of subaccount (-1: any);
 * NULL with a 404. */
json_t *mock_book_group_get(struct mock_book *b, const char *id, int subaccount,
			    struct mock_book_error *err);

/* Returns {"order_groups":[{"id","contracts_limit_fp","is_auto_cancel_enabled",
 * "exchange_index"}]} for subaccount (-1: all). */
json_t *mock_book_group_list(struct mock_book *b, int subaccount);

/* Group mutations on a group of subaccount (-1: any). Each returns 0, or -1
 * with a 404 in err. delete cancels the resting orders and removes the
 * group; reset untriggers it and empties its window; trigger triggers it
 * (reason is recorded, e.g. "api" or "mock"); limit sets a new limit
 * (hundredths) and triggers when the window already exceeds it. */
int mock_book_group_delete(struct mock_book *b, const char *id, int subaccount,
			   struct mock_book_error *err);
int mock_book_group_reset(struct mock_book *b, const char *id, int subaccount,
			  struct mock_book_error *err);
int mock_book_group_trigger(struct mock_book *b, const char *id, int subaccount,
			    const char *reason, struct mock_book_error *err);
int mock_book_group_limit(struct mock_book *b, const char *id, int subaccount, int64_t limit,
			  struct mock_book_error *err);

/* Returns {"order_groups":[...],"orders":[Order...],"fills":[Fill...]} with
 * every detail, for /_mock/state. */
json_t *mock_book_state(struct mock_book *b);

/* Returns the account limits object served at /account/limits. */
json_t *mock_book_limits(struct mock_book *b);

/* Replaces the account limits object (takes a reference to obj). */
void mock_book_set_limits(struct mock_book *b, json_t *obj);

#endif
