"""Polymarket's WebSocket feeds (docs/wire/polymarket.md §8): live books of given tokens on `/market`, and the
user's orders and trades on `/user`, each over a connection that stays up and sends the text `PING` keepalive.

A `book` event replaces a token's book; a `price_change` sets each level's new total ("0" removes it) and carries
the exchange's best bid and ask, which the feed checks against its own: a disagreement means something was missed,
so the book is invalid until a fresh dump (the feed reconnects, which resubscribes). Frames may be single events or
JSON arrays of them. Trades are reported once per fill, then by status; a trade that FAILED is reported as
`FillReversed` and leaves `fills`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson
from yarl import URL

from clients.book import ASK, BID
from clients.feed import Feed, FeedSocket, Recent
from clients.feed_events import (
    FillReversed,
    FillStatus,
    MarketResolved,
    Quote,
    TickSizeChanged,
    TradePrint,
    UserFill,
    UserOrder,
)
from clients.polymarket.parse import decimal_field, optional_decimal, require, unexpected
from clients.polymarket.types import ApiCreds

DEFAULT_WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws"
PING_INTERVAL = 5.0  # the server drops a client ~10 s after its last PING
FAILED = "FAILED"
NO_BID, NO_ASK = Decimal(0), Decimal(1)  # what price_change and best_bid_ask say for an empty side


def events_of(frame: Any) -> list[dict[str, Any]]:
    """The events in a frame: one object, or a JSON array of them (the initial dump; batched user events)."""
    events = frame if isinstance(frame, list) else [frame]
    for event in events:
        require(event, "event_type", str, "ws event")
    return events


def parse_levels(event: dict[str, Any], key: str) -> list[tuple[Decimal, Decimal]]:
    where = f"ws book {key}"
    return [
        (decimal_field(level, "price", where), decimal_field(level, "size", where))
        for level in require(event, key, list, "ws book")
    ]


def parse_price_changes(
    event: dict[str, Any],
) -> list[tuple[str, str, Decimal, Decimal, Decimal | None, Decimal | None]]:
    """(asset id, book side, price, new total, exchange's best bid, best ask) per entry of a `price_change`."""
    where = "ws price_change"
    out = []
    for entry in require(event, "price_changes", list, where):
        side = require(entry, "side", str, where)
        if side not in ("BUY", "SELL"):
            raise unexpected(where, f"field 'side' is {side!r}, not BUY/SELL", entry)
        out.append(
            (
                require(entry, "asset_id", str, where),
                BID if side == "BUY" else ASK,
                decimal_field(entry, "price", where),
                decimal_field(entry, "size", where),
                optional_decimal(entry, "best_bid", where),
                optional_decimal(entry, "best_ask", where),
            )
        )
    return out


def parse_trade_fills(event: dict[str, Any], api_key: str | None) -> list[UserFill]:
    """The user's fills in a `trade` event: the whole trade when they were the taker, else their maker orders."""
    where = "ws trade"
    trade_id, status = require(event, "id", str, where), require(event, "status", str, where)
    asset = require(event, "asset_id", str, where)
    if require(event, "trader_side", str, where) == "TAKER":
        return [_fill(trade_id, require(event, "taker_order_id", str, where), asset, event, "size", True, status)]
    return [
        _fill(f"{trade_id}:{maker['order_id']}", maker["order_id"], asset, maker, "matched_amount", False, status)
        for maker in require(event, "maker_orders", list, where)
        if isinstance(maker, dict)
        and isinstance(maker.get("order_id"), str)
        and (api_key is None or maker.get("owner") == api_key)
    ]


def _fill(fill_id: str, order_id: str, asset: str, part: Any, size: str, taker: bool, status: str) -> UserFill:
    """A UserFill from the taker's side of a trade event, or from one of its maker_orders."""
    where = "ws trade"
    return UserFill(
        exchange="poly",
        fill_id=fill_id,
        order_id=order_id,
        market=asset,
        side=require(part, "side", str, where),
        outcome=require(part, "outcome", str, where),
        price=decimal_field(part, "price", where),
        size=decimal_field(part, size, where),
        fee=None,
        is_taker=taker,
        status=status,
        raw=part,
    )


def parse_order_event(event: dict[str, Any]) -> UserOrder:
    where = "ws order"
    original = decimal_field(event, "original_size", where)
    matched = decimal_field(event, "size_matched", where)
    return UserOrder(
        exchange="poly",
        order_id=require(event, "id", str, where),
        market=require(event, "asset_id", str, where),
        status=require(event, "status", str, where),
        side=require(event, "side", str, where),
        price=decimal_field(event, "price", where),
        filled=matched,
        remaining=original - matched,
        kind=require(event, "type", str, where),
        raw=event,
    )


class PolymarketFeed(Feed):
    """Books of `assets` (token ids) on the market channel; with `creds`, the user channel for `markets`
    (condition ids; None = all). `async with` runs both."""

    exchange = "poly"

    def __init__(
        self,
        url: str | None = None,
        *,
        assets: Iterable[str] = (),
        creds: ApiCreds | None = None,
        markets: Iterable[str] | None = None,
        custom_features: bool = False,
        ping_interval: float = PING_INTERVAL,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.url = (url or DEFAULT_WS_URL).rstrip("/")
        parsed = URL(self.url)
        if parsed.scheme not in ("ws", "wss") or not parsed.host:
            raise ValueError(f"Polymarket feed URL must be ws:// or wss://, got {self.url!r}")
        self.assets = list(dict.fromkeys(assets))
        self.creds = creds
        self.condition_ids = None if markets is None else list(markets)
        self.custom_features = custom_features
        self.duplicates = 0
        self._trade_statuses = Recent(self.remembered)  # (trade id, status)
        self._orders_seen = Recent(self.remembered)  # order events, by content
        self._reversed = Recent(self.remembered)  # fill ids
        if self.assets:
            self.market_socket = FeedSocket(
                self, _MarketChannel(self), f"{self.url}/market", keepalive_interval=ping_interval
            )
            self._sockets.append(self.market_socket)
        if creds is not None:
            self.user_socket = FeedSocket(
                self, _UserChannel(self), f"{self.url}/user", keepalive_interval=ping_interval
            )
            self._sockets.append(self.user_socket)
        if not self._sockets:
            raise ValueError("the Polymarket feed needs assets (market channel) and/or creds (user channel)")

    @classmethod
    def from_env(
        cls,
        assets: Iterable[str] = (),
        markets: Iterable[str] | None = None,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> PolymarketFeed:
        """POLY_WS_URL (default production, /market and /user are added) and POLY_API_KEY / SECRET / PASSPHRASE
        (the user channel, when all three are set)."""
        env = os.environ if env is None else env
        parts = [env.get(name) or "" for name in ("POLY_API_KEY", "POLY_API_SECRET", "POLY_API_PASSPHRASE")]
        creds = ApiCreds(*parts) if all(parts) else None
        return cls(env.get("POLY_WS_URL") or None, assets=assets, creds=creds, markets=markets, **options)

    # -- market channel ------------------------------------------------------------------------

    def on_book(self, event: dict[str, Any]) -> None:
        try:
            asset = require(event, "asset_id", str, "ws book")
            bids, asks = parse_levels(event, "bids"), parse_levels(event, "asks")
            tick_size = optional_decimal(event, "tick_size", "ws book")
        except Exception:  # the book this one replaces is out of date
            self.invalidate(self.assets, "book event not readable")
            self.market_socket.restart("book event not readable")
            raise
        book = self.local(asset)
        book.replace(bids, asks)
        book.tick_size = tick_size
        self.updated(asset)

    def on_price_change(self, event: dict[str, Any]) -> None:
        touched: dict[str, tuple[Decimal | None, Decimal | None]] = {}
        try:
            for asset, side, price, size, best_bid, best_ask in parse_price_changes(event):
                book = self.books.get(asset)
                if book is None or not book.valid:
                    continue
                book.set_level(side, price, size)
                touched[asset] = (best_bid, best_ask)
        except Exception:  # a change the books did not get (or only partly): none of them can be trusted
            self.invalidate(self.assets, "price_change not applied")
            self.market_socket.restart("price_change not applied")
            raise
        for asset, best in touched.items():
            if self._agrees(asset, *best):
                self.updated(asset)

    def on_best_bid_ask(self, event: dict[str, Any]) -> None:
        where = "ws best_bid_ask"
        asset = require(event, "asset_id", str, where)
        best_bid, best_ask = decimal_field(event, "best_bid", where), decimal_field(event, "best_ask", where)
        book = self.books.get(asset)
        if book is not None and book.valid:
            self._agrees(asset, best_bid, best_ask)
        self.emit(Quote("poly", asset, best_bid, best_ask, None, raw=event))

    def on_market_resolved(self, event: dict[str, Any]) -> None:
        where = "ws market_resolved"
        condition = require(event, "market", str, where)
        winner, outcome = require(event, "winning_asset_id", str, where), require(event, "winning_outcome", str, where)
        self.emit(MarketResolved("poly", condition, winner, outcome, raw=event))

    def on_new_market(self, event: dict[str, Any]) -> None:
        """A market listing (custom features): nothing this feed keeps; checked and dropped."""
        require(event, "market", str, "ws new_market")

    def _agrees(self, asset: str, best_bid: Decimal | None, best_ask: Decimal | None) -> bool:
        """Whether the local book's best prices are the exchange's; if not, the book is wrong: resync."""
        book = self.books[asset]
        mine = (book.best(BID) or NO_BID, book.best(ASK) or NO_ASK)
        theirs = (best_bid if best_bid is not None else mine[0], best_ask if best_ask is not None else mine[1])
        if mine == theirs:
            return True
        self.invalidate([asset], f"best bid/ask {mine} but the exchange says {theirs}")
        self.market_socket.restart("book out of step")
        return False

    def on_tick_size_change(self, event: dict[str, Any]) -> None:
        where = "ws tick_size_change"
        asset = require(event, "asset_id", str, where)
        old, new = decimal_field(event, "old_tick_size", where), decimal_field(event, "new_tick_size", where)
        self.local(asset).tick_size = new
        self.emit(TickSizeChanged("poly", asset, old, new))

    def on_last_trade_price(self, event: dict[str, Any]) -> None:
        where = "ws last_trade_price"
        asset, side = require(event, "asset_id", str, where), require(event, "side", str, where)
        price, size = decimal_field(event, "price", where), decimal_field(event, "size", where)
        self.emit(TradePrint("poly", asset, price, size, side, raw=event))

    # -- user channel --------------------------------------------------------------------------

    def on_trade(self, event: dict[str, Any]) -> None:
        fills = parse_trade_fills(event, self.creds.api_key if self.creds else None)
        key = (require(event, "id", str, "ws trade"), require(event, "status", str, "ws trade"))
        if not self._trade_statuses.first_time(key):
            self.duplicates += 1
            return
        for fill in fills:
            self._fill(fill, event)

    def _fill(self, fill: UserFill, event: dict[str, Any]) -> None:
        known = self.fills.get(fill.fill_id)
        if fill.fill_id in self._reversed:
            return
        if fill.status == FAILED:
            self._reversed.add(fill.fill_id)
            self.fills.pop(fill.fill_id, None)
            # reported even when its match went by unseen (a dropped channel): the bot may hold it from REST
            self.emit(FillReversed("poly", known or fill, raw=event))
        elif known is None:
            self.fills[fill.fill_id] = fill
            self.emit(fill)
        else:
            self.fills[fill.fill_id] = dataclasses.replace(known, status=fill.status, raw=event)
            self.emit(FillStatus("poly", fill.fill_id, fill.status or "", raw=event))

    def on_order(self, event: dict[str, Any]) -> None:
        order = parse_order_event(event)
        key = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        if not self._orders_seen.first_time(key):
            self.duplicates += 1
            return
        self.emit(order)


class _Channel:
    """What the two Polymarket channels share: text PING keepalive, frames of one event or an array of them."""

    keepalive: str | None = "PING"
    name: str = ""
    handlers: tuple[str, ...] = ()

    def __init__(self, feed: PolymarketFeed) -> None:
        self.feed = feed

    def headers(self) -> dict[str, str]:
        return {}

    def received(self, raw: str) -> None:
        if raw == "PONG":
            return
        for event in events_of(orjson.loads(raw)):
            kind = event["event_type"]
            if kind in self.handlers:
                getattr(self.feed, f"on_{kind}")(event)
            else:
                self.feed.report(self.name, f"unknown event_type {kind!r}", raw)

    def went_stale(self) -> None:
        """Nothing to mark on the user channel."""

    def came_back(self) -> None:
        """Nothing to refetch on the user channel."""

    def closed(self, reason: str) -> None:
        """Nothing to mark on the user channel."""


class _MarketChannel(_Channel):
    name = "market"
    handlers = (
        "book",
        "price_change",
        "best_bid_ask",
        "tick_size_change",
        "last_trade_price",
        "market_resolved",
        "new_market",
    )

    async def opened(self, socket: FeedSocket) -> None:
        feed = self.feed
        body = {"assets_ids": feed.assets, "type": "market", "initial_dump": True}
        await socket.send(body | {"custom_feature_enabled": feed.custom_features})

    def went_stale(self) -> None:
        self.feed.mark_stale(self.feed.assets)

    def came_back(self) -> None:
        """Nothing proves no change was lost while it was quiet: fetch fresh books."""
        self.feed.market_socket.restart("feed came back after a silence")

    def closed(self, reason: str) -> None:
        self.feed.mark_stale(self.feed.assets)


class _UserChannel(_Channel):
    name = "user"
    handlers = ("trade", "order")

    async def opened(self, socket: FeedSocket) -> None:
        creds = self.feed.creds
        assert creds is not None
        body: dict[str, Any] = {
            "auth": {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase},
            "type": "user",
        }
        if self.feed.condition_ids is not None:
            body["markets"] = self.feed.condition_ids
        await socket.send(body)
