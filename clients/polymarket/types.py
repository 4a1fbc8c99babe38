"""Typed Polymarket results: what the parsers build from CLOB bodies and what build_order signs."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clients.polymarket.signing import order_typed_data
from ctf_order import POLYGON

BPS = Decimal(10000)
FEE_QUANTUM = Decimal("0.00001")  # fees are rounded to 5 decimals


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """A signed order ready to POST; `order_id` is the local EIP-712 digest (the expected orderID)."""

    order_id: str
    signature: str = field(repr=False)
    body: dict[str, Any] = field(repr=False, compare=False)
    token_id: str
    side: str
    price: Decimal
    shares: Decimal
    maker_amount: Decimal
    taker_amount: Decimal
    order_type: str
    domain_version: int
    neg_risk: bool
    chain_id: int = POLYGON

    @property
    def typed_data(self) -> dict[str, Any]:
        """The order's full EIP-712 typed data (for eth_account and the SDKs), built when asked: signing does not
        need it."""
        return order_typed_data(self.body["order"], self.domain_version, self.neg_risk, self.chain_id)


@dataclass(frozen=True, slots=True)
class PolyTrade:
    """One row of `/data/trades` (a match can span several rows with the same taker_order_id).

    Trades carry no fee, only `fee_rate_bps`; `fee` applies the V2 rule to the row.
    """

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: str
    size: Decimal
    price: Decimal
    status: str
    match_time: str
    trader_side: str | None
    fee_rate_bps: Decimal | None
    transaction_hash: str | None
    raw: Any = field(repr=False, compare=False, default=None)

    @property
    def fee(self) -> Decimal | None:
        """pUSD this row cost this account in fees: V2 fees are taker-only, `size x rate x p x (1 - p)` with
        rate = fee_rate_bps / 10000, rounded to 5 decimals (docs/wire/polymarket.md §4.4); 0 as maker,
        None when the row has no rate."""
        if str(self.trader_side or "TAKER").upper() == "MAKER":
            return Decimal(0)
        if self.fee_rate_bps is None:
            return None
        rate = self.fee_rate_bps / BPS
        return (self.size * rate * self.price * (1 - self.price)).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class PolyBook:
    """`GET /book`, with bids and asks best first (the live server sends them worst first)."""

    market: str
    asset_id: str
    timestamp: str
    hash: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    tick_size: Decimal | None
    min_order_size: Decimal | None
    neg_risk: bool | None
    last_trade_price: Decimal | None
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class BalanceAllowance:
    """`GET /balance-allowance`: balance in human units, allowances (raw uint256) by spender."""

    balance: Decimal
    allowances: dict[str, int]
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class ApiCreds:
    """L2 credentials; the secret and passphrase never appear in a repr."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class FeeDetails:
    """`fd` of `GET /clob-markets/{condition_id}`: the taker fee rate `r`, the exponent `e` of p(1 - p) in the fee
    curve (fee = shares x r x (p(1 - p))^e; e = 1 is the V2 rule of docs/wire/polymarket.md 4.4) and `to`, whether
    only takers pay."""

    rate: Decimal
    exponent: Decimal
    taker_only: bool


@dataclass(frozen=True, slots=True)
class ClobMarket:
    """`GET /clob-markets/{condition_id}`, the exchange's own trading parameters of one market (compact keys).

    Flags the server leaves out when false (`nr`, `ao`, `fd.to`) read as False; `condition_id` is the one asked
    for (the server's `c`, when it sends one, must equal it)."""

    condition_id: str
    tokens: dict[str, str]  # token id -> outcome (`t`: [{t, o}])
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool
    fees: FeeDetails
    accepting_orders: bool
    raw: Any = field(repr=False, compare=False, default=None)
