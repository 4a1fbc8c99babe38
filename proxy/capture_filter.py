"""Which requests `record` writes to disk; everything is still forwarded."""

from __future__ import annotations

import re
from collections.abc import Callable

from .exchanges import ConfigError

CaptureFilter = Callable[[str, str], bool]  # (exchange, path) -> write a fixture?

ORDER_PATHS = {
    "kalshi": re.compile(r"/portfolio/(?:events/orders|orders|fills)(?:/|$)"),
    "poly": re.compile(r"^/(?:order|orders|data/order|data/orders|data/trades|cancel-all|cancel-market-orders)(?:/|$)"),
}


def order_paths(exchange: str, path: str) -> bool:
    """Order and fill endpoints of both exchanges, legacy and current."""
    pattern = ORDER_PATHS.get(exchange)
    return bool(pattern and pattern.search(path))


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


def describe_filter(spec: str) -> str:
    """What `record` writes under this filter, in words, and what the rest of the traffic gets."""
    if spec == "orders":
        return (
            "orders: only order and fill endpoints are recorded; other requests (positions, balances, markets, "
            "API keys) are forwarded but not recorded, so replay cannot answer them (--filter all records them)"
        )
    if spec == "all":
        return "all: every request is recorded"
    return f"regular expression {spec!r} searched in the path: other requests are forwarded but not recorded"
