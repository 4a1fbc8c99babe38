"""The replay addon: answers from recordings, in recorded order, and never lets a request go upstream.

The k-th request with a given key gets the k-th recording with that key. Everything that cannot be
answered from the recordings (unmatched, exhausted, out of order) gets a 599 marked as the proxy's own
answer, with the closest recordings and what differs: never a plausible exchange answer.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multidict import CIMultiDict

from proxy.engine.flow import Flow
from proxy.engine.mode import Mode
from proxy.exchanges import ConfigError
from proxy.replay.connection import ReplayConnection, shown_payload
from proxy.replay.correlate import Correlation
from proxy.replay.filter_hint import outside_filters
from proxy.replay.match import MatchKey, body_differences, describe, differences, distance, key_of, parse_body
from proxy.replay.messages import RecordedMessage
from proxy.replay.miss_summary import clipped, explanation, message_summary, summary
from proxy.replay.pacing import CLIENT_ACT, REPLAY_ACT, Clock, Gate, Step, check_pacing
from proxy.replay.sources import Loaded, Recording, load_sources
from proxy.replay.stand_ins import owner
from proxy.replay.volatile import Volatile, message_volatile
from proxy.tape.redact import redact_body
from proxy.tape.secrets import Credentials, is_form, redact_pairs
from proxy.wire.answers import Answer, tradetape_answer
from proxy.wire.websocket import CLIENT, EXCHANGE, Message, accept_for, switching_head
from tapecontract import BAD_REQUEST, ERROR_FIELD, EXHAUSTED, NO_ANSWER_STATUS, OUT_OF_ORDER, UNMATCHED

ON_EXHAUSTED = ("error", "repeat-last")
MAX_CANDIDATES = 3

Latency = Callable[[Recording], float]  # seconds to wait before answering


def parse_latency(spec: str, flag: str = "--latency") -> Latency:
    """none | recorded | scale:F | fixed:MS"""
    name, _, arg = spec.partition(":")
    try:
        if name == "none" and not arg:
            return lambda rec: 0.0
        if name == "recorded" and not arg:
            return lambda rec: (rec.latency_ms or 0.0) / 1000
        if name == "scale" and float(arg) >= 0:
            factor = float(arg)
            return lambda rec: (rec.latency_ms or 0.0) * factor / 1000
        if name == "fixed" and float(arg) >= 0:
            seconds = float(arg) / 1000
            return lambda rec: seconds
    except ValueError:
        pass
    raise ConfigError(f"{flag}: {spec!r} is not one of none, recorded, scale:FACTOR, fixed:MILLISECONDS")


@dataclass(frozen=True)
class ReplayOptions:
    on_exhausted: str = "error"
    strict_order: bool = False
    latency: str = "none"
    pacing: str = "causal"  # WebSocket messages (and REST answers among them): causal, timed or fast
    speed: float = 1.0  # timed pacing: recorded offsets divided by this
    causal_timeout: float = 5.0  # causal pacing: how long a REST answer waits for the WebSocket events before it
    step: bool = False  # start in step mode: each exchange message waits for POST /__tradetape/ws/step

    def __post_init__(self) -> None:
        if self.on_exhausted not in ON_EXHAUSTED:
            raise ConfigError(f"--on-exhausted: {self.on_exhausted!r} is not one of {', '.join(ON_EXHAUSTED)}")
        parse_latency(self.latency)
        check_pacing(self.pacing, self.speed, self.causal_timeout)


class _Queue:
    """The recordings that share one key, in serving order."""

    __slots__ = ("key", "recordings", "served")

    def __init__(self, key: MatchKey) -> None:
        self.key = key
        self.recordings: list[Recording] = []
        self.served = 0

    def peek(self) -> Recording | None:
        return self.recordings[self.served] if self.served < len(self.recordings) else None


class Replayer:
    """Replay addon (request hook): sets flow.response, flow.failure or flow.drop for every request."""

    def __init__(
        self,
        loaded: Loaded,
        volatile: dict[str, Volatile],
        options: ReplayOptions,
        counts: Any,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.loaded = loaded
        self.volatile = volatile
        self.options = options
        self.counts = counts
        self.sleep = sleep
        self.latency = parse_latency(options.latency)
        self.correlation = Correlation()
        self.queues: dict[MatchKey, _Queue] = {}
        self.by_exchange: dict[str, list[_Queue]] = {}
        self.order: dict[str, list[Recording]] = {}  # per exchange, for --strict-order
        for rec in loaded.recordings:
            queue = self.queues.get(rec.key)
            if queue is None:
                queue = self.queues[rec.key] = _Queue(rec.key)
                self.by_exchange.setdefault(rec.key.exchange, []).append(queue)
            queue.recordings.append(rec)
            self.order.setdefault(rec.key.exchange, []).append(rec)
        self.next_in_order: dict[str, int] = {}
        self.unmatched: list[dict[str, Any]] = []
        # the live client's credentials, learned when a miss is reported: a report (admin status, shutdown
        # summary, the 599 body) never shows one, under whatever name it travels
        self.credentials = Credentials()
        # WebSocket: the volatile fields of client messages, the causal clock of each source, the connections
        self.message_volatile = message_volatile(volatile)
        self.gate = Gate(options.step)
        self.clocks: dict[str, Clock] = {}
        self.rest_steps: dict[Recording, tuple[Clock, Step | None, Step]] = {}
        self.messages_steps: dict[Recording, dict[int, Step]] = {}
        if options.pacing == "causal":
            self._build_clocks()
        self.connections: list[ReplayConnection] = []  # every connection served, open or not
        self.causal_waits: list[str] = []

    def reset(self) -> None:
        """Rewind: every recording unserved, no correlation, no unmatched requests; open WebSocket
        connections are closed (going away), since what they were replaying starts over."""
        for queue in self.queues.values():
            queue.served = 0
        self.next_in_order.clear()
        self.correlation.clear()
        self.unmatched.clear()
        for connection in self.connections:
            connection.clock, connection.steps = None, {}  # what it still does is not on the new clock
            connection.close()
        self.connections.clear()
        for clock in self.clocks.values():
            clock.reset()
        self.causal_waits.clear()

    # ---- the request path -------------------------------------------------------------------

    async def request(self, flow: Flow) -> None:
        path, _, query = flow.path_qs.partition("?")
        body = parse_body(flow.body)
        live: dict[str, Any] = {}
        volatile = self.volatile[flow.exchange]
        volatile.strip_request(body, live)  # before correlation rewrites them: learn() needs live values
        if self.correlation:
            path, query, body = self.correlation.request(path, query, body)
        key = key_of(flow.exchange, flow.method, path, query, body, volatile)
        queue = self.queues.get(key)
        if queue is None:
            outside = outside_filters(flow.exchange, flow.path, self.loaded.filters)
            detail = outside.pop("detail") if outside else None
            return self._miss(flow, UNMATCHED, key, self._closest(key), detail, outside)
        rec = queue.peek()
        again = rec is None  # repeat-last serves a recording a second time: nothing is waited for then
        if rec is None:
            if self.options.on_exhausted != "repeat-last":
                return self._miss(flow, EXHAUSTED, key, [self._candidate(key, queue.recordings[-1])])
            rec = queue.recordings[-1]
        elif self.options.strict_order:
            expected = self._expected(key.exchange)
            if rec is not expected:
                return self._miss(
                    flow,
                    OUT_OF_ORDER,
                    key,
                    [self._candidate(key, expected)] if expected else [],
                    f"next recorded {key.exchange} request is {expected.name if expected else 'none'}",
                )
            self.next_in_order[key.exchange] = self.next_in_order.get(key.exchange, 0) + 1
            queue.served += 1
        else:
            queue.served += 1
        self.correlation.learn(rec.volatile, live)
        self.counts["replayed"] += 1
        if rec.messages is not None and not flow.upgrade:
            return self._miss(flow, UNMATCHED, key, [], f"{rec.name} is a WebSocket connection; ask to upgrade")
        if not again and rec in self.rest_steps:
            await self._causal_turn(rec)
        delay = self.latency(rec)
        if delay > 0:
            await self.sleep(delay)
        self._answer(flow, rec)

    async def _causal_turn(self, rec: Recording) -> None:
        """The request happened; its answer waits (bounded) for the WebSocket events recorded before it."""
        clock, request, answer = self.rest_steps[rec]
        if request is not None:
            clock.happen(request)
        held = await clock.answer_turn(answer, self.options.causal_timeout)
        if held is not None:
            self.causal_waits.append(
                f"{rec.name}: answered after waiting {self.options.causal_timeout:g} s for {held.label}"
            )
        if rec.messages is None:  # a 101's turn is taken once it is written (ReplayConnection.attach)
            asyncio.get_running_loop().call_soon(clock.happen, answer)  # after the answer is written

    def _answer(self, flow: Flow, rec: Recording) -> None:
        if rec.messages is not None:
            self._switch(flow, rec)
        elif rec.dropped:
            flow.drop = True
        elif rec.failure is not None:
            flow.failure = rec.failure
        elif (rec.mentions or rec.header_mentions) and self.correlation.live_of:
            headers = self.correlation.headers(rec.headers, rec.header_mentions)
            flow.response = Answer(
                rec.status,
                headers,
                self.correlation.body(rec.body, rec.mentions),
                head=rec.head if headers is rec.headers else None,
            )
        else:
            flow.response = Answer(rec.status, rec.headers, rec.body, head=rec.head)
        if rec.owner_fallback is not None and flow.response is not None:
            flow.response.body = owner(flow.response.body, flow.headers, flow.exchange, rec.owner_fallback)
        flow.notes["replayed"] = rec.name

    # ---- WebSocket ----------------------------------------------------------------------------

    def _switch(self, flow: Flow, rec: Recording) -> None:
        """A recorded connection: its 101 (accepting the live key), then a ReplayConnection serves it."""
        key = flow.headers.get("Sec-WebSocket-Key")
        if not key:
            flow.response = tradetape_answer(400, BAD_REQUEST, detail="a WebSocket upgrade needs Sec-WebSocket-Key")
            return
        headers = CIMultiDict(rec.headers)
        headers["Sec-WebSocket-Accept"] = accept_for(key)
        flow.response = Answer(101, headers, b"", head=switching_head(None, headers))
        clock = self.clocks.get(rec.source)
        flow.peer = ReplayConnection(self, rec, len(self.connections) + 1, clock)
        flow.notes["replayed"] = rec.name

    def _build_clocks(self) -> None:
        """causal pacing: one clock per source that recorded WebSocket connections (see replay/pacing.py)."""
        by_source: dict[str, list[Recording]] = {}
        for rec in self.loaded.recordings:
            by_source.setdefault(rec.source, []).append(rec)
        for source, recordings in by_source.items():
            if not any(rec.messages is not None for rec in recordings):
                continue
            steps: list[Step] = []
            answers: list[tuple[Recording, Step | None, Step]] = []
            for rec in recordings:
                websocket = rec.messages is not None
                request = None
                if rec.sent_after is not None:
                    label = f"seq {rec.sent_after}+: the request of {rec.name}"
                    request = Step(rec.sent_after + 0.5, CLIENT_ACT, websocket, label)
                    steps.append(request)
                answer = Step(rec.seq, REPLAY_ACT, websocket, f"seq {rec.seq}: the answer of {rec.name}")
                steps.append(answer)
                answers.append((rec, request, answer))
                if websocket:
                    self.messages_steps[rec] = self._message_steps(rec, steps)
            clock = self.clocks[source] = Clock(steps, self.gate)
            for rec, request, answer in answers:
                self.rest_steps[rec] = (clock, request, answer)

    def _message_steps(self, rec: Recording, steps: list[Step]) -> dict[int, Step]:
        out = {}
        for message in rec.messages or ():
            if message.keepalive or (message.sender == CLIENT and message.key is None and message.kind != "close"):
                continue
            label = f"seq {message.seq}: {message.sender} {message.kind} on {rec.name}"
            step = Step(message.seq, CLIENT_ACT if message.sender == CLIENT else REPLAY_ACT, True, label)
            step.frame = message.sender == EXCHANGE
            out[message.seq] = step
            steps.append(step)
        return out

    def message_steps(self, rec: Recording) -> dict[int, Step]:
        return self.messages_steps.get(rec, {})

    def answer_step(self, rec: Recording) -> Step | None:
        steps = self.rest_steps.get(rec)
        return steps[2] if steps else None

    def opened(self, connection: ReplayConnection) -> None:
        self.connections.append(connection)

    def closed(self, connection: ReplayConnection) -> None:
        """A replayed connection ended (it stays listed: its unsent messages are reported)."""

    def message_miss(
        self, connection: ReplayConnection, message: Message, key: bytes, candidates: list[RecordedMessage]
    ) -> None:
        """A client message no recording matches: reported like an unmatched request (the connection closes)."""
        name = f"{connection.rec.source}/{connection.rec.frames_file}"
        shown = [
            {"frames": name, "seq": m.seq, "differs": body_differences(key, m.key or b"")}
            for m in candidates[:MAX_CANDIDATES]
        ]
        kind = UNMATCHED if candidates else EXHAUSTED
        line, lines = message_summary(
            kind, message.kind, connection.exchange, connection.path, connection.number, shown
        )
        found: list[Any] = list(connection.secrets.values())
        entry = {
            "exchange": connection.exchange,
            ERROR_FIELD: kind,
            "summary": line,
            "explanation": lines,
            "message": {
                "connection": connection.number,
                "path": connection.path,
                "kind": message.kind,
                "payload": shown_payload(message, found),
            },
            "candidates": clipped(shown),
        }
        self.credentials.learn(found)
        self.unmatched.append(self.credentials.scrub_value(entry))
        self.counts["unmatched"] += 1

    def inject(self, exchange: str, message: Message, path: str | None, number: int | None) -> list[int]:
        """Send `message` on the open connections of `exchange` (only `path`, only connection `number`)."""
        chosen = [
            c
            for c in self.connections
            if not c.lost and c.exchange == exchange and path in (None, c.path) and number in (None, c.number)
        ]
        for connection in chosen:
            connection.inject(message)
        return [c.number for c in chosen]

    def step(self, count: int) -> None:
        """Step mode: let `count` more exchange messages go (turning step mode on)."""
        self.gate.step(count)
        for connection in self.connections:
            connection.step_released()

    def run_free(self) -> None:
        self.gate.free()
        for connection in self.connections:
            connection.step_released()

    def _expected(self, exchange: str) -> Recording | None:
        recordings = self.order.get(exchange, [])
        index = self.next_in_order.get(exchange, 0)
        return recordings[index] if index < len(recordings) else None

    # ---- misses -----------------------------------------------------------------------------

    def _candidate(self, key: MatchKey, rec: Recording) -> dict[str, Any]:
        queue = self.queues[rec.key]
        consumed = rec in queue.recordings[: queue.served]
        differs: Any = differences(key, rec.key) or "already consumed"
        return {"fixture": rec.name, "seq": rec.seq, "differs": differs, "consumed": consumed}

    def _closest(self, key: MatchKey) -> list[dict[str, Any]]:
        queues = heapq.nsmallest(
            MAX_CANDIDATES,
            self.by_exchange.get(key.exchange, []),
            key=lambda q: (distance(key, q.key), q.peek() is None),
        )
        return [self._candidate(key, q.peek() or q.recordings[-1]) for q in queues]

    def _miss(
        self,
        flow: Flow,
        kind: str,
        key: MatchKey,
        candidates: list[dict[str, Any]],
        detail: str | None = None,
        outside_filter: dict[str, Any] | None = None,
    ) -> None:
        path, _, query = flow.path_qs.partition("?")
        body = parse_body(flow.body)
        found: list[Any] = []
        if type(body) is bytes:
            body = body.decode("utf-8", "replace")
            body = redact_pairs(body, found) if is_form(body) else body
        request = {
            "method": flow.method,
            "path": path,
            "query": redact_pairs(query, found),
            "body": redact_body(body, found) if isinstance(body, (dict, list)) else body,
        }
        self.credentials.learn_headers(flow.headers)
        self.credentials.learn(found)
        detail = (
            detail
            or {
                UNMATCHED: "no recording matches this request",
                EXHAUSTED: "every recording of this request has been served",
            }[kind]
        )
        line = summary(kind, flow.exchange, flow.method, path, query, candidates, detail, outside_filter)
        report = self.credentials.scrub_value(
            {
                "summary": line,
                "detail": detail,
                "explanation": explanation(detail, candidates),
                "request": clipped(request),
                "candidates": clipped(candidates),
                **({"outside_capture_filter": outside_filter} if outside_filter else {}),
            }
        )
        self.unmatched.append({"exchange": flow.exchange, ERROR_FIELD: kind, **report})
        self.counts["unmatched"] += 1
        flow.response = tradetape_answer(NO_ANSWER_STATUS, kind, **report)

    # ---- reporting --------------------------------------------------------------------------

    def unused(self) -> list[str]:
        return [rec.name for queue in self.queues.values() for rec in queue.recordings[queue.served :]]

    def problems(self, allow_unused: bool = False, limit: int = 50) -> list[str]:
        """Each unmatched request or client message (its summary, then what differed), then each unused fixture
        and each connection that left recorded messages unconsumed (at most `limit` of each, then a count)."""
        lines = []
        if self.unmatched:
            lines.append(f"unmatched requests ({len(self.unmatched)}):")
            for miss in self.unmatched[:limit]:
                lines.append(f"  {miss['summary']}")
                lines += [f"      {line}" for line in miss["explanation"]]
            lines += [f"  ... and {len(self.unmatched) - limit} more"] if len(self.unmatched) > limit else []
        for title, names in (("unused fixtures", self.unused()), ("unconsumed messages", self.unconsumed())):
            if names and not allow_unused:
                lines.append(f"{title} ({len(names)}):")
                lines += [f"  {name}" for name in names[:limit]]
                lines += [f"  ... and {len(names) - limit} more"] if len(names) > limit else []
        return lines

    def unconsumed(self) -> list[str]:
        """Per replayed connection: the exchange messages it never sent and the client messages it never saw."""
        out = []
        for connection in self.connections:
            unsent, unseen = connection.unconsumed()
            name = f"{connection.rec.source}/{connection.rec.frames_file} (connection {connection.number})"
            if unsent:
                out.append(f"{name}: {len(unsent)} exchange messages never sent, from seq {unsent[0].seq}")
            if unseen:
                out.append(f"{name}: {len(unseen)} recorded client messages never received, from seq {unseen[0].seq}")
        return out

    def status(self) -> dict[str, Any]:
        return {
            "sources": self.loaded.sources,
            "warnings": self.loaded.warnings,
            "replay": {
                "on_exhausted": self.options.on_exhausted,
                "strict_order": self.options.strict_order,
                "latency": self.options.latency,
            },
            "keys": [
                {
                    **describe(q.key),
                    "consumed": min(q.served, len(q.recordings)),
                    "remaining": max(len(q.recordings) - q.served, 0),
                }
                for q in self.queues.values()
            ],
            "correlated": dict(self.correlation.live_of),
            "unmatched": self.unmatched,
            "unused": self.unused(),
            "websocket": {
                "pacing": self.options.pacing,
                "step": {"on": self.gate.on, "allowed": self.gate.allowed},
                "connections": [c.status() for c in self.connections],
                "clocks": {source: clock.status() for source, clock in self.clocks.items()},
                "causal_waits": self.causal_waits,
                "unconsumed": self.unconsumed(),
            },
        }


def find_replayer(mode: Mode) -> Replayer | None:
    return next((a for a in mode.addons if isinstance(a, Replayer)), None)


def replay_mode(
    sources: list[str],
    fixtures_dir: Path,
    volatile: dict[str, Volatile],
    options: ReplayOptions,
    counts: Any,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Mode:
    """Load every source (raising FixtureError/SourceError before anything is served) into a replay Mode."""
    loaded = load_sources(sources, fixtures_dir, volatile)
    return Mode("replay", forwards=False, addons=[Replayer(loaded, volatile, options, counts, sleep)])


def replay_factory(
    sources: list[str], fixtures_dir: Path, volatile: dict[str, Volatile], options: ReplayOptions, counts: Any
) -> Callable[[dict[str, Any]], Mode]:
    """For Proxy.mode_factories: options may replace `sources`."""

    def make(request: dict[str, Any]) -> Mode:
        chosen = request.get("sources", sources)
        if not isinstance(chosen, list) or not all(isinstance(s, str) for s in chosen) or not chosen:
            raise ConfigError("sources: expected a non-empty list of session directories, files or scenario names")
        return replay_mode(chosen, fixtures_dir, volatile, options, counts)

    return make
