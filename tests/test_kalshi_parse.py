"""Parsers beyond the real payloads: NO-side conversions, pre-2026 integer-cent bodies, malformed bodies.

No real pre-March-2026 body exists in the payload set (docs/wire/kalshi.md §10), so the legacy bodies here are
built from the field names §4.3–§6 list; they are marked as such.
"""

from decimal import Decimal

import pytest

from clients.errors import InsufficientBalance, UnexpectedResponse
from clients.kalshi.parse import (
    order_result_from_ack,
    order_result_from_order,
    parse_ack,
    parse_balance,
    parse_batch_create,
    parse_fill,
    parse_market,
    parse_orderbook,
    parse_position,
    parse_update,
)

ORDER_NO = {  # a filled buy-NO order in the current shape (an ask on the YES leg)
    "order_id": "o-1",
    "client_order_id": "c-1",
    "status": "canceled",
    "outcome_side": "no",
    "book_side": "ask",
    "yes_price_dollars": "0.5500",
    "no_price_dollars": "0.4500",
    "fill_count_fp": "3.00",
    "remaining_count_fp": "0.00",
    "initial_count_fp": "5.00",
    "taker_fill_cost_dollars": "0.880000",
    "maker_fill_cost_dollars": "0.440000",
    "taker_fees_dollars": "0.034900",
    "maker_fees_dollars": "0.000000",
}


def test_create_ack_for_no_converts_the_yes_leg_average():
    ack = parse_ack(
        {
            "order_id": "o",
            "fill_count": "2.00",
            "remaining_count": "0.00",
            "average_fill_price": "0.5300",
            "average_fee_paid": "0.0175",
        },
        "w",
    )
    result = order_result_from_ack(ack, requested=Decimal(5), outcome="no", where="w")
    assert (result.status, result.filled, result.avg_price) == ("canceled", Decimal("2.00"), Decimal("0.4700"))
    assert result.cost == Decimal("0.940000") and result.fees == Decimal("0.035000")


def test_create_ack_with_fills_but_no_fee_reports_unknown_fees():
    ack = parse_ack(
        {"order_id": "o", "fill_count": "1.00", "remaining_count": "0.00", "average_fill_price": "0.5000"}, "w"
    )
    assert order_result_from_ack(ack, requested=Decimal(1), outcome="yes", where="w").fees is None


def test_create_ack_without_average_price_although_filled_is_unexpected():
    ack = parse_ack({"order_id": "o", "fill_count": "1.00", "remaining_count": "0.00"}, "POST /portfolio/events/orders")
    with pytest.raises(UnexpectedResponse, match="POST /portfolio/events/orders: field 'average_fill_price' missing"):
        order_result_from_ack(ack, requested=Decimal(1), outcome="yes", where="POST /portfolio/events/orders")


def test_order_object_for_no_uses_outcome_side_costs():
    result = order_result_from_order(ORDER_NO)
    assert (result.status, result.filled, result.remaining) == ("canceled", Decimal("3.00"), Decimal("0.00"))
    assert result.cost == Decimal("1.320000") and result.avg_price == Decimal("0.44")
    assert result.fees == Decimal("0.034900") and result.client_order_id == "c-1"


def test_order_limit_price_is_of_the_outcome_the_order_buys():
    assert order_result_from_order(ORDER_NO).limit_price == Decimal("0.4500")  # YES leg 0.55: NO at 0.45
    yes = {**ORDER_NO, "outcome_side": "yes", "book_side": "bid"}
    assert order_result_from_order(yes).limit_price == Decimal("0.5500")
    no_outcome_side = {k: v for k, v in ORDER_NO.items() if k != "outcome_side"}
    assert order_result_from_order(no_outcome_side).limit_price == Decimal("0.4500")  # from book_side: ask buys NO
    legacy = {"order_id": "o", "status": "resting", "side": "no", "yes_price": 60, "fill_count": 0}
    assert order_result_from_order(legacy).limit_price == Decimal("0.40")
    unpriced = {k: v for k, v in ORDER_NO.items() if k != "yes_price_dollars"}
    assert order_result_from_order(unpriced).limit_price is None


