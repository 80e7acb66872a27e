/* server: see server.h. */
#include "gateway/server.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/dispatch.h"
#include "gateway/metrics.h"
#include "gateway/ops.h"
#include "gateway/proxy.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "gateway/sessions.h"
#include "gateway/ui.h"
#include "gateway/ws.h"
#include "policy/browser.h"
#include "policy/header.h"
#include "policy/path.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* libmicrohttpd's memory per client connection: request line and headers
 * (each header line also costs MHD a record of about 56 bytes), the body
 * chunks on their way to the handler, and the answer's header block.
 * MHD zeroes the pool at the end of every request, so a smaller pool is
 * also less work per request, and 1000 idle clients hold 16 MiB, not 64. */
#define SERVER_CONN_MEMORY (16 * 1024)
/* What a request's target and headers may cost of that pool: each header
 * line counts its bytes plus SERVER_HEADER_LINE_COST. Over it the gateway
 * answers 431 itself. Without this cap a request whose headers just fit
 * (measured: 126 lines of 63 bytes) was forwarded, and then MHD had no room
 * left to build the answer's header block and closed the connection with
 * no answer at all - for an order, placed and never confirmed. Half the
 * pool is left for the answer (relayed headers are capped at 4 KiB). */
#define SERVER_HEADER_BUDGET (8 * 1024)
#define SERVER_HEADER_LINE_COST 64
/* How long a stopping loop keeps flushing answers after the drain. */
#define SERVER_FLUSH_MS 1000
/* A body over the cap is read and discarded up to this many times the cap
 * (so the client gets its 413); past that the connection is closed. */
#define SERVER_DISCARD_FACTOR 4

struct loop {
	struct server *server;
	struct gw *gw;
	int id;
	pthread_t thread;
	int started;
	int epfd;
	int wake_fd;
	int listen_fd;
	int mhd_fd;
	struct MHD_Daemon *mhd;
	struct upstream_pool *pool;
	struct request *suspended;   /* requests waiting for upstream */
	atomic_int xsuspended;       /* requests out on other threads */
	struct request *parked[DISPATCH_PRIO_COUNT];      /* rate-budget queues (FIFO) */
	struct request *parked_tail[DISPATCH_PRIO_COUNT];
	int64_t park_wake_ms;        /* when to look at the queues again; 0 = none */
	size_t live;                 /* request structs allocated */
	int quiesced;
	int64_t drain_deadline_ms;
	int64_t flush_deadline_ms;
	uint64_t rng;                /* request id generator state */
};

struct server {
	struct gw *gw;
	int nloops;
	struct loop *loops;
};

int64_t gw_now_ms(void)
{
	return gw_now_us() / 1000;
}

int64_t gw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* splitmix64: a fast generator for request ids (not for secrets). */
static uint64_t loop_rand(struct loop *l)
{
	uint64_t z = (l->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Whether a client-supplied X-Request-Id is safe to echo: 1..64 bytes of
 * [A-Za-z0-9._:-]. Anything else is replaced by a generated id. */
static int request_id_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return n > 0;
}

/* Links a request into its loop's suspended list. */
static void loop_link(struct loop *l, struct request *rq)
{
	rq->prev = NULL;
	rq->next = l->suspended;
	if (l->suspended)
		l->suspended->prev = rq;
	l->suspended = rq;
}

/* Unlinks a request from its loop's suspended list. */
static void loop_unlink(struct loop *l, struct request *rq)
{
	if (rq->prev)
		rq->prev->next = rq->next;
	else if (l->suspended == rq)
		l->suspended = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	rq->prev = rq->next = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: called once the request line is parsed, with
 * the raw request target; creates the request context. NULL on OOM (the
 * handler then refuses the connection). */
static void *server_uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct loop *l = cls;
	struct request *rq = calloc(1, sizeof *rq);

	if (!rq)
		return NULL;
	rq->target = strdup(uri ? uri : "");
	if (!rq->target) {
		free(rq);
		return NULL;
	}
	rq->loop = l;
	rq->gw = l->gw;
	rq->snap = atomic_load(&l->gw->snap);
	rq->conn = conn;
	rq->start_us = gw_now_us();
	rq->upstream_us = -1;
	rq->metrics_route = -1;
	rq->park_prio = -1;
	path_split(rq->target, &rq->path_len, &rq->query);
	l->live++;
	metrics_in_flight(1);
	return rq;
}

/* MHD_OPTION_NOTIFY_COMPLETED: frees the request context. */
static void server_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
				enum MHD_RequestTerminationCode toe)
{
	struct loop *l = cls;
	struct request *rq = *con_cls;

