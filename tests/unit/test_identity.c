/*
 * Unit tests for policy/identity: the client table, token hashing, and the
 * lookup from Authorization / KALSHI-ACCESS-KEY. A wrong bearer token is a
 * refusal, never a fall-back to the key id.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/identity.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* SHA-256("tok-admin") etc. are computed at set-up through
 * identity_hash_token; one vector is checked against a known digest. */
struct fixture {
	struct identity *t;
	struct gw_limits lim;
};

/* Table: admin (token only), bot (token and key id), watcher (key id only,
 * with a public key file), noauth (neither). */
static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof *f);
	unsigned char h[32];

	if (!f)
		return -1;
	f->t = identity_new();
	if (!f->t)
		return -1;
	f->lim.has_max_order_contracts = 1;
	f->lim.max_order_contracts = 500;
	identity_hash_token("tok-admin", 9, h);
	if (identity_add(f->t, "admin", GW_ROLE_ADMIN, NULL, NULL, NULL, NULL, h) < 0)
		return -1;
	identity_hash_token("tok-bot", 7, h);
	if (identity_add(f->t, "bot", GW_ROLE_TRADER, "alpha", "key-bot", NULL, &f->lim, h) < 0)
		return -1;
	if (identity_add(f->t, "watcher", GW_ROLE_READ_ONLY, NULL, "key-watch", "/keys/w.pem",
			 NULL, NULL) < 0)
		return -1;
	if (identity_add(f->t, "noauth", GW_ROLE_READ_ONLY, NULL, NULL, NULL, NULL, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f) {
		identity_free(f->t);
		test_free(f);
	}
	return 0;
}

static void test_table_contents(void **state)
{
	struct fixture *f = *state;
	enum identity_via via;
	const struct identity_client *c;

	assert_int_equal(identity_count(f->t), 4);
	assert_int_equal(identity_count(NULL), 0);
	c = identity_lookup(f->t, "Bearer tok-bot", NULL, &via);
	assert_non_null(c);
	assert_string_equal(c->name, "bot");
	assert_int_equal(c->role, GW_ROLE_TRADER);
	assert_string_equal(c->session, "alpha");
	assert_string_equal(c->kalshi_key_id, "key-bot");
	assert_null(c->public_key_file);
	assert_ptr_equal(c->limits, &f->lim);
	assert_true(c->has_token);
	c = identity_lookup(f->t, NULL, "key-watch", &via);
	assert_non_null(c);
	assert_string_equal(c->name, "watcher");
	assert_string_equal(c->public_key_file, "/keys/w.pem");
	assert_null(c->session);
	assert_null(c->limits);
	assert_false(c->has_token);
}

static void test_hash_known_vector(void **state)
{
	/* sha256("abc") */
	static const char *want =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	unsigned char h[32], w[32];

	(void)state;
	identity_hash_token("abc", 3, h);
	assert_int_equal(identity_parse_hex(want, w), 0);
	assert_memory_equal(h, w, 32);
	/* the length counts, not a NUL */
	identity_hash_token("abcdef", 3, h);
	assert_memory_equal(h, w, 32);
}

struct lookup_case {
	const char *authorization;
	const char *key_id;
	const char *want;         /* client name, NULL = nobody */
	enum identity_via via;
};

static const struct lookup_case lookup_cases[] = {
	{ "Bearer tok-admin", NULL, "admin", IDENTITY_TOKEN },
	{ "Bearer tok-bot", NULL, "bot", IDENTITY_TOKEN },
	{ "bearer tok-bot", NULL, "bot", IDENTITY_TOKEN },       /* scheme is case-insensitive */
	{ "BEARER tok-bot", NULL, "bot", IDENTITY_TOKEN },
	{ "Bearer   tok-bot", NULL, "bot", IDENTITY_TOKEN },
	{ "Bearer tok-bot", "key-watch", "bot", IDENTITY_TOKEN }, /* a token wins */
	{ "Bearer TOK-BOT", NULL, NULL, IDENTITY_NONE },         /* the token is not */
	{ "Bearer tok-bo", NULL, NULL, IDENTITY_NONE },
	{ "Bearer tok-bot2", NULL, NULL, IDENTITY_NONE },
	{ "Bearer tok-botx", NULL, NULL, IDENTITY_NONE },
	{ "Bearer ", NULL, NULL, IDENTITY_NONE },
	{ "Bearer wrong", NULL, NULL, IDENTITY_NONE },
	/* a wrong token is a refusal even with a matching key id */
	{ "Bearer wrong", "key-bot", NULL, IDENTITY_NONE },
	{ "Bearer wrong", "key-watch", NULL, IDENTITY_NONE },
	{ "Bearer ", "key-bot", NULL, IDENTITY_NONE },
	{ "bearer key-bot", "key-bot", NULL, IDENTITY_NONE },
	{ NULL, "key-bot", "bot", IDENTITY_KEY_ID },
	{ NULL, "key-watch", "watcher", IDENTITY_KEY_ID },
	{ NULL, "KEY-BOT", NULL, IDENTITY_NONE },                /* key ids are exact */
	{ NULL, "key-bo", NULL, IDENTITY_NONE },
	{ NULL, "key-bot ", NULL, IDENTITY_NONE },
	{ NULL, "", NULL, IDENTITY_NONE },
	{ NULL, "nobody", NULL, IDENTITY_NONE },
	{ NULL, NULL, NULL, IDENTITY_NONE },
	{ "", NULL, NULL, IDENTITY_NONE },
	{ "tok-bot", NULL, NULL, IDENTITY_NONE },                /* no scheme */
	{ "Basic dG9rLWJvdA==", NULL, NULL, IDENTITY_NONE },
	{ "Bearertok-bot", NULL, NULL, IDENTITY_NONE },
};

