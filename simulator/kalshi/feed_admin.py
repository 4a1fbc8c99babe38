"""Admin for moving the Kalshi market maker's book, streamed as the exchange would stream a requote.

`POST /__sim/kalshi/book/move {"ticker", "by": "0.02"}` shifts every market-maker level by `by` dollars (YES leg;
negative moves down), keeping sizes: the feed sees the old levels canceled and the new ones added, one
`orderbook_delta` per change. (`POST /__sim/kalshi/book` sets levels and sizes outright.)
"""

from __future__ import annotations

from aiohttp import web

from simulator.admin import AdminError, read_object
from simulator.kalshi.admin import ADMIN
from simulator.kalshi.exchange import MARKET_MAKER
from simulator.kalshi.routes import EXCHANGE, answer
from simulator.kalshi.wire import orderbook_json
from simulator.state import read_decimal


async def move_book(request: web.Request) -> web.Response:
    body = await read_object(request)
    exchange = request.app[EXCHANGE].exchange
    ticker = body.get("ticker")
    if ticker not in exchange.markets:
        raise AdminError(f"ticker: unknown market {ticker!r}")
    by = read_decimal(body.get("by"), "by")
    book = exchange.books[ticker]
    levels = {
        side: [(o.price + by, o.remaining) for o in book.side(side) if o.account == MARKET_MAKER]
        for side in ("bid", "ask")
    }
    exchange.set_book(ticker, levels["bid"], levels["ask"])
    return answer(orderbook_json(book))


feed_admin_routes: list[web.RouteDef] = [web.post(f"{ADMIN}/book/move", move_book)]
