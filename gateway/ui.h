/*
 * ui: the operator dashboard (issue 12). A single page compiled into the
 * binary: GET /ui (HTML), /ui/app.css and /ui/app.js, open to anyone like
 * /healthz (they hold no data), and GET /ui/summary, the page's data, for
 * any identified client:
 *
 *   {"client": name, "role": "admin"|"trader"|"read_only",
 *    "ready": bool, "reasons": [...], "trading_active"?: bool,
 *    "sessions"?: [S, ...]          (as GET /sessions; absent until the
 *                                    sessions module exports its list: the
 *                                    page then calls GET /sessions),
 *    "recent_refusals": [{"ts", "client", "code", "message", "method",
 *                         "path", "request_id"}, ...]   (newest first, <= 50),
 *    "upstream_latency_ms": p50 of forwarded requests over the last ~10 s,
 *                           or null when there were none,
 *    "upstream_latency_window_s": the window it covers,
 *    "rate_budget": the account's shared buckets, {"read": B, "write": B}
 *                   with B = {"used": 0..1, "tokens", "capacity", "per_s"}
 *                   (or null for a bucket that is off); null when
 *                   rate limiting is off altogether,
 *    "server_time": RFC 3339 UTC}
 *
 * Every /ui answer carries a strict Content-Security-Policy (scripts and
 * styles only from the page's own origin, no inline code, no framing),
 * X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer. The
 * page's own requests pass the browser rules (policy/browser.c) because
 * their Origin is "http://" + Host; any other origin is refused as before.
 */
#ifndef GATEWAY_UI_H
#define GATEWAY_UI_H

#include <stddef.h>

struct request;

/* Whether the /ui path (raw, path_len bytes) is served without
 * identification: the page and its script and style sheet. Pure. */
int ui_is_public(const char *path, size_t len);

/* Answers a PATH_ROUTE_UI request (loop thread). */
void ui_handle(struct request *rq);

/* Remembers one gateway refusal for the dashboard's feed (a ring of the
 * last 50): its code and message, and the request's client, method, path
 * (without the query) and id. Call once per refusal, when the error answer
 * is set. Thread-safe; a short critical section, never blocks on I/O. */
void ui_note_refusal(const struct request *rq, const char *code, const char *message);

#endif