def test_create_ack_carries_the_limit_it_was_sent_with():
    ack = parse_ack({"order_id": "o", "fill_count": "0.00", "remaining_count": "5.00"}, "w")
    resting = order_result_from_ack(ack, requested=Decimal(5), outcome="no", where="w", limit_price=Decimal("0.30"))
    assert (resting.status, resting.avg_price, resting.limit_price) == ("resting", None, Decimal("0.30"))
    assert order_result_from_ack(ack, requested=Decimal(5), outcome="no", where="w").limit_price is None


def test_legacy_integer_cent_order_object():
    legacy = {
        "order_id": "o",
        "client_order_id": "c",
        "status": "executed",
        "side": "yes",
        "action": "buy",
        "yes_price": 60,
        "fill_count": 4,
        "remaining_count": 0,
        "taker_fill_cost": 228,
        "maker_fill_cost": 0,
        "taker_fees": 7,
        "maker_fees": 0,
    }
    result = order_result_from_order(legacy)
    assert (result.filled, result.cost, result.avg_price, result.fees) == (
        Decimal(4),
        Decimal("2.28"),
        Decimal("0.57"),
        Decimal("0.07"),
    )


def test_strings_win_over_integer_cents_when_both_are_present():
    both = {**ORDER_NO, "fill_count": 99, "taker_fill_cost": 9999}
    assert order_result_from_order(both).filled == Decimal("3.00")
    assert order_result_from_order(both).cost == Decimal("1.320000")


def test_fill_for_no_reports_the_no_price():
    fill = parse_fill(
        {
            "fill_id": "f",
            "order_id": "o",
            "ticker": "T",
            "outcome_side": "no",
            "book_side": "ask",
            "count_fp": "2.00",
            "yes_price_dollars": "0.5500",
            "no_price_dollars": "0.4500",
            "fee_cost": "0.034700",
            "is_taker": True,
            "ts": 1781159370,
        },
        "w",
    )
    assert (fill.outcome, fill.action, fill.price, fill.yes_price) == (
        "no",
        "buy",
        Decimal("0.4500"),
        Decimal("0.5500"),
    )


def test_legacy_fill_with_cents_and_created_time():
    fill = parse_fill(
        {
            "trade_id": "t",
            "order_id": "o",
            "ticker": "T",
            "side": "no",
            "action": "sell",
            "count": 3,
            "yes_price": 40,
            "no_price": 60,
            "is_taker": False,
            "created_time": "2025-11-30T15:00:00Z",
        },
        "w",
    )
    assert (fill.fill_id, fill.outcome, fill.action, fill.count) == ("t", "no", "sell", Decimal(3))
    assert (fill.yes_price, fill.price, fill.fee, fill.ts) == (Decimal("0.40"), Decimal("0.60"), None, 1764514800)


def test_legacy_position_balance_market_and_orderbook():
    pos = parse_position(
        {"ticker": "T", "position": -4, "market_exposure": 180, "realized_pnl": -25, "fees_paid": 7}, "w"
    )
    assert (pos.position, pos.exposure, pos.realized_pnl, pos.fees_paid) == (
        Decimal(-4),
        Decimal("1.80"),
        Decimal("-0.25"),
        Decimal("0.07"),
    )
    assert parse_balance({"balance": 9801}, "w") == Decimal("98.01")
    market = parse_market(
        {"market": {"ticker": "T", "status": "active", "yes_bid": 47, "yes_ask": 52, "tick_size": 1}}, "w"
    )
    assert (market.yes_bid, market.yes_ask, market.no_bid) == (Decimal("0.47"), Decimal("0.52"), None)
    assert market.on_grid(Decimal("0.47")) and not market.on_grid(Decimal("0.475"))
    book = parse_orderbook({"orderbook": {"yes": [[40, 5], [47, 3]], "no": None}}, "w", "T")
    assert book.yes_bids == ((Decimal("0.47"), Decimal(3)), (Decimal("0.40"), Decimal(5)))
    assert book.no_bids == () and book.yes_asks == () and book.no_asks[0] == (Decimal("0.53"), Decimal(3))


