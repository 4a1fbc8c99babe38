"""Which requests `record` writes to disk; everything is still forwarded."""

from __future__ import annotations

import re
from collections.abc import Callable

from proxy.exchanges import PROFILES, ConfigError

CaptureFilter = Callable[[str, str], bool]  # (exchange, path) -> write a fixture?


def order_paths(exchange: str, path: str) -> bool:
    """Under the order endpoints of the exchange's profile (orders and fills, legacy and current), or one of its
    WebSocket feeds: fills arrive there, and a bot's books decide its orders."""
    profile = PROFILES.get(exchange)
    return bool(profile and (profile.captured.search(path) or path in profile.websocket.paths))


def every_path(exchange: str, path: str) -> bool:
    return True


def path_regex(expression: str, flag: str = "--filter") -> CaptureFilter:
    try:
        pattern = re.compile(expression)
    except re.error as exc:
        raise ConfigError(f"{flag}: invalid regular expression {expression!r}: {exc}") from None
    return lambda exchange, path: pattern.search(path) is not None


def build_filter(spec: str, flag: str = "--filter") -> CaptureFilter:
    """`orders`, `all`, or a regular expression searched in the request path."""
    if spec == "orders":
        return order_paths
    if spec == "all":
        return every_path
    if not spec:
        raise ConfigError(f"{flag}: empty filter (use orders, all or a regular expression)")
    return path_regex(spec, flag)
