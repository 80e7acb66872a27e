/*
 * order: strict parsing and rewriting of order bodies (see order.h).
 *
 * A body is parsed by jansson with duplicate keys refused and the EOF check
 * on (trailing bytes are refused), then walked once for what jansson lets
 * through but the gateway refuses: JSON reals anywhere (Kalshi takes counts
 * and prices as strings, and a float would silently change 0.56 into
 * 0.56000000000000005) and nesting deeper than ORDER_MAX_DEPTH. Only then is
 * the shape checked and each order rewritten in place: jansson objects keep
 * insertion order and replace a key's value where it stands, so
 * re-serialising keeps the client's key order and leaves every other value
 * as it was.
 *
 * Messages quote client text only through quote_text, which keeps printable
 * ASCII and truncates, so a message is always safe to put in a JSON string
 * or a log line.
 */
#include "policy/order.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/fixed.h"

#define ORDER_MAX_DEPTH 64
#define ORDER_MAX_BATCH 1000
/* Longest piece of client text quoted in a message. */
#define ORDER_QUOTE_MAX 64
/* Room for jansson's error text (which quotes a token) in a message. */
#define ORDER_PARSE_TEXT_MAX 159
/* Buffer handed to inj->new_client_order_id (header promises >= 64). */
#define ORDER_COID_CAP 128

