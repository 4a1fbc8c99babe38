"""A capture session directory: gap-free seq numbers, atomic fixture files, batched fsync, the manifest.

Every fixture is renamed into place before the caller answers its client, so a killed proxy leaves
whole files or none. fsync runs in a background thread in batches: it protects against power loss,
not process death, and keeping it off the request path is what lets recording keep up with trading.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from proxy.tape.fixture import MANIFEST, FixtureError, fixture_name, fixture_seq, load_fixture, session_files, utc_stamp
from proxy.tape.frames import frames_file_of, read_frames
from proxy.tape.manifest import manifest_bytes, manifest_entry
from proxy.tape.schema import list_session, quarantine_leftovers

FSYNC_INTERVAL = 0.05
log = logging.getLogger("tradetape.record")


class SessionError(OSError):
    """The session directory cannot be used; the message names it, `option` the setting to change."""

    def __init__(self, message: str, option: str = "--capture-dir") -> None:
        super().__init__(message)
        self.option = option


def _write_file(path: str, data: bytes) -> None:
    """All of `data` into a new file: one write(2) may take only part of it (a nearly full disk)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        written = os.write(fd, data)
        while written < len(data):
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def write_atomically(directory: str, name: str, data: bytes) -> None:
    """`data` as `directory/name`, whole or not at all: a temporary file renamed into place, removed on failure."""
    final = f"{directory}/{name}"
    temp = f"{directory}/.{name}.tmp"
    try:
        _write_file(temp, data)
        os.rename(temp, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


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


class FsyncBatcher:
    """Flushes written files (and their directory) to stable storage in the background."""

    def __init__(self, directory: Path) -> None:
        self._directory = str(directory)
        self._pending: set[str] = set()  # a frames file appended to many times is flushed once per batch
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tradetape-fsync", daemon=True)
        self._thread.start()

    def add(self, path: str) -> None:
        with self._lock:
            self._pending.add(path)
        self._wake.set()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, set()
        if batch:
            try:
                make_durable(self._directory, sorted(batch))
            except OSError as exc:  # the files are in place; only their durability against power loss is unsure
                log.error("could not flush %d files of %s to disk: %s", len(batch), self._directory, exc)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            time.sleep(FSYNC_INTERVAL)
            self._flush()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._flush()


class Session:
    """Writes the fixtures of one session directory and keeps its manifest."""

    def __init__(self, directory: Path | str, info: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.info = info
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            probe = self.directory / ".tradetape-write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SessionError(f"capture dir {self.directory}: cannot write ({exc.strerror})") from None
        for note in quarantine_leftovers(self.directory, list_session(self.directory).leftovers):
            log.warning("%s", note)
        try:
            existing = [(p.name, load_fixture(p)) for p in session_files(self.directory)]
            frame_seqs = [
                line["seq"]
                for _, fixture in existing
                if (frames := frames_file_of(fixture))
                for line in read_frames(self.directory / frames).frames
            ]
        except FixtureError as exc:
            raise SessionError(
                f"session {self.directory} already holds a fixture that cannot be read, so it "
                f"cannot be continued ({exc}); run `tradetape fsck` on it or choose another --session",
                "--session",
            ) from None
        self.last_seq = max([f["seq"] for _, f in existing] + frame_seqs, default=0)
        self.created_at = utc_stamp(time.time())
        # Manifest entries as one compact byte buffer: orjson's result bytes keep a few KB of spare
        # capacity each, so a list of them grew recording memory by ~4 KB per fixture.
        self._entries = bytearray()
        self._count = 0
        for name, fixture in existing:
            self._add_entry(fixture, name)
        self._dir = str(self.directory)
        self._fsync = FsyncBatcher(self.directory)
        self.write_manifest()

    @property
    def count(self) -> int:
        return self._count

    def take_seq(self) -> int:
        """The next seq on the session's clock, for a WebSocket message (fixtures take theirs in write())."""
        self.last_seq += 1
        return self.last_seq

    def written(self, path: str) -> None:
        """`path` was appended to: flush it with the next fsync batch."""
        self._fsync.add(path)

    def _add_entry(self, fixture: dict[str, Any], name: str) -> None:
        if self._count:
            self._entries += b",\n    "
        self._entries += orjson.dumps(manifest_entry(fixture, name))
        self._count += 1

    def write(self, fixture: dict[str, Any], method: str, exchange: str, path: str) -> str:
        """Give `fixture` the next seq and put it in place atomically; returns the file name.

        The seq is taken only once the file is in place, so a failed write leaves no gap. Written on
        the event loop: handing each file to a writer thread was measured slower (GIL hand-offs).
        """
        seq = self.last_seq + 1
        fixture["seq"] = seq
        name = fixture_name(seq, method, exchange, path)
        if fixture_seq(name) is None:
            raise SessionError(f"method {method!r} cannot make a fixture name replay loads; not recorded", "--filter")
        write_atomically(self._dir, name, orjson.dumps(fixture, option=orjson.OPT_INDENT_2))
        self.last_seq = seq
        self._fsync.add(f"{self._dir}/{name}")
        self._add_entry(fixture, name)
        return name

    def write_manifest(self) -> None:
        body = manifest_bytes(dict(self.info, created_at=self.created_at), bytes(self._entries))
        write_atomically(self._dir, MANIFEST, body)
        self._fsync.add(f"{self._dir}/{MANIFEST}")

    def close(self) -> None:
        """Write the manifest and flush; OSError (a full disk) once the fsync thread is stopped anyway."""
        try:
            self.write_manifest()
        finally:
            self._fsync.close()
