/*
 * legacy_flow: orders.legacy for the legacy order mutations
 * (/portfolio/orders*, route_info.legacy set), around the pure translator
 * policy/legacy.h.
 *
 *  - reject: 400 invalid_order naming the V2 call to use; nothing is sent.
 *  - translate: the request is performed with V2 and answered in the legacy
 *    shape. Per call, one upstream transfer at a time (rq->xfer), as a chain
 *    of callbacks on the request's loop while the connection stays
 *    suspended:
 *      create, batch create: [V2 create, with session injection and every
 *        policy check] -> one GET /portfolio/orders/{id} per created order
 *      amend: GET before -> [V2 amend, policy checks] -> GET after
 *      decrease, cancel: V2 call -> GET after
 *      batch cancel: V2 call -> one GET per canceled order
 *    A non-2xx V2 answer (and any failed transfer of the V2 call) is
 *    relayed as proxy_relay relays it; a failed GET only makes the Order
 *    less complete. Cancels and decreases are never blocked by session
 *    state or limits.
 * (pass never comes here: proxy_handle forwards the legacy call itself.)
 */
#ifndef GATEWAY_LEGACY_FLOW_H
#define GATEWAY_LEGACY_FLOW_H

struct request;
struct route_info;

/* Handles a legacy order mutation (ri from route_classify on rq, ri->legacy
 * set) under orders.legacy translate or reject: answers rq at once, or
 * suspends it until the chain of transfers ends. The flow's state lives in
 * rq->ctx. Loop thread only. */
void legacy_flow_handle(struct request *rq, const struct route_info *ri);

#endif
