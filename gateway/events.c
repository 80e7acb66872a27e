/* events: see events.h. */
#include "gateway/events.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "policy/session.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define EV_HOOK_CONNECT_MS 1000
#define EV_HOOK_BACKOFF_MS 500      /* first retry; doubles per attempt */
#define EV_HOOK_BACKOFF_MAX_MS 30000
#define EV_STOP_FLUSH_MS 1000

static const char ev_greeting[] = ": kalshi-gateway session events\nretry: 1000\n\n";
static const char ev_heartbeat[] = ": heartbeat\n\n";

/* One event of the history. */
struct ev_item {
	uint64_t id;
	char name[SESSION_NAME_MAX + 1];
	char *frame;                 /* "id: N\nevent: T\ndata: S\n\n" */
	size_t len;
};

/*
 * One GET /session/events stream. Its state is guarded by the bus lock.
 * Two references: the request (dropped when the request completes) and
 * the response (dropped when libmicrohttpd destroys it); whichever comes
 * last frees it.
 */
struct ev_listener {
	struct events *ev;
	struct request *rq;          /* NULL once the request completed */
	struct ev_listener *prev, *next;
	int linked;
	char name[SESSION_NAME_MAX + 1]; /* "" = every session */
	uint64_t cursor;             /* last event id looked at */
	char *part;                  /* the rest of a frame larger than the space */
	size_t part_len, part_off;
	int greeted;
	int parked;                  /* suspended by the reader, waiting */
	int hb_due;                  /* a heartbeat comment is owed */
	int closing;                 /* end the stream at the next read */
	int refs;
};

/* One event waiting for (or being POSTed to) a webhook. */
struct ev_delivery {
	uint64_t id;
	char type[32];
	char *body;
	int attempts;
};

struct ev_hook {
	const char *url;             /* configuration-owned, lives until exit */
	struct ev_delivery *q;       /* ring of EVENTS_HOOK_QUEUE waiting deliveries */
	size_t head, n;
	struct ev_delivery cur;      /* in flight when easy != NULL */
	CURL *easy;
	struct curl_slist *hdrs;
	int64_t next_ms;             /* the head may be tried from then on */
	long delivered, failed, dropped;
};

struct events {
	struct gw *gw;
	pthread_mutex_t lock;        /* guards everything below but the thread */
	struct ev_item *ring;        /* EVENTS_HISTORY slots, id % EVENTS_HISTORY */
	uint64_t first_id, next_id;
	struct ev_listener *listeners;
	size_t nlisteners;
	int kick;                    /* something for the thread to look at */
	int closed;                  /* every stream was ended (shutdown) */
	long closed_behind;
	struct ev_hook *hooks;
	size_t nhooks;
	int stop;
	int64_t stop_deadline_ms;

	CURLM *multi;                /* the events thread's */
	pthread_t thread;
	int running;
	int64_t next_hb_ms;
};

