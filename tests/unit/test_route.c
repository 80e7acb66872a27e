/*
 * Unit tests for policy/route: one table of method, raw path and the
 * expected kind, legacy flag and id, covering every rule and its near
 * misses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/route.h"

struct route_case {
	const char *method;
	const char *path;
	enum route_kind kind;
	int legacy;
	const char *id;               /* expected id, or NULL for none */
};

#define V2 "/trade-api/v2"

static const struct route_case cases[] = {
	/* api keys: any method, even reads */
	{ "GET", V2 "/api_keys", ROUTE_API_KEYS, 0, NULL },
	{ "HEAD", V2 "/api_keys", ROUTE_API_KEYS, 0, NULL },
	{ "POST", V2 "/api_keys", ROUTE_API_KEYS, 0, NULL },
	{ "POST", V2 "/api_keys/generate", ROUTE_API_KEYS, 0, NULL },
	{ "DELETE", V2 "/api_keys/k1", ROUTE_API_KEYS, 0, NULL },
	{ "GET", V2 "/api_keys/", ROUTE_API_KEYS, 0, NULL },
	{ "GET", V2 "/api_keysx", ROUTE_API_KEYS, 0, NULL },   /* prefix match fails closed */
	{ "GET", V2 "/API_KEYS", ROUTE_READ, 0, NULL },        /* case-sensitive */

	/* reads */
	{ "GET", V2 "/markets", ROUTE_READ, 0, NULL },
	{ "HEAD", V2 "/markets", ROUTE_READ, 0, NULL },
	{ "GET", V2 "/portfolio/orders", ROUTE_READ, 0, NULL },
	{ "GET", V2 "/portfolio/orders/o1", ROUTE_READ, 0, NULL },
	{ "GET", V2 "/portfolio/events/orders", ROUTE_READ, 0, NULL },
	{ "GET", V2 "/portfolio/order_groups", ROUTE_READ, 0, NULL },
	{ "GET", V2 "/portfolio/order_groups/g1", ROUTE_READ, 0, NULL },
	{ "HEAD", V2 "/portfolio/order_groups/g1", ROUTE_READ, 0, NULL },
	{ "GET", V2 "/", ROUTE_READ, 0, NULL },

	/* creates */
	{ "POST", V2 "/portfolio/events/orders", ROUTE_CREATE_V2, 0, NULL },
	{ "POST", V2 "/portfolio/events/orders/", ROUTE_CREATE_V2, 0, NULL },
	{ "POST", V2 "/portfolio/events/orders/batched", ROUTE_BATCH_CREATE_V2, 0, NULL },
	{ "POST", V2 "/portfolio/events/orders/batched/", ROUTE_BATCH_CREATE_V2, 0, NULL },
	{ "POST", V2 "/portfolio/orders", ROUTE_CREATE_LEGACY, 1, NULL },
	{ "POST", V2 "/portfolio/orders/", ROUTE_CREATE_LEGACY, 1, NULL },
	{ "POST", V2 "/portfolio/orders/batched", ROUTE_BATCH_CREATE_LEGACY, 1, NULL },

	/* amend and decrease */
	{ "POST", V2 "/portfolio/events/orders/o1/amend", ROUTE_AMEND, 0, "o1" },
	{ "POST", V2 "/portfolio/events/orders/o1/amend/", ROUTE_AMEND, 0, "o1" },
	{ "POST", V2 "/portfolio/orders/o-2/amend", ROUTE_AMEND, 1, "o-2" },
	{ "POST", V2 "/portfolio/events/orders/o1/decrease", ROUTE_DECREASE, 0, "o1" },
	{ "POST", V2 "/portfolio/orders/o1/decrease", ROUTE_DECREASE, 1, "o1" },
	{ "POST", V2 "/portfolio/events/orders//amend", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/events/orders/o1/Amend", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/events/orders/o1/amend/x", ROUTE_OTHER_WRITE, 0, NULL },
	{ "PUT", V2 "/portfolio/events/orders/o1/amend", ROUTE_OTHER_WRITE, 0, NULL },

	/* cancels */
	{ "DELETE", V2 "/portfolio/events/orders/o1", ROUTE_CANCEL, 0, "o1" },
	{ "DELETE", V2 "/portfolio/events/orders/o1/", ROUTE_CANCEL, 0, "o1" },
	{ "DELETE", V2 "/portfolio/orders/o1", ROUTE_CANCEL, 1, "o1" },
	{ "DELETE", V2 "/portfolio/events/orders/batched", ROUTE_BATCH_CANCEL, 0, NULL },
	{ "DELETE", V2 "/portfolio/orders/batched", ROUTE_BATCH_CANCEL, 1, NULL },
	{ "DELETE", V2 "/portfolio/orders/batched/", ROUTE_BATCH_CANCEL, 1, NULL },
	{ "DELETE", V2 "/portfolio/events/orders", ROUTE_CANCEL_ALL, 0, NULL },
	{ "DELETE", V2 "/portfolio/events/orders/", ROUTE_CANCEL_ALL, 0, NULL },
	{ "DELETE", V2 "/portfolio/orders", ROUTE_OTHER_WRITE, 0, NULL },
	{ "DELETE", V2 "/portfolio/events/orders//", ROUTE_OTHER_WRITE, 0, NULL },
	{ "DELETE", V2 "/portfolio/events/orders/o1/amend", ROUTE_OTHER_WRITE, 0, NULL },

	/* order groups */
	{ "POST", V2 "/portfolio/order_groups/create", ROUTE_GROUP_CREATE, 0, NULL },
	{ "POST", V2 "/portfolio/order_groups/create/", ROUTE_GROUP_CREATE, 0, NULL },
	{ "DELETE", V2 "/portfolio/order_groups/g1", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "DELETE", V2 "/portfolio/order_groups/g1/", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "PUT", V2 "/portfolio/order_groups/g1/reset", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "PUT", V2 "/portfolio/order_groups/g1/trigger", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "PUT", V2 "/portfolio/order_groups/g1/limit", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "POST", V2 "/portfolio/order_groups/g1/limit", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "PATCH", V2 "/portfolio/order_groups/g1/a/b/c/d/e/f", ROUTE_GROUP_MUTATION, 0, "g1" },
	{ "DELETE", V2 "/portfolio/order_groups/create", ROUTE_GROUP_MUTATION, 0, "create" },
	{ "POST", V2 "/portfolio/order_groups", ROUTE_OTHER_WRITE, 0, NULL },
	{ "DELETE", V2 "/portfolio/order_groups/", ROUTE_OTHER_WRITE, 0, NULL },

	/* near misses and other writes */
	{ "POST", V2 "/portfolio/events/orders/abc", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/orders/abc", ROUTE_OTHER_WRITE, 0, NULL },
	{ "PUT", V2 "/portfolio/events/orders", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/Orders", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/Portfolio/orders", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/events", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/events/orderss", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/orders", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/portfolio/subaccounts", ROUTE_OTHER_WRITE, 0, NULL },
	{ "POST", V2 "/communications/rfqs", ROUTE_OTHER_WRITE, 0, NULL },
	{ "post", V2 "/portfolio/events/orders", ROUTE_OTHER_WRITE, 0, NULL },
	{ "get", V2 "/markets", ROUTE_OTHER_WRITE, 0, NULL },
	{ "OPTIONS", V2 "/markets", ROUTE_OTHER_WRITE, 0, NULL },
	{ "GET", "/trade-api/v1/markets", ROUTE_OTHER_WRITE, 0, NULL },
	{ "GET", "/trade-api/v2", ROUTE_OTHER_WRITE, 0, NULL },
};

/* Runs every row of the table. */
static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct route_case *c = &cases[i];
		struct route_info info;

		memset(&info, 0xA5, sizeof(info));
		route_classify(c->method, c->path, strlen(c->path), &info);
		if (info.kind != c->kind || info.legacy != c->legacy ||
		    (c->id == NULL) != (info.id == NULL))
			fail_msg("row %zu: %s %s: got kind %d legacy %d id %s", i, c->method,
				 c->path, (int)info.kind, info.legacy, info.id ? "set" : "NULL");
		if (c->id != NULL) {
			assert_int_equal(info.id_len, strlen(c->id));
			assert_memory_equal(info.id, c->id, info.id_len);
			/* The id points into the path, not a copy. */
			assert_true(info.id > c->path && info.id < c->path + strlen(c->path));
		} else {
			assert_int_equal(info.id_len, 0);
		}
	}
}

