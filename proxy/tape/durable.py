"""Writing a session's files whole or not at all, and making them durable against a power loss."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable


def _write_file(path: str, data: bytes) -> None:
    """All of `data` into a new file: one write(2) may take only part of it (a nearly full disk)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
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
        syncfs: Callable[[int], int] = libc.syncfs
        return syncfs
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