/* Wall-clock Unix milliseconds. */
static int64_t ev_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A malloc'd printf; NULL on OOM. */
static char *ev_format(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ev_format(size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(out = malloc((size_t)n + 1)))
		return NULL;
	va_start(ap, fmt);
	vsnprintf(out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (len)
		*len = (size_t)n;
	return out;
}

/* The oldest id still in the history (== next_id when empty). Caller holds
 * the lock. */
static uint64_t ev_oldest(const struct events *ev)
{
	uint64_t n = ev->next_id - ev->first_id;

	return ev->next_id - (n < EVENTS_HISTORY ? n : EVENTS_HISTORY);
}

struct events *events_new(struct gw *gw, char *err, size_t errlen)
{
	struct events *ev = calloc(1, sizeof *ev);
	const struct gw_strlist *urls = &gw->conf->events.webhooks;

	if (!ev || !(ev->ring = calloc(EVENTS_HISTORY, sizeof *ev->ring)))
		goto oom;
	ev->gw = gw;
	pthread_mutex_init(&ev->lock, NULL);
	ev->first_id = ev->next_id = (uint64_t)ev_wall_ms();
	if (urls->count) {
		if (!(ev->hooks = calloc(urls->count, sizeof *ev->hooks)))
			goto oom;
		ev->nhooks = urls->count;
		for (size_t i = 0; i < urls->count; i++) {
			ev->hooks[i].url = urls->items[i];
			if (!(ev->hooks[i].q = calloc(EVENTS_HOOK_QUEUE, sizeof *ev->hooks[i].q)))
				goto oom;
		}
	}
	ev->multi = curl_multi_init();
	if (!ev->multi) {
		snprintf(err, errlen, "cannot create the webhook client");
		events_free(ev);
		return NULL;
	}
	return ev;
oom:
	snprintf(err, errlen, "out of memory");
	events_free(ev);
	return NULL;
}

/* Frees a listener once neither the request nor the response holds it.
 * Caller holds the lock. */
static void ev_listener_unref(struct ev_listener *l)
{
	struct events *ev = l->ev;

	if (l->linked) {
		if (l->prev)
			l->prev->next = l->next;
		else
			ev->listeners = l->next;
		if (l->next)
			l->next->prev = l->prev;
		l->linked = 0;
		ev->nlisteners--;
	}
	if (--l->refs > 0)
		return;
	free(l->part);
	free(l);
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	/* no connection is left (the daemons are gone): drop what remains */
	while (ev->listeners) {
		struct ev_listener *l = ev->listeners;
		l->refs = 1;
		ev_listener_unref(l);
	}
	for (size_t i = 0; ev->ring && i < EVENTS_HISTORY; i++)
		free(ev->ring[i].frame);
	for (size_t i = 0; i < ev->nhooks; i++) {
		struct ev_hook *h = &ev->hooks[i];
		if (h->easy) {
			curl_multi_remove_handle(ev->multi, h->easy);
			curl_easy_cleanup(h->easy);
		}
		curl_slist_free_all(h->hdrs);
		free(h->cur.body);
		for (size_t k = 0; h->q && k < h->n; k++)
			free(h->q[(h->head + k) % EVENTS_HOOK_QUEUE].body);
		free(h->q);
	}
	free(ev->hooks);
	if (ev->multi)
		curl_multi_cleanup(ev->multi);
	free(ev->ring);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

/* ---- publishing (any thread) ---- */

/* Queues a delivery for a webhook, dropping the oldest waiting one when
 * the queue is full. Takes d->body. Caller holds the lock. */
static void ev_hook_push(struct ev_hook *h, struct ev_delivery *d, int front)
{
	if (h->n == EVENTS_HOOK_QUEUE) {
		if (front) {
			/* a retry of the oldest event: it is the one to go */
			free(d->body);
			h->dropped++;
			return;
		}
		free(h->q[h->head].body);
		h->head = (h->head + 1) % EVENTS_HOOK_QUEUE;
		h->n--;
		h->dropped++;
	}
	if (front) {
		h->head = (h->head + EVENTS_HOOK_QUEUE - 1) % EVENTS_HOOK_QUEUE;
		h->q[h->head] = *d;
	} else {
		h->q[(h->head + h->n) % EVENTS_HOOK_QUEUE] = *d;
	}
	h->n++;
}

uint64_t events_publish(struct events *ev, const char *type, const char *name,
			const json_t *session)
{
	char *data, *frame, *body;
	size_t len;
	uint64_t id = 0;

	if (!ev || !(data = json_dumps(session, JSON_COMPACT)))
		return 0;
	pthread_mutex_lock(&ev->lock);
	frame = ev_format(&len, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", ev->next_id, type, data);
	if (!frame)
		goto out;
	id = ev->next_id++;
	{
		struct ev_item *it = &ev->ring[id % EVENTS_HISTORY];
		free(it->frame);
		it->id = id;
		snprintf(it->name, sizeof it->name, "%s", name);
		it->frame = frame;
		it->len = len;
	}
	for (size_t i = 0; i < ev->nhooks; i++) {
		struct ev_delivery d;
		body = ev_format(NULL, "{\"id\":%" PRIu64 ",\"event\":\"%s\",\"session\":%s}", id, type,
				 data);
		if (!body) {
			ev->hooks[i].dropped++;
			continue;
		}
		memset(&d, 0, sizeof d);
		d.id = id;
		snprintf(d.type, sizeof d.type, "%s", type);
		d.body = body;
		ev_hook_push(&ev->hooks[i], &d, 0);
	}
	ev->kick = 1;
out:
	pthread_mutex_unlock(&ev->lock);
	free(data);
	if (id && ev->multi)
		curl_multi_wakeup(ev->multi);
	return id;
}

/* ---- listeners (the content reader runs on the listener's loop) ---- */

/* Whether parked listener l has an event to send (or fell behind, which
 * its reader must see). Events of other sessions are skipped here, so a
 * filtered listener never falls behind because of them. Caller holds the
 * lock. */
static int ev_has_for(const struct events *ev, struct ev_listener *l)
{
	if (l->cursor + 1 >= ev->next_id)
		return 0;
	if (!l->name[0] || l->cursor + 1 < ev_oldest(ev))
		return 1;
	for (uint64_t id = l->cursor + 1; id < ev->next_id; id++)
		if (strcmp(ev->ring[id % EVENTS_HISTORY].name, l->name) == 0)
			return 1;
	l->cursor = ev->next_id - 1;
	return 0;
}

/*
 * The content reader: the greeting, then frames after the cursor that
 * match the filter, then a heartbeat when owed. With nothing to send it
 * suspends the connection (the events thread resumes it) and returns 0:
 * libmicrohttpd calls it again once resumed. A listener whose next event
 * already left the history fell too far behind: its stream ends (the
 * client reconnects with Last-Event-ID and gets what history is left).
 */
static ssize_t ev_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct ev_listener *l = cls;
	struct events *ev = l->ev;
	size_t n = 0;
	ssize_t ret;

	(void)pos;
	pthread_mutex_lock(&ev->lock);
	if (l->closing || !l->rq) {
		ret = MHD_CONTENT_READER_END_OF_STREAM;
		goto out;
	}
	if (!l->greeted && sizeof ev_greeting - 1 <= max) {
		memcpy(buf, ev_greeting, sizeof ev_greeting - 1);
		n = sizeof ev_greeting - 1;
		l->greeted = 1;
	}
	if (l->part) {
		size_t k = l->part_len - l->part_off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, l->part + l->part_off, k);
		n += k;
		l->part_off += k;
		if (l->part_off == l->part_len) {
			free(l->part);
			l->part = NULL;
		}
	}
	while (!l->part && n < max) {
		uint64_t next = l->cursor + 1;
		struct ev_item *it;
		if (next >= ev->next_id)
			break;
		if (next < ev_oldest(ev)) {
			if (n)
				break;
			ev->closed_behind++;
			log_warn("events: a listener fell more than %d events behind; its stream is closed",
				 EVENTS_HISTORY);
			ret = MHD_CONTENT_READER_END_OF_STREAM;
			goto out;
		}
		it = &ev->ring[next % EVENTS_HISTORY];
		if (l->name[0] && strcmp(l->name, it->name) != 0) {
			l->cursor = next;
			continue;
		}
		if (it->len <= max - n) {
			memcpy(buf + n, it->frame, it->len);
			n += it->len;
			l->cursor = next;
			continue;
		}
		if (n)
			break;
		/* larger than the space MHD offers: in pieces */
		if (!(l->part = malloc(it->len - max))) {
			ret = MHD_CONTENT_READER_END_WITH_ERROR;
			goto out;
		}
		memcpy(buf, it->frame, max);
		memcpy(l->part, it->frame + max, it->len - max);
		l->part_len = it->len - max;
		l->part_off = 0;
		n = max;
		l->cursor = next;
	}
	if (!l->part && l->hb_due && n + sizeof ev_heartbeat - 1 <= max) {
		memcpy(buf + n, ev_heartbeat, sizeof ev_heartbeat - 1);
		n += sizeof ev_heartbeat - 1;
		l->hb_due = 0;
	}
	if (n == 0) {
		/* nothing to send: hold no thread, poll nothing; under the lock,
		 * so the events thread cannot resume before the suspension */
		l->parked = 1;
		request_suspend_external(l->rq);
	}
	ret = (ssize_t)n;
out:
	pthread_mutex_unlock(&ev->lock);
	return ret;
}

/* MHD's response free callback: the response's reference. */
static void ev_response_free(void *cls)
{
	struct ev_listener *l = cls;
	struct events *ev = l->ev;

	pthread_mutex_lock(&ev->lock);
	ev_listener_unref(l);
	pthread_mutex_unlock(&ev->lock);
}

/* The request's ctx_free: the request completed (stream ended, client
 * gone, or daemon stopped). */
static void ev_request_gone(void *ctx)
{
	struct ev_listener *l = ctx;
	struct events *ev = l->ev;

	pthread_mutex_lock(&ev->lock);
	l->rq = NULL;
	ev_listener_unref(l);
	pthread_mutex_unlock(&ev->lock);
}

void events_handle_sse(struct events *ev, struct request *rq, const char *name, int has_last,
		       uint64_t last_id)
{
	struct ev_listener *l = calloc(1, sizeof *l);
	struct MHD_Response *resp;
	uint64_t newest, oldest;

	if (!l) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	l->ev = ev;
	l->rq = rq;
	l->refs = 2;
	snprintf(l->name, sizeof l->name, "%s", name ? name : "");
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, ev_reader, l,
						 ev_response_free);
	if (!resp) {
		free(l);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	pthread_mutex_lock(&ev->lock);
	if (ev->closed) {
		pthread_mutex_unlock(&ev->lock);
		l->refs = 1;                  /* the response's, dropped below */
		MHD_destroy_response(resp);
		request_fail(rq, "shutting_down", "the gateway is stopping", NULL);
		return;
	}
	newest = ev->next_id - 1;
	oldest = ev_oldest(ev);
	if (!has_last || last_id >= newest)
		l->cursor = newest;
	else if (last_id + 1 < oldest)
		l->cursor = oldest - 1;      /* older than the history: all of it */
	else
		l->cursor = last_id;
	l->next = ev->listeners;
	if (ev->listeners)
		ev->listeners->prev = l;
	ev->listeners = l;
	l->linked = 1;
	ev->nlisteners++;
	pthread_mutex_unlock(&ev->lock);
	rq->ctx = l;
	rq->ctx_free = ev_request_gone;
	request_answer(rq, 200, resp);
}

/*
 * Resumes the parked listeners that have something to send: new events
 * for them, a heartbeat when hb is set (every listener then owes one), or
 * the end of the stream. The resumes happen outside the lock: a parked
 * listener's connection stays suspended (so its request stays alive) until
 * this thread resumes it.
 */
static void ev_wake(struct events *ev, int hb)
{
	struct request **rqs;
	size_t n = 0;

	pthread_mutex_lock(&ev->lock);
	if (!hb && !ev->kick) {
		pthread_mutex_unlock(&ev->lock);
		return;
	}
	rqs = malloc((ev->nlisteners ? ev->nlisteners : 1) * sizeof *rqs);
	if (!rqs) {
		pthread_mutex_unlock(&ev->lock);
		return;                       /* kick stays set: next pass */
	}
	ev->kick = 0;
	for (struct ev_listener *l = ev->listeners; l; l = l->next) {
		if (hb)
			l->hb_due = 1;
		if (l->parked && l->rq && (l->closing || l->hb_due || ev_has_for(ev, l))) {
			l->parked = 0;
			rqs[n++] = l->rq;
		}
	}
	pthread_mutex_unlock(&ev->lock);
	for (size_t i = 0; i < n; i++)
		request_resume_external(rqs[i]);
	free(rqs);
}

/* Ends every stream (once): no new listener is accepted afterwards. */
static void ev_close_streams(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	if (ev->closed) {
		pthread_mutex_unlock(&ev->lock);
		return;
	}
	ev->closed = 1;
	for (struct ev_listener *l = ev->listeners; l; l = l->next)
		l->closing = 1;
	ev->kick = 1;
	pthread_mutex_unlock(&ev->lock);
	ev_wake(ev, 0);
}

/* ---- webhooks (events thread) ---- */

/* Discards a webhook answer's body. */
static size_t ev_discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* Starts the head delivery of every idle webhook that is due. During the
 * stop flush only first attempts go. */
static void ev_hooks_start(struct events *ev, int64_t now)
{
	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nhooks; i++) {
		struct ev_hook *h = &ev->hooks[i];
		char hdr[96];
		CURL *e;
		while (ev->stop && !h->easy && h->n && h->q[h->head].attempts > 0) {
			free(h->q[h->head].body);
			h->head = (h->head + 1) % EVENTS_HOOK_QUEUE;
			h->n--;
			h->failed++;
		}
		if (h->easy || !h->n || (now < h->next_ms && !ev->stop))
			continue;
		if (!(e = curl_easy_init()))
			continue;
		h->cur = h->q[h->head];
		h->head = (h->head + 1) % EVENTS_HOOK_QUEUE;
		h->n--;
		h->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		snprintf(hdr, sizeof hdr, "X-Gateway-Event: %s", h->cur.type);
		h->hdrs = curl_slist_append(h->hdrs, hdr);
		snprintf(hdr, sizeof hdr, "X-Gateway-Event-Id: %" PRIu64, h->cur.id);
		h->hdrs = curl_slist_append(h->hdrs, hdr);
		h->hdrs = curl_slist_append(h->hdrs, "Expect:");
		curl_easy_setopt(e, CURLOPT_URL, h->url);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->cur.body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(h->cur.body));
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)EVENTS_HOOK_TIMEOUT_MS);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)EV_HOOK_CONNECT_MS);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ev_discard);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "kalshi-gateway-webhook");
		curl_easy_setopt(e, CURLOPT_PRIVATE, h);
		if (curl_multi_add_handle(ev->multi, e) != CURLM_OK) {
			curl_easy_cleanup(e);
			curl_slist_free_all(h->hdrs);
			h->hdrs = NULL;
			ev_hook_push(h, &h->cur, 1);
			memset(&h->cur, 0, sizeof h->cur);
			h->next_ms = now + EV_HOOK_BACKOFF_MS;
			continue;
		}
		h->easy = e;
	}
	pthread_mutex_unlock(&ev->lock);
}

