"""Feed faults at the wire: what each one does to the frames a client receives, how they are armed (admin API,
state file, in-process) and how bad specs are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from feed_helpers import ALI, YES, Paper, frame, frames_until, paper

from simulator.server import start_simulator
from simulator.state import StateError

CUT = (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)


@pytest.fixture
async def env() -> AsyncIterator[Paper]:
    async for p in paper():
        yield p


async def book_socket(env: Paper) -> aiohttp.ClientWebSocketResponse:
    ws = await env.kalshi_ws()
    await ws.send_json({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_ticker": ALI}})
    await ws.send_json({"id": 2, "cmd": "subscribe", "params": {"channels": ["fill"]}})
    await frames_until(ws, lambda f: f["type"] == "subscribed" and f["msg"]["channel"] == "fill")
    return ws


async def rest_marker(env: Paper) -> None:
    async with env.kalshi() as kalshi:
        await kalshi.create_order(ALI, "yes", "buy", "1", "0.10", time_in_force="good_till_canceled")


async def test_skip_seq_leaves_a_gap(env: Paper) -> None:
    ws = await book_socket(env)
    env.sim.feed_faults.arm_spec("kalshi", {"action": "skip_seq", "channel": "orderbook_delta"})
    await rest_marker(env)
    await rest_marker(env)
    first, second = [await frame(ws) for _ in range(2)]
    assert (first["seq"], second["seq"]) == (3, 4)  # the snapshot was 1: seq 2 never went out


async def test_duplicate_sends_a_frame_twice(env: Paper) -> None:
    ws = await book_socket(env)
    await env.admin("kalshi", "/__sim/feeds/faults", {"action": "duplicate", "kind": "fill"})
    async with env.kalshi() as kalshi:
        await kalshi.create_order(ALI, "yes", "buy", "2", "0.52")
    frames = await frames_until(ws, lambda f: f["type"] == "orderbook_delta")
    fills = [f for f in [*frames, await frame(ws), await frame(ws)] if f["type"] == "fill"]
    assert len(fills) == 2 and fills[0] == fills[1]


async def test_delay_holds_one_connections_frames(env: Paper) -> None:
    held, free = await book_socket(env), await book_socket(env)
    connections = (await env.admin("kalshi", "/__sim/feeds", method="GET"))["connections"]
    env.sim.feed_faults.arm_spec(
        "kalshi", {"action": "delay", "delay_ms": 1000, "connection": connections[0]["connection"]}
    )
    await rest_marker(env)
    assert (await frame(free))["type"] == "orderbook_delta"
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(held.receive(), 0.05)
    assert (await frame(held))["type"] == "orderbook_delta"


async def test_drop_cuts_open_connections_at_once_and_by_kind_at_the_frame(env: Paper) -> None:
    ws = await book_socket(env)
    await env.admin("kalshi", "/__sim/feeds/faults", {"action": "drop"})
    assert (await ws.receive()).type in CUT
    assert (await env.admin("kalshi", "/__sim/feeds/faults", method="GET"))["faults"] == []
    ws = await book_socket(env)
    await env.admin("kalshi", "/__sim/feeds/faults", {"action": "drop", "kind": "fill"})
    async with env.kalshi() as kalshi:
        await kalshi.create_order(ALI, "yes", "buy", "1", "0.52")
    assert (await frame(ws))["type"] == "orderbook_delta"
    assert (await ws.receive()).type in CUT


async def test_silent_loses_frames_until_cleared(env: Paper) -> None:
    ws = await book_socket(env)
    await env.admin("kalshi", "/__sim/feeds/faults", {"action": "silent"})
    await rest_marker(env)  # seq 2, never sent
    await env.admin("kalshi", "/__sim/feeds/faults", method="DELETE")
    await rest_marker(env)
    assert (await frame(ws))["seq"] == 3


async def test_refuse_then_stall_the_upgrade(env: Paper) -> None:
    await env.admin("kalshi", "/__sim/feeds/faults", {"action": "refuse_upgrade", "status": 502})
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await env.kalshi_ws()
    assert refused.value.status == 502
    env.sim.feed_faults.arm_spec("poly", {"action": "stall_upgrade", "delay_ms": 1000, "channel": "market"})
    connecting = asyncio.ensure_future(env.poly_ws("market"))
    await asyncio.sleep(0.1)
    assert not connecting.done()
    ws = await connecting
    await ws.close()


async def test_a_failing_trade_streams_retrying_then_failed_and_is_reversed(env: Paper) -> None:
    """The REST fault fail_trades (simulator/faults.py) seen on the user channel."""
    ws = await env.poly_ws("user")
    await ws.send_json(env.user_auth())
    await env.admin("poly", "/__sim/faults", {"method": "POST", "path": "/order", "action": "fail_trades"})
    async with env.poly() as poly:
        before = (await poly.get_balance_allowance()).balance
        await poly.create_order(YES, "BUY", "0.49", "10")
        after_match = (await poly.get_balance_allowance()).balance
        matched = await frame(ws)
        await env.sim.clock.advance(2)
        retrying = await frame(ws)
        await env.sim.clock.advance(10)
        failed = await frame(ws)
        after_failure = (await poly.get_balance_allowance()).balance
        [trade] = await poly.get_trades()
    assert [f["status"] for f in (matched, retrying, failed)] == ["MATCHED", "RETRYING", "FAILED"]
    assert before - after_match == Decimal("4.9") and after_failure == before
    assert trade.status == "FAILED"


async def test_feed_faults_from_the_state_file() -> None:
    state = {"kalshi": {"feed": {"faults": [{"action": "refuse_upgrade", "status": 503}]}}}
    async for env in paper(state):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await env.kalshi_ws()
        assert refused.value.status == 503
        ws = await env.kalshi_ws()
        await ws.close()


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"action": "explode"}, "action"),
        ({"action": "delay", "delay_ms": -5}, "delay_ms"),
        ({"action": "drop", "times": 0}, "times"),
        ({"action": "refuse_upgrade", "status": 200}, "status"),
        ({"action": "drop", "when": "later"}, "unknown field"),
    ],
)
async def test_bad_fault_specs_are_refused_naming_the_field(env: Paper, spec: dict, named: str) -> None:
    async with env.http.post(env.sim.kalshi_url + "/__sim/feeds/faults", json=spec) as response:
        assert response.status == 400
        assert named in (await response.json())["sim_error"]
    with pytest.raises(StateError, match=f"poly.feed.faults\\[0\\].*{named}"):
        await start_simulator({"poly": {"feed": {"faults": [spec]}}})


async def test_bad_feed_settings_name_the_field() -> None:
    with pytest.raises(StateError, match=r"kalshi\.feed\.ping_interval_s"):
        await start_simulator({"kalshi": {"feed": {"ping_interval_s": 0}}})
    with pytest.raises(StateError, match=r"poly\.feed: unknown field"):
        await start_simulator({"poly": {"feed": {"pings": 1}}})


async def test_connections_are_listed_with_their_subscriptions(env: Paper) -> None:
    ws = await book_socket(env)
    [listed] = (await env.admin("kalshi", "/__sim/feeds", method="GET"))["connections"]
    assert listed["account"] == "default"
    assert [(s["channel"], s["market_tickers"]) for s in listed["subscriptions"]] == [
        ("orderbook_delta", [ALI]),
        ("fill", None),
    ]
    await ws.close()


async def test_a_drop_for_a_sid_cuts_only_the_connections_holding_it(env: Paper) -> None:
    both = await book_socket(env)  # sids 1 (orderbook_delta) and 2 (fill)
    fills_only = await env.kalshi_ws()
    await fills_only.send_json({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}})  # sid 1
    await frame(fills_only)
    await env.admin("kalshi", "/__sim/feeds/faults", {"action": "drop", "sid": 2})
    assert (await both.receive()).type in CUT
    await fills_only.send_json({"id": 2, "cmd": "list_subscriptions"})
    assert (await frame(fills_only))["type"] == "list_subscriptions"
