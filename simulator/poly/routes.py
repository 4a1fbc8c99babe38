"""The CLOB V2 HTTP endpoints: public market data, L1 key management, L2 trading and account reads."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from clients.polymarket.signing import NEG_RISK_ADAPTER
from ctf_order import CTF_EXCHANGE_V2, EXCHANGE_V3, NEG_RISK_EXCHANGE_V2, decimal_digits
from simulator.faults import fails_trades, read_cutoff
from simulator.poly.auth import ApiCreds, ApiKeys, verify_l1, verify_l2
from simulator.poly.book import summary
from simulator.poly.errors import PolyError
from simulator.poly.exchange import (
    DISABLED,
    DISABLED_MSG,
    MARKET_NOT_FOUND,
    POST_ONLY,
    POST_ONLY_MODE_MSG,
    PolyExchange,
)
from simulator.poly.model import LIVE, ZERO, Account
from simulator.poly.orders import (
    INVALID_PAYLOAD,
    check_owner,
    check_shape,
    check_signature,
    check_signer,
    order_request,
)
from simulator.poly.wire import (
    MAX_UINT256,
    clob_market_view,
    json_response,
    market_by_token_view,
    number,
    order_view,
    page,
    page_body,
    trade_view,
    units,
)
from simulator.routing import allow, unrouted

EXCHANGE = web.AppKey("poly_exchange", PolyExchange)
KEYS = web.AppKey("poly_api_keys", ApiKeys)

MAX_BATCH_ORDERS = 15
MAX_CANCEL_IDS = 1000
INVALID_ORDER_ID = "Invalid orderID"
INVALID_TOKEN_ID = "Invalid token id"
UNROUTED = {404: "not found", 405: "method not allowed"}
_ORDER_ID = re.compile(r"^0x[0-9a-fA-F]{1,64}$")

routes = web.RouteTableDef()


@web.middleware
async def poly_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bring the exchange up to the clock's time, then render refusals with their real bodies."""
    request.app[EXCHANGE].sweep()
    try:
        return await handler(request)
    except PolyError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if not unrouted(request, exc):
            raise
        return PolyError(exc.status, UNROUTED[exc.status], headers=allow(exc)).response()


async def _l2(request: web.Request) -> tuple[ApiCreds, bytes, PolyExchange, Account]:
    """Credentials (or 401), body, exchange and the key's account of an L2 request."""
    body = await request.read()
    creds = verify_l2(request, body, request.app[KEYS])
    exchange = request.app[EXCHANGE]
    return creds, body, exchange, exchange.account(creds.address)


def _json(body: bytes, message: str = INVALID_PAYLOAD) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PolyError(400, message) from None


def _token_param(request: web.Request) -> str:
    token_id = request.query.get("token_id", "")
    if not decimal_digits(token_id):
        raise PolyError(400, INVALID_TOKEN_ID)
    return token_id


# -- public -----------------------------------------------------------------------------------


@routes.get("/time")
async def server_time(request: web.Request) -> web.Response:
    return json_response(request.app[EXCHANGE].now())


@routes.get("/ok")
async def ok(request: web.Request) -> web.Response:
    return json_response("OK")


@routes.get("/version")
async def version(request: web.Request) -> web.Response:
    return json_response({"version": 2})


@routes.get("/book")
async def book(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE]
    token = exchange.tokens.get(_token_param(request))
    if token is None or token.market.closed:
        raise PolyError(404, "No orderbook exists for the requested token id")
    return json_response(summary(exchange.books[token.token_id], token, exchange.clock.now_ms()))


@routes.get("/tick-size")
async def tick_size(request: web.Request) -> web.Response:
    token = request.app[EXCHANGE].token(_token_param(request))
    return json_response({"minimum_tick_size": number(token.market.tick_size)})


@routes.get("/neg-risk")
async def neg_risk(request: web.Request) -> web.Response:
    token = request.app[EXCHANGE].token(_token_param(request))
    return json_response({"neg_risk": token.market.neg_risk})


@routes.get("/markets-by-token/{token_id}")
async def market_by_token(request: web.Request) -> web.Response:
    """The market a token belongs to; the official SDK asks before market orders and balance-aware orders."""
    token_id = request.match_info["token_id"]
    if not decimal_digits(token_id):
        raise PolyError(400, INVALID_TOKEN_ID)
    return json_response(market_by_token_view(request.app[EXCHANGE].token(token_id).market))


@routes.get("/clob-markets/{condition_id}")
async def clob_market(request: web.Request) -> web.Response:
    """A market's trading parameters in the compact keys the official SDK caches (tick size, fees, neg risk)."""
    market = request.app[EXCHANGE].markets.get(request.match_info["condition_id"])
    if market is None:
        raise PolyError(404, MARKET_NOT_FOUND)
    return json_response(clob_market_view(market, request.app[EXCHANGE].tokens))


# -- L1: API keys -------------------------------------------------------------------------------


