/*
 * route: classifies a proxied request by method and raw path (see route.h).
 *
 * Segments are compared byte for byte, case-sensitively, on the raw path the
 * gateway also signs and forwards, so what is classified is what is sent.
 * Anything not recognised falls to the most restrictive class that fits:
 * an unknown method or path shape is ROUTE_OTHER_WRITE (admin only).
 */
#include "policy/route.h"

#include <string.h>

#define ROUTE_PREFIX "/trade-api/v2"
#define ROUTE_API_KEYS_PREFIX "/trade-api/v2/api_keys"

/* Segments kept: more than any rule looks at. */
#define ROUTE_MAX_SEGMENTS 6

struct segment {
	const char *p;
	size_t len;
};

/* Whether `len` bytes at s start with the NUL-terminated `prefix`. */
static int has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);

	return len >= pl && memcmp(s, prefix, pl) == 0;
}

/* Whether segment `seg` is exactly the NUL-terminated word `w`. */
static int seg_is(const struct segment *seg, const char *w)
{
	size_t wl = strlen(w);

	return seg->len == wl && memcmp(seg->p, w, wl) == 0;
}

/* Whether the NUL-terminated method `m` is exactly `want`; a NULL method
 * matches nothing. */
static int method_is(const char *m, const char *want)
{
	return m != NULL && strcmp(m, want) == 0;
}

/*
 * Splits `rest` (len bytes, starting with '/') into segments. One trailing
 * '/' is ignored, so ".../orders/" reads as ".../orders"; any other empty
 * segment is kept as an empty segment, which no id rule accepts. Stores the
 * first ROUTE_MAX_SEGMENTS segments and returns how many there are in all.
 */
static size_t split_segments(const char *rest, size_t len, struct segment *segs)
{
	size_t n = 0, i, start;

	if (len > 1 && rest[len - 1] == '/')
		len--;
	if (len <= 1)
		return 0;
	start = 1;
	for (i = 1; i <= len; i++) {
		if (i < len && rest[i] != '/')
			continue;
		if (n < ROUTE_MAX_SEGMENTS) {
			segs[n].p = rest + start;
			segs[n].len = i - start;
		}
		n++;
		start = i + 1;
	}
	return n;
}

/* Sets out to `kind` with the given legacy flag and id segment (NULL for
 * none). */
static void set_route(struct route_info *out, enum route_kind kind, int legacy,
		      const struct segment *id)
{
	out->kind = kind;
	out->legacy = legacy;
	out->id = id != NULL ? id->p : NULL;
	out->id_len = id != NULL ? id->len : 0;
}

/*
 * Classifies a POST, DELETE or PUT on the order families by its segments
 * (after /trade-api/v2). Returns 1 and fills out when a rule matches, else
 * 0. `legacy` selects the /portfolio/orders family (segs start at "orders")
 * rather than /portfolio/events/orders.
 */
static int classify_orders(const char *method, const struct segment *segs, size_t n,
			   int legacy, struct route_info *out)
{
	/* n counts the segments from "orders" on. */
	if (method_is(method, "POST")) {
		if (n == 1) {
			set_route(out, legacy ? ROUTE_CREATE_LEGACY : ROUTE_CREATE_V2,
				  legacy, NULL);
			return 1;
		}
		if (n == 2 && seg_is(&segs[1], "batched")) {
			set_route(out, legacy ? ROUTE_BATCH_CREATE_LEGACY : ROUTE_BATCH_CREATE_V2,
				  legacy, NULL);
			return 1;
		}
		if (n == 3 && segs[1].len > 0 && seg_is(&segs[2], "amend")) {
			set_route(out, ROUTE_AMEND, legacy, &segs[1]);
			return 1;
		}
		if (n == 3 && segs[1].len > 0 && seg_is(&segs[2], "decrease")) {
			set_route(out, ROUTE_DECREASE, legacy, &segs[1]);
			return 1;
		}
		return 0;
	}
	if (method_is(method, "DELETE")) {
		/* Only V2 has cancel-all; DELETE /portfolio/orders is unknown. */
		if (n == 1 && !legacy) {
			set_route(out, ROUTE_CANCEL_ALL, 0, NULL);
			return 1;
		}
		if (n == 2 && seg_is(&segs[1], "batched")) {
			set_route(out, ROUTE_BATCH_CANCEL, legacy, NULL);
			return 1;
		}
		if (n == 2 && segs[1].len > 0) {
			set_route(out, ROUTE_CANCEL, legacy, &segs[1]);
			return 1;
		}
	}
	return 0;
}

/*
 * Classifies `method` + raw `path` (len bytes, no query). A path outside
 * /trade-api/v2/ is not expected here; it is classified ROUTE_OTHER_WRITE
 * whatever the method, so a caller's mistake fails closed. Pure and
 * thread-safe; out->id points into path.
 */
void route_classify(const char *method, const char *path, size_t len, struct route_info *out)
{
	struct segment segs[ROUTE_MAX_SEGMENTS];
	size_t pl = strlen(ROUTE_PREFIX);
	size_t n;

	set_route(out, ROUTE_OTHER_WRITE, 0, NULL);
	if (path == NULL || !has_prefix(path, len, ROUTE_PREFIX "/"))
		return;
	if (has_prefix(path, len, ROUTE_API_KEYS_PREFIX)) {
		set_route(out, ROUTE_API_KEYS, 0, NULL);
		return;
	}
	if (method_is(method, "GET") || method_is(method, "HEAD")) {
		set_route(out, ROUTE_READ, 0, NULL);
		return;
	}

	n = split_segments(path + pl, len - pl, segs);
	if (n < 2 || !seg_is(&segs[0], "portfolio"))
		return;

	if (n >= 3 && seg_is(&segs[1], "events") && seg_is(&segs[2], "orders")) {
		classify_orders(method, segs + 2, n - 2, 0, out);
		return;
	}
	if (seg_is(&segs[1], "orders")) {
		classify_orders(method, segs + 1, n - 1, 1, out);
		return;
	}
	if (seg_is(&segs[1], "order_groups") && n >= 3) {
		if (n == 3 && method_is(method, "POST") && seg_is(&segs[2], "create")) {
			set_route(out, ROUTE_GROUP_CREATE, 0, NULL);
			return;
		}
		/* Every other write naming a group, however deep, is a mutation
		 * of that group, so the caller can check who owns it. */
		if (segs[2].len > 0)
			set_route(out, ROUTE_GROUP_MUTATION, 0, &segs[2]);
	}
}

/* Whether `k` is one of the four create kinds. Pure. */
int route_is_create(enum route_kind k)
{
	return k == ROUTE_CREATE_V2 || k == ROUTE_BATCH_CREATE_V2 ||
	       k == ROUTE_CREATE_LEGACY || k == ROUTE_BATCH_CREATE_LEGACY;
}
