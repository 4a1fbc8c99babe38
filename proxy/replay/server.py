"""A replay proxy on its own event-loop thread: for tests and tools that are not async themselves.

Loading happens in the constructor (errors name the file before anything starts); the proxy listens on
free loopback ports, so parallel test workers never collide.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from proxy.admin.routes import handle as admin_routes
from proxy.engine.proxy import Proxy, build_listeners
from proxy.exchanges import PROFILES
from proxy.exchanges.upstream import no_upstreams
from proxy.replay.replayer import Replayer, ReplayOptions, find_replayer, replay_factory
from proxy.replay.volatile import volatile_sets

T = TypeVar("T")


class ReplayServer:
    """A replay proxy on a private event-loop thread; load errors raise before anything starts."""

    def __init__(
        self,
        sources: list[str],
        fixtures_dir: Path,
        ignore_fields: tuple[str, ...] = (),
        options: ReplayOptions | None = None,
        allow_unused: bool = False,
    ) -> None:
        self.allow_unused = allow_unused
        counts: Counter[str] = Counter()
        make_replay = replay_factory(
            sources, fixtures_dir, volatile_sets(ignore_fields), options or ReplayOptions(), counts
        )
        listen = {ex: ("127.0.0.1", 0) for ex in no_upstreams()}
        self.proxy = Proxy(build_listeners(listen, no_upstreams()), make_replay({}), counts=counts, admin=admin_routes)
        self.proxy.mode_factories["replay"] = make_replay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tradetape-replay", daemon=True)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def _call(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return self._run(call())

    def start(self) -> ReplayServer:
        self._thread.start()
        self._run(self.proxy.start())
        return self

    def stop(self) -> None:
        try:
            self._run(self.proxy.stop(grace=1))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def base_url(self, exchange: str) -> str:
        """The base URL a client of `exchange` uses for this proxy (with the API prefix, as clients expect)."""
        return self.proxy.url(exchange) + PROFILES[exchange].api_prefix

    def ws_url(self, exchange: str) -> str:
        """The feed URL a client of `exchange` uses for this proxy (KALSHI_WS_URL, POLY_WS_URL)."""
        return "ws" + self.proxy.url(exchange).removeprefix("http") + PROFILES[exchange].websocket.client_path

    @property
    def kalshi_url(self) -> str:
        """KALSHI_BASE_URL for this proxy."""
        return self.base_url("kalshi")

    @property
    def poly_url(self) -> str:
        """POLY_CLOB_URL for this proxy."""
        return self.base_url("poly")

    @property
    def admin_token(self) -> str:
        """X-Tradetape-Token for this proxy's admin API (POST /__tradetape/reset, load, mode)."""
        return self.proxy.admin_token

    @property
    def replayer(self) -> Replayer:
        replayer = find_replayer(self.proxy.mode)
        if replayer is None:
            raise RuntimeError(f"the proxy is in {self.proxy.mode.name} mode, not replaying")
        return replayer

    def status(self) -> dict[str, Any]:
        """What GET /__tradetape/status reports: sources, per-key consumed/remaining, unmatched, unused."""
        return self._call(self.proxy.status)

    def reset(self) -> None:
        self._call(lambda: self.replayer.reset())

    def problems(self) -> list[str]:
        """Unmatched requests, and unused fixtures unless allow_unused: why the test fails."""
        return self._call(lambda: self.replayer.problems(self.allow_unused))
