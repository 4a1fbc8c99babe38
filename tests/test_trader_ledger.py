import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from trader.decisions import Decision
from trader.ledger import Booking, Fill, Ledger, LedgerError
from trader.legs import Leg

ROOT = Path(__file__).resolve().parent.parent


def kleg(outcome="yes", action="buy", count="10"):
    return Leg("kalshi", "KXT-1", action, D(count), D("0.45"), outcome)


def pleg(action="buy", token="tok"):
    return Leg("poly", token, action, D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=True)


def filled(qty, price="0.45", fee=None, ext=None):
    q = D(qty)
    return Booking(
        "filled" if q == 10 else "partial",
        "o",
        q,
        D(price),
        fee,
        fills=(Fill(q, D(price), fee, "exchange" if ext else "order", ext),),
    )


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite", clock=lambda: "2026-11-20T00:00:00+00:00") as led:
        yield led


def test_opens_in_wal_with_full_sync(ledger):
    assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_intent_round_trips_every_field(ledger):
    intent = ledger.record_intent(pleg(), "0xabc", purpose="unwind", arb_id="arb-1")
    assert (intent.key, intent.leg, intent.purpose, intent.arb_id, intent.state, intent.created_at) == (
        "0xabc",
        pleg(),
        "unwind",
        "arb-1",
        "pending",
        "2026-11-20T00:00:00+00:00",
    )


def test_positions_derive_from_fills_with_kalshi_sign_convention(ledger):
    bookings = [
        (kleg("yes", "buy"), "7"),
        (kleg("yes", "sell"), "2"),
        (kleg("no", "buy"), "4"),
        (kleg("no", "sell"), "1"),
        (pleg("buy"), "10"),
        (pleg("sell"), "3.5"),
    ]
    for i, (leg, qty) in enumerate(bookings):
        ledger.record_intent(leg, f"k{i}")
        ledger.book(f"k{i}", filled(qty))
    # Kalshi: +7 -2 (YES) -4 +1 (NO) = 2; Polymarket: 10 - 3.5 shares
    assert ledger.positions() == {("kalshi", "KXT-1"): D("2"), ("poly", "tok"): D("6.5")}


def test_positions_are_exact_decimals(ledger):
    for i, qty in enumerate(["0.1", "0.2"]):
        ledger.record_intent(pleg(), f"p{i}")
        ledger.book(f"p{i}", filled(qty))
    assert ledger.positions()[("poly", "tok")] == D("0.3")
    assert str(ledger.positions()[("poly", "tok")]) == "0.3"


def test_unfilled_and_open_intents_have_no_position(ledger):
    ledger.record_intent(kleg(), "a")
    ledger.record_intent(kleg(), "b")
    ledger.mark_unknown("b", "TransportError: reset")
    ledger.record_intent(kleg(), "c")
    ledger.book("c", Booking("none"))
    assert ledger.positions() == {}
    assert [i.key for i in ledger.intents(open_only=True)] == ["a", "b"]
    assert ledger.instruments("kalshi") == ["KXT-1"]


def test_booking_is_final(ledger):
    ledger.record_intent(kleg(), "a")
    ledger.book("a", filled("10"))
    with pytest.raises(LedgerError, match="already booked as 'filled'"):
        ledger.book("a", filled("10"))
    with pytest.raises(LedgerError, match="already booked"):
        ledger.mark_unknown("a", "late")
    ledger.record_intent(kleg(), "b")
    with pytest.raises(LedgerError, match="needs a final state"):
        ledger.book("b", Booking("unknown"))
    with pytest.raises(LedgerError, match="no intent with key 'zzz'"):
        ledger.book("zzz", filled("1"))


def test_duplicate_intent_key_is_refused(ledger):
    ledger.record_intent(kleg(), "a")
    with pytest.raises(sqlite3.IntegrityError):
        ledger.record_intent(kleg(), "a")


