"""End-to-end tests of hostile client input, upstream faults, graceful drain
and secrets (issue 8, parts 3, 4 and 7 and "Secrets and exposure").

The real gateway binary runs in front of the mock exchange on loopback.
Malformed requests are written byte for byte on raw sockets. Every case
checks three things:
  - the answer: a clear 4xx (the gateway's error envelope, or
    libmicrohttpd's own 400/413/414/431/505 where it answers first);
  - the mock exchange: nothing the case sent reached it (assertions on what
    the mock recorded, not on what the gateway said);
  - the gateway keeps serving: /healthz, and a normal order placed afterwards
    reaches the mock with the session's group.
Upstream faults also check that no request stays suspended (the
kalshi_gateway_requests_in_flight gauge returns to 1, the /metrics request
itself) and that the process's open file descriptors return to their
baseline.

Run: python3 tests/e2e/run.py -k Hostile -v
"""
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
import unittest

import harness
from gwharness import Gateway
from harness import Mock

KEY_ID = "test-key-id"
V2 = "/trade-api/v2"
TICKER = "KXMOCK-26DEC31-A"
CREATE_V2 = V2 + "/portfolio/events/orders"
BATCH_V2 = CREATE_V2 + "/batched"
CREATE_LEGACY = V2 + "/portfolio/orders"
BATCH_LEGACY = CREATE_LEGACY + "/batched"
CREATE_PATHS = (CREATE_V2, BATCH_V2, CREATE_LEGACY, BATCH_LEGACY)
# the gateway's own background calls (readiness probe, key check, limits)
BACKGROUND = {V2 + "/exchange/status", V2 + "/account/limits", V2 + "/account/endpoint_costs",
              V2 + "/portfolio/balance"}
NORMAL_TAG = "X-Hostile-Normal"


def v2_body(count='"1.00"', price='"0.3000"', extra=""):
    """A V2 create as raw JSON text, count and price as raw JSON tokens
    (so reals, exponents and huge integers reach the gateway as written)."""
    return ('{"ticker":"%s","side":"bid","count":%s,"price":%s,'
            '"time_in_force":"good_till_canceled","self_trade_prevention_type":"taker_at_cross"%s}'
            % (TICKER, count, price, extra))


def legacy_body(count="1", extra=""):
    """A legacy create as raw JSON text (price in cents)."""
    return ('{"ticker":"%s","side":"yes","action":"buy","count":%s,"yes_price":30,'
            '"time_in_force":"good_till_canceled"%s}' % (TICKER, count, extra))


# --- raw HTTP ------------------------------------------------------------------
class RawAnswer:
    """What came back on a raw socket: status (None when the connection was
    closed without an answer), lower-case headers, body bytes, raw bytes."""

    def __init__(self, raw):
        self.raw = raw
        self.status, self.headers, self.body = None, {}, b""
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            return
        self.status = int(m.group(1))
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            self.headers[k.strip().lower().decode(errors="replace")] = v.strip().decode(errors="replace")
        self.body = rest

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "RawAnswer(%r)" % self.raw[:300]


def _answer_complete(buf):
    """Whether buf holds one whole HTTP answer (Content-Length or chunked)."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(rest) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        return rest.endswith(b"0\r\n\r\n")
    return False


def raw_request(port, data, timeout=5.0, chunks=None):
    """Writes `data` (then each of `chunks`, ignoring write errors once the
    server answered or closed) on a fresh connection to 127.0.0.1:port and
    reads one answer, or until the server closes. Returns a RawAnswer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
            for c in chunks or ():
                s.sendall(c)
        except OSError:
            pass
        deadline = time.time() + timeout
        while time.time() < deadline and not _answer_complete(buf):
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not d:
                break
            buf += d
    finally:
        s.close()
    return RawAnswer(buf)


def open_fds(pid):
    """Number of file descriptors process pid holds open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def metric(gw, name):
    """The value of an unlabelled metric from GET /metrics (float)."""
    st, _, raw = gw.request("GET", "/metrics")
    if st != 200:
        raise AssertionError("/metrics answered %d" % st)
    m = re.search(r"(?m)^%s (\S+)$" % re.escape(name), raw.decode())
    if not m:
        raise AssertionError("%s not in /metrics" % name)
    return float(m.group(1))


class HostileBase(unittest.TestCase):
    """One mock exchange and one gateway per class, a session "default"
    started. Tests mock.clear() first and check what reached the mock."""

    config = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test-hostile-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.priv, cls.pub = harness.gen_keypair(cls.tmp)
        cls.mock = Mock.start(pubkey=cls.pub, key_id=KEY_ID, priv=cls.priv)
        cls.addClassCleanup(cls.mock.stop)
        cfg = {"rate_limit": {"tier": "off"}}
        for k, v in cls.config.items():
            cfg[k] = dict(cfg.get(k, {}), **v) if isinstance(v, dict) else v
        cls.gw = Gateway.start(mock=cls.mock, keys=(cls.priv, cls.pub), config=cfg)
        cls.addClassCleanup(cls._stop_gw)
        cls.gw.wait_ready(timeout=15)
        st, _, doc = cls.gw.json("POST", "/session/start", {"contracts_limit": 100000})
        if st != 201:
            raise AssertionError("cannot start the session: %s %s" % (st, doc))
        cls.session = doc["session"]

    @classmethod
    def _stop_gw(cls):
        rc = cls.gw.stop()
        logs = cls.gw.logs()
        for marker in harness.SANITIZER_MARKERS:
            if marker in logs:
                raise AssertionError("sanitizer report in the gateway log:\n" + logs[-6000:])
        if rc != 0:
            raise AssertionError("gateway exit code %s: %s" % (rc, logs[-3000:]))

    def setUp(self):
        self.mock.clear()

    # --- what reached the mock ------------------------------------------------
    def unexpected(self):
        """Requests the mock received besides the gateway's background calls
        and the normal orders the test placed."""
        own_read = V2 + "/portfolio/order_groups/" + self.session["order_group_id"]  # GET /session
        return [(r["method"], r["path"], r.get("query")) for r in self.mock.requests()
                if r["path"] not in BACKGROUND and NORMAL_TAG.lower() not in r["headers"]
                and not (r["method"] == "GET" and r["path"] == own_read)]

    def assert_nothing_reached_mock(self):
        self.assertEqual(self.unexpected(), [], "requests that should never have reached the mock")

    def assert_no_injected_header(self):
        for r in self.mock.requests(watch=True):
            for k, v in r["headers"].items():
                self.assertNotIn("injected", k, r)
                self.assertFalse(re.search(r"[\r\n\x00]", k + v), r)
            for part in (r["path"], r.get("query") or ""):
                self.assertFalse(re.search(r"[\r\n\x00]", part), r)

    # --- answers --------------------------------------------------------------
    def assert_4xx(self, ans, statuses=None, code=None):
        """A clear 4xx: the gateway's envelope (with `code` when given) or
        libmicrohttpd's own answer."""
        self.assertIsNotNone(ans.status, "no answer: %r" % ans)
        # libmicrohttpd answers an unknown HTTP version (an HTTP/2 preface) 505 itself
        self.assertTrue(400 <= ans.status < 500 or (ans.status == 505 and 505 in (statuses or ())), ans)
        if statuses:
            self.assertIn(ans.status, statuses, ans)
        if ans.headers.get("x-gateway-rejected") == "1":
            err = (ans.json() or {}).get("error") or {}
            self.assertTrue(err.get("code") and err.get("message"), ans)
            if code:
                self.assertEqual(err["code"], code, ans)
        elif code:
            self.fail("expected the gateway's %s, got %r" % (code, ans))

    def assert_rejected(self, st, hd, doc, status, code):
        self.assertEqual(st, status, doc)
        self.assertEqual(hd.get("x-gateway-rejected"), "1", hd)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertTrue(doc["error"]["message"], doc)

    def raw(self, data, **kw):
        return raw_request(self.gw.port, data, **kw)

    def head(self, method="GET", target=V2 + "/markets", version="HTTP/1.1", extra=b""):
        return (b"%s %s %s\r\nHost: 127.0.0.1\r\n" % (method.encode(), target.encode(),
                                                       version.encode())) + extra

    # --- the gateway keeps serving -------------------------------------------------
    def assert_healthy(self):
        st, _, raw = self.gw.request("GET", "/healthz")
        self.assertEqual(st, 200, raw)

    def assert_serving(self):
        """A normal order goes through, into the session's group."""
        self.assert_healthy()
        st, _, doc = self.gw.json("POST", CREATE_V2, v2_body(), headers={NORMAL_TAG: "1"})
        self.assertEqual(st, 201, doc)
        got = [r for r in self.mock.requests()
               if r["path"] == CREATE_V2 and NORMAL_TAG.lower() in r["headers"]]
        self.assertTrue(got)
        self.assertTrue(got[-1]["sig_valid"])
        self.assertEqual(json.loads(got[-1]["body"])["order_group_id"],
                         self.session["order_group_id"])


