"""Admin API under /__sim/poly/: set books, balances, market status and trading mode; inspect;
settle; reset. Errors are `{"sim_error": ...}` so they never look like an exchange answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from eth_utils import is_hex_address, to_checksum_address

from simulator.admin import AdminError, read_object
from simulator.poly.book import summary
from simulator.poly.config import check_uncrossed, parse_levels
from simulator.poly.exchange import MODES, PolyExchange
from simulator.poly.model import ZERO, Account, Market
from simulator.poly.routes import EXCHANGE
from simulator.poly.wire import human, json_response, order_view, trade_view
from simulator.state import read_decimal

ADMIN = "/__sim/poly"
admin_routes = web.RouteTableDef()


def account_view(exchange: PolyExchange, account: Account) -> dict[str, Any]:
    return {
        "address": account.address,
        "signature_type": account.signature_type,
        "funder": account.funder,
        "balance": human(account.balance),
        "reserved": human(exchange.reserved_pusd(account)),
        "allowance": None if account.allowance is None else human(account.allowance),
        "positions": {t: human(s) for t, s in account.positions.items() if s != ZERO},
    }


@admin_routes.post(ADMIN + "/book")
async def set_book(request: web.Request) -> web.Response:
    """`{"token_id", "bids": [{price, size}], "asks": [...]}` replaces the market maker's levels."""
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    token_id = body.get("token_id")
    if token_id not in exchange.tokens:
        raise AdminError(f"token_id: unknown token {token_id!r}")
    tick = exchange.tokens[token_id].market.tick_size
    bids = parse_levels(body.get("bids", []), "bids", tick)
    asks = parse_levels(body.get("asks", []), "asks", tick)
    check_uncrossed(bids, asks, "book")
    trades = exchange.set_book(token_id, bids, asks)
    token = exchange.tokens[token_id]
    return json_response(
        {
            "book": summary(exchange.books[token_id], token, exchange.clock.now_ms()),
            "trades": [trade_view(t, None) for t in trades],
        }
    )


@admin_routes.post(ADMIN + "/balance")
async def set_balance(request: web.Request) -> web.Response:
    """`{"address", "balance"?, "positions"?: {token_id: shares}, "allowance"?}` (creates the account)."""
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    address = body.get("address")
    if not isinstance(address, str) or not is_hex_address(address):
        raise AdminError(f"address: must be a 0x-hex address, got {address!r}")
    account = exchange.account(to_checksum_address(address))
    if "balance" in body:
        account.balance = read_decimal(body["balance"], "balance")
    if "allowance" in body:
        account.allowance = None if body["allowance"] is None else read_decimal(body["allowance"], "allowance")
    positions = body.get("positions", {})
    if not isinstance(positions, dict):
        raise AdminError("positions: must be an object {token_id: shares}")
    for token_id, shares in positions.items():
        if token_id not in exchange.tokens:
            raise AdminError(f"positions.{token_id}: unknown token")
        account.positions[token_id] = read_decimal(shares, f"positions.{token_id}")
    return json_response(account_view(exchange, account))


def market_of(exchange: PolyExchange, body: dict[str, Any]) -> Market:
    """The market an admin body names by `token_id` or `condition_id`."""
    token = exchange.tokens.get(body.get("token_id", ""))
    market = token.market if token is not None else exchange.markets.get(body.get("condition_id", ""))
    if market is None:
        raise AdminError("condition_id / token_id: no such market")
    return market


@admin_routes.post(ADMIN + "/market")
async def set_market(request: web.Request) -> web.Response:
    """`{"condition_id" | "token_id", "accepting_orders"?: bool, "closed"?: bool}`."""
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    market = market_of(exchange, body)
    for flag in ("accepting_orders", "closed"):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise AdminError(f"{flag}: must be true or false")
            setattr(market, flag, body[flag])
    return json_response(
        {"condition_id": market.condition_id, "accepting_orders": market.accepting_orders, "closed": market.closed}
    )


@admin_routes.post(ADMIN + "/settle")
async def settle(request: web.Request) -> web.Response:
    """`{"condition_id", "winning_token_id"}`: resolve the market and pay the winners."""
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    exchange.settle(str(body.get("condition_id")), str(body.get("winning_token_id")))
    return json_response({"settled": body["condition_id"], "winning_token_id": body["winning_token_id"]})


@admin_routes.post(ADMIN + "/mode")
async def set_mode(request: web.Request) -> web.Response:
    """`{"mode": normal|post_only|cancel_only|disabled, "seconds"?}`: post-only ends after `seconds`."""
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    seconds = body.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0):
        raise AdminError("seconds: must be a positive number")
    if body.get("mode") not in MODES:
        raise AdminError(f"mode: must be one of {', '.join(MODES)}")
    exchange.set_mode(body["mode"], seconds)
    return json_response({"mode": exchange.mode})


@admin_routes.get(ADMIN + "/orders")
async def list_orders(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE]
    return json_response(
        [
            {**order_view(o), "account": o.account.address if o.account else None}
            for o in sorted(exchange.orders.values(), key=lambda o: o.seq)
        ]
    )


@admin_routes.get(ADMIN + "/trades")
async def list_trades(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE]
    return json_response([trade_view(t, None) for t in exchange.trades])


@admin_routes.get(ADMIN + "/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE]
    return json_response([account_view(exchange, a) for a in exchange.accounts.values()])


@admin_routes.post(ADMIN + "/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[EXCHANGE].reset()
    return json_response({"reset": True})
