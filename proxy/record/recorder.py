"""The record addon: writes each captured request/response as a fixture before the client is answered."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from proxy.engine.flow import Flow
from proxy.record.session import Session
from proxy.tape.capture_filter import CaptureFilter
from proxy.tape.fixture import decode_content, parse_json, raw_body_fields, request_body_fields, utc_stamp
from proxy.tape.redact import REDACTED, may_hold_secrets, redact_body, redact_headers
from proxy.wire.answers import Answer

log = logging.getLogger("tradetape.record")
_REDACTED_JSON = orjson.dumps(REDACTED).decode()


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


def omitted(encoding: str) -> str:
    """Why a body is not stored: redaction cannot see inside one we cannot decode, so it could carry a secret."""
    log.warning("body with content-encoding %r not recorded: it cannot be decoded, so it cannot be redacted", encoding)
    return f"content-encoding {encoding!r} could not be decoded, so it was not recorded"


def decoded(data: bytes, headers: dict[str, str]) -> bytes | None:
    """`data` without its content-encoding (the fixture stays readable and redactable); None if undecodable."""
    encoding = headers.get("content-encoding")
    return decode_content(data, encoding.lower()) if encoding and data else data


def request_record(flow: Flow) -> dict[str, Any]:
    headers = redact_headers(flow.headers)
    data = decoded(flow.body, headers)
    if data is None:
        fields: dict[str, Any] = {"body": None, "body_omitted": omitted(headers["content-encoding"])}
    else:
        fields = request_body_fields(data)
        if isinstance(fields["body"], (dict, list)) and may_hold_secrets(data):
            fields["body"] = redact_body(fields["body"])
    return {"method": flow.method, "url": flow.url, "headers": headers, **fields}


def response_record(answer: Answer) -> dict[str, Any]:
    headers = redact_headers(answer.headers)
    body = decoded(answer.body, headers)
    if body is None:
        return {
            "status": answer.status,
            "headers": headers,
            "body_raw": None,
            "body_parsed": None,
            "body_omitted": omitted(headers["content-encoding"]),
        }
    parsed = parse_json(body)
    fields = raw_body_fields(body, parsed)
    if parsed is not None and may_hold_secrets(body):
        secrets: list[Any] = []
        fields["body_parsed"] = redact_body(parsed, secrets)
        if secrets:
            fields["body_raw"] = redact_raw(fields["body_raw"], secrets, fields["body_parsed"])
    return {"status": answer.status, "headers": headers, **fields}


def fixture_record(flow: Flow) -> dict[str, Any]:
    fixture: dict[str, Any] = {
        "seq": 0,
        "exchange": flow.exchange,
        "captured_at": utc_stamp(flow.wall_start),
        "latency_ms": flow.latency_ms,
        "request": request_record(flow),
    }
    if flow.failure is not None:
        failure = flow.failure
        fixture["error"] = {
            "tradetape_error": failure.kind,
            "status": failure.status,
            "detail": failure.detail,
            **({"upstream": failure.upstream} if failure.upstream else {}),
        }
    elif flow.response is not None:
        fixture["response"] = response_record(flow.response)
    return fixture


class Recorder:
    """Record addon: one fixture per request that passes the capture filter."""

    def __init__(self, session: Session, capture: CaptureFilter, counts: Any) -> None:
        self.session = session
        self.capture = capture
        self.counts = counts

    def done(self, flow: Flow) -> None:
        if not self.capture(flow.exchange, flow.path):
            return
        try:
            flow.notes["fixture"] = self.session.write(fixture_record(flow), flow.method, flow.exchange, flow.path)
        except OSError as exc:  # the exchange already acted: answer the client, shout about the gap
            self.counts["capture_failed"] += 1
            log.error("could not write the fixture for %s %s: %s", flow.method, flow.url, exc)
            return
        self.counts["captured"] += 1

    def status(self) -> dict[str, Any]:
        return {"session_dir": str(self.session.directory), "fixtures": self.session.count}

    def close(self) -> None:
        self.session.close()
