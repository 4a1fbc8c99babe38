"""The upstream side of the proxy: keep-alive HTTP/1.1 connections per exchange, parsed by llhttp (httptools).

A general client (aiohttp's) spends most of a proxied request's CPU on what a proxy must not do anyway:
cookies, redirects, automatic headers, body re-encoding. This one writes the client's request as it
came, which is also what the exchanges' signatures need, and reads the answer back whole.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import httptools
from multidict import CIMultiDict
from yarl import URL

from proxy.wire.headers import decode
from tapecontract import UPSTREAM_DISCONNECTED, UPSTREAM_INVALID_RESPONSE, UPSTREAM_TIMEOUT, UPSTREAM_UNREACHABLE

KEEPALIVE_SECONDS = 15.0  # an idle connection older than this may be closed by the server: do not reuse it
SWITCHED = "the upstream switched protocols (101 Switching Protocols) on a request that did not ask to"
BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # sent without Content-Length when empty


class UpstreamFailure(Exception):
    """No usable answer came back; `kind` and `status` are what the client is told."""

    def __init__(self, kind: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    host_header: str
    tls: bool


@lru_cache(maxsize=64)
def origin_of(upstream: str) -> Origin:
    url = URL(upstream)
    return Origin(url.raw_host or "", url.port or 0, url.host_port_subcomponent or "", url.scheme == "https")


def request_head(method: str, target: str, host_header: str, headers: Any, body_length: int) -> bytes:
    """The request line and headers as they go upstream; `headers` already without hop-by-hop ones."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body_length or method not in BODILESS_METHODS:
        lines.append(f"Content-Length: {body_length}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


@dataclass(slots=True)
class Reply:
    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes


class UpstreamConnection(asyncio.Protocol):
    """One connection to an upstream; one request at a time, reused while both ends keep it alive."""

    def __init__(self, tls: bool = False) -> None:
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self.head_only = False
        self.upgrading = False  # a WebSocket upgrade was sent: a 101 is the answer, and frames follow it
        self.switched = False  # the 101 came: later bytes are frames, kept in `leftover` until a relay takes over
        self.leftover = b""
        self._reset()

    def _reset(self) -> None:
        self._reason = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._delimited = False  # a Content-Length or chunking ends the body; otherwise the close does

    def send(self, head: bytes, body: bytes, head_only: bool) -> asyncio.Future[Reply]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.head_only = head_only
        self.reusable = False
        self._reset()
        assert self.transport is not None  # connected: the pool sends only on a made connection
        self.transport.write(head + body if body else head)
        return self.waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def time_out(self, seconds: float) -> None:
        self._fail(UpstreamFailure(UPSTREAM_TIMEOUT, 504, f"no answer within {seconds:g} s"))
        self.abort()

    # -- transport events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # create_connection makes stream transports

    def data_received(self, data: bytes) -> None:
        if self.switched:
            self.leftover += data  # frames that came before the relay took the connection over
            return
        if self.waiter is None or self.waiter.done():
            self.abort()  # bytes nobody asked for: this connection can no longer be trusted
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.switched:
                self.leftover = data[exc.args[0] :]
                return
            self._fail(UpstreamFailure(UPSTREAM_INVALID_RESPONSE, 502, SWITCHED))
            self.abort()
        except httptools.HttpParserError as exc:
            self._fail(UpstreamFailure(UPSTREAM_INVALID_RESPONSE, 502, f"{type(exc).__name__}: {exc}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and not self._delimited and exc is None and not self.tls:
            self._complete()  # the answer's body ran to a clean close, as HTTP/1.0-style answers do
            return
        # Over TLS a close cannot prove the body whole (a missing close_notify looks the same), so an
        # answer with neither length nor chunking is a failure there; the exchanges always send one.
        received = "after part of the answer" if self._headers_done else "before answering"
        self._fail(
            UpstreamFailure(
                UPSTREAM_DISCONNECTED,
                502,
                f"the upstream closed the connection {received}" + (f": {exc}" if exc else ""),
            )
        )

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is not None and self.waiter.done():
            self.abort()  # a second answer nobody asked for: this connection can no longer be trusted

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        text, value_text = decode(name), decode(value)
        lowered = text.lower()
        if lowered == "content-length" or (
            lowered == "transfer-encoding" and value_text.lower().rstrip().endswith("chunked")
        ):
            self._delimited = True  # any other transfer coding runs to the close (RFC 9112 6.3)
        self._headers.append((text, value_text))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self.head_only and self.parser.get_status_code() >= 200:
            self._complete()  # an answer to HEAD has no body, whatever its Content-Length says

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status == 101:
            if self.upgrading:
                self.switched = True
                self._complete()
            else:
                self._fail(UpstreamFailure(UPSTREAM_INVALID_RESPONSE, 502, SWITCHED))
            return
        if 100 <= status < 200:
            self._reset()  # an interim answer (100 Continue): the real one follows
            return
        self.reusable = self.parser.should_keep_alive() and not self.head_only
        self._complete()

    def _complete(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(
                Reply(
                    self.parser.get_status_code(),
                    decode(self._reason),
                    CIMultiDict(self._headers),
                    b"".join(self._body),
                )
            )

    def _fail(self, failure: UpstreamFailure) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)


class UpstreamPool:
    """Idle keep-alive connections per upstream; a request never shares a connection with another."""

    def __init__(self, timeout: float = 30.0, connect_timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.connect_timeout = min(timeout, connect_timeout)
        self._idle: dict[str, list[UpstreamConnection]] = {}
        self._tls = tls  # None: the system's trust store, made on first use
        self._closed = False

    async def send(self, upstream: str, method: str, target: str, headers: Any, body: bytes) -> Reply:
        origin = origin_of(upstream)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        conn = self._idle_connection(upstream, loop.time()) or await self._connect(upstream, origin)
        head = request_head(method, target, origin.host_header, headers, len(body))
        reply = await self._reply(conn, conn.send(head, body, method == "HEAD"), deadline)
        if conn.reusable and not conn.closed and not self._closed:
            conn.idle_since = loop.time()
            self._idle.setdefault(upstream, []).append(conn)
        else:
            conn.abort()
        return reply

    async def upgrade(self, upstream: str, target: str, headers: Any) -> tuple[Reply, UpstreamConnection]:
        """Send a WebSocket upgrade on a connection of its own; the answer, and the connection (a 101's frames
        follow on it; any other answer has closed it)."""
        origin = origin_of(upstream)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        conn = await self._connect(upstream, origin)
        conn.upgrading = True
        reply = await self._reply(
            conn, conn.send(request_head("GET", target, origin.host_header, headers, 0), b"", False), deadline
        )
        if reply.status != 101:
            conn.abort()
        return reply, conn

    async def _reply(self, conn: UpstreamConnection, waiter: asyncio.Future[Reply], deadline: float) -> Reply:
        """The answer on `conn`, or UpstreamFailure by `deadline` (the connection is dropped on any failure)."""
        timer = asyncio.get_running_loop().call_at(deadline, conn.time_out, self.timeout)
        try:
            return await waiter
        except BaseException:
            conn.abort()
            raise
        finally:
            timer.cancel()

    def _idle_connection(self, upstream: str, now: float) -> UpstreamConnection | None:
        idle = self._idle.get(upstream)
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE_SECONDS:
                return conn
            conn.abort()
        return None

    async def _connect(self, upstream: str, origin: Origin) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if origin.tls else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: UpstreamConnection(origin.tls),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamFailure(
                UPSTREAM_TIMEOUT, 504, f"no connection to {upstream} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:  # refused, unresolvable, TLS failures (ssl.SSLError is an OSError)
            raise UpstreamFailure(UPSTREAM_UNREACHABLE, 502, f"cannot connect to {upstream}: {exc}") from None
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def close(self) -> None:
        """Close the idle connections; one still in flight is closed when its answer arrives."""
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()
