"""One market's order book: resting orders by price-time priority on each side of the YES leg."""

from __future__ import annotations

from decimal import Decimal

from simulator.kalshi.model import Order


def _priority(order: Order) -> tuple[Decimal, int]:
    return (-order.price if order.book_side == "bid" else order.price, order.seq)


class Book:
    """Bids (buy YES) best-first by highest price, asks (sell YES) best-first by lowest; ties by arrival."""

    def __init__(self) -> None:
        self.bids: list[Order] = []
        self.asks: list[Order] = []

    def side(self, book_side: str) -> list[Order]:
        return self.bids if book_side == "bid" else self.asks

    def opposite(self, book_side: str) -> list[Order]:
        return self.asks if book_side == "bid" else self.bids

    def add(self, order: Order) -> None:
        side = self.side(order.book_side)
        side.append(order)
        side.sort(key=_priority)

    def remove(self, order: Order) -> None:
        self.side(order.book_side).remove(order)

    def orders(self) -> list[Order]:
        return self.bids + self.asks

    def levels(self, book_side: str) -> list[tuple[Decimal, Decimal]]:
        """(YES price, total count) per price, best first."""
        totals: dict[Decimal, Decimal] = {}
        for order in self.side(book_side):
            totals[order.price] = totals.get(order.price, Decimal(0)) + order.remaining
        return list(totals.items())

    def best(self, book_side: str) -> tuple[Decimal, Decimal] | None:
        levels = self.levels(book_side)
        return levels[0] if levels else None
