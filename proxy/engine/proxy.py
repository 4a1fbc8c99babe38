"""The proxy core: one listener per exchange, a thin handler, and the current mode's addons.

One listener per exchange keeps request paths exactly as the client sent them, so signatures that
cover the path stay valid; everything a feature needs happens in an addon. Requests under the reserved
`/__tradetape/` prefix go to the admin handler the proxy was given (proxy.admin builds it), never upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tapecontract as kinds
from proxy.engine.flow import Failure, Flow, failure_answer
from proxy.engine.forward import Forwarder
from proxy.engine.mode import Mode
from proxy.engine.websocket import relay_start
from proxy.exchanges import EXCHANGES
from proxy.exchanges.upstream import Upstream
from proxy.tape.secrets import shown_url
from proxy.wire.answers import Answer, tradetape_answer
from proxy.wire.limits import Limits
from proxy.wire.listen_error import ListenError
from proxy.wire.listener import Handler, HttpListener, Request
from proxy.wire.target import target_problem
from proxy.wire.upstream import UpstreamConnection
from proxy.wire.websocket import switching_head

log = logging.getLogger("tradetape.proxy")

ADMIN_PREFIX = "/__tradetape/"
# A reverse proxy only takes origin-form targets: absolute URLs and CONNECT would make it an open proxy.
SHUTTING_DOWN = tradetape_answer(
    503, kinds.SHUTTING_DOWN, detail="the tradetape proxy is stopping; nothing was forwarded"
)
NOT_A_PATH = tradetape_answer(
    400,
    kinds.NOT_A_PATH,
    detail="tradetape forwards only paths (/...) to its configured upstream; absolute URLs and CONNECT are refused",
)


@dataclass
class Listener:
    exchange: str
    host: str
    port: int
    upstream: Upstream


AdminHandler = Callable[["Proxy", Listener, Request], Awaitable[Answer]]


async def no_admin(proxy: Proxy, listener: Listener, request: Request) -> Answer:
    """The admin handler of a proxy given none: the prefix is still reserved, and says so."""
    return tradetape_answer(
        404, kinds.ADMIN_NOT_FOUND, detail=f"{request.method} {request.path}; this proxy has no admin routes"
    )


def build_listeners(listen: dict[str, tuple[str, int]], upstreams: dict[str, Upstream]) -> list[Listener]:
    """One listener per exchange, on its (host, port), in front of its upstream."""
    return [Listener(ex, listen[ex][0], listen[ex][1], upstreams[ex]) for ex in EXCHANGES]


class Proxy:
    def __init__(
        self,
        listeners: list[Listener],
        mode: Mode,
        upstream_timeout: float = 30.0,
        counts: Counter[str] | None = None,
        admin: AdminHandler = no_admin,
        allow_live_replay: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.listeners = listeners
        self.admin = admin  # answers /__tradetape/...: proxy.admin.routes.handle for every command
        self.mode = mode
        self.counts: Counter[str] = Counter() if counts is None else counts  # shared with the mode's addons
        self.forwarder = Forwarder(upstream_timeout)
        self._servers: list[HttpListener] = []
        self._in_flight = 0
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.mode_factories: dict[str, Any] = {}  # name -> callable(options dict) -> Mode, for runtime switches
        self.admin_token = secrets.token_urlsafe(32)  # per process: state-changing admin calls must send it
        self.allow_live_replay = allow_live_replay  # may the admin API switch a live proxy to replay?
        self.limits = limits or Limits()

    # -- lifecycle --------------------------------------------------------------------------

    async def bind(self) -> None:
        """Bind every listener, accepting nothing yet; ListenError (and none left bound) when one cannot."""
        for listener in self.listeners[len(self._servers) :]:
            server = HttpListener(self._handler_for(listener), self.limits)
            try:
                listener.port = await server.bind(listener.host, listener.port)  # the real port when 0 was asked
            except OSError as exc:
                for bound in self._servers:
                    await bound.close()
                self._servers.clear()
                raise ListenError(listener.exchange, listener.host, listener.port, exc) from None
            self._servers.append(server)

    async def start(self) -> None:
        await self.bind()
        for listener, server in zip(self.listeners, self._servers, strict=True):
            await server.start(listener.host, listener.port)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (bounded), then close the mode.

        Requests that arrive after this point on connections kept alive are refused, never forwarded:
        a proxy being stopped must not send a new order to an exchange.
        """
        self._stopping = True
        for server in self._servers:
            server.stop_accepting()
        await self._wait_idle(grace)
        for server in self._servers:
            await server.close()
        # Requests still at the exchange are bounded by the upstream timeout: their fixtures must land
        # in the session before its manifest is written.
        await self._wait_idle(self.forwarder.pool.timeout + 1)
        await self.forwarder.close()
        self.mode.close()

    async def _wait_idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), seconds)

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(grace=5)

    def switch(self, mode: Mode) -> None:
        old, self.mode = self.mode, mode
        if old is not mode:
            old.close()

    @property
    def live(self) -> bool:
        """Some upstream is a real exchange."""
        return any(listener.upstream.live for listener in self.listeners)

    def url(self, exchange: str) -> str:
        listener = next(each for each in self.listeners if each.exchange == exchange)
        return f"http://{listener.host}:{listener.port}"

    def status(self) -> dict[str, Any]:
        return {
            **self.mode.status(),
            "listeners": {each.exchange: f"{each.host}:{each.port}" for each in self.listeners},
            "upstreams": {each.exchange: each.upstream.url for each in self.listeners},
            "counts": {
                k: self.counts[k] for k in ("forwarded", "captured", "failed", "refused", "replayed", "unmatched")
            },
        }

    def _switching(self, flow: Flow, mode: Mode) -> Answer:
        """A 101 and what carries its connection on: a relay to the upstream, or the replay's own connection."""
        answer = flow.response
        assert answer is not None
        peer = flow.peer
        switch = relay_start(flow, peer, mode.addons, self.counts) if isinstance(peer, UpstreamConnection) else peer
        head = answer.head or switching_head(answer.reason, answer.headers)
        return Answer(101, answer.headers, b"", answer.reason, head=head, switch=switch)

    # -- request path -----------------------------------------------------------------------

    def _handler_for(self, listener: Listener) -> Handler:
        async def handle(request: Request) -> Answer | None:
            if not request.target.startswith("/") or request.method == "CONNECT":
                return NOT_A_PATH
            problem = target_problem(request.target)
            if problem is not None:
                return tradetape_answer(400, kinds.BAD_TARGET, detail=problem)
            if request.path.startswith(ADMIN_PREFIX):
                return await self.admin(self, listener, request)
            if self._stopping:
                return SHUTTING_DOWN
            self._in_flight += 1
            self._idle.clear()
            try:
                return await self._proxy(listener, request)
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()

        return handle

    async def _proxy(self, listener: Listener, request: Request) -> Answer | None:
        flow = Flow(
            listener.exchange,
            request.method,
            request.path,
            request.target,
            request.headers,
            request.body,
            listener.upstream.ws_url if request.upgrade else listener.upstream.url,
            time.time(),
            time.perf_counter(),
            upgrade=request.upgrade,
        )
        mode = self.mode
        for hook in mode.request_hooks:
            await hook(flow)
            if flow.response or flow.failure or flow.drop:
                break
        else:
            if mode.forwards:
                result = await (self.forwarder.upgrade(flow) if flow.upgrade else self.forwarder.send(flow))
                if isinstance(result, Failure):
                    flow.failure = result
                    self.counts["failed"] += 1
                else:
                    flow.response = result
                    self.counts["forwarded"] += 1
            else:
                flow.failure = Failure(
                    kinds.NOT_FORWARDED, kinds.NO_ANSWER_STATUS, f"mode {mode.name} answered nothing"
                )
        flow.latency_ms = round((time.perf_counter() - flow.started) * 1000, 3)
        for done in mode.done_hooks:
            try:
                done(flow)
            except Exception:  # the exchange already answered: the client gets that answer whatever a hook did
                self.counts["capture_failed"] += 1
                log.exception("a %s hook failed on %s %s", mode.name, flow.method, shown_url(flow.url))
        if flow.drop:
            return None  # the listener closes the connection without writing anything
        if flow.response is not None:
            if flow.response.status == 101 and flow.peer is not None:
                return self._switching(flow, mode)
            return flow.response
        assert flow.failure is not None  # every path above sets a response, a failure or drop
        return failure_answer(flow.failure)
