"""Tests of the mock Kalshi exchange itself (build/mock-exchange).

The gateway's end-to-end tests trust the mock to be as strict as Kalshi, so
these tests prove that strictness directly: requests are signed in Python
through the openssl command line (harness.sign), independently of the C
signer, and sent byte for byte with harness.http.

Run: python3 tests/e2e/run.py -k Mock   or
     cd tests/e2e && GW_BUILD=/work/main/build python3 -m unittest test_mock -v
"""
import http.client as httpclient
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import Mock, http, now_ms, sign, signed_headers, verify

KEY_ID = "test-key-id"
V2 = "/trade-api/v2"
TICKER = "KXMOCK-26DEC31-A"

TMP = None
PRIV = PUB = OTHER_PRIV = CERT = CERT_KEY = None
MOCK = None


def setUpModule():
    global TMP, PRIV, PUB, OTHER_PRIV, CERT, CERT_KEY, MOCK
    TMP = tempfile.mkdtemp(prefix="test-mock-")
    PRIV, PUB = harness.gen_keypair(TMP)
    OTHER_PRIV, _ = harness.gen_keypair(TMP)
    CERT, CERT_KEY = harness.gen_cert(TMP)
    MOCK = Mock.start(pubkey=PUB, key_id=KEY_ID, priv=PRIV)


def tearDownModule():
    try:
        if MOCK is not None:
            MOCK.stop()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


def v2_order(**kw):
    """A valid V2 create body, overridden by kw (None removes a field)."""
    body = {"ticker": TICKER, "side": "bid", "count": "5.00", "price": "0.5600",
            "time_in_force": "immediate_or_cancel", "self_trade_prevention_type": "taker_at_cross"}
    for k, v in kw.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def create_group(mock, limit=10, **kw):
    body = {"contracts_limit": limit}
    body.update(kw)
    _, doc = mock.signed_json("POST", V2 + "/portfolio/order_groups/create", body, expect=201)
    return doc["order_group_id"]


