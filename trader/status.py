"""The engine's live view on a terminal: one line of totals, one line per pair (books, edges, arbs, last decision).

`render` is pure (the text of one frame); `show` redraws it in place until cancelled. Off a terminal the engine
writes plain log lines instead and this is not used.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TextIO

from clients.book import BookView
from trader.engine import Engine

CLEAR = "\x1b[H\x1b[2J"
COLUMNS = ("pair", "kalshi bid/ask", "poly yes ask", "poly no ask", "edge yes", "edge no", "arbs", "last decision")


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _top(book: BookView | None) -> tuple[str, str]:
    if book is None:
        return "?", "?"
    bid = _price(book.best_bid.price) if book.best_bid else "-"
    ask = _price(book.best_ask.price) if book.best_ask else "-"
    return bid, ask + (" (stale)" if book.stale else "")


def _edge(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def render(engine: Engine, width: int = 160) -> str:
    """One frame of the view."""
    risk = engine.risk
    mode = "DRY RUN" if engine.dry_run else "trading" if engine.ready else "starting"
    head = (
        f"tradetape trader run: {mode} | pairs {len(engine.pairs)} | arbs {risk.arbs} | "
        f"open exposure ${risk.open_exposure_usd:.2f} | PnL today ${risk.daily_pnl:.4f} | "
        f"decisions {engine.decisions} | fills {engine.fills_seen} (reversed {engine.fills_reversed})"
    )
    rows = [COLUMNS]
    for pair in engine.pairs:
        status = engine.status[pair.name]
        bid, ask = _top(status.kalshi)
        yes = _top(status.poly.get(pair.poly_yes_token))[1]
        no = _top(status.poly.get(pair.poly_no_token))[1]
        last = status.last
        said = f"{last.kind} {last.reason}: {last.detail}" if last is not None else status.problem or ""
        edges = status.edges
        rows.append(
            (
                pair.name,
                f"{bid}/{ask}",
                yes,
                no,
                _edge(edges.get("yes")),
                _edge(edges.get("no")),
                str(status.arbs),
                said,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [head, ""]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        lines.append(("  ".join([*cells, row[-1]]))[:width])
    if risk.killed is not None:
        lines += ["", f"KILL SWITCH: {risk.killed}"]
    return "\n".join(lines)


async def show(engine: Engine, out: TextIO, interval: float = 0.5) -> None:
    """Redraw the view every `interval` seconds until cancelled."""
    while True:
        out.write(CLEAR + render(engine) + "\n")
        out.flush()
        await asyncio.sleep(interval)
