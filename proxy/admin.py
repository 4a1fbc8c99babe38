"""The reserved `/__tradetape/` prefix on every listener: never forwarded, answered by the proxy itself.

Routes are a plain table so each feature adds its own (`ROUTES[("POST", "reset")] = ...`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from multidict import CIMultiDict

from . import admin_auth
from .answers import ERROR_HEADER
from .flow import Answer

if TYPE_CHECKING:
    from .core import Listener, Proxy
    from .http_listener import Request

AdminHandler = Callable[["Proxy", "Listener", "Request"], Awaitable[Any]]
ROUTES: dict[tuple[str, str], AdminHandler] = {}


def route(method: str, name: str) -> Callable[[AdminHandler], AdminHandler]:
    def register(fn: AdminHandler) -> AdminHandler:
        ROUTES[(method, name)] = fn
        return fn

    return register


def json_response(value: Any, status: int = 200) -> Answer:
    return Answer(
        status, CIMultiDict({"Content-Type": "application/json"}), orjson.dumps(value, option=orjson.OPT_INDENT_2)
    )


def admin_error(status: int, kind: str, detail: Any) -> Answer:
    response = json_response({"tradetape_error": kind, "detail": detail}, status)
    response.headers[ERROR_HEADER] = kind
    return response


async def handle(proxy: Proxy, listener: Listener, request: Request) -> Answer:
    refused = admin_auth.refusal(request, listener, proxy.admin_token)
    if refused is not None:
        return admin_error(*refused)
    name = request.path[len("/__tradetape/") :].strip("/")
    handler = ROUTES.get((request.method, name))
    if handler is None:
        known = ", ".join(f"{m} /__tradetape/{n}" for m, n in sorted(ROUTES))
        return admin_error(404, "admin_not_found", f"{request.method} {request.path}; known: {known}")
    result = await handler(proxy, listener, request)
    return result if isinstance(result, Answer) else json_response(result)


@route("GET", "status")
async def status(proxy: Proxy, listener: Listener, request: Request) -> dict[str, Any]:
    return {"listener": listener.exchange, **proxy.status()}


from . import admin_modes  # noqa: E402,F401  (registers POST load, reset, mode)
