/*
 * Unit tests for policy/legacy: legacy -> V2 request translation and V2 ->
 * legacy reply translation, table by table. Expected bodies are compared as
 * JSON values (json_equal), so key order does not matter but every key and
 * value does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "policy/fixed.h"
#include "policy/legacy.h"

/* Parses test JSON text; fails the test on a typo in the table. */
static json_t *js(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);

	if (j == NULL)
		fail_msg("bad test JSON (%s): %s", e.text, text);
	return j;
}

/* Asserts that `got` equals the JSON text `want`, printing both if not. */
static void assert_json(const char *name, const json_t *got, const char *want)
{
	json_t *w = js(want);
	char *g;

	if (!json_equal(got, w)) {
		g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
		print_error("%s:\n  got  %s\n  want %s\n", name, g != NULL ? g : "(null)", want);
		free(g);
		json_decref(w);
		fail();
	}
	json_decref(w);
}

/* Asserts a request-translation refusal: 400 invalid_order, a printable
 * lower-case message holding `msg`, the batch index. */
static void assert_refused(const char *name, const struct legacy_err *err, const char *msg,
			   long index)
{
	size_t i;

	if (err->status != 400 || strcmp(err->code, "invalid_order") != 0 ||
	    strstr(err->message, msg) == NULL || err->index != index) {
		print_error("%s: got %d %s index %ld '%s', want 400 invalid_order index %ld '%s'\n",
			    name, err->status, err->code, err->index, err->message, index, msg);
		fail();
	}
	for (i = 0; err->message[i] != '\0'; i++)
		assert_true(err->message[i] >= 0x20 && err->message[i] < 0x7f);
	assert_false(err->message[0] >= 'A' && err->message[0] <= 'Z');
}

/* ---- create: every direction x price form x extreme price ------------ */

struct dir_case {
	const char *side, *action;   /* legacy */
	const char *price_field;     /* legacy price field */
	const char *price_json;      /* its value as JSON */
	const char *want_side;       /* V2 */
	const char *want_price;      /* V2 YES price */
};

static const struct dir_case dir_cases[] = {
	/* buy yes -> bid at p */
	{ "yes", "buy", "yes_price", "1", "bid", "0.0100" },
	{ "yes", "buy", "yes_price", "99", "bid", "0.9900" },
	{ "yes", "buy", "no_price", "1", "bid", "0.9900" },
	{ "yes", "buy", "no_price", "99", "bid", "0.0100" },
	{ "yes", "buy", "yes_price_dollars", "\"0.01\"", "bid", "0.0100" },
	{ "yes", "buy", "yes_price_dollars", "\"0.99\"", "bid", "0.9900" },
	{ "yes", "buy", "no_price_dollars", "\"0.01\"", "bid", "0.9900" },
	{ "yes", "buy", "no_price_dollars", "\"0.99\"", "bid", "0.0100" },
	/* sell yes -> ask at p */
	{ "yes", "sell", "yes_price", "1", "ask", "0.0100" },
	{ "yes", "sell", "yes_price", "99", "ask", "0.9900" },
	{ "yes", "sell", "no_price", "1", "ask", "0.9900" },
	{ "yes", "sell", "no_price", "99", "ask", "0.0100" },
	{ "yes", "sell", "yes_price_dollars", "\"0.01\"", "ask", "0.0100" },
	{ "yes", "sell", "yes_price_dollars", "\"0.99\"", "ask", "0.9900" },
	{ "yes", "sell", "no_price_dollars", "\"0.01\"", "ask", "0.9900" },
	{ "yes", "sell", "no_price_dollars", "\"0.99\"", "ask", "0.0100" },
	/* buy no -> ask at 1 - p(no) */
	{ "no", "buy", "yes_price", "1", "ask", "0.0100" },
	{ "no", "buy", "yes_price", "99", "ask", "0.9900" },
	{ "no", "buy", "no_price", "1", "ask", "0.9900" },
	{ "no", "buy", "no_price", "99", "ask", "0.0100" },
	{ "no", "buy", "yes_price_dollars", "\"0.01\"", "ask", "0.0100" },
	{ "no", "buy", "yes_price_dollars", "\"0.99\"", "ask", "0.9900" },
	{ "no", "buy", "no_price_dollars", "\"0.01\"", "ask", "0.9900" },
	{ "no", "buy", "no_price_dollars", "\"0.99\"", "ask", "0.0100" },
	/* sell no -> bid at 1 - p(no) */
	{ "no", "sell", "yes_price", "1", "bid", "0.0100" },
	{ "no", "sell", "yes_price", "99", "bid", "0.9900" },
	{ "no", "sell", "no_price", "1", "bid", "0.9900" },
	{ "no", "sell", "no_price", "99", "bid", "0.0100" },
	{ "no", "sell", "yes_price_dollars", "\"0.01\"", "bid", "0.0100" },
	{ "no", "sell", "yes_price_dollars", "\"0.99\"", "bid", "0.9900" },
	{ "no", "sell", "no_price_dollars", "\"0.01\"", "bid", "0.9900" },
	{ "no", "sell", "no_price_dollars", "\"0.99\"", "bid", "0.0100" },
};

static void test_create_directions(void **state)
{
	char in[512], want[512], name[128];
	struct legacy_err err;
	json_t *order, *out;
	int64_t bmc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
		const struct dir_case *c = &dir_cases[i];

		snprintf(in, sizeof(in), "{\"ticker\":\"KXT-1\",\"side\":\"%s\",\"action\":\"%s\","
			 "\"count\":3,\"%s\":%s}", c->side, c->action, c->price_field,
			 c->price_json);
		snprintf(want, sizeof(want), "{\"ticker\":\"KXT-1\",\"side\":\"%s\",\"count\":"
			 "\"3.00\",\"price\":\"%s\",\"time_in_force\":\"good_till_canceled\","
			 "\"self_trade_prevention_type\":\"taker_at_cross\"}", c->want_side,
			 c->want_price);
		snprintf(name, sizeof(name), "%s %s %s=%s", c->action, c->side, c->price_field,
			 c->price_json);
		order = js(in);
		out = NULL;
		bmc = 42;
		if (legacy_create_to_v2(order, NULL, &out, &bmc, &err) != 0)
			fail_msg("%s: refused: %s", name, err.message);
		assert_json(name, out, want);
		assert_int_equal(bmc, -1);
		json_decref(out);
		json_decref(order);
	}
}

/* ---- create: the other fields ---------------------------------------- */

struct create_case {
	const char *name;
	const char *stp_default;
	const char *in;
	const char *want;       /* V2 body, or NULL when refused */
	int64_t bmc;            /* expected *buy_max_cost when accepted */
	const char *msg;        /* message substring when refused */
};

#define BASE "\"ticker\":\"KXT-1\",\"side\":\"yes\",\"action\":\"buy\""
#define V2BASE "\"ticker\":\"KXT-1\",\"side\":\"bid\""
#define GTC_TAC "\"time_in_force\":\"good_till_canceled\",\"self_trade_prevention_type\":\"taker_at_cross\""

