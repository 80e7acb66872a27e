/*
 * metrics: Prometheus counters and histograms (text format 0.0.4), all
 * kalshi_gateway_* with base units. Observations are lock-free atomics so
 * any thread may record; rendering reads them without stopping anyone.
 *
 * Label sets are bounded: route classes and refusal reasons are fixed
 * lists, clients are the configured names (registered once at start-up).
 */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_route {
	METRICS_ROUTE_READ = 0,      /* proxied GET */
	METRICS_ROUTE_ORDER,         /* proxied order create/amend/decrease/cancel */
	METRICS_ROUTE_WRITE,         /* other proxied writes */
	METRICS_ROUTE_SESSION,       /* /session* */
	METRICS_ROUTE_OPS,           /* healthz, readyz, metrics, ui */
	METRICS_ROUTE_OTHER,         /* refused before routing */
	METRICS_ROUTE_COUNT
};

/* Registers the client names used as labels (call once before serving;
 * names are copied). Unknown names are counted as "other". */
int metrics_init(const char *const *clients, size_t count);
void metrics_free(void);

/* One answered request: route class, HTTP status, client name (or NULL),
 * total and upstream microseconds (upstream_us < 0: not forwarded). */
void metrics_request(enum metrics_route route, unsigned status, const char *client,
		     long total_us, long upstream_us);

/* An order decision: accepted by the upstream, or refused with `reason`
 * (a gateway error code or "upstream_<status>"). */
void metrics_order(int accepted, const char *reason);

/* A signature made (microseconds), a pre-signed one used or missed. */
void metrics_sign(long us);
void metrics_presign(int hit);

/* A request context created (+1, request line parsed) or freed (-1, its
 * connection done): the requests_in_flight gauge, suspended ones included. */
void metrics_in_flight(int delta);

/* Upstream connection opened (+1) or closed (-1); a TLS handshake done. */
void metrics_upstream_conn(int delta);
void metrics_tls_handshakes(long n);

/* Appends the exposition text to a growing buffer (*buf malloc'd, *len,
 * *cap); `extra` is appended verbatim (session gauges). 0 or -1 on OOM. */
int metrics_render(char **buf, size_t *len, size_t *cap, const char *extra);

#endif
