/*
 * ws: the WebSocket relay for GET /trade-api/ws/v2.
 *
 * A loop thread admits an upgrade request (ws.max_connections,
 * ws.max_per_client), suspends it and hands it to the pump thread. The pump
 * connects to upstream.ws_url (TLS verified against upstream.ca_file or the
 * system store, host name checked; ws:// only on loopback, which the
 * configuration enforces), sends the upgrade with fresh KALSHI-ACCESS-*
 * headers signed over "GET" + the URL's path and the client's
 * Sec-WebSocket-Key, -Version, -Protocol and -Extensions verbatim, then
 * answers the client: 101 with the upstream's handshake headers verbatim,
 * the upstream's refusal (status, headers, body), or a gateway error (502
 * upstream_unavailable, 504 upstream_timeout, 503 shutting_down). After the
 * 101, libmicrohttpd hands over the client socket and the pump copies bytes
 * both ways without parsing frames (pings, pongs and close frames pass
 * through).
 *
 * Threads: one pump thread (edge-triggered epoll, non-blocking sockets)
 * serves every relayed connection, handshakes included, up to
 * ws.max_connections; a resolver thread does the blocking DNS lookup of a
 * named upstream host (cached 30 s), so the pump never blocks. Loop threads
 * only admit, post events and return.
 *
 * Invariants: at most WS_BUF_CAP bytes are buffered per connection and
 * direction; a full buffer stops reading the side that fills it, so a slow
 * reader pushes back through TCP to the sender and never grows memory. When
 * one side ends its connection, what it sent is passed on (for at most 3 s)
 * and then both sides close: FIN to the client, close_notify and FIN to the
 * upstream; an error on either side closes both at once. A connection with
 * no byte either way for ws.idle_timeout_s is closed. At gateway stop every
 * relayed connection is closed and every suspended upgrade answered, so no
 * loop waits on the relay.
 */
#ifndef GATEWAY_WS_H
#define GATEWAY_WS_H

#include <stddef.h>

struct gw;
struct request;

/* Bytes buffered at most per connection and direction. */
#define WS_BUF_CAP (64 * 1024)

/* Why relayed connections ended (metrics label, audit "reason"). */
enum ws_close_reason {
	WS_CLOSE_CLIENT = 0,     /* client_closed: the client's side ended first */
	WS_CLOSE_UPSTREAM,       /* upstream_closed: the upstream's side ended first */
	WS_CLOSE_CLIENT_ERROR,   /* client_error: reset or error on the client socket */
	WS_CLOSE_UPSTREAM_ERROR, /* upstream_error: reset, TLS or socket error upstream */
	WS_CLOSE_IDLE,           /* idle_timeout: nothing either way for ws.idle_timeout_s */
	WS_CLOSE_SHUTDOWN,       /* shutdown: the gateway stopped */
	WS_CLOSE_COUNT
};

/* Why upgrade requests were not relayed. */
enum ws_refuse_reason {
	WS_REFUSE_LIMIT = 0,     /* limit: ws.max_connections or ws.max_per_client (429) */
	WS_REFUSE_INVALID,       /* invalid: not a WebSocket upgrade (400) */
	WS_REFUSE_UPSTREAM,      /* upstream_status: the upstream answered other than 101 */
	WS_REFUSE_UNAVAILABLE,   /* upstream_unavailable: DNS, connect or TLS failed (502) */
	WS_REFUSE_TIMEOUT,       /* upstream_timeout: no answer in time (504) */
	WS_REFUSE_SHUTDOWN,      /* shutting_down (503) */
	WS_REFUSE_COUNT
};

/* A consistent-enough copy of the relay's counters (each read atomically). */
struct ws_stats {
	long open;                       /* admitted and not finished (handshakes included) */
	long relayed;                    /* switched to 101 and not closed yet */
	long opened_total;               /* switched to 101 since start */
	long buffered_bytes;             /* held in relay buffers now, both directions */
	long long bytes_to_upstream;     /* client -> upstream */
	long long bytes_to_client;       /* upstream -> client */
	long closes[WS_CLOSE_COUNT];
	long refused[WS_REFUSE_COUNT];
};

/*
 * Starts the relay: parses upstream.ws_url, builds the TLS context for
 * wss://, starts the pump thread (and the resolver when the host is a
 * name). Call once, before the loops serve. Returns 0, or -1 with err
 * filled. Not thread-safe.
 */
int ws_start(struct gw *gw, char *err, size_t errlen);

/*
 * Stops the pump: closes whatever is still relayed (normally nothing: once
 * gw->stopping is set the pump closes every connection within about 100 ms
 * and the loops wait for that), joins the threads, frees everything. Call
 * after the loops are joined and before their libmicrohttpd daemons stop.
 * Safe when never started; idempotent.
 */
void ws_stop(void);

/*
 * Handles GET /trade-api/ws/v2 for an identified client (any role): refuses
 * (400 invalid_request, 429 rate_limited with Retry-After) or suspends the
 * request for the pump, which answers it. Loop thread only.
 */
void ws_handle(struct request *rq);

/* Copies the counters. Thread-safe; zeros before ws_start. */
void ws_stats_get(struct ws_stats *out);

/*
 * The relay's metrics in Prometheus text format (kalshi_gateway_ws_*), as
 * a malloc'd string the caller frees, or NULL when out of memory.
 * Thread-safe.
 */
char *ws_metrics_text(void);

#endif
