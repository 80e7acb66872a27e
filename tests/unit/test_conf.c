/*
 * Unit tests for conf: defaults, every value type, the file/env/flag
 * layers, URL and listen rules, limits and clients, and the exact
 * "SOURCE:FIELD: message" diagnostics. Files are temporary (mkstemp); the
 * environment is a fake table passed through the getenv seam.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"

/* ------------------------------------------------------------------ */
/* fixtures                                                            */

#define MAX_ENV 16
static const char *env_names[MAX_ENV];
static const char *env_values[MAX_ENV];
static size_t env_count;

/* The getenv seam: looks the name up in the test's table. */
static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < env_count; i++)
		if (strcmp(env_names[i], name) == 0)
			return env_values[i];
	return NULL;
}

/* Adds a variable to the fake environment (pointers must outlive the test). */
static void env_set(const char *name, const char *value)
{
	assert_true(env_count < MAX_ENV);
	env_names[env_count] = name;
	env_values[env_count] = value;
	env_count++;
}

/* Setup: every test starts with an empty environment. */
static int reset_env(void **state)
{
	(void)state;
	env_count = 0;
	return 0;
}

/* Writes text to a new temporary file; returns its malloc'd path. */
static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/test_conf_XXXXXX");
	int fd;
	size_t len = strlen(text);

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Loads `json` from a temporary file (removed again) with the fake
 * environment and an optional --listen value. *path_out, when given,
 * receives the file name used (caller frees). */
static struct gw_conf *load_json(const char *json, const char *flag_listen,
				 struct conf_diag *d, char **path_out)
{
	char *path = write_temp(json);
	struct gw_conf *c = conf_load(path, fake_getenv, flag_listen, d);

	unlink(path);
	if (path_out)
		*path_out = path;
	else
		free(path);
	return c;
}

/* Prints every diagnostic, for failing rows. */
static void dump_diag(const struct conf_diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		print_error("  diag: %s\n", d->lines[i]);
}

/* True when line `want` (exact) is among the diagnostics. */
static int diag_has(const struct conf_diag *d, const char *want)
{
	for (size_t i = 0; i < d->count; i++)
		if (strcmp(d->lines[i], want) == 0)
			return 1;
	return 0;
}

/* Asserts the diagnostics hold "PATH:rest". */
static void assert_file_line(const struct conf_diag *d, const char *path, const char *rest)
{
	char want[1024];

	snprintf(want, sizeof want, "%s:%s", path, rest);
	if (!diag_has(d, want)) {
		print_error("missing line: %s\n", want);
		dump_diag(d);
		fail();
	}
}

/* Loads a JSON text that must be valid; returns the configuration. */
static struct gw_conf *load_ok(const char *json)
{
	struct conf_diag d = { NULL, 0 };
	struct gw_conf *c = load_json(json, NULL, &d, NULL);

	if (c == NULL || d.count != 0) {
		print_error("config refused: %s\n", json);
		dump_diag(&d);
		fail();
	}
	conf_diag_release(&d);
	return c;
}

/* Path of the example configuration, from this file's location. */
static void example_path(char *buf, size_t cap)
{
	const char *me = __FILE__;
	const char *tail = strstr(me, "tests/unit/test_conf.c");
	int prefix = tail ? (int)(tail - me) : 0;

	snprintf(buf, cap, "%.*sconf/gateway.example.json", prefix, me);
}

/* ------------------------------------------------------------------ */
/* defaults                                                            */

/* With no file, variables or flags, every key has its DESIGN.md default. */
static void test_defaults(void **state)
{
	struct conf_diag d = { NULL, 0 };
	struct gw_conf *c = conf_load(NULL, fake_getenv, NULL, &d);
	const struct sockaddr_in *a4;

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.count, 0);
	assert_string_equal(c->listen, "127.0.0.1:8080");
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_int_equal(c->listen_is_loopback, 1);
	assert_int_equal(c->listen_addr_len, sizeof(struct sockaddr_in));
	a4 = (const struct sockaddr_in *)&c->listen_addr;
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 8080);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), 0x7f000001);
	assert_string_equal(c->state_dir, "./var");
	assert_null(c->admin_token_file);
	assert_int_equal(c->log_format, GW_LOG_TEXT);
	assert_int_equal(c->log_level, GW_LOG_INFO);
	assert_string_equal(c->upstream.url, "https://external-api.demo.kalshi.co");
	assert_string_equal(c->upstream.ws_url,
			    "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2");
	assert_null(c->upstream.key_id);
	assert_null(c->upstream.private_key_file);
	assert_null(c->upstream.ca_file);
	assert_int_equal(c->upstream.connect_timeout_ms, 3000);
	assert_int_equal(c->upstream.timeout_ms, 10000);
	assert_int_equal(c->upstream.max_connections, 32);
	assert_int_equal(c->upstream.max_response_bytes, 16777216);
	assert_int_equal(c->upstream.presign_max_age_ms, 100);
	assert_int_equal(c->server.threads, 0);
	assert_int_equal(c->server.max_body_bytes, 1048576);
	assert_int_equal(c->server.max_connections, 4096);
	assert_int_equal(c->server.connection_timeout_s, 30);
	assert_int_equal(c->server.shutdown_timeout_ms, 5000);
	assert_int_equal(c->server.has_allowed_hosts, 0);
	assert_int_equal(c->server.allowed_hosts.count, 0);
	assert_int_equal(c->server.allowed_origins.count, 0);
	assert_int_equal(c->readiness.probe_interval_s, 5);
	assert_int_equal(c->session.require_session, 1);
	assert_int_equal(c->session.halt_on_shutdown, 0);
	assert_int_equal(c->session.history, 100);
	assert_int_equal(c->session.on_trigger, GW_TRIGGER_STAY);
	assert_int_equal(c->session.cooldown_s, 30);
	assert_int_equal(c->session.max_auto_resets, 3);
	assert_int_equal(c->limits.has_max_order_contracts, 0);
	assert_int_equal(c->limits.has_min_price, 0);
	assert_int_equal(c->limits.has_tickers, 0);
	assert_int_equal(c->client_count, 0);
	assert_null(c->clients);
	assert_int_equal(c->rate_limit.tier, GW_TIER_AUTO);
	assert_int_equal(c->rate_limit.has_read_tokens_per_s, 0);
	assert_int_equal(c->rate_limit.has_write_tokens_per_s, 0);
	assert_int_equal(c->rate_limit.has_burst_s, 0);
	assert_int_equal(c->rate_limit.max_queue_ms, 1000);
	assert_int_equal(c->orders.legacy, GW_LEGACY_TRANSLATE);
	assert_int_equal(c->orders.require_client_order_id, 0);
	assert_int_equal(c->orders.dedupe_window_s, 600);
	assert_int_equal(c->orders.self_trade_prevention_default, GW_STP_TAKER_AT_CROSS);
	assert_int_equal(c->audit.fsync, GW_FSYNC_INTERVAL);
	assert_int_equal(c->audit.max_file_bytes, 67108864);
	assert_int_equal(c->audit.keep_files, 10);
	assert_int_equal(c->ws.max_connections, 200);
	assert_int_equal(c->ws.max_per_client, 50);
	assert_int_equal(c->ws.idle_timeout_s, 300);
	assert_int_equal(c->events.webhooks.count, 0);
	assert_string_equal(conf_source(c, "listen"), "default");
	assert_string_equal(conf_source(c, "upstream.timeout_ms"), "default");
	assert_string_equal(conf_source(c, "upstream.ws_url"), "default");
	assert_string_equal(conf_source(c, "no.such.key"), "default");
	conf_free(c);
	conf_diag_release(&d);
}

