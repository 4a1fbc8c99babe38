"""The paper Polymarket exchange: CLOB V2 on loopback, with an admin API under /__sim/poly/."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.admin import admin_errors
from simulator.clock import SimClock, clock_routes
from simulator.faults import FaultInjector, fault_middleware
from simulator.feed import parse_feed_settings
from simulator.feed_faults import FeedFaults
from simulator.poly.admin import ADMIN, admin_routes
from simulator.poly.auth import DEMO_CREDS, ApiKeys
from simulator.poly.config import parse_section
from simulator.poly.errors import default_fault_body
from simulator.poly.exchange import PolyExchange
from simulator.poly.feed import PolyFeed
from simulator.poly.feed_admin import feed_admin_routes
from simulator.poly.routes import EXCHANGE, KEYS, poly_errors, routes

FEED = web.AppKey("poly_feed", PolyFeed)

__all__ = ["EXCHANGE", "FEED", "KEYS", "create_poly_app", "default_fault_body"]


def create_poly_app(
    section: dict[str, Any] | None, clock: SimClock, faults: FaultInjector, feed_faults: FeedFaults | None = None
) -> web.Application:
    """The Polymarket listener's app from the state file's `poly` section (None: the built-in default)."""
    exchange = PolyExchange(parse_section(section), clock)
    clock.on_advance(exchange.sweep)
    keys = ApiKeys(preset=(DEMO_CREDS,))
    feed = PolyFeed(exchange, keys, feed_faults or FeedFaults(), parse_feed_settings(section, "poly"))
    app = web.Application(middlewares=[fault_middleware(faults, "poly", clock), admin_errors(ADMIN), poly_errors])
    app[EXCHANGE] = exchange
    app[KEYS] = keys
    app[FEED] = feed
    app.add_routes(routes)
    app.add_routes(feed.routes())
    app.add_routes(admin_routes)
    app.add_routes(feed_admin_routes)
    app.add_routes(clock_routes(clock))
    return app
