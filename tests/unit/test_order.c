/*
 * Unit tests for policy/order: strict parsing and rewriting of order-create
 * bodies, table by table, plus the cases that need generated input (deep
 * nesting, big batches) and order_check_strict.
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

#include "policy/order.h"

/* Deterministic client_order_id generator: "coid-1", "coid-2", ... counted
 * in the int that ud points to. */
static void test_coid(void *ud, char *buf, size_t cap)
{
	int *n = ud;

	assert_true(cap >= 64);
	snprintf(buf, cap, "coid-%d", ++*n);
}

enum inject_mode {
	INJ_NONE = 0,       /* inj pointer NULL */
	INJ_EMPTY,          /* inj with no group and no generator */
	INJ_GEN,            /* generator only, no group */
	INJ_G1,             /* group "G1", subaccount 0, generator */
	INJ_G1_SUB2,        /* group "G1", subaccount 2, generator */
	INJ_G1_NOGEN        /* group "G1", subaccount 0, no generator */
};

struct order_case {
	const char *name;
	const char *body;
	int batch;
	int legacy;
	enum inject_mode inj;
	enum order_status status;
	long index;
	const char *out;       /* exact rewritten body, or NULL to skip */
	const char *msg;       /* substring of the message, or NULL */
	const char *summary;   /* "coid|ticker|count;..." when OK, or NULL */
	int gen_calls;         /* expected generator calls, -1 to skip */
};

#define V2_ORDER "\"ticker\":\"KXT-1\",\"side\":\"bid\",\"count\":\"10.50\"," \
	"\"price\":\"0.5600\",\"time_in_force\":\"fill_or_kill\"," \
	"\"self_trade_prevention_type\":\"maker\""
#define REAL_MSG "is a JSON number with a fraction or exponent; send it as a string"

