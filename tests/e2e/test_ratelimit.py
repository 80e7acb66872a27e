"""End-to-end tests of the shared rate budget, safe retries and duplicate
client_order_ids, against the mock exchange (assertions on what it received).
"""
import json
import tempfile
import threading
import time
import unittest

import harness
from gwharness import Gateway

ORDER = {"ticker": "KXMOCK-26DEC31-A", "side": "bid", "count": "1.00", "price": "0.4500",
         "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"}
CREATE = "/trade-api/v2/portfolio/events/orders"


def tokens_config(n, extra=None):
    """Admin token plus n trader clients with tokens t1..tn."""
    clients = [{"name": "bot%d" % i, "role": "trader",
                "token_sha256": __import__("hashlib").sha256(("t%d" % i).encode()).hexdigest()}
               for i in range(1, n + 1)]
    cfg = {"clients": clients}
    cfg.update(extra or {})
    return cfg


class RateBase(unittest.TestCase):
    config = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-rate-")
        self.keys = harness.gen_keypair(self.dir)
        self.mock = harness.Mock.start(pubkey=self.keys[1], key_id="test-key-id", priv=self.keys[0])
        self.addCleanup(self.mock.stop)
        tok = self.dir + "/admin.token"
        with open(tok, "w") as f:
            f.write("admintok\n")
        self.admin = {"Authorization": "Bearer admintok"}
        self.gw = Gateway.start(mock=self.mock, keys=self.keys, config=self.config,
                                env={"GATEWAY_ADMIN_TOKEN_FILE": tok})
        self.addCleanup(self.stop_gw)
        st, _, b = self.gw.json("POST", "/session/start", {"contracts_limit": 100000},
                                headers=self.admin)
        self.assertEqual(st, 201, b)

    def stop_gw(self):
        self.gw.stop()
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            self.assertNotIn(bad, self.gw.logs())

    def creates(self):
        return [r for r in self.mock.requests() if r["method"] == "POST" and r["path"] == CREATE]


class RateDedupeTest(RateBase):
    config = tokens_config(1, {"orders": {"dedupe_window_s": 60}})

    def test_duplicate_client_order_id_answered_locally(self):
        o = dict(ORDER, client_order_id="dup-1")
        h = {"Authorization": "Bearer t1"}
        st, _, first = self.gw.json("POST", CREATE, o, headers=h)
        self.assertEqual(st, 201, first)
        st, hd, b = self.gw.json("POST", CREATE, o, headers=h)
        self.assertEqual(st, 409, b)
        self.assertEqual(hd.get("x-gateway-rejected"), "1")
        self.assertEqual(b["error"]["code"], "order_already_exists")
        self.assertEqual(b["error"]["order_id"], first["order_id"])
        self.assertEqual(b["error"]["client_order_id"], "dup-1")
        self.assertEqual(len(self.creates()), 1)

    def test_refused_order_frees_its_id(self):
        h = {"Authorization": "Bearer t1"}
        bad = dict(ORDER, client_order_id="dup-2", ticker="KXMOCK-26DEC31-CLOSED")
        st, _, b = self.gw.json("POST", CREATE, bad, headers=h)
        self.assertEqual(st, 409, b)          # the mock refuses a closed market
        self.assertNotIn("x-gateway-rejected", {})
        st, _, b = self.gw.json("POST", CREATE, dict(ORDER, client_order_id="dup-2"), headers=h)
        self.assertEqual(st, 201, b)


class RateRequireIdTest(RateBase):
    config = tokens_config(1, {"orders": {"require_client_order_id": True}})

    def test_create_without_id_refused(self):
        h = {"Authorization": "Bearer t1"}
        st, _, b = self.gw.json("POST", CREATE, ORDER, headers=h)
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_order"))
        self.assertEqual(self.creates(), [])
        st, _, b = self.gw.json("POST", CREATE, dict(ORDER, client_order_id="x-1"), headers=h)
        self.assertEqual(st, 201, b)


