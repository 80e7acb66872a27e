/*
 * Unit tests for policy/session: session names, RFC 3339 times, the public
 * session object S (DESIGN.md "Gateway endpoints"), the state-file form,
 * and the parsing of /session bodies, table by table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/session.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define NAME64 "abcdefghijABCDEFGHIJ0123456789_-abcdefghijABCDEFGHIJ0123456789_-"
#define NAME65 NAME64 "x"

/* ---- names ---- */

struct name_case {
	const char *name;
	int ok;
};

static const struct name_case name_cases[] = {
	{ "default", 1 },
	{ "a", 1 },
	{ "A", 1 },
	{ "0", 1 },
	{ "_", 1 },
	{ "-", 1 },
	{ "alpha_1-B", 1 },
	{ NAME64, 1 },
	{ NAME65, 0 },
	{ "", 0 },
	{ NULL, 0 },
	{ ".", 0 },
	{ "..", 0 },
	{ "a.b", 0 },
	{ " ", 0 },
	{ "a b", 0 },
	{ " a", 0 },
	{ "a ", 0 },
	{ "a/b", 0 },
	{ "a\\b", 0 },
	{ "a\tb", 0 },
	{ "a\nb", 0 },
	{ "a:b", 0 },
	{ "a%20b", 0 },
	{ "a+b", 0 },
	{ "caf\xc3\xa9", 0 },         /* café */
	{ "\xe2\x82\xac", 0 },        /* € */
	{ "\xff", 0 },
};

static void test_name_ok(void **state)
{
	(void)state;
	assert_int_equal(strlen(NAME64), 64);
	for (size_t i = 0; i < N(name_cases); i++) {
		int got = session_name_ok(name_cases[i].name) != 0;
		if (got != name_cases[i].ok)
			fail_msg("name '%s': got %d, want %d",
				 name_cases[i].name ? name_cases[i].name : "(NULL)", got, name_cases[i].ok);
	}
}

/* ---- times ---- */

struct time_case {
	int64_t ms;
	const char *text;
};

static const struct time_case time_cases[] = {
	{ INT64_C(1795986888123), "2026-11-29T21:14:48.123Z" },
	{ INT64_C(951868799999), "2000-02-29T23:59:59.999Z" },
	{ INT64_C(1704067200000), "2024-01-01T00:00:00.000Z" },
	{ INT64_C(1704067200001), "2024-01-01T00:00:00.001Z" },
	{ INT64_C(1704067200010), "2024-01-01T00:00:00.010Z" },
	{ INT64_C(1704067200100), "2024-01-01T00:00:00.100Z" },
	{ INT64_C(1), "1970-01-01T00:00:00.001Z" },
};

static void test_time_format_and_parse(void **state)
{
	char buf[32];
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < N(time_cases); i++) {
		memset(buf, 'x', sizeof buf);
		session_format_time(time_cases[i].ms, buf, sizeof buf);
		assert_string_equal(buf, time_cases[i].text);
		assert_int_equal(strlen(buf), 24);
		ms = -1;
		assert_int_equal(session_parse_time(time_cases[i].text, &ms), 0);
		assert_int_equal(ms, time_cases[i].ms);
	}
}

static void test_time_round_trip(void **state)
{
	char buf[32];
	int64_t ms;

	(void)state;
	/* every millisecond of a second, and seconds across days and years */
	for (int64_t t = INT64_C(1795986888000); t < INT64_C(1795986889000); t++) {
		session_format_time(t, buf, sizeof buf);
		assert_int_equal(session_parse_time(buf, &ms), 0);
		assert_int_equal(ms, t);
	}
	for (int64_t t = INT64_C(946684800000); t < INT64_C(4102444800000);
	     t += INT64_C(86399) * 1000 * 37 + 7) {
		session_format_time(t, buf, sizeof buf);
		assert_int_equal(session_parse_time(buf, &ms), 0);
		assert_int_equal(ms, t);
	}
}

static const char *const bad_times[] = {
	"",
	"garbage",
	"2026-11-29",
	"2026-11-29T21:14:48Z",           /* no milliseconds */
	"2026-11-29T21:14:48.123",        /* no Z */
	"2026-11-29T21:14:48.123z",
	"2026-11-29T21:14:48.123+00:00",
	"2026-11-29 21:14:48.123Z",
	"2026-11-29t21:14:48.123Z",
	"2026-11-29T21:14:48.1Z",         /* milliseconds are three digits */
	"2026-11-29T21:14:48.12Z",
	"2026-11-29T21:14:48.1234Z",
	"2026-11-29T21:14:48.123Zjunk",
	"2026-11-29T21:14:48.123Z ",
	" 2026-11-29T21:14:48.123Z",
	"+2026-11-29T21:14:48.123Z",
	"2026-1-29T21:14:48.123Z",
	"2026-11-9T21:14:48.123Z",
	"2026-11-29T1:14:48.123Z",
	"2026-11-29T21: 4:48.123Z",
	"2026-+1-29T21:14:48.123Z",
	"2026-13-29T21:14:48.123Z",       /* out of range fields */
	"2026-00-29T21:14:48.123Z",
	"2026-11-00T21:14:48.123Z",
	"2026-11-31T21:14:48.123Z",
	"2026-02-29T21:14:48.123Z",       /* 2026 is not a leap year */
	"2026-11-29T24:00:00.000Z",
	"2026-11-29T21:60:48.123Z",
	"2026-11-29T21:14:60.123Z",
	"2026-11-29T21:14:48.-12Z",
};