def test_failure_between_update_and_fills_rolls_the_whole_booking_back(ledger):
    ledger.record_intent(kleg(), "a")
    fill = Fill(D("5"), D("0.45"), None, "exchange", "f-1")
    with pytest.raises(sqlite3.IntegrityError):  # the second fill repeats the first one's id: fails mid-transaction
        ledger.book("a", Booking("filled", "o", D("10"), D("0.45"), fills=(fill, fill)))
    assert ledger.intent("a").state == "pending" and ledger.fills("a") == []
    ledger.book(
        "a", Booking("filled", "o", D("10"), D("0.45"), fills=(fill, Fill(D("5"), D("0.45"), None, "exchange", "f-2")))
    )
    assert ledger.positions() == {("kalshi", "KXT-1"): D("10")}


class CommitFailsOnce:
    """The ledger's connection, whose next COMMIT fails as a disk I/O error would (the transaction still open)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.failed = db, False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT" and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("disk I/O error")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


def test_a_commit_that_fails_rolls_back_and_leaves_the_ledger_usable(ledger):
    real = ledger._db
    ledger._db = CommitFailsOnce(real)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        ledger.record_intent(kleg(), "a")
    assert not real.in_transaction  # not left half-open: the next BEGIN IMMEDIATE would fail
    assert ledger.intents() == []  # the failed intent is not there to be acted on
    ledger.record_intent(kleg(), "b")
    ledger._db = real
    assert [i.key for i in ledger.intents()] == ["b"]


TAKEN = Decision("taken", "ali", "edge", "edge 0.029000 per contract", "no", D(10), D("0.45"), D("0.50"), D("0.029"))


def test_record_intents_writes_the_decisions_first_then_the_intents_in_one_go(ledger):
    """A skip made earlier keeps the time it was made; the rest take the transaction's time."""
    earlier = Decision("skipped", "bob", "stale", "book stale (feed silent)", at="2026-11-19T23:59:59.000000+00:00")
    ledger.record_intents([(kleg("no"), "k-1"), (pleg(), "0xp")], arb_id="arb-1", decisions=[earlier, TAKEN])
    assert ledger.decisions() == [earlier, replace(TAKEN, at="2026-11-20T00:00:00+00:00")]
    assert [(i.key, i.leg, i.arb_id, i.state, i.created_at) for i in ledger.intents()] == [
        ("k-1", kleg("no"), "arb-1", "pending", "2026-11-20T00:00:00+00:00"),
        ("0xp", pleg(), "arb-1", "pending", "2026-11-20T00:00:00+00:00"),
    ]


def test_a_record_intents_that_fails_leaves_none_of_its_rows(ledger):
    """Both intents and the decision are one transaction: a row refused half-way (a key already booked) or a
    failing COMMIT leaves none of them, and no transaction open."""
    ledger.record_intent(pleg(), "0xp")
    with pytest.raises(sqlite3.IntegrityError):
        ledger.record_intents([(kleg(), "k-1"), (pleg(), "0xp")], arb_id="arb-1", decisions=[TAKEN])
    assert not ledger._db.in_transaction
    assert [i.key for i in ledger.intents()] == ["0xp"] and ledger.decisions() == []
    real = ledger._db
    ledger._db = CommitFailsOnce(real)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        ledger.record_intents([(kleg(), "k-2")], arb_id="arb-2", decisions=[TAKEN])
    assert not real.in_transaction
    assert [i.key for i in ledger.intents()] == ["0xp"] and ledger.decisions() == []


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as led:
        led.record_intent(kleg(), "a")
        led.book("a", filled("6", fee=D("0.01")))
        led.record_intent(kleg(), "b")
    with Ledger(path) as led:
        assert led.positions() == {("kalshi", "KXT-1"): D("6")}
        assert led.fills("a") == [Fill(D("6"), D("0.45"), D("0.01"), "order")]
        assert [i.key for i in led.intents(open_only=True)] == ["b"]


def test_unknown_schema_version_is_refused(tmp_path):
    path = tmp_path / "l.sqlite"
    sqlite3.connect(path).execute("PRAGMA user_version=99").connection.close()
    with pytest.raises(LedgerError, match="schema version 99"):
        Ledger(path)


