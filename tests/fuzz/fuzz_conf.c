/*
 * libFuzzer target for conf/: the input is the whole JSON configuration
 * file. conf_load() reads a file by name, so the input is written to a
 * memfd and loaded through /proc/self/fd/N with an empty environment and
 * no flags: nothing in conf/ changes for the fuzzer's sake, and no file
 * outside the process is ever touched.
 *
 * Build and run (tests/fuzz/run.sh does this for every target):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_conf.c conf/conf.c conf/conf_table.c conf/conf_value.c \
 *     policy/fixed.c -ljansson -o /tmp/fuzz_conf
 *   /tmp/fuzz_conf -max_total_time=20 tests/fuzz/corpus/conf
 *
 * Besides memory safety and leaks, it checks what the gateway relies on
 * after conf_load() returns: a configuration comes with no diagnostic and
 * a refusal with at least one, each a single printable line naming its
 * source; every value in the configuration is within what the field table
 * allows (read from conf_internal.h, so a new key is checked without
 * touching this file); clients are identifiable, unique and well formed;
 * price bands are ordered; provenance only ever names the file or
 * "default".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "policy/fixed.h"
#include "tests/fuzz/fuzz_check.h"


/* The memfd holding the current input and its /proc name, made once:
 * creating a file per input would cost more than parsing it. */
static int input_fd = -1;
static char input_path[64];

/* The empty environment: whatever the fuzzer's own environment holds
 * (GATEWAY_CONFIG, KALSHI_*) must not change what an input means. */
static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

/* Whether s has a byte that may not appear in a one-line token. */
static int has_space_or_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

/* Checks a string list: items non-empty, without spaces or control bytes
 * (hosts, origins and globs are compared byte for byte later). */
static void check_list(const struct gw_strlist *l)
{
	CHECK(l->count == 0 || l->items != NULL);
	for (size_t i = 0; i < l->count; i++) {
		CHECK(l->items[i] != NULL && l->items[i][0] != '\0');
		CHECK(!has_space_or_ctl(l->items[i]));
	}
}

/* Checks one limits object: an absent key leaves a zero value, a present
 * one is in its unit's range, and a band given whole is ordered. */
static void check_limits(const struct gw_limits *l)
{
	CHECK(l->has_max_order_contracts ? l->max_order_contracts >= 0 &&
	      l->max_order_contracts <= FIXED_COUNT_MAX : l->max_order_contracts == 0);
	CHECK(l->has_max_order_cost ? l->max_order_cost >= 0 &&
	      l->max_order_cost <= FIXED_DOLLARS_MAX : l->max_order_cost == 0);
	CHECK(l->has_min_price ? l->min_price >= 0 && l->min_price <= 10000 : l->min_price == 0);
	CHECK(l->has_max_price ? l->max_price >= 0 && l->max_price <= 10000 : l->max_price == 0);
	CHECK(!(l->has_min_price && l->has_max_price) || l->min_price <= l->max_price);
	CHECK(l->has_max_session_contracts ? l->max_session_contracts >= 0 &&
	      l->max_session_contracts <= FIXED_COUNT_MAX : l->max_session_contracts == 0);
	CHECK(l->has_max_session_filled_contracts ? l->max_session_filled_contracts >= 0 &&
	      l->max_session_filled_contracts <= FIXED_COUNT_MAX
	      : l->max_session_filled_contracts == 0);
	CHECK(l->has_max_orders_per_s ? l->max_orders_per_s >= 1 &&
	      l->max_orders_per_s <= 1000000 : l->max_orders_per_s == 0);
	CHECK(l->has_tickers || l->tickers.count == 0);
	CHECK(l->has_deny_tickers || l->deny_tickers.count == 0);
	check_list(&l->tickers);
	check_list(&l->deny_tickers);
}

/* Whether s is 1..64 bytes of [A-Za-z0-9_-], plus '.' when dot is set. */
static int name_ok(const char *s, int dot)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	if (dot)
		n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.");
	return n >= 1 && n <= 64 && s[n] == '\0';
}

