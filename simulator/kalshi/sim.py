"""One Kalshi listener's live state: the exchange built from the state section, resettable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import SimClock
from .engine import Event, KalshiExchange
from .section import KalshiSetup, parse_section


def build_exchange(setup: KalshiSetup, clock: SimClock) -> KalshiExchange:
    exchange = KalshiExchange(setup.markets, setup.accounts, setup.keys, clock.now)
    for ticker, (bids, asks) in setup.books.items():
        if bids or asks:
            exchange.set_book(ticker, bids, asks)
    return exchange


class KalshiSim:
    """Holds the section so `reset` can rebuild the exchange; feed listeners survive a reset."""

    def __init__(self, section: dict | None, clock: SimClock) -> None:
        self.section = section
        self.clock = clock
        self.listeners: list[Callable[[Event], None]] = []
        self.exchange = self._build()

    def _build(self) -> KalshiExchange:
        exchange = build_exchange(parse_section(self.section, self.clock.now()), self.clock)
        exchange.listeners = self.listeners
        return exchange

    def reset(self) -> None:
        """Rebuild from the section; listeners hear `reset` (feeds drop their clients, whose books are now wrong)."""
        self.exchange = self._build()
        for listener in self.listeners:
            listener(Event("reset", {}))

    def on_clock(self, now: float) -> None:
        """After the clock jumps: expire GTC orders whose expiration_time has passed."""
        self.exchange.expire_due()

    def on_event(self, listener: Callable[[Event], Any]) -> None:
        """Subscribe to book, order, fill and position changes (for WebSocket feeds)."""
        self.listeners.append(listener)
