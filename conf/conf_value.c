/*
 * conf_value: validating and storing one configuration value of each type
 * (integers, booleans, strings, enums, counts, dollars, lists, the listen
 * address, URLs, the limits object and the clients list).
 *
 * Every setter checks the whole value first and only then replaces the
 * stored one, so a refused value leaves the configuration as it was. All
 * problems are reported through conf_error(); none is fatal to the walk.
 * Not thread-safe (used while loading only).
 */
#include "conf/conf_internal.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/fixed.h"

_Static_assert(sizeof(enum gw_role) == sizeof(int) &&
	       sizeof(enum gw_tier) == sizeof(int) &&
	       sizeof(enum gw_log_level) == sizeof(int),
	       "enum fields are stored as int");

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

/* Returns the article and JSON type of v, for "expected X, got Y". */
const char *conf_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* Returns the field named `name` in `table`, or NULL. */
const struct conf_field *conf_table_find(const struct conf_field *table,
					 size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

/* Returns a new string formatted like printf, or NULL when out of memory. */
static char *strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strfmt(const char *fmt, ...)
{
	va_list ap, ap2;
	char *s;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
		va_end(ap2);
		return NULL;
	}
	vsnprintf(s, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return s;
}

/* Frees every item of a string list and the list's array. NULL-safe. */
void conf_strlist_release(struct gw_strlist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* Frees what a limits object owns (its two glob lists). NULL-safe. */
void conf_limits_release(struct gw_limits *l)
{
	if (l == NULL)
		return;
	conf_strlist_release(&l->tickers);
	conf_strlist_release(&l->deny_tickers);
}

/* Frees the strings and limits a client owns, not the client. NULL-safe. */
void conf_client_release(struct gw_client *cl)
{
	if (cl == NULL)
		return;
	free(cl->name);
	free(cl->session);
	free(cl->token_sha256);
	free(cl->token_file);
	free(cl->kalshi_key_id);
	free(cl->public_key_file);
	conf_limits_release(&cl->limits);
	memset(cl, 0, sizeof *cl);
}

/* True when s contains a control byte or a space (never wanted in names,
 * URLs or globs). */
static int has_space_or_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

/* True when s is 1..64 bytes of [A-Za-z0-9_-], plus '.' when dot is set. */
static int valid_name(const char *s, int dot)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		      (dot && ch == '.')))
			return 0;
	}
	return n >= 1 && n <= 64;
}

/* Parses 1..5 decimal digits [s, s+len) as a port within lo..65535.
 * Returns the port, or -1. */
static int parse_port(const char *s, size_t len, int lo)
{
	int port = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port >= lo && port <= 65535 ? port : -1;
}

/* ------------------------------------------------------------------ */
/* listen address                                                      */

struct listen_parsed {
	char host[64];
	int port;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int loopback;
};

/* Parses "IPv4:port", "[IPv6]:port" or "localhost:port" into *out.
 * Returns 0, or -1 after reporting the problem. */
static int parse_listen(const char *s, struct listen_parsed *out,
			struct conf_ctx *cx, const char *field)
{
	struct listen_parsed lp;
	char host[64];
	const char *colon, *port_s;
	size_t hlen;

