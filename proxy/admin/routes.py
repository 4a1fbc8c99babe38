"""The route table of the reserved `/__tradetape/` prefix on every listener: never forwarded, answered here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from proxy.admin.answers import admin_error, json_response
from proxy.admin.auth import refusal
from proxy.admin.modes import load, reset, switch_mode
from proxy.admin.websocket import inject, step
from proxy.engine.proxy import ADMIN_PREFIX, Listener, Proxy
from proxy.wire.answers import Answer
from proxy.wire.listener import Request
from tapecontract import ADMIN_NOT_FOUND

Route = Callable[[Proxy, Listener, Request], Awaitable[Any]]  # a dict (sent as JSON) or an Answer


async def status(proxy: Proxy, listener: Listener, request: Request) -> dict[str, Any]:
    return {"listener": listener.exchange, **proxy.status()}


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "status"): status,
    ("POST", "mode"): switch_mode,
    ("POST", "load"): load,
    ("POST", "reset"): reset,
    ("POST", "ws/inject"): inject,
    ("POST", "ws/step"): step,
}


async def handle(proxy: Proxy, listener: Listener, request: Request) -> Answer:
    refused = refusal(request, listener, proxy.admin_token)
    if refused is not None:
        return admin_error(*refused)
    name = request.path[len(ADMIN_PREFIX) :].strip("/")
    handler = ROUTES.get((request.method, name))
    if handler is None:
        known = ", ".join(f"{m} {ADMIN_PREFIX}{n}" for m, n in sorted(ROUTES))
        return admin_error(404, ADMIN_NOT_FOUND, f"{request.method} {request.path}; known: {known}")
    result = await handler(proxy, listener, request)
    return result if isinstance(result, Answer) else json_response(result)
