/*
 * libFuzzer target for policy/session: the input is a request body for
 * /session/start and for every other /session operation, and, parsed as
 * JSON, a session record of the state file (or a whole state file, whose
 * "sessions" and "history" entries are read as the gateway reads them).
 *
 * Build and run (tests/fuzz/run.sh does this for every target):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_session.c policy/session.c policy/fixed.c -ljansson \
 *     -o /tmp/fuzz_session
 *   /tmp/fuzz_session -max_total_time=20 tests/fuzz/corpus/session
 *
 * Besides memory safety and leaks, it checks what the gateway relies on:
 * a refusal has code "invalid_json" or "invalid_request" and a non-empty
 * message that is valid UTF-8 (it becomes a JSON string in the reply, and
 * jansson drops a string that is not) and printable ASCII, and leaves the
 * out-parameter untouched (STYLE: written only on success); an accepted body has every field within its documented range;
 * operations that allow the same keys agree; a record read from the state
 * file is written back and read again to the same record, so a restart
 * never changes a session.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy/fixed.h"
#include "policy/session.h"
#include "tests/fuzz/fuzz_check.h"


/* Whether s is valid UTF-8 as jansson's json_string() sees it: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, n, cp, min;

		if (c < 0x80) {
			p++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* Checks a refusal: the code, and a message the reply can carry. Valid
 * UTF-8 is what json_string() needs; printable ASCII is the convention of
 * policy/ (order.c too): client bytes are quoted with '?' for the rest. */
