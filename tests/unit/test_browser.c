/*
 * Unit tests for policy/browser: the Host, Origin and Content-Type rules
 * that keep a web page in a trader's browser away from a loopback gateway.
 * Each test builds a struct gw_conf by hand (zeroed, then the few server
 * fields the rules read) and runs a table of header values through it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/browser.h"

struct host_case {
	const char *host;       /* NULL = header absent */
	int ok;
};

/* A configuration listening on loopback or elsewhere, with optional
 * allowed_hosts (has_allowed_hosts set when hosts != NULL) and
 * allowed_origins. The lists point at the caller's arrays. */
static void conf_init(struct gw_conf *c, int loopback, const char **hosts, size_t nhosts,
		      const char **origins, size_t norigins)
{
	memset(c, 0, sizeof *c);
	c->listen_is_loopback = loopback;
	if (hosts) {
		c->server.has_allowed_hosts = 1;
		c->server.allowed_hosts.items = (char **)(uintptr_t)hosts;
		c->server.allowed_hosts.count = nhosts;
	}
	c->server.allowed_origins.items = (char **)(uintptr_t)origins;
	c->server.allowed_origins.count = norigins;
}

/* Runs a table of Host values against a configuration. */
static void check_hosts(const struct gw_conf *c, const struct host_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = browser_host_allowed(c, cases[i].host) != 0;
		if (got != cases[i].ok)
			fail_msg("Host '%s': got %s, want %s", cases[i].host ? cases[i].host : "(absent)",
				 got ? "allowed" : "refused", cases[i].ok ? "allowed" : "refused");
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct host_case loopback_default[] = {
	{ NULL, 1 },                 /* HTTP/1.0: browsers always send Host */
	{ "localhost", 1 },
	{ "localhost:8080", 1 },
	{ "127.0.0.1", 1 },
	{ "127.0.0.1:1", 1 },
	{ "127.0.0.1:8080", 1 },
	{ "[::1]", 1 },
	{ "[::1]:8080", 1 },
	{ "LOCALHOST", 1 },
	{ "LocalHost:8080", 1 },
	{ "evil.com", 0 },
	{ "evil.com:8080", 0 },
	{ "localhost.evil.com", 0 },
	{ "localhost.evil.com:8080", 0 },
	{ "127.0.0.1.nip.io", 0 },
	{ "127.0.0.1.nip.io:8080", 0 },
	{ "evil.localhost", 0 },
	{ "localhost:", 0 },         /* empty port */
	{ "localhost:80x", 0 },
	{ "localhost:-1", 0 },
	{ "localhost:8080:80", 0 },
	{ "localhost.", 0 },
	{ " localhost", 0 },
	{ "localhost ", 0 },
	{ "", 0 },
	{ "[::2]", 0 },
	{ "[::2]:8080", 0 },
	{ "[::1", 0 },
	{ "[::1]x", 0 },
	{ "[::1]:", 0 },
	{ "::1", 0 },
	{ "127.0.0.2", 0 },
	{ "0.0.0.0", 0 },
	{ "127.0.0.1:80@evil.com", 0 },
};

static void test_host_loopback_default(void **state)
{
	struct gw_conf c;

	(void)state;
	conf_init(&c, 1, NULL, 0, NULL, 0);
	check_hosts(&c, loopback_default, N(loopback_default));
}

static const struct host_case anywhere[] = {
	{ NULL, 1 },
	{ "localhost", 1 },
	{ "evil.com", 1 },
	{ "evil.com:8080", 1 },
	{ "gw.team.example:8080", 1 },
	{ "[::2]", 1 },
};

static void test_host_not_loopback_any(void **state)
{
	struct gw_conf c;

	(void)state;
	conf_init(&c, 0, NULL, 0, NULL, 0);
	check_hosts(&c, anywhere, N(anywhere));
}

/* An entry without a port matches any port; one with a port matches only
 * that port; the list replaces the loopback defaults. */
static const char *explicit_hosts[] = { "gw.team.example", "box.lan:9000", "[fe80::1]" };

static const struct host_case explicit_cases[] = {
	{ NULL, 1 },
	{ "gw.team.example", 1 },
	{ "gw.team.example:8080", 1 },
	{ "GW.TEAM.EXAMPLE:1", 1 },
	{ "gw.team.example:", 0 },
	{ "gw.team.example:80x", 0 },
	{ "gw.team.example.evil.com", 0 },
	{ "evil.gw.team.example", 0 },
	{ "box.lan:9000", 1 },
	{ "BOX.LAN:9000", 1 },
	{ "box.lan", 0 },
	{ "box.lan:9001", 0 },
	{ "box.lan:90000", 0 },
	{ "box.lan:9000x", 0 },
	{ "[fe80::1]", 1 },
	{ "[fe80::1]:8080", 1 },
	{ "[fe80::2]", 0 },
	{ "localhost", 0 },          /* not in the list, even on loopback */
	{ "127.0.0.1:8080", 0 },
	{ "evil.com", 0 },
};

static void test_host_explicit_list(void **state)
{
	struct gw_conf c;

	(void)state;
	/* the same list applies whether or not the listener is loopback */
	conf_init(&c, 1, explicit_hosts, N(explicit_hosts), NULL, 0);
	check_hosts(&c, explicit_cases, N(explicit_cases));
	conf_init(&c, 0, explicit_hosts, N(explicit_hosts), NULL, 0);
	check_hosts(&c, explicit_cases, N(explicit_cases));
}

static void test_host_explicit_empty_list(void **state)
{
	static const struct host_case cases[] = {
		{ NULL, 1 }, { "localhost", 0 }, { "evil.com", 0 },
	};
	struct gw_conf c;

	(void)state;
	conf_init(&c, 0, explicit_hosts, 0, NULL, 0);
	check_hosts(&c, cases, N(cases));
}

struct origin_case {
	const char *origin;     /* NULL = header absent */
	const char *host;       /* the request's Host, NULL = absent */
	int ok;
};

/* Runs a table of Origin values against a configuration. */
static void check_origins(const struct gw_conf *c, const struct origin_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = browser_origin_allowed(c, cases[i].origin, cases[i].host) != 0;
		if (got != cases[i].ok)
			fail_msg("Origin '%s' with Host '%s': got %s, want %s",
				 cases[i].origin ? cases[i].origin : "(absent)",
				 cases[i].host ? cases[i].host : "(absent)",
				 got ? "allowed" : "refused", cases[i].ok ? "allowed" : "refused");
	}
}

