"""One check of a session's files and of each fixture's shape, shared by record, replay, fsck, inspect and export.

A session directory holds fixture files (`NNN_METHOD_exchange_endpoint.json`, regular files), `manifest.json`,
the frames files of recorded WebSocket connections (`NNN_GET_exchange_endpoint.frames.jsonl`), perhaps
`drift.json`, `journal.tape` (while the session is recorded, or after its recorder was killed) and notes. A
symbolic link (it may point out of the session, or nowhere), a name that looks like a fixture's but would not
load (a `.JSON` suffix, an odd method), or a directory named like a fixture is refused by name; any other file
is named in a warning. Nothing recorded is skipped without a word.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.exchanges import EXCHANGES

MANIFEST = "manifest.json"
DRIFT = "drift.json"  # what `record --drift-against` found (proxy/drift/watch.py); not a fixture
JOURNAL = "journal.tape"  # every fixture of a session not closed yet (proxy/tape/journal.py)
QUARANTINE = ".quarantine"
FRAMES_SUFFIX = ".frames.jsonl"  # a recorded WebSocket connection's messages, beside its handshake fixture
METHOD = re.compile(r"[A-Z]+(?:-[A-Z]+)*")  # every llhttp method (M-SEARCH has the one dash) and no other
FIXTURE_NAME = re.compile(rf"(\d+)_{METHOD.pattern}_[a-z]+_[A-Za-z0-9_-]+\.json")
FIXTURE_LIKE = re.compile(r"^\d+_|\.json$", re.I)  # names a fixture might have been given
MAX_NAME = 240  # a fixture file name's length at most: the journal's record header holds no more, `.NAME.tmp` fits


class FixtureError(ValueError):
    """A fixture file that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def fixture_seq(name: str) -> int | None:
    """The seq a fixture file name carries, or None for anything that is not a fixture file name."""
    match = FIXTURE_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


# ---- the files of a session ---------------------------------------------------------------------


@dataclass
class Listing:
    fixtures: list[Path] = field(default_factory=list)  # in seq order
    problems: list[FixtureError] = field(default_factory=list)  # refused, by name
    others: list[Path] = field(default_factory=list)  # not fixtures: named in a warning
    leftovers: list[Path] = field(default_factory=list)  # `.*.tmp` of an interrupted write


def check_file(path: Path) -> None:
    """FixtureError unless `path` is a regular file, not a link: what a fixture may be."""
    if path.is_symlink():
        raise FixtureError(path, f"a symbolic link (to {os.readlink(path)}): fixtures must be regular files")
    if not path.is_file():
        raise FixtureError(path, "not a regular file")


def list_session(directory: Path) -> Listing:
    """Every entry of a session directory, sorted into fixtures, problems, other files and leftovers.

    One scandir: an entry's type comes with it (no stat per file), which keeps a 10,000-fixture load quick."""
    listing = Listing()
    found: list[tuple[int, Path]] = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            name, link = entry.name, entry.is_symlink()
            if name.startswith("."):
                if name.endswith(".tmp"):
                    listing.leftovers.append(directory / name)
                continue
            if name in (MANIFEST, DRIFT, JOURNAL) and not link:
                continue
            if name.endswith(FRAMES_SUFFIX) and not link and entry.is_file(follow_symlinks=False):
                continue  # a connection's messages: read through the fixture that names them (fsck finds strays)
            seq = fixture_seq(name)
            fixture_like = seq is not None or FIXTURE_LIKE.search(name) is not None
            regular = not link and entry.is_file(follow_symlinks=False)
            if link or (fixture_like and not regular):
                try:
                    check_file(directory / name)
                except FixtureError as exc:
                    listing.problems.append(exc)
            elif seq is not None:
                found.append((seq, directory / name))
            elif fixture_like:
                reason = "not a fixture file name (NNN_METHOD_exchange_endpoint.json)"
                listing.problems.append(FixtureError(directory / name, reason))
            else:
                listing.others.append(directory / name)
    listing.fixtures = [path for _, path in sorted(found)]
    return listing


def quarantine_leftovers(directory: Path, leftovers: list[Path]) -> list[str]:
    """Move each leftover `.*.tmp` of a killed writer aside (a manifest's is removed); one line per file."""
    notes = []
    for path in leftovers:
        try:
            if path.name == f".{MANIFEST}.tmp":
                path.unlink()
                notes.append(f"{path}: leftover of an interrupted manifest write, removed (it is rebuilt)")
                continue
            target = directory / QUARANTINE / path.name
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
            notes.append(
                f"{path}: leftover temporary file of an interrupted write, moved to {target} "
                "(its request may have reached the exchange: look at it)"
            )
        except OSError as exc:
            notes.append(f"{path}: leftover temporary file, could not be moved aside ({exc.strerror})")
    return notes


# ---- the shape of one fixture -------------------------------------------------------------------


def _get(obj: dict[str, Any], key: str, kinds: tuple[type, ...], where: str, path: Path, required: bool = True) -> Any:
    if key not in obj:
        if required:
            raise FixtureError(path, f"missing key {where}{key}")
        return None
    value = obj[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise FixtureError(path, f"{where}{key} has the wrong type ({type(value).__name__})")
    return value


def _headers(section: dict[str, Any], where: str, path: Path, required: bool) -> None:
    headers = _get(section, "headers", (dict,), where, path, required) or {}
    for name, value in headers.items():
        if not isinstance(value, str):
            raise FixtureError(path, f"{where}headers.{name} has the wrong type ({type(value).__name__})")


def _encoding(section: dict[str, Any], body_key: str, where: str, path: Path) -> None:
    encoding = _get(section, "body_encoding", (str,), where, path, required=False)
    if encoding is not None and (encoding != "base64" or not isinstance(section.get(body_key), str)):
        raise FixtureError(path, f'{where}body_encoding must be "base64", with {where}{body_key} a string')
    _get(section, "body_omitted", (str,), where, path, required=False)


NUMBER = (int, float, type(None))


def validate(data: Any, path: Path) -> dict[str, Any]:
    """The fixture, if every key the tools read has the type they expect; else FixtureError naming the first."""
    if not isinstance(data, dict):
        raise FixtureError(path, "top level is not a JSON object")
    _get(data, "seq", (int,), "", path)
    exchange = _get(data, "exchange", (str,), "", path)
    if exchange not in EXCHANGES:
        raise FixtureError(path, f"exchange {exchange!r} is not one of {', '.join(EXCHANGES)}")
    _get(data, "captured_at", (str,), "", path, required=False)
    _get(data, "latency_ms", NUMBER, "", path, required=False)
    request = _get(data, "request", (dict,), "", path)
    method = _get(request, "method", (str,), "request.", path)
    if not METHOD.fullmatch(method):
        raise FixtureError(path, f"request.method {method!r} is not an upper-case HTTP method")
    _get(request, "url", (str,), "request.", path)
    _headers(request, "request.", path, required=False)
    _encoding(request, "body", "request.", path)
    if "response" in data:
        response = _get(data, "response", (dict,), "", path)
        _get(response, "status", (int,), "response.", path)
        _headers(response, "response.", path, required=True)
        _get(response, "body_raw", (str, type(None)), "response.", path)
        _encoding(response, "body_raw", "response.", path)
    elif "error" in data:
        error = data["error"]
        if not isinstance(error, dict) or not isinstance(error.get("tradetape_error"), str):
            raise FixtureError(path, "error must be an object with a tradetape_error string")
        _get(error, "status", (int,), "error.", path, required=False)
        _get(error, "upstream", (str, type(None)), "error.", path, required=False)
    else:
        raise FixtureError(path, "missing key response (or error)")
    return data
