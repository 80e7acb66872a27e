/*
 * main: command line, configuration, key and client table, state directory
 * lock, signals, and the lifetime of the event loops.
 *
 * Exit codes: 0 normal exit; 2 configuration error (each problem printed as
 * "SOURCE:FIELD: message"); 1 any other start-up failure.
 */
#include "conf/conf.h"
#include "gateway/gw.h"
#include "gateway/audit.h"
#include "gateway/ctl.h"
#include "gateway/dedupe.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/ops.h"
#include "gateway/server.h"
#include "gateway/sessions.h"
#include "policy/identity.h"
#include "upstream/client.h"
#include "upstream/presign.h"
#include "upstream/ratelimit.h"
#include "upstream/signer.h"
#include "upstream/verify.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define GW_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kalshi-gateway [-c FILE] [--listen ADDR:PORT] [--check-config] [--version] [--help]\n"
		"       kalshi-gateway session start|status|reset|halt|end [...]\n"
		"\n"
		"A local gateway that signs and forwards Kalshi REST requests for a team of bots.\n"
		"  -c FILE            JSON configuration file (default: $GATEWAY_CONFIG)\n"
		"  --listen ADDR:PORT address to listen on (default 127.0.0.1:8080)\n"
		"  --check-config     validate the configuration and exit (0 ok, 2 problems)\n"
		"  --version          print the version and exit\n"
		"Environment: GATEWAY_CONFIG GATEWAY_LISTEN GATEWAY_STATE_DIR GATEWAY_ADMIN_TOKEN_FILE\n"
		"             KALSHI_UPSTREAM_URL KALSHI_API_KEY_ID KALSHI_PRIVATE_KEY_FILE KALSHI_CA_FILE\n");
}

/* Adds "SOURCE:KEY: message" for a problem found after loading, naming
 * the environment variable when the value came from the environment. */
static void diag_key(struct conf_diag *d, const struct gw_conf *c, const char *key,
		     const char *field, const char *msg)
{
	const char *src = conf_source(c, key), *var = conf_env_var(key);

	if (strcmp(src, "env") == 0 && var)
		conf_diag_add(d, src, field, "%s: %s", var, msg);
	else
		conf_diag_add(d, src, field, "%s", msg);
}

/* Reads a token file: the first line, surrounding whitespace removed.
 * Returns a malloc'd token or NULL with err filled. */