	memset(&lp, 0, sizeof lp);
	if (s[0] == '[') {
		const char *bracket = strchr(s, ']');
		if (bracket == NULL || bracket[1] != ':') {
			conf_error(cx, field, "expected ADDR:PORT, got '%s'", s);
			return -1;
		}
		hlen = (size_t)(bracket - s - 1);
		port_s = bracket + 2;
		if (hlen >= sizeof host)
			goto bad_host;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&lp.addr;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			goto bad_host;
		a6->sin6_family = AF_INET6;
		lp.addr_len = sizeof *a6;
		lp.loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) ||
			(IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) &&
			 a6->sin6_addr.s6_addr[12] == 127);
		inet_ntop(AF_INET6, &a6->sin6_addr, lp.host, sizeof lp.host);
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			conf_error(cx, field, "expected ADDR:PORT, got '%s'", s);
			return -1;
		}
		hlen = (size_t)(colon - s);
		port_s = colon + 1;
		if (hlen >= sizeof host)
			goto bad_host;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (strchr(host, ':') != NULL) {
			conf_error(cx, field, "IPv6 address '%s' needs brackets, e.g. '[::1]:8080'",
				   host);
			return -1;
		}
		struct sockaddr_in *a4 = (struct sockaddr_in *)&lp.addr;
		if (strcmp(host, "localhost") == 0)
			a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			goto bad_host;
		a4->sin_family = AF_INET;
		lp.addr_len = sizeof *a4;
		lp.loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
		inet_ntop(AF_INET, &a4->sin_addr, lp.host, sizeof lp.host);
	}
	lp.port = parse_port(port_s, strlen(port_s), 0);
	if (lp.port < 0) {
		conf_error(cx, field, "invalid port '%s' (expected 0..65535)", port_s);
		return -1;
	}
	if (lp.addr.ss_family == AF_INET)
		((struct sockaddr_in *)&lp.addr)->sin_port = htons((uint16_t)lp.port);
	else
		((struct sockaddr_in6 *)&lp.addr)->sin6_port = htons((uint16_t)lp.port);
	*out = lp;
	return 0;
bad_host:
	conf_error(cx, field, "invalid address '%.*s' (expected an IPv4 address, "
		   "[IPv6] or localhost)", (int)(hlen > 200 ? 200 : hlen),
		   s[0] == '[' ? s + 1 : s);
	return -1;
}

/* ------------------------------------------------------------------ */
/* URLs                                                                */

struct url_parts {
	char scheme[8];         /* lower case */
	char host[256];         /* lower case, IPv6 without brackets */
	int ipv6;
	int port;               /* -1 when not given */
	const char *path;       /* up to '?' or '#' */
	size_t path_len;
	int has_query, has_fragment;
};

/* Splits an absolute URL "scheme://host[:port][/path][?query][#frag]"
 * into *out (pointing into s). Credentials ("user@") are refused. Returns 0,
 * or -1 after reporting the problem (*out untouched). */
static int url_split(const char *s, struct url_parts *out, struct conf_ctx *cx,
		     const char *field)
{
	struct url_parts r;
	const char *p, *auth, *auth_end, *host_end;
	size_t n;

	memset(&r, 0, sizeof r);
	r.port = -1;
	if (has_space_or_ctl(s)) {
		conf_error(cx, field, "'%s' contains spaces or control characters", s);
		return -1;
	}
	p = strstr(s, "://");
	n = p ? (size_t)(p - s) : 0;
	if (p == NULL || n == 0 || n >= sizeof r.scheme) {
		conf_error(cx, field, "'%s' is not an absolute URL", s);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch < 'a' || ch > 'z') {
			conf_error(cx, field, "'%s' is not an absolute URL", s);
			return -1;
		}
		r.scheme[i] = ch;
	}
	auth = p + 3;
	auth_end = auth + strcspn(auth, "/?#");
	r.path = auth_end;
	r.path_len = strcspn(auth_end, "?#");
	r.has_query = auth_end[r.path_len] == '?';
	r.has_fragment = strchr(auth_end, '#') != NULL;
	if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL) {
		conf_error(cx, field, "credentials ('user@') are not allowed in '%s'", s);
		return -1;
	}
	if (*auth == '[') {
		const char *bracket = memchr(auth, ']', (size_t)(auth_end - auth));
		unsigned char a6[16];
		n = bracket ? (size_t)(bracket - auth - 1) : 0;
		if (bracket == NULL || n == 0 || n >= sizeof r.host)
			goto bad_host;
		memcpy(r.host, auth + 1, n);
		r.host[n] = '\0';
		if (inet_pton(AF_INET6, r.host, a6) != 1)
			goto bad_host;
		inet_ntop(AF_INET6, a6, r.host, sizeof r.host);   /* canonical form */
		r.ipv6 = 1;
		host_end = bracket + 1;
		if (host_end != auth_end && *host_end != ':')
			goto bad_host;
	} else {
		host_end = memchr(auth, ':', (size_t)(auth_end - auth));
		if (host_end == NULL)
			host_end = auth_end;
		n = (size_t)(host_end - auth);
		if (n == 0 || n >= sizeof r.host)
			goto bad_host;
		for (size_t i = 0; i < n; i++) {
			char ch = auth[i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			      ch == '-' || ch == '.'))
				goto bad_host;
			r.host[i] = ch;
		}
		r.host[n] = '\0';
		if (r.host[0] == '.' || strstr(r.host, "..") != NULL)
			goto bad_host;
	}
	if (host_end != auth_end) {
		r.port = parse_port(host_end + 1, (size_t)(auth_end - host_end - 1), 1);
		if (r.port < 0) {
			conf_error(cx, field, "invalid port in '%s' (expected 1..65535)", s);
			return -1;
		}
	}
	*out = r;
	return 0;
