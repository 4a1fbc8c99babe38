"""Which requests `record` writes to disk (everything is still forwarded), and so which paths a tape can hold.

In the tape layer because both sides read it: record to choose what to write, replay to tell a request it
has no recording of from one its session's filter never wrote (the manifest names the filter).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from urllib.parse import unquote

from proxy.exchanges import PROFILES, ConfigError

CaptureFilter = Callable[[str, str], bool]  # (exchange, path) -> write a fixture?
SIM_ADMIN = "/__sim/"  # the built-in simulator's admin API (books, keys, faults, clock)


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


def chosen_filter(spec: str, flag: str = "--filter") -> CaptureFilter:
    """`orders`, `all`, or a regular expression searched in the request path."""
    if spec == "orders":
        return order_paths
    if spec == "all":
        return every_path
    if not spec:
        raise ConfigError(f"{flag}: empty filter (use orders, all or a regular expression)")
    return path_regex(spec, flag)


def build_filter(spec: str, flag: str = "--filter", sim_admin: bool = False) -> CaptureFilter:
    """The chosen filter, never matching the simulator's admin paths: a test's setup calls are not exchange
    traffic, would be unused in every replay, and carry keys (a registered public key PEM). Only a harness that
    replays its own setup calls in order (the e2e scenarios) asks for them with `sim_admin`; no flag does."""
    chosen = chosen_filter(spec, flag)
    if sim_admin:
        return chosen
    return lambda exchange, path: not is_sim_admin(path) and chosen(exchange, path)


def is_sim_admin(path: str) -> bool:
    """A simulator admin path, however spelled (`//__sim/`, `/%5F%5Fsim/`, `/x/../__sim/`)."""
    if "__sim" not in path and "%" not in path:  # normalising only drops segments: "__sim" must be one as sent
        return False
    return (posixpath.normpath("/" + unquote(path).lstrip("/")) + "/").startswith(SIM_ADMIN)


def describe_filter(spec: str) -> str:
    """What `record` writes under this filter, in words, and what the rest of the traffic gets."""
    if spec == "orders":
        return (
            "orders: only order and fill endpoints are recorded; other requests (positions, balances, markets, "
            "API keys) are forwarded but not recorded, so replay cannot answer them (--filter all records them)"
        )
    if spec == "all":
        return "all: every request is recorded (except the simulator's own /__sim/ admin calls)"
    return f"regular expression {spec!r} searched in the path: other requests are forwarded but not recorded"
