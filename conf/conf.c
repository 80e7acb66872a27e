/*
 * conf: loading the configuration in layers (defaults < file < environment
 * < flags), cross-field validation, diagnostics and provenance.
 *
 * Each layer goes through conf_set_value() with the table of conf_table.c;
 * the layer's name ("default", the file name, "env", "flag") is recorded per
 * table field so later problems can be reported against the right source.
 * Every problem found is reported; the configuration is returned only when
 * there was none.
 */
#include "conf/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/conf_internal.h"
#include "policy/fixed.h"

/* Provenance of each conf_fields[] entry; strings are static or `file`. */
struct conf_sources {
	char *file;             /* owned copy of the file name */
	const char **by_field;  /* conf_field_count entries */
	unsigned char *failed;  /* conf_field_count flags: some layer was refused */
};

static const char src_default[] = "default";
static const char src_env[] = "env";
static const char src_flag[] = "flag";

/* ------------------------------------------------------------------ */
/* diagnostics                                                         */

/* Appends "SOURCE:FIELD: message" built from a va_list; control bytes
 * become '?' so every diagnostic is one printable line. Allocation failure
 * loses the line. */
static void diag_vadd(struct conf_diag *d, const char *source, const char *field,
		      const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void diag_vadd(struct conf_diag *d, const char *source, const char *field,
		      const char *fmt, va_list ap)
{
	char *msg = NULL, *line = NULL, **lines;
	va_list ap2;
	int n;

	if (d == NULL)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (msg = malloc((size_t)n + 1)) == NULL)
		goto out;
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	n = snprintf(NULL, 0, "%s:%s: %s", source, field, msg);
	if (n < 0 || (line = malloc((size_t)n + 1)) == NULL)
		goto out;
	snprintf(line, (size_t)n + 1, "%s:%s: %s", source, field, msg);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	lines = realloc(d->lines, (d->count + 1) * sizeof *lines);
	if (lines == NULL)
		goto out;
	d->lines = lines;
	d->lines[d->count++] = line;
	line = NULL;
out:
	free(line);
	free(msg);
}

/* Appends one diagnostic line; see conf.h. */
void conf_diag_add(struct conf_diag *d, const char *source, const char *field,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, source, field, fmt, ap);
	va_end(ap);
}

/* Frees every line; the struct is empty afterwards. NULL is a no-op. */
void conf_diag_release(struct conf_diag *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->count; i++)
		free(d->lines[i]);
	free(d->lines);
	d->lines = NULL;
	d->count = 0;
}

/* Reports one problem for the current layer, prefixed with the variable or
 * flag name when there is one, and counts it. */
void conf_error(struct conf_ctx *cx, const char *field, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (cx->var)
		conf_diag_add(cx->diag, cx->source, field, "%s: %s", cx->var, msg);
	else
		conf_diag_add(cx->diag, cx->source, field, "%s", msg);
	cx->errors++;
}

/* ------------------------------------------------------------------ */
/* provenance                                                          */

/* Records that table field f got its value from the current layer. */
static void note_source(struct gw_conf *c, const struct conf_field *f,
			const struct conf_ctx *cx)
{
	struct conf_sources *src = c->sources;
	size_t i = (size_t)(f - conf_fields);

	if (cx->source == src->file || cx->source == src_env || cx->source == src_flag)
		src->by_field[i] = cx->source;
	else
		src->by_field[i] = src_default;
}

/* Where dotted key `key` came from; see conf.h. Keys inside `limits` and
 * `clients` report the source of that whole key; a derived ws_url reports
 * the source of upstream.url. Unknown keys report "default". */
const char *conf_source(const struct gw_conf *c, const char *key)
{
	const struct conf_sources *src;
	const struct conf_field *f;
	char top[64];
	size_t n;

	if (c == NULL || c->sources == NULL || key == NULL)
		return src_default;
	src = c->sources;
	f = conf_table_find(conf_fields, conf_field_count, key);
	if (f == NULL) {
		n = strcspn(key, ".[");
		if (n < sizeof top) {
			memcpy(top, key, n);
			top[n] = '\0';
			if (strcmp(top, "limits") == 0 || strcmp(top, "clients") == 0)
				f = conf_table_find(conf_fields, conf_field_count, top);
		}
	}
	if (f == NULL)
		return src_default;
	if (f->type == CONF_T_WS_URL &&
	    src->by_field[f - conf_fields] == src_default)
		return conf_source(c, "upstream.url");
	return src->by_field[f - conf_fields];
}

