"""The scenario catalogue: every scenario replayed from the committed fixtures through the real code."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from clients.kalshi import KalshiClient
from proxy.cli.main import main
from scenarios.canon import SIM_LEGS
from scenarios.catalogue import BY_NAME, SCENARIOS, check
from scenarios.cli import live_plan
from scenarios.demo import run_demo, table
from scenarios.harness import capture, replay
from simulator.credentials import kalshi_test_credentials
from trader.execute import execute_leg
from trader.ledger import Ledger

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
async def test_scenario_replays_from_committed_fixtures(name):
    outcome = await replay(BY_NAME[name], FIXTURES)
    assert outcome.ok, "\n".join(outcome.failures)
    for key, value in BY_NAME[name].expect.items():  # the expectations were really observed
        assert outcome.observed[key] == value


def test_every_captured_scenario_has_committed_fixtures_from_the_simulator():
    for scenario in SCENARIOS:
        for source in scenario.sources:
            manifest = orjson.loads((FIXTURES / source / "manifest.json").read_bytes())
            assert manifest["fixtures"], source
            assert all(u["simulator"] and not u["live"] for u in manifest["upstreams"].values()), source


def test_committed_sessions_share_no_trade_or_order_ids():
    """Each session was recorded on its own simulator run; composed replays must not see one id twice."""
    ids_of: dict[str, set[str]] = {}
    for manifest in FIXTURES.glob("*/manifest.json"):
        for path in manifest.parent.glob("0*.json"):
            body = orjson.loads(path.read_bytes()).get("response", {}).get("body_parsed")
            if isinstance(body, dict):
                found = [*body.get("tradeIDs", []), *body.get("transactionsHashes", []), body.get("order_id")]
                ids_of.setdefault(manifest.parent.name, set()).update(i for i in found if i)
    assert any(len(ids) > 1 for ids in ids_of.values())
    seen: dict[str, str] = {}
    for session, ids in ids_of.items():
        for value in ids:
            assert value not in seen, f"{value} is in both {seen[value]} and {session}"
            seen[value] = session


def test_composed_scenarios_only_use_captured_directories():
    captured = {s.name for s in SCENARIOS if s.captured}
    for scenario in SCENARIOS:
        assert set(scenario.sources) <= captured


async def test_a_changed_fixture_makes_the_replay_fail(tmp_path):
    shutil.copytree(FIXTURES / "kalshi_partial_fill", tmp_path / "kalshi_partial_fill")
    (path,) = (tmp_path / "kalshi_partial_fill").glob("001_*.json")
    fixture = orjson.loads(path.read_bytes())
    fixture["request"]["body"]["count"] = "11.00"  # the bot now sends another order than was recorded
    path.write_bytes(orjson.dumps(fixture))
    outcome = await replay(BY_NAME["kalshi_partial_fill"], tmp_path)
    assert not outcome.ok
    assert any("unmatched request" in f for f in outcome.failures)
    assert any("unused fixture" in f for f in outcome.failures)
    assert outcome.observed["status"] == "rejected" and outcome.observed["error"] == "ReplayMismatch"


async def test_a_composition_without_its_unwind_session_fails():
    scenario = replace(
        BY_NAME["arb_kalshi_fills_poly_fails"], composed_of=("kalshi_full_fill", "poly_insufficient_balance")
    )
    outcome = await replay(scenario, FIXTURES)
    assert (
        "unwinds: expected 'kalshi sell 10@0.47: filled 10', got 'kalshi sell 10@0.47: rejected 0'" in outcome.failures
    )
    assert any("unmatched request" in f for f in outcome.failures)


async def test_an_empty_source_directory_is_refused_at_load(tmp_path):
    (tmp_path / "kalshi_full_fill").mkdir()
    with pytest.raises(ValueError, match="no fixture files"):
        await replay(BY_NAME["kalshi_full_fill"], tmp_path)


async def test_capture_records_through_the_proxy_and_checks_expectations(tmp_path):
    outcome = await capture(BY_NAME["duplicate_submission_retry"], tmp_path)
    assert outcome.ok, outcome.failures
    names = sorted(p.name for p in (tmp_path / "duplicate_submission_retry").glob("[0-9]*.json"))
    assert names == [
        "001_POST_kalshi_orders.json",
        "002_POST_kalshi_orders.json",
        "003_GET_kalshi_orders.json",
        "004_GET_kalshi_fills.json",
    ]
    first = orjson.loads((tmp_path / "duplicate_submission_retry" / names[0]).read_bytes())
    assert first["error"]["tradetape_error"] == "upstream_disconnected"  # the answer the exchange never sent
    second = orjson.loads((tmp_path / "duplicate_submission_retry" / names[1]).read_bytes())
    assert second["response"]["status"] == 409
    assert second["response"]["body_parsed"]["error"]["code"] == "order_already_exists"


async def test_demo_captures_and_replays_every_scenario(tmp_path):
    captured, replayed = await run_demo(tmp_path)
    text, failed = table(captured, replayed)
    assert failed == 0, text
    assert len(text.splitlines()) == len(SCENARIOS) + 2
    rows = {line.split()[0]: line for line in text.splitlines()[2:]}  # each row ends with what it demonstrated
    assert rows["kalshi_partial_fill"].endswith("Kalshi: bought 6 of 10 at 0.52, rest canceled; position 6")
    assert rows["arb_kalshi_fills_poly_fails"].endswith(
        "Kalshi 10/10, Polymarket refused (InsufficientBalance): exposure 10 on Kalshi, unwound: sold 10 of 10 at 0.47"
    )
    assert rows["arb_both_partial"].endswith(
        "Kalshi 6/10, Polymarket 4/10: matched 4; exposure 2 on Kalshi, unwound: sold 2 of 2 at 0.47"
    )
    assert rows["duplicate_submission_retry"].endswith("the exchange filled 10 (once, not doubled)")


def test_check_names_each_difference():
    assert check({"filled": Decimal(6), "status": "partial"}, {"filled": Decimal("6.00"), "status": "partial"}) == []
    assert check({"filled": Decimal(6)}, {"filled": Decimal(10)}) == [
        "filled: expected Decimal('6'), got Decimal('10')"
    ]
    assert check({"error": None}, {}) == ["error: expected None, got '<missing>'"]


def test_live_plan_prices_each_order_and_skips_what_needs_the_simulator():
    runnable, total, lines = live_plan(
        [
            BY_NAME["kalshi_full_fill"],
            BY_NAME["poly_unwind_full"],
            BY_NAME["restart_recovery"],
            BY_NAME["arb_both_fill"],
        ],
        SIM_LEGS,
    )
    assert [s.name for s in runnable] == ["kalshi_full_fill", "poly_unwind_full"]
    assert total == Decimal("5.20") + Decimal("6.00")  # buy 10 @ 0.52; sell 10 @ 0.40 risks 10 x 0.60
    assert any("skip restart_recovery" in line for line in lines) and any(
        "skip arb_both_fill" in line for line in lines
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["capture", "--upstream", "live"], "add --live"),
        (["capture", "--upstream", "live", "--live"], "needs --kalshi and --poly"),
        (
            ["capture", "--upstream", "live", "--live", "--kalshi", "T:yes:buy:10", "--poly", "1:buy:10@0.4"],
            "TICKER:yes|no",
        ),
        (["run", "no_such_scenario"], "unknown scenario"),
    ],
)
def test_scenarios_cli_refusals(args, message):
    result = CliRunner().invoke(main, ["scenarios", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_scenarios_list_names_every_scenario():
    result = CliRunner().invoke(main, ["scenarios", "list"])
    assert result.exit_code == 0
    for scenario in SCENARIOS:
        assert scenario.name in result.output


@pytest.mark.tradetape("fixtures/kalshi_partial_fill")
async def test_plugin_replays_a_captured_scenario_for_the_real_client_and_trader(tradetape, tmp_path):
    key_id, private_key, _ = kalshi_test_credentials()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    async with KalshiClient(os.environ["KALSHI_BASE_URL"], key_id, private_key) as kalshi:
        result = await execute_leg(kalshi, SIM_LEGS.kalshi, ledger)
    assert (result.status, result.filled) == ("partial", Decimal(6))
    assert ledger.positions()[("kalshi", SIM_LEGS.kalshi.instrument)] == Decimal(6)
    assert [f.source for f in ledger.fills(result.key)] == ["exchange"]  # the order, then its fill records
    assert tradetape.status()["counts"]["replayed"] == 2
    ledger.close()
