"""Map Polymarket CLOB error answers onto the shared taxonomy in `clients.errors`.

Polymarket sends texts, not codes (`{"error": "<message>"}`, sometimes plain text), so the
mapping matches the verbatim messages of docs/wire/polymarket.md §6 first and falls back on the
HTTP status. The exchange's message and any `code` are kept on the exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from clients.errors import (
    AuthError,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientBalance,
    InvalidOrder,
    MarketClosed,
    MarketNotFound,
    OrderNotFilled,
    OrderNotFound,
    RateLimited,
    retry_after_header,
)

EXCHANGE: Final = "poly"
MAX_TEXT = 300
V1_HINT = "the exchange refused a V1-signed order: sign CLOB V2 orders (domain version 2, or 3 for ExchangeV3 markets)"

# (lower-case fragment, class), first match wins: specific texts before generic words.
MESSAGE_RULES: tuple[tuple[str, type[ExchangeError]], ...] = (
    ("order_version_mismatch", InvalidOrder),
    ("not enough balance", InsufficientBalance),
    ("allowance is not enough", InsufficientBalance),
    ("fok orders are", OrderNotFilled),  # "...fully filled or killed." (400) / "...filled or killed" (500)
    ("no orders found to match with fak order", OrderNotFilled),
    ("there are no matching orders", OrderNotFilled),
    ("duplicated", DuplicateOrder),
    ("post-only mode", ExchangeUnavailable),
    ("cancel-only", ExchangeUnavailable),
    ("trading is currently disabled", ExchangeUnavailable),
    ("service not ready", ExchangeUnavailable),
    ("order timed out", ExchangeUnavailable),
    ("could not insert order", ExchangeUnavailable),
    ("context canceled", ExchangeUnavailable),
    ("rate limit", RateLimited),
    ("too many requests", RateLimited),
    ("not yet ready to process new orders", MarketClosed),
    ("no orderbook exists", MarketNotFound),
    ("market not found", MarketNotFound),
    ("invalid token id", MarketNotFound),
    ("invalid signature", AuthError),
    ("signer address has to be the address of the api key", AuthError),
    ("owner has to be the owner of the api key", AuthError),
    ("maker address not allowed", AuthError),
    ("address banned", AuthError),
    ("closed only mode", AuthError),
    ("trading restricted in your region", AuthError),
    ("invalid l1 request headers", AuthError),
    ("unauthorized", AuthError),
    ("invalid api key", AuthError),
    ("could not create api key", AuthError),
    ("could not derive api key", AuthError),
    ("invalidorderid", OrderNotFound),
    ("invalid orderid", OrderNotFound),
    ("not found", OrderNotFound),  # "Order not found", "Order not found or already canceled"
    ("already canceled", OrderNotFound),  # cancel replies' not_canceled reasons
    ("already matched", OrderNotFound),
    ("breaks minimum tick size", InvalidOrder),
    ("lower than the minimum", InvalidOrder),
    ("invalid amounts", InvalidOrder),
    ("crosses the book", InvalidOrder),
    ("invalid post-only order", InvalidOrder),
    ("invalid expiration", InvalidOrder),
    ("invalid order payload", InvalidOrder),
    ("too many orders in payload", InvalidOrder),
    ("params payload", InvalidOrder),
    ("rounding issues", InvalidOrder),
    ("discrepancy greater than allowed", InvalidOrder),
    ("is invalid", InvalidOrder),
)

STATUS_RULES: dict[int, type[ExchangeError]] = {
    401: AuthError,
    403: AuthError,  # geoblock, Cloudflare block
    404: MarketNotFound,
    425: ExchangeUnavailable,
    429: RateLimited,
}


def error_message(body: bytes) -> tuple[str, Any]:
    """(message, parsed body) of an error answer: `error` of a JSON object, else the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return text[:MAX_TEXT], text  # text/plain 425, or a Cloudflare HTML page
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed["error"], parsed
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMsg"), str):
        return parsed["errorMsg"], parsed
    return text, parsed


def error_class(status: int | None, message: str) -> type[ExchangeError]:
    """The taxonomy class for one Polymarket error message (and status, when no text matches)."""
    lowered = message.lower()
    for fragment, cls in MESSAGE_RULES:
        if fragment in lowered:
            return cls
    if status in STATUS_RULES:
        return STATUS_RULES[status]
    if status is not None and status >= 500:
        return ExchangeUnavailable
    return ExchangeError


def retry_after(headers: Mapping[str, str], parsed: Any) -> float | None:
    """Seconds to wait from `retry_after_seconds` (post-only mode) or a numeric Retry-After header."""
    if isinstance(parsed, dict) and isinstance(parsed.get("retry_after_seconds"), (int, float)):
        return float(parsed["retry_after_seconds"])
    return retry_after_header(headers)


def poly_error(
    status: int | None, body: bytes, *, endpoint: str, headers: Mapping[str, str] | None = None
) -> ExchangeError:
    """The exception for an error answer of `endpoint` (e.g. "POST /order")."""
    message, parsed = error_message(body)
    cls = error_class(status, message)
    code = parsed.get("code") if isinstance(parsed, dict) and isinstance(parsed.get("code"), str) else None
    if "order_version_mismatch" in message:
        code, message = "order_version_mismatch", f"{message}: {V1_HINT}"
    return cls(
        f"{endpoint}: {message or '(empty body)'}",
        exchange=EXCHANGE,
        status=status,
        code=code,
        body=parsed,
        retry_after=retry_after(headers or {}, parsed),
    )
