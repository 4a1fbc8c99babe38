"""Fault injection for the paper exchanges: latency, error answers and dropped connections.

Faults are armed per listener through `POST /__sim/faults` (cleared with `DELETE`), matched on
method and path (exact, or a regular expression), and consumed `times` times. The middleware
that applies them also serves that admin path, so every app that installs it gets the admin API.

Actions:
- `respond`: answer `status` with `body` (default: the exchange's real body for that status).
- `drop_before`: close the connection before the exchange sees the request.
- `act_then_drop`: let the exchange act (the order executes), then close the connection
  without sending a byte of the response: the case that makes restart recovery necessary.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAULTS_PATH = "/__sim/faults"
ACTIONS = ("respond", "drop_before", "act_then_drop", "delay")


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
    if action == "respond" and status is None:
        raise FaultSpecError("fault action 'respond' needs 'status'")
    latency, times = spec.get("latency_ms", 0), spec.get("times", 1)
    if not isinstance(latency, int) or latency < 0:
        raise FaultSpecError("fault field 'latency_ms' must be an integer >= 0")
    if not isinstance(times, int) or times < 1:
        raise FaultSpecError("fault field 'times' must be an integer >= 1")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise FaultSpecError("fault field 'headers' must be an object of strings")
    try:
        re.compile(spec["path"])
    except re.error as exc:
        raise FaultSpecError(f"fault field 'path' is not a valid regular expression: {exc}") from None
    return Fault(
        exchange, spec["method"].upper(), spec["path"], action, latency, status, spec.get("body"), dict(headers), times
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


def fault_middleware(injector: FaultInjector, exchange_name: str) -> Callable:
    """aiohttp middleware applying `injector`'s faults for `exchange_name`, and serving /__sim/faults."""

    @web.middleware
    async def middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path == FAULTS_PATH:
            return await _admin(request, injector, exchange_name)
        if request.path.startswith("/__sim/"):
            return await handler(request)
        fault = injector.take(exchange_name, request.method, request.path)
        if fault is None:
            return await handler(request)
        if fault.latency_ms:
            await injector.sleep(fault.latency_ms / 1000)
        if fault.action == "respond":
            return _fault_response(exchange_name, fault)
        if fault.action == "drop_before":
            return _drop(request)
        if fault.action == "delay":
            return await handler(request)
        with contextlib.suppress(web.HTTPException):  # it refused: the client still sees only a dropped connection
            await handler(request)
        return _drop(request)

    return middleware
