"""The proxy's own HTTP/1.1 on both sides: framing, keep-alive, and every way an answer can go wrong.

The listener is tested with raw bytes from a socket, the upstream pool against a scripted server that
writes raw bytes back, so what is checked is exactly what crosses the wire.
"""

from __future__ import annotations

import asyncio
import itertools

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from proxy.wire.answers import Answer
from proxy.wire.listener import HttpListener, ListenerProtocol, Request
from proxy.wire.upstream import UpstreamFailure, UpstreamPool, request_head
from tests.proxy_helpers import passing_through, running_proxy
from tests.wire_helpers import OK, Scripted, exchange, listening, port_of, scripted, seen_by, self_signed, send


async def test_pipelined_requests_are_answered_in_order():
    async def handler(request: Request) -> Answer:
        await asyncio.sleep(0.05 if request.target == "/first" else 0)  # the first is the slower one
        return Answer(200, CIMultiDict(), request.target.encode())

    async with listening(handler) as port:
        raw = await exchange(
            port, b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert raw.index(b"\r\n\r\n/first") < raw.index(b"\r\n\r\n/second")
    assert raw.count(b"HTTP/1.1 200 OK") == 2 and raw.endswith(b"/second")


async def test_a_chunked_request_body_reaches_the_handler_whole():
    requests: list[Request] = []
    async with listening(seen_by(requests)) as port:
        await exchange(
            port,
            b"POST /orders?x=%41 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b'Connection: close\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n',
        )
    [request] = requests
    assert (request.method, request.target, request.path, request.body) == (
        "POST",
        "/orders?x=%41",
        "/orders",
        b'{"a":1}',
    )


async def test_expect_100_continue_is_answered_before_the_body_is_sent():
    requests: list[Request] = []
    async with listening(seen_by(requests)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /o HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"{}")
        final = await asyncio.wait_for(reader.readuntil(b"hello"), 5)
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK\r\n") and requests[0].body == b"{}"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ],
)
async def test_a_connection_the_client_will_not_reuse_is_closed_after_the_answer(request_bytes):
    async with listening(seen_by([])) as port:
        raw = await exchange(port, request_bytes)  # returns only because the proxy closed the connection
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in raw and raw.endswith(b"hello")


async def test_answer_framing_is_the_listeners_own():
    answer = Answer(
        201,
        CIMultiDict(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", "999"),
                ("Transfer-Encoding", "chunked"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ]
        ),
        b'{"ok":true}',
        "Created Fine",
    )
    async with listening(seen_by([], answer)) as port:
        raw = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 201 Created Fine" and body == b'{"ok":true}'
    assert b"Content-Length: 11" in lines and b"Content-Length: 999" not in lines
    assert not any(line.lower().startswith(b"transfer-encoding") for line in lines)
    assert lines.count(b"Set-Cookie: a=1") == 1 and lines.count(b"Set-Cookie: b=2") == 1  # repeated headers kept


