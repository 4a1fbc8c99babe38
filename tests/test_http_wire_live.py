"""The proxy against an upstream that behaves like a real exchange behind Cloudflare, and the admin API
on the hand-written listener.

Tests whose docstring starts "Was a bug:" failed on the code a third review looked at and say what went wrong;
the others pin risky behaviours that were checked and hold. Everything talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
from collections.abc import AsyncIterator

import brotli
import orjson
import pytest

from tests.proxy_helpers import fixtures_in, passing_through, recording, running_proxy
from tests.wire_helpers import port_of, read_message, request, self_signed


class Exchange:
    """A scripted upstream: each request is answered by `answer(n, head, body)` -> (bytes, action), where
    action is "keep", "close" (after writing), "drop" (close without answering) or a float pause (s)
    between the head and the body. Every request it read is kept, in order, per connection."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head, body = await read_message(reader)
                self.requests.append(head + body)
                result = self.answer(len(self.requests), head, body)
                if asyncio.iscoroutine(result):
                    result = await result
                data, action = result
                if action == "drop":
                    break
                if isinstance(data, list):  # chunks written one by one with a pause between them
                    for piece in data:
                        writer.write(piece)
                        await writer.drain()
                        await asyncio.sleep(action)
                else:
                    writer.write(data)
                    await writer.drain()
                if action == "close":
                    break
                if action == "abort":  # TLS: gone without close_notify
                    await asyncio.sleep(0.05)
                    writer.transport.abort()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@contextlib.asynccontextmanager
async def serving(upstream: Exchange, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0, ssl=tls)
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


ORDER = (
    b"POST /trade-api/v2/portfolio/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 15\r\n\r\n{"count":"1.0"}'
)
GET = b"GET /trade-api/v2/markets HTTP/1.1\r\nHost: x\r\n\r\n"


# ---- an exchange that closes connections -------------------------------------------------------


async def test_an_order_on_a_connection_the_exchange_closes_just_then_is_sent_once_and_named():
    """The upstream answers a read, keeps the connection, then closes it on the next request without
    answering (an idle timeout racing the reuse): the order is never sent again, the client gets a
    marked 502 upstream_disconnected, and the next order goes out on a fresh connection."""

    def answer(n, head, body):
        return (ok(), "keep") if n != 2 else (b"", "drop")

    upstream = Exchange(answer)
    async with serving(upstream) as url, running_proxy(url, passing_through(), timeout=5) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(proxy))
        writer.write(GET)
        first = await read_message(reader, 10)
        writer.write(ORDER)
        second = await read_message(reader, 10)
        writer.write(ORDER)
        third = await read_message(reader, 10)
        writer.close()
    assert first[0].startswith(b"HTTP/1.1 200 ")
    assert second[0].startswith(b"HTTP/1.1 502 ") and b"X-Tradetape-Error: upstream_disconnected" in second[0]
    assert orjson.loads(second[1])["tradetape_error"] == "upstream_disconnected"
    assert third[0].startswith(b"HTTP/1.1 200 ")
    orders = [r for r in upstream.requests if r.startswith(b"POST ")]
    assert len(orders) == 2 and upstream.connections == 2  # one per order sent by the client, never resent


async def test_an_exchange_that_closes_after_every_second_answer_serves_every_request_once():
    def answer(n, head, body):
        return (ok(b'{"n":%d}' % n, b"Connection: close\r\n" if n % 2 == 0 else b""), "close" if n % 2 == 0 else "keep")

    upstream = Exchange(answer)
    async with serving(upstream) as url, running_proxy(url, passing_through(), timeout=5) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(proxy))
        bodies = []
        for _ in range(6):
            writer.write(ORDER)
            head, body = await read_message(reader, 10)
            assert head.startswith(b"HTTP/1.1 200 ") and b"Connection: close" not in head
            bodies.append(orjson.loads(body)["n"])
        writer.close()
    assert bodies == [1, 2, 3, 4, 5, 6] and upstream.connections == 3 and len(upstream.requests) == 6


# ---- compressed, chunked, slow answers --------------------------------------------------------


def chunked(data: bytes, size: int) -> list[bytes]:
    pieces = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return [*pieces, b"0\r\n\r\n"]


