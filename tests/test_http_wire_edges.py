"""The proxy's own HTTP/1.1 in the awkward cases: what crosses the wire when peers misbehave.

Tests whose docstring starts "Was a bug" failed on the first version of the hand-written hot path and
say what went wrong; the others pin risky behaviours that were checked and hold. Everything talks to
127.0.0.1 with raw bytes, as tests/test_http_wire.py does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import pytest
from multidict import CIMultiDict

from proxy.wire.answers import Answer
from proxy.wire.listener import Request
from proxy.wire.upstream import UpstreamFailure, UpstreamPool
from tests.wire_helpers import OK, Scripted, echo_target, first_status_line, listening, read_all, scripted, send


class ByteByByte:
    """An upstream that answers each request with the scripted bytes one byte per TCP segment."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while self.answers:
                await reader.readuntil(b"\r\n\r\n")
                for byte in self.answers.pop(0):
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


# ---- listener: bugs --------------------------------------------------------------------------


async def test_malformed_bytes_after_a_pending_request_do_not_take_its_answer():
    """Was a bug: the 400 for bad bytes is written at once, ahead of the answer still owed to an earlier request.

    The client reads that 400 as the answer to its (already forwarded) order, and the order's real answer
    is thrown away when the connection closes: a bot that believes the order was refused may send it again.
    """
    started: list[str] = []
    async with listening(echo_target(started, slow="/order")) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await asyncio.sleep(0.05)  # the order is with the handler (forwarded upstream) ...
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")  # ... when garbage follows on the same connection
        raw = await read_all(reader)
        writer.close()
    assert started == ["/order"]  # the order was handled
    assert first_status_line(raw) == b"HTTP/1.1 200 OK", raw  # so its answer comes first
    assert raw.partition(b"\r\n\r\n")[2].startswith(b"/order")


async def test_bytes_after_a_connection_close_request_do_not_take_its_answer():
    """Was a bug: llhttp rejects any data after a `Connection: close` request ("Data after `Connection: close`");
    the listener then writes a 400 before the request's own answer and closes, losing that answer."""
    started: list[str] = []
    async with listening(echo_target(started, slow="/order")) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /order HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
            b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n"
        )  # a request the client should not have sent
        raw = await read_all(reader)
        writer.close()
    assert started == ["/order"]
    assert first_status_line(raw) == b"HTTP/1.1 200 OK", raw
    assert raw.endswith(b"\r\n\r\n/order")