WRITER = textwrap.dedent("""
    import sys
    from decimal import Decimal as D
    from trader.ledger import Booking, Fill, Ledger
    from trader.legs import Leg
    led = Ledger(sys.argv[1])
    leg = Leg("kalshi", "KXT-1", "buy", D("10"), D("0.45"), "yes")
    for i in range(100000):
        led.record_intent(leg, f"k{i}")
        fills = tuple(Fill(D("1"), D("0.45"), None, "exchange", f"f{i}-{j}") for j in range(10))
        led.book(f"k{i}", Booking("filled", f"o{i}", D("10"), D("0.45"), fills=fills))
        if i == 20:
            print("busy", flush=True)
""")


def test_killed_writer_leaves_a_consistent_ledger(tmp_path):
    path = tmp_path / "crash.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        assert proc.stdout.readline() == "busy\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Ledger(path) as led:
        assert led._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        intents = led.intents()
        booked = [i for i in intents if i.state == "filled"]
        assert len(booked) > 20
        assert all(i.state in ("filled", "pending") for i in intents)
        assert len(intents) - len(booked) <= 1  # at most the intent in flight when killed
        for intent in intents:
            total = sum((f.quantity for f in led.fills(intent.key)), D(0))
            assert total == (D("10") if intent.state == "filled" else D(0)), intent.key
        assert led.positions() == {("kalshi", "KXT-1"): D(10) * len(booked)}


