"""The paper Polymarket WebSocket feeds at the wire: the market channel's dump, price changes, trades and tick
changes; the user channel's auth, order and trade events; PING/PONG and the idle drop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from feed_helpers import CONDITION, NO, YES, Paper, frame, frames_until, paper

from simulator.clock import SimClock


@pytest.fixture
async def env() -> AsyncIterator[Paper]:
    frozen = SimClock(source=lambda: 1_800_000_000.0)  # REST and feed read the same millisecond
    async for p in paper(clock=frozen):
        yield p


async def market(env: Paper, *assets: str, custom: bool = False) -> tuple[aiohttp.ClientWebSocketResponse, list]:
    ws = await env.poly_ws("market")
    await ws.send_json(
        {"assets_ids": list(assets), "type": "market", "initial_dump": True, "custom_feature_enabled": custom}
    )
    return ws, await frame(ws)


async def settle(ws: aiohttp.ClientWebSocketResponse) -> list:
    """Frames queued so far: PING is answered after them, in order."""
    await ws.send_str("PING")
    return (await frames_until(ws, lambda f: f == "PONG"))[:-1]


async def test_initial_dump_is_one_array_with_the_rest_hash(env: Paper) -> None:
    ws, dump = await market(env, YES, NO)
    assert isinstance(dump, list) and [b["asset_id"] for b in dump] == [YES, NO]
    async with env.http.get(f"{env.sim.poly_url}/book", params={"token_id": YES}) as response:
        rest = await response.json()
    book = dump[0]
    assert list(book) == [
        "market",
        "asset_id",
        "timestamp",
        "hash",
        "bids",
        "asks",
        "tick_size",
        "event_type",
        "last_trade_price",
    ]
    assert book["hash"] == rest["hash"] and book["timestamp"] == rest["timestamp"]
    assert (book["bids"], book["asks"], book["event_type"]) == (rest["bids"], rest["asks"], "book")
    await ws.close()


async def test_place_and_cancel_stream_price_changes_with_level_totals(env: Paper) -> None:
    ws, _ = await market(env, YES)
    async with env.poly() as poly:
        placed = await poly.create_order(YES, "BUY", "0.47", "10")  # joins the 0.47 level of 500
        changes = await settle(ws)
        await poly.cancel_order(placed.order_id)
        canceled = await settle(ws)
        lonely = await poly.create_order(YES, "BUY", "0.30", "6")
        await poly.cancel_order(lonely.order_id)
        gone = await settle(ws)
    [change] = changes
    assert change["event_type"] == "price_change" and change["market"] == CONDITION
    [entry] = change["price_changes"]
    assert (entry["asset_id"], entry["price"], entry["size"], entry["side"]) == (YES, "0.47", "510", "BUY")
    assert (entry["best_bid"], entry["best_ask"]) == ("0.47", "0.49") and len(entry["hash"]) == 40
    assert canceled[0]["price_changes"][0]["size"] == "500"
    assert [e["size"] for f in gone for e in f["price_changes"]] == ["6", "0"]


async def test_a_trade_sends_last_trade_price_then_a_fresh_book(env: Paper) -> None:
    ws, _ = await market(env, YES, custom=True)
    async with env.poly() as poly:
        await poly.create_order(YES, "BUY", "0.49", "500")  # takes the whole best ask
    frames = await settle(ws)
    assert [f["event_type"] for f in frames] == ["last_trade_price", "book", "best_bid_ask"]
    trade, book, top = frames
    assert (trade["price"], trade["size"], trade["side"], trade["asset_id"]) == ("0.49", "500", "BUY", YES)
    assert book["last_trade_price"] == "0.49" and book["asks"][-1] == {"price": "0.5", "size": "1000"}
    assert (top["best_bid"], top["best_ask"], top["spread"]) == ("0.47", "0.5", "0.03")


async def test_best_bid_ask_only_with_custom_features(env: Paper) -> None:
    ws, _ = await market(env, YES)
    async with env.poly() as poly:
        await poly.create_order(YES, "BUY", "0.48", "5")  # a new best bid
    assert [f["event_type"] for f in await settle(ws)] == ["price_change"]


async def test_tick_size_change_and_book_move(env: Paper) -> None:
    ws, _ = await market(env, YES)
    await env.admin("poly", "/__sim/poly/tick-size", {"token_id": YES, "tick_size": "0.001"})
    await env.admin("poly", "/__sim/poly/book/move", {"token_id": YES, "by": "0.01"})
    tick, move = await settle(ws)
    assert tick == {
        "event_type": "tick_size_change",
        "asset_id": YES,
        "market": CONDITION,
        "old_tick_size": "0.01",
        "new_tick_size": "0.001",
        "timestamp": tick["timestamp"],
    }
    sizes = {(e["side"], e["price"]): e["size"] for e in move["price_changes"]}
    assert sizes == {
        ("BUY", "0.46"): "0",
        ("BUY", "0.47"): "1000",
        ("BUY", "0.48"): "500",
        ("SELL", "0.49"): "0",
        ("SELL", "0.5"): "500",
        ("SELL", "0.51"): "1000",
    }


async def test_operation_subscribe_and_unsubscribe(env: Paper) -> None:
    ws, _ = await market(env, YES)
    await ws.send_json({"operation": "subscribe", "assets_ids": [NO]})
    [dump] = await frame(ws)
    assert dump["asset_id"] == NO
    await ws.send_json({"operation": "unsubscribe", "assets_ids": [YES]})
    async with env.poly() as poly:
        await poly.create_order(YES, "BUY", "0.40", "5")
    assert await settle(ws) == []


async def test_user_channel_refuses_bad_credentials(env: Paper) -> None:
    ws = await env.poly_ws("user")
    auth = env.user_auth()
    auth["auth"]["secret"] = "wrong"
    await ws.send_json(auth)
    assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)


async def test_user_orders_and_trade_statuses(env: Paper) -> None:
    ws = await env.poly_ws("user")
    await ws.send_json(env.user_auth() | {"markets": [CONDITION]})
    async with env.poly() as poly:
        resting = await poly.create_order(YES, "BUY", "0.40", "10")
        taker = await poly.create_order(YES, "BUY", "0.49", "20")
        await poly.cancel_order(resting.order_id)
    placement, trade, cancellation = await settle(ws)
    assert (placement["type"], placement["status"], placement["associate_trades"]) == ("PLACEMENT", "LIVE", None)
    assert placement["id"] == resting.order_id and placement["owner"] == env.poly_creds.api_key
    assert (cancellation["type"], cancellation["id"]) == ("CANCELLATION", resting.order_id)
    assert (trade["event_type"], trade["type"], trade["status"], trade["trader_side"]) == (
        "trade",
        "TRADE",
        "MATCHED",
        "TAKER",
    )
    assert trade["taker_order_id"] == taker.order_id and trade["trade_owner"] == env.poly_creds.api_key
    assert Decimal(trade["size"]) == 20 and trade["transaction_hash"] == ""
    await env.sim.clock.advance(2)
    mined = await frame(ws)
    await env.sim.clock.advance(10)
    confirmed = await frame(ws)
    assert [(f["id"], f["status"]) for f in (mined, confirmed)] == [(trade["id"], "MINED"), (trade["id"], "CONFIRMED")]
    assert mined["transaction_hash"].startswith("0x")


async def test_user_market_filter(env: Paper) -> None:
    ws = await env.poly_ws("user")
    await ws.send_json(env.user_auth() | {"markets": ["0x" + "0" * 64]})
    async with env.poly() as poly:
        await poly.create_order(YES, "BUY", "0.40", "10")
    assert await settle(ws) == []


async def test_client_that_stops_pinging_is_dropped() -> None:
    async for env in paper({"poly": {"feed": {"ping_timeout_s": 0.2}}}):
        ws = await env.poly_ws("market")
        await ws.send_str("PING")
        assert await frame(ws) == "PONG"
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
