"""Where each exchange's traffic goes: upstream shorthands (live, demo, sim), listen addresses, loopback checks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from proxy.exchanges import EXCHANGES, PROFILES, ConfigError, check_exchange

LIVE_UPSTREAMS = {name: profile.live_url for name, profile in PROFILES.items()}
DEMO_UPSTREAMS = {name: profile.demo_url for name, profile in PROFILES.items() if profile.demo_url}
DEFAULT_LISTEN = {name: profile.listen for name, profile in PROFILES.items()}
SIM = "sim"
NO_UPSTREAM = "none"  # what replay-only listeners show as their upstream


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where one exchange's traffic goes: a scheme and host only, paths pass through."""

    exchange: str
    url: str  # scheme://host[:port], no path; "sim" until the simulator has started
    live: bool  # True when not on loopback: needs --live and brings the spending guard
    ws: str = ""  # where WebSocket upgrades go when not to `url` (Polymarket's live feeds have their own host)

    @property
    def ws_url(self) -> str:
        return self.ws or self.url

    @property
    def is_sim(self) -> bool:
        return self.url == SIM


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
    ws = ""
    if value == "live":
        value = LIVE_UPSTREAMS[exchange]
        ws = PROFILES[exchange].websocket.live_url
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
        _ = parts.port  # a port that is not a number or out of range raises
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exchange}={value!r}: {exc}") from None
    url = f"{parts.scheme}://{parts.netloc}"
    return Upstream(exchange, url, live=not is_loopback_host(parts.hostname), ws=ws if ws != url else "")


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


def no_upstreams() -> dict[str, Upstream]:
    """What replay-only listeners show as their upstream: there is none."""
    return {ex: Upstream(ex, NO_UPSTREAM, False) for ex in EXCHANGES}