/* ------------------------------------------------------------------ */
/* values of every type                                                */

/* Valid values of every type are stored, and untouched keys keep defaults. */
static void test_values_of_every_type(void **state)
{
	struct gw_conf *c;

	(void)state;
	c = load_ok("{\"listen\": \"0.0.0.0:9000\", \"state_dir\": \"/srv/gw\","
		    " \"admin_token_file\": \"/run/secrets/admin\","
		    " \"log_format\": \"json\", \"log_level\": \"debug\","
		    " \"upstream\": {\"timeout_ms\": 1500, \"ca_file\": \"/etc/ca.pem\","
		    "   \"key_id\": \"abc-123\", \"private_key_file\": \"/k.pem\"},"
		    " \"server\": {\"threads\": 256, \"allowed_hosts\": [\"gw.example\", \"gw:8080\"],"
		    "   \"allowed_origins\": [\"https://app.example\"]},"
		    " \"session\": {\"require_session\": false, \"halt_on_shutdown\": true,"
		    "   \"on_trigger\": \"new_group\", \"cooldown_s\": 0},"
		    " \"rate_limit\": {\"tier\": \"off\", \"read_tokens_per_s\": 20, \"burst_s\": 2},"
		    " \"orders\": {\"legacy\": \"reject\", \"require_client_order_id\": true,"
		    "   \"self_trade_prevention_default\": \"maker\"},"
		    " \"audit\": {\"fsync\": \"never\", \"keep_files\": 0},"
		    " \"ws\": {\"max_per_client\": 7},"
		    " \"events\": {\"webhooks\": [\"https://hooks.example/x?y=1\","
		    "   \"http://127.0.0.1:9/h\"]}}");
	assert_string_equal(c->listen_host, "0.0.0.0");
	assert_int_equal(c->listen_port, 9000);
	assert_int_equal(c->listen_is_loopback, 0);
	assert_string_equal(c->state_dir, "/srv/gw");
	assert_string_equal(c->admin_token_file, "/run/secrets/admin");
	assert_int_equal(c->log_format, GW_LOG_JSON);
	assert_int_equal(c->log_level, GW_LOG_DEBUG);
	assert_int_equal(c->upstream.timeout_ms, 1500);
	assert_int_equal(c->upstream.connect_timeout_ms, 3000);
	assert_string_equal(c->upstream.ca_file, "/etc/ca.pem");
	assert_string_equal(c->upstream.key_id, "abc-123");
	assert_string_equal(c->upstream.private_key_file, "/k.pem");
	assert_int_equal(c->server.threads, 256);
	assert_int_equal(c->server.has_allowed_hosts, 1);
	assert_int_equal(c->server.allowed_hosts.count, 2);
	assert_string_equal(c->server.allowed_hosts.items[1], "gw:8080");
	assert_int_equal(c->server.allowed_origins.count, 1);
	assert_int_equal(c->session.require_session, 0);
	assert_int_equal(c->session.halt_on_shutdown, 1);
	assert_int_equal(c->session.on_trigger, GW_TRIGGER_NEW_GROUP);
	assert_int_equal(c->session.cooldown_s, 0);
	assert_int_equal(c->rate_limit.tier, GW_TIER_OFF);
	assert_int_equal(c->rate_limit.has_read_tokens_per_s, 1);
	assert_int_equal(c->rate_limit.read_tokens_per_s, 20);
	assert_int_equal(c->rate_limit.has_write_tokens_per_s, 0);
	assert_int_equal(c->rate_limit.has_burst_s, 1);
	assert_int_equal(c->rate_limit.burst_s, 2);
	assert_int_equal(c->orders.legacy, GW_LEGACY_REJECT);
	assert_int_equal(c->orders.require_client_order_id, 1);
	assert_int_equal(c->orders.self_trade_prevention_default, GW_STP_MAKER);
	assert_int_equal(c->audit.fsync, GW_FSYNC_NEVER);
	assert_int_equal(c->audit.keep_files, 0);
	assert_int_equal(c->ws.max_per_client, 7);
	assert_int_equal(c->events.webhooks.count, 2);
	assert_string_equal(c->events.webhooks.items[0], "https://hooks.example/x?y=1");
	conf_free(c);
}

/* Every enum value name maps to its enum constant. */
static void test_enum_values(void **state)
{
	static const struct {
		const char *json;
		size_t off;
		int want;
	} t[] = {
		{ "{\"log_level\": \"warn\"}", offsetof(struct gw_conf, log_level), GW_LOG_WARN },
		{ "{\"log_level\": \"error\"}", offsetof(struct gw_conf, log_level), GW_LOG_ERROR },
		{ "{\"session\": {\"on_trigger\": \"reset_after\"}}",
		  offsetof(struct gw_conf, session.on_trigger), GW_TRIGGER_RESET_AFTER },
		{ "{\"rate_limit\": {\"tier\": \"basic\"}}", offsetof(struct gw_conf, rate_limit.tier),
		  GW_TIER_BASIC },
		{ "{\"rate_limit\": {\"tier\": \"prestige\"}}",
		  offsetof(struct gw_conf, rate_limit.tier), GW_TIER_PRESTIGE },
		{ "{\"rate_limit\": {\"tier\": \"paragon\"}}",
		  offsetof(struct gw_conf, rate_limit.tier), GW_TIER_PARAGON },
		{ "{\"orders\": {\"legacy\": \"pass\"}}", offsetof(struct gw_conf, orders.legacy),
		  GW_LEGACY_PASS },
		{ "{\"audit\": {\"fsync\": \"always\"}}", offsetof(struct gw_conf, audit.fsync),
		  GW_FSYNC_ALWAYS },
	};

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct gw_conf *c = load_ok(t[i].json);
		int got;
		memcpy(&got, (const char *)c + t[i].off, sizeof got);
		assert_int_equal(got, t[i].want);
		conf_free(c);
	}
}

/* null means "none" for keys whose default is none. */
static void test_null_means_none(void **state)
{
	struct gw_conf *c;

	(void)state;
	c = load_ok("{\"admin_token_file\": null, \"upstream\": {\"ws_url\": null,"
		    " \"key_id\": null, \"private_key_file\": null, \"ca_file\": null},"
		    " \"server\": {\"allowed_hosts\": null},"
		    " \"rate_limit\": {\"read_tokens_per_s\": null}}");
	assert_null(c->admin_token_file);
	assert_null(c->upstream.key_id);
	assert_int_equal(c->server.has_allowed_hosts, 0);
	assert_int_equal(c->rate_limit.has_read_tokens_per_s, 0);
	assert_string_equal(c->upstream.ws_url,
			    "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2");
	conf_free(c);
}