	(void)conn;
	(void)toe;
	if (!rq)
		return;
	*con_cls = NULL;
	if (rq->xfer) {
		/* cannot happen while suspended; defensive for daemon stop */
		upstream_xfer_cancel(rq->xfer);
		rq->xfer = NULL;
	}
	request_release(rq);
	free(rq);
	l->live--;
	metrics_in_flight(-1);
}

/* An identity unescaper: the gateway works on raw bytes and never uses
 * MHD's decoded URL or arguments. */
static size_t server_unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* Sets rq's answer to a gateway error (replacing none already set). */
void request_fail(struct request *rq, const char *code, const char *message, json_t *extra)
{
	if (rq->reply) {
		json_decref(extra);
		return;
	}
	rq->reply = reply_error(code, message, extra);
	rq->reply_status = reply_status_for(code);
	rq->error_code = code;
	ui_note_refusal(rq, code, message);
}

/* Sets rq's answer (the response reference is taken). */
void request_answer(struct request *rq, unsigned int status, struct MHD_Response *resp)
{
	if (rq->reply) {
		if (resp)
			MHD_destroy_response(resp);
		return;
	}
	rq->reply = resp;
	rq->reply_status = status;
}

/* Queues rq's answer with the headers every answer carries, and logs the
 * request. Returns MHD's verdict. */
static enum MHD_Result server_queue(struct request *rq)
{
	enum MHD_Result ret;

	if (!rq->reply) {
		rq->reply = reply_error("upstream_unavailable", "out of memory", NULL);
		rq->reply_status = 502;
		if (!rq->reply)
			return MHD_NO;
	}
	MHD_add_response_header(rq->reply, "X-Request-Id", rq->request_id);
	MHD_add_response_header(rq->reply, "X-Gateway-Client", rq->client ? rq->client : "-");
	if (atomic_load(&rq->gw->stopping) && rq->reply_status != MHD_HTTP_SWITCHING_PROTOCOLS)
		MHD_add_response_header(rq->reply, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(rq->conn, rq->reply_status, rq->reply);
	MHD_destroy_response(rq->reply);
	rq->reply = NULL;
	atomic_fetch_add(&rq->gw->requests_total, 1);
	if (rq->error_code)
		atomic_fetch_add(&rq->gw->requests_rejected, 1);
	{
		long total = (long)(gw_now_us() - rq->start_us);
		enum metrics_route mr = (enum metrics_route)rq->metrics_route;
		if (rq->metrics_route < 0)
			mr = rq->route == PATH_ROUTE_PROXY ? (rq->is_write ? METRICS_ROUTE_WRITE : METRICS_ROUTE_READ)
			   : rq->route == PATH_ROUTE_SESSION || rq->route == PATH_ROUTE_SESSIONS ? METRICS_ROUTE_SESSION
			   : rq->route == PATH_ROUTE_NOT_FOUND ? METRICS_ROUTE_OTHER : METRICS_ROUTE_OPS;
		metrics_request(mr, rq->reply_status, rq->client, total, rq->upstream_us);
		log_request(rq->method, rq->target, (int)rq->reply_status, rq->client, rq->request_id,
			    total, rq->upstream_us, rq->error_code);
	}
	return ret;
}

/* Parses Content-Length when present; -1 when absent or malformed. */
static long long server_content_length(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	long long n;

	if (!v)
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0)
		return -1;
	return n;
}

