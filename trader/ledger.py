"""The trader's ledger: every order intent, written before the order is sent, then its outcome and fills.

SQLite (stdlib), WAL journal, `synchronous=FULL`: each commit is on disk before the order it
describes goes out, so a crash (or power loss) can lose nothing the exchange may have seen. Every
state change is one transaction, so a crash leaves either the old state or the new one. Positions
are never stored: they are a query over the live fills. Decimals are stored as TEXT and summed with a
Decimal aggregate registered on the connection, never through SQLite's floats.

Fills the exchange may still change (an order's own figures, a Polymarket trade not yet CONFIRMED)
are booked with `final = 0`; `rebook` later replaces them with the exchange's records, keeping the
replaced rows (`superseded_at`) for the audit trail. The exposures table holds each arb's unhedged
quantities, `open` while they are true and `closed` (with what closed them) once they are not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from trader.decisions import Decision
from trader.legs import Leg

DEFAULT_PATH = Path("tradetape-ledger.sqlite")

IntentState = Literal["pending", "unknown", "filled", "partial", "none", "rejected"]
OPEN_STATES = ("pending", "unknown")
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,            -- Kalshi client_order_id, or the Polymarket order hash
    exchange TEXT NOT NULL CHECK (exchange IN ('kalshi', 'poly')),
    instrument TEXT NOT NULL,
    outcome TEXT,
    action TEXT NOT NULL CHECK (action IN ('buy', 'sell')),
    count TEXT NOT NULL,
    price TEXT NOT NULL,
    tick_size TEXT,
    neg_risk INTEGER,
    purpose TEXT NOT NULL CHECK (purpose IN ('entry', 'unwind', 'manual')),
    arb_id TEXT,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'unknown', 'filled', 'partial', 'none', 'rejected')),
    order_id TEXT,
    filled TEXT,
    avg_price TEXT,
    fees TEXT,
    error TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_state ON intents (state);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY,
    intent_id INTEGER NOT NULL REFERENCES intents (id),
    quantity TEXT NOT NULL,
    price TEXT,
    fee TEXT,
    source TEXT NOT NULL,               -- 'order' (the order's own result) or 'exchange' (a fill/trade record)
    external_id TEXT,                   -- the exchange's fill or trade id
    booked_at TEXT NOT NULL,
    final INTEGER NOT NULL DEFAULT 0,   -- 1 once the exchange can no longer change it
    superseded_at TEXT                  -- set when `rebook` replaced it; NULL while it counts
);
CREATE UNIQUE INDEX IF NOT EXISTS fills_live_external ON fills (intent_id, external_id) WHERE superseded_at IS NULL;
CREATE TABLE IF NOT EXISTS exposures (
    id INTEGER PRIMARY KEY,
    arb_id TEXT NOT NULL,
    exchange TEXT NOT NULL,
    instrument TEXT NOT NULL,
    outcome TEXT,
    action TEXT NOT NULL,
    quantity TEXT NOT NULL,
    policy TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_by TEXT,
    closed_at TEXT
);
CREATE TABLE IF NOT EXISTS decisions (  -- the engine's: every opportunity taken or skipped, and why
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- taken, skipped, would_take (dry run), result, kill, recovery
    pair TEXT,
    reason TEXT NOT NULL,               -- a short code: edge, stale, cooldown, ... (see trader.decisions)
    detail TEXT NOT NULL,               -- the human sentence
    outcome TEXT,                       -- the Kalshi outcome of the box (yes/no)
    count TEXT,
    kalshi_price TEXT,
    poly_price TEXT,
    edge TEXT,                          -- net edge per contract
    arb_id TEXT
);
"""