static const struct create_case create_cases[] = {
	/* counts */
	{ "fractional count_fp", NULL, "{" BASE ",\"count_fp\":\"2.5\",\"yes_price\":40}",
	  "{" V2BASE ",\"count\":\"2.50\",\"price\":\"0.4000\"," GTC_TAC "}", -1, NULL },
	{ "count_fp hundredth", NULL, "{" BASE ",\"count_fp\":\"0.01\",\"yes_price\":40}",
	  "{" V2BASE ",\"count\":\"0.01\",\"price\":\"0.4000\"," GTC_TAC "}", -1, NULL },
	{ "count and count_fp agree", NULL,
	  "{" BASE ",\"count\":10,\"count_fp\":\"10.00\",\"yes_price\":40}",
	  "{" V2BASE ",\"count\":\"10.00\",\"price\":\"0.4000\"," GTC_TAC "}", -1, NULL },
	{ "count and count_fp disagree", NULL,
	  "{" BASE ",\"count\":10,\"count_fp\":\"10.50\",\"yes_price\":40}", NULL, 0,
	  "'count' 10 and 'count_fp' \"10.50\" disagree" },
	{ "count missing", NULL, "{" BASE ",\"yes_price\":40}", NULL, 0, "the count is required" },
	{ "count zero", NULL, "{" BASE ",\"count\":0,\"yes_price\":40}", NULL, 0,
	  "'count' must be a whole number of contracts" },
	{ "count negative", NULL, "{" BASE ",\"count\":-3,\"yes_price\":40}", NULL, 0,
	  "'count' must be a whole number" },
	{ "count string", NULL, "{" BASE ",\"count\":\"3\",\"yes_price\":40}", NULL, 0,
	  "'count' must be a whole number" },
	{ "count real", NULL, "{" BASE ",\"count\":3.0,\"yes_price\":40}", NULL, 0,
	  "'count' must be a whole number" },
	{ "count_fp 3 decimals", NULL, "{" BASE ",\"count_fp\":\"1.005\",\"yes_price\":40}", NULL,
	  0, "'count_fp' must be a string count above 0" },
	{ "count_fp zero", NULL, "{" BASE ",\"count_fp\":\"0.00\",\"yes_price\":40}", NULL, 0,
	  "'count_fp' must be a string count above 0" },
	{ "count_fp number", NULL, "{" BASE ",\"count_fp\":3,\"yes_price\":40}", NULL, 0,
	  "'count_fp' must be a string" },
	{ "count null is absent", NULL,
	  "{" BASE ",\"count\":null,\"count_fp\":\"4\",\"yes_price\":40}",
	  "{" V2BASE ",\"count\":\"4.00\",\"price\":\"0.4000\"," GTC_TAC "}", -1, NULL },
	/* prices */
	{ "no price", NULL, "{" BASE ",\"count\":1}", NULL, 0, "the price is required" },
	{ "two prices", NULL, "{" BASE ",\"count\":1,\"yes_price\":40,\"no_price\":60}", NULL, 0,
	  "give exactly one of yes_price, no_price, yes_price_dollars, no_price_dollars "
	  "(got 'yes_price' and 'no_price')" },
	{ "cents and dollars of one side", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":40,\"yes_price_dollars\":\"0.40\"}", NULL, 0,
	  "give exactly one of" },
	{ "all four prices", NULL, "{" BASE ",\"count\":1,\"yes_price\":40,\"no_price\":60,"
	  "\"yes_price_dollars\":\"0.40\",\"no_price_dollars\":\"0.60\"}", NULL, 0,
	  "give exactly one of" },
	{ "price null is absent", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":null,\"no_price\":60}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.4000\"," GTC_TAC "}", -1, NULL },
	{ "cents 0", NULL, "{" BASE ",\"count\":1,\"yes_price\":0}", NULL, 0,
	  "'yes_price' must be an integer number of cents from 1 to 99" },
	{ "cents 100", NULL, "{" BASE ",\"count\":1,\"no_price\":100}", NULL, 0,
	  "'no_price' must be an integer number of cents from 1 to 99" },
	{ "cents as string", NULL, "{" BASE ",\"count\":1,\"yes_price\":\"40\"}", NULL, 0,
	  "'yes_price' must be an integer number of cents" },
	{ "cents as real", NULL, "{" BASE ",\"count\":1,\"yes_price\":40.0}", NULL, 0,
	  "'yes_price' must be an integer number of cents" },
	{ "dollars 1", NULL, "{" BASE ",\"count\":1,\"yes_price_dollars\":\"1\"}", NULL, 0,
	  "'yes_price_dollars' must be a dollar string above 0 and below 1" },
	{ "dollars 0", NULL, "{" BASE ",\"count\":1,\"no_price_dollars\":\"0.0000\"}", NULL, 0,
	  "'no_price_dollars' must be a dollar string above 0 and below 1" },
	{ "dollars 5 decimals", NULL, "{" BASE ",\"count\":1,\"yes_price_dollars\":\"0.12345\"}",
	  NULL, 0, "with at most 4 decimals" },
	{ "dollars as number", NULL, "{" BASE ",\"count\":1,\"yes_price_dollars\":0.5}", NULL, 0,
	  "'yes_price_dollars' must be a dollar string" },
	{ "dollars subpenny", NULL, "{" BASE ",\"count\":1,\"no_price_dollars\":\"0.1234\"}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.8766\"," GTC_TAC "}", -1, NULL },
	/* direction and required fields */
	{ "side bid", NULL, "{\"ticker\":\"T\",\"side\":\"bid\",\"action\":\"buy\",\"count\":1,"
	  "\"yes_price\":5}", NULL, 0, "'side' 'bid' is a V2 value" },
	{ "side missing", NULL, "{\"ticker\":\"T\",\"action\":\"buy\",\"count\":1,\"yes_price\":5}",
	  NULL, 0, "'side' is required" },
	{ "side number", NULL, "{\"ticker\":\"T\",\"side\":1,\"action\":\"buy\",\"count\":1,"
	  "\"yes_price\":5}", NULL, 0, "'side' is required: 'yes' or 'no'" },
	{ "action wrong", NULL, "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"hold\",\"count\":1,"
	  "\"yes_price\":5}", NULL, 0, "'action' is required: 'buy' or 'sell'" },
	{ "ticker missing", NULL, "{\"side\":\"yes\",\"action\":\"buy\",\"count\":1,\"yes_price\":5}",
	  NULL, 0, "'ticker' is required" },
	{ "ticker empty", NULL, "{\"ticker\":\"\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	  "\"yes_price\":5}", NULL, 0, "'ticker' is required" },
	{ "not an object", NULL, "[1]", NULL, 0, "must be a JSON object" },
	/* time in force, buy_max_cost */
	{ "explicit ioc kept", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"time_in_force\":\"immediate_or_cancel\"}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.0500\",\"time_in_force\":"
	  "\"immediate_or_cancel\",\"self_trade_prevention_type\":\"taker_at_cross\"}", -1, NULL },
	{ "explicit fok kept", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"time_in_force\":\"fill_or_kill\"}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.0500\",\"time_in_force\":"
	  "\"fill_or_kill\",\"self_trade_prevention_type\":\"taker_at_cross\"}", -1, NULL },
	{ "explicit gtc kept", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"time_in_force\":\"good_till_canceled\"}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.0500\"," GTC_TAC "}", -1, NULL },
	{ "old tif spelling", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"time_in_force\":\"FOK\"}",
	  NULL, 0, "'time_in_force' must be 'fill_or_kill', 'good_till_canceled' or "
	  "'immediate_or_cancel'" },
	{ "buy_max_cost makes fok", NULL,
	  "{" BASE ",\"count\":10,\"yes_price\":56,\"buy_max_cost\":560}",
	  "{" V2BASE ",\"count\":\"10.00\",\"price\":\"0.5600\",\"time_in_force\":"
	  "\"fill_or_kill\",\"self_trade_prevention_type\":\"taker_at_cross\"}", 56000, NULL },
	{ "buy_max_cost with fok", NULL,
	  "{" BASE ",\"count\":10,\"yes_price\":56,\"buy_max_cost\":600,"
	  "\"time_in_force\":\"fill_or_kill\"}",
	  "{" V2BASE ",\"count\":\"10.00\",\"price\":\"0.5600\",\"time_in_force\":"
	  "\"fill_or_kill\",\"self_trade_prevention_type\":\"taker_at_cross\"}", 60000, NULL },
	{ "buy_max_cost buy no uses the no price", NULL,
	  "{\"ticker\":\"KXT-1\",\"side\":\"no\",\"action\":\"buy\",\"count\":10,"
	  "\"yes_price\":56,\"buy_max_cost\":440}",
	  "{\"ticker\":\"KXT-1\",\"side\":\"ask\",\"count\":\"10.00\",\"price\":\"0.5600\","
	  "\"time_in_force\":\"fill_or_kill\",\"self_trade_prevention_type\":\"taker_at_cross\"}",
	  44000, NULL },
	{ "buy_max_cost too low", NULL,
	  "{" BASE ",\"count\":10,\"yes_price\":56,\"buy_max_cost\":559}", NULL, 0,
	  "'buy_max_cost' 559 cents is below the order's maximum cost of 5.6000 dollars" },
	{ "buy_max_cost rounds the cost up", NULL,
	  "{" BASE ",\"count_fp\":\"0.01\",\"yes_price_dollars\":\"0.0001\",\"buy_max_cost\":1}",
	  "{" V2BASE ",\"count\":\"0.01\",\"price\":\"0.0001\",\"time_in_force\":"
	  "\"fill_or_kill\",\"self_trade_prevention_type\":\"taker_at_cross\"}", 100, NULL },
	{ "buy_max_cost with gtc", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"buy_max_cost\":500,"
	  "\"time_in_force\":\"good_till_canceled\"}", NULL, 0,
	  "'buy_max_cost' makes an order fill-or-kill" },
	{ "buy_max_cost on a sell", NULL,
	  "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"sell\",\"count\":1,\"yes_price\":5,"
	  "\"buy_max_cost\":500}", NULL, 0, "'buy_max_cost' applies to buy orders only" },
	{ "buy_max_cost zero", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"buy_max_cost\":0}",
	  NULL, 0, "'buy_max_cost' must be a positive integer number of cents" },
	{ "buy_max_cost string", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"buy_max_cost\":\"500\"}", NULL, 0,
	  "'buy_max_cost' must be a positive integer" },
	/* sell_position_floor, type */
	{ "sell_position_floor 0", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"sell_position_floor\":0}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.0500\"," GTC_TAC "}", -1, NULL },
	{ "sell_position_floor 5", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"sell_position_floor\":5}", NULL, 0,
	  "'sell_position_floor' is deprecated and only 0 is accepted" },
	{ "sell_position_floor string", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"sell_position_floor\":\"0\"}", NULL, 0,
	  "'sell_position_floor' is deprecated" },
	{ "type limit dropped", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"type\":\"limit\"}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.0500\"," GTC_TAC "}", -1, NULL },
	{ "type market refused", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"type\":\"market\"}", NULL, 0,
	  "'type' 'market' cannot be translated" },
	{ "type other", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"type\":\"stop\"}", NULL, 0,
	  "'type' must be 'limit'" },
	/* carried fields, stp */
	{ "everything carried", "maker",
	  "{" BASE ",\"count\":2,\"yes_price\":30,\"client_order_id\":\"c-1\","
	  "\"expiration_ts\":1767225600,\"post_only\":true,\"reduce_only\":false,"
	  "\"cancel_order_on_pause\":true,\"subaccount\":2,\"order_group_id\":\"G1\","
	  "\"exchange_index\":0}",
	  "{" V2BASE ",\"client_order_id\":\"c-1\",\"count\":\"2.00\",\"price\":\"0.3000\","
	  "\"time_in_force\":\"good_till_canceled\",\"self_trade_prevention_type\":\"maker\","
	  "\"expiration_time\":1767225600,\"post_only\":true,\"reduce_only\":false,"
	  "\"cancel_order_on_pause\":true,\"subaccount\":2,\"order_group_id\":\"G1\","
	  "\"exchange_index\":0}", -1, NULL },
	{ "explicit stp beats default", "maker",
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"self_trade_prevention_type\":\"taker_at_cross\"}",
	  "{" V2BASE ",\"count\":\"1.00\",\"price\":\"0.0500\"," GTC_TAC "}", -1, NULL },
	{ "bad stp", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"self_trade_prevention_type\":\"none\"}", NULL, 0,
	  "'self_trade_prevention_type' must be 'taker_at_cross' or 'maker'" },
	{ "expiration_ts string", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"expiration_ts\":\"1767225600\"}", NULL, 0,
	  "'expiration_ts' must be an integer" },
	{ "post_only number", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"post_only\":1}", NULL,
	  0, "'post_only' must be true or false" },
	{ "subaccount string", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"subaccount\":\"0\"}",
	  NULL, 0, "'subaccount' must be an integer" },
	{ "client_order_id empty", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"client_order_id\":\"\"}", NULL, 0,
	  "'client_order_id' must be a non-empty string" },
	{ "order_group_id number", NULL,
	  "{" BASE ",\"count\":1,\"yes_price\":5,\"order_group_id\":7}", NULL, 0,
	  "'order_group_id' must be a string" },
	{ "unknown field", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,\"zero_profit\":true}",
	  NULL, 0, "unknown field 'zero_profit' in a legacy order" },
	{ "long unknown key is cut", NULL, "{" BASE ",\"count\":1,\"yes_price\":5,"
	  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":1}",
	  NULL, 0, "unknown field 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' in a legacy order" },
	{ "V2 field in a legacy order", NULL, "{" BASE ",\"count\":1,\"price\":\"0.5\"}", NULL, 0,
	  "unknown field 'price'" },
};

