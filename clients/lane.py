"""An order lane: a few warm keep-alive HTTP/1.1 connections to one origin that write an order POST at once.

aiohttp starts a request through trace signals, its connector and (before Python 3.12) a task of its own that
writes the body, with event-loop turns between in which other work runs; an order whose intent has just become
durable should leave before any of that. The lane writes request bytes made beforehand (`request_bytes`) in the
caller's own turn (`transport.write`) on an idle connection, and reads the answer with llhttp (httptools), one
request per connection at a time, no pipelining. With no connection idle, `send` says so (None) and the caller
takes the normal path. Connections are opened before trading, reopened when one closes, and retired once idle
for KEEPALIVE_SECONDS (the server may be about to close them); one the server has already closed is never
written to. A connection lost before a whole answer, an answer llhttp refuses, or none within the timeout is a
TransportError: the order may or may not have been placed, as with an aiohttp disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import select
import ssl
from collections.abc import Mapping
from typing import cast

import httptools
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict
from yarl import URL

from clients.errors import TransportError
from clients.types import Answer

log = logging.getLogger("clients.lane")

KEEPALIVE_SECONDS = 15.0  # as aiohttp's: an idle connection older than this may be closed by the server
REOPEN_DELAY = 1.0  # seconds before reopening after a failed open, or a connection that closed this young
CONNECT_TIMEOUT = 5.0
LANE_SIZE = 4  # connections per exchange: arbs on several pairs may be in flight at once
AUTO_HEADERS = (("Accept", "*/*"), ("User-Agent", SERVER_SOFTWARE))  # what aiohttp adds to a request without them


def request_bytes(method: str, url: URL, headers: Mapping[str, str], body: bytes) -> bytes:
    """The request as it is written: request line, Host, `headers`, aiohttp's Accept and User-Agent where `headers`
    has none (an exchange's firewall sees the client aiohttp's requests show), Content-Length, body; no
    Accept-Encoding (the lane reads bodies as sent). A header that would break the request (CR or LF, a non-ASCII
    character) is refused with ValueError naming it."""
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {url.host_port_subcomponent}"]
    lines += [_field(name, value) for name, value in headers.items()]
    given = {name.lower() for name in headers}
    lines += [f"{name}: {value}" for name, value in AUTO_HEADERS if name.lower() not in given]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _field(name: str, value: str) -> str:
    text = f"{name}: {value}"
    if "\r" in text or "\n" in text or not text.isascii() or ":" in name:
        raise ValueError(f"header {name!r}: a CR, LF or non-ASCII character would break the request")
    return text


class _Connection(asyncio.Protocol):
    """One connection of a lane: at most one request in flight; the answer parsed by llhttp."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.where = ""
        self.opened_at = self.idle_since = asyncio.get_running_loop().time()
        self.closed = False
        self.retiring: asyncio.TimerHandle | None = None  # the keep-alive bound of its idle time
        self._timer: asyncio.TimerHandle | None = None
        self._readable = select.poll()  # the socket, polled without waiting before each write
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []

    def send(self, request: bytes, where: str) -> asyncio.Future[Answer]:
        """Write `request` now; the future holds its answer, or the TransportError of its loss or timeout."""
        loop = asyncio.get_running_loop()
        self._stop_retiring()
        self.waiter, self.where = loop.create_future(), where
        self._headers, self._body = [], []
        if self.lane.timeout is not None:  # None: no timeout, as aiohttp reads it
            self._timer = loop.call_later(self.lane.timeout, self._time_out)
        assert self.transport is not None  # a lane keeps only made connections
        self.transport.write(request)
        return self.waiter

    def stale(self) -> bool:
        """Closed, or readable while idle: an idle HTTP connection reads only the server's close (or junk). Over TLS
        a record the loop has not read yet (a late session ticket) counts too: that connection is replaced, never
        written to."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return True
        return bool(self._readable.poll(0))

    def abort(self) -> None:
        self.closed = True
        self._stop_retiring()
        if self.transport is not None:
            self.transport.abort()

    # -- transport events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # create_connection makes stream transports
        self._readable.register(transport.get_extra_info("socket").fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.abort()  # bytes nobody asked for: this connection can no longer be trusted
            return
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:  # a 101 stops llhttp: no answer
            self._fail(f"an answer llhttp refuses ({type(exc).__name__}: {exc})")
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail("the connection closed before a whole answer" + (f" ({exc})" if exc else ""))
        self.lane.lost(self)

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            self.abort()  # an answer begins that nobody asked for (after one in the same read): never matched to one

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            self._headers, self._body = [], []  # an interim answer (100 Continue): the real one follows
            return
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.abort()  # an answer nobody asked for (or after the timeout)
            return
        self._stop_timer()
        waiter.set_result(Answer(status, CIMultiDict(self._headers), b"".join(self._body)))
        self.lane.answered(self, self.parser.should_keep_alive())

    def _time_out(self) -> None:
        self._fail(f"no answer within {self.lane.timeout:g} s")
        self.abort()

    def _fail(self, reason: str) -> None:
        self._stop_timer()
        if self.waiter is not None and not self.waiter.done():
            where = f"{self.lane.name} {self.where}"
            self.waiter.set_exception(TransportError(f"{where}: no answer ({reason}) from {self.lane.origin}"))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop_retiring(self) -> None:
        if self.retiring is not None:
            self.retiring.cancel()
            self.retiring = None


class Lane:
    """Up to `size` warm connections to `origin`; `send` writes on an idle one now or returns None. An answer is
    waited for `timeout` seconds at most, or as long as it takes when `timeout` is None or not above 0 (as aiohttp
    reads its ClientTimeout: the order lane and aiohttp's path must not disagree on when an order failed)."""

    def __init__(
        self,
        name: str,
        origin: URL,
        *,
        size: int = LANE_SIZE,
        timeout: float | None,
        keepalive: float = KEEPALIVE_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if origin.scheme not in ("http", "https") or not origin.raw_host:
            raise ValueError(f"{name} lane: {origin} is not an http(s) origin")
        self.name = name
        self.origin = origin.origin()
        self.size = size
        self.timeout = timeout if timeout is not None and timeout > 0 else None
        self.keepalive = keepalive
        self._tls = tls if tls is not None or origin.scheme == "http" else ssl.create_default_context()
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()
        self._opening: set[asyncio.Task[None]] = set()
        self._closed = False
        self._unreachable = False  # said once until a connection is made again

    @property
    def idle(self) -> int:
        """Connections ready to write on."""
        return len(self._idle)

    async def open(self) -> None:
        """Open the connections; one that cannot be opened is retried every REOPEN_DELAY seconds meanwhile."""
        self._closed = False
        await asyncio.gather(*(self._connect() for _ in range(self.size - len(self._all) - len(self._opening))))

    def send(self, request: bytes, where: str) -> asyncio.Future[Answer] | None:
        """Write `request` now on an idle connection and return its answer's future; None when none is idle."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.stale():
                return conn.send(request, where)
            conn.abort()  # its close comes back through lost(): a replacement is opened
        return None

    async def close(self) -> None:
        """Close every connection; an answer still awaited ends in TransportError."""
        self._closed = True
        for task in list(self._opening):
            task.cancel()
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()
        await asyncio.sleep(0)  # the transports' connection_lost callbacks run

    # -- the connections' lifecycle (called by _Connection) ----------------------------------

    def answered(self, conn: _Connection, keep_alive: bool) -> None:
        """A whole answer came: the connection is idle again (until the keep-alive bound), or closed when either
        side will not keep it."""
        if not keep_alive or self._closed:
            conn.abort()
            return
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        conn.retiring = loop.call_later(self.keepalive, self._retire, conn)
        self._idle.append(conn)

    def lost(self, conn: _Connection) -> None:
        """A connection closed (by either side): another one is opened in its place."""
        self._all.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        if not self._closed:
            young = asyncio.get_running_loop().time() - conn.opened_at < REOPEN_DELAY
            self._reopen(REOPEN_DELAY if young else 0.0)

    def _retire(self, conn: _Connection) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
            conn.abort()

    def _reopen(self, delay: float) -> None:
        task = asyncio.get_running_loop().create_task(self._connect(delay))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _connect(self, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        host, port = self.origin.raw_host or "", self.origin.port or 0
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self), host, port, ssl=self._tls, server_hostname=host if self._tls else None
                ),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError) as exc:  # refused, unresolvable, TLS failures (ssl.SSLError is an OSError)
            if not self._unreachable:  # said once, not every REOPEN_DELAY, until a connection is made again
                self._unreachable = True
                log.warning(
                    "%s lane: cannot connect to %s (%s); retrying every %g s", self.name, self.origin, exc, REOPEN_DELAY
                )
            if not self._closed:
                self._reopen(REOPEN_DELAY)
            return
        if self._closed:
            conn.abort()
            return
        self._unreachable = False
        self._all.add(conn)
        self.answered(conn, keep_alive=True)  # idle from now