static void test_time_parse_refusals(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(session_parse_time(NULL, &ms), -1);
	for (size_t i = 0; i < N(bad_times); i++) {
		ms = 42;
		if (session_parse_time(bad_times[i], &ms) == 0)
			fail_msg("time '%s' was accepted as %lld", bad_times[i], (long long)ms);
		assert_int_equal(ms, 42);
	}
	/* a leap day is fine in a leap year */
	assert_int_equal(session_parse_time("2028-02-29T00:00:00.000Z", &ms), 0);
}

/* ---- the session object S ---- */

/* A session with every field set to something distinctive. */
static void sample_session(struct session *s)
{
	memset(s, 0, sizeof *s);
	strcpy(s->name, "alpha");
	strcpy(s->session_id, "sess-0001");
	strcpy(s->order_group_id, "og-abc-123");
	s->subaccount = 2;
	s->exchange_index = 0;
	s->status = SESSION_ACTIVE;
	s->contracts_limit = 10;
	s->started_at_ms = INT64_C(1795986888123);
	s->orders_accepted = 12;
	s->orders_rejected = 3;
	s->contracts_submitted = 1250;
	s->contracts_filled = 5;
	s->cooldown_s = -1;
	s->max_auto_resets = -1;
	s->last_heartbeat_ms = INT64_C(1795986890000);
}

enum jtype { J_STRING, J_INTEGER, J_NULL, J_ARRAY };

struct key_want {
	const char *key;
	enum jtype type;
	const char *str;         /* J_STRING: the value */
	long long num;           /* J_INTEGER: the value; J_ARRAY: the size */
};

/* Checks that o has exactly the keys of want, with those types and values. */
static void check_object(const json_t *o, const struct key_want *want, size_t n)
{
	assert_true(json_is_object(o));
	if (json_object_size(o) != n) {
		char *d = json_dumps(o, JSON_SORT_KEYS);
		fail_msg("object has %zu keys, want %zu: %s", json_object_size(o), n, d ? d : "?");
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_object_get(o, want[i].key);
		if (!v)
			fail_msg("key '%s' missing", want[i].key);
		switch (want[i].type) {
		case J_STRING:
			if (!json_is_string(v))
				fail_msg("key '%s' is not a string", want[i].key);
			if (strcmp(json_string_value(v), want[i].str) != 0)
				fail_msg("key '%s' is '%s', want '%s'", want[i].key, json_string_value(v),
					 want[i].str);
			break;
		case J_INTEGER:
			if (!json_is_integer(v))
				fail_msg("key '%s' is not an integer", want[i].key);
			if (json_integer_value(v) != want[i].num)
				fail_msg("key '%s' is %lld, want %lld", want[i].key,
					 (long long)json_integer_value(v), want[i].num);
			break;
		case J_NULL:
			if (!json_is_null(v))
				fail_msg("key '%s' is not null", want[i].key);
			break;
		case J_ARRAY:
			if (!json_is_array(v) || (long long)json_array_size(v) != want[i].num)
				fail_msg("key '%s' is not an array of %lld", want[i].key, want[i].num);
			break;
		}
	}
}

static void test_to_json_active(void **state)
{
	static const struct key_want want[] = {
		{ "name", J_STRING, "alpha", 0 },
		{ "session_id", J_STRING, "sess-0001", 0 },
		{ "order_group_id", J_STRING, "og-abc-123", 0 },
		{ "subaccount", J_INTEGER, NULL, 2 },
		{ "exchange_index", J_INTEGER, NULL, 0 },
		{ "status", J_STRING, "active", 0 },
		{ "status_reason", J_NULL, NULL, 0 },
		{ "contracts_limit", J_INTEGER, NULL, 10 },
		{ "heartbeat_timeout_s", J_NULL, NULL, 0 },
		{ "started_at", J_STRING, "2026-11-29T21:14:48.123Z", 0 },
		{ "ended_at", J_NULL, NULL, 0 },
		{ "orders_accepted", J_STRING, "12.00", 0 },
		{ "orders_rejected", J_STRING, "3.00", 0 },
		{ "contracts_submitted", J_STRING, "12.50", 0 },
		{ "contracts_filled", J_STRING, "0.05", 0 },
		{ "max_session_filled_contracts", J_NULL, NULL, 0 },
		{ "auto_resets", J_INTEGER, NULL, 0 },
		{ "previous_group_ids", J_ARRAY, NULL, 0 },
	};
	struct session s;
	json_t *o;

	(void)state;
	sample_session(&s);
	o = session_to_json(&s);
	assert_non_null(o);
	check_object(o, want, N(want));
	json_decref(o);
}

