"""The scenario catalogue of the original design: what to trigger, what it tests, how the simulator is
set up to make it happen, the trigger itself (real client and trader calls) and what must be observed.

A single-exchange scenario is captured into `fixtures/<name>/`; a combined one is a composition of
single-exchange directories (its `sources`), including the unwind orders it will make. Restart
recovery and the duplicate-submission retry cannot be composed: they are captured end to end.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clients.errors import TradingError
from trader.arb import ArbResult, Policy, execute_arb
from trader.execute import LegResult, execute_leg
from trader.recovery import recover

from . import canon
from .story import arb_story, leg_story, num, recovery_story, retry_story

CREATE_PATH = "/trade-api/v2/portfolio/events/orders"
Observed = dict[str, Any]


@dataclass
class Run:
    """What a trigger works with; `reopen()` gives fresh clients, as after a restart."""

    kalshi: Any
    poly: Any
    ledger: Any
    reopen: Callable[[], Awaitable[tuple[Any, Any]]]
    legs: canon.Legs = canon.SIM_LEGS


@dataclass(frozen=True)
class Scenario:
    name: str
    exchange: str  # kalshi, poly or both
    how: str  # the seed's "how to trigger"
    tests: str  # the seed's "what it tests"
    trigger: Callable[[Run], Awaitable[Observed]]
    expect: Observed
    kalshi_state: dict[str, Any] | None = None
    poly_state: dict[str, Any] | None = None
    faults: tuple[tuple[str, dict[str, Any]], ...] = ()  # (exchange, simulator fault spec) armed before the trigger
    composed_of: tuple[str, ...] = ()  # combined scenarios: the fixture directories replayed together
    capture_filter: str = "orders"

    @property
    def captured(self) -> bool:
        return not self.composed_of

    @property
    def sources(self) -> tuple[str, ...]:
        return self.composed_of or (self.name,)

    @property
    def role(self) -> str | None:
        """The leg a single-order scenario places (None for the end-to-end and combined ones)."""
        return getattr(self.trigger, "role", None)

    @property
    def live_capturable(self) -> bool:
        """Against real exchanges only single orders can be captured: faults need the simulator."""
        return self.captured and self.role is not None


# ---- observations ----------------------------------------------------------------------------


def error_name(error: BaseException | None) -> str | None:
    return type(error).__name__ if error is not None else None


def leg_observed(result: LegResult, ledger: Any) -> Observed:
    position = ledger.positions().get((result.leg.exchange, result.leg.instrument), Decimal(0))
    return {
        "status": result.status,
        "filled": result.filled,
        "avg_price": result.avg_price,
        "error": error_name(result.error),
        "ledger_position": position,
        "story": leg_story(result, position),
    }


def describe_exposure(items: Any) -> str:
    return ", ".join(f"{i.leg.exchange} {i.leg.action} {num(i.quantity)}" for i in items) or "none"


def describe_unwinds(unwinds: Any) -> str:
    return (
        ", ".join(
            f"{u.leg.exchange} {u.leg.action} {num(u.leg.count)}@{num(u.leg.price)}: {u.status} {num(u.filled)}"
            for u in unwinds
        )
        or "none"
    )


def arb_observed(result: ArbResult) -> Observed:
    return {
        "kalshi": f"{result.kalshi.status} {num(result.kalshi.filled)}",
        "poly": f"{result.poly.status} {num(result.poly.filled)}",
        "matched": result.matched,
        "exposure": describe_exposure(result.exposure),
        "unwinds": describe_unwinds(result.unwinds),
        "residual": describe_exposure(result.residual),
        "story": arb_story(result),
    }


# ---- triggers --------------------------------------------------------------------------------


def place(role: str) -> Callable[[Run], Awaitable[Observed]]:
    """Execute the leg playing `role` (see canon.Legs.role)."""

    async def trigger(run: Run) -> Observed:
        leg = run.legs.role(role)
        client = run.kalshi if leg.exchange == "kalshi" else run.poly
        return leg_observed(await execute_leg(client, leg, run.ledger), run.ledger)

    trigger.role = role  # type: ignore[attr-defined]  # read back by Scenario.role: the leg this trigger places
    return trigger


async def arb(run: Run) -> Observed:
    return arb_observed(await execute_arb(run.kalshi, run.poly, run.legs.opportunity, run.ledger, Policy()))


async def restart_recovery(run: Run) -> Observed:
    """The order executes but its answer is lost; the bot restarts and asks the exchange."""
    leg = run.legs.kalshi
    first = await execute_leg(run.kalshi, leg, run.ledger)
    kalshi, poly = await run.reopen()
    report = await recover(run.ledger, kalshi, poly)
    position = run.ledger.positions().get(("kalshi", leg.instrument), Decimal(0))
    return {
        "first_attempt": first.status,
        "first_error": error_name(first.error),
        "recovered": ", ".join(f"{r.state} {num(r.filled)}" for r in report.resolved) or "none",
        "unresolved": len(report.unresolved),
        "differences": len(report.differences),
        "ledger_position": position,
        "story": recovery_story(first, report.resolved, report.clean, position),
    }


async def duplicate_retry(run: Run) -> Observed:
    """The create's answer is lost; the client sends the same order (same client_order_id) again."""
    client_order_id = str(uuid.uuid4())
    leg = run.legs.kalshi
    args = (leg.instrument, leg.outcome, leg.action, leg.count, leg.price)
    try:
        await run.kalshi.create_order(*args, client_order_id=client_order_id)
        first = "answered"
    except TradingError as exc:
        first = type(exc).__name__
    retry = await run.kalshi.create_order(*args, client_order_id=client_order_id)
    fills = await run.kalshi.get_fills(order_id=retry.order_id)
    exchange_fills = sum((f.count for f in fills), Decimal(0))
    return {
        "first_attempt": first,
        "retry_status": retry.status,
        "retry_filled": retry.filled,
        "same_client_order_id": retry.client_order_id == client_order_id,
        "exchange_fills": exchange_fills,
        "story": retry_story(first, retry.status, retry.filled, exchange_fills),
    }