async def _l1_key(request: web.Request, create: bool) -> web.Response:
    address, nonce = verify_l1(request)
    keys = request.app[KEYS]
    creds = keys.create(address, nonce) if create else keys.derive(address, nonce)
    if creds is None:
        raise PolyError(400, "Could not create api key" if create else "Could not derive api key!")
    request.app[EXCHANGE].account(address)
    return json_response(creds.wire())


@routes.post("/auth/api-key")
async def create_api_key(request: web.Request) -> web.Response:
    return await _l1_key(request, create=True)


@routes.get("/auth/derive-api-key")
async def derive_api_key(request: web.Request) -> web.Response:
    return await _l1_key(request, create=False)


# -- L2: orders -------------------------------------------------------------------------------


def _submit(
    exchange: PolyExchange, creds: ApiCreds, account: Account, item: dict[str, Any], fail: bool = False
) -> dict[str, Any]:
    order = item["order"]
    token = exchange.token(order["tokenId"])
    order_id = check_signature(order, token, account)
    return exchange.place(creds, account, order_request(item, order, token, order_id), fail=fail)


def _shown(request: web.Request, exchange: PolyExchange, created: float) -> bool:
    """Whether a read shows a record created at `created` (a `lag` fault hides the newest)."""
    cutoff = read_cutoff(request, exchange.clock.now())
    return cutoff is None or created <= cutoff


def _check_item(creds: ApiCreds, account: Account, item: Any) -> dict[str, Any]:
    """The checks the server applies to a whole request: shape, version, owner, signer."""
    order = check_shape(item)
    check_owner(item, creds)
    check_signer(order, account)
    return item


@routes.post("/order")
async def post_order(request: web.Request) -> web.Response:
    creds, body, exchange, account = await _l2(request)
    item = _json(body)
    exchange.check_mode(post_only=isinstance(item, dict) and item.get("postOnly") is True)
    checked = _check_item(creds, account, item)
    return json_response(_submit(exchange, creds, account, checked, fails_trades(request)))


def _failed(message: str, success: bool = False) -> dict[str, Any]:
    return {
        "errorMsg": message,
        "orderID": "",
        "takingAmount": "",
        "makingAmount": "",
        "status": "",
        "success": success,
    }


@routes.post("/orders")
async def post_orders(request: web.Request) -> web.Response:
    """1-15 orders; per-order refusals come back inside the 200 array."""
    creds, body, exchange, account = await _l2(request)
    items = _json(body)
    if not isinstance(items, list) or not items:
        raise PolyError(400, INVALID_PAYLOAD)
    if len(items) > MAX_BATCH_ORDERS:
        raise PolyError(400, f"Too many orders in payload: {len(items)}, max allowed: {MAX_BATCH_ORDERS}")
    exchange.check_mode(post_only=True)
    items = [_check_item(creds, account, item) for item in items]
    results = []
    for item in items:
        if exchange.mode == POST_ONLY and item.get("postOnly") is not True:
            results.append(_failed(POST_ONLY_MODE_MSG, success=True))
            continue
        try:
            results.append(_submit(exchange, creds, account, item))
        except PolyError as exc:
            results.append(_failed(exc.message))
    return json_response(results)


def _order_id(value: Any) -> str:
    if not isinstance(value, str) or not _ORDER_ID.match(value):
        raise PolyError(400, INVALID_ORDER_ID)
    return value


def _cancel_allowed(exchange: PolyExchange) -> None:
    """Cancels work in cancel-only and post-only modes, not while trading is disabled."""
    exchange.sweep()
    if exchange.mode == DISABLED:
        raise PolyError(503, DISABLED_MSG)


@routes.delete("/order")
async def cancel_order(request: web.Request) -> web.Response:
    _, body, exchange, account = await _l2(request)
    payload = _json(body)
    if not isinstance(payload, dict) or "orderID" not in payload:
        raise PolyError(400, INVALID_PAYLOAD)
    order_id = _order_id(payload["orderID"])
    _cancel_allowed(exchange)
    return json_response(exchange.cancel(account, [order_id]))


@routes.delete("/orders")
async def cancel_orders(request: web.Request) -> web.Response:
    _, body, exchange, account = await _l2(request)
    payload = _json(body)
    if not isinstance(payload, list):
        raise PolyError(400, INVALID_PAYLOAD)
    if len(payload) > MAX_CANCEL_IDS:
        raise PolyError(400, f"Too many orders in payload, max allowed: {MAX_CANCEL_IDS}")
    order_ids = [_order_id(value) for value in payload]
    _cancel_allowed(exchange)
    return json_response(exchange.cancel(account, order_ids))


@routes.delete("/cancel-all")
async def cancel_all(request: web.Request) -> web.Response:
    _, _, exchange, account = await _l2(request)
    _cancel_allowed(exchange)
    return json_response(exchange.cancel(account, [o.id for o in exchange.open_orders(account)]))


