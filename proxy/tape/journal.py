"""The session journal: each fixture appended to one file before its client is answered.

A write(2) to an open file is in the page cache when it returns, so it survives the process being
killed; creating a file per fixture costs far more (an inode, a directory entry: 0.2-1 ms of CPU on
an ext4 without a journal, where every allocation scans for recently deleted inodes). Each record
holds the fixture file's name and either exactly the bytes that file gets or the compact form those
bytes are made from (compact.py), with their length and CRC-32, so the files are materialised from it
byte for byte and a torn or damaged record is found, never misread:

    tradetape journal 2
    @ <length> <crc32 of name and data, 8 hex digits> <file name>
    <data>

Version 1 (every record the file's bytes) is still read: a recorder of an older release may have left one.

The journal is the truth for the fixtures it holds until the session is closed, when every file is
in place and on disk and the journal is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from proxy.tape.compact import file_bytes
from proxy.tape.schema import JOURNAL, MAX_NAME, FixtureError, fixture_seq

__all__ = ["JOURNAL", "Contents", "JournalBusy", "JournalFile", "Record", "read_journal", "record_bytes"]

MAGIC = b"tradetape journal 2\n"
MAGIC_V1 = b"tradetape journal 1\n"
_HEADER = re.compile(rb"@ (\d{1,10}) ([0-9a-f]{8}) ([^\s/]{1,%d})\n" % MAX_NAME)


class JournalBusy(OSError):
    """Another process holds the journal: a recorder is writing this session."""


def _crc(name: bytes, *parts: bytes | memoryview) -> int:
    """The CRC-32 of the name and then the data, which may come in parts."""
    crc = zlib.crc32(name)
    for part in parts:
        crc = zlib.crc32(part, crc)
    return crc


def record_bytes(name: str, *parts: bytes) -> bytes:
    """One record: its header line, the fixture file's bytes (given in `parts`, joined once here), a newline."""
    raw = name.encode()
    return b"".join([b"@ %d %08x %s\n" % (sum(map(len, parts)), _crc(raw, *parts), raw), *parts, b"\n"])


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    start: int  # where the record's header begins
    offset: int  # where its data begins
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length + 1


@dataclass
class Contents:
    """What a journal holds: its whole records in order, damaged stretches, and a torn end."""

    path: Path
    data: bytes | mmap.mmap
    records: list[Record] = field(default_factory=list)
    damaged: list[tuple[int, int]] = field(default_factory=list)  # [start, end) byte ranges between records
    torn: int = 0  # bytes at the end that are no whole record: a write interrupted by the end of the process

    def fixture(self, record: Record) -> bytes:
        """The bytes of the record's fixture file; FixtureError naming the record if it cannot be one."""
        return fixture_file(self.path, record.name, bytes(self.data[record.offset : record.offset + record.length]))

    def damage(self) -> list[str]:
        """Stretches between whole records that are none. A torn end is not damage: no answer went out for it,
        since an answer only goes out once its record is whole."""
        return [f"bytes {start}-{end - 1} are no whole record (damaged)" for start, end in self.damaged]

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()


def fixture_file(path: Path, name: str, data: bytes) -> bytes:
    """The file a record of the journal at `path` becomes (compact.file_bytes); FixtureError naming the record
    when its compact form does not expand (whole by its CRC, so written wrong, not damaged)."""
    try:
        return file_bytes(data)
    except ValueError as exc:
        raise FixtureError(path.parent / f"{JOURNAL} ({name})", f"record {name} cannot be expanded: {exc}") from None


def _record_at(data: bytes | mmap.mmap, pos: int) -> Record | None:
    match = _HEADER.match(data, pos)
    if match is None:
        return None
    length, crc, raw = int(match.group(1)), int(match.group(2), 16), match.group(3)
    offset = match.end()
    if offset + length >= len(data) or data[offset + length] != 0x0A:
        return None
    if _crc(raw, memoryview(data)[offset : offset + length]) != crc:
        return None
    name = raw.decode("ascii", "replace")
    return Record(name, pos, offset, length) if fixture_seq(name) is not None else None


def _next_record(data: bytes | mmap.mmap, pos: int) -> Record | None:
    """The first whole record after a damaged stretch starting at `pos`."""
    while True:
        pos = data.find(b"\n@ ", pos)
        if pos < 0:
            return None
        pos += 1
        found = _record_at(data, pos)
        if found is not None:
            return found


def parse(path: Path, data: bytes | mmap.mmap) -> Contents:
    contents = Contents(path, data)
    if not data:
        return contents
    head = bytes(data[: len(MAGIC)])
    if head not in (MAGIC, MAGIC_V1):
        if MAGIC.startswith(head) or MAGIC_V1.startswith(head):  # the header itself was being written
            contents.torn = len(data)
            return contents
        raise ValueError(f"not a tradetape journal (it does not start with {MAGIC.strip().decode()!r})")
    pos = len(MAGIC)
    while pos < len(data):
        found = _record_at(data, pos)
        if found is None:
            found = _next_record(data, pos)
            if found is None:
                contents.torn = len(data) - pos
                break
            contents.damaged.append((pos, found.start))
        contents.records.append(found)
        pos = found.end
    return contents


def read_journal(path: Path) -> Contents | None:
    """The journal at `path` (mapped, not read into memory), or None when there is none."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as file:
            size = os.fstat(file.fileno()).st_size
            data: bytes | mmap.mmap = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except FileNotFoundError:
        return None
    return parse(path, data)


class JournalFile:
    """The open journal of a session: one appending writer at a time, which holds a lock on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise JournalBusy(
                f"{path} is held by another tradetape process (a recorder writing this session)"
            ) from None
        self.size = os.fstat(self.fd).st_size

    def contents(self) -> Contents:
        data: bytes | mmap.mmap = mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ) if self.size else b""
        return parse(self.path, data)

    def record_at(self, offset: int) -> tuple[str, bytes, int] | None:
        """(file name, the file's bytes, where the next record begins) of the whole record at `offset`, or None."""
        buf = os.pread(self.fd, 512, offset)
        match = _HEADER.match(buf)
        if match is None:
            return None
        total = match.end() + int(match.group(1)) + 1
        if total > len(buf):
            buf = os.pread(self.fd, total, offset)
        record = _record_at(buf, 0)
        if record is None:
            return None
        data = fixture_file(self.path, record.name, buf[record.offset : record.offset + record.length])
        return record.name, data, offset + record.end

    def restart(self) -> None:
        """Empty the journal (its fixtures are durable files now) and write its header."""
        os.ftruncate(self.fd, 0)
        self.size = 0
        self.append(MAGIC)

    def append(self, data: bytes) -> None:
        """All of `data` at the end, or none of it: a short write (a full disk) is cut back off."""
        try:
            written = os.write(self.fd, data)
            while written < len(data):
                written += os.write(self.fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    def remove(self) -> None:
        """Unlink the journal (while still holding its lock), then close it."""
        try:
            os.unlink(self.path)
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
