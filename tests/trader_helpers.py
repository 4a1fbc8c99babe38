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


def pair_fields(yes: str, no: str, ticker: str = "KX-ALI", condition: str = "0x" + "ab" * 32, **extra: object) -> str:
    """The body of one `[[pairs]]` table (name "ali", outcomes "same", a cent tick, fee rate 0.04), `extra`
    fields added or overriding (strings are written quoted, numbers as they are)."""
    fields: dict[str, object] = {
        "name": "ali",
        "kalshi_ticker": ticker,
        "poly_condition_id": condition,
        "poly_yes_token": yes,
        "poly_no_token": no,
        "outcomes": "same",
        "poly_tick_size": 0.01,
        "poly_neg_risk": False,
        "poly_fee_rate": "0.04",
    } | extra
    written = {
        k: f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else v for k, v in fields.items()
    }
    return "".join(f"{k} = {v}\n" for k, v in written.items())