# ------------------------------------------------------------------------------------
class HostileRequestTest(HostileBase):
    """Malformed request lines and headers, caps, bodies, JSON and paths."""

    config = {"server": {"max_body_bytes": 1048576}}

    def test_malformed_request_lines(self):
        cases = [
            ("garbage method", self.head("G@RBAGE") + b"\r\n", None, "invalid_request"),
            ("unknown method", self.head("FOO") + b"\r\n", None, "invalid_request"),
            ("lower-case method", self.head("get") + b"\r\n", None, "invalid_request"),
            ("TRACE", self.head("TRACE") + b"\r\n", None, "invalid_request"),
            ("missing version", b"GET /trade-api/v2/markets\r\nHost: 127.0.0.1\r\n\r\n", (400,), None),
            ("HTTP/0.9", b"GET /trade-api/v2/markets\r\n\r\n", (400,), None),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505), None),
            ("unknown version", self.head(version="HTTP/9.9") + b"\r\n", (400, 505), None),
            ("absolute form", self.head(target="http://evil.example/trade-api/v2/markets") + b"\r\n",
             (400,), "invalid_path"),
            ("asterisk form", self.head("OPTIONS", "*") + b"\r\n", (400,), "invalid_path"),
            ("CONNECT", self.head("CONNECT", "evil.example:443") + b"\r\n", (400,), None),
            ("control byte in target", self.head(target=V2 + "/mar\x01kets") + b"\r\n", (400,),
             "invalid_path"),
            ("tab in target", self.head(target=V2 + "/mar\tkets") + b"\r\n", (400,), "invalid_path"),
            ("overlong URI", self.head(target=V2 + "/markets?cursor=" + "a" * 70000) + b"\r\n",
             (400, 414, 431), None),
            ("overlong path", self.head(target=V2 + "/" + "m" * 70000) + b"\r\n", (400, 414, 431), None),
        ]
        # HTTP/1.1 without Host: libmicrohttpd's own 400
        cases.append(("no Host", b"GET /trade-api/v2/markets HTTP/1.1\r\n\r\n", (400,), None))
        for name, data, statuses, code in cases:
            with self.subTest(name):
                self.assert_4xx(self.raw(data), statuses, code)
                self.assert_healthy()
        # a space inside the target: libmicrohttpd (strict) closes without an answer
        ans = self.raw(self.head(target=V2 + "/markets?a=b c") + b"\r\n")
        self.assertTrue(ans.status is None or 400 <= ans.status < 500, ans)
        self.assert_nothing_reached_mock()
        self.assert_serving()
        self.assert_nothing_reached_mock()

    def test_nul_in_request_line_never_smuggles(self):
        # libmicrohttpd 0.9.75 ends the target at a NUL byte: the shorter
        # target is the one checked, signed and forwarded, so the bytes
        # after the NUL never reach a gateway endpoint or the upstream
        ans = self.raw(b"POST " + V2.encode() + b"/portfolio/order_groups\x00/../../../session/end"
                       b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 2\r\n\r\n{}")
        self.assertIsNotNone(ans.status, ans)
        self.assertNotEqual(ans.status // 100, 2, ans)
        ans = self.raw(self.head(target="/session\x00/end") + b"\r\n")
        self.assertIsNotNone(ans.status, ans)
        for r in self.mock.requests():
            self.assertNotIn("session", r["path"])
            self.assertNotIn("\x00", r["path"])
        st, _, doc = self.gw.json("GET", "/session")
        self.assertEqual((st, doc["session"]["status"]), (200, "active"), doc)
        self.assertNotIn(self.session["order_group_id"],
                         [r["path"].rsplit("/", 1)[-1] for r in self.mock.requests()
                          if r["method"] == "DELETE"])
        self.assert_serving()

    def test_malformed_headers(self):
        h = self.head()
        cases = [
            ("no colon", h + b"NoColonHere\r\n\r\n", (400,), None),
            ("space before colon", h + b"X-A : b\r\n\r\n", (400,), "invalid_request"),
            ("tab before colon", h + b"X-A\t: b\r\n\r\n", (400,), "invalid_request"),
            ("TE with space before colon",
             self.head("POST", V2 + "/portfolio/order_groups/create") +
             b"Content-Type: application/json\r\nTransfer-Encoding : chunked\r\n"
             b"Content-Length: 22\r\n\r\n{\"contracts_limit\": 1}", (400,), "invalid_request"),
            ("CL with space before colon",
             self.head("POST", V2 + "/portfolio/order_groups/create") +
             b"Content-Type: application/json\r\nContent-Length : 100\r\n"
             b"Content-Length: 22\r\n\r\n{\"contracts_limit\": 1}", (400,), "invalid_request"),
            ("non-token name", h + b"X(A)@: b\r\n\r\n", (400,), "invalid_request"),
            ("CR in value", h + b"X-A: b\rX-Injected: 1\r\n\r\n", (400,), "invalid_request"),
            ("control byte in value", h + b"X-A: b\x01c\r\n\r\n", (400,), "invalid_request"),
            ("DEL in value", h + b"X-A: b\x7f\r\n\r\n", (400,), "invalid_request"),
            ("escape in value", h + b"X-A: \x1b[31mred\r\n\r\n", (400,), "invalid_request"),
            ("bad Content-Length", self.head("POST", V2 + "/portfolio/order_groups/create") +
             b"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}", (400,), None),
        ]
        for name, data, statuses, code in cases:
            with self.subTest(name):
                self.assert_4xx(self.raw(data), statuses, code)
                self.assert_healthy()
        self.assert_nothing_reached_mock()
        # A NUL ends a value and an obs-fold is unfolded by libmicrohttpd
        # itself (0.9.75 merges the continuation into the name: "X-A: b\r\n c"
        # becomes "X-Ac: b"); neither answer can be a 4xx, but nothing with
        # a CR, LF, NUL or space reaches the upstream's header block
        for data in (h + b"X-A: b\x00X-Injected: 1\r\n\r\n", h + b"X-A: b\r\n X-Injected: 1\r\n\r\n",
                     h + b"X-A: b\r\n\tc\r\n\r\n"):
            ans = self.raw(data)
            self.assertIsNotNone(ans.status, ans)
        for r in self.mock.requests():
            for k, v in r["headers"].items():
                self.assertFalse(re.search(r"[\r\n\x00 \t:]", k), r["headers"])
                self.assertFalse(re.search(r"[\r\n\x00]", v), r["headers"])
        self.mock.clear()
        self.assert_serving()
        self.assert_nothing_reached_mock()

    def test_headers_over_the_cap(self):
        h = self.head()
        for name, data in (("one huge header", h + b"X-A: " + b"a" * 100000 + b"\r\n\r\n"),
                           ("many headers", h + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"),
                           ("huge cookie", h + b"Cookie: " + b"c=1; " * 20000 + b"\r\n\r\n")):
            with self.subTest(name):
                self.assert_4xx(self.raw(data), (400, 413, 431))
                self.assert_healthy()
        self.assert_nothing_reached_mock()
        self.assert_serving()

    def test_body_over_the_cap(self):
        create = V2 + "/portfolio/order_groups/create"
        cap = 1048576
        hd = self.head("POST", create, extra=b"Content-Type: application/json\r\n")
        # declared too large: refused from the headers
        ans = self.raw(hd + b"Content-Length: %d\r\n\r\n" % (cap + 1))
        self.assert_4xx(ans, (413,), "body_too_large")
        # declared huge (20 digits)
        ans = self.raw(hd + b"Content-Length: 99999999999999999999\r\n\r\n")
        self.assert_4xx(ans, (400, 413))
        # chunked, without Content-Length, twice the cap in 64 KiB chunks
        chunk = b"x" * 65536
        ans = self.raw(hd + b"Transfer-Encoding: chunked\r\n\r\n",
                       chunks=[b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * 32 + [b"0\r\n\r\n"])
        self.assert_4xx(ans, (413,), "body_too_large")
        # chunked in many small chunks, just over the cap
        small = b"{" + b" " * 4094 + b"}"
        ans = self.raw(hd + b"Transfer-Encoding: chunked\r\n\r\n",
                       chunks=[b"%x\r\n" % len(small) + small + b"\r\n"] * (cap // len(small) + 1)
                       + [b"0\r\n\r\n"])
        self.assert_4xx(ans, (413,), "body_too_large")
        # far over the cap: the gateway stops reading and closes
        ans = self.raw(hd + b"Transfer-Encoding: chunked\r\n\r\n",
                       chunks=[b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * 160, timeout=10)
        self.assertTrue(ans.status is None or ans.status == 413, ans)
        # malformed chunk size
        ans = self.raw(hd + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
        self.assertTrue(ans.status is None or 400 <= ans.status < 500, ans)
        for _ in range(3):
            self.assert_healthy()
        self.assert_nothing_reached_mock()
        self.assert_serving()
        self.assert_nothing_reached_mock()

    def test_json_nested_100000_deep(self):
        deep_arrays = "[" * 100000 + "]" * 100000
        deep_objects = '{"a":' * 100000 + "1" + "}" * 100000
        for path, body in ((CREATE_V2, deep_arrays), (CREATE_V2, deep_objects),
                           (CREATE_V2, v2_body(extra=',"x":' + deep_arrays)),
                           (BATCH_V2, '{"orders":' + deep_arrays + "}"),
                           (CREATE_LEGACY, deep_objects), (BATCH_LEGACY, deep_arrays),
                           ("/session/start", deep_objects), ("/session/halt", deep_arrays)):
            with self.subTest(path=path, body=body[:20]):
                st, hd, doc = self.gw.json("POST", path, body, timeout=30)
                self.assertEqual(st, 400, doc)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
                self.assertIn(doc["error"]["code"], ("invalid_json", "invalid_order", "invalid_request"))
        self.assert_nothing_reached_mock()
        st, _, doc = self.gw.json("GET", "/session")
        self.assertEqual(doc["session"]["status"], "active")
        self.assert_serving()

    def test_duplicate_keys_never_smuggle_a_group(self):
        gid = self.session["order_group_id"]
        cases = [
            (CREATE_V2, v2_body(extra=',"order_group_id":"A","order_group_id":"B"')),
            (CREATE_V2, v2_body(extra=',"order_group_id":"%s","order_group_id":"B"' % gid)),
            (CREATE_V2, v2_body(extra=',"order_group_id":"B","order_group_id":"%s"' % gid)),
            (CREATE_V2, v2_body(extra=',"subaccount":0,"subaccount":5')),
            (CREATE_V2, v2_body(extra=',"client_order_id":"a","client_order_id":"b"')),
            (CREATE_V2, v2_body(extra=',"count":"2.00"')),
            (CREATE_V2, v2_body(extra=',"ticker":"KXMOCK-26DEC31-B"')),
            (BATCH_V2, '{"orders":[%s]}' % v2_body(extra=',"order_group_id":"A","order_group_id":"B"')),
            (BATCH_V2, '{"orders":[%s],"orders":[%s]}' % (v2_body(), v2_body())),
            (CREATE_LEGACY, legacy_body(extra=',"order_group_id":"A","order_group_id":"B"')),
            (BATCH_LEGACY, '{"orders":[%s]}' % legacy_body(extra=',"order_group_id":"A","order_group_id":"B"')),
        ]
        for path, body in cases:
            with self.subTest(path=path, body=body):
                st, hd, doc = self.gw.json("POST", path, body)
                self.assert_rejected(st, hd, doc, 400, "invalid_order")
        # session bodies too: a duplicate name must not pick another session
        st, hd, doc = self.gw.json("POST", "/session/halt", '{"name":"default","name":"other"}')
        self.assertEqual(st, 400, doc)
        self.assertEqual(hd.get("x-gateway-rejected"), "1")
        st, _, doc = self.gw.json("GET", "/session")
        self.assertEqual(doc["session"]["status"], "active")
        self.assertEqual(self.unexpected(), [])
        # the mock holds no group but the session's and no order outside it
        state = self.mock.state()
        self.assertEqual([g["id"] for g in state["order_groups"]], [gid])
        for o in state["orders"]:
            self.assertEqual(o.get("order_group_id"), gid, o)
        self.assert_serving()

    def test_counts_and_prices_that_are_not_fixed_point(self):
        bad_counts = ["2.5", "2.0", "1e2", "1E2", "1e-2", "-1", "-1.00", '"-1.00"', "0", '"0.00"',
                      "12345678901234567890", "99999999999999999999999999", '"12345678901234567890"',
                      '"12345678901234567890.00"', "1" + "0" * 400, '"1.001"', '"1,00"', '"0x10"',
                      '" 1"', '"1 "', '""', '"abc"', '"NaN"', "NaN", "Infinity", '"1e2"', "true", "null",
                      "[]", "{}"]
        for tok in bad_counts:
            with self.subTest(count=tok):
                st, hd, doc = self.gw.json("POST", CREATE_V2, v2_body(count=tok))
                self.assertEqual(st, 400, doc)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
                self.assertIn(doc["error"]["code"], ("invalid_order", "invalid_json"))
        for tok in ("0.3", "1e-1", '"-0.3000"', '"0.30000"', '"abc"', "30", '"1.0001"', '"0.0000"'):
            with self.subTest(price=tok):
                st, hd, doc = self.gw.json("POST", CREATE_V2, v2_body(price=tok))
                self.assertEqual(st, 400, doc)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
        for tok in ("2.0", "-3", "1e1", "12345678901234567890", '"3"'):
            with self.subTest(legacy_count=tok):
                st, hd, doc = self.gw.json("POST", CREATE_LEGACY, legacy_body(count=tok))
                self.assertEqual(st, 400, doc)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
        # session bodies: the limit as a real, a negative, 20 digits, a string
        for tok in ("10.5", "1e3", "-5", "12345678901234567890", '"ten"', "0"):
            with self.subTest(contracts_limit=tok):
                st, hd, doc = self.gw.json("POST", "/session/start",
                                           '{"name":"n%d","contracts_limit":%s}' % (len(tok), tok))
                self.assertEqual(st, 400, doc)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
        self.assert_nothing_reached_mock()
        self.assertEqual(len(self.mock.state()["order_groups"]), 1)
        self.assert_serving()

    def test_invalid_utf8(self):
        bodies = [b'"KX\xff"', b'"KX\xc0\xaf"', b'"KX\xed\xa0\x80"', b'"KX\xe2\x82"', b'"KX\x80"',
                  b'"A\\u0000B"', b'"\\ud800"']
        for tick in bodies:
            body = v2_body().encode().replace(b'"%s"' % TICKER.encode(), tick)
            with self.subTest(ticker=tick):
                st, hd, raw = self.gw.request("POST", CREATE_V2, body)
                self.assertEqual(st, 400, raw)
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
        for body in (b'{"contracts_limit":5,"name":"n\xff"}', b'{"contracts_limit":5,"name":"\xc3"}'):
            with self.subTest(session=body):
                st, hd, raw = self.gw.request("POST", "/session/start", body)
                self.assertEqual(st, 400, raw)
        # a session chosen by header with non-ASCII bytes is never found
        st, hd, raw = self.gw.request("POST", CREATE_V2, v2_body(),
                                      headers={"X-Gateway-Session": "d\xe9fault"})
        self.assertTrue(400 <= st < 500, raw)
        self.assertEqual(hd.get("x-gateway-rejected"), "1")
        # non-ASCII bytes in a path
        ans = self.raw(b"GET " + V2.encode() + b"/markets/\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assert_4xx(ans, (400,), "invalid_path")
        self.assert_nothing_reached_mock()
        self.assert_serving()

    def test_path_tricks(self):
        tricks = ["/trade-api/v2/../session/end", "/trade-api/v2/%2e%2e/session/end",
                  "/trade-api/v2/%2E%2E/session/end", "/trade-api/v2/.%2e/session/end",
                  "/trade-api/v2/%2e./%2e%2e/session/end", "/trade-api/v2/portfolio/..%2Fsession",
                  "/trade-api/v2/markets%2F..%2F..%2Fsession%2Fend", "/trade-api/v2/markets%2fx",
                  "/trade-api/v2//markets", "//trade-api/v2/markets", "/trade-api//v2/markets",
                  "/trade-api/v2/markets%00", "/trade-api/v2/markets%00/../x", "/trade-api/v2/markets%5c..",
                  "/trade-api/v2/markets\\..\\..\\session\\end", "/trade-api/v2/./markets",
                  "/trade-api/v2/markets/.", "/trade-api/v2/markets/", "/trade-api/v2/%6Darkets",
                  "/trade-api/v2/markets/%zz", "/trade-api/v2/markets#/../../session/end",
                  "/session/../session/end", "/session/./end", "/session//end", "/session%2Fend",
                  "/session/end/", "/session/end/..", "/%73ession/end", "/metrics/..",
                  "/trade-api/v2/portfolio/order_groups/%2e%2e/order_groups/create"]
        for path in tricks:
            for method in ("GET", "POST"):
                with self.subTest(method=method, path=path):
                    body = b'{"name":"default"}' if method == "POST" else None
                    st, hd, raw = self.gw.request(method, path, body)
                    self.assertIn(st, (400, 404), raw)
                    self.assertEqual(hd.get("x-gateway-rejected"), "1", (st, raw))
        # a query is forwarded verbatim to the same path, never routed
        st, _, raw = self.gw.request("GET", V2 + "/markets?next=/../../session/end&x=%2e%2e%2F")
        self.assertEqual(st, 200, raw)
        st, _, doc = self.gw.json("GET", "/session")
        self.assertEqual(doc["session"]["status"], "active", doc)
        got = self.unexpected()
        self.assertEqual(got, [("GET", V2 + "/markets", "next=/../../session/end&x=%2e%2e%2F")])
        self.mock.clear()
        self.assert_serving()

    def test_cr_lf_never_reach_an_upstream_header(self):
        # via the query: raw bytes refused; encoded ones forwarded verbatim
        for q in (b"a=1\rX-Injected:%201", b"a=1\x01b", b"a=\x7f", b"a=caf\xc3\xa9", b"a=1\tb",
                  b"a=1#frag"):
            with self.subTest(query=q):
                ans = self.raw(b"GET " + V2.encode() + b"/markets?" + q +
                               b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                self.assert_4xx(ans, (400,), "invalid_path")
        ans = self.raw(b"GET " + V2.encode() + b"/markets?a=1\nX-Injected: 1 HTTP/1.1\r\n"
                       b"Host: 127.0.0.1\r\n\r\n")
        self.assert_4xx(ans, (400,))
        self.assert_nothing_reached_mock()
        st, _, raw = self.gw.request("GET", V2 + "/markets?a=%0d%0aX-Injected:%201")
        self.assertEqual(st, 200, raw)
        self.assertEqual([r.get("query") for r in self.mock.requests() if r["path"] == V2 + "/markets"],
                         ["a=%0d%0aX-Injected:%201"])
        self.mock.clear()
        # via headers the gateway reads: session name, request id, bearer token
        for name, value in (("X-Gateway-Session", b"default\rX-Injected: 1"),
                            ("X-Request-Id", b"id\rX-Injected: 1"),
                            ("Authorization", b"Bearer x\rX-Injected: 1"),
                            ("X-Bot-Name", b"a\rX-Injected: 1")):
            with self.subTest(header=name):
                ans = self.raw(self.head("POST", CREATE_V2, extra=b"Content-Type: application/json\r\n"
                                         b"%s: %s\r\nContent-Length: %d\r\n\r\n%s"
                                         % (name.encode(), value, len(v2_body()), v2_body().encode())))
                self.assert_4xx(ans, (400,), "invalid_request")
                self.assertNotIn("injected", json.dumps(ans.headers).lower())
        # an X-Request-Id that is not safe is replaced, never echoed
        st, hd, _ = self.gw.request("GET", "/healthz", headers={"X-Request-Id": "a b<script>"})
        self.assertEqual(st, 200)
        self.assertRegex(hd["x-request-id"], r"^[0-9a-f]{32}$")
        # via client ids in the body: escaped CR/LF stay inside JSON strings
        for coid in ("x\r\nX-Injected: 1", "x\nX-Injected: 1", "x\u0000y"):
            with self.subTest(client_order_id=coid):
                body = json.dumps({"ticker": TICKER, "side": "bid", "count": "1.00", "price": "0.3000",
                                   "time_in_force": "good_till_canceled", "client_order_id": coid,
                                   "self_trade_prevention_type": "taker_at_cross"})
                st, hd, raw = self.gw.request("POST", CREATE_V2, body)
                self.assertTrue(st == 400 or st // 100 == 2 or (st >= 400 and "x-gateway-rejected" not in hd),
                                (st, raw))
                body = json.dumps({"ticker": TICKER, "side": "yes", "action": "buy", "count": 1,
                                   "yes_price": 30, "time_in_force": "good_till_canceled",
                                   "client_order_id": coid})
                self.gw.request("POST", CREATE_LEGACY, body)
                self.gw.request("GET", V2 + "/portfolio/orders?client_order_id=" +
                                coid.replace("\r", "%0d").replace("\n", "%0a").replace("\u0000", "%00")
                                .replace(" ", "%20"))
        self.assert_no_injected_header()
        self.mock.clear()
        self.assert_serving()

    def test_web_page_requests(self):
        port = self.gw.port
        json_h = {"Content-Type": "application/json"}
        cases = [
            # a cross-site form or fetch: a foreign Origin, on every kind of endpoint
            ("GET", V2 + "/portfolio/balance", None, {"Origin": "https://evil.example"}, 403, "forbidden"),
            ("POST", "/session/halt", b'{"all":true}', dict(json_h, Origin="https://evil.example"),
             403, "forbidden"),
            ("POST", "/session/end", b"{}", dict(json_h, Origin="null"), 403, "forbidden"),
            ("POST", CREATE_V2, v2_body().encode(), dict(json_h, Origin="http://127.0.0.1.evil.example"),
             403, "forbidden"),
            ("OPTIONS", CREATE_V2, None, {"Origin": "https://evil.example",
                                          "Access-Control-Request-Method": "POST"}, 403, "forbidden"),
            ("GET", "/metrics", None, {"Origin": "http://localhost:1"}, 403, "forbidden"),
            # a "simple" request needs no preflight: text/plain, forms
            ("POST", "/session/halt", b'{"all":true}', {"Content-Type": "text/plain"}, 415,
             "unsupported_media_type"),
            ("POST", "/session/end", b"name=default",
             {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
            ("POST", CREATE_V2, v2_body().encode(), {"Content-Type": "multipart/form-data; boundary=x"},
             415, "unsupported_media_type"),
            ("POST", CREATE_V2, v2_body().encode(), {"Content-Type": "text/plain;application/json"},
             415, "unsupported_media_type"),
            # DNS rebinding: the page's own origin, under a foreign Host
            ("POST", "/session/halt", b'{"all":true}', dict(json_h, Host="evil.example:%d" % port),
             421, "host_not_allowed"),
            ("GET", V2 + "/portfolio/balance", None, {"Host": "127.0.0.1.evil.example"}, 421,
             "host_not_allowed"),
            ("GET", "/sessions", None, {"Host": "localhost.evil.example:%d" % port}, 421,
             "host_not_allowed"),
            ("POST", "/session/halt", b'{"all":true}',
             dict(json_h, Host="evil.example:%d" % port, Origin="http://evil.example:%d" % port),
             421, "host_not_allowed"),
        ]
        for method, path, body, headers, status, code in cases:
            with self.subTest(method=method, path=path, headers=headers):
                st, hd, raw = self.gw.request(method, path, body, headers=headers)
                doc = json.loads(raw)
                self.assert_rejected(st, hd, doc, status, code)
                self.assertNotIn("access-control-allow-origin", hd)
        # two Host headers: the first decides, and a foreign first one is refused
        ans = self.raw(b"POST /session/halt HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"all\":true}")
        self.assert_4xx(ans, (400, 421))
        st, _, doc = self.gw.json("GET", "/session")
        self.assertEqual(doc["session"]["status"], "active", doc)
        self.assert_nothing_reached_mock()
        # the page's own origin is fine
        st, _, _ = self.gw.request("GET", V2 + "/markets", headers={
            "Host": "localhost:%d" % port, "Origin": "http://localhost:%d" % port})
        self.assertEqual(st, 200)
        self.mock.clear()
        self.assert_serving()


# ------------------------------------------------------------------------------------
class HostileSlowlorisTest(HostileBase):
    """200 sockets dribbling a header byte a second do not starve others;
    once quiet, server.connection_timeout_s closes them."""

    config = {"server": {"connection_timeout_s": 2}}

    def test_slowloris_does_not_starve_others(self):
        n = 200
        base_fds = open_fds(self.gw.proc.pid)
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
            s.sendall(b"GET " + V2.encode() + b"/markets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        stop = threading.Event()
        alive = [n]   # sockets the last round could still write to

        def dribble():
            while not stop.is_set():
                ok = 0
                for s in socks:
                    try:
                        s.sendall(b"a")
                        ok += 1
                    except OSError:
                        pass
                alive[0] = ok
                stop.wait(1.0)

        t = threading.Thread(target=dribble)
        t.start()
        try:
            time.sleep(1.0)
            latencies = []
            t_end = time.time() + 4.0   # twice the connection timeout
            while time.time() < t_end:
                t0 = time.time()
                st, _, raw = self.gw.request("GET", V2 + "/markets", headers={NORMAL_TAG: "1"},
                                             timeout=5)
                latencies.append(time.time() - t0)
                self.assertEqual(st, 200, raw)
                st, _, doc = self.gw.json("GET", "/session")
                self.assertEqual(st, 200)
                time.sleep(0.05)
            # still connected while they keep dribbling (the timeout is an idle one)
            self.assertEqual(alive[0], n)
        finally:
            stop.set()
            t.join(10)
        latencies.sort()
        if os.environ.get("E2E_FIGURES"):
            print("\nslowloris: %d sockets, %d requests, p50 %.1f ms, max %.1f ms"
                  % (n, len(latencies), latencies[len(latencies) // 2] * 1000, latencies[-1] * 1000))
        self.assertGreater(len(latencies), 10)
        self.assertLess(latencies[len(latencies) // 2], 0.5, latencies)
        self.assertLess(latencies[-1], 2.0, latencies)
        self.assert_serving()
        # quiet now: each is closed within the 2 s connection timeout (+ slack)
        deadline = time.time() + 8
        closed = 0
        for s in socks:
            s.settimeout(max(0.1, deadline - time.time()))
            try:
                d = s.recv(4096)
                closed += (d == b"" or d.startswith(b"HTTP/1.1 4"))
            except OSError as e:
                closed += not isinstance(e, socket.timeout)
        self.assertEqual(closed, n)
        for s in socks:
            s.close()
        # and the gateway let go of their descriptors
        deadline = time.time() + 5
        while time.time() < deadline and open_fds(self.gw.proc.pid) > base_fds + 2:
            time.sleep(0.1)
        self.assertLessEqual(open_fds(self.gw.proc.pid), base_fds + 2)
        self.assert_nothing_reached_mock()


# ------------------------------------------------------------------------------------
class HostileUpstreamFaultsTest(HostileBase):
    """Each upstream fault: the documented status, no request left in
    flight, no descriptor leaked, and recovery on the very next request."""

    # answers over 1 MiB are refused: the oversized case stays quick under ASan
    config = {"upstream": {"timeout_ms": 1000, "connect_timeout_ms": 500,
                           "max_response_bytes": 1048576}}

    @staticmethod
    def settled_fds(gw):
        """Open descriptors minus upstream connections (which the pool keeps
        or drops at will)."""
        return open_fds(gw.proc.pid) - metric(gw, "kalshi_gateway_upstream_connections")

    def assert_settled(self, base, gw=None, slack=3):
        """No request in flight but the /metrics one, and at most `slack`
        more descriptors than at `base`: connections outside the pool's gauge
        (the session worker's group watch and readiness probe) come and go
        on their own. Closes still under way get 5 s."""
        gw = gw or self.gw
        deadline = time.time() + 5
        while time.time() < deadline:
            if metric(gw, "kalshi_gateway_requests_in_flight") == 1 and self.settled_fds(gw) <= base + slack:
                break
            time.sleep(0.1)
        self.assertEqual(metric(gw, "kalshi_gateway_requests_in_flight"), 1)  # this /metrics
        self.assertLessEqual(self.settled_fds(gw), base + slack)

    def test_each_fault_status_no_leak_and_recovery(self):
        markets, create = V2 + "/markets", V2 + "/portfolio/order_groups/create"
        for _ in range(3):
            self.gw.request("GET", markets)
        base = self.settled_fds(self.gw)
        cases = [
            # (name, fault, method, path, statuses, code, outcome header)
            ("hang read", {"mode": "hang", "delay_ms": 3000}, "GET", markets, (504,), "upstream_timeout", None),
            ("hang write", {"mode": "hang", "delay_ms": 3000}, "POST", create, (504,), "upstream_timeout",
             "unknown"),
            ("reset read", {"mode": "reset"}, "GET", markets, (502, 504), None, None),
            ("reset write", {"mode": "reset"}, "POST", create, (502, 504), None, None),
            ("garbage", {"mode": "garbage"}, "GET", markets, (502, 504), None, None),
            ("oversized", {"mode": "big", "bytes": 2 * 1048576}, "GET", markets, (502,),
             "upstream_unavailable", None),
            ("500 read", {"mode": "status", "status": 500}, "GET", markets, (500,), None, None),
            ("500 write", {"mode": "status", "status": 500}, "POST", create, (500,), None, "unknown"),
            ("503 write", {"mode": "status", "status": 503}, "POST", create, (503,), None, "unknown"),
            ("429 read", {"mode": "status", "status": 429}, "GET", markets, (429,), None, None),
        ]
        for name, fault, method, path, statuses, code, outcome in cases:
            with self.subTest(name):
                self.mock.fault(**fault)
                body = {"contracts_limit": 1} if method == "POST" else None
                t0 = time.time()
                st, hd, raw = self.gw.request(method, path, body, timeout=20)
                self.assertLess(time.time() - t0, 8, "answer took too long")
                self.mock.clear_fault()
                self.assertIn(st, statuses, raw[:300])
                if code:
                    self.assertEqual(hd.get("x-gateway-rejected"), "1")
                    self.assertEqual(json.loads(raw)["error"]["code"], code)
                if outcome:
                    self.assertEqual(hd.get("x-gateway-outcome"), outcome)
                if st in (500, 503, 429):
                    self.assertNotIn("x-gateway-rejected", hd)   # relayed as Kalshi sent it
                # recovery on the very next request
                st, _, raw = self.gw.request(method, path, body)
                self.assertIn(st, (200, 201), raw[:300])
                self.assert_settled(base)
        # the whole series again: a descriptor kept by any case would add up
        for name, fault, method, path, statuses, code, outcome in cases:
            self.mock.fault(**fault)
            body = {"contracts_limit": 1} if method == "POST" else None
            st, _, raw = self.gw.request(method, path, body, timeout=20)
            self.mock.clear_fault()
            self.assertIn(st, statuses, (name, raw[:300]))
        self.assert_settled(base)
        self.mock.clear()
        self.assert_serving()

    def test_refused_then_recovers_as_soon_as_the_upstream_is_back(self):
        port = harness.free_port()
        gw = Gateway.start(env={"KALSHI_UPSTREAM_URL": "http://127.0.0.1:%d" % port,
                                "KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_FILE": self.priv},
                           config={"upstream": {"connect_timeout_ms": 500, "timeout_ms": 1000},
                                   "readiness": {"probe_interval_s": 1}})
        mock2 = None
        try:
            base = self.settled_fds(gw)
            for method in ("GET", "POST"):
                st, hd, raw = gw.request(method, V2 + "/portfolio/order_groups/create"
                                         if method == "POST" else V2 + "/markets",
                                         {"contracts_limit": 1} if method == "POST" else None)
                self.assertEqual(st, 502, raw)
                self.assertEqual(json.loads(raw)["error"]["code"], "upstream_unavailable")
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
            self.assertEqual(gw.request("GET", "/readyz")[0], 503)
            self.assert_settled(base, gw)
            # the upstream comes up on that port: the next request goes through
            mock2 = Mock.start(pubkey=self.pub, key_id=KEY_ID, priv=self.priv,
                               extra_args=("--listen", "127.0.0.1:%d" % port))
            self.assertEqual(mock2.port, port)
            st, _, raw = gw.request("GET", V2 + "/markets")
            self.assertEqual(st, 200, raw)
            self.assertTrue(mock2.requests()[-1]["sig_valid"])
            gw.wait_ready(timeout=5)
        finally:
            self.assertEqual(gw.stop(), 0)
            if mock2:
                mock2.stop()

    def test_unverifiable_tls_certificate_refused(self):
        cert = harness.gen_cert(self.tmp)
        mock = Mock.start(pubkey=self.pub, key_id=KEY_ID, tls=cert)
        try:
            gw = Gateway.start(mock=mock, keys=(self.priv, self.pub))
            try:
                for method, path, body in (("GET", V2 + "/markets", None),
                                           ("POST", V2 + "/portfolio/order_groups/create",
                                            {"contracts_limit": 1})):
                    st, hd, raw = gw.request(method, path, body)
                    self.assertEqual(st, 502, raw)
                    self.assertEqual(json.loads(raw)["error"]["code"], "upstream_unavailable")
                    self.assertNotEqual(hd.get("x-gateway-outcome"), "unknown")
                self.assertEqual(mock.requests(), [])
                self.assertEqual(metric(gw, "kalshi_gateway_requests_in_flight"), 1)
                self.assertEqual(gw.request("GET", "/readyz")[0], 503)
            finally:
                self.assertEqual(gw.stop(), 0)
        finally:
            mock.stop()


# ------------------------------------------------------------------------------------
class HostileDrainTest(unittest.TestCase):
    """SIGTERM: stop accepting, /readyz 503, queued work 503 shutting_down,
    sent requests finish within server.shutdown_timeout_ms, state
    persisted, exit 0."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test-hostile-drain-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.priv, self.pub = harness.gen_keypair(self.tmp)
        self.mock = Mock.start(pubkey=self.pub, key_id=KEY_ID, priv=self.priv)
        self.addCleanup(self.mock.stop)

    def test_sigterm_drain(self):
        state_dir = os.path.join(self.tmp, "var")
        # creates cost 10 tokens at 9 a second after the margin: the first
        # goes out, the next ones wait in the rate-budget queue
        cfg = {"rate_limit": {"tier": "basic", "write_tokens_per_s": 10, "burst_s": 1,
                              "max_queue_ms": 10000},
               "server": {"shutdown_timeout_ms": 3000}}
        # one event loop: the kept-alive connection below shares it with the
        # request in flight (a loop with nothing left in flight stops at
        # once and closes its idle connections)
        gw = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), config=cfg, state_dir=state_dir,
                           threads=1)
        try:
            gw.wait_ready(timeout=15)
            st, _, doc = gw.json("POST", "/session/start", {"contracts_limit": 1000})
            self.assertEqual(st, 201, doc)
            sess = doc["session"]
            self.mock.clear()
            self.mock.fault(mode="delay", delay_ms=1500, path_prefix=CREATE_V2)
            # a kept-alive connection opened before the signal
            import http.client
            keep = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            keep.request("GET", "/healthz")
            self.assertEqual(keep.getresponse().read(), b'{"status":"ok"}')
            results = {}

            def order(i):
                t0 = time.time()
                st, hd, raw = gw.request("POST", CREATE_V2, v2_body(), timeout=20)
                results[i] = (st, hd, raw, time.time() - t0)

            def creates_sent():
                return len([r for r in self.mock.requests() if r["path"] == CREATE_V2])

            threads = [threading.Thread(target=order, args=(i,)) for i in range(5)]
            threads[0].start()
            deadline = time.time() + 5
            while creates_sent() < 1 and time.time() < deadline:
                time.sleep(0.01)
            for t in threads[1:]:
                t.start()
            # the four others are in (parked: the budget refills in ~1.1 s)
            while metric(gw, "kalshi_gateway_requests_in_flight") < 6 and time.time() < deadline:
                time.sleep(0.01)
            self.assertEqual(metric(gw, "kalshi_gateway_requests_in_flight"), 6)
            self.assertEqual(creates_sent(), 1, "one create in flight at the signal")
            t_sig = time.time()
            gw.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            # /readyz on the existing connection: 503
            keep.request("GET", "/readyz")
            resp = keep.getresponse()
            self.assertEqual(resp.status, 503)
            resp.read()
            keep.close()
            # no longer accepting new connections
            with self.assertRaises(OSError):
                harness.http("GET", gw.url + "/healthz", timeout=2)
            for t in threads:
                t.join(15)
            rc = gw.proc.wait(15)
            elapsed = time.time() - t_sig
        finally:
            gw.stop()
        self.assertEqual(rc, 0, gw.logs()[-3000:])
        self.assertLess(elapsed, 3.0 + 1.5, "exit within shutdown_timeout_ms + flush")
        statuses = sorted(r[0] for r in results.values())
        self.assertEqual(statuses, [201, 503, 503, 503, 503], (results, gw.logs()[-3000:]))
        for st, hd, raw, took in results.values():
            if st == 503:
                self.assertEqual(json.loads(raw)["error"]["code"], "shutting_down")
                self.assertEqual(hd.get("x-gateway-rejected"), "1")
                self.assertLess(took, 3.0)
        # the queued ones never reached the mock
        self.assertEqual(len([r for r in self.mock.requests() if r["path"] == CREATE_V2]), 1)
        # state persisted: the session and its accepted order
        with open(os.path.join(state_dir, "sessions.json")) as f:
            state = json.load(f)
        saved = [s for s in state["sessions"] if s["session_id"] == sess["session_id"]]
        self.assertEqual(len(saved), 1, state)
        self.assertEqual(saved[0]["status"], "active")
        gw2 = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), config=cfg, state_dir=state_dir)
        try:
            gw2.wait_ready(timeout=15)
            st, _, doc = gw2.json("GET", "/session")
            self.assertEqual(st, 200, doc)
            self.assertEqual(doc["session"]["order_group_id"], sess["order_group_id"])
            self.assertEqual(doc["session"]["orders_accepted"], "1.00")
        finally:
            self.assertEqual(gw2.stop(), 0)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, gw.logs() + gw2.logs())


# ------------------------------------------------------------------------------------
class HostileSecretsTest(unittest.TestCase):
    """The private key, tokens and signatures never appear in anything the
    gateway wrote: its log (at debug level), the audit log, state files,
    /metrics, /sessions, /ui/summary and every answer's headers and body,
    error answers included. Key files readable by others are warned about;
    state files are 0600 and the state directory 0700."""

    def test_no_secret_in_anything_the_gateway_wrote(self):
        tmp = tempfile.mkdtemp(prefix="test-hostile-secrets-")
        self.addCleanup(shutil.rmtree, tmp, True)
        priv, pub = harness.gen_keypair(tmp)
        bot_priv, bot_pub = harness.gen_keypair(tmp)
        os.chmod(priv, 0o644)   # readable by others: a start-up warning
        tokens = {n: "%s-%s" % (n, secrets.token_urlsafe(24)) for n in ("admin", "alpha")}
        admin_file = os.path.join(tmp, "admin.token")
        with open(admin_file, "w") as f:
            f.write(tokens["admin"] + "\n")
        os.chmod(admin_file, 0o600)
        mock = Mock.start(pubkey=pub, key_id=KEY_ID, priv=priv)
        self.addCleanup(mock.stop)
        cfg = {"rate_limit": {"tier": "off"}, "admin_token_file": admin_file, "log_level": "debug",
               "upstream": {"timeout_ms": 1000},
               "clients": [{"name": "alpha", "role": "trader", "session": "default",
                            "token_sha256": hashlib.sha256(tokens["alpha"].encode()).hexdigest()},
                           {"name": "sig", "role": "trader", "kalshi_key_id": "bot-own-key",
                            "public_key_file": bot_pub}]}
        state_dir = os.path.join(tmp, "var")
        gw = Gateway.start(mock=mock, keys=(priv, pub), config=cfg, state_dir=state_dir)
        answers = []
        bot_sigs = []
        try:
            gw.wait_ready(timeout=15)
            admin = {"Authorization": "Bearer " + tokens["admin"]}
            alpha = {"Authorization": "Bearer " + tokens["alpha"]}

            def call(method, path, body=None, headers=None):
                st, hd, raw = gw.request(method, path, body, headers=headers)
                answers.append(json.dumps(hd) + raw.decode(errors="replace"))
                return st, raw

            def bot(method, path, body=None, priv_pem=bot_priv, ts=None):
                h = harness.signed_headers(priv_pem, method, path, key_id="bot-own-key", ts_ms=ts)
                bot_sigs.append(h["KALSHI-ACCESS-SIGNATURE"])
                return call(method, path, body, h)

            self.assertEqual(call("POST", "/session/start", {"contracts_limit": 100}, admin)[0], 201)
            self.assertEqual(call("POST", CREATE_V2, v2_body(), alpha)[0], 201)
            self.assertEqual(bot("POST", CREATE_V2, v2_body())[0], 201)
            bot("GET", V2 + "/portfolio/balance")
            # refusals: wrong token, a token in the wrong place, a bad or stale bot signature
            call("GET", V2 + "/markets", None, {"Authorization": "Bearer " + tokens["admin"] + "x"})
            call("GET", V2 + "/markets", None, {"Authorization": "Basic " + tokens["alpha"]})
            bot("GET", V2 + "/markets", priv_pem=priv)
            bot("GET", V2 + "/markets", ts=harness.now_ms() - 60000)
            call("POST", CREATE_V2, v2_body(count="2.5"), alpha)
            call("GET", V2 + "/markets", None, dict(alpha, Origin="https://evil.example"))
            # upstream faults and an upstream 401 (the gateway logs what it signed)
            for fault in ({"mode": "status", "status": 401,
                           "body": '{"error":{"code":"authentication_error","message":"bad sig"}}'},
                          {"mode": "hang", "delay_ms": 2000}, {"mode": "garbage"}, {"mode": "reset"}):
                mock.fault(**fault)
                call("GET", V2 + "/portfolio/positions", None, alpha)
                call("POST", CREATE_V2, v2_body(), alpha)
                mock.clear_fault()
            for path in ("/metrics", "/sessions", "/session", "/readyz", "/ui/summary", "/ui"):
                call("GET", path, None, admin)
            call("POST", "/session/halt", {}, admin)
            call("POST", "/session/end", {}, admin)
            time.sleep(1.2)   # counters and audit flushed
            upstream_sigs = [r["headers"].get("kalshi-access-signature", "")
                             for r in mock.requests(watch=True)]
        finally:
            rc = gw.stop()
        self.assertEqual(rc, 0, gw.logs()[-3000:])
        logs = gw.logs()
        self.assertRegex(logs, r"private key file .* readable by group or others")
        # state files 0600, state directory 0700
        self.assertEqual(stat.S_IMODE(os.stat(state_dir).st_mode), 0o700)
        written = {"gateway.log": logs}
        for root, _, files in os.walk(state_dir):
            for name in files:
                p = os.path.join(root, name)
                if name.endswith(".lock"):
                    continue
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode) & 0o077, 0, p)
                with open(p, errors="replace") as f:
                    written[os.path.relpath(p, state_dir)] = f.read()
        self.assertTrue(any("audit" in k for k in written), list(written))
        for i, a in enumerate(answers):
            written["answer %d" % i] = a
        needles = [("token " + n, t) for n, t in tokens.items()]
        for pem in (priv, bot_priv):
            with open(pem) as f:
                needles += [("key line", l.strip()) for l in f
                            if l.strip() and not l.startswith("-----") and len(l.strip()) >= 40]
        needles += [("upstream signature", s) for s in upstream_sigs if s]
        needles += [("bot signature", s) for s in bot_sigs]
        self.assertGreater(len([n for n in needles if n[0] == "upstream signature"]), 5)
        found = sorted({(where, what) for where, text in written.items()
                        for what, secret in needles if secret in text})
        self.assertEqual(found, [])
        self.assertNotIn("PRIVATE KEY", "".join(written.values()))


if __name__ == "__main__":
    unittest.main()
