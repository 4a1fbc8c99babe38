"""A live order book for one market, kept by either exchange's feed: price -> size on each side, Decimal only.

The feed mutates a `LocalBook`; readers get a `BookView`, an immutable copy with both sides best first. A book
that missed something (a sequence gap, a level that would go negative, a best price the exchange contradicts) is
invalid and the feed never hands it out until a fresh snapshot replaces it; a book whose feed has gone quiet is
handed out marked `stale`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

BID, ASK = "bid", "ask"
ZERO = Decimal(0)


class BookInconsistent(Exception):
    """A change that cannot apply to the book as held: something was missed."""


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookView:
    """One market's book at one moment. Kalshi books are in YES-leg dollars (asks are NO bids at 1 - price);
    Polymarket books are one token's, in pUSD per share. `stale`: the feed has heard nothing for a while."""

    exchange: str
    market: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    stale: bool
    tick_size: Decimal | None = None

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def depth(self, side: str, levels: int | None = None) -> Decimal:
        """Total size of the best `levels` levels of `side` (all when None)."""
        return sum((level.size for level in (self.bids if side == BID else self.asks)[:levels]), ZERO)


class LocalBook:
    """The mutable book a feed applies snapshots and changes to."""

    def __init__(self, exchange: str, market: str) -> None:
        self.exchange = exchange
        self.market = market
        self.sides: dict[str, dict[Decimal, Decimal]] = {BID: {}, ASK: {}}
        self.valid = False  # a snapshot is applied and nothing is known to be missing since
        self.stale = False
        self.tick_size: Decimal | None = None

    def replace(self, bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]]) -> None:
        """A snapshot: the whole book, valid and fresh."""
        self.sides = {BID: {p: s for p, s in bids if s}, ASK: {p: s for p, s in asks if s}}
        self.valid, self.stale = True, False

    def set_level(self, side: str, price: Decimal, size: Decimal) -> None:
        """The new total at a level (Polymarket `price_change`); 0 removes it."""
        if size < 0:
            raise BookInconsistent(f"{self.market}: {side} {price} set to negative size {size}")
        if size:
            self.sides[side][price] = size
        else:
            self.sides[side].pop(price, None)

    def add(self, side: str, price: Decimal, delta: Decimal) -> None:
        """A change of `delta` at a level (Kalshi `orderbook_delta`); below zero means a change was missed."""
        size = self.sides[side].get(price, ZERO) + delta
        if size < 0:
            raise BookInconsistent(f"{self.market}: {side} {price} would hold {size} after a delta of {delta}")
        self.set_level(side, price, size)

    def best(self, side: str) -> Decimal | None:
        prices = self.sides[side]
        if not prices:
            return None
        return max(prices) if side == BID else min(prices)

    def invalidate(self) -> None:
        self.valid = False

    def view(self) -> BookView:
        bids = tuple(Level(p, s) for p, s in sorted(self.sides[BID].items(), reverse=True))
        asks = tuple(Level(p, s) for p, s in sorted(self.sides[ASK].items()))
        return BookView(self.exchange, self.market, bids, asks, self.stale, self.tick_size)
