"""The arb engine end to end: the ten scenarios of the catalogue through the injection harness, and
`tradetape trader run` as a user runs it, trading the simulator's arb from the feeds alone."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest
from cli_helpers import decision_lines
from cryptography.hazmat.primitives import serialization

from scenarios.e2e import PAIRS, POLY_YES, TICKER, Harness
from scenarios.e2e_catalogue import ARB_BIDS, ASKS, E2E_BY_NAME, E2E_SCENARIOS, capture, replay
from scenarios.harness import PAPER_POLY_KEY
from scenarios.ledger_canon import ledger_file
from trader.ledger import Ledger

TRADETAPE = str(Path(sys.executable).with_name("tradetape"))


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize("scenario", E2E_SCENARIOS, ids=lambda s: s.name)
async def test_e2e_scenario_replays_causal_from_committed_fixtures(scenario):
    """The committed session through the real engine: the expectations, the captured ledger, and every recorded
    request and message used."""
    outcome = await replay(scenario, FIXTURES)
    assert outcome.ok, "\n".join(outcome.failures)
    for key, value in scenario.expect.items():  # the expectations were really observed
        assert outcome.observed[key] == value


@pytest.mark.parametrize("scenario", E2E_SCENARIOS, ids=lambda s: s.name)
async def test_e2e_scenario_captured_against_the_simulator_then_replayed(scenario, tmp_path):
    captured = await capture(scenario, tmp_path)
    assert captured.ok, "\n".join(captured.failures)
    assert (tmp_path / scenario.name / "manifest.json").exists() and ledger_file(tmp_path, scenario.name).exists()
    replayed = await replay(scenario, tmp_path)
    assert replayed.ok, "\n".join(replayed.failures)


async def test_ten_replays_in_a_row_give_the_same_decisions_and_ledger():
    """The kill-and-restart scenario (two engines, recovery, a second arb): ten causal replays, each compared with
    the captured ledger row by row."""
    scenario = E2E_BY_NAME["e2e_restart_mid_arb"]
    outcomes = [await replay(scenario, FIXTURES) for _ in range(10)]
    assert [o.failures for o in outcomes] == [[]] * 10
    assert all(o.observed == outcomes[0].observed for o in outcomes)


async def test_a_replay_that_does_not_reproduce_the_captured_ledger_fails_naming_the_row(tmp_path):
    shutil.copytree(FIXTURES / "e2e_risk_cap", tmp_path / "e2e_risk_cap")
    book = orjson.loads(ledger_file(FIXTURES, "e2e_risk_cap").read_bytes())
    taken = next(d for d in book["decisions"] if d["kind"] == "taken")
    taken["box"] = taken["box"].replace("10 @", "11 @")
    ledger_file(tmp_path, "e2e_risk_cap").write_bytes(orjson.dumps(book))
    outcome = await replay(E2E_BY_NAME["e2e_risk_cap"], tmp_path)
    (failure,) = outcome.failures
    assert failure.startswith("ledger: decisions[") and "11 @" in failure


async def test_the_harness_restarts_the_engine_on_the_same_ledger(tmp_path):
    async with Harness("restart", tmp_path) as h:
        first = await h.start_engine()
        await h.kill_engine()
        second = await h.start_engine()
        assert second is not first and second.ready and h.starts == 2
        assert await h.stop_engine() is None
        starts = [d for d in h.decisions() if d.kind == "recovery"]
    assert [d.reason for d in starts] == ["clean", "clean"]


def engine_env(h: Harness) -> dict[str, str]:
    """What a user exports: REST and feeds through the recording proxy, both accounts' credentials."""
    pem = h.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    c = h.poly_creds
    return os.environ | {
        "KALSHI_BASE_URL": h.urls["kalshi"] + "/trade-api/v2",
        "KALSHI_WS_URL": "ws" + h.urls["kalshi"].removeprefix("http") + "/trade-api/ws/v2",
        "KALSHI_API_KEY_ID": h.key_id,
        "KALSHI_PRIVATE_KEY": pem,
        "POLY_CLOB_URL": h.urls["poly"],
        "POLY_WS_URL": "ws" + h.urls["poly"].removeprefix("http") + "/ws",
        "POLY_PRIVATE_KEY": PAPER_POLY_KEY,
        "POLY_API_KEY": c.api_key,
        "POLY_API_SECRET": c.secret,
        "POLY_API_PASSPHRASE": c.passphrase,
    }


async def test_trader_run_trades_the_simulators_arb_from_the_feeds(tmp_path):
    pairs = tmp_path / "pairs.toml"
    pairs.write_text(PAIRS)
    ledger = tmp_path / "bot.sqlite"
    async with Harness("cli", tmp_path) as h:
        engine = await asyncio.create_subprocess_exec(
            TRADETAPE, "trader", "run", "--pairs", str(pairs), "--ledger", str(ledger),
            "--no-status", env=engine_env(h), stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert engine.stderr is not None
        try:
            await decision_lines(engine.stderr, "recovery")
            await h.kalshi_book(ARB_BIDS, ASKS)  # the feeds' snapshots or their deltas bring it
            lines = await decision_lines(engine.stderr, "result")
        finally:
            engine.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(engine.wait(), 20)
        assert code == 0
        assert await h.exchange_positions() == {("kalshi", TICKER): D(-10), ("poly", POLY_YES): D(10)}
    taken = next(line for line in lines if line["kind"] == "taken")
    assert (taken["outcome"], taken["count"], taken["poly_price"]) == ("no", "10", "0.49")
    assert lines[-1]["reason"] == "matched"
    with Ledger(ledger) as book:
        assert [d.kind for d in book.decisions() if d.kind in ("taken", "result")] == ["taken", "result"]
        assert book.positions() == {("kalshi", TICKER): D("-10.00"), ("poly", POLY_YES): D(10)}


def test_trader_run_refuses_a_bad_pairs_file_naming_the_field(tmp_path):
    from click.testing import CliRunner

    from proxy.cli.main import main

    pairs = tmp_path / "pairs.toml"
    pairs.write_text(PAIRS.replace("max_size = 10", "max_size = -1"))
    result = CliRunner().invoke(main, ["trader", "run", "--pairs", str(pairs), "--ledger", str(tmp_path / "l.sqlite")])
    assert result.exit_code == 2
    assert "pairs[0].max_size: must be a whole number above 0" in result.output


def test_scenarios_capture_and_run_take_e2e_names(tmp_path):
    from click.testing import CliRunner

    from proxy.cli.main import main

    captured = CliRunner().invoke(main, ["scenarios", "capture", "e2e_risk_cap", "--fixtures-dir", str(tmp_path)])
    assert captured.exit_code == 0, captured.output
    assert "capture e2e_risk_cap: ok" in captured.output and (tmp_path / "e2e_risk_cap" / "manifest.json").exists()
    ran = CliRunner().invoke(main, ["scenarios", "run", "e2e_risk_cap", "--fixtures-dir", str(tmp_path)])
    assert ran.exit_code == 0, ran.output
    assert "replay e2e_risk_cap: ok" in ran.output and "1 passed, 0 failed" in ran.output
    refused = CliRunner().invoke(main, ["scenarios", "capture", "e2e_risk_cap", "--upstream", "live", "--live"])
    assert refused.exit_code == 2 and "end-to-end scenarios need the simulator" in refused.output
    listed = CliRunner().invoke(main, ["scenarios", "list"]).output
    assert all(s.name in listed for s in E2E_SCENARIOS)
