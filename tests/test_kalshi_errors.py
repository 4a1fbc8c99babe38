"""Kalshi error mapping: every body shape and every code of docs/wire/kalshi.md §7 → one taxonomy class."""

import orjson
import pytest

from clients.errors import (
    AuthError,
    DeprecatedEndpoint,
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientBalance,
    InvalidOrder,
    MarketClosed,
    MarketNotFound,
    OrderNotFilled,
    OrderNotFound,
    RateLimited,
    UnexpectedResponse,
)
from clients.kalshi.errors import item_error, kalshi_error


def nested(code, message="m", **extra):
    return orjson.dumps({"error": {"code": code, "message": message, **extra}})


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "insufficient_balance", InsufficientBalance),
        (400, "available_balance_too_low", InsufficientBalance),
        (409, "order_already_exists", DuplicateOrder),
        (400, "invalid_price", InvalidOrder),
        (400, "invalid_order", InvalidOrder),
        (400, "invalid_order_size", InvalidOrder),
        (400, "order_id_and_client_order_id_mismatch", InvalidOrder),
        (400, "order_side_mismatch", InvalidOrder),
        (400, "order_ticker_mismatch", InvalidOrder),
        (400, "invalid_parameters", InvalidOrder),
        (409, "fill_or_kill_insufficient_resting_volume", OrderNotFilled),
        (409, "trading_is_paused", MarketClosed),
        (400, "trading_is_paused", MarketClosed),
        (409, "market_closed", MarketClosed),
        (400, "market_inactive", MarketClosed),
        (400, "MARKET_NOT_ACTIVE", MarketClosed),
        (400, "MARKET_INACTIVE", MarketClosed),
        (404, "market_not_found", MarketNotFound),
        (404, "market_not_found:_3f2a", MarketNotFound),  # dynamic suffix: prefix match
        (404, "not_found", OrderNotFound),
        (410, "deprecated_v1_order_endpoint", DeprecatedEndpoint),
        (401, "authentication_error", AuthError),
        (401, "signature_is_missing_from_headers", AuthError),
        (401, "header_timestamp_expired", AuthError),
        (500, "internal_server_error", ExchangeUnavailable),
        (503, "service_unavailable", ExchangeUnavailable),
        (503, "not_found", ExchangeUnavailable),  # a 5xx is retryable whatever its code says
    ],
)
def test_codes_map_to_classes(status, code, cls):
    error = kalshi_error(status, nested(code, details="d"), endpoint="POST /portfolio/events/orders")
    assert type(error) is cls
    assert (error.exchange, error.status, error.code) == ("kalshi", status, code)
    assert error.message == "m (d) [POST /portfolio/events/orders]"
    assert error.body == {"error": {"code": code, "message": "m", "details": "d"}}


@pytest.mark.parametrize(
    "status, body, path, cls, code, message",
    [
        (
            400,
            b'{"code":"bad_request","message":"bad request","details":"json: cannot unmarshal"}',
            "/portfolio/events/orders",
            InvalidOrder,
            "bad_request",
            "bad request (json: cannot unmarshal)",
        ),
        (
            400,
            b'{"msg":"Parameter validation failed for GetMarkets"}',
            "/markets",
            InvalidOrder,
            None,
            "Parameter validation failed for GetMarkets",
        ),
        (429, b'{"error":"too many requests"}', "/portfolio/balance", RateLimited, None, "too many requests"),
        (502, b"upstream connect error", "/portfolio/balance", ExchangeUnavailable, None, "upstream connect error"),
        (
            503,
            b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503</h1></body></html>",
            "/markets/T",
            ExchangeUnavailable,
            None,
            "503 Service Temporarily Unavailable",
        ),
        (
            403,
            b"<html><body><p>this API key is restricted to a single sub-account</p></body></html>",
            "/portfolio/balance",
            AuthError,
            None,
            "this API key is restricted to a single sub-account",
        ),
        (404, b"", "/markets/NOPE", MarketNotFound, None, "empty error body"),
        (404, b"", "/portfolio/orders/x", OrderNotFound, None, "empty error body"),
        (425, b"null", "/portfolio/balance", ExchangeUnavailable, None, "empty error body"),
        (409, b"[1, 2]", "/portfolio/events/orders", InvalidOrder, None, "unrecognised error body"),
        (400, b'"plain json string"', "/portfolio/events/orders", InvalidOrder, None, "plain json string"),
        (400, b"\xff\xfe not utf-8", "/portfolio/events/orders", InvalidOrder, None, "\ufffd\ufffd not utf-8"),
        (301, b"Moved Permanently", "/portfolio/orders/", UnexpectedResponse, None, "Moved Permanently"),
    ],
)
def test_every_body_shape_maps_without_raising(status, body, path, cls, code, message):
    error = kalshi_error(status, body, endpoint=f"GET {path}")
    assert type(error) is cls
    assert error.code == code
    assert error.message == f"{message} [GET {path}]"


def test_status_first_classes_win_over_codes():
    assert type(kalshi_error(401, nested("not_found"), endpoint="GET /x")) is AuthError
    assert type(kalshi_error(429, nested("invalid_order"), endpoint="GET /x")) is RateLimited
    assert type(kalshi_error(410, nested("invalid_order"), endpoint="POST /portfolio/orders")) is DeprecatedEndpoint


def test_unknown_codes_fall_back_on_status():
    assert type(kalshi_error(400, nested("brand_new_code"), endpoint="POST /x")) is InvalidOrder
    assert type(kalshi_error(404, nested("brand_new_code"), endpoint="GET /markets/T")) is MarketNotFound


def test_retry_after_is_kept_when_given():
    assert (
        kalshi_error(
            429, b'{"error":"too many requests"}', endpoint="GET /x", headers={"Retry-After": "2.5"}
        ).retry_after
        == 2.5
    )
    assert (
        kalshi_error(429, b"", endpoint="GET /x", headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}).retry_after
        is None
    )
    assert kalshi_error(429, b"", endpoint="GET /x").retry_after is None


def test_batch_item_errors_map_by_code_alone():
    error = item_error({"code": "insufficient_balance", "message": "insufficient balance"}, endpoint="orders[1]")
    assert type(error) is InsufficientBalance and error.status is None
    assert type(item_error({"code": "something_new"}, endpoint="orders[0]")) is InvalidOrder
