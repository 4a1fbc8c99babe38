"""Shared pieces of the WebSocket proxy tests: a scripted exchange feed on loopback, and reading a session's frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from proxy.admin.auth import TOKEN_HEADER
from proxy.engine.mode import Mode
from proxy.engine.proxy import Proxy
from proxy.tape.fixture import fixture_name, load_fixture, session_files
from proxy.tape.frames import frames_file_name, frames_file_of, read_frames
from tests.proxy_helpers import running_proxy
from tests.replay_helpers import replaying

PATIENCE = 10.0  # seconds a test waits for something that should happen at once (a safety net, never asserted)
PAD = "x" * 150  # makes a burst frame about 200 bytes of JSON


@dataclass
class Heard:
    """What the scripted exchange saw on one connection."""

    path: str
    headers: dict[str, str]
    messages: list[str | bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    pongs: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def closed(self) -> Heard:
        await asyncio.wait_for(self.ended.wait(), PATIENCE)
        return self


@dataclass
class Exchange:
    url: str  # http://127.0.0.1:PORT, as a proxy upstream
    connections: list[Heard]
    pinged: asyncio.Event


async def _serve(ws: ServerConnection, heard: list[Heard], pinged: asyncio.Event) -> None:
    """Echo every message; a few texts are commands: fragments, ping, close:CODE, drop, burst:N, say:TEXT."""
    request = ws.request
    assert request is not None
    this = Heard(request.path, {k.lower(): v for k, v in request.headers.raw_items()})
    heard.append(this)
    try:
        async for message in ws:
            this.messages.append(message)
            if message == "fragments":
                await ws.send(iter(["frag-", "ment"]))
            elif message == "ping":
                waiter = await ws.ping(b"heartbeat")
                pinged.set()
                waiter.add_done_callback(lambda _: setattr(this, "pongs", this.pongs + 1))
            elif isinstance(message, str) and message.startswith("close:"):
                await ws.close(int(message[6:]), "bye")
            elif message == "drop":
                assert ws.transport is not None
                ws.transport.abort()
            elif isinstance(message, str) and message.startswith("say:"):
                await ws.send(message[4:])
            elif isinstance(message, str) and message.startswith("burst:"):
                for i in range(int(message[6:])):
                    await ws.send(orjson.dumps({"i": i, "pad": PAD}).decode())
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        close = ws.protocol.close_rcvd
        if close is not None:
            this.close_code, this.close_reason = close.code, close.reason
        this.ended.set()


def _refuse(connection: ServerConnection, request: Request) -> Response | None:
    """/refuse answers 401 as an exchange refuses a bad signature; everything else upgrades."""
    return connection.respond(401, "bad signature\n") if request.path == "/refuse" else None


@contextlib.asynccontextmanager
async def scripted_exchange() -> AsyncIterator[Exchange]:
    heard: list[Heard] = []
    pinged = asyncio.Event()
    handler = lambda ws: _serve(ws, heard, pinged)  # noqa: E731
    async with serve(handler, "127.0.0.1", 0, compression=None, process_request=_refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield Exchange(f"http://127.0.0.1:{port}", heard, pinged)


@contextlib.asynccontextmanager
async def through_proxy(
    make_mode: Callable[[Counter[str]], Mode],
) -> AsyncIterator[tuple[Exchange, Proxy, aiohttp.ClientSession]]:
    """A scripted exchange, a proxy in front of it (for both exchanges) in the mode given, and an HTTP session."""
    async with (
        scripted_exchange() as exchange,
        running_proxy(exchange.url, make_mode) as proxy,
        aiohttp.ClientSession() as http,
    ):
        yield exchange, proxy, http


@contextlib.asynccontextmanager
async def replayed(sources: list[Path], **options: Any) -> AsyncIterator[tuple[Proxy, aiohttp.ClientSession]]:
    """A replay proxy over `sources` (options as ReplayOptions) and an HTTP session."""
    async with replaying(sources, **options) as proxy, aiohttp.ClientSession() as http:
        yield proxy, http


def admin(proxy: Proxy) -> dict[str, str]:
    """The headers a call that changes an admin state needs (proxy.admin.auth)."""
    return {TOKEN_HEADER: proxy.admin_token, "Content-Type": "application/json"}


async def received(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    return await asyncio.wait_for(ws.receive(), PATIENCE)


def ws_url(http_url: str, path: str) -> str:
    return http_url.replace("http://", "ws://", 1) + path


def session_frames(directory: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(handshake fixture, its frames) for every WebSocket connection of a session, in seq order."""
    out = []
    for path in session_files(directory):
        fixture = load_fixture(path)
        name = frames_file_of(fixture)
        if name is not None:
            out.append((fixture, read_frames(directory / name).frames))
    return out


def clock(directory: Path) -> list[tuple[int, str]]:
    """Every seq of a session with what took it: a fixture's file name, or `frame FROM KIND`."""
    events = []
    for path in session_files(directory):
        fixture = load_fixture(path)
        events.append((fixture["seq"], path.name))
        name = frames_file_of(fixture)
        if name is not None:
            lines = read_frames(directory / name).frames
            events += [(line["seq"], f"frame {line['from']} {line['kind']}") for line in lines]
    return sorted(events)


class Tape:
    """A session written by hand, event by event on one clock, the way record would have written it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seq = 0
        self.requested: dict[str, int] = {}  # REST answers to come: name -> the seq taken before the request
        self.fixtures: list[dict[str, Any]] = []
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.t = 1795119300.0  # 2026-11-19T20:15:00Z, the captured_at of its fixtures

    def _tick(self) -> int:
        self.seq += 1
        self.t += 0.01
        return self.seq

    def request(self, name: str) -> None:
        """The request of REST answer `name` reaches the proxy now."""
        self.requested[name] = self.seq

    def answer(self, name: str, fixture: dict[str, Any]) -> None:
        self.fixtures.append({**fixture, "seq": self._tick(), "sent_after": self.requested.pop(name, self.seq)})

    def open(self, exchange: str, path: str, host: str = "https://api.elections.kalshi.com") -> str:
        """A connection's 101; returns its frames file name."""
        seq = self._tick()
        name = fixture_name(seq, "GET", exchange, path)
        frames = frames_file_name(name)
        self.fixtures.append(
            {
                "seq": seq,
                "exchange": exchange,
                "captured_at": "2026-11-19T20:15:00.000Z",
                "latency_ms": 1.0,
                "request": {"method": "GET", "url": host + path, "headers": {"upgrade": "websocket"}, "body": None},
                "response": {
                    "status": 101,
                    "headers": {"upgrade": "websocket", "sec-websocket-accept": "recorded-accept"},
                    "body_raw": "",
                    "body_parsed": None,
                },
                "sent_after": seq - 1,
                "websocket": {"frames": frames},
            }
        )
        self.frames[frames] = []
        return frames

    def message(self, connection: str, sender: str, kind: str = "text", text: Any = None, **extra: Any) -> None:
        line: dict[str, Any] = {"seq": self._tick(), "t": self.t, "from": sender, "kind": kind, **extra}
        if text is not None:
            line["text"] = text if isinstance(text, str) else orjson.dumps(text).decode()
        self.frames[connection].append(line)

    def write(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        for fixture in self.fixtures:
            path = "/" + fixture["request"]["url"].split("://", 1)[1].split("/", 1)[1]
            name = fixture_name(fixture["seq"], fixture["request"]["method"], fixture["exchange"], path)
            (self.directory / name).write_bytes(orjson.dumps(fixture, option=orjson.OPT_INDENT_2))
        for name, lines in self.frames.items():
            (self.directory / name).write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        return self.directory