struct server_fields {
	int bad;           /* a malformed field was seen */
	size_t cost;       /* bytes of the header block, SERVER_HEADER_BUDGET's way */
};

/* MHD header iterator: adds up the header block's cost, and flags and
 * stops at the first malformed field (policy/header.h). */
static enum MHD_Result server_field_it(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *value)
{
	struct server_fields *f = cls;

	(void)kind;
	f->cost += (key ? strlen(key) : 0) + (value ? strlen(value) : 0) + 4 +
		   SERVER_HEADER_LINE_COST;
	if (header_field_ok(key, value))
		return MHD_YES;
	f->bad = 1;
	return MHD_NO;
}

/*
 * First look at a request, once its headers are in: request id, path
 * rules, Host, Origin, declared body size and content type. Sets an error
 * answer when the request is refused (the body is then never read).
 */
static void server_check_headers(struct request *rq)
{
	struct MHD_Connection *c = rq->conn;
	const struct gw_conf *conf = rq->snap->conf;
	const char *host, *origin, *te, *why = NULL;
	long long clen = server_content_length(c);
	int has_body;
	struct server_fields fields = { 0, 0 };

	if (path_check(rq->target, rq->path_len, &why) < 0 ||
	    path_query_check(rq->query, &why) < 0) {
		request_fail(rq, "invalid_path", why, NULL);
		return;
	}
	if (!header_method_ok(rq->method)) {
		request_fail(rq, "invalid_request", "unsupported request method", NULL);
		return;
	}
	fields.cost = strlen(rq->target) + strlen(rq->method) + 12;
	MHD_get_connection_values(c, MHD_HEADER_KIND, server_field_it, &fields);
	if (!fields.bad && fields.cost > SERVER_HEADER_BUDGET) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "the request line and headers are too large: at most %d bytes, counting %d "
			 "for each header line", SERVER_HEADER_BUDGET, SERVER_HEADER_LINE_COST);
		request_fail(rq, "headers_too_large", msg, NULL);
		return;
	}
	if (fields.bad) {
		request_fail(rq, "invalid_request",
			     "malformed header field (name not a token, or a control byte in the value)",
			     NULL);
		return;
	}
	rq->route = path_classify(rq->target, rq->path_len);
	host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!browser_host_allowed(conf, host)) {
		request_fail(rq, "host_not_allowed",
			     "this Host is not in server.allowed_hosts", NULL);
		return;
	}
	origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (!browser_origin_allowed(conf, origin, host)) {
		request_fail(rq, "forbidden",
			     "cross-origin requests are refused (server.allowed_origins)", NULL);
		return;
	}
	te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (clen > conf->server.max_body_bytes) {
		char msg[128];
		snprintf(msg, sizeof msg, "request body of %lld bytes is over the limit of %ld",
			 clen, conf->server.max_body_bytes);
		request_fail(rq, "body_too_large", msg, NULL);
		return;
	}
	has_body = clen > 0 || (te && strcasecmp(te, "identity") != 0);
	if (has_body && !browser_is_json(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_CONTENT_TYPE))) {
		request_fail(rq, "unsupported_media_type",
			     "request bodies must be Content-Type: application/json", NULL);
		return;
	}
	if (atomic_load(&rq->gw->stopping))
		request_fail(rq, "shutting_down", "the gateway is stopping", NULL);
}

/* Appends an upload chunk to the request body, or counts it as discarded
 * once over server.max_body_bytes. Returns -1 when the client sent far too
 * much (the connection is then closed). */
