"""A session's fixtures as stored: its fixture files, and the journal's records not yet materialised as files.

Every tool reads a session through `session_fixtures`, so a session whose recorder was killed before
its files were written reads the same as one that was closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from proxy.tape.durable import make_durable, write_atomically
from proxy.tape.fixture import load_fixture, parse_fixture
from proxy.tape.journal import Contents, JournalFile, read_journal
from proxy.tape.schema import JOURNAL, FixtureError, Listing, fixture_seq, list_session


@dataclass(frozen=True, slots=True)
class Stored:
    """One fixture: its file (which may exist only in the journal so far) and, from the journal, its bytes."""

    path: Path
    data: bytes | None = None

    @property
    def where(self) -> Path:
        """How messages name it: the file, or the journal record that holds it."""
        return self.path if self.data is None else self.path.parent / f"{JOURNAL} ({self.path.name})"

    def load(self) -> dict[str, Any]:
        return load_fixture(self.path) if self.data is None else parse_fixture(self.data, self.where)


def journal_contents(directory: Path) -> Contents | None:
    """The session's journal, or None; FixtureError when it is not one or cannot be read."""
    try:
        return read_journal(directory / JOURNAL)
    except ValueError as exc:
        raise FixtureError(directory / JOURNAL, str(exc)) from None
    except OSError as exc:
        raise FixtureError(directory / JOURNAL, f"cannot read: {exc.strerror}") from None


def session_fixtures(directory: Path, listing: Listing | None = None) -> list[Stored]:
    """Every fixture of a session directory in seq order: the journal's copy where it holds one (it is the
    truth until the session is closed), else the file. FixtureError for a damaged journal or the first
    file that looks like a fixture but cannot be one; a torn end is no fixture (its answer never went out)."""
    listing = list_session(directory) if listing is None else listing
    if listing.problems:
        raise listing.problems[0]
    contents = journal_contents(directory)
    held: dict[str, Stored] = {}
    if contents is not None:
        try:
            damage = contents.damage()
            if damage:
                raise FixtureError(directory / JOURNAL, f"{damage[0]}; run `tradetape fsck`")
            held = {r.name: Stored(directory / r.name, contents.fixture(r)) for r in contents.records}
        finally:
            contents.close()
    files = [Stored(p) for p in listing.fixtures if p.name not in held]
    return sorted([*held.values(), *files], key=lambda s: (fixture_seq(s.path.name) or 0, s.path.name))


def is_session(directory: Path) -> bool:
    """Whether a directory holds fixtures (files, or a journal), or files that try to be (reading names them)."""
    listing = list_session(directory)
    return bool(listing.fixtures or listing.problems) or (directory / JOURNAL).is_file()


_SPAN = re.compile(rb'"\[REDACTED\]"|\[REDACTED\]')  # a whole string may stand for a number


def redacted_from(file: bytes, record: bytes) -> bool:
    """`file` is the journal's `record`, or it with pieces replaced by "[REDACTED]" (a number by the string): the
    recorder scrubbed the file of a credential it learned after appending the record (Session._rescrubbed).
    Such a file holds less than the record and nothing else, so it is kept: fsck knows no credential.
    So is one whose answer's `body_raw` the scrub replaced whole by its `body_parsed` (reparsed)."""
    return file == record or _pieces_of(file, record) or _reparsed_from(file, record)


def _reparsed_from(file: bytes, record: bytes) -> bool:
    """The file's `body_raw` is its `body_parsed` serialised, as redact.scrub_fixture writes one whose credential
    the sender escaped unlike orjson (`\\/`), and the rest is the record's with pieces replaced: what the file
    holds, its `body_parsed` holds, and that holds less than the record."""
    try:
        ours, theirs = orjson.loads(file), orjson.loads(record)
    except orjson.JSONDecodeError:
        return False
    answer = ours.get("response") if isinstance(ours, dict) else None
    recorded = theirs.get("response") if isinstance(theirs, dict) else None
    if not isinstance(answer, dict) or not isinstance(recorded, dict) or answer.get("body_parsed") is None:
        return False
    if answer.get("body_raw") != orjson.dumps(answer["body_parsed"]).decode() or "body_raw" not in recorded:
        return False
    answer["body_raw"] = recorded["body_raw"]
    return _pieces_of(orjson.dumps(ours, option=orjson.OPT_INDENT_2), orjson.dumps(theirs, option=orjson.OPT_INDENT_2))


def _pieces_of(file: bytes, record: bytes) -> bool:
    """`file` is `record` with pieces replaced by "[REDACTED]"."""
    pieces = _SPAN.split(file)
    if len(pieces) == 1 or not record.startswith(pieces[0]):
        return False
    at = len(pieces[0])
    for piece in pieces[1:-1]:  # each as early as it can be: that leaves the most room for the rest
        at = record.find(piece, at + 1)
        if at < 0:
            return False
        at += len(piece)
    return len(record) - len(pieces[-1]) > at and record.endswith(pieces[-1])


def restore_files(directory: Path, contents: Contents, unusable: list[str] | None = None) -> list[str]:
    """Materialise each journal record whose file is missing or differs from it; the names written. A record
    that cannot become a file raises FixtureError, or is skipped and named in `unusable` when one is given."""
    written = []
    for record in contents.records:
        try:
            data = contents.fixture(record)
        except FixtureError as exc:
            if unusable is None:
                raise
            unusable.append(str(exc))
            continue
        try:
            if redacted_from((directory / record.name).read_bytes(), data):
                continue
        except OSError:
            pass
        write_atomically(str(directory), record.name, data)
        written.append(record.name)
    return written


def settle_journal(directory: Path) -> tuple[list[str], int]:
    """(problems, files written): a session a killed recorder left with a journal, brought to its closed form.

    Each record's file is written (when missing or different) and made durable, then the journal is
    removed; a damaged journal is kept for a look. JournalBusy while a recorder is writing the session.
    """
    path = directory / JOURNAL
    if not path.is_file() or path.is_symlink():
        return [], 0
    journal = JournalFile(path)
    try:
        try:
            contents = journal.contents()
        except ValueError as exc:
            journal.close()
            return [f"{path}: {exc}; left as it is"], 0
        try:
            damage = contents.damage()
            problems = [f"{path}: {d}; the records around it are written as files, the journal kept" for d in damage]
            if contents.torn:
                problems.append(
                    f"{path}: the last {contents.torn} bytes are a record the recorder did not finish writing "
                    "(its answer never went out); dropped"
                )
            unusable: list[str] = []
            written = restore_files(directory, contents, unusable)
            problems += [f"{why}; the other records are written as files, the journal kept" for why in unusable]
            damage += unusable
        finally:
            contents.close()
        make_durable(str(directory), [str(directory / name) for name in written])
    except BaseException:
        journal.close()
        raise
    if damage:
        journal.close()
    else:
        journal.remove()
        make_durable(str(directory), [])
    return problems, len(written)