static void test_to_json_ended(void **state)
{
	static const struct key_want want[] = {
		{ "name", J_STRING, "alpha", 0 },
		{ "session_id", J_STRING, "sess-0001", 0 },
		{ "order_group_id", J_STRING, "og-abc-123", 0 },
		{ "subaccount", J_INTEGER, NULL, 2 },
		{ "exchange_index", J_INTEGER, NULL, 4 },
		{ "status", J_STRING, "ended", 0 },
		{ "status_reason", J_STRING, "filled_cap", 0 },
		{ "contracts_limit", J_INTEGER, NULL, 1000000 },
		{ "heartbeat_timeout_s", J_INTEGER, NULL, 30 },
		{ "started_at", J_STRING, "2026-11-29T21:14:48.123Z", 0 },
		{ "ended_at", J_STRING, "2024-01-01T00:00:00.010Z", 0 },
		{ "orders_accepted", J_STRING, "0.00", 0 },
		{ "orders_rejected", J_STRING, "0.00", 0 },
		{ "contracts_submitted", J_STRING, "0.00", 0 },
		{ "contracts_filled", J_STRING, "100000.00", 0 },
		{ "max_session_filled_contracts", J_STRING, "7.00", 0 },
		{ "auto_resets", J_INTEGER, NULL, 1 },
		{ "previous_group_ids", J_ARRAY, NULL, 1 },
	};
	struct session s;
	json_t *o;

	(void)state;
	sample_session(&s);
	s.exchange_index = 4;
	s.status = SESSION_ENDED;
	strcpy(s.status_reason, "filled_cap");
	s.contracts_limit = 1000000;
	s.heartbeat_timeout_s = 30;
	s.ended_at_ms = INT64_C(1704067200010);
	s.orders_accepted = s.orders_rejected = s.contracts_submitted = 0;
	s.contracts_filled = 10000000;
	s.has_max_filled = 1;
	s.max_session_filled_contracts = 700;
	strcpy(s.on_trigger, "new_group");
	strcpy(s.pending, "end");
	s.auto_resets = 1;
	strcpy(s.previous_group_ids[0], "og-old");
	s.nprevious = 1;
	o = session_to_json(&s);
	assert_non_null(o);
	/* internal fields stay out of S */
	check_object(o, want, N(want));
	json_decref(o);
}

static void test_status_names(void **state)
{
	struct session s;
	json_t *o;

	(void)state;
	assert_string_equal(session_status_name(SESSION_ACTIVE), "active");
	assert_string_equal(session_status_name(SESSION_TRIGGERED), "triggered");
	assert_string_equal(session_status_name(SESSION_ENDED), "ended");
	sample_session(&s);
	s.status = SESSION_TRIGGERED;
	strcpy(s.status_reason, "limit_window");
	o = session_to_json(&s);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "triggered");
	assert_string_equal(json_string_value(json_object_get(o, "status_reason")), "limit_window");
	json_decref(o);
}

/* ---- the state-file form ---- */

/* Checks that every persisted field of b equals a's. */
static void check_same_session(const struct session *a, const struct session *b)
{
	assert_string_equal(b->name, a->name);
	assert_string_equal(b->session_id, a->session_id);
	assert_string_equal(b->order_group_id, a->order_group_id);
	assert_int_equal(b->subaccount, a->subaccount);
	assert_int_equal(b->exchange_index, a->exchange_index);
	assert_int_equal(b->status, a->status);
	assert_string_equal(b->status_reason, a->status_reason);
	assert_int_equal(b->contracts_limit, a->contracts_limit);
	assert_int_equal(b->heartbeat_timeout_s, a->heartbeat_timeout_s);
	assert_int_equal(b->started_at_ms, a->started_at_ms);
	assert_int_equal(b->ended_at_ms, a->ended_at_ms);
	assert_int_equal(b->orders_accepted, a->orders_accepted);
	assert_int_equal(b->orders_rejected, a->orders_rejected);
	assert_int_equal(b->contracts_submitted, a->contracts_submitted);
	assert_int_equal(b->contracts_filled, a->contracts_filled);
	assert_int_equal(b->has_max_filled, a->has_max_filled);
	assert_int_equal(b->max_session_filled_contracts, a->max_session_filled_contracts);
	assert_string_equal(b->on_trigger, a->on_trigger);
	assert_int_equal(b->cooldown_s, a->cooldown_s);
	assert_int_equal(b->max_auto_resets, a->max_auto_resets);
	assert_int_equal(b->last_heartbeat_ms, a->last_heartbeat_ms);
	assert_string_equal(b->pending, a->pending);
	assert_int_equal(b->auto_resets, a->auto_resets);
	assert_int_equal(b->nprevious, a->nprevious);
	for (unsigned i = 0; i < a->nprevious; i++)
		assert_string_equal(b->previous_group_ids[i], a->previous_group_ids[i]);
}

/* to_state, dump to text, load, from_state: the same session comes back. */
static void round_trip(const struct session *a)
{
	struct session b;
	char err[128] = "";
	json_t *st = session_to_state(a), *back;
	char *text;
	json_error_t e;

	assert_non_null(st);
	text = json_dumps(st, JSON_COMPACT);
	assert_non_null(text);
	back = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	assert_non_null(back);
	memset(&b, 0x5A, sizeof b);
	if (session_from_state(back, &b, err, sizeof err) != 0)
		fail_msg("from_state refused %s: %s", text, err);
	check_same_session(a, &b);
	free(text);
	json_decref(back);
	json_decref(st);
}

