"""End-to-end tests of the core pass-through: the real gateway binary in front
of the mock exchange, both on loopback, driven over HTTP.

Each test asserts on what the mock exchange received (method, raw path, query,
headers, body, and whether the signature verified with the team's public key),
not only on what the gateway answered.
"""
import json
import os
import signal
import socket
import tempfile
import threading
import time
import unittest

import harness
import gwharness
from gwharness import Gateway


BACKGROUND = {"/trade-api/v2/exchange/status", "/trade-api/v2/account/limits",
              "/trade-api/v2/account/endpoint_costs",
              "/trade-api/v2/portfolio/balance"}


def find(reqs, method, path):
    return [r for r in reqs if r["method"] == method and r["path"] == path]


def foreground(reqs):
    """What the mock received besides the gateway's own background calls
    (readiness probe, key check, account limits)."""
    return [r for r in reqs if r["path"] not in BACKGROUND]


class ProxyBase(unittest.TestCase):
    config = None
    mock_args = ()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-proxy-")
        self.keys = harness.gen_keypair(self.dir)
        self.mock = harness.Mock.start(pubkey=self.keys[1], key_id="test-key-id",
                                       extra_args=self.mock_args, priv=self.keys[0])
        self.addCleanup(self.mock.stop)
        self.gw = Gateway.start(mock=self.mock, keys=self.keys, config=self.config)
        self.addCleanup(self.stop_gw)

    def stop_gw(self):
        rc = self.gw.stop()
        logs = self.gw.logs()
        self.assertNotIn("AddressSanitizer", logs)
        self.assertNotIn("runtime error", logs)
        self.assertNotIn("LeakSanitizer", logs)
        self.assertEqual(rc, 0, logs[-2000:])


