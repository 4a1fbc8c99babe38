"""The order lane (clients/lane.py): warm keep-alive connections that write an order POST at once, on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from proxy_helpers import running_app
from wire_helpers import self_signed
from yarl import URL

from clients.errors import TransportError
from clients.lane import Lane, request_bytes
from clients.transport import DEFAULT_TIMEOUT

BODY = b'{"ticker":"KX-LANE","count":"1.00"}'


def post(url: str, body: bytes = BODY, **headers: str) -> bytes:
    return request_bytes("POST", URL(url) / "order", {"Content-Type": "application/json", **headers}, body)


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


class Echo:
    """An aiohttp server that answers each POST with what it received, and counts its connections' client ports."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.hold: asyncio.Event | None = None  # when set up, answers wait for it

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.ports.append(peer[1] if peer else 0)
        body = await request.read()
        if self.hold is not None:
            await self.hold.wait()
        if request.query.get("chunked"):
            response = web.StreamResponse(status=201, headers={"X-Seen": request.headers.get("X-Tag", "")})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(body[:5])
            await response.write(body[5:])
            await response.write_eof()
            return response
        return web.Response(status=201, body=body, headers={"X-Seen": request.headers.get("X-Tag", "")})


@pytest.fixture
async def echo(aiohttp_server) -> AsyncIterator[tuple[Echo, str]]:
    echo = Echo()
    app = web.Application()
    app.router.add_post("/order", echo.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    yield echo, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def lane_to() -> AsyncIterator[Callable[..., Awaitable[Lane]]]:
    lanes: list[Lane] = []

    async def make(url: str, **options: Any) -> Lane:
        lane = Lane("kalshi", URL(url), **({"timeout": DEFAULT_TIMEOUT} | options))
        lanes.append(lane)
        await lane.open()
        return lane

    yield make
    for lane in lanes:
        await lane.close()


async def test_an_answer_is_parsed_with_content_length_and_chunked_bodies(echo, lane_to):
    _, url = echo
    lane = await lane_to(url, size=1)
    sent = lane.send(post(url, **{"X-Tag": "plain"}), "POST /order")
    answer = await sent
    assert (answer.status, answer.headers["x-seen"], answer.body) == (201, "plain", BODY)
    chunked = request_bytes("POST", URL(url + "/order?chunked=1", encoded=True), {"X-Tag": "chunks"}, BODY)
    answer = await lane.send(chunked, "POST /order")
    assert (answer.status, answer.headers["X-Seen"], answer.body) == (201, "chunks", BODY)
    assert answer.headers["Transfer-Encoding"] == "chunked"


async def test_a_connection_is_kept_alive_and_reused(echo, lane_to):
    server, url = echo
    lane = await lane_to(url, size=2)
    for _ in range(4):
        await lane.send(post(url), "POST /order")
    assert len(server.ports) == 4 and len(set(server.ports)) == 1  # the same connection each time
    assert lane.idle == 2


async def test_no_idle_connection_means_none_and_the_caller_goes_the_normal_way(echo, lane_to):
    server, url = echo
    server.hold = asyncio.Event()
    lane = await lane_to(url, size=1)
    first = lane.send(post(url), "POST /order")
    assert first is not None and lane.idle == 0
    assert lane.send(post(url), "POST /order") is None  # one request per connection: no pipelining
    server.hold.set()
    assert (await first).status == 201
    assert lane.idle == 1


async def test_the_write_happens_in_the_callers_turn(lane_to):
    """The bytes are in the kernel when send returns: a plain socket server reads them with the loop blocked."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        lane = Lane("poly", URL(url), size=1, timeout=DEFAULT_TIMEOUT)
        opening = asyncio.ensure_future(lane.open())
        await asyncio.sleep(0.05)
        accepted, _ = listener.accept()
        await opening
        with accepted:
            sent = lane.send(post(url), "POST /order")
            accepted.settimeout(5)
            received = accepted.recv(65536)  # blocks this loop: only what send wrote itself can arrive
            assert received.startswith(b"POST /order HTTP/1.1\r\nHost: 127.0.0.1:") and received.endswith(BODY)
            assert b"Content-Length: %d\r\n" % len(BODY) in received
            accepted.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            assert (await sent).body == b"{}"
        await lane.close()


async def test_a_connection_closed_before_the_answer_is_a_transport_error(lane_to):
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        lane = await lane_to(url, size=1)
        with pytest.raises(TransportError, match=r"kalshi POST /order: no answer \(the connection closed before"):
            await lane.send(post(url), "POST /order")


async def test_an_answer_llhttp_refuses_is_a_transport_error(lane_to):
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 2x0 OK\r\n\r\n")

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        lane = await lane_to(url, size=1)
        with pytest.raises(TransportError, match="an answer llhttp refuses"):
            await lane.send(post(url), "POST /order")


async def test_no_answer_within_the_timeout_is_a_transport_error_and_the_connection_is_replaced(echo, lane_to):
    server, url = echo
    server.hold = asyncio.Event()
    lane = await lane_to(url, size=1, timeout=0.1)
    with pytest.raises(TransportError, match=r"no answer within 0.1 s"):
        await lane.send(post(url), "POST /order")
    await eventually(lambda: lane.idle == 1)
    server.hold.set()
    assert (await lane.send(post(url), "POST /order")).status == 201
    assert len(set(server.ports)) == 2  # the timed-out connection was dropped, a new one answered


async def test_a_connection_the_server_closed_while_idle_is_never_written_to_and_is_reopened(lane_to):
    connections: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.readuntil(b"\r\n\r\n"):
            await reader.readexactly(len(BODY))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        lane = await lane_to(url, size=1)
        await eventually(lambda: len(connections) == 1)
        connections[0].get_extra_info("socket").shutdown(socket.SHUT_RDWR)  # the FIN is on its way, unread here
        assert lane.send(post(url), "POST /order") is None  # seen closed before writing: the normal path instead
        await eventually(lambda: lane.idle == 1)
        assert len(connections) == 2
        assert (await lane.send(post(url), "POST /order")).body == b"{}"


async def test_an_idle_connection_is_retired_after_the_keep_alive_bound(echo, lane_to):
    server, url = echo
    lane = await lane_to(url, size=1, keepalive=0.05)
    await lane.send(post(url), "POST /order")
    await asyncio.sleep(0.2)
    await eventually(lambda: lane.idle == 1)
    await lane.send(post(url), "POST /order")
    assert len(set(server.ports)) == 2  # the second request went on a fresh connection


async def test_an_unreachable_origin_leaves_the_lane_empty_and_it_connects_once_the_server_is_up(caplog, monkeypatch):
    monkeypatch.setattr("clients.lane.REOPEN_DELAY", 0.01)
    caplog.set_level(logging.WARNING, logger="clients.lane")  # an in-process `scenarios` CLI quiets "clients"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lane = Lane("kalshi", URL(f"http://127.0.0.1:{port}"), size=1, timeout=DEFAULT_TIMEOUT)
    await lane.open()
    assert lane.idle == 0 and lane.send(b"", "POST /order") is None
    await asyncio.sleep(0.1)  # several retries
    said = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(said) == 1 and f"127.0.0.1:{port}" in said[0].getMessage()  # once, not once per retry
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    async with server:
        await eventually(lambda: lane.idle == 1)
        await lane.close()
    assert lane.idle == 0


@pytest.mark.parametrize(
    "name, value", [("X-Tag", "a\r\nX-Evil: 1"), ("X-Tag", "a\nb"), ("X-Tag", "naïve"), ("X-Bad:Name", "1")]
)
def test_a_header_that_would_break_the_request_is_refused(name, value):
    with pytest.raises(ValueError, match="a CR, LF or non-ASCII character would break the request"):
        request_bytes("POST", URL("http://127.0.0.1:1/order"), {name: value}, BODY)


def test_the_request_is_serialised_as_it_goes():
    raw = request_bytes("POST", URL("https://example.test:8443/a/b?x=1"), {"K": "v"}, b"{}")
    agent = SERVER_SOFTWARE.encode()
    assert raw == (
        b"POST /a/b?x=1 HTTP/1.1\r\nHost: example.test:8443\r\nK: v\r\nAccept: */*\r\nUser-Agent: %s\r\n"
        b"Content-Length: 2\r\n\r\n{}" % agent
    )
    given = request_bytes("POST", URL("http://h/o"), {"accept": "application/json", "USER-AGENT": "me"}, b"")
    assert given.count(b"ccept:") == 1 and given.lower().count(b"user-agent:") == 1  # the caller's, kept as written


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://example.test:443/o", "example.test"),
        ("http://example.test:80/o", "example.test"),
        ("http://[::1]:8080/o", "[::1]:8080"),
        ("https://[2001:db8::1]/o", "[2001:db8::1]"),
    ],
)
def test_the_host_header_is_aiohttps_default_ports_left_out_ipv6_bracketed(url, host):
    assert request_bytes("POST", URL(url), {}, b"").split(b"\r\n")[1] == f"Host: {host}".encode()


def test_a_lane_needs_an_http_origin():
    with pytest.raises(ValueError, match="not an http"):
        Lane("kalshi", URL("ws://127.0.0.1:1"), timeout=DEFAULT_TIMEOUT)


async def test_https_is_verified_against_the_trust_store_given(tmp_path, lane_to):
    cert, key = self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    echo = Echo()
    app = web.Application()
    app.router.add_post("/order", echo.handle)
    async with running_app(app, ssl_context=served) as url:
        lane = await lane_to(url, size=1, tls=ssl.create_default_context(cafile=cert))
        answer = await lane.send(post(url), "POST /order")
        assert (answer.status, answer.body) == (201, BODY)
        untrusted = await lane_to(url, size=1)  # the system's trust store: the self-signed certificate is refused
        assert untrusted.idle == 0 and untrusted.send(post(url), "POST /order") is None


async def test_an_answer_its_caller_stopped_waiting_for_drops_that_connection_only(echo, lane_to):
    """The trader's leg timeout cancels the wait: the late answer cannot be matched to anything, so the connection
    it came on is closed and replaced, and the lane goes on."""
    server, url = echo
    server.hold = asyncio.Event()
    lane = await lane_to(url, size=1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await lane.send(post(url), "POST /order")
    server.hold.set()
    await eventually(lambda: len(server.ports) == 1 and lane.idle == 1)
    server.hold = None
    assert (await lane.send(post(url), "POST /order")).status == 201
    assert len(set(server.ports)) == 2