static void test_create_cases(void **state)
{
	struct legacy_err err;
	json_t *order, *out;
	int64_t bmc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(create_cases) / sizeof(create_cases[0]); i++) {
		const struct create_case *c = &create_cases[i];
		int rc;

		order = js(c->in);
		out = NULL;
		bmc = 12345;
		memset(&err, 0, sizeof(err));
		rc = legacy_create_to_v2(order, c->stp_default, &out, &bmc, &err);
		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", c->name, err.message);
			assert_json(c->name, out, c->want);
			if (bmc != c->bmc)
				fail_msg("%s: buy_max_cost %lld, want %lld", c->name,
					 (long long)bmc, (long long)c->bmc);
			json_decref(out);
		} else {
			if (rc == 0)
				fail_msg("%s: accepted, want refusal", c->name);
			assert_null(out);
			assert_int_equal(bmc, 12345);
			assert_refused(c->name, &err, c->msg, -1);
		}
		json_decref(order);
	}
}

static void test_create_bad_default(void **state)
{
	struct legacy_err err;
	json_t *order = js("{" BASE ",\"count\":1,\"yes_price\":5}"), *out = NULL;
	int64_t bmc;

	(void)state;
	assert_int_equal(legacy_create_to_v2(order, "none", &out, &bmc, &err), -1);
	assert_int_equal(err.status, 500);
	assert_string_equal(err.code, "internal_error");
	assert_null(out);
	json_decref(order);
}

/* ---- batch create ----------------------------------------------------- */

struct batch_case {
	const char *name;
	const char *in;
	const char *want;
	const char *msg;
	long index;
};

#define L1 "{" BASE ",\"count\":1,\"yes_price\":5,\"client_order_id\":\"a\"}"
#define L2 "{\"ticker\":\"KXT-2\",\"side\":\"no\",\"action\":\"sell\",\"count_fp\":\"1.5\"," \
	"\"no_price_dollars\":\"0.30\"}"
#define V1 "{" V2BASE ",\"client_order_id\":\"a\",\"count\":\"1.00\",\"price\":\"0.0500\"," GTC_TAC "}"
#define V2 "{\"ticker\":\"KXT-2\",\"side\":\"bid\",\"count\":\"1.50\",\"price\":\"0.7000\"," GTC_TAC "}"

static const struct batch_case batch_cases[] = {
	{ "two orders", "{\"orders\":[" L1 "," L2 "]}", "{\"orders\":[" V1 "," V2 "]}", NULL, -1 },
	{ "bad second element", "{\"orders\":[" L1 ",{" BASE ",\"count\":1}]}", NULL,
	  "the price is required", 1 },
	{ "bad first element", "{\"orders\":[{" BASE ",\"count\":1,\"yes_price\":5,"
	  "\"sell_position_floor\":5}," L2 "]}", NULL, "'sell_position_floor' is deprecated", 0 },
	{ "element not an object", "{\"orders\":[" L1 ",7]}", NULL, "must be a JSON object", 1 },
	{ "empty", "{\"orders\":[]}", NULL, "'orders' must be a non-empty array", -1 },
	{ "orders missing", "{}", NULL, "'orders' must be a non-empty array", -1 },
	{ "extra key", "{\"orders\":[" L1 "],\"x\":1}", NULL, "unknown field 'x' in a legacy batch",
	  -1 },
	{ "array body", "[" L1 "]", NULL, "the body must be a JSON object", -1 },
};

static void test_batch_create(void **state)
{
	struct legacy_err err;
	json_t *in, *out;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(batch_cases) / sizeof(batch_cases[0]); i++) {
		const struct batch_case *c = &batch_cases[i];
		int rc;

		in = js(c->in);
		out = NULL;
		rc = legacy_batch_create_to_v2(in, NULL, &out, &err);
		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", c->name, err.message);
			assert_json(c->name, out, c->want);
			json_decref(out);
		} else {
			if (rc == 0)
				fail_msg("%s: accepted", c->name);
			assert_null(out);
			assert_refused(c->name, &err, c->msg, c->index);
		}
		json_decref(in);
	}
}

/* ---- batch cancel ----------------------------------------------------- */

static const struct batch_case cancel_cases[] = {
	{ "ids form", "{\"ids\":[\"o1\",\"o2\"]}",
	  "{\"orders\":[{\"order_id\":\"o1\"},{\"order_id\":\"o2\"}]}", NULL, -1 },
	{ "orders form", "{\"orders\":[{\"order_id\":\"o1\",\"subaccount\":2},"
	  "{\"order_id\":\"o2\",\"exchange_index\":0,\"market_ticker\":\"KXT-1\"}]}",
	  "{\"orders\":[{\"order_id\":\"o1\",\"subaccount\":2},"
	  "{\"order_id\":\"o2\",\"exchange_index\":0,\"market_ticker\":\"KXT-1\"}]}", NULL, -1 },
	{ "ids null, orders given", "{\"ids\":null,\"orders\":[{\"order_id\":\"o1\"}]}",
	  "{\"orders\":[{\"order_id\":\"o1\"}]}", NULL, -1 },
	{ "both forms", "{\"ids\":[\"o1\"],\"orders\":[{\"order_id\":\"o2\"}]}", NULL,
	  "give 'orders' or the deprecated 'ids', not both", -1 },
	{ "neither", "{}", NULL, "'orders' must be a non-empty array", -1 },
	{ "empty ids", "{\"ids\":[]}", NULL, "must be a non-empty array", -1 },
	{ "id not a string", "{\"ids\":[\"o1\",5]}", NULL,
	  "each element of 'ids' must be a non-empty string", 1 },
	{ "empty id", "{\"ids\":[\"\"]}", NULL, "each element of 'ids' must be a non-empty", 0 },
	{ "order_id missing", "{\"orders\":[{\"order_id\":\"o1\"},{\"subaccount\":1}]}", NULL,
	  "'order_id' is required", 1 },
	{ "element unknown key", "{\"orders\":[{\"order_id\":\"o1\",\"ticker\":\"T\"}]}", NULL,
	  "unknown field 'ticker' in a legacy batch cancel element", 0 },
	{ "element not object", "{\"orders\":[\"o1\"]}", NULL,
	  "each element of 'orders' must be an object", 0 },
	{ "unknown top key", "{\"ids\":[\"o1\"],\"all\":true}", NULL, "unknown field 'all'", -1 },
	{ "not an object", "\"o1\"", NULL, "the body must be a JSON object", -1 },
};

static void test_batch_cancel(void **state)
{
	struct legacy_err err;
	json_t *in, *out;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cancel_cases) / sizeof(cancel_cases[0]); i++) {
		const struct batch_case *c = &cancel_cases[i];
		int rc;

		in = js(c->in);
		out = NULL;
		rc = legacy_batch_cancel_to_v2(in, &out, &err);
		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", c->name, err.message);
			assert_json(c->name, out, c->want);
			json_decref(out);
		} else {
			if (rc == 0)
				fail_msg("%s: accepted", c->name);
			assert_null(out);
			assert_refused(c->name, &err, c->msg, c->index);
		}
		json_decref(in);
	}
}

/* ---- amend ------------------------------------------------------------ */

struct amend_case {
	const char *name;
	const char *in;
	const char *current;    /* GET answer before the amend, or NULL */
	const char *want;
	int subaccount;
	const char *msg;
};

#define CUR "{\"order\":{\"order_id\":\"o1\",\"ticker\":\"KXT-1\",\"yes_price_dollars\":" \
	"\"0.4200\",\"no_price_dollars\":\"0.5800\",\"fill_count_fp\":\"2.00\"," \
	"\"remaining_count_fp\":\"3.50\"}}"

