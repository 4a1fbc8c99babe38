"""Start the paper exchanges in-process: one aiohttp listener per exchange, sharing a clock and faults.

    async with Simulator() as sim:
        client = KalshiClient(base_url=sim.kalshi_url + "/trade-api/v2", ...)

The Polymarket app comes from `simulator.poly.create_poly_app`; while that module is absent the
simulator runs Kalshi only (`poly_url` is None and `poly_unavailable` says why).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from .clock import CLOCK_ADVANCE_PATH, SimClock, clock_routes
from .faults import FaultInjector, fault_middleware
from .kalshi import create_kalshi_app
from .state import StateError, load_state, split_sections

log = logging.getLogger(__name__)
StateArg = str | Path | dict | None


def resolve_state(state: StateArg) -> dict[str, dict | None]:
    """Sections from a state file path, an already-loaded mapping, or None (built-in defaults)."""
    if state is None:
        return {"kalshi": None, "poly": None}
    if isinstance(state, (str, Path)):
        return load_state(state)
    return split_sections(state)


def _poly_factory() -> tuple[Callable[..., web.Application] | None, str | None]:
    try:
        module = importlib.import_module("simulator.poly")
    except ModuleNotFoundError as exc:
        if exc.name not in ("simulator.poly",):
            raise
        return None, "simulator.poly is not installed yet"
    factory = getattr(module, "create_poly_app", None)
    if factory is None:
        return None, "simulator.poly has no create_poly_app yet"
    return factory, None


def _ensure_shared_admin(app: web.Application, clock: SimClock, faults: FaultInjector, exchange: str) -> None:
    """Give an exchange app the fault middleware and clock admin route if its module did not add them."""
    if not any(getattr(m, "sim_fault_middleware", False) for m in app.middlewares):
        app.middlewares.insert(0, fault_middleware(faults, exchange))
    paths = {r.canonical for r in app.router.resources()}
    if CLOCK_ADVANCE_PATH not in paths:
        app.add_routes(clock_routes(clock))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
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
    poly_url: str | None = None
    poly_app: web.Application | None = None
    poly_unavailable: str | None = None
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    async def stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()


async def start_simulator(state: StateArg = None, host: str = "127.0.0.1", kalshi_port: int = 0,
                          poly_port: int = 0, *, clock: SimClock | None = None,
                          faults: FaultInjector | None = None) -> RunningSimulator:
    """Start both paper exchanges (port 0 = any free port); raises StateError for a bad state file."""
    sections = resolve_state(state)
    clock = clock or SimClock()
    faults = faults or FaultInjector()
    try:
        kalshi_app = create_kalshi_app(sections["kalshi"], clock, faults)
    except StateError as exc:
        raise exc.in_file(state) if isinstance(state, (str, Path)) else exc
    factory, unavailable = _poly_factory()
    poly_app = None
    if factory is not None:
        try:
            poly_app = factory(sections["poly"], clock, faults)
        except StateError as exc:
            raise exc.in_file(state) if isinstance(state, (str, Path)) else exc
        _ensure_shared_admin(poly_app, clock, faults, "poly")
    else:
        log.warning("simulator: Polymarket not available (%s); running Kalshi only", unavailable)
    runner, kalshi_url = await _serve(kalshi_app, host, kalshi_port)
    sim = RunningSimulator(clock, faults, sections, kalshi_url, kalshi_app, poly_unavailable=unavailable,
                           _runners=[runner])
    if poly_app is not None:
        try:
            poly_runner, sim.poly_url = await _serve(poly_app, host, poly_port)
        except BaseException:
            await sim.stop()
            raise
        sim.poly_app = poly_app
        sim._runners.append(poly_runner)
    return sim


class Simulator:
    """`async with Simulator(state) as sim:` — start_simulator on enter, stop on exit."""

    def __init__(self, state: StateArg = None, host: str = "127.0.0.1", kalshi_port: int = 0, poly_port: int = 0,
                 **kwargs: Any) -> None:
        self._args = (state, host, kalshi_port, poly_port)
        self._kwargs = kwargs
        self._sim: RunningSimulator | None = None

    async def __aenter__(self) -> RunningSimulator:
        self._sim = await start_simulator(*self._args, **self._kwargs)
        return self._sim

    async def __aexit__(self, *exc: object) -> None:
        if self._sim is not None:
            await self._sim.stop()
