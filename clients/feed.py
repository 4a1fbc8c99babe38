"""What both exchange feeds share: a WebSocket that stays up, and the feed's books, fills and event queue.

`FeedSocket` connects (asking its channel for fresh headers every time, so a Kalshi upgrade is signed on every
reconnect), lets the channel subscribe, answers server pings, sends the channel's text keepalive, notices silence
(books go stale after `stale_after` seconds without a frame; after `reconnect_after` it reconnects) and reconnects
with exponential backoff and jitter. A frame the channel cannot use is logged with the raw frame and reported as a
`FeedError` event, never raised. Only what retrying cannot fix stops a feed: refused credentials (AuthError) or an
answer the tradetape proxy made itself (ProxyAnswer); the feed then reports `FeedFailed` and `wait()` raises it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Coroutine, Hashable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp

from clients.book import BookView, LocalBook
from clients.errors import AuthError, ExchangeError, TradingError, TransportError, proxy_answer
from clients.feed_events import (
    BookInvalid,
    BookStale,
    BookUpdated,
    Connected,
    Disconnected,
    FeedError,
    FeedEvent,
    FeedFailed,
    UserFill,
)

log = logging.getLogger("clients.feed")

STALE_AFTER = 20.0  # two missed Kalshi heartbeats; two Polymarket PING/PONG rounds
CONNECT_TIMEOUT = 10.0
# Ids and frames a feed remembers to drop repeats, per kind. A repeat comes back within seconds (a frame sent
# twice, a resend around a reconnect); 10,000 is over a quarter of an hour at ten fills a second.
REMEMBERED = 10_000


class Recent:
    """The last `size` keys seen first, the oldest forgotten first: a repeat within that window is caught, and the
    memory stays bounded however long the feed runs."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._keys: dict[Hashable, None] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        if len(self._keys) > self.size:
            del self._keys[next(iter(self._keys))]

    def first_time(self, key: Hashable) -> bool:
        """True for a key not in the window (it is remembered from now), False for a repeat."""
        if key in self._keys:
            return False
        self.add(key)
        return True


