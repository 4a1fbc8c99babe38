"""A recording session's journal: written before each answer, files written from it off the request path, exactly
the seed format once closed, and every way a session can be left (killed, damaged, full disk) readable and mended."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import proxy.record.session as session_module
from proxy.cli.tools import audit_command, export_command, fsck_command, inspect_command
from proxy.drift.samples import load as drift_load
from proxy.record.session import IdleMaterialiser, Session, SessionError
from proxy.replay.sources import load_sources
from proxy.replay.volatile import volatile_sets
from proxy.tape.fixture import MANIFEST, fixture_name, load_fixture, session_files
from proxy.tape.journal import JOURNAL, read_journal
from proxy.tape.stored import session_fixtures
from tests.proxy_helpers import killed

KALSHI = "https://api.elections.kalshi.com"


def fixture(path: str, i: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "seq": 0,
        "exchange": "kalshi",
        "captured_at": "2026-11-19T20:15:00.123Z",
        "latency_ms": 1.5,
        "request": {"method": "GET", "url": f"{KALSHI}{path}?i={i}", "headers": headers or {}, "body": None},
        "response": {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body_raw": orjson.dumps({"i": i}).decode(),
            "body_parsed": {"i": i},
        },
    }


PATHS = ["/trade-api/v2/portfolio/fills", "/trade-api/v2/portfolio/orders/ab12", "/trade-api/v2/markets"]


def record(session: Session, count: int, first: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """`count` fixtures written; (name, the fixture as written) of each."""
    out = []
    for i in range(first, first + count):
        item = fixture(PATHS[i % len(PATHS)], i)
        out.append((session.write(item, "GET", "kalshi", PATHS[i % len(PATHS)]), item))
    return out


def test_closed_session_is_the_seed_format_file_for_file_and_byte_for_byte(tmp_path):
    session = Session(tmp_path / "s", {"session": "s"})
    written = record(session, 5)
    session.close()
    expected = [fixture_name(i + 1, "GET", "kalshi", PATHS[i % 3]) for i in range(5)]
    assert [name for name, _ in written] == expected
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted([*expected, MANIFEST])  # no journal
    for name, item in written:
        assert (tmp_path / "s" / name).read_bytes() == orjson.dumps(item, option=orjson.OPT_INDENT_2)
    manifest = orjson.loads((tmp_path / "s" / MANIFEST).read_bytes())
    assert [(e["seq"], e["file"]) for e in manifest["fixtures"]] == [(i + 1, n) for i, n in enumerate(expected)]


def test_each_fixture_is_whole_in_the_journal_when_write_returns(tmp_path):
    session = Session(tmp_path / "s", {"session": "s"})
    written = record(session, 3)
    contents = read_journal(tmp_path / "s" / JOURNAL)
    assert [(r.name, contents.fixture(r)) for r in contents.records] == [
        (name, orjson.dumps(item, option=orjson.OPT_INDENT_2)) for name, item in written
    ]
    assert session_files(tmp_path / "s") == []  # no event loop: the files wait for close
    contents.close()
    session.close()


async def test_files_are_written_from_the_journal_once_recording_pauses(tmp_path):
    session = Session(tmp_path / "s", {"session": "s"})
    written = record(session, 4)
    for _ in range(500):
        if len(session_files(tmp_path / "s")) == 4:
            break
        await asyncio.sleep(0.01)
    assert [p.name for p in session_files(tmp_path / "s")] == [name for name, _ in written]
    assert (tmp_path / "s" / JOURNAL).exists() and not session.pending  # still the journal's until close
    session.close()
    assert not (tmp_path / "s" / JOURNAL).exists()


class ManualLoop:
    """Stands in for the event loop: the idle writer's callbacks run only when the test says so."""

    def __init__(self) -> None:
        self.due: list[Any] = []

    def call_later(self, delay: float, callback: Any) -> asyncio.Handle:
        return self.call_soon(callback)

    def call_soon(self, callback: Any) -> asyncio.Handle:
        self.due.append(callback)
        return asyncio.Handle(callback, (), asyncio.new_event_loop())

    def run_one(self) -> None:
        self.due.pop(0)()


def test_idle_writing_waits_while_fixtures_keep_coming_and_writes_one_file_per_turn(tmp_path):
    session = Session(tmp_path / "s", {"session": "s"})
    session._idle.stop()
    loop = ManualLoop()
    idle = IdleMaterialiser(session)
    idle._loop = loop  # type: ignore[assignment]
    idle._arm()
    record(session, 2)
    loop.run_one()  # a tick that sees new fixtures: not idle, nothing written
    assert session_files(tmp_path / "s") == []
    loop.run_one()  # a tick with no new fixture: one file, and the next turn is queued
    assert len(session_files(tmp_path / "s")) == 1 and len(loop.due) == 1
    record(session, 1, first=2)
    loop.run_one()  # a fixture arrived meanwhile: writing stops until the next idle tick
    assert len(session_files(tmp_path / "s")) == 1
    for _ in range(4):
        loop.run_one()
    assert len(session_files(tmp_path / "s")) == 3 and not session.pending
    idle.stop()
    session.close()