static void test_state_round_trip(void **state)
{
	struct session s;

	(void)state;
	sample_session(&s);
	round_trip(&s);

	s.status = SESSION_TRIGGERED;
	strcpy(s.status_reason, "dead_man");
	s.heartbeat_timeout_s = 15;
	s.has_max_filled = 1;
	s.max_session_filled_contracts = 1234;
	strcpy(s.on_trigger, "reset_after");
	s.cooldown_s = 30;
	s.max_auto_resets = 0;
	s.auto_resets = 2;
	strcpy(s.previous_group_ids[0], "old-group-1");
	strcpy(s.previous_group_ids[1], "old-group-2");
	s.nprevious = 2;
	round_trip(&s);

	s.status = SESSION_ENDED;
	strcpy(s.status_reason, "ended");
	s.ended_at_ms = INT64_C(1795986999999);
	strcpy(s.pending, "end");
	strcpy(s.name, NAME64);
	strcpy(s.session_id, "0123456789abcdef0123456789abcdef012345"); /* 38 chars */
	memset(s.order_group_id, 'g', sizeof s.order_group_id - 1);
	s.order_group_id[sizeof s.order_group_id - 1] = '\0';
	s.orders_accepted = INT64_C(123456789);
	s.contracts_submitted = INT64_C(99999999999999);
	round_trip(&s);
}

/* The state form is S plus the internal fields, nothing else. */
static void test_state_keys(void **state)
{
	static const char *const want[] = {
		"name", "session_id", "order_group_id", "subaccount", "exchange_index", "status",
		"status_reason", "contracts_limit", "heartbeat_timeout_s", "started_at", "ended_at",
		"orders_accepted", "orders_rejected", "contracts_submitted", "contracts_filled",
		"max_session_filled_contracts", "last_heartbeat_ms", "on_trigger", "cooldown_s",
		"max_auto_resets", "pending", "resting", "client_submitted", "auto_resets",
		"previous_group_ids",
	};
	struct session s;
	json_t *st;

	(void)state;
	sample_session(&s);
	st = session_to_state(&s);
	assert_non_null(st);
	assert_int_equal(json_object_size(st), N(want));
	for (size_t i = 0; i < N(want); i++)
		if (!json_object_get(st, want[i]))
			fail_msg("state key '%s' missing", want[i]);
	json_decref(st);
}

/* A mutation of a valid state object that from_state must refuse. */
struct state_bad {
	const char *key;
	const char *json;        /* new value as JSON text; NULL = delete the key */
};

static const struct state_bad state_bads[] = {
	{ "name", NULL }, { "name", "123" }, { "name", "null" }, { "name", "\"\"" },
	{ "name", "\"a b\"" }, { "name", "\"" NAME65 "\"" },
	{ "session_id", NULL }, { "session_id", "1" }, { "session_id", "null" },
	{ "session_id", "\"0123456789012345678901234567890123456789\"" },   /* 40: too long */
	{ "order_group_id", NULL }, { "order_group_id", "{}" },
	{ "subaccount", NULL }, { "subaccount", "\"2\"" }, { "subaccount", "2.5" },
	{ "subaccount", "null" },
	{ "exchange_index", NULL }, { "exchange_index", "true" },
	{ "status", NULL }, { "status", "\"paused\"" }, { "status", "\"Active\"" },
	{ "status", "1" }, { "status", "\"\"" },
	{ "status_reason", "1" }, { "status_reason", "\"0123456789012345678901234\"" },
	{ "contracts_limit", NULL }, { "contracts_limit", "\"10\"" }, { "contracts_limit", "10.0" },
	{ "heartbeat_timeout_s", "\"30\"" },
	{ "started_at", "\"yesterday\"" }, { "started_at", "1795986888123" },
	{ "started_at", "\"2026-11-29T21:14:48Z\"" },
	{ "ended_at", "\"x\"" }, { "ended_at", "true" },
	{ "orders_accepted", NULL }, { "orders_accepted", "12" }, { "orders_accepted", "\"abc\"" },
	{ "orders_accepted", "\"-1\"" },
	{ "orders_rejected", NULL }, { "orders_rejected", "null" },
	{ "contracts_submitted", NULL }, { "contracts_submitted", "\"1.234\"" },
	{ "contracts_filled", NULL }, { "contracts_filled", "5" },
	{ "max_session_filled_contracts", "\"abc\"" },
	{ "max_session_filled_contracts", "7" },
	{ "max_session_filled_contracts", "\"-7\"" },
	{ "last_heartbeat_ms", "\"1\"" },
	{ "on_trigger", "1" },
	{ "cooldown_s", "\"30\"" },
	{ "max_auto_resets", "1.5" },
	{ "pending", "true" },
	{ "auto_resets", "\"1\"" }, { "auto_resets", "-1" },
	{ "previous_group_ids", "\"g\"" }, { "previous_group_ids", "[1]" },
};

