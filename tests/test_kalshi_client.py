"""KalshiClient against a local aiohttp app standing in for Kalshi on 127.0.0.1.

The stand-in checks every request's signature the way Kalshi does (public key, path from the host
root, no query) and answers from a per-test script, mostly with real payload bodies.
"""

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from client_helpers import Reply, ScriptedExchange, closed_port_url
from corpus import payload_dir
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clients import errors
from clients.kalshi import KalshiClient, OrderSpec
from clients.kalshi.client import DEFAULT_BASE_URL

PAYLOADS = payload_dir("kalshi")
PREFIX = "/trade-api/v2"
KEY_ID = "3f1c0d3e-0000-4000-8000-000000000001"
TICKER = "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP"
VERIFY_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())["payload"]


def signature_check(public_key: rsa.RSAPublicKey) -> Callable[[web.Request, bytes], bool]:
    """Kalshi's check: RSA-PSS over timestamp + METHOD + path from the host root, without the query."""

    def verify(request: web.Request, raw: bytes) -> bool:
        try:
            ts = request.headers["KALSHI-ACCESS-TIMESTAMP"]
            assert request.headers["KALSHI-ACCESS-KEY"] == KEY_ID
            message = f"{ts}{request.method}{request.raw_path.split('?')[0]}".encode()
            signature = base64.b64decode(request.headers["KALSHI-ACCESS-SIGNATURE"], validate=True)
            public_key.verify(signature, message, VERIFY_PSS, hashes.SHA256())
        except (KeyError, AssertionError, InvalidSignature, ValueError):
            return False
        return True

    return verify


def fake_kalshi(public_key: rsa.RSAPublicKey, prefix: str = PREFIX) -> ScriptedExchange:
    """The scripted exchange as Kalshi: a bad signature gets Kalshi's 401, an unscripted path its 404."""
    return ScriptedExchange(
        prefix=prefix,
        verify=signature_check(public_key),
        refusal=Reply(401, payload("real_demo__auth__bad_signature.json")),
        unscripted=lambda method, path: Reply(
            404, {"error": {"code": "not_found", "message": f"unscripted {method} {path}"}}
        ),
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def kalshi(aiohttp_server, rsa_key, sleeps):
    fake = fake_kalshi(rsa_key.public_key())
    url = await fake.serve(aiohttp_server)

    async def record_sleep(delay: float) -> None:
        sleeps.append(delay)

    async with KalshiClient(url, KEY_ID, rsa_key, sleep=record_sleep) as client:
        yield fake, client


ORDERS = "/portfolio/events/orders"


def ack(order_id="o-1", client_order_id=None, fill="0.00", remaining="0.00", avg=None, fee=None):
    body = {"order_id": order_id, "fill_count": fill, "remaining_count": remaining, "ts_ms": 1781159370164}
    if client_order_id:
        body["client_order_id"] = client_order_id
    if avg:
        body["average_fill_price"] = avg
    if fee:
        body["average_fee_paid"] = fee
    return body


# --- create ---------------------------------------------------------------------------------------


async def test_full_fill_buy_no(kalshi):
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(201, ack(client_order_id="cid-1", fill="2.00", avg="0.5300", fee="0.0175")))
    result = await client.create_order(TICKER, "no", "buy", Decimal("2"), "0.47", client_order_id="cid-1")
    (seen,) = fake.requests("POST", ORDERS)
    assert seen.body == {
        "ticker": TICKER,
        "client_order_id": "cid-1",
        "side": "ask",
        "count": "2.00",
        "price": "0.5300",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
    }
    assert seen.raw_body == orjson.dumps(seen.body)  # serialized once, compact, as sent
    assert (result.exchange, result.order_id, result.client_order_id, result.status) == (
        "kalshi",
        "o-1",
        "cid-1",
        "executed",
    )
    assert (result.filled, result.remaining, result.avg_price) == (Decimal("2.00"), Decimal("0.00"), Decimal("0.4700"))
    assert (result.cost, result.fees) == (Decimal("0.940000"), Decimal("0.035000"))


