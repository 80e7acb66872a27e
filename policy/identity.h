/*
 * identity: who is calling. A table of known clients (built once from the
 * configuration and the token files) and a pure lookup from the request's
 * Authorization and KALSHI-ACCESS-KEY headers.
 *
 * Invariants: the table is immutable after identity_new(); lookups are
 * thread-safe. Tokens are held only as SHA-256 digests and compared in
 * constant time.
 */
#ifndef POLICY_IDENTITY_H
#define POLICY_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

struct identity;

struct identity_client {
	const char *name;             /* owned by the table */
	enum gw_role role;
	const char *session;          /* configured session name, or NULL */
	const char *kalshi_key_id;    /* or NULL */
	const char *public_key_file;  /* or NULL */
	const struct gw_limits *limits; /* per-client limits (conf-owned), or NULL */
	int has_token;
	unsigned char token_sha256[32];
	const void *verifier;         /* struct verifier for public_key_file, owned by the caller */
};

/* Creates an empty table. NULL on OOM. */
struct identity *identity_new(void);
/* Frees the table. NULL is a no-op. */
void identity_free(struct identity *t);

/* Adds a client (strings copied). token_sha256 may be NULL. Returns 0 or
 * -1 on OOM. */
int identity_add(struct identity *t, const char *name, enum gw_role role,
		 const char *session, const char *kalshi_key_id,
		 const char *public_key_file, const struct gw_limits *limits,
		 const unsigned char *token_sha256);

/* Attaches a signature verifier (not owned) to client `name`. Returns 0,
 * or -1 when there is no such client. */
int identity_set_verifier(struct identity *t, const char *name, const void *verifier);

/* The position of client c in the table (0..count-1), or count when c is
 * NULL or not from this table. */
size_t identity_index(const struct identity *t, const struct identity_client *c);

/* Number of clients. */
size_t identity_count(const struct identity *t);

/* Parses 64 hex characters into 32 bytes. Returns 0 or -1. Pure. */
int identity_parse_hex(const char *hex, unsigned char out[32]);

/* SHA-256 of a token (len bytes). */
void identity_hash_token(const char *token, size_t len, unsigned char out[32]);

enum identity_via { IDENTITY_NONE = 0, IDENTITY_TOKEN, IDENTITY_KEY_ID };

/*
 * Finds the caller: `authorization` is the Authorization header value (or
 * NULL), `key_id` the KALSHI-ACCESS-KEY value (or NULL). A "Bearer TOKEN"
 * matching a client's token wins; else a key id matching a client's
 * kalshi_key_id. Returns the client (owned by the table) and sets *via, or
 * NULL when nobody matches. Pure, thread-safe.
 */
const struct identity_client *identity_lookup(const struct identity *t,
					      const char *authorization,
					      const char *key_id,
					      enum identity_via *via);

#endif