@routes.delete("/cancel-market-orders")
async def cancel_market_orders(request: web.Request) -> web.Response:
    _, body, exchange, account = await _l2(request)
    payload = _json(body) if body else {}
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k, ""), str) for k in ("market", "asset_id")):
        raise PolyError(400, INVALID_PAYLOAD)
    _cancel_allowed(exchange)
    market, asset_id = payload.get("market"), payload.get("asset_id")
    ids = [
        o.id
        for o in exchange.open_orders(account)
        if (not market or o.token.market.condition_id == market) and (not asset_id or o.token.token_id == asset_id)
    ]
    return json_response(exchange.cancel(account, ids))


# -- L2: reads ----------------------------------------------------------------------------------


@routes.get("/data/order/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    _, _, exchange, account = await _l2(request)
    order = exchange.orders.get(_order_id(request.match_info["order_id"]))
    if order is None or order.account is not account or not _shown(request, exchange, order.created_ts):
        raise PolyError(404, "Order not found")
    return json_response(order_view(order))


@routes.get("/data/orders")
async def get_orders(request: web.Request) -> web.Response:
    _, _, exchange, account = await _l2(request)
    q = request.query
    orders = [
        o
        for o in exchange.orders.values()
        if o.account is account
        and o.status == LIVE
        and q.get("id", o.id) == o.id
        and q.get("market", o.token.market.condition_id) == o.token.market.condition_id
        and q.get("asset_id", o.token.token_id) == o.token.token_id
        and _shown(request, exchange, o.created_ts)
    ]
    orders.sort(key=lambda o: o.seq)
    try:
        chunk, cursor = page(orders, q.get("next_cursor"), exchange.settings.page_size)
    except ValueError:
        raise PolyError(400, "invalid order params payload") from None
    return json_response(page_body([order_view(o) for o in chunk], cursor, exchange.settings.page_size))


@routes.get("/data/trades")
async def get_trades(request: web.Request) -> web.Response:
    _, _, exchange, account = await _l2(request)
    q = request.query
    try:
        before = int(q["before"]) if "before" in q else None
        after = int(q["after"]) if "after" in q else None
        trades = [
            t
            for t in exchange.trades
            if (t.taker.account is account or any(m.order.account is account for m in t.makers))
            and q.get("id", t.id) == t.id
            and q.get("market", t.taker.token.market.condition_id) == t.taker.token.market.condition_id
            and q.get("asset_id", t.taker.token.token_id) == t.taker.token.token_id
            and q.get("maker_address", account.funder).lower() == account.funder.lower()
            and (before is None or t.match_time <= before)
            and (after is None or t.match_time >= after)
            and _shown(request, exchange, t.created_ts)
        ]
        chunk, cursor = page(trades, q.get("next_cursor"), exchange.settings.page_size)
    except ValueError:
        raise PolyError(400, "Invalid trade params payload") from None
    return json_response(page_body([trade_view(t, account) for t in chunk], cursor, exchange.settings.page_size))


# -- L2: balances -------------------------------------------------------------------------------

ASSET_TYPES = ("COLLATERAL", "CONDITIONAL", "CONDITIONAL-V2")
_COLLATERAL_SPENDERS = (CTF_EXCHANGE_V2, NEG_RISK_ADAPTER, NEG_RISK_EXCHANGE_V2)


async def _balance_allowance(request: web.Request) -> web.Response:
    """Balance in 1e-6 units with the plural `allowances` map keyed by spender (live V2 shape).

    The wallet is the account's when `signature_type` matches it; any other type names a wallet
    this account does not fund, whose balance is zero (the real server derives it the same way).
    """
    _, _, exchange, account = await _l2(request)
    q = request.query
    asset_type, signature_type = q.get("asset_type", ""), q.get("signature_type", "0")
    if asset_type not in ASSET_TYPES:
        raise PolyError(400, "Invalid asset type")
    if not decimal_digits(signature_type) or int(signature_type) > 3:
        raise PolyError(400, "Invalid signature type")
    own_wallet = int(signature_type) == account.signature_type
    if asset_type == "COLLATERAL":
        balance = account.balance if own_wallet else ZERO
        allowance = MAX_UINT256 if account.allowance is None else units(account.allowance)
        spenders = {spender: allowance for spender in _COLLATERAL_SPENDERS}
    else:
        token_id = _token_param(request)
        balance = account.shares(exchange.token(token_id).token_id) if own_wallet else ZERO
        spenders = {
            spender: MAX_UINT256
            for spender in ((EXCHANGE_V3,) if asset_type == "CONDITIONAL-V2" else _COLLATERAL_SPENDERS)
        }
    return json_response({"balance": units(balance), "allowances": spenders})


async def _balance_allowance_update(request: web.Request) -> web.Response:
    """Refreshes the server's cache: the live endpoint answers 200 with no body (balances here are never stale)."""
    await _balance_allowance(request)  # the same checks and refusals
    return web.Response(status=200)


routes.get("/balance-allowance")(_balance_allowance)
routes.get("/balance-allowance/update")(_balance_allowance_update)
