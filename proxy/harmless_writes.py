"""The writes (not GET/HEAD/OPTIONS) each exchange takes that can place no order: the spending guard's list.

Under `--live` a write is priced, or on this list, or refused: a new endpoint nobody listed fails closed.
Endpoints come from docs/wire/kalshi.md §2-3 and docs/wire/polymarket.md §3, §6-7. Paths are matched
whole and case-sensitively after the guard's normalisation (slashes merged, no trailing slash).
"""

from __future__ import annotations

import re

KALSHI = "/trade-api/v2"
ID = r"[^/]+"

HARMLESS_WRITES: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "kalshi": [
        (method, re.compile(f"{KALSHI}{path}"))
        for method, path in [
            ("DELETE", rf"/portfolio/events/orders/{ID}"),  # cancel (also the batch cancel at .../batched)
            ("DELETE", r"/portfolio/events/orders"),  # cancel all
            ("POST", rf"/portfolio/events/orders/{ID}/decrease"),
            ("DELETE", rf"/portfolio/orders/{ID}"),  # retired v1 cancel and batch cancel (410 since 2026-06)
            ("POST", rf"/portfolio/orders/{ID}/decrease"),  # retired v1 decrease
            ("POST", r"/api_keys/generate"),  # API-key creation
        ]
    ],
    "poly": [
        (method, re.compile(path))
        for method, path in [
            ("DELETE", r"/orders?"),  # cancel one, cancel many
            ("DELETE", r"/cancel-all"),
            ("DELETE", r"/cancel-market-orders"),
            ("POST", r"/auth/api-key"),  # API-key creation (L1)
            ("DELETE", r"/auth/api-key"),
            ("POST", r"/auth/readonly-api-key"),
            ("DELETE", r"/auth/readonly-api-key"),
            ("POST", r"(?:/v1)?/heartbeats"),
            ("POST", r"/(?:books|prices|midpoints|spreads|last-trades-prices)"),  # public reads sent as POST
            ("POST", r"/orders-scoring"),  # reward scoring of given order ids: a read
        ]
    ],
}


def is_harmless(exchange: str, method: str, path: str) -> bool:
    """`method path` (normalised) is a write on the exchange's list of writes that place nothing."""
    return any(verb == method and pattern.fullmatch(path) for verb, pattern in HARMLESS_WRITES.get(exchange, ()))
