"""End-to-end tests of the sessions feature (issue 3): Kalshi order groups
behind /session, injected into every order create, durable across crashes.

Every test starts its own mock exchange (which verifies every signature with
a freshly generated key pair) and its own gateway, and checks what the MOCK
RECEIVED (bodies parsed as JSON) and the mock's state, not only the gateway's
answers. The contract is /work/shared/DESIGN.md ("Gateway endpoints",
"Errors", "Durability and safety", "HTTP interface").

Run: python3 tests/e2e/run.py -k Session -v
"""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import gwharness
import harness
from gwharness import Gateway
from harness import Mock

KEY_ID = "test-key-id"
V2 = "/trade-api/v2"
TICKER = "KXMOCK-26DEC31-A"
GROUPS = V2 + "/portfolio/order_groups"
CREATE_V2 = V2 + "/portfolio/events/orders"
BATCH_V2 = V2 + "/portfolio/events/orders/batched"
CREATE_LEGACY = V2 + "/portfolio/orders"
BATCH_LEGACY = V2 + "/portfolio/orders/batched"
CREATE_PATHS = (CREATE_V2, BATCH_V2, CREATE_LEGACY, BATCH_LEGACY)

# The session object S of DESIGN.md, field by field.
S_FIELDS = ("name", "session_id", "order_group_id", "subaccount", "exchange_index", "status",
            "status_reason", "contracts_limit", "heartbeat_timeout_s", "started_at", "ended_at",
            "orders_accepted", "orders_rejected", "contracts_submitted", "contracts_filled")
# Extra members the implementation adds (DESIGN: "extend it freely"); any
# other member fails the shape check so additions are noticed.
S_EXTENSIONS = ("max_session_filled_contracts", "auto_resets", "previous_group_ids")
REASONS = (None, "halted", "limit_window", "filled_cap", "dead_man", "ended", "group_missing",
           "shutdown", "external")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
