"""Arbitrage detection: pure Decimal functions from two live books to the box worth trading, net of both fees.

A pair's Kalshi market and Polymarket market ask the same question, so one Kalshi outcome plus the Polymarket token
that pays when it does not is a box: exactly one of the two pays $1. Two boxes per pair: Kalshi YES + the
Polymarket token against YES, and Kalshi NO + the token against NO. A box is bought through the depth of both books
(whole contracts, each book's asks best first) and costs what both legs pay plus both taker fees.

Both fees are estimated as the exchanges would charge them in the worst case for the fills the order could get,
so the edge is never overstated. A level of the book is one price, not one order: the walk may be filled there by
many maker orders, each its own fill with its own rounding, and counts and shares have 2 decimals, so a level can
be filled in pieces as small as `MIN_FILL` (0.01). Rounding each piece up costs at least as much as rounding any
coarser split (a ceiling is subadditive), so the estimate rounds each 0.01 piece up:

- Kalshi (docs/wire/kalshi.md, fee rounding): each fill's trade fee, 0.07 x count x p x (1 - p), rounded up to
  the centicent; and a non-direct member's balance is floored to the cent after every fill, the overpayment
  rebated in whole cents only once the order's accumulator exceeds $0.01. So an order costs at most its fills plus
  their trade fees plus $0.01, in whole cents: the estimate is floor_cent(cost + trade fees + 0.01) - cost (also
  an upper bound for a direct member, whose balance is floored to the centicent).
- Polymarket (docs/wire/polymarket.md 4.4): each maker trade's fee, shares x rate x p x (1 - p), to 5 decimals;
  rounded up here.

The edge of N contracts is N dollars (what the box pays) minus that cost; a box is worth trading when its edge per
contract clears the pair's minimum. Polymarket fills a market BUY by its dollar amount, so the Polymarket leg is
sent as the walk's exact cost (at most 2 decimals, the exchange's rule) with the worst level as its limit: it then
buys the walked shares, no more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from clients.book import BookView, Level
from trader.pairs import Pair

ONE, ZERO = Decimal(1), Decimal(0)
CENTICENT = Decimal("0.0001")
POLY_FEE_QUANTUM = Decimal("0.00001")
KALSHI_FEE_RATE = Decimal("0.07")
CENT = Decimal("0.01")
MIN_FILL = Decimal("0.01")  # the smallest fill: Kalshi counts and Polymarket maker sizes have 2 decimals
OUTCOMES = ("yes", "no")  # the Kalshi outcome each box buys


def fill_fees(fills: Sequence[Level], rate: Decimal, quantum: Decimal) -> Decimal:
    """The most `rate x count x p x (1 - p)` can cost when each fill's fee is rounded up to `quantum` and a level
    is filled in pieces as small as `MIN_FILL`: every piece rounded up on its own."""
    total = ZERO
    for f in fills:
        pieces, rest = divmod(f.size, MIN_FILL)
        spread = rate * f.price * (ONE - f.price)
        total += pieces * (spread * MIN_FILL).quantize(quantum, rounding=ROUND_CEILING)
        total += (spread * rest).quantize(quantum, rounding=ROUND_CEILING)
    return total


def kalshi_taker_fee(fills: Sequence[Level]) -> Decimal:
    """The most Kalshi charges one order filling `fills` (price, count): the fills' trade fees rounded up per fill,
    plus the balance rounding the fee accumulator has not rebated (at most $0.01), in whole cents."""
    cost = sum((f.size * f.price for f in fills), ZERO)
    paid = cost + fill_fees(fills, KALSHI_FEE_RATE, CENTICENT) + CENT
    return paid.quantize(CENT, rounding=ROUND_FLOOR) - cost


def poly_taker_fee(fills: Sequence[Level], rate: Decimal) -> Decimal:
    """The most Polymarket charges one order filling `fills`: each maker trade's fee rounded up to 5 decimals."""
    return fill_fees(fills, rate, POLY_FEE_QUANTUM)


@dataclass(frozen=True, slots=True)
class Walk:
    """`count` contracts bought through asks: the levels taken, the worst price (the order's limit) and the cost.
    Count and cost are summed once, when the walk is made (`Walk.of`): a box's are read many times."""

    fills: tuple[Level, ...]
    count: Decimal
    cost: Decimal

    @classmethod
    def of(cls, fills: tuple[Level, ...]) -> Walk:
        return cls(fills, sum((f.size for f in fills), ZERO), sum((f.size * f.price for f in fills), ZERO))

    @property
    def limit(self) -> Decimal:
        return self.fills[-1].price


def walk(asks: Sequence[Level], count: Decimal) -> Walk | None:
    """Buy `count` through `asks` (best first); None when the book is not that deep."""
    fills, left = [], count
    for level in asks:
        if left <= 0:
            break
        take = min(level.size, left)
        fills.append(Level(level.price, take))
        left -= take
    return Walk.of(tuple(fills)) if left <= 0 and fills else None