def best_asks(kalshi_book: Any, poly_book: Any) -> str:
    """The best ask each leg meets: Kalshi's YES ask is 1 - its best NO bid."""
    return f"kalshi {num(1 - kalshi_book.no_bids[0][0])}, poly {num(poly_book.asks[0].price)}"


async def observed_arb(run: Run) -> Observed:
    """Both books read, the arb traded (both legs partial, the excess unwound), then books, fills, trades and
    positions read back: a session that shows what each leg met and what it left."""
    ticker, token = run.legs.kalshi.instrument, run.legs.poly.instrument
    before = best_asks(await run.kalshi.get_orderbook(ticker), await run.poly.get_book(token))
    observed = arb_observed(await execute_arb(run.kalshi, run.poly, run.legs.opportunity, run.ledger, Policy()))
    after = best_asks(await run.kalshi.get_orderbook(ticker), await run.poly.get_book(token))
    fills = await run.kalshi.get_fills(ticker=ticker)
    trades = await run.poly.get_trades(asset_id=token)
    positions = {p.ticker: p.position for p in await run.kalshi.get_positions()}
    return {
        **observed,
        "best_asks_before": before,
        "best_asks_after": after,
        "kalshi_fills": sum((f.count for f in fills), Decimal(0)),
        "poly_traded": sum((t.size for t in trades), Decimal(0)),
        "kalshi_position_agrees": positions.get(ticker) == run.ledger.positions().get(("kalshi", ticker)),
    }


# ---- the catalogue ---------------------------------------------------------------------------

D = Decimal
DROP_CREATE = {"method": "POST", "path": CREATE_PATH, "action": "act_then_drop", "times": 1}


# Kalshi fills 6 and Polymarket 4 of 10: 4 matched, the 2 extra Kalshi contracts unwound at 0.47.
BOTH_PARTIAL_ARB = {
    "kalshi": "partial 6",
    "poly": "partial 4",
    "matched": D(4),
    "exposure": "kalshi buy 2",
    "unwinds": "kalshi sell 2@0.47: filled 2",
    "residual": "none",
}


def expected(
    status: str,
    filled: int = 0,
    avg_price: str | None = None,
    error: str | None = None,
    ledger_position: int | None = None,
) -> Observed:
    """What one order should show; the ledger holds what was filled unless said otherwise (a sale)."""
    return {
        "status": status,
        "filled": D(filled),
        "avg_price": None if avg_price is None else D(avg_price),
        "error": error,
        "ledger_position": D(filled if ledger_position is None else ledger_position),
    }