bad_host:
	conf_error(cx, field, "invalid host in '%s'", s);
	return -1;
}

/* True when the URL's host is a loopback address: 127.x.x.x, localhost or
 * [::1]. */
static int url_loopback(const struct url_parts *u)
{
	unsigned char a[16];

	if (u->ipv6)
		return inet_pton(AF_INET6, u->host, a) == 1 &&
			IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
	if (strcmp(u->host, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, u->host, a) == 1 && a[0] == 127;
}

/* Returns "scheme://host[:port]" (IPv6 hosts bracketed) as a new string,
 * or NULL when out of memory. */
static char *url_origin(const char *scheme, const struct url_parts *u)
{
	char port[16] = "";

	if (u->port >= 0)
		snprintf(port, sizeof port, ":%d", u->port);
	return strfmt("%s://%s%s%s%s", scheme, u->ipv6 ? "[" : "", u->host,
		      u->ipv6 ? "]" : "", port);
}

/* Validates an upstream origin: https://, or http:// on loopback; an
 * optional trailing /trade-api/v2[/]; nothing else. Returns the normalised
 * origin (new string), or NULL after reporting the problem. */
static char *check_upstream_url(const char *s, struct conf_ctx *cx, const char *field)
{
	struct url_parts u;
	char *origin;
	int bad = 0;

	if (url_split(s, &u, cx, field) != 0)
		return NULL;
	if (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) {
		conf_error(cx, field, "unsupported scheme '%s://' (expected https://, or "
			   "http:// on a loopback host)", u.scheme);
		return NULL;
	}
	if (strcmp(u.scheme, "http") == 0 && !url_loopback(&u)) {
		conf_error(cx, field, "http:// is only allowed for a loopback host");
		bad = 1;
	}
	if (u.has_query) {
		conf_error(cx, field, "a query is not allowed in '%s'", s);
		bad = 1;
	}
	if (u.has_fragment) {
		conf_error(cx, field, "a fragment is not allowed in '%s'", s);
		bad = 1;
	}
	if (!(u.path_len == 0 ||
	      (u.path_len == 1 && u.path[0] == '/') ||
	      (u.path_len == 13 && memcmp(u.path, "/trade-api/v2", 13) == 0) ||
	      (u.path_len == 14 && memcmp(u.path, "/trade-api/v2/", 14) == 0))) {
		conf_error(cx, field, "path '%.*s' is not allowed (expected an origin, "
			   "optionally followed by /trade-api/v2)",
			   (int)(u.path_len > 200 ? 200 : u.path_len), u.path);
		bad = 1;
	}
	if (bad)
		return NULL;
	origin = url_origin(u.scheme, &u);
	if (origin == NULL)
		conf_error(cx, field, "out of memory");
	return origin;
}

/* Validates a WebSocket URL: wss://, or ws:// on loopback; no
 * credentials, no fragment. Returns a normalised copy (new string), or
 * NULL after reporting the problem. */
static char *check_ws_url(const char *s, struct conf_ctx *cx, const char *field)
{
	struct url_parts u;
	char *origin, *out;

	if (url_split(s, &u, cx, field) != 0)
		return NULL;
	if (strcmp(u.scheme, "wss") != 0 && strcmp(u.scheme, "ws") != 0) {
		conf_error(cx, field, "unsupported scheme '%s://' (expected wss://, or "
			   "ws:// on a loopback host)", u.scheme);
		return NULL;
	}
	if (strcmp(u.scheme, "ws") == 0 && !url_loopback(&u)) {
		conf_error(cx, field, "ws:// is only allowed for a loopback host");
		return NULL;
	}
	if (u.has_fragment) {
		conf_error(cx, field, "a fragment is not allowed in '%s'", s);
		return NULL;
	}
	origin = url_origin(u.scheme, &u);
	out = origin ? strfmt("%s%s", origin, u.path) : NULL;
	free(origin);
	if (out == NULL)
		conf_error(cx, field, "out of memory");
	return out;
}

/* Validates a webhook URL: https://, or http:// on loopback; path and
 * query allowed; no credentials or fragment. Returns 0 or -1 (reported). */
static int check_webhook(const char *s, struct conf_ctx *cx, const char *field)
{
	struct url_parts u;

	if (url_split(s, &u, cx, field) != 0)
		return -1;
	if (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) {
		conf_error(cx, field, "unsupported scheme '%s://' (expected https://, or "
			   "http:// on a loopback host)", u.scheme);
		return -1;
	}
	if (strcmp(u.scheme, "http") == 0 && !url_loopback(&u)) {
		conf_error(cx, field, "http:// is only allowed for a loopback host");
		return -1;
	}
	if (u.has_fragment) {
		conf_error(cx, field, "a fragment is not allowed in '%s'", s);
		return -1;
	}
	return 0;
}

/* Kalshi's own hosts serve WebSockets elsewhere than their REST API. */
static const struct {
	const char *rest_origin, *ws_url;
} kalshi_ws[] = {
	{ "https://external-api.kalshi.com", "wss://external-api-ws.kalshi.com/trade-api/ws/v2" },
	{ "https://external-api.demo.kalshi.co",
	  "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2" },
	{ "https://api.elections.kalshi.com", "wss://api.elections.kalshi.com/trade-api/ws/v2" },
	{ "https://demo-api.kalshi.co", "wss://demo-api.kalshi.co/trade-api/ws/v2" },
};

/* Derives the WebSocket URL from a normalised origin (see
 * check_upstream_url): Kalshi's known hosts map to their WebSocket hosts
 * (also with an explicit :443), others get https->wss / http->ws, same
 * host and port, path /trade-api/ws/v2. Returns a new string owned by the
 * caller, or NULL when out of memory. */
char *conf_derive_ws_url(const char *origin)
{
	for (size_t i = 0; i < sizeof kalshi_ws / sizeof kalshi_ws[0]; i++) {
		size_t n = strlen(kalshi_ws[i].rest_origin);
		if (strncmp(origin, kalshi_ws[i].rest_origin, n) == 0 &&
		    (origin[n] == '\0' || strcmp(origin + n, ":443") == 0))
			return strdup(kalshi_ws[i].ws_url);
	}
	if (strncmp(origin, "https://", 8) == 0)
		return strfmt("wss://%s/trade-api/ws/v2", origin + 8);
	if (strncmp(origin, "http://", 7) == 0)
		return strfmt("ws://%s/trade-api/ws/v2", origin + 7);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* scalar setters                                                      */

/* Reads a JSON integer within f->min..f->max into *out. Returns 0 or -1
 * (reported). */
static int get_integer(const struct conf_field *f, json_t *v, long long *out,
		       struct conf_ctx *cx, const char *field)
{
	long long n;

	if (!json_is_integer(v)) {
		conf_error(cx, field, "expected an integer, got %s", conf_json_kind(v));
		return -1;
	}
	n = json_integer_value(v);
	if (n < f->min || n > f->max) {
		conf_error(cx, field, "value %lld is out of range %lld..%lld", n, f->min, f->max);
		return -1;
	}
	*out = n;
	return 0;
}

/* Reads a count: a non-negative JSON integer, or a string with at most 2
 * decimals. Writes hundredths. Returns 0 or -1 (reported). */
static int get_count(json_t *v, int64_t *out, struct conf_ctx *cx, const char *field)
{
	if (json_is_integer(v)) {
		long long n = json_integer_value(v);
		if (n < 0 || n > FIXED_COUNT_MAX / 100) {
			conf_error(cx, field, "count %lld is out of range 0..%lld", n,
				   (long long)(FIXED_COUNT_MAX / 100));
			return -1;
		}
		*out = (int64_t)n * 100;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (fixed_parse_count(s, json_string_length(v), out) != 0) {
			conf_error(cx, field, "invalid count '%s' (expected digits with at most "
				   "2 decimals, e.g. \"10.50\")", s);
			return -1;
		}
		return 0;
	}
	if (json_is_real(v))
		conf_error(cx, field, "expected an integer or a string, got a real (reals are "
			   "not exact: write a count as a string, e.g. \"10.50\")");
	else
		conf_error(cx, field, "expected an integer or a string, got %s",
			   conf_json_kind(v));
	return -1;
}

/* Reads dollars: a string with at most 4 decimals (never a JSON number).
 * Writes 1/10000 dollars. Returns 0 or -1 (reported). */
static int get_dollars(json_t *v, int64_t *out, struct conf_ctx *cx, const char *field)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (fixed_parse_dollars(s, json_string_length(v), out) != 0) {
			conf_error(cx, field, "invalid dollar amount '%s' (expected digits with "
				   "at most 4 decimals, e.g. \"0.95\")", s);
			return -1;
		}
		return 0;
	}
	if (json_is_real(v))
		conf_error(cx, field, "expected a string, got a real (reals are not exact: "
			   "write dollars as a string, e.g. \"0.95\")");
	else if (json_is_integer(v))
		conf_error(cx, field, "expected a string, got an integer (write dollars as a "
			   "string, e.g. \"%lld\")", (long long)json_integer_value(v));
	else
		conf_error(cx, field, "expected a string, got %s", conf_json_kind(v));
	return -1;
}

