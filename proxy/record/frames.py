"""Recording a WebSocket connection's messages: one redacted line each, appended before the message is relayed.

Each batch of messages (what one read from a socket completed) takes consecutive seq numbers from the session's
clock and goes to the frames file in a single write(2); the relay forwards the bytes only after that returns.
The page cache keeps what write(2) returned from, so a killed proxy loses no message a client or exchange got.
Against power loss a frames file joins the session's batched fsync at most once a second (FSYNC_EVERY): a
syncfs every 50 ms, as fixtures get, stalls the appends behind journal commits and was measured to add about
0.4 ms to the p50 latency of a busy feed (bench/ws_proxy.py). A write that fails stops the file there (a torn
line can only ever be the last one) and is counted, while the relay goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import orjson

from proxy.record.session import Session
from proxy.tape.frames import payload_fields, pointer_segment
from proxy.tape.redact import NOT_JSON, read_json, redact_raw
from proxy.tape.secrets import REDACTED, Credentials, assigns_secret, may_name_secrets, redact_body, secret_values
from proxy.wire.websocket import CLIENT, EXCHANGE, Message

log = logging.getLogger("tradetape.record")
FSYNC_EVERY = 1.0  # seconds between a frames file's turns in the session's fsync batches
SENDER = {sender: sender.encode() for sender in (CLIENT, EXCHANGE)}
NOT_REDACTABLE = "a payload that is not JSON holds a credential or assigns a secret-ish name: not recorded"
ACROSS = "a credential seen in this session is spelled across the payload's JSON, in no one string: not recorded"


def holds_own(data: bytes, own: dict[str, str]) -> bool:
    """`data` spells one of the client's own secrets as it sent them."""
    return any(value.encode() in data for value in own)


def needs_redaction(data: bytes, own: dict[str, str], creds: Credentials) -> bool:
    """An escape may spell a credential (or one of `own`) in a way its bytes do not show: then parse. A percent-encoded
    parameter name may hide a secret one from the hints (`%61pi_key=x`, assigns_secret)."""
    if (own or creds) and b"\\" in data:
        return True
    return (
        holds_own(data, own)
        or may_name_secrets(data)
        or creds.found_in(data)
        or (b"%" in data and assigns_secret(data))
    )


def payload_record(message: Message, own: dict[str, str], creds: Credentials) -> dict[str, Any]:
    """The payload fields of a frames line, redacted as fixture bodies are: by field name, and by value for every
    credential seen in the session (`creds` learns the ones a client message carries).

    `own` is the connection's memory (never written) of the secrets its client sent (value -> where): the
    exchange may name them again (Polymarket's user channel names the subscribing API key as `owner`), and
    there, under any field name, they are redacted too, with `echoes` saying where (so a replay can put the
    live client's own value back, and never anyone else's). What cannot be redacted with certainty (JSON with
    two readings, text or bytes holding a credential) is `omitted`, with the reason."""
    data = message.data
    if not data:
        return {"text": ""} if message.kind in ("text", "ping", "pong") else {"base64": ""}
    if not needs_redaction(data, own, creds):
        return payload_fields(data)
    parsed, problem = read_json(data, may_name_secrets(data))
    if problem is not None:
        return {"omitted": problem}
    if parsed is NOT_JSON:
        if creds.found_in(data) or holds_own(data, own) or assigns_secret(data):
            return {"omitted": NOT_REDACTABLE}
        return payload_fields(data)
    if message.sender == CLIENT:
        for pointer, value in secret_values(parsed):
            if value not in ("", REDACTED):
                own.setdefault(value, pointer)  # where the client first sent it
        creds.learn(own)
    secrets: list[Any] = []
    echoes = echo_pointers(parsed, own, secrets) if own else {}
    if message.sender == CLIENT:
        echoes = {}  # the client's own message: matched with its secret fields ignored, nothing to give back
    redacted = redact_body(parsed, secrets)
    creds.learn(secrets)
    text = data.decode("utf-8")  # strict JSON is UTF-8
    escaped = b"\\" in data  # a string may be spelled unlike orjson writes it: no replacing in place, no text search
    if secrets:
        text = orjson.dumps(redacted).decode() if escaped else redact_raw(text, secrets, redacted)
    if creds.found_in(text) or (escaped and creds.found_in(orjson.dumps(redacted))):
        # a credential seen elsewhere in the session, under a name that does not say so
        text = orjson.dumps(creds.scrub_value(redacted)).decode()
        if creds.found_in(text):  # spelled across the JSON's structure: in no one string to replace
            return {"omitted": ACROSS}
    return {"text": text} | ({"echoes": echoes} if echoes else {})


