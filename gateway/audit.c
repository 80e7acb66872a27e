/* audit: see audit.h. */
#include "gateway/audit.h"
#include "conf/conf.h"
#include "gateway/log.h"
#include "policy/session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_QUEUE_MAX 100000
#define AUDIT_INTERVAL_MS 200

/* One queued line; the text follows the struct (one allocation). */
struct audit_item {
	struct audit_item *next;
	size_t len;
	char line[];
};

struct audit {
	char path[4200];
	int fd;
	long long size;
	enum gw_fsync mode;
	long max_bytes, keep;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct audit_item *head, *tail;
	size_t queued;
	int stop;
	atomic_long dropped;
};

/* Opens the current log file for appending; -1 with errno. */
static int audit_open_file(struct audit *a)
{
	struct stat st;

	a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (a->fd < 0)
		return -1;
	fchmod(a->fd, 0600);
	a->size = fstat(a->fd, &st) == 0 ? (long long)st.st_size : 0;
	return 0;
}

/* Rotates: audit.jsonl.(k-1) -> .k ... audit.jsonl -> .1, keeping `keep`
 * old files, then opens a fresh file. Failures are logged; writing goes on
 * in the current file. */
static void audit_rotate(struct audit *a)
{
	char from[4300], to[4300];

	if (a->keep <= 0) {
		if (ftruncate(a->fd, 0) == 0)
			a->size = 0;
		return;
	}
	fsync(a->fd);
	close(a->fd);
	snprintf(to, sizeof to, "%s.%ld", a->path, a->keep);
	unlink(to);
	for (long k = a->keep - 1; k >= 1; k--) {
		snprintf(from, sizeof from, "%s.%ld", a->path, k);
		snprintf(to, sizeof to, "%s.%ld", a->path, k + 1);
		rename(from, to);
	}
	snprintf(to, sizeof to, "%s.1", a->path);
	if (rename(a->path, to) < 0)
		log_error("audit: cannot rotate '%s': %s", a->path, strerror(errno));
	if (audit_open_file(a) < 0)
		log_error("audit: cannot reopen '%s': %s", a->path, strerror(errno));
}