async def test_a_client_that_half_closes_after_its_request_still_gets_the_answer():
    """Was a bug: the protocol has no eof_received, so asyncio closes the transport on the client's FIN; the
    request still runs (the order is forwarded) but its answer is dropped and the client reads nothing."""
    started: list[str] = []
    async with listening(echo_target(started, slow="/order", delay=0.1)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        writer.write_eof()  # done sending; still reading (HTTP allows this; `nc -N` does it)
        raw = await read_all(reader)
        writer.close()
    assert started == ["/order"]
    assert first_status_line(raw) == b"HTTP/1.1 200 OK", raw


async def test_100_continue_for_a_pipelined_request_waits_for_the_earlier_answers():
    """Was a bug: `100 Continue` is written as soon as the headers are parsed, ahead of the answer still owed to
    an earlier request on the connection; a client takes a 1xx as interim for the request it is waiting on."""
    async with listening(echo_target([], slow="/first")) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /second HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert first_status_line(first) == b"HTTP/1.1 200 OK", first


async def test_an_answer_whose_status_has_no_body_never_puts_body_bytes_on_the_wire():
    """Was a bug: for 204/304 the listener writes no Content-Length but still writes the answer's body, unframed;
    the client reads those bytes as the start of the next answer on the connection. An Answer with a body and
    status 204 reaches the listener from a hand-edited replay fixture (`status: 204`, a non-empty `body_raw`)."""

    async def handler(request: Request) -> Answer:
        if request.target == "/cancel":
            return Answer(204, CIMultiDict(), b'{"cancelled":true}')
        return Answer(200, CIMultiDict(), b"next")

    async with listening(handler) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"DELETE /cancel HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        raw = await read_all(reader)
        writer.close()
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 204 No Content") and b"Content-Length" not in first
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest


# ---- listener: checked and correct ------------------------------------------------------------


async def test_requests_fed_one_byte_at_a_time_arrive_whole_and_in_order():
    requests: list[Request] = []

    async def handler(request: Request) -> Answer:
        requests.append(request)
        return Answer(200, CIMultiDict(), request.body or request.target.encode())

    data = (
        b"POST /trade-api/v2/portfolio/orders?x=%41 HTTP/1.1\r\nHost: x\r\nX-Twice: 1\r\nX-Twice: 2\r\n"
        b'X-Odd: \xff\x80\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
        b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    async with listening(handler) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.0005)
        raw = await read_all(reader)
        writer.close()
    first, second = requests
    assert (first.method, first.target, first.path, first.body) == (
        "POST",
        "/trade-api/v2/portfolio/orders?x=%41",
        "/trade-api/v2/portfolio/orders",
        b'{"a":1}',
    )
    assert first.headers.getall("X-Twice") == ["1", "2"]
    assert first.headers["X-Odd"].encode("utf-8", "surrogateescape") == b"\xff\x80"
    assert second.target == "/second"
    assert raw.index(b'{"a":1}') < raw.index(b"/second") and raw.endswith(b"/second")


@pytest.mark.parametrize(
    "smuggled",
    [
        b"POST /o HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /o HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\n{}{}",
        b"POST /o HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST /o HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: 1\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /o HTTP/1.1\r\nHost: x\r\nX-A: a\r\n Injected: 1\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /o HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}",
    ],
)
async def test_ambiguous_request_framing_is_refused_and_never_handed_on(smuggled):
    requests: list[Request] = []

    async def handler(request: Request) -> Answer:
        requests.append(request)
        return OK

    async with listening(handler) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(smuggled)
        raw = await read_all(reader)
        writer.close()
    assert requests == [] and first_status_line(raw) == b"HTTP/1.1 400 Bad Request"


async def test_a_client_gone_while_its_answer_is_pending_finishes_that_request_but_starts_no_queued_one():
    """The in-flight request runs to the end; a pipelined one behind it is never handed on (never forwarded).

    Gone means reset (RST). A client that only closes its sending side (FIN) still gets every answer, as an
    exchange reached directly would process what it received: see the half-close test.
    """
    started: list[str] = []
    finished = asyncio.Event()

    async def handler(request: Request) -> Answer:
        started.append(request.target)
        await asyncio.sleep(0.1)
        finished.set()
        return OK

    async with listening(handler) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            b"POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        await asyncio.sleep(0.02)
        sock = writer.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        writer.transport.abort()
        await asyncio.wait_for(finished.wait(), 5)
        await asyncio.sleep(0.2)
    assert started == ["/first"]


async def test_a_client_pipelining_past_the_limit_is_paused_then_every_request_is_answered_in_order():
    count = 100
    async with listening(echo_target([], slow="/0", delay=0.1)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(count))
            + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        raw = await read_all(reader)
        writer.close()
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in raw.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert bodies == [f"/{i}".encode() for i in range(count)] + [b"/last"]


# ---- upstream: bugs --------------------------------------------------------------------------


async def test_bytes_beyond_an_answer_in_the_same_read_do_not_become_the_next_requests_answer():
    """Was a bug: bytes after the end of an answer, in the same read, are parsed (no data_received guard applies)
    and the connection is still pooled with its parser mid-message. Here they are the head of a stray 500;
    the next request on that connection gets a 500 whose body is the first 5 bytes of its real answer."""
    upstream = Scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
    )
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=2)
        first = await send(pool, url, "POST", "/orders", b"{}")
        second = await send(pool, url, "POST", "/orders", b"{}")
        pool.close()
    assert (first.status, first.body) == (200, b"a")
    assert (second.status, second.body) == (200, b"z"), second


async def test_a_connection_reset_during_a_body_that_ends_at_the_close_is_a_failure_not_an_answer():
    """Was a bug: an answer framed by the close (no Content-Length, no chunking) is completed on any connection
    loss, a reset (ECONNRESET) included: the truncated body is passed on as the exchange's answer."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n{}")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"order_id": "abc", "st')
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST, not FIN

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        try:
            outcome: object = await send(UpstreamPool(timeout=5), url, "POST", "/orders", b"{}")
        except UpstreamFailure as failure:
            outcome = failure.kind
    finally:
        server.close()
    assert outcome == "upstream_disconnected", outcome  # today: Reply(200, body=b'{"order_id": "abc", "st')


@pytest.mark.parametrize("coding", [b"identity", b"gzip"])
async def test_an_answer_with_a_non_chunked_transfer_coding_is_read_to_the_close(coding):
    """Was a bug: any Transfer-Encoding header marks the answer as self-delimited, but llhttp (per RFC 9112 6.3)
    reads a response whose final coding is not chunked until the close; the clean close that ends it is then
    reported as upstream_disconnected and a complete answer is lost."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\nuntil the close"
    async with scripted(Scripted(raw, close_after=True)) as url:
        pool = UpstreamPool(timeout=5)
        reply = await send(pool, url)
        pool.close()
    assert reply.body == b"until the close"


async def test_a_connection_that_answers_after_the_pool_closed_is_closed_not_kept():
    """Was a bug: close() only aborts the idle connections; one whose request was in flight is put back into
    the closed pool when its answer comes and stays open for good (Proxy.stop past its grace does this)."""
    client_closed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        with contextlib.suppress(ConnectionError):
            await reader.read()  # returns once the pool closes its end
        client_closed.set()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        pool = UpstreamPool(timeout=5)
        task = asyncio.create_task(send(pool, url))
        await asyncio.sleep(0.05)
        pool.close()  # the proxy stops while the answer is still on its way
        assert (await task).body == b"{}"
        try:
            await asyncio.wait_for(client_closed.wait(), 0.5)
            closed = True
        except TimeoutError:
            closed = False
    finally:
        for idle in pool._idle.values():
            for conn in idle:
                conn.abort()
        server.close()
    assert closed, "the upstream connection is still open after the pool was closed"