# Version 1 had UNIQUE (intent_id, external_id) on fills, no final/superseded_at and open-only exposures.
# Its Kalshi fill records are final; its Polymarket trades are not (booked without fee, whatever their status),
# so the next recover() rebooks them from the exchange's trades.
MIGRATE_1_TO_2 = """
ALTER TABLE fills RENAME TO fills_v1;
CREATE TABLE fills (
    id INTEGER PRIMARY KEY,
    intent_id INTEGER NOT NULL REFERENCES intents (id),
    quantity TEXT NOT NULL,
    price TEXT,
    fee TEXT,
    source TEXT NOT NULL,
    external_id TEXT,
    booked_at TEXT NOT NULL,
    final INTEGER NOT NULL DEFAULT 0,
    superseded_at TEXT
);
INSERT INTO fills (id, intent_id, quantity, price, fee, source, external_id, booked_at, final)
    SELECT f.id, f.intent_id, f.quantity, f.price, f.fee, f.source, f.external_id, f.booked_at,
        f.source = 'exchange' AND i.exchange = 'kalshi'
    FROM fills_v1 f JOIN intents i ON i.id = f.intent_id;
DROP TABLE fills_v1;
ALTER TABLE exposures ADD COLUMN status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed'));
ALTER TABLE exposures ADD COLUMN closed_by TEXT;
ALTER TABLE exposures ADD COLUMN closed_at TEXT;
"""


@dataclass(frozen=True, slots=True)
class Intent:
    """One order the trader decided to send, as the ledger knows it."""

    id: int
    key: str
    leg: Leg
    purpose: str
    arb_id: str | None
    created_at: str
    state: IntentState
    order_id: str | None
    filled: Decimal | None
    avg_price: Decimal | None
    fees: Decimal | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Fill:
    """A quantity of an intent that executed; `external_id` is the exchange's fill/trade id when known.

    `final` says the exchange can no longer change it (a Kalshi fill, a CONFIRMED Polymarket trade);
    an order's own figures never are, they wait for the exchange's records.
    """

    quantity: Decimal
    price: Decimal | None
    fee: Decimal | None
    source: Literal["order", "exchange"]
    external_id: str | None = None
    final: bool = False


@dataclass(frozen=True, slots=True)
class Booking:
    """The final answer for an intent: its state, the exchange's order id and figures, and its fills."""

    state: IntentState
    order_id: str | None = None
    filled: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fees: Decimal | None = None
    error: str | None = None
    fills: tuple[Fill, ...] = ()


@dataclass(frozen=True, slots=True)
class ExposureRecord:
    """One row of the exposures table: `status` open while it is true, closed with what closed it."""

    arb_id: str
    exchange: str
    instrument: str
    outcome: str | None
    action: str
    quantity: Decimal
    policy: str
    recorded_at: str
    status: Literal["open", "closed"]
    closed_by: str | None
    closed_at: str | None

    @property
    def key(self) -> tuple[str, str, str | None, str, Decimal]:
        return (self.exchange, self.instrument, self.outcome, self.action, self.quantity)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class LedgerError(Exception):
    """A ledger operation that does not fit the intent's state (unknown key, already booked, ...)."""