def outcome_asks(book: BookView, outcome: str) -> tuple[Level, ...]:
    """What buying a Kalshi outcome costs: YES at the YES asks, NO at 1 - each YES bid (a NO bid at q is a YES
    ask at 1 - q, and the reverse), best first."""
    if outcome == "yes":
        return book.asks
    return tuple(Level(ONE - bid.price, bid.size) for bid in book.bids)


def outcome_best_ask(book: BookView, outcome: str) -> Decimal | None:
    """The price of `outcome_asks(book, outcome)[0]` (None on an empty side), without building the others: the test
    run on every book update needs only the best."""
    if outcome == "yes":
        return book.asks[0].price if book.asks else None
    return ONE - book.bids[0].price if book.bids else None


@dataclass(frozen=True, slots=True)
class BoxQuote:
    """One box at one size: the Kalshi outcome and Polymarket token bought, both walks and both fees."""

    kalshi_outcome: str
    poly_token: str
    kalshi: Walk
    poly: Walk
    kalshi_fee: Decimal
    poly_fee: Decimal

    @property
    def count(self) -> Decimal:
        return self.kalshi.count

    @property
    def cost(self) -> Decimal:
        return self.kalshi.cost + self.kalshi_fee + self.poly.cost + self.poly_fee

    @property
    def edge(self) -> Decimal:
        """Dollars the box locks in: $1 per contract at resolution, less everything paid."""
        return self.count - self.cost

    @property
    def edge_per_contract(self) -> Decimal:
        return self.edge / self.count

    @property
    def worst_loss(self) -> Decimal:
        """The most the box can lose: one leg paid for in full, fees included, the other filling nothing and the
        unwind selling nothing (both legs filling, or part of each, lose less)."""
        return max(self.kalshi.cost + self.kalshi_fee, self.poly.cost + self.poly_fee)


def quote_box(
    kalshi_asks: Sequence[Level],
    poly_asks: Sequence[Level],
    count: Decimal,
    fee_rate: Decimal,
    outcome: str,
    token: str,
) -> BoxQuote | None:
    """The box of `count` contracts through both books, or None when either is not that deep."""
    k, p = walk(kalshi_asks, count), walk(poly_asks, count)
    if k is None or p is None:
        return None
    return BoxQuote(outcome, token, k, p, kalshi_taker_fee(k.fills), poly_taker_fee(p.fills, fee_rate))


def size_box(
    kalshi_asks: Sequence[Level],
    poly_asks: Sequence[Level],
    *,
    cap: Decimal,
    fee_rate: Decimal,
    min_edge: Decimal,
    min_size: Decimal,
    outcome: str,
    token: str,
) -> BoxQuote | None:
    """The largest whole number of contracts, at most `cap` and at least `min_size`, whose edge per contract
    clears `min_edge`, with a Polymarket cost exact at 2 decimals; None when no size does.

    Fee rounding (Kalshi's up to a cent once an order, each piece rounded up) makes the edge per contract rise and
    fall with the size, so no bisection: every size is a candidate, largest first. Between two level boundaries
    (of either book) both walks' marginal prices are fixed, so the edge before rounding is linear in the size there
    and, being at least the edge after it, clears nowhere in the run if it clears at neither end: such runs are
    skipped whole. Cost: two quotes per run (a run per level of either book), plus one per size tried in the runs
    that may clear; each quote walks the levels taken.
    """
    top = min(_depth(kalshi_asks), _depth(poly_asks), cap).to_integral_value(ROUND_FLOOR)
    floor = max(min_size.to_integral_value(ROUND_CEILING), ONE)
    for low, high in reversed(_runs(kalshi_asks, poly_asks, floor, top)):
        ends = (Decimal(low), Decimal(high))
        if all(_unrounded_edge(kalshi_asks, poly_asks, n, fee_rate) < min_edge * n for n in ends):
            continue
        for n in range(high, low - 1, -1):
            box = quote_box(kalshi_asks, poly_asks, Decimal(n), fee_rate, outcome, token)
            if box is not None and box.edge_per_contract >= min_edge and box.poly.cost == box.poly.cost.quantize(CENT):
                return box
    return None


def _runs(
    kalshi_asks: Sequence[Level], poly_asks: Sequence[Level], floor: Decimal, top: Decimal
) -> list[tuple[int, int]]:
    """The whole sizes from `floor` to `top` in runs that end at the level boundaries of either book, ascending."""
    bounds = sorted({*_boundaries(kalshi_asks), *_boundaries(poly_asks), top})
    runs, low = [], int(floor)
    for bound in bounds:
        high = int(min(bound, top).to_integral_value(ROUND_FLOOR))
        if high >= low:
            runs.append((low, high))
            low = high + 1
    return runs


def _boundaries(levels: Sequence[Level]) -> list[Decimal]:
    """The sizes at which a walk through `levels` moves to the next level."""
    out, total = [], ZERO
    for level in levels:
        total += level.size
        out.append(total)
    return out