static const struct order_case cases[] = {
	/* --- V2 single --- */
	{ "v2 no group injected", "{" V2_ORDER "}", 0, 0, INJ_G1, ORDER_OK, -1,
	  "{" V2_ORDER ",\"order_group_id\":\"G1\",\"subaccount\":0,\"client_order_id\":\"coid-1\"}",
	  NULL, "coid-1|KXT-1|1050", 1 },
	{ "v2 pretty input comes out compact",
	  "{ \"ticker\" : \"T\" ,\n\t\"count\": \"1\" }\n", 0, 0, INJ_G1, ORDER_OK, -1,
	  "{\"ticker\":\"T\",\"count\":\"1\",\"order_group_id\":\"G1\",\"subaccount\":0,"
	  "\"client_order_id\":\"coid-1\"}", NULL, "coid-1|T|100", 1 },
	{ "v2 same group kept in place",
	  "{\"order_group_id\":\"G1\",\"ticker\":\"T\",\"count\":\"1\",\"client_order_id\":\"c1\"}",
	  0, 0, INJ_G1, ORDER_OK, -1,
	  "{\"order_group_id\":\"G1\",\"ticker\":\"T\",\"count\":\"1\",\"client_order_id\":\"c1\","
	  "\"subaccount\":0}", NULL, "c1|T|100", 0 },
	{ "v2 other group refused",
	  "{\"ticker\":\"T\",\"order_group_id\":\"G2\"}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH, -1,
	  NULL, "order names order group 'G2' but the session's group is 'G1'", NULL, 0 },
	{ "v2 empty group string is another group",
	  "{\"order_group_id\":\"\"}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH, -1,
	  NULL, "order group ''", NULL, 0 },
	{ "v2 group differing only in case refused",
	  "{\"order_group_id\":\"g1\"}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH, -1, NULL, NULL, NULL, 0 },
	{ "v2 group with prefix of session group refused",
	  "{\"order_group_id\":\"G\"}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH, -1, NULL, NULL, NULL, 0 },
	{ "v2 subaccount mismatch",
	  "{\"ticker\":\"T\",\"subaccount\":3}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH, -1,
	  NULL, "order names subaccount 3 but the session's subaccount is 0", NULL, 0 },
	{ "v2 same subaccount replaced in place",
	  "{\"subaccount\":2,\"ticker\":\"T\"}", 0, 0, INJ_G1_SUB2, ORDER_OK, -1,
	  "{\"subaccount\":2,\"ticker\":\"T\",\"order_group_id\":\"G1\",\"client_order_id\":\"coid-1\"}",
	  NULL, "coid-1|T|-1", 1 },
	{ "v2 subaccount 0 when session has 2",
	  "{\"subaccount\":0}", 0, 0, INJ_G1_SUB2, ORDER_GROUP_MISMATCH, -1, NULL, NULL, NULL, 0 },
	{ "v2 client_order_id kept",
	  "{\"client_order_id\":\"mine\",\"ticker\":\"T\"}", 0, 0, INJ_G1, ORDER_OK, -1,
	  "{\"client_order_id\":\"mine\",\"ticker\":\"T\",\"order_group_id\":\"G1\",\"subaccount\":0}",
	  NULL, "mine|T|-1", 0 },
	{ "v2 no generator leaves id absent", "{\"ticker\":\"T\"}", 0, 0, INJ_G1_NOGEN, ORDER_OK, -1,
	  "{\"ticker\":\"T\",\"order_group_id\":\"G1\",\"subaccount\":0}", NULL, "|T|-1", 0 },
	{ "v2 generator without group", "{\"ticker\":\"T\"}", 0, 0, INJ_GEN, ORDER_OK, -1,
	  "{\"ticker\":\"T\",\"client_order_id\":\"coid-1\"}", NULL, "coid-1|T|-1", 1 },
	{ "no inject struct: body as is",
	  "{\"order_group_id\":\"X\",\"subaccount\":7,\"ticker\":\"T\"}", 0, 0, INJ_NONE, ORDER_OK, -1,
	  "{\"order_group_id\":\"X\",\"subaccount\":7,\"ticker\":\"T\"}", NULL, "|T|-1", -1 },
	{ "empty inject: body as is", "{\"ticker\":\"T\",\"count\":\"2\"}", 0, 0, INJ_EMPTY, ORDER_OK, -1,
	  "{\"ticker\":\"T\",\"count\":\"2\"}", NULL, "|T|200", 0 },
	{ "key order preserved, unknown keys and values kept",
	  "{\"z\":1,\"a\":{\"nested\":[1,\"x\",true,false,null,{}],\"k\":-0},\"ticker\":\"T\","
	  "\"m\":\"\\u00e9\\\"\\\\/\\n\",\"big\":9223372036854775807,\"neg\":-9223372036854775808,"
	  "\"exchange_index\":-1}",
	  0, 0, INJ_G1, ORDER_OK, -1,
	  "{\"z\":1,\"a\":{\"nested\":[1,\"x\",true,false,null,{}],\"k\":0},\"ticker\":\"T\","
	  "\"m\":\"\xc3\xa9\\\"\\\\/\\n\",\"big\":9223372036854775807,\"neg\":-9223372036854775808,"
	  "\"exchange_index\":-1,\"order_group_id\":\"G1\",\"subaccount\":0,"
	  "\"client_order_id\":\"coid-1\"}", NULL, "coid-1|T|-1", 1 },
	{ "empty object gets everything", "{}", 0, 0, INJ_G1, ORDER_OK, -1,
	  "{\"order_group_id\":\"G1\",\"subaccount\":0,\"client_order_id\":\"coid-1\"}",
	  NULL, "coid-1||-1", 1 },

	/* --- summaries --- */
	{ "v2 count integer not read", "{\"count\":5}", 0, 0, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||-1", -1 },
	{ "v2 count bad string", "{\"count\":\"1.234\"}", 0, 0, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||-1", -1 },
	{ "v2 ticker not a string", "{\"ticker\":5,\"count\":\"0.01\"}", 0, 0, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||1", -1 },
	{ "legacy count 3", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":3,"
	  "\"yes_price\":56}", 0, 1, INJ_G1, ORDER_OK, -1,
	  "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":3,\"yes_price\":56,"
	  "\"order_group_id\":\"G1\",\"subaccount\":0,\"client_order_id\":\"coid-1\"}",
	  NULL, "coid-1|T|300", 1 },
	{ "legacy count_fp 2.5", "{\"count_fp\":\"2.5\"}", 0, 1, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||250", -1 },
	{ "legacy count and count_fp agreeing", "{\"count\":3,\"count_fp\":\"3.00\"}", 0, 1,
	  INJ_NONE, ORDER_OK, -1, NULL, NULL, "||300", -1 },
	{ "legacy count and count_fp disagreeing", "{\"count\":3,\"count_fp\":\"4\"}", 0, 1,
	  INJ_NONE, ORDER_OK, -1, NULL, NULL, "||-1", -1 },
	{ "legacy count string not read", "{\"count\":\"3\"}", 0, 1, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||-1", -1 },
	{ "legacy negative count not read", "{\"count\":-3}", 0, 1, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||-1", -1 },
	{ "legacy huge count not read", "{\"count\":9223372036854775807}", 0, 1, INJ_NONE,
	  ORDER_OK, -1, NULL, NULL, "||-1", -1 },
	{ "legacy count_fp bad", "{\"count_fp\":\"-1\"}", 0, 1, INJ_NONE, ORDER_OK, -1,
	  NULL, NULL, "||-1", -1 },

	/* --- batches --- */
	{ "v2 batch each injected",
	  "{\"orders\":[{\"ticker\":\"A\",\"count\":\"1\"},{\"ticker\":\"B\",\"count\":\"2.5\","
	  "\"client_order_id\":\"b\"},{\"ticker\":\"C\",\"order_group_id\":\"G1\"}],\"extra\":[1]}",
	  1, 0, INJ_G1, ORDER_OK, -1,
	  "{\"orders\":[{\"ticker\":\"A\",\"count\":\"1\",\"order_group_id\":\"G1\",\"subaccount\":0,"
	  "\"client_order_id\":\"coid-1\"},{\"ticker\":\"B\",\"count\":\"2.5\",\"client_order_id\":\"b\","
	  "\"order_group_id\":\"G1\",\"subaccount\":0},{\"ticker\":\"C\",\"order_group_id\":\"G1\","
	  "\"subaccount\":0,\"client_order_id\":\"coid-2\"}],\"extra\":[1]}",
	  NULL, "coid-1|A|100;b|B|250;coid-2|C|-1", 2 },
	{ "v2 batch mismatch at index 2",
	  "{\"orders\":[{\"ticker\":\"A\"},{\"ticker\":\"B\"},{\"ticker\":\"C\",\"order_group_id\":\"G9\"}]}",
	  1, 0, INJ_G1, ORDER_GROUP_MISMATCH, 2, NULL, "'G9'", NULL, -1 },
	{ "v2 batch subaccount mismatch at index 1",
	  "{\"orders\":[{},{\"subaccount\":1}]}", 1, 0, INJ_G1, ORDER_GROUP_MISMATCH, 1,
	  NULL, "subaccount 1", NULL, -1 },
	{ "legacy batch", "{\"orders\":[{\"ticker\":\"A\",\"count\":2},{\"ticker\":\"B\","
	  "\"count_fp\":\"2.5\"}]}", 1, 1, INJ_G1, ORDER_OK, -1,
	  "{\"orders\":[{\"ticker\":\"A\",\"count\":2,\"order_group_id\":\"G1\",\"subaccount\":0,"
	  "\"client_order_id\":\"coid-1\"},{\"ticker\":\"B\",\"count_fp\":\"2.5\","
	  "\"order_group_id\":\"G1\",\"subaccount\":0,\"client_order_id\":\"coid-2\"}]}",
	  NULL, "coid-1|A|200;coid-2|B|250", 2 },
	{ "batch orders missing", "{\"order\":[{}]}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'orders' is missing", NULL, 0 },
	{ "batch orders not an array", "{\"orders\":{}}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'orders' is not an array", NULL, 0 },
	{ "batch orders empty", "{\"orders\":[]}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'orders' is empty", NULL, 0 },
	{ "batch element not an object", "{\"orders\":[{},[]]}", 1, 0, INJ_G1, ORDER_INVALID, 1,
	  NULL, "order is not a JSON object", NULL, -1 },
	{ "batch element null", "{\"orders\":[null]}", 1, 0, INJ_G1, ORDER_INVALID, 0,
	  NULL, "order is not a JSON object", NULL, 0 },
	{ "batch top-level array", "[{}]", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "body is not a JSON object", NULL, 0 },
	{ "batch real inside element 1",
	  "{\"orders\":[{\"count\":\"1\"},{\"price\":0.5}]}", 1, 0, INJ_G1, ORDER_INVALID, 1,
	  NULL, "'price' " REAL_MSG, NULL, 0 },
	{ "batch real at top level", "{\"orders\":[{}],\"x\":1.0}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'x' " REAL_MSG, NULL, 0 },
	{ "batch bad coid at index 0", "{\"orders\":[{\"client_order_id\":1}]}", 1, 0, INJ_G1,
	  ORDER_INVALID, 0, NULL, "'client_order_id' must be a non-empty string", NULL, 0 },

	/* --- strictness --- */
	{ "duplicate group key", "{\"order_group_id\":\"A\",\"order_group_id\":\"B\"}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, NULL, "duplicate key 'order_group_id'", NULL, 0 },
	{ "duplicate group key, same value", "{\"order_group_id\":\"G1\",\"order_group_id\":\"G1\"}",
	  0, 0, INJ_G1, ORDER_INVALID, -1, NULL, "duplicate key 'order_group_id'", NULL, 0 },
	{ "duplicate key with escapes", "{\"a\\\"b\\\\\":1, \"a\\\"b\\\\\" :2}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, NULL, "duplicate key 'a\"b\\'", NULL, 0 },
	{ "duplicate key spelled differently", "{\"ab\":1,\"a\\u0062\":2}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, NULL, "duplicate key 'ab'", NULL, 0 },
	{ "duplicate key nested in batch", "{\"orders\":[{\"count\":\"1\",\"count\":\"9\"}]}", 1, 0,
	  INJ_G1, ORDER_INVALID, -1, NULL, "duplicate key 'count'", NULL, 0 },
	{ "duplicate long non-ascii key",
	  "{\"\xc3\xa9xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":1,"
	  "\"\xc3\xa9xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":1}",
	  0, 0, INJ_G1, ORDER_INVALID, -1, NULL, "duplicate key '??xxxx", NULL, 0 },
	{ "real count", "{\"count\": 1.5}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'count' " REAL_MSG, NULL, 0 },
	{ "exponent count", "{\"count\":1e3}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'count' " REAL_MSG, NULL, 0 },
	{ "real 2.0 in a nested array", "{\"x\":{\"y\":[1,2.0]}}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'y' " REAL_MSG, NULL, 0 },
	{ "real in legacy", "{\"yes_price\":56.0}", 0, 1, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'yes_price' " REAL_MSG, NULL, 0 },
	{ "top-level real", "1.5", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "body holds a JSON number", NULL, 0 },
	{ "20-digit integer", "{\"count\":12345678901234567890}", 0, 1, INJ_G1, ORDER_INVALID_JSON,
	  -1, NULL, "body is not valid JSON: too big integer", NULL, 0 },
	{ "huge real", "{\"count\":1e400}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, "body is not valid JSON: ", NULL, 0 },
	{ "invalid utf-8 in a string", "{\"ticker\":\"\xff\"}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, "body is not valid JSON: ", NULL, 0 },
	{ "overlong utf-8", "{\"ticker\":\"\xc0\xaf\"}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, NULL, NULL, 0 },
	{ "utf-16 surrogate", "{\"ticker\":\"\\ud800\"}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, NULL, NULL, 0 },
	{ "escaped nul", "{\"ticker\":\"a\\u0000b\"}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, NULL, NULL, 0 },
	{ "trailing garbage", "{\"ticker\":\"T\"} x", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, "line 1 column", NULL, 0 },
	{ "two objects", "{}{}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL, NULL, 0 },
	{ "trailing whitespace is fine", "{\"ticker\":\"T\"}\r\n\t ", 0, 0, INJ_G1_NOGEN, ORDER_OK,
	  -1, "{\"ticker\":\"T\",\"order_group_id\":\"G1\",\"subaccount\":0}", NULL, NULL, 0 },
	{ "truncated", "{\"ticker\":", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL, NULL, 0 },
	{ "leading zero", "{\"count\":01}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL, NULL, 0 },
	{ "single quotes", "{'a':1}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL, NULL, 0 },
	{ "empty body", "", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, "body is empty", NULL, 0 },
	{ "whitespace body", "  \n", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, "body is not valid JSON", NULL, 0 },
	{ "top-level array", "[{}]", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "body is not a JSON object", NULL, 0 },
	{ "top-level string", "\"x\"", 0, 0, INJ_G1, ORDER_INVALID, -1, NULL, NULL, NULL, 0 },
	{ "top-level null", "null", 0, 0, INJ_G1, ORDER_INVALID, -1, NULL, NULL, NULL, 0 },
	{ "top-level integer", "1", 0, 0, INJ_G1, ORDER_INVALID, -1, NULL, NULL, NULL, 0 },
	{ "client_order_id integer", "{\"client_order_id\":5}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'client_order_id' must be a non-empty string", NULL, 0 },
	{ "client_order_id empty", "{\"client_order_id\":\"\"}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'client_order_id' must be a non-empty string", NULL, 0 },
	{ "client_order_id null", "{\"client_order_id\":null}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, NULL, NULL, 0 },
	{ "client_order_id checked without a session", "{\"client_order_id\":[]}", 0, 0, INJ_NONE,
	  ORDER_INVALID, -1, NULL, NULL, NULL, -1 },
	{ "order_group_id not a string", "{\"order_group_id\":1}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'order_group_id' must be a string", NULL, 0 },
	{ "order_group_id null", "{\"order_group_id\":null}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, NULL, NULL, 0 },
	{ "subaccount a string", "{\"subaccount\":\"0\"}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  NULL, "'subaccount' must be an integer", NULL, 0 },
	{ "hostile group id is quoted safely",
	  "{\"order_group_id\":\"\\u00e9\\n'\\u001b\"}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH, -1,
	  NULL, "order group '??\?'?'", NULL, 0 },
};

/* Fills *inj for a mode and returns it, or NULL for INJ_NONE. */
static const struct order_inject *make_inject(enum inject_mode mode, struct order_inject *inj,
					      int *calls)
{
	memset(inj, 0, sizeof(*inj));
	inj->ud = calls;
	switch (mode) {
	case INJ_NONE:
		return NULL;
	case INJ_EMPTY:
		break;
	case INJ_GEN:
		inj->new_client_order_id = test_coid;
		break;
	case INJ_G1:
	case INJ_G1_SUB2:
		inj->new_client_order_id = test_coid;
		inj->order_group_id = "G1";
		inj->subaccount = mode == INJ_G1_SUB2 ? 2 : 0;
		break;
	case INJ_G1_NOGEN:
		inj->order_group_id = "G1";
		break;
	}
	return inj;
}

/* Writes the summaries as "coid|ticker|count;..." into buf. */
static void format_summary(const struct order_result *res, char *buf, size_t cap)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < res->order_count && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s|%s|%lld", i ? ";" : "",
				      res->orders[i].client_order_id, res->orders[i].ticker,
				      (long long)res->orders[i].count);
}

/* Checks that a message is lower-case-led printable ASCII. */
static void check_message(const char *name, const char *msg)
{
	size_t i;

	if (msg[0] == '\0' || (msg[0] >= 'A' && msg[0] <= 'Z'))
		fail_msg("%s: message '%s' is empty or capitalised", name, msg);
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
			fail_msg("%s: message has byte 0x%02x", name, (unsigned char)msg[i]);
}

/* Runs one row; the body is copied into an exact-size heap buffer so any
 * read past len is caught by the sanitizer. */
static void run_case(const struct order_case *c)
{
	struct order_inject injs;
	const struct order_inject *inj;
	struct order_result res;
	size_t len = strlen(c->body);
	char *body = malloc(len ? len : 1);
	char summary[1024];
	int calls = 0;

	assert_non_null(body);
	memcpy(body, c->body, len);
	inj = make_inject(c->inj, &injs, &calls);
	order_rewrite(body, len, c->batch, c->legacy, inj, &res);

	if (res.status != c->status || res.index != c->index)
		fail_msg("%s: status %d index %ld (want %d %ld): %s", c->name, (int)res.status,
			 res.index, (int)c->status, c->index, res.message);
	if (c->msg != NULL && strstr(res.message, c->msg) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", c->name, res.message, c->msg);
	if (c->gen_calls >= 0 && calls != c->gen_calls)
		fail_msg("%s: generator called %d times, want %d", c->name, calls, c->gen_calls);
	if (res.status == ORDER_OK) {
		assert_string_equal(res.message, "");
		assert_non_null(res.body);
		assert_int_equal(res.body_len, strlen(res.body));
		if (c->out != NULL && strcmp(res.body, c->out) != 0)
			fail_msg("%s:\n got  %s\n want %s", c->name, res.body, c->out);
		if (c->summary != NULL) {
			format_summary(&res, summary, sizeof(summary));
			if (strcmp(summary, c->summary) != 0)
				fail_msg("%s: summary '%s', want '%s'", c->name, summary, c->summary);
		}
	} else {
		check_message(c->name, res.message);
		assert_null(res.body);
		assert_null(res.orders);
		assert_int_equal(res.order_count, 0);
	}
	order_result_release(&res);
	assert_null(res.body);
	free(body);
}

/* Runs every row of the table. */
static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Runs order_rewrite (single, V2, group G1) on a generated body and returns
 * the status; *msg gets the message. */
static enum order_status rewrite_status(const char *body, size_t len, int batch, char *msg,
					size_t cap)
{
	struct order_inject inj = { "G1", 0, NULL, NULL };
	struct order_result res;
	enum order_status st;

	order_rewrite(body, len, batch, 0, &inj, &res);
	st = res.status;
	snprintf(msg, cap, "%s", res.message);
	order_result_release(&res);
	return st;
}

/* Builds {"a": [[[...]]]} with `arrays` nested arrays (depth arrays + 1). */
static char *nested_body(size_t arrays, size_t *len)
{
	char *b = malloc(arrays * 2 + 8);
	size_t n = 0, i;

	assert_non_null(b);
	memcpy(b + n, "{\"a\":", 5);
	n += 5;
	for (i = 0; i < arrays; i++)
		b[n++] = '[';
	for (i = 0; i < arrays; i++)
		b[n++] = ']';
	b[n++] = '}';
	*len = n;
	return b;
}

/* Depth 64 is accepted, 65 refused, and far deeper input (past jansson's
 * own limit, or 100000 unclosed '[') is refused without a crash. */
static void test_depth(void **state)
{
	char msg[256];
	size_t len, i;
	char *b;

	(void)state;
	b = nested_body(63, &len);
	assert_int_equal(rewrite_status(b, len, 0, msg, sizeof(msg)), ORDER_OK);
	assert_int_equal(order_check_strict(b, len, msg, sizeof(msg)), ORDER_OK);
	free(b);

	b = nested_body(64, &len);
	assert_int_equal(rewrite_status(b, len, 0, msg, sizeof(msg)), ORDER_INVALID);
	assert_non_null(strstr(msg, "deeper than 64"));
	assert_int_equal(order_check_strict(b, len, msg, sizeof(msg)), ORDER_INVALID);
	free(b);

	b = nested_body(5000, &len);
	assert_int_equal(rewrite_status(b, len, 0, msg, sizeof(msg)), ORDER_INVALID);
	free(b);

	len = 100000;
	b = malloc(len);
	assert_non_null(b);
	for (i = 0; i < len; i++)
		b[i] = '[';
	assert_int_equal(rewrite_status(b, len, 0, msg, sizeof(msg)), ORDER_INVALID);
	assert_non_null(strstr(msg, "deeper than 64"));
	assert_int_equal(rewrite_status(b, len, 1, msg, sizeof(msg)), ORDER_INVALID);
	assert_int_equal(order_check_strict(b, len, msg, sizeof(msg)), ORDER_INVALID);
	for (i = 0; i < len; i++)
		b[i] = i % 2 ? '[' : '{';
	assert_int_not_equal(rewrite_status(b, len, 0, msg, sizeof(msg)), ORDER_OK);
	free(b);
}

/* Builds a batch body of n empty orders. */
static char *batch_body(size_t n, size_t *len)
{
	char *b = malloc(n * 3 + 16);
	size_t k = 0, i;

	assert_non_null(b);
	memcpy(b, "{\"orders\":[", 11);
	k = 11;
	for (i = 0; i < n; i++) {
		if (i)
			b[k++] = ',';
		b[k++] = '{';
		b[k++] = '}';
	}
	b[k++] = ']';
	b[k++] = '}';
	*len = k;
	return b;
}

/* A batch of 1000 orders is accepted, 1001 refused. */
static void test_batch_size(void **state)
{
	struct order_inject inj = { "G1", 0, NULL, NULL };
	struct order_result res;
	char msg[256];
	size_t len;
	char *b;

	(void)state;
	b = batch_body(1000, &len);
	order_rewrite(b, len, 1, 0, &inj, &res);
	assert_int_equal(res.status, ORDER_OK);
	assert_int_equal(res.order_count, 1000);
	assert_int_equal(res.orders[999].count, -1);
	order_result_release(&res);
	free(b);

	b = batch_body(1001, &len);
	assert_int_equal(rewrite_status(b, len, 1, msg, sizeof(msg)), ORDER_INVALID);
	assert_non_null(strstr(msg, "more than 1000"));
	free(b);
}

/* Long client_order_id and ticker are cut in the summary at a UTF-8
 * character boundary; the body keeps them whole. */
static void test_summary_truncation(void **state)
{
	struct order_result res;
	char body[512];
	char coid[201], ticker[201];
	size_t i;

	(void)state;
	for (i = 0; i < 200; i++)
		coid[i] = 'c';
	coid[200] = '\0';
	/* 100 two-byte characters: byte 126 starts a character and byte 127
	 * is its continuation, so the cut must back up to 126. */
	for (i = 0; i < 200; i += 2) {
		ticker[i] = '\xc3';
		ticker[i + 1] = '\xa9';
	}
	ticker[200] = '\0';
	snprintf(body, sizeof(body), "{\"client_order_id\":\"%s\",\"ticker\":\"%s\"}", coid, ticker);
	order_rewrite(body, strlen(body), 0, 0, NULL, &res);
	assert_int_equal(res.status, ORDER_OK);
	assert_int_equal(strlen(res.orders[0].client_order_id), 127);
	assert_int_equal(strlen(res.orders[0].ticker), 126);
	assert_memory_equal(res.orders[0].ticker, ticker, 126);
	assert_string_equal(res.body, body);
	order_result_release(&res);
}

/* order_check_strict: the same parse and walk, no rewrite. */
static void test_check_strict(void **state)
{
	static const struct {
		const char *body;
		enum order_status want;
		const char *msg;
	} rows[] = {
		{ "{\"count\":\"5\"}", ORDER_OK, "" },
		{ "{\"reduce_by\":\"1.00\",\"subaccount\":3}", ORDER_OK, "" },
		{ "{\"orders\":[{\"order_id\":\"o1\"}]}", ORDER_OK, "" },
		{ "{\"count\":\"5\",\"count\":\"6\"}", ORDER_INVALID, "duplicate key 'count'" },
		{ "{\"count\":5.0}", ORDER_INVALID, "'count' " REAL_MSG },
		{ "{\"a\":[0.1]}", ORDER_INVALID, "'a' " REAL_MSG },
		{ "[]", ORDER_INVALID, "body is not a JSON object" },
		{ "", ORDER_INVALID_JSON, "body is empty" },
		{ "{", ORDER_INVALID_JSON, "body is not valid JSON: " },
		{ "{} {", ORDER_INVALID_JSON, "body is not valid JSON: " },
	};
	char msg[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(msg, 'x', sizeof(msg));
		if (order_check_strict(rows[i].body, strlen(rows[i].body), msg, sizeof(msg)) !=
		    rows[i].want)
			fail_msg("row %zu (%s): wrong status, message '%s'", i, rows[i].body, msg);
		if (rows[i].msg[0] == '\0')
			assert_string_equal(msg, "");
		else if (strstr(msg, rows[i].msg) == NULL)
			fail_msg("row %zu: message '%s' lacks '%s'", i, msg, rows[i].msg);
	}
	/* No message buffer at all, and a tiny one (truncated, terminated). */
	assert_int_equal(order_check_strict("{}", 2, NULL, 0), ORDER_OK);
	assert_int_equal(order_check_strict("[]", 2, msg, 5), ORDER_INVALID);
	assert_string_equal(msg, "body");
	assert_int_equal(order_check_strict(NULL, 0, NULL, 0), ORDER_INVALID_JSON);
}

/* The rewritten body parses again strictly and every order carries the
 * group; releasing twice and releasing NULL are harmless. */
static void test_output_reparses(void **state)
{
	static const char body[] = "{\"orders\":[{\"order_group_id\":\"G1\"},{\"ticker\":\"x\"}]}";
	struct order_inject inj = { "G1", 5, NULL, NULL };
	struct order_result res;
	json_error_t err;
	json_t *root, *o;
	size_t i;

	(void)state;
	order_rewrite(body, strlen(body), 1, 0, &inj, &res);
	assert_int_equal(res.status, ORDER_OK);
	root = json_loadb(res.body, res.body_len, JSON_REJECT_DUPLICATES, &err);
	assert_non_null(root);
	json_array_foreach(json_object_get(root, "orders"), i, o) {
		assert_string_equal(json_string_value(json_object_get(o, "order_group_id")), "G1");
		assert_int_equal(json_integer_value(json_object_get(o, "subaccount")), 5);
	}
	json_decref(root);
	order_result_release(&res);
	order_result_release(&res);
	order_result_release(NULL);
}

/* --- order_rewrite_norm against the two-step path --- */

/* One row: a body run through order_rewrite_norm and through the older
 * order_rewrite + normalize_body(rewritten body). want/msg pin what both
 * must say, so a row cannot pass by both paths going wrong alike. */
struct norm_case {
	const char *name;
	const char *body;
	int batch;
	int legacy;
	enum inject_mode inj;
	enum order_status want;
	long index;
	const char *msg;       /* substring of the message when want != OK, or NULL */
	const char *coids;     /* "a;b;..." client_order_ids when OK, or NULL */
};

#define LG_ORDER "\"ticker\":\"KXT-1\",\"side\":\"yes\",\"action\":\"buy\",\"count\":3," \
	"\"yes_price\":56"
#define V2_MIN "\"ticker\":\"T\",\"side\":\"ask\",\"count\":\"1\",\"price\":\"0.01\""

static const struct norm_case norm_cases[] = {
	/* good singles */
	{ "v2 single", "{" V2_ORDER "}", 0, 0, INJ_G1, ORDER_OK, -1, NULL, "coid-1" },
	{ "v2 single own id", "{\"client_order_id\":\"mine\"," V2_MIN "}", 0, 0, INJ_G1,
	  ORDER_OK, -1, NULL, "mine" },
	{ "v2 single same group, subaccount 2",
	  "{" V2_MIN ",\"order_group_id\":\"G1\",\"subaccount\":2}", 0, 0, INJ_G1_SUB2,
	  ORDER_OK, -1, NULL, "coid-1" },
	{ "v2 single without generator", "{" V2_MIN "}", 0, 0, INJ_G1_NOGEN, ORDER_OK, -1, NULL, "" },
	{ "v2 single no inject", "{" V2_MIN ",\"order_group_id\":\"X\"}", 0, 0, INJ_NONE,
	  ORDER_OK, -1, NULL, "" },
	{ "v2 single extra keys kept", "{\"z\":[1,{\"q\":null}]," V2_MIN ",\"post_only\":true}",
	  0, 0, INJ_G1, ORDER_OK, -1, NULL, "coid-1" },
	{ "v2 price 0.9999 max count", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1000000.00\","
	  "\"price\":\"0.9999\"}", 0, 0, INJ_G1, ORDER_OK, -1, NULL, "coid-1" },
	{ "legacy single", "{" LG_ORDER "}", 0, 1, INJ_G1, ORDER_OK, -1, NULL, "coid-1" },
	{ "legacy no price dollars, count_fp",
	  "{\"ticker\":\"T\",\"side\":\"no\",\"action\":\"sell\",\"count_fp\":\"2.50\","
	  "\"no_price_dollars\":\"0.3000\"}", 0, 1, INJ_G1, ORDER_OK, -1, NULL, "coid-1" },
	{ "legacy count and count_fp agree, cents and dollars agree",
	  "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"sell\",\"count\":2,\"count_fp\":\"2.00\","
	  "\"yes_price\":40,\"yes_price_dollars\":\"0.40\",\"client_order_id\":\"x\"}",
	  0, 1, INJ_G1, ORDER_OK, -1, NULL, "x" },
	/* good batches */
	{ "v2 batch of 3", "{\"orders\":[{" V2_ORDER "},{\"client_order_id\":\"k\"," V2_MIN "},{"
	  V2_MIN ",\"order_group_id\":\"G1\"}]}", 1, 0, INJ_G1, ORDER_OK, -1, NULL,
	  "coid-1;k;coid-2" },
	{ "v2 batch of 1, other top-level keys kept", "{\"x\":1,\"orders\":[{" V2_MIN "}]}",
	  1, 0, INJ_G1, ORDER_OK, -1, NULL, "coid-1" },
	{ "legacy batch of 2", "{\"orders\":[{" LG_ORDER "},{\"ticker\":\"U\",\"side\":\"no\","
	  "\"action\":\"buy\",\"count\":1,\"no_price\":1}]}", 1, 1, INJ_G1, ORDER_OK, -1, NULL,
	  "coid-1;coid-2" },
	{ "v2 batch no inject", "{\"orders\":[{" V2_MIN "},{" V2_MIN "}]}", 1, 0, INJ_NONE,
	  ORDER_OK, -1, NULL, ";" },

	/* not JSON */
	{ "empty", "", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, "body is empty", NULL },
	{ "truncated", "{\"ticker\":", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, "not valid JSON", NULL },
	{ "garbage", "hello", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL },
	{ "trailing garbage", "{" V2_MIN "} x", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL },
	{ "bad utf-8", "{" V2_MIN ",\"m\":\"\xff\"}", 0, 0, INJ_G1, ORDER_INVALID_JSON, -1, NULL, NULL },
	{ "batch truncated", "{\"orders\":[{" V2_MIN "}", 1, 0, INJ_G1, ORDER_INVALID_JSON, -1,
	  NULL, NULL },
	{ "20-digit integer", "{" V2_MIN ",\"n\":12345678901234567890}", 0, 0, INJ_G1,
	  ORDER_INVALID_JSON, -1, NULL, NULL },
	/* duplicate keys */
	{ "duplicate count", "{" V2_MIN ",\"count\":\"2\"}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  "duplicate key 'count'", NULL },
	{ "duplicate in batch element 1", "{\"orders\":[{" V2_MIN "},{" V2_MIN ",\"side\":\"bid\"}]}",
	  1, 0, INJ_G1, ORDER_INVALID, -1, "duplicate key 'side'", NULL },
	{ "duplicate orders key", "{\"orders\":[{" V2_MIN "}],\"orders\":[]}", 1, 0, INJ_G1,
	  ORDER_INVALID, -1, "duplicate key 'orders'", NULL },
	/* reals */
	{ "real count", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":1.5,\"price\":\"0.5\"}", 0, 0,
	  INJ_G1, ORDER_INVALID, -1, "'count' " REAL_MSG, NULL },
	{ "real legacy price", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	  "\"yes_price\":56.0}", 0, 1, INJ_G1, ORDER_INVALID, -1, "'yes_price' " REAL_MSG, NULL },
	{ "real nested in batch", "{\"orders\":[{" V2_MIN ",\"x\":[1e2]}]}", 1, 0, INJ_G1,
	  ORDER_INVALID, 0, REAL_MSG, NULL },
	/* foreign group / subaccount */
	{ "foreign group", "{" V2_MIN ",\"order_group_id\":\"G2\"}", 0, 0, INJ_G1,
	  ORDER_GROUP_MISMATCH, -1, "order group 'G2'", NULL },
	{ "foreign group in batch element 2",
	  "{\"orders\":[{" V2_MIN "},{" V2_MIN "},{" V2_MIN ",\"order_group_id\":\"G9\"}]}",
	  1, 0, INJ_G1, ORDER_GROUP_MISMATCH, 2, "order group 'G9'", NULL },
	{ "foreign subaccount", "{" V2_MIN ",\"subaccount\":1}", 0, 0, INJ_G1, ORDER_GROUP_MISMATCH,
	  -1, "subaccount 1", NULL },
	{ "foreign group legacy", "{" LG_ORDER ",\"order_group_id\":\"g1\"}", 0, 1, INJ_G1,
	  ORDER_GROUP_MISMATCH, -1, NULL, NULL },
	/* rewrite errors come before normalise errors, whatever the index */
	{ "bad order 0 then foreign group at 1",
	  "{\"orders\":[{\"ticker\":\"T\"},{" V2_MIN ",\"order_group_id\":\"G2\"}]}", 1, 0, INJ_G1,
	  ORDER_GROUP_MISMATCH, 1, "order group 'G2'", NULL },
	{ "bad order 0 then bad client_order_id at 1",
	  "{\"orders\":[{\"ticker\":\"T\"},{" V2_MIN ",\"client_order_id\":7}]}", 1, 0, INJ_G1,
	  ORDER_INVALID, 1, "'client_order_id' must be a non-empty string", NULL },
	{ "two bad orders: the first is reported",
	  "{\"orders\":[{" V2_MIN "},{\"ticker\":\"T\"},{\"side\":\"bid\"}]}", 1, 0, INJ_G1,
	  ORDER_INVALID, 1, "is required", NULL },
	/* missing fields */
	{ "v2 missing ticker", "{\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, "'ticker' is required", NULL },
	{ "v2 missing side", "{\"ticker\":\"T\",\"count\":\"1\",\"price\":\"0.5\"}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, "'side' is required", NULL },
	{ "v2 missing count", "{\"ticker\":\"T\",\"side\":\"bid\",\"price\":\"0.5\"}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, "'count' is required", NULL },
	{ "v2 missing price", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\"}", 0, 0, INJ_G1,
	  ORDER_INVALID, -1, "'price' is required", NULL },
	{ "legacy missing action", "{\"ticker\":\"T\",\"side\":\"yes\",\"count\":1,\"yes_price\":5}",
	  0, 1, INJ_G1, ORDER_INVALID, -1, "'action' is required", NULL },
	{ "legacy missing count", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\","
	  "\"yes_price\":5}", 0, 1, INJ_G1, ORDER_INVALID, -1, "'count' or 'count_fp' is required",
	  NULL },
	{ "legacy missing price", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1}",
	  0, 1, INJ_G1, ORDER_INVALID, -1, "one of 'yes_price'", NULL },
	{ "empty object", "{}", 0, 0, INJ_G1, ORDER_INVALID, -1, "'ticker' is required", NULL },
	{ "batch missing field at 1", "{\"orders\":[{" V2_MIN "},{\"ticker\":\"T\",\"side\":\"bid\","
	  "\"count\":\"1\"}]}", 1, 0, INJ_G1, ORDER_INVALID, 1, "'price' is required", NULL },
	/* bad values */
	{ "v2 side yes", "{\"ticker\":\"T\",\"side\":\"yes\",\"count\":\"1\",\"price\":\"0.5\"}", 0, 0,
	  INJ_G1, ORDER_INVALID, -1, "'side' must be", NULL },
	{ "v2 ticker empty", "{\"ticker\":\"\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}",
	  0, 0, INJ_G1, ORDER_INVALID, -1, "'ticker' must not be empty", NULL },
	{ "v2 ticker a number", "{\"ticker\":5,\"side\":\"bid\",\"count\":\"1\",\"price\":\"0.5\"}",
	  0, 0, INJ_G1, ORDER_INVALID, -1, "'ticker' must be a string", NULL },
	{ "v2 count 0", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0\",\"price\":\"0.5\"}", 0, 0,
	  INJ_G1, ORDER_INVALID, -1, "'count' must be greater than 0", NULL },
	{ "v2 count 3 decimals", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1.001\","
	  "\"price\":\"0.5\"}", 0, 0, INJ_G1, ORDER_INVALID, -1, "'count' must be a count", NULL },
	{ "v2 count negative", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"-1\",\"price\":\"0.5\"}",
	  0, 0, INJ_G1, ORDER_INVALID, -1, "'count'", NULL },
	{ "v2 count integer", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":1,\"price\":\"0.5\"}", 0, 0,
	  INJ_G1, ORDER_INVALID, -1, "'count' must be a string", NULL },
	{ "v2 count huge", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"99999999999999999999\","
	  "\"price\":\"0.5\"}", 0, 0, INJ_G1, ORDER_INVALID, -1, "'count'", NULL },
	{ "v2 price 0", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"0\"}", 0, 0,
	  INJ_G1, ORDER_INVALID, -1, "'price' must be between 0 and 1", NULL },
	{ "v2 price 1", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"1.00\"}", 0, 0,
	  INJ_G1, ORDER_INVALID, -1, "'price' must be between 0 and 1", NULL },
	{ "v2 price 5 decimals", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\","
	  "\"price\":\"0.12345\"}", 0, 0, INJ_G1, ORDER_INVALID, -1, "'price' must be a dollar price",
	  NULL },
	{ "v2 price exponent string", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\","
	  "\"price\":\"5e-1\"}", 0, 0, INJ_G1, ORDER_INVALID, -1, "'price'", NULL },
	{ "v2 price a number", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":0}",
	  0, 0, INJ_G1, ORDER_INVALID, -1, "'price' must be a string", NULL },
	{ "legacy count 0", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":0,"
	  "\"yes_price\":5}", 0, 1, INJ_G1, ORDER_INVALID, -1, "'count' must be at least 1", NULL },
	{ "legacy count string", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":\"1\","
	  "\"yes_price\":5}", 0, 1, INJ_G1, ORDER_INVALID, -1, "'count'", NULL },
	{ "legacy counts disagree", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	  "\"count_fp\":\"2\",\"yes_price\":5}", 0, 1, INJ_G1, ORDER_INVALID, -1,
	  "'count' and 'count_fp' disagree", NULL },
	{ "legacy price 100 cents", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	  "\"yes_price\":100}", 0, 1, INJ_G1, ORDER_INVALID, -1, "'yes_price' must be between", NULL },
	{ "legacy yes and no price", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\",\"count\":1,"
	  "\"yes_price\":5,\"no_price\":95}", 0, 1, INJ_G1, ORDER_INVALID, -1,
	  "give a yes price or a no price, not both", NULL },
	{ "legacy cents and dollars disagree", "{\"ticker\":\"T\",\"side\":\"yes\",\"action\":\"buy\","
	  "\"count\":1,\"yes_price\":5,\"yes_price_dollars\":\"0.06\"}", 0, 1, INJ_G1, ORDER_INVALID,
	  -1, "disagree", NULL },
	{ "legacy order sent as v2", "{" LG_ORDER "}", 0, 0, INJ_G1, ORDER_INVALID, -1, NULL, NULL },
	{ "v2 order sent as legacy", "{" V2_MIN "}", 0, 1, INJ_G1, ORDER_INVALID, -1, NULL, NULL },
	/* batch shape */
	{ "batch orders missing", "{\"x\":[]}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  "'orders' is missing", NULL },
	{ "batch orders not array", "{\"orders\":{}}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  "'orders' is not an array", NULL },
	{ "batch orders empty", "{\"orders\":[]}", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  "'orders' is empty", NULL },
	{ "batch element not object", "{\"orders\":[{" V2_MIN "},5]}", 1, 0, INJ_G1, ORDER_INVALID, 1,
	  "order is not a JSON object", NULL },
	{ "batch body not object", "[{" V2_MIN "}]", 1, 0, INJ_G1, ORDER_INVALID, -1,
	  "body is not a JSON object", NULL },
	{ "single body an array", "[]", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  "body is not a JSON object", NULL },
	{ "batch body sent as single", "{\"orders\":[{" V2_MIN "}]}", 0, 0, INJ_G1, ORDER_INVALID, -1,
	  "'ticker' is required", NULL },
	/* bad values with no inject */
	{ "no inject, bad price", "{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\",\"price\":\"2\"}",
	  0, 0, INJ_NONE, ORDER_INVALID, -1, "'price'", NULL },
	{ "no inject, bad batch element 1", "{\"orders\":[{" V2_MIN "},{\"ticker\":\"T\",\"side\":\"x\","
	  "\"count\":\"1\",\"price\":\"0.5\"}]}", 1, 0, INJ_NONE, ORDER_INVALID, 1, "'side'", NULL },
};

/* Formats the client_order_ids of res as "a;b;...". */
static void format_coids(const struct order_result *res, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < res->order_count && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ";" : "",
				      res->orders[i].client_order_id);
}

/* Whether two normalised orders are the same, field by field. */
static int norm_equal(const struct norm_order *a, const struct norm_order *b)
{
	return strcmp(a->ticker, b->ticker) == 0 && a->side_bid == b->side_bid &&
	       a->count == b->count && a->yes_price == b->yes_price && a->cost == b->cost &&
	       a->has_price == b->has_price;
}

/* The older path: order_rewrite, then normalize_body on its output. Fills
 * *res as order_rewrite_norm would (norm, or status/message/index). */
static void two_step(const char *body, size_t len, int batch, int legacy,
		     const struct order_inject *inj, struct order_result *res)
{
	struct norm_order *norm = NULL;
	size_t n = 0;
	long index = -1;

	order_rewrite(body, len, batch, legacy, inj, res);
	if (res->status != ORDER_OK)
		return;
	if (normalize_body(res->body, res->body_len, batch, legacy, &norm, &n, &index,
			   res->message, sizeof(res->message)) != 0) {
		free(res->body);
		free(res->orders);
		res->body = NULL;
		res->orders = NULL;
		res->order_count = 0;
		res->status = ORDER_INVALID;
		res->index = index;
		return;
	}
	assert_int_equal(n, res->order_count);
	res->norm = norm;
}

/* Runs a body through both paths and fails unless they agree on status,
 * index, message, body, summaries, normalised orders and generator calls.
 * *got gets order_rewrite_norm's result (the caller releases it). */
static void compare_paths(const char *name, const char *src, size_t len, int batch, int legacy,
			  enum inject_mode mode, struct order_result *got)
{
	struct order_inject inj_a, inj_b;
	struct order_result want;
	int calls_a = 0, calls_b = 0;
	char *body = malloc(len ? len : 1);

	assert_non_null(body);
	memcpy(body, src, len);
	two_step(body, len, batch, legacy, make_inject(mode, &inj_a, &calls_a), &want);
	order_rewrite_norm(body, len, batch, legacy, make_inject(mode, &inj_b, &calls_b), got);
	free(body);

	if (got->status != want.status || got->index != want.index)
		fail_msg("%s: norm path status %d index %ld, two-step %d %ld ('%s' / '%s')", name,
			 (int)got->status, got->index, (int)want.status, want.index, got->message,
			 want.message);
	if (strcmp(got->message, want.message) != 0)
		fail_msg("%s: message '%s', two-step '%s'", name, got->message, want.message);
	if (calls_a != calls_b)
		fail_msg("%s: generator called %d times, two-step %d", name, calls_b, calls_a);
	if (got->status == ORDER_OK) {
		assert_non_null(got->body);
		assert_non_null(got->norm);
		assert_int_equal(got->body_len, strlen(got->body));
		if (got->body_len != want.body_len || strcmp(got->body, want.body) != 0)
			fail_msg("%s: body\n got  %s\n want %s", name, got->body, want.body);
		assert_int_equal(got->order_count, want.order_count);
		for (size_t i = 0; i < got->order_count; i++) {
			if (memcmp(&got->orders[i], &want.orders[i], sizeof(got->orders[i])) != 0)
				fail_msg("%s: summary %zu differs", name, i);
			if (!norm_equal(&got->norm[i], &want.norm[i]))
				fail_msg("%s: normalised order %zu differs", name, i);
		}
	} else {
		assert_null(got->body);
		assert_null(got->orders);
		assert_null(got->norm);
		assert_int_equal(got->order_count, 0);
		check_message(name, got->message);
	}
	order_result_release(&want);
}

/* Every row: both paths agree, and say what the row expects. */
static void test_norm_table(void **state)
{
	char coids[512];

	(void)state;
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
		const struct norm_case *c = &norm_cases[i];
		struct order_result res;

		compare_paths(c->name, c->body, strlen(c->body), c->batch, c->legacy, c->inj, &res);
		if (res.status != c->want || res.index != c->index)
			fail_msg("%s: status %d index %ld, want %d %ld: %s", c->name, (int)res.status,
				 res.index, (int)c->want, c->index, res.message);
		if (c->msg != NULL && strstr(res.message, c->msg) == NULL)
			fail_msg("%s: message '%s' lacks '%s'", c->name, res.message, c->msg);
		if (c->coids != NULL) {
			format_coids(&res, coids, sizeof(coids));
			if (strcmp(coids, c->coids) != 0)
				fail_msg("%s: client_order_ids '%s', want '%s'", c->name, coids, c->coids);
		}
		order_result_release(&res);
		assert_null(res.norm);
	}
}

/* The normalised values themselves, for a few rows (the comparison alone
 * would pass if both paths normalised wrongly). */
static void test_norm_values(void **state)
{
	static const char v2[] = "{\"orders\":[{" V2_ORDER "},{" V2_MIN "}]}";
	static const char lg[] = "{\"ticker\":\"L\",\"side\":\"no\",\"action\":\"buy\",\"count\":3,"
				 "\"no_price\":30}";
	struct order_inject inj = { "G1", 0, NULL, NULL };
	struct order_result res;

	(void)state;
	order_rewrite_norm(v2, strlen(v2), 1, 0, &inj, &res);
	assert_int_equal(res.status, ORDER_OK);
	assert_int_equal(res.order_count, 2);
	assert_string_equal(res.norm[0].ticker, "KXT-1");
	assert_int_equal(res.norm[0].side_bid, 1);
	assert_int_equal(res.norm[0].count, 1050);
	assert_int_equal(res.norm[0].yes_price, 5600);
	assert_int_equal(res.norm[0].cost, 58800);       /* 1050 * 5600 / 100 */
	assert_int_equal(res.norm[1].side_bid, 0);
	assert_int_equal(res.norm[1].count, 100);
	assert_int_equal(res.norm[1].yes_price, 100);
	assert_int_equal(res.norm[1].cost, 9900);        /* 100 * (10000 - 100) / 100 */
	order_result_release(&res);

	order_rewrite_norm(lg, strlen(lg), 0, 1, &inj, &res);
	assert_int_equal(res.status, ORDER_OK);
	assert_int_equal(res.order_count, 1);
	assert_int_equal(res.norm[0].side_bid, 0);       /* buy no = ask */
	assert_int_equal(res.norm[0].count, 300);
	assert_int_equal(res.norm[0].yes_price, 7000);
	order_result_release(&res);
}

/* Builds {"orders":[o,o,...]} with n copies of o; bad (if not NULL)
 * replaces element at. */
static char *batch_of(size_t n, const char *o, size_t at, const char *bad, size_t *len)
{
	size_t ol = strlen(o), bl = bad ? strlen(bad) : 0;
	size_t cap = 16 + n * (ol + 1) + bl;
	char *b = malloc(cap);
	size_t k;

	assert_non_null(b);
	k = (size_t)snprintf(b, cap, "{\"orders\":[");
	for (size_t i = 0; i < n; i++) {
		const char *e = bad && i == at ? bad : o;
		if (i)
			b[k++] = ',';
		memcpy(b + k, e, strlen(e));
		k += strlen(e);
	}
	b[k++] = ']';
	b[k++] = '}';
	*len = k;
	return b;
}

/* Generated batches: the full 1000 (ids coid-1..coid-1000), 1001 refused,
 * and a bad order at several positions of a large batch. */
static void test_norm_generated(void **state)
{
	static const char *bad[] = {
		"{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"0\",\"price\":\"0.5\"}",
		"{\"ticker\":\"T\",\"side\":\"bid\",\"count\":\"1\"}",
		"{" V2_MIN ",\"order_group_id\":\"G2\"}",
		"{" V2_MIN ",\"count\":\"1\"}",
		"{" V2_MIN ",\"x\":0.5}",
		"7",
	};
	static const size_t at[] = { 0, 1, 499, 999 };
	struct order_result res;
	char name[64];
	size_t len;
	char *b;

	(void)state;
	b = batch_of(1000, "{" V2_MIN "}", 0, NULL, &len);
	compare_paths("batch 1000", b, len, 1, 0, INJ_G1, &res);
	assert_int_equal(res.status, ORDER_OK);
	assert_int_equal(res.order_count, 1000);
	assert_string_equal(res.orders[0].client_order_id, "coid-1");
	assert_string_equal(res.orders[999].client_order_id, "coid-1000");
	order_result_release(&res);
	free(b);

	b = batch_of(1001, "{" V2_MIN "}", 0, NULL, &len);
	compare_paths("batch 1001", b, len, 1, 0, INJ_G1, &res);
	assert_int_equal(res.status, ORDER_INVALID);
	assert_non_null(strstr(res.message, "more than 1000"));
	order_result_release(&res);
	free(b);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (size_t j = 0; j < sizeof(at) / sizeof(at[0]); j++) {
			b = batch_of(1000, "{" V2_MIN "}", at[j], bad[i], &len);
			snprintf(name, sizeof(name), "bad %zu at %zu", i, at[j]);
			compare_paths(name, b, len, 1, 0, INJ_G1, &res);
			if (res.status == ORDER_OK)
				fail_msg("%s: accepted", name);
			order_result_release(&res);
			free(b);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_batch_size),
		cmocka_unit_test(test_summary_truncation),
		cmocka_unit_test(test_check_strict),
		cmocka_unit_test(test_output_reparses),
		cmocka_unit_test(test_norm_table),
		cmocka_unit_test(test_norm_values),
		cmocka_unit_test(test_norm_generated),
	};

	return cmocka_run_group_tests_name("order", tests, NULL, NULL);
}
