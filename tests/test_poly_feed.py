"""The Polymarket feed client against the paper exchange (and a scripted server for what the exchange never
sends): books equal to REST, fills once then by status, MATCHED -> FAILED reversed, and each feed fault seen
from the client."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from corpus import payload_dir
from feed_helpers import CONDITION, NO, PATIENCE, YES, Paper, event_where, paper, scripted_feed

from clients.book import BookView
from clients.feed_events import (
    BookInvalid,
    BookStale,
    Connected,
    Disconnected,
    FeedError,
    FillReversed,
    FillStatus,
    TickSizeChanged,
    TradePrint,
    UserFill,
    UserOrder,
)
from clients.polymarket import PolymarketClient
from clients.polymarket.feed import DEFAULT_WS_URL, PolymarketFeed
from clients.polymarket.types import ApiCreds
from simulator.poly.config import DEFAULT_SECTION


@pytest.fixture
async def env() -> AsyncIterator[Paper]:
    async for p in paper({"poly": {"feed": {"ping_timeout_s": 2}, **DEFAULT_SECTION}}):
        yield p


def feed_for(env: Paper, **options: Any) -> PolymarketFeed:
    options = {"assets": [YES, NO], "creds": env.poly_creds, "ping_interval": 0.1} | options
    return PolymarketFeed(env.sim.poly_ws_url, rng=random.Random(3), backoff=0.01, **options)


def levels(view: BookView | None) -> tuple[tuple, tuple]:
    assert view is not None
    return tuple((lv.price, lv.size) for lv in view.bids), tuple((lv.price, lv.size) for lv in view.asks)


async def agrees(feed: PolymarketFeed, poly: PolymarketClient, asset: str) -> None:
    rest = await poly.get_book(asset)
    want = tuple((lv.price, lv.size) for lv in rest.bids), tuple((lv.price, lv.size) for lv in rest.asks)
    await asyncio.wait_for(
        feed.until(lambda: feed.book(asset) is not None and levels(feed.book(asset)) == want), PATIENCE
    )


async def ready(feed: PolymarketFeed) -> None:
    await asyncio.wait_for(
        feed.until(lambda: all(feed.book(a) is not None and not feed.book(a).stale for a in feed.assets)), PATIENCE
    )


def drain(feed: PolymarketFeed) -> list[Any]:
    events = []
    while not feed.events.empty():
        events.append(feed.events.get_nowait())
    return events


async def test_books_follow_rest_orders(env: Paper) -> None:
    async with feed_for(env) as feed, env.poly() as poly:
        await ready(feed)
        resting = await poly.create_order(YES, "BUY", "0.47", "25")
        await poly.create_order(YES, "BUY", "0.49", "100")
        await poly.create_order(NO, "BUY", "0.30", "10")
        await poly.cancel_order(resting.order_id)
        await agrees(feed, poly, YES)
        await agrees(feed, poly, NO)
        assert feed.book(YES).tick_size == Decimal("0.01")  # type: ignore[union-attr]
    prints = [e for e in drain(feed) if isinstance(e, TradePrint)]
    assert [(p.price, p.size, p.side) for p in prints] == [(Decimal("0.49"), Decimal("100"), "BUY")]


async def test_fills_come_once_then_by_status(env: Paper) -> None:
    async with feed_for(env, assets=[]) as feed, env.poly() as poly:
        await asyncio.wait_for(feed.until(lambda: feed.user_socket.connections == 1), PATIENCE)
        taken = await poly.create_order(YES, "BUY", "0.49", "10")
        fill = await event_where(feed.events, lambda e: isinstance(e, UserFill))
        await env.sim.clock.advance(2)
        mined = await event_where(feed.events, lambda e: isinstance(e, FillStatus))
        await env.sim.clock.advance(10)
        confirmed = await event_where(feed.events, lambda e: isinstance(e, FillStatus))
    assert (fill.order_id, fill.side, fill.price, fill.size, fill.is_taker, fill.status) == (
        taken.order_id,
        "BUY",
        Decimal("0.49"),
        Decimal("10"),
        True,
        "MATCHED",
    )
    assert (mined.fill_id, mined.status, confirmed.status) == (fill.fill_id, "MINED", "CONFIRMED")
    assert feed.fills[fill.fill_id].status == "CONFIRMED"


async def test_a_failed_trade_reverses_the_fill(env: Paper) -> None:
    await env.admin("poly", "/__sim/faults", {"method": "POST", "path": "/order", "action": "fail_trades"})
    async with feed_for(env, assets=[]) as feed, env.poly() as poly:
        await asyncio.wait_for(feed.until(lambda: feed.user_socket.connections == 1), PATIENCE)
        await poly.create_order(YES, "BUY", "0.49", "10")
        fill = await event_where(feed.events, lambda e: isinstance(e, UserFill))
        assert fill.fill_id in feed.fills
        await env.sim.clock.advance(2)
        retrying = await event_where(feed.events, lambda e: isinstance(e, FillStatus))
        await env.sim.clock.advance(10)
        reversed_ = await event_where(feed.events, lambda e: isinstance(e, FillReversed))
    assert retrying.status == "RETRYING"
    assert reversed_.fill.fill_id == fill.fill_id and reversed_.fill.size == Decimal("10")
    assert feed.fills == {}


async def test_maker_fills_and_order_events(env: Paper) -> None:
    async with feed_for(env, assets=[]) as feed, env.poly() as poly:
        await asyncio.wait_for(feed.until(lambda: feed.user_socket.connections == 1), PATIENCE)
        resting = await poly.create_order(YES, "BUY", "0.48", "20")
        # the market maker requotes its ask down through the user's bid: the user is the maker
        asks = [{"price": "0.48", "size": "8"}]
        await env.admin("poly", "/__sim/poly/book", {"token_id": YES, "bids": [], "asks": asks})
        await asyncio.wait_for(feed.until(lambda: len(feed.fills) == 1), PATIENCE)
    events = drain(feed)
    [fill] = [e for e in events if isinstance(e, UserFill)]
    orders = [e for e in events if isinstance(e, UserOrder)]
    assert (fill.order_id, fill.is_taker, fill.size, fill.price, fill.side) == (
        resting.order_id,
        False,
        Decimal("8"),
        Decimal("0.48"),
        "BUY",
    )
    assert [(o.kind, o.filled, o.remaining) for o in orders] == [
        ("PLACEMENT", Decimal("0"), Decimal("20")),
        ("UPDATE", Decimal("8"), Decimal("12")),
    ]


async def test_duplicates_apply_once(env: Paper) -> None:
    env.sim.feed_faults.arm_spec("poly", {"action": "duplicate", "kind": "trade", "times": 3})
    env.sim.feed_faults.arm_spec("poly", {"action": "duplicate", "kind": "order", "times": 3})
    env.sim.feed_faults.arm_spec("poly", {"action": "duplicate", "kind": "price_change", "times": 3})
    async with feed_for(env) as feed, env.poly() as poly:
        await ready(feed)
        await poly.create_order(YES, "BUY", "0.40", "10")
        await poly.create_order(YES, "BUY", "0.49", "10")
        await agrees(feed, poly, YES)
        await asyncio.wait_for(feed.until(lambda: feed.duplicates >= 2), PATIENCE)
    events = drain(feed)
    assert len([e for e in events if isinstance(e, UserFill)]) == 1
    assert len([e for e in events if isinstance(e, UserOrder)]) == 1


async def test_drop_reconnects_and_resubscribes(env: Paper) -> None:
    async with feed_for(env, creds=None) as feed, env.poly() as poly:
        await ready(feed)
        env.sim.feed_faults.arm_spec("poly", {"action": "drop", "kind": "price_change"})
        await poly.create_order(YES, "BUY", "0.40", "10")  # its price_change is lost with the connection
        await event_where(feed.events, lambda e: isinstance(e, Disconnected))
        await event_where(feed.events, lambda e: isinstance(e, Connected))
        await agrees(feed, poly, YES)
        assert feed.market_socket.connections == 2


async def test_silence_marks_books_stale_then_fetches_fresh_ones(env: Paper) -> None:
    async with feed_for(env, creds=None, stale_after=0.3, reconnect_after=60) as feed, env.poly() as poly:
        await ready(feed)
        await env.admin("poly", "/__sim/feeds/faults", {"action": "silent", "channel": "market"})
        await poly.create_order(YES, "BUY", "0.40", "10")  # lost
        await event_where(feed.events, lambda e: isinstance(e, BookStale) and e.market == YES)
        assert feed.book(YES).stale  # type: ignore[union-attr]
        await env.admin("poly", "/__sim/feeds/faults", method="DELETE")
        await agrees(feed, poly, YES)
        await ready(feed)
        assert feed.market_socket.connections == 2  # nothing proved the quiet book whole: it was fetched again


async def test_keepalive_keeps_the_connection(env: Paper) -> None:
    async with feed_for(env, assets=[]) as feed:
        await asyncio.wait_for(feed.until(lambda: feed.user_socket.connections == 1), PATIENCE)
        await asyncio.sleep(3)  # longer than the server's 2 s ping timeout
        assert not any(isinstance(e, Disconnected) for e in drain(feed))
        assert feed.user_socket.connections == 1


async def test_tick_size_change(env: Paper) -> None:
    async with feed_for(env, creds=None) as feed:
        await ready(feed)
        await env.admin("poly", "/__sim/poly/tick-size", {"condition_id": CONDITION, "tick_size": "0.001"})
        change = await event_where(feed.events, lambda e: isinstance(e, TickSizeChanged))
    assert (change.old, change.new) == (Decimal("0.01"), Decimal("0.001"))
    assert feed.book(change.market).tick_size == Decimal("0.001")  # type: ignore[union-attr]


def book(asset: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "event_type": "book",
        "asset_id": asset,
        "market": CONDITION,
        "bids": [{"price": p, "size": s} for p, s in bids],
        "asks": [{"price": p, "size": s} for p, s in asks],
        "timestamp": "1",
        "hash": "h",
    }


def change(asset: str, price: str, size: str, side: str, best_bid: str, best_ask: str) -> dict[str, Any]:
    entry = {"asset_id": asset, "price": price, "size": size, "side": side, "hash": "h"}
    entry |= {"best_bid": best_bid, "best_ask": best_ask}
    return {"event_type": "price_change", "market": CONDITION, "price_changes": [entry], "timestamp": "2"}


async def test_a_price_change_the_exchange_contradicts_invalidates_and_refetches() -> None:
    first = [
        orjson.dumps([book(YES, [("0.40", "10")], [("0.60", "10")])]).decode(),
        orjson.dumps(change(YES, "0.41", "5", "BUY", "0.45", "0.60")).decode(),  # 0.45? then a change was missed
    ]
    second = [orjson.dumps([book(YES, [("0.45", "3"), ("0.41", "5")], [("0.60", "10")])]).decode()]
    async with scripted_feed([first, second]) as (url, heard):
        feed = PolymarketFeed(url, assets=[YES], backoff=0.01, rng=random.Random(1))
        async with feed:
            invalid = await event_where(feed.events, lambda e: isinstance(e, BookInvalid))
            await asyncio.wait_for(
                feed.until(lambda: feed.book(YES) is not None and feed.market_socket.connections == 2), PATIENCE
            )
    assert "0.45" in invalid.reason
    assert levels(feed.book(YES)) == (
        ((Decimal("0.45"), Decimal("3")), (Decimal("0.41"), Decimal("5"))),
        ((Decimal("0.60"), Decimal("10")),),
    )
    assert orjson.loads(heard[0][0]) == {
        "assets_ids": [YES],
        "type": "market",
        "initial_dump": True,
        "custom_feature_enabled": False,
    }


async def test_unusable_frames_and_event_arrays_on_the_user_channel() -> None:
    trade, order = (
        corpus_payload("official_docs__ws_user__trade.json"),
        corpus_payload("official_docs__ws_user__order.json"),
    )
    frames = ["{oops", '{"event_type": "mystery"}', orjson.dumps([trade, order]).decode(), '{"event_type": "trade"}']
    async with scripted_feed([frames]) as (url, heard):
        creds_feed = PolymarketFeed(url, creds=ApiCreds(trade["owner"], "secret", "passphrase"), backoff=0.01)
        async with creds_feed as feed:
            await asyncio.wait_for(feed.until(lambda: feed.malformed == 3), PATIENCE)
    events = drain(feed)
    assert [e.raw for e in events if isinstance(e, FeedError)] == [frames[0], frames[1], frames[3]]
    assert [type(e).__name__ for e in events if isinstance(e, UserFill | UserOrder)] == ["UserFill", "UserOrder"]
    sent = orjson.loads(heard[0][0])
    assert sent["type"] == "user" and set(sent["auth"]) == {"apiKey", "secret", "passphrase"}


def corpus_payload(name: str) -> Any:
    return orjson.loads((payload_dir("polymarket") / name).read_bytes())["payload"]


def test_from_env_and_defaults() -> None:
    env = {
        "POLY_WS_URL": "ws://127.0.0.1:1/ws",
        "POLY_API_KEY": "k",
        "POLY_API_SECRET": "s",
        "POLY_API_PASSPHRASE": "p",
    }
    feed = PolymarketFeed.from_env(assets=[YES], env=env)
    assert (feed.url, feed.market_socket.url, feed.user_socket.url) == (
        "ws://127.0.0.1:1/ws",
        "ws://127.0.0.1:1/ws/market",
        "ws://127.0.0.1:1/ws/user",
    )
    assert PolymarketFeed(assets=[YES]).url == DEFAULT_WS_URL
    with pytest.raises(ValueError, match="assets"):
        PolymarketFeed.from_env(env={})
    with pytest.raises(ValueError, match="ws:// or wss://"):
        PolymarketFeed("http://127.0.0.1/ws", assets=[YES])


@pytest.mark.parametrize(
    "bad",
    [
        {"price": "0.45", "size": "oops", "side": "BUY"},  # unreadable: a change the book never got
        {"price": "0.40", "size": "-1", "side": "BUY"},  # a negative total: the book and the exchange disagree
    ],
    ids=["unreadable", "negative"],
)
async def test_a_price_change_the_feed_cannot_apply_leaves_no_book_handed_out(bad: dict[str, str]) -> None:
    """The first entry of the frame applies, the second cannot: the book is neither half-changed nor kept as it
    was (both are wrong); it is invalid until a fresh dump."""
    feed = PolymarketFeed("ws://127.0.0.1:1/ws", assets=[YES])
    feed.market_socket._receive(orjson.dumps([book(YES, [("0.40", "10")], [("0.60", "10")])]).decode())
    assert feed.book(YES) is not None
    good = {"asset_id": YES, "price": "0.55", "size": "5", "side": "SELL", "hash": "h"}
    frame = {"event_type": "price_change", "market": CONDITION, "timestamp": "2"}
    frame["price_changes"] = [good, {"asset_id": YES, "hash": "h"} | bad]
    feed.market_socket._receive(orjson.dumps(frame).decode())
    assert feed.malformed == 1
    assert feed.book(YES) is None


async def test_an_unreadable_book_event_mid_stream_leaves_no_book_handed_out() -> None:
    """A `book` event replaces the book; one the feed cannot read means the held book is out of date."""
    feed = PolymarketFeed("ws://127.0.0.1:1/ws", assets=[YES])
    feed.market_socket._receive(orjson.dumps([book(YES, [("0.40", "10")], [("0.60", "10")])]).decode())
    bad = book(YES, [("0.45", "oops")], [("0.60", "10")])
    feed.market_socket._receive(orjson.dumps(bad).decode())
    assert feed.malformed == 1
    assert feed.book(YES) is None


async def test_a_failed_trade_whose_match_the_feed_missed_is_still_reported_reversed() -> None:
    """The MATCHED frame went by while the user channel was down (the REST answer booked the fill); the FAILED
    that follows is the only word that the fill did not happen, so it must reach the bot."""
    trade = corpus_payload("official_docs__ws_user__trade.json") | {"status": "FAILED"}
    feed = PolymarketFeed("ws://127.0.0.1:1/ws", creds=ApiCreds(trade["owner"], "secret", "passphrase"))
    feed.user_socket._receive(orjson.dumps(trade).decode())
    reversed_ = [e for e in drain(feed) if isinstance(e, FillReversed)]
    assert [(e.fill.fill_id, e.fill.size) for e in reversed_] == [(trade["id"], Decimal("10"))]
    feed.user_socket._receive(orjson.dumps(trade).decode())  # the same FAILED again: once
    assert drain(feed) == [] and feed.fills == {}


async def test_a_server_that_keeps_closing_right_after_a_frame_meets_a_growing_backoff() -> None:
    """A session that delivered a frame and died at once is no proof of health: without a growing backoff, a
    flapping server (or one that answers every subscribe with an error and closes) is hammered several times a
    second for as long as it flaps."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    async with scripted_feed([['{"event_type": "mystery"}']], close=True) as (url, _):
        feed = PolymarketFeed(url, assets=[YES], backoff=1.0, rng=random.Random(1), sleep=sleep)
        async with feed:
            await asyncio.wait_for(feed.until(lambda: len(delays) >= 5), PATIENCE)
    # jitter keeps each delay within half to all of 1 s x 2^(n-1): the fifth is at least 8 s
    assert delays[4] >= 8, delays
