"""The messages of one recorded WebSocket connection: an append-only JSON-lines file beside its handshake fixture.

`005_GET_kalshi_ws.json` is the handshake, a fixture like any other (request, 101 answer, redacted headers) whose
`websocket.frames` names `005_GET_kalshi_ws.frames.jsonl`. That file has one line per message:

    {"seq": 7, "t": 1795637700.123456, "from": "exchange", "kind": "text", "text": "{\\"type\\":\\"fill\\",...}"}

`seq` comes from the session's one clock, the counter that numbers the fixtures, so the interleaving of REST
answers and frames is exact; `t` is the wall-clock time in seconds, never earlier than the line before's nor more
than MAX_QUIET after it (a timed replay waits for it). `kind` is text, binary, ping, pong, close (with `code` and
`reason`) or drop (the sender's connection ended without a close frame). A payload is `text`, or `base64` when it
is not UTF-8; `omitted` says why a payload that could not be redacted was not written.

Each line is appended whole, with one write(2), before the message is relayed. A crash can only leave the last
line cut short (no newline): a message nobody received, which every reader skips and `fsck` reports.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from websockets.exceptions import ProtocolError
from websockets.frames import Close

from proxy.tape.schema import FRAMES_SUFFIX, FixtureError, check_file

# The wire's message vocabulary (proxy.wire.websocket, which the tape layer does not import).
SENDERS = ("client", "exchange")
KINDS = ("text", "binary", "ping", "pong", "close", "drop")
MAX_CONTROL = 125  # bytes of a control frame's payload (RFC 6455 5.5)
# Both exchanges send something every ~10 s and drop a silent connection (docs/wire). A week between two events of
# one connection leaves room for a recorder asleep over a long weekend; more is a damaged or hand-edited `t`, which
# a timed replay would wait for.
MAX_QUIET = 7 * 24 * 3600  # seconds
TOO_QUIET = f"(more than {MAX_QUIET} s with nothing on a connection: a damaged or hand-edited t)"
LIST_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")  # a list index in a JSON pointer (no list holds 10^18 items)


def frames_file_name(fixture_name: str) -> str:
    """The frames file of a handshake fixture: 005_GET_kalshi_ws.json -> 005_GET_kalshi_ws.frames.jsonl."""
    return fixture_name.removesuffix(".json") + FRAMES_SUFFIX


def frames_file_of(fixture: dict[str, Any]) -> str | None:
    """The frames file a handshake fixture names, or None for any other fixture."""
    websocket = fixture.get("websocket")
    name = websocket.get("frames") if isinstance(websocket, dict) else None
    return name if isinstance(name, str) else None


@dataclass(slots=True)
class FramesRead:
    frames: list[dict[str, Any]]  # validated lines, in file order
    torn: int  # bytes of a last line cut short by a crash (skipped); 0 when the file ends cleanly


def _check_payload(line: dict[str, Any], where: str, path: Path) -> None:
    if "omitted" in line:
        if not isinstance(line["omitted"], str):
            raise FixtureError(path, f"{where}: omitted must be a string")
        return
    if "text" in line:
        if not isinstance(line["text"], str):
            raise FixtureError(path, f"{where}: text must be a string")
    elif "base64" in line:
        try:
            base64.b64decode(line["base64"], validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise FixtureError(path, f"{where}: base64 is not valid base64 ({exc})") from None
    elif line["kind"] in ("text", "binary"):
        raise FixtureError(path, f"{where}: a {line['kind']} message needs text or base64")


def _check_close(code: int | None, reason: str, where: str, path: Path) -> None:
    """A close frame a replay could send as recorded (the relay never records any other)."""
    if code is None:
        if reason:
            raise FixtureError(path, f"{where}: a close reason needs a code")
        return
    try:
        Close(code, reason).check()
    except ProtocolError:
        raise FixtureError(path, f"{where}: close code {code} is not one a WebSocket may send") from None
    if 2 + len(reason.encode("utf-8", "surrogatepass")) > MAX_CONTROL:
        raise FixtureError(path, f"{where}: close reason over {MAX_CONTROL - 2} bytes")


def validate_frame(line: Any, where: str, path: Path) -> dict[str, Any]:
    """Check one frames line; FixtureError names the file, the line and the problem."""
    if not isinstance(line, dict):
        raise FixtureError(path, f"{where}: not a JSON object")
    for key, kind in (("seq", int), ("t", (int, float)), ("from", str), ("kind", str)):
        if key not in line:
            raise FixtureError(path, f"{where}: missing key {key}")
        if not isinstance(line[key], kind) or isinstance(line[key], bool):
            raise FixtureError(path, f"{where}: {key} has the wrong type ({type(line[key]).__name__})")
    if line["from"] not in SENDERS:
        raise FixtureError(path, f"{where}: from is {line['from']!r}, not client or exchange")
    if line["kind"] not in KINDS:
        raise FixtureError(path, f"{where}: kind {line['kind']!r} is not one of {', '.join(KINDS)}")
    if line["kind"] == "close":
        code = line.get("code")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise FixtureError(path, f"{where}: code must be an integer or null")
        if not isinstance(line.get("reason", ""), str):
            raise FixtureError(path, f"{where}: reason must be a string")
        _check_close(code, line.get("reason", ""), where, path)
    _check_payload(line, where, path)
    if line["kind"] in ("ping", "pong") and len(payload_bytes(line)) > MAX_CONTROL:
        size = len(payload_bytes(line))
        raise FixtureError(path, f"{where}: {line['kind']} payload of {size} bytes (at most {MAX_CONTROL} can be sent)")
    _check_echoes(line, where, path)
    return line


def _check_echoes(line: dict[str, Any], where: str, path: Path) -> None:
    """`echoes` a replay can follow: each place in this message's payload, and the place in the client's message
    its secret came from, as JSON pointers; a step through a list is one of its indexes."""
    echoes = line.get("echoes", {})
    if not isinstance(echoes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in echoes.items()):
        raise FixtureError(path, f"{where}: echoes must map JSON pointers to JSON pointers")
    if not echoes:
        return
    try:
        payload = orjson.loads(payload_bytes(line))
    except orjson.JSONDecodeError:
        payload = None  # nothing to put a value in: a replay sends it as recorded
    for pointer in (*echoes, *echoes.values()):
        if not pointer.startswith("/"):
            raise FixtureError(path, f"{where}: echoes pointer {pointer!r}: does not start with '/'")
    for pointer in echoes:
        problem = _list_step_problem(payload, pointer)
        if problem:
            raise FixtureError(path, f"{where}: echoes pointer {pointer!r}: {problem}")


def _list_step_problem(payload: Any, pointer: str) -> str | None:
    """The step of `pointer` through a list of `payload` that is none of its indexes (a replay could not follow
    it). A member the payload lacks, or a step into a string, is none: recording writes such a pointer where it
    then redacted a field's whole value, and a replay leaves that echo out."""
    steps = pointer_steps(pointer)
    for depth, step in enumerate(steps):
        holder = follow(payload, steps[:depth])
        if isinstance(holder, list) and list_index(step, holder) is None:
            return f"step {step!r} is not an index of the list there (length {len(holder)})"
    return None