static int server_take_body(struct request *rq, const char *data, size_t n)
{
	long cap = rq->snap->conf->server.max_body_bytes;

	if (rq->body_over || rq->body_len + n > (size_t)cap) {
		rq->body_over += n;
		return rq->body_over > (size_t)cap * SERVER_DISCARD_FACTOR ? -1 : 0;
	}
	if (rq->body_len + n + 1 > rq->body_cap) {
		size_t ncap = rq->body_cap ? rq->body_cap * 2 : 1024;
		char *nb;
		while (ncap < rq->body_len + n + 1)
			ncap *= 2;
		if (ncap > (size_t)cap + 1)
			ncap = (size_t)cap + 1;
		if (!(nb = realloc(rq->body, ncap)))
			return -1;
		rq->body = nb;
		rq->body_cap = ncap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
	return 0;
}

void request_unsent(struct request *rq)
{
	void (*fn)(struct request *) = rq->unsent;

	rq->unsent = NULL;
	if (fn)
		fn(rq);
}

void request_suspend(struct request *rq)
{
	if (rq->suspended)
		return;
	rq->suspended = 1;
	loop_link(rq->loop, rq);
	MHD_suspend_connection(rq->conn);
}

void request_resume(struct request *rq)
{
	if (!rq->suspended)
		return;
	rq->suspended = 0;
	loop_unlink(rq->loop, rq);
	MHD_resume_connection(rq->conn);
}

void request_park(struct request *rq, int prio)
{
	struct loop *l = rq->loop;

	if (rq->park_prio >= 0)
		return;
	rq->park_prio = prio;
	rq->park_next = NULL;
	rq->park_prev = l->parked_tail[prio];
	if (l->parked_tail[prio])
		l->parked_tail[prio]->park_next = rq;
	else
		l->parked[prio] = rq;
	l->parked_tail[prio] = rq;
	l->park_wake_ms = gw_now_ms();  /* look at the queue on the next pass */
}

void request_unpark(struct request *rq)
{
	struct loop *l = rq->loop;
	int p = rq->park_prio;

	if (p < 0)
		return;
	if (rq->park_prev)
		rq->park_prev->park_next = rq->park_next;
	else
		l->parked[p] = rq->park_next;
	if (rq->park_next)
		rq->park_next->park_prev = rq->park_prev;
	else
		l->parked_tail[p] = rq->park_prev;
	rq->park_prev = rq->park_next = NULL;
	rq->park_prio = -1;
}

/* dispatch_pick's view of a parked request. */
/* The parked requests that may take a turn now: a retry waiting out its
 * backoff is passed over, so it never holds the queue behind it. */
static struct request *loop_park_eligible(struct request *rq)
{
	int64_t now = gw_now_ms();

	while (rq && dispatch_backoff_until(rq, now))
		rq = rq->park_next;
	return rq;
}

static void *loop_park_next(void *rq)
{
	return loop_park_eligible(((struct request *)rq)->park_next);
}

static const char *loop_park_client(void *rq)
{
	return ((struct request *)rq)->client;
}

/*
 * Serves the rate-budget queues: priorities in order; within one, the
 * oldest request of the least recently served client, turns shared by
 * every loop (dispatch_pick). A queue stops at the request picked when the
 * budget cannot take it yet. Requests past their deadline anywhere in a
 * queue are answered (dispatch_due). Sets the next wake-up time.
 */
static void loop_serve_parked(struct loop *l)
{
	int64_t now = gw_now_ms(), next = 0;

	if (!l->park_wake_ms || now < l->park_wake_ms)
		return;
	for (int p = 0; p < DISPATCH_PRIO_COUNT; p++) {
		for (;;) {
			struct request *pick = dispatch_pick(l->gw, p, loop_park_eligible(l->parked[p]),
							     loop_park_next, loop_park_client);
			int64_t wait = 0;
			if (!pick)
				break;
			if (dispatch_try(pick, now, &wait)) {
				request_unpark(pick);
				continue;
			}
			if (wait > 0 && (!next || now + wait < next))
				next = now + wait;
			break;
		}
		/* deadlines anywhere in the queue */
		for (struct request *rq = l->parked[p], *nx; rq; rq = nx) {
			int64_t wait = 0, until = dispatch_backoff_until(rq, now);
			nx = rq->park_next;
			if (until && (!next || until < next))
				next = until;   /* its backoff ends: it may take a turn */
			if (dispatch_due(rq, now, &wait) == 1) {
				request_unpark(rq);
			} else if (wait > 0 && (!next || now + wait < next)) {
				next = now + wait;
			}
		}
	}
	l->park_wake_ms = next;
}

void request_suspend_external(struct request *rq)
{
	rq->handed_off = 1;
	atomic_fetch_add(&rq->loop->xsuspended, 1);
	MHD_suspend_connection(rq->conn);
}

void request_resume_external(struct request *rq)
{
	struct loop *l = rq->loop;

	uint64_t one = 1;

	MHD_resume_connection(rq->conn);
	atomic_fetch_sub(&l->xsuspended, 1);
	/* libmicrohttpd's own signal does not reach our epoll set in
	 * external-epoll mode: wake the loop so MHD_run picks the resume up */
	if (write(l->wake_fd, &one, sizeof one) < 0) {
		/* the loop still runs MHD at least once a second */
	}
}

struct upstream_pool *request_pool(struct request *rq)
{
	return rq->loop->pool;
}

struct loop *request_hold(struct request *rq)
{
	atomic_fetch_add(&rq->loop->xsuspended, 1);
	return rq->loop;
}

void request_unhold(struct loop *l, struct MHD_UpgradeResponseHandle *urh)
{
	uint64_t one = 1;

	if (urh)
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	atomic_fetch_sub(&l->xsuspended, 1);
	/* as in request_resume_external: make MHD_run see the close */
	if (write(l->wake_fd, &one, sizeof one) < 0) {
		/* the loop still runs MHD at least once a second */
	}
}

/* Routes a complete request to its handler. The handler either answers
 * (request_answer/request_fail) or suspends the connection. */
static void server_dispatch(struct request *rq)
{
	switch (rq->route) {
	case PATH_ROUTE_PROXY:
		proxy_handle(rq);
		break;
	case PATH_ROUTE_SESSION:
	case PATH_ROUTE_SESSIONS:
		sessions_handle(rq);
		break;
	case PATH_ROUTE_HEALTHZ:
	case PATH_ROUTE_READYZ:
	case PATH_ROUTE_METRICS:
	case PATH_ROUTE_UI:
		ops_handle(rq);
		break;
	case PATH_ROUTE_WS:
		ws_handle(rq);
		break;
	case PATH_ROUTE_NOT_FOUND:
	default:
		request_fail(rq, "not_found", "no such endpoint", NULL);
		break;
	}
}

/* The libmicrohttpd access handler: see the request phases in request.h. */
static enum MHD_Result server_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct loop *l = cls;
	struct request *rq = *con_cls;

	(void)url;
	(void)version;
	if (!rq)
		return MHD_NO;
	if (rq->phase == REQ_NEW) {
		const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
		rq->phase = REQ_BODY;
		snprintf(rq->method, sizeof rq->method, "%s", method);
		if (request_id_ok(rid))
			snprintf(rq->request_id, sizeof rq->request_id, "%s", rid);
		else
			snprintf(rq->request_id, sizeof rq->request_id, "%016" PRIx64 "%016" PRIx64,
				 loop_rand(l), loop_rand(l));
		rq->is_write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
			       strcmp(method, "OPTIONS") != 0;
		server_check_headers(rq);
		if (rq->reply)
			return server_queue(rq);
		ops_identify(rq);
		if (rq->reply)
			return server_queue(rq);
		return MHD_YES;
	}
	if (*upload_data_size) {
		int rc = server_take_body(rq, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return rc < 0 ? MHD_NO : MHD_YES;
	}
	if (rq->phase == REQ_BODY) {
		rq->phase = REQ_DISPATCHED;
		if (rq->body_over) {
			char msg[128];
			snprintf(msg, sizeof msg, "request body is over the limit of %ld bytes",
				 rq->snap->conf->server.max_body_bytes);
			request_fail(rq, "body_too_large", msg, NULL);
		} else if (atomic_load(&rq->gw->stopping)) {
			request_fail(rq, "shutting_down", "the gateway is stopping", NULL);
		} else {
			server_dispatch(rq);
		}
		/* handed to the upstream or another thread: answered on resume
		 * (which may already have happened on another thread, so the
		 * flags, never the answer, decide) */
		if (rq->suspended || rq->handed_off)
			return MHD_YES;
	}
	return server_queue(rq);
}

/* Opens one listening socket on the configured address with SO_REUSEPORT.
 * Returns the fd or -1 with err filled. */
static int server_listen_socket(const struct gw_conf *c, int port, int reuseport,
				char *err, size_t errlen)
{
	struct sockaddr_storage ss = c->listen_addr;
	int fd, one = 1;

	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, c->listen_addr_len) < 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", c->listen_host, port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (reuseport && listen(fd, 1024) < 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", c->listen_host, port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The port a socket is bound to. */
static int server_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * Loop l's share of upstream.max_connections: the total, less the two the
 * background threads keep, split evenly across the loops (the first ones
 * take the remainder), so the process never holds more connections (nor
 * makes more TLS handshakes at once) than the setting; at least 1 per loop, so with fewer connections than loops
 * each loop still holds one. A shared pool would need a lock and a
 * cross-thread hand-off on every request; a split keeps a request on its
 * thread from accept to reply.
 */
#define SERVER_BACKGROUND_CONNECTIONS 2  /* the readiness probe's, the sessions worker's */

static long loop_upstream_share(const struct loop *l)
{
	long n = l->server->nloops;
	/* the background threads' connections count against the setting too,
	 * as long as every loop is left at least one */
	long total = l->gw->up.max_connections;

	if (total - SERVER_BACKGROUND_CONNECTIONS >= n)
		total -= SERVER_BACKGROUND_CONNECTIONS;
	long share = total / n + (l->id < total % n ? 1 : 0);

	return share > 0 ? share : 1;
}

/* Creates loop l's epoll set, wake fd, MHD daemon and upstream pool. */
static int loop_init(struct loop *l, char *err, size_t errlen)
{
	const struct gw_conf *c = l->gw->conf;
	const union MHD_DaemonInfo *info;
	struct epoll_event ev;
	unsigned int conn_limit;

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wake_fd < 0) {
		snprintf(err, errlen, "cannot create epoll set: %s", strerror(errno));
		return -1;
	}
	if (getrandom(&l->rng, sizeof l->rng, 0) != (ssize_t)sizeof l->rng)
		l->rng = (uint64_t)gw_now_us() ^ ((uint64_t)l->id << 48);
	conn_limit = (unsigned int)((c->server.max_connections + l->server->nloops - 1) /
				    l->server->nloops);
	l->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
				  MHD_USE_TURBO |
				  MHD_USE_ERROR_LOG,
				  0, NULL, NULL, server_handler, l,
				  MHD_OPTION_LISTEN_SOCKET, l->listen_fd,
				  MHD_OPTION_URI_LOG_CALLBACK, server_uri_cb, l,
				  MHD_OPTION_NOTIFY_COMPLETED, server_completed_cb, l,
				  MHD_OPTION_UNESCAPE_CALLBACK, server_unescape_cb, l,
				  MHD_OPTION_CONNECTION_LIMIT, conn_limit,
				  MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned int)c->server.connection_timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_MEMORY,
				  MHD_OPTION_STRICT_FOR_CLIENT, 1,
				  MHD_OPTION_END);
	if (!l->mhd) {
		snprintf(err, errlen, "cannot start the HTTP server");
		return -1;
	}
	info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		snprintf(err, errlen, "libmicrohttpd has no epoll support");
		return -1;
	}
	l->mhd_fd = info->epoll_fd;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = l->mhd_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->mhd_fd, &ev) < 0)
		goto epoll_fail;
	ev.data.fd = l->wake_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0)
		goto epoll_fail;
	l->pool = upstream_pool_new(l->epfd, &l->gw->up, loop_upstream_share(l), err, errlen);
	if (!l->pool)
		return -1;
	return 0;
