/* proxy: see proxy.h. */
#include "gateway/proxy.h"
#include "gateway/gw.h"
#include "gateway/log.h"
#include "gateway/reply.h"
#include "gateway/request.h"
#include "upstream/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Request headers never forwarded upstream (compared case-insensitively). */
static const char *const proxy_drop_request[] = {
	"host", "content-length", "authorization", "origin", "accept-encoding",
	"expect", "cookie", "connection", "keep-alive", "proxy-authorization",
	"proxy-authenticate", "proxy-connection", "te", "trailer", "trailers",
	"transfer-encoding", "upgrade", "x-request-id", "forwarded",
	"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
};

/* Response headers never relayed to the client: hop-by-hop ones, and those
 * libmicrohttpd writes itself. */
static const char *const proxy_drop_response[] = {
	"content-length", "date", "connection", "keep-alive", "proxy-connection",
	"te", "trailer", "transfer-encoding", "upgrade", "server",
	"x-gateway-rejected", "x-gateway-client", "x-request-id", "x-gateway-outcome",
	"alt-svc", "strict-transport-security", "set-cookie",
};

struct proxy_hdr_ctx {
	struct curl_slist *list;
	const char *connection;  /* the client's Connection header, or NULL */
	int oom;
};

/* Whether `name` (len bytes) is listed as a token of a Connection value. */
static int proxy_in_connection(const char *conn, const char *name)
{
	size_t nl = strlen(name);

	while (conn && *conn) {
		size_t n;
		conn += strspn(conn, " \t,");
		n = strcspn(conn, " \t,");
		if (n == nl && strncasecmp(conn, name, n) == 0)
			return 1;
		conn += n;
	}
	return 0;
}

/* Whether a header name is in a drop list. */
static int proxy_listed(const char *const *list, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcasecmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* MHD header iterator: copies forwardable headers into the list. */
static enum MHD_Result proxy_header_it(void *cls, enum MHD_ValueKind kind,
				       const char *key, const char *value)
{
	struct proxy_hdr_ctx *h = cls;
	char line[8192];
	struct curl_slist *nl;
	int n;

	(void)kind;
	if (!key || !value)
		return MHD_YES;
	if (proxy_listed(proxy_drop_request,
			 sizeof proxy_drop_request / sizeof proxy_drop_request[0], key) ||
	    strncasecmp(key, "kalshi-access-", 14) == 0 ||
	    strncasecmp(key, "x-gateway-", 10) == 0 ||
	    proxy_in_connection(h->connection, key))
		return MHD_YES;
	/* libmicrohttpd never yields CR or LF inside a value; check anyway so
	 * nothing can reach the upstream's header block */
	if (strpbrk(key, "\r\n:") || strpbrk(value, "\r\n"))
		return MHD_YES;
	n = snprintf(line, sizeof line, "%s: %s", key, value);
	if (n < 0 || (size_t)n >= sizeof line)
		return MHD_YES;
	if (value[0] == '\0')  /* curl reads "Name:" as "remove"; "Name;" sends it empty */
		snprintf(line, sizeof line, "%s;", key);
	nl = curl_slist_append(h->list, line);
	if (!nl) {
		h->oom = 1;
		return MHD_NO;
	}
	h->list = nl;
	return MHD_YES;
}

int proxy_forward_headers(struct request *rq, struct curl_slist **out)
{
	struct proxy_hdr_ctx h = { NULL, NULL, 0 };

	h.connection = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONNECTION);
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, proxy_header_it, &h);
	if (h.oom) {
		curl_slist_free_all(h.list);
		return -1;
	}
	*out = h.list;
	return 0;
}