def test_a_second_recorder_on_the_same_session_is_refused_naming_it(tmp_path):
    first = Session(tmp_path / "s", {"session": "s"})
    with pytest.raises(SessionError, match="held by another tradetape process") as refused:
        Session(tmp_path / "s", {"session": "s"}, append=True)
    assert refused.value.option == "--session"
    first.close()
    Session(tmp_path / "s", {"session": "s"}, append=True).close()


def test_a_killed_session_is_continued_its_journal_written_out_first(tmp_path):
    session = Session(tmp_path / "s", {"session": "s"})
    before = record(session, 3)
    killed(session)
    with pytest.raises(SessionError, match="already exists"):  # a killed session is still a session
        Session(tmp_path / "s", {"session": "s"})
    again = Session(tmp_path / "s", {"session": "s"}, append=True)
    assert [p.name for p in session_files(tmp_path / "s")] == [name for name, _ in before]
    after = record(again, 2, first=3)
    again.close()
    assert [name for name, _ in after] == [
        fixture_name(4, "GET", "kalshi", PATHS[0]),
        fixture_name(5, "GET", "kalshi", PATHS[1]),
    ]
    assert [load_fixture(p)["seq"] for p in session_files(tmp_path / "s")] == [1, 2, 3, 4, 5]
    assert not (tmp_path / "s" / JOURNAL).exists()


def test_every_tool_reads_a_killed_session_before_its_files_exist(tmp_path):
    directory = tmp_path / "s"
    session = Session(directory, {"session": "s"})
    record(session, 3)
    killed(session)
    assert session_files(directory) == []
    runner = CliRunner()
    timeline = runner.invoke(inspect_command, [str(directory)])
    assert timeline.exit_code == 0 and len(timeline.output.splitlines()) == 4, timeline.output
    har = tmp_path / "s.har"
    assert runner.invoke(export_command, [str(directory), "--har", "-o", str(har)]).exit_code == 0
    entries = orjson.loads(har.read_bytes())["log"]["entries"]
    assert [e["_tradetape"]["file"] for e in entries] == [
        fixture_name(i + 1, "GET", "kalshi", PATHS[i]) for i in range(3)
    ]
    assert runner.invoke(audit_command, [str(directory)]).exit_code == 0
    assert [r.seq for r in load_sources([str(directory)], tmp_path, volatile_sets()).recordings] == [1, 2, 3]
    assert len(drift_load(str(directory)).samples) == 3
    assert session_files(directory) == [] and (directory / JOURNAL).exists()  # reading wrote nothing


def test_fsck_writes_a_killed_sessions_files_and_manifest_and_removes_the_journal(tmp_path):
    directory = tmp_path / "s"
    session = Session(directory, {"session": "s"})
    written = record(session, 3)
    killed(session)
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 0, result.output
    assert (
        "3 fixture files written from journal.tape" in result.output and "3 valid fixtures, 0 problems" in result.output
    )
    for name, item in written:
        assert (directory / name).read_bytes() == orjson.dumps(item, option=orjson.OPT_INDENT_2)
    assert not (directory / JOURNAL).exists()
    assert [e["file"] for e in orjson.loads((directory / MANIFEST).read_bytes())["fixtures"]] == [n for n, _ in written]


def test_a_torn_journal_end_is_dropped_by_fsck_and_said(tmp_path):
    directory = tmp_path / "s"
    session = Session(directory, {"session": "s"})
    record(session, 2)
    killed(session)
    with open(directory / JOURNAL, "ab") as journal:
        journal.write(b'@ 900 0badc0de 003_GET_kalshi_fills.json\n{\n  "seq": 3')  # a kill inside the write
    assert [s.load()["seq"] for s in session_fixtures(directory)] == [1, 2]
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 1 and "did not finish writing (its answer never went out); dropped" in result.output
    assert [p.name for p in session_files(directory)] == [
        fixture_name(i + 1, "GET", "kalshi", PATHS[i]) for i in range(2)
    ]
    assert not (directory / JOURNAL).exists()
    assert CliRunner().invoke(fsck_command, [str(directory)]).exit_code == 0


def damaged_session(directory: Path) -> None:
    session = Session(directory, {"session": "s"})
    record(session, 3)
    killed(session)
    data = bytearray((directory / JOURNAL).read_bytes())
    second = data.index(b'"seq": 2')
    data[second + 7] = ord("8")
    (directory / JOURNAL).write_bytes(bytes(data))


