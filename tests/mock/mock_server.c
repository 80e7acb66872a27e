/*
 * mock_server.c - libmicrohttpd front end: raw URI capture, body reading,
 * recording, fault injection, signature enforcement and dispatch.
 */
#include "tests/mock/mock_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "tests/mock/mock_api.h"
#include "tests/mock/mock_auth.h"
#include "tests/mock/mock_fault.h"
#include "tests/mock/mock_log.h"
#include "tests/mock/mock_rate.h"
#include "tests/mock/mock_ws.h"

#define SERVER_MAX_BODY (8u * 1024u * 1024u)
#define SERVER_CONN_LIMIT 2000u
#define SERVER_IDLE_TIMEOUT_S 300u
#define SERVER_STACK_SIZE ((size_t)1024 * 1024)

struct mock_server {
	struct MHD_Daemon *daemon;
	struct mock_ctx *ctx;
	uint16_t port;
};

/* Per-request state, created by the URI log callback and freed when the
 * request completes. */
struct server_req {
	char *uri;          /* raw request target as on the request line */
	char *body;
	size_t len, cap;
	bool started;       /* first access-handler call seen */
	bool counted;       /* counted in flight (not a control request) */
	bool control;       /* under /_mock/ */
	bool too_large;     /* body over SERVER_MAX_BODY: answer 413 */
};

/* libmicrohttpd URI log callback: keeps the raw request target; its return
 * value becomes the request's context. NULL when out of memory (the access
 * handler then refuses the request). */
