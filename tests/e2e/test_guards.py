"""End-to-end tests of the session guards: the dead-man switch, the filled
cap learned by polling fills, halt on shutdown and halt all. Every trigger is
checked on the mock exchange (its group's state), not only in the gateway's
answers.
"""
import json
import tempfile
import time
import unittest

import harness
from gwharness import Gateway

ORDER = {"ticker": "KXMOCK-26DEC31-A", "side": "bid", "price": "0.4500",
         "self_trade_prevention_type": "taker_at_cross"}


def order(count, tif):
    o = dict(ORDER)
    o["count"] = count
    o["time_in_force"] = tif
    return o


class GuardBase(unittest.TestCase):
    config = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-guards-")
        self.keys = harness.gen_keypair(self.dir)
        self.mock = harness.Mock.start(pubkey=self.keys[1], key_id="test-key-id", priv=self.keys[0])
        self.addCleanup(self.mock.stop)
        self.state_dir = self.dir + "/var"
        self.gw = Gateway.start(mock=self.mock, keys=self.keys, config=self.config,
                                state_dir=self.state_dir)
        self.addCleanup(self.stop_gw)

    def stop_gw(self):
        self.gw.stop()
        logs = self.gw.logs()
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            self.assertNotIn(bad, logs)

    def start(self, **body):
        st, _, b = self.gw.json("POST", "/session/start", body)
        self.assertEqual(st, 201, b)
        return b["session"]

    def group(self, gid):
        for g in self.mock.state()["order_groups"]:
            if g["id"] == gid:
                return g
        return None

    def wait_session(self, pred, timeout=8, name=None):
        deadline = time.time() + timeout
        s = None
        while time.time() < deadline:
            st, _, b = self.gw.json("GET", "/session" + ("?name=" + name if name else ""))
            s = b.get("session") if isinstance(b, dict) else None
            if s and pred(s):
                return s
            time.sleep(0.2)
        self.fail("session never reached the expected state: %r" % (s,))


class GuardDeadManTest(GuardBase):
    def test_lapsed_heartbeat_halts_the_session(self):
        s = self.start(contracts_limit=10, heartbeat_timeout_s=2)
        self.assertEqual(s["heartbeat_timeout_s"], 2)
        s = self.wait_session(lambda s: s["status"] == "triggered", timeout=8)
        self.assertEqual(s["status_reason"], "dead_man")
        self.assertTrue(self.group(s["order_group_id"])["triggered"])
        st, _, b = self.gw.json("POST", "/trade-api/v2/portfolio/events/orders", order("1.00", "good_till_canceled"))
        self.assertEqual((st, b["error"]["code"]), (409, "session_triggered"))

    def test_fed_heartbeat_keeps_the_session(self):
        s = self.start(contracts_limit=10, heartbeat_timeout_s=2)
        for _ in range(9):
            st, _, _ = self.gw.json("POST", "/session/heartbeat", {})
            self.assertEqual(st, 200)
            time.sleep(0.5)
        st, _, b = self.gw.json("GET", "/session")
        self.assertEqual(b["session"]["status"], "active")
        self.assertFalse(self.group(s["order_group_id"])["triggered"])

    def test_heartbeat_lapsed_while_down_halts_at_start(self):
        s = self.start(contracts_limit=10, heartbeat_timeout_s=2)
        self.gw.kill()
        time.sleep(2.5)
        self.gw = Gateway.start(mock=self.mock, keys=self.keys, state_dir=self.state_dir)
        s2 = self.wait_session(lambda s: s["status"] == "triggered", timeout=6)
        self.assertEqual(s2["status_reason"], "dead_man")
        self.assertEqual(s2["order_group_id"], s["order_group_id"])
        self.assertTrue(self.group(s["order_group_id"])["triggered"])


class GuardFilledCapTest(GuardBase):
    def test_filled_cap_refuses_then_triggers_on_polled_fills(self):
        s = self.start(contracts_limit=1000, max_session_filled_contracts="3")
        st, _, b = self.gw.json("POST", "/trade-api/v2/portfolio/events/orders", order("2.00", "immediate_or_cancel"))
        self.assertEqual(st, 201, b)
        # 2 filled + 2 more would pass the cap of 3: refused, nothing sent
        n_before = len(self.mock.requests())
        st, hd, b = self.gw.json("POST", "/trade-api/v2/portfolio/events/orders", order("2.00", "immediate_or_cancel"))
        self.assertEqual(st, 403, b)
        self.assertEqual(b["error"]["code"], "limit_exceeded")
        self.assertEqual(b["error"]["limit"], "max_session_filled_contracts")
        self.assertEqual(len(self.mock.requests()), n_before)
        # a resting order of 1 fits (2 + 1 = 3); when it fills, the cap is reached
        st, _, b = self.gw.json("POST", "/trade-api/v2/portfolio/events/orders", order("1.00", "good_till_canceled"))
        self.assertEqual(st, 201, b)
        self.mock.fill_order(b["order_id"])
        s2 = self.wait_session(lambda s: s["status"] == "triggered", timeout=8)
        self.assertEqual(s2["status_reason"], "filled_cap")
        self.assertEqual(s2["contracts_filled"], "3.00")
        self.assertTrue(self.group(s["order_group_id"])["triggered"])
        st, _, b = self.gw.json("POST", "/trade-api/v2/portfolio/events/orders", order("1.00", "immediate_or_cancel"))
        self.assertEqual((st, b["error"]["code"]), (409, "session_triggered"))
        # raising the cap above what was filled lifts the trigger
        st, _, b = self.gw.json("PUT", "/session/limit", {"max_session_filled_contracts": "10"})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["session"]["status"], "active")
        self.assertFalse(self.group(s["order_group_id"])["triggered"])
        # reset zeroes both counters
        st, _, b = self.gw.json("POST", "/session/reset", {})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["session"]["contracts_filled"], "0.00")
        self.assertEqual(b["session"]["contracts_submitted"], "0.00")


class GuardShutdownTest(GuardBase):
    config = {"session": {"halt_on_shutdown": True}}

    def test_halt_on_shutdown(self):
        a = self.start(contracts_limit=10)
        b = self.start(contracts_limit=10, name="mm")
        self.assertEqual(self.gw.stop(), 0)
        for s in (a, b):
            self.assertTrue(self.group(s["order_group_id"])["triggered"])
        with open(self.state_dir + "/sessions.json") as f:
            state = json.load(f)
        self.assertEqual({s["status_reason"] for s in state["sessions"]}, {"shutdown"})

    def test_audit_records_transitions(self):
        self.start(contracts_limit=10)
        self.gw.json("POST", "/session/halt", {})
        self.gw.json("POST", "/session/reset", {})
        self.gw.json("POST", "/session/end", {})
        time.sleep(0.5)
        with open(self.state_dir + "/audit.jsonl") as f:
            events = [json.loads(line) for line in f if line.strip()]
        kinds = [e["event"] for e in events if e.get("type") == "session"]
        self.assertEqual(kinds, ["session_started", "session_triggered", "session_reset",
                                 "session_ended"])


if __name__ == "__main__":
    unittest.main()
