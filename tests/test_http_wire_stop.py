"""The hand-written HTTP/1.1 hot path at its edges: stop, drops, unusual answers, the record hook.

Tests whose docstring starts "Was a bug" failed on the code a second review looked at and say what went
wrong; the others pin risky behaviours that were checked and hold. Everything talks to 127.0.0.1 with raw bytes, as
tests/test_http_wire.py and tests/test_http_wire_edges.py do (their helpers are reused here).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re

import orjson
import pytest
from multidict import CIMultiDict

from proxy.tape.fixture import FixtureError
from proxy.wire.answers import Answer
from proxy.wire.listener import HttpListener, Request
from proxy.wire.upstream import UpstreamPool
from tests.proxy_helpers import fixtures_in, passing_through, recording, running_proxy
from tests.replay_helpers import KALSHI, ORDERS, fixture, replaying, write_session
from tests.wire_helpers import Scripted, first_status_line, listening, port_of, read_all, scripted

ORDER = b"POST /trade-api/v2/portfolio/events/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def head_lines(raw: bytes) -> list[bytes]:
    return raw.partition(b"\r\n\r\n")[0].split(b"\r\n")


# ---- bugs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, request_extra",
    [
        (b"HTTP/1.1 201 Created\r\nX-Odd: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}", b""),  # obs-text from the exchange
        (b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", b"X-Trace: \xe9\r\n"),  # obs-text from the bot
    ],
)
async def test_an_order_the_exchange_accepted_is_never_answered_with_a_proxy_error(tmp_path, answer, request_extra):
    """Was a bug: in record mode a header byte that is not UTF-8 (legal obs-text, which the listener and the pool
    carry through as surrogate escapes) makes the recorder's orjson.dumps raise TypeError. Recorder.done only
    catches OSError and Proxy._proxy runs the done hooks unguarded, so the listener turns the exchange's 201
    into tradetape's 500 proxy_error: the order is live on the exchange, the bot is told it failed (and may send
    it again), and no fixture is written."""
    upstream = Scripted(answer)
    async with scripted(upstream) as url, running_proxy(url, recording(tmp_path / "s")) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(proxy))
        writer.write(
            b"POST /trade-api/v2/portfolio/events/orders HTTP/1.1\r\nHost: x\r\n"
            + request_extra
            + b"Connection: close\r\nContent-Length: 2\r\n\r\n{}"
        )
        raw = await read_all(reader)
        writer.close()
    assert len(upstream.requests) == 1  # the order reached the exchange, once
    assert first_status_line(raw) == b"HTTP/1.1 201 Created", raw  # today: HTTP/1.1 500 ... proxy_error
    assert len(fixtures_in(tmp_path / "s")) == 1  # and an order already sent upstream is recorded


async def test_a_dropped_answer_does_not_cut_off_the_answer_before_it():
    """Was a bug: a drop (handler returns None: a replayed `connection_dropped`) calls transport.abort(), which throws
    away whatever of the earlier answers is still in the write buffer. A pipelining client gets the first
    answer cut off mid-body, then the close, though only the second request was to be dropped."""
    big = b"x" * 16_000_000
    started: list[str] = []

    async def handler(request: Request) -> Answer | None:
        started.append(request.target)
        return Answer(200, CIMultiDict(), big) if request.target == "/first" else None

    async with listening(handler) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            b"POST /third HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        )
        await asyncio.sleep(0.3)  # a client that is a little slow to read
        raw = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
                raw += chunk
        writer.close()
    assert started == ["/first", "/second"]  # holds: nothing behind the drop is handled (or forwarded)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert first_status_line(head) == b"HTTP/1.1 200 OK"
    received = len(body)
    assert received == 16_000_000, f"first answer cut off after {received} of 16000000 bytes"


@pytest.mark.parametrize("status", [101, 103])
async def test_a_recorded_interim_status_is_never_sent_as_a_final_answer(tmp_path, status):
    """Was a bug: a fixture whose status is 1xx (loaded without a range check) is written as `HTTP/1.1 1xx ...` with no
    framing and the connection is kept for the next request. A client reads 103 as interim and takes the
    next answer on the connection (request B's) as request A's; after 101 it stops speaking HTTP at all."""
    session = write_session(
        tmp_path / "s",
        [
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/a", answer={"k": "a"}, status=status),
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/b", answer={"k": "b"}),
        ],
    )
    # the fix: such a fixture is refused at load, naming the file and the status, so nothing is ever served
    with pytest.raises(FixtureError, match=rf"001_GET_kalshi_a\.json.*status {status} cannot be a final answer"):
        async with replaying([session]):
            pass


async def test_a_recorded_header_value_cannot_inject_headers_into_the_clients_answer(tmp_path):
    """Was a bug: status_and_headers writes header values as they are; a replay fixture's value holding CR LF
    (loaded with only a str check) splits the answer head, here adding a header of its own choosing. The
    same bytes could as well end the head and start a second answer (response splitting)."""
    session = write_session(
        tmp_path / "s",
        [
            fixture(
                "kalshi",
                "GET",
                KALSHI + "/trade-api/v2/a",
                answer={"k": "a"},
                headers={"x-note": "fine\r\nX-Injected: yes"},
            ),
        ],
    )
    # the fix: such a fixture is refused at load, naming the file and the header, so nothing is ever served
    with pytest.raises(FixtureError, match=r"001_GET_kalshi_a\.json.*header 'x-note' would break the answer's framing"):
        async with replaying([session]):
            pass


async def test_a_live_id_correlated_into_a_header_cannot_inject_headers(tmp_path):
    """Was a bug: correlation puts the live client's value (a JSON string, so any characters, CR LF included) into the
    recorded headers that mention the recorded id; status_and_headers writes it unchecked and the answer head
    gains a header line the exchange never sent."""
    recorded_id = "cid-recorded-0001"
    create = {"ticker": "KXTEST-26", "client_order_id": recorded_id, "side": "bid", "count": "5.00", "price": "0.5500"}
    session = write_session(
        tmp_path / "s",
        [
            fixture(
                "kalshi",
                "POST",
                KALSHI + ORDERS,
                body=create,
                status=201,
                answer={"order_id": "ord-1", "client_order_id": recorded_id},
                headers={"location": f"/orders/{recorded_id}"},
            ),
        ],
    )
    body = orjson.dumps({**create, "client_order_id": "live-0001\r\nX-Injected: yes"})
    async with replaying([session]) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(proxy))
        writer.write(
            b"POST " + ORDERS.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        raw = await read_all(reader)
        writer.close()
    assert b"X-Injected: yes" not in head_lines(raw), raw


async def test_an_order_still_in_flight_when_stop_gives_up_waiting_is_in_the_sessions_manifest(tmp_path):
    """Was a bug: Proxy.stop closes the mode (the session writes its manifest and stops its fsync thread) once its grace
    has passed, while a forwarded order is still waiting for the exchange. The order's answer comes later and
    its fixture file is written, but the manifest, already final, never lists it (nor is it ever fsynced)."""
    upstream = Scripted(0.5, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
    async with scripted(upstream) as url:
        proxy = running_proxy(url, recording(tmp_path / "s"))
        await proxy.start()
        _, writer = await asyncio.open_connection("127.0.0.1", port_of(proxy))
        writer.write(ORDER)
        await asyncio.sleep(0.1)  # the order is with the exchange
        await proxy.stop(grace=0.1)
        await asyncio.sleep(0.8)  # its answer has come and the flow has run to the end
        writer.close()
    assert len(upstream.requests) == 1
    on_disk = sorted(p.name for p in (tmp_path / "s").glob("0*.json"))
    manifest = orjson.loads((tmp_path / "s" / "manifest.json").read_bytes())
    assert on_disk == ["001_POST_kalshi_orders.json"]
    assert [entry["file"] for entry in manifest["fixtures"]] == on_disk, manifest


async def test_a_client_that_pipelines_without_reading_does_not_grow_the_proxys_buffer_without_bound():
    """Was a bug: the listener has no pause_writing/resume_writing, so answers pile up in the transport's write buffer
    however far the client is behind on reading; MAX_PIPELINED only counts requests not yet answered, which
    empties as fast as answers are buffered. About 30 KB of requests here buffer some 64 MB of answers."""
    answer = Answer(200, CIMultiDict(), b"x" * 65536)
    listener = HttpListener(lambda request: asyncio.sleep(0, answer))
    port = await listener.start("127.0.0.1", 0)
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(10):
            writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * 100)  # and never read an answer
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        [connection] = listener.connections
        buffered = connection.transport.get_write_buffer_size()
    finally:
        writer.transport.abort()
        await listener.close(grace=0.5)
    assert buffered < 16_000_000, f"{buffered / 1e6:.0f} MB of answers buffered for a client that reads nothing"


# ---- checked and holding ----------------------------------------------------------------------------


@pytest.mark.parametrize("half_close", [False, True])
async def test_a_stop_during_a_pipelined_burst_forwards_nothing_more_and_answers_every_request(half_close):
    """40 pipelined orders (past MAX_PIPELINED, so the client is paused), the first with the exchange when the
    stop begins: that one is answered by the exchange, every other gets 503 shutting_down in order, and
    the exchange sees exactly one request, whether or not the client half-closed after sending."""
    count = 40
    upstream = Scripted(0.3, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    async with scripted(upstream) as url:
        proxy = running_proxy(url, passing_through())
        await proxy.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(proxy))
        writer.write(ORDER * count)
        if half_close:
            writer.write_eof()
        await asyncio.sleep(0.1)
        stopping = asyncio.create_task(proxy.stop(grace=5))
        raw = await read_all(reader)
        await stopping
        writer.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)
    assert statuses == [b"201"] + [b"503"] * (count - 1)
    assert raw.count(b"X-Tradetape-Error: shutting_down") == count - 1
    assert len(upstream.requests) == 1


async def test_many_concurrent_requests_never_share_an_upstream_connection_or_swap_answers():
    """300 concurrent requests to one upstream, three times over: each gets its own answer, and no connection
    ever carries a second request before the first is answered (the server would see it buffered)."""
    shared: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)
                target = head.split(b" ")[1]
                await asyncio.sleep(random.random() * 0.02)
                if reader._buffer:  # bytes of another request arrived before this one was answered
                    shared.append(target)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(target), target))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    pool = UpstreamPool(timeout=10)

    async def one(i: int) -> bool:
        await asyncio.sleep(random.random() * 0.05)
        reply = await pool.send(url, "POST", f"/o/{i}", CIMultiDict(), b"{}")
        return reply.body == f"/o/{i}".encode()

    try:
        for _ in range(3):
            assert all(await asyncio.gather(*(one(i) for i in range(300))))
    finally:
        pool.close()
        server.close()
    assert shared == []
