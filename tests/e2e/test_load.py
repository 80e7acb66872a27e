"""Load (issue 8, part 6): GW_LOAD_SECONDS (default 60) at 256 concurrent
keep-alive client connections of mixed traffic through policy and signing.

One selectors loop drives 256 raw sockets (so Python is not the bottleneck
on 2 CPUs): each connection sends one request, reads the whole answer and
sends the next. The mix: V2 order creates with fresh client_order_ids (a
trader bound to session "load", and a second trader sending to session
"side" through X-Gateway-Session), reads (GET markets, balance, orders),
and on one connection a start / reset / end of session "side" about every
half second. Identification with bearer tokens, global and per-client
limits, rate_limit.tier off.

Asserts: every answer is a documented one (orders: 201, or 409 while
"side" is ended or between states, or the exchange's refusal of an order
racing the end of "side"; reads 200; session calls 2xx), no transport
error; the gateway's open file descriptors at the end equal those at one
third of the run within FD_TOLERANCE (upstream connections come and go in
the pool), and its RSS grew by at most RSS_TOLERANCE between the two
samples. orders.dedupe_window_s is 5 s so the dedupe table of
client_order_ids (bounded, expiring) is in its steady state before the
first sample. Prints the figures. Skipped under the sanitizer build.

Run: GW_LOAD_SECONDS=15 python3 tests/e2e/run.py -k Load -v
"""
import errno
import json
import os
import random
import selectors
import shutil
import socket
import tempfile
import time
import unittest
import uuid

import gwharness
import harness
from gwharness import Gateway
from harness import Mock

KEY_ID = "test-key-id"
V2 = "/trade-api/v2"
CREATE_V2 = V2 + "/portfolio/events/orders"
TICKER = "KXMOCK-26DEC31-A"
CONNECTIONS = 256
SECONDS = float(os.environ.get("GW_LOAD_SECONDS", "60"))
# upstream connections are pooled per event loop (threads x
# upstream.max_connections); client connections are constant
FD_TOLERANCE = 16
# RSS may grow by 4 MiB or 5% of the first sample, whichever is more: the
# bounded tables (fill-tracking rings of 4096 orders and 8192 fill ids per
# session, the dedupe hash) are allocated whole but become resident as they
# fill, which takes the first half minute at this rate (measured: +1.4 MB
# between 20 s and 60 s, +0.4 MB between 30 s and 60 s)
RSS_TOLERANCE_KB = 4096
RSS_TOLERANCE_PCT = 5
SESSION_EVERY_S = 0.5
TOKENS = {"admin": "load-admin-" + "a" * 32, "bot": "load-bot-" + "b" * 32,
          "bot2": "load-bot2-" + "c" * 32}

# documented answers: (kind, status, error code or None)
OK = {("order", 201, None), ("order2", 201, None),
      ("order2", 409, "no_active_session"), ("order2", 409, "session_triggered"),
      ("order2", 404, "not_found"), ("order2", 409, "order_group_triggered"),
      ("read", 200, None), ("session", 200, None), ("session", 201, None)}


def order_body():
    return json.dumps({"ticker": TICKER, "side": "bid", "count": "1.00", "price": "0.5600",
                       "time_in_force": "immediate_or_cancel",
                       "self_trade_prevention_type": "taker_at_cross",
                       "client_order_id": str(uuid.uuid4())}).encode()


def request_bytes(method, path, token, body=None, extra=None):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1",
         "Authorization: Bearer " + token]
    if body is not None:
        h += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
    h += extra or []
    return ("\r\n".join(h) + "\r\n\r\n").encode() + (body or b"")


class Conn:
    """One keep-alive client connection and its request in flight."""

    def __init__(self, idx, sock):
        self.idx = idx
        self.sock = sock
        self.out = b""
        self.buf = b""
        self.kind = None
        self.sent_at = 0.0