COUNT_RE = re.compile(r"^\d+\.\d{2}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def v2_order(**kw):
    """A valid V2 create body; kw overrides (None removes a member)."""
    body = {"ticker": TICKER, "side": "bid", "count": "2.00", "price": "0.5600",
            "time_in_force": "immediate_or_cancel", "self_trade_prevention_type": "taker_at_cross"}
    for k, v in kw.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def legacy_order(**kw):
    """A valid legacy create body (yes_price in cents)."""
    body = {"ticker": TICKER, "side": "yes", "action": "buy", "count": 3, "yes_price": 56,
            "time_in_force": "immediate_or_cancel"}
    for k, v in kw.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def pairs(raw):
    """Parses JSON keeping every object's members as an ordered list of pairs."""
    return json.loads(raw, object_pairs_hook=lambda p: p)


class SessionTestBase(unittest.TestCase):
    """A fresh key pair, mock exchange and gateway per test."""

    gw_config = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test-sessions-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.priv, self.pub = harness.gen_keypair(self.tmp)
        self.mock = Mock.start(pubkey=self.pub, key_id=KEY_ID, priv=self.priv)
        self.addCleanup(self._stop_mock)
        self.state_dir = os.path.join(self.tmp, "var")
        self.gws = []
        self.gw = None

    def _stop_mock(self):
        # every request the gateway sent must carry a valid Kalshi signature
        try:
            bad = [(r["method"], r["path"]) for r in self.mock.requests(watch=True)
                   if not r["sig_valid"]]
        finally:
            self.mock.stop()
        self.assertEqual(bad, [], "requests with an invalid signature reached the mock")

    # --- gateway lifecycle --------------------------------------------------
    def start_gw(self, config=None, state_dir=None, wait_ready=True, **kw):
        cfg = {"rate_limit": {"tier": "off"}}
        for part in (self.gw_config or {}), (config or {}):
            for k, v in part.items():
                if isinstance(v, dict):
                    cfg.setdefault(k, {}).update(v)
                else:
                    cfg[k] = v
        g = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), config=cfg,
                          state_dir=state_dir or self.state_dir, **kw)
        self.gws.append(g)
        self.addCleanup(self._stop_gw, g)
        if wait_ready:
            g.wait_ready(timeout=15)
        self.gw = g
        return g

    def _stop_gw(self, g):
        if g.proc.poll() is None:
            rc = g.stop()
            self.assertEqual(rc, 0, "gateway exit code %s: %s" % (rc, g.logs()[-3000:]))
        else:
            g.stop()
        self.assert_clean_logs(g)
        shutil.rmtree(g.dir, ignore_errors=True)

    def assert_clean_logs(self, g):
        text = g.logs()
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, text, "sanitizer report in the gateway log:\n" + text[-6000:])
        # secrets never appear in logs
        with open(self.priv) as f:
            key_body = f.read().splitlines()[1]
        self.assertNotIn(key_body, text)

    # --- helpers ------------------------------------------------------------
    def call(self, method, path, body=None, headers=None, gw=None):
        st, hd, doc = (gw or self.gw).json(method, path, body, headers)
        return st, hd, doc

    def start_session(self, expect=201, **body):
        body.setdefault("contracts_limit", 50)
        st, hd, doc = self.call("POST", "/session/start", body)
        self.assertEqual(st, expect, doc)
        return doc["session"] if expect == 201 else doc

    def get_session(self, name=None, gw=None):
        path = "/session" + ("?name=%s" % name if name else "")
        st, _, doc = self.call("GET", path, gw=gw)
        self.assertEqual(st, 200, doc)
        return doc

    def list_sessions(self, gw=None):
        st, _, doc = self.call("GET", "/sessions", gw=gw)
        self.assertEqual(st, 200, doc)
        return doc["sessions"]

    def mock_reqs(self, method=None, path=None, prefix=None, watch=False):
        """Requests the mock received; watch=True includes group reads
        (harness.Mock.requests)."""
        out = []
        for r in self.mock.requests(watch=watch):
            if method and r["method"] != method:
                continue
            if path is not None and r["path"] != path:
                continue
            if prefix is not None and not r["path"].startswith(prefix):
                continue
            out.append(r)
        return out

    def mock_creates(self):
        """Order creates the mock received (every family)."""
        return [r for r in self.mock_reqs("POST") if r["path"] in CREATE_PATHS]

    def mock_groups(self):
        return {g["id"]: g for g in self.mock.state()["order_groups"]}

    def mock_order(self, order_id):
        for o in self.mock.state()["orders"]:
            if o["order_id"] == order_id:
                return o
        self.fail("the mock has no order %s" % order_id)

    def assert_rejected(self, st, hd, doc, status, code):
        self.assertEqual(st, status, doc)
        self.assertEqual(hd.get("x-gateway-rejected"), "1", hd)
        self.assertIsInstance(doc, dict, doc)
        self.assertIsInstance(doc.get("error"), dict, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])

    def assert_session_shape(self, s):
        self.assertIsInstance(s, dict)
        for f in S_FIELDS:
            self.assertIn(f, s, "session object lacks %r: %s" % (f, s))
        extra = set(s) - set(S_FIELDS) - set(S_EXTENSIONS)
        self.assertEqual(extra, set(), "unexpected session members")
        self.assertRegex(s["name"], r"^[A-Za-z0-9_-]{1,64}$")
        self.assertRegex(s["session_id"], UUID_RE)
        self.assertIsInstance(s["order_group_id"], str)
        self.assertTrue(s["order_group_id"])
        for f in ("subaccount", "exchange_index", "contracts_limit"):
            self.assertIs(type(s[f]), int, f)
        self.assertIn(s["status"], ("active", "triggered", "ended"))
        self.assertIn(s["status_reason"], REASONS)
        self.assertTrue(s["heartbeat_timeout_s"] is None or type(s["heartbeat_timeout_s"]) is int)
        self.assertRegex(s["started_at"], TIME_RE)
        if s["ended_at"] is not None:
            self.assertRegex(s["ended_at"], TIME_RE)
        for f in ("orders_accepted", "orders_rejected", "contracts_submitted", "contracts_filled"):
            self.assertIsInstance(s[f], str, f)
            self.assertRegex(s[f], COUNT_RE, f)
        if s["status"] == "active":
            self.assertIsNone(s["status_reason"])
        if s["status"] == "ended":
            self.assertIsNotNone(s["ended_at"])
        else:
            self.assertIsNone(s["ended_at"])

    def wait_for(self, pred, timeout=3.0, step=0.05, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = pred()
            if last:
                return last
            time.sleep(step)
        self.fail("timed out waiting for %s (last: %r)" % (what, last))

    def order(self, path, body, headers=None, gw=None):
        return self.call("POST", path, body, headers, gw=gw)


class SessionLifecycleTest(SessionTestBase):

    def test_start_answers_session_and_creates_group(self):
        self.start_gw()
        st, hd, doc = self.call("POST", "/session/start",
                                {"contracts_limit": 25, "name": "alpha", "subaccount": 2})
        self.assertEqual(st, 201, doc)
        self.assertEqual(set(doc), {"session"})
        s = doc["session"]
        self.assert_session_shape(s)
        self.assertEqual(s["name"], "alpha")
        self.assertEqual(s["status"], "active")
        self.assertEqual(s["contracts_limit"], 25)
        self.assertEqual(s["subaccount"], 2)
        self.assertEqual(s["exchange_index"], 0)
        self.assertIsNone(s["heartbeat_timeout_s"])
        self.assertEqual([s[f] for f in ("orders_accepted", "orders_rejected",
                                         "contracts_submitted", "contracts_filled")],
                         ["0.00"] * 4)
        self.assertTrue(hd.get("x-request-id"))
        self.assertIn("x-gateway-client", hd)
        # the mock holds the group with that limit and subaccount
        groups = self.mock_groups()
        self.assertEqual(list(groups), [s["order_group_id"]])
        g = groups[s["order_group_id"]]
        self.assertEqual(g["contracts_limit"], 25)
        self.assertEqual(g["subaccount"], 2)
        self.assertFalse(g["triggered"])
        creates = self.mock_reqs("POST", GROUPS + "/create")
        self.assertEqual(len(creates), 1)
        self.assertEqual(json.loads(creates[0]["body"]), {"contracts_limit": 25, "subaccount": 2})

        # exchange_index and heartbeat_timeout_s reach the group and the session
        s2 = self.start_session(name="shard1", contracts_limit=7, exchange_index=1,
                                heartbeat_timeout_s=30)
        self.assert_session_shape(s2)
        self.assertEqual(s2["exchange_index"], 1)
        self.assertEqual(s2["heartbeat_timeout_s"], 30)
        self.assertEqual(self.mock_groups()[s2["order_group_id"]]["exchange_index"], 1)
        self.assertEqual(self.mock_groups()[s2["order_group_id"]]["contracts_limit"], 7)

        # starting an active name again: 409 session_exists, no new group
        st, hd, doc = self.call("POST", "/session/start", {"contracts_limit": 5, "name": "alpha"})
        self.assert_rejected(st, hd, doc, 409, "session_exists")
        self.assertEqual(len(self.mock_reqs("POST", GROUPS + "/create")), 2)
        self.assertEqual(len(self.mock_groups()), 2)

        # the default name
        s3 = self.start_session()
        self.assertEqual(s3["name"], "default")
        self.assertEqual(s3["contracts_limit"], 50)

    def test_start_bad_bodies(self):
        self.start_gw()
        cases = [
            ({"contracts_limit": 5, "bogus": 1}, "invalid_request"),
            ({"contracts_limit": 0}, "invalid_request"),
            ({"contracts_limit": 1000001}, "invalid_request"),
            ({"contracts_limit": "5"}, "invalid_request"),
            ({}, "invalid_request"),
            ({"contracts_limit": 5, "name": "a b"}, "invalid_request"),
            ({"contracts_limit": 5, "name": "x" * 65}, "invalid_request"),
            ({"contracts_limit": 5, "name": ""}, "invalid_request"),
            ({"contracts_limit": 5, "subaccount": 64}, "invalid_request"),
            ('{"contracts_limit": 5', "invalid_json"),
            ("not json", "invalid_json"),
        ]
        for body, code in cases:
            with self.subTest(body=body):
                st, hd, doc = self.call("POST", "/session/start", body)
                self.assert_rejected(st, hd, doc, 400, code)
        # the limits themselves are accepted
        self.start_session(name="lo", contracts_limit=1)
        self.start_session(name="hi", contracts_limit=1000000)
        self.start_session(name="x" * 64, contracts_limit=3)
        # an invalid name from ?name= or X-Gateway-Session is refused too
        st, hd, doc = self.call("POST", "/session/start?name=a%20b", {"contracts_limit": 5})
        self.assert_rejected(st, hd, doc, 400, "invalid_request")
        st, hd, doc = self.call("POST", "/session/start", {"contracts_limit": 5},
                                {"X-Gateway-Session": "y" * 65})
        self.assert_rejected(st, hd, doc, 400, "invalid_request")
        self.assertEqual(len(self.mock_reqs("POST", GROUPS + "/create")), 3)
        self.assertEqual(len(self.mock_groups()), 3)
        # bodies of the other operations are strict as well
        for path, method, body in (("/session/reset", "POST", {"bogus": 1}),
                                   ("/session/halt", "POST", {"all": "yes"}),
                                   ("/session/end", "POST", {"name": "a b"}),
                                   ("/session/limit", "PUT", {"contracts_limit": 0, "name": "lo"}),
                                   ("/session/limit", "PUT", {"name": "lo"}),
                                   ("/session/heartbeat", "POST", {"contracts_limit": 3})):
            with self.subTest(path=path, body=body):
                st, hd, doc = self.call(method, path, body)
                self.assert_rejected(st, hd, doc, 400, "invalid_request")

    def test_end_deletes_group_and_cancels_resting_orders(self):
        self.start_gw()
        s = self.start_session(name="e1", contracts_limit=40)
        gid = s["order_group_id"]
        st, _, placed = self.order(CREATE_V2, v2_order(time_in_force="good_till_canceled",
                                                        price="0.3000", count="4.00"),
                                   {"X-Gateway-Session": "e1"})
        self.assertEqual(st, 201, placed)
        oid = placed["order_id"]
        self.assertEqual(self.mock_order(oid)["status"], "resting")
        self.assertEqual(self.mock_groups()[gid]["resting_orders"], [oid])

        st, hd, doc = self.call("POST", "/session/end", {"name": "e1"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"session"})
        e = doc["session"]
        self.assert_session_shape(e)
        self.assertEqual(e["status"], "ended")
        self.assertEqual(e["status_reason"], "ended")
        self.assertRegex(e["ended_at"], TIME_RE)
        self.assertEqual(e["session_id"], s["session_id"])
        self.assertEqual(e["order_group_id"], gid)
        # upstream delete: the group is gone and its resting order cancelled
        self.assertEqual(len(self.mock_reqs("DELETE", GROUPS + "/" + gid)), 1)
        self.assertNotIn(gid, self.mock_groups())
        self.assertEqual(self.mock_order(oid)["status"], "canceled")

        # every operation on the ended name: 404 not_found
        for method, path, body in (("POST", "/session/reset", {"name": "e1"}),
                                   ("POST", "/session/end", {"name": "e1"}),
                                   ("POST", "/session/halt", {"name": "e1"}),
                                   ("POST", "/session/heartbeat", {"name": "e1"}),
                                   ("PUT", "/session/limit", {"name": "e1", "contracts_limit": 3}),
                                   ("POST", "/session/reset", None)):
            with self.subTest(path=path):
                st, hd, doc = self.call(method, path, body)
                self.assert_rejected(st, hd, doc, 404, "not_found")
        # GET /session shows the ended one, with no live group
        doc = self.get_session("e1")
        self.assertEqual(doc["session"]["status"], "ended")
        self.assertEqual(doc["session"]["session_id"], s["session_id"])
        self.assertIsNone(doc["upstream"])
        # a name that never existed: 404
        st, hd, doc = self.call("GET", "/session?name=never")
        self.assert_rejected(st, hd, doc, 404, "not_found")
        st, hd, doc = self.call("GET", "/session")
        self.assert_rejected(st, hd, doc, 404, "not_found")
        # an order now has no active session
        st, hd, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "e1"})
        self.assert_rejected(st, hd, doc, 409, "no_active_session")
        # the name can be started again; the ended one stays in the list
        s2 = self.start_session(name="e1")
        self.assertNotEqual(s2["session_id"], s["session_id"])
        listed = self.list_sessions()
        self.assertEqual(sorted((x["name"], x["status"]) for x in listed),
                         [("e1", "active"), ("e1", "ended")])
        for x in listed:
            self.assert_session_shape(x)

    def test_get_session_reads_live_group(self):
        self.start_gw()
        s = self.start_session(name="live", contracts_limit=12)
        doc = self.get_session("live")
        self.assertEqual(doc["session"]["session_id"], s["session_id"])
        self.assert_session_shape(doc["session"])
        g = doc["upstream"]
        self.assertIsInstance(g, dict)
        self.assertIs(g["is_auto_cancel_enabled"], False)
        self.assertEqual(g["contracts_limit_fp"], "12.00")
        self.assertEqual(g["orders"], [])
        self.assertNotIn("upstream_error", doc)
        self.assertGreaterEqual(len(self.mock_reqs("GET", GROUPS + "/" + s["order_group_id"],
                                                   watch=True)), 1)
        # heartbeat answers the session
        st, _, hb = self.call("POST", "/session/heartbeat", {"name": "live"})
        self.assertEqual(st, 200, hb)
        self.assertEqual(set(hb), {"session"})
        self.assertEqual(hb["session"]["session_id"], s["session_id"])

    def test_limit_changes_group_limit(self):
        self.start_gw()
        s = self.start_session(name="lim", contracts_limit=10)
        gid = s["order_group_id"]
        st, _, doc = self.call("PUT", "/session/limit", {"name": "lim", "contracts_limit": 33})
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"session"})
        self.assertEqual(doc["session"]["contracts_limit"], 33)
        self.assert_session_shape(doc["session"])
        reqs = self.mock_reqs("PUT", GROUPS + "/%s/limit" % gid)
        self.assertEqual(len(reqs), 1)
        self.assertEqual(json.loads(reqs[0]["body"]), {"contracts_limit": 33})
        self.assertEqual(self.mock_groups()[gid]["contracts_limit"], 33)
        self.assertEqual(self.get_session("lim")["session"]["contracts_limit"], 33)
        # out of range: refused, nothing sent
        st, hd, doc = self.call("PUT", "/session/limit", {"name": "lim", "contracts_limit": 1000001})
        self.assert_rejected(st, hd, doc, 400, "invalid_request")
        self.assertEqual(len(self.mock_reqs("PUT", GROUPS + "/%s/limit" % gid)), 1)
        self.assertEqual(self.mock_groups()[gid]["contracts_limit"], 33)


