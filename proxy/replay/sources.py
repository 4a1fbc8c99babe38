"""Loading what a replay serves: session directories, single fixture files or scenario names, composed.

Everything is read and checked before anything is served: a malformed fixture stops the load with the
file, JSON position and reason. Each source keeps its own seq order; sources are taken in the order
given. Keys recorded by more than one source (collisions) and missing or repeated seq numbers (gaps)
are reported, not fatal: composing sessions is the point, and the report says what to look at.
"""

from __future__ import annotations

import binascii
import copy
import difflib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict

from proxy.engine.flow import Failure
from proxy.replay.correlate import HEADER_TOKEN, correlatable, json_strings
from proxy.replay.filter_hint import manifest_filter
from proxy.replay.match import MatchKey, describe, match_key
from proxy.replay.messages import RecordedMessage, load_messages
from proxy.replay.stand_ins import fill
from proxy.replay.volatile import Volatile, message_volatile, volatile_sets
from proxy.tape.fixture import MANIFEST, FixtureError, body_bytes
from proxy.tape.frames import MAX_QUIET, TOO_QUIET, frames_file_of
from proxy.tape.redact import REDACTED
from proxy.tape.schema import FRAMES_SUFFIX, list_session
from proxy.tape.stored import Stored, session_fixtures
from proxy.wire.answers import UnsendableAnswer, check_headers, status_and_headers
from proxy.wire.headers import NOT_RETURNED
from tapecontract import CONNECTION_DROPPED

DROPPED = CONNECTION_DROPPED  # an `error` kind that replays as a closed connection, no answer at all


class SourceError(ValueError):
    """A source argument that names nothing loadable."""


@dataclass(slots=True, eq=False)
class Recording:
    """One fixture, ready to serve: its key, its answer (or failure) and what correlation needs."""

    source: str
    file: str
    seq: int
    key: MatchKey
    volatile: dict[str, Any]  # json pointer -> recorded value of each volatile request field
    status: int
    headers: CIMultiDict[str]
    body: bytes
    latency_ms: float | None
    failure: Failure | None = None
    dropped: bool = False
    mentions: tuple[str, ...] = ()  # recorded volatile values (of any recording) that this answer's body contains
    header_mentions: tuple[str, ...] = ()  # likewise, whole tokens of its headers
    head: bytes | None = None  # status line and headers as the listener sends them, rendered once
    owner_fallback: str | None = None  # set when the answer has owner slots to fill with the live API key
    sent_after: int | None = None  # the request's place on the session clock (the seq taken before it came)
    captured_at: float = 0.0  # when the request came, in seconds
    messages: list[RecordedMessage] | None = None  # a WebSocket connection's (a 101 with a frames file)
    frames_file: str | None = None
    torn: int = 0  # bytes of a frames line cut short by a crash, skipped

    @property
    def name(self) -> str:
        return f"{self.source}/{self.file}"

    @property
    def opened_at(self) -> float:
        """When a recorded connection's 101 came: its request's time plus the latency (for `timed` pacing); with no
        captured_at, its first message's time (not 1970, which would put every message decades away)."""
        if not self.captured_at and self.messages:
            return self.messages[0].t
        return self.captured_at + (self.latency_ms or 0.0) / 1000


@dataclass
class Loaded:
    sources: list[dict[str, Any]]  # name, path, fixtures
    recordings: list[Recording]  # sources in argument order, each in seq order
    warnings: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)  # source name -> capture filter its manifest names


def resolve_source(spec: str, fixtures_dir: Path) -> Path:
    """A session directory or fixture file as given, else a scenario name under `fixtures_dir`."""
    tried = [Path(spec), fixtures_dir / spec, fixtures_dir / f"{spec}.json"]
    for path in tried:
        if path.exists():
            return path
    raise SourceError(
        f"replay source {spec!r}: no such session directory, fixture file or scenario "
        f"(tried {', '.join(str(p) for p in tried)}){near_match(spec, fixtures_dir)}"
    )