async def test_head_and_204_answers_carry_no_body():
    async with listening(seen_by([], OK)) as port:
        head = await exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    async with listening(seen_by([], Answer(204, CIMultiDict(), b""))) as port:
        empty = await exchange(port, b"DELETE /o/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.endswith(b"\r\n\r\n") and b"Content-Length: 5" in head
    assert empty.startswith(b"HTTP/1.1 204 No Content\r\n") and b"Content-Length" not in empty


async def test_malformed_http_gets_a_marked_400_and_a_closed_connection():
    async with listening(seen_by([])) as port:
        raw = await exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request") and b"X-Tradetape-Error: bad_request" in head
    assert orjson.loads(body)["tradetape_error"] == "bad_request"


async def test_a_handler_that_fails_gets_a_marked_500_and_the_connection_lives_on():
    async def handler(request: Request) -> Answer:
        if request.target == "/boom":
            raise RuntimeError("bug")
        return OK

    async with listening(handler) as port:
        raw = await exchange(
            port, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and b"X-Tradetape-Error: proxy_error" in raw
    assert raw.endswith(b"hello")


async def test_a_dropped_answer_closes_the_connection_with_nothing_written():
    async with listening(seen_by([], None)) as port:
        raw = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw == b""


async def test_a_request_whose_client_left_still_runs_to_the_end():
    finished = asyncio.Event()

    async def handler(request: Request) -> Answer:
        await asyncio.sleep(0.1)
        finished.set()
        return OK

    async with listening(handler) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /o HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # gone before the answer
        await asyncio.wait_for(finished.wait(), 5)


async def test_header_bytes_that_are_not_utf8_survive_the_round_trip():
    requests: list[Request] = []
    async with listening(seen_by(requests)) as port:
        await exchange(port, b"GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\nX-Odd: \xff\xfe\r\nConnection: close\r\n\r\n")
    request = requests[0]
    assert request.path == "/caf\xe9" and request.headers["X-Odd"].encode("utf-8", "surrogateescape") == b"\xff\xfe"
    head = request_head("GET", request.target, "up", request.headers, 0)
    assert head.startswith(b"GET /caf%C3%A9 HTTP/1.1\r\n") and b"\r\nX-Odd: \xff\xfe\r\n" in head


# ---- the upstream pool -----------------------------------------------------------------------


async def test_the_request_goes_upstream_byte_for_byte_with_the_upstreams_host():
    upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    async with scripted(upstream) as url:
        pool = UpstreamPool()
        headers = CIMultiDict(
            [("KALSHI-ACCESS-KEY", "k"), ("content-type", "application/json"), ("X-Twice", "1"), ("X-Twice", "2")]
        )
        reply = await send(pool, url, "POST", "/trade-api/v2/portfolio/orders?a=1&a=2", b'{"count":"1.00"}', headers)
        pool.close()
    port = url.rsplit(":", 1)[1]
    assert upstream.requests == [
        b"POST /trade-api/v2/portfolio/orders?a=1&a=2 HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() + b"\r\n"
        b"KALSHI-ACCESS-KEY: k\r\ncontent-type: application/json\r\nX-Twice: 1\r\nX-Twice: 2\r\n"
        b'Content-Length: 16\r\n\r\n{"count":"1.00"}'
    ]
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"{}")


async def test_bodiless_reads_send_no_content_length_and_bodiless_writes_send_zero():
    upstream = Scripted(*[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 2)
    async with scripted(upstream) as url:
        pool = UpstreamPool()
        await send(pool, url, "GET")
        await send(pool, url, "DELETE", "/o/1")
        pool.close()
    assert b"Content-Length" not in upstream.requests[0]
    assert upstream.requests[1].endswith(b"Content-Length: 0\r\n\r\n")


async def test_keep_alive_connections_are_reused_and_closed_ones_are_not():
    upstream = Scripted(*[b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"] * 3)
    async with scripted(upstream) as url:
        pool = UpstreamPool()
        for _ in range(3):
            assert (await send(pool, url)).body == b"a"
        pool.close()
    assert upstream.connections == 1

    closing = Scripted(*[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nb"] * 2, close_after=True)
    async with scripted(closing) as url:
        pool = UpstreamPool()
        assert [(await send(pool, url)).body for _ in range(2)] == [b"b", b"b"]
        pool.close()
    assert closing.connections == 2


async def test_an_idle_connection_the_upstream_closed_is_not_used_again():
    upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", close_after=True)
    async with scripted(upstream) as url:
        pool = UpstreamPool()
        await send(pool, url)  # kept alive by the answer, then closed by the server
        await asyncio.sleep(0.05)
        upstream.answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc")
        assert (await send(pool, url)).body == b"c"
        pool.close()
    assert upstream.connections == 2


@pytest.mark.parametrize(
    "raw, body",
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"abcde"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close", b"until the close"),
    ],
)
async def test_every_framing_of_an_answer_is_read_whole(raw, body):
    async with scripted(Scripted(raw, close_after=True)) as url:
        pool = UpstreamPool()
        reply = await send(pool, url)
        pool.close()
    assert reply.body == body and reply.status in (200, 201)


async def test_head_through_the_proxy_keeps_the_upstreams_length_and_sends_no_body():
    async with (
        scripted(Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")) as url,
        running_proxy(url, passing_through()) as proxy,
    ):
        raw = await exchange(
            port_of(proxy), b"HEAD /trade-api/v2/markets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(
        b"\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
    )


async def test_an_answer_to_head_ends_at_its_headers():
    upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=5)
        reply = await send(pool, url, "HEAD")
        pool.close()
    assert (reply.status, reply.body, reply.headers["Content-Length"]) == (200, b"", "10")


@pytest.mark.parametrize(
    "raw, kind, status",
    [
        (b"SPDY/9 what\r\n\r\n", "upstream_invalid_response", 502),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "upstream_disconnected", 502),
        (b"", "upstream_disconnected", 502),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "upstream_invalid_response",
            502,
        ),
    ],
)
async def test_broken_answers_are_named_failures(raw, kind, status):
    async with scripted(Scripted(raw, close_after=True)) as url:
        pool = UpstreamPool(timeout=5)
        with pytest.raises(UpstreamFailure) as failure:
            await send(pool, url)
        pool.close()
    assert (failure.value.kind, failure.value.status) == (kind, status)


async def test_a_slow_answer_times_out_and_its_connection_is_not_reused():
    upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")  # three bytes never come
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=0.2)
        with pytest.raises(UpstreamFailure) as failure:
            await send(pool, url)
        upstream.answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz")
        assert (await send(pool, url)).body == b"z"
        pool.close()
    assert failure.value.kind == "upstream_timeout" and failure.value.status == 504
    assert upstream.connections == 2


async def test_an_unreachable_upstream_is_named():
    pool = UpstreamPool(timeout=5)
    with pytest.raises(UpstreamFailure) as failure:
        await send(pool, "http://127.0.0.1:9")
    assert failure.value.kind == "upstream_unreachable" and "http://127.0.0.1:9" in failure.value.detail


# ---- TLS, as every live exchange is reached ----------------------------------------------------


async def test_https_upstreams_are_verified_and_spoken_to_over_tls(tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nover tls!")
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        trusting = UpstreamPool(timeout=5, tls=ssl.create_default_context(cafile=cert))
        assert (await send(trusting, url)).body == b"over tls!"
        trusting.close()
        with pytest.raises(UpstreamFailure) as failure:
            await send(UpstreamPool(timeout=5), url)  # the system trust store does not know this certificate
    finally:
        server.close()
    assert failure.value.kind == "upstream_unreachable" and "CERTIFICATE_VERIFY_FAILED" in failure.value.detail
    assert upstream.requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_an_upgrade_request_is_answered_once_and_its_connection_closed():
    requests: list[Request] = []
    async with listening(seen_by(requests)) as port:
        raw = await exchange(
            port, b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05frame"
        )  # returns only because the proxy closed the connection
    assert [r.target for r in requests] == ["/ws"]
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in raw and raw.endswith(b"hello")


async def test_closing_the_listener_cuts_off_a_client_that_stopped_reading():
    huge = Answer(200, CIMultiDict(), b"x" * 64_000_000)
    listener = HttpListener(seen_by([], huge))
    port = await listener.start("127.0.0.1", 0)
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read the answer
    await asyncio.sleep(0.2)
    await asyncio.wait_for(listener.close(grace=0.3), 5)
    assert not listener.connections
    writer.close()


# ---- however the bytes are split ------------------------------------------------------------------

PIPELINE = (
    b"POST /trade-api/v2/portfolio/events/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 16\r\n\r\n{"count":"1.00"}'
    b"GET /trade-api/v2/portfolio/fills?ticker=KX&limit=5 HTTP/1.1\r\nHost: x\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n"
    b'POST /order HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
    b"DELETE /order HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
)


@given(cuts=st.lists(st.integers(min_value=1, max_value=len(PIPELINE) - 1), max_size=40, unique=True))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_requests_parse_the_same_however_their_bytes_are_split(cuts):
    """The same four requests come out, in order, whatever read sizes the kernel happens to deliver."""
    seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = []

    class Transport(asyncio.Transport):
        def write(self, data: bytes) -> None:
            pass

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

        def pause_reading(self) -> None:
            pass

        def resume_reading(self) -> None:
            pass

    async def feed() -> None:
        async def handler(request: Request) -> Answer:
            seen.append((request.method, request.target, list(request.headers.items()), request.body))
            return OK

        protocol = ListenerProtocol(handler, HttpListener(handler))
        protocol.connection_made(Transport())
        bounds = [0, *sorted(cuts), len(PIPELINE)]
        for start, end in itertools.pairwise(bounds):
            protocol.data_received(PIPELINE[start:end])
        while (task := protocol.task) is not None:
            await task

    asyncio.run(feed())
    assert [(m, t, b) for m, t, _, b in seen] == [
        ("POST", "/trade-api/v2/portfolio/events/orders", b'{"count":"1.00"}'),
        ("GET", "/trade-api/v2/portfolio/fills?ticker=KX&limit=5", b""),
        ("POST", "/order", b'{"a":1}'),
        ("DELETE", "/order", b"{}"),
    ]
    assert ("X-Twice", "a") in seen[1][2] and ("X-Twice", "b") in seen[1][2]


async def test_a_continue_owed_to_a_request_whose_body_came_anyway_is_never_sent():
    """A client that sends its body without waiting for 100 Continue must not get a stray one after its answer."""

    async def handler(request: Request) -> Answer:
        await asyncio.sleep(0.05 if request.target == "/first" else 0)
        return Answer(200, CIMultiDict(), request.target.encode())

    async with listening(handler) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /second HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"
        )
        await asyncio.wait_for(reader.readuntil(b"/second"), 5)
        await asyncio.sleep(0.05)
        writer.write(b"GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b"/third"), rest