static const struct origin_case origin_default[] = {
	{ NULL, "localhost:8080", 1 },
	{ NULL, NULL, 1 },
	{ "http://localhost:8080", "localhost:8080", 1 },       /* the dashboard */
	{ "http://127.0.0.1:8080", "127.0.0.1:8080", 1 },
	{ "http://[::1]:8080", "[::1]:8080", 1 },
	{ "http://localhost", "localhost", 1 },
	{ "HTTP://LOCALHOST:8080", "localhost:8080", 1 },
	{ "http://localhost", "localhost:8080", 0 },            /* other port = other origin */
	{ "http://localhost:8081", "localhost:8080", 0 },
	{ "http://127.0.0.1:8080", "localhost:8080", 0 },
	{ "https://localhost:8080", "localhost:8080", 0 },      /* other scheme */
	{ "http://evil.com", "localhost:8080", 0 },
	{ "http://evil.com:8080", "localhost:8080", 0 },
	{ "http://localhost:8080.evil.com", "localhost:8080", 0 },
	{ "http://localhost:8080/", "localhost:8080", 0 },
	{ "http://localhost:8080", NULL, 0 },                   /* no Host to compare with */
	{ "null", "localhost:8080", 0 },
	{ "", "localhost:8080", 0 },
	{ "http://", "", 0 },
	{ "localhost:8080", "localhost:8080", 0 },
};

