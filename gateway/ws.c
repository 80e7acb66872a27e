/* ws: see ws.h. */
#include "gateway/ws.h"
#include "gateway/audit.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "upstream/signer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_HEAD_CAP (16 * 1024)   /* upstream answer head */
#define WS_BODY_CAP (64 * 1024)   /* upstream refusal body kept */
#define WS_FWD_CAP 8192           /* client Sec-WebSocket-* header bytes */
#define WS_LINGER_MS 3000         /* after one side ended, wait for the other */
#define WS_STEP_BYTES (256 * 1024) /* moved per connection before others get a turn */
#define WS_SCAN_MS 100            /* deadlines, idle and the stop flag are checked this often */
#define WS_DNS_TTL_MS 30000
#define WS_MAX_ADDRS 8
#define WS_EVENTS 256

enum ws_state {
	WS_RESOLVE = 0,  /* waiting for the resolver */
	WS_CONNECT,      /* TCP connect in progress */
	WS_TLS,          /* TLS handshake */
	WS_SEND,         /* sending the upgrade request */
	WS_RECV,         /* reading the answer */
	WS_AWAIT,        /* 101 queued to the client, waiting for libmicrohttpd's socket */
	WS_RELAY,        /* pumping bytes */
	WS_DONE          /* finished (upstream closed); may still get a loop event */
};

struct ws_conn;

/* epoll data: which side of which connection. */
struct ws_end {
	struct ws_conn *c;
	int upstream;
};

/* A bounded byte buffer; data is allocated on first use (WS_BUF_CAP). */
struct ws_buf {
	char *data;
	size_t start, end;
};

struct ws_conn {
	atomic_int refs;                   /* request + pump + inbox */

	/* under ws->lock: events posted by loop threads */
	struct ws_conn *inbox_next;
	int in_inbox;
	int ev_new, ev_upgraded, ev_abandoned;
	int up_sock;                       /* the client socket, with ev_upgraded */
	struct MHD_UpgradeResponseHandle *up_urh;
	char *extra;                       /* bytes MHD read past the request */
	size_t extra_len;
	int extra_lost;                    /* could not copy them */

	/* the request's loop thread */
	int upgraded;                      /* the upgrade handler ran */
	struct loop *loop;                 /* from request_hold */

	/* immutable after ws_handle */
	char *client;
	char request_id[72];
	char *fwd;                         /* the client's Sec-WebSocket-* lines */
	char *query;                       /* raw query or NULL */
	long idle_ms;

	/* pump thread only */
	struct ws_conn *prev, *next;       /* live connections */
	struct ws_conn *ready_next;
	int in_ready;
	struct ws_conn *dead_next;
	enum ws_state state;
	struct request *rq;                /* until answered (suspended meanwhile) */
	struct ws_end ends[2];             /* [0] client, [1] upstream */
	struct sockaddr_storage addrs[WS_MAX_ADDRS];
	socklen_t addr_lens[WS_MAX_ADDRS];
	int naddrs, addr_i;
	int ufd;
	SSL *ssl;
	char *out;                         /* upgrade request being sent */
	size_t out_len, out_off;
	char *in;                          /* answer being read */
	size_t in_len, in_cap;
	int64_t deadline_ms;               /* handshake step deadline */
	int cfd;
	struct MHD_UpgradeResponseHandle *urh;
	struct ws_buf up, down;            /* client->upstream, upstream->client */
	int c_eof, u_eof, c_err, u_err;
	/* edge-triggered readiness: set by epoll events, cleared when a call
	 * would block, so the pump only calls what can make progress */
	int c_rd, c_wr, u_rd, u_wr;
	int c_hup, u_hup;                  /* the peer's FIN was seen: read to EOF */
	int reason;                        /* enum ws_close_reason, -1 = none yet */
	int64_t linger_ms, last_ms, opened_ms;
	long long bytes_up, bytes_down;
	int counted;                       /* holds an admission slot */
	int relayed;                       /* counted in ws_relayed */
};

/* Connections per client name, for ws.max_per_client (under ws->lock). */
struct ws_client_count {
	char *name;
	long n;
};

struct ws {
	struct gw *gw;
	char url[512];
	int tls;
	char host[256];                    /* no brackets */
	char port[8];
	char authority[300];               /* Host header */
	char path[512];                    /* request-line path, signed */
	int numeric;                       /* host is an address: no DNS */
	SSL_CTX *ssl_ctx;

	int epfd, evfd;
	pthread_t pump;
	int pump_started;
	atomic_int quit;

	pthread_mutex_t lock;
	struct ws_conn *inbox;
	long open;
	struct ws_client_count *counts;
	size_t ncounts;

	/* resolver (cache and request under lock) */
	pthread_t resolver;
	int resolver_started;
	pthread_cond_t rcond;
	int res_wanted, res_busy, res_stop;
	unsigned res_gen;
	struct sockaddr_storage cache[WS_MAX_ADDRS];
	socklen_t cache_lens[WS_MAX_ADDRS];
	int ncache;
	int64_t cache_until;
	char res_error[160];

	/* pump only */
	struct ws_conn *live, *ready, *dead;
	unsigned seen_gen;
	int64_t next_scan;
	char *scratch;                     /* drained input nobody will read */
};

static struct ws *ws_g;
static atomic_long ws_open_n, ws_relayed, ws_opened_total, ws_buffered;
static atomic_llong ws_bytes_up, ws_bytes_down;
static atomic_long ws_closes[WS_CLOSE_COUNT], ws_refused[WS_REFUSE_COUNT];

static const char *const ws_close_names[WS_CLOSE_COUNT] = {
	"client_closed", "upstream_closed", "client_error", "upstream_error", "idle_timeout",
	"shutdown",
};
static const char *const ws_refuse_names[WS_REFUSE_COUNT] = {
	"limit", "invalid", "upstream_status", "upstream_unavailable", "upstream_timeout",
	"shutting_down",
};

/* ---------------------------------------------------------------- helpers */

/* Wakes the pump (any thread). */
static void ws_wake(struct ws *w)
{
	uint64_t one = 1;

	if (write(w->evfd, &one, sizeof one) < 0) {
		/* the pump also wakes every WS_SCAN_MS */
	}
}

/* Drops one reference; the last frees the connection's memory (its
 * sockets are closed by then). Any thread. */
static void ws_conn_unref(struct ws_conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	free(c->client);
	free(c->fwd);
	free(c->query);
	free(c->extra);
	free(c->out);
	free(c->in);
	if (c->up.data || c->down.data)
		atomic_fetch_sub(&ws_buffered, (long)(c->up.end - c->up.start + c->down.end - c->down.start));
	free(c->up.data);
	free(c->down.data);
	free(c);
}

/* Queues c's posted events for the pump; caller holds ws->lock. */
static void ws_post_locked(struct ws *w, struct ws_conn *c)
{
	if (c->in_inbox)
		return;
	c->in_inbox = 1;
	atomic_fetch_add(&c->refs, 1);
	c->inbox_next = w->inbox;
	w->inbox = c;
}

/* Whether host is a loopback or literal address (for the certificate
 * check by IP). */
