/* client: see client.h. */
#include "upstream/client.h"
#include "upstream/presign.h"
#include "upstream/signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

/* Idle transfers (each with its configured easy handle) a pool keeps for
 * reuse: enough for the usual concurrency, bounded so a burst does not pin
 * memory. */
#define CLIENT_IDLE_MAX 64
/* curl's receive buffer per easy handle. */
#define CLIENT_RECV_BUFFER 4096L
/* URLs up to this long live inside the transfer (no allocation). */
#define CLIENT_URL_INLINE 512

struct upstream_pool {
	CURLM *multi;
	int epfd;
	const struct upstream_opts *opts;
	int64_t deadline_ms;         /* monotonic; -1 = no timer */
	size_t active;
	struct upstream_xfer *head;  /* transfers in the multi */
	struct upstream_xfer *idle;  /* finished transfers kept for reuse */
	size_t nidle;
};

struct upstream_xfer {
	struct upstream_pool *pool;
	const struct upstream_opts *opts;
	int borrowed;                /* easy handle owned by the calling thread */
	int configured;              /* the easy handle has the fixed options */
	struct upstream_xfer *prev, *next;
	CURL *easy;
	/* The request headers: our own lines in own[] (no allocation), then
	 * the caller's list, borrowed (it outlives the transfer). */
	struct curl_slist own[4];
	struct curl_slist *req_headers;
	struct curl_slist *owned_headers;  /* freed when the transfer ends */
	char key_line[160], ts_line[48], sig_line[SIGNER_SIG_MAX + 32];
	char *url;
	char url_inline[CLIENT_URL_INLINE];
	upstream_done_fn done;
	void *ud;
	struct upstream_response resp;
	size_t body_cap;
	long max_bytes;
	int too_large;
	int64_t start_us;
};

/* Monotonic clock in microseconds. */
static int64_t client_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void upstream_response_release(struct upstream_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	curl_slist_free_all(r->headers);
	r->headers = NULL;
}

int upstream_clock_skew(const struct upstream_response *r, long *skew_s)
{
	for (const struct curl_slist *h = r->headers; h; h = h->next)
		if (strncasecmp(h->data, "Date:", 5) == 0) {
			time_t t = curl_getdate(h->data + 5, NULL);
			if (t < 0)
				return -1;
			*skew_s = (long)(t - time(NULL));
			return 0;
		}
	return -1;
}

int upstream_global_init(char *err, size_t errlen)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_ALL);

	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

void upstream_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Body sink: appends to the response buffer, refusing to grow past the
 * configured maximum (the transfer then fails and is reported TOO_LARGE). */
static size_t client_write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct upstream_xfer *x = ud;
	size_t n = size * nmemb, need = x->resp.body_len + n + 1;

	if ((long)(x->resp.body_len + n) > x->max_bytes) {
		x->too_large = 1;
		return 0;
	}
	if (need > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap * 2 : 4096;
		char *nb;
		while (cap < need)
			cap *= 2;
		nb = realloc(x->resp.body, cap);
		if (!nb)
			return 0;
		x->resp.body = nb;
		x->body_cap = cap;
	}
	memcpy(x->resp.body + x->resp.body_len, data, n);
	x->resp.body_len += n;
	x->resp.body[x->resp.body_len] = '\0';
	return n;
}

/* Header sink: keeps the headers of the final response only (a new status
 * line, e.g. after a 100 Continue, starts the list again). */
static size_t client_header_cb(char *data, size_t size, size_t nitems, void *ud)
{
	struct upstream_xfer *x = ud;
	size_t n = size * nitems, len = n;
	char line[8192];
	struct curl_slist *nl;

	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len == 0)
		return n;
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		curl_slist_free_all(x->resp.headers);
		x->resp.headers = NULL;
		return n;
	}
	if (len >= sizeof line)
		return n;  /* absurd header: dropped, never relayed */
	memcpy(line, data, len);
	line[len] = '\0';
	nl = curl_slist_append(x->resp.headers, line);
	if (!nl)
		return 0;
	x->resp.headers = nl;
	return n;
}

/* Fills the three KALSHI-ACCESS-* header lines of x, signed over method +
 * path with a fresh millisecond timestamp (or a ready signature). Returns 0
 * or -1 with err filled. */
static int client_sign(const struct upstream_opts *o, const struct upstream_request *r,
		       struct upstream_xfer *x, char *err, size_t errlen)
{
	char sig[SIGNER_SIG_MAX];
	int64_t ts = signer_now_ms();
	int64_t t0 = client_now_us();
	int pre = o->presign ? presign_take(o->presign, r->method, r->path, r->path_len, &ts, sig,
					    sizeof sig) : -1;