/* Counts, dollars, globs and clients are parsed into fixed-point fields. */
static void test_limits_values(void **state)
{
	struct gw_conf *c;

	(void)state;
	c = load_ok("{\"limits\": {\"max_order_contracts\": 10, \"max_order_cost\": \"25\","
		    " \"min_price\": \"0.05\", \"max_price\": \"0.9500\","
		    " \"tickers\": [\"KXHIGH*\", \"INX-?\"], \"deny_tickers\": [],"
		    " \"max_session_contracts\": \"10.50\","
		    " \"max_session_filled_contracts\": \"0.01\", \"max_orders_per_s\": 5},"
		    " \"clients\": [{\"name\": \"bot.1\", \"role\": \"trader\", \"session\": \"s_1-A\","
		    "   \"token_sha256\": \"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\","
		    "   \"limits\": {\"max_price\": \"0.5\", \"max_order_contracts\": \"2.5\"}},"
		    "  {\"name\": \"r\", \"role\": \"read_only\", \"token_file\": \"/t\"},"
		    "  {\"name\": \"k\", \"role\": \"admin\", \"kalshi_key_id\": \"kid\","
		    "   \"public_key_file\": \"/p.pem\"}]}");
	assert_int_equal(c->limits.has_max_order_contracts, 1);
	assert_int_equal(c->limits.max_order_contracts, 1000);
	assert_int_equal(c->limits.max_order_cost, 250000);
	assert_int_equal(c->limits.min_price, 500);
	assert_int_equal(c->limits.max_price, 9500);
	assert_int_equal(c->limits.has_tickers, 1);
	assert_int_equal(c->limits.tickers.count, 2);
	assert_string_equal(c->limits.tickers.items[1], "INX-?");
	assert_int_equal(c->limits.has_deny_tickers, 1);
	assert_int_equal(c->limits.deny_tickers.count, 0);
	assert_int_equal(c->limits.max_session_contracts, 1050);
	assert_int_equal(c->limits.max_session_filled_contracts, 1);
	assert_int_equal(c->limits.has_max_orders_per_s, 1);
	assert_int_equal(c->limits.max_orders_per_s, 5);

	assert_int_equal(c->client_count, 3);
	assert_string_equal(c->clients[0].name, "bot.1");
	assert_int_equal(c->clients[0].role, GW_ROLE_TRADER);
	assert_string_equal(c->clients[0].session, "s_1-A");
	assert_string_equal(c->clients[0].token_sha256,
			    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	assert_null(c->clients[0].token_file);
	assert_int_equal(c->clients[0].limits.has_max_price, 1);
	assert_int_equal(c->clients[0].limits.max_price, 5000);
	assert_int_equal(c->clients[0].limits.has_min_price, 0);
	assert_int_equal(c->clients[0].limits.max_order_contracts, 250);
	assert_int_equal(c->clients[0].limits.has_tickers, 0);
	assert_int_equal(c->clients[1].role, GW_ROLE_READ_ONLY);
	assert_string_equal(c->clients[1].token_file, "/t");
	assert_null(c->clients[1].session);
	assert_int_equal(c->clients[2].role, GW_ROLE_ADMIN);
	assert_string_equal(c->clients[2].kalshi_key_id, "kid");
	assert_string_equal(c->clients[2].public_key_file, "/p.pem");
	conf_free(c);
}

/* ------------------------------------------------------------------ */
/* refused values: one row, one exact diagnostic                       */

struct bad_case {
	const char *json;
	const char *line;   /* the diagnostic after "FILE:" */
};

#define CLIENT_OK "\"name\": \"a\", \"role\": \"admin\", \"token_file\": \"/t\""
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct bad_case bad_cases[] = {
	/* unknown keys at every level */
	{ "{\"foo\": 1}", "foo: unknown key 'foo'" },
	{ "{\"upstream\": {\"foo\": 1}}", "upstream.foo: unknown key 'foo'" },
	{ "{\"server\": {\"threads\": 1, \"tls\": {}}}", "server.tls: unknown key 'tls'" },
	{ "{\"limits\": {\"foo\": 1}}", "limits.foo: unknown key 'foo'" },
	{ "{\"clients\": [{" CLIENT_OK ", \"foo\": 1}]}", "clients[0].foo: unknown key 'foo'" },
	{ "{\"clients\": [{" CLIENT_OK ", \"limits\": {\"foo\": 1}}]}",
	  "clients[0].limits.foo: unknown key 'foo'" },
	{ "{\"upstream.timeout_ms\": 1500}",
	  "upstream.timeout_ms: unknown key 'upstream.timeout_ms' (write dotted keys nested: "
	  "{\"upstream\": {\"timeout_ms\": ...}})" },
	{ "{\"upstream\": {\"tls.verify\": 1}}", "upstream.tls.verify: unknown key 'tls.verify'" },
	{ "{\"upstream\": 5}", "upstream: expected an object, got an integer" },
	/* integers */
	{ "{\"upstream\": {\"timeout_ms\": 1.5}}", "upstream.timeout_ms: expected an integer, got a real" },
	{ "{\"upstream\": {\"timeout_ms\": 1500.0}}",
	  "upstream.timeout_ms: expected an integer, got a real" },
	{ "{\"upstream\": {\"timeout_ms\": \"1500\"}}",
	  "upstream.timeout_ms: expected an integer, got a string" },
	{ "{\"upstream\": {\"timeout_ms\": true}}",
	  "upstream.timeout_ms: expected an integer, got a boolean" },
	{ "{\"upstream\": {\"timeout_ms\": null}}", "upstream.timeout_ms: expected an integer, got null" },
	{ "{\"upstream\": {\"timeout_ms\": 0}}", "upstream.timeout_ms: value 0 is out of range 1..3600000" },
	{ "{\"upstream\": {\"connect_timeout_ms\": -5}}",
	  "upstream.connect_timeout_ms: value -5 is out of range 1..600000" },
	{ "{\"server\": {\"threads\": 257}}", "server.threads: value 257 is out of range 0..256" },
	{ "{\"server\": {\"threads\": -1}}", "server.threads: value -1 is out of range 0..256" },
	{ "{\"rate_limit\": {\"burst_s\": 0}}", "rate_limit.burst_s: value 0 is out of range 1..3600" },
	{ "{\"ws\": {\"idle_timeout_s\": 9223372036854775807}}",
	  "ws.idle_timeout_s: value 9223372036854775807 is out of range 1..86400" },
	/* booleans, strings, enums */
	{ "{\"session\": {\"require_session\": 1}}",
	  "session.require_session: expected a boolean, got an integer" },
	{ "{\"session\": {\"halt_on_shutdown\": \"true\"}}",
	  "session.halt_on_shutdown: expected a boolean, got a string" },
	{ "{\"log_level\": \"verbose\"}",
	  "log_level: invalid value 'verbose' (expected debug|info|warn|error)" },
	{ "{\"log_format\": 1}", "log_format: expected a string, got an integer" },
	{ "{\"log_format\": \"JSON\"}", "log_format: invalid value 'JSON' (expected text|json)" },
	{ "{\"rate_limit\": {\"tier\": \"gold\"}}",
	  "rate_limit.tier: invalid value 'gold' (expected auto|basic|advanced|expert|premier|"
	  "paragon|prime|prestige|off)" },
	{ "{\"state_dir\": \"\"}", "state_dir: must not be empty" },
	{ "{\"state_dir\": null}", "state_dir: expected a string, got null" },
	{ "{\"state_dir\": [\"/x\"]}", "state_dir: expected a string, got an array" },
	{ "{\"upstream\": {\"key_id\": \"a b\", \"private_key_file\": \"/k\"}}",
	  "upstream.key_id: 'a b' contains spaces or control characters" },
	/* counts and dollars */
	{ "{\"limits\": {\"max_order_contracts\": 1.5}}",
	  "limits.max_order_contracts: expected an integer or a string, got a real (reals are "
	  "not exact: write a count as a string, e.g. \"10.50\")" },
	{ "{\"limits\": {\"max_order_contracts\": \"1.234\"}}",
	  "limits.max_order_contracts: invalid count '1.234' (expected digits with at most 2 "
	  "decimals, e.g. \"10.50\")" },
	{ "{\"limits\": {\"max_session_contracts\": \"1e3\"}}",
	  "limits.max_session_contracts: invalid count '1e3' (expected digits with at most 2 "
	  "decimals, e.g. \"10.50\")" },
	{ "{\"limits\": {\"max_order_contracts\": -1}}",
	  "limits.max_order_contracts: count -1 is out of range 0..1000000000000" },
	{ "{\"limits\": {\"max_order_contracts\": 1000000000001}}",
	  "limits.max_order_contracts: count 1000000000001 is out of range 0..1000000000000" },
	{ "{\"limits\": {\"max_order_contracts\": true}}",
	  "limits.max_order_contracts: expected an integer or a string, got a boolean" },
	{ "{\"limits\": {\"max_order_cost\": 0.95}}",
	  "limits.max_order_cost: expected a string, got a real (reals are not exact: write "
	  "dollars as a string, e.g. \"0.95\")" },
	{ "{\"limits\": {\"max_order_cost\": 25}}",
	  "limits.max_order_cost: expected a string, got an integer (write dollars as a string, "
	  "e.g. \"25\")" },
	{ "{\"limits\": {\"max_order_cost\": \"0.12345\"}}",
	  "limits.max_order_cost: invalid dollar amount '0.12345' (expected digits with at most 4 "
	  "decimals, e.g. \"0.95\")" },
	{ "{\"limits\": {\"min_price\": \"-0.1\"}}",
	  "limits.min_price: invalid dollar amount '-0.1' (expected digits with at most 4 "
	  "decimals, e.g. \"0.95\")" },
	{ "{\"limits\": {\"max_price\": \"1.01\"}}",
	  "limits.max_price: price '1.01' is out of range 0..1 dollar" },
	{ "{\"limits\": {\"min_price\": \"0.60\", \"max_price\": \"0.40\"}}",
	  "limits.min_price: min_price 0.6000 is above max_price 0.4000" },
	{ "{\"limits\": {\"max_orders_per_s\": 0}}",
	  "limits.max_orders_per_s: value 0 is out of range 1..1000000" },
	{ "{\"limits\": {\"max_orders_per_s\": 2.5}}",
	  "limits.max_orders_per_s: expected an integer, got a real" },
	/* lists */
	{ "{\"limits\": {\"tickers\": \"KX*\"}}",
	  "limits.tickers: expected an array of strings, got a string" },
	{ "{\"limits\": {\"tickers\": [\"KX*\", \"\"]}}", "limits.tickers[1]: must not be empty" },
	{ "{\"limits\": {\"deny_tickers\": [3]}}",
	  "limits.deny_tickers[0]: expected a string, got an integer" },
	{ "{\"limits\": {\"tickers\": [\"KX *\"]}}",
	  "limits.tickers[0]: 'KX *' contains spaces or control characters" },
	{ "{\"limits\": []}", "limits: expected an object, got an array" },
	{ "{\"server\": {\"allowed_hosts\": [\"\"]}}", "server.allowed_hosts[0]: must not be empty" },
	{ "{\"server\": {\"allowed_hosts\": []}}",
	  "server.allowed_hosts: must not be empty (leave it out for the default list)" },
	{ "{\"server\": {\"allowed_origins\": [\"\"]}}",
	  "server.allowed_origins[0]: must not be empty" },
	{ "{\"events\": {\"webhooks\": [\"http://example.com/hook\"]}}",
	  "events.webhooks[0]: http:// is only allowed for a loopback host" },
	{ "{\"events\": {\"webhooks\": [\"https://a.example/h#x\"]}}",
	  "events.webhooks[0]: a fragment is not allowed in 'https://a.example/h#x'" },
	/* clients */
	{ "{\"clients\": {}}", "clients: expected an array of objects, got an object" },
	{ "{\"clients\": [1]}", "clients[0]: expected an object, got an integer" },
	{ "{\"clients\": [{\"role\": \"admin\", \"token_file\": \"/t\"}]}",
	  "clients[0].name: required key 'name' is missing" },
	{ "{\"clients\": [{\"name\": \"a\", \"token_file\": \"/t\"}]}",
	  "clients[0].role: required key 'role' is missing" },
	{ "{\"clients\": [{\"name\": \"a b\", \"role\": \"admin\", \"token_file\": \"/t\"}]}",
	  "clients[0].name: invalid name 'a b' (expected 1 to 64 of A-Z a-z 0-9 _ . -)" },
	{ "{\"clients\": [{\"name\": \"\", \"role\": \"admin\", \"token_file\": \"/t\"}]}",
	  "clients[0].name: must not be empty" },
	{ "{\"clients\": [{\"name\": \"a12345678901234567890123456789012345678901234567890123456789"
	  "01234\", \"role\": \"admin\", \"token_file\": \"/t\"}]}",
	  "clients[0].name: invalid name 'a1234567890123456789012345678901234567890123456789012345"
	  "678901234' (expected 1 to 64 of A-Z a-z 0-9 _ . -)" },
	{ "{\"clients\": [{\"name\": \"a\", \"role\": \"root\", \"token_file\": \"/t\"}]}",
	  "clients[0].role: invalid value 'root' (expected read_only|trader|admin)" },
	{ "{\"clients\": [{" CLIENT_OK ", \"session\": \"a.b\"}]}",
	  "clients[0].session: invalid name 'a.b' (expected 1 to 64 of A-Z a-z 0-9 _ -)" },
	{ "{\"clients\": [{" CLIENT_OK ", \"session\": null}]}",
	  "clients[0].session: expected a string, got null" },
	{ "{\"clients\": [{\"name\": \"a\", \"role\": \"admin\", \"token_sha256\": \"abc\"}]}",
	  "clients[0].token_sha256: expected 64 hex digits (a SHA-256), got 'abc'" },
	{ "{\"clients\": [{\"name\": \"a\", \"role\": \"admin\", \"token_sha256\": \"" SHA_A "\","
	  " \"token_file\": \"/t\"}]}",
	  "clients[0].token_file: give either 'token_sha256' or 'token_file', not both" },
	{ "{\"clients\": [{\"name\": \"a\", \"role\": \"admin\"}]}",
	  "clients[0]: client 'a' cannot be identified: give 'token_sha256', 'token_file' or "
	  "'kalshi_key_id'" },
	{ "{\"clients\": [{" CLIENT_OK ", \"public_key_file\": \"/p.pem\"}]}",
	  "clients[0].public_key_file: 'public_key_file' needs 'kalshi_key_id'" },
	{ "{\"clients\": [{" CLIENT_OK ", \"limits\": {\"max_order_cost\": 0.5}}]}",
	  "clients[0].limits.max_order_cost: expected a string, got a real (reals are not exact: "
	  "write dollars as a string, e.g. \"0.95\")" },
	{ "{\"clients\": [{" CLIENT_OK ", \"limits\": {\"max_price\": \"0.1\"}},"
	  " {\"name\": \"b\", \"role\": \"trader\", \"token_file\": \"/u\","
	  "  \"limits\": {\"max_price\": \"0.12345\"}}]}",
	  "clients[1].limits.max_price: invalid dollar amount '0.12345' (expected digits with at "
	  "most 4 decimals, e.g. \"0.95\")" },
	{ "{\"clients\": [{" CLIENT_OK "}, {\"name\": \"a\", \"role\": \"trader\", \"token_file\": \"/u\"}]}",
	  "clients[1].name: duplicate client name 'a' (also clients[0])" },
	{ "{\"clients\": [{\"name\": \"a\", \"role\": \"admin\", \"token_sha256\": \"" SHA_A "\"},"
	  " {\"name\": \"b\", \"role\": \"trader\", \"token_sha256\": "
	  "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
	  "clients[1].token_sha256: same token_sha256 as clients[0] ('a')" },
	{ "{\"clients\": [{\"name\": \"a\", \"role\": \"admin\", \"kalshi_key_id\": \"k\"},"
	  " {\"name\": \"b\", \"role\": \"trader\", \"kalshi_key_id\": \"k\"}]}",
	  "clients[1].kalshi_key_id: same kalshi_key_id as clients[0] ('a')" },
	{ "{\"limits\": {\"min_price\": \"0.60\"}, \"clients\": [{" CLIENT_OK ","
	  " \"limits\": {\"max_price\": \"0.40\"}}]}",
	  "clients[0].limits.max_price: global min_price 0.6000 is above max_price 0.4000" },
	{ "{\"limits\": {\"max_price\": \"0.40\"}, \"clients\": [{" CLIENT_OK ","
	  " \"limits\": {\"min_price\": \"0.60\"}}]}",
	  "clients[0].limits.min_price: min_price 0.6000 is above global max_price 0.4000" },
	/* upstream URL */
	{ "{\"upstream\": {\"url\": \"https://example.com/foo\"}}",
	  "upstream.url: path '/foo' is not allowed (expected an origin, optionally followed by "
	  "/trade-api/v2)" },
	{ "{\"upstream\": {\"url\": \"https://example.com/trade-api/v2/portfolio\"}}",
	  "upstream.url: path '/trade-api/v2/portfolio' is not allowed (expected an origin, "
	  "optionally followed by /trade-api/v2)" },
	{ "{\"upstream\": {\"url\": \"https://example.com/trade-api/v2?x=1\"}}",
	  "upstream.url: a query is not allowed in 'https://example.com/trade-api/v2?x=1'" },
	{ "{\"upstream\": {\"url\": \"https://example.com#top\"}}",
	  "upstream.url: a fragment is not allowed in 'https://example.com#top'" },
	{ "{\"upstream\": {\"url\": \"https://u:p@example.com\"}}",
	  "upstream.url: credentials ('user@') are not allowed in 'https://u:p@example.com'" },
	{ "{\"upstream\": {\"url\": \"ftp://example.com\"}}",
	  "upstream.url: unsupported scheme 'ftp://' (expected https://, or http:// on a "
	  "loopback host)" },
	{ "{\"upstream\": {\"url\": \"http://example.com\"}}",
	  "upstream.url: http:// is only allowed for a loopback host" },
	{ "{\"upstream\": {\"url\": \"http://127.evil.example\"}}",
	  "upstream.url: http:// is only allowed for a loopback host" },
	{ "{\"upstream\": {\"url\": \"http://10.0.0.1:8080\"}}",
	  "upstream.url: http:// is only allowed for a loopback host" },
	{ "{\"upstream\": {\"url\": \"https://example.com:0\"}}",
	  "upstream.url: invalid port in 'https://example.com:0' (expected 1..65535)" },
	{ "{\"upstream\": {\"url\": \"https://example.com:99999\"}}",
	  "upstream.url: invalid port in 'https://example.com:99999' (expected 1..65535)" },
	{ "{\"upstream\": {\"url\": \"https://example.com:\"}}",
	  "upstream.url: invalid port in 'https://example.com:' (expected 1..65535)" },
	{ "{\"upstream\": {\"url\": \"example.com\"}}",
	  "upstream.url: 'example.com' is not an absolute URL" },
	{ "{\"upstream\": {\"url\": \"https://\"}}", "upstream.url: invalid host in 'https://'" },
	{ "{\"upstream\": {\"url\": \"https://ex ample.com\"}}",
	  "upstream.url: 'https://ex ample.com' contains spaces or control characters" },
	{ "{\"upstream\": {\"url\": \"https://[::1\"}}", "upstream.url: invalid host in 'https://[::1'" },
	{ "{\"upstream\": {\"ws_url\": \"ws://example.com/x\"}}",
	  "upstream.ws_url: ws:// is only allowed for a loopback host" },
	{ "{\"upstream\": {\"ws_url\": \"https://example.com\"}}",
	  "upstream.ws_url: unsupported scheme 'https://' (expected wss://, or ws:// on a "
	  "loopback host)" },
	/* listen */
	{ "{\"listen\": \"127.0.0.1\"}", "listen: expected ADDR:PORT, got '127.0.0.1'" },
	{ "{\"listen\": \"example.com:80\"}",
	  "listen: invalid address 'example.com' (expected an IPv4 address, [IPv6] or localhost)" },
	{ "{\"listen\": \"::1:80\"}", "listen: IPv6 address '::1' needs brackets, e.g. '[::1]:8080'" },
	{ "{\"listen\": \"[::1]80\"}", "listen: expected ADDR:PORT, got '[::1]80'" },
	{ "{\"listen\": \"127.0.0.1:65536\"}", "listen: invalid port '65536' (expected 0..65535)" },
	{ "{\"listen\": \"127.0.0.1:\"}", "listen: invalid port '' (expected 0..65535)" },
	{ "{\"listen\": \"127.0.0.1:-1\"}", "listen: invalid port '-1' (expected 0..65535)" },
	{ "{\"listen\": \"256.0.0.1:80\"}",
	  "listen: invalid address '256.0.0.1' (expected an IPv4 address, [IPv6] or localhost)" },
	{ "{\"listen\": \"[fe80::1%eth0]:80\"}",
	  "listen: invalid address 'fe80::1%eth0' (expected an IPv4 address, [IPv6] or localhost)" },
	{ "{\"listen\": \":80\"}",
	  "listen: invalid address '' (expected an IPv4 address, [IPv6] or localhost)" },
	/* the key pair */
	{ "{\"upstream\": {\"key_id\": \"k\"}}",
	  "upstream.key_id: 'upstream.private_key_file' must be set too (KALSHI_PRIVATE_KEY_FILE)" },
	{ "{\"upstream\": {\"private_key_file\": \"/k.pem\"}}",
	  "upstream.private_key_file: 'upstream.key_id' must be set too (KALSHI_API_KEY_ID)" },
	/* the whole file */
	{ "[]", "(root): expected an object, got an array" },
	{ "\"x\"", "(root): invalid JSON at line 1, column 3: '[' or '{' expected near '\"x\"'" },
	{ "", "(root): invalid JSON at line 1, column 0: '[' or '{' expected near end of file" },
	{ "{\"listen\": \"127.0.0.1:1\",\n \"listen\": \"127.0.0.1:2\"}",
	  "(root): invalid JSON at line 2, column 9: duplicate object key near '\"listen\"'" },
	{ "{\"upstream\": {\"timeout_ms\": 1, \"timeout_ms\": 2}}",
	  "(root): invalid JSON at line 1, column 43: duplicate object key near '\"timeout_ms\"'" },
	{ "{\"a\": 1,}", "(root): invalid JSON at line 1, column 9: string or '}' expected near '}'" },
};

/* Each refused row yields exactly its one diagnostic and no configuration. */
static void test_bad_values(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		struct conf_diag d = { NULL, 0 };
		char *path = NULL, want[2048];
		struct gw_conf *c = load_json(bad_cases[i].json, NULL, &d, &path);

		snprintf(want, sizeof want, "%s:%s", path, bad_cases[i].line);
		if (c != NULL || d.count != 1 || strcmp(d.lines[0], want) != 0) {
			print_error("case %zu: %s\n  want: %s\n", i, bad_cases[i].json, want);
			dump_diag(&d);
			failed++;
		}
		conf_free(c);
		conf_diag_release(&d);
		free(path);
	}
	assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------ */
/* URL normalisation and WebSocket derivation                          */

static const struct {
	const char *in, *url, *ws;
} url_cases[] = {
	{ "https://external-api.demo.kalshi.co/trade-api/v2", "https://external-api.demo.kalshi.co",
	  "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2" },
	{ "https://external-api.kalshi.com/trade-api/v2/", "https://external-api.kalshi.com",
	  "wss://external-api-ws.kalshi.com/trade-api/ws/v2" },
	{ "https://api.elections.kalshi.com", "https://api.elections.kalshi.com",
	  "wss://api.elections.kalshi.com/trade-api/ws/v2" },
	{ "https://demo-api.kalshi.co/", "https://demo-api.kalshi.co",
	  "wss://demo-api.kalshi.co/trade-api/ws/v2" },
	{ "https://external-api.kalshi.com:443", "https://external-api.kalshi.com:443",
	  "wss://external-api-ws.kalshi.com/trade-api/ws/v2" },
	{ "http://127.0.0.1:9000/trade-api/v2", "http://127.0.0.1:9000",
	  "ws://127.0.0.1:9000/trade-api/ws/v2" },
	{ "http://localhost:9000", "http://localhost:9000", "ws://localhost:9000/trade-api/ws/v2" },
	{ "http://[::1]:9000/", "http://[::1]:9000", "ws://[::1]:9000/trade-api/ws/v2" },
	{ "http://127.1.2.3", "http://127.1.2.3", "ws://127.1.2.3/trade-api/ws/v2" },
	{ "HTTPS://Example.COM:8443", "https://example.com:8443",
	  "wss://example.com:8443/trade-api/ws/v2" },
	{ "https://[2001:DB8:0::1]:8443/trade-api/v2", "https://[2001:db8::1]:8443",
	  "wss://[2001:db8::1]:8443/trade-api/ws/v2" },
};

/* The upstream origin is normalised and the WebSocket URL derived, alike
 * from the file and from KALSHI_UPSTREAM_URL. */
static void test_url_normalisation(void **state)
{
	char json[512];

	(void)state;
	for (size_t i = 0; i < sizeof url_cases / sizeof url_cases[0]; i++) {
		struct conf_diag d = { NULL, 0 };
		struct gw_conf *c;

		/* from the file */
		snprintf(json, sizeof json, "{\"upstream\": {\"url\": \"%s\"}}", url_cases[i].in);
		c = load_ok(json);
		assert_string_equal(c->upstream.url, url_cases[i].url);
		assert_string_equal(c->upstream.ws_url, url_cases[i].ws);
		conf_free(c);
		/* and from the environment */
		env_count = 0;
		env_set("KALSHI_UPSTREAM_URL", url_cases[i].in);
		c = conf_load(NULL, fake_getenv, NULL, &d);
		assert_non_null(c);
		assert_string_equal(c->upstream.url, url_cases[i].url);
		assert_string_equal(c->upstream.ws_url, url_cases[i].ws);
		assert_string_equal(conf_source(c, "upstream.url"), "env");
		assert_string_equal(conf_source(c, "upstream.ws_url"), "env");
		conf_free(c);
		conf_diag_release(&d);
		env_count = 0;
	}
}

/* An explicit ws_url wins over the derived one. */
static void test_explicit_ws_url(void **state)
{
	struct gw_conf *c;
	char *path = NULL;
	struct conf_diag d = { NULL, 0 };

	(void)state;
	c = load_json("{\"upstream\": {\"url\": \"http://127.0.0.1:9\","
		      " \"ws_url\": \"ws://localhost:10/trade-api/ws/v2\"}}", NULL, &d, &path);
	assert_non_null(c);
	assert_string_equal(c->upstream.ws_url, "ws://localhost:10/trade-api/ws/v2");
	assert_string_equal(conf_source(c, "upstream.ws_url"), path);
	conf_free(c);
	free(path);
	c = load_ok("{\"upstream\": {\"ws_url\": \"WSS://Stream.Example:444/ws\"}}");
	assert_string_equal(c->upstream.ws_url, "wss://stream.example:444/ws");
	conf_free(c);
}

/* ------------------------------------------------------------------ */
/* listen                                                              */

/* Accepted listen forms fill host, port, sockaddr and the loopback flag. */
static void test_listen_forms(void **state)
{
	static const struct {
		const char *in, *host;
		int port, loopback, family;
	} t[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080, 1, AF_INET },
		{ "localhost:0", "127.0.0.1", 0, 1, AF_INET },
		{ "127.9.9.9:1", "127.9.9.9", 1, 1, AF_INET },
		{ "0.0.0.0:80", "0.0.0.0", 80, 0, AF_INET },
		{ "10.1.2.3:65535", "10.1.2.3", 65535, 0, AF_INET },
		{ "[::1]:8080", "::1", 8080, 1, AF_INET6 },
		{ "[::]:9", "::", 9, 0, AF_INET6 },
		{ "[2001:DB8::1]:443", "2001:db8::1", 443, 0, AF_INET6 },
		{ "[::ffff:127.0.0.1]:5", "::ffff:127.0.0.1", 5, 1, AF_INET6 },
	};
	char json[256];

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct gw_conf *c;

		snprintf(json, sizeof json, "{\"listen\": \"%s\"}", t[i].in);
		c = load_ok(json);
		assert_string_equal(c->listen, t[i].in);
		assert_string_equal(c->listen_host, t[i].host);
		assert_int_equal(c->listen_port, t[i].port);
		assert_int_equal(c->listen_is_loopback, t[i].loopback);
		assert_int_equal(c->listen_addr.ss_family, t[i].family);
		if (t[i].family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&c->listen_addr;
			assert_int_equal(c->listen_addr_len, sizeof *a);
			assert_int_equal(ntohs(a->sin_port), t[i].port);
		} else {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&c->listen_addr;
			char buf[64];
			assert_int_equal(c->listen_addr_len, sizeof *a);
			assert_int_equal(ntohs(a->sin6_port), t[i].port);
			assert_non_null(inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf));
			assert_string_equal(buf, t[i].host);
		}
		conf_free(c);
	}
}