class MockSignatureTest(unittest.TestCase):
    """Signature verification is as strict as Kalshi's."""

    path = V2 + "/portfolio/balance"

    def send(self, headers, path=None, method="GET"):
        return MOCK.request(method, path or self.path, headers=headers)[0]

    def test_valid_signature_accepted_and_recorded(self):
        MOCK.clear()
        status, _, data = MOCK.signed("GET", self.path)
        self.assertEqual(status, 200, data)
        doc = json.loads(data)
        self.assertEqual(doc["balance"], 100000)
        rec = MOCK.requests()[-1]
        self.assertTrue(rec["sig_valid"])
        self.assertEqual(rec["path"], self.path)
        self.assertEqual(rec["status"], 200)
        self.assertEqual(rec["headers"]["kalshi-access-key"], KEY_ID)
        self.assertIn("kalshi-access-signature", rec["headers"])

    def test_missing_signature_401(self):
        status, hdrs, data = MOCK.request("GET", self.path)
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(data)["error"]["code"], "unauthorized")
        self.assertEqual(hdrs["content-type"], "application/json")
        h = signed_headers(PRIV, "GET", self.path)
        del h["KALSHI-ACCESS-SIGNATURE"]
        self.assertEqual(self.send(h), 401)

    def test_wrong_signature_401(self):
        self.assertEqual(self.send(signed_headers(OTHER_PRIV, "GET", self.path)), 401)
        # signed for another path or method
        h = signed_headers(PRIV, "GET", V2 + "/portfolio/positions")
        self.assertEqual(self.send(h), 401)
        h = signed_headers(PRIV, "POST", self.path)
        self.assertEqual(self.send(h), 401)
        # corrupted base64 and non-standard alphabet
        h = signed_headers(PRIV, "GET", self.path)
        sig = h["KALSHI-ACCESS-SIGNATURE"]
        h["KALSHI-ACCESS-SIGNATURE"] = ("A" if sig[0] != "A" else "B") + sig[1:]
        self.assertEqual(self.send(h), 401)
        h = signed_headers(PRIV, "GET", self.path)
        h["KALSHI-ACCESS-SIGNATURE"] = h["KALSHI-ACCESS-SIGNATURE"].replace("+", "-").replace("/", "_").rstrip("=")
        self.assertEqual(self.send(h), 401)

    def test_wrong_key_id_401(self):
        self.assertEqual(self.send(signed_headers(PRIV, "GET", self.path, key_id="other")), 401)

    def test_timestamp_window(self):
        self.assertEqual(self.send(signed_headers(PRIV, "GET", self.path, ts_ms=now_ms() - 6000)), 401)
        self.assertEqual(self.send(signed_headers(PRIV, "GET", self.path, ts_ms=now_ms() + 6000)), 401)
        self.assertEqual(self.send(signed_headers(PRIV, "GET", self.path, ts_ms=now_ms() - 3000)), 200)

    def test_seconds_timestamp_401(self):
        ts = now_ms() // 1000
        self.assertEqual(self.send(signed_headers(PRIV, "GET", self.path, ts_ms=ts)), 401)

    def test_query_must_not_be_signed(self):
        path = V2 + "/portfolio/orders?status=resting&limit=5"
        ts = now_ms()
        h = {"KALSHI-ACCESS-KEY": KEY_ID, "KALSHI-ACCESS-TIMESTAMP": str(ts),
             "KALSHI-ACCESS-SIGNATURE": sign(PRIV, ts, "GET", path)}
        self.assertEqual(self.send(h, path), 401)
        self.assertEqual(self.send(signed_headers(PRIV, "GET", path), path), 200)

    def test_max_salt_length_401(self):
        ts = now_ms()
        bad = sign(PRIV, ts, "GET", self.path, saltlen="max")
        good = sign(PRIV, ts, "GET", self.path)
        # the independent verifier agrees with the mock
        self.assertFalse(verify(PUB, ts, "GET", self.path, bad))
        self.assertTrue(verify(PUB, ts, "GET", self.path, good))
        h = {"KALSHI-ACCESS-KEY": KEY_ID, "KALSHI-ACCESS-TIMESTAMP": str(ts)}
        self.assertEqual(self.send(dict(h, **{"KALSHI-ACCESS-SIGNATURE": bad})), 401)
        self.assertEqual(self.send(dict(h, **{"KALSHI-ACCESS-SIGNATURE": good})), 200)

    def test_raw_path_bytes_are_signed(self):
        raw = V2 + "/portfolio/orders/abc%2Ddef"
        status = self.send(signed_headers(PRIV, "GET", raw), raw)
        self.assertEqual(status, 404)  # authenticated, then no such order
        decoded = V2 + "/portfolio/orders/abc-def"
        self.assertEqual(self.send(signed_headers(PRIV, "GET", decoded), raw), 401)
        self.assertEqual(MOCK.requests()[-1]["path"], raw)

    def test_public_endpoints(self):
        for p in ("/exchange/status", "/markets", "/markets/" + TICKER, "/events", "/series",
                  "/account/endpoint_costs", "/exchange/schedule"):
            status, _, data = MOCK.request("GET", V2 + p)
            self.assertEqual(status, 200, (p, data))
        p = V2 + "/markets"
        self.assertEqual(self.send(signed_headers(OTHER_PRIV, "GET", p), p), 401)
        MOCK.clear()
        self.assertEqual(self.send(signed_headers(PRIV, "GET", p), p), 200)
        self.assertTrue(MOCK.requests()[-1]["sig_valid"])
        # /account/limits is not public
        self.assertEqual(self.send({}, V2 + "/account/limits"), 401)

    def test_unknown_path(self):
        self.assertEqual(self.send({}, V2 + "/nope"), 401)
        status, _, data = MOCK.signed("GET", V2 + "/nope")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(data)["error"]["code"], "not_found")
        status, _, _ = MOCK.signed("GET", V2 + "//portfolio/balance")
        self.assertEqual(status, 404)


class MockApiTest(unittest.TestCase):
    """Shapes of the read endpoints, recording and malformed bodies."""

    def test_account_limits_and_costs(self):
        _, doc = MOCK.signed_json("GET", V2 + "/account/limits", expect=200)
        self.assertEqual(doc["usage_tier"], "basic")
        self.assertEqual(doc["read"], {"refill_rate": 200, "bucket_capacity": 200})
        self.assertEqual(doc["write"], {"refill_rate": 100, "bucket_capacity": 100})
        _, doc = MOCK.signed_json("GET", V2 + "/account/endpoint_costs", expect=200)
        self.assertEqual(doc["default_cost"], 10)
        self.assertTrue(all({"method", "path", "cost"} <= set(c) for c in doc["endpoint_costs"]))

    def test_markets(self):
        status, _, data = MOCK.request("GET", V2 + "/markets")
        doc = json.loads(data)
        self.assertEqual(doc["cursor"], "")
        m = [x for x in doc["markets"] if x["ticker"] == TICKER][0]
        self.assertEqual(m["status"], "active")
        self.assertEqual(m["yes_bid_dollars"], "0.4500")
        status, _, data = MOCK.request("GET", V2 + "/markets/NOPE")
        self.assertEqual(status, 404)

    def test_invalid_json_400(self):
        for body in (b"{", b"", b"[1,", b'{"a":1}{"b":2}', b'{"ticker":"A","ticker":"B"}'):
            status, _, data = MOCK.signed("POST", V2 + "/portfolio/events/orders", body=body)
            self.assertEqual(status, 400, body)
            self.assertEqual(json.loads(data)["error"]["code"], "invalid_parameters")

    def test_recording(self):
        MOCK.clear()
        body = json.dumps(v2_order(time_in_force="good_till_canceled", client_order_id="rec-1"))
        status, _, data = MOCK.signed("POST", V2 + "/portfolio/events/orders?x=%41&y", body=body,
                                      headers={"X-Test": "yes"})
        self.assertEqual(status, 201, data)
        recs = MOCK.requests()
        self.assertEqual(len(recs), 1)
        r = recs[0]
        self.assertEqual((r["method"], r["path"], r["query"]), ("POST", V2 + "/portfolio/events/orders", "x=%41&y"))
        self.assertEqual(r["body"], body)
        self.assertEqual(r["status"], 201)
        self.assertTrue(r["sig_valid"])
        self.assertEqual(r["headers"]["x-test"], "yes")
        self.assertEqual(r["headers"]["content-type"], "application/json")
        self.assertGreater(r["seq"], 0)
        MOCK.clear()
        self.assertEqual(MOCK.requests(), [])


