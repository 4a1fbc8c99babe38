"""The paper Kalshi exchange: Trade API v2 on loopback, with an admin API under /__sim/kalshi/."""

from __future__ import annotations

from aiohttp import web

from ..admin import admin_errors
from ..clock import SimClock, clock_routes
from ..faults import FaultInjector, fault_middleware
from ..feed import parse_feed_settings
from ..feed_faults import FeedFaults
from .admin import ADMIN, admin_routes
from .errors import default_fault_body
from .feed import KalshiFeed
from .feed_admin import feed_admin_routes
from .routes import SIM_KEY, kalshi_errors, public_routes
from .sim import KalshiSim

FEED_KEY = web.AppKey("kalshi_feed", KalshiFeed)

__all__ = ["FEED_KEY", "SIM_KEY", "KalshiSim", "create_kalshi_app", "default_fault_body"]


def create_kalshi_app(
    section: dict | None, clock: SimClock, faults: FaultInjector, feed_faults: FeedFaults | None = None
) -> web.Application:
    """The Kalshi listener's app; `section` is the state file's `kalshi` object (None = built-in default)."""
    sim = KalshiSim(section, clock)
    feed = KalshiFeed(sim, feed_faults or FeedFaults(), parse_feed_settings(section, "kalshi"))
    app = web.Application(middlewares=[fault_middleware(faults, "kalshi"), admin_errors(ADMIN), kalshi_errors])
    app[SIM_KEY] = sim
    app[FEED_KEY] = feed
    app.add_routes(public_routes())
    app.add_routes(feed.routes())
    app.add_routes(admin_routes())
    app.add_routes(feed_admin_routes())
    app.add_routes(clock_routes(clock))
    clock.on_advance(sim.on_clock)
    return app
