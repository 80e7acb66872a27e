"""End-to-end tests of the team policy: who the caller is, what its role lets it
do, the local risk limits, the audit log, /metrics and the control client.

Each class starts one mock exchange (verifying every signature with a freshly
generated team key pair) and one gateway configured with a team of clients:
  admin  the admin token (admin_token_file), role admin
  alpha  a trader identified by token_sha256, configured session "default"
  watch  a read_only client identified by token_file
  sig    a bot identified by its own Kalshi key id, whose own signature is
         verified with public_key_file (its own generated key pair), role trader
Tests assert on what the MOCK RECEIVED, not only on what the gateway answered.
The contract is /work/shared/DESIGN.md ("Configuration", "Who may do what",
"Errors", "Durability and safety").

Run: python3 tests/e2e/run.py -k Policy -v
"""
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
import unittest

import gwharness
import harness
from gwharness import Gateway
from harness import Mock

KEY_ID = "test-key-id"              # the team's key id (the mock requires it)
BOT_KEY_ID = "bot-sig-own-key-7f3a"  # the "sig" bot's own key id
V2 = "/trade-api/v2"
A = "KXMOCK-26DEC31-A"               # book 0.45 / 0.47
B = "KXMOCK-26DEC31-B"               # book 0.20 / 0.23
C = "KXMOCK-26DEC31-C"               # book 0.88 / 0.90
GROUPS = V2 + "/portfolio/order_groups"
CREATE_V2 = V2 + "/portfolio/events/orders"
BATCH_V2 = CREATE_V2 + "/batched"
CREATE_LEGACY = V2 + "/portfolio/orders"
BATCH_LEGACY = CREATE_LEGACY + "/batched"
CREATE_PATHS = (CREATE_V2, BATCH_V2, CREATE_LEGACY, BATCH_LEGACY)
TAG = "X-Policy-Test"  # forwarded unchanged: marks the requests the tests made
SANITIZER_WORDS = ("AddressSanitizer", "runtime error", "LeakSanitizer")


def v2(ticker=A, side="bid", count="1.00", price="0.3000", **kw):
    """A V2 create that rests on the mock's book (good till canceled)."""
    body = {"ticker": ticker, "side": side, "count": count, "price": price,
            "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"}
    body.update(kw)
    return body


def legacy(ticker=A, side="yes", action="buy", count=1, **price):
    """A legacy create (prices in cents), good till canceled."""
    body = {"ticker": ticker, "side": side, "action": action, "count": count,
            "time_in_force": "good_till_canceled"}
    body.update(price or {"yes_price": 30})
    return body


def all_requests(mock):
    """Every request the mock recorded, the gateway's background group reads
    included (newer harnesses leave those out unless asked)."""
    try:
        return mock.requests(watch=True)
    except TypeError:
        return mock.requests()


def key_body_lines(pem_path):
    """The base64 lines of a PEM file (what must never leak)."""
    with open(pem_path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("-----")]