/* ------------------------------------------------------------------ */
/* layers: file < env < flag                                           */

/* Dotted keys are written as nested objects. */
static void test_nested_dotted_keys(void **state)
{
	struct gw_conf *c;

	(void)state;
	c = load_ok("{\"upstream\": {\"timeout_ms\": 1500}, \"rate_limit\": {\"tier\": \"off\"},"
		    " \"server\": {}, \"ws\": {\"idle_timeout_s\": 60}}");
	assert_int_equal(c->upstream.timeout_ms, 1500);
	assert_int_equal(c->rate_limit.tier, GW_TIER_OFF);
	assert_int_equal(c->ws.idle_timeout_s, 60);
	assert_int_equal(c->server.threads, 0);
	conf_free(c);
}

/* Precedence: defaults < file < environment < flags, with sources. */
static void test_env_overrides_file_and_flag_overrides_env(void **state)
{
	struct conf_diag d = { NULL, 0 };
	char *path = NULL;
	struct gw_conf *c;

	(void)state;
	env_set("GATEWAY_LISTEN", "127.0.0.1:7000");
	env_set("GATEWAY_STATE_DIR", "/env/state");
	env_set("GATEWAY_ADMIN_TOKEN_FILE", "/env/admin");
	env_set("KALSHI_UPSTREAM_URL", "http://localhost:5555/trade-api/v2");
	env_set("KALSHI_API_KEY_ID", "env-key");
	env_set("KALSHI_PRIVATE_KEY_FILE", "/env/key.pem");
	env_set("KALSHI_CA_FILE", "/env/ca.pem");
	c = load_json("{\"listen\": \"127.0.0.1:6000\", \"state_dir\": \"/file/state\","
		      " \"admin_token_file\": \"/file/admin\","
		      " \"upstream\": {\"url\": \"https://file.example\", \"key_id\": \"file-key\","
		      "   \"private_key_file\": \"/file/key.pem\", \"ca_file\": \"/file/ca.pem\","
		      "   \"timeout_ms\": 1234}}",
		      "[::1]:8000", &d, &path);
	assert_non_null(c);
	assert_int_equal(d.count, 0);
	assert_string_equal(c->listen, "[::1]:8000");
	assert_string_equal(c->listen_host, "::1");
	assert_string_equal(c->state_dir, "/env/state");
	assert_string_equal(c->admin_token_file, "/env/admin");
	assert_string_equal(c->upstream.url, "http://localhost:5555");
	assert_string_equal(c->upstream.ws_url, "ws://localhost:5555/trade-api/ws/v2");
	assert_string_equal(c->upstream.key_id, "env-key");
	assert_string_equal(c->upstream.private_key_file, "/env/key.pem");
	assert_string_equal(c->upstream.ca_file, "/env/ca.pem");
	assert_int_equal(c->upstream.timeout_ms, 1234);
	assert_string_equal(conf_source(c, "listen"), "flag");
	assert_string_equal(conf_source(c, "state_dir"), "env");
	assert_string_equal(conf_source(c, "upstream.private_key_file"), "env");
	assert_string_equal(conf_source(c, "upstream.timeout_ms"), path);
	assert_string_equal(conf_source(c, "upstream.connect_timeout_ms"), "default");
	conf_free(c);
	conf_diag_release(&d);
	free(path);
}