/* Checks one table field's stored value against the table's own rules. */
static void check_field(const struct gw_conf *c, const struct conf_field *f)
{
	const char *p = (const char *)c + f->off;
	const int *has = f->has_off == CONF_NO_HAS ? NULL
		: (const int *)(const void *)((const char *)c + f->has_off);
	const char *s;
	size_t n;

	switch (f->type) {
	case CONF_T_LONG:
		if (has && !*has)
			CHECK(*(const long *)(const void *)p == 0);
		else
			CHECK(*(const long *)(const void *)p >= f->min &&
			      *(const long *)(const void *)p <= f->max);
		break;
	case CONF_T_I64:
		CHECK(*(const int64_t *)(const void *)p >= f->min &&
		      *(const int64_t *)(const void *)p <= f->max);
		break;
	case CONF_T_BOOL:
		CHECK(*(const int *)(const void *)p == 0 || *(const int *)(const void *)p == 1);
		break;
	case CONF_T_ENUM:
		for (n = 0; f->names[n]; n++)
			;
		CHECK(*(const int *)(const void *)p >= 0 && (size_t)*(const int *)(const void *)p < n);
		break;
	case CONF_T_STRING:
	case CONF_T_PATH:
	case CONF_T_LISTEN:
	case CONF_T_URL:
	case CONF_T_WS_URL:
		s = *(char *const *)(const void *)p;
		/* a field with a default cannot be emptied; ws_url is derived */
		if (f->def_str != NULL || f->type == CONF_T_WS_URL)
			CHECK(s != NULL);
		if (s == NULL)
			break;
		CHECK(s[0] != '\0');
		if (f->type != CONF_T_PATH)
			CHECK(!has_space_or_ctl(s));
		if (f->type == CONF_T_URL) {
			/* an origin: the proxy appends /trade-api/v2/... to it */
			const char *auth = strstr(s, "://");
			CHECK(strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0);
			CHECK(auth != NULL && strpbrk(auth + 3, "/?#@") == NULL);
		}
		if (f->type == CONF_T_WS_URL) {
			/* no userinfo: an '@' may stand in the path (RFC 3986 pchar),
			 * never in the authority */
			const char *auth = strstr(s, "://");
			size_t alen = auth ? strcspn(auth + 3, "/?") : 0;
			CHECK((strncmp(s, "wss://", 6) == 0 || strncmp(s, "ws://", 5) == 0) &&
			      strchr(s, '#') == NULL && auth != NULL &&
			      memchr(auth + 3, '@', alen) == NULL);
		}
		break;
	case CONF_T_HOSTS:
		CHECK(has != NULL);
		if (*has)
			CHECK(((const struct gw_strlist *)(const void *)p)->count >= 1);
		else
			CHECK(((const struct gw_strlist *)(const void *)p)->count == 0);
		check_list((const struct gw_strlist *)(const void *)p);
		break;
	case CONF_T_ORIGINS:
	case CONF_T_GLOBS:
	case CONF_T_URLS:
		check_list((const struct gw_strlist *)(const void *)p);
		break;
	case CONF_T_LIMITS:
		check_limits((const struct gw_limits *)(const void *)p);
		break;
	default:
		/* clients, counts and dollars live in objects checked elsewhere */
		break;
	}
}

/* Checks the clients: each identifiable and well formed, names, tokens and
 * key ids unique, and each effective price band (client keys over global
 * ones) ordered, since the order check trusts min <= max. */
