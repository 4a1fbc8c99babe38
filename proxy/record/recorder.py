"""The record addon: writes each captured request/response as a fixture before the client is answered, and each
message of a captured WebSocket connection to its frames file before it is relayed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from proxy.engine.flow import Flow
from proxy.record.frames import FramesWriter
from proxy.record.session import Session, record_name
from proxy.tape.capture_filter import CaptureFilter
from proxy.tape.compact import deferrable
from proxy.tape.fixture import decode_content, utc_stamp
from proxy.tape.frames import frames_file_name
from proxy.tape.redact import read_json, redact_body, redact_headers, request_body, response_body, scrub_fixture
from proxy.tape.secrets import Credentials, mints_credentials, redact_url, scrub_logs, set_cookie_value, shown_url
from proxy.wire.answers import Answer
from proxy.wire.websocket import Message

log = logging.getLogger("tradetape.record")


def omitted(encoding: str) -> str:
    """Why a body is not stored: redaction cannot see inside one we cannot decode, so it could carry a secret."""
    log.warning("body with content-encoding %r not recorded: it cannot be decoded, so it cannot be redacted", encoding)
    return f"content-encoding {encoding!r} could not be decoded, so it was not recorded"


def decoded(data: bytes, headers: dict[str, str]) -> bytes | None:
    """`data` without its content-encoding (the fixture stays readable and redactable); None if undecodable."""
    encoding = headers.get("content-encoding")
    return decode_content(data, encoding.lower()) if encoding and data else data


def request_record(
    flow: Flow, creds: Credentials, found: list[Any], deferred: list[tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    headers = redact_headers(flow.headers)
    data = decoded(flow.body, headers)
    if data is None:
        fields: dict[str, Any] = {"body": None, "body_omitted": omitted(headers["content-encoding"])}
    elif deferred is not None and deferrable(data):
        deferred.append(("request", data))
        fields = {}
    else:
        fields = request_body(data, headers.get("content-type", ""), creds, found)
    return {"method": flow.method, "url": redact_url(flow.url, found), "headers": headers, **fields}


def response_record(
    answer: Answer, creds: Credentials, found: list[Any], deferred: list[tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    headers = redact_headers(answer.headers, found)
    body = decoded(answer.body, headers)
    if body is None:
        return {
            "status": answer.status,
            "headers": headers,
            "body_raw": None,
            "body_parsed": None,
            "body_omitted": omitted(headers["content-encoding"]),
        }
    if deferred is not None and deferrable(body):
        deferred.append(("response", body))
        return {"status": answer.status, "headers": headers}
    return {
        "status": answer.status,
        "headers": headers,
        **response_body(body, headers.get("content-type", ""), creds, found),
    }


def fixture_start(
    flow: Flow, creds: Credentials, found: list[Any], deferred: list[tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    """The fixture's fields known once the request is: all but its latency, answer and place on the session clock
    (seq and latency_ms are set later; their keys are here so the file keeps its order)."""
    return {
        "seq": 0,
        "exchange": flow.exchange,
        "captured_at": utc_stamp(flow.wall_start),
        "latency_ms": None,
        "request": request_record(flow, creds, found, deferred),
    }


def fixture_record(
    flow: Flow,
    creds: Credentials | None = None,
    deferred: list[tuple[str, bytes]] | None = None,
    started: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fixture of one exchange, redacted by name and by value (`creds` learns what this one reveals).

    With `deferred`, for Session.write: the bodies compact.deferrable lets wait are appended to it, their fields
    left out, and the by-value scrub is left to Session.write, which checks the bytes it writes. `started` is the
    fixture_start made already (RequestHalf: the request's deferred body, if any, first in `deferred`).
    """
    creds = Credentials() if creds is None else creds
    found: list[Any] = []
    fixture = fixture_start(flow, creds, found, deferred) if started is None else started
    fixture["latency_ms"] = flow.latency_ms
    if flow.failure is not None:
        failure = flow.failure
        fixture["error"] = {
            "tradetape_error": failure.kind,
            "status": failure.status,
            "detail": failure.detail,
            **({"upstream": failure.upstream} if failure.upstream else {}),
        }
    elif flow.response is not None:
        fixture["response"] = response_record(flow.response, creds, found, deferred)
    if "sent_after" in flow.notes:
        fixture["sent_after"] = flow.notes["sent_after"]  # the request's place on the session clock
    if found:
        creds.learn(found)
    return scrub_fixture(fixture, creds) if creds and deferred is None else fixture


def learn_handed_out(flow: Flow, creds: Credentials) -> None:
    """Credentials an exchange hands out (API-key creation, a session cookie) are learned even when the answer is
    not captured (a captured one's are learned as it is redacted)."""
    answer = flow.response
    if answer is None:
        return
    if "set-cookie" in answer.headers:
        creds.learn(map(set_cookie_value, answer.headers.getall("set-cookie")))
    if not mints_credentials(flow.exchange, flow.path):
        return
    body = decoded(answer.body, {k.lower(): v for k, v in answer.headers.items()})
    parsed, _ = read_json(body) if body else (None, None)
    found: list[Any] = []
    redact_body(parsed, found)
    creds.learn(found)