class PolicyBase(unittest.TestCase):
    """One mock + gateway per class, with the team of four clients."""

    limits = None           # the global `limits` object
    client_limits = {}      # client name -> its `limits`
    start_default = True    # the admin starts session "default" (for alpha and sig)
    extra_clients = ()      # more clients for one class
    default_limit = 100000  # its contracts_limit

    # --- class fixtures -------------------------------------------------------
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test-policy-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.priv, cls.pub = harness.gen_keypair(cls.tmp)          # the team's key
        cls.bot_priv, cls.bot_pub = harness.gen_keypair(cls.tmp)  # the bot's own key
        cls.other_priv, _ = harness.gen_keypair(cls.tmp)          # nobody's key
        cls.tokens = {n: "%s-%s" % (n, secrets.token_urlsafe(24)) for n in ("admin", "alpha", "watch")}
        cls.admin_token_file = cls._secret_file("admin.token", cls.tokens["admin"] + "\n")
        watch_file = cls._secret_file("watch.token", cls.tokens["watch"] + "\n")
        cls.sent_signatures = []   # the bot's own signatures sent to the gateway
        cls.mock = Mock.start(pubkey=cls.pub, key_id=KEY_ID, priv=cls.priv)
        cls.addClassCleanup(cls._stop_mock)

        clients = [
            {"name": "alpha", "role": "trader", "session": "default",
             "token_sha256": hashlib.sha256(cls.tokens["alpha"].encode()).hexdigest()},
            {"name": "watch", "role": "read_only", "token_file": watch_file},
            {"name": "sig", "role": "trader", "kalshi_key_id": BOT_KEY_ID,
             "public_key_file": cls.bot_pub},
        ]
        clients += [dict(c) for c in cls.extra_clients]
        for c in clients:
            if c["name"] in cls.client_limits:
                c["limits"] = cls.client_limits[c["name"]]
        cfg = {"rate_limit": {"tier": "off"}, "admin_token_file": cls.admin_token_file,
               "clients": clients}
        if cls.limits is not None:
            cfg["limits"] = cls.limits
        cls.cfg = cfg
        cls.gw = Gateway.start(mock=cls.mock, keys=(cls.priv, cls.pub), config=cfg)
        cls.addClassCleanup(cls._stop_gw)
        cls.gw.wait_ready(timeout=15)
        cls.state_dir = os.path.join(cls.gw.dir, "var")
        cls.H = {n: {"Authorization": "Bearer " + t} for n, t in cls.tokens.items()}
        cls.H["none"] = {}
        cls.gid = None
        if cls.start_default:
            st, _, doc = cls.gw.json("POST", "/session/start",
                                     {"contracts_limit": cls.default_limit, "name": "default"},
                                     cls.H["admin"])
            if st != 201:
                raise AssertionError("cannot start session default: %s %s" % (st, doc))
            cls.gid = doc["session"]["order_group_id"]

    @classmethod
    def _secret_file(cls, name, text):
        path = os.path.join(cls.tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    @classmethod
    def _stop_mock(cls):
        try:
            reqs = all_requests(cls.mock)
            bad = [(r["method"], r["path"]) for r in reqs if not r["sig_valid"]]
            keys = {r["headers"].get("kalshi-access-key") for r in reqs}
        finally:
            cls.mock.stop()
        if bad:
            raise AssertionError("requests with an invalid team signature reached the mock: %s" % bad)
        if keys - {KEY_ID}:
            raise AssertionError("a key id other than the team's reached the mock: %s" % keys)

    @classmethod
    def _stop_gw(cls):
        # the secrets check needs the mock's record, so it runs before the mock stops
        cls.mock_signatures = [r["headers"].get("kalshi-access-signature", "")
                               for r in all_requests(cls.mock)]
        rc = cls.gw.stop()
        logs = cls.gw.logs()
        for w in SANITIZER_WORDS:
            if w in logs:
                raise AssertionError("sanitizer report in the gateway log:\n" + logs[-6000:])
        if rc != 0:
            raise AssertionError("gateway exit code %s: %s" % (rc, logs[-3000:]))
        leaks = cls.find_secrets()
        if leaks:
            raise AssertionError("secrets written by the gateway: %s" % leaks)
        shutil.rmtree(cls.gw.dir, ignore_errors=True)

    def tearDown(self):
        logs = self.gw.logs()
        for w in SANITIZER_WORDS:
            self.assertNotIn(w, logs, "sanitizer report in the gateway log:\n" + logs[-6000:])

    # --- secrets ------------------------------------------------------------------
    @classmethod
    def written_files(cls):
        """Everything the gateway wrote: its log and every file in state_dir."""
        out = {"gateway.log": cls.gw.logs()}
        for root, _, files in os.walk(cls.state_dir):
            for name in files:
                p = os.path.join(root, name)
                try:
                    with open(p, errors="replace") as f:
                        out[os.path.relpath(p, cls.state_dir)] = f.read()
                except OSError:
                    pass
        return out

    @classmethod
    def find_secrets(cls, signatures=None):
        """(file, what) pairs for every secret found in what the gateway wrote."""
        needles = [("token " + n, t) for n, t in cls.tokens.items()]
        needles += [("team key line", l) for l in key_body_lines(cls.priv) if len(l) >= 40]
        needles += [("bot key line", l) for l in key_body_lines(cls.bot_priv) if len(l) >= 40]
        sigs = signatures if signatures is not None else getattr(cls, "mock_signatures", [])
        needles += [("upstream signature", s) for s in sigs if s]
        needles += [("bot signature", s) for s in cls.sent_signatures]
        found = []
        for fname, text in cls.written_files().items():
            for what, secret in needles:
                if secret in text:
                    found.append((fname, what))
        return sorted(set(found))

    # --- requests -------------------------------------------------------------------
    def call(self, method, path, body=None, who="alpha", headers=None):
        h = dict(self.H[who]) if who != "sig" else self.sig_headers(method, path)
        h.update(headers or {})
        return self.send(method, path, body, h)

    def send(self, method, path, body=None, headers=None, gw=None):
        """gw.json with the tag header that marks the test's own requests."""
        h = {TAG: "1"}
        h.update(headers or {})
        return (gw or self.gw).json(method, path, body, h)

    def tagged(self):
        """What the mock received from the test's requests (not the
        gateway's own background reads)."""
        return [r for r in all_requests(self.mock) if TAG.lower() in r["headers"]]

    def sig_headers(self, method, path, ts=None, priv=None, key_id=BOT_KEY_ID):
        """The bot's own Kalshi-style signature headers."""
        h = harness.signed_headers(priv or self.bot_priv, method, path, key_id=key_id, ts_ms=ts)
        type(self).sent_signatures.append(h["KALSHI-ACCESS-SIGNATURE"])
        return h

    def mock_reqs(self, method=None, path=None, prefix=None):
        out = []
        for r in self.tagged():
            if method and r["method"] != method:
                continue
            if path is not None and r["path"] != path:
                continue
            if prefix is not None and not r["path"].startswith(prefix):
                continue
            out.append(r)
        return out

    def mock_creates(self):
        return [r for r in self.mock_reqs("POST") if r["path"] in CREATE_PATHS]

    def mock_order(self, oid):
        for o in self.mock.state()["orders"]:
            if o["order_id"] == oid:
                return o
        self.fail("the mock has no order %s" % oid)

    def place(self, who="alpha", headers=None, **kw):
        """Places a resting V2 order; returns its order_id."""
        st, _, doc = self.call("POST", CREATE_V2, v2(**kw), who, headers)
        self.assertEqual(st, 201, doc)
        return doc["order_id"]

    def assert_rejected(self, st, hd, doc, status, code):
        self.assertEqual(st, status, doc)
        self.assertEqual(hd.get("x-gateway-rejected"), "1", hd)
        self.assertIsInstance(doc, dict, doc)
        self.assertIsInstance(doc.get("error"), dict, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertIsInstance(doc["error"].get("message"), str, doc)
        self.assertTrue(doc["error"]["message"], doc)

    def assert_not_gateway_refused(self, st, hd, doc):
        """Forwarded: whatever the mock answered, not a gateway refusal."""
        self.assertNotIn("x-gateway-rejected", hd, (st, doc))
        self.assertNotIn(st, (401, 403), doc)


# ------------------------------------------------------------------------------------
class PolicyIdentifyTest(PolicyBase):
    # a bot known by its key id alone (no public_key_file): trusted on loopback only
    extra_clients = ({"name": "bare", "role": "read_only", "kalshi_key_id": "bare-key-id"},)

    def test_bare_key_id_only_on_loopback(self):
        self.mock.clear()
        h = {"KALSHI-ACCESS-KEY": "bare-key-id", "KALSHI-ACCESS-SIGNATURE": "bm90LWNoZWNrZWQ=",
             "KALSHI-ACCESS-TIMESTAMP": "1"}
        st, hd, doc = self.send("GET", V2 + "/portfolio/balance", None, h)
        self.assertEqual((st, hd.get("x-gateway-client")), (200, "bare"), doc)
        r = self.mock_reqs("GET", V2 + "/portfolio/balance")[-1]
        self.assertTrue(r["sig_valid"])
        self.assertEqual(r["headers"]["kalshi-access-key"], KEY_ID)
        self.assertNotEqual(r["headers"]["kalshi-access-timestamp"], "1")
        st, hd, doc = self.send("POST", CREATE_V2, v2(), h)   # read_only
        self.assert_rejected(st, hd, doc, 403, "forbidden")
        # the same team on a non-loopback address: a bare key id is not enough,
        # while tokens and verified bot signatures still identify
        port = harness.free_port()   # the last --listen wins; /healthz is polled on 127.0.0.1
        g = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), config=self.cfg, port=port,
                          args=["--listen", "0.0.0.0:%d" % port])
        try:
            self.assertIn("0.0.0.0:%d" % port, g.logs())
            g.wait_ready(timeout=15)
            n = len(self.mock_reqs("GET", V2 + "/portfolio/balance"))
            st, hd, doc = self.send("GET", V2 + "/portfolio/balance", None, h, gw=g)
            self.assert_rejected(st, hd, doc, 401, "unauthorized")
            st, hd, doc = self.send("GET", V2 + "/portfolio/balance", gw=g,
                                    headers={"KALSHI-ACCESS-KEY": "bare-key-id"})
            self.assert_rejected(st, hd, doc, 401, "unauthorized")
            self.assertEqual(len(self.mock_reqs("GET", V2 + "/portfolio/balance")), n)
            st, hd, doc = self.send("GET", V2 + "/portfolio/balance", gw=g,
                                    headers=self.sig_headers("GET", V2 + "/portfolio/balance"))
            self.assertEqual((st, hd.get("x-gateway-client")), (200, "sig"), doc)
            st, hd, doc = self.send("GET", V2 + "/markets", None, self.H["watch"], gw=g)
            self.assertEqual((st, hd.get("x-gateway-client")), (200, "watch"), doc)
        finally:
            rc = g.stop()
            logs = g.logs()
            shutil.rmtree(g.dir, ignore_errors=True)
        for w in SANITIZER_WORDS:
            self.assertNotIn(w, logs)
        self.assertEqual(rc, 0, logs[-2000:])

    def test_unidentified_is_401(self):
        before = len(self.tagged())
        cases = [
            ("no credentials", {}),
            ("wrong token", {"Authorization": "Bearer not-a-token-of-anyone"}),
            ("token with a suffix", {"Authorization": "Bearer " + self.tokens["alpha"] + "x"}),
            ("token prefix", {"Authorization": "Bearer " + self.tokens["admin"][:-1]}),
            ("empty bearer", {"Authorization": "Bearer "}),
            ("basic auth", {"Authorization": "Basic " + self.tokens["admin"]}),
            ("bare token", {"Authorization": self.tokens["admin"]}),
            ("unknown key id", {"KALSHI-ACCESS-KEY": "nobody-key"}),
            ("the team's key id", {"KALSHI-ACCESS-KEY": KEY_ID}),
        ]
        for what, h in cases:
            for method, path, body in (("GET", V2 + "/markets", None),
                                       ("GET", V2 + "/portfolio/balance", None),
                                       ("POST", CREATE_V2, v2()),
                                       ("DELETE", CREATE_V2 + "/some-order", None),
                                       ("GET", "/session", None), ("GET", "/sessions", None),
                                       ("POST", "/session/start", {"contracts_limit": 3}),
                                       ("POST", "/session/heartbeat", {}),
                                       ("GET", "/metrics", None)):
                with self.subTest(what=what, path=path, method=method):
                    st, hd, doc = self.send(method, path, body, h)
                    self.assert_rejected(st, hd, doc, 401, "unauthorized")
                    self.assertNotEqual(hd.get("x-gateway-client"), "admin")
        self.assertEqual(len(self.tagged()), before, "an unidentified request reached the mock")

    def test_each_token_identifies_its_client(self):
        for who in ("admin", "alpha", "watch"):
            with self.subTest(who=who):
                st, hd, doc = self.call("GET", V2 + "/markets?limit=1", who=who)
                self.assertEqual(st, 200, doc)
                self.assertEqual(hd.get("x-gateway-client"), who)
                st, hd, doc = self.call("GET", "/session", who=who)
                self.assertEqual(st, 200, doc)
                self.assertEqual(hd.get("x-gateway-client"), who)
                # a token wins over a key id sent alongside it
                st, hd, _ = self.call("GET", V2 + "/exchange/status", who=who,
                                      headers={"KALSHI-ACCESS-KEY": BOT_KEY_ID})
                self.assertEqual((st, hd.get("x-gateway-client")), (200, who))
        # the scheme name is case-insensitive (RFC 9110)
        st, hd, _ = self.send("GET", V2 + "/markets", None,
                                 {"Authorization": "bearer " + self.tokens["watch"]})
        self.assertEqual((st, hd.get("x-gateway-client")), (200, "watch"))

    def test_health_endpoints_are_open(self):
        for path in ("/healthz", "/readyz"):
            with self.subTest(path=path):
                st, hd, doc = self.send("GET", path)
                self.assertEqual(st, 200, doc)
                self.assertNotIn("x-gateway-rejected", hd)
                # also with a wrong token: no identification is attempted
                st, _, doc = self.send("GET", path, None, {"Authorization": "Bearer wrong"})
                self.assertEqual(st, 200, doc)
        st, _, doc = self.send("GET", "/healthz")
        self.assertEqual(doc, {"status": "ok"})

    def test_bot_signature_accepted_and_team_signs_upstream(self):
        self.mock.clear()
        path = V2 + "/portfolio/balance"
        h = self.sig_headers("GET", path)
        st, hd, doc = self.send("GET", path + "?subaccount=0", None, h)
        self.assertEqual(st, 200, doc)
        self.assertEqual(hd.get("x-gateway-client"), "sig")
        self.assertIn("balance", doc)
        got = self.mock_reqs("GET", path)
        self.assertEqual(len(got), 1)
        r = got[0]["headers"]
        self.assertTrue(got[0]["sig_valid"])
        self.assertEqual(got[0]["query"], "subaccount=0")
        self.assertEqual(r["kalshi-access-key"], KEY_ID)
        self.assertNotEqual(r["kalshi-access-signature"], h["KALSHI-ACCESS-SIGNATURE"])
        ts = int(r["kalshi-access-timestamp"])
        self.assertTrue(harness.verify(self.pub, ts, "GET", path, r["kalshi-access-signature"]))
        self.assertFalse(harness.verify(self.bot_pub, ts, "GET", path, r["kalshi-access-signature"]))
        self.assertNotIn(BOT_KEY_ID, json.dumps(got[0]))

        # the bot is a trader: its order is accepted, gets the session's group,
        # and reaches the mock signed by the team
        body = v2(price="0.2500")
        h = self.sig_headers("POST", CREATE_V2)
        st, hd, doc = self.send("POST", CREATE_V2, body, h)
        self.assertEqual(st, 201, doc)
        self.assertEqual(hd.get("x-gateway-client"), "sig")
        got = self.mock_reqs("POST", CREATE_V2)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0]["sig_valid"])
        self.assertEqual(got[0]["headers"]["kalshi-access-key"], KEY_ID)
        self.assertNotEqual(got[0]["headers"]["kalshi-access-signature"], h["KALSHI-ACCESS-SIGNATURE"])
        self.assertEqual(json.loads(got[0]["body"])["order_group_id"], self.gid)
        # and it may cancel it (signing the cancel's own path)
        oid = doc["order_id"]
        path = CREATE_V2 + "/" + oid
        st, hd, doc = self.send("DELETE", path, None, self.sig_headers("DELETE", path))
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.mock_order(oid)["status"], "canceled")
        # a role check still applies to the bot: cancel-all is admin-only
        st, hd, doc = self.send("DELETE", CREATE_V2, None, self.sig_headers("DELETE", CREATE_V2))
        self.assert_rejected(st, hd, doc, 403, "forbidden")
        self.assertEqual(self.mock_reqs("DELETE", CREATE_V2), [])

    def test_bot_bad_signatures_are_401(self):
        self.mock.clear()
        path = V2 + "/portfolio/balance"
        now = harness.now_ms()
        good = self.sig_headers("GET", path)
        cases = {
            "signed with the team's key": self.sig_headers("GET", path, priv=self.priv),
            "signed with another key": self.sig_headers("GET", path, priv=self.other_priv),
            "stale timestamp": self.sig_headers("GET", path, ts=now - 30000),
            "timestamp 6 s old": self.sig_headers("GET", path, ts=now - 6000),
            "future timestamp": self.sig_headers("GET", path, ts=now + 30000),
            "other path signed": self.sig_headers("GET", V2 + "/portfolio/positions"),
            "other method signed": self.sig_headers("POST", path),
            "query signed": None,   # built below
            "wrong salt length": harness.signed_headers(self.bot_priv, "GET", path,
                                                        key_id=BOT_KEY_ID, saltlen="max"),
            "timestamp changed": dict(good, **{"KALSHI-ACCESS-TIMESTAMP": str(now - 1)}),
            "no signature": {k: v for k, v in good.items() if k != "KALSHI-ACCESS-SIGNATURE"},
            "no timestamp": {k: v for k, v in good.items() if k != "KALSHI-ACCESS-TIMESTAMP"},
            "key id alone": {"KALSHI-ACCESS-KEY": BOT_KEY_ID},
            "garbage signature": dict(good, **{"KALSHI-ACCESS-SIGNATURE": "!!not base64!!"}),
            "empty signature": dict(good, **{"KALSHI-ACCESS-SIGNATURE": ""}),
            "good signature, wrong bearer": dict(good, Authorization="Bearer wrong-token"),
        }
        for what, h in cases.items():
            with self.subTest(what=what):
                target = path + ("?subaccount=0" if what == "query signed" else "")
                if what == "query signed":
                    # the signature covers the path with its query: not Kalshi's scheme
                    h = harness.signed_headers(self.bot_priv, "GET", path, key_id=BOT_KEY_ID)
                    h["KALSHI-ACCESS-SIGNATURE"] = harness.sign(self.bot_priv,
                                                                int(h["KALSHI-ACCESS-TIMESTAMP"]),
                                                                "GET", target)
                st, hd, doc = self.send("GET", target, None, h)
                self.assert_rejected(st, hd, doc, 401, "unauthorized")
        # an order with a forged signature is refused too
        st, hd, doc = self.send("POST", CREATE_V2, v2(),
                                   self.sig_headers("POST", CREATE_V2, priv=self.other_priv))
        self.assert_rejected(st, hd, doc, 401, "unauthorized")
        self.assertEqual(self.mock_reqs(prefix=V2 + "/portfolio"), [],
                         "a request with a bad bot signature reached the mock")
        # the good one still passes, and so does one 4 s old (the window is 5 s)
        st, hd, doc = self.send("GET", path, None, good)
        self.assertEqual((st, hd.get("x-gateway-client")), (200, "sig"), doc)
        st, hd, doc = self.send("GET", path, None,
                                   self.sig_headers("GET", path, ts=harness.now_ms() - 4000))
        self.assertEqual((st, hd.get("x-gateway-client")), (200, "sig"), doc)


