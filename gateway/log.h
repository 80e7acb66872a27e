/*
 * log: one line per event on stderr, as text or JSON, filtered by level.
 *
 * Thread-safe: each line is formatted into a local buffer and written with
 * one write(2). Messages must never contain keys, tokens or signatures.
 */
#ifndef GATEWAY_LOG_H
#define GATEWAY_LOG_H

#include "conf/conf.h"

/* Sets format and minimum level; call before starting threads. */
void log_setup(enum gw_log_format format, enum gw_log_level level);

/* Logs a message at `level`; fmt is printf-style. Lines longer than 4 KiB
 * are truncated. */
void log_msg(enum gw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Logs one request line: method, raw target, status, client, request id,
 * durations in microseconds (upstream_us < 0: not forwarded). */
void log_request(const char *method, const char *target, int status,
		 const char *client, const char *request_id, long total_us,
		 long upstream_us, const char *error_code);

#define log_debug(...) log_msg(GW_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(GW_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(GW_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(GW_LOG_ERROR, __VA_ARGS__)

#endif