/* Formats a message into buf (cap bytes, cap > 0), truncating. */
static void format_message(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void format_message(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/*
 * Copies `len` bytes of client text into out (cap bytes, cap > 4) for
 * quoting in a message: printable ASCII is kept, any other byte becomes
 * '?', and text longer than cap - 1 bytes is cut and ends in "...".
 * Always NUL-terminates.
 */
static void quote_text(const char *s, size_t len, char *out, size_t cap)
{
	size_t max = cap - 1;
	size_t i, n = 0;
	int cut = len > max;

	if (cut)
		max -= 3;
	for (i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)s[i];

		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (cut) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/*
 * Copies a jansson string (valid UTF-8, no NUL) into out (cap bytes),
 * cutting at a character boundary when it does not fit, so the copy is
 * still valid UTF-8. Always NUL-terminates.
 */
static void copy_utf8(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = len;

	if (n > cap - 1) {
		n = cap - 1;
		/* Back up over continuation bytes to the start of a character. */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

/*
 * Finds the name of the duplicate key jansson refused. jansson stops right
 * after the key token, so error position - 1 is its closing quote; the
 * opening quote is the nearest earlier '"' not escaped by an odd run of
 * backslashes. The token is decoded with jansson (it handles escapes) and
 * quoted into out. Returns 0, or -1 when the key cannot be found (out is
 * then untouched).
 */
static int duplicate_key_name(const char *body, size_t len, const json_error_t *err,
			      char *out, size_t cap)
{
	json_t *key = NULL;
	size_t end, start = 0, j;
	int found = 0, ret = -1;

	if (err->position <= 1 || (size_t)err->position > len)
		goto out;
	end = (size_t)err->position - 1;
	if (body[end] != '"')
		goto out;
	for (j = end; j > 0 && !found; j--) {
		size_t bs = 0;

		if (body[j - 1] != '"')
			continue;
		while (bs < j - 1 && body[j - 2 - bs] == '\\')
			bs++;
		if (bs % 2 == 0) {
			start = j - 1;
			found = 1;
		}
	}
	if (!found)
		goto out;
	key = json_loadb(body + start, end - start + 1, JSON_DECODE_ANY, NULL);
	if (!json_is_string(key))
		goto out;
	quote_text(json_string_value(key), json_string_length(key), out, cap);
	ret = 0;
out:
	json_decref(key);
	return ret;
}

/*
 * Parses `len` bytes of body. Returns the root (the caller owns it), or
 * NULL with *status and msg (cap bytes) set: ORDER_INVALID_JSON when the
 * bytes are not one JSON value (empty, malformed, trailing bytes, invalid
 * UTF-8, "\u0000", integers beyond 64 bits), ORDER_INVALID for a duplicate
 * key or nesting deeper than jansson's own limit.
 */
static json_t *parse_body(const char *body, size_t len, enum order_status *status,
			  char *msg, size_t cap)
{
	json_error_t err;
	json_t *root;
	char key[ORDER_QUOTE_MAX + 1];
	char text[ORDER_PARSE_TEXT_MAX + 1];
	const char *nul;

	if (body == NULL || len == 0) {
		*status = ORDER_INVALID_JSON;
		format_message(msg, cap, "body is empty");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (root != NULL)
		return root;

	switch (json_error_code(&err)) {
	case json_error_duplicate_key:
		*status = ORDER_INVALID;
		if (duplicate_key_name(body, len, &err, key, sizeof(key)) == 0)
			format_message(msg, cap, "duplicate key '%s'", key);
		else
			format_message(msg, cap, "duplicate key in body");
		break;
	case json_error_stack_overflow:
		*status = ORDER_INVALID;
		format_message(msg, cap, "body nests deeper than %d levels", ORDER_MAX_DEPTH);
		break;
	default:
		*status = ORDER_INVALID_JSON;
		/* jansson quotes the offending token, which may hold any byte. */
		nul = memchr(err.text, '\0', sizeof(err.text));
		quote_text(err.text, nul != NULL ? (size_t)(nul - err.text) : sizeof(err.text),
			   text, sizeof(text));
		format_message(msg, cap, "body is not valid JSON: %s at line %d column %d",
			       text, err.line, err.column);
		break;
	}
	return NULL;
}

/* State of a walk: whether the body is a batch, the batch element being
 * walked (-1 outside one), and where to write a message. */
struct walk {
	int batch;
	long index;
	char *msg;
	size_t cap;
};

/*
 * Checks `v` and everything inside it: no JSON reals, no container deeper
 * than ORDER_MAX_DEPTH (the root container is depth 1). `key` names the
 * innermost enclosing key for messages. Returns 0, or -1 with w->msg set
 * (w->index then names the batch element, if any). Recursion is bounded by
 * ORDER_MAX_DEPTH.
 */
static int walk_value(json_t *v, int depth, const char *key, struct walk *w)
{
	char quoted[ORDER_QUOTE_MAX + 1];
	const char *k;
	json_t *item, *elem;
	size_t i;

	if (json_is_real(v)) {
		if (key != NULL) {
			quote_text(key, strlen(key), quoted, sizeof(quoted));
			format_message(w->msg, w->cap, "'%s' is a JSON number with a fraction or "
				       "exponent; send it as a string", quoted);
		} else {
			format_message(w->msg, w->cap, "body holds a JSON number with a fraction "
				       "or exponent; send it as a string");
		}
		return -1;
	}
	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (depth > ORDER_MAX_DEPTH) {
		format_message(w->msg, w->cap, "body nests deeper than %d levels", ORDER_MAX_DEPTH);
		return -1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if (walk_value(item, depth + 1, key, w) != 0)
				return -1;
		}
		return 0;
	}
	json_object_foreach(v, k, item) {
		/* In a batch, problems inside orders[i] are reported at i. */
		if (w->batch && depth == 1 && strcmp(k, "orders") == 0 && json_is_array(item)) {
			json_array_foreach(item, i, elem) {
				w->index = (long)i;
				if (walk_value(elem, depth + 2, k, w) != 0)
					return -1;
			}
			w->index = -1;
			continue;
		}
		if (walk_value(item, depth + 1, k, w) != 0)
			return -1;
	}
	return 0;
}

/*
 * Parses and walks a body: the shared first half of order_rewrite and
 * order_check_strict. Returns the root (owned by the caller) or NULL with
 * *status, *index and msg set.
 */
static json_t *load_strict(const char *body, size_t len, int batch, enum order_status *status,
			   long *index, char *msg, size_t cap)
{
	struct walk w = { batch, -1, msg, cap };
	json_t *root;

	*index = -1;
	root = parse_body(body, len, status, msg, cap);
	if (root == NULL)
		return NULL;
	if (walk_value(root, 1, NULL, &w) != 0) {
		*status = ORDER_INVALID;
		*index = w.index;
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * Works out an order's count in hundredths for the summary. V2: "count" is
 * a fixed-point string. Legacy: "count" is an integer number of contracts,
 * or "count_fp" a fixed-point string; when both are given they must agree.
 * Returns -1 whenever the count cannot be read here.
 */
static int64_t order_count(json_t *order, int legacy)
{
	json_t *count = json_object_get(order, "count");
	json_t *count_fp;
	int64_t from_int = -1, from_fp = -1, v;

	if (!legacy) {
		if (json_is_string(count) &&
		    fixed_parse_count(json_string_value(count), json_string_length(count), &v) == 0)
			return v;
		return -1;
	}
	count_fp = json_object_get(order, "count_fp");
	if (json_is_integer(count)) {
		json_int_t c = json_integer_value(count);

		if (c >= 0 && c <= FIXED_COUNT_MAX / 100)
			from_int = (int64_t)c * 100;
		else
			return -1;
	} else if (count != NULL) {
		return -1;
	}
	if (json_is_string(count_fp)) {
		if (fixed_parse_count(json_string_value(count_fp), json_string_length(count_fp),
				      &from_fp) != 0)
			return -1;
	} else if (count_fp != NULL) {
		return -1;
	}
	if (count != NULL && count_fp != NULL)
		return from_int == from_fp ? from_int : -1;
	return count != NULL ? from_int : from_fp;
}

/*
 * Checks one order object and rewrites it in place: the session's group and
 * subaccount set (replaced where they stand, appended when absent), a
 * client_order_id added when absent and the caller supplies a generator.
 * Fills *sum. Returns ORDER_OK, or an error status with msg set.
 */
static enum order_status rewrite_order(json_t *order, int legacy, const struct order_inject *inj,
				       struct order_summary *sum, char *msg, size_t cap)
{
	json_t *coid = json_object_get(order, "client_order_id");
	json_t *gid = json_object_get(order, "order_group_id");
	json_t *sub = json_object_get(order, "subaccount");
	json_t *ticker = json_object_get(order, "ticker");
	char quoted[ORDER_QUOTE_MAX + 1], session_group[ORDER_QUOTE_MAX + 1];

	if (coid != NULL && (!json_is_string(coid) || json_string_length(coid) == 0)) {
		format_message(msg, cap, "'client_order_id' must be a non-empty string");
		return ORDER_INVALID;
	}
	if (gid != NULL && !json_is_string(gid)) {
		format_message(msg, cap, "'order_group_id' must be a string");
		return ORDER_INVALID;
	}
	if (sub != NULL && !json_is_integer(sub)) {
		format_message(msg, cap, "'subaccount' must be an integer");
		return ORDER_INVALID;
	}

	if (inj != NULL && inj->order_group_id != NULL) {
		size_t glen = strlen(inj->order_group_id);

		if (gid != NULL &&
		    (json_string_length(gid) != glen ||
		     memcmp(json_string_value(gid), inj->order_group_id, glen) != 0)) {
			quote_text(json_string_value(gid), json_string_length(gid),
				   quoted, sizeof(quoted));
			quote_text(inj->order_group_id, glen, session_group, sizeof(session_group));
			format_message(msg, cap, "order names order group '%s' but the session's "
				       "group is '%s'", quoted, session_group);
			return ORDER_GROUP_MISMATCH;
		}
		if (sub != NULL && json_integer_value(sub) != (json_int_t)inj->subaccount) {
			format_message(msg, cap, "order names subaccount %lld but the session's "
				       "subaccount is %d", (long long)json_integer_value(sub),
				       inj->subaccount);
			return ORDER_GROUP_MISMATCH;
		}
		/* json_object_set_new replaces an existing key where it stands. */
		if (json_object_set_new(order, "order_group_id",
					json_string(inj->order_group_id)) != 0 ||
		    json_object_set_new(order, "subaccount", json_integer(inj->subaccount)) != 0) {
			format_message(msg, cap, "cannot rewrite order (out of memory or "
				       "group id not UTF-8)");
			return ORDER_INVALID;
		}
	}

	if (coid == NULL && inj != NULL && inj->new_client_order_id != NULL) {
		char buf[ORDER_COID_CAP];

		memset(buf, 0, sizeof(buf));
		inj->new_client_order_id(inj->ud, buf, sizeof(buf));
		buf[sizeof(buf) - 1] = '\0';
		if (buf[0] != '\0' &&
		    json_object_set_new(order, "client_order_id", json_string(buf)) != 0) {
			format_message(msg, cap, "cannot add client_order_id (out of memory or "
				       "id not UTF-8)");
			return ORDER_INVALID;
		}
		coid = json_object_get(order, "client_order_id");
	}

	memset(sum, 0, sizeof(*sum));
	if (json_is_string(coid))
		copy_utf8(json_string_value(coid), json_string_length(coid),
			  sum->client_order_id, sizeof(sum->client_order_id));
	if (json_is_string(ticker))
		copy_utf8(json_string_value(ticker), json_string_length(ticker),
			  sum->ticker, sizeof(sum->ticker));
	sum->count = order_count(order, legacy);
	return ORDER_OK;
}

/*
 * Parses and rewrites a create body into *res (see order.h). On success
 * res->body is the compact re-serialisation and res->orders one summary per
 * order; on failure both are NULL and message/index say why. Pure and
 * thread-safe; the caller releases *res with order_result_release.
 */
/* Normalises the (rewritten) orders of root into a new array, or sets
 * res's message and index and returns NULL. */
static struct norm_order *normalise_all(json_t *root, json_t *orders, size_t n, int batch,
					int legacy, struct order_result *res, long *index)
{
	struct norm_order *norm = calloc(n, sizeof(*norm));

	if (norm == NULL) {
		format_message(res->message, sizeof(res->message), "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *o = batch ? json_array_get(orders, i) : root;
		int r = legacy ? normalize_legacy(o, &norm[i], res->message, sizeof(res->message))
			       : normalize_v2(o, &norm[i], res->message, sizeof(res->message));

		if (r != 0) {
			*index = batch ? (long)i : -1;
			free(norm);
			return NULL;
		}
	}
	return norm;
}

static void rewrite_impl(const char *body, size_t len, int batch, int legacy,
			 const struct order_inject *inj, struct order_result *res, int want_norm)
{
	enum order_status status = ORDER_OK;
	struct order_summary *sums = NULL;
	json_t *root, *orders = NULL;
	size_t n = 1, i;
	long index = -1;
	char *out = NULL;

	memset(res, 0, sizeof(*res));
	res->index = -1;

	root = load_strict(body, len, batch, &status, &index, res->message, sizeof(res->message));
	if (root == NULL)
		goto out;
	status = ORDER_INVALID;
	if (!json_is_object(root)) {
		format_message(res->message, sizeof(res->message), "body is not a JSON object");
		goto out;
	}
	if (batch) {
		orders = json_object_get(root, "orders");
		if (orders == NULL) {
			format_message(res->message, sizeof(res->message), "'orders' is missing");
			goto out;
		}
		if (!json_is_array(orders)) {
			format_message(res->message, sizeof(res->message),
				       "'orders' is not an array");
			goto out;
		}
		n = json_array_size(orders);
		if (n == 0) {
			format_message(res->message, sizeof(res->message), "'orders' is empty");
			goto out;
		}
		if (n > ORDER_MAX_BATCH) {
			format_message(res->message, sizeof(res->message),
				       "'orders' has %zu orders, more than %d", n, ORDER_MAX_BATCH);
			goto out;
		}
	}
	sums = calloc(n, sizeof(*sums));
	if (sums == NULL) {
		format_message(res->message, sizeof(res->message), "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *order = batch ? json_array_get(orders, i) : root;

		if (batch)
			index = (long)i;
		if (!json_is_object(order)) {
			status = ORDER_INVALID;
			format_message(res->message, sizeof(res->message),
				       "order is not a JSON object");
			goto out;
		}
		status = rewrite_order(order, legacy, inj, &sums[i], res->message,
				       sizeof(res->message));
		if (status != ORDER_OK)
			goto out;
	}
	index = -1;
	if (want_norm) {
		status = ORDER_INVALID;
		res->norm = normalise_all(root, orders, n, batch, legacy, res, &index);
		if (res->norm == NULL)
			goto out;
	}
	out = json_dumps(root, JSON_COMPACT);
	if (out == NULL) {
		status = ORDER_INVALID;
		format_message(res->message, sizeof(res->message), "cannot serialise body");
		goto out;
	}
	status = ORDER_OK;
	res->message[0] = '\0';
	res->body = out;
	res->body_len = strlen(out);
	res->orders = sums;
	res->order_count = n;
	sums = NULL;
out:
	res->status = status;
	res->index = index;
	if (status != ORDER_OK) {
		free(res->norm);
		res->norm = NULL;
	}
	free(sums);
	json_decref(root);
}

void order_rewrite(const char *body, size_t len, int batch, int legacy,
		   const struct order_inject *inj, struct order_result *res)
{
	rewrite_impl(body, len, batch, legacy, inj, res, 0);
}

void order_rewrite_norm(const char *body, size_t len, int batch, int legacy,
			const struct order_inject *inj, struct order_result *res)
{
	rewrite_impl(body, len, batch, legacy, inj, res, 1);
}

/* Frees what *res holds and leaves it empty; NULL is a no-op. */
void order_result_release(struct order_result *res)
{
	if (res == NULL)
		return;
	free(res->body);
	free(res->orders);
	free(res->norm);
	res->norm = NULL;
	res->body = NULL;
	res->body_len = 0;
	res->orders = NULL;
	res->order_count = 0;
}

/*
 * Checks a body as order_rewrite does (valid JSON, no duplicate keys, no
 * reals, nesting at most ORDER_MAX_DEPTH, an object at the top) without
 * rewriting it. Returns ORDER_OK, or an error status with message (cap
 * bytes; may be NULL when cap is 0) set. Pure and thread-safe.
 */
enum order_status order_check_strict(const char *body, size_t len, char *message, size_t cap)
{
	enum order_status status = ORDER_OK;
	char msg[256] = "";
	long index;
	json_t *root;

	root = load_strict(body, len, 0, &status, &index, msg, sizeof(msg));
	if (root != NULL && !json_is_object(root)) {
		status = ORDER_INVALID;
		format_message(msg, sizeof(msg), "body is not a JSON object");
	}
	if (message != NULL && cap > 0)
		format_message(message, cap, "%s", msg);
	json_decref(root);
	return status;
}
