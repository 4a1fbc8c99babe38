"""The end-to-end scenarios: the arb engine against the paper exchanges, every price change through the real feeds.

Each starts from the simulator's default markets (no arb in them) and the harness's pair (`scenarios.e2e.PAIRS`:
at most 10 contracts an arb), makes something happen through the admin API, and reports what the ledger, the
engine and the exchanges show. The arb most of them use: Kalshi YES bids 0.55 (a NO costs 1 - 0.55 = 0.45) against
the Polymarket YES ask 0.49: 0.94 plus the Kalshi fee 0.07 x 0.45 x 0.55 = 0.0174 a contract, an edge of about
0.04. They run live, recorded through the proxy (REST); capture of the feeds and causal replay wait for the
proxy's WebSocket support (issue 17).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from .catalogue import check, num
from .e2e import POLY_YES, REPLAY_STALE_AFTER, STALE_AFTER, TICKER, Harness
from .harness import Outcome
from .ledger_canon import TIMING, canonical, differences, ledger_file

Observed = dict[str, Any]
KALSHI_ORDERS = "/trade-api/v2/portfolio/events/orders"
ARB_BIDS = [("0.55", "20")]
ASKS = [("0.60", "20")]
D = Decimal


@dataclass(frozen=True)
class E2EScenario:
    name: str
    how: str
    tests: str
    run: Callable[[Harness], Awaitable[Observed]]
    expect: Observed
    exchange: str = "both"
    replay_stale_after: float = REPLAY_STALE_AFTER  # the engine's stale_after_s in replay (see scenarios.e2e)


# ---- what the scenarios observe ------------------------------------------------------------------


def decisions(h: Harness) -> str:
    """The engine's decisions in order; recovery rounds and the skips in TIMING left out."""
    return ", ".join(f"{k} {r}" for k, r in h.kinds() if k != "recovery" and r not in TIMING) or "none"


def positions(held: dict[tuple[str, str], Decimal]) -> str:
    names = {TICKER: "kalshi", POLY_YES: "poly yes"}
    return ", ".join(f"{names.get(inst, inst)} {num(q)}" for (_, inst), q in sorted(held.items())) or "flat"


async def settled(h: Harness) -> Observed:
    """Positions as the ledger has them, and whether the exchanges agree."""
    ledger = h.ledger_positions()
    return {"positions": positions(ledger), "exchanges_agree": ledger == await h.exchange_positions()}


def orders_sent(h: Harness) -> int:
    """Order requests in the recorded session."""
    return sum(1 for name in h.recorded() if name.endswith(("_POST_kalshi_orders.json", "_POST_poly_order.json")))


def results(h: Harness) -> int:
    return sum(1 for kind, _ in h.kinds() if kind == "result")


def entry_filled(h: Harness, exchange: str) -> bool:
    with h.ledger() as ledger:
        return any(i.leg.exchange == exchange and i.purpose == "entry" and i.filled for i in ledger.intents())


def last_result(h: Harness) -> str:
    result = [d for d in h.decisions() if d.kind == "result"][-1]
    return result.detail


# ---- the scenarios -------------------------------------------------------------------------------


async def arb_both_fill(h: Harness) -> Observed:
    await h.start_engine()
    await h.kalshi_book(ARB_BIDS, ASKS)
    await h.until(lambda: results(h) == 1)
    return {"decisions": decisions(h), "result": last_result(h), "orders_sent": orders_sent(h)} | await settled(h)


async def race_book_moves(h: Harness) -> Observed:
    """The Polymarket order is held 400 ms on its way in; meanwhile the YES asks move 5 cents up, past its limit."""
    await h.start_engine()
    await h.fault("poly", method="POST", path="/order", action="delay", latency_ms=400)
    await h.kalshi_book(ARB_BIDS, ASKS)
    await h.until(lambda: entry_filled(h, "kalshi"))
    await h.move_poly_book(POLY_YES, "0.05")
    await h.until(lambda: results(h) == 1)
    return {"decisions": decisions(h), "result": last_result(h)} | await settled(h)


