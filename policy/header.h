/*
 * header: which request methods and header fields the gateway accepts
 * before it looks at anything else (RFC 9110 / 9112 syntax). Everything the
 * gateway forwards comes from libmicrohttpd's parsed header list, which
 * keeps names with a space before the colon ("Transfer-Encoding : chunked")
 * and values with a bare CR or other control bytes; such a request is
 * refused whole rather than forwarded to an upstream that may read it
 * differently. Pure functions; thread-safe.
 */
#ifndef POLICY_HEADER_H
#define POLICY_HEADER_H

/* Whether `method` (NUL-terminated; NULL is not) is one the gateway serves:
 * GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS, exactly (case-sensitive,
 * as methods are). */
int header_method_ok(const char *method);

/* Whether a header field is well formed: `name` a non-empty token (RFC 9110
 * tchar: letters, digits and !#$%&'*+-.^_`|~, nothing else, so no space,
 * tab, colon or control byte) and `value` free of control bytes other than
 * horizontal tab (no CR, LF, NUL-ish or DEL). NULL name is not ok; a NULL
 * value is treated as empty. Bytes >= 0x80 in values are allowed (obs-text). */
int header_field_ok(const char *name, const char *value);

#endif
