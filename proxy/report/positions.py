"""Positions and exposure over time, from the fills a session learned of; Decimal throughout.

The same fill reaches a session several ways (the create's answer, an order read, a fills or trades read, a
user-channel message), so each order's fill is counted once: as the largest cumulative fill any answer reported,
or the sum of the distinct fill rows seen, whichever is larger. A Polymarket trade that ends FAILED takes its size
back, and a later answer still counting it (an order read's `size_matched`) does not bring it back.
A fill moves the position when the session first learns of it; positions start at zero with the session.

Exposure is what the open positions cost, the money at risk: a long leg bought at p costs p a contract, a
short one (Kalshi's NO, a sale) 1 - p; closing part of a position releases its share of the cost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from proxy.report.events import Fill, OrderState, Side

ZERO = Decimal(0)
ONE = Decimal(1)
FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Change:
    """A fill the session learned of (or one taken back): `size` of `side` at `price` on the market's leg."""

    t: float
    item: int
    exchange: str
    market: str
    order_id: str
    side: Side
    size: Decimal  # negative: a fill taken back (a FAILED trade)
    price: Decimal | None
    fill_id: str | None = None


@dataclass(slots=True)
class _Order:
    """What is known of one order's fill: the largest cumulative answers reported, the distinct fill rows, and
    what FAILED (rows first seen FAILED may be inside a reported cumulative; rows that failed later are)."""

    reported: Decimal = ZERO
    rows: Decimal = ZERO
    first_failed: Decimal = ZERO
    later_failed: Decimal = ZERO
    counted: Decimal = ZERO  # what has moved the position
    cost: Decimal = ZERO  # of what was counted, on the market's leg

    def target(self) -> Decimal:
        failed = self.first_failed + self.later_failed
        return max(self.reported - failed, self.rows - self.later_failed, ZERO)


@dataclass(slots=True)
class Fills:
    """Folds answers and fill rows, in time order, into the changes they imply."""

    changes: list[Change] = field(default_factory=list)
    orders: dict[tuple[str, str], _Order] = field(default_factory=lambda: defaultdict(_Order))
    rows: dict[tuple[str, str, str], bool] = field(default_factory=dict)  # (exchange, order, fill) -> has FAILED

    def state(self, s: OrderState) -> None:
        known = self.orders[(s.exchange, s.order_id)]
        if s.filled <= known.reported:
            return  # nothing new: an order read may still count a trade that has since FAILED
        known.reported = s.filled
        delta = known.target() - known.counted
        if delta <= 0:
            return
        price = s.avg_price
        if price is not None and not known.first_failed + known.later_failed:
            price = (s.filled * price - known.cost) / delta  # what the new part cost
        self._count(known, Change(s.t, s.item, s.exchange, s.market, s.order_id, s.side, delta, price))

    def fill(self, f: Fill) -> None:
        known = self.orders[(f.exchange, f.order_id)]
        key = (f.exchange, f.order_id, f.fill_id)
        failed = f.status == FAILED
        if key not in self.rows:
            self.rows[key] = failed
            if failed:
                known.first_failed += f.size
            else:
                known.rows += f.size
        elif failed and not self.rows[key]:
            self.rows[key] = True
            known.later_failed += f.size
        else:
            return
        delta = known.target() - known.counted
        if delta:
            self._count(known, Change(f.t, f.item, f.exchange, f.market, f.order_id, f.side, delta, f.price, f.fill_id))

    def _count(self, known: _Order, change: Change) -> None:
        known.counted += change.size
        if change.price is not None:
            known.cost += change.size * change.price
        self.changes.append(change)


def fold(states: list[OrderState], fills: list[Fill]) -> list[Change]:
    """The changes of position, in time order (answers before fill rows of the same entry)."""
    folder = Fills()
    merged: list[tuple[float, int, int, OrderState | Fill]] = [(s.t, s.item, 0, s) for s in states]
    merged += [(f.t, f.item, 1, f) for f in fills]
    for _, _, _, event in sorted(merged, key=lambda m: m[:3]):
        if isinstance(event, OrderState):
            folder.state(event)
        else:
            folder.fill(event)
    return folder.changes


@dataclass(slots=True)
class Holding:
    """One market's position (long positive) and what it cost; cost None once a fill came without a price."""

    position: Decimal = ZERO
    cost: Decimal | None = ZERO

    def apply(self, quantity: Decimal, price: Decimal | None) -> None:
        """Add a signed quantity (buy positive, sell negative) at `price` on the long leg."""
        opening = quantity
        if self.position and (quantity > 0) != (self.position > 0):
            closing = min(abs(quantity), abs(self.position))
            if self.cost is not None:
                self.cost -= self.cost * closing / abs(self.position)
            step = closing if quantity > 0 else -closing
            self.position += step
            opening = quantity - step
        if opening:
            if price is None or self.cost is None:
                self.cost = None
            else:
                self.cost += abs(opening) * (price if opening > 0 else ONE - price)
            self.position += opening


@dataclass(frozen=True, slots=True)
class Point:
    t: float
    item: int
    market: str
    position: Decimal  # of `market`, after the change
    exposure: Decimal | None  # of the whole exchange, after the change; None when a cost is unknown
    change: Change


def series(changes: list[Change]) -> dict[str, list[Point]]:
    """Per exchange, one point per change: the market's position and the exchange's exposure after it."""
    holdings: dict[str, dict[str, Holding]] = defaultdict(dict)
    out: dict[str, list[Point]] = defaultdict(list)
    for c in changes:
        held = holdings[c.exchange]
        holding = held.setdefault(c.market, Holding())
        signed = c.size if c.side == "buy" else -c.size
        holding.apply(signed, c.price)
        costs = [h.cost for h in held.values()]
        exposure = None if any(cost is None for cost in costs) else sum((k for k in costs if k is not None), ZERO)
        out[c.exchange].append(Point(c.t, c.item, c.market, holding.position, exposure, c))
    return dict(out)