class SessionInjectionTest(SessionTestBase):

    def _check_injected(self, sent, received, gid, sub, coid=None):
        """received == sent plus order_group_id, subaccount and (when sent
        had none) a UUID client_order_id; other keys keep order and value."""
        self.assertEqual(received["order_group_id"], gid)
        self.assertEqual(received["subaccount"], sub)
        if "client_order_id" in sent:
            self.assertEqual(received["client_order_id"], sent["client_order_id"])
        else:
            self.assertRegex(received["client_order_id"], UUID_RE)
        rest = {k: v for k, v in received.items()
                if k not in ("order_group_id", "subaccount", "client_order_id")}
        exp = {k: v for k, v in sent.items()
               if k not in ("order_group_id", "subaccount", "client_order_id")}
        self.assertEqual(rest, exp)
        self.assertEqual(set(received) - set(sent),
                         {"order_group_id", "subaccount", "client_order_id"} - set(sent))
        return received["client_order_id"]

    def test_group_injected_into_every_create_family(self):
        # legacy bodies are compared byte for byte as sent, so they are
        # forwarded as legacy here (orders.legacy "translate" is checked in
        # test_legacy_creates_get_group_when_translated)
        self.start_gw(config={"orders": {"legacy": "pass"}})
        s = self.start_session(name="inj", contracts_limit=500, subaccount=3)
        gid = s["order_group_id"]
        hdr = {"X-Gateway-Session": "inj"}
        coids = set()

        # V2 single, no client_order_id; values of every type untouched
        sent = v2_order(count="2.00", price="0.5600", post_only=False, reduce_only=False,
                        cancel_order_on_pause=True, time_in_force="good_till_canceled",
                        expiration_time=99999999999)
        st, _, doc = self.order(CREATE_V2, sent, hdr)
        self.assertEqual(st, 201, doc)
        got = self.mock_creates()[-1]
        self.assertEqual(got["path"], CREATE_V2)
        coids.add(self._check_injected(sent, json.loads(got["body"]), gid, 3))
        # the client's key order is kept (injected keys appended or in place)
        keys = [k for k, _ in pairs(got["body"]) if k not in ("order_group_id", "subaccount",
                                                               "client_order_id")]
        self.assertEqual(keys, list(sent))
        self.assertEqual(doc["client_order_id"], json.loads(got["body"])["client_order_id"])
        o = self.mock_order(doc["order_id"])
        self.assertEqual(o["order_group_id"], gid)
        self.assertEqual(o["subaccount_number"], 3)

        # V2 single with its own client_order_id (non-ASCII kept exactly)
        sent = v2_order(client_order_id="mine-\u00e9-1", count="1.00")
        st, _, doc = self.order(CREATE_V2, sent, hdr)
        self.assertEqual(st, 201, doc)
        got = json.loads(self.mock_creates()[-1]["body"])
        self._check_injected(sent, got, gid, 3)
        self.assertEqual(got["client_order_id"], "mine-\u00e9-1")

        # naming the session's own group and subaccount is fine (not duplicated)
        sent = v2_order(order_group_id=gid, subaccount=3, client_order_id="own-group")
        st, _, doc = self.order(CREATE_V2, sent, hdr)
        self.assertEqual(st, 201, doc)
        raw = self.mock_creates()[-1]["body"]
        self.assertEqual([k for k, _ in pairs(raw)].count("order_group_id"), 1)
        self.assertEqual(json.loads(raw), sent)

        # V2 batched: each element gets the group
        sent = {"orders": [v2_order(count="1.00"), v2_order(client_order_id="b-2", side="ask",
                                                            price="0.4000", count="3.00")]}
        st, _, doc = self.order(BATCH_V2, sent, hdr)
        self.assertEqual(st, 201, doc)
        got = self.mock_creates()[-1]
        self.assertEqual(got["path"], BATCH_V2)
        body = json.loads(got["body"])
        self.assertEqual(list(body), ["orders"])
        self.assertEqual(len(body["orders"]), 2)
        for sent_o, got_o in zip(sent["orders"], body["orders"]):
            coids.add(self._check_injected(sent_o, got_o, gid, 3))
        self.assertEqual(len(doc["orders"]), 2)

        # legacy single with yes_price (cents)
        sent = legacy_order()
        st, _, doc = self.order(CREATE_LEGACY, sent, hdr)
        self.assertEqual(st, 201, doc)
        got = self.mock_creates()[-1]
        self.assertEqual(got["path"], CREATE_LEGACY)
        coids.add(self._check_injected(sent, json.loads(got["body"]), gid, 3))
        self.assertEqual(self.mock_order(doc["order"]["order_id"])["order_group_id"], gid)

        # legacy batched
        sent = {"orders": [legacy_order(client_order_id="leg-1"),
                           legacy_order(side="no", action="buy", yes_price=None, no_price=40,
                                        count=None, count_fp="2.00")]}
        st, _, doc = self.order(BATCH_LEGACY, sent, hdr)
        self.assertEqual(st, 201, doc)
        got = self.mock_creates()[-1]
        self.assertEqual(got["path"], BATCH_LEGACY)
        body = json.loads(got["body"])
        for sent_o, got_o in zip(sent["orders"], body["orders"]):
            coids.add(self._check_injected(sent_o, got_o, gid, 3))

        # generated ids are unique
        self.assertEqual(len(coids), 6)
        self.assertTrue(all(o["order_group_id"] == gid for o in self.mock.state()["orders"]))

    def test_legacy_creates_get_group_when_translated(self):
        """Default orders.legacy: whatever family reaches the mock, each
        legacy order lands in the session's group and subaccount."""
        self.start_gw()
        s = self.start_session(contracts_limit=500, subaccount=2)
        gid = s["order_group_id"]
        st, _, doc = self.order(CREATE_LEGACY, legacy_order(client_order_id="t-1"))
        self.assertEqual(st, 201, doc)
        st, _, doc = self.order(BATCH_LEGACY, {"orders": [legacy_order(client_order_id="t-2"),
                                                          legacy_order()]})
        self.assertEqual(st, 201, doc)
        creates = self.mock_creates()
        self.assertEqual(len(creates), 2)
        for r in creates:
            body = json.loads(r["body"])
            for o in body.get("orders", [body]):
                self.assertEqual((o["order_group_id"], o["subaccount"]), (gid, 2))
                self.assertIn("client_order_id", o)
        orders = self.mock.state()["orders"]
        self.assertEqual(len(orders), 3)
        for o in orders:
            self.assertEqual((o["order_group_id"], o["subaccount_number"]), (gid, 2))
        self.assertEqual(sorted(o["client_order_id"] for o in orders if o["client_order_id"]
                                in ("t-1", "t-2")), ["t-1", "t-2"])

    def test_amend_and_decrease_forwarded_unchanged(self):
        self.start_gw()
        self.start_session(contracts_limit=100)
        st, _, placed = self.order(CREATE_V2, v2_order(time_in_force="good_till_canceled",
                                                        price="0.3000", count="5.00"))
        self.assertEqual(st, 201, placed)
        oid = placed["order_id"]
        amend = ('{"ticker": "%s", "side": "bid", "price": "0.3100",  "count": "6.00",'
                 ' "updated_client_order_id": "upd-1"}' % TICKER)
        st, _, doc = self.call("POST", CREATE_V2 + "/%s/amend" % oid, amend)
        self.assertEqual(st, 200, doc)
        got = self.mock_reqs("POST", CREATE_V2 + "/%s/amend" % oid)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["body"], amend)
        dec = '{"reduce_by":"1.00"}'
        new_id = doc.get("order", {}).get("order_id", oid) if isinstance(doc.get("order"), dict) else oid
        st, _, doc = self.call("POST", CREATE_V2 + "/%s/decrease" % new_id, dec)
        self.assertIn(st, (200, 201), doc)
        got = self.mock_reqs("POST", CREATE_V2 + "/%s/decrease" % new_id)
        self.assertEqual(got[-1]["body"], dec)
        # amends are parsed strictly too
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/amend" % oid,
                                '{"count":"1.00","count":"2.00"}')
        self.assert_rejected(st, hd, doc, 400, "invalid_order")

    def test_foreign_group_or_subaccount_refused(self):
        self.start_gw()
        s = self.start_session(contracts_limit=100, subaccount=1)
        gid = s["order_group_id"]
        # a real group of the account that no session owns
        st, other = self.mock.signed_json("POST", GROUPS + "/create", {"contracts_limit": 5,
                                                                       "subaccount": 1}, expect=201)
        other_gid = other["order_group_id"]
        self.mock.clear()
        cases = [
            (CREATE_V2, v2_order(order_group_id=other_gid)),
            (CREATE_V2, v2_order(order_group_id="A")),
            (CREATE_V2, v2_order(subaccount=0)),
            (CREATE_V2, v2_order(subaccount=2, order_group_id=gid)),
            (BATCH_V2, {"orders": [v2_order(), v2_order(order_group_id=other_gid)]}),
            (CREATE_LEGACY, legacy_order(order_group_id=other_gid)),
            (CREATE_LEGACY, legacy_order(subaccount=5)),
            (BATCH_LEGACY, {"orders": [legacy_order(subaccount=0)]}),
        ]
        for path, body in cases:
            with self.subTest(path=path, body=body):
                st, hd, doc = self.order(path, body)
                self.assert_rejected(st, hd, doc, 403, "order_group_mismatch")
        st, hd, doc = self.order(BATCH_V2, {"orders": [v2_order(), v2_order(order_group_id="B")]})
        self.assertEqual(doc["error"].get("index"), 1, doc)
        self.assertEqual(self.mock_creates(), [])
        self.assertEqual(self.mock.state()["orders"], [])

    def test_strict_parsing(self):
        self.start_gw()
        self.start_session(contracts_limit=100)
        s = self.get_session()["session"]
        self.mock.clear()
        dup = ('{"ticker":"%s","side":"bid","count":"1.00","price":"0.5600",'
               '"time_in_force":"immediate_or_cancel","self_trade_prevention_type":"taker_at_cross",'
               '"order_group_id":"A","order_group_id":"B"}' % TICKER)
        cases = [
            (CREATE_V2, dup, "invalid_order"),
            (CREATE_V2, dup.replace('"order_group_id":"A","order_group_id":"B"',
                                    '"order_group_id":"%s","order_group_id":"%s"'
                                    % (s["order_group_id"], s["order_group_id"])), "invalid_order"),
            (CREATE_V2, json.dumps(v2_order(count=2.5)), "invalid_order"),
            (CREATE_V2, json.dumps(v2_order(count=2.0)), "invalid_order"),
            (CREATE_V2, json.dumps(v2_order(count=1e2)), "invalid_order"),
            (BATCH_V2, json.dumps({"orders": [v2_order(), v2_order(price=0.56)]}), "invalid_order"),
            (CREATE_LEGACY, json.dumps(legacy_order(yes_price=56.0)), "invalid_order"),
            (BATCH_LEGACY, '{"orders":[%s],"orders":[]}' % json.dumps(legacy_order()), "invalid_order"),
            (CREATE_V2, '{"ticker": ', "invalid_json"),
            (CREATE_V2, '{"ticker":"x"} trailing', "invalid_json"),
            (CREATE_V2, '[1, 2]', "invalid_order"),
            (BATCH_V2, '{"orders": []}', "invalid_order"),
        ]
        for path, body, code in cases:
            with self.subTest(path=path, body=body):
                st, hd, doc = self.order(path, body)
                self.assert_rejected(st, hd, doc, 400, code)
        self.assertEqual(self.mock_creates(), [])
        # refusals are counted against the session
        s = self.get_session()["session"]
        self.assertEqual(s["orders_rejected"], "%d.00" % len(cases))
        self.assertEqual(s["orders_accepted"], "0.00")

    def test_no_active_session(self):
        self.start_gw()
        for path, body in ((CREATE_V2, v2_order()), (BATCH_V2, {"orders": [v2_order()]}),
                           (CREATE_LEGACY, legacy_order()),
                           (BATCH_LEGACY, {"orders": [legacy_order()]})):
            with self.subTest(path=path):
                st, hd, doc = self.order(path, body)
                self.assert_rejected(st, hd, doc, 409, "no_active_session")
        # a session of another name does not serve "default"
        self.start_session(name="other")
        st, hd, doc = self.order(CREATE_V2, v2_order())
        self.assert_rejected(st, hd, doc, 409, "no_active_session")
        self.assertEqual(self.mock_creates(), [])
        # cancels are never blocked by session state
        st, _, doc = self.call("DELETE", CREATE_V2 + "/no-such-order")
        self.assertEqual(st, 404, doc)
        self.assertNotIn("x-gateway-rejected", _)


