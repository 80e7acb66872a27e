/*
 * mock_log.h - recording of the requests the mock received, and the
 * in-flight statistics tests use to measure concurrency.
 *
 * Invariant: entries are kept in arrival order, at most the last `cap`; each
 * has a sequence number starting at 1 that never repeats, even after a clear.
 * All functions are thread-safe.
 */
#ifndef MOCK_LOG_H
#define MOCK_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct mock_log;

/* Creates a log keeping the last cap entries. Returns NULL when out of
 * memory. */
struct mock_log *mock_log_new(size_t cap);

/* Frees the log; NULL is a no-op. */
void mock_log_free(struct mock_log *log);

/* Records one request. headers is a JSON object (lower-case name -> value)
 * whose ownership passes to the log; body need not be valid UTF-8 (invalid
 * bytes are recorded as '?'). Returns the entry's sequence number, or 0 when
 * out of memory (nothing recorded). The status starts at 0. */
uint64_t mock_log_add(struct mock_log *log, const char *method, const char *path,
		      const char *query, json_t *headers, const char *body, size_t body_len,
		      bool sig_valid);

/* Sets the status of entry seq if it is still kept; 0 means "no answer". */
void mock_log_set_status(struct mock_log *log, uint64_t seq, unsigned int status);

/* Returns {"requests":[...]} as malloc'd JSON text, or NULL when out of
 * memory. */
char *mock_log_dump(struct mock_log *log);

/* Forgets every entry (sequence numbers keep counting). */
void mock_log_clear(struct mock_log *log);

/* Counts a request as started (in_flight, max_in_flight, total). */
void mock_log_enter(struct mock_log *log);

/* Counts a started request as finished. */
void mock_log_leave(struct mock_log *log);

/* Returns a new {"in_flight","max_in_flight","total"} object. */
json_t *mock_log_stats(struct mock_log *log);

/* Resets total to 0 and max_in_flight to the current in_flight. */
void mock_log_reset_stats(struct mock_log *log);

#endif