static const struct amend_case amend_cases[] = {
	{ "price and count", "{" BASE ",\"yes_price\":45,\"count\":10}", NULL,
	  "{" V2BASE ",\"price\":\"0.4500\",\"count\":\"10.00\"}", -1, NULL },
	{ "sell no, no price dollars, count_fp, ids, subaccount",
	  "{\"ticker\":\"KXT-1\",\"side\":\"no\",\"action\":\"sell\",\"no_price_dollars\":\"0.30\","
	  "\"count_fp\":\"7.25\",\"client_order_id\":\"c1\",\"updated_client_order_id\":\"c2\","
	  "\"subaccount\":3,\"exchange_index\":0}", NULL,
	  "{\"ticker\":\"KXT-1\",\"side\":\"bid\",\"price\":\"0.7000\",\"count\":\"7.25\","
	  "\"client_order_id\":\"c1\",\"updated_client_order_id\":\"c2\",\"exchange_index\":0}",
	  3, NULL },
	{ "buy no", "{\"ticker\":\"KXT-1\",\"side\":\"no\",\"action\":\"buy\",\"no_price\":1,"
	  "\"count\":1}", NULL,
	  "{\"ticker\":\"KXT-1\",\"side\":\"ask\",\"price\":\"0.9900\",\"count\":\"1.00\"}", -1,
	  NULL },
	{ "price from current", "{" BASE ",\"count\":10}", CUR,
	  "{" V2BASE ",\"price\":\"0.4200\",\"count\":\"10.00\"}", -1, NULL },
	{ "count from current", "{" BASE ",\"yes_price\":45}", CUR,
	  "{" V2BASE ",\"price\":\"0.4500\",\"count\":\"5.50\"}", -1, NULL },
	{ "both from current (bare order)", "{" BASE "}",
	  "{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.4200\",\"fill_count_fp\":\"0.00\","
	  "\"remaining_count_fp\":\"3.00\"}",
	  "{" V2BASE ",\"price\":\"0.4200\",\"count\":\"3.00\"}", -1, NULL },
	{ "no price, no current", "{" BASE ",\"count\":10}", NULL, NULL, 0,
	  "a V2 amend needs the price" },
	{ "no count, no current", "{" BASE ",\"yes_price\":45}", NULL, NULL, 0,
	  "a V2 amend needs the count" },
	{ "current without counts", "{" BASE ",\"yes_price\":45}", "{\"order\":{\"order_id\":\"o\"}}",
	  NULL, 0, "a V2 amend needs the count" },
	{ "two prices", "{" BASE ",\"yes_price\":45,\"no_price\":55,\"count\":1}", NULL, NULL, 0,
	  "give exactly one of" },
	{ "count disagree", "{" BASE ",\"yes_price\":45,\"count\":1,\"count_fp\":\"2\"}", NULL,
	  NULL, 0, "disagree" },
	{ "missing action", "{\"ticker\":\"T\",\"side\":\"yes\",\"yes_price\":45,\"count\":1}", NULL,
	  NULL, 0, "'action' is required" },
	{ "unknown field", "{" BASE ",\"yes_price\":45,\"count\":1,\"time_in_force\":\"fill_or_kill\"}",
	  NULL, NULL, 0, "unknown field 'time_in_force' in a legacy amend" },
	{ "bad subaccount", "{" BASE ",\"yes_price\":45,\"count\":1,\"subaccount\":-1}", NULL, NULL,
	  0, "'subaccount' must be an integer" },
	{ "not an object", "[]", NULL, NULL, 0, "a legacy amend must be a JSON object" },
	{ "bad updated id", "{" BASE ",\"yes_price\":45,\"count\":1,\"updated_client_order_id\":3}",
	  NULL, NULL, 0, "'updated_client_order_id' must be a non-empty string" },
};

static void test_amend(void **state)
{
	struct legacy_err err;
	json_t *in, *cur, *out;
	int sub;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(amend_cases) / sizeof(amend_cases[0]); i++) {
		const struct amend_case *c = &amend_cases[i];
		int rc;

		in = js(c->in);
		cur = c->current != NULL ? js(c->current) : NULL;
		out = NULL;
		sub = 99;
		rc = legacy_amend_to_v2(in, cur, &out, &sub, &err);
		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", c->name, err.message);
			assert_json(c->name, out, c->want);
			assert_int_equal(sub, c->subaccount);
			json_decref(out);
		} else {
			if (rc == 0)
				fail_msg("%s: accepted", c->name);
			assert_null(out);
			assert_int_equal(sub, 99);
			assert_refused(c->name, &err, c->msg, -1);
		}
		json_decref(cur);
		json_decref(in);
	}
}

/* ---- decrease --------------------------------------------------------- */

static const struct amend_case decrease_cases[] = {
	{ "reduce_by", "{\"reduce_by\":3}", NULL, "{\"reduce_by\":\"3.00\"}", -1, NULL },
	{ "reduce_by_fp", "{\"reduce_by_fp\":\"0.5\"}", NULL, "{\"reduce_by\":\"0.50\"}", -1, NULL },
	{ "reduce_by both agree", "{\"reduce_by\":3,\"reduce_by_fp\":\"3.00\",\"subaccount\":1}",
	  NULL, "{\"reduce_by\":\"3.00\"}", 1, NULL },
	{ "reduce_to 0", "{\"reduce_to\":0,\"exchange_index\":0}", NULL,
	  "{\"reduce_to\":\"0.00\",\"exchange_index\":0}", -1, NULL },
	{ "reduce_to_fp", "{\"reduce_to_fp\":\"2.25\"}", NULL, "{\"reduce_to\":\"2.25\"}", -1,
	  NULL },
	{ "both kinds", "{\"reduce_by\":1,\"reduce_to\":2}", NULL, NULL, 0, "give exactly one of" },
	{ "neither", "{}", NULL, NULL, 0, "give exactly one of" },
	{ "reduce_by 0", "{\"reduce_by\":0}", NULL, NULL, 0, "'reduce_by' must be a whole number" },
	{ "reduce_by disagree", "{\"reduce_by\":1,\"reduce_by_fp\":\"2\"}", NULL, NULL, 0,
	  "disagree" },
	{ "reduce_to real", "{\"reduce_to\":1.5}", NULL, NULL, 0, "'reduce_to' must be a whole" },
	{ "reduce_to_fp negative", "{\"reduce_to_fp\":\"-1\"}", NULL, NULL, 0,
	  "'reduce_to_fp' must be a string count of 0 or more" },
	{ "unknown", "{\"reduce_by\":1,\"count\":2}", NULL, NULL, 0,
	  "unknown field 'count' in a legacy decrease" },
	{ "not object", "3", NULL, NULL, 0, "must be a JSON object" },
};

static void test_decrease(void **state)
{
	struct legacy_err err;
	json_t *in, *out;
	int sub;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(decrease_cases) / sizeof(decrease_cases[0]); i++) {
		const struct amend_case *c = &decrease_cases[i];
		int rc;

		in = js(c->in);
		out = NULL;
		sub = 99;
		rc = legacy_decrease_to_v2(in, &out, &sub, &err);
		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", c->name, err.message);
			assert_json(c->name, out, c->want);
			assert_int_equal(sub, c->subaccount);
			json_decref(out);
		} else {
			if (rc == 0)
				fail_msg("%s: accepted", c->name);
			assert_null(out);
			assert_refused(c->name, &err, c->msg, -1);
		}
		json_decref(in);
	}
}

/* ---- paths ------------------------------------------------------------ */

struct path_case {
	const char *in;
	const char *want;   /* NULL: refused */
};

static const struct path_case path_cases[] = {
	{ "/trade-api/v2/portfolio/orders", "/trade-api/v2/portfolio/events/orders" },
	{ "/trade-api/v2/portfolio/orders/batched", "/trade-api/v2/portfolio/events/orders/batched" },
	{ "/trade-api/v2/portfolio/orders/ab-12", "/trade-api/v2/portfolio/events/orders/ab-12" },
	{ "/trade-api/v2/portfolio/orders/ab-12/amend",
	  "/trade-api/v2/portfolio/events/orders/ab-12/amend" },
	{ "/trade-api/v2/portfolio/orders/ab-12/decrease",
	  "/trade-api/v2/portfolio/events/orders/ab-12/decrease" },
	{ "/portfolio/orders/x/amend", "/portfolio/events/orders/x/amend" },
	{ "/trade-api/v2/portfolio/orders/", NULL },
	{ "/trade-api/v2/portfolio/ordersx", NULL },
	{ "/trade-api/v2/portfolio/orders/x/cancel", NULL },
	{ "/trade-api/v2/portfolio/orders/x/amend/", NULL },
	{ "/trade-api/v2/portfolio/orders//amend", NULL },
	{ "/trade-api/v2/portfolio/orders/batched/amend", NULL },
	{ "/trade-api/v2/portfolio/events/orders", NULL },
	{ "/trade-api/v2/markets", NULL },
	{ "/trade-api/v2/portfolio/orders/a b", NULL },
	{ "/trade-api/v2/portfolio/orders/a?x=1", NULL },
	{ "/trade-api/v2/portfolio/orders/a\x01", NULL },
	{ "/trade-api/v2/portfolio/orders/\xc3\xa9", NULL },
	{ "", NULL },
};

