"""Fault injection for the paper exchanges: latency, error answers, dropped connections, late
execution, lagging reads and failing trades.

Faults are armed per listener through `POST /__sim/faults` (cleared with `DELETE`), matched on
method and path (exact, or a regular expression), and consumed `times` times. The middleware
that applies them also serves that admin path, so every app that installs it gets the admin API.

Actions:
- `respond`: answer `status` with `body` (default: the exchange's real body for that status).
- `drop_before`: close the connection before the exchange sees the request.
- `delay`: wait `latency_ms` (real time), then handle the request normally.
- `act_then_drop`: let the exchange act (the order executes), then close the connection
  without sending a byte of the response: the case that makes restart recovery necessary.
- `act_then_respond`: let the exchange act, then answer `status` (a 5xx) instead of its answer.
- `act_then_garble`: let the exchange act, then send its answer damaged: `garble` `truncate` (half the
  body, framed as complete), `junk` (an HTML gateway page with the same status) or `cut` (the full
  length announced, half the body sent, the connection closed).
- `execute_late`: the exchange takes the whole request and executes it `late_ms` later on the sim
  clock, whether or not the client is still waiting (`answer` `hold`: the connection stays open
  until then; `drop`: it is closed at once). Authentication is checked against the time the request
  was received, as a gateway does.
- `lag`: the read behaves as a replica `lag_ms` behind: orders, fills and trades younger than that
  are not shown yet.
- `fail_trades` (Polymarket): the order executes normally, but its trades go MATCHED -> RETRYING ->
  FAILED as the clock passes, and the exchange reverses their fills.

Exchanges read what a fault asks of them from the request: `received_at`, `read_cutoff`,
`fails_trades`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .clock import SimClock

FAULTS_PATH = "/__sim/faults"
ACTIONS = (
    "respond",
    "drop_before",
    "act_then_drop",
    "delay",
    "act_then_respond",
    "act_then_garble",
    "execute_late",
    "lag",
    "fail_trades",
)
GARBLES = ("truncate", "junk", "cut")
ANSWERS = ("hold", "drop")
EXCHANGE_ONLY = {"fail_trades": "poly"}
RECEIVED_AT = web.RequestKey("sim_received_at", float)
READ_LAG = web.RequestKey("sim_read_lag", float)
FAIL_TRADES = web.RequestKey("sim_fail_trades", bool)
JUNK = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"

log = logging.getLogger("simulator")


class FaultSpecError(ValueError):
    """An admin fault body that cannot be armed."""


@dataclass
class Fault:
    exchange: str
    method: str
    path: str
    action: str
    latency_ms: int = 0
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    late_ms: int = 0
    answer: str = "hold"
    garble: str = "truncate"
    lag_ms: int = 0

    def matches(self, exchange: str, method: str, path: str) -> bool:
        if exchange != self.exchange or method.upper() != self.method:
            return False
        return path == self.path or re.fullmatch(self.path, path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "action": self.action,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "times": self.times,
            "late_ms": self.late_ms,
            "answer": self.answer,
            "garble": self.garble,
            "lag_ms": self.lag_ms,
        }


def parse_fault(exchange: str, spec: Any) -> Fault:
    """A Fault from an admin body, with errors naming the field."""
    if not isinstance(spec, dict):
        raise FaultSpecError("fault body must be a JSON object")
    for name in ("method", "path"):
        if not isinstance(spec.get(name), str) or not spec[name]:
            raise FaultSpecError(f"fault field {name!r} is required (a string)")
    status = spec.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise FaultSpecError("fault field 'status' must be an HTTP status code")
    action = spec.get("action") or ("respond" if status is not None else "delay")
    if action not in ACTIONS:
        raise FaultSpecError(f"fault field 'action' must be one of {', '.join(ACTIONS)}")
    if action in ("respond", "act_then_respond") and status is None:
        raise FaultSpecError(f"fault action {action!r} needs 'status'")
    if EXCHANGE_ONLY.get(action, exchange) != exchange:
        raise FaultSpecError(f"fault action {action!r} exists only on {EXCHANGE_ONLY[action]}")
    numbers = {name: spec.get(name, default) for name, default in (("latency_ms", 0), ("late_ms", 0), ("lag_ms", 0))}
    for name, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FaultSpecError(f"fault field {name!r} must be an integer >= 0")
    times = spec.get("times", 1)
    if not isinstance(times, int) or times < 1:
        raise FaultSpecError("fault field 'times' must be an integer >= 1")
    answer, garble = spec.get("answer", "hold"), spec.get("garble", "truncate")
    if answer not in ANSWERS:
        raise FaultSpecError(f"fault field 'answer' must be one of {', '.join(ANSWERS)}")
    if garble not in GARBLES:
        raise FaultSpecError(f"fault field 'garble' must be one of {', '.join(GARBLES)}")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise FaultSpecError("fault field 'headers' must be an object of strings")
    try:
        re.compile(spec["path"])
    except re.error as exc:
        raise FaultSpecError(f"fault field 'path' is not a valid regular expression: {exc}") from None
    return Fault(
        exchange,
        spec["method"].upper(),
        spec["path"],
        action,
        numbers["latency_ms"],
        status,
        spec.get("body"),
        dict(headers),
        times,
        numbers["late_ms"],
        answer,
        garble,
        numbers["lag_ms"],
    )


class FaultInjector:
    """The armed faults of all listeners; `sleep` is injectable so tests need not wait."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.sleep = sleep
        self._faults: list[Fault] = []

    def arm(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self, exchange: str | None = None) -> None:
        self._faults = [f for f in self._faults if exchange is not None and f.exchange != exchange]

    def armed(self, exchange: str) -> list[Fault]:
        return [f for f in self._faults if f.exchange == exchange]

    def take(self, exchange: str, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, counting one use of it."""
        for fault in self._faults:
            if fault.matches(exchange, method, path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None


def default_body(exchange: str, status: int) -> Any:
    """The exchange module's real body for `status` (each module offers `default_fault_body`)."""
    module = importlib.import_module(f"simulator.{exchange}")
    return module.default_fault_body(status)


def _fault_response(exchange: str, fault: Fault) -> web.Response:
    """A JSON body, or an exchange's own (content_type, bytes) such as Polymarket's text/plain 425."""
    assert fault.status is not None
    body = fault.body if fault.body is not None else default_body(exchange, fault.status)
    content_type = "application/json"
    if isinstance(body, tuple):
        content_type, data = body
    else:
        data = (body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))).encode()
    headers = {"Content-Type": content_type, **fault.headers}
    return web.Response(status=fault.status, body=data, headers=headers)