static void check_clients(const struct gw_conf *c)
{
	CHECK(c->client_count == 0 || c->clients != NULL);
	for (size_t i = 0; i < c->client_count; i++) {
		const struct gw_client *ci = &c->clients[i];
		const struct gw_limits *l = &ci->limits, *g = &c->limits;

		CHECK(ci->name != NULL && name_ok(ci->name, 1));
		CHECK((int)ci->role >= GW_ROLE_READ_ONLY && (int)ci->role <= GW_ROLE_ADMIN);
		CHECK(ci->session == NULL || name_ok(ci->session, 0));
		if (ci->token_sha256 != NULL)
			CHECK(strlen(ci->token_sha256) == 64 &&
			      strspn(ci->token_sha256, "0123456789abcdef") == 64);
		CHECK(ci->token_sha256 == NULL || ci->token_file == NULL);
		CHECK(ci->token_sha256 || ci->token_file || ci->kalshi_key_id);
		CHECK(ci->public_key_file == NULL || ci->kalshi_key_id != NULL);
		check_limits(l);
		if ((l->has_min_price || g->has_min_price) && (l->has_max_price || g->has_max_price))
			CHECK((l->has_min_price ? l->min_price : g->min_price) <=
			      (l->has_max_price ? l->max_price : g->max_price));
		for (size_t j = 0; j < i; j++) {
			const struct gw_client *cj = &c->clients[j];

			CHECK(strcmp(ci->name, cj->name) != 0);
			CHECK(!ci->token_sha256 || !cj->token_sha256 ||
			      strcmp(ci->token_sha256, cj->token_sha256) != 0);
			CHECK(!ci->kalshi_key_id || !cj->kalshi_key_id ||
			      strcmp(ci->kalshi_key_id, cj->kalshi_key_id) != 0);
		}
	}
}

/* Checks an accepted configuration whole. */
static void check_conf(const struct gw_conf *c)
{
	for (size_t i = 0; i < conf_field_count; i++) {
		const char *src = conf_source(c, conf_fields[i].name);

		check_field(c, &conf_fields[i]);
		/* the environment is empty and there are no flags */
		CHECK(src != NULL && (strcmp(src, "default") == 0 || strcmp(src, input_path) == 0));
	}
	CHECK(c->listen_port >= 0 && c->listen_port <= 65535);
	CHECK(memchr(c->listen_host, '\0', sizeof c->listen_host) != NULL && c->listen_host[0]);
	if (c->listen_addr.ss_family == AF_INET)
		CHECK(c->listen_addr_len == sizeof(struct sockaddr_in) &&
		      ntohs(((const struct sockaddr_in *)(const void *)&c->listen_addr)->sin_port) ==
		      c->listen_port);
	else
		CHECK(c->listen_addr.ss_family == AF_INET6 &&
		      c->listen_addr_len == sizeof(struct sockaddr_in6) &&
		      ntohs(((const struct sockaddr_in6 *)(const void *)&c->listen_addr)->sin6_port) ==
		      c->listen_port);
	/* the signer needs both halves of the key or neither */
	CHECK((c->upstream.key_id == NULL) == (c->upstream.private_key_file == NULL));
	check_clients(c);
}

/* Checks that a diagnostic is one printable line "SOURCE:FIELD: message"
 * whose source is the file (or "default" for a problem found after
 * merging): main prints these as they are. */
static void check_diag_line(const char *line)
{
	size_t pl = strlen(input_path);

	CHECK(line != NULL);
	for (const char *p = line; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f);
	CHECK((strncmp(line, input_path, pl) == 0 && line[pl] == ':') ||
	      strncmp(line, "default:", 8) == 0);
	CHECK(strstr(line, ": ") != NULL);
}

/* Replaces the memfd's contents with the input. */
static void write_input(const uint8_t *data, size_t size)
{
	size_t off = 0;

	CHECK(ftruncate(input_fd, 0) == 0);
	while (off < size) {
		ssize_t n = pwrite(input_fd, data + off, size - off, (off_t)off);

		CHECK(n > 0);
		off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_diag diag = { NULL, 0 };
	struct gw_conf *c;

	if (input_fd < 0) {
		input_fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
		if (input_fd < 0) {
			perror("fuzz_conf: memfd_create");
			abort();
		}
		snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
	}
	write_input(data, size);

	c = conf_load(input_path, no_env, NULL, &diag);
	if (c != NULL) {
		CHECK(diag.count == 0);
		check_conf(c);
	} else {
		CHECK(diag.count >= 1 && diag.lines != NULL);
		for (size_t i = 0; i < diag.count; i++)
			check_diag_line(diag.lines[i]);
	}
	conf_free(c);
	conf_diag_release(&diag);
	CHECK(diag.count == 0 && diag.lines == NULL);
	return 0;
}
