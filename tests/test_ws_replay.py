"""WebSocket replay: the recorded 101 and messages, client messages matched like REST bodies, causal, timed and
fast pacing, step mode, inject, drops and close codes, composition, and what is reported."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.feed_helpers import eventually
from tests.proxy_helpers import recording
from tests.replay_helpers import KALSHI, ORDERS, fixture, replaying
from tests.ws_helpers import PATIENCE, Tape, admin, received, replayed, through_proxy, ws_url

KALSHI_WS = "/trade-api/ws/v2"
SUBSCRIBE = {"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}}
ORDER = {"ticker": "KXTEST-26", "client_order_id": "recorded-coid-1", "side": "bid", "count": "1.00", "price": "0.5"}


def texts(*messages: aiohttp.WSMessage) -> list[Any]:
    return [orjson.loads(m.data) for m in messages]


async def status(http: aiohttp.ClientSession, proxy: Any) -> dict[str, Any]:
    async with http.get(proxy.url("kalshi") + "/__tradetape/status") as answer:
        return await answer.json()


def order_book_session(directory: Path) -> Path:
    """A connection: subscribe, its reply and a snapshot; then an order whose fill frame came before its answer,
    a later book update, and the exchange's close."""
    tape = Tape(directory)
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "client", text=SUBSCRIBE)
    tape.message(ws, "exchange", text={"type": "subscribed", "id": 1, "msg": {"channel": "fill", "sid": 1}})
    tape.message(ws, "exchange", text={"type": "orderbook_snapshot", "sid": 2, "seq": 1})
    tape.request("order")
    tape.message(ws, "exchange", text={"type": "fill", "sid": 1, "msg": {"client_order_id": "recorded-coid-1"}})
    tape.answer("order", fixture("kalshi", "POST", KALSHI + ORDERS, ORDER, 201, {"order_id": "o-1", **ORDER}))
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "sid": 2, "seq": 2})
    tape.message(ws, "exchange", "close", code=4000, reason="maintenance")
    return tape.write()


async def test_a_recorded_connection_replays_in_causal_order_with_live_ids(tmp_path):
    session = order_book_session(tmp_path / "s")
    async with replaying([session], causal_timeout=PATIENCE) as proxy, aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:  # the 101 accepts the live key
            await ws.send_str(orjson.dumps({**SUBSCRIBE, "id": 7}).decode())  # the client numbers it 7 this time
            subscribed, snapshot = texts(await received(ws), await received(ws))
            assert subscribed["id"] == 7 and snapshot["type"] == "orderbook_snapshot"
            assert (await status(http, proxy))["websocket"]["clocks"]["s"]["waiting_for"].endswith(
                "the request of s/006_POST_kalshi_orders.json"
            )  # the fill waits for the order it filled
            live = {**ORDER, "client_order_id": "live-coid-42"}
            async with http.post(proxy.url("kalshi") + ORDERS, json=live) as answer:
                assert (await answer.json())["client_order_id"] == "live-coid-42"
            fill, delta = texts(await received(ws), await received(ws))
            assert fill["msg"]["client_order_id"] == "live-coid-42"  # correlation reaches the frames
            assert delta["type"] == "orderbook_delta"
            closing = await received(ws)
            assert (closing.type, closing.data, closing.extra) == (aiohttp.WSMsgType.CLOSE, 4000, "maintenance")
        report = await status(http, proxy)
    assert report["unmatched"] == [] and report["unused"] == [] and report["websocket"]["unconsumed"] == []
    assert report["websocket"]["causal_waits"] == []


async def test_a_rest_answer_recorded_after_a_frame_waits_for_that_frame(tmp_path):
    tape = Tape(tmp_path / "s")
    tape.request("order")  # the order was sent before the client had even connected its feed
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "client", text=SUBSCRIBE)
    tape.message(ws, "exchange", text={"type": "fill", "msg": {"order_id": "o-1"}})
    tape.answer("order", fixture("kalshi", "POST", KALSHI + ORDERS, ORDER, 201, {"order_id": "o-1"}))
    async with replaying([tape.write()], causal_timeout=PATIENCE) as proxy, aiohttp.ClientSession() as http:
        order = asyncio.ensure_future(http.post(proxy.url("kalshi") + ORDERS, json=ORDER))
        replayer = proxy.mode.addons[0]
        await eventually(lambda: any(q.served for q in replayer.queues.values() if q.key.method == "POST"))
        assert not order.done()  # held: the fill frame recorded before this answer has not been sent
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            await ws.send_str(orjson.dumps(SUBSCRIBE).decode())
            assert texts(await received(ws))[0]["type"] == "fill"
            answer = await asyncio.wait_for(order, PATIENCE)
            assert answer.status == 201
            answer.release()


