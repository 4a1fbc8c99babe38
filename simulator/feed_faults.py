"""Faults for the paper exchanges' WebSocket feeds, armed per listener and matched per connection or subscription.

Armed through `POST /__sim/feeds/faults` on a listener (list with GET, clear with DELETE), from the state file's
`<exchange>.feed.faults`, or in-process with `sim.feed_faults.arm_spec("kalshi", {...})`. Each fault is consumed
`times` times. Actions:

- at the upgrade: `refuse_upgrade` (answer `status` instead of switching protocols), `stall_upgrade` (hold the
  upgrade `delay_ms` before answering it);
- on outgoing frames that match (`connection` id, `channel`, `sid`, frame `kind`): `skip_seq` (Kalshi: the frame
  goes out one `seq` later, leaving a gap), `duplicate` (sent twice), `delay` (held `delay_ms` before sending; later
  frames queue behind it);
- on a connection: `drop` (the TCP connection is cut, no close frame) and `silent` (nothing more is sent, not even
  heartbeats or PONGs, for `duration_ms` or until the faults are cleared; the frames are lost). Without `kind` they
  hit the matching open connections at once; with `kind`, or when no open connection matches, the next matching frame;
A Polymarket trade that goes MATCHED -> RETRYING -> FAILED (and is reversed) is the REST fault `fail_trades` on
`POST /order` (simulator/faults.py): the user channel streams each status as the clock passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .state import StateError

UPGRADE_ACTIONS = ("refuse_upgrade", "stall_upgrade")
FRAME_ACTIONS = ("skip_seq", "duplicate", "delay")
CONNECTION_ACTIONS = ("drop", "silent")
ACTIONS = UPGRADE_ACTIONS + FRAME_ACTIONS + CONNECTION_ACTIONS
_INT_FIELDS = ("connection", "sid", "delay_ms", "duration_ms", "status", "times")


class FeedFaultError(StateError):
    """A feed fault spec that cannot be armed (admin body or state file); the message names the field."""


@dataclass
class FeedFault:
    exchange: str
    action: str
    channel: str | None = None  # Kalshi channel (orderbook_delta, fill, ...) or Polymarket market / user
    connection: int | None = None  # a connection id from GET /__sim/feeds
    sid: int | None = None  # a Kalshi subscription id
    kind: str | None = None  # frame type: Kalshi `type`, Polymarket `event_type`
    times: int = 1
    delay_ms: int = 0
    duration_ms: int | None = None
    status: int = 503

    def matches(self, connection: int | None, channel: str | None, sid: int | None, kind: str | None) -> bool:
        """Whether a frame (or connection, when kind is None) is one this fault targets; None fields match all."""
        wanted = ((self.connection, connection), (self.channel, channel), (self.sid, sid), (self.kind, kind))
        return all(want is None or want == got for want, got in wanted)

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and k != "exchange"}


def parse_feed_fault(exchange: str, spec: Any, where: str = "fault") -> FeedFault:
    """A FeedFault from an admin body or state-file entry."""
    if not isinstance(spec, dict):
        raise FeedFaultError(where, "must be a JSON object")
    unknown = sorted(set(spec) - {"action", "channel", "kind", *_INT_FIELDS})
    if unknown:
        raise FeedFaultError(where, f"unknown field(s) {', '.join(unknown)}")
    if spec.get("action") not in ACTIONS:
        raise FeedFaultError(f"{where}.action", f"must be one of {', '.join(ACTIONS)}")
    for name in ("channel", "kind"):
        if spec.get(name) is not None and not isinstance(spec[name], str):
            raise FeedFaultError(f"{where}.{name}", "must be a string")
    for name in _INT_FIELDS:
        value = spec.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise FeedFaultError(f"{where}.{name}", "must be an integer >= 0")
    if spec.get("times", 1) < 1:
        raise FeedFaultError(f"{where}.times", "must be >= 1")
    status = spec.get("status", 503)
    if not 400 <= status <= 599:
        raise FeedFaultError(f"{where}.status", "must be an HTTP error status (400-599)")
    return FeedFault(exchange, **spec)


class FeedFaults:
    """The armed feed faults of every listener."""

    def __init__(self) -> None:
        self._faults: list[FeedFault] = []
        self._lasting: list[FeedFault] = []  # used up, but in force until cleared (silent without duration)
        self._watchers: dict[str, list[Callable[[FeedFault], None]]] = {}

    def watch(self, exchange: str, watcher: Callable[[FeedFault], None]) -> None:
        """Call `watcher(fault)` whenever a fault for `exchange` is armed (a listener's feed applies drop/silent)."""
        self._watchers.setdefault(exchange, []).append(watcher)

    def arm(self, fault: FeedFault) -> FeedFault:
        self._faults.append(fault)
        for watcher in self._watchers.get(fault.exchange, []):
            watcher(fault)
        return fault

    def arm_spec(self, exchange: str, spec: dict[str, Any]) -> FeedFault:
        """Arm from a spec as the admin API takes it: `arm_spec("kalshi", {"action": "skip_seq"})`."""
        return self.arm(parse_feed_fault(exchange, spec))

    def arm_all(self, exchange: str, specs: Iterable[Any], where: str) -> None:
        for i, spec in enumerate(specs):
            self.arm(parse_feed_fault(exchange, spec, f"{where}[{i}]"))

    def clear(self, exchange: str | None = None) -> None:
        self._faults = [f for f in self._faults if exchange is not None and f.exchange != exchange]
        self._lasting = [f for f in self._lasting if exchange is not None and f.exchange != exchange]

    def armed(self, exchange: str) -> list[FeedFault]:
        return [f for f in self._faults if f.exchange == exchange]

    def active(self, fault: FeedFault) -> bool:
        """Whether `fault` is still in force (a `silent` without duration lasts until cleared)."""
        return any(f is fault for f in self._faults + self._lasting)

    def take(
        self,
        exchange: str,
        actions: tuple[str, ...],
        connection: int | None = None,
        channel: str | None = None,
        sid: int | None = None,
        kind: str | None = None,
    ) -> FeedFault | None:
        """The first armed fault with one of `actions` that matches, counting one use of it."""
        for fault in self._faults:
            if fault.exchange == exchange and fault.action in actions and fault.matches(connection, channel, sid, kind):
                self.use(fault)
                return fault
        return None

    def use(self, fault: FeedFault) -> None:
        fault.times -= 1
        if fault.times == 0:
            self._faults.remove(fault)
            if fault.action == "silent" and fault.duration_ms is None:
                self._lasting.append(fault)
