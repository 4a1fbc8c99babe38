"""The paper Kalshi WebSocket feed at the wire: signed upgrade, commands and their replies, seq per sid,
frames from REST orders in the engine's order, heartbeats, reset."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import aiohttp
import pytest
from feed_helpers import ALI, BOB, Paper, frame, frames_until, nothing_more, paper

from clients.kalshi.auth import auth_headers
from simulator.credentials import kalshi_test_credentials


@pytest.fixture
async def env() -> AsyncIterator[Paper]:
    async for p in paper():
        yield p


async def subscribe(ws: aiohttp.ClientWebSocketResponse, cid: int, **params: object) -> None:
    await ws.send_json({"id": cid, "cmd": "subscribe", "params": params})


def listing(ws: aiohttp.ClientWebSocketResponse) -> Callable[[], Awaitable[None]]:
    """A marker command for nothing_more: its reply comes after everything already queued."""
    return lambda: ws.send_json({"id": 999, "cmd": "list_subscriptions"})


async def test_upgrade_needs_a_valid_signature(env: Paper) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
        await env.http.ws_connect(env.sim.kalshi_ws_url)
    assert missing.value.status == 401
    _, other_key, _ = kalshi_test_credentials()
    forged = auth_headers(env.key_id, other_key, "GET", "/trade-api/ws/v2", env.sim.clock.now_ms())
    with pytest.raises(aiohttp.WSServerHandshakeError) as bad:
        await env.http.ws_connect(env.sim.kalshi_ws_url, headers=forged)
    assert bad.value.status == 401
    async with env.http.get(env.sim.kalshi_ws_url.replace("ws", "http", 1)) as plain:
        assert plain.status == 401
        assert await plain.json() == {
            "error": {"code": "signature_is_missing_from_headers", "message": "signature is missing from headers"}
        }
    ws = await env.kalshi_ws()
    await ws.close()


async def test_subscribe_replies_then_snapshot_equal_to_the_rest_book(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta", "trade"], market_tickers=[ALI])
    assert await frame(ws) == {"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}}
    snapshot = await frame(ws)
    assert await frame(ws) == {"type": "subscribed", "id": 1, "msg": {"channel": "trade", "sid": 2}}
    assert (snapshot["type"], snapshot["sid"], snapshot["seq"]) == ("orderbook_snapshot", 1, 1)
    async with env.http.get(f"{env.sim.kalshi_url}/trade-api/v2/markets/{ALI}/orderbook") as rest:
        book = (await rest.json())["orderbook_fp"]
    msg = snapshot["msg"]
    assert msg["market_ticker"] == ALI and len(msg["market_id"]) == 36
    assert msg["yes_dollars_fp"] == book["yes_dollars"] and msg["no_dollars_fp"] == book["no_dollars"]


async def test_use_yes_price_shows_the_no_leg_at_yes_prices(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI, use_yes_price=True)
    await frame(ws)
    snapshot = (await frame(ws))["msg"]
    # NO bids 0.46 and 0.48 in NO-leg order (best last), written at YES prices
    assert snapshot["no_dollars_fp"] == [["0.5400", "50.00"], ["0.5200", "25.00"]]


@pytest.mark.parametrize(
    ("command", "code", "extra"),
    [
        ({"id": 5, "cmd": "subscribe"}, 2, {}),
        ({"id": 5, "cmd": "subscribe", "params": {"channels": []}}, 3, {}),
        ({"id": 5, "cmd": "subscribe", "params": {"channels": ["ticker_v2"]}}, 8, {}),
        ({"id": 5, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14, {}),
        (
            {"id": 5, "cmd": "subscribe", "params": {"channels": ["ticker"], "market_ticker": "NOPE"}},
            16,
            {"market_ticker": "NOPE"},
        ),
        ({"id": 5, "cmd": "unsubscribe", "params": {}}, 4, {}),
        ({"id": 5, "cmd": "unsubscribe", "params": {"sids": [42]}}, 7, {}),
        ({"id": 5, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets"}}, 12, {}),
        ({"id": 5, "cmd": "update_subscription", "params": {"sid": 1}}, 15, {}),
        ({"id": 5, "cmd": "update_subscription", "params": {"sid": 1, "action": "rename"}}, 13, {}),
        ({"id": 5, "cmd": "update_subscription", "params": {"sid": 1, "action": "add_markets"}}, 14, {}),
        ({"id": 5, "cmd": "resubscribe"}, 5, {}),
    ],
)
async def test_command_errors_carry_the_asyncapi_codes(env: Paper, command: dict, code: int, extra: dict) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI)
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    await ws.send_json(command)
    reply = await frame(ws)
    assert reply["id"] == 5 and reply["type"] == "error"
    assert reply["msg"]["code"] == code and isinstance(reply["msg"]["msg"], str) and reply["msg"]["msg"]
    assert {k: v for k, v in reply["msg"].items() if k not in ("code", "msg")} == extra


async def test_a_non_json_command_is_error_1(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await ws.send_str("{not json")
    assert await frame(ws) == {"id": 0, "type": "error", "msg": {"code": 1, "msg": "Unable to process message"}}


async def test_a_rest_order_streams_book_fill_trade_position_and_order_frames(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta", "trade"], market_ticker=ALI)
    await subscribe(ws, 2, channels=["fill", "user_orders", "market_positions"])
    await frames_until(ws, lambda f: f["type"] == "subscribed" and f["msg"]["channel"] == "market_positions")
    async with env.kalshi() as kalshi:
        result = await kalshi.create_order(ALI, "yes", "buy", "30", "0.54")  # 25 at 0.52, 5 at 0.54
    frames = await nothing_more(ws, listing(ws))
    kinds = [f["type"] for f in frames[:-1]]
    assert kinds == [
        "orderbook_delta",
        "fill",
        "trade",
        "market_position",
        "orderbook_delta",
        "fill",
        "trade",
        "market_position",
        "user_order",
    ]
    deltas = [f for f in frames if f["type"] == "orderbook_delta"]
    assert [(d["seq"], d["msg"]["side"], d["msg"]["price_dollars"], d["msg"]["delta_fp"]) for d in deltas] == [
        (2, "no", "0.4800", "-25.00"),
        (3, "no", "0.4600", "-5.00"),
    ]
    assert [f["seq"] for f in frames if f["type"] == "trade"] == [1, 2]
    fills = [f["msg"] for f in frames if f["type"] == "fill"]
    assert {f["order_id"] for f in fills} == {result.order_id}
    assert [(f["count_fp"], f["yes_price_dollars"], f["post_position_fp"]) for f in fills] == [
        ("25.00", "0.5200", "25.00"),
        ("5.00", "0.5400", "30.00"),
    ]
    assert all("seq" not in f for f in frames if f["type"] in ("fill", "market_position", "user_order"))
    order = frames[-2]["msg"]
    assert (order["status"], order["fill_count_fp"], order["remaining_count_fp"]) == ("executed", "30.00", "0.00")


async def test_own_resting_order_delta_carries_client_order_id(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI)
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    async with env.kalshi() as kalshi:
        result = await kalshi.create_order(ALI, "yes", "buy", "4", "0.40", time_in_force="good_till_canceled")
        await kalshi.cancel_order(result.order_id)
    added, removed = (await nothing_more(ws, listing(ws)))[:2]
    assert added["msg"]["delta_fp"] == "4.00" and removed["msg"]["delta_fp"] == "-4.00"
    assert added["msg"]["client_order_id"] == result.client_order_id and added["msg"]["subaccount"] == 0


async def test_update_subscription_add_get_snapshot_delete(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI)
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    await ws.send_json(
        {
            "id": 2,
            "cmd": "update_subscription",
            "params": {"sids": [1], "market_tickers": [BOB], "action": "add_markets"},
        }
    )
    ok = await frame(ws)
    assert ok == {"id": 2, "sid": 1, "seq": 1, "type": "ok", "msg": {"market_tickers": [ALI, BOB]}}
    bob = await frame(ws)
    assert (bob["type"], bob["seq"], bob["msg"]["market_ticker"]) == ("orderbook_snapshot", 2, BOB)
    await ws.send_json({"id": 3, "cmd": "update_subscription", "params": {"sid": 1, "action": "get_snapshot"}})
    assert (await frame(ws))["type"] == "ok"
    again = [await frame(ws), await frame(ws)]
    assert [(f["seq"], f["msg"]["market_ticker"]) for f in again] == [(3, ALI), (4, BOB)]
    await ws.send_json(
        {
            "id": 4,
            "cmd": "update_subscription",
            "params": {"sid": 1, "market_tickers": [ALI], "action": "delete_markets"},
        }
    )
    assert (await frame(ws))["msg"] == {"market_tickers": [BOB]}
    async with env.kalshi() as kalshi:
        await kalshi.create_order(ALI, "yes", "buy", "1", "0.40", time_in_force="good_till_canceled")
    assert await nothing_more(ws, listing(ws)) == [
        {"id": 999, "type": "list_subscriptions", "msg": {"subscriptions": [{"channel": "orderbook_delta", "sid": 1}]}}
    ]


async def test_repeat_subscribe_merges_and_unsubscribe_stops_frames(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI)
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    await subscribe(ws, 2, channels=["orderbook_delta"], market_tickers=[ALI, BOB])
    assert await frame(ws) == {"type": "subscribed", "id": 2, "msg": {"channel": "orderbook_delta", "sid": 1}}
    assert (await frame(ws))["msg"]["market_ticker"] == BOB  # only the new market is snapshotted
    await ws.send_json({"id": 3, "cmd": "unsubscribe", "params": {"sids": [1]}})
    assert await frame(ws) == {"type": "unsubscribed", "id": 3, "sid": 1, "seq": 2}
    async with env.kalshi() as kalshi:
        await kalshi.create_order(BOB, "yes", "buy", "1", "0.30", time_in_force="good_till_canceled")
    assert [f["type"] for f in await nothing_more(ws, listing(ws))] == ["list_subscriptions"]


async def test_ticker_with_initial_snapshot_then_on_trades(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["ticker"], market_ticker=ALI, send_initial_snapshot=True)
    await frame(ws)
    first = (await frame(ws))["msg"]
    assert (first["yes_bid_dollars"], first["yes_ask_dollars"], first["yes_ask_size_fp"]) == (
        "0.4700",
        "0.5200",
        "25.00",
    )
    async with env.kalshi() as kalshi:
        await kalshi.create_order(ALI, "yes", "buy", "25", "0.52")
    ticker = (await frame(ws))["msg"]
    assert (ticker["price_dollars"], ticker["yes_ask_dollars"], ticker["volume_fp"]) == ("0.5200", "0.5400", "25.00")
    assert isinstance(ticker["dollar_volume"], int) and isinstance(ticker["ts_ms"], int)


async def test_server_pings_with_heartbeat_payload() -> None:
    async for env in paper({"kalshi": {"feed": {"ping_interval_s": 0.05}, "markets": [{"ticker": ALI}]}}):
        ws = await env.kalshi_ws(autoping=False)
        message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.PING and message.data == b"heartbeat"
        await ws.ping(b"client")
        pong = await ws.receive()
        assert pong.type == aiohttp.WSMsgType.PONG and pong.data == b"client"


async def test_reset_cuts_the_feed(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI)
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    await env.admin("kalshi", "/__sim/kalshi/reset")
    assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)


async def test_book_move_streams_the_requote(env: Paper) -> None:
    ws = await env.kalshi_ws()
    await subscribe(ws, 1, channels=["orderbook_delta"], market_ticker=ALI)
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    moved = await env.admin("kalshi", "/__sim/kalshi/book/move", {"ticker": ALI, "by": "0.01"})
    assert moved["orderbook_fp"]["yes_dollars"] == [["0.4600", "50.00"], ["0.4800", "25.00"]]
    deltas = [f["msg"] for f in (await nothing_more(ws, listing(ws)))[:-1]]
    book: dict[tuple[str, str], Decimal] = {}
    for d in deltas:
        key = (d["side"], d["price_dollars"])
        book[key] = book.get(key, Decimal(0)) + Decimal(d["delta_fp"])
    assert {k: v for k, v in book.items() if v} == {
        ("yes", "0.4500"): Decimal(-50),
        ("yes", "0.4700"): Decimal(-25),
        ("yes", "0.4600"): Decimal(50),
        ("yes", "0.4800"): Decimal(25),
        ("no", "0.4800"): Decimal(-25),
        ("no", "0.4600"): Decimal(-50),
        ("no", "0.4700"): Decimal(25),
        ("no", "0.4500"): Decimal(50),
    }
