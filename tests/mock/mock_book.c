/*
 * mock_book.c - order groups, orders and fills behind one mutex.
 */
#include "tests/mock/mock_book.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mock/mock.h"
#include "tests/mock/mock_markets.h"

#define BOOK_MAX_GROUPS 100000
#define BOOK_USER_ID "mock-user-0001"

struct book_order {
	char id[37];
	char *client_order_id;        /* NULL: none */
	char *ticker;
	enum mock_side side;
	char legacy_side[4];          /* "yes"/"no" */
	char legacy_action[5];        /* "buy"/"sell" */
	int64_t price;                /* YES price, 1/10000 dollars */
	int64_t initial, filled, remaining;   /* hundredths */
	enum mock_status status;
	enum mock_tif tif;
	char stp[16];                 /* "" when not given */
	bool has_expiration;
	int64_t expiration;
	bool post_only, reduce_only, cancel_on_pause;
	int subaccount;
	char group_id[37];            /* "" when none */
	int exchange_index;
	int64_t created_ms, updated_ms;
	int64_t taker_cost, maker_cost, taker_fees, maker_fees;   /* 1/10000 dollars */
};

struct book_fill {
	char id[37];
	size_t order;                 /* index into orders */
	int64_t count, price, fee;    /* hundredths, YES price, 1/10000 dollars */
	bool is_taker;
	int64_t ts_ms;
};

struct book_window_entry {
	int64_t mono_ms;
	int64_t count;
};

struct book_group {
	char id[37];
	int subaccount;
	int exchange_index;
	int64_t limit;                /* hundredths */
	bool triggered;
	const char *trigger_reason;   /* static text, NULL when not triggered */
	struct book_window_entry *win;
	size_t nwin, capwin;
	size_t *orders;               /* indexes of every order placed in it */
	size_t norders, caporders;
};

struct mock_book {
	pthread_mutex_t lock;
	int64_t window_ms;
	struct book_order **orders;
	size_t norders, caporders;
	json_t *by_id;                /* order id -> index */
	json_t *by_coid;              /* client_order_id -> index */
	struct book_fill *fills;
	size_t nfills, capfills;
	struct book_group **groups;
	size_t ngroups, capgroups;
	json_t *limits;
};

/* Grows *arr (element size elem) so that it holds at least need elements.
 * Returns 0, or -1 when out of memory (the array unchanged). */
