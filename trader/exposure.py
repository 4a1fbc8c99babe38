"""What an arb's orders leave unhedged, computed from what they actually filled.

An arb is hedged when both exchanges hold the same quantity in the entry legs' directions. Every order
of the arb (entries and unwinds) moves its exchange's holding: +filled in its entry's direction,
−filled against it. What one exchange holds beyond the other is exposure, in either direction: an
unwind that fills more than asked (a Polymarket market BUY spends dollars, so a better ask buys more
shares) leaves exposure on the other side of its entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.legs import Leg

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Exposure:
    """`quantity` of `leg` (its exchange, instrument, outcome and side) that is not hedged."""

    leg: Leg
    quantity: Decimal

    def describe(self) -> str:
        outcome = f" {self.leg.outcome}" if self.leg.outcome else ""
        return f"{self.leg.exchange} {self.leg.instrument}{outcome} {self.leg.action} {self.quantity}"


def direction(leg: Leg, entry: Leg) -> int:
    """+1 when `leg` adds to `entry`'s position, −1 when it takes from it (a Kalshi NO buy is a YES sale)."""
    same_action = leg.action == entry.action
    same_outcome = leg.outcome == entry.outcome
    return 1 if same_action == same_outcome else -1


def imbalance(entries: Sequence[Leg], orders: Iterable[tuple[Leg, Decimal]]) -> tuple[Exposure, ...]:
    """The exposure left by `orders` (each leg with the quantity it filled) of an arb entered with `entries`
    (one leg per exchange; an exchange without an entry holds nothing)."""
    by_exchange = {leg.exchange: leg for leg in entries}
    held = dict.fromkeys(by_exchange, ZERO)
    for leg, filled in orders:
        held[leg.exchange] += direction(leg, by_exchange[leg.exchange]) * filled
    hedged = _hedged(list(held.values()))
    exposure = []
    for exchange, entry in by_exchange.items():
        excess = held[exchange] - hedged
        if excess > 0:
            exposure.append(Exposure(entry, excess))
        elif excess < 0:
            exposure.append(Exposure(entry.opposite(), -excess))
    return tuple(exposure)


def _hedged(held: list[Decimal]) -> Decimal:
    """The quantity both exchanges hold in the same direction (none with a single exchange)."""
    if len(held) < 2:
        return ZERO
    if all(h > 0 for h in held):
        return min(held)
    if all(h < 0 for h in held):
        return max(held)
    return ZERO
