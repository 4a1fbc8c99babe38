"""A recorded WebSocket connection's messages, ready to serve: client messages keyed for matching (volatile fields
removed, like REST bodies), exchange messages with the recorded ids they mention (for correlation).

Keepalives (control pings and pongs, and the profile's text keepalive such as Polymarket's PING/PONG) are
answered live by the replay and never replayed: when they happened depends on the clock, not on the bot.
Exchange messages recorded after the client's own close were sent to a client that had stopped listening:
nothing needs them, so they are never reported as unconsumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.exchanges import PROFILES
from proxy.replay.correlate import json_strings
from proxy.replay.match import canonical_body, parse_body
from proxy.replay.volatile import Volatile
from proxy.tape.frames import payload_bytes, read_frames
from proxy.tape.secrets import secret_values
from proxy.wire.websocket import CLIENT, Message


@dataclass(slots=True, eq=False)
class RecordedMessage:
    seq: int
    t: float
    message: Message
    key: bytes | None = None  # a client data message: its canonical body without volatile fields
    volatile: dict[str, Any] = field(default_factory=dict)  # a client message: pointer -> recorded volatile value
    mentions: tuple[str, ...] = ()  # an exchange message: the strings it contains (narrowed to recorded ids)
    keepalive: bool = False
    after_close: bool = False  # an exchange message recorded after the client's close
    secrets: tuple[str, ...] = ()  # a client message: where it carried a secret (its live value is learned)
    echoes: dict[str, str] = field(default_factory=dict)  # an exchange message: where it names a client secret

    @property
    def sender(self) -> str:
        return self.message.sender

    @property
    def kind(self) -> str:
        return self.message.kind


def message_key(data: bytes, volatile: Volatile, found: dict[str, Any] | None = None) -> tuple[bytes, Any]:
    """(matching key, parsed body without its volatile fields) of a client message's payload."""
    body = parse_body(data)
    volatile.strip(body, found)
    return canonical_body(body), body


def is_keepalive(exchange: str, message: Message) -> bool:
    if message.kind in ("ping", "pong"):
        return True
    if message.kind != "text":
        return False
    texts = {text for pair in PROFILES[exchange].websocket.keepalive for text in pair}
    return message.data.decode("utf-8", "replace") in texts


def recorded_message(line: dict[str, Any], exchange: str, volatile: Volatile) -> RecordedMessage:
    kind = line["kind"]
    message = Message(line["from"], kind, payload_bytes(line), line.get("code"), line.get("reason", ""))
    recorded = RecordedMessage(line["seq"], float(line["t"]), message, keepalive=is_keepalive(exchange, message))
    if kind not in ("text", "binary") or recorded.keepalive:
        return recorded
    if message.sender == CLIENT:
        recorded.secrets = tuple(pointer for pointer, _ in secret_values(parse_body(message.data)))
        recorded.key, _ = message_key(message.data, volatile, recorded.volatile)
    else:
        recorded.echoes = line.get("echoes", {})
        strings: set[str] = set()
        json_strings(parse_body(message.data), strings)
        recorded.mentions = tuple(strings)
    return recorded


def load_messages(path: Path, exchange: str, volatile: Volatile) -> tuple[list[RecordedMessage], int]:
    """(messages in seq order, bytes of a torn last line skipped) of a frames file (FixtureError if damaged)."""
    read = read_frames(path)
    messages = sorted((recorded_message(line, exchange, volatile) for line in read.frames), key=lambda m: m.seq)
    closed = False
    for recorded in messages:
        if recorded.sender == CLIENT and recorded.kind in ("close", "drop"):
            closed = True
        elif closed:
            recorded.after_close = True
    return messages, read.torn