/* Takes finished webhook transfers: done on a 2xx, else retried with
 * backoff up to EVENTS_HOOK_ATTEMPTS tries. */
static void ev_hooks_done(struct events *ev, int64_t now)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(ev->multi, &left))) {
		struct ev_hook *h = NULL;
		long code = 0;
		CURLcode rc;
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(ev->multi, m->easy_handle);
		curl_easy_cleanup(m->easy_handle);
		if (!h)
			continue;
		pthread_mutex_lock(&ev->lock);
		h->easy = NULL;
		curl_slist_free_all(h->hdrs);
		h->hdrs = NULL;
		if (rc == CURLE_OK && code >= 200 && code < 300) {
			h->delivered++;
			free(h->cur.body);
			h->next_ms = 0;
		} else if (++h->cur.attempts >= EVENTS_HOOK_ATTEMPTS || ev->stop) {
			h->failed++;
			log_warn("webhook %s: event %" PRIu64 " not delivered after %d attempt(s) (%s)",
				 h->url, h->cur.id, h->cur.attempts,
				 rc != CURLE_OK ? curl_easy_strerror(rc) : "status not 2xx");
			free(h->cur.body);
		} else {
			int64_t wait = EV_HOOK_BACKOFF_MS;
			for (int k = 1; k < h->cur.attempts && wait < EV_HOOK_BACKOFF_MAX_MS; k++)
				wait *= 2;
			if (wait > EV_HOOK_BACKOFF_MAX_MS)
				wait = EV_HOOK_BACKOFF_MAX_MS;
			h->next_ms = now + wait;
			log_debug("webhook %s: event %" PRIu64 " attempt %d failed; retrying in %lld ms",
				  h->url, h->cur.id, h->cur.attempts, (long long)wait);
			ev_hook_push(h, &h->cur, 1);
		}
		memset(&h->cur, 0, sizeof h->cur);
		pthread_mutex_unlock(&ev->lock);
	}
}

