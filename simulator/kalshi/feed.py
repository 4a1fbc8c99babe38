"""The paper Kalshi WebSocket feed at /trade-api/ws/v2 (docs/wire/kalshi.md §8).

The upgrade is signed like a REST request (timestamp + GET + path) and refused with Kalshi's 401 bodies otherwise.
Commands carry an `id` and are answered `subscribed` / `unsubscribed` / `ok` / `error` with the AsyncAPI's codes.
Every frame comes from the engine's announcements, so the streamed book is the REST book: an order placed over
REST queues its `orderbook_delta`, `fill`, `user_order`, `market_position` and `trade` frames before its answer
is sent. `seq` counts per `sid` from 1 on the sequenced channels (orderbook_delta, trade). The server sends Ping
frames with payload `heartbeat` every `feed.ping_interval_s` (10 s) and answers the client's pings.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMessage, WSMsgType, web

from simulator.feed import FeedConnection, FeedHub, FeedSettings
from simulator.feed_faults import FeedFaults
from simulator.kalshi.auth import authenticate
from simulator.kalshi.errors import default_fault_body
from simulator.kalshi.exchange import Event, KalshiSim
from simulator.kalshi.feed_wire import (
    delta_msg,
    fill_msg,
    position_msg,
    snapshot_msg,
    ticker_msg,
    trade_msg,
    user_order_msg,
)
from simulator.kalshi.model import ZERO

WS_PATH = "/trade-api/ws/v2"
CHANNELS = ("orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions")
SEQUENCED = ("orderbook_delta", "trade")
ACTIONS = ("add_markets", "delete_markets", "get_snapshot")
# AsyncAPI error codes; wording from its examples where there is one, else the code's documented meaning.
MESSAGES = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Sids required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Action not supported",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found",
}


class CommandError(Exception):
    """A command the feed refuses: the AsyncAPI error code plus any fields the error frame adds."""

    def __init__(self, code: int, **extra: Any) -> None:
        super().__init__(MESSAGES[code])
        self.code = code
        self.extra = extra


def error_frame(command_id: int, code: int, **extra: Any) -> dict[str, Any]:
    return {"id": command_id, "type": "error", "msg": {"code": code, "msg": MESSAGES[code], **extra}}


@dataclass
class Subscription:
    sid: int
    channel: str
    tickers: list[str] | None  # None: every market
    use_yes_price: bool = False
    seq: int = 0

    def covers(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers

    def add(self, tickers: list[str] | None) -> list[str] | None:
        """Merge markets in (a repeated subscribe merges); returns the ones new to it (None: every market)."""
        if self.tickers is None:
            return []
        if tickers is None:
            self.tickers = None
            return None
        added = [t for t in tickers if t not in self.tickers]
        self.tickers += added
        return added


class KalshiConnection(FeedConnection):
    def __init__(self, hub: KalshiFeed, conn_id: int, request: web.Request, ws: web.WebSocketResponse, account: str):
        super().__init__(hub, conn_id, request, ws, "")
        self.account = account
        self.subs: dict[int, Subscription] = {}
        self._next_sid = 1

    def channels(self) -> set[str]:
        return {sub.channel for sub in self.subs.values()} | {""}

    def sids(self) -> set[int]:
        return set(self.subs)

    def sub(self, channel: str, ticker: str | None = None) -> Subscription | None:
        """This connection's subscription to `channel` (one per channel: repeats merge) covering `ticker`."""
        for sub in self.subs.values():
            if sub.channel == channel and (ticker is None or sub.covers(ticker)):
                return sub
        return None

    def new_sub(self, channel: str, tickers: list[str] | None, use_yes_price: bool) -> Subscription:
        sub = Subscription(self._next_sid, channel, tickers, use_yes_price)
        self.subs[sub.sid] = sub
        self._next_sid += 1
        return sub

    def reply(self, frame: dict[str, Any]) -> None:
        self.send(frame, kind=frame["type"])

    def data(self, sub: Subscription, kind: str, msg: dict[str, Any]) -> None:
        """One data frame of `sub`; on the sequenced channels it takes the sid's next seq."""
        frame: dict[str, Any] = {"type": kind, "sid": sub.sid}
        if sub.channel in SEQUENCED:
            sub.seq += 2 if self.skips_seq(sub.channel, sub.sid, kind) else 1
            frame["seq"] = sub.seq
        frame["msg"] = msg
        self.send(frame, sub.channel, sub.sid, kind)

    def describe(self) -> dict[str, Any]:
        subs = [
            {"sid": s.sid, "channel": s.channel, "market_tickers": s.tickers, "seq": s.seq} for s in self.subs.values()
        ]
        return super().describe() | {"account": self.account, "subscriptions": subs}


