"""Polymarket signed-order amounts (makerAmount/takerAmount) in exact Decimal arithmetic.

The official Python libraries floor binary floats (2.03 shares become 2.02), so this module
never touches a float: inputs are Decimal, int or str, and every rounding step is the
reference's (docs/wire/polymarket.md §4.3, polymarket-client `limit.py`/`market.py`). Instead of
silently flooring a price off the tick grid or a size finer than 0.01, it refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from math import gcd

from clients.decimals import exact_decimal

UNIT = Decimal(10) ** 6  # pUSD and outcome tokens both have 6 decimals
SIZE_DECIMALS = 2
MARKET_BUY_MAKER_DECIMALS = 2  # server: "market buy orders maker amount supports a max accuracy of 2 decimals"
MARKET_BUY_TAKER_DECIMALS = 4  # ... "taker amount a max of 4 decimals"
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")
IMMEDIATE_TYPES = ("FOK", "FAK")
GTD_SECURITY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RoundConfig:
    """Decimals allowed for price and for the derived (product/quotient) amount at one tick size."""

    price: int
    amount: int


ROUND_CONFIG: dict[Decimal, RoundConfig] = {
    Decimal("0.1"): RoundConfig(price=1, amount=3),
    Decimal("0.01"): RoundConfig(price=2, amount=4),
    Decimal("0.005"): RoundConfig(price=3, amount=5),
    Decimal("0.0025"): RoundConfig(price=4, amount=6),
    Decimal("0.001"): RoundConfig(price=3, amount=5),
    Decimal("0.0001"): RoundConfig(price=4, amount=6),
}


def decimal_places(value: Decimal) -> int:
    """Significant decimals: 2.50 has 1, 100 has 0."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def round_config(tick_size: Decimal | str) -> RoundConfig:
    """The rounding rule for a tick size, or ValueError for a tick the exchange does not use."""
    tick = exact_decimal(tick_size, "tick_size")
    config = ROUND_CONFIG.get(tick)
    if config is None:
        known = ", ".join(str(t) for t in ROUND_CONFIG)
        raise ValueError(f"tick_size {tick}: not a Polymarket tick size ({known})")
    return config


def check_price(price: Decimal | int | str, tick_size: Decimal | str) -> Decimal:
    """The price if it lies on the tick grid within [tick, 1 - tick]; ValueError otherwise."""
    tick = exact_decimal(tick_size, "tick_size")
    round_config(tick)
    value = exact_decimal(price, "price")
    if not tick <= value <= 1 - tick:
        raise ValueError(f"price {value}: must be between {tick} and {1 - tick} for tick size {tick}")
    if value % tick != 0:
        raise ValueError(f"price {value}: not a multiple of tick size {tick}")
    return value


def check_quantity(name: str, value: Decimal | int | str) -> Decimal:
    """A positive share or pUSD quantity with at most 2 decimals (the exchange's size step)."""
    result = exact_decimal(value, name)
    if result <= 0:
        raise ValueError(f"{name} {result}: must be positive")
    if decimal_places(result) > SIZE_DECIMALS:
        raise ValueError(f"{name} {result}: at most {SIZE_DECIMALS} decimals (0.01 steps)")
    return result


def to_units(value: Decimal) -> int:
    """Human units to the integer 1e-6 units that are signed; refuses anything finer than 1e-6."""
    scaled = value * UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {value}: finer than 1e-6")
    return int(scaled)


def from_units(units: int | str) -> Decimal:
    """Integer 1e-6 units (as signed, or as the balance endpoint sends them) to human units."""
    return Decimal(int(units)) / UNIT


def _quantize(value: Decimal, decimals: int, rounding: str) -> Decimal:
    if decimal_places(value) <= decimals:
        return value
    return value.quantize(Decimal(10) ** -decimals, rounding=rounding)


def round_amount(value: Decimal, decimals: int) -> Decimal:
    """The libraries' derived-amount rule: round up at decimals+4, then truncate to decimals."""
    return _quantize(_quantize(value, decimals + 4, ROUND_CEILING), decimals, ROUND_FLOOR)


