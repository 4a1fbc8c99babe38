"""Machine-readable readiness for harnesses in any language: a JSON line and --ready-file with the ports the
system chose, the stopped line with a replay's verdict, and the README's shell harness run as written."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.cli_helpers import FREE_PORTS, TRADETAPE, clean_env, readme_block, record_readme_bot, run, start

FIXTURE = str(Path(__file__).resolve().parent.parent / "fixtures" / "kalshi_full_fill")


@pytest.mark.parametrize(
    "command, probe",
    [
        (["record", "--session", "s"], "/__tradetape/status"),
        (["replay", FIXTURE], "/__tradetape/status"),
        (["passthrough"], "/__tradetape/status"),
        (["sim"], "/trade-api/v2/markets"),
    ],
)
def test_every_long_running_command_says_where_it_listens_in_json_and_in_the_ready_file(tmp_path, command, probe):
    ready_file = tmp_path / "ready.json"
    ready_file.write_text('{"event":"ready","kalshi":"http://127.0.0.1:1"}')  # stale, from an earlier run
    running = start(*command, *FREE_PORTS, "--ready-file", str(ready_file), cwd=tmp_path)
    try:
        from_file = json.loads(ready_file.read_text())
        ready = running.ready
        assert from_file == ready and ready["pid"] == running.proc.pid
        assert ready["kalshi_base_url"] == f"{ready['kalshi']}/trade-api/v2" and ready["poly_clob_url"] == ready["poly"]
        assert all(not str(ready[ex]).endswith(":0") for ex in ("kalshi", "poly"))  # the ports the system chose
        with urllib.request.urlopen(f"{ready['kalshi']}{probe}", timeout=10) as resp:
            assert resp.status == 200
    finally:
        out, err = running.stop()
    assert running.proc.returncode == 0, err
    assert not ready_file.exists()  # removed at exit: the file exists only while requests are accepted
    if command[0] != "sim":
        stopped = json.loads(out.strip().splitlines()[-1])
        assert stopped["event"] == "stopped" and stopped["mode"] == command[0]


def test_record_says_its_session_in_the_ready_line(tmp_path):
    running = start("record", *FREE_PORTS, "--capture-dir", str(tmp_path), "--session", "s")
    running.stop()
    assert running.ready["session"] == str(tmp_path / "s") and running.ready["mode"] == "record"


def test_replay_stops_with_its_verdict_in_json(tmp_path):
    running = start("replay", "--strict", *FREE_PORTS, FIXTURE)
    with pytest.raises(urllib.error.HTTPError) as miss:
        urllib.request.urlopen(running.urls["kalshi"] + "/trade-api/v2/portfolio/fills?limit=5", timeout=10)
    assert miss.value.code == 599
    out, _ = running.stop()
    assert running.proc.returncode == 1  # --strict
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["unmatched"] == [
        "unmatched GET /portfolio/fills?limit=5: closest 002_GET_kalshi_fills.json differs at ?limit (live 5, "
        "recorded 1000), and 1 more"
    ]
    assert stopped["unused"] == [
        "kalshi_full_fill/001_POST_kalshi_orders.json",
        "kalshi_full_fill/002_GET_kalshi_fills.json",
    ]
    assert stopped["counts"]["unmatched"] == 1


def test_a_ready_file_that_cannot_be_written_is_one_line_exit_2(tmp_path):
    done = run("replay", *FREE_PORTS, "--ready-file", str(tmp_path / "no" / "ready.json"), FIXTURE)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr
        == f"Error: --ready-file {tmp_path / 'no' / 'ready.json'}: cannot write there (No such file or directory)\n"
    )


def harness(project: Path) -> subprocess.CompletedProcess[str]:
    """The README's harness example, run as written by sh in `project`."""
    env = clean_env(PATH=f"{os.path.dirname(TRADETAPE)}:{os.environ['PATH']}")
    return subprocess.run(
        ["sh", "-e", "-c", readme_block("harness")], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_readme_harness_example_runs_as_written_and_reads_the_verdict(tmp_path):
    record_readme_bot(tmp_path)
    done = harness(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("kalshi executed 5.00") and lines[1].startswith("poly matched 10")  # the bot's output
    assert "replay: every request matched, every fixture used" in lines
    stopped = json.loads(lines[-1])
    assert (stopped["unmatched"], stopped["unused"], stopped["counts"]["replayed"]) == ([], [], 2)


def test_the_readme_harness_reports_problems_when_the_bot_changed(tmp_path):
    record_readme_bot(tmp_path)
    bot = tmp_path / "my_bot.py"
    bot.write_text(bot.read_text().replace('Decimal("5"), Decimal("0.52")', 'Decimal("2"), Decimal("0.52")'))
    done = harness(tmp_path)
    assert done.returncode == 1
    assert "ReplayMismatch: unmatched POST /portfolio/events/orders: closest 001_POST_kalshi_orders.json" in done.stderr
    lines = done.stdout.splitlines()
    assert "replay: problems" in lines
    stopped = json.loads(lines[-1])
    assert stopped["unmatched"] == [
        "unmatched POST /portfolio/events/orders: closest 001_POST_kalshi_orders.json differs at /count "
        "(live 2.00, recorded 5.00)"
    ]
    assert stopped["unused"] == [
        "my_first_session/001_POST_kalshi_orders.json",
        "my_first_session/002_POST_poly_order.json",
    ]
