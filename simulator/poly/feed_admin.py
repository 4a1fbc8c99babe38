"""Admin for the Polymarket feed's book moves and tick changes, streamed as the exchange would.

- `POST /__sim/poly/book/move {"token_id", "by": "0.01"}`: shift every market-maker level by `by` (negative moves
  down), keeping sizes; subscribers get one `price_change` with every level that moved.
- `POST /__sim/poly/tick-size {"condition_id" | "token_id", "tick_size": "0.001"}`: change a market's tick;
  subscribers of its tokens get `tick_size_change`, and orders are checked against the new tick.
(`POST /__sim/poly/book` sets levels and sizes outright.)
"""

from __future__ import annotations

from aiohttp import web

from simulator.admin import AdminError, read_object
from simulator.poly.admin import ADMIN, market_of
from simulator.poly.book import summary
from simulator.poly.config import TICK_SIZES, Level, check_uncrossed
from simulator.poly.model import BUY, SELL
from simulator.poly.routes import EXCHANGE
from simulator.poly.wire import json_response
from simulator.state import read_decimal

feed_admin_routes = web.RouteTableDef()


@feed_admin_routes.post(ADMIN + "/book/move")
async def move_book(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    token = exchange.tokens.get(body.get("token_id", ""))
    if token is None:
        raise AdminError(f"token_id: unknown token {body.get('token_id')!r}")
    by = read_decimal(body.get("by"), "by")
    book, tick = exchange.books[token.token_id], token.market.tick_size
    shifted = {
        side: [Level(o.price + by, o.remaining) for o in book.best_first(side) if o.account is None]
        for side in (BUY, SELL)
    }
    for level in shifted[BUY] + shifted[SELL]:
        if not tick <= level.price <= 1 - tick or level.price % tick:
            raise AdminError(f"by: moves a level to {level.price}, off the {tick} tick grid")
    check_uncrossed(shifted[BUY], shifted[SELL], "book")
    exchange.set_book(token.token_id, shifted[BUY], shifted[SELL])
    return json_response(summary(book, token, exchange.clock.now_ms()))


@feed_admin_routes.post(ADMIN + "/tick-size")
async def set_tick_size(request: web.Request) -> web.Response:
    exchange = request.app[EXCHANGE]
    body = await read_object(request)
    market = market_of(exchange, body)
    tick = read_decimal(body.get("tick_size"), "tick_size")
    if tick not in TICK_SIZES:
        raise AdminError(f"tick_size: must be one of {', '.join(map(str, TICK_SIZES))}")
    old, market.tick_size = market.tick_size, tick
    if old != tick:
        exchange.emit("tick_size", (market, old))
    return json_response({"condition_id": market.condition_id, "tick_size": str(tick), "old_tick_size": str(old)})
