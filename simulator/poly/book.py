"""One token's order book: resting orders by price level, first come first served within a level.

Market-maker liquidity and users' resting orders share the levels, so price-time priority holds
across both. Snapshots follow the live server: bids ascending and asks descending (best LAST),
hashed as py-clob-client-v2 `generate_orderbook_summary_hash` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson

from simulator.poly.model import BUY, ZERO, Order, Token
from simulator.poly.wire import human


class Book:
    def __init__(self) -> None:
        self._sides: dict[str, dict[Decimal, list[Order]]] = {BUY: {}, "SELL": {}}

    def add(self, order: Order) -> None:
        self._sides[order.side].setdefault(order.price, []).append(order)

    def remove(self, order: Order) -> None:
        level = self._sides[order.side].get(order.price, [])
        if order in level:
            level.remove(order)
        if not level:
            self._sides[order.side].pop(order.price, None)

    def best_first(self, side: str) -> Iterator[Order]:
        """Resting orders of `side` in matching priority: best price, then oldest."""
        levels = self._sides[side]
        for price in sorted(levels, reverse=side == BUY):
            yield from list(levels[price])

    def orders(self) -> list[Order]:
        return [o for levels in self._sides.values() for level in levels.values() for o in level]

    def levels(self, side: str) -> list[dict[str, str]]:
        """Aggregated `[{price, size}]` in live order: worst first, best last."""
        levels = self._sides[side]
        out = []
        for price in sorted(levels, reverse=side != BUY):
            size = sum((o.remaining for o in levels[price]), ZERO)
            if size > ZERO:
                out.append({"price": human(price), "size": human(size)})
        return out

    def best(self, side: str) -> Decimal | None:
        prices = [p for p, level in self._sides[side].items() if level]
        if not prices:
            return None
        return max(prices) if side == BUY else min(prices)


def summary(book: Book, token: Token, timestamp_ms: int) -> dict[str, Any]:
    """The `GET /book` body with its hash (sha1 of the compact body with hash "")."""
    market = token.market
    body: dict[str, Any] = {
        "market": market.condition_id,
        "asset_id": token.token_id,
        "timestamp": str(timestamp_ms),
        "hash": "",
        "bids": book.levels(BUY),
        "asks": book.levels("SELL"),
        "min_order_size": human(market.min_order_size),
        "tick_size": human(market.tick_size),
        "neg_risk": market.neg_risk,
        "last_trade_price": "" if token.last_trade_price is None else human(token.last_trade_price),
    }
    body["hash"] = hashlib.sha1(orjson.dumps(body)).hexdigest()
    return body
