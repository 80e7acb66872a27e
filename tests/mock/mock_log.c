/*
 * mock_log.c - bounded, ordered record of received requests and in-flight
 * counters, each behind one mutex.
 */
#include "tests/mock/mock_log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mock_log {
	pthread_mutex_t lock;
	json_t **ring;       /* ring[(seq - 1) % cap] holds entry seq */
	size_t cap;
	uint64_t next_seq;   /* sequence number of the next entry */
	uint64_t first_seq;  /* oldest kept entry (== next_seq when empty) */
	long in_flight, max_in_flight, total;
};

/* See mock_log.h. */
struct mock_log *mock_log_new(size_t cap)
{
	struct mock_log *log = calloc(1, sizeof(*log));

	if (log == NULL || cap == 0)
		goto fail;
	log->ring = calloc(cap, sizeof(*log->ring));
	if (log->ring == NULL)
		goto fail;
	log->cap = cap;
	log->next_seq = 1;
	log->first_seq = 1;
	pthread_mutex_init(&log->lock, NULL);
	return log;
fail:
	free(log);
	return NULL;
}

/* See mock_log.h. */
void mock_log_free(struct mock_log *log)
{
	if (log == NULL)
		return;
	for (size_t i = 0; i < log->cap; i++)
		json_decref(log->ring[i]);
	free(log->ring);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

/* Returns body as a JSON string; bytes that are not valid UTF-8 are replaced
 * by '?' (bytes >= 0x80 all become '?' in that case). NULL when out of
 * memory. */
static json_t *log_body_string(const char *body, size_t len)
{
	json_t *s = json_stringn(body, len);
	char *copy;

	if (s != NULL)
		return s;
	copy = malloc(len + 1);
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)body[i] >= 0x80 ? '?' : body[i];
	copy[len] = '\0';
	s = json_stringn(copy, len);
	free(copy);
	return s;
}

/* Returns a JSON string for text that may not be UTF-8 (see above), or
 * null for NULL. */
static json_t *log_text(const char *text)
{
	return text ? log_body_string(text, strlen(text)) : json_null();
}

/* See mock_log.h. */
uint64_t mock_log_add(struct mock_log *log, const char *method, const char *path,
		      const char *query, json_t *headers, const char *body, size_t body_len,
		      bool sig_valid)
{
	json_t *e = json_object();
	uint64_t seq;
	size_t slot;

	if (e == NULL) {
		json_decref(headers);
		return 0;
	}
	json_object_set_new(e, "seq", json_integer(0));
	json_object_set_new(e, "method", log_text(method));
	json_object_set_new(e, "path", log_text(path));
	json_object_set_new(e, "query", log_text(query));
	json_object_set_new(e, "headers", headers ? headers : json_object());
	json_object_set_new(e, "body", log_body_string(body ? body : "", body ? body_len : 0));
	json_object_set_new(e, "sig_valid", json_boolean(sig_valid));
	json_object_set_new(e, "status", json_integer(0));

	pthread_mutex_lock(&log->lock);
	seq = log->next_seq++;
	json_object_set_new(e, "seq", json_integer((json_int_t)seq));
	slot = (size_t)((seq - 1) % log->cap);
	json_decref(log->ring[slot]);
	log->ring[slot] = e;
	if (log->next_seq - log->first_seq > log->cap)
		log->first_seq = log->next_seq - log->cap;
	pthread_mutex_unlock(&log->lock);
	return seq;
}

/* See mock_log.h. */
void mock_log_set_status(struct mock_log *log, uint64_t seq, unsigned int status)
{
	pthread_mutex_lock(&log->lock);
	if (seq != 0 && seq >= log->first_seq && seq < log->next_seq) {
		json_t *e = log->ring[(seq - 1) % log->cap];
		if (e != NULL)
			json_object_set_new(e, "status", json_integer(status));
	}
	pthread_mutex_unlock(&log->lock);
}

/* See mock_log.h. */
char *mock_log_dump(struct mock_log *log)
{
	json_t *arr = json_array(), *top = json_object();
	char *text = NULL;

	if (arr == NULL || top == NULL) {
		json_decref(arr);
		json_decref(top);
		return NULL;
	}
	pthread_mutex_lock(&log->lock);
	for (uint64_t s = log->first_seq; s < log->next_seq; s++) {
		json_t *e = log->ring[(s - 1) % log->cap];
		if (e != NULL)
			json_array_append(arr, e);
	}
	json_object_set_new(top, "requests", arr);
	/* Dumped under the lock: entries may get their status set meanwhile. */
	text = json_dumps(top, JSON_COMPACT);
	json_decref(top);
	pthread_mutex_unlock(&log->lock);
	return text;
}

/* See mock_log.h. */
void mock_log_clear(struct mock_log *log)
{
	pthread_mutex_lock(&log->lock);
	for (size_t i = 0; i < log->cap; i++) {
		json_decref(log->ring[i]);
		log->ring[i] = NULL;
	}
	log->first_seq = log->next_seq;
	pthread_mutex_unlock(&log->lock);
}

/* See mock_log.h. */
void mock_log_enter(struct mock_log *log)
{
	pthread_mutex_lock(&log->lock);
	log->in_flight++;
	log->total++;
	if (log->in_flight > log->max_in_flight)
		log->max_in_flight = log->in_flight;
	pthread_mutex_unlock(&log->lock);
}

/* See mock_log.h. */
void mock_log_leave(struct mock_log *log)
{
	pthread_mutex_lock(&log->lock);
	log->in_flight--;
	pthread_mutex_unlock(&log->lock);
}

/* See mock_log.h. */
json_t *mock_log_stats(struct mock_log *log)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	pthread_mutex_lock(&log->lock);
	json_object_set_new(o, "in_flight", json_integer(log->in_flight));
	json_object_set_new(o, "max_in_flight", json_integer(log->max_in_flight));
	json_object_set_new(o, "total", json_integer(log->total));
	pthread_mutex_unlock(&log->lock);
	return o;
}

/* See mock_log.h. */
void mock_log_reset_stats(struct mock_log *log)
{
	pthread_mutex_lock(&log->lock);
	log->total = 0;
	log->max_in_flight = log->in_flight;
	pthread_mutex_unlock(&log->lock);
}
