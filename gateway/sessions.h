/*
 * sessions: the gateway's sessions (Kalshi order groups plus book-keeping),
 * their durable state in state_dir/sessions.json, the /session endpoints,
 * and the hooks the order path uses.
 *
 * Threads: the session table is guarded by one mutex held only for short
 * copies. Every operation that talks to the upstream or the disk runs on
 * the sessions worker thread, one at a time (which also serialises
 * transitions); loops hand it jobs and suspend the connection meanwhile.
 */
#ifndef GATEWAY_SESSIONS_H
#define GATEWAY_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "policy/limits.h"
#include "policy/session.h"

struct gw;
struct request;
struct sessions;

/* Loads state_dir/sessions.json (absent = no sessions). Returns NULL with
 * err filled when the file is corrupt (it is then left untouched). */
struct sessions *sessions_new(struct gw *gw, char *err, size_t errlen);

/* Starts the worker: reconciliation with the upstream first, then jobs,
 * and a counter flush at least every second. */
int sessions_start(struct sessions *s, char *err, size_t errlen);

/* Stops the worker (after the loops stopped) and persists. */
void sessions_stop(struct sessions *s);

/* Frees everything. NULL is a no-op. */
void sessions_free(struct sessions *s);

/* Whether every active session was verified with the upstream and no
 * group creation is unresolved; why gets the reason when not. */
int sessions_reconciled(struct sessions *s, char *why, size_t cap);

/* Handles /session, /session/... and /sessions (loop thread). */
void sessions_handle(struct request *rq);

/* What the order path needs to know about a session. */
struct session_snap {
	int found;                  /* an active or triggered session exists */
	enum session_status status;
	char status_reason[24];
	char order_group_id[SESSION_ID_MAX];
	long subaccount;
};

/* Copies the state of the active session `name`. Thread-safe. */
void sessions_snapshot(struct sessions *s, const char *name, struct session_snap *out);

/* Whether group id (len bytes) belongs to an active session. Thread-safe. */
int sessions_owns_group(struct sessions *s, const char *id, size_t len);

/* Adds to a session's counters (contracts in hundredths). Thread-safe. */
void sessions_count(struct sessions *s, const char *name, const char *group_id,
		    int64_t accepted, int64_t rejected, int64_t submitted, int64_t filled);

/* An order for `name` was refused in a way that mentions the order group:
 * ask the worker to confirm the group's state with a GET. Thread-safe. */
void sessions_suspect_trigger(struct sessions *s, const char *name, const char *group_id);

/*
 * Admission of orders into session `name` (whose group must still be
 * `group`): checks the per-order limits and the session caps in `eff`
 * against the session's counters (submitted + reserved, the client's share,
 * filled + resting) and, when they pass, reserves their total for the
 * client, all under the session lock so concurrent orders cannot overshoot.
 * Returns 0 with *reserved set, -1 with *r filled (refused), or -2 when the
 * session is gone or changed group (the caller answers no_active_session).
 * Thread-safe.
 */
int sessions_admit(struct sessions *s, const char *name, const char *group, const char *client,
		   const struct limits_eff *eff, const struct norm_order *orders, size_t n,
		   int batch, int64_t *reserved, struct limits_refusal *r);

/* The outcome of admitted orders: `reserved` leaves the reservation;
 * `submitted` contracts count as submitted (accepted, or outcome unknown),
 * `accepted`/`rejected` orders are counted, `filled` and `resting` come
 * from the answers. Thread-safe. */
void sessions_settle(struct sessions *s, const char *name, const char *group, const char *client,
		     int64_t reserved, int64_t submitted, int64_t accepted, int64_t rejected,
		     int64_t filled, int64_t resting);

/* Remembers an order the upstream accepted for session `name`, with the
 * contracts its answer already reported filled (hundredths), so the fill
 * poller can attribute later fills to the session. Thread-safe. */
void sessions_track_order(struct sessions *s, const char *name, const char *group,
			  const char *order_id, int64_t filled_known);

/* Feeds the dead-man switch of session `name` (any request of its clients).
 * Thread-safe, cheap. */
void sessions_feed(struct sessions *s, const char *name);

/* Prometheus text for the session gauges (sessions by status, contracts
 * submitted and filled per active session); malloc'd, NULL on OOM. */
char *sessions_metrics_text(struct sessions *s);

/* Writes a random UUID v4 (cap >= 37). Thread-safe. */
void sessions_uuid(char *buf, size_t cap);

#endif
