"""Property: after any sequence of REST orders and cancels, the book a feed client streams equals the REST book.

Each example starts a paper exchange and a feed, then runs the operations one by one; after every operation the
streamed book must come to equal the REST book of that moment (the frames are queued before the REST answer, so
waiting for them is waiting for delivery, not for the exchange to decide).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from feed_helpers import ALI, PATIENCE, YES, Paper, paper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.book import BookView
from clients.errors import ExchangeError
from clients.kalshi.feed import KalshiFeed
from clients.polymarket.feed import PolymarketFeed
from simulator.poly.config import HARDHAT_0

PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cents = st.integers(min_value=40, max_value=60).map(lambda c: Decimal(c) / 100)
order = st.tuples(st.just("order"), st.booleans(), cents, st.integers(min_value=1, max_value=40), st.booleans())
cancel = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=50))
operations = st.lists(st.one_of(order, order, cancel), min_size=1, max_size=12)


def levels(view: BookView | None) -> Any:
    return (
        None if view is None else ([(lv.price, lv.size) for lv in view.bids], [(lv.price, lv.size) for lv in view.asks])
    )


async def converges(feed: Any, market: str, want: Any) -> None:
    await asyncio.wait_for(feed.until(lambda: levels(feed.book(market)) == want), PATIENCE)


async def kalshi_run(ops: list[tuple[Any, ...]]) -> None:
    async for env in paper():
        feed = KalshiFeed(env.sim.kalshi_ws_url, env.key_id, env.private_key, markets=[ALI], clock=env.sim.clock.now)
        async with feed, env.kalshi() as kalshi:
            resting: list[str] = []
            for op in ops:
                await kalshi_step(kalshi, op, resting)
                book = await kalshi.get_orderbook(ALI)
                await converges(feed, ALI, ([*book.yes_bids], [*book.yes_asks]))


async def kalshi_step(kalshi: Any, op: tuple[Any, ...], resting: list[str]) -> None:
    try:
        if op[0] == "order":
            _, yes, price, count, rests = op
            tif = "good_till_canceled" if rests else "immediate_or_cancel"
            result = await kalshi.create_order(ALI, "yes" if yes else "no", "buy", str(count), price, time_in_force=tif)
            if result.status == "resting":
                resting.append(result.order_id)
        elif resting:
            await kalshi.cancel_order(resting.pop(op[1] % len(resting)))
    except ExchangeError:
        pass  # refused (balance, already executed): the book did not change


@PROPERTY
@given(operations)
def test_kalshi_streamed_book_equals_rest_book(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(kalshi_run(ops))


async def poly_run(ops: list[tuple[Any, ...]]) -> None:
    async for env in paper():
        await env.admin("poly", "/__sim/poly/balance", {"address": HARDHAT_0, "positions": {YES: "10000"}})
        feed = PolymarketFeed(env.sim.poly_ws_url, assets=[YES])
        async with feed, env.poly() as poly:
            live: list[str] = []
            for op in ops:
                await poly_step(poly, env, op, live)
                book = await poly.get_book(YES)
                await converges(
                    feed, YES, ([(lv.price, lv.size) for lv in book.bids], [(lv.price, lv.size) for lv in book.asks])
                )


async def poly_step(poly: Any, env: Paper, op: tuple[Any, ...], live: list[str]) -> None:
    try:
        if op[0] == "order":
            _, buy, price, size, _ = op
            result = await poly.create_order(YES, "BUY" if buy else "SELL", price, str(size + 4))
            if result.status == "live":
                live.append(result.order_id)
        elif live:
            await poly.cancel_order(live.pop(op[1] % len(live)))
    except ExchangeError:
        pass  # refused or already matched: the book did not change


@PROPERTY
@given(operations)
def test_poly_streamed_book_equals_rest_book(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(poly_run(ops))
