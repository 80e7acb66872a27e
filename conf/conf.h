/*
 * conf: the gateway's configuration, loaded from defaults < JSON file <
 * environment < flags, validated whole, then used read-only.
 *
 * Invariants: a struct gw_conf returned by conf_load() is complete and valid
 * (every field either its default or a value that passed validation); it is
 * never modified afterwards, so any thread may read it without locking.
 * Fixed-point units: counts are hundredths of a contract, dollars are
 * 1/10000 of a dollar (both int64_t). No floating point anywhere.
 *
 * Diagnostics are lines "SOURCE:FIELD: message", SOURCE being the file name
 * as given, "env" or "flag"; FIELD the dotted key ("upstream.timeout_ms",
 * "clients[1].limits.max_price"), or "(root)" for a problem with the whole
 * file (unreadable, not JSON, not an object).
 */
#ifndef CONF_CONF_H
#define CONF_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

enum gw_role { GW_ROLE_READ_ONLY = 0, GW_ROLE_TRADER = 1, GW_ROLE_ADMIN = 2 };
enum gw_log_format { GW_LOG_TEXT = 0, GW_LOG_JSON = 1 };
enum gw_log_level { GW_LOG_DEBUG = 0, GW_LOG_INFO = 1, GW_LOG_WARN = 2, GW_LOG_ERROR = 3 };
enum gw_on_trigger { GW_TRIGGER_STAY = 0, GW_TRIGGER_RESET_AFTER = 1, GW_TRIGGER_NEW_GROUP = 2 };
enum gw_tier {
	GW_TIER_AUTO = 0, GW_TIER_BASIC, GW_TIER_ADVANCED, GW_TIER_EXPERT,
	GW_TIER_PREMIER, GW_TIER_PARAGON, GW_TIER_PRIME, GW_TIER_PRESTIGE, GW_TIER_OFF
};
enum gw_legacy { GW_LEGACY_TRANSLATE = 0, GW_LEGACY_PASS = 1, GW_LEGACY_REJECT = 2 };
enum gw_stp { GW_STP_TAKER_AT_CROSS = 0, GW_STP_MAKER = 1 };
enum gw_fsync { GW_FSYNC_INTERVAL = 0, GW_FSYNC_ALWAYS = 1, GW_FSYNC_NEVER = 2 };

/* A list of strings; items and the array are owned by the list. */
struct gw_strlist {
	char **items;
	size_t count;
};

/* Limits object; has_* says whether the key was given (per-client limits
 * override the global ones key by key). */
struct gw_limits {
	int has_max_order_contracts;      int64_t max_order_contracts;      /* hundredths */
	int has_max_order_cost;           int64_t max_order_cost;           /* 1/10000 $ */
	int has_min_price;                int64_t min_price;                /* 1/10000 $ */
	int has_max_price;                int64_t max_price;                /* 1/10000 $ */
	int has_tickers;                  struct gw_strlist tickers;        /* globs */
	int has_deny_tickers;             struct gw_strlist deny_tickers;   /* globs */
	int has_max_session_contracts;    int64_t max_session_contracts;    /* hundredths */
	int has_max_session_filled_contracts; int64_t max_session_filled_contracts; /* hundredths */
	int has_max_orders_per_s;         int64_t max_orders_per_s;         /* plain int */
};

struct gw_client {
	char *name;
	enum gw_role role;
	char *session;          /* NULL = none */
	char *token_sha256;     /* lower-case hex, 64 chars, or NULL */
	char *token_file;       /* or NULL */
	char *kalshi_key_id;    /* or NULL */
	char *public_key_file;  /* or NULL */
	struct gw_limits limits;
};

struct gw_conf {
	/* listen: the string as given and its parsed form */
	char *listen;                 /* "127.0.0.1:8080" */
	char listen_host[64];         /* "127.0.0.1", "::1" (no brackets) */
	int listen_port;              /* 0..65535; 0 = pick a free port */
	struct sockaddr_storage listen_addr;
	socklen_t listen_addr_len;
	int listen_is_loopback;

