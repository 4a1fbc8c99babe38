"""`tradetape audit`: find secrets that escaped redaction in fixture trees, and optionally redact them.

Flags a value other than the redaction marker under a secret header or body field, a PEM block
anywhere, and a 64-hex value under a field whose name says key, private or secret. Order ids,
hashes, market ids and zero-filled bytes32 values are public and never flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from proxy.tape.fixture import parse_json
from proxy.tape.frames import FRAMES_SUFFIX
from proxy.tape.redact import REDACTED, is_secret_field, is_secret_header

PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S)
HEX64 = re.compile(r"^(?:0x)?[0-9a-fA-F]{64}$")
KEYISH = re.compile(r"key|private|secret", re.I)


@dataclass(frozen=True)
class Finding:
    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


def looks_like_key(name: str, value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(KEYISH.search(name))
        and bool(HEX64.match(value))
        and value.lower().removeprefix("0x").strip("0") != ""
    )


def scan_value(value: Any, where: str, headers: bool = False) -> Iterator[tuple[str, str]]:
    """(field path, reason) for every secret-looking value under `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            secret_name = is_secret_header(key) if headers else is_secret_field(key)
            if secret_name and item not in (REDACTED, None, ""):
                yield here, "secret field is not redacted"
            elif looks_like_key(key, item):
                yield here, "64-hex value under a key/private/secret field"
            else:
                yield from scan_value(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from scan_value(item, f"{where}[{index}]")
    elif isinstance(value, str) and PEM.search(value):
        yield where, "PEM block"


def raw_json(raw: Any) -> Any:
    """The JSON in a recorded body_raw (None if there is none): it may hold what body_parsed does not."""
    return parse_json(raw) if isinstance(raw, str) else None


def scan_fixture(data: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(data, dict):
        yield from scan_value(data, "")
        return
    for part in ("request", "response"):
        section = data.get(part)
        if not isinstance(section, dict):
            continue
        yield from scan_value(section.get("headers", {}), f"{part}.headers", headers=True)
        rest = {k: v for k, v in section.items() if k != "headers"}
        yield from scan_value(rest, part)
        raw = raw_json(section.get("body_raw"))
        if raw is not None:
            yield from scan_value(raw, f"{part}.body_raw")
    others = {k: v for k, v in data.items() if k not in ("request", "response")}
    yield from scan_value(others, "")


def scan_frames(data: bytes) -> Iterator[tuple[str, str]]:
    """What scan_value finds in each message of a frames file (a payload's JSON, or a PEM block in its text)."""
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            line = None
        text = line.get("text") if isinstance(line, dict) else raw.decode("utf-8", "replace")
        payload = raw_json(text)
        if payload is not None:
            yield from scan_value(payload, f"line {number}.text")
        elif isinstance(text, str) and PEM.search(text):
            yield f"line {number}", "PEM block"


def redact_frames(data: bytes) -> bytes:
    """A frames file with each message's payload redacted as audit --redact redacts a fixture body."""
    out = []
    for raw in data.splitlines(keepends=True):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out.append(PEM.sub(REDACTED, raw.decode("utf-8", "replace")).encode())
            continue
        payload = raw_json(line.get("text")) if isinstance(line, dict) else None
        if payload is not None:
            line["text"] = orjson.dumps(redact_value(payload)).decode()
        elif isinstance(line, dict) and isinstance(line.get("text"), str):
            line["text"] = PEM.sub(REDACTED, line["text"])
        out.append(orjson.dumps(line) + (b"\n" if raw.endswith(b"\n") else b""))
    return b"".join(out)


def audit_file(path: Path) -> list[Finding]:
    text = path.read_bytes()
    if path.name.endswith(FRAMES_SUFFIX):
        return [Finding(path, where, reason) for where, reason in scan_frames(text)]
    if path.suffix != ".json":
        return [Finding(path, "(file)", "PEM block")] if PEM.search(text.decode("utf-8", "replace")) else []
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        found = [Finding(path, "(file)", f"not valid JSON (line {exc.lineno}), scanned as text")]
        if PEM.search(text.decode("utf-8", "replace")):
            found.append(Finding(path, "(file)", "PEM block"))
        return found
    return [Finding(path, where, reason) for where, reason in scan_fixture(data)]


def tree_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            yield path


def redact_value(value: Any, headers: bool = False) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            secret = is_secret_header(key) if headers else is_secret_field(key)
            out[key] = (
                REDACTED if (secret and item not in (None, "")) or looks_like_key(key, item) else redact_value(item)
            )
        return out
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, str) and PEM.search(value):
        return PEM.sub(REDACTED, value)
    return value


def redact_fixture(data: Any) -> Any:
    if not isinstance(data, dict):
        return redact_value(data)
    out = redact_value({k: v for k, v in data.items() if k not in ("request", "response")})
    for part in ("request", "response"):
        section = data.get(part)
        if not isinstance(section, dict):
            continue
        fixed = redact_value({k: v for k, v in section.items() if k != "headers"})
        fixed = {"headers": redact_value(section.get("headers", {}), headers=True), **fixed}
        raw = raw_json(fixed.get("body_raw"))
        if raw is not None:
            fixed["body_raw"] = orjson.dumps(redact_value(raw)).decode()
        out[part] = {k: fixed[k] for k in section}  # keep the key order
    return {k: out[k] for k in data}


def redact_file(path: Path) -> None:
    if path.name.endswith(FRAMES_SUFFIX):
        path.write_bytes(redact_frames(path.read_bytes()))
        return
    if path.suffix == ".json":
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            data = None
        if data is not None:
            path.write_bytes(orjson.dumps(redact_fixture(data), option=orjson.OPT_INDENT_2))
            return
    path.write_text(PEM.sub(REDACTED, path.read_text("utf-8", "replace")))