static int ws_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Parses upstream.ws_url (already validated by conf) into w. */
static int ws_parse_url(struct ws *w, const char *url, char *err, size_t errlen)
{
	const char *p, *auth, *slash, *hend;
	size_t alen;

	snprintf(w->url, sizeof w->url, "%s", url);
	if (strncmp(url, "wss://", 6) == 0) {
		w->tls = 1;
		p = url + 6;
	} else if (strncmp(url, "ws://", 5) == 0) {
		p = url + 5;
	} else {
		snprintf(err, errlen, "upstream.ws_url '%s' is not ws:// or wss://", url);
		return -1;
	}
	auth = p;
	slash = strchr(auth, '/');
	alen = slash ? (size_t)(slash - auth) : strlen(auth);
	if (alen == 0 || alen >= sizeof w->authority) {
		snprintf(err, errlen, "upstream.ws_url '%s' has no usable host", url);
		return -1;
	}
	memcpy(w->authority, auth, alen);
	w->authority[alen] = '\0';
	snprintf(w->path, sizeof w->path, "%s", slash ? slash : "/");
	{
		char *q = strchr(w->path, '?');
		if (q)
			*q = '\0';
	}
	if (w->authority[0] == '[') {
		hend = strchr(w->authority, ']');
		if (!hend) {
			snprintf(err, errlen, "upstream.ws_url '%s': unclosed '['", url);
			return -1;
		}
		snprintf(w->host, sizeof w->host, "%.*s", (int)(hend - w->authority - 1), w->authority + 1);
		p = hend + 1;
	} else {
		hend = strchr(w->authority, ':');
		snprintf(w->host, sizeof w->host, "%.*s",
			 (int)(hend ? (size_t)(hend - w->authority) : alen), w->authority);
		p = hend ? hend : w->authority + alen;
	}
	if (*p == ':')
		snprintf(w->port, sizeof w->port, "%s", p + 1);
	else
		snprintf(w->port, sizeof w->port, "%s", w->tls ? "443" : "80");
	return 0;
}

/* ------------------------------------------------------------- admission */

/* The slot of a client name in the per-client table; NULL on OOM. Caller
 * holds ws->lock. */
static struct ws_client_count *ws_count_slot(struct ws *w, const char *name)
{
	struct ws_client_count *nc;

	for (size_t i = 0; i < w->ncounts; i++)
		if (strcmp(w->counts[i].name, name) == 0)
			return &w->counts[i];
	nc = realloc(w->counts, (w->ncounts + 1) * sizeof *nc);
	if (!nc)
		return NULL;
	w->counts = nc;
	nc = &w->counts[w->ncounts];
	if (!(nc->name = strdup(name)))
		return NULL;
	nc->n = 0;
	w->ncounts++;
	return nc;
}

/* Gives back c's admission slot (pump thread). */
static void ws_release_slot(struct ws *w, struct ws_conn *c)
{
	struct ws_client_count *cc;

	if (!c->counted)
		return;
	c->counted = 0;
	pthread_mutex_lock(&w->lock);
	w->open--;
	cc = ws_count_slot(w, c->client);
	if (cc && cc->n > 0)
		cc->n--;
	pthread_mutex_unlock(&w->lock);
	atomic_fetch_sub(&ws_open_n, 1);
}

/* Appends "Name: value\r\n" for every client header the upstream must see
 * verbatim (MHD_KeyValueIterator). */
struct ws_fwd {
	char buf[WS_FWD_CAP];
	size_t len;
	int over;
};

/* MHD_KeyValueIterator over the request headers: collects the ones above. */
static enum MHD_Result ws_fwd_cb(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	static const char *const names[] = {
		"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
		"Sec-WebSocket-Extensions",
	};
	struct ws_fwd *f = cls;

	(void)kind;
	if (!key || !value)
		return MHD_YES;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(key, names[i]) != 0)
			continue;
		int n = snprintf(f->buf + f->len, sizeof f->buf - f->len, "%s: %s\r\n", key, value);
		if (n < 0 || (size_t)n >= sizeof f->buf - f->len)
			f->over = 1;
		else
			f->len += (size_t)n;
	}
	return MHD_YES;
}

/* Whether a comma-separated header value has token tok (any case). */
static int ws_has_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, tok, n) == 0 && (v[n] == '\0' || v[n] == ',' || v[n] == ' ' ||
						   v[n] == '\t'))
			return 1;
		v = strchr(v, ',');
	}
	return 0;
}

/* One audit record {"type":"ws","event":event,...} with the given extras. */
static void ws_audit(struct gw *gw, const char *event, const char *client, const char *request_id,
		     json_t *extra)
{
	json_t *a = json_object();

	json_object_set_new(a, "type", json_string("ws"));
	json_object_set_new(a, "event", json_string(event));
	json_object_set_new(a, "client", json_string(client ? client : "-"));
	json_object_set_new(a, "request_id", json_string(request_id));
	if (extra)
		json_object_update(a, extra);
	json_decref(extra);
	audit_record(gw->audit, a);
}

/* A refusal made on the loop thread before any upstream work. */
static void ws_refuse_early(struct request *rq, enum ws_refuse_reason why, const char *code,
			    const char *msg, json_t *extra)
{
	atomic_fetch_add(&ws_refused[why], 1);
	request_fail(rq, code, msg, extra);
	ws_audit(rq->gw, "refused", rq->client, rq->request_id,
		 json_pack("{s:s, s:i}", "reason", ws_refuse_names[why], "status",
			   (int)reply_status_for(code)));
}

/* Completion of the request (loop thread): a connection never upgraded is
 * dropped by the pump and stops holding the loop. After ws_stop (a request
 * completed by MHD_stop_daemon) there is no pump to tell. */
static void ws_ctx_free(void *p)
{
	struct ws_conn *c = p;
	struct ws *w = ws_g;

	if (!c->upgraded) {
		if (w) {
			pthread_mutex_lock(&w->lock);
			c->ev_abandoned = 1;
			ws_post_locked(w, c);
			pthread_mutex_unlock(&w->lock);
			ws_wake(w);
		}
		request_unhold(c->loop, NULL);
	}
	ws_conn_unref(c);
}

void ws_handle(struct request *rq)
{
	const struct gw_conf *conf = rq->snap->conf;
	struct ws *w = ws_g;
	const char *upg, *con;
	struct ws_client_count *cc;
	struct ws_fwd *fwd = NULL;
	struct ws_conn *c = NULL;
	const char *client = rq->client ? rq->client : "-";
	const char *limit = NULL;
	long allowed = 0;

	rq->metrics_route = METRICS_ROUTE_READ;
	upg = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	con = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	if (strcmp(rq->method, "GET") != 0 || !upg || !ws_has_token(upg, "websocket") ||
	    !con || !ws_has_token(con, "upgrade")) {
		ws_refuse_early(rq, WS_REFUSE_INVALID, "invalid_request",
				"/trade-api/ws/v2 takes a WebSocket upgrade: GET with Upgrade: websocket "
				"and Connection: Upgrade", NULL);
		return;
	}
	if (!w) {
		ws_refuse_early(rq, WS_REFUSE_UNAVAILABLE, "upstream_unavailable",
				"the WebSocket relay is not running", NULL);
		return;
	}
	fwd = calloc(1, sizeof *fwd);
	c = calloc(1, sizeof *c);
	if (!fwd || !c)
		goto oom;
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, ws_fwd_cb, fwd);
	if (fwd->over) {
		free(fwd);
		free(c);
		ws_refuse_early(rq, WS_REFUSE_INVALID, "invalid_request",
				"the Sec-WebSocket-* headers are too large", NULL);
		return;
	}
	if (!(c->fwd = strndup(fwd->buf, fwd->len)) || !(c->client = strdup(client)) ||
	    (rq->query && !(c->query = strdup(rq->query))))
		goto oom;
	free(fwd);
	fwd = NULL;

	pthread_mutex_lock(&w->lock);
	cc = ws_count_slot(w, client);
	if (!cc) {
		pthread_mutex_unlock(&w->lock);
		goto oom;
	}
	if (w->open >= conf->ws.max_connections) {
		limit = "ws.max_connections";
		allowed = conf->ws.max_connections;
	} else if (cc->n >= conf->ws.max_per_client) {
		limit = "ws.max_per_client";
		allowed = conf->ws.max_per_client;
	} else {
		w->open++;
		cc->n++;
	}
	pthread_mutex_unlock(&w->lock);
	if (limit) {
		char msg[160];
		free(c->fwd);
		free(c->client);
		free(c->query);
		free(c);
		snprintf(msg, sizeof msg, "too many WebSocket connections (%s is %ld)", limit, allowed);
		ws_refuse_early(rq, WS_REFUSE_LIMIT, "rate_limited", msg,
				json_pack("{s:s, s:I}", "limit", limit, "allowed", (json_int_t)allowed));
		if (rq->reply)
			MHD_add_response_header(rq->reply, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		return;
	}
	atomic_fetch_add(&ws_open_n, 1);
	c->counted = 1;
	atomic_init(&c->refs, 2);          /* the request and the pump */
	c->rq = rq;
	c->reason = -1;
	c->ufd = c->cfd = -1;
	c->idle_ms = conf->ws.idle_timeout_s * 1000;
	c->ends[0].c = c->ends[1].c = c;
	c->ends[1].upstream = 1;
	snprintf(c->request_id, sizeof c->request_id, "%s", rq->request_id);
	c->loop = request_hold(rq);
	rq->ctx = c;
	rq->ctx_free = ws_ctx_free;
	request_suspend_external(rq);
	pthread_mutex_lock(&w->lock);
	c->ev_new = 1;
	ws_post_locked(w, c);
	pthread_mutex_unlock(&w->lock);
	ws_wake(w);
	return;
oom:
	free(fwd);
	if (c) {
		free(c->fwd);
		free(c->client);
		free(c->query);
		free(c);
	}
	request_fail(rq, "upstream_unavailable", "out of memory", NULL);
}

