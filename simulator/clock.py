"""The simulated clock both paper exchanges read, so tests can move time instead of sleeping.

It starts at real time and only moves when told to (`advance`) or when real time passes (a `source`
that stands still makes it move only when told). Exchanges register callbacks to expire orders or
move trades along when it jumps, and schedule work for a moment (`call_at`): `advance` stops the clock
at each scheduled moment on its way and runs what is due there, so the work sees its own time;
`run_due` runs what real time has made due.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

AdvanceHook = Callable[[float], "Awaitable[None] | None"]
Timer = Callable[[], Awaitable[None]]


class SimClock:
    """Real time plus an offset that `advance` grows; never goes backwards."""

    def __init__(self, start: float | None = None, *, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0 if start is None else start - source()
        self._hooks: list[AdvanceHook] = []
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """Seconds since the epoch on the simulated timeline."""
        return self._source() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def on_advance(self, hook: AdvanceHook) -> None:
        """Call `hook(now)` after every `advance` (sync or async)."""
        self._hooks.append(hook)

    def call_at(self, when: float, timer: Timer) -> None:
        """Run `timer` when the clock reaches `when` (by `advance`, or by `run_due` once real time has)."""
        heapq.heappush(self._timers, (when, next(self._order), timer))

    @property
    def pending(self) -> int:
        """Scheduled timers not run yet."""
        return len(self._timers)

    async def run_due(self) -> None:
        """Run every timer whose moment has come, earliest first (timers may schedule more)."""
        while self._timers and self._timers[0][0] <= self.now():
            await heapq.heappop(self._timers)[2]()

    async def advance(self, seconds: float) -> float:
        """Jump forward by `seconds`, stopping at each timer on the way, then run the hooks; returns the new time."""
        if seconds < 0:
            raise ValueError(f"clock advance: seconds must be >= 0, got {seconds}")
        target = self.now() + seconds
        while self._timers and self._timers[0][0] <= target:
            self._offset += max(self._timers[0][0] - self.now(), 0.0)
            await self.run_due()
        self._offset += target - self.now()
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
