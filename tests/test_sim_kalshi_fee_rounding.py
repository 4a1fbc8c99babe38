"""The paper Kalshi exchange rounds balances as Kalshi does (docs/wire/kalshi.md, fee rounding): a non-direct
member's balance to the cent after every fill, a direct member's to the centicent, with the per-order fee
accumulator rebating whole cents. Every expected balance is worked out in the comments."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.book import Level
from simulator.kalshi.config import parse_section
from simulator.kalshi.exchange import KalshiExchange, round_balance_change
from simulator.kalshi.model import Account, Market, OrderRequest
from simulator.state import StateError
from simulator.state_keys import check_sections
from trader.detect import kalshi_taker_fee

TICKER = "KXFEE-26DEC31-A"
DECI_CENT = [(D("0"), D("1"), D("0.001"))]


def make_exchange(alice_direct: bool = False) -> KalshiExchange:
    market = Market(TICKER, "KXFEE-26DEC31", "fees", "", "", "active", DECI_CENT, 0.0, 0.0, 1e10)
    accounts = [Account("alice", "alice", D("50.00"), direct_member=alice_direct), Account("bob", "bob", D("50.00"))]
    return KalshiExchange([market], accounts, {}, now=lambda: 1_000.0)


def ask(exchange: KalshiExchange, account: str, price: str, count: str) -> None:
    """A resting YES ask (a NO bid at 1 - price) of its own, so each is a separate maker order and fill."""
    exchange.create(account, OrderRequest(TICKER, "ask", D(price), D(count), "good_till_canceled", "maker"))


def balances_after_fills(exchange: KalshiExchange, account: str) -> list[D]:
    """Record the account's cash as each of its fills lands."""
    seen: list[D] = []

    def listen(event) -> None:
        if event.kind == "fill" and event.data["fill"].account == account:
            seen.append(exchange.accounts[account].cash)

    exchange.listeners.append(listen)
    return seen


def buy(exchange: KalshiExchange, price: str, count: str, tif: str = "immediate_or_cancel"):
    return exchange.create("alice", OrderRequest(TICKER, "bid", D(price), D(count), tif, "taker_at_cross"))


def test_kalshis_worked_example_three_fills_at_a_subpenny_price():
    # fee_rounding: buy 3 x 1 @ 0.055, trade fee 0.0085 a fill: each change -0.0635, floored to -0.07 (rounding
    # 0.0065). Fill 2 brings the accumulator to 0.0130 > 0.01: a cent back, -0.06 (net fee 0.0050), 0.0030 left;
    # fill 3: 0.0095, no rebate, -0.07. The order pays 0.20 for 0.1905, within a cent.
    accumulator, balance, balances = D(0), D("10.00"), []
    for _ in range(3):
        applied, accumulator = round_balance_change(D("-0.0635"), D("0.01"), accumulator)
        balance += applied
        balances.append(balance)
    assert balances == [D("9.93"), D("9.87"), D("9.80")]
    assert accumulator == D("0.0095")


def test_three_one_lot_fills_at_a_subpenny_price_on_the_exchange():
    # 1 @ 0.055: trade fee 0.07 x 0.055 x 0.945 = 0.00363825 -> 0.0037; change -0.0587 -> -0.06 (rounding 0.0013,
    # accumulator 0.0013, 0.0026, 0.0039: never a rebate); fee_cost stays the trade fee
    exchange = make_exchange()
    for _ in range(3):
        ask(exchange, "bob", "0.055", "1")
    seen = balances_after_fills(exchange, "alice")
    done = buy(exchange, "0.055", "3")
    assert seen == [D("49.94"), D("49.88"), D("49.82")]
    assert [f.fee for f in done.fills] == [D("0.0037")] * 3
    assert done.order.taker_fees == D("0.0111")
    assert done.order.fee_accumulator == D("0.0039")


def test_a_fractional_count_is_rounded_to_the_cent():
    # 0.30 @ 0.50: revenue -0.15, trade fee 0.07 x 0.30 x 0.25 = 0.00525 -> 0.0053; -0.1553 floored to -0.16
    exchange = make_exchange()
    ask(exchange, "bob", "0.50", "0.30")
    done = buy(exchange, "0.50", "0.30")
    assert exchange.accounts["alice"].cash == D("49.84")
    assert done.fills[0].fee == D("0.0053")
    assert exchange.accounts["alice"].positions[TICKER].fees_paid == D("0.0053")  # the trade fee, as reported


