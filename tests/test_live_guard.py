"""Issue 13, class 1: request targets a server could read two ways, and writes the spending guard cannot price.

Every test talks to 127.0.0.1; the "exchange" is a scripted upstream that keeps every request it read.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from decimal import Decimal
from unittest.mock import patch

import orjson
import pytest
from multidict import CIMultiDict

from proxy.exchanges.pricing import Unreadable
from proxy.record.guard import GuardAddon, SpendingGuard, json_media_type, names_method, order_amounts, overridden
from tests.proxy_helpers import fixtures_in, passing_through, recording, running_proxy
from tests.wire_helpers import Scripted, port_of, request, scripted

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
V2 = "/trade-api/v2/portfolio/events/orders"


def raw(method: bytes, target: bytes, body: bytes = b"", headers: bytes = b"") -> bytes:
    return (
        method
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + headers
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def poly_order(side: str, maker: int, taker: int) -> dict:
    return {
        "order": {"side": side, "makerAmount": str(maker), "takerAmount": str(taker)},
        "owner": "k",
        "orderType": "FAK",
    }


def kalshi_order(side: str = "bid", count: str = "1.00", price: str = "0.5000") -> dict:
    return {"ticker": "T", "side": side, "count": count, "price": price, "time_in_force": "immediate_or_cancel"}


# ---- request targets ------------------------------------------------------------------------------


REFUSED_TARGETS = [
    b"/order#x",  # a fragment: the paper exchange dropped it and filled the order unpriced
    b"/order;x=1",  # path parameters (Tomcat, Jetty read /order)
    b"/order%00",
    b"/order%252F",
    b"/order%2F",
    b"/ord%65r",  # an encoded letter: /order to a decoding server, something else to the guard
    b"/order%20",  # a trailing space
    b"/order%09",
    b"/a\\b",  # some servers read a backslash as a slash
    b"/x/../order",
    b"/x/./order",
    b"/%C0%AF",  # an overlong UTF-8 slash
    b"/caf%C3",  # a cut-off UTF-8 sequence
    b"/__tradetape%2Fstatus",
    b"/%5F%5Ftradetape/status",
    b"/__tradetape/status#x",
    b"/order?x=%00",
    b"/order?x=%0d%0a",
    b"/order?x=1;y=2",  # Go drops the whole query on a ';', other servers split there
    b"/order?x=%zz",
    b"/order?x=%",
]


@pytest.mark.parametrize("target", REFUSED_TARGETS)
async def test_a_target_a_server_could_read_two_ways_is_refused_before_anything_else(tmp_path, target):
    upstream = Scripted(OK)
    async with scripted(upstream) as url, running_proxy(url, recording(tmp_path / "s", "all")) as proxy:
        head, body = await request(port_of(proxy, "poly"), raw(b"POST", target, b"{}"))
        assert proxy.counts["forwarded"] == 0
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"X-Tradetape-Error: bad_target" in head
    assert target.decode("latin-1") in orjson.loads(body)["detail"]
    assert upstream.requests == []
    assert fixtures_in(tmp_path / "s") == []  # nothing to record: nothing happened


@pytest.mark.parametrize(
    "target",
    [
        b"/data/orders?market=0xabc&next_cursor=MA%3D%3D",
        b"/trade-api/v2/markets?x=%2F1&t=a%2Fb&q=%FF",
        b"/caf%C3%A9",  # a non-ASCII character can only be written encoded: one reading
        b"//order",  # a base URL with a trailing slash; the guard prices it as /order
        b"/__tradetape",
    ],
)
async def test_a_plain_target_is_forwarded_byte_for_byte(target):
    upstream = Scripted(OK)
    async with scripted(upstream) as url, running_proxy(url, passing_through()) as proxy:
        head, _ = await request(port_of(proxy, "poly"), raw(b"GET", target))
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert upstream.requests[0].startswith(b"GET " + target + b" HTTP/1.1\r\n")


# ---- the spending guard: priced, listed as harmless, or refused ----------------------------------


def guarded(tmp_path, order_usd: str = "10", session_usd: str = "50"):
    guard = SpendingGuard(Decimal(order_usd), Decimal(session_usd))
    return recording(tmp_path / "s", "all", addons=[GuardAddon(guard, Counter())])


async def test_an_order_with_a_fragment_never_reaches_the_exchange(tmp_path):
    """The issue's reproduction: POST /order#x with an order 4.9 x over the cap."""
    upstream = Scripted(OK, OK)
    body = orjson.dumps(poly_order("BUY", 49_000_000, 98_000_000))
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        fragment = await request(port_of(proxy, "poly"), raw(b"POST", b"/order#x", body))
        suffix = await request(port_of(proxy, "poly"), raw(b"POST", b"/order.json", body))
        dot = await request(port_of(proxy, "poly"), raw(b"POST", b"/order.", body))
    assert fragment[0].startswith(b"HTTP/1.1 400 ")
    for head, answer in (suffix, dot):
        assert head.startswith(b"HTTP/1.1 403 ") and b"X-Tradetape-Error: spending_guard" in head
        assert orjson.loads(answer)["detail"]["reason"] == "unlisted_write"
    assert upstream.requests == []