class ProxyPassThroughTest(ProxyBase):
    def test_get_is_signed_and_query_forwarded_unsigned(self):
        st, hd, body = self.gw.request("GET", "/trade-api/v2/markets?limit=2&status=open&x=%20y")
        self.assertEqual(st, 200, body)
        self.assertIn("application/json", hd.get("content-type", ""))
        got = find(self.mock.requests(), "GET", "/trade-api/v2/markets")
        self.assertEqual(len(got), 1)
        r = got[0]
        self.assertEqual(r["query"], "limit=2&status=open&x=%20y")
        # the mock verifies over the path alone: a signed query would fail
        self.assertTrue(r["sig_valid"])
        self.assertEqual(r["headers"]["kalshi-access-key"], "test-key-id")
        ts = int(r["headers"]["kalshi-access-timestamp"])
        self.assertLess(abs(ts - harness.now_ms()), 5000)
        self.assertTrue(harness.verify(self.keys[1], ts, "GET", "/trade-api/v2/markets",
                                       r["headers"]["kalshi-access-signature"]))
        self.assertFalse(harness.verify(self.keys[1], ts, "GET",
                                        "/trade-api/v2/markets?limit=2&status=open&x=%20y",
                                        r["headers"]["kalshi-access-signature"]))
        # the relayed body is the mock's, byte for byte
        st2, _, direct = self.mock.signed("GET", "/trade-api/v2/markets?limit=2&status=open&x=%20y")
        self.assertEqual(json.loads(body), json.loads(direct))

    def test_signed_endpoints_and_request_id(self):
        st, hd, body = self.gw.request("GET", "/trade-api/v2/portfolio/balance",
                                       headers={"X-Request-Id": "bot-42.a"})
        self.assertEqual(st, 200, body)
        self.assertEqual(hd.get("x-request-id"), "bot-42.a")
        self.assertEqual(hd.get("x-gateway-client"), "anonymous")
        self.assertIn("balance", json.loads(body))
        st, hd, _ = self.gw.request("GET", "/trade-api/v2/exchange/status")
        self.assertEqual(st, 200)
        self.assertTrue(len(hd.get("x-request-id", "")) >= 16)

    def test_post_body_passes_through(self):
        body = {"contracts_limit": 7}
        st, _, raw = self.gw.request("POST", "/trade-api/v2/portfolio/order_groups/create", body)
        self.assertEqual(st, 201, raw)
        got = find(self.mock.requests(), "POST", "/trade-api/v2/portfolio/order_groups/create")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0]["sig_valid"])
        self.assertEqual(json.loads(got[0]["body"]), body)
        self.assertIn("order_group_id", json.loads(raw))

    def test_delete_with_body_passes_through(self):
        body = {"orders": [{"order_id": "no-such-order"}]}
        st, _, raw = self.gw.request("DELETE", "/trade-api/v2/portfolio/events/orders/batched", body)
        got = find(self.mock.requests(), "DELETE", "/trade-api/v2/portfolio/events/orders/batched")
        self.assertEqual(len(got), 1, raw)
        self.assertTrue(got[0]["sig_valid"])
        self.assertEqual(json.loads(got[0]["body"]), body)
        self.assertEqual(got[0]["headers"].get("content-type"), "application/json")

    def test_client_credentials_and_hop_by_hop_headers_dropped(self):
        st, _, raw = self.gw.request("GET", "/trade-api/v2/portfolio/positions", headers={
            "KALSHI-ACCESS-KEY": "the-bots-own-key",
            "KALSHI-ACCESS-SIGNATURE": "bm90IGEgc2lnbmF0dXJl",
            "KALSHI-ACCESS-TIMESTAMP": "1",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "must-not-pass",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Bot-Name": "alpha",
        })
        self.assertEqual(st, 200, raw)
        r = find(self.mock.requests(), "GET", "/trade-api/v2/portfolio/positions")[-1]
        h = r["headers"]
        self.assertTrue(r["sig_valid"])
        self.assertEqual(h["kalshi-access-key"], "test-key-id")
        self.assertNotEqual(h["kalshi-access-timestamp"], "1")
        for name in ("x-secret-hop", "te", "proxy-authorization", "authorization"):
            self.assertNotIn(name, h)
        self.assertEqual(h.get("x-bot-name"), "alpha")

    def test_upstream_errors_relayed_unchanged(self):
        st, hd, raw = self.gw.request("GET", "/trade-api/v2/portfolio/orders/does-not-exist")
        st2, _, raw2 = self.mock.signed("GET", "/trade-api/v2/portfolio/orders/does-not-exist")
        self.assertEqual(st, st2)
        self.assertEqual(raw, raw2)
        self.assertNotIn("x-gateway-rejected", hd)
        self.mock.fault(mode="status", status=503, count=1,
                        body='{"error":{"code":"service_unavailable","message":"down"}}')
        st, hd, raw = self.gw.request("POST", "/trade-api/v2/portfolio/order_groups/create",
                                      {"contracts_limit": 3})
        self.assertEqual(st, 503)
        self.assertEqual(json.loads(raw)["error"]["code"], "service_unavailable")
        self.assertEqual(hd.get("x-gateway-outcome"), "unknown")
        self.assertNotIn("x-gateway-rejected", hd)
        # a read that drew a 429 is retried once the budget allows
        self.mock.clear()
        self.mock.fault(mode="status", status=429, count=1, path_prefix="/trade-api/v2/markets")
        st, hd, raw = self.gw.request("GET", "/trade-api/v2/markets")
        self.assertEqual(st, 200, raw)
        self.assertEqual(len(find(self.mock.requests(), "GET", "/trade-api/v2/markets")), 2)
        # a 429 that persists is relayed as Kalshi sent it after 3 attempts
        self.mock.clear()
        self.mock.fault(mode="status", status=429, path_prefix="/trade-api/v2/markets")
        st, hd, raw = self.gw.request("GET", "/trade-api/v2/markets")
        self.mock.clear_fault()
        self.assertEqual(st, 429)
        self.assertEqual(json.loads(raw), {"error": "too many requests"})
        self.assertEqual(len(find(self.mock.requests(), "GET", "/trade-api/v2/markets")), 3)