async def test_a_rest_answer_waits_only_as_long_as_the_causal_timeout_and_the_wait_is_reported(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "client", text=SUBSCRIBE)  # the live client never connects
    tape.request("order")
    tape.answer("order", fixture("kalshi", "POST", KALSHI + ORDERS, ORDER, 201, {"order_id": "o-1"}))
    async with replaying([tape.write()], causal_timeout=0.05) as proxy, aiohttp.ClientSession() as http:
        async with http.post(proxy.url("kalshi") + ORDERS, json=ORDER) as answer:
            assert answer.status == 201
        waits = (await status(http, proxy))["websocket"]["causal_waits"]
    held_for = "seq 0+: the request of s/001_GET_kalshi_ws.json"
    assert waits == [f"s/003_POST_kalshi_orders.json: answered after waiting 0.05 s for {held_for}"]


@pytest.mark.parametrize("pacing", ["fast", "timed"])
async def test_fast_and_timed_pacing_do_not_wait_for_the_client(tmp_path, pacing):
    session = order_book_session(tmp_path / "s")
    async with (
        replayed([session], pacing=pacing, speed=1000.0) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws,
    ):
        kinds = [m["type"] for m in texts(*[await received(ws) for _ in range(4)])]  # no subscribe sent
        assert kinds == ["subscribed", "orderbook_snapshot", "fill", "orderbook_delta"]
        assert (await received(ws)).data == 4000


async def test_step_mode_releases_one_message_per_step(tmp_path):
    session = order_book_session(tmp_path / "s")
    async with (
        replayed([session], pacing="fast", step=True) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws,
    ):
        report = await status(http, proxy)
        assert report["websocket"]["connections"][0]["sent"] == 0 and report["websocket"]["step"]["on"]
        async with http.post(
            proxy.url("kalshi") + "/__tradetape/ws/step", json={"messages": 1}, headers=admin(proxy)
        ) as answer:
            assert answer.status == 200
        assert texts(await received(ws))[0]["type"] == "subscribed"
        assert (await status(http, proxy))["websocket"]["connections"][0]["sent"] == 1
        async with http.post(
            proxy.url("kalshi") + "/__tradetape/ws/step", json={"run": True}, headers=admin(proxy)
        ) as answer:
            assert (await answer.json())["step"]["on"] is False
        assert texts(await received(ws))[0]["type"] == "orderbook_snapshot"


async def test_inject_pushes_a_message_into_the_live_connection(tmp_path):
    session = order_book_session(tmp_path / "s")
    price = {"type": "ticker", "msg": {"market_ticker": "KXTEST-26", "price_dollars": "0.6100"}}
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            async with http.post(
                proxy.url("kalshi") + "/__tradetape/ws/inject", json={"json": price}, headers=admin(proxy)
            ) as answer:
                assert (await answer.json())["sent_to"] == [1]
            assert texts(await received(ws)) == [price]
        async with http.post(
            proxy.url("poly") + "/__tradetape/ws/inject", json={"text": "x"}, headers=admin(proxy)
        ) as answer:
            assert answer.status == 409  # no open poly connection
        async with http.post(
            proxy.url("kalshi") + "/__tradetape/ws/inject", json={"text": 1}, headers=admin(proxy)
        ) as answer:
            assert answer.status == 400 and "text must be a string" in await answer.text()


async def test_inject_and_step_need_a_replay(tmp_path):
    async with through_proxy(recording(tmp_path / "r", "all")) as (_, proxy, http):
        for route in ("inject", "step"):
            async with http.post(
                proxy.url("kalshi") + f"/__tradetape/ws/{route}", json={"text": "x"}, headers=admin(proxy)
            ) as answer:
                assert answer.status == 409 and answer.headers["X-Tradetape-Error"] == "not_replaying"


