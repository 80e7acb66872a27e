/*
 * libFuzzer target for policy/legacy. The first byte picks the translator
 * (value % 12), the rest is a JSON body (or, for mode 6, a raw path):
 *   0 create      1 batch create   2 amend          3 amend with a current order
 *   4 decrease    5 batch cancel   6 path mapping   7 create reply
 *   8 batch create reply  9 cancel reply  10 amend reply  11 decrease reply
 *
 * Build and run (or: sh tests/fuzz/run.sh legacy):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     policy/legacy.c policy/fixed.c tests/fuzz/fuzz_legacy.c -ljansson -o /tmp/fuzz_legacy
 *   cp -R tests/fuzz/corpus/legacy /tmp/legacy-corpus
 *   /tmp/fuzz_legacy -max_total_time=30 /tmp/legacy-corpus
 *
 * Besides memory safety it checks what the gateway relies on: an accepted
 * request yields V2 orders whose side is bid|ask, whose count parses as a
 * count above 0 and whose price parses as dollars strictly between 0 and 1,
 * with a valid time_in_force and self-trade prevention type and no legacy
 * field left; translation is deterministic; a created order described back
 * by legacy_create_reply has the price and count that were sent. A refusal
 * is 400 invalid_order with a printable message and leaves *out alone. A
 * reply translation either succeeds with the legacy shape or fails 400/502
 * (502 always with outcome_unknown).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy/fixed.h"
#include "policy/legacy.h"
#include "tests/fuzz/fuzz_check.h"


static const char *const legacy_only[] = {
	"action", "count_fp", "yes_price", "no_price", "yes_price_dollars", "no_price_dollars",
	"expiration_ts", "buy_max_cost", "sell_position_floor", "type", NULL
};

static int str_is(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* A fixed-point count string value above (or, with zero_ok, at) 0. */
static int64_t check_count(const json_t *v, int zero_ok)
{
	int64_t c = -1;

	CHECK(json_is_string(v));
	CHECK(fixed_parse_count(json_string_value(v), json_string_length(v), &c) == 0);
	CHECK(zero_ok ? c >= 0 : c > 0);
	return c;
}

/* A dollar string value strictly between 0 and 1. */
static int64_t check_price(const json_t *v)
{
	int64_t p = -1;

	CHECK(json_is_string(v));
	CHECK(fixed_parse_dollars(json_string_value(v), json_string_length(v), &p) == 0);
	CHECK(p > 0 && p < 10000);
	return p;
}

static void check_side(const json_t *o)
{
	json_t *side = json_object_get(o, "side");

	CHECK(str_is(side, "bid") || str_is(side, "ask"));
}

/* One V2 create as legacy_create_to_v2 must produce it. */
static void check_v2_create(const json_t *o)
{
	json_t *tif = json_object_get(o, "time_in_force");
	json_t *stp = json_object_get(o, "self_trade_prevention_type");
	size_t i;

	CHECK(json_is_object(o));
	CHECK(json_is_string(json_object_get(o, "ticker")));
	check_side(o);
	check_count(json_object_get(o, "count"), 0);
	check_price(json_object_get(o, "price"));
	CHECK(str_is(tif, "fill_or_kill") || str_is(tif, "good_till_canceled") ||
	      str_is(tif, "immediate_or_cancel"));
	CHECK(str_is(stp, "taker_at_cross") || str_is(stp, "maker"));
	for (i = 0; legacy_only[i] != NULL; i++)
		CHECK(json_object_get(o, legacy_only[i]) == NULL);
}

static void check_message(const struct legacy_err *err)
{
	size_t i;

	CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	CHECK(err->message[0] != '\0');
	for (i = 0; err->message[i] != '\0'; i++)
		CHECK((unsigned char)err->message[i] >= 0x20 &&
		      (unsigned char)err->message[i] < 0x7f);
}

static void check_refusal(const struct legacy_err *err, const json_t *out, long max_index)
{
	CHECK(out == NULL);
	CHECK(err->status == 400);
	CHECK(strcmp(err->code, "invalid_order") == 0);
	CHECK(err->index >= -1 && err->index < max_index);
	check_message(err);
}

/* Feeds a synthetic V2 answer for a translated create back through
 * legacy_create_reply and checks the Order describes what was sent. */
