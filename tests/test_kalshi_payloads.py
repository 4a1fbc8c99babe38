"""Every real Kalshi payload in tests/data/payloads/kalshi/ through the client's parsers and error mapping.

The directory is iterated, so a new payload file is covered automatically: an error body needs an
expected class below, any other kind a checker or an explicit reason why this client does not read it.
"""

import functools
import itertools
import json
import re
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from corpus import payload_dir

from clients import errors
from clients.feed_events import FeedError
from clients.kalshi.errors import kalshi_error
from clients.kalshi.feed import (
    KalshiFeed,
    parse_delta,
    parse_position_update,
    parse_snapshot,
    parse_ticker,
    parse_trade,
    parse_user_fill,
    parse_user_order,
)
from clients.kalshi.parse import (
    count,
    order_result_from_ack,
    parse_ack,
    parse_balance,
    parse_batch_cancel,
    parse_batch_create,
    parse_cancel,
    parse_fills,
    parse_market,
    parse_order,
    parse_orderbook,
    parse_orders,
    parse_positions,
    parse_update,
)
from simulator.credentials import kalshi_test_credentials

PAYLOADS = payload_dir("kalshi")
FILES = sorted(PAYLOADS.glob("*.json"))

ERROR_CLASSES = {
    "official_docs__rate_limit_429_body.json": errors.RateLimited,
    "real_demo__auth__bad_signature.json": errors.AuthError,
    "real_demo__auth__missing_signature_header.json": errors.AuthError,
    "real_demo__auth__skew_minus30s.json": errors.AuthError,
    "real_demo__auth__skew_plus5min.json": errors.AuthError,
    "real_demo__auth__unknown_key_id.json": errors.AuthError,
    "real_demo__markets__limit_over_max.json": errors.InvalidOrder,
    "real_demo__orders__cancel_already_canceled.json": errors.OrderNotFound,
    "real_demo__orders__cancel_executed.json": errors.OrderNotFound,
    "real_demo__orders__cancel_unknown_id.json": errors.OrderNotFound,
    "real_demo__orders__duplicate_client_order_id.json": errors.DuplicateOrder,
    "real_demo__orders__insufficient_balance.json": errors.InsufficientBalance,
    "real_demo__orders__invalid_price_structure.json": errors.InvalidOrder,
    "real_demo__orders__numeric_field_types.json": errors.InvalidOrder,
    "real_demo__orders__post_only_cross.json": errors.InvalidOrder,
    "real_demo__orders__reuse_canceled_client_id.json": errors.DuplicateOrder,
    "real_prod_pasted__deprecated_v1_create_410.json": errors.DeprecatedEndpoint,
    "real_prod_pasted__invalid_price_400.json": errors.InvalidOrder,
    "real_prod_pasted__order_already_exists_409.json": errors.DuplicateOrder,
    "real_prod_pasted__trading_is_paused_409.json": errors.MarketClosed,
}

# Create answers carry no status and no requested count: (requested, outcome) from the matching request,
# and what the OrderResult must say: (status, filled, avg_price of the outcome, cost, fees).
CREATE_RESULTS = {
    "official_openapi__create_order_v2_response.json": (("10.00", "yes"), ("resting", "0.00", None, "0", "0")),
    "real_demo__orders__create_v2_maker.json": (("1.00", "yes"), ("resting", "0.00", None, "0", "0")),
    "real_demo__orders__create_v2_taker_ioc.json": (("1.00", "yes"), ("executed", "1.00", "0.52", "0.52", "0.0175")),
    "real_demo__orders__settlement_seed.json": (("1.00", "yes"), ("executed", "1.00", "0.52", "0.52", "0.0175")),
    "real_demo__orders__stp_self_cross.json": (("1.00", "no"), ("canceled", "0.00", None, "0", "0")),
}

