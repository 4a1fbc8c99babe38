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

from proxy.engine.mode import Mode
from proxy.engine.proxy import Proxy
from proxy.tape.fixture import load_fixture, session_files
from proxy.tape.frames import frames_file_of, read_frames
from tests.proxy_helpers import running_proxy

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
    """Echo every message; a few texts are commands: fragments, ping, close:CODE, drop, burst:N, json:TEXT."""
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