def near_match(spec: str, fixtures_dir: Path) -> str:
    """`; did you mean 'kalshi_full_fill'?` when a session under `fixtures_dir` is spelled almost like `spec`."""
    try:
        names = [p.name for p in fixtures_dir.iterdir() if p.is_dir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(Path(spec).name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _response_headers(recorded: dict[str, Any], path: Path) -> CIMultiDict[str]:
    """The recorded headers a replayed answer can carry: body_raw is stored decoded, so no content-encoding."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in recorded.items():
        if not isinstance(value, str):
            raise FixtureError(path, f"response.headers.{name} has the wrong type ({type(value).__name__})")
        if name in NOT_RETURNED or value == REDACTED or name == "content-encoding":
            continue
        out.add(name, value)
    return out


def recorded_failure(error: Any, path: Path) -> Failure:
    """The Failure a fixture's `error` recorded; FixtureError when it is not one."""
    if not isinstance(error, dict) or not isinstance(error.get("tradetape_error"), str):
        raise FixtureError(path, "error must be an object with a tradetape_error string")
    status = error.get("status", 502)
    if not isinstance(status, int):
        raise FixtureError(path, "error.status has the wrong type")
    return Failure(error["tradetape_error"], status, error.get("detail"), error.get("upstream"))


def _bytes(holder: dict[str, Any], key: str, where: str, path: Path) -> bytes:
    """body_bytes(), failing as a FixtureError (this file, this field) on a bad base64 body."""
    try:
        return body_bytes(holder, key)
    except (binascii.Error, TypeError) as exc:
        raise FixtureError(path, f"{where}{key} is not valid base64 ({exc})") from None


def recording(
    fixture: dict[str, Any],
    source: str,
    path: Path,
    volatile: dict[str, Volatile],
    messages_volatile: dict[str, Volatile] | None = None,
    file: str | None = None,
) -> Recording:
    """Build a Recording; its mentions are every string of its answer until load_sources narrows them.

    `path` names the fixture in errors; `file` is its file name when `path` is the journal record holding it."""
    request = fixture["request"]
    try:
        parts = urlsplit(request["url"])
    except ValueError as exc:
        raise FixtureError(path, f"request.url is not a URL ({exc})") from None
    body = request.get("body")
    if request.get("body_encoding") == "base64":
        body = _bytes(request, "body", "request.", path)
    found: dict[str, Any] = {}
    key = match_key(
        fixture["exchange"],
        request["method"],
        parts.path or "/",
        parts.query,
        body,
        volatile[fixture["exchange"]],
        found,
    )
    latency = fixture.get("latency_ms")
    sent_after = fixture.get("sent_after")
    common = dict(
        source=source,
        file=file or path.name,
        seq=fixture["seq"],
        key=key,
        volatile=found,
        latency_ms=latency if isinstance(latency, (int, float)) else None,
        sent_after=sent_after if isinstance(sent_after, int) and not isinstance(sent_after, bool) else None,
        captured_at=_epoch(fixture.get("captured_at")),
    )
    if "response" not in fixture:
        failure = recorded_failure(fixture["error"], path)
        return Recording(
            **common,
            status=failure.status,
            headers=CIMultiDict(),
            body=b"",
            failure=failure,
            dropped=failure.kind == DROPPED,
        )
    response = fixture["response"]
    strings: set[str] = set()
    json_strings(response.get("body_parsed"), strings)
    headers = _response_headers(response["headers"], path)
    tokens = {token for value in headers.values() for token in HEADER_TOKEN.findall(value)}
    frames = frames_file_of(fixture)
    try:
        check_headers(headers)
        head = None if frames else status_and_headers(response["status"], None, headers)
    except UnsendableAnswer as exc:
        raise FixtureError(path, f"response: {exc}") from None
    body, has_owner = fill(_bytes(response, "body_raw", "response.", path))
    rec = Recording(
        **common,
        status=response["status"],
        headers=headers,
        body=body,
        owner_fallback=str(uuid.uuid4()) if has_owner else None,
        mentions=tuple(strings),
        header_mentions=tuple(tokens),
        head=head,
    )
    if frames is not None:
        if Path(frames).name != frames or frames.startswith(".") or not frames.endswith(FRAMES_SUFFIX):
            raise FixtureError(path, f"websocket.frames {frames!r} is not the name of a frames file beside it")
        _connection(rec, fixture, path.parent / frames, messages_volatile or message_volatile(volatile))
    return rec


def _connection(rec: Recording, fixture: dict[str, Any], frames: Path, volatile: dict[str, Volatile]) -> None:
    """A recorded WebSocket connection: its 101 (answered to the live key at serving time) and its messages."""
    if rec.status != 101:
        raise FixtureError(frames, f"websocket.frames is set but the recorded answer is {rec.status}, not 101")
    rec.headers.popall("sec-websocket-accept", None)
    rec.frames_file = frames.name
    rec.messages, rec.torn = load_messages(frames, fixture["exchange"], volatile[fixture["exchange"]])
    first = min((m.t for m in rec.messages), default=None)  # line 1's: a frames file's times never go back
    if rec.captured_at and first is not None and first - rec.opened_at > MAX_QUIET:
        gap = f"{first - rec.opened_at:.0f} s after the connection's 101 at {fixture['captured_at']}"
        raise FixtureError(frames, f"line 1: t {first} is {gap} {TOO_QUIET}")


def _epoch(stamp: Any) -> float:
    """A fixture's captured_at (2026-11-19T20:15:00.123Z) in seconds; 0 when it is missing or not a time."""
    if not isinstance(stamp, str):
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def seq_report(name: str, seqs: list[tuple[str, int]]) -> list[str]:
    """Missing and repeated seq numbers of one session directory, from (file name, seq) pairs."""
    warnings = []
    seen: dict[int, str] = {}
    for file, seq in seqs:
        if seq in seen:
            warnings.append(f"{name}: seq {seq} appears twice ({seen[seq]} and {file})")
        seen[seq] = file
    numbers = sorted(seen)
    for low, high in itertools.pairwise(numbers):
        if high - low > 1:
            missing = f"{low + 1}" if high - low == 2 else f"{low + 1}-{high - 1}"
            warnings.append(f"{name}: gap, seq {missing} missing")
    return warnings


def source_files(path: Path, warnings: list[str] | None = None) -> list[Stored]:
    """The fixtures of a session directory (seq order: its files, and those its journal holds), or the one fixture
    file given; files that are not fixtures go to `warnings`, and a file that looks like a fixture but cannot be
    one (or a damaged journal) stops the load."""
    if path.is_dir():
        listing = list_session(path)
        stored = session_fixtures(path, listing)
        if not stored:
            raise SourceError(f"replay source {path}: no fixture files (NNN_METHOD_exchange_endpoint.json)")
        if warnings is not None:
            warnings += [f"{other}: not a fixture file, ignored" for other in listing.others]
            warnings += [f"{left}: leftover of an interrupted write, ignored" for left in listing.leftovers]
        return stored
    if path.name == MANIFEST or path.suffix != ".json":
        raise SourceError(f"replay source {path}: not a fixture file")
    return [Stored(path)]


def check_fixture(fixture: dict[str, Any], path: Path) -> None:
    """FixtureError unless replay could serve this loaded fixture, so the session tools accept what replay does."""
    recording(copy.deepcopy(fixture), "", path, volatile_sets())  # a copy: matching strips volatile fields in place


def read_source(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The validated fixtures of a directory (seq order) or of a single file, each with its file's path."""
    fixtures = [(s, s.load()) for s in source_files(path)]
    for s, fixture in fixtures:
        check_fixture(fixture, s.where)
    return [(s.path, fixture) for s, fixture in fixtures]


def _collisions(recordings: list[Recording]) -> list[str]:
    owners: dict[MatchKey, list[Recording]] = {}
    for rec in recordings:
        owners.setdefault(rec.key, []).append(rec)
    warnings = []
    for key, recs in owners.items():
        sources = list(dict.fromkeys(r.source for r in recs))
        if len(sources) > 1:
            shown = describe(key)
            warnings.append(
                f"collision: {shown['exchange']} {shown['method']} {shown['path']} is recorded by "
                f"{', '.join(sources)}; served in that order ({', '.join(r.name for r in recs)})"
            )
    return warnings


def load_sources(specs: list[str], fixtures_dir: Path, volatile: dict[str, Volatile]) -> Loaded:
    """Read every source completely (or raise) and compose them."""
    loaded = Loaded([], [])
    messages = message_volatile(volatile)
    names: set[str] = set()
    for spec in specs:
        path = resolve_source(spec, fixtures_dir)
        name = path.stem if path.is_file() else path.name
        while name in names:
            name += "'"
        names.add(name)
        files = source_files(path, loaded.warnings)
        # one parsed fixture at a time
        recordings = [recording(s.load(), name, s.where, volatile, messages, s.path.name) for s in files]
        if path.is_dir():
            loaded.warnings += seq_report(name, clock_seqs(recordings))
            named = {r.frames_file for r in recordings}
            strays = sorted(p for p in path.glob(f"*{FRAMES_SUFFIX}") if p.name not in named)
            loaded.warnings += [f"{stray}: a frames file no fixture names, ignored" for stray in strays]
        loaded.warnings += [
            f"{r.source}/{r.frames_file}: last line cut short ({r.torn} bytes, an interrupted write): skipped"
            for r in recordings
            if r.torn
        ]
        loaded.recordings += recordings
        loaded.sources.append({"name": name, "path": str(path), "fixtures": len(files)})
        capture_filter = manifest_filter(path)
        if capture_filter is not None:
            loaded.filters[name] = capture_filter
    loaded.warnings += _collisions(loaded.recordings)
    _narrow_mentions(loaded.recordings)
    return loaded


def clock_seqs(recordings: list[Recording]) -> list[tuple[str, int]]:
    """(file, seq) of every fixture and every recorded message: what takes numbers from a session's clock."""
    seqs = [(r.file, r.seq) for r in recordings]
    seqs += [(f"{r.frames_file}", m.seq) for r in recordings for m in r.messages or ()]
    return seqs


def _narrow_mentions(recordings: list[Recording]) -> None:
    """Keep, per answer, only the recorded volatile values it contains, so serving checks only those."""
    recorded = {v for rec in recordings for v in rec.volatile.values() if correlatable(v)}
    recorded |= {v for rec in recordings for m in rec.messages or () for v in m.volatile.values() if correlatable(v)}
    for rec in recordings:
        for message in rec.messages or ():
            if message.mentions:
                message.mentions = tuple(v for v in message.mentions if v in recorded)
        rec.mentions = tuple(v for v in rec.mentions if v in recorded)
        rec.header_mentions = tuple(v for v in rec.header_mentions if v in recorded)
