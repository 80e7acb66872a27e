/*
 * libFuzzer target for policy/path: the input is a raw request target.
 *
 * Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     policy/path.c tests/fuzz/fuzz_path.c -o /tmp/fuzz_path
 *   /tmp/fuzz_path -max_total_time=20 tests/fuzz/corpus/path
 *
 * Besides memory safety, it checks what the rest of the gateway relies on:
 * an accepted path, read the way an upstream server that percent-decodes
 * would read it, has no '.' or '..' segment, no empty segment, no '/' or
 * '\\' it did not show in raw form, no NUL, control byte, space or '#'; and
 * classification agrees with the documented prefixes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/path.h"
#include "tests/fuzz/fuzz_check.h"


/* Value of hex digit c, or -1. */
static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes len bytes of an accepted path into out (len + 1 bytes);
 * aborts on a malformed escape, which path_check must have refused.
 * Returns the decoded length. */
static size_t decode(const char *p, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '%') {
			int hi, lo;

			CHECK(i + 2 < len);
			hi = hexval((unsigned char)p[i + 1]);
			lo = hexval((unsigned char)p[i + 2]);
			CHECK(hi >= 0 && lo >= 0);
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[n++] = p[i];
		}
	}
	out[n] = '\0';
	return n;
}

/* Checks the invariants of a path that path_check accepted. */
static void check_accepted(const char *p, size_t len)
{
	char *dec = malloc(len + 1);
	size_t n, i, seg;

	CHECK(dec != NULL);
	CHECK(len >= 1 && p[0] == '/');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		CHECK(c > 0x20 && c < 0x7f);
		CHECK(c != '\\' && c != '#' && c != '?');
	}
	CHECK(memmem(p, len, "//", 2) == NULL);
	CHECK(memmem(p, len, "/../", 4) == NULL);
	CHECK(memmem(p, len, "/./", 3) == NULL);
	CHECK(len == 1 || p[len - 1] != '/');

	/* The decoded form has exactly the raw form's '/' and nothing worse. */
	n = decode(p, len, dec);
	{
		size_t raw_slashes = 0, dec_slashes = 0;

		for (i = 0; i < len; i++)
			raw_slashes += p[i] == '/';
		for (i = 0; i < n; i++) {
			dec_slashes += dec[i] == '/';
			CHECK(dec[i] != '\0' && dec[i] != '\\');
		}
		CHECK(raw_slashes == dec_slashes);
	}
	/* No decoded segment is "." or "..", none is empty (except "/"). */
	if (n > 1) {
		seg = 1;
		for (i = 1; i <= n; i++) {
			if (i == n || dec[i] == '/') {
				size_t sl = i - seg;

				CHECK(sl > 0);
				CHECK(!(sl == 1 && dec[seg] == '.'));
				CHECK(!(sl == 2 && dec[seg] == '.' && dec[seg + 1] == '.'));
				seg = i + 1;
			}
		}
	}
	free(dec);
}

/* Checks that path_classify agrees with the documented rules. */
static void check_classify(const char *p, size_t len)
{
	enum path_route r = path_classify(p, len);
	static const char proxy[] = "/trade-api/v2/";
	size_t pl = sizeof(proxy) - 1;

	CHECK((int)r >= PATH_ROUTE_NOT_FOUND && (int)r <= PATH_ROUTE_UI);
	CHECK((r == PATH_ROUTE_PROXY) == (len > pl && memcmp(p, proxy, pl) == 0));
	if (r == PATH_ROUTE_SESSION)
		CHECK(len >= 8 && memcmp(p, "/session", 8) == 0 && (len == 8 || p[8] == '/'));
	if (r == PATH_ROUTE_UI)
		CHECK(len >= 3 && memcmp(p, "/ui", 3) == 0 && (len == 3 || p[3] == '/'));
	if (r == PATH_ROUTE_WS)
		CHECK(len == 16 && memcmp(p, "/trade-api/ws/v2", 16) == 0);
	if (r == PATH_ROUTE_HEALTHZ)
		CHECK(len == 8 && memcmp(p, "/healthz", 8) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target;
	const char *query = NULL;
	const char *why = NULL;
	size_t path_len = 0;
	size_t tlen;

	/* path_check and path_classify get the exact bytes, unterminated (the
	 * fuzzer's buffer), so any read past len is caught. */
	if (path_check((const char *)data, size, &why) == 0)
		check_accepted((const char *)data, size);
	else
		CHECK(why != NULL && why[0] != '\0');
	check_classify((const char *)data, size);

	/* path_split needs a NUL-terminated target. */
	target = malloc(size + 1);
	CHECK(target != NULL);
	memcpy(target, data, size);
	target[size] = '\0';
	tlen = strlen(target);
	path_split(target, &path_len, &query);
	CHECK(path_len <= tlen);
	CHECK(memchr(target, '?', path_len) == NULL);
	if (query != NULL)
		CHECK(query == target + path_len + 1 && target[path_len] == '?');
	else
		CHECK(path_len == tlen);
	if (path_check(target, path_len, &why) == 0)
		check_accepted(target, path_len);
	check_classify(target, path_len);
	free(target);
	return 0;
}
