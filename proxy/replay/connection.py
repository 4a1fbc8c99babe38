"""A replayed WebSocket connection: the recorded 101, then the recorded exchange messages, paced, while the
client's messages are matched against the recorded ones like REST bodies.

The replay stands in for the exchange (a `websockets` server protocol frames and parses): it answers pings and
the profile's text keepalive itself, echoes the client's close, and closes with 1008 (policy violation) on a
client message no recording matches, after reporting it like an unmatched request. Exchange messages carry the
live ids (correlation) and, for a command id the client numbered differently, the live id where the reply
echoes it. A recorded drop replays as a dropped connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from proxy.exchanges import PROFILES
from proxy.replay.messages import RecordedMessage, message_key
from proxy.replay.pacing import Clock, Step
from proxy.tape.frames import follow, list_index, pointer_steps
from proxy.tape.redact import redact_body
from proxy.wire.websocket import CLIENT, EXCHANGE, POLICY_VIOLATION, Message, ServerEnd, WebSocketError

if TYPE_CHECKING:
    from proxy.replay.replayer import Replayer
    from proxy.replay.sources import Recording

log = logging.getLogger("tradetape.replay")
GOING_AWAY = 1001
FLUSH_EVERY = 256
LONG_WAIT = 60.0  # seconds: a timed replay warns once per connection before a wait longer than this (a stall?)


class ReplayConnection(asyncio.Protocol):
    """One live client connection served from one recorded connection."""

    def __init__(self, replayer: Replayer, rec: Recording, number: int, clock: Clock | None) -> None:
        self.replayer = replayer
        self.rec = rec
        self.number = number  # its place among the replay's connections, for status and inject
        self.clock = clock
        self.exchange = rec.key.exchange
        self.path = rec.key.path
        self.end = ServerEnd()
        self.transport: asyncio.Transport | None = None
        self.ended: Callable[[Any], None] | None = None
        messages = rec.messages or []
        self.outgoing = [m for m in messages if m.sender == EXCHANGE and not m.keepalive]
        self.expected = [m for m in messages if m.sender == CLIENT and m.key is not None]  # data messages
        self.closes = [m for m in messages if m.sender == CLIENT and m.kind in ("close", "drop")]
        self.delivered: set[int] = set()  # seq of the exchange messages sent
        self.cursor = 0  # fast and timed pacing: the next of `outgoing` to send
        self.matched: set[int] = set()  # seq of the recorded client messages matched
        self.echo: dict[str, dict[Any, Any]] = {}  # volatile pointer -> {recorded value: live value}
        self.secrets: dict[str, str] = {}  # pointer in a client message -> the live client's secret there
        self.steps: dict[int, Step] = replayer.message_steps(rec) if clock is not None else {}
        self.paused = False
        self.lost = False
        self._task: asyncio.Task[None] | None = None
        self._unflushed = 0  # exchange messages framed but not yet written
        self._wake = asyncio.Event()  # timed pacing: the client reads again, or step mode let a message go
        answers = dict(PROFILES[self.exchange].websocket.keepalive)
        self.keepalive = {k.encode(): v.encode() for k, v in answers.items()}

    # -- the Switch side: the listener hands the connection over after the 101 -----------------------

    def attach(self, transport: Any, leftover: bytes, ended: Callable[[Any], None]) -> ReplayConnection:
        self.transport = transport
        self.ended = ended
        transport.set_protocol(self)
        self.replayer.opened(self)
        pacing = self.replayer.options.pacing
        if self.clock is not None:
            for recorded in self.outgoing:
                step = self.steps.get(recorded.seq)
                if step is not None:
                    step.send = lambda m=recorded: self._send(m)
            answer = self.replayer.answer_step(self.rec)
            if answer is not None:
                self.clock.happen(answer)  # the 101 is out: what was recorded after it may follow
            else:
                self.clock.pump()
        elif pacing == "fast":
            self._drain()
        else:
            self._task = asyncio.get_running_loop().create_task(self._timed())
        if leftover:
            self.data_received(leftover)
        return self

    def abandon(self) -> None:
        """The client went away before its 101: nothing of this connection will ever happen."""
        self._give_up()

    # -- the client's side --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.end.feed(data)
        except WebSocketError as exc:
            log.warning("replayed WebSocket %s: %s", self.path, exc)
            self.end.fail(1002, "protocol error")
            self._flush()
            return
        for message in messages:
            if message.kind in ("text", "binary"):
                if not self._answer_keepalive(message) and not self._matched(message):
                    return
            elif message.kind == "close":
                self._client_closed()
        self._flush()

    def _answer_keepalive(self, message: Message) -> bool:
        answer = self.keepalive.get(message.data) if message.kind == "text" else None
        if answer is None:
            return False
        self.end.send(Message(EXCHANGE, "text", answer))
        return True

    def _matched(self, message: Message) -> bool:
        """Match a client data message to the next recorded one with its key; report and close on a miss."""
        live: dict[str, Any] = {}
        key, body = message_key(message.data, self.replayer.message_volatile[self.exchange], live)
        correlation = self.replayer.correlation
        if correlation and (type(body) is dict or type(body) is list):
            _, _, body = correlation.request("", "", body)
            key = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        candidates = [m for m in self.expected if m.seq not in self.matched]
        recorded = next((m for m in candidates if m.key == key), None)
        if recorded is None:
            self.replayer.message_miss(self, message, key, candidates)
            self.end.fail(POLICY_VIOLATION, "tradetape: no recorded message matches")
            self._flush()
            return False
        self.matched.add(recorded.seq)
        self._learn(recorded.volatile, live)
        self._learn_secrets(recorded, live)
        correlation.learn(recorded.volatile, live)
        if self.clock is not None and recorded.seq in self.steps:
            self.clock.happen(self.steps[recorded.seq])
        return True

    def _learn(self, recorded: dict[str, Any], live: dict[str, Any]) -> None:
        """A command id numbered differently live: replies that echo it at the same pointer get the live one."""
        for pointer, old in recorded.items():
            new = live.get(pointer)
            if new != old and is_command_id(old) and is_command_id(new):
                self.echo.setdefault(pointer, {})[old] = new

    def _learn_secrets(self, recorded: RecordedMessage, live: dict[str, Any]) -> None:
        """The live values of the secrets this client message carried (an API key), for the exchange messages
        that name them again (`echoes`)."""
        for pointer in recorded.secrets:
            value = pointed(live, pointer)
            if isinstance(value, str):
                self.secrets[pointer] = value

    def _client_closed(self) -> None:
        close = next((m for m in self.closes if m.seq not in self.matched), None)
        if close is not None:
            self.matched.add(close.seq)
            if self.clock is not None and close.seq in self.steps:
                self.clock.happen(self.steps[close.seq])

    # -- the exchange's side ------------------------------------------------------------------

    def _send(self, recorded: RecordedMessage) -> bool:
        """Send one recorded exchange message (the clock or a pacing loop decides when); False when the
        client's buffer is full (it is tried again once the client reads)."""
        if self.lost or self.transport is None or not self.end.open:
            return True  # nobody to send it to: the clock moves on (the message is reported unsent)
        if self.paused:
            return False
        self.delivered.add(recorded.seq)
        message = recorded.message
        if message.kind == "drop":
            self._flush()
            self.transport.close()  # what was sent before goes out, then the TCP close: no close frame
            return True
        if message.kind in ("text", "binary"):
            message = Message(EXCHANGE, message.kind, self._live(recorded))
        try:
            self.end.send(message)
        except WebSocketError as exc:  # a recorded close code that cannot be sent (1006): close without one
            log.warning("replayed WebSocket %s: %s", self.path, exc)
            self.end.send(Message(EXCHANGE, "close"))
        self._unflushed += 1
        if self._unflushed >= FLUSH_EVERY:
            self._flush()  # a long run goes out in pieces, so a client that stops reading pauses it
        elif self._unflushed == 1:
            asyncio.get_running_loop().call_soon(self._flush)  # the rest of this run joins it: one write
        return True

    def _live(self, recorded: RecordedMessage) -> bytes:
        data = recorded.message.data
        correlation = self.replayer.correlation
        if recorded.mentions and correlation.live_of:
            data = correlation.body(data, recorded.mentions)
        if self.echo:
            data = self._echoed(data)
        if recorded.echoes and self.secrets:
            data = echo_secrets(data, recorded.echoes, self.secrets)
        return data

    def _echoed(self, data: bytes) -> bytes:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if type(value) is not dict:
            return data
        changed = False
        for pointer, mapping in self.echo.items():
            steps = pointer_steps(pointer)  # a top-level member only; its name unescaped (RFC 6901: ~1 is /, ~0 ~)
            if len(steps) != 1:
                continue
            name = steps[0]
            if is_command_id(value.get(name)) and value[name] in mapping:
                value[name] = mapping[value[name]]
                changed = True
        return orjson.dumps(value) if changed else data

    def inject(self, message: Message) -> None:
        """A message a test pushes into the live connection (POST /__tradetape/ws/inject)."""
        self.end.send(message)
        self._flush()

    def _drain(self) -> None:
        """fast pacing: every recorded exchange message, as fast as the client reads."""
        gate = self.replayer.gate
        while self.cursor < len(self.outgoing) and not self.paused and not self.lost and gate.take():
            self._send(self.outgoing[self.cursor])
            self.cursor += 1

    async def _timed(self) -> None:
        """timed pacing: each message at its recorded offset from the connection's 101, divided by --speed."""
        loop = asyncio.get_running_loop()
        start, speed = loop.time(), self.replayer.options.speed
        warned = False
        while self.cursor < len(self.outgoing) and not self.lost:
            recorded = self.outgoing[self.cursor]
            delay = start + max(recorded.t - self.rec.opened_at, 0.0) / speed - loop.time()
            if delay > LONG_WAIT and not warned:
                warned = True  # once per connection: a recording may hold many quiet stretches
                log.warning(
                    "timed replay: waiting %.0f s before %s/%s seq %d, as recorded at --speed %g "
                    "(a higher --speed shortens it)",
                    delay,
                    self.rec.source,
                    self.rec.frames_file,
                    recorded.seq,
                    speed,
                )
            if delay > 0:
                await self.replayer.sleep(delay)
            while (self.paused or not self.replayer.gate.take()) and not self.lost:
                self._wake.clear()
                await self._wake.wait()  # the client is not reading, or step mode holds the message
            if not self.lost:
                self._send(recorded)
                self.cursor += 1

    def step_released(self) -> None:
        """Step mode let more messages go: fast pacing sends them (causal is pumped by its clock)."""
        self._wake.set()
        if self.clock is None and self.replayer.options.pacing == "fast":
            self._drain()

    def _flush(self) -> None:
        self._unflushed = 0
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        chunks, eof = self.end.output()
        if chunks:
            transport.writelines(chunks)
        if eof:
            transport.close()

    # -- transport events ---------------------------------------------------------------------

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake.set()
        if self.clock is not None:
            self.clock.pump()
        elif self.replayer.options.pacing == "fast":
            self._drain()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._task is not None:
            self._task.cancel()
        self._give_up()
        self.replayer.closed(self)
        if self.ended is not None:
            self.ended(self)

    def _give_up(self) -> None:
        """What this connection can no longer do stops holding the replay's clock back."""
        if self.clock is not None:
            self.clock.skip(list(self.steps.values()))

    def check_timeouts(self, now: float) -> None:
        """The listener's idle timeouts are for HTTP: a replayed feed may be quiet for as long as it was."""

    def close(self) -> None:
        """The replay proxy is stopping: close as an exchange going away would."""
        if self.transport is not None and not self.lost:
            self.end.send(Message(EXCHANGE, "close", code=GOING_AWAY))
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    # -- reporting ----------------------------------------------------------------------------

    def unconsumed(self) -> tuple[list[RecordedMessage], list[RecordedMessage]]:
        """(exchange messages never sent that a listening client would have had, client messages never seen)."""
        unsent = [m for m in self.outgoing if m.seq not in self.delivered and not m.after_close]
        unseen = [m for m in self.expected if m.seq not in self.matched]
        return unsent, unseen

    def status(self) -> dict[str, Any]:
        unsent, unseen = self.unconsumed()
        return {
            "connection": self.number,
            "exchange": self.exchange,
            "path": self.path,
            "recording": self.rec.name,
            "open": not self.lost,
            "sent": len(self.delivered),
            "recorded": len(self.outgoing),
            "client_matched": len(self.expected) - len(unseen),
            "client_recorded": len(self.expected),
            "unsent": len(unsent),
        }