	char *state_dir;
	char *admin_token_file;       /* or NULL */
	enum gw_log_format log_format;
	enum gw_log_level log_level;

	struct {
		char *url;            /* origin, no trailing slash, no /trade-api/v2 */
		char *ws_url;         /* derived when not set */
		char *key_id;         /* or NULL */
		char *private_key_file; /* or NULL */
		char *ca_file;        /* or NULL = system store */
		long connect_timeout_ms, timeout_ms;
		long max_connections;
		long max_response_bytes;
		long presign_max_age_ms;
	} upstream;

	struct {
		long threads;         /* 0 = one per core */
		long max_body_bytes, max_connections, connection_timeout_s;
		long shutdown_timeout_ms;
		int has_allowed_hosts;  struct gw_strlist allowed_hosts;
		struct gw_strlist allowed_origins;
	} server;

	struct {
		long probe_interval_s;
	} readiness;

	struct {
		int require_session, halt_on_shutdown;
		long history;
		enum gw_on_trigger on_trigger;
		long cooldown_s, max_auto_resets;
	} session;

	struct gw_limits limits;

	struct gw_client *clients;
	size_t client_count;

	struct {
		enum gw_tier tier;
		int has_read_tokens_per_s;  long read_tokens_per_s;
		int has_write_tokens_per_s; long write_tokens_per_s;
		int has_burst_s;            long burst_s;
		long max_queue_ms;
	} rate_limit;

	struct {
		enum gw_legacy legacy;
		int require_client_order_id;
		long dedupe_window_s;
		enum gw_stp self_trade_prevention_default;
	} orders;

	struct {
		enum gw_fsync fsync;
		long max_file_bytes, keep_files;
	} audit;

	struct {
		long max_connections, max_per_client, idle_timeout_s;
	} ws;

	struct {
		struct gw_strlist webhooks;
	} events;

	/* private: where each key's value came from, see conf_source() */
	void *sources;
};

/* Growable list of diagnostic lines.  Zero-initialise, then release. */
struct conf_diag {
	char **lines;
	size_t count;
};

/* Appends one "SOURCE:FIELD: message" line (printf-style message).
 * Allocation failure is ignored (the line is lost). Not thread-safe. */
void conf_diag_add(struct conf_diag *d, const char *source, const char *field,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Frees every line; the struct is empty afterwards. NULL is a no-op. */
void conf_diag_release(struct conf_diag *d);

/* Environment lookup seam (tests pass their own); returns NULL when unset. */
typedef const char *(*conf_getenv_fn)(const char *name);

/*
 * Loads the configuration: defaults, then the JSON file `file` (NULL = the
 * GATEWAY_CONFIG variable from getenv_fn, or none), then the environment
 * variables of DESIGN.md, then flags (flag_listen, NULL = not given).
 * Unknown keys, wrong types and invalid values are all reported in `diag`
 * (every problem found, not just the first). Returns a new configuration
 * owned by the caller (conf_free), or NULL when diag got at least one line.
 * getenv_fn NULL means getenv(3). Not thread-safe (call at start-up/reload).
 */
struct gw_conf *conf_load(const char *file, conf_getenv_fn getenv_fn,
			  const char *flag_listen, struct conf_diag *diag);

/* Frees a configuration and everything it owns. NULL is a no-op. */
void conf_free(struct gw_conf *c);

/*
 * Where the value of dotted key `key` came from: the file name, "env",
 * "flag" or "default". Used to print "SOURCE:FIELD: message" for problems
 * found after loading (an unreadable key file, say). Never NULL; the string
 * lives as long as the configuration.
 */
const char *conf_source(const struct gw_conf *c, const char *key);

/*
 * The environment variable that sets dotted key `key` ("upstream.url" ->
 * "KALSHI_UPSTREAM_URL"), or NULL when none does. With conf_source() it lets
 * a caller print "env:upstream.private_key_file: KALSHI_PRIVATE_KEY_FILE:
 * cannot read ..." like conf_load does. Static string; thread-safe.
 */
const char *conf_env_var(const char *key);

#endif