class SessionRequireOffTest(SessionTestBase):
    gw_config = {"session": {"require_session": False}}

    def test_orders_pass_untouched_without_session(self):
        self.start_gw()
        raw = json.dumps(v2_order(client_order_id="plain-1"))
        st, _, doc = self.order(CREATE_V2, raw)
        self.assertEqual(st, 201, doc)
        got = self.mock_creates()
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["body"], raw)
        body = json.loads(got[0]["body"])
        self.assertNotIn("order_group_id", body)
        self.assertNotIn("subaccount", body)
        raw = json.dumps({"orders": [legacy_order(client_order_id="plain-2")]})
        st, _, doc = self.order(BATCH_LEGACY, raw)
        self.assertEqual(st, 201, doc)
        # (legacy bodies may be translated to V2; either way no group is added)
        got = json.loads(self.mock_creates()[-1]["body"])
        for o in got["orders"]:
            self.assertNotIn("order_group_id", o)
            self.assertEqual(o["client_order_id"], "plain-2")
        # still strict
        st, hd, doc = self.order(CREATE_V2, json.dumps(v2_order(count=1.5)))
        self.assert_rejected(st, hd, doc, 400, "invalid_order")
        self.assertEqual(len(self.mock_creates()), 2)
        # with a session the group is injected as usual
        s = self.start_session()
        st, _, doc = self.order(CREATE_V2, v2_order())
        self.assertEqual(st, 201, doc)
        self.assertEqual(json.loads(self.mock_creates()[-1]["body"])["order_group_id"],
                         s["order_group_id"])


