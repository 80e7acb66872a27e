/*
 * libFuzzer target for policy/browser: the Host, Origin and Content-Type
 * rules that keep a web page from driving a loopback gateway.
 *
 * Input: the first byte picks one of three fixed configurations (value
 * % 3) and which headers are absent ((value / 3) bits 0..2: Host, Origin,
 * Content-Type); the rest is "HOST\nORIGIN\nCONTENT-TYPE" (a header value
 * never holds a newline). '0', '1' and '2' select a configuration with all
 * three headers present, so seeds stay readable.
 *
 * Build and run (tests/fuzz/run.sh does this for every target):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_browser.c policy/browser.c -o /tmp/fuzz_browser
 *   /tmp/fuzz_browser -max_total_time=20 tests/fuzz/corpus/browser
 *
 * Besides memory safety, each answer is compared with a model written from
 * browser.h's documentation rather than from browser.c: a Host matches an
 * entry when equal to it, or, for an entry without a port, equal to it
 * plus ":" and digits; an Origin is allowed when listed or equal to
 * "http://" + a non-empty Host; a Content-Type is JSON when the media type
 * before any ';', trimmed, is application/json. Case never matters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "policy/browser.h"
#include "tests/fuzz/fuzz_check.h"


/* The configurations: only the fields browser.c reads are set. They are
 * built by hand rather than loaded so this target depends on browser.c
 * alone. Entries cover a host with any port, a host with one port and a
 * bracketed IPv6 literal. */
static char host_any[] = "gw.example";
static char host_port[] = "api.example:8443";
static char host_v6[] = "[fd00::1]";
static char *hosts[] = { host_any, host_port, host_v6 };
static char origin_app[] = "https://app.example";
static char origin_dev[] = "http://localhost:3000";
static char *origins[] = { origin_app, origin_dev };

/* 0: loopback, defaults; 1: listening elsewhere, no host list, one origin;
 * 2: loopback with an explicit host list and two origins. */
static struct gw_conf confs[3];

static void init_confs(void)
{
	confs[0].listen_is_loopback = 1;
	confs[1].listen_is_loopback = 0;
	confs[1].server.allowed_origins.items = origins;
	confs[1].server.allowed_origins.count = 1;
	confs[2].listen_is_loopback = 1;
	confs[2].server.has_allowed_hosts = 1;
	confs[2].server.allowed_hosts.items = hosts;
	confs[2].server.allowed_hosts.count = sizeof hosts / sizeof hosts[0];
	confs[2].server.allowed_origins.items = origins;
	confs[2].server.allowed_origins.count = sizeof origins / sizeof origins[0];
}

/* Whether an allowed-hosts entry names a port: a ':' after the closing
 * bracket of an IPv6 literal, or anywhere in any other name. */
static int entry_has_port(const char *e)
{
	if (e[0] == '[') {
		const char *end = strchr(e, ']');
		return end != NULL && strchr(end, ':') != NULL;
	}
	return strchr(e, ':') != NULL;
}

/* The documented matching of one Host value against one entry. */
static int model_entry(const char *e, const char *h)
{
	size_t n = strlen(e);

	if (strcasecmp(e, h) == 0)
		return 1;
	if (entry_has_port(e) || strncasecmp(e, h, n) != 0 || h[n] != ':' || h[n + 1] == '\0')
		return 0;
	return strspn(h + n + 1, "0123456789") == strlen(h + n + 1);
}

static int model_host(const struct gw_conf *c, const char *h)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]" };

	if (h == NULL)
		return 1;
	if (c->server.has_allowed_hosts) {
		for (size_t i = 0; i < c->server.allowed_hosts.count; i++)
			if (model_entry(c->server.allowed_hosts.items[i], h))
				return 1;
		return 0;
	}
	if (!c->listen_is_loopback)
		return 1;
	for (size_t i = 0; i < 3; i++)
		if (model_entry(loopback[i], h))
			return 1;
	return 0;
}

static int model_origin(const struct gw_conf *c, const char *o, const char *h)
{
	char *own;
	int ok;

	if (o == NULL)
		return 1;
	for (size_t i = 0; i < c->server.allowed_origins.count; i++)
		if (strcasecmp(c->server.allowed_origins.items[i], o) == 0)
			return 1;
	if (h == NULL || h[0] == '\0')
		return 0;
	own = malloc(strlen(h) + 8);
	CHECK(own != NULL);
	strcpy(own, "http://");
	strcat(own, h);
	ok = strcasecmp(own, o) == 0;
	free(own);
	return ok;
}

static int model_json(const char *ct)
{
	size_t end, start = 0;

	if (ct == NULL)
		return 0;
	end = strcspn(ct, ";");
	while (start < end && (ct[start] == ' ' || ct[start] == '\t'))
		start++;
	while (end > start && (ct[end - 1] == ' ' || ct[end - 1] == '\t'))
		end--;
	return end - start == 16 && strncasecmp(ct + start, "application/json", 16) == 0;
}

/* Copies the next '\n'-terminated field of [*p, end) into a new string
 * and advances *p past the newline. */
static char *next_field(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	CHECK(s != NULL);
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nl ? nl + 1 : end;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	const struct gw_conf *c;
	char *host, *origin, *ct;
	const char *h, *o, *t;
	unsigned absent;

	if (!ready) {
		init_confs();
		ready = 1;
	}
	if (size == 0)
		return 0;
	c = &confs[data[0] % 3];
	absent = (unsigned)(data[0] / 3);
	host = next_field(&p, end);
	origin = next_field(&p, end);
	ct = next_field(&p, end);
	h = (absent & 1) ? NULL : host;
	o = (absent & 2) ? NULL : origin;
	t = (absent & 4) ? NULL : ct;

	CHECK(!!browser_host_allowed(c, h) == model_host(c, h));
	CHECK(!!browser_origin_allowed(c, o, h) == model_origin(c, o, h));
	CHECK(!!browser_is_json(t) == model_json(t));
	/* whatever the Host, "null" (a sandboxed or file: page) is nobody's
	 * origin unless listed, and none of these lists it */
	CHECK(!browser_origin_allowed(c, "null", h));

	free(host);
	free(origin);
	free(ct);
	return 0;
}
