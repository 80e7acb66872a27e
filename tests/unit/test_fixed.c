/*
 * Unit tests for policy/fixed: strict parsing of counts and dollars, and
 * formatting, table by table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/fixed.h"

struct parse_case {
	const char *in;
	int ok;
	int64_t want;
};

static const struct parse_case count_cases[] = {
	{ "10", 1, 1000 },
	{ "10.5", 1, 1050 },
	{ "10.50", 1, 1050 },
	{ "0.01", 1, 1 },
	{ "0", 1, 0 },
	{ "0.00", 1, 0 },
	{ "007", 1, 700 },            /* leading zeros are harmless in decimal */
	{ "00.10", 1, 10 },
	{ "1000000000000", 1, FIXED_COUNT_MAX },
	{ "999999999999.99", 1, FIXED_COUNT_MAX - 1 },
	{ "1000000000000.01", 0, 0 },
	{ "1000000000001", 0, 0 },
	{ "99999999999999999999", 0, 0 },
	{ "99999999999999999999999999999999999999999", 0, 0 },
	{ "1.234", 0, 0 },
	{ "1.000", 0, 0 },            /* more than 2 decimals, even zeros */
	{ "-1", 0, 0 },
	{ "+1", 0, 0 },
	{ "1e3", 0, 0 },
	{ "1E3", 0, 0 },
	{ "", 0, 0 },
	{ ".", 0, 0 },
	{ "1.", 0, 0 },
	{ ".5", 0, 0 },
	{ " 1", 0, 0 },
	{ "1 ", 0, 0 },
	{ "1.2.3", 0, 0 },
	{ "1,5", 0, 0 },
	{ "0x10", 0, 0 },
	{ "NaN", 0, 0 },
	{ "inf", 0, 0 },
};

static const struct parse_case dollar_cases[] = {
	{ "0.95", 1, 9500 },
	{ "0.5600", 1, 5600 },
	{ "25", 1, 250000 },
	{ "0.0001", 1, 1 },
	{ "1", 1, 10000 },
	{ "0", 1, 0 },
	{ "10000000000", 1, FIXED_DOLLARS_MAX },
	{ "10000000000.0001", 0, 0 },
	{ "99999999999999999999", 0, 0 },
	{ "0.12345", 0, 0 },
	{ "0.00000", 0, 0 },
	{ "-0.5", 0, 0 },
	{ "$1", 0, 0 },
	{ "1.", 0, 0 },
	{ ".95", 0, 0 },
	{ "", 0, 0 },
	{ "0.9e1", 0, 0 },
	{ "0.95 ", 0, 0 },
};

/* Runs one parse table through fn; reports the failing row. */
static void run_parse_table(const struct parse_case *t, size_t n,
			    int (*fn)(const char *, size_t, int64_t *))
{
	for (size_t i = 0; i < n; i++) {
		int64_t out = -7;
		int rc = fn(t[i].in, strlen(t[i].in), &out);

		if ((rc == 0) != t[i].ok || (t[i].ok && out != t[i].want) ||
		    (!t[i].ok && out != -7)) {
			print_error("case '%s': rc %d out %lld, want ok=%d value %lld\n",
				    t[i].in, rc, (long long)out, t[i].ok, (long long)t[i].want);
			fail();
		}
	}
}

/* Counts: at most 2 decimals, strict syntax, capped at FIXED_COUNT_MAX. */
static void test_parse_count(void **state)
{
	(void)state;
	run_parse_table(count_cases, sizeof count_cases / sizeof count_cases[0],
			fixed_parse_count);
}

/* Dollars: at most 4 decimals, strict syntax, capped at FIXED_DOLLARS_MAX. */
static void test_parse_dollars(void **state)
{
	(void)state;
	run_parse_table(dollar_cases, sizeof dollar_cases / sizeof dollar_cases[0],
			fixed_parse_dollars);
}

/* Parsing honours len (no NUL needed) and refuses NUL bytes and NULL. */
static void test_parse_len(void **state)
{
	int64_t out = -7;

	(void)state;
	assert_int_equal(fixed_parse_count("10.50xyz", 5, &out), 0);
	assert_int_equal(out, 1050);
	assert_int_equal(fixed_parse_count("12", 1, &out), 0);
	assert_int_equal(out, 100);
	out = -7;
	assert_int_equal(fixed_parse_count("1\0" "0", 3, &out), -1);
	assert_int_equal(fixed_parse_count("10", 0, &out), -1);
	assert_int_equal(fixed_parse_count(NULL, 3, &out), -1);
	assert_int_equal(fixed_parse_dollars(NULL, 3, &out), -1);
	assert_int_equal(out, -7);
}

struct format_case {
	int64_t v;
	const char *want;
};

/* Counts format with exactly 2 decimals, negatives and extremes included. */
static void test_format_count(void **state)
{
	static const struct format_case t[] = {
		{ 1200, "12.00" }, { 5, "0.05" }, { 0, "0.00" }, { 1050, "10.50" },
		{ -150, "-1.50" }, { -1, "-0.01" }, { FIXED_COUNT_MAX, "1000000000000.00" },
		{ INT64_MAX, "92233720368547758.07" }, { INT64_MIN, "-92233720368547758.08" },
	};
	char buf[24];

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t n = fixed_format_count(t[i].v, buf, sizeof buf);
		assert_string_equal(buf, t[i].want);
		assert_int_equal(n, strlen(t[i].want));
	}
}

/* Dollars format with exactly 4 decimals, negatives and extremes included. */
static void test_format_dollars(void **state)
{
	static const struct format_case t[] = {
		{ 5600, "0.5600" }, { 9500, "0.9500" }, { 250000, "25.0000" }, { 1, "0.0001" },
		{ 0, "0.0000" }, { -1, "-0.0001" }, { FIXED_DOLLARS_MAX, "10000000000.0000" },
		{ INT64_MIN, "-922337203685477.5808" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t n = fixed_format_dollars(t[i].v, buf, sizeof buf);
		assert_string_equal(buf, t[i].want);
		assert_int_equal(n, strlen(t[i].want));
	}
}

/* A small buffer truncates, stays terminated and reports what it holds. */
static void test_format_truncates(void **state)
{
	char buf[4] = "xxx";

	(void)state;
	assert_int_equal(fixed_format_count(1200, buf, sizeof buf), 3);
	assert_string_equal(buf, "12.");
	assert_int_equal(fixed_format_count(1200, buf, 0), 0);
	assert_string_equal(buf, "12.");
}

/* Every formatted value parses back to itself. */
static void test_round_trip(void **state)
{
	static const int64_t vals[] = {
		0, 1, 9, 10, 99, 100, 101, 1050, 123456789, 999999, FIXED_COUNT_MAX - 1,
		FIXED_COUNT_MAX,
	};
	char buf[32];
	int64_t back;

	(void)state;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		size_t n = fixed_format_count(vals[i], buf, sizeof buf);
		assert_int_equal(fixed_parse_count(buf, n, &back), 0);
		assert_int_equal(back, vals[i]);
		n = fixed_format_dollars(vals[i], buf, sizeof buf);
		assert_int_equal(fixed_parse_dollars(buf, n, &back), 0);
		assert_int_equal(back, vals[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_count),
		cmocka_unit_test(test_parse_dollars),
		cmocka_unit_test(test_parse_len),
		cmocka_unit_test(test_format_count),
		cmocka_unit_test(test_format_dollars),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