def rejected(error: str) -> Observed:
    return expected("rejected", error=error)


SCENARIOS: list[Scenario] = [
    Scenario(
        "kalshi_full_fill",
        "kalshi",
        "Small order at market price",
        "Happy path, response parsing",
        place("kalshi"),
        expected("filled", 10, "0.52"),
        kalshi_state=canon.kalshi_state(yes_asks=[("0.52", "25.00"), ("0.54", "50.00")]),
    ),
    Scenario(
        "kalshi_partial_fill",
        "kalshi",
        "Larger order at limit price",
        "Partial handling, position tracking",
        place("kalshi"),
        expected("partial", 6, "0.52"),
        kalshi_state=canon.kalshi_state(yes_asks=[("0.52", "6.00"), ("0.54", "50.00")]),
    ),
    Scenario(
        "kalshi_no_fill",
        "kalshi",
        "Order at stale price",
        "Cancelled order handling",
        place("kalshi"),
        expected("none"),
        kalshi_state=canon.kalshi_state(yes_asks=[("0.54", "50.00"), ("0.56", "50.00")]),
    ),
    Scenario(
        "kalshi_insufficient_balance",
        "kalshi",
        "Order exceeding balance",
        "Error response parsing",
        place("kalshi"),
        rejected("InsufficientBalance"),
        kalshi_state=canon.kalshi_state(balance="1.00"),
    ),
    Scenario(
        "kalshi_invalid_ticker",
        "kalshi",
        "Malformed ticker",
        "Error handling",
        place("kalshi_bad_ticker"),
        rejected("MarketNotFound"),
        kalshi_state=canon.kalshi_state(),
    ),
    Scenario(
        "kalshi_market_closed",
        "kalshi",
        "Order on settled market",
        "Error handling",
        place("kalshi"),
        rejected("MarketClosed"),
        kalshi_state=canon.kalshi_state(status="closed"),
    ),
    Scenario(
        "poly_full_fill",
        "poly",
        "Small market order",
        "Happy path, EIP-712 signing",
        place("poly"),
        expected("filled", 10, "0.45"),
        poly_state=canon.poly_state(asks=[("0.45", "500"), ("0.47", "1000")]),
    ),
    Scenario(
        "poly_partial_fill",
        "poly",
        "Larger limit order",
        "Partial handling",
        place("poly"),
        expected("partial", 4, "0.45"),
        poly_state=canon.poly_state(asks=[("0.45", "4"), ("0.47", "1000")]),
    ),
    Scenario(
        "poly_no_fill",
        "poly",
        "Order at stale price",
        "Cancelled order handling",
        place("poly"),
        expected("none", error="OrderNotFilled"),
        poly_state=canon.poly_state(asks=[("0.47", "1000"), ("0.48", "1000")]),
    ),
    Scenario(
        "poly_insufficient_balance",
        "poly",
        "Order exceeding balance",
        "Error parsing",
        place("poly"),
        rejected("InsufficientBalance"),
        poly_state=canon.poly_state(asks=[("0.45", "500")], balance="1"),
    ),
    Scenario(
        "kalshi_unwind_full",
        "kalshi",
        "Sell back the 10 YES of a full fill, 0.05 under entry",
        "The unwind order of 'Kalshi fills, Poly fails'",
        place("kalshi_unwind_full"),
        expected("filled", 10, "0.47", ledger_position=-10),
        kalshi_state=canon.kalshi_state(position="10.00"),
    ),
    Scenario(
        "kalshi_unwind_partial",
        "kalshi",
        "Sell back 2 YES, 0.05 under entry",
        "The unwind order of 'Both partial'",
        place("kalshi_unwind_partial"),
        expected("filled", 2, "0.47", ledger_position=-2),
        kalshi_state=canon.kalshi_state(position="2.00"),
    ),
    Scenario(
        "poly_unwind_full",
        "poly",
        "Sell back the 10 shares of a full fill, 0.05 under entry",
        "The unwind order of 'Kalshi fails, Poly fills'",
        place("poly_unwind_full"),
        expected("filled", 10, "0.44", ledger_position=-10),
        poly_state=canon.poly_state(bids=[("0.44", "500"), ("0.43", "1000")], shares="10"),
    ),
    Scenario(
        "arb_both_fill",
        "both",
        "Kalshi full + Poly full",
        "Happy path arb",
        arb,
        {
            "kalshi": "filled 10",
            "poly": "filled 10",
            "matched": D(10),
            "exposure": "none",
            "unwinds": "none",
            "residual": "none",
        },
        composed_of=("kalshi_full_fill", "poly_full_fill"),
    ),
    Scenario(
        "arb_kalshi_fills_poly_fails",
        "both",
        "Kalshi full + Poly error",
        "Unmatched exposure handling",
        arb,
        {
            "kalshi": "filled 10",
            "poly": "rejected 0",
            "matched": D(0),
            "exposure": "kalshi buy 10",
            "unwinds": "kalshi sell 10@0.47: filled 10",
            "residual": "none",
        },
        composed_of=("kalshi_full_fill", "poly_insufficient_balance", "kalshi_unwind_full"),
    ),
    Scenario(
        "arb_both_partial",
        "both",
        "Kalshi partial + Poly partial",
        "Imbalanced position",
        arb,
        BOTH_PARTIAL_ARB,
        composed_of=("kalshi_partial_fill", "poly_partial_fill", "kalshi_unwind_partial"),
    ),
    Scenario(
        "arb_kalshi_fails_poly_fills",
        "both",
        "Kalshi error + Poly full",
        "Reverse exposure",
        arb,
        {
            "kalshi": "rejected 0",
            "poly": "filled 10",
            "matched": D(0),
            "exposure": "poly buy 10",
            "unwinds": "poly sell 10@0.4: filled 10",
            "residual": "none",
        },
        composed_of=("kalshi_insufficient_balance", "poly_full_fill", "poly_unwind_full"),
    ),
    Scenario(
        "arb_partial_observed",
        "both",
        "Both books read, the arb traded (Kalshi partial + Poly partial, excess unwound), everything read back",
        "A session that shows the books each leg met, the fills, the unwind and positions (tradetape report)",
        observed_arb,
        {
            **BOTH_PARTIAL_ARB,
            "best_asks_before": "kalshi 0.52, poly 0.45",
            "best_asks_after": "kalshi 0.54, poly 0.47",
            "kalshi_fills": D(8),
            "poly_traded": D(4),
            "kalshi_position_agrees": True,
        },
        kalshi_state=canon.kalshi_state(yes_asks=[("0.52", "6.00"), ("0.54", "50.00")]),
        poly_state=canon.poly_state(asks=[("0.45", "4"), ("0.47", "1000")]),
        capture_filter="all",
    ),
    Scenario(
        "restart_recovery",
        "kalshi",
        "An order executes but its answer is lost; the bot restarts",
        "Restart with an open position: intent in the ledger, recovery from the exchange",
        restart_recovery,
        {
            "first_attempt": "unknown",
            "first_error": "ProxyUpstreamError",
            "recovered": "filled 10",
            "unresolved": 0,
            "differences": 0,
            "ledger_position": D(10),
        },
        kalshi_state=canon.kalshi_state(yes_asks=[("0.52", "25.00")]),
        faults=(("kalshi", DROP_CREATE),),
        capture_filter="all",
    ),
    Scenario(
        "duplicate_submission_retry",
        "kalshi",
        "The create's answer is lost and the same order is sent again",
        "A retry never doubles an order: 409 order_already_exists is reconciled by client_order_id",
        duplicate_retry,
        {
            "first_attempt": "ProxyUpstreamError",
            "retry_status": "executed",
            "retry_filled": D(10),
            "same_client_order_id": True,
            "exchange_fills": D(10),
        },
        kalshi_state=canon.kalshi_state(yes_asks=[("0.52", "25.00")]),
        faults=(("kalshi", DROP_CREATE),),
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def check(expect: Observed, observed: Observed) -> list[str]:
    """What differs from the expectations, one line each (empty: the scenario holds)."""
    return [
        f"{key}: expected {want!r}, got {observed.get(key, '<missing>')!r}"
        for key, want in expect.items()
        if observed.get(key, object()) != want
    ]


def select(names: list[str] | tuple[str, ...]) -> list[Scenario]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise KeyError(f"unknown scenario(s): {', '.join(unknown)} (see `tradetape scenarios list`)")
    return [BY_NAME[n] for n in names] if names else list(SCENARIOS)
