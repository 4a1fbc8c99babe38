"""What the exchange feeds report, typed and Decimal, the same shapes for Kalshi and Polymarket.

A feed puts these on its `events` queue in the order it learns them. User fills come once per fill id; a later
settlement status comes as `FillStatus`, and a Polymarket trade that FAILED as `FillReversed`, after which the fill
is no longer in the feed's `fills`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Connected:
    exchange: str
    channel: str
    attempt: int  # connect attempts since the last connection was made, this one included


@dataclass(frozen=True, slots=True)
class Disconnected:
    exchange: str
    channel: str
    reason: str


@dataclass(frozen=True, slots=True)
class BookUpdated:
    exchange: str
    market: str


@dataclass(frozen=True, slots=True)
class BookInvalid:
    """The feed knows its book of `market` is wrong (a gap, an impossible change) and is fetching a new one."""

    exchange: str
    market: str
    reason: str


@dataclass(frozen=True, slots=True)
class BookStale:
    """The feed has heard nothing for `stale_after` seconds; the book is still readable, marked stale."""

    exchange: str
    market: str


@dataclass(frozen=True, slots=True)
class TradePrint:
    """A public trade (Kalshi `trade`, Polymarket `last_trade_price`); `side` is the taker's."""

    exchange: str
    market: str
    price: Decimal
    size: Decimal
    side: str
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and last price as the exchange summarises them (Kalshi `ticker`, Polymarket `best_bid_ask`)."""

    exchange: str
    market: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    last_price: Decimal | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """Polymarket `market_resolved` (custom features): the market is over; `market` is the condition id."""

    exchange: str
    market: str
    winning_asset: str
    winning_outcome: str
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class TickSizeChanged:
    exchange: str
    market: str
    old: Decimal
    new: Decimal


@dataclass(frozen=True, slots=True)
class UserFill:
    """One of the user's fills. `outcome` is what was traded (Kalshi yes/no; Polymarket the token's outcome) and
    `price` that outcome's price; `side` BUY or SELL of it. `status`: Polymarket's settlement status (MATCHED,
    MINED, CONFIRMED, RETRYING), None on Kalshi where a fill is final."""

    exchange: str
    fill_id: str
    order_id: str
    market: str
    side: str
    outcome: str
    price: Decimal
    size: Decimal
    fee: Decimal | None
    is_taker: bool | None
    status: str | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class FillStatus:
    """A later settlement status of a fill already reported (Polymarket MINED, CONFIRMED, RETRYING)."""

    exchange: str
    fill_id: str
    status: str
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class FillReversed:
    """A fill that did not happen after all (Polymarket trade FAILED): undo what `fill` did."""

    exchange: str
    fill: UserFill
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class UserOrder:
    """An update of one of the user's orders. `status` is the exchange's word; `kind` Polymarket's PLACEMENT,
    UPDATE or CANCELLATION (None on Kalshi); `price` of the outcome traded."""

    exchange: str
    order_id: str
    market: str
    status: str
    side: str
    price: Decimal
    filled: Decimal
    remaining: Decimal | None
    kind: str | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """Kalshi `market_position`: the signed position (+YES, -NO) after a change."""

    exchange: str
    market: str
    position: Decimal
    realized_pnl: Decimal | None
    fees_paid: Decimal | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class FeedError:
    """A frame the feed could not use (malformed, unknown, refused command); it was logged with the raw frame."""

    exchange: str
    channel: str
    problem: str
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class FeedFailed:
    """The feed stopped for good (credentials refused, a tradetape proxy answer); `error` says why."""

    exchange: str
    error: BaseException


FeedEvent = (
    Connected
    | Disconnected
    | BookUpdated
    | BookInvalid
    | BookStale
    | TradePrint
    | Quote
    | MarketResolved
    | TickSizeChanged
    | UserFill
    | FillStatus
    | FillReversed
    | UserOrder
    | PositionUpdate
    | FeedError
    | FeedFailed
)
