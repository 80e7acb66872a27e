/*
 * server: the front end. One event loop per thread, each owning an epoll
 * set, a libmicrohttpd daemon in external-epoll mode (suspend/resume) on a
 * SO_REUSEPORT listening socket, and an upstream pool (curl multi) on the
 * same epoll set. A request lives on one thread from accept to reply.
 */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include <stddef.h>

struct gw;
struct server;

/*
 * Binds the listening sockets (nthreads of them, SO_REUSEPORT, on the
 * configured address; port 0 picks one port for all) and creates the loops,
 * without starting their threads. Returns NULL with err filled (cannot
 * listen, port in use, resources). *port_out gets the bound port.
 */
struct server *server_new(struct gw *gw, int nthreads, int *port_out, char *err, size_t errlen);

/* Starts the loop threads. Returns 0 or -1 with err filled. */
int server_start(struct server *s, char *err, size_t errlen);

/* Asks every loop to stop (async-signal-safe: one write per loop). */
void server_request_stop(struct server *s);

/* Waits for the loops to finish their drain and stop. */
void server_join(struct server *s);

/* Frees everything. NULL is a no-op. */
void server_free(struct server *s);

#endif
