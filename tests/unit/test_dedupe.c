/*
 * Unit tests for gateway/dedupe: the client_order_ids sent within the
 * window. The clock is the caller's (now_ms is a parameter of
 * dedupe_claim), so every test drives time by hand.
 *
 * Timing contract as the code has it: times are kept in 16 ms ticks, the
 * first claim is tick 1, and an entry is expired once (now tick - claim
 * tick) * 16 > window_ms. So an entry is live for at least window - 16 ms
 * after its claim and gone at window + 32 ms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "gateway/dedupe.h"

#define WINDOW_MS INT64_C(60000)
#define T0 INT64_C(1000000)      /* any clock value; not 16 (see test_clock_start) */
#define UUID_A "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define UUID_B "ffffffff-ffff-ffff-ffff-ffffffffffff"

/* Claims id at now and returns the result; *oid gets the order id text. */
static int claim(struct dedupe *d, const char *id, int64_t now, char oid[64])
{
	memset(oid, 'x', 64);
	oid[63] = '\0';
	return dedupe_claim(d, id, now, oid, 64);
}

/* A first claim is 0; the same id again (in flight, no order id yet) is 1
 * with an empty order id; another id is independent. */
static void test_claim_and_in_flight(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char oid[64];

	(void)state;
	assert_non_null(d);
	assert_int_equal(claim(d, "c1", T0, oid), 0);
	assert_int_equal(claim(d, "c1", T0, oid), 1);
	assert_string_equal(oid, "");
	assert_int_equal(claim(d, "c1", T0 + 1000, oid), 1);
	assert_string_equal(oid, "");
	assert_int_equal(claim(d, "c2", T0 + 1000, oid), 0);
	assert_int_equal(claim(d, "c2", T0 + 1000, oid), 1);
	/* case and prefixes matter: other ids */
	assert_int_equal(claim(d, "C1", T0, oid), 0);
	assert_int_equal(claim(d, "c", T0, oid), 0);
	assert_int_equal(claim(d, "c1 ", T0, oid), 0);
	dedupe_free(d);
}

/* release forgets the id: it can be claimed again at once, and then is a
 * duplicate again. Releasing an unknown id changes nothing. */
static void test_release(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char oid[64];

	(void)state;
	assert_int_equal(claim(d, "r1", T0, oid), 0);
	assert_int_equal(claim(d, "r2", T0, oid), 0);
	dedupe_release(d, "r1");
	assert_int_equal(claim(d, "r1", T0 + 16, oid), 0);
	assert_int_equal(claim(d, "r1", T0 + 32, oid), 1);
	assert_int_equal(claim(d, "r2", T0 + 32, oid), 1);     /* untouched */
	dedupe_release(d, "never-claimed");
	dedupe_release(d, "");
	dedupe_release(d, NULL);
	assert_int_equal(claim(d, "r2", T0 + 32, oid), 1);
	/* release after accepted forgets the order id too */
	dedupe_accepted(d, "r2", UUID_A);
	dedupe_release(d, "r2");
	assert_int_equal(claim(d, "r2", T0 + 48, oid), 0);
	assert_int_equal(claim(d, "r2", T0 + 48, oid), 1);
	assert_string_equal(oid, "");
	dedupe_free(d);
}

/* accepted keeps a canonical lower-case UUID order id: a duplicate then
 * carries it, byte for byte. */
static void test_accepted_uuid_round_trip(void **state)
{
	static const char *uuids[] = {
		UUID_A, UUID_B,
		"00000000-0000-0000-0000-000000000001",
		"12345678-9abc-def0-1234-56789abcdef0",
	};
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char id[32], oid[64];

	(void)state;
	for (size_t i = 0; i < sizeof(uuids) / sizeof(uuids[0]); i++) {
		snprintf(id, sizeof(id), "acc-%zu", i);
		assert_int_equal(claim(d, id, T0, oid), 0);
		dedupe_accepted(d, id, uuids[i]);
	}
	for (size_t i = 0; i < sizeof(uuids) / sizeof(uuids[0]); i++) {
		snprintf(id, sizeof(id), "acc-%zu", i);
		assert_int_equal(claim(d, id, T0 + 5000, oid), 1);
		assert_string_equal(oid, uuids[i]);
	}
	/* a later accepted replaces the order id */
	dedupe_accepted(d, "acc-0", UUID_B);
	assert_int_equal(claim(d, "acc-0", T0 + 5000, oid), 1);
	assert_string_equal(oid, UUID_B);
	dedupe_free(d);
}

/* Any other form of order id is not kept (the duplicate carries ""), and
 * does not wipe a UUID already kept. The all-zero UUID reads as unknown. */
