"""Start the paper exchanges in-process: one aiohttp listener per exchange, sharing a clock and faults.

async with Simulator() as sim:
    client = KalshiClient(base_url=sim.kalshi_url + "/trade-api/v2", ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from proxy.wire.listen_error import ListenError

from .clock import SimClock
from .faults import FaultInjector
from .feed_faults import FeedFaults
from .kalshi import create_kalshi_app
from .poly import create_poly_app
from .state import StateError, load_state, split_sections
from .state_keys import check_sections

StateArg = str | Path | dict | None


def resolve_state(state: StateArg) -> dict[str, dict | None]:
    """Sections from a state file path, an already-loaded mapping, or None (built-in defaults); a field
    nothing reads (a misspelling) is a StateError naming it."""
    if state is None:
        return {"kalshi": None, "poly": None}
    sections = load_state(state) if isinstance(state, (str, Path)) else split_sections(state)
    check_sections(sections, str(state) if isinstance(state, (str, Path)) else "state")
    return sections


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(app: web.Application, exchange: str, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve `app`; ListenError (naming the exchange and the --listen flag) when the port cannot be bound."""
    # handler_cancellation: a request held open (fault `execute_late`, answer `hold`) ends when its client
    # gives up, and stopping never waits for one; the late execution itself runs on the clock regardless.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenError(exchange, host, port, exc) from None
    bound_port = runner.addresses[0][1]
    return runner, _url(host, bound_port)


@dataclass
class RunningSimulator:
    """A started simulator: base URLs (scheme://host:port, no path), the shared clock, state and faults."""

    clock: SimClock
    faults: FaultInjector
    state: dict[str, dict | None]
    kalshi_url: str
    kalshi_app: web.Application
    poly_url: str
    poly_app: web.Application
    feed_faults: FeedFaults = field(default_factory=FeedFaults)
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    @property
    def kalshi_ws_url(self) -> str:
        """The Kalshi feed (KALSHI_WS_URL): ws://host:port/trade-api/ws/v2."""
        return "ws" + self.kalshi_url.removeprefix("http") + "/trade-api/ws/v2"

    @property
    def poly_ws_url(self) -> str:
        """The Polymarket feeds' base (POLY_WS_URL): ws://host:port/ws, to which /market and /user are added."""
        return "ws" + self.poly_url.removeprefix("http") + "/ws"

    async def stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()


async def start_simulator(
    state: StateArg = None,
    host: str = "127.0.0.1",
    kalshi_port: int = 0,
    poly_port: int = 0,
    *,
    clock: SimClock | None = None,
    faults: FaultInjector | None = None,
    feed_faults: FeedFaults | None = None,
) -> RunningSimulator:
    """Start both paper exchanges (port 0 = any free port); raises StateError for a bad state file and
    ListenError for a port that cannot be bound."""
    sections = resolve_state(state)
    clock = clock or SimClock()
    faults = faults or FaultInjector()
    feed_faults = feed_faults or FeedFaults()
    try:
        kalshi_app = create_kalshi_app(sections["kalshi"], clock, faults, feed_faults)
        poly_app = create_poly_app(sections["poly"], clock, faults, feed_faults)
    except StateError as exc:
        raise (exc.in_file(state) if isinstance(state, (str, Path)) else exc) from None
    runner, kalshi_url = await _serve(kalshi_app, "kalshi", host, kalshi_port)
    try:
        poly_runner, poly_url = await _serve(poly_app, "poly", host, poly_port)
    except BaseException:
        await runner.cleanup()
        raise
    return RunningSimulator(
        clock, faults, sections, kalshi_url, kalshi_app, poly_url, poly_app, feed_faults, [runner, poly_runner]
    )


class Simulator:
    """`async with Simulator(state) as sim:` — start_simulator on enter, stop on exit."""

    def __init__(
        self, state: StateArg = None, host: str = "127.0.0.1", kalshi_port: int = 0, poly_port: int = 0, **kwargs: Any
    ) -> None:
        self._args = (state, host, kalshi_port, poly_port)
        self._kwargs = kwargs
        self._sim: RunningSimulator | None = None

    async def __aenter__(self) -> RunningSimulator:
        self._sim = await start_simulator(*self._args, **self._kwargs)
        return self._sim

    async def __aexit__(self, *exc: object) -> None:
        if self._sim is not None:
            await self._sim.stop()
