/*
 * roles: who may do what (DESIGN.md "Who may do what"), default-deny:
 * anything not listed for a role is admin-only. Pure, thread-safe.
 */
#ifndef POLICY_ROLES_H
#define POLICY_ROLES_H

#include "conf/conf.h"
#include "policy/route.h"

/* Whether `role` may make a proxied request of this kind. Mutations of a
 * group an active session owns are refused before this (for everyone). */
int roles_allow_proxy(enum gw_role role, enum route_kind kind);

/* Whether `role` may call a /session mutation (start, reset, halt, end,
 * limit). Reads and heartbeats are open to every identified client. */
int roles_allow_session_admin(enum gw_role role);

#endif