async def test_an_unmatched_client_message_closes_with_policy_violation_and_is_reported(tmp_path):
    session = order_book_session(tmp_path / "s")
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            wrong = {**SUBSCRIBE, "params": {"channels": ["ticker"]}}
            await ws.send_str(orjson.dumps(wrong).decode())
            closing = await received(ws)
            assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1008)
        report = await status(http, proxy)
        replayer = proxy.mode.addons[0]
        problems = replayer.problems()
    (miss,) = report["unmatched"]
    assert miss["tradetape_error"] == "unmatched" and miss["message"]["payload"] == wrong
    assert miss["candidates"][0]["differs"] == {"/params/channels/0": {"live": "ticker", "recorded": "fill"}}
    assert report["counts"]["unmatched"] == 1
    assert any("text message on /trade-api/ws/v2 (connection 1)" in line for line in problems)
    assert any("exchange messages never sent" in line for line in problems)


async def test_a_recorded_drop_replays_as_a_drop(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "exchange", text={"type": "hello"})
    tape.message(ws, "exchange", "drop")
    async with replayed([tape.write()]) as (proxy, http), http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
        assert texts(await received(ws)) == [{"type": "hello"}]
        ended = await received(ws)
        assert ended.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR) or ended.data == 1006


async def test_keepalives_are_answered_live_and_never_replayed(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("poly", "/ws/market", "https://ws-subscriptions-clob.polymarket.com")
    tape.message(ws, "client", text="PING")
    tape.message(ws, "exchange", text="PONG")
    tape.message(ws, "exchange", "ping", text="heartbeat")
    tape.message(ws, "client", text={"assets_ids": ["1"], "type": "market"})
    tape.message(ws, "exchange", text=[{"event_type": "book", "asset_id": "1"}])
    async with replaying([tape.write()]) as proxy, aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(proxy.url("poly"), "/ws/market"), autoping=False) as ws:
            for _ in range(3):  # any number of PINGs, whenever the client's timer says
                await ws.send_str("PING")
                assert (await received(ws)).data == "PONG"
            await ws.ping(b"are you there")
            pong = await received(ws)
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
            await ws.send_str('{"type": "market", "assets_ids": ["1"]}')
            assert texts(await received(ws)) == [[{"event_type": "book", "asset_id": "1"}]]
        report = await status(http, proxy)
    assert report["unmatched"] == [] and report["websocket"]["unconsumed"] == []


async def test_connections_compose_from_several_sessions_each_on_its_own_clock(tmp_path):
    sessions = []
    for name in ("a", "b"):
        tape = Tape(tmp_path / name)
        ws = tape.open("kalshi", KALSHI_WS)
        tape.message(ws, "client", text=SUBSCRIBE)
        tape.message(ws, "exchange", text={"from": name})
        sessions.append(tape.write())
    async with replaying(sessions) as proxy, aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as first:
            async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as second:
                await second.send_str(orjson.dumps(SUBSCRIBE).decode())  # b's clock does not wait for a's
                assert texts(await received(second)) == [{"from": "b"}]
            await first.send_str(orjson.dumps(SUBSCRIBE).decode())
            assert texts(await received(first)) == [{"from": "a"}]
        with pytest.raises(aiohttp.WSServerHandshakeError) as exhausted:
            await http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS))
        assert exhausted.value.status == 599


async def test_a_client_that_leaves_early_leaves_its_messages_reported_unconsumed(tmp_path):
    session = order_book_session(tmp_path / "s")
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            await ws.send_str(orjson.dumps(SUBSCRIBE).decode())
            await received(ws)
            await received(ws)
        await asyncio.sleep(0)
        report = await status(http, proxy)
    unconsumed = report["websocket"]["unconsumed"]
    assert unconsumed == ["s/001_GET_kalshi_ws.frames.jsonl (connection 1): 3 exchange messages never sent, from seq 5"]
    assert "s/006_POST_kalshi_orders.json" in report["unused"]


async def test_a_plain_request_for_a_recorded_connection_gets_a_599(tmp_path):
    session = order_book_session(tmp_path / "s")
    async with replayed([session]) as (proxy, http), http.get(proxy.url("kalshi") + KALSHI_WS) as answer:
        assert answer.status == 599 and "is a WebSocket connection" in (await answer.json())["detail"]


