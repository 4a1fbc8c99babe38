"""How the paper Polymarket writes numbers and errors on the wire, matching the real server.

Human-unit decimals are minimal strings (`"60.47"`, `"0.952"`, `"10"`); balances and signed
amounts are 1e-6 integer strings; errors are `{"error": message}` except 425 (plain text).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

UNIT = Decimal("0.000001")
SCALE = 10**6
MAX_UINT256 = str(2**256 - 1)


class PolyError(Exception):
    """An answer the exchange refuses with: status and the real body."""

    def __init__(
        self, status: int, message: str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def response(self) -> web.Response:
        return json_response({"error": self.message, **self.extra}, self.status, self.headers)


def human(value: Decimal) -> str:
    """Minimal decimal string: 60.470 -> "60.47", 10.00 -> "10", 0 -> "0"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0.0") else text


def units(value: Decimal) -> str:
    """Human units to a 1e-6 integer string (exact; sub-unit dust is floored)."""
    return str(int((value * SCALE).to_integral_value(rounding="ROUND_FLOOR")))


def from_units(text: str) -> Decimal:
    """A 1e-6 integer string to human units, exactly."""
    return Decimal(int(text)).scaleb(-6)


def decimals(value: Decimal) -> int:
    """Digits after the point once trailing zeros are dropped."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers)


def number(value: Decimal) -> orjson.Fragment:
    """A JSON number written from the Decimal's text (tick sizes, minimum sizes, fee rates), never via float."""
    return orjson.Fragment(human(value).encode())


_FAULT_MESSAGES = {
    401: "Unauthorized/Invalid api key",
    429: "Too Many Requests",
    500: "Internal server error",
    503: "Trading is currently disabled. Check polymarket.com for updates",
}


def default_fault_body(status: int) -> tuple[str, bytes]:
    """(content type, body) Polymarket sends with `status`; 425 is plain text `service not ready`."""
    if status == 425:
        return "text/plain", b"service not ready"
    message = _FAULT_MESSAGES.get(status, "Internal server error" if status >= 500 else "Invalid order payload")
    return "application/json", orjson.dumps({"error": message})