class ProxyRulesTest(ProxyBase):
    def assert_gateway_error(self, st, hd, raw, status, code):
        self.assertEqual(st, status, raw)
        self.assertEqual(hd.get("x-gateway-rejected"), "1")
        self.assertIn("application/json", hd.get("content-type", ""))
        err = json.loads(raw)["error"]
        self.assertEqual(err["code"], code)
        self.assertTrue(err["message"])

    def test_path_tricks_refused_and_never_forwarded(self):
        self.mock.clear()
        for path in ("/trade-api/v2/../session/end", "/trade-api/v2/%2e%2e/session/end",
                     "/trade-api/v2/.%2E/markets", "/trade-api/v2/markets%2Fx",
                     "/trade-api/v2//markets", "/trade-api/v2/markets%00",
                     "/trade-api/v2/markets%5c..", "/trade-api/v2/./markets",
                     "/trade-api/v2/markets/%zz"):
            st, hd, raw = self.gw.request("GET", path)
            self.assert_gateway_error(st, hd, raw, 400, "invalid_path")
        self.assertEqual(foreground(self.mock.requests()), [])
        st, hd, raw = self.gw.request("GET", "/nope")
        self.assert_gateway_error(st, hd, raw, 404, "not_found")
        st, hd, raw = self.gw.request("GET", "/trade-api/v2")
        self.assert_gateway_error(st, hd, raw, 404, "not_found")

    def test_browser_safety(self):
        st, hd, raw = self.gw.request("GET", "/trade-api/v2/markets",
                                      headers={"Origin": "https://evil.example"})
        self.assert_gateway_error(st, hd, raw, 403, "forbidden")
        st, hd, raw = self.gw.request("GET", "/trade-api/v2/markets",
                                      headers={"Host": "evil.example:8080"})
        self.assert_gateway_error(st, hd, raw, 421, "host_not_allowed")
        st, hd, raw = self.gw.request("POST", "/trade-api/v2/portfolio/order_groups/create",
                                      b'{"contracts_limit": 1}',
                                      headers={"Content-Type": "text/plain"})
        self.assert_gateway_error(st, hd, raw, 415, "unsupported_media_type")
        self.assertEqual(find(self.mock.requests(), "POST",
                              "/trade-api/v2/portfolio/order_groups/create"), [])
        st, _, _ = self.gw.request("GET", "/trade-api/v2/markets",
                                   headers={"Host": "localhost:%d" % self.gw.port,
                                            "Origin": "http://localhost:%d" % self.gw.port})
        self.assertEqual(st, 200)

    def test_oversized_body_413_and_still_serving(self):
        # declared too large: refused from the headers, before any body byte
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(("POST /trade-api/v2/portfolio/order_groups/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % (1048576 + 1)).encode())
        resp = s.recv(65536)
        s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 413"), resp[:200])
        self.assertIn(b'"body_too_large"', resp)
        self.assertIn(b"X-Gateway-Rejected: 1", resp)
        # chunked, without Content-Length
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        head = ("POST /trade-api/v2/portfolio/order_groups/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        s.sendall(head)
        chunk = b"x" * 65536
        try:
            for _ in range(20):
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        resp = b""
        try:
            while b"\r\n\r\n" not in resp:
                d = s.recv(4096)
                if not d:
                    break
                resp += d
        except OSError:
            pass
        s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 413"), resp[:200])
        st, _, _ = self.gw.request("GET", "/trade-api/v2/exchange/status")
        self.assertEqual(st, 200)
        self.assertEqual(find(self.mock.requests(), "POST",
                              "/trade-api/v2/portfolio/order_groups/create"), [])

    def test_health_and_readiness(self):
        st, _, raw = self.gw.request("GET", "/healthz")
        self.assertEqual((st, json.loads(raw)), (200, {"status": "ok"}))
        self.gw.wait_ready()
        st, _, raw = self.gw.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("kalshi_gateway_requests_total", raw.decode())



class ProxyHeaderSizeTest(ProxyBase):
    """Request header blocks against the 16 KiB connection memory
    (server.c SERVER_CONN_MEMORY, SERVER_HEADER_BUDGET): a target and headers
    costing up to 8 KiB (each line counted with 64 bytes besides its own) are
    accepted and forwarded byte for byte, in one long line or in many; over
    that the gateway answers 431 headers_too_large itself - never a forwarded
    request whose answer then has no room (a closed connection, no answer);
    far over it libmicrohttpd answers its own 431. The gateway keeps serving,
    and nothing of a refused request reaches the mock."""
    CREATE = "/trade-api/v2/portfolio/events/orders"

    def setUp(self):
        super().setUp()
        st, _, b = self.gw.json("POST", "/session/start", {"contracts_limit": 100})
        self.assertEqual(st, 201, b)

    def order(self, coid):
        return {"ticker": "KXMOCK-26DEC31-A", "side": "bid", "count": "1.00",
                "price": "0.4000", "client_order_id": coid,
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross"}

    def created(self, coid):
        return [r for r in find(self.mock.requests(), "POST", self.CREATE)
                if json.loads(r["body"]).get("client_order_id") == coid]

    def raw_request(self, head_bytes, method="POST", path=None, coid="too-big"):
        """Sends one raw request with head_bytes of extra header lines;
        returns (status line, whole answer) (b"" when the connection was
        closed without an answer)."""
        body = json.dumps(self.order(coid)).encode() if method == "POST" else b""
        req = ((method + " " + (path or self.CREATE)).encode() +
               b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
               (b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
                if body else b"") + head_bytes + b"\r\n" + body)
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        resp = b""
        try:
            s.sendall(req)
            while True:
                d = s.recv(65536)
                if not d:
                    break
                resp += d
        except OSError:
            pass
        finally:
            s.close()
        return resp.split(b"\r\n", 1)[0], resp

    def send_order(self, coid, headers):
        """Sends an order with the given headers; asserts the mock's 201
        reached the client and the order reached the mock once, signed.
        Returns the headers the mock received."""
        st, _, raw = self.gw.request("POST", self.CREATE, self.order(coid), headers=headers)
        self.assertEqual(st, 201, raw[:500])
        doc = json.loads(raw)
        self.assertEqual(doc.get("client_order_id"), coid, doc)
        self.assertTrue(doc.get("order_id"), doc)
        got = self.created(coid)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0]["sig_valid"])
        return got[0]["headers"]

    def test_6k_one_long_header_forwarded(self):
        h = {"X-Pad-Long": "M" * 6000}
        seen = self.send_order("hdr-long", h)
        self.assertEqual(seen.get("x-pad-long"), h["X-Pad-Long"])

    def test_many_headers_forwarded(self):
        # 32 lines of ~150 bytes: 4.9 KiB, 7 KiB counted
        headers = {"X-Pad-%02d" % i: ("%02d" % i) * 70 for i in range(32)}
        seen = self.send_order("hdr-many", headers)
        for k, v in headers.items():
            self.assertEqual(seen.get(k.lower()), v, k)

    def test_over_budget_refused_and_never_forwarded(self):
        # one line of 12 KiB: fits MHD's memory, not the budget: the
        # gateway's own 431, nothing forwarded
        head = b"X-Pad-Long: " + b"L" * (12 * 1024) + b"\r\n"
        for method, path in (("POST", None), ("GET", "/trade-api/v2/exchange/status?x=one"),
                             ("GET", "/healthz")):
            status, whole = self.raw_request(head, method, path, coid="big-one")
            self.assertTrue(status.startswith(b"HTTP/1.1 431"), (method, path, status))
            self.assertIn(b'"headers_too_large"', whole)
        # 126 lines of 63 bytes (8 KiB, 16 KiB counted): forwarded before
        # the budget existed, then answered with a closed connection. Now
        # refused before anything is sent; libmicrohttpd may still lack the
        # room to write the 431 (see the README), but nothing is forwarded
        head = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 51) for i in range(126))
        for method, path in (("POST", None), ("GET", "/trade-api/v2/exchange/status?x=lines")):
            status, _ = self.raw_request(head, method, path, coid="big-lines")
            self.assertTrue(status == b"" or status.startswith(b"HTTP/1.1 431"),
                            (method, path, status))
        self.assertEqual(self.created("big-one") + self.created("big-lines"), [])
        self.assertEqual([r for r in self.mock.requests() if r.get("query")], [])

    def test_20k_headers_431_and_still_serving(self):
        one = b"X-Pad-Long: " + b"L" * (20 * 1024) + b"\r\n"
        many = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"m" * 150) for i in range(128))
        self.assertGreaterEqual(len(many), 20 * 1024)
        for head in (one, many):
            status, _ = self.raw_request(head)
            # MHD answers 431; a reset before the answer is read is not a pass
            self.assertTrue(status.startswith(b"HTTP/1.1 4"), status)
            self.assertIn(b" 431", status)
        self.assertEqual(self.created("too-big"), [])
        st, _, _ = self.gw.request("GET", "/trade-api/v2/exchange/status")
        self.assertEqual(st, 200)
        st, _, raw = self.gw.request("POST", self.CREATE, self.order("after-431"))
        self.assertEqual(st, 201, raw[:500])
        self.assertEqual(len(self.created("after-431")), 1)

    def test_no_size_forwards_without_an_answer(self):
        """From 40 to 240 header lines of 63 bytes: a request is either
        forwarded and answered, or refused and not forwarded - never
        forwarded with its answer lost (an order placed, never confirmed)."""
        for n in list(range(40, 100, 10)) + list(range(100, 160)) + list(range(160, 241, 10)):
            head = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"q" * 51) for i in range(n))
            coid = "sz-%d" % n
            status, _ = self.raw_request(head, "POST", None, coid=coid)
            if status.startswith(b"HTTP/1.1 201"):
                self.assertEqual(len(self.created(coid)), 1, n)
            else:
                self.assertEqual(self.created(coid), [], (n, status))
            q = "n=%d" % n
            status, _ = self.raw_request(head, "GET", "/trade-api/v2/exchange/status?" + q)
            got = [r for r in self.mock.requests() if r.get("query") == q]
            self.assertEqual(len(got), 1 if status.startswith(b"HTTP/1.1 200") else 0, (n, status))