static void test_from_state_refusals(void **state)
{
	struct session s, out, untouched;
	char err[128];

	(void)state;
	sample_session(&s);
	for (size_t i = 0; i < N(state_bads); i++) {
		json_t *st = session_to_state(&s);
		assert_non_null(st);
		if (state_bads[i].json) {
			json_error_t e;
			json_t *v = json_loads(state_bads[i].json, JSON_DECODE_ANY, &e);
			assert_non_null(v);
			assert_int_equal(json_object_set_new(st, state_bads[i].key, v), 0);
		} else {
			assert_int_equal(json_object_del(st, state_bads[i].key), 0);
		}
		memset(&out, 0x5A, sizeof out);
		memcpy(&untouched, &out, sizeof out);
		err[0] = '\0';
		if (session_from_state(st, &out, err, sizeof err) == 0)
			fail_msg("state with %s = %s was accepted", state_bads[i].key,
				 state_bads[i].json ? state_bads[i].json : "(missing)");
		if (!strstr(err, state_bads[i].key))
			fail_msg("state with %s = %s: error '%s' does not name the field",
				 state_bads[i].key, state_bads[i].json ? state_bads[i].json : "(missing)",
				 err);
		assert_memory_equal(&out, &untouched, sizeof out);
		json_decref(st);
	}
}

/* Nullable and optional fields: accepted when null or absent. */
static void test_from_state_optional(void **state)
{
	static const char *const nullable[] = {
		"status_reason", "heartbeat_timeout_s", "ended_at", "max_session_filled_contracts",
	};
	static const char *const optional[] = {
		"max_session_filled_contracts", "last_heartbeat_ms", "on_trigger", "cooldown_s",
		"max_auto_resets", "pending", "resting", "client_submitted", "auto_resets",
		"previous_group_ids",
	};
	struct session s, out;
	char err[128];
	json_t *st;

	(void)state;
	sample_session(&s);
	strcpy(s.status_reason, "halted");
	s.heartbeat_timeout_s = 10;
	s.ended_at_ms = INT64_C(1795986999999);
	for (size_t i = 0; i < N(nullable); i++) {
		st = session_to_state(&s);
		assert_non_null(st);
		json_object_set_new(st, nullable[i], json_null());
		if (session_from_state(st, &out, err, sizeof err) != 0)
			fail_msg("null %s refused: %s", nullable[i], err);
		json_decref(st);
	}
	st = session_to_state(&s);
	assert_non_null(st);
	for (size_t i = 0; i < N(optional); i++)
		json_object_del(st, optional[i]);
	if (session_from_state(st, &out, err, sizeof err) != 0)
		fail_msg("state without optional fields refused: %s", err);
	assert_false(out.has_max_filled);
	assert_int_equal(out.last_heartbeat_ms, 0);
	assert_string_equal(out.on_trigger, "");
	assert_int_equal(out.cooldown_s, -1);
	assert_int_equal(out.max_auto_resets, -1);
	assert_string_equal(out.pending, "");
	json_decref(st);

	assert_int_equal(session_from_state(NULL, &out, err, sizeof err), -1);
	st = json_array();
	assert_int_equal(session_from_state(st, &out, err, sizeof err), -1);
	json_decref(st);
}

/* ---- /session/start ---- */

/* Checks the error convention: -1, a known code, a lower-case message
 * without a full stop, and *out untouched. */
static void check_refused(int rc, const char *code, const char *want_code, const char *msg,
			  const char *body)
{
	size_t n = strlen(msg);

	if (rc != -1)
		fail_msg("body '%s' was accepted", body);
	if (!code || strcmp(code, want_code) != 0)
		fail_msg("body '%s': code '%s', want '%s'", body, code ? code : "(NULL)", want_code);
	if (n == 0 || (msg[0] >= 'A' && msg[0] <= 'Z') || msg[n - 1] == '.')
		fail_msg("body '%s': message '%s' is empty, capitalised or ends in a full stop", body,
			 msg);
}

static int parse_start(const char *body, struct session_start_req *r, const char **code,
		       char *msg, size_t msglen)
{
	*code = NULL;
	msg[0] = '\0';
	return session_parse_start(body, strlen(body), r, code, msg, msglen);
}

static void test_start_minimal(void **state)
{
	struct session_start_req r;
	const char *code;
	char msg[256];

	(void)state;
	memset(&r, 0x5A, sizeof r);
	assert_int_equal(parse_start("{\"contracts_limit\": 10}", &r, &code, msg, sizeof msg), 0);
	assert_string_equal(r.name, "");
	assert_int_equal(r.contracts_limit, 10);
	assert_int_equal(r.subaccount, 0);
	assert_int_equal(r.exchange_index, 0);
	assert_int_equal(r.heartbeat_timeout_s, 0);
	assert_false(r.has_max_filled);
	assert_string_equal(r.on_trigger, "");
	assert_int_equal(r.cooldown_s, -1);
	assert_int_equal(r.max_auto_resets, -1);

	assert_int_equal(parse_start("{\"contracts_limit\": 1}", &r, &code, msg, sizeof msg), 0);
	assert_int_equal(r.contracts_limit, 1);
	assert_int_equal(parse_start("{\"contracts_limit\": 1000000}", &r, &code, msg, sizeof msg), 0);
	assert_int_equal(r.contracts_limit, 1000000);
	assert_int_equal(parse_start(" \n{ \"contracts_limit\" : 5 }\n ", &r, &code, msg, sizeof msg),
			 0);
	assert_int_equal(r.contracts_limit, 5);
}

