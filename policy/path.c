/*
 * path: checks and classifies raw request paths (see path.h).
 *
 * Everything here works on the raw bytes the client sent. Nothing is
 * decoded into a new buffer: a percent-escape is only looked at to know
 * which byte it stands for.
 */
#include "policy/path.h"

#include <string.h>

/* Value of hex digit c, or -1 when c is not one. */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 when c is an RFC 3986 unreserved character (ALPHA DIGIT - . _ ~). */
static int is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Checks one segment (the bytes between two '/', or after the last one):
 * `len` bytes at seg, `last` set for the final segment. Returns 0, or -1
 * with a static reason in *why. Pure.
 */
static int check_segment(const char *seg, size_t len, int last, const char **why)
{
	size_t dots = 0;        /* count of '.' and "%2e" */
	int only_dots = 1;      /* nothing but '.' and "%2e" seen so far */
	int encoded_dot = 0;
	size_t i = 0;

	if (len == 0) {
		*why = last ? "path has a trailing '/'" : "path has an empty segment";
		return -1;
	}
	while (i < len) {
		unsigned char c = (unsigned char)seg[i];

		if (c < 0x20 || c == 0x7f) {
			*why = "path has a control byte";
			return -1;
		}
		if (c >= 0x80) {
			*why = "path has a non-ascii byte";
			return -1;
		}
		if (c == ' ') {
			*why = "path has a space";
			return -1;
		}
		if (c == '\\') {
			*why = "path has a backslash";
			return -1;
		}
		/* '#' would make an HTTP client cut the path there when
		 * forwarding, so the bytes sent upstream would differ from the
		 * bytes checked and signed; '?' means the query was not split. */
		if (c == '#') {
			*why = "path has a '#'";
			return -1;
		}
		if (c == '?') {
			*why = "path has a '?'";
			return -1;
		}
		if (c == '%') {
			int hi, lo;
			unsigned char v;

			if (len - i < 3 || (hi = hex_value((unsigned char)seg[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)seg[i + 2])) < 0) {
				*why = "path has a '%' not followed by two hex digits";
				return -1;
			}
			v = (unsigned char)(hi * 16 + lo);
			if (v == '/') {
				*why = "path has an encoded '/'";
				return -1;
			}
			if (v == '\\') {
				*why = "path has an encoded backslash";
				return -1;
			}
			if (v == 0) {
				*why = "path has an encoded nul byte";
				return -1;
			}
			if (v == '.') {
				dots++;
				encoded_dot = 1;
			} else {
				only_dots = 0;
				/* Upstream may decode before routing while policy
				 * matches raw bytes: "%6Frders" must not slip past a
				 * rule for "orders". No client needs to encode these. */
				if (is_unreserved(v)) {
					*why = "path has a percent-encoded unreserved character";
					return -1;
				}
			}
			i += 3;
			continue;
		}
		if (c == '.')
			dots++;
		else
			only_dots = 0;
		i++;
	}
	if (only_dots && dots == 1) {
		*why = "path has a '.' segment";
		return -1;
	}
	if (only_dots && dots == 2) {
		*why = "path has a '..' segment";
		return -1;
	}
	/* "a%2ejson" is no dot segment but is "a.json" spelt differently. */
	if (encoded_dot) {
		*why = "path has a percent-encoded unreserved character";
		return -1;
	}
	return 0;
}

/*
 * Checks a raw path (see path.h for the rules). A trailing '/' is refused
 * like any empty segment, except for the root path "/". Reads exactly `len`
 * bytes (no NUL needed); *why is written only on refusal. Pure.
 */
int path_check(const char *path, size_t len, const char **why)
{
	const char *dummy;
	size_t start;
	size_t i;

	if (why == NULL)
		why = &dummy;
	if (path == NULL || len == 0 || path[0] != '/') {
		*why = "path does not start with '/'";
		return -1;
	}
	if (len == 1)
		return 0;
	start = 1;
	for (i = 1; i <= len; i++) {
		if (i == len || path[i] == '/') {
			if (check_segment(path + start, i - start, i == len, why) != 0)
				return -1;
			start = i + 1;
		}
	}
	return 0;
}

/* Checks a raw query (see path.h). Pure. */
int path_query_check(const char *query, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	for (const unsigned char *p = (const unsigned char *)query; p && *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*why = "query has a control byte";
			return -1;
		}
		if (*p >= 0x80) {
			*why = "query has a non-ascii byte";
			return -1;
		}
		if (*p == ' ') {
			*why = "query has a space";
			return -1;
		}
		if (*p == '#') {
			*why = "query has a '#'";
			return -1;
		}
		if (*p == '%' && (hex_value(p[1]) < 0 || hex_value(p[2]) < 0)) {
			*why = "query has a '%' not followed by two hex digits";
			return -1;
		}
	}
	return 0;
}

/* Splits a NUL-terminated raw target at its first '?' (see path.h). */
void path_split(const char *target, size_t *path_len, const char **query)
{
	const char *q = strchr(target, '?');

	if (q == NULL) {
		*path_len = strlen(target);
		*query = NULL;
	} else {
		*path_len = (size_t)(q - target);
		*query = q + 1;
	}
}

/* 1 when the `len` bytes at s equal the NUL-terminated literal lit. */
static int equals(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && memcmp(s, lit, n) == 0;
}

/* 1 when the `len` bytes at s start with the NUL-terminated literal lit. */
static int starts_with(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && memcmp(s, lit, n) == 0;
}

/*
 * Classifies a raw path (see path.h). Matching is exact and case-sensitive
 * on raw bytes: "/sessionsX", "/trade-api/v2" (no trailing part) and
 * "/trade-api/v3/..." are NOT_FOUND. Pure.
 */
enum path_route path_classify(const char *path, size_t len)
{
	if (path == NULL)
		return PATH_ROUTE_NOT_FOUND;
	if (starts_with(path, len, "/trade-api/v2/") && len > strlen("/trade-api/v2/"))
		return PATH_ROUTE_PROXY;
	if (equals(path, len, "/trade-api/ws/v2"))
		return PATH_ROUTE_WS;
	if (equals(path, len, "/healthz"))
		return PATH_ROUTE_HEALTHZ;
	if (equals(path, len, "/readyz"))
		return PATH_ROUTE_READYZ;
	if (equals(path, len, "/metrics"))
		return PATH_ROUTE_METRICS;
	if (equals(path, len, "/session") || starts_with(path, len, "/session/"))
		return PATH_ROUTE_SESSION;
	if (equals(path, len, "/sessions"))
		return PATH_ROUTE_SESSIONS;
	if (equals(path, len, "/ui") || starts_with(path, len, "/ui/"))
		return PATH_ROUTE_UI;
	return PATH_ROUTE_NOT_FOUND;
}
