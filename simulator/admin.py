"""What both exchanges' admin APIs (under /__sim/<exchange>/) share: refusals and body reading.

A bad admin request is 400 `{"sim_error": "METHOD path: problem"}`, never an exchange-shaped
answer, so a test cannot mistake it for what Kalshi or Polymarket would say.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .state import StateError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminError(Exception):
    """A bad admin request; the message names the field."""


def admin_errors(prefix: str) -> Callable:
    """Middleware turning AdminError, StateError and ValueError under `prefix` into a 400 sim_error."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(prefix):
            return await handler(request)
        try:
            return await handler(request)
        except (AdminError, StateError, ValueError) as exc:
            return web.json_response({"sim_error": f"{request.method} {request.path}: {exc}"}, status=400)

    return middleware


async def read_object(request: web.Request) -> dict[str, Any]:
    """The JSON object an admin request carries (an empty body is `{}`)."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdminError("body is not JSON") from None
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body