/* An empty variable counts as unset; GATEWAY_CONFIG is used only without
 * a file argument. */
static void test_env_empty_and_gateway_config(void **state)
{
	struct conf_diag d = { NULL, 0 };
	char *path = write_temp("{\"upstream\": {\"timeout_ms\": 4321}}");
	struct gw_conf *c;

	(void)state;
	env_set("GATEWAY_LISTEN", "");
	env_set("KALSHI_API_KEY_ID", "");
	env_set("GATEWAY_CONFIG", path);
	c = conf_load(NULL, fake_getenv, NULL, &d);
	assert_non_null(c);
	assert_string_equal(c->listen, "127.0.0.1:8080");
	assert_null(c->upstream.key_id);
	assert_int_equal(c->upstream.timeout_ms, 4321);
	assert_string_equal(conf_source(c, "upstream.timeout_ms"), path);
	conf_free(c);

	/* -c wins over GATEWAY_CONFIG */
	char *other = write_temp("{\"upstream\": {\"timeout_ms\": 99}}");
	c = conf_load(other, fake_getenv, NULL, &d);
	assert_non_null(c);
	assert_int_equal(c->upstream.timeout_ms, 99);
	conf_free(c);

	/* GATEWAY_CONFIG="" is no file at all */
	env_values[2] = "";
	c = conf_load(NULL, fake_getenv, NULL, &d);
	assert_non_null(c);
	assert_int_equal(c->upstream.timeout_ms, 10000);
	conf_free(c);
	assert_int_equal(d.count, 0);
	unlink(path);
	unlink(other);
	free(path);
	free(other);
}

