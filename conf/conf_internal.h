/*
 * conf_internal: what the configuration's source files share and nobody
 * else may use: the field tables, the value setters and the load context.
 *
 * A field is described once, in a table (conf_table.c): its dotted name, its
 * type, where it lives in its struct, its default and its environment
 * variable. Loading walks the JSON file and looks each key up in the table;
 * the environment and the flags go through the same setters, so a value is
 * validated the same way wherever it comes from.
 */
#ifndef CONF_CONF_INTERNAL_H
#define CONF_CONF_INTERNAL_H

#include <stddef.h>
#include <jansson.h>

#include "conf/conf.h"

enum conf_type {
	CONF_T_LONG,        /* JSON integer into a long, within min..max */
	CONF_T_I64,         /* JSON integer into an int64_t, within min..max */
	CONF_T_BOOL,        /* true / false, into an int */
	CONF_T_STRING,      /* non-empty string, into a char * */
	CONF_T_PATH,        /* non-empty path, into a char * */
	CONF_T_ENUM,        /* one of names[], its index into an int-sized enum */
	CONF_T_LISTEN,      /* "addr:port", fills the listen_* fields */
	CONF_T_URL,         /* upstream origin, normalised */
	CONF_T_WS_URL,      /* wss:// (ws:// on loopback) URL */
	CONF_T_COUNT,       /* integer or "10.50" string into hundredths */
	CONF_T_DOLLARS,     /* "0.95" string into 1/10000 dollars */
	CONF_T_PRICE,       /* dollars within 0..1 */
	CONF_T_HOSTS,       /* list of non-empty strings */
	CONF_T_ORIGINS,     /* list of non-empty strings */
	CONF_T_GLOBS,       /* list of ticker globs */
	CONF_T_URLS,        /* list of https:// (http:// on loopback) URLs */
	CONF_T_CLIENT_NAME, /* [A-Za-z0-9_.-]{1,64} */
	CONF_T_SESSION,     /* [A-Za-z0-9_-]{1,64} */
	CONF_T_SHA256,      /* 64 hex digits, stored lower case */
	CONF_T_LIMITS,      /* limits object into a struct gw_limits */
	CONF_T_CLIENTS      /* array of client objects */
};

#define CONF_NO_HAS ((size_t)-1)

/* Field may be null in the file, meaning "none" (its default). */
#define CONF_F_NULLABLE 1u
/* Field must be present (client name and role). */
#define CONF_F_REQUIRED 2u

struct conf_field {
	const char *name;          /* dotted key, relative to its table */
	enum conf_type type;
	size_t off;                /* offset of the value in its struct */
	size_t has_off;            /* offset of an int has_* flag, or CONF_NO_HAS */
	const char *env;           /* environment variable, or NULL */
	long long min, max;        /* integer range */
	long long def_int;         /* default of LONG, BOOL, ENUM (index) */
	const char *def_str;       /* default of string-like types, or NULL */
	const char *const *names;  /* ENUM value names, NULL-terminated */
	unsigned flags;
	int has_default;           /* LONG/I64/BOOL/ENUM: def_int applies */
};

/* The three tables: top level (struct gw_conf), a limits object (struct
 * gw_limits) and a client (struct gw_client). */
extern const struct conf_field conf_fields[];
extern const size_t conf_field_count;
extern const struct conf_field conf_limit_fields[];
extern const size_t conf_limit_field_count;
extern const struct conf_field conf_client_fields[];
extern const size_t conf_client_field_count;

/* Where values are coming from while loading; every problem goes through
 * conf_error(), which counts it. */
struct conf_ctx {
	struct conf_diag *diag;
	const char *source;        /* file name, "env", "flag" or "default" */
	const char *var;           /* "KALSHI_UPSTREAM_URL", "--listen" or NULL */
	size_t errors;
};

/* Reports one problem as "SOURCE:FIELD: [VAR: ]message" and counts it. */
void conf_error(struct conf_ctx *cx, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Returns the field named `name` in `table`, or NULL. */
const struct conf_field *conf_table_find(const struct conf_field *table,
					 size_t n, const char *name);

/*
 * Validates `v` as field `f` and stores it into the struct at `base`
 * (freeing the value it replaces, setting its has_* flag). `field` is the
 * full dotted key used in diagnostics. Returns 0, or -1 after reporting
 * every problem through cx, leaving the stored value unchanged.
 */
int conf_set_value(const struct conf_field *f, void *base, json_t *v,
		   struct conf_ctx *cx, const char *field);

/* Frees what a struct gw_limits / gw_client owns (not the struct itself). */
void conf_limits_release(struct gw_limits *l);
void conf_client_release(struct gw_client *cl);
void conf_strlist_release(struct gw_strlist *l);

/* Derives the WebSocket URL from a normalised upstream origin; returns a
 * new string owned by the caller, or NULL when out of memory. */
char *conf_derive_ws_url(const char *origin);

/* Returns "a string", "an integer", ... for messages. */
const char *conf_json_kind(const json_t *v);

#endif
