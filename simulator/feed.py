"""What both paper exchanges' WebSocket feeds share: one connection's ordered outbox with the feed faults applied,
the per-listener hub of connections, feed settings from the state file, and the `/__sim/feeds` admin routes.

Frames are queued synchronously from the engine's announcements (so a REST order's frames are queued before its
answer is sent, as on the real exchanges) and written by one task per connection, which keeps their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMessage, web

from .feed_faults import (
    CONNECTION_ACTIONS,
    UPGRADE_ACTIONS,
    FeedFault,
    FeedFaultError,
    FeedFaults,
    parse_feed_fault,
)
from .state import StateError

FEEDS_PATH = "/__sim/feeds"
GOING_AWAY = 1001
SERVICE_RESTART = 1012


@dataclass
class FeedSettings:
    """`<exchange>.feed` in the state file: keepalive timing and faults armed at start."""

    ping_interval_s: float = 10.0  # Kalshi: the server's Ping frames (payload "heartbeat")
    ping_timeout_s: float = 10.0  # Polymarket: a client whose last text PING is older is dropped
    faults: list[Any] = field(default_factory=list)


def parse_feed_settings(section: dict | None, where: str) -> FeedSettings:
    """The `feed` object of an exchange section (absent: the exchanges' real timings, no faults)."""
    spec = (section or {}).get("feed", {})
    if not isinstance(spec, dict):
        raise StateError(f"{where}.feed", "must be an object")
    unknown = sorted(set(spec) - {"ping_interval_s", "ping_timeout_s", "faults"})
    if unknown:
        raise StateError(f"{where}.feed", f"unknown field(s) {', '.join(unknown)}")
    settings = FeedSettings()
    for name in ("ping_interval_s", "ping_timeout_s"):
        value = spec.get(name, getattr(settings, name))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise StateError(f"{where}.feed.{name}", f"must be a number of seconds > 0, got {value!r}")
        setattr(settings, name, float(value))
    faults = spec.get("faults", [])
    if not isinstance(faults, list):
        raise StateError(f"{where}.feed.faults", "must be a list of fault objects")
    settings.faults = faults
    return settings


class FeedConnection:
    """One client's socket: frames queue in order and go out through the faults armed for them."""

    def __init__(self, hub: FeedHub, conn_id: int, request: web.Request, ws: web.WebSocketResponse, channel: str):
        self.hub = hub
        self.id = conn_id
        self.request = request
        self.ws = ws
        self.channel = channel  # Polymarket market / user; Kalshi's channels are per subscription
        self.closed = False
        self.sent = 0
        self._silence: FeedFault | None = None
        self._silent_until = 0.0
        self._outbox: asyncio.Queue[tuple[str | None, float, FeedFault | None]] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    @property
    def silent(self) -> bool:
        """Whether a `silent` fault holds this connection now."""
        if self._silence is None:
            return False
        if self._silence.duration_ms is None:
            lasting = self.hub.faults.active(self._silence)
        else:
            lasting = asyncio.get_running_loop().time() < self._silent_until
        if not lasting:
            self._silence = None
        return lasting

    def channels(self) -> set[str]:
        return {self.channel}

    def sids(self) -> set[int]:
        """The subscription ids on this connection (Kalshi's; none on Polymarket)."""
        return set()

    def apply(self, fault: FeedFault) -> None:
        """A connection fault: cut the connection, or go silent."""
        if fault.action == "drop":
            self.drop()
            return
        self._silence = fault
        self._silent_until = asyncio.get_running_loop().time() + (fault.duration_ms or 0) / 1000

    def send(self, frame: Any, channel: str | None = None, sid: int | None = None, kind: str | None = None) -> None:
        """Queue a frame (JSON-able object, or text) unless a fault says otherwise."""
        if self.closed or self.silent:
            return
        actions = ("duplicate", "delay", *CONNECTION_ACTIONS)
        fault = self.hub.faults.take(self.hub.exchange, actions, self.id, channel or self.channel, sid, kind)
        if fault is not None and fault.action in CONNECTION_ACTIONS:
            self._outbox.put_nowait((None, 0.0, fault))  # the frames before it still go out
            return
        text = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
        delay = fault.delay_ms / 1000 if fault is not None and fault.action == "delay" else 0.0
        for _ in range(2 if fault is not None and fault.action == "duplicate" else 1):
            self._outbox.put_nowait((text, delay, None))

    def skips_seq(self, channel: str, sid: int, kind: str) -> bool:
        """Whether a `skip_seq` fault takes this frame (it then goes out one seq later)."""
        return self.hub.faults.take(self.hub.exchange, ("skip_seq",), self.id, channel, sid, kind) is not None

    async def _write(self) -> None:
        while True:
            text, delay, fault = await self._outbox.get()
            if delay:
                await asyncio.sleep(delay)
            if fault is not None:
                self.apply(fault)
            if text is None or self.closed or self.silent:
                continue
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.drop()
                return
            self.sent += 1

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (what a network failure looks like)."""
        if self.closed:
            return
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self, code: int = GOING_AWAY) -> None:
        self.closed = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code)

    async def finish(self) -> None:
        """Stop the writer once the socket is done."""
        self.closed = True
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    def describe(self) -> dict[str, Any]:
        return {"connection": self.id, "channel": self.channel, "sent": self.sent, "silent": self.silent}


class FeedHub:
    """The open feed connections of one listener, and the feed faults that apply to them."""

    exchange = ""

    def __init__(self, faults: FeedFaults, settings: FeedSettings) -> None:
        self.faults = faults
        self.settings = settings
        self.connections: dict[int, FeedConnection] = {}
        self._ids = itertools.count(1)
        faults.arm_all(self.exchange, settings.faults, f"{self.exchange}.feed.faults")
        faults.watch(self.exchange, self.apply_now)

    def refusal(self, status: int) -> web.Response:
        """The exchange's answer to a refused upgrade."""
        raise NotImplementedError

    async def upgrade_faults(self, channel: str | None) -> web.Response | None:
        """A refused upgrade's answer, after any stall; None to go ahead."""
        fault = self.faults.take(self.exchange, UPGRADE_ACTIONS, channel=channel)
        if fault is not None and fault.action == "stall_upgrade":
            await asyncio.sleep(fault.delay_ms / 1000)
            return None
        return self.refusal(fault.status) if fault is not None else None

    async def serve(
        self,
        connection: FeedConnection,
        on_message: Callable[[WSMessage], None],
        keepalive: Coroutine[Any, Any, None],
    ) -> web.WebSocketResponse:
        """Hand the client's frames to `on_message` until it goes, with its keepalive task alongside."""
        self.connections[connection.id] = connection
        task = asyncio.create_task(keepalive)
        try:
            async for message in connection.ws:
                on_message(message)
        finally:
            task.cancel()
            self.connections.pop(connection.id, None)
            await connection.finish()
        return connection.ws

    def next_id(self) -> int:
        return next(self._ids)

    def apply_now(self, fault: FeedFault) -> None:
        """A just-armed drop or silent without `kind` hits the open connections it matches at once."""
        if fault.action not in CONNECTION_ACTIONS or fault.kind is not None:
            return
        for connection in list(self.connections.values()):
            if fault.times == 0:
                return
            sid = fault.sid if fault.sid in connection.sids() else None
            if any(fault.matches(connection.id, channel, sid, None) for channel in connection.channels()):
                self.faults.use(fault)
                connection.apply(fault)

    def drop_all(self) -> None:
        """After a reset every book a client holds is wrong: cut them all so they resubscribe."""
        for connection in list(self.connections.values()):
            connection.drop()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(FEEDS_PATH, self._list),
            web.get(FEEDS_PATH + "/faults", self._faults),
            web.post(FEEDS_PATH + "/faults", self._arm),
            web.delete(FEEDS_PATH + "/faults", self._clear),
        ]

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"connections": [c.describe() for c in self.connections.values()]})

    async def _faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": [f.describe() for f in self.faults.armed(self.exchange)]})

    async def _arm(self, request: web.Request) -> web.Response:
        try:
            fault = parse_feed_fault(self.exchange, orjson.loads(await request.read()))
        except orjson.JSONDecodeError:
            return web.json_response({"sim_error": f"POST {request.path}: body is not JSON"}, status=400)
        except FeedFaultError as exc:
            return web.json_response({"sim_error": f"POST {request.path}: {exc}"}, status=400)
        self.faults.arm(fault)
        return web.json_response({"armed": fault.describe()}, status=201)

    async def _clear(self, request: web.Request) -> web.Response:
        self.faults.clear(self.exchange)
        return web.json_response({"faults": []})