# ------------------------------------------------------------------------------------
class PolicyRolesTest(PolicyBase):
    """DESIGN.md "Who may do what", row by row."""

    def test_read_only(self):
        oid = self.place("admin", price="0.2000")
        before = len(self.tagged())
        for path in (V2 + "/markets", V2 + "/portfolio/balance", V2 + "/portfolio/orders",
                     V2 + "/portfolio/orders/" + oid, GROUPS, GROUPS + "/" + self.gid):
            with self.subTest(path=path):
                st, hd, doc = self.call("GET", path, who="watch")
                self.assertEqual(st, 200, doc)
                self.assertEqual(hd.get("x-gateway-client"), "watch")
        self.assertEqual(len(self.tagged()), before + 6,
                         [(r["method"], r["path"]) for r in self.tagged()[before:]])
        self.mock.clear()
        for method, path, body in (
                ("POST", CREATE_V2, v2()), ("POST", BATCH_V2, {"orders": [v2()]}),
                ("POST", CREATE_LEGACY, legacy()), ("POST", BATCH_LEGACY, {"orders": [legacy()]}),
                ("POST", CREATE_V2 + "/%s/amend" % oid, v2(count="2.00")),
                ("POST", CREATE_V2 + "/%s/decrease" % oid, {"reduce_by": "1.00"}),
                ("DELETE", CREATE_V2 + "/" + oid, None),
                ("DELETE", CREATE_LEGACY + "/" + oid, None),
                ("DELETE", BATCH_V2, {"orders": [{"order_id": oid}]}),
                ("DELETE", CREATE_V2, None),
                ("POST", GROUPS + "/create", {"contracts_limit": 3}),
                ("GET", V2 + "/api_keys", None),
                ("POST", V2 + "/portfolio/subaccounts", {}),
                ("POST", "/session/start", {"contracts_limit": 3, "name": "w"}),
                ("POST", "/session/reset", {}), ("POST", "/session/halt", {}),
                ("POST", "/session/end", {}), ("PUT", "/session/limit", {"contracts_limit": 3})):
            with self.subTest(method=method, path=path):
                st, hd, doc = self.call(method, path, body, "watch")
                self.assert_rejected(st, hd, doc, 403, "forbidden")
        self.assertEqual(self.tagged(), [])
        self.assertEqual(self.mock_order(oid)["status"], "resting")
        for method, path, body in (("GET", "/session", None), ("GET", "/sessions", None),
                                   ("POST", "/session/heartbeat", {}), ("GET", "/metrics", None)):
            with self.subTest(method=method, path=path):
                st, hd, doc = self.call(method, path, body, "watch")
                self.assertEqual(st, 200, doc)
        # the cleanup: the admin cancels
        st, _, doc = self.call("DELETE", CREATE_V2 + "/" + oid, who="admin")
        self.assertEqual(st, 200, doc)

    def test_trader(self):
        self.mock.clear()
        # order create (V2 and legacy, single and batch) gets the session's group
        oid = self.place("alpha", price="0.2100")
        st, _, doc = self.call("POST", BATCH_V2, {"orders": [v2(price="0.2200"), v2(price="0.2300")]})
        self.assertEqual(st, 201, doc)
        batch_ids = [o["order_id"] for o in doc["orders"]]
        st, _, doc = self.call("POST", CREATE_LEGACY, legacy(yes_price=24))
        self.assertEqual(st, 201, doc)
        legacy_id = (doc.get("order") or doc)["order_id"]
        creates = self.mock_creates()
        self.assertEqual(len(creates), 3)
        for r in creates:
            b = json.loads(r["body"])
            for o in b.get("orders", [b]):
                self.assertEqual(o["order_group_id"], self.gid)
        # amend, decrease, cancel, legacy cancel, batch cancel
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/amend" % oid,
                                {"ticker": A, "side": "bid", "count": "3.00", "price": "0.2000"})
        self.assert_not_gateway_refused(st, hd, doc)
        self.assertEqual(st, 200, doc)
        oid = doc.get("order", {}).get("order_id", oid) if isinstance(doc, dict) else oid
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/decrease" % oid, {"reduce_by": "1.00"})
        self.assertEqual(st, 200, doc)
        st, hd, doc = self.call("DELETE", CREATE_V2 + "/" + oid)
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.mock_order(oid)["status"], "canceled")
        st, hd, doc = self.call("DELETE", CREATE_LEGACY + "/" + legacy_id)
        self.assert_not_gateway_refused(st, hd, doc)
        self.assertEqual(self.mock_order(legacy_id)["status"], "canceled")
        st, hd, doc = self.call("DELETE", BATCH_V2, {"orders": [{"order_id": i} for i in batch_ids]})
        self.assertEqual(st, 200, doc)
        for i in batch_ids:
            self.assertEqual(self.mock_order(i)["status"], "canceled")
        n = len(self.tagged())
        # admin-only rows
        resting = self.place("alpha", price="0.1900")
        n += 1
        st, other = self.mock.signed_json("POST", GROUPS + "/create", {"contracts_limit": 5},
                                          expect=201)
        ogid = other["order_group_id"]   # made directly on the mock: not tagged
        for method, path, body in (
                ("DELETE", CREATE_V2, None),                               # cancel-all
                ("POST", GROUPS + "/create", {"contracts_limit": 3}),
                ("PUT", GROUPS + "/%s/trigger" % ogid, {}),                # a group no session owns
                ("DELETE", GROUPS + "/" + ogid, None),
                ("GET", V2 + "/api_keys", None),
                ("POST", V2 + "/api_keys", {}),
                ("POST", V2 + "/portfolio/subaccounts", {}),
                ("POST", V2 + "/communications/rfqs", {}),
                ("POST", "/session/start", {"contracts_limit": 3, "name": "t"}),
                ("POST", "/session/reset", {}), ("POST", "/session/halt", {}),
                ("POST", "/session/end", {}), ("PUT", "/session/limit", {"contracts_limit": 3})):
            with self.subTest(method=method, path=path):
                st, hd, doc = self.call(method, path, body, "alpha")
                self.assert_rejected(st, hd, doc, 403, "forbidden")
        self.assertEqual(len(self.tagged()), n, "a forbidden request reached the mock")
        self.assertEqual(self.mock_order(resting)["status"], "resting")
        self.assertFalse({g["id"]: g for g in self.mock.state()["order_groups"]}[ogid]["triggered"])
        for method, path, body in (("GET", "/session", None), ("GET", "/sessions", None),
                                   ("POST", "/session/heartbeat", {}), ("GET", "/metrics", None),
                                   ("GET", V2 + "/portfolio/positions", None)):
            with self.subTest(method=method, path=path):
                st, hd, doc = self.call(method, path, body, "alpha")
                self.assertEqual(st, 200, doc)
        st, _, doc = self.call("GET", "/session")
        self.assertEqual(doc["session"]["name"], "default")
        st, _, doc = self.call("DELETE", CREATE_V2 + "/" + resting)
        self.assertEqual(st, 200, doc)

    def test_admin(self):
        self.mock.clear()
        oid = self.place("admin", price="0.1800")
        st, _, doc = self.call("POST", BATCH_LEGACY, {"orders": [legacy(yes_price=17)]}, "admin")
        self.assertEqual(st, 201, doc)
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/amend" % oid,
                                {"ticker": A, "side": "bid", "count": "2.00", "price": "0.1800"}, "admin")
        self.assertEqual(st, 200, doc)
        oid = doc.get("order", {}).get("order_id", oid)
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/decrease" % oid, {"reduce_by": "1.00"}, "admin")
        self.assertEqual(st, 200, doc)
        for method, path, body in (("GET", "/session", None), ("GET", "/sessions", None),
                                   ("POST", "/session/heartbeat", {}), ("GET", "/metrics", None)):
            st, hd, doc = self.call(method, path, body, "admin")
            self.assertEqual(st, 200, doc)
        # order groups no session owns
        st, _, doc = self.call("POST", GROUPS + "/create", {"contracts_limit": 3}, "admin")
        self.assertEqual(st, 201, doc)
        ogid = doc["order_group_id"]
        st, _, doc = self.call("PUT", GROUPS + "/%s/trigger" % ogid, {}, "admin")
        self.assertEqual(st, 200, doc)
        st, _, doc = self.call("DELETE", GROUPS + "/" + ogid, None, "admin")
        self.assertEqual(st, 200, doc)
        # "anything else" is forwarded for the admin (the mock may not know it)
        for method, path, body in (("GET", V2 + "/api_keys", None),
                                   ("POST", V2 + "/portfolio/subaccounts", {})):
            with self.subTest(path=path):
                n = len(self.mock_reqs(method, path))
                st, hd, doc = self.call(method, path, body, "admin")
                self.assertNotIn("x-gateway-rejected", hd, doc)
                self.assertEqual(len(self.mock_reqs(method, path)), n + 1)
        # session lifecycle on another name
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 4, "name": "adm"}, "admin")
        self.assertEqual(st, 201, doc)
        for method, path, body in (("POST", "/session/halt", {"name": "adm"}),
                                   ("POST", "/session/reset", {"name": "adm"}),
                                   ("PUT", "/session/limit", {"name": "adm", "contracts_limit": 6}),
                                   ("POST", "/session/end", {"name": "adm"})):
            with self.subTest(path=path):
                st, hd, doc = self.call(method, path, body, "admin")
                self.assertEqual(st, 200, doc)
        # cancel-all, last: it cancels every resting order of the account
        st, hd, doc = self.call("DELETE", CREATE_V2, None, "admin")
        self.assertIn(st, (200, 204), doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.assertEqual(self.mock_order(oid)["status"], "canceled")

    def test_active_session_group_is_off_limits_to_everyone(self):
        self.mock.clear()
        for who in ("admin", "alpha", "watch", "sig"):
            for method, path, body in (("PUT", GROUPS + "/%s/trigger" % self.gid, {}),
                                       ("PUT", GROUPS + "/%s/reset" % self.gid, {}),
                                       ("PUT", GROUPS + "/%s/limit" % self.gid, {"contracts_limit": 1}),
                                       ("DELETE", GROUPS + "/" + self.gid, None)):
                with self.subTest(who=who, method=method, path=path):
                    st, hd, doc = self.call(method, path, body, who)
                    self.assert_rejected(st, hd, doc, 403, "forbidden")
        # the same group spelt in upper case, or a path spelt with escapes
        for who in ("admin", "alpha"):
            st, hd, doc = self.call("PUT", GROUPS + "/%s/trigger" % self.gid.upper(), {}, who)
            self.assert_rejected(st, hd, doc, 403, "forbidden")
        for method, path, who in (("PUT", V2 + "/portfolio/%%6Frder_groups/%s/trigger" % self.gid, "admin"),
                                  ("GET", V2 + "/%61pi_keys", "watch"),
                                  ("DELETE", V2 + "/portfolio/events/%6Frders", "alpha"),
                                  ("POST", V2 + "/portfolio/events/%6Frders", "admin")):
            with self.subTest(path=path):
                st, hd, doc = self.call(method, path, {} if method != "GET" else None, who)
                self.assertIn(st, (400, 403), doc)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
        self.assertEqual(self.mock_reqs(prefix=GROUPS), [])
        self.assertEqual(self.mock_reqs(prefix=V2 + "/%"), [])
        self.assertEqual(self.mock_reqs(prefix=V2 + "/portfolio/%"), [])
        self.assertEqual(self.mock_reqs(prefix=V2 + "/portfolio/events/%"), [])
        g = {g["id"]: g for g in self.mock.state()["order_groups"]}[self.gid]
        self.assertFalse(g["triggered"])
        # reading it is fine
        st, _, doc = self.call("GET", GROUPS + "/" + self.gid, who="watch")
        self.assertEqual(st, 200, doc)


# ------------------------------------------------------------------------------------
class PolicyLimitsTest(PolicyBase):
    limits = {"max_order_contracts": 10, "max_order_cost": "4", "min_price": "0.10",
              "max_price": "0.69", "tickers": ["KXMOCK-26DEC31-*"],
              "deny_tickers": ["KXMOCK-26DEC31-C", "*-CLOSED"]}
    # key by key: alpha's own contracts, cost and tickers; the rest from `limits`
    client_limits = {"alpha": {"max_order_contracts": "20", "max_order_cost": "6.50",
                               "tickers": ["KXMOCK-*-A", "KXMOCK-26DEC31-C"]},
                     # an empty list the client sets wins: every ticker (deny still applies)
                     "sig": {"tickers": []}}

    def refused(self, who, path, body, limit, requested, allowed, index=None):
        """Asserts one 403 limit_exceeded with its fields and that nothing was forwarded."""
        n = len(self.mock_creates())
        st, hd, doc = self.call("POST", path, body, who)
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        e = doc["error"]
        self.assertEqual(e.get("limit"), limit, doc)
        self.assertEqual(e.get("requested"), requested, doc)
        self.assertEqual(e.get("allowed"), allowed, doc)
        self.assertIsInstance(e.get("details"), str, doc)
        self.assertTrue(e["details"], doc)
        if index is None:
            self.assertNotIn("index", e, doc)
        else:
            self.assertEqual(e.get("index"), index, doc)
        self.assertEqual(len(self.mock_creates()), n, "a refused order reached the mock")
        return doc

    def accepted(self, who, path, body):
        n = len(self.mock_creates())
        st, hd, doc = self.call("POST", path, body, who)
        self.assertEqual(st, 201, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.assertEqual(len(self.mock_creates()), n + 1)
        return doc

    def test_max_order_contracts(self):
        self.refused("admin", CREATE_V2, v2(count="11.00", price="0.2000"),
                     "max_order_contracts", "11.00", "10.00")
        self.refused("admin", CREATE_V2, v2(count="10.01", price="0.2000"),
                     "max_order_contracts", "10.01", "10.00")
        self.accepted("admin", CREATE_V2, v2(count="10.00", price="0.2000"))
        self.refused("admin", CREATE_LEGACY, legacy(count=11, yes_price=20),
                     "max_order_contracts", "11.00", "10.00")
        self.accepted("admin", CREATE_LEGACY, legacy(count=10, yes_price=20))
        body = legacy(yes_price=20)
        del body["count"]
        self.refused("admin", CREATE_LEGACY, dict(body, count_fp="10.50"),
                     "max_order_contracts", "10.50", "10.00")
        # alpha's own value overrides the global one
        self.accepted("alpha", CREATE_V2, v2(count="20.00", price="0.2000"))
        self.refused("alpha", CREATE_V2, v2(count="21.00", price="0.2000"),
                     "max_order_contracts", "21.00", "20.00")
        # the bot has no override: the global value
        self.refused("sig", CREATE_V2, v2(count="11.00", price="0.2000"),
                     "max_order_contracts", "11.00", "10.00")

    def test_max_order_cost(self):
        # bid: count x price
        self.accepted("admin", CREATE_V2, v2(count="10.00", price="0.4000"))
        self.refused("admin", CREATE_V2, v2(count="10.00", price="0.4100"),
                     "max_order_cost", "4.1000", "4.0000")
        # ask: count x (1 - price)
        self.accepted("admin", CREATE_V2, v2(side="ask", count="10.00", price="0.6000"))
        self.refused("admin", CREATE_V2, v2(side="ask", count="10.00", price="0.5900"),
                     "max_order_cost", "4.1000", "4.0000")
        # legacy buy no at 41 cents = an ask at YES 0.59 costing 0.41 each
        self.refused("admin", CREATE_LEGACY,
                     legacy(side="no", action="buy", count=10, no_price=41),
                     "max_order_cost", "4.1000", "4.0000")
        self.accepted("admin", CREATE_LEGACY, legacy(side="no", action="buy", count=10, no_price=40))
        # alpha (cost limit 6.50): buy no at 50, 13 contracts = 6.50; at 51 = 6.63
        self.accepted("alpha", CREATE_LEGACY, legacy(side="no", action="buy", count=13, no_price=50))
        self.refused("alpha", CREATE_LEGACY, legacy(side="no", action="buy", count=13, no_price=51),
                     "max_order_cost", "6.6300", "6.5000")
        # legacy sell no at 80 = a bid at YES 0.20
        self.accepted("admin", CREATE_LEGACY, legacy(side="no", action="sell", count=10, no_price=80))
        # alpha's cost limit is 6.50
        self.accepted("alpha", CREATE_V2, v2(side="ask", count="13.00", price="0.5000"))
        self.refused("alpha", CREATE_V2, v2(side="ask", count="13.00", price="0.4900"),
                     "max_order_cost", "6.6300", "6.5000")
        self.refused("sig", CREATE_V2, v2(count="10.00", price="0.4100"),
                     "max_order_cost", "4.1000", "4.0000")

    def test_price_band_on_the_yes_price(self):
        self.refused("admin", CREATE_V2, v2(price="0.0900"), "min_price", "0.0900", "0.1000")
        self.accepted("admin", CREATE_V2, v2(price="0.1000"))
        self.refused("admin", CREATE_V2, v2(side="ask", price="0.7000"),
                     "max_price", "0.7000", "0.6900")
        self.accepted("admin", CREATE_V2, v2(side="ask", price="0.6900"))
        # legacy buy no at 30 cents is an ask at YES 0.70: over max_price
        self.refused("alpha", CREATE_LEGACY, legacy(side="no", action="buy", no_price=30),
                     "max_price", "0.7000", "0.6900")
        self.accepted("alpha", CREATE_LEGACY, legacy(side="no", action="buy", no_price=31))
        # and buy no at 91 is YES 0.09: under min_price; 90 is YES 0.10
        self.refused("alpha", CREATE_LEGACY, legacy(side="no", action="buy", no_price=91),
                     "min_price", "0.0900", "0.1000")
        self.accepted("alpha", CREATE_LEGACY, legacy(side="no", action="buy", no_price=90))
        # legacy dollars: sell yes at 0.70 (an ask at 0.70)
        self.refused("admin", CREATE_LEGACY,
                     legacy(side="yes", action="sell", yes_price_dollars="0.7000"),
                     "max_price", "0.7000", "0.6900")
        # sell no at 5 cents is a bid at YES 0.95
        self.refused("admin", CREATE_LEGACY, legacy(side="no", action="sell", no_price=5),
                     "max_price", "0.9500", "0.6900")

    def test_tickers_and_deny_tickers(self):
        # global: KXMOCK-26DEC31-* allowed, C denied (deny wins over the allow glob)
        doc = self.refused("admin", CREATE_V2, v2(ticker=C, price="0.5000"), "deny_tickers", C, None)
        self.assertIn(C, doc["error"]["details"])
        self.refused("admin", CREATE_V2, v2(ticker="OTHER-26DEC31-A"), "tickers",
                     "OTHER-26DEC31-A", "KXMOCK-26DEC31-*")
        self.accepted("admin", CREATE_V2, v2(ticker=B, price="0.1500"))
        self.refused("admin", CREATE_LEGACY, legacy(ticker=C, yes_price=50), "deny_tickers", C, None)
        # alpha: its own tickers (A and C), the global deny list still applies
        self.accepted("alpha", CREATE_V2, v2(ticker=A))
        self.refused("alpha", CREATE_V2, v2(ticker=B, price="0.1500"), "tickers", B,
                     "KXMOCK-*-A, KXMOCK-26DEC31-C")
        self.refused("alpha", CREATE_V2, v2(ticker=C, price="0.5000"), "deny_tickers", C, None)
        self.refused("alpha", CREATE_V2, v2(ticker="KXMOCK-26DEC31-CLOSED"), "deny_tickers",
                     "KXMOCK-26DEC31-CLOSED", None)
        # sig: tickers [] overrides the global allow list; the deny list is global
        n = len(self.mock_creates())
        st, hd, doc = self.call("POST", CREATE_V2, v2(ticker="KXOTHER-26DEC31-X"), "sig")
        self.assertNotIn("x-gateway-rejected", hd, doc)
        self.assertEqual(len(self.mock_creates()), n + 1)
        self.refused("sig", CREATE_V2, v2(ticker=C, price="0.5000"), "deny_tickers", C, None)
        # globs are case-sensitive
        self.refused("admin", CREATE_V2, v2(ticker="kxmock-26dec31-a"), "tickers",
                     "kxmock-26dec31-a", "KXMOCK-26DEC31-*")

    def test_batch_refused_whole_with_index(self):
        n = len(self.mock_creates())
        self.refused("admin", BATCH_V2, {"orders": [v2(), v2(price="0.2000"), v2(price="0.7000", side="ask")]},
                     "max_price", "0.7000", "0.6900", index=2)
        self.refused("admin", BATCH_V2, {"orders": [v2(ticker=C, price="0.5000"), v2()]},
                     "deny_tickers", C, None, index=0)
        self.refused("alpha", BATCH_V2, {"orders": [v2(), v2(ticker=B, price="0.1500"), v2()]},
                     "tickers", B, "KXMOCK-*-A, KXMOCK-26DEC31-C", index=1)
        self.refused("alpha", BATCH_LEGACY,
                     {"orders": [legacy(), legacy(side="no", action="buy", no_price=30)]},
                     "max_price", "0.7000", "0.6900", index=1)
        self.refused("admin", BATCH_LEGACY,
                     {"orders": [legacy(count=11, yes_price=20), legacy()]},
                     "max_order_contracts", "11.00", "10.00", index=0)
        self.assertEqual(len(self.mock_creates()), n)
        st, _, doc = self.call("POST", BATCH_V2, {"orders": [v2(), v2(price="0.2000"),
                                                              v2(price="0.6900", side="ask")]}, "admin")
        self.assertEqual(st, 201, doc)
        self.assertEqual(len(doc["orders"]), 3)
        self.assertTrue(all(not o.get("error") for o in doc["orders"]), doc)

    def test_cancel_and_decrease_never_blocked_by_limits(self):
        oid = self.place("alpha", count="20.00", price="0.2000")
        # amends are checked: what they add
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/amend" % oid,
                                {"ticker": A, "side": "bid", "count": "21.00", "price": "0.2000"})
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(doc["error"]["limit"], "max_order_contracts")
        # a legacy amend is checked the same way (buy no at 20 = YES 0.80: over max_price)
        st, hd, doc = self.call("POST", CREATE_LEGACY + "/%s/amend" % oid,
                                {"ticker": A, "side": "no", "action": "buy", "count": 2, "no_price": 20})
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual((doc["error"]["limit"], doc["error"]["requested"]), ("max_price", "0.8000"))
        st, hd, doc = self.call("POST", CREATE_LEGACY + "/%s/amend" % oid,
                                {"ticker": A, "side": "yes", "action": "buy", "count": 21, "yes_price": 20})
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(doc["error"]["limit"], "max_order_contracts")
        # (translating a legacy amend may read the order first; nothing is written)
        self.assertEqual(self.mock_reqs("POST", prefix=CREATE_LEGACY + "/" + oid), [])
        self.assertEqual(self.mock_reqs("POST", prefix=CREATE_V2 + "/" + oid), [])
        # within the limits it is forwarded
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/amend" % oid,
                                {"ticker": A, "side": "bid", "count": "20.00", "price": "0.1900"})
        self.assertEqual(st, 200, doc)
        oid = doc.get("order", {}).get("order_id", oid)
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/decrease" % oid, {"reduce_to": "15.00"})
        self.assertEqual(st, 200, doc)
        st, hd, doc = self.call("DELETE", CREATE_V2 + "/" + oid)
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.mock_order(oid)["status"], "canceled")

    def test_audit_log(self):
        rid = "audit-%s" % secrets.token_hex(6)
        # accepted, refused by a limit, a legacy ask, a batch, a refused batch
        st, _, acc = self.call("POST", CREATE_V2, v2(count="2.00", price="0.3100"), "alpha",
                               {"X-Request-Id": rid + "-acc"})
        self.assertEqual(st, 201, acc)
        st, _, _ = self.call("POST", CREATE_V2, v2(count="2.00", price="0.0500"), "alpha",
                             {"X-Request-Id": rid + "-ref"})
        self.assertEqual(st, 403)
        st, _, _ = self.call("POST", CREATE_LEGACY, legacy(side="no", action="buy", no_price=30),
                             "admin", {"X-Request-Id": rid + "-leg"})
        self.assertEqual(st, 403)
        st, _, _ = self.call("POST", BATCH_V2, {"orders": [v2(price="0.1200"), v2(price="0.1300")]},
                             "sig", {"X-Request-Id": rid + "-bat"})
        self.assertEqual(st, 201)
        st, _, _ = self.call("POST", BATCH_V2, {"orders": [v2(), v2(ticker=C, price="0.5000")]},
                             "admin", {"X-Request-Id": rid + "-bref"})
        self.assertEqual(st, 403)
        path = os.path.join(self.state_dir, "audit.jsonl")
        want = {rid + "-acc": 1, rid + "-ref": 1, rid + "-leg": 1, rid + "-bat": 2, rid + "-bref": 1}
        deadline = time.time() + 5
        while True:
            with open(path) as f:
                lines = f.read().splitlines()
            recs = [json.loads(l) for l in lines]   # every line is one JSON object
            mine = {}
            for r in recs:
                if str(r.get("request_id", "")).startswith(rid):
                    mine.setdefault(r["request_id"], []).append(r)
            if all(len(mine.get(k, [])) >= v for k, v in want.items()) or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.state_dir, "sessions.json")).st_mode),
                         0o600)
        for k, v in want.items():
            self.assertEqual(len(mine.get(k, [])), v, (k, mine.get(k)))
        for r in recs:
            self.assertIsInstance(r, dict)
            if r.get("type") != "order":
                continue
            for f in ("client", "session", "decision", "upstream_status", "latency_us"):
                self.assertIn(f, r, r)
            self.assertIsInstance(r["latency_us"], int)
            self.assertGreaterEqual(r["latency_us"], 0)
        a = mine[rid + "-acc"][0]
        self.assertEqual((a["client"], a["session"], a["ticker"], a["side"], a["count"], a["price"],
                          a["decision"], a["upstream_status"]),
                         ("alpha", "default", A, "bid", "2.00", "0.3100", "accepted", 201))
        self.assertEqual(a.get("order_id"), acc["order_id"])
        self.assertIn(a.get("reason"), (None,))
        r = mine[rid + "-ref"][0]
        self.assertEqual((r["client"], r["ticker"], r["side"], r["count"], r["price"], r["decision"],
                          r["reason"], r["limit"], r["upstream_status"]),
                         ("alpha", A, "bid", "2.00", "0.0500", "refused", "limit_exceeded",
                          "min_price", None))
        r = mine[rid + "-leg"][0]
        self.assertEqual((r["client"], r["session"], r["side"], r["count"], r["price"], r["decision"],
                          r["limit"]),
                         ("admin", "default", "ask", "1.00", "0.7000", "refused", "max_price"))
        b = mine[rid + "-bat"]
        self.assertEqual(sorted(x["price"] for x in b), ["0.1200", "0.1300"])
        self.assertTrue(all(x["client"] == "sig" and x["decision"] == "accepted" and
                            x["upstream_status"] == 201 for x in b), b)
        r = mine[rid + "-bref"]
        self.assertTrue(all(x["decision"] == "refused" for x in r), r)
        self.assertIn(C, [x.get("ticker") for x in r])
        self.assertEqual(r[0]["limit"], "deny_tickers")

    def test_metrics(self):
        st, _, _ = self.call("GET", V2 + "/markets", who="alpha")
        self.assertEqual(st, 200)
        self.call("POST", CREATE_V2, v2(price="0.0100"), "alpha")   # limit_exceeded
        st, hd, raw = self.gw.request("GET", "/metrics", headers=self.H["watch"])
        self.assertEqual(st, 200, raw)
        self.assertTrue(hd.get("content-type", "").startswith("text/plain"), hd)
        text = raw.decode()
        self.assertRegex(text, r'(?m)^kalshi_gateway_requests_total\{route="read",status="2xx",'
                               r'client="alpha"\} [1-9]\d*$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_requests_total\{route="[a-z]+",status="4xx",'
                               r'client="alpha"\} [1-9]\d*$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_orders_refused_total\{reason="limit_exceeded"\} '
                               r'[1-9]\d*$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_sessions\{status="active"\} [1-9]\d*$')
        self.assertRegex(text, r'(?m)^# TYPE kalshi_gateway_request_duration_seconds histogram$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_request_duration_seconds_bucket\{le="\+Inf"\} \d+$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_request_duration_seconds_bucket\{le="[0-9.]+"\} \d+$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_request_duration_seconds_sum [0-9.]+$')
        self.assertRegex(text, r'(?m)^kalshi_gateway_request_duration_seconds_count [1-9]\d*$')
        # every sample line is NAME{labels} VALUE (Prometheus text format)
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*",?)*\})? '
                            r'[-+]?[0-9.eE+Inf]+$')
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, sample)
        # the client labels are names, never tokens
        for t in self.tokens.values():
            self.assertNotIn(t, text)


