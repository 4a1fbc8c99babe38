"""Detection against hand-worked examples: every expected figure is worked out in the comments, not computed by the
code under test."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trader_helpers import pair_fields

from clients.book import BookView, Level
from trader.detect import (
    best_box,
    deeper_than,
    kalshi_taker_fee,
    may_clear,
    outcome_asks,
    outcome_box,
    poly_taker_fee,
    quote_box,
    size_box,
    top_edges,
    unusable,
    walk,
)
from trader.pairs import parse_pairs

YES = "79724115531796500154169490257471921577484206843216046510639004913120922178416"
NO = "51288545342541818958055448777263985995768425756818071463056658856703683003905"
PAIRS = "[[pairs]]\n" + pair_fields(YES, NO, min_edge="0.01", max_size=100, max_position=100)


def levels(*pairs: tuple[str, str]) -> tuple[Level, ...]:
    return tuple(Level(D(p), D(s)) for p, s in pairs)


def book(exchange: str, bids=(), asks=(), stale=False) -> BookView:
    return BookView(exchange, "m", levels(*bids), levels(*asks), stale)


# Kalshi YES asks 10 @ 0.45 then 20 @ 0.47; Polymarket NO asks 15 @ 0.50 then 100 @ 0.52; fee rate 0.04.
K_ASKS = levels(("0.45", "10"), ("0.47", "20"))
P_ASKS = levels(("0.50", "15"), ("0.52", "100"))


def kalshi_charges(fills: list[tuple[D, D]]) -> list[D]:
    """What a non-direct Kalshi member's balance loses per fill of one buy order, `(revenue, trade fee)` each, by
    the exchange's documented mechanics (docs/wire/kalshi.md, fee rounding): the balance change floored to the
    cent, the rounding accumulated over the order, a $0.01 rebate whenever the accumulator exceeds $0.01."""
    accumulator, out = D(0), []
    for revenue, trade_fee in fills:
        change = revenue - trade_fee
        floored = change.quantize(D("0.01"), rounding=ROUND_FLOOR)
        accumulator += change - floored
        rebate = D("0.01") if accumulator > D("0.01") else D(0)
        accumulator -= rebate
        out.append(-floored - rebate)
    return out


def test_the_reference_charges_reproduce_kalshis_worked_examples():
    # docs.kalshi.com/getting_started/fee_rounding: 3 x 1 @ 0.055 with a trade fee of 0.0085 each pays 0.07 a fill
    # (net fees 0.0150, 0.0050 after the rebate, 0.0150); 3 x 0.03 @ 0.3301, trade fee 0.0005: 0.02, 0.01, 0.01
    assert kalshi_charges([(D("-0.0550"), D("0.0085"))] * 3) == [D("0.07"), D("0.06"), D("0.07")]
    assert kalshi_charges([(D("-0.009903"), D("0.0005"))] * 3) == [D("0.02"), D("0.01"), D("0.01")]


def test_kalshi_fee_is_the_worst_a_non_direct_member_can_be_charged():
    # 1 @ 0.52 in one fill: trade fee 0.07 x 0.52 x 0.48 = 0.017472 -> 0.0175; the balance loses 0.5375, floored
    # to 0.54: 0.02 charged. In 100 fills of 0.01: each 0.07 x 0.01 x 0.2496 = 0.00017472 -> 0.0002, 0.02 in all;
    # 0.52 + 0.02 = 0.54, and the unrebated rounding may add 0.01: 0.55, so 0.03.
    assert kalshi_charges([(D("-0.52"), D("0.0175"))]) == [D("0.54")]
    assert kalshi_taker_fee(levels(("0.52", "1"))) == D("0.03")
    # 10 @ 0.45: 1,000 pieces at 0.07 x 0.01 x 0.2475 = 0.00017325 -> 0.0002: 0.20; 4.50 + 0.20 + 0.01 = 4.71: 0.21
    assert kalshi_taker_fee(levels(("0.45", "10"))) == D("0.21")
    # + 10 @ 0.47: 0.07 x 0.01 x 0.2491 = 0.00017437 -> 0.0002: 0.20 more; 9.20 + 0.40 + 0.01 = 9.61: 0.41
    assert kalshi_taker_fee(levels(("0.45", "10"), ("0.47", "10"))) == D("0.41")
    # 2.5 @ 0.055 (a sub-cent tick): 250 x ceil(0.07 x 0.01 x 0.051975 = 0.0000363825) = 250 x 0.0001 = 0.025;
    # 0.1375 + 0.025 + 0.01 = 0.1725, floored to 0.17: 0.0325
    assert kalshi_taker_fee(levels(("0.055", "2.5"))) == D("0.0325")


cent_prices = st.integers(1, 99).map(lambda cents: D(cents) / 100)


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(cent_prices, min_size=1, max_size=3, unique=True),
    cuts=st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=6), min_size=3, max_size=3),
)
def test_no_split_of_the_fills_costs_more_than_the_kalshi_estimate(prices, cuts):
    """Each level filled by several maker orders of random sizes (hundredths of a contract), in order."""
    fills = [(D(c) / 100, p) for p, level in zip(sorted(prices), cuts, strict=False) for c in level]
    fee_rate = D("0.07")
    charged = kalshi_charges(
        [(-(n * p), (fee_rate * n * p * (1 - p)).quantize(D("0.0001"), rounding=ROUND_CEILING)) for n, p in fills]
    )
    cost = sum((n * p for n, p in fills), D(0))
    walked = levels(*((str(p), str(sum((n for n, q in fills if q == p), D(0)))) for p in sorted(prices)))
    assert sum(charged, D(0)) - cost <= kalshi_taker_fee(walked)


def test_poly_fee_is_the_worst_the_maker_trades_can_charge():
    # 10 @ 0.45 at 0.04: 1,000 pieces of 0.01 at 0.04 x 0.01 x 0.2475 = 0.000099 -> 0.0001: 0.1 (one trade: 0.099)
    assert poly_taker_fee(levels(("0.45", "10")), D("0.04")) == D("0.1")
    # 1 @ 0.52: one trade pays 0.04 x 0.2496 = 0.009984 -> 0.00999, but two makers of 0.5 pay 0.004992 -> 0.00500
    # each, 0.01; 100 pieces at 0.04 x 0.01 x 0.2496 = 0.00009984 -> 0.0001: 0.01
    assert poly_taker_fee(levels(("0.52", "1")), D("0.04")) == D("0.01")
    # 7 @ 0.333 at 0.03: 700 pieces at 0.03 x 0.01 x 0.222111 = 0.0000666333 -> 0.00007: 0.049
    assert poly_taker_fee(levels(("0.333", "7")), D("0.03")) == D("0.049")
    assert poly_taker_fee(levels(("0.45", "10")), D("0")) == D("0")


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(cent_prices, min_size=1, max_size=3, unique=True),
    cuts=st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=6), min_size=3, max_size=3),
    rate=st.sampled_from([D("0.03"), D("0.04"), D("0.05"), D("0.07")]),
)
def test_no_split_into_maker_trades_costs_more_than_the_poly_estimate(prices, cuts, rate):
    """Each level matched against several maker orders of random sizes, each trade's fee rounded up to 5 decimals
    (the most any rounding to 5 decimals charges)."""
    trades = [(D(c) / 100, p) for p, level in zip(sorted(prices), cuts, strict=False) for c in level]
    charged = sum(((n * rate * p * (1 - p)).quantize(D("0.00001"), rounding=ROUND_CEILING) for n, p in trades), D(0))
    walked = levels(*((str(p), str(sum((n for n, q in trades if q == p), D(0)))) for p in sorted(prices)))
    assert charged <= poly_taker_fee(walked, rate)


def test_walk_takes_levels_best_first_and_refuses_what_the_book_cannot_fill():
    taken = walk(K_ASKS, D("12"))
    assert taken is not None
    assert taken.fills == levels(("0.45", "10"), ("0.47", "2"))
    # 10 x 0.45 + 2 x 0.47 = 4.50 + 0.94 = 5.44, limit the worst level
    assert (taken.count, taken.limit, taken.cost) == (D("12"), D("0.47"), D("5.44"))
    assert walk(K_ASKS, D("31")) is None


def test_a_box_through_two_levels_on_both_books():
    box = quote_box(K_ASKS, P_ASKS, D("20"), D("0.04"), "yes", NO)
    assert box is not None
    # Kalshi: 10 @ 0.45 + 10 @ 0.47 = 4.50 + 4.70 = 9.20, fee 0.41 (above)
    assert (box.kalshi.cost, box.kalshi_fee, box.kalshi.limit) == (D("9.20"), D("0.41"), D("0.47"))
    # Polymarket: 15 @ 0.50 + 5 @ 0.52 = 7.50 + 2.60 = 10.10;
    # fee 1,500 pieces at 0.04 x 0.01 x 0.25 = 0.0001 exactly and 500 at 0.04 x 0.01 x 0.2496 = 0.00009984 -> 0.0001:
    # 0.15 + 0.05 = 0.20
    assert (box.poly.cost, box.poly_fee, box.poly.limit) == (D("10.10"), D("0.20"), D("0.52"))
    # cost 9.20 + 0.41 + 10.10 + 0.20 = 19.91; the box pays 20: edge 0.09, 0.0045 a contract
    assert box.cost == D("19.91")
    assert box.edge == D("0.09")
    assert box.edge_per_contract == D("0.0045")


def test_sizing_finds_the_largest_size_that_clears_the_minimum_edge():
    """Edge per contract, worked by hand. Kalshi pieces of 0.01: .07 x .01 x .2475 (or .2491) -> .0002, so .02 a
    contract, and the cost is in whole cents: the fee is .02 x n + .01. Polymarket pieces: .04 x .01 x .25 = .0001
    and .04 x .01 x .2496 = .00009984 -> .0001, so .01 a share.
    15: K 10 x .45 + 5 x .47 = 6.85, fee .31; P 15 x .50 = 7.50, fee .15; cost 14.81, edge .19, per contract .012667
    16: K 7.32, fee .33; P 7.50 + .52 = 8.02, fee .16; cost 15.83, edge .17, per contract .010625 (clears 0.01)
    17: K 7.79, fee .35; P 8.54, fee .17; cost 16.85, edge .15, per contract .008824 (does not; nor does any larger
        size: each contract more costs .47 + .02 + .52 + .01)
    """
    box = size_box(
        K_ASKS, P_ASKS, cap=D("100"), fee_rate=D("0.04"), min_edge=D("0.01"), min_size=D("5"), outcome="yes", token=NO
    )
    assert box is not None
    assert (box.count, box.edge) == (D("16"), D("0.17"))
    capped = size_box(
        K_ASKS, P_ASKS, cap=D("15"), fee_rate=D("0.04"), min_edge=D("0.01"), min_size=D("5"), outcome="yes", token=NO
    )
    assert capped is not None and (capped.count, capped.edge) == (D("15"), D("0.19"))


def test_sizing_finds_a_larger_size_past_sizes_that_do_not_clear():
    """Kalshi's up-to-a-cent balance rounding is paid once an order, so the edge per contract can grow with the
    size. Kalshi YES 10 @ .45, Polymarket NO 10 @ .50 at a zero rate: n contracts cost .45n + (.02n + .01) + .50n,
    an edge of .03n - .01, per contract .03 - .01/n: 1: .02, 5: .028, 9: .028889, 10: .029. At a minimum of .029
    only 10 clears (bisection tried 5, then 2, then 1, and found nothing)."""
    k, p = levels(("0.45", "10")), levels(("0.50", "10"))
    kwargs = dict(fee_rate=D("0"), min_size=D("1"), outcome="yes", token=NO)
    box = size_box(k, p, cap=D("10"), min_edge=D("0.029"), **kwargs)
    assert box is not None and (box.count, box.edge) == (D("10"), D("0.29"))
    assert size_box(k, p, cap=D("9"), min_edge=D("0.029"), **kwargs) is None


def test_no_box_when_the_edge_never_clears_or_the_size_is_below_the_polymarket_minimum():
    # 1 contract at the top: .45 + .03 (100 x .0002 + .01) + .50 + .01 = .99: edge .01
    kwargs = dict(fee_rate=D("0.04"), outcome="yes", token=NO)
    assert size_box(K_ASKS, P_ASKS, cap=D("100"), min_edge=D("0.03"), min_size=D("1"), **kwargs) is None
    assert size_box(K_ASKS, P_ASKS, cap=D("1"), min_edge=D("0.011"), min_size=D("1"), **kwargs) is None
    one = size_box(K_ASKS, P_ASKS, cap=D("1"), min_edge=D("0.01"), min_size=D("1"), **kwargs)
    assert one is not None and one.edge == D("0.01")
    assert size_box(K_ASKS, P_ASKS, cap=D("4"), min_edge=D("0.01"), min_size=D("5"), **kwargs) is None
    assert size_box(K_ASKS, (), cap=D("4"), min_edge=D("0"), min_size=D("1"), **kwargs) is None


def test_the_polymarket_amount_must_be_exact_at_two_decimals():
    """At a 0.001 tick, 7 x 0.125 = 0.875 cannot be spent (market BUY amounts take 2 decimals): 6 x 0.125 = 0.75
    can. Edge of 6: K 6 x .40 = 2.40, fee 600 pieces x (.07 x .01 x .24 = .000168 -> .0002) = .12, 2.40 + .12 + .01
    = 2.53: .13; P .75, fee 600 pieces x (.04 x .01 x .125 x .875 = .00004375 -> .00005) = .03; cost 3.31,
    edge 2.69."""
    k = levels(("0.40", "100"))
    p = levels(("0.125", "7"))
    box = size_box(k, p, cap=D("7"), fee_rate=D("0.04"), min_edge=D("0.01"), min_size=D("1"), outcome="yes", token=NO)
    assert box is not None
    assert (box.count, box.poly.cost, box.edge) == (D("6"), D("0.750"), D("2.69"))


def test_kalshi_no_is_bought_at_one_minus_the_yes_bids():
    kalshi = book("kalshi", bids=[("0.55", "10"), ("0.53", "5")], asks=[("0.60", "10")])
    assert outcome_asks(kalshi, "no") == levels(("0.45", "10"), ("0.47", "5"))
    assert outcome_asks(kalshi, "yes") == levels(("0.60", "10"))


def test_best_box_picks_the_box_that_pays_and_the_token_that_hedges_it():
    """Kalshi YES at .60 + Polymarket NO at .45 costs more than $1; Kalshi NO at 1 - .55 = .45 + Polymarket YES
    at .50 leaves .05 before fees: 10 contracts: K 4.50, fee .21 (test_kalshi_fee_is_the_worst...); P 5.00,
    fee 1,000 pieces x .04 x .01 x .25 = .1; cost 9.81, edge .19."""
    (pair,) = parse_pairs(PAIRS).pairs
    kalshi = book("kalshi", bids=[("0.55", "10")], asks=[("0.60", "10")])
    poly = {YES: book("poly", asks=[("0.50", "10")]), NO: book("poly", asks=[("0.45", "10")])}
    box = best_box(pair, kalshi, poly, cap=D("100"))
    assert box is not None
    assert (box.kalshi_outcome, box.poly_token, box.count, box.edge) == ("no", YES, D("10"), D("0.19"))
    edges = top_edges(pair, kalshi, poly)
    # YES box at the top: .60 + .03 (100 x (.07 x .01 x .24 = .000168 -> .0002) + .01) + .45 + .01 (100 x (.04 x
    # .01 x .2475 = .000099 -> .0001)) = 1.09: edge -.09; NO box: .45 + .03 + .50 + .01 = .99: edge .01
    assert edges == {"yes": D("-0.09"), "no": D("0.01")}
    assert best_box(pair, kalshi, poly, cap=D("0")) is None


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        (None, "no trusted book"),
        (book("kalshi", bids=[("0.40", "1")], asks=[("0.45", "1")], stale=True), "book stale"),
        (book("kalshi", bids=[("0.46", "1")], asks=[("0.45", "1")]), "book crossed (bid 0.46 >= ask 0.45)"),
        (book("kalshi", bids=[("0.45", "1")], asks=[("0.45", "1")]), "book crossed"),
    ],
)
def test_books_that_may_not_be_traded(view, reason):
    assert unusable(view).startswith(reason)


def test_a_healthy_book_may_be_traded():
    assert unusable(book("kalshi", bids=[("0.40", "1")], asks=[("0.45", "1")])) is None
    assert unusable(book("poly", asks=[("0.45", "1")])) is None


cent_levels = st.lists(
    st.tuples(st.integers(1, 99), st.integers(1, 50)), min_size=1, max_size=5, unique_by=lambda level: level[0]
).map(lambda raw: tuple(Level(D(p) / 100, D(s)) for p, s in sorted(raw)))


@settings(max_examples=200, deadline=None)
@given(k=cent_levels, p=cent_levels, cap=st.integers(1, 300), min_edge=st.integers(0, 200))
def test_sizing_returns_the_largest_size_that_clears(k, p, cap, min_edge):
    """On cent ticks every whole size is spendable: the size found clears the minimum, and no larger size within
    the cap and the depth does."""
    minimum = D(min_edge) / 1000
    kwargs = dict(fee_rate=D("0.03"), min_edge=minimum, min_size=D(1), outcome="yes", token=NO)
    box = size_box(k, p, cap=D(cap), **kwargs)
    if box is not None:
        assert box.edge_per_contract >= minimum and box.count <= cap
    for n in range(int(box.count if box else 0) + 1, cap + 1):
        larger = quote_box(k, p, D(n), D("0.03"), "yes", NO)
        if larger is None:
            break
        assert larger.edge_per_contract < minimum, n


@settings(max_examples=300, deadline=None)
@given(kb=cent_levels, ka=cent_levels, yes=cent_levels, no=cent_levels, min_edge=st.integers(0, 20))
def test_a_pair_that_may_not_clear_has_no_box(kb, ka, yes, no, min_edge):
    """may_clear is only a shortcut: when it says no, sizing finds no box either, whatever the books."""
    (pair,) = parse_pairs(PAIRS.replace('min_edge = "0.01"', f'min_edge = "{D(min_edge) / 100}"')).pairs
    kalshi = BookView("kalshi", "m", tuple(sorted(kb, key=lambda lv: -lv.price)), ka, False)
    poly = {YES: BookView("poly", "y", (), yes, False), NO: BookView("poly", "n", (), no, False)}
    if not may_clear(pair, kalshi, poly):
        assert best_box(pair, kalshi, poly, cap=D(300)) is None


def _every_box(pair, kalshi, poly, cap):
    """best_box as it was written before its shortcut: both boxes sized, whatever their best asks."""
    boxes = [outcome_box(pair, kalshi, poly, outcome, cap) for outcome in ("yes", "no")]
    return max((box for box in boxes if box is not None), key=lambda box: box.edge, default=None)


@settings(max_examples=300, deadline=None)
@given(
    kb=cent_levels,
    ka=cent_levels,
    yes=cent_levels,
    no=cent_levels,
    min_edge=st.integers(0, 20),
    cap=st.integers(1, 300),
)
def test_the_shortcuts_change_no_box(kb, ka, yes, no, min_edge, cap):
    """best_box skips a box that cannot clear at its best asks, and the engine skips the uncapped sizing when no
    box that may clear is deeper than the cap: both give exactly the box the full sizing gives."""
    (pair,) = parse_pairs(PAIRS.replace('min_edge = "0.01"', f'min_edge = "{D(min_edge) / 100}"')).pairs
    kalshi = BookView("kalshi", "m", tuple(sorted(kb, key=lambda lv: -lv.price)), ka, False)
    poly = {YES: BookView("poly", "y", (), yes, False), NO: BookView("poly", "n", (), no, False)}
    capped = best_box(pair, kalshi, poly, cap=D(cap))
    assert capped == _every_box(pair, kalshi, poly, D(cap))
    uncapped = _every_box(pair, kalshi, poly, D(10**9))
    assert best_box(pair, kalshi, poly, cap=D(10**9)) == uncapped
    if not deeper_than(pair, kalshi, poly, D(cap)):
        assert uncapped == capped


def test_deeper_than_looks_at_the_boxes_that_may_clear():
    """The NO box (Kalshi NO at 1 - .55 + Polymarket YES at .50) may clear, with 10 contracts on Kalshi and 40 on
    Polymarket; the YES box (Kalshi YES .60 + Polymarket NO .45) may not, however deep."""
    (pair,) = parse_pairs(PAIRS).pairs
    kalshi = book("kalshi", bids=[("0.55", "6"), ("0.54", "4")], asks=[("0.60", "500")])
    poly = {YES: book("poly", asks=[("0.50", "40")]), NO: book("poly", asks=[("0.45", "500")])}
    assert deeper_than(pair, kalshi, poly, D(9)) and not deeper_than(pair, kalshi, poly, D(10))
    shallow = {YES: book("poly", asks=[("0.50", "8")]), NO: poly[NO]}
    assert deeper_than(pair, kalshi, shallow, D(7)) and not deeper_than(pair, kalshi, shallow, D(8))


def test_may_clear_bounds_the_edge_by_the_best_asks():
    """Kalshi NO at 1 - .55 = .45 + Polymarket YES at .50: at most .05 a contract before fees."""
    (pair,) = parse_pairs(PAIRS).pairs  # min_edge .01
    kalshi = book("kalshi", bids=[("0.55", "10")], asks=[("0.60", "10")])
    poly = {YES: book("poly", asks=[("0.50", "10")]), NO: book("poly", asks=[("0.45", "10")])}
    assert may_clear(pair, kalshi, poly)
    dear = {YES: book("poly", asks=[("0.545", "10")]), NO: poly[NO]}  # .005 a contract at best: under .01
    assert not may_clear(pair, kalshi, dear) and best_box(pair, kalshi, dear, cap=D(100)) is None
    assert not may_clear(pair, book("kalshi"), poly)  # nothing to buy on Kalshi


def test_may_clear_lets_through_a_box_that_clears_by_little():
    """Kalshi YES at .01 + Polymarket NO at .96: .03 a contract before fees. 10 contracts: Kalshi's worst-case fee:
    each 0.01-contract piece .07 x .01 x .99 x .01 = .00000693 -> .0001, 1000 pieces .10; cost .10 + .10 + the
    unrebated .01 = .21, in whole cents .21, fee .11. Polymarket: each 0.01-share piece .04 x .96 x .04 x .01 =
    .00001536 -> .00002, 1000 pieces .02. Edge 10 - (.10 + .11 + 9.60 + .02) = .17, .017 a contract, over .01."""
    (pair,) = parse_pairs(PAIRS).pairs
    kalshi = book("kalshi", asks=[("0.01", "10")])
    poly = {YES: book("poly", asks=[("0.99", "10")]), NO: book("poly", asks=[("0.96", "10")])}
    assert may_clear(pair, kalshi, poly)
    box = best_box(pair, kalshi, poly, cap=D(10))
    assert box is not None and (box.kalshi_outcome, box.count, box.edge) == ("yes", D(10), D("0.17"))
