/*
 * verify: checks a bot's own Kalshi-style signature (KALSHI-ACCESS-*
 * headers) with the public key configured for it, so a bot can identify by
 * its key id beyond loopback. Same scheme as signer.h: RSA-PSS, SHA-256,
 * MGF1-SHA-256, salt = 32 bytes, over TIMESTAMP_MS + METHOD + PATH.
 *
 * A struct verifier is immutable after loading and may be shared by any
 * number of threads.
 */
#ifndef UPSTREAM_VERIFY_H
#define UPSTREAM_VERIFY_H

#include <stddef.h>
#include <stdint.h>

struct verifier;

/* Loads a PEM RSA public key ("BEGIN PUBLIC KEY", as `openssl pkey -pubout` writes). Returns a
 * new verifier owned by the caller, or NULL with err filled. */
struct verifier *verifier_load_file(const char *path, char *err, size_t errlen);

/* Frees. NULL is a no-op. */
void verifier_free(struct verifier *v);

/*
 * Checks a signature: ts is the KALSHI-ACCESS-TIMESTAMP value (decimal Unix
 * ms, within max_skew_ms of now_ms), method, the raw path (path_len bytes,
 * without query) and sig_b64. Returns 0 when valid, -1 otherwise with a
 * static lower-case reason in *why. Thread-safe.
 */
int verifier_check(const struct verifier *v, const char *ts, int64_t now_ms, int64_t max_skew_ms,
		   const char *method, const char *path, size_t path_len, const char *sig_b64,
		   const char **why);

#endif
