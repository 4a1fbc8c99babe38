"""Secrets never reach disk: what recording stores of each header, URL and body (rules in secrets.py).

A body is stored only when it can be scrubbed with certainty: JSON with one reading (proxy.exchanges.strict_json),
a form, plain text that assigns no secret-ish name, or bytes holding no credential seen in the session.
Anything else is stored as `body_omitted` with the reason, like a body in an encoding we cannot decode.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import orjson

from proxy.exchanges.strict_json import Ambiguous
from proxy.exchanges.strict_json import loads as strict_loads
from proxy.tape.fixture import raw_body_fields, text_or_base64
from proxy.tape.secrets import (
    REDACTED,
    Credentials,
    assigns_secret,
    is_form,
    is_secret_field,
    is_secret_header,
    may_name_secrets,
    odd_auth,
    printable,
    redact_body,
    redact_pairs,
    set_cookie_value,
)

__all__ = ["REDACTED", "is_secret_field", "is_secret_header", "redact_body"]

log = logging.getLogger("tradetape.record")
NOT_JSON = object()
JSON_START = (b"{", b"[", b'"')
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_REDACTED_JSON = orjson.dumps(REDACTED).decode()


@functools.lru_cache(maxsize=4096)
def header_key(name: str) -> tuple[str, bool]:
    """(the name as a fixture stores it, whether its value is secret): the same few names come with every request."""
    key = printable(name.lower())
    return key, is_secret_header(key)


def redact_headers(headers: Any, found: list[Any] | None = None) -> dict[str, str]:
    """A plain dict of the headers with secret values replaced (repeated headers joined by ', '). An answer's
    (`found`): the value of each cookie it sets goes to `found`, a credential of the session from then on."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key, secret = header_key(name)
        if secret and key == "set-cookie" and found is not None:
            found.append(set_cookie_value(value))
        value = REDACTED if secret else printable(value)
        out[key] = f"{out[key]}, {value}" if key in out and value != REDACTED else value
    return out


def omitted(reason: str) -> str:
    log.warning("body not recorded: %s", reason)
    return reason


def read_json(data: bytes, hinted: bool = True) -> tuple[Any, str | None]:
    """(value, None) for JSON with one reading, (NOT_JSON, None) for a body that is not JSON at all,
    (None, why) for one that looks like JSON but has no single reading (NaN, BOM, NDJSON, duplicate keys).
    Duplicate keys are looked for when the body may name a secret (`hinted`): elsewhere they hide none."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if data.startswith(BOMS) or data.lstrip()[:1] in JSON_START:
            return None, f"the body is not strict JSON ({exc.msg}), so it could not be redacted with certainty"
        return NOT_JSON, None
    if hinted:
        try:
            strict_loads(data)
        except Ambiguous as exc:
            return None, f"the body has two readings ({exc}), so it could not be redacted with certainty"
        pointer = odd_auth(parsed)
        if pointer is not None:
            return None, f"{pointer} is an auth field but no object of named credentials: it could not be redacted"
    return parsed, None


def text_fields(data: bytes, key: str, content_type: str, creds: Credentials, found: list[Any]) -> dict[str, Any]:
    """A body that is not JSON: a form (redacted by name), text, or base64 bytes; omitted when unsure."""
    text, is_b64 = text_or_base64(data)
    if is_b64:
        if creds.found_in(data):
            return {key: None, "body_omitted": omitted("a credential seen in this session is in a binary body")}
        return {key: text, "body_encoding": "base64"}
    if "x-www-form-urlencoded" in content_type and is_form(text):
        return {key: redact_pairs(text, found)}
    if assigns_secret(data):
        return {key: None, "body_omitted": omitted("a text body that assigns a secret-ish name cannot be scrubbed")}
    return {key: text}


def request_body(data: bytes, content_type: str, creds: Credentials, found: list[Any]) -> dict[str, Any]:
    """`body` as parsed JSON (secret fields redacted), text, or null; base64 with `body_encoding`."""
    if not data:
        return {"body": None}
    hinted = may_name_secrets(data)
    parsed, problem = read_json(data, hinted)
    if problem is not None:
        return {"body": None, "body_omitted": omitted(problem)}
    if parsed is NOT_JSON:
        return text_fields(data, "body", content_type, creds, found)
    return {"body": redact_body(parsed, found) if hinted else parsed}


def response_body(data: bytes, content_type: str, creds: Credentials, found: list[Any]) -> dict[str, Any]:
    """`body_raw` (text or base64) and `body_parsed` (JSON or null), secrets redacted in both."""
    hinted = may_name_secrets(data)
    parsed, problem = read_json(data, hinted) if data else (NOT_JSON, None)
    if problem is not None:
        return {"body_raw": None, "body_parsed": None, "body_omitted": omitted(problem)}
    if parsed is NOT_JSON:
        return {**text_fields(data, "body_raw", content_type, creds, found), "body_parsed": None}
    fields = raw_body_fields(data, parsed)
    if hinted:
        secrets: list[Any] = []
        fields["body_parsed"] = redact_body(parsed, secrets)
        if secrets:
            fields["body_raw"] = redact_raw(fields["body_raw"], secrets, fields["body_parsed"])
            found += secrets
    return fields


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


def scrub_fixture(fixture: dict[str, Any], creds: Credentials) -> dict[str, Any]:
    """By value: every credential seen in the session, replaced wherever it is in the fixture."""
    if not creds.found_in(orjson.dumps(fixture)):
        return fixture
    fixture = creds.scrub_value(fixture)
    response = fixture.get("response")
    if response and response.get("body_parsed") is not None and response.get("body_raw") is not None:
        try:
            still = creds.found_in(orjson.dumps(orjson.loads(response["body_raw"])))
        except orjson.JSONDecodeError:
            still = True
        if still:  # escaped in a way the text replacement could not see
            response["body_raw"] = orjson.dumps(response["body_parsed"]).decode()
    return fixture