# ------------------------------------------------------------------------------------
class PolicySessionCapsTest(PolicyBase):
    limits = {"max_session_contracts": 10}
    client_limits = {"alpha": {"max_session_contracts": "4"}}

    def session(self, name):
        st, _, doc = self.call("GET", "/session?name=" + name, who="admin")
        self.assertEqual(st, 200, doc)
        return doc["session"]

    def test_global_cap_and_client_share_then_cancels_pass(self):
        a1 = self.place("alpha", count="3.00", price="0.2000")
        n = len(self.mock_creates())
        st, hd, doc = self.call("POST", CREATE_V2, v2(count="2.00"))
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        e = doc["error"]
        self.assertEqual((e["limit"], e["requested"], e["allowed"]),
                         ("max_session_contracts", "2.00", "1.00"), doc)
        self.assertTrue(e["details"])
        self.assertEqual(len(self.mock_creates()), n)
        a2 = self.place("alpha", count="1.00", price="0.2000")    # alpha's share: 4 of 4
        st, hd, doc = self.call("POST", CREATE_V2, v2(count="1.00"))
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(doc["error"]["allowed"], "0.00")
        # the session as a whole: 4 so far, 6 left for the others
        st, hd, doc = self.call("POST", BATCH_V2, {"orders": [v2(count="3.00"), v2(count="4.00")]}, "admin")
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual((doc["error"]["limit"], doc["error"]["index"], doc["error"]["allowed"]),
                         ("max_session_contracts", 1, "6.00"), doc)
        b1 = self.place("admin", count="5.00", price="0.2000")
        b2 = self.place("sig", count="1.00", price="0.2000")      # 10 of 10
        n = len(self.mock_creates())
        for who in ("admin", "sig", "alpha"):
            with self.subTest(who=who):
                st, hd, doc = self.call("POST", CREATE_V2, v2(count="1.00"), who)
                self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
                self.assertEqual(doc["error"]["limit"], "max_session_contracts")
        st, hd, doc = self.call("POST", CREATE_LEGACY, legacy(count=1), "admin")
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(len(self.mock_creates()), n)
        s = self.session("default")
        self.assertEqual(s["contracts_submitted"], "10.00")
        self.assertEqual(s["status"], "active")
        # over the cap, cancels and decreases still pass
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/decrease" % a1, {"reduce_by": "1.00"})
        self.assertEqual(st, 200, doc)
        st, hd, doc = self.call("DELETE", CREATE_V2 + "/" + a1)
        self.assertEqual(st, 200, doc)
        st, hd, doc = self.call("DELETE", BATCH_V2, {"orders": [{"order_id": a2}]}, "sig")
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.mock_order(a1)["status"], "canceled")
        self.assertEqual(self.mock_order(a2)["status"], "canceled")
        # submitted contracts stay counted after a cancel
        st, hd, doc = self.call("POST", CREATE_V2, v2(count="1.00"), "admin")
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")

        # another session has its own global cap; its order survives the halt below
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 100, "name": "side"}, "admin")
        self.assertEqual(st, 201, doc)
        c1 = self.place("admin", {"X-Gateway-Session": "side"}, count="2.00", price="0.2000")
        # alpha may not name another session than its own
        st, hd, doc = self.call("POST", CREATE_V2, v2(), "alpha", {"X-Gateway-Session": "side"})
        self.assert_rejected(st, hd, doc, 403, "forbidden")
        # triggered session: creates refused, cancels and decreases pass
        st, _, doc = self.call("POST", "/session/halt", {"name": "default"}, "admin")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["session"]["status"], "triggered")
        self.assertEqual(self.mock_order(b1)["status"], "canceled")   # the exchange cancelled it
        st, hd, doc = self.call("POST", CREATE_V2, v2())
        self.assert_rejected(st, hd, doc, 409, "session_triggered")
        n = len(self.mock_reqs("DELETE"))
        st, hd, doc = self.call("POST", CREATE_V2 + "/%s/decrease" % c1, {"reduce_by": "1.00"})
        self.assertEqual(st, 200, doc)
        st, hd, doc = self.call("DELETE", CREATE_V2 + "/" + c1)
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.mock_order(c1)["status"], "canceled")
        # a cancel of an order the trigger already cancelled reaches the mock
        st, hd, doc = self.call("DELETE", CREATE_V2 + "/" + b2, None, "sig")
        self.assertNotIn("x-gateway-rejected", hd, doc)
        self.assertEqual(len(self.mock_reqs("DELETE")), n + 2)
        st, _, doc = self.call("POST", "/session/reset", {"name": "default"}, "admin")
        self.assertEqual(st, 200, doc)

    def test_reservation_released_when_upstream_refuses(self):
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 1000, "name": "rel"}, "admin")
        self.assertEqual(st, 201, doc)
        hdr = {"X-Gateway-Session": "rel"}
        # the mock refuses an order on a closed market: nothing is submitted
        st, hd, doc = self.call("POST", CREATE_V2, v2(ticker="KXMOCK-26DEC31-CLOSED", count="8.00"),
                                "admin", hdr)
        self.assertNotIn("x-gateway-rejected", hd, doc)
        self.assertGreaterEqual(st, 400, doc)
        self.assertEqual(self.session("rel")["contracts_submitted"], "0.00")
        oid = self.place("admin", hdr, count="10.00", price="0.2000")
        st, hd, doc = self.call("POST", CREATE_V2, v2(count="1.00"), "admin", hdr)
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(self.session("rel")["contracts_submitted"], "10.00")
        st, _, doc = self.call("DELETE", CREATE_V2 + "/" + oid, None, "admin")
        self.assertEqual(st, 200, doc)
        st, _, doc = self.call("POST", "/session/end", {"name": "rel"}, "admin")
        self.assertEqual(st, 200, doc)

    def test_concurrent_orders_never_overshoot(self):
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 1000, "name": "conc"}, "admin")
        self.assertEqual(st, 201, doc)
        gid = doc["session"]["order_group_id"]
        # each create waits upstream, so all twenty are in flight together
        self.mock.fault(mode="delay", delay_ms=150, path_prefix=CREATE_V2, count=20)
        self.addCleanup(self.mock.clear_fault)
        results = []
        lock = threading.Lock()
        go = threading.Event()

        def one(i):
            go.wait()
            st, hd, doc = self.call("POST", CREATE_V2, v2(count="1.00", price="0.1%03d" % i), "admin",
                                    {"X-Gateway-Session": "conc"})
            with lock:
                results.append((st, hd, doc))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        go.set()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 20)
        ok = [r for r in results if r[0] == 201]
        refused = [r for r in results if r[0] == 403]
        self.assertEqual((len(ok), len(refused)), (10, 10), [(r[0], r[2]) for r in results])
        for st, hd, doc in refused:
            self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
            self.assertEqual(doc["error"]["limit"], "max_session_contracts")
        sent = [json.loads(r["body"]) for r in self.mock_creates()]
        self.assertEqual(len([b for b in sent if b.get("order_group_id") == gid]), 10)
        s = self.session("conc")
        self.assertEqual((s["contracts_submitted"], s["orders_accepted"]), ("10.00", "10.00"))
        st, _, doc = self.call("POST", "/session/end", {"name": "conc"}, "admin")
        self.assertEqual(st, 200, doc)


