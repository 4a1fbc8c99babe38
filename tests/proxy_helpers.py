"""Shared test scaffolding: a local upstream that echoes what it received, and an in-process proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from proxy.admin.routes import handle as admin_routes
from proxy.engine.mode import Mode, passthrough_mode
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges.upstream import Upstream
from proxy.record.mode import record_mode
from proxy.record.session import Session


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen = {
        "method": request.method,
        "path_qs": request.raw_path,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body_b64": base64.b64encode(body).decode(),
    }
    return web.json_response(seen, status=int(request.query.get("status", 200)))


async def gzipped(request: web.Request) -> web.Response:
    payload = orjson.dumps({"order_id": "gz1", "fill_count": "1.00"})
    return web.Response(
        body=gzip.compress(payload), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )


async def binary(request: web.Request) -> web.Response:
    return web.Response(body=bytes(range(256)) * 4, content_type="application/octet-stream")


async def text(request: web.Request) -> web.Response:
    return web.Response(text="service not ready", status=425)


async def large(request: web.Request) -> web.Response:
    size = int(request.query.get("size", 5_000_000))
    return web.json_response({"data": "x" * size})


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("seconds", 5)))
    return web.json_response({"late": True})


async def reset_mid_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"partial": ')
    request.transport.close()
    return response


async def secrets(request: web.Request) -> web.Response:
    return web.json_response(
        {"apiKey": "k-123", "secret": "c2VjcmV0", "passphrase": "pp", "data": [{"owner": "owner-uuid", "id": "0xabc"}]}
    )


async def accepted(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"success": True, "orderID": "0xabc", "status": "matched"})


def upstream_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("GET", "/gzip", gzipped)
    app.router.add_route("GET", "/binary", binary)
    app.router.add_route("GET", "/text", text)
    app.router.add_route("GET", "/large", large)
    app.router.add_route("GET", "/slow", slow)
    app.router.add_route("GET", "/reset", reset_mid_body)
    app.router.add_route("GET", "/auth/api-key", secrets)
    app.router.add_route("POST", "/accepted", accepted)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@contextlib.asynccontextmanager
async def running_app(
    app: web.Application, ssl_context: ssl.SSLContext | None = None, **server_options: Any
) -> AsyncIterator[str]:
    runner = web.AppRunner(app, **server_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def listeners_for(upstream_url: str, poly_url: str | None = None) -> list[Listener]:
    return [
        Listener("kalshi", "127.0.0.1", 0, Upstream("kalshi", upstream_url, False)),
        Listener("poly", "127.0.0.1", 0, Upstream("poly", poly_url or upstream_url, False)),
    ]


def running_proxy(upstream_url: str, make_mode: Callable[[Counter], Mode], timeout: float = 30.0) -> Proxy:
    """A proxy in front of `upstream_url` for both exchanges; start it with `async with`."""
    counts: Counter[str] = Counter()
    return Proxy(listeners_for(upstream_url), make_mode(counts), timeout, counts=counts, admin=admin_routes)


def recording(
    directory: Path, filter_spec: str = "orders", addons: list[Any] | None = None, append: bool = False
) -> Callable[[Counter], Mode]:
    info = {"session": directory.name, "upstreams": {}, "capture_filter": filter_spec}
    return lambda counts: record_mode(directory, info, filter_spec, list(addons or []), counts, append=append)


def passing_through(addons: list[Any] | None = None) -> Callable[[Counter], Mode]:
    return lambda counts: passthrough_mode(list(addons or []))


def fixtures_in(directory: Path) -> list[dict[str, Any]]:
    from proxy.tape.stored import session_fixtures

    return [stored.load() for stored in session_fixtures(directory)]


def killed(session: Session) -> None:
    """What a SIGKILL leaves of an open session: no close, the journal's lock gone with the process."""
    session._idle.stop()
    session._flusher.close()
    session._journal.close()
