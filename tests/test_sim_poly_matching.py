"""Matching properties of the paper Polymarket engine (hypothesis), driven below the HTTP layer.

Orders carry the exact amounts the real client signs (clients.polymarket.orders), so the engine sees
what it sees in production: limit orders in shares, market BUYs as a pUSD budget.
"""

from __future__ import annotations

import contextlib
import copy
from decimal import Decimal

from client_helpers import HARDHAT_ADDRESS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_poly_helpers import frozen_clock

from clients.polymarket.orders import from_units, limit_amounts, market_amounts
from simulator.poly.config import parse_section
from simulator.poly.errors import PolyError
from simulator.poly.exchange import PolyExchange
from simulator.poly.model import BUY, IMMEDIATE, LIVE, SELL, ZERO
from simulator.poly.orders import OrderRequest

TOKEN = "1001"
TICK = Decimal("0.01")
prices = st.integers(1, 99).map(lambda n: Decimal(n) / 100)
sizes = st.integers(1, 50_000).map(lambda n: Decimal(n) / 100)


def section(bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal], fee_rate: str) -> dict:
    def level(price: Decimal, size: Decimal) -> dict[str, str]:
        return {"price": str(price), "size": str(size)}

    return {
        "markets": [
            {
                "condition_id": "0x" + "11" * 32,
                "tick_size": "0.01",
                "min_order_size": "5",
                "fee_rate": fee_rate,
                "tokens": [
                    {
                        "token_id": TOKEN,
                        "outcome": "Yes",
                        "bids": [level(p, s) for p, s in bids.items()],
                        "asks": [level(p, s) for p, s in asks.items()],
                    }
                ],
            }
        ],
        "accounts": [{"address": HARDHAT_ADDRESS, "balance": "100000", "positions": {TOKEN: "100000"}}],
    }


@st.composite
def books(draw):
    bids = draw(st.dictionaries(st.integers(1, 49).map(lambda n: Decimal(n) / 100), sizes, max_size=6))
    asks = draw(st.dictionaries(st.integers(51, 99).map(lambda n: Decimal(n) / 100), sizes, max_size=6))
    return bids, asks


@st.composite
def orders(draw):
    side = draw(st.sampled_from([BUY, SELL]))
    order_type = draw(st.sampled_from(["GTC", "FOK", "FAK"]))
    price = draw(prices)
    if order_type in IMMEDIATE and side == BUY:
        amount = Decimal(draw(st.integers(100, 100_000))) / 100
        maker, taker = market_amounts(side, price, amount, TICK)
    else:
        size = Decimal(draw(st.integers(500, 100_000))) / 100
        maker, taker = limit_amounts(side, price, size, TICK)
    return side, order_type, from_units(maker), from_units(taker)


def request(exchange: PolyExchange, n: int, side: str, order_type: str, maker: Decimal, taker: Decimal) -> OrderRequest:
    return OrderRequest(
        id=f"0x{n:064x}",
        token=exchange.tokens[TOKEN],
        side=side,
        maker_amount=maker,
        taker_amount=taker,
        order_type=order_type,
        post_only=False,
        expiration=0,
        maker=HARDHAT_ADDRESS,
    )


def snapshot(exchange: PolyExchange) -> tuple:
    account = exchange.accounts[HARDHAT_ADDRESS]
    book = exchange.books[TOKEN]
    return (
        account.balance,
        account.shares(TOKEN),
        tuple(map(tuple, (map(lambda lv: tuple(lv.items()), book.levels(BUY))))),
        tuple(map(tuple, (map(lambda lv: tuple(lv.items()), book.levels(SELL))))),
    )


def resting(exchange: PolyExchange, side: str) -> Decimal:
    return sum((o.remaining for o in exchange.books[TOKEN].orders() if o.side == side), ZERO)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), flow=st.lists(orders(), min_size=1, max_size=6), fee_rate=st.sampled_from(["0", "0.04"]))
