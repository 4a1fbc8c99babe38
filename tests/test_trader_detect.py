"""Detection against hand-worked examples: every expected figure is worked out in the comments, not computed by the
code under test."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trader_helpers import pair_fields

from clients.book import BookView, Level
from trader.detect import (
    best_box,
    kalshi_taker_fee,
    may_clear,
    outcome_asks,
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


def test_kalshi_fee_rounds_up_to_the_centicent():
    # 0.07 x 1 x 0.52 x 0.48 = 0.017472 -> 0.0175 (the wire notes' example)
    assert kalshi_taker_fee(levels(("0.52", "1"))) == D("0.0175")
    # 0.07 x 10 x 0.45 x 0.55 = 0.17325 -> 0.1733
    assert kalshi_taker_fee(levels(("0.45", "10"))) == D("0.1733")
    # one rounding for the order: 0.07 x (10 x 0.45 x 0.55 + 10 x 0.47 x 0.53) = 0.07 x (2.475 + 2.491)
    # = 0.34762 -> 0.3477 (rounding each level, 0.1733 + 0.1744 = 0.3477 here too, but not in general)
    assert kalshi_taker_fee(levels(("0.45", "10"), ("0.47", "10"))) == D("0.3477")
    # 0.07 x 3 x 0.5 x 0.5 = 0.0525 exactly: nothing to round
    assert kalshi_taker_fee(levels(("0.50", "3"))) == D("0.0525")


def test_poly_fee_at_the_market_rate_per_level_rounded_up_to_five_decimals():
    # 10 x 0.04 x 0.45 x 0.55 = 0.099
    assert poly_taker_fee(levels(("0.45", "10")), D("0.04")) == D("0.09900")
    # 1 x 0.04 x 0.52 x 0.48 = 0.009984 -> 0.00999; 7 x 0.03 x 0.333 x 0.667 = 0.04664997 -> 0.04665
    assert poly_taker_fee(levels(("0.52", "1")), D("0.04")) == D("0.00999")
    assert poly_taker_fee(levels(("0.333", "7")), D("0.03")) == D("0.04665")
    assert poly_taker_fee(levels(("0.45", "10")), D("0")) == D("0")


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
    # Kalshi: 10 @ 0.45 + 10 @ 0.47 = 4.50 + 4.70 = 9.20, fee 0.3477 (above)
    assert (box.kalshi.cost, box.kalshi_fee, box.kalshi.limit) == (D("9.20"), D("0.3477"), D("0.47"))
    # Polymarket: 15 @ 0.50 + 5 @ 0.52 = 7.50 + 2.60 = 10.10;
    # fee 15 x 0.04 x 0.25 = 0.15 and 5 x 0.04 x 0.52 x 0.48 = 0.04992: 0.19992
    assert (box.poly.cost, box.poly_fee, box.poly.limit) == (D("10.10"), D("0.19992"), D("0.52"))
    # cost 9.20 + 0.3477 + 10.10 + 0.19992 = 19.84762; the box pays 20: edge 0.15238, 0.007619 a contract
    assert box.cost == D("19.84762")
    assert box.edge == D("0.15238")
    assert box.edge_per_contract == D("0.007619")


def test_sizing_finds_the_largest_size_that_clears_the_minimum_edge():
    """Edge per contract, worked by hand:
    17: K 10 x .45 + 7 x .47 = 7.79, fee .07 x (2.475 + 7 x .2491) = .295309 -> .2954;
        P 15 x .50 + 2 x .52 = 8.54, fee .15 + (2 x .04 x .2496 = .019968 -> .01997) = .16997;
        cost 16.79537, edge .20463, per contract .012037
    18: K 4.50 + 8 x .47 = 8.26, fee .07 x (2.475 + 1.9928) = .312746 -> .3128;
        P 7.50 + 3 x .52 = 9.06, fee .15 + (.029952 -> .02996) = .17996;
        cost 17.81276, edge .18724, per contract .010402 (clears 0.01)
    19: K 8.73, fee .07 x 4.7169 = .330183 -> .3302; P 9.58, fee .15 + (.039936 -> .03994) = .18994;
        cost 18.83014, edge .16986, per contract .00894 (does not)
    """
    box = size_box(
        K_ASKS, P_ASKS, cap=D("100"), fee_rate=D("0.04"), min_edge=D("0.01"), min_size=D("5"), outcome="yes", token=NO
    )
    assert box is not None
    assert (box.count, box.edge) == (D("18"), D("0.18724"))
    capped = size_box(
        K_ASKS, P_ASKS, cap=D("17"), fee_rate=D("0.04"), min_edge=D("0.01"), min_size=D("5"), outcome="yes", token=NO
    )
    assert capped is not None and (capped.count, capped.edge) == (D("17"), D("0.20463"))


def test_no_box_when_the_edge_never_clears_or_the_size_is_below_the_polymarket_minimum():
    # 1 contract at the top: .45 + .0174 (0.07 x .2475 = .017325 -> .0174) + .50 + .01 = .9774: edge .0226
    kwargs = dict(fee_rate=D("0.04"), outcome="yes", token=NO)
    assert size_box(K_ASKS, P_ASKS, cap=D("100"), min_edge=D("0.03"), min_size=D("1"), **kwargs) is None
    one = size_box(K_ASKS, P_ASKS, cap=D("1"), min_edge=D("0.02"), min_size=D("1"), **kwargs)
    assert one is not None and one.edge == D("0.0226")
    assert size_box(K_ASKS, P_ASKS, cap=D("4"), min_edge=D("0.01"), min_size=D("5"), **kwargs) is None
    assert size_box(K_ASKS, (), cap=D("4"), min_edge=D("0"), min_size=D("1"), **kwargs) is None


def test_the_polymarket_amount_must_be_exact_at_two_decimals():
    """At a 0.001 tick, 7 x 0.125 = 0.875 cannot be spent (market BUY amounts take 2 decimals): 6 x 0.125 = 0.75
    can. Edge of 6: K 6 x .40 = 2.40, fee .07 x 6 x .24 = .1008; P .75, fee 6 x .04 x .125 x .875 = .02625;
    cost 3.27705, edge 2.72295."""
    k = levels(("0.40", "100"))
    p = levels(("0.125", "7"))
    box = size_box(k, p, cap=D("7"), fee_rate=D("0.04"), min_edge=D("0.01"), min_size=D("1"), outcome="yes", token=NO)
    assert box is not None
    assert (box.count, box.poly.cost, box.edge) == (D("6"), D("0.750"), D("2.72295"))


def test_kalshi_no_is_bought_at_one_minus_the_yes_bids():
    kalshi = book("kalshi", bids=[("0.55", "10"), ("0.53", "5")], asks=[("0.60", "10")])
    assert outcome_asks(kalshi, "no") == levels(("0.45", "10"), ("0.47", "5"))
    assert outcome_asks(kalshi, "yes") == levels(("0.60", "10"))


def test_best_box_picks_the_box_that_pays_and_the_token_that_hedges_it():
    """Kalshi YES at .60 + Polymarket NO at .45 costs more than $1; Kalshi NO at 1 - .55 = .45 + Polymarket YES
    at .50 leaves .05 before fees: 10 contracts: K 4.50, fee .07 x 10 x .2475 = .17325 -> .1733; P 5.00,
    fee 10 x .04 x .25 = .1; cost 9.7733, edge .2267."""
    (pair,) = parse_pairs(PAIRS).pairs
    kalshi = book("kalshi", bids=[("0.55", "10")], asks=[("0.60", "10")])
    poly = {YES: book("poly", asks=[("0.50", "10")]), NO: book("poly", asks=[("0.45", "10")])}
    box = best_box(pair, kalshi, poly, cap=D("100"))
    assert box is not None
    assert (box.kalshi_outcome, box.poly_token, box.count, box.edge) == ("no", YES, D("10"), D("0.2267"))
    edges = top_edges(pair, kalshi, poly)
    # YES box at the top: .60 + .0168 (.07 x .24 = .0168) + .45 + .0099 = 1.0767: edge -.0767;
    # NO box: .45 + .0174 (.07 x .2475 = .017325 -> .0174) + .50 + .01 = .9774: edge .0226
    assert edges == {"yes": D("-0.0767"), "no": D("0.0226")}
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
@given(k=cent_levels, p=cent_levels, cap=st.integers(1, 300), min_edge=st.integers(0, 20))
def test_sizing_returns_the_largest_size_that_clears(k, p, cap, min_edge):
    """On cent ticks every whole size is spendable: the size found clears the minimum, and one more does not (or
    is beyond the cap or the depth)."""
    minimum = D(min_edge) / 100
    kwargs = dict(fee_rate=D("0.03"), min_edge=minimum, min_size=D(1), outcome="yes", token=NO)
    box = size_box(k, p, cap=D(cap), **kwargs)
    one_more = quote_box(k, p, (box.count if box else D(0)) + 1, D("0.03"), "yes", NO)
    if box is not None:
        assert box.edge_per_contract >= minimum and box.count <= cap
    assert one_more is None or one_more.count > cap or one_more.edge_per_contract < minimum


@settings(max_examples=300, deadline=None)
@given(kb=cent_levels, ka=cent_levels, yes=cent_levels, no=cent_levels, min_edge=st.integers(0, 20))
def test_a_pair_that_may_not_clear_has_no_box(kb, ka, yes, no, min_edge):
    """may_clear is only a shortcut: when it says no, sizing finds no box either, whatever the books."""
    (pair,) = parse_pairs(PAIRS.replace('min_edge = "0.01"', f'min_edge = "{D(min_edge) / 100}"')).pairs
    kalshi = BookView("kalshi", "m", tuple(sorted(kb, key=lambda lv: -lv.price)), ka, False)
    poly = {YES: BookView("poly", "y", (), yes, False), NO: BookView("poly", "n", (), no, False)}
    if not may_clear(pair, kalshi, poly):
        assert best_box(pair, kalshi, poly, cap=D(300)) is None


def test_may_clear_bounds_the_edge_by_the_best_asks():
    """Kalshi NO at 1 - .55 = .45 + Polymarket YES at .50: at most .05 a contract before fees."""
    (pair,) = parse_pairs(PAIRS).pairs  # min_edge .01
    kalshi = book("kalshi", bids=[("0.55", "10")], asks=[("0.60", "10")])
    poly = {YES: book("poly", asks=[("0.50", "10")]), NO: book("poly", asks=[("0.45", "10")])}
    assert may_clear(pair, kalshi, poly)
    dear = {YES: book("poly", asks=[("0.545", "10")]), NO: poly[NO]}  # .005 a contract at best: under .01
    assert not may_clear(pair, kalshi, dear) and best_box(pair, kalshi, dear, cap=D(100)) is None
    assert not may_clear(pair, book("kalshi"), poly)  # nothing to buy on Kalshi


def test_may_clear_lets_a_box_through_whose_fees_are_tiny():
    """Kalshi YES at .01 + Polymarket NO at .97: .02 a contract before fees; 10 contracts: Kalshi fee .07 x 10 x
    .01 x .99 = .00693 -> .0070, Polymarket fee 10 x .04 x .97 x .03 = .01164; edge .2 - .0070 - .01164 = .18136,
    .018136 a contract, over the .01 minimum."""
    (pair,) = parse_pairs(PAIRS).pairs
    kalshi = book("kalshi", asks=[("0.01", "10")])
    poly = {YES: book("poly", asks=[("0.99", "10")]), NO: book("poly", asks=[("0.97", "10")])}
    assert may_clear(pair, kalshi, poly)
    box = best_box(pair, kalshi, poly, cap=D(10))
    assert box is not None and (box.kalshi_outcome, box.count, box.edge) == ("yes", D(10), D("0.18136"))
