"""The on-disk fixture format: one JSON file per request/response, named so tools can order them by seq."""

from __future__ import annotations

import base64
import re
import time
import zlib
from pathlib import Path
from typing import Any

import orjson

from proxy.exchanges import EXCHANGES

FORMAT = 1
MANIFEST = "manifest.json"
DRIFT = "drift.json"  # what `record --drift-against` found (proxy/drift/watch.py); not a fixture
_MEANINGFUL = re.compile(r"^[a-z][a-z_-]*$")
_FIXTURE_NAME = re.compile(r"^(\d+)_[A-Z]+_[a-z]+_[A-Za-z0-9_-]+\.json$")


class FixtureError(ValueError):
    """A fixture file that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def endpoint_name(path: str) -> str:
    """The path's last meaningful segment, ids dropped: /portfolio/orders/abc123 -> orders."""
    for segment in reversed(path.split("?", 1)[0].split("/")):
        if _MEANINGFUL.match(segment):
            return segment.replace("-", "_")
    return "root"


def path_template(path: str) -> str:
    """Ids folded the way endpoint_name skips them: /markets/KX-1/orderbook -> /markets/{id}/orderbook."""
    segments = path.split("?", 1)[0].split("/")
    return "/".join(s if not s or _MEANINGFUL.match(s) else "{id}" for s in segments)


def fixture_name(seq: int, method: str, exchange: str, path: str) -> str:
    return f"{seq:03d}_{method.upper()}_{exchange}_{endpoint_name(path)}.json"


def fixture_seq(name: str) -> int | None:
    """The seq a fixture file name carries, or None for anything that is not a fixture file."""
    match = _FIXTURE_NAME.match(name)
    return int(match.group(1)) if match else None


def utc_stamp(epoch: float) -> str:
    """2026-11-19T20:15:00.123Z"""
    millis = int(epoch * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{millis:03d}Z"


def parse_json(data: bytes | str) -> Any:
    """The JSON value of `data`, or None when it is empty or not JSON."""
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def text_or_base64(data: bytes) -> tuple[str, bool]:
    """(text, False) for UTF-8, else (base64, True)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def request_body_fields(data: bytes) -> dict[str, Any]:
    """`body` as parsed JSON, text, or null; base64 with `body_encoding` when not UTF-8."""
    if not data:
        return {"body": None}
    parsed = parse_json(data)
    if parsed is not None:
        return {"body": parsed}
    text, is_b64 = text_or_base64(data)
    return {"body": text, "body_encoding": "base64"} if is_b64 else {"body": text}


def raw_body_fields(data: bytes, parsed: Any) -> dict[str, Any]:
    text, is_b64 = text_or_base64(data)
    fields: dict[str, Any] = {"body_raw": text, "body_parsed": parsed}
    if is_b64:
        fields["body_encoding"] = "base64"
    return fields


def body_bytes(holder: dict[str, Any], key: str) -> bytes:
    """The bytes of a recorded body (`body_raw` of a response, `body` of a request)."""
    value = holder.get(key)
    if value is None:
        return b""
    if holder.get("body_encoding") == "base64":
        return base64.b64decode(value, validate=True)  # a damaged body must fail, not shrink silently
    if isinstance(value, str):
        return value.encode("utf-8")
    return orjson.dumps(value)


def decode_content(data: bytes, encoding: str | None) -> bytes | None:
    """`data` with its content-encoding removed; None when the encoding is not one we can undo."""
    if not encoding or encoding == "identity":
        return data
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(data)
            except zlib.error:
                return zlib.decompress(data, -zlib.MAX_WBITS)
        if encoding == "br":
            import brotli

            plain: bytes = brotli.decompress(data)
            return plain
    except Exception:  # any decoder failure: the caller keeps the bytes as sent
        return None
    return None


# ---- reading ---------------------------------------------------------------------------------


def _require(obj: Any, key: str, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise FixtureError(path, f"missing key {where}{key}")
    value = obj[key]
    if not isinstance(value, kind):
        raise FixtureError(path, f"{where}{key} has the wrong type ({type(value).__name__})")
    return value


def validate_fixture(data: Any, path: Path) -> dict[str, Any]:
    """Check the keys tools rely on; raise FixtureError naming the first problem."""
    if not isinstance(data, dict):
        raise FixtureError(path, "top level is not a JSON object")
    _require(data, "seq", int, "", path)
    exchange = _require(data, "exchange", str, "", path)
    if exchange not in EXCHANGES:
        raise FixtureError(path, f"exchange {exchange!r} is not one of {', '.join(EXCHANGES)}")
    request = _require(data, "request", dict, "", path)
    _require(request, "method", str, "request.", path)
    _require(request, "url", str, "request.", path)
    if "response" in data:
        response = _require(data, "response", dict, "", path)
        _require(response, "status", int, "response.", path)
        _require(response, "headers", dict, "response.", path)
        _require(response, "body_raw", (str, type(None)), "response.", path)
    elif "error" not in data:
        raise FixtureError(path, "missing key response (or error)")
    return data


def load_fixture(path: Path | str) -> dict[str, Any]:
    """Read and validate one fixture file; errors name the file and the JSON position."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FixtureError(path, f"cannot read: {exc.strerror}") from None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FixtureError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return validate_fixture(parsed, path)


def session_files(directory: Path | str) -> list[Path]:
    """The fixture files of a session directory, in seq order (by number, not by name)."""
    directory = Path(directory)
    found = [(fixture_seq(p.name), p) for p in directory.iterdir() if p.is_file()]
    return [p for seq, p in sorted((s, p) for s, p in found if s is not None)]
