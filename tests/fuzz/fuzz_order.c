/*
 * libFuzzer target for policy/order: the first byte picks the form (bit 0:
 * batch, bit 1: legacy, bit 2: no session), the rest is the body.
 *
 * Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     policy/order.c policy/fixed.c tests/fuzz/fuzz_order.c -ljansson -o /tmp/fuzz_order
 *   /tmp/fuzz_order -max_total_time=30 tests/fuzz/corpus/order
 *
 * Besides memory safety, it checks what the gateway relies on: an accepted
 * body parses again with duplicate keys refused, is an object (with a
 * non-empty "orders" array of objects for a batch), every order carries the
 * session's group and subaccount and a client_order_id, the summaries match
 * the orders, and order_check_strict agrees with order_rewrite on whether
 * the body is acceptable JSON at all. A refusal always has a printable
 * ASCII message and no body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy/order.h"
#include "tests/fuzz/fuzz_check.h"


/* Fixed client_order_id generator; counts its calls in *ud. */
static void fuzz_coid(void *ud, char *buf, size_t cap)
{
	int *n = ud;

	CHECK(cap >= 64);
	snprintf(buf, cap, "fuzz-%d", ++*n);
}

/* Checks that msg is non-empty printable ASCII. */
static void check_message(const char *msg, size_t cap)
{
	size_t i;

	CHECK(memchr(msg, '\0', cap) != NULL);
	CHECK(msg[0] != '\0');
	for (i = 0; msg[i] != '\0'; i++)
		CHECK((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7f);
}

/* Checks one rewritten order object against the session and its summary. */
static void check_order(json_t *o, const struct order_summary *sum, int with_session)
{
	json_t *coid = json_object_get(o, "client_order_id");

	CHECK(json_is_object(o));
	CHECK(json_is_string(coid) && json_string_length(coid) > 0);
	CHECK(strncmp(sum->client_order_id, json_string_value(coid),
		      strlen(sum->client_order_id)) == 0);
	CHECK(sum->count >= -1);
	if (with_session) {
		json_t *gid = json_object_get(o, "order_group_id");

		CHECK(json_is_string(gid));
		CHECK(strcmp(json_string_value(gid), "G-fuzz") == 0);
		CHECK(json_is_integer(json_object_get(o, "subaccount")));
		CHECK(json_integer_value(json_object_get(o, "subaccount")) == 3);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct order_inject inj;
	struct order_result res;
	const char *body;
	char msg[128];
	json_error_t err;
	json_t *root, *orders, *o;
	enum order_status strict;
	int batch, legacy, with_session, calls = 0;
	size_t len, i;

	if (size == 0)
		return 0;
	batch = data[0] & 1;
	legacy = (data[0] >> 1) & 1;
	with_session = !((data[0] >> 2) & 1);
	body = (const char *)data + 1;
	len = size - 1;

	memset(&inj, 0, sizeof(inj));
	inj.order_group_id = with_session ? "G-fuzz" : NULL;
	inj.subaccount = 3;
	inj.new_client_order_id = fuzz_coid;
	inj.ud = &calls;

	/* The body is read as exactly len bytes of the fuzzer's buffer, so a
	 * read past it is caught. */
	order_rewrite(body, len, batch, legacy, &inj, &res);
	strict = order_check_strict(body, len, msg, sizeof(msg));
	CHECK(res.index >= -1 && res.index < 1000);

	if (res.status != ORDER_OK) {
		CHECK(res.status == ORDER_INVALID_JSON || res.status == ORDER_INVALID ||
		      res.status == ORDER_GROUP_MISMATCH);
		CHECK(res.body == NULL && res.orders == NULL && res.order_count == 0);
		check_message(res.message, sizeof(res.message));
		if (res.status == ORDER_GROUP_MISMATCH)
			CHECK(with_session);
		/* Bad JSON is bad JSON whatever the form. */
		if (res.status == ORDER_INVALID_JSON)
			CHECK(strict == ORDER_INVALID_JSON);
		if (strict != ORDER_OK)
			check_message(msg, sizeof(msg));
		order_result_release(&res);
		return 0;
	}

	/* Accepted: the input was strict JSON, an object. */
	CHECK(strict == ORDER_OK && msg[0] == '\0');
	CHECK(res.body != NULL && strlen(res.body) == res.body_len);
	CHECK(res.message[0] == '\0' && res.index == -1);
	root = json_loadb(res.body, res.body_len, JSON_REJECT_DUPLICATES, &err);
	CHECK(root != NULL);
	CHECK(json_is_object(root));
	/* The output is itself acceptable to the strict check. */
	CHECK(order_check_strict(res.body, res.body_len, msg, sizeof(msg)) == ORDER_OK);
	if (batch) {
		orders = json_object_get(root, "orders");
		CHECK(json_is_array(orders));
		CHECK(json_array_size(orders) == res.order_count);
		CHECK(res.order_count >= 1 && res.order_count <= 1000);
		json_array_foreach(orders, i, o)
			check_order(o, &res.orders[i], with_session);
	} else {
		CHECK(res.order_count == 1);
		check_order(root, &res.orders[0], with_session);
	}
	CHECK(calls >= 0 && (size_t)calls <= res.order_count);
	json_decref(root);
	order_result_release(&res);
	return 0;
}
