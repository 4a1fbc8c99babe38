"""Restart recovery: settle every intent whose outcome the ledger does not know, then reconcile positions.

An intent is open when the process died between writing it and booking the answer, or when the
answer was lost (transport error, proxy 502/504, timeout) or the order was still open. The
exchanges are asked what became of it (Kalshi by client_order_id and its fills; Polymarket by order
hash and its trades) and the answer is booked. Then the ledger's positions are compared with the
exchanges' and every difference is reported, never silently corrected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from clients.errors import OrderNotFound, TradingError
from clients.types import OrderResult
from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.execute import fill_status, is_open, order_booking
from trader.ledger import Booking, Fill, Intent, Ledger
from trader.legs import Leg

log = logging.getLogger("trader")

FAILED_TRADE_STATUSES = frozenset({"failed", "trade_status_failed"})


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the exchange said about one intent: a booking, or None with the reason it is still open.

    `found` is False when the exchange knows no such order: final after a restart, but not right after
    a lost answer, when the request may still be in flight or the exchange's reads may lag its writes.
    """

    booking: Booking | None
    note: str
    found: bool = True


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
    resolved: tuple[Resolved, ...]
    unresolved: tuple[Unresolved, ...]
    differences: tuple[PositionDifference, ...]
    compared: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def clean(self) -> bool:
        """Every intent settled, both exchanges compared, no position difference."""
        return not self.unresolved and not self.differences and set(self.compared) == {"kalshi", "poly"}


async def resolve(client: Client, leg: Leg, key: str) -> Resolution:
    """Ask the exchange what became of the order with intent key `key` (never raises a TradingError)."""
    try:
        if leg.exchange == "kalshi":
            return await _resolve_kalshi(cast(KalshiTrading, client), leg, key)
        return await _resolve_poly(cast(PolyTrading, client), leg, key)
    except TradingError as exc:
        return Resolution(None, f"lookup failed: {type(exc).__name__}: {exc}")


async def _resolve_kalshi(kalshi: KalshiTrading, leg: Leg, key: str) -> Resolution:
    order = await kalshi.find_order_by_client_order_id(key, ticker=leg.instrument)
    if order is None:
        return Resolution(
            Booking("none", error="recovered: no order with this client_order_id"),
            "not found at Kalshi: the order never reached the exchange",
            found=False,
        )
    if is_open(order):
        return Resolution(None, f"order {order.order_id} is still {order.status}")
    fills = [_kalshi_fill(leg, f) for f in await kalshi.get_fills(order_id=order.order_id)]
    return _with_exchange_fills(leg, order, fills)


async def _resolve_poly(poly: PolyTrading, leg: Leg, key: str) -> Resolution:
    try:
        order: OrderResult | None = await poly.get_order(key)
    except OrderNotFound:
        order = None
    if order is not None and is_open(order):
        return Resolution(None, f"order {order.order_id} is still {order.status}")
    trades = [
        _poly_fill(t)
        for t in await poly.get_trades(asset_id=leg.instrument)
        if t.taker_order_id == key and not _failed(t)
    ]
    if order is not None:
        return _with_exchange_fills(leg, order, trades)
    if not trades:
        return Resolution(
            Booking("none", error="recovered: no order with this hash and no trade"),
            "not found at Polymarket and no trade: nothing matched",
            found=False,
        )
    filled = sum((f.quantity for f in trades), Decimal(0))
    booking = Booking(fill_status(filled, leg.count), key, filled, _average(trades), None, fills=tuple(trades))
    return Resolution(booking, "order not found, booked from its trades")


def _with_exchange_fills(leg: Leg, order: OrderResult, fills: Sequence[Fill]) -> Resolution:
    """Book the exchange's fill records when they add up to the order's filled quantity, else the order's figures."""
    base = order_booking(leg, order)
    if sum((f.quantity for f in fills), Decimal(0)) == order.filled:
        return Resolution(
            Booking(
                base.state, base.order_id, base.filled, _average(fills) or base.avg_price, base.fees, fills=tuple(fills)
            ),
            f"order {order.order_id} {order.status}, fills booked",
        )
    note = (
        f"order {order.order_id} reports {order.filled} filled but its fill records add up to "
        f"{sum((f.quantity for f in fills), Decimal(0))}: booked the order's figures"
    )
    log.warning(note)
    return Resolution(base, note)


def _kalshi_fill(leg: Leg, fill: Any) -> Fill:
    """A Kalshi fill as a ledger fill of `leg`; a price quoted on the other outcome is turned around."""
    price = fill.price if fill.outcome == leg.outcome else 1 - fill.price
    return Fill(fill.count, price, fill.fee, "exchange", fill.fill_id)


def _poly_fill(trade: Any) -> Fill:
    return Fill(trade.size, trade.price, getattr(trade, "fee", None), "exchange", trade.id)


def _failed(trade: Any) -> bool:
    return str(trade.status).lower() in FAILED_TRADE_STATUSES


def _average(fills: Sequence[Fill]) -> Decimal | None:
    total, paid = Decimal(0), Decimal(0)
    for f in fills:
        if f.price is None:
            return None
        total, paid = total + f.quantity, paid + f.quantity * f.price
    return paid / total if total else None


async def recover(ledger: Ledger, kalshi: KalshiTrading, poly: PolyTrading) -> RecoveryReport:
    """Settle the ledger's open intents with the exchanges, then compare positions; see the module doc."""
    resolved: list[Resolved] = []
    unresolved: list[Unresolved] = []
    for intent in ledger.intents(open_only=True):
        client: Client = kalshi if intent.leg.exchange == "kalshi" else poly
        resolution = await resolve(client, intent.leg, intent.key)
        _record(ledger, intent, resolution, resolved, unresolved)
    differences: list[PositionDifference] = []
    compared: list[str] = []
    notes: list[str] = []
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
    return RecoveryReport(tuple(resolved), tuple(unresolved), tuple(differences), tuple(compared), tuple(notes))


def _record(
    ledger: Ledger, intent: Intent, resolution: Resolution, resolved: list[Resolved], unresolved: list[Unresolved]
) -> None:
    if resolution.booking is None:
        unresolved.append(Unresolved(intent.key, intent.leg, resolution.note))
        return
    ledger.book(intent.key, resolution.booking)
    resolved.append(
        Resolved(intent.key, intent.leg, resolution.booking.state, resolution.booking.filled, resolution.note)
    )


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
            if trade.asset_id != token or _failed(trade):
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
