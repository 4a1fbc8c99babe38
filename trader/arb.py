"""Execute an arbitrage: both legs at once, then reconcile what filled and deal with the excess.

matched = the smaller fill; whatever one leg filled beyond it is exposure, an unhedged position.
Policy `unwind` closes it at once with one immediate order at most `max_unwind_slippage` worse than
the leg's entry price and reports what that achieved; policy `hold` records it and alerts. A leg
whose outcome is unknown (lost answer) is looked up once; if it stays unknown nothing is unwound,
since closing a position that may be hedged after all would create the exposure it meant to remove.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.execute import LegResult, execute_leg, result_from_booking
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity
from trader.recovery import resolve

log = logging.getLogger("trader")


@dataclass(frozen=True, slots=True)
class Policy:
    """How `execute_arb` handles exposure; `leg_timeout` bounds each order's round trip (seconds)."""

    on_exposure: Literal["unwind", "hold"] = "unwind"
    max_unwind_slippage: Decimal = Decimal("0.05")
    leg_timeout: float | None = 10.0
    resolve_unknown: bool = True

    def __post_init__(self) -> None:
        if self.on_exposure not in ("unwind", "hold"):
            raise ValueError(f"Policy.on_exposure must be 'unwind' or 'hold', got {self.on_exposure!r}")
        if not isinstance(self.max_unwind_slippage, Decimal) or not 0 <= self.max_unwind_slippage < 1:
            raise ValueError(
                f"Policy.max_unwind_slippage must be a Decimal in [0, 1), got {self.max_unwind_slippage!r}"
            )


@dataclass(frozen=True, slots=True)
class Exposure:
    """`quantity` of `leg` (its exchange, instrument, outcome and side) that is not hedged."""

    leg: Leg
    quantity: Decimal

    def describe(self) -> str:
        outcome = f" {self.leg.outcome}" if self.leg.outcome else ""
        return f"{self.leg.exchange} {self.leg.instrument}{outcome} {self.leg.action} {self.quantity}"


@dataclass(frozen=True, slots=True)
class ArbResult:
    """Both legs, the matched quantity, the exposure they left, the unwind attempts and what remains.

    `uncertain` means a leg's outcome is unknown: exposure is then computed from the fills seen so far
    and nothing was unwound; run `recover()`.
    """

    arb_id: str
    opportunity: Opportunity
    kalshi: LegResult
    poly: LegResult
    matched: Decimal
    exposure: tuple[Exposure, ...]
    unwinds: tuple[LegResult, ...]
    residual: tuple[Exposure, ...]
    policy: Policy
    alerts: tuple[str, ...] = field(default=())

    @property
    def uncertain(self) -> bool:
        return any(r.status == "unknown" for r in (self.kalshi, self.poly, *self.unwinds))


async def execute_arb(
    kalshi: KalshiTrading, poly: PolyTrading, opportunity: Opportunity, ledger: Ledger | None, policy: Policy = Policy()
) -> ArbResult:
    """Place both legs concurrently, reconcile, and apply `policy` to any exposure."""
    arb_id = str(uuid.uuid4())
    clients: dict[str, Client] = {"kalshi": kalshi, "poly": poly}
    entries = (opportunity.kalshi, opportunity.poly)
    outcomes = await asyncio.gather(
        *(_settled(clients[leg.exchange], leg, ledger, policy, purpose="entry", arb_id=arb_id) for leg in entries),
        return_exceptions=True,
    )
    legs = [_unknown_on_crash(leg, outcome) for leg, outcome in zip(entries, outcomes, strict=True)]
    k, p = legs
    matched = min(k.filled, p.filled)
    exposure = tuple(Exposure(r.leg, r.filled - matched) for r in legs if r.filled > matched)
    alerts = [
        f"{r.leg.describe()}: outcome unknown (key {r.key}); nothing unwound, run `tradetape trader recover`"
        for r in legs
        if r.status == "unknown"
    ]
    for item in exposure:
        if ledger is not None:
            ledger.record_exposure(arb_id, item.leg, item.quantity, policy.on_exposure)
    unwinds: list[LegResult] = []
    residual: list[Exposure] = list(exposure)
    if exposure and not alerts and policy.on_exposure == "unwind":
        unwinds, residual = await _unwind(clients, legs, exposure, ledger, policy, arb_id)
    alerts += [
        f"unwind {r.leg.describe()}: outcome unknown (key {r.key}), run `tradetape trader recover`"
        for r in unwinds
        if r.status == "unknown"
    ]
    alerts += [f"exposure left: {item.describe()} ({policy.on_exposure})" for item in residual]
    for alert in alerts:
        log.warning("arb %s: %s", arb_id, alert)
    return ArbResult(
        arb_id, opportunity, k, p, matched, exposure, tuple(unwinds), tuple(residual), policy, tuple(alerts)
    )


def _unknown_on_crash(leg: Leg, outcome: LegResult | BaseException) -> LegResult:
    """A leg that raised outside the error taxonomy is unknown: the other leg is still reconciled and alerted on."""
    if isinstance(outcome, LegResult):
        return outcome
    if not isinstance(outcome, Exception):  # cancellation and the like go up unchanged
        raise outcome
    log.error("leg %s raised %s: %s", leg.describe(), type(outcome).__name__, outcome)
    return LegResult(leg, None, "unknown", Decimal(0), None, None, None, outcome)


async def _settled(client: Client, leg: Leg, ledger: Ledger | None, policy: Policy, **kwargs: Any) -> LegResult:
    """execute_leg, then one look-up at the exchange if the outcome came back unknown.

    Only an order the exchange reports settles the leg here; "no such order" is left for `recover()`,
    since the lost request may still be in flight or the exchange's reads may lag its writes.
    """
    result = await execute_leg(client, leg, ledger, timeout=policy.leg_timeout, **kwargs)
    if result.status != "unknown" or not policy.resolve_unknown or result.key is None:
        return result
    resolution = await resolve(client, leg, result.key)
    if resolution.booking is None or not resolution.found:  # "not found" this soon proves nothing
        log.warning(
            "outcome unknown, even after a look-up: %s (key %s): %s", leg.describe(), result.key, resolution.note
        )
        return result
    log.info("settled by a look-up: %s: %s", leg.describe(), resolution.note)
    if ledger is not None:
        ledger.book(result.key, resolution.booking)
    return result_from_booking(leg, result.key, resolution.booking, result.error)


async def _unwind(
    clients: dict[str, Client],
    legs: list[LegResult],
    exposure: tuple[Exposure, ...],
    ledger: Ledger | None,
    policy: Policy,
    arb_id: str,
) -> tuple[list[LegResult], list[Exposure]]:
    """Close each exposure with one immediate order; returns the attempts and what they left open."""
    entries = {r.leg: r for r in legs}
    closing = [
        item.leg.closing(item.quantity, entries[item.leg].avg_price or item.leg.price, policy.max_unwind_slippage)
        for item in exposure
    ]
    unwinds = list(
        await asyncio.gather(
            *(_settled(clients[leg.exchange], leg, ledger, policy, purpose="unwind", arb_id=arb_id) for leg in closing)
        )
    )
    residual = [
        Exposure(item.leg, item.quantity - result.filled)
        for item, result in zip(exposure, unwinds, strict=True)
        if result.filled < item.quantity
    ]
    return unwinds, residual
