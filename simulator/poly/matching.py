"""Which resting orders an incoming order takes, planned before anything changes.

Planning first lets FOK refuse without side effects. Limit orders (and every SELL) are sized in
shares; a marketable BUY (FOK/FAK) spends a pUSD budget, so a better price buys more shares, as on
the real exchange. Fills are at the resting order's price, in whole hundredths of a share, so
each fill's cost (shares x price, price at most 4 decimals) is exact at 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from simulator.poly.book import Book
from simulator.poly.model import BUY, SELL, ZERO, Order

LOT = Decimal("0.01")


@dataclass(frozen=True)
class Fill:
    maker: Order
    size: Decimal  # shares

    @property
    def price(self) -> Decimal:
        return self.maker.price

    @property
    def cost(self) -> Decimal:
        return self.size * self.maker.price


def lots(value: Decimal) -> Decimal:
    """Floor to whole hundredths of a share."""
    return value.quantize(LOT, rounding=ROUND_FLOOR)


def crosses(side: str, limit: Decimal, resting_price: Decimal) -> bool:
    return resting_price <= limit if side == BUY else resting_price >= limit


def plan(
    book: Book, side: str, limit: Decimal, *, shares: Decimal | None = None, budget: Decimal | None = None
) -> list[Fill]:
    """Fills for a taker of `side` at `limit`, up to `shares` or, for a market BUY, `budget` pUSD."""
    fills: list[Fill] = []
    opposite = SELL if side == BUY else BUY
    for maker in book.best_first(opposite):
        if not crosses(side, limit, maker.price):
            break
        if budget is not None:
            size = min(maker.remaining, lots(budget / maker.price))
            budget -= size * maker.price
        else:
            assert shares is not None
            size = min(maker.remaining, shares)
            shares -= size
        if size <= ZERO:
            break
        fills.append(Fill(maker, size))
    return fills


def complete(
    fills: list[Fill], limit: Decimal, *, shares: Decimal | None = None, budget: Decimal | None = None
) -> bool:
    """Whether the fills satisfy the whole order (FOK): all shares, or a budget with less than a
    lot's worth left at the limit price."""
    if budget is not None:
        return lots((budget - sum((f.cost for f in fills), ZERO)) / limit) == ZERO
    assert shares is not None
    return sum((f.size for f in fills), ZERO) == shares