def limit_amounts(side: str, price: Decimal, size: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(makerAmount, takerAmount) units of a GTC/GTD order for `size` shares at `price`."""
    config = round_config(tick_size)
    price = check_price(price, tick_size)
    shares = check_quantity("size", size)
    value = round_amount(shares * price, config.amount)
    return (to_units(value), to_units(shares)) if side == "BUY" else (to_units(shares), to_units(value))


def market_amounts(side: str, price: Decimal, amount: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(makerAmount, takerAmount) of a FOK/FAK order as the SDKs build it.

    BUY `amount` is pUSD to spend: taker = amount / price, truncated to the tick's amount
    decimals and never past the 4 the server accepts for market BUYs. SELL `amount` is shares.
    """
    config = round_config(tick_size)
    price = check_price(price, tick_size)
    maker = check_quantity("amount", amount)
    if side == "BUY":
        taker = round_amount(maker / price, min(config.amount, MARKET_BUY_TAKER_DECIMALS))
    else:
        taker = round_amount(maker * price, config.amount)
    return to_units(maker), to_units(taker)


def exact_amounts(side: str, price: Decimal, size: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(makerAmount, takerAmount) of a FOK/FAK order for `size` shares at `price`.

    A SELL gives exactly `size` shares. A BUY spends size x price pUSD, which the server accepts
    only with at most 2 decimals (a size that breaks that is refused here, naming the share step
    that works at this price); the exchange fills a market BUY by that dollar amount, so `size` is
    the least it receives and a better price buys more.
    """
    config = round_config(tick_size)
    price = check_price(price, tick_size)
    shares = check_quantity("size", size)
    if side != "BUY":
        return to_units(shares), to_units(round_amount(shares * price, config.amount))
    cost = shares * price
    if decimal_places(cost) > MARKET_BUY_MAKER_DECIMALS:
        raise ValueError(
            f"FOK/FAK BUY of size {shares} at price {price}: makerAmount {cost.normalize()} has "
            f"{decimal_places(cost)} decimals but the exchange accepts {MARKET_BUY_MAKER_DECIMALS} for "
            f"market buys; at this price use a size that is a multiple of {exact_buy_step(price)}"
        )
    return to_units(cost), to_units(shares)


def exact_buy_step(price: Decimal) -> Decimal:
    """The smallest share step whose cost at `price` has at most 2 decimals."""
    places = decimal_places(price)
    numerator = int(price.scaleb(places))  # price = numerator / 10**places
    hundredths = 10**places // gcd(numerator, 10**places)
    return Decimal(hundredths).scaleb(-SIZE_DECIMALS)


def order_amounts(
    side: str,
    price: Decimal | str,
    size: Decimal | str | None,
    amount: Decimal | str | None,
    order_type: str,
    tick_size: Decimal | str,
) -> tuple[int, int]:
    """(makerAmount, takerAmount) in 1e-6 units of an order as the trader states it; ValueError before signing.

    GTC/GTD take `size` in shares; FOK/FAK take `amount` (BUY: pUSD, SELL: shares) or an exact `size`.
    """
    if side not in ("BUY", "SELL"):
        raise ValueError(f"side {side!r}: expected 'BUY' or 'SELL'")
    if order_type not in ORDER_TYPES:
        raise ValueError(f"order_type {order_type!r}: expected one of {', '.join(ORDER_TYPES)}")
    tick = exact_decimal(tick_size, "tick_size")
    if amount is not None and size is None:
        if order_type not in IMMEDIATE_TYPES:
            raise ValueError(f"{order_type} orders take size in shares, not amount")
        return market_amounts(side, exact_decimal(price, "price"), exact_decimal(amount, "amount"), tick)
    if size is None or amount is not None:
        raise ValueError("give exactly one of size (shares) or amount (FOK/FAK: BUY pUSD, SELL shares)")
    build = exact_amounts if order_type in IMMEDIATE_TYPES else limit_amounts
    return build(side, exact_decimal(price, "price"), exact_decimal(size, "size"), tick)


def check_flags(order_type: str, expiration: int, post_only: bool, timestamp_ms: int | None) -> None:
    """Refuse order-type flags the exchange would refuse: post-only, expiration and the GTD security threshold."""
    if post_only and order_type not in ("GTC", "GTD"):
        raise ValueError(f"post_only is only allowed with GTC or GTD, not {order_type}")
    if order_type != "GTD" and expiration:
        raise ValueError(f"expiration is only for GTD orders, not {order_type}")
    if order_type == "GTD":
        if expiration <= 0:
            raise ValueError("GTD orders need an expiration (unix seconds)")
        if timestamp_ms is not None and expiration < timestamp_ms // 1000 + GTD_SECURITY_SECONDS:
            raise ValueError(
                f"GTD expiration {expiration}: must be at least {GTD_SECURITY_SECONDS} s "
                "after the order timestamp (the exchange's security threshold)"
            )
