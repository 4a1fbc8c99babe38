"""The data a report page draws, as one JSON-ready dict: the list of entries, markets, exchanges.

Numbers the exchanges sent stay decimal strings (as in the fixtures), so the page and the tests read the
exact values; only times are floats (seconds on the axis). The shape is described in docs/report.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clients.errors import ExchangeError
from proxy.report import kalshi, poly
from proxy.report.clock import axis_times, entry_walls, offsets
from proxy.report.decisions import decision_item, is_opportunity
from proxy.report.events import Answer, Book, Decision, Events, Fill, Level, Order
from proxy.report.frames import frame_item
from proxy.report.inputs import EntryReader, Input, Session
from proxy.report.positions import Change, Point, fold, series
from proxy.report.rest import Rest, rest_view
from proxy.tape.manifest import tradetape_version
from proxy.tools.timeline import timeline_row

FORMAT = 1
BOOK_LEVELS = 10  # per side and book, enough to see depth; the fixture in the list has all of them
EXPOSURE_STEP = Decimal("0.000001")
READERS: dict[str, Callable[[Rest], Callable[[Rest], Events] | None]] = {"kalshi": kalshi.reader, "poly": poly.reader}
ITEM_VIEWS: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {"frame": frame_item, "decision": decision_item}
UNREADABLE = (ExchangeError, KeyError, TypeError, ValueError, ArithmeticError)


def num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def levels(side: tuple[Level, ...]) -> list[list[str]]:
    return [[str(price), str(size)] for price, size in side[:BOOK_LEVELS]]


def stamp(wall: float | None) -> str | None:
    if wall is None:
        return None
    moment = datetime.fromtimestamp(wall, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


def rest_item(entry_record: dict[str, Any]) -> dict[str, Any]:
    """What the list shows of a fixture: its request line, status, latency and key fields (as inspect does)."""
    row = timeline_row(entry_record)
    return {"label": f"{row[3]} {row[4]}", "status": row[5], "latency": row[6], "summary": row[7]}


def answer_json(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {
        "t": answer.t,
        "status": answer.status,
        "order_id": answer.order_id,
        "filled": num(answer.filled),
        "avg_price": num(answer.avg_price),
        "error": answer.error,
    }


def order_json(o: Order) -> dict[str, Any]:
    return {
        "t": o.t,
        "item": o.item,
        "side": o.side,
        "price": str(o.price),
        "size": str(o.size),
        "kind": o.kind,
        "client_order_id": o.client_order_id,
        "answer": answer_json(o.answer),
    }


def fill_json(c: Change) -> dict[str, Any]:
    return {
        "t": c.t,
        "item": c.item,
        "order_id": c.order_id,
        "fill_id": c.fill_id,
        "side": c.side,
        "size": str(c.size),
        "price": num(c.price),
    }


def book_json(b: Book) -> dict[str, Any]:
    drawn: dict[str, Any] = {"t": b.t, "item": b.item, "bids": levels(b.bids), "asks": levels(b.asks)}
    if b.invalid is not None:
        drawn["invalid"] = b.invalid
    return drawn


def trade_statuses(fills: list[Fill]) -> list[Fill]:
    """Each trade's status when it changes (first seen, then MINED, CONFIRMED, FAILED …), in time order."""
    last: dict[tuple[str, str], str] = {}
    out = []
    for f in sorted((f for f in fills if f.status is not None), key=lambda f: (f.t, f.item)):
        key = (f.exchange, f.fill_id)
        if last.get(key) != f.status:
            out.append(f)
            last[key] = f.status or ""
    return out


def decision_json(d: Decision) -> dict[str, Any]:
    return {
        "t": d.t,
        "item": d.item,
        "kind": d.kind,
        "reason": d.reason,
        "pair": d.pair,
        "arb": d.arb,
        "placed": d.placed,
        "label": f"{d.kind} {d.reason}: {d.detail}",
        "short": f"{d.kind} {d.reason}",
        "taken": d.kind not in ("skipped", "kill"),
    }


def point_json(p: Point) -> dict[str, Any]:
    exposure = None if p.exposure is None else p.exposure.quantize(EXPOSURE_STEP)
    return {"t": p.t, "item": p.item, "market": p.market, "position": str(p.position), "exposure": num(exposure)}