/* Reads a non-empty JSON string. Returns it (owned by v) or NULL
 * (reported). */
static const char *get_string(json_t *v, struct conf_ctx *cx, const char *field)
{
	if (!json_is_string(v)) {
		conf_error(cx, field, "expected a string, got %s", conf_json_kind(v));
		return NULL;
	}
	if (json_string_value(v)[0] == '\0') {
		conf_error(cx, field, "must not be empty");
		return NULL;
	}
	return json_string_value(v);
}

/* Checks one list item of type t (non-empty string; a glob; a webhook
 * URL). Returns 0 or -1 (reported). */
static int check_item(enum conf_type t, const char *s, struct conf_ctx *cx,
		      const char *field)
{
	switch (t) {
	case CONF_T_HOSTS:
	case CONF_T_ORIGINS:
	case CONF_T_GLOBS:
		if (has_space_or_ctl(s)) {
			conf_error(cx, field, "'%s' contains spaces or control characters", s);
			return -1;
		}
		return 0;
	case CONF_T_URLS:
		return check_webhook(s, cx, field);
	default:
		return 0;
	}
}

/* Reads an array of non-empty strings, each checked as type t, into *out
 * (which must be empty). Reports every bad item. Returns 0 or -1. */
static int get_strlist(enum conf_type t, json_t *v, struct gw_strlist *out,
		       struct conf_ctx *cx, const char *field)
{
	struct gw_strlist l = { NULL, 0 };
	size_t i, n;
	int rc = -1, bad = 0;
	json_t *item;

