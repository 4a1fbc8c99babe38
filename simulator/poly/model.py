"""The Polymarket paper exchange's records: markets and tokens, accounts, orders and trades.

Prices are pUSD per share and sizes shares, all Decimal in human units; the 1e-6 integer units
of the signed order appear only at the wire edge (`wire.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0")
ONE = Decimal("1")

BUY, SELL = "BUY", "SELL"
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")
IMMEDIATE = ("FOK", "FAK")

# Order statuses (GET /data/order, WS `order`) and trade statuses in their plain spelling.
LIVE, MATCHED, CANCELED, RESOLVED = "LIVE", "MATCHED", "CANCELED", "CANCELED_MARKET_RESOLVED"
TRADE_MATCHED, TRADE_MINED, TRADE_CONFIRMED = "MATCHED", "MINED", "CONFIRMED"
TRADE_RETRYING, TRADE_FAILED = "RETRYING", "FAILED"

# Resting liquidity that the admin API sets belongs to this built-in market maker.
MARKET_MAKER_OWNER = "00000000-0000-4000-8000-00000000a11c"
MARKET_MAKER_ADDRESS = "0x000000000000000000000000000000000000a11C"


@dataclass
class Market:
    condition_id: str
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool
    domain_version: int  # 2: CTF / neg-risk exchange V2; 3: ExchangeV3 position markets
    fee_rate: Decimal  # taker fee rate r in fee = shares * r * p * (1 - p)
    accepting_orders: bool = True
    closed: bool = False
    token_ids: list[str] = field(default_factory=list)

    @property
    def fee_rate_bps(self) -> str:
        return str(int(self.fee_rate * 10000))


@dataclass
class Token:
    token_id: str
    outcome: str
    market: Market
    last_trade_price: Decimal | None = None


@dataclass
class Account:
    """An EOA that owns API keys, and the one wallet (funder) it trades from."""

    address: str  # checksummed EOA: L1/L2 identity and order signer for types 0-2
    signature_type: int
    funder: str  # order.maker: the EOA (0), proxy (1), Safe (2) or deposit wallet (3)
    balance: Decimal  # pUSD
    positions: dict[str, Decimal] = field(default_factory=dict)  # token id -> shares
    allowance: Decimal | None = None  # pUSD the exchange may pull; None = unlimited (max uint256)
    deposit_wallet_required: bool = False  # new-account rule: only type-3 orders are allowed

    def shares(self, token_id: str) -> Decimal:
        return self.positions.get(token_id, ZERO)


@dataclass
class Order:
    id: str
    account: Account | None  # None: market-maker liquidity
    owner: str  # API key (or the market maker's id)
    maker_address: str
    token: Token
    side: str
    price: Decimal  # limit price
    original_size: Decimal  # shares
    order_type: str
    expiration: int  # unix seconds, 0 = none
    created_at: int
    seq: int
    size_matched: Decimal = ZERO
    status: str = LIVE
    associate_trades: list[str] = field(default_factory=list)
    created_ts: float = 0.0  # sim clock, exact: what a lagging read compares

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched


@dataclass
class MakerFill:
    order: Order
    size: Decimal


@dataclass
class Trade:
    """One price level of one match (a bucket); one match can span several."""

    id: str
    taker: Order
    price: Decimal
    size: Decimal
    fee: Decimal
    match_time: int
    bucket_index: int
    makers: list[MakerFill]
    transaction_hash: str
    status: str = TRADE_MATCHED
    last_update: int = 0
    created_ts: float = 0.0  # sim clock, exact: what a lagging read compares
    fails: bool = False  # settlement will fail: MATCHED -> RETRYING -> FAILED, fills reversed