def test_orderbook_with_missing_sides_is_empty():
    book = parse_orderbook({"orderbook_fp": {}}, "w", "T")
    assert book.yes_bids == () and book.no_bids == ()


def test_tapered_price_grid():
    market = parse_market(
        {
            "market": {
                "ticker": "T",
                "status": "active",
                "price_ranges": [
                    {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
                    {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
                ],
            }
        },
        "w",
    )
    assert market.on_grid(Decimal("0.005")) and market.on_grid(Decimal("0.52"))
    assert not market.on_grid(Decimal("0.525")) and not market.on_grid(Decimal("0.95"))


def test_update_converts_amend_averages_to_the_outcome():
    update = parse_update(
        {
            "order_id": "o",
            "fill_count": "2.00",
            "remaining_count": "6.00",
            "average_fill_price": "0.6000",
            "average_fee_paid": "0.0168",
        },
        "w",
        "no",
    )
    assert (update.filled, update.remaining, update.avg_price, update.fees) == (
        Decimal("2.00"),
        Decimal("6.00"),
        Decimal("0.4000"),
        Decimal("0.033600"),
    )


def test_batch_items_keep_their_own_errors():
    results = parse_batch_create(
        {
            "orders": [
                {"order_id": "a", "fill_count": "0.00", "remaining_count": "1.00"},
                {"client_order_id": "b", "error": {"code": "insufficient_balance", "message": "insufficient balance"}},
            ]
        },
        "POST /b",
    )
    assert results[0].order_id == "a"
    assert isinstance(results[1], InsufficientBalance) and "POST /b orders[1]" in str(results[1])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: parse_ack([], "POST /o"), "POST /o: body is not a JSON object"),
        (lambda: parse_ack({"fill_count": "1.00"}, "POST /o"), "POST /o: field 'order_id' missing"),
        (
            lambda: parse_balance({"balance_dollars": "lots"}, "GET /b"),
            "GET /b: field 'balance_dollars' is not a decimal",
        ),
        (lambda: parse_balance({"balance_dollars": True}, "GET /b"), "GET /b: field 'balance_dollars' is not a number"),
        (lambda: parse_balance({}, "GET /b"), "GET /b: field 'balance_dollars' missing"),
        (
            lambda: order_result_from_order({**ORDER_NO, "fill_count_fp": "Infinity"}),
            "field 'fill_count_fp' is not finite",
        ),
        (
            lambda: order_result_from_order({k: v for k, v in ORDER_NO.items() if "fill_cost" not in k}),
            "missing although filled",
        ),
        (lambda: parse_market({"market": "T"}, "GET /m"), "GET /m: field 'market' is not a JSON object"),
        (
            lambda: parse_orderbook({"orderbook_fp": {"yes_dollars": [["0.5"]]}}, "GET /ob", "T"),
            "is not \\[price, count\\]",
        ),
        (
            lambda: parse_orderbook({"orderbook_fp": {"yes_dollars": "x"}}, "GET /ob", "T"),
            "field 'yes_dollars' is not a list",
        ),
        (
            lambda: parse_fill({"fill_id": "f", "order_id": "o", "ticker": "T", "outcome_side": "maybe"}, "GET /f"),
            "not yes/no",
        ),
        (
            lambda: parse_fill(
                {"fill_id": "f", "order_id": "o", "ticker": "T", "outcome_side": "yes", "count_fp": "1"}, "GET /f"
            ),
            "'yes_price_dollars' missing",
        ),
    ],
)
def test_unexpected_bodies_name_endpoint_and_field(call, message):
    with pytest.raises(UnexpectedResponse, match=message) as info:
        call()
    assert info.value.exchange == "kalshi"
