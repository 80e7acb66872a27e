/* log: see log.h. */
#include "gateway/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum gw_log_format log_format = GW_LOG_TEXT;
static enum gw_log_level log_level = GW_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum gw_log_format format, enum gw_log_level level)
{
	log_format = format;
	log_level = level;
}

/* Writes the current UTC time as "2026-11-29T21:14:48.123Z" into buf. */
static void log_timestamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
		 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
		 (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Appends s to buf at *pos as the body of a JSON string (escaping quotes,
 * backslashes and control bytes); stops at the cap. */
static void log_json_escape(char *buf, size_t cap, size_t *pos, const char *s)
{
	for (; *s && *pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[(*pos)++] = '\\';
			buf[(*pos)++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			*pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", c);
		} else {
			buf[(*pos)++] = (char)c;
		}
	}
	buf[*pos] = '\0';
}

/* Writes one finished line to stderr in a single write. */
static void log_emit(char *line, size_t len, size_t cap)
{
	if (len >= cap - 1)
		len = cap - 2;
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nowhere else to report it */
	}
}

void log_msg(enum gw_log_level level, const char *fmt, ...)
{
	char msg[4096], line[8192], ts[64];
	size_t pos = 0;
	va_list ap;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_timestamp(ts, sizeof ts);
	if (log_format == GW_LOG_JSON) {
		pos = (size_t)snprintf(line, sizeof line,
				       "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"",
				       ts, level_names[level]);
		log_json_escape(line, sizeof line, &pos, msg);
		pos += (size_t)snprintf(line + pos, sizeof line - pos, "\"}");
	} else {
		pos = (size_t)snprintf(line, sizeof line, "%s %-5s %s", ts,
				       level_names[level], msg);
	}
	if (pos >= sizeof line)
		pos = sizeof line - 1;
	log_emit(line, pos, sizeof line);
}

void log_request(const char *method, const char *target, int status,
		 const char *client, const char *request_id, long total_us,
		 long upstream_us, const char *error_code)
{
	char line[8192], ts[64];
	size_t pos = 0;

	if (GW_LOG_INFO < log_level)
		return;
	log_timestamp(ts, sizeof ts);
	if (log_format == GW_LOG_JSON) {
		pos = (size_t)snprintf(line, sizeof line,
				       "{\"ts\":\"%s\",\"level\":\"info\",\"event\":\"request\",\"method\":\"",
				       ts);
		log_json_escape(line, sizeof line, &pos, method);
		pos += (size_t)snprintf(line + pos, sizeof line - pos, "\",\"target\":\"");
		log_json_escape(line, sizeof line, &pos, target);
		pos += (size_t)snprintf(line + pos, sizeof line - pos,
					"\",\"status\":%d,\"client\":\"", status);
		log_json_escape(line, sizeof line, &pos, client ? client : "-");
		pos += (size_t)snprintf(line + pos, sizeof line - pos, "\",\"request_id\":\"");
		log_json_escape(line, sizeof line, &pos, request_id ? request_id : "-");
		pos += (size_t)snprintf(line + pos, sizeof line - pos,
					"\",\"total_us\":%ld,\"upstream_us\":%ld,\"error\":%s%s%s}",
					total_us, upstream_us, error_code ? "\"" : "",
					error_code ? error_code : "null", error_code ? "\"" : "");
	} else {
		char safe[2048];
		size_t n = 0;
		/* the target is client input: never let it break the line */
		for (const char *p = target; *p && n + 1 < sizeof safe; p++)
			safe[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
		safe[n] = '\0';
		pos = (size_t)snprintf(line, sizeof line,
				       "%s info  %s %s %d client=%s id=%s total_us=%ld upstream_us=%ld%s%s",
				       ts, method, safe, status, client ? client : "-",
				       request_id ? request_id : "-", total_us, upstream_us,
				       error_code ? " error=" : "", error_code ? error_code : "");
	}
	if (pos >= sizeof line)
		pos = sizeof line - 1;
	log_emit(line, pos, sizeof line);
}