async def test_a_presigned_order_post_is_used_once_while_fresh(aiohttp_server, rsa_key):
    """presign_order signs ahead (time, method and path: never the body); the next order within PRESIGNED_FOR
    goes out with that signature, the one after it and any other request sign afresh, and a stale one is not used."""
    fake = fake_kalshi(rsa_key.public_key())
    url = await fake.serve(aiohttp_server)
    fake.on("POST", ORDERS, Reply(201, ack(fill="1.00", avg="0.5300", fee="0.0175")))
    fake.on("GET", "/portfolio/balance", Reply(200, {"balance": 100, "portfolio_value": 0, "updated_ts": 1}))
    now = [1000.0]
    async with KalshiClient(url, KEY_ID, rsa_key, clock=lambda: now[0]) as client:
        client.presign_order()
        now[0] += 1.5
        await client.get_balance()  # not an order: signs afresh, leaves the presigned one
        await client.create_order(TICKER, "yes", "buy", "1", "0.55")  # 1.5 s later: the presigned signature
        await client.create_order(TICKER, "yes", "buy", "1", "0.55")  # used up: signs at its own time
        client.presign_order()
        now[0] += 2.5
        await client.create_order(TICKER, "yes", "buy", "1", "0.55")  # 2.5 s old: too old, signed afresh
    stamps = [r.headers["KALSHI-ACCESS-TIMESTAMP"] for r in fake.seen]
    assert stamps == ["1001500", "1000000", "1001500", "1004000"]
    assert all(r.verified for r in fake.seen)


async def test_partial_ioc_fill_is_canceled_with_the_filled_part(kalshi):
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(201, ack(fill="2.00", remaining="0.00", avg="0.5200", fee="0.0175")))
    result = await client.create_order(TICKER, "yes", "buy", "5", "0.55")
    assert (result.status, result.filled, result.remaining, result.avg_price) == (
        "canceled",
        Decimal("2.00"),
        Decimal("0.00"),
        Decimal("0.5200"),
    )
    assert fake.requests("POST", ORDERS)[0].body["side"] == "bid"
    assert len(fake.requests("POST", ORDERS)[0].body["client_order_id"]) == 36  # generated UUID4


async def test_no_fill(kalshi):
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(201, payload("real_demo__orders__stp_self_cross.json")))
    result = await client.create_order(
        TICKER, "yes", "sell", "1", "0.48", client_order_id="8ae6f81d-5f9d-4bb0-8bff-076e5cb4038d"
    )
    assert (result.status, result.filled, result.avg_price, result.cost, result.fees) == (
        "canceled",
        Decimal("0.00"),
        None,
        Decimal(0),
        Decimal(0),
    )


async def test_resting_gtc(kalshi):
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(201, payload("real_demo__orders__create_v2_maker.json")))
    result = await client.create_order(
        TICKER,
        "yes",
        "buy",
        "1",
        "0.01",
        time_in_force="good_till_canceled",
        client_order_id="4a75a66e-ca85-4187-93cd-aac5e01ad982",
    )
    assert (result.status, result.remaining) == ("resting", Decimal("1.00"))


async def test_fills_without_average_price_are_read_back(kalshi):
    fake, client = kalshi
    order = payload("real_demo__portfolio__orders_list.json")["orders"][0]
    fake.on("POST", ORDERS, Reply(201, ack(order_id=order["order_id"], fill="1.00")))
    fake.on("GET", f"/portfolio/orders/{order['order_id']}", Reply(200, {"order": order}))
    result = await client.create_order(TICKER, "yes", "buy", "1", "0.99")
    assert (result.status, result.avg_price, result.fees) == ("executed", Decimal("0.52"), Decimal("0.017500"))