@pytest.mark.parametrize(
    "exchange, method, path",
    [
        ("poly", "POST", "/order.json"),
        ("poly", "POST", "/order."),
        ("poly", "POST", "/orderx"),
        ("poly", "PATCH", "/order"),
        ("poly", "PUT", "/orders"),
        ("poly", "POST", "/cancel-all"),  # a cancel endpoint, but not the cancel method
        ("poly", "POST", "/neg-risk/convert"),
        ("kalshi", "PUT", V2 + "/abc"),
        ("kalshi", "POST", V2 + "/abc/cancel"),
        ("kalshi", "POST", "/trade-api/v2/portfolio/order_groups/create"),
        ("kalshi", "POST", "/trade-api/v2/portfolio/subaccounts/transfer"),
        ("kalshi", "DELETE", "/trade-api/v2/portfolio/balance"),
    ],
)
def test_a_write_that_is_neither_priced_nor_listed_as_harmless_is_refused(exchange, method, path):
    refusal = SpendingGuard(Decimal(10), Decimal(50)).check(exchange, method, path, b"{}")
    assert refusal is not None and refusal.reason == "unlisted_write"
    assert f"{method} {path}" in refusal.detail["detail"]


@pytest.mark.parametrize(
    "exchange, method, path, body",
    [
        ("kalshi", "DELETE", V2 + "/abc", b""),  # cancel
        ("kalshi", "DELETE", V2 + "/batched", b'{"orders":[{"order_id":"abc"}]}'),  # batch cancel
        ("kalshi", "DELETE", V2, b""),  # cancel all
        ("kalshi", "POST", "/trade-api/v2/api_keys/generate", b'{"name":"bot","key_type":"ed25519"}'),
        ("kalshi", "DELETE", "/trade-api/v2/portfolio/orders/abc", b""),  # legacy cancel (410 today)
        ("poly", "DELETE", "/order", b'{"orderID":"0x1"}'),
        ("poly", "DELETE", "/orders", b'["0x1"]'),
        ("poly", "DELETE", "/cancel-all", b""),
        ("poly", "DELETE", "/cancel-market-orders", b'{"market":"0xabc"}'),
        ("poly", "POST", "/auth/api-key", b""),
        ("poly", "DELETE", "/auth/api-key", b""),
        ("poly", "POST", "/v1/heartbeats", b'{"heartbeat_id":""}'),
        ("poly", "POST", "/books", b'[{"token_id":"1"}]'),
        ("poly", "POST", "/orders-scoring", b'["0x1"]'),
        ("poly", "GET", "/balance-allowance/update?asset_type=COLLATERAL&signature_type=0", b""),
        ("poly", "GET", "/data/orders", b""),
        ("kalshi", "GET", "/trade-api/v2/portfolio/orders/abc", b""),
    ],
)
def test_listed_harmless_writes_and_reads_pass_unpriced(exchange, method, path, body):
    assert order_amounts(exchange, method, path, body) is None
    assert SpendingGuard(Decimal(10), Decimal(50)).check(exchange, method, path, body) is None


