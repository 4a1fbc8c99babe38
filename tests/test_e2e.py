"""The arb engine end to end: the ten scenarios of the catalogue through the injection harness, and
`tradetape trader run` as a user runs it, trading the simulator's arb from the feeds alone."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from scenarios.e2e import PAIRS, POLY_YES, TICKER, Harness
from scenarios.e2e_catalogue import ARB_BIDS, ASKS, E2E_SCENARIOS, run_live
from scenarios.harness import PAPER_POLY_KEY
from trader.ledger import Ledger

TRADETAPE = str(Path(sys.executable).with_name("tradetape"))


@pytest.mark.parametrize("scenario", E2E_SCENARIOS, ids=lambda s: s.name)
async def test_e2e_scenario(scenario, tmp_path):
    outcome = await run_live(scenario, tmp_path)
    assert outcome.ok, "\n".join(outcome.failures)
    assert outcome.fixtures > 0 and (tmp_path / scenario.name / "manifest.json").exists()


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
    """What a user exports: REST through the proxy, feeds on the simulator, both accounts' credentials."""
    pem = h.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    c = h.poly_creds
    return os.environ | {
        "KALSHI_BASE_URL": h.urls["kalshi"] + "/trade-api/v2",
        "KALSHI_WS_URL": h.sim.kalshi_ws_url,
        "KALSHI_API_KEY_ID": h.key_id,
        "KALSHI_PRIVATE_KEY": pem,
        "POLY_CLOB_URL": h.urls["poly"],
        "POLY_WS_URL": h.sim.poly_ws_url,
        "POLY_PRIVATE_KEY": PAPER_POLY_KEY,
        "POLY_API_KEY": c.api_key,
        "POLY_API_SECRET": c.secret,
        "POLY_API_PASSPHRASE": c.passphrase,
    }


async def decision_lines(stream: asyncio.StreamReader, until: str) -> list[dict]:
    """JSON decision lines from the engine's log until one of kind `until`."""
    seen = []
    while True:
        line = await asyncio.wait_for(stream.readline(), 20)
        assert line, f"the engine's log ended before a {until!r} decision: {seen}"
        text = line.decode()
        if '{"event":"decision"' in text:
            seen.append(orjson.loads(text[text.index("{") :]))
            if seen[-1]["kind"] == until:
                return seen


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


def test_scenarios_run_takes_an_e2e_name_and_capture_says_what_is_missing():
    from click.testing import CliRunner

    from proxy.cli.main import main

    ran = CliRunner().invoke(main, ["scenarios", "run", "e2e_risk_cap"])
    assert ran.exit_code == 0, ran.output
    assert "live e2e_risk_cap: ok" in ran.output and "1 passed, 0 failed" in ran.output
    refused = CliRunner().invoke(main, ["scenarios", "capture", "e2e_risk_cap"])
    assert refused.exit_code == 2
    assert "needs the proxy's WebSocket support" in refused.output
    listed = CliRunner().invoke(main, ["scenarios", "list"]).output
    assert all(s.name in listed for s in E2E_SCENARIOS)
