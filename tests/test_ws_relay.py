"""WebSocket through record and passthrough: messages, pings and close codes relayed as sent, the handshake
recorded as a fixture and every message on the session clock, the capture filter and redaction per connection."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.proxy_helpers import fixtures_in, passing_through, recording, running_proxy
from tests.ws_helpers import (
    PATIENCE,
    clock,
    received,
    replayed,
    scripted_exchange,
    session_frames,
    through_proxy,
    ws_url,
)

KALSHI_WS = "/trade-api/ws/v2"
SIGNED = {"KALSHI-ACCESS-KEY": "key-id-123", "KALSHI-ACCESS-SIGNATURE": "c2lnbmF0dXJl", "X-Bot": "arb"}


def modes(tmp_path: Path) -> dict[str, Any]:
    return {"record": recording(tmp_path / "s", "all"), "passthrough": passing_through()}


@pytest.mark.parametrize("mode", ["record", "passthrough"])
async def test_messages_boundaries_and_kinds_are_relayed_both_ways(tmp_path, mode):
    async with (
        through_proxy(modes(tmp_path)[mode]) as (exchange, proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS + "?v=1"), headers=SIGNED, compress=15) as ws,
    ):
        assert ws.compress == 0  # permessage-deflate is not negotiated through the proxy
        await ws.send_str('{"id": 1, "cmd": "subscribe"}')
        assert (await received(ws)).data == '{"id": 1, "cmd": "subscribe"}'
        await ws.send_bytes(b"\x00\xffbinary")
        echoed = await received(ws)
        assert (echoed.type, echoed.data) == (aiohttp.WSMsgType.BINARY, b"\x00\xffbinary")
        await ws.send_str("fragments")
        assert (await received(ws)).data == "frag-ment"  # one message, as the exchange sent it
        await ws.close()
        heard = await exchange.connections[0].closed()
        assert heard.path == KALSHI_WS + "?v=1"  # the path the signature covers, unchanged
        assert heard.headers["kalshi-access-signature"] == "c2lnbmF0dXJl" and heard.headers["x-bot"] == "arb"
        assert "sec-websocket-extensions" not in heard.headers
        assert heard.messages == ['{"id": 1, "cmd": "subscribe"}', b"\x00\xffbinary", "fragments"]
        assert heard.close_code == 1000


async def test_pings_go_through_and_only_the_client_answers_them(tmp_path):
    async with (
        through_proxy(recording(tmp_path / "s", "all")) as (exchange, proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS), autoping=False) as ws,
    ):
        await ws.send_str("ping")
        ping = await received(ws)
        assert (ping.type, ping.data) == (aiohttp.WSMsgType.PING, b"heartbeat")
        await ws.send_str("marker")  # after the ping: an answer from the proxy would have reached the exchange
        assert (await received(ws)).data == "marker"
        assert exchange.connections[0].pongs == 0
        await ws.pong(b"heartbeat")
        await ws.send_str("marker")
        assert (await received(ws)).data == "marker"
        assert exchange.connections[0].pongs == 1
    ((_, frames),) = session_frames(tmp_path / "s")
    kinds = [(f["from"], f["kind"], f.get("text")) for f in frames]
    assert ("exchange", "ping", "heartbeat") in kinds and ("client", "pong", "heartbeat") in kinds


async def test_close_codes_pass_both_ways_and_are_recorded(tmp_path):
    async with through_proxy(recording(tmp_path / "s", "all")) as (exchange, proxy, http):
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            await ws.send_str("close:4001")
            closing = await received(ws)
            assert (closing.type, closing.data, closing.extra) == (aiohttp.WSMsgType.CLOSE, 4001, "bye")
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            await ws.close(code=4002, message=b"done")
        second = await exchange.connections[1].closed()
        assert (second.close_code, second.close_reason) == (4002, "done")
    (_, first), (_, second) = session_frames(tmp_path / "s")
    assert {"from": "exchange", "kind": "close", "code": 4001, "reason": "bye"}.items() <= first[-2].items()
    assert (first[-1]["from"], first[-1]["kind"]) == ("client", "close")  # the client's answer (aiohttp says 1000)
    assert {"from": "client", "kind": "close", "code": 4002, "reason": "done"}.items() <= second[0].items()


async def test_handshake_fixture_and_one_clock_for_frames_and_rest(tmp_path):
    async with (
        through_proxy(recording(tmp_path / "s", "all")) as (exchange, proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS), headers=SIGNED) as ws,
    ):
        await ws.send_str("before")
        await received(ws)
        async with http.get(proxy.url("kalshi") + "/trade-api/v2/portfolio/fills") as answer:
            await answer.read()  # the scripted exchange answers plain HTTP with an error: still an answer
        await ws.send_str("after")
        await received(ws)
    directory = tmp_path / "s"
    handshake, rest = fixtures_in(directory)
    assert handshake["request"]["url"] == exchange.url + KALSHI_WS
    assert handshake["request"]["headers"]["kalshi-access-signature"] == "[REDACTED]"
    assert handshake["request"]["headers"]["x-bot"] == "arb"
    assert handshake["response"]["status"] == 101
    assert "sec-websocket-accept" in handshake["response"]["headers"]
    assert handshake["websocket"] == {"frames": "001_GET_kalshi_ws.frames.jsonl"}
    assert [name for _, name in clock(directory)] == [
        "001_GET_kalshi_ws.json",
        "frame client text",
        "frame exchange text",
        f"{rest['seq']:03d}_GET_kalshi_fills.json",
        "frame client text",
        "frame exchange text",
        "frame client close",
        "frame exchange close",
    ]
    assert rest["sent_after"] == 3  # the request came after seq 3, the echo of "before"
    assert [seq for seq, _ in clock(directory)] == list(range(1, 9))  # one counter, no gaps


@pytest.mark.parametrize(
    ("spec", "exchange_name", "path", "captured"),
    [
        ("orders", "kalshi", KALSHI_WS, True),
        ("orders", "poly", "/ws/user", True),
        ("orders", "poly", "/ws/market", True),
        ("orders", "kalshi", "/somewhere/else", False),
        ("/ws/user$", "poly", "/ws/market", False),
        ("/ws/user$", "poly", "/ws/user", True),
    ],
)
async def test_the_capture_filter_decides_per_websocket_path(tmp_path, spec, exchange_name, path, captured):
    async with (
        through_proxy(recording(tmp_path / "s", spec)) as (_, proxy, http),
        http.ws_connect(ws_url(proxy.url(exchange_name), path)) as ws,
    ):
        await ws.send_str("hello")
        assert (await received(ws)).data == "hello"  # relayed either way
    frames = session_frames(tmp_path / "s")
    assert bool(frames) == captured
    assert len(list((tmp_path / "s").glob("*.frames.jsonl"))) == int(captured)


async def test_secrets_in_frames_are_redacted_both_ways(tmp_path):
    subscribe = {
        "auth": {"apiKey": "k-live-key", "secret": "c2VjcmV0LXZhbHVl", "passphrase": "pass-phrase"},
        "markets": ["0x69"],
        "type": "user",
    }
    trade = {"event_type": "trade", "owner": "k-live-key", "trade_owner": "k-live-key", "id": "t1"}
    async with (
        through_proxy(recording(tmp_path / "s", "all")) as (_, proxy, http),
        http.ws_connect(ws_url(proxy.url("poly"), "/ws/user")) as ws,
    ):
        await ws.send_str(orjson.dumps(subscribe).decode())
        assert orjson.loads((await received(ws)).data) == subscribe  # the exchange's echo, unredacted live
        await ws.send_str(orjson.dumps(trade).decode())
        await received(ws)
        await ws.send_bytes(b"binary apiKey=k-live-key")
        await received(ws)
    ((_, frames),) = session_frames(tmp_path / "s")
    text = (tmp_path / "s" / "001_GET_poly_user.frames.jsonl").read_text()
    for secret in ("k-live-key", "c2VjcmV0LXZhbHVl", "pass-phrase"):
        assert secret not in text
    sent = orjson.loads(frames[0]["text"])
    assert sent == {
        "auth": {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"},
        "markets": ["0x69"],
        "type": "user",
    }
    assert orjson.loads(frames[3]["text"])["trade_owner"] == "[REDACTED]"
    assert "omitted" in frames[4] and "text" not in frames[4] and "base64" not in frames[4]


async def test_a_dropped_exchange_connection_is_dropped_for_the_client_and_recorded(tmp_path):
    async with (
        through_proxy(recording(tmp_path / "s", "all")) as (_, proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws,
    ):
        await ws.send_str("drop")
        ended = await received(ws)
        assert ended.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
        assert ended.type != aiohttp.WSMsgType.CLOSE or ended.data == 1006  # no close frame ever came
    ((_, frames),) = session_frames(tmp_path / "s")
    assert [(f["from"], f["kind"]) for f in frames] == [("client", "text"), ("exchange", "drop")]


def ended_without_a_close_frame(message: aiohttp.WSMessage) -> bool:
    if message.type == aiohttp.WSMsgType.CLOSE:
        return bool(message.data == 1006)  # aiohttp's code for a connection that ended with no close frame
    return message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def test_a_stop_of_the_proxy_with_a_connection_open_is_recorded_and_replayed_as_how_it_ended(tmp_path):
    async with scripted_exchange() as exchange, aiohttp.ClientSession() as http:
        proxy = running_proxy(exchange.url, recording(tmp_path / "s", "all"))
        await proxy.start()
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS)) as ws:
            await ws.send_str("say:hello")
            assert (await received(ws)).data == "hello"
            await proxy.stop(grace=2)
            assert ended_without_a_close_frame(await received(ws))
    ((_, frames),) = session_frames(tmp_path / "s")
    assert [(f["from"], f["kind"]) for f in frames] == [("client", "text"), ("exchange", "text"), ("exchange", "drop")]
    assert frames[-1]["reason"] == "tradetape stopped: it closed the connection"
    async with (
        replayed([tmp_path / "s"]) as (replay, http),
        http.ws_connect(ws_url(replay.url("kalshi"), KALSHI_WS)) as ws,
    ):
        await ws.send_str("say:hello")
        assert (await received(ws)).data == "hello"
        assert ended_without_a_close_frame(await received(ws))  # as the client saw it when it was recorded


async def test_a_stop_after_the_exchange_closed_records_no_drop(tmp_path):
    async with scripted_exchange() as exchange, aiohttp.ClientSession() as http:
        proxy = running_proxy(exchange.url, recording(tmp_path / "s", "all"))
        await proxy.start()
        async with http.ws_connect(ws_url(proxy.url("kalshi"), KALSHI_WS), autoclose=False) as ws:
            await ws.send_str("close:4000")
            closing = await received(ws)  # the exchange's close frame; the client does not answer it
            assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4000)
            await proxy.stop(grace=2)
    ((_, frames),) = session_frames(tmp_path / "s")
    assert [(f["from"], f["kind"]) for f in frames] == [("client", "text"), ("exchange", "close")]


async def test_a_refused_upgrade_is_answered_as_the_exchange_refused_it(tmp_path):
    async with through_proxy(recording(tmp_path / "s", "all")) as (_, proxy, http):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(proxy.url("kalshi"), "/refuse"))
        assert refused.value.status == 401
    (fixture,) = fixtures_in(tmp_path / "s")
    assert fixture["response"]["status"] == 401 and "websocket" not in fixture
    assert fixture["response"]["body_raw"] == "bad signature\n"


async def test_the_clients_own_secret_named_again_by_the_exchange_is_redacted_and_located(tmp_path):
    subscribe = {"auth": {"apiKey": "k-live-key", "secret": "c2VjcmV0LXZhbHVl", "passphrase": "pass-phrase"}}
    trade = {"event_type": "trade", "owner": "k-live-key", "note": "k-live-key", "maker_orders": [{"owner": "k-other"}]}
    async with (
        through_proxy(recording(tmp_path / "s", "all")) as (_, proxy, http),
        http.ws_connect(ws_url(proxy.url("poly"), "/ws/user")) as ws,
    ):
        await ws.send_str(orjson.dumps(subscribe).decode())
        await received(ws)
        await ws.send_str("say:" + orjson.dumps(trade).decode())  # the exchange says it (a trade event)
        await received(ws)
    text = (tmp_path / "s" / "001_GET_poly_user.frames.jsonl").read_text()
    assert "k-live-key" not in text and "k-other" not in text  # under any field name, the client's own secret
    ((_, frames),) = session_frames(tmp_path / "s")
    assert "omitted" in frames[2]  # "say:{...k-live-key...}" is not JSON: it cannot be redacted, so not written
    echoed = frames[3]
    assert echoed["from"] == "exchange"
    assert echoed["echoes"] == {"/owner": "/auth/apiKey", "/note": "/auth/apiKey"}  # not the other maker's
    assert orjson.loads(echoed["text"])["maker_orders"] == [{"owner": "[REDACTED]"}]


async def test_a_close_reason_naming_a_credential_of_the_session_is_redacted(tmp_path):
    subscribe = {"auth": {"apiKey": "k-live-key", "secret": "c2VjcmV0LXZhbHVl", "passphrase": "pass-phrase"}}
    async with (
        through_proxy(recording(tmp_path / "s", "all")) as (exchange, proxy, http),
        http.ws_connect(ws_url(proxy.url("poly"), "/ws/user")) as ws,
    ):
        await ws.send_str(orjson.dumps(subscribe).decode())
        await received(ws)
        await ws.close(code=4003, message=b"rejected c2VjcmV0LXZhbHVl")
        assert (await exchange.connections[0].closed()).close_reason == "rejected c2VjcmV0LXZhbHVl"  # relayed as sent
    text = (tmp_path / "s" / "001_GET_poly_user.frames.jsonl").read_text()
    assert "c2VjcmV0LXZhbHVl" not in text
    ((_, frames),) = session_frames(tmp_path / "s")
    closing = {"from": "client", "kind": "close", "code": 4003, "reason": "rejected [REDACTED]"}
    assert closing.items() <= frames[-2].items()


async def test_the_log_never_shows_a_secret_from_the_query_of_a_websocket_url(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tradetape.proxy")
    async with through_proxy(recording(tmp_path / "s", "all")) as (_, proxy, _):
        host, port = proxy.url("kalshi").removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"GET /trade-api/ws/v2?v=1&api_secret=c2VjcmV0LXZhbHVl HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)).startswith(b"HTTP/1.1 101")
        writer.write(b"\x81\x05hello")  # a client frame without a mask: invalid, and logged
        assert await asyncio.wait_for(reader.read(), PATIENCE) == b""  # the proxy closed the connection
        writer.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "tradetape.proxy"]
    assert any("invalid WebSocket frame" in line and "v=1" in line for line in logged)
    assert not any("c2VjcmV0LXZhbHVl" in line for line in logged)