class RateBudgetTest(RateBase):
    # 20 writes/s -> 18 tokens/s after the margin: under 2 creates a second
    config = tokens_config(3, {"rate_limit": {"tier": "basic", "write_tokens_per_s": 20,
                                              "max_queue_ms": 8000}})

    def test_three_flooding_clients_all_served_at_the_budget(self):
        results = {1: [], 2: [], 3: []}

        def flood(i):
            for _ in range(4):
                st, _, _ = self.gw.request("POST", CREATE, ORDER,
                                           headers={"Authorization": "Bearer t%d" % i}, timeout=30)
                results[i].append(st)

        t0 = time.time()
        ts = [threading.Thread(target=flood, args=(i,)) for i in (1, 2, 3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        elapsed = time.time() - t0
        for i in (1, 2, 3):
            self.assertEqual(results[i], [201] * 4, results)
        self.assertEqual(len(self.creates()), 12)
        # 12 creates x 10 tokens at 18/s with an 18-token burst: >= ~5.6 s
        self.assertGreater(elapsed, 4.5)

    def test_queue_deadline_gives_429_with_retry_after(self):
        gw = Gateway.start(mock=self.mock, keys=self.keys,
                           config={"rate_limit": {"tier": "basic", "write_tokens_per_s": 10,
                                                  "max_queue_ms": 200}})
        try:
            gw.json("POST", "/session/start", {"contracts_limit": 100, "name": "q"})
            # the session's group create was charged to the 9-token bucket:
            # let it refill before the burst
            time.sleep(1.3)
            codes = []
            for _ in range(4):
                st, hd, b = gw.json("POST", CREATE, ORDER, headers={"X-Gateway-Session": "q"})
                codes.append((st, hd.get("retry-after"),
                               b["error"]["code"] if st != 201 else None))
            self.assertIn(201, [c[0] for c in codes])
            limited = [c for c in codes if c[0] == 429]
            self.assertTrue(limited, codes)
            self.assertEqual(limited[0][2], "rate_limited")
            self.assertGreaterEqual(int(limited[0][1]), 1)
        finally:
            gw.stop()

    def test_order_429d_in_the_queue_frees_its_session_reservation(self):
        """An order answered 429 rate_limited from the queue was never sent:
        its contracts must not stay reserved against the session's cap."""
        gw = Gateway.start(mock=self.mock, keys=self.keys,
                           config={"rate_limit": {"tier": "basic", "write_tokens_per_s": 10,
                                                  "max_queue_ms": 100},
                                   "limits": {"max_session_contracts": "2"}})
        try:
            gw.json("POST", "/session/start", {"contracts_limit": 100, "name": "r"})
            time.sleep(1.3)
            codes = [gw.json("POST", CREATE, ORDER, headers={"X-Gateway-Session": "r"})[0]
                     for _ in range(4)]
            self.assertEqual(codes.count(201), 1, codes)
            self.assertEqual(codes.count(429), 3, codes)
            time.sleep(1.3)
            # one contract accepted, cap two: one more fits
            st, _, b = gw.json("POST", CREATE, ORDER, headers={"X-Gateway-Session": "r"})
            self.assertEqual(st, 201, b)
            st, _, b = gw.json("GET", "/session?name=r")
            self.assertEqual(st, 200, b)
            self.assertEqual(b["session"]["contracts_submitted"], "2.00", b)
            self.assertEqual(b["session"]["orders_accepted"], "2.00", b)
        finally:
            gw.stop()

    def test_halt_gets_through_while_creates_wait(self):
        out = []

        def flood():
            for _ in range(6):
                out.append(self.gw.request("POST", CREATE, ORDER,
                                           headers={"Authorization": "Bearer t1"}, timeout=30)[0])

        t = threading.Thread(target=flood)
        t.start()
        time.sleep(0.6)
        t0 = time.time()
        st, _, b = self.gw.json("POST", "/session/halt", {}, headers=self.admin)
        halt_s = time.time() - t0
        t.join(60)
        self.assertEqual(st, 200, b)
        self.assertLess(halt_s, 1.5)


class RateRetryTest(RateBase):
    config = tokens_config(1)

    def test_429_on_a_write_is_retried_once_budget_allows(self):
        self.mock.clear()
        self.mock.fault(mode="status", status=429, count=1, path_prefix=CREATE)
        st, _, b = self.gw.json("POST", CREATE, ORDER, headers={"Authorization": "Bearer t1"})
        self.assertEqual(st, 201, b)
        self.assertEqual(len(self.creates()), 2)   # the 429'd one and the retry
        self.assertEqual(len({json.loads(r["body"])["client_order_id"] for r in self.creates()}), 1)

    def test_retry_meeting_order_already_exists_answers_the_first_order(self):
        self.mock.clear()
        # the first create is placed, but the exchange answers 429
        self.mock.fault(mode="status", status=429, count=1, path_prefix=CREATE, process=True)
        o = dict(ORDER, client_order_id="placed-then-429")
        st, hd, b = self.gw.json("POST", CREATE, o, headers={"Authorization": "Bearer t1"})
        self.assertEqual(st, 201, b)
        orders = [x for x in self.mock.state()["orders"]
                  if x["client_order_id"] == "placed-then-429"]
        self.assertEqual(len(orders), 1, orders)
        self.assertEqual(b["order_id"], orders[0]["order_id"])
        self.assertEqual(b["client_order_id"], "placed-then-429")
        self.assertEqual((b["fill_count"], b["remaining_count"]), ("0.00", "1.00"))
        self.assertGreater(b["ts_ms"], 0)
        statuses = [r["status"] for r in self.creates()]
        self.assertEqual(statuses, [429, 409])   # the retry met the duplicate
        lookups = [r for r in self.mock.requests()
                   if r["method"] == "GET" and r["path"] == "/trade-api/v2/portfolio/orders"]
        self.assertEqual(len(lookups), 1)
        self.assertIn("ticker=KXMOCK-26DEC31-A", lookups[0]["query"])

    def test_hung_write_is_never_sent_twice(self):
        gw = Gateway.start(mock=self.mock, keys=self.keys,
                           config={"upstream": {"timeout_ms": 800}})
        try:
            gw.json("POST", "/session/start", {"contracts_limit": 100, "name": "h"})
            self.mock.clear()
            self.mock.fault(mode="hang", delay_ms=3000, path_prefix=CREATE)
            st, hd, b = gw.json("POST", CREATE, ORDER, headers={"X-Gateway-Session": "h"})
            self.mock.clear_fault()
            self.assertEqual((st, b["error"]["code"]), (504, "upstream_timeout"))
            self.assertEqual(hd.get("x-gateway-outcome"), "unknown")
            time.sleep(0.5)
            self.assertEqual(len(self.creates()), 1)
            # the error names the client_order_id the gateway filled in, so
            # the bot can look the order up
            sent = json.loads(self.creates()[0]["body"])["client_order_id"]
            self.assertEqual(b["error"]["client_order_id"], sent)
        finally:
            gw.stop()


def enforce_basic(mock):
    """Has the mock enforce Kalshi's Basic-tier buckets (200/100 tokens/s)."""
    return mock._control("PUT", "rate", {"enforce": True})


def mock_429s(mock):
    """Requests the mock answered 429, background reads included."""
    return [r for r in mock.requests(watch=True) if r["status"] == 429]


class MockBucketsTest(RateBase):
    """The mock's own Basic-tier buckets, straight at the mock."""

    def test_basic_write_bucket_answers_429_without_retry_after(self):
        self.mock.reset_state()
        self.mock.clear()
        self.assertEqual(enforce_basic(self.mock)["write_capacity"], 100)
        batch = "/trade-api/v2/portfolio/events/orders/batched"

        def orders(n, tag):
            return {"orders": [dict(ORDER, client_order_id="%s-%d" % (tag, i)) for i in range(n)]}

        # 11 orders x 10 tokens never fit Basic's 100-token write bucket:
        # refused whole, with Kalshi's bare 429 and no Retry-After
        st, hd, data = self.mock.signed("POST", batch, orders(11, "big"))
        self.assertEqual(st, 429, data)
        self.assertEqual(json.loads(data), {"error": "too many requests"})
        self.assertNotIn("retry-after", {k.lower() for k in hd})
        self.assertEqual(self.mock.state()["orders"], [])
        st, _, data = self.mock.signed("POST", batch, orders(10, "fits"))
        self.assertEqual(st, 201, data)
        self.assertEqual(len(self.mock.state()["orders"]), 10)
        # reads have their own bucket
        self.assertEqual(self.mock.signed("GET", "/trade-api/v2/portfolio/balance")[0], 200)
        # a slow bucket: one create, then 429 until it refills
        self.mock._control("PUT", "rate", {"enforce": True, "write_per_s": 1, "write_capacity": 10})
        self.assertEqual(self.mock.signed("POST", CREATE, dict(ORDER, client_order_id="s1"))[0], 201)
        self.assertEqual(self.mock.signed("POST", CREATE, dict(ORDER, client_order_id="s2"))[0], 429)
        self.assertEqual(self.mock._control("GET", "rate")["limited"], 1)  # since the PUT
        self.assertFalse(self.mock._control("DELETE", "rate")["enforce"])


class RateBasicFloodTest(RateBase):
    """Three token clients flooding creates and reads through the gateway
    (tier basic) against a mock enforcing Basic-tier buckets."""
    config = tokens_config(3, {"rate_limit": {"tier": "basic", "max_queue_ms": 20000}})

    def test_three_flooders_never_draw_a_429_and_share_fairly(self):
        self.mock.clear()
        enforce_basic(self.mock)
        stop_at = time.time() + 4.0
        got = {i: [] for i in (1, 2, 3)}
        lock = threading.Lock()

        def creates(i, tag):
            n = 0
            while time.time() < stop_at:
                o = dict(ORDER, client_order_id="fl%d-%s-%d" % (i, tag, n))
                st = self.gw.request("POST", CREATE, o, headers={"Authorization": "Bearer t%d" % i},
                                     timeout=30)[0]
                n += 1
                with lock:
                    got[i].append(("create", st))

        def reads(i):
            while time.time() < stop_at:
                st = self.gw.request("GET", "/trade-api/v2/portfolio/balance",
                                     headers={"Authorization": "Bearer t%d" % i}, timeout=30)[0]
                with lock:
                    got[i].append(("read", st))

        # bot1 floods with four creates in parallel; bot2 and bot3 send one at a time
        ts = [threading.Thread(target=creates, args=(1, k)) for k in "abcd"]
        ts += [threading.Thread(target=creates, args=(i, "a")) for i in (2, 3)]
        ts += [threading.Thread(target=reads, args=(i,)) for i in (1, 2, 3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(mock_429s(self.mock), [])
        self.assertEqual(self.mock._control("GET", "rate")["limited"], 0)
        for i in (1, 2, 3):
            kinds = {k for k, _ in got[i]}
            self.assertEqual(kinds, {"create", "read"}, got[i])
            self.assertEqual({st for _, st in got[i]} - {200, 201}, set(), got[i])
        # fairness: what the exchange received, per client (client_order_id prefix)
        sent = [json.loads(r["body"])["client_order_id"][:3] for r in self.creates()]
        self.assertGreater(len(sent), 30, sent)
        queued = sent[10:]   # past the first burst, every create waited its turn
        for c in ("fl2", "fl3"):
            share = queued.count(c) / len(queued)
            # turns give each waiting client a third; first come first served
            # would give a one-at-a-time client a sixth
            self.assertGreater(share, 0.27, (c, share, sent))
        self.mock._control("DELETE", "rate")


class RateCostsTest(RateBase):
    """rate_limit.tier auto applies GET /account/endpoint_costs."""
    config = tokens_config(1)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-rate-")
        self.keys = harness.gen_keypair(self.dir)
        self.mock = harness.Mock.start(pubkey=self.keys[1], key_id="test-key-id", priv=self.keys[0])
        self.addCleanup(self.mock.stop)

    def start_gw(self, create_cost):
        costs = self.mock._control("GET", "endpoint_costs")
        if create_cost is not None:
            costs["endpoint_costs"].append({"method": "POST", "path": CREATE, "cost": create_cost})
        self.mock._control("PUT", "endpoint_costs", costs)
        gw = Gateway.start(mock=self.mock, keys=self.keys,
                           config={"rate_limit": {"tier": "auto", "max_queue_ms": 200}})
        self.addCleanup(gw.stop)
        deadline = time.time() + 10
        while "endpoint costs from the exchange" not in gw.logs() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("endpoint costs from the exchange", gw.logs())
        st, _, b = gw.json("POST", "/session/start", {"contracts_limit": 1000, "name": "c"})
        self.assertEqual(st, 201, b)
        return gw

    def burst(self, gw):
        return [gw.json("POST", CREATE, ORDER, headers={"X-Gateway-Session": "c"})[0]
                for _ in range(3)]

    def test_default_costs_admit_three_creates_at_once(self):
        gw = self.start_gw(None)
        self.assertEqual(self.burst(gw), [201, 201, 201])
        self.assertTrue([r for r in self.mock.requests()
                         if r["path"] == "/trade-api/v2/account/endpoint_costs"])

    def test_non_default_create_cost_changes_admission(self):
        # write bucket 90 (Basic 100 at 90%): at 40 a create, the third waits
        # about 330 ms, past max_queue_ms 200
        gw = self.start_gw(40)
        self.mock.clear()
        codes = self.burst(gw)
        self.assertEqual(codes[:2], [201, 201], codes)
        self.assertEqual(codes[2], 429, codes)
        self.assertEqual(len(self.creates()), 2)


class RateChargedCallsTest(RateBase):
    """The gateway's own calls (the sessions worker's, legacy translation's)
    are charged to the shared budget without ever waiting."""
    # 10 writes/s -> 9 tokens/s and a 9-token bucket: one create's worth
    config = {"rate_limit": {"tier": "basic", "write_tokens_per_s": 10, "max_queue_ms": 5000},
              "orders": {"legacy": "translate"}}

    def setUp(self):
        super().setUp()
        time.sleep(1.3)   # the setUp session's group create was charged: refill

    def timed(self, method, path, body, headers=None):
        t0 = time.time()
        st, _, b = self.gw.json(method, path, body, headers=headers or self.admin)
        return st, b, time.time() - t0

    def test_session_calls_are_charged_and_never_wait(self):
        # the group create of a new session takes 10 tokens from a full
        # bucket (9): it goes at once, and leaves the bucket in debt
        st, b, took = self.timed("POST", "/session/start", {"contracts_limit": 10, "name": "s2"})
        self.assertEqual(st, 201, b)
        self.assertLess(took, 0.5)
        # so the next create waits for the refill (about 1.1 s)
        st, b, took = self.timed("POST", CREATE, ORDER, dict(self.admin, **{"X-Gateway-Session": "s2"}))
        self.assertEqual(st, 201, b)
        self.assertGreater(took, 0.7)
        # the bucket is empty again: a halt (a group trigger) still goes at once
        st, b, took = self.timed("POST", "/session/halt", {"name": "s2"})
        self.assertEqual(st, 200, b)
        self.assertLess(took, 0.5)

    def test_legacy_translation_calls_are_charged(self):
        legacy = {"ticker": ORDER["ticker"], "side": "yes", "action": "buy", "count": 1,
                  "yes_price": 45, "client_order_id": "leg-1"}
        st, b, took = self.timed("POST", "/trade-api/v2/portfolio/orders", legacy)
        self.assertEqual(st, 201, b)
        self.assertLess(took, 0.5)
        # the translated V2 create took the bucket's 9 tokens (and a read
        # fetched the order): a V2 create now waits for the refill
        st, b, took = self.timed("POST", CREATE, ORDER)
        self.assertEqual(st, 201, b)
        self.assertGreater(took, 0.7)

    def test_legacy_translated_create_waits_for_the_budget(self):
        """A translated legacy create is an order like any other: it waits in
        the queue for the budget rather than being sent over it."""
        st, b, took = self.timed("POST", CREATE, ORDER)
        self.assertEqual(st, 201, b)
        self.assertLess(took, 0.5)
        # the bucket is empty: the translated V2 create waits for the refill
        legacy = {"ticker": ORDER["ticker"], "side": "yes", "action": "buy", "count": 1,
                  "yes_price": 45, "client_order_id": "leg-wait"}
        st, b, took = self.timed("POST", "/trade-api/v2/portfolio/orders", legacy)
        self.assertEqual(st, 201, b)
        self.assertGreater(took, 0.7)
        self.assertEqual(b["order"]["client_order_id"], "leg-wait", b)


if __name__ == "__main__":
    unittest.main()
