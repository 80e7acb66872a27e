/*
 * Unit tests for upstream/signer.
 *
 * Keys are generated here and written to a temporary folder in the formats
 * Kalshi hands out (PKCS#1) and the other common one (PKCS#8). Every
 * signature is checked twice, independently of the signer: in-process with
 * EVP_DigestVerify demanding a 32-byte salt, and with the openssl command
 * line exactly as KALSHI_API.md gives it. The negative cases are the
 * mistakes that make Kalshi answer 401: the query signed, a timestamp in
 * seconds, OpenSSL 3's default maximum salt, a lower-case method, another
 * key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "upstream/signer.h"

#define TS_MS   INT64_C(1703123456789)
#define BALANCE "/trade-api/v2/portfolio/balance"

/* Everything the tests share, made once by setup_keys(). */
static struct {
	char dir[64];
	EVP_PKEY *key_a;            /* the "team" key, 2048 bits */
	EVP_PKEY *key_b;            /* another 2048-bit key */
	struct signer *sa1;         /* key_a loaded from PKCS#1 */
	struct signer *sa8;         /* key_a loaded from PKCS#8 */
	struct signer *sb;          /* key_b loaded from PKCS#1 */
} fx;

/* Files setup_keys() may create, removed by teardown_keys(). */
static const char *const fx_files[] = {
	"a_pkcs1.pem", "a_pkcs8.pem", "a_pub.pem", "b_pkcs1.pem", "b_pub.pem",
	"ec.pem", "ed25519.pem", "rsa1024.pem", "enc_pkcs8.pem", "enc_pkcs1.pem",
	"garbage.pem", "empty.pem", "pub_only.pem", "cert_like.pem",
	"msg.txt", "sig.bin", "rsa4096.pem", "rsa4096_pub.pem",
};

static char enc_pass[] = "correct horse";

