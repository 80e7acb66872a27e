/* sessions: see sessions.h. */
#include "gateway/sessions.h"
#include "gateway/audit.h"
#include "gateway/events.h"
#include "gateway/gw.h"
#include "gateway/dispatch.h"
#include "gateway/log.h"
#include "gateway/proxy.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "policy/fixed.h"
#include "policy/roles.h"
#include "upstream/client.h"
#include "upstream/ratelimit.h"
#include "upstream/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SESS_WINDOW_MS 15000
#define SESS_WATCH_MS 1000          /* each active session's group read at most this often */
#define SESS_RETRY_MS 5000          /* after a failed automatic operation */
#define SESS_SETTLE_MS 1500         /* how long orders in flight may explain a trigger */
#define SESS_PATH_GROUPS "/trade-api/v2/portfolio/order_groups"

/* A group creation whose outcome is not known yet (crash safety). */
struct intent {
	char id[40];
	char name[SESSION_NAME_MAX + 1];
	long contracts_limit, subaccount, exchange_index;
	json_t *before;              /* group ids that existed before the create */
	int64_t created_ms;
};

enum job_kind { JOB_HTTP = 0, JOB_CONFIRM };
enum job_op { OP_START = 0, OP_RESET, OP_END, OP_HALT, OP_LIMIT, OP_GET };

struct job {
	enum job_kind kind;
	enum job_op op;
	struct request *rq;
	struct session_start_req start;
	struct session_op_req opr;
	char name[SESSION_NAME_MAX + 1];
	char group[SESSION_ID_MAX];
	struct job *next;
};

struct sessions {
	struct gw *gw;
	pthread_mutex_t lock;            /* guards the tables below */
	struct session *act;             /* active and triggered sessions */
	size_t nact, capact;
	struct session *hist;            /* ended sessions, oldest first */
	size_t nhist, caphist;
	struct intent *intents;
	size_t nint, capint;
	int dirty;                       /* counters changed since the last write */
	/* a session whose start is not in the state file yet: orders do not
	 * see it (a crash now makes recovery delete its group) */
	char unsaved[SESSION_NAME_MAX + 1];
	int reconciled;
	char why[256];
	char path[4096];
	char dir[4096];

	pthread_t thread;
	int running;
	/* writes of the state file are one at a time, snapshot to rename, so
	 * the file never goes back to an older snapshot (plock); the flusher
	 * thread writes changed counters every second even while the worker
	 * waits on a slow exchange call (flock, fcond, fstop) */
	pthread_mutex_t plock;
	pthread_t flusher;
	int flusher_running;
	pthread_mutex_t flock;
	pthread_cond_t fcond;
	int fstop;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct job *qhead, *qtail;
	int stop;
	int64_t last_reconcile_ms;

	/* fill tracking: accepted orders per session, polled against
	 * GET /portfolio/fills (worker thread; guarded by lock) */
	struct sess_track *tracks;
	size_t ntracks, captracks;
	int64_t last_fill_poll_ms;

	/* group watching (worker thread only) */
	int64_t watch_round_ms;          /* when the current round started */
	size_t watch_pos;                /* next session index in the round */
	int64_t watch_block_ms;          /* no read before then (read budget spent) */

	/* the event bus, and the events of transitions not yet published:
	 * they go out once the transition is persisted (evlock) */
	struct events *events;
	pthread_mutex_t evlock;
	struct sess_pending_event *evq;
	size_t nevq, capevq;
};

struct sess_pending_event {
	char type[32];
	char name[SESSION_NAME_MAX + 1];
	json_t *session;
};

#define SESS_TRACK_ORDERS 4096          /* orders remembered per session */
#define SESS_TRACK_FILLS 8192           /* fill ids remembered per session */
#define SESS_FILL_POLL_MS 1000

struct sess_order {
	char id[72];
	int64_t counted;                 /* fills already in contracts_filled */
	int64_t polled;                  /* fills seen by the poller */
};

struct sess_track {
	char name[SESSION_NAME_MAX + 1];
	char group[SESSION_ID_MAX];
	long subaccount;
	int64_t since_s;                 /* min_ts for the fills query */
	struct sess_order *orders;       /* ring of SESS_TRACK_ORDERS */
	size_t norders, next_order;
	char (*fills)[72];               /* ring of seen fill ids */
	size_t nfills, next_fill;
};

/* Wall-clock Unix milliseconds. */
static int64_t sess_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Makes room for one more pending event. Caller holds evlock. */
static int sess_grow_events(struct sessions *s)
{
	struct sess_pending_event *nq;
	size_t nc;

	if (s->nevq < s->capevq)
		return 0;
	nc = s->capevq ? s->capevq * 2 : 8;
	if (!(nq = realloc(s->evq, nc * sizeof *nq)))
		return -1;
	s->evq = nq;
	s->capevq = nc;
	return 0;
}

/*
 * Every session transition passes here: the event (type, session object as
 * it is now) is queued and goes out once the transition is persisted
 * (sess_flush_events, called by sess_persist), so a bot never sees a change
 * a crash could take back. Safe under the session lock (never blocks).
 */
static void sess_event(struct sessions *s, const char *event, const struct session *ss)
{
	json_t *o = session_to_json(ss);
	struct sess_pending_event *e;

	if (!o)
		return;
	pthread_mutex_lock(&s->evlock);
	if (sess_grow_events(s) < 0) {
		pthread_mutex_unlock(&s->evlock);
		json_decref(o);
		log_error("session '%s': event %s lost: out of memory", ss->name, event);
		return;
	}
	e = &s->evq[s->nevq++];
	snprintf(e->type, sizeof e->type, "%s", event);
	snprintf(e->name, sizeof e->name, "%s", ss->name);
	e->session = o;
	pthread_mutex_unlock(&s->evlock);
}

/* Publishes the queued events, in order: to the event bus (SSE listeners,
 * webhooks) and to the audit log as {"type":"session","event":...,
 * "event_id": N, "session": S}. */
static void sess_flush_events(struct sessions *s)
{
	struct sess_pending_event *q;
	size_t n;

	pthread_mutex_lock(&s->evlock);
	q = s->evq;
	n = s->nevq;
	s->evq = NULL;
	s->nevq = s->capevq = 0;
	pthread_mutex_unlock(&s->evlock);
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_object();
		uint64_t id = events_publish(s->events, q[i].type, q[i].name, q[i].session);
		json_object_set_new(a, "type", json_string("session"));
		json_object_set_new(a, "event", json_string(q[i].type));
		if (id)
			json_object_set_new(a, "event_id", json_integer((json_int_t)id));
		json_object_set_new(a, "session", q[i].session);
		audit_record(s->gw->audit, a);
	}
	free(q);
}