@pytest.mark.parametrize(
    "read_back",
    [
        Reply(404, payload("real_demo__orders__cancel_unknown_id.json")),  # read-after-write can be stale
        Reply(503, b"unavailable", {"Content-Type": "text/plain"}),
    ],
)
async def test_a_failed_read_back_of_a_filled_create_is_unexpected_not_a_refusal(kalshi, read_back):
    # The order filled: a read error must not look like the exchange refusing the create.
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(201, ack(order_id="o-9", fill="1.00")))
    fake.on("GET", "/portfolio/orders/o-9", read_back)
    with pytest.raises(errors.UnexpectedResponse, match=r"o-9 filled 1\.00") as info:
        await client.create_order(TICKER, "yes", "buy", "1", "0.99")
    assert isinstance(info.value.__cause__, errors.ExchangeError) and info.value.__cause__.status == read_back.status
    assert len(fake.requests("POST", ORDERS)) == 1


async def test_batch_create_keeps_the_other_results_when_one_read_back_fails(kalshi):
    fake, client = kalshi
    fake.on(
        "POST",
        f"{ORDERS}/batched",
        Reply(201, {"orders": [ack(order_id="a", fill="1.00"), ack(order_id="b", remaining="1.00")]}),
    )
    fake.on("GET", "/portfolio/orders/a", Reply(404, payload("real_demo__orders__cancel_unknown_id.json")))
    first, second = await client.batch_create_orders(
        [OrderSpec(TICKER, "yes", "buy", "1", "0.3"), OrderSpec(TICKER, "yes", "buy", "1", "0.2")]
    )
    assert isinstance(first, errors.UnexpectedResponse) and "order a filled" in str(first)
    assert (second.order_id, second.status) == ("b", "resting")


async def test_duplicate_create_returns_the_existing_order(kalshi):
    fake, client = kalshi
    orders = payload("real_demo__portfolio__orders_list.json")
    mine = orders["orders"][2]
    fake.on("POST", ORDERS, Reply(409, payload("real_demo__orders__duplicate_client_order_id.json")))
    fake.on("GET", "/portfolio/orders", Reply(200, orders))
    result = await client.create_order(TICKER, "yes", "buy", "1", "0.99", client_order_id=mine["client_order_id"])
    assert (result.order_id, result.status, result.filled) == (mine["order_id"], "executed", Decimal("1.00"))
    (lookup,) = fake.requests("GET", "/portfolio/orders")
    assert lookup.query["ticker"] == TICKER
    assert len(fake.requests("POST", ORDERS)) == 1


async def test_duplicate_create_not_found_raises_duplicate(kalshi):
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(409, payload("real_prod_pasted__order_already_exists_409.json")))
    fake.on("GET", "/portfolio/orders", Reply(200, payload("real_demo__portfolio__orders_list.json")))
    with pytest.raises(errors.DuplicateOrder) as info:
        await client.create_order(TICKER, "yes", "buy", "1", "0.99", client_order_id="not-there")
    assert info.value.code == "order_already_exists"


async def test_duplicate_create_whose_lookup_fails_still_raises_duplicate(kalshi):
    # The 409 proves an earlier attempt placed the order; a failed lookup must not hide that.
    fake, client = kalshi
    fake.on("POST", ORDERS, Reply(409, payload("real_prod_pasted__order_already_exists_409.json")))
    fake.on("GET", "/portfolio/orders", Reply(401, payload("real_demo__auth__bad_signature.json")))
    with pytest.raises(errors.DuplicateOrder) as info:
        await client.create_order(TICKER, "yes", "buy", "1", "0.99", client_order_id="cid-7")
    assert isinstance(info.value.__cause__, errors.AuthError)


