"""Restart recovery: settle every intent whose outcome the ledger does not know, book fills from the
exchange's records, settle the arbs this touched, then reconcile positions.

An intent is open when the process died between writing it and booking the answer, or when the
answer was lost (transport error, proxy 502/504, timeout) or the order was still open. The
exchanges are asked what became of it (Kalshi by client_order_id and its fills; Polymarket by order
hash and its trades) and the answer is booked. "No such order" is final only after
`RecoveryPolicy.not_found_window` since the send and `not_found_reads` reads that agree: before that
the request may still be in flight (an exchange executes what it received even when the client gave
up) or the exchange's reads may lag its writes, so the intent stays open and is alerted on.

Booked fills the exchange may still change (an order's own figures, Polymarket trades not yet
CONFIRMED, trades that FAILED) are rebooked from the exchange's records. An arb whose fills changed,
or whose exposure was never acted on, gets its exposure recomputed and the policy applied
(`trader.arb.settle_arb`). Last, the ledger's positions are compared with the exchanges' and every
difference is reported, never silently corrected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import cast

from clients.errors import OrderNotFound, TradingError
from trader.arb import ArbSettlement, Policy, settle_arb
from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.ledger import Intent, Ledger
from trader.legs import Leg
from trader.lookup import Resolution, booking_from_records, failed, records, resolve

__all__ = [
    "PositionDifference",
    "RecoveryPolicy",
    "RecoveryReport",
    "Resolved",
    "Unresolved",
    "compare",
    "kalshi_positions",
    "poly_positions",
    "recover",
    "resolve",
]

log = logging.getLogger("trader")


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """When "not found" may be believed: `not_found_window` seconds after the intent was written (just
    before the send) and `not_found_reads` consecutive reads `recheck_delay` seconds apart. The window
    must exceed the longest an exchange may take to execute a received order or to show it in reads."""

    not_found_window: float = 60.0
    not_found_reads: int = 2
    recheck_delay: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.not_found_window < 0 or self.recheck_delay < 0 or self.not_found_reads < 1:
            raise ValueError("RecoveryPolicy: window and delay must be >= 0 and not_found_reads >= 1")


@dataclass(frozen=True, slots=True)
class Resolved:
    key: str
    leg: Leg
    state: str
    filled: Decimal
    note: str


@dataclass(frozen=True, slots=True)
class Unresolved:
    key: str
    leg: Leg
    reason: str


@dataclass(frozen=True, slots=True)
class PositionDifference:
    exchange: str
    instrument: str
    ledger: Decimal
    exchange_position: Decimal

    @property
    def delta(self) -> Decimal:
        """Exchange minus ledger: what the ledger is missing."""
        return self.exchange_position - self.ledger


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """`resolved`: intents settled now; `rebooked`: booked intents whose fills now come from the exchange's
    records; `arbs`: arbs whose exposure was recomputed or acted on; `alerts`: what needs a person."""

    resolved: tuple[Resolved, ...]
    unresolved: tuple[Unresolved, ...]
    differences: tuple[PositionDifference, ...]
    compared: tuple[str, ...]
    notes: tuple[str, ...]
    rebooked: tuple[Resolved, ...] = ()
    arbs: tuple[ArbSettlement, ...] = ()
    alerts: tuple[str, ...] = field(default=())

    @property
    def clean(self) -> bool:
        """Every intent settled, both exchanges compared, no position difference."""
        return not self.unresolved and not self.differences and set(self.compared) == {"kalshi", "poly"}


async def recover(
    ledger: Ledger,
    kalshi: KalshiTrading,
    poly: PolyTrading,
    *,
    policy: Policy | None = None,
    settle: RecoveryPolicy = RecoveryPolicy(),
) -> RecoveryReport:
    """Settle the ledger's open intents, rebook fills from the exchanges' records, settle the arbs that
    touched (`policy` None holds and alerts; an `unwind` Policy closes the exposure), compare positions."""
    clients: dict[str, Client] = {"kalshi": kalshi, "poly": poly}
    resolved: list[Resolved] = []
    unresolved: list[Unresolved] = []
    alerts: list[str] = []
    touched: dict[str, list[str]] = {}
    for intent in ledger.intents(open_only=True):
        resolution, alert = await _patient(clients[intent.leg.exchange], intent, ledger, settle)
        if resolution.booking is None:
            unresolved.append(Unresolved(intent.key, intent.leg, resolution.note))
            alerts.extend([alert] if alert else [])
            continue
        ledger.book(intent.key, resolution.booking)
        booking = resolution.booking
        resolved.append(Resolved(intent.key, intent.leg, booking.state, booking.filled, resolution.note))
        if intent.arb_id:
            touched.setdefault(intent.arb_id, []).append(intent.key)
    notes: list[str] = []
    rebooked = await _rebook(ledger, clients, touched, notes)
    arbs = await _settle_arbs(ledger, clients, touched, policy)
    alerts += [alert for settlement in arbs for alert in settlement.alerts]
    differences, compared = await _compare_positions(ledger, kalshi, poly, notes)
    for alert in alerts:
        log.warning("recovery: %s", alert)
    return RecoveryReport(
        tuple(resolved),
        tuple(unresolved),
        tuple(differences),
        tuple(compared),
        tuple(notes),
        tuple(rebooked),
        tuple(a for a in arbs if a.exposure or a.unwinds or a.arb_id in touched),
        tuple(alerts),
    )


async def _patient(
    client: Client, intent: Intent, ledger: Ledger, settle: RecoveryPolicy
) -> tuple[Resolution, str | None]:
    """resolve(), believing "not found" only after the window and `not_found_reads` agreeing reads."""
    resolution = await resolve(client, intent.leg, intent.key)
    if resolution.found or resolution.booking is None:
        return resolution, None
    age = (ledger.now() - datetime.fromisoformat(intent.created_at)).total_seconds()
    if age < settle.not_found_window:
        reason = (
            f"not found {age:g} s after it was sent: it may still be in flight or the exchange's reads may lag; "
            f"open until {settle.not_found_window:g} s have passed and {settle.not_found_reads} reads agree"
        )
        return Resolution(None, reason), f"{intent.leg.describe()} (key {intent.key}): {reason}"
    for _ in range(settle.not_found_reads - 1):
        await settle.sleep(settle.recheck_delay)
        again = await resolve(client, intent.leg, intent.key)
        if again.found or again.booking is None:
            return again, None
    return resolution, None


async def _rebook(
    ledger: Ledger, clients: dict[str, Client], touched: dict[str, list[str]], notes: list[str]
) -> list[Resolved]:
    """Replace fills the exchange may still change with its records, where they add up."""
    rebooked = []
    for intent in ledger.unreconciled():
        client = clients[intent.leg.exchange]
        try:
            matched = await _matched(client, intent)
            found = await records(client, intent.leg, intent.key, intent.order_id)
        except (TradingError, OrderNotFound) as exc:
            notes.append(f"fills of {intent.key} not rebooked: {type(exc).__name__}: {exc}")
            continue
        if matched is None or found.matched != matched:
            notes.append(f"fills of {intent.key}: the exchange's records add up to {found.matched} of {matched}")
            continue
        booking = booking_from_records(intent.leg, intent.order_id, found)
        ledger.rebook(intent.key, booking)
        note = f"{len(found.fills)} fill record(s) booked, {booking.filled} of {intent.filled} counting"
        rebooked.append(Resolved(intent.key, intent.leg, booking.state, booking.filled, note))
        if intent.arb_id and booking.filled != intent.filled:
            touched.setdefault(intent.arb_id, []).append(intent.key)
    return rebooked


async def _matched(client: Client, intent: Intent) -> Decimal | None:
    """What the exchange matched for the intent's order in all (Polymarket: read from the order, since
    trades that FAILED leave the order's matched size as it was)."""
    if intent.leg.exchange == "kalshi":
        return intent.filled
    order = await cast(PolyTrading, client).get_order(intent.order_id or intent.key)  # as `records` does
    return order.filled