static int book_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Fills err with status, code and a formatted message. */
static void book_fail(struct mock_book_error *err, unsigned int status, const char *code,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void book_fail(struct mock_book_error *err, unsigned int status, const char *code,
		      const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* Returns the default /account/limits object (Basic tier). */
static json_t *book_default_limits(void)
{
	return json_pack("{s:s, s:{s:i, s:i}, s:{s:i, s:i}, s:[]}", "usage_tier", "basic",
			 "read", "refill_rate", 200, "bucket_capacity", 200, "write",
			 "refill_rate", 100, "bucket_capacity", 100, "grants");
}

/* See mock_book.h. */
struct mock_book *mock_book_new(int64_t window_ms)
{
	struct mock_book *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->window_ms = window_ms;
	b->by_id = json_object();
	b->by_coid = json_object();
	b->limits = book_default_limits();
	if (b->by_id == NULL || b->by_coid == NULL || b->limits == NULL) {
		json_decref(b->by_id);
		json_decref(b->by_coid);
		json_decref(b->limits);
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

/* Frees one group. */
static void book_group_free(struct book_group *g)
{
	if (g == NULL)
		return;
	free(g->win);
	free(g->orders);
	free(g);
}

/* Frees every group, order and fill. Caller holds the lock. */
static void book_clear_locked(struct mock_book *b)
{
	for (size_t i = 0; i < b->norders; i++) {
		free(b->orders[i]->client_order_id);
		free(b->orders[i]->ticker);
		free(b->orders[i]);
	}
	free(b->orders);
	b->orders = NULL;
	b->norders = b->caporders = 0;
	free(b->fills);
	b->fills = NULL;
	b->nfills = b->capfills = 0;
	for (size_t i = 0; i < b->ngroups; i++)
		book_group_free(b->groups[i]);
	free(b->groups);
	b->groups = NULL;
	b->ngroups = b->capgroups = 0;
	json_object_clear(b->by_id);
	json_object_clear(b->by_coid);
}

/* See mock_book.h. */
void mock_book_free(struct mock_book *b)
{
	if (b == NULL)
		return;
	book_clear_locked(b);
	json_decref(b->by_id);
	json_decref(b->by_coid);
	json_decref(b->limits);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* See mock_book.h. */
void mock_book_clear(struct mock_book *b)
{
	pthread_mutex_lock(&b->lock);
	book_clear_locked(b);
	pthread_mutex_unlock(&b->lock);
}

/* Returns the order with this id, or NULL. Caller holds the lock. */
static struct book_order *book_find_order(struct mock_book *b, const char *id)
{
	json_t *v = json_object_get(b->by_id, id);

	return v ? b->orders[json_integer_value(v)] : NULL;
}

/* Returns the group with this id (any subaccount), or NULL; *pos gets its
 * index when not NULL. Caller holds the lock. */
static struct book_group *book_find_group(struct mock_book *b, const char *id, size_t *pos)
{
	for (size_t i = 0; i < b->ngroups; i++) {
		if (strcmp(b->groups[i]->id, id) == 0) {
			if (pos)
				*pos = i;
			return b->groups[i];
		}
	}
	return NULL;
}

/* Returns the group id of subaccount (-1: any), or NULL with a 404 in err.
 * Caller holds the lock. */
static struct book_group *book_group_or_404(struct mock_book *b, const char *id, int subaccount,
					    size_t *pos, struct mock_book_error *err)
{
	struct book_group *g = book_find_group(b, id, pos);

	if (g == NULL || (subaccount >= 0 && g->subaccount != subaccount)) {
		book_fail(err, 404, "not_found", "order group not found");
		return NULL;
	}
	return g;
}

/* Price a side pays per contract: YES price for a bid, NO price for an ask. */
static int64_t book_side_price(enum mock_side side, int64_t yes_price)
{
	return side == MOCK_BID ? yes_price : MOCK_PRICE_SCALE - yes_price;
}

/* Kalshi's trading fee, 0.07 x C x P x (1 - P) rounded up to the cent, for
 * count hundredths at YES price (1/10000 dollars); in 1/10000 dollars. */
static int64_t book_fee(int64_t count, int64_t price)
{
	int64_t num = 7 * count * price * (MOCK_PRICE_SCALE - price);
	int64_t den = 10000000000LL;   /* gives cents */

	return (num + den - 1) / den * 100;
}

/* Cost of count hundredths at per-contract price (1/10000), in 1/10000. */
static int64_t book_cost(int64_t count, int64_t price)
{
	return count * price / MOCK_COUNT_SCALE;
}

/* Cancels an order if it rests; returns the count it removed. Caller holds
 * the lock. */
static int64_t book_cancel_order(struct book_order *o, int64_t now_ms)
{
	int64_t removed;

	if (o->status != MOCK_RESTING)
		return 0;
	removed = o->remaining;
	o->remaining = 0;
	o->status = MOCK_CANCELED;
	o->updated_ms = now_ms;
	return removed;
}

/* Triggers a group: marks it and cancels its resting orders. Caller holds
 * the lock. */
static void book_trigger(struct mock_book *b, struct book_group *g, const char *reason)
{
	int64_t now = mock_now_ms();

	if (!g->triggered) {
		g->triggered = true;
		g->trigger_reason = reason;
	}
	for (size_t i = 0; i < g->norders; i++)
		book_cancel_order(b->orders[g->orders[i]], now);
}

/* Drops window entries older than the window and returns the sum of the
 * rest. Caller holds the lock. */
static int64_t book_window_sum(struct mock_book *b, struct book_group *g)
{
	int64_t now = mock_mono_ms(), sum = 0;
	size_t keep = 0;

	for (size_t i = 0; i < g->nwin; i++) {
		if (now - g->win[i].mono_ms < b->window_ms) {
			g->win[keep++] = g->win[i];
			sum += g->win[i].count;
		}
	}
	g->nwin = keep;
	return sum;
}

/* Records a fill of count hundredths of order index oi and adds it to the
 * order's group window, triggering the group when the window exceeds its
 * limit. Returns 0, or -1 when out of memory (nothing changed). Caller holds
 * the lock. */
static int book_fill(struct mock_book *b, size_t oi, int64_t count, bool is_taker)
{
	struct book_order *o = b->orders[oi];
	struct book_fill *f;
	struct book_group *g = o->group_id[0] ? book_find_group(b, o->group_id, NULL) : NULL;
	int64_t fee = book_fee(count, o->price);
	int64_t cost = book_cost(count, book_side_price(o->side, o->price));

	if (book_grow((void **)&b->fills, &b->capfills, b->nfills + 1, sizeof(*b->fills)))
		return -1;
	if (g != NULL &&
	    book_grow((void **)&g->win, &g->capwin, g->nwin + 1, sizeof(*g->win)))
		return -1;
	f = &b->fills[b->nfills++];
	mock_uuid(f->id);
	f->order = oi;
	f->count = count;
	f->price = o->price;
	f->fee = fee;
	f->is_taker = is_taker;
	f->ts_ms = mock_now_ms();
	o->filled += count;
	o->remaining -= count;
	o->updated_ms = f->ts_ms;
	if (is_taker) {
		o->taker_cost += cost;
		o->taker_fees += fee;
	} else {
		o->maker_cost += cost;
		o->maker_fees += fee;
	}
	if (o->remaining == 0)
		o->status = MOCK_EXECUTED;
	if (g != NULL) {
		g->win[g->nwin].mono_ms = mock_mono_ms();
		g->win[g->nwin].count = count;
		g->nwin++;
		if (book_window_sum(b, g) > g->limit)
			book_trigger(b, g, "limit");
	}
	return 0;
}

static const char *const book_status_names[] = { "resting", "canceled", "executed" };

/* Returns the legacy Order object of o (kalshi-typescript models/order.ts).
 * Caller holds the lock. */
static json_t *book_order_json(const struct book_order *o)
{
	json_t *j = json_object();
	char t[40];

	if (j == NULL)
		return NULL;
	json_object_set_new(j, "order_id", json_string(o->id));
	json_object_set_new(j, "user_id", json_string(BOOK_USER_ID));
	json_object_set_new(j, "client_order_id",
			    json_string(o->client_order_id ? o->client_order_id : ""));
	json_object_set_new(j, "ticker", json_string(o->ticker));
	json_object_set_new(j, "side", json_string(o->legacy_side));
	json_object_set_new(j, "action", json_string(o->legacy_action));
	json_object_set_new(j, "outcome_side", json_string(o->side == MOCK_BID ? "yes" : "no"));
	json_object_set_new(j, "book_side", json_string(o->side == MOCK_BID ? "bid" : "ask"));
	json_object_set_new(j, "type", json_string("limit"));
	json_object_set_new(j, "status", json_string(book_status_names[o->status]));
	json_object_set_new(j, "yes_price_dollars", mock_json_dollars(o->price));
	json_object_set_new(j, "no_price_dollars", mock_json_dollars(MOCK_PRICE_SCALE - o->price));
	json_object_set_new(j, "fill_count_fp", mock_json_count(o->filled));
	json_object_set_new(j, "remaining_count_fp", mock_json_count(o->remaining));
	json_object_set_new(j, "initial_count_fp", mock_json_count(o->initial));
	json_object_set_new(j, "taker_fill_cost_dollars", mock_json_dollars(o->taker_cost));
	json_object_set_new(j, "maker_fill_cost_dollars", mock_json_dollars(o->maker_cost));
	json_object_set_new(j, "taker_fees_dollars", mock_json_dollars(o->taker_fees));
	json_object_set_new(j, "maker_fees_dollars", mock_json_dollars(o->maker_fees));
	if (o->has_expiration) {
		mock_rfc3339(o->expiration * 1000, t, sizeof(t));
		json_object_set_new(j, "expiration_time", json_string(t));
	} else {
		json_object_set_new(j, "expiration_time", json_null());
	}
	mock_rfc3339(o->created_ms, t, sizeof(t));
	json_object_set_new(j, "created_time", json_string(t));
	mock_rfc3339(o->updated_ms, t, sizeof(t));
	json_object_set_new(j, "last_update_time", json_string(t));
	if (o->stp[0])
		json_object_set_new(j, "self_trade_prevention_type", json_string(o->stp));
	json_object_set_new(j, "order_group_id",
			    o->group_id[0] ? json_string(o->group_id) : json_null());
	json_object_set_new(j, "cancel_order_on_pause", json_boolean(o->cancel_on_pause));
	json_object_set_new(j, "subaccount_number", json_integer(o->subaccount));
	json_object_set_new(j, "exchange_index", json_integer(o->exchange_index));
	return j;
}

/* Returns the Fill object of f (models/fill.ts). Caller holds the lock. */
static json_t *book_fill_json(const struct mock_book *b, const struct book_fill *f)
{
	const struct book_order *o = b->orders[f->order];
	json_t *j = json_object();
	char t[40];

	if (j == NULL)
		return NULL;
	json_object_set_new(j, "fill_id", json_string(f->id));
	json_object_set_new(j, "trade_id", json_string(f->id));
	json_object_set_new(j, "order_id", json_string(o->id));
	json_object_set_new(j, "ticker", json_string(o->ticker));
	json_object_set_new(j, "market_ticker", json_string(o->ticker));
	json_object_set_new(j, "side", json_string(o->legacy_side));
	json_object_set_new(j, "action", json_string(o->legacy_action));
	json_object_set_new(j, "outcome_side", json_string(o->side == MOCK_BID ? "yes" : "no"));
	json_object_set_new(j, "book_side", json_string(o->side == MOCK_BID ? "bid" : "ask"));
	json_object_set_new(j, "count_fp", mock_json_count(f->count));
	json_object_set_new(j, "yes_price_dollars", mock_json_dollars(f->price));
	json_object_set_new(j, "no_price_dollars", mock_json_dollars(MOCK_PRICE_SCALE - f->price));
	json_object_set_new(j, "is_taker", json_boolean(f->is_taker));
	mock_rfc3339(f->ts_ms, t, sizeof(t));
	json_object_set_new(j, "created_time", json_string(t));
	json_object_set_new(j, "fee_cost", mock_json_dollars(f->fee));
	json_object_set_new(j, "subaccount_number", json_integer(o->subaccount));
	json_object_set_new(j, "ts", json_integer(f->ts_ms / 1000));
	json_object_set_new(j, "exchange_index", json_integer(o->exchange_index));
	return j;
}

/* Returns the V2 create/amend response fields of o: order_id,
 * client_order_id (when set), fill_count, remaining_count, ts_ms, and
 * average_fill_price (YES price) and average_fee_paid (per contract) when
 * anything filled. Caller holds the lock. */
static json_t *book_v2_result(const struct book_order *o, int64_t ts_ms)
{
	json_t *j = json_object();

	if (j == NULL)
		return NULL;
	json_object_set_new(j, "order_id", json_string(o->id));
	if (o->client_order_id)
		json_object_set_new(j, "client_order_id", json_string(o->client_order_id));
	json_object_set_new(j, "fill_count", mock_json_count(o->filled));
	json_object_set_new(j, "remaining_count", mock_json_count(o->remaining));
	if (o->filled > 0) {
		int64_t fees = o->taker_fees + o->maker_fees;
		json_object_set_new(j, "average_fill_price", mock_json_dollars(o->price));
		json_object_set_new(j, "average_fee_paid",
				    mock_json_dollars(fees * MOCK_COUNT_SCALE / o->filled));
	}
	json_object_set_new(j, "ts_ms", json_integer(ts_ms));
	return j;
}

/* Checks what a new order needs from the book's state (client_order_id
 * unused, market open and on the right shard, group usable). Fills err and
 * returns -1 on refusal; *market_index gets the market's shard. Caller holds
 * the lock. */
static int book_check_new(struct mock_book *b, const struct mock_order_spec *s,
			  int *market_index, struct book_group **group,
			  struct mock_book_error *err)
{
	const struct mock_market *m = mock_market_find(s->ticker);
	struct book_group *g = NULL;

	if (s->client_order_id && json_object_get(b->by_coid, s->client_order_id)) {
		book_fail(err, 409, "order_already_exists",
			  "an order with client_order_id '%s' already exists",
			  s->client_order_id);
		return -1;
	}
	if (m != NULL && strcmp(m->status, "active") != 0) {
		book_fail(err, 409, "market_closed", "market '%s' is not open for trading",
			  s->ticker);
		return -1;
	}
	*market_index = m ? m->exchange_index : 0;
	if (s->exchange_index >= 0 && s->exchange_index != *market_index) {
		book_fail(err, 400, "invalid_parameters",
			  "market '%s' is on exchange_index %d, not %d", s->ticker,
			  *market_index, s->exchange_index);
		return -1;
	}
	if (s->order_group_id) {
		g = book_find_group(b, s->order_group_id, NULL);
		if (g == NULL || g->subaccount != s->subaccount) {
			book_fail(err, 404, "not_found", "order group '%s' not found",
				  s->order_group_id);
			return -1;
		}
		if (g->exchange_index != *market_index) {
			book_fail(err, 400, "invalid_parameters",
				  "order group '%s' belongs to exchange_index %d but market '%s' "
				  "is on exchange_index %d", g->id, g->exchange_index, s->ticker,
				  *market_index);
			return -1;
		}
		if (g->triggered) {
			book_fail(err, 409, "order_group_triggered",
				  "order group '%s' has been triggered; orders in this order group "
				  "are rejected until it is reset", g->id);
			return -1;
		}
	}
	*group = g;
	return 0;
}

/* Adds a new resting order built from s to the book's tables. Returns its
 * index, or -1 when out of memory. Caller holds the lock. */
static long book_add_order(struct mock_book *b, const struct mock_order_spec *s,
			   int exchange_index, struct book_group *g)
{
	struct book_order *o = calloc(1, sizeof(*o));
	size_t idx = b->norders;

	if (o == NULL)
		return -1;
	if (book_grow((void **)&b->orders, &b->caporders, b->norders + 1, sizeof(*b->orders)) ||
	    (g && book_grow((void **)&g->orders, &g->caporders, g->norders + 1,
			    sizeof(*g->orders))) ||
	    (o->ticker = strdup(s->ticker)) == NULL ||
	    (s->client_order_id && (o->client_order_id = strdup(s->client_order_id)) == NULL)) {
		free(o->ticker);
		free(o);
		return -1;
	}
	mock_uuid(o->id);
	o->side = s->side;
	if (s->legacy_side) {
		snprintf(o->legacy_side, sizeof(o->legacy_side), "%s", s->legacy_side);
		snprintf(o->legacy_action, sizeof(o->legacy_action), "%s", s->legacy_action);
	} else {
		snprintf(o->legacy_side, sizeof(o->legacy_side), "yes");
		snprintf(o->legacy_action, sizeof(o->legacy_action), "%s",
			 s->side == MOCK_BID ? "buy" : "sell");
	}
	o->price = s->price;
	o->initial = o->remaining = s->count;
	o->status = MOCK_RESTING;
	o->tif = s->tif;
	snprintf(o->stp, sizeof(o->stp), "%s", s->stp ? s->stp : "");
	o->has_expiration = s->has_expiration;
	o->expiration = s->expiration;
	o->post_only = s->post_only;
	o->reduce_only = s->reduce_only;
	o->cancel_on_pause = s->cancel_on_pause;
	o->subaccount = s->subaccount;
	if (g)
		snprintf(o->group_id, sizeof(o->group_id), "%s", g->id);
	o->exchange_index = exchange_index;
	o->created_ms = o->updated_ms = mock_now_ms();
	b->orders[b->norders++] = o;
	json_object_set_new(b->by_id, o->id, json_integer((json_int_t)idx));
	if (o->client_order_id)
		json_object_set_new(b->by_coid, o->client_order_id, json_integer((json_int_t)idx));
	if (g)
		g->orders[g->norders++] = idx;
	return (long)idx;
}

/* See mock_book.h. */
json_t *mock_book_place(struct mock_book *b, const struct mock_order_spec *s,
			enum mock_style style, struct mock_book_error *err)
{
	struct book_group *g = NULL;
	struct book_order *o;
	json_t *res = NULL;
	int market_index = 0;
	long idx;

	pthread_mutex_lock(&b->lock);
	if (book_check_new(b, s, &market_index, &g, err))
		goto out;
	idx = book_add_order(b, s, market_index, g);
	if (idx < 0) {
		book_fail(err, 500, "internal", "mock out of memory");
		goto out;
	}
	o = b->orders[idx];
	if (s->tif != MOCK_TIF_GTC) {
		int64_t cost = book_cost(s->count, book_side_price(s->side, s->price));
		if (s->max_cost > 0 && cost > s->max_cost)
			book_cancel_order(o, o->created_ms);   /* fill-or-kill: killed */
		else if (book_fill(b, (size_t)idx, s->count, true))
			book_cancel_order(o, o->created_ms);
	}
	res = style == MOCK_STYLE_V2 ? book_v2_result(o, mock_now_ms()) : book_order_json(o);
out:
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* Returns the resting order id of subaccount (-1: any), or NULL with a 404.
 * Caller holds the lock. */
static struct book_order *book_resting_or_404(struct mock_book *b, const char *id,
					      int subaccount, struct mock_book_error *err)
{
	struct book_order *o = book_find_order(b, id);

	if (o == NULL || (subaccount >= 0 && o->subaccount != subaccount)) {
		book_fail(err, 404, "not_found", "order '%s' not found", id);
		return NULL;
	}
	if (o->status != MOCK_RESTING) {
		book_fail(err, 404, "not_found", "order '%s' is not resting (%s)", id,
			  book_status_names[o->status]);
		return NULL;
	}
	return o;
}

/* See mock_book.h. */
json_t *mock_book_cancel(struct mock_book *b, const char *order_id, int subaccount,
			 enum mock_style style, struct mock_book_error *err)
{
	struct book_order *o;
	json_t *res = NULL;
	int64_t now = mock_now_ms(), removed;

	pthread_mutex_lock(&b->lock);
	o = book_resting_or_404(b, order_id, subaccount, err);
	if (o == NULL)
		goto out;
	removed = book_cancel_order(o, now);
	if (style == MOCK_STYLE_V2) {
		res = json_object();
		json_object_set_new(res, "order_id", json_string(o->id));
		if (o->client_order_id)
			json_object_set_new(res, "client_order_id",
					    json_string(o->client_order_id));
		json_object_set_new(res, "reduced_by", mock_json_count(removed));
		json_object_set_new(res, "ts_ms", json_integer(now));
	} else {
		res = json_object();
		json_object_set_new(res, "order", book_order_json(o));
		json_object_set_new(res, "reduced_by_fp", mock_json_count(removed));
	}
out:
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* See mock_book.h. */
long mock_book_cancel_all(struct mock_book *b, int subaccount)
{
	int64_t now = mock_now_ms();
	long n = 0;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->norders; i++) {
		struct book_order *o = b->orders[i];
		if (subaccount >= 0 && o->subaccount != subaccount)
			continue;
		if (o->status == MOCK_RESTING) {
			book_cancel_order(o, now);
			n++;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* See mock_book.h. */
json_t *mock_book_decrease(struct mock_book *b, const char *order_id, int subaccount,
			   int64_t reduce_by, int64_t reduce_to, enum mock_style style,
			   struct mock_book_error *err)
{
	struct book_order *o;
	json_t *res = NULL;
	int64_t now = mock_now_ms(), target;

	pthread_mutex_lock(&b->lock);
	o = book_resting_or_404(b, order_id, subaccount, err);
	if (o == NULL)
		goto out;
	if (reduce_by >= 0) {
		target = reduce_by >= o->remaining ? 0 : o->remaining - reduce_by;
	} else {
		if (reduce_to > o->remaining) {
			book_fail(err, 400, "invalid_parameters",
				  "reduce_to must not exceed the remaining count");
			goto out;
		}
		target = reduce_to;
	}
	if (target == 0) {
		book_cancel_order(o, now);
	} else {
		o->remaining = target;
		o->updated_ms = now;
	}
	res = json_object();
	if (style == MOCK_STYLE_V2) {
		json_object_set_new(res, "order_id", json_string(o->id));
		if (o->client_order_id)
			json_object_set_new(res, "client_order_id",
					    json_string(o->client_order_id));
		json_object_set_new(res, "remaining_count", mock_json_count(o->remaining));
		json_object_set_new(res, "ts_ms", json_integer(now));
	} else {
		json_object_set_new(res, "order", book_order_json(o));
	}
out:
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* See mock_book.h. */
json_t *mock_book_amend(struct mock_book *b, const char *order_id,
			const struct mock_amend_spec *a, enum mock_style style,
			struct mock_book_error *err)
{
	struct book_order *o;
	json_t *res = NULL, *old = NULL;
	int64_t now = mock_now_ms();

	pthread_mutex_lock(&b->lock);
	o = book_resting_or_404(b, order_id, a->subaccount, err);
	if (o == NULL)
		goto out;
	if (strcmp(o->ticker, a->ticker) != 0 || o->side != a->side) {
		book_fail(err, 400, "invalid_parameters",
			  "ticker and side must match the order being amended");
		goto out;
	}
	if (a->client_order_id &&
	    (o->client_order_id == NULL || strcmp(a->client_order_id, o->client_order_id))) {
		book_fail(err, 400, "invalid_parameters",
			  "client_order_id does not match the order being amended");
		goto out;
	}
	if (a->has_count && a->count <= o->filled) {
		book_fail(err, 400, "invalid_order_size",
			  "count must exceed the filled count of the order");
		goto out;
	}
	if (a->updated_client_order_id &&
	    json_object_get(b->by_coid, a->updated_client_order_id)) {
		book_fail(err, 409, "order_already_exists",
			  "an order with client_order_id '%s' already exists",
			  a->updated_client_order_id);
		goto out;
	}
	if (a->updated_client_order_id) {
		char *coid = strdup(a->updated_client_order_id);
		json_t *idx = json_object_get(b->by_id, o->id);
		if (coid == NULL) {
			book_fail(err, 500, "internal", "mock out of memory");
			goto out;
		}
		/* The old id stays reserved: Kalshi refuses its reuse too. */
		json_object_set(b->by_coid, coid, idx);
		free(o->client_order_id);
		o->client_order_id = coid;
	}
	if (style == MOCK_STYLE_LEGACY)
		old = book_order_json(o);
	o->price = a->price;
	if (a->has_count) {
		o->initial = a->count;
		o->remaining = a->count - o->filled;
	}
	o->updated_ms = now;
	if (style == MOCK_STYLE_V2) {
		res = book_v2_result(o, now);
	} else {
		res = json_object();
		json_object_set_new(res, "old_order", old);
		json_object_set_new(res, "order", book_order_json(o));
	}
out:
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* See mock_book.h. */
json_t *mock_book_fill_order(struct mock_book *b, const char *order_id, int64_t count,
			     struct mock_book_error *err)
{
	struct book_order *o;
	json_t *res = NULL;

	pthread_mutex_lock(&b->lock);
	o = book_resting_or_404(b, order_id, -1, err);
	if (o == NULL)
		goto out;
	if (count < 0)
		count = o->remaining;
	if (count == 0 || count > o->remaining) {
		book_fail(err, 400, "invalid_parameters",
			  "count must be between 0.01 and the remaining count");
		goto out;
	}
	if (book_fill(b, (size_t)json_integer_value(json_object_get(b->by_id, o->id)), count,
		      false)) {
		book_fail(err, 500, "internal", "mock out of memory");
		goto out;
	}
	res = book_order_json(o);
out:
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* See mock_book.h. */
json_t *mock_book_order(struct mock_book *b, const char *order_id, int subaccount,
			struct mock_book_error *err)
{
	struct book_order *o;
	json_t *res = NULL;

	pthread_mutex_lock(&b->lock);
	o = book_find_order(b, order_id);
	if (o == NULL || (subaccount >= 0 && o->subaccount != subaccount))
		book_fail(err, 404, "not_found", "order '%s' not found", order_id);
	else
		res = book_order_json(o);
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* Returns {"<key>": items, "cursor": next} where next is the offset of the
 * next page ("" when none). Takes ownership of items. */
static json_t *book_page(const char *key, json_t *items, bool more, long next)
{
	json_t *res = json_object();
	char cur[32] = "";

	if (more)
		snprintf(cur, sizeof(cur), "%ld", next);
	json_object_set_new(res, key, items);
	json_object_set_new(res, "cursor", json_string(cur));
	return res;
}

/* See mock_book.h. */
json_t *mock_book_orders(struct mock_book *b, const struct mock_list_filter *f)
{
	json_t *items = json_array();
	long seen = 0;
	bool more = false;

	pthread_mutex_lock(&b->lock);
	for (size_t i = b->norders; i-- > 0;) {
		const struct book_order *o = b->orders[i];
		if ((f->ticker && strcmp(f->ticker, o->ticker) != 0) ||
		    (f->status >= 0 && (int)o->status != f->status) ||
		    (f->subaccount >= 0 && o->subaccount != f->subaccount) ||
		    (f->min_ts >= 0 && o->created_ms / 1000 < f->min_ts) ||
		    (f->max_ts >= 0 && o->created_ms / 1000 > f->max_ts))
			continue;
		if (seen++ < f->offset)
			continue;
		if ((long)json_array_size(items) >= f->limit) {
			more = true;
			break;
		}
		json_array_append_new(items, book_order_json(o));
	}
	pthread_mutex_unlock(&b->lock);
	return book_page("orders", items, more, f->offset + f->limit);
}

/* See mock_book.h. */
json_t *mock_book_fills(struct mock_book *b, const struct mock_list_filter *f)
{
	json_t *items = json_array();
	long seen = 0;
	bool more = false;

	pthread_mutex_lock(&b->lock);
	for (size_t i = b->nfills; i-- > 0;) {
		const struct book_fill *fl = &b->fills[i];
		const struct book_order *o = b->orders[fl->order];
		if ((f->ticker && strcmp(f->ticker, o->ticker) != 0) ||
		    (f->order_id && strcmp(f->order_id, o->id) != 0) ||
		    (f->subaccount >= 0 && o->subaccount != f->subaccount) ||
		    (f->min_ts >= 0 && fl->ts_ms / 1000 < f->min_ts) ||
		    (f->max_ts >= 0 && fl->ts_ms / 1000 > f->max_ts))
			continue;
		if (seen++ < f->offset)
			continue;
		if ((long)json_array_size(items) >= f->limit) {
			more = true;
			break;
		}
		json_array_append_new(items, book_fill_json(b, fl));
	}
	pthread_mutex_unlock(&b->lock);
	return book_page("fills", items, more, f->offset + f->limit);
}

/* See mock_book.h. */
json_t *mock_book_positions(struct mock_book *b, int subaccount)
{
	json_t *by_ticker = json_object(), *list = json_array(), *res = json_object();
	const char *ticker;
	json_t *p;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->nfills; i++) {
		const struct book_fill *fl = &b->fills[i];
		const struct book_order *o = b->orders[fl->order];
		json_t *acc;
		int64_t signed_count = o->side == MOCK_BID ? fl->count : -fl->count;
		if (subaccount >= 0 && o->subaccount != subaccount)
			continue;
		acc = json_object_get(by_ticker, o->ticker);
		if (acc == NULL) {
			acc = json_pack("{s:I, s:I, s:I, s:I, s:I}", "position", (json_int_t)0,
					"traded", (json_int_t)0, "exposure", (json_int_t)0, "fees",
					(json_int_t)0, "last", (json_int_t)0);
			json_object_set_new(by_ticker, o->ticker, acc);
			json_object_set_new(acc, "exchange_index", json_integer(o->exchange_index));
		}
		json_object_set_new(acc, "position", json_integer(json_integer_value(
			json_object_get(acc, "position")) + signed_count));
		json_object_set_new(acc, "traded", json_integer(json_integer_value(
			json_object_get(acc, "traded")) + book_cost(fl->count, fl->price)));
		json_object_set_new(acc, "exposure", json_integer(json_integer_value(
			json_object_get(acc, "exposure")) +
			book_cost(fl->count, book_side_price(o->side, fl->price))));
		json_object_set_new(acc, "fees", json_integer(json_integer_value(
			json_object_get(acc, "fees")) + fl->fee));
		json_object_set_new(acc, "last", json_integer(fl->ts_ms));
	}
	pthread_mutex_unlock(&b->lock);
	json_object_foreach(by_ticker, ticker, p) {
		char t[40];
		mock_rfc3339(json_integer_value(json_object_get(p, "last")), t, sizeof(t));
		json_array_append_new(list, json_pack(
			"{s:s, s:O, s:o, s:o, s:o, s:o, s:o, s:s}", "ticker", ticker,
			"exchange_index", json_object_get(p, "exchange_index"),
			"total_traded_dollars",
			mock_json_dollars(json_integer_value(json_object_get(p, "traded"))),
			"position_fp",
			mock_json_count(json_integer_value(json_object_get(p, "position"))),
			"market_exposure_dollars",
			mock_json_dollars(json_integer_value(json_object_get(p, "exposure"))),
			"realized_pnl_dollars", mock_json_dollars(0), "fees_paid_dollars",
			mock_json_dollars(json_integer_value(json_object_get(p, "fees"))),
			"last_updated_ts", t));
	}
	json_decref(by_ticker);
	json_object_set_new(res, "market_positions", list);
	json_object_set_new(res, "event_positions", json_array());
	json_object_set_new(res, "cursor", json_string(""));
	return res;
}

/* See mock_book.h. */
json_t *mock_book_group_create(struct mock_book *b, int64_t limit, int subaccount,
			       int exchange_index, struct mock_book_error *err)
{
	struct book_group *g = NULL;
	json_t *res = NULL;

	pthread_mutex_lock(&b->lock);
	if (b->ngroups >= BOOK_MAX_GROUPS) {
		book_fail(err, 400, "invalid_parameters",
			  "maximum number of order groups (%d) reached", BOOK_MAX_GROUPS);
		goto out;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL ||
	    book_grow((void **)&b->groups, &b->capgroups, b->ngroups + 1, sizeof(*b->groups))) {
		free(g);
		book_fail(err, 500, "internal", "mock out of memory");
		goto out;
	}
	mock_uuid(g->id);
	g->limit = limit;
	g->subaccount = subaccount;
	g->exchange_index = exchange_index;
	b->groups[b->ngroups++] = g;
	res = json_object();
	json_object_set_new(res, "order_group_id", json_string(g->id));
	json_object_set_new(res, "subaccount", json_integer(subaccount));
	json_object_set_new(res, "exchange_index", json_integer(exchange_index));
out:
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* Returns the ids of g's orders as a JSON array: only resting ones when
 * resting_only. Caller holds the lock. */
static json_t *book_group_order_ids(struct mock_book *b, const struct book_group *g,
				    bool resting_only)
{
	json_t *ids = json_array();

	for (size_t i = 0; i < g->norders; i++) {
		const struct book_order *o = b->orders[g->orders[i]];
		if (!resting_only || o->status == MOCK_RESTING)
			json_array_append_new(ids, json_string(o->id));
	}
	return ids;
}

/* See mock_book.h. */
json_t *mock_book_group_get(struct mock_book *b, const char *id, int subaccount,
			    struct mock_book_error *err)
{
	struct book_group *g;
	json_t *res = NULL;

	pthread_mutex_lock(&b->lock);
	g = book_group_or_404(b, id, subaccount, NULL, err);
	if (g != NULL) {
		res = json_object();
		json_object_set_new(res, "is_auto_cancel_enabled", json_boolean(g->triggered));
		json_object_set_new(res, "orders", book_group_order_ids(b, g, true));
		json_object_set_new(res, "contracts_limit_fp", mock_json_count(g->limit));
		json_object_set_new(res, "exchange_index", json_integer(g->exchange_index));
	}
	pthread_mutex_unlock(&b->lock);
	return res;
}

/* See mock_book.h. */
json_t *mock_book_group_list(struct mock_book *b, int subaccount)
{
	json_t *list = json_array(), *res = json_object();

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->ngroups; i++) {
		const struct book_group *g = b->groups[i];
		if (subaccount >= 0 && g->subaccount != subaccount)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:o, s:b, s:i}", "id", g->id,
						      "contracts_limit_fp",
						      mock_json_count(g->limit),
						      "is_auto_cancel_enabled", g->triggered,
						      "exchange_index", g->exchange_index));
	}
	pthread_mutex_unlock(&b->lock);
	json_object_set_new(res, "order_groups", list);
	return res;
}

/* See mock_book.h. */
int mock_book_group_delete(struct mock_book *b, const char *id, int subaccount,
			   struct mock_book_error *err)
{
	struct book_group *g;
	size_t pos = 0;
	int64_t now = mock_now_ms();
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	g = book_group_or_404(b, id, subaccount, &pos, err);
	if (g != NULL) {
		for (size_t i = 0; i < g->norders; i++)
			book_cancel_order(b->orders[g->orders[i]], now);
		memmove(&b->groups[pos], &b->groups[pos + 1],
			(b->ngroups - pos - 1) * sizeof(*b->groups));
		b->ngroups--;
		book_group_free(g);
		rc = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* See mock_book.h. */
int mock_book_group_reset(struct mock_book *b, const char *id, int subaccount,
			  struct mock_book_error *err)
{
	struct book_group *g;
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	g = book_group_or_404(b, id, subaccount, NULL, err);
	if (g != NULL) {
		g->triggered = false;
		g->trigger_reason = NULL;
		g->nwin = 0;
		rc = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* See mock_book.h. */
int mock_book_group_trigger(struct mock_book *b, const char *id, int subaccount,
			    const char *reason, struct mock_book_error *err)
{
	struct book_group *g;
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	g = book_group_or_404(b, id, subaccount, NULL, err);
	if (g != NULL) {
		book_trigger(b, g, reason);
		rc = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* See mock_book.h. */
int mock_book_group_limit(struct mock_book *b, const char *id, int subaccount, int64_t limit,
			  struct mock_book_error *err)
{
	struct book_group *g;
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	g = book_group_or_404(b, id, subaccount, NULL, err);
	if (g != NULL) {
		g->limit = limit;
		if (book_window_sum(b, g) > limit)
			book_trigger(b, g, "limit_lowered");
		rc = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* See mock_book.h. */
json_t *mock_book_state(struct mock_book *b)
{
	json_t *groups = json_array(), *orders = json_array(), *fills = json_array();
	json_t *res = json_object();

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->ngroups; i++) {
		struct book_group *g = b->groups[i];
		json_t *j = json_object();
		json_object_set_new(j, "id", json_string(g->id));
		json_object_set_new(j, "subaccount", json_integer(g->subaccount));
		json_object_set_new(j, "exchange_index", json_integer(g->exchange_index));
		json_object_set_new(j, "contracts_limit",
				    json_integer(g->limit / MOCK_COUNT_SCALE));
		json_object_set_new(j, "contracts_limit_fp", mock_json_count(g->limit));
		json_object_set_new(j, "triggered", json_boolean(g->triggered));
		json_object_set_new(j, "trigger_reason", g->trigger_reason
				    ? json_string(g->trigger_reason) : json_null());
		json_object_set_new(j, "window_fp", mock_json_count(book_window_sum(b, g)));
		json_object_set_new(j, "orders", book_group_order_ids(b, g, false));
		json_object_set_new(j, "resting_orders", book_group_order_ids(b, g, true));
		json_array_append_new(groups, j);
	}
	for (size_t i = 0; i < b->norders; i++)
		json_array_append_new(orders, book_order_json(b->orders[i]));
	for (size_t i = 0; i < b->nfills; i++)
		json_array_append_new(fills, book_fill_json(b, &b->fills[i]));
	pthread_mutex_unlock(&b->lock);
	json_object_set_new(res, "order_groups", groups);
	json_object_set_new(res, "orders", orders);
	json_object_set_new(res, "fills", fills);
	return res;
}

/* See mock_book.h. */
json_t *mock_book_limits(struct mock_book *b)
{
	json_t *copy;

	pthread_mutex_lock(&b->lock);
	copy = json_deep_copy(b->limits);
	pthread_mutex_unlock(&b->lock);
	return copy;
}

/* See mock_book.h. */
void mock_book_set_limits(struct mock_book *b, json_t *obj)
{
	json_t *copy = json_deep_copy(obj);

	if (copy == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	json_decref(b->limits);
	b->limits = copy;
	pthread_mutex_unlock(&b->lock);
}