	if (!json_is_array(v)) {
		conf_error(cx, field, "expected an array of strings, got %s", conf_json_kind(v));
		return -1;
	}
	n = json_array_size(v);
	if (t == CONF_T_HOSTS && n == 0) {
		conf_error(cx, field, "must not be empty (leave it out for the default list)");
		return -1;
	}
	if ((l.items = calloc(n ? n : 1, sizeof *l.items)) == NULL) {
		conf_error(cx, field, "out of memory");
		return -1;
	}
	json_array_foreach(v, i, item) {
		char *ifield = strfmt("%s[%zu]", field, i);
		const char *s = get_string(item, cx, ifield ? ifield : field);
		if (s == NULL || check_item(t, s, cx, ifield ? ifield : field) != 0) {
			bad = 1;
		} else if ((l.items[l.count] = strdup(s)) == NULL) {
			conf_error(cx, field, "out of memory");
			bad = 1;
		} else {
			l.count++;
		}
		free(ifield);
	}
	if (bad)
		goto out;
	*out = l;
	l.items = NULL;
	l.count = 0;
	rc = 0;
out:
	conf_strlist_release(&l);
	return rc;
}

/* ------------------------------------------------------------------ */
/* limits and clients                                                  */

/* Formats dollars as "0.9000" into a caller's buffer, for messages. */
static const char *dollars_str(int64_t v, char *buf, size_t cap)
{
	fixed_format_dollars(v, buf, cap);
	return buf;
}