# ---- bodies read two ways ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exchange, path, body, why",
    [
        (
            "kalshi",
            V2 + "/batched",
            b'{"orders":[' + orjson.dumps(kalshi_order()) + b'],"ORDERS":['
            b'{"ticker":"T","side":"bid","count":"900.00","price":"0.9900","time_in_force":"immediate_or_cancel"}]}',
            "ORDERS",
        ),
        ("kalshi", V2, '{"side":"ask","count":"900.00","price":"0.0100","ſide":"bid"}'.encode(), "ſide"),
        ("kalshi", V2, '{"side":"bid","count":"900.00","price":"0.99","ｃｏｕｎｔ":"1.00"}'.encode(), "ｃｏｕｎｔ"),
        ("kalshi", V2, b'{"side":"bid","count":"900.00","count":"1.00","price":"0.99"}', "count"),
        ("kalshi", V2, b'{"side":"bid","count":NaN,"price":"0.99"}', "JSON"),
        ("kalshi", V2, b'\xef\xbb\xbf{"side":"bid","count":"1.00","price":"0.50"}', "JSON"),
        ("kalshi", V2, b'{"side":"bid","count":"1.00","price":"0.50"}{"count":"900"}', "JSON"),
        ("kalshi", V2 + "/batched", b'{"orders":{"0":{"side":"bid","count":"1.00","price":"0.50"}}}', "list"),
        (
            "poly",
            "/order",
            b'{"order":{"side":"BUY","makerAmount":"900000000","makerAmount":"1000000","takerAmount":"2000000"}}',
            "makerAmount",
        ),
        (
            "poly",
            "/order",
            b'{"order":{"side":"BUY","makerAmount":"1000000","takerAmount":"2000000"},'
            b'"Order":{"side":"BUY","makerAmount":"900000000","takerAmount":"990000000"}}',
            "Order",
        ),
        ("poly", "/order", orjson.dumps([poly_order("BUY", 1_000_000, 2_000_000)]), "object"),
        ("poly", "/orders", orjson.dumps({"0": poly_order("BUY", 1_000_000, 2_000_000)}), "list"),
    ],
)
def test_an_order_body_read_two_ways_is_refused_never_priced_on_one_reading(exchange, path, body, why):
    refusal = SpendingGuard(Decimal(10_000), Decimal(50_000)).check(exchange, "POST", path, body)
    assert refusal is not None and refusal.reason == "unreadable_order", refusal
    assert why in refusal.detail["detail"]


def test_a_key_only_a_case_folding_server_would_match_is_read_the_way_it_would():
    """Go matches JSON keys case-insensitively (and folds ſ to s): a lone "Count" is the count."""
    body = b'{"side":"bid","Count":"900.00","price":"0.5000"}'
    assert order_amounts("kalshi", "POST", V2, body) == [Decimal("450.000000")]


async def test_a_read_carrying_a_method_override_header_is_refused(tmp_path):
    upstream = Scripted(OK)
    body = orjson.dumps(poly_order("BUY", 49_000_000, 98_000_000))
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        head, answer = await request(
            port_of(proxy, "poly"), raw(b"GET", b"/order", body, b"X-HTTP-Method-Override: POST\r\n")
        )
    assert head.startswith(b"HTTP/1.1 403 ") and orjson.loads(answer)["detail"]["reason"] == "method_override"
    assert upstream.requests == []


V1 = "/trade-api/v2/portfolio/orders"  # the retired 2025 create (410 today, still sent by old clients)


def v1_order(**fields: object) -> bytes:
    return orjson.dumps({"ticker": "T", "type": "limit", "action": "buy", "side": "yes", **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"count": 10, "yes_price": 45}, Decimal("4.50")),
        ({"count_fp": "10.00", "yes_price_dollars": "0.4500"}, Decimal("4.50")),
        ({"count": 10, "count_fp": "10.00", "yes_price": 45, "yes_price_dollars": "0.4500"}, Decimal("4.50")),
    ],
)
def test_a_retired_kalshi_body_is_priced_when_its_spellings_agree(fields, expected):
    assert order_amounts("kalshi", "POST", V1, v1_order(**fields)) == [expected]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"count": 10, "yes_price": 45, "yes_price_dollars": "0.0100"}, "yes_price=45 and yes_price_dollars='0.0100'"),
        ({"count": 10, "count_fp": "1.00", "yes_price": 45}, "count=10 and count_fp='1.00' disagree"),
        ({"count": 10, "yes_price": 45, "no_price": 55}, "no_price on a yes order"),
        ({"count": 10, "no_price_dollars": "0.5500"}, "yes_price missing"),
    ],
)
def test_a_retired_kalshi_body_a_server_could_read_two_ways_is_refused(fields, why):
    with pytest.raises(Unreadable, match=why):
        order_amounts("kalshi", "POST", V1, v1_order(**fields))


