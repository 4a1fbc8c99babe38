"""What the client tests share: one scripted fake exchange on 127.0.0.1, the public test keys, a dead port.

The fake answers from a per-test script per (METHOD, path), checks each request with the exchange's own
rule (a signature, L2 headers) and keeps every request, so tests assert what the client sent as well as
what it made of the answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

# Hardhat account #0: a key published with every Ethereum dev tool, never funded anywhere.
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@dataclass
class Reply:
    """One scripted answer: body JSON-able, bytes, str (sent as text) or None (no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (for timeouts)


@dataclass
class Seen:
    """One request as the fake received it; `path` is without the fake's prefix."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the parsed JSON body, None when empty or not JSON
    raw_body: bytes
    verified: bool  # the exchange's own check (signature, L2 headers) passed


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


class ScriptedExchange:
    """Scripted answers per (METHOD, path), served in order, the last one repeating.

    `verify(request, raw_body)` is the exchange's check of a request; when it fails and `refusal` is
    set, the fake answers `refusal` (Kalshi refuses a bad signature whatever the path). An unscripted
    request gets `unscripted(method, path)`.
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        verify: Callable[[web.Request, bytes], bool] = lambda request, raw: True,
        refusal: Reply | None = None,
        unscripted: Callable[[str, str], Reply] = lambda method, path: Reply(
            500, {"error": f"unscripted {method} {path}"}
        ),
    ) -> None:
        self.prefix = prefix
        self.verify = verify
        self.refusal = refusal
        self.unscripted = unscripted
        self.script: dict[tuple[str, str], list[Reply]] = {}
        self.last: dict[tuple[str, str], Reply] = {}  # served again once the script runs out
        self.seen: list[Seen] = []
        self.url = ""  # set by serve()

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.script.setdefault((method, path), []).extend(replies)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def serve(self, aiohttp_server: Any) -> str:
        """Start on 127.0.0.1; the base URL (with the prefix) for a client."""
        server = await aiohttp_server(self.app(), host="127.0.0.1")
        self.url = str(server.make_url(self.prefix)).rstrip("/")
        return self.url

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.raw_path.split("?")[0].removeprefix(self.prefix)
        verified = self.verify(request, raw)
        self.seen.append(
            Seen(request.method, path, dict(request.query), dict(request.headers), _json_or_none(raw), raw, verified)
        )
        if not verified and self.refusal is not None:
            return respond(self.refusal)
        key = (request.method, path)
        if self.script.get(key):
            self.last[key] = self.script[key].pop(0)
        reply = self.last.get(key) or self.unscripted(request.method, path)
        if reply.hang:
            await asyncio.Event().wait()
        return respond(reply)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]


def respond(reply: Reply) -> web.Response:
    if reply.body is None:
        return web.Response(status=reply.status, headers=reply.headers)
    if isinstance(reply.body, str):
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
    body = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
    return web.Response(status=reply.status, body=body, headers={"Content-Type": "application/json", **reply.headers})


def closed_port_url() -> str:
    """http://127.0.0.1:<port> where nothing listens (the port was bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"
