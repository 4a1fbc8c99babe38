"""The exchanges the proxy knows: one profile each (kalshi.py, poly.py), registered here by name.

The lowest layer of the proxy: every other part may import it, it imports nothing else of the proxy.
"""

from __future__ import annotations

from proxy.exchanges.kalshi import KALSHI
from proxy.exchanges.poly import POLY
from proxy.exchanges.profile import ExchangeProfile

PROFILES: dict[str, ExchangeProfile] = {profile.name: profile for profile in (KALSHI, POLY)}
EXCHANGES = tuple(PROFILES)


class ConfigError(ValueError):
    """A flag or environment value that cannot be used; the message names it."""


def check_exchange(name: str, flag: str) -> str:
    if name not in EXCHANGES:
        raise ConfigError(f"{flag}: unknown exchange {name!r} (expected one of: {', '.join(EXCHANGES)})")
    return name
