"""The paper Polymarket feed's events, key for key as the official examples and the captured `book`
(docs/wire/polymarket.md §8): decimal strings as the REST book writes them, market-channel timestamps in ms
strings, user-channel timestamps in seconds strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.poly.model import BUY, ONE, ZERO, Account, Order, Token, Trade
from simulator.poly.wire import human, trade_view

Levels = dict[Decimal, Decimal]


def book_event(summary_body: dict[str, Any]) -> dict[str, Any]:
    """`book` from the REST `/book` body of the same moment (so the same `hash`), less the REST-only keys."""
    body = {k: summary_body[k] for k in ("market", "asset_id", "timestamp", "hash", "bids", "asks", "tick_size")}
    return body | {"event_type": "book", "last_trade_price": summary_body["last_trade_price"]}


def levels(summary_body: dict[str, Any]) -> tuple[Levels, Levels]:
    """(bids, asks) of a REST book body as price -> size."""
    return tuple(  # type: ignore[return-value]
        {Decimal(level["price"]): Decimal(level["size"]) for level in summary_body[side]} for side in ("bids", "asks")
    )


def best(bids: Levels, asks: Levels) -> tuple[str, str]:
    """Best bid and ask as `price_change` and `best_bid_ask` write them: "0" and "1" for an empty side."""
    return human(max(bids, default=ZERO)), human(min(asks, default=ONE))


def changes(before: tuple[Levels, Levels], after: tuple[Levels, Levels]) -> list[tuple[str, Decimal, Decimal]]:
    """(side, price, new total) of every level that moved; total 0 means the level is gone."""
    moved = []
    for side, old, new in ((BUY, before[0], after[0]), ("SELL", before[1], after[1])):
        for price in sorted(set(old) | set(new)):
            if old.get(price) != new.get(price):
                moved.append((side, price, new.get(price, ZERO)))
    return moved


def price_change_event(token: Token, body: dict[str, Any], moved: list[tuple[str, Decimal, Decimal]]) -> dict[str, Any]:
    bid, ask = best(*levels(body))
    entries = [
        {
            "asset_id": token.token_id,
            "price": human(price),
            "size": human(size),
            "side": side,
            "hash": body["hash"],
            "best_bid": bid,
            "best_ask": ask,
        }
        for side, price, size in moved
    ]
    return {
        "event_type": "price_change",
        "market": token.market.condition_id,
        "price_changes": entries,
        "timestamp": body["timestamp"],
    }


def best_bid_ask_event(token: Token, body: dict[str, Any]) -> dict[str, Any]:
    bid, ask = best(*levels(body))
    return {
        "event_type": "best_bid_ask",
        "market": token.market.condition_id,
        "asset_id": token.token_id,
        "best_bid": bid,
        "best_ask": ask,
        "spread": human(Decimal(ask) - Decimal(bid)),
        "timestamp": body["timestamp"],
    }


def last_trade_price_event(trade: Trade, now_ms: int) -> dict[str, Any]:
    token = trade.taker.token
    return {
        "event_type": "last_trade_price",
        "asset_id": token.token_id,
        "market": token.market.condition_id,
        "price": human(trade.price),
        "size": human(trade.size),
        "fee_rate_bps": token.market.fee_rate_bps,
        "side": trade.taker.side,
        "timestamp": str(now_ms),
        "transaction_hash": trade.transaction_hash,
    }


def tick_size_change_event(token: Token, old: Decimal, now_ms: int) -> dict[str, Any]:
    return {
        "event_type": "tick_size_change",
        "asset_id": token.token_id,
        "market": token.market.condition_id,
        "old_tick_size": human(old),
        "new_tick_size": human(token.market.tick_size),
        "timestamp": str(now_ms),
    }


def order_event(order: Order, kind: str, now: int) -> dict[str, Any]:
    """A user `order` event: PLACEMENT, UPDATE (matched some) or CANCELLATION."""
    return {
        "event_type": "order",
        "id": order.id,
        "owner": order.owner,
        "market": order.token.market.condition_id,
        "asset_id": order.token.token_id,
        "side": order.side,
        "order_owner": order.owner,
        "original_size": human(order.original_size),
        "size_matched": human(order.size_matched),
        "price": human(order.price),
        "associate_trades": list(order.associate_trades) or None,
        "outcome": order.token.outcome,
        "type": kind,
        "created_at": str(order.created_at),
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "status": order.status,
        "maker_address": order.maker_address,
        "timestamp": str(now),
    }


def trade_event(trade: Trade, viewer: Account, owner: str, now: int) -> dict[str, Any]:
    """A user `trade` event: the REST trade as `viewer` sees it, plus the WebSocket-only keys."""
    view = trade_view(trade, viewer)
    head = {"event_type": "trade", "type": "TRADE"}
    order = ("id", "taker_order_id", "market", "asset_id", "side", "size", "price", "fee_rate_bps", "status")
    body = head | {k: view[k] for k in order} | {"matchtime": view["match_time"]}
    tail = ("last_update", "outcome", "owner")
    body |= {k: view[k] for k in tail} | {"trade_owner": owner}
    body |= {k: view[k] for k in ("maker_address", "transaction_hash", "bucket_index", "maker_orders", "trader_side")}
    return body | {"timestamp": str(now)}
