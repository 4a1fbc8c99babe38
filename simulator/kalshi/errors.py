"""Kalshi's error answers, in its three body shapes (nested, flat, bare), with the real wording.

Bodies follow the recorded ones (docs/wire/kalshi.md §7, tests/data/payloads/kalshi/) minus the `service` field,
which Kalshi removed on 2026-08-06.
"""

from __future__ import annotations

from typing import Any


class KalshiError(Exception):
    """An answer the paper exchange refuses a request with: HTTP status plus Kalshi's body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(error, dict):
            return error.get("code")
        return self.body.get("code") if isinstance(self.body, dict) else None


def nested(status: int, code: str, message: str | None = None, details: str | None = None) -> KalshiError:
    error: dict[str, str] = {"code": code, "message": message or code.replace("_", " ")}
    if details is not None:
        error["details"] = details
    return KalshiError(status, {"error": error})


def flat_bad_request(details: str) -> KalshiError:
    """JSON decode failures answer in the flat shape (Go's json error text as details)."""
    return KalshiError(400, {"code": "bad_request", "message": "bad request", "details": details})


def bare(message: str) -> KalshiError:
    """Query validation failures answer `{"msg": ...}`."""
    return KalshiError(400, {"msg": message})


def limit_error(operation: str, tag: str) -> KalshiError:
    return bare(
        f"Parameter validation failed for {operation}: Key: '{operation}Params.Limit' "
        f"Error:Field validation for 'Limit' failed on the '{tag}' tag"
    )


def invalid_order(details: str) -> KalshiError:
    return nested(400, "invalid_order", "invalid order", details)


NOT_FOUND = ("not_found", "not found")


def unrouted_error(status: int) -> KalshiError:
    """A path (404) or method (405) the API does not have, in the nested shape."""
    return nested(404, *NOT_FOUND) if status == 404 else nested(405, "method_not_allowed", "method not allowed")


DEPRECATED_V1 = {
    "error": {
        "code": "deprecated_v1_order_endpoint",
        "message": "Please switch to the V2 endpoints",
        "details": "https://docs.kalshi.com/api-reference/orders/create-order-v2",
    }
}

AUTH_BAD_SIGNATURE = {
    "error": {
        "code": "authentication_error",
        "message": "authentication_error",
        "details": "INCORRECT_API_KEY_SIGNATURE",
    }
}
AUTH_UNKNOWN_KEY = {
    "error": {"code": "authentication_error", "message": "authentication_error", "details": "NOT_FOUND"}
}
AUTH_MISSING = {"error": {"code": "signature_is_missing_from_headers", "message": "signature is missing from headers"}}
AUTH_EXPIRED = {"error": {"code": "header_timestamp_expired", "message": "header timestamp expired"}}

_FAULT_BODIES: dict[int, Any] = {
    429: {"error": "too many requests"},
    500: {"error": {"code": "internal_server_error", "message": "internal server error"}},
    503: {"error": {"code": "service_unavailable", "message": "service unavailable"}},
    425: {"error": {"code": "too_early", "message": "too early"}},
}


def default_fault_body(status: int) -> Any:
    """The body Kalshi sends with `status` (429 is real; 5xx/425 follow its nested shape)."""
    return _FAULT_BODIES.get(status, {"error": {"code": "internal_server_error", "message": "internal server error"}})