class SessionTriggerTest(SessionTestBase):

    def test_halt_and_reset(self):
        self.start_gw()
        s = self.start_session(name="h", contracts_limit=20)
        gid = s["order_group_id"]
        hdr = {"X-Gateway-Session": "h"}
        st, _, placed = self.order(CREATE_V2, v2_order(time_in_force="good_till_canceled",
                                                        price="0.3000"), hdr)
        self.assertEqual(st, 201, placed)
        st, _, doc = self.call("POST", "/session/halt", {"name": "h"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"session"})
        h = doc["session"]
        self.assert_session_shape(h)
        self.assertEqual((h["status"], h["status_reason"]), ("triggered", "halted"))
        self.assertEqual(len(self.mock_reqs("PUT", GROUPS + "/%s/trigger" % gid)), 1)
        g = self.mock_groups()[gid]
        self.assertTrue(g["triggered"])
        self.assertEqual(self.mock_order(placed["order_id"])["status"], "canceled")
        self.assertEqual(self.get_session("h")["session"]["status_reason"], "halted")

        n = len(self.mock_creates())
        for path, body in ((CREATE_V2, v2_order()), (BATCH_V2, {"orders": [v2_order()]}),
                           (CREATE_LEGACY, legacy_order()),
                           (BATCH_LEGACY, {"orders": [legacy_order()]})):
            st, hd, doc = self.order(path, body, hdr)
            self.assert_rejected(st, hd, doc, 409, "session_triggered")
        self.assertEqual(len(self.mock_creates()), n)
        # cancels still pass
        st, _, doc = self.call("DELETE", CREATE_V2 + "/" + placed["order_id"], None, hdr)
        self.assertNotIn(st, (403, 409), doc)

        st, _, doc = self.call("POST", "/session/reset", {"name": "h"})
        self.assertEqual(st, 200, doc)
        r = doc["session"]
        self.assert_session_shape(r)
        self.assertEqual((r["status"], r["status_reason"]), ("active", None))
        self.assertEqual(len(self.mock_reqs("PUT", GROUPS + "/%s/reset" % gid)), 1)
        self.assertFalse(self.mock_groups()[gid]["triggered"])
        st, _, doc = self.order(CREATE_V2, v2_order(), hdr)
        self.assertEqual(st, 201, doc)
        self.assertEqual(json.loads(self.mock_creates()[-1]["body"])["order_group_id"], gid)

    def test_exchange_side_trigger_learned_from_refused_order(self):
        self.start_gw()
        s = self.start_session(contracts_limit=20)
        gid = s["order_group_id"]
        # the gateway also watches its groups (a GET about every second):
        # trigger right after a watch read so the order is what finds it
        reads = lambda: len(self.mock_reqs("GET", GROUPS + "/" + gid, watch=True))
        n = reads()
        self.wait_for(lambda: reads() > n, timeout=5, step=0.01, what="a group watch read")
        self.mock.trigger_group(gid)
        st, hd, doc = self.order(CREATE_V2, v2_order())
        # the mock's own refusal is relayed
        self.assertEqual(st, 409, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.assertEqual(doc["error"]["code"], "order_group_triggered")
        self.assertEqual(len(self.mock_creates()), 1)
        # the gateway confirms with a GET of the group and marks the session
        deadline = time.time() + 2.0
        while time.time() < deadline:
            cur = self.list_sessions()[0]
            if cur["status"] == "triggered":
                break
            time.sleep(0.05)
        self.assertEqual(cur["status"], "triggered", cur)
        self.assertIn(cur["status_reason"], ("external", "limit_window"))
        self.assertGreaterEqual(len(self.mock_reqs("GET", GROUPS + "/" + gid, watch=True)), 1)
        doc = self.get_session()
        self.assertEqual(doc["session"]["status"], "triggered")
        self.assertIs(doc["upstream"]["is_auto_cancel_enabled"], True)
        st, hd, doc = self.order(CREATE_LEGACY, legacy_order())
        self.assert_rejected(st, hd, doc, 409, "session_triggered")
        self.assertEqual(len(self.mock_creates()), 1)
        s = self.get_session()["session"]
        self.assertEqual(s["orders_rejected"], "2.00")
        # stays triggered until /session/reset
        time.sleep(0.3)
        self.assertEqual(self.get_session()["session"]["status"], "triggered")
        st, _, doc = self.call("POST", "/session/reset", {})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["session"]["status"], "active")
        st, _, doc = self.order(CREATE_V2, v2_order())
        self.assertEqual(st, 201, doc)

    def test_exchange_side_trigger_learned_from_live_read(self):
        self.start_gw()
        s = self.start_session(contracts_limit=20)
        gid = s["order_group_id"]
        self.mock.trigger_group(gid)
        doc = self.get_session()
        self.assertEqual(doc["session"]["status"], "triggered")
        self.assertEqual(doc["session"]["status_reason"], "external")
        self.assertIs(doc["upstream"]["is_auto_cancel_enabled"], True)
        st, hd, doc = self.order(CREATE_V2, v2_order())
        self.assert_rejected(st, hd, doc, 409, "session_triggered")
        self.assertEqual(self.mock_creates(), [])

    def test_outside_reset_reactivates(self):
        """The exchange is the truth (issue 10): a group reset outside the
        gateway makes a triggered session active again (event session_reset)
        without any call to /session/reset, and orders flow again."""
        self.start_gw()
        s = self.start_session(contracts_limit=20)
        gid = s["order_group_id"]
        st, _, doc = self.call("POST", "/session/halt", {})
        self.assertEqual(st, 200, doc)
        st, hd, doc = self.order(CREATE_V2, v2_order())
        self.assert_rejected(st, hd, doc, 409, "session_triggered")
        self.mock.signed_json("PUT", GROUPS + "/%s/reset" % gid, {}, expect=200)
        doc = self.get_session()
        self.assertIs(doc["upstream"]["is_auto_cancel_enabled"], False)
        self.assertEqual((doc["session"]["status"], doc["session"]["status_reason"]),
                         ("active", None))
        self.assert_session_shape(doc["session"])
        st, _, doc = self.order(CREATE_V2, v2_order())
        self.assertEqual(st, 201, doc)
        self.assertEqual(json.loads(self.mock_creates()[-1]["body"])["order_group_id"], gid)
        with open(os.path.join(self.state_dir, "sessions.json")) as f:
            self.assertEqual(json.load(f)["sessions"][0]["status"], "active")

    def test_limit_window_trigger(self):
        self.start_gw()
        s = self.start_session(contracts_limit=5)
        st, _, doc = self.order(CREATE_V2, v2_order(count="6.00"))
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["fill_count"], "6.00")
        self.assertTrue(self.mock_groups()[s["order_group_id"]]["triggered"])
        doc = self.get_session()
        self.assertEqual(doc["session"]["status"], "triggered")
        self.assertEqual(doc["session"]["status_reason"], "limit_window")

    def test_named_sessions_and_halt_all(self):
        self.start_gw()
        a = self.start_session(name="a", contracts_limit=10)
        b = self.start_session(name="b", contracts_limit=20, subaccount=4)
        self.assertNotEqual(a["order_group_id"], b["order_group_id"])
        for name, s in (("a", a), ("b", b), ("a", a)):
            st, _, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": name})
            self.assertEqual(st, 201, doc)
            got = json.loads(self.mock_creates()[-1]["body"])
            self.assertEqual((got["order_group_id"], got["subaccount"]),
                             (s["order_group_id"], s["subaccount"]))
        listed = self.list_sessions()
        self.assertEqual(sorted(x["name"] for x in listed), ["a", "b"])
        by = {x["name"]: x for x in listed}
        self.assertEqual(by["a"]["orders_accepted"], "2.00")
        self.assertEqual(by["b"]["orders_accepted"], "1.00")
        # name resolution: body, then ?name=, then X-Gateway-Session, then "default"
        st, _, doc = self.call("POST", "/session/heartbeat?name=a", {"name": "b"},
                               {"X-Gateway-Session": "a"})
        self.assertEqual(doc["session"]["name"], "b")
        st, _, doc = self.call("POST", "/session/heartbeat?name=a", {}, {"X-Gateway-Session": "b"})
        self.assertEqual(doc["session"]["name"], "a")
        st, _, doc = self.call("POST", "/session/heartbeat", None, {"X-Gateway-Session": "b"})
        self.assertEqual(doc["session"]["name"], "b")
        st, _, doc = self.call("GET", "/session?name=a", None, {"X-Gateway-Session": "b"})
        self.assertEqual(doc["session"]["name"], "a")
        st, hd, doc = self.call("POST", "/session/heartbeat", None)
        self.assert_rejected(st, hd, doc, 404, "not_found")

        st, _, doc = self.call("POST", "/session/halt", {"all": True})
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"sessions"})
        self.assertEqual(sorted(x["name"] for x in doc["sessions"]), ["a", "b"])
        for x in doc["sessions"]:
            self.assert_session_shape(x)
            self.assertEqual((x["status"], x["status_reason"]), ("triggered", "halted"))
        groups = self.mock_groups()
        self.assertTrue(groups[a["order_group_id"]]["triggered"])
        self.assertTrue(groups[b["order_group_id"]]["triggered"])
        self.assertEqual(len(self.mock_reqs("PUT", GROUPS + "/%s/trigger" % b["order_group_id"])), 1)
        # the subaccount's group is addressed with ?subaccount=
        self.assertEqual(self.mock_reqs("PUT", GROUPS + "/%s/trigger" % b["order_group_id"])[0]["query"],
                         "subaccount=4")
        for name in ("a", "b"):
            st, hd, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": name})
            self.assert_rejected(st, hd, doc, 409, "session_triggered")