	if (pre == 1) {
		if (o->on_presign)
			o->on_presign(1);
	} else {
		if (pre == 0 && o->on_presign)
			o->on_presign(0);
		if (signer_sign(o->signer, ts, r->method, r->path, r->path_len, sig, sizeof sig,
				err, errlen) < 0)
			return -1;
		if (o->on_sign)
			o->on_sign((long)(client_now_us() - t0));
	}
	x->resp.signed_ts_ms = ts;
	snprintf(x->key_line, sizeof x->key_line, "KALSHI-ACCESS-KEY: %s", o->key_id);
	snprintf(x->ts_line, sizeof x->ts_line, "KALSHI-ACCESS-TIMESTAMP: %lld", (long long)ts);
	snprintf(x->sig_line, sizeof x->sig_line, "KALSHI-ACCESS-SIGNATURE: %s", sig);
	return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: opens the socket and counts it. */
static curl_socket_t client_open_cb(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	const struct upstream_opts *o = ud;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd != CURL_SOCKET_BAD && o->on_conn)
		o->on_conn(1);
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: closes and counts. */
static int client_close_cb(void *ud, curl_socket_t fd)
{
	const struct upstream_opts *o = ud;

	if (o->on_conn)
		o->on_conn(-1);
	return close(fd);
}

/* Frees what a transfer holds for one request: URL, response. */
static void client_xfer_clear(struct upstream_xfer *x)
{
	if (x->url && x->url != x->url_inline)
		free(x->url);
	x->url = NULL;
	x->req_headers = NULL;
	curl_slist_free_all(x->owned_headers);
	x->owned_headers = NULL;
	upstream_response_release(&x->resp);
}

/* Frees a transfer's memory (the easy handle must be out of any multi). */
static void client_xfer_free(struct upstream_xfer *x)
{
	if (!x)
		return;
	if (x->easy && !x->borrowed)
		curl_easy_cleanup(x->easy);
	client_xfer_clear(x);
	free(x);
}

/* Ends a pool transfer: kept with its easy handle for the next request
 * (up to CLIENT_IDLE_MAX), else freed. */
static void client_xfer_recycle(struct upstream_pool *p, struct upstream_xfer *x)
{
	if (p->nidle >= CLIENT_IDLE_MAX || !x->easy) {
		client_xfer_free(x);
		return;
	}
	client_xfer_clear(x);
	x->next = p->idle;
	p->idle = x;
	p->nidle++;
}

/* The options that are the same for every request; set once per easy
 * handle (a reused handle keeps them). */
static void client_easy_fixed(CURL *e, const struct upstream_opts *o, struct upstream_xfer *x)
{
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	if (strncmp(o->origin, "https://", 8) == 0) {
		/* HTTP/2 when ALPN offers it; waiting for the TLS handshake to
		 * learn that lets transfers share one connection */
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	} else {
		/* plain HTTP (loopback tests): with PIPEWAIT, curl would hold every
		 * transfer until the first answer shows the connection cannot
		 * multiplex */
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* answers are small JSON: a 4 KiB receive buffer instead of curl's
	 * 16 KiB, which every easy handle holds, also the ones waiting for a
	 * connection (1000 clients = 1000 handles) */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, CLIENT_RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, client_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->resp.error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, client_open_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, (void *)(uintptr_t)o);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, client_close_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, (void *)(uintptr_t)o);
}

/* Links node i of x->own[] holding `line` in front of *list. */
static void client_own_header(struct upstream_xfer *x, int i, char *line,
			      struct curl_slist **list)
{
	x->own[i].data = line;
	x->own[i].next = *list;
	*list = &x->own[i];
}

/*
 * Prepares transfer x (fresh, or recycled with a configured easy handle)
 * for request r: URL from origin + raw path + query (CURLOPT_PATH_AS_IS so
 * the bytes are sent unchanged), method and body, headers (the caller's
 * list borrowed, our own lines in front; signed last so the signature is
 * as fresh as possible). Returns 0 or -1 with err filled.
 */