# ---- review 29: orders the guard priced on a guess -----------------------------------------------


@pytest.mark.parametrize("spelling", ["1e3", "1E+1", " 10", "10 ", "1_0", "１０", "+10", "-0", ".5", "5.", "0x10"])
def test_a_number_not_written_as_plain_decimal_digits_is_unreadable(spelling):
    """Parsers disagree on exponents, signs, spaces, '_' and non-ASCII digits ("1e-2" is 0.01 to Python and 1 to
    one that stops at the 'e'): only the spelling every server reads alike is priced."""
    body = orjson.dumps(kalshi_order(count=spelling))
    with pytest.raises(Unreadable, match="count"):
        order_amounts("kalshi", "POST", V2, body)
    poly = orjson.dumps({"order": {"side": "BUY", "makerAmount": spelling, "takerAmount": "2000000"}})
    with pytest.raises(Unreadable, match="makerAmount"):
        order_amounts("poly", "POST", "/order", poly)


@pytest.mark.parametrize("side", [False, True, 0.0, 1.0, "buy", "Sell", None])
def test_a_polymarket_side_that_is_not_buy_sell_0_or_1_is_unreadable(side):
    """JSON false == 0 and true == 1 in Python: a boolean side was priced as a BUY or a SELL."""
    body = orjson.dumps({"order": {"side": side, "makerAmount": "100000000", "takerAmount": "99000000"}})
    with pytest.raises(Unreadable, match="side"):
        order_amounts("poly", "POST", "/order", body)


@pytest.mark.parametrize(("side", "expected"), [("BUY", "100"), (0, "100"), ("0", "100"), ("SELL", "1"), (1, "1")])
def test_a_polymarket_side_is_read_as_the_body_or_the_signed_struct_spells_it(side, expected):
    body = orjson.dumps({"order": {"side": side, "makerAmount": "100000000", "takerAmount": "99000000"}})
    assert order_amounts("poly", "POST", "/order", body) == [Decimal(expected)]


@pytest.mark.parametrize("kind", ["market", "MARKET", ""])
def test_a_retired_kalshi_order_that_is_not_a_limit_order_is_unreadable(kind):
    """A market order pays what the book asks (up to buy_max_cost), not the price it names: never priced."""
    with pytest.raises(Unreadable, match="type"):
        order_amounts("kalshi", "POST", V1, v1_order(type=kind, count=100, yes_price=1, buy_max_cost=10_000))


@pytest.mark.parametrize("kind", [{}, {"type": None}, {"Type": "limit"}])
def test_a_retired_kalshi_order_without_a_type_is_a_limit_order(kind):
    body = orjson.dumps({"ticker": "T", "action": "buy", "side": "yes", "count": 10, "yes_price": 45, **kind})
    assert order_amounts("kalshi", "POST", V1, body) == [Decimal("4.50")]


@pytest.mark.parametrize(
    "extra",
    [
        {"count_fp": "900.00"},
        {"yes_price_dollars": "0.9900"},
        {"no_price_dollars": "0.0100"},
        {"yes_price": 99},
        {"no_price": 1},
        {"action": "buy"},
        {"type": "market"},
        {"buy_max_cost": 90_000},
    ],
)
def test_a_kalshi_v2_order_carrying_a_retired_field_is_unreadable(extra):
    """A server that still honours a retired spelling (count_fp, a cents price, action) could read the order
    differently from `count`, `price` and `side`: two readings, so refused."""
    body = orjson.dumps(kalshi_order(side="ask", count="1.00", price="0.9900") | extra)
    with pytest.raises(Unreadable, match=next(iter(extra))):
        order_amounts("kalshi", "POST", V2, body)


