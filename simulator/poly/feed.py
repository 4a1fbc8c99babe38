"""The paper Polymarket WebSocket feeds at /ws/market and /ws/user (docs/wire/polymarket.md §8).

Market: after `{"assets_ids": [...], "type": "market", "initial_dump": true, "custom_feature_enabled": ...}` the
initial dump is one JSON array of `book` events whose `hash` is the REST `/book` hash of the same moment; then
`price_change` (each moved level's new total, "0" when gone) on places and cancels, `last_trade_price` and a fresh
`book` after trades, `tick_size_change`, and with custom features `best_bid_ask`. Live changes come as
`{"operation": "subscribe" | "unsubscribe", "assets_ids": [...]}`.
User: authenticated in its subscribe message by API key, secret and passphrase (a bad one is cut off, as the real
server does), for `markets` (condition ids; absent = all): `order` PLACEMENT / UPDATE / CANCELLATION and `trade`
at MATCHED and each later status (MINED, CONFIRMED; or RETRYING, FAILED).
Both: the text `PING` is answered `PONG`; a client silent for `feed.ping_timeout_s` (10 s) is dropped.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMessage, WSMsgType, web

from simulator.feed import FeedConnection, FeedHub, FeedSettings
from simulator.feed_faults import FeedFaults
from simulator.poly.auth import ApiKeys
from simulator.poly.book import summary
from simulator.poly.errors import default_fault_body
from simulator.poly.exchange import PolyExchange
from simulator.poly.feed_wire import (
    Levels,
    best,
    best_bid_ask_event,
    book_event,
    changes,
    last_trade_price_event,
    levels,
    order_event,
    price_change_event,
    tick_size_change_event,
    trade_event,
)
from simulator.poly.model import LIVE, MATCHED, Account, Market, Order, Trade

MARKET_PATH, USER_PATH = "/ws/market", "/ws/user"


class PolyConnection(FeedConnection):
    def __init__(self, hub: PolyFeed, conn_id: int, request: web.Request, ws: web.WebSocketResponse, channel: str):
        super().__init__(hub, conn_id, request, ws, channel)
        self.assets: set[str] = set()  # market channel: token ids
        self.custom = False  # custom_feature_enabled: best_bid_ask
        self.address: str | None = None  # user channel: the EOA of the authenticated API key
        self.markets: set[str] | None = None  # user channel: condition ids, None = all
        self.last_ping = asyncio.get_running_loop().time()

    def wants_user(self, address: str, condition_id: str) -> bool:
        return self.address == address and (self.markets is None or condition_id in self.markets)

    def describe(self) -> dict[str, Any]:
        extra = {"assets_ids": sorted(self.assets)} if self.channel == "market" else {"address": self.address}
        return super().describe() | extra


class PolyFeed(FeedHub):
    """The Polymarket listener's feeds: connections, subscriptions, and the engine's changes as events."""

    exchange = "poly"

    def __init__(self, exchange: PolyExchange, keys: ApiKeys, faults: FeedFaults, settings: FeedSettings) -> None:
        super().__init__(faults, settings)
        self.engine = exchange
        self.keys = keys
        self.streamed: dict[str, tuple[Levels, Levels]] = {}  # token -> the levels subscribers were last shown
        self._traded: set[str] = set()  # tokens that traded since their last book event
        self._announced: set[str] = set()  # orders a PLACEMENT went out for
        self._seen_trades: set[str] = set()
        exchange.listeners.append(self.on_event)

    def refusal(self, status: int) -> web.Response:
        content_type, body = default_fault_body(status)
        return web.Response(status=status, body=body, content_type=content_type)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(MARKET_PATH, self._market), web.get(USER_PATH, self._user), *super().routes()]

    # -- connections ---------------------------------------------------------------------------

    async def _market(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "market")

    async def _user(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "user")

    async def _serve(self, request: web.Request, channel: str) -> web.StreamResponse:
        refused = await self.upgrade_faults(channel)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = PolyConnection(self, self.next_id(), request, ws, channel)

        def on_message(message: WSMessage) -> None:
            if message.type == WSMsgType.TEXT:
                self._message(connection, message.data)

        return await self.serve(connection, on_message, self._watch(connection))

    async def _watch(self, connection: PolyConnection) -> None:
        """Drop a client whose last PING is older than the timeout."""
        timeout, loop = self.settings.ping_timeout_s, asyncio.get_running_loop()
        while not connection.closed:
            await asyncio.sleep(min(1.0, timeout / 4))
            if loop.time() - connection.last_ping > timeout:
                connection.drop()

    def _message(self, connection: PolyConnection, text: str) -> None:
        if text == "PING":
            connection.last_ping = asyncio.get_running_loop().time()
            connection.send("PONG", kind="PONG")
            return
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not isinstance(body, dict):
            return
        if connection.channel == "market":
            self._subscribe_market(connection, body)
        else:
            self._subscribe_user(connection, body)

    def _subscribe_market(self, connection: PolyConnection, body: dict[str, Any]) -> None:
        assets = body.get("assets_ids")
        if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
            return
        operation = body.get("operation", "subscribe")
        if operation == "unsubscribe":
            connection.assets -= set(assets)
            return
        if operation != "subscribe":
            return
        if "custom_feature_enabled" in body:
            connection.custom = body["custom_feature_enabled"] is True
        fresh = [a for a in dict.fromkeys(assets) if a in self.engine.tokens and a not in connection.assets]
        connection.assets |= set(fresh)
        dump = []
        for token_id in fresh:
            token = self.engine.tokens[token_id]
            rest = summary(self.engine.books[token_id], token, self.engine.clock.now_ms())
            self.streamed.setdefault(token_id, levels(rest))
            dump.append(book_event(rest))
        if dump and body.get("initial_dump", True) is not False:
            connection.send(dump, kind="book")

    def _subscribe_user(self, connection: PolyConnection, body: dict[str, Any]) -> None:
        markets = body.get("markets")
        if markets is not None and (not isinstance(markets, list) or not all(isinstance(m, str) for m in markets)):
            return
        operation = body.get("operation")
        if operation is not None:
            if connection.address is not None and markets:
                current = set(connection.markets or ())
                connection.markets = current | set(markets) if operation == "subscribe" else current - set(markets)
            return
        auth = body.get("auth")
        creds = self.keys.lookup(auth.get("apiKey", "")) if isinstance(auth, dict) else None
        if creds is None or not (
            hmac.compare_digest(str(auth.get("secret", "")), creds.secret)  # type: ignore[union-attr]
            and hmac.compare_digest(str(auth.get("passphrase", "")), creds.passphrase)  # type: ignore[union-attr]
        ):
            connection.drop()
            return
        connection.address = creds.address
        connection.markets = set(markets) if markets else None

    # -- engine announcements ------------------------------------------------------------------

    def on_event(self, kind: str, record: Any) -> None:
        if kind == "reset":
            self.drop_all()
            self.streamed.clear()
            self._traded.clear()
            self._announced.clear()
            self._seen_trades.clear()
            return
        handlers: dict[str, Callable[[Any], None]] = {
            "book": self._on_book,
            "trade": self._on_trade,
            "order": self._on_order,
            "tick_size": self._on_tick,
        }
        handlers[kind](record)

    def _market_subscribers(self, token_id: str) -> list[PolyConnection]:
        return [
            c
            for c in self.connections.values()
            if isinstance(c, PolyConnection) and c.channel == "market" and token_id in c.assets
        ]

    def _user_subscribers(self, address: str, condition_id: str) -> list[PolyConnection]:
        return [
            c
            for c in self.connections.values()
            if isinstance(c, PolyConnection) and c.channel == "user" and c.wants_user(address, condition_id)
        ]

    def _on_book(self, token_id: str) -> None:
        """A book moved: a full `book` after trades, else `price_change` for the levels that moved."""
        before = self.streamed.get(token_id)
        if before is None:
            return  # nobody has subscribed to this token: there is nothing to keep in step
        token = self.engine.tokens[token_id]
        rest = summary(self.engine.books[token_id], token, self.engine.clock.now_ms())
        after = self.streamed[token_id] = levels(rest)
        if token_id in self._traded:
            self._traded.discard(token_id)
            event = book_event(rest)
        else:
            moved = changes(before, after)
            if not moved:
                return
            event = price_change_event(token, rest, moved)
        subscribers = self._market_subscribers(token_id)
        for connection in subscribers:
            connection.send(event, kind=event["event_type"])
        if best(*before) != best(*after):
            top = best_bid_ask_event(token, rest)
            for connection in subscribers:
                if connection.custom:
                    connection.send(top, kind="best_bid_ask")

    def _on_trade(self, trade: Trade) -> None:
        token = trade.taker.token
        if trade.id not in self._seen_trades:
            self._seen_trades.add(trade.id)
            self._traded.add(token.token_id)
            event = last_trade_price_event(trade, self.engine.clock.now_ms())
            for connection in self._market_subscribers(token.token_id):
                connection.send(event, kind="last_trade_price")
        for account, owner in _parties(trade):
            connections = self._user_subscribers(account.address, token.market.condition_id)
            if connections:
                event = trade_event(trade, account, owner, self.engine.now())
                for connection in connections:
                    connection.send(event, kind="trade")

    def _on_order(self, order: Order) -> None:
        """PLACEMENT when an order first rests, UPDATE as it matches, CANCELLATION when it leaves the book;
        orders that never rested (matched or killed at once) are reported by their trades only."""
        if order.account is None:
            return
        if order.status == LIVE:
            kind = "UPDATE" if order.id in self._announced else "PLACEMENT"
            self._announced.add(order.id)
        elif order.id not in self._announced:
            return
        else:
            kind = "UPDATE" if order.status == MATCHED else "CANCELLATION"
        connections = self._user_subscribers(order.account.address, order.token.market.condition_id)
        if connections:
            event = order_event(order, kind, self.engine.now())
            for connection in connections:
                connection.send(event, kind="order")

    def _on_tick(self, record: tuple[Market, Any]) -> None:
        market, old = record
        for token_id in market.token_ids:
            event = tick_size_change_event(self.engine.tokens[token_id], old, self.engine.clock.now_ms())
            for connection in self._market_subscribers(token_id):
                connection.send(event, kind="tick_size_change")


def _parties(trade: Trade) -> list[tuple[Account, str]]:
    """(account, API key of its order in the trade) of every user on either side, once each."""
    parties: dict[str, tuple[Account, str]] = {}
    for order in [trade.taker, *(m.order for m in trade.makers)]:
        if order.account is not None:
            parties.setdefault(order.account.address, (order.account, order.owner))
    return list(parties.values())