/* Whether no webhook has anything queued or in flight. */
static int ev_hooks_idle(struct events *ev)
{
	int idle = 1;

	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nhooks; i++)
		if (ev->hooks[i].easy || ev->hooks[i].n)
			idle = 0;
	pthread_mutex_unlock(&ev->lock);
	return idle;
}

/* Milliseconds the thread may sleep: until the heartbeat, the next due
 * webhook retry, at most one second (the stop flag). */
static int ev_sleep_ms(struct events *ev, int64_t now)
{
	int64_t t = 1000;

	if (ev->next_hb_ms - now < t)
		t = ev->next_hb_ms - now;
	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nhooks; i++) {
		struct ev_hook *h = &ev->hooks[i];
		if (!h->easy && h->n && h->next_ms - now < t)
			t = h->next_ms - now;
	}
	if (ev->kick)
		t = 0;
	pthread_mutex_unlock(&ev->lock);
	return t < 0 ? 0 : (int)t;
}

/* The events thread: wakes listeners, sends heartbeats, drives webhooks,
 * ends the streams once the gateway stops. */
static void *ev_main(void *arg)
{
	struct events *ev = arg;

	ev->next_hb_ms = gw_now_ms() + EVENTS_HEARTBEAT_MS;
	for (;;) {
		int64_t now = gw_now_ms();
		int running, stop, hb = now >= ev->next_hb_ms;

		if (atomic_load(&ev->gw->stopping))
			ev_close_streams(ev);
		if (hb)
			ev->next_hb_ms = now + EVENTS_HEARTBEAT_MS;
		ev_wake(ev, hb);
		ev_hooks_start(ev, now);
		curl_multi_perform(ev->multi, &running);
		ev_hooks_done(ev, gw_now_ms());
		pthread_mutex_lock(&ev->lock);
		stop = ev->stop;
		pthread_mutex_unlock(&ev->lock);
		if (stop && (ev_hooks_idle(ev) || gw_now_ms() >= ev->stop_deadline_ms))
			break;
		curl_multi_poll(ev->multi, NULL, 0, ev_sleep_ms(ev, gw_now_ms()), NULL);
	}
	return NULL;
}

