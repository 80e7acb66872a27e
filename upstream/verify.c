/* verify: see verify.h. */
#include "upstream/verify.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verifier {
	EVP_PKEY *key;
};

struct verifier *verifier_load_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	struct verifier *v;

	if (!f) {
		snprintf(err, errlen, "cannot read public key '%s': %s", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		snprintf(err, errlen, "'%s' is not a PEM RSA public key", path);
		return NULL;
	}
	if (!(v = malloc(sizeof *v))) {
		EVP_PKEY_free(k);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->key = k;
	return v;
}

void verifier_free(struct verifier *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->key);
	free(v);
}

int verifier_check(const struct verifier *v, const char *ts, int64_t now_ms, int64_t max_skew_ms,
		   const char *method, const char *path, size_t path_len, const char *sig_b64,
		   const char **why)
{
	unsigned char sig[1024], msg[8192];
	size_t tl, ml, sl;
	int64_t t = 0;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int n, ok = 0;

	if (!ts || !sig_b64 || !*ts || !*sig_b64) {
		*why = "missing KALSHI-ACCESS-TIMESTAMP or KALSHI-ACCESS-SIGNATURE";
		return -1;
	}
	tl = strlen(ts);
	for (size_t i = 0; i < tl; i++) {
		if (ts[i] < '0' || ts[i] > '9' || i > 15) {
			*why = "KALSHI-ACCESS-TIMESTAMP is not Unix milliseconds";
			return -1;
		}
		t = t * 10 + (ts[i] - '0');
	}
	if (t < now_ms - max_skew_ms || t > now_ms + max_skew_ms) {
		*why = "KALSHI-ACCESS-TIMESTAMP is too far from now";
		return -1;
	}
	ml = tl + strlen(method) + path_len;
	sl = strlen(sig_b64);
	if (ml > sizeof msg || sl > 4 * (sizeof sig / 3) || sl % 4) {
		*why = "signature or path too long";
		return -1;
	}
	memcpy(msg, ts, tl);
	memcpy(msg + tl, method, strlen(method));
	memcpy(msg + tl + strlen(method), path, path_len);
	n = EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, (int)sl);
	if (n < 0) {
		*why = "KALSHI-ACCESS-SIGNATURE is not base64";
		return -1;
	}
	if (sl >= 1 && sig_b64[sl - 1] == '=')
		n--;
	if (sl >= 2 && sig_b64[sl - 2] == '=')
		n--;
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, v->key) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
	    EVP_DigestVerify(ctx, sig, (size_t)n, msg, ml) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		*why = "KALSHI-ACCESS-SIGNATURE does not verify with the client's public key";
		return -1;
	}
	return 0;
}