async def _settle_arbs(
    ledger: Ledger, clients: dict[str, Client], touched: dict[str, list[str]], policy: Policy | None
) -> list[ArbSettlement]:
    """Arbs whose fills changed now, and arbs with open exposure rows, once none of their intents is open.

    The policy acts (one unwind attempt) on an arb recovery touched or whose `unwind` exposure was never
    acted on (the process stopped before unwinding), and only if the arb has no unwind order yet."""
    open_rows = {r.arb_id: r for r in ledger.exposure_records(open_only=True)}
    settlements = []
    for arb_id in dict.fromkeys([*touched, *open_rows]):
        intents = ledger.arb_intents(arb_id)
        if any(i.state in ("pending", "unknown") for i in intents):
            continue
        never_unwound = not any(i.purpose == "unwind" for i in intents)
        act = never_unwound and (arb_id in touched or open_rows[arb_id].policy == "unwind")
        cause = f"recovery: settled {', '.join(touched[arb_id])}" if arb_id in touched else "recovery"
        settlements.append(await settle_arb(ledger, clients, arb_id, policy, cause, act=act))
    return settlements


async def _compare_positions(
    ledger: Ledger, kalshi: KalshiTrading, poly: PolyTrading, notes: list[str]
) -> tuple[list[PositionDifference], list[str]]:
    differences: list[PositionDifference] = []
    compared: list[str] = []
    positions = ledger.positions()
    for exchange, fetch in (
        ("kalshi", lambda: kalshi_positions(kalshi)),
        ("poly", lambda: poly_positions(poly, ledger.instruments("poly"))),
    ):
        try:
            actual, fetch_notes = await fetch()
        except TradingError as exc:
            notes.append(f"{exchange} positions not compared: {type(exc).__name__}: {exc}")
            continue
        compared.append(exchange)
        notes.extend(fetch_notes)
        ours = {inst: qty for (exch, inst), qty in positions.items() if exch == exchange}
        differences.extend(compare(exchange, ours, actual))
    for difference in differences:
        log.warning(
            "position difference on %s %s: ledger %s, exchange %s",
            difference.exchange,
            difference.instrument,
            difference.ledger,
            difference.exchange_position,
        )
    return differences, compared