class ProxyFaultsTest(ProxyBase):
    config = {"upstream": {"timeout_ms": 1000, "connect_timeout_ms": 500}}

    def test_upstream_down_502(self):
        port = harness.free_port()
        gw = Gateway.start(env={"KALSHI_UPSTREAM_URL": "http://127.0.0.1:%d" % port,
                                "KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY_FILE": self.keys[0]})
        try:
            st, hd, raw = gw.request("GET", "/trade-api/v2/markets")
            self.assertEqual(st, 502, raw)
            self.assertEqual(json.loads(raw)["error"]["code"], "upstream_unavailable")
            self.assertEqual(hd.get("x-gateway-rejected"), "1")
            st, _, raw = gw.request("GET", "/readyz")
            self.assertEqual(st, 503, raw)
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_hanging_upstream_504_within_timeout(self):
        self.mock.fault(mode="hang", delay_ms=5000)
        t0 = time.time()
        st, hd, raw = self.gw.request("POST", "/trade-api/v2/portfolio/order_groups/create",
                                      {"contracts_limit": 2})
        elapsed = time.time() - t0
        self.mock.clear_fault()
        self.assertEqual(st, 504, raw)
        self.assertEqual(json.loads(raw)["error"]["code"], "upstream_timeout")
        self.assertEqual(hd.get("x-gateway-outcome"), "unknown")
        self.assertLess(elapsed, 3.0)
        self.assertGreaterEqual(elapsed, 0.9)
        st, _, _ = self.gw.request("GET", "/trade-api/v2/exchange/status")
        self.assertEqual(st, 200)

    def test_reset_and_garbage_and_big(self):
        # reads are retried after a lost connection: one reset is invisible
        self.mock.fault(mode="reset", count=1, path_prefix="/trade-api/v2/markets")
        st, _, raw = self.gw.request("GET", "/trade-api/v2/markets")
        self.assertEqual(st, 200, raw)
        # ... a persistent one is not
        self.mock.fault(mode="reset", path_prefix="/trade-api/v2/markets")
        st, _, raw = self.gw.request("GET", "/trade-api/v2/markets")
        self.assertIn(st, (502, 504), raw)
        self.mock.fault(mode="garbage", path_prefix="/trade-api/v2/markets")
        st, _, raw = self.gw.request("GET", "/trade-api/v2/markets")
        self.assertIn(st, (502, 504), raw)
        # a write that lost its connection is never resent by the gateway:
        # outcome unknown. A fresh gateway, so the write goes out on a new
        # connection (libcurl 7.88 itself silently resends a request whose
        # kept-alive connection died before any answer byte; order creates
        # are protected from that by their client_order_id)
        gw = Gateway.start(mock=self.mock, keys=self.keys, config=self.config)
        try:
            self.mock.clear()
            self.mock.fault(mode="reset", count=1, process=True,
                            path_prefix="/trade-api/v2/portfolio/order_groups/create")
            st, hd, raw = gw.request("POST", "/trade-api/v2/portfolio/order_groups/create",
                                     {"contracts_limit": 1})
            self.assertEqual(st, 504, raw)
            self.assertEqual(hd.get("x-gateway-outcome"), "unknown")
            self.assertEqual(len(find(self.mock.requests(), "POST",
                                      "/trade-api/v2/portfolio/order_groups/create")), 1)
            self.mock.clear_fault()
        finally:
            gw.stop()
        self.mock.fault(mode="big", count=1, bytes=17 * 1024 * 1024)
        st, _, raw = self.gw.request("GET", "/trade-api/v2/markets")
        self.assertEqual(st, 502, raw[:200])
        self.assertEqual(json.loads(raw)["error"]["code"], "upstream_unavailable")
        st, _, _ = self.gw.request("GET", "/trade-api/v2/markets")
        self.assertEqual(st, 200)


