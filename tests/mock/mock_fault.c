/*
 * mock_fault.c - fault injection state behind one mutex.
 */
#include "tests/mock/mock_fault.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_DEFAULT_DELAY_MS 1000L
#define FAULT_DEFAULT_HANG_MS 60000L
#define FAULT_MAX_DELAY_MS 600000L
#define FAULT_DEFAULT_BIG (20u * 1024u * 1024u)
#define FAULT_MAX_BIG (256u * 1024u * 1024u)

struct mock_faults {
	pthread_mutex_t lock;
	enum mock_fault_mode mode;
	long delay_ms;
	unsigned int status;
	char *body;          /* NULL: the default body for status */
	long count;          /* -1: until replaced */
	long skip;
	char *path_prefix;   /* NULL: every path */
	size_t bytes;
	bool process;
	long hits;
};

static const char *const fault_names[] = {
	[MOCK_FAULT_NONE] = "none",       [MOCK_FAULT_DELAY] = "delay",
	[MOCK_FAULT_HANG] = "hang",       [MOCK_FAULT_RESET] = "reset",
	[MOCK_FAULT_STATUS] = "status",   [MOCK_FAULT_GARBAGE] = "garbage",
	[MOCK_FAULT_BIG] = "big",
};

/* See mock_fault.h. */
struct mock_faults *mock_faults_new(void)
{
	struct mock_faults *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->mode = MOCK_FAULT_NONE;
	f->count = -1;
	return f;
}

/* Forgets the current fault (mode none). Caller holds the lock. */
static void fault_clear_locked(struct mock_faults *f)
{
	free(f->body);
	free(f->path_prefix);
	f->body = NULL;
	f->path_prefix = NULL;
	f->mode = MOCK_FAULT_NONE;
	f->delay_ms = 0;
	f->status = 0;
	f->count = -1;
	f->skip = 0;
	f->bytes = 0;
	f->process = false;
}

/* See mock_fault.h. */
void mock_faults_free(struct mock_faults *f)
{
	if (f == NULL)
		return;
	fault_clear_locked(f);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Reads an optional integer member within [min,max] into *out. Returns 0
 * (absent leaves *out alone), or -1 with a message in err. */
static int fault_int(const json_t *spec, const char *name, long min, long max, long *out,
		     char *err, size_t errlen)
{
	const json_t *v = json_object_get(spec, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "'%s' must be an integer from %ld to %ld", name, min, max);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

/* See mock_fault.h. */
int mock_faults_set(struct mock_faults *f, json_t *spec, char *err, size_t errlen)
{
	static const char *const allowed[] = { "mode", "delay_ms", "status", "body", "count",
					       "skip", "path_prefix", "bytes", "process" };
	const char *key;
	json_t *v, *mode_v;
	enum mock_fault_mode mode = MOCK_FAULT_NONE;
	long delay = -1, status = 503, count = -1, skip = 0, bytes = (long)FAULT_DEFAULT_BIG;
	char *body = NULL, *prefix = NULL;
	bool process = false, found;
	size_t i;

	if (!json_is_object(spec)) {
		snprintf(err, errlen, "fault must be a JSON object");
		return -1;
	}
	json_object_foreach(spec, key, v) {
		found = false;
		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			found = found || strcmp(key, allowed[i]) == 0;
		if (!found) {
			snprintf(err, errlen, "unknown field '%s'", key);
			return -1;
		}
	}
	mode_v = json_object_get(spec, "mode");
	if (!json_is_string(mode_v)) {
		snprintf(err, errlen, "'mode' is required: none, delay, hang, reset, status, "
			 "garbage or big");
		return -1;
	}
	found = false;
	for (i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
		if (strcmp(json_string_value(mode_v), fault_names[i]) == 0) {
			mode = (enum mock_fault_mode)i;
			found = true;
		}
	}
	if (!found) {
		snprintf(err, errlen, "unknown mode '%s'", json_string_value(mode_v));
		return -1;
	}
	if (fault_int(spec, "delay_ms", 0, FAULT_MAX_DELAY_MS, &delay, err, errlen) ||
	    fault_int(spec, "status", 100, 599, &status, err, errlen) ||
	    fault_int(spec, "count", -1, 1000000000L, &count, err, errlen) ||
	    fault_int(spec, "skip", 0, 1000000000L, &skip, err, errlen) ||
	    fault_int(spec, "bytes", 2, (long)FAULT_MAX_BIG, &bytes, err, errlen))
		return -1;
	if (count == 0) {
		snprintf(err, errlen, "'count' must be -1 (until replaced) or at least 1");
		return -1;
	}
	v = json_object_get(spec, "process");
	if (v != NULL) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "'process' must be a boolean");
			return -1;
		}
		process = json_is_true(v);
	}
	v = json_object_get(spec, "path_prefix");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "'path_prefix' must be a string");
			return -1;
		}
		prefix = strdup(json_string_value(v));
	}
	v = json_object_get(spec, "body");
	if (v != NULL && !json_is_null(v))
		body = json_is_string(v) ? strdup(json_string_value(v))
					 : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (delay < 0)
		delay = mode == MOCK_FAULT_HANG ? FAULT_DEFAULT_HANG_MS : FAULT_DEFAULT_DELAY_MS;

	pthread_mutex_lock(&f->lock);
	fault_clear_locked(f);
	if (mode != MOCK_FAULT_NONE) {
		f->mode = mode;
		f->delay_ms = delay;
		f->status = (unsigned int)status;
		f->body = body;
		f->count = count;
		f->skip = skip;
		f->path_prefix = prefix;
		f->bytes = (size_t)bytes;
		f->process = process;
		body = prefix = NULL;
	}
	f->hits = 0;
	pthread_mutex_unlock(&f->lock);
	free(body);
	free(prefix);
	return 0;
}