/* Reads a limits object into *out (which must be empty): every key of
 * conf_limit_fields, unknown keys refused, min_price <= max_price when both
 * are given. Returns 0 or -1 (every problem reported). */
static int get_limits(json_t *v, struct gw_limits *out, struct conf_ctx *cx,
		      const char *field)
{
	struct gw_limits l;
	const char *key;
	json_t *val;
	int bad = 0;

	memset(&l, 0, sizeof l);
	if (!json_is_object(v)) {
		conf_error(cx, field, "expected an object, got %s", conf_json_kind(v));
		return -1;
	}
	json_object_foreach(v, key, val) {
		const struct conf_field *f =
			conf_table_find(conf_limit_fields, conf_limit_field_count, key);
		char *kfield = strfmt("%s.%s", field, key);
		const char *kf = kfield ? kfield : field;

		if (f == NULL) {
			conf_error(cx, kf, "unknown key '%s'", key);
			bad = 1;
		} else if (conf_set_value(f, &l, val, cx, kf) != 0) {
			bad = 1;
		}
		free(kfield);
	}
	if (!bad && l.has_min_price && l.has_max_price && l.min_price > l.max_price) {
		char a[32], b[32];
		char *kfield = strfmt("%s.min_price", field);
		conf_error(cx, kfield ? kfield : field,
			   "min_price %s is above max_price %s",
			   dollars_str(l.min_price, a, sizeof a),
			   dollars_str(l.max_price, b, sizeof b));
		free(kfield);
		bad = 1;
	}
	if (bad) {
		conf_limits_release(&l);
		return -1;
	}
	*out = l;
	return 0;
}

/* Reads one client object into *out (which must be zeroed): the keys of
 * conf_client_fields, name and role required, token_sha256 and token_file
 * exclusive. Returns 0 or -1 (every problem reported); on -1 *out may hold
 * partial values the caller releases. */
