/*
 * mock_ws.h - the mock exchange's WebSocket endpoint, GET /trade-api/ws/v2.
 *
 * The handshake is checked like Kalshi's: the KALSHI-ACCESS-* signature
 * over TIMESTAMP + "GET" + "/trade-api/ws/v2" must verify when the mock
 * enforces signatures (401 otherwise), and the upgrade must be a version 13
 * WebSocket one (400 otherwise). The 101 carries Sec-WebSocket-Accept, the
 * first offered Sec-WebSocket-Protocol, "x-mock-ext; mock=1" when the
 * client offered the extension x-mock-ext (no real compression), and
 * X-Mock-Session: N.
 *
 * A session runs on its connection's own thread (plain HTTP) or on a
 * thread of its own (TLS, where libmicrohttpd's connection thread forwards
 * between TLS and the session). Text frames are commands,
 * {"id":N,"cmd":...,"params":{...}}:
 *   subscribe   {"channels":[...]} -> {"id":N,"type":"subscribed",
 *               "msg":{"channel":C,"sid":S}} per channel, then: "ticker"
 *               one canned ticker message; "orderbook_delta" one canned
 *               orderbook_snapshot; "mock_stream" `count` messages (default
 *               10) at `rate` per second (default 100, 0 = as fast as the
 *               socket takes them), each {"type":"mock_stream","sid":S,
 *               "seq":K,"msg":{"n":K,"pad":"xxx..."}} with `size` pad bytes,
 *               seq 1..count in order (a slow reader delays, never drops)
 *   unsubscribe {"sids":[...]} -> {"id":N,"type":"unsubscribed","sid":S}
 *   mock_close  {"code":1000} -> the server closes: close frame, then the
 *               TCP connection once the client answers (or after 2 s)
 *   mock_drop   the server drops the TCP connection without a close frame
 * anything else -> {"id":N,"type":"error","msg":{"code":8,...}}. Binary
 * frames are echoed back, pings answered with pongs (same payload), a close
 * frame with a close frame (same code), fragmented messages reassembled.
 * Client frames must be masked (else close 1002).
 *
 * Thread-safe; the counters are process-wide (one mock per process).
 */
#ifndef MOCK_WS_H
#define MOCK_WS_H

#include <stdbool.h>

#include <microhttpd.h>

#include "tests/mock/mock.h"
#include "tests/mock/mock_auth.h"

/* True for the endpoint's raw path. */
bool mock_ws_is_path(const char *path);

/* Answers an upgrade request on c (the signature already checked into sig,
 * with the reason in why): 401, 400, or 101 and a session thread. *status
 * gets the status queued. Returns libmicrohttpd's verdict. */
enum MHD_Result mock_ws_answer(struct mock_ctx *ctx, struct MHD_Connection *c,
			       enum mock_sig_result sig, const char *why, unsigned int *status);

/* Sets r to the counters as JSON: {"open","total","close_frames_received",
 * "eof_without_close","server_closes","drops","pings","bytes_received",
 * "messages_sent","last_close_code"}. DELETE resets them (reset true). */
void mock_ws_control(struct mock_reply *r, bool reset);

/* Waits until every session has ended (they end within about 50 ms once
 * ctx->stopping is set). Call before stopping the daemon. */
void mock_ws_wait_all(void);

#endif