int events_start(struct events *ev, char *err, size_t errlen)
{
	int rc = pthread_create(&ev->thread, NULL, ev_main, ev);

	if (rc != 0) {
		snprintf(err, errlen, "cannot start the events thread: %s", strerror(rc));
		return -1;
	}
	ev->running = 1;
	return 0;
}

void events_stop(struct events *ev)
{
	if (!ev)
		return;
	ev_close_streams(ev);
	pthread_mutex_lock(&ev->lock);
	ev->stop = 1;
	ev->stop_deadline_ms = gw_now_ms() + EV_STOP_FLUSH_MS;
	pthread_mutex_unlock(&ev->lock);
	if (ev->running) {
		curl_multi_wakeup(ev->multi);
		pthread_join(ev->thread, NULL);
		ev->running = 0;
	}
}

/* Appends printf output to a growing buffer. */
static int ev_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ev_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return 0;
		}
		{
			size_t nc = (*cap + (size_t)n + 1) * 2;
			char *nb = realloc(*buf, nc);
			if (!nb)
				return -1;
			*buf = nb;
			*cap = nc;
		}
	}
}

int events_metrics_append(struct events *ev, char **buf, size_t *len, size_t *cap)
{
	long delivered = 0, failed = 0, dropped = 0, queued = 0, behind;
	size_t listeners;
	uint64_t total;

	if (!ev)
		return 0;
	pthread_mutex_lock(&ev->lock);
	listeners = ev->nlisteners;
	total = ev->next_id - ev->first_id;
	behind = ev->closed_behind;
	for (size_t i = 0; i < ev->nhooks; i++) {
		delivered += ev->hooks[i].delivered;
		failed += ev->hooks[i].failed;
		dropped += ev->hooks[i].dropped;
		queued += (long)ev->hooks[i].n + (ev->hooks[i].easy ? 1 : 0);
	}
	pthread_mutex_unlock(&ev->lock);
	return ev_append(buf, len, cap,
			 "# HELP kalshi_gateway_events_total Session events published.\n"
			 "# TYPE kalshi_gateway_events_total counter\n"
			 "kalshi_gateway_events_total %" PRIu64 "\n"
			 "# HELP kalshi_gateway_event_listeners Open GET /session/events streams.\n"
			 "# TYPE kalshi_gateway_event_listeners gauge\n"
			 "kalshi_gateway_event_listeners %zu\n"
			 "# HELP kalshi_gateway_event_listeners_behind_total Streams closed because the listener fell out of the history.\n"
			 "# TYPE kalshi_gateway_event_listeners_behind_total counter\n"
			 "kalshi_gateway_event_listeners_behind_total %ld\n"
			 "# HELP kalshi_gateway_webhook_deliveries_total Webhook deliveries by outcome (failed: gave up after retries; dropped: queue full).\n"
			 "# TYPE kalshi_gateway_webhook_deliveries_total counter\n"
			 "kalshi_gateway_webhook_deliveries_total{outcome=\"delivered\"} %ld\n"
			 "kalshi_gateway_webhook_deliveries_total{outcome=\"failed\"} %ld\n"
			 "kalshi_gateway_webhook_deliveries_total{outcome=\"dropped\"} %ld\n"
			 "# HELP kalshi_gateway_webhook_queue Webhook deliveries waiting or in flight.\n"
			 "# TYPE kalshi_gateway_webhook_queue gauge\n"
			 "kalshi_gateway_webhook_queue %ld\n",
			 total, listeners, behind, delivered, failed, dropped, queued);
}