void sessions_uuid(char *buf, size_t cap)
{
	unsigned char b[16];

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		uint64_t t = (uint64_t)gw_now_us() ^ (uint64_t)(uintptr_t)buf;
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(i * 37);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, cap,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

/* Index of the active session `name`, or -1. Caller holds the lock. */
static long sess_find(struct sessions *s, const char *name)
{
	for (size_t i = 0; i < s->nact; i++)
		if (strcmp(s->act[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Grows an array of `size`-byte elements to hold one more. */
static int sess_grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *na;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	if (!(na = realloc(*arr, nc * size)))
		return -1;
	*arr = na;
	*cap = nc;
	return 0;
}

/* Moves active session i to the history (bounded by session.history).
 * Caller holds the lock. */
static void sess_retire(struct sessions *s, size_t i)
{
	struct session done = s->act[i];
	long keep = s->gw->conf->session.history;

	memmove(&s->act[i], &s->act[i + 1], (s->nact - i - 1) * sizeof *s->act);
	s->nact--;
	if (keep <= 0)
		return;
	if (s->nhist >= (size_t)keep) {
		size_t drop = s->nhist - (size_t)keep + 1;
		memmove(s->hist, s->hist + drop, (s->nhist - drop) * sizeof *s->hist);
		s->nhist -= drop;
	}
	if (sess_grow((void **)&s->hist, &s->caphist, s->nhist, sizeof *s->hist) == 0)
		s->hist[s->nhist++] = done;
}

/* Builds the state-file document. Caller holds the lock. */
static json_t *sess_state_json(struct sessions *s)
{
	json_t *root = json_object(), *act = json_array(), *hist = json_array(),
	       *ints = json_array();

	for (size_t i = 0; i < s->nact; i++)
		json_array_append_new(act, session_to_state(&s->act[i]));
	for (size_t i = 0; i < s->nhist; i++)
		json_array_append_new(hist, session_to_state(&s->hist[i]));
	for (size_t i = 0; i < s->nint; i++) {
		struct intent *it = &s->intents[i];
		json_t *o = json_object();
		json_object_set_new(o, "intent_id", json_string(it->id));
		json_object_set_new(o, "name", json_string(it->name));
		json_object_set_new(o, "contracts_limit", json_integer(it->contracts_limit));
		json_object_set_new(o, "subaccount", json_integer(it->subaccount));
		json_object_set_new(o, "exchange_index", json_integer(it->exchange_index));
		json_object_set_new(o, "groups_before", json_deep_copy(it->before));
		json_object_set_new(o, "created_ms", json_integer(it->created_ms));
		json_array_append_new(ints, o);
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "sessions", act);
	json_object_set_new(root, "history", hist);
	json_object_set_new(root, "intents", ints);
	return root;
}

/*
 * Writes the state atomically: temp file (0600), fsync, rename, fsync of
 * the directory; one writer at a time (plock), so a later snapshot is never
 * overwritten by an earlier one. Returns 0 or -1 (logged; the old file
 * stays and the state is marked dirty, so the next flush tries again).
 */
static int sess_write_state(struct sessions *s)
{
	char tmp[4200], *text;
	json_t *doc;
	size_t len, off = 0;
	int fd, dfd, rc = -1;

	pthread_mutex_lock(&s->plock);
	pthread_mutex_lock(&s->lock);
	doc = sess_state_json(s);
	s->dirty = 0;
	pthread_mutex_unlock(&s->lock);
	text = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	if (!text) {
		log_error("cannot serialise session state: out of memory");
		goto out;
	}
	len = strlen(text);
	snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("cannot write '%s': %s", tmp, strerror(errno));
			close(fd);
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		log_error("cannot sync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, s->path) < 0) {
		log_error("cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (rc < 0) {
		pthread_mutex_lock(&s->lock);
		s->dirty = 1;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->plock);
	free(text);
	return rc;
}

/* Writes the state (sess_write_state), then publishes the events of the
 * transitions it holds. Worker thread (or at stop). */
static int sess_persist(struct sessions *s)
{
	int rc = sess_write_state(s);

	sess_flush_events(s);
	return rc;
}

/* The flusher: every second, writes the state if counters changed. It
 * publishes no events (the worker does, after its own writes), so it never
 * announces a transition its snapshot may not hold. */
static void *sess_flusher_main(void *arg)
{
	struct sessions *s = arg;

	pthread_setname_np(pthread_self(), "gw-flush");
	pthread_mutex_lock(&s->flock);
	while (!s->fstop) {
		struct timespec ts;
		int dirty;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&s->fcond, &s->flock, &ts);
		if (s->fstop)
			break;
		pthread_mutex_unlock(&s->flock);
		pthread_mutex_lock(&s->lock);
		dirty = s->dirty;
		pthread_mutex_unlock(&s->lock);
		if (dirty)
			sess_write_state(s);
		pthread_mutex_lock(&s->flock);
	}
	pthread_mutex_unlock(&s->flock);
	return NULL;
}

/* Reads one intent from the state file. */
static int sess_load_intent(const json_t *j, struct intent *it)
{
	const json_t *v;

	memset(it, 0, sizeof *it);
	if (!json_is_object(j))
		return -1;
	v = json_object_get(j, "intent_id");
	if (!json_is_string(v) || json_string_length(v) >= sizeof it->id)
		return -1;
	strcpy(it->id, json_string_value(v));
	v = json_object_get(j, "name");
	if (!json_is_string(v) || !session_name_ok(json_string_value(v)))
		return -1;
	strcpy(it->name, json_string_value(v));
	it->contracts_limit = (long)json_integer_value(json_object_get(j, "contracts_limit"));
	it->subaccount = (long)json_integer_value(json_object_get(j, "subaccount"));
	it->exchange_index = (long)json_integer_value(json_object_get(j, "exchange_index"));
	it->created_ms = json_integer_value(json_object_get(j, "created_ms"));
	v = json_object_get(j, "groups_before");
	if (!json_is_array(v))
		return -1;
	it->before = json_deep_copy(v);
	return it->before ? 0 : -1;
}

/* Loads the state file into s. Returns 0 (also when absent), or -1 with
 * err filled when it cannot be read or is corrupt. */
static int sess_load(struct sessions *s, char *err, size_t errlen)
{
	json_error_t e;
	json_t *doc, *arr, *v;
	size_t i;
	char why[256];

	if (access(s->path, F_OK) != 0)
		return 0;
	doc = json_load_file(s->path, JSON_REJECT_DUPLICATES, &e);
	if (!doc) {
		snprintf(err, errlen, "corrupt state file '%s': %s (line %d); not overwritten",
			 s->path, e.text, e.line);
		return -1;
	}
	if (!json_is_object(doc) || json_integer_value(json_object_get(doc, "version")) != 1) {
		snprintf(err, errlen, "corrupt state file '%s': not a version 1 state", s->path);
		goto fail;
	}
	/* the writer always writes the three lists: anything else is not a
	 * state this gateway understands, and must not be overwritten */
	if (!json_is_array(json_object_get(doc, "sessions")) ||
	    !json_is_array(json_object_get(doc, "history")) ||
	    !json_is_array(json_object_get(doc, "intents"))) {
		snprintf(err, errlen,
			 "corrupt state file '%s': 'sessions', 'history' and 'intents' must be arrays",
			 s->path);
		goto fail;
	}
	arr = json_object_get(doc, "sessions");
	json_array_foreach(arr, i, v) {
		struct session ss;
		if (session_from_state(v, &ss, why, sizeof why) < 0 ||
		    sess_grow((void **)&s->act, &s->capact, s->nact, sizeof *s->act) < 0) {
			snprintf(err, errlen, "corrupt state file '%s': sessions[%zu]: %s", s->path, i, why);
			goto fail;
		}
		s->act[s->nact++] = ss;
	}
	arr = json_object_get(doc, "history");
	json_array_foreach(arr, i, v) {
		struct session ss;
		if (session_from_state(v, &ss, why, sizeof why) < 0 ||
		    sess_grow((void **)&s->hist, &s->caphist, s->nhist, sizeof *s->hist) < 0) {
			snprintf(err, errlen, "corrupt state file '%s': history[%zu]: %s", s->path, i, why);
			goto fail;
		}
		s->hist[s->nhist++] = ss;
	}
	arr = json_object_get(doc, "intents");
	json_array_foreach(arr, i, v) {
		struct intent it;
		if (sess_load_intent(v, &it) < 0 ||
		    sess_grow((void **)&s->intents, &s->capint, s->nint, sizeof *s->intents) < 0) {
			json_decref(it.before);
			snprintf(err, errlen, "corrupt state file '%s': intents[%zu] is invalid", s->path, i);
			goto fail;
		}
		s->intents[s->nint++] = it;
	}
	json_decref(doc);
	return 0;
fail:
	json_decref(doc);
	return -1;
}

struct sessions *sessions_new(struct gw *gw, char *err, size_t errlen)
{
	struct sessions *s = calloc(1, sizeof *s);

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->gw = gw;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_mutex_init(&s->evlock, NULL);
	pthread_mutex_init(&s->plock, NULL);
	pthread_mutex_init(&s->flock, NULL);
	pthread_cond_init(&s->fcond, NULL);
	pthread_cond_init(&s->qcond, NULL);
	if (!(s->events = events_new(gw, err, errlen))) {
		sessions_free(s);
		return NULL;
	}
	snprintf(s->dir, sizeof s->dir, "%s", gw->conf->state_dir);
	snprintf(s->path, sizeof s->path, "%.4000s/sessions.json", gw->conf->state_dir);
	if (sess_load(s, err, errlen) < 0) {
		sessions_free(s);
		return NULL;
	}
	s->reconciled = s->nact == 0 && s->nint == 0;
	snprintf(s->why, sizeof s->why, "sessions not reconciled with the upstream yet");
	if (s->nact || s->nint)
		log_info("state: %zu session(s) and %zu unfinished group creation(s) to reconcile",
			 s->nact, s->nint);
	return s;
}

void sessions_free(struct sessions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nint; i++)
		json_decref(s->intents[i].before);
	while (s->qhead) {
		struct job *j = s->qhead;
		s->qhead = j->next;
		free(j);
	}
	for (size_t i = 0; i < s->ntracks; i++) {
		free(s->tracks[i].orders);
		free(s->tracks[i].fills);
	}
	free(s->tracks);
	free(s->intents);
	free(s->act);
	free(s->hist);
	for (size_t i = 0; i < s->nevq; i++)
		json_decref(s->evq[i].session);
	free(s->evq);
	events_free(s->events);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->qlock);
	pthread_mutex_destroy(&s->evlock);
	pthread_mutex_destroy(&s->plock);
	pthread_mutex_destroy(&s->flock);
	pthread_cond_destroy(&s->fcond);
	pthread_cond_destroy(&s->qcond);
	free(s);
}

int sessions_reconciled(struct sessions *s, char *why, size_t cap)
{
	int ok;

	pthread_mutex_lock(&s->lock);
	ok = s->reconciled;
	if (!ok)
		snprintf(why, cap, "%s", s->why);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* ---- upstream calls (worker thread) ---- */

/* The User-Agent of the background reads (group watch, fill poll), so they
 * can be told from the reads clients and session operations make (in the
 * upstream's logs, and by tests). */
#define SESS_WATCH_AGENT "User-Agent: kalshi-gateway (group watch)"
#define SESS_FILLS_AGENT "User-Agent: kalshi-gateway (fill poll)"

/* Performs one signed call: path under /trade-api/v2, ?subaccount=N when
 * sub > 0, an optional JSON body (not stolen), an optional extra header. */
static void sess_call_h(struct sessions *s, const char *method, const char *path, long sub,
			json_t *body, const char *header, struct upstream_response *resp)
{
	struct upstream_request r;
	struct curl_slist *h = NULL;
	char query[32], *text = NULL;

	memset(&r, 0, sizeof r);
	r.method = method;
	r.path = path;
	r.path_len = strlen(path);
	r.sign = 1;
	if (sub > 0) {
		snprintf(query, sizeof query, "subaccount=%ld", sub);
		r.query = query;
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		h = curl_slist_append(NULL, "Content-Type: application/json");
		r.body = text;
		r.body_len = text ? strlen(text) : 0;
	}
	if (header)
		h = curl_slist_append(h, header);
	r.headers = h;
	dispatch_charge(s->gw, r.method, r.path, r.path_len);  /* charged, never waits */
	upstream_blocking(&s->gw->up, &r, resp);
	curl_slist_free_all(h);
	free(text);
}

/* sess_call_h without an extra header. */
static void sess_call(struct sessions *s, const char *method, const char *path, long sub,
		      json_t *body, struct upstream_response *resp)
{
	sess_call_h(s, method, path, sub, body, NULL, resp);
}

/* Parses a successful answer's body as a JSON object (NULL if not). */
static json_t *sess_body_json(const struct upstream_response *resp)
{
	json_t *j;

	if (resp->outcome != UPSTREAM_OK || !resp->body)
		return NULL;
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Whether an answer is a 2xx. */
static int sess_ok(const struct upstream_response *resp)
{
	return resp->outcome == UPSTREAM_OK && resp->status >= 200 && resp->status < 300;
}

/* Lists the ids of the account's groups (for a subaccount); with limit > 0
 * only those whose listed contracts limit is that many contracts (a group
 * listed without a readable limit is kept). Returns a new array, or NULL
 * when the upstream could not say. */
static json_t *sess_list_groups(struct sessions *s, long sub, long limit)
{
	struct upstream_response resp;
	json_t *body, *ids = NULL, *g;
	size_t i;

	sess_call(s, "GET", SESS_PATH_GROUPS, sub, NULL, &resp);
	if (sess_ok(&resp) && (body = sess_body_json(&resp))) {
		json_t *arr = json_object_get(body, "order_groups");
		if (json_is_array(arr)) {
			ids = json_array();
			json_array_foreach(arr, i, g) {
				json_t *id = json_object_get(g, "id");
				json_t *lim = json_object_get(g, "contracts_limit_fp");
				int64_t h;
				if (!json_is_string(id))
					id = json_object_get(g, "order_group_id");
				if (limit > 0 && json_is_string(lim) &&
				    fixed_parse_count(json_string_value(lim), json_string_length(lim),
						      &h) == 0 &&
				    h != (int64_t)limit * 100)
					continue;  /* not the group an intent asked for */
				if (json_is_string(id))
					json_array_append(ids, id);
			}
		}
		json_decref(body);
	}
	upstream_response_release(&resp);
	return ids;
}

/* Whether a JSON array of strings holds `id`. */
static int sess_array_has(const json_t *arr, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return 1;
	return 0;
}

/* Whether any known session (active or ended) owns group id. Caller holds
 * the lock. */
static int sess_known_group(struct sessions *s, const char *id)
{
	for (size_t i = 0; i < s->nact; i++) {
		if (strcmp(s->act[i].order_group_id, id) == 0)
			return 1;
		for (unsigned k = 0; k < s->act[i].nprevious; k++)
			if (strcmp(s->act[i].previous_group_ids[k], id) == 0)
				return 1;
	}
	for (size_t i = 0; i < s->nhist; i++)
		if (strcmp(s->hist[i].order_group_id, id) == 0)
			return 1;
	return 0;
}

/*
 * How long after an intent was recorded its create may still land
 * upstream: a request the gateway sent (perhaps just before it died) can be
 * processed until its transfer would have timed out, plus a margin.
 */
static int64_t sess_intent_settle_ms(const struct sessions *s)
{
	return s->gw->conf->upstream.connect_timeout_ms + s->gw->conf->upstream.timeout_ms + 1000;
}

/* Removes intent `id` from the table. Caller holds the lock. */
static void sess_drop_intent_locked(struct sessions *s, const char *id);

/*
 * Resolves unfinished group creations: any group that appeared after the
 * intent was recorded, has the intent's contracts limit and that no session
 * owns was created under it and never handed to a client, so it is deleted
 * (Kalshi cancels its orders). The limit check keeps groups other tools or
 * gateways created on the account meanwhile (with another limit) safe.
 * An intent stays until the upstream could be asked, and until its create
 * can no longer land (listing earlier could miss a create still in flight,
 * which would then leave an orphan group). Returns the number left
 * unresolved.
 */
static size_t sess_resolve_intents(struct sessions *s)
{
	size_t i = 0;

	for (;;) {
		struct intent it;
		json_t *now, *g;
		size_t k;
		int failed = 0;

		pthread_mutex_lock(&s->lock);
		if (i >= s->nint) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		it = s->intents[i];
		if (sess_wall_ms() - it.created_ms < sess_intent_settle_ms(s)) {
			pthread_mutex_unlock(&s->lock);
			i++;  /* its create may still be in flight: later */
			continue;
		}
		it.before = json_incref(it.before);
		pthread_mutex_unlock(&s->lock);
		now = sess_list_groups(s, it.subaccount, it.contracts_limit);
		if (!now) {
			json_decref(it.before);
			i++;
			continue;
		}
		json_array_foreach(now, k, g) {
			const char *id = json_string_value(g);
			char path[512];
			struct upstream_response resp;
			int known;
			if (sess_array_has(it.before, id))
				continue;
			pthread_mutex_lock(&s->lock);
			known = sess_known_group(s, id);
			pthread_mutex_unlock(&s->lock);
			if (known)
				continue;
			snprintf(path, sizeof path, SESS_PATH_GROUPS "/%.400s", id);
			sess_call(s, "DELETE", path, it.subaccount, NULL, &resp);
			if (sess_ok(&resp) || (resp.outcome == UPSTREAM_OK && resp.status == 404))
				log_warn("recovery: deleted order group %s created for session '%s' whose start never completed",
					 id, it.name);
			else
				failed = 1;
			upstream_response_release(&resp);
		}
		json_decref(now);
		json_decref(it.before);
		if (failed) {
			i++;
			continue;
		}
		pthread_mutex_lock(&s->lock);
		sess_drop_intent_locked(s, it.id);
		pthread_mutex_unlock(&s->lock);
		sess_persist(s);
	}
	pthread_mutex_lock(&s->lock);
	i = s->nint;
	pthread_mutex_unlock(&s->lock);
	return i;
}

/* Sum of fills seen in the last 15 seconds (hundredths). */
static int64_t sess_window(const struct session *ss, int64_t now)
{
	int64_t sum = 0;

	for (size_t i = 0; i < sizeof ss->fill_n / sizeof ss->fill_n[0]; i++)
		if (ss->fill_ts_ms[i] && now - ss->fill_ts_ms[i] <= SESS_WINDOW_MS)
			sum += ss->fill_n[i];
	return sum;
}

/* Forgets the fills of the 15-second window (the group's counter was
 * reset or the group replaced). */
static void sess_clear_window(struct session *ss)
{
	memset(ss->fill_ts_ms, 0, sizeof ss->fill_ts_ms);
	memset(ss->fill_n, 0, sizeof ss->fill_n);
}

/*
 * Applies a group read to the session (caller holds the lock). The
 * exchange is the truth: is_auto_cancel_enabled true means triggered (the
 * reason is limit_window when the gateway's own fill tracking shows the
 * window over the limit, else external); false on a triggered session means
 * the group was reset outside the gateway, and the session is active again
 * (session_reset); a 404 ends it with group_missing. Counters are kept on
 * an outside reset (only the window goes), so the session caps still hold.
 * Returns 1 when the session changed.
 */
static int sess_apply_group(struct sessions *s, size_t i, long status, const json_t *g)
{
	struct session *ss = &s->act[i];
	int64_t now = sess_wall_ms();
	const json_t *ace;

	if (status == 404) {
		ss->status = SESSION_ENDED;
		snprintf(ss->status_reason, sizeof ss->status_reason, "%s",
			 strcmp(ss->pending, "end") == 0 ? "ended" : "group_missing");
		ss->pending[0] = '\0';
		ss->ended_at_ms = now;
		log_warn("session '%s': order group %s is gone upstream; session ended (%s)",
			 ss->name, ss->order_group_id, ss->status_reason);
		sess_event(s, "session_ended", ss);
		sess_retire(s, i);
		return 1;
	}
	if (!g)
		return 0;
	ss->verified = 1;
	ace = json_object_get(g, "is_auto_cancel_enabled");
	if (json_is_true(ace) && ss->status != SESSION_TRIGGERED) {
		int explained = sess_window(ss, now) > (int64_t)ss->contracts_limit * 100;
		int64_t mono = gw_now_ms();
		if (!explained && ss->reserved > 0) {
			/* orders in flight: the exchange may have counted their
			 * fills before their answers reached the gateway, so
			 * read again before calling the trigger external */
			if (!ss->trig_seen_ms)
				ss->trig_seen_ms = mono;
			if (mono - ss->trig_seen_ms < SESS_SETTLE_MS)
				return 0;
		}
		ss->trig_seen_ms = 0;
		ss->status = SESSION_TRIGGERED;
		snprintf(ss->status_reason, sizeof ss->status_reason, "%s",
			 explained ? "limit_window" : "external");
		ss->recover_at_ms = 0;
		log_warn("session '%s': order group %s is triggered (%s)", ss->name,
			 ss->order_group_id, ss->status_reason);
		sess_event(s, "session_triggered", ss);
		return 1;
	}
	if (json_is_false(ace))
		ss->trig_seen_ms = 0;
	if (json_is_false(ace) && ss->status == SESSION_TRIGGERED && !ss->pending[0]) {
		log_warn("session '%s': order group %s was reset outside the gateway (was %s); session active again",
			 ss->name, ss->order_group_id, ss->status_reason);
		ss->status = SESSION_ACTIVE;
		ss->status_reason[0] = '\0';
		ss->recover_at_ms = 0;
		sess_clear_window(ss);
		sess_event(s, "session_reset", ss);
		return 1;
	}
	return 0;
}

/* Reads the group of active session `name` from the upstream and applies
 * it. *g_out (may be NULL) gets the group object; resp is kept for the
 * caller to report. `header`: an extra request header, or NULL. */
static void sess_refresh_h(struct sessions *s, const char *name, const char *header,
			   struct upstream_response *resp, json_t **g_out)
{
	char path[512], group[SESSION_ID_MAX];
	long sub, i;
	json_t *g;
	int changed = 0;

	if (g_out)
		*g_out = NULL;
	memset(resp, 0, sizeof *resp);
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i < 0) {
		pthread_mutex_unlock(&s->lock);
		resp->outcome = UPSTREAM_INTERNAL;
		return;
	}
	snprintf(group, sizeof group, "%s", s->act[i].order_group_id);
	sub = s->act[i].subaccount;
	pthread_mutex_unlock(&s->lock);
	snprintf(path, sizeof path, SESS_PATH_GROUPS "/%s", group);
	sess_call_h(s, "GET", path, sub, NULL, header, resp);
	g = sess_ok(resp) ? sess_body_json(resp) : NULL;
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0 && strcmp(s->act[i].order_group_id, group) == 0 && resp->outcome == UPSTREAM_OK)
		changed = sess_apply_group(s, (size_t)i, resp->status, g);
	pthread_mutex_unlock(&s->lock);
	if (changed)
		sess_persist(s);
	if (g_out)
		*g_out = g;
	else
		json_decref(g);
}

/* sess_refresh_h without an extra header. */
static void sess_refresh(struct sessions *s, const char *name, struct upstream_response *resp,
			 json_t **g_out)
{
	sess_refresh_h(s, name, NULL, resp, g_out);
}

/* Reconciles every active session with the upstream and resolves
 * intents; updates the readiness flag. */
static void sess_reconcile(struct sessions *s)
{
	size_t left = sess_resolve_intents(s), unverified = 0;

	for (size_t n = 0;; n++) {
		char name[SESSION_NAME_MAX + 1], pending[16], group[SESSION_ID_MAX];
		struct upstream_response resp;
		long sub;

		pthread_mutex_lock(&s->lock);
		while (n < s->nact && s->act[n].verified)
			n++;
		if (n >= s->nact) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		snprintf(name, sizeof name, "%s", s->act[n].name);
		snprintf(pending, sizeof pending, "%s", s->act[n].pending);
		snprintf(group, sizeof group, "%s", s->act[n].order_group_id);
		sub = s->act[n].subaccount;
		pthread_mutex_unlock(&s->lock);
		if (strcmp(pending, "end") == 0) {
			/* an end was under way when the gateway stopped: finish it */
			char path[512];
			snprintf(path, sizeof path, SESS_PATH_GROUPS "/%s", group);
			sess_call(s, "DELETE", path, sub, NULL, &resp);
			if (sess_ok(&resp) || (resp.outcome == UPSTREAM_OK && resp.status == 404)) {
				pthread_mutex_lock(&s->lock);
				long i = sess_find(s, name);
				if (i >= 0)
					sess_apply_group(s, (size_t)i, 404, NULL);
				pthread_mutex_unlock(&s->lock);
				sess_persist(s);
				n--;
			} else {
				unverified++;
			}
			upstream_response_release(&resp);
			continue;
		}
		sess_refresh(s, name, &resp, NULL);
		if (resp.outcome != UPSTREAM_OK || (resp.status != 404 && !sess_ok(&resp)))
			unverified++;
		if (resp.outcome == UPSTREAM_OK && resp.status == 404)
			n--;  /* the session left the active table */
		upstream_response_release(&resp);
	}
	pthread_mutex_lock(&s->lock);
	s->reconciled = left == 0 && unverified == 0;
	if (!s->reconciled)
		snprintf(s->why, sizeof s->why,
			 "sessions not reconciled: %zu session(s) unverified, %zu group creation(s) unresolved",
			 unverified, left);
	pthread_mutex_unlock(&s->lock);
	s->last_reconcile_ms = gw_now_ms();
}

/* After a create whose outcome is unknown: resolves the intent when it
 * can, else marks the sessions unreconciled so the worker retries (and
 * /readyz says why) until it is resolved. */
static void sess_resolve_or_retry(struct sessions *s)
{
	size_t left = sess_resolve_intents(s);

	pthread_mutex_lock(&s->lock);
	if (left) {
		s->reconciled = 0;
		snprintf(s->why, sizeof s->why,
			 "sessions not reconciled: %zu group creation(s) unresolved", left);
	}
	pthread_mutex_unlock(&s->lock);
	if (left)
		s->last_reconcile_ms = gw_now_ms();
}

/* ---- answering jobs (worker thread; the connection is suspended) ---- */

/* Answers with {"session": S} (or {"sessions": [...]}). */
static void sess_answer_session(struct request *rq, unsigned int status, const struct session *ss)
{
	json_t *o = json_object();

	json_object_set_new(o, "session", session_to_json(ss));
	request_answer(rq, status, reply_json(o));
}

/* Answers with the upstream's own answer (relayed unchanged) or the
 * gateway error for a failed call. Takes resp->body. */
static void sess_answer_upstream(struct request *rq, struct upstream_response *resp)
{
	proxy_relay(rq, resp);
}

/* POST /session/start. */
static void sess_do_start(struct sessions *s, struct job *j)
{
	struct request *rq = j->rq;
	struct session_start_req *r = &j->start;
	struct upstream_response resp;
	struct intent it;
	json_t *before, *body, *ans;
	struct session ss;
	long i;
	int saved;

	pthread_mutex_lock(&s->lock);
	i = sess_find(s, j->name);
	pthread_mutex_unlock(&s->lock);
	if (i >= 0) {
		request_fail(rq, "session_exists", "a session with this name is active", NULL);
		return;
	}
	before = sess_list_groups(s, r->subaccount, 0);
	if (!before) {
		request_fail(rq, "upstream_unavailable",
			     "cannot list the account's order groups before creating one", NULL);
		return;
	}
	memset(&it, 0, sizeof it);
	sessions_uuid(it.id, sizeof it.id);
	snprintf(it.name, sizeof it.name, "%s", j->name);
	it.contracts_limit = r->contracts_limit;
	it.subaccount = r->subaccount;
	it.exchange_index = r->exchange_index;
	it.before = before;
	it.created_ms = sess_wall_ms();
	pthread_mutex_lock(&s->lock);
	if (sess_grow((void **)&s->intents, &s->capint, s->nint, sizeof *s->intents) < 0) {
		pthread_mutex_unlock(&s->lock);
		json_decref(before);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	s->intents[s->nint++] = it;
	pthread_mutex_unlock(&s->lock);
	if (sess_persist(s) < 0) {
		request_fail(rq, "upstream_unavailable", "cannot persist the session state", NULL);
		goto drop_intent;
	}
	body = json_object();
	json_object_set_new(body, "contracts_limit", json_integer(r->contracts_limit));
	if (r->subaccount)
		json_object_set_new(body, "subaccount", json_integer(r->subaccount));
	if (r->exchange_index)
		json_object_set_new(body, "exchange_index", json_integer(r->exchange_index));
	sess_call(s, "POST", SESS_PATH_GROUPS "/create", 0, body, &resp);
	json_decref(body);
	if (resp.outcome != UPSTREAM_OK) {
		/* the group may or may not exist: the intent stays for recovery */
		sess_answer_upstream(rq, &resp);
		upstream_response_release(&resp);
		sess_resolve_or_retry(s);
		return;
	}
	ans = sess_body_json(&resp);
	if (!sess_ok(&resp) || !ans || !json_is_string(json_object_get(ans, "order_group_id")) ||
	    json_string_length(json_object_get(ans, "order_group_id")) >= SESSION_ID_MAX) {
		json_decref(ans);
		if (sess_ok(&resp)) {
			request_fail(rq, "upstream_unavailable",
				     "the upstream's order group answer has no order_group_id", NULL);
			upstream_response_release(&resp);
			sess_resolve_or_retry(s);
			return;
		}
		sess_answer_upstream(rq, &resp);
		upstream_response_release(&resp);
		goto drop_intent;
	}
	memset(&ss, 0, sizeof ss);
	snprintf(ss.name, sizeof ss.name, "%s", j->name);
	sessions_uuid(ss.session_id, sizeof ss.session_id);
	snprintf(ss.order_group_id, sizeof ss.order_group_id, "%s",
		 json_string_value(json_object_get(ans, "order_group_id")));
	ss.subaccount = r->subaccount;
	if (json_is_integer(json_object_get(ans, "subaccount")))
		ss.subaccount = (long)json_integer_value(json_object_get(ans, "subaccount"));
	ss.exchange_index = r->exchange_index;
	ss.status = SESSION_ACTIVE;
	ss.contracts_limit = r->contracts_limit;
	ss.heartbeat_timeout_s = r->heartbeat_timeout_s;
	ss.started_at_ms = ss.last_heartbeat_ms = sess_wall_ms();
	ss.has_max_filled = r->has_max_filled;
	ss.max_session_filled_contracts = r->max_session_filled_contracts;
	snprintf(ss.on_trigger, sizeof ss.on_trigger, "%s", r->on_trigger);
	ss.cooldown_s = r->cooldown_s;
	ss.max_auto_resets = r->max_auto_resets;
	ss.verified = 1;
	json_decref(ans);
	upstream_response_release(&resp);
	pthread_mutex_lock(&s->lock);
	if (sess_grow((void **)&s->act, &s->capact, s->nact, sizeof *s->act) == 0)
		s->act[s->nact++] = ss;
	sess_drop_intent_locked(s, it.id);
	snprintf(s->unsaved, sizeof s->unsaved, "%s", ss.name);
	pthread_mutex_unlock(&s->lock);
	saved = sess_persist(s);
	pthread_mutex_lock(&s->lock);
	s->unsaved[0] = '\0';
	pthread_mutex_unlock(&s->lock);
	if (saved < 0) {
		/* the group exists and the session is live in memory: say so,
		 * rather than a failure a retry would meet as session_exists */
		request_fail(rq, "internal_error",
			     "the session was started but the gateway could not save its state file "
			     "(see its log); it keeps trying every second - check GET /session", NULL);
		sess_event(s, "session_started", &ss);
		return;
	}
	sess_event(s, "session_started", &ss);
	sess_flush_events(s);
	log_info("session '%s' started: order group %s, contracts limit %ld", ss.name,
		 ss.order_group_id, ss.contracts_limit);
	sess_answer_session(rq, 201, &ss);
	return;
drop_intent:
	pthread_mutex_lock(&s->lock);
	sess_drop_intent_locked(s, it.id);
	pthread_mutex_unlock(&s->lock);
	sess_persist(s);
}

/* Copies the active session `name`; 0 when found. */
static int sess_copy(struct sessions *s, const char *name, struct session *out)
{
	long i;

	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0)
		*out = s->act[i];
	pthread_mutex_unlock(&s->lock);
	return i >= 0 ? 0 : -1;
}

/* Performs one group mutation for session `name` (PUT reset|trigger|limit
 * or DELETE). On success applies `apply` to the session under the lock,
 * persists, and copies the result into *out. Returns 0 on success, else
 * answers rq with the failure and returns -1. */
static int sess_mutate(struct sessions *s, struct request *rq, const char *name,
		       const char *method, const char *suffix, json_t *body,
		       void (*apply)(struct sessions *, size_t, const struct session_op_req *),
		       const struct session_op_req *opr, struct session *out)
{
	struct session cur;
	struct upstream_response resp;
	char path[512];
	long i;
	int gone;

	if (sess_copy(s, name, &cur) < 0) {
		request_fail(rq, "not_found", "no active session with this name", NULL);
		return -1;
	}
	snprintf(path, sizeof path, SESS_PATH_GROUPS "/%s%s", cur.order_group_id, suffix);
	sess_call(s, method, path, cur.subaccount, body, &resp);
	gone = resp.outcome == UPSTREAM_OK && resp.status == 404;
	if (!sess_ok(&resp) && !(gone && strcmp(method, "DELETE") == 0)) {
		if (gone) {
			/* the group vanished upstream: the session cannot go on */
			pthread_mutex_lock(&s->lock);
			i = sess_find(s, name);
			if (i >= 0)
				sess_apply_group(s, (size_t)i, 404, NULL);
			pthread_mutex_unlock(&s->lock);
			sess_persist(s);
		}
		sess_answer_upstream(rq, &resp);
		upstream_response_release(&resp);
		return -1;
	}
	upstream_response_release(&resp);
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i < 0) {
		pthread_mutex_unlock(&s->lock);
		request_fail(rq, "not_found", "the session ended meanwhile", NULL);
		return -1;
	}
	*out = s->act[i];
	apply(s, (size_t)i, opr);
	if (out->status != SESSION_ENDED) {
		long k = sess_find(s, name);
		if (k >= 0)
			*out = s->act[k];
		else if (s->nhist)
			*out = s->hist[s->nhist - 1];
	}
	pthread_mutex_unlock(&s->lock);
	if (sess_persist(s) < 0) {
		request_fail(rq, "internal_error",
			     "the change was made at the exchange but the gateway could not save its state "
			     "file (see its log); it keeps trying every second - check GET /session", NULL);
		return -1;
	}
	return 0;
}

/* Apply functions for sess_mutate (caller holds the lock). */
static void sess_apply_reset(struct sessions *s, size_t i, const struct session_op_req *o)
{
	(void)o;
	s->act[i].status = SESSION_ACTIVE;
	s->act[i].status_reason[0] = '\0';
	s->act[i].contracts_submitted = 0;
	s->act[i].contracts_filled = 0;
	s->act[i].resting = 0;
	for (unsigned k = 0; k < s->act[i].nshares; k++)
		s->act[i].shares[k].submitted = 0;
	sess_clear_window(&s->act[i]);
	s->act[i].recover_at_ms = 0;
	sess_event(s, "session_reset", &s->act[i]);
}

/* After a raised filled cap: active again, counters kept. */
static void sess_apply_reset_keep(struct sessions *s, size_t i, const struct session_op_req *o)
{
	(void)o;
	s->act[i].status = SESSION_ACTIVE;
	s->act[i].status_reason[0] = '\0';
	s->act[i].recover_at_ms = 0;
	sess_event(s, "session_reset", &s->act[i]);
}

/* An automatic reset_after recovery: active again, the window cleared (the
 * group's counter was reset), the resting orders gone (the trigger
 * cancelled them); the session's counters and caps are kept. */
static void sess_apply_auto_reset(struct sessions *s, size_t i, const struct session_op_req *o)
{
	struct session *ss = &s->act[i];

	(void)o;
	ss->status = SESSION_ACTIVE;
	ss->status_reason[0] = '\0';
	ss->recover_at_ms = 0;
	ss->resting = 0;
	ss->auto_resets++;
	sess_clear_window(ss);
	sess_event(s, "session_reset", ss);
}

static void sess_apply_halt(struct sessions *s, size_t i, const struct session_op_req *o)
{
	(void)o;
	s->act[i].status = SESSION_TRIGGERED;
	snprintf(s->act[i].status_reason, sizeof s->act[i].status_reason, "%s",
		 o && o->reason[0] ? o->reason : "halted");
	sess_event(s, "session_triggered", &s->act[i]);
}

static void sess_apply_end(struct sessions *s, size_t i, const struct session_op_req *o)
{
	(void)o;
	s->act[i].status = SESSION_ENDED;
	snprintf(s->act[i].status_reason, sizeof s->act[i].status_reason, "ended");
	s->act[i].pending[0] = '\0';
	s->act[i].ended_at_ms = sess_wall_ms();
	sess_event(s, "session_ended", &s->act[i]);
	sess_retire(s, i);
}

static void sess_apply_limit(struct sessions *s, size_t i, const struct session_op_req *o)
{
	if (o->has_contracts_limit)
		s->act[i].contracts_limit = o->contracts_limit;
	if (o->has_max_filled) {
		s->act[i].has_max_filled = 1;
		s->act[i].max_session_filled_contracts = o->max_session_filled_contracts;
	}
	sess_event(s, "session_limit_updated", &s->act[i]);
}

/* Marks the session as being ended (persisted before the delete). */
static void sess_mark_pending_end(struct sessions *s, const char *name)
{
	long i;

	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0)
		snprintf(s->act[i].pending, sizeof s->act[i].pending, "end");
	pthread_mutex_unlock(&s->lock);
	sess_persist(s);
}

