/*
 * path: rules for the raw request target and classification of routes.
 *
 * The gateway works on the raw bytes of the request target (never a decoded
 * form), so the bytes it checks are the bytes it signs and forwards.
 * All functions are pure and thread-safe.
 */
#ifndef POLICY_PATH_H
#define POLICY_PATH_H

#include <stddef.h>

/*
 * Checks the path part (up to, not including, '?') of a raw target.
 * Refused: not starting with '/'; a "." or ".." segment, also
 * percent-encoded in any case ("%2e", ".%2E"); an empty segment ("//");
 * a trailing '/' (an empty last segment: "/trade-api/v2/markets/"), the
 * root "/" alone excepted; "%2F", "%5C", "%00" in any case; a raw
 * backslash; any control byte (< 0x20 or 0x7f), space or byte >= 0x80; a
 * '%' not followed by two hex digits; a percent-encoded unreserved
 * character (letter, digit, '-', '.', '_', '~': "%6Frders" is "orders" to
 * an upstream that decodes, but not to rules matching raw bytes); a raw
 * '#' (an HTTP client would cut the path there when forwarding) or '?'
 * (the query was not split off). Reads exactly len bytes. Returns 0 when
 * acceptable, or -1 and a static lower-case reason in *why.
 */
int path_check(const char *path, size_t len, const char **why);

/*
 * Checks the raw query (after '?', NUL-terminated; NULL = none, accepted).
 * It is forwarded verbatim and not signed, so it only has to be bytes an
 * HTTP request line can carry unchanged: refused are a control byte (< 0x20
 * or 0x7f), a space, a byte >= 0x80, a '#' (a client would cut the query
 * there) and a '%' not followed by two hex digits. Returns 0, or -1 and a
 * static lower-case reason in *why.
 */
int path_query_check(const char *query, const char **why);

/* Splits a raw target into path and query: *path_len is the length up to
 * '?' (or all), *query points after '?' (or NULL when there is none). */
void path_split(const char *target, size_t *path_len, const char **query);

/* Route classes, from the (already checked) raw path. */
enum path_route {
	PATH_ROUTE_NOT_FOUND = 0,   /* unknown gateway path */
	PATH_ROUTE_PROXY,           /* under /trade-api/v2/ */
	PATH_ROUTE_WS,              /* /trade-api/ws/v2 */
	PATH_ROUTE_HEALTHZ,
	PATH_ROUTE_READYZ,
	PATH_ROUTE_METRICS,
	PATH_ROUTE_SESSION,         /* /session and /session/... */
	PATH_ROUTE_SESSIONS,        /* /sessions */
	PATH_ROUTE_UI               /* /ui and /ui/... */
};

/* Classifies a checked raw path (without query). Pure. */
enum path_route path_classify(const char *path, size_t len);

#endif
