"""The Kalshi Trade API v2 routes of the paper exchange (paths, statuses and bodies as the real API)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from simulator.clock import SimClock
from simulator.faults import read_cutoff, received_at
from simulator.kalshi.auth import authenticate
from simulator.kalshi.errors import DEPRECATED_V1, NOT_FOUND, KalshiError, bare, limit_error, nested, unrouted_error
from simulator.kalshi.exchange import KalshiExchange, KalshiSim
from simulator.kalshi.model import STATUS_FILTER, ZERO, Account
from simulator.kalshi.orders import (
    CREATE_FIELDS,
    check_types,
    decode_json,
    invalid_parameters,
    parse_amend,
    parse_create,
    parse_decrease,
)
from simulator.kalshi.wire import (
    balance_json,
    event_position_json,
    execution_json,
    fill_json,
    fp,
    market_json,
    market_position_json,
    order_json,
    orderbook_json,
)
from simulator.routing import allow, unrouted

PREFIX = "/trade-api/v2"
EXCHANGE = web.AppKey("kalshi_exchange", KalshiSim)
BATCH_MAX = 20


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def answer(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


@web.middleware
async def kalshi_errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Turn KalshiError, and the router's 404/405 for an API path, into Kalshi's answer."""
    try:
        return await handler(request)
    except KalshiError as exc:
        return answer(exc.body, exc.status)
    except web.HTTPException as exc:
        if not unrouted(request, exc):
            raise
        refusal = unrouted_error(exc.status)
        response = answer(refusal.body, refusal.status)
        response.headers.update(allow(exc))
        return response


def _sim(request: web.Request) -> KalshiSim:
    return request.app[EXCHANGE]


def _exchange(request: web.Request) -> KalshiExchange:
    return _sim(request).exchange


def _clock(request: web.Request) -> SimClock:
    return _sim(request).clock


def _account(request: web.Request) -> Account:
    """The signer's account; the signature's age counts from when the request was received."""
    exchange = _exchange(request)
    received_ms = int(received_at(request, _clock(request).now()) * 1000)
    return exchange.accounts[authenticate(request, exchange, received_ms)]


def _shown(request: web.Request, created: float) -> bool:
    """Whether a read shows a record created at `created` (a `lag` fault hides the newest)."""
    cutoff = read_cutoff(request, _clock(request).now())
    return cutoff is None or created <= cutoff


async def _body(request: web.Request) -> Any:
    return decode_json(await request.read())


# -- pagination ------------------------------------------------------------------------------------


def _limit(request: web.Request, operation: str, default: int = 100, maximum: int = 1000) -> int:
    text = request.query.get("limit")
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError:
        raise bare(f"Parameter validation failed for {operation}: invalid limit {text!r}") from None
    if limit > maximum:
        raise limit_error(operation, "lte")
    if limit < 1:
        raise limit_error(operation, "gte")
    return limit


def _page(items: Sequence[Any], request: web.Request, operation: str) -> tuple[list[Any], str]:
    """One page and the cursor for the next ("" on the last page); a garbage cursor starts over."""
    limit = _limit(request, operation)
    try:
        offset = int(base64.urlsafe_b64decode(request.query.get("cursor", "").encode()).decode() or 0)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        offset = 0
    page = list(items[offset : offset + limit])
    more = offset + limit < len(items)
    return page, base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else ""


def _csv(request: web.Request, name: str) -> set[str] | None:
    value = request.query.get(name)
    return {v for v in value.split(",") if v} if value else None


def _ts_range(request: web.Request) -> tuple[float, float]:
    try:
        return float(request.query.get("min_ts", "-inf")), float(request.query.get("max_ts", "inf"))
    except ValueError:
        raise bare("Parameter validation failed: min_ts and max_ts must be Unix seconds") from None


# -- order writes ----------------------------------------------------------------------------------


async def create_order(request: web.Request) -> web.Response:
    account = _account(request)
    req = parse_create(await _body(request))
    execution = _exchange(request).create(account.name, req)
    return answer(execution_json(execution.order, execution.fills, _clock(request).now_ms()), 201)


async def batch_create(request: web.Request) -> web.Response:
    account = _account(request)
    body = check_types(await _body(request), {"orders": list}, "BatchCreateOrdersV2Request")
    items = body.get("orders") or []
    if not items or len(items) > BATCH_MAX:
        raise invalid_parameters()
    for item in items:  # Go decodes the whole body first: one wrong type fails the batch
        check_types(item, CREATE_FIELDS, "BatchCreateOrdersV2Request.orders")
    exchange, results = _exchange(request), []
    for item in items:
        try:
            execution = exchange.create(account.name, parse_create(item, "BatchCreateOrdersV2Request.orders"))
            results.append(execution_json(execution.order, execution.fills, _clock(request).now_ms()))
        except KalshiError as exc:
            entry = {"client_order_id": item["client_order_id"]} if item.get("client_order_id") else {}
            results.append(entry | {"error": exc.body.get("error", exc.body)})
    return answer({"orders": results}, 201)