/* The upgrade handler (loop thread): the 101 went out; hand the socket to
 * the pump. */
static void ws_upgrade_cb(void *cls, struct MHD_Connection *conn, void *con_cls,
			  const char *extra_in, size_t extra_in_size, MHD_socket sock,
			  struct MHD_UpgradeResponseHandle *urh)
{
	struct ws_conn *c = cls;
	struct ws *w = ws_g;
	char *extra = NULL;

	(void)conn;
	(void)con_cls;
	c->upgraded = 1;
	if (extra_in_size && (extra = malloc(extra_in_size)))
		memcpy(extra, extra_in, extra_in_size);
	pthread_mutex_lock(&w->lock);
	c->ev_upgraded = 1;
	c->up_sock = sock;
	c->up_urh = urh;
	c->extra = extra;
	c->extra_len = extra ? extra_in_size : 0;
	c->extra_lost = extra_in_size && !extra;
	ws_post_locked(w, c);
	pthread_mutex_unlock(&w->lock);
	ws_wake(w);
}

/* ------------------------------------------------------- pump: answering */

/* Answers the suspended request with a gateway error and resumes it. */
static void ws_answer_fail(struct ws *w, struct ws_conn *c, enum ws_refuse_reason why,
			   const char *code, const char *msg)
{
	struct request *rq = c->rq;

	if (!rq)
		return;
	c->rq = NULL;
	atomic_fetch_add(&ws_refused[why], 1);
	ws_audit(w->gw, "refused", c->client, c->request_id,
		 json_pack("{s:s, s:i, s:s}", "reason", ws_refuse_names[why], "status",
			   (int)reply_status_for(code), "message", msg));
	log_info("ws: %s for client %s (request %s): %s", ws_refuse_names[why], c->client,
		 c->request_id, msg);
	request_fail(rq, code, msg, NULL);
	request_resume_external(rq);
}

/* ------------------------------------------------------ pump: the sockets */

static void ws_epoll_add(struct ws *w, int fd, struct ws_end *e)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = e;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		log_warn("ws: cannot watch a socket: %s", strerror(errno));
}

/* Closes the upstream side: close_notify when TLS is up, then the socket. */
static void ws_close_upstream(struct ws *w, struct ws_conn *c)
{
	if (c->ufd < 0)
		return;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
	if (c->ssl) {
		if (c->state >= WS_SEND) {
			ERR_clear_error();
			SSL_shutdown(c->ssl);   /* close_notify */
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	} else {
		/* unread input would turn the close into a reset */
		for (int i = 0; i < 16; i++)
			if (recv(c->ufd, w->scratch, WS_BUF_CAP, MSG_DONTWAIT) <= 0)
				break;
	}
	close(c->ufd);
	c->ufd = -1;
}

/* Marks c ready for a step in this pump pass. */
static void ws_mark_ready(struct ws *w, struct ws_conn *c)
{
	if (c->in_ready || c->state == WS_DONE)
		return;
	c->in_ready = 1;
	c->ready_next = w->ready;
	w->ready = c;
}

/* Ends c (pump): closes the upstream, gives the client socket back to
 * libmicrohttpd when it has it, counts, audits; c leaves the live list and
 * is freed after this pass once nobody else holds it. */
static void ws_finish(struct ws *w, struct ws_conn *c, int reason)
{
	if (c->state == WS_DONE)
		return;
	if (c->reason < 0)
		c->reason = reason;
	if (c->cfd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->cfd, NULL);
		/* read what the client sent and nobody will read, so the close is a
		 * FIN and not a reset that could drop what we sent last */
		for (int i = 0; i < 16; i++)
			if (recv(c->cfd, w->scratch, WS_BUF_CAP, MSG_DONTWAIT) <= 0)
				break;
		shutdown(c->cfd, SHUT_WR);   /* FIN after what was sent */
		c->cfd = -1;
	}
	if (c->urh) {
		request_unhold(c->loop, c->urh);
		c->urh = NULL;
	}
	ws_close_upstream(w, c);
	if (c->relayed) {
		c->relayed = 0;
		atomic_fetch_sub(&ws_relayed, 1);
		atomic_fetch_add(&ws_closes[c->reason], 1);
		ws_audit(w->gw, "close", c->client, c->request_id,
			 json_pack("{s:s, s:I, s:I, s:I}", "reason", ws_close_names[c->reason],
				   "bytes_to_upstream", (json_int_t)c->bytes_up,
				   "bytes_to_client", (json_int_t)c->bytes_down,
				   "duration_ms", (json_int_t)(gw_now_ms() - c->opened_ms)));
		log_info("ws: closed for client %s (request %s): %s, %lld bytes to upstream, "
			 "%lld to client", c->client, c->request_id, ws_close_names[c->reason],
			 c->bytes_up, c->bytes_down);
	}
	c->state = WS_DONE;
	ws_release_slot(w, c);
	/* off the live list; freed after the pass (events may still name it) */
	if (c->prev)
		c->prev->next = c->next;
	else if (w->live == c)
		w->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->dead_next = w->dead;
	w->dead = c;
}

/* A handshake failure: answers the client (when still waiting) and ends c. */
static void ws_fail(struct ws *w, struct ws_conn *c, enum ws_refuse_reason why, const char *code,
		    const char *msg)
{
	ws_answer_fail(w, c, why, code, msg);
	ws_finish(w, c, WS_CLOSE_UPSTREAM_ERROR);
}

/* Starts connecting to the next address; answers 502 when none is left. */
static void ws_connect_next(struct ws *w, struct ws_conn *c, int last_err)
{
	int one = 1;

	while (c->addr_i < c->naddrs) {
		struct sockaddr_storage *sa = &c->addrs[c->addr_i];
		socklen_t len = c->addr_lens[c->addr_i];
		int fd;

		c->addr_i++;
		fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last_err = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, (struct sockaddr *)sa, len) < 0 && errno != EINPROGRESS) {
			last_err = errno;
			close(fd);
			continue;
		}
		c->ufd = fd;
		c->state = WS_CONNECT;
		ws_epoll_add(w, fd, &c->ends[1]);
		ws_mark_ready(w, c);
		return;
	}
	{
		char msg[512];
		snprintf(msg, sizeof msg, "cannot connect to the upstream %.300s: %s", w->url,
			 last_err ? strerror(last_err) : "no address");
		ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", msg);
	}
}

/* Gives c the upstream addresses (from the numeric parse or the cache) and
 * connects; asks the resolver when the cache is stale. */
static void ws_begin(struct ws *w, struct ws_conn *c)
{
	int have;

	c->deadline_ms = gw_now_ms() + w->gw->conf->upstream.connect_timeout_ms;
	pthread_mutex_lock(&w->lock);
	have = w->ncache > 0 && (w->numeric || gw_now_ms() < w->cache_until);
	if (have) {
		c->naddrs = w->ncache;
		memcpy(c->addrs, w->cache, sizeof c->addrs);
		memcpy(c->addr_lens, w->cache_lens, sizeof c->addr_lens);
	} else if (!w->res_busy) {
		w->res_wanted = 1;
		pthread_cond_signal(&w->rcond);
	}
	pthread_mutex_unlock(&w->lock);
	c->state = WS_RESOLVE;
	if (have)
		ws_connect_next(w, c, 0);
}

