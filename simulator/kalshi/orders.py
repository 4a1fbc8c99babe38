"""Parse V2 order request bodies the way Kalshi's Go server does, with its error shapes.

Wrong JSON types give the flat `bad_request` with Go's unmarshal text; missing or unknown enum
values give `invalid_parameters`; malformed counts and prices their own codes.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Literal

from simulator.kalshi.errors import KalshiError, flat_bad_request, nested
from simulator.kalshi.model import OrderRequest

_GO_TYPES = {str: "string", bool: "bool", int: "int64"}
_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}
_COUNT = re.compile(r"^\d+(\.\d{1,2})?$")
_PRICE = re.compile(r"^\d+(\.\d{1,4})?$")

CREATE_FIELDS: dict[str, type] = {
    "ticker": str,
    "side": str,
    "count": str,
    "price": str,
    "time_in_force": str,
    "self_trade_prevention_type": str,
    "client_order_id": str,
    "expiration_time": int,
    "post_only": bool,
    "reduce_only": bool,
    "cancel_order_on_pause": bool,
    "subaccount": int,
    "order_group_id": str,
    "exchange_index": int,
}
AMEND_FIELDS: dict[str, type] = {
    "ticker": str,
    "side": str,
    "count": str,
    "price": str,
    "client_order_id": str,
    "updated_client_order_id": str,
    "expiration_time": int,
    "exchange_index": int,
    "subaccount": int,
}
DECREASE_FIELDS: dict[str, type] = {
    "reduce_by": str,
    "reduce_to": str,
    "exchange_index": int,
    "market_ticker": str,
    "subaccount": int,
}
SIDES = ("bid", "ask")
TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
STP = ("taker_at_cross", "maker")


def invalid_parameters() -> KalshiError:
    return nested(400, "invalid_parameters", "invalid parameters")


def decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise flat_bad_request(f"invalid character in JSON body: {exc}") from None


def check_types(body: Any, fields: dict[str, type], struct: str) -> dict[str, Any]:
    """Refuse a body whose fields have the wrong JSON type, in Go's words; null counts as absent."""
    if not isinstance(body, dict):
        kind = _JSON_KIND.get(type(body), "null")
        raise flat_bad_request(f"json: cannot unmarshal {kind} into Go value of type {struct.split('.')[0]}")
    for name, expected in fields.items():
        value = body.get(name)
        if value is None:
            continue
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if not ok:
            kind = _JSON_KIND.get(type(value), "value")
            raise flat_bad_request(
                f"json: cannot unmarshal {kind} into Go struct field {struct}.{name} of type {_GO_TYPES[expected]}"
            )
    return {k: v for k, v in body.items() if v is not None}


def parse_count(text: str) -> Decimal:
    if not _COUNT.match(text) or Decimal(text) <= 0:
        raise nested(400, "invalid_order_size", "invalid order size")
    return Decimal(text)


def parse_price(text: str) -> Decimal:
    if not _PRICE.match(text):
        raise nested(400, "invalid_price", "invalid price")
    return Decimal(text)


def parse_fp(text: str) -> Decimal:
    if not _COUNT.match(text):
        raise invalid_parameters()
    return Decimal(text)


def _require(fields: dict[str, Any], *names: str) -> None:
    if any(not fields.get(name) for name in names):
        raise invalid_parameters()


def parse_create(body: Any, struct: str = "CreateOrderV2Request") -> OrderRequest:
    fields = check_types(body, CREATE_FIELDS, struct)
    _require(fields, "ticker", "side", "count", "price", "time_in_force", "self_trade_prevention_type")
    if (
        fields["side"] not in SIDES
        or fields["time_in_force"] not in TIME_IN_FORCE
        or fields["self_trade_prevention_type"] not in STP
    ):
        raise invalid_parameters()
    if fields.get("subaccount", 0) != 0 or fields.get("exchange_index", -1) not in (-1, 0):
        raise nested(404, "market_not_found", "market not found")
    return OrderRequest(
        ticker=fields["ticker"],
        book_side=fields["side"],
        price=parse_price(fields["price"]),
        count=parse_count(fields["count"]),
        time_in_force=fields["time_in_force"],
        self_trade_prevention_type=fields["self_trade_prevention_type"],
        client_order_id=fields.get("client_order_id", ""),
        post_only=fields.get("post_only", False),
        reduce_only=fields.get("reduce_only", False),
        expiration_time=fields.get("expiration_time"),
    )


def parse_amend(body: Any) -> tuple[OrderRequest, str | None, int | Literal["keep"] | None]:
    """The amend as an OrderRequest, the updated client_order_id, and the expiration ("keep", None or s)."""
    fields = check_types(body, AMEND_FIELDS, "AmendOrderV2Request")
    _require(fields, "ticker", "side", "count", "price")
    if fields["side"] not in SIDES:
        raise invalid_parameters()
    req = OrderRequest(
        fields["ticker"],
        fields["side"],
        parse_price(fields["price"]),
        parse_count(fields["count"]),
        "good_till_canceled",
        "taker_at_cross",
        client_order_id=fields.get("client_order_id", ""),
    )
    expiration: int | Literal["keep"] | None = "keep"
    if "expiration_time" in fields:
        expiration = fields["expiration_time"] or None
    return req, fields.get("updated_client_order_id"), expiration


def parse_decrease(body: Any) -> tuple[Decimal | None, Decimal | None]:
    fields = check_types(body if body is not None else {}, DECREASE_FIELDS, "DecreaseOrderV2Request")
    if ("reduce_by" in fields) == ("reduce_to" in fields):
        raise invalid_parameters()
    if "reduce_by" in fields:
        return parse_fp(fields["reduce_by"]), None
    return None, parse_fp(fields["reduce_to"])