class _SignedSum:
    """SQLite aggregate: exact Decimal sum of TEXT quantities times an integer sign."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, quantity: str, sign: int) -> None:
        self.total += Decimal(quantity) * sign

    def finalize(self) -> str:
        return str(self.total)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


INSERT_INTENT = (
    "INSERT INTO intents (key, exchange, instrument, outcome, action, count, price, tick_size, neg_risk, purpose,"
    " arb_id, created_at, state, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'pending', ?)"
)
INSERT_DECISION = (
    "INSERT INTO decisions (at, kind, pair, reason, detail, outcome, count, kalshi_price, poly_price, edge, arb_id)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def _decision_row(d: Decision, now: str) -> tuple[str | None, ...]:
    """A decision's row; `now` is when the transaction recording it began, the time of a decision made without one
    (a skip carries the time it was made)."""
    return (
        d.at or now,
        d.kind,
        d.pair,
        d.reason,
        d.detail,
        d.outcome,
        _text(d.count),
        _text(d.kalshi_price),
        _text(d.poly_price),
        _text(d.edge),
        d.arb_id,
    )


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception, the COMMIT's own included (a busy or failing disk):
    nothing of the transaction stays, and the connection is not left inside it (autocommit). A class rather than a
    generator context manager: it is on every arb's way to its orders."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if kind is not None:
            self._rollback()
            return
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


class Ledger:
    """The SQLite ledger; use as a context manager or call `close()`."""

    def __init__(self, path: str | Path = DEFAULT_PATH, *, clock: Callable[[], str] = utc_now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.create_aggregate("signed_sum", 2, _SignedSum)  # type: ignore[arg-type]  # typeshed types only 1-arg aggregates
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION):
            raise LedgerError(f"{self.path}: ledger schema version {version}, this tradetape knows {SCHEMA_VERSION}")
        upgrade = MIGRATE_1_TO_2 if version == 1 else ""
        self._db.executescript(f"BEGIN IMMEDIATE; {upgrade} {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def now(self) -> datetime:
        """The ledger clock's current time (the clock every `created_at` and `updated_at` comes from)."""
        return datetime.fromisoformat(self._clock())

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def record_intent(self, leg: Leg, key: str, *, purpose: str = "entry", arb_id: str | None = None) -> Intent:
        """Write the intent (state `pending`) before the order is sent; returns it."""
        self.record_intents([(leg, key)], purpose=purpose, arb_id=arb_id)
        return self.intent(key)

    def record_intents(
        self,
        orders: Sequence[tuple[Leg, str]],
        *,
        purpose: str = "entry",
        arb_id: str | None = None,
        decisions: Sequence[Decision] = (),
    ) -> None:
        """Write several intents (`pending`, keyed) and the decisions that made them (first, in order) in one
        transaction: one commit, one fsync, before any of the orders is sent (all are durable, or none). The rows
        are built before the transaction begins, so it holds the write lock for the inserts and the commit only."""
        now = self._clock()
        decision_rows = [_decision_row(d, now) for d in decisions]
        intent_rows = [
            (
                key,
                leg.exchange,
                leg.instrument,
                leg.outcome,
                leg.action,
                str(leg.count),
                str(leg.price),
                _text(leg.tick_size),
                leg.neg_risk,
                purpose,
                arb_id,
                now,
                now,
            )
            for leg, key in orders
        ]
        with self._transaction():
            if decision_rows:
                self._db.executemany(INSERT_DECISION, decision_rows)
            self._db.executemany(INSERT_INTENT, intent_rows)

    def mark_unknown(self, key: str, reason: str, *, order_id: str | None = None) -> None:
        """The order was sent but its outcome is not known (answer lost, order still open): left for `recover()`."""
        with self._transaction():
            self._require_open(key)
            self._db.execute(
                "UPDATE intents SET state='unknown', error=?, order_id=COALESCE(?, order_id), updated_at=? WHERE key=?",
                (reason, order_id, self._clock(), key),
            )

    def book(self, key: str, booking: Booking) -> None:
        """Book an open intent's final outcome and its fills, in one transaction."""
        if booking.state in OPEN_STATES:
            raise LedgerError(f"intent {key}: book() needs a final state, got {booking.state!r}")
        with self._transaction():
            intent_id = self._require_open(key)
            self._set_outcome(intent_id, booking)
            self._insert_fills(intent_id, booking.fills)

    def rebook(self, key: str, booking: Booking) -> None:
        """Replace a booked intent's fills and figures with the exchange's records, in one transaction.

        Live fills that reappear unchanged (same external id, quantity, price and fee) stay and take the
        new `final`; the others are superseded (kept, no longer counted); the new ones are inserted.
        """
        if booking.state in OPEN_STATES:
            raise LedgerError(f"intent {key}: rebook() needs a final state, got {booking.state!r}")
        with self._transaction():
            row = self._db.execute("SELECT id, state FROM intents WHERE key=?", (key,)).fetchone()
            if row is None:
                raise LedgerError(f"no intent with key {key!r} in {self.path}")
            if row["state"] in OPEN_STATES:
                raise LedgerError(f"intent {key} is still {row['state']!r}: book() it first")
            intent_id, now, kept = row["id"], self._clock(), set()
            for live in self._db.execute(
                "SELECT * FROM fills WHERE intent_id=? AND superseded_at IS NULL", (intent_id,)
            ).fetchall():
                same = next((f for f in booking.fills if _same_record(live, f)), None)
                if same is not None:
                    kept.add(same.external_id)
                    self._db.execute("UPDATE fills SET final=? WHERE id=?", (same.final, live["id"]))
                else:
                    self._db.execute("UPDATE fills SET superseded_at=? WHERE id=?", (now, live["id"]))
            self._set_outcome(intent_id, booking)
            self._insert_fills(intent_id, [f for f in booking.fills if f.external_id not in kept])

    def _set_outcome(self, intent_id: int, booking: Booking) -> None:
        self._db.execute(
            "UPDATE intents SET state=?, order_id=COALESCE(?, order_id), filled=?, avg_price=?, fees=?, error=?,"
            " updated_at=? WHERE id=?",
            (
                booking.state,
                booking.order_id,
                str(booking.filled),
                _text(booking.avg_price),
                _text(booking.fees),
                booking.error,
                self._clock(),
                intent_id,
            ),
        )

    def _insert_fills(self, intent_id: int, fills: Iterable[Fill]) -> None:
        self._db.executemany(
            "INSERT INTO fills (intent_id, quantity, price, fee, source, external_id, booked_at, final)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    intent_id,
                    str(f.quantity),
                    _text(f.price),
                    _text(f.fee),
                    f.source,
                    f.external_id,
                    self._clock(),
                    f.final,
                )
                for f in fills
            ],
        )

    def _require_open(self, key: str) -> int:
        row = self._db.execute("SELECT id, state FROM intents WHERE key=?", (key,)).fetchone()
        if row is None:
            raise LedgerError(f"no intent with key {key!r} in {self.path}")
        if row["state"] not in OPEN_STATES:
            raise LedgerError(f"intent {key} is already booked as {row['state']!r}")
        return row["id"]

    def record_exposure(self, arb_id: str, leg: Leg, quantity: Decimal, policy: str) -> None:
        """Record an open unmatched quantity an arb left on one leg (its exchange, instrument, outcome, side)."""
        with self._transaction():
            self._insert_exposure(arb_id, leg, quantity, policy)

    def _insert_exposure(self, arb_id: str, leg: Leg, quantity: Decimal, policy: str) -> None:
        self._db.execute(
            "INSERT INTO exposures (arb_id, exchange, instrument, outcome, action, quantity, policy, recorded_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (arb_id, leg.exchange, leg.instrument, leg.outcome, leg.action, str(quantity), policy, self._clock()),
        )

    def update_exposures(
        self, arb_id: str, current: Sequence[tuple[Leg, Decimal]], policy: str, closed_by: str
    ) -> None:
        """Make the arb's open exposures exactly `current`: open rows that no longer hold are closed
        (`closed_by` says what closed them), rows still true stay open, new ones are recorded open."""
        with self._transaction():
            wanted = [(leg.exchange, leg.instrument, leg.outcome, leg.action, qty) for leg, qty in current]
            for record_id, record in self._open_exposures(arb_id):
                if record.key in wanted:
                    wanted.remove(record.key)
                else:
                    self._db.execute(
                        "UPDATE exposures SET status='closed', closed_by=?, closed_at=? WHERE id=?",
                        (closed_by, self._clock(), record_id),
                    )
            for leg, qty in current:
                key = (leg.exchange, leg.instrument, leg.outcome, leg.action, qty)
                if key in wanted:
                    wanted.remove(key)
                    self._insert_exposure(arb_id, leg, qty, policy)

    def _open_exposures(self, arb_id: str) -> list[tuple[int, ExposureRecord]]:
        rows = self._db.execute("SELECT * FROM exposures WHERE arb_id=? AND status='open' ORDER BY id", (arb_id,))
        return [(r["id"], _exposure(r)) for r in rows]

    def exposure_records(self, arb_id: str | None = None, *, open_only: bool = False) -> list[ExposureRecord]:
        """The exposures table's rows (all arbs, or one), oldest first; `open_only` keeps those still true."""
        rows = self._db.execute(
            "SELECT * FROM exposures WHERE (? IS NULL OR arb_id=?) AND (? = 0 OR status='open') ORDER BY id",
            (arb_id, arb_id, open_only),
        )
        return [_exposure(r) for r in rows]

    def intent(self, key: str) -> Intent:
        row = self._db.execute("SELECT * FROM intents WHERE key=?", (key,)).fetchone()
        if row is None:
            raise LedgerError(f"no intent with key {key!r} in {self.path}")
        return _intent(row)

    def intents(self, *, open_only: bool = False) -> list[Intent]:
        """All intents in creation order, or only those whose outcome is not known yet."""
        where = f"WHERE state IN {OPEN_STATES}" if open_only else ""
        return [_intent(r) for r in self._db.execute(f"SELECT * FROM intents {where} ORDER BY id")]

    def fills(self, key: str, *, superseded: bool = False) -> list[Fill]:
        """The intent's fills that count (or, with `superseded`, those `rebook` replaced)."""
        rows = self._db.execute(
            "SELECT f.* FROM fills f JOIN intents i ON i.id = f.intent_id WHERE i.key=?"
            f" AND f.superseded_at IS {'NOT ' if superseded else ''}NULL ORDER BY f.id",
            (key,),
        )
        return [_fill(r) for r in rows]

    def unreconciled(self) -> list[Intent]:
        """Booked intents with a fill the exchange may still change: an order's own figures, a trade not final."""
        rows = self._db.execute(
            f"SELECT * FROM intents WHERE state NOT IN {OPEN_STATES} AND id IN"
            " (SELECT intent_id FROM fills WHERE superseded_at IS NULL AND final = 0) ORDER BY id"
        )
        return [_intent(r) for r in rows]

    def arb_intents(self, arb_id: str) -> list[Intent]:
        """The arb's orders (entries and unwinds) in creation order."""
        return [_intent(r) for r in self._db.execute("SELECT * FROM intents WHERE arb_id=? ORDER BY id", (arb_id,))]

    def exposures(self, arb_id: str | None = None) -> list[tuple[str, str, str | None, str, Decimal, str]]:
        """Every recorded exposure, open or closed, as (exchange, instrument, outcome, action, quantity, policy)."""
        return [(*r.key, r.policy) for r in self.exposure_records(arb_id)]

    def arb_fills(self, day: str) -> list[tuple[str, str, str, Decimal, Decimal, Decimal | None]]:
        """The fills that count of every arb intent created on `day` (an ISO date, UTC), in one query:
        (arb_id, exchange, action, quantity, price (the intent's limit when the fill has none), fee)."""
        rows = self._db.execute(
            "SELECT i.arb_id, i.exchange, i.action, f.quantity, COALESCE(f.price, i.price) AS price, f.fee"
            " FROM fills f JOIN intents i ON i.id = f.intent_id"
            " WHERE f.superseded_at IS NULL AND i.arb_id IS NOT NULL AND i.created_at LIKE ? ORDER BY f.id",
            (day + "%",),
        )
        return [
            (r["arb_id"], r["exchange"], r["action"], Decimal(r["quantity"]), Decimal(r["price"]), _dec(r["fee"]))
            for r in rows
        ]

    def record_decision(self, decision: Decision) -> None:
        """One engine decision (an opportunity taken or skipped, an arb's result, the kill switch)."""
        self.record_decisions([decision])

    def record_decisions(self, decisions: Sequence[Decision]) -> None:
        """Several decisions, in order, in one transaction."""
        now = self._clock()
        rows = [_decision_row(d, now) for d in decisions]
        with self._transaction():
            self._db.executemany(INSERT_DECISION, rows)

    def decisions(self) -> list[Decision]:
        """Every recorded decision, oldest first, with the time it was recorded."""
        return [
            Decision(
                r["kind"],
                r["pair"],
                r["reason"],
                r["detail"],
                r["outcome"],
                _dec(r["count"]),
                _dec(r["kalshi_price"]),
                _dec(r["poly_price"]),
                _dec(r["edge"]),
                r["arb_id"],
                r["at"],
            )
            for r in self._db.execute("SELECT * FROM decisions ORDER BY id")
        ]

    def positions(self) -> dict[tuple[str, str], Decimal]:
        """Net position per (exchange, instrument), summed from fills.

        Kalshi follows its positions endpoint: one signed number per ticker, + YES and - NO.
        Polymarket: shares of the token held. Instruments whose fills net to zero are kept (as 0) so
        a reconciliation still looks at them.
        """
        rows = self._db.execute(
            "SELECT i.exchange, i.instrument, signed_sum(f.quantity,"
            "  (CASE i.action WHEN 'buy' THEN 1 ELSE -1 END) * (CASE i.outcome WHEN 'no' THEN -1 ELSE 1 END)) AS net"
            " FROM fills f JOIN intents i ON i.id = f.intent_id WHERE f.superseded_at IS NULL"
            " GROUP BY i.exchange, i.instrument"
            " ORDER BY i.exchange, i.instrument"
        )
        return {(r["exchange"], r["instrument"]): Decimal(r["net"]) for r in rows}

    def instruments(self, exchange: str) -> list[str]:
        """Every instrument the ledger has an intent for on `exchange`, filled or not."""
        rows = self._db.execute(
            "SELECT DISTINCT instrument FROM intents WHERE exchange=? ORDER BY instrument", (exchange,)
        )
        return [r[0] for r in rows]