def test_a_maker_fill_is_rounded_and_shares_the_orders_accumulator():
    # Alice bids 0.60 @ 0.55 GTC against bob's 0.30 @ 0.55: the taker fill pays 0.165 + 0.07 x 0.30 x 0.2475 =
    # 0.0051975 -> 0.0052: -0.1702 floored to -0.18 (accumulator 0.0098); 0.30 rests. Bob then sells 0.30 into it:
    # the maker fill pays 0.165, no fee, floored to -0.17 (rounding 0.005): the accumulator reaches 0.0148 > 0.01,
    # a cent back: -0.16. Bob's maker ask buys NO: 0.30 x 0.45 = 0.135, floored to -0.14.
    exchange = make_exchange()
    ask(exchange, "bob", "0.55", "0.30")
    seen = balances_after_fills(exchange, "alice")
    done = buy(exchange, "0.55", "0.60", tif="good_till_canceled")
    assert exchange.accounts["bob"].cash == D("49.86")
    exchange.create("bob", OrderRequest(TICKER, "ask", D("0.55"), D("0.30"), "immediate_or_cancel", "taker_at_cross"))
    assert seen == [D("49.82"), D("49.66")]
    assert done.order.fee_accumulator == D("0.0048")
    assert (done.order.taker_fees, done.order.maker_fees) == (D("0.0052"), D(0))


def test_an_order_whose_accumulator_crosses_a_cent_twice():
    # Three makers of 0.30 @ 0.55: each taker fill's change is -0.1702 (see above), floored -0.18, rounding 0.0098.
    # Accumulator 0.0098 (-0.18); 0.0196 > 0.01: rebate, -0.17, 0.0096; 0.0194: rebate, -0.17, 0.0094.
    # The order pays 0.52 for 3 x 0.1702 = 0.5106, within a cent.
    exchange = make_exchange()
    for _ in range(3):
        ask(exchange, "bob", "0.55", "0.30")
    seen = balances_after_fills(exchange, "alice")
    done = buy(exchange, "0.55", "0.90")
    assert seen == [D("49.82"), D("49.65"), D("49.48")]
    assert [f.rounding for f in done.fills] == [D("0.0098"), D("-0.0002"), D("-0.0002")]
    assert done.order.fee_accumulator == D("0.0094")


def test_a_direct_member_keeps_the_centicent_balance_of_before():
    # The same three fills: -0.1702 each is already a centicent, nothing rounded: 50 - 0.5106 = 49.4894.
    # 0.30 @ 0.50 likewise: 50 - 0.1553.
    exchange = make_exchange(alice_direct=True)
    for _ in range(3):
        ask(exchange, "bob", "0.55", "0.30")
    seen = balances_after_fills(exchange, "alice")
    done = buy(exchange, "0.55", "0.90")
    assert seen == [D("49.8298"), D("49.6596"), D("49.4894")]
    assert done.order.fee_accumulator == 0
    fractional = make_exchange(alice_direct=True)
    ask(fractional, "bob", "0.50", "0.30")
    buy(fractional, "0.50", "0.30")
    assert fractional.accounts["alice"].cash == D("49.8447")


def test_the_balance_check_counts_the_rounding():
    # 0.30 @ 0.50 costs 0.16 once rounded: 0.1553 free is not enough, 0.16 is
    exchange = make_exchange()
    ask(exchange, "bob", "0.50", "0.30")
    exchange.accounts["alice"].cash = D("0.1553")
    with pytest.raises(Exception, match="insufficient balance"):
        buy(exchange, "0.50", "0.30")
    exchange.accounts["alice"].cash = D("0.16")
    buy(exchange, "0.50", "0.30")
    assert exchange.accounts["alice"].cash == 0


def kalshi_section(**account) -> dict:
    return {"markets": [{"ticker": TICKER}], "accounts": [{"name": "alice", "balance": "10.00", **account}]}


def test_the_state_file_switches_an_account_to_direct_member():
    assert not parse_section(kalshi_section(), 0.0).accounts[0].direct_member
    direct = parse_section(kalshi_section(direct_member=True, balance="10.0001"), 0.0).accounts[0]
    assert (direct.direct_member, direct.cash, direct.balance_precision) == (True, D("10.0001"), D("0.0001"))