/* The key pair may be split between file and environment. */
static void test_key_pair_across_layers(void **state)
{
	struct conf_diag d = { NULL, 0 };
	struct gw_conf *c;

	(void)state;
	env_set("KALSHI_API_KEY_ID", "k");
	c = load_json("{\"upstream\": {\"private_key_file\": \"/k.pem\"}}", NULL, &d, NULL);
	assert_non_null(c);
	assert_string_equal(conf_source(c, "upstream.key_id"), "env");
	conf_free(c);

	c = conf_load(NULL, fake_getenv, NULL, &d);
	assert_null(c);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.lines[0], "env:upstream.key_id: KALSHI_API_KEY_ID: "
			    "'upstream.private_key_file' must be set too (KALSHI_PRIVATE_KEY_FILE)");
	conf_diag_release(&d);
}

/* ------------------------------------------------------------------ */
/* diagnostics                                                         */

/* A bad variable is reported as "env:KEY: VARIABLE: message". */
static void test_env_diagnostics(void **state)
{
	static const struct {
		const char *var, *value, *line;
	} t[] = {
		{ "KALSHI_UPSTREAM_URL", "http://example.com",
		  "env:upstream.url: KALSHI_UPSTREAM_URL: http:// is only allowed for a loopback host" },
		{ "KALSHI_UPSTREAM_URL", "https://example.com/v1",
		  "env:upstream.url: KALSHI_UPSTREAM_URL: path '/v1' is not allowed (expected an "
		  "origin, optionally followed by /trade-api/v2)" },
		{ "GATEWAY_LISTEN", "localhost",
		  "env:listen: GATEWAY_LISTEN: expected ADDR:PORT, got 'localhost'" },
		{ "KALSHI_API_KEY_ID", "has space",
		  "env:upstream.key_id: KALSHI_API_KEY_ID: 'has space' contains spaces or control "
		  "characters" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct conf_diag d = { NULL, 0 };
		struct gw_conf *c;

		env_count = 0;
		env_set(t[i].var, t[i].value);
		c = conf_load(NULL, fake_getenv, NULL, &d);
		assert_null(c);
		if (d.count < 1 || strcmp(d.lines[0], t[i].line) != 0) {
			print_error("want: %s\n", t[i].line);
			dump_diag(&d);
			fail();
		}
		conf_diag_release(&d);
	}
	env_count = 0;
}

/* A bad --listen is reported as "flag:listen: --listen: message". */
static void test_flag_diagnostics(void **state)
{
	static const struct {
		const char *flag, *line;
	} t[] = {
		{ "127.0.0.1:99999", "flag:listen: --listen: invalid port '99999' (expected 0..65535)" },
		{ "", "flag:listen: --listen: must not be empty" },
		{ "host.example:80", "flag:listen: --listen: invalid address 'host.example' "
		  "(expected an IPv4 address, [IPv6] or localhost)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct conf_diag d = { NULL, 0 };
		struct gw_conf *c = conf_load(NULL, fake_getenv, t[i].flag, &d);

		assert_null(c);
		assert_int_equal(d.count, 1);
		assert_string_equal(d.lines[0], t[i].line);
		conf_diag_release(&d);
	}
}

/* Problems from every layer are all reported, in layer order. */
static void test_several_errors_together(void **state)
{
	struct conf_diag d = { NULL, 0 };
	char *path = NULL;
	struct gw_conf *c;

	(void)state;
	env_set("KALSHI_UPSTREAM_URL", "http://example.com");
	c = load_json("{\"foo\": 1, \"upstream\": {\"timeout_ms\": 1.5, \"bar\": 2},"
		      " \"limits\": {\"max_price\": 0.95},"
		      " \"clients\": [{\"name\": \"a\", \"role\": \"admin\", \"token_file\": \"/t\"},"
		      "   {\"name\": \"a\", \"role\": \"x\", \"token_file\": \"/u\","
		      "    \"limits\": {\"max_order_contracts\": \"-2\"}}]}",
		      "nope", &d, &path);
	assert_null(c);
	assert_int_equal(d.count, 8);
	assert_file_line(&d, path, "foo: unknown key 'foo'");
	assert_file_line(&d, path, "upstream.timeout_ms: expected an integer, got a real");
	assert_file_line(&d, path, "upstream.bar: unknown key 'bar'");
	assert_file_line(&d, path, "limits.max_price: expected a string, got a real (reals are "
			 "not exact: write dollars as a string, e.g. \"0.95\")");
	assert_file_line(&d, path, "clients[1].role: invalid value 'x' (expected "
			 "read_only|trader|admin)");
	assert_file_line(&d, path, "clients[1].limits.max_order_contracts: invalid count '-2' "
			 "(expected digits with at most 2 decimals, e.g. \"10.50\")");
	assert_string_equal(d.lines[6],
			    "env:upstream.url: KALSHI_UPSTREAM_URL: http:// is only allowed for a "
			    "loopback host");
	assert_string_equal(d.lines[7], "flag:listen: --listen: expected ADDR:PORT, got 'nope'");
	conf_diag_release(&d);
	free(path);
}

/* Unreadable files are reported at (root), with a lower-case reason. */
static void test_file_problems(void **state)
{
	struct conf_diag d = { NULL, 0 };
	struct gw_conf *c;

	(void)state;
	c = conf_load("/nonexistent/gw.json", fake_getenv, NULL, &d);
	assert_null(c);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.lines[0],
			    "/nonexistent/gw.json:(root): cannot read file: no such file or directory");
	conf_diag_release(&d);

	c = conf_load("/tmp", fake_getenv, NULL, &d);
	assert_null(c);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.lines[0], "/tmp:(root): cannot read file: is a directory");
	conf_diag_release(&d);

	/* a control byte in a key never splits a diagnostic line */
	c = load_json("{\"a\\nb\": 1}", NULL, &d, NULL);
	assert_null(c);
	assert_int_equal(d.count, 1);
	assert_null(strchr(d.lines[0], '\n'));
	assert_non_null(strstr(d.lines[0], ":a?b: unknown key 'a?b'"));
	conf_diag_release(&d);
}