/* POST /session/halt with {"all": true}: halts every active session. */
static void sess_do_halt_all(struct sessions *s, struct request *rq)
{
	json_t *list = json_array(), *o;
	char (*names)[SESSION_NAME_MAX + 1];
	size_t n;
	int failed = 0;

	pthread_mutex_lock(&s->lock);
	n = s->nact;
	names = calloc(n ? n : 1, sizeof *names);
	for (size_t i = 0; names && i < n; i++)
		snprintf(names[i], sizeof names[i], "%s", s->act[i].name);
	pthread_mutex_unlock(&s->lock);
	if (!names) {
		json_decref(list);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct session out;
		struct request probe = *rq;
		probe.reply = NULL;
		if (sess_mutate(s, &probe, names[i], "PUT", "/trigger", NULL, sess_apply_halt, NULL,
				&out) == 0) {
			json_array_append_new(list, session_to_json(&out));
			log_warn("session '%s' halted (halt all)", names[i]);
		} else {
			failed = 1;
			log_error("halt all: session '%s' could not be halted (status %u)", names[i],
				  probe.reply_status);
			if (probe.reply)
				MHD_destroy_response(probe.reply);
		}
	}
	free(names);
	if (failed) {
		json_t *extra = json_object();
		json_object_set_new(extra, "sessions", list);
		request_fail(rq, "upstream_unavailable",
			     "some sessions could not be halted; the ones that were are listed", extra);
		return;
	}
	o = json_object();
	json_object_set_new(o, "sessions", list);
	request_answer(rq, 200, reply_json(o));
}

