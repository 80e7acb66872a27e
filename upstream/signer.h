/*
 * signer: Kalshi request signatures with the team's RSA key.
 *
 * Signature = base64(RSA-PSS(SHA-256, MGF1-SHA-256, salt = 32 bytes) over
 * TIMESTAMP_MS + METHOD + PATH), PATH being the exact path bytes sent on the
 * request line, without the query string. Standard base64 with padding and
 * no newlines.
 *
 * A struct signer holds the loaded private key (immutable after load) and may
 * be shared by any number of threads: signer_sign() allocates nothing shared.
 */
#ifndef UPSTREAM_SIGNER_H
#define UPSTREAM_SIGNER_H

#include <stddef.h>
#include <stdint.h>

struct signer;

/* Base64 of a 2048-bit signature is 344 bytes; 4096-bit is 684. */
#define SIGNER_SIG_MAX 1024

/*
 * Loads a PEM RSA private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE
 * KEY") from `path`. Returns a new signer owned by the caller, or NULL with a
 * lower-case message in err (never any key material). Refuses non-RSA keys
 * and keys shorter than 2048 bits.
 */
struct signer *signer_load_file(const char *path, char *err, size_t errlen);

/* As signer_load_file, from a PEM buffer in memory. */
struct signer *signer_load_pem(const char *pem, size_t len, char *err, size_t errlen);

/* Frees the signer and wipes the key. NULL is a no-op. */
void signer_free(struct signer *s);

/*
 * Signs TIMESTAMP + METHOD + PATH: ts_ms as a decimal string, method as
 * given (callers pass upper case), the first path_len bytes of path (the
 * caller cuts at '?'). Writes the NUL-terminated base64 signature into out
 * (cap >= SIGNER_SIG_MAX) and returns 0, or -1 with err filled.
 * Thread-safe.
 */
int signer_sign(const struct signer *s, int64_t ts_ms, const char *method,
		const char *path, size_t path_len, char *out, size_t cap,
		char *err, size_t errlen);

/* Wall-clock time in Unix milliseconds (the timestamp Kalshi expects). */
int64_t signer_now_ms(void);

#endif
