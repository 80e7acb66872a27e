/*
 * libFuzzer target for policy/normalize and policy/limits. The first byte
 * picks the form (bits 0-1: V2 create, legacy create, V2 amend, legacy
 * amend; bit 2: go through normalize_body / normalize_amend_body instead
 * of a parsed object; bit 3: batch form for normalize_body), the rest is
 * the body, parsed with duplicate keys refused.
 *
 * Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     policy/normalize.c policy/limits.c policy/fixed.c tests/fuzz/fuzz_normalize.c \
 *     -ljansson -o /tmp/fuzz_normalize
 *   /tmp/fuzz_normalize -max_total_time=30 tests/fuzz/corpus/normalize
 *
 * Invariants besides memory safety: an accepted create has a non-empty
 * ticker shorter than NORM_TICKER_MAX, 0 < count <= FIXED_COUNT_MAX,
 * 0 < yes_price < 10000 and a cost that is exactly count x price (bid) or
 * count x (1 - price) (ask), rounded up, checked here in 128-bit
 * arithmetic; a refusal leaves the output untouched and has a printable
 * message. limits_check_order agrees with a direct reading of the limits,
 * and its refusal converts to JSON. Every ticker matches itself as a glob.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy/fixed.h"
#include "policy/limits.h"
#include "policy/normalize.h"
#include "tests/fuzz/fuzz_check.h"


static char p_allow1[] = "KX*", p_allow2[] = "T?", p_allow3[] = "*-24*";
static char p_deny1[] = "KXBAD*", p_deny2[] = "*?X";
static char *allow_items[] = { p_allow1, p_allow2, p_allow3 };
static char *deny_items[] = { p_deny1, p_deny2 };

/* Fixed limits every input is checked against. */
static void fuzz_limits(struct limits_eff *l)
{
	static const struct gw_strlist allow = { allow_items, 3 };
	static const struct gw_strlist deny = { deny_items, 2 };

	memset(l, 0, sizeof(*l));
	l->has_max_order_contracts = 1;
	l->max_order_contracts = 10000;
	l->has_max_order_cost = 1;
	l->max_order_cost = 250000;
	l->has_min_price = 1;
	l->min_price = 500;
	l->has_max_price = 1;
	l->max_price = 9500;
	l->tickers = &allow;
	l->deny_tickers = &deny;
	l->has_session_contracts = 1;
	l->session_contracts = 50000;
	l->has_max_session_filled_contracts = 1;
	l->max_session_filled_contracts = 40000;
}

/* Checks that msg is non-empty printable ASCII within cap bytes. */
static void check_message(const char *msg, size_t cap)
{
	size_t i;

	CHECK(memchr(msg, '\0', cap) != NULL);
	CHECK(msg[0] != '\0');
	for (i = 0; msg[i] != '\0'; i++)
		CHECK((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7f);
}

/* Whether ticker matches any pattern of list. */
static int any_match(const struct gw_strlist *list, const char *ticker)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		if (limits_glob_match(list->items[i], ticker))
			return 1;
	return 0;
}

/* Checks one normalised order (create = 1: the create invariants) and
 * runs it through the limits. */
static void check_order(const struct norm_order *o, int create)
{
	struct limits_eff l;
	struct limits_refusal r;
	size_t tlen = strnlen(o->ticker, sizeof(o->ticker));
	int refused, should;

	CHECK(tlen < sizeof(o->ticker));
	CHECK(o->side_bid == 0 || o->side_bid == 1);
	CHECK(o->count >= 0 && o->count <= FIXED_COUNT_MAX);
	CHECK(o->cost >= 0 && o->cost <= o->count * 100);
	if (create) {
		CHECK(tlen > 0);
		CHECK(o->count > 0);
		CHECK(o->has_price == 1);
	}
	if (o->has_price) {
		__int128 per = o->side_bid ? o->yes_price : 10000 - o->yes_price;
		__int128 exact = (__int128)o->count * per;

		CHECK(o->yes_price > 0 && o->yes_price < 10000);
		/* cost = ceil(count x per / 100) */
		CHECK((__int128)o->cost * 100 >= exact);
		CHECK(((__int128)o->cost - 1) * 100 < exact || o->cost == 0);
	} else {
		CHECK(o->yes_price == 0);
		CHECK(o->cost == o->count * 100);
	}
	CHECK(limits_glob_match(o->ticker, o->ticker) == 1);

	fuzz_limits(&l);
	should = any_match(l.deny_tickers, o->ticker) || !any_match(l.tickers, o->ticker) ||
		 o->count > l.max_order_contracts || o->cost > l.max_order_cost ||
		 (o->has_price && (o->yes_price < l.min_price || o->yes_price > l.max_price));
	memset(&r, 0, sizeof(r));
	refused = limits_check_order(&l, o, &r) != 0;
	CHECK(refused == should);
	if (refused) {
		json_t *j;

		CHECK(r.limit != NULL);
		check_message(r.details, sizeof(r.details));
		check_message(r.message, sizeof(r.message));
		CHECK(memchr(r.requested, '\0', sizeof(r.requested)) != NULL);
		CHECK(memchr(r.allowed, '\0', sizeof(r.allowed)) != NULL);
		CHECK(r.index == -1);
		j = limits_refusal_json(&r);
		CHECK(j != NULL);
		json_decref(j);
	} else {
		struct limits_session_view v;
		struct limits_refusal rs;

		memset(&v, 0, sizeof(v));
		v.session_submitted = 45000;
		v.filled = 30000;
		refused = limits_check_session(&l, &v, o->count, &rs) != 0;
		CHECK(refused == (o->count > 5000));
		if (refused)
			check_message(rs.details, sizeof(rs.details));
	}
}

