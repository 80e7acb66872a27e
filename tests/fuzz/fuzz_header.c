/*
 * libFuzzer target for policy/header (methods, header fields) and
 * policy/path's path_query_check: what decides whether a request's method,
 * headers and raw query may be signed and forwarded upstream.
 *
 * The input is split at its first two NUL bytes into method/name, value and
 * query (missing parts are empty). Besides memory safety it checks the
 * property the gateway relies on: whatever is accepted cannot change the
 * meaning of the upstream request line or headers - an accepted method is
 * one of the seven served, an accepted header name is a non-empty RFC 9110
 * token and its value has no control byte but tab, an accepted query has no
 * byte that would end or split the request line and only well-formed
 * percent escapes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/header.h"
#include "policy/path.h"
#include "tests/fuzz/fuzz_check.h"


static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void check_method(const char *m)
{
	static const char *const ok[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };
	int known = 0;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		known |= strcmp(m, ok[i]) == 0;
	CHECK((header_method_ok(m) != 0) == known);
}

static void check_field(const char *name, const char *value)
{
	if (!header_field_ok(name, value))
		return;
	CHECK(name[0] != '\0');
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		CHECK(is_tchar(*p));
	for (const unsigned char *p = (const unsigned char *)(value ? value : ""); *p; p++)
		CHECK(*p == '\t' || (*p >= 0x20 && *p != 0x7f));
}

static void check_query(const char *q)
{
	const char *why = NULL;

	if (path_query_check(q, &why) != 0) {
		CHECK(why != NULL && why[0] != '\0');
		return;
	}
	for (const unsigned char *p = (const unsigned char *)q; *p; p++) {
		CHECK(*p > 0x20 && *p < 0x7f && *p != '#');
		if (*p == '%')
			CHECK(is_hex(p[1]) && is_hex(p[2]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 3);
	const char *parts[3];
	size_t at = 0;

	CHECK(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	for (int i = 0; i < 3; i++) {
		parts[i] = buf + at;
		at += strlen(buf + at) + 1;
		if (at > size + 2)
			at = size + 2;
	}
	check_method(parts[0]);
	check_field(parts[0], parts[1]);
	check_field(parts[0], NULL);
	check_query(parts[2]);
	CHECK(path_query_check(NULL, NULL) == 0);
	free(buf);
	return 0;
}
