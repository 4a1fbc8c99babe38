"""A capture session directory: gap-free seq numbers, a journal written before each answer, the fixture files,
the manifest.

Each fixture is appended to the session's journal (proxy/tape/journal.py) before the caller answers its
client: one write(2) to a file already open, which survives the process being killed. Creating a file
per fixture cost far more (an inode and a directory entry each; see the README's Benchmarks). The fixture
files are materialised from the journal off the request path: while the proxy is idle, and at close,
when they are made durable and the journal is removed. A background thread flushes the journal to disk
in batches (fdatasync; frames files of WebSocket connections join those batches): that protects against power
loss, not process death.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from proxy.tape.compact import pack_parts, unpack
from proxy.tape.durable import make_durable, write_atomically
from proxy.tape.fixture import (
    MANIFEST,
    SECRET_ENDPOINT,
    FixtureError,
    endpoint_segment,
    fixture_name,
    fixture_seq,
    load_fixture,
    session_files,
    utc_stamp,
)
from proxy.tape.frames import frames_file_of, read_frames
from proxy.tape.journal import JOURNAL, JournalBusy, JournalFile, record_bytes
from proxy.tape.manifest import manifest_bytes, manifest_entry
from proxy.tape.redact import scrub_fixture
from proxy.tape.schema import list_session, quarantine_leftovers
from proxy.tape.secrets import Credentials
from proxy.tape.stored import restore_files

FLUSH_INTERVAL = 0.05  # the journal reaches the disk at most this long (plus the flush itself) after a write
IDLE = 0.1  # seconds without a new fixture before fixture files are written from the journal
LOUD_CLOSE = 1000  # files still to write at close that are worth a word (on a slow disk, seconds)
log = logging.getLogger("tradetape.record")


class SessionError(OSError):
    """The session directory cannot be used; the message names it, `option` the setting to change."""

    def __init__(self, message: str, option: str = "--capture-dir") -> None:
        super().__init__(message)
        self.option = option


class Flusher:
    """Flushes the session to stable storage in the background, in batches: the journal (one fdatasync) once
    fixtures were appended to it, and files appended to meanwhile (a WebSocket connection's frames file)."""

    def __init__(self, directory: str, journal_fd: int) -> None:
        self._directory = directory
        self._fd = journal_fd
        self._journal = False  # fixtures were appended since the last flush
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tradetape-flush", daemon=True)
        self._thread.start()

    def journal_written(self) -> None:
        if not self._journal:  # else the thread is woken already, and flushes after this write (_flush)
            self._journal = True
            self._wake.set()

    def add(self, path: str) -> None:
        with self._lock:
            self._pending.add(path)
        self._wake.set()

    def _flush(self) -> None:
        if self._journal:
            self._journal = False  # cleared before the flush: a write after it marks the next batch
            try:
                os.fdatasync(self._fd)
            except OSError as exc:  # the records are written; only their durability against power loss is unsure
                log.error("could not flush the session journal to disk: %s", exc)
        with self._lock:
            batch, self._pending = self._pending, set()
        if batch:
            try:
                make_durable(self._directory, sorted(batch))
            except OSError as exc:
                log.error("could not flush %d files of %s to disk: %s", len(batch), self._directory, exc)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            time.sleep(FLUSH_INTERVAL)
            self._wake.clear()
            self._flush()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._flush()


class Session:
    """Writes the fixtures of one session directory and keeps its manifest."""

    def __init__(self, directory: Path | str, info: dict[str, Any], append: bool = False) -> None:
        self.directory = Path(directory)
        self.info = info
        self._dir = str(self.directory)
        if not append:
            refuse_existing(self.directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._journal = JournalFile(self.directory / JOURNAL)
        except JournalBusy as exc:
            raise SessionError(f"session {self.directory}: {exc}", "--session") from None
        except OSError as exc:
            raise SessionError(f"capture dir {self.directory}: cannot write ({exc.strerror})") from None
        try:
            existing, frame_seqs = self._continue()
            self.last_seq = max([f["seq"] for _, f in existing] + frame_seqs, default=0)
            self.created_at = utc_stamp(time.time())
            # Manifest entries as one compact byte buffer: orjson's result bytes keep a few KB of spare
            # capacity each, so a list of them grew recording memory by ~4 KB per fixture.
            self._entries = bytearray()
            self._count = len(existing)
            for name, fixture in existing:
                self._add_entry(fixture, name)
            self._journal.restart()
            self._materialised = self._journal.size  # the journal's records before this offset are files
            self._unwritten = 0  # records after that offset
            self._creds: Credentials | None = None  # the recorder's, once it wrote: scrubs a file written later
            self.write_manifest()
            make_durable(self._dir, [f"{self._dir}/{MANIFEST}", f"{self._dir}/{JOURNAL}"])
        except OSError as exc:
            self._journal.close()
            if isinstance(exc, SessionError):
                raise
            raise SessionError(f"capture dir {self.directory}: cannot write ({exc.strerror})") from None
        self._flusher = Flusher(self._dir, self._journal.fd)
        self._idle = IdleMaterialiser(self)

    def _continue(self) -> tuple[list[tuple[str, dict[str, Any]]], list[int]]:
        """The fixtures already in the directory, once a journal a killed recorder left is written out as files,
        and the seqs of the WebSocket messages recorded with them (one clock)."""
        for note in quarantine_leftovers(self.directory, list_session(self.directory).leftovers):
            log.warning("%s", note)
        try:
            contents = self._journal.contents()
        except ValueError as exc:
            raise self._unusable_journal(str(exc)) from None
        try:
            damage = contents.damage()
            if damage:
                raise self._unusable_journal(f"{damage[0]}")
            restored = restore_files(self.directory, contents)
        except FixtureError as exc:
            raise self._unusable_journal(exc.reason) from None
        finally:
            contents.close()
        if restored:
            log.warning("session %s: %d fixture files written from its journal", self.directory, len(restored))
            make_durable(self._dir, [f"{self._dir}/{name}" for name in restored])
        try:
            existing = [(p.name, load_fixture(p)) for p in session_files(self.directory)]
            frame_seqs = [
                line["seq"]
                for _, fixture in existing
                if (frames := frames_file_of(fixture))
                for line in read_frames(self.directory / frames).frames
            ]
            return existing, frame_seqs
        except FixtureError as exc:
            raise SessionError(
                f"session {self.directory} already holds a fixture that cannot be read, so it "
                f"cannot be continued ({exc}); run `tradetape fsck` on it or choose another --session",
                "--session",
            ) from None

    def _unusable_journal(self, why: str) -> SessionError:
        return SessionError(
            f"session {self.directory}: its journal cannot be used ({self.directory / JOURNAL}: {why}), so the "
            "session cannot be continued; run `tradetape fsck` on it or choose another --session",
            "--session",
        )

    @property
    def count(self) -> int:
        return self._count

    def take_seqs(self, count: int) -> range:
        """The next `count` seqs on the session's clock, for WebSocket messages (fixtures take theirs in write())."""
        first = self.last_seq + 1
        self.last_seq += count
        return range(first, first + count)

    def written(self, path: str) -> None:
        """`path` was appended to: flush it with the next batch."""
        self._flusher.add(path)

    def _add_entry(self, fixture: dict[str, Any], name: str) -> None:
        if self._entries:
            self._entries += b",\n    "
        self._entries += orjson.dumps(manifest_entry(fixture, name))

    def write(
        self,
        fixture: dict[str, Any],
        method: str,
        exchange: str,
        path: str,
        creds: Credentials | None = None,
        deferred: list[tuple[str, bytes]] | None = None,
    ) -> str:
        """Give `fixture` the next seq and append it to the journal; returns the name its file gets.

        `deferred` bodies (compact.deferrable; their fields not in `fixture`) are written as they came, in the
        compact form. Every credential in `creds` is scrubbed first, wherever it appears (by value): the check
        runs on the bytes that are written, so nothing reaches the disk unchecked, and a fixture holding none is
        serialised once. The seq is taken only once its record is whole in the journal, so a failed write
        leaves no gap.
        """
        self._creds = creds
        seq = self.last_seq + 1
        fixture["seq"] = seq
        name = record_name(seq, method, exchange, path, creds)
        parts = pack_parts(fixture, deferred) if deferred else [orjson.dumps(fixture, option=orjson.OPT_INDENT_2)]
        record = record_bytes(name, *parts)
        if creds and (creds.found_in(record) or (deferred and not creds.plain)):
            fixture = scrub_fixture(unpack(b"".join(parts)) if deferred else fixture, creds)
            record = record_bytes(name, orjson.dumps(fixture, option=orjson.OPT_INDENT_2))
            if creds.found_in(record):  # spelled across the JSON's structure: nothing to replace in one string
                raise SessionError("a credential seen in this session could not be scrubbed from it; not recorded")
        self._journal.append(record)
        self.last_seq = seq
        self._unwritten += 1
        self._flusher.journal_written()
        self._count += 1
        return name

    @property
    def pending(self) -> bool:
        """Whether the journal holds fixtures whose files are not written yet."""
        return self._materialised < self._journal.size

    def materialise_one(self) -> None:
        """Write the file of the next fixture that is only in the journal."""
        try:
            found = self._journal.record_at(self._materialised)
        except FixtureError as exc:  # stays in the journal, for fsck to report
            raise OSError(str(exc)) from None
        if found is None:
            raise OSError(f"{self.directory / JOURNAL}: no whole record at byte {self._materialised}")
        name, data, end = found
        data = self._rescrubbed(name, data)
        write_atomically(self._dir, name, data)
        self._add_entry(orjson.loads(data), name)
        self._materialised = end
        self._unwritten -= 1

    def _rescrubbed(self, name: str, data: bytes) -> bytes:
        """A fixture file's bytes scrubbed of a credential learned after its record was appended (a later request
        revealed it): checked off the request path, as the file is written. A file written before that keeps it."""
        creds = self._creds
        if not creds or not creds.found_in(data):
            return data
        scrubbed = orjson.dumps(scrub_fixture(orjson.loads(data), creds), option=orjson.OPT_INDENT_2)
        if creds.found_in(scrubbed):
            seq = fixture_seq(name)
            log.error("%s: fixture %s holds a credential learned after it was recorded", self.directory, seq)
        return scrubbed

    def write_manifest(self) -> None:
        body = manifest_bytes(dict(self.info, created_at=self.created_at), bytes(self._entries))
        write_atomically(self._dir, MANIFEST, body)

    def close(self) -> None:
        """Every fixture file written and on disk, then the journal removed: the session as the seed format has it.

        OSError (a full disk) once the flush thread is stopped anyway; the journal then stays, so nothing
        is lost, and `tradetape fsck` writes the files once there is room.
        """
        self._idle.stop()
        self._flusher.close()
        if self._unwritten >= LOUD_CLOSE:
            log.warning(
                "session %s: writing %d fixture files from its journal before closing (if stopped now, nothing is "
                "lost: `tradetape fsck` or the next record into it finishes them)",
                self.directory,
                self._unwritten,
            )
        try:
            while self.pending:
                self.materialise_one()
            self.write_manifest()
            make_durable(self._dir, [str(p) for p in self.directory.iterdir() if p.is_file()])
        except BaseException:
            self._journal.close()
            raise
        self._journal.remove()
        make_durable(self._dir, [])


class IdleMaterialiser:
    """Writes fixture files from the journal while no fixture is being recorded, one per turn of the event loop,
    so a request arriving meanwhile waits for one file at most. Without a running loop, files wait for close."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._seen = session.last_seq
        self._handle: asyncio.Handle | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._arm()

    def _arm(self) -> None:
        if self._loop is not None:
            self._handle = self._loop.call_later(IDLE, self._tick)

    def _tick(self) -> None:
        idle = self._seen == self._session.last_seq
        self._seen = self._session.last_seq
        if idle and self._session.pending:
            self._step()
        else:
            self._arm()

    def _step(self) -> None:
        if self._loop is None:
            return
        if self._seen != self._session.last_seq or not self._session.pending:
            self._arm()
            return
        try:
            self._session.materialise_one()
        except OSError as exc:
            log.error("could not write a fixture file from the journal (it stays there): %s", exc)
            self._arm()
            return
        self._handle = self._loop.call_soon(self._step)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None


def record_name(seq: int, method: str, exchange: str, path: str, creds: Credentials | None) -> str:
    """A fixture's file name. Its endpoint is the path's segment, which may be a credential (GET /keys/<key>) or a
    piece of one (a token holding '/'): then, since the URL stored has it scrubbed, it is SECRET_ENDPOINT. Checked
    on every call, with the credentials known by then (name_tail is cached)."""
    if creds and creds.found_in(path) and endpoint_segment(path) not in creds.scrub(path).split("/"):
        path = f"/{SECRET_ENDPOINT}"
    return f"{seq:03d}_{name_tail(method, exchange, path)}"


@functools.lru_cache(maxsize=1024)
def name_tail(method: str, exchange: str, path: str) -> str:
    """A fixture name after its seq (fixture_name's), checked once per method, exchange and path: SessionError
    when replay could not load a file so named."""
    name = fixture_name(0, method, exchange, path)
    if fixture_seq(name) is None:
        raise SessionError(f"method {method!r} cannot make a fixture name replay loads; not recorded", "--filter")
    return name.partition("_")[2]


def refuse_existing(directory: Path) -> None:
    """SessionError when `directory` already holds a session: two recordings in one would mix their answers."""
    if not directory.is_dir():
        return
    listing = list_session(directory)
    fixtures = len(listing.fixtures) + len(listing.problems)
    if fixtures or (directory / MANIFEST).exists() or (directory / JOURNAL).exists():
        raise SessionError(
            f"session {directory} already exists ({fixtures} fixtures); choose another name, or pass --append "
            "to add to it",
            "--session",
        )