async def cancel_order(request: web.Request) -> web.Response:
    account = _account(request)
    order, reduced = _exchange(request).cancel(account.name, request.match_info["order_id"])
    return answer({"order_id": order.order_id, "reduced_by": fp(reduced), "ts_ms": _clock(request).now_ms()})


async def batch_cancel(request: web.Request) -> web.Response:
    account = _account(request)
    body = check_types(await _body(request), {"orders": list}, "BatchCancelOrdersV2Request")
    items = body.get("orders") or []
    if not items or len(items) > BATCH_MAX or not all(isinstance(i, dict) and i.get("order_id") for i in items):
        raise invalid_parameters()
    exchange, results = _exchange(request), []
    for item in items:
        try:
            order, reduced = exchange.cancel(account.name, str(item["order_id"]))
            results.append({"order_id": order.order_id, "reduced_by": fp(reduced), "ts_ms": _clock(request).now_ms()})
        except KalshiError as exc:
            results.append({"order_id": item["order_id"], "reduced_by": fp(ZERO), "error": exc.body["error"]})
    return answer({"orders": results})


async def cancel_all(request: web.Request) -> web.Response:
    account = _account(request)
    _exchange(request).cancel_all(account.name)
    return web.Response(status=204)


async def amend_order(request: web.Request) -> web.Response:
    account = _account(request)
    req, updated_id, expiration = parse_amend(await _body(request))
    execution, changed = _exchange(request).amend(
        account.name, request.match_info["order_id"], req, updated_id, expiration
    )
    return answer(execution_json(execution.order, execution.fills, _clock(request).now_ms(), counts=changed))


async def decrease_order(request: web.Request) -> web.Response:
    account = _account(request)
    reduce_by, reduce_to = parse_decrease(await _body(request))
    order = _exchange(request).decrease(account.name, request.match_info["order_id"], reduce_by, reduce_to)
    body: dict[str, Any] = {"order_id": order.order_id}
    if order.client_order_id:
        body["client_order_id"] = order.client_order_id
    return answer(body | {"remaining_count": fp(order.remaining), "ts_ms": _clock(request).now_ms()})


async def retired_v1(request: web.Request) -> web.Response:
    _account(request)
    return answer(DEPRECATED_V1, 410)


# -- portfolio reads -------------------------------------------------------------------------------


async def get_order(request: web.Request) -> web.Response:
    account = _account(request)
    exchange = _exchange(request)
    exchange.expire_due()
    order = exchange.own_order(account.name, request.match_info["order_id"])
    if not _shown(request, order.created_time):
        raise nested(404, *NOT_FOUND)
    return answer({"order": order_json(order, account)})


async def list_orders(request: web.Request) -> web.Response:
    account = _account(request)
    exchange = _exchange(request)
    exchange.expire_due()
    tickers, events, status = _csv(request, "ticker"), _csv(request, "event_ticker"), request.query.get("status")
    low, high = _ts_range(request)
    if status is not None and status not in ("resting", "canceled", "executed"):
        raise bare(f"Parameter validation failed for GetOrders: invalid status {status!r}")
    orders = [
        o
        for o in reversed(list(exchange.orders.values()))
        if o.account == account.name
        and (tickers is None or o.ticker in tickers)
        and (events is None or exchange.markets[o.ticker].event_ticker in events)
        and (status is None or o.status == status)
        and low <= o.created_time <= high
        and _shown(request, o.created_time)
    ]
    page, cursor = _page(orders, request, "GetOrders")
    return answer({"cursor": cursor, "orders": [order_json(o, account) for o in page]})


async def list_fills(request: web.Request) -> web.Response:
    account = _account(request)
    exchange = _exchange(request)
    tickers, order_id = _csv(request, "ticker"), request.query.get("order_id")
    low, high = _ts_range(request)
    fills = [
        f
        for f in reversed(exchange.fills)
        if f.account == account.name
        and (tickers is None or f.ticker in tickers)
        and (order_id is None or f.order_id == order_id)
        and low <= f.created_time <= high
        and _shown(request, f.created_time)
    ]
    page, cursor = _page(fills, request, "GetFills")
    return answer({"cursor": cursor, "fills": [fill_json(f) for f in page]})