def is_command_id(value: Any) -> bool:
    """A string or an integer: what a client numbers its commands with and a reply echoes. Anything else (a list,
    an object, a boolean or float equal to a recorded number) is never swapped for a live id."""
    return type(value) is str or type(value) is int


def pointed(found: dict[str, Any], pointer: str) -> Any:
    """The value at `pointer` in what Volatile.strip found (keyed by the pointer of each member it removed)."""
    for prefix, value in found.items():
        if pointer == prefix or pointer.startswith(prefix + "/"):
            for step in pointer_steps(pointer[len(prefix) :]):
                value = value.get(step) if isinstance(value, dict) else None
            return value
    return None


def echo_secrets(data: bytes, echoes: dict[str, str], secrets: dict[str, str]) -> bytes:
    """`data` with the live client's own secret put back at each pointer where the recording redacted it."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data
    for target, source in echoes.items():
        live = secrets.get(source)
        if live is None:
            continue
        *path, last = pointer_steps(target)  # checked when the frames file was read (tape.frames)
        holder = follow(value, path)
        if isinstance(holder, dict) and last in holder:
            holder[last] = live
        elif isinstance(holder, list) and (index := list_index(last, holder)) is not None:
            holder[index] = live
    return orjson.dumps(value)


def shown_payload(message: Message, found: list[Any]) -> Any:
    """A client message for a report: its JSON with secret fields redacted (their values go to `found`), else its
    text (cut short)."""
    try:
        return redact_body(orjson.loads(message.data), found)
    except orjson.JSONDecodeError:
        text = message.shown()
        return text if len(text) <= 200 else text[:200] + "..."