/* The resolver finished: connect or fail everything waiting for it. */
static void ws_resolved(struct ws *w)
{
	for (struct ws_conn *c = w->live, *nx; c; c = nx) {
		nx = c->next;
		if (c->state != WS_RESOLVE)
			continue;
		pthread_mutex_lock(&w->lock);
		c->naddrs = w->ncache;
		memcpy(c->addrs, w->cache, sizeof c->addrs);
		memcpy(c->addr_lens, w->cache_lens, sizeof c->addr_lens);
		pthread_mutex_unlock(&w->lock);
		if (c->naddrs > 0) {
			ws_connect_next(w, c, 0);
		} else {
			char msg[512];
			pthread_mutex_lock(&w->lock);
			snprintf(msg, sizeof msg, "cannot resolve the upstream host '%.256s': %.160s", w->host,
				 w->res_error);
			pthread_mutex_unlock(&w->lock);
			ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", msg);
		}
	}
}

/* Builds the signed upgrade request into c->out. Returns 0 or -1 (message
 * in err). */
static int ws_build_request(struct ws *w, struct ws_conn *c, char *err, size_t errlen)
{
	const struct gw *gw = w->gw;
	char sig[SIGNER_SIG_MAX], auth[SIGNER_SIG_MAX + 256] = "";
	size_t cap;
	int n;

	if (gw->signer && gw->conf->upstream.key_id) {
		int64_t ts = signer_now_ms(), t0 = gw_now_us();
		if (signer_sign(gw->signer, ts, "GET", w->path, strlen(w->path), sig, sizeof sig, err,
				errlen) < 0)
			return -1;
		if (gw->up.on_sign)
			gw->up.on_sign((long)(gw_now_us() - t0));
		snprintf(auth, sizeof auth,
			 "KALSHI-ACCESS-KEY: %s\r\nKALSHI-ACCESS-TIMESTAMP: %" PRId64 "\r\n"
			 "KALSHI-ACCESS-SIGNATURE: %s\r\n", gw->conf->upstream.key_id, ts, sig);
	}
	cap = strlen(w->path) + (c->query ? strlen(c->query) + 1 : 0) + strlen(w->authority) +
	      strlen(c->fwd) + strlen(auth) + strlen(c->request_id) + 256;
	free(c->out);
	if (!(c->out = malloc(cap))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = snprintf(c->out, cap,
		     "GET %s%s%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "%s%sUser-Agent: kalshi-gateway\r\nX-Request-Id: %s\r\n\r\n",
		     w->path, c->query ? "?" : "", c->query ? c->query : "", w->authority, c->fwd,
		     auth, c->request_id);
	memset(sig, 0, sizeof sig);
	memset(auth, 0, sizeof auth);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errlen, "upgrade request too large");
		return -1;
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	return 0;
}

/* Reads from the upstream into buf/cap. Returns bytes (> 0), 0 for EOF,
 * -1 would block, -2 error, -4 TLS must write first (waits for EPOLLOUT). */
static ssize_t ws_up_read(struct ws_conn *c, char *buf, size_t cap)
{
	if (c->ssl) {
		int r, e;
		ERR_clear_error();
		r = SSL_read(c->ssl, buf, (int)(cap > INT32_MAX ? INT32_MAX : cap));
		if (r > 0)
			return r;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE) {
			c->u_wr = 0;   /* retried on the next EPOLLOUT (u_rd stays set) */
			return -4;
		}
		if (e == SSL_ERROR_WANT_READ)
			return -1;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		ERR_clear_error();
		return -2;
	}
	for (;;) {
		ssize_t r = recv(c->ufd, buf, cap, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	}
}

/* Writes to the upstream. Returns bytes (> 0), -1 would block, -2 error,
 * -4 TLS must read first (waits for EPOLLIN). */