async def list_positions(request: web.Request) -> web.Response:
    account = _account(request)
    exchange = _exchange(request)
    ticker, event = request.query.get("ticker"), request.query.get("event_ticker")
    settlement = request.query.get("settlement_status", "unsettled")
    filters = _csv(request, "count_filter") or set()
    if settlement not in ("unsettled", "settled", "all") or not filters <= {"position", "total_traded"}:
        raise bare("Parameter validation failed for GetPositions: invalid settlement_status or count_filter")
    chosen = [
        (t, p)
        for t, p in account.positions.items()
        if (ticker is None or t == ticker)
        and (event is None or exchange.markets[t].event_ticker == event)
        and (settlement == "all" or p.settled == (settlement == "settled"))
        and ("position" not in filters or p.position != 0)
        and ("total_traded" not in filters or p.total_traded != 0)
    ]
    page, cursor = _page(chosen, request, "GetPositions")
    events: dict[str, list] = {}
    for t, p in page:
        events.setdefault(exchange.markets[t].event_ticker, []).append(p)
    return answer(
        {
            "cursor": cursor,
            "event_positions": [event_position_json(e, ps) for e, ps in events.items()],
            "market_positions": [market_position_json(t, p) for t, p in page],
        }
    )


async def get_balance(request: web.Request) -> web.Response:
    account = _account(request)
    exchange = _exchange(request)
    exchange.expire_due()
    return answer(balance_json(exchange, account))


# -- public market data ----------------------------------------------------------------------------


async def get_market(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    return answer({"market": market_json(exchange, exchange.market(request.match_info["ticker"]))})


async def list_markets(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    tickers, event, series = (
        _csv(request, "tickers"),
        request.query.get("event_ticker"),
        request.query.get("series_ticker"),
    )
    status = request.query.get("status")
    if status is not None and status not in set(STATUS_FILTER.values()):
        raise bare(f"Parameter validation failed for GetMarkets: invalid status {status!r}")
    markets = [
        m
        for m in exchange.markets.values()
        if (tickers is None or m.ticker in tickers)
        and (event is None or m.event_ticker == event)
        and (series is None or m.event_ticker.split("-", 1)[0] == series)
        and (status is None or STATUS_FILTER.get(m.status) == status)
    ]
    page, cursor = _page(markets, request, "GetMarkets")
    return answer({"cursor": cursor, "markets": [market_json(exchange, m) for m in page]})


async def get_orderbook(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    exchange.expire_due()
    market = exchange.market(request.match_info["ticker"])
    try:
        depth = int(request.query.get("depth", "0"))
    except ValueError:
        depth = -1
    if not 0 <= depth <= 100:
        raise bare(
            "Parameter validation failed for GetMarketOrderbook: Key: 'GetMarketOrderbookParams.Depth' "
            "Error:Field validation for 'Depth' failed on the 'lte' tag"
        )
    return answer(orderbook_json(exchange.books[market.ticker], depth))


async def exchange_status(request: web.Request) -> web.Response:
    return answer({"exchange_active": True, "trading_active": _exchange(request).trading_active})


_ORDERS = f"{PREFIX}/portfolio/events/orders"
routes: list[web.RouteDef] = [
    web.post(_ORDERS, create_order),
    web.delete(_ORDERS, cancel_all),
    web.post(f"{_ORDERS}/batched", batch_create),
    web.delete(f"{_ORDERS}/batched", batch_cancel),
    web.delete(f"{_ORDERS}/{{order_id}}", cancel_order),
    web.post(f"{_ORDERS}/{{order_id}}/amend", amend_order),
    web.post(f"{_ORDERS}/{{order_id}}/decrease", decrease_order),
    web.post(f"{PREFIX}/portfolio/orders", retired_v1),
    web.post(f"{PREFIX}/portfolio/orders/batched", retired_v1),
    web.delete(f"{PREFIX}/portfolio/orders/batched", retired_v1),
    web.delete(f"{PREFIX}/portfolio/orders/{{order_id}}", retired_v1),
    web.post(f"{PREFIX}/portfolio/orders/{{order_id}}/amend", retired_v1),
    web.post(f"{PREFIX}/portfolio/orders/{{order_id}}/decrease", retired_v1),
    web.get(f"{PREFIX}/portfolio/orders", list_orders),
    web.get(f"{PREFIX}/portfolio/orders/{{order_id}}", get_order),
    web.get(f"{PREFIX}/portfolio/fills", list_fills),
    web.get(f"{PREFIX}/portfolio/positions", list_positions),
    web.get(f"{PREFIX}/portfolio/balance", get_balance),
    web.get(f"{PREFIX}/markets", list_markets),
    web.get(f"{PREFIX}/markets/{{ticker}}", get_market),
    web.get(f"{PREFIX}/markets/{{ticker}}/orderbook", get_orderbook),
    web.get(f"{PREFIX}/exchange/status", exchange_status),
]
