"""What the proxy knows about the two exchanges: names, well-known hosts and upstream shorthands."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

EXCHANGES = ("kalshi", "poly")

LIVE_UPSTREAMS = {
    "kalshi": "https://api.elections.kalshi.com",
    "poly": "https://clob.polymarket.com",
}
DEMO_UPSTREAMS = {"kalshi": "https://demo-api.kalshi.co"}
DEFAULT_LISTEN = {"kalshi": ("127.0.0.1", 8787), "poly": ("127.0.0.1", 8788)}
API_PREFIX = {"kalshi": "/trade-api/v2", "poly": ""}  # what the clients' base URLs add to every path
SIM = "sim"


class ConfigError(ValueError):
    """A flag or environment value that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where one exchange's traffic goes: a scheme and host only, paths pass through."""

    exchange: str
    url: str  # scheme://host[:port], no path; "sim" until the simulator has started
    live: bool  # True when not on loopback: needs --live and brings the spending guard

    @property
    def is_sim(self) -> bool:
        return self.url == SIM


def check_exchange(name: str, flag: str) -> str:
    if name not in EXCHANGES:
        raise ConfigError(f"{flag}: unknown exchange {name!r} (expected one of: {', '.join(EXCHANGES)})")
    return name


def split_assignment(value: str, flag: str) -> tuple[str, str]:
    """`kalshi=URL` -> ("kalshi", "URL"), naming the flag when malformed."""
    name, sep, rest = value.partition("=")
    if not sep or not rest:
        raise ConfigError(f"{flag}: expected EXCHANGE=VALUE, got {value!r}")
    return check_exchange(name.strip(), flag), rest.strip()


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def upstream_keywords(exchange: str) -> list[str]:
    """What --upstream accepts besides a URL, for this exchange."""
    demo = ["demo (Kalshi's demo host)"] if exchange in DEMO_UPSTREAMS else []
    return ["live (the production host)", *demo, "sim (the built-in simulator)"]


def resolve_upstream(exchange: str, value: str, flag: str = "--upstream") -> Upstream:
    """Turn `live`, `demo`, `sim` or a URL into an Upstream for `exchange`."""
    if value == SIM:
        return Upstream(exchange, SIM, live=False)
    if value == "live":
        value = LIVE_UPSTREAMS[exchange]
    elif value == "demo":
        if exchange not in DEMO_UPSTREAMS:
            raise ConfigError(f"{flag}: {exchange} has no demo host (only kalshi has one)")
        value = DEMO_UPSTREAMS[exchange]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{flag}: {exchange}={value!r} is neither an http(s) URL nor one of the keywords "
            f"{', '.join(upstream_keywords(exchange))}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{flag}: {exchange}={value!r} must be a scheme and host only; paths pass through unchanged")
    try:
        _ = parts.port  # raises ValueError on a port out of range
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exchange}={value!r}: {exc}") from None
    url = f"{parts.scheme}://{parts.netloc}"
    return Upstream(exchange, url, live=not is_loopback_host(parts.hostname))


def parse_listen(value: str, flag: str = "--listen") -> tuple[str, str, int]:
    """`kalshi=127.0.0.1:8787` -> ("kalshi", "127.0.0.1", 8787)."""
    exchange, addr = split_assignment(value, flag)
    host, sep, port = addr.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{flag}: {exchange}={addr!r} must be HOST:PORT")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{flag}: {exchange}={addr!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"{flag}: {exchange}={addr!r}: port out of range")
    return exchange, host.strip("[]"), number
