"""The exchanges the proxy knows, by name: the lowest layer, which every other part of the proxy may import."""

from __future__ import annotations

EXCHANGES = ("kalshi", "poly")


class ConfigError(ValueError):
    """A flag or environment value that cannot be used; the message names it."""


def check_exchange(name: str, flag: str) -> str:
    if name not in EXCHANGES:
        raise ConfigError(f"{flag}: unknown exchange {name!r} (expected one of: {', '.join(EXCHANGES)})")
    return name
