"""Which resting orders an incoming Kalshi order takes, planned before anything changes.

Planning first lets fill-or-kill, self-trade prevention and the balance check refuse an order without
side effects. Makers are taken in price-time priority at their own prices; a maker of the same account
either kills the taker (`taker_at_cross`) or is canceled (`maker`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from simulator.kalshi.book import Book
from simulator.kalshi.model import ZERO, Order


def crosses(taker_side: str, limit: Decimal, maker_price: Decimal) -> bool:
    """Whether a taker at `limit` trades with a resting order at `maker_price`."""
    return maker_price <= limit if taker_side == "bid" else maker_price >= limit


@dataclass
class Plan:
    """What a taker would do against the book, computed before anything changes."""

    fills: list[tuple[Order, Decimal]] = field(default_factory=list)
    stp_cancels: list[Order] = field(default_factory=list)
    killed_by_stp: bool = False

    @property
    def filled(self) -> Decimal:
        return sum((n for _, n in self.fills), ZERO)


def plan_taker(book: Book, account: str, side: str, price: Decimal, count: Decimal, stp: str) -> Plan:
    """The fills of a taker of `account` on `side` at `price` for `count` contracts, with self-trade
    prevention `stp`; nothing changes until the exchange executes the plan."""
    plan, remaining = Plan(), count
    for maker in book.opposite(side):
        if remaining == 0 or not crosses(side, price, maker.price):
            break
        if maker.account == account:
            if stp == "taker_at_cross":
                plan.killed_by_stp = True
                break
            plan.stp_cancels.append(maker)
            continue
        n = min(remaining, maker.remaining)
        plan.fills.append((maker, n))
        remaining -= n
    return plan