async def test_an_order_refused_for_a_method_override_is_not_counted_against_the_session(tmp_path):
    guard = SpendingGuard(Decimal(10), Decimal(10))
    upstream = Scripted(OK)
    body = orjson.dumps(kalshi_order(count="10.00", price="0.9000"))
    addons = [GuardAddon(guard, Counter())]
    async with scripted(upstream) as url, running_proxy(url, recording(tmp_path / "s", "all", addons)) as proxy:
        head, answer = await request(
            port_of(proxy, "kalshi"), raw(b"POST", V2.encode(), body, b"X-HTTP-Method-Override: PUT\r\n")
        )
    assert head.startswith(b"HTTP/1.1 403 ") and orjson.loads(answer)["detail"]["reason"] == "method_override"
    assert upstream.requests == []
    assert guard.spent == 0
    assert guard.check("kalshi", "POST", V2, body) is None  # the session still has its whole $10


UPGRADE = b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"


def upgrade(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n" + UPGRADE + b"\r\n"


@pytest.mark.parametrize(
    ("exchange", "target"),
    [
        ("kalshi", b"/trade-api/ws/v3"),
        ("kalshi", b"/trade-api/v2/portfolio/events/orders"),
        ("poly", b"/ws/orders"),
        ("poly", b"/order"),
    ],
)
async def test_a_websocket_to_a_path_that_is_not_a_known_feed_is_refused_on_a_live_session(tmp_path, exchange, target):
    """The guard reads no WebSocket message: a socket it cannot tell carries no orders is a write it cannot price."""
    upstream = Scripted(OK)
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        head, answer = await request(port_of(proxy, exchange), upgrade(target))
    assert head.startswith(b"HTTP/1.1 403 ") and b"X-Tradetape-Error: spending_guard" in head, head
    assert orjson.loads(answer)["detail"]["reason"] == "unlisted_feed"
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("exchange", "target"),
    [
        ("kalshi", b"/trade-api/ws/v2"),
        ("kalshi", b"/trade-api/ws/v2/?x=1"),
        ("poly", b"/ws/market"),
        ("poly", b"/ws/user"),
    ],
)
async def test_a_websocket_to_a_known_feed_goes_through_a_live_session(tmp_path, exchange, target):
    upstream = Scripted(OK)
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        head, _ = await request(port_of(proxy, exchange), upgrade(target))
    assert head.startswith(b"HTTP/1.1 200 "), head  # the scripted exchange answered the upgrade itself
    assert upstream.requests[0].startswith(b"GET " + target + b" HTTP/1.1\r\n")


def framed(framing: bytes, body: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST " + V2.encode() + b" " + version + b"\r\nHost: x\r\nConnection: close\r\n" + framing + body


BIG = orjson.dumps(kalshi_order(count="100.00", price="0.9000"))  # $90: over the $10 cap


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            framed(
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % len(BIG),
                BIG + b"\r\n0\r\n\r\n",
            ),
            "max_order_usd",
        ),
        (
            framed(
                b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gzip.compress(BIG)), gzip.compress(BIG)
            ),
            "unreadable_order",
        ),
        (framed(b"\r\n", BIG, b"HTTP/1.0"), "unreadable_order"),  # no length: the body is not the request's
    ],
    ids=["chunked", "gzip", "http1.0-without-length"],
)
async def test_an_order_is_priced_on_the_body_the_exchange_would_read_whatever_its_framing(tmp_path, data, reason):
    upstream = Scripted(OK)
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        head, answer = await request(port_of(proxy, "kalshi"), data)
    assert head.startswith(b"HTTP/1.1 403 ") and orjson.loads(answer)["detail"]["reason"] == reason
    assert upstream.requests == []


async def test_concurrent_orders_racing_the_session_cap_never_pass_it_together(tmp_path):
    """Each order is counted before it is forwarded: 12 orders of $1 at once against a $5 session, 5 go out."""
    upstream = Scripted(*[OK] * 12)
    one_dollar = orjson.dumps(kalshi_order(count="2.00", price="0.5000"))
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path, "10", "5")) as proxy:
        port = port_of(proxy, "kalshi")
        answers = await asyncio.gather(*(request(port, raw(b"POST", V2.encode(), one_dollar, JSON)) for _ in range(12)))
    assert sum(head.startswith(b"HTTP/1.1 200 ") for head, _ in answers) == 5
    assert sum(b"max_session_usd" in answer for _, answer in answers) == 7
    assert len(upstream.requests) == 5


