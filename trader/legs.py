"""What the trader is asked to do: one leg on one exchange, and an opportunity made of two legs.

Plain frozen dataclasses, validated on construction, so a bad price or a float count fails where it
is written rather than as an exchange rejection after money is already committed on the other leg.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from clients.types import Exchange

Action = Literal["buy", "sell"]
Outcome = Literal["yes", "no"]

EXCHANGES = ("kalshi", "poly")
KALSHI_TICK = Decimal("0.01")


def _decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"Leg.{name} must be a finite Decimal, got {value!r} ({type(value).__name__})")
    return value


@dataclass(frozen=True, slots=True)
class Leg:
    """One immediate limit order: `price` is the limit of the outcome traded, in dollars.

    `instrument` is a Kalshi market ticker (with `outcome` yes/no) or a Polymarket token id (no
    `outcome`: the token is the outcome). `tick_size` defaults to one cent on Kalshi and is required
    on Polymarket together with `neg_risk`, which the bot knows from market discovery, so that
    execution makes no extra reads. `amount` (Polymarket BUY only) is the pUSD to spend instead of
    `count` x `price`: the exchange fills a market BUY by its dollar amount, so an order walking
    several levels states their exact cost to get `count` shares, no more (`count` is then what
    it expects, `price` the worst level).
    """

    exchange: Exchange
    instrument: str
    action: Action
    count: Decimal
    price: Decimal
    outcome: Outcome | None = None
    tick_size: Decimal | None = None
    neg_risk: bool | None = None
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        if self.exchange not in EXCHANGES:
            raise ValueError(f"Leg.exchange must be one of {EXCHANGES}, got {self.exchange!r}")
        if not isinstance(self.instrument, str) or not self.instrument.strip():
            raise ValueError(f"Leg.instrument must be a non-empty string, got {self.instrument!r}")
        if self.action not in ("buy", "sell"):
            raise ValueError(f"Leg.action must be 'buy' or 'sell', got {self.action!r}")
        if _decimal("count", self.count) <= 0:
            raise ValueError(f"Leg.count must be positive, got {self.count}")
        if not 0 < _decimal("price", self.price) < 1:
            raise ValueError(f"Leg.price must be strictly between 0 and 1, got {self.price}")
        if self.exchange == "kalshi":
            self._check_kalshi()
        else:
            self._check_poly()
        if not 0 < self.tick < 1:
            raise ValueError(f"Leg.tick_size must be strictly between 0 and 1, got {self.tick}")
        if self.price % self.tick:
            raise ValueError(f"Leg.price {self.price} is not a multiple of the tick size {self.tick}")

    def _check_kalshi(self) -> None:
        if self.outcome not in ("yes", "no"):
            raise ValueError(f"a Kalshi Leg needs outcome 'yes' or 'no', got {self.outcome!r}")
        if self.tick_size is not None:
            _decimal("tick_size", self.tick_size)
        if self.neg_risk is not None:
            raise ValueError("Leg.neg_risk is a Polymarket field; leave it None on a Kalshi leg")

    def _check_poly(self) -> None:
        if self.outcome is not None:
            raise ValueError("a Polymarket Leg names its outcome by token id; leave Leg.outcome None")
        _decimal("tick_size", self.tick_size)
        if not isinstance(self.neg_risk, bool):
            raise TypeError(f"a Polymarket Leg needs neg_risk True or False, got {self.neg_risk!r}")
        if self.amount is not None and (self.action != "buy" or _decimal("amount", self.amount) <= 0):
            raise ValueError(
                f"Leg.amount is the pUSD of a Polymarket buy, above 0; got {self.amount} on a {self.action}"
            )

    @property
    def tick(self) -> Decimal:
        """The price grid: the leg's tick size, or one cent on Kalshi."""
        return self.tick_size if self.tick_size is not None else KALSHI_TICK

    def closing(self, count: Decimal, entry_price: Decimal, slippage: Decimal) -> Leg:
        """The leg that closes `count` of this one at most `slippage` worse than `entry_price`.

        The limit is rounded onto the tick grid towards the entry price (never beyond the allowed
        slippage) and kept inside the exchange's price range.
        """
        if self.action == "buy":
            limit = _on_grid(entry_price - slippage, self.tick, ROUND_CEILING)
            return self._with(action="sell", count=count, price=max(limit, self.tick))
        limit = _on_grid(entry_price + slippage, self.tick, ROUND_FLOOR)
        return self._with(action="buy", count=count, price=min(limit, 1 - self.tick))

    def opposite(self) -> Leg:
        """The same leg on the other side: what a position of this leg taken too far is."""
        return self._with(action="sell" if self.action == "buy" else "buy", count=self.count, price=self.price)

    def _with(self, *, action: Action, count: Decimal, price: Decimal) -> Leg:
        return Leg(self.exchange, self.instrument, action, count, price, self.outcome, self.tick_size, self.neg_risk)

    def describe(self) -> str:
        """Short human form, e.g. `kalshi KXNBA-X yes buy 10@0.45`."""
        outcome = f" {self.outcome}" if self.outcome else ""
        return f"{self.exchange} {self.instrument}{outcome} {self.action} {self.count}@{self.price}"


def _on_grid(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding=rounding) * tick


@dataclass(frozen=True, slots=True)
class Opportunity:
    """Two legs, one per exchange, that together lock in `edge` dollars per matched contract."""

    kalshi: Leg
    poly: Leg
    edge: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.kalshi, Leg) or self.kalshi.exchange != "kalshi":
            raise ValueError(f"Opportunity.kalshi must be a Kalshi Leg, got {self.kalshi!r}")
        if not isinstance(self.poly, Leg) or self.poly.exchange != "poly":
            raise ValueError(f"Opportunity.poly must be a Polymarket Leg, got {self.poly!r}")
        if not isinstance(self.edge, Decimal) or not self.edge.is_finite():
            raise TypeError(f"Opportunity.edge must be a finite Decimal, got {self.edge!r}")