@pytest.mark.parametrize(
    "reply, cls",
    [
        (Reply(400, payload("real_demo__orders__insufficient_balance.json")), errors.InsufficientBalance),
        (Reply(404, {"error": {"code": "market_not_found", "message": "market not found"}}), errors.MarketNotFound),
        (Reply(409, {"error": {"code": "market_closed", "message": "market closed"}}), errors.MarketClosed),
        (Reply(409, payload("real_prod_pasted__trading_is_paused_409.json")), errors.MarketClosed),
        (Reply(400, payload("real_demo__orders__post_only_cross.json")), errors.InvalidOrder),
        (Reply(400, payload("real_demo__orders__numeric_field_types.json")), errors.InvalidOrder),
        (
            Reply(409, {"error": {"code": "fill_or_kill_insufficient_resting_volume", "message": "x"}}),
            errors.OrderNotFilled,
        ),
        (Reply(410, payload("real_prod_pasted__deprecated_v1_create_410.json")), errors.DeprecatedEndpoint),
        (Reply(429, payload("official_docs__rate_limit_429_body.json")), errors.RateLimited),
        (
            Reply(503, b"<html><title>Service Unavailable</title></html>", {"Content-Type": "text/html"}),
            errors.ExchangeUnavailable,
        ),
        (Reply(500, b"internal error", {"Content-Type": "text/plain"}), errors.ExchangeUnavailable),
        (
            Reply(403, b"this API key is restricted to a single sub-account", {"Content-Type": "text/plain"}),
            errors.AuthError,
        ),
    ],
)
async def test_create_errors_map_and_are_never_retried(kalshi, sleeps, reply, cls):
    fake, client = kalshi
    fake.on("POST", ORDERS, reply)
    with pytest.raises(cls) as info:
        await client.create_order(TICKER, "yes", "buy", "1", "0.50", time_in_force="fill_or_kill")
    assert type(info.value) is cls and info.value.status == reply.status
    assert len(fake.requests("POST", ORDERS)) == 1 and sleeps == []


async def test_bad_signature_is_auth_error(aiohttp_server, rsa_key):
    fake = fake_kalshi(rsa_key.public_key())
    url = await fake.serve(aiohttp_server)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with KalshiClient(url, KEY_ID, other) as client:
        with pytest.raises(errors.AuthError) as info:
            await client.get_balance()
    assert info.value.message.startswith("authentication_error (INCORRECT_API_KEY_SIGNATURE)")


async def test_signature_covers_a_custom_prefix_and_excludes_the_query(aiohttp_server, rsa_key):
    fake = fake_kalshi(rsa_key.public_key(), prefix="/proxy/kalshi/trade-api/v2")
    fake.on("GET", "/portfolio/fills", Reply(200, payload("real_demo__fills__after_taker.json")))
    url = await fake.serve(aiohttp_server)
    async with KalshiClient(url, KEY_ID, rsa_key) as client:
        fills = await client.get_fills(order_id="97ec18b7-10d3-4557-9de0-8598aad625f0", ticker=TICKER)
    assert len(fills) == 3
    assert fake.seen[0].query == {"order_id": "97ec18b7-10d3-4557-9de0-8598aad625f0", "ticker": TICKER, "limit": "1000"}


# --- proxy answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, kind, cls",
    [
        (599, "unmatched", errors.ReplayMismatch),
        (403, "spending_guard", errors.SpendingGuardRefused),
        (502, "upstream_unreachable", errors.ProxyUpstreamError),
        (504, "upstream_timeout", errors.ProxyUpstreamError),
    ],
)
@pytest.mark.parametrize("call", ["get", "create"])
async def test_proxy_answers_are_their_own_errors_and_never_retried(kalshi, sleeps, status, kind, cls, call):
    fake, client = kalshi
    body = {"tradetape_error": kind, "detail": {"why": "no recording for POST /portfolio/events/orders"}}
    reply = Reply(status, body, {"X-Tradetape-Error": kind})
    fake.on("GET", "/portfolio/balance", reply)
    fake.on("POST", ORDERS, reply)
    with pytest.raises(cls) as info:
        if call == "get":
            await client.get_balance()
        else:
            await client.create_order(TICKER, "yes", "buy", "1", "0.5")
    assert not isinstance(info.value, errors.ExchangeError)
    assert info.value.kind == kind and info.value.detail == {"detail": body["detail"]}
    assert len(fake.seen) == 1 and sleeps == []


