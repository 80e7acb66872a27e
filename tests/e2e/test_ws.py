"""End-to-end tests of the WebSocket relay (issue 11): GET /trade-api/ws/v2
upgraded by the gateway, which opens its own connection to the mock
exchange's WebSocket endpoint, signs the upgrade with the team's key and
pumps bytes both ways.

A real WebSocket client (tests/e2e/wsclient.py, written from RFC 6455) talks
to the real gateway binary; the mock exchange verifies the handshake's
signature, answers subscribes and pings, and reports what it saw through
/_mock/ws and /_mock/requests. The audit log (state_dir/audit.jsonl) shows
each relayed connection's open and close with bytes and reason.

Run: python3 tests/e2e/run.py -k WebSocket -v
The load test runs 200 connections x 100 messages/s for WS_LOAD_SECONDS
(default 3; the issue's figure is 20: WS_LOAD_SECONDS=20).
"""
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import tempfile
import threading
import time
import unittest

import harness
import wsclient
from gwharness import Gateway
from harness import Mock
from wsclient import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Refused, WsClient

KEY_ID = "test-key-id"
WS_PATH = "/trade-api/ws/v2"


def wait_for(pred, timeout=5.0, step=0.05):
    """Polls pred until it returns a true value; returns it (or the last)."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WsBase(unittest.TestCase):
    """A mock exchange enforcing signatures and a gateway in front of it."""
    config = None
    mock_tls = False
    gw_keys = "same"      # "same": the mock's key pair; "other": a key the mock does not know

    @classmethod
    def setUpClass(cls):
        cls.kdir = tempfile.mkdtemp(prefix="gw-ws-keys-")
        cls.keys = harness.gen_keypair(cls.kdir)
        cls.other_keys = harness.gen_keypair(cls.kdir) if cls.gw_keys == "other" else None
        cls.tls = harness.gen_cert(cls.kdir) if cls.mock_tls else None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-ws-")
        self.mock = Mock.start(pubkey=self.keys[1], key_id=KEY_ID, priv=self.keys[0], tls=self.tls)
        self.addCleanup(self.mock.stop)
        self.state_dir = os.path.join(self.dir, "var")
        self.gw = self.start_gw()
        self.addCleanup(self.stop_gw)
        self.mock_ws(reset=True)

    def start_gw(self, config=None, env=None, state_dir=None):
        e = dict(env or {})
        if self.tls:
            e["KALSHI_CA_FILE"] = self.tls[0]
        keys = self.other_keys if self.gw_keys == "other" else self.keys
        return Gateway.start(mock=self.mock, keys=keys, config=config or self.config, env=e,
                             state_dir=state_dir or self.state_dir)

    def stop_gw(self):
        rc = self.gw.stop()
        logs = self.gw.logs()
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, logs)
        self.assertEqual(rc, 0, logs[-3000:])

    # --- helpers ------------------------------------------------------------
    def connect(self, **kw):
        c = WsClient.connect("127.0.0.1", self.gw.port, **kw)
        self.addCleanup(c.close_socket)
        return c

    def refused(self, **kw):
        with self.assertRaises(Refused) as cm:
            self.connect(**kw)
        return cm.exception

    def mock_ws(self, reset=False):
        return self.mock._control("DELETE" if reset else "GET", "ws")

    def ws_requests(self):
        return [r for r in self.mock.requests() if r["path"] == WS_PATH]

    def audit(self):
        path = os.path.join(self.state_dir, "audit.jsonl")
        out = []
        try:
            with open(path) as f:
                for line in f:
                    rec = json.loads(line)
                    if rec.get("type") == "ws":
                        out.append(rec)
        except FileNotFoundError:
            pass
        return out

    def audit_for(self, rid, event, timeout=5):
        """The audit record of `event` for request id rid (waits for the writer)."""
        def find():
            recs = [r for r in self.audit() if r.get("request_id") == rid and r["event"] == event]
            return recs[0] if recs else None
        rec = wait_for(find, timeout)
        self.assertIsNotNone(rec, "no ws %s record for %s in %r" % (event, rid, self.audit()))
        return rec

    def metric(self, name):
        """A ws metric's value from /metrics, or None when not exported."""
        st, _, body = self.gw.request("GET", "/metrics")
        self.assertEqual(st, 200)
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def subscribe_stream(self, c, count, rate=0, size=0, sid_expected=None, msg_id=1):
        c.send_json({"id": msg_id, "cmd": "subscribe",
                     "params": {"channels": ["mock_stream"], "count": count, "rate": rate, "size": size}})
        ack = c.recv_json()
        self.assertEqual(ack["type"], "subscribed", ack)
        self.assertEqual(ack["id"], msg_id)
        return ack["msg"]["sid"]

    def read_stream(self, c, sid, count, timeout=30):
        deadline = time.time() + timeout
        for k in range(1, count + 1):
            m = c.recv_json(timeout=max(0.1, deadline - time.time()))
            self.assertEqual((m["type"], m["sid"], m["seq"]), ("mock_stream", sid, k))


