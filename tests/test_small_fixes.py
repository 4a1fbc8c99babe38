"""The smaller first-hour snags, each with the message and exit code a newcomer now gets."""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import scenarios.demo as demo_module
import trader.cli as trader_cli
from clients.errors import InsufficientBalance, TransportError
from proxy.cli.main import main
from scenarios.catalogue import SCENARIOS
from simulator import start_simulator
from simulator.kalshi.config import DEFAULT_SECTION as KALSHI_DEFAULT
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT
from simulator.state import StateError
from simulator.state_keys import check_sections
from trader.fakes import FakeKalshi, FakePoly, Plan

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


# ---- a misspelled key in a state file ------------------------------------------------------------


@pytest.mark.parametrize(
    "state, where, hint",
    [
        ({"kalshi": {"accounts": [{"name": "me", "balnce": "5"}]}}, "kalshi.accounts[0].balnce", "'balance'"),
        ({"kalshi": {"markets": [{"ticker": "KX-A", "book": {"yes_dolars": []}}]}}, "book.yes_dolars", "'yes_dollars'"),
        ({"poly": {"accounts": [{"adress": "0x1"}]}}, "poly.accounts[0].adress", "'address'"),
        ({"poly": {"markets": [{"tokens": [{"bids": [{"price": "0.1", "sise": "1"}]}]}]}}, "bids[0].sise", "'size'"),
        ({"poly": {"page_sise": 5}}, "poly.page_sise", "'page_size'"),
    ],
)
async def test_a_misspelled_state_field_is_an_error_naming_it_and_the_near_match(state, where, hint):
    with pytest.raises(StateError) as caught:
        await start_simulator(state)
    assert where in str(caught.value) and f"unknown field; did you mean {hint}?" in str(caught.value)


def test_the_built_in_and_scenario_states_use_only_known_fields():
    check_sections({"kalshi": KALSHI_DEFAULT, "poly": POLY_DEFAULT}, "built-in")
    for scenario in SCENARIOS:
        check_sections({"kalshi": scenario.kalshi_state, "poly": scenario.poly_state}, scenario.name)


def test_sim_with_a_misspelled_state_field_says_where(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"kalshi": {"accounts": [{"name": "me", "balnce": "100"}]}}))
    result = invoke("sim", "--state", str(state), "--listen", "kalshi=127.0.0.1:0", "--listen", "poly=127.0.0.1:0")
    assert result.exit_code == 1
    assert f"--state {state}: kalshi.accounts[0].balnce: unknown field; did you mean 'balance'?" in result.output


# ---- fsck, replay, --upstream ---------------------------------------------------------------------


def test_fsck_on_a_directory_that_is_not_a_session_refuses_and_writes_nothing(tmp_path):
    result = invoke("fsck", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path}: no fixture files (NNN_METHOD_exchange_endpoint.json) and no manifest.json" in result.output
    assert list(tmp_path.iterdir()) == []


def test_replay_of_a_misspelled_scenario_suggests_the_near_match():
    result = invoke("replay", "--capture-dir", str(FIXTURES), "kalshi_ful_fill")
    assert result.exit_code == 1
    assert "replay source 'kalshi_ful_fill': no such session" in result.output
    assert "did you mean 'kalshi_full_fill'?" in result.output


@pytest.mark.parametrize(
    "exchange, keywords",
    [
        ("kalshi", "live (the production host), demo (Kalshi's demo host), sim (the built-in simulator)"),
        ("poly", "live (the production host), sim (the built-in simulator)"),
    ],
)
def test_an_unknown_upstream_keyword_lists_the_accepted_ones(exchange, keywords):
    result = invoke("record", "--upstream", f"{exchange}=simulator")
    assert result.exit_code == 2
    assert f"--upstream: {exchange}='simulator' is neither an http(s) URL nor one of the keywords {keywords}" in (
        result.output
    )


# ---- inspect ---------------------------------------------------------------------------------------


def test_inspect_shows_why_a_polymarket_order_was_refused():
    result = invoke("inspect", str(FIXTURES / "poly_insufficient_balance"))
    assert result.exit_code == 0
    assert "400" in result.output and "-> error=not enough balance / allowance" in result.output


# ---- trader -------------------------------------------------------------------------------------------

