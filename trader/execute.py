"""Execute one leg: a single immediate limit order (Kalshi IOC, Polymarket FAK), booked in the ledger.

The intent is written before the order is sent, keyed by an id known before sending (a UUID4
client_order_id on Kalshi, the locally computed EIP-712 order hash on Polymarket), so that an answer
lost in transit can be looked up later. The result reports only fills the exchange reported: an
answer that never arrived, or an order the exchange still holds open, is `unknown`, not `none`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, cast

from clients.errors import (
    DuplicateOrder,
    ExchangeUnavailable,
    OrderNotFilled,
    ProxyUpstreamError,
    TradingError,
    TransportError,
    UnexpectedResponse,
)
from clients.types import OrderResult
from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.ledger import Booking, Fill, Ledger
from trader.legs import Leg

log = logging.getLogger("trader")

LegStatus = Literal["filled", "partial", "none", "rejected", "unknown"]

# Exchange statuses of an order that is still open: its fills are not final yet.
OPEN_ORDER_STATUSES = frozenset({"resting", "live", "delayed"})
# Server errors after which the order may nevertheless have been placed.
AMBIGUOUS_HTTP = frozenset({500, 502, 504})


@dataclass(frozen=True, slots=True)
class LegResult:
    """What one leg achieved. `error` is the exception that ended the attempt, if any."""

    leg: Leg
    key: str | None
    status: LegStatus
    filled: Decimal
    avg_price: Decimal | None
    fees: Decimal | None
    order_id: str | None
    error: BaseException | None = None

    @property
    def requested(self) -> Decimal:
        return self.leg.count


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
    """The ledger booking of a final order answer: one fill taken from the order's own figures."""
    fills = (Fill(result.filled, result.avg_price, result.fees, "order"),) if result.filled > 0 else ()
    return Booking(
        fill_status(result.filled, leg.count),
        result.order_id,
        result.filled,
        result.avg_price,
        result.fees,
        fills=fills,
    )


def is_ambiguous(error: BaseException) -> bool:
    """True when the order may have reached the exchange although no usable answer came back."""
    if isinstance(error, (TransportError, ProxyUpstreamError, TimeoutError, DuplicateOrder, UnexpectedResponse)):
        return True
    return isinstance(error, ExchangeUnavailable) and (error.status is None or error.status in AMBIGUOUS_HTTP)


def result_from_booking(leg: Leg, key: str | None, booking: Booking, error: BaseException | None = None) -> LegResult:
    """The LegResult of a final booking; a pending one has no result yet."""
    if booking.state == "pending":
        raise ValueError(f"intent {key}: a pending booking has no result yet")
    return LegResult(leg, key, booking.state, booking.filled, booking.avg_price, booking.fees, booking.order_id, error)


async def execute_leg(
    client: Client,
    leg: Leg,
    ledger: Ledger | None = None,
    *,
    timeout: float | None = None,  # noqa: ASYNC109  # bounds the send only; a caller's timeout would also cut the booking
    purpose: str = "entry",
    arb_id: str | None = None,
) -> LegResult:
    """Place `leg` as one immediate order on `client` and report what it did.

    `client` is a KalshiClient for a Kalshi leg, a PolymarketClient for a Polymarket leg. With a
    `ledger`, the intent is recorded before sending and its outcome booked after; an `unknown` leg
    stays open in the ledger for `recover()`.
    """
    try:
        key, send = _prepare(client, leg)
    except (ValueError, TypeError, TradingError) as exc:
        log.warning("not sent: %s: %s", leg.describe(), exc)
        return LegResult(leg, None, "rejected", Decimal(0), None, None, None, exc)
    if ledger is not None:
        ledger.record_intent(leg, key, purpose=purpose, arb_id=arb_id)
    try:
        async with asyncio.timeout(timeout):
            result = await send()
    except (TradingError, TimeoutError, ValueError) as exc:  # clients check their input (ValueError) before sending
        return _failed(leg, key, exc, ledger)
    if is_open(result):
        return _unknown(
            leg,
            key,
            f"order {result.order_id} is still {result.status}",
            ledger,
            order_id=result.order_id,
            seen=result.filled,
        )
    booking = order_booking(leg, result)
    if ledger is not None:
        ledger.book(key, booking)
    return result_from_booking(leg, key, booking)


def _prepare(client: Client, leg: Leg) -> tuple[str, Callable[[], Awaitable[OrderResult]]]:
    """The intent key and the call that sends the order; Polymarket's order is signed here."""
    if leg.exchange == "kalshi":
        kalshi, key = cast(KalshiTrading, client), str(uuid.uuid4())
        return key, lambda: kalshi.create_order(
            leg.instrument,
            leg.outcome or "",
            leg.action,
            leg.count,
            leg.price,
            time_in_force="immediate_or_cancel",
            client_order_id=key,
        )
    poly = cast(PolyTrading, client)
    signed = poly.build_order(
        leg.instrument,
        leg.action.upper(),
        leg.price,
        size=leg.count,
        order_type="FAK",
        tick_size=leg.tick,
        neg_risk=bool(leg.neg_risk),
    )
    return signed.order_id, lambda: poly.post_order(signed)


def _failed(leg: Leg, key: str, exc: BaseException, ledger: Ledger | None) -> LegResult:
    if is_ambiguous(exc):
        return _unknown(leg, key, f"{type(exc).__name__}: {exc}", ledger, error=exc)
    state: LegStatus = "none" if isinstance(exc, OrderNotFilled) else "rejected"
    booking = Booking(state, getattr(exc, "order_id", None), error=f"{type(exc).__name__}: {exc}")
    if ledger is not None:
        ledger.book(key, booking)
    if state == "rejected":
        log.warning("rejected: %s: %s", leg.describe(), exc)
    return result_from_booking(leg, key, booking, exc)


def _unknown(
    leg: Leg,
    key: str,
    reason: str,
    ledger: Ledger | None,
    *,
    order_id: str | None = None,
    seen: Decimal = Decimal(0),
    error: BaseException | None = None,
) -> LegResult:
    """`seen` is what the exchange reported filled so far: a lower bound, not booked until final.

    Logged at INFO: a caller that looks the order up (execute_arb) warns only if it stays unknown, so the
    log never calls a leg unknown that the report then shows filled."""
    log.info("outcome unknown, left open for recovery: %s (key %s): %s", leg.describe(), key, reason)
    if ledger is not None:
        ledger.mark_unknown(key, reason, order_id=order_id)
    return LegResult(leg, key, "unknown", seen, None, None, order_id, error)
