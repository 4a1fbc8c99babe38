"""A session's fixtures as stored: its fixture files, and the journal's records not yet materialised as files.

Every tool reads a session through `session_fixtures`, so a session whose recorder was killed before
its files were written reads the same as one that was closed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .fixture import FixtureError, fixture_seq, load_fixture, session_files, validate_fixture
from .journal import JOURNAL, Contents, JournalFile, read_journal


@dataclass(frozen=True, slots=True)
class Stored:
    """One fixture: its file (which may exist only in the journal so far) and, from the journal, its bytes."""

    path: Path
    data: bytes | None = None

    @property
    def where(self) -> str:
        """How messages name it: the file, or the journal record that holds it."""
        return str(self.path) if self.data is None else f"{self.path.parent / JOURNAL} ({self.path.name})"

    def load(self) -> dict[str, Any]:
        if self.data is None:
            return load_fixture(self.path)
        try:
            parsed = orjson.loads(self.data)
        except orjson.JSONDecodeError as exc:
            raise FixtureError(self.where, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return validate_fixture(parsed, Path(self.where))


def journal_contents(directory: Path) -> Contents | None:
    """The session's journal, or None; FixtureError when it is not one."""
    try:
        return read_journal(directory / JOURNAL)
    except ValueError as exc:
        raise FixtureError(directory / JOURNAL, str(exc)) from None


def session_fixtures(directory: Path) -> list[Stored]:
    """Every fixture of a session directory in seq order: the journal's copy where it holds one (it is the
    truth until the session is closed), else the file. FixtureError when the journal is damaged; a torn end
    is no fixture (its answer never went out)."""
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
    files = {p.name: Stored(p) for p in session_files(directory) if p.name not in held}
    return sorted([*held.values(), *files.values()], key=_seq)


def is_session(directory: Path) -> bool:
    """Whether a directory holds fixtures: files, or a journal."""
    return bool(session_files(directory)) or (directory / JOURNAL).is_file()


def _seq(stored: Stored) -> tuple[int, str]:
    return fixture_seq(stored.path.name) or 0, stored.path.name


def write_file(path: Path, data: bytes) -> None:
    """`data` as the file `path`, whole or not at all: written to a temporary file, then renamed into place."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):  # one write(2) may take only part of it (a nearly full disk)
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)
        os.rename(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def restore_files(directory: Path, contents: Contents) -> list[str]:
    """Materialise each journal record whose file is missing or differs from it; the names written."""
    written = []
    for record in contents.records:
        data = contents.fixture(record)
        path = directory / record.name
        try:
            if path.read_bytes() == data:
                continue
        except OSError:
            pass
        write_file(path, data)
        written.append(record.name)
    return written


def _fsync_path(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux syncfs(2): one call makes a whole batch durable, far cheaper than an fsync per file."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def make_durable(directory: str, paths: list[str]) -> None:
    """Flush `paths` and their directory entries to stable storage."""
    if _SYNCFS is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        _fsync_path(path)
    _fsync_path(directory)


def settle_journal(directory: Path) -> tuple[list[str], int]:
    """(problems, files written): a session a killed recorder left with a journal brought to its closed form.

    Each record's file is written (when missing or different) and made durable, then the journal is
    removed; a damaged journal is kept for a look. JournalBusy while a recorder is writing the session.
    """
    path = directory / JOURNAL
    if not path.exists():
        return [], 0
    journal = JournalFile(path)
    try:
        try:
            contents = journal.contents()
        except ValueError as exc:
            journal.close()
            return [f"{path}: {exc}; left as it is"], 0
        try:
            problems = [
                f"{path}: {damage}; the records around it are restored, the journal kept"
                for damage in contents.damage()
            ]
            if contents.torn:
                problems.append(
                    f"{path}: the last {contents.torn} bytes are a record the recorder did not finish writing "
                    "(its answer never went out); dropped"
                )
            written = restore_files(directory, contents)
        finally:
            contents.close()
        make_durable(str(directory), [str(directory / name) for name in written])
    except BaseException:
        journal.close()
        raise
    if contents.damaged:
        journal.close()
    else:
        journal.remove()
        make_durable(str(directory), [])
    return problems, len(written)