# --- retries ---------------------------------------------------------------------------------------


async def test_get_retries_on_5xx_and_429_with_backoff(kalshi, sleeps):
    fake, client = kalshi
    fake.on(
        "GET",
        "/portfolio/balance",
        Reply(503, {"error": {"code": "service_unavailable", "message": "x"}}),
        Reply(429, payload("official_docs__rate_limit_429_body.json")),
        Reply(502, b"bad gateway", {"Content-Type": "text/plain"}),
        Reply(200, payload("real_demo__auth__balance_ok.json")),
    )
    assert await client.get_balance() == Decimal("98.0186")
    assert sleeps == [0.25, 0.5, 1.0] and len(fake.seen) == 4


async def test_get_retry_honours_retry_after_and_gives_up(kalshi, sleeps):
    fake, client = kalshi
    fake.on(
        "GET",
        "/portfolio/balance",
        Reply(429, payload("official_docs__rate_limit_429_body.json"), {"Retry-After": "1.5"}),
    )
    with pytest.raises(errors.RateLimited):
        await client.get_balance()
    assert sleeps == [1.5, 1.5, 1.5] and len(fake.seen) == 4


async def test_get_client_errors_are_not_retried(kalshi, sleeps):
    fake, client = kalshi
    fake.on("GET", "/markets/NOPE", Reply(404, {"error": {"code": "market_not_found", "message": "market not found"}}))
    with pytest.raises(errors.MarketNotFound):
        await client.get_market("NOPE")
    assert len(fake.seen) == 1 and sleeps == []


async def test_no_answer_is_a_transport_error_naming_the_client_order_id(rsa_key):
    async with KalshiClient(closed_port_url() + PREFIX, KEY_ID, rsa_key) as client:
        with pytest.raises(errors.TransportError, match=r"POST /portfolio/events/orders.*client_order_id cid-9"):
            await client.create_order(TICKER, "yes", "buy", "1", "0.5", client_order_id="cid-9")


# --- pagination and reads ---------------------------------------------------------------------------


async def test_list_orders_follows_every_page_with_the_same_filters(kalshi):
    fake, client = kalshi
    orders = payload("real_demo__portfolio__orders_list.json")["orders"]
    fake.on(
        "GET",
        "/portfolio/orders",
        Reply(200, {"orders": orders[:3], "cursor": "c1"}),
        Reply(200, {"orders": orders[3:6], "cursor": "c2"}),
        Reply(200, {"orders": orders[6:], "cursor": ""}),
    )
    results = await client.list_orders(ticker=TICKER, status="canceled")
    assert [r.order_id for r in results] == [o["order_id"] for o in orders]
    queries = [s.query for s in fake.seen]
    assert [q.get("cursor") for q in queries] == [None, "c1", "c2"]
    assert all(q["ticker"] == TICKER and q["status"] == "canceled" and q["limit"] == "1000" for q in queries)


async def test_pagination_stops_on_a_null_or_missing_cursor(kalshi):
    fake, client = kalshi
    fills = payload("real_demo__fills__after_taker.json")["fills"]
    fake.on(
        "GET",
        "/portfolio/fills",
        Reply(200, {"fills": fills[:1], "cursor": "x"}),
        Reply(200, {"fills": fills[1:], "cursor": None}),
    )
    fake.on("GET", "/portfolio/positions", Reply(200, {"market_positions": [], "event_positions": []}))
    assert [f.fill_id for f in await client.get_fills()] == [f["fill_id"] for f in fills]
    assert await client.get_positions() == []


async def test_a_repeated_cursor_is_unexpected_not_an_endless_loop(kalshi):
    fake, client = kalshi
    fake.on("GET", "/portfolio/fills", Reply(200, {"fills": [], "cursor": "same"}))
    with pytest.raises(errors.UnexpectedResponse, match="cursor 'same' repeated"):
        await client.get_fills()
    assert len(fake.seen) == 2


