"""End-to-end tests of orders.legacy (issue 5): legacy order mutations
(/portfolio/orders*) performed with the V2 endpoints.

The mock exchange runs with --legacy-retired, like today's Kalshi: every
legacy mutation is refused 400 "Please switch to the V2 endpoints", while
GET /portfolio/orders/{id} still answers. Each test checks what the MOCK
RECEIVED (V2 bodies parsed as JSON, and that no legacy mutation reached it)
and the mock's order book, not only the gateway's answers. The contract is
/work/shared/DESIGN.md ("Configuration" orders.legacy, "HTTP interface",
"Errors") and policy/legacy.h (the mapping).

Run: python3 tests/e2e/run.py -k Legacy -v
"""
import json
import shutil
import tempfile
import unittest

import harness
from gwharness import Gateway
from harness import Mock

KEY_ID = "test-key-id"
V2 = "/trade-api/v2"
TICKER = "KXMOCK-26DEC31-A"
LEGACY = V2 + "/portfolio/orders"
LEGACY_BATCH = LEGACY + "/batched"
EVENTS = V2 + "/portfolio/events/orders"
EVENTS_BATCH = EVENTS + "/batched"
SANITIZER_WORDS = ("AddressSanitizer", "runtime error", "LeakSanitizer")


def legacy_order(**kw):
    """A legacy create that rests on the mock's empty book (good till
    canceled, buy yes at 30 cents); kw overrides, None removes a member."""
    body = {"ticker": TICKER, "side": "yes", "action": "buy", "count": 3, "yes_price": 30,
            "time_in_force": "good_till_canceled"}
    for k, v in kw.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


