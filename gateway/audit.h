/*
 * audit: the append-only audit log, state_dir/audit.jsonl (0600): one JSON
 * object per line for every order decision and session transition. Never
 * a token, key or signature.
 *
 * audit_record() is thread-safe and never blocks on the disk: records go to
 * a bounded queue that a writer thread appends, syncing per audit.fsync
 * (always: after every batch; interval: at most 200 ms behind; never) and
 * rotating at audit.max_file_bytes, keeping audit.keep_files old files.
 */
#ifndef GATEWAY_AUDIT_H
#define GATEWAY_AUDIT_H

#include <jansson.h>
#include <stddef.h>

struct gw_conf;
struct audit;

/* Opens (creates 0600) the log and starts the writer. NULL with err. */
struct audit *audit_open(const struct gw_conf *c, char *err, size_t errlen);

/* Queues one record (reference stolen); "ts" is added. NULL audit is a
 * no-op (the record is freed). */
void audit_record(struct audit *a, json_t *rec);

/*
 * A record written straight as text, for the order path (no JSON tree, one
 * allocation): audit_line_begin, then audit_line_str / _int / _null per
 * member in order, then audit_line_end, which adds "ts", queues the line
 * and frees the builder's memory in every case. Strings are escaped as
 * json_dumps would (quotes, backslashes, control characters); other bytes
 * are copied. An allocation failure drops the record (counted).
 */
struct audit_line {
	char *buf;
	size_t len, cap;
	int oom;
};
void audit_line_begin(struct audit_line *l);
void audit_line_str(struct audit_line *l, const char *key, const char *val, size_t len);
void audit_line_int(struct audit_line *l, const char *key, long long val);
void audit_line_null(struct audit_line *l, const char *key);
void audit_line_end(struct audit *a, struct audit_line *l);

/* Writes what is queued, syncs, stops the writer, frees. NULL is a no-op. */
void audit_close(struct audit *a);

/* Records dropped because the queue was full (for metrics). */
long audit_dropped(const struct audit *a);

#endif
