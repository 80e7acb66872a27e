/*
 * signer: RSA-PSS request signatures for Kalshi (see signer.h).
 *
 * The key is loaded once and never modified, so one struct signer serves
 * every thread. Each signature uses its own EVP_MD_CTX; the only shared
 * state is the EVP_PKEY, which OpenSSL allows to be used concurrently for
 * signing once it is fully loaded.
 */
#include "upstream/signer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* Largest message signed: timestamp + method + path. Real Kalshi paths are
 * well under 200 bytes; anything near this cap is a client bug or abuse. */
#define SIGNER_MSG_MAX 8192

/* Longest method accepted (the longest HTTP method in use is 7 bytes). */
#define SIGNER_METHOD_MAX 16

/* Key sizes accepted. The upper bound keeps the base64 signature within
 * SIGNER_SIG_MAX and the raw signature within SIGNER_RAW_MAX. */
#define SIGNER_BITS_MIN 2048
#define SIGNER_BITS_MAX 4096
#define SIGNER_RAW_MAX  (SIGNER_BITS_MAX / 8)

/* A PEM RSA key of 4096 bits is about 3.3 KiB; a file far larger than that
 * is not a key, and reading it whole would only waste memory. */
#define SIGNER_PEM_MAX  (64 * 1024)

struct signer {
	EVP_PKEY *pkey;     /* RSA private key; read-only after load */
	size_t sig_len;     /* raw signature length in bytes (modulus size) */
};

/* Writes a formatted message into err when the caller gave a buffer;
 * truncates silently. */
__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Describes errno value e into buf (thread-safe strerror) and returns the
 * text, which may or may not live in buf. */
static const char *errno_text(int e, char *buf, size_t len)
{
#if defined(_GNU_SOURCE)
	return strerror_r(e, buf, len);
#else
	if (strerror_r(e, buf, len) != 0)
		snprintf(buf, len, "error %d", e);
	return buf;
#endif
}

/*
 * Password callback for PEM reading: the gateway never decrypts keys, so it
 * records that a password was asked for (the key is encrypted) and fails.
 * `u` points to an int flag owned by the caller.
 */
static int refuse_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

/*
 * Loads the first PEM private key from `len` bytes at `pem`, checks that it
 * is RSA and of an accepted size, and returns a new signer (owned by the
 * caller), or NULL with err filled. `subject` names the source in messages
 * ("'/etc/kalshi.pem'" or "the key"). Never puts key bytes in err. Clears
 * this thread's OpenSSL error queue on failure. Thread-safe.
 */
static struct signer *load_pem(const char *pem, size_t len, const char *subject,
			       char *err, size_t errlen)
{
	struct signer *result = NULL;
	struct signer *s = NULL;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int asked_password = 0;
	int bits;

	if (pem == NULL || len == 0) {
		set_err(err, errlen, "%s is empty", subject);
		goto out;
	}
	if (len > SIGNER_PEM_MAX) {
		set_err(err, errlen, "%s is too large to be a key (over %d bytes)",
			subject, SIGNER_PEM_MAX);
		goto out;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_password, &asked_password);
	if (pkey == NULL) {
		if (asked_password)
			set_err(err, errlen, "%s is an encrypted key; give the gateway "
				"an unencrypted PEM RSA private key", subject);
		else
			set_err(err, errlen, "%s is not a PEM RSA private key", subject);
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		const char *type = EVP_PKEY_get0_type_name(pkey);

		set_err(err, errlen, "%s is a%s %s key, not an RSA key", subject,
			type != NULL && strchr("AEIOUaeiou", type[0]) != NULL ? "n" : "",
			type != NULL ? type : "unknown");
		goto out;
	}
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < SIGNER_BITS_MIN) {
		set_err(err, errlen, "%s is a %d-bit RSA key; at least %d bits are required",
			subject, bits, SIGNER_BITS_MIN);
		goto out;
	}
	if (bits > SIGNER_BITS_MAX || EVP_PKEY_get_size(pkey) > SIGNER_RAW_MAX) {
		set_err(err, errlen, "%s is a %d-bit RSA key; at most %d bits are supported",
			subject, bits, SIGNER_BITS_MAX);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	s->pkey = pkey;
	s->sig_len = (size_t)EVP_PKEY_get_size(pkey);
	pkey = NULL;
	result = s;
	s = NULL;
out:
	if (result == NULL)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(s);
	return result;
}

/*
 * Loads a key file (see signer.h). The file is read whole into memory
 * (at most SIGNER_PEM_MAX bytes), and that copy is wiped before it is freed.
 */
struct signer *signer_load_file(const char *path, char *err, size_t errlen)
{
	struct signer *result = NULL;
	char subject[512];
	char ebuf[128];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;