/* Keys inside limits and clients report the source of the whole key. */
static void test_sources(void **state)
{
	struct conf_diag d = { NULL, 0 };
	char *path = NULL;
	struct gw_conf *c;

	(void)state;
	c = load_json("{\"limits\": {\"max_price\": \"0.9\"}, \"clients\": [{" CLIENT_OK "}]}",
		      NULL, &d, &path);
	assert_non_null(c);
	assert_string_equal(conf_source(c, "limits"), path);
	assert_string_equal(conf_source(c, "limits.max_price"), path);
	assert_string_equal(conf_source(c, "clients"), path);
	assert_string_equal(conf_source(c, "clients[0].token_file"), path);
	assert_string_equal(conf_source(c, "listen"), "default");
	assert_string_equal(conf_source(NULL, "listen"), "default");
	assert_string_equal(conf_env_var("upstream.private_key_file"), "KALSHI_PRIVATE_KEY_FILE");
	assert_string_equal(conf_env_var("listen"), "GATEWAY_LISTEN");
	assert_null(conf_env_var("upstream.timeout_ms"));
	assert_null(conf_env_var("nope"));
	conf_free(c);
	free(path);
}

/* conf/gateway.example.json loads without a single diagnostic. */
static void test_example_config_loads(void **state)
{
	struct conf_diag d = { NULL, 0 };
	char path[1024];
	struct gw_conf *c;

	(void)state;
	example_path(path, sizeof path);
	c = conf_load(path, fake_getenv, NULL, &d);
	dump_diag(&d);
	assert_non_null(c);
	assert_int_equal(d.count, 0);
	assert_int_equal(c->client_count, 3);
	assert_int_equal(c->clients[0].role, GW_ROLE_ADMIN);
	assert_int_equal(c->clients[1].role, GW_ROLE_TRADER);
	assert_int_equal(c->clients[2].role, GW_ROLE_READ_ONLY);
	assert_int_equal(c->limits.has_max_order_contracts, 1);
	assert_string_equal(c->listen, "127.0.0.1:8080");
	assert_null(c->upstream.key_id);
	conf_free(c);
}

