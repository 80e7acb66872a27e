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
        finally:
            gw.stop()


if __name__ == "__main__":
    unittest.main()
