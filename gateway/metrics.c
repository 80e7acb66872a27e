/* metrics: see metrics.h. */
#include "gateway/metrics.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Histogram bucket upper bounds in microseconds (rendered in seconds). */
static const long metrics_bounds_us[] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define NB (sizeof metrics_bounds_us / sizeof metrics_bounds_us[0])

struct histo {
	atomic_long buckets[NB + 1];   /* last = +Inf */
	atomic_long sum_us;
	atomic_long count;
};

#define STATUS_CLASSES 5               /* 1xx..5xx */
#define MAX_CLIENTS 256

static const char *const route_names[METRICS_ROUTE_COUNT] = {
	"read", "order", "write", "session", "ops", "other",
};

static const char *const reasons[] = {
	"invalid_json", "invalid_order", "invalid_request", "invalid_path", "unauthorized",
	"forbidden", "order_group_mismatch", "limit_exceeded", "not_found", "session_exists",
	"no_active_session", "session_triggered", "order_already_exists", "body_too_large",
	"headers_too_large",
	"unsupported_media_type", "host_not_allowed", "rate_limited", "upstream_unavailable",
	"shutting_down", "upstream_timeout", "upstream_4xx", "upstream_5xx", "other",
};
#define NREASONS (sizeof reasons / sizeof reasons[0])

static char **client_names;
static size_t client_count;        /* + 1 slot for "other" */
static atomic_long *requests;      /* [route][status class][client] */
static struct histo total_h, upstream_h, overhead_h, sign_h;
static atomic_long orders_accepted, orders_refused[NREASONS];
static atomic_long presign_hits, presign_misses, conns_open, tls_handshakes, in_flight;

int metrics_init(const char *const *clients, size_t count)
{
	if (count > MAX_CLIENTS)
		count = MAX_CLIENTS;
	client_names = calloc(count + 1, sizeof *client_names);
	requests = calloc((size_t)METRICS_ROUTE_COUNT * STATUS_CLASSES * (count + 1),
			  sizeof *requests);
	if (!client_names || !requests)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (!(client_names[i] = strdup(clients[i])))
			return -1;
	client_count = count;
	return 0;
}

void metrics_free(void)
{
	for (size_t i = 0; client_names && i < client_count; i++)
		free(client_names[i]);
	free(client_names);
	free((void *)(uintptr_t)requests);
	client_names = NULL;
	requests = NULL;
	client_count = 0;
}

/* Adds one observation to a histogram. */
static void histo_add(struct histo *h, long us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < NB && us > metrics_bounds_us[i])
		i++;
	atomic_fetch_add(&h->buckets[i], 1);
	atomic_fetch_add(&h->sum_us, us);
	atomic_fetch_add(&h->count, 1);
}

/* Index of a client label (client_count = "other"). */
static size_t client_index(const char *name)
{
	for (size_t i = 0; name && i < client_count; i++)
		if (strcmp(client_names[i], name) == 0)
			return i;
	return client_count;
}

void metrics_request(enum metrics_route route, unsigned status, const char *client,
		     long total_us, long upstream_us)
{
	size_t sc = status >= 100 && status < 600 ? status / 100 - 1 : 4;

	if (requests && route < METRICS_ROUTE_COUNT)
		atomic_fetch_add(&requests[((size_t)route * STATUS_CLASSES + sc) * (client_count + 1) +
					   client_index(client)], 1);
	histo_add(&total_h, total_us);
	if (upstream_us >= 0) {
		histo_add(&upstream_h, upstream_us);
		histo_add(&overhead_h, total_us > upstream_us ? total_us - upstream_us : 0);
	}
}

void metrics_order(int accepted, const char *reason)
{
	size_t i;

	if (accepted) {
		atomic_fetch_add(&orders_accepted, 1);
		return;
	}
	for (i = 0; i < NREASONS - 1; i++)
		if (reason && strcmp(reasons[i], reason) == 0)
			break;
	atomic_fetch_add(&orders_refused[i], 1);
}

void metrics_sign(long us)
{
	histo_add(&sign_h, us);
}

void metrics_presign(int hit)
{
	atomic_fetch_add(hit ? &presign_hits : &presign_misses, 1);
}

void metrics_in_flight(int delta)
{
	atomic_fetch_add(&in_flight, delta);
}

void metrics_upstream_conn(int delta)
{
	atomic_fetch_add(&conns_open, delta);
}

void metrics_tls_handshakes(long n)
{
	atomic_fetch_add(&tls_handshakes, n);
}

