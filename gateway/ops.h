/*
 * ops: the gateway's own endpoints (/healthz, /readyz, /metrics, and the
 * routes later modules own), client identification, and the readiness
 * probe thread.
 */
#ifndef GATEWAY_OPS_H
#define GATEWAY_OPS_H

#include <jansson.h>
#include <stddef.h>

struct gw;
struct request;

/* Identifies the caller from its headers; answers 401 when it cannot be
 * identified. Loop thread only. */
void ops_identify(struct request *rq);

/* The readiness verdict as GET /readyz answers it: {"status", "reasons",
 * "trading_active"?}; *ready is 1 when ready. Thread-safe. */
json_t *ops_readiness(struct gw *gw, int *ready);

/* Answers a gateway endpoint (not proxied). Loop thread only. */
void ops_handle(struct request *rq);

/* Starts the readiness probe thread (GET /exchange/status every
 * readiness.probe_interval_s). Returns 0 or -1 with err filled. */
int ops_probe_start(struct gw *gw, char *err, size_t errlen);

/* Stops and joins the probe thread. Safe to call if never started. */
void ops_probe_stop(struct gw *gw);

#endif