HALF = "request_half"  # flow.notes key: False until made, then a RequestHalf, the exception making it raised, or None


@dataclass(slots=True)
class RequestHalf:
    """The request's record, redacted and encoded while the upstream answers it: on the client's wait only the
    response's half and the journal append remain (Session.write still scrubs the whole record by value, with
    every credential learned by then)."""

    started: dict[str, Any]  # fixture_start
    deferred: list[tuple[str, bytes]]


def request_half(flow: Flow, creds: Credentials) -> RequestHalf | Exception:
    """The request's half of its fixture; what it raised, if it failed, for done() to handle as the capture's
    failure (after the exchange answered, as when the whole fixture is made there: the request is not refused)."""
    deferred: list[tuple[str, bytes]] = []
    found: list[Any] = []
    try:
        started = fixture_start(flow, creds, found, deferred)
    except Exception as exc:
        return exc
    if found:
        creds.learn(found)
    return RequestHalf(started, deferred)


class Recorder:
    """Record addon: one fixture per request that passes the capture filter; a captured WebSocket connection's
    messages go to the frames file its handshake fixture names."""

    def __init__(self, session: Session, capture: CaptureFilter, counts: Any) -> None:
        self.session = session
        self.capture = capture
        self.counts = counts
        self.credentials = Credentials()  # every credential seen in this session, scrubbed wherever it appears
        scrub_logs(self.credentials)  # a log line of any module too
        self.close_error: str | None = None

    async def request(self, flow: Flow) -> None:
        flow.notes["sent_after"] = self.session.last_seq  # the request's place on the session clock
        flow.notes[HALF] = False
        # The forward is written to the upstream before the loop's next turn: the half is made while it answers.
        asyncio.get_running_loop().call_soon(self._make_half, flow)

    def _make_half(self, flow: Flow) -> None:
        if flow.notes.get(HALF) is False:  # done() has not come first
            flow.notes[HALF] = self._half(flow)

    def _half(self, flow: Flow) -> RequestHalf | Exception | None:
        """Learn the request's credentials, and make its half when it is captured."""
        self.credentials.learn_headers(flow.headers)
        return request_half(flow, self.credentials) if self.capture(flow.exchange, flow.path) else None

    def done(self, flow: Flow) -> None:
        half = flow.notes.pop(HALF, False)
        if half is False:  # request() did not run (an addon before this one answered), or the answer came first
            half = self._half(flow)
        if half is None:  # not captured
            learn_handed_out(flow, self.credentials)
            return
        try:
            if isinstance(half, Exception):
                raise half
            fixture = fixture_record(flow, self.credentials, half.deferred, half.started)
            if flow.upgrade and flow.response is not None and flow.response.status == 101:
                fixture["websocket"] = {"frames": self._open_frames(flow)}  # the file exists before the fixture
            flow.notes["fixture"] = self.session.write(
                fixture, flow.method, flow.exchange, flow.path, self.credentials, half.deferred
            )
        except OSError as exc:  # the exchange already acted: answer the client, shout about the gap
            self.counts["capture_failed"] += 1
            log.error("could not write the fixture for %s %s: %s", flow.method, shown_url(flow.url), exc)
            writer = flow.notes.pop("frames", None)
            if writer is not None:
                writer.discard()
            return
        self.counts["captured"] += 1

    def _open_frames(self, flow: Flow) -> str:
        seq = self.session.last_seq + 1
        name = frames_file_name(record_name(seq, flow.method, flow.exchange, flow.path, self.credentials))
        flow.notes["frames"] = FramesWriter(self.session, name, self.credentials)
        return name

    def _close_frames(self, flow: Flow) -> None:
        writer = flow.notes.pop("frames", None)
        if writer is not None:
            writer.close()

    # -- WebSocket hooks (proxy.engine.websocket) ------------------------------------------------

    def websocket_start(self, flow: Flow) -> bool:
        return "frames" in flow.notes

    def websocket_messages(self, flow: Flow, messages: list[Message], t: float) -> None:
        writer: FramesWriter = flow.notes["frames"]
        try:
            writer.write(messages, t)
        except OSError as exc:
            self.counts["capture_failed"] += len(messages)
            log.error("could not record %d WebSocket messages of %s: %s", len(messages), shown_url(flow.url), exc)
            return
        self.counts["frames"] += len(messages)

    def websocket_end(self, flow: Flow) -> None:
        self._close_frames(flow)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"session_dir": str(self.session.directory), "fixtures": self.session.count}
        return {**status, "close_error": self.close_error} if self.close_error else status

    def close(self) -> None:
        try:
            self.session.close()
        except OSError as exc:  # a full disk at shutdown: the fixtures are whole in the journal, files may be missing
            self.close_error = exc.strerror or str(exc)
            log.error("%s: its files could not all be written: %s", self.session.directory, self.close_error)