static int client_xfer_setup(struct upstream_xfer *x, const struct upstream_opts *o,
			     const struct upstream_request *r, char *err, size_t errlen)
{
	size_t ol = strlen(o->origin), ql = r->query ? strlen(r->query) : 0;
	size_t need = ol + r->path_len + ql + 2;
	struct curl_slist *list = (struct curl_slist *)(uintptr_t)r->headers;
	CURL *e = x->easy;

	x->opts = o;
	x->url = need <= sizeof x->url_inline ? x->url_inline : malloc(need);
	if (!x->url) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(x->url, o->origin, ol);
	memcpy(x->url + ol, r->path, r->path_len);
	x->url[ol + r->path_len] = '\0';
	if (r->query) {
		x->url[ol + r->path_len] = '?';
		memcpy(x->url + ol + r->path_len + 1, r->query, ql + 1);
	}
	x->max_bytes = o->max_response_bytes;
	x->too_large = 0;
	x->body_cap = 0;
	memset(&x->resp, 0, sizeof x->resp);
	/* no 100-continue round trip, and no header curl would add by itself */
	client_own_header(x, 0, (char *)(uintptr_t)"Expect:", &list);
	if (r->sign && o->signer && o->key_id) {
		if (client_sign(o, r, x, err, errlen) < 0)
			return -1;
		client_own_header(x, 1, x->sig_line, &list);
		client_own_header(x, 2, x->ts_line, &list);
		client_own_header(x, 3, x->key_line, &list);
	}
	x->req_headers = list;
	if (!x->configured) {
		client_easy_fixed(e, o, x);
		x->configured = 1;
	}
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
	/* the method: every option a previous request on this handle may have
	 * set is set again */
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(r->method, "GET") == 0 && r->body_len == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		/* POSTFIELDS carries the body for every method, DELETE included */
		curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	x->start_us = client_now_us();
	return 0;
}

/* A new transfer for request r with a fresh easy handle, or `reuse` (a
 * background thread's own handle, reset first). NULL with err filled. */
static struct upstream_xfer *client_xfer_new(const struct upstream_opts *o,
					     const struct upstream_request *r, CURL *reuse,
					     char *err, size_t errlen)
{
	struct upstream_xfer *x = calloc(1, sizeof *x);

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (reuse) {
		/* a background thread's own handle: its connection cache keeps
		 * the upstream connection (and TLS session) between calls */
		curl_easy_reset(reuse);
		x->borrowed = 1;
	}
	if (!(x->easy = reuse ? reuse : curl_easy_init())) {
		snprintf(err, errlen, "cannot create a curl handle");
		goto fail;
	}
	if (client_xfer_setup(x, o, r, err, errlen) < 0)
		goto fail;
	return x;
fail:
	client_xfer_free(x);
	return NULL;
}

/* Classifies a finished transfer into resp->outcome. */
static void client_classify(struct upstream_xfer *x, CURLcode rc)
{
	long req_size = 0, nconn = 0;

	curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &nconn);
	if (nconn > 0 && x->opts->on_handshakes && strncmp(x->url, "https://", 8) == 0)
		x->opts->on_handshakes(nconn);
	x->resp.elapsed_us = (long)(client_now_us() - x->start_us);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->resp.status);
		x->resp.outcome = UPSTREAM_OK;
		return;
	}
	if (x->resp.error[0] == '\0')
		snprintf(x->resp.error, sizeof x->resp.error, "%s", curl_easy_strerror(rc));
	x->resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
	if (x->too_large) {
		x->resp.outcome = UPSTREAM_TOO_LARGE;
		snprintf(x->resp.error, sizeof x->resp.error,
			 "upstream response is larger than %ld bytes", x->max_bytes);
		return;
	}
	curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &req_size);
	x->resp.outcome = req_size > 0 ? UPSTREAM_NO_ANSWER : UPSTREAM_NOT_SENT;
}

/* curl socket callback: mirrors curl's interest in a socket on the epoll
 * set. An epoll_ctl failure is logged by the transfer failing (curl then
 * times out); nothing else can be done here. */
static int client_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct upstream_pool *p = userp;
	struct epoll_event ev;

	(void)e;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(p->multi, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (socketp) {
		if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
			epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev);
	} else {
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
			epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev);
		curl_multi_assign(p->multi, s, p);
	}
	return 0;
}

/* Monotonic milliseconds. */
static int64_t client_now_ms(void)
{
	return client_now_us() / 1000;
}

/* curl timer callback: remembers when curl wants to be called. */
static int client_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct upstream_pool *p = userp;

	(void)m;
	p->deadline_ms = timeout_ms < 0 ? -1 : client_now_ms() + timeout_ms;
	return 0;
}

struct upstream_pool *upstream_pool_new(int epfd, const struct upstream_opts *o, long max_conns,
					char *err, size_t errlen)
{
	struct upstream_pool *p = calloc(1, sizeof *p);

	if (!p || !(p->multi = curl_multi_init())) {
		snprintf(err, errlen, "cannot create a curl multi handle");
		free(p);
		return NULL;
	}
	p->epfd = epfd;
	p->opts = o;
	p->deadline_ms = -1;
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, client_socket_cb);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, client_timer_cb);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	if (max_conns < 1)
		max_conns = 1;
	curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_conns);
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, max_conns);
	curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return p;
}