# ------------------------------------------------------------------------------------
class PolicyRateTest(PolicyBase):
    client_limits = {"alpha": {"max_orders_per_s": 3}}

    def test_max_orders_per_s_per_client(self):
        self.mock.clear()
        rid = "rate-%s-" % secrets.token_hex(4)
        t0 = time.time()
        res = [self.call("POST", CREATE_V2, v2(price="0.2000", time_in_force="immediate_or_cancel"),
                         "alpha", {"X-Request-Id": rid + str(i)})
               for i in range(12)]
        elapsed = time.time() - t0
        ok = [r for r in res if r[0] == 201]
        limited = [r for r in res if r[0] == 429]
        self.assertEqual(len(ok) + len(limited), 12, [(r[0], r[2]) for r in res])
        self.assertGreaterEqual(len(ok), 3)
        self.assertLessEqual(len(ok), 3 + int(elapsed * 3) + 1, elapsed)
        self.assertTrue(limited, "no 429 in a burst of 12 over max_orders_per_s 3")
        self.assertEqual([r[0] for r in res[:3]], [201, 201, 201])
        for st, hd, doc in limited:
            self.assert_rejected(st, hd, doc, 429, "rate_limited")
            self.assertRegex(hd.get("retry-after", ""), r"^[1-9]\d*$", hd)
            self.assertLessEqual(int(hd["retry-after"]), 2)
        self.assertEqual(len(self.mock_creates()), len(ok))
        # counted against the session like every other refusal
        st, _, doc = self.call("GET", "/session")
        self.assertEqual((doc["session"]["orders_rejected"], doc["session"]["orders_accepted"]),
                         ("%d.00" % len(limited), "%d.00" % len(ok)), doc)
        # each 429 is an audited order decision naming the order it refused
        path = os.path.join(self.state_dir, "audit.jsonl")
        deadline = time.time() + 5
        while True:
            with open(path) as f:
                recs = [json.loads(l) for l in f.read().splitlines()]
            mine = [r for r in recs if str(r.get("request_id", "")).startswith(rid)]
            if len(mine) >= 12 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(mine), 12, mine)
        rl = [r for r in mine if r["decision"] == "refused"]
        self.assertEqual(len(rl), len(limited), mine)
        for r in rl:
            self.assertEqual((r["client"], r["session"], r["group"], r["ticker"], r["side"],
                              r["count"], r["price"], r["reason"], r["limit"], r["upstream_status"]),
                             ("alpha", "default", self.gid, A, "bid", "1.00", "0.2000",
                              "rate_limited", "max_orders_per_s", None), r)
        # another client is not affected, token or signature
        for who in ("admin", "sig"):
            for _ in range(6):
                st, _, doc = self.call("POST", CREATE_V2, v2(price="0.2000",
                                                              time_in_force="immediate_or_cancel"), who)
                self.assertEqual(st, 201, (who, doc))
        # reads and cancels are not orders
        for _ in range(5):
            st, _, doc = self.call("GET", V2 + "/markets")
            self.assertEqual(st, 200, doc)
        st, hd, doc = self.call("DELETE", CREATE_V2 + "/no-such-order")
        self.assertNotIn("x-gateway-rejected", hd, doc)
        # after Retry-After the client may order again
        time.sleep(int(limited[-1][1]["retry-after"]))
        st, _, doc = self.call("POST", CREATE_V2, v2(price="0.2000", time_in_force="immediate_or_cancel"))
        self.assertEqual(st, 201, doc)
        # a batch bigger than the burst passes on a full bucket, then blocks
        time.sleep(1.1)
        st, _, doc = self.call("POST", BATCH_V2, {"orders": [v2(price="0.2000")] * 4})
        self.assertEqual(st, 201, doc)
        st, hd, doc = self.call("POST", CREATE_V2, v2(price="0.2000"))
        self.assert_rejected(st, hd, doc, 429, "rate_limited")
        self.assertIn("retry-after", hd)
        st, _, doc = self.call("DELETE", CREATE_V2, None, "admin")   # clean the book
        self.assertIn(st, (200, 204), doc)


