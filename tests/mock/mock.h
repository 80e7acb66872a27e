/*
 * mock.h - shared types and small helpers of the mock Kalshi exchange.
 *
 * The mock is a test double for Kalshi's Trade API v2. It is one process
 * (build/mock-exchange) made of these modules:
 *   main.c          command line, signals, start and stop
 *   mock_server.c   libmicrohttpd front end: raw URI, body, recording, faults
 *   mock_auth.c     KALSHI-ACCESS-* signature verification (RSA-PSS)
 *   mock_log.c      request recording and in-flight statistics
 *   mock_fault.c    fault injection state (delay, hang, reset, ...)
 *   mock_rate.c     Kalshi's token buckets (when enforced) and endpoint costs
 *   mock_control.c  the /_mock/ control API used by tests
 *   mock_api.c      routing of /trade-api/v2 and the read-only endpoints
 *   mock_markets.c  the fixed market table
 *   mock_orders.c   order and order-group request validation
 *   mock_book.c     order groups, orders and fills (the exchange state)
 *   mock_util.c     JSON replies, fixed-point numbers, time, ids, queries
 *
 * Invariant: every handler receives a fully read request (struct
 * mock_request) and fills a struct mock_reply; only mock_server.c talks to
 * libmicrohttpd. All shared state lives behind each module's own mutex.
 */
#ifndef MOCK_H
#define MOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One request as handlers see it. All pointers are borrowed from the server
 * for the duration of the call. path and query are the raw bytes of the
 * request line (not percent-decoded); query is NULL when there is no '?'. */
struct mock_request {
	const char *method;
	const char *path;
	const char *query;
	const char *body;   /* NUL-terminated copy of the body, "" if none */
	size_t body_len;
};

/* What a handler answers. body is malloc'd and owned by the reply (NULL for
 * an empty body); mock_reply_release frees it. */
struct mock_reply {
	unsigned int status;
	char *body;
	size_t body_len;
};

struct mock_book;
struct mock_log;
struct mock_faults;
struct mock_auth;
struct mock_rate;

/* The wiring of one running mock; built by main.c, read by every handler.
 * The pointed-to modules are thread-safe; the flags are set before the
 * server starts, except stopping, which is atomic. */
struct mock_ctx {
	struct mock_book *book;
	struct mock_log *log;
	struct mock_faults *faults;
	struct mock_auth *auth;
	struct mock_rate *rate;     /* rate limits and endpoint costs */
	bool legacy_retired;
	atomic_bool stopping;
};

/* Scales of the fixed-point numbers used everywhere in the mock. */
#define MOCK_COUNT_SCALE 100     /* contract counts in hundredths */
#define MOCK_PRICE_SCALE 10000   /* dollars in 1/10000 */

/* Sets r to status and the compact JSON text of obj, taking ownership of
 * obj (NULL is allowed and gives an empty object). Never fails: when
 * encoding fails the reply becomes a 500 with a fixed body. */
void mock_reply_json(struct mock_reply *r, unsigned int status, json_t *obj);

/* Sets r to status and Kalshi's error envelope
 * {"error":{"code","message","details"}}; details may be NULL. */
void mock_reply_error(struct mock_reply *r, unsigned int status, const char *code,
		      const char *message, const char *details);

/* Sets r to an empty-bodied reply with the given status. */
void mock_reply_empty(struct mock_reply *r, unsigned int status);

/* Frees the reply's body; the struct itself is the caller's. */
void mock_reply_release(struct mock_reply *r);

/* Returns a new {"code","message"[,"details"]} object (details may be NULL),
 * or NULL when out of memory. */
json_t *mock_error_object(const char *code, const char *message, const char *details);

/* Parses the request body as one strict JSON value (duplicate keys refused).
 * Returns the value, or NULL after setting *r to a 400 invalid_parameters
 * error. An empty body is an error unless allow_empty, in which case an empty
 * object is returned. */
json_t *mock_parse_body(const struct mock_request *rq, struct mock_reply *r, bool allow_empty);

/* Wall clock in Unix milliseconds. */
int64_t mock_now_ms(void);

/* Monotonic clock in milliseconds (for windows and sleeps). */
int64_t mock_mono_ms(void);

/* Writes ms (Unix milliseconds) as RFC 3339 UTC with milliseconds, e.g.
 * 2026-11-29T21:14:48.123Z, into buf (at least 32 bytes). */
void mock_rfc3339(int64_t ms, char *buf, size_t len);

/* Writes a random version-4 UUID (36 characters and a NUL) into out.
 * Aborts the process when the system random source fails. */
void mock_uuid(char out[37]);

/* Parses a non-negative fixed-point decimal string with at most
 * max_decimals decimals ("10", "10.5", "10.50") into an integer scaled by
 * 10^scale_decimals. Returns 0, or -1 (out untouched) when the text is not
 * such a number or is too large. */
int mock_parse_fixed(const char *s, int max_decimals, int scale_decimals, int64_t *out);

/* Formats a count in hundredths as "12.00" (sign kept). */
void mock_format_count(int64_t hundredths, char *buf, size_t len);

/* Formats dollars in 1/10000 as "0.5600" (sign kept). */
void mock_format_dollars(int64_t units, char *buf, size_t len);

/* Returns a new JSON string of the formatted count or dollar amount. */
json_t *mock_json_count(int64_t hundredths);
json_t *mock_json_dollars(int64_t units);

/* Looks up name in a raw query string (a=b&c=d), percent-decoding the value
 * into out. Returns 1 when found, 0 when absent (or query NULL), -1 when the
 * decoded value does not fit in len. */
int mock_query_get(const char *query, const char *name, char *out, size_t len);

/* Reads an integer query parameter within [min,max]. Returns 1 found (value
 * in *out), 0 absent, -1 present but invalid. */
int mock_query_int(const char *query, const char *name, long long min, long long max,
		   long long *out);

/* Sleeps ms milliseconds in short steps, returning early (with -1) when
 * ctx->stopping becomes true; 0 when the full time elapsed. */
int mock_sleep(struct mock_ctx *ctx, int64_t ms);

#endif