/* Writes fx.dir/name into buf. */
static void fx_path(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", fx.dir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

/* Writes len bytes to fx.dir/name. */
static void write_bytes(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	fx_path(path, sizeof(path), name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

enum pem_kind { PEM_PKCS1, PEM_PKCS8, PEM_PUB, PEM_ENC_PKCS8, PEM_ENC_PKCS1 };

/* Writes pkey to fx.dir/name in the given PEM form. */
static void write_pem(const char *name, EVP_PKEY *pkey, enum pem_kind kind)
{
	char path[128];
	BIO *bio;
	int ok = 0;

	fx_path(path, sizeof(path), name);
	bio = BIO_new_file(path, "w");
	assert_non_null(bio);
	switch (kind) {
	case PEM_PKCS1:
		ok = PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_PKCS8:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_PUB:
		ok = PEM_write_bio_PUBKEY(bio, pkey);
		break;
	case PEM_ENC_PKCS8:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), NULL, 0,
						   NULL, enc_pass);
		break;
	case PEM_ENC_PKCS1:
		ok = PEM_write_bio_PrivateKey_traditional(bio, pkey, EVP_aes_256_cbc(),
							  (unsigned char *)enc_pass,
							  (int)strlen(enc_pass), NULL, NULL);
		break;
	}
	assert_int_equal(ok, 1);
	BIO_free(bio);
}

/* Reads fx.dir/name into buf (NUL-terminated); returns the length. */
static size_t read_text(const char *name, char *buf, size_t cap)
{
	char path[128];
	FILE *f;
	size_t n;

	fx_path(path, sizeof(path), name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	assert_true(n < cap - 1);
	buf[n] = '\0';
	fclose(f);
	return n;
}

/* Loads fx.dir/name with signer_load_file, asserting success. */
static struct signer *load_ok(const char *name)
{
	char path[128];
	char err[256] = "";
	struct signer *s;

	fx_path(path, sizeof(path), name);
	s = signer_load_file(path, err, sizeof(err));
	if (s == NULL)
		printf("load %s: %s\n", path, err);
	assert_non_null(s);
	return s;
}

/* Builds the message Kalshi expects: decimal ts, method, path. */
static size_t make_msg(char *buf, size_t cap, int64_t ts, const char *method, const char *path)
{
	int n = snprintf(buf, cap, "%" PRId64 "%s%s", ts, method, path);

	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* Decodes padded standard base64 into out; returns the byte count. */
static size_t b64_decode(const char *b64, unsigned char *out, size_t cap)
{
	size_t len = strlen(b64);
	size_t pad = 0;
	int n;

	assert_true(len % 4 == 0 && len / 4 * 3 <= cap);
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	assert_true(n >= 0);
	while (pad < 2 && len > pad && b64[len - 1 - pad] == '=')
		pad++;
	return (size_t)n - pad;
}

/* In-process verification: RSA-PSS, SHA-256, MGF1-SHA-256, the given salt
 * length (32, or an RSA_PSS_SALTLEN_* constant). Returns 1 when valid. */
static int verify_evp(EVP_PKEY *pkey, const char *msg, size_t msg_len,
		      const unsigned char *sig, size_t sig_len, int saltlen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (md == NULL)
		return 0;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1)
		ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, msg_len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/* As verify_evp with a 32-byte salt, taking a base64 signature. */
static int verify_b64(EVP_PKEY *pkey, const char *msg, const char *b64)
{
	unsigned char sig[1024];
	size_t n = b64_decode(b64, sig, sizeof(sig));

	return verify_evp(pkey, msg, strlen(msg), sig, n, 32);
}

/* Verification with the openssl command line (independent of this
 * process's OpenSSL use): writes msg.txt and sig.bin and runs openssl dgst
 * with the given rsa_pss_saltlen ("digest", "max", "32"). Returns 1 when
 * openssl says the signature is valid. */
static int verify_cli(const char *pub_name, const char *msg, const unsigned char *sig,
		      size_t sig_len, const char *saltlen)
{
	char cmd[1024];
	char pub[128], msgp[128], sigp[128];
	int n, rc;

	write_bytes("msg.txt", msg, strlen(msg));
	write_bytes("sig.bin", sig, sig_len);
	fx_path(pub, sizeof(pub), pub_name);
	fx_path(msgp, sizeof(msgp), "msg.txt");
	fx_path(sigp, sizeof(sigp), "sig.bin");
	n = snprintf(cmd, sizeof(cmd),
		     "openssl dgst -sha256 -sigopt rsa_padding_mode:pss "
		     "-sigopt rsa_pss_saltlen:%s -sigopt rsa_mgf1_md:sha256 "
		     "-verify '%s' -signature '%s' '%s' >/dev/null 2>&1",
		     saltlen, pub, sigp, msgp);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	rc = system(cmd);
	assert_true(rc != -1);
	return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* As verify_cli with "digest", taking a base64 signature. */
static int verify_cli_b64(const char *pub_name, const char *msg, const char *b64)
{
	unsigned char sig[1024];
	size_t n = b64_decode(b64, sig, sizeof(sig));

	return verify_cli(pub_name, msg, sig, n, "digest");
}

/* Signs with s, asserting success; out must hold SIGNER_SIG_MAX bytes. */
static void sign_ok(const struct signer *s, int64_t ts, const char *method,
		    const char *path, size_t path_len, char *out)
{
	char err[256] = "";
	int rc = signer_sign(s, ts, method, path, path_len, out, SIGNER_SIG_MAX,
			     err, sizeof(err));

	if (rc != 0)
		printf("signer_sign: %s\n", err);
	assert_int_equal(rc, 0);
}

/* Group setup: keys, key files, and three signers. */
static int setup_keys(void **state)
{
	EVP_PKEY *ec = NULL, *ed = NULL, *small = NULL;
	char text[16384];
	static const char garbage[] = "this is not a key\n\x01\x02\x03";

	(void)state;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_signer.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	if (system("openssl version >/dev/null 2>&1") != 0) {
		printf("the openssl command is needed to verify signatures\n");
		return -1;
	}
	fx.key_a = EVP_RSA_gen(2048);
	fx.key_b = EVP_RSA_gen(2048);
	small = EVP_RSA_gen(1024);
	ec = EVP_EC_gen("P-256");
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (fx.key_a == NULL || fx.key_b == NULL || small == NULL || ec == NULL || ed == NULL)
		return -1;

	write_pem("a_pkcs1.pem", fx.key_a, PEM_PKCS1);
	write_pem("a_pkcs8.pem", fx.key_a, PEM_PKCS8);
	write_pem("a_pub.pem", fx.key_a, PEM_PUB);
	write_pem("b_pkcs1.pem", fx.key_b, PEM_PKCS1);
	write_pem("b_pub.pem", fx.key_b, PEM_PUB);
	write_pem("ec.pem", ec, PEM_PKCS8);
	write_pem("ed25519.pem", ed, PEM_PKCS8);
	write_pem("rsa1024.pem", small, PEM_PKCS1);
	write_pem("enc_pkcs8.pem", fx.key_a, PEM_ENC_PKCS8);
	write_pem("enc_pkcs1.pem", fx.key_a, PEM_ENC_PKCS1);
	write_pem("pub_only.pem", fx.key_a, PEM_PUB);
	write_bytes("garbage.pem", garbage, sizeof(garbage) - 1);
	write_bytes("empty.pem", "", 0);
	/* A PEM block of the right kind whose body is not a key. */
	write_bytes("cert_like.pem",
		    "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		    strlen("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"));

	/* The files really are in the forms the tests claim. */
	read_text("a_pkcs1.pem", text, sizeof(text));
	assert_non_null(strstr(text, "-----BEGIN RSA PRIVATE KEY-----"));
	read_text("a_pkcs8.pem", text, sizeof(text));
	assert_non_null(strstr(text, "-----BEGIN PRIVATE KEY-----"));
	read_text("enc_pkcs8.pem", text, sizeof(text));
	assert_non_null(strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	read_text("enc_pkcs1.pem", text, sizeof(text));
	assert_non_null(strstr(text, "Proc-Type: 4,ENCRYPTED"));

	fx.sa1 = load_ok("a_pkcs1.pem");
	fx.sa8 = load_ok("a_pkcs8.pem");
	fx.sb = load_ok("b_pkcs1.pem");
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
	return 0;
}

/* Group teardown: signers, keys and the temporary folder. */
static int teardown_keys(void **state)
{
	char path[128];
	size_t i;

	(void)state;
	signer_free(fx.sa1);
	signer_free(fx.sa8);
	signer_free(fx.sb);
	EVP_PKEY_free(fx.key_a);
	EVP_PKEY_free(fx.key_b);
	for (i = 0; i < sizeof(fx_files) / sizeof(fx_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx.dir, fx_files[i]);
		unlink(path);
	}
	rmdir(fx.dir);
	return 0;
}

/* A PKCS#1 key signs the example from KALSHI_API.md; both verifiers agree. */
static void test_pkcs1_signature_verifies(void **state)
{
	char sig[SIGNER_SIG_MAX];
	char msg[256];

	(void)state;
	sign_ok(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE), sig);
	make_msg(msg, sizeof(msg), TS_MS, "GET", BALANCE);
	assert_string_equal(msg, "1703123456789GET/trade-api/v2/portfolio/balance");
	assert_true(verify_b64(fx.key_a, msg, sig));
	assert_true(verify_cli_b64("a_pub.pem", msg, sig));
}

/* The same key from PKCS#8 signs just as well; PSS salts are random, so
 * the two signatures differ yet both verify. */
static void test_pkcs8_signature_verifies(void **state)
{
	char sig1[SIGNER_SIG_MAX], sig8[SIGNER_SIG_MAX];
	char msg[256];
	const char *path = "/trade-api/v2/portfolio/orders";

	(void)state;
	sign_ok(fx.sa8, TS_MS, "POST", path, strlen(path), sig8);
	sign_ok(fx.sa1, TS_MS, "POST", path, strlen(path), sig1);
	make_msg(msg, sizeof(msg), TS_MS, "POST", path);
	assert_true(verify_b64(fx.key_a, msg, sig8));
	assert_true(verify_cli_b64("a_pub.pem", msg, sig8));
	assert_true(verify_b64(fx.key_a, msg, sig1));
	assert_string_not_equal(sig1, sig8);
}

/* signer_load_pem takes the same PEM text from memory. */
static void test_load_from_memory(void **state)
{
	char pem[16384];
	char err[256] = "";
	char sig[SIGNER_SIG_MAX];
	char msg[256];
	struct signer *s;
	size_t n;

	(void)state;
	n = read_text("a_pkcs1.pem", pem, sizeof(pem));
	s = signer_load_pem(pem, n, err, sizeof(err));
	assert_non_null(s);
	sign_ok(s, TS_MS, "DELETE", "/trade-api/v2/portfolio/order_groups/g1", 39, sig);
	make_msg(msg, sizeof(msg), TS_MS, "DELETE", "/trade-api/v2/portfolio/order_groups/g1");
	assert_true(verify_b64(fx.key_a, msg, sig));
	signer_free(s);

	n = read_text("a_pkcs8.pem", pem, sizeof(pem));
	s = signer_load_pem(pem, n, err, sizeof(err));
	assert_non_null(s);
	signer_free(s);
}

/* The WebSocket upgrade signs GET /trade-api/ws/v2. */
static void test_websocket_signature(void **state)
{
	char sig[SIGNER_SIG_MAX];
	char msg[256];

	(void)state;
	sign_ok(fx.sa1, TS_MS, "GET", "/trade-api/ws/v2", 16, sig);
	make_msg(msg, sizeof(msg), TS_MS, "GET", "/trade-api/ws/v2");
	assert_true(verify_b64(fx.key_a, msg, sig));
	assert_true(verify_cli_b64("a_pub.pem", msg, sig));
}

/* Only the bytes before '?' are signed: the signature made with the cut
 * length verifies against the query-less message, one over the whole target
 * does not (and vice versa). */
static void test_query_not_signed(void **state)
{
	const char *target = "/trade-api/v2/markets?limit=5&status=open";
	size_t cut = strcspn(target, "?");
	char good[SIGNER_SIG_MAX], bad[SIGNER_SIG_MAX];
	char msg[256], msg_q[256];

	(void)state;
	assert_int_equal(cut, strlen("/trade-api/v2/markets"));
	sign_ok(fx.sa1, TS_MS, "GET", target, cut, good);
	sign_ok(fx.sa1, TS_MS, "GET", target, strlen(target), bad);
	make_msg(msg, sizeof(msg), TS_MS, "GET", "/trade-api/v2/markets");
	make_msg(msg_q, sizeof(msg_q), TS_MS, "GET", target);

	assert_true(verify_b64(fx.key_a, msg, good));
	assert_true(verify_cli_b64("a_pub.pem", msg, good));
	assert_false(verify_b64(fx.key_a, msg, bad));
	assert_false(verify_cli_b64("a_pub.pem", msg, bad));
	assert_false(verify_b64(fx.key_a, msg_q, good));
}

/* A timestamp in seconds is a different message. */
static void test_seconds_timestamp_fails(void **state)
{
	char sig_ms[SIGNER_SIG_MAX], sig_s[SIGNER_SIG_MAX];
	char msg_ms[256], msg_s[256];

	(void)state;
	sign_ok(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE), sig_ms);
	sign_ok(fx.sa1, TS_MS / 1000, "GET", BALANCE, strlen(BALANCE), sig_s);
	make_msg(msg_ms, sizeof(msg_ms), TS_MS, "GET", BALANCE);
	make_msg(msg_s, sizeof(msg_s), TS_MS / 1000, "GET", BALANCE);

	assert_true(verify_b64(fx.key_a, msg_ms, sig_ms));
	assert_false(verify_b64(fx.key_a, msg_s, sig_ms));
	assert_false(verify_cli_b64("a_pub.pem", msg_s, sig_ms));
	assert_false(verify_b64(fx.key_a, msg_ms, sig_s));
	assert_false(verify_cli_b64("a_pub.pem", msg_ms, sig_s));
}

/* OpenSSL 3's default (maximum) salt makes a valid PSS signature that a
 * digest-length verifier rejects; the signer's does not have that problem. */
static void test_max_salt_rejected(void **state)
{
	unsigned char sig[512];
	size_t sig_len = sizeof(sig);
	char msg[256];
	char ours[SIGNER_SIG_MAX];
	unsigned char raw[512];
	size_t raw_len;
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pctx = NULL;

	(void)state;
	make_msg(msg, sizeof(msg), TS_MS, "GET", BALANCE);
	md = EVP_MD_CTX_new();
	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, fx.key_a), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_MAX), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)msg,
					strlen(msg)), 1);
	EVP_MD_CTX_free(md);

	/* It is a valid signature, with the wrong salt length. */
	assert_true(verify_evp(fx.key_a, msg, strlen(msg), sig, sig_len, RSA_PSS_SALTLEN_MAX));
	assert_true(verify_cli("a_pub.pem", msg, sig, sig_len, "max"));
	assert_false(verify_evp(fx.key_a, msg, strlen(msg), sig, sig_len, 32));
	assert_false(verify_cli("a_pub.pem", msg, sig, sig_len, "digest"));

	/* The signer's salt is exactly 32 bytes, not the maximum. */
	sign_ok(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE), ours);
	raw_len = b64_decode(ours, raw, sizeof(raw));
	assert_true(verify_evp(fx.key_a, msg, strlen(msg), raw, raw_len, 32));
	assert_true(verify_cli("a_pub.pem", msg, raw, raw_len, "32"));
	assert_false(verify_evp(fx.key_a, msg, strlen(msg), raw, raw_len, RSA_PSS_SALTLEN_MAX));
	assert_false(verify_cli("a_pub.pem", msg, raw, raw_len, "max"));
}