/* Copies the upstream's headers that may be relayed onto the response. */
static void proxy_copy_headers(struct MHD_Response *r, const struct curl_slist *h)
{
	for (; h; h = h->next) {
		char name[256];
		const char *colon = strchr(h->data, ':'), *v;
		size_t nl;

		if (!colon || (nl = (size_t)(colon - h->data)) == 0 || nl >= sizeof name)
			continue;
		memcpy(name, h->data, nl);
		name[nl] = '\0';
		if (proxy_listed(proxy_drop_response,
				 sizeof proxy_drop_response / sizeof proxy_drop_response[0], name))
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		MHD_add_response_header(r, name, v);
	}
}

void proxy_relay(struct request *rq, struct upstream_response *resp)
{
	struct MHD_Response *r;
	char msg[CURL_ERROR_SIZE + 64];

	rq->upstream_us = resp->elapsed_us;
	atomic_fetch_add(&rq->gw->upstream_requests, 1);
	switch (resp->outcome) {
	case UPSTREAM_OK:
		if (resp->body) {
			r = MHD_create_response_from_buffer_with_free_callback(resp->body_len,
									       resp->body, free);
			if (r)
				resp->body = NULL;
		} else {
			r = MHD_create_response_from_buffer(0, (void *)(uintptr_t)"",
							    MHD_RESPMEM_PERSISTENT);
		}
		if (!r) {
			request_fail(rq, "upstream_unavailable", "out of memory", NULL);
			return;
		}
		proxy_copy_headers(r, resp->headers);
		if (rq->is_write && resp->status >= 500)
			MHD_add_response_header(r, "X-Gateway-Outcome", "unknown");
		request_answer(rq, (unsigned int)resp->status, r);
		return;
	case UPSTREAM_NOT_SENT:
	case UPSTREAM_INTERNAL:
		atomic_fetch_add(&rq->gw->upstream_failures, 1);
		snprintf(msg, sizeof msg, "cannot reach the upstream: %s", resp->error);
		request_fail(rq, "upstream_unavailable", msg, NULL);
		if (rq->reply)
			MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "not_sent");
		return;
	case UPSTREAM_TOO_LARGE:
		atomic_fetch_add(&rq->gw->upstream_failures, 1);
		request_fail(rq, "upstream_unavailable", resp->error, NULL);
		if (rq->is_write && rq->reply)
			MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "unknown");
		return;
	case UPSTREAM_NO_ANSWER:
	default:
		atomic_fetch_add(&rq->gw->upstream_failures, 1);
		if (resp->timed_out)
			snprintf(msg, sizeof msg, "no answer from the upstream within %ld ms",
				 rq->gw->conf->upstream.timeout_ms);
		else
			snprintf(msg, sizeof msg, "the upstream connection failed before an answer: %s",
				 resp->error);
		request_fail(rq, "upstream_timeout", msg, NULL);
		if (rq->is_write && rq->reply)
			MHD_add_response_header(rq->reply, "X-Gateway-Outcome", "unknown");
		return;
	}
}

/* Upstream completion: builds the answer and resumes the connection. */
static void proxy_done(void *ud, struct upstream_response *resp)
{
	struct request *rq = ud;

	rq->xfer = NULL;
	proxy_relay(rq, resp);
	request_resume(rq);
}

void proxy_handle(struct request *rq)
{
	struct upstream_request ur;
	struct curl_slist *headers = NULL;
	char err[256];

	if (proxy_forward_headers(rq, &headers) < 0) {
		request_fail(rq, "upstream_unavailable", "out of memory", NULL);
		return;
	}
	memset(&ur, 0, sizeof ur);
	ur.method = rq->method;
	ur.path = rq->target;
	ur.path_len = rq->path_len;
	ur.query = rq->query;
	ur.headers = headers;
	ur.body = rq->body;
	ur.body_len = rq->body_len;
	ur.sign = 1;
	rq->xfer = upstream_pool_start(request_pool(rq), &ur, proxy_done, rq, err, sizeof err);
	curl_slist_free_all(headers);
	if (!rq->xfer) {
		log_error("cannot start upstream request: %s", err);
		request_fail(rq, "upstream_unavailable", err, NULL);
		return;
	}
	request_suspend(rq);
}
