/*
 * limits: pure risk-limit decisions (see limits.h).
 *
 * Every sum of counters saturates at INT64_MAX instead of overflowing, and
 * negative counters (a caller's release racing a reservation) count as 0,
 * so no input makes a check wrap round and let an order through. Text that
 * reaches a refusal (tickers, patterns) is copied as printable ASCII only,
 * so refusal strings are always valid JSON strings and safe log lines.
 */
#include "policy/limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/fixed.h"

/* Largest per_s and batch size the token bucket works with; far above
 * anything real, and small enough that tokens x 1000 cannot overflow. */
#define LIMITS_RATE_MAX INT64_C(1000000000)
/* Longest client text (ticker, pattern) quoted in a sentence. */
#define LIMITS_QUOTE_MAX 128
/* Room for one formatted count or dollar amount. */
#define LIMITS_NUM_MAX 32

/* Formats into buf (cap bytes, cap > 0), truncating. */
static void format_text(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void format_text(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* Appends s to buf (cap bytes, holding a NUL-terminated string) as
 * printable ASCII (other bytes become '?'). When it does not fit, the text
 * is cut and ends in "..." and 1 is returned; else 0. */
static int append_ascii(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf);

	if (cap < 4 || n >= cap - 1)
		return 1;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (n == cap - 1) {
			memcpy(buf + cap - 4, "...", 4);
			return 1;
		}
		buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		buf[n] = '\0';
	}
	return 0;
}

/* Copies s into out (cap bytes) as printable ASCII, cut with "..." when
 * longer. */
static void quote(const char *s, char *out, size_t cap)
{
	out[0] = '\0';
	append_ascii(out, cap, s);
}