async def stale_feed(h: Harness) -> Observed:
    """The Kalshi feed goes silent (no frames, no heartbeats); the Polymarket YES asks drop into an arb while it is
    (Kalshi NO at 1 - 0.47 = 0.53 + Polymarket YES at 0.40: 0.93 and the fee)."""
    await h.start_engine()
    await h.feed_fault("kalshi", action="silent", duration_ms=5000)
    await h.until(lambda: h.kalshi_feed.books[TICKER].stale)
    await h.poly_book(POLY_YES, [("0.38", "500")], [("0.40", "500")])
    await h.until(lambda: results(h) == 1)
    return {"decisions": decisions(h), "result": last_result(h), "taken_at": _taken_at(h)} | await settled(h)


async def seq_gap(h: Harness) -> Observed:
    """The next Kalshi book delta goes out one `seq` late: the feed resnapshots before anything is decided."""
    await h.start_engine()
    await h.feed_fault("kalshi", action="skip_seq", kind="orderbook_delta")
    await h.kalshi_book(ARB_BIDS, ASKS)
    await h.until(lambda: results(h) == 1)
    assert h.engine is not None
    return {
        "decisions": decisions(h),
        "books_invalidated": h.engine.books_invalidated,
        "taken_at": _taken_at(h),
    } | await settled(h)


def _taken_at(h: Harness) -> str:
    taken = next(d for d in h.decisions() if d.kind == "taken")
    return (
        f"{num(taken.count or D(0))} @ kalshi {num(taken.kalshi_price or D(0))} + poly {num(taken.poly_price or D(0))}"
    )


async def ws_drop_mid_arb(h: Harness) -> Observed:
    """The Polymarket user channel is cut as it is about to report the arb's trade."""
    await h.start_engine()
    await h.feed_fault("poly", action="drop", channel="user", kind="trade")
    await h.kalshi_book([("0.55", "10")], ASKS)  # one arb's worth: nothing left to take once it is done
    await h.until(lambda: results(h) == 1 and _reconciled(h, "reconnected") is not None)
    return {
        "decisions": decisions(h),
        "reconciled": _reconciled(h, "reconnected"),
        "result": last_result(h),
    } | await settled(h)


def _reconciled(h: Harness, why: str) -> str | None:
    """The reason code of the reconciliation caused by `why`, once there is one."""
    found = [d for d in h.decisions() if d.kind == "recovery" and why in d.detail and d.reason != "arb_settled"]
    return found[-1].reason if found else None


async def restart_mid_arb(h: Harness) -> Observed:
    """The Kalshi order is received but executed 300 ms later; the engine is killed before its answer."""
    await h.start_engine()
    await h.fault("kalshi", method="POST", path=KALSHI_ORDERS, action="execute_late", late_ms=300, answer="hold")
    await h.kalshi_book(ARB_BIDS, ASKS)
    await h.until(lambda: entry_filled(h, "poly"))
    await h.kill_engine()
    with h.ledger() as ledger:
        left_open = [i.leg.exchange for i in ledger.intents(open_only=True)]
    await h.start_engine()
    await h.until(lambda: results(h) == 1)
    with h.ledger() as ledger:
        first = ledger.arb_intents(ledger.intents()[0].arb_id or "")
    return {
        "open_after_kill": ", ".join(left_open),
        "first_arb_after_recovery": ", ".join(f"{i.leg.exchange} {i.state} {num(i.filled or D(0))}" for i in first),
        "decisions": decisions(h),
    } | await settled(h)


async def poly_trade_failed(h: Harness) -> Observed:
    """The arb's Polymarket trade is MATCHED, then FAILED on chain: the exchange reverses it."""
    await h.start_engine()
    await h.fault("poly", method="POST", path="/order", action="fail_trades")
    await h.kalshi_book(ARB_BIDS, ASKS)
    await h.until(lambda: results(h) == 1)
    await h.advance(3)  # past confirmed_after_s: RETRYING, then FAILED
    await h.until(lambda: _reconciled(h, "reversed") is not None and h.ledger_positions() == {})
    assert h.engine is not None
    unwound = [d for d in h.decisions() if d.reason == "arb_settled"]
    return {
        "decisions": decisions(h),
        "fills_reversed": h.engine.fills_reversed,
        "settled": unwound[-1].detail if unwound else "none",
    } | await settled(h)