def read_frames(path: Path) -> FramesRead:
    """Every whole line of a frames file, validated (FixtureError on the first bad one); a torn last line skipped."""
    try:
        check_file(path)  # a link could point out of the session
        data = path.read_bytes()
    except OSError as exc:
        raise FixtureError(path, f"cannot read: {exc.strerror}") from None
    end = data.rfind(b"\n") + 1
    frames: list[dict[str, Any]] = []
    for number, raw in enumerate(data[:end].splitlines(), start=1):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FixtureError(path, f"line {number}: invalid JSON at column {exc.colno}: {exc.msg}") from None
        frames.append(validate_frame(line, f"line {number}", path))
        if number > 1:
            _check_time(line["t"], frames[-2]["t"], number, path)
    return FramesRead(frames, len(data) - end)


def _check_time(t: float, before: float, number: int, path: Path) -> None:
    """A line's `t` follows the line before's as record writes it: never earlier, never more than MAX_QUIET later."""
    if t < before:
        problem = f"line {number}: t {t} is earlier than line {number - 1}'s {before}"
        raise FixtureError(path, f"{problem} (times in a frames file never go back)")
    if t - before > MAX_QUIET:
        gap = f"{t - before:.0f} s after line {number - 1}'s {before}"
        raise FixtureError(path, f"line {number}: t {t} is {gap} {TOO_QUIET}")


def pointer_segment(key: str | int) -> str:
    """One step of a JSON pointer (RFC 6901): `echoes` name places in payloads this way, replay and drift name
    fields so (a key needing no escape, nearly all, is returned as it is: replay runs this per key of a message)."""
    text = key if type(key) is str else str(key)
    if "~" in text or "/" in text:
        return text.replace("~", "~0").replace("/", "~1")
    return text


def pointer_steps(pointer: str) -> list[str]:
    return [step.replace("~1", "/").replace("~0", "~") for step in pointer.split("/")[1:]]


def list_index(step: str, items: list[Any]) -> int | None:
    """The index of `items` a pointer step names (RFC 6901: ASCII digits, no sign or leading zero), None if none."""
    return int(step) if LIST_INDEX.fullmatch(step) and int(step) < len(items) else None


def follow(value: Any, steps: list[str]) -> Any:
    """What `steps` lead to in `value`; None where one names nothing there (a missing member, no index, a string)."""
    for step in steps:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list):
            index = list_index(step, value)
            value = None if index is None else value[index]
        else:
            return None
    return value


def payload_bytes(line: dict[str, Any]) -> bytes:
    """The payload a frames line recorded (b"" when there is none or it was omitted)."""
    if "text" in line:
        text: str = line["text"]
        return text.encode("utf-8")
    if "base64" in line:
        return base64.b64decode(line["base64"])
    return b""


def payload_fields(data: bytes) -> dict[str, str]:
    """`text` for UTF-8, else `base64`."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}
