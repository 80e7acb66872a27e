/*
 * mock_util.c - JSON replies, fixed-point numbers, clocks, ids and query
 * strings for the mock exchange. Everything here is thread-safe.
 */
#include "tests/mock/mock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

static const char util_oom_body[] =
	"{\"error\":{\"code\":\"internal\",\"message\":\"mock out of memory\"}}";

/* Sets r to a 500 with a static-text body copy; used when encoding fails.
 * If even that copy fails the body stays empty. */
static void util_reply_oom(struct mock_reply *r)
{
	r->status = 500;
	r->body = strdup(util_oom_body);
	r->body_len = r->body ? strlen(r->body) : 0;
}

/* See mock.h. */
void mock_reply_json(struct mock_reply *r, unsigned int status, json_t *obj)
{
	char *text;

	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	if (obj == NULL)
		obj = json_object();
	text = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(obj);
	if (text == NULL) {
		util_reply_oom(r);
		return;
	}
	r->status = status;
	r->body = text;
	r->body_len = strlen(text);
}

/* See mock.h. */
json_t *mock_error_object(const char *code, const char *message, const char *details)
{
	json_t *e = json_object();

	if (e == NULL)
		return NULL;
	json_object_set_new(e, "code", json_string(code));
	json_object_set_new(e, "message", json_string(message));
	if (details != NULL)
		json_object_set_new(e, "details", json_string(details));
	return e;
}

/* See mock.h. */
void mock_reply_error(struct mock_reply *r, unsigned int status, const char *code,
		      const char *message, const char *details)
{
	json_t *env = json_object();

	if (env != NULL)
		json_object_set_new(env, "error", mock_error_object(code, message, details));
	mock_reply_json(r, status, env);
}

/* See mock.h. */
void mock_reply_empty(struct mock_reply *r, unsigned int status)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	r->status = status;
}

/* See mock.h. */
void mock_reply_release(struct mock_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* See mock.h. */
json_t *mock_parse_body(const struct mock_request *rq, struct mock_reply *r, bool allow_empty)
{
	json_error_t jerr;
	json_t *v;
	size_t i;
	bool blank = true;

	for (i = 0; i < rq->body_len; i++) {
		char c = rq->body[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			blank = false;
			break;
		}
	}
	if (blank) {
		if (allow_empty)
			return json_object();
		mock_reply_error(r, 400, "invalid_parameters", "request body is required",
				 "the body must be a JSON object");
		return NULL;
	}
	v = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		char details[300];
		snprintf(details, sizeof(details), "line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		mock_reply_error(r, 400, "invalid_parameters", "request body is not valid JSON",
				 details);
		return NULL;
	}
	return v;
}

/* See mock.h. */
int64_t mock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* See mock.h. */
int64_t mock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* See mock.h. */
void mock_rfc3339(int64_t ms, char *buf, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* See mock.h. */
void mock_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1) {
		fprintf(stderr, "mock-exchange: cannot read random bytes\n");
		abort();
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

/* See mock.h. */
int mock_parse_fixed(const char *s, int max_decimals, int scale_decimals, int64_t *out)
{
	int64_t whole = 0, frac = 0;
	int int_digits = 0, frac_digits = 0;
	const char *p = s;

	if (s == NULL || max_decimals > scale_decimals)
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (++int_digits > 12)
			return -1;
		whole = whole * 10 + (*p - '0');
		p++;
	}
	if (int_digits == 0)
		return -1;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (++frac_digits > max_decimals)
				return -1;
			frac = frac * 10 + (*p - '0');
			p++;
		}
		if (frac_digits == 0)
			return -1;
	}
	if (*p != '\0')
		return -1;
	for (int i = 0; i < scale_decimals; i++)
		whole *= 10;
	for (int i = frac_digits; i < scale_decimals; i++)
		frac *= 10;
	*out = whole + frac;
	return 0;
}

/* Formats v / 10^decimals with exactly decimals digits after the point. */
static void util_format_scaled(int64_t v, int64_t scale, int decimals, char *buf, size_t len)
{
	const char *sign = v < 0 ? "-" : "";
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	snprintf(buf, len, "%s%" PRIu64 ".%0*" PRIu64, sign, a / (uint64_t)scale, decimals,
		 a % (uint64_t)scale);
}

/* See mock.h. */
void mock_format_count(int64_t hundredths, char *buf, size_t len)
{
	util_format_scaled(hundredths, MOCK_COUNT_SCALE, 2, buf, len);
}

/* See mock.h. */
void mock_format_dollars(int64_t units, char *buf, size_t len)
{
	util_format_scaled(units, MOCK_PRICE_SCALE, 4, buf, len);
}

/* See mock.h. */
json_t *mock_json_count(int64_t hundredths)
{
	char buf[48];

	mock_format_count(hundredths, buf, sizeof(buf));
	return json_string(buf);
}

/* See mock.h. */
json_t *mock_json_dollars(int64_t units)
{
	char buf[48];

	mock_format_dollars(units, buf, sizeof(buf));
	return json_string(buf);
}

/* Returns the value of one hex digit, or -1. */
static int util_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes src[0..n) ('+' is a space) into out; returns -1 when it
 * does not fit in len (including the NUL). Invalid escapes are kept as is. */
static int util_decode(const char *src, size_t n, char *out, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < n && util_hex(src[i + 1]) >= 0 &&
			   util_hex(src[i + 2]) >= 0) {
			c = (char)(util_hex(src[i + 1]) * 16 + util_hex(src[i + 2]));
			i += 2;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* See mock.h. */
int mock_query_get(const char *query, const char *name, char *out, size_t len)
{
	const char *p = query;
	size_t nlen = strlen(name);

	if (query == NULL)
		return 0;
	while (*p != '\0') {
		const char *end = strchr(p, '&');
		const char *eq;
		size_t seg = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', seg);
		if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0)
			return util_decode(eq + 1, seg - nlen - 1, out, len) == 0 ? 1 : -1;
		if (eq == NULL && seg == nlen && memcmp(p, name, nlen) == 0)
			return util_decode("", 0, out, len) == 0 ? 1 : -1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* See mock.h. */
int mock_query_int(const char *query, const char *name, long long min, long long max,
		   long long *out)
{
	char buf[32];
	char *end;
	long long v;
	int rc = mock_query_get(query, name, buf, sizeof(buf));

	if (rc <= 0)
		return rc;
	if (buf[0] == '\0' || (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')))
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 1;
}

/* See mock.h. */
int mock_sleep(struct mock_ctx *ctx, int64_t ms)
{
	int64_t until = mock_mono_ms() + ms;

	for (;;) {
		int64_t left = until - mock_mono_ms();
		struct timespec ts;

		if (atomic_load(&ctx->stopping))
			return -1;
		if (left <= 0)
			return 0;
		if (left > 20)
			left = 20;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}
