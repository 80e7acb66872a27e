/*
 * ctl: the shell control client, `kalshi-gateway session ...`, which talks
 * to a running gateway over HTTP: the address from the same configuration
 * and environment the gateway reads (listen, GATEWAY_LISTEN, -c FILE,
 * --listen), the admin token from admin_token_file / GATEWAY_ADMIN_TOKEN_FILE.
 *
 * Output: a human summary by default, the gateway's JSON alone on stdout
 * with --json. Exit codes: 0 success, 1 the gateway refused or could not be
 * reached, 2 usage or configuration error.
 */
#include "gateway/ctl.h"
#include "conf/conf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctl_buf {
	char *data;
	size_t len;
};

/* curl write callback: appends to a growing buffer (capped at 16 MiB). */
static size_t ctl_write(char *p, size_t size, size_t n, void *ud)
{
	struct ctl_buf *b = ud;
	size_t add = size * n;
	char *nd;

	if (b->len + add > 16u << 20)
		return 0;
	nd = realloc(b->data, b->len + add + 1);
	if (!nd)
		return 0;
	memcpy(nd + b->len, p, add);
	b->data = nd;
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

static void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: kalshi-gateway session start --contracts-limit N [--name NAME] [options]\n"
		"       kalshi-gateway session status|reset|end [--name NAME] [options]\n"
		"       kalshi-gateway session halt [--name NAME | --all] [options]\n"
		"options: --json (print the gateway's JSON only), -c FILE, --listen ADDR:PORT\n"
		"The admin token is read from GATEWAY_ADMIN_TOKEN_FILE (or admin_token_file).\n");
}