epoll_fail:
	snprintf(err, errlen, "cannot watch sockets: %s", strerror(errno));
	return -1;
}

/* Aborts every request still waiting for the upstream at the end of the
 * drain: 504 with an unknown outcome if anything was sent, else 503. */
static void loop_abort_waiting(struct loop *l)
{
	while (l->suspended) {
		struct request *rq = l->suspended;
		int sent = rq->xfer && upstream_xfer_sent(rq->xfer);
		request_unpark(rq);  /* queued work is answered 503 shutting_down */
		if (rq->xfer) {
			upstream_xfer_cancel(rq->xfer);
			rq->xfer = NULL;
		}
		if (sent) {
			request_fail(rq, "upstream_timeout",
				     "the gateway stopped before the upstream answered", NULL);
			if (rq->is_write && rq->reply)
				MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "unknown");
		} else {
			request_fail(rq, "shutting_down", "the gateway is stopping", NULL);
			request_unsent(rq);
		}
		request_resume(rq);
	}
}

/* Starts the drain once the stop flag is seen: stop accepting. */
static void loop_begin_stop(struct loop *l)
{
	MHD_socket fd;

	if (l->quiesced)
		return;
	l->quiesced = 1;
	fd = MHD_quiesce_daemon(l->mhd);
	if (fd != MHD_INVALID_SOCKET) {
		close(fd);
		l->listen_fd = -1;
	}
	l->drain_deadline_ms = gw_now_ms() + l->gw->conf->server.shutdown_timeout_ms;
	l->flush_deadline_ms = -1;
	/* queued work was never sent: answer it now */
	for (int p = 0; p < DISPATCH_PRIO_COUNT; p++)
		while (l->parked[p]) {
			struct request *rq = l->parked[p];
			request_unpark(rq);
			request_fail(rq, "shutting_down", "the gateway is stopping; the request was not sent", NULL);
			request_unsent(rq);
			request_resume(rq);
		}
	l->park_wake_ms = 0;
}