class RecentFills(dict[str, UserFill]):
    """Fill id -> the fill, for the last `size` fills first seen (a status update keeps a fill's place)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: str, value: UserFill) -> None:
        super().__setitem__(key, value)
        if len(self) > self.size:
            del self[next(iter(self))]


class Channel(Protocol):
    """What a FeedSocket asks of the exchange-specific side of one connection."""

    name: str
    keepalive: str | None  # text sent every keepalive interval (Polymarket "PING"), or None

    def headers(self) -> dict[str, str]: ...
    async def opened(self, socket: FeedSocket) -> None: ...
    def received(self, text: str) -> None: ...
    def went_stale(self) -> None: ...
    def came_back(self) -> None: ...
    def closed(self, reason: str) -> None: ...


class FeedSocket:
    """One WebSocket kept up for one channel."""

    def __init__(
        self,
        feed: Feed,
        channel: Channel,
        url: str,
        *,
        keepalive_interval: float = 5.0,
    ) -> None:
        self.feed = feed
        self.channel = channel
        self.url = url
        self.keepalive_interval = keepalive_interval
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connections = 0
        self._last_frame = 0.0
        self._stale = False

    async def send(self, payload: Any) -> None:
        """Send a JSON command (or text) on the current connection; lost if it is down (resubscribe covers it)."""
        if self.ws is None or self.ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            if isinstance(payload, str):
                await self.ws.send_str(payload)
            else:
                await self.ws.send_json(payload)

    def restart(self, reason: str) -> None:
        """Drop the current connection so the run loop reconnects and resubscribes."""
        log.info("%s %s: reconnecting: %s", self.feed.exchange, self.channel.name, reason)
        if self.ws is not None and not self.ws.closed:
            self.feed.spawn(self.ws.close())

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff, until cancelled or a fatal error."""
        failures = refused = 0  # failures since the last healthy session; refused connects since the last one
        while True:
            try:
                ws = await self._connect()
            except (TransportError, ExchangeError) as exc:
                if isinstance(exc, AuthError):
                    raise
                failures, refused = failures + 1, refused + 1
                log.warning(
                    "%s %s: connect failed (%s), attempt %d", self.feed.exchange, self.channel.name, exc, refused
                )
                await self.feed.sleep(self.feed.backoff(failures))
                continue
            self.connections += 1
            self.feed.emit(Connected(self.feed.exchange, self.channel.name, refused + 1))
            refused = 0
            healthy = await self._serve(ws)
            failures = 0 if healthy else failures + 1
            await self.feed.sleep(self.feed.backoff(max(failures, 1)))

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        session = self.feed.session()
        try:
            return await asyncio.wait_for(
                session.ws_connect(self.url, headers=self.channel.headers(), autoping=False, heartbeat=None),
                self.feed.connect_timeout,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise _handshake_error(self.feed.exchange, exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{self.feed.exchange} feed {self.url}: {exc or type(exc).__name__}") from exc

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Subscribe and read until the connection ends; True for a healthy session: it delivered frames and lasted
        `stale_after` (one that dies at once resets no backoff, or a flapping server is hammered)."""
        self.ws, self._stale = ws, False
        loop = asyncio.get_running_loop()
        self._last_frame = opened_at = loop.time()
        delivered, reason = False, "closed by the exchange"
        tasks = [asyncio.create_task(self._watch(ws))]
        if self.channel.keepalive is not None:
            tasks.append(asyncio.create_task(self._keepalive(ws)))
        try:
            await self.channel.opened(self)
            async for message in ws:
                self._last_frame = loop.time()
                if self._stale:
                    self._stale = False
                    self.channel.came_back()
                if message.type == aiohttp.WSMsgType.TEXT:
                    delivered = True
                    self._receive(message.data)
                elif message.type == aiohttp.WSMsgType.PING:
                    await ws.pong(message.data)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    reason = f"error: {ws.exception()}"
        except (ConnectionError, aiohttp.ClientError) as exc:
            reason = f"connection lost: {exc}"
        finally:
            for task in tasks:
                task.cancel()
            await ws.close()
            self.ws = None
            self.channel.closed(reason)
            self.feed.emit(Disconnected(self.feed.exchange, self.channel.name, reason))
        return delivered and loop.time() - opened_at >= self.feed.stale_after

    def _receive(self, text: str) -> None:
        try:
            self.channel.received(text)
        except Exception as exc:  # a frame must never take the feed down
            self.feed.report(self.channel.name, f"frame not handled ({type(exc).__name__}: {exc})", text)

    async def _watch(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Mark the books stale after `stale_after` of silence; reconnect after `reconnect_after`."""
        loop = asyncio.get_running_loop()
        while not ws.closed:
            await asyncio.sleep(self.feed.stale_after / 4)
            silence = loop.time() - self._last_frame
            if silence >= self.feed.stale_after and not self._stale:
                self._stale = True
                self.channel.went_stale()
            if silence >= self.feed.reconnect_after:
                self.restart(f"silent for {silence:.1f} s")
                return

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(self.channel.keepalive or "")
            await asyncio.sleep(self.keepalive_interval)


def _handshake_error(exchange: str, exc: aiohttp.WSServerHandshakeError) -> TradingError:
    """A refused upgrade in the taxonomy: the proxy's own answers and 401/403 are fatal, the rest retried."""
    headers: Mapping[str, str] = exc.headers or {}
    proxy = proxy_answer(exc.status, headers, b"")
    if proxy is not None:
        return proxy
    message = f"{exchange} feed upgrade refused: HTTP {exc.status} {exc.message}"
    if exc.status in (401, 403):
        return AuthError(message, exchange=exchange, status=exc.status)
    return ExchangeError(message, exchange=exchange, status=exc.status)


class Feed:
    """Books, fills and the event queue of one exchange's feed, and the sockets that keep them current."""

    exchange = ""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        stale_after: float = STALE_AFTER,
        reconnect_after: float | None = None,
        backoff: float = 0.25,
        max_backoff: float = 30.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        book_events: bool = True,
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        remembered: int = REMEMBERED,
    ) -> None:
        self.stale_after = stale_after
        self.remembered = remembered
        self.reconnect_after = reconnect_after if reconnect_after is not None else 3 * stale_after
        self.connect_timeout = connect_timeout
        self.book_events = book_events
        self.events: asyncio.Queue[FeedEvent] = asyncio.Queue()
        self.books: dict[str, LocalBook] = {}
        self.book_updates: Counter[str] = Counter()  # market -> snapshots and changes applied to its book so far
        self.fills: dict[str, UserFill] = RecentFills(remembered)  # fill id -> the fill, while it stands
        self.malformed = 0
        self.error: BaseException | None = None
        self._session = session
        self._owns_session = session is None
        self._backoff, self._max_backoff = backoff, max_backoff
        self._rng = rng or random.Random()
        self.sleep = sleep
        self._sockets: list[FeedSocket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def start(self) -> None:
        for socket in self._sockets:
            task = asyncio.create_task(socket.run())
            task.add_done_callback(self._ended)
            self._tasks.append(task)

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, TradingError):
                await task
        self._tasks.clear()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Feed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self.error = task.exception()
        log.error("%s feed stopped: %s", self.exchange, self.error)
        self.emit(FeedFailed(self.exchange, self.error))  # type: ignore[arg-type]

    async def wait(self) -> None:
        """Run until stopped; raises the error that stopped the feed, if one did."""
        await asyncio.gather(*self._tasks)

    def backoff(self, failures: int) -> float:
        """Exponential in the failures so far, capped, with jitter (half to all of it)."""
        ceiling = min(self._max_backoff, self._backoff * 2.0 ** (failures - 1))
        return ceiling * (0.5 + self._rng.random() / 2)

    # -- books ---------------------------------------------------------------------------------

    def book(self, market: str) -> BookView | None:
        """The current book, or None while there is none the feed trusts (not yet snapshotted, or known wrong)."""
        local = self.books.get(market)
        return local.view() if local is not None and local.valid else None

    def local(self, market: str) -> LocalBook:
        return self.books.setdefault(market, LocalBook(self.exchange, market))

    def updated(self, market: str) -> None:
        """A snapshot or change was applied to `market`'s book: counted, and announced."""
        self.book_updates[market] += 1
        if self.book_events:
            self.emit(BookUpdated(self.exchange, market))
        self.changed()

    def invalidate(self, markets: Iterable[str], reason: str) -> None:
        for market in markets:
            book = self.local(market)
            if book.valid:
                book.invalidate()
                log.warning("%s %s: book invalid: %s", self.exchange, market, reason)
                self.emit(BookInvalid(self.exchange, market, reason))
        self.changed()

    def mark_stale(self, markets: Iterable[str]) -> None:
        for market in markets:
            book = self.local(market)
            if not book.stale:
                book.stale = True
                self.emit(BookStale(self.exchange, market))
        self.changed()

    # -- events --------------------------------------------------------------------------------

    def emit(self, event: FeedEvent) -> None:
        self.events.put_nowait(event)
        self.changed()

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds (checked after every change the feed makes); bound it with
        `asyncio.wait_for` or `asyncio.timeout`."""
        while not condition():
            await self._changed.wait()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background, holding a reference until it is done."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def report(self, channel: str, problem: str, raw: Any) -> None:
        """A frame the feed cannot use: logged with the raw frame, counted, and put on the queue."""
        self.malformed += 1
        log.warning("%s %s: %s; raw frame: %s", self.exchange, channel, problem, raw)
        self.emit(FeedError(self.exchange, channel, problem, raw))