/* GET /session: the session (active, else the last ended) and its live
 * upstream group. */
static void sess_do_get(struct sessions *s, struct job *j)
{
	struct request *rq = j->rq;
	struct session cur;
	struct upstream_response resp;
	json_t *o, *g = NULL;
	int found = 0, active = 0;

	memset(&resp, 0, sizeof resp);
	if (sess_copy(s, j->name, &cur) == 0) {
		active = 1;
		sess_refresh(s, j->name, &resp, &g);
	}
	pthread_mutex_lock(&s->lock);
	{
		long i = sess_find(s, j->name);
		if (i >= 0) {
			cur = s->act[i];
			found = 1;
		} else {
			for (size_t k = s->nhist; k-- > 0;)
				if (strcmp(s->hist[k].name, j->name) == 0) {
					cur = s->hist[k];
					found = 1;
					break;
				}
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!found) {
		upstream_response_release(&resp);
		json_decref(g);
		request_fail(rq, "not_found", "no session with this name ever existed", NULL);
		return;
	}
	o = json_object();
	json_object_set_new(o, "session", session_to_json(&cur));
	json_object_set_new(o, "upstream", g ? g : json_null());
	if (active && !g) {
		json_t *e = json_object();
		if (resp.outcome == UPSTREAM_OK) {
			json_t *ub = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
			json_object_set_new(e, "status", json_integer(resp.status));
			json_object_set_new(e, "body", ub ? ub : json_null());
		} else {
			json_object_set_new(e, "status", json_null());
			json_object_set_new(e, "message", json_string(resp.error));
		}
		json_object_set_new(o, "upstream_error", e);
	}
	upstream_response_release(&resp);
	request_answer(rq, 200, reply_json(o));
}

/* PUT /session/limit: the group's limit upstream (contracts_limit) and/or
 * the session's own filled cap. Raising the filled cap above what was
 * filled lifts a filled_cap trigger (the group is reset upstream). */
static void sess_do_limit(struct sessions *s, struct job *j)
{
	struct request *rq = j->rq;
	struct session out;
	json_t *body;
	long i;

	if (j->opr.has_contracts_limit) {
		body = json_object();
		json_object_set_new(body, "contracts_limit", json_integer(j->opr.contracts_limit));
		i = sess_mutate(s, rq, j->name, "PUT", "/limit", body, sess_apply_limit, &j->opr, &out);
		json_decref(body);
		if (i < 0)
			return;
	} else {
		pthread_mutex_lock(&s->lock);
		i = sess_find(s, j->name);
		if (i >= 0) {
			sess_apply_limit(s, (size_t)i, &j->opr);
			out = s->act[i];
		}
		pthread_mutex_unlock(&s->lock);
		if (i < 0) {
			request_fail(rq, "not_found", "no active session with this name", NULL);
			return;
		}
		sess_persist(s);
	}
	if (out.status == SESSION_TRIGGERED && strcmp(out.status_reason, "filled_cap") == 0 &&
	    out.has_max_filled && out.max_session_filled_contracts > out.contracts_filled) {
		struct session_op_req none;
		memset(&none, 0, sizeof none);
		if (sess_mutate(s, rq, j->name, "PUT", "/reset", NULL, sess_apply_reset_keep, &none,
				&out) < 0)
			return;
		log_info("session '%s': filled cap raised above the filled contracts; group reset", j->name);
	}
	sess_answer_session(rq, 200, &out);
}

/* Runs one HTTP job and answers it. */
static void sess_run_http(struct sessions *s, struct job *j)
{
	struct request *rq = j->rq;
	struct session out;

	if (atomic_load(&s->gw->stopping) && j->op != OP_GET) {
		request_fail(rq, "shutting_down", "the gateway is stopping", NULL);
		return;
	}
	switch (j->op) {
	case OP_START:
		sess_do_start(s, j);
		break;
	case OP_RESET:
		if (sess_mutate(s, rq, j->name, "PUT", "/reset", NULL, sess_apply_reset, &j->opr,
				&out) == 0) {
			log_info("session '%s' reset", j->name);
			sess_answer_session(rq, 200, &out);
		}
		break;
	case OP_HALT:
		if (j->opr.all) {
			sess_do_halt_all(s, rq);
		} else if (sess_mutate(s, rq, j->name, "PUT", "/trigger", NULL, sess_apply_halt,
				       &j->opr, &out) == 0) {
			log_warn("session '%s' halted", j->name);
			sess_answer_session(rq, 200, &out);
		}
		break;
	case OP_END:
		if (sess_copy(s, j->name, &out) < 0) {
			request_fail(rq, "not_found", "no active session with this name", NULL);
			break;
		}
		sess_mark_pending_end(s, j->name);
		if (sess_mutate(s, rq, j->name, "DELETE", "", NULL, sess_apply_end, &j->opr,
				&out) == 0) {
			out.status = SESSION_ENDED;
			pthread_mutex_lock(&s->lock);
			if (s->nhist && strcmp(s->hist[s->nhist - 1].name, j->name) == 0)
				out = s->hist[s->nhist - 1];
			pthread_mutex_unlock(&s->lock);
			log_info("session '%s' ended: order group %s deleted", j->name, out.order_group_id);
			sess_answer_session(rq, 200, &out);
		} else {
			pthread_mutex_lock(&s->lock);
			long i = sess_find(s, j->name);
			if (i >= 0)
				s->act[i].pending[0] = '\0';
			pthread_mutex_unlock(&s->lock);
			sess_persist(s);
		}
		break;
	case OP_LIMIT:
		sess_do_limit(s, j);
		break;
	case OP_GET:
		sess_do_get(s, j);
		break;
	}
}

/* Resumes a connection suspended for a job. */
static void sess_finish(struct job *j)
{
	if (j->rq)
		request_resume_external(j->rq);
}

/* Takes the next job, waiting up to wait_ms. Returns NULL on timeout. */
static struct job *sess_next_job(struct sessions *s, long wait_ms)
{
	struct job *j;
	struct timespec until;

	pthread_mutex_lock(&s->qlock);
	if (!s->qhead && !s->stop && wait_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->qcond, &s->qlock, &until);
	}
	j = s->qhead;
	if (j) {
		s->qhead = j->next;
		if (!s->qhead)
			s->qtail = NULL;
	}
	pthread_mutex_unlock(&s->qlock);
	return j;
}

