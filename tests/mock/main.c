/*
 * main.c - command line, start-up and shutdown of the mock Kalshi exchange.
 *
 * build/mock-exchange [--listen 127.0.0.1:PORT] [--public-key PEM]
 *     [--key-id ID] [--tls-cert PEM --tls-key PEM] [--legacy-retired]
 *     [--window-ms N] [--verbose]
 *
 * Prints exactly one line, "listening on HOST:PORT", to stdout once it
 * accepts connections, then runs until SIGINT or SIGTERM and exits 0.
 * Exit 2 on a usage error, 1 when it cannot start.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mock/mock.h"
#include "tests/mock/mock_auth.h"
#include "tests/mock/mock_book.h"
#include "tests/mock/mock_fault.h"
#include "tests/mock/mock_log.h"
#include "tests/mock/mock_rate.h"
#include "tests/mock/mock_server.h"

#define MAIN_LOG_CAP 10000
#define MAIN_MAX_PEM (1024 * 1024)

struct main_args {
	char host[64];
	uint16_t port;
	const char *public_key, *key_id, *tls_cert, *tls_key;
	bool legacy_retired, verbose;
	long window_ms;
};

static const char main_usage[] =
	"usage: mock-exchange [--listen 127.0.0.1:PORT] [--public-key PEM] [--key-id ID]\n"
	"                     [--tls-cert PEM --tls-key PEM] [--legacy-retired]\n"
	"                     [--window-ms N] [--verbose]\n";

/* Parses "HOST:PORT" into a. Returns 0, or -1 when malformed. */
static int main_parse_listen(const char *s, struct main_args *a)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(a->host))
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
		return -1;
	memcpy(a->host, s, (size_t)(colon - s));
	a->host[colon - s] = '\0';
	a->port = (uint16_t)port;
	return 0;
}

/* Parses argv into a (accepting "--opt value" and "--opt=value"). Returns
 * 0, 1 for --help, or -1 after printing what is wrong. */
static int main_parse_args(int argc, char **argv, struct main_args *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "127.0.0.1");
	a->window_ms = 15000;
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i], *val = NULL, *eq;
		char name[32];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return 1;
		if (strcmp(arg, "--legacy-retired") == 0) {
			a->legacy_retired = true;
			continue;
		}
		if (strcmp(arg, "--verbose") == 0) {
			a->verbose = true;
			continue;
		}
		eq = strchr(arg, '=');
		if (eq != NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", arg);
			if (i + 1 < argc)
				val = argv[++i];
		}
		if (strcmp(name, "--listen") != 0 && strcmp(name, "--public-key") != 0 &&
		    strcmp(name, "--key-id") != 0 && strcmp(name, "--tls-cert") != 0 &&
		    strcmp(name, "--tls-key") != 0 && strcmp(name, "--window-ms") != 0) {
			fprintf(stderr, "mock-exchange: unknown option '%s'\n", name);
			return -1;
		}
		if (val == NULL) {
			fprintf(stderr, "mock-exchange: option '%s' needs a value\n", name);
			return -1;
		}
		if (strcmp(name, "--listen") == 0) {
			if (main_parse_listen(val, a) != 0) {
				fprintf(stderr, "mock-exchange: invalid --listen '%s'\n", val);
				return -1;
			}
		} else if (strcmp(name, "--public-key") == 0) {
			a->public_key = val;
		} else if (strcmp(name, "--key-id") == 0) {
			a->key_id = val;
		} else if (strcmp(name, "--tls-cert") == 0) {
			a->tls_cert = val;
		} else if (strcmp(name, "--tls-key") == 0) {
			a->tls_key = val;
		} else {
			char *end;
			a->window_ms = strtol(val, &end, 10);
			if (*end != '\0' || a->window_ms < 1 || a->window_ms > 3600000) {
				fprintf(stderr, "mock-exchange: invalid --window-ms '%s'\n", val);
				return -1;
			}
		}
	}
	if ((a->tls_cert == NULL) != (a->tls_key == NULL)) {
		fprintf(stderr, "mock-exchange: --tls-cert and --tls-key go together\n");
		return -1;
	}
	return 0;
}

/* Reads a whole text file (at most MAIN_MAX_PEM bytes) into a malloc'd
 * NUL-terminated string. Returns NULL after printing why. */
static char *main_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "mock-exchange: cannot open '%s': %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAIN_MAX_PEM + 1);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, MAIN_MAX_PEM + 1, f);
	if (ferror(f) || n > MAIN_MAX_PEM) {
		fprintf(stderr, "mock-exchange: cannot read '%s'\n", path);
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* Creates the mock's modules into ctx. Returns 0, or -1 after printing
 * why (whatever was created is freed by main_ctx_free). */
static int main_ctx_init(struct mock_ctx *ctx, const struct main_args *a)
{
	char err[256];

	ctx->legacy_retired = a->legacy_retired;
	atomic_init(&ctx->stopping, false);
	ctx->auth = mock_auth_new(a->public_key, a->key_id, err, sizeof(err));
	if (ctx->auth == NULL) {
		fprintf(stderr, "mock-exchange: %s\n", err);
		return -1;
	}
	ctx->book = mock_book_new(a->window_ms);
	ctx->log = mock_log_new(MAIN_LOG_CAP);
	ctx->faults = mock_faults_new();
	ctx->rate = mock_rate_new();
	if (ctx->book == NULL || ctx->log == NULL || ctx->faults == NULL || ctx->rate == NULL) {
		fprintf(stderr, "mock-exchange: out of memory\n");
		return -1;
	}
	return 0;
}

/* Frees what main_ctx_init created; safe on a partly built ctx. */
static void main_ctx_free(struct mock_ctx *ctx)
{
	mock_auth_free(ctx->auth);
	mock_book_free(ctx->book);
	mock_log_free(ctx->log);
	mock_faults_free(ctx->faults);
	mock_rate_free(ctx->rate);
}

/* Entry point: see the file comment. */
int main(int argc, char **argv)
{
	struct main_args args;
	struct mock_ctx ctx;
	struct mock_server_opts opts;
	struct mock_server *server = NULL;
	char *cert = NULL, *key = NULL, err[256];
	sigset_t set;
	int sig = 0, rc = 1;

	switch (main_parse_args(argc, argv, &args)) {
	case 1:
		fputs(main_usage, stdout);
		return 0;
	case -1:
		fputs(main_usage, stderr);
		return 2;
	default:
		break;
	}
	/* Block the stop signals in every thread; main waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&ctx, 0, sizeof(ctx));
	if (main_ctx_init(&ctx, &args) != 0)
		goto out;
	if (args.tls_cert != NULL) {
		cert = main_read_file(args.tls_cert);
		key = main_read_file(args.tls_key);
		if (cert == NULL || key == NULL)
			goto out;
	}
	memset(&opts, 0, sizeof(opts));
	opts.host = args.host;
	opts.port = args.port;
	opts.tls_cert = cert;
	opts.tls_key = key;
	opts.verbose = args.verbose;
	server = mock_server_start(&ctx, &opts, err, sizeof(err));
	if (server == NULL) {
		fprintf(stderr, "mock-exchange: %s\n", err);
		goto out;
	}
	printf("listening on %s:%u\n", args.host, (unsigned int)mock_server_port(server));
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	atomic_store(&ctx.stopping, true);
	mock_server_stop(server);
	server = NULL;
	rc = 0;
out:
	mock_server_stop(server);
	main_ctx_free(&ctx);
	if (key != NULL)
		memset(key, 0, strlen(key));
	free(cert);
	free(key);
	return rc;
}