static void test_paths(void **state)
{
	char out[256], small[16], msg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		int rc = legacy_v2_path(c->in, strlen(c->in), out, sizeof(out));

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("'%s' mapped to '%s'", c->in, out);
		} else {
			if (rc != 0)
				fail_msg("'%s' refused", c->in);
			assert_string_equal(out, c->want);
		}
	}
	assert_int_equal(legacy_v2_path("/trade-api/v2/portfolio/orders", 30, small,
					sizeof(small)), -1);
	/* A NUL inside the id is refused, not cut short. */
	assert_int_equal(legacy_v2_path("/portfolio/orders/ab\0cd", 23, out, sizeof(out)), -1);
	/* Exactly fitting output. */
	assert_int_equal(legacy_v2_path("/portfolio/orders/x", 19, out, 27), 0);
	assert_string_equal(out, "/portfolio/events/orders/x");
	assert_int_equal(legacy_v2_path("/portfolio/orders/x", 19, out, 26), -1);
	legacy_reject_message("POST", "/trade-api/v2/portfolio/orders/o1/amend", 39, msg,
			      sizeof(msg));
	assert_non_null(strstr(msg, "use POST /trade-api/v2/portfolio/events/orders/o1/amend"));
	assert_non_null(strstr(msg, "orders.legacy = reject"));
	legacy_reject_message("GET", "/x", 2, msg, sizeof(msg));
	assert_non_null(strstr(msg, "/trade-api/v2/portfolio/events/orders"));
}

/* ---- replies ---------------------------------------------------------- */

enum reply_kind { R_CREATE, R_BATCH_CREATE, R_CANCEL, R_BATCH_CANCEL, R_AMEND, R_DECREASE };

struct reply_case {
	const char *name;
	enum reply_kind kind;
	const char *reply;      /* V2 2xx answer */
	const char *legacy;     /* legacy request (create, batch, amend) */
	const char *sent;       /* V2 body sent */
	const char *get;        /* GET answer (after), gets object, or NULL */
	const char *before;     /* amend: GET answer before */
	const char *want;       /* legacy answer, or NULL when an error */
	unsigned flags;
	int status;             /* error status when want is NULL */
	const char *code;
};

#define LREQ "{\"ticker\":\"KXT-1\",\"side\":\"no\",\"action\":\"buy\",\"count\":10,\"no_price\":44}"
#define SENT "{\"ticker\":\"KXT-1\",\"client_order_id\":\"c-1\",\"side\":\"ask\"," \
	"\"count\":\"10.00\",\"price\":\"0.5600\",\"time_in_force\":\"good_till_canceled\"," \
	"\"self_trade_prevention_type\":\"taker_at_cross\",\"expiration_time\":1767225600," \
	"\"order_group_id\":\"G1\",\"subaccount\":0,\"cancel_order_on_pause\":true}"
/* What every derived create Order shares. */
#define DERIVED_HEAD "\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"ticker\":\"KXT-1\"," \
	"\"side\":\"no\",\"action\":\"buy\",\"outcome_side\":\"no\",\"book_side\":\"ask\"," \
	"\"type\":\"limit\",\"yes_price_dollars\":\"0.5600\",\"no_price_dollars\":\"0.4400\"," \
	"\"initial_count_fp\":\"10.00\",\"expiration_time\":\"2026-01-01T00:00:00Z\"," \
	"\"created_time\":\"2024-05-15T17:21:00.456Z\"," \
	"\"last_update_time\":\"2024-05-15T17:21:00.456Z\"," \
	"\"self_trade_prevention_type\":\"taker_at_cross\",\"order_group_id\":\"G1\"," \
	"\"cancel_order_on_pause\":true,\"subaccount_number\":0"
#define GET_ORDER "{\"order_id\":\"o1\",\"user_id\":\"u\",\"client_order_id\":\"c-1\"," \
	"\"ticker\":\"KXT-1\",\"outcome_side\":\"no\",\"book_side\":\"ask\",\"type\":\"limit\"," \
	"\"status\":\"resting\",\"yes_price_dollars\":\"0.5600\",\"no_price_dollars\":\"0.4400\"," \
	"\"fill_count_fp\":\"0.00\",\"remaining_count_fp\":\"10.00\",\"initial_count_fp\":\"10.00\"," \
	"\"taker_fill_cost_dollars\":\"0.0000\",\"maker_fill_cost_dollars\":\"0.0000\"," \
	"\"taker_fees_dollars\":\"0.0000\",\"maker_fees_dollars\":\"0.0000\"}"
#define GET_ORDER_DIR "{\"order_id\":\"o1\",\"user_id\":\"u\",\"client_order_id\":\"c-1\"," \
	"\"ticker\":\"KXT-1\",\"outcome_side\":\"no\",\"book_side\":\"ask\",\"type\":\"limit\"," \
	"\"status\":\"resting\",\"yes_price_dollars\":\"0.5600\",\"no_price_dollars\":\"0.4400\"," \
	"\"fill_count_fp\":\"0.00\",\"remaining_count_fp\":\"10.00\",\"initial_count_fp\":\"10.00\"," \
	"\"taker_fill_cost_dollars\":\"0.0000\",\"maker_fill_cost_dollars\":\"0.0000\"," \
	"\"taker_fees_dollars\":\"0.0000\",\"maker_fees_dollars\":\"0.0000\"," \
	"\"side\":\"no\",\"action\":\"buy\"}"
#define ZERO_COSTS "\"taker_fill_cost_dollars\":\"0.0000\",\"maker_fill_cost_dollars\":" \
	"\"0.0000\",\"taker_fees_dollars\":\"0.0000\",\"maker_fees_dollars\":\"0.0000\""
#define REPLY(fill, rem) "{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"fill_count\":\"" \
	fill "\",\"remaining_count\":\"" rem "\",\"ts_ms\":1715793660456}"

