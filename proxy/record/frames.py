"""Recording a WebSocket connection's messages: one redacted line each, appended before the message is relayed.

Each batch of messages (what one read from a socket completed) takes consecutive seq numbers from the session's
clock and goes to the frames file in a single write(2); the relay forwards the bytes only after that returns.
The page cache keeps what write(2) returned from, so a killed proxy loses no message a client or exchange got;
the batched fsync of the session covers power loss. A write that fails stops the file there (a torn line can
only ever be the last one) and is counted, while the relay goes on.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import orjson

from proxy.record.session import Session
from proxy.tape.fixture import parse_json
from proxy.tape.frames import payload_fields
from proxy.tape.redact import may_hold_secrets, redact_body, redact_raw
from proxy.wire.websocket import Message

log = logging.getLogger("tradetape.record")
NOT_REDACTABLE = "payload holds what may be a secret and is not JSON, so it could not be redacted; not recorded"


def payload_record(message: Message) -> dict[str, Any]:
    """The payload fields of a frames line, with secret fields replaced as in fixture bodies."""
    data = message.data
    if not data:
        return {"text": ""} if message.kind in ("text", "ping", "pong") else {"base64": ""}
    if not may_hold_secrets(data):
        return payload_fields(data)
    text = message.text()
    parsed = parse_json(data) if text is not None else None
    if text is None or parsed is None:
        return {"omitted": NOT_REDACTABLE}
    secrets: list[Any] = []
    redacted = redact_body(parsed, secrets)
    return {"text": redact_raw(text, secrets, redacted) if secrets else text}


def frame_line(seq: int, t: float, message: Message) -> dict[str, Any]:
    line: dict[str, Any] = {"seq": seq, "t": round(t, 6), "from": message.sender, "kind": message.kind}
    if message.kind == "close":
        line["code"], line["reason"] = message.code, message.reason
    elif message.kind == "drop":
        if message.reason:
            line["reason"] = message.reason
    else:
        line.update(payload_record(message))
    return line


class FramesWriter:
    """The append-only frames file of one recorded connection."""

    def __init__(self, session: Session, name: str) -> None:
        self.session = session
        self.name = name
        self.path = str(session.directory / name)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.count = 0

    def write(self, messages: list[Message], t: float) -> None:
        """Append `messages` (one write); OSError if they could not be, and nothing more is written after that."""
        fd = self._fd
        if fd is None:
            raise OSError(f"{self.path}: an earlier write failed; this connection is no longer recorded")
        session = self.session
        data = b"".join(
            orjson.dumps(frame_line(session.take_seq(), t, m), option=orjson.OPT_APPEND_NEWLINE) for m in messages
        )
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError:
            self.close()
            raise
        self.count += len(messages)
        session.written(self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