/* An amend read: its own invariants, then what it adds, for a previous
 * total taken from the input. */
static void check_amend(const struct norm_amend *a, int64_t prev)
{
	struct norm_order o;

	CHECK(strnlen(a->ticker, sizeof(a->ticker)) > 0);
	CHECK(strnlen(a->ticker, sizeof(a->ticker)) < sizeof(a->ticker));
	CHECK(!a->has_count || (a->count > 0 && a->count <= FIXED_COUNT_MAX));
	CHECK(!a->has_price || (a->yes_price > 0 && a->yes_price < 10000));
	normalize_amend_added(a, prev, &o);
	CHECK(o.count <= (a->has_count ? a->count : 0));
	check_order(&o, 0);
}

/* One input: decode the form byte, normalise, check the invariants. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct norm_order o, sentinel;
	struct norm_amend a, asent;
	char err[256];
	const char *body;
	size_t len;
	int mode, via_body, batch, r;
	int64_t prev;

	if (size == 0)
		return 0;
	mode = data[0] & 3;
	via_body = (data[0] >> 2) & 1;
	batch = (data[0] >> 3) & 1;
	/* the previous total of an amended order: unknown, or from a top bit */
	prev = (data[0] & 0x80) ? -1 : (int64_t)(data[0] & 0x70) * 10;
	body = (const char *)data + 1;
	len = size - 1;

	if (via_body) {
		struct norm_order *orders = NULL;
		size_t n = 0, i;
		long index = 7;

		if (mode < 2) {
			r = normalize_body(body, len, batch, mode == 1, &orders, &n, &index,
					   err, sizeof(err));
			if (r == 0) {
				CHECK(index == -1 && n >= 1 && n <= 1000 && (batch || n == 1));
				for (i = 0; i < n; i++)
					check_order(&orders[i], 1);
				free(orders);
			} else {
				CHECK(r == -1 && orders == NULL && n == 0);
				CHECK(index >= -1 && index < 1000 && (batch || index == -1));
				check_message(err, sizeof(err));
			}
		} else {
			memset(&a, 0x3C, sizeof(a));
			memcpy(&asent, &a, sizeof(a));
			r = normalize_amend_body(body, len, mode == 3, &a, err, sizeof(err));
			if (r == 0) {
				check_amend(&a, prev);
			} else {
				CHECK(memcmp(&a, &asent, sizeof(a)) == 0);
				check_message(err, sizeof(err));
			}
		}
		return 0;
	}

	{
		json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);

		if (root == NULL)
			return 0;
		memset(&o, 0x5A, sizeof(o));
		memcpy(&sentinel, &o, sizeof(o));
		memset(&a, 0x3C, sizeof(a));
		memcpy(&asent, &a, sizeof(a));
		err[0] = '\0';
		switch (mode) {
		case 0:
		case 1:
			r = mode == 0 ? normalize_v2(root, &o, err, sizeof(err))
				      : normalize_legacy(root, &o, err, sizeof(err));
			if (r == 0) {
				CHECK(err[0] == '\0');
				check_order(&o, 1);
			} else {
				CHECK(r == -1);
				CHECK(memcmp(&o, &sentinel, sizeof(o)) == 0);
				check_message(err, sizeof(err));
			}
			break;
		default:
			r = mode == 2 ? normalize_amend_v2(root, &a, err, sizeof(err))
				      : normalize_amend_legacy(root, &a, err, sizeof(err));
			if (r == 0) {
				check_amend(&a, prev);
			} else {
				CHECK(r == -1);
				CHECK(memcmp(&a, &asent, sizeof(a)) == 0);
				check_message(err, sizeof(err));
			}
			break;
		}
		json_decref(root);
	}
	return 0;
}