static void *server_uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct server_req *r = calloc(1, sizeof(*r));

	(void)cls;
	(void)c;
	if (r == NULL)
		return NULL;
	r->uri = strdup(uri ? uri : "");
	if (r->uri == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

/* libmicrohttpd completion callback: leaves the in-flight count and frees
 * the request's context. */
static void server_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			     enum MHD_RequestTerminationCode toe)
{
	struct mock_server *s = cls;
	struct server_req *r = *con_cls;

	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	if (r->counted)
		mock_log_leave(s->ctx->log);
	free(r->uri);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* Header iterator: adds one header to the JSON object in cls under its
 * lower-case name; repeated headers are joined with ", ". */
static enum MHD_Result server_header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	json_t *obj = cls, *old;
	char name[256];
	size_t i;

	(void)kind;
	for (i = 0; key[i] && i + 1 < sizeof(name); i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[i] = '\0';
	old = json_object_get(obj, name);
	if (old != NULL && json_is_string(old)) {
		size_t n = json_string_length(old) + 2 + strlen(value ? value : "") + 1;
		char *joined = malloc(n);
		if (joined != NULL) {
			snprintf(joined, n, "%s, %s", json_string_value(old), value ? value : "");
			json_object_set_new(obj, name, json_string(joined));
			free(joined);
		}
	} else {
		json_t *v = json_string(value ? value : "");
		json_object_set_new(obj, name, v ? v : json_string("?"));
	}
	return MHD_YES;
}

/* Appends upload data to the request body, switching to too_large (and
 * dropping the body) once it would exceed SERVER_MAX_BODY. */
static void server_append(struct server_req *r, const char *data, size_t n)
{
	if (r->too_large)
		return;
	if (r->len + n > SERVER_MAX_BODY) {
		r->too_large = true;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return;
	}
	if (r->len + n + 1 > r->cap) {
		size_t ncap = r->cap ? r->cap : 1024;
		char *p;
		while (ncap < r->len + n + 1)
			ncap *= 2;
		p = realloc(r->body, ncap);
		if (p == NULL) {
			r->too_large = true;
			return;
		}
		r->body = p;
		r->cap = ncap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
}

/* Queues reply on the connection (ownership of the body passes to
 * libmicrohttpd). Returns libmicrohttpd's verdict. */
static enum MHD_Result server_queue(struct MHD_Connection *c, struct mock_reply *reply)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (reply->body != NULL) {
		resp = MHD_create_response_from_buffer(reply->body_len, reply->body,
						       MHD_RESPMEM_MUST_FREE);
		if (resp != NULL)
			reply->body = NULL;
	} else {
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	if (resp == NULL)
		return MHD_NO;
	if (reply->body_len > 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	rc = MHD_queue_response(c, reply->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Returns the connection's socket, or -1. */
static int server_fd(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

/* Holds the request without answering until the client closes its side,
 * max_ms pass, or the mock stops; checks every 20 ms. */
static void server_hang(struct mock_ctx *ctx, struct MHD_Connection *c, long max_ms)
{
	int fd = server_fd(c);
	int64_t until = mock_mono_ms() + max_ms;

	while (!atomic_load(&ctx->stopping) && mock_mono_ms() < until) {
		struct pollfd p = { .fd = fd, .events = POLLRDHUP, .revents = 0 };
		if (fd < 0) {
			mock_sleep(ctx, 20);
			continue;
		}
		if (poll(&p, 1, 20) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			break;
	}
}

/* Writes bytes that are not an HTTP response straight to the socket (the
 * caller then has libmicrohttpd close it). In TLS mode this corrupts the TLS
 * stream, which the client sees as a TLS error. Write errors are ignored. */
static void server_garbage(struct MHD_Connection *c)
{
	static const char junk[] = "\x00\xff\xfeGARBAGE this is not HTTP\r\n\r\n{\"error\":";
	int fd = server_fd(c);

	if (fd >= 0)
		(void)send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL);
}

/* Sets reply to a 200 whose body is a valid JSON object of about bytes
 * bytes ({"ok":true,"padding":"xxx..."}); a 500 when out of memory. */
static void server_big(struct mock_reply *reply, size_t bytes)
{
	static const char head[] = "{\"ok\":true,\"padding\":\"";
	static const char tail[] = "\"}";
	size_t h = sizeof(head) - 1, t = sizeof(tail) - 1;
	char *buf;

	if (bytes < h + t)
		bytes = h + t;
	buf = malloc(bytes);
	if (buf == NULL) {
		mock_reply_error(reply, 500, "internal", "mock out of memory", NULL);
		return;
	}
	memcpy(buf, head, h);
	memset(buf + h, 'x', bytes - h - t);
	memcpy(buf + bytes - t, tail, t);
	mock_reply_release(reply);
	reply->status = 200;
	reply->body = buf;
	reply->body_len = bytes;
}

/* Answers a recorded request normally: 413 for an oversized body, 401 when
 * the signature is required or present and does not verify, else the API. */
static void server_dispatch(struct mock_ctx *ctx, const struct mock_request *rq,
			    const struct server_req *r, enum mock_sig_result sig,
			    const char *why, struct mock_reply *reply)
{
	if (r->too_large) {
		mock_reply_error(reply, 413, "body_too_large", "request body is too large", NULL);
		return;
	}
	if (mock_auth_enforcing(ctx->auth) &&
	    (sig == MOCK_SIG_INVALID ||
	     (sig == MOCK_SIG_ABSENT && !mock_auth_is_public(rq->path)))) {
		mock_reply_error(reply, 401, "unauthorized", "invalid or missing request signature",
				 why);
		return;
	}
	mock_api_handle(ctx, rq, reply);
}

/* Handles a fully read request: control requests go straight to the
 * control API; others are recorded, subjected to the fault, then
 * dispatched. Returns MHD_NO to drop the connection without an answer. */
static enum MHD_Result server_finish(struct mock_server *s, struct MHD_Connection *c,
				     const char *method, struct server_req *r)
{
	struct mock_ctx *ctx = s->ctx;
	struct mock_reply reply = { 0, NULL, 0 };
	struct mock_fault_action act;
	struct mock_request rq;
	enum mock_sig_result sig;
	enum MHD_Result rc = MHD_NO;
	const char *q = strchr(r->uri, '?');
	char *path = strndup(r->uri, q ? (size_t)(q - r->uri) : strlen(r->uri));
	char why[256] = "";
	json_t *headers;
	uint64_t seq;
	bool faulted;

	if (path == NULL)
		return MHD_NO;
	rq.method = method;
	rq.path = path;
	rq.query = q ? q + 1 : NULL;
	rq.body = r->body ? r->body : "";
	rq.body_len = r->len;
	if (r->control && strcmp(path, "/_mock/ws") == 0) {
		mock_ws_control(&reply, strcmp(method, "DELETE") == 0);
		rc = server_queue(c, &reply);
		goto out;
	}
	if (r->control) {
		mock_control_handle(ctx, &rq, &reply);
		rc = server_queue(c, &reply);
		goto out;
	}
	sig = mock_auth_check(ctx->auth, method, path,
			      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "KALSHI-ACCESS-KEY"),
			      MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							  "KALSHI-ACCESS-TIMESTAMP"),
			      MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							  "KALSHI-ACCESS-SIGNATURE"),
			      mock_now_ms(), why, sizeof(why));
	headers = json_object();
	if (headers != NULL)
		MHD_get_connection_values(c, MHD_HEADER_KIND, server_header_cb, headers);
	seq = mock_log_add(ctx->log, method, path, rq.query, headers, rq.body, rq.body_len,
			   sig == MOCK_SIG_VALID);

	faulted = mock_faults_take(ctx->faults, path, &act);
	if (faulted) {
		switch (act.mode) {
		case MOCK_FAULT_DELAY:
			mock_sleep(ctx, act.delay_ms);
			break;
		case MOCK_FAULT_HANG:
		case MOCK_FAULT_RESET:
		case MOCK_FAULT_GARBAGE:
			if (act.process) {
				server_dispatch(ctx, &rq, r, sig, why, &reply);
				mock_reply_release(&reply);
			}
			if (act.mode == MOCK_FAULT_HANG)
				server_hang(ctx, c, act.delay_ms);
			else if (act.mode == MOCK_FAULT_GARBAGE)
				server_garbage(c);
			mock_fault_action_release(&act);
			rc = MHD_NO;
			goto out;
		case MOCK_FAULT_STATUS:
			if (act.process) {
				/* the request takes effect, then the status is answered
				 * (e.g. a 429 for an order that was placed) */
				server_dispatch(ctx, &rq, r, sig, why, &reply);
				mock_reply_release(&reply);
			}
			reply.status = act.status;
			reply.body = act.body;
			reply.body_len = act.body ? strlen(act.body) : 0;
			act.body = NULL;
			break;
		case MOCK_FAULT_BIG:
			server_big(&reply, act.bytes);
			break;
		case MOCK_FAULT_NONE:
			break;
		}
		mock_fault_action_release(&act);
	}
	if ((!faulted || act.mode == MOCK_FAULT_DELAY || act.mode == MOCK_FAULT_NONE) &&
	    mock_ws_is_path(path)) {
		unsigned int st = 0;
		rc = mock_ws_answer(ctx, c, sig, why, &st);
		mock_log_set_status(ctx->log, seq, rc == MHD_YES ? st : 0);
		goto out;
	}
	if ((!faulted || act.mode == MOCK_FAULT_DELAY || act.mode == MOCK_FAULT_NONE) &&
	    !mock_rate_admit(ctx->rate, method, path, rq.body, rq.body_len)) {
		/* over the account's budget: Kalshi's 429, no Retry-After */
		reply.status = 429;
		reply.body = strdup("{\"error\": \"too many requests\"}");
		reply.body_len = reply.body ? strlen(reply.body) : 0;
	} else if (!faulted || act.mode == MOCK_FAULT_DELAY || act.mode == MOCK_FAULT_NONE) {
		server_dispatch(ctx, &rq, r, sig, why, &reply);
	}
	rc = server_queue(c, &reply);
	mock_log_set_status(ctx->log, seq, rc == MHD_YES ? reply.status : 0);
out:
	mock_reply_release(&reply);
	free(path);
	return rc;
}

/* libmicrohttpd access handler: counts the request on the first call,
 * accumulates the body, and answers on the last call. */
static enum MHD_Result server_access(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **con_cls)
{
	struct mock_server *s = cls;
	struct server_req *r = *con_cls;

	(void)url;
	(void)version;
	if (r == NULL)
		return MHD_NO;
	if (!r->started) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		r->started = true;
		r->control = strncmp(r->uri, "/_mock/", 7) == 0;
		if (!r->control) {
			mock_log_enter(s->ctx->log);
			r->counted = true;
		}
		if (cl != NULL && strtoull(cl, NULL, 10) > SERVER_MAX_BODY)
			r->too_large = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		server_append(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return server_finish(s, c, method, r);
}

/* See mock_server.h. */
struct mock_server *mock_server_start(struct mock_ctx *ctx, const struct mock_server_opts *o,
				      char *err, size_t errlen)
{
	struct mock_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	struct MHD_OptionItem tls[3] = {
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL } };
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_ALLOW_UPGRADE;
	const union MHD_DaemonInfo *info;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ctx = ctx;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(o->port);
	if (inet_pton(AF_INET, strcmp(o->host, "localhost") == 0 ? "127.0.0.1" : o->host,
		      &sa.sin_addr) != 1) {
		snprintf(err, errlen, "invalid IPv4 address '%s'", o->host);
		goto fail;
	}
	if (o->verbose)
		flags |= MHD_USE_ERROR_LOG;
	if (o->tls_cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "this libmicrohttpd has no TLS support");
			goto fail;
		}
		flags |= MHD_USE_TLS;
		tls[0].option = MHD_OPTION_HTTPS_MEM_KEY;
		tls[0].ptr_value = o->tls_key;
		tls[1].option = MHD_OPTION_HTTPS_MEM_CERT;
		tls[1].ptr_value = o->tls_cert;
	}
	s->daemon = MHD_start_daemon(
		flags, o->port, NULL, NULL, server_access, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_URI_LOG_CALLBACK, server_uri_cb, s,
		MHD_OPTION_NOTIFY_COMPLETED, server_completed, s,
		MHD_OPTION_CONNECTION_LIMIT, SERVER_CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, SERVER_IDLE_TIMEOUT_S,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_THREAD_STACK_SIZE, SERVER_STACK_SIZE,
		MHD_OPTION_ARRAY, tls,
		MHD_OPTION_END);
	if (s->daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%u (in use, or bad TLS key/cert)",
			 o->host, (unsigned int)o->port);
		goto fail;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : o->port;
	return s;
fail:
	free(s);
	return NULL;
}

/* See mock_server.h. */
uint16_t mock_server_port(const struct mock_server *s)
{
	return s->port;
}

/* See mock_server.h. */
void mock_server_stop(struct mock_server *s)
{
	if (s == NULL)
		return;
	mock_ws_wait_all();   /* upgraded sessions give their sockets back first */
	MHD_stop_daemon(s->daemon);
	free(s);
}
