"""End-to-end tests of session events and monitoring (issue 10): the group
watch (a trigger, reset or deletion made on the exchange side, not through
the gateway, is seen within 2 s), GET /session/events (Server-Sent Events,
?name= filter, Last-Event-ID resume, heartbeat, many listeners), webhooks
(retries; a hanging receiver delays nothing) and recovery on policy
(session.on_trigger: stay, reset_after, new_group, capped by
max_auto_resets).

Every test starts its own mock exchange and gateway and checks the mock's
state and what it received, not only the gateway's answers. The SSE client
below reads the stream on a raw socket (chunked encoding decoded by hand) so
nothing buffers events on the way.

Run: python3 tests/e2e/run.py -k Event -v
"""
import hashlib
import http.server
import json
import os
import queue
import shutil
import socket
import statistics
import tempfile
import threading
import time
import unittest

import harness
from gwharness import Gateway
from harness import Mock

KEY_ID = "test-key-id"
V2 = "/trade-api/v2"
GROUPS = V2 + "/portfolio/order_groups"
CREATE_V2 = V2 + "/portfolio/events/orders"
TICKER = "KXMOCK-26DEC31-A"


def v2_order(count="1.00", tif="immediate_or_cancel", price="0.5600"):
    return {"ticker": TICKER, "side": "bid", "count": count, "price": price,
            "time_in_force": tif, "self_trade_prevention_type": "taker_at_cross"}