async def test_find_order_by_client_order_id(kalshi):
    fake, client = kalshi
    orders = payload("real_demo__portfolio__orders_list.json")
    fake.on("GET", "/portfolio/orders", Reply(200, orders))
    found = await client.find_order_by_client_order_id("ef9e9268-9b95-4638-8998-a46063add45d")
    assert found is not None and found.order_id == "19d9f274-9630-4ce8-9c2c-c1a4f348c5aa" and found.status == "canceled"
    assert await client.find_order_by_client_order_id("absent") is None
    assert "ticker" not in fake.seen[0].query


async def test_reads_parse_real_bodies(kalshi):
    fake, client = kalshi
    fake.on("GET", "/portfolio/positions", Reply(200, payload("real_demo__portfolio__positions.json")))
    fake.on("GET", f"/markets/{TICKER}", Reply(200, payload("real_demo__markets__single.json")))
    fake.on("GET", f"/markets/{TICKER}/orderbook", Reply(200, payload("real_demo__orderbook__base.json")))
    fake.on(
        "GET",
        "/portfolio/orders/2597b999-f887-4195-8bac-c3f97a1f2021",
        Reply(200, payload("real_demo__orders__get_after_create.json")),
    )
    (position,) = await client.get_positions()
    assert (position.ticker, position.position, position.fees_paid) == (TICKER, Decimal("3.00"), Decimal("0.018900"))
    market = await client.get_market(TICKER)
    assert market.status == "active" and market.on_grid(Decimal("0.52"))
    book = await client.get_orderbook(TICKER)
    assert book.yes_bids == ((Decimal("0.4700"), Decimal("3.00")),) and book.yes_asks == (
        (Decimal("0.5200"), Decimal("3.00")),
    )
    order = await client.get_order("2597b999-f887-4195-8bac-c3f97a1f2021")
    assert (order.status, order.client_order_id, order.avg_price) == (
        "resting",
        "4a75a66e-ca85-4187-93cd-aac5e01ad982",
        None,
    )


async def test_ids_are_path_encoded(kalshi):
    fake, client = kalshi
    with pytest.raises(errors.OrderNotFound):
        await client.get_order("../balance")
    assert fake.seen[0].path == "/portfolio/orders/..%2Fbalance"