ARB = ["--kalshi", "KXT-26NOV20-A:yes:buy:10@0.45", "--poly", "7123:buy:10@0.52"]


def trader_with(monkeypatch, kalshi, poly) -> None:
    @asynccontextmanager
    async def fakes():
        yield kalshi, poly

    monkeypatch.setattr(trader_cli, "open_clients", fakes)


def test_recover_refuses_a_ledger_that_does_not_exist(tmp_path):
    result = CliRunner().invoke(trader_cli.trader, ["recover", "--ledger", str(tmp_path / "typo.sqlite")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "typo.sqlite").exists()


def test_arb_lines_name_each_exchange_once_and_a_settled_leg_is_not_called_unknown(monkeypatch, tmp_path, caplog):
    trader_with(monkeypatch, FakeKalshi([Plan(lose_answer=True)]), FakePoly())
    with caplog.at_level(logging.INFO, logger="trader"):
        result = CliRunner().invoke(trader_cli.trader, ["arb", *ARB, "--ledger", str(tmp_path / "l.sqlite")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("kalshi KXT-26NOV20-A yes buy 10@0.45: filled 10/10 avg 0.45 (after TransportError:")
    assert lines[1].endswith("; settled by a look-up)")
    assert lines[2] == "poly 7123 buy 10@0.52: filled 10/10 avg 0.52"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("unknown" in w for w in warnings), warnings


def test_a_leg_still_unknown_after_the_look_up_is_warned_about(monkeypatch, tmp_path, caplog):
    trader_with(monkeypatch, FakeKalshi([Plan(lose_answer=True)], fail_reads=TransportError("down")), FakePoly())
    with caplog.at_level(logging.WARNING, logger="trader"):
        result = CliRunner().invoke(trader_cli.trader, ["arb", *ARB, "--ledger", str(tmp_path / "l.sqlite")])
    assert result.exit_code == 1
    assert "kalshi KXT-26NOV20-A yes buy 10@0.45: unknown 0/10 (TransportError:" in result.output
    assert any("outcome unknown, even after a look-up" in r.getMessage() for r in caplog.records)


def test_a_rejected_leg_keeps_its_reason(monkeypatch, tmp_path):
    refusal = InsufficientBalance("not enough balance", exchange="poly", status=400)
    trader_with(monkeypatch, FakeKalshi(), FakePoly([Plan(error=refusal)]))
    result = CliRunner().invoke(trader_cli.trader, ["arb", *ARB, "--ledger", str(tmp_path / "l.sqlite")])
    assert "poly 7123 buy 10@0.52: rejected 0/10 (InsufficientBalance: poly HTTP 400: not enough balance)" in (
        result.output
    )


# ---- demo ----------------------------------------------------------------------------------------------


@pytest.fixture
def quick_demo(monkeypatch):
    """The demo command around a stand-in run (the real one is tested in test_scenarios): where did it work?"""
    seen: list[Path] = []

    async def run_demo(workdir: Path):
        (workdir / "kalshi_full_fill").mkdir()
        seen.append(workdir)
        return {}, {}

    async def nothing(workdir: Path):
        return {}

    monkeypatch.setattr(demo_module, "run_demo", run_demo)
    monkeypatch.setattr(demo_module, "run_e2e", nothing)
    monkeypatch.setattr(demo_module, "table", lambda captured, replayed: ("(table)", 0))
    monkeypatch.setattr(demo_module, "e2e_table", lambda e2e: ("(e2e table)", 0))
    monkeypatch.setattr(demo_module, "write_reports", lambda workdir, reports_dir: ([], []))
    return seen


def test_demo_says_its_sessions_are_removed_and_removes_them(quick_demo):
    result = CliRunner().invoke(demo_module.demo, [])
    assert result.exit_code == 0
    assert "sessions in a temporary directory removed at the end (--keep keeps it)" in result.output
    assert not quick_demo[0].exists() and str(quick_demo[0]) not in result.output


def test_demo_keep_keeps_them_and_says_where(quick_demo):
    result = CliRunner().invoke(demo_module.demo, ["--keep"])
    workdir = quick_demo[0]
    try:
        assert result.exit_code == 0 and workdir.exists()
        assert f"sessions kept in {workdir} (try: tradetape inspect {workdir / 'kalshi_full_fill'})" in result.output
    finally:
        shutil.rmtree(workdir)
