"""The listening side of the proxy: HTTP/1.1 on an asyncio protocol driven by llhttp (httptools).

A proxy exists to add as little as possible between a bot and its exchange. aiohttp's server spends
about 45 µs of CPU on a request on a 2-core VM; a parser-driven protocol spends about 5, and that
difference is most of the proxy's budget. The rest of tradetape (clients, simulator) stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

import tapecontract as kinds
from proxy.wire.answers import Answer, UnsendableAnswer, status_and_headers, tradetape_answer
from proxy.wire.headers import decode
from proxy.wire.limits import Limits, connection_cap
from proxy.wire.websocket import is_websocket_upgrade

log = logging.getLogger("tradetape.proxy")

NO_BODY_STATUS = frozenset({204, 304})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_PIPELINED = 32
PROXY_ERROR = tradetape_answer(500, kinds.PROXY_ERROR, detail="tradetape failed on this request; see its log")


@dataclass(slots=True)
class Request:
    method: str
    target: str  # the request target exactly as sent: path and query
    path: str  # percent-decoded, without the query
    headers: CIMultiDictProxy[str]
    body: bytes
    upgrade: bool = False  # a WebSocket upgrade: a 101 answer hands the connection to its Switch


Handler = Callable[[Request], Awaitable["Answer | None"]]  # None: drop the connection without an answer


def response_head(answer: Answer, keep_alive: bool, head_only: bool = False) -> bytes:
    """`head_only` (an answer to HEAD): the length is the one the upstream gave, the body it would have sent."""
    head = answer.head or status_and_headers(answer.status, answer.reason, answer.headers)
    length = (head_only and answer.headers.get("Content-Length")) or len(answer.body)
    framing = "" if answer.status in NO_BODY_STATUS else f"Content-Length: {length}\r\n"
    if not keep_alive:
        framing += "Connection: close\r\n"
    return head + framing.encode() + b"\r\n"


def bad_request(detail: str, status: int = 400, kind: str = kinds.BAD_REQUEST) -> bytes:
    """A refusal written after the pending answers, on a connection that then closes."""
    answer = tradetape_answer(status, kind, detail=detail)
    return response_head(answer, keep_alive=False) + answer.body


class Refused(Exception):
    """Raised in a parser callback to stop reading a request over a limit; `answer` is what the client gets."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer


TOO_MANY = bad_request("the proxy has as many connections as --max-connections allows", 503, kinds.TOO_MANY_CONNECTIONS)
LINGER = 1.0  # seconds a refused connection stays open for the client to read its 503 (a close could reset it)