static const struct reply_case reply_cases[] = {
	/* create */
	{ "create resting, no GET", R_CREATE, REPLY("0.00", "10.00"), LREQ, SENT, NULL, NULL,
	  "{\"order\":{" DERIVED_HEAD ",\"status\":\"resting\",\"fill_count_fp\":\"0.00\","
	  "\"remaining_count_fp\":\"10.00\"," ZERO_COSTS "}}", LEGACY_PARTIAL, 0, NULL },
	{ "create executed, no GET", R_CREATE, REPLY("10.00", "0.00"), LREQ, SENT, NULL, NULL,
	  "{\"order\":{" DERIVED_HEAD ",\"status\":\"executed\",\"fill_count_fp\":\"10.00\","
	  "\"remaining_count_fp\":\"0.00\",\"maker_fill_cost_dollars\":\"0.0000\","
	  "\"maker_fees_dollars\":\"0.0000\"}}", LEGACY_PARTIAL, 0, NULL },
	{ "create partly filled then canceled (ioc)", R_CREATE, REPLY("4.00", "0.00"), LREQ, SENT,
	  NULL, NULL,
	  "{\"order\":{" DERIVED_HEAD ",\"status\":\"canceled\",\"fill_count_fp\":\"4.00\","
	  "\"remaining_count_fp\":\"0.00\",\"maker_fill_cost_dollars\":\"0.0000\","
	  "\"maker_fees_dollars\":\"0.0000\"}}", LEGACY_PARTIAL, 0, NULL },
	{ "create partly filled, resting", R_CREATE, REPLY("4.00", "6.00"), LREQ, SENT, NULL, NULL,
	  "{\"order\":{" DERIVED_HEAD ",\"status\":\"resting\",\"fill_count_fp\":\"4.00\","
	  "\"remaining_count_fp\":\"6.00\",\"maker_fill_cost_dollars\":\"0.0000\","
	  "\"maker_fees_dollars\":\"0.0000\"}}", LEGACY_PARTIAL, 0, NULL },
	{ "create fok killed", R_CREATE, REPLY("0.00", "0.00"), LREQ, SENT, NULL, NULL,
	  "{\"order\":{" DERIVED_HEAD ",\"status\":\"canceled\",\"fill_count_fp\":\"0.00\","
	  "\"remaining_count_fp\":\"0.00\"," ZERO_COSTS "}}", LEGACY_PARTIAL, 0, NULL },
	{ "create with GET", R_CREATE, REPLY("0.00", "10.00"), LREQ, SENT,
	  "{\"order\":" GET_ORDER "}", NULL, "{\"order\":" GET_ORDER_DIR "}", 0, 0, NULL },
	{ "create GET of another order ignored", R_CREATE, REPLY("0.00", "10.00"), LREQ, SENT,
	  "{\"order\":{\"order_id\":\"other\"}}", NULL,
	  "{\"order\":{" DERIVED_HEAD ",\"status\":\"resting\",\"fill_count_fp\":\"0.00\","
	  "\"remaining_count_fp\":\"10.00\"," ZERO_COSTS "}}", LEGACY_PARTIAL, 0, NULL },
	{ "create soft rejection with error", R_CREATE,
	  "{\"error\":{\"code\":\"post_only_cross\",\"message\":\"would cross\"}}", LREQ, SENT,
	  NULL, NULL, NULL, 0, 400, "post_only_cross" },
	{ "create soft rejection, odd code", R_CREATE,
	  "{\"error\":{\"code\":\"Bad Code!\",\"message\":\"x\"}}", LREQ, SENT, NULL, NULL, NULL, 0,
	  400, "invalid_order" },
	{ "create soft rejection, empty", R_CREATE, "{}", LREQ, SENT, NULL, NULL, NULL, 0, 502,
	  "upstream_bad_reply" },
	{ "create soft rejection, null order_id", R_CREATE, "{\"order_id\":null}", LREQ, SENT,
	  NULL, NULL, NULL, 0, 502, "upstream_bad_reply" },
	{ "create soft rejection, not object", R_CREATE, "[]", LREQ, SENT, NULL, NULL, NULL, 0, 502,
	  "upstream_bad_reply" },
	/* batch create */
	{ "batch create mixed", R_BATCH_CREATE,
	  "{\"orders\":[{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"fill_count\":\"0.00\","
	  "\"remaining_count\":\"10.00\",\"ts_ms\":1715793660456},"
	  "{\"client_order_id\":\"c-2\",\"error\":{\"code\":\"invalid_order\",\"message\":\"m\"}},"
	  "{\"client_order_id\":\"c-3\"}]}",
	  "{\"orders\":[" LREQ "," LREQ "," LREQ "]}",
	  "{\"orders\":[" SENT ",{\"client_order_id\":\"c-2\"},{\"client_order_id\":\"c-3\"}]}",
	  "{\"o1\":{\"order\":" GET_ORDER "}}", NULL,
	  "{\"orders\":[{\"client_order_id\":\"c-1\",\"order\":" GET_ORDER_DIR "},"
	  "{\"client_order_id\":\"c-2\",\"error\":{\"code\":\"invalid_order\",\"message\":\"m\"}},"
	  "{\"client_order_id\":\"c-3\",\"error\":{\"code\":\"upstream_bad_reply\",\"message\":"
	  "\"upstream answered this element without an order_id or an error; the order may or "
	  "may not exist\"}}]}", LEGACY_OUTCOME_UNKNOWN, 0, NULL },
	{ "batch create matched by client_order_id, no GET", R_BATCH_CREATE,
	  "{\"orders\":[{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"fill_count\":\"0.00\","
	  "\"remaining_count\":\"10.00\",\"ts_ms\":1715793660456}]}",
	  "{\"orders\":[{\"ticker\":\"X\",\"side\":\"yes\",\"action\":\"buy\"}," LREQ "]}",
	  "{\"orders\":[{\"client_order_id\":\"c-0\"}," SENT "]}", NULL, NULL,
	  "{\"orders\":[{\"client_order_id\":\"c-1\",\"order\":{" DERIVED_HEAD ",\"status\":"
	  "\"resting\",\"fill_count_fp\":\"0.00\",\"remaining_count_fp\":\"10.00\"," ZERO_COSTS
	  "}}]}", LEGACY_PARTIAL, 0, NULL },
	{ "batch create by position, client_order_id only in the sent body", R_BATCH_CREATE,
	  "{\"orders\":[{\"order_id\":\"o1\",\"fill_count\":\"0.00\","
	  "\"remaining_count\":\"10.00\",\"ts_ms\":1715793660456}]}",
	  "{\"orders\":[" LREQ "]}", "{\"orders\":[" SENT "]}", NULL, NULL,
	  "{\"orders\":[{\"client_order_id\":\"c-1\",\"order\":{" DERIVED_HEAD ",\"status\":"
	  "\"resting\",\"fill_count_fp\":\"0.00\",\"remaining_count_fp\":\"10.00\"," ZERO_COSTS
	  "}}]}", LEGACY_PARTIAL, 0, NULL },
	{ "batch create, more answers than orders sent", R_BATCH_CREATE,
	  "{\"orders\":[{\"error\":{\"code\":\"a\"}},{\"error\":{\"code\":\"b\"}}]}",
	  "{\"orders\":[" LREQ "]}", "{\"orders\":[" SENT "]}", NULL, NULL,
	  "{\"orders\":[{\"client_order_id\":\"c-1\",\"error\":{\"code\":\"a\"}},"
	  "{\"error\":{\"code\":\"b\"}}]}", 0, 0, NULL },
	{ "create, client_order_id from the sent body, bad counts and ts", R_CREATE,
	  "{\"order_id\":\"o1\",\"fill_count\":\"x\",\"remaining_count\":5,\"ts_ms\":-1}",
	  LREQ, SENT, NULL, NULL,
	  "{\"order\":{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"ticker\":\"KXT-1\","
	  "\"side\":\"no\",\"action\":\"buy\",\"outcome_side\":\"no\",\"book_side\":\"ask\","
	  "\"type\":\"limit\",\"yes_price_dollars\":\"0.5600\",\"no_price_dollars\":\"0.4400\","
	  "\"initial_count_fp\":\"10.00\",\"expiration_time\":\"2026-01-01T00:00:00Z\","
	  "\"self_trade_prevention_type\":\"taker_at_cross\",\"order_group_id\":\"G1\","
	  "\"cancel_order_on_pause\":true,\"subaccount_number\":0}}", LEGACY_PARTIAL, 0, NULL },
	{ "create, expiration beyond year 9999 left out", R_CREATE, REPLY("0.00", "1.00"),
	  "{\"side\":\"maybe\",\"action\":\"buy\"}",
	  "{\"ticker\":\"T\",\"count\":\"1.00\",\"price\":\"0.5000\","
	  "\"expiration_time\":253402300800}", NULL, NULL,
	  "{\"order\":{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"ticker\":\"T\","
	  "\"type\":\"limit\",\"status\":\"resting\",\"yes_price_dollars\":\"0.5000\","
	  "\"no_price_dollars\":\"0.5000\",\"fill_count_fp\":\"0.00\","
	  "\"remaining_count_fp\":\"1.00\",\"initial_count_fp\":\"1.00\"," ZERO_COSTS ","
	  "\"created_time\":\"2024-05-15T17:21:00.456Z\","
	  "\"last_update_time\":\"2024-05-15T17:21:00.456Z\"}}", LEGACY_PARTIAL, 0, NULL },
	{ "batch create soft rejection", R_BATCH_CREATE, "{\"orders\":{}}", "{}", "{}", NULL, NULL,
	  NULL, 0, 502, "upstream_bad_reply" },
	/* cancel */
	{ "cancel with GET", R_CANCEL,
	  "{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"reduced_by\":\"10.00\",\"ts_ms\":1}",
	  NULL, NULL, GET_ORDER, NULL,
	  "{\"order\":" GET_ORDER ",\"reduced_by_fp\":\"10.00\"}", 0, 0, NULL },
	{ "cancel no GET", R_CANCEL,
	  "{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"reduced_by\":\"2.5\","
	  "\"ts_ms\":1715793660456}", NULL, NULL, NULL, NULL,
	  "{\"order\":{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"status\":\"canceled\","
	  "\"remaining_count_fp\":\"0.00\",\"last_update_time\":\"2024-05-15T17:21:00.456Z\"},"
	  "\"reduced_by_fp\":\"2.50\"}", LEGACY_PARTIAL, 0, NULL },
	{ "cancel without reduced_by", R_CANCEL, "{\"order_id\":\"o1\"}", NULL, NULL,
	  GET_ORDER, NULL, "{\"order\":" GET_ORDER "}", LEGACY_PARTIAL, 0, NULL },
	{ "cancel soft rejection", R_CANCEL, "{\"reduced_by\":\"1.00\"}", NULL, NULL, NULL, NULL,
	  NULL, 0, 502, "upstream_bad_reply" },
	/* batch cancel */
	{ "batch cancel", R_BATCH_CANCEL,
	  "{\"orders\":[{\"order_id\":\"o1\",\"reduced_by\":\"10.00\",\"ts_ms\":1},"
	  "{\"order_id\":\"o2\",\"reduced_by\":\"0.00\",\"error\":{\"code\":\"not_found\"}},"
	  "{\"reduced_by\":\"1.00\"}]}", NULL,
	  "{\"orders\":[{\"order_id\":\"o1\"},{\"order_id\":\"o2\"},{\"order_id\":\"o3\"}]}",
	  "{\"o1\":" GET_ORDER "}", NULL,
	  "{\"orders\":[{\"order_id\":\"o1\",\"order\":" GET_ORDER ",\"reduced_by_fp\":\"10.00\"},"
	  "{\"order_id\":\"o2\",\"reduced_by_fp\":\"0.00\",\"error\":{\"code\":\"not_found\"}},"
	  "{\"order_id\":\"o3\",\"reduced_by_fp\":\"1.00\",\"error\":{\"code\":"
	  "\"upstream_bad_reply\",\"message\":\"upstream answered this element without "
	  "reduced_by or order_id; the order may or may not be canceled\"}}]}",
	  LEGACY_OUTCOME_UNKNOWN, 0, NULL },
	{ "batch cancel, incomplete GET", R_BATCH_CANCEL,
	  "{\"orders\":[{\"order_id\":\"o1\",\"reduced_by\":\"1.00\"}]}", NULL, NULL,
	  "{\"o1\":{\"order\":{\"order_id\":\"o1\"}}}", NULL,
	  "{\"orders\":[{\"order_id\":\"o1\",\"order\":{\"order_id\":\"o1\"},"
	  "\"reduced_by_fp\":\"1.00\"}]}", LEGACY_PARTIAL, 0, NULL },
	{ "batch cancel error without reduced_by", R_BATCH_CANCEL,
	  "{\"orders\":[{\"order_id\":\"o2\",\"error\":{\"code\":\"not_found\"}}]}", NULL, NULL,
	  NULL, NULL,
	  "{\"orders\":[{\"order_id\":\"o2\",\"reduced_by_fp\":\"0.00\",\"error\":{\"code\":"
	  "\"not_found\"}}]}", 0, 0, NULL },
	{ "batch cancel soft rejection", R_BATCH_CANCEL, "{\"error\":{\"code\":\"x\"}}", NULL, NULL,
	  NULL, NULL, NULL, 0, 400, "x" },
	/* amend */
	{ "amend with before and after", R_AMEND,
	  "{\"order_id\":\"o1\",\"ts_ms\":1}",
	  "{\"ticker\":\"KXT-1\",\"side\":\"no\",\"action\":\"buy\",\"no_price\":40,\"count\":10}",
	  "{\"ticker\":\"KXT-1\",\"side\":\"ask\",\"price\":\"0.6000\",\"count\":\"10.00\"}",
	  "{\"order\":{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.6000\"}}",
	  "{\"order\":{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.5600\"}}",
	  "{\"old_order\":{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.5600\",\"side\":\"no\","
	  "\"action\":\"buy\",\"outcome_side\":\"no\",\"book_side\":\"ask\"},"
	  "\"order\":{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.6000\",\"side\":\"no\","
	  "\"action\":\"buy\",\"outcome_side\":\"no\",\"book_side\":\"ask\"}}",
	  LEGACY_PARTIAL, 0, NULL },
	{ "amend derived from before: price only", R_AMEND,
	  "{\"order_id\":\"o1\",\"client_order_id\":\"c-2\",\"ts_ms\":1715793660456}", LREQ,
	  "{\"ticker\":\"KXT-1\",\"side\":\"ask\",\"price\":\"0.6000\",\"count\":\"10.00\","
	  "\"updated_client_order_id\":\"c-2\"}",
	  NULL, "{\"order\":" GET_ORDER "}",
	  "{\"old_order\":" GET_ORDER_DIR ",\"order\":{\"order_id\":\"o1\",\"user_id\":\"u\","
	  "\"client_order_id\":\"c-2\",\"ticker\":\"KXT-1\",\"outcome_side\":\"no\","
	  "\"book_side\":\"ask\",\"type\":\"limit\",\"status\":\"resting\","
	  "\"yes_price_dollars\":\"0.6000\",\"no_price_dollars\":\"0.4000\","
	  "\"fill_count_fp\":\"0.00\",\"remaining_count_fp\":\"10.00\","
	  "\"initial_count_fp\":\"10.00\"," ZERO_COSTS ",\"side\":\"no\",\"action\":\"buy\","
	  "\"last_update_time\":\"2024-05-15T17:21:00.456Z\"}}", 0, 0, NULL },
	{ "amend derived from before: count up and a fill", R_AMEND,
	  "{\"order_id\":\"o1\",\"fill_count\":\"3.00\",\"remaining_count\":\"9.00\","
	  "\"ts_ms\":1715793660456}", LREQ,
	  "{\"ticker\":\"KXT-1\",\"side\":\"ask\",\"price\":\"0.5600\",\"count\":\"12.00\"}",
	  NULL, "{\"order\":" GET_ORDER "}",
	  "{\"old_order\":" GET_ORDER_DIR ",\"order\":{\"order_id\":\"o1\",\"user_id\":\"u\","
	  "\"client_order_id\":\"c-1\",\"ticker\":\"KXT-1\",\"outcome_side\":\"no\","
	  "\"book_side\":\"ask\",\"type\":\"limit\",\"status\":\"resting\","
	  "\"yes_price_dollars\":\"0.5600\",\"no_price_dollars\":\"0.4400\","
	  "\"fill_count_fp\":\"3.00\",\"remaining_count_fp\":\"9.00\","
	  "\"maker_fill_cost_dollars\":\"0.0000\",\"maker_fees_dollars\":\"0.0000\","
	  "\"side\":\"no\",\"action\":\"buy\",\"last_update_time\":\"2024-05-15T17:21:00.456Z\"}}",
	  LEGACY_PARTIAL, 0, NULL },
	{ "amend derived: filled completely", R_AMEND,
	  "{\"order_id\":\"o1\",\"fill_count\":\"10.00\",\"remaining_count\":\"0.00\"}", LREQ,
	  "{\"ticker\":\"KXT-1\",\"side\":\"ask\",\"price\":\"0.5600\",\"count\":\"10.00\"}",
	  NULL, GET_ORDER,
	  "{\"old_order\":" GET_ORDER_DIR ",\"order\":{\"order_id\":\"o1\",\"user_id\":\"u\","
	  "\"client_order_id\":\"c-1\",\"ticker\":\"KXT-1\",\"outcome_side\":\"no\","
	  "\"book_side\":\"ask\",\"type\":\"limit\",\"status\":\"executed\","
	  "\"yes_price_dollars\":\"0.5600\",\"no_price_dollars\":\"0.4400\","
	  "\"fill_count_fp\":\"10.00\",\"remaining_count_fp\":\"0.00\","
	  "\"initial_count_fp\":\"10.00\",\"maker_fill_cost_dollars\":\"0.0000\","
	  "\"maker_fees_dollars\":\"0.0000\",\"side\":\"no\",\"action\":\"buy\"}}",
	  LEGACY_PARTIAL, 0, NULL },
	{ "amend derived: unreadable answer and before", R_AMEND,
	  "{\"order_id\":\"o1\",\"fill_count\":\"?\",\"remaining_count\":\"?\"}", NULL,
	  "{\"price\":\"2\"}", NULL,
	  "{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.5000\",\"no_price_dollars\":\"0.5000\","
	  "\"status\":\"resting\",\"fill_count_fp\":\"1.00\",\"remaining_count_fp\":\"1.00\","
	  "\"initial_count_fp\":\"2.00\",\"taker_fees_dollars\":\"0.0100\",\"yes_price\":50}",
	  "{\"old_order\":{\"order_id\":\"o1\",\"yes_price_dollars\":\"0.5000\","
	  "\"no_price_dollars\":\"0.5000\",\"status\":\"resting\",\"fill_count_fp\":\"1.00\","
	  "\"remaining_count_fp\":\"1.00\",\"initial_count_fp\":\"2.00\","
	  "\"taker_fees_dollars\":\"0.0100\",\"yes_price\":50},\"order\":{\"order_id\":\"o1\"}}",
	  LEGACY_PARTIAL, 0, NULL },
	{ "amend with nothing, id from the sent body", R_AMEND, "{\"order_id\":\"o1\"}", NULL,
	  "{\"updated_client_order_id\":\"c-3\"}", NULL, NULL,
	  "{\"order\":{\"order_id\":\"o1\",\"client_order_id\":\"c-3\"}}", LEGACY_PARTIAL, 0,
	  NULL },
	{ "amend with nothing", R_AMEND, "{\"order_id\":\"o1\",\"client_order_id\":\"c-9\"}", NULL,
	  NULL, NULL, NULL, "{\"order\":{\"order_id\":\"o1\",\"client_order_id\":\"c-9\"}}",
	  LEGACY_PARTIAL, 0, NULL },
	{ "amend soft rejection", R_AMEND, "{\"ts_ms\":1}", NULL, NULL, NULL, NULL, NULL, 0, 502,
	  "upstream_bad_reply" },
	/* decrease */
	{ "decrease with GET", R_DECREASE,
	  "{\"order_id\":\"o1\",\"remaining_count\":\"10.00\",\"ts_ms\":1}", NULL, NULL,
	  "{\"order\":" GET_ORDER "}", NULL, "{\"order\":" GET_ORDER "}", 0, 0, NULL },
	{ "decrease no GET", R_DECREASE,
	  "{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"remaining_count\":\"4.00\","
	  "\"ts_ms\":0}", NULL, NULL, NULL, NULL,
	  "{\"order\":{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"status\":\"resting\","
	  "\"remaining_count_fp\":\"4.00\",\"last_update_time\":\"1970-01-01T00:00:00.000Z\"}}",
	  LEGACY_PARTIAL, 0, NULL },
	{ "decrease to zero, no GET: status unknown", R_DECREASE,
	  "{\"order_id\":\"o1\",\"remaining_count\":\"0.00\"}", NULL, NULL, NULL, NULL,
	  "{\"order\":{\"order_id\":\"o1\",\"remaining_count_fp\":\"0.00\"}}", LEGACY_PARTIAL, 0,
	  NULL },
	{ "decrease soft rejection", R_DECREASE, "{\"order_id\":\"\"}", NULL, NULL, NULL, NULL,
	  NULL, 0, 502, "upstream_bad_reply" },
};