# ---- upstream: checked and correct -------------------------------------------------------------


async def test_answers_arriving_one_byte_at_a_time_are_read_whole_on_a_reused_connection():
    upstream = ByteByByte(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created Fine\r\nX-Twice: 1\r\nX-Twice: 2\r\n"
        b'X-Odd: \xff\xfe\r\nContent-Length: 11\r\n\r\n{"ok":true}',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=10)
        first = await send(pool, url, "POST", "/orders", b"{}")
        second = await send(pool, url)
        pool.close()
    assert (first.status, first.reason, first.body) == (201, "Created Fine", b'{"ok":true}')
    assert first.headers.getall("X-Twice") == ["1", "2"]
    assert first.headers["X-Odd"].encode("utf-8", "surrogateescape") == b"\xff\xfe"
    assert (second.status, second.body) == (200, b"abcde")
    assert upstream.connections == 1


@pytest.mark.parametrize(
    "bodiless",
    [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",  # the length of the representation, not a body
    ],
)
async def test_a_bodiless_answer_does_not_swallow_the_next_answer_on_its_connection(bodiless):
    upstream = Scripted(bodiless, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnext!")
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=2)
        first = await send(pool, url, "DELETE", "/orders/1")
        second = await send(pool, url)
        pool.close()
    assert first.body == b"" and (second.status, second.body) == (200, b"next!")
    assert upstream.connections == 1


async def test_a_head_answer_with_a_stray_body_does_not_leak_into_the_next_answer():
    upstream = Scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray",  # a server that (wrongly) sends a body to HEAD
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
    )
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=2)
        head = await send(pool, url, "HEAD")
        after = await send(pool, url)
        pool.close()
    assert (head.status, head.body) == (200, b"") and after.body == b"z"
    assert upstream.connections == 2  # the connection answering HEAD is never reused


async def test_an_unsolicited_answer_on_an_idle_connection_is_never_given_to_the_next_request():
    """A server that writes a 408 on an idle keep-alive connection: that connection is dropped, not reused."""
    upstream = Scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if upstream.connections == 0:
            upstream.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(upstream.answers.pop(0))
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")  # and keeps it open
            await reader.read()
            writer.close()
        else:
            await upstream.serve(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        pool = UpstreamPool(timeout=2)
        assert (await send(pool, url)).body == b"a"
        await asyncio.sleep(0.1)
        second = await send(pool, url)
        pool.close()
    finally:
        server.close()
    assert (second.status, second.body) == (200, b"b") and upstream.connections == 2


async def test_a_cancelled_send_never_lends_its_late_answer_to_the_next_request():
    """Cancelling the awaiting task (proxy shutdown) aborts its connection; the late answer reaches no one."""
    requests: list[bytes] = []
    late_written = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = not requests
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        if first:
            await asyncio.sleep(0.2)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
            late_written.set()
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            await reader.read()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        pool = UpstreamPool(timeout=5)
        task = asyncio.create_task(send(pool, url, "POST", "/orders", b"{}"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reply = await send(pool, url)
        await asyncio.wait_for(late_written.wait(), 5)
        pool.close()
    finally:
        server.close()
    assert reply.body == b"new"
    assert len(requests) == 2 and requests[0].startswith(b"POST /orders ")  # the cancelled order went once


async def test_a_timeout_sends_the_order_once_and_never_again():
    upstream = Scripted(0.5, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
    async with scripted(upstream) as url:
        pool = UpstreamPool(timeout=0.2)
        with pytest.raises(UpstreamFailure) as failure:
            await send(pool, url, "POST", "/orders", b'{"count":1}')
        await asyncio.sleep(0.5)
        pool.close()
    assert failure.value.kind == "upstream_timeout" and len(upstream.requests) == 1


# ---- through the whole proxy --------------------------------------------------------------------


async def test_large_bodies_and_odd_header_bytes_cross_the_proxy_unchanged():
    from tests.proxy_helpers import passing_through, running_proxy

    big_request = bytes(range(256)) * 40_000  # ~10 MB
    big_answer = bytes(reversed(range(256))) * 40_000
    answer = (
        b"HTTP/1.1 200 Fine \xe9t\xe9\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Odd: \xff\xfe\r\n"
        b"Content-Length: " + str(len(big_answer)).encode() + b"\r\n\r\n" + big_answer
    )
    upstream = Scripted(answer)
    async with scripted(upstream) as url, running_proxy(url, passing_through()) as proxy:
        port = int(proxy.url("kalshi").rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /trade-api/v2/portfolio/orders HTTP/1.1\r\nHost: x\r\nX-In: \xfe\x80\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(big_request)).encode() + b"\r\n\r\n" + big_request
        )
        raw = await asyncio.wait_for(reader.read(-1), 20)
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 Fine \xe9t\xe9"
    assert b"Set-Cookie: a=1" in lines and b"Set-Cookie: b=2" in lines and b"X-Odd: \xff\xfe" in lines
    assert body == big_answer
    [sent] = upstream.requests
    assert b"\r\nX-In: \xfe\x80\r\n" in sent and sent.endswith(b"\r\n\r\n" + big_request)
