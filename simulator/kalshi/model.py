"""The Kalshi paper exchange's records: markets, orders, fills, accounts and positions.

Prices are YES-leg dollars and counts contracts, all Decimal. A `bid` buys YES; an `ask` sells YES,
which for a trader without YES is buying NO at 1 - price (positions are signed: + YES, - NO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal("0")
ONE = Decimal("1")
CENT = Decimal("0.01")
CENTICENT = Decimal("0.0001")

# Market.status words (GET /markets?status= uses the filter words on the right).
TRADABLE = "active"
PAUSED = "inactive"
STATUS_FILTER = {
    "initialized": "unopened",
    "active": "open",
    "inactive": "paused",
    "closed": "closed",
    "determined": "settled",
    "disputed": "settled",
    "amended": "settled",
    "finalized": "settled",
}


@dataclass
class Market:
    ticker: str
    event_ticker: str
    title: str
    yes_sub_title: str
    no_sub_title: str
    status: str
    price_ranges: list[tuple[Decimal, Decimal, Decimal]]
    created_time: float
    open_time: float
    close_time: float
    rules_primary: str = ""
    rules_secondary: str = ""
    result: str = ""
    last_price: Decimal = ZERO
    settlement_value: Decimal | None = None
    settlement_ts: float | None = None
    updated_time: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # descriptive fields served as given (custom_strike...)

    def on_grid(self, price: Decimal) -> bool:
        """Whether a YES price lies on the market's tick grid, strictly between 0 and 1."""
        if not ZERO < price < ONE:
            return False
        return any(start <= price <= end and (price - start) % step == 0 for start, end, step in self.price_ranges)


@dataclass
class Order:
    order_id: str
    account: str
    client_order_id: str
    ticker: str
    book_side: str  # "bid" (buy YES) or "ask" (sell YES = buy NO)
    price: Decimal  # YES-leg limit
    initial_count: Decimal
    time_in_force: str
    self_trade_prevention_type: str
    created_time: float
    seq: int
    post_only: bool = False
    expiration_time: int | None = None
    remaining: Decimal = ZERO
    fill_count: Decimal = ZERO
    status: str = "resting"
    last_update_time: float = 0.0
    taker_fill_cost: Decimal = ZERO
    maker_fill_cost: Decimal = ZERO
    taker_fees: Decimal = ZERO
    maker_fees: Decimal = ZERO
    fee_accumulator: Decimal = ZERO  # balance rounding paid on this order's fills and not yet rebated

    @property
    def leg_price(self) -> Decimal:
        """Dollars per contract this order pays: the YES price for a bid, the NO price for an ask."""
        return self.price if self.book_side == "bid" else ONE - self.price


@dataclass
class Fill:
    fill_id: str
    order_id: str
    account: str
    ticker: str
    book_side: str
    count: Decimal
    yes_price: Decimal
    is_taker: bool
    fee: Decimal  # the trade fee, as fee_cost reports it
    created_time: float
    rounding: Decimal = ZERO  # rounding fee less rebate: what the balance paid beyond revenue - fee


@dataclass
class Position:
    position: Decimal = ZERO  # + YES contracts, - NO contracts
    exposure: Decimal = ZERO  # dollars paid for the contracts held
    total_traded: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    last_updated: float = 0.0
    settled: bool = False


@dataclass
class Account:
    name: str
    user_id: str
    cash: Decimal
    unlimited: bool = False  # the built-in market maker: never refused for balance
    direct_member: bool = False  # balance kept to $0.0001 instead of a non-direct member's $0.01
    positions: dict[str, Position] = field(default_factory=dict)
    client_order_ids: set[str] = field(default_factory=set)
    updated_ts: float = 0.0

    @property
    def balance_precision(self) -> Decimal:
        """What Kalshi rounds this account's balance to after every fill (docs/wire/kalshi.md, fee rounding)."""
        return CENTICENT if self.direct_member else CENT


@dataclass
class OrderRequest:
    """A validated V2 create (or batch item): what the trader asked for, before the market is consulted."""

    ticker: str
    book_side: str
    price: Decimal
    count: Decimal
    time_in_force: str
    self_trade_prevention_type: str
    client_order_id: str = ""
    post_only: bool = False
    reduce_only: bool = False
    expiration_time: int | None = None
