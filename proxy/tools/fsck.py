"""`tradetape fsck`: write the fixture files a killed recorder left in the session's journal, validate every
fixture, report seq gaps and stray files, move leftovers of an interrupted write aside, rebuild the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from proxy.replay.sources import check_fixture, seq_report
from proxy.tape.durable import write_atomically
from proxy.tape.fixture import MANIFEST, FixtureError, fixture_seq, load_fixture
from proxy.tape.frames import frames_file_of, read_frames
from proxy.tape.journal import JOURNAL
from proxy.tape.manifest import build_manifest, tradetape_version
from proxy.tape.schema import FRAMES_SUFFIX, list_session, quarantine_leftovers
from proxy.tape.stored import settle_journal


def check_session(directory: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str], list[str]]:
    """(valid fixtures in seq order, problems, notes): the journal's fixtures written as files first (JournalBusy
    while a recorder writes the session), then every file validated, seq gaps, duplicates, stray files;
    leftovers of an interrupted write are moved aside (notes), so they fail no later fsck."""
    problems, written = settle_journal(directory)
    listing = list_session(directory)
    notes = quarantine_leftovers(directory, listing.leftovers)
    if written:
        notes.append(f"{directory}: {written} fixture files written from {JOURNAL}")
    problems += [str(problem) for problem in listing.problems]
    valid: list[tuple[Path, dict[str, Any]]] = []
    refused: set[str | None] = set()  # frames files named by a handshake fixture refused (its problem is reported)
    for path in listing.fixtures:
        try:
            fixture = load_fixture(path)
        except FixtureError as exc:
            problems.append(str(exc))
            continue
        try:
            check_fixture(fixture, path)
        except FixtureError as exc:
            problems.append(str(exc))
            refused.add(frames_file_of(fixture))
            continue
        if fixture["seq"] != fixture_seq(path.name):
            problems.append(f"{path}: seq {fixture['seq']} in the file but {fixture_seq(path.name)} in its name")
        valid.append((path, fixture))
    seqs = [(p.name, f["seq"]) for p, f in valid]
    problems += frames_problems(directory, [f for _, f in valid], seqs, refused)
    problems += seq_report(directory.name, seqs)
    return [(p.name, f) for p, f in valid], problems, notes


def frames_problems(
    directory: Path, fixtures: list[dict[str, Any]], seqs: list[tuple[str, int]], refused: set[str | None]
) -> list[str]:
    """A torn last line, seq numbers out of order within a frames file, and frames files no fixture names (not
    those a `refused` handshake fixture names: its own problem, or its frames file's, is already reported);
    the messages' seq numbers are added to `seqs` (one clock with the fixtures)."""
    problems = []
    named: set[str | None] = set()
    for fixture in fixtures:
        name = frames_file_of(fixture)
        if name is None:
            continue
        named.add(name)
        read = read_frames(directory / name)  # check_fixture has already read it whole
        if read.torn:
            problems.append(
                f"{directory / name}: last line cut short ({read.torn} bytes, a write interrupted by a crash; "
                "that message was never relayed, and the tools skip it)"
            )
        numbers = [line["seq"] for line in read.frames]
        if numbers != sorted(numbers):
            problems.append(f"{directory / name}: seq numbers out of order")
        seqs += [(name, number) for number in numbers]
    named |= refused
    for path in sorted(directory.glob(f"*{FRAMES_SUFFIX}")):
        if path.name not in named:
            problems.append(f"{path}: a frames file no fixture names (its handshake fixture is missing or damaged)")
    return problems


def manifest_info(directory: Path) -> dict[str, Any]:
    """What the old manifest said about the session (upstreams, filter, ...), when it can still be read."""
    try:
        old = orjson.loads((directory / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        old = None
    info = {k: v for k, v in old.items() if k not in ("format", "fixtures")} if isinstance(old, dict) else {}
    info.setdefault("session", directory.name)
    info.setdefault("tradetape_version", tradetape_version())
    return info


def write_manifest(directory: Path, fixtures: list[tuple[str, dict[str, Any]]]) -> None:
    write_atomically(str(directory), MANIFEST, build_manifest(directory, manifest_info(directory), fixtures))