static ssize_t ws_up_write(struct ws_conn *c, const char *buf, size_t len)
{
	if (c->ssl) {
		int r, e;
		ERR_clear_error();
		r = SSL_write(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
		if (r > 0)
			return r;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ) {
			c->u_rd = 0;   /* retried on the next EPOLLIN (u_wr stays set) */
			return -4;
		}
		if (e == SSL_ERROR_WANT_WRITE)
			return -1;
		ERR_clear_error();
		return -2;
	}
	for (;;) {
		ssize_t r = send(c->ufd, buf, len, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	}
}

/* ------------------------------------------------- pump: the upstream answer */

/* Finds the end of the head ("\r\n\r\n"); 0 when not there yet. */
static size_t ws_head_end(const char *s, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (s[i] == '\n' && s[i - 1] == '\r' && s[i - 2] == '\n' && s[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* Calls fn for each "Name: value" line of a head (NUL-terminated copy),
 * skipping the status line. Returns fn's first non-zero result, or 0. */
static int ws_head_each(char *head, int (*fn)(void *ud, const char *name, const char *value),
			void *ud)
{
	char *line = strstr(head, "\r\n");

	while (line) {
		char *next, *colon, *v;
		line += 2;
		next = strstr(line, "\r\n");
		if (!next || next == line)
			break;
		*next = '\0';
		colon = strchr(line, ':');
		if (colon) {
			char *e = colon;
			*colon = '\0';
			while (e > line && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			{
				char *t = v + strlen(v);
				while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
					*--t = '\0';
			}
			int rc = fn(ud, line, v);
			*colon = ':';
			if (rc)
				return rc;
		}
		*next = '\r';
		line = next;
	}
	return 0;
}

/* Headers of the upstream's answer that are about this hop, not the
 * handshake (libmicrohttpd writes its own). */
static int ws_hop_header(const char *name)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "TE", "Trailer",
		"Proxy-Connection", "Proxy-Authenticate",
	};

	for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

struct ws_head_info {
	long content_length;    /* -1 none */
	int chunked;
	int has_upgrade;
	struct MHD_Response *resp;  /* headers copied into it when set */
};

/* ws_head_each callback: notes the framing headers and copies the others
 * into hi->resp when set. */
static int ws_head_scan(void *ud, const char *name, const char *value)
{
	struct ws_head_info *hi = ud;

	if (strcasecmp(name, "Content-Length") == 0) {
		char *end;
		long v = strtol(value, &end, 10);
		if (end != value && *end == '\0' && v >= 0)
			hi->content_length = v;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0 && ws_has_token(value, "chunked")) {
		hi->chunked = 1;
	} else if (strcasecmp(name, "Upgrade") == 0) {
		hi->has_upgrade = 1;
	}
	if (hi->resp && !ws_hop_header(name))
		MHD_add_response_header(hi->resp, name, value);
	return 0;
}

/* Decodes a chunked body in place. Returns 1 complete (*out_len set), 0
 * incomplete, -1 malformed. */
static int ws_dechunk(char *s, size_t n, size_t *out_len)
{
	size_t i = 0, o = 0;

	for (;;) {
		char *end;
		unsigned long sz;
		size_t eol = i;
		while (eol + 1 < n && !(s[eol] == '\r' && s[eol + 1] == '\n'))
			eol++;
		if (eol + 1 >= n)
			return 0;
		errno = 0;
		sz = strtoul(s + i, &end, 16);
		if (end == s + i || errno)
			return -1;
		i = eol + 2;
		if (sz == 0) {
			*out_len = o;
			return 1;   /* trailers, if any, are not needed */
		}
		if (sz > n || i + sz + 2 > n)
			return 0;
		memmove(s + o, s + i, sz);
		o += sz;
		i += sz + 2;
	}
}

/* Parses the status line; -1 when it is not HTTP. */
static int ws_status(const char *head)
{
	int st;

	if (strncmp(head, "HTTP/1.", 7) != 0 || sscanf(head + 8, " %3d", &st) != 1 || st < 100 ||
	    st > 599)
		return -1;
	return st;
}

/* Relays the upstream's refusal (status, headers, body) to the client. */
static void ws_relay_refusal(struct ws *w, struct ws_conn *c, int status, size_t head_len,
			     const char *body, size_t body_len)
{
	struct request *rq = c->rq;
	struct ws_head_info hi = { -1, 0, 0, NULL };
	char *head;

	if (!rq)
		return;
	c->rq = NULL;
	hi.resp = MHD_create_response_from_buffer(body_len, (void *)(uintptr_t)body,
						  MHD_RESPMEM_MUST_COPY);
	head = strndup(c->in, head_len);
	if (hi.resp && head)
		ws_head_each(head, ws_head_scan, &hi);
	free(head);
	atomic_fetch_add(&ws_refused[WS_REFUSE_UPSTREAM], 1);
	ws_audit(w->gw, "refused", c->client, c->request_id,
		 json_pack("{s:s, s:i, s:i}", "reason", ws_refuse_names[WS_REFUSE_UPSTREAM],
			   "status", status, "upstream_status", status));
	log_info("ws: the upstream refused the upgrade for client %s (request %s): %d", c->client,
		 c->request_id, status);
	if (hi.resp)
		request_answer(rq, (unsigned)status, hi.resp);
	else
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
	request_resume_external(rq);
}

/* The upstream said 101: queue the switch to the client with the
 * upstream's handshake headers. */
static void ws_answer_switch(struct ws *w, struct ws_conn *c, size_t head_len)
{
	struct request *rq = c->rq;
	struct ws_head_info hi = { -1, 0, 0, NULL };
	char *head = strndup(c->in, head_len);

	hi.resp = MHD_create_response_for_upgrade(ws_upgrade_cb, c);
	if (!hi.resp || !head) {
		free(head);
		if (hi.resp)
			MHD_destroy_response(hi.resp);
		ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", "out of memory");
		return;
	}
	ws_head_each(head, ws_head_scan, &hi);
	free(head);
	if (!hi.has_upgrade)
		MHD_add_response_header(hi.resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	c->rq = NULL;
	c->state = WS_AWAIT;
	c->u_rd = c->u_wr = 1;
	request_answer(rq, MHD_HTTP_SWITCHING_PROTOCOLS, hi.resp);
	request_resume_external(rq);
}

/* Appends n bytes to buffer b (allocating it). -1 when out of memory or
 * when they do not fit. */
static int ws_buf_put(struct ws_buf *b, const char *p, size_t n)
{
	if (!n)
		return 0;
	if (n > WS_BUF_CAP - (b->end - b->start))
		return -1;
	if (!b->data && !(b->data = malloc(WS_BUF_CAP)))
		return -1;
	if (b->end + n > WS_BUF_CAP) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
	memcpy(b->data + b->end, p, n);
	b->end += n;
	atomic_fetch_add(&ws_buffered, (long)n);
	return 0;
}

/* Reads the upstream's answer; answers the client once it is complete. */
static void ws_step_recv(struct ws *w, struct ws_conn *c)
{
	for (;;) {
		size_t head_len;
		ssize_t r;
		int st;

		if (c->in_len == c->in_cap) {
			size_t ncap = c->in_cap ? c->in_cap * 2 : 4096;
			char *ni;
			if (ncap > WS_HEAD_CAP + WS_BODY_CAP)
				ncap = WS_HEAD_CAP + WS_BODY_CAP;
			if (ncap == c->in_cap || !(ni = realloc(c->in, ncap + 1))) {
				/* refusal body over the cap: relay what we have */
				r = 0;
				goto got_all;
			}
			c->in = ni;
			c->in_cap = ncap;
		}
		r = ws_up_read(c, c->in + c->in_len, c->in_cap - c->in_len);
		if (r == -1 || r == -4)
			return;
		if (r == -2) {
			ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable",
				"the upstream closed the connection during the WebSocket handshake");
			return;
		}
		if (r > 0)
			c->in_len += (size_t)r;
got_all:
		c->in[c->in_len] = '\0';
		head_len = ws_head_end(c->in, c->in_len);
		if (!head_len) {
			if (r == 0 || c->in_len >= WS_HEAD_CAP) {
				ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable",
					r == 0 ? "the upstream closed the connection during the WebSocket handshake"
					       : "the upstream's answer head is too large");
				return;
			}
			continue;
		}
		st = ws_status(c->in);
		if (st < 0) {
			ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable",
				"the upstream's answer is not HTTP");
			return;
		}
		if (st == 101) {
			/* anything past the head is already the upstream's first frames */
			if (ws_buf_put(&c->down, c->in + head_len, c->in_len - head_len) < 0) {
				ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", "out of memory");
				return;
			}
			c->bytes_down += (long long)(c->in_len - head_len);
			ws_answer_switch(w, c, head_len);
			return;
		}
		/* a refusal: its body ends by Content-Length, the last chunk, or
		 * the connection's end */
		{
			struct ws_head_info hi = { -1, 0, 0, NULL };
			char *head = strndup(c->in, head_len);
			size_t body_len = c->in_len - head_len, out;
			int done = r == 0 || c->in_len >= WS_HEAD_CAP + WS_BODY_CAP;
			if (!head) {
				ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", "out of memory");
				return;
			}
			ws_head_each(head, ws_head_scan, &hi);
			free(head);
			if (hi.chunked) {
				int d = ws_dechunk(c->in + head_len, body_len, &out);
				if (d == 1) {
					body_len = out;
					done = 1;
				} else if (d < 0 || done) {
					done = 1;
				}
			} else if (hi.content_length >= 0) {
				if (body_len >= (size_t)hi.content_length) {
					body_len = (size_t)hi.content_length;
					done = 1;
				}
			}
			if (st == 204 || st == 304 || st < 200)
				done = 1;
			if (!done)
				continue;
			ws_relay_refusal(w, c, st, head_len, c->in + head_len, body_len);
			ws_finish(w, c, WS_CLOSE_UPSTREAM);
			return;
		}
	}
}

/* One step of the handshake states. */
static void ws_step_handshake(struct ws *w, struct ws_conn *c)
{
	char err[256];

	if (c->state == WS_CONNECT) {
		int soerr = 0;
		socklen_t len = sizeof soerr;
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr) {
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
			close(c->ufd);
			c->ufd = -1;
			ws_connect_next(w, c, soerr);
			return;
		}
		if (getpeername(c->ufd, (struct sockaddr *)&peer, &plen) < 0)
			return;   /* still connecting */
		if (w->tls) {
			c->ssl = SSL_new(w->ssl_ctx);
			if (!c->ssl || SSL_set_fd(c->ssl, c->ufd) != 1) {
				ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable",
					"cannot set up TLS");
				return;
			}
			if (w->numeric) {
				X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), w->host);
			} else {
				SSL_set_tlsext_host_name(c->ssl, w->host);
				SSL_set1_host(c->ssl, w->host);
			}
			c->state = WS_TLS;
		} else {
			goto send;
		}
	}
	if (c->state == WS_TLS) {
		int r, e;
		ERR_clear_error();
		r = SSL_connect(c->ssl);
		if (r != 1) {
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			long vr = SSL_get_verify_result(c->ssl);
			unsigned long ec = ERR_get_error();
			char msg[512];
			if (vr != X509_V_OK)
				snprintf(msg, sizeof msg, "TLS with the upstream %.300s failed: certificate: %.150s",
					 w->url, X509_verify_cert_error_string(vr));
			else
				snprintf(msg, sizeof msg, "TLS with the upstream %.300s failed: %.150s", w->url,
					 ec ? ERR_reason_error_string(ec) ? ERR_reason_error_string(ec)
									 : "error"
					    : "connection closed");
			ERR_clear_error();
			ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", msg);
			return;
		}
		if (w->gw->up.on_handshakes)
			w->gw->up.on_handshakes(1);
	}
