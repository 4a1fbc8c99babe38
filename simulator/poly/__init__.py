"""The paper Polymarket exchange: CLOB V2 on loopback, with an admin API under /__sim/poly/."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.admin import admin_errors
from simulator.clock import SimClock, clock_routes
from simulator.faults import FaultInjector, fault_middleware
from simulator.poly.admin import ADMIN, admin_routes
from simulator.poly.auth import ApiKeys
from simulator.poly.config import parse_section
from simulator.poly.errors import default_fault_body
from simulator.poly.exchange import PolyExchange
from simulator.poly.routes import EXCHANGE, KEYS, poly_errors, routes

__all__ = ["EXCHANGE", "KEYS", "create_poly_app", "default_fault_body"]


def create_poly_app(section: dict[str, Any] | None, clock: SimClock, faults: FaultInjector) -> web.Application:
    """The Polymarket listener's app from the state file's `poly` section (None: the built-in default)."""
    exchange = PolyExchange(parse_section(section), clock)
    clock.on_advance(exchange.sweep)
    app = web.Application(middlewares=[fault_middleware(faults, "poly", clock), admin_errors(ADMIN), poly_errors])
    app[EXCHANGE] = exchange
    app[KEYS] = ApiKeys()
    app.add_routes(routes)
    app.add_routes(admin_routes)
    app.add_routes(clock_routes(clock))
    return app