class KalshiFeed(FeedHub):
    """The Kalshi listener's feed: its connections, their commands, and the engine's changes as frames."""

    exchange = "kalshi"

    def __init__(self, sim: KalshiSim, faults: FeedFaults, settings: FeedSettings) -> None:
        super().__init__(faults, settings)
        self.sim = sim
        self._tickers_sent: dict[str, dict[str, Any]] = {}
        self._tickers_due: set[str] = set()
        self._commands = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "update_subscription": self._update,
            "list_subscriptions": self._list_subscriptions,
        }
        sim.on_event(self.on_event)

    def refusal(self, status: int) -> web.Response:
        return web.json_response(default_fault_body(status), status=status)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(WS_PATH, self.handle), *super().routes()]

    # -- connections ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Check the signed upgrade (KalshiError -> the 401 body), then serve commands until the client goes."""
        refused = await self.upgrade_faults(None)
        if refused is not None:
            return refused
        account = authenticate(request, self.sim.exchange, self.sim.clock.now_ms())
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = KalshiConnection(self, self.next_id(), request, ws, account)

        def on_message(message: WSMessage) -> None:
            if message.type == WSMsgType.TEXT:
                self.command(connection, message.data)
            else:
                connection.reply(error_frame(0, 1))

        return await self.serve(connection, on_message, self._ping(connection))

    async def _ping(self, connection: KalshiConnection) -> None:
        while not connection.closed:
            await asyncio.sleep(self.settings.ping_interval_s)
            if not connection.silent and not connection.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await connection.ws.ping(b"heartbeat")

    # -- commands ------------------------------------------------------------------------------

    def command(self, connection: KalshiConnection, text: str) -> None:
        try:
            command = orjson.loads(text)
        except orjson.JSONDecodeError:
            connection.reply(error_frame(0, 1))
            return
        command_id = command.get("id", 0) if isinstance(command, dict) else 0
        if isinstance(command_id, bool) or not isinstance(command_id, int):
            command_id = 0
        if not isinstance(command, dict):
            connection.reply(error_frame(command_id, 1))
            return
        handler = self._commands.get(command.get("cmd"))  # type: ignore[arg-type]
        try:
            if handler is None:
                raise CommandError(5)
            handler(connection, command_id, command.get("params"))
        except CommandError as exc:
            connection.reply(error_frame(command_id, exc.code, **exc.extra))

    def _tickers(self, params: dict[str, Any]) -> list[str] | None:
        """`market_ticker` and/or `market_tickers`, all known (16 names the first unknown); None when neither."""
        one, many = params.get("market_ticker"), params.get("market_tickers")
        if (one is not None and not isinstance(one, str)) or (
            many is not None and (not isinstance(many, list) or not all(isinstance(t, str) for t in many))
        ):
            raise CommandError(11)
        tickers = ([one] if one else []) + (many or [])
        for ticker in tickers:
            if ticker not in self.sim.exchange.markets:
                raise CommandError(16, market_ticker=ticker)
        return list(dict.fromkeys(tickers)) or None

    def _subscribe(self, connection: KalshiConnection, command_id: int, params: Any) -> None:
        params = _params(params)
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise CommandError(3)
        if not all(channel in CHANNELS for channel in channels):
            raise CommandError(8)
        tickers = self._tickers(params)
        if tickers is None and "orderbook_delta" in channels:
            raise CommandError(14)
        use_yes_price = params.get("use_yes_price", False)
        if not isinstance(use_yes_price, bool):
            raise CommandError(11)
        for channel in dict.fromkeys(channels):
            sub = connection.sub(channel)
            if sub is None:
                sub, added = connection.new_sub(channel, tickers, use_yes_price), tickers
            else:
                added = sub.add(tickers)
            connection.reply({"type": "subscribed", "id": command_id, "msg": {"channel": channel, "sid": sub.sid}})
            self._initial(connection, sub, added, params.get("send_initial_snapshot") is True)

    def _initial(
        self, connection: KalshiConnection, sub: Subscription, tickers: list[str] | None, ticker: bool
    ) -> None:
        """Snapshots for markets new to a subscription (orderbook_delta; ticker with send_initial_snapshot)."""
        exchange = self.sim.exchange
        chosen = list(exchange.markets) if tickers is None else tickers
        if sub.channel == "orderbook_delta":
            for name in chosen:
                connection.data(sub, "orderbook_snapshot", snapshot_msg(name, exchange.books[name], sub.use_yes_price))
        elif sub.channel == "ticker" and ticker:
            for name in chosen:
                connection.data(sub, "ticker", ticker_msg(exchange, exchange.markets[name], exchange.now()))

    def _unsubscribe(self, connection: KalshiConnection, command_id: int, params: Any) -> None:
        sids = _params(params).get("sids")
        if not isinstance(sids, list) or not sids:
            raise CommandError(4)
        if not all(isinstance(sid, int) and not isinstance(sid, bool) for sid in sids):
            raise CommandError(11)
        for sid in sids:
            if sid not in connection.subs:
                raise CommandError(7)
        for sid in dict.fromkeys(sids):
            sub = connection.subs.pop(sid)
            connection.reply({"type": "unsubscribed", "id": command_id, "sid": sid, "seq": sub.seq})

    def _update(self, connection: KalshiConnection, command_id: int, params: Any) -> None:
        params = _params(params)
        sids = params.get("sids", [params["sid"]] if "sid" in params else None)
        if not isinstance(sids, list) or len(sids) != 1 or not isinstance(sids[0], int):
            raise CommandError(12)
        sub = connection.subs.get(sids[0])
        if sub is None:
            raise CommandError(7)
        action = params.get("action")
        if action is None:
            raise CommandError(15)
        if action not in ACTIONS or (action == "get_snapshot" and sub.channel != "orderbook_delta"):
            raise CommandError(13)
        tickers = self._tickers(params)
        if tickers is None and action != "get_snapshot":
            raise CommandError(14)
        if action == "get_snapshot":
            fresh = [t for t in (tickers or sub.tickers or []) if sub.covers(t)]
        elif action == "add_markets":
            fresh = sub.add(tickers) or []
        else:
            sub.tickers = [t for t in sub.tickers or [] if t not in (tickers or [])]
            fresh = []
        frame = {"id": command_id, "sid": sub.sid, "seq": sub.seq, "type": "ok"}
        connection.reply(frame | {"msg": {"market_tickers": list(sub.tickers or [])}})
        self._initial(connection, sub, fresh, False)

    def _list_subscriptions(self, connection: KalshiConnection, command_id: int, params: Any) -> None:
        subs = [{"channel": s.channel, "sid": s.sid} for s in connection.subs.values()]
        connection.reply({"id": command_id, "type": "list_subscriptions", "msg": {"subscriptions": subs}})

    # -- engine announcements ------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if event.kind == "reset":
            self.drop_all()
            self._tickers_sent.clear()
        elif self.connections:
            getattr(self, f"_on_{event.kind}")(event.data)

    def _subscribed(
        self, channel: str, ticker: str, account: str | None = None
    ) -> list[tuple[KalshiConnection, Subscription]]:
        """(connection, subscription) pairs that want `channel` frames about `ticker` (private: `account`'s only)."""
        pairs = []
        for connection in self.connections.values():
            assert isinstance(connection, KalshiConnection)
            sub = connection.sub(channel, ticker)
            if sub is not None and (account is None or connection.account == account) and not connection.closed:
                pairs.append((connection, sub))
        return pairs

    def _on_book(self, data: dict[str, Any]) -> None:
        now, order = self.sim.exchange.now(), data["order"]
        for connection, sub in self._subscribed("orderbook_delta", data["ticker"]):
            own = order if order.account == connection.account and not data["traded"] else None
            connection.data(sub, "orderbook_delta", delta_msg(data, sub.use_yes_price, now, own))
        self._ticker(data["ticker"])

    def _on_fill(self, data: dict[str, Any]) -> None:
        exchange, fill = self.sim.exchange, data["fill"]
        pairs = self._subscribed("fill", fill.ticker, fill.account)
        if pairs:
            post = exchange.accounts[fill.account].positions[fill.ticker].position
            msg = fill_msg(fill, exchange.orders.get(fill.order_id), post)
            for connection, sub in pairs:
                connection.data(sub, "fill", msg)
        if fill.is_taker:
            trade = trade_msg(fill)
            for connection, sub in self._subscribed("trade", fill.ticker):
                connection.data(sub, "trade", trade)
            self._ticker(fill.ticker)

    def _on_order(self, data: dict[str, Any]) -> None:
        order = data["order"]
        pairs = self._subscribed("user_orders", order.ticker, order.account)
        if pairs:
            msg = user_order_msg(order, self.sim.exchange.accounts[order.account])
            for connection, sub in pairs:
                connection.data(sub, "user_order", msg)

    def _on_position(self, data: dict[str, Any]) -> None:
        exchange, ticker = self.sim.exchange, data["ticker"]
        pairs = self._subscribed("market_positions", ticker, data["account"])
        if pairs:
            account = exchange.accounts[data["account"]]
            volume = sum((f.count for f in exchange.fills if f.account == account.name and f.ticker == ticker), ZERO)
            msg = position_msg(account, ticker, data["position"], volume)
            for connection, sub in pairs:
                connection.data(sub, "market_position", msg)

    def _ticker(self, ticker: str) -> None:
        """Schedule a `ticker` check for after the engine's current operation (mid-match the book is half done)."""
        if not self._subscribed_any("ticker"):
            return
        if not self._tickers_due:
            asyncio.get_running_loop().call_soon(self._send_tickers)
        self._tickers_due.add(ticker)

    def _subscribed_any(self, channel: str) -> bool:
        return any(c.sub(channel) for c in self.connections.values() if isinstance(c, KalshiConnection))

    def _send_tickers(self) -> None:
        """A `ticker` frame for each market whose price, top of book, volume or open interest moved."""
        due, self._tickers_due = self._tickers_due, set()
        exchange = self.sim.exchange
        for ticker in due:
            pairs = self._subscribed("ticker", ticker)
            if not pairs or ticker not in exchange.markets:
                continue
            msg = ticker_msg(exchange, exchange.markets[ticker], exchange.now())
            state = {k: v for k, v in msg.items() if k not in ("ts", "ts_ms", "time")}
            if self._tickers_sent.get(ticker) == state:
                continue
            self._tickers_sent[ticker] = state
            for connection, sub in pairs:
                connection.data(sub, "ticker", msg)


def _params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise CommandError(2)
    return params
