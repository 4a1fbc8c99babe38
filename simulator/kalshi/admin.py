"""Admin API of the Kalshi listener under /__sim/kalshi/: books, balances, statuses, keys, inspection, reset, settle.

Admin answers are plain JSON; refusals are 400 `{"sim_error": "..."}` naming the field.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from simulator.admin import AdminError, read_object
from simulator.kalshi.config import MARKET_STATUSES, load_public_key, parse_book
from simulator.kalshi.model import STATUS_FILTER, Account
from simulator.kalshi.routes import EXCHANGE, answer
from simulator.kalshi.wire import balance_json, fill_json, market_position_json, order_json, orderbook_json
from simulator.state import read_decimal

ADMIN = "/__sim/kalshi"
_FILTER_TO_STATUS = {
    "unopened": "initialized",
    "open": "active",
    "paused": "inactive",
    "closed": "closed",
    "settled": "finalized",
}


def _field(body: dict[str, Any], name: str) -> Any:
    if body.get(name) in (None, ""):
        raise AdminError(f"field {name!r} is required")
    return body[name]


def _account(request: web.Request, name: str | None) -> Account:
    exchange = request.app[EXCHANGE].exchange
    name = name or "default"
    if name not in exchange.accounts:
        raise AdminError(f"unknown account {name!r} (known: {', '.join(sorted(exchange.accounts))})")
    return exchange.accounts[name]


async def set_book(request: web.Request) -> web.Response:
    body = await read_object(request)
    exchange = request.app[EXCHANGE].exchange
    ticker = _field(body, "ticker")
    bids, asks = parse_book(body, "book")
    exchange.set_book(ticker, bids, asks)
    return answer(orderbook_json(exchange.books[ticker]))


async def set_balance(request: web.Request) -> web.Response:
    body = await read_object(request)
    exchange = request.app[EXCHANGE].exchange
    name = body.get("account") or "default"
    amount = read_decimal(_field(body, "balance"), "balance")
    account = exchange.accounts.setdefault(name, Account(name, str(uuid.uuid4()), amount))
    account.cash = amount + exchange.held(account)
    account.updated_ts = exchange.now()
    return answer(balance_json(exchange, account))


async def set_market_status(request: web.Request) -> web.Response:
    body = await read_object(request)
    exchange = request.app[EXCHANGE].exchange
    status = _field(body, "status")
    status = _FILTER_TO_STATUS.get(status, status)
    if status not in MARKET_STATUSES:
        raise AdminError(f"status must be one of {', '.join(MARKET_STATUSES + tuple(_FILTER_TO_STATUS))}")
    ticker = request.match_info["ticker"]
    if ticker not in exchange.markets:
        raise AdminError(f"unknown market {ticker!r}")
    exchange.set_status(ticker, status)
    return answer({"ticker": ticker, "status": status, "list_status": STATUS_FILTER[status]})


async def set_exchange(request: web.Request) -> web.Response:
    body = await read_object(request)
    active = body.get("trading_active")
    if not isinstance(active, bool):
        raise AdminError("field 'trading_active' must be true or false")
    request.app[EXCHANGE].exchange.trading_active = active
    return answer({"trading_active": active})


async def register_key(request: web.Request) -> web.Response:
    body = await read_object(request)
    key_id = str(_field(body, "key_id"))
    account = _account(request, body.get("account"))
    public_key = load_public_key(_field(body, "public_key_pem"), "public_key_pem")
    request.app[EXCHANGE].exchange.keys[key_id] = (account.name, public_key)
    return answer({"key_id": key_id, "account": account.name}, 201)


async def inspect_orders(request: web.Request) -> web.Response:
    account = _account(request, request.query.get("account"))
    exchange = request.app[EXCHANGE].exchange
    orders = [order_json(o, account) for o in exchange.orders.values() if o.account == account.name]
    return answer({"orders": orders})


async def inspect_fills(request: web.Request) -> web.Response:
    account = _account(request, request.query.get("account"))
    fills = [fill_json(f) for f in request.app[EXCHANGE].exchange.fills if f.account == account.name]
    return answer({"fills": fills})


async def inspect_positions(request: web.Request) -> web.Response:
    account = _account(request, request.query.get("account"))
    exchange = request.app[EXCHANGE].exchange
    return answer(
        {
            "balance": balance_json(exchange, account),
            "market_positions": [market_position_json(t, p) for t, p in account.positions.items()],
        }
    )


async def reset(request: web.Request) -> web.Response:
    request.app[EXCHANGE].reset()
    return answer({"reset": True})


async def settle(request: web.Request) -> web.Response:
    body = await read_object(request)
    exchange = request.app[EXCHANGE].exchange
    ticker, result = _field(body, "ticker"), _field(body, "result")
    if result not in ("yes", "no"):
        raise AdminError("field 'result' must be 'yes' or 'no'")
    if ticker not in exchange.markets:
        raise AdminError(f"unknown market {ticker!r}")
    exchange.settle(ticker, result)
    return answer({"ticker": ticker, "result": result, "status": exchange.markets[ticker].status})


admin_routes: list[web.RouteDef] = [
    web.post(f"{ADMIN}/book", set_book),
    web.post(f"{ADMIN}/balance", set_balance),
    web.post(f"{ADMIN}/markets/{{ticker}}/status", set_market_status),
    web.post(f"{ADMIN}/exchange", set_exchange),
    web.post(f"{ADMIN}/keys", register_key),
    web.get(f"{ADMIN}/orders", inspect_orders),
    web.get(f"{ADMIN}/fills", inspect_fills),
    web.get(f"{ADMIN}/positions", inspect_positions),
    web.post(f"{ADMIN}/reset", reset),
    web.post(f"{ADMIN}/settle", settle),
]
