"""The interop check's own logic (tools/interop/): comparing outcomes, finding a Python for the SDKs.

The check itself (`make interop`) needs Python >= 3.13 and the official SDKs; these parts run everywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tools.interop.find_python import recent_enough
from tools.interop.run import Served, compare, stopped_badly, unexpected


def call(name: str, outcome: dict, expect: str | int = "ok", as_expected: bool = True) -> dict:
    return {"call": name, "expect": expect, "outcome": outcome, "as_expected": as_expected}


def test_compare_names_every_call_whose_replay_differs_or_is_missing():
    recorded = [call("kalshi.get_balance", {"ok": {"b": "1.00"}}), call("poly.cancel_all", {"ok": {"canceled": 2}})]
    assert compare(recorded, recorded) == []
    replayed = [call("kalshi.get_balance", {"refused": {"status": 599}})]
    problems = compare(recorded, replayed)
    assert problems[0].startswith("kalshi.get_balance: record {") and '"status": 599' in problems[0]
    assert problems[1] == 'poly.cancel_all: record {"ok": {"canceled": 2}} != replay null'


def test_unexpected_lists_only_calls_that_missed_their_expectation():
    results = [call("a", {"ok": {}}), call("b", {"ok": {}}, expect=409, as_expected=False)]
    assert unexpected(results) == ['b: expected 409, got {"ok": {}}']


def test_a_command_that_does_not_stop_cleanly_is_a_problem_with_its_report():
    assert stopped_badly(Served({}, 0), "sim") == stopped_badly(Served({}, -signal.SIGINT), "sim") == []
    assert stopped_badly(Served({}, 1, "unmatched requests (1)\n"), "replay") == [
        "tradetape replay exited 1:\nunmatched requests (1)"
    ]


def test_only_a_python_of_at_least_3_13_is_taken_for_the_sdks(tmp_path):
    assert recent_enough(sys.executable) == (sys.version_info >= (3, 13))
    assert not recent_enough(str(tmp_path / "no-such-python"))


def test_an_interop_python_the_user_chose_that_cannot_serve_is_an_error_not_a_skip(tmp_path):
    finder = [sys.executable, str(Path(__file__).parent.parent / "tools" / "interop" / "find_python.py")]
    env = {**os.environ, "INTEROP_PYTHON": str(tmp_path / "python3.9")}
    done = subprocess.run(finder, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr
        == f"INTEROP_PYTHON={tmp_path / 'python3.9'}: not a runnable Python >= 3.13 (the official SDKs need one)\n"
    )