static void check_describe_back(const json_t *legacy, const json_t *sent)
{
	struct legacy_err err;
	json_t *reply, *out = NULL, *o;
	unsigned flags = 0;

	reply = json_pack("{s:s, s:s, s:s, s:I}", "order_id", "o-fuzz", "fill_count", "0.00",
			  "remaining_count", json_string_value(json_object_get(sent, "count")),
			  "ts_ms", (json_int_t)1715793660456);
	if (reply == NULL)
		return;
	CHECK(legacy_create_reply(reply, legacy, sent, NULL, &out, &flags, &err) == 0);
	o = json_object_get(out, "order");
	CHECK(json_is_object(o));
	CHECK(flags == LEGACY_PARTIAL);   /* user_id is never known without a GET */
	CHECK(json_equal(json_object_get(o, "yes_price_dollars"), json_object_get(sent, "price")));
	CHECK(check_price(json_object_get(o, "yes_price_dollars")) +
	      check_price(json_object_get(o, "no_price_dollars")) == 10000);
	CHECK(str_is(json_object_get(o, "status"), "resting"));
	CHECK(json_equal(json_object_get(o, "book_side"), json_object_get(sent, "side")));
	json_decref(out);
	json_decref(reply);
}

static void fuzz_create(const json_t *in, int batch, const char *stp)
{
	struct legacy_err err;
	json_t *out = NULL, *again = NULL, *arr, *o;
	int64_t bmc = -7, bmc2 = -7;
	size_t i;
	int rc, rc2;

	memset(&err, 0, sizeof(err));
	if (!batch) {
		rc = legacy_create_to_v2(in, stp, &out, &bmc, &err);
		rc2 = legacy_create_to_v2(in, stp, &again, &bmc2, &err);
	} else {
		rc = legacy_batch_create_to_v2(in, stp, &out, &err);
		rc2 = legacy_batch_create_to_v2(in, stp, &again, &err);
	}
	CHECK(rc == rc2);
	if (rc != 0) {
		check_refusal(&err, out, batch ? (long)json_array_size(json_object_get(in, "orders"))
				  : 0);
		CHECK(bmc == -7);
		return;
	}
	CHECK(json_equal(out, again) && bmc == bmc2);
	if (!batch) {
		check_v2_create(out);
		CHECK(bmc == -1 || bmc > 0);
		if (bmc > 0)
			CHECK(str_is(json_object_get(out, "time_in_force"), "fill_or_kill"));
		check_describe_back(in, out);
	} else {
		arr = json_object_get(out, "orders");
		CHECK(json_is_array(arr) && json_array_size(arr) > 0);
		CHECK(json_array_size(arr) == json_array_size(json_object_get(in, "orders")));
		json_array_foreach(arr, i, o)
			check_v2_create(o);
	}
	json_decref(out);
	json_decref(again);
}

static void fuzz_amend(const json_t *in, int with_current)
{
	static const char current_text[] = "{\"order\":{\"order_id\":\"o1\",\"yes_price_dollars\":"
		"\"0.4200\",\"fill_count_fp\":\"2.00\",\"remaining_count_fp\":\"3.50\"}}";
	struct legacy_err err;
	json_t *cur = with_current ? json_loads(current_text, 0, NULL) : NULL, *out = NULL;
	int sub = -7;

	memset(&err, 0, sizeof(err));
	if (legacy_amend_to_v2(in, cur, &out, &sub, &err) != 0) {
		check_refusal(&err, out, 0);
		CHECK(sub == -7);
	} else {
		CHECK(json_is_object(out));
		check_side(out);
		check_count(json_object_get(out, "count"), 0);
		check_price(json_object_get(out, "price"));
		CHECK(sub >= -1);
		json_decref(out);
	}
	json_decref(cur);
}

static void fuzz_decrease(const json_t *in)
{
	struct legacy_err err;
	json_t *out = NULL, *by, *to;
	int sub = -7;

	memset(&err, 0, sizeof(err));
	if (legacy_decrease_to_v2(in, &out, &sub, &err) != 0) {
		check_refusal(&err, out, 0);
		return;
	}
	by = json_object_get(out, "reduce_by");
	to = json_object_get(out, "reduce_to");
	CHECK((by == NULL) != (to == NULL));
	if (by != NULL)
		check_count(by, 0);
	else
		check_count(to, 1);
	json_decref(out);
}

static void fuzz_batch_cancel(const json_t *in)
{
	struct legacy_err err;
	json_t *out = NULL, *arr, *o, *id;
	size_t i, n = json_array_size(json_object_get(in, "ids")) +
		      json_array_size(json_object_get(in, "orders"));

	memset(&err, 0, sizeof(err));
	if (legacy_batch_cancel_to_v2(in, &out, &err) != 0) {
		check_refusal(&err, out, (long)n);
		return;
	}
	arr = json_object_get(out, "orders");
	CHECK(json_is_array(arr) && json_array_size(arr) > 0 && json_array_size(arr) == n);
	json_array_foreach(arr, i, o) {
		id = json_object_get(o, "order_id");
		CHECK(json_is_string(id) && json_string_length(id) > 0);
	}
	json_decref(out);
}