def echo_pointers(value: Any, own: dict[str, str], secrets: list[Any], prefix: str = "") -> dict[str, str]:
    """Where `value` held one of the client's own secrets, whatever the field's name: each such string becomes
    "[REDACTED]" in place and is added to `secrets` (for redact_raw); the result maps its pointer to the pointer
    in the client's message it came from."""
    out: dict[str, str] = {}
    items = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    for key, item in items:
        here = f"{prefix}/{pointer_segment(key)}"
        if isinstance(item, str) and item in own:
            value[key] = REDACTED
            secrets.append(item)
            out[here] = own[item]
        else:
            out |= echo_pointers(item, own, secrets, here)
    return out


def frame_line(seq: int, t: bytes, message: Message, own: dict[str, str], creds: Credentials) -> dict[str, Any]:
    """The line of a message (`t` is the time as JSON) as a dict, redacted."""
    line: dict[str, Any] = {"seq": seq, "t": orjson.Fragment(t), "from": message.sender, "kind": message.kind}
    if message.kind == "close":  # a reason is free text: a credential seen in the session is scrubbed from it
        line["code"], line["reason"] = message.code, creds.scrub(message.reason) if creds else message.reason
    elif message.kind == "drop":
        if message.reason:
            line["reason"] = message.reason
    else:
        line.update(payload_record(message, own, creds))
    return line


def plain_text_line(seq: int, when: bytes, sender: str, data: bytes) -> bytes | None:
    """The line frame_line() would make for a text message with nothing to redact, built directly (one
    format, no dict: the common case of a feed); None for a payload that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return b'{"seq":%d,"t":%s,"from":"%s","kind":"text","text":%s}\n' % (seq, when, SENDER[sender], orjson.dumps(text))


class FramesWriter:
    """The append-only frames file of one recorded connection."""

    def __init__(self, session: Session, name: str, creds: Credentials) -> None:
        self.session = session
        self.creds = creds  # the session's: what one connection reveals is scrubbed everywhere after
        self.name = name
        self.path = str(session.directory / name)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.count = 0
        self.own: dict[str, str] = {}  # the secrets the client sent on this connection -> where (memory only)
        self._synced = 0.0  # when the file last joined an fsync batch
        self._t = 0.0  # the time of the last batch: a wall clock stepped back never makes the file's times go back

    def write(self, messages: list[Message], t: float) -> None:
        """Append `messages` (one write); OSError if they could not be, and nothing more is written after that."""
        fd = self._fd
        if fd is None:
            raise OSError(f"{self.path}: an earlier write failed; this connection is no longer recorded")
        own, creds = self.own, self.creds
        t = self._t = max(t, self._t)
        when = b"%.6f" % t  # microseconds, as JSON; far cheaper than orjson.dumps(round(t, 6))
        lines = []
        for seq, message in zip(self.session.take_seqs(len(messages)), messages, strict=True):
            line = None
            if message.kind == "text" and not needs_redaction(message.data, own, creds):
                line = plain_text_line(seq, when, message.sender, message.data)
            if line is None:
                line = orjson.dumps(frame_line(seq, when, message, own, creds), option=orjson.OPT_APPEND_NEWLINE)
            lines.append(line)
        data = b"".join(lines)  # a lone line is returned as it is, not copied
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError:
            self.close()
            raise
        self.count += len(messages)
        if t - self._synced >= FSYNC_EVERY:
            self._synced = t
            self.session.written(self.path)

    def discard(self) -> None:
        """Closed and removed (empty yet): its handshake's fixture was not written, and no fixture would name it."""
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.session.written(self.path)  # what came since its last batch
