"""The `/__tradetape/ws/...` routes: push a message into a replayed connection, and step mode.

The engine and the admin routes never import the replay: these routes ask the running mode's addons for
`inject`, `step` and `run_free` (the replay addon has them), so in any other mode they answer 409.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from proxy.admin.answers import admin_error
from proxy.admin.modes import request_options
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges import ConfigError
from proxy.wire.listener import Request
from proxy.wire.websocket import EXCHANGE, Message
from tapecontract import BAD_REQUEST, NOT_REPLAYING


def _replaying(proxy: Proxy, hook: str) -> Any:
    return next((a for a in proxy.mode.addons if hasattr(a, hook)), None)


def injected_message(options: dict[str, Any]) -> Message:
    """{"text": ...}, {"json": ...} or {"base64": ...}: the message to push (ConfigError naming the field)."""
    given = [k for k in ("text", "json", "base64") if k in options]
    if len(given) != 1:
        raise ConfigError('expected exactly one of "text", "json" or "base64"')
    value = options[given[0]]
    if given[0] == "json":
        return Message(EXCHANGE, "text", orjson.dumps(value))
    if not isinstance(value, str):
        raise ConfigError(f"{given[0]} must be a string")
    if given[0] == "text":
        return Message(EXCHANGE, "text", value.encode("utf-8"))
    try:
        return Message(EXCHANGE, "binary", base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"base64 is not valid base64 ({exc})") from None


async def inject(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Body {"text" | "json" | "base64": ..., "path": optional, "connection": optional number}: sent now on the
    open replayed connections of this listener's exchange (only that path, only that connection)."""
    replayer = _replaying(proxy, "inject")
    if replayer is None:
        return admin_error(409, NOT_REPLAYING, f"inject needs a replay; the proxy is in {proxy.mode.name} mode")
    try:
        options = request_options(request.body)
        message = injected_message(options)
        path, number = options.get("path"), options.get("connection")
        if path is not None and not isinstance(path, str):
            raise ConfigError("path must be a string")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise ConfigError("connection must be a number (see status: websocket.connections)")
    except ConfigError as exc:
        return admin_error(400, BAD_REQUEST, str(exc))
    sent = replayer.inject(listener.exchange, message, path, number)
    if not sent:
        return admin_error(409, NOT_REPLAYING, f"no open replayed {listener.exchange} connection matches")
    return {"listener": listener.exchange, "sent_to": sent}


async def step(proxy: Proxy, listener: Listener, request: Request) -> Any:
    """Body {"messages": N} (default 1) lets N more exchange messages go, turning step mode on;
    {"run": true} leaves step mode and lets everything go."""
    replayer = _replaying(proxy, "step")
    if replayer is None:
        return admin_error(409, NOT_REPLAYING, f"step needs a replay; the proxy is in {proxy.mode.name} mode")
    try:
        options = request_options(request.body)
        count = options.get("messages", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ConfigError("messages must be a number >= 0")
    except ConfigError as exc:
        return admin_error(400, BAD_REQUEST, str(exc))
    if options.get("run") is True:
        replayer.run_free()
    else:
        replayer.step(count)
    return {"listener": listener.exchange, **replayer.status()["websocket"]}
