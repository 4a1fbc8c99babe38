"""When a replay releases a recorded WebSocket frame or REST answer: the causal clock, and the other pacings.

Every recorded event sits on its session's one clock (fixture and frame seq numbers come from one counter, and
each request notes the last seq taken before it arrived). `causal` pacing (the default) walks that order:

- an exchange frame is released only once everything recorded before it has happened live: the client's
  requests and frames (matched as they arrive), the replay's answers and the frames before it;
- a REST answer (a 101 too) waits until every WebSocket event recorded before it has happened, at most
  `causal_timeout` seconds (then it is answered anyway, and the wait is reported): the fill frame that came before
  the order's answer goes out before that answer;
- REST answers never wait for other REST answers: the client's requests decide that order, as without frames.

The same client against the same recording therefore sees the same events in the same order every run, with no
sleeps. `timed` sends each connection's frames at their recorded offsets from its 101 (divided by `speed`) and
`fast` as fast as the client reads; neither waits for anything the client does. Each source of a composed replay
has its own clock. Step mode (any pacing) holds every exchange frame until `step()` lets it go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from proxy.exchanges import ConfigError

PACINGS = ("causal", "timed", "fast")
CLIENT_ACT = "client"  # the live client does it: a request, an upgrade, a frame, a close
REPLAY_ACT = "replay"  # the replay does it: an answer, an exchange frame


def check_pacing(pacing: str, speed: float, causal_timeout: float) -> None:
    if pacing not in PACINGS:
        raise ConfigError(f"--ws-pacing: {pacing!r} is not one of {', '.join(PACINGS)}")
    if not speed > 0:
        raise ConfigError(f"--speed: {speed} is not a positive number")
    if not causal_timeout >= 0:
        raise ConfigError(f"--causal-timeout: {causal_timeout} is not a number of seconds >= 0")


@dataclass(eq=False, slots=True)
class Step:
    """One recorded event on a source's clock."""

    seq: float  # place on the clock (a request sits half a step after the seq taken before it arrived)
    actor: str  # CLIENT_ACT or REPLAY_ACT
    websocket: bool  # a WebSocket event: REST answers wait only for these
    label: str  # for reports: "seq 12: exchange text on kalshi /trade-api/ws/v2 #1"
    frame: bool = False  # an exchange frame: released by its connection through `send`
    happened: bool = False
    skipped: bool = False  # given up (its connection ended live): it no longer holds anything back
    send: Callable[[], bool] | None = None  # set while its connection is live; False: cannot send now (full buffer)
    index: int = 0


class Gate:
    """Step mode: when on, each exchange frame needs a step() to go out. Shared by the clocks of one replay."""

    def __init__(self, on: bool = False) -> None:
        self.on = on
        self.allowed = 0
        self.clocks: list[Clock] = []

    def take(self) -> bool:
        if not self.on:
            return True
        if self.allowed:
            self.allowed -= 1
            return True
        return False

    def step(self, count: int = 1) -> None:
        self.on = True
        self.allowed += count
        self.pump()

    def free(self) -> None:
        self.on, self.allowed = False, 0
        self.pump()

    def pump(self) -> None:
        for clock in self.clocks:
            clock.pump()


@dataclass(eq=False)
class Clock:
    """The causal order of one source's recording, and what has happened of it live."""

    steps: list[Step]
    gate: Gate
    frontier: int = 0  # first step not yet happened
    ws_frontier: int = 0  # first WebSocket step not yet happened
    waiting: list[tuple[Step, asyncio.Future[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps.sort(key=lambda s: s.seq)
        for index, step in enumerate(self.steps):
            step.index = index
        self.gate.clocks.append(self)

    def reset(self) -> None:
        for step in self.steps:
            step.happened = step.skipped = False
            step.send = None
        self.frontier = self.ws_frontier = 0
        for _, waiter in self.waiting:
            if not waiter.done():
                waiter.set_result(None)
        self.waiting.clear()

    def happen(self, step: Step) -> None:
        step.happened = True
        self.pump()

    def skip(self, steps: list[Step]) -> None:
        for step in steps:
            if not step.happened:
                step.happened = step.skipped = True
        self.pump()

    def pump(self) -> None:
        """Release every exchange frame whose turn has come, and every REST answer no longer held back."""
        steps = self.steps
        while True:
            while self.frontier < len(steps) and steps[self.frontier].happened:
                self.frontier += 1
            if self.frontier == len(steps):
                break
            step = steps[self.frontier]
            if not step.frame or step.send is None or not self.gate.take():
                break
            if not step.send():
                self.gate.allowed += self.gate.on  # the step is still owed
                break
            step.happened = True
        while self.ws_frontier < len(steps) and (
            steps[self.ws_frontier].happened or not steps[self.ws_frontier].websocket
        ):
            self.ws_frontier += 1
        if self.waiting:
            still = []
            for step, waiter in self.waiting:
                if self.answer_may_go(step):
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    still.append((step, waiter))
            self.waiting = still

    def answer_may_go(self, step: Step) -> bool:
        return self.ws_frontier >= step.index

    def blocker(self, step: Step | None = None) -> Step | None:
        """What holds `step` (an answer) back, or what the whole clock waits for (None: nothing)."""
        if step is not None:
            return None if self.answer_may_go(step) else self.steps[self.ws_frontier]
        return self.steps[self.frontier] if self.frontier < len(self.steps) else None

    async def answer_turn(self, step: Step, patience: float) -> Step | None:
        """Wait until `step` (a REST answer) may go; None when it may, else the step it gave up waiting for."""
        if self.answer_may_go(step):
            return None
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append((step, waiter))
        try:
            await asyncio.wait_for(waiter, patience)
        except TimeoutError:
            self.waiting = [(s, w) for s, w in self.waiting if w is not waiter]
            return self.blocker(step)
        return None

    def status(self) -> dict[str, object]:
        blocked = self.blocker()
        return {
            "events": len(self.steps),
            "happened": sum(1 for s in self.steps if s.happened and not s.skipped),
            "skipped": sum(1 for s in self.steps if s.skipped),
            "waiting_for": blocked.label if blocked is not None else None,
        }