static void check_refusal(const char *code, const char *msg, size_t cap)
{
	CHECK(code != NULL);
	CHECK(strcmp(code, "invalid_json") == 0 || strcmp(code, "invalid_request") == 0);
	CHECK(memchr(msg, '\0', cap) != NULL && msg[0] != '\0');
	CHECK(utf8_ok(msg));
	for (const char *p = msg; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

/* Whether a request's name is absent ("") or a valid session name. */
static int req_name_ok(const char *name)
{
	return name[0] == '\0' || session_name_ok(name);
}

/* Parses the body as /session/start and checks the result. */
static void fuzz_start(const char *body, size_t len)
{
	struct session_start_req r, before;
	const char *code = NULL;
	char msg[256] = "";

	/* A pattern the parser would never write, to see that a refusal
	 * leaves the out-parameter alone (STYLE: written only on success). */
	memset(&r, 0xa5, sizeof r);
	memcpy(&before, &r, sizeof r);
	if (session_parse_start(body, len, &r, &code, msg, sizeof msg) < 0) {
		check_refusal(code, msg, sizeof msg);
		CHECK(memcmp(&r, &before, sizeof r) == 0);
		return;
	}
	CHECK(memchr(r.name, '\0', sizeof r.name) != NULL && req_name_ok(r.name));
	CHECK(r.contracts_limit >= 1 && r.contracts_limit <= 1000000);
	CHECK(r.subaccount >= 0 && r.subaccount <= 63);
	CHECK(r.exchange_index >= 0 && r.exchange_index <= 1000000);
	CHECK(r.heartbeat_timeout_s >= 0 && r.heartbeat_timeout_s <= 86400);
	CHECK(r.cooldown_s >= -1 && r.cooldown_s <= 86400);
	CHECK(r.max_auto_resets >= -1 && r.max_auto_resets <= 1000000);
	CHECK(r.has_max_filled == 0 || r.has_max_filled == 1);
	if (r.has_max_filled)
		CHECK(r.max_session_filled_contracts > 0 &&
		      r.max_session_filled_contracts <= FIXED_COUNT_MAX);
	CHECK(r.on_trigger[0] == '\0' || strcmp(r.on_trigger, "stay") == 0 ||
	      strcmp(r.on_trigger, "reset_after") == 0 || strcmp(r.on_trigger, "new_group") == 0);
}

/* Parses the body as operation op; returns its result for comparison. */
static int fuzz_op(enum session_op op, const char *body, size_t len,
		   struct session_op_req *out, const char **code_out)
{
	struct session_op_req r, before;
	const char *code = NULL;
	char msg[256] = "";

	memset(&r, 0xa5, sizeof r);
	memcpy(&before, &r, sizeof r);
	if (session_parse_op(op, body, len, &r, &code, msg, sizeof msg) < 0) {
		check_refusal(code, msg, sizeof msg);
		CHECK(memcmp(&r, &before, sizeof r) == 0);
		*code_out = code;
		return -1;
	}
	CHECK(memchr(r.name, '\0', sizeof r.name) != NULL && req_name_ok(r.name));
	if (op == SESSION_OP_HALT)
		CHECK(r.all == 0 || (r.all == 1 && r.name[0] == '\0'));
	else
		CHECK(r.all == 0);
	if (op == SESSION_OP_LIMIT) {
		CHECK(r.has_contracts_limit || r.has_max_filled);
		if (r.has_contracts_limit)
			CHECK(r.contracts_limit >= 1 && r.contracts_limit <= 1000000);
		if (r.has_max_filled)
			CHECK(r.max_session_filled_contracts > 0 &&
			      r.max_session_filled_contracts <= FIXED_COUNT_MAX);
	} else {
		CHECK(r.has_contracts_limit == 0 && r.has_max_filled == 0);
	}
	*out = r;
	return 0;
}

/* Checks every operation; reset, end and heartbeat take the same body
 * (just "name"), so they must agree on it. */
static void fuzz_ops(const char *body, size_t len)
{
	static const enum session_op ops[] = {
		SESSION_OP_RESET, SESSION_OP_END, SESSION_OP_HEARTBEAT, SESSION_OP_HALT,
		SESSION_OP_LIMIT
	};
	struct session_op_req r[5];
	const char *code[5] = { NULL };
	int rc[5];

	for (size_t i = 0; i < 5; i++)
		rc[i] = fuzz_op(ops[i], body, len, &r[i], &code[i]);
	for (size_t i = 1; i < 3; i++) {
		CHECK(rc[i] == rc[0]);
		if (rc[0] == 0)
			CHECK(strcmp(r[i].name, r[0].name) == 0);
		else
			CHECK(strcmp(code[i], code[0]) == 0);
	}
	/* bad JSON is bad JSON whatever the operation */
	for (size_t i = 3; i < 5; i++)
		if (rc[0] < 0 && strcmp(code[0], "invalid_json") == 0)
			CHECK(rc[i] < 0 && strcmp(code[i], "invalid_json") == 0);
}

/* The parts of a session the state file keeps, with what the public form
 * cannot say (a time or heartbeat of zero or less is "null") folded in. */
static void check_same_record(const struct session *a, const struct session *b)
{
	CHECK(strcmp(a->name, b->name) == 0);
	CHECK(strcmp(a->session_id, b->session_id) == 0);
	CHECK(strcmp(a->order_group_id, b->order_group_id) == 0);
	CHECK(a->subaccount == b->subaccount && a->exchange_index == b->exchange_index);
	CHECK(a->status == b->status);
	CHECK(strcmp(a->status_reason, b->status_reason) == 0);
	CHECK(a->contracts_limit == b->contracts_limit);
	CHECK((a->heartbeat_timeout_s > 0 ? a->heartbeat_timeout_s : 0) == b->heartbeat_timeout_s);
	CHECK((a->started_at_ms > 0 ? a->started_at_ms : 0) == b->started_at_ms);
	CHECK((a->ended_at_ms > 0 ? a->ended_at_ms : 0) == b->ended_at_ms);
	CHECK(a->orders_accepted == b->orders_accepted && a->orders_rejected == b->orders_rejected);
	CHECK(a->contracts_submitted == b->contracts_submitted);
	CHECK(a->contracts_filled == b->contracts_filled);
	CHECK(a->has_max_filled == b->has_max_filled);
	CHECK(!a->has_max_filled || a->max_session_filled_contracts == b->max_session_filled_contracts);
	CHECK(strcmp(a->on_trigger, b->on_trigger) == 0);
	CHECK(a->cooldown_s == b->cooldown_s && a->max_auto_resets == b->max_auto_resets);
	CHECK(a->last_heartbeat_ms == b->last_heartbeat_ms);
	CHECK(strcmp(a->pending, b->pending) == 0);
}

/* Reads j as a state-file record; when accepted, writes it back and reads
 * it again, as a restart would. */
static void fuzz_record(const json_t *j)
{
	struct session s, again, before;
	char err[160] = "";
	json_t *st, *st2, *pub;
	char *text;

	memset(&s, 0xa5, sizeof s);
	memcpy(&before, &s, sizeof s);
	if (session_from_state(j, &s, err, sizeof err) < 0) {
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
		CHECK(memcmp(&s, &before, sizeof s) == 0);
		return;
	}
	CHECK(session_name_ok(s.name));
	CHECK((int)s.status >= SESSION_ACTIVE && (int)s.status <= SESSION_ENDED);
	CHECK(s.orders_accepted >= 0 && s.orders_rejected >= 0);
	CHECK(s.contracts_submitted >= 0 && s.contracts_filled >= 0);

	pub = session_to_json(&s);
	CHECK(pub != NULL);
	text = json_dumps(pub, JSON_COMPACT);
	CHECK(text != NULL);
	free(text);
	json_decref(pub);

	st = session_to_state(&s);
	CHECK(st != NULL);
	text = json_dumps(st, JSON_COMPACT);
	CHECK(text != NULL);
	free(text);
	CHECK(session_from_state(st, &again, err, sizeof err) == 0);
	check_same_record(&s, &again);
	/* Written once, the state form is a fixed point; this also covers
	 * persisted fields check_same_record does not name yet. */
	st2 = session_to_state(&again);
	CHECK(st2 != NULL && json_equal(st, st2));
	json_decref(st2);
	json_decref(st);
}

/* The whole input as one C string, for the helpers that take one. */
static void fuzz_strings(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t ms;

	CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	/* the strict time format reads back to the very text it came from */
	if (session_parse_time(s, &ms) == 0 && ms >= 0) {
		char buf[40];

		session_format_time(ms, buf, sizeof buf);
		CHECK(strcmp(buf, s) == 0);
	}
	if (session_name_ok(s))
		CHECK(strlen(s) >= 1 && strlen(s) <= SESSION_NAME_MAX);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	json_error_t e;
	json_t *j;

	/* Bodies are read as exactly size bytes of the fuzzer's buffer, so a
	 * read past them is caught. */
	fuzz_start(body, size);
	fuzz_ops(body, size);
	fuzz_strings(data, size);

	/* the state file is loaded with duplicates refused, like the gateway */
	j = json_loadb(body, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (j != NULL) {
		json_t *arr, *v;
		size_t i;

		fuzz_record(j);
		arr = json_object_get(j, "sessions");
		json_array_foreach(arr, i, v)
			fuzz_record(v);
		arr = json_object_get(j, "history");
		json_array_foreach(arr, i, v)
			fuzz_record(v);
		json_decref(j);
	}
	return 0;
}