static void test_replies(void **state)
{
	struct legacy_err err;
	json_t *reply, *legacy, *sent, *get, *before, *out;
	unsigned flags;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];
		int rc = -1;

		reply = js(c->reply);
		legacy = c->legacy != NULL ? js(c->legacy) : NULL;
		sent = c->sent != NULL ? js(c->sent) : NULL;
		get = c->get != NULL ? js(c->get) : NULL;
		before = c->before != NULL ? js(c->before) : NULL;
		out = NULL;
		flags = 77;
		memset(&err, 0, sizeof(err));
		switch (c->kind) {
		case R_CREATE:
			rc = legacy_create_reply(reply, legacy, sent, get, &out, &flags, &err);
			break;
		case R_BATCH_CREATE:
			rc = legacy_batch_create_reply(reply, legacy, sent, get, &out, &flags, &err);
			break;
		case R_CANCEL:
			rc = legacy_cancel_reply(reply, get, &out, &flags, &err);
			break;
		case R_BATCH_CANCEL:
			rc = legacy_batch_cancel_reply(reply, sent, get, &out, &flags, &err);
			break;
		case R_AMEND:
			rc = legacy_amend_reply(reply, legacy, sent, before, get, &out, &flags, &err);
			break;
		case R_DECREASE:
			rc = legacy_decrease_reply(reply, get, &out, &flags, &err);
			break;
		}
		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: failed: %d %s %s", c->name, err.status, err.code,
					 err.message);
			assert_json(c->name, out, c->want);
			if (flags != c->flags)
				fail_msg("%s: flags %u, want %u", c->name, flags, c->flags);
			json_decref(out);
		} else {
			if (rc == 0)
				fail_msg("%s: translated, want an error", c->name);
			assert_null(out);
			assert_int_equal(flags, 77);
			if (err.status != c->status || strcmp(err.code, c->code) != 0)
				fail_msg("%s: got %d %s, want %d %s", c->name, err.status, err.code,
					 c->status, c->code);
			assert_int_equal(err.outcome_unknown, c->status == 502);
			assert_true(err.message[0] != '\0');
		}
		json_decref(reply);
		json_decref(legacy);
		json_decref(sent);
		json_decref(get);
		json_decref(before);
	}
}

