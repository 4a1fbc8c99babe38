"""The drift watch: a record addon that compares each answer with known shapes while the session records.

Its done hook only queues the answer (bytes already in memory): decoding, parsing and comparing
happen on a worker thread, after the client has its answer, and a full queue skips the check rather
than wait. Breaking and notable departures are logged once per endpoint; every distinct finding goes
to the session's drift.json, rewritten atomically as findings arrive, with `fixture`: the session's
file that first showed it (null when the capture filter did not write that answer). Bodies are
redacted before comparison, so no secret can reach a finding.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from proxy.drift.compare import BREAKING, INFORMATIONAL, NOTABLE, Finding, compare
from proxy.drift.samples import Sample, answer_body, rest_key
from proxy.drift.shapes import Shape, infer
from proxy.engine.flow import Flow
from proxy.tape.fixture import DRIFT, FORMAT, decode_content
from proxy.tape.redact import NOT_JSON, read_json, redact_body
from proxy.tape.secrets import may_name_secrets

log = logging.getLogger("tradetape.drift")
QUEUE_LIMIT = 1000
NOT_CAPTURED = "(not captured)"  # the origin of an answer the capture filter did not write
_LIVE_KINDS_SKIPPED = frozenset({"unseen", "status_unseen"})  # one answer cannot show what was not exercised


class Answered(NamedTuple):
    exchange: str
    method: str
    path: str
    status: int
    body: bytes
    encoding: str | None
    fixture: str | None


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def answer_sample(item: Answered) -> Sample:
    """The answer as drift sees it: decoded, parsed, its secret fields redacted as the recorder does."""
    data = decode_content(item.body, item.encoding.lower() if item.encoding else None) or b""
    hinted = may_name_secrets(data)
    parsed, unsure = read_json(data, hinted) if data else (NOT_JSON, None)
    if parsed is NOT_JSON:
        parsed = None
    elif parsed is not None and hinted:
        parsed = redact_body(parsed)
    body = answer_body(parsed, None if parsed is not None or unsure else _text(data))
    key = rest_key(item.exchange, item.method, item.path)
    return Sample(item.exchange, key, item.status, body, item.fixture or NOT_CAPTURED)


def departures(known: dict[tuple[str, str], Shape], sample: Sample) -> list[Finding]:
    """How one answer departs from the known shape of its endpoint (an unknown endpoint is informational)."""
    key = (sample.exchange, sample.key)
    old = {key: known[key]} if key in known else {}
    return [f for f in compare(old, infer([sample])) if f.kind not in _LIVE_KINDS_SKIPPED]


def drift_document(against: str, findings: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"format": FORMAT, "against": against, "findings": findings}, option=orjson.OPT_INDENT_2)


class DriftWatch:
    """Record addon: compares every answer with `known` off the answer path; findings go to drift.json."""

    def __init__(self, known: dict[tuple[str, str], Shape], against: str, directory: Path) -> None:
        self.known = known
        self.against = against
        self.path = directory / DRIFT
        self.skipped = 0  # answers not checked because the queue was full
        self.findings: dict[Finding, dict[str, Any]] = {}  # without its example -> as written
        self._lock = threading.Lock()  # status() reads findings on the event loop
        self.warned: set[tuple[str, str]] = set()
        self._queue: queue.Queue[Answered | None] = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="tradetape-drift", daemon=True)
        self._thread.start()

    def done(self, flow: Flow) -> None:
        answer = flow.response
        if answer is None:
            return
        item = Answered(
            flow.exchange,
            flow.method,
            flow.path,
            answer.status,
            answer.body,
            answer.headers.get("content-encoding"),
            flow.notes.get("fixture"),
        )
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.skipped += 1

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.check(answer_sample(item))
            except Exception:  # a bad body or a full disk must never stop the recording
                log.exception("drift check failed on %s %s", item.method, item.path)

    def check(self, sample: Sample) -> None:
        found = {replace(f, example=None): f for f in departures(self.known, sample)}
        with self._lock:
            new = [f for key, f in found.items() if key not in self.findings]
            fixture = None if sample.origin == NOT_CAPTURED else sample.origin
            for key, finding in found.items():
                self.findings.setdefault(key, {**finding.to_json(), "fixture": fixture})
        if not new:
            return
        self._write()
        serious = [f for f in new if f.severity in (BREAKING, NOTABLE)]
        endpoint = (sample.exchange, sample.key)
        if serious and endpoint not in self.warned:
            self.warned.add(endpoint)
            shown = "; ".join(
                f"{f.pointer or '(body)'} {f.detail}" if f.pointer is not None else f.detail for f in serious
            )
            log.warning("drift on %s %s (against %s): %s", sample.exchange, sample.key, self.against, shown)

    def _write(self) -> None:
        temp = self.path.with_name(f".{DRIFT}.tmp")
        with self._lock:
            findings = list(self.findings.values())
        temp.write_bytes(drift_document(self.against, findings))
        os.replace(temp, self.path)

    def status(self) -> dict[str, Any]:
        with self._lock:
            found = list(self.findings)
        return {
            "drift_against": self.against,
            "drift": {s: sum(f.severity == s for f in found) for s in (BREAKING, NOTABLE, INFORMATIONAL)},
            "drift_skipped": self.skipped,
        }

    def close(self) -> None:
        """Finish the checks already queued, then stop the worker."""
        self._queue.put(None)
        self._thread.join()
