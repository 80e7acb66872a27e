/*
 * mock_server.h - the mock's HTTP(S) front end on libmicrohttpd.
 *
 * One thread per connection, so a delayed or hanging request only blocks
 * its own thread. For every request outside /_mock/ the server records it
 * (raw path, query, headers, body, signature validity), counts it in flight,
 * applies the current fault, checks the signature and hands it to
 * mock_api_handle. The raw request target comes from libmicrohttpd's URI log
 * callback, never from its decoded URL.
 */
#ifndef MOCK_SERVER_H
#define MOCK_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/mock/mock.h"

struct mock_server;

struct mock_server_opts {
	const char *host;     /* IPv4 address (or "localhost") to listen on */
	uint16_t port;        /* 0: any free port */
	char *tls_cert;       /* PEM text or NULL for plain HTTP; borrowed until stop */
	char *tls_key;        /* PEM text, with tls_cert */
	bool verbose;         /* libmicrohttpd error log on stderr */
};

/* Starts serving ctx (borrowed until mock_server_stop). Returns NULL with a
 * message in err when the daemon cannot start. */
struct mock_server *mock_server_start(struct mock_ctx *ctx, const struct mock_server_opts *o,
				      char *err, size_t errlen);

/* The port actually bound. */
uint16_t mock_server_port(const struct mock_server *s);

/* Stops the daemon, waiting for every connection thread (set
 * ctx->stopping first so sleeping requests return quickly); frees s. NULL is
 * a no-op. */
void mock_server_stop(struct mock_server *s);

#endif