/* The path is read as exactly len bytes: no terminator is needed and bytes
 * past len do not count. */
static void test_length_bounded(void **state)
{
	static const char buf[] = V2 "/portfolio/events/orders/o1/amendXXXX";
	char exact[sizeof(V2 "/portfolio/events/orders") - 1];
	struct route_info info;

	(void)state;
	route_classify("POST", buf, strlen(buf) - 4, &info);
	assert_int_equal(info.kind, ROUTE_AMEND);
	assert_int_equal(info.id_len, 2);
	assert_memory_equal(info.id, "o1", 2);

	memcpy(exact, V2 "/portfolio/events/orders", sizeof(exact));
	route_classify("POST", exact, sizeof(exact), &info);
	assert_int_equal(info.kind, ROUTE_CREATE_V2);
	route_classify("POST", exact, sizeof(exact) - 1, &info);
	assert_int_equal(info.kind, ROUTE_OTHER_WRITE);
}

/* A NULL method or path fails closed. */
static void test_null_inputs(void **state)
{
	struct route_info info;

	(void)state;
	route_classify(NULL, V2 "/markets", strlen(V2 "/markets"), &info);
	assert_int_equal(info.kind, ROUTE_OTHER_WRITE);
	route_classify("GET", NULL, 0, &info);
	assert_int_equal(info.kind, ROUTE_OTHER_WRITE);
	assert_null(info.id);
}

/* route_is_create is true for exactly the four create kinds. */
static void test_is_create(void **state)
{
	int k;

	(void)state;
	for (k = ROUTE_READ; k <= ROUTE_OTHER_WRITE; k++) {
		int want = k == ROUTE_CREATE_V2 || k == ROUTE_BATCH_CREATE_V2 ||
			   k == ROUTE_CREATE_LEGACY || k == ROUTE_BATCH_CREATE_LEGACY;

		assert_int_equal(route_is_create((enum route_kind)k), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_length_bounded),
		cmocka_unit_test(test_null_inputs),
		cmocka_unit_test(test_is_create),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
