/*
 * Unit tests for policy/roles: DESIGN.md "Who may do what", row by row,
 * for every route kind of policy/route.h and every role.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/roles.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct role_row {
	enum route_kind kind;
	const char *what;       /* the DESIGN row it comes from */
	int read_only, trader, admin;
};

/* One row per route kind, in enum order (checked below), so a kind added to
 * route.h without a row here fails the coverage test. */
static const struct role_row rows[] = {
	{ ROUTE_READ, "GET under /trade-api/v2/ (except /api_keys)", 1, 1, 1 },
	{ ROUTE_CREATE_V2, "order create (V2)", 0, 1, 1 },
	{ ROUTE_BATCH_CREATE_V2, "batch create (V2)", 0, 1, 1 },
	{ ROUTE_CREATE_LEGACY, "order create (legacy)", 0, 1, 1 },
	{ ROUTE_BATCH_CREATE_LEGACY, "batch create (legacy)", 0, 1, 1 },
	{ ROUTE_AMEND, "amend", 0, 1, 1 },
	{ ROUTE_DECREASE, "decrease", 0, 1, 1 },
	{ ROUTE_CANCEL, "cancel", 0, 1, 1 },
	{ ROUTE_BATCH_CANCEL, "batch cancel", 0, 1, 1 },
	{ ROUTE_CANCEL_ALL, "cancel-all DELETE /portfolio/events/orders", 0, 0, 1 },
	{ ROUTE_GROUP_CREATE, "order-group mutations (create)", 0, 0, 1 },
	{ ROUTE_GROUP_MUTATION, "order-group mutations, groups no active session owns", 0, 0, 1 },
	{ ROUTE_API_KEYS, "anything else: api keys (even reads)", 0, 0, 1 },
	{ ROUTE_OTHER_WRITE, "anything else: transfers, subaccounts, RFQ, ...", 0, 0, 1 },
};

static void test_table_covers_every_kind(void **state)
{
	(void)state;
	assert_int_equal(N(rows), (size_t)ROUTE_OTHER_WRITE + 1);
	for (size_t i = 0; i < N(rows); i++)
		if ((size_t)rows[i].kind != i)
			fail_msg("row %zu ('%s') is kind %d", i, rows[i].what, (int)rows[i].kind);
}

/* Checks one role against one row. */
static void check(enum gw_role role, const char *rname, const struct role_row *r, int want)
{
	int got = roles_allow_proxy(role, r->kind) != 0;

	if (got != want)
		fail_msg("%s on '%s' (kind %d): got %s, want %s", rname, r->what, (int)r->kind,
			 got ? "allowed" : "refused", want ? "allowed" : "refused");
}

static void test_read_only(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(rows); i++)
		check(GW_ROLE_READ_ONLY, "read_only", &rows[i], rows[i].read_only);
}

static void test_trader(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(rows); i++)
		check(GW_ROLE_TRADER, "trader", &rows[i], rows[i].trader);
}

static void test_admin(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(rows); i++)
		check(GW_ROLE_ADMIN, "admin", &rows[i], rows[i].admin);
}

/* Default-deny: a kind the table does not know is admin-only. */
static void test_unknown_kind_admin_only(void **state)
{
	enum route_kind k = (enum route_kind)(ROUTE_OTHER_WRITE + 1);

	(void)state;
	assert_false(roles_allow_proxy(GW_ROLE_READ_ONLY, k));
	assert_false(roles_allow_proxy(GW_ROLE_TRADER, k));
	assert_true(roles_allow_proxy(GW_ROLE_ADMIN, k));
}

/* POST /session/start|reset|halt|end and PUT /session/limit: admin only. */
static void test_session_admin(void **state)
{
	(void)state;
	assert_false(roles_allow_session_admin(GW_ROLE_READ_ONLY));
	assert_false(roles_allow_session_admin(GW_ROLE_TRADER));
	assert_true(roles_allow_session_admin(GW_ROLE_ADMIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_covers_every_kind),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_trader),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_unknown_kind_admin_only),
		cmocka_unit_test(test_session_admin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