def test_booking_without_an_order_id_keeps_the_one_already_known(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    leg = Leg("kalshi", "KX-A", "buy", D("10"), D("0.52"), outcome="yes")
    ledger.record_intent(leg, "coid-1")
    ledger.mark_unknown("coid-1", "answer lost", order_id="ord-9")
    ledger.book("coid-1", Booking("none", error="recovered: nothing filled"))
    assert ledger.intent("coid-1").order_id == "ord-9"
    ledger.close()


V1_SCHEMA = """
CREATE TABLE intents (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, exchange TEXT NOT NULL,
    instrument TEXT NOT NULL, outcome TEXT, action TEXT NOT NULL, count TEXT NOT NULL, price TEXT NOT NULL,
    tick_size TEXT, neg_risk INTEGER, purpose TEXT NOT NULL, arb_id TEXT, created_at TEXT NOT NULL,
    state TEXT NOT NULL, order_id TEXT, filled TEXT, avg_price TEXT, fees TEXT, error TEXT, updated_at TEXT NOT NULL);
CREATE TABLE fills (id INTEGER PRIMARY KEY, intent_id INTEGER NOT NULL REFERENCES intents (id),
    quantity TEXT NOT NULL, price TEXT, fee TEXT, source TEXT NOT NULL, external_id TEXT, booked_at TEXT NOT NULL,
    UNIQUE (intent_id, external_id));
CREATE TABLE exposures (id INTEGER PRIMARY KEY, arb_id TEXT NOT NULL, exchange TEXT NOT NULL,
    instrument TEXT NOT NULL, outcome TEXT, action TEXT NOT NULL, quantity TEXT NOT NULL, policy TEXT NOT NULL,
    recorded_at TEXT NOT NULL);
INSERT INTO intents VALUES (1, 'k', 'kalshi', 'KXT-1', 'yes', 'buy', '10', '0.45', NULL, NULL, 'entry', 'a', 't',
    'filled', 'o', '10', '0.45', NULL, NULL, 't');
INSERT INTO fills VALUES (1, 1, '6', '0.45', '0.01', 'exchange', 'f-1', 't'),
    (2, 1, '4', '0.45', NULL, 'order', NULL, 't');
INSERT INTO exposures VALUES (1, 'a', 'kalshi', 'KXT-1', 'yes', 'buy', '10', 'hold', 't');
PRAGMA user_version = 1;
"""


def test_a_version_1_ledger_is_migrated_keeping_fills_and_exposures(tmp_path):
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
    with Ledger(path) as ledger:
        assert [(f.quantity, f.source, f.final) for f in ledger.fills("k")] == [
            (D("6"), "exchange", True),
            (D("4"), "order", False),
        ]
        assert ledger.positions() == {("kalshi", "KXT-1"): D("10")}
        assert [(r.status, r.quantity) for r in ledger.exposure_records("a")] == [("open", D("10"))]
        assert [i.key for i in ledger.unreconciled()] == ["k"]


def test_a_version_1_poly_trade_is_migrated_as_not_final_so_recovery_rebooks_it(tmp_path):
    """Version 1 booked Polymarket trades without their fee and whatever their status (MATCHED trades can
    still FAIL): marked final, the fee stays NULL and a FAILED trade stays counted for ever."""
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute(
            "INSERT INTO intents VALUES (2, 'p', 'poly', 'tok', NULL, 'buy', '10', '0.52', '0.01', 0, 'entry', 'a',"
            " 't', 'filled', 'p', '10', '0.52', NULL, NULL, 't')"
        )
        db.execute("INSERT INTO fills VALUES (3, 2, '10', '0.52', NULL, 'exchange', 'trade-1', 't')")
    with Ledger(path) as ledger:
        assert [(f.external_id, f.final) for f in ledger.fills("p")] == [("trade-1", False)]
        assert [i.key for i in ledger.unreconciled()] == ["k", "p"]


def test_rebook_supersedes_changed_fills_and_keeps_unchanged_ones(ledger):
    ledger.record_intent(pleg(), "p")
    matched = (
        Fill(D("4"), D("0.52"), D("0.01"), "exchange", "t-1"),
        Fill(D("6"), D("0.52"), D("0.02"), "exchange", "t-2"),
    )
    ledger.book("p", Booking("filled", "p", D("10"), D("0.52"), D("0.03"), fills=matched))
    assert [i.key for i in ledger.unreconciled()] == ["p"]
    confirmed = replace(matched[0], final=True)  # t-1 CONFIRMED, t-2 FAILED
    ledger.rebook("p", Booking("partial", "p", D("4"), D("0.52"), D("0.01"), fills=(confirmed,)))
    assert ledger.fills("p") == [confirmed]
    assert [f.external_id for f in ledger.fills("p", superseded=True)] == ["t-2"]
    assert ledger.positions() == {("poly", "tok"): D("4")}
    assert (ledger.intent("p").state, ledger.intent("p").filled) == ("partial", D("4"))
    assert ledger.unreconciled() == []
    ledger.record_intent(pleg(), "open")
    with pytest.raises(LedgerError, match="still 'pending'"):
        ledger.rebook("open", Booking("none"))


def test_update_exposures_closes_what_no_longer_holds_and_records_what_is_new(ledger):
    leg = kleg()
    ledger.update_exposures("a", [(leg, D("10"))], "unwind", "entries")
    ledger.update_exposures("a", [(leg, D("10"))], "unwind", "nothing changed")
    assert [(r.quantity, r.status) for r in ledger.exposure_records("a")] == [(D("10"), "open")]
    ledger.update_exposures("a", [(leg.opposite(), D("1.5"))], "unwind", "unwind k-2")
    assert [(r.action, r.quantity, r.status, r.closed_by) for r in ledger.exposure_records("a")] == [
        ("buy", D("10"), "closed", "unwind k-2"),
        ("sell", D("1.5"), "open", None),
    ]
    assert [r.quantity for r in ledger.exposure_records(open_only=True)] == [D("1.5")]


def test_decisions_are_read_back_with_the_time_they_were_recorded(tmp_path):
    """The decisions table has kept `at` since it was created; it is read back on each Decision, kept in the
    canonical ledger (for tradetape report) and left out when two canonical ledgers are compared."""
    from trader_helpers import LedgerClock

    from scenarios.ledger_canon import canonical, differences
    from trader.decisions import Decision

    clock = LedgerClock()
    with Ledger(tmp_path / "l.sqlite", clock=clock) as ledger:
        ledger.record_decision(Decision("skipped", "ali", "stale", "book stale (feed silent)"))
        clock.advance(1.5)
        ledger.record_decision(Decision("kill", None, "killed", "stop"))
        first, second = ledger.decisions()
        book = canonical(ledger)
    assert (first.at, second.at) == ("2026-11-20T00:00:00.000000+00:00", "2026-11-20T00:00:01.500000+00:00")
    assert [d["at"] for d in book["decisions"]] == [first.at, second.at]
    later = {**book, "decisions": [d | {"at": "2026-12-01T00:00:00+00:00"} for d in book["decisions"]]}
    assert differences(book, later) == []
    changed = {**book, "decisions": [book["decisions"][0] | {"reason": "crossed"}, book["decisions"][1]]}
    assert differences(book, changed)[0].startswith("decisions[0]: ")
