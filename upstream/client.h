/*
 * client: the upstream HTTP client. A struct upstream_pool is one curl multi
 * handle driven by curl_multi_socket_action on its owner's epoll set; it
 * belongs to one event loop and must only be used from that loop's thread.
 * Connections are kept alive and reused (HTTP/2 when the upstream offers it
 * over TLS), bounded per pool by the max_conns it is created with (the
 * gateway splits upstream.max_connections across its event loops, so the
 * process as a whole stays within it). Finished transfers keep their easy
 * handle for the next request on the same pool (no curl_easy_init, no
 * option set-up beyond the per-request ones, no header copies).
 *
 * upstream_blocking() is a separate, thread-safe, blocking call for
 * background threads (readiness probe, session operations).
 */
#ifndef UPSTREAM_CLIENT_H
#define UPSTREAM_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>

struct signer;

/* Settings shared by every pool and blocking call; borrowed, must outlive
 * the pools (it lives in the gateway's configuration snapshot). */
struct upstream_opts {
	const char *origin;          /* "https://host:port", no trailing slash */
	const char *ca_file;         /* NULL = system store */
	const char *key_id;          /* NULL = do not sign */
	const struct signer *signer; /* NULL = do not sign */
	long connect_timeout_ms, timeout_ms;
	long max_connections;
	long max_response_bytes;
	struct presign *presign;     /* ready signatures for order paths, or NULL */
	/* observers for metrics (may be NULL; called from any thread) */
	void (*on_sign)(long us);          /* one signature made */
	void (*on_conn)(int delta);        /* connection opened (+1) / closed (-1) */
	void (*on_handshakes)(long n);     /* new TLS connections made */
	void (*on_presign)(int hit);       /* a pre-signed signature used (1) or missing (0) */
};

enum upstream_outcome {
	UPSTREAM_OK = 0,        /* a complete HTTP response arrived */
	UPSTREAM_NOT_SENT,      /* nothing was sent (connect, TLS, DNS failed) */
	UPSTREAM_NO_ANSWER,     /* sent, but no complete answer (timeout, reset) */
	UPSTREAM_TOO_LARGE,     /* the answer passed max_response_bytes */
	UPSTREAM_INTERNAL       /* could not even start (allocation, signing) */
};

struct upstream_response {
	enum upstream_outcome outcome;
	int timed_out;           /* the failure was a timeout */
	long status;             /* HTTP status when outcome == UPSTREAM_OK */
	char *body;              /* malloc'd, NUL-terminated; caller may take it */
	size_t body_len;
	struct curl_slist *headers; /* response headers "Name: value" (final response) */
	long elapsed_us;         /* from start to completion */
	int64_t signed_ts_ms;    /* the KALSHI-ACCESS-TIMESTAMP sent, 0 if unsigned */
	char error[CURL_ERROR_SIZE]; /* human-readable reason on failure */
};

/* Releases body and headers; the struct itself is the caller's. */
void upstream_response_release(struct upstream_response *r);

/* A request: method, raw path (with /trade-api/v2, no query), raw query or
 * NULL, extra headers and body (both borrowed until the transfer ends; see
 * upstream_xfer_own_headers to hand the list over instead). */
struct upstream_request {
	const char *method;
	const char *path;
	size_t path_len;
	const char *query;
	const struct curl_slist *headers;
	const char *body;
	size_t body_len;
	int sign;                /* add KALSHI-ACCESS-* headers at dispatch */
};

struct upstream_pool;
struct upstream_xfer;

/* Called once when a transfer ends; resp is valid during the call only, but
 * the callee may take resp->body (set it to NULL). */
typedef void (*upstream_done_fn)(void *ud, struct upstream_response *resp);

/* Creates a pool whose sockets are registered on epoll set epfd, with
 * epoll_event.data.fd = the socket, holding at most max_conns (>= 1)
 * upstream connections. Returns NULL with err filled. */
struct upstream_pool *upstream_pool_new(int epfd, const struct upstream_opts *o, long max_conns,
					char *err, size_t errlen);

/* Aborts every transfer without calling back, closes connections, frees.
 * NULL is a no-op. */
void upstream_pool_free(struct upstream_pool *p);

/*
 * Starts a transfer: builds the URL, signs (if r->sign) over the exact path
 * bytes, and adds it to the pool. done(ud, resp) is called exactly once from
 * upstream_pool_socket_event/timeout on this thread, unless the transfer is
 * cancelled first. Returns the transfer (owned by the pool) or NULL with
 * err filled (done is then never called).
 */
struct upstream_xfer *upstream_pool_start(struct upstream_pool *p,
					  const struct upstream_request *r,
					  upstream_done_fn done, void *ud,
					  char *err, size_t errlen);

/* Aborts a transfer; its callback is never called. */
void upstream_xfer_cancel(struct upstream_xfer *x);

/* Hands the transfer a header list (the one its request borrowed) to free
 * when it ends. */
void upstream_xfer_own_headers(struct upstream_xfer *x, struct curl_slist *headers);

/* Whether the transfer already sent any request bytes (for shutdown). */
int upstream_xfer_sent(const struct upstream_xfer *x);

/* Feeds an epoll readiness event for socket fd. */
void upstream_pool_socket_event(struct upstream_pool *p, int fd, uint32_t events);

/* Milliseconds until curl wants upstream_pool_timeout() called; -1 = none. */
long upstream_pool_timeout_ms(const struct upstream_pool *p);

/* Runs curl's timers (call when the timeout expired). */
void upstream_pool_timeout(struct upstream_pool *p);

/* Number of transfers in progress. */
size_t upstream_pool_active(const struct upstream_pool *p);

/*
 * Performs one request synchronously (blocking this thread up to the
 * timeouts). Thread-safe; for background threads only, never an event loop.
 * Always fills *resp (release it with upstream_response_release).
 */
void upstream_blocking(const struct upstream_opts *o, const struct upstream_request *r,
		       struct upstream_response *resp);

/* Seconds the upstream's clock is ahead of ours, from the response's Date
 * header (second resolution); returns 0 and *skew_s, or -1 when absent. */
int upstream_clock_skew(const struct upstream_response *r, long *skew_s);

/* Releases the calling thread's upstream_blocking handle (and its
 * connections); call when a background thread ends. */
void upstream_blocking_thread_done(void);

/* Global curl initialisation; call once at start-up before any thread. */
int upstream_global_init(char *err, size_t errlen);
void upstream_global_cleanup(void);

#endif