/* The method is signed as given: "get" is not "GET". */
static void test_method_case_matters(void **state)
{
	char sig[SIGNER_SIG_MAX], sig_lower[SIGNER_SIG_MAX];
	char msg_upper[256], msg_lower[256];

	(void)state;
	sign_ok(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE), sig);
	sign_ok(fx.sa1, TS_MS, "get", BALANCE, strlen(BALANCE), sig_lower);
	make_msg(msg_upper, sizeof(msg_upper), TS_MS, "GET", BALANCE);
	make_msg(msg_lower, sizeof(msg_lower), TS_MS, "get", BALANCE);

	assert_false(verify_b64(fx.key_a, msg_lower, sig));
	assert_false(verify_cli_b64("a_pub.pem", msg_lower, sig));
	assert_false(verify_b64(fx.key_a, msg_upper, sig_lower));
	assert_false(verify_cli_b64("a_pub.pem", msg_upper, sig_lower));
	assert_true(verify_b64(fx.key_a, msg_lower, sig_lower));
}

/* A signature by another key does not verify with the team key, nor the
 * other way round. */
static void test_other_key_fails(void **state)
{
	char sig_a[SIGNER_SIG_MAX], sig_b[SIGNER_SIG_MAX];
	char msg[256];

	(void)state;
	sign_ok(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE), sig_a);
	sign_ok(fx.sb, TS_MS, "GET", BALANCE, strlen(BALANCE), sig_b);
	make_msg(msg, sizeof(msg), TS_MS, "GET", BALANCE);

	assert_true(verify_b64(fx.key_b, msg, sig_b));
	assert_true(verify_cli_b64("b_pub.pem", msg, sig_b));
	assert_false(verify_b64(fx.key_b, msg, sig_a));
	assert_false(verify_cli_b64("b_pub.pem", msg, sig_a));
	assert_false(verify_b64(fx.key_a, msg, sig_b));
	assert_false(verify_cli_b64("a_pub.pem", msg, sig_b));
}

