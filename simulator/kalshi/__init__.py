"""The paper Kalshi exchange: Trade API v2 on loopback, with an admin API under /__sim/kalshi/."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.admin import admin_errors
from simulator.clock import SimClock, clock_routes
from simulator.faults import FaultInjector, fault_middleware
from simulator.kalshi.admin import ADMIN, admin_routes
from simulator.kalshi.errors import default_fault_body
from simulator.kalshi.exchange import KalshiSim
from simulator.kalshi.routes import EXCHANGE, kalshi_errors, routes

__all__ = ["EXCHANGE", "create_kalshi_app", "default_fault_body"]


def create_kalshi_app(section: dict[str, Any] | None, clock: SimClock, faults: FaultInjector) -> web.Application:
    """The Kalshi listener's app from the state file's `kalshi` section (None: the built-in default)."""
    exchange = KalshiSim(section, clock)
    clock.on_advance(exchange.on_clock)
    app = web.Application(middlewares=[fault_middleware(faults, "kalshi", clock), admin_errors(ADMIN), kalshi_errors])
    app[EXCHANGE] = exchange
    app.add_routes(routes)
    app.add_routes(admin_routes)
    app.add_routes(clock_routes(clock))
    return app
