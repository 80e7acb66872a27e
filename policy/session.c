/* session: see session.h. */
#include "policy/session.h"
#include "policy/fixed.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int session_name_ok(const char *name)
{
	size_t n = 0;

	if (!name)
		return 0;
	for (; name[n]; n++) {
		char c = name[n];
		if (n >= SESSION_NAME_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

void session_format_time(int64_t ms, char *buf, size_t cap)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
		 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, (int)(ms % 1000));
}

/* The decimal value of s[0..n), which the caller has checked are digits. */
static int session_digits(const char *s, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*s++ - '0');
	return v;
}

/* Strict: exactly the 24 characters session_format_time writes, each field
 * in range (no leap seconds, no days past the month's end), so a corrupt
 * state file is refused rather than normalised by timegm(). */
int session_parse_time(const char *s, int64_t *ms)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm;
	int y, mo, d, leap;

	if (!s || strlen(s) != sizeof pat - 1)
		return -1;
	for (size_t i = 0; i < sizeof pat - 1; i++)
		if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
			return -1;
	y = session_digits(s, 4);
	mo = session_digits(s + 5, 2);
	d = session_digits(s + 8, 2);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    session_digits(s + 11, 2) > 23 || session_digits(s + 14, 2) > 59 ||
	    session_digits(s + 17, 2) > 59)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = session_digits(s + 11, 2);
	tm.tm_min = session_digits(s + 14, 2);
	tm.tm_sec = session_digits(s + 17, 2);
	*ms = (int64_t)timegm(&tm) * 1000 + session_digits(s + 20, 3);
	return 0;
}

const char *session_status_name(enum session_status s)
{
	switch (s) {
	case SESSION_ACTIVE:
		return "active";
	case SESSION_TRIGGERED:
		return "triggered";
	case SESSION_ENDED:
	default:
		return "ended";
	}
}

/* A JSON string of an RFC 3339 time, or null for 0. */
static json_t *session_time_json(int64_t ms)
{
	char buf[40];

	if (ms <= 0)
		return json_null();
	session_format_time(ms, buf, sizeof buf);
	return json_string(buf);
}

/* A fixed-point count as a JSON string ("12.00"). */
static json_t *session_count_json(int64_t hundredths)
{
	char buf[32];

	fixed_format_count(hundredths, buf, sizeof buf);
	return json_string(buf);
}

json_t *session_to_json(const struct session *s)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "session_id", json_string(s->session_id));
	json_object_set_new(o, "order_group_id", json_string(s->order_group_id));
	json_object_set_new(o, "subaccount", json_integer(s->subaccount));
	json_object_set_new(o, "exchange_index", json_integer(s->exchange_index));
	json_object_set_new(o, "status", json_string(session_status_name(s->status)));
	json_object_set_new(o, "status_reason",
			    s->status_reason[0] ? json_string(s->status_reason) : json_null());
	json_object_set_new(o, "contracts_limit", json_integer(s->contracts_limit));
	json_object_set_new(o, "heartbeat_timeout_s",
			    s->heartbeat_timeout_s > 0 ? json_integer(s->heartbeat_timeout_s)
						       : json_null());
	json_object_set_new(o, "started_at", session_time_json(s->started_at_ms));
	json_object_set_new(o, "ended_at", session_time_json(s->ended_at_ms));
	json_object_set_new(o, "orders_accepted", session_count_json(s->orders_accepted * 100));
	json_object_set_new(o, "orders_rejected", session_count_json(s->orders_rejected * 100));
	json_object_set_new(o, "contracts_submitted", session_count_json(s->contracts_submitted));
	json_object_set_new(o, "contracts_filled", session_count_json(s->contracts_filled));
	json_object_set_new(o, "max_session_filled_contracts",
			    s->has_max_filled ? session_count_json(s->max_session_filled_contracts)
					      : json_null());
	json_object_set_new(o, "auto_resets", json_integer(s->auto_resets));
	{
		json_t *prev = json_array();
		for (unsigned i = 0; i < s->nprevious && i < SESSION_PREV_MAX; i++)
			json_array_append_new(prev, json_string(s->previous_group_ids[i]));
		json_object_set_new(o, "previous_group_ids", prev);
	}
	return o;
}