/* 2048-bit signatures are 344 characters of padded standard base64 on one
 * line, decoding to 256 bytes. */
static void test_base64_format(void **state)
{
	char sig[SIGNER_SIG_MAX];
	unsigned char raw[512];
	size_t i, len;

	(void)state;
	for (int round = 0; round < 20; round++) {
		sign_ok(fx.sa1, TS_MS + round, "GET", BALANCE, strlen(BALANCE), sig);
		len = strlen(sig);
		assert_int_equal(len, 344);
		assert_null(strchr(sig, '\n'));
		assert_null(strchr(sig, '\r'));
		for (i = 0; i < len - 2; i++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789+/", sig[i]));
		assert_string_equal(sig + 342, "==");   /* 256 = 3 * 85 + 1 */
		assert_int_equal(b64_decode(sig, raw, sizeof(raw)), 256);
	}
}

/* A 4096-bit key gives 684 characters, still within SIGNER_SIG_MAX. */
static void test_4096_bit_key(void **state)
{
	EVP_PKEY *big = EVP_RSA_gen(4096);
	struct signer *s;
	char sig[SIGNER_SIG_MAX];
	char msg[256];

	(void)state;
	assert_non_null(big);
	write_pem("rsa4096.pem", big, PEM_PKCS1);
	write_pem("rsa4096_pub.pem", big, PEM_PUB);
	s = load_ok("rsa4096.pem");
	sign_ok(s, TS_MS, "GET", BALANCE, strlen(BALANCE), sig);
	assert_int_equal(strlen(sig), 684);
	make_msg(msg, sizeof(msg), TS_MS, "GET", BALANCE);
	assert_true(verify_b64(big, msg, sig));
	assert_true(verify_cli_b64("rsa4096_pub.pem", msg, sig));
	signer_free(s);
	EVP_PKEY_free(big);
}

/* Loads fx.dir/name expecting failure; returns the message in err. */
static void load_fails(const char *name, char *err, size_t cap)
{
	char path[128];
	struct signer *s;

	fx_path(path, sizeof(path), name);
	err[0] = '\0';
	s = signer_load_file(path, err, cap);
	assert_null(s);
	assert_true(err[0] != '\0');
}

/* The message never holds key material: no PEM armour and no piece of the
 * key's base64 body. */
static void assert_no_key_material(const char *err)
{
	char pem[16384];
	char line[65];
	const char *p;

	assert_null(strstr(err, "-----"));
	assert_null(strstr(err, "BEGIN"));
	read_text("a_pkcs1.pem", pem, sizeof(pem));
	p = strchr(pem, '\n') + 1;               /* first base64 line */
	for (; *p != '\0' && *p != '-'; p = strchr(p, '\n') + 1) {
		memcpy(line, p, 12);
		line[12] = '\0';
		assert_null(strstr(err, line));
	}
}

/* Load failures give clear lower-case messages naming the file. */
static void test_load_errors(void **state)
{
	char err[512];
	char path[128], expect[256];

	(void)state;
	fx_path(path, sizeof(path), "nope.pem");
	load_fails("nope.pem", err, sizeof(err));
	snprintf(expect, sizeof(expect),
		 "cannot read key file '%s': No such file or directory", path);
	assert_string_equal(err, expect);

	fx_path(path, sizeof(path), "garbage.pem");
	load_fails("garbage.pem", err, sizeof(err));
	snprintf(expect, sizeof(expect), "'%s' is not a PEM RSA private key", path);
	assert_string_equal(err, expect);

	load_fails("cert_like.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is not a PEM RSA private key"));
	load_fails("pub_only.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is not a PEM RSA private key"));
	load_fails("empty.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is empty"));

	load_fails("ec.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is an EC key, not an RSA key"));
	load_fails("ed25519.pem", err, sizeof(err));
	assert_non_null(strstr(err, "not an RSA key"));

	load_fails("rsa1024.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is a 1024-bit RSA key; at least 2048 bits are required"));

	load_fails("enc_pkcs8.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is an encrypted key"));
	assert_no_key_material(err);
	load_fails("enc_pkcs1.pem", err, sizeof(err));
	assert_non_null(strstr(err, "is an encrypted key"));

	/* A folder opens but cannot be read. */
	load_fails(".", err, sizeof(err));
	assert_non_null(strstr(err, "cannot read key file"));
	assert_non_null(strstr(err, "Is a directory"));

	assert_null(signer_load_file(NULL, err, sizeof(err)));
	assert_string_equal(err, "no key file given");
}