static char *read_token_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n, start = 0;

	if (!f) {
		snprintf(err, errlen, "cannot read token file '%s': %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	while (buf[start] == ' ' || buf[start] == '\t')
		start++;
	if (buf[start] == '\0') {
		snprintf(err, errlen, "token file '%s' is empty", path);
		return NULL;
	}
	return strdup(buf + start);
}

/* Builds the client table from the configuration, token files and bots'
 * public keys (loaded into gw->verifiers); problems go to diag. Returns the
 * table, or NULL on OOM. */
static struct identity *build_identity(struct gw_snapshot *gw, const struct gw_conf *c,
				       struct conf_diag *diag)
{
	struct identity *t = identity_new();
	char err[512], field[96];

	if (!t)
		return NULL;
	if (c->admin_token_file) {
		char *tok = read_token_file(c->admin_token_file, err, sizeof err);
		if (!tok) {
			diag_key(diag, c, "admin_token_file", "admin_token_file", err);
		} else {
			unsigned char h[32];
			identity_hash_token(tok, strlen(tok), h);
			memset(tok, 0, strlen(tok));
			free(tok);
			if (identity_add(t, "admin", GW_ROLE_ADMIN, NULL, NULL, NULL, NULL, h) < 0)
				goto oom;
		}
	}
	for (size_t i = 0; i < c->client_count; i++) {
		const struct gw_client *cl = &c->clients[i];
		unsigned char h[32];
		int has = 0;
		if (cl->token_sha256 && identity_parse_hex(cl->token_sha256, h) == 0)
			has = 1;
		if (cl->token_file) {
			char *tok = read_token_file(cl->token_file, err, sizeof err);
			snprintf(field, sizeof field, "clients[%zu].token_file", i);
			if (!tok) {
				conf_diag_add(diag, conf_source(c, "clients"), field, "%s", err);
				continue;
			}
			identity_hash_token(tok, strlen(tok), h);
			memset(tok, 0, strlen(tok));
			free(tok);
			has = 1;
		}
		if (identity_add(t, cl->name, cl->role, cl->session, cl->kalshi_key_id,
				 cl->public_key_file, &cl->limits, has ? h : NULL) < 0)
			goto oom;
		if (cl->public_key_file) {
			struct verifier *v = verifier_load_file(cl->public_key_file, err, sizeof err);
			struct verifier **nv;
			snprintf(field, sizeof field, "clients[%zu].public_key_file", i);
			if (!v) {
				conf_diag_add(diag, conf_source(c, "clients"), field, "%s", err);
				continue;
			}
			nv = realloc(gw->verifiers, (gw->verifier_count + 1) * sizeof *nv);
			if (!nv) {
				verifier_free(v);
				goto oom;
			}
			gw->verifiers = nv;
			gw->verifiers[gw->verifier_count++] = v;
			identity_set_verifier(t, cl->name, v);
		}
	}
	return t;
oom:
	identity_free(t);
	return NULL;
}

/* Frees one snapshot (not its retired list). NULL is a no-op. */
static void snapshot_free(struct gw_snapshot *sn)
{
	if (!sn)
		return;
	if (sn->rates)
		for (size_t i = 0; i <= identity_count(sn->ident); i++)
			pthread_mutex_destroy(&sn->rates[i].lock);
	free(sn->rates);
	identity_free(sn->ident);
	for (size_t i = 0; i < sn->verifier_count; i++)
		verifier_free(sn->verifiers[i]);
	free(sn->verifiers);
	conf_free(sn->conf);
	free(sn);
}

/* Builds a snapshot from a loaded configuration (taken over): client
 * table, token files, bots' keys, rate buckets. Problems go to diag (the
 * snapshot is then freed and NULL returned). */
static struct gw_snapshot *snapshot_build(struct gw_conf *conf, struct conf_diag *diag)
{
	struct gw_snapshot *sn = calloc(1, sizeof *sn);

	if (!sn) {
		conf_free(conf);
		return NULL;
	}
	sn->conf = conf;
	sn->ident = build_identity(sn, conf, diag);
	if (!sn->ident) {
		conf_diag_add(diag, "flag", "-", "out of memory");
		snapshot_free(sn);
		return NULL;
	}
	sn->anonymous_admin = identity_count(sn->ident) == 0;
	sn->rates = calloc(identity_count(sn->ident) + 1, sizeof *sn->rates);
	if (!sn->rates) {
		conf_diag_add(diag, "flag", "-", "out of memory");
		snapshot_free(sn);
		return NULL;
	}
	for (size_t i = 0; i <= identity_count(sn->ident); i++)
		pthread_mutex_init(&sn->rates[i].lock, NULL);
	if (sn->anonymous_admin && !conf->listen_is_loopback)
		diag_key(diag, conf, "listen", "listen",
			 "listening on a non-loopback address needs clients or admin_token_file, since callers must identify");
	if (diag->count) {
		snapshot_free(sn);
		return NULL;
	}
	return sn;
}

/* Says which start-up settings a reload cannot change. */
static void reload_warn_fixed(const struct gw_conf *old, const struct gw_conf *nw)
{
	static const char *const fixed = "listen, state_dir, upstream.*, server.threads, "
					 "server.max_connections, server.connection_timeout_s";
	int changed = strcmp(old->listen, nw->listen) || strcmp(old->state_dir, nw->state_dir) ||
		      strcmp(old->upstream.url, nw->upstream.url) ||
		      (old->upstream.key_id == NULL) != (nw->upstream.key_id == NULL) ||
		      (old->upstream.key_id && strcmp(old->upstream.key_id, nw->upstream.key_id)) ||
		      (old->upstream.private_key_file == NULL) != (nw->upstream.private_key_file == NULL) ||
		      (old->upstream.private_key_file &&
		       strcmp(old->upstream.private_key_file, nw->upstream.private_key_file)) ||
		      old->upstream.timeout_ms != nw->upstream.timeout_ms ||
		      old->upstream.connect_timeout_ms != nw->upstream.connect_timeout_ms ||
		      old->upstream.max_connections != nw->upstream.max_connections ||
		      old->server.threads != nw->server.threads;

	if (changed)
		log_warn("reload: %s take effect only after a restart; the running values stay", fixed);
}

/* SIGHUP: re-reads the configuration; a valid one becomes the current
 * snapshot, an invalid one is refused with its errors and the old one
 * stays. Sessions are untouched. */
static void reload(struct gw *gw, const char *file, const char *flag_listen)
{
	struct conf_diag diag = { NULL, 0 };
	struct gw_conf *nc = conf_load(file, NULL, flag_listen, &diag);
	struct gw_snapshot *sn = NULL, *old;

	if (nc)
		sn = snapshot_build(nc, &diag);
	if (!sn) {
		log_error("reload refused: the configuration has %zu problem(s); the running one stays",
			  diag.count);
		for (size_t i = 0; i < diag.count; i++)
			log_error("reload: %s", diag.lines[i]);
		conf_diag_release(&diag);
		return;
	}
	old = atomic_load(&gw->snap);
	reload_warn_fixed(gw->conf, sn->conf);
	sn->retired = old;
	atomic_store(&gw->snap, sn);
	log_setup(sn->conf->log_format, sn->conf->log_level);
	log_info("reload: configuration applied (%zu client(s))", identity_count(sn->ident));
	conf_diag_release(&diag);
}

/* Creates the state directory (0700) and takes its lock. Returns the lock
 * fd, or -1 with err filled (exit 1: another gateway holds it). */
static int lock_state_dir(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create state directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	if (chmod(dir, 0700) < 0)
		log_warn("cannot make state directory '%s' private (0700): %s", dir, strerror(errno));
	snprintf(path, sizeof path, "%s/gateway.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%.400s': %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "state directory '%s' is locked by another gateway", dir);
		close(fd);
		return -1;
	}
	return fd;
}

/* Raises the open-file limit to the hard maximum (many connections). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Prints each diagnostic line to stderr. */
static void print_diag(const struct conf_diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "%s\n", d->lines[i]);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *flag_listen = NULL;
	int check = 0, rc = 1, lock_fd = -1, nthreads, port = 0, sig;
	struct conf_diag diag = { NULL, 0 };
	struct gw_conf *conf = NULL;
	struct server *srv = NULL;
	struct gw gw;
	char err[512];
	sigset_t sigs;

	memset(&gw, 0, sizeof gw);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "flag:-c: missing file name\n");
				return 2;
			}
			file = argv[i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			file = a + 9;
		} else if (strcmp(a, "--listen") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "flag:listen: --listen needs ADDR:PORT\n");
				return 2;
			}
			flag_listen = argv[i];
		} else if (strncmp(a, "--listen=", 9) == 0) {
			flag_listen = a + 9;
		} else if (strcmp(a, "--check-config") == 0) {
			check = 1;
		} else if (strcmp(a, "--version") == 0) {
			printf("kalshi-gateway %s\n", GW_VERSION);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "session") == 0 && i == 1) {
			int crc;
			curl_global_init(CURL_GLOBAL_ALL);
			crc = ctl_main(argc, argv);
			curl_global_cleanup();
			return crc;
		} else {
			fprintf(stderr, "flag:%s: unknown option\n", a);
			usage(stderr);
			return 2;
		}
	}

	conf = conf_load(file, NULL, flag_listen, &diag);
	if (!conf) {
		print_diag(&diag);
		conf_diag_release(&diag);
		return 2;
	}
	log_setup(conf->log_format, conf->log_level);
	if (conf->upstream.private_key_file) {
		gw.signer = signer_load_file(conf->upstream.private_key_file, err, sizeof err);
		if (!gw.signer)
			diag_key(&diag, conf, "upstream.private_key_file", "upstream.private_key_file", err);
	}
	{
		struct gw_snapshot *sn = snapshot_build(conf, &diag);
		/* the snapshot owns the configuration now (or freed it) */
		conf = sn ? sn->conf : NULL;
		if (sn) {
			atomic_store(&gw.snap, sn);
			gw.conf = sn->conf;
		}
	}
	if (diag.count) {
		print_diag(&diag);
		rc = 2;
		goto out;
	}
	if (check) {
		printf("configuration ok\n");
		rc = 0;
		goto out;
	}

	lock_fd = lock_state_dir(conf->state_dir, err, sizeof err);
	if (lock_fd < 0) {
		fprintf(stderr, "kalshi-gateway: %s\n", err);
		goto out;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);   /* every thread inherits it */
	pthread_mutex_init(&gw.ready_lock, NULL);
	gw.trading_active = -1;
	if (upstream_global_init(err, sizeof err) < 0) {
		fprintf(stderr, "kalshi-gateway: %s\n", err);
		goto out;
	}
	gw.up.origin = conf->upstream.url;
	gw.up.ca_file = conf->upstream.ca_file;
	gw.up.key_id = conf->upstream.key_id;
	gw.up.signer = gw.signer;
	gw.up.connect_timeout_ms = conf->upstream.connect_timeout_ms;
	gw.up.timeout_ms = conf->upstream.timeout_ms;
	gw.up.max_connections = conf->upstream.max_connections;
	gw.up.max_response_bytes = conf->upstream.max_response_bytes;
	gw.up.on_sign = metrics_sign;
	gw.up.on_conn = metrics_upstream_conn;
	gw.up.on_handshakes = metrics_tls_handshakes;
	gw.up.on_presign = metrics_presign;
	gw.up.presign = presign_start(gw.signer, conf->upstream.presign_max_age_ms);
	{
		const char **names = calloc(conf->client_count + 2, sizeof *names);
		size_t n = 0;
		if (names) {
			names[n++] = atomic_load(&gw.snap)->anonymous_admin ? "anonymous" : "admin";
			for (size_t i = 0; i < conf->client_count; i++)
				names[n++] = conf->clients[i].name;
			if (metrics_init(names, n) < 0)
				log_warn("metrics: out of memory; per-client request counts are off");
			free(names);
		}
	}
	if (gw.signer) {
		struct stat st;
		if (stat(conf->upstream.private_key_file, &st) == 0 && (st.st_mode & 077))
			log_warn("private key file '%s' is readable by group or others (mode %03o): chmod 600 it",
				 conf->upstream.private_key_file, (unsigned)(st.st_mode & 0777));
	}
	if (!gw.signer)
		log_warn("no signing key configured: requests are forwarded unsigned "
			 "(set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_FILE)");
	gw.ratelimit = ratelimit_new(conf, gw_now_ms());
	if (!gw.ratelimit) {
		fprintf(stderr, "kalshi-gateway: out of memory\n");
		goto out_curl;
	}
	gw.dedupe = dedupe_new((int64_t)conf->orders.dedupe_window_s * 1000, 200000);
	if (!gw.dedupe) {
		fprintf(stderr, "kalshi-gateway: out of memory\n");
		goto out_curl;
	}
	gw.audit = audit_open(conf, err, sizeof err);
	if (!gw.audit) {
		fprintf(stderr, "kalshi-gateway: %s\n", err);
		goto out_curl;
	}
	gw.sessions = sessions_new(&gw, err, sizeof err);
	if (!gw.sessions) {
		fprintf(stderr, "kalshi-gateway: %s\n", err);
		goto out_curl;
	}
	nthreads = conf->server.threads > 0 ? (int)conf->server.threads
					    : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads < 1)
		nthreads = 1;
	srv = server_new(&gw, nthreads, &port, err, sizeof err);
	if (!srv) {
		fprintf(stderr, "kalshi-gateway: %s\n", err);
		goto out_curl;
	}
	if (ops_probe_start(&gw, err, sizeof err) < 0 ||
	    sessions_start(gw.sessions, err, sizeof err) < 0 ||
	    server_start(srv, err, sizeof err) < 0) {
		fprintf(stderr, "kalshi-gateway: %s\n", err);
		atomic_store(&gw.stopping, 1);
		server_request_stop(srv);
		server_join(srv);
		goto out_stop;
	}
	log_info("kalshi-gateway %s listening on http://%s%s%s:%d (%d threads), upstream %s",
		 GW_VERSION, strchr(conf->listen_host, ':') ? "[" : "", conf->listen_host,
		 strchr(conf->listen_host, ':') ? "]" : "", port, nthreads, conf->upstream.url);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&gw, file, flag_listen);
			continue;
		}
		log_info("received %s: stopping (draining up to %ld ms)",
			 sig == SIGINT ? "SIGINT" : "SIGTERM", conf->server.shutdown_timeout_ms);
		break;
	}
	atomic_store(&gw.stopping, 1);
	server_request_stop(srv);
	server_join(srv);
	rc = 0;
	log_info("stopped");
out_stop:
	sessions_stop(gw.sessions);
	ops_probe_stop(&gw);
	server_free(srv);
out_curl:
	presign_stop(gw.up.presign);
	sessions_free(gw.sessions);
	audit_close(gw.audit);
	ratelimit_free(gw.ratelimit);
	dedupe_free(gw.dedupe);
	upstream_global_cleanup();
	pthread_mutex_destroy(&gw.ready_lock);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	for (struct gw_snapshot *sn = atomic_load(&gw.snap), *next; sn; sn = next) {
		next = sn->retired;
		snapshot_free(sn);
	}
	signer_free(gw.signer);
	metrics_free();
	conf_diag_release(&diag);
	return rc;
}