json_t *session_to_state(const struct session *s)
{
	json_t *o = session_to_json(s);

	if (!o)
		return NULL;
	json_object_set_new(o, "last_heartbeat_ms", json_integer(s->last_heartbeat_ms));
	json_object_set_new(o, "on_trigger", json_string(s->on_trigger));
	json_object_set_new(o, "cooldown_s", json_integer(s->cooldown_s));
	json_object_set_new(o, "max_auto_resets", json_integer(s->max_auto_resets));
	json_object_set_new(o, "pending", json_string(s->pending));
	json_object_set_new(o, "resting", session_count_json(s->resting));
	{
		json_t *shares = json_object();
		for (unsigned i = 0; i < s->nshares && i < sizeof s->shares / sizeof s->shares[0]; i++)
			json_object_set_new(shares, s->shares[i].client,
					    session_count_json(s->shares[i].submitted + s->shares[i].reserved));
		json_object_set_new(o, "client_submitted", shares);
	}
	return o;
}

/* Copies a string member into buf; -1 when missing, not a string or too long. */
static int session_get_str(const json_t *j, const char *key, char *buf, size_t cap, int nullable)
{
	const json_t *v = json_object_get(j, key);

	if (nullable && (!v || json_is_null(v))) {
		buf[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= cap)
		return -1;
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* Reads an integer member; -1 when missing or not an integer. */
static int session_get_int(const json_t *j, const char *key, int64_t *out, int nullable)
{
	const json_t *v = json_object_get(j, key);

	if (nullable && (!v || json_is_null(v))) {
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* Reads a fixed-point count string member (hundredths). */
static int session_get_count(const json_t *j, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(j, key);

	if (!json_is_string(v))
		return -1;
	return fixed_parse_count(json_string_value(v), json_string_length(v), out);
}

/* Reads an RFC 3339 time member (null allowed = 0). */
static int session_get_time(const json_t *j, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	return session_parse_time(json_string_value(v), out);
}

/* Reads an optional count string member: absent or null sets *has = 0;
 * -1 when present but not a valid count string. */
static int session_get_opt_count(const json_t *j, const char *key, int *has, int64_t *out)
{
	const json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v)) {
		*has = 0;
		return 0;
	}
	if (session_get_count(j, key, out) < 0)
		return -1;
	*has = 1;
	return 0;
}

/* Reads an optional integer member: absent or null is -1 (the
 * configuration default); -1 returned when present but not an integer. */
static int session_get_opt_long(const json_t *j, const char *key, long *out)
{
	const json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v)) {
		*out = -1;
		return 0;
	}
	if (!json_is_integer(v))
		return -1;
	*out = (long)json_integer_value(v);
	return 0;
}

