"""The on-disk fixture format: one JSON file per request/response, named so tools can order them by seq."""

from __future__ import annotations

import base64
import errno
import functools
import os
import re
import time
import zlib
from pathlib import Path
from typing import Any

import orjson

from proxy.tape.schema import DRIFT, MANIFEST, MAX_NAME, FixtureError, check_file, fixture_seq, list_session, validate

__all__ = ["DRIFT", "MANIFEST", "FixtureError", "fixture_seq"]

FORMAT = 1
_MEANINGFUL = re.compile(r"^[a-z][a-z_-]*$")
# An endpoint is cut to this length, so a name fits MAX_NAME with a seq of 20 digits, a method of 20 letters and
# an exchange of 12 (and whatever the seq, the name after it is the same: Session.write caches it).
MAX_ENDPOINT = MAX_NAME - 60


# The endpoint of a name whose path's endpoint segment holds a credential (proxy.record.session.record_name).
SECRET_ENDPOINT = "redacted"


@functools.lru_cache(maxsize=4096)
def endpoint_segment(path: str) -> str:
    """The path's last meaningful segment as sent, ids dropped ("" when there is none)."""
    for segment in reversed(path.split("?", 1)[0].split("/")):
        if _MEANINGFUL.match(segment):
            return segment
    return ""


def endpoint_name(path: str) -> str:
    """The path's last meaningful segment, ids dropped: /portfolio/orders/abc123 -> orders (cut to MAX_ENDPOINT)."""
    return endpoint_segment(path)[:MAX_ENDPOINT].replace("-", "_") or "root"


def path_template(path: str) -> str:
    """Ids folded the way endpoint_name skips them: /markets/KX-1/orderbook -> /markets/{id}/orderbook."""
    segments = path.split("?", 1)[0].split("/")
    return "/".join(s if not s or _MEANINGFUL.match(s) else "{id}" for s in segments)


def fixture_name(seq: int, method: str, exchange: str, path: str) -> str:
    return f"{seq:03d}_{method.upper()}_{exchange}_{endpoint_name(path)}.json"


def utc_stamp(epoch: float) -> str:
    """2026-11-19T20:15:00.123Z"""
    millis = int(epoch * 1000) % 1000
    return f"{_utc_second(int(epoch))}.{millis:03d}Z"


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """Formatting the date and time costs more than the rest of a fixture's metadata: once per second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


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


def load_fixture(path: Path | str) -> dict[str, Any]:
    """Read and validate one fixture file; errors name the file and the JSON position."""
    path = Path(path)
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as file:  # a link is refused, not followed
            data = file.read()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            check_file(path)  # names the link and its target
        raise FixtureError(path, f"cannot read: {exc.strerror}") from None
    return parse_fixture(data, path)


def parse_fixture(data: bytes, path: Path) -> dict[str, Any]:
    """A fixture's bytes parsed and validated; errors name `path` and the JSON position."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FixtureError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return validate(parsed, path)


def session_files(directory: Path | str) -> list[Path]:
    """The fixture files of a session directory, in seq order (by number, not by name); FixtureError
    naming the first file that looks like a fixture but cannot be one (fsck lists them all)."""
    listing = list_session(Path(directory))
    if listing.problems:
        raise listing.problems[0]
    return listing.fixtures
