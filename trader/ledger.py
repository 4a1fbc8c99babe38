"""The trader's ledger: every order intent, written before the order is sent, then its outcome and fills.

SQLite (stdlib), WAL journal, `synchronous=FULL`: each commit is on disk before the order it
describes goes out, so a crash (or power loss) can lose nothing the exchange may have seen. Every
state change is one transaction, so a crash leaves either the old state or the new one. Positions
are never stored: they are a query over the fills. Decimals are stored as TEXT and summed with a
Decimal aggregate registered on the connection, never through SQLite's floats.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from trader.legs import Leg

DEFAULT_PATH = Path("tradetape-ledger.sqlite")

IntentState = Literal["pending", "unknown", "filled", "partial", "none", "rejected"]
OPEN_STATES = ("pending", "unknown")
SCHEMA_VERSION = 1

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
    UNIQUE (intent_id, external_id)
);
CREATE TABLE IF NOT EXISTS exposures (
    id INTEGER PRIMARY KEY,
    arb_id TEXT NOT NULL,
    exchange TEXT NOT NULL,
    instrument TEXT NOT NULL,
    outcome TEXT,
    action TEXT NOT NULL,
    quantity TEXT NOT NULL,
    policy TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
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
    """A quantity of an intent that executed; `external_id` is the exchange's fill/trade id when known."""

    quantity: Decimal
    price: Decimal | None
    fee: Decimal | None
    source: Literal["order", "exchange"]
    external_id: str | None = None


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


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


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
        if version not in (0, SCHEMA_VERSION):
            raise LedgerError(f"{self.path}: ledger schema version {version}, this tradetape knows {SCHEMA_VERSION}")
        self._db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (the connection runs in autocommit)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record_intent(self, leg: Leg, key: str, *, purpose: str = "entry", arb_id: str | None = None) -> Intent:
        """Write the intent (state `pending`) before the order is sent; returns it."""
        now = self._clock()
        with self._transaction():
            self._db.execute(
                "INSERT INTO intents (key, exchange, instrument, outcome, action, count, price, tick_size, neg_risk,"
                " purpose, arb_id, created_at, state, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'pending', ?)",
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
                ),
            )
        return self.intent(key)

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
            self._db.executemany(
                "INSERT INTO fills (intent_id, quantity, price, fee, source, external_id, booked_at)"
                " VALUES (?,?,?,?,?,?,?)",
                [
                    (intent_id, str(f.quantity), _text(f.price), _text(f.fee), f.source, f.external_id, self._clock())
                    for f in booking.fills
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
        """Record the unmatched quantity an arb left on one leg (before any unwind)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO exposures (arb_id, exchange, instrument, outcome, action, quantity, policy, recorded_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (arb_id, leg.exchange, leg.instrument, leg.outcome, leg.action, str(quantity), policy, self._clock()),
            )

    def intent(self, key: str) -> Intent:
        row = self._db.execute("SELECT * FROM intents WHERE key=?", (key,)).fetchone()
        if row is None:
            raise LedgerError(f"no intent with key {key!r} in {self.path}")
        return _intent(row)

    def intents(self, *, open_only: bool = False) -> list[Intent]:
        """All intents in creation order, or only those whose outcome is not known yet."""
        where = f"WHERE state IN {OPEN_STATES}" if open_only else ""
        return [_intent(r) for r in self._db.execute(f"SELECT * FROM intents {where} ORDER BY id")]

    def fills(self, key: str) -> list[Fill]:
        rows = self._db.execute(
            "SELECT f.* FROM fills f JOIN intents i ON i.id = f.intent_id WHERE i.key=? ORDER BY f.id", (key,)
        )
        return [
            Fill(Decimal(r["quantity"]), _dec(r["price"]), _dec(r["fee"]), r["source"], r["external_id"]) for r in rows
        ]

    def exposures(self, arb_id: str | None = None) -> list[tuple[str, str, str | None, str, Decimal, str]]:
        """Recorded exposures as (exchange, instrument, outcome, action, quantity, policy)."""
        rows = self._db.execute("SELECT * FROM exposures WHERE ? IS NULL OR arb_id=? ORDER BY id", (arb_id, arb_id))
        return [
            (r["exchange"], r["instrument"], r["outcome"], r["action"], Decimal(r["quantity"]), r["policy"])
            for r in rows
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
            " FROM fills f JOIN intents i ON i.id = f.intent_id GROUP BY i.exchange, i.instrument"
            " ORDER BY i.exchange, i.instrument"
        )
        return {(r["exchange"], r["instrument"]): Decimal(r["net"]) for r in rows}

    def instruments(self, exchange: str) -> list[str]:
        """Every instrument the ledger has an intent for on `exchange`, filled or not."""
        rows = self._db.execute(
            "SELECT DISTINCT instrument FROM intents WHERE exchange=? ORDER BY instrument", (exchange,)
        )
        return [r[0] for r in rows]


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
