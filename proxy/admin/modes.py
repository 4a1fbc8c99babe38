"""Admin routes that change what the proxy does without a restart: load, reset, mode.

New modes come from `Proxy.mode_factories` (name -> callable(options) -> Mode), which the command that
started the proxy fills in; loading runs off the event loop and the switch happens only once the new
mode is complete, so a failed load leaves the running mode untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from proxy.admin.answers import admin_error
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges import ConfigError
from proxy.wire.listener import Request
from tapecontract import BAD_REQUEST, LIVE_SWITCH_REFUSED, LOAD_FAILED, MODE_UNAVAILABLE, NOT_REPLAYING


def request_options(data: bytes) -> dict[str, Any]:
    if not data:
        return {}
    try:
        options = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"request body is not JSON ({exc.msg})") from None
    if not isinstance(options, dict):
        raise ConfigError("request body must be a JSON object")
    return options


async def _switch(proxy: Proxy, listener: Listener, name: str, options: dict[str, Any]) -> Any:
    factory = proxy.mode_factories.get(name)
    if factory is None:
        known = ", ".join(sorted(proxy.mode_factories)) or "none"
        return admin_error(409, MODE_UNAVAILABLE, f"mode {name!r} is not available here (available: {known})")
    try:
        mode = await asyncio.to_thread(factory, options)
    except (
        ValueError,
        OSError,
    ) as exc:  # ConfigError, FixtureError, SourceError, SessionError, and the file system's own
        return admin_error(400, LOAD_FAILED, str(exc))
    proxy.switch(mode)
    return {"listener": listener.exchange, **proxy.status()}


async def _switch_to(proxy: Proxy, listener: Listener, request: Request, fixed: str | None) -> Any:
    try:
        options = request_options(request.body)
    except ConfigError as exc:
        return admin_error(400, BAD_REQUEST, str(exc))
    name = fixed or options.pop("mode", None)
    if not isinstance(name, str):
        return admin_error(400, BAD_REQUEST, 'expected {"mode": "record" | "replay" | "passthrough", ...}')
    if fixed and "sources" not in options:
        return admin_error(400, BAD_REQUEST, 'expected {"sources": [session dir, fixture file or scenario, ...]}')
    if name == "replay" and proxy.live and not proxy.allow_live_replay:
        detail = (
            "this proxy trades on a live exchange: switching it to replay would answer the bot's orders from "
            "recordings; start it with --allow-live-replay to allow that"
        )
        return admin_error(403, LIVE_SWITCH_REFUSED, detail)
    return await _switch(proxy, listener, name, options)


async def switch_mode(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Body {"mode": "record" | "replay" | "passthrough", ...options for that mode}."""
    return await _switch_to(proxy, listener, request, None)


async def load(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Body {"sources": [...]}: replay these instead (the mode becomes replay if it was not)."""
    return await _switch_to(proxy, listener, request, "replay")


async def reset(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Rewind the replay: every recording unserved again, correlations and misses forgotten."""
    if not proxy.mode.reset():
        return admin_error(409, NOT_REPLAYING, f"reset rewinds a replay; the proxy is in {proxy.mode.name} mode")
    return {"listener": listener.exchange, **proxy.status()}