/* Memory loads fail the same way; err may be tiny or absent; the error
 * queue is left clean. */
static void test_load_pem_errors(void **state)
{
	char pem[16384];
	char err[256];
	char tiny[8];
	size_t n;

	(void)state;
	assert_null(signer_load_pem("nope", 4, err, sizeof(err)));
	assert_string_equal(err, "the key is not a PEM RSA private key");
	assert_null(signer_load_pem(NULL, 0, err, sizeof(err)));
	assert_string_equal(err, "the key is empty");

	/* A PKCS#1 key cut in half. */
	n = read_text("a_pkcs1.pem", pem, sizeof(pem));
	assert_null(signer_load_pem(pem, n / 2, err, sizeof(err)));
	assert_string_equal(err, "the key is not a PEM RSA private key");
	assert_no_key_material(err);

	n = read_text("enc_pkcs8.pem", pem, sizeof(pem));
	memset(tiny, 'x', sizeof(tiny));
	assert_null(signer_load_pem(pem, n, tiny, sizeof(tiny)));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_null(signer_load_pem(pem, n, NULL, 0));
	assert_int_equal(ERR_peek_error(), 0);
}

/* Refused sign calls return -1, fill err and leave out alone. */
static void test_sign_errors(void **state)
{
	char out[SIGNER_SIG_MAX];
	char err[256];
	char *long_path;
	char msg[256];
	size_t max_path = 8192 - 13 - 3;        /* 13-digit ts, "GET" */
	char *long_msg;

	(void)state;
	memset(out, 'z', sizeof(out));
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE),
				     out, 344, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too small"));
	assert_int_equal(out[0], 'z');
	/* 345 bytes is enough for 344 characters and the NUL. */
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "GET", BALANCE, strlen(BALANCE),
				     out, 345, err, sizeof(err)), 0);
	make_msg(msg, sizeof(msg), TS_MS, "GET", BALANCE);
	assert_true(verify_b64(fx.key_a, msg, out));

	memset(out, 'z', sizeof(out));
	assert_int_equal(signer_sign(NULL, TS_MS, "GET", BALANCE, 5, out, sizeof(out),
				     err, sizeof(err)), -1);
	assert_int_equal(signer_sign(fx.sa1, TS_MS, NULL, BALANCE, 5, out, sizeof(out),
				     err, sizeof(err)), -1);
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "", BALANCE, 5, out, sizeof(out),
				     err, sizeof(err)), -1);
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "GET", NULL, 5, out, sizeof(out),
				     err, sizeof(err)), -1);
	assert_int_equal(signer_sign(fx.sa1, -1, "GET", BALANCE, 5, out, sizeof(out),
				     err, sizeof(err)), -1);
	assert_non_null(strstr(err, "negative"));
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "GET", BALANCE, 5, NULL, sizeof(out),
				     err, sizeof(err)), -1);
	assert_int_equal(out[0], 'z');

	/* The message cap: exactly 8 KiB signs, one byte more is refused. */
	long_path = malloc(max_path + 2);
	assert_non_null(long_path);
	memset(long_path, 'a', max_path + 1);
	long_path[0] = '/';
	long_path[max_path + 1] = '\0';
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "GET", long_path, max_path + 1, out,
				     sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "path too long"));
	assert_int_equal(out[0], 'z');
	assert_int_equal(signer_sign(fx.sa1, TS_MS, "GET", long_path, SIZE_MAX, out,
				     sizeof(out), err, sizeof(err)), -1);
	sign_ok(fx.sa1, TS_MS, "GET", long_path, max_path, out);
	long_path[max_path] = '\0';
	long_msg = malloc(8192 + 1);
	assert_non_null(long_msg);
	assert_int_equal(make_msg(long_msg, 8192 + 1, TS_MS, "GET", long_path), 8192);
	assert_true(verify_b64(fx.key_a, long_msg, out));
	free(long_msg);
	free(long_path);

	/* Empty path and NULL err are accepted. */
	assert_int_equal(signer_sign(fx.sa1, 0, "GET", NULL, 0, out, sizeof(out), NULL, 0), 0);
	assert_true(verify_b64(fx.key_a, "0GET", out));
}

