"""Helpers shared by the trader tests: a ledger clock the test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class LedgerClock:
    """A `Ledger(clock=...)` that stands still until `advance` moves it (ISO 8601, UTC)."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> str:
        return self.now.isoformat(timespec="microseconds")

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