/* See mock_fault.h. */
json_t *mock_faults_get(struct mock_faults *f)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	pthread_mutex_lock(&f->lock);
	json_object_set_new(o, "mode", json_string(fault_names[f->mode]));
	if (f->mode != MOCK_FAULT_NONE) {
		json_object_set_new(o, "delay_ms", json_integer(f->delay_ms));
		json_object_set_new(o, "status", json_integer(f->status));
		json_object_set_new(o, "body", f->body ? json_string(f->body) : json_null());
		json_object_set_new(o, "count", json_integer(f->count));
		json_object_set_new(o, "skip", json_integer(f->skip));
		json_object_set_new(o, "path_prefix",
				    f->path_prefix ? json_string(f->path_prefix) : json_null());
		json_object_set_new(o, "bytes", json_integer((json_int_t)f->bytes));
		json_object_set_new(o, "process", json_boolean(f->process));
	}
	json_object_set_new(o, "hits", json_integer(f->hits));
	pthread_mutex_unlock(&f->lock);
	return o;
}

/* Returns a malloc'd copy of the body a status fault sends by default:
 * Kalshi's 429 string error, its 503-style envelope for 5xx, a generic
 * envelope otherwise. NULL when out of memory. */
static char *fault_default_body(unsigned int status)
{
	if (status == 429)
		return strdup("{\"error\": \"too many requests\"}");
	if (status >= 500)
		return strdup("{\"error\":{\"code\":\"service_unavailable\",\"message\":"
			      "\"Service is temporarily unavailable\"}}");
	return strdup("{\"error\":{\"code\":\"mock_fault\",\"message\":\"injected fault\"}}");
}

/* See mock_fault.h. */
bool mock_faults_take(struct mock_faults *f, const char *path, struct mock_fault_action *out)
{
	bool hit = false;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->lock);
	if (f->mode == MOCK_FAULT_NONE)
		goto out;
	if (f->path_prefix != NULL && strncmp(path, f->path_prefix, strlen(f->path_prefix)) != 0)
		goto out;
	if (f->skip > 0) {
		f->skip--;
		goto out;
	}
	out->mode = f->mode;
	out->delay_ms = f->delay_ms;
	out->status = f->status;
	out->bytes = f->bytes;
	out->process = f->process;
	if (f->mode == MOCK_FAULT_STATUS)
		out->body = f->body ? strdup(f->body) : fault_default_body(f->status);
	f->hits++;
	hit = true;
	if (f->count > 0 && --f->count == 0) {
		long hits = f->hits;
		fault_clear_locked(f);
		f->hits = hits;
	}
out:
	pthread_mutex_unlock(&f->lock);
	return hit;
}

/* See mock_fault.h. */
void mock_fault_action_release(struct mock_fault_action *a)
{
	free(a->body);
	a->body = NULL;
}