async def duplicate_fill_frames(h: Harness) -> Observed:
    """Every user fill frame is sent twice, on both exchanges."""
    await h.start_engine()
    await h.feed_fault("kalshi", action="duplicate", channel="fill", times=5)
    await h.feed_fault("poly", action="duplicate", channel="user", kind="trade", times=5)
    await h.kalshi_book(ARB_BIDS, ASKS)
    engine = h.engine
    assert engine is not None
    await h.until(lambda: results(h) == 1 and engine.fills_seen >= 2 and h.duplicates >= 2)
    return {
        "decisions": decisions(h),
        "fills_counted": engine.fills_seen,
        "duplicates_dropped": h.duplicates >= 2,
    } | await settled(h)


async def kill_switch(h: Harness) -> Observed:
    """The Polymarket account holds $1: its leg is refused for balance."""
    await h.start_engine()
    await h.poly_balance("1")
    await h.kalshi_book(ARB_BIDS, ASKS)
    reason = await h.stopped()
    sent = orders_sent(h)
    await h.kalshi_book([("0.56", "20")], ASKS)  # a better arb after the stop: nobody is looking
    return {
        "stopped": (reason or "").split(":")[0],
        "decisions": decisions(h),
        "result": last_result(h),
        "orders_after_stop": orders_sent(h) - sent,
    } | await settled(h)


async def risk_cap(h: Harness) -> Observed:
    """50 contracts of arb in the books; the pair's max_size is 10."""
    await h.start_engine()
    await h.kalshi_book([("0.55", "50")], ASKS)
    await h.until(lambda: results(h) == 1)
    taken = next(d for d in h.decisions() if d.kind == "taken")
    return {"decisions": decisions(h), "taken": taken.detail.split("; ", 1)[1], "count": taken.count} | await settled(h)


MATCHED_10 = "kalshi filled 10.00, poly filled 10, matched 10.00, unwinds 0, exposure left none"
BOTH_HELD = {"positions": "kalshi -10, poly yes 10", "exchanges_agree": True}
FLAT = {"positions": "flat", "exchanges_agree": True}