class SessionReservedGroupTest(SessionTestBase):

    def test_session_group_mutations_refused(self):
        self.start_gw()
        s = self.start_session(contracts_limit=10)
        gid = s["order_group_id"]
        self.mock.clear()
        for method, suffix, body in (("PUT", "/trigger", {}), ("PUT", "/reset", {}),
                                     ("PUT", "/limit", {"contracts_limit": 3}),
                                     ("DELETE", "", None), ("POST", "/anything", {})):
            with self.subTest(method=method, suffix=suffix):
                st, hd, doc = self.call(method, GROUPS + "/" + gid + suffix, body)
                self.assert_rejected(st, hd, doc, 403, "forbidden")
        # other spellings of the id an upstream may read as the same group
        for alias, status, code in (("%%%02X%s" % (ord(gid[0]), gid[1:]), 400, "invalid_path"),
                                    ("".join("%%%02x" % ord(c) for c in gid), 400, "invalid_path"),
                                    (gid.upper(), 403, "forbidden")):
            with self.subTest(alias=alias):
                st, hd, doc = self.call("PUT", GROUPS + "/" + alias + "/trigger", {})
                self.assert_rejected(st, hd, doc, status, code)
                st, hd, doc = self.call("DELETE", GROUPS + "/" + alias)
                self.assert_rejected(st, hd, doc, status, code)
        self.assertEqual(self.mock_reqs(prefix=GROUPS), [])
        g = self.mock_groups()[gid]
        self.assertFalse(g["triggered"])
        self.assertEqual(g["contracts_limit"], 10)
        # reads of it are fine
        st, _, doc = self.call("GET", GROUPS + "/" + gid)
        self.assertEqual(st, 200, doc)

        # a group made directly through the proxy is the admin's to change
        st, _, doc = self.call("POST", GROUPS + "/create", {"contracts_limit": 4})
        self.assertEqual(st, 201, doc)
        mine = doc["order_group_id"]
        st, _, doc = self.call("PUT", GROUPS + "/%s/trigger" % mine, {})
        self.assertEqual(st, 200, doc)
        self.assertTrue(self.mock_groups()[mine]["triggered"])
        st, _, doc = self.call("DELETE", GROUPS + "/" + mine)
        self.assertEqual(st, 200, doc)
        self.assertNotIn(mine, self.mock_groups())
        self.assertIn(gid, self.mock_groups())
        # after the session ended its (deleted) group id is no longer reserved
        self.call("POST", "/session/end", {})
        st, _, doc = self.call("PUT", GROUPS + "/%s/trigger" % gid, {})
        self.assertEqual(st, 404, doc)

    def test_roles(self):
        admin_tok, trader_tok, ro_tok = "admin-token-1234", "trader-token-5678", "ro-token-9012"
        sha = lambda t: hashlib.sha256(t.encode()).hexdigest()
        self.start_gw(config={"clients": [
            {"name": "boss", "role": "admin", "token_sha256": sha(admin_tok)},
            {"name": "bot", "role": "trader", "token_sha256": sha(trader_tok)},
            {"name": "viewer", "role": "read_only", "token_sha256": sha(ro_tok)},
        ]})
        A = {"Authorization": "Bearer " + admin_tok}
        T = {"Authorization": "Bearer " + trader_tok}
        R = {"Authorization": "Bearer " + ro_tok}
        st, hd, doc = self.call("POST", "/session/start", {"contracts_limit": 5})
        self.assert_rejected(st, hd, doc, 401, "unauthorized")
        for h in (T, R):
            st, hd, doc = self.call("POST", "/session/start", {"contracts_limit": 5}, h)
            self.assert_rejected(st, hd, doc, 403, "forbidden")
        self.assertEqual(self.mock_reqs("POST", GROUPS + "/create"), [])
        st, hd, doc = self.call("POST", "/session/start", {"contracts_limit": 5}, A)
        self.assertEqual(st, 201, doc)
        self.assertEqual(hd.get("x-gateway-client"), "boss")
        gid = doc["session"]["order_group_id"]
        for h in (T, R):
            st, _, doc = self.call("GET", "/session", None, h)
            self.assertEqual(st, 200, doc)
            st, _, doc = self.call("GET", "/sessions", None, h)
            self.assertEqual(st, 200, doc)
            st, _, doc = self.call("POST", "/session/heartbeat", {}, h)
            self.assertEqual(st, 200, doc)
            for method, path, body in (("POST", "/session/halt", {}), ("POST", "/session/reset", {}),
                                       ("POST", "/session/end", {}),
                                       ("PUT", "/session/limit", {"contracts_limit": 2})):
                st, hd, doc = self.call(method, path, body, h)
                self.assert_rejected(st, hd, doc, 403, "forbidden")
        # the trader's order gets the group
        st, hd, doc = self.order(CREATE_V2, v2_order(), T)
        self.assertEqual(st, 201, doc)
        self.assertEqual(json.loads(self.mock_creates()[-1]["body"])["order_group_id"], gid)
        st, hd, doc = self.order(CREATE_V2, v2_order(), R)
        self.assert_rejected(st, hd, doc, 403, "forbidden")
        # other groups and cancel-all: admins only
        st, other = self.mock.signed_json("POST", GROUPS + "/create", {"contracts_limit": 5},
                                          expect=201)
        ogid = other["order_group_id"]
        self.mock.clear()
        for h in (T, R):
            st, hd, doc = self.call("PUT", GROUPS + "/%s/trigger" % ogid, {}, h)
            self.assert_rejected(st, hd, doc, 403, "forbidden")
            st, hd, doc = self.call("POST", GROUPS + "/create", {"contracts_limit": 3}, h)
            self.assert_rejected(st, hd, doc, 403, "forbidden")
            st, hd, doc = self.call("DELETE", CREATE_V2, None, h)
            self.assert_rejected(st, hd, doc, 403, "forbidden")
        self.assertEqual(self.mock.requests(), [])
        st, hd, doc = self.call("PUT", GROUPS + "/%s/trigger" % gid, {}, A)
        self.assert_rejected(st, hd, doc, 403, "forbidden")
        st, _, doc = self.call("PUT", GROUPS + "/%s/trigger" % ogid, {}, A)
        self.assertEqual(st, 200, doc)
        st, _, doc = self.call("DELETE", CREATE_V2, None, A)
        self.assertIn(st, (200, 204), doc)
        self.assertFalse(self.mock_groups()[gid]["triggered"])


class SessionClientNameTest(SessionTestBase):

    def test_client_configured_session(self):
        tok = "bot-token-abcdef"
        adm = "adm-token-abcdef"
        sha = lambda t: hashlib.sha256(t.encode()).hexdigest()
        self.start_gw(config={"clients": [
            {"name": "bot", "role": "trader", "session": "botsess", "token_sha256": sha(tok)},
            {"name": "boss", "role": "admin", "token_sha256": sha(adm)}]})
        T = {"Authorization": "Bearer " + tok}
        A = {"Authorization": "Bearer " + adm}
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 9, "name": "botsess"}, A)
        self.assertEqual(st, 201, doc)
        mine = doc["session"]
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 9, "name": "other"}, A)
        self.assertEqual(st, 201, doc)
        # the caller's configured session names GET /session by default
        st, _, doc = self.call("GET", "/session", None, T)
        self.assertEqual(doc["session"]["session_id"], mine["session_id"])
        for h in ({}, {"X-Gateway-Session": "botsess"}):
            st, _, doc = self.order(CREATE_V2, v2_order(), dict(T, **h))
            self.assertEqual(st, 201, doc)
            self.assertEqual(json.loads(self.mock_creates()[-1]["body"])["order_group_id"],
                             mine["order_group_id"])
        n = len(self.mock_creates())
        st, hd, doc = self.order(CREATE_V2, v2_order(), dict(T, **{"X-Gateway-Session": "other"}))
        self.assert_rejected(st, hd, doc, 403, "forbidden")
        self.assertEqual(len(self.mock_creates()), n)


class SessionCounterTest(SessionTestBase):

    def test_counters_after_orders(self):
        self.start_gw()
        self.start_session(contracts_limit=1000)
        st, _, doc = self.order(CREATE_V2, v2_order(count="12.00"))
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["fill_count"], "12.00")
        s = self.get_session()["session"]
        self.assertEqual((s["orders_accepted"], s["orders_rejected"], s["contracts_submitted"],
                          s["contracts_filled"]), ("1.00", "0.00", "12.00", "12.00"))
        # a resting order adds to submitted, not filled; a legacy IOC adds both
        st, _, doc = self.order(CREATE_V2, v2_order(count="2.50", price="0.3000",
                                                    time_in_force="good_till_canceled"))
        self.assertEqual(st, 201, doc)
        st, _, doc = self.order(CREATE_LEGACY, legacy_order(count=4))
        self.assertEqual(st, 201, doc)
        st, _, doc = self.order(BATCH_V2, {"orders": [v2_order(count="1.00"),
                                                      v2_order(count="0.50")]})
        self.assertEqual(st, 201, doc)
        s = self.get_session()["session"]
        self.assertEqual((s["orders_accepted"], s["contracts_submitted"], s["contracts_filled"]),
                         ("5.00", "20.00", "17.50"))
        # the mock agrees on what was filled in the group
        fills = sum(float(f["count_fp"]) for f in self.mock.state()["fills"])
        self.assertAlmostEqual(fills, 17.5)


