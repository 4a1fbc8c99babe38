"""Typed, immutable Kalshi results (Decimal money and counts; the parsed body kept as `raw`).

Orders use the shared `clients.types.OrderResult`; these are the Kalshi-only shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clients.kalshi.orders import ONE

PriceLevel = tuple[Decimal, Decimal]
"""(price in dollars, contracts)."""


@dataclass(frozen=True, slots=True)
class CreateAck:
    """A V2 write acknowledgement (create, batch item, amend): counts and YES-leg averages, no status."""

    order_id: str
    client_order_id: str | None
    fill_count: Decimal | None
    remaining_count: Decimal | None
    average_fill_price: Decimal | None
    average_fee_paid: Decimal | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """A V2 cancel: how many contracts stopped resting."""

    order_id: str
    client_order_id: str | None
    reduced_by: Decimal
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An amend or decrease answer; counts only when Kalshi sent them, avg_price of the outcome."""

    order_id: str
    client_order_id: str | None
    filled: Decimal | None
    remaining: Decimal | None
    avg_price: Decimal | None
    fees: Decimal | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class KalshiFill:
    """One fill. `outcome` is what was bought (Kalshi books a YES sale as a NO purchase) and `price`
    that outcome's price; `yes_price` is the YES-leg price. `ts` is Unix seconds."""

    fill_id: str
    order_id: str
    ticker: str
    outcome: str
    action: str
    count: Decimal
    yes_price: Decimal
    price: Decimal
    fee: Decimal | None
    is_taker: bool | None
    ts: int | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class KalshiPosition:
    """A market position: `position` is signed, positive YES and negative NO contracts."""

    ticker: str
    position: Decimal
    exposure: Decimal | None
    realized_pnl: Decimal | None
    fees_paid: Decimal | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class PriceRange:
    """One band of a market's tick grid: prices start, start+step, …, end are valid."""

    start: Decimal
    end: Decimal
    step: Decimal

    def contains(self, price: Decimal) -> bool:
        return self.start <= price <= self.end and (price - self.start) % self.step == 0


@dataclass(frozen=True, slots=True)
class KalshiMarket:
    """A market's state, top of book (YES-leg dollars where the name says yes) and tick grid."""

    ticker: str
    event_ticker: str | None
    status: str
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    no_bid: Decimal | None
    no_ask: Decimal | None
    last_price: Decimal | None
    price_ranges: tuple[PriceRange, ...]
    raw: Any = field(repr=False, compare=False, default=None)

    def on_grid(self, price: Decimal) -> bool:
        """Whether a YES-leg price is on the market's tick grid (Kalshi refuses others: invalid_price)."""
        return any(r.contains(price) for r in self.price_ranges)


@dataclass(frozen=True, slots=True)
class Orderbook:
    """Resting bids of both legs, best first; asks derived (a NO bid at p is a YES ask at 1 − p)."""

    ticker: str
    yes_bids: tuple[PriceLevel, ...]
    no_bids: tuple[PriceLevel, ...]
    raw: Any = field(repr=False, compare=False, default=None)

    @property
    def yes_asks(self) -> tuple[PriceLevel, ...]:
        return tuple((ONE - price, count) for price, count in self.no_bids)

    @property
    def no_asks(self) -> tuple[PriceLevel, ...]:
        return tuple((ONE - price, count) for price, count in self.yes_bids)