/* Reads the first line of a token file; NULL on failure (message printed). */
static char *ctl_token(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (!f) {
		fprintf(stderr, "kalshi-gateway: cannot read token file '%s'\n", path);
		return NULL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

/* Prints a one-line human summary of a session object. */
static void ctl_print_session(const json_t *s)
{
	const json_t *reason = json_object_get(s, "status_reason");

	printf("session %s: %s%s%s, group %s, limit %lld, submitted %s, filled %s, accepted %s, rejected %s\n",
	       json_string_value(json_object_get(s, "name")),
	       json_string_value(json_object_get(s, "status")),
	       json_is_string(reason) ? " (" : "",
	       json_is_string(reason) ? json_string_value(reason) : "",
	       json_string_value(json_object_get(s, "order_group_id")),
	       (long long)json_integer_value(json_object_get(s, "contracts_limit")),
	       json_string_value(json_object_get(s, "contracts_submitted")),
	       json_string_value(json_object_get(s, "contracts_filled")),
	       json_string_value(json_object_get(s, "orders_accepted")),
	       json_string_value(json_object_get(s, "orders_rejected")));
	if (json_is_string(reason) && strcmp(json_string_value(reason), "ended") != 0 &&
	    strcmp(json_string_value(json_object_get(s, "status")), "triggered") == 0)
		printf("  %s\n", "reset it with: kalshi-gateway session reset");
}

/* Prints the answer: JSON as is with --json, else a summary. */
static void ctl_print(long status, const char *body, int as_json)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const json_t *s, *arr, *err;
	size_t i;

	if (as_json) {
		printf("%s\n", body ? body : "");
		json_decref(j);
		return;
	}
	if ((err = json_object_get(j, "error")) && json_is_object(err)) {
		fprintf(stderr, "kalshi-gateway: %ld %s: %s\n", status,
			json_string_value(json_object_get(err, "code")),
			json_string_value(json_object_get(err, "message")));
	} else if ((s = json_object_get(j, "session")) && json_is_object(s)) {
		ctl_print_session(s);
	} else if ((arr = json_object_get(j, "sessions")) && json_is_array(arr)) {
		if (json_array_size(arr) == 0)
			printf("no sessions\n");
		json_array_foreach(arr, i, s)
			ctl_print_session(s);
	} else {
		printf("%ld %s\n", status, body ? body : "");
	}
	json_decref(j);
}

int ctl_main(int argc, char **argv)
{
	const char *verb, *name = NULL, *file = NULL, *flag_listen = NULL, *limit = NULL;
	int as_json = 0, all = 0, rc = 1;
	struct conf_diag diag = { NULL, 0 };
	struct gw_conf *conf = NULL;
	struct curl_slist *h = NULL;
	struct ctl_buf buf = { NULL, 0 };
	char url[512], *token = NULL, *body = NULL, host[80];
	const char *method = "POST", *path;
	json_t *req = NULL;
	CURL *e = NULL;
	long status = 0;
	CURLcode cc;

	if (argc < 3) {
		ctl_usage(stderr);
		return 2;
	}
	verb = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			as_json = 1;
		} else if (strcmp(a, "--all") == 0) {
			all = 1;
		} else if ((strcmp(a, "--name") == 0 || strcmp(a, "--contracts-limit") == 0 ||
			    strcmp(a, "-c") == 0 || strcmp(a, "--listen") == 0) && next) {
			if (strcmp(a, "--name") == 0)
				name = next;
			else if (strcmp(a, "--contracts-limit") == 0)
				limit = next;
			else if (strcmp(a, "-c") == 0)
				file = next;
			else
				flag_listen = next;
			i++;
		} else {
			fprintf(stderr, "flag:%s: unknown or incomplete option\n", a);
			ctl_usage(stderr);
			return 2;
		}
	}
	req = json_object();
	if (name)
		json_object_set_new(req, "name", json_string(name));
	if (strcmp(verb, "start") == 0) {
		char *end;
		long n = limit ? strtol(limit, &end, 10) : 0;
		if (!limit || *end || n < 1 || n > 1000000) {
			fprintf(stderr, "flag:contracts-limit: session start needs --contracts-limit 1..1000000\n");
			rc = 2;
			goto out;
		}
		json_object_set_new(req, "contracts_limit", json_integer(n));
		path = "/session/start";
	} else if (strcmp(verb, "status") == 0) {
		method = "GET";
		path = name ? "/session" : "/sessions";
	} else if (strcmp(verb, "reset") == 0 || strcmp(verb, "end") == 0) {
		path = strcmp(verb, "reset") == 0 ? "/session/reset" : "/session/end";
	} else if (strcmp(verb, "halt") == 0) {
		if (all && name) {
			fprintf(stderr, "flag:all: give --name or --all, not both\n");
			rc = 2;
			goto out;
		}
		if (all)
			json_object_set_new(req, "all", json_true());
		path = "/session/halt";
	} else {
		fprintf(stderr, "kalshi-gateway: unknown session command '%s'\n", verb);
		ctl_usage(stderr);
		rc = 2;
		goto out;
	}
	conf = conf_load(file, NULL, flag_listen, &diag);
	if (!conf) {
		for (size_t i = 0; i < diag.count; i++)
			fprintf(stderr, "%s\n", diag.lines[i]);
		rc = 2;
		goto out;
	}
	if (conf->admin_token_file && !(token = ctl_token(conf->admin_token_file))) {
		rc = 2;
		goto out;
	}
	/* a wildcard listen address is reached through loopback */
	if (strcmp(conf->listen_host, "0.0.0.0") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	else if (strcmp(conf->listen_host, "::") == 0)
		snprintf(host, sizeof host, "[::1]");
	else if (strchr(conf->listen_host, ':'))
		snprintf(host, sizeof host, "[%s]", conf->listen_host);
	else
		snprintf(host, sizeof host, "%s", conf->listen_host);
	if (strcmp(method, "GET") == 0 && name)
		snprintf(url, sizeof url, "http://%s:%d%s?name=%s", host, conf->listen_port, path, name);
	else
		snprintf(url, sizeof url, "http://%s:%d%s", host, conf->listen_port, path);
	if (!(e = curl_easy_init()))
		goto out;
	h = curl_slist_append(h, "Content-Type: application/json");
	if (token) {
		char line[4200];
		snprintf(line, sizeof line, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, conf->upstream.timeout_ms + 5000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ctl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &buf);
	if (strcmp(method, "POST") == 0) {
		body = json_dumps(req, JSON_COMPACT);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	}
	cc = curl_easy_perform(e);
	if (cc != CURLE_OK) {
		fprintf(stderr, "kalshi-gateway: cannot reach the gateway at %s: %s\n", url,
			curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	ctl_print(status, buf.data, as_json);
	rc = status >= 200 && status < 300 ? 0 : 1;
out:
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(body);
	free(buf.data);
	if (token) {
		memset(token, 0, strlen(token));
		free(token);
	}
	json_decref(req);
	conf_diag_release(&diag);
	conf_free(conf);
	return rc;
}