static void test_start_all_fields(void **state)
{
	struct session_start_req r;
	const char *code;
	char msg[256];

	(void)state;
	assert_int_equal(parse_start("{\"contracts_limit\": 250, \"name\": \"alpha_1-B\","
				     " \"subaccount\": 3, \"exchange_index\": 1,"
				     " \"heartbeat_timeout_s\": 30,"
				     " \"max_session_filled_contracts\": \"12.50\","
				     " \"on_trigger\": \"reset_after\", \"cooldown_s\": 0,"
				     " \"max_auto_resets\": 5}",
				     &r, &code, msg, sizeof msg), 0);
	assert_string_equal(r.name, "alpha_1-B");
	assert_int_equal(r.contracts_limit, 250);
	assert_int_equal(r.subaccount, 3);
	assert_int_equal(r.exchange_index, 1);
	assert_int_equal(r.heartbeat_timeout_s, 30);
	assert_true(r.has_max_filled);
	assert_int_equal(r.max_session_filled_contracts, 1250);
	assert_string_equal(r.on_trigger, "reset_after");
	assert_int_equal(r.cooldown_s, 0);
	assert_int_equal(r.max_auto_resets, 5);

	/* a count may be a JSON integer too */
	assert_int_equal(parse_start("{\"contracts_limit\": 2, \"max_session_filled_contracts\": 7,"
				     " \"on_trigger\": \"new_group\", \"name\": \"" NAME64 "\"}",
				     &r, &code, msg, sizeof msg), 0);
	assert_true(r.has_max_filled);
	assert_int_equal(r.max_session_filled_contracts, 700);
	assert_string_equal(r.on_trigger, "new_group");
	assert_string_equal(r.name, NAME64);

	/* null optional fields are absent ones */
	assert_int_equal(parse_start("{\"contracts_limit\": 2, \"name\": null, \"subaccount\": null,"
				     " \"exchange_index\": null, \"heartbeat_timeout_s\": null,"
				     " \"max_session_filled_contracts\": null, \"on_trigger\": null,"
				     " \"cooldown_s\": null, \"max_auto_resets\": null}",
				     &r, &code, msg, sizeof msg), 0);
	assert_string_equal(r.name, "");
	assert_false(r.has_max_filled);
	assert_int_equal(r.heartbeat_timeout_s, 0);
	assert_int_equal(r.cooldown_s, -1);
	assert_string_equal(r.on_trigger, "");
}

struct bad_body {
	const char *body;
	const char *code;
};

#define IR "invalid_request"
#define IJ "invalid_json"

static const struct bad_body start_bads[] = {
	{ "{\"contracts_limit\": 0}", IR },
	{ "{\"contracts_limit\": -1}", IR },
	{ "{\"contracts_limit\": 1000001}", IR },
	{ "{\"contracts_limit\": 99999999999999999}", IR },
	{ "{\"contracts_limit\": \"10\"}", IR },
	{ "{\"contracts_limit\": 10.5}", IR },
	{ "{\"contracts_limit\": 10.0}", IR },
	{ "{\"contracts_limit\": 1e1}", IR },
	{ "{\"contracts_limit\": true}", IR },
	{ "{\"contracts_limit\": null}", IR },
	{ "{\"contracts_limit\": [10]}", IR },
	{ "{}", IR },
	{ "", IR },                                  /* empty body: contracts_limit missing */
	{ "{\"name\": \"alpha\"}", IR },
	{ "{\"contracts_limit\": 10, \"foo\": 1}", IR },
	{ "{\"contracts_limit\": 10, \"Name\": \"a\"}", IR },
	{ "{\"contracts_limit\": 10, \"all\": true}", IR },
	{ "{\"contracts_limit\": 10, \"name\": \"bad name\"}", IR },
	{ "{\"contracts_limit\": 10, \"name\": \"\"}", IR },
	{ "{\"contracts_limit\": 10, \"name\": \".\"}", IR },
	{ "{\"contracts_limit\": 10, \"name\": \"a/b\"}", IR },
	{ "{\"contracts_limit\": 10, \"name\": \"caf\\u00e9\"}", IR },
	{ "{\"contracts_limit\": 10, \"name\": \"" NAME65 "\"}", IR },
	{ "{\"contracts_limit\": 10, \"name\": 7}", IR },
	{ "{\"contracts_limit\": 10, \"subaccount\": -1}", IR },
	{ "{\"contracts_limit\": 10, \"subaccount\": \"1\"}", IR },
	{ "{\"contracts_limit\": 10, \"exchange_index\": -1}", IR },
	{ "{\"contracts_limit\": 10, \"heartbeat_timeout_s\": 0}", IR },
	{ "{\"contracts_limit\": 10, \"heartbeat_timeout_s\": 86401}", IR },
	{ "{\"contracts_limit\": 10, \"heartbeat_timeout_s\": \"30\"}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": 0}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": \"0\"}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": -5}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": 1.5}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": \"1.234\"}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": \"abc\"}", IR },
	{ "{\"contracts_limit\": 10, \"max_session_filled_contracts\": true}", IR },
	{ "{\"contracts_limit\": 10, \"on_trigger\": \"never\"}", IR },
	{ "{\"contracts_limit\": 10, \"on_trigger\": \"\"}", IR },
	{ "{\"contracts_limit\": 10, \"on_trigger\": 1}", IR },
	{ "{\"contracts_limit\": 10, \"cooldown_s\": -1}", IR },
	{ "{\"contracts_limit\": 10, \"cooldown_s\": \"5\"}", IR },
	{ "{\"contracts_limit\": 10, \"max_auto_resets\": -1}", IR },
	{ "{\"contracts_limit\": 10, \"contracts_limit\": 20}", IR },    /* duplicate keys */
	{ "{\"contracts_limit\": 10, \"name\": \"a\", \"name\": \"b\"}", IR },
	{ "[]", IR },                                /* JSON, but not an object */
	{ "[{\"contracts_limit\": 10}]", IR },
	{ "10", IR },
	{ "\"x\"", IR },
	{ "null", IR },
	{ "{", IJ },
	{ "not json", IJ },
	{ " ", IJ },
	{ "{\"contracts_limit\": 10,}", IJ },
	{ "{\"contracts_limit\": 10} x", IJ },
	{ "{\"contracts_limit\": 10}{}", IJ },
	{ "{'contracts_limit': 10}", IJ },
	{ "{\"contracts_limit\": 10, \"name\": \"a\\u0000b\"}", IJ },
};

