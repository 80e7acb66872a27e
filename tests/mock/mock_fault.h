/*
 * mock_fault.h - the one fault the mock injects into matching requests.
 *
 * A fault is set with PUT /_mock/fault and applies to the next `count`
 * requests whose raw path starts with `path_prefix` (all when -1), after
 * `skip` matching requests have passed untouched. Control requests
 * (/_mock/...) are never affected. Thread-safe.
 */
#ifndef MOCK_FAULT_H
#define MOCK_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum mock_fault_mode {
	MOCK_FAULT_NONE,
	MOCK_FAULT_DELAY,    /* sleep delay_ms, then answer normally */
	MOCK_FAULT_HANG,     /* no answer until the client leaves, delay_ms or stop */
	MOCK_FAULT_RESET,    /* close the connection without an answer */
	MOCK_FAULT_STATUS,   /* answer status with body */
	MOCK_FAULT_GARBAGE,  /* write non-HTTP bytes, then close */
	MOCK_FAULT_BIG,      /* answer 200 with a valid JSON body of `bytes` */
};

/* What to do with one request; body is malloc'd (release with
 * mock_fault_action_release). */
struct mock_fault_action {
	enum mock_fault_mode mode;
	long delay_ms;
	unsigned int status;
	char *body;
	size_t bytes;
	bool process;   /* hang/reset/garbage/status: run the request first */
};

struct mock_faults;

/* Creates an empty fault state (mode none); NULL when out of memory. */
struct mock_faults *mock_faults_new(void);

/* Frees the state; NULL is a no-op. */
void mock_faults_free(struct mock_faults *f);

/* Replaces the fault with the one described by a JSON object
 * {"mode","delay_ms","status","body","count","skip","path_prefix","bytes",
 * "process"}. Returns 0, or -1 with a message in err (the fault unchanged). */
int mock_faults_set(struct mock_faults *f, json_t *spec, char *err, size_t errlen);

/* Returns a new JSON object describing the current fault. */
json_t *mock_faults_get(struct mock_faults *f);

/* Decides whether the fault applies to a request with this raw path and, if
 * so, consumes one use of it and fills out. Returns true when it applies. */
bool mock_faults_take(struct mock_faults *f, const char *path, struct mock_fault_action *out);

/* Frees what an action owns. */
void mock_fault_action_release(struct mock_fault_action *a);

#endif