/* ---- round trip: a translated create describes itself back ------------ */

/* Translating a legacy order and then a V2 answer for it gives back the
 * same direction and price the bot asked for, for every direction. */
static void test_round_trip(void **state)
{
	static const char *const sides[] = { "yes", "no" }, *const actions[] = { "buy", "sell" };
	struct legacy_err err;
	char in[256];
	json_t *req, *sent, *reply, *out, *o;
	int64_t bmc, p;
	unsigned flags;
	size_t s, a;

	(void)state;
	for (s = 0; s < 2; s++) {
		for (a = 0; a < 2; a++) {
			snprintf(in, sizeof(in), "{\"ticker\":\"T\",\"side\":\"%s\",\"action\":\"%s\","
				 "\"count_fp\":\"1.25\",\"no_price_dollars\":\"0.3100\","
				 "\"client_order_id\":\"c\"}", sides[s], actions[a]);
			req = js(in);
			assert_int_equal(legacy_create_to_v2(req, "maker", &sent, &bmc, &err), 0);
			reply = js(REPLY("0.00", "1.25"));
			assert_int_equal(legacy_create_reply(reply, req, sent, NULL, &out, &flags,
							     &err), 0);
			o = json_object_get(out, "order");
			assert_string_equal(json_string_value(json_object_get(o, "side")), sides[s]);
			assert_string_equal(json_string_value(json_object_get(o, "action")),
					    actions[a]);
			p = -1;
			assert_int_equal(fixed_parse_dollars(json_string_value(json_object_get(o,
				"no_price_dollars")), 6, &p), 0);
			assert_int_equal(p, 3100);
			assert_string_equal(json_string_value(json_object_get(o, "initial_count_fp")),
					    "1.25");
			json_decref(out);
			json_decref(reply);
			json_decref(sent);
			json_decref(req);
		}
	}
}


/* ---- out of memory ---------------------------------------------------- */

/* jansson allocator that fails the oom_fail_at-th allocation (1-based) from
 * when it is armed; counts allocations in oom_count. Test-only state. */
static long oom_count, oom_fail_at;

static void *oom_malloc(size_t n)
{
	if (oom_fail_at > 0 && ++oom_count == oom_fail_at)
		return NULL;
	return malloc(n);
}

/* Runs translator `which` once over fixed inputs. Returns its result;
 * *status is the error status on failure. Releases what it made. */
static int oom_run(int which, const json_t *a, const json_t *b, const json_t *c, int *status)
{
	struct legacy_err err;
	json_t *out = NULL;
	int64_t bmc;
	unsigned flags;
	int sub, rc = -1;

	memset(&err, 0, sizeof(err));
	switch (which) {
	case 0: rc = legacy_create_to_v2(a, "maker", &out, &bmc, &err); break;
	case 1: rc = legacy_batch_create_to_v2(a, NULL, &out, &err); break;
	case 2: rc = legacy_amend_to_v2(a, b, &out, &sub, &err); break;
	case 3: rc = legacy_decrease_to_v2(a, &out, &sub, &err); break;
	case 4: rc = legacy_batch_cancel_to_v2(a, &out, &err); break;
	case 5: rc = legacy_create_reply(a, b, c, NULL, &out, &flags, &err); break;
	case 6: rc = legacy_create_reply(a, b, c, a, &out, &flags, &err); break;
	case 7: rc = legacy_batch_create_reply(a, b, c, NULL, &out, &flags, &err); break;
	case 8: rc = legacy_cancel_reply(a, NULL, &out, &flags, &err); break;
	case 9: rc = legacy_batch_cancel_reply(a, NULL, b, &out, &flags, &err); break;
	case 10: rc = legacy_amend_reply(a, NULL, c, b, NULL, &out, &flags, &err); break;
	case 11: rc = legacy_amend_reply(a, NULL, c, b, b, &out, &flags, &err); break;
	case 12: rc = legacy_decrease_reply(a, NULL, &out, &flags, &err); break;
	case 13: rc = legacy_batch_cancel_to_v2(b, &out, &err); break;
	}
	*status = err.status;
	if (rc != 0)
		assert_null(out);
	json_decref(out);
	return rc;
}

/* Fails each allocation in turn: every translator either succeeds or
 * answers 500 internal_error with nothing returned, and never leaks
 * (AddressSanitizer's leak check runs at exit). */
static void test_out_of_memory(void **state)
{
	static const struct {
		const char *a, *b, *c;
	} in[] = {
		{ "{" BASE ",\"count\":2,\"yes_price\":30,\"client_order_id\":\"c-1\","
		  "\"expiration_ts\":1,\"post_only\":true,\"subaccount\":2,\"order_group_id\":\"G\","
		  "\"exchange_index\":0}", NULL, NULL },
		{ "{\"orders\":[" L1 "," L2 "]}", NULL, NULL },
		{ "{" BASE ",\"client_order_id\":\"a\",\"updated_client_order_id\":\"b\","
		  "\"exchange_index\":0}", CUR, NULL },
		{ "{\"reduce_by_fp\":\"1\",\"exchange_index\":0}", NULL, NULL },
		{ "{\"orders\":[{\"order_id\":\"o1\",\"subaccount\":2},{\"order_id\":\"o2\"}]}",
		  NULL, NULL },
		{ REPLY("1.00", "9.00"), LREQ, SENT },
		{ "{\"order_id\":\"o1\",\"order\":" GET_ORDER "}", LREQ, SENT },
		{ "{\"orders\":[{\"order_id\":\"o1\",\"client_order_id\":\"c-1\",\"fill_count\":"
		  "\"0.00\",\"remaining_count\":\"10.00\",\"ts_ms\":1},{\"client_order_id\":\"c-2\"},"
		  "{\"error\":{\"code\":\"x\"}}]}", "{\"orders\":[" LREQ "]}", "{\"orders\":[" SENT "]}" },
		{ "{\"order_id\":\"o1\",\"client_order_id\":\"c\",\"reduced_by\":\"1\",\"ts_ms\":1}",
		  NULL, NULL },
		{ "{\"orders\":[{\"order_id\":\"o1\",\"reduced_by\":\"1\"},{\"error\":{}},{}]}",
		  "{\"o1\":" GET_ORDER "}", NULL },
		{ "{\"order_id\":\"o1\",\"fill_count\":\"1.00\",\"remaining_count\":\"9.00\",\"ts_ms\":1}",
		  GET_ORDER, "{\"price\":\"0.6000\",\"count\":\"12.00\",\"updated_client_order_id\":\"u\"}" },
		{ "{\"order_id\":\"o1\",\"ts_ms\":1}", GET_ORDER, "{\"price\":\"0.6000\"}" },
		{ "{\"order_id\":\"o1\",\"client_order_id\":\"c\",\"remaining_count\":\"1\",\"ts_ms\":1}",
		  NULL, NULL },
		{ "{}", "{\"ids\":[\"o1\",\"o2\"]}", NULL },
	};
	size_t w;

	(void)state;
	for (w = 0; w < sizeof(in) / sizeof(in[0]); w++) {
		json_t *a = js(in[w].a);
		json_t *b = in[w].b != NULL ? js(in[w].b) : NULL;
		json_t *c = in[w].c != NULL ? js(in[w].c) : NULL;
		int status, failures = 0;
		long k;

		for (k = 1; k < 10000; k++) {
			int rc;

			oom_count = 0;
			oom_fail_at = k;
			json_set_alloc_funcs(oom_malloc, free);
			rc = oom_run((int)w, a, b, c, &status);
			json_set_alloc_funcs(malloc, free);
			if (rc != 0) {
				if (status != 500)
					fail_msg("translator %zu, allocation %ld: status %d", w, k, status);
				failures++;
			}
			if (oom_count < k)
				break;   /* the k-th allocation never happened: all covered */
		}
		oom_fail_at = 0;
		assert_true(failures > 0);
		assert_int_equal(oom_run((int)w, a, b, c, &status), 0);
		json_decref(a);
		json_decref(b);
		json_decref(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_directions),
		cmocka_unit_test(test_create_cases),
		cmocka_unit_test(test_create_bad_default),
		cmocka_unit_test(test_batch_create),
		cmocka_unit_test(test_batch_cancel),
		cmocka_unit_test(test_amend),
		cmocka_unit_test(test_decrease),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