static void test_accepted_non_uuid(void **state)
{
	static const char *bad[] = {
		"",
		"order-1",
		"0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",          /* upper case */
		"0f1e2d3c4b5a69788796a5b4c3d2e1f0",              /* no dashes */
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f",           /* 35 chars */
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00",         /* 37 chars */
		"0f1e2d3c-4b5a-6978-8796_a5b4c3d2e1f0",          /* wrong separator */
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",          /* not hex */
		"{0f1e2d3-4b5a-6978-8796-a5b4c3d2e1f0}",
		"00000000-0000-0000-0000-000000000000",          /* stored as unknown */
	};
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char id[32], oid[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(id, sizeof(id), "nu-%zu", i);
		assert_int_equal(claim(d, id, T0, oid), 0);
		dedupe_accepted(d, id, bad[i]);
		assert_int_equal(claim(d, id, T0, oid), 1);
		if (strcmp(oid, "") != 0)
			fail_msg("order id '%s' was kept as '%s'", bad[i], oid);
	}
	/* a non-UUID after a UUID leaves the UUID */
	assert_int_equal(claim(d, "keep", T0, oid), 0);
	dedupe_accepted(d, "keep", UUID_A);
	dedupe_accepted(d, "keep", "not-a-uuid");
	assert_int_equal(claim(d, "keep", T0, oid), 1);
	assert_string_equal(oid, UUID_A);
	/* accepted for an id never claimed (or NULLs) stores nothing */
	dedupe_accepted(d, "ghost", UUID_A);
	dedupe_accepted(d, NULL, UUID_A);
	dedupe_accepted(d, "keep", NULL);
	assert_int_equal(claim(d, "ghost", T0, oid), 0);
	assert_int_equal(claim(d, "ghost", T0, oid), 1);
	assert_string_equal(oid, "");
	dedupe_free(d);
}

/* The order id buffer: under 37 bytes it gets "", with cap 0 it is not
 * written at all; the answer is still 1. */
static void test_order_id_buffer(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char small[36], exact[37];

	(void)state;
	assert_int_equal(dedupe_claim(d, "b1", T0, NULL, 0), 0);
	dedupe_accepted(d, "b1", UUID_A);
	memset(small, 'x', sizeof(small));
	assert_int_equal(dedupe_claim(d, "b1", T0, small, sizeof(small)), 1);
	assert_string_equal(small, "");
	assert_int_equal(dedupe_claim(d, "b1", T0, exact, sizeof(exact)), 1);
	assert_string_equal(exact, UUID_A);
	small[0] = 'x';
	assert_int_equal(dedupe_claim(d, "b1", T0, small, 0), 1);
	assert_int_equal(small[0], 'x');
	assert_int_equal(dedupe_claim(d, "b1", T0, NULL, 0), 1);
	dedupe_free(d);
}

/* Expiry by the injected clock: still a duplicate window - 16 ms after the
 * claim (and exactly at the window), free again at window + 32 ms; the
 * window counts from the claim, not from the accepted. */
static void test_expiry(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char oid[64];

	(void)state;
	assert_int_equal(claim(d, "e1", T0, oid), 0);
	dedupe_accepted(d, "e1", UUID_A);
	assert_int_equal(claim(d, "e1", T0 + WINDOW_MS - 16, oid), 1);
	assert_string_equal(oid, UUID_A);
	assert_int_equal(claim(d, "e1", T0 + WINDOW_MS, oid), 1);
	/* a claim made later than the first expires later */
	assert_int_equal(claim(d, "e2", T0 + 10000, oid), 0);
	assert_int_equal(claim(d, "e1", T0 + WINDOW_MS + 32, oid), 0);   /* expired: claimed anew */
	assert_int_equal(oid[0], 'x');                                  /* not written on 0 */
	assert_int_equal(claim(d, "e2", T0 + WINDOW_MS + 32, oid), 1);
	assert_int_equal(claim(d, "e2", T0 + 10000 + WINDOW_MS - 16, oid), 1);
	/* the re-claimed e1 is in flight again with no order id (the old one
	 * is forgotten) and lives a new window */
	assert_int_equal(claim(d, "e1", T0 + 2 * WINDOW_MS, oid), 1);
	assert_string_equal(oid, "");
	assert_int_equal(claim(d, "e1", T0 + 2 * WINDOW_MS + 64, oid), 0);
	assert_int_equal(claim(d, "e2", T0 + 10000 + WINDOW_MS + 32, oid), 0);
	dedupe_free(d);
}

/* A first claim at exactly one tick (16 ms) makes tick 0 fall on time 0:
 * that must still count as set, or a later claim would restart the clock
 * and the id would never expire. */
