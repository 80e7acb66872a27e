/*
 * mock_auth.h - verification of Kalshi request signatures.
 *
 * A request is signed with KALSHI-ACCESS-KEY, KALSHI-ACCESS-TIMESTAMP (Unix
 * milliseconds) and KALSHI-ACCESS-SIGNATURE (standard base64 of an RSA-PSS
 * SHA-256 signature, MGF1 SHA-256, salt length 32, over
 * TIMESTAMP + METHOD + PATH, PATH being the raw request-line path without the
 * query). Verification is as strict as Kalshi's: a max-length salt, a
 * timestamp in seconds or more than 5 s away, or a signed query all fail.
 *
 * A struct mock_auth is immutable after mock_auth_new and may be used from
 * any number of threads at once.
 */
#ifndef MOCK_AUTH_H
#define MOCK_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mock_auth;

/* Result of checking one request's signature headers. */
enum mock_sig_result {
	MOCK_SIG_ABSENT,   /* none of the three headers present */
	MOCK_SIG_VALID,    /* all present and the signature verifies */
	MOCK_SIG_INVALID,  /* present but wrong, incomplete, stale or unverified */
};

/* Creates a verifier. pubkey_path is a PEM SubjectPublicKeyInfo RSA key or
 * NULL (then nothing is verified and every present signature is recorded as
 * invalid but accepted); key_id, when not NULL, is the only accepted
 * KALSHI-ACCESS-KEY. Returns NULL and writes a message to err on failure. */
struct mock_auth *mock_auth_new(const char *pubkey_path, const char *key_id, char *err,
				size_t errlen);

/* Frees the verifier; NULL is a no-op. */
void mock_auth_free(struct mock_auth *a);

/* True when a public key was given, i.e. signatures are enforced. */
bool mock_auth_enforcing(const struct mock_auth *a);

/* Checks the signature headers of one request (any may be NULL) against
 * method and raw path at time now_ms. On MOCK_SIG_INVALID a reason is written
 * to why. Thread-safe. */
enum mock_sig_result mock_auth_check(const struct mock_auth *a, const char *method,
				     const char *path, const char *key, const char *ts,
				     const char *sig, int64_t now_ms, char *why, size_t whylen);

/* True when path (raw, under /trade-api/v2) may be called without signing:
 * /exchange/, /markets, /events, /series and /account/endpoint_costs. */
bool mock_auth_is_public(const char *path);

#endif