static void test_start_refusals(void **state)
{
	struct session_start_req r, untouched;
	const char *code;
	char msg[256];

	(void)state;
	for (size_t i = 0; i < N(start_bads); i++) {
		int rc;
		memset(&r, 0x5A, sizeof r);
		memcpy(&untouched, &r, sizeof r);
		rc = parse_start(start_bads[i].body, &r, &code, msg, sizeof msg);
		check_refused(rc, code, start_bads[i].code, msg, start_bads[i].body);
		assert_memory_equal(&r, &untouched, sizeof r);
	}
}

/* A body with a NUL inside its declared length is not JSON. */
static void test_start_embedded_nul(void **state)
{
	static const char body[] = "{\"contracts_limit\": 10}\0";
	struct session_start_req r;
	const char *code = NULL;
	char msg[256] = "";

	(void)state;
	assert_int_equal(session_parse_start(body, sizeof body - 1, &r, &code, msg, sizeof msg), -1);
	assert_non_null(code);
	assert_string_equal(code, IJ);
}

/* ---- reset / end / heartbeat / halt / limit ---- */

struct op_case {
	enum session_op op;
	const char *body;
	const char *code;        /* NULL = accepted */
};

#define ALL_OPS(body, code_plain, code_halt, code_limit) \
	{ SESSION_OP_RESET, body, code_plain }, { SESSION_OP_END, body, code_plain }, \
	{ SESSION_OP_HEARTBEAT, body, code_plain }, { SESSION_OP_HALT, body, code_halt }, \
	{ SESSION_OP_LIMIT, body, code_limit }

static const struct op_case op_cases[] = {
	ALL_OPS("", NULL, NULL, IR),                 /* limit needs a limit */
	ALL_OPS("{}", NULL, NULL, IR),
	ALL_OPS("{\"name\": \"x\"}", NULL, NULL, IR),
	ALL_OPS("{\"name\": null}", NULL, NULL, IR),
	ALL_OPS("{\"name\": \"" NAME64 "\"}", NULL, NULL, IR),
	ALL_OPS("{\"foo\": 1}", IR, IR, IR),
	ALL_OPS("{\"name\": \"x\", \"foo\": 1}", IR, IR, IR),
	ALL_OPS("{\"name\": \"bad name\"}", IR, IR, IR),
	ALL_OPS("{\"name\": \"\"}", IR, IR, IR),
	ALL_OPS("{\"name\": \"" NAME65 "\"}", IR, IR, IR),
	ALL_OPS("{\"name\": 1}", IR, IR, IR),
	ALL_OPS("{\"name\": \"a\", \"name\": \"b\"}", IR, IR, IR),
	ALL_OPS("{\"all\": true}", IR, NULL, IR),    /* halt only */
	ALL_OPS("{\"contracts_limit\": 5}", IR, IR, NULL),   /* limit only */
	ALL_OPS("{\"max_session_filled_contracts\": \"2.5\"}", IR, IR, NULL),
	ALL_OPS("[]", IR, IR, IR),
	ALL_OPS("{", IJ, IJ, IJ),
	ALL_OPS("nope", IJ, IJ, IJ),
	ALL_OPS("{\"name\": \"x\"} {}", IJ, IJ, IJ),

	{ SESSION_OP_HALT, "{\"all\": true, \"name\": \"a\"}", IR },
	{ SESSION_OP_HALT, "{\"name\": \"a\", \"all\": true}", IR },
	{ SESSION_OP_HALT, "{\"all\": false}", NULL },
	{ SESSION_OP_HALT, "{\"all\": false, \"name\": \"a\"}", NULL },
	{ SESSION_OP_HALT, "{\"all\": null}", NULL },
	{ SESSION_OP_HALT, "{\"all\": \"yes\"}", IR },
	{ SESSION_OP_HALT, "{\"all\": 1}", IR },
	{ SESSION_OP_HALT, "{\"all\": true, \"all\": true}", IR },

	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 1}", NULL },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 1000000}", NULL },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 5, \"name\": \"a\"}", NULL },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 5, \"max_session_filled_contracts\": 3}", NULL },
	{ SESSION_OP_LIMIT, "{\"name\": \"a\", \"max_session_filled_contracts\": \"0.01\"}", NULL },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 0}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 1000001}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": \"5\"}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 5.5}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": null}", IR },
	{ SESSION_OP_LIMIT, "{\"max_session_filled_contracts\": 0}", IR },
	{ SESSION_OP_LIMIT, "{\"max_session_filled_contracts\": \"1.001\"}", IR },
	{ SESSION_OP_LIMIT, "{\"max_session_filled_contracts\": 2.5}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 5, \"max_session_filled_contracts\": \"x\"}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 5, \"all\": true}", IR },
	{ SESSION_OP_LIMIT, "{\"contracts_limit\": 5, \"contracts_limit\": 6}", IR },
};