	if (path == NULL) {
		set_err(err, errlen, "no key file given");
		goto out;
	}
	snprintf(subject, sizeof(subject), "'%s'", path);
	f = fopen(path, "rb");
	if (f == NULL) {
		set_err(err, errlen, "cannot read key file '%s': %s", path,
			errno_text(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	/* One spare byte tells a file of exactly the cap from a larger one. */
	buf = malloc(SIGNER_PEM_MAX + 1);
	if (buf == NULL) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	len = fread(buf, 1, SIGNER_PEM_MAX + 1, f);
	if (ferror(f)) {
		set_err(err, errlen, "cannot read key file '%s': %s", path,
			errno_text(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	result = load_pem(buf, len, subject, err, errlen);
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, SIGNER_PEM_MAX + 1);
		free(buf);
	}
	if (f != NULL)
		fclose(f);
	return result;
}

/* Loads a key from memory (see signer.h); the caller keeps `pem`. */
struct signer *signer_load_pem(const char *pem, size_t len, char *err, size_t errlen)
{
	return load_pem(pem, len, "the key", err, errlen);
}

/* Frees the signer (see signer.h). EVP_PKEY_free clears the RSA private
 * numbers before releasing them. Not thread-safe against concurrent
 * signer_sign() on the same signer. */
void signer_free(struct signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->pkey);
	free(s);
}

/*
 * Signs `len` bytes of msg with pkey using RSA-PSS, SHA-256, MGF1-SHA-256
 * and a 32-byte salt, writing at most *sig_len bytes into sig and the real
 * length into *sig_len. Returns 0, or -1 with err filled. Uses a fresh
 * EVP_MD_CTX per call (the place to cache one per thread if profiling ever
 * asks for it). Thread-safe for a shared, read-only pkey.
 */
static int sign_pss(EVP_PKEY *pkey, const unsigned char *msg, size_t len,
		    unsigned char *sig, size_t *sig_len, char *err, size_t errlen)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int rc = -1;

	md = EVP_MD_CTX_new();
	if (md == NULL) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	/* OpenSSL 3 defaults PSS to the maximum salt length, which Kalshi's
	 * digest-length verifier rejects: every parameter is set explicitly. */
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) {
		set_err(err, errlen, "cannot set up rsa-pss signing: %s",
			ERR_reason_error_string(ERR_peek_last_error()) != NULL ?
			ERR_reason_error_string(ERR_peek_last_error()) : "unknown error");
		goto out;
	}
	if (EVP_DigestSign(md, sig, sig_len, msg, len) != 1) {
		set_err(err, errlen, "rsa-pss signing failed: %s",
			ERR_reason_error_string(ERR_peek_last_error()) != NULL ?
			ERR_reason_error_string(ERR_peek_last_error()) : "unknown error");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		ERR_clear_error();
	EVP_MD_CTX_free(md);    /* also frees pctx, which md owns */
	return rc;
}

/* Signs TIMESTAMP + METHOD + PATH (see signer.h). The message is assembled
 * on the stack (at most SIGNER_MSG_MAX bytes); out is written only on
 * success. Thread-safe. */
int signer_sign(const struct signer *s, int64_t ts_ms, const char *method,
		const char *path, size_t path_len, char *out, size_t cap,
		char *err, size_t errlen)
{
	unsigned char msg[SIGNER_MSG_MAX];
	unsigned char sig[SIGNER_RAW_MAX];
	size_t sig_len = sizeof(sig);
	size_t method_len;
	size_t b64_len;
	size_t n;
	int ts_len;
	int rc = -1;

	if (s == NULL || method == NULL || (path == NULL && path_len > 0) || out == NULL) {
		set_err(err, errlen, "signer_sign: missing argument");
		goto out;
	}
	if (ts_ms < 0) {
		set_err(err, errlen, "timestamp %" PRId64 " is negative", ts_ms);
		goto out;
	}
	method_len = strlen(method);
	if (method_len == 0 || method_len > SIGNER_METHOD_MAX) {
		set_err(err, errlen, "method must be 1 to %d bytes long", SIGNER_METHOD_MAX);
		goto out;
	}
	b64_len = 4 * ((s->sig_len + 2) / 3);
	if (cap < b64_len + 1) {
		set_err(err, errlen, "signature buffer too small (%zu bytes, need %zu)",
			cap, b64_len + 1);
		goto out;
	}
	/* int64_t has at most 19 digits, so snprintf always fits here. */
	ts_len = snprintf((char *)msg, sizeof(msg), "%" PRId64, ts_ms);
	if (ts_len < 0) {
		set_err(err, errlen, "cannot format timestamp");
		goto out;
	}
	n = (size_t)ts_len;
	if (path_len > sizeof(msg) - n - method_len) {
		set_err(err, errlen, "path too long to sign (%zu bytes, at most %zu)",
			path_len, sizeof(msg) - n - method_len);
		goto out;
	}
	memcpy(msg + n, method, method_len);
	n += method_len;
	if (path_len > 0)
		memcpy(msg + n, path, path_len);
	n += path_len;

	if (sign_pss(s->pkey, msg, n, sig, &sig_len, err, errlen) != 0)
		goto out;
	if (sig_len != s->sig_len) {
		set_err(err, errlen, "rsa-pss signature has %zu bytes, expected %zu",
			sig_len, s->sig_len);
		goto out;
	}
	/* EVP_EncodeBlock: standard alphabet, padding, no newlines, NUL. */
	EVP_EncodeBlock((unsigned char *)out, sig, (int)sig_len);
	rc = 0;
out:
	return rc;
}

/* Current wall-clock time in Unix milliseconds; 0 if the clock cannot be
 * read (never expected on Linux). Thread-safe. */
int64_t signer_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}