static int get_client(json_t *v, struct gw_client *out, struct conf_ctx *cx,
		      const char *field)
{
	const char *key;
	json_t *val;
	int bad = 0;

	if (!json_is_object(v)) {
		conf_error(cx, field, "expected an object, got %s", conf_json_kind(v));
		return -1;
	}
	json_object_foreach(v, key, val) {
		const struct conf_field *f =
			conf_table_find(conf_client_fields, conf_client_field_count, key);
		char *kfield = strfmt("%s.%s", field, key);
		const char *kf = kfield ? kfield : field;

		if (f == NULL) {
			conf_error(cx, kf, "unknown key '%s'", key);
			bad = 1;
		} else if (conf_set_value(f, out, val, cx, kf) != 0) {
			bad = 1;
		}
		free(kfield);
	}
	for (size_t i = 0; i < conf_client_field_count; i++) {
		const struct conf_field *f = &conf_client_fields[i];
		if ((f->flags & CONF_F_REQUIRED) && json_object_get(v, f->name) == NULL) {
			char *kfield = strfmt("%s.%s", field, f->name);
			conf_error(cx, kfield ? kfield : field, "required key '%s' is missing",
				   f->name);
			free(kfield);
			bad = 1;
		}
	}
	if (json_object_get(v, "token_sha256") && json_object_get(v, "token_file")) {
		char *kfield = strfmt("%s.token_file", field);
		conf_error(cx, kfield ? kfield : field,
			   "give either 'token_sha256' or 'token_file', not both");
		free(kfield);
		bad = 1;
	}
	if (!bad && out->token_sha256 == NULL && out->token_file == NULL &&
	    out->kalshi_key_id == NULL) {
		conf_error(cx, field, "client '%s' cannot be identified: give 'token_sha256', "
			   "'token_file' or 'kalshi_key_id'", out->name);
		bad = 1;
	}
	if (!bad && out->public_key_file != NULL && out->kalshi_key_id == NULL) {
		char *kfield = strfmt("%s.public_key_file", field);
		conf_error(cx, kfield ? kfield : field, "'public_key_file' needs 'kalshi_key_id'");
		free(kfield);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* Reads the clients array into a new array (*out, *count). Returns 0 or
 * -1 (every problem reported, nothing written). */
static int get_clients(json_t *v, struct gw_client **out, size_t *count,
		       struct conf_ctx *cx, const char *field)
{
	struct gw_client *cl = NULL;
	size_t i, n;
	json_t *item;
	int bad = 0;

	if (!json_is_array(v)) {
		conf_error(cx, field, "expected an array of objects, got %s", conf_json_kind(v));
		return -1;
	}
	n = json_array_size(v);
	if (n > 0 && (cl = calloc(n, sizeof *cl)) == NULL) {
		conf_error(cx, field, "out of memory");
		return -1;
	}
	json_array_foreach(v, i, item) {
		char *ifield = strfmt("%s[%zu]", field, i);
		if (get_client(item, &cl[i], cx, ifield ? ifield : field) != 0)
			bad = 1;
		free(ifield);
	}
	if (bad) {
		for (i = 0; i < n; i++)
			conf_client_release(&cl[i]);
		free(cl);
		return -1;
	}
	*out = cl;
	*count = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the one entry point                                                 */

/* Replaces the string at *slot with a copy of s (NULL clears it). Returns
 * 0, or -1 (reported) when out of memory. */
static int store_string(char **slot, const char *s, struct conf_ctx *cx, const char *field)
{
	char *copy = NULL;

	if (s != NULL && (copy = strdup(s)) == NULL) {
		conf_error(cx, field, "out of memory");
		return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

/* Validates v as f and stores it into the struct at base; see
 * conf_internal.h. */
int conf_set_value(const struct conf_field *f, void *base, json_t *v,
		   struct conf_ctx *cx, const char *field)
{
	char *p = (char *)base + f->off;
	int *has = f->has_off == CONF_NO_HAS ? NULL : (int *)((char *)base + f->has_off);
	const char *s;
	long long n;
	int64_t i64;

	if (json_is_null(v) && (f->flags & CONF_F_NULLABLE)) {
		switch (f->type) {
		case CONF_T_HOSTS:
			conf_strlist_release((struct gw_strlist *)p);
			break;
		case CONF_T_LONG:
			*(long *)p = 0;
			break;
		default:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		}
		if (has)
			*has = 0;
		return 0;
	}

	switch (f->type) {
	case CONF_T_LONG:
	case CONF_T_I64:
		if (get_integer(f, v, &n, cx, field) != 0)
			return -1;
		if (f->type == CONF_T_LONG)
			*(long *)p = (long)n;
		else
			*(int64_t *)p = (int64_t)n;
		break;
	case CONF_T_BOOL:
		if (!json_is_boolean(v)) {
			conf_error(cx, field, "expected a boolean, got %s", conf_json_kind(v));
			return -1;
		}
		*(int *)p = json_is_true(v);
		break;
	case CONF_T_ENUM: {
		size_t k;
		if (!json_is_string(v)) {
			conf_error(cx, field, "expected a string, got %s", conf_json_kind(v));
			return -1;
		}
		s = json_string_value(v);
		for (k = 0; f->names[k] && strcmp(f->names[k], s) != 0; k++)
			;
		if (f->names[k] == NULL) {
			char list[160] = "";
			for (size_t j = 0; f->names[j]; j++) {
				size_t used = strlen(list);
				snprintf(list + used, sizeof list - used, "%s%s", j ? "|" : "",
					 f->names[j]);
			}
			conf_error(cx, field, "invalid value '%s' (expected %s)", s, list);
			return -1;
		}
		*(int *)p = (int)k;
		break;
	}
	case CONF_T_STRING:
	case CONF_T_PATH:
		if ((s = get_string(v, cx, field)) == NULL)
			return -1;
		if (f->type == CONF_T_STRING && has_space_or_ctl(s)) {
			conf_error(cx, field, "'%s' contains spaces or control characters", s);
			return -1;
		}
		if (store_string((char **)p, s, cx, field) != 0)
			return -1;
		break;
	case CONF_T_CLIENT_NAME:
	case CONF_T_SESSION:
		if ((s = get_string(v, cx, field)) == NULL)
			return -1;
		if (!valid_name(s, f->type == CONF_T_CLIENT_NAME)) {
			conf_error(cx, field, "invalid name '%s' (expected 1 to 64 of %s)", s,
				   f->type == CONF_T_CLIENT_NAME ? "A-Z a-z 0-9 _ . -" : "A-Z a-z 0-9 _ -");
			return -1;
		}
		if (store_string((char **)p, s, cx, field) != 0)
			return -1;
		break;
	case CONF_T_SHA256: {
		char hex[65];
		if ((s = get_string(v, cx, field)) == NULL)
			return -1;
		if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64) {
			conf_error(cx, field, "expected 64 hex digits (a SHA-256), got '%s'", s);
			return -1;
		}
		for (int k = 0; k < 64; k++)
			hex[k] = (s[k] >= 'A' && s[k] <= 'F') ? (char)(s[k] - 'A' + 'a') : s[k];
		hex[64] = '\0';
		if (store_string((char **)p, hex, cx, field) != 0)
			return -1;
		break;
	}
	case CONF_T_LISTEN: {
		struct listen_parsed lp;
		struct gw_conf *c = base;
		if ((s = get_string(v, cx, field)) == NULL || parse_listen(s, &lp, cx, field) != 0)
			return -1;
		if (store_string(&c->listen, s, cx, field) != 0)
			return -1;
		memcpy(c->listen_host, lp.host, sizeof c->listen_host);
		c->listen_port = lp.port;
		c->listen_addr = lp.addr;
		c->listen_addr_len = lp.addr_len;
		c->listen_is_loopback = lp.loopback;
		break;
	}
	case CONF_T_URL:
	case CONF_T_WS_URL: {
		char *u;
		if ((s = get_string(v, cx, field)) == NULL)
			return -1;
		u = f->type == CONF_T_URL ? check_upstream_url(s, cx, field)
					  : check_ws_url(s, cx, field);
		if (u == NULL)
			return -1;
		free(*(char **)p);
		*(char **)p = u;
		break;
	}
	case CONF_T_COUNT:
		if (get_count(v, &i64, cx, field) != 0)
			return -1;
		*(int64_t *)p = i64;
		break;
	case CONF_T_DOLLARS:
	case CONF_T_PRICE:
		if (get_dollars(v, &i64, cx, field) != 0)
			return -1;
		if (f->type == CONF_T_PRICE && i64 > 10000) {
			conf_error(cx, field, "price '%s' is out of range 0..1 dollar",
				   json_string_value(v));
			return -1;
		}
		*(int64_t *)p = i64;
		break;
	case CONF_T_HOSTS:
	case CONF_T_ORIGINS:
	case CONF_T_GLOBS:
	case CONF_T_URLS: {
		struct gw_strlist l;
		if (get_strlist(f->type, v, &l, cx, field) != 0)
			return -1;
		conf_strlist_release((struct gw_strlist *)p);
		*(struct gw_strlist *)p = l;
		break;
	}
	case CONF_T_LIMITS: {
		struct gw_limits l;
		if (get_limits(v, &l, cx, field) != 0)
			return -1;
		conf_limits_release((struct gw_limits *)p);
		*(struct gw_limits *)p = l;
		break;
	}
	case CONF_T_CLIENTS: {
		struct gw_conf *c = base;
		struct gw_client *cl = NULL;
		size_t cnt = 0;
		if (get_clients(v, &cl, &cnt, cx, field) != 0)
			return -1;
		for (size_t k = 0; k < c->client_count; k++)
			conf_client_release(&c->clients[k]);
		free(c->clients);
		c->clients = cl;
		c->client_count = cnt;
		break;
	}
	}
	if (has)
		*has = 1;
	return 0;
}
