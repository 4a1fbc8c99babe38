"""Results shared by both exchange clients, so the trader never needs to know which exchange it talks to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Exchange = Literal["kalshi", "poly"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer as received, before it is read (by aiohttp or by the order lane, `clients.lane`)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


# An order made ready to send (body, signatures, request bytes): calling it sends the order now, on the client's
# order lane when one of its connections is idle (the bytes are written before the call returns), else by the
# normal path; awaiting what it returns gives the order's result, as create_order / post_order would.
OrderStart = Callable[[], Awaitable["OrderResult"]]


@dataclass(frozen=True, slots=True)
class OrderResult:
    """One order as the exchange reported it, in Decimal units of the outcome traded.

    `status` is the exchange's own word (Kalshi executed/resting/canceled, Polymarket
    matched/live/delayed/unmatched); `avg_price` is per contract or share of the outcome
    traded (for a Kalshi NO, 1 - the YES-leg price); `cost` is dollars paid or received.
    `limit_price` is the order's limit in the same terms (as `Leg.price`), so a resting or
    partly filled order says what it still bids; None when the answer does not tell.
    """

    exchange: Exchange
    order_id: str
    client_order_id: str | None
    status: str
    filled: Decimal
    remaining: Decimal | None
    avg_price: Decimal | None
    cost: Decimal
    fees: Decimal | None
    limit_price: Decimal | None = None
    raw: Any = field(repr=False, compare=False, default=None)