/* The event loop: epoll over MHD, curl sockets and the wake fd. */
static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct epoll_event evs[64];
	char tname[16];

	snprintf(tname, sizeof tname, "gw-loop-%d", l->id % 100);
	pthread_setname_np(pthread_self(), tname);
	for (;;) {
		long timeout = 1000, ct;
		MHD_UNSIGNED_LONG_LONG mt;
		int n;

		if (MHD_get_timeout(l->mhd, &mt) == MHD_YES)
			timeout = mt < 1000 ? (long)mt : 1000;
		ct = upstream_pool_timeout_ms(l->pool);
		if (ct >= 0 && (timeout < 0 || ct < timeout))
			timeout = ct;
		if (l->quiesced && (timeout < 0 || timeout > 50))
			timeout = 50;
		if (l->park_wake_ms) {
			int64_t pw = l->park_wake_ms - gw_now_ms();
			if (pw < 0)
				pw = 0;
			if (timeout < 0 || pw < timeout)
				timeout = (long)pw;
		}
		n = epoll_wait(l->epfd, evs, 64, (int)timeout);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == l->mhd_fd)
				continue;
			if (fd == l->wake_fd) {
				uint64_t v;
				if (read(l->wake_fd, &v, sizeof v) < 0) {
					/* spurious wake: nothing to read */
				}
				continue;
			}
			upstream_pool_socket_event(l->pool, fd, evs[i].events);
		}
		if (upstream_pool_timeout_ms(l->pool) == 0)
			upstream_pool_timeout(l->pool);
		if (!atomic_load(&l->gw->stopping))
			loop_serve_parked(l);
		if (atomic_load(&l->gw->stopping))
			loop_begin_stop(l);
		if (l->quiesced) {
			int64_t now = gw_now_ms();
			if (l->suspended && now >= l->drain_deadline_ms)
				loop_abort_waiting(l);
			if (!l->suspended && l->flush_deadline_ms < 0)
				l->flush_deadline_ms = now + SERVER_FLUSH_MS;
		}
		MHD_run(l->mhd);
		if (l->quiesced && !l->suspended && atomic_load(&l->xsuspended) == 0 &&
		    (l->live == 0 || gw_now_ms() >= l->flush_deadline_ms))
			break;
	}
	return NULL;
}

