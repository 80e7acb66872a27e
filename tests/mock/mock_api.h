/*
 * mock_api.h - request handlers of the mock exchange.
 *
 * mock_api_handle answers every path under /trade-api/v2 (and 404s anything
 * else); mock_orders_route answers the order and order-group endpoints under
 * /portfolio; mock_control_handle answers /_mock/. Authentication and faults
 * are applied by the server before these run. All are thread-safe.
 */
#ifndef MOCK_API_H
#define MOCK_API_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/mock/mock.h"

/* Longest path the router splits, and most segments it looks at. */
#define MOCK_MAX_SEGMENTS 8

/* Answers a Kalshi API request (signature already checked). Any path not
 * served is a 404 in Kalshi's error envelope. */
void mock_api_handle(struct mock_ctx *ctx, const struct mock_request *rq,
		     struct mock_reply *out);

/* Answers order and order-group requests; seg[0..nseg) are the raw path
 * segments after /trade-api/v2/portfolio/. Returns false (out untouched)
 * when the route is not one of them. */
bool mock_orders_route(struct mock_ctx *ctx, const struct mock_request *rq,
		       char *const *seg, size_t nseg, struct mock_reply *out);

/* Answers a /_mock/ control request. */
void mock_control_handle(struct mock_ctx *ctx, const struct mock_request *rq,
			 struct mock_reply *out);

#endif