class SSE:
    """One GET /session/events stream. A reader thread decodes the chunked
    body and splits it into SSE blocks; events (dicts with id, event, data)
    and comments ({"comment": text}) arrive on a queue."""

    def __init__(self, port, path="/session/events", headers=None, timeout=10):
        self.q = queue.Queue()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
                 "Accept: text/event-stream"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.f = self.sock.makefile("rb")
        status = self.f.readline().decode()
        self.status = int(status.split()[1])
        self.headers = {}
        while True:
            line = self.f.readline().decode()
            if line in ("\r\n", "\n", ""):
                break
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.ended = threading.Event()
        self.body = b""
        if self.status == 200:
            self.sock.settimeout(None)
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()
        else:
            n = int(self.headers.get("content-length", "0"))
            self.body = self.f.read(n)
            self.close()

    def _chunks(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = self.f.readline()
                if not size:
                    return
                n = int(size.strip().split(b";")[0], 16)
                if n == 0:
                    return
                data = self.f.read(n)
                self.f.readline()
                yield data
        else:
            while True:
                data = self.f.read1(65536)
                if not data:
                    return
                yield data

    def _run(self):
        buf = ""
        try:
            for data in self._chunks():
                buf += data.decode()
                while "\n\n" in buf:
                    block, buf = buf.split("\n\n", 1)
                    ev, comments = {}, []
                    for line in block.split("\n"):
                        if line.startswith(":"):
                            comments.append(line[1:].strip())
                            continue
                        k, _, v = line.partition(":")
                        v = v[1:] if v.startswith(" ") else v
                        if k == "data":
                            ev["data"] = ev["data"] + "\n" + v if "data" in ev else v
                        else:
                            ev[k] = v
                    for c in comments:
                        self.q.put({"comment": c})
                    if "data" in ev:
                        ev["json"] = json.loads(ev["data"])
                        self.q.put(ev)
        except (OSError, ValueError):
            pass
        finally:
            self.ended.set()
            self.q.put(None)

    def next(self, timeout=5.0, comments=False):
        """The next event (or comment when comments=True); fails on timeout
        or end of stream."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no event within %.1fs" % timeout)
            try:
                item = self.q.get(timeout=left)
            except queue.Empty:
                raise AssertionError("no event within %.1fs" % timeout)
            if item is None:
                self.q.put(None)
                raise AssertionError("the stream ended")
            if "comment" in item and not comments:
                continue
            return item

    def until(self, event, timeout=5.0):
        """Skips to the next event of this type; returns it."""
        deadline = time.time() + timeout
        while True:
            ev = self.next(max(0.05, deadline - time.time()))
            if ev.get("event") == event:
                return ev

    def drain(self, wait=0.3):
        """Events that arrive within `wait` seconds."""
        out = []
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                item = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if item is None:
                self.q.put(None)
                break
            if "comment" not in item:
                out.append(item)
        return out

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Hook:
    """A webhook receiver on loopback: records POSTs; mode "ok" answers 200,
    "flaky" answers 500 to the first `fail` attempts, "hang" accepts and never
    answers."""

    def __init__(self, mode="ok", fail=0):
        self.mode, self.fail = mode, fail
        self.posts, self.attempts, self.connections = [], 0, 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        if mode == "hang":
            self.lsock = socket.socket()
            self.lsock.bind(("127.0.0.1", 0))
            self.lsock.listen(64)
            self.port = self.lsock.getsockname()[1]
            self.held = []
            self.t = threading.Thread(target=self._hang, daemon=True)
        else:
            hook = self

            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    with hook.lock:
                        hook.attempts += 1
                        failing = hook.mode == "flaky" and hook.attempts <= hook.fail
                        if not failing:
                            hook.posts.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                               "json": json.loads(body)})
                    self.send_response(500 if failing else 200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

                def log_message(self, *a):
                    pass

            self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            self.port = self.srv.server_address[1]
            self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.t.start()

    def _hang(self):
        self.lsock.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            with self.lock:
                self.connections += 1
            self.held.append(c)

    def stop(self):
        self.stop_ev.set()
        if self.mode == "hang":
            self.t.join(2)
            for c in self.held:
                c.close()
            self.lsock.close()
        else:
            self.srv.shutdown()
            self.srv.server_close()


class EventsBase(unittest.TestCase):
    gw_config = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test-events-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.priv, self.pub = harness.gen_keypair(self.tmp)
        self.mock = Mock.start(pubkey=self.pub, key_id=KEY_ID, priv=self.priv)
        self.addCleanup(self._stop_mock)
        self.state_dir = os.path.join(self.tmp, "var")
        self.streams = []
        self.gw = None

    def _stop_mock(self):
        try:
            bad = [(r["method"], r["path"]) for r in self.mock.requests(watch=True)
                   if not r["sig_valid"]]
        finally:
            self.mock.stop()
        self.assertEqual(bad, [], "requests with an invalid signature reached the mock")

    def start_gw(self, config=None):
        cfg = {"rate_limit": {"tier": "off"}}
        for part in (self.gw_config or {}), (config or {}):
            for k, v in part.items():
                if isinstance(v, dict):
                    cfg.setdefault(k, {}).update(v)
                else:
                    cfg[k] = v
        g = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), config=cfg,
                          state_dir=self.state_dir)
        self.addCleanup(self._stop_gw, g)
        g.wait_ready(timeout=15)
        self.gw = g
        return g

    def _stop_gw(self, g):
        for s in self.streams:
            s.close()
        t0 = time.time()
        rc = g.stop()
        logs = g.logs()
        self.assertEqual(rc, 0, "gateway exit code %s: %s" % (rc, logs[-3000:]))
        self.assertLess(time.time() - t0, 10, "the gateway took too long to stop")
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, logs, "sanitizer report in the gateway log:\n" + logs[-6000:])

    def sse(self, path="/session/events", headers=None, greet=True):
        s = SSE(self.gw.port, path, headers)
        self.streams.append(s)
        if greet and s.status == 200:
            self.assertEqual(s.next(5, comments=True)["comment"], "kalshi-gateway session events")
        return s

    def call(self, method, path, body=None, headers=None):
        return self.gw.json(method, path, body, headers)

    def start_session(self, **body):
        body.setdefault("contracts_limit", 50)
        st, _, doc = self.call("POST", "/session/start", body)
        self.assertEqual(st, 201, doc)
        return doc["session"]

    def sessions(self):
        st, _, doc = self.call("GET", "/sessions")
        self.assertEqual(st, 200, doc)
        return {s["name"]: s for s in doc["sessions"] if s["status"] != "ended"}

    def group(self, gid):
        for g in self.mock.state()["order_groups"]:
            if g["id"] == gid:
                return g
        return None

    def mock_reqs(self, method, path):
        return [r for r in self.mock.requests(watch=True)
                if r["method"] == method and r["path"] == path]

    def creates(self):
        return [r for r in self.mock.requests() if r["method"] == "POST" and r["path"] == CREATE_V2]


class EventStreamTest(EventsBase):

    def test_exchange_side_changes_on_stream_and_sessions(self):
        """Triggered, reset and deleted on the exchange side (not through the
        gateway): each appears on the stream and in GET /sessions within 2 s,
        with no order sent; persisted."""
        self.start_gw()
        s = self.sse()
        self.assertEqual(s.headers["content-type"], "text/event-stream")
        self.assertEqual(s.headers.get("cache-control"), "no-cache")
        sess = self.start_session()
        gid = sess["order_group_id"]
        ev = s.next()
        self.assertEqual(ev["event"], "session_started")
        self.assertEqual(ev["json"]["order_group_id"], gid)
        self.assertEqual(ev["json"]["status"], "active")
        first_id = int(ev["id"])

        t0 = time.time()
        self.mock.trigger_group(gid)
        ev = s.until("session_triggered", timeout=2.0)
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual((ev["json"]["status"], ev["json"]["status_reason"]), ("triggered", "external"))
        self.assertEqual(ev["json"]["name"], "default")
        self.assertGreater(int(ev["id"]), first_id)
        cur = self.sessions()["default"]
        self.assertEqual((cur["status"], cur["status_reason"]), ("triggered", "external"))
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual(self.creates(), [], "an order was sent")
        with open(os.path.join(self.state_dir, "sessions.json")) as f:
            self.assertEqual(json.load(f)["sessions"][0]["status"], "triggered")

        t0 = time.time()
        self.mock.signed_json("PUT", GROUPS + "/%s/reset" % gid, {}, expect=200)
        ev = s.until("session_reset", timeout=2.0)
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual((ev["json"]["status"], ev["json"]["status_reason"]), ("active", None))
        self.assertEqual(self.sessions()["default"]["status"], "active")

        t0 = time.time()
        self.mock.signed_json("DELETE", GROUPS + "/" + gid, None, expect=200)
        ev = s.until("session_ended", timeout=2.0)
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual((ev["json"]["status"], ev["json"]["status_reason"]), ("ended", "group_missing"))
        self.assertEqual(self.sessions(), {})
        self.assertEqual(self.creates(), [])
        # every event went to the audit log too, with the same ids
        ids = []
        deadline = time.time() + 3
        while time.time() < deadline:
            with open(os.path.join(self.state_dir, "audit.jsonl")) as f:
                recs = [json.loads(x) for x in f if x.strip()]
            ids = [(r["event"], r["event_id"]) for r in recs if r.get("type") == "session"]
            if len(ids) >= 4:
                break
            time.sleep(0.1)
        self.assertEqual([e for e, _ in ids], ["session_started", "session_triggered",
                                               "session_reset", "session_ended"])
        self.assertEqual(ids[0][1], first_id)
        self.assertEqual(sorted(i for _, i in ids), [i for _, i in ids])

    def test_every_transition_kind_and_ids(self):
        self.start_gw()
        s = self.sse()
        self.start_session(contracts_limit=10)
        st, _, doc = self.call("PUT", "/session/limit", {"contracts_limit": 12})
        self.assertEqual(st, 200, doc)
        self.call("POST", "/session/halt", {})
        self.call("POST", "/session/reset", {})
        self.call("POST", "/session/end", {})
        evs = [s.next() for _ in range(5)]
        self.assertEqual([e["event"] for e in evs],
                         ["session_started", "session_limit_updated", "session_triggered",
                          "session_reset", "session_ended"])
        ids = [int(e["id"]) for e in evs]
        self.assertEqual(ids, list(range(ids[0], ids[0] + 5)))
        self.assertEqual(evs[1]["json"]["contracts_limit"], 12)
        self.assertEqual(evs[2]["json"]["status_reason"], "halted")
        self.assertEqual(evs[4]["json"]["status"], "ended")
        for e in evs:
            self.assertIn("auto_resets", e["json"])
            self.assertEqual(e["json"]["previous_group_ids"], [])

    def test_last_event_id_resume(self):
        self.start_gw()
        s = self.sse()
        self.start_session(name="r", contracts_limit=10)
        for limit in (11, 12, 13):
            st, _, doc = self.call("PUT", "/session/limit", {"name": "r", "contracts_limit": limit})
            self.assertEqual(st, 200, doc)
        evs = [s.next() for _ in range(4)]
        ids = [e["id"] for e in evs]
        s.close()
        # resume after the second: the third and fourth, same ids and data
        r = self.sse(headers={"Last-Event-ID": ids[1]})
        got = [r.next() for _ in range(2)]
        self.assertEqual([g["id"] for g in got], ids[2:])
        self.assertEqual([g["data"] for g in got], [e["data"] for e in evs[2:]])
        self.assertEqual(r.drain(0.3), [])
        # then live events continue on the resumed stream
        self.call("PUT", "/session/limit", {"name": "r", "contracts_limit": 14})
        ev = r.next()
        self.assertEqual((ev["event"], int(ev["id"])), ("session_limit_updated", int(ids[3]) + 1))
        # the query form, for clients that cannot set headers
        q = self.sse("/session/events?last_event_id=" + ids[2])
        self.assertEqual([q.next()["id"] for _ in range(2)], [ids[3], str(int(ids[3]) + 1)])
        # an id older than the history replays all of it; the newest id nothing
        a = self.sse(headers={"Last-Event-ID": "0"})
        self.assertEqual([a.next()["id"] for _ in range(5)], ids + [str(int(ids[3]) + 1)])
        n = self.sse(headers={"Last-Event-ID": str(int(ids[3]) + 1)})
        self.assertEqual(n.drain(0.3), [])
        # a malformed id is ignored: live events only
        m = self.sse(headers={"Last-Event-ID": "abc"})
        self.assertEqual(m.drain(0.3), [])

    def test_name_filter(self):
        self.start_gw()
        only_a = self.sse("/session/events?name=a")
        both = self.sse()
        self.start_session(name="b", contracts_limit=5)
        self.start_session(name="a", contracts_limit=5)
        self.call("POST", "/session/halt", {"name": "b"})
        self.call("POST", "/session/halt", {"name": "a"})
        ev = only_a.next()
        self.assertEqual((ev["event"], ev["json"]["name"]), ("session_started", "a"))
        ev = only_a.next()
        self.assertEqual((ev["event"], ev["json"]["name"]), ("session_triggered", "a"))
        self.assertEqual(only_a.drain(0.3), [])
        names = [(e["event"], e["json"]["name"]) for e in (both.next() for _ in range(4))]
        self.assertEqual(names, [("session_started", "b"), ("session_started", "a"),
                                 ("session_triggered", "b"), ("session_triggered", "a")])
        bad = SSE(self.gw.port, "/session/events?name=a%20b")
        self.assertEqual(bad.status, 400)
        self.assertEqual(json.loads(bad.body)["error"]["code"], "invalid_request")

    def test_heartbeat_comment(self):
        self.start_gw()
        s = self.sse()
        t0 = time.time()
        c = s.next(timeout=18, comments=True)
        self.assertEqual(c, {"comment": "heartbeat"})
        self.assertGreater(time.time() - t0, 10)

    def test_shutdown_ends_streams(self):
        self.start_gw()
        streams = [self.sse() for _ in range(5)]
        self.start_session(contracts_limit=5)
        for s in streams:
            self.assertEqual(s.next()["event"], "session_started")
        t0 = time.time()
        self.assertEqual(self.gw.stop(), 0)
        self.assertLess(time.time() - t0, 5)
        for s in streams:
            self.assertTrue(s.ended.wait(2))


class EventRolesTest(EventsBase):

    def test_open_to_every_identified_client(self):
        tokens = {"ro": "ro-token-0123456789", "tr": "tr-token-0123456789"}
        admin_file = os.path.join(self.tmp, "admin.token")
        with open(admin_file, "w") as f:
            f.write("admin-token-0123456789\n")
        os.chmod(admin_file, 0o600)
        self.start_gw({"admin_token_file": admin_file, "clients": [
            {"name": "ro", "role": "read_only",
             "token_sha256": hashlib.sha256(tokens["ro"].encode()).hexdigest()},
            {"name": "tr", "role": "trader",
             "token_sha256": hashlib.sha256(tokens["tr"].encode()).hexdigest()}]})
        ro = self.sse(headers={"Authorization": "Bearer " + tokens["ro"]})
        tr = self.sse(headers={"Authorization": "Bearer " + tokens["tr"]})
        self.assertEqual(ro.status, 200)
        none = SSE(self.gw.port)
        self.assertEqual(none.status, 401)
        st, _, doc = self.call("POST", "/session/start", {"contracts_limit": 5},
                               {"Authorization": "Bearer admin-token-0123456789"})
        self.assertEqual(st, 201, doc)
        self.assertEqual(ro.next()["event"], "session_started")
        self.assertEqual(tr.next()["event"], "session_started")


class EventLoadTest(EventsBase):

    def order_latencies(self, n):
        out = []
        for _ in range(n):
            t0 = time.time()
            st, _, doc = self.call("POST", CREATE_V2, v2_order())
            out.append(time.time() - t0)
            self.assertEqual(st, 201, doc)
        return out

    def test_100_listeners_do_not_slow_orders(self):
        self.start_gw({"server": {"threads": 2}})
        self.start_session(contracts_limit=1000000)
        self.order_latencies(10)  # warm up connections
        base = statistics.median(self.order_latencies(60))
        streams = [self.sse() for _ in range(100)]
        with_listeners = statistics.median(self.order_latencies(60))
        self.assertLess(with_listeners, max(3 * base, base + 0.02),
                        "median order latency %.2f ms with 100 listeners, %.2f ms without"
                        % (with_listeners * 1000, base * 1000))
        # events reach all of them, and orders stay quick while they go out
        st, _, doc = self.call("PUT", "/session/limit", {"contracts_limit": 999999})
        self.assertEqual(st, 200, doc)
        during = statistics.median(self.order_latencies(20))
        self.assertLess(during, max(3 * base, base + 0.02))
        for s in streams:
            ev = s.until("session_limit_updated", timeout=5)
            self.assertEqual(ev["json"]["contracts_limit"], 999999)
        st, _, text = self.gw.request("GET", "/metrics")
        self.assertIn("kalshi_gateway_event_listeners 100\n", text.decode())


class EventWebhookTest(EventsBase):

    def test_webhook_receives_events_with_retries(self):
        ok, flaky = Hook(), Hook("flaky", fail=2)
        self.addCleanup(ok.stop)
        self.addCleanup(flaky.stop)
        self.start_gw({"events": {"webhooks": [ok.url, flaky.url]}})
        s = self.sse()
        self.start_session(contracts_limit=10)
        self.call("POST", "/session/halt", {})
        self.call("POST", "/session/reset", {})
        self.call("POST", "/session/end", {})
        sse_evs = [s.next() for _ in range(4)]
        deadline = time.time() + 10
        while time.time() < deadline and (len(ok.posts) < 4 or len(flaky.posts) < 4):
            time.sleep(0.1)
        for hook in (ok, flaky):
            got = [(p["json"]["id"], p["json"]["event"]) for p in hook.posts]
            self.assertEqual(got, [(int(e["id"]), e["event"]) for e in sse_evs])
            for p, e in zip(hook.posts, sse_evs):
                self.assertEqual(p["json"]["session"], e["json"])
                self.assertEqual(p["headers"]["content-type"], "application/json")
                self.assertEqual(p["headers"]["x-gateway-event"], e["event"])
                self.assertEqual(p["headers"]["x-gateway-event-id"], e["id"])
        self.assertEqual(ok.attempts, 4)
        self.assertEqual(flaky.attempts, 6)  # two refused, then retried in order
        st, _, text = self.gw.request("GET", "/metrics")
        text = text.decode()
        self.assertIn('kalshi_gateway_webhook_deliveries_total{outcome="delivered"} 8', text)

    def test_hanging_webhook_does_not_delay_orders(self):
        hang = Hook("hang")
        self.addCleanup(hang.stop)
        self.start_gw({"events": {"webhooks": [hang.url]}})
        self.start_session(contracts_limit=1000000)
        slow = []
        for i in range(30):
            for method, path, body in (("POST", CREATE_V2, v2_order()),
                                       ("PUT", "/session/limit", {"contracts_limit": 1000000 - i})):
                t0 = time.time()
                st, _, doc = self.call(method, path, body)
                dt = time.time() - t0
                self.assertIn(st, (200, 201), doc)
                if dt > 0.5:
                    slow.append((method, path, dt))
        self.assertEqual(slow, [], "requests delayed while the webhook hangs")
        self.assertGreaterEqual(hang.connections, 1)
        self.assertEqual(len(self.creates()), 30)


class EventPolicyTest(EventsBase):
    """session.on_trigger. A trigger is explained by the gateway's own fill
    tracking (limit_window) when an IOC order fills more than the group's
    contracts limit: the mock exchange triggers the group, the gateway's
    group watch sees it."""

    def trip(self, s):
        """Fills past the limit (6 > 5) and returns the session_triggered event."""
        st, _, doc = self.call("POST", CREATE_V2, v2_order(count="6.00"))
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["fill_count"], "6.00")
        ev = s.until("session_triggered", timeout=3)
        self.assertEqual(ev["json"]["status_reason"], "limit_window")
        return ev

    def test_stay_is_the_default(self):
        self.start_gw()
        s = self.sse()
        sess = self.start_session(contracts_limit=5)
        self.trip(s)
        time.sleep(1.5)
        self.assertEqual(s.drain(0.2), [])
        cur = self.sessions()["default"]
        self.assertEqual((cur["status"], cur["status_reason"]), ("triggered", "limit_window"))
        self.assertEqual(self.mock_reqs("PUT", GROUPS + "/%s/reset" % sess["order_group_id"]), [])

    def test_reset_after_cooldown_and_cap(self):
        self.start_gw()
        s = self.sse()
        sess = self.start_session(contracts_limit=5, on_trigger="reset_after", cooldown_s=1,
                                  max_auto_resets=1)
        gid = sess["order_group_id"]
        trig = self.trip(s)
        t0 = time.time()
        ev = s.until("session_reset", timeout=4)
        self.assertGreaterEqual(time.time() - t0, 0.7)  # the cooldown
        self.assertEqual((ev["json"]["status"], ev["json"]["auto_resets"]), ("active", 1))
        self.assertEqual(ev["json"]["order_group_id"], gid)
        self.assertGreater(int(ev["id"]), int(trig["id"]))
        self.assertEqual(len(self.mock_reqs("PUT", GROUPS + "/%s/reset" % gid)), 1)
        self.assertFalse(self.group(gid)["triggered"])
        # counters are kept across an automatic reset
        self.assertEqual(ev["json"]["contracts_filled"], "6.00")
        st, _, doc = self.call("POST", CREATE_V2, v2_order(count="2.00"))
        self.assertEqual(st, 201, doc)
        # the cap: a second window trigger stays
        self.trip(s)
        time.sleep(2.5)
        self.assertEqual([e["event"] for e in s.drain(0.2)], [])
        self.assertEqual(self.sessions()["default"]["status"], "triggered")
        self.assertEqual(len(self.mock_reqs("PUT", GROUPS + "/%s/reset" % gid)), 1)
        self.assertTrue(self.group(gid)["triggered"])

    def test_new_group_from_config(self):
        self.start_gw({"session": {"on_trigger": "new_group", "max_auto_resets": 1}})
        s = self.sse()
        sess = self.start_session(contracts_limit=5, subaccount=3)
        old = sess["order_group_id"]
        self.trip(s)
        ev = s.until("session_reset", timeout=3)
        new = ev["json"]["order_group_id"]
        self.assertNotEqual(new, old)
        self.assertEqual(ev["json"]["previous_group_ids"], [old])
        self.assertEqual((ev["json"]["status"], ev["json"]["auto_resets"]), ("active", 1))
        g = self.group(new)
        self.assertEqual((g["contracts_limit"], g["subaccount"], g["triggered"]), (5, 3, False))
        self.assertTrue(self.group(old)["triggered"], "the old group is kept")
        st, _, doc = self.call("POST", CREATE_V2, v2_order(count="2.00"))
        self.assertEqual(st, 201, doc)
        self.assertEqual(json.loads(self.creates()[-1]["body"])["order_group_id"], new)
        with open(os.path.join(self.state_dir, "sessions.json")) as f:
            st8 = json.load(f)
        self.assertEqual(st8["sessions"][0]["order_group_id"], new)
        self.assertEqual(st8["sessions"][0]["previous_group_ids"], [old])
        self.assertEqual(st8["intents"], [])
        # the old group is no longer the session's: orders name the new one
        # and a restart keeps the switch
        self.gw.stop()
        self.start_gw({"session": {"on_trigger": "new_group", "max_auto_resets": 1}})
        cur = self.sessions()["default"]
        self.assertEqual((cur["order_group_id"], cur["previous_group_ids"], cur["auto_resets"]),
                         (new, [old], 1))
        # the cap: the next window trigger stays (the fills window starts afresh)
        s = self.sse()
        self.trip(s)
        time.sleep(2)
        self.assertEqual(s.drain(0.2), [])
        self.assertEqual(self.sessions()["default"]["order_group_id"], new)
        self.assertEqual(len([g for g in self.mock.state()["order_groups"]]), 2)

    def test_external_trigger_halt_and_filled_cap_never_recover(self):
        self.start_gw({"session": {"on_trigger": "reset_after", "cooldown_s": 0,
                                   "max_auto_resets": 5}})
        s = self.sse()
        a = self.start_session(name="ext", contracts_limit=5)
        b = self.start_session(name="halt", contracts_limit=5)
        c = self.start_session(name="cap", contracts_limit=1000, max_session_filled_contracts="2")
        self.mock.trigger_group(a["order_group_id"])
        self.call("POST", "/session/halt", {"name": "halt"})
        st, _, doc = self.call("POST", CREATE_V2, v2_order(count="2.00"),
                               {"X-Gateway-Session": "cap"})
        self.assertEqual(st, 201, doc)
        reasons = {}
        deadline = time.time() + 6
        while len(reasons) < 3 and time.time() < deadline:
            ev = s.until("session_triggered", timeout=max(0.1, deadline - time.time()))
            reasons[ev["json"]["name"]] = ev["json"]["status_reason"]
        self.assertEqual(reasons, {"ext": "external", "halt": "halted", "cap": "filled_cap"})
        time.sleep(2.5)
        self.assertEqual([e["event"] for e in s.drain(0.2)], [])
        cur = self.sessions()
        self.assertEqual({n: cur[n]["status"] for n in cur},
                         {"ext": "triggered", "halt": "triggered", "cap": "triggered"})
        for x in (a, b, c):
            self.assertEqual(self.mock_reqs("PUT", GROUPS + "/%s/reset" % x["order_group_id"]), [])


if __name__ == "__main__":
    unittest.main()