@pytest.mark.parametrize("coding, compress", [("gzip", gzip.compress), ("br", brotli.compress)])
async def test_a_compressed_chunked_answer_reaches_the_client_unchanged_and_is_recorded_decoded(
    tmp_path, coding, compress
):
    payload = orjson.dumps({"order": {"order_id": "o-1", "status": "resting", "pad": "p" * 5000}})
    packed = compress(payload)

    def answer(n, head, body):
        head_bytes = (
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: "
            + coding.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        return [head_bytes, *chunked(packed, 97)], 0.0

    session = tmp_path / "s"
    upstream = Exchange(answer)
    async with serving(upstream) as url, running_proxy(url, recording(session), timeout=5) as proxy:
        head, body = await request(port_of(proxy), ORDER.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"Content-Encoding: " + coding.encode() in head and b"Transfer-Encoding" not in head
    assert body == packed and b"Content-Length: %d" % len(packed) in head
    [fixture] = fixtures_in(session)
    assert fixture["response"]["body_parsed"]["order"]["order_id"] == "o-1"


async def test_a_large_answer_arriving_slowly_in_many_chunks_is_read_whole():
    payload = orjson.dumps({"markets": [f"m{i:05d}" for i in range(20000)]})

    def answer(n, head, body):
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", *chunked(payload, 4096)], 0.002

    async with serving(Exchange(answer)) as url, running_proxy(url, passing_through(), timeout=5) as proxy:
        head, body = await request(port_of(proxy), GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 200 ") and body == payload


async def test_an_answer_slower_than_the_upstream_timeout_mid_body_is_a_named_504_and_the_order_is_not_resent():
    payload = b'{"x":"' + b"y" * 2000 + b'"}'

    def answer(n, head, body):
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", *chunked(payload, 100)], 0.1

    upstream = Exchange(answer)
    async with serving(upstream) as url, running_proxy(url, passing_through(), timeout=0.5) as proxy:
        started = asyncio.get_running_loop().time()
        head, body = await request(port_of(proxy), ORDER.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
        took = asyncio.get_running_loop().time() - started
    assert head.startswith(b"HTTP/1.1 504 ") and orjson.loads(body)["tradetape_error"] == "upstream_timeout"
    assert took < 2 and len(upstream.requests) == 1


# ---- TLS ----------------------------------------------------------------------------------------


async def orders_answered(port: int, count: int, pause: float = 0.0) -> list[int]:
    """Send ORDER `count` times on one connection; the `n` of each answer, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    seen = []
    for _ in range(count):
        writer.write(ORDER)
        seen.append(orjson.loads((await read_message(reader, 10))[1])["n"])
        await asyncio.sleep(pause)
    writer.close()
    return seen


@contextlib.asynccontextmanager
async def tls_proxy(tmp_path, upstream: Exchange) -> AsyncIterator[tuple[str, object]]:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    async with serving(upstream, server_tls) as url, running_proxy(url, passing_through(), timeout=5) as proxy:
        proxy.forwarder.pool._tls = ssl.create_default_context(cafile=cert)
        yield url, proxy


async def test_keep_alive_connections_are_reused_over_tls(tmp_path):
    upstream = Exchange(lambda n, head, body: (ok(b'{"n":%d}' % n), "keep"))
    async with tls_proxy(tmp_path, upstream) as (_url, proxy):
        seen = await orders_answered(port_of(proxy), 3)
    assert seen == [1, 2, 3] and upstream.connections == 1


async def test_a_tls_exchange_closing_an_idle_connection_with_close_notify_costs_nothing(tmp_path):
    upstream = Exchange(lambda n, head, body: (ok(b'{"n":%d}' % n), "close"))  # writer.close(): close_notify
    async with tls_proxy(tmp_path, upstream) as (_url, proxy):
        seen = await orders_answered(port_of(proxy), 3, pause=0.1)  # the close reaches the proxy while idle
    assert seen == [1, 2, 3] and upstream.connections == 3


async def test_a_tls_exchange_vanishing_without_close_notify_after_a_delimited_answer_costs_nothing(tmp_path):
    upstream = Exchange(lambda n, head, body: (ok(b'{"n":%d}' % n), "abort"))
    async with tls_proxy(tmp_path, upstream) as (_url, proxy):
        seen = await orders_answered(port_of(proxy), 2, pause=0.2)
    assert seen == [1, 2] and upstream.connections == 2


async def test_a_close_delimited_answer_cut_off_without_tls_close_notify_is_not_passed_off_as_whole(tmp_path):
    """Was a bug: over TLS, a close-delimited body that ends with a bare TCP close (no close_notify) may be
    truncated by anyone on the path (RFC 9112 9.8); the proxy hands the cut body to the client as a 200."""
    upstream = Exchange(
        lambda n, head, body: (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"orders":[', "abort")
    )
    async with tls_proxy(tmp_path, upstream) as (_url, proxy):
        head, body = await request(port_of(proxy), GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert not head.startswith(b"HTTP/1.1 200 "), (head, body)


# ---- the admin API on the listener --------------------------------------------------------------


@contextlib.asynccontextmanager
async def admin_proxy(tmp_path) -> AsyncIterator[tuple[Exchange, object]]:
    from collections import Counter

    from proxy.cli.modes import runtime_factories

    upstream = Exchange(lambda n, head, body: (ok(), "keep"))
    async with serving(upstream) as url, running_proxy(url, passing_through(), timeout=5) as proxy:
        ups = {each.exchange: each.upstream for each in proxy.listeners}
        proxy.mode_factories.update(runtime_factories(ups, set(), tmp_path, "orders", None, Counter()))
        yield upstream, proxy


def admin_headers(proxy) -> bytes:
    """What an admin call needs: the listener's own address as Host, the token, a JSON content type."""
    return b"Host: 127.0.0.1:%d\r\nX-Tradetape-Token: %s\r\nContent-Type: application/json\r\n" % (
        port_of(proxy),
        proxy.admin_token.encode(),
    )


def post(proxy, path: bytes, body: bytes) -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\n"
        + admin_headers(proxy)
        + b"Connection: close\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def status_request(proxy) -> bytes:
    return b"GET /__tradetape/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port_of(proxy)


async def test_admin_bodies_sent_chunked_or_after_100_continue_are_read_and_never_forwarded(tmp_path):
    async with admin_proxy(tmp_path) as (upstream, proxy):
        port = port_of(proxy)
        status = await request(port, status_request(proxy))
        body = b'{"mode": "record", "session": "s1"}'
        chunked_mode = await request(
            port,
            b"POST /__tradetape/mode HTTP/1.1\r\n"
            + admin_headers(proxy)
            + b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(chunked(body, 7)),
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /__tradetape/mode HTTP/1.1\r\n"
            + admin_headers(proxy)
            + b"Expect: 100-continue\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b'{"mode":"passthrough"}')
        back = await read_message(reader, 10)
        writer.close()
        broken = await request(port, post(proxy, b"/__tradetape/mode", b'{"mode": "record",'))
        not_object = await request(port, post(proxy, b"/__tradetape/load", b"[1, 2]"))
        unknown = await request(port, post(proxy, b"/__tradetape/nope", b"{}"))
        reset = await request(port, post(proxy, b"/__tradetape/reset", b""))
    assert status[0].startswith(b"HTTP/1.1 200 ") and orjson.loads(status[1])["listener"] == "kalshi"
    assert chunked_mode[0].startswith(b"HTTP/1.1 200 ") and orjson.loads(chunked_mode[1])["mode"] == "record"
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert back[0].startswith(b"HTTP/1.1 200 ") and orjson.loads(back[1])["mode"] == "passthrough"
    for answer, status_code, kind in [
        (broken, 400, "bad_request"),
        (not_object, 400, "bad_request"),
        (unknown, 404, "admin_not_found"),
        (reset, 409, "not_replaying"),
    ]:
        assert answer[0].startswith(b"HTTP/1.1 %d " % status_code), answer
        assert orjson.loads(answer[1])["tradetape_error"] == kind
    assert upstream.requests == []


@pytest.mark.parametrize(
    "options",
    [
        b'{"mode": "record", "session": "a\\u0000b"}',
        b'{"mode": "replay", "sources": ["' + b"x" * 5000 + b'"]}',
    ],
)
async def test_admin_mode_options_the_filesystem_refuses_get_a_4xx_not_a_proxy_error(tmp_path, options):
    """Was a bug: a session name with a NUL byte (ValueError from the filesystem) or a source path too long
    for it (OSError) escapes proxy.admin.modes._switch's except list, so the client gets a 500 proxy_error."""
    async with admin_proxy(tmp_path) as (_upstream, proxy):
        head, body = await request(port_of(proxy), post(proxy, b"/__tradetape/mode", options))
        after = await request(port_of(proxy), status_request(proxy))
    assert orjson.loads(after[1])["mode"] == "passthrough"  # the running mode is untouched either way
    assert head.startswith(b"HTTP/1.1 400 "), (head, body)
    assert orjson.loads(body)["tradetape_error"] == "load_failed"


@pytest.mark.parametrize(
    "target, outcome",
    [
        (b"/%5F%5Ftradetape/status", "refused"),
        (b"/__tradetape%2Fstatus", "refused"),
        (b"/__trade%74ape/status?x=%00%ff&y=%", "refused"),
        (b"/__tradetape", "forwarded"),
        (b"/x/..%2F__tradetape/status", "refused"),
        (b"/trade-api/v2/markets?q=%FF%00%0d%0a&t=a%2Fb;c|d", "refused"),
        (b"/trade-api/v2/markets?q=%FF&t=a%2Fb|d", "forwarded"),
    ],
)
async def test_a_percent_encoded_path_is_either_refused_or_forwarded_never_admin(tmp_path, target, outcome):
    """Percent-encoded ASCII in a path is read two ways (decoded or not), so it is refused before routing;
    the admin API is reached only by its plain path."""
    async with admin_proxy(tmp_path) as (upstream, proxy):
        head, body = await request(
            port_of(proxy), b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    if outcome == "refused":
        assert head.startswith(b"HTTP/1.1 400 ") and orjson.loads(body)["tradetape_error"] == "bad_target"
        assert upstream.requests == []
    else:
        assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"ok":true}' and len(upstream.requests) == 1
        assert upstream.requests[0].startswith(b"GET " + target + b" HTTP/1.1\r\n")  # the target as the client sent it
