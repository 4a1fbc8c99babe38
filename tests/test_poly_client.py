"""PolymarketClient against a local aiohttp app standing in for the CLOB (127.0.0.1 only)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from aiohttp import web
from client_helpers import HARDHAT_ADDRESS, HARDHAT_KEY, Reply, ScriptedExchange, closed_port_url

import ctf_order
from clients.errors import (
    AuthError,
    ExchangeUnavailable,
    InsufficientBalance,
    MarketNotFound,
    OrderNotFilled,
    OrderNotFound,
    ProxyUpstreamError,
    ReplayMismatch,
    SpendingGuardRefused,
    TransportError,
    UnexpectedResponse,
)
from clients.polymarket import PolymarketClient
from clients.polymarket import signing as ps
from clients.polymarket.client import DEFAULT_CLOB_URL

KEY, EOA = HARDHAT_KEY, HARDHAT_ADDRESS
API_KEY, SECRET, PASSPHRASE = (
    "11111111-2222-4333-8444-555555555555",
    "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3OA==",
    "pp",
)
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NOW = 1_767_225_600.0


def l2_valid(request: web.Request, raw: bytes) -> bool:
    headers = request.headers
    if "POLY_SIGNATURE" not in headers or "POLY_API_KEY" not in headers:
        return False
    expected = ps.l2_signature(SECRET, headers["POLY_TIMESTAMP"], request.method, request.path, raw or None)
    return (
        headers["POLY_SIGNATURE"] == expected
        and headers["POLY_API_KEY"] == API_KEY
        and headers["POLY_PASSPHRASE"] == PASSPHRASE
        and headers["POLY_ADDRESS"] == EOA
    )


@pytest.fixture
async def clob(aiohttp_server):
    """The scripted exchange as the CLOB: it records whether each request carried valid L2 headers."""
    fake = ScriptedExchange(verify=l2_valid)
    await fake.serve(aiohttp_server)
    return fake


@pytest.fixture
async def client(clob):
    async with PolymarketClient(
        base_url=clob.url,
        private_key=KEY,
        api_key=API_KEY,
        api_secret=SECRET,
        api_passphrase=PASSPHRASE,
        clock=lambda: NOW,
    ) as poly:
        yield poly


def fak_buy(client: PolymarketClient, size: str = "10", price: str = "0.45"):
    return client.build_order(
        TOKEN,
        "BUY",
        Decimal(price),
        size=Decimal(size),
        order_type="FAK",
        tick_size=Decimal("0.01"),
        neg_risk=False,
        salt=42,
        timestamp_ms=int(NOW * 1000),
    )


def matched(order_id: str, making: str, taking: str) -> dict:
    return {
        "success": True,
        "errorMsg": "",
        "orderID": order_id,
        "status": "matched",
        "makingAmount": making,
        "takingAmount": taking,
        "tradeIDs": ["t-1"],
    }


async def test_full_fill_fak_buy(clob, client):
    signed = fak_buy(client)
    clob.on("POST", "/order", Reply(200, matched(signed.order_id, "4.5", "10")))
    result = await client.post_order(signed)
    assert (result.filled, result.cost, result.avg_price, result.remaining) == (10, Decimal("4.5"), Decimal("0.45"), 0)
    assert result.status == "matched" and result.raw["tradeIDs"] == ["t-1"]
    sent = clob.seen[0]
    assert sent.verified and sent.headers["Content-Type"] == "application/json"
    assert sent.raw_body == orjson.dumps(signed.body)  # the signed bytes are the sent bytes
    order = orjson.loads(sent.raw_body)["order"]
    assert ps.recover_order_signer(order) == EOA and ctf_order.order_hash(order) == signed.order_id
    assert (order["makerAmount"], order["takerAmount"], order["side"]) == ("4500000", "10000000", "BUY")


async def test_order_id_is_the_servers(clob, client):
    signed = fak_buy(client)
    clob.on("POST", "/order", Reply(200, matched("0xserver-side-id", "4.5", "10")))
    assert (await client.post_order(signed)).order_id == "0xserver-side-id"


async def test_partial_fak(clob, client):
    signed = fak_buy(client)
    clob.on("POST", "/order", Reply(200, matched(signed.order_id, "1.8", "4")))
    result = await client.post_order(signed)
    assert (result.filled, result.cost, result.remaining) == (4, Decimal("1.8"), 0)


async def test_sell_reads_amounts_the_other_way(clob, client):
    clob.on("POST", "/order", Reply(200, matched("0xs", "60.47", "0.78611")))
    result = await client.create_order(
        TOKEN, "SELL", Decimal("0.01"), amount=Decimal("60.47"), order_type="FAK", salt=1, timestamp_ms=1
    )
    assert (result.filled, result.cost) == (Decimal("60.47"), Decimal("0.78611"))


async def test_resting_gtc(clob, client):
    clob.on(
        "POST",
        "/order",
        Reply(
            200,
            {
                "success": True,
                "errorMsg": "",
                "orderID": "0xr",
                "status": "live",
                "makingAmount": "",
                "takingAmount": "",
            },
        ),
    )
    result = await client.create_order(TOKEN, "BUY", "0.3", size="12", salt=2, timestamp_ms=2)
    assert (result.status, result.filled, result.remaining, result.avg_price) == ("live", 0, 12, None)


async def test_unmatched_gtc_rests_nothing(clob, client):
    # "unmatched": marketable, its delay failed; the SDKs treat it as a rejection, nothing is on the book.
    clob.on(
        "POST",
        "/order",
        Reply(
            200,
            {
                "success": True,
                "errorMsg": "",
                "orderID": "0xu",
                "status": "unmatched",
                "makingAmount": "",
                "takingAmount": "",
            },
        ),
    )
    result = await client.create_order(TOKEN, "BUY", "0.3", size="12", salt=3, timestamp_ms=3)
    assert (result.status, result.filled, result.remaining) == ("unmatched", 0, 0)


async def test_no_fill_is_order_not_filled(clob, client):
    clob.on(
        "POST",
        "/order",
        Reply(
            400,
            {
                "error": "no orders found to match with FAK order. FAK orders are partially "
                "filled or killed if no match is found."
            },
        ),
    )
    with pytest.raises(OrderNotFilled) as caught:
        await client.post_order(fak_buy(client))
    assert caught.value.status == 400 and "POST /order" in str(caught.value)


@pytest.mark.parametrize(
    "status, body, headers, cls, retry_after",
    [
        (400, {"error": "not enough balance / allowance"}, {}, InsufficientBalance, None),
        (401, {"error": "Unauthorized/Invalid api key"}, {}, AuthError, None),
        (
            503,
            {
                "error": "post-only mode: only post-only orders and cancels are allowed",
                "code": "post_only_mode",
                "retry_after_seconds": 79,
            },
            {"Retry-After": "79"},
            ExchangeUnavailable,
            79.0,
        ),
        (425, "service not ready", {"Retry-After": "2"}, ExchangeUnavailable, 2.0),
    ],
)
async def test_exchange_errors(clob, client, status, body, headers, cls, retry_after):
    clob.on("POST", "/order", Reply(status, body, headers))
    with pytest.raises(cls) as caught:
        await client.post_order(fak_buy(client))
    assert caught.value.retry_after == retry_after and len(clob.seen) == 1


@pytest.mark.parametrize(
    "status, kind, cls",
    [
        (599, "unmatched", ReplayMismatch),
        (403, "spending_guard", SpendingGuardRefused),
        (502, "upstream_unreachable", ProxyUpstreamError),
    ],
)
async def test_proxy_answers_are_raised_as_is_and_never_retried(clob, client, status, kind, cls):
    clob.on("POST", "/order", Reply(status, {"tradetape_error": kind, "detail": "x"}, {"X-Tradetape-Error": kind}))
    with pytest.raises(cls) as caught:
        await client.post_order(fak_buy(client))
    assert caught.value.kind == kind and caught.value.status == status
    assert len(clob.seen) == 1


async def test_trades_follow_every_page(clob, client):
    def page(ids: list[str], cursor: str) -> dict:
        rows = [
            {
                "id": i,
                "taker_order_id": "0xo",
                "market": "0xm",
                "asset_id": TOKEN,
                "side": "BUY",
                "size": "2.5",
                "price": "0.45",
                "status": "MATCHED",
                "match_time": "1767225600",
                "trader_side": "TAKER",
                "fee_rate_bps": "0",
            }
            for i in ids
        ]
        return {"limit": 2, "count": len(rows), "next_cursor": cursor, "data": rows}

    clob.on("GET", "/data/trades", Reply(200, page(["a", "b"], "Mg==")))
    clob.on("GET", "/data/trades", Reply(200, page(["c"], "Mw==")))
    clob.on("GET", "/data/trades", Reply(200, page([], "LTE=")))
    trades = await client.get_trades(id="0xo")
    assert [t.id for t in trades] == ["a", "b", "c"] and trades[0].size == Decimal("2.5")
    assert [s.query["next_cursor"] for s in clob.seen] == ["MA==", "Mg==", "Mw=="]
    assert all(s.verified and s.query["id"] == "0xo" for s in clob.seen)


async def test_pagination_loop_is_refused(clob, client):
    clob.on("GET", "/data/trades", Reply(200, {"next_cursor": "MA==", "data": []}))
    with pytest.raises(UnexpectedResponse, match="repeats"):
        await client.get_trades()


async def test_open_orders(clob, client):
    clob.on(
        "GET",
        "/data/orders",
        Reply(
            200,
            {
                "next_cursor": "LTE=",
                "data": [{"id": "0x1", "status": "LIVE", "original_size": "10", "size_matched": "4", "price": "0.4"}],
            },
        ),
    )
    [order] = await client.get_open_orders(market="0xm")
    assert (order.filled, order.remaining, order.cost) == (4, 6, Decimal("1.6"))


async def test_get_order(clob, client):
    clob.on(
        "GET",
        "/data/order/0xabc",
        Reply(
            200,
            {
                "id": "0xabc",
                "status": "MATCHED",
                "original_size": "10",
                "size_matched": "10",
                "price": "0.45",
                "side": "BUY",
            },
        ),
    )
    order = await client.get_order("0xabc")
    assert (order.status, order.filled, order.remaining, order.cost, order.avg_price) == (
        "MATCHED",
        10,
        0,
        Decimal("4.50"),
        Decimal("0.45"),
    )
    assert clob.seen[0].verified
    clob.on("GET", "/data/order/0xdef", Reply(404, {"error": "Order not found"}))
    with pytest.raises(OrderNotFound):
        await client.get_order("0xdef")


@pytest.mark.parametrize("order_id", ["", "0xa/../../auth/api-keys", "0xa?next_cursor=MA==", "0x a"])
async def test_get_order_refuses_an_id_that_is_not_one_path_segment(clob, client, order_id):
    with pytest.raises(ValueError, match="order_id"):
        await client.get_order(order_id)
    assert clob.seen == []


async def test_cancel(clob, client):
    clob.on("DELETE", "/order", Reply(200, {"canceled": ["0xa"], "not_canceled": {}}))
    assert await client.cancel_order("0xa") is None
    assert orjson.loads(clob.seen[0].raw_body) == {"orderID": "0xa"} and clob.seen[0].verified
    clob.on(
        "DELETE", "/order", Reply(200, {"canceled": [], "not_canceled": {"0xb": "Order not found or already canceled"}})
    )
    with pytest.raises(OrderNotFound, match="already canceled"):
        await client.cancel_order("0xb")


async def test_book_tick_negrisk_balance(clob, client):
    clob.on(
        "GET",
        "/book",
        Reply(
            200,
            {
                "market": "0xm",
                "asset_id": TOKEN,
                "timestamp": "1",
                "hash": "h",
                "bids": [{"price": "0.40", "size": "5"}, {"price": "0.44", "size": "1"}],
                "asks": [{"price": "0.50", "size": "2"}, {"price": "0.46", "size": "3"}],
                "tick_size": "0.01",
                "min_order_size": "5",
                "neg_risk": False,
                "last_trade_price": "0.45",
            },
        ),
    )
    clob.on("GET", "/tick-size", Reply(200, {"minimum_tick_size": 0.001}))
    clob.on("GET", "/neg-risk", Reply(200, {"neg_risk": True}))
    clob.on("GET", "/balance-allowance/update", Reply(200, {}))
    clob.on(
        "GET", "/balance-allowance", Reply(200, {"balance": "45091977", "allowances": {ctf_order.CTF_EXCHANGE_V2: "1"}})
    )
    book = await client.get_book(TOKEN)
    assert book.bids[0].price == Decimal("0.44") and book.asks[0].price == Decimal("0.46")
    assert await client.get_tick_size(TOKEN) == Decimal("0.001")
    assert await client.get_neg_risk(TOKEN) is True
    balance = await client.get_balance_allowance(update=True)
    assert balance.balance == Decimal("45.091977") and balance.allowances == {ctf_order.CTF_EXCHANGE_V2: 1}
    assert clob.seen[0].query == {"token_id": TOKEN} and "POLY_SIGNATURE" not in clob.seen[0].headers
    assert clob.seen[3].query == {"asset_type": "COLLATERAL", "signature_type": "0"} and clob.seen[4].verified


async def test_balance_update_answers_with_an_empty_body(clob, client):
    # The live /balance-allowance/update answers 200 with no body (rs-clob-client; polyfill-rs#12).
    clob.on("GET", "/balance-allowance/update", Reply(200, ""))
    clob.on("GET", "/balance-allowance", Reply(200, {"balance": "1000000", "allowances": {}}))
    assert (await client.get_balance_allowance(update=True)).balance == 1
    clob.on("POST", "/order", Reply(200, ""))
    with pytest.raises(UnexpectedResponse, match="POST /order: expected a JSON object"):
        await client.post_order(fak_buy(client))


async def test_unknown_market(clob, client):
    clob.on("GET", "/book", Reply(404, {"error": "No orderbook exists for the requested token id"}))
    with pytest.raises(MarketNotFound):
        await client.get_book("123")


@pytest.mark.parametrize(
    "body, reason",
    [
        ("<html>oops</html>", "not JSON"),
        (
            {"success": True, "errorMsg": "", "status": "matched", "makingAmount": "1", "takingAmount": "2"},
            "'orderID' is missing",
        ),
        (
            {
                "success": True,
                "errorMsg": "",
                "orderID": "0x",
                "status": "matched",
                "makingAmount": "x",
                "takingAmount": "2",
            },
            "'makingAmount' is not a number",
        ),
        ([1, 2], "expected a JSON object"),
    ],
)
async def test_unexpected_success_bodies(clob, client, body, reason):
    clob.on("POST", "/order", Reply(200, body))
    with pytest.raises(UnexpectedResponse, match=reason) as caught:
        await client.post_order(fak_buy(client))
    assert "POST /order" in str(caught.value)


async def test_create_or_derive_api_key(clob):
    async with PolymarketClient(base_url=clob.url, private_key=KEY, clock=lambda: NOW) as poly:
        clob.on("POST", "/auth/api-key", Reply(400, {"error": "Could not create api key"}))
        clob.on(
            "GET", "/auth/derive-api-key", Reply(200, {"apiKey": API_KEY, "secret": SECRET, "passphrase": PASSPHRASE})
        )
        creds = await poly.create_or_derive_api_key(nonce=3)
        assert creds.api_key == API_KEY and SECRET not in repr(creds) and PASSPHRASE not in repr(creds)
        for request in clob.seen:
            h = request.headers
            assert (h["POLY_NONCE"], h["POLY_TIMESTAMP"]) == ("3", str(int(NOW)))
            assert ps.recover_clob_auth_signer(h["POLY_ADDRESS"], h["POLY_TIMESTAMP"], 3, h["POLY_SIGNATURE"]) == EOA
        clob.on(
            "GET",
            "/data/order/0x1",
            Reply(200, {"id": "0x1", "status": "LIVE", "original_size": "1", "size_matched": "0", "price": "0.5"}),
        )
        await poly.get_order("0x1")
        assert clob.seen[-1].verified


async def test_create_api_key_other_errors_propagate(clob):
    async with PolymarketClient(base_url=clob.url, private_key=KEY) as poly:
        clob.on("POST", "/auth/api-key", Reply(401, {"error": "Invalid L1 Request headers"}))
        with pytest.raises(AuthError):
            await poly.create_or_derive_api_key()
        assert len(clob.seen) == 1


async def test_transport_error():
    async with PolymarketClient(base_url=closed_port_url()) as poly:
        with pytest.raises(TransportError, match="GET /tick-size"):
            await poly.get_tick_size(TOKEN)


@pytest.mark.parametrize("status", [302, 307])
async def test_redirects_are_not_followed(clob, client, status):
    # Following one would resend POLY_API_KEY/POLY_PASSPHRASE (and a 307 the signed order) to the Location.
    clob.on("POST", "/order", Reply(status, {"success": True}, {"Location": "/elsewhere"}))
    with pytest.raises(UnexpectedResponse, match=f"POST /order: HTTP {status}") as caught:
        await client.post_order(fak_buy(client))
    assert caught.value.status == status and [s.path for s in clob.seen] == ["/order"]


async def test_transport_error_never_carries_credentials(clob):
    # aiohttp's repr of a malformed-answer error embeds the request headers (POLY_PASSPHRASE, HMAC).
    clob.on("GET", "/data/order/0x1", Reply(200, {}, {"X-Oversized": "a" * 9000}))
    passphrase = "passphrase-that-must-stay-private"
    async with PolymarketClient(
        base_url=clob.url,
        private_key=KEY,
        api_key=API_KEY,
        api_secret=SECRET,
        api_passphrase=passphrase,
        clock=lambda: NOW,
    ) as poly:
        with pytest.raises(TransportError, match="GET /data/order/0x1") as caught:
            await poly.get_order("0x1")
    signature = clob.seen[0].headers["POLY_SIGNATURE"]
    for secret in (passphrase, SECRET, signature, API_KEY):
        assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_post_order_needs_matching_owner():
    async with PolymarketClient(private_key=KEY) as poly:
        signed = poly.build_order(TOKEN, "BUY", "0.5", size="2", salt=1, timestamp_ms=1)
        assert signed.body["owner"] == ""
        with pytest.raises(ValueError, match="owner is not this client's API key"):
            await poly.post_order(signed)


def test_from_env():
    env = {
        "POLY_CLOB_URL": "http://127.0.0.1:8788/",
        "POLY_PRIVATE_KEY": KEY,
        "POLY_API_KEY": API_KEY,
        "POLY_API_SECRET": SECRET,
        "POLY_API_PASSPHRASE": PASSPHRASE,
        "POLY_SIGNATURE_TYPE": "3",
        "POLY_FUNDER": "0x" + "33" * 20,
    }
    poly = PolymarketClient.from_env(env)
    assert poly.base_url == "http://127.0.0.1:8788" and poly.signature_type == 3
    assert poly.maker == ps.to_checksum_address("0x" + "33" * 20) and poly.creds.api_key == API_KEY
    assert PolymarketClient.from_env({}).base_url == DEFAULT_CLOB_URL
    for unreadable in ("POLY_PROXY", "٣"):  # Arabic-Indic 3: a digit to str.isdigit, not on the wire
        with pytest.raises(ValueError, match="POLY_SIGNATURE_TYPE"):
            PolymarketClient.from_env({"POLY_SIGNATURE_TYPE": unreadable})


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"signature_type": 1}, "needs a funder"),
        ({"funder": "0x" + "11" * 20}, "trades from the key's own address"),
        ({"signature_type": 5}, "expected 0"),
    ],
)
def test_bad_account_config(kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        PolymarketClient(private_key=KEY, **kwargs)


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"size": "7.5", "price": "0.57", "order_type": "FAK"}, "4.275 has 3 decimals"),
        ({"size": "2", "price": "0.575"}, "not a multiple of tick size"),
        ({"amount": "2", "price": "0.5"}, "GTC orders take size"),
        ({"size": "2", "amount": "1", "price": "0.5", "order_type": "FOK"}, "exactly one of"),
        ({"size": "2", "price": "0.5", "order_type": "IOC"}, "order_type"),
        ({"size": "2", "price": "0.5", "side": "buy"}, "side"),
        ({"size": "2", "price": "0.5", "order_type": "FAK", "post_only": True}, "post_only"),
        ({"size": "2", "price": "0.5", "order_type": "GTD"}, "need an expiration"),
        ({"size": "2", "price": "0.5", "order_type": "GTD", "expiration": 30}, "security threshold"),
        ({"size": "2", "price": "0.5", "expiration": 10**10}, "only for GTD"),
        ({"size": "2", "price": "0.5", "token_id": "0xabc"}, "token_id"),
        ({"size": "2", "price": "0.5", "builder": "builder-name"}, "builder"),
    ],
)
def test_build_order_refuses_before_signing(kwargs, reason):
    poly = PolymarketClient(private_key=KEY, api_key=API_KEY, api_secret=SECRET, api_passphrase=PASSPHRASE)
    args = {"token_id": TOKEN, "side": "BUY", "salt": 1, "timestamp_ms": 1000, **kwargs}
    with pytest.raises(ValueError, match=reason):
        poly.build_order(**args)


def test_build_order_is_deterministic_and_needs_a_key():
    poly = PolymarketClient(private_key=KEY, api_key=API_KEY, api_secret=SECRET, api_passphrase=PASSPHRASE)
    first, second = fak_buy(poly), fak_buy(poly)
    assert first == second and first.body == second.body and first.shares == 10
    with pytest.raises(ValueError, match="POLY_PRIVATE_KEY"):
        fak_buy(PolymarketClient())
    with pytest.raises(ValueError, match="POLY_API_KEY"):
        PolymarketClient(private_key=KEY).l2_headers("GET", "/data/trades", None)


CONDITION = "0x" + "ab" * 32


def clob_market(**changes) -> dict:
    body = {
        "c": CONDITION,
        "t": [{"t": TOKEN, "o": "Yes"}, {"t": "42", "o": "No"}],
        "mts": 0.01,
        "mos": 5,
        "fd": {"r": 0.04, "e": 1, "to": True},
        "ao": True,
        "nr": True,
    }
    return {**body, **changes}


async def test_clob_market_is_public_and_typed(clob, client):
    clob.on("GET", f"/clob-markets/{CONDITION}", Reply(200, clob_market()))
    market = await client.get_clob_market(CONDITION)
    assert market.fees.rate == Decimal("0.04") and market.fees.exponent == 1 and market.fees.taker_only
    assert market.tokens == {TOKEN: "Yes", "42": "No"}
    assert (market.tick_size, market.min_order_size) == (Decimal("0.01"), Decimal(5))
    assert market.accepting_orders and market.neg_risk
    assert "POLY_SIGNATURE" not in clob.seen[0].headers


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (clob_market(fd={"e": 1, "to": True}), "fd: field 'r' is missing"),
        (clob_market(fd={"r": None, "e": 1}), "fd: field 'r' has type NoneType"),
        (clob_market(fd={"r": "x", "e": 1}), "fd: field 'r' is not a number"),
        (clob_market(fd={"r": 0.04}), "fd: field 'e' is missing"),
        (clob_market(ao="yes"), "field 'ao' has type str"),
        (clob_market(t=[{"t": 1, "o": "Yes"}]), r"t\[0\]: field 't' has type int"),
        (clob_market(c="0x" + "cd" * 32), "field 'c' is '0xcdcd"),
        ({k: v for k, v in clob_market().items() if k != "fd"}, "field 'fd' is missing"),
        ([], "expected a JSON object"),
    ],
)
async def test_clob_market_body_not_as_documented_names_the_field(clob, client, body, named):
    clob.on("GET", f"/clob-markets/{CONDITION}", Reply(200, body))
    with pytest.raises(UnexpectedResponse, match=named):
        await client.get_clob_market(CONDITION)


async def test_clob_market_of_an_unknown_market_and_a_bad_id(clob, client):
    clob.on("GET", f"/clob-markets/{CONDITION}", Reply(404, {"error": "market not found"}))
    with pytest.raises(MarketNotFound):
        await client.get_clob_market(CONDITION)
    with pytest.raises(ValueError, match="one path segment"):
        await client.get_clob_market("0x/../order")
    assert len(clob.seen) == 1