@pytest.mark.parametrize(
    ("account", "field", "problem"),
    [
        ({"direct_member": "yes"}, "kalshi.accounts[0].direct_member", "must be true or false, got 'yes'"),
        ({"balance": "10.005"}, "kalshi.accounts[0].balance", "must be a multiple of $0.01"),
        ({"direct_member": True, "balance": "10.00005"}, "kalshi.accounts[0].balance", "multiple of $0.0001"),
    ],
)
def test_the_state_file_refuses_a_bad_direct_member_or_balance(account, field, problem):
    with pytest.raises(StateError) as refused:
        parse_section(kalshi_section(**account), 0.0)
    assert refused.value.where == field
    assert problem in refused.value.problem


def test_a_misspelled_direct_member_is_named():
    with pytest.raises(StateError) as refused:
        check_sections({"kalshi": kalshi_section(direct_membr=True)}, "state.json")
    assert refused.value.where == "state.json: kalshi.accounts[0].direct_membr"
    assert "did you mean 'direct_member'?" in refused.value.problem


@settings(max_examples=150, deadline=None)
@given(
    prices=st.lists(st.integers(1, 999).map(lambda m: D(m) / 1000), min_size=1, max_size=3, unique=True),
    cuts=st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=6), min_size=3, max_size=3),
)
def test_detects_kalshi_fee_bounds_what_the_simulator_charges(prices, cuts):
    """Each YES ask level made of several market-maker orders of random sizes (hundredths); one IOC buy takes them
    all. What the balance loses beyond the contracts' cost never exceeds trader/detect.py's estimate."""
    exchange = make_exchange()
    exchange.accounts["alice"].cash = exchange.accounts["bob"].cash = D("10000.00")
    levels = []
    for price, sizes in zip(sorted(prices), cuts, strict=False):
        for size in sizes:
            ask(exchange, "bob", str(price), str(D(size) / 100))
        levels.append(Level(price, D(sum(sizes)) / 100))
    total = sum((level.size for level in levels), D(0))
    done = buy(exchange, str(max(prices)), str(total))
    assert done.order.fill_count == total
    cost = sum((f.count * f.yes_price for f in done.fills), D(0))
    charged = D("10000.00") - exchange.accounts["alice"].cash - cost
    assert charged <= kalshi_taker_fee(tuple(levels))
    assert charged == sum((f.fee for f in done.fills), D(0)) + done.order.fee_accumulator


def test_a_resting_order_holds_what_its_floored_maker_fills_can_take():
    # A bid of 2 @ 0.055 costs 0.11, but each 1-lot maker fill is floored from -0.055 to -0.06 (the accumulator at
    # 0.005, then 0.010: not above a cent, no rebate): 0.12 in all. Holding 0.11 let the balance reach -0.01; the
    # order holds 0.11 + the cent its accumulator may keep, so 0.11 is refused and 0.12 ends at zero.
    exchange = make_exchange()
    exchange.accounts["alice"].cash = D("0.11")
    with pytest.raises(Exception, match="insufficient balance"):
        exchange.create("alice", OrderRequest(TICKER, "bid", D("0.055"), D("2"), "good_till_canceled", "maker"))
    exchange.accounts["alice"].cash = D("0.12")
    exchange.create("alice", OrderRequest(TICKER, "bid", D("0.055"), D("2"), "good_till_canceled", "maker"))
    assert exchange.available(exchange.accounts["alice"]) == 0
    for _ in range(2):
        exchange.create("bob", OrderRequest(TICKER, "ask", D("0.055"), D("1"), "immediate_or_cancel", "taker"))
    assert exchange.accounts["alice"].cash == 0


def test_the_balance_of_a_non_direct_member_with_a_resting_order_stays_whole_cents():
    # available = cash - held: a resting 1 @ 0.055 holds 0.06 (0.055 + 0.01 floored), not 0.055
    exchange = make_exchange()
    exchange.create("alice", OrderRequest(TICKER, "bid", D("0.055"), D("1"), "good_till_canceled", "maker"))
    assert exchange.available(exchange.accounts["alice"]) == D("49.94")