/* Releasing NULL is a no-op. */
static void test_free_null(void **state)
{
	(void)state;
	conf_free(NULL);
	conf_diag_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, reset_env),
		cmocka_unit_test_setup(test_values_of_every_type, reset_env),
		cmocka_unit_test_setup(test_enum_values, reset_env),
		cmocka_unit_test_setup(test_null_means_none, reset_env),
		cmocka_unit_test_setup(test_limits_values, reset_env),
		cmocka_unit_test_setup(test_bad_values, reset_env),
		cmocka_unit_test_setup(test_url_normalisation, reset_env),
		cmocka_unit_test_setup(test_explicit_ws_url, reset_env),
		cmocka_unit_test_setup(test_listen_forms, reset_env),
		cmocka_unit_test_setup(test_nested_dotted_keys, reset_env),
		cmocka_unit_test_setup(test_env_overrides_file_and_flag_overrides_env, reset_env),
		cmocka_unit_test_setup(test_env_empty_and_gateway_config, reset_env),
		cmocka_unit_test_setup(test_key_pair_across_layers, reset_env),
		cmocka_unit_test_setup(test_env_diagnostics, reset_env),
		cmocka_unit_test_setup(test_flag_diagnostics, reset_env),
		cmocka_unit_test_setup(test_several_errors_together, reset_env),
		cmocka_unit_test_setup(test_file_problems, reset_env),
		cmocka_unit_test_setup(test_sources, reset_env),
		cmocka_unit_test_setup(test_example_config_loads, reset_env),
		cmocka_unit_test_setup(test_free_null, reset_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
