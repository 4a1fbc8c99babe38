"""Issue 13, class 5: fixture names and files replay can trust, leftovers of a killed proxy, and a full disk.

A full disk is an injected OSError(ENOSPC), never a real one.
"""

from __future__ import annotations

import errno
import logging
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import proxy.record.session as session_module
from proxy.cli.record import summary
from proxy.cli.tools import export_command, fsck_command, inspect_command
from proxy.record.session import Session
from proxy.replay.sources import SourceError, load_sources
from proxy.replay.volatile import volatile_sets
from proxy.tape.fixture import FixtureError, load_fixture, session_files
from tests.proxy_helpers import fixtures_in, recording, running_proxy
from tests.replay_helpers import KALSHI, fixture, replaying, write_session
from tests.wire_helpers import Scripted, port_of, request, scripted

FAILED = {"tradetape_error": "upstream_timeout", "status": 504}
OK_ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def clean_session(directory: Path) -> Path:
    return write_session(
        directory,
        [
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/markets", answer={"markets": []}),
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/fills", answer={"fills": []}),
        ],
    )


# ---- methods and names ----------------------------------------------------------------------------


async def test_a_method_with_a_dash_is_recorded_under_a_name_replay_loads(tmp_path):
    upstream = Scripted(OK_ANSWER)
    session = tmp_path / "s"
    async with scripted(upstream) as url, running_proxy(url, recording(session, "all")) as proxy:
        head, _ = await request(port_of(proxy), b"M-SEARCH /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    (name,) = [p.name for p in session.iterdir() if p.name != "manifest.json"]
    assert name == "001_M-SEARCH_kalshi_x.json"
    assert [p.name for p in session_files(session)] == [name]  # listed, not skipped
    async with replaying([session]) as proxy:
        head, body = await request(port_of(proxy), b"M-SEARCH /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"ok":true}'


def test_a_method_that_cannot_make_a_fixture_name_is_not_written(tmp_path):
    session = Session(tmp_path / "s", {"session": "s"})
    data = {"seq": 0, "exchange": "kalshi", "request": {"method": "GET", "url": "http://x/a"}, "error": FAILED}
    with pytest.raises(OSError, match="GET_PARAMETER"):
        session.write(dict(data), "GET_PARAMETER", "kalshi", "/a")
    assert session.write(dict(data), "GET", "kalshi", "/a") == "001_GET_kalshi_a.json"  # no gap either
    session.close()


# ---- one schema check, by name ------------------------------------------------------------------


def headers_as_list(directory: Path) -> str:
    path = directory / "002_GET_kalshi_fills.json"
    data = orjson.loads(path.read_bytes())
    data["request"]["headers"] = [["content-type", "application/json"]]
    path.write_bytes(orjson.dumps(data))
    return "002_GET_kalshi_fills.json: request.headers has the wrong type (list)"


def symlink_out_of_the_session(directory: Path) -> str:
    outside = directory.parent / "elsewhere.json"
    outside.write_bytes((directory / "002_GET_kalshi_fills.json").read_bytes())
    (directory / "002_GET_kalshi_fills.json").unlink()
    (directory / "002_GET_kalshi_fills.json").symlink_to(outside)
    return "002_GET_kalshi_fills.json: a symbolic link"


def dangling_symlink(directory: Path) -> str:
    (directory / "003_GET_kalshi_x.json").symlink_to(directory / "nowhere.json")
    return "003_GET_kalshi_x.json: a symbolic link"


def upper_case_suffix(directory: Path) -> str:
    (directory / "002_GET_kalshi_fills.json").rename(directory / "002_GET_kalshi_fills.JSON")
    return "002_GET_kalshi_fills.JSON: not a fixture file name"


def directory_named_like_a_fixture(directory: Path) -> str:
    (directory / "003_GET_kalshi_x.json").mkdir()
    return "003_GET_kalshi_x.json: not a regular file"


def wrong_types(directory: Path) -> str:
    path = directory / "002_GET_kalshi_fills.json"
    data = orjson.loads(path.read_bytes())
    data["seq"] = True
    path.write_bytes(orjson.dumps(data))
    return "002_GET_kalshi_fills.json: seq has the wrong type (bool)"


BREAKAGES = [headers_as_list, symlink_out_of_the_session, dangling_symlink, upper_case_suffix]
BREAKAGES += [directory_named_like_a_fixture, wrong_types]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_replay_fsck_inspect_and_export_refuse_the_same_file_by_name(tmp_path, breakage):
    directory = clean_session(tmp_path / "s")
    expected = breakage(directory)
    with pytest.raises((FixtureError, SourceError)) as refused:
        load_sources([str(directory)], tmp_path, volatile_sets())
    assert expected in str(refused.value)
    for command, args in (
        (fsck_command, [str(directory)]),
        (inspect_command, [str(directory)]),
        (export_command, [str(directory), "--har", "-o", str(tmp_path / "out.har")]),
    ):
        result = CliRunner().invoke(command, args)
        assert result.exit_code == 1, (command.name, result.output)
        assert expected in result.output, (command.name, result.output)
        assert not isinstance(result.exception, (AttributeError, TypeError, KeyError)), result.exception


def test_a_file_that_is_no_fixture_is_named_by_replay_not_skipped_silently(tmp_path):
    directory = clean_session(tmp_path / "s")
    (directory / "README.md").write_text("notes")
    loaded = load_sources([str(directory)], tmp_path, volatile_sets())
    assert any("README.md" in warning and "not a fixture" in warning for warning in loaded.warnings)


# ---- leftovers of a SIGKILL -------------------------------------------------------------------------


def leftovers(directory: Path) -> None:
    (directory / ".003_POST_kalshi_orders.json.tmp").write_bytes(b'{"seq": 3, "exchange": "kal')
    (directory / ".manifest.json.tmp").write_bytes(b'{"format": 1, "fixt')


def test_fsck_moves_leftover_temporary_files_aside_says_so_and_passes(tmp_path):
    directory = clean_session(tmp_path / "s")
    leftovers(directory)
    first = CliRunner().invoke(fsck_command, [str(directory)])
    assert first.exit_code == 0, first.output
    assert ".003_POST_kalshi_orders.json.tmp" in first.output and "quarantine" in first.output
    assert ".manifest.json.tmp" in first.output
    assert not list(directory.glob(".*.tmp"))
    assert (directory / ".quarantine" / ".003_POST_kalshi_orders.json.tmp").exists()
    again = CliRunner().invoke(fsck_command, [str(directory)])
    assert again.exit_code == 0 and "2 valid fixtures, 0 problems" in again.output


def test_recording_into_a_session_with_leftovers_moves_them_aside_and_says_so(tmp_path, caplog):
    directory = clean_session(tmp_path / "s")
    leftovers(directory)
    with caplog.at_level(logging.WARNING):
        session = Session(directory, {"session": "s"}, append=True)
    session.close()
    assert ".003_POST_kalshi_orders.json.tmp" in caplog.text and "quarantine" in caplog.text
    assert not list(directory.glob(".*.tmp"))
    assert [e["seq"] for e in orjson.loads((directory / "manifest.json").read_bytes())["fixtures"]] == [1, 2]


# ---- a full disk ------------------------------------------------------------------------------------


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write tradetape makes fails with ENOSPC (os.write and Path.write_bytes)."""
    monkeypatch.setattr(session_module.os, "write", disk_full)
    monkeypatch.setattr(Path, "write_bytes", disk_full)


async def test_a_full_disk_at_shutdown_ends_with_a_message_and_the_summary(tmp_path, monkeypatch):
    upstream = Scripted(OK_ANSWER, OK_ANSWER)
    session = tmp_path / "s"
    async with scripted(upstream) as url:
        proxy = running_proxy(url, recording(session, "all"))
        await proxy.start()
        for path in (b"/a", b"/b"):
            await request(port_of(proxy), b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        fill_the_disk(monkeypatch)
        await proxy.stop(grace=1)  # must not raise
        text = summary(proxy)
    monkeypatch.undo()
    assert "forwarded 2, captured 2" in text
    assert "could not be closed (No space left on device)" in text and "whole in journal.tape" in text
    assert "tradetape fsck" in text
    assert not list(session.glob(".*.tmp"))
    assert [f["seq"] for f in fixtures_in(session)] == [1, 2]  # the fixtures themselves are whole


def test_fsck_on_a_full_disk_ends_with_a_message_and_the_summary(tmp_path, monkeypatch):
    directory = clean_session(tmp_path / "s")
    fill_the_disk(monkeypatch)
    result = CliRunner().invoke(fsck_command, [str(directory)])
    monkeypatch.undo()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "could not rebuild manifest.json" in result.output and "No space left on device" in result.output
    assert "2 valid fixtures" in result.output
    assert not list(directory.glob(".*.tmp"))


def test_the_flush_thread_survives_a_failing_disk(tmp_path, monkeypatch, caplog):
    session = Session(tmp_path / "s", {"session": "s"})
    monkeypatch.setattr(session_module.os, "fdatasync", disk_full)
    data = {"seq": 0, "exchange": "kalshi", "request": {"method": "GET", "url": "http://x/a"}, "error": FAILED}
    with caplog.at_level(logging.ERROR):
        session.write(dict(data), "GET", "kalshi", "/a")
        for _ in range(100):
            if "No space left on device" in caplog.text:
                break
            time.sleep(0.02)
        monkeypatch.undo()
        session.close()
    assert "could not flush the session journal" in caplog.text and "No space left on device" in caplog.text
    assert load_fixture(tmp_path / "s" / "001_GET_kalshi_a.json")["seq"] == 1