static void test_origin_default(void **state)
{
	struct gw_conf c;

	(void)state;
	conf_init(&c, 1, NULL, 0, NULL, 0);
	check_origins(&c, origin_default, N(origin_default));
}

static const char *origins_list[] = { "https://dash.team.example", "http://localhost:3000" };

static const struct origin_case origin_listed[] = {
	{ NULL, "localhost:8080", 1 },
	{ "http://localhost:8080", "localhost:8080", 1 },       /* own origin still works */
	{ "https://dash.team.example", "localhost:8080", 1 },
	{ "HTTPS://DASH.TEAM.EXAMPLE", "localhost:8080", 1 },   /* case-insensitive */
	{ "https://dash.team.example", NULL, 1 },
	{ "http://localhost:3000", "localhost:8080", 1 },
	{ "https://dash.team.example:443", "localhost:8080", 0 },  /* exact match only */
	{ "https://dash.team.example/", "localhost:8080", 0 },
	{ "https://dash.team.example.evil.com", "localhost:8080", 0 },
	{ "http://dash.team.example", "localhost:8080", 0 },
	{ "https://dash.team.exampl", "localhost:8080", 0 },
	{ "http://localhost:3001", "localhost:8080", 0 },
	{ "https://localhost:8080", "localhost:8080", 0 },
	{ "null", "localhost:8080", 0 },
	{ "http://evil.com", "localhost:8080", 0 },
};

static void test_origin_listed(void **state)
{
	struct gw_conf c;

	(void)state;
	conf_init(&c, 1, NULL, 0, origins_list, N(origins_list));
	check_origins(&c, origin_listed, N(origin_listed));
}

static void test_origin_https_same_host_listed(void **state)
{
	static const char *list[] = { "https://localhost:8080" };
	static const struct origin_case cases[] = {
		{ "https://localhost:8080", "localhost:8080", 1 },
		{ "http://localhost:8080", "localhost:8080", 1 },
		{ "https://localhost:8081", "localhost:8080", 0 },
	};
	struct gw_conf c;

	(void)state;
	conf_init(&c, 1, NULL, 0, list, N(list));
	check_origins(&c, cases, N(cases));
}

struct ct_case {
	const char *ct;
	int ok;
};

static const struct ct_case ct_cases[] = {
	{ "application/json", 1 },
	{ "application/json; charset=utf-8", 1 },
	{ "application/json;charset=UTF-8", 1 },
	{ "Application/JSON", 1 },
	{ "APPLICATION/JSON; CHARSET=UTF-8", 1 },
	{ " application/json", 1 },
	{ "\tapplication/json", 1 },
	{ "application/json ", 1 },
	{ "application/json ; charset=utf-8", 1 },
	{ NULL, 0 },
	{ "", 0 },
	{ " ", 0 },
	{ "text/plain", 0 },
	{ "text/plain; charset=utf-8", 0 },
	{ "application/x-www-form-urlencoded", 0 },
	{ "multipart/form-data; boundary=x", 0 },
	{ "application/jsonx", 0 },
	{ "application/json-patch+json", 0 },
	{ "application/json+x", 0 },
	{ "application/jso", 0 },
	{ "application/", 0 },
	{ "text/json", 0 },
	{ "application/javascript", 0 },
	{ "xapplication/json", 0 },
	{ "application/json,text/plain", 0 },
};

static void test_content_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(ct_cases); i++) {
		int got = browser_is_json(ct_cases[i].ct) != 0;
		if (got != ct_cases[i].ok)
			fail_msg("Content-Type '%s': got %d, want %d",
				 ct_cases[i].ct ? ct_cases[i].ct : "(NULL)", got, ct_cases[i].ok);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_loopback_default),
		cmocka_unit_test(test_host_not_loopback_any),
		cmocka_unit_test(test_host_explicit_list),
		cmocka_unit_test(test_host_explicit_empty_list),
		cmocka_unit_test(test_origin_default),
		cmocka_unit_test(test_origin_listed),
		cmocka_unit_test(test_origin_https_same_host_listed),
		cmocka_unit_test(test_content_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