#define THREADS 4
#define PER_THREAD 200

struct worker {
	pthread_t tid;
	int index;
	int signed_ok;
	int verified;
};

/* Signs PER_THREAD distinct messages with the shared signer and verifies
 * each; counts results (cmocka asserts are not thread-safe). */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char sig[SIGNER_SIG_MAX];
	char path[64], msg[128];
	char err[256];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		int64_t ts = TS_MS + w->index * 100000 + i;
		int n = snprintf(path, sizeof(path), "/trade-api/v2/markets/T%d-%d", w->index, i);

		if (signer_sign(fx.sa1, ts, "GET", path, (size_t)n, sig, sizeof(sig),
				err, sizeof(err)) != 0)
			continue;
		w->signed_ok++;
		snprintf(msg, sizeof(msg), "%" PRId64 "GET%s", ts, path);
		if (verify_b64(fx.key_a, msg, sig))
			w->verified++;
	}
	return NULL;
}

/* Four threads share one signer; every signature verifies. */
static void test_threads(void **state)
{
	struct worker w[THREADS];
	int i;

	(void)state;
	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++) {
		w[i].index = i;
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].signed_ok, PER_THREAD);
		assert_int_equal(w[i].verified, PER_THREAD);
	}
}

/* signer_free(NULL) is a no-op. */
static void test_free_null(void **state)
{
	(void)state;
	signer_free(NULL);
}

/* signer_now_ms is wall-clock milliseconds. */
static void test_now_ms(void **state)
{
	int64_t a, b;
	time_t t;

	(void)state;
	t = time(NULL);
	a = signer_now_ms();
	b = signer_now_ms();
	assert_true(b >= a);
	assert_true(a > INT64_C(1600000000000));                  /* after 2020 */
	assert_true(a / 1000 >= (int64_t)t - 1 && a / 1000 <= (int64_t)t + 1);
}

/* Runs every test with one set of keys made by setup_keys(). */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkcs1_signature_verifies),
		cmocka_unit_test(test_pkcs8_signature_verifies),
		cmocka_unit_test(test_load_from_memory),
		cmocka_unit_test(test_websocket_signature),
		cmocka_unit_test(test_query_not_signed),
		cmocka_unit_test(test_seconds_timestamp_fails),
		cmocka_unit_test(test_max_salt_rejected),
		cmocka_unit_test(test_method_case_matters),
		cmocka_unit_test(test_other_key_fails),
		cmocka_unit_test(test_base64_format),
		cmocka_unit_test(test_4096_bit_key),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_pem_errors),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_now_ms),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
