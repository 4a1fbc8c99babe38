"""The simulated clock both paper exchanges read, so tests can move time instead of sleeping.

It starts at real time and only moves when told to (`advance`) or when real time passes; exchanges
register callbacks to expire orders or move trades along when it jumps.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

AdvanceHook = Callable[[float], "Awaitable[None] | None"]


class SimClock:
    """Real time plus an offset that `advance` grows; never goes backwards."""

    def __init__(self, start: float | None = None, *, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0 if start is None else start - source()
        self._hooks: list[AdvanceHook] = []

    def now(self) -> float:
        """Seconds since the epoch on the simulated timeline."""
        return self._source() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def on_advance(self, hook: AdvanceHook) -> None:
        """Call `hook(now)` after every `advance` (sync or async)."""
        self._hooks.append(hook)

    async def advance(self, seconds: float) -> float:
        """Jump forward by `seconds` and run the hooks; returns the new time."""
        if seconds < 0:
            raise ValueError(f"clock advance: seconds must be >= 0, got {seconds}")
        self._offset += seconds
        now = self.now()
        for hook in self._hooks:
            result = hook(now)
            if inspect.isawaitable(result):
                await result
        return now


CLOCK_ADVANCE_PATH = "/__sim/clock/advance"


def clock_routes(clock: SimClock) -> list[web.RouteDef]:
    """Admin route `POST /__sim/clock/advance {"seconds": n}` shared by every listener."""

    async def advance(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            seconds = float(body["seconds"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"sim_error": 'body must be {"seconds": number >= 0}'}, status=400)
        if seconds < 0:
            return web.json_response({"sim_error": "seconds must be >= 0"}, status=400)
        now = await clock.advance(seconds)
        return web.json_response({"now": now, "now_ms": int(now * 1000)})

    async def show(request: web.Request) -> web.Response:
        return web.json_response({"now": clock.now(), "now_ms": clock.now_ms()})

    return [web.post(CLOCK_ADVANCE_PATH, advance), web.get("/__sim/clock", show)]
