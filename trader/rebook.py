"""After an arb, its pair waits until each leg's book has caught up with what the arb's orders took.

An arb's orders (and its unwinds) consume levels of both legs' books, and the exchanges' book frames that remove
them reach the feeds some time after the orders are answered. Until then the local books still show the levels
the arb took, and a second arb priced on them chases liquidity that is gone. So the pair waits until each leg's
book has applied an update the feed received after the arb's last answer (`Feed.book_updates`, counted when a
frame is applied, not when its event is consumed, so an update queued from before the answers does not count).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Book = tuple[str, str]  # (exchange, market)


@dataclass
class Rebook:
    """One pair's wait: each leg's book with the feed's update count for it when the arb's answers were in."""

    arb_id: str | None
    marks: dict[Book, int]
    said: bool = False  # this wait is recorded (an opportunity skipped during it, or the row saying it is late)
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def waiting(self, updates: Callable[[str, str], int]) -> list[Book]:
        """The legs' books that have applied no update since the arb's answers."""
        return [book for book, mark in self.marks.items() if updates(*book) <= mark]

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def books_named(books: Iterable[Book]) -> str:
    """`the kalshi KX-A book and the poly 1001 book`."""
    return " and ".join(f"the {exchange} {market} book" for exchange, market in books)