class MockOrderGroupTest(unittest.TestCase):
    """Order-group lifecycle and validation."""

    def test_lifecycle(self):
        gid = create_group(MOCK, 10)
        path = V2 + "/portfolio/order_groups/" + gid
        _, doc = MOCK.signed_json("GET", path, expect=200)
        self.assertEqual(doc["is_auto_cancel_enabled"], False)
        self.assertEqual(doc["contracts_limit_fp"], "10.00")
        self.assertEqual(doc["orders"], [])
        _, lst = MOCK.signed_json("GET", V2 + "/portfolio/order_groups", expect=200)
        self.assertIn(gid, [g["id"] for g in lst["order_groups"]])

        _, doc = MOCK.signed_json("PUT", path + "/trigger", {}, expect=200)
        self.assertEqual(doc, {})
        self.assertTrue(MOCK.signed_json("GET", path, expect=200)[1]["is_auto_cancel_enabled"])
        MOCK.signed_json("PUT", path + "/reset", None, expect=200)
        self.assertFalse(MOCK.signed_json("GET", path, expect=200)[1]["is_auto_cancel_enabled"])
        MOCK.trigger_group(gid)
        self.assertTrue(MOCK.signed_json("GET", path, expect=200)[1]["is_auto_cancel_enabled"])
        MOCK.signed_json("PUT", path + "/reset", {}, expect=200)
        MOCK.signed_json("PUT", path + "/limit", {"contracts_limit": 25}, expect=200)
        self.assertEqual(MOCK.signed_json("GET", path, expect=200)[1]["contracts_limit_fp"], "25.00")
        MOCK.signed_json("DELETE", path, expect=200)
        status, doc = MOCK.signed_json("GET", path)
        self.assertEqual(status, 404)
        self.assertEqual(doc["error"]["code"], "not_found")
        self.assertEqual(MOCK.signed_json("DELETE", path)[0], 404)
        self.assertEqual(MOCK.signed_json("PUT", path + "/reset", {})[0], 404)

    def test_create_validation(self):
        p = V2 + "/portfolio/order_groups/create"
        for body in ({}, {"contracts_limit": 0}, {"contracts_limit": 1000001}, {"contracts_limit": "10"},
                     {"contracts_limit": 10.5}, {"contracts_limit": 10, "bogus": 1},
                     {"contracts_limit": 10, "subaccount": 64}, {"contracts_limit_fp": 10},
                     {"contracts_limit": 10, "contracts_limit_fp": "11"}, [10]):
            status, doc = MOCK.signed_json("POST", p, body)
            self.assertEqual(status, 400, body)
            self.assertEqual(doc["error"]["code"], "invalid_parameters")
        _, doc = MOCK.signed_json("POST", p, {"contracts_limit_fp": "25"}, expect=201)
        _, g = MOCK.signed_json("GET", V2 + "/portfolio/order_groups/" + doc["order_group_id"], expect=200)
        self.assertEqual(g["contracts_limit_fp"], "25.00")
        self.assertEqual(doc["subaccount"], 0)

    def test_subaccount_scoping(self):
        _, doc = MOCK.signed_json("POST", V2 + "/portfolio/order_groups/create",
                                  {"contracts_limit": 5, "subaccount": 3}, expect=201)
        self.assertEqual(doc["subaccount"], 3)
        path = V2 + "/portfolio/order_groups/" + doc["order_group_id"]
        self.assertEqual(MOCK.signed_json("DELETE", path)[0], 404)  # default subaccount 0
        MOCK.signed_json("DELETE", path + "?subaccount=3", expect=200)