class Builder:
    """Walks the sessions in order, numbering the list and reading each entry into events."""

    def __init__(self, inputs: Sequence[Input]) -> None:
        self.inputs = inputs
        self.items: list[dict[str, Any]] = []
        self.events = Events()
        self.warnings: list[str] = []

    def session(self, session: Session, offset: float) -> dict[str, Any]:
        readers: dict[str, EntryReader] = {i.kind: i.reader(session) for i in self.inputs}
        walls = entry_walls(session)
        first = len(self.items)
        for entry, t, wall in zip(session.entries, axis_times(session, offset), walls, strict=True):
            index = len(self.items)
            item: dict[str, Any] = {
                "id": index,
                "session": session.name,
                "kind": entry.kind,
                "file": entry.file,
                "seq": entry.seq,
                "t": t,
                "at": stamp(wall),
                "exchange": entry.exchange,
                "record": entry.record,
                **({"context": entry.context} if entry.context else {}),
            }
            if entry.context.get("untimed"):
                item["t"] = item["at"] = None
            self.items.append(item)
            try:
                if entry.kind == "rest":
                    rest = rest_view(entry.record, index, t)
                    item.update(rest_item(entry.record), end=round(rest.answered, 6))
                    read = READERS[rest.exchange](rest)
                    if read is not None:
                        self.events.extend(read(rest))
                elif entry.kind in readers:
                    if entry.kind in ITEM_VIEWS:
                        item.update(ITEM_VIEWS[entry.kind](entry.record))
                    self.events.extend(readers[entry.kind](entry, index, t))
            except UNREADABLE as exc:
                item["problem"] = str(exc)
                self.warnings.append(f"{session.name}/{entry.file}: not drawn: {exc}")
        self.warnings += session.warnings
        return {
            "name": session.name,
            "path": str(session.path),
            "offset": offset,
            "start": stamp(walls[0]) if walls else None,
            "entries": len(self.items) - first,
            "kinds": {kind: sum(e.kind == kind for e in session.entries) for kind in {e.kind for e in session.entries}},
            "scenario": (session.manifest or {}).get("scenario"),
            "upstreams": (session.manifest or {}).get("upstreams"),
        }


def markets(events: Events, changes: list[Change]) -> list[dict[str, Any]]:
    """One entry per (exchange, market) that any order, fill or book names; Kalshi first, then in order seen."""
    keyed: dict[tuple[str, str], dict[str, Any]] = {}

    def market(exchange: str, name: str) -> dict[str, Any]:
        key = (exchange, name)
        if key not in keyed:
            keyed[key] = {
                "key": f"{exchange}:{name}",
                "exchange": exchange,
                "market": name,
                "leg": "YES" if exchange == "kalshi" else "token",
                "book": [],
                "orders": [],
                "fills": [],
                "trades": [],
                "notes": [],
            }
        return keyed[key]

    timed = sorted(
        [(o.t, o.item, "orders", o.exchange, o.market, order_json(o)) for o in events.orders]
        + [(b.t, b.item, "book", b.exchange, b.market, book_json(b)) for b in events.books]
        + [(c.t, c.item, "fills", c.exchange, c.market, fill_json(c)) for c in changes]
        + [
            (
                f.t,
                f.item,
                "trades",
                f.exchange,
                f.market,
                {"t": f.t, "item": f.item, "fill_id": f.fill_id, "status": f.status, "price": str(f.price)},
            )
            for f in trade_statuses(events.fills)
        ]
        + [
            (n.t, n.item, "notes", n.exchange, n.market, {"t": n.t, "item": n.item, "text": n.text})
            for n in events.notes
        ],
        key=lambda row: (row[0], row[1]),
    )
    for _, _, kind, exchange, name, value in timed:
        market(exchange, name)[kind].append(value)
    return sorted(keyed.values(), key=lambda m: m["exchange"] != "kalshi")


def exchanges(events: Events, changes: list[Change]) -> list[dict[str, Any]]:
    points = series(changes)
    names = sorted({*points, *(r.exchange for r in events.reported)}, key=lambda e: e != "kalshi")
    return [
        {
            "exchange": name,
            "points": [point_json(p) for p in points.get(name, [])],
            "reported": [
                {"t": r.t, "item": r.item, "market": r.market, "position": str(r.position), "exposure": num(r.exposure)}
                for r in sorted(events.reported, key=lambda r: (r.t, r.item))
                if r.exchange == name
            ],
        }
        for name in names
    ]


def build(sessions: Sequence[Session], align: str = "sequence", inputs: Sequence[Input] = ()) -> dict[str, Any]:
    """The report's data for `sessions`, laid on one axis by `align` (see clock.py)."""
    builder = Builder(inputs)
    listed = [builder.session(s, offset) for s, offset in zip(sessions, offsets(sessions, align), strict=True)]
    changes = fold(builder.events.states, builder.events.fills)
    ends = [i.get("end", i["t"]) for i in builder.items if i["t"] is not None]
    return {
        "format": FORMAT,
        "tradetape": tradetape_version(),
        "align": align,
        "span": [0.0, max(ends, default=0.0)],
        "sessions": listed,
        "items": builder.items,
        "markets": markets(builder.events, changes),
        "exchanges": exchanges(builder.events, changes),
        "opportunities": [decision_json(d) for d in builder.events.decisions if is_opportunity(d)],
        "decisions": [decision_json(d) for d in builder.events.decisions if not is_opportunity(d)],
        "warnings": builder.warnings,
    }