static void fuzz_path(const char *p, size_t len)
{
	char out[256], msg[128];

	if (legacy_v2_path(p, len, out, sizeof(out)) == 0) {
		CHECK(strstr(out, "/portfolio/events/orders") != NULL);
		CHECK(strlen(out) == len + strlen("/events"));
	}
	legacy_reject_message("POST", p, len, msg, sizeof(msg));
	CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
}

/* Checks one reply translation's outcome: a success holds `member` (an
 * array when is_array, else an object); a failure is 400 or 502. */
static void check_reply(int rc, json_t *out, unsigned flags, const struct legacy_err *err,
			const char *member, int is_array)
{
	if (rc == 0) {
		CHECK(json_is_object(out));
		CHECK((flags & ~(LEGACY_PARTIAL | LEGACY_OUTCOME_UNKNOWN)) == 0);
		if (member != NULL)
			CHECK(is_array ? json_is_array(json_object_get(out, member)) :
			      json_is_object(json_object_get(out, member)));
		json_decref(out);
	} else {
		CHECK(out == NULL && flags == 99);
		CHECK(err->status == 400 || err->status == 502);
		CHECK(err->outcome_unknown == (err->status == 502));
		check_message(err);
	}
}

/* The reply translators over a fuzzed V2 answer, with fixed requests; the
 * fuzzed answer also stands in for the GET answers. */
static void fuzz_reply(const json_t *reply, int which)
{
	static const char legacy_text[] = "{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"buy\","
		"\"count\":2,\"no_price\":40}";
	static const char sent_text[] = "{\"ticker\":\"T\",\"client_order_id\":\"c\","
		"\"side\":\"ask\",\"count\":\"2.00\",\"price\":\"0.6000\",\"subaccount\":0}";
	struct legacy_err err;
	json_t *legacy = json_loads(legacy_text, 0, NULL), *sent = json_loads(sent_text, 0, NULL);
	json_t *lb = json_pack("{s:[O]}", "orders", legacy), *sb = json_pack("{s:[O]}", "orders", sent);
	json_t *out;
	unsigned flags;
	int rc;

#define RUN(call, member, is_array) do { \
		out = NULL; \
		flags = 99; \
		memset(&err, 0, sizeof(err)); \
		rc = (call); \
		check_reply(rc, out, flags, &err, member, is_array); \
	} while (0)

	switch (which) {
	case 7:
		RUN(legacy_create_reply(reply, legacy, sent, reply, &out, &flags, &err), "order", 0);
		break;
	case 8:
		RUN(legacy_batch_create_reply(reply, lb, sb, reply, &out, &flags, &err), "orders", 1);
		break;
	case 9:
		RUN(legacy_cancel_reply(reply, reply, &out, &flags, &err), "order", 0);
		RUN(legacy_batch_cancel_reply(reply, sb, reply, &out, &flags, &err), "orders", 1);
		break;
	case 10:
		RUN(legacy_amend_reply(reply, legacy, sent, reply, NULL, &out, &flags, &err), "order", 0);
		RUN(legacy_amend_reply(reply, legacy, sent, NULL, reply, &out, &flags, &err), "order", 0);
		break;
	default:
		RUN(legacy_decrease_reply(reply, reply, &out, &flags, &err), "order", 0);
		break;
	}
#undef RUN
	json_decref(lb);
	json_decref(sb);
	json_decref(legacy);
	json_decref(sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const stps[] = { NULL, "taker_at_cross", "maker" };
	json_t *in;
	int mode;

	if (size == 0)
		return 0;
	mode = data[0] % 12;
	if (mode == 6) {
		fuzz_path((const char *)data + 1, size - 1);
		return 0;
	}
	in = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			NULL);
	if (in == NULL)
		return 0;
	switch (mode) {
	case 0:
		fuzz_create(in, 0, stps[(data[0] / 12) % 3]);
		break;
	case 1:
		fuzz_create(in, 1, stps[(data[0] / 12) % 3]);
		break;
	case 2:
	case 3:
		fuzz_amend(in, mode == 3);
		break;
	case 4:
		fuzz_decrease(in);
		break;
	case 5:
		fuzz_batch_cancel(in);
		break;
	default:
		fuzz_reply(in, mode);
		break;
	}
	json_decref(in);
	return 0;
}