/* Returns the environment variable that sets dotted key `key`, or NULL;
 * see conf.h. */
const char *conf_env_var(const char *key)
{
	const struct conf_field *f;

	if (key == NULL)
		return NULL;
	f = conf_table_find(conf_fields, conf_field_count, key);
	return f ? f->env : NULL;
}

/* ------------------------------------------------------------------ */
/* layers                                                              */

/* Applies one value to table field f and records its source on success. */
static void apply(struct gw_conf *c, const struct conf_field *f, json_t *v,
		  struct conf_ctx *cx)
{
	struct conf_sources *src = c->sources;

	if (conf_set_value(f, c, v, cx, f->name) == 0)
		note_source(c, f, cx);
	else
		src->failed[f - conf_fields] = 1;
}

/* True when some layer's value for dotted key `key` was refused, so checks
 * involving it would only add noise. */
static int key_failed(const struct gw_conf *c, const char *key)
{
	const struct conf_sources *src = c->sources;
	const struct conf_field *f = conf_table_find(conf_fields, conf_field_count, key);

	return f != NULL && src->failed[f - conf_fields];
}

/* Sets every field to its default from the table. */
static void apply_defaults(struct gw_conf *c, struct conf_ctx *cx)
{
	for (size_t i = 0; i < conf_field_count; i++) {
		const struct conf_field *f = &conf_fields[i];
		json_t *v = NULL;

		if (f->has_default) {
			if (f->type == CONF_T_BOOL)
				v = json_boolean(f->def_int);
			else if (f->type == CONF_T_ENUM)
				v = json_string(f->names[f->def_int]);
			else
				v = json_integer(f->def_int);
		} else if (f->def_str) {
			v = json_string(f->def_str);
		}
		if (v == NULL) {
			if (f->has_default || f->def_str)
				conf_error(cx, f->name, "out of memory");
			note_source(c, f, cx);
			continue;
		}
		apply(c, f, v, cx);
		json_decref(v);
	}
}

/* True when some table key starts with "prefix." (an object of keys). */
static int is_section(const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < conf_field_count; i++)
		if (strncmp(conf_fields[i].name, prefix, n) == 0 && conf_fields[i].name[n] == '.')
			return 1;
	return 0;
}

/* Walks a JSON object whose keys are members of `prefix` (NULL at the top
 * level): table keys are applied, sections recursed into, anything else is
 * an unknown key. A key containing '.' is never a table key: dotted keys are
 * written nested in the file. */
static void walk_object(struct gw_conf *c, json_t *obj, const char *prefix,
			struct conf_ctx *cx)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		char *full;
		const struct conf_field *f;
		size_t n = strlen(prefix ? prefix : "") + strlen(key) + 2;

		if ((full = malloc(n)) == NULL) {
			conf_error(cx, prefix ? prefix : "(root)", "out of memory");
			continue;
		}
		snprintf(full, n, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", key);
		f = strchr(key, '.') ? NULL : conf_table_find(conf_fields, conf_field_count, full);
		if (f != NULL) {
			apply(c, f, val, cx);
		} else if (strchr(key, '.') == NULL && is_section(full)) {
			if (json_is_object(val))
				walk_object(c, val, full, cx);
			else
				conf_error(cx, full, "expected an object, got %s", conf_json_kind(val));
		} else if (conf_table_find(conf_fields, conf_field_count, full) != NULL) {
			char *dot = strchr(full, '.');
			conf_error(cx, full, "unknown key '%s' (write dotted keys nested: "
				   "{\"%.*s\": {\"%s\": ...}})", key, (int)(dot - full), full,
				   dot + 1);
		} else {
			conf_error(cx, full, "unknown key '%s'", key);
		}
		free(full);
	}
}

