/*
 * browser: the rules that stop a web page in a trader's browser from using
 * a loopback gateway (DNS rebinding, simple cross-site requests).
 * Pure functions of the request headers and the configuration; thread-safe.
 */
#ifndef POLICY_BROWSER_H
#define POLICY_BROWSER_H

#include "conf/conf.h"

/*
 * Whether Host header value `host` (NULL = absent) is acceptable.
 * With server.allowed_hosts set: an entry without a port matches that host
 * with any port, an entry with a port matches exactly (case-insensitive).
 * Unset and listening on loopback: localhost, 127.0.0.1 and [::1], with or
 * without a port. Unset and listening elsewhere: any Host.
 * An absent Host (HTTP/1.0) is accepted: browsers always send one.
 */
int browser_host_allowed(const struct gw_conf *c, const char *host);

/*
 * Whether Origin header value `origin` (NULL = absent: accepted) may call:
 * the gateway's own origin ("http://" + host, host being the request's Host
 * header) or an entry of server.allowed_origins (exact, case-insensitive).
 * "null" and anything else are refused.
 */
int browser_origin_allowed(const struct gw_conf *c, const char *origin, const char *host);

/* Whether a Content-Type value is application/json (parameters such as
 * "; charset=utf-8" allowed, case-insensitive). NULL is not. */
int browser_is_json(const char *content_type);

#endif
