"""Execute one leg: a single immediate limit order (Kalshi IOC, Polymarket FAK), booked in the ledger.

The intent is written before the order is sent, keyed by an id known before sending (a UUID4
client_order_id on Kalshi, the locally computed EIP-712 order hash on Polymarket), so that an answer
lost in transit can be looked up later. The result reports only fills the exchange reported: an
answer that never arrived, or an order the exchange still holds open, is `unknown`, not `none`.
A filled order is booked from the exchange's fill records (exact prices and fees), read once right
after the answer; when they cannot be read yet, from the answer's figures until `recover()` can.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from clients.errors import (
    DuplicateOrder,
    ExchangeUnavailable,
    OrderNotFilled,
    ProxyUpstreamError,
    TradingError,
    TransportError,
    UnexpectedResponse,
)
from clients.types import OrderResult, OrderStart
from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.ledger import Booking, Ledger
from trader.legs import Leg
from trader.lookup import LegStatus, booking_from_records, is_open, order_booking, records

log = logging.getLogger("trader")

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


@dataclass(frozen=True, slots=True)
class Prepared:
    """A leg ready to send: its intent key (known before sending) and the call that sends it (`start`: the order
    signed and its request made, written at once on the client's order lane when it can be); nothing has left."""

    leg: Leg
    key: str
    start: OrderStart


@dataclass(frozen=True, slots=True)
class Sent:
    """A leg whose order `start_leg` sent: what finishes it (its answer, read)."""

    leg: Leg
    key: str
    answer: Awaitable[OrderResult]


def start_leg(prepared: Prepared) -> Sent:
    """Send the prepared order now (on the order lane its bytes are written before this returns). A start that
    raises gives an answer that raises it when awaited, so the leg ends as if its send had raised (send_leg)."""
    try:
        answer = prepared.start()
    except Exception as exc:
        answer = _raise(exc)
    return Sent(prepared.leg, prepared.key, answer)


async def _raise(exc: Exception) -> OrderResult:
    raise exc


def prepare_leg(client: Client, leg: Leg) -> Prepared | LegResult:
    """The leg's key and send, or its `rejected` result when the order cannot be built (nothing to record)."""
    try:
        key, send = _prepare(client, leg)
    except (ValueError, TypeError, TradingError) as exc:
        log.warning("not sent: %s: %s", leg.describe(), exc)
        return LegResult(leg, None, "rejected", Decimal(0), None, None, None, exc)
    return Prepared(leg, key, send)


async def execute_leg(
    client: Client,
    leg: Leg,
    ledger: Ledger | None = None,
    *,
    timeout: float | None = None,  # noqa: ASYNC109  # bounds the send and the record read, each; a caller's would cut the booking
    purpose: str = "entry",
    arb_id: str | None = None,
) -> LegResult:
    """Place `leg` as one immediate order on `client` and report what it did.

    `client` is a KalshiClient for a Kalshi leg, a PolymarketClient for a Polymarket leg. With a
    `ledger`, the intent is recorded before sending and its outcome booked after; an `unknown` leg
    stays open in the ledger for `recover()`.
    """
    prepared = prepare_leg(client, leg)
    if isinstance(prepared, LegResult):
        return prepared
    if ledger is not None:
        ledger.record_intent(leg, prepared.key, purpose=purpose, arb_id=arb_id)
    return await send_leg(client, start_leg(prepared), ledger, timeout=timeout)


async def send_leg(
    client: Client,
    sent: Sent,
    ledger: Ledger | None,
    *,
    timeout: float | None = None,  # noqa: ASYNC109  # as execute_leg's
) -> LegResult:
    """Finish a leg whose intent the ledger already holds and whose order `start_leg` sent: book what the exchange
    answered."""
    leg, key = sent.leg, sent.key
    try:
        async with asyncio.timeout(timeout):
            result = await sent.answer
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
    booking = await _booking(client, leg, key, result, timeout)
    if ledger is not None:
        ledger.book(key, booking)
    return result_from_booking(leg, key, booking)


async def _booking(client: Client, leg: Leg, key: str, result: OrderResult, limit: float | None) -> Booking:
    """The exchange's fill records when they add up to what the answer reports filled (exact prices and
    fees: a Kalshi answer has 4-decimal averages, a Polymarket one no fees); else the answer's own
    figures, which `recover()` later replaces with the records."""
    if result.filled <= 0:
        return order_booking(leg, result)
    try:
        async with asyncio.timeout(limit):
            found = await records(client, leg, key, result.order_id)
    except (TradingError, TimeoutError) as exc:
        log.info("fill records of %s not read (%s: %s); booked the answer's figures", key, type(exc).__name__, exc)
        return order_booking(leg, result)
    if found.matched != result.filled:
        log.info(
            "fill records of %s add up to %s of %s so far; booked the answer's figures",
            key,
            found.matched,
            result.filled,
        )
        return order_booking(leg, result)
    return booking_from_records(leg, result.order_id, found)


def _prepare(client: Client, leg: Leg) -> tuple[str, OrderStart]:
    """The intent key and the order's start; both orders are signed here (Kalshi's with its presigned signature
    while fresh)."""
    if leg.exchange == "kalshi":
        kalshi, key = cast(KalshiTrading, client), str(uuid.uuid4())
        start = kalshi.prepare_order(
            leg.instrument,
            leg.outcome or "",
            leg.action,
            leg.count,
            leg.price,
            time_in_force="immediate_or_cancel",
            client_order_id=key,
        )
        return key, start
    poly = cast(PolyTrading, client)
    quantity = {"amount": leg.amount} if leg.amount is not None else {"size": leg.count}
    signed = poly.build_order(
        leg.instrument,
        leg.action.upper(),
        leg.price,
        **quantity,
        order_type="FAK",
        tick_size=leg.tick,
        neg_risk=bool(leg.neg_risk),
    )
    return signed.order_id, poly.prepare_post(signed)


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