# ---- review 30: decreases read, bodies declared JSON, `_method` overrides ----------------------

JSON = b"Content-Type: application/json\r\n"
DECREASE = V2 + "/abc/decrease"
LEGACY_DECREASE = "/trade-api/v2/portfolio/orders/abc/decrease"  # retired 2025 (410 today): ints or _fp strings


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (DECREASE, {"reduce_by": "1.00"}),
        (DECREASE, {"reduce_to": "0"}),
        (DECREASE, {"reduce_to": "2.50", "exchange_index": -1, "market_ticker": "T"}),
        (DECREASE, {"reduce_by": "1.00", "reduce_to": None}),
        (V2 + "/abc/Decrease/", {"reduce_by": "1.00"}),
        (LEGACY_DECREASE, {"reduce_by": 3}),
        (LEGACY_DECREASE, {"reduce_to_fp": "0.00", "subaccount": 2, "exchange_index": 0}),
        (LEGACY_DECREASE, {"reduce_by": 3, "reduce_by_fp": "3.00"}),
    ],
)
def test_a_well_formed_decrease_costs_nothing(path, body):
    guard = SpendingGuard(Decimal(10), Decimal(50))
    assert order_amounts("kalshi", "POST", path, orjson.dumps(body)) == []
    assert guard.check("kalshi", "POST", path, orjson.dumps(body)) is None
    assert guard.spent == 0


@pytest.mark.parametrize(
    ("path", "body", "why"),
    [
        (DECREASE, b'{"reduce_by":"1.00","reduce_to":"0"}', "exactly one of reduce_by and reduce_to"),
        (DECREASE, b"{}", "exactly one of reduce_by and reduce_to"),
        (DECREASE, b'{"reduce_by":"1e3"}', "reduce_by"),
        (DECREASE, b'{"reduce_by":"-1"}', "reduce_by"),
        (DECREASE, b'{"reduce_to":-1}', "negative"),
        (DECREASE, b'{"reduce_by":true}', "reduce_by"),
        # an amend or create body sent to decrease: a server routing it otherwise would place it unpriced
        (DECREASE, b'{"reduce_by":"1.00","side":"bid","count":"900.00","price":"0.9900"}', "side"),
        (DECREASE, b'{"reduce_by_fp":"1.00"}', "reduce_by_fp"),  # a retired spelling on V2
        (DECREASE, b'{"reduce_by":"1.00","subaccount":1}', "subaccount"),  # V2 takes it in the query
        (DECREASE, b'{"reduce_by":"1.00","reduce_by":"2.00"}', "reduce_by"),
        (DECREASE, b'{"reduce_by":"1.00","Reduce_By":"900.00"}', "Reduce_By"),
        (DECREASE, b'["reduce_by","1.00"]', "object"),
        (DECREASE, b'"reduce_by"', "object"),
        (DECREASE, b"", "JSON"),
        (V2 + "/abc/DECREASE", b'{"reduce_by":"1.00","count":"900.00"}', "count"),
        (LEGACY_DECREASE, b'{"reduce_by":3,"reduce_by_fp":"30.00"}', "disagree"),
        (LEGACY_DECREASE, b'{"reduce_by":3,"reduce_to_fp":"0.00"}', "exactly one of reduce_by and reduce_to"),
        (LEGACY_DECREASE, b'{"reduce_by":3,"yes_price":99}', "yes_price"),
    ],
)
def test_a_decrease_that_is_not_plainly_a_decrease_is_unreadable(path, body, why):
    """A decrease only lowers exposure when its body is what it claims: one count, nothing that could be read as
    an order; anything else is refused like an order body the guard cannot read."""
    guard = SpendingGuard(Decimal(10_000), Decimal(50_000))
    refusal = guard.check("kalshi", "POST", path, body)
    assert refusal is not None and refusal.reason == "unreadable_order", refusal
    assert why in refusal.detail["detail"]
    assert guard.spent == 0