def _exposure(row: sqlite3.Row) -> ExposureRecord:
    return ExposureRecord(
        row["arb_id"],
        row["exchange"],
        row["instrument"],
        row["outcome"],
        row["action"],
        Decimal(row["quantity"]),
        row["policy"],
        row["recorded_at"],
        row["status"],
        row["closed_by"],
        row["closed_at"],
    )


def _fill(row: sqlite3.Row) -> Fill:
    return Fill(
        Decimal(row["quantity"]),
        _dec(row["price"]),
        _dec(row["fee"]),
        row["source"],
        row["external_id"],
        bool(row["final"]),
    )


def _same_record(row: sqlite3.Row, fill: Fill) -> bool:
    """The live row is this exchange record, unchanged (only `final` may differ)."""
    booked = _fill(row)
    return fill.external_id is not None and (
        booked.external_id,
        booked.quantity,
        booked.price,
        booked.fee,
    ) == (fill.external_id, fill.quantity, fill.price, fill.fee)


def _intent(row: sqlite3.Row) -> Intent:
    leg = Leg(
        row["exchange"],
        row["instrument"],
        row["action"],
        Decimal(row["count"]),
        Decimal(row["price"]),
        row["outcome"],
        _dec(row["tick_size"]),
        None if row["neg_risk"] is None else bool(row["neg_risk"]),
    )
    return Intent(
        row["id"],
        row["key"],
        leg,
        row["purpose"],
        row["arb_id"],
        row["created_at"],
        row["state"],
        row["order_id"],
        _dec(row["filled"]),
        _dec(row["avg_price"]),
        _dec(row["fees"]),
        row["error"],
    )
