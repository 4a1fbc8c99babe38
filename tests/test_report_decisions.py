"""tradetape report and the engine's decisions: read from the canonical ledger beside an end-to-end session and
placed by the arb they belong to; those naming no arb listed, untimed."""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from proxy.replay.sources import SourceError
from proxy.report.decisions import leg_key
from proxy.report.page import report_data
from proxy.report.write import write_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SESSION = "e2e_poly_trade_failed"


def ledger(name: str) -> dict:
    return orjson.loads((FIXTURES / f"{name}.ledger.json").read_bytes())


def test_legs_are_read_on_the_markets_leg():
    assert leg_key("kalshi KX-1 no buy 10@0.4500") == ("kalshi", "KX-1", "sell")  # buying NO sells YES
    assert leg_key("kalshi KX-1 no sell 10.00@0.40") == ("kalshi", "KX-1", "buy")
    assert leg_key("kalshi KX-1 yes buy 10@0.52") == ("kalshi", "KX-1", "buy")
    assert leg_key("poly 123 buy 10@0.49") == ("poly", "123", "buy")


def test_decisions_are_placed_by_their_arbs_orders(tmp_path):
    out = tmp_path / "r.html"
    write_report([FIXTURES / SESSION], out)
    data = report_data(out.read_text())
    recorded = ledger(SESSION)["decisions"]
    items = data["items"]
    decisions = [i for i in items if i["kind"] == "decision"]
    listed = sorted(orjson.dumps(d["record"], option=orjson.OPT_SORT_KEYS) for d in decisions)
    assert listed == sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in recorded)  # each as in the file

    orders = [i for i in items if i.get("label") in ("POST /portfolio/events/orders", "POST /order")]
    kalshi_entry, poly_entry, unwind = orders
    (taken,) = data["opportunities"]
    assert (taken["kind"], taken["t"]) == ("taken", kalshi_entry["t"])  # just before arb1's first order
    assert items.index(next(i for i in items if i["id"] == taken["item"])) == items.index(kalshi_entry) - 1
    by_arb = [d for d in data["decisions"] if d["arb"]]
    result, settled = sorted(by_arb, key=lambda d: d["t"])
    assert (result["kind"], result["t"]) == ("result", max(kalshi_entry["end"], poly_entry["end"]))
    assert (settled["reason"], settled["t"]) == ("arb_settled", unwind["end"])
    # the recovery rounds name no arb: each is shown at the time the ledger recorded it
    start = min(i["t"] for i in items if i["t"] is not None)
    first_wall = min(f["captured_at"] for f in fixture_records(FIXTURES / SESSION))
    no_arb = [d for d in data["decisions"] if not d["arb"]]
    recorded_no_arb = [r for r in recorded if not r["arb"] and r["kind"] not in ("taken", "would_take")]
    assert len(no_arb) == len(recorded_no_arb) > 0
    walls = sorted(wall(r["at"]) - wall(first_wall) + start for r in recorded_no_arb)
    assert sorted(d["t"] for d in no_arb) == pytest.approx(walls, abs=1e-6)
    assert all(d["placed"] == "at its ledger time" for d in no_arb)
    assert data["warnings"] == []


def test_a_taken_row_naming_no_arb_is_placed_by_the_next_arb_decision(tmp_path):
    """A ledger from before taken rows named their arb is placed as one that names it."""
    shutil.copytree(FIXTURES / SESSION, tmp_path / SESSION)
    old = ledger(SESSION)
    assert any(d["kind"] == "taken" and d["arb"] for d in old["decisions"])  # today's rows name it
    for d in old["decisions"]:
        if d["kind"] == "taken":
            d["arb"] = None
    (tmp_path / f"{SESSION}.ledger.json").write_bytes(orjson.dumps(old))
    placed = {}
    for where, out in ((FIXTURES, tmp_path / "now.html"), (tmp_path, tmp_path / "before.html")):
        write_report([where / SESSION], out)
        (taken,) = report_data(out.read_text())["opportunities"]
        placed[where] = (taken["kind"], taken["t"])
    assert placed[tmp_path] == placed[FIXTURES]


def fixture_records(session: Path) -> list[dict]:
    return [orjson.loads(p.read_bytes()) for p in session.glob("*.json") if p.name != "manifest.json"]