/* Writes n buffers fully (retrying short writes); 0 or -1 (logged). */
static int audit_writev_all(struct audit *a, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(a->fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("audit: cannot write '%s': %s", a->path, strerror(errno));
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Writes a batch of lines, freeing them: up to AUDIT_IOV lines per writev
 * (one system call, not one per record), rotating between lines exactly as
 * line-by-line writing would (a file passes audit.max_file_bytes only when
 * a single line does). */
#define AUDIT_IOV 64
static void audit_write_batch(struct audit *a, struct audit_item *it)
{
	while (it) {
		struct audit_item *first = it;
		struct iovec iov[AUDIT_IOV];
		long long bytes = 0;
		int n = 0;

		if (a->fd >= 0 && a->max_bytes > 0 && a->size + (long long)it->len > a->max_bytes &&
		    a->size > 0)
			audit_rotate(a);
		while (it && n < AUDIT_IOV &&
		       (n == 0 || a->max_bytes <= 0 ||
			a->size + bytes + (long long)it->len <= a->max_bytes)) {
			iov[n].iov_base = it->line;
			iov[n].iov_len = it->len;
			bytes += (long long)it->len;
			n++;
			it = it->next;
		}
		if (a->fd >= 0 && audit_writev_all(a, iov, n) == 0)
			a->size += bytes;
		while (first != it) {
			struct audit_item *next = first->next;
			free(first);
			first = next;
		}
	}
}

/* The writer: takes the whole queue, writes it, syncs per mode. */
static void *audit_main(void *arg)
{
	struct audit *a = arg;
	struct timespec last, now;

	pthread_setname_np(pthread_self(), "gw-audit");
	clock_gettime(CLOCK_MONOTONIC, &last);
	for (;;) {
		struct audit_item *batch;
		int stop;

		pthread_mutex_lock(&a->lock);
		if (!a->head && !a->stop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += AUDIT_INTERVAL_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&a->cond, &a->lock, &until);
		}
		batch = a->head;
		a->head = a->tail = NULL;
		a->queued = 0;
		stop = a->stop;
		pthread_mutex_unlock(&a->lock);
		audit_write_batch(a, batch);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (a->fd >= 0 &&
		    ((a->mode == GW_FSYNC_ALWAYS && batch) ||
		     (a->mode == GW_FSYNC_INTERVAL &&
		      (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >=
			      AUDIT_INTERVAL_MS))) {
			fdatasync(a->fd);
			last = now;
		}
		if (stop)
			break;
	}
	if (a->fd >= 0 && a->mode != GW_FSYNC_NEVER)
		fsync(a->fd);
	return NULL;
}

struct audit *audit_open(const struct gw_conf *c, char *err, size_t errlen)
{
	struct audit *a = calloc(1, sizeof *a);
	int rc;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(a->path, sizeof a->path, "%.4000s/audit.jsonl", c->state_dir);
	a->mode = c->audit.fsync;
	a->max_bytes = c->audit.max_file_bytes;
	a->keep = c->audit.keep_files;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	if (audit_open_file(a) < 0) {
		snprintf(err, errlen, "cannot open audit log '%s': %s", a->path, strerror(errno));
		goto fail;
	}
	rc = pthread_create(&a->thread, NULL, audit_main, a);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the audit writer: %s", strerror(rc));
		close(a->fd);
		goto fail;
	}
	return a;
fail:
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
	return NULL;
}

/* Queues an item (taken), or drops it when the queue is full. */
static void audit_queue(struct audit *a, struct audit_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&a->lock);
	if (a->queued >= AUDIT_QUEUE_MAX) {
		pthread_mutex_unlock(&a->lock);
		free(it);
		atomic_fetch_add(&a->dropped, 1);
		return;
	}
	if (a->tail)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->queued++;
	if (a->mode == GW_FSYNC_ALWAYS)
		pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

/* The current wall-clock time in the audit's format. */
static void audit_now(char *when, size_t cap)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	session_format_time((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when, cap);
}

void audit_record(struct audit *a, json_t *rec)
{
	struct audit_item *it;
	char when[40], *text;
	size_t len;

	if (!a || !rec) {
		json_decref(rec);
		return;
	}
	audit_now(when, sizeof when);
	json_object_set_new(rec, "ts", json_string(when));
	text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	if (!text)
		return;
	len = strlen(text);
	it = malloc(sizeof *it + len + 2);
	if (!it) {
		free(text);
		atomic_fetch_add(&a->dropped, 1);
		return;
	}
	memcpy(it->line, text, len);
	free(text);
	it->line[len] = '\n';
	it->line[len + 1] = '\0';
	it->len = len + 1;
	audit_queue(a, it);
}

/* Room for n more bytes in the builder; 0 or -1 (oom set). The buffer
 * starts after a struct audit_item, so audit_line_end queues it as is. */
static int al_room(struct audit_line *l, size_t n)
{
	size_t need = l->len + n + 1, cap;
	char *nb;

	if (l->oom)
		return -1;
	if (need <= l->cap)
		return 0;
	cap = l->cap ? l->cap * 2 : 512;
	while (cap < need)
		cap *= 2;
	nb = realloc(l->buf, offsetof(struct audit_item, line) + cap);
	if (!nb) {
		l->oom = 1;
		return -1;
	}
	l->buf = nb;
	l->cap = cap;
	return 0;
}

/* The text area of the builder's buffer. */
static char *al_text(struct audit_line *l)
{
	return l->buf + offsetof(struct audit_item, line);
}

static void al_put(struct audit_line *l, const char *s, size_t n)
{
	if (al_room(l, n) < 0)
		return;
	memcpy(al_text(l) + l->len, s, n);
	l->len += n;
}

/* A JSON string (quoted, escaped like json_dumps). */
static void al_string(struct audit_line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	al_put(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t k = 0;
		if (c == '"' || c == '\\') {
			esc[k++] = '\\';
			esc[k++] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
			esc[k++] = '\\';
			esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
		} else if (c < 0x20) {
			esc[k++] = '\\';
			esc[k++] = 'u';
			esc[k++] = '0';
			esc[k++] = '0';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
		} else {
			size_t j = i;
			while (j < n && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\')
				j++;
			al_put(l, s + i, j - i);
			i = j - 1;
			continue;
		}
		al_put(l, esc, k);
	}
	al_put(l, "\"", 1);
}

/* ,"key": (or {"key": for the first member). */
static void al_key(struct audit_line *l, const char *key)
{
	al_put(l, l->len ? "," : "{", 1);
	al_string(l, key, strlen(key));
	al_put(l, ":", 1);
}

void audit_line_begin(struct audit_line *l)
{
	memset(l, 0, sizeof *l);
}

void audit_line_str(struct audit_line *l, const char *key, const char *val, size_t len)
{
	al_key(l, key);
	if (val)
		al_string(l, val, len);
	else
		al_put(l, "null", 4);
}

void audit_line_int(struct audit_line *l, const char *key, long long val)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%lld", val);

	al_key(l, key);
	al_put(l, num, (size_t)n);
}

void audit_line_null(struct audit_line *l, const char *key)
{
	al_key(l, key);
	al_put(l, "null", 4);
}

void audit_line_end(struct audit *a, struct audit_line *l)
{
	char when[40];
	struct audit_item *it;

	if (!a) {
		free(l->buf);
		l->buf = NULL;
		return;
	}
	audit_now(when, sizeof when);
	audit_line_str(l, "ts", when, strlen(when));
	al_put(l, "}\n", 2);
	if (l->oom || !l->buf) {
		free(l->buf);
		l->buf = NULL;
		atomic_fetch_add(&a->dropped, 1);
		return;
	}
	it = (struct audit_item *)(void *)l->buf;
	it->len = l->len;
	al_text(l)[l->len] = '\0';
	l->buf = NULL;
	audit_queue(a, it);
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}

long audit_dropped(const struct audit *a)
{
	return a ? atomic_load(&a->dropped) : 0;
}
