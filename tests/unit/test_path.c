/*
 * Unit tests for policy/path: path_check rules as a table of raw paths,
 * path_split and path_classify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/path.h"

#define OK  0
#define BAD (-1)

struct check_case {
	const char *path;
	size_t len;             /* 0: strlen(path) */
	int expect;             /* OK or BAD */
	const char *why;        /* expected reason substring, or NULL */
};

/* Lengths are given explicitly only for paths holding a NUL byte. */
static const struct check_case check_cases[] = {
	/* legitimate */
	{ "/", 0, OK, NULL },
	{ "/trade-api/v2/markets", 0, OK, NULL },
	{ "/trade-api/v2/markets/KXBTC-25DEC31-T100000", 0, OK, NULL },
	{ "/trade-api/v2/portfolio/events/orders/batched", 0, OK, NULL },
	{ "/trade-api/v2/portfolio/order_groups/0b3c5c1e-6a4f-4c1e-9f0a-1d2e3f4a5b6c/reset", 0, OK, NULL },
	{ "/trade-api/v2/markets%3Fx", 0, OK, NULL },
	{ "/trade-api/v2/markets%3fx", 0, OK, NULL },
	{ "/trade-api/v2/a%20b", 0, OK, NULL },
	{ "/trade-api/v2/a%25b", 0, OK, NULL },
	{ "/trade-api/v2/a%23b", 0, OK, NULL },
	{ "/trade-api/v2/a%7Fb", 0, OK, NULL },
	{ "/trade-api/v2/a%C3%A9", 0, OK, NULL },
	{ "/trade-api/v2/a.b", 0, OK, NULL },
	{ "/trade-api/v2/..a", 0, OK, NULL },
	{ "/trade-api/v2/a..", 0, OK, NULL },
	{ "/trade-api/v2/.a", 0, OK, NULL },
	{ "/trade-api/v2/...", 0, OK, NULL },
	{ "/trade-api/v2/a.", 0, OK, NULL },
	{ "/trade-api/v2/~user_x-y", 0, OK, NULL },
	{ "/trade-api/v2/a:b@c!$&'()*+,;=", 0, OK, NULL },
	{ "/trade-api/ws/v2", 0, OK, NULL },
	{ "/healthz", 0, OK, NULL },
	{ "/session/start", 0, OK, NULL },
	{ "/ui", 0, OK, NULL },
	{ "/a", 0, OK, NULL },

	/* leading '/' */
	{ "", 0, BAD, "start with '/'" },
	{ "trade-api/v2/markets", 0, BAD, "start with '/'" },
	{ "*", 0, BAD, "start with '/'" },
	{ "http://x/trade-api/v2/markets", 0, BAD, "start with '/'" },
	{ "%2Ftrade-api/v2/markets", 0, BAD, "start with '/'" },

	/* dot segments, raw and encoded */
	{ "/trade-api/v2/../session/end", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/%2e%2e/session", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/%2E%2E/session", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/%2E%2e/session", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/.%2E/x", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/%2e./x", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/..", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/%2e%2e", 0, BAD, "'..' segment" },
	{ "/..", 0, BAD, "'..' segment" },
	{ "/../trade-api/v2/x", 0, BAD, "'..' segment" },
	{ "/trade-api/v2/./markets", 0, BAD, "'.' segment" },
	{ "/trade-api/v2/%2e/markets", 0, BAD, "'.' segment" },
	{ "/trade-api/v2/%2E/markets", 0, BAD, "'.' segment" },
	{ "/trade-api/v2/.", 0, BAD, "'.' segment" },
	{ "/.", 0, BAD, "'.' segment" },
	{ "/./", 0, BAD, "'.' segment" },

	/* empty segments and trailing '/' */
	{ "/trade-api/v2//markets", 0, BAD, "empty segment" },
	{ "//trade-api/v2/markets", 0, BAD, "empty segment" },
	{ "//", 0, BAD, "empty segment" },
	{ "///", 0, BAD, "empty segment" },
	{ "/trade-api/v2/markets//", 0, BAD, "empty segment" },
	{ "/trade-api/v2/markets/", 0, BAD, "trailing '/'" },
	{ "/trade-api/v2/", 0, BAD, "trailing '/'" },
	{ "/ui/", 0, BAD, "trailing '/'" },

	/* encoded separators and NUL */
	{ "/trade-api/v2/markets%2Fx", 0, BAD, "encoded '/'" },
	{ "/trade-api/v2/markets%2fx", 0, BAD, "encoded '/'" },
	{ "/trade-api/v2/%2F", 0, BAD, "encoded '/'" },
	{ "/trade-api/v2/a%5cb", 0, BAD, "encoded backslash" },
	{ "/trade-api/v2/a%5Cb", 0, BAD, "encoded backslash" },
	{ "/trade-api/v2/a%00", 0, BAD, "encoded nul" },
	{ "/trade-api/v2/%00a", 0, BAD, "encoded nul" },

	/* raw bytes */
	{ "/trade-api/v2/a\\b", 0, BAD, "backslash" },
	{ "/trade-api/v2/\\..\\x", 0, BAD, "backslash" },
	{ "/trade-api/v2/a\tb", 0, BAD, "control byte" },
	{ "/trade-api/v2/a\rb", 0, BAD, "control byte" },
	{ "/trade-api/v2/a\nb", 0, BAD, "control byte" },
	{ "/trade-api/v2/a\x1f", 0, BAD, "control byte" },
	{ "/trade-api/v2/a\x7f", 0, BAD, "control byte" },
	{ "/trade-api/v2/a\0b", 16, BAD, "control byte" },
	{ "/trade-api/v2/a b", 0, BAD, "space" },
	{ "/trade-api/v2/a\x80", 0, BAD, "non-ascii" },
	{ "/trade-api/v2/caf\xc3\xa9", 0, BAD, "non-ascii" },
	{ "/trade-api/v2/a\xff", 0, BAD, "non-ascii" },
	{ "/trade-api/v2/a#frag", 0, BAD, "'#'" },
	{ "/trade-api/v2/a?b", 0, BAD, "'?'" },

	/* malformed escapes */
	{ "/trade-api/v2/a%zz", 0, BAD, "two hex digits" },
	{ "/trade-api/v2/a%2", 0, BAD, "two hex digits" },
	{ "/trade-api/v2/a%", 0, BAD, "two hex digits" },
	{ "/trade-api/v2/a%g0", 0, BAD, "two hex digits" },
	{ "/trade-api/v2/a%0g", 0, BAD, "two hex digits" },
	{ "/trade-api/v2/a%%32e", 0, BAD, "two hex digits" },
	{ "/trade-api/v2/a%2/x", 0, BAD, "two hex digits" },

	/* percent-encoded unreserved characters */
	{ "/trade-api/v2/portfolio/%6Frders", 0, BAD, "unreserved" },
	{ "/trade-api/v2/portfolio/order%73", 0, BAD, "unreserved" },
	{ "/trade-api/v2/a%2Db", 0, BAD, "unreserved" },
	{ "/trade-api/v2/a%5fb", 0, BAD, "unreserved" },
	{ "/trade-api/v2/a%7eb", 0, BAD, "unreserved" },
	{ "/trade-api/v2/a%30", 0, BAD, "unreserved" },
	{ "/trade-api/v2/a%2ejson", 0, BAD, "unreserved" },
	{ "/trade-api/v2/%2e%2e%2e", 0, BAD, "unreserved" },
};

/* Runs every row of check_cases and reports all mismatches at once. */
static void test_check_table(void **state)
{
	size_t i;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->path);
		const char *why = "(unset)";
		int rc = path_check(c->path, len, &why);

		if (rc != c->expect) {
			printf("path_check(\"%s\") = %d, expected %d (why: %s)\n",
			       c->path, rc, c->expect, why);
			failures++;
		} else if (rc == BAD && c->why != NULL && strstr(why, c->why) == NULL) {
			printf("path_check(\"%s\") why \"%s\", expected \"%s\"\n",
			       c->path, why, c->why);
			failures++;
		} else if (rc == OK && strcmp(why, "(unset)") != 0) {
			printf("path_check(\"%s\") wrote why on success\n", c->path);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* Only `len` bytes are read: what follows (here a bad byte) is ignored, and
 * a length cutting an escape short is a malformed escape. */
static void test_check_respects_len(void **state)
{
	const char *why = NULL;
	const char *p = "/trade-api/v2/markets\\x";

	(void)state;
	assert_int_equal(path_check(p, strlen("/trade-api/v2/markets"), &why), 0);
	assert_int_equal(path_check(p, strlen(p), &why), -1);
	assert_int_equal(path_check("/a%3Fb", 4, &why), -1);
	assert_non_null(strstr(why, "two hex digits"));
	assert_int_equal(path_check("/a/b", 3, &why), -1);        /* "/a/" */
	assert_int_equal(path_check("/x", 0, &why), -1);
	assert_int_equal(path_check(NULL, 0, &why), -1);
	assert_int_equal(path_check("/a//b", 5, NULL), -1);        /* why may be NULL */
	assert_int_equal(path_check("/a/b", 4, NULL), 0);
}

/* Every reason is lower case. */
static void test_reasons_lower_case(void **state)
{
	size_t i;
	const char *p;

	(void)state;
	for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->path);
		const char *why = NULL;

		if (path_check(c->path, len, &why) == 0)
			continue;
		assert_non_null(why);
		for (p = why; *p != '\0'; p++)
			assert_false(*p >= 'A' && *p <= 'Z');
	}
}

