"""Shared pieces of the WebSocket feed tests: a simulator with a registered Kalshi key and Polymarket creds, raw
feed sockets, and waiting for a frame or a feed event (timeouts are safety nets, never what a test asserts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from clients.kalshi import KalshiClient
from clients.kalshi.auth import auth_headers
from clients.polymarket import PolymarketClient
from clients.polymarket.types import ApiCreds
from scenarios.harness import PAPER_POLY_KEY
from simulator.credentials import kalshi_test_credentials
from simulator.server import RunningSimulator, Simulator

ALI = "KXDEMOMATCH-26DEC31ALIBOB-ALI"
BOB = "KXDEMOMATCH-26DEC31ALIBOB-BOB"
YES = "79724115531796500154169490257471921577484206843216046510639004913120922178416"
NO = "51288545342541818958055448777263985995768425756818071463056658856703683003905"
CONDITION = "0x69178dcea3b5ef51300982f5cff10988188058ce6040b0e5323c7804a2446c54"
PATIENCE = 10.0  # seconds a test waits for something that should happen at once


@dataclass
class Paper:
    """A running simulator, an HTTP session, a Kalshi key and Polymarket L2 credentials of the default accounts."""

    sim: RunningSimulator
    http: aiohttp.ClientSession
    key_id: str
    private_key: Any
    poly_creds: ApiCreds

    def kalshi(self, **kwargs: Any) -> KalshiClient:
        return KalshiClient(
            self.sim.kalshi_url + "/trade-api/v2", self.key_id, self.private_key, clock=self.sim.clock.now, **kwargs
        )

    def poly(self) -> PolymarketClient:
        c = self.poly_creds
        return PolymarketClient(
            self.sim.poly_url, PAPER_POLY_KEY, c.api_key, c.secret, c.passphrase, clock=self.sim.clock.now
        )

    def kalshi_headers(self) -> dict[str, str]:
        return auth_headers(self.key_id, self.private_key, "GET", "/trade-api/ws/v2", self.sim.clock.now_ms())

    async def kalshi_ws(self, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(self.sim.kalshi_ws_url, headers=self.kalshi_headers(), **kwargs)

    async def poly_ws(self, channel: str, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(f"{self.sim.poly_ws_url}/{channel}", **kwargs)

    def user_auth(self) -> dict[str, Any]:
        c = self.poly_creds
        return {"auth": {"apiKey": c.api_key, "secret": c.secret, "passphrase": c.passphrase}, "type": "user"}

    async def admin(self, exchange: str, path: str, body: Any = None, method: str = "POST") -> Any:
        base = self.sim.kalshi_url if exchange == "kalshi" else self.sim.poly_url
        async with self.http.request(method, base + path, json=body) as response:
            assert response.status < 300, await response.text()
            return await response.json()


async def paper(state: Any = None, **kwargs: Any) -> AsyncIterator[Paper]:
    """The body of a `paper` fixture: start, register credentials, yield, stop."""
    key_id, private_key, pem = kalshi_test_credentials()
    async with Simulator(state, **kwargs) as sim, aiohttp.ClientSession() as http:
        async with http.post(
            sim.kalshi_url + "/__sim/kalshi/keys", json={"key_id": key_id, "public_key_pem": pem}
        ) as response:
            assert response.status == 201
        async with PolymarketClient(sim.poly_url, PAPER_POLY_KEY, clock=sim.clock.now) as poly:
            creds = await poly.create_or_derive_api_key()
        yield Paper(sim, http, key_id, private_key, creds)


async def frame(ws: aiohttp.ClientWebSocketResponse) -> Any:
    """The next text frame, parsed (a PONG text comes back as the string)."""
    message = await asyncio.wait_for(ws.receive(), PATIENCE)
    assert message.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message.type} {message.data!r}"
    return message.data if message.data == "PONG" else orjson.loads(message.data)


async def frame_where(ws: aiohttp.ClientWebSocketResponse, match: Callable[[Any], bool]) -> Any:
    """Skip frames until one matches."""
    while True:
        received = await frame(ws)
        if match(received):
            return received


async def frames_until(ws: aiohttp.ClientWebSocketResponse, match: Callable[[Any], bool]) -> list[Any]:
    """Every frame up to and including the first that matches."""
    seen = []
    while True:
        seen.append(await frame(ws))
        if match(seen[-1]):
            return seen


async def nothing_more(ws: aiohttp.ClientWebSocketResponse, marker: Callable[[], Any]) -> list[Any]:
    """Frames that arrive before the reply to a marker command (sent now), which proves nothing else was queued."""
    await marker()
    return await frames_until(ws, lambda f: isinstance(f, dict) and f.get("type") in ("list_subscriptions", "error"))


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll until `condition()` holds (for state no feed event announces, such as what a scripted server heard)."""

    async def polling() -> None:
        while not condition():  # noqa: ASYNC110 - the state polled (what a scripted server heard) has no event
            await asyncio.sleep(0.01)

    await asyncio.wait_for(polling(), PATIENCE)


async def event_where(queue: asyncio.Queue[Any], match: Callable[[Any], bool]) -> Any:
    """Skip feed events until one matches."""
    while True:
        event = await asyncio.wait_for(queue.get(), PATIENCE)
        if match(event):
            return event


@asynccontextmanager
async def scripted_feed(scripts: list[list[str]], *, close: bool = False) -> AsyncIterator[tuple[str, list[list[str]]]]:
    """A WebSocket server on loopback (any path) whose n-th connection is sent `scripts[n]` after the client's
    first message, then held open (or closed, with `close`); yields (ws:// base URL, what each connection
    received)."""
    received: list[list[str]] = []

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        heard: list[str] = []
        received.append(heard)
        script = scripts[min(len(received), len(scripts)) - 1]
        async for message in ws:
            heard.append(message.data)
            if len(heard) == 1:
                for text in script:
                    await ws.send_str(text)
                if close:
                    await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}", received
    finally:
        await runner.cleanup()