def wall(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_skip_that_names_no_arb_is_shown_at_its_time(tmp_path):
    """`e2e_stale_feed`: the arb skipped on the stale Kalshi book is timed, after the feed went silent and before
    the arb taken once it reconnected."""
    data = write_report([FIXTURES / "e2e_stale_feed"], tmp_path / "r.html").data
    stale = next(d for d in data["opportunities"] if d["reason"] == "stale")
    taken = next(d for d in data["opportunities"] if d["kind"] == "taken")
    assert stale["t"] is not None and 0 < stale["t"] < taken["t"]


def test_decisions_that_name_no_arb_are_placed_at_their_ledger_time(tmp_path):
    """A canonical ledger keeps when each decision was recorded (`at`, the ledger's clock): a decision no arb
    places (a recovery round, a skip such as `skipped stale`) is shown at that time, listed after the last REST
    fixture captured before it. One with no `at` (a ledger written before decisions kept it) stays untimed."""
    shutil.copytree(FIXTURES / SESSION, tmp_path / SESSION)
    fixtures = sorted(
        (orjson.loads(p.read_bytes()) for p in (tmp_path / SESSION).glob("*.json") if p.name != "manifest.json"),
        key=lambda f: f["seq"],
    )
    second = fixtures[1]
    book = ledger(SESSION)
    unplaced = [i for i, d in enumerate(book["decisions"]) if not d["arb"] and d["kind"] not in ("taken", "would_take")]
    first, rest = unplaced[0], unplaced[1:]
    stamp = second["captured_at"].replace("Z", "+00:00")
    book["decisions"][first] = book["decisions"][first] | {"at": stamp}
    for i in rest:
        book["decisions"][i] = {k: v for k, v in book["decisions"][i].items() if k != "at"}
    (tmp_path / f"{SESSION}.ledger.json").write_bytes(orjson.dumps(book))
    data = write_report([tmp_path / SESSION], tmp_path / "r.html").data
    items = data["items"]
    timed = next(i for i in items if i["kind"] == "decision" and i["record"] == book["decisions"][first])
    last = max((f for f in fixtures if f["captured_at"] <= second["captured_at"]), key=lambda f: f["seq"])
    after = next(i for i in items if i.get("seq") == last["seq"] and i["kind"] == "rest")
    assert timed["t"] == after["t"]  # the same wall time, so the same place on the axis
    assert items.index(timed) == items.index(after) + 1
    assert data["warnings"] == [
        f"{SESSION}.ledger.json: {len(rest)} of {len(book['decisions'])} decisions name no arb and carry no time: "
        "listed, not timed"
    ]


def test_a_session_without_a_ledger_has_no_decisions_and_a_bad_ledger_is_named(tmp_path):
    shutil.copytree(FIXTURES / SESSION, tmp_path / SESSION)
    written = write_report([tmp_path / SESSION], tmp_path / "r.html")
    assert written.data["decisions"] == [] and written.data["opportunities"] == []
    (tmp_path / f"{SESSION}.ledger.json").write_text('{"decisions": []')
    with pytest.raises(SourceError, match=f"{SESSION}.ledger.json: not a canonical ledger"):
        write_report([tmp_path / SESSION], tmp_path / "r.html")


@pytest.mark.parametrize("name", sorted(p.name.removesuffix(".ledger.json") for p in FIXTURES.glob("*.ledger.json")))
def test_positions_drawn_for_an_end_to_end_session_end_where_the_engines_ledger_does(tmp_path, name):
    """The page derives positions from what the session's answers, reads and messages said; the engine booked its
    ledger from the same exchanges on its own. Where each ends must agree, market by market."""
    data = write_report([FIXTURES / name], tmp_path / "r.html").data
    drawn = {(e["exchange"], p["market"]): Decimal(p["position"]) for e in data["exchanges"] for p in e["points"]}
    booked: dict[tuple[str, str], Decimal] = {}
    for intent in ledger(name)["intents"]:
        exchange, market, side = leg_key(intent["leg"])
        signed = Decimal(intent["filled"]) * (1 if side == "buy" else -1)
        booked[(exchange, market)] = booked.get((exchange, market), Decimal(0)) + signed
    assert {k: v for k, v in drawn.items() if v} == {k: v for k, v in booked.items() if v}
    assert data["warnings"] == [w for w in data["warnings"] if w.startswith(f"{name}.ledger.json:")]
