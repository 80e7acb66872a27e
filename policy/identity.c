/* identity: see identity.h. */
#include "policy/identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct identity {
	struct identity_client *clients;
	size_t count, cap;
};

struct identity *identity_new(void)
{
	return calloc(1, sizeof(struct identity));
}

void identity_free(struct identity *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++) {
		struct identity_client *c = &t->clients[i];
		free((char *)(uintptr_t)c->name);
		free((char *)(uintptr_t)c->session);
		free((char *)(uintptr_t)c->kalshi_key_id);
		free((char *)(uintptr_t)c->public_key_file);
		OPENSSL_cleanse(c->token_sha256, sizeof c->token_sha256);
	}
	free(t->clients);
	free(t);
}

/* strdup that keeps NULL as NULL; *oom is set when a copy fails. */
static char *identity_dup(const char *s, int *oom)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*oom = 1;
	return d;
}

int identity_add(struct identity *t, const char *name, enum gw_role role,
		 const char *session, const char *kalshi_key_id,
		 const char *public_key_file, const struct gw_limits *limits,
		 const unsigned char *token_sha256)
{
	struct identity_client c;
	int oom = 0;

	if (t->count == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 8;
		struct identity_client *n = realloc(t->clients, ncap * sizeof *n);
		if (!n)
			return -1;
		t->clients = n;
		t->cap = ncap;
	}
	memset(&c, 0, sizeof c);
	c.name = identity_dup(name, &oom);
	c.role = role;
	c.session = identity_dup(session, &oom);
	c.kalshi_key_id = identity_dup(kalshi_key_id, &oom);
	c.public_key_file = identity_dup(public_key_file, &oom);
	c.limits = limits;
	if (token_sha256) {
		c.has_token = 1;
		memcpy(c.token_sha256, token_sha256, 32);
	}
	if (oom) {
		free((char *)(uintptr_t)c.name);
		free((char *)(uintptr_t)c.session);
		free((char *)(uintptr_t)c.kalshi_key_id);
		free((char *)(uintptr_t)c.public_key_file);
		return -1;
	}
	t->clients[t->count++] = c;
	return 0;
}

int identity_set_verifier(struct identity *t, const char *name, const void *verifier)
{
	for (size_t i = 0; t && i < t->count; i++)
		if (strcmp(t->clients[i].name, name) == 0) {
			t->clients[i].verifier = verifier;
			return 0;
		}
	return -1;
}

size_t identity_index(const struct identity *t, const struct identity_client *c)
{
	if (!t || !c || c < t->clients || c >= t->clients + t->count)
		return identity_count(t);
	return (size_t)(c - t->clients);
}

size_t identity_count(const struct identity *t)
{
	return t ? t->count : 0;
}

/* Value of one hex digit, or -1. */
static int identity_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int identity_parse_hex(const char *hex, unsigned char out[32])
{
	unsigned char tmp[32];

	if (!hex || strlen(hex) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = identity_hexval(hex[2 * i]), lo = identity_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		tmp[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(out, tmp, 32);
	return 0;
}

void identity_hash_token(const char *token, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(token, len, out, &n, EVP_sha256(), NULL);
}

const struct identity_client *identity_lookup(const struct identity *t,
					      const char *authorization,
					      const char *key_id,
					      enum identity_via *via)
{
	const struct identity_client *found = NULL;

	*via = IDENTITY_NONE;
	if (!t)
		return NULL;
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *tok = authorization + 7;
		unsigned char h[32];
		while (*tok == ' ')
			tok++;
		identity_hash_token(tok, strlen(tok), h);
		/* compare against every client so the time does not depend on
		 * which one matched */
		for (size_t i = 0; i < t->count; i++)
			if (t->clients[i].has_token &&
			    CRYPTO_memcmp(h, t->clients[i].token_sha256, 32) == 0 && !found)
				found = &t->clients[i];
		if (found)
			*via = IDENTITY_TOKEN;
		/* a wrong token is a refusal, never a fall-back to the key id */
		return found;
	}
	if (key_id && *key_id) {
		for (size_t i = 0; i < t->count; i++)
			if (t->clients[i].kalshi_key_id &&
			    strcmp(t->clients[i].kalshi_key_id, key_id) == 0) {
				*via = IDENTITY_KEY_ID;
				return &t->clients[i];
			}
	}
	return NULL;
}
