"""End-to-end tests of operations: SIGHUP reload, JSON logs, the 401
diagnostics and the start-up key check, readiness."""
import hashlib
import json
import os
import signal
import tempfile
import time
import unittest

import harness
from gwharness import Gateway


def sha(tok):
    return hashlib.sha256(tok.encode()).hexdigest()


class OpsReloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-ops-")
        self.keys = harness.gen_keypair(self.dir)
        self.mock = harness.Mock.start(pubkey=self.keys[1], key_id="test-key-id", priv=self.keys[0])
        self.addCleanup(self.mock.stop)

    def write_conf(self, path, clients, limits=None):
        with open(path, "w") as f:
            json.dump({"clients": clients, "limits": limits or {}}, f)

    def test_sighup_swaps_clients_and_limits_and_refuses_a_bad_file(self):
        conf = os.path.join(self.dir, "gw.json")
        self.write_conf(conf, [{"name": "boss", "role": "admin", "token_sha256": sha("one")}])
        gw = Gateway.start(mock=self.mock, keys=self.keys, env={"GATEWAY_CONFIG": conf})
        try:
            one, two = {"Authorization": "Bearer one"}, {"Authorization": "Bearer two"}
            self.assertEqual(gw.request("GET", "/sessions", headers=one)[0], 200)
            self.assertEqual(gw.request("GET", "/sessions", headers=two)[0], 401)
            st, _, b = gw.json("POST", "/session/start", {"contracts_limit": 10}, headers=one)
            self.assertEqual(st, 201, b)
            # a new token and a tighter limit
            self.write_conf(conf, [{"name": "boss", "role": "admin", "token_sha256": sha("two")}],
                            {"max_order_contracts": "1"})
            gw.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while time.time() < deadline and gw.request("GET", "/sessions", headers=two)[0] != 200:
                time.sleep(0.1)
            self.assertEqual(gw.request("GET", "/sessions", headers=two)[0], 200)
            self.assertEqual(gw.request("GET", "/sessions", headers=one)[0], 401)
            order = {"ticker": "KXMOCK-26DEC31-A", "side": "bid", "count": "2.00", "price": "0.4000",
                     "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"}
            st, _, b = gw.json("POST", "/trade-api/v2/portfolio/events/orders", order, headers=two)
            self.assertEqual((st, b["error"]["limit"]), (403, "max_order_contracts"))
            # the session survived the reload
            st, _, b = gw.json("GET", "/session", headers=two)
            self.assertEqual(b["session"]["status"], "active")
            # an invalid file is refused with its errors; the running one stays
            with open(conf, "w") as f:
                f.write('{"clients": [], "bogus": 1}')
            gw.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            self.assertEqual(gw.request("GET", "/sessions", headers=two)[0], 200)
            logs = gw.logs()
            self.assertIn("reload refused", logs)
            self.assertIn(conf + ":bogus: ", logs)
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_json_logs_and_request_id(self):
        gw = Gateway.start(mock=self.mock, keys=self.keys, config={"log_format": "json"})
        try:
            st, hd, _ = gw.request("GET", "/trade-api/v2/markets", headers={"X-Request-Id": "abc-123"})
            self.assertEqual(hd.get("x-request-id"), "abc-123")
        finally:
            gw.stop()
        lines = [json.loads(l) for l in gw.logs().splitlines() if l.startswith("{")]
        self.assertTrue(lines)
        req = [l for l in lines if l.get("event") == "request" and l.get("request_id") == "abc-123"]
        self.assertEqual(len(req), 1)
        self.assertEqual(req[0]["status"], 200)
        self.assertEqual(req[0]["target"], "/trade-api/v2/markets")
        for l in lines:
            self.assertIn("ts", l)
            self.assertIn("level", l)


class OpsKeyDiagnosticsTest(unittest.TestCase):
    def test_wrong_key_is_said_at_start_and_401_logs_what_was_signed(self):
        d = tempfile.mkdtemp(prefix="gw-ops-")
        keys = harness.gen_keypair(d)
        other = harness.gen_keypair(d)
        mock = harness.Mock.start(pubkey=keys[1], key_id="test-key-id", priv=keys[0])
        try:
            gw = Gateway.start(mock=mock, keys=other)   # signs with a key the exchange does not know
            try:
                deadline = time.time() + 8
                while time.time() < deadline and "refused key" not in gw.logs():
                    time.sleep(0.1)
                st, _, raw = gw.request("GET", "/trade-api/v2/portfolio/balance")
                self.assertEqual(st, 401, raw)
                time.sleep(0.2)
                st, _, raw = gw.request("GET", "/readyz")
                self.assertEqual(st, 503)
                self.assertIn("refused the key", raw.decode())
            finally:
                gw.stop()
            logs = gw.logs()
            self.assertIn("refused key 'test-key-id'", logs)
            self.assertIn("upstream refused the signature (401) for GET /trade-api/v2/portfolio/balance signed at", logs)
            self.assertIn("clock skew with the upstream", logs)
            for r in mock.requests(watch=True) if "watch" in mock.requests.__code__.co_varnames else mock.requests():
                sig = r["headers"].get("kalshi-access-signature")
                if sig:
                    self.assertNotIn(sig, logs)
        finally:
            mock.stop()


if __name__ == "__main__":
    unittest.main()