/*
 * Halts session `name` from the worker (no client waiting): the upstream
 * trigger, then status triggered with `reason` (dead_man, shutdown,
 * filled_cap). A failure is logged and retried after 5 s.
 */
static void sess_auto_halt(struct sessions *s, const char *name, const char *reason)
{
	struct request probe;
	struct session_op_req o;
	struct session out;
	long i;

	memset(&probe, 0, sizeof probe);
	memset(&o, 0, sizeof o);
	probe.target = (char *)(uintptr_t)"";
	probe.method[0] = '\0';
	snprintf(o.reason, sizeof o.reason, "%s", reason);
	probe.gw = s->gw;
	probe.snap = atomic_load(&s->gw->snap);
	if (sess_mutate(s, &probe, name, "PUT", "/trigger", NULL, sess_apply_halt, &o, &out) == 0) {
		log_warn("session '%s' halted (%s): order group %s triggered", name, reason,
			 out.order_group_id);
	} else {
		log_error("session '%s': automatic halt (%s) failed (status %u); retrying in 5 s", name,
			  reason, probe.reply_status);
		pthread_mutex_lock(&s->lock);
		i = sess_find(s, name);
		if (i >= 0)
			s->act[i].retry_ms = gw_now_ms() + 5000;
		pthread_mutex_unlock(&s->lock);
	}
	if (probe.reply)
		MHD_destroy_response(probe.reply);
}

/* The dead-man switch: halts every active session whose heartbeat lapsed
 * (also one that lapsed while the gateway was down). */
static void sess_deadman(struct sessions *s)
{
	for (;;) {
		char name[SESSION_NAME_MAX + 1] = "";
		int64_t now = sess_wall_ms(), mono = gw_now_ms();

		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->nact; i++) {
			struct session *ss = &s->act[i];
			if (ss->status == SESSION_ACTIVE && ss->heartbeat_timeout_s > 0 &&
			    now - ss->last_heartbeat_ms > (int64_t)ss->heartbeat_timeout_s * 1000 &&
			    mono >= ss->retry_ms) {
				snprintf(name, sizeof name, "%s", ss->name);
				ss->retry_ms = mono + 5000;
				break;
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (!name[0])
			return;
		log_warn("session '%s': no heartbeat for longer than its heartbeat_timeout_s", name);
		sess_auto_halt(s, name, "dead_man");
	}
}

/* session.halt_on_shutdown: halts every active session at a clean stop. */
static void sess_halt_all_on_stop(struct sessions *s)
{
	for (size_t n = 0;; n++) {
		char name[SESSION_NAME_MAX + 1] = "";

		pthread_mutex_lock(&s->lock);
		for (; n < s->nact; n++)
			if (s->act[n].status == SESSION_ACTIVE) {
				snprintf(name, sizeof name, "%s", s->act[n].name);
				break;
			}
		pthread_mutex_unlock(&s->lock);
		if (!name[0])
			return;
		sess_auto_halt(s, name, "shutdown");
	}
}

/* Whether a job waits for the worker. */
static int sess_jobs_waiting(struct sessions *s)
{
	int waiting;

	pthread_mutex_lock(&s->qlock);
	waiting = s->qhead != NULL;
	pthread_mutex_unlock(&s->qlock);
	return waiting;
}

/*
 * Watches the groups: reads the group of every active (or triggered)
 * session from the upstream, each at most once per SESS_WATCH_MS, so a
 * trigger, reset or deletion made outside the gateway is seen within about
 * a second without waiting for an order to fail (sess_apply_group). Each
 * read takes its cost from the account's read budget; without tokens the
 * round waits. A round stops between two reads when a job is queued, so a
 * job waits for one read at most; the round goes on at the next call.
 */
static void sess_watch_groups(struct sessions *s)
{
	int64_t now = gw_now_ms();

	if (now < s->watch_block_ms)
		return;
	if (s->watch_pos == 0) {
		if (now - s->watch_round_ms < SESS_WATCH_MS)
			return;
		s->watch_round_ms = now;
	}
	for (;;) {
		char name[SESSION_NAME_MAX + 1] = "";
		struct upstream_response resp;
		int64_t wait = 0;

		pthread_mutex_lock(&s->lock);
		while (s->watch_pos < s->nact &&
		       (s->act[s->watch_pos].pending[0] || !s->act[s->watch_pos].verified))
			s->watch_pos++;  /* an end under way; unverified: reconciliation's */
		if (s->watch_pos < s->nact)
			snprintf(name, sizeof name, "%s", s->act[s->watch_pos].name);
		pthread_mutex_unlock(&s->lock);
		if (!name[0]) {
			s->watch_pos = 0;
			return;
		}
		if (s->gw->ratelimit &&
		    ratelimit_take(s->gw->ratelimit, RL_READ, 10, gw_now_ms(), 0, &wait) < 0) {
			/* the budget is spent: this session is read when it refills */
			s->watch_block_ms = gw_now_ms() + (wait > 50 ? wait : 50);
			return;
		}
		s->watch_pos++;
		sess_refresh_h(s, name, SESS_WATCH_AGENT, &resp, NULL);
		if (resp.outcome != UPSTREAM_OK)
			log_debug("session '%s': group watch failed: %s", name, resp.error);
		upstream_response_release(&resp);
		if (sess_jobs_waiting(s) || atomic_load(&s->gw->stopping))
			return;
	}
}

/* The recovery policy of session ss: on_trigger, cooldown (ms) and cap,
 * each the session's own else the configured one. */
static enum gw_on_trigger sess_policy(struct sessions *s, const struct session *ss,
				      int64_t *cooldown_ms, long *max_resets)
{
	const struct gw_conf *c = atomic_load(&s->gw->snap)->conf;
	enum gw_on_trigger t = c->session.on_trigger;

	if (strcmp(ss->on_trigger, "stay") == 0)
		t = GW_TRIGGER_STAY;
	else if (strcmp(ss->on_trigger, "reset_after") == 0)
		t = GW_TRIGGER_RESET_AFTER;
	else if (strcmp(ss->on_trigger, "new_group") == 0)
		t = GW_TRIGGER_NEW_GROUP;
	*cooldown_ms = (int64_t)(ss->cooldown_s >= 0 ? ss->cooldown_s : c->session.cooldown_s) * 1000;
	*max_resets = ss->max_auto_resets >= 0 ? ss->max_auto_resets : c->session.max_auto_resets;
	return t;
}

/* Removes intent `id` (caller holds the lock). */
static void sess_drop_intent_locked(struct sessions *s, const char *id)
{
	for (size_t n = 0; n < s->nint; n++)
		if (strcmp(s->intents[n].id, id) == 0) {
			json_decref(s->intents[n].before);
			memmove(&s->intents[n], &s->intents[n + 1], (s->nint - n - 1) * sizeof *s->intents);
			s->nint--;
			return;
		}
}

/* Puts off the next recovery attempt of session `name` (after a failure). */
static void sess_recover_later(struct sessions *s, const char *name)
{
	long i;

	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0)
		s->act[i].recover_at_ms = gw_now_ms() + SESS_RETRY_MS;
	pthread_mutex_unlock(&s->lock);
}

/*
 * on_trigger new_group: creates a fresh group with the session's limit,
 * subaccount and exchange index, under an intent (as /session/start does,
 * so a crash cannot orphan it), then switches the session to it in one
 * step under the lock, which is persisted with the intent's removal: the
 * old id goes to previous_group_ids (the old group stays: Kalshi already
 * cancelled its orders, and it is history). Event session_reset. When the
 * session changed meanwhile, the new group is deleted instead.
 */