/* Lower-cases the first letter of strerror(err) into buf, for messages. */
static const char *errstr(int err, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* Loads the JSON file layer: unreadable, invalid or non-object files are
 * reported at "(root)"; duplicate keys are a parse error. */
static void load_file(struct gw_conf *c, const char *file, struct conf_ctx *cx)
{
	json_error_t jerr;
	json_t *root = NULL;
	struct stat st;
	char ebuf[128];
	FILE *fp;

	fp = fopen(file, "r");
	if (fp == NULL) {
		conf_error(cx, "(root)", "cannot read file: %s", errstr(errno, ebuf, sizeof ebuf));
		return;
	}
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		conf_error(cx, "(root)", "cannot read file: %s", errstr(EISDIR, ebuf, sizeof ebuf));
		goto out;
	}
	root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (ferror(fp))
			conf_error(cx, "(root)", "cannot read file: %s",
				   errstr(errno, ebuf, sizeof ebuf));
		else
			conf_error(cx, "(root)", "invalid JSON at line %d, column %d: %s",
				   jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		conf_error(cx, "(root)", "expected an object, got %s", conf_json_kind(root));
		goto out;
	}
	walk_object(c, root, NULL, cx);
out:
	json_decref(root);
	fclose(fp);
}

/* Looks a variable up; an empty value counts as unset. */
static const char *env_get(conf_getenv_fn getenv_fn, const char *name)
{
	const char *v = getenv_fn ? getenv_fn(name) : getenv(name);

	return v && v[0] ? v : NULL;
}