def _drop(request: web.Request) -> web.Response:
    """Close the connection; the returned response is never written (the transport is closing)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


async def _admin(request: web.Request, injector: FaultInjector, exchange: str) -> web.Response:
    if request.method == "DELETE":
        injector.clear(exchange)
        return web.json_response({"faults": []})
    if request.method == "GET":
        return web.json_response({"faults": [f.describe() for f in injector.armed(exchange)]})
    if request.method != "POST":
        return web.json_response({"sim_error": "use GET, POST or DELETE"}, status=405)
    try:
        fault = parse_fault(exchange, await request.json())
    except json.JSONDecodeError:
        return web.json_response({"sim_error": "fault body is not JSON"}, status=400)
    except FaultSpecError as exc:
        return web.json_response({"sim_error": str(exc)}, status=400)
    injector.arm(fault)
    return web.json_response({"armed": fault.describe()}, status=201)


def received_at(request: web.Request, now: float) -> float:
    """The sim time the exchange received `request` (`now` for requests the middleware did not see)."""
    return request.get(RECEIVED_AT, now)


def read_cutoff(request: web.Request, now: float) -> float | None:
    """The newest creation time a read may show under a `lag` fault, None without one."""
    lag = request.get(READ_LAG)
    return None if lag is None else now - lag


def fails_trades(request: web.Request) -> bool:
    """Whether the order in `request` is to have its trades FAIL (`fail_trades`)."""
    return request.get(FAIL_TRADES, False)


async def _act(handler: Callable, request: web.Request) -> web.StreamResponse:
    """What the exchange answers; an HTTPException is its answer too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return exc