static void test_first_claim_at_one_tick(void **state)
{
	struct dedupe *d = dedupe_new(100, 1000);
	char oid[64];

	(void)state;
	assert_int_equal(claim(d, "t1", 16, oid), 0);
	assert_int_equal(claim(d, "t1", 50, oid), 1);
	assert_int_equal(claim(d, "t1", 1000000, oid), 0);   /* long expired */
	dedupe_free(d);
}

/* A short window and the tick: 100 ms window, live at 84 ms, gone at
 * 132 ms. A clock starting at 0 or going negative works too. */
static void test_short_window(void **state)
{
	static const int64_t starts[] = { 0, -5000, 1, T0, INT64_C(1) << 40 };
	char oid[64];

	(void)state;
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		struct dedupe *d = dedupe_new(100, 100);
		int64_t t = starts[i];

		assert_int_equal(claim(d, "s", t, oid), 0);
		assert_int_equal(claim(d, "s", t + 84, oid), 1);
		assert_int_equal(claim(d, "s", t + 132, oid), 0);
		assert_int_equal(claim(d, "s", t + 132 + 84, oid), 1);
		assert_int_equal(claim(d, "s", t + 264 + 32, oid), 0);
		dedupe_free(d);
	}
}

/* A table of one bucket: max_entries 0 gives one bucket of 8 slots. */
#define SLOTS 8

/* Every slot live: a new id is not tracked (-1, every time, never a
 * duplicate), the ids held stay duplicates, and a release or the window
 * passing makes room again (expired slots are reused). */
static void test_table_full(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 0);
	char id[32], oid[64];

	(void)state;
	assert_non_null(d);
	for (int i = 0; i < SLOTS; i++) {
		snprintf(id, sizeof(id), "full-%d", i);
		assert_int_equal(claim(d, id, T0 + i, oid), 0);
	}
	assert_int_equal(claim(d, "extra", T0 + 100, oid), -1);
	assert_int_equal(claim(d, "extra", T0 + 100, oid), -1);     /* still not tracked */
	dedupe_accepted(d, "extra", UUID_A);                         /* harmless */
	assert_int_equal(claim(d, "other", T0 + 100, oid), -1);
	for (int i = 0; i < SLOTS; i++) {
		snprintf(id, sizeof(id), "full-%d", i);
		assert_int_equal(claim(d, id, T0 + 100, oid), 1);
	}

	/* a release makes room for one */
	dedupe_release(d, "full-3");
	assert_int_equal(claim(d, "extra", T0 + 200, oid), 0);
	assert_int_equal(claim(d, "extra", T0 + 200, oid), 1);
	assert_int_equal(claim(d, "other", T0 + 200, oid), -1);
	assert_int_equal(claim(d, "full-3", T0 + 200, oid), -1);   /* its slot is gone */

	/* past the window every slot is reusable: 8 new ids fit, the 9th not */
	for (int i = 0; i < SLOTS; i++) {
		snprintf(id, sizeof(id), "next-%d", i);
		assert_int_equal(claim(d, id, T0 + WINDOW_MS + 300, oid), 0);
	}
	assert_int_equal(claim(d, "next-8", T0 + WINDOW_MS + 300, oid), -1);
	/* the old ids were overwritten: not duplicates any more, and no room */
	assert_int_equal(claim(d, "full-0", T0 + WINDOW_MS + 300, oid), -1);
	dedupe_free(d);
}

/* A table sized for n ids holds n distinct ids at once (a very few may be
 * refused as untracked with random hashing, never wrongly reported as
 * duplicates), every one held is then a duplicate, and after the window
 * the same number fit again. */
static void test_capacity(void **state)
{
	enum { N = 20000 };
	struct dedupe *d = dedupe_new(WINDOW_MS, N);
	char id[32], oid[64];
	int held = 0, untracked = 0;
	static signed char got[N];

	(void)state;
	for (int round = 0; round < 2; round++) {
		int64_t now = T0 + round * (WINDOW_MS + 100);

		held = untracked = 0;
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "cap-%d-%d", round, i);
			got[i] = (signed char)claim(d, id, now, oid);
			if (got[i] == 1)
				fail_msg("fresh id %s reported as a duplicate", id);
			held += got[i] == 0;
			untracked += got[i] == -1;
		}
		if (held < N - N / 100)
			fail_msg("round %d: only %d of %d ids held", round, held, N);
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "cap-%d-%d", round, i);
			assert_int_equal(claim(d, id, now + 1, oid), got[i] == 0 ? 1 : -1);
		}
	}
	print_message("capacity: %d of %d held, %d untracked\n", held, N, untracked);
	dedupe_free(d);
}

/* Ids of the longest length the gateway keeps (127 bytes), long ids
 * differing only in their last byte or by length around the hash's 8-byte
 * words, and very long ids, are all told apart. */