struct server *server_new(struct gw *gw, int nthreads, int *port_out, char *err, size_t errlen)
{
	const struct gw_conf *c = gw->conf;
	struct server *s = calloc(1, sizeof *s);
	int port = c->listen_port;

	if (!s || !(s->loops = calloc((size_t)nthreads, sizeof *s->loops))) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	s->gw = gw;
	s->nloops = nthreads;
	for (int i = 0; i < nthreads; i++) {
		s->loops[i].epfd = s->loops[i].wake_fd = s->loops[i].listen_fd = -1;
		s->loops[i].mhd_fd = -1;
	}
	if (port != 0) {
		/* A plain bind first: fails if anyone, even another gateway with
		 * SO_REUSEPORT, already listens there. */
		int probe = server_listen_socket(c, port, 0, err, errlen);
		if (probe < 0)
			goto fail;
		close(probe);
	}
	for (int i = 0; i < nthreads; i++) {
		struct loop *l = &s->loops[i];
		l->server = s;
		l->gw = gw;
		l->id = i;
		l->listen_fd = server_listen_socket(c, port, 1, err, errlen);
		if (l->listen_fd < 0)
			goto fail;
		if (port == 0)
			port = server_bound_port(l->listen_fd);
		if (loop_init(l, err, errlen) < 0)
			goto fail;
	}
	*port_out = port;
	return s;
fail:
	server_free(s);
	return NULL;
}