def test_a_damaged_journal_stops_recording_and_fsck_writes_what_it_can_and_keeps_it(tmp_path):
    directory = tmp_path / "s"
    damaged_session(directory)
    with pytest.raises(SessionError, match=r"its journal cannot be used .*damaged.* run `tradetape fsck`") as refused:
        Session(directory, {"session": "s"}, append=True)
    assert refused.value.option == "--session"
    inspect = CliRunner().invoke(inspect_command, [str(directory)])
    assert inspect.exit_code == 1 and "journal.tape: bytes" in inspect.output and "damaged" in inspect.output
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 1
    assert "damaged" in result.output and "the journal kept" in result.output and "seq 2 missing" in result.output
    assert [load_fixture(p)["seq"] for p in session_files(directory)] == [1, 3]
    assert (directory / JOURNAL).exists()


def test_fsck_and_audit_redact_leave_a_session_being_recorded_alone(tmp_path):
    directory = tmp_path / "s"
    session = Session(directory, {"session": "s"})
    record(session, 1)
    fsck = CliRunner().invoke(fsck_command, [str(directory)])
    assert fsck.exit_code == 1 and "held by another tradetape process" in fsck.output
    assert "stop it before checking the session" in fsck.output
    audit = CliRunner().invoke(audit_command, ["--redact", str(directory)])
    assert audit.exit_code == 1 and "stop it before redacting" in audit.output
    session.close()
    assert [p.name for p in session_files(directory)] == [fixture_name(1, "GET", "kalshi", PATHS[0])]


def test_audit_names_a_secret_in_the_journal_and_redact_writes_the_files_first(tmp_path):
    directory = tmp_path / "s"
    session = Session(directory, {"session": "s"})
    session.write(fixture(PATHS[0], 0, {"authorization": "Bearer live-token-1"}), "GET", "kalshi", PATHS[0])
    killed(session)
    found = CliRunner().invoke(audit_command, [str(directory)])
    assert found.exit_code == 1
    assert f"{directory / JOURNAL} (001_GET_kalshi_fills.json): request.headers.authorization" in found.output
    redacted = CliRunner().invoke(audit_command, ["--redact", str(directory)])
    assert redacted.exit_code == 0, redacted.output
    assert not (directory / JOURNAL).exists()
    assert load_fixture(directory / "001_GET_kalshi_fills.json")["request"]["headers"]["authorization"] == "[REDACTED]"


def test_a_close_on_a_full_disk_keeps_the_journal_and_fsck_finishes_it(tmp_path, monkeypatch):
    directory = tmp_path / "s"
    session = Session(directory, {"session": "s"})
    written = record(session, 2)

    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session_module.os, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        session.close()
    monkeypatch.undo()
    assert (directory / JOURNAL).exists() and not list(directory.glob(".*.tmp"))
    assert [s.load()["seq"] for s in session_fixtures(directory)] == [1, 2]
    assert CliRunner().invoke(fsck_command, [str(directory)]).exit_code == 0
    assert [p.name for p in session_files(directory)] == [name for name, _ in written]


def test_a_close_with_many_files_to_write_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(session_module, "LOUD_CLOSE", 3)
    session = Session(tmp_path / "s", {"session": "s"})
    record(session, 3)
    with caplog.at_level("WARNING"):
        session.close()
    assert "writing 3 fixture files from its journal before closing" in caplog.text
    assert len(session_files(tmp_path / "s")) == 3


def test_a_file_named_like_the_journal_that_is_none_stops_recording_and_fsck_leaves_it(tmp_path):
    directory = tmp_path / "s"
    directory.mkdir()
    (directory / JOURNAL).write_bytes(b"my notes")
    with pytest.raises(SessionError, match=r"journal cannot be used .*not a tradetape journal"):
        Session(directory, {"session": "s"}, append=True)
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 1 and "not a tradetape journal" in result.output and "left as it is" in result.output
    assert (directory / JOURNAL).read_bytes() == b"my notes"


def test_a_path_with_a_long_last_segment_gets_a_name_the_journal_and_a_file_can_hold(tmp_path):
    """The journal's record header holds a name of 240 characters at most (and `.NAME.tmp` must be a file name):
    a longer endpoint is cut, so the fixture is read back, never taken for a torn end or damage."""
    directory = tmp_path / "s"
    long = "/trade-api/v2/" + "a" * 300
    session = Session(directory, {"session": "s"})
    name = session.write(fixture(long, 0), "GET", "kalshi", long)
    written = [(name, None), *record(session, 1, first=1)]
    assert name == fixture_name(1, "GET", "kalshi", long) and len(name) <= 240 and "_aaaa" in name
    killed(session)
    assert [s.load()["seq"] for s in session_fixtures(directory)] == [1, 2]
    Session(directory, {"session": "s"}, append=True).close()
    assert [p.name for p in session_files(directory)] == [n for n, _ in written]
    assert [e["file"] for e in orjson.loads((directory / MANIFEST).read_bytes())["fixtures"]] == [n for n, _ in written]
