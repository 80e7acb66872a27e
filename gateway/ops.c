/* ops: see ops.h. */
#include "gateway/ops.h"
#include "gateway/gw.h"
#include "gateway/dispatch.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "gateway/sessions.h"
#include "gateway/ws.h"
#include "gateway/ui.h"
#include "policy/identity.h"
#include "upstream/ratelimit.h"
#include "upstream/signer.h"
#include "upstream/verify.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_t ops_probe_thread;
static int ops_probe_running;
static pthread_mutex_t ops_probe_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ops_probe_cond = PTHREAD_COND_INITIALIZER;
static int ops_probe_stop_flag;

void ops_identify(struct request *rq)
{
	const struct identity_client *c;
	enum identity_via via;
	const char *auth, *key;

	if (rq->route == PATH_ROUTE_HEALTHZ || rq->route == PATH_ROUTE_READYZ ||
	    (rq->route == PATH_ROUTE_UI && ui_is_public(rq->target, rq->path_len)) ||
	    rq->route == PATH_ROUTE_NOT_FOUND) {
		rq->client = "-";
		return;
	}
	if (rq->snap->anonymous_admin) {
		rq->client = "anonymous";
		rq->role = GW_ROLE_ADMIN;
		return;
	}
	auth = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
	key = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "KALSHI-ACCESS-KEY");
	c = identity_lookup(rq->snap->ident, auth, key, &via);
	if (c && via == IDENTITY_KEY_ID && c->verifier) {
		/* the bot signs with its own key: the signature must verify */
		const char *why = NULL;
		if (verifier_check(c->verifier,
				   MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "KALSHI-ACCESS-TIMESTAMP"),
				   signer_now_ms(), 5000, rq->method, rq->target, rq->path_len,
				   MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "KALSHI-ACCESS-SIGNATURE"),
				   &why) < 0) {
			request_fail(rq, "unauthorized", why, NULL);
			return;
		}
	} else if (c && via == IDENTITY_KEY_ID && !rq->gw->conf->listen_is_loopback) {
		c = NULL;  /* a bare key id is trusted on loopback only */
	}
	if (!c) {
		static const char why[] =
			"identify with Authorization: Bearer TOKEN (or a configured KALSHI-ACCESS-KEY on loopback)";
		request_fail(rq, "unauthorized", why, NULL);
		ui_note_refusal(rq, "unauthorized", why);  /* until request_fail notes every refusal */
		return;
	}
	rq->client = c->name;
	rq->client_session = c->session;
	rq->ident = c;
	if (c->session)
		sessions_feed(rq->gw->sessions, c->session);
	rq->role = (int)c->role;
}

json_t *ops_readiness(struct gw *gw, int *ready)
{
	json_t *reasons = json_array(), *body = json_object();
	int ok;

	if (atomic_load(&gw->stopping))
		json_array_append_new(reasons, json_string("shutting down"));
	if (!gw->signer)
		json_array_append_new(reasons, json_string("no signing key configured (upstream.key_id, upstream.private_key_file)"));
	pthread_mutex_lock(&gw->ready_lock);
	if (!gw->probe_done)
		json_array_append_new(reasons, json_string("upstream not probed yet"));
	else if (!gw->probe_ok)
		json_array_append_new(reasons, json_string(gw->probe_error));
	if (gw->key_refused)
		json_array_append_new(reasons, json_string("the upstream refused the key (401): wrong environment?"));
	if (gw->trading_active >= 0)
		json_object_set_new(body, "trading_active", json_boolean(gw->trading_active));
	pthread_mutex_unlock(&gw->ready_lock);
	if (gw->sessions) {
		char why[256];
		if (!sessions_reconciled(gw->sessions, why, sizeof why))
			json_array_append_new(reasons, json_string(why));
	}
	ok = json_array_size(reasons) == 0;
	json_object_set_new(body, "status", json_string(ok ? "ready" : "not_ready"));
	json_object_set_new(body, "reasons", reasons);
	*ready = ok;
	return body;
}

/* GET /readyz: 200 when the key is loaded and the last probe succeeded. */
static void ops_readyz(struct request *rq)
{
	int ok;
	json_t *body = ops_readiness(rq->gw, &ok);

	request_answer(rq, ok ? 200 : 503, reply_json(body));
}