def parse_answer(buf):
    """Returns (status, body, rest) for a complete answer in buf, else None.
    Content-Length and chunked bodies."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    hdrs = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    pos = end + 4
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        if len(buf) < pos + n:
            return None
        return status, buf[pos:pos + n], buf[pos + n:]
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            le = buf.find(b"\r\n", pos)
            if le < 0:
                return None
            size = int(buf[pos:le].split(b";")[0], 16)
            if len(buf) < le + 2 + size + 2:
                return None
            body += buf[le + 2:le + 2 + size]
            pos = le + 2 + size + 2
            if size == 0:
                return status, body, buf[pos:]
    return status, b"", buf[pos:]  # no body (e.g. 204)


@unittest.skipIf(gwharness.sanitized_build(), "load test: normal build only")
class LoadTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test-load-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.priv, self.pub = harness.gen_keypair(self.tmp)
        self.mock = Mock.start(pubkey=self.pub, key_id=KEY_ID, priv=self.priv)
        self.addCleanup(self.mock.stop)
        files = {}
        for name, tok in TOKENS.items():
            path = os.path.join(self.tmp, name + ".token")
            with open(path, "w") as f:
                f.write(tok + "\n")
            os.chmod(path, 0o600)
            files[name] = path
        cfg = {"rate_limit": {"tier": "off"},
               "admin_token_file": files["admin"],
               "orders": {"dedupe_window_s": 5},
               "limits": {"max_order_contracts": "100", "max_order_cost": "500",
                          "min_price": "0.01", "max_price": "0.99"},
               "clients": [
                   {"name": "bot", "role": "trader", "session": "load",
                    "token_file": files["bot"], "limits": {"max_order_contracts": "10"}},
                   {"name": "bot2", "role": "trader", "token_file": files["bot2"]}]}
        self.gw = Gateway.start(mock=self.mock, keys=(self.priv, self.pub), config=cfg,
                                wait_ready=True)
        self.addCleanup(self._stop_gw)

    def _stop_gw(self):
        rc = self.gw.stop()
        text = self.gw.logs()
        shutil.rmtree(self.gw.dir, ignore_errors=True)
        self.assertEqual(rc, 0, text[-3000:])
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, text)

    def admin(self, path, body):
        st, _, doc = self.gw.json("POST", path, body,
                                  {"Authorization": "Bearer " + TOKENS["admin"]})
        return st, doc

    # --- the driver ---------------------------------------------------------
    def next_request(self, c, rng, now):
        """Chooses and encodes connection c's next request."""
        if c.idx == 0 and now >= self.next_session_call:
            self.next_session_call = now + SESSION_EVERY_S
            op = ("start", "reset", "end")[self.session_step % 3]
            self.session_step += 1
            body = {"name": "side"}
            if op == "start":
                body["contracts_limit"] = 1000000
            return "session", request_bytes("POST", "/session/" + op, TOKENS["admin"],
                                            json.dumps(body).encode())
        r = rng.random()
        if r < 0.45:
            return "order", request_bytes("POST", CREATE_V2, TOKENS["bot"], order_body())
        if r < 0.6:
            return "order2", request_bytes("POST", CREATE_V2, TOKENS["bot2"], order_body(),
                                           ["X-Gateway-Session: side"])
        path = rng.choice((V2 + "/markets?limit=5", V2 + "/portfolio/balance",
                           V2 + "/portfolio/orders?limit=5", V2 + "/markets/" + TICKER))
        return "read", request_bytes("GET", path, TOKENS["bot"])

    def send_next(self, c, rng, now):
        c.kind, c.out = self.next_request(c, rng, now)
        c.sent_at = now
        self.flush(c)

    def flush(self, c):
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            n = 0
        c.out = c.out[n:]
        self.sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0), c)

    def record(self, c, status, body):
        code = None
        if status >= 400:
            try:
                code = json.loads(body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = body[:100]
        key = (c.kind, status, code)
        self.counts[key] = self.counts.get(key, 0) + 1

    def sample(self, label, elapsed):
        pid = self.gw.proc.pid
        s = {"t": round(elapsed, 1), "fds": gwharness.proc_fd_count(pid),
             "rss_kb": gwharness.proc_rss_kb(pid), "served": self.served}
        self.samples[label] = s
        return s

    def test_mixed_load_256_connections(self):
        rng = random.Random(int(os.environ.get("GW_SEED", "0")) or None)
        st, doc = self.admin("/session/start", {"name": "load", "contracts_limit": 1000000})
        self.assertEqual(st, 201, doc)
        self.sel = selectors.DefaultSelector()
        self.counts, self.samples, self.served = {}, {}, 0
        self.next_session_call, self.session_step = 0.0, 0
        transport_errors = []
        conns = []
        for i in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", self.gw.port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            c = Conn(i, s)
            conns.append(c)
            self.sel.register(s, selectors.EVENT_READ, c)
        began = time.time()
        first_at = began + SECONDS / 3
        for c in conns:
            self.send_next(c, rng, began)
        max_latency = 0.0
        self.trace = []
        next_trace = began + 10
        while True:
            now = time.time()
            if first_at and now >= first_at:
                self.sample("first", now - began)
                first_at = None
            if now >= next_trace:
                self.trace.append(self.sample("trace", now - began))
                next_trace += 10
            if now - began >= SECONDS:
                break
            for key, ev in self.sel.select(timeout=0.5):
                c = key.data
                if ev & selectors.EVENT_WRITE and c.out:
                    self.flush(c)
                if not ev & selectors.EVENT_READ:
                    continue
                try:
                    data = c.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    transport_errors.append((c.idx, c.kind, errno.errorcode.get(e.errno, e)))
                    data = b""
                if not data:
                    transport_errors.append((c.idx, c.kind, "closed by the gateway"))
                    self.sel.unregister(c.sock)
                    c.sock.close()
                    continue
                c.buf += data
                got = parse_answer(c.buf)
                if got is None:
                    continue
                status, body, c.buf = got
                t = time.time()
                max_latency = max(max_latency, t - c.sent_at)
                self.served += 1
                self.record(c, status, body)
                self.send_next(c, rng, t)
            # a stalled connection would show up as no answer for a long time
            stalled = [c.idx for c in conns if c.sock.fileno() >= 0 and
                       now - c.sent_at > 20]
            self.assertEqual(stalled, [], "connections without an answer for 20 s")
        last = self.sample("last", time.time() - began)
        elapsed = time.time() - began
        for c in conns:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
        self.sel.close()
        first = self.samples["first"]
        bad = {k: v for k, v in self.counts.items() if k not in OK}
        print("\nload: %d connections, %.0f s: %d requests served (%.0f/s), max latency %.2f s; "
              "fds %d at %.0f s, %d at %.0f s; RSS %.1f MB at %.0f s, %.1f MB at %.0f s"
              % (CONNECTIONS, elapsed, self.served, self.served / elapsed, max_latency,
                 first["fds"], first["t"], last["fds"], last["t"], first["rss_kb"] / 1024.0,
                 first["t"], last["rss_kb"] / 1024.0, last["t"]))
        print("load: answers %s" % dict(sorted(self.counts.items(), key=str)))
        print("load: every 10 s (t, fds, RSS KiB, served): %s"
              % [(x["t"], x["fds"], x["rss_kb"], x["served"]) for x in self.trace])
        self.assertEqual(transport_errors, [], "transport errors")
        self.assertEqual(bad, {}, "undocumented answers")
        for kind in ("order", "order2", "read", "session"):
            self.assertTrue(any(k[0] == kind for k in self.counts), kind)
        self.assertLessEqual(abs(last["fds"] - first["fds"]), FD_TOLERANCE,
                             "fd count %d -> %d" % (first["fds"], last["fds"]))
        allowed = max(RSS_TOLERANCE_KB, first["rss_kb"] * RSS_TOLERANCE_PCT // 100)
        self.assertLessEqual(last["rss_kb"] - first["rss_kb"], allowed,
                             "RSS grew %d KiB -> %d KiB" % (first["rss_kb"], last["rss_kb"]))
        # the gateway is still serving, and both sessions are intact
        st, _, doc = self.gw.json("GET", "/session?name=load",
                                  headers={"Authorization": "Bearer " + TOKENS["admin"]})
        self.assertEqual((st, doc["session"]["status"]), (200, "active"), doc)
        accepted = self.counts.get(("order", 201, None), 0)
        self.assertGreaterEqual(float(doc["session"]["orders_accepted"]), accepted)


if __name__ == "__main__":
    unittest.main()