class MockOrdersTest(unittest.TestCase):
    """V2 and legacy orders, fills and the group's rolling window."""

    create = V2 + "/portfolio/events/orders"

    def test_v2_validation(self):
        bad = [
            v2_order(count=5),                      # JSON number, not a string
            v2_order(count="5.001"),                # 3 decimals
            v2_order(count="0"),
            v2_order(count="-1"),
            v2_order(price="1.00"),
            v2_order(price="0.00"),
            v2_order(price="0.56001"),               # 5 decimals
            v2_order(price=0.56),
            v2_order(self_trade_prevention_type=None),
            v2_order(self_trade_prevention_type="none"),
            v2_order(time_in_force="gtc"),
            v2_order(time_in_force=None),
            v2_order(side="yes"),
            v2_order(ticker=None),
            v2_order(bogus=True),
            v2_order(type="limit"),
            v2_order(post_only="true"),
            v2_order(subaccount=64),
            v2_order(expiration_time=2000000000),   # with immediate_or_cancel
            ["not", "an", "object"],
        ]
        for body in bad:
            status, doc = MOCK.signed_json("POST", self.create, body)
            self.assertEqual(status, 400, body)
            self.assertEqual(doc["error"]["code"], "invalid_parameters", body)
        _, doc = MOCK.signed_json("POST", self.create, v2_order(count="10", price="0.56"), expect=201)
        self.assertEqual(doc["fill_count"], "10.00")

    def test_ioc_fill_in_fills(self):
        _, doc = MOCK.signed_json("POST", self.create, v2_order(count="7", client_order_id="ioc-1"), expect=201)
        self.assertEqual(set(doc), {"order_id", "client_order_id", "fill_count", "remaining_count", "ts_ms",
                                    "average_fill_price", "average_fee_paid"})
        self.assertEqual((doc["fill_count"], doc["remaining_count"]), ("7.00", "0.00"))
        self.assertEqual(doc["average_fill_price"], "0.5600")
        self.assertIsInstance(doc["ts_ms"], int)
        oid = doc["order_id"]
        _, fills = MOCK.signed_json("GET", V2 + "/portfolio/fills?order_id=" + oid, expect=200)
        self.assertEqual(len(fills["fills"]), 1)
        f = fills["fills"][0]
        self.assertEqual((f["order_id"], f["count_fp"], f["yes_price_dollars"], f["book_side"], f["is_taker"]),
                         (oid, "7.00", "0.5600", "bid", True))
        self.assertEqual(fills["cursor"], "")
        ts = f["ts"]
        _, none = MOCK.signed_json("GET", V2 + "/portfolio/fills?order_id=%s&min_ts=%d" % (oid, ts + 1), expect=200)
        self.assertEqual(none["fills"], [])
        _, order = MOCK.signed_json("GET", V2 + "/portfolio/orders/" + oid, expect=200)
        self.assertEqual(order["order"]["status"], "executed")
        self.assertEqual(order["order"]["fill_count_fp"], "7.00")

    def test_gtc_rests_and_group_delete_cancels(self):
        gid = create_group(MOCK, 100)
        _, doc = MOCK.signed_json("POST", self.create, v2_order(time_in_force="good_till_canceled",
                                                                order_group_id=gid), expect=201)
        self.assertEqual((doc["fill_count"], doc["remaining_count"]), ("0.00", "5.00"))
        self.assertNotIn("average_fill_price", doc)
        oid = doc["order_id"]
        _, g = MOCK.signed_json("GET", V2 + "/portfolio/order_groups/" + gid, expect=200)
        self.assertEqual(g["orders"], [oid])
        _, lst = MOCK.signed_json("GET", V2 + "/portfolio/orders?status=resting&ticker=" + TICKER, expect=200)
        self.assertIn(oid, [o["order_id"] for o in lst["orders"]])
        MOCK.signed_json("DELETE", V2 + "/portfolio/order_groups/" + gid, expect=200)
        _, o = MOCK.signed_json("GET", V2 + "/portfolio/orders/" + oid, expect=200)
        self.assertEqual(o["order"]["status"], "canceled")
        self.assertEqual(o["order"]["remaining_count_fp"], "0.00")

    def test_group_triggers_on_window_and_refuses(self):
        gid = create_group(MOCK, 10)
        _, rest = MOCK.signed_json("POST", self.create, v2_order(time_in_force="good_till_canceled",
                                                                 order_group_id=gid, side="ask"), expect=201)
        MOCK.signed_json("POST", self.create, v2_order(count="6", order_group_id=gid), expect=201)
        _, g = MOCK.signed_json("GET", V2 + "/portfolio/order_groups/" + gid, expect=200)
        self.assertFalse(g["is_auto_cancel_enabled"])
        # 6 + 5 = 11 > 10 within 15 s: this order fills, then the group triggers
        MOCK.signed_json("POST", self.create, v2_order(count="5", order_group_id=gid), expect=201)
        _, g = MOCK.signed_json("GET", V2 + "/portfolio/order_groups/" + gid, expect=200)
        self.assertTrue(g["is_auto_cancel_enabled"])
        self.assertEqual(g["orders"], [])
        _, o = MOCK.signed_json("GET", V2 + "/portfolio/orders/" + rest["order_id"], expect=200)
        self.assertEqual(o["order"]["status"], "canceled")
        status, doc = MOCK.signed_json("POST", self.create, v2_order(count="1", order_group_id=gid))
        self.assertEqual(status, 409)
        self.assertEqual(doc["error"]["code"], "order_group_triggered")
        self.assertIn("order group", doc["error"]["message"])
        st = [x for x in MOCK.state()["order_groups"] if x["id"] == gid][0]
        self.assertTrue(st["triggered"])
        self.assertEqual(st["trigger_reason"], "limit")
        # reset clears the window: 10 more are fine
        MOCK.signed_json("PUT", V2 + "/portfolio/order_groups/%s/reset" % gid, {}, expect=200)
        MOCK.signed_json("POST", self.create, v2_order(count="10", order_group_id=gid), expect=201)
        self.assertFalse(MOCK.signed_json("GET", V2 + "/portfolio/order_groups/" + gid)[1]["is_auto_cancel_enabled"])
        # lowering the limit below the window volume triggers
        MOCK.signed_json("PUT", V2 + "/portfolio/order_groups/%s/limit" % gid, {"contracts_limit": 5}, expect=200)
        self.assertTrue(MOCK.signed_json("GET", V2 + "/portfolio/order_groups/" + gid)[1]["is_auto_cancel_enabled"])

    def test_maker_fill_counts_in_window(self):
        gid = create_group(MOCK, 3)
        _, a = MOCK.signed_json("POST", self.create, v2_order(time_in_force="good_till_canceled",
                                                              order_group_id=gid), expect=201)
        _, b = MOCK.signed_json("POST", self.create, v2_order(time_in_force="good_till_canceled",
                                                              order_group_id=gid), expect=201)
        o = MOCK.fill_order(a["order_id"], "2")["order"]
        self.assertEqual((o["fill_count_fp"], o["remaining_count_fp"], o["status"]), ("2.00", "3.00", "resting"))
        MOCK.fill_order(a["order_id"], "2")
        st = [x for x in MOCK.state()["order_groups"] if x["id"] == gid][0]
        self.assertTrue(st["triggered"])
        _, ob = MOCK.signed_json("GET", V2 + "/portfolio/orders/" + b["order_id"], expect=200)
        self.assertEqual(ob["order"]["status"], "canceled")

    def test_unknown_group_and_duplicate_client_order_id(self):
        status, doc = MOCK.signed_json("POST", self.create, v2_order(order_group_id="no-such-group"))
        self.assertEqual(status, 404)
        self.assertIn("order group", doc["error"]["message"])
        MOCK.signed_json("POST", self.create, v2_order(client_order_id="dup-1"), expect=201)
        status, doc = MOCK.signed_json("POST", self.create, v2_order(client_order_id="dup-1"))
        self.assertEqual(status, 409)
        self.assertEqual(doc["error"]["code"], "order_already_exists")

    def test_closed_market_and_shard(self):
        status, doc = MOCK.signed_json("POST", self.create, v2_order(ticker="KXMOCK-26DEC31-CLOSED"))
        self.assertEqual(status, 409)
        gid = create_group(MOCK, 10)
        status, _ = MOCK.signed_json("POST", self.create, v2_order(ticker="KXSHARD1-26DEC31-A", order_group_id=gid))
        self.assertEqual(status, 400)
        status, _ = MOCK.signed_json("POST", self.create, v2_order(exchange_index=1))
        self.assertEqual(status, 400)

    def test_v2_batch(self):
        body = {"orders": [v2_order(client_order_id="b-1"), v2_order(count=3), v2_order(client_order_id="b-3")]}
        _, doc = MOCK.signed_json("POST", self.create + "/batched", body, expect=201)
        r = doc["orders"]
        self.assertEqual(len(r), 3)
        self.assertEqual(r[0]["client_order_id"], "b-1")
        self.assertEqual(r[0]["fill_count"], "5.00")
        self.assertEqual(r[1]["error"]["code"], "invalid_parameters")
        self.assertNotIn("order_id", r[1])
        self.assertIn("order_id", r[2])
        self.assertEqual(MOCK.signed_json("POST", self.create + "/batched", {"orders": []})[0], 400)
        self.assertEqual(MOCK.signed_json("POST", self.create + "/batched", {"orders": [v2_order()], "x": 1})[0], 400)

    def test_v2_cancel_decrease_amend(self):
        gtc = v2_order(time_in_force="good_till_canceled", count="10", client_order_id="amend-me")
        _, doc = MOCK.signed_json("POST", self.create, gtc, expect=201)
        oid = doc["order_id"]
        _, d = MOCK.signed_json("POST", self.create + "/%s/decrease" % oid, {"reduce_by": "3"}, expect=200)
        self.assertEqual(d["remaining_count"], "7.00")
        self.assertEqual(MOCK.signed_json("POST", self.create + "/%s/decrease" % oid, {"reduce_by": 3})[0], 400)
        self.assertEqual(MOCK.signed_json("POST", self.create + "/%s/decrease" % oid,
                                          {"reduce_by": "1", "reduce_to": "1"})[0], 400)
        _, a = MOCK.signed_json("POST", self.create + "/%s/amend" % oid,
                                {"ticker": TICKER, "side": "bid", "price": "0.60", "count": "12",
                                 "updated_client_order_id": "amended"}, expect=200)
        self.assertEqual((a["order_id"], a["remaining_count"], a["client_order_id"]), (oid, "12.00", "amended"))
        self.assertEqual(MOCK.signed_json("POST", self.create + "/%s/amend" % oid,
                                          {"ticker": TICKER, "side": "ask", "price": "0.60", "count": "12"})[0], 400)
        _, o = MOCK.signed_json("GET", V2 + "/portfolio/orders/" + oid, expect=200)
        self.assertEqual(o["order"]["yes_price_dollars"], "0.6000")
        _, c = MOCK.signed_json("DELETE", self.create + "/" + oid, expect=200)
        self.assertEqual((c["order_id"], c["reduced_by"]), (oid, "12.00"))
        self.assertIn("ts_ms", c)
        self.assertEqual(MOCK.signed_json("DELETE", self.create + "/" + oid)[0], 404)

    def test_batch_cancel_and_cancel_all(self):
        ids = []
        for _ in range(3):
            _, doc = MOCK.signed_json("POST", self.create, v2_order(time_in_force="good_till_canceled"), expect=201)
            ids.append(doc["order_id"])
        _, doc = MOCK.signed_json("DELETE", self.create + "/batched",
                                  {"orders": [{"order_id": ids[0]}, {"order_id": "nope"}]}, expect=200)
        self.assertEqual(doc["orders"][0]["reduced_by"], "5.00")
        self.assertEqual(doc["orders"][1]["error"]["code"], "not_found")
        status, _, data = MOCK.signed("DELETE", self.create)
        self.assertEqual((status, data), (204, b""))
        for oid in ids[1:]:
            _, o = MOCK.signed_json("GET", V2 + "/portfolio/orders/" + oid, expect=200)
            self.assertEqual(o["order"]["status"], "canceled")

    def test_legacy_create(self):
        p = V2 + "/portfolio/orders"
        base = {"ticker": TICKER, "side": "no", "action": "buy", "count": 4}
        for extra in ({}, {"yes_price": 40, "no_price": 60}, {"yes_price": 40, "yes_price_dollars": "0.40"},
                      {"yes_price": 0}, {"yes_price": 100}, {"no_price_dollars": "1.20"},
                      {"yes_price": 40, "type": "limit"}, {"yes_price": 40, "sell_position_floor": 1},
                      {"yes_price": 40.0}):
            status, doc = MOCK.signed_json("POST", p, dict(base, **extra))
            self.assertEqual(status, 400, extra)
        _, doc = MOCK.signed_json("POST", p, dict(base, no_price=60, client_order_id="leg-1"), expect=201)
        o = doc["order"]
        self.assertEqual((o["side"], o["action"], o["book_side"], o["outcome_side"]), ("no", "buy", "ask", "no"))
        self.assertEqual((o["yes_price_dollars"], o["no_price_dollars"]), ("0.4000", "0.6000"))
        self.assertEqual((o["status"], o["remaining_count_fp"], o["initial_count_fp"]), ("resting", "4.00", "4.00"))
        self.assertEqual(o["client_order_id"], "leg-1")
        fok = {"ticker": TICKER, "side": "yes", "action": "buy", "count_fp": "2.50",
               "yes_price_dollars": "0.55", "time_in_force": "fill_or_kill"}
        _, doc = MOCK.signed_json("POST", p, fok, expect=201)
        self.assertEqual((doc["order"]["status"], doc["order"]["fill_count_fp"]), ("executed", "2.50"))
        # legacy batch and cancel
        _, doc = MOCK.signed_json("POST", p + "/batched", {"orders": [dict(base, yes_price=40), dict(base)]},
                                  expect=201)
        self.assertIsNotNone(doc["orders"][0]["order"])
        self.assertIsNone(doc["orders"][0]["error"])
        self.assertIsNotNone(doc["orders"][1]["error"])
        oid = doc["orders"][0]["order"]["order_id"]
        _, c = MOCK.signed_json("DELETE", p + "/" + oid, expect=200)
        self.assertEqual((c["order"]["status"], c["reduced_by_fp"]), ("canceled", "4.00"))


