"""Loading sessions for a report: the REST fixtures, and beside them whatever the pluggable inputs read.

Each session is read whole and checked first (the same checks as replay, so a bad fixture names its file and
field). An `Input` adds entries of its own kind from the session directory: WebSocket frames, the engine's
decisions. Entries are kept in the session clock's order (seq), each with its wall-clock time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from proxy.replay.sources import SourceError, read_source
from proxy.report.events import Events
from proxy.tape.fixture import MANIFEST, FixtureError


@dataclass(slots=True)
class Entry:
    """One line of the page's list: a REST fixture, a frame, a decision. `record` is shown as it is on disk."""

    kind: str  # rest, frame, decision
    file: str
    seq: int
    wall: float | None  # epoch seconds; None when the record carries no time
    exchange: str | None
    record: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)  # shown beside the record (a frame's connection)
    rank: int = 0  # order among entries of one seq (a decision placed just before or after an order)


# A reader turns one entry into events; `t` is its time on the report's axis, `item` its index in the list.
EntryReader = Callable[[Entry, int, float], Events]


@dataclass(slots=True)
class Read:
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Input(Protocol):
    """A source of entries beside the REST fixtures."""

    kind: str

    def read(self, directory: Path, fixtures: list[tuple[Path, dict[str, Any]]]) -> Read:
        """This input's entries in `directory`; FixtureError naming the file when one cannot be read."""
        ...

    def reader(self, session: Session) -> EntryReader:
        """A fresh reader for `session`'s entries of this kind, fed in order (books from deltas keep state)."""
        ...


@dataclass(slots=True)
class Session:
    name: str
    path: Path
    manifest: dict[str, Any] | None
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def wall_time(stamp: Any) -> float | None:
    """Epoch seconds of a fixture's `captured_at` (2026-11-19T20:15:00.123Z); None when absent or unreadable."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _manifest(path: Path) -> dict[str, Any] | None:
    file = path / MANIFEST if path.is_dir() else path.parent / MANIFEST
    try:
        data = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None  # an index only: fsck rebuilds it, the fixtures are the record
    return data if isinstance(data, dict) else None


def load_session(path: Path, name: str, inputs: Sequence[Input] = ()) -> Session:
    """A session directory or one fixture file, with the entries of every input, in seq order."""
    try:
        fixtures = read_source(path)
    except (FixtureError, SourceError) as exc:
        raise SourceError(f"{exc} (run `tradetape fsck` for every problem)") from None
    session = Session(name, path, _manifest(path))
    session.entries = [
        Entry("rest", p.name, f["seq"], wall_time(f.get("captured_at")), f["exchange"], f) for p, f in fixtures
    ]
    if path.is_dir():
        for source in inputs:
            try:
                read = source.read(path, fixtures)
            except FixtureError as exc:
                raise SourceError(f"{exc} (run `tradetape fsck` for every problem)") from None
            session.entries += read.entries
            session.warnings += read.warnings
    session.entries.sort(key=lambda e: (e.seq, e.rank))
    untimed = [e.file for e in session.entries if e.wall is None and not e.context.get("untimed")]
    if untimed:
        session.warnings.append(f"{name}: no time recorded in {', '.join(untimed)}; placed after the entry before")
    return session


def load_sessions(paths: Sequence[Path], inputs: Sequence[Input] = ()) -> list[Session]:
    """Every session, named by its directory (or file); a name given twice gets a prime, as in replay."""
    names: set[str] = set()
    sessions = []
    for path in paths:
        name = path.stem if path.is_file() else path.name
        while name in names:
            name += "'"
        names.add(name)
        sessions.append(load_session(path, name, inputs))
    return sessions