int session_from_state(const json_t *j, struct session *out, char *err, size_t errlen)
{
	struct session s;
	char status[16];
	int64_t v, oa, orj;
	int has_resting = 0;
	const char *bad = NULL;

	memset(&s, 0, sizeof s);
	if (!json_is_object(j)) {
		snprintf(err, errlen, "session is not an object");
		return -1;
	}
	if (session_get_str(j, "name", s.name, sizeof s.name, 0) < 0 || !session_name_ok(s.name))
		bad = "name";
	else if (session_get_str(j, "session_id", s.session_id, sizeof s.session_id, 0) < 0)
		bad = "session_id";
	else if (session_get_str(j, "order_group_id", s.order_group_id, sizeof s.order_group_id, 0) < 0)
		bad = "order_group_id";
	else if (session_get_int(j, "subaccount", &v, 0) < 0 || (s.subaccount = (long)v, 0))
		bad = "subaccount";
	else if (session_get_int(j, "exchange_index", &v, 0) < 0 || (s.exchange_index = (long)v, 0))
		bad = "exchange_index";
	else if (session_get_str(j, "status", status, sizeof status, 0) < 0)
		bad = "status";
	else if (session_get_str(j, "status_reason", s.status_reason, sizeof s.status_reason, 1) < 0)
		bad = "status_reason";
	else if (session_get_int(j, "contracts_limit", &v, 0) < 0 || (s.contracts_limit = (long)v, 0))
		bad = "contracts_limit";
	else if (session_get_int(j, "heartbeat_timeout_s", &v, 1) < 0 ||
		 (s.heartbeat_timeout_s = (long)v, 0))
		bad = "heartbeat_timeout_s";
	else if (session_get_time(j, "started_at", &s.started_at_ms) < 0)
		bad = "started_at";
	else if (session_get_time(j, "ended_at", &s.ended_at_ms) < 0)
		bad = "ended_at";
	else if (session_get_count(j, "orders_accepted", &oa) < 0)
		bad = "orders_accepted";
	else if (session_get_count(j, "orders_rejected", &orj) < 0)
		bad = "orders_rejected";
	else if (session_get_count(j, "contracts_submitted", &s.contracts_submitted) < 0)
		bad = "contracts_submitted";
	else if (session_get_count(j, "contracts_filled", &s.contracts_filled) < 0)
		bad = "contracts_filled";
	/* internal fields: absent or null means the default, a wrong value is
	 * corruption (a cap must never be silently dropped or zeroed) */
	else if (session_get_opt_count(j, "max_session_filled_contracts", &s.has_max_filled,
				       &s.max_session_filled_contracts) < 0)
		bad = "max_session_filled_contracts";
	else if (session_get_int(j, "last_heartbeat_ms", &s.last_heartbeat_ms, 1) < 0)
		bad = "last_heartbeat_ms";
	else if (session_get_str(j, "on_trigger", s.on_trigger, sizeof s.on_trigger, 1) < 0)
		bad = "on_trigger";
	else if (session_get_opt_long(j, "cooldown_s", &s.cooldown_s) < 0)
		bad = "cooldown_s";
	else if (session_get_opt_long(j, "max_auto_resets", &s.max_auto_resets) < 0)
		bad = "max_auto_resets";
	else if (session_get_str(j, "pending", s.pending, sizeof s.pending, 1) < 0)
		bad = "pending";
	else if (session_get_opt_count(j, "resting", &has_resting, &s.resting) < 0)
		bad = "resting";
	else if (session_get_int(j, "auto_resets", &v, 1) < 0 || v < 0 || (s.auto_resets = (long)v, 0))
		bad = "auto_resets";
	if (!bad) {
		const json_t *prev = json_object_get(j, "previous_group_ids"), *pv;
		size_t k;
		if (prev && !json_is_null(prev) && !json_is_array(prev))
			bad = "previous_group_ids";
		json_array_foreach(prev, k, pv) {
			if (!json_is_string(pv) || json_string_length(pv) >= SESSION_ID_MAX) {
				bad = "previous_group_ids";
				break;
			}
			if (s.nprevious < SESSION_PREV_MAX)
				memcpy(s.previous_group_ids[s.nprevious++], json_string_value(pv),
				       json_string_length(pv) + 1);
		}
	}
	if (!bad) {
		const json_t *shares = json_object_get(j, "client_submitted"), *sv;
		const char *key;
		if (shares && !json_is_null(shares) && !json_is_object(shares))
			bad = "client_submitted";
		json_object_foreach((json_t *)(uintptr_t)shares, key, sv) {
			struct session_share *sh;
			if (s.nshares >= sizeof s.shares / sizeof s.shares[0])
				break;
			sh = &s.shares[s.nshares];
			if (!json_is_string(sv) || strlen(key) >= sizeof sh->client ||
			    fixed_parse_count(json_string_value(sv), json_string_length(sv), &sh->submitted) < 0) {
				bad = "client_submitted";
				break;
			}
			memcpy(sh->client, key, strlen(key) + 1);
			s.nshares++;
		}
	}
	if (bad) {
		snprintf(err, errlen, "session field '%s' is missing or invalid", bad);
		return -1;
	}
	s.orders_accepted = oa / 100;
	s.orders_rejected = orj / 100;
	if (strcmp(status, "active") == 0)
		s.status = SESSION_ACTIVE;
	else if (strcmp(status, "triggered") == 0)
		s.status = SESSION_TRIGGERED;
	else if (strcmp(status, "ended") == 0)
		s.status = SESSION_ENDED;
	else {
		snprintf(err, errlen, "session status '%s' is unknown", status);
		return -1;
	}
	*out = s;
	return 0;
}