class SessionDurabilityTest(SessionTestBase):

    def _state_file(self):
        return os.path.join(self.state_dir, "sessions.json")

    def test_counters_flushed_while_the_worker_waits_on_the_exchange(self):
        """DESIGN: counters are flushed at least every second, even while the
        sessions worker is stuck in a slow exchange call (here a group reset
        the mock delays 4 s)."""
        self.start_gw(config={"upstream": {"timeout_ms": 8000}})
        self.start_session(name="a", contracts_limit=100)
        b = self.start_session(name="b", contracts_limit=100)
        self.mock.fault(mode="delay", delay_ms=4000,
                        path_prefix=GROUPS + "/" + b["order_group_id"] + "/reset")
        out = {}
        t = threading.Thread(target=lambda: out.update(
            r=self.call("POST", "/session/reset", {"name": "b"})))
        t.start()
        try:
            time.sleep(0.5)   # the worker is now waiting on the reset
            for _ in range(3):
                st, _, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "a"})
                self.assertEqual(st, 201, doc)
            time.sleep(1.6)
            with open(self._state_file()) as f:
                state = json.load(f)
            a = [x for x in state["sessions"] if x["name"] == "a"][0]
            self.assertEqual(float(a["orders_accepted"]), 3.0, a)
            self.assertTrue(t.is_alive(), "the reset was meant to be still waiting")
        finally:
            t.join(15)
            self.mock.clear_fault()
        self.assertEqual(out["r"][0], 200, out)

    def _restart_keeps_session(self, sig):
        g1 = self.start_gw()
        s = self.start_session(name="dur", contracts_limit=30, subaccount=1)
        st, _, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "dur"})
        self.assertEqual(st, 201, doc)
        path = self._state_file()
        self.assertTrue(os.path.exists(path))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        if sig == signal.SIGTERM:
            self.assertEqual(g1.stop(), 0)
        else:
            time.sleep(1.3)  # counters are flushed at least every second
            g1.kill(signal.SIGKILL)
        g2 = self.start_gw()
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        doc = self.get_session("dur")
        r = doc["session"]
        self.assertEqual((r["session_id"], r["order_group_id"], r["status"], r["subaccount"],
                          r["contracts_limit"], r["started_at"]),
                         (s["session_id"], s["order_group_id"], "active", 1, 30, s["started_at"]))
        self.assertEqual((r["orders_accepted"], r["contracts_submitted"], r["contracts_filled"]),
                         ("1.00", "2.00", "2.00"))
        self.assertIsInstance(doc["upstream"], dict)
        st, _, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "dur"})
        self.assertEqual(st, 201, doc)
        got = json.loads(self.mock_creates()[-1]["body"])
        self.assertEqual((got["order_group_id"], got["subaccount"]), (s["order_group_id"], 1))
        st, _, doc = self.call("PUT", GROUPS + "/%s/trigger" % s["order_group_id"], {})
        self.assertEqual(st, 403, doc)
        # no secrets in the state file
        with open(path) as f:
            text = f.read()
        self.assertNotIn("PRIVATE KEY", text)
        self.assertEqual(len(self.mock_groups()), 1)
        return g2

    def test_restart_after_sigterm_keeps_session(self):
        self._restart_keeps_session(signal.SIGTERM)

    def test_restart_after_sigkill_keeps_session(self):
        self._restart_keeps_session(signal.SIGKILL)

    def test_every_transition_persisted_before_answer(self):
        """SIGKILL right after each answer: the restarted gateway shows the
        state that answer reported."""
        self.start_gw()
        s = self.start_session(name="p", contracts_limit=8)
        gid = s["order_group_id"]

        def crash_restart():
            self.gw.kill(signal.SIGKILL)
            self.start_gw()
            return self.get_session("p")["session"]

        r = crash_restart()
        self.assertEqual((r["session_id"], r["status"]), (s["session_id"], "active"))
        st, _, doc = self.call("POST", "/session/halt", {"name": "p"})
        self.assertEqual(st, 200, doc)
        r = crash_restart()
        self.assertEqual((r["status"], r["status_reason"]), ("triggered", "halted"))
        st, hd, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "p"})
        self.assert_rejected(st, hd, doc, 409, "session_triggered")
        st, _, doc = self.call("POST", "/session/reset", {"name": "p"})
        self.assertEqual(st, 200, doc)
        r = crash_restart()
        self.assertEqual((r["status"], r["status_reason"]), ("active", None))
        st, _, doc = self.call("PUT", "/session/limit", {"name": "p", "contracts_limit": 77})
        self.assertEqual(st, 200, doc)
        r = crash_restart()
        self.assertEqual(r["contracts_limit"], 77)
        self.assertEqual(self.mock_groups()[gid]["contracts_limit"], 77)
        st, _, doc = self.call("POST", "/session/end", {"name": "p"})
        self.assertEqual(st, 200, doc)
        r = crash_restart()
        self.assertEqual((r["status"], r["status_reason"]), ("ended", "ended"))
        self.assertEqual(self.list_sessions()[0]["session_id"], s["session_id"])
        self.assertEqual(self.mock_groups(), {})

    def _run_gateway(self, state_dir):
        env = {"GATEWAY_STATE_DIR": state_dir, "KALSHI_UPSTREAM_URL": self.mock.url,
               "KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_FILE": self.priv}
        try:
            return gwharness.run(["--listen", "127.0.0.1:%d" % harness.free_port()], env=env,
                                 timeout=5)
        except subprocess.TimeoutExpired:
            self.fail("the gateway kept running on a state directory it must refuse")

    def test_corrupt_state_file_stops_startup(self):
        os.makedirs(self.state_dir, mode=0o700)
        path = self._state_file()
        for content in (b'{"version": 1, "sessions": [', b'{"version": 7, "sessions": []}',
                        b'{"version": 1, "sessions": [{"name": "x"}], "history": [], "intents": []}',
                        b'{"version": 1, "sessions": [], "sessions": []}',
                        b'{"version": 1, "sessions": {}, "history": [], "intents": []}',
                        b'{"version": 1, "sessions": [], "history": "x", "intents": []}',
                        b'{"version": 1, "sessions": [], "history": [], "intents": 3}',
                        b'', b'\x00\x01garbage'):
            with self.subTest(content=content):
                with open(path, "wb") as f:
                    f.write(content)
                os.chmod(path, 0o600)
                before = os.stat(path)
                rc, out, err = self._run_gateway(self.state_dir)
                self.assertEqual(rc, 1, out + err)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), content)
                self.assertEqual(os.stat(path).st_mtime_ns, before.st_mtime_ns)
                for marker in harness.SANITIZER_MARKERS:
                    self.assertNotIn(marker, out + err)
        # Gateway.start reports it as well
        with self.assertRaises(RuntimeError):
            g = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), state_dir=self.state_dir)
            self.addCleanup(g.stop)
        self.assertEqual(self.mock_reqs(prefix=GROUPS), [])

    def test_second_gateway_on_same_state_dir_exits_1(self):
        self.start_gw()
        s = self.start_session(contracts_limit=9)
        rc, out, err = self._run_gateway(self.state_dir)
        self.assertEqual(rc, 1, out + err)
        # the first one is unaffected
        self.assertEqual(self.get_session()["session"]["session_id"], s["session_id"])
        st, _, doc = self.order(CREATE_V2, v2_order())
        self.assertEqual(st, 201, doc)

    def test_group_deleted_upstream_while_down_ends_session(self):
        g1 = self.start_gw()
        s = self.start_session(name="gone", contracts_limit=9)
        keep = self.start_session(name="kept", contracts_limit=9)
        self.assertEqual(g1.stop(), 0)
        st, _ = self.mock.signed_json("DELETE", GROUPS + "/" + s["order_group_id"], expect=200)
        self.start_gw()  # waits for /readyz 200: reconciled
        doc = self.get_session("gone")
        e = doc["session"]
        self.assert_session_shape(e)
        self.assertEqual((e["status"], e["status_reason"]), ("ended", "group_missing"))
        self.assertIsNotNone(e["ended_at"])
        self.assertEqual(self.get_session("kept")["session"]["status"], "active")
        st, hd, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "gone"})
        self.assert_rejected(st, hd, doc, 409, "no_active_session")
        st, _, doc = self.order(CREATE_V2, v2_order(), {"X-Gateway-Session": "kept"})
        self.assertEqual(st, 201, doc)
        self.assertEqual(json.loads(self.mock_creates()[-1]["body"])["order_group_id"],
                         keep["order_group_id"])

    def test_group_deleted_upstream_while_running(self):
        self.start_gw()
        s = self.start_session(contracts_limit=9)
        self.mock.reset_state()
        doc = self.get_session()
        self.assertEqual((doc["session"]["status"], doc["session"]["status_reason"]),
                         ("ended", "group_missing"))
        st, hd, doc = self.order(CREATE_V2, v2_order())
        self.assert_rejected(st, hd, doc, 409, "no_active_session")

    def test_start_timeout_leaves_no_orphan_group(self):
        """A create that times out may still land upstream: the gateway
        keeps the intent (and /readyz 503) until it can no longer land,
        then deletes the group it finds, so nothing is orphaned."""
        self.start_gw(config={"readiness": {"probe_interval_s": 1},
                              "upstream": {"timeout_ms": 1000, "connect_timeout_ms": 300}})
        self.mock.fault(mode="delay", delay_ms=1800, path_prefix=GROUPS + "/create", count=1)
        st, hd, doc = self.call("POST", "/session/start", {"contracts_limit": 5})
        self.assert_rejected(st, hd, doc, 504, "upstream_timeout")
        st, _, doc = self.call("GET", "/readyz")
        self.assertEqual(st, 503, doc)
        # the create lands on the mock (and stays until the intent settles)
        self.wait_for(lambda: len(self.mock_groups()) == 1, timeout=3, what="the late group")
        self.gw.wait_ready(timeout=6)
        self.assertEqual(self.mock_groups(), {})
        self.assertEqual(self.list_sessions(), [])
        deleted = self.mock_reqs("DELETE", prefix=GROUPS + "/")
        self.assertEqual(len(deleted), 1)
        # and a new start works
        s = self.start_session(contracts_limit=5)
        self.assertEqual(list(self.mock_groups()), [s["order_group_id"]])

    def test_history_is_bounded(self):
        self.start_gw(config={"session": {"history": 2}})
        ids = []
        for i in range(4):
            s = self.start_session(name="h%d" % i, contracts_limit=3)
            ids.append(s["session_id"])
            st, _, doc = self.call("POST", "/session/end", {"name": "h%d" % i})
            self.assertEqual(st, 200, doc)
        self.start_session(name="live", contracts_limit=3)
        listed = self.list_sessions()
        self.assertEqual(sorted((x["name"], x["status"]) for x in listed),
                         [("h2", "ended"), ("h3", "ended"), ("live", "active")])
        with open(self._state_file()) as f:
            state = json.load(f)
        self.assertEqual(len(state["history"]), 2)

    def test_readiness_waits_for_reconciliation(self):
        cfg = {"readiness": {"probe_interval_s": 1}}
        g1 = self.start_gw(config=cfg)
        s = self.start_session(contracts_limit=9)
        self.assertEqual(g1.stop(), 0)
        self.mock.fault(mode="status", status=503, path_prefix=GROUPS + "/",
                        body={"error": {"code": "service_unavailable", "message": "down"}})
        g2 = self.start_gw(config=cfg, wait_ready=False)
        time.sleep(1.5)
        st, _, doc = self.call("GET", "/readyz")
        self.assertEqual(st, 503, doc)
        self.assertTrue(doc, "a 503 from /readyz says why")
        listed = self.list_sessions()
        self.assertEqual([(x["session_id"], x["status"]) for x in listed],
                         [(s["session_id"], "active")])
        doc = self.get_session()
        self.assertEqual(doc["session"]["status"], "active")
        self.assertIsNone(doc["upstream"])
        self.assertEqual(doc["upstream_error"]["status"], 503)
        # orders still get the (unverified) group
        st, _, doc = self.order(CREATE_V2, v2_order())
        self.assertEqual(st, 201, doc)
        self.mock.clear_fault()
        g2.wait_ready(timeout=4)
        self.assertEqual(self.list_sessions()[0]["status"], "active")
        self.assertIn(s["order_group_id"], self.mock_groups())


