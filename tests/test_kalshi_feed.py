"""The Kalshi feed client against the paper exchange: live books equal to REST, user events, and every feed fault
seen from the client (gap -> resnapshot, drop -> reconnect and resubscribe, silence -> stale, duplicate -> one)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from feed_helpers import ALI, BOB, PATIENCE, Paper, event_where, paper

from clients.book import BookView
from clients.errors import AuthError
from clients.feed_events import (
    BookInvalid,
    BookStale,
    Connected,
    Disconnected,
    FeedError,
    FeedFailed,
    PositionUpdate,
    UserFill,
    UserOrder,
)
from clients.kalshi import KalshiClient
from clients.kalshi.feed import DEFAULT_WS_URL, KalshiFeed
from simulator.credentials import kalshi_test_credentials
from simulator.kalshi.config import DEFAULT_SECTION


@pytest.fixture
async def env() -> AsyncIterator[Paper]:
    async for p in paper({"kalshi": {"feed": {"ping_interval_s": 0.1}, **DEFAULT_SECTION}}):
        yield p


def feed_for(env: Paper, **options: Any) -> KalshiFeed:
    return KalshiFeed(
        env.sim.kalshi_ws_url,
        env.key_id,
        env.private_key,
        markets=[ALI, BOB],
        clock=env.sim.clock.now,
        rng=random.Random(7),
        backoff=0.01,
        **options,
    )


async def ready(feed: KalshiFeed, *markets: str) -> None:
    await asyncio.wait_for(feed.until(lambda: all(feed.book(m) and not feed.book(m).stale for m in markets)), PATIENCE)


async def rest_book(kalshi: KalshiClient, ticker: str) -> tuple[tuple, tuple]:
    book = await kalshi.get_orderbook(ticker)
    return book.yes_bids, book.yes_asks


def levels(view: BookView | None) -> tuple[tuple, tuple]:
    assert view is not None
    return tuple((lv.price, lv.size) for lv in view.bids), tuple((lv.price, lv.size) for lv in view.asks)


async def agrees(feed: KalshiFeed, kalshi: KalshiClient, ticker: str) -> None:
    """Wait until the streamed book equals the REST book (it must, once the frames already sent are applied)."""
    want = await rest_book(kalshi, ticker)
    await asyncio.wait_for(
        feed.until(lambda: feed.book(ticker) is not None and levels(feed.book(ticker)) == want), PATIENCE
    )


async def test_books_follow_rest_orders_and_user_events_arrive(env: Paper) -> None:
    async with feed_for(env) as feed, env.kalshi() as kalshi:
        await ready(feed, ALI, BOB)
        assert levels(feed.book(ALI)) == await rest_book(kalshi, ALI)
        taken = await kalshi.create_order(ALI, "yes", "buy", "30", "0.54")
        resting = await kalshi.create_order(BOB, "no", "buy", "7", "0.40", time_in_force="good_till_canceled")
        await kalshi.amend_order(resting.order_id, BOB, "no", "buy", "0.41", "9")
        await agrees(feed, kalshi, ALI)
        await agrees(feed, kalshi, BOB)
        fills = await kalshi.get_fills(ticker=ALI)
        await asyncio.wait_for(feed.until(lambda: len(feed.fills) == len(fills)), PATIENCE)
    assert {f.fill_id for f in fills} == set(feed.fills)
    streamed = feed.fills[fills[0].fill_id]
    assert (streamed.order_id, streamed.size, streamed.price, streamed.outcome) == (
        taken.order_id,
        fills[0].count,
        fills[0].price,
        "yes",
    )
    events = []
    while not feed.events.empty():
        events.append(feed.events.get_nowait())
    orders = [e for e in events if isinstance(e, UserOrder)]
    assert (orders[0].order_id, orders[0].status, orders[0].filled) == (taken.order_id, "executed", Decimal("30.00"))
    assert [e.position for e in events if isinstance(e, PositionUpdate)] == [Decimal("25.00"), Decimal("30.00")]


async def test_seq_gap_hides_the_book_until_a_fresh_snapshot(env: Paper) -> None:
    async with feed_for(env) as feed, env.kalshi() as kalshi:
        await ready(feed, ALI, BOB)
        env.sim.feed_faults.arm_spec("kalshi", {"action": "skip_seq", "channel": "orderbook_delta"})
        env.sim.feed_faults.arm_spec("kalshi", {"action": "delay", "kind": "ok", "delay_ms": 300})
        await kalshi.create_order(ALI, "yes", "buy", "3", "0.40", time_in_force="good_till_canceled")
        await kalshi.create_order(ALI, "yes", "buy", "2", "0.41", time_in_force="good_till_canceled")
        invalid = await event_where(feed.events, lambda e: isinstance(e, BookInvalid))
        assert "seq gap" in invalid.reason
        assert feed.book(ALI) is None and feed.book(BOB) is None  # known wrong: never handed out
        await agrees(feed, kalshi, ALI)
        await agrees(feed, kalshi, BOB)
        assert feed._socket.connections == 1  # recovered with get_snapshot, not a reconnect


async def test_duplicates_apply_once(env: Paper) -> None:
    async with feed_for(env) as feed, env.kalshi() as kalshi:
        await ready(feed, ALI, BOB)
        env.sim.feed_faults.arm_spec("kalshi", {"action": "duplicate", "kind": "orderbook_delta", "times": 5})
        env.sim.feed_faults.arm_spec("kalshi", {"action": "duplicate", "kind": "fill", "times": 5})
        env.sim.feed_faults.arm_spec("kalshi", {"action": "duplicate", "kind": "user_order", "times": 5})
        await kalshi.create_order(ALI, "yes", "buy", "30", "0.54")
        await agrees(feed, kalshi, ALI)
        await asyncio.wait_for(feed.until(lambda: feed.duplicates >= 4), PATIENCE)
    events = []
    while not feed.events.empty():
        events.append(feed.events.get_nowait())
    assert len([e for e in events if isinstance(e, UserFill)]) == 2
    assert len([e for e in events if isinstance(e, UserOrder)]) == 1
    assert not any(isinstance(e, BookInvalid) for e in events)


async def test_drop_reconnects_resigns_and_resubscribes(env: Paper) -> None:
    async with feed_for(env) as feed, env.kalshi() as kalshi:
        await ready(feed, ALI, BOB)
        await env.sim.clock.advance(60)  # a signature from the first connect would now be refused (skew)
        env.sim.feed_faults.arm_spec("kalshi", {"action": "drop", "kind": "orderbook_delta"})
        await kalshi.create_order(ALI, "yes", "buy", "4", "0.40", time_in_force="good_till_canceled")
        await event_where(feed.events, lambda e: isinstance(e, Disconnected))
        again = await event_where(feed.events, lambda e: isinstance(e, Connected))
        assert again.attempt == 1
        await agrees(feed, kalshi, ALI)  # the lost delta is in the fresh snapshot
        [connection] = (await env.admin("kalshi", "/__sim/feeds", method="GET"))["connections"]
        assert {s["channel"] for s in connection["subscriptions"]} == {
            "orderbook_delta",
            "fill",
            "user_orders",
            "market_positions",
        }
        assert feed._socket.connections == 2


async def test_silence_marks_books_stale_then_refreshes_them(env: Paper) -> None:
    async with feed_for(env, stale_after=0.3, reconnect_after=60) as feed, env.kalshi() as kalshi:
        await ready(feed, ALI, BOB)
        await env.admin("kalshi", "/__sim/feeds/faults", {"action": "silent"})
        await kalshi.create_order(ALI, "yes", "buy", "4", "0.40", time_in_force="good_till_canceled")  # lost
        await event_where(feed.events, lambda e: isinstance(e, BookStale) and e.market == ALI)
        view = feed.book(ALI)
        assert view is not None and view.stale
        await env.admin("kalshi", "/__sim/feeds/faults", method="DELETE")
        await ready(feed, ALI, BOB)  # heartbeats resume; fresh snapshots replace the stale books
        assert levels(feed.book(ALI)) == await rest_book(kalshi, ALI)
        assert feed._socket.connections == 1


async def test_long_silence_reconnects(env: Paper) -> None:
    async with feed_for(env, stale_after=0.2, reconnect_after=0.4) as feed:
        await ready(feed, ALI, BOB)
        env.sim.feed_faults.arm_spec("kalshi", {"action": "silent"})
        await event_where(feed.events, lambda e: isinstance(e, Disconnected))
        await event_where(feed.events, lambda e: isinstance(e, Connected))
        await ready(feed, ALI, BOB)


async def test_refused_upgrades_are_retried_with_backoff(env: Paper) -> None:
    env.sim.feed_faults.arm_spec("kalshi", {"action": "refuse_upgrade", "status": 503, "times": 2})
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with feed_for(env, sleep=sleep) as feed:
        connected = await event_where(feed.events, lambda e: isinstance(e, Connected))
        await ready(feed, ALI)
    assert connected.attempt == 3
    assert 0.005 <= slept[0] <= 0.01 and 0.01 <= slept[1] <= 0.02  # 0.01 then 0.02, each jittered to 50-100 %


async def test_refused_credentials_stop_the_feed() -> None:
    async for env in paper():
        key_id, unknown_key, _ = kalshi_test_credentials()
        feed = KalshiFeed(env.sim.kalshi_ws_url, key_id, unknown_key, markets=[ALI], clock=env.sim.clock.now)
        async with feed:
            failed = await event_where(feed.events, lambda e: isinstance(e, FeedFailed))
            with pytest.raises(AuthError):
                await feed.wait()
        assert isinstance(failed.error, AuthError) and failed.error.status == 401


async def test_unusable_frames_are_logged_raw_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    _, key, _ = kalshi_test_credentials()
    feed = KalshiFeed("ws://127.0.0.1:9/trade-api/ws/v2", "key", key, markets=[ALI])
    snapshot = {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": ALI}}
    broken_delta = {"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {"market_ticker": ALI, "side": "yes"}}
    frames = [
        "not json",
        '{"type": "mystery", "sid": 1}',
        '{"type": "fill", "sid": 4, "msg": {"trade_id": "t"}}',
        '{"id": 3, "type": "error", "msg": {"code": 8, "msg": "Unknown channel name"}}',
        orjson.dumps(snapshot).decode(),
        orjson.dumps(broken_delta).decode(),
    ]
    with caplog.at_level(logging.WARNING, logger="clients.feed"):
        for raw in frames:
            feed._socket._receive(raw)
    errors = []
    while not feed.events.empty():
        event = feed.events.get_nowait()
        if isinstance(event, FeedError):
            errors.append(event)
    assert [e.raw for e in errors] == [frames[0], frames[1], frames[2], frames[3], frames[5]]
    assert feed.malformed == 5 and all(raw in caplog.text for raw in (frames[0], frames[1], frames[5]))
    assert feed.book(ALI) is None  # the unreadable delta may have been a change: the book is not trusted


def test_needs_credentials_and_a_websocket_url() -> None:
    _, key, _ = kalshi_test_credentials()
    with pytest.raises(ValueError, match="key_id and private_key"):
        KalshiFeed(markets=[ALI])
    with pytest.raises(ValueError, match="ws:// or wss://"):
        KalshiFeed("https://example.invalid/trade-api/ws/v2", "k", key)
    assert KalshiFeed(None, "k", key).url == DEFAULT_WS_URL


def test_from_env_reads_the_url_and_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    _, key, _ = kalshi_test_credentials()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "k.pem").write_bytes(pem)
    monkeypatch.setenv("KALSHI_WS_URL", "ws://127.0.0.1:9999/trade-api/ws/v2")
    monkeypatch.setenv("KALSHI_API_KEY_ID", "key-1")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "k.pem"))
    feed = KalshiFeed.from_env(markets=[ALI])
    assert (feed.url, feed.key_id, feed.markets) == ("ws://127.0.0.1:9999/trade-api/ws/v2", "key-1", [ALI])
    assert "KALSHI-ACCESS-SIGNATURE" in feed.headers()