async def _garbled(request: web.Request, answer: web.StreamResponse, how: str) -> web.StreamResponse:
    """The exchange's answer, damaged the way `how` says (see the module doc)."""
    body = answer.body if isinstance(answer, web.Response) and isinstance(answer.body, bytes) else b""
    if how == "junk":
        return web.Response(status=answer.status, body=JUNK, content_type="text/html")
    half = body[: len(body) // 2]
    if how == "truncate":
        return web.Response(status=answer.status, body=half, headers={"Content-Type": "application/json"})
    cut = web.StreamResponse(status=answer.status, headers={"Content-Type": "application/json"})
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(half)
    if request.transport is not None:
        request.transport.close()
    return cut


async def _execute_late(request: web.Request, handler: Callable, fault: Fault, clock: SimClock) -> web.StreamResponse:
    """Take the request now, execute it `late_ms` later on the sim clock, answer then (`hold`) or never."""
    await request.read()  # the exchange has all of it: it executes even if the client goes away
    answered: asyncio.Future[web.StreamResponse] = asyncio.get_running_loop().create_future()

    async def execute() -> None:
        try:
            response = await _act(handler, request)
        except Exception as exc:  # the exchange's own failure: logged, never lost silently
            log.exception("late execution of %s %s failed", request.method, request.path)
            response = web.json_response({"sim_error": f"late execution failed: {exc}"}, status=500)
        if not answered.done():
            answered.set_result(response)

    clock.call_at(clock.now() + fault.late_ms / 1000, execute)
    if fault.answer == "drop":
        return _drop(request)
    return await answered


def fault_middleware(injector: FaultInjector, exchange_name: str, clock: SimClock | None = None) -> Callable:
    """aiohttp middleware applying `injector`'s faults for `exchange_name`, and serving /__sim/faults.

    With the exchange's `clock` it also runs timers real time has made due before each request and
    stamps each request with the time it was received; `execute_late` needs it.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path == FAULTS_PATH:
            return await _admin(request, injector, exchange_name)
        if clock is not None:
            await clock.run_due()
        if request.path.startswith("/__sim/"):
            return await handler(request)
        if clock is not None:
            request[RECEIVED_AT] = clock.now()
        fault = injector.take(exchange_name, request.method, request.path)
        if fault is None:
            return await handler(request)
        if fault.latency_ms:
            await injector.sleep(fault.latency_ms / 1000)
        return await _apply(fault, request, handler, exchange_name, clock)

    return middleware


async def _apply(
    fault: Fault, request: web.Request, handler: Callable, exchange: str, clock: SimClock | None
) -> web.StreamResponse:
    if fault.action == "respond":
        return _fault_response(exchange, fault)
    if fault.action == "drop_before":
        return _drop(request)
    if fault.action == "delay":
        return await handler(request)
    if fault.action == "lag":
        request[READ_LAG] = fault.lag_ms / 1000
        return await handler(request)
    if fault.action == "fail_trades":
        request[FAIL_TRADES] = True
        return await handler(request)
    if fault.action == "execute_late":
        if clock is None:
            return web.json_response({"sim_error": "execute_late needs the exchange's clock"}, status=500)
        return await _execute_late(request, handler, fault, clock)
    answer = await _act(handler, request)  # the exchange acts (and may refuse): the rest is about the answer
    if fault.action == "act_then_respond":
        return _fault_response(exchange, fault)
    if fault.action == "act_then_garble":
        return await _garbled(request, answer, fault.garble)
    return _drop(request)