async def test_a_malformed_decrease_is_refused_before_the_exchange(tmp_path):
    upstream = Scripted(OK)
    body = b'{"reduce_by":"1.00","side":"bid","count":"900.00","price":"0.9900"}'
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        head, answer = await request(port_of(proxy, "kalshi"), raw(b"POST", DECREASE.encode(), body, JSON))
    assert head.startswith(b"HTTP/1.1 403 ") and b"X-Tradetape-Error: spending_guard" in head
    assert orjson.loads(answer)["detail"]["reason"] == "unreadable_order"
    assert upstream.requests == []


KALSHI_ONE_DOLLAR = orjson.dumps(kalshi_order(count="2.00", price="0.5000"))
POLY_ONE_DOLLAR = orjson.dumps(poly_order("BUY", 1_000_000, 2_000_000))


@pytest.mark.parametrize(
    "content_type",
    [
        b"",  # every official SDK and our clients declare JSON; a form binding would read the query instead
        b"Content-Type: application/x-www-form-urlencoded\r\n",
        b"Content-Type: multipart/form-data; boundary=x\r\n",
        b"Content-Type: text/plain\r\n",
        b"Content-Type: application/octet-stream\r\n",
        b"Content-Type: application/jsonx\r\n",
        b"Content-Type: application/json; charset=utf-16\r\n",
        b"Content-Type: application/json; charset=iso-8859-1\r\n",
        b"Content-Type: application/json; charset=utf-8; x=1\r\n",
        b"Content-Type: application/json, text/plain\r\n",
        b"Content-Type: application/json\r\nContent-Type: text/plain\r\n",
    ],
)
@pytest.mark.parametrize(
    ("exchange", "path", "body"),
    [
        ("kalshi", V2, KALSHI_ONE_DOLLAR),
        ("poly", "/order", POLY_ONE_DOLLAR),
        ("kalshi", DECREASE, b'{"reduce_to":"0"}'),
    ],
)
async def test_a_priced_write_not_declared_as_json_is_refused(tmp_path, content_type, exchange, path, body):
    """A server may read a body of another type (a form, another charset) otherwise than the guard did."""
    guard = SpendingGuard(Decimal(10), Decimal(10))
    upstream = Scripted(OK)
    addons = [GuardAddon(guard, Counter())]
    async with scripted(upstream) as url, running_proxy(url, recording(tmp_path / "s", "all", addons)) as proxy:
        head, answer = await request(port_of(proxy, exchange), raw(b"POST", path.encode(), body, content_type))
    assert head.startswith(b"HTTP/1.1 403 ") and b"X-Tradetape-Error: spending_guard" in head, head
    detail = orjson.loads(answer)["detail"]
    assert detail["reason"] == "unreadable_order" and "Content-Type" in detail["detail"]
    assert upstream.requests == []
    assert guard.spent == 0


@pytest.mark.parametrize(
    "content_type",
    [
        b"Content-Type: application/json\r\n",
        b"Content-Type: application/json; charset=utf-8\r\n",
        b"Content-Type: Application/JSON;charset=UTF-8\r\n",
    ],
)
@pytest.mark.parametrize(
    ("exchange", "path", "body"), [("kalshi", V2, KALSHI_ONE_DOLLAR), ("poly", "/order", POLY_ONE_DOLLAR)]
)
async def test_a_priced_write_declared_as_json_is_priced_and_forwarded(tmp_path, content_type, exchange, path, body):
    guard = SpendingGuard(Decimal(10), Decimal(10))
    upstream = Scripted(OK)
    addons = [GuardAddon(guard, Counter())]
    async with scripted(upstream) as url, running_proxy(url, recording(tmp_path / "s", "all", addons)) as proxy:
        head, _ = await request(port_of(proxy, exchange), raw(b"POST", path.encode(), body, content_type))
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert len(upstream.requests) == 1
    assert guard.spent == 1


