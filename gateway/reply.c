/* reply: see reply.h. */
#include "gateway/reply.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *code;
	unsigned int status;
} reply_codes[] = {
	{ "invalid_json", 400 }, { "invalid_order", 400 }, { "invalid_request", 400 },
	{ "invalid_path", 400 }, { "unauthorized", 401 }, { "forbidden", 403 },
	{ "order_group_mismatch", 403 }, { "limit_exceeded", 403 }, { "not_found", 404 },
	{ "session_exists", 409 }, { "no_active_session", 409 },
	{ "session_triggered", 409 }, { "order_already_exists", 409 },
	{ "body_too_large", 413 }, { "unsupported_media_type", 415 },
	{ "headers_too_large", 431 },
	{ "host_not_allowed", 421 }, { "rate_limited", 429 },
	{ "upstream_unavailable", 502 }, { "upstream_bad_reply", 502 },
	{ "shutting_down", 503 }, { "upstream_timeout", 504 }, { "internal_error", 500 },
};

unsigned int reply_status_for(const char *code)
{
	for (size_t i = 0; i < sizeof reply_codes / sizeof reply_codes[0]; i++)
		if (strcmp(reply_codes[i].code, code) == 0)
			return reply_codes[i].status;
	return 400;
}

struct MHD_Response *reply_bytes(const char *body, size_t len, const char *content_type)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (r && content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return r;
}

struct MHD_Response *reply_json(json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct MHD_Response *r = NULL;

	json_decref(body);
	if (!text)
		return NULL;
	r = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
	if (!r) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return r;
}

struct MHD_Response *reply_error(const char *code, const char *message, json_t *extra)
{
	json_t *err = json_object(), *root = json_object();
	struct MHD_Response *r;

	if (!err || !root) {
		json_decref(err);
		json_decref(root);
		json_decref(extra);
		return NULL;
	}
	json_object_set_new(err, "code", json_string(code));
	json_object_set_new(err, "message", json_string(message));
	if (extra) {
		json_object_update(err, extra);
		json_decref(extra);
	}
	json_object_set_new(root, "error", err);
	r = reply_json(root);
	if (r)
		MHD_add_response_header(r, "X-Gateway-Rejected", "1");
	return r;
}
