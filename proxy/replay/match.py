"""Request matching (VCR.py-style matchers): a key per request that can be compared and explained.

A key is a plain tuple of the parts that must be equal, not a hash, so a miss can say what differed.
Headers never take part: signatures and timestamps live there and change on every run.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson

from proxy.replay.volatile import Volatile
from proxy.tape.frames import pointer_segment
from proxy.tape.secrets import REDACTED, is_form, is_secret_param, may_name_secret_params, redact_pairs

ABSENT = "(absent)"
Query = tuple[tuple[str, str], ...]  # decoded pairs, sorted


class MatchKey(NamedTuple):
    exchange: str
    method: str
    path: str  # raw, as sent (percent-encoding kept)
    query: Query  # order-insensitive
    body: bytes  # canonical JSON (sorted keys) without volatile fields; raw bytes when not JSON (a form's secret
    # values as the marker); b"" when none


def parse_body(data: bytes) -> Any:
    """A request body as matching sees it: its JSON value, or the bytes when it is not JSON."""
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data


def canonical_query(query: str) -> Query:
    """Sorted decoded pairs; a secret-named parameter's value is the marker, as recording stored it."""
    if not query:
        return ()
    pairs = parse_qsl(query, keep_blank_values=True)
    return tuple(sorted((name, REDACTED if value and is_secret_param(name) else value) for name, value in pairs))


def canonical_body(body: Any) -> bytes:
    if body is None:
        return b""
    if type(body) is bytes:
        return redacted_form(body)
    if type(body) is str:
        return redacted_form(body.encode("utf-8"))
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def redacted_form(data: bytes) -> bytes:
    """A form's secret-named values as the marker, as recording stores them: a recorded `api_key=[REDACTED]`
    matches any live value, as a JSON body's secret fields (always volatile) do. Any other body as it is."""
    if b"=" not in data:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if not is_form(text) or not may_name_secret_params(text):
        return data
    return redact_pairs(text, []).encode("utf-8")


def key_of(exchange: str, method: str, path: str, query: str, body: Any, volatile: Volatile) -> MatchKey:
    """The key of a request whose body has already lost its volatile fields (its volatile query values go here)."""
    return MatchKey(exchange, method.upper(), path, volatile.query(canonical_query(query)), canonical_body(body))


def match_key(
    exchange: str,
    method: str,
    path: str,
    query: str,
    body: Any,
    volatile: Volatile,
    found: dict[str, Any] | None = None,
) -> MatchKey:
    """The key of one request. `body` is a parse_body() value and loses its volatile fields (to `found`, with the
    ids derived from them)."""
    if found is None:
        volatile.strip(body)
    else:
        volatile.strip_request(body, found)
    return key_of(exchange, method, path, query, body, volatile)


# ---- explaining a miss ---------------------------------------------------------------------------


def _both(live: Any, recorded: Any) -> dict[str, Any]:
    return {"live": live, "recorded": recorded}


def _query_differences(live: Query, recorded: Query) -> dict[str, Any]:
    def grouped(pairs: Query) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in pairs:
            out.setdefault(name, []).append(value)
        return out

    a, b = grouped(live), grouped(recorded)
    return {
        name: _both(a.get(name, ABSENT), b.get(name, ABSENT))
        for name in sorted(a.keys() | b.keys())
        if a.get(name) != b.get(name)
    }


def _json_differences(live: Any, recorded: Any, pointer: str, out: dict[str, Any]) -> None:
    if type(live) is dict and type(recorded) is dict:
        for name in sorted(live.keys() | recorded.keys()):
            _json_differences(
                live.get(name, ABSENT), recorded.get(name, ABSENT), f"{pointer}/{pointer_segment(name)}", out
            )
    elif type(live) is list and type(recorded) is list and len(live) == len(recorded):
        for index, (a, b) in enumerate(zip(live, recorded, strict=True)):
            _json_differences(a, b, f"{pointer}/{index}", out)
    elif live != recorded:
        out[pointer or "/"] = _both(live, recorded)


def _shown(body: bytes) -> Any:
    """A body for a diagnostic: its JSON, else its text (cut short)."""
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        return text if len(text) <= 200 else text[:200] + "..."


def body_differences(live: bytes, recorded: bytes) -> dict[str, Any]:
    """{json_pointer: {live, recorded}} for every leaf that differs (the whole body when not JSON)."""
    a, b = _shown(live), _shown(recorded)
    out: dict[str, Any] = {}
    _json_differences(a, b, "", out)
    return out


def differences(live: MatchKey, recorded: MatchKey) -> dict[str, Any]:
    """The parts of two keys that differ, each with both values; {} when they are equal."""
    out: dict[str, Any] = {}
    for part in ("exchange", "method", "path"):
        if getattr(live, part) != getattr(recorded, part):
            out[part] = _both(getattr(live, part), getattr(recorded, part))
    if live.query != recorded.query:
        out["query"] = _query_differences(live.query, recorded.query)
    if live.body != recorded.body:
        out["body"] = body_differences(live.body, recorded.body)
    return out


def distance(live: MatchKey, recorded: MatchKey) -> tuple[bool, bool, bool, bool]:
    """How far apart two keys are, cheaply, for ranking candidates (path weighs most)."""
    return (
        live.path != recorded.path,
        live.method != recorded.method,
        live.query != recorded.query,
        live.body != recorded.body,
    )


def describe(key: MatchKey) -> dict[str, Any]:
    """A key as plain JSON for status and reports."""
    return {
        "exchange": key.exchange,
        "method": key.method,
        "path": key.path,
        "query": [list(pair) for pair in key.query],
        "body": _shown(key.body),
    }
