"""The shape of an exchange profile: everything the proxy knows about one exchange, in one place.

Each exchange has one profile (kalshi.py, poly.py). Its order endpoints are one definition serving both the
capture filter (`--filter orders` records every request under them) and the spending guard (it prices the
order-placing writes). Its harmless writes are the guard's list of writes that place nothing (cancels,
key creation, heartbeats...): under --live any other write is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.exchanges.pricing import Pricer

ID = "{id}"  # in a suffix: one path segment (an order id)


@dataclass(frozen=True, slots=True)
class OrderWrite:
    """A request under an order endpoint that places orders: the guard prices its body before it is forwarded."""

    method: str
    suffix: str  # after the endpoint's path: "", "/batched", "/{id}/amend"
    price: Pricer


@dataclass(frozen=True, slots=True)
class OrderEndpoint:
    """Where orders or fills live; `writes` are the requests there that place orders."""

    path: str  # after the API prefix
    writes: tuple[OrderWrite, ...] = ()


@dataclass(frozen=True, slots=True)
class HarmlessWrite:
    """A write (not GET/HEAD/OPTIONS) that places no order: the guard lets it through unpriced."""

    method: str
    path: str  # after the API prefix, whole; {id} is one path segment


def _suffix_pattern(suffix: str) -> str:
    return "/".join("[^/]+" if segment == ID else re.escape(segment) for segment in suffix.split("/"))


def _any_of(paths: list[str]) -> str:
    return "(?:" + "|".join(re.escape(path) for path in paths) + ")"


@dataclass(frozen=True, slots=True)
class WebSocketProfile:
    """What the proxy knows of an exchange's WebSocket feeds."""

    paths: tuple[str, ...]  # the feed endpoints; `--filter orders` captures them (fills arrive there)
    url_env: str  # the variable the clients read their feed URL from (set by the pytest plugin)
    client_path: str  # what that URL adds after the host (Polymarket's feed appends /market or /user to it)
    live_url: str  # the `live` upstream of an upgrade (Polymarket's feeds have a host of their own)
    volatile_fields: tuple[str, ...]  # client message fields that change every run: names, or JSON pointers
    keepalive: tuple[tuple[str, str], ...] = ()  # text keepalives a replay answers itself: (client's, answer)


@dataclass(frozen=True)
class ExchangeProfile:
    name: str  # as in fixtures, flags and listener names
    live_url: str  # the `live` upstream
    demo_url: str | None  # the `demo` upstream, when the exchange has one
    listen: tuple[str, int]  # the default listener
    api_prefix: str  # what a client's base URL adds after the host
    base_url_env: str  # the variable the clients read their base URL from (set by the pytest plugin)
    # True: endpoint paths match only at the start of the request path (the exchange serves them at its root);
    # False: anywhere in it (they sit under the API prefix, after whatever base path the client's URL carries).
    endpoints_at_root: bool
    order_endpoints: tuple[OrderEndpoint, ...]
    volatile_fields: tuple[str, ...]  # request body fields that change on every run: replay ignores them
    volatile_query: tuple[str, ...]  # query parameters that carry a time: replay ignores their values
    secret_headers: tuple[str, ...]  # lower-case; redacted before anything is written
    secret_fields: tuple[str, ...]  # body field names at any depth, compared without case, '_' and '-'
    harmless_writes: tuple[HarmlessWrite, ...]  # from docs/wire/: writes that place nothing (cancels, ...)
    mints_credentials: tuple[str, ...]  # paths (after the prefix) whose answers hand out credentials
    inspect_request: tuple[str, ...]  # the request fields `tradetape inspect` shows
    inspect_response: tuple[str, ...]  # the answer fields `tradetape inspect` shows
    websocket: WebSocketProfile
    # Ids the exchange derives from a request body rather than reads from it (Polymarket's order hash): name ->
    # value. Replay correlates them like volatile fields, so a recorded id maps to the one of the live request.
    derived_ids: Callable[[Any], dict[str, str]] | None = None
    # Compiled from order_endpoints:
    captured: re.Pattern[str] = field(init=False)  # every request under an order endpoint
    # (method, path, pricer), case-insensitive: a spelling a lenient server may route to an order write is priced
    priced_writes: tuple[tuple[str, re.Pattern[str], Pricer], ...] = field(init=False)
    harmless: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False)  # matched whole, case-sensitively
    minting: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        start = "^" if self.endpoints_at_root else ""
        endpoints = self.order_endpoints
        prefix = re.escape(self.api_prefix)
        compiled = {
            "captured": re.compile(start + _any_of([e.path for e in endpoints]) + "(?:/|$)"),
            "priced_writes": tuple(
                (w.method, re.compile(start + re.escape(e.path) + _suffix_pattern(w.suffix) + "$", re.I), w.price)
                for e in endpoints
                for w in e.writes
            ),
            "harmless": tuple((w.method, re.compile(prefix + _suffix_pattern(w.path))) for w in self.harmless_writes),
            "minting": re.compile(start + _any_of(list(self.mints_credentials)) + "/?$"),
        }
        for name, value in compiled.items():
            object.__setattr__(self, name, value)  # derived once; the profile stays frozen