class WebSocketRelayTest(WsBase):
    def test_handshake_signed_and_headers_verbatim(self):
        rid = "ws-hs-1"
        c = self.connect(protocols="kalshi.v2, other", extensions="x-mock-ext; client_max_window_bits",
                         headers={"X-Request-Id": rid})
        # the upstream's handshake headers reach the client verbatim
        self.assertEqual(c.status, 101)
        self.assertEqual(c.headers["upgrade"].lower(), "websocket")
        self.assertIn("upgrade", c.headers["connection"].lower())
        self.assertEqual(c.headers["sec-websocket-protocol"], "kalshi.v2")
        self.assertEqual(c.headers["sec-websocket-extensions"], "x-mock-ext; mock=1")
        self.assertTrue(c.headers["x-mock-session"].isdigit())
        self.assertEqual(c.headers["x-request-id"], rid)
        # what the mock received: the client's Sec-WebSocket-* verbatim and
        # a fresh signature over GET/trade-api/ws/v2 that verifies
        reqs = self.ws_requests()
        self.assertEqual(len(reqs), 1)
        r = reqs[0]
        h = r["headers"]
        self.assertEqual(r["method"], "GET")
        self.assertTrue(r["sig_valid"])
        self.assertEqual(h["sec-websocket-key"], c.key)
        self.assertEqual(h["sec-websocket-version"], "13")
        self.assertEqual(h["sec-websocket-protocol"], "kalshi.v2, other")
        self.assertEqual(h["sec-websocket-extensions"], "x-mock-ext; client_max_window_bits")
        self.assertEqual(h["upgrade"].lower(), "websocket")
        self.assertEqual(h["kalshi-access-key"], KEY_ID)
        ts = int(h["kalshi-access-timestamp"])
        self.assertLess(abs(ts - harness.now_ms()), 5000)
        self.assertTrue(harness.verify(self.keys[1], ts, "GET", WS_PATH, h["kalshi-access-signature"]))
        self.assertNotIn("authorization", h)
        # and the relay carries the protocol
        c.send_json({"id": 7, "cmd": "subscribe", "params": {"channels": ["ticker", "orderbook_delta"]}})
        msgs = [c.recv_json() for _ in range(4)]
        types = sorted(m["type"] for m in msgs)
        self.assertEqual(types, ["orderbook_snapshot", "subscribed", "subscribed", "ticker"])
        ticker = [m for m in msgs if m["type"] == "ticker"][0]
        self.assertEqual(ticker["msg"]["market_ticker"], "KXMOCK-26DEC31-T50")
        c.send_json({"id": 8, "cmd": "no_such_command"})
        self.assertEqual(c.recv_json()["type"], "error")
        self.audit_for(rid, "open")

    def test_each_upgrade_signed_afresh(self):
        a = self.connect()
        time.sleep(0.01)
        b = self.connect()
        reqs = self.ws_requests()
        self.assertEqual(len(reqs), 2)
        sigs = {r["headers"]["kalshi-access-signature"] for r in reqs}
        self.assertEqual(len(sigs), 2)
        self.assertTrue(all(r["sig_valid"] for r in reqs))
        for c in (a, b):
            c.ping(b"x")
            self.assertEqual(c.recv_frame(), (OP_PONG, b"x"))

    def test_ping_pong_and_binary_echo(self):
        c = self.connect()
        c.ping(b"are you there")
        self.assertEqual(c.recv_frame(), (OP_PONG, b"are you there"))
        blob = os.urandom(300000)
        c.send_binary(blob)
        op, got = c.recv_frame()
        self.assertEqual(op, OP_BINARY)
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(blob).hexdigest())
        c.ping(b"")
        self.assertEqual(c.recv_frame(), (OP_PONG, b""))
        self.assertEqual(self.mock_ws()["pings"], 2)

    def test_stream_in_order(self):
        c = self.connect()
        sid = self.subscribe_stream(c, count=2000, rate=0, size=200)
        self.read_stream(c, sid, 2000)
        # a second subscription on the same connection
        sid2 = self.subscribe_stream(c, count=50, rate=500, msg_id=2)
        self.assertNotEqual(sid, sid2)
        self.read_stream(c, sid2, 50)

    def test_pipelined_first_frame(self):
        # bytes sent right behind the request reach the upstream (MHD's extra_in)
        c = self.connect(extra=wsclient.frame(OP_PING, b"early"))
        self.assertEqual(c.recv_frame(), (OP_PONG, b"early"))

    def test_client_close_handshake(self):
        rid = "ws-close-client"
        c = self.connect(headers={"X-Request-Id": rid})
        c.send_json({"id": 1, "cmd": "subscribe", "params": {"channels": ["ticker"]}})
        c.recv_json()
        c.recv_json()
        c.close(1000, "bye")
        frames = c.wait_eof(timeout=5)
        self.assertEqual(frames[-1][0], OP_CLOSE)
        self.assertEqual(struct.unpack("!H", frames[-1][1][:2])[0], 1000)
        st = wait_for(lambda: (lambda s: s if s["open"] == 0 else None)(self.mock_ws()), 5)
        self.assertEqual(st["close_frames_received"], 1)
        self.assertEqual(st["last_close_code"], 1000)
        rec = self.audit_for(rid, "close")
        # the mock ended the TCP connection after the close exchange
        self.assertEqual(rec["reason"], "upstream_closed")
        self.assertGreater(rec["bytes_to_upstream"], 0)
        self.assertGreater(rec["bytes_to_client"], 0)
        self.assertEqual(rec["client"], "anonymous")

    def test_close_frame_and_fin_together(self):
        # the mock answers a close frame with its own and closes at once, so
        # the reply and the FIN often arrive together: the EOF must still be
        # passed on (regression: a short read was taken for "drained")
        for i in range(25):
            c = self.connect()
            c.close(1000)
            frames = c.wait_eof(timeout=3)
            self.assertEqual([op for op, _ in frames], [OP_CLOSE], "round %d" % i)
            c.close_socket()

    def test_server_close_handshake(self):
        rid = "ws-close-server"
        c = self.connect(headers={"X-Request-Id": rid})
        c.send_json({"id": 1, "cmd": "mock_close", "params": {"code": 1001}})
        op, payload = c.recv_frame()
        self.assertEqual(op, OP_CLOSE)
        self.assertEqual(struct.unpack("!H", payload[:2])[0], 1001)
        c.close(1001)
        self.assertEqual(c.wait_eof(timeout=5), [])
        st = wait_for(lambda: (lambda s: s if s["open"] == 0 else None)(self.mock_ws()), 5)
        self.assertEqual(st["server_closes"], 1)
        self.assertEqual(self.audit_for(rid, "close")["reason"], "upstream_closed")

    def test_client_drops_tcp(self):
        rid = "ws-drop-client"
        c = self.connect(headers={"X-Request-Id": rid})
        c.ping(b"1")
        c.recv_frame()
        c.close_socket()
        st = wait_for(lambda: (lambda s: s if s["open"] == 0 else None)(self.mock_ws()), 5)
        self.assertIsNotNone(st, "the upstream session did not end")
        self.assertEqual(st["eof_without_close"], 1)
        self.assertEqual(self.audit_for(rid, "close")["reason"], "client_closed")

    def test_upstream_drops_tcp(self):
        rid = "ws-drop-upstream"
        c = self.connect(headers={"X-Request-Id": rid})
        c.send_json({"id": 1, "cmd": "mock_drop"})
        self.assertEqual(c.wait_eof(timeout=5), [])
        self.assertEqual(self.audit_for(rid, "close")["reason"], "upstream_closed")

    def test_not_an_upgrade(self):
        st, hd, body = self.gw.request("GET", WS_PATH)
        self.assertEqual(st, 400, body)
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_request")
        self.assertEqual(hd.get("x-gateway-rejected"), "1")
        st, _, body = self.gw.request("POST", WS_PATH, {"x": 1},
                                      headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        self.assertEqual(st, 400, body)
        self.assertEqual(self.ws_requests(), [])

    def test_cross_origin_refused(self):
        # a web page in a trader's browser must not reach the relay
        e = self.refused(headers={"Origin": "http://evil.example"})
        self.assertEqual(e.status, 403)
        self.assertEqual(e.json()["error"]["code"], "forbidden")
        self.assertEqual(self.ws_requests(), [])

    def test_query_forwarded_verbatim(self):
        c = self.connect(path=WS_PATH + "?a=1&b=%20x")
        c.ping(b"q")
        self.assertEqual(c.recv_frame(), (OP_PONG, b"q"))
        r = self.ws_requests()[0]
        self.assertEqual(r["query"], "a=1&b=%20x")
        self.assertTrue(r["sig_valid"])

    def test_metrics(self):
        if self.metric("kalshi_gateway_ws_connections") is None:
            self.skipTest("the ws metrics (ws_metrics_text) are not wired into /metrics yet")
        c = self.connect()
        c.send_binary(b"12345")
        c.recv_frame()
        self.assertEqual(wait_for(lambda: self.metric("kalshi_gateway_ws_connections") == 1), True)
        self.assertGreaterEqual(self.metric('kalshi_gateway_ws_bytes_total{direction="to_upstream"}'), 5)
        c.send_json({"id": 1, "cmd": "mock_drop"})
        c.wait_eof()
        self.assertTrue(wait_for(lambda: self.metric('kalshi_gateway_ws_closes_total{reason="upstream_closed"}') == 1))
        self.assertEqual(self.metric("kalshi_gateway_ws_connections"), 0)


class WebSocketClientsTest(WsBase):
    """Identification applies: read_only is enough, unidentified is 401."""

    @classmethod
    def setUpClass(cls):
        WsBase.setUpClass.__func__(cls)
        cls.tokens = {"viewer": "tok-viewer-" + "a" * 20, "bot": "tok-bot-" + "b" * 20}
        cls.config = {"clients": [
            {"name": "viewer", "role": "read_only",
             "token_sha256": hashlib.sha256(cls.tokens["viewer"].encode()).hexdigest()},
            {"name": "bot", "role": "trader",
             "token_sha256": hashlib.sha256(cls.tokens["bot"].encode()).hexdigest()}],
            "ws": {"max_connections": 3, "max_per_client": 2}}

    def auth(self, name):
        return {"Authorization": "Bearer " + self.tokens[name]}

    def test_read_only_allowed_unidentified_refused(self):
        e = self.refused()
        self.assertEqual(e.status, 401)
        self.assertEqual(e.json()["error"]["code"], "unauthorized")
        e = self.refused(headers={"Authorization": "Bearer wrong"})
        self.assertEqual(e.status, 401)
        self.assertEqual(self.ws_requests(), [])
        c = self.connect(headers=dict(self.auth("viewer"), **{"X-Request-Id": "ws-viewer"}))
        self.assertEqual(c.headers["x-gateway-client"], "viewer")
        c.ping(b"v")
        self.assertEqual(c.recv_frame(), (OP_PONG, b"v"))
        h = self.ws_requests()[0]["headers"]
        self.assertNotIn("authorization", h)
        self.assertEqual(self.audit_for("ws-viewer", "open")["client"], "viewer")

    def test_limits(self):
        a1 = self.connect(headers=self.auth("viewer"))
        self.connect(headers=self.auth("viewer"))
        e = self.refused(headers=self.auth("viewer"))
        self.assertEqual(e.status, 429)
        self.assertEqual(e.headers.get("retry-after"), "1")
        self.assertEqual(e.headers.get("x-gateway-rejected"), "1")
        err = e.json()["error"]
        self.assertEqual((err["code"], err["limit"], err["allowed"]), ("rate_limited", "ws.max_per_client", 2))
        self.connect(headers=self.auth("bot"))
        e = self.refused(headers=self.auth("bot"))
        self.assertEqual(e.status, 429)
        self.assertEqual(e.json()["error"]["limit"], "ws.max_connections")
        self.assertEqual(len(self.ws_requests()), 3)   # refusals never reached the upstream
        # a slot comes back when a connection ends
        a1.close(1000)
        a1.wait_eof()

        def again():
            try:
                return self.connect(headers=self.auth("viewer"))
            except Refused:
                return None
        self.assertIsNotNone(wait_for(again, 5))


class WebSocketIdleTest(WsBase):
    config = {"ws": {"idle_timeout_s": 1}}

    def test_idle_connection_closed(self):
        c = self.connect(headers={"X-Request-Id": "ws-idle"})
        t0 = time.time()
        self.assertEqual(c.wait_eof(timeout=5), [])
        self.assertLess(time.time() - t0, 3.5)
        self.assertEqual(self.audit_for("ws-idle", "close")["reason"], "idle_timeout")
        st = wait_for(lambda: (lambda s: s if s["open"] == 0 else None)(self.mock_ws()), 5)
        self.assertEqual(st["eof_without_close"], 1)

    def test_traffic_keeps_it_open(self):
        c = self.connect()
        for i in range(5):
            c.ping(b"%d" % i)
            self.assertEqual(c.recv_frame(), (OP_PONG, b"%d" % i))
            time.sleep(0.5)


class WebSocketRefusalTest(WsBase):
    config = {"upstream": {"timeout_ms": 1500}}

    def test_upstream_refusal_relayed(self):
        body = json.dumps({"error": {"code": "forbidden", "message": "no websocket for you"}})
        self.mock.fault(mode="status", status=403, body=body, path_prefix=WS_PATH, count=1)
        e = self.refused(headers={"X-Request-Id": "ws-refused"})
        self.assertEqual(e.status, 403)
        self.assertEqual(json.loads(e.body), json.loads(body))
        self.assertIsNone(e.headers.get("x-gateway-rejected"))
        rec = self.audit_for("ws-refused", "refused")
        self.assertEqual((rec["reason"], rec["upstream_status"]), ("upstream_status", 403))
        # the next upgrade goes through
        self.connect().ping(b"ok")

    def test_upstream_hang_times_out(self):
        self.mock.fault(mode="hang", delay_ms=10000, path_prefix=WS_PATH, count=1)
        t0 = time.time()
        e = self.refused(timeout=10)
        self.assertEqual(e.status, 504)
        self.assertEqual(e.json()["error"]["code"], "upstream_timeout")
        self.assertLess(time.time() - t0, 5)


class WebSocketBadKeyTest(WsBase):
    gw_keys = "other"

    def test_upstream_401_relayed(self):
        e = self.refused()
        self.assertEqual(e.status, 401)
        err = e.json()["error"]
        self.assertEqual(err["code"], "unauthorized")      # the mock's body, not the gateway's
        self.assertIn("signature", err["message"])
        self.assertIsNone(e.headers.get("x-gateway-rejected"))
        self.assertFalse(self.ws_requests()[0]["sig_valid"])


class WebSocketUnreachableTest(WsBase):
    def test_no_upstream(self):
        port = harness.free_port()
        g = self.start_gw(config={"upstream": {"ws_url": "ws://127.0.0.1:%d/trade-api/ws/v2" % port}},
                          state_dir=os.path.join(self.dir, "var2"))
        self.addCleanup(g.stop)
        with self.assertRaises(Refused) as cm:
            WsClient.connect("127.0.0.1", g.port)
        e = cm.exception
        self.assertEqual(e.status, 502)
        self.assertEqual(e.json()["error"]["code"], "upstream_unavailable")
        self.assertEqual(e.headers.get("x-gateway-rejected"), "1")


class WebSocketTlsTest(WsBase):
    mock_tls = True

    def test_wss_relay(self):
        c = self.connect()
        sid = self.subscribe_stream(c, count=300, rate=0, size=100)
        self.read_stream(c, sid, 300)
        c.ping(b"tls")
        self.assertEqual(c.recv_frame(), (OP_PONG, b"tls"))
        self.assertTrue(self.ws_requests()[0]["sig_valid"])
        c.close(1000)
        frames = c.wait_eof()
        self.assertEqual(frames[-1][0], OP_CLOSE)

    def test_certificate_checked(self):
        # without the test CA the mock's self-signed certificate is refused
        g = Gateway.start(mock=self.mock, keys=self.keys, state_dir=os.path.join(self.dir, "var2"))
        self.addCleanup(g.stop)
        with self.assertRaises(Refused) as cm:
            WsClient.connect("127.0.0.1", g.port)
        e = cm.exception
        self.assertEqual(e.status, 502)
        self.assertIn("certificate", e.json()["error"]["message"])


class WebSocketSlowReaderTest(WsBase):
    def test_slow_reader_bounded_memory(self):
        c = self.connect()
        count, size = 6000, 16384          # 94 MiB in all
        # the baseline comes first: at loopback speed an unbounded relay
        # would take in the whole stream within a fraction of a second
        base = proc_rss_kb(self.gw.proc.pid)
        sid = self.subscribe_stream(c, count=count, rate=0, size=size)
        peak = base
        # the client reads nothing for 3 s while the mock streams as fast as it can
        for _ in range(30):
            time.sleep(0.1)
            peak = max(peak, proc_rss_kb(self.gw.proc.pid))
        sent = self.mock_ws()["messages_sent"]
        print("\nws slow reader: %s" % json.dumps({
            "streamed_mib": count * size // (1 << 20), "sent_while_stalled": sent,
            "gateway_rss_growth_kib": peak - base}))
        # back-pressure reached the mock: it could only send what fits in the
        # socket buffers along the way (a few MiB), not the 94 MiB
        self.assertLess(sent, count * 0.6, "the stream was not held back")
        # bounded: two 64 KiB buffers (a sanitizer build adds its own
        # allocator overhead); unbounded would be tens of MiB
        self.assertLess(peak - base, 24 * 1024, "gateway RSS grew %d KiB" % (peak - base))
        buffered = self.metric("kalshi_gateway_ws_buffered_bytes")
        if buffered is not None:
            self.assertLessEqual(buffered, 2 * 64 * 1024)
        # then everything arrives, in order
        self.read_stream(c, sid, count, timeout=60)


class WebSocketShutdownTest(WsBase):
    def test_stop_closes_relays_and_answers_handshakes(self):
        a = self.connect(headers={"X-Request-Id": "ws-stop-a"})
        b = self.connect()
        a.ping(b"1")
        a.recv_frame()
        self.mock.fault(mode="hang", delay_ms=20000, path_prefix=WS_PATH, count=1)
        result = {}

        def pending():
            try:
                WsClient.connect("127.0.0.1", self.gw.port, timeout=15)
                result["status"] = 101
            except Refused as e:
                result["status"] = e.status
                result["body"] = e.body
            except OSError as e:
                result["error"] = e
        t = threading.Thread(target=pending)
        t.start()
        self.assertTrue(wait_for(lambda: len(self.ws_requests()) == 3, 5))
        t0 = time.time()
        self.gw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(a.wait_eof(timeout=5), [])
        self.assertEqual(b.wait_eof(timeout=5), [])
        t.join(10)
        self.assertEqual(result.get("status"), 503, result)
        self.assertEqual(json.loads(result["body"])["error"]["code"], "shutting_down")
        self.assertEqual(self.gw.proc.wait(10), 0)
        self.assertLess(time.time() - t0, 5)
        self.assertEqual(self.audit_for("ws-stop-a", "close")["reason"], "shutdown")


class WebSocketLoadTest(WsBase):
    """200 relayed connections each receiving 100 messages a second."""
    config = {"ws": {"max_connections": 250, "max_per_client": 250}}
    CONNS = int(os.environ.get("WS_LOAD_CONNS", "200"))
    RATE = int(os.environ.get("WS_LOAD_RATE", "100"))
    SECONDS = int(os.environ.get("WS_LOAD_SECONDS", "3"))

    def test_load_nothing_lost_in_order(self):
        n, rate, secs = self.CONNS, self.RATE, self.SECONDS
        count = rate * secs
        clients = [self.connect(timeout=30) for _ in range(n)]
        cpu0 = proc_cpu_s(self.gw.proc.pid)
        rss0 = proc_rss_kb(self.gw.proc.pid)
        sel = selectors.DefaultSelector()
        t_start = time.time()
        for c in clients:
            c.send_json({"id": 1, "cmd": "subscribe",
                         "params": {"channels": ["mock_stream"], "count": count, "rate": rate, "size": 64}})
            c.t_sub = time.time()
            c.expect = 1
            c.sid = None
            c.lags = []
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ, c)
        done = 0
        rss_peak = rss0
        last_rss = 0
        deadline = time.time() + secs + 60
        while done < n and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                c = key.data
                try:
                    chunk = c.sock.recv(262144)
                except BlockingIOError:
                    continue
                self.assertTrue(chunk, "a relayed connection ended early")
                c.buf += chunk
                while True:
                    f = c.parse_frame()
                    if f is None:
                        break
                    op, payload = f
                    self.assertEqual(op, OP_TEXT)
                    m = json.loads(payload)
                    if m["type"] == "subscribed":
                        c.sid = m["msg"]["sid"]
                        continue
                    self.assertEqual((m["sid"], m["seq"]), (c.sid, c.expect), "lost or out of order")
                    c.lags.append(time.time() - (c.t_sub + (c.expect - 1) / rate))
                    c.expect += 1
                    if c.expect > count:
                        done += 1
                        sel.unregister(c.sock)
            if time.time() - last_rss > 0.5:
                last_rss = time.time()
                rss_peak = max(rss_peak, proc_rss_kb(self.gw.proc.pid))
        elapsed = time.time() - t_start
        self.assertEqual(done, n, "%d of %d connections got all %d messages" % (done, n, count))
        cpu = proc_cpu_s(self.gw.proc.pid) - cpu0
        lags = sorted(l for c in clients for l in c.lags)
        total = n * count
        figures = {
            "connections": n, "rate_per_conn": rate, "seconds": secs, "messages": total,
            "lost": 0, "out_of_order": 0, "elapsed_s": round(elapsed, 2),
            "gateway_cpu_s": round(cpu, 2), "gateway_cpu_pct": round(100 * cpu / elapsed, 1),
            "gateway_rss_kb": [rss0, rss_peak],
            "lag_ms_p50": round(1000 * lags[len(lags) // 2], 1),
            "lag_ms_p99": round(1000 * lags[int(len(lags) * 0.99)], 1),
            "lag_ms_max": round(1000 * lags[-1], 1),
        }
        print("\nws load: " + json.dumps(figures))
        out = os.environ.get("WS_LOAD_REPORT")
        if out:
            with open(out, "w") as f:
                json.dump(figures, f)
        for c in clients:
            c.sock.setblocking(True)


if __name__ == "__main__":
    unittest.main()
