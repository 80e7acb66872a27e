/*
 * mock_auth.c - strict verification of KALSHI-ACCESS-* request signatures.
 */
#include "tests/mock/mock_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* Kalshi accepts timestamps at most this far from its clock (either way). */
#define AUTH_MAX_SKEW_MS 5000
/* Longest signature text considered (a 8192-bit key is 1368 characters). */
#define AUTH_MAX_SIG_B64 2048

struct mock_auth {
	EVP_PKEY *pkey;   /* NULL: not enforcing */
	char *key_id;     /* NULL: any key id */
};

/* See mock_auth.h. */
struct mock_auth *mock_auth_new(const char *pubkey_path, const char *key_id, char *err,
				size_t errlen)
{
	struct mock_auth *a = calloc(1, sizeof(*a));
	FILE *f = NULL;

	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (key_id != NULL && (a->key_id = strdup(key_id)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pubkey_path == NULL)
		return a;
	f = fopen(pubkey_path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open public key '%s'", pubkey_path);
		goto fail;
	}
	a->pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (a->pkey == NULL) {
		snprintf(err, errlen, "cannot read public key '%s' (PEM SubjectPublicKeyInfo)",
			 pubkey_path);
		goto fail;
	}
	if (!EVP_PKEY_is_a(a->pkey, "RSA")) {
		snprintf(err, errlen, "public key '%s' is not an RSA key", pubkey_path);
		goto fail;
	}
	return a;
fail:
	mock_auth_free(a);
	return NULL;
}

/* See mock_auth.h. */
void mock_auth_free(struct mock_auth *a)
{
	if (a == NULL)
		return;
	EVP_PKEY_free(a->pkey);
	free(a->key_id);
	free(a);
}

/* See mock_auth.h. */
bool mock_auth_enforcing(const struct mock_auth *a)
{
	return a != NULL && a->pkey != NULL;
}

/* Returns the value of one standard-base64 character, or -1. */
static int auth_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes strict standard base64 (alphabet + and /, '=' padding to a
 * multiple of 4, no whitespace) into out (capacity cap). Returns the decoded
 * length, or -1 on any deviation or when it does not fit. */
static long auth_b64_decode(const char *in, unsigned char *out, size_t cap)
{
	size_t n = strlen(in), o = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -1;  /* data after padding */
			v[k] = auth_b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char)(((v[1] & 0xf) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char)(((v[2] & 0x3) << 6) | v[3]);
	}
	return (long)o;
}

/* Parses a Unix-milliseconds timestamp: 1 to 16 decimal digits, nothing
 * else. Returns 0, or -1 when malformed. */
static int auth_parse_ts(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Verifies an RSA-PSS SHA-256 signature (MGF1 SHA-256, salt = digest length)
 * over msg. Returns 1 valid, 0 invalid; OpenSSL errors count as invalid. */
static int auth_verify_pss(EVP_PKEY *pkey, const unsigned char *sig, size_t siglen,
			   const char *msg, size_t msglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (md == NULL)
		goto out;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1)
		goto out;
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)
		goto out;
	ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, msglen) == 1;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/* See mock_auth.h. */
enum mock_sig_result mock_auth_check(const struct mock_auth *a, const char *method,
				     const char *path, const char *key, const char *ts,
				     const char *sig, int64_t now_ms, char *why, size_t whylen)
{
	unsigned char raw[AUTH_MAX_SIG_B64];
	int64_t ts_ms, skew;
	long siglen;
	char *msg;
	size_t msglen;
	int ok;

	if (key == NULL && ts == NULL && sig == NULL) {
		snprintf(why, whylen, "missing KALSHI-ACCESS-KEY, KALSHI-ACCESS-TIMESTAMP and "
			 "KALSHI-ACCESS-SIGNATURE headers");
		return MOCK_SIG_ABSENT;
	}
	if (key == NULL || ts == NULL || sig == NULL) {
		snprintf(why, whylen, "missing %s header",
			 key == NULL ? "KALSHI-ACCESS-KEY" :
			 ts == NULL ? "KALSHI-ACCESS-TIMESTAMP" : "KALSHI-ACCESS-SIGNATURE");
		return MOCK_SIG_INVALID;
	}
	if (a->pkey == NULL) {
		snprintf(why, whylen, "no public key configured; signature not verified");
		return MOCK_SIG_INVALID;
	}
	if (a->key_id != NULL && strcmp(a->key_id, key) != 0) {
		snprintf(why, whylen, "unknown KALSHI-ACCESS-KEY");
		return MOCK_SIG_INVALID;
	}
	if (auth_parse_ts(ts, &ts_ms) != 0) {
		snprintf(why, whylen, "KALSHI-ACCESS-TIMESTAMP is not decimal Unix milliseconds");
		return MOCK_SIG_INVALID;
	}
	skew = ts_ms - now_ms;
	if (skew > AUTH_MAX_SKEW_MS || skew < -AUTH_MAX_SKEW_MS) {
		snprintf(why, whylen, "KALSHI-ACCESS-TIMESTAMP is %lld ms away from server time",
			 (long long)skew);
		return MOCK_SIG_INVALID;
	}
	if (strlen(sig) > AUTH_MAX_SIG_B64 ||
	    (siglen = auth_b64_decode(sig, raw, sizeof(raw))) < 0) {
		snprintf(why, whylen, "KALSHI-ACCESS-SIGNATURE is not standard base64");
		return MOCK_SIG_INVALID;
	}
	if (siglen != EVP_PKEY_get_size(a->pkey)) {
		snprintf(why, whylen, "KALSHI-ACCESS-SIGNATURE has the wrong length");
		return MOCK_SIG_INVALID;
	}
	msglen = strlen(ts) + strlen(method) + strlen(path);
	msg = malloc(msglen + 1);
	if (msg == NULL) {
		snprintf(why, whylen, "out of memory");
		return MOCK_SIG_INVALID;
	}
	snprintf(msg, msglen + 1, "%s%s%s", ts, method, path);
	ok = auth_verify_pss(a->pkey, raw, (size_t)siglen, msg, msglen);
	free(msg);
	if (!ok) {
		snprintf(why, whylen, "signature does not verify (RSA-PSS SHA-256, salt length "
			 "32, over timestamp + method + path without query)");
		return MOCK_SIG_INVALID;
	}
	return MOCK_SIG_VALID;
}

/* True when rest equals word or starts with word followed by '/'. */
static bool auth_segment_prefix(const char *rest, const char *word)
{
	size_t n = strlen(word);

	return strncmp(rest, word, n) == 0 && (rest[n] == '\0' || rest[n] == '/');
}

/* See mock_auth.h. */
bool mock_auth_is_public(const char *path)
{
	static const char prefix[] = "/trade-api/v2";
	const char *rest;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return false;
	rest = path + sizeof(prefix) - 1;
	return auth_segment_prefix(rest, "/exchange") || auth_segment_prefix(rest, "/markets") ||
	       auth_segment_prefix(rest, "/events") || auth_segment_prefix(rest, "/series") ||
	       strcmp(rest, "/account/endpoint_costs") == 0;
}