def _unrounded_edge(kalshi_asks: Sequence[Level], poly_asks: Sequence[Level], n: Decimal, rate: Decimal) -> Decimal:
    """The edge of `n` contracts with both fees unrounded: never below the edge with them rounded up."""
    k, p = walk(kalshi_asks, n), walk(poly_asks, n)
    if k is None or p is None:
        return -n
    fees = KALSHI_FEE_RATE * _spread(k.fills) + rate * _spread(p.fills)
    return n - k.cost - p.cost - fees


def _spread(fills: Sequence[Level]) -> Decimal:
    return sum((f.size * f.price * (ONE - f.price) for f in fills), ZERO)


def top_edge(kalshi_asks: Sequence[Level], poly_asks: Sequence[Level], fee_rate: Decimal) -> Decimal | None:
    """The edge per contract of one contract at the top of both books, fees included (for the status view)."""
    box = quote_box(kalshi_asks, poly_asks, ONE, fee_rate, "", "")
    return None if box is None else box.edge_per_contract


def best_box(pair: Pair, kalshi: BookView, poly: Mapping[str, BookView], cap: Decimal) -> BoxQuote | None:
    """The pair's box with the larger edge among those that clear its minimum, at most `cap` contracts; `poly`
    holds the books of both its tokens. A box that cannot clear at the best asks (`may_clear`) is not sized."""
    boxes = [
        outcome_box(pair, kalshi, poly, outcome, cap)
        for outcome in OUTCOMES
        if _box_may_clear(pair, kalshi, poly, outcome)
    ]
    return max((box for box in boxes if box is not None), key=lambda box: box.edge, default=None)


def outcome_box(
    pair: Pair, kalshi: BookView, poly: Mapping[str, BookView], outcome: str, cap: Decimal
) -> BoxQuote | None:
    """The box that buys `outcome` on Kalshi, sized (`size_box`) to at most `cap` contracts; None when no size
    clears."""
    token = pair.poly_token_against(outcome)
    return size_box(
        outcome_asks(kalshi, outcome),
        poly[token].asks,
        cap=cap,
        fee_rate=pair.poly_fee_rate,
        min_edge=pair.min_edge,
        min_size=pair.poly_min_order_size,
        outcome=outcome,
        token=token,
    )


def deeper_than(pair: Pair, kalshi: BookView, poly: Mapping[str, BookView], size: Decimal) -> bool:
    """Whether a box that may clear has more than `size` contracts in both its books. When none has, sizing caps
    nothing below `size`: `best_box` with any larger cap is `best_box` with `size` (the same search, the same
    answer), so the engine need not run it again to learn what the books alone would offer."""
    return any(
        _box_may_clear(pair, kalshi, poly, outcome)
        and min(_depth(outcome_asks(kalshi, outcome)), _depth(poly[pair.poly_token_against(outcome)].asks)) > size
        for outcome in OUTCOMES
    )


def top_edges(pair: Pair, kalshi: BookView, poly: Mapping[str, BookView]) -> dict[str, Decimal | None]:
    """Each box's edge per contract at the top of both books, by Kalshi outcome (for the status view)."""
    return {
        outcome: top_edge(
            outcome_asks(kalshi, outcome), poly[pair.poly_token_against(outcome)].asks, pair.poly_fee_rate
        )
        for outcome in OUTCOMES
    }


def may_clear(pair: Pair, kalshi: BookView, poly: Mapping[str, BookView]) -> bool:
    """Whether either box could clear the pair's minimum edge at some size: every contract costs at least both best
    asks and no fee is negative, so one minus the two best asks bounds the edge per contract of any size. A
    Decimal subtraction per box, against the sizing `best_box` does: the test run on every book update first."""
    return any(_box_may_clear(pair, kalshi, poly, outcome) for outcome in OUTCOMES)


def _box_may_clear(pair: Pair, kalshi: BookView, poly: Mapping[str, BookView], outcome: str) -> bool:
    """`may_clear` for the box that buys `outcome` on Kalshi."""
    kalshi_best = outcome_best_ask(kalshi, outcome)
    poly_asks = poly[pair.poly_token_against(outcome)].asks
    return kalshi_best is not None and bool(poly_asks) and ONE - kalshi_best - poly_asks[0].price >= pair.min_edge


def _depth(levels: Sequence[Level]) -> Decimal:
    return sum((level.size for level in levels), ZERO)


def unusable(book: BookView | None) -> str | None:
    """Why a book may not be traded on (None: it may): missing or being resnapshotted, stale, crossed or empty."""
    if book is None:
        return "no trusted book (waiting for a snapshot)"
    if book.stale:
        return "book stale (feed silent)"
    if book.best_bid is not None and book.best_ask is not None and book.best_bid.price >= book.best_ask.price:
        return f"book crossed (bid {book.best_bid.price} >= ask {book.best_ask.price})"
    return None
