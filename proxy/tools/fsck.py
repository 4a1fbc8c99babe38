"""`tradetape fsck`: validate every fixture of a session, report seq gaps and stray files, move leftovers of an
interrupted write aside, rebuild the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from proxy.record.session import write_atomically
from proxy.replay.sources import check_fixture, seq_report
from proxy.tape.fixture import MANIFEST, FixtureError, fixture_seq, load_fixture
from proxy.tape.manifest import build_manifest, tradetape_version
from proxy.tape.schema import list_session, quarantine_leftovers


def check_session(directory: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str], list[str]]:
    """(valid fixtures in seq order, problems, notes): every file validated, seq gaps, duplicates, stray
    files; leftovers of an interrupted write are moved aside (notes), so they fail no later fsck."""
    listing = list_session(directory)
    notes = quarantine_leftovers(directory, listing.leftovers)
    problems = [str(problem) for problem in listing.problems]
    valid: list[tuple[Path, dict[str, Any]]] = []
    for path in listing.fixtures:
        try:
            fixture = load_fixture(path)
            check_fixture(fixture, path)
        except FixtureError as exc:
            problems.append(str(exc))
            continue
        if fixture["seq"] != fixture_seq(path.name):
            problems.append(f"{path}: seq {fixture['seq']} in the file but {fixture_seq(path.name)} in its name")
        valid.append((path, fixture))
    problems += seq_report(directory.name, [(p.name, f["seq"]) for p, f in valid])
    return [(p.name, f) for p, f in valid], problems, notes


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
