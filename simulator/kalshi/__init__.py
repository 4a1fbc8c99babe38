"""The paper Kalshi exchange: Trade API v2 on loopback, with an admin API under /__sim/kalshi/."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.admin import admin_errors
from simulator.clock import SimClock, clock_routes
from simulator.faults import FaultInjector, fault_middleware
from simulator.feed import parse_feed_settings
from simulator.feed_faults import FeedFaults
from simulator.kalshi.admin import ADMIN, admin_routes
from simulator.kalshi.errors import default_fault_body
from simulator.kalshi.exchange import KalshiSim
from simulator.kalshi.feed import KalshiFeed
from simulator.kalshi.feed_admin import feed_admin_routes
from simulator.kalshi.routes import EXCHANGE, kalshi_errors, routes

FEED = web.AppKey("kalshi_feed", KalshiFeed)

__all__ = ["EXCHANGE", "FEED", "create_kalshi_app", "default_fault_body"]


def create_kalshi_app(
    section: dict[str, Any] | None, clock: SimClock, faults: FaultInjector, feed_faults: FeedFaults | None = None
) -> web.Application:
    """The Kalshi listener's app from the state file's `kalshi` section (None: the built-in default)."""
    exchange = KalshiSim(section, clock)
    clock.on_advance(exchange.on_clock)
    feed = KalshiFeed(exchange, feed_faults or FeedFaults(), parse_feed_settings(section, "kalshi"))
    app = web.Application(middlewares=[fault_middleware(faults, "kalshi", clock), admin_errors(ADMIN), kalshi_errors])
    app[EXCHANGE] = exchange
    app[FEED] = feed
    app.add_routes(routes)
    app.add_routes(feed.routes())
    app.add_routes(admin_routes)
    app.add_routes(feed_admin_routes)
    app.add_routes(clock_routes(clock))
    return app