static void sess_auto_new_group(struct sessions *s, const char *name)
{
	struct session cur;
	struct upstream_response resp;
	struct intent it;
	json_t *before, *body, *ans;
	const char *gid;
	char newid[SESSION_ID_MAX], path[512];
	long i;
	int adopted = 0;

	if (sess_copy(s, name, &cur) < 0)
		return;
	before = sess_list_groups(s, cur.subaccount, 0);
	if (!before) {
		log_error("session '%s': cannot list order groups for a new group; retrying in 5 s", name);
		sess_recover_later(s, name);
		return;
	}
	memset(&it, 0, sizeof it);
	sessions_uuid(it.id, sizeof it.id);
	snprintf(it.name, sizeof it.name, "%s", name);
	it.contracts_limit = cur.contracts_limit;
	it.subaccount = cur.subaccount;
	it.exchange_index = cur.exchange_index;
	it.before = before;
	it.created_ms = sess_wall_ms();
	pthread_mutex_lock(&s->lock);
	if (sess_grow((void **)&s->intents, &s->capint, s->nint, sizeof *s->intents) < 0) {
		pthread_mutex_unlock(&s->lock);
		json_decref(before);
		sess_recover_later(s, name);
		return;
	}
	s->intents[s->nint++] = it;
	pthread_mutex_unlock(&s->lock);
	if (sess_persist(s) < 0)
		goto drop_intent;
	body = json_object();
	json_object_set_new(body, "contracts_limit", json_integer(cur.contracts_limit));
	if (cur.subaccount)
		json_object_set_new(body, "subaccount", json_integer(cur.subaccount));
	if (cur.exchange_index)
		json_object_set_new(body, "exchange_index", json_integer(cur.exchange_index));
	sess_call(s, "POST", SESS_PATH_GROUPS "/create", 0, body, &resp);
	json_decref(body);
	if (resp.outcome != UPSTREAM_OK) {
		/* the group may exist: the intent stays, recovery deletes it */
		log_error("session '%s': creating a new order group failed (%s); retrying in 5 s", name,
			  resp.error);
		upstream_response_release(&resp);
		sess_resolve_or_retry(s);
		sess_recover_later(s, name);
		return;
	}
	ans = sess_body_json(&resp);
	gid = ans ? json_string_value(json_object_get(ans, "order_group_id")) : NULL;
	if (!sess_ok(&resp) || !gid || strlen(gid) >= SESSION_ID_MAX) {
		log_error("session '%s': creating a new order group was refused (status %ld); retrying in 5 s",
			  name, resp.status);
		json_decref(ans);
		if (sess_ok(&resp)) {
			upstream_response_release(&resp);
			sess_resolve_or_retry(s);
			sess_recover_later(s, name);
			return;
		}
		upstream_response_release(&resp);
		goto drop_intent;
	}
	snprintf(newid, sizeof newid, "%s", gid);
	json_decref(ans);
	upstream_response_release(&resp);
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0 && strcmp(s->act[i].order_group_id, cur.order_group_id) == 0 &&
	    s->act[i].status == SESSION_TRIGGERED && !s->act[i].pending[0]) {
		struct session *ss = &s->act[i];
		if (ss->nprevious == SESSION_PREV_MAX) {
			memmove(ss->previous_group_ids[0], ss->previous_group_ids[1],
				(SESSION_PREV_MAX - 1) * sizeof ss->previous_group_ids[0]);
			ss->nprevious--;
		}
		snprintf(ss->previous_group_ids[ss->nprevious++], SESSION_ID_MAX, "%s",
			 ss->order_group_id);
		snprintf(ss->order_group_id, sizeof ss->order_group_id, "%s", newid);
		ss->recover_at_ms = 0;
		ss->resting = 0;
		ss->verified = 1;
		ss->auto_resets++;
		sess_clear_window(ss);
		adopted = 1;
		sess_drop_intent_locked(s, it.id);
	}
	pthread_mutex_unlock(&s->lock);
	if (adopted) {
		/* orders use the new group only once the state file holds it (a
		 * crash before would leave them in a group recovery deletes):
		 * the session stays triggered until then */
		sess_persist(s);
		pthread_mutex_lock(&s->lock);
		i = sess_find(s, name);
		if (i >= 0 && strcmp(s->act[i].order_group_id, newid) == 0 &&
		    s->act[i].status == SESSION_TRIGGERED) {
			s->act[i].status = SESSION_ACTIVE;
			s->act[i].status_reason[0] = '\0';
			sess_event(s, "session_reset", &s->act[i]);
		}
		pthread_mutex_unlock(&s->lock);
		sess_persist(s);
		log_warn("session '%s': order group %s replaced by new group %s after its 15-second window trigger",
			 name, cur.order_group_id, newid);
		return;
	}
	/* the session ended or changed meanwhile: the group is not needed */
	snprintf(path, sizeof path, SESS_PATH_GROUPS "/%s", newid);
	sess_call(s, "DELETE", path, cur.subaccount, NULL, &resp);
	if (!sess_ok(&resp) && !(resp.outcome == UPSTREAM_OK && resp.status == 404)) {
		upstream_response_release(&resp);
		sess_resolve_or_retry(s);  /* the intent stays until it is gone */
		return;
	}
	upstream_response_release(&resp);
drop_intent:
	pthread_mutex_lock(&s->lock);
	sess_drop_intent_locked(s, it.id);
	pthread_mutex_unlock(&s->lock);
	sess_persist(s);
	if (!adopted)
		sess_recover_later(s, name);
}

/* on_trigger reset_after: PUT reset of the same group. */
static void sess_auto_reset(struct sessions *s, const char *name)
{
	struct request probe;
	struct session out;

	memset(&probe, 0, sizeof probe);
	probe.target = (char *)(uintptr_t)"";
	probe.gw = s->gw;
	probe.snap = atomic_load(&s->gw->snap);
	if (sess_mutate(s, &probe, name, "PUT", "/reset", NULL, sess_apply_auto_reset, NULL, &out) == 0) {
		log_warn("session '%s': order group %s reset automatically after its 15-second window trigger (%ld so far)",
			 name, out.order_group_id, out.auto_resets);
	} else {
		log_error("session '%s': automatic reset failed (status %u); retrying in 5 s", name,
			  probe.reply_status);
		sess_recover_later(s, name);
	}
	if (probe.reply)
		MHD_destroy_response(probe.reply);
}

/*
 * Recovery on policy (session.on_trigger): only a trigger the gateway's own
 * fill tracking explains (status_reason limit_window) recovers; a halt, a
 * dead-man, the filled cap or an external trigger never does. reset_after
 * waits cooldown_s from when the trigger was seen, new_group acts at once;
 * both stop at max_auto_resets recoveries per session.
 */
static void sess_recover(struct sessions *s)
{
	for (int guard = 0; guard < 64; guard++) {
		char name[SESSION_NAME_MAX + 1] = "";
		enum gw_on_trigger how = GW_TRIGGER_STAY;
		int64_t mono = gw_now_ms();

		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->nact; i++) {
			struct session *ss = &s->act[i];
			int64_t cooldown;
			long max;
			enum gw_on_trigger t;
			if (ss->status != SESSION_TRIGGERED || ss->pending[0] ||
			    strcmp(ss->status_reason, "limit_window") != 0)
				continue;
			t = sess_policy(s, ss, &cooldown, &max);
			if (t == GW_TRIGGER_STAY || ss->auto_resets >= max) {
				if (t != GW_TRIGGER_STAY && ss->recover_at_ms == 0) {
					log_warn("session '%s': max_auto_resets (%ld) reached; the session stays triggered",
						 ss->name, max);
					ss->recover_at_ms = INT64_MAX;
				}
				continue;
			}
			if (ss->recover_at_ms == 0) {
				ss->recover_at_ms = mono + (t == GW_TRIGGER_RESET_AFTER ? cooldown : 0);
				if (t == GW_TRIGGER_RESET_AFTER)
					log_info("session '%s': order group reset in %lld s (on_trigger reset_after)",
						 ss->name, (long long)(cooldown / 1000));
			}
			if (mono >= ss->recover_at_ms) {
				snprintf(name, sizeof name, "%s", ss->name);
				how = t;
				/* not again before this attempt is through */
				ss->recover_at_ms = mono + SESS_RETRY_MS;
				break;
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (!name[0])
			return;
		if (how == GW_TRIGGER_NEW_GROUP)
			sess_auto_new_group(s, name);
		else
			sess_auto_reset(s, name);
		if (sess_jobs_waiting(s))
			return;
	}
}

/* Milliseconds until the worker has timed work: the next watch round or
 * a scheduled recovery (at most one second). */
static long sess_idle_ms(struct sessions *s)
{
	int64_t now = gw_now_ms(), t = 1000;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nact; i++) {
		int64_t r = s->act[i].recover_at_ms;
		if (r > 0 && r != INT64_MAX && r - now < t)
			t = r - now;
	}
	if (s->nact && s->watch_round_ms + SESS_WATCH_MS - now < t)
		t = s->watch_round_ms + SESS_WATCH_MS - now;
	if (s->watch_pos)
		t = 0;  /* a round to finish */
	if (s->nact && s->watch_block_ms - now > t)
		t = s->watch_block_ms - now;
	pthread_mutex_unlock(&s->lock);
	return t < 0 ? 0 : (long)t;
}

static void sess_poll_fills(struct sessions *s);

/* The worker: reconcile, then jobs, flushing counters every second. */
static void *sess_main(void *arg)
{
	struct sessions *s = arg;

	pthread_setname_np(pthread_self(), "gw-sessions");
	sess_reconcile(s);
	for (;;) {
		struct job *j = sess_next_job(s, sess_idle_ms(s));
		int stop, dirty;

		if (j) {
			if (j->kind == JOB_HTTP) {
				sess_run_http(s, j);
			} else {
				struct upstream_response resp;
				sess_refresh(s, j->name, &resp, NULL);
				upstream_response_release(&resp);
			}
			sess_finish(j);
			free(j);
		}
		pthread_mutex_lock(&s->lock);
		dirty = s->dirty;
		pthread_mutex_unlock(&s->lock);
		if (dirty)
			sess_persist(s);
		sess_flush_events(s);  /* none should wait: every transition persists */
		if (!s->reconciled && !atomic_load(&s->gw->stopping) &&
		    gw_now_ms() - s->last_reconcile_ms >= s->gw->conf->readiness.probe_interval_s * 1000)
			sess_reconcile(s);
		sess_deadman(s);
		if (!atomic_load(&s->gw->stopping)) {
			sess_poll_fills(s);
			if (!sess_jobs_waiting(s))
				sess_watch_groups(s);
			if (!sess_jobs_waiting(s))
				sess_recover(s);
		}
		pthread_mutex_lock(&s->qlock);
		stop = s->stop && !s->qhead;
		pthread_mutex_unlock(&s->qlock);
		if (stop)
			break;
	}
	if (s->gw->conf->session.halt_on_shutdown)
		sess_halt_all_on_stop(s);
	upstream_blocking_thread_done();
	return NULL;
}

int sessions_start(struct sessions *s, char *err, size_t errlen)
{
	int rc;

	if (events_start(s->events, err, errlen) < 0)
		return -1;
	rc = pthread_create(&s->thread, NULL, sess_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the sessions worker: %s", strerror(rc));
		return -1;
	}
	s->running = 1;
	rc = pthread_create(&s->flusher, NULL, sess_flusher_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the state flusher: %s", strerror(rc));
		return -1;
	}
	s->flusher_running = 1;
	return 0;
}

/* Sets a thread's stop flag under its lock, wakes it and joins it. */
static void sess_stop_thread(pthread_mutex_t *lock, pthread_cond_t *cond, int *stop,
			     pthread_t thread, int *running)
{
	if (!*running)
		return;
	pthread_mutex_lock(lock);
	*stop = 1;
	pthread_cond_broadcast(cond);
	pthread_mutex_unlock(lock);
	pthread_join(thread, NULL);
	*running = 0;
}

void sessions_stop(struct sessions *s)
{
	if (!s)
		return;
	sess_stop_thread(&s->qlock, &s->qcond, &s->stop, s->thread, &s->running);
	sess_stop_thread(&s->flock, &s->fcond, &s->fstop, s->flusher, &s->flusher_running);
	sess_persist(s);
	/* after the worker: the events of a halt on shutdown still go out */
	events_stop(s->events);
}

/* Queues a job for the worker (and suspends its connection when it has
 * one). Returns -1 on OOM. */