# ------------------------------------------------------------------------------------
class PolicyCtlTest(PolicyBase):
    start_default = False

    def ctl(self, *args, token=True):
        env = {"GATEWAY_ADMIN_TOKEN_FILE": self.admin_token_file} if token else {}
        return gwharness.run(["session"] + list(args) + ["--listen", "127.0.0.1:%d" % self.gw.port],
                             env=env)

    def test_control_client(self):
        rc, out, err = self.ctl("start", "--contracts-limit", "5", "--name", "ctl")
        self.assertEqual(rc, 0, (out, err))
        st, _, doc = self.call("GET", "/session?name=ctl", who="watch")
        self.assertEqual(st, 200, doc)
        gid = doc["session"]["order_group_id"]
        groups = {g["id"]: g for g in self.mock.state()["order_groups"]}
        self.assertIn(gid, groups)
        self.assertEqual(doc["session"]["contracts_limit"], 5)

        rc, out, err = self.ctl("status", "--name", "ctl", "--json")
        self.assertEqual(rc, 0, (out, err))
        doc = json.loads(out)          # JSON alone on stdout
        self.assertEqual(doc["session"]["name"], "ctl")
        self.assertEqual(doc["session"]["status"], "active")
        self.assertEqual(doc["session"]["order_group_id"], gid)
        rc, out, err = self.ctl("status", "--json")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("ctl", [s["name"] for s in json.loads(out)["sessions"]])
        rc, out, err = self.ctl("status", "--name", "ctl")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("ctl", out)

        # without the token: the gateway refuses (401), exit 1
        rc, out, err = self.ctl("halt", "--all", token=False)
        self.assertEqual(rc, 1, (out, err))
        rc, out, err = self.ctl("start", "--contracts-limit", "5", "--name", "nope", token=False)
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(self.call("GET", "/session?name=nope", who="admin")[0], 404)
        # usage errors: exit 2
        rc, out, err = self.ctl("start", "--name", "x")
        self.assertEqual(rc, 2, (out, err))
        rc, out, err = self.ctl("start", "--contracts-limit", "0", "--name", "x")
        self.assertEqual(rc, 2, (out, err))
        rc, out, err = self.ctl("frobnicate")
        self.assertEqual(rc, 2, (out, err))
        # a refusal by the gateway: exit 1 (the name is taken)
        rc, out, err = self.ctl("start", "--contracts-limit", "5", "--name", "ctl")
        self.assertEqual(rc, 1, (out, err))

        rc, out, err = self.ctl("halt", "--all", "--json")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("ctl", [s["name"] for s in json.loads(out)["sessions"]])
        self.assertTrue({g["id"]: g for g in self.mock.state()["order_groups"]}[gid]["triggered"])
        rc, out, err = self.ctl("status", "--name", "ctl", "--json")
        self.assertEqual(json.loads(out)["session"]["status"], "triggered")
        rc, out, err = self.ctl("end", "--name", "ctl")
        self.assertEqual(rc, 0, (out, err))
        self.assertNotIn(gid, {g["id"] for g in self.mock.state()["order_groups"]})
        rc, out, err = self.ctl("end", "--name", "ctl")
        self.assertEqual(rc, 1, (out, err))
        # the control client never prints the token
        for text in (out, err):
            self.assertNotIn(self.tokens["admin"], text)

    def test_no_secrets_written(self):
        # a few requests of every kind, then grep what the gateway wrote so far
        self.call("GET", V2 + "/portfolio/balance", who="alpha")
        self.call("GET", V2 + "/portfolio/balance", who="sig")
        self.call("GET", V2 + "/markets", who="watch")
        self.call("GET", V2 + "/markets", who="none")
        self.send("GET", V2 + "/markets", None, {"Authorization": "Bearer " + self.tokens["admin"] + "x"})
        self.send("GET", V2 + "/markets", None, self.sig_headers("GET", V2 + "/x", priv=self.other_priv))
        time.sleep(0.4)
        sigs = [r["headers"].get("kalshi-access-signature", "") for r in all_requests(self.mock)]
        self.assertTrue(sigs)
        self.assertEqual(self.find_secrets(sigs), [])


if __name__ == "__main__":
    unittest.main()