send:
	if (c->state == WS_CONNECT || c->state == WS_TLS) {
		/* signed now, so the timestamp is as fresh as it can be */
		if (ws_build_request(w, c, err, sizeof err) < 0) {
			ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable", err);
			return;
		}
		c->state = WS_SEND;
		c->deadline_ms = gw_now_ms() + w->gw->conf->upstream.timeout_ms;
	}
	if (c->state == WS_SEND) {
		while (c->out_off < c->out_len) {
			ssize_t r = ws_up_write(c, c->out + c->out_off, c->out_len - c->out_off);
			if (r == -1 || r == -4)
				return;
			if (r < 0) {
				ws_fail(w, c, WS_REFUSE_UNAVAILABLE, "upstream_unavailable",
					"the upstream closed the connection before the upgrade was sent");
				return;
			}
			c->out_off += (size_t)r;
		}
		memset(c->out, 0, c->out_len);   /* it holds a signature */
		c->state = WS_RECV;
	}
	if (c->state == WS_RECV)
		ws_step_recv(w, c);
}

/* ------------------------------------------------------ pump: the relay */

/* Reads one side into buffer b (at most `budget` bytes). Returns bytes
 * read; sets the side's EOF or error flag. */
static size_t ws_fill(struct ws_conn *c, int upstream, struct ws_buf *b, size_t budget)
{
	int *ready = upstream ? &c->u_rd : &c->c_rd;
	size_t got = 0;

	while (got < budget && *ready) {
		ssize_t r;
		size_t room;
		if (!b->data && !(b->data = malloc(WS_BUF_CAP))) {
			if (upstream)
				c->u_err = 1;
			else
				c->c_err = 1;
			break;
		}
		if (b->end == WS_BUF_CAP && b->start > 0) {
			memmove(b->data, b->data + b->start, b->end - b->start);
			b->end -= b->start;
			b->start = 0;
		}
		room = WS_BUF_CAP - b->end;
		if (!room)
			break;
		if (upstream) {
			r = ws_up_read(c, b->data + b->end, room);
		} else {
			r = recv(c->cfd, b->data + b->end, room, 0);
			if (r < 0)
				r = errno == EAGAIN || errno == EWOULDBLOCK ? -1 : errno == EINTR ? -3 : -2;
		}
		if (r == -3)
			continue;
		if (r == -4)
			break;
		if (r == -1) {
			*ready = 0;
			break;
		}
		if (r == -2) {
			if (upstream)
				c->u_err = 1;
			else
				c->c_err = 1;
			break;
		}
		if (r == 0) {
			if (upstream)
				c->u_eof = 1;
			else
				c->c_eof = 1;
			break;
		}
		b->end += (size_t)r;
		got += (size_t)r;
		atomic_fetch_add(&ws_buffered, (long)r);
		/* a short read of a plain socket drained it: new data brings a
		 * new edge. Not when the peer's FIN came with the data (no edge
		 * will follow: read on to the EOF), nor with TLS (decrypted
		 * bytes may wait in OpenSSL: read to WANT_READ). */
		if ((size_t)r < room && !(upstream && c->ssl) && !(upstream ? c->u_hup : c->c_hup)) {
			*ready = 0;
			break;
		}
	}
	return got;
}