struct split_case {
	const char *target;
	size_t path_len;
	const char *query;      /* expected query text, or NULL */
};

static const struct split_case split_cases[] = {
	{ "/trade-api/v2/markets", 21, NULL },
	{ "/trade-api/v2/markets?limit=5", 21, "limit=5" },
	{ "/trade-api/v2/markets?", 21, "" },
	{ "/trade-api/v2/markets?a=1?b=2", 21, "a=1?b=2" },
	{ "/a%3Fb?c", 6, "c" },
	{ "?x", 0, "x" },
	{ "", 0, NULL },
	{ "/", 1, NULL },
};

/* path_split cuts at the first '?' only. */
static void test_split(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		size_t len = 12345;
		const char *q = "unset";

		path_split(c->target, &len, &q);
		assert_int_equal(len, c->path_len);
		if (c->query == NULL) {
			assert_null(q);
		} else {
			assert_non_null(q);
			assert_string_equal(q, c->query);
			assert_ptr_equal(q, c->target + c->path_len + 1);
		}
	}
}

struct route_case {
	const char *path;
	enum path_route route;
};

static const struct route_case route_cases[] = {
	{ "/healthz", PATH_ROUTE_HEALTHZ },
	{ "/readyz", PATH_ROUTE_READYZ },
	{ "/metrics", PATH_ROUTE_METRICS },
	{ "/session", PATH_ROUTE_SESSION },
	{ "/session/start", PATH_ROUTE_SESSION },
	{ "/session/events", PATH_ROUTE_SESSION },
	{ "/session/", PATH_ROUTE_SESSION },
	{ "/sessions", PATH_ROUTE_SESSIONS },
	{ "/ui", PATH_ROUTE_UI },
	{ "/ui/summary", PATH_ROUTE_UI },
	{ "/ui/", PATH_ROUTE_UI },
	{ "/trade-api/ws/v2", PATH_ROUTE_WS },
	{ "/trade-api/v2/markets", PATH_ROUTE_PROXY },
	{ "/trade-api/v2/x", PATH_ROUTE_PROXY },
	{ "/trade-api/v2/portfolio/events/orders/batched", PATH_ROUTE_PROXY },

	{ "/", PATH_ROUTE_NOT_FOUND },
	{ "", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/v2", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/v2/", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/v3/x", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/v20/x", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/ws/v2/", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/ws/v2x", PATH_ROUTE_NOT_FOUND },
	{ "/trade-api/ws", PATH_ROUTE_NOT_FOUND },
	{ "/TRADE-API/v2/markets", PATH_ROUTE_NOT_FOUND },
	{ "/sessionsX", PATH_ROUTE_NOT_FOUND },
	{ "/sessions/x", PATH_ROUTE_NOT_FOUND },
	{ "/sessionx", PATH_ROUTE_NOT_FOUND },
	{ "/Session", PATH_ROUTE_NOT_FOUND },
	{ "/healthz/", PATH_ROUTE_NOT_FOUND },
	{ "/healthzz", PATH_ROUTE_NOT_FOUND },
	{ "/readyz/x", PATH_ROUTE_NOT_FOUND },
	{ "/metrics2", PATH_ROUTE_NOT_FOUND },
	{ "/uix", PATH_ROUTE_NOT_FOUND },
	{ "/u", PATH_ROUTE_NOT_FOUND },
	{ "/x/trade-api/v2/markets", PATH_ROUTE_NOT_FOUND },
};

