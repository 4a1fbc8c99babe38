"""Issue 13, class 4: bounded resources on the listener, with small limits on 127.0.0.1.

Timeouts are waited for with a generous bound (the connection must be closed within it); nothing asserts
how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
from click.testing import CliRunner
from multidict import CIMultiDict

from proxy.cli.main import main
from proxy.wire.answers import Answer
from proxy.wire.limits import Limits, connection_cap
from proxy.wire.listener import HttpListener
from tests.wire_helpers import OK, read_message, seen_by

SMALL = Limits(max_header_bytes=1024, max_body_bytes=1000, header_timeout=0.3, idle_timeout=0.3, max_connections=3)


@contextlib.asynccontextmanager
async def limited(requests: list, limits: Limits = SMALL) -> AsyncIterator[int]:
    listener = HttpListener(seen_by(requests), limits)
    port = await listener.start("127.0.0.1", 0)
    try:
        yield port
    finally:
        await listener.close(grace=1)


async def answer_and_close(port: int, data: bytes, pause_after: int | None = None) -> bytes:
    """Send `data` (stopping after `pause_after` bytes, if given, and sending nothing more); all bytes back
    until the listener closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data if pause_after is None else data[:pause_after])
    try:
        return await asyncio.wait_for(reader.read(-1), 5)
    finally:
        writer.close()


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw else 0


def kind_of(raw: bytes) -> str:
    return orjson.loads(raw.partition(b"\r\n\r\n")[2])["tradetape_error"]


async def test_a_header_section_over_the_limit_gets_431_and_is_never_handled():
    requests: list = []
    async with limited(requests) as port:
        big = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n"
        refused = await answer_and_close(port, big)
        many = (
            b"GET /x HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 40) for i in range(40)) + b"\r\n"
        )
        refused_many = await answer_and_close(port, many)
        fine = await answer_and_close(
            port, b"GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 500 + b"\r\nConnection: close\r\n\r\n"
        )
    assert status_of(refused) == 431 and kind_of(refused) == "header_too_large"
    assert status_of(refused_many) == 431
    assert status_of(fine) == 200 and len(requests) == 1


async def test_an_endless_header_is_cut_off_without_being_read_whole():
    """The listener stops reading once the limit is passed: a client sending 64 MB of header is refused early."""
    requests: list = []
    async with limited(requests) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent, answer = 0, b""
        with contextlib.suppress(ConnectionError):
            while sent < 64 * 1024 * 1024 and not reader.at_eof():
                writer.write(b"z" * 65536)
                sent += 65536
                await asyncio.wait_for(writer.drain(), 5)
                with contextlib.suppress(TimeoutError):
                    answer += await asyncio.wait_for(reader.read(4096), 0.001)
                if answer:
                    break
        with contextlib.suppress(TimeoutError, ConnectionError):
            answer += await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
    assert status_of(answer) == 431 and sent < 64 * 1024 * 1024 and requests == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"c" * 2000,
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"190\r\n" + b"c" * 400 + b"\r\n") * 5
        + b"0\r\n\r\n",
    ],
)
async def test_a_body_over_the_limit_gets_413_and_is_never_handled(request_bytes):
    requests: list = []
    async with limited(requests) as port:
        refused = await answer_and_close(port, request_bytes)
        fine = await answer_and_close(
            port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + b"c" * 1000
        )
    assert status_of(refused) == 413 and kind_of(refused) == "body_too_large"
    assert status_of(fine) == 200 and len(requests) == 1


async def test_a_declared_body_over_the_limit_is_refused_before_100_continue():
    async with limited([]) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        head, _ = await read_message(reader, 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")


async def test_half_a_header_then_nothing_gets_408_and_a_closed_connection():
    requests: list = []
    async with limited(requests) as port:
        answer = await answer_and_close(port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Le")
    assert status_of(answer) == 408 and kind_of(answer) == "header_timeout" and requests == []


async def test_half_a_body_then_nothing_gets_408():
    requests: list = []
    async with limited(requests) as port:
        answer = await answer_and_close(port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert status_of(answer) == 408 and requests == []


async def test_an_idle_connection_is_closed_after_the_idle_timeout():
    requests: list = []
    async with limited(requests) as port:
        silent = await answer_and_close(port, b"")  # connects, sends nothing
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = await read_message(reader, 5)
        rest = await asyncio.wait_for(reader.read(-1), 5)  # kept alive, then closed when idle
        writer.close()
    assert silent == b"" and head.startswith(b"HTTP/1.1 200 ") and body == OK.body and rest == b""


async def test_a_connection_over_the_cap_gets_503_and_the_others_keep_working():
    requests: list = []
    async with limited(requests, Limits(max_connections=3)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await asyncio.sleep(0.05)
        over = await answer_and_close(port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        reader, writer = held[0]
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _ = await read_message(reader, 5)
        for _, w in held:
            w.close()
        await asyncio.sleep(0.1)
        after = await answer_and_close(port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(over) == 503 and kind_of(over) == "too_many_connections"
    assert head.startswith(b"HTTP/1.1 200 ") and status_of(after) == 200


def test_the_connection_cap_leaves_file_descriptors_free_under_a_low_ulimit():
    assert connection_cap(512, soft_fd_limit=1024) == 512
    assert connection_cap(512, soft_fd_limit=256) == 256 - 64
    assert connection_cap(512, soft_fd_limit=None) == 512


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--max-header-bytes", "0", "--max-header-bytes"),
        ("--max-body-bytes", "-1", "--max-body-bytes"),
        ("--header-timeout", "0", "--header-timeout"),
        ("--idle-timeout", "nan", "--idle-timeout"),
        ("--max-connections", "0", "--max-connections"),
    ],
)
def test_limit_flags_are_checked_naming_the_flag(tmp_path, flag, value, message):
    result = CliRunner().invoke(main, ["record", "--capture-dir", str(tmp_path), flag, value])
    assert result.exit_code == 2 and message in result.output and "must be a positive number" in result.output


def test_limit_flags_are_documented_with_their_defaults():
    help_text = CliRunner().invoke(main, ["record", "--help"]).output
    for flag in ("--max-header-bytes", "--max-body-bytes", "--header-timeout", "--idle-timeout", "--max-connections"):
        assert flag in help_text
    assert "65536" in help_text and "16777216" in help_text and "512" in help_text


async def test_a_client_that_stops_reading_its_answers_is_cut_off_after_the_idle_timeout():
    big = Answer(200, CIMultiDict(), b"x" * (16 * 1024 * 1024))
    listener = HttpListener(seen_by([], big), SMALL)
    port = await listener.start("127.0.0.1", 0)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
        writer.transport.pause_reading()  # reads nothing, ever
        writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(100):
            await asyncio.sleep(0.05)
            if not listener.connections:
                break
        writer.close()
        assert not listener.connections
    finally:
        await listener.close(grace=1)
