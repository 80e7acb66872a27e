/* roles: see roles.h. */
#include "policy/roles.h"

int roles_allow_proxy(enum gw_role role, enum route_kind kind)
{
	switch (kind) {
	case ROUTE_READ:
		return 1;
	case ROUTE_CREATE_V2:
	case ROUTE_BATCH_CREATE_V2:
	case ROUTE_CREATE_LEGACY:
	case ROUTE_BATCH_CREATE_LEGACY:
	case ROUTE_AMEND:
	case ROUTE_DECREASE:
	case ROUTE_CANCEL:
	case ROUTE_BATCH_CANCEL:
		return role == GW_ROLE_TRADER || role == GW_ROLE_ADMIN;
	case ROUTE_CANCEL_ALL:
	case ROUTE_GROUP_CREATE:
	case ROUTE_GROUP_MUTATION:
	case ROUTE_API_KEYS:
	case ROUTE_OTHER_WRITE:
	default:
		return role == GW_ROLE_ADMIN;
	}
}

int roles_allow_session_admin(enum gw_role role)
{
	return role == GW_ROLE_ADMIN;
}