/* path_classify on the whole table. */
/* The raw query: forwarded verbatim, so only bytes a request line carries
 * unchanged pass. */
static void test_query_check(void **state)
{
	static const struct { const char *q; int ok; } cases[] = {
		{ NULL, 1 }, { "", 1 }, { "limit=2&status=open", 1 }, { "x=%20y&c=%0D%0A", 1 },
		{ "a=/../session/end", 1 }, { "t=KX-1.2_~!$&'()*+,;=:@/?", 1 },
		{ "a=1\rX-Injected:%201", 0 }, { "a=1\nb", 0 }, { "a=1\tb", 0 }, { "a=\x01", 0 },
		{ "a=\x7f", 0 }, { "a=caf\xc3\xa9", 0 }, { "a=b c", 0 }, { "a=1#frag", 0 },
		{ "a=%", 0 }, { "a=%4", 0 }, { "a=%zz", 0 }, { "a=%4g", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = NULL;
		int got = path_query_check(cases[i].q, &why) == 0;
		if (got != cases[i].ok)
			fail_msg("query case %zu: got %d, want %d", i, got, cases[i].ok);
		if (!got && (!why || !*why))
			fail_msg("query case %zu: refused without a reason", i);
	}
	assert_int_equal(path_query_check("a\x01", NULL), -1);
}

static void test_classify(void **state)
{
	size_t i;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		const struct route_case *c = &route_cases[i];
		enum path_route r = path_classify(c->path, strlen(c->path));

		if (r != c->route) {
			printf("path_classify(\"%s\") = %d, expected %d\n",
			       c->path, (int)r, (int)c->route);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* Classification reads only `len` bytes: a prefix of a longer buffer is
 * classified as itself. */
static void test_classify_respects_len(void **state)
{
	const char *p = "/healthzXYZ";
	const char *t = "/trade-api/v2/markets?x=1";

	(void)state;
	assert_int_equal(path_classify(p, 8), PATH_ROUTE_HEALTHZ);
	assert_int_equal(path_classify(p, strlen(p)), PATH_ROUTE_NOT_FOUND);
	assert_int_equal(path_classify("/sessions", 8), PATH_ROUTE_SESSION);
	assert_int_equal(path_classify(t, 14), PATH_ROUTE_NOT_FOUND);
	assert_int_equal(path_classify(t, 15), PATH_ROUTE_PROXY);
	assert_int_equal(path_classify(NULL, 0), PATH_ROUTE_NOT_FOUND);
}

/* The usual pipeline: split the target, check the path, classify it. */
static void test_split_check_classify(void **state)
{
	const char *target = "/trade-api/v2/portfolio/orders?subaccount=0&x=%2e%2e/..//";
	const char *query = NULL;
	const char *why = NULL;
	size_t len = 0;

	(void)state;
	path_split(target, &len, &query);
	assert_int_equal(path_check(target, len, &why), 0);
	assert_int_equal(path_classify(target, len), PATH_ROUTE_PROXY);
	assert_string_equal(query, "subaccount=0&x=%2e%2e/..//");
}

/* Runs the path tests; they need no fixture. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_check_respects_len),
		cmocka_unit_test(test_reasons_lower_case),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_query_check),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_respects_len),
		cmocka_unit_test(test_split_check_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