static const char *op_name(enum session_op op)
{
	switch (op) {
	case SESSION_OP_RESET:
		return "reset";
	case SESSION_OP_END:
		return "end";
	case SESSION_OP_HEARTBEAT:
		return "heartbeat";
	case SESSION_OP_HALT:
		return "halt";
	case SESSION_OP_LIMIT:
		return "limit";
	}
	return "?";
}

static void test_op_table(void **state)
{
	struct session_op_req r, untouched;
	const char *code;
	char msg[256];

	(void)state;
	for (size_t i = 0; i < N(op_cases); i++) {
		const struct op_case *c = &op_cases[i];
		int rc;

		memset(&r, 0x5A, sizeof r);
		memcpy(&untouched, &r, sizeof r);
		code = NULL;
		msg[0] = '\0';
		rc = session_parse_op(c->op, c->body, strlen(c->body), &r, &code, msg, sizeof msg);
		if (c->code) {
			char what[320];
			snprintf(what, sizeof what, "%s %s", op_name(c->op), c->body);
			check_refused(rc, code, c->code, msg, what);
			assert_memory_equal(&r, &untouched, sizeof r);
		} else if (rc != 0) {
			fail_msg("%s '%s' refused: %s %s", op_name(c->op), c->body, code ? code : "?", msg);
		}
	}
}

static void test_op_values(void **state)
{
	struct session_op_req r;
	const char *code;
	char msg[256];
	static const char b1[] = "{\"name\": \"x\"}";
	static const char b2[] = "{\"all\": true}";
	static const char b3[] = "{\"contracts_limit\": 7, \"max_session_filled_contracts\": \"2.5\","
				 " \"name\": \"beta\"}";
	static const char b4[] = "{\"max_session_filled_contracts\": 4}";
	static const char b5[] = "{\"contracts_limit\": 9}";

	(void)state;
	memset(&r, 0x5A, sizeof r);
	assert_int_equal(session_parse_op(SESSION_OP_RESET, "", 0, &r, &code, msg, sizeof msg), 0);
	assert_string_equal(r.name, "");
	assert_false(r.all);
	assert_false(r.has_contracts_limit);
	assert_false(r.has_max_filled);

	assert_int_equal(session_parse_op(SESSION_OP_END, b1, strlen(b1), &r, &code, msg,
					  sizeof msg), 0);
	assert_string_equal(r.name, "x");

	assert_int_equal(session_parse_op(SESSION_OP_HALT, b2, strlen(b2), &r, &code, msg,
					  sizeof msg), 0);
	assert_true(r.all);
	assert_string_equal(r.name, "");

	assert_int_equal(session_parse_op(SESSION_OP_LIMIT, b3, strlen(b3), &r, &code, msg,
					  sizeof msg), 0);
	assert_string_equal(r.name, "beta");
	assert_true(r.has_contracts_limit);
	assert_int_equal(r.contracts_limit, 7);
	assert_true(r.has_max_filled);
	assert_int_equal(r.max_session_filled_contracts, 250);

	assert_int_equal(session_parse_op(SESSION_OP_LIMIT, b4, strlen(b4), &r, &code, msg,
					  sizeof msg), 0);
	assert_false(r.has_contracts_limit);
	assert_true(r.has_max_filled);
	assert_int_equal(r.max_session_filled_contracts, 400);

	assert_int_equal(session_parse_op(SESSION_OP_LIMIT, b5, strlen(b5), &r, &code, msg,
					  sizeof msg), 0);
	assert_true(r.has_contracts_limit);
	assert_int_equal(r.contracts_limit, 9);
	assert_false(r.has_max_filled);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_time_format_and_parse),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_time_parse_refusals),
		cmocka_unit_test(test_to_json_active),
		cmocka_unit_test(test_to_json_ended),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_keys),
		cmocka_unit_test(test_from_state_refusals),
		cmocka_unit_test(test_from_state_optional),
		cmocka_unit_test(test_start_minimal),
		cmocka_unit_test(test_start_all_fields),
		cmocka_unit_test(test_start_refusals),
		cmocka_unit_test(test_start_embedded_nul),
		cmocka_unit_test(test_op_table),
		cmocka_unit_test(test_op_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
