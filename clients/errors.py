"""One error taxonomy for both exchanges and for the answers the tradetape proxy makes itself.

Exchange errors keep the exchange's own code and message; proxy answers (header
`X-Tradetape-Error`) are a separate branch so a replay miss or a spending-guard refusal is never
mistaken for an exchange decision, and is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tapecontract import ERROR_FIELD, ERROR_HEADER, NO_ANSWER_STATUS, SPENDING_GUARD, UPSTREAM_KINDS


class TradingError(Exception):
    """Base of everything the clients raise."""


class ExchangeError(TradingError):
    """The exchange answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        exchange: str,
        status: int | None = None,
        code: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.exchange}", f"HTTP {self.status}" if self.status is not None else None, self.code]
        head = " ".join(p for p in parts if p)
        return f"{head}: {self.message}"


class InsufficientBalance(ExchangeError):
    """Not enough balance or allowance for the order."""


class MarketNotFound(ExchangeError):
    """Unknown ticker or token id."""


class MarketClosed(ExchangeError):
    """Market closed, paused, inactive or not accepting orders."""


class InvalidOrder(ExchangeError):
    """Price, size, precision, post-only or other validation failure."""


class OrderNotFilled(ExchangeError):
    """Fill-or-kill killed, or fill-and-kill found nothing to match."""


class DuplicateOrder(ExchangeError):
    """The order (client_order_id or hash) already exists."""


class OrderNotFound(ExchangeError):
    """Unknown, already canceled or already executed order."""


class AuthError(ExchangeError):
    """Credentials, signature or timestamp refused."""


class RateLimited(ExchangeError):
    """Too many requests; `retry_after` seconds when the exchange said."""


class ExchangeUnavailable(ExchangeError):
    """5xx, 425, maintenance, cancel-only or post-only mode."""


class DeprecatedEndpoint(ExchangeError):
    """A retired endpoint (Kalshi 410)."""


class UnexpectedResponse(ExchangeError):
    """A success status whose body does not have the documented shape."""


class TransportError(TradingError):
    """The request did not get an HTTP answer (connection refused, reset, timeout)."""


class ProxyAnswer(TradingError):
    """An answer the tradetape proxy made itself; never an exchange decision, never retried."""

    def __init__(self, kind: str, detail: Any, *, status: int, body: Any = None) -> None:
        super().__init__(proxy_message(kind, detail, status, body))
        self.kind = kind
        self.detail = detail
        self.status = status
        self.body = body


def proxy_message(kind: str, detail: Any, status: int, body: Any) -> str:
    """A replay miss reads as the proxy worded it (its one-line summary, then the details); others as kind: detail."""
    if isinstance(body, dict) and isinstance(body.get("summary"), str):
        details = [f"  {line}" for line in body.get("explanation") or () if isinstance(line, str)]
        return "\n".join([body["summary"], *details])
    return f"tradetape proxy {status} {kind}: {detail}"


class ReplayMismatch(ProxyAnswer):
    """Replay had no recording for this request (unmatched, exhausted, out_of_order)."""


class SpendingGuardRefused(ProxyAnswer):
    """The proxy's spending guard refused the order; it was never forwarded."""


class ProxyUpstreamError(ProxyAnswer):
    """The proxy could not reach the exchange (502) or timed out (504)."""


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """Seconds from a numeric Retry-After header; None when absent or an HTTP-date (the caller's
    own backoff decides then)."""
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _proxy_class(status: int, kind: str) -> type[ProxyAnswer]:
    if status == NO_ANSWER_STATUS:
        return ReplayMismatch
    if kind == SPENDING_GUARD:
        return SpendingGuardRefused
    if status in (502, 504) or kind in UPSTREAM_KINDS:
        return ProxyUpstreamError
    return ProxyAnswer


def proxy_answer(status: int, headers: Mapping[str, str], body: bytes) -> ProxyAnswer | None:
    """The ProxyAnswer for a response the proxy made itself, or None for an exchange response."""
    kind = headers.get(ERROR_HEADER)
    if kind is None:
        return None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    detail: Any = body.decode("utf-8", "replace")
    if isinstance(parsed, dict):
        detail = {k: v for k, v in parsed.items() if k != ERROR_FIELD} or detail
    return _proxy_class(status, kind)(kind, detail, status=status, body=parsed)
