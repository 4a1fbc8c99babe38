"""Kalshi's WebSocket feed (docs/wire/kalshi.md §8): live books for given markets and the user's fills, orders and
positions, over one signed connection that stays up.

The upgrade is signed (timestamp + GET + path) on every connect. Books come as an `orderbook_snapshot` then
`orderbook_delta`s; the feed asks for `use_yes_price` (unless told not to) so the NO side arrives as YES asks.
`seq` is checked per `sid`: a duplicate is dropped, a gap invalidates the sid's books and asks for
`get_snapshot` (reconnecting if that is refused or never answered), so a book the feed knows is wrong is never
handed out. Fills are deduplicated by trade id, order and position updates by content.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from clients.book import ASK, BID
from clients.feed import Feed, FeedSocket, Recent
from clients.feed_events import PositionUpdate, Quote, TradePrint, UserFill, UserOrder
from clients.kalshi.auth import auth_headers, env_credentials, load_private_key
from clients.kalshi.orders import ONE, outcome_price
from clients.kalshi.parse import (
    count,
    dollars,
    items,
    number,
    obj,
    optional_dollars,
    order_result_from_order,
    parse_fill,
    text,
    unexpected,
)

DEFAULT_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
USER_CHANNELS = ["fill", "user_orders", "market_positions"]
RESYNC_TIMEOUT = 5.0  # seconds a get_snapshot may take before the feed reconnects instead

Levels = list[tuple[Decimal, Decimal]]


def parse_snapshot(msg: Any, use_yes_price: bool) -> tuple[str, Levels, Levels]:
    """(ticker, YES bids, YES asks) of an `orderbook_snapshot` msg; NO bids become YES asks at 1 - price unless
    the subscription asked for `use_yes_price` (then they already are YES prices)."""
    where = "orderbook_snapshot"
    o = obj(msg, where)
    sides = []
    for key in ("yes_dollars_fp", "no_dollars_fp"):
        levels = []
        for level in items(o, where, key):
            if not isinstance(level, list) or len(level) != 2:
                raise unexpected(where, f"{key} level {level!r} is not [price, count]", o)
            levels.append((number(level[0], where, key, o), number(level[1], where, key, o)))
        sides.append(levels)
    yes, no = sides
    asks = no if use_yes_price else [(ONE - price, size) for price, size in no]
    return text(o, where, "market_ticker"), yes, asks


def parse_delta(msg: Any, use_yes_price: bool) -> tuple[str, str, Decimal, Decimal]:
    """(ticker, book side, YES price, signed change) of an `orderbook_delta` msg."""
    where = "orderbook_delta"
    o = obj(msg, where)
    side = text(o, where, "side")
    price = dollars(o, where, "price_dollars")
    change = count(o, where, "delta_fp")
    if side == "yes":
        return text(o, where, "market_ticker"), BID, price, change
    if side != "no":
        raise unexpected(where, f"field 'side' is {side!r}, not yes/no", o)
    return text(o, where, "market_ticker"), ASK, price if use_yes_price else ONE - price, change


def parse_user_fill(msg: Any) -> UserFill:
    fill = parse_fill(msg, "fill")
    is_taker = fill.is_taker if isinstance(fill.is_taker, bool) else None
    return UserFill(
        exchange="kalshi",
        fill_id=fill.fill_id,
        order_id=fill.order_id,
        market=fill.ticker,
        side="BUY",  # Kalshi books every fill as a purchase of its outcome
        outcome=fill.outcome,
        price=fill.price,
        size=fill.count,
        fee=fill.fee,
        is_taker=is_taker,
        status=None,
        raw=msg,
    )


def parse_user_order(msg: Any) -> UserOrder:
    where = "user_order"
    result = order_result_from_order(msg, where)
    o = obj(msg, where)
    outcome = text(o, where, "outcome_side", "side")
    yes_price = dollars(o, where, "yes_price_dollars")
    return UserOrder(
        exchange="kalshi",
        order_id=result.order_id,
        market=text(o, where, "ticker", "market_ticker"),
        status=result.status,
        side=outcome,
        price=outcome_price(outcome, yes_price),
        filled=result.filled,
        remaining=result.remaining,
        kind=None,
        raw=msg,
    )


def parse_position_update(msg: Any) -> PositionUpdate:
    where = "market_position"
    o = obj(msg, where)
    position = count(o, where, "position_fp")
    return PositionUpdate(
        "kalshi",
        text(o, where, "market_ticker"),
        position,
        optional_dollars(o, where, "realized_pnl_dollars"),
        optional_dollars(o, where, "fees_paid_dollars"),
        raw=msg,
    )


def parse_trade(msg: Any) -> TradePrint:
    where = "trade"
    o = obj(msg, where)
    side = text(o, where, "taker_outcome_side", "taker_side")
    yes_price, size = dollars(o, where, "yes_price_dollars"), count(o, where, "count_fp")
    return TradePrint("kalshi", text(o, where, "market_ticker"), yes_price, size, side, raw=msg)


def parse_ticker(msg: Any) -> Quote:
    """A `ticker` msg: YES-leg best bid and ask and the last trade price."""
    where = "ticker"
    o = obj(msg, where)
    return Quote(
        "kalshi",
        text(o, where, "market_ticker"),
        dollars(o, where, "yes_bid_dollars"),
        dollars(o, where, "yes_ask_dollars"),
        dollars(o, where, "price_dollars"),
        raw=msg,
    )


class KalshiFeed(Feed):
    """Books for `markets` and (with `user`) the key's fills, orders and positions. `async with` runs it."""

    exchange = "kalshi"
    name: str = "kalshi"
    keepalive: str | None = None  # the server pings; the socket answers

    def __init__(
        self,
        url: str | None = None,
        key_id: str | None = None,
        private_key: rsa.RSAPrivateKey | bytes | str | None = None,
        *,
        markets: Iterable[str] = (),
        user: bool = True,
        trades: bool = False,
        clock: Callable[[], float] = time.time,
        resync_timeout: float = RESYNC_TIMEOUT,
        use_yes_price: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if key_id is None or private_key is None:
            raise ValueError("the Kalshi feed needs key_id and private_key: its upgrade is signed like a request")
        self.url = url or DEFAULT_WS_URL
        parsed = URL(self.url)
        if parsed.scheme not in ("ws", "wss") or not parsed.host:
            raise ValueError(f"Kalshi feed URL must be ws:// or wss://, got {self.url!r}")
        self._path = parsed.path
        self.key_id = key_id
        self._private_key = load_private_key(private_key)
        self.markets = list(dict.fromkeys(markets))
        self.user, self.trades = user, trades
        self.use_yes_price = use_yes_price  # NO levels as YES asks (Kalshi's announced default); False: NO-leg prices
        self.resync_timeout = resync_timeout
        self.duplicates = 0
        self._clock = clock
        self._socket = FeedSocket(self, self, self.url)
        self._sockets.append(self._socket)
        self._remembered = Recent(self.remembered)
        self._handlers: dict[str, Callable[[dict[str, Any], str], None]] = {
            "subscribed": self._subscribed,
            "error": self._error,
            "orderbook_snapshot": self._snapshot,
            "orderbook_delta": self._delta,
            "trade": self._trade,
            "fill": self._fill,
            "user_order": self._user_order,
            "market_position": self._position,
            "ticker": self._quote,
            "order_group_updates": _ignore,  # order groups are not used by this client
            "ok": _ignore,
            "unsubscribed": _ignore,
            "list_subscriptions": _ignore,
        }
        self._new_session()

    @classmethod
    def from_env(cls, markets: Iterable[str] = (), **options: Any) -> KalshiFeed:
        """KALSHI_WS_URL (default production), KALSHI_API_KEY_ID, KALSHI_PRIVATE_KEY_PATH or KALSHI_PRIVATE_KEY."""
        key_id, pem = env_credentials()
        return cls(os.environ.get("KALSHI_WS_URL") or None, key_id, pem, markets=markets, **options)

    def _new_session(self) -> None:
        """Per-connection state: sids and their seqs start over on every connection."""
        self._next_id = 0
        self._book_sid: int | None = None
        self._seq: dict[int, int] = {}
        self._snapshot_commands: set[int] = set()
        self._awaiting: set[str] = set()  # markets whose get_snapshot is in flight

    # -- the Channel side of the socket --------------------------------------------------------

    def headers(self) -> dict[str, str]:
        return auth_headers(self.key_id, self._private_key, "GET", self._path, int(self._clock() * 1000))

    async def opened(self, socket: FeedSocket) -> None:
        self._new_session()
        if self.markets:
            channels = ["orderbook_delta", *(["trade"] if self.trades else [])]
            params = {"channels": channels, "market_tickers": self.markets, "use_yes_price": self.use_yes_price}
            await self._command("subscribe", params)
        if self.user:
            await self._command("subscribe", {"channels": USER_CHANNELS})

    def received(self, raw: str) -> None:
        frame = orjson.loads(raw)
        kind = frame.get("type") if isinstance(frame, dict) else None
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            self.report(self.name, f"unknown frame type {kind!r}", raw)
            return
        handler(frame, raw)

    def went_stale(self) -> None:
        self.mark_stale(self.markets)

    def came_back(self) -> None:
        """Frames flow again: whatever the silence hid, fresh snapshots replace the stale books."""
        self._request_snapshots(self.markets)

    def closed(self, reason: str) -> None:
        self.mark_stale(self.markets)

    # -- commands ------------------------------------------------------------------------------

    async def _command(self, cmd: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        await self._socket.send({"id": self._next_id, "cmd": cmd, "params": params})
        return self._next_id

    def _request_snapshots(self, markets: Iterable[str]) -> None:
        """get_snapshot for `markets` not already asked for; reconnect if it does not come in time."""
        wanted = [m for m in markets if m not in self._awaiting]
        if not wanted or self._book_sid is None:
            return
        self._awaiting.update(wanted)
        params = {"sids": [self._book_sid], "market_tickers": wanted, "action": "get_snapshot"}
        session = self._socket.connections

        async def request() -> None:
            self._snapshot_commands.add(await self._command("update_subscription", params))
            await asyncio.sleep(self.resync_timeout)
            if self._socket.connections == session and self._awaiting & set(wanted):
                self._socket.restart("get_snapshot was not answered")

        self.spawn(request())

    def _resync(self, markets: Iterable[str], reason: str) -> None:
        markets = list(markets)
        self.invalidate(markets, reason)
        self._request_snapshots(markets)

    # -- frames --------------------------------------------------------------------------------

    def _subscribed(self, frame: dict[str, Any], raw: str) -> None:
        msg = obj(frame, "subscribed", "msg")
        if msg.get("channel") == "orderbook_delta" and isinstance(msg.get("sid"), int):
            self._book_sid = msg["sid"]

    def _error(self, frame: dict[str, Any], raw: str) -> None:
        msg = obj(frame, "error", "msg")
        if frame.get("id") in self._snapshot_commands:
            self._socket.restart("get_snapshot refused")
        self.report(self.name, f"command {frame.get('id')} refused: code {msg.get('code')} {msg.get('msg')}", raw)

    def _in_sequence(self, frame: dict[str, Any]) -> bool:
        """False for a frame already seen; a gap on the book sid invalidates its books and resyncs them."""
        sid, seq = frame.get("sid"), frame.get("seq")
        if not isinstance(sid, int) or not isinstance(seq, int):
            raise unexpected(str(frame.get("type")), "sid or seq missing", frame)
        last = self._seq.get(sid)
        if last is not None and seq <= last:
            self.duplicates += 1
            return False
        self._seq[sid] = seq
        if last is not None and seq != last + 1 and sid == self._book_sid:
            self._resync(self.markets, f"seq gap on sid {sid}: expected {last + 1}, got {seq}")
        return True

    def _snapshot(self, frame: dict[str, Any], raw: str) -> None:
        if not self._in_sequence(frame):
            return
        ticker, bids, asks = parse_snapshot(frame.get("msg"), self.use_yes_price)
        self._awaiting.discard(ticker)
        self.local(ticker).replace(bids, asks)
        self.updated(ticker)

    def _delta(self, frame: dict[str, Any], raw: str) -> None:
        if not self._in_sequence(frame):
            return
        try:
            ticker, side, price, change = parse_delta(frame.get("msg"), self.use_yes_price)
        except Exception:
            self._resync(self.markets, "unreadable orderbook_delta")
            raise
        book = self.local(ticker)
        if not book.valid:
            return  # a snapshot is on its way and will include this change
        try:
            book.add(side, price, change)
        except Exception as exc:
            self._resync([ticker], str(exc))
            return
        self.updated(ticker)

    def _trade(self, frame: dict[str, Any], raw: str) -> None:
        if self._in_sequence(frame):
            self.emit(parse_trade(frame.get("msg")))

    def _quote(self, frame: dict[str, Any], raw: str) -> None:
        self.emit(parse_ticker(frame.get("msg")))

    def _fill(self, frame: dict[str, Any], raw: str) -> None:
        fill = parse_user_fill(frame.get("msg"))
        if fill.fill_id in self.fills:
            self.duplicates += 1
            return
        self.fills[fill.fill_id] = fill
        self.emit(fill)

    def _user_order(self, frame: dict[str, Any], raw: str) -> None:
        if self._first_time(frame):
            self.emit(parse_user_order(frame.get("msg")))

    def _position(self, frame: dict[str, Any], raw: str) -> None:
        if self._first_time(frame):
            self.emit(parse_position_update(frame.get("msg")))

    def _first_time(self, frame: dict[str, Any]) -> bool:
        """Order and position frames carry no id of their own: a repeat is one with the same content."""
        key = orjson.dumps(frame.get("msg"), option=orjson.OPT_SORT_KEYS)
        if self._remembered.first_time(key):
            return True
        self.duplicates += 1
        return False


def _ignore(frame: dict[str, Any], raw: str) -> None:
    """Replies the feed needs nothing from."""
