"""Matching-engine properties of the paper Kalshi exchange (hypothesis), plus the fee and STP rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.kalshi.errors import KalshiError
from simulator.kalshi.exchange import MARKET_MAKER, KalshiExchange, taker_fee
from simulator.kalshi.model import ONE, ZERO, Account, Market, OrderRequest

TICKER = "KXPROP-26DEC31-A"
START_CASH = {"alice": Decimal("50.00"), "bob": Decimal("30.00")}


def make_exchange(bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> KalshiExchange:
    market = Market(
        TICKER,
        "KXPROP-26DEC31",
        "prop",
        "",
        "",
        "active",
        [(Decimal("0"), Decimal("1"), Decimal("0.01"))],
        0.0,
        0.0,
        1e10,
    )
    accounts = [Account(name, name, cash) for name, cash in START_CASH.items()]
    exchange = KalshiExchange([market], accounts, {}, now=lambda: 1_000.0)
    exchange.set_book(TICKER, bids, asks)
    return exchange


cents = st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100)
counts = st.integers(min_value=1, max_value=1500).map(lambda c: Decimal(c) / 100)
levels_low = st.lists(
    st.tuples(st.integers(1, 49).map(lambda c: Decimal(c) / 100), counts), max_size=4, unique_by=lambda level: level[0]
)
levels_high = st.lists(
    st.tuples(st.integers(51, 99).map(lambda c: Decimal(c) / 100), counts), max_size=4, unique_by=lambda level: level[0]
)
orders = st.tuples(
    st.sampled_from(sorted(START_CASH)),
    st.sampled_from(["bid", "ask"]),
    cents,
    counts,
    st.sampled_from(["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]),
    st.sampled_from(["taker_at_cross", "maker"]),
    st.booleans(),
)
actions = st.lists(st.one_of(orders, st.tuples(st.just("cancel"), st.integers(0, 50))), min_size=1, max_size=25)


def replay_cash_and_position(exchange: KalshiExchange, account: str) -> tuple[Decimal, Decimal]:
    """Cash and position from the account's fills alone: pay the leg price, fee and balance rounding, a YES+NO pair
    pays $1."""
    cash, position = START_CASH.get(account, ZERO), ZERO
    for fill in (f for f in exchange.fills if f.account == account):
        direction = 1 if fill.book_side == "bid" else -1
        leg = fill.yes_price if direction == 1 else ONE - fill.yes_price
        cash -= fill.count * leg + fill.fee + fill.rounding
        cash += min(fill.count, max(-position * direction, ZERO))
        position += direction * fill.count
    return cash, position


def check_invariants(exchange: KalshiExchange) -> None:
    book = exchange.books[TICKER]
    best_bid, best_ask = book.best("bid"), book.best("ask")
    assert best_bid is None or best_ask is None or best_bid[0] < best_ask[0], "book crossed"
    taker_volume = sum((f.count for f in exchange.fills if f.is_taker), ZERO)
    maker_volume = sum((f.count for f in exchange.fills if not f.is_taker), ZERO)
    assert taker_volume == maker_volume, "every trade has a maker and a taker side of equal size"
    for order in exchange.orders.values():
        filled = sum((f.count for f in exchange.fills if f.order_id == order.order_id), ZERO)
        assert filled == order.fill_count
        assert order.fill_count + order.remaining <= order.initial_count
        assert (order.status == "resting") == (order in book.orders())
        assert order.status != "executed" or order.fill_count == order.initial_count
    for fill in exchange.fills:
        order = exchange.orders[fill.order_id]
        if fill.is_taker:
            assert fill.yes_price <= order.price if order.book_side == "bid" else fill.yes_price >= order.price
        else:
            assert fill.yes_price == order.price, "makers trade at their own price"
        assert fill.fee == (taker_fee(fill.count, fill.yes_price) if fill.is_taker else ZERO)
    for order in exchange.orders.values():
        rounding = sum((f.rounding for f in exchange.fills if f.order_id == order.order_id), ZERO)
        assert rounding == order.fee_accumulator and ZERO <= rounding <= Decimal("0.01"), (
            "an order pays at most a cent of rounding beyond its fills and trade fees"
        )
    fees = sum((f.fee + f.rounding for f in exchange.fills), ZERO)
    open_interest = ZERO
    for name, account in exchange.accounts.items():
        cash, position = replay_cash_and_position(exchange, name)
        held = account.positions.get(TICKER)
        assert account.cash == cash
        assert account.cash % account.balance_precision == 0, "balances stay whole cents (non-direct members)"
        assert (held.position if held else ZERO) == position
        open_interest += max(position, ZERO)
        if not account.unlimited:
            assert exchange.available(account) >= 0, f"{name} spent collateral it did not have"
    total_cash = sum((a.cash for a in exchange.accounts.values()), ZERO)
    assert total_cash + fees + open_interest == sum(START_CASH.values()), "money is conserved"


@settings(max_examples=150, deadline=None)
@given(levels_low, levels_high, actions)
def test_matching_properties(bids: list, asks: list, steps: list) -> None:
    exchange = make_exchange(bids, asks)
    for step in steps:
        if step[0] == "cancel":
            resting = [o for o in exchange.orders.values() if o.status == "resting" and o.account != MARKET_MAKER]
            if resting:
                order = resting[step[1] % len(resting)]
                exchange.cancel(order.account, order.order_id)
            continue
        account, side, price, count, tif, stp, post_only = step
        fills_before, orders_before = len(exchange.fills), len(exchange.orders)
        req = OrderRequest(TICKER, side, price, count, tif, stp, post_only=post_only)
        try:
            execution = exchange.create(account, req)
        except KalshiError as refused:
            assert refused.code in ("insufficient_balance", "fill_or_kill_insufficient_resting_volume", "invalid_order")
            assert (len(exchange.fills), len(exchange.orders)) == (fills_before, orders_before), (
                "a refusal changes nothing"
            )
        else:
            order = execution.order
            if tif != "good_till_canceled":
                assert order.status != "resting" and order.remaining == 0, "IOC/FOK never rest"
            if tif == "fill_or_kill":
                assert order.fill_count == count, "FOK fills fully or not at all"
            if post_only:
                assert execution.fills == []
        check_invariants(exchange)


def test_fee_is_rounded_up_to_the_centicent() -> None:
    assert taker_fee(Decimal("1"), Decimal("0.52")) == Decimal("0.0175")  # 0.017472
    assert taker_fee(Decimal("1"), Decimal("0.99")) == Decimal("0.0007")  # 0.000693
    assert taker_fee(Decimal("100"), Decimal("0.50")) == Decimal("1.7500")


def test_fok_refused_without_enough_volume_and_filled_with_it() -> None:
    exchange = make_exchange([], [(Decimal("0.52"), Decimal("3"))])
    with pytest.raises(KalshiError) as refused:
        exchange.create(
            "alice", OrderRequest(TICKER, "bid", Decimal("0.60"), Decimal("4"), "fill_or_kill", "taker_at_cross")
        )
    assert (refused.value.status, refused.value.code) == (409, "fill_or_kill_insufficient_resting_volume")
    done = exchange.create(
        "alice", OrderRequest(TICKER, "bid", Decimal("0.60"), Decimal("3"), "fill_or_kill", "taker_at_cross")
    )
    assert (done.order.status, done.order.fill_count) == ("executed", Decimal("3"))


def test_ioc_partial_fill_cancels_the_rest() -> None:
    exchange = make_exchange([], [(Decimal("0.52"), Decimal("2")), (Decimal("0.60"), Decimal("5"))])
    done = exchange.create(
        "alice", OrderRequest(TICKER, "bid", Decimal("0.55"), Decimal("5"), "immediate_or_cancel", "taker_at_cross")
    )
    assert (done.order.status, done.order.fill_count, done.order.remaining) == ("canceled", Decimal("2"), ZERO)
    assert exchange.books[TICKER].best("ask") == (Decimal("0.60"), Decimal("5"))


def test_price_time_priority_and_maker_stp() -> None:
    exchange = make_exchange([], [])
    first = exchange.create(
        "alice", OrderRequest(TICKER, "ask", Decimal("0.50"), Decimal("1"), "good_till_canceled", "maker")
    ).order
    second = exchange.create(
        "bob", OrderRequest(TICKER, "ask", Decimal("0.50"), Decimal("1"), "good_till_canceled", "maker")
    ).order
    better = exchange.create(
        "bob", OrderRequest(TICKER, "ask", Decimal("0.49"), Decimal("1"), "good_till_canceled", "maker")
    ).order
    # bob's taker (STP maker) cancels bob's own resting asks and trades with alice's, best price first
    taker = exchange.create(
        "bob", OrderRequest(TICKER, "bid", Decimal("0.50"), Decimal("3"), "immediate_or_cancel", "maker")
    )
    assert [f.order_id for f in exchange.fills if not f.is_taker] == [first.order_id]
    assert (better.status, second.status, first.status) == ("canceled", "canceled", "executed")
    assert taker.order.fill_count == Decimal("1")


def test_collateral_is_held_for_resting_orders() -> None:
    exchange = make_exchange([], [])
    alice = exchange.accounts["alice"]
    exchange.create(
        "alice", OrderRequest(TICKER, "bid", Decimal("0.40"), Decimal("100"), "good_till_canceled", "taker_at_cross")
    )
    assert exchange.available(alice) == Decimal("9.99")  # 40.00 and the cent its floored fills may keep
    with pytest.raises(KalshiError) as refused:
        exchange.create(
            "alice", OrderRequest(TICKER, "ask", Decimal("0.45"), Decimal("20"), "good_till_canceled", "taker_at_cross")
        )  # 20 NO at 0.55 = 11.00 > 9.99 free
    assert refused.value.code == "insufficient_balance"


def test_book_events_are_published() -> None:
    exchange = make_exchange([(Decimal("0.40"), Decimal("2"))], [])
    events: list = []
    exchange.listeners.append(events.append)
    exchange.create(
        "alice", OrderRequest(TICKER, "ask", Decimal("0.40"), Decimal("1"), "immediate_or_cancel", "taker_at_cross")
    )
    kinds = [e.kind for e in events]
    assert "fill" in kinds and "order" in kinds and "position" in kinds
    [delta] = [e.data for e in events if e.kind == "book"]
    assert (delta["book_side"], delta["price"], delta["delta"]) == ("bid", Decimal("0.40"), Decimal("-1"))


def test_selling_held_contracts_needs_no_cash() -> None:
    """An ask against YES the account holds closes the position (each YES+NO pair pays $1): it brings
    cash in, so an empty balance must not refuse it."""
    exchange = make_exchange([(Decimal("0.40"), Decimal("5"))], [(Decimal("0.45"), Decimal("5"))])
    alice = exchange.accounts["alice"]
    exchange.create(
        "alice", OrderRequest(TICKER, "bid", Decimal("0.45"), Decimal("5"), "immediate_or_cancel", "taker_at_cross")
    )
    alice.cash = exchange.held(alice)  # nothing free
    done = exchange.create(
        "alice", OrderRequest(TICKER, "ask", Decimal("0.40"), Decimal("5"), "immediate_or_cancel", "taker_at_cross")
    )
    assert done.order.fill_count == Decimal("5")
    # 5 x 0.40 less the fee 0.07 x 5 x 0.24 = 0.084: 1.916, floored to the cent (docs/wire/kalshi.md, fee rounding)
    assert alice.cash == Decimal("1.91")
    assert alice.positions[TICKER].position == ZERO
    with pytest.raises(KalshiError) as refused:  # opening NO beyond the (now closed) position still needs cash
        exchange.create(
            "alice",
            OrderRequest(TICKER, "ask", Decimal("0.60"), Decimal("100"), "good_till_canceled", "taker_at_cross"),
        )
    assert refused.value.code == "insufficient_balance"


def test_reduce_only_without_a_position_leaves_no_position_record() -> None:
    exchange = make_exchange([(Decimal("0.40"), Decimal("5"))], [])
    done = exchange.create(
        "alice",
        OrderRequest(
            TICKER, "ask", Decimal("0.40"), Decimal("5"), "immediate_or_cancel", "taker_at_cross", reduce_only=True
        ),
    )
    assert (done.order.fill_count, done.order.status) == (ZERO, "canceled")
    assert exchange.accounts["alice"].positions == {}


def test_fill_and_order_ids_differ_between_simulator_runs():
    """Sessions recorded on separate runs compose: the same first trade never gets the same ids twice."""
    req = OrderRequest(TICKER, "bid", Decimal("0.60"), Decimal("1"), "immediate_or_cancel", "taker_at_cross")
    runs = [make_exchange([], [(Decimal("0.55"), Decimal("5"))]).create("alice", req) for _ in range(3)]
    assert len({run.fills[0].fill_id for run in runs}) == len({run.order.order_id for run in runs}) == 3
