/*
 * route: what a proxied Kalshi request is, from its method and raw path
 * (the part after /trade-api/v2, no query). Pure and thread-safe.
 */
#ifndef POLICY_ROUTE_H
#define POLICY_ROUTE_H

#include <stddef.h>

enum route_kind {
	ROUTE_READ = 0,              /* GET/HEAD of anything but api keys */
	ROUTE_CREATE_V2,             /* POST /portfolio/events/orders */
	ROUTE_BATCH_CREATE_V2,       /* POST /portfolio/events/orders/batched */
	ROUTE_CREATE_LEGACY,         /* POST /portfolio/orders */
	ROUTE_BATCH_CREATE_LEGACY,   /* POST /portfolio/orders/batched */
	ROUTE_AMEND,                 /* POST /portfolio/[events/]orders/{id}/amend */
	ROUTE_DECREASE,              /* POST /portfolio/[events/]orders/{id}/decrease */
	ROUTE_CANCEL,                /* DELETE /portfolio/[events/]orders/{id} */
	ROUTE_BATCH_CANCEL,          /* DELETE /portfolio/[events/]orders/batched */
	ROUTE_CANCEL_ALL,            /* DELETE /portfolio/events/orders */
	ROUTE_GROUP_CREATE,          /* POST /portfolio/order_groups/create */
	ROUTE_GROUP_MUTATION,        /* DELETE /portfolio/order_groups/{id}, PUT .../{id}/reset|trigger|limit */
	ROUTE_API_KEYS,              /* anything under /api_keys (admin only, even reads) */
	ROUTE_OTHER_WRITE            /* any other non-GET: admin only */
};

struct route_info {
	enum route_kind kind;
	int legacy;                  /* a /portfolio/orders* mutation */
	const char *id;              /* order or group id inside path, or NULL */
	size_t id_len;
};

/* Classifies `method` + `path` (starting at "/trade-api/v2/", raw bytes,
 * len bytes, no query). Pure. */
void route_classify(const char *method, const char *path, size_t len, struct route_info *out);

/* Whether a kind creates orders (the four create kinds). */
int route_is_create(enum route_kind k);

#endif
