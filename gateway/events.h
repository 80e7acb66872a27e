/*
 * events: the session event bus. Every session change (session_started,
 * session_triggered, session_reset, session_limit_updated, session_ended)
 * gets an increasing integer id and goes to
 *   - a bounded in-memory history (EVENTS_HISTORY events), from which
 *   - Server-Sent Event listeners (GET /session/events) are served, each
 *     resuming after its Last-Event-ID, and to
 *   - every configured webhook (events.webhooks), as a JSON POST from a
 *     bounded queue per URL, retried with exponential backoff.
 * (sessions.c also writes each event to the audit log.)
 *
 * Threads: events_publish() may be called from any thread, also under the
 * session lock: it only copies the event and signals the events thread; it
 * never touches a connection or the network. The events thread resumes
 * listeners that have something to send (new events, the 15-second
 * heartbeat, the end of the stream at shutdown) and drives the webhook
 * transfers (curl multi, so a hanging receiver delays nobody). Listeners
 * live on their loop's thread: a listener with nothing to send suspends its
 * connection from the content reader, so it holds no thread and costs no
 * CPU while idle.
 *
 * Ids: the first id of a run is the wall-clock time in milliseconds at
 * start, and ids go up by one per event, so they keep increasing across
 * restarts (unless a run averaged more than one event per millisecond).
 *
 * Shutdown: once gw->stopping is set the events thread ends every stream
 * (within a second), so the loops, which wait for suspended connections,
 * can stop.
 */
#ifndef GATEWAY_EVENTS_H
#define GATEWAY_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct gw;
struct request;
struct events;

#define EVENTS_HISTORY 1000         /* events kept for Last-Event-ID */
#define EVENTS_HEARTBEAT_MS 15000   /* comment line to idle listeners */
#define EVENTS_HOOK_QUEUE 1000      /* undelivered events kept per webhook */
#define EVENTS_HOOK_ATTEMPTS 8      /* tries per event and webhook */
#define EVENTS_HOOK_TIMEOUT_MS 2000 /* one webhook POST, connect included */

/* Creates the bus; the webhooks are events.webhooks of gw->conf. Returns
 * NULL with err filled (out of memory, curl). */
struct events *events_new(struct gw *gw, char *err, size_t errlen);

/* Starts the events thread. Returns 0, or -1 with err filled. */
int events_start(struct events *ev, char *err, size_t errlen);

/* Ends every stream, gives queued webhook deliveries up to a second
 * (first attempts only), and stops the thread. Listeners still attached
 * to a connection detach when their connection closes. */
void events_stop(struct events *ev);

/* Frees everything; call after the HTTP daemons are gone. NULL is a no-op. */
void events_free(struct events *ev);

/*
 * Publishes one event about session `name`: `type` (one of the event
 * names above) and `session` (the session object S, borrowed). Returns the
 * event's id (0 when it could not be recorded: out of memory). Thread-safe,
 * never blocks on I/O.
 */
uint64_t events_publish(struct events *ev, const char *type, const char *name,
			const json_t *session);

/*
 * Answers GET /session/events on the loop thread: a text/event-stream of
 * the events of session `name` (NULL or "" = every session), starting after
 * `last_id` (when has_last; else with the next event). When last_id is older
 * than the history, the whole history is replayed.
 */
void events_handle_sse(struct events *ev, struct request *rq, const char *name, int has_last,
		       uint64_t last_id);

/* Appends Prometheus text (listeners, events, webhook deliveries) to a
 * malloc'd buffer *buf of *len bytes (capacity *cap), growing it. Returns
 * 0, or -1 on OOM (the buffer is kept). Thread-safe. */
int events_metrics_append(struct events *ev, char **buf, size_t *len, size_t *cap);

#endif