def concurrent_slow_gets(gw, mock, n, delay_ms):
    """n concurrent GET /markets through gw while the mock delays each by
    delay_ms (its stats reset first); returns each status (or the error)."""
    mock.fault(mode="delay", delay_ms=delay_ms, path_prefix="/trade-api/v2/markets")
    mock.reset_stats()
    results = []

    def one():
        try:
            results.append(gw.request("GET", "/trade-api/v2/markets", timeout=30)[0])
        except Exception as e:  # noqa
            results.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    mock.clear_fault()
    return results


class ProxyConcurrencyTest(ProxyBase):
    # the account's rate budget is off: this measures the pool, not the limiter
    config = {"upstream": {"max_connections": 512}, "rate_limit": {"tier": "off"}}

    def test_200_concurrent_requests_in_flight_at_once(self):
        results = concurrent_slow_gets(self.gw, self.mock, 200, 4000)
        self.assertEqual(results.count(200), 200, [r for r in results if r != 200][:5])
        self.assertGreaterEqual(self.mock.stats()["max_in_flight"], 200)


class ProxyConnectionBoundTest(ProxyBase):
    """upstream.max_connections bounds the whole process, not each event
    loop: with 6, two loops get 2 each and the background threads 1 each, so
    40 concurrent slow requests never have more than 6 in flight at the
    mock (HTTP/1.1: one request per connection), and all are served."""
    config = {"upstream": {"max_connections": 6}, "rate_limit": {"tier": "off"},
              "server": {"threads": 2}}

    def test_connections_bounded_across_loops(self):
        results = concurrent_slow_gets(self.gw, self.mock, 40, 300)
        self.assertEqual(results.count(200), 40, [r for r in results if r != 200][:5])
        self.assertLessEqual(self.mock.stats()["max_in_flight"], 6)
        self.assertGreaterEqual(self.mock.stats()["max_in_flight"], 2)


class ProxyHttpsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-tls-")
        self.keys = harness.gen_keypair(self.dir)
        self.cert = harness.gen_cert(self.dir)
        self.mock = harness.Mock.start(pubkey=self.keys[1], key_id="test-key-id", tls=self.cert)
        self.addCleanup(self.mock.stop)

    def test_https_with_ca_file(self):
        gw = Gateway.start(mock=self.mock, keys=self.keys, env={"KALSHI_CA_FILE": self.cert[0]})
        try:
            st, _, raw = gw.request("GET", "/trade-api/v2/portfolio/balance")
            self.assertEqual(st, 200, raw)
            self.assertTrue(self.mock.requests()[-1]["sig_valid"])
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_unknown_certificate_refused(self):
        gw = Gateway.start(mock=self.mock, keys=self.keys)
        try:
            st, _, raw = gw.request("GET", "/trade-api/v2/portfolio/balance")
            self.assertEqual(st, 502, raw)
            self.assertEqual(json.loads(raw)["error"]["code"], "upstream_unavailable")
            self.assertEqual(self.mock.requests(), [])
        finally:
            self.assertEqual(gw.stop(), 0)


class ProxyConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gw-conf-")

    def write(self, name, obj):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    def test_check_config_ok(self):
        rc, out, err = gwharness.run(["--check-config"])
        self.assertEqual(rc, 0, err)
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        rc, out, err = gwharness.run(["--check-config", "-c",
                                      os.path.join(root, "conf", "gateway.example.json")])
        self.assertEqual(rc, 0, err)

    def test_bad_configs_exit_2_with_source_field_lines(self):
        f = self.write("gw.json", {"upstream": {"timeout_ms": 1.5, "bogus": 1}})
        rc, _, err = gwharness.run(["--check-config", "-c", f])
        self.assertEqual(rc, 2)
        self.assertIn(f + ":upstream.timeout_ms: ", err)
        self.assertIn(f + ":upstream.bogus: ", err)
        rc, _, err = gwharness.run(["--check-config"],
                                   env={"KALSHI_UPSTREAM_URL": "http://example.com"})
        self.assertEqual(rc, 2)
        self.assertIn("env:upstream.url: ", err)
        rc, _, err = gwharness.run(["--listen", "127.0.0.1:99999"])
        self.assertEqual(rc, 2)
        self.assertIn("flag:listen: ", err)
        rc, _, err = gwharness.run(["--check-config"], env={
            "KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY_FILE": os.path.join(self.dir, "missing.pem")})
        self.assertEqual(rc, 2)
        self.assertIn("env:upstream.private_key_file: ", err)
        rc, _, err = gwharness.run(["--check-config", "-c", self.write("bad.json", "{nope")])
        self.assertEqual(rc, 2)
        self.assertIn(":(root): ", err)
        rc, _, err = gwharness.run(["--listen", "0.0.0.0:0", "--check-config"])
        self.assertEqual(rc, 2)
        self.assertIn("flag:listen: ", err)

    def test_listen_conflict_and_state_lock_exit_1(self):
        g = Gateway.start()
        try:
            rc, _, err = gwharness.run(["--listen", "127.0.0.1:%d" % g.port],
                                       env={"GATEWAY_STATE_DIR": os.path.join(self.dir, "other")})
            self.assertEqual(rc, 1, err)
            rc, _, err = gwharness.run(["--listen", "127.0.0.1:%d" % harness.free_port()],
                                       env={"GATEWAY_STATE_DIR": os.path.join(g.dir, "var")})
            self.assertEqual(rc, 1, err)
            self.assertIn("locked", err)
        finally:
            self.assertEqual(g.stop(), 0)