static void test_lookup_table(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < N(lookup_cases); i++) {
		const struct lookup_case *lc = &lookup_cases[i];
		enum identity_via via = (enum identity_via)99;
		const struct identity_client *c = identity_lookup(f->t, lc->authorization,
								   lc->key_id, &via);
		const char *got = c ? c->name : NULL;

		if ((got == NULL) != (lc->want == NULL) || (got && strcmp(got, lc->want) != 0))
			fail_msg("case %zu (Authorization '%s', key '%s'): got '%s', want '%s'", i,
				 lc->authorization ? lc->authorization : "(absent)",
				 lc->key_id ? lc->key_id : "(absent)", got ? got : "(nobody)",
				 lc->want ? lc->want : "(nobody)");
		if (via != lc->via)
			fail_msg("case %zu: via %d, want %d", i, (int)via, (int)lc->via);
	}
}

static void test_lookup_empty_table(void **state)
{
	struct identity *t = identity_new();
	enum identity_via via = IDENTITY_TOKEN;

	(void)state;
	assert_non_null(t);
	assert_int_equal(identity_count(t), 0);
	assert_null(identity_lookup(t, "Bearer x", "k", &via));
	assert_int_equal(via, IDENTITY_NONE);
	assert_null(identity_lookup(t, NULL, "k", &via));
	assert_null(identity_lookup(t, NULL, NULL, &via));
	via = IDENTITY_KEY_ID;
	assert_null(identity_lookup(NULL, "Bearer x", "k", &via));
	assert_int_equal(via, IDENTITY_NONE);
	identity_free(t);
}

/* Many clients: the table grows past its first allocation and every token
 * still finds its own client. */
static void test_many_clients(void **state)
{
	struct identity *t = identity_new();
	enum identity_via via;
	char name[32], tok[32], auth[48];
	unsigned char h[32];

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "c%d", i);
		snprintf(tok, sizeof tok, "token-%d", i);
		identity_hash_token(tok, strlen(tok), h);
		assert_int_equal(identity_add(t, name, GW_ROLE_TRADER, NULL, NULL, NULL, NULL, h), 0);
	}
	assert_int_equal(identity_count(t), 40);
	for (int i = 0; i < 40; i++) {
		const struct identity_client *c;
		snprintf(name, sizeof name, "c%d", i);
		snprintf(auth, sizeof auth, "Bearer token-%d", i);
		c = identity_lookup(t, auth, NULL, &via);
		assert_non_null(c);
		assert_string_equal(c->name, name);
		assert_int_equal(via, IDENTITY_TOKEN);
	}
	identity_free(t);
}

struct hex_case {
	const char *hex;
	int ok;
};

static const struct hex_case hex_cases[] = {
	{ "0000000000000000000000000000000000000000000000000000000000000000", 1 },
	{ "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 1 },
	{ "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", 1 },
	{ "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", 0 },   /* 63 */
	{ "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", 0 }, /* 65 */
	{ "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 0 },
	{ "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aG", 0 },
	{ "ba7816bf8f01cfea414140de5dae2223 00361a396177a9cb410ff61f20015ad", 0 },
	{ "0x7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 0 },
	{ "", 0 },
	{ NULL, 0 },
};

static void test_parse_hex(void **state)
{
	unsigned char out[32], want[32];

	(void)state;
	for (size_t i = 0; i < N(hex_cases); i++) {
		int rc;
		memset(out, 0xAA, sizeof out);
		rc = identity_parse_hex(hex_cases[i].hex, out);
		if ((rc == 0) != hex_cases[i].ok)
			fail_msg("hex '%s': rc %d, want %s", hex_cases[i].hex ? hex_cases[i].hex : "(NULL)",
				 rc, hex_cases[i].ok ? "ok" : "refused");
		if (!hex_cases[i].ok) {
			/* out is written only on success */
			memset(want, 0xAA, sizeof want);
			assert_memory_equal(out, want, 32);
		}
	}
	assert_int_equal(identity_parse_hex(
		"00ff10Ab7f800102030405060708090a0b0c0d0e0f101112131415161718191a", out), 0);
	assert_int_equal(out[0], 0x00);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[2], 0x10);
	assert_int_equal(out[3], 0xab);
	assert_int_equal(out[4], 0x7f);
	assert_int_equal(out[5], 0x80);
	assert_int_equal(out[31], 0x1a);
}

/* A digest given as hex in the configuration (token_sha256) matches the
 * token hashed at request time. */
static void test_configured_hex_digest(void **state)
{
	struct identity *t = identity_new();
	enum identity_via via;
	unsigned char h[32];
	const struct identity_client *c;

	(void)state;
	assert_non_null(t);
	/* sha256("abc") */
	assert_int_equal(identity_parse_hex(
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", h), 0);
	assert_int_equal(identity_add(t, "hexy", GW_ROLE_ADMIN, NULL, NULL, NULL, NULL, h), 0);
	c = identity_lookup(t, "Bearer abc", NULL, &via);
	assert_non_null(c);
	assert_string_equal(c->name, "hexy");
	assert_null(identity_lookup(t, "Bearer abcd", NULL, &via));
	identity_free(t);
}

static void test_free_null(void **state)
{
	(void)state;
	identity_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_table, setup, teardown),
		cmocka_unit_test(test_hash_known_vector),
		cmocka_unit_test(test_lookup_empty_table),
		cmocka_unit_test(test_many_clients),
		cmocka_unit_test(test_parse_hex),
		cmocka_unit_test(test_configured_hex_digest),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
