"""What the page draws, read from one fixture or frame: orders and their answers, fills, books, positions.

Prices are on one leg per market so that orders, fills and the book share an axis: Kalshi's YES leg (a
V2 `bid` buys YES, an `ask` sells it), a Polymarket token's own price. `side` is buy or sell of that leg.
Every event names the list entry it came from (`item`) and its time on the report's axis (`t`, seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Side = Literal["buy", "sell"]
Level = tuple[Decimal, Decimal]  # (price, size)


@dataclass(frozen=True, slots=True)
class Answer:
    """The exchange's answer to one order (or the proxy's, when the exchange never answered)."""

    t: float
    status: str  # executed / resting / canceled / matched / …, rejected, or the proxy's failure kind
    order_id: str | None = None
    filled: Decimal | None = None
    avg_price: Decimal | None = None  # on the market's leg
    error: str | None = None  # the error class and message the client would raise


@dataclass(frozen=True, slots=True)
class Order:
    t: float  # sent
    item: int
    exchange: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    kind: str  # time in force / order type
    answer: Answer | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order's cumulative fill as an answer or an order read reported it."""

    t: float
    item: int
    exchange: str
    market: str
    order_id: str
    side: Side
    filled: Decimal
    avg_price: Decimal | None  # on the market's leg; None when the answer does not say


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill (Kalshi fill, Polymarket trade) as a fills or trades read reported it."""

    t: float
    item: int
    exchange: str
    market: str
    order_id: str
    fill_id: str
    side: Side
    size: Decimal
    price: Decimal
    status: str | None = None  # Polymarket's trade status: MATCHED, MINED, CONFIRMED, RETRYING, FAILED


@dataclass(frozen=True, slots=True)
class Book:
    t: float
    item: int
    exchange: str
    market: str
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]  # best first
    invalid: str | None = None  # why the feed would not trust this book (a gap is drawn)


@dataclass(frozen=True, slots=True)
class Reported:
    """A position as the exchange reported it (Kalshi's positions read), to set beside the derived one."""

    t: float
    item: int
    exchange: str
    market: str
    position: Decimal
    exposure: Decimal | None


@dataclass(frozen=True, slots=True)
class Note:
    """Something the page marks on a market's chart in words (a book not trusted, and why)."""

    t: float
    item: int
    exchange: str
    market: str
    text: str


@dataclass(frozen=True, slots=True)
class Decision:
    """One of the engine's decisions; `t` None when the ledger gives no way to place it in time."""

    t: float | None
    item: int
    kind: str  # taken, would_take, skipped, result, kill, recovery
    reason: str
    detail: str
    pair: str | None
    arb: str | None
    placed: str | None  # how its time was found


@dataclass(slots=True)
class Events:
    orders: list[Order] = field(default_factory=list)
    states: list[OrderState] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    books: list[Book] = field(default_factory=list)
    reported: list[Reported] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def extend(self, other: Events) -> None:
        self.orders += other.orders
        self.states += other.states
        self.fills += other.fills
        self.books += other.books
        self.reported += other.reported
        self.notes += other.notes
        self.decisions += other.decisions
