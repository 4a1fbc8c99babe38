"""Admin routes that change what the proxy does without a restart: load, reset, mode.

New modes come from `Proxy.mode_factories` (name -> callable(options) -> Mode), which the command that
started the proxy fills in; loading runs off the event loop and the switch happens only once the new
mode is complete, so a failed load leaves the running mode untouched.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from .admin import admin_error, route
from .exchanges import ConfigError
from .replay import find_replayer

if TYPE_CHECKING:
    from .core import Listener, Proxy
    from .http_listener import Request


def _options(data: bytes) -> dict[str, Any]:
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
        return admin_error(409, "mode_unavailable", f"mode {name!r} is not available here (available: {known})")
    try:
        mode = await asyncio.to_thread(factory, options)
    except (
        ValueError,
        OSError,
    ) as exc:  # ConfigError, FixtureError, SourceError, SessionError, and the file system's own
        return admin_error(400, "load_failed", str(exc))
    proxy.switch(mode)
    return {"listener": listener.exchange, **proxy.status()}


async def _switch_to(proxy: Proxy, listener: Listener, request: Request, fixed: str | None) -> Any:
    try:
        options = _options(request.body)
    except ConfigError as exc:
        return admin_error(400, "bad_request", str(exc))
    name = fixed or options.pop("mode", None)
    if not isinstance(name, str):
        return admin_error(400, "bad_request", 'expected {"mode": "record" | "replay" | "passthrough", ...}')
    if fixed and "sources" not in options:
        return admin_error(400, "bad_request", 'expected {"sources": [session dir, fixture file or scenario, ...]}')
    if name == "replay" and proxy.live and not proxy.allow_live_replay:
        detail = (
            "this proxy trades on a live exchange: switching it to replay would answer the bot's orders from "
            "recordings; start it with --allow-live-replay to allow that"
        )
        return admin_error(403, "live_switch_refused", detail)
    return await _switch(proxy, listener, name, options)


@route("POST", "mode")
async def switch_mode(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Body {"mode": "record" | "replay" | "passthrough", ...options for that mode}."""
    return await _switch_to(proxy, listener, request, None)


@route("POST", "load")
async def load(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Body {"sources": [...]}: replay these instead (the mode becomes replay if it was not)."""
    return await _switch_to(proxy, listener, request, "replay")


@route("POST", "reset")
async def reset(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Rewind the replay: every recording unserved again, correlations and misses forgotten."""
    replayer = find_replayer(proxy.mode)
    if replayer is None:
        return admin_error(409, "not_replaying", f"reset rewinds a replay; the proxy is in {proxy.mode.name} mode")
    replayer.reset()
    return {"listener": listener.exchange, **proxy.status()}