static int sess_enqueue(struct sessions *s, struct job *j)
{
	if (j->rq)
		request_suspend_external(j->rq);
	pthread_mutex_lock(&s->qlock);
	j->next = NULL;
	if (s->qtail)
		s->qtail->next = j;
	else
		s->qhead = j;
	s->qtail = j;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
	return 0;
}

/* ---- hooks for the order path ---- */

void sessions_snapshot(struct sessions *s, const char *name, struct session_snap *out)
{
	long i;

	memset(out, 0, sizeof *out);
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0 && strcmp(s->unsaved, name) == 0)
		i = -1;  /* not durable yet: no order may use its group */
	if (i >= 0) {
		out->found = 1;
		out->status = s->act[i].status;
		snprintf(out->status_reason, sizeof out->status_reason, "%s", s->act[i].status_reason);
		snprintf(out->order_group_id, sizeof out->order_group_id, "%s",
			 s->act[i].order_group_id);
		out->subaccount = s->act[i].subaccount;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Group ids are UUIDs, which an upstream may read in any case: compare
 * ignoring case so "ABC..." cannot reach a session's group. (Percent-escapes
 * of unreserved characters are refused by the path rules.) */
int sessions_owns_group(struct sessions *s, const char *id, size_t len)
{
	int owned = 0;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nact && !owned; i++)
		if (strlen(s->act[i].order_group_id) == len &&
		    strncasecmp(s->act[i].order_group_id, id, len) == 0)
			owned = 1;
	pthread_mutex_unlock(&s->lock);
	return owned;
}

void sessions_count(struct sessions *s, const char *name, const char *group_id,
		    int64_t accepted, int64_t rejected, int64_t submitted, int64_t filled)
{
	long i;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0 && strcmp(s->act[i].order_group_id, group_id) == 0) {
		struct session *ss = &s->act[i];
		ss->orders_accepted += accepted;
		ss->orders_rejected += rejected;
		ss->contracts_submitted += submitted;
		ss->contracts_filled += filled;
		if (filled > 0) {
			unsigned k = ss->fill_pos++ % (sizeof ss->fill_n / sizeof ss->fill_n[0]);
			ss->fill_ts_ms[k] = sess_wall_ms();
			ss->fill_n[k] = filled;
		}
		s->dirty = 1;
	}
	pthread_mutex_unlock(&s->lock);
}

void sessions_suspect_trigger(struct sessions *s, const char *name, const char *group_id)
{
	struct job *j;

	if (!s || !(j = calloc(1, sizeof *j)))
		return;
	j->kind = JOB_CONFIRM;
	snprintf(j->name, sizeof j->name, "%s", name);
	snprintf(j->group, sizeof j->group, "%s", group_id);
	sess_enqueue(s, j);
}

/* ---- the /session endpoints (loop thread) ---- */

/* Copies the value of query parameter `key` (raw; names need no decoding).
 * Returns 1 found, 0 absent. */
static int sess_query_param(const char *query, const char *key, char *buf, size_t cap)
{
	size_t kl = strlen(key);

	while (query && *query) {
		size_t n = strcspn(query, "&");
		if (n > kl && strncmp(query, key, kl) == 0 && query[kl] == '=') {
			size_t vl = n - kl - 1;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(buf, query + kl + 1, vl);
			buf[vl] = '\0';
			return 1;
		}
		query += n;
		if (*query == '&')
			query++;
	}
	return 0;
}

/* The session name for /session*: body, ?name=, X-Gateway-Session, the
 * client's configured session, "default". Returns -1 (answered 400) when
 * the chosen name is invalid. */
static int sess_resolve_name(struct request *rq, const char *body_name, char *out, size_t cap)
{
	const char *hdr = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Gateway-Session");
	const char *src;
	char q[256];

	if (body_name && body_name[0])
		src = body_name;
	else if (sess_query_param(rq->query, "name", q, sizeof q))
		src = q;
	else if (hdr)
		src = hdr;
	else if (rq->client_session)
		src = rq->client_session;
	else
		src = "default";
	/* validate the whole value before copying, so nothing is truncated
	 * into a valid name */
	if (!session_name_ok(src) || strlen(src) >= cap) {
		request_fail(rq, "invalid_request", "session names must match [A-Za-z0-9_-]{1,64}", NULL);
		return -1;
	}
	memcpy(out, src, strlen(src) + 1);
	return 0;
}

/* GET /sessions: the active sessions, then the ended ones (newest last). */
static void sess_list(struct sessions *s, struct request *rq)
{
	json_t *arr = json_array(), *o = json_object();

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nact; i++)
		json_array_append_new(arr, session_to_json(&s->act[i]));
	for (size_t i = 0; i < s->nhist; i++)
		json_array_append_new(arr, session_to_json(&s->hist[i]));
	pthread_mutex_unlock(&s->lock);
	json_object_set_new(o, "sessions", arr);
	request_answer(rq, 200, reply_json(o));
}

/* Parses a decimal event id (1..20 digits, no sign); 0 when invalid. */
static int sess_parse_event_id(const char *v, uint64_t *out)
{
	uint64_t id = 0;
	size_t n = 0;

	if (!v)
		return 0;
	for (; v[n]; n++) {
		if (v[n] < '0' || v[n] > '9' || n >= 19)
			return 0;
		id = id * 10 + (uint64_t)(v[n] - '0');
	}
	if (n == 0)
		return 0;
	*out = id;
	return 1;
}

/*
 * GET /session/events: Server-Sent Events of session changes, open to every
 * identified client. ?name= keeps one session's events (no name: every
 * session); Last-Event-ID (header, or ?last_event_id= for clients that
 * cannot set headers) resumes after that event. An id that is not a
 * decimal number is ignored (the stream starts with the next event).
 */
static void sess_events(struct sessions *s, struct request *rq)
{
	char name[256] = "", last[32];
	const char *hdr = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Last-Event-ID");
	uint64_t last_id = 0;
	int has_last = 0;

	if (sess_query_param(rq->query, "name", name, sizeof name) && !session_name_ok(name)) {
		request_fail(rq, "invalid_request", "session names must match [A-Za-z0-9_-]{1,64}", NULL);
		return;
	}
	if (hdr)
		has_last = sess_parse_event_id(hdr, &last_id);
	else if (sess_query_param(rq->query, "last_event_id", last, sizeof last))
		has_last = sess_parse_event_id(last, &last_id);
	events_handle_sse(s->events, rq, name, has_last, last_id);
}

/* POST /session/heartbeat: feeds the dead-man switch. */
static void sess_heartbeat(struct sessions *s, struct request *rq, const char *name)
{
	struct session out;
	long i;

	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0) {
		s->act[i].last_heartbeat_ms = sess_wall_ms();
		s->dirty = 1;
		out = s->act[i];
	}
	pthread_mutex_unlock(&s->lock);
	if (i < 0) {
		request_fail(rq, "not_found", "no active session with this name", NULL);
		return;
	}
	sess_answer_session(rq, 200, &out);
}

void sessions_handle(struct request *rq)
{
	struct sessions *s = rq->gw->sessions;
	const char *p = rq->target + 8;       /* after "/session" */
	size_t plen = rq->path_len - 8;
	int is_get = strcmp(rq->method, "GET") == 0, is_post = strcmp(rq->method, "POST") == 0;
	const char *code = NULL;
	char msg[256];
	struct job *j;
	enum job_op op;
	enum session_op sop = SESSION_OP_RESET;

	if (rq->route == PATH_ROUTE_SESSIONS) {
		if (!is_get)
			request_fail(rq, "not_found", "no such endpoint", NULL);
		else
			sess_list(s, rq);
		return;
	}
#define SESS_IS(lit) (plen == sizeof(lit) - 1 && memcmp(p, lit, plen) == 0)
	if (SESS_IS("/events") && is_get) {
		sess_events(s, rq);
		return;
	}
	if (SESS_IS("") && is_get)
		op = OP_GET;
	else if (SESS_IS("/start") && is_post)
		op = OP_START;
	else if (SESS_IS("/reset") && is_post)
		op = OP_RESET, sop = SESSION_OP_RESET;
	else if (SESS_IS("/end") && is_post)
		op = OP_END, sop = SESSION_OP_END;
	else if (SESS_IS("/halt") && is_post)
		op = OP_HALT, sop = SESSION_OP_HALT;
	else if (SESS_IS("/limit") && strcmp(rq->method, "PUT") == 0)
		op = OP_LIMIT, sop = SESSION_OP_LIMIT;
	else if (SESS_IS("/heartbeat") && is_post) {
		struct session_op_req r;
		char name[SESSION_NAME_MAX + 1];
		if (session_parse_op(SESSION_OP_HEARTBEAT, rq->body, rq->body_len, &r, &code, msg,
				     sizeof msg) < 0) {
			request_fail(rq, code, msg, NULL);
			return;
		}
		if (sess_resolve_name(rq, r.name, name, sizeof name) == 0)
			sess_heartbeat(s, rq, name);
		return;
	} else {
		request_fail(rq, "not_found", "no such endpoint", NULL);
		return;
	}
#undef SESS_IS
	if (op != OP_GET && !roles_allow_session_admin((enum gw_role)rq->role)) {
		request_fail(rq, "forbidden", "only admins may change sessions", NULL);
		return;
	}
	if (!(j = calloc(1, sizeof *j))) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	j->kind = JOB_HTTP;
	j->op = op;
	j->rq = rq;
	if (op == OP_START) {
		if (session_parse_start(rq->body, rq->body_len, &j->start, &code, msg, sizeof msg) < 0)
			goto bad;
		if (sess_resolve_name(rq, j->start.name, j->name, sizeof j->name) < 0)
			goto done;
	} else if (op != OP_GET) {
		if (session_parse_op(sop, rq->body, rq->body_len, &j->opr, &code, msg, sizeof msg) < 0)
			goto bad;
		if (!j->opr.all && sess_resolve_name(rq, j->opr.name, j->name, sizeof j->name) < 0)
			goto done;
	} else if (sess_resolve_name(rq, NULL, j->name, sizeof j->name) < 0) {
		goto done;
	}
	sess_enqueue(s, j);
	return;
bad:
	request_fail(rq, code, msg, NULL);
done:
	free(j);
}

char *sessions_metrics_text(struct sessions *s)
{
	size_t cap = 1024, len = 0;
	char *buf = malloc(cap);
	size_t counts[3] = { 0, 0, 0 };

	if (!buf || !s) {
		free(buf);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nact; i++)
		counts[s->act[i].status]++;
	counts[SESSION_ENDED] = s->nhist;
	len += (size_t)snprintf(buf + len, cap - len,
				"# HELP kalshi_gateway_sessions Sessions by status (ended: kept in history).\n"
				"# TYPE kalshi_gateway_sessions gauge\n"
				"kalshi_gateway_sessions{status=\"active\"} %zu\n"
				"kalshi_gateway_sessions{status=\"triggered\"} %zu\n"
				"kalshi_gateway_sessions{status=\"ended\"} %zu\n"
				"# HELP kalshi_gateway_session_contracts Contracts per active session.\n"
				"# TYPE kalshi_gateway_session_contracts gauge\n",
				counts[SESSION_ACTIVE], counts[SESSION_TRIGGERED], counts[SESSION_ENDED]);
	for (size_t i = 0; i < s->nact; i++) {
		char sub[32], fil[32];
		size_t need;
		char *nb;
		fixed_format_count(s->act[i].contracts_submitted, sub, sizeof sub);
		fixed_format_count(s->act[i].contracts_filled, fil, sizeof fil);
		need = len + 2 * (SESSION_NAME_MAX + 128);
		if (need > cap) {
			cap = need * 2;
			if (!(nb = realloc(buf, cap)))
				break;
			buf = nb;
		}
		len += (size_t)snprintf(buf + len, cap - len,
					"kalshi_gateway_session_contracts{session=\"%s\",kind=\"submitted\"} %s\n"
					"kalshi_gateway_session_contracts{session=\"%s\",kind=\"filled\"} %s\n",
					s->act[i].name, sub, s->act[i].name, fil);
	}
	pthread_mutex_unlock(&s->lock);
	if (events_metrics_append(s->events, &buf, &len, &cap) < 0) {
		/* keep the session gauges */
	}
	return buf;
}