class LegacyBase(unittest.TestCase):
    """One retired-legacy mock and one gateway per class; session "default"
    started when start_session is set."""

    config = {}
    start_session = True
    session_subaccount = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test-legacy-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.priv, cls.pub = harness.gen_keypair(cls.tmp)
        cls.mock = Mock.start(pubkey=cls.pub, key_id=KEY_ID, priv=cls.priv,
                              extra_args=["--legacy-retired"])
        cls.addClassCleanup(cls._stop_mock)
        cfg = {"rate_limit": {"tier": "off"}}
        for k, v in cls.config.items():
            if isinstance(v, dict):
                cfg.setdefault(k, {}).update(v)
            else:
                cfg[k] = v
        cls.gw = Gateway.start(mock=cls.mock, keys=(cls.priv, cls.pub), config=cfg)
        cls.addClassCleanup(cls._stop_gw)
        cls.gw.wait_ready(timeout=15)
        cls.gid = None
        if cls.start_session:
            st, _, doc = cls.gw.json("POST", "/session/start",
                                     {"contracts_limit": 100000,
                                      "subaccount": cls.session_subaccount})
            if st != 201:
                raise AssertionError("cannot start a session: %s %s" % (st, doc))
            cls.gid = doc["session"]["order_group_id"]

    @classmethod
    def _stop_mock(cls):
        try:
            bad = [(r["method"], r["path"]) for r in cls.mock.requests() if not r["sig_valid"]]
        finally:
            cls.mock.stop()
        if bad:
            raise AssertionError("requests with an invalid signature reached the mock: %s" % bad)

    @classmethod
    def _stop_gw(cls):
        rc = cls.gw.stop()
        logs = cls.gw.logs()
        for w in SANITIZER_WORDS:
            if w in logs:
                raise AssertionError("sanitizer report in the gateway log:\n" + logs[-6000:])
        if rc != 0:
            raise AssertionError("gateway exit code %s: %s" % (rc, logs[-3000:]))

    def setUp(self):
        self.mock.clear_fault()
        self.mock.clear()

    # --- helpers --------------------------------------------------------------
    def call(self, method, path, body=None, headers=None):
        return self.gw.json(method, path, body, headers)

    def reqs(self, method=None, path=None, prefix=None):
        out = []
        for r in self.mock.requests():
            if method and r["method"] != method:
                continue
            if path is not None and r["path"] != path:
                continue
            if prefix is not None and not r["path"].startswith(prefix):
                continue
            out.append(r)
        return out

    def only_v2_mutations(self):
        """Asserts that no legacy mutation reached the mock (only reads of
        /portfolio/orders/{id}); returns the mutations it received."""
        muts = [r for r in self.mock.requests() if r["method"] != "GET"]
        for r in muts:
            self.assertTrue(r["path"].startswith(EVENTS),
                            "a legacy mutation reached the mock: %s %s" % (r["method"], r["path"]))
            self.assertNotIn("Please switch", json.dumps(r), r)
        return muts

    def one_write(self, method, path):
        """The one mutation the mock received, with its body parsed."""
        muts = self.only_v2_mutations()
        self.assertEqual([(r["method"], r["path"]) for r in muts], [(method, path)])
        r = muts[0]
        r["json"] = json.loads(r["body"]) if r["body"] else None
        return r

    def mock_order(self, order_id):
        for o in self.mock.state()["orders"]:
            if o["order_id"] == order_id:
                return o
        self.fail("the mock has no order %s" % order_id)

    def assert_rejected(self, st, hd, doc, status, code):
        self.assertEqual(st, status, doc)
        self.assertEqual(hd.get("x-gateway-rejected"), "1", hd)
        self.assertIsInstance(doc, dict, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])

    def assert_legacy_order(self, o, order_id=None, status=None, side=None, action=None):
        """The legacy Order shape a bot reads (kalshi-typescript order.ts)."""
        self.assertIsInstance(o, dict, o)
        for f in ("order_id", "ticker", "status", "side", "action", "client_order_id",
                  "yes_price_dollars", "no_price_dollars", "fill_count_fp",
                  "remaining_count_fp", "created_time"):
            self.assertIn(f, o, "legacy Order lacks %r: %s" % (f, o))
        self.assertEqual(o["ticker"], TICKER)
        if order_id is not None:
            self.assertEqual(o["order_id"], order_id)
        if status is not None:
            self.assertEqual(o["status"], status, o)
        if side is not None:
            self.assertEqual(o["side"], side, o)
        if action is not None:
            self.assertEqual(o["action"], action, o)

    def place(self, **kw):
        """Places a resting legacy order through the gateway; returns its id."""
        st, hd, doc = self.call("POST", LEGACY, legacy_order(**kw))
        self.assertEqual(st, 201, doc)
        return doc["order"]["order_id"]


