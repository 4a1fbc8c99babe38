"""Polymarket CLOB bodies -> the typed results of `clients.polymarket.types`.

Every number becomes a Decimal parsed from the exchange's string (or `Decimal(str(x))` where the
API sends a JSON number); a body without the documented shape raises `UnexpectedResponse`
naming the endpoint and the field, never a KeyError at the caller.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from clients.errors import UnexpectedResponse
from clients.polymarket.errors import EXCHANGE, error_class
from clients.polymarket.orders import IMMEDIATE_TYPES, from_units
from clients.polymarket.types import (
    ApiCreds,
    BalanceAllowance,
    BookLevel,
    ClobMarket,
    FeeDetails,
    PolyBook,
    PolyTrade,
    SignedOrder,
)
from clients.types import OrderResult
from ctf_order import decimal_digits

TERMINAL_ORDER_STATUSES = ("MATCHED", "CANCELED", "INVALID", "CANCELED_MARKET_RESOLVED")


def unexpected(endpoint: str, problem: str, body: Any, status: int = 200) -> UnexpectedResponse:
    return UnexpectedResponse(f"{endpoint}: {problem}", exchange=EXCHANGE, status=status, body=body)


def require(body: Any, name: str, kind: type | tuple[type, ...], endpoint: str) -> Any:
    """body[name] if body is an object and the value has the expected JSON type."""
    if not isinstance(body, dict):
        raise unexpected(endpoint, f"expected a JSON object, got {type(body).__name__}", body)
    if name not in body:
        raise unexpected(endpoint, f"field {name!r} is missing", body)
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise unexpected(endpoint, f"field {name!r} has type {type(value).__name__}", body)
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def decimal_field(body: Any, name: str, endpoint: str, *, empty: Decimal | None = None) -> Decimal:
    """A Decimal from a string (or JSON number) field; "" gives `empty` when that is allowed."""
    value = require(body, name, (str, int, float), endpoint)
    if value == "" and empty is not None:
        return empty
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise unexpected(endpoint, f"field {name!r} is not a number: {value!r}", body) from None
    if not result.is_finite():
        raise unexpected(endpoint, f"field {name!r} is not a finite number: {value!r}", body)
    return result


def optional_decimal(body: dict[str, Any], name: str, endpoint: str) -> Decimal | None:
    return None if body.get(name) in (None, "") else decimal_field(body, name, endpoint)


def _fill(filled: Decimal, cost: Decimal) -> Decimal | None:
    return cost / filled if filled else None


def parse_post_order(body: Any, signed: SignedOrder, endpoint: str = "POST /order") -> OrderResult:
    """OrderResult of a `POST /order` 200; a success:false or errorMsg reply raises its mapped error."""
    if not isinstance(body, dict):
        raise unexpected(endpoint, f"expected a JSON object, got {type(body).__name__}", body)
    message = body.get("errorMsg") or ""
    if not isinstance(message, str):
        raise unexpected(endpoint, "field 'errorMsg' is not a string", body)
    if message or body.get("success") is False:
        text = message or "success=false without errorMsg"
        raise error_class(None, text)(f"{endpoint}: {text}", exchange=EXCHANGE, status=200, body=body)
    require(body, "success", bool, endpoint)
    order_id = require(body, "orderID", str, endpoint)
    status = require(body, "status", str, endpoint)
    if not order_id:
        raise unexpected(endpoint, "field 'orderID' is empty", body)
    making = decimal_field(body, "makingAmount", endpoint, empty=Decimal(0))
    taking = decimal_field(body, "takingAmount", endpoint, empty=Decimal(0))
    filled, cost = (taking, making) if signed.side == "BUY" else (making, taking)
    return OrderResult(
        exchange=EXCHANGE,
        order_id=order_id,
        client_order_id=None,
        status=status,
        filled=filled,
        remaining=_post_remaining(status, signed, filled),
        avg_price=_fill(filled, cost),
        cost=cost,
        fees=None,
        limit_price=signed.price,
        raw=body,
    )


def _post_remaining(status: str, signed: SignedOrder, filled: Decimal) -> Decimal | None:
    """Shares still working on the book, where the reply tells: FOK/FAK rests nothing, nor does
    an `unmatched` order (marketable, but its matching delay failed)."""
    if status == "delayed":
        return None
    if signed.order_type in IMMEDIATE_TYPES or status == "unmatched":
        return Decimal(0)
    return max(signed.shares - filled, Decimal(0))


def parse_order(body: Any, endpoint: str = "GET /data/order") -> OrderResult:
    """OrderResult of `/data/order/{id}`: filled = size_matched, cost at the order's limit price (`price`,
    also limit_price). The order record has no fill prices; `get_trades` gives the exact ones.
    """
    order_id = require(body, "id", str, endpoint)
    status = require(body, "status", str, endpoint)
    original = decimal_field(body, "original_size", endpoint)
    matched = decimal_field(body, "size_matched", endpoint)
    price = decimal_field(body, "price", endpoint)
    state = status.upper().removeprefix("ORDER_STATUS_")
    return OrderResult(
        exchange=EXCHANGE,
        order_id=order_id,
        client_order_id=None,
        status=status,
        filled=matched,
        remaining=Decimal(0) if state in TERMINAL_ORDER_STATUSES else original - matched,
        avg_price=price if matched else None,
        cost=matched * price,
        fees=None,
        limit_price=price,
        raw=body,
    )


def parse_trade(body: Any, endpoint: str = "GET /data/trades") -> PolyTrade:
    return PolyTrade(
        id=require(body, "id", str, endpoint),
        taker_order_id=require(body, "taker_order_id", str, endpoint),
        market=require(body, "market", str, endpoint),
        asset_id=require(body, "asset_id", str, endpoint),
        side=require(body, "side", str, endpoint),
        size=decimal_field(body, "size", endpoint),
        price=decimal_field(body, "price", endpoint),
        status=require(body, "status", str, endpoint),
        match_time=str(require(body, "match_time", (str, int), endpoint)),
        trader_side=body.get("trader_side"),
        fee_rate_bps=optional_decimal(body, "fee_rate_bps", endpoint),
        transaction_hash=body.get("transaction_hash") or None,
        raw=body,
    )


def parse_page(body: Any, endpoint: str) -> tuple[list[Any], str]:
    """(data, next_cursor) of a paginated answer."""
    return require(body, "data", list, endpoint), require(body, "next_cursor", str, endpoint)


def _levels(body: Any, name: str, endpoint: str, best_first_descending: bool) -> tuple[BookLevel, ...]:
    levels = [
        BookLevel(
            decimal_field(level, "price", f"{endpoint} {name}"), decimal_field(level, "size", f"{endpoint} {name}")
        )
        for level in require(body, name, list, endpoint)
    ]
    return tuple(sorted(levels, key=lambda level: level.price, reverse=best_first_descending))


def parse_book(body: Any, endpoint: str = "GET /book") -> PolyBook:
    neg_risk = body.get("neg_risk") if isinstance(body, dict) else None
    return PolyBook(
        market=require(body, "market", str, endpoint),
        asset_id=require(body, "asset_id", str, endpoint),
        timestamp=str(require(body, "timestamp", (str, int), endpoint)),
        hash=require(body, "hash", str, endpoint),
        bids=_levels(body, "bids", endpoint, best_first_descending=True),
        asks=_levels(body, "asks", endpoint, best_first_descending=False),
        tick_size=optional_decimal(body, "tick_size", endpoint),
        min_order_size=optional_decimal(body, "min_order_size", endpoint),
        neg_risk=neg_risk if isinstance(neg_risk, bool) else None,
        last_trade_price=optional_decimal(body, "last_trade_price", endpoint),
        raw=body,
    )


def parse_balance(body: Any, endpoint: str = "GET /balance-allowance") -> BalanceAllowance:
    """Balance from 1e6 units; live V2 sends plural `allowances`, the docs a singular `allowance`."""
    balance = require(body, "balance", str, endpoint)
    if not decimal_digits(balance):
        raise unexpected(endpoint, f"field 'balance' is not an integer string: {balance!r}", body)
    if "allowances" in body:
        spenders = require(body, "allowances", dict, endpoint)
    else:
        spenders = {"": require(body, "allowance", str, endpoint)}
    allowances = {}
    for spender, value in spenders.items():
        if not isinstance(value, str) or not decimal_digits(value):
            raise unexpected(endpoint, f"allowance of {spender!r} is not an integer string: {value!r}", body)
        allowances[spender] = int(value)
    return BalanceAllowance(balance=from_units(balance), allowances=allowances, raw=body)


def parse_tick_size(body: Any, endpoint: str = "GET /tick-size") -> Decimal:
    """`minimum_tick_size` arrives as a JSON number: Decimal(str(x)) keeps 0.01 exact."""
    tick = decimal_field(body, "minimum_tick_size", endpoint)
    if tick <= 0:
        raise unexpected(endpoint, f"field 'minimum_tick_size' is not positive: {tick}", body)
    return tick


def parse_neg_risk(body: Any, endpoint: str = "GET /neg-risk") -> bool:
    neg_risk: bool = require(body, "neg_risk", bool, endpoint)
    return neg_risk


def parse_clob_market(body: Any, condition_id: str, endpoint: str = "GET /clob-markets") -> ClobMarket:
    """The compact market info; every field the trader relies on is checked, and named when it is not as documented
    (a flag the server leaves out when false reads as False)."""
    tokens = {}
    for i, token in enumerate(require(body, "t", list, endpoint)):
        where = f"{endpoint} t[{i}]"
        tokens[require(token, "t", str, where)] = require(token, "o", str, where)
    if "c" in body and body["c"] != condition_id:
        raise unexpected(endpoint, f"field 'c' is {body['c']!r}, not the market asked for {condition_id!r}", body)
    fd = require(body, "fd", dict, endpoint)
    fees = FeeDetails(
        rate=decimal_field(fd, "r", f"{endpoint} fd"),
        exponent=decimal_field(fd, "e", f"{endpoint} fd"),
        taker_only=_flag(fd, "to", f"{endpoint} fd"),
    )
    return ClobMarket(
        condition_id=condition_id,
        tokens=tokens,
        tick_size=decimal_field(body, "mts", endpoint),
        min_order_size=decimal_field(body, "mos", endpoint),
        neg_risk=_flag(body, "nr", endpoint),
        fees=fees,
        accepting_orders=_flag(body, "ao", endpoint),
        raw=body,
    )


def _flag(body: dict[str, Any], name: str, endpoint: str) -> bool:
    """A boolean the server omits when false."""
    flag: bool = require(body, name, bool, endpoint) if name in body else False
    return flag


def parse_api_creds(body: Any, endpoint: str) -> ApiCreds:
    return ApiCreds(
        api_key=require(body, "apiKey", str, endpoint),
        secret=require(body, "secret", str, endpoint),
        passphrase=require(body, "passphrase", str, endpoint),
    )


def parse_cancel(body: Any, order_id: str, endpoint: str = "DELETE /order") -> None:
    """Return if `order_id` was canceled; raise the mapped reason if it is in `not_canceled`."""
    canceled = require(body, "canceled", list, endpoint)
    not_canceled = require(body, "not_canceled", dict, endpoint)
    if order_id in canceled:
        return
    if order_id in not_canceled:
        reason = str(not_canceled[order_id])
        raise error_class(None, reason)(f"{endpoint}: {reason}", exchange=EXCHANGE, status=200, body=body)
    raise unexpected(endpoint, f"order {order_id} is in neither 'canceled' nor 'not_canceled'", body)
