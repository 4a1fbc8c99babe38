"""Secrets never reach disk: auth headers and secret body fields become a marker before anything is written.

The lists are the exchange profiles' secret headers and fields plus the generic ones below, applied to the
traffic of every exchange alike (a secret in the wrong place is still a secret).
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.exchanges import PROFILES

REDACTED = "[REDACTED]"
_REDACTED_JSON = orjson.dumps(REDACTED).decode()

GENERIC_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")
GENERIC_SECRET_FIELDS = ("private_key",)  # a signing key, whatever the exchange


def fold(name: str) -> str:
    """A body field name as secret names are compared: lower-cased, '_' and '-' removed."""
    return name.lower().replace("_", "").replace("-", "")


SECRET_HEADERS = frozenset(GENERIC_SECRET_HEADERS).union(*(p.secret_headers for p in PROFILES.values()))
SECRET_FIELDS = frozenset(map(fold, GENERIC_SECRET_FIELDS)).union(
    *(map(fold, p.secret_fields) for p in PROFILES.values())
)


# Folded the way field names are compared, a body holding none of these bytes has no secret field,
# so the walk is skipped (the hot path). "\\u": a key name may be written with JSON escapes.
# (apisecret contains secret: only the shortest names need looking for.)
_SECRET_HINTS = (
    *(n.encode() for n in SECRET_FIELDS if not any(o != n and o in n for o in SECRET_FIELDS)),
    b"\\u",
)


def may_hold_secrets(data: bytes) -> bool:
    folded = data.lower().replace(b"_", b"").replace(b"-", b"")
    return any(hint in folded for hint in _SECRET_HINTS)


def is_secret_header(name: str) -> bool:
    return name.lower() in SECRET_HEADERS


def is_secret_field(name: str) -> bool:
    return fold(name) in SECRET_FIELDS


def printable(text: str) -> str:
    """Header text as JSON can hold it: bytes that were not UTF-8 (kept as surrogates) become \\xNN."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def redact_headers(headers: Any) -> dict[str, str]:
    """A plain dict of the headers with secret values replaced (repeated headers joined by ', ')."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = printable(name.lower())
        value = REDACTED if key in SECRET_HEADERS else printable(value)
        out[key] = f"{out[key]}, {value}" if key in out and value != REDACTED else value
    return out


def redact_body(value: Any, found: list[Any] | None = None) -> Any:
    """A copy of a parsed JSON body with secret fields replaced; secret values are appended to `found`."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if is_secret_field(key) and item not in (None, "", REDACTED):
                if found is not None:
                    found.append(item)
                out[key] = REDACTED
            else:
                out[key] = redact_body(item, found)
        return out
    if isinstance(value, list):
        return [redact_body(item, found) for item in value]
    return value


def redact_raw(text: str, secrets: list[Any], redacted: Any) -> str:
    """`text` with each secret JSON string replaced in place, so the rest stays byte for byte.

    When that cannot be done (a secret that is not a string, or one the sender escaped unlike
    orjson, as Go writes & as \\u0026), the redacted body, re-serialised, replaces it whole.
    """
    for secret in secrets:
        if not isinstance(secret, str):
            return orjson.dumps(redacted).decode()
        text = text.replace(orjson.dumps(secret).decode(), _REDACTED_JSON)
        if secret in text:
            return orjson.dumps(redacted).decode()
    return orjson.dumps(redacted).decode() if _holds_secrets(text) else text


def _holds_secrets(text: str) -> bool:
    left: list[Any] = []
    try:
        redact_body(orjson.loads(text), left)
    except orjson.JSONDecodeError:
        return True
    return bool(left)