/* a + b for a, b >= 0, saturating at INT64_MAX. */
static int64_t add_sat(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* v, or 0 when negative. */
static int64_t nonneg(int64_t v)
{
	return v < 0 ? 0 : v;
}

/* Takes one int64 key: the client's when it sets it, else the global's. */
static void pick(int g_has, int64_t g_val, int c_has, int64_t c_val, int *has, int64_t *val)
{
	if (c_has) {
		*has = 1;
		*val = c_val;
	} else if (g_has) {
		*has = 1;
		*val = g_val;
	} else {
		*has = 0;
		*val = 0;
	}
}

/* Merges global and client limits key by key (see limits.h). Pure. */
void limits_merge(const struct gw_limits *global, const struct gw_limits *client,
		  struct limits_eff *out)
{
	static const struct gw_limits none;
	const struct gw_limits *g = global != NULL ? global : &none;
	const struct gw_limits *c = client != NULL ? client : &none;
	struct limits_eff e;

	memset(&e, 0, sizeof(e));
	pick(g->has_max_order_contracts, g->max_order_contracts, c->has_max_order_contracts,
	     c->max_order_contracts, &e.has_max_order_contracts, &e.max_order_contracts);
	pick(g->has_max_order_cost, g->max_order_cost, c->has_max_order_cost,
	     c->max_order_cost, &e.has_max_order_cost, &e.max_order_cost);
	pick(g->has_min_price, g->min_price, c->has_min_price, c->min_price,
	     &e.has_min_price, &e.min_price);
	pick(g->has_max_price, g->max_price, c->has_max_price, c->max_price,
	     &e.has_max_price, &e.max_price);
	pick(g->has_max_session_filled_contracts, g->max_session_filled_contracts,
	     c->has_max_session_filled_contracts, c->max_session_filled_contracts,
	     &e.has_max_session_filled_contracts, &e.max_session_filled_contracts);
	pick(g->has_max_orders_per_s, g->max_orders_per_s, c->has_max_orders_per_s,
	     c->max_orders_per_s, &e.has_max_orders_per_s, &e.max_orders_per_s);
	/* Scoped, not overridden: the session's cap and the client's share. */
	e.has_session_contracts = g->has_max_session_contracts;
	e.session_contracts = g->max_session_contracts;
	e.has_client_session_contracts = c->has_max_session_contracts;
	e.client_session_contracts = c->max_session_contracts;
	if (c->has_tickers)
		e.tickers = &c->tickers;
	else if (g->has_tickers)
		e.tickers = &g->tickers;
	if (c->has_deny_tickers)
		e.deny_tickers = &c->deny_tickers;
	else if (g->has_deny_tickers)
		e.deny_tickers = &g->deny_tickers;
	*out = e;
}

/*
 * Glob match (see limits.h). On a mismatch after a '*', the star is made
 * to swallow one more byte and matching resumes there; only the latest
 * star matters, since an earlier one can only absorb what the latest one
 * could, so there is no recursion and no exponential backtracking.
 */
int limits_glob_match(const char *pattern, const char *text)
{
	const char *p = pattern, *t = text, *star = NULL, *resume = NULL;

	if (p == NULL || t == NULL)
		return 0;
	while (*t != '\0') {
		if (*p == '*') {
			star = p++;
			resume = t;
		} else if (*p != '\0' && (*p == '?' || *p == *t)) {
			p++;
			t++;
		} else if (star != NULL) {
			p = star + 1;
			t = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* Starts a refusal: clears *r and sets the key and the short message. */
static void refusal_begin(struct limits_refusal *r, const char *limit)
{
	memset(r, 0, sizeof(*r));
	r->limit = limit;
	r->index = -1;
	format_text(r->message, sizeof(r->message), "order exceeds %s", limit);
}

/* Fills a numeric refusal: requested and allowed formatted as counts
 * (dollars = 0) or dollars (dollars = 1). The caller writes details. */
static void refusal_numbers(struct limits_refusal *r, const char *limit, int dollars,
			    int64_t requested, int64_t allowed)
{
	refusal_begin(r, limit);
	if (dollars) {
		fixed_format_dollars(requested, r->requested, sizeof(r->requested));
		fixed_format_dollars(allowed, r->allowed, sizeof(r->allowed));
	} else {
		fixed_format_count(requested, r->requested, sizeof(r->requested));
		fixed_format_count(allowed, r->allowed, sizeof(r->allowed));
	}
}

/* Whether ticker matches any pattern of list; *which gets the pattern. */
static int list_match(const struct gw_strlist *list, const char *ticker, const char **which)
{
	size_t i;

	for (i = 0; list != NULL && i < list->count; i++) {
		if (list->items[i] != NULL && limits_glob_match(list->items[i], ticker)) {
			*which = list->items[i];
			return 1;
		}
	}
	return 0;
}

/* The ticker rules: deny_tickers first (a denied ticker is refused even
 * when tickers allows it), then tickers. Returns 0 or -1 with *r filled. */
static int check_tickers(const struct limits_eff *l, const char *ticker,
			 struct limits_refusal *r)
{
	char qt[LIMITS_QUOTE_MAX], qp[LIMITS_QUOTE_MAX];
	const char *which = NULL;
	size_t i;

	if (list_match(l->deny_tickers, ticker, &which)) {
		refusal_begin(r, "deny_tickers");
		quote(ticker, r->requested, sizeof(r->requested));
		r->allowed_null = 1;
		quote(ticker, qt, sizeof(qt));
		quote(which, qp, sizeof(qp));
		format_text(r->details, sizeof(r->details),
			    "ticker '%s' matches '%s' in deny_tickers", qt, qp);
		return -1;
	}
	if (l->tickers == NULL || l->tickers->count == 0)
		return 0;
	if (list_match(l->tickers, ticker, &which))
		return 0;
	refusal_begin(r, "tickers");
	quote(ticker, r->requested, sizeof(r->requested));
	for (i = 0; i < l->tickers->count; i++) {
		if (l->tickers->items[i] == NULL)
			continue;
		if ((r->allowed[0] != '\0' && append_ascii(r->allowed, sizeof(r->allowed), ", ")) ||
		    append_ascii(r->allowed, sizeof(r->allowed), l->tickers->items[i]))
			break;
	}
	quote(ticker, qt, sizeof(qt));
	format_text(r->details, sizeof(r->details), "ticker '%s' is not in tickers (%s)",
		    qt, r->allowed);
	return -1;
}

/* Per-order limits (see limits.h). Pure and thread-safe. */
int limits_check_order(const struct limits_eff *l, const struct norm_order *o,
		       struct limits_refusal *r)
{
	if (check_tickers(l, o->ticker, r) != 0)
		return -1;
	if (l->has_max_order_contracts && o->count > l->max_order_contracts) {
		refusal_numbers(r, "max_order_contracts", 0, o->count, l->max_order_contracts);
		format_text(r->details, sizeof(r->details),
			    "order for %s contracts is over max_order_contracts %s",
			    r->requested, r->allowed);
		return -1;
	}
	if (l->has_max_order_cost && o->cost > l->max_order_cost) {
		refusal_numbers(r, "max_order_cost", 1, o->cost, l->max_order_cost);
		format_text(r->details, sizeof(r->details),
			    "order costs %s dollars, over max_order_cost %s",
			    r->requested, r->allowed);
		return -1;
	}
	if (!o->has_price)
		return 0;
	if (l->has_min_price && o->yes_price < l->min_price) {
		refusal_numbers(r, "min_price", 1, o->yes_price, l->min_price);
		format_text(r->details, sizeof(r->details),
			    "yes price %s is under min_price %s", r->requested, r->allowed);
		return -1;
	}
	if (l->has_max_price && o->yes_price > l->max_price) {
		refusal_numbers(r, "max_price", 1, o->yes_price, l->max_price);
		format_text(r->details, sizeof(r->details),
			    "yes price %s is over max_price %s", r->requested, r->allowed);
		return -1;
	}
	return 0;
}

/*
 * The session caps for `requested` more contracts (see limits.h).
 * `subject` starts each sentence ("order for 30.00 contracts"). Returns 0
 * or -1 with *r filled.
 */
static int check_session(const struct limits_eff *l, const struct limits_session_view *v,
			 int64_t requested, const char *subject, struct limits_refusal *r)
{
	char total[LIMITS_NUM_MAX], cap[LIMITS_NUM_MAX], f[LIMITS_NUM_MAX], rest[LIMITS_NUM_MAX];
	int64_t req = nonneg(requested), sum, cur, limit;
	int has_filled_cap;

	if (l->has_session_contracts) {
		cur = nonneg(v->session_submitted);
		sum = add_sat(cur, req);
		limit = l->session_contracts;
		if (sum > limit) {
			refusal_numbers(r, "max_session_contracts", 0, req,
					limit > cur ? limit - cur : 0);
			fixed_format_count(sum, total, sizeof(total));
			fixed_format_count(limit, cap, sizeof(cap));
			format_text(r->details, sizeof(r->details),
				    "%s would bring the session to %s contracts submitted, over "
				    "max_session_contracts %s (%s left)",
				    subject, total, cap, r->allowed);
			return -1;
		}
	}
	if (l->has_client_session_contracts) {
		cur = nonneg(v->client_submitted);
		sum = add_sat(cur, req);
		limit = l->client_session_contracts;
		if (sum > limit) {
			refusal_numbers(r, "max_session_contracts", 0, req,
					limit > cur ? limit - cur : 0);
			fixed_format_count(sum, total, sizeof(total));
			fixed_format_count(limit, cap, sizeof(cap));
			format_text(r->details, sizeof(r->details),
				    "%s would bring this client's share of the session to %s "
				    "contracts submitted, over the client's max_session_contracts "
				    "%s (%s left)", subject, total, cap, r->allowed);
			return -1;
		}
	}
	has_filled_cap = v->has_filled_cap || l->has_max_session_filled_contracts;
	if (has_filled_cap) {
		limit = v->has_filled_cap ? v->filled_cap : l->max_session_filled_contracts;
		cur = add_sat(nonneg(v->filled), nonneg(v->resting));
		sum = add_sat(cur, req);
		if (sum > limit) {
			refusal_numbers(r, "max_session_filled_contracts", 0, req,
					limit > cur ? limit - cur : 0);
			fixed_format_count(nonneg(v->filled), f, sizeof(f));
			fixed_format_count(nonneg(v->resting), rest, sizeof(rest));
			fixed_format_count(sum, total, sizeof(total));
			fixed_format_count(limit, cap, sizeof(cap));
			format_text(r->details, sizeof(r->details),
				    "%s on top of %s filled and %s resting makes %s, over "
				    "max_session_filled_contracts %s (%s left)",
				    subject, f, rest, total, cap, r->allowed);
			return -1;
		}
	}
	return 0;
}

/* Session caps for one order's worth (see limits.h). Pure. */
int limits_check_session(const struct limits_eff *l, const struct limits_session_view *v,
			 int64_t requested, struct limits_refusal *r)
{
	char n[LIMITS_NUM_MAX], subject[64];

	fixed_format_count(nonneg(requested), n, sizeof(n));
	format_text(subject, sizeof(subject), "order for %s contracts", n);
	return check_session(l, v, requested, subject, r);
}

/* A create or a batch, all or nothing (see limits.h). Pure. */
int limits_check_orders(const struct limits_eff *l, const struct limits_session_view *v,
			const struct norm_order *orders, size_t n, int batch,
			int64_t *total, struct limits_refusal *r)
{
	char num[LIMITS_NUM_MAX], subject[96];
	int64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (limits_check_order(l, &orders[i], r) != 0)
			goto refused;
		sum = add_sat(sum, nonneg(orders[i].count));
		if (v == NULL)
			continue;
		fixed_format_count(sum, num, sizeof(num));
		if (batch && i > 0)
			format_text(subject, sizeof(subject),
				    "batch orders 0..%zu for %s contracts", i, num);
		else
			format_text(subject, sizeof(subject), "order for %s contracts", num);
		if (check_session(l, v, sum, subject, r) != 0)
			goto refused;
	}
	if (total != NULL)
		*total = sum;
	return 0;
refused:
	r->index = batch ? (long)i : -1;
	return -1;
}

/* Takes n orders from the bucket (see limits.h). Not thread-safe for the
 * same bucket; pure otherwise. */
int limits_rate_take(struct limits_rate *b, int64_t now_ms, int64_t per_s, int64_t n,
		     int64_t *retry_after_ms)
{
	int64_t cap, need, deficit, elapsed;

	if (per_s <= 0 || n <= 0)
		return 0;
	if (per_s > LIMITS_RATE_MAX)
		per_s = LIMITS_RATE_MAX;
	if (n > LIMITS_RATE_MAX)
		n = LIMITS_RATE_MAX;
	cap = per_s * 1000;
	if (!b->started) {
		b->started = 1;
		b->milli = cap;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		/* per_s tokens a second = per_s milli-tokens a millisecond;
		 * the span is computed unsigned, since it may not fit int64. */
		uint64_t span = (uint64_t)now_ms - (uint64_t)b->last_ms;

		elapsed = span > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)span;
		deficit = cap - b->milli;
		if (deficit > 0) {
			if (elapsed >= (deficit + per_s - 1) / per_s)
				b->milli = cap;
			else
				b->milli += elapsed * per_s;
		}
		b->last_ms = now_ms;
	}
	/* per_s may have been lowered by a reload. */
	if (b->milli > cap)
		b->milli = cap;
	need = (n < per_s ? n : per_s) * 1000;
	if (b->milli < need) {
		if (retry_after_ms != NULL)
			*retry_after_ms = (need - b->milli + per_s - 1) / per_s;
		return -1;
	}
	b->milli -= n * 1000;
	return 0;
}

/* Builds the refusal's JSON members (see limits.h). Pure. */
json_t *limits_refusal_json(const struct limits_refusal *r)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "details", json_string(r->details)) != 0 ||
	    json_object_set_new(o, "limit", json_string(r->limit != NULL ? r->limit : "")) != 0 ||
	    json_object_set_new(o, "requested", json_string(r->requested)) != 0 ||
	    json_object_set_new(o, "allowed",
				r->allowed_null ? json_null() : json_string(r->allowed)) != 0 ||
	    (r->index >= 0 &&
	     json_object_set_new(o, "index", json_integer((json_int_t)r->index)) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}
