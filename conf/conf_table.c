/*
 * conf_table: every configuration key, once. Adding a key is adding a line
 * here and a field in struct gw_conf; loading, defaults, environment
 * overrides, diagnostics and conf_source() follow from the table.
 * The tables are constant data, safe to read from any thread.
 */
#include "conf/conf_internal.h"

#include <stddef.h>

static const char *const log_formats[] = { "text", "json", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const on_triggers[] = { "stay", "reset_after", "new_group", NULL };
static const char *const tiers[] = {
	"auto", "basic", "advanced", "expert", "premier", "paragon", "prime",
	"prestige", "off", NULL
};
static const char *const legacies[] = { "translate", "pass", "reject", NULL };
static const char *const stps[] = { "taker_at_cross", "maker", NULL };
static const char *const fsyncs[] = { "interval", "always", "never", NULL };
static const char *const roles[] = { "read_only", "trader", "admin", NULL };

#define OFF(m) offsetof(struct gw_conf, m)

/* An integer with a default, within lo..hi. */
#define LONG(key, m, lo, hi, def) \
	{ .name = key, .type = CONF_T_LONG, .off = OFF(m), .has_off = CONF_NO_HAS, \
	  .min = lo, .max = hi, .def_int = def, .has_default = 1 }
/* An integer without default: absent means "by tier" (has_* flag). */
#define OPT_LONG(key, m, has, lo, hi) \
	{ .name = key, .type = CONF_T_LONG, .off = OFF(m), .has_off = OFF(has), \
	  .min = lo, .max = hi, .flags = CONF_F_NULLABLE }
#define BOOL(key, m, def) \
	{ .name = key, .type = CONF_T_BOOL, .off = OFF(m), .has_off = CONF_NO_HAS, \
	  .def_int = def, .has_default = 1 }
#define ENUM(key, m, list, def) \
	{ .name = key, .type = CONF_T_ENUM, .off = OFF(m), .has_off = CONF_NO_HAS, \
	  .names = list, .def_int = def, .has_default = 1 }
/* A string-like value; def NULL means none, and null in the file is allowed. */
#define STR(key, t, m, def, var) \
	{ .name = key, .type = t, .off = OFF(m), .has_off = CONF_NO_HAS, .env = var, \
	  .def_str = def, .flags = (def) ? 0u : CONF_F_NULLABLE }
#define LIST(key, t, m) \
	{ .name = key, .type = t, .off = OFF(m), .has_off = CONF_NO_HAS }

const struct conf_field conf_fields[] = {
	STR("listen", CONF_T_LISTEN, listen, "127.0.0.1:8080", "GATEWAY_LISTEN"),
	STR("state_dir", CONF_T_PATH, state_dir, "./var", "GATEWAY_STATE_DIR"),
	STR("admin_token_file", CONF_T_PATH, admin_token_file, NULL, "GATEWAY_ADMIN_TOKEN_FILE"),
	ENUM("log_format", log_format, log_formats, GW_LOG_TEXT),
	ENUM("log_level", log_level, log_levels, GW_LOG_INFO),

	STR("upstream.url", CONF_T_URL, upstream.url, "https://external-api.demo.kalshi.co",
	    "KALSHI_UPSTREAM_URL"),
	STR("upstream.ws_url", CONF_T_WS_URL, upstream.ws_url, NULL, NULL),
	STR("upstream.key_id", CONF_T_STRING, upstream.key_id, NULL, "KALSHI_API_KEY_ID"),
	STR("upstream.private_key_file", CONF_T_PATH, upstream.private_key_file, NULL,
	    "KALSHI_PRIVATE_KEY_FILE"),
	STR("upstream.ca_file", CONF_T_PATH, upstream.ca_file, NULL, "KALSHI_CA_FILE"),
	LONG("upstream.connect_timeout_ms", upstream.connect_timeout_ms, 1, 600000, 3000),
	LONG("upstream.timeout_ms", upstream.timeout_ms, 1, 3600000, 10000),
	LONG("upstream.max_connections", upstream.max_connections, 1, 100000, 32),
	LONG("upstream.max_response_bytes", upstream.max_response_bytes, 1024,
	     1073741824, 16777216),
	LONG("upstream.presign_max_age_ms", upstream.presign_max_age_ms, 0, 60000, 100),

	LONG("server.threads", server.threads, 0, 256, 0),
	LONG("server.max_body_bytes", server.max_body_bytes, 1, 1073741824, 1048576),
	LONG("server.max_connections", server.max_connections, 1, 1000000, 4096),
	LONG("server.connection_timeout_s", server.connection_timeout_s, 1, 86400, 30),
	LONG("server.shutdown_timeout_ms", server.shutdown_timeout_ms, 1, 3600000, 5000),
	{ .name = "server.allowed_hosts", .type = CONF_T_HOSTS,
	  .off = OFF(server.allowed_hosts), .has_off = OFF(server.has_allowed_hosts),
	  .flags = CONF_F_NULLABLE },
	LIST("server.allowed_origins", CONF_T_ORIGINS, server.allowed_origins),

	LONG("readiness.probe_interval_s", readiness.probe_interval_s, 1, 86400, 5),

	BOOL("session.require_session", session.require_session, 1),
	BOOL("session.halt_on_shutdown", session.halt_on_shutdown, 0),
	LONG("session.history", session.history, 0, 1000000, 100),
	ENUM("session.on_trigger", session.on_trigger, on_triggers, GW_TRIGGER_STAY),
	LONG("session.cooldown_s", session.cooldown_s, 0, 86400, 30),
	LONG("session.max_auto_resets", session.max_auto_resets, 0, 1000000, 3),

	{ .name = "limits", .type = CONF_T_LIMITS, .off = OFF(limits),
	  .has_off = CONF_NO_HAS },
	{ .name = "clients", .type = CONF_T_CLIENTS, .off = OFF(clients),
	  .has_off = CONF_NO_HAS },

	ENUM("rate_limit.tier", rate_limit.tier, tiers, GW_TIER_AUTO),
	OPT_LONG("rate_limit.read_tokens_per_s", rate_limit.read_tokens_per_s,
		 rate_limit.has_read_tokens_per_s, 1, 1000000),
	OPT_LONG("rate_limit.write_tokens_per_s", rate_limit.write_tokens_per_s,
		 rate_limit.has_write_tokens_per_s, 1, 1000000),
	OPT_LONG("rate_limit.burst_s", rate_limit.burst_s,
		 rate_limit.has_burst_s, 1, 3600),
	LONG("rate_limit.max_queue_ms", rate_limit.max_queue_ms, 0, 600000, 1000),

	ENUM("orders.legacy", orders.legacy, legacies, GW_LEGACY_TRANSLATE),
	BOOL("orders.require_client_order_id", orders.require_client_order_id, 0),
	LONG("orders.dedupe_window_s", orders.dedupe_window_s, 0, 604800, 600),
	ENUM("orders.self_trade_prevention_default", orders.self_trade_prevention_default,
	     stps, GW_STP_TAKER_AT_CROSS),

	ENUM("audit.fsync", audit.fsync, fsyncs, GW_FSYNC_INTERVAL),
	LONG("audit.max_file_bytes", audit.max_file_bytes, 4096, 1099511627776LL, 67108864),
	LONG("audit.keep_files", audit.keep_files, 0, 100000, 10),

	LONG("ws.max_connections", ws.max_connections, 0, 1000000, 200),
	LONG("ws.max_per_client", ws.max_per_client, 0, 1000000, 50),
	LONG("ws.idle_timeout_s", ws.idle_timeout_s, 1, 86400, 300),

	LIST("events.webhooks", CONF_T_URLS, events.webhooks),
};
const size_t conf_field_count = sizeof conf_fields / sizeof conf_fields[0];

#undef OFF
#define OFF(m) offsetof(struct gw_limits, m)
#define LIMIT(key, t) \
	{ .name = #key, .type = t, .off = OFF(key), .has_off = OFF(has_##key) }

const struct conf_field conf_limit_fields[] = {
	LIMIT(max_order_contracts, CONF_T_COUNT),
	LIMIT(max_order_cost, CONF_T_DOLLARS),
	LIMIT(min_price, CONF_T_PRICE),
	LIMIT(max_price, CONF_T_PRICE),
	LIMIT(tickers, CONF_T_GLOBS),
	LIMIT(deny_tickers, CONF_T_GLOBS),
	LIMIT(max_session_contracts, CONF_T_COUNT),
	LIMIT(max_session_filled_contracts, CONF_T_COUNT),
	{ .name = "max_orders_per_s", .type = CONF_T_I64, .off = OFF(max_orders_per_s),
	  .has_off = OFF(has_max_orders_per_s), .min = 1, .max = 1000000 },
};
const size_t conf_limit_field_count =
	sizeof conf_limit_fields / sizeof conf_limit_fields[0];

#undef OFF
#define OFF(m) offsetof(struct gw_client, m)
#define CLIENT(key, t, fl) \
	{ .name = #key, .type = t, .off = OFF(key), .has_off = CONF_NO_HAS, .flags = fl }

const struct conf_field conf_client_fields[] = {
	CLIENT(name, CONF_T_CLIENT_NAME, CONF_F_REQUIRED),
	{ .name = "role", .type = CONF_T_ENUM, .off = OFF(role), .has_off = CONF_NO_HAS,
	  .names = roles, .flags = CONF_F_REQUIRED },
	CLIENT(session, CONF_T_SESSION, 0),
	CLIENT(token_sha256, CONF_T_SHA256, 0),
	CLIENT(token_file, CONF_T_PATH, 0),
	CLIENT(kalshi_key_id, CONF_T_STRING, 0),
	CLIENT(public_key_file, CONF_T_PATH, 0),
	CLIENT(limits, CONF_T_LIMITS, 0),
};
const size_t conf_client_field_count =
	sizeof conf_client_fields / sizeof conf_client_fields[0];