static void test_long_ids(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char a[128], b[128], oid[64];
	char *huge = malloc(65537);

	(void)state;
	assert_non_null(huge);
	memset(a, 'q', 127);
	a[127] = '\0';
	memcpy(b, a, sizeof(a));
	b[126] = 'r';
	assert_int_equal(claim(d, a, T0, oid), 0);
	assert_int_equal(claim(d, b, T0, oid), 0);
	dedupe_accepted(d, a, UUID_A);
	assert_int_equal(claim(d, a, T0, oid), 1);
	assert_string_equal(oid, UUID_A);
	assert_int_equal(claim(d, b, T0, oid), 1);
	assert_string_equal(oid, "");
	/* every length 1..127 of the same letters is a different id */
	for (size_t n = 1; n < 127; n++) {
		a[n] = '\0';
		assert_int_equal(claim(d, a, T0, oid), 0);
		a[n] = 'q';
	}
	for (size_t n = 1; n < 127; n++) {
		a[n] = '\0';
		assert_int_equal(claim(d, a, T0, oid), 1);
		a[n] = 'q';
	}
	memset(huge, 'z', 65536);
	huge[65536] = '\0';
	assert_int_equal(claim(d, huge, T0, oid), 0);
	huge[65535] = 'y';
	assert_int_equal(claim(d, huge, T0, oid), 0);
	assert_int_equal(claim(d, huge, T0, oid), 1);
	/* non-ASCII bytes are plain bytes */
	assert_int_equal(claim(d, "\xc3\xa9t\xc3\xa9", T0, oid), 0);
	assert_int_equal(claim(d, "\xc3\xa9t\xc3\xa9", T0, oid), 1);
	free(huge);
	dedupe_free(d);
}

/* An empty id (or NULL, or no table) is never tracked: -1, every time. */
static void test_empty_and_null(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, 1000);
	char oid[64];

	(void)state;
	assert_int_equal(claim(d, "", T0, oid), -1);
	assert_int_equal(claim(d, "", T0, oid), -1);
	assert_int_equal(claim(d, NULL, T0, oid), -1);
	assert_int_equal(claim(NULL, "x", T0, oid), -1);
	dedupe_accepted(NULL, "x", UUID_A);
	dedupe_release(NULL, "x");
	dedupe_accepted(d, "", UUID_A);
	assert_int_equal(claim(d, "", T0, oid), -1);
	dedupe_free(d);
	dedupe_free(NULL);
}

/* Two tables hash with their own keys: an id in one is not in the other. */
static void test_tables_independent(void **state)
{
	struct dedupe *d1 = dedupe_new(WINDOW_MS, 100), *d2 = dedupe_new(WINDOW_MS, 100);
	char oid[64];

	(void)state;
	assert_int_equal(claim(d1, "same", T0, oid), 0);
	assert_int_equal(claim(d2, "same", T0, oid), 0);
	assert_int_equal(claim(d1, "same", T0, oid), 1);
	dedupe_free(d1);
	dedupe_free(d2);
}

struct race {
	struct dedupe *d;
	int wins;
	int dups;
};

#define RACERS 8
#define RACE_IDS 2000

/* Claims race-0 .. race-(RACE_IDS-1), counting wins and duplicates. */
static void *racer(void *arg)
{
	struct race *r = arg;
	char id[32], oid[64];

	for (int i = 0; i < RACE_IDS; i++) {
		snprintf(id, sizeof(id), "race-%d", i);
		int rc = dedupe_claim(r->d, id, T0 + i, oid, sizeof(oid));
		r->wins += rc == 0;
		r->dups += rc == 1;
	}
	return NULL;
}

/* Threads claiming the same ids: each id is won exactly once. */
static void test_concurrent_claims(void **state)
{
	struct dedupe *d = dedupe_new(WINDOW_MS, RACE_IDS * 2);
	pthread_t th[RACERS];
	struct race r[RACERS];
	int wins = 0, dups = 0;

	(void)state;
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct race){ d, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		wins += r[i].wins;
		dups += r[i].dups;
	}
	assert_int_equal(wins, RACE_IDS);
	assert_int_equal(dups, RACE_IDS * (RACERS - 1));
	dedupe_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_and_in_flight),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_accepted_uuid_round_trip),
		cmocka_unit_test(test_accepted_non_uuid),
		cmocka_unit_test(test_order_id_buffer),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_first_claim_at_one_tick),
		cmocka_unit_test(test_short_window),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_long_ids),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_tables_independent),
		cmocka_unit_test(test_concurrent_claims),
	};

	return cmocka_run_group_tests_name("dedupe", tests, NULL, NULL);
}