class LegacyTranslateTest(LegacyBase):
    """orders.legacy = translate (the default) against a retired-legacy exchange."""

    def test_create_buy_yes_cents(self):
        st, hd, doc = self.call("POST", LEGACY, legacy_order(client_order_id="bot-1"))
        self.assertEqual(st, 201, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.assertEqual(list(doc), ["order"], doc)
        o = doc["order"]
        self.assert_legacy_order(o, status="resting", side="yes", action="buy")
        self.assertEqual(o["client_order_id"], "bot-1")
        self.assertEqual(o["yes_price_dollars"], "0.3000")
        self.assertEqual(o["remaining_count_fp"], "3.00")
        self.assertEqual(o["order_group_id"], self.gid)
        w = self.one_write("POST", EVENTS)
        self.assertEqual(w["json"], {
            "ticker": TICKER, "side": "bid", "count": "3.00", "price": "0.3000",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross", "client_order_id": "bot-1",
            "order_group_id": self.gid, "subaccount": 0})
        # the Order was completed with one GET of the new order
        self.assertEqual(len(self.reqs("GET", LEGACY + "/" + o["order_id"])), 1)
        m = self.mock_order(o["order_id"])
        self.assertEqual((m["status"], m["order_group_id"]), ("resting", self.gid))

    def test_create_sell_no_dollars_fractional(self):
        body = legacy_order(side="no", action="sell", yes_price=None, count=None,
                            no_price_dollars="0.6500", count_fp="2.50")
        st, hd, doc = self.call("POST", LEGACY, body)
        self.assertEqual(st, 201, doc)
        o = doc["order"]
        self.assert_legacy_order(o, status="resting")
        # sell no = a bid on YES: same book side as buy yes
        self.assertEqual((o["book_side"], o["outcome_side"]), ("bid", "yes"))
        self.assertEqual(o["yes_price_dollars"], "0.3500")
        self.assertEqual(o["remaining_count_fp"], "2.50")
        w = self.one_write("POST", EVENTS)
        self.assertEqual((w["json"]["side"], w["json"]["price"], w["json"]["count"]),
                         ("bid", "0.3500", "2.50"))
        self.assertEqual(w["json"]["order_group_id"], self.gid)
        self.assertIn("client_order_id", w["json"])   # filled in by the gateway
        for k in ("no_price_dollars", "count_fp", "action", "yes_price"):
            self.assertNotIn(k, w["json"])

    def test_create_buy_no_is_an_ask(self):
        st, _, doc = self.call("POST", LEGACY, legacy_order(side="no", yes_price=None, no_price=60))
        self.assertEqual(st, 201, doc)
        w = self.one_write("POST", EVENTS)
        self.assertEqual((w["json"]["side"], w["json"]["price"]), ("ask", "0.4000"))
        self.assertEqual(doc["order"]["book_side"], "ask")

    def test_batch_create(self):
        body = {"orders": [legacy_order(client_order_id="b-1", yes_price=21),
                           legacy_order(client_order_id="b-2", side="no", yes_price=None,
                                        no_price=75, count_fp="1.50", count=None)]}
        st, hd, doc = self.call("POST", LEGACY_BATCH, body)
        self.assertEqual(st, 201, doc)
        w = self.one_write("POST", EVENTS_BATCH)
        sent = w["json"]["orders"]
        self.assertEqual([(o["side"], o["price"], o["count"], o["client_order_id"]) for o in sent],
                         [("bid", "0.2100", "3.00", "b-1"), ("ask", "0.2500", "1.50", "b-2")])
        for o in sent:
            self.assertEqual((o["order_group_id"], o["subaccount"]), (self.gid, 0))
        self.assertEqual([e["client_order_id"] for e in doc["orders"]], ["b-1", "b-2"])
        for e in doc["orders"]:
            self.assert_legacy_order(e["order"], status="resting")
            self.assertNotIn("error", e)
            self.assertEqual(self.mock_order(e["order"]["order_id"])["order_group_id"], self.gid)
        self.assertEqual(len(self.reqs("GET", prefix=LEGACY + "/")), 2)

    def test_amend_price(self):
        oid = self.place(yes_price=30, count=5, client_order_id="am-1")
        self.mock.clear()
        st, hd, doc = self.call("POST", LEGACY + "/%s/amend" % oid,
                                {"ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 33,
                                 "client_order_id": "am-1", "updated_client_order_id": "am-2"})
        self.assertEqual(st, 200, doc)
        w = self.one_write("POST", EVENTS + "/%s/amend" % oid)
        # the count left out means "unchanged": taken from the order as it was
        self.assertEqual(w["json"], {"ticker": TICKER, "side": "bid", "price": "0.3300",
                                     "count": "5.00", "client_order_id": "am-1",
                                     "updated_client_order_id": "am-2"})
        gets = [r for r in self.mock.requests() if r["method"] == "GET"]
        self.assertEqual(len(gets), 2, "one GET before and one after the amend")
        self.assertLess(gets[0]["seq"], w["seq"])
        self.assertGreater(gets[1]["seq"], w["seq"])
        self.assert_legacy_order(doc["old_order"], order_id=oid)
        self.assertEqual(doc["old_order"]["yes_price_dollars"], "0.3000")
        self.assert_legacy_order(doc["order"], status="resting")
        self.assertEqual(doc["order"]["yes_price_dollars"], "0.3300")
        self.assertEqual(doc["order"]["client_order_id"], "am-2")
        m = self.mock_order(doc["order"]["order_id"])
        self.assertEqual(m["yes_price_dollars"], "0.3300")

    def test_amend_count_and_no_price(self):
        oid = self.place(side="no", yes_price=None, no_price=80, count=4)
        self.mock.clear()
        st, _, doc = self.call("POST", LEGACY + "/%s/amend" % oid,
                               {"ticker": TICKER, "side": "no", "action": "buy", "no_price": 78,
                                "count": 6})
        self.assertEqual(st, 200, doc)
        w = self.one_write("POST", EVENTS + "/%s/amend" % oid)
        self.assertEqual((w["json"]["side"], w["json"]["price"], w["json"]["count"]),
                         ("ask", "0.2200", "6.00"))
        self.assertEqual(doc["order"]["remaining_count_fp"], "6.00")

    def test_decrease(self):
        oid = self.place(count=5)
        self.mock.clear()
        st, _, doc = self.call("POST", LEGACY + "/%s/decrease" % oid, {"reduce_by": 2})
        self.assertEqual(st, 200, doc)
        w = self.one_write("POST", EVENTS + "/%s/decrease" % oid)
        self.assertEqual(w["json"], {"reduce_by": "2.00"})
        self.assert_legacy_order(doc["order"], order_id=oid, status="resting")
        self.assertEqual(doc["order"]["remaining_count_fp"], "3.00")
        self.assertEqual(self.mock_order(oid)["remaining_count_fp"], "3.00")
        # reduce_to_fp
        self.mock.clear()
        st, _, doc = self.call("POST", LEGACY + "/%s/decrease" % oid, {"reduce_to_fp": "1.50"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.one_write("POST", EVENTS + "/%s/decrease" % oid)["json"],
                         {"reduce_to": "1.50"})
        self.assertEqual(self.mock_order(oid)["remaining_count_fp"], "1.50")

    def test_cancel(self):
        oid = self.place()
        self.mock.clear()
        st, hd, doc = self.call("DELETE", LEGACY + "/" + oid)
        self.assertEqual(st, 200, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.one_write("DELETE", EVENTS + "/" + oid)
        self.assert_legacy_order(doc["order"], order_id=oid, status="canceled")
        self.assertEqual(doc["reduced_by_fp"], "3.00")
        self.assertEqual(self.mock_order(oid)["status"], "canceled")
        # a second cancel: the exchange's 404 is relayed as it is
        self.mock.clear()
        st, hd, doc = self.call("DELETE", LEGACY + "/" + oid)
        self.assertEqual(st, 404, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.only_v2_mutations()

    def test_cancel_keeps_the_query(self):
        oid = self.place()
        self.mock.clear()
        st, _, doc = self.call("DELETE", LEGACY + "/" + oid + "?subaccount=0")
        self.assertEqual(st, 200, doc)
        w = self.one_write("DELETE", EVENTS + "/" + oid)
        self.assertEqual(w["query"], "subaccount=0")

    def test_batch_cancel_both_forms(self):
        a, b, c = self.place(yes_price=11), self.place(yes_price=12), self.place(yes_price=13)
        self.mock.clear()
        # the deprecated {"ids": [...]} form
        st, _, doc = self.call("DELETE", LEGACY_BATCH, {"ids": [a, b]})
        self.assertEqual(st, 200, doc)
        w = self.one_write("DELETE", EVENTS_BATCH)
        self.assertEqual(w["json"], {"orders": [{"order_id": a}, {"order_id": b}]})
        self.assertEqual([e["order_id"] for e in doc["orders"]], [a, b])
        for e in doc["orders"]:
            self.assertEqual(e["reduced_by_fp"], "3.00")
            self.assert_legacy_order(e["order"], order_id=e["order_id"], status="canceled")
        # the {"orders": [...]} form
        self.mock.clear()
        st, _, doc = self.call("DELETE", LEGACY_BATCH, {"orders": [{"order_id": c}]})
        self.assertEqual(st, 200, doc)
        w = self.one_write("DELETE", EVENTS_BATCH)
        self.assertEqual(w["json"], {"orders": [{"order_id": c}]})
        for oid in (a, b, c):
            self.assertEqual(self.mock_order(oid)["status"], "canceled")
        # both forms at once: refused, nothing sent
        self.mock.clear()
        st, hd, doc = self.call("DELETE", LEGACY_BATCH, {"ids": [a], "orders": [{"order_id": b}]})
        self.assert_rejected(st, hd, doc, 400, "invalid_order")
        self.assertEqual(self.mock.requests(), [])

    def test_untranslatable_refused_nothing_sent(self):
        cases = [
            (LEGACY, legacy_order(no_price=70), ("yes_price", "no_price")),
            (LEGACY, legacy_order(sell_position_floor=5), ("reduce_only",)),
            (LEGACY, legacy_order(type="market"), ("market",)),
            (LEGACY, legacy_order(count=2, count_fp="3.00"), ("count",)),
            (LEGACY, legacy_order(unknown_field=1), ("unknown_field",)),
            (LEGACY_BATCH, {"orders": [legacy_order(), legacy_order(type="market")]}, ("market",)),
        ]
        for path, body, words in cases:
            with self.subTest(body=body):
                st, hd, doc = self.call("POST", path, body)
                self.assert_rejected(st, hd, doc, 400, "invalid_order")
                msg = doc["error"]["message"]
                for word in words:
                    self.assertIn(word, msg)
        st, hd, doc = self.call("POST", LEGACY_BATCH,
                                {"orders": [legacy_order(), legacy_order(type="market")]})
        self.assertEqual(doc["error"].get("index"), 1, doc)
        oid = self.place()
        self.mock.clear()
        for path, body in ((LEGACY + "/%s/decrease" % oid, {"reduce_by": 1, "reduce_to": 1}),
                           (LEGACY + "/%s/decrease" % oid, {"reduce_by": 1.0}),
                           (LEGACY + "/%s/amend" % oid, {"ticker": TICKER, "side": "yes",
                                                         "action": "buy", "yes_price": 31,
                                                         "no_price": 69})):
            with self.subTest(path=path, body=body):
                st, hd, doc = self.call("POST", path, body)
                self.assert_rejected(st, hd, doc, 400, "invalid_order")
        self.assertEqual(self.only_v2_mutations(), [])
        self.assertEqual(self.mock_order(oid)["remaining_count_fp"], "3.00")

    def test_strict_json(self):
        for body, code in (('{"ticker": ', "invalid_json"),
                           (json.dumps(legacy_order(yes_price=30.0)), "invalid_order"),
                           ('{"ticker":"%s","ticker":"%s","side":"yes","action":"buy","count":1,'
                            '"yes_price":30}' % (TICKER, TICKER), "invalid_order")):
            with self.subTest(body=body):
                st, hd, doc = self.call("POST", LEGACY, body)
                self.assert_rejected(st, hd, doc, 400, code)
        self.assertEqual(self.mock.requests(), [])

    def test_group_mismatch_and_limits_apply(self):
        st, hd, doc = self.call("POST", LEGACY, legacy_order(order_group_id="someone-else"))
        self.assert_rejected(st, hd, doc, 403, "order_group_mismatch")
        st, hd, doc = self.call("POST", LEGACY, legacy_order(subaccount=7))
        self.assert_rejected(st, hd, doc, 403, "order_group_mismatch")
        self.assertEqual(self.mock.requests(), [])

    def test_legacy_bot_lifecycle(self):
        """A legacy bot places, amends, decreases and cancels through the
        gateway while the exchange refuses every legacy mutation."""
        st, _, doc = self.call("POST", LEGACY, legacy_order(count=10, yes_price=25,
                                                            client_order_id="life-1"))
        self.assertEqual(st, 201, doc)
        oid = doc["order"]["order_id"]
        self.assertEqual(doc["order"]["status"], "resting")
        st, _, doc = self.call("POST", LEGACY + "/%s/amend" % oid,
                               {"ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 27,
                                "count": 10, "client_order_id": "life-1",
                                "updated_client_order_id": "life-2"})
        self.assertEqual(st, 200, doc)
        oid = doc["order"]["order_id"]
        self.assertEqual(doc["order"]["yes_price_dollars"], "0.2700")
        st, _, doc = self.call("POST", LEGACY + "/%s/decrease" % oid, {"reduce_to": 4})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["order"]["remaining_count_fp"], "4.00")
        st, _, doc = self.call("GET", LEGACY + "/" + oid)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["order"]["remaining_count_fp"], "4.00")
        st, _, doc = self.call("DELETE", LEGACY + "/" + oid)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["order"]["status"], "canceled")
        m = self.mock_order(oid)
        self.assertEqual((m["status"], m["yes_price_dollars"], m["order_group_id"]),
                         ("canceled", "0.2700", self.gid))
        muts = self.only_v2_mutations()
        self.assertEqual([r["path"] for r in muts],
                         [EVENTS, EVENTS + "/%s/amend" % oid, EVENTS + "/%s/decrease" % oid,
                          EVENTS + "/" + oid])
        # nothing answered the retired-legacy refusal
        for r in self.mock.requests():
            self.assertNotEqual(r["status"], 400, r)

    def test_soft_rejection_and_bad_reply(self):
        # 201 with an error object instead of the order: an explicit error
        self.mock.fault(mode="status", status=201, count=1, path_prefix=EVENTS,
                        body=json.dumps({"error": {"code": "market_closed",
                                                   "message": "market is closed"}}))
        st, hd, doc = self.call("POST", LEGACY, legacy_order())
        self.assert_rejected(st, hd, doc, 400, "market_closed")
        self.assertEqual(doc["error"]["upstream"]["code"], "market_closed")
        # 201 with neither: 502, the outcome unknown
        self.mock.fault(mode="status", status=201, count=1, path_prefix=EVENTS, body="{}")
        st, hd, doc = self.call("POST", LEGACY, legacy_order())
        self.assert_rejected(st, hd, doc, 502, "upstream_bad_reply")
        self.assertEqual(hd.get("x-gateway-outcome"), "unknown")

    def test_failed_get_gives_a_partial_order(self):
        self.mock.fault(mode="status", status=500, count=1, path_prefix=LEGACY + "/", body="{}")
        st, hd, doc = self.call("POST", LEGACY, legacy_order(client_order_id="part-1"))
        self.assertEqual(st, 201, doc)
        o = doc["order"]
        self.assertEqual((o["client_order_id"], o["ticker"], o["status"], o["side"], o["action"]),
                         ("part-1", TICKER, "resting", "yes", "buy"))
        self.assertEqual(self.mock_order(o["order_id"])["status"], "resting")

    def test_upstream_errors_relayed(self):
        # 4xx on the V2 call: relayed unchanged
        self.mock.fault(mode="status", status=409, count=1, path_prefix=EVENTS,
                        body=json.dumps({"error": {"code": "order_already_exists",
                                                   "message": "dup"}}))
        st, hd, doc = self.call("POST", LEGACY, legacy_order())
        self.assertEqual(st, 409, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.assertEqual(doc["error"]["code"], "order_already_exists")
        # 5xx on a write: relayed with an unknown outcome
        self.mock.fault(mode="status", status=503, count=1, path_prefix=EVENTS, body="{}")
        st, hd, doc = self.call("POST", LEGACY, legacy_order())
        self.assertEqual(st, 503, doc)
        self.assertEqual(hd.get("x-gateway-outcome"), "unknown")
        # amend of an order that does not exist: the GET's 404, nothing sent
        self.mock.clear()
        st, hd, doc = self.call("POST", LEGACY + "/no-such-order/amend",
                                {"ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 20})
        self.assertEqual(st, 404, doc)
        self.assertEqual(self.only_v2_mutations(), [])

    def test_read_only_client_forbidden(self):
        # roles still apply: a legacy call is checked before translation
        # (anonymous admin here; roles are covered in test_policy) and the
        # legacy GET list is a plain read
        st, _, doc = self.call("GET", LEGACY + "?limit=1")
        self.assertEqual(st, 200, doc)
        self.assertEqual([(r["method"], r["path"]) for r in self.mock.requests()], [("GET", LEGACY)])


class LegacyTimeoutTest(LegacyBase):
    """Failure handling of each transfer is kept."""

    config = {"upstream": {"timeout_ms": 700}}

    def test_write_timeout_unknown_outcome(self):
        self.mock.fault(mode="hang", delay_ms=3000, count=1, path_prefix=EVENTS, process=True)
        st, hd, doc = self.call("POST", LEGACY, legacy_order())
        self.assert_rejected(st, hd, doc, 504, "upstream_timeout")
        self.assertEqual(hd.get("x-gateway-outcome"), "unknown")

    def test_get_timeout_still_answers(self):
        self.mock.fault(mode="hang", delay_ms=3000, count=1, path_prefix=LEGACY + "/")
        st, hd, doc = self.call("POST", LEGACY, legacy_order(client_order_id="slow-get"))
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["order"]["client_order_id"], "slow-get")

    def test_amend_get_before_timeout(self):
        oid = self.place()
        self.mock.clear()
        self.mock.fault(mode="hang", delay_ms=3000, count=1, path_prefix=LEGACY + "/")
        # price without count needs the current order: the failed read is
        # answered, the amend is never sent
        st, hd, doc = self.call("POST", LEGACY + "/%s/amend" % oid,
                                {"ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 31})
        self.assert_rejected(st, hd, doc, 504, "upstream_timeout")
        self.assertNotIn("x-gateway-outcome", hd)
        self.assertEqual(self.only_v2_mutations(), [])
        # with price and count it goes on without it
        self.mock.fault(mode="hang", delay_ms=3000, count=1, path_prefix=LEGACY + "/")
        st, hd, doc = self.call("POST", LEGACY + "/%s/amend" % oid,
                                {"ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 31,
                                 "count": 3})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["order"]["yes_price_dollars"], "0.3100")


class LegacyNoSessionTest(LegacyBase):
    """Session checks apply to translated creates; cancels and decreases are
    never blocked by session state."""

    start_session = False

    def test_create_needs_a_session_cancel_does_not(self):
        st, hd, doc = self.call("POST", LEGACY, legacy_order())
        self.assert_rejected(st, hd, doc, 409, "no_active_session")
        self.assertEqual(self.mock.requests(), [])
        # an order placed directly on the mock, outside any session
        st, placed = self.mock.signed_json("POST", EVENTS, {
            "ticker": TICKER, "side": "bid", "count": "4.00", "price": "0.2000",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross"}, expect=201)
        oid = placed["order_id"]
        self.mock.clear()
        st, _, doc = self.call("POST", LEGACY + "/%s/decrease" % oid, {"reduce_by": 1})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.call("DELETE", LEGACY + "/" + oid)
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.mock_order(oid)["status"], "canceled")
        self.only_v2_mutations()


class LegacyLimitsTest(LegacyBase):
    """Every policy check applies to the translated order."""

    config = {"limits": {"max_order_contracts": "10", "max_price": "0.9000"}}

    def test_limits(self):
        st, hd, doc = self.call("POST", LEGACY, legacy_order(count=11))
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(doc["error"]["limit"], "max_order_contracts")
        self.assertEqual(doc["error"]["requested"], "11.00")
        # buy no at 5 cents = YES 0.95, over max_price
        st, hd, doc = self.call("POST", LEGACY, legacy_order(side="no", yes_price=None, no_price=5))
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(doc["error"]["limit"], "max_price")
        st, hd, doc = self.call("POST", LEGACY_BATCH,
                                {"orders": [legacy_order(), legacy_order(count_fp="10.50", count=None)]})
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(doc["error"].get("index"), 1, doc)
        self.assertEqual(self.mock.requests(), [])
        oid = self.place(count=10)
        self.mock.clear()
        # the amend's new total is checked too
        st, hd, doc = self.call("POST", LEGACY + "/%s/amend" % oid,
                                {"ticker": TICKER, "side": "yes", "action": "buy", "count": 12})
        self.assert_rejected(st, hd, doc, 403, "limit_exceeded")
        self.assertEqual(self.only_v2_mutations(), [])
        # the session counts them like V2 orders: every order of a refused
        # batch, not the amend (no new order)
        st, _, doc = self.call("GET", "/session")
        s = doc["session"]
        self.assertEqual((s["orders_accepted"], s["orders_rejected"]), ("1.00", "4.00"))


class LegacyPassTest(LegacyBase):
    """orders.legacy = pass: the legacy call goes to the exchange unchanged
    (still injected and checked); the retired exchange refuses it."""

    config = {"orders": {"legacy": "pass"}}

    def test_pass_unchanged(self):
        st, hd, doc = self.call("POST", LEGACY, legacy_order(client_order_id="p-1"))
        self.assertEqual(st, 400, doc)
        self.assertNotIn("x-gateway-rejected", hd)
        self.assertIn("Please switch to the V2 endpoints", json.dumps(doc))
        got = self.mock.requests()
        self.assertEqual([(r["method"], r["path"]) for r in got], [("POST", LEGACY)])
        body = json.loads(got[0]["body"])
        self.assertEqual(body["order_group_id"], self.gid)
        self.assertEqual((body["side"], body["action"], body["yes_price"], body["count"]),
                         ("yes", "buy", 30, 3))
        self.mock.clear()
        st, hd, doc = self.call("DELETE", LEGACY + "/some-order")
        self.assertEqual(st, 400, doc)
        self.assertEqual([(r["method"], r["path"]) for r in self.mock.requests()],
                         [("DELETE", LEGACY + "/some-order")])
        # still checked
        self.mock.clear()
        st, hd, doc = self.call("POST", LEGACY, legacy_order(order_group_id="other"))
        self.assert_rejected(st, hd, doc, 403, "order_group_mismatch")
        self.assertEqual(self.mock.requests(), [])


class LegacyRejectTest(LegacyBase):
    """orders.legacy = reject: 400 naming the V2 endpoint; nothing sent."""

    config = {"orders": {"legacy": "reject"}}

    def test_reject_names_v2(self):
        oid = "00000000-0000-0000-0000-000000000001"
        cases = [("POST", LEGACY, legacy_order(), "/portfolio/events/orders"),
                 ("POST", LEGACY_BATCH, {"orders": [legacy_order()]}, "/portfolio/events/orders/batched"),
                 ("POST", LEGACY + "/%s/amend" % oid, {"ticker": TICKER}, "/amend"),
                 ("POST", LEGACY + "/%s/decrease" % oid, {"reduce_by": 1}, "/decrease"),
                 ("DELETE", LEGACY + "/" + oid, None, "/portfolio/events/orders/"),
                 ("DELETE", LEGACY_BATCH, {"ids": [oid]}, "/portfolio/events/orders/batched")]
        for method, path, body, word in cases:
            with self.subTest(method=method, path=path):
                st, hd, doc = self.call(method, path, body)
                self.assert_rejected(st, hd, doc, 400, "invalid_order")
                self.assertIn(word, doc["error"]["message"])
                self.assertIn("V2", doc["error"]["message"].upper())
        self.assertEqual(self.mock.requests(), [])
        # reads of /portfolio/orders are not mutations: forwarded
        st, _, doc = self.call("GET", LEGACY)
        self.assertEqual(st, 200, doc)


if __name__ == "__main__":
    unittest.main()