int server_start(struct server *s, char *err, size_t errlen)
{
	if (ws_start(s->gw, err, errlen) < 0)
		return -1;
	for (int i = 0; i < s->nloops; i++) {
		int rc = pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start thread: %s", strerror(rc));
			return -1;
		}
		s->loops[i].started = 1;
	}
	return 0;
}

void server_request_stop(struct server *s)
{
	uint64_t one = 1;

	for (int i = 0; i < s->nloops; i++)
		if (s->loops[i].wake_fd >= 0 && write(s->loops[i].wake_fd, &one, sizeof one) < 0) {
			/* the loop also polls the stop flag every few ms while draining */
		}
}

void server_join(struct server *s)
{
	for (int i = 0; i < s->nloops; i++)
		if (s->loops[i].started) {
			pthread_join(s->loops[i].thread, NULL);
			s->loops[i].started = 0;
		}
}

void server_free(struct server *s)
{
	if (!s)
		return;
	/* the relay gives its upgraded sockets back before the daemons stop */
	ws_stop();
	for (int i = 0; i < s->nloops; i++) {
		struct loop *l = &s->loops[i];
		if (l->mhd) {
			/* resume anything still suspended: MHD refuses to stop otherwise */
			loop_abort_waiting(l);
			MHD_stop_daemon(l->mhd);
		} else if (l->listen_fd >= 0) {
			close(l->listen_fd);
		}
		upstream_pool_free(l->pool);
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wake_fd >= 0)
			close(l->wake_fd);
	}
	free(s->loops);
	free(s);
}

void request_release(struct request *rq)
{
	if (rq->reply) {
		MHD_destroy_response(rq->reply);
		rq->reply = NULL;
	}
	if (rq->ctx_free && rq->ctx)
		rq->ctx_free(rq->ctx);
	rq->ctx = NULL;
	dispatch_free(rq->dispatch);
	rq->dispatch = NULL;
	free(rq->body);
	rq->body = NULL;
	free(rq->target);
	rq->target = NULL;
}