/* Copies at most max bytes of client text s into out (cap bytes) for a
 * message: printable ASCII is kept, any other byte becomes '?'. Cutting a
 * UTF-8 character in half would leave the message invalid UTF-8, which
 * json_string() refuses, and the reply would lose its message. */
static const char *session_quote(const char *s, size_t max, char *out, size_t cap)
{
	size_t n = 0;

	for (; n < max && n + 1 < cap && s[n]; n++)
		out[n] = (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? s[n] : '?';
	out[n] = '\0';
	return out;
}

/* Parses a body into an object: empty = {}. Sets code/msg on failure. */
static json_t *session_body(const char *body, size_t len, const char **code, char *msg,
			    size_t msglen)
{
	json_error_t e;
	json_t *j;
	char text[sizeof e.text];

	if (len == 0)
		return json_object();
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (!j) {
		*code = strstr(e.text, "duplicate") ? "invalid_request" : "invalid_json";
		/* jansson quotes the offending token, which may hold any byte */
		snprintf(msg, msglen, "body is not valid JSON: %s",
			 session_quote(e.text, sizeof e.text, text, sizeof text));
		return NULL;
	}
	if (!json_is_object(j)) {
		*code = "invalid_request";
		snprintf(msg, msglen, "body must be a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Reads an optional integer member within [lo, hi]. Returns 1 when present
 * and valid, 0 when absent or null, -1 when invalid (msg filled). */
static int session_opt_int(json_t *j, const char *key, long lo, long hi, long *out, char *msg,
			   size_t msglen)
{
	json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(msg, msglen, "'%s' must be an integer from %ld to %ld", key, lo, hi);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 1;
}

/* Reads the optional "name" member. 0 ok (buf "" when absent), -1 invalid. */
static int session_opt_name(json_t *j, char *buf, char *msg, size_t msglen)
{
	json_t *v = json_object_get(j, "name");

	buf[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !session_name_ok(json_string_value(v))) {
		snprintf(msg, msglen, "'name' must match [A-Za-z0-9_-]{1,64}");
		return -1;
	}
	strcpy(buf, json_string_value(v));
	return 0;
}

/* Reads an optional count member (integer or fixed-point string). */
static int session_opt_count(json_t *j, const char *key, int64_t *out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= FIXED_COUNT_MAX / 100) {
		*out = json_integer_value(v) * 100;
		return 1;
	}
	if (json_is_string(v) &&
	    fixed_parse_count(json_string_value(v), json_string_length(v), out) == 0 && *out > 0)
		return 1;
	snprintf(msg, msglen, "'%s' must be a positive count (an integer or a string like \"10.50\")",
		 key);
	return -1;
}

/* Refuses members not in the allowed list. */
static int session_known_keys(json_t *j, const char *const *allowed, char *msg, size_t msglen)
{
	const char *key;
	json_t *v;
	char quoted[65];

	json_object_foreach(j, key, v) {
		int ok = 0;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], key) == 0)
				ok = 1;
		if (!ok) {
			snprintf(msg, msglen, "unknown field '%s'",
				 session_quote(key, 64, quoted, sizeof quoted));
			return -1;
		}
	}
	return 0;
}