/* Applies the environment layer: each table field with a variable. */
static void load_env(struct gw_conf *c, conf_getenv_fn getenv_fn, struct conf_ctx *cx)
{
	for (size_t i = 0; i < conf_field_count; i++) {
		const struct conf_field *f = &conf_fields[i];
		const char *s;
		json_t *v;

		if (f->env == NULL || (s = env_get(getenv_fn, f->env)) == NULL)
			continue;
		cx->var = f->env;
		/* no UTF-8 check: a path may be any bytes */
		if ((v = json_string_nocheck(s)) == NULL) {
			conf_error(cx, f->name, "out of memory");
		} else {
			apply(c, f, v, cx);
			json_decref(v);
		}
		cx->var = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* cross-field validation                                              */

/* Reports a problem found after merging against the source of `key`,
 * naming the environment variable when the value came from there. */
static void report_at(struct gw_conf *c, struct conf_ctx *cx, const char *key,
		      const char *msg)
{
	struct conf_ctx at = { cx->diag, conf_source(c, key), NULL, 0 };

	if (at.source == src_env)
		at.var = conf_env_var(key);
	conf_error(&at, key, "%s", msg);
	cx->errors++;
}

/* Checks one effective price band (client keys override global ones). */
static void check_band(struct gw_conf *c, struct conf_ctx *cx, const struct gw_limits *l,
		       int ci)
{
	const struct gw_limits *g = &c->limits;
	int has_min = l->has_min_price || g->has_min_price;
	int has_max = l->has_max_price || g->has_max_price;
	int64_t min = l->has_min_price ? l->min_price : g->min_price;
	int64_t max = l->has_max_price ? l->max_price : g->max_price;
	char a[32], b[32], field[64], msg[160];

	/* a band wholly inside one limits object was checked while reading */
	if (!has_min || !has_max || min <= max ||
	    (l->has_min_price && l->has_max_price))
		return;
	fixed_format_dollars(min, a, sizeof a);
	fixed_format_dollars(max, b, sizeof b);
	snprintf(field, sizeof field, "clients[%d].limits.%s", ci,
		 l->has_min_price ? "min_price" : "max_price");
	snprintf(msg, sizeof msg, "%smin_price %s is above %smax_price %s",
		 l->has_min_price ? "" : "global ", a, l->has_max_price ? "" : "global ", b);
	report_at(c, cx, field, msg);
}

/* Checks what no single value can: the key pair, the price bands and the
 * uniqueness of client names, tokens and key ids. Derives ws_url. */
static void validate(struct gw_conf *c, struct conf_ctx *cx)
{
	char msg[256];

	if (c->upstream.ws_url == NULL && c->upstream.url != NULL) {
		c->upstream.ws_url = conf_derive_ws_url(c->upstream.url);
		if (c->upstream.ws_url == NULL)
			report_at(c, cx, "upstream.ws_url", "out of memory");
	}
	if ((c->upstream.key_id == NULL) != (c->upstream.private_key_file == NULL) &&
	    !key_failed(c, "upstream.key_id") && !key_failed(c, "upstream.private_key_file")) {
		const char *set = c->upstream.key_id ? "upstream.key_id" : "upstream.private_key_file";
		const char *unset = c->upstream.key_id ? "upstream.private_key_file" : "upstream.key_id";
		snprintf(msg, sizeof msg, "'%s' must be set too (%s)", unset, conf_env_var(unset));
		report_at(c, cx, set, msg);
	}
	for (size_t i = 0; i < c->client_count; i++) {
		const struct gw_client *ci = &c->clients[i];
		char field[64];

		check_band(c, cx, &ci->limits, (int)i);
		for (size_t j = 0; j < i; j++) {
			const struct gw_client *cj = &c->clients[j];
			if (strcmp(ci->name, cj->name) == 0) {
				snprintf(field, sizeof field, "clients[%zu].name", i);
				snprintf(msg, sizeof msg, "duplicate client name '%s' (also clients[%zu])",
					 ci->name, j);
				report_at(c, cx, field, msg);
			}
			if (ci->token_sha256 && cj->token_sha256 &&
			    strcmp(ci->token_sha256, cj->token_sha256) == 0) {
				snprintf(field, sizeof field, "clients[%zu].token_sha256", i);
				snprintf(msg, sizeof msg, "same token_sha256 as clients[%zu] ('%s')",
					 j, cj->name);
				report_at(c, cx, field, msg);
			}
			if (ci->kalshi_key_id && cj->kalshi_key_id &&
			    strcmp(ci->kalshi_key_id, cj->kalshi_key_id) == 0) {
				snprintf(field, sizeof field, "clients[%zu].kalshi_key_id", i);
				snprintf(msg, sizeof msg, "same kalshi_key_id as clients[%zu] ('%s')",
					 j, cj->name);
				report_at(c, cx, field, msg);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* public entry points                                                 */

/* Frees a configuration and everything it owns; NULL is a no-op. */
void conf_free(struct gw_conf *c)
{
	struct conf_sources *src;

	if (c == NULL)
		return;
	free(c->listen);
	free(c->state_dir);
	free(c->admin_token_file);
	free(c->upstream.url);
	free(c->upstream.ws_url);
	free(c->upstream.key_id);
	free(c->upstream.private_key_file);
	free(c->upstream.ca_file);
	conf_strlist_release(&c->server.allowed_hosts);
	conf_strlist_release(&c->server.allowed_origins);
	conf_limits_release(&c->limits);
	for (size_t i = 0; i < c->client_count; i++)
		conf_client_release(&c->clients[i]);
	free(c->clients);
	conf_strlist_release(&c->events.webhooks);
	src = c->sources;
	if (src != NULL) {
		free(src->file);
		free(src->by_field);
		free(src->failed);
		free(src);
	}
	free(c);
}

/* Loads and validates the configuration in layers; see conf.h. */
struct gw_conf *conf_load(const char *file, conf_getenv_fn getenv_fn,
			  const char *flag_listen, struct conf_diag *diag)
{
	struct conf_diag local = { NULL, 0 };
	struct conf_ctx cx = { diag ? diag : &local, src_default, NULL, 0 };
	struct conf_sources *src = NULL;
	struct gw_conf *c = NULL, *result = NULL;

	if (file == NULL)
		file = env_get(getenv_fn, "GATEWAY_CONFIG");
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (src = calloc(1, sizeof *src)) == NULL ||
	    (src->by_field = calloc(conf_field_count, sizeof *src->by_field)) == NULL ||
	    (src->failed = calloc(conf_field_count, 1)) == NULL ||
	    (file && (src->file = strdup(file)) == NULL)) {
		conf_diag_add(cx.diag, file ? file : src_default, "(root)", "out of memory");
		if (src) {
			free(src->by_field);
			free(src->failed);
		}
		free(src);
		goto out;
	}
	c->sources = src;

	apply_defaults(c, &cx);
	if (file) {
		cx.source = src->file;
		load_file(c, file, &cx);
	}
	cx.source = src_env;
	load_env(c, getenv_fn, &cx);
	if (flag_listen) {
		cx.source = src_flag;
		cx.var = "--listen";
		json_t *v = json_string_nocheck(flag_listen);
		if (v == NULL)
			conf_error(&cx, "listen", "out of memory");
		else
			apply(c, conf_table_find(conf_fields, conf_field_count, "listen"), v, &cx);
		json_decref(v);
		cx.var = NULL;
	}
	validate(c, &cx);
	if (cx.errors == 0) {
		result = c;
		c = NULL;
	}
out:
	conf_free(c);
	conf_diag_release(&local);
	return result;
}