/* GET /metrics: Prometheus text format 0.0.4. */
static void ops_metrics(struct request *rq)
{
	char *buf = NULL, *extra = NULL;
	size_t len = 0, cap = 0;
	struct MHD_Response *r;

	if (rq->gw->sessions)
		extra = sessions_metrics_text(rq->gw->sessions);
	{
		char *ws = ws_metrics_text();
		if (ws) {
			size_t el = extra ? strlen(extra) : 0, wl = strlen(ws);
			char *both = realloc(extra, el + wl + 1);
			if (both) {
				memcpy(both + el, ws, wl + 1);
				extra = both;
			}
			free(ws);
		}
	}
	if (metrics_render(&buf, &len, &cap, extra) < 0) {
		free(buf);
		free(extra);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	free(extra);
	r = MHD_create_response_from_buffer_with_free_callback(len, buf, free);
	if (!r) {
		free(buf);
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
	request_answer(rq, 200, r);
}

void ops_handle(struct request *rq)
{
	int get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;

	switch (rq->route) {
	case PATH_ROUTE_HEALTHZ:
		if (!get)
			break;
		request_answer(rq, 200, reply_bytes("{\"status\":\"ok\"}", 15, "application/json"));
		return;
	case PATH_ROUTE_READYZ:
		if (!get)
			break;
		ops_readyz(rq);
		return;
	case PATH_ROUTE_METRICS:
		if (!get)
			break;
		ops_metrics(rq);
		return;
	case PATH_ROUTE_UI:
		ui_handle(rq);
		return;
	default:
		break;
	}
	request_fail(rq, "not_found", "no such endpoint", NULL);
}

/* A signed GET of one of the gateway's own calls, charged to the shared
 * rate budget (never waiting), on this thread's blocking connection. */
static void ops_get(struct gw *gw, const char *path, struct upstream_response *resp)
{
	struct upstream_request r;

	memset(&r, 0, sizeof r);
	r.method = "GET";
	r.path = path;
	r.path_len = strlen(path);
	r.sign = 1;
	dispatch_charge(gw, r.method, r.path, r.path_len);
	upstream_blocking(&gw->up, &r, resp);
}

/* Tries the key once on a signed endpoint, so a key that does not work
 * with this upstream (a demo key against production) is said clearly at
 * start-up rather than on the first order. */
static void ops_check_key(struct gw *gw)
{
	static const char path[] = "/trade-api/v2/portfolio/balance";
	struct upstream_response resp;

	ops_get(gw, path, &resp);
	if (resp.outcome == UPSTREAM_OK) {
		pthread_mutex_lock(&gw->ready_lock);
		gw->key_checked = 1;
		gw->key_refused = resp.status == 401;
		pthread_mutex_unlock(&gw->ready_lock);
		if (resp.status == 401)
			log_error("the upstream %s refused key '%s' (401 on GET /portfolio/balance): "
				  "is it a key for this environment? (a demo key against production, or the "
				  "reverse, is the classic case)", gw->conf->upstream.url,
				  gw->conf->upstream.key_id);
		else if (resp.status >= 200 && resp.status < 300)
			log_info("the upstream accepts key '%s'", gw->conf->upstream.key_id);
	}
	upstream_response_release(&resp);
}

/* rate_limit.tier auto: reads the account's limits (GET /account/limits)
 * and sets the shared buckets from them; Basic until read. */
static void ops_read_limits(struct gw *gw)
{
	static const char path[] = "/trade-api/v2/account/limits";
	struct upstream_response resp;
	json_t *j;

	ops_get(gw, path, &resp);
	if (resp.outcome == UPSTREAM_OK && resp.status == 200 && resp.body &&
	    (j = json_loadb(resp.body, resp.body_len, 0, NULL))) {
		json_t *rd = json_object_get(json_object_get(j, "read"), "refill_rate");
		json_t *wr = json_object_get(json_object_get(j, "write"), "refill_rate");
		if (json_is_integer(rd) && json_is_integer(wr) && json_integer_value(rd) > 0 &&
		    json_integer_value(wr) > 0) {
			ratelimit_set_rates(gw->ratelimit, 0, (long)json_integer_value(rd),
					    (long)json_integer_value(wr), gw_now_ms());
			log_info("rate limits from the account (%s): read %lld/s, write %lld/s (90%% used)",
				 json_string_value(json_object_get(j, "usage_tier")) ?
					 json_string_value(json_object_get(j, "usage_tier")) : "?",
				 (long long)json_integer_value(rd), (long long)json_integer_value(wr));
		}
		json_decref(j);
	}
	upstream_response_release(&resp);
}

/* rate_limit.tier auto: reads the exchange's non-default endpoint costs
 * (GET /account/endpoint_costs) and applies them to the shared limiter;
 * the built-in costs until read, and when the answer is unusable. */
static void ops_read_costs(struct gw *gw)
{
	static const char path[] = "/trade-api/v2/account/endpoint_costs";
	struct upstream_response resp;
	struct rl_costs *c = malloc(sizeof *c);
	char err[256];

	if (!c)
		return;
	ops_get(gw, path, &resp);
	if (resp.outcome == UPSTREAM_OK && resp.status == 200) {
		if (ratelimit_costs_parse(resp.body, resp.body_len, c, err, sizeof err) == 0) {
			ratelimit_set_costs(gw->ratelimit, c);
			log_info("endpoint costs from the exchange: default %lld, %zu non-default",
				 (long long)c->default_cost, c->n);
		} else {
			log_warn("GET /account/endpoint_costs: unusable answer (%s); built-in costs kept",
				 err);
		}
	}
	upstream_response_release(&resp);
	free(c);
}

/* One probe of GET /exchange/status; records the outcome, the trading
 * state and the clock skew. */
static void ops_probe_once(struct gw *gw)
{
	static const char path[] = "/trade-api/v2/exchange/status";
	struct upstream_response resp;
	char why[CURL_ERROR_SIZE + 64] = "";
	int trading = -1, check_key;
	long skew = 0;

	ops_get(gw, path, &resp);
	if (resp.outcome != UPSTREAM_OK) {
		snprintf(why, sizeof why, "upstream unreachable: %s", resp.error);
	} else if (resp.status < 200 || resp.status > 299) {
		snprintf(why, sizeof why, "upstream /exchange/status answered %ld", resp.status);
	} else {
		json_t *j = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
		json_t *t = json_object_get(j, "trading_active");
		if (json_is_boolean(t))
			trading = json_is_true(t);
		json_decref(j);
	}
	if (resp.outcome == UPSTREAM_OK && upstream_clock_skew(&resp, &skew) == 0 && labs(skew) > 1)
		log_warn("clock skew with the upstream is %+ld s (over 1 s): signatures may be refused; "
			 "fix this machine's clock (NTP)", skew);
	pthread_mutex_lock(&gw->ready_lock);
	if (gw->probe_done && gw->probe_ok != (why[0] == '\0'))
		log_info("readiness: upstream %s%s", why[0] ? "not ready: " : "ready", why);
	else if (!gw->probe_done && why[0])
		log_warn("readiness: %s", why);
	if (gw->probe_done && trading >= 0 && gw->trading_active >= 0 && trading != gw->trading_active)
		log_info("exchange trading is %s", trading ? "active again" : "paused");
	gw->probe_ok = why[0] == '\0';
	gw->probe_done = 1;
	gw->trading_active = trading;
	gw->clock_skew_s = skew;
	snprintf(gw->probe_error, sizeof gw->probe_error, "%s", why);
	/* a 401 on the probe is already the key speaking: check it clearly */
	check_key = (gw->probe_ok || (resp.outcome == UPSTREAM_OK && resp.status == 401)) &&
		    !gw->key_checked && gw->signer;
	pthread_mutex_unlock(&gw->ready_lock);
	upstream_response_release(&resp);
	if (check_key)
		ops_check_key(gw);
}

/* The probe thread: probes, then sleeps the interval (woken at stop). */
static void *ops_probe_main(void *arg)
{
	struct gw *gw = arg;
	int64_t next_limits = 0;

	pthread_setname_np(pthread_self(), "gw-probe");
	for (;;) {
		struct timespec until;
		ops_probe_once(gw);
		if (gw->conf->rate_limit.tier == GW_TIER_AUTO && gw->ratelimit && gw->signer &&
		    gw_now_ms() >= next_limits) {
			if (!gw->conf->rate_limit.has_read_tokens_per_s)
				ops_read_limits(gw);
			ops_read_costs(gw);
			next_limits = gw_now_ms() + 300000;  /* every 5 minutes */
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += gw->conf->readiness.probe_interval_s;
		pthread_mutex_lock(&ops_probe_lock);
		while (!ops_probe_stop_flag &&
		       pthread_cond_timedwait(&ops_probe_cond, &ops_probe_lock, &until) != ETIMEDOUT)
			;
		if (ops_probe_stop_flag) {
			pthread_mutex_unlock(&ops_probe_lock);
			break;
		}
		pthread_mutex_unlock(&ops_probe_lock);
	}
	upstream_blocking_thread_done();
	return NULL;
}

int ops_probe_start(struct gw *gw, char *err, size_t errlen)
{
	int rc = pthread_create(&ops_probe_thread, NULL, ops_probe_main, gw);

	if (rc != 0) {
		snprintf(err, errlen, "cannot start the readiness probe: %s", strerror(rc));
		return -1;
	}
	ops_probe_running = 1;
	return 0;
}

void ops_probe_stop(struct gw *gw)
{
	(void)gw;
	if (!ops_probe_running)
		return;
	pthread_mutex_lock(&ops_probe_lock);
	ops_probe_stop_flag = 1;
	pthread_cond_broadcast(&ops_probe_cond);
	pthread_mutex_unlock(&ops_probe_lock);
	pthread_join(ops_probe_thread, NULL);
	ops_probe_running = 0;
}