class ProxyShutdownTest(ProxyBase):
    config = {"server": {"shutdown_timeout_ms": 4000}}

    def test_sigterm_drains_in_flight_requests(self):
        self.mock.fault(mode="delay", delay_ms=1000, path_prefix="/trade-api/v2/markets")
        out = []
        t = threading.Thread(target=lambda: out.append(self.gw.request("GET", "/trade-api/v2/markets")))
        t.start()
        time.sleep(0.4)
        self.gw.proc.send_signal(signal.SIGTERM)
        t.join(10)
        self.assertEqual(out[0][0], 200)
        self.assertEqual(self.gw.proc.wait(10), 0)

    def test_sigterm_past_deadline_gives_504_unknown(self):
        gw = Gateway.start(mock=self.mock, keys=self.keys,
                           config={"server": {"shutdown_timeout_ms": 300}})
        self.mock.fault(mode="delay", delay_ms=3000, path_prefix="/trade-api/v2/portfolio/order_groups")
        out = []
        t = threading.Thread(target=lambda: out.append(gw.request(
            "POST", "/trade-api/v2/portfolio/order_groups/create", {"contracts_limit": 1})))
        t.start()
        time.sleep(0.4)
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        t.join(10)
        self.assertEqual(gw.proc.wait(10), 0)
        self.assertLess(time.time() - t0, 2.5)
        st, hd, raw = out[0]
        self.assertEqual(st, 504, raw)
        self.assertEqual(hd.get("x-gateway-outcome"), "unknown")
        gw.stop()


if __name__ == "__main__":
    unittest.main()