async def test_non_json_success_body_is_unexpected(kalshi):
    fake, client = kalshi
    fake.on("GET", "/portfolio/balance", Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(errors.UnexpectedResponse, match="GET /portfolio/balance: HTTP 200 body is not JSON"):
        await client.get_balance()


# --- other writes ---------------------------------------------------------------------------------


async def test_cancel_and_cancel_of_a_gone_order(kalshi):
    fake, client = kalshi
    oid = "2597b999-f887-4195-8bac-c3f97a1f2021"
    fake.on(
        "DELETE",
        f"{ORDERS}/{oid}",
        Reply(200, payload("real_demo__orders__cancel_v2.json")),
        Reply(404, payload("real_demo__orders__cancel_already_canceled.json")),
    )
    result = await client.cancel_order(oid, ticker=TICKER)
    assert (result.order_id, result.reduced_by) == (oid, Decimal("1.00"))
    assert fake.seen[0].query == {"market_ticker": TICKER}
    with pytest.raises(errors.OrderNotFound):
        await client.cancel_order(oid)
    assert len(fake.seen) == 2  # a DELETE is never retried


async def test_batch_create_mixes_results_and_item_errors(kalshi):
    fake, client = kalshi
    fake.on(
        "POST",
        f"{ORDERS}/batched",
        Reply(
            201,
            {
                "orders": [
                    ack(order_id="a", client_order_id="ca", fill="5.00", avg="0.5800", fee="0.0012"),
                    {"client_order_id": "cb", "error": {"code": "market_closed", "message": "market closed"}},
                ]
            },
        ),
    )
    specs = [
        OrderSpec(TICKER, "no", "buy", "5", "0.42", client_order_id="ca"),
        OrderSpec(TICKER, "yes", "buy", "1", "0.3", client_order_id="cb"),
    ]
    first, second = await client.batch_create_orders(specs)
    assert (first.status, first.avg_price, first.fees) == ("executed", Decimal("0.4200"), Decimal("0.006000"))
    assert isinstance(second, errors.MarketClosed)
    assert fake.seen[0].body == {"orders": [specs[0].body(), specs[1].body()]}
    assert fake.seen[0].body["orders"][0]["side"] == "ask" and fake.seen[0].body["orders"][0]["price"] == "0.5800"


async def test_batch_create_with_a_wrong_item_count_is_unexpected(kalshi):
    fake, client = kalshi
    fake.on("POST", f"{ORDERS}/batched", Reply(201, {"orders": []}))
    with pytest.raises(errors.UnexpectedResponse, match="0 results for 1 orders"):
        await client.batch_create_orders([OrderSpec(TICKER, "yes", "buy", "1", "0.3")])


async def test_batch_cancel_cancel_all_amend_decrease(kalshi):
    fake, client = kalshi
    fake.on(
        "DELETE", f"{ORDERS}/batched", Reply(200, payload("official_openapi__batch_cancel_orders_v2_response.json"))
    )
    fake.on("DELETE", ORDERS, Reply(204))
    fake.on("POST", f"{ORDERS}/3b23c1c7/amend", Reply(200, payload("official_openapi__amend_order_v2_response.json")))
    fake.on(
        "POST", f"{ORDERS}/3b23c1c7/decrease", Reply(200, payload("official_openapi__decrease_order_v2_response.json"))
    )
    cancels = await client.batch_cancel_orders(
        ["3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d", "a6d6010d-6d5f-40a1-a7e7-5501386bb621"]
    )
    assert [c.reduced_by for c in cancels] == [Decimal("10.00"), Decimal("5.00")]
    assert fake.seen[-1].body == {
        "orders": [
            {"order_id": "3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d"},
            {"order_id": "a6d6010d-6d5f-40a1-a7e7-5501386bb621"},
        ]
    }
    assert await client.cancel_all_orders() is None
    amended = await client.amend_order(
        "3b23c1c7",
        "HIGHNY-24JAN01-T60",
        "yes",
        "buy",
        "0.57",
        "8",
        client_order_id="8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1",
        updated_client_order_id="2a0e3fc9-b593-4aa3-96e5-82f7f7566c2a",
    )
    official = payload("official_openapi__amend_order_v2_request.json")
    assert fake.seen[-1].body == {k: v for k, v in official.items() if k != "exchange_index"}  # we omit exchange_index
    assert (amended.remaining, amended.filled, amended.avg_price) == (Decimal("8.00"), Decimal("0.00"), None)
    decreased = await client.decrease_order("3b23c1c7", reduce_by="2")
    assert fake.seen[-1].body == {"reduce_by": "2.00"} and decreased.remaining == Decimal("8.00")
    with pytest.raises(ValueError, match="exactly one of reduce_by and reduce_to"):
        await client.decrease_order("3b23c1c7")


# --- construction ---------------------------------------------------------------------------------


def pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_from_env_defaults_to_production_unsigned(monkeypatch):
    client = KalshiClient.from_env()
    assert str(client.base_url) == DEFAULT_BASE_URL and client.key_id is None


def test_from_env_reads_key_text_and_base_url(monkeypatch, rsa_key):
    monkeypatch.setenv("KALSHI_BASE_URL", "http://127.0.0.1:8787/trade-api/v2")
    monkeypatch.setenv("KALSHI_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY", pem(rsa_key).replace("\n", "\\n"))  # one-line form
    client = KalshiClient.from_env(clock=lambda: 1.0)
    headers = client.sign_headers("GET", client.url("/portfolio/balance"))
    signature = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"])
    rsa_key.public_key().verify(signature, b"1000GET/trade-api/v2/portfolio/balance", VERIFY_PSS, hashes.SHA256())


def test_from_env_reads_a_key_file(monkeypatch, rsa_key, tmp_path):
    path = tmp_path / "throwaway-test-key.pem"  # generated for this test only
    path.write_text(pem(rsa_key))
    monkeypatch.setenv("KALSHI_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(path))
    assert KalshiClient.from_env().key_id == KEY_ID


def test_from_env_errors_name_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("KALSHI_API_KEY_ID", KEY_ID)
    with pytest.raises(ValueError, match="set both KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH"):
        KalshiClient.from_env()
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match=r"KALSHI_PRIVATE_KEY_PATH .*missing\.pem: cannot read"):
        KalshiClient.from_env()


def test_relative_base_url_is_refused():
    with pytest.raises(ValueError, match="absolute URL"):
        KalshiClient("/trade-api/v2")


async def test_a_given_session_is_left_open():
    async with aiohttp.ClientSession() as session:
        async with KalshiClient("http://127.0.0.1:1/trade-api/v2", session=session):
            pass
        assert not session.closed


async def test_a_presigned_order_post_is_not_used_after_the_clock_stepped_back(aiohttp_server, rsa_key):
    """A wall clock stepped back (NTP) makes the presigned timestamp lie ahead of now: it is dropped, never sent, and
    the order signs at its own time; a fresh presign after that is used again."""
    fake = fake_kalshi(rsa_key.public_key())
    url = await fake.serve(aiohttp_server)
    fake.on("POST", ORDERS, Reply(201, ack(fill="1.00", avg="0.5300", fee="0.0175")))
    now = [1000.0]
    async with KalshiClient(url, KEY_ID, rsa_key, clock=lambda: now[0]) as client:
        client.presign_order()
        now[0] -= 1.0
        await client.create_order(TICKER, "yes", "buy", "1", "0.55")
        await client.create_order(TICKER, "yes", "buy", "1", "0.55")  # the dropped one is not kept for later
        client.presign_order()
        await client.create_order(TICKER, "yes", "buy", "1", "0.55")
    assert [r.headers["KALSHI-ACCESS-TIMESTAMP"] for r in fake.seen] == ["999000", "999000", "999000"]
    assert all(r.verified for r in fake.seen)


EXPIRED = {"error": {"code": "header_timestamp_expired", "message": "header timestamp expired"}}


async def test_an_order_refused_for_its_presigned_timestamp_is_sent_once_more_signed_now(aiohttp_server, rsa_key):
    """A signature made ahead is up to PRESIGNED_FOR older than one made now, which narrows the exchange's skew
    tolerance (docs/wire/kalshi.md: ~5 s on demo). Refused at authentication, the order was not placed: it goes
    once more with a fresh signature. An order signed now and refused the same way is not retried (AuthError)."""
    fake = fake_kalshi(rsa_key.public_key())
    url = await fake.serve(aiohttp_server)
    fake.on("POST", ORDERS, Reply(401, EXPIRED), Reply(201, ack(fill="1.00", avg="0.5300", fee="0.0175")))
    fake.on("POST", ORDERS, Reply(401, EXPIRED))
    now = [1000.0]
    async with KalshiClient(url, KEY_ID, rsa_key, clock=lambda: now[0]) as client:
        client.presign_order()
        now[0] += 1.5
        result = await client.create_order(TICKER, "yes", "buy", "1", "0.55", client_order_id="cid-1")
        assert result.filled == Decimal("1.00")
        with pytest.raises(errors.AuthError, match="header_timestamp_expired"):
            await client.create_order(TICKER, "yes", "buy", "1", "0.55", client_order_id="cid-2")
    posts = fake.requests("POST", ORDERS)
    assert [r.headers["KALSHI-ACCESS-TIMESTAMP"] for r in posts] == ["1000000", "1001500", "1001500"]
    assert [r.body["client_order_id"] for r in posts] == ["cid-1", "cid-1", "cid-2"]