@pytest.mark.parametrize(
    ("exchange", "method", "target", "body", "headers"),
    [
        ("poly", b"GET", b"/order?_method=POST", POLY_ONE_DOLLAR, b""),
        ("poly", b"GET", b"/order?_METHOD=post", POLY_ONE_DOLLAR, b""),
        ("poly", b"GET", b"/data/orders?market=0xabc&%5Fmethod=POST", POLY_ONE_DOLLAR, b""),
        ("poly", b"GET", b"/order?_method", POLY_ONE_DOLLAR, b""),
        ("poly", b"GET", b"/order?_method[]=POST", POLY_ONE_DOLLAR, b""),  # PHP reads _method[] as _method
        ("poly", b"GET", b"/order?.method=POST", POLY_ONE_DOLLAR, b""),  # and '.' or ' ' as '_'
        ("kalshi", b"POST", V2.encode() + b"?_Method=PUT", KALSHI_ONE_DOLLAR, JSON),
        ("kalshi", b"DELETE", V2.encode() + b"/abc?_method=POST", b"", b""),
        # a form body: Rails, Laravel and Symfony read `_method` there too
        (
            "poly",
            b"POST",
            b"/v1/heartbeats",
            b"heartbeat_id=&_method=DELETE",
            b"Content-Type: application/x-www-form-urlencoded\r\n",
        ),
    ],
)
async def test_a_method_override_in_the_query_or_a_form_body_is_refused(
    tmp_path, exchange, method, target, body, headers
):
    """Some frameworks run a request as the method `_method` names, like the X-HTTP-Method-Override family."""
    guard = SpendingGuard(Decimal(10), Decimal(10))
    upstream = Scripted(OK)
    addons = [GuardAddon(guard, Counter())]
    async with scripted(upstream) as url, running_proxy(url, recording(tmp_path / "s", "all", addons)) as proxy:
        head, answer = await request(port_of(proxy, exchange), raw(method, target, body, headers))
    assert head.startswith(b"HTTP/1.1 403 ") and b"X-Tradetape-Error: spending_guard" in head, head
    detail = orjson.loads(answer)["detail"]
    assert detail["reason"] == "method_override" and "_method" in detail["detail"]
    assert upstream.requests == []
    assert guard.spent == 0


@pytest.mark.parametrize("target", [b"/data/orders?method=POST", b"/data/orders?my_method=POST&_methods=x"])
async def test_a_query_parameter_merely_like_method_passes(tmp_path, target):
    upstream = Scripted(OK)
    async with scripted(upstream) as url, running_proxy(url, guarded(tmp_path)) as proxy:
        head, _ = await request(port_of(proxy, "poly"), raw(b"GET", target))
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert len(upstream.requests) == 1


# ---- review 31: Content-Type spellings, a large form body ---------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "application/json\u00a0",  # no-break space: Python's strip() drops it, a Go binder compares the type whole
        "application/json\u0085",
        "\u2003application/json",
        "application/json;\u00a0charset=utf-8",
        "application/json; charset=utf-8\u3000",
    ],
)
def test_a_json_content_type_padded_with_other_than_spaces_or_tabs_is_not_json(value):
    """Only HTTP's own whitespace (space, tab) around the type and parameter: a server that reads the header as it
    came (Gin picks its binding by the type before any ';' or ' ') takes such a type for another, and a form
    binding reads the order from the query."""
    assert not json_media_type(value)


@pytest.mark.parametrize("value", ["application/json", " application/json\t", "application/json ;\tcharset=UTF-8 "])
def test_a_json_content_type_with_spaces_or_tabs_is_json(value):
    assert json_media_type(value)


def test_a_large_form_body_is_checked_for_method_without_parsing_every_field():
    """A 16 MB form body of short fields: the check looks only at fields that may name `_method` (parsing each of
    millions of fields held the event loop for seconds)."""
    headers = CIMultiDict({"Content-Type": "application/x-www-form-urlencoded"})
    body = b"a=b&" * 4_000_000
    with patch("proxy.record.guard.names_method", wraps=names_method) as looked_at:
        assert overridden(headers, "/x", body + b"payment_method=card&a=method") is None
        refusal = overridden(headers, "/x", body + b"%5FMeth%6Fd=DELETE")
    assert refusal is not None and refusal.reason == "method_override"
    assert [call.args[0] for call in looked_at.call_args_list] == ["payment_method", "_Method"]