/* The share of `client` in session ss, created when absent (NULL when the
 * table is full: such clients share the last slot). Caller holds the lock. */
static struct session_share *sess_share(struct session *ss, const char *client)
{
	const char *c = client ? client : "-";
	unsigned max = sizeof ss->shares / sizeof ss->shares[0];

	for (unsigned i = 0; i < ss->nshares; i++)
		if (strcmp(ss->shares[i].client, c) == 0)
			return &ss->shares[i];
	if (ss->nshares < max) {
		struct session_share *sh = &ss->shares[ss->nshares++];
		memset(sh, 0, sizeof *sh);
		snprintf(sh->client, sizeof sh->client, "%s", c);
		return sh;
	}
	return &ss->shares[max - 1];
}

int sessions_admit(struct sessions *s, const char *name, const char *group, const char *client,
		   const struct limits_eff *eff, const struct norm_order *orders, size_t n,
		   int batch, int64_t *reserved, struct limits_refusal *r)
{
	struct limits_session_view v;
	struct session_share *sh;
	struct session *ss;
	int64_t total = 0;
	long i;
	int rc;

	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i < 0 || strcmp(s->act[i].order_group_id, group) != 0) {
		pthread_mutex_unlock(&s->lock);
		return -2;
	}
	ss = &s->act[i];
	sh = sess_share(ss, client);
	memset(&v, 0, sizeof v);
	v.session_submitted = ss->contracts_submitted + ss->reserved;
	v.client_submitted = sh->submitted + sh->reserved;
	v.filled = ss->contracts_filled;
	v.resting = ss->resting;
	v.has_filled_cap = ss->has_max_filled;
	v.filled_cap = ss->max_session_filled_contracts;
	rc = limits_check_orders(eff, &v, orders, n, batch, &total, r);
	if (rc == 0) {
		ss->reserved += total;
		sh->reserved += total;
		*reserved = total;
	}
	pthread_mutex_unlock(&s->lock);
	return rc == 0 ? 0 : -1;
}

void sessions_settle(struct sessions *s, const char *name, const char *group, const char *client,
		     int64_t reserved, int64_t submitted, int64_t accepted, int64_t rejected,
		     int64_t filled, int64_t resting)
{
	struct session_share *sh;
	struct session *ss;
	long i;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i < 0 || strcmp(s->act[i].order_group_id, group) != 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	ss = &s->act[i];
	sh = sess_share(ss, client);
	ss->reserved -= reserved < ss->reserved ? reserved : ss->reserved;
	sh->reserved -= reserved < sh->reserved ? reserved : sh->reserved;
	ss->contracts_submitted += submitted;
	sh->submitted += submitted;
	ss->orders_accepted += accepted;
	ss->orders_rejected += rejected;
	ss->contracts_filled += filled;
	ss->resting += resting;
	if (filled > 0) {
		unsigned k = ss->fill_pos++ % (sizeof ss->fill_n / sizeof ss->fill_n[0]);
		ss->fill_ts_ms[k] = sess_wall_ms();
		ss->fill_n[k] = filled;
	}
	s->dirty = 1;
	pthread_mutex_unlock(&s->lock);
}

void sessions_feed(struct sessions *s, const char *name)
{
	long i;

	if (!s || !name)
		return;
	pthread_mutex_lock(&s->lock);
	i = sess_find(s, name);
	if (i >= 0 && s->act[i].heartbeat_timeout_s > 0)
		s->act[i].last_heartbeat_ms = sess_wall_ms();
	pthread_mutex_unlock(&s->lock);
}

/* The tracking record of (name, group), created when absent. NULL on OOM.
 * Caller holds the lock. */
static struct sess_track *sess_track_get(struct sessions *s, const char *name, const char *group,
					 int create)
{
	struct sess_track *t;
	long i;

	for (size_t k = 0; k < s->ntracks; k++)
		if (strcmp(s->tracks[k].name, name) == 0 && strcmp(s->tracks[k].group, group) == 0)
			return &s->tracks[k];
	if (!create || (i = sess_find(s, name)) < 0)
		return NULL;
	if (sess_grow((void **)&s->tracks, &s->captracks, s->ntracks, sizeof *s->tracks) < 0)
		return NULL;
	t = &s->tracks[s->ntracks];
	memset(t, 0, sizeof *t);
	t->orders = calloc(SESS_TRACK_ORDERS, sizeof *t->orders);
	t->fills = calloc(SESS_TRACK_FILLS, sizeof *t->fills);
	if (!t->orders || !t->fills) {
		free(t->orders);
		free(t->fills);
		return NULL;
	}
	snprintf(t->name, sizeof t->name, "%s", name);
	snprintf(t->group, sizeof t->group, "%s", group);
	t->subaccount = s->act[i].subaccount;
	t->since_s = s->act[i].started_at_ms / 1000 - 1;
	s->ntracks++;
	return t;
}

void sessions_track_order(struct sessions *s, const char *name, const char *group,
			  const char *order_id, int64_t filled_known)
{
	struct sess_track *t;
	struct sess_order *o;

	if (!s || !order_id || strlen(order_id) >= sizeof o->id)
		return;
	pthread_mutex_lock(&s->lock);
	t = sess_track_get(s, name, group, 1);
	if (t) {
		o = &t->orders[t->next_order];
		t->next_order = (t->next_order + 1) % SESS_TRACK_ORDERS;
		if (t->norders < SESS_TRACK_ORDERS)
			t->norders++;
		snprintf(o->id, sizeof o->id, "%s", order_id);
		o->counted = filled_known;
		o->polled = 0;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Drops tracking records of sessions that ended or changed group. Caller
 * holds the lock. */
static void sess_track_prune(struct sessions *s)
{
	for (size_t k = 0; k < s->ntracks;) {
		long i = sess_find(s, s->tracks[k].name);
		if (i < 0 || strcmp(s->act[i].order_group_id, s->tracks[k].group) != 0) {
			free(s->tracks[k].orders);
			free(s->tracks[k].fills);
			s->tracks[k] = s->tracks[--s->ntracks];
			continue;
		}
		k++;
	}
}

/* Applies one fill from the poller to a tracked session: new fill ids only;
 * the part not already counted from the order's answer is added to
 * contracts_filled and taken off resting. Returns 1 when counters moved.
 * Caller holds the lock. */
static int sess_apply_fill(struct sessions *s, struct sess_track *t, const char *fill_id,
			   const char *order_id, int64_t count)
{
	struct sess_order *o = NULL;
	int64_t delta;
	long i;

	for (size_t k = 0; k < t->nfills; k++)
		if (strcmp(t->fills[k], fill_id) == 0)
			return 0;
	for (size_t k = 0; k < t->norders; k++)
		if (strcmp(t->orders[k].id, order_id) == 0) {
			o = &t->orders[k];
			break;
		}
	if (!o)
		return 0;
	snprintf(t->fills[t->next_fill], sizeof t->fills[0], "%s", fill_id);
	t->next_fill = (t->next_fill + 1) % SESS_TRACK_FILLS;
	if (t->nfills < SESS_TRACK_FILLS)
		t->nfills++;
	o->polled += count;
	delta = o->polled - o->counted;
	if (delta <= 0 || (i = sess_find(s, t->name)) < 0)
		return 0;
	o->counted = o->polled;
	s->act[i].contracts_filled += delta;
	s->act[i].resting -= delta < s->act[i].resting ? delta : s->act[i].resting;
	{
		struct session *ss = &s->act[i];
		unsigned k = ss->fill_pos++ % (sizeof ss->fill_n / sizeof ss->fill_n[0]);
		ss->fill_ts_ms[k] = sess_wall_ms();
		ss->fill_n[k] = delta;
	}
	s->dirty = 1;
	return 1;
}

/*
 * The fill poller (worker thread, at most once a second): for every
 * session with tracked orders, GET /portfolio/fills?min_ts=<session start>
 * (a few pages at most) and attribute fills of its orders. Then the filled
 * cap: a session whose contracts_filled reached max_session_filled_contracts
 * (its own, else the configured global one) is halted with filled_cap.
 */
static void sess_poll_fills(struct sessions *s)
{
	size_t n;
	struct curl_slist *agent;

	if (gw_now_ms() - s->last_fill_poll_ms < SESS_FILL_POLL_MS)
		return;
	s->last_fill_poll_ms = gw_now_ms();
	pthread_mutex_lock(&s->lock);
	sess_track_prune(s);
	n = s->ntracks;
	pthread_mutex_unlock(&s->lock);
	for (size_t k = 0; k < n; k++) {
		char name[SESSION_NAME_MAX + 1], group[SESSION_ID_MAX], cursor[256] = "";
		long sub;
		int64_t since;

		pthread_mutex_lock(&s->lock);
		if (k >= s->ntracks) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		snprintf(name, sizeof name, "%s", s->tracks[k].name);
		snprintf(group, sizeof group, "%s", s->tracks[k].group);
		sub = s->tracks[k].subaccount;
		since = s->tracks[k].since_s;
		pthread_mutex_unlock(&s->lock);
		for (int page = 0; page < 5; page++) {
			struct upstream_request r;
			struct upstream_response resp;
			char query[512];
			json_t *body, *fills, *f;
			size_t i;

			snprintf(query, sizeof query, "min_ts=%lld&limit=200%s%s",
				 (long long)since, cursor[0] ? "&cursor=" : "", cursor);
			if (sub > 0)
				snprintf(query + strlen(query), sizeof query - strlen(query),
					 "&subaccount=%ld", sub);
			memset(&r, 0, sizeof r);
			r.method = "GET";
			r.path = "/trade-api/v2/portfolio/fills";
			r.path_len = strlen(r.path);
			r.query = query;
			r.sign = 1;
			agent = curl_slist_append(NULL, SESS_FILLS_AGENT);
			r.headers = agent;
			dispatch_charge(s->gw, r.method, r.path, r.path_len);
			upstream_blocking(&s->gw->up, &r, &resp);
			curl_slist_free_all(agent);
			body = sess_ok(&resp) ? sess_body_json(&resp) : NULL;
			upstream_response_release(&resp);
			if (!body)
				break;
			fills = json_object_get(body, "fills");
			pthread_mutex_lock(&s->lock);
			{
				struct sess_track *t = sess_track_get(s, name, group, 0);
				json_array_foreach(fills, i, f) {
					const char *fid = json_string_value(json_object_get(f, "fill_id"));
					const char *oid = json_string_value(json_object_get(f, "order_id"));
					int64_t c = 0;
					json_t *cv = json_object_get(f, "count_fp");
					if (!t || !fid || !oid || strlen(fid) >= 72)
						continue;
					if (json_is_string(cv))
						fixed_parse_count(json_string_value(cv), json_string_length(cv), &c);
					else if (json_is_integer(json_object_get(f, "count")))
						c = json_integer_value(json_object_get(f, "count")) * 100;
					if (c > 0)
						sess_apply_fill(s, t, fid, oid, c);
				}
			}
			pthread_mutex_unlock(&s->lock);
			{
				const char *cur = json_string_value(json_object_get(body, "cursor"));
				int more = cur && *cur && json_array_size(fills) > 0 && strlen(cur) < sizeof cursor;
				if (more)
					snprintf(cursor, sizeof cursor, "%s", cur);
				json_decref(body);
				if (!more)
					break;
			}
		}
	}
	/* the filled cap */
	for (;;) {
		char name[SESSION_NAME_MAX + 1] = "";
		const struct gw_limits *gl = &atomic_load(&s->gw->snap)->conf->limits;
		int64_t mono = gw_now_ms();

		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->nact; i++) {
			struct session *ss = &s->act[i];
			int has = ss->has_max_filled || gl->has_max_session_filled_contracts;
			int64_t cap = ss->has_max_filled ? ss->max_session_filled_contracts
							  : gl->max_session_filled_contracts;
			if (ss->status == SESSION_ACTIVE && has && ss->contracts_filled >= cap &&
			    mono >= ss->retry_ms) {
				snprintf(name, sizeof name, "%s", ss->name);
				ss->retry_ms = mono + 5000;
				break;
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (!name[0])
			return;
		log_warn("session '%s' reached its max_session_filled_contracts", name);
		sess_auto_halt(s, name, "filled_cap");
	}
}
