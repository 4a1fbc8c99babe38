"""Kalshi error bodies → the shared taxonomy (docs/wire/kalshi.md §7).

Kalshi answers errors in several shapes: nested `{"error":{code,message,details}}`, flat
`{code,message,details}`, bare `{"msg":…}`, a 429 `{"error":"too many requests"}`, and from
proxies or load balancers text/plain or HTML. All of them become one ExchangeError subclass; the
exchange's own code and message are kept, and nothing here raises on a malformed body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from clients.errors import (
    AuthError,
    DeprecatedEndpoint,
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
    UnexpectedResponse,
    retry_after_header,
)

# Codes are matched by prefix (Kalshi appends dynamic suffixes such as `user_not_found:_<uuid>`),
# case-insensitively (`MARKET_NOT_ACTIVE` and `market_inactive` both occur). Longest prefix wins.
CODE_CLASSES: dict[str, type[ExchangeError]] = {
    "insufficient_balance": InsufficientBalance,
    "available_balance_too_low": InsufficientBalance,
    "order_already_exists": DuplicateOrder,
    "fill_or_kill_insufficient_resting_volume": OrderNotFilled,
    "market_closed": MarketClosed,
    "market_inactive": MarketClosed,
    "market_not_active": MarketClosed,
    "trading_is_paused": MarketClosed,
    "market_not_found": MarketNotFound,
    "not_found": OrderNotFound,
    "invalid_price": InvalidOrder,
    "invalid_order": InvalidOrder,
    "invalid_parameters": InvalidOrder,
    "order_id_and_client_order_id_mismatch": InvalidOrder,
    "order_side_mismatch": InvalidOrder,
    "order_ticker_mismatch": InvalidOrder,
    "bad_request": InvalidOrder,
    "deprecated_v1_order_endpoint": DeprecatedEndpoint,
    "authentication_error": AuthError,
    "signature_is_missing_from_headers": AuthError,
    "header_timestamp_expired": AuthError,
    "service_unavailable": ExchangeUnavailable,
    "internal_server_error": ExchangeUnavailable,
}
_PREFIXES = sorted(CODE_CLASSES, key=len, reverse=True)

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_TEXT_LIMIT = 200


def class_for_code(code: str | None) -> type[ExchangeError] | None:
    """The taxonomy class for a Kalshi error code, or None when the code is unknown."""
    if not code:
        return None
    lowered = code.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            return CODE_CLASSES[prefix]
    return None


def class_for_status(status: int | None, path: str) -> type[ExchangeError]:
    """The class an HTTP status implies when the body names no known code."""
    if status is None:  # a batch item's own error: the order was refused
        return InvalidOrder
    if status in (401, 403):
        return AuthError
    if status == 404:
        return MarketNotFound if "/markets" in path else OrderNotFound
    if status == 410:
        return DeprecatedEndpoint
    if status == 429:
        return RateLimited
    if status == 425 or status >= 500:
        return ExchangeUnavailable
    if 400 <= status < 500:
        return InvalidOrder
    return UnexpectedResponse


def _status_first(status: int | None) -> type[ExchangeError] | None:
    """Statuses whose meaning does not depend on the body: they win over any code in it."""
    if status in (401, 410, 429, 425) or (status or 0) >= 500:
        return class_for_status(status, "")
    return None


def error_fields(body: bytes) -> tuple[str | None, str, Any]:
    """(code, message, parsed body) from any Kalshi error body shape."""
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, _text_message(body), body.decode("utf-8", "replace")
    return (*_json_fields(parsed), parsed)


def _json_fields(parsed: Any) -> tuple[str | None, str]:
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        if isinstance(inner, dict):  # nested (normal)
            return _code_message(inner)
        if isinstance(inner, str):  # 429 {"error": "too many requests"}
            return None, inner
        if "code" in parsed:  # flat
            return _code_message(parsed)
        if isinstance(parsed.get("msg"), str):  # bare
            return None, parsed["msg"]
    if isinstance(parsed, str):
        return None, parsed
    return None, "unrecognised error body" if parsed is not None else "empty error body"


def _code_message(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    code = obj.get("code")
    code = str(code) if code is not None else None
    message = str(obj.get("message") or code or "no message")
    details = obj.get("details")
    if details and details != message:
        message = f"{message} ({details})"
    return code, message


def _text_message(body: bytes) -> str:
    """A short readable message from text/plain or an HTML error page."""
    title = _TITLE.search(body)
    raw = title.group(1) if title else body
    text = " ".join(_TAGS.sub(" ", raw.decode("utf-8", "replace")).split())
    return text[:_TEXT_LIMIT] or "empty error body"


def kalshi_error(
    status: int | None, body: bytes, *, endpoint: str, headers: Mapping[str, str] | None = None
) -> ExchangeError:
    """The ExchangeError for one Kalshi error answer; `endpoint` is "METHOD /path" for the message."""
    code, message, parsed = error_fields(body)
    path = endpoint.partition(" ")[2]
    cls = _status_first(status) or class_for_code(code) or class_for_status(status, path)
    return cls(
        f"{message} [{endpoint}]",
        exchange="kalshi",
        status=status,
        code=code,
        body=parsed,
        retry_after=retry_after_header(headers or {}),
    )


def item_error(error: Any, *, endpoint: str) -> ExchangeError:
    """The ExchangeError for a batch item's own `error` object (no HTTP status of its own)."""
    return kalshi_error(None, orjson.dumps({"error": error}), endpoint=endpoint)
