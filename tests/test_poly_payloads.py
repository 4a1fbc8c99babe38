"""Every real Polymarket payload in tests/data/payloads/polymarket/ through the client's mapping and parsers."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from corpus import payload_dir

import ctf_order
from clients.errors import (
    AuthError,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientBalance,
    InvalidOrder,
    MarketClosed,
    MarketNotFound,
    OrderNotFilled,
    OrderNotFound,
    RateLimited,
    UnexpectedResponse,
)
from clients.feed_events import FeedError
from clients.polymarket.errors import poly_error
from clients.polymarket.feed import PolymarketFeed
from clients.polymarket.parse import (
    parse_balance,
    parse_book,
    parse_cancel,
    parse_clob_market,
    parse_order,
    parse_page,
    parse_post_order,
    parse_tick_size,
    parse_trade,
)
from clients.polymarket.types import ApiCreds, FeeDetails, SignedOrder

PAYLOADS = payload_dir("polymarket")

ERRORS: dict[str, type[ExchangeError]] = {
    "official_docs__cancel_all__401__example.json": AuthError,
    "official_docs__cancel_all__500__example.json": ExchangeUnavailable,
    "official_docs__cancel_all__503__example.json": ExchangeUnavailable,
    "official_docs__cancel_market_orders__400__example.json": InvalidOrder,
    "official_docs__cancel_market_orders__401__example.json": AuthError,
    "official_docs__cancel_market_orders__500__example.json": ExchangeUnavailable,
    "official_docs__cancel_market_orders__503__example.json": ExchangeUnavailable,
    "official_docs__cancel_order__400__invalid_order_id.json": OrderNotFound,
    "official_docs__cancel_order__400__invalid_payload.json": InvalidOrder,
    "official_docs__cancel_order__401__example.json": AuthError,
    "official_docs__cancel_order__500__example.json": ExchangeUnavailable,
    "official_docs__cancel_order__503__example.json": ExchangeUnavailable,
    "official_docs__cancel_orders__400__invalid_order_id.json": OrderNotFound,
    "official_docs__cancel_orders__400__invalid_payload.json": InvalidOrder,
    "official_docs__cancel_orders__400__too_many_orders.json": InvalidOrder,
    "official_docs__cancel_orders__401__example.json": AuthError,
    "official_docs__cancel_orders__500__example.json": ExchangeUnavailable,
    "official_docs__cancel_orders__503__example.json": ExchangeUnavailable,
    "official_docs__get_book__400__example.json": MarketNotFound,
    "official_docs__get_book__404__example.json": MarketNotFound,
    "official_docs__get_book__500__example.json": ExchangeUnavailable,
    "official_docs__get_order__400__example.json": OrderNotFound,
    "official_docs__get_order__401__example.json": AuthError,
    "official_docs__get_order__404__example.json": OrderNotFound,
    "official_docs__get_order__500__example.json": ExchangeUnavailable,
    "official_docs__get_orders__400__example.json": InvalidOrder,
    "official_docs__get_orders__401__example.json": AuthError,
    "official_docs__get_orders__500__example.json": ExchangeUnavailable,
    "official_docs__get_tick_size__400__example.json": MarketNotFound,
    "official_docs__get_tick_size__404__example.json": MarketNotFound,
    "official_docs__get_tick_size__500__example.json": ExchangeUnavailable,
    "official_docs__get_trades__400__example.json": InvalidOrder,
    "official_docs__get_trades__401__example.json": AuthError,
    "official_docs__get_trades__500__example.json": ExchangeUnavailable,
    "official_docs__heartbeat__401__example.json": AuthError,
    "official_docs__heartbeat__500__example.json": ExchangeUnavailable,
    "official_docs__post_order__400__banned_address.json": AuthError,
    "official_docs__post_order__400__closed_only_mode.json": AuthError,
    "official_docs__post_order__400__invalid_order.json": InvalidOrder,
    "official_docs__post_order__400__invalid_payload.json": InvalidOrder,
    "official_docs__post_order__400__owner_mismatch.json": AuthError,
    "official_docs__post_order__400__signer_mismatch.json": AuthError,
    "official_docs__post_order__401__example.json": AuthError,
    "official_docs__post_order__500__example.json": ExchangeUnavailable,
    "official_docs__post_order__503__cancel_only.json": ExchangeUnavailable,
    "official_docs__post_order__503__post_only_mode.json": ExchangeUnavailable,
    "official_docs__post_order__503__trading_disabled.json": ExchangeUnavailable,
    "official_docs__post_orders__400__banned_address.json": AuthError,
    "official_docs__post_orders__400__closed_only_mode.json": AuthError,
    "official_docs__post_orders__400__empty_payload.json": InvalidOrder,
    "official_docs__post_orders__400__invalid_payload.json": InvalidOrder,
    "official_docs__post_orders__400__owner_mismatch.json": AuthError,
    "official_docs__post_orders__400__signer_mismatch.json": AuthError,
    "official_docs__post_orders__400__too_many_orders.json": InvalidOrder,
    "official_docs__post_orders__401__example.json": AuthError,
    "official_docs__post_orders__500__example.json": ExchangeUnavailable,
    "official_docs__post_orders__503__cancel_only.json": ExchangeUnavailable,
    "official_docs__post_orders__503__post_only_mode.json": ExchangeUnavailable,
    "official_docs__post_orders__503__trading_disabled.json": ExchangeUnavailable,
    "real__error_400_crosses_the_book.json": InvalidOrder,
    "real__error_400_invalid_amounts_limit_buy.json": InvalidOrder,
    "real__error_400_invalid_amounts_market_buy.json": InvalidOrder,
    "real__error_400_invalid_signature.json": AuthError,
    "real__error_400_maker_not_allowed_deposit_wallet.json": AuthError,
    "real__error_400_min_size.json": InvalidOrder,
    "real__error_400_not_enough_balance_allowance.json": InsufficientBalance,
    "real__error_400_order_version_mismatch.json": InvalidOrder,
    "real__error_400_signer_not_api_key.json": AuthError,
    "real__error_401_invalid_api_key.json": AuthError,
    "real__error_425_service_not_ready.json": ExchangeUnavailable,
    "real__post_order_403_geoblock.json": AuthError,
}

SIDE = {"real__post_order_200_matched_sell_v2.json": "SELL", "real__post_order_200_matched_sell_v2_b.json": "SELL"}
POST_ORDER_OK = [
    "official_docs__post_order__200__delayed_order.json",
    "official_docs__post_order__200__live_order.json",
    "official_docs__post_order__200__matched_order.json",
    "official_docs__post_order__guide_live.json",
    "real__post_order_200_live.json",
    *SIDE,
]
CANCEL_OK = [
    f"official_docs__{name}.json"
    for name in (
        "cancel_all__200__canceled",
        "cancel_all__200__mixed",
        "cancel_all__200__no_orders",
        "cancel_market_orders__200__canceled",
        "cancel_market_orders__200__mixed",
        "cancel_market_orders__200__no_orders",
        "cancel_order__200__canceled",
        "cancel_order__200__not_canceled",
        "cancel_orders__200__all_canceled",
        "cancel_orders__200__mixed",
        "cancel_orders__200__partial",
    )
]
POST_ORDERS_ARRAY = [
    "official_docs__post_orders__200__mixed_results.json",
    "official_docs__post_orders__200__post_only_mode.json",
]
PARSED_ELSEWHERE = {
    "official_docs__get_book__200__example.json",
    "real__get_book_200_rest_captured.json",
    "official_docs__get_order__200__example.json",
    "official_docs__get_orders__200__example.json",
    "official_docs__get_trades__200__example.json",
    "official_docs__get_tick_size__200__example.json",
    "real__balance_allowance_200_v2_collateral.json",
    "official_docs__post_order__request__example.json",
    "official_docs__get_clob_market_info__200__example.json",
}
# What the feed reports for each WebSocket event (checked below); the subscription requests the feed sends are
# compared with these in test_feed_corpus.py.
WS_EVENTS = {
    "official_docs__ws_market__book.json": "UserBook",
    "real__ws_market_book_captured.json": "UserBook",
    "official_docs__ws_market__priceChange.json": "BookUpdated",
    "official_docs__ws_market__lastTradePrice.json": "TradePrint",
    "official_docs__ws_market__tickSizeChange.json": "TickSizeChanged",
    "official_docs__ws_market__bestBidAsk.json": "Quote",
    "official_docs__ws_market__marketResolved.json": "MarketResolved",
    "official_docs__ws_market__prose_market_resolved.json": "MarketResolved",
    "official_docs__ws_market__newMarket.json": None,
    "official_docs__ws_market__prose_new_market.json": None,
    "official_docs__ws_user__order.json": "UserOrder",
    "official_docs__ws_user__trade.json": "UserFill",
}
WS_REQUESTS = re.compile(r"__ws_(market|user)__\w*[sS]ubscriptionRequest")
# The OpenAPI /heartbeats reply (the SDKs use /v1/heartbeats, which this client does not call), request bodies
# of batch calls, and the market-by-token answer the official SDK reads before market orders (the simulator's tests
# check it).
NOT_CLIENT_RESPONSES = re.compile(r"__request__|__heartbeat__200__|__get_market_by_token__")


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def error_parts(document: dict) -> tuple[int, bytes]:
    """(status, body bytes) of an error payload: official examples are the body, real ones wrap it."""
    status = int(re.search(r"HTTP (\d{3})", document["kind"]).group(1))
    payload = document["payload"]
    if "body_as_printed_by_py_clob_client" in payload:
        return status, payload["body_as_printed_by_py_clob_client"].encode()
    body = payload["body"] if "status" in payload and "body" in payload else payload
    return status, json.dumps(body).encode()


def signed(side: str = "BUY", order_type: str = "GTC", shares: str = "10") -> SignedOrder:
    return SignedOrder(
        order_id="0x",
        signature="0x",
        body={},
        token_id="1",
        side=side,
        price=Decimal("0.5"),
        shares=Decimal(shares),
        maker_amount=Decimal(0),
        taker_amount=Decimal(0),
        order_type=order_type,
        domain_version=2,
        neg_risk=False,
    )


def test_every_payload_file_is_covered():
    files = {p.name for p in PAYLOADS.glob("*.json")}
    assert len(files) > 100
    covered = set(ERRORS) | set(POST_ORDER_OK) | set(CANCEL_OK) | set(POST_ORDERS_ARRAY) | PARSED_ELSEWHERE
    covered |= set(WS_EVENTS)
    uncovered = {
        name for name in files - covered if not NOT_CLIENT_RESPONSES.search(name) and not WS_REQUESTS.search(name)
    }
    assert not uncovered, f"add an expectation for {sorted(uncovered)}"
    assert covered <= files, f"expectations for missing files {sorted(covered - files)}"


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_payload_maps_to_class(name):
    status, body = error_parts(load(name))
    error = poly_error(status, body, endpoint="POST /order")
    assert type(error) is ERRORS[name]
    assert error.status == status and error.exchange == "poly"
    text = json.loads(body)["error"] if body.startswith(b"{") else body.decode()
    assert text in error.message  # the exchange's own words are kept


def test_post_only_mode_keeps_code_and_retry_after():
    status, body = error_parts(load("official_docs__post_order__503__post_only_mode.json"))
    error = poly_error(status, body, endpoint="POST /order")
    assert error.code == "post_only_mode" and error.retry_after == 79.0


def test_version_mismatch_says_to_sign_v2():
    status, body = error_parts(load("real__error_400_order_version_mismatch.json"))
    error = poly_error(status, body, endpoint="POST /order")
    assert error.code == "order_version_mismatch" and "sign CLOB V2 orders" in str(error)


def test_425_plain_text_with_retry_after_header():
    status, body = error_parts(load("real__error_425_service_not_ready.json"))
    error = poly_error(status, body, endpoint="POST /order", headers={"Retry-After": "3"})
    assert isinstance(error, ExchangeUnavailable) and error.retry_after == 3.0 and error.body == "service not ready"


@pytest.mark.parametrize("name", POST_ORDER_OK)
def test_post_order_replies_parse(name):
    body = load(name)["payload"]
    side = SIDE.get(name, "BUY")
    result = parse_post_order(body, signed(side))
    assert result.exchange == "poly" and result.client_order_id is None and result.order_id == body["orderID"]
    assert result.status == body["status"] and result.raw is body
    making = Decimal(body["makingAmount"] or 0)
    taking = Decimal(body["takingAmount"] or 0)
    assert (result.filled, result.cost) == ((taking, making) if side == "BUY" else (making, taking))
    assert result.avg_price == (result.cost / result.filled if result.filled else None)


def test_real_matched_sell_reads_human_units():
    result = parse_post_order(load("real__post_order_200_matched_sell_v2.json")["payload"], signed("SELL", "FAK"))
    assert result.filled == Decimal("60.47") and result.cost == Decimal("0.78611")
    assert result.remaining == 0 and result.fees is None


def test_resting_reply_has_empty_amounts_and_the_signed_limit():
    result = parse_post_order(load("real__post_order_200_live.json")["payload"], signed("BUY", "GTC", "10"))
    assert (result.filled, result.cost, result.avg_price, result.remaining) == (0, 0, None, Decimal(10))
    assert result.limit_price == Decimal("0.5")  # the reply has no price: the signed order's


@pytest.mark.parametrize("name", CANCEL_OK)
def test_cancel_replies(name):
    body = load(name)["payload"]
    for order_id in body["canceled"]:
        assert parse_cancel(body, order_id) is None
    for order_id, reason in body["not_canceled"].items():
        with pytest.raises(OrderNotFound, match=reason):
            parse_cancel(body, order_id)
    with pytest.raises(UnexpectedResponse, match="neither"):
        parse_cancel(body, "0xnot-in-this-reply")


def test_post_orders_items_with_errors_raise_mapped_classes():
    mixed = load("official_docs__post_orders__200__mixed_results.json")["payload"]
    assert parse_post_order(mixed[0], signed()).status == "live"
    assert parse_post_order(mixed[1], signed()).status == "matched"
    with pytest.raises(RateLimited, match="Rate limit exceeded"):
        parse_post_order(mixed[2], signed())
    for item in load("official_docs__post_orders__200__post_only_mode.json")["payload"]:
        with pytest.raises(ExchangeUnavailable, match="post-only mode"):
            parse_post_order(item, signed())


@pytest.mark.parametrize(
    "name",
    [
        "official_docs__get_book__200__example.json",
        "real__get_book_200_rest_captured.json",
        "real__ws_market_book_captured.json",
    ],
)
def test_books_come_out_best_first(name):
    book = parse_book(load(name)["payload"])
    bids, asks = [level.price for level in book.bids], [level.price for level in book.asks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert len(bids) == len(load(name)["payload"]["bids"])


def test_captured_book_fields():
    book = parse_book(load("real__get_book_200_rest_captured.json")["payload"])
    assert book.bids[0].price == Decimal("0.002") and book.bids[0].size == Decimal("6.99")
    assert book.asks == () and book.tick_size == Decimal("0.001") and book.neg_risk is True
    assert book.last_trade_price is None and book.min_order_size == Decimal(5)


def test_get_order_and_open_orders():
    order = parse_order(load("official_docs__get_order__200__example.json")["payload"])
    assert order.status == "ORDER_STATUS_LIVE" and order.filled == 0 and order.avg_price is None
    assert order.limit_price == Decimal("0.5")
    assert order.remaining == Decimal("100000000")  # the OpenAPI example's 1e6-scaled size, read as given
    rows, cursor = parse_page(load("official_docs__get_orders__200__example.json")["payload"], "GET /data/orders")
    assert cursor == "MTAw" and [parse_order(row).order_id for row in rows]


def test_trades():
    rows, _ = parse_page(load("official_docs__get_trades__200__example.json")["payload"], "GET /data/trades")
    trade = parse_trade(rows[0])
    assert trade.id == "trade-123" and trade.price == Decimal("0.5") and trade.fee_rate_bps == Decimal(30)
    assert trade.status == "TRADE_STATUS_CONFIRMED" and trade.trader_side == "TAKER"


def test_tick_size_and_balance():
    assert parse_tick_size(load("official_docs__get_tick_size__200__example.json")["payload"]) == Decimal("0.01")
    balance = parse_balance(load("real__balance_allowance_200_v2_collateral.json")["payload"])
    assert balance.balance == Decimal("45.091977")
    assert balance.allowances[ctf_order.CTF_EXCHANGE_V2] == 2**256 - 1
    body = load("real__balance_allowance_200_v2_collateral.json")["payload"]
    with pytest.raises(UnexpectedResponse, match="'balance' is not an integer string"):
        parse_balance({**body, "balance": "\u0664\u0665"})  # digits to str.isdigit, never an amount on the wire


def test_clob_market_info_example():
    """The official example: a fee curve r 0.02, e 2, taker only; no `c`, `ao` or `nr` (flags left out when false)."""
    body = load("official_docs__get_clob_market_info__200__example.json")["payload"]
    market = parse_clob_market(body, "0xc")
    assert market.fees == FeeDetails(rate=Decimal("0.02"), exponent=Decimal(2), taker_only=True)
    assert market.tokens == {body["t"][0]["t"]: "Yes"}
    assert (market.tick_size, market.min_order_size) == (Decimal("0.01"), Decimal(5))
    assert (market.condition_id, market.accepting_orders, market.neg_risk) == ("0xc", False, False)


def test_documented_request_example_is_refused_by_the_verifier():
    """The OpenAPI request example has a placeholder tokenId: signing code must name the field."""
    order = load("official_docs__post_order__request__example.json")["payload"]["order"]
    with pytest.raises(ValueError, match=r"order\.tokenId"):
        ctf_order.order_hash(order)


# §6 messages that no payload file carries, verbatim from docs/wire/polymarket.md.
@pytest.mark.parametrize(
    "status, message, cls",
    [
        (400, "order couldn't be fully filled. FOK orders are fully filled or killed.", OrderNotFilled),
        (500, "FOK orders are filled or killed", OrderNotFilled),
        (
            400,
            "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found.",
            OrderNotFilled,
        ),
        (500, "there are no matching orders", OrderNotFilled),
        (400, "allowance is not enough", InsufficientBalance),
        (400, "invalid post-only order: order crosses book", InvalidOrder),
        (400, "order 0xab is invalid. Duplicated.", DuplicateOrder),
        (400, "invalid expiration", InvalidOrder),
        (400, "the market is not yet ready to process new orders", MarketClosed),
        (404, "market not found", MarketNotFound),
        (400, "Invalid orderID", OrderNotFound),
        (401, "Invalid L1 Request headers", AuthError),
        (403, "<html><title>Attention Required! | Cloudflare</title></html>", AuthError),
        (429, "Too Many Requests", RateLimited),
        (500, "order timed out", ExchangeUnavailable),
        (500, "the trade contains rounding issues", InvalidOrder),
        (
            500,
            "the price of the taker's order has a discrepancy greater than allowed with the worst maker order",
            InvalidOrder,
        ),
        (400, "context canceled", ExchangeUnavailable),
        (400, "Could not create api key", AuthError),
        (400, "Could not derive api key!", AuthError),
        (400, "something new", ExchangeError),
        (404, "gone", MarketNotFound),
    ],
)
def test_reference_messages(status, message, cls):
    body = message.encode() if message.startswith("<") else json.dumps({"error": message}).encode()
    assert type(poly_error(status, body, endpoint="POST /order")) is cls


def feed_events(event: dict) -> tuple[PolymarketFeed, list]:
    """Hand one event to a feed's channel as its socket would (after an empty book of the event's asset, so a
    price change has a book to apply to); returns the feed and what it reported for the event."""
    asset = event["price_changes"][0]["asset_id"] if "price_changes" in event else event.get("asset_id", "1")
    creds = ApiCreds(event.get("owner", "key"), "secret", "passphrase")
    feed = PolymarketFeed("ws://127.0.0.1:9/ws", assets=[asset], creds=creds)
    channel = "user" if event["event_type"] in ("order", "trade") else "market"
    socket = feed.user_socket if channel == "user" else feed.market_socket
    if event["event_type"] == "price_change":
        empty = {"event_type": "book", "asset_id": asset, "market": event["market"], "bids": [], "asks": []}
        socket.channel.received(json.dumps(empty | {"timestamp": "0", "hash": ""}))
        feed.events.get_nowait()
    socket.channel.received(json.dumps(event))
    events = []
    while not feed.events.empty():
        events.append(feed.events.get_nowait())
    return feed, events


@pytest.mark.parametrize("name", sorted(WS_EVENTS))
def test_ws_events_parse(name: str) -> None:
    event = load(name)["payload"]
    feed, events = feed_events(event)
    assert not any(isinstance(e, FeedError) for e in events), events
    expected = WS_EVENTS[name]
    if expected is None:
        assert events == []
    elif expected == "UserBook":
        book = feed.book(event["asset_id"])
        assert book is not None and len(book.bids) == len(event["bids"]) and len(book.asks) == len(event["asks"])
        assert book.best_bid.price == max(Decimal(b["price"]) for b in event["bids"])  # type: ignore[union-attr]
    else:
        assert [type(e).__name__ for e in events] == [expected]
    if expected == "UserFill":
        [fill] = events
        assert (fill.fill_id, fill.order_id, fill.size, fill.price, fill.status) == (
            event["id"],
            event["taker_order_id"],
            Decimal(event["size"]),
            Decimal(event["price"]),
            event["status"],
        )
    if expected == "UserOrder":
        [order] = events
        assert (order.order_id, order.kind, order.remaining) == (
            event["id"],
            "PLACEMENT",
            Decimal(event["original_size"]),
        )
    if expected == "BookUpdated":
        [change] = event["price_changes"]
        book = feed.book(change["asset_id"])
        assert book is not None and book.best_bid.price == Decimal(change["price"])  # type: ignore[union-attr]
