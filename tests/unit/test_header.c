/*
 * Unit tests for policy/header: the methods and header fields accepted
 * before anything else is looked at. Tables of inputs, each with its
 * expected verdict.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/header.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_methods(void **state)
{
	static const struct { const char *m; int ok; } cases[] = {
		{ "GET", 1 }, { "HEAD", 1 }, { "POST", 1 }, { "PUT", 1 }, { "PATCH", 1 },
		{ "DELETE", 1 }, { "OPTIONS", 1 },
		{ "get", 0 }, { "Post", 0 }, { "G@RBAGE", 0 }, { "FOO", 0 }, { "CONNECT", 0 },
		{ "TRACE", 0 }, { "PRI", 0 }, { "", 0 }, { "GET ", 0 }, { "GETX", 0 }, { NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (header_method_ok(cases[i].m) != cases[i].ok)
			fail_msg("method '%s': want %d", cases[i].m ? cases[i].m : "(NULL)", cases[i].ok);
}

static void test_fields(void **state)
{
	static const struct { const char *name, *value; int ok; } cases[] = {
		{ "X-Bot-Name", "alpha", 1 },
		{ "Content-Type", "application/json; charset=utf-8", 1 },
		{ "X-Tab", "a\tb", 1 },
		{ "X-Empty", "", 1 },
		{ "X-Null", NULL, 1 },
		{ "X-Obs-Text", "caf\xc3\xa9 \x80\xff", 1 },
		{ "!#$%&'*+-.^_`|~09azAZ", "v", 1 },
		{ "Transfer-Encoding ", "chunked", 0 },   /* space before the colon */
		{ "Content-Length\t", "5", 0 },
		{ " X-Lead", "v", 0 },
		{ "X A", "v", 0 },
		{ "X(A)", "v", 0 },
		{ "X@A", "v", 0 },
		{ "X:A", "v", 0 },
		{ "X\"A", "v", 0 },
		{ "X-A\r", "v", 0 },
		{ "X-\x80", "v", 0 },
		{ "", "v", 0 },
		{ NULL, "v", 0 },
		{ "X-A", "b\rc", 0 },                     /* a bare CR */
		{ "X-A", "b\nX-Injected: 1", 0 },
		{ "X-A", "b\x01", 0 },
		{ "X-A", "\x7f", 0 },
		{ "X-A", "\x1b[31m", 0 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (header_field_ok(cases[i].name, cases[i].value) != cases[i].ok)
			fail_msg("case %zu ('%s'): want %d", i, cases[i].name ? cases[i].name : "(NULL)",
				 cases[i].ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