class ListenerProtocol(asyncio.Protocol):
    """One client connection: parse requests, hand each to the handler, answer in arrival order.

    Everything the proxy writes on a connection goes out in request order: an answer owed to an
    earlier request (an order already forwarded) is never overtaken by a 400, a 100 Continue or a close.
    """

    def __init__(self, handler: Handler, owner: HttpListener) -> None:
        self.handler = handler
        self.owner = owner
        self.limits = owner.limits
        self.reading_head = True  # between requests or inside a request line and headers, not in a body
        self.head_bytes = 0  # bytes read into the current head (to within one slice)
        self.body_bytes = 0
        self.head_since: float | None = None  # loop time of the current request's first byte, until its headers end
        self.last_activity = 0.0
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[tuple[Request, bool]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.paused = False
        self.reading_done = False  # no more requests on this connection: answer the pending ones, then close
        self.ending = b""  # written after the last pending answer (the 400 for bytes that are not HTTP)
        self.continue_owed = False
        self.switched = False  # a 101 went out: the connection belongs to a WebSocket relay or replay now
        self.leftover = b""  # bytes after a WebSocket upgrade request: the client's first frames
        self.writable: asyncio.Future[None] | None = None  # set while the client's receive buffer is full
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []

    # -- transport events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # create_server makes stream transports
        self.loop = asyncio.get_running_loop()
        self.last_activity = self.loop.time()
        if not self.owner.add(self):
            self.reading_done = True  # what it sends is ignored; it reads its 503 and the connection ends
            self.transport.write(TOO_MANY)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER, self.close)

    def connection_lost(self, exc: Exception | None) -> None:
        # In-flight requests run to the end: an order already sent upstream must still be recorded.
        self.closed = True
        self._writable_again()  # a task waiting to write finds the connection gone and stops
        self.owner.forget(self)

    def data_received(self, data: bytes) -> None:
        if self.reading_done:
            return
        self.last_activity = self.loop.time()
        try:
            self._feed(data)
        except httptools.HttpParserUpgrade as exc:
            self._last_request_closes()  # the bytes after an Upgrade request are not HTTP
            if self.pending and self.pending[-1][0].upgrade:
                self.leftover = data[self.fed + exc.args[0] :]  # WebSocket frames, for whatever takes it over
            self._stop_reading()
        except Refused as refused:
            self._stop_reading(refused.answer)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, Refused):
                self._stop_reading(exc.__context__.answer)
            elif not self.reading_done:
                raise
        except httptools.HttpParserError as exc:
            if not self.reading_done:  # bytes after a request that closes the connection are ignored
                self._stop_reading(bad_request(f"{type(exc).__name__}: {exc}"))

    def _feed(self, data: bytes) -> None:
        """Feed the parser; while it reads a head, in slices, so a header over the limit is never read whole
        (llhttp keeps a header being read in memory until it ends)."""
        limit = self.limits.max_header_bytes
        self.fed = 0  # bytes of `data` fed before the current slice (an upgrade's offset is within the slice)
        if not self.reading_head or len(data) <= limit // 4:
            self.head_bytes += len(data) if self.reading_head else 0
            self.parser.feed_data(data)
        else:
            view, pos = memoryview(data), 0
            while pos < len(data):
                piece = view[pos : pos + limit // 4] if self.reading_head else view[pos:]
                self.head_bytes += len(piece) if self.reading_head else 0
                self.fed = pos
                self.parser.feed_data(piece)
                pos += len(piece)
                if self.reading_head and self.head_bytes > limit:
                    break
        if self.reading_head and self.head_bytes > limit:
            raise Refused(bad_request(f"request line and headers over {limit} bytes", 431, kinds.HEADER_TOO_LARGE))

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._writable_again()

    def _writable_again(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def eof_received(self) -> bool:
        self._stop_reading()  # the client sent all it will: its pending requests still get their answers
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _transport(self) -> asyncio.Transport:
        """The transport, for the parser and answer callbacks: they only run once connection_made has set it."""
        assert self.transport is not None
        return self.transport

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self.body_bytes = 0
        self.head_since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((decode(name), decode(value)))

    def on_headers_complete(self) -> None:
        self.reading_head, self.head_bytes, self.head_since = False, 0, None
        expects = False
        for name, value in self._headers:
            if name.lower() == "content-length" and value.isdigit() and int(value) > self.limits.max_body_bytes:
                raise Refused(self._too_large())  # before any 100 Continue: the client need not send it
            expects = expects or (value.lower() == "100-continue" and name.lower() == "expect")
        if expects:
            if self.task is None and not self.pending:
                self._transport().write(CONTINUE)
            else:
                self.continue_owed = True  # sent once the answers ahead of it are out

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.limits.max_body_bytes:
            raise Refused(self._too_large())
        self._body.append(body)

    def _too_large(self) -> bytes:
        self.continue_owed = False
        return bad_request(f"request body over {self.limits.max_body_bytes} bytes", 413, kinds.BODY_TOO_LARGE)

    def on_message_complete(self) -> None:
        self.reading_head = True
        self.continue_owed = False  # the body came without waiting for it
        target = decode(self._url)
        path = target.partition("?")[0]
        method = self.parser.get_method().decode("ascii")
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        request = Request(
            method,
            target,
            unquote(path) if "%" in path else path,
            headers,
            b"".join(self._body),
            self.parser.should_upgrade() and is_websocket_upgrade(method, headers),
        )
        keep_alive = self.parser.should_keep_alive()
        self.pending.append((request, keep_alive))
        if not keep_alive:
            self.reading_done = True
            self._transport().pause_reading()
        elif len(self.pending) > MAX_PIPELINED and not self.paused:
            self.paused = True  # a client far ahead of its answers waits for them
            self._transport().pause_reading()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._answer_pending())

    def _last_request_closes(self) -> None:
        if self.pending:
            request, _ = self.pending[-1]
            self.pending[-1] = (request, False)

    def _stop_reading(self, ending: bytes = b"") -> None:
        if not self.reading_done:
            self.reading_done = True
            self.ending = ending
            if self.transport is not None and not self.closed:
                self.transport.pause_reading()
        if self.task is None and not self.pending:
            self._finish()

    def _finish(self) -> None:
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            if self.ending:
                transport.write(self.ending)
            transport.close()

    def check_timeouts(self, now: float) -> None:
        """Called by the listener's sweeper: a head that takes too long gets a 408, an idle connection closes."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        idle = now - self.last_activity > self.limits.idle_timeout
        if self.head_since is not None and not self.reading_done and now - self.head_since > self.limits.header_timeout:
            self._stop_reading(bad_request("the request's headers did not arrive in time", 408, kinds.HEADER_TIMEOUT))
        elif idle and self.writable is not None:
            self.abort()  # the client stopped reading its answers
        elif not idle or self.task is not None or self.pending:
            return
        elif not self.reading_head and not self.reading_done:
            self._stop_reading(bad_request("the request's body stalled", 408, kinds.BODY_TIMEOUT))
        elif self.head_since is None:
            self.close()  # idle between requests: nothing is lost

    # -- answering ----------------------------------------------------------------------------

    async def _answer_pending(self) -> None:
        try:
            while self.pending:
                if self.writable is not None:
                    await self.writable  # the client is not reading: handle nothing more until it does
                request, keep_alive = self.pending.popleft()
                try:
                    answer = await self.handler(request)
                except Exception:  # logged without the query: it may hold a secret
                    log.exception("the proxy failed on %s %s", request.method, request.path)
                    answer = PROXY_ERROR
                if not self._write(request, answer, keep_alive):
                    return
                if self.continue_owed and not self.pending:
                    self.continue_owed = False
                    self._transport().write(CONTINUE)
        finally:
            self.task = None
            if self.switched:
                pass
            elif self.reading_done:
                self._finish()
            elif self.paused and not self.closed:
                self.paused = False
                self._transport().resume_reading()

    def _write(self, request: Request, answer: Answer | None, keep_alive: bool) -> bool:
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            if answer is not None and answer.switch is not None:
                answer.switch.abandon()
            return False
        if answer is None:
            # Nothing for this request; answers already written still go out before the close.
            transport.close() if transport.get_write_buffer_size() else transport.abort()
            return False
        if answer.switch is not None:
            self._switch(transport, answer)
            return False
        head_only = request.method == "HEAD"
        try:
            head = response_head(answer, keep_alive, head_only)
        except UnsendableAnswer as exc:
            log.error("answer to %s %s not sent: %s", request.method, request.path, exc)
            answer = tradetape_answer(502, kinds.UNSENDABLE_ANSWER, detail=str(exc))
            head = response_head(answer, keep_alive, head_only)
        bodiless = head_only or answer.status in NO_BODY_STATUS
        transport.write(head if bodiless or not answer.body else head + answer.body)
        self.last_activity = self.loop.time()
        if not keep_alive:
            transport.close()
        return keep_alive

    def _switch(self, transport: asyncio.Transport, answer: Answer) -> None:
        """Write the 101 and give the connection to the answer's Switch (a relay or a replay)."""
        assert answer.switch is not None and answer.head is not None
        self.switched = True
        transport.write(answer.head)
        self.owner.forget(self)
        connection = answer.switch.attach(transport, self.leftover, self.owner.forget)
        self.leftover = b""
        self.owner.add(connection)
        transport.resume_reading()


class HttpListener:
    """A bound listening socket and its live connections, so a stop can close the idle ones."""

    def __init__(self, handler: Handler, limits: Limits | None = None) -> None:
        self.handler = handler
        self.limits = limits or Limits()
        self.cap = connection_cap(self.limits.max_connections)
        self.connections: set[Any] = set()  # ListenerProtocols, and WebSocket connections after their 101
        self.server: asyncio.AbstractServer | None = None
        self._drained: asyncio.Event | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def bind(self, host: str, port: int) -> int:
        """Bind without accepting yet (connections wait in the backlog): the bound port (0 picks one)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: ListenerProtocol(self.handler, self), host, port, reuse_address=True, start_serving=False
        )
        self._sweeper = loop.create_task(self._sweep())
        bound: int = self.server.sockets[0].getsockname()[1]  # the real port when 0 was asked
        return bound

    async def start(self, host: str, port: int) -> int:
        """Accept connections, binding first unless bind() already did (then `port` is what it returned)."""
        if self.server is None:
            port = await self.bind(host, port)
        assert self.server is not None  # bound above or before
        await self.server.start_serving()
        return port

    async def _sweep(self) -> None:
        """One timer for every connection: a tick is a quarter of the shorter timeout (0.05 s to 1 s)."""
        tick = max(0.05, min(1.0, min(self.limits.header_timeout, self.limits.idle_timeout) / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for connection in list(self.connections):
                connection.check_timeouts(now)

    def add(self, connection: Any) -> bool:
        """Admit a new connection, unless the listener already has as many as its cap."""
        if len(self.connections) >= self.cap:
            return False
        self.connections.add(connection)
        return True

    def forget(self, connection: Any) -> None:
        self.connections.discard(connection)
        if not self.connections and self._drained is not None:
            self._drained.set()

    def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()

    async def close(self, grace: float = 5.0) -> None:
        """Close every connection; one whose client stopped reading is cut off after `grace` seconds."""
        self.stop_accepting()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._drained = asyncio.Event()
        for connection in list(self.connections):
            connection.close()
        if not await self._wait_drained(self._drained, grace):
            for connection in list(self.connections):
                connection.abort()
            await self._wait_drained(self._drained, 1.0)
        if self.server is not None:
            await self.server.wait_closed()

    async def _wait_drained(self, drained: asyncio.Event, seconds: float) -> bool:
        if not self.connections:
            return True
        try:
            await asyncio.wait_for(drained.wait(), seconds)
        except TimeoutError:
            return False
        return True