NOT_READ_BY_THIS_CLIENT = {
    **dict.fromkeys(
        (
            "ws_subscribe_command",
            "ws_update_subscription_command",
            "ws_subscribeCommand",
            "ws_unsubscribeCommand",
            "ws_updateSubscriptionCommand",
            "ws_updateSubscriptionGetSnapshotCommand",
        ),
        "a WebSocket command (client to server): the feed's own commands match these and the simulator "
        "answers them, in test_feed_corpus.py",
    ),
    "get_account_": "account limits and endpoint costs: not read by the client",
    "get_exchange_status_response": "exchange status: not read by the client",
    "get_settlements_response": "settlements: not read by the client",
    "amend_order_v2_request": "a request body (checked in test_kalshi_client amend test)",
    "batch_cancel_orders_v2_request": "a request body",
    "batch_create_orders_v2_request": "a request body",
    "decrease_order_v2_request": "a request body",
    "create_order_v2_request": "a request body (checked in test_kalshi_orders)",
    "legacy_v1_create_order_request": "a retired request body the client never sends",
    "legacy_v1_amend_order_request": "a retired request body the client never sends",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def status_of(doc: dict) -> int:
    """The HTTP status the file records: `-> HTTP 404` in the source, or `(409 …` in the kind."""
    match = re.search(r"-> HTTP (\d{3})", doc["source"]) or re.search(r"\((\d{3})\b", doc["kind"])
    assert match, f"no HTTP status recorded in {doc['kind']!r}"
    return int(match.group(1))


def d(value):
    return None if value is None else Decimal(value)


# --- checkers, one per payload kind --------------------------------------------------------------


def check_error(name, doc):
    assert name in ERROR_CLASSES, f"new error payload {name}: add its expected class to ERROR_CLASSES"
    status = status_of(doc)
    error = kalshi_error(status, orjson.dumps(doc["payload"]), endpoint="POST /portfolio/events/orders")
    assert type(error) is ERROR_CLASSES[name]
    assert error.status == status and error.body == doc["payload"]
    inner = doc["payload"].get("error")
    if isinstance(inner, dict):
        assert error.code == inner["code"] and error.message.startswith(inner["message"])


def check_create(name, doc):
    assert name in CREATE_RESULTS, f"new create answer {name}: add its expectation to CREATE_RESULTS"
    (requested, outcome), (status, filled, avg, cost, fees) = CREATE_RESULTS[name]
    ack = parse_ack(doc["payload"], name)
    result = order_result_from_ack(ack, requested=Decimal(requested), outcome=outcome, where=name)
    assert (result.status, result.filled, result.avg_price, result.cost, result.fees) == (
        status,
        d(filled),
        d(avg),
        d(cost),
        d(fees),
    )
    assert result.order_id == doc["payload"]["order_id"] and result.raw is doc["payload"]
    assert result.remaining == Decimal(doc["payload"]["remaining_count"])


def check_order_object(order, result):
    assert result.order_id == order["order_id"] and result.status == order["status"]
    assert result.filled == Decimal(order["fill_count_fp"]) and result.remaining == Decimal(order["remaining_count_fp"])
    cost = Decimal(order["taker_fill_cost_dollars"]) + Decimal(order["maker_fill_cost_dollars"])
    assert result.cost == cost
    assert result.fees == Decimal(order["taker_fees_dollars"]) + Decimal(order["maker_fees_dollars"])
    assert result.avg_price == (cost / result.filled if result.filled else None)


def check_get_order(name, doc):
    check_order_object(doc["payload"]["order"], parse_order(doc["payload"], name))


def check_orders(name, doc):
    results = parse_orders(doc["payload"], name)
    assert len(results) == len(doc["payload"]["orders"]) > 0
    for order, result in zip(doc["payload"]["orders"], results, strict=True):
        check_order_object(order, result)


def check_fills(name, doc):
    fills = parse_fills(doc["payload"], name)
    assert len(fills) == len(doc["payload"]["fills"]) > 0
    for raw, fill in zip(doc["payload"]["fills"], fills, strict=True):
        assert (fill.fill_id, fill.order_id, fill.ticker, fill.outcome) == (
            raw["fill_id"],
            raw["order_id"],
            raw["ticker"],
            raw["outcome_side"],
        )
        assert fill.count == Decimal(raw["count_fp"]) and fill.yes_price == Decimal(raw["yes_price_dollars"])
        assert fill.price == Decimal(raw[f"{raw['outcome_side']}_price_dollars"])
        assert fill.fee == Decimal(raw["fee_cost"]) and fill.is_taker is raw["is_taker"] and fill.ts == raw["ts"]


def check_positions(name, doc):
    positions = parse_positions(doc["payload"], name)
    assert len(positions) == len(doc["payload"]["market_positions"]) > 0
    for raw, pos in zip(doc["payload"]["market_positions"], positions, strict=True):
        assert pos.ticker == raw["ticker"] and pos.position == Decimal(raw["position_fp"])
        assert (pos.exposure, pos.realized_pnl, pos.fees_paid) == tuple(
            Decimal(raw[k]) for k in ("market_exposure_dollars", "realized_pnl_dollars", "fees_paid_dollars")
        )


def check_balance(name, doc):
    assert parse_balance(doc["payload"], name) == Decimal(doc["payload"]["balance_dollars"])


def check_market(name, doc):
    market = parse_market(doc["payload"], name)
    raw = doc["payload"]["market"]
    assert (market.ticker, market.status, market.event_ticker) == (raw["ticker"], raw["status"], raw["event_ticker"])
    assert market.yes_bid == Decimal(raw["yes_bid_dollars"]) and market.yes_ask == Decimal(raw["yes_ask_dollars"])
    assert market.no_bid == Decimal(raw["no_bid_dollars"]) and market.last_price == Decimal(raw["last_price_dollars"])
    assert [(r.start, r.end, r.step) for r in market.price_ranges] == [
        tuple(Decimal(r[k]) for k in ("start", "end", "step")) for r in raw["price_ranges"]
    ]


def check_orderbook(name, doc):
    book = parse_orderbook(doc["payload"], name, "T")
    raw = doc["payload"]["orderbook_fp"]
    for side, levels in (("yes", book.yes_bids), ("no", book.no_bids)):
        wire = [(Decimal(p), Decimal(c)) for p, c in raw.get(f"{side}_dollars") or []]
        assert list(levels) == wire[::-1]  # the wire is ascending with best last; ours is best first
    assert [p for p, _ in book.yes_asks] == [1 - p for p, _ in book.no_bids]
    assert all(a[0] < b[0] for a, b in itertools.pairwise(book.yes_asks))  # asks: lowest first


def check_cancel(name, doc):
    result = parse_cancel(doc["payload"], name)
    payload = doc["payload"]
    ids = payload.get("order", payload)
    assert result.order_id == ids["order_id"] and result.client_order_id == ids.get("client_order_id")
    assert result.reduced_by == Decimal(payload.get("reduced_by_fp") or payload["reduced_by"])


def check_legacy_create(name, doc):
    check_order_object(doc["payload"]["order"], parse_order(doc["payload"], name))


def check_update(name, doc):
    update = parse_update(doc["payload"], name)
    payload = doc["payload"]
    assert update.order_id == payload["order_id"] and update.client_order_id == payload["client_order_id"]
    assert update.remaining == Decimal(payload["remaining_count"])
    assert update.filled == d(payload.get("fill_count"))


def check_batch_create(name, doc):
    acks = parse_batch_create(doc["payload"], name)
    assert [a.order_id for a in acks] == [o["order_id"] for o in doc["payload"]["orders"]]
    assert [a.average_fill_price for a in acks] == [d(o.get("average_fill_price")) for o in doc["payload"]["orders"]]


def check_batch_cancel(name, doc):
    results = parse_batch_cancel(doc["payload"], name)
    assert [(r.order_id, r.reduced_by) for r in results] == [
        (o["order_id"], Decimal(o["reduced_by"])) for o in doc["payload"]["orders"]
    ]


def check_transition_fragment(name, doc):
    # Jan-2026 answers carried integer and _fp counts together: the string wins.
    assert count(doc["payload"], name, "fill_count_fp", "fill_count") == Decimal("5.00")
    assert count({"fill_count": 5}, name, "fill_count_fp", "fill_count") == Decimal(5)


# --- WebSocket frames (server to client) ------------------------------------------------------------


@functools.cache
def ws_key():
    """A throwaway RSA key, made once (generating one is slow)."""
    return kalshi_test_credentials()[1]


def ws_feed() -> KalshiFeed:
    """A fresh feed that is never started: frames are handed to it as its socket would."""
    return KalshiFeed("ws://127.0.0.1:9/trade-api/ws/v2", "key", ws_key())


def received(doc: dict, feed: KalshiFeed | None = None) -> list:
    """The events a feed reports for a frame, handed over as text."""
    feed = feed or ws_feed()
    feed.received(orjson.dumps(doc["payload"]).decode())
    events = []
    while not feed.events.empty():
        events.append(feed.events.get_nowait())
    return events


def yes_price_flag(name: str) -> bool:
    """Whether the recording subscribed with use_yes_price (only the `_yes` demo recording did)."""
    return "orderbook_trade_yes" in name


def check_ws_subscribed(name, doc):
    feed = ws_feed()
    assert received(doc, feed) == []
    msg = doc["payload"]["msg"]
    if msg["channel"] == "orderbook_delta":
        assert feed._book_sid == msg["sid"]


def check_ws_snapshot(name, doc):
    msg = doc["payload"]["msg"]
    ticker, bids, asks = parse_snapshot(msg, yes_price_flag(name))
    assert ticker == msg["market_ticker"]
    assert bids == [(Decimal(p), Decimal(c)) for p, c in msg.get("yes_dollars_fp", [])]
    no = [(Decimal(p), Decimal(c)) for p, c in msg.get("no_dollars_fp", [])]
    assert asks == (no if yes_price_flag(name) else [(1 - p, c) for p, c in no])


def check_ws_delta(name, doc):
    msg = doc["payload"]["msg"]
    ticker, side, price, change = parse_delta(msg, yes_price_flag(name))
    wire = Decimal(msg["price_dollars"])
    assert (ticker, change) == (msg["market_ticker"], Decimal(msg["delta_fp"]))
    if msg["side"] == "yes":
        assert (side, price) == ("bid", wire)
    else:
        assert (side, price) == ("ask", wire if yes_price_flag(name) else 1 - wire)


def check_ws_error(name, doc):
    [event] = received(doc)
    msg = doc["payload"]["msg"]
    assert isinstance(event, FeedError) and event.raw == orjson.dumps(doc["payload"]).decode()
    assert f"code {msg['code']} {msg['msg']}" in event.problem


def check_ws_ignored(name, doc):
    assert received(doc) == []  # ok replies, order groups: nothing for the feed to report


def check_ws_fill(name, doc):
    msg = doc["payload"]["msg"]
    fill = parse_user_fill(msg)
    assert (fill.fill_id, fill.order_id, fill.market, fill.outcome) == (
        msg["trade_id"],
        msg["order_id"],
        msg["market_ticker"],
        msg.get("outcome_side", msg["side"]),
    )
    yes = Decimal(msg["yes_price_dollars"])
    assert fill.size == Decimal(msg["count_fp"]) and fill.price == (yes if fill.outcome == "yes" else 1 - yes)
    assert fill.is_taker is msg["is_taker"] and fill.fee == (Decimal(msg["fee_cost"]) if "fee_cost" in msg else None)
    assert received(doc) == [fill]


def check_ws_position(name, doc):
    msg = doc["payload"]["msg"]
    update = parse_position_update(msg)
    assert (update.market, update.position) == (msg["market_ticker"], Decimal(msg["position_fp"]))
    assert (update.realized_pnl, update.fees_paid) == (
        Decimal(msg["realized_pnl_dollars"]),
        Decimal(msg["fees_paid_dollars"]),
    )


def check_ws_ticker(name, doc):
    msg = doc["payload"]["msg"]
    quote = parse_ticker(msg)
    assert (quote.market, quote.best_bid, quote.best_ask, quote.last_price) == (
        msg["market_ticker"],
        Decimal(msg["yes_bid_dollars"]),
        Decimal(msg["yes_ask_dollars"]),
        Decimal(msg["price_dollars"]),
    )


def check_ws_trade(name, doc):
    msg = doc["payload"]["msg"]
    trade = parse_trade(msg)
    assert (trade.market, trade.price, trade.size, trade.side) == (
        msg["market_ticker"],
        Decimal(msg["yes_price_dollars"]),
        Decimal(msg["count_fp"]),
        msg.get("taker_outcome_side", msg["taker_side"]),
    )


def check_ws_user_order(name, doc):
    msg = doc["payload"]["msg"]
    order = parse_user_order(msg)
    assert (order.order_id, order.market, order.status) == (msg["order_id"], msg["ticker"], msg["status"])
    assert (order.filled, order.remaining) == (Decimal(msg["fill_count_fp"]), Decimal(msg["remaining_count_fp"]))
    assert order.price == Decimal(msg["yes_price_dollars"])  # a YES order: its own price


WS_CHECKERS = {
    "ws_subscribed": check_ws_subscribed,
    "ws_orderbook_snapshot": check_ws_snapshot,
    "ws_orderbookSnapshot": check_ws_snapshot,
    "ws_orderbook_delta": check_ws_delta,
    "ws_orderbookDelta": check_ws_delta,
    "ws_error": check_ws_error,
    "ws_okResponse": check_ws_ignored,
    "ws_orderGroupUpdates": check_ws_ignored,
    "ws_fill": check_ws_fill,
    "ws_marketPosition": check_ws_position,
    "ws_ticker": check_ws_ticker,
    "ws_trade": check_ws_trade,
    "ws_userOrder": check_ws_user_order,
}


CHECKERS = {
    "error_body": check_error,
    "create_order_v2_response": check_create,
    "get_order_response": check_get_order,
    "get_orders_response": check_orders,
    "get_fills_response": check_fills,
    "get_positions_response": check_positions,
    "get_balance_response": check_balance,
    "get_market_response": check_market,
    "get_market_orderbook_response": check_orderbook,
    "cancel_order_v2_response": check_cancel,
    "legacy_v1_cancel_order_response": check_cancel,
    "legacy_v1_create_order_response": check_legacy_create,
    "amend_order_v2_response": check_update,
    "decrease_order_v2_response": check_update,
    "batch_create_orders_v2_response": check_batch_create,
    "batch_cancel_orders_v2_response": check_batch_cancel,
    "order_fragment_transition_era": check_transition_fragment,
    **WS_CHECKERS,
}


def kind_key(kind: str, table: dict) -> str | None:
    return next((k for k in sorted(table, key=len, reverse=True) if kind.startswith(k)), None)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_payload(path):
    doc = load(path)
    checker = kind_key(doc["kind"], CHECKERS)
    if checker is None:
        reason = kind_key(doc["kind"], NOT_READ_BY_THIS_CLIENT)
        assert reason, f"{path.name}: new payload kind {doc['kind']!r} has no checker and no reason to skip it"
        pytest.skip(NOT_READ_BY_THIS_CLIENT[reason])
    CHECKERS[checker](path.name, doc)


def test_every_expected_error_file_exists():
    assert set(ERROR_CLASSES) | set(CREATE_RESULTS) <= {p.name for p in FILES}
