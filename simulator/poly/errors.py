"""The paper Polymarket's refusals: `{"error": message}` bodies with the real wording, except 425 (plain text)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from simulator.poly.wire import json_response


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