E2E_SCENARIOS: list[E2EScenario] = [
    E2EScenario(
        "e2e_arb_both_fill",
        "An arb appears in the books",
        "Detected, both legs fill, matched, no exposure",
        arb_both_fill,
        {"decisions": "taken edge, result matched", "result": MATCHED_10, "orders_sent": 2} | BOTH_HELD,
    ),
    E2EScenario(
        "e2e_race_book_moves",
        "The book moves between detection and the orders arriving",
        "One leg partial or none, exposure unwound by policy",
        race_book_moves,
        {
            "decisions": "taken edge, result exposure",
            "result": "kalshi filled 10.00, poly none 0, matched 0, unwinds 1, exposure left none",
        }
        | FLAT,
    ),
    E2EScenario(
        "e2e_stale_feed",
        "One feed goes silent while prices cross",
        "No trade on the stale book; trading resumes when fresh",
        stale_feed,
        {
            "decisions": "skipped stale, taken edge, result matched",
            "result": "kalshi filled 10.00, poly filled 10, matched 10.00, unwinds 0, exposure left none",
            "taken_at": "10 @ kalshi 0.53 + poly 0.4",
            "positions": "kalshi -10, poly yes 10",
            "exchanges_agree": True,
        },
        replay_stale_after=STALE_AFTER,
    ),
    E2EScenario(
        "e2e_seq_gap",
        "A Kalshi seq gap",
        "Resnapshot; no decision on the broken book",
        seq_gap,
        {"decisions": "taken edge, result matched", "books_invalidated": 1, "taken_at": "10 @ kalshi 0.45 + poly 0.49"}
        | BOTH_HELD,
    ),
    E2EScenario(
        "e2e_ws_drop_mid_arb",
        "The user channel drops while legs are in flight",
        "Reconnect, fills reconciled, positions right",
        ws_drop_mid_arb,
        {"decisions": "taken edge, result matched", "reconciled": "clean", "result": MATCHED_10} | BOTH_HELD,
    ),
    E2EScenario(
        "e2e_restart_mid_arb",
        "The engine is killed after one leg is sent",
        "Restart, recover, positions agree, trading resumes",
        restart_mid_arb,
        {
            "open_after_kill": "kalshi",
            "first_arb_after_recovery": "kalshi filled 10, poly filled 10",
            "decisions": "taken edge, taken edge, result matched",
            "positions": "kalshi -20, poly yes 20",
            "exchanges_agree": True,
        },
    ),
    E2EScenario(
        "e2e_poly_trade_failed",
        "A Polymarket trade goes MATCHED then FAILED",
        "The fill is reversed, the exposure handled",
        poly_trade_failed,
        {
            "decisions": "taken edge, result matched",
            "fills_reversed": 1,
            "settled": "unwinds 1, residual none",
        }
        | FLAT,
    ),
    E2EScenario(
        "e2e_duplicate_fill_frames",
        "Fill events arrive twice",
        "Counted once",
        duplicate_fill_frames,
        {"decisions": "taken edge, result matched", "fills_counted": 2, "duplicates_dropped": True} | BOTH_HELD,
    ),
    E2EScenario(
        "e2e_kill_switch",
        "Insufficient balance on one leg",
        "The engine stops trading and says why",
        kill_switch,
        {
            "stopped": "InsufficientBalance",
            "decisions": "taken edge, result exposure, kill killed",
            "result": "kalshi filled 10.00, poly rejected 0, matched 0, unwinds 1, exposure left none",
            "orders_after_stop": 0,
        }
        | FLAT,
    ),
    E2EScenario(
        "e2e_risk_cap",
        "An arb larger than the pair's limit",
        "Sized down to the limit",
        risk_cap,
        {
            "decisions": "taken edge, result matched",
            "taken": "sized down from 50 to the pair's max_size 10",
            "count": D(10),
        }
        | BOTH_HELD,
    ),
]
E2E_BY_NAME = {s.name: s for s in E2E_SCENARIOS}


async def capture(scenario: E2EScenario, fixtures_dir: Path) -> Outcome:
    """Run `scenario` against a fresh simulator, everything recorded through the proxy into fixtures_dir/<name>/."""
    started = time.perf_counter()
    async with Harness(scenario.name, fixtures_dir) as h:
        observed = await scenario.run(h)
        await h.finish()
        with h.ledger() as ledger:
            book = canonical(ledger)
    fixtures = len(h.recorded())
    failures = check(scenario.expect, observed)
    ledger_file(fixtures_dir, scenario.name).write_bytes(orjson.dumps(book, option=orjson.OPT_INDENT_2) + b"\n")
    return Outcome(scenario.name, "capture", observed, failures, fixtures, time.perf_counter() - started)


async def replay(scenario: E2EScenario, fixtures_dir: Path) -> Outcome:
    """Run `scenario`'s script against the causal replay of its session: the same observations, the same ledger
    as captured (fixtures_dir/<name>.ledger.json), and every recorded request and message used."""
    started = time.perf_counter()
    async with Harness(scenario.name, fixtures_dir, replay=True, replay_stale_after=scenario.replay_stale_after) as h:
        observed = await scenario.run(h)
        await h.finish()
        problems = h.replay_problems()
        with h.ledger() as ledger:
            book = canonical(ledger)
    failures = check(scenario.expect, observed) + problems
    captured = orjson.loads(ledger_file(fixtures_dir, scenario.name).read_bytes())
    failures += [f"ledger: {line}" for line in differences(captured, book)]
    fixtures = len(h.recorded())
    return Outcome(scenario.name, "replay", observed, failures, fixtures, time.perf_counter() - started)