/* Unlinks a transfer from its pool's list and the multi handle. */
static void client_detach(struct upstream_xfer *x)
{
	struct upstream_pool *p = x->pool;

	curl_multi_remove_handle(p->multi, x->easy);
	if (x->prev)
		x->prev->next = x->next;
	else
		p->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	p->active--;
}

/* Collects finished transfers and calls their callbacks. A callback may
 * start new transfers; those are picked up on the next pass. */
static void client_drain(struct upstream_pool *p)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(p->multi, &left))) {
		struct upstream_xfer *x = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		client_classify(x, m->data.result);
		client_detach(x);
		x->done(x->ud, &x->resp);
		client_xfer_recycle(p, x);
	}
}

struct upstream_xfer *upstream_pool_start(struct upstream_pool *p,
					  const struct upstream_request *r,
					  upstream_done_fn done, void *ud,
					  char *err, size_t errlen)
{
	struct upstream_xfer *x = p->idle;
	CURLMcode mc;

	if (x) {
		p->idle = x->next;
		p->nidle--;
		x->next = NULL;
		if (client_xfer_setup(x, p->opts, r, err, errlen) < 0) {
			client_xfer_recycle(p, x);
			return NULL;
		}
	} else if (!(x = client_xfer_new(p->opts, r, NULL, err, errlen))) {
		return NULL;
	}
	x->pool = p;
	x->done = done;
	x->ud = ud;
	mc = curl_multi_add_handle(p->multi, x->easy);
	if (mc != CURLM_OK) {
		snprintf(err, errlen, "cannot start transfer: %s", curl_multi_strerror(mc));
		client_xfer_recycle(p, x);
		return NULL;
	}
	p->active++;
	x->next = p->head;
	if (p->head)
		p->head->prev = x;
	p->head = x;
	return x;
}

void upstream_xfer_cancel(struct upstream_xfer *x)
{
	if (!x)
		return;
	client_detach(x);
	client_xfer_recycle(x->pool, x);
}

void upstream_xfer_own_headers(struct upstream_xfer *x, struct curl_slist *headers)
{
	x->owned_headers = headers;
}

int upstream_xfer_sent(const struct upstream_xfer *x)
{
	long req_size = 0;

	curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &req_size);
	return req_size > 0;
}

void upstream_pool_socket_event(struct upstream_pool *p, int fd, uint32_t events)
{
	int running = 0, flags = 0;

	if (events & (EPOLLIN | EPOLLHUP))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(p->multi, fd, flags, &running);
	client_drain(p);
}

long upstream_pool_timeout_ms(const struct upstream_pool *p)
{
	int64_t left;

	if (p->deadline_ms < 0)
		return -1;
	left = p->deadline_ms - client_now_ms();
	return left < 0 ? 0 : (long)left;
}

void upstream_pool_timeout(struct upstream_pool *p)
{
	int running = 0;

	p->deadline_ms = -1;
	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	client_drain(p);
}

size_t upstream_pool_active(const struct upstream_pool *p)
{
	return p->active;
}

void upstream_pool_free(struct upstream_pool *p)
{
	if (!p)
		return;
	while (p->head) {
		struct upstream_xfer *x = p->head;
		client_detach(x);
		client_xfer_free(x);
	}
	while (p->idle) {
		struct upstream_xfer *x = p->idle;
		p->idle = x->next;
		client_xfer_free(x);
	}
	curl_multi_cleanup(p->multi);
	free(p);
}

/* One handle per background thread, kept for its lifetime. */
static _Thread_local CURL *tl_easy;

void upstream_blocking_thread_done(void)
{
	if (tl_easy) {
		curl_easy_cleanup(tl_easy);
		tl_easy = NULL;
	}
}

void upstream_blocking(const struct upstream_opts *o, const struct upstream_request *r,
		       struct upstream_response *resp)
{
	char err[256];
	struct upstream_xfer *x;
	CURLcode rc;

	if (!tl_easy)
		tl_easy = curl_easy_init();
	x = client_xfer_new(o, r, tl_easy, err, sizeof err);
	memset(resp, 0, sizeof *resp);
	if (!x) {
		resp->outcome = UPSTREAM_INTERNAL;
		snprintf(resp->error, sizeof resp->error, "%s", err);
		return;
	}
	rc = curl_easy_perform(x->easy);
	client_classify(x, rc);
	*resp = x->resp;
	memset(&x->resp, 0, sizeof x->resp);
	client_xfer_free(x);
}