class SessionCrashSafetyTest(SessionTestBase):

    def test_sigkill_during_start_leaves_no_orphan_group(self):
        """SIGKILL at random moments while a group create is held 1.5 s by
        the mock: after each restart every group on the mock belongs to a
        session the gateway lists, and every active session has its group.
        Each check waits until the killed gateway's create has landed, so a
        create that lands after recovery is caught as an orphan."""
        seed = int(os.environ.get("GW_SEED", "0")) or random.randrange(1, 1 << 30)
        rng = random.Random(seed)
        cfg = {"readiness": {"probe_interval_s": 1},
               "upstream": {"timeout_ms": 1800, "connect_timeout_ms": 500}}
        self.mock.fault(mode="delay", delay_ms=1500, path_prefix=GROUPS + "/create")
        delays = [rng.uniform(0, 1.6) for _ in range(8)]
        landed_by = 0.0
        outcomes = []
        for i, delay in enumerate(delays):
            g = self.start_gw(config=cfg, wait_ready=False)
            self._assert_consistent(g, "seed %d, iteration %d (after restart)" % (seed, i),
                                    landed_by)
            answer = {}

            def starter():
                try:
                    answer["r"] = g.json("POST", "/session/start",
                                         {"contracts_limit": 5, "name": "c%d" % i}, timeout=5)[0]
                except Exception as exc:  # killed mid-request
                    answer["r"] = type(exc).__name__

            t = threading.Thread(target=starter)
            sent = time.time()
            t.start()
            time.sleep(delay)
            g.kill(signal.SIGKILL)
            t.join(10)
            landed_by = sent + 2.0
            outcomes.append((round(delay, 2), answer.get("r")))
            self.assert_clean_logs(g)
        g = self.start_gw(config=cfg, wait_ready=False)
        self._assert_consistent(g, "seed %d, final %s" % (seed, outcomes), landed_by)
        # at least one kill hit a create in flight, and one start completed
        self.assertTrue(any(r != 201 for _, r in outcomes), outcomes)

    def test_recovery_keeps_groups_it_did_not_ask_for(self):
        """Recovery deletes the group created under its unfinished intent,
        not a group another tool made on the account meanwhile."""
        cfg = {"readiness": {"probe_interval_s": 1},
               "upstream": {"timeout_ms": 1800, "connect_timeout_ms": 500}}
        g = self.start_gw(config=cfg)
        self.mock.fault(mode="delay", delay_ms=1000, path_prefix=GROUPS + "/create", count=1)
        t = threading.Thread(target=lambda: self._quiet(g.json, "POST", "/session/start",
                                                        {"contracts_limit": 5}, timeout=5))
        t.start()
        time.sleep(0.4)
        g.kill(signal.SIGKILL)
        t.join(10)
        # the killed gateway's create lands
        groups = self.wait_for(lambda: self.mock_groups(), timeout=3, what="the late group")
        self.assertEqual(len(groups), 1)
        orphan = next(iter(groups))
        st, other = self.mock.signed_json("POST", GROUPS + "/create", {"contracts_limit": 77},
                                          expect=201)
        g = self.start_gw(config=cfg, wait_ready=False)
        g.wait_ready(timeout=10)
        groups = self.mock_groups()
        self.assertNotIn(orphan, groups)
        self.assertEqual(list(groups), [other["order_group_id"]])
        self.assertEqual(self.list_sessions(gw=g), [])

    @staticmethod
    def _quiet(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except Exception:
            return None

    def test_end_interrupted_by_crash_completes_on_restart(self):
        g = self.start_gw()
        s = self.start_session(contracts_limit=6)
        st, _, placed = self.order(CREATE_V2, v2_order(time_in_force="good_till_canceled",
                                                        price="0.3000"))
        self.assertEqual(st, 201, placed)
        # the fault would also catch a group watch read (a GET about every
        # second): set it right after one, so the DELETE is what it catches
        reads = lambda: len(self.mock_reqs("GET", GROUPS + "/" + s["order_group_id"], watch=True))
        n = reads()
        self.wait_for(lambda: reads() > n, timeout=5, step=0.01, what="a group watch read")
        self.mock.fault(mode="hang", delay_ms=3000, path_prefix=GROUPS + "/", count=1)
        t = threading.Thread(target=lambda: self._quiet(g.json, "POST", "/session/end", {},
                                                        timeout=5))
        t.start()
        self.wait_for(lambda: self.mock_reqs("DELETE", prefix=GROUPS + "/"), timeout=3,
                      what="the DELETE to reach the mock")
        g.kill(signal.SIGKILL)
        t.join(10)
        self.assertIn(s["order_group_id"], self.mock_groups())  # never processed
        self.start_gw()
        e = self.get_session()["session"]
        self.assertEqual((e["session_id"], e["status"], e["status_reason"]),
                         (s["session_id"], "ended", "ended"))
        self.assertEqual(self.mock_groups(), {})
        self.assertEqual(self.mock_order(placed["order_id"])["status"], "canceled")

    def _assert_consistent(self, g, what, landed_by=0.0):
        g.wait_ready(timeout=12)
        # a create the killed gateway sent lands on the mock by landed_by
        time.sleep(max(0.0, landed_by - time.time()))
        active = {x["order_group_id"]: x["name"] for x in self.list_sessions(gw=g)
                  if x["status"] != "ended"}
        groups = set(self.mock_groups())
        self.assertEqual(groups - set(active), set(), "%s: orphan groups on the mock" % what)
        self.assertEqual(set(active) - groups, set(),
                         "%s: active sessions without their group" % what)


if __name__ == "__main__":
    unittest.main()