async def kalshi_positions(kalshi: KalshiTrading) -> tuple[dict[str, Decimal], list[str]]:
    """Kalshi's signed position per ticker (+ YES, - NO), from its positions endpoint (unsettled only)."""
    return {p.ticker: p.position for p in await kalshi.get_positions()}, []


async def poly_positions(poly: PolyTrading, tokens: Iterable[str]) -> tuple[dict[str, Decimal], list[str]]:
    """Shares held per token, derived from the account's trades (the CLOB has no positions endpoint).

    Rows where this account was the taker carry its side and size. A MAKER row describes the
    counterparty's order, and which of its maker orders are this account's is not attributed here
    (the trader only sends FAK orders, always takers): such rows are returned as notes instead.
    """
    held: dict[str, Decimal] = {}
    notes: list[str] = []
    for token in tokens:
        total = Decimal(0)
        for trade in await poly.get_trades(asset_id=token):
            if trade.asset_id != token or failed(trade):
                continue
            if str(trade.trader_side or "TAKER").upper() == "MAKER":
                notes.append(f"poly trade {trade.id} on {token}: this account was maker, not counted")
                continue
            total += trade.size if str(trade.side).upper() == "BUY" else -trade.size
        held[token] = total
    return held, notes


def compare(exchange: str, ledger: dict[str, Decimal], actual: dict[str, Decimal]) -> list[PositionDifference]:
    """Every instrument where the ledger and the exchange disagree (a missing side counts as 0)."""
    return [
        PositionDifference(exchange, inst, ledger.get(inst, Decimal(0)), actual.get(inst, Decimal(0)))
        for inst in sorted(set(ledger) | set(actual))
        if ledger.get(inst, Decimal(0)) != actual.get(inst, Decimal(0))
    ]
