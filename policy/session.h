/*
 * session: the session record (one Kalshi order group plus the gateway's
 * book-keeping), its JSON forms and the parsing of /session bodies.
 * Pure: times are passed in (Unix milliseconds). Thread-safe (no state).
 *
 * Two JSON forms: the public session object S of DESIGN.md
 * (session_to_json) and the state-file form (session_to_state /
 * session_from_state), which adds internal fields.
 */
#ifndef POLICY_SESSION_H
#define POLICY_SESSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum session_status { SESSION_ACTIVE = 0, SESSION_TRIGGERED, SESSION_ENDED };

#define SESSION_NAME_MAX 64
#define SESSION_ID_MAX 128
/* previous order groups remembered per session (new_group recoveries) */
#define SESSION_PREV_MAX 16

struct session {
	char name[SESSION_NAME_MAX + 1];
	char session_id[40];
	char order_group_id[SESSION_ID_MAX];
	long subaccount;
	long exchange_index;
	enum session_status status;
	char status_reason[24];          /* "" = null */
	long contracts_limit;
	long heartbeat_timeout_s;        /* 0 = null */
	int64_t started_at_ms;
	int64_t ended_at_ms;             /* 0 = null */
	int64_t orders_accepted, orders_rejected;
	int64_t contracts_submitted;     /* hundredths */
	int64_t contracts_filled;        /* hundredths */
	int has_max_filled;
	int64_t max_session_filled_contracts; /* hundredths */
	char on_trigger[16];             /* "" = configuration default */
	long cooldown_s, max_auto_resets;/* -1 = configuration default */
	int64_t last_heartbeat_ms;
	char pending[16];                /* "" or "end": an operation in progress */
	int verified;                    /* not persisted: reconciled since start */
	/* not persisted: fills seen in order answers, for telling Kalshi's
	 * 15-second window trigger from an external one */
	int64_t fill_ts_ms[32];
	int64_t fill_n[32];
	unsigned fill_pos;
	/* not persisted: contracts admitted and not yet settled by an answer */
	int64_t reserved;
	/* not persisted: when the worker may next try an automatic halt */
	int64_t retry_ms;
	/* not persisted: when the worker recovers a limit_window trigger under
	 * session.on_trigger (monotonic ms; 0 = not scheduled yet) */
	int64_t recover_at_ms;
	/* not persisted: when a trigger was first read while orders were in
	 * flight (their fills may still explain it; monotonic ms, 0 = none) */
	int64_t trig_seen_ms;
	/* contracts believed resting (create answers' remaining counts, less
	 * fills seen since); persisted */
	int64_t resting;
	/* automatic recoveries made under session.on_trigger (persisted) */
	long auto_resets;
	/* groups the session used before (new_group), oldest first; only the
	 * last SESSION_PREV_MAX are kept (persisted) */
	char previous_group_ids[SESSION_PREV_MAX][SESSION_ID_MAX];
	unsigned nprevious;
	/* per-client shares of contracts_submitted + reserved (persisted as
	 * "client_submitted") */
	struct session_share {
		char client[SESSION_NAME_MAX + 1];
		int64_t submitted, reserved;
	} shares[16];
	unsigned nshares;
};

/* Whether name matches [A-Za-z0-9_-]{1,64}. */
int session_name_ok(const char *name);

/* Writes Unix ms as "2026-11-29T21:14:48.123Z" (cap >= 32). */
void session_format_time(int64_t ms, char *buf, size_t cap);

/* Parses that format back; returns 0 or -1. */
int session_parse_time(const char *s, int64_t *ms);

/* The status name: "active", "triggered", "ended". */
const char *session_status_name(enum session_status s);

/* The public session object S (new reference; NULL on OOM). */
json_t *session_to_json(const struct session *s);

/* The state-file form (S plus internal fields). */
json_t *session_to_state(const struct session *s);

/* Reads the state-file form. Returns 0, or -1 with err filled. */
int session_from_state(const json_t *j, struct session *out, char *err, size_t errlen);

/* A parsed /session/start body. */
struct session_start_req {
	char name[SESSION_NAME_MAX + 1]; /* "" = not given */
	long contracts_limit;
	long subaccount;                 /* default 0 */
	long exchange_index;             /* default 0 */
	long heartbeat_timeout_s;        /* 0 = none */
	int has_max_filled;
	int64_t max_session_filled_contracts;
	char on_trigger[16];
	long cooldown_s, max_auto_resets;/* -1 = default */
};

/* A parsed body of reset/end/heartbeat/halt/limit. */
struct session_op_req {
	char name[SESSION_NAME_MAX + 1]; /* "" = not given */
	int all;                         /* halt only */
	int has_contracts_limit;         /* limit only */
	long contracts_limit;
	int has_max_filled;              /* limit only */
	int64_t max_session_filled_contracts;
	char reason[24];                 /* not parsed: an automatic halt's status_reason */
};

enum session_op { SESSION_OP_RESET, SESSION_OP_END, SESSION_OP_HEARTBEAT, SESSION_OP_HALT,
		  SESSION_OP_LIMIT };

/*
 * Parses a /session/start body (len 0 = empty). Returns 0, or -1 with
 * *code set to "invalid_json" or "invalid_request" and a lower-case message.
 * Unknown fields, wrong types, contracts_limit outside 1..1,000,000 and bad
 * names are refused.
 */
int session_parse_start(const char *body, size_t len, struct session_start_req *out,
			const char **code, char *msg, size_t msglen);

/* Parses the body of another operation (which fields are allowed depends
 * on op). Same error convention. */
int session_parse_op(enum session_op op, const char *body, size_t len,
		     struct session_op_req *out, const char **code, char *msg, size_t msglen);

#endif