class MockFaultTest(unittest.TestCase):
    """Fault injection through PUT /_mock/fault."""

    status_path = V2 + "/exchange/status"

    def tearDown(self):
        MOCK.clear_fault()

    def _concurrent(self, n, delay_ms):
        MOCK.reset_stats()
        MOCK.fault(mode="delay", delay_ms=delay_ms, path_prefix=self.status_path)
        results = []
        lock = threading.Lock()

        def one():
            try:
                st = MOCK.request("GET", self.status_path, timeout=30)[0]
            except Exception as e:  # noqa: BLE001 - reported below
                st = repr(e)
            with lock:
                results.append(st)

        threads = [threading.Thread(target=one) for _ in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - t0
        self.assertEqual(results, [200] * n)
        stats = MOCK.stats()
        self.assertGreaterEqual(stats["max_in_flight"], n)
        self.assertGreaterEqual(stats["total"], n)
        self.assertEqual(stats["in_flight"], 0)
        return elapsed

    def test_delay_runs_concurrently(self):
        elapsed = self._concurrent(50, 1000)
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 5.0)

    def test_220_concurrent_slow_requests(self):
        elapsed = self._concurrent(220, 1500)
        self.assertLess(elapsed, 10.0)

    def test_status_429_and_count(self):
        MOCK.fault(mode="status", status=429, count=2)
        for _ in range(2):
            status, hdrs, data = MOCK.signed("GET", V2 + "/portfolio/balance")
            self.assertEqual(status, 429)
            self.assertEqual(json.loads(data), {"error": "too many requests"})
            self.assertNotIn("retry-after", hdrs)
        self.assertEqual(MOCK.signed("GET", V2 + "/portfolio/balance")[0], 200)
        self.assertEqual(MOCK.request("GET", "/_mock/fault")[0], 200)
        MOCK.fault(mode="status", status=503)
        status, _, data = MOCK.request("GET", self.status_path)
        self.assertEqual((status, json.loads(data)["error"]["code"]), (503, "service_unavailable"))
        MOCK.fault(mode="status", status=500, body='{"error":{"code":"internal","message":"x"}}', count=1)
        status, _, data = MOCK.request("GET", self.status_path)
        self.assertEqual((status, data), (500, b'{"error":{"code":"internal","message":"x"}}'))

    def test_path_prefix_and_skip(self):
        MOCK.fault(mode="status", status=418, path_prefix=V2 + "/markets", skip=1, count=1)
        self.assertEqual(MOCK.request("GET", self.status_path)[0], 200)
        self.assertEqual(MOCK.request("GET", V2 + "/markets")[0], 200)   # skipped
        self.assertEqual(MOCK.request("GET", V2 + "/markets")[0], 418)
        self.assertEqual(MOCK.request("GET", V2 + "/markets")[0], 200)
        self.assertEqual(MOCK.request("GET", "/_mock/fault")[0], 200)
        status, _, data = MOCK.request("PUT", "/_mock/fault", {"mode": "explode"})
        self.assertEqual(status, 400)

    def test_reset_closes_without_answer(self):
        MOCK.clear()
        MOCK.fault(mode="reset", count=1)
        with self.assertRaises((httpclient.HTTPException, ConnectionError, OSError)):
            MOCK.request("GET", self.status_path)
        self.assertEqual(MOCK.requests()[-1]["status"], 0)
        self.assertEqual(MOCK.request("GET", self.status_path)[0], 200)

    def test_reset_after_processing(self):
        MOCK.fault(mode="reset", count=1, process=True)
        with self.assertRaises((httpclient.HTTPException, ConnectionError, OSError)):
            MOCK.signed("POST", V2 + "/portfolio/events/orders", body=v2_order(client_order_id="lost-answer"))
        status, doc = MOCK.signed_json("POST", V2 + "/portfolio/events/orders", v2_order(client_order_id="lost-answer"))
        self.assertEqual(status, 409)  # the first one was placed

    def test_garbage(self):
        MOCK.fault(mode="garbage", count=1)
        with self.assertRaises((httpclient.HTTPException, ConnectionError, OSError)):
            MOCK.request("GET", self.status_path)

    def test_big(self):
        MOCK.fault(mode="big", count=1)
        status, hdrs, data = MOCK.request("GET", self.status_path, timeout=30)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(len(data), 20 * 1024 * 1024)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertTrue(json.loads(data)["ok"])

    def test_hang_until_client_leaves(self):
        MOCK.reset_stats()
        MOCK.fault(mode="hang", count=1)
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError)):
            MOCK.request("GET", self.status_path, timeout=0.5)
        self.assertLess(time.monotonic() - t0, 2)
        deadline = time.monotonic() + 3
        while MOCK.stats()["in_flight"] != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(MOCK.stats()["in_flight"], 0)