async def test_the_live_clients_own_secret_goes_back_where_the_recording_located_it(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("poly", "/ws/user", "https://ws-subscriptions-clob.polymarket.com")
    redacted = {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"}
    tape.message(ws, "client", text={"auth": redacted, "type": "user"})
    trade = {"event_type": "trade", "owner": "[REDACTED]", "maker_orders": [{"owner": "[REDACTED]"}]}
    tape.message(ws, "exchange", text=trade, echoes={"/owner": "/auth/apiKey"})
    async with (
        replayed([tape.write()]) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("poly"), "/ws/user")) as ws,
    ):
        live = {"apiKey": "k-test-key", "secret": "s3cret", "passphrase": "pp"}
        await ws.send_str(orjson.dumps({"type": "user", "auth": live}).decode())  # matched: auth is volatile
        (event,) = texts(await received(ws))
    assert event == {"event_type": "trade", "owner": "k-test-key", "maker_orders": [{"owner": "[REDACTED]"}]}


@pytest.mark.parametrize(
    ("target", "owners"),
    [
        ("/maker_orders/0/owner", ("[REDACTED]", "k-test-key")),  # through a list, by its index
        ("/owner/inner", ("[REDACTED]", "[REDACTED]")),  # into a string (a field redacted whole): left out
        ("/maker_orders/0/owner/x", ("[REDACTED]", "[REDACTED]")),
    ],
)
async def test_an_echo_is_put_back_through_a_list_and_left_out_where_its_place_is_not_there(tmp_path, target, owners):
    tape = Tape(tmp_path / "s")
    ws = tape.open("poly", "/ws/user", "https://ws-subscriptions-clob.polymarket.com")
    redacted = {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"}
    tape.message(ws, "client", text={"auth": redacted, "type": "user"})
    trade = {"event_type": "trade", "owner": "[REDACTED]", "maker_orders": [{"owner": "[REDACTED]"}]}
    tape.message(ws, "exchange", text=trade, echoes={target: "/auth/apiKey"})
    tape.message(ws, "exchange", text={"event_type": "order"})
    async with (
        replayed([tape.write()]) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("poly"), "/ws/user")) as ws,
    ):
        live = {"apiKey": "k-test-key", "secret": "s3cret", "passphrase": "pp"}
        await ws.send_str(orjson.dumps({"type": "user", "auth": live}).decode())
        event, after = texts(await received(ws), await received(ws))  # the connection lives on
    assert (event["owner"], event["maker_orders"][0]["owner"]) == owners
    assert after == {"event_type": "order"}


async def test_an_unmatched_client_message_never_shows_the_clients_secret_under_another_name(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("poly", "/ws/user", "https://ws-subscriptions-clob.polymarket.com")
    redacted = {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"}
    tape.message(ws, "client", text={"auth": redacted, "type": "user"})
    tape.message(ws, "exchange", text={"event_type": "trade"})
    key, secret = "k-live-key-0001", "s3cret-live-0001"
    async with (
        replayed([tape.write()]) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("poly"), "/ws/user")) as client,
    ):
        live = {"apiKey": key, "secret": secret, "passphrase": "pass-live-0001"}
        await client.send_str(orjson.dumps({"type": "user", "auth": live}).decode())
        await received(client)
        await client.send_str(orjson.dumps({"type": "user", "markets": [key], "note": f"x {secret} y"}).decode())
        closing = await received(client)
        report = await status(http, proxy)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1008)
    (miss,) = report["unmatched"]
    assert miss["message"]["payload"] == {"type": "user", "markets": ["[REDACTED]"], "note": "x [REDACTED] y"}
    text = orjson.dumps(report).decode()
    assert key not in text and secret not in text


