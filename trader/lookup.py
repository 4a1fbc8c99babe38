"""Asking an exchange what became of one order, and reading its fill records into ledger fills.

Kalshi orders are found by client_order_id and their fills by order id; Polymarket orders by order
hash and their fills in the account's trades (`taker_order_id`). Fill records are booked only when
they add up to what the order reports filled: a read that lags the write, or trades not shown yet,
must never shrink a position. Polymarket trades that FAILED count towards that total (the order
matched them) but not as fills: the exchange reverses them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

from clients.errors import OrderNotFound, TradingError
from clients.types import OrderResult
from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.ledger import Booking, Fill
from trader.legs import Leg

log = logging.getLogger("trader")

FAILED_TRADE_STATUSES = frozenset({"failed", "trade_status_failed"})
FINAL_TRADE_STATUSES = frozenset({"confirmed", "trade_status_confirmed"})
ZERO = Decimal(0)
# Exchange statuses of an order that is still open: its fills are not final yet.
OPEN_ORDER_STATUSES = frozenset({"resting", "live", "delayed"})

LegStatus = Literal["filled", "partial", "none", "rejected", "unknown"]


def fill_status(filled: Decimal, requested: Decimal) -> LegStatus:
    """filled, partial or none, from the quantity the exchange reported."""
    if filled <= 0:
        return "none"
    return "filled" if filled >= requested else "partial"


def is_open(result: OrderResult) -> bool:
    """True when the exchange's answer leaves the fills undecided.

    An order still resting/live/delayed can fill later; a Polymarket `matched` answer with zero
    amounts has been seen in the wild and means the fill is not reported yet.
    """
    status = result.status.lower().removeprefix("order_status_")
    return status in OPEN_ORDER_STATUSES or (status == "matched" and result.filled <= 0)


def order_booking(leg: Leg, result: OrderResult) -> Booking:
    """The booking of a final order answer from the order's own figures (one fill, not final: the
    exchange's fill records replace it once they can be read)."""
    fills = (Fill(result.filled, result.avg_price, result.fees, "order"),) if result.filled > 0 else ()
    return Booking(
        fill_status(result.filled, leg.count),
        result.order_id,
        result.filled,
        result.avg_price,
        result.fees,
        fills=fills,
    )


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the exchange said about one intent: a booking, or None with the reason it is still open.

    `found` is False when the exchange knows no such order: after a restart that may mean it was
    never sent, but right after a lost answer the request may still be in flight or the exchange's
    reads may lag its writes (recovery's not-found rule decides).
    """

    booking: Booking | None
    note: str
    found: bool = True


@dataclass(frozen=True, slots=True)
class Records:
    """An order's fill records: those that count, and the quantity the exchange matched in all
    (Polymarket trades that FAILED are in `matched` but not in `fills`)."""

    fills: tuple[Fill, ...]
    matched: Decimal


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
    return _with_records(leg, order, await _kalshi_records(kalshi, leg, order.order_id))


async def _resolve_poly(poly: PolyTrading, leg: Leg, key: str) -> Resolution:
    try:
        order: OrderResult | None = await poly.get_order(key)
    except OrderNotFound:
        order = None
    if order is not None and is_open(order):
        return Resolution(None, f"order {order.order_id} is still {order.status}")
    records = await _poly_records(poly, leg, key)
    if order is not None:
        return _with_records(leg, order, records)
    if not records.matched:
        return Resolution(
            Booking("none", error="recovered: no order with this hash and no trade"),
            "not found at Polymarket and no trade: nothing matched",
            found=False,
        )
    return Resolution(booking_from_records(leg, key, records), "order not found, booked from its trades")


def _with_records(leg: Leg, order: OrderResult, records: Records) -> Resolution:
    """Book the exchange's fill records when they add up to the order's filled quantity, else the order's figures."""
    if records.matched == order.filled:
        return Resolution(
            booking_from_records(leg, order.order_id, records), f"order {order.order_id} {order.status}, fills booked"
        )
    note = (
        f"order {order.order_id} reports {order.filled} filled but its fill records add up to "
        f"{records.matched}: booked the order's figures"
    )
    log.warning(note)
    return Resolution(order_booking(leg, order), note)


async def records(client: Client, leg: Leg, key: str, order_id: str | None) -> Records:
    """The fill records of the order with intent key `key` (Kalshi needs its exchange `order_id`). On Polymarket
    the order id the exchange answered is used when there is one: it is what its trades name, whether or not it
    equals the hash computed here (and in a replay it is the recorded one)."""
    if leg.exchange == "kalshi":
        if order_id is None:
            return Records((), ZERO)
        return await _kalshi_records(cast(KalshiTrading, client), leg, order_id)
    return await _poly_records(cast(PolyTrading, client), leg, order_id or key)


async def _kalshi_records(kalshi: KalshiTrading, leg: Leg, order_id: str) -> Records:
    fills = tuple(_kalshi_fill(leg, f) for f in await kalshi.get_fills(order_id=order_id))
    return Records(fills, _total(fills))


async def _poly_records(poly: PolyTrading, leg: Leg, key: str) -> Records:
    trades = [t for t in await poly.get_trades(asset_id=leg.instrument) if t.taker_order_id == key]
    fills = tuple(_poly_fill(t) for t in trades if not failed(t))
    return Records(fills, sum((t.size for t in trades), ZERO))


def booking_from_records(leg: Leg, order_id: str | None, records: Records) -> Booking:
    """A booking of exactly the records that count: quantity, average price and fees from the fills."""
    filled = _total(records.fills)
    fees: Decimal | None = ZERO
    for f in records.fills:
        fees = None if fees is None or f.fee is None else fees + f.fee
    return Booking(fill_status(filled, leg.count), order_id, filled, average(records.fills), fees, fills=records.fills)


def _kalshi_fill(leg: Leg, fill: Any) -> Fill:
    """A Kalshi fill as a ledger fill of `leg`; a price quoted on the other outcome is turned around."""
    price = fill.price if fill.outcome == leg.outcome else 1 - fill.price
    return Fill(fill.count, price, fill.fee, "exchange", fill.fill_id, final=True)


def _poly_fill(trade: Any) -> Fill:
    final = str(trade.status).lower() in FINAL_TRADE_STATUSES
    return Fill(trade.size, trade.price, trade.fee, "exchange", trade.id, final=final)


def failed(trade: Any) -> bool:
    return str(trade.status).lower() in FAILED_TRADE_STATUSES


def _total(fills: Sequence[Fill]) -> Decimal:
    return sum((f.quantity for f in fills), ZERO)


def average(fills: Sequence[Fill]) -> Decimal | None:
    """Quantity-weighted average price, exact; None without fills or with a fill of unknown price."""
    total, paid = ZERO, ZERO
    for f in fills:
        if f.price is None:
            return None
        total, paid = total + f.quantity, paid + f.quantity * f.price
    return paid / total if total else None