int session_parse_start(const char *body, size_t len, struct session_start_req *out,
			const char **code, char *msg, size_t msglen)
{
	static const char *const allowed[] = {
		"contracts_limit", "name", "subaccount", "exchange_index", "heartbeat_timeout_s",
		"max_session_filled_contracts", "on_trigger", "cooldown_s", "max_auto_resets", NULL
	};
	struct session_start_req r;
	json_t *j = session_body(body, len, code, msg, msglen), *v;
	int rc = -1;

	if (!j)
		return -1;
	memset(&r, 0, sizeof r);
	r.cooldown_s = r.max_auto_resets = -1;
	*code = "invalid_request";
	if (session_known_keys(j, allowed, msg, msglen) < 0)
		goto out;
	v = json_object_get(j, "contracts_limit");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
		snprintf(msg, msglen, "'contracts_limit' must be an integer from 1 to 1000000");
		goto out;
	}
	r.contracts_limit = (long)json_integer_value(v);
	if (session_opt_name(j, r.name, msg, msglen) < 0 ||
	    session_opt_int(j, "subaccount", 0, 63, &r.subaccount, msg, msglen) < 0 ||
	    session_opt_int(j, "exchange_index", 0, 1000000, &r.exchange_index, msg, msglen) < 0 ||
	    session_opt_int(j, "heartbeat_timeout_s", 1, 86400, &r.heartbeat_timeout_s, msg, msglen) < 0 ||
	    session_opt_int(j, "cooldown_s", 0, 86400, &r.cooldown_s, msg, msglen) < 0 ||
	    session_opt_int(j, "max_auto_resets", 0, 1000000, &r.max_auto_resets, msg, msglen) < 0)
		goto out;
	switch (session_opt_count(j, "max_session_filled_contracts", &r.max_session_filled_contracts,
				  msg, msglen)) {
	case -1:
		goto out;
	case 1:
		r.has_max_filled = 1;
		break;
	default:
		break;
	}
	v = json_object_get(j, "on_trigger");
	if (v && !json_is_null(v)) {
		const char *t = json_string_value(v);
		if (!t || (strcmp(t, "stay") && strcmp(t, "reset_after") && strcmp(t, "new_group"))) {
			snprintf(msg, msglen, "'on_trigger' must be \"stay\", \"reset_after\" or \"new_group\"");
			goto out;
		}
		snprintf(r.on_trigger, sizeof r.on_trigger, "%s", t);
	}
	*out = r;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int session_parse_op(enum session_op op, const char *body, size_t len,
		     struct session_op_req *out, const char **code, char *msg, size_t msglen)
{
	static const char *const plain[] = { "name", NULL };
	static const char *const halt[] = { "name", "all", NULL };
	static const char *const limit[] = { "name", "contracts_limit", "max_session_filled_contracts", NULL };
	struct session_op_req r;
	json_t *j = session_body(body, len, code, msg, msglen), *v;
	int rc = -1;
	long cl;

	if (!j)
		return -1;
	memset(&r, 0, sizeof r);
	*code = "invalid_request";
	if (session_known_keys(j, op == SESSION_OP_HALT ? halt : op == SESSION_OP_LIMIT ? limit : plain,
			       msg, msglen) < 0)
		goto out;
	if (session_opt_name(j, r.name, msg, msglen) < 0)
		goto out;
	if (op == SESSION_OP_HALT && (v = json_object_get(j, "all")) && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			snprintf(msg, msglen, "'all' must be true or false");
			goto out;
		}
		r.all = json_is_true(v);
		if (r.all && r.name[0]) {
			snprintf(msg, msglen, "give either 'name' or 'all', not both");
			goto out;
		}
	}
	if (op == SESSION_OP_LIMIT) {
		switch (session_opt_int(j, "contracts_limit", 1, 1000000, &cl, msg, msglen)) {
		case -1:
			goto out;
		case 1:
			r.has_contracts_limit = 1;
			r.contracts_limit = cl;
			break;
		default:
			break;
		}
		switch (session_opt_count(j, "max_session_filled_contracts",
					  &r.max_session_filled_contracts, msg, msglen)) {
		case -1:
			goto out;
		case 1:
			r.has_max_filled = 1;
			break;
		default:
			break;
		}
		if (!r.has_contracts_limit && !r.has_max_filled) {
			snprintf(msg, msglen, "give 'contracts_limit' or 'max_session_filled_contracts'");
			goto out;
		}
	}
	*out = r;
	rc = 0;
out:
	json_decref(j);
	return rc;
}