/* printf into the growing buffer. */
static int out(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int out(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if (*buf && *len + (size_t)n < *cap) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = (*cap ? *cap * 2 : 8192) + (size_t)n;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
}

/* Renders one histogram in seconds. */
static int render_histo(char **b, size_t *l, size_t *c, const char *name, const char *help,
			struct histo *h)
{
	long cum = 0;

	if (out(b, l, c, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name) < 0)
		return -1;
	for (size_t i = 0; i <= NB; i++) {
		cum += atomic_load(&h->buckets[i]);
		if (i < NB) {
			if (out(b, l, c, "%s_bucket{le=\"%ld.%06ld\"} %ld\n", name,
				metrics_bounds_us[i] / 1000000, metrics_bounds_us[i] % 1000000, cum) < 0)
				return -1;
		} else if (out(b, l, c, "%s_bucket{le=\"+Inf\"} %ld\n", name, cum) < 0) {
			return -1;
		}
	}
	long s = atomic_load(&h->sum_us);
	return out(b, l, c, "%s_sum %ld.%06ld\n%s_count %ld\n", name, s / 1000000, s % 1000000,
		   name, atomic_load(&h->count));
}

int metrics_render(char **b, size_t *l, size_t *c, const char *extra)
{
	static const char *const sc_names[STATUS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	if (out(b, l, c, "# HELP kalshi_gateway_requests_total Requests answered, by route class, status class and client.\n"
			 "# TYPE kalshi_gateway_requests_total counter\n") < 0)
		return -1;
	for (size_t r = 0; requests && r < METRICS_ROUTE_COUNT; r++)
		for (size_t s = 0; s < STATUS_CLASSES; s++)
			for (size_t k = 0; k <= client_count; k++) {
				long v = atomic_load(&requests[(r * STATUS_CLASSES + s) * (client_count + 1) + k]);
				if (v && out(b, l, c, "kalshi_gateway_requests_total{route=\"%s\",status=\"%s\",client=\"%s\"} %ld\n",
					     route_names[r], sc_names[s],
					     k < client_count ? client_names[k] : "other", v) < 0)
					return -1;
			}
	if (render_histo(b, l, c, "kalshi_gateway_request_duration_seconds",
			 "Time from request line to answer.", &total_h) < 0 ||
	    render_histo(b, l, c, "kalshi_gateway_upstream_duration_seconds",
			 "Time the upstream took (forwarded requests).", &upstream_h) < 0 ||
	    render_histo(b, l, c, "kalshi_gateway_overhead_seconds",
			 "The gateway's own time on forwarded requests (total minus upstream).", &overhead_h) < 0 ||
	    render_histo(b, l, c, "kalshi_gateway_sign_duration_seconds",
			 "Time to make one RSA-PSS signature.", &sign_h) < 0)
		return -1;
	if (out(b, l, c, "# HELP kalshi_gateway_orders_accepted_total Order creates the upstream accepted.\n"
			 "# TYPE kalshi_gateway_orders_accepted_total counter\n"
			 "kalshi_gateway_orders_accepted_total %ld\n"
			 "# HELP kalshi_gateway_orders_refused_total Order creates refused, by reason.\n"
			 "# TYPE kalshi_gateway_orders_refused_total counter\n",
		atomic_load(&orders_accepted)) < 0)
		return -1;
	for (size_t i = 0; i < NREASONS; i++) {
		long v = atomic_load(&orders_refused[i]);
		if (v && out(b, l, c, "kalshi_gateway_orders_refused_total{reason=\"%s\"} %ld\n",
			     reasons[i], v) < 0)
			return -1;
	}
	if (out(b, l, c,
		"# HELP kalshi_gateway_presign_total Pre-signed signatures used (hit) or not available (miss).\n"
		"# TYPE kalshi_gateway_presign_total counter\n"
		"kalshi_gateway_presign_total{result=\"hit\"} %ld\n"
		"kalshi_gateway_presign_total{result=\"miss\"} %ld\n"
		"# HELP kalshi_gateway_upstream_connections Upstream connections open.\n"
		"# TYPE kalshi_gateway_upstream_connections gauge\n"
		"kalshi_gateway_upstream_connections %ld\n"
		"# HELP kalshi_gateway_upstream_tls_handshakes_total TLS handshakes with the upstream.\n"
		"# TYPE kalshi_gateway_upstream_tls_handshakes_total counter\n"
		"kalshi_gateway_upstream_tls_handshakes_total %ld\n"
		"# HELP kalshi_gateway_requests_in_flight Requests between their request line and the end of their answer (this one included).\n"
		"# TYPE kalshi_gateway_requests_in_flight gauge\n"
		"kalshi_gateway_requests_in_flight %ld\n",
		atomic_load(&presign_hits), atomic_load(&presign_misses), atomic_load(&conns_open),
		atomic_load(&tls_handshakes), atomic_load(&in_flight)) < 0)
		return -1;
	if (extra && out(b, l, c, "%s", extra) < 0)
		return -1;
	return 0;
}
