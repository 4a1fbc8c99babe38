"""JSON read the way the strictest and the most lenient server would both read it, or not at all.

Servers disagree on duplicate keys (first wins, last wins, error), on keys that differ only in case (Go
matches them case-insensitively, with Unicode simple folding: "ſide" is "side"), on NaN, a byte order
mark, or data after the document. A body where any of that could matter has two readings, so it is
refused rather than priced or scrubbed on one of them.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import orjson


class Ambiguous(ValueError):
    """A body that is not JSON, or JSON that servers may read differently; the message says which."""


def fold(key: str) -> str:
    """A key as the most lenient server compares it: NFKC, then case-folded."""
    return key.lower() if key.isascii() else unicodedata.normalize("NFKC", key).casefold()


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs) and len({k.lower() if k.isascii() else fold(k) for k in obj}) == len(obj):
        return obj
    seen: dict[str, str] = {}
    for key, _ in pairs:  # the slow path only names the culprits
        folded = fold(key)
        if folded in seen:
            raise Ambiguous(f"keys {seen[folded]!r} and {key!r} may be read as the same key")
        seen[folded] = key
    raise AssertionError("unreachable: a duplicate was counted")


def _no_constant(name: str) -> Any:
    raise Ambiguous(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant)


def loads(data: bytes) -> Any:
    """The one reading of `data`; Ambiguous when there is none or more than one.

    orjson checks the syntax first (BOM, NaN, trailing data, bad UTF-8, lone surrogates); the duplicate
    check runs only on what it accepted, through the stdlib decoder with a hook per object.
    """
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Ambiguous(f"not strict JSON ({exc})") from None
    try:
        return _DECODER.decode(data.decode("utf-8"))
    except ValueError as exc:  # Ambiguous, or a number past the int conversion limit
        raise Ambiguous(str(exc)) from None


def folded(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` keyed by folded names (unique: loads() refused anything else), as a lenient server looks them up."""
    return {fold(key): value for key, value in obj.items()}