/* Writes buffer b to one side. Returns bytes written; sets the error flag. */
static size_t ws_flush(struct ws_conn *c, int upstream, struct ws_buf *b)
{
	int *ready = upstream ? &c->u_wr : &c->c_wr;
	size_t put = 0;

	while (b->end > b->start && *ready) {
		ssize_t r;
		if (upstream) {
			r = ws_up_write(c, b->data + b->start, b->end - b->start);
		} else {
			r = send(c->cfd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
			if (r < 0)
				r = errno == EAGAIN || errno == EWOULDBLOCK ? -1 : errno == EINTR ? -3 : -2;
		}
		if (r == -3)
			continue;
		if (r == -4)
			break;
		if (r == -1) {
			*ready = 0;
			break;
		}
		if (r < 0) {
			if (upstream)
				c->u_err = 1;
			else
				c->c_err = 1;
			break;
		}
		b->start += (size_t)r;
		put += (size_t)r;
		atomic_fetch_sub(&ws_buffered, (long)r);
	}
	if (b->start == b->end)
		b->start = b->end = 0;
	return put;
}

/* Notes the first side to end and starts the linger (the most time given
 * to pass on what it sent before it ended). */
static void ws_first_end(struct ws_conn *c, int reason)
{
	if (c->reason < 0)
		c->reason = reason;
	if (!c->linger_ms)
		c->linger_ms = gw_now_ms() + WS_LINGER_MS;
}

/*
 * Moves bytes both ways until every side would block, a buffer is full
 * with its reader blocked, or WS_STEP_BYTES moved (then c stays ready for
 * the next pass). Ends c on an error, or once a side that reached its EOF
 * has had its bytes passed on.
 */
static void ws_step_relay(struct ws *w, struct ws_conn *c, int *again)
{
	size_t moved = 0;

	for (;;) {
		size_t n, step = 0;
		if (!c->u_eof && !c->u_err && !c->c_err) {
			n = ws_fill(c, 1, &c->down, WS_STEP_BYTES);
			c->bytes_down += (long long)n;
			atomic_fetch_add(&ws_bytes_down, (long long)n);
			step += n;
		}
		if (c->down.end > c->down.start && !c->c_err)
			step += ws_flush(c, 0, &c->down);
		if (!c->c_eof && !c->c_err && !c->u_err) {
			n = ws_fill(c, 0, &c->up, WS_STEP_BYTES);
			c->bytes_up += (long long)n;
			atomic_fetch_add(&ws_bytes_up, (long long)n);
			step += n;
		}
		if (c->up.end > c->up.start && !c->u_err)
			step += ws_flush(c, 1, &c->up);
		moved += step;
		if (!step)
			break;
		if (moved >= WS_STEP_BYTES) {
			*again = 1;
			break;
		}
	}
	if (moved)
		c->last_ms = gw_now_ms();
	if (c->c_err || c->u_err) {
		ws_finish(w, c, c->c_err ? WS_CLOSE_CLIENT_ERROR : WS_CLOSE_UPSTREAM_ERROR);
		return;
	}
	/* a WebSocket peer that ends its TCP connection is done: once what it
	 * sent is passed on, both sides close (the linger bounds the wait) */
	if (c->u_eof) {
		ws_first_end(c, WS_CLOSE_UPSTREAM);
		if (c->down.end == c->down.start) {
			ws_finish(w, c, c->reason);
			return;
		}
	}
	if (c->c_eof) {
		ws_first_end(c, WS_CLOSE_CLIENT);
		if (c->up.end == c->up.start)
			ws_finish(w, c, c->reason);
	}
}

/* The client socket arrived (after the 101): start relaying, or close it
 * at once when the upstream side is already gone. */
static void ws_on_upgraded(struct ws *w, struct ws_conn *c, int sock,
			   struct MHD_UpgradeResponseHandle *urh, char *extra, size_t extra_len,
			   int extra_lost)
{
	int one = 1, fl;

	atomic_fetch_add(&ws_opened_total, 1);
	c->opened_ms = c->last_ms = gw_now_ms();
	c->relayed = 1;
	atomic_fetch_add(&ws_relayed, 1);
	ws_audit(w->gw, "open", c->client, c->request_id, json_pack("{s:s}", "upstream", w->url));
	if (c->state == WS_DONE) {
		/* the upstream ended between its 101 and ours */
		shutdown(sock, SHUT_RDWR);
		request_unhold(c->loop, urh);
		c->relayed = 0;
		atomic_fetch_sub(&ws_relayed, 1);
		atomic_fetch_add(&ws_closes[c->reason >= 0 ? c->reason : WS_CLOSE_UPSTREAM], 1);
		ws_audit(w->gw, "close", c->client, c->request_id,
			 json_pack("{s:s, s:i, s:i, s:i}", "reason",
				   ws_close_names[c->reason >= 0 ? c->reason : WS_CLOSE_UPSTREAM],
				   "bytes_to_upstream", 0, "bytes_to_client", 0, "duration_ms", 0));
		free(extra);
		return;
	}
	c->cfd = sock;
	c->urh = urh;
	c->state = WS_RELAY;
	c->c_rd = c->c_wr = 1;
	c->u_rd = c->u_wr = 1;   /* cheap to retry; TLS may hold decrypted bytes */
	fl = fcntl(sock, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(sock, F_SETFL, fl | O_NONBLOCK);
	/* libmicrohttpd turns Nagle back on at the switch; frames are small and
	 * latency matters */
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	log_debug("ws: relaying for client %s (request %s)", c->client, c->request_id);
	if (extra_lost) {
		free(extra);
		ws_finish(w, c, WS_CLOSE_CLIENT_ERROR);
		return;
	}
	if (extra_len) {
		if (ws_buf_put(&c->up, extra, extra_len) < 0) {
			free(extra);
			ws_finish(w, c, WS_CLOSE_CLIENT_ERROR);
			return;
		}
		c->bytes_up += (long long)extra_len;
		atomic_fetch_add(&ws_bytes_up, (long long)extra_len);
	}
	free(extra);
	ws_epoll_add(w, sock, &c->ends[0]);
	ws_mark_ready(w, c);
}

/* Takes the loop threads' events. */
static void ws_take_inbox(struct ws *w)
{
	struct ws_conn *list;
	unsigned gen;

	pthread_mutex_lock(&w->lock);
	list = w->inbox;
	w->inbox = NULL;
	gen = w->res_gen;
	pthread_mutex_unlock(&w->lock);
	if (gen != w->seen_gen) {
		w->seen_gen = gen;
		ws_resolved(w);
	}
	while (list) {
		struct ws_conn *c = list;
		int ev_new, ev_up, ev_ab, sock, lost;
		struct MHD_UpgradeResponseHandle *urh;
		char *extra;
		size_t extra_len;

		pthread_mutex_lock(&w->lock);
		list = c->inbox_next;
		c->in_inbox = 0;
		ev_new = c->ev_new;
		ev_up = c->ev_upgraded;
		ev_ab = c->ev_abandoned;
		sock = c->up_sock;
		urh = c->up_urh;
		extra = c->extra;
		extra_len = c->extra_len;
		lost = c->extra_lost;
		c->ev_new = c->ev_upgraded = c->ev_abandoned = 0;
		c->extra = NULL;
		c->extra_len = 0;
		pthread_mutex_unlock(&w->lock);
		if (ev_new) {
			c->next = w->live;
			if (w->live)
				w->live->prev = c;
			w->live = c;
			if (atomic_load(&w->gw->stopping))
				ws_fail(w, c, WS_REFUSE_SHUTDOWN, "shutting_down", "the gateway is stopping");
			else
				ws_begin(w, c);
		}
		if (ev_up)
			ws_on_upgraded(w, c, sock, urh, extra, extra_len, lost);
		if (ev_ab && c->state == WS_AWAIT)
			ws_finish(w, c, WS_CLOSE_CLIENT);   /* the 101 never reached the client */
		ws_conn_unref(c);
	}
}

/* Deadlines, idle connections and the stop flag, every WS_SCAN_MS. */
static void ws_scan(struct ws *w)
{
	int64_t now = gw_now_ms();
	int stopping = atomic_load(&w->gw->stopping) || atomic_load(&w->quit);

	if (now < w->next_scan && !stopping)
		return;
	w->next_scan = now + WS_SCAN_MS;
	for (struct ws_conn *c = w->live, *nx; c; c = nx) {
		nx = c->next;
		switch (c->state) {
		case WS_RESOLVE:
		case WS_CONNECT:
		case WS_TLS:
		case WS_SEND:
		case WS_RECV:
			if (stopping)
				ws_fail(w, c, WS_REFUSE_SHUTDOWN, "shutting_down", "the gateway is stopping");
			else if (now >= c->deadline_ms)
				ws_fail(w, c, c->state >= WS_SEND ? WS_REFUSE_TIMEOUT : WS_REFUSE_UNAVAILABLE,
					c->state >= WS_SEND ? "upstream_timeout" : "upstream_unavailable",
					c->state >= WS_SEND ? "the upstream did not answer the WebSocket upgrade in time"
							    : "cannot connect to the upstream in time");
			break;
		case WS_AWAIT:
			if (stopping)
				ws_finish(w, c, WS_CLOSE_SHUTDOWN);
			break;
		case WS_RELAY:
			if (stopping)
				ws_finish(w, c, WS_CLOSE_SHUTDOWN);
			else if (c->linger_ms && now >= c->linger_ms)
				ws_finish(w, c, c->reason);
			else if (now - c->last_ms >= c->idle_ms)
				ws_finish(w, c, WS_CLOSE_IDLE);
			break;
		case WS_DONE:
			break;
		}
	}
}

/* The pump thread. */
static void *ws_pump_main(void *arg)
{
	struct ws *w = arg;
	struct epoll_event evs[WS_EVENTS];

	for (;;) {
		int n, timeout = w->ready ? 0 : WS_SCAN_MS;

		n = epoll_wait(w->epfd, evs, WS_EVENTS, timeout);
		for (int i = 0; i < n; i++) {
			struct ws_end *e = evs[i].data.ptr;
			if (!e) {
				uint64_t v;
				if (read(w->evfd, &v, sizeof v) < 0) {
					/* nothing pending */
				}
				continue;
			}
			if (e->upstream) {
				if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					e->c->u_hup = 1;
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					e->c->u_rd = 1;
				if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
					e->c->u_wr = 1;
			} else {
				if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					e->c->c_hup = 1;
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					e->c->c_rd = 1;
				if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
					e->c->c_wr = 1;
			}
			ws_mark_ready(w, e->c);
		}
		ws_take_inbox(w);
		{
			struct ws_conn *list = w->ready;
			w->ready = NULL;
			while (list) {
				struct ws_conn *c = list;
				int again = 0;
				list = c->ready_next;
				c->in_ready = 0;
				if (c->state == WS_RELAY)
					ws_step_relay(w, c, &again);
				else if (c->state == WS_AWAIT) {
					if (!c->u_eof && !c->u_err) {
						size_t got = ws_fill(c, 1, &c->down, WS_BUF_CAP);
						c->bytes_down += (long long)got;
						atomic_fetch_add(&ws_bytes_down, (long long)got);
					}
					if (c->u_err)
						ws_finish(w, c, WS_CLOSE_UPSTREAM_ERROR);
				} else if (c->state != WS_DONE) {
					ws_step_handshake(w, c);
				}
				if (again)
					ws_mark_ready(w, c);
			}
		}
		ws_scan(w);
		while (w->dead) {
			struct ws_conn *c = w->dead;
			w->dead = c->dead_next;
			if (c->in_ready) {
				/* still on this pass's ready list: unlink it */
				struct ws_conn **pp = &w->ready;
				while (*pp && *pp != c)
					pp = &(*pp)->ready_next;
				if (*pp)
					*pp = c->ready_next;
				c->in_ready = 0;
			}
			ws_conn_unref(c);
		}
		if (atomic_load(&w->quit) && !w->live)
			break;
	}
	return NULL;
}

/* ------------------------------------------------------------ resolver */

static void *ws_resolver_main(void *arg)
{
	struct ws *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct addrinfo hints, *ai = NULL, *p;
		int rc, n = 0;

		while (!w->res_stop && !w->res_wanted)
			pthread_cond_wait(&w->rcond, &w->lock);
		if (w->res_stop)
			break;
		w->res_wanted = 0;
		w->res_busy = 1;
		pthread_mutex_unlock(&w->lock);
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo(w->host, w->port, &hints, &ai);
		pthread_mutex_lock(&w->lock);
		w->ncache = 0;
		if (rc == 0) {
			for (p = ai; p && n < WS_MAX_ADDRS; p = p->ai_next) {
				if (p->ai_addrlen > sizeof w->cache[0])
					continue;
				memcpy(&w->cache[n], p->ai_addr, p->ai_addrlen);
				w->cache_lens[n++] = p->ai_addrlen;
			}
			w->ncache = n;
			w->cache_until = gw_now_ms() + WS_DNS_TTL_MS;
			snprintf(w->res_error, sizeof w->res_error, "no address");
		} else {
			snprintf(w->res_error, sizeof w->res_error, "%s", gai_strerror(rc));
		}
		w->res_busy = 0;
		w->res_gen++;
		pthread_mutex_unlock(&w->lock);
		if (ai)
			freeaddrinfo(ai);
		ws_wake(w);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ------------------------------------------------------------ lifecycle */

/* The TLS context for wss://: verified, TLS 1.2 or later, HTTP/1.1. */
static SSL_CTX *ws_ssl_ctx(const char *ca_file, char *err, size_t errlen)
{
	static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		snprintf(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
		    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "cannot load CA certificates%s%s%s", ca_file ? " from '" : "",
			 ca_file ? ca_file : "", ca_file ? "'" : "");
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

/* Frees w (threads already joined). */
static void ws_free(struct ws *w)
{
	if (!w)
		return;
	if (w->ssl_ctx)
		SSL_CTX_free(w->ssl_ctx);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->evfd >= 0)
		close(w->evfd);
	for (size_t i = 0; i < w->ncounts; i++)
		free(w->counts[i].name);
	free(w->counts);
	free(w->scratch);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->rcond);
	free(w);
}

int ws_start(struct gw *gw, char *err, size_t errlen)
{
	const struct gw_conf *conf = gw->conf;
	struct ws *w;
	struct epoll_event ev;
	int rc;

	if (ws_g)
		return 0;
	if (!conf->upstream.ws_url) {
		snprintf(err, errlen, "upstream.ws_url is not set");
		return -1;
	}
	w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->gw = gw;
	w->epfd = w->evfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->rcond, NULL);
	if (ws_parse_url(w, conf->upstream.ws_url, err, errlen) < 0)
		goto fail;
	if (!(w->scratch = malloc(WS_BUF_CAP))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->numeric = ws_is_ip(w->host);
	if (w->numeric) {
		struct addrinfo hints, *ai = NULL;
		memset(&hints, 0, sizeof hints);
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(w->host, w->port, &hints, &ai) != 0 || !ai ||
		    ai->ai_addrlen > sizeof w->cache[0]) {
			if (ai)
				freeaddrinfo(ai);
			snprintf(err, errlen, "upstream.ws_url '%s': bad address or port", w->url);
			goto fail;
		}
		memcpy(&w->cache[0], ai->ai_addr, ai->ai_addrlen);
		w->cache_lens[0] = ai->ai_addrlen;
		w->ncache = 1;
		freeaddrinfo(ai);
	}
	if (w->tls && !(w->ssl_ctx = ws_ssl_ctx(conf->upstream.ca_file, err, errlen)))
		goto fail;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->evfd < 0) {
		snprintf(err, errlen, "cannot create the WebSocket relay's epoll set: %s",
			 strerror(errno));
		goto fail;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) {
		snprintf(err, errlen, "cannot watch the relay's wake fd: %s", strerror(errno));
		goto fail;
	}
	ws_g = w;
	if (!w->numeric) {
		rc = pthread_create(&w->resolver, NULL, ws_resolver_main, w);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the WebSocket resolver: %s", strerror(rc));
			goto fail_g;
		}
		w->resolver_started = 1;
	}
	rc = pthread_create(&w->pump, NULL, ws_pump_main, w);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the WebSocket relay: %s", strerror(rc));
		goto fail_g;
	}
	w->pump_started = 1;
	return 0;
