/* browser: see browser.h. */
#include "policy/browser.h"

#include <string.h>
#include <strings.h>

/* Length of the host part of a Host value: "[::1]:80" -> "[::1]",
 * "localhost:8080" -> "localhost". */
static size_t browser_host_len(const char *host)
{
	const char *colon;

	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		return end ? (size_t)(end - host) + 1 : strlen(host);
	}
	colon = strchr(host, ':');
	return colon ? (size_t)(colon - host) : strlen(host);
}

/* Whether the rest of a Host value after the host part is empty or ":digits". */
static int browser_port_ok(const char *rest)
{
	if (*rest == '\0')
		return 1;
	if (*rest != ':' || rest[1] == '\0')
		return 0;
	for (rest++; *rest; rest++)
		if (*rest < '0' || *rest > '9')
			return 0;
	return 1;
}

/* Whether Host value `host` matches one allowed entry. */
static int browser_host_matches(const char *entry, const char *host)
{
	size_t hl = browser_host_len(host), el = browser_host_len(entry);

	if (!browser_port_ok(host + hl))
		return 0;
	if (entry[el] != '\0')  /* entry with a port: exact match */
		return strcasecmp(entry, host) == 0;
	return hl == el && strncasecmp(entry, host, hl) == 0;
}

int browser_host_allowed(const struct gw_conf *c, const char *host)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]" };

	if (!host)
		return 1;
	if (c->server.has_allowed_hosts) {
		for (size_t i = 0; i < c->server.allowed_hosts.count; i++)
			if (browser_host_matches(c->server.allowed_hosts.items[i], host))
				return 1;
		return 0;
	}
	if (!c->listen_is_loopback)
		return 1;
	for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
		if (browser_host_matches(loopback[i], host))
			return 1;
	return 0;
}

int browser_origin_allowed(const struct gw_conf *c, const char *origin, const char *host)
{
	if (!origin)
		return 1;
	for (size_t i = 0; i < c->server.allowed_origins.count; i++)
		if (strcasecmp(c->server.allowed_origins.items[i], origin) == 0)
			return 1;
	/* an empty Host is nobody's origin: "http://" alone must not match it */
	if (host && *host && strncasecmp(origin, "http://", 7) == 0 &&
	    strcasecmp(origin + 7, host) == 0)
		return 1;
	return 0;
}

int browser_is_json(const char *ct)
{
	size_t n;

	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, "application/json", 16) != 0)
		return 0;
	ct += 16;
	n = strspn(ct, " \t");
	return ct[n] == '\0' || ct[n] == ';';
}
