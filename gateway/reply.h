/*
 * reply: building libmicrohttpd responses: the gateway's error envelope
 * (Kalshi's shape plus X-Gateway-Rejected: 1) and JSON answers.
 *
 * Every function returns a new response owned by the caller (destroy it
 * after MHD_queue_response), or NULL when out of memory. Thread-safe.
 */
#ifndef GATEWAY_REPLY_H
#define GATEWAY_REPLY_H

#include <microhttpd.h>
#include <jansson.h>

/*
 * {"error": {"code": code, "message": message, ...extra}} with
 * Content-Type application/json and X-Gateway-Rejected: 1. `extra` (may be
 * NULL) is an object whose members are merged next to code and message
 * (details, limit, requested, allowed, index, order_id, upstream...); the
 * reference is stolen.
 */
struct MHD_Response *reply_error(const char *code, const char *message, json_t *extra);

/* The standard HTTP status for a gateway error code (400 for unknown). */
unsigned int reply_status_for(const char *code);

/* A JSON body (reference stolen) with Content-Type application/json. */
struct MHD_Response *reply_json(json_t *body);

/* A body copied from memory with the given content type (NULL = none). */
struct MHD_Response *reply_bytes(const char *body, size_t len, const char *content_type);

#endif
