"""The engine's decisions beside a session: its canonical ledger, `<session>.ledger.json` next to the directory.

That file (written by the end-to-end harness, `scenarios/ledger_canon.py`) lists the decisions in order, each with
the time the ledger recorded it (`at`), and the intents of each arb with their legs. A decision is placed by the arb
it belongs to, whose orders are in the session: the intents of an arb are matched in order to the orders sent (same
exchange, market and side of the leg), then `taken` sits just before the first order of the arb it names (in a
ledger from before taken rows named their arb, that of the next arb decision, as for `would_take`), `result` just
after the last answer of its entry orders, any other decision naming an arb after that arb's last answer. A decision
that names no arb (a recovery round, a skip, a kill) is shown at its `at`, listed after the last REST fixture
captured before then (the ledger and the proxy read the same wall clock when they capture together); one with no
`at` (a ledger written before decisions kept it) is listed, untimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from clients.kalshi.orders import ONE, yes_leg
from proxy.report import kalshi, poly
from proxy.report.events import Decision, Events
from proxy.report.inputs import Entry, EntryReader, Read, Session, wall_time
from proxy.report.rest import rest_view
from proxy.tape.fixture import FixtureError

LEDGER_SUFFIX = ".ledger.json"
BEFORE, AFTER = -1, 1  # an entry's rank among those of one seq
OPPORTUNITY = ("taken", "would_take", "skipped")
UNTIMED_SEQ = 2**62  # after everything of the session in the list


@dataclass(frozen=True, slots=True)
class Sent:
    seq: int
    sent: float  # wall clock
    answered: float
    key: tuple[str, str, str]  # exchange, market, side of the leg


def leg_key(leg: str) -> tuple[str, str, str]:
    """`kalshi TICKER no buy 10@0.45` or `poly TOKEN buy 10@0.49` (trader.legs.Leg.describe) as the report's
    (exchange, market, side): a Kalshi leg on its YES leg (buying NO sells YES)."""
    parts = leg.split()
    if parts[0] == "kalshi":
        side = yes_leg(parts[2], parts[3], ONE)[0]
        return parts[0], parts[1], "buy" if side == "bid" else "sell"
    return parts[0], parts[1], parts[2]


def sent_orders(fixtures: list[tuple[Path, dict[str, Any]]]) -> list[Sent]:
    """Every order the session's fixtures sent, in seq order."""
    out = []
    for _, fixture in fixtures:
        wall = wall_time(fixture.get("captured_at"))
        view = rest_view(fixture, 0, 0.0)
        reader = (kalshi.reader if view.exchange == "kalshi" else poly.reader)(view)
        if wall is None or reader is None or view.method != "POST":
            continue
        for order in reader(view).orders:
            out.append(Sent(fixture["seq"], wall, wall + view.answered, (order.exchange, order.market, order.side)))
    return out


def arb_orders(intents: list[dict[str, Any]], orders: list[Sent]) -> dict[str, list[tuple[str, Sent]]]:
    """Each arb's intents (purpose, order sent), matched in order to unused orders of the same leg."""
    used: set[int] = set()
    out: dict[str, list[tuple[str, Sent]]] = {}
    for intent in intents:
        key = leg_key(intent["leg"])
        match = next((i for i, o in enumerate(orders) if i not in used and o.key == key), None)
        if match is not None and intent.get("arb"):
            used.add(match)
            out.setdefault(intent["arb"], []).append((intent.get("purpose", ""), orders[match]))
    return out


def placement(
    decisions: list[dict[str, Any]], i: int, arbs: dict[str, list[tuple[str, Sent]]]
) -> tuple[int, float, int, str] | None:
    """(seq, wall time, rank, how) of decision i, or None when it cannot be placed."""
    decision = decisions[i]
    arb = decision.get("arb")
    if decision.get("kind") in ("taken", "would_take"):
        if arb is None:  # a ledger from before a taken row named its arb: the next arb decision's
            arb = next((d["arb"] for d in decisions[i + 1 :] if d.get("arb")), None)
        if arb in arbs:
            first = arbs[arb][0][1]
            return first.seq, first.sent, BEFORE, f"just before {arb}'s first order"
        return None
    if arb not in arbs:
        return None
    orders = [o for purpose, o in arbs[arb] if decision.get("kind") != "result" or purpose == "entry"]
    last = max(orders or [o for _, o in arbs[arb]], key=lambda o: o.answered)
    return (
        last.seq,
        last.answered,
        AFTER,
        f"just after {arb}'s last {'entry ' if decision.get('kind') == 'result' else ''}answer",
    )


def at_time(
    decision: dict[str, Any], fixtures: list[tuple[Path, dict[str, Any]]]
) -> tuple[int, float, int, str] | None:
    """(seq, wall time, rank, how) of a decision at its ledger time: after the last fixture captured by then (before
    the first when none was); None when it carries no readable time or the session none."""
    wall = wall_time(decision.get("at"))
    captured = [(w, f["seq"]) for _, f in fixtures if (w := wall_time(f.get("captured_at"))) is not None]
    if wall is None or not captured:
        return None
    before = [(w, seq) for w, seq in captured if w <= wall]
    if before:
        return max(before)[1], wall, AFTER, "at its ledger time"
    return min(captured)[1], wall, BEFORE, "at its ledger time"


class DecisionsInput:
    kind = "decision"

    def read(self, directory: Path, fixtures: list[tuple[Path, dict[str, Any]]]) -> Read:
        path = directory.parent / f"{directory.name}{LEDGER_SUFFIX}"
        if not path.is_file():
            return Read()
        try:
            ledger = orjson.loads(path.read_bytes())
            decisions, intents = list(ledger["decisions"]), list(ledger["intents"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise FixtureError(path, f"not a canonical ledger ({exc})") from None
        arbs = arb_orders(intents, sent_orders(fixtures))
        read = Read()
        for i, decision in enumerate(decisions):
            placed = placement(decisions, i, arbs) or at_time(decision, fixtures)
            if placed is None:
                entry = Entry("decision", path.name, UNTIMED_SEQ, None, None, decision, {"untimed": True}, rank=i)
            else:
                seq, wall, rank, how = placed
                entry = Entry("decision", path.name, seq, wall, None, decision, {"placed": how}, rank=rank)
            read.entries.append(entry)
        untimed = sum(e.wall is None for e in read.entries)
        if untimed:
            read.warnings.append(
                f"{path.name}: {untimed} of {len(decisions)} decisions name no arb and carry no time: listed, not timed"
            )
        return read

    def reader(self, session: Session) -> EntryReader:
        return decision_events


def decision_item(record: dict[str, Any]) -> dict[str, str]:
    """What the list shows of a decision."""
    pair = f" {record['pair']}" if record.get("pair") else ""
    return {
        "label": f"decision{pair}: {record.get('kind')} {record.get('reason')}",
        "status": "",
        "summary": str(record.get("detail", "")),
    }


def decision_events(entry: Entry, item: int, t: float) -> Events:
    record = entry.record
    timed = None if entry.context.get("untimed") else t
    decision = Decision(
        timed,
        item,
        str(record.get("kind")),
        str(record.get("reason")),
        str(record.get("detail", "")),
        record.get("pair"),
        record.get("arb"),
        entry.context.get("placed"),
    )
    return Events(decisions=[decision])


def is_opportunity(decision: Decision) -> bool:
    return decision.kind in OPPORTUNITY
