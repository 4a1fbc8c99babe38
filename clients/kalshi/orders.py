"""Orders as the trader states them (outcome, action, outcome price) → Kalshi's V2 request bodies.

V2 orders live on the YES leg (docs/wire/kalshi.md §4.1): buy YES p → bid p; sell YES p → ask p;
buy NO p → ask 1−p; sell NO p → bid 1−p. Prices and counts travel as strings (price 4 dp, count
2 dp); a JSON number is refused by Kalshi, and a value we would have to round is refused here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from clients.decimals import exact_decimal

Outcome = Literal["yes", "no"]
Action = Literal["buy", "sell"]

TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
SELF_TRADE_PREVENTION = ("taker_at_cross", "maker")
PRICE_STEP = Decimal("0.0001")
COUNT_STEP = Decimal("0.01")
ONE = Decimal(1)


def _exact(value: Decimal, step: Decimal, name: str) -> str:
    quantized = value.quantize(step)
    if quantized != value:
        raise ValueError(f"{name} {value} has more precision than Kalshi accepts (step {step})")
    return str(quantized)


def format_count(count: Decimal | str | int, name: str = "count", *, allow_zero: bool = False) -> str:
    """Kalshi's count string: positive (or zero where allowed), 2 dp."""
    value = exact_decimal(count, name)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {value}")
    return _exact(value, COUNT_STEP, name)


def format_price(price: Decimal | str | int, name: str = "price") -> str:
    """Kalshi's price string: strictly between 0 and 1 dollar, 4 dp."""
    value = exact_decimal(price, name)
    if not 0 < value < 1:
        raise ValueError(f"{name} must be between 0 and 1 dollar (exclusive), got {value}")
    return _exact(value, PRICE_STEP, name)


def yes_leg(outcome: str, action: str, price: Decimal) -> tuple[str, Decimal]:
    """(V2 side, YES-leg price) for trading `outcome` at `price` (that outcome's price)."""
    if outcome not in ("yes", "no"):
        raise ValueError(f"outcome must be 'yes' or 'no', got {outcome!r}")
    if action not in ("buy", "sell"):
        raise ValueError(f"action must be 'buy' or 'sell', got {action!r}")
    buys_yes = (outcome == "yes") == (action == "buy")
    return ("bid" if buys_yes else "ask"), (price if outcome == "yes" else ONE - price)


def v2_side_price(outcome: str, action: str, price: Decimal | str | int) -> tuple[str, str]:
    """(V2 side, YES-leg price string) for an order on `outcome` at that outcome's `price`."""
    side, leg_price = yes_leg(outcome, action, Decimal(format_price(price)))
    return side, format_price(leg_price)


def outcome_price(outcome: str, yes_price: Decimal) -> Decimal:
    """The price of `outcome` given the YES-leg price."""
    return yes_price if outcome == "yes" else ONE - yes_price


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """One order in the trader's terms; `price` is the limit price of `outcome` in dollars."""

    ticker: str
    outcome: Outcome
    action: Action
    count: Decimal | str | int
    price: Decimal | str | int
    time_in_force: str = "immediate_or_cancel"
    client_order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    post_only: bool = False
    reduce_only: bool = False
    expiration_time: int | None = None
    self_trade_prevention_type: str = "taker_at_cross"

    def body(self) -> dict[str, Any]:
        """The CreateOrderV2Request; optional flags appear only when set, so bodies are stable."""
        if not self.ticker:
            raise ValueError("ticker must not be empty")
        if self.time_in_force not in TIME_IN_FORCE:
            raise ValueError(f"time_in_force must be one of {TIME_IN_FORCE}, got {self.time_in_force!r}")
        if self.self_trade_prevention_type not in SELF_TRADE_PREVENTION:
            raise ValueError(
                f"self_trade_prevention_type must be one of {SELF_TRADE_PREVENTION}, "
                f"got {self.self_trade_prevention_type!r}"
            )
        if self.expiration_time is not None and self.time_in_force != "good_till_canceled":
            raise ValueError("expiration_time needs time_in_force 'good_till_canceled' (Kalshi rejects it otherwise)")
        side, price = v2_side_price(self.outcome, self.action, self.price)
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "client_order_id": self.client_order_id,
            "side": side,
            "count": format_count(self.count),
            "price": price,
            "time_in_force": self.time_in_force,
            "self_trade_prevention_type": self.self_trade_prevention_type,
        }
        if self.post_only:
            body["post_only"] = True
        if self.reduce_only:
            body["reduce_only"] = True
        if self.expiration_time is not None:
            body["expiration_time"] = int(self.expiration_time)
        return body

    def requested_count(self) -> Decimal:
        return Decimal(format_count(self.count))

    def limit_price(self) -> Decimal:
        """The limit of `outcome`, as sent (on the tick grid)."""
        return Decimal(format_price(self.price))