def test_matching_properties(book, flow, fee_rate):
    exchange = PolyExchange(parse_section(section(*book, fee_rate)), frozen_clock())
    account = exchange.accounts[HARDHAT_ADDRESS]
    creds = type("Creds", (), {"api_key": "k"})()
    for n, (side, order_type, maker, taker) in enumerate(flow):
        req = request(exchange, n, side, order_type, maker, taker)
        before = snapshot(exchange)
        opposite = SELL if side == BUY else BUY
        resting_before = resting(exchange, opposite)
        trades_before = len(exchange.trades)
        try:
            exchange.place(creds, account, req)
        except PolyError:
            assert snapshot(exchange) == before  # a refusal (FOK killed, FAK unmatched, funds) changes nothing
            continue
        order = exchange.orders[req.id]
        trades = exchange.trades[trades_before:]
        limit = req.pusd / req.shares
        filled = sum((t.size for t in trades), ZERO)
        cost = sum((m.size * m.order.price for t in trades for m in t.makers), ZERO)
        fees = sum((t.fee for t in trades), ZERO)
        # no fill beyond the limit price, at the resting order's price
        for t in trades:
            assert t.price <= limit if side == BUY else t.price >= limit
            assert all(m.order.price == t.price for m in t.makers)
        # quantity conserved: what the taker got is what left the book
        assert order.size_matched == filled == sum((m.size for t in trades for m in t.makers), ZERO)
        own_maker = sum((m.size for t in trades for m in t.makers if m.order.account is account), ZERO)
        rests = order.status == LIVE
        assert resting_before - resting(exchange, opposite) == filled
        # never more than asked: shares for limit orders and SELLs, the budget for market BUYs
        if order_type in IMMEDIATE and side == BUY:
            assert cost <= req.maker_amount
        else:
            assert filled + order.remaining == req.shares and filled <= req.shares
        # FAK and FOK never rest; FOK fills completely
        if order_type in IMMEDIATE:
            assert not rests and order not in exchange.books[TOKEN].orders()
        if order_type == "FOK" and side == SELL:
            assert filled == req.shares
        if order_type == "FOK" and side == BUY:
            assert (req.maker_amount - cost) < limit * Decimal("0.01")
        # balances and positions follow the fills (own resting orders on the other side net out)
        own_cost = sum((m.size * m.order.price for t in trades for m in t.makers if m.order.account is account), ZERO)
        sign = -1 if side == BUY else 1
        assert account.balance - before[0] == sign * (cost - own_cost) - fees
        assert account.shares(TOKEN) - before[1] == -sign * (filled - own_maker)
        # the book is never left crossed
        best_bid, best_ask = exchange.books[TOKEN].best(BUY), exchange.books[TOKEN].best(SELL)
        assert best_bid is None or best_ask is None or best_bid < best_ask
    assert account.balance >= 0 and account.shares(TOKEN) >= 0


@settings(max_examples=60, deadline=None)
@given(book=books(), order=orders())
def test_state_copies_are_independent(book, order):
    """Reset restores the initial state exactly, whatever happened before."""
    exchange = PolyExchange(parse_section(section(*book, "0")), frozen_clock())
    initial = copy.deepcopy(snapshot(exchange))
    creds = type("Creds", (), {"api_key": "k"})()
    with contextlib.suppress(PolyError):  # a refused order must leave the state unchanged too
        exchange.place(creds, exchange.accounts[HARDHAT_ADDRESS], request(exchange, 1, *order))
    exchange.reset()
    assert snapshot(exchange) == initial and exchange.orders == {} and exchange.trades == []


def first_trade(exchange: PolyExchange) -> tuple[str, str, str]:
    """(trade id, transaction hash, market-maker order id) of a buy that crosses the ask."""
    creds = type("Creds", (), {"api_key": "k"})()
    maker, taker = limit_amounts(BUY, Decimal("0.60"), Decimal("5"), TICK)
    exchange.place(
        creds, exchange.accounts[HARDHAT_ADDRESS], request(exchange, 1, BUY, "GTC", *map(from_units, (maker, taker)))
    )
    trade = exchange.trades[-1]
    return trade.id, trade.transaction_hash, trade.makers[0].order.id


def test_ids_differ_between_simulator_runs_and_resets_but_a_run_id_fixes_them():
    """Sessions recorded on separate runs compose: no run repeats another's trade ids or transaction hashes."""
    state = parse_section(section({}, {Decimal("0.55"): Decimal("10")}, "0"))
    runs = [first_trade(PolyExchange(copy.deepcopy(state), frozen_clock())) for _ in range(3)]
    assert len({run[0] for run in runs}) == len({run[1] for run in runs}) == len({run[2] for run in runs}) == 3
    exchange = PolyExchange(copy.deepcopy(state), frozen_clock(), run_id="fixed")
    before = first_trade(exchange)
    exchange.reset()
    assert not set(first_trade(exchange)) & set(before)  # a reset does not start the ids over
    assert first_trade(PolyExchange(copy.deepcopy(state), frozen_clock(), run_id="fixed")) == before