@pytest.mark.parametrize(
    ("live_id", "odd_id"),
    [
        (7, [1, 2]),  # a reply whose id is a list where the client's command id was recorded
        (7, {"id": 1}),  # an object
        (7, True),  # a boolean: equal to the recorded id 1 in Python, but no command id
        (7, 1.0),  # a float: likewise
        ([7], [1]),  # the live client's id is a list where a number was recorded: nothing is learned
        ({"n": 7}, {"id": 1}),
    ],
)
async def test_a_field_that_holds_no_command_id_goes_out_as_recorded_and_the_replay_goes_on(
    tmp_path, caplog, live_id, odd_id
):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "client", text=SUBSCRIBE)  # recorded with id 1
    tape.message(ws, "exchange", text={"type": "subscribed", "id": 1})
    tape.message(ws, "exchange", text={"type": "odd", "id": odd_id})
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "sid": 2})
    caplog.set_level(logging.WARNING)
    async with (
        replayed([tape.write()], causal_timeout=PATIENCE) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as client,
    ):
        await client.send_str(orjson.dumps({**SUBSCRIBE, "id": live_id}).decode())  # matched: the id is volatile
        subscribed, odd, delta = texts(await received(client), await received(client), await received(client))
        report = await status(http, proxy)
    assert subscribed == {"type": "subscribed", "id": live_id if type(live_id) is int else 1}
    assert odd == {"type": "odd", "id": odd_id} and type(odd["id"]) is type(odd_id)
    assert delta == {"type": "orderbook_delta", "sid": 2}
    assert report["websocket"]["unconsumed"] == [] and report["unmatched"] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("name", ["req/id", "req~id", "req~1id"])  # a pointer spells them req~1id, req~0id, req~01id
async def test_a_command_id_under_a_name_a_json_pointer_escapes_is_echoed_with_the_live_one(tmp_path, name):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "client", text={"cmd": "subscribe", name: 1})
    tape.message(ws, "exchange", text={"type": "subscribed", name: 1})
    async with (
        replayed([tape.write()], causal_timeout=PATIENCE, ignore_fields=(f"kalshi:{name}",)) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as client,
    ):
        await client.send_str(orjson.dumps({"cmd": "subscribe", name: 7}).decode())
        (subscribed,) = texts(await received(client))
        report = await status(http, proxy)
    assert subscribed == {"type": "subscribed", name: 7}
    assert report["unmatched"] == [] and report["websocket"]["unconsumed"] == []


@pytest.mark.parametrize(
    ("speed", "warned"),
    [
        (1.0, ["timed replay: waiting 120 s before s/001_GET_kalshi_ws.frames.jsonl seq 3, as recorded at --speed 1"]),
        (4.0, ["timed replay: waiting 75 s before s/001_GET_kalshi_ws.frames.jsonl seq 4, as recorded at --speed 4"]),
        (10.0, []),  # 12 s and 30 s: no stall worth a word
    ],
)
async def test_timed_pacing_warns_once_per_connection_before_a_wait_of_over_a_minute(tmp_path, caplog, speed, warned):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "exchange", text={"type": "subscribed", "id": 1})
    tape.t += 120.0  # a quiet market
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "seq": 1})
    tape.t += 180.0  # quieter still: no second warning
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "seq": 2})
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # no real waiting: the loop's clock stands still
        slept.append(seconds)

    caplog.set_level(logging.WARNING, logger="tradetape.replay")
    async with (
        replayed([tape.write()], pacing="timed", speed=speed, sleep=sleep) as (proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as client,
    ):
        kinds = [m["type"] for m in texts(*[await received(client) for _ in range(3)])]
    assert kinds == ["subscribed", "orderbook_delta", "orderbook_delta"]
    assert [round(s) for s in slept] == [0, round(120 / speed), round(300 / speed)]
    lines = [r.getMessage() for r in caplog.records if r.name == "tradetape.replay" and "waiting" in r.getMessage()]
    assert [line.split(" (")[0] for line in lines] == warned
    assert all(line.endswith("(a higher --speed shortens it)") for line in lines)


async def test_timed_pacing_of_a_handshake_with_no_captured_at_starts_from_its_first_message(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    del tape.fixtures[0]["captured_at"]  # optional in a fixture: a hand-written one may not have it
    tape.message(ws, "exchange", text={"type": "subscribed", "id": 1})
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "sid": 2})
    async with (
        replayed([tape.write()], pacing="timed") as (proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as client,
    ):
        kinds = [m["type"] for m in texts(await received(client), await received(client))]  # not 57 years away
    assert kinds == ["subscribed", "orderbook_delta"]