fail_g:
	ws_stop();
	return -1;
fail:
	ws_free(w);
	return -1;
}

void ws_stop(void)
{
	struct ws *w = ws_g;

	if (!w)
		return;
	atomic_store(&w->quit, 1);
	ws_wake(w);
	if (w->pump_started)
		pthread_join(w->pump, NULL);
	if (w->resolver_started) {
		pthread_mutex_lock(&w->lock);
		w->res_stop = 1;
		pthread_cond_signal(&w->rcond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->resolver, NULL);
	}
	/* events posted after the pump left (none once the loops are joined) */
	while (w->inbox) {
		struct ws_conn *c = w->inbox;
		w->inbox = c->inbox_next;
		free(c->extra);
		c->extra = NULL;
		ws_conn_unref(c);
	}
	ws_g = NULL;
	ws_free(w);
}

void ws_stats_get(struct ws_stats *o)
{
	memset(o, 0, sizeof *o);
	o->open = atomic_load(&ws_open_n);
	o->relayed = atomic_load(&ws_relayed);
	o->opened_total = atomic_load(&ws_opened_total);
	o->buffered_bytes = atomic_load(&ws_buffered);
	o->bytes_to_upstream = atomic_load(&ws_bytes_up);
	o->bytes_to_client = atomic_load(&ws_bytes_down);
	for (int i = 0; i < WS_CLOSE_COUNT; i++)
		o->closes[i] = atomic_load(&ws_closes[i]);
	for (int i = 0; i < WS_REFUSE_COUNT; i++)
		o->refused[i] = atomic_load(&ws_refused[i]);
}

char *ws_metrics_text(void)
{
	struct ws_stats s;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int n;

	if (!buf)
		return NULL;
	ws_stats_get(&s);
#define WS_APPEND(...)                                                        \
	do {                                                                  \
		n = snprintf(buf + len, cap - len, __VA_ARGS__);              \
		if (n < 0 || (size_t)n >= cap - len) {                        \
			free(buf);                                            \
			return NULL;                                          \
		}                                                             \
		len += (size_t)n;                                             \
	} while (0)
	WS_APPEND("# HELP kalshi_gateway_ws_connections WebSocket connections relayed now "
		  "(switched to 101, not yet closed).\n"
		  "# TYPE kalshi_gateway_ws_connections gauge\n"
		  "kalshi_gateway_ws_connections %ld\n"
		  "# HELP kalshi_gateway_ws_admitted WebSocket upgrades holding a ws.max_connections "
		  "slot (handshakes included).\n"
		  "# TYPE kalshi_gateway_ws_admitted gauge\n"
		  "kalshi_gateway_ws_admitted %ld\n"
		  "# HELP kalshi_gateway_ws_connections_total WebSocket connections switched to 101.\n"
		  "# TYPE kalshi_gateway_ws_connections_total counter\n"
		  "kalshi_gateway_ws_connections_total %ld\n"
		  "# HELP kalshi_gateway_ws_buffered_bytes Bytes held in relay buffers now.\n"
		  "# TYPE kalshi_gateway_ws_buffered_bytes gauge\n"
		  "kalshi_gateway_ws_buffered_bytes %ld\n"
		  "# HELP kalshi_gateway_ws_bytes_total Bytes relayed, by direction.\n"
		  "# TYPE kalshi_gateway_ws_bytes_total counter\n"
		  "kalshi_gateway_ws_bytes_total{direction=\"to_upstream\"} %lld\n"
		  "kalshi_gateway_ws_bytes_total{direction=\"to_client\"} %lld\n"
		  "# HELP kalshi_gateway_ws_closes_total Relayed WebSocket connections closed, by reason.\n"
		  "# TYPE kalshi_gateway_ws_closes_total counter\n",
		  s.relayed, s.open, s.opened_total, s.buffered_bytes, s.bytes_to_upstream,
		  s.bytes_to_client);
	for (int i = 0; i < WS_CLOSE_COUNT; i++)
		WS_APPEND("kalshi_gateway_ws_closes_total{reason=\"%s\"} %ld\n", ws_close_names[i],
			  s.closes[i]);
	WS_APPEND("# HELP kalshi_gateway_ws_refused_total WebSocket upgrades not relayed, by reason.\n"
		  "# TYPE kalshi_gateway_ws_refused_total counter\n");
	for (int i = 0; i < WS_REFUSE_COUNT; i++)
		WS_APPEND("kalshi_gateway_ws_refused_total{reason=\"%s\"} %ld\n", ws_refuse_names[i],
			  s.refused[i]);
#undef WS_APPEND
	return buf;
}
