"""What a scenario did, in trading terms, from the results the real code returned: the demo's last column.

`Kalshi: bought 6 of 10 at 0.52, rest canceled; position 6`, `Kalshi 10/10, Polymarket refused
(InsufficientBalance): exposure 10 on Kalshi, unwound: sold 10 at 0.47`. Every figure comes from a
LegResult, an ArbResult, the ledger or a recovery report; nothing is written per scenario.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from trader.arb import ArbResult
from trader.execute import LegResult

NAMES = {"kalshi": "Kalshi", "poly": "Polymarket"}


def num(value: Decimal) -> str:
    """10.00 -> 10, 0.4700 -> 0.47: quantities read the same whatever the exchange's decimals."""
    return f"{value.normalize():f}"


def _error(result: LegResult) -> str:
    return type(result.error).__name__ if result.error is not None else "no reason given"


def fill_words(result: LegResult) -> str:
    """`bought 6 of 10 at 0.52, rest canceled`, `refused (InsufficientBalance)`, `outcome unknown (...)`."""
    if result.status == "rejected":
        return f"refused ({_error(result)}), nothing traded"
    if result.status == "unknown":
        return f"outcome unknown ({_error(result)}), left for recovery"
    verb = "bought" if result.leg.action == "buy" else "sold"
    words = f"{verb} {num(result.filled)} of {num(result.requested)}"
    if result.filled > 0 and result.avg_price is not None:
        words += f" at {num(result.avg_price)}"
    if result.status == "partial":
        words += ", rest canceled"
    elif result.status == "none":
        words += f", nothing at {num(result.leg.price)} or better, canceled"
    return words


def leg_story(result: LegResult, position: Decimal) -> str:
    return f"{NAMES[result.leg.exchange]}: {fill_words(result)}; position {num(position)}"


def _entry(result: LegResult) -> str:
    name = NAMES[result.leg.exchange]
    if result.status == "rejected":
        return f"{name} refused ({_error(result)})"
    if result.status == "unknown":
        return f"{name} unknown ({_error(result)})"
    return f"{name} {num(result.filled)}/{num(result.requested)}"


def arb_story(result: ArbResult) -> str:
    """Both entries, what matched, the exposure and how it was closed (or what is still open)."""
    words = f"{_entry(result.kalshi)}, {_entry(result.poly)}: "
    if not result.exposure:
        return words + f"matched {num(result.matched)}, no exposure"
    if result.matched:
        words += f"matched {num(result.matched)}; "
    words += ", ".join(f"exposure {num(e.quantity)} on {NAMES[e.leg.exchange]}" for e in result.exposure)
    if result.unwinds:
        words += ", unwound: " + ", ".join(fill_words(u) for u in result.unwinds)
    if result.residual:
        words += "; still open: " + ", ".join(f"{num(e.quantity)} on {NAMES[e.leg.exchange]}" for e in result.residual)
    return words


def recovery_story(first: LegResult, resolved: Iterable[Any], clean: bool, position: Decimal) -> str:
    """A lost answer, a restart, and what recover() found at the exchange."""
    found = ", ".join(f"{r.state} {num(r.filled)}" for r in resolved) or "nothing"
    agree = "ledger and exchange agree" if clean else "ledger and exchange DIFFER"
    return (
        f"Kalshi: answer lost ({_error(first)}), outcome {first.status}; after a restart recover() booked {found}; "
        f"position {num(position)}, {agree}"
    )


def retry_story(first: str, retry_status: str, retry_filled: Decimal, exchange_fills: Decimal) -> str:
    """The same order sent again after a lost answer, and whether the exchange holds it once."""
    once = "once, not doubled" if exchange_fills == retry_filled else "DOUBLED"
    return (
        f"Kalshi: answer lost ({first}); the retry with the same client_order_id reconciled as {retry_status} "
        f"{num(retry_filled)}; the exchange filled {num(exchange_fills)} ({once})"
    )