class MockModesTest(unittest.TestCase):
    """Command-line modes: legacy retired, HTTPS, no key, window length, shutdown."""

    def test_legacy_retired(self):
        with Mock.start(pubkey=PUB, priv=PRIV, extra_args=["--legacy-retired"]) as m:
            for method, path, body in (
                    ("POST", "/portfolio/orders", {"ticker": TICKER, "side": "yes", "action": "buy", "count": 1,
                                                   "yes_price": 50}),
                    ("POST", "/portfolio/orders/batched", {"orders": []}),
                    ("DELETE", "/portfolio/orders/abc", None),
                    ("POST", "/portfolio/orders/abc/amend", {}),
                    ("POST", "/portfolio/orders/abc/decrease", {})):
                status, doc = m.signed_json(method, V2 + path, body)
                self.assertEqual(status, 400, path)
                self.assertEqual(doc["error"]["code"], "invalid_parameters")
                self.assertEqual(doc["error"]["message"], "Please switch to the V2 endpoints")
            m.signed_json("POST", V2 + "/portfolio/events/orders", v2_order(), expect=201)
            _, doc = m.signed_json("GET", V2 + "/portfolio/orders", expect=200)
            self.assertEqual(len(doc["orders"]), 1)

    def test_https(self):
        with Mock.start(pubkey=PUB, priv=PRIV, tls=(CERT, CERT_KEY)) as m:
            self.assertTrue(m.url.startswith("https://127.0.0.1:"))
            status, _, data = m.request("GET", V2 + "/exchange/status")
            self.assertEqual(status, 200)
            self.assertTrue(json.loads(data)["exchange_active"])
            self.assertEqual(m.signed("GET", V2 + "/portfolio/balance")[0], 200)
            with self.assertRaises(ssl.SSLError):
                http("GET", m.url + V2 + "/exchange/status", context=ssl.create_default_context())
            with self.assertRaises((httpclient.HTTPException, ConnectionError, OSError)):
                http("GET", "http://127.0.0.1:%d%s/exchange/status" % (m.port, V2), timeout=3)

    def test_without_public_key(self):
        with Mock.start() as m:
            status, _, _ = m.request("GET", V2 + "/portfolio/balance")
            self.assertEqual(status, 200)
            h = signed_headers(PRIV, "GET", V2 + "/portfolio/balance")
            self.assertEqual(m.request("GET", V2 + "/portfolio/balance", headers=h)[0], 200)
            self.assertEqual([r["sig_valid"] for r in m.requests()], [False, False])

    def test_short_window_expires(self):
        with Mock.start(pubkey=PUB, priv=PRIV, extra_args=["--window-ms", "600"]) as m:
            gid = create_group(m, 10)
            create = V2 + "/portfolio/events/orders"
            m.signed_json("POST", create, v2_order(count="6", order_group_id=gid), expect=201)
            time.sleep(0.8)
            m.signed_json("POST", create, v2_order(count="6", order_group_id=gid), expect=201)
            self.assertFalse(m.state()["order_groups"][0]["triggered"])
            m.signed_json("POST", create, v2_order(count="6", order_group_id=gid), expect=201)
            self.assertTrue(m.state()["order_groups"][0]["triggered"])

    def test_stop_while_requests_hang(self):
        m = Mock.start()
        try:
            m.fault(mode="hang")
            errors = []

            def hang():
                try:
                    m.request("GET", V2 + "/exchange/status", timeout=30)
                except Exception as e:  # noqa: BLE001 - expected when the mock stops
                    errors.append(e)

            threads = [threading.Thread(target=hang) for _ in range(5)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 5
            while m.stats()["in_flight"] < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(m.stats()["in_flight"], 5)
            t0 = time.monotonic()
            m.stop()
            self.assertLess(time.monotonic() - t0, 3)
            for t in threads:
                t.join(5)
            self.assertEqual(len(errors), 5)
        finally:
            m.stop()

    def test_bad_command_line(self):
        exe = os.path.join(harness.gw_build(), "mock-exchange")
        for args in (["--bogus"], ["--listen", "nope"], ["--tls-cert", CERT],
                     ["--public-key", os.path.join(TMP, "missing.pem")]):
            res = subprocess.run([exe] + args + ["--listen=127.0.0.1:0"] * (args[0] != "--listen"),
                                 capture_output=True, timeout=10)
            self.assertNotEqual(res.returncode, 0, args)
            self.assertEqual(res.stdout, b"", args)


if __name__ == "__main__":
    unittest.main()
