"""The chaos walk's short form (a few seeds, tens of steps), and its scenarios pinned one by one.

The long form is `make chaos SEEDS=20 STEPS=200` (tests/chaos_walk.py).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest
from chaos_walk import FAULT_KINDS, Violation, walk
from paper_helpers import KALSHI_TICKER, POLY_NO, POLY_YES, paper

from trader.arb import Policy, execute_arb
from trader.execute import execute_leg
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity
from trader.recovery import RecoveryPolicy, recover

ORDERS = "/trade-api/v2/portfolio/events/orders"
KLEG = Leg("kalshi", KALSHI_TICKER, "buy", D("10"), D("0.54"), "yes")
PLEG = Leg("poly", POLY_NO, "buy", D("10"), D("0.53"), tick_size=D("0.01"), neg_risk=False)


@pytest.mark.parametrize("seed", [101, 102, 103])
async def test_chaos_walk_short_form(seed, tmp_path):
    counts = Counter()
    try:
        await walk(seed, 30, tmp_path, counts, leg_timeout=0.3)
    except Violation as violation:
        pytest.fail(str(violation))
    assert counts["arbs"] > 0 and counts["settles"] > 0
    assert sum(counts[kind] for kind in FAULT_KINDS) > 0  # the walk did meet faults


def ledger_at(world, path):
    from datetime import UTC, datetime

    return Ledger(path, clock=lambda: datetime.fromtimestamp(world.sim.clock.now(), UTC).isoformat())


async def test_order_executed_late_after_a_racy_restart_is_booked_not_lost(tmp_path):
    """Finding 1 on the paper exchange: the Kalshi order is received, the trader gives up, restarts at
    once and recovers; the exchange executes the order 3 s later. The intent must stay open until then."""
    async with paper() as world:
        rules = RecoveryPolicy(not_found_window=30, sleep=world.sim.clock.advance)
        await world.arm("kalshi", method="POST", path=ORDERS, action="execute_late", late_ms=3_000, answer="drop")
        with ledger_at(world, tmp_path / "l.sqlite") as ledger:
            lost = await execute_leg(world.kalshi, KLEG, ledger)
        assert lost.status == "unknown"
        kalshi, poly = world.reopen()
        async with kalshi, poly:
            with ledger_at(world, tmp_path / "l.sqlite") as ledger:  # the racy restart
                report = await recover(ledger, kalshi, poly, settle=rules)
                assert [u.key for u in report.unresolved] == [lost.key] and report.alerts
                await world.sim.clock.advance(3)  # the exchange executes it
                report = await recover(ledger, kalshi, poly, settle=rules)
                assert [(r.key, r.state, r.filled) for r in report.resolved] == [(lost.key, "filled", D("10"))]
                assert report.clean
                assert ledger.positions() == {("kalshi", KALSHI_TICKER): D("10")}


async def test_failed_poly_trade_unhedges_an_arb_and_recovery_unwinds_it(tmp_path):
    """A hedged arb whose Polymarket trade goes MATCHED then FAILED: the exchange reverses the fill,
    recovery rebooks the leg at 0 and, under the unwind policy, sells the Kalshi side it left alone."""
    async with paper() as world:
        await world.arm("poly", method="POST", path="/order", action="fail_trades")
        with ledger_at(world, tmp_path / "l.sqlite") as ledger:
            result = await execute_arb(world.kalshi, world.poly, Opportunity(KLEG, PLEG, D("0.01")), ledger)
            assert (result.matched, result.exposure) == (D("10"), ())
            await world.sim.clock.advance(10)  # RETRYING, then FAILED: reversed at the exchange
            report = await recover(ledger, world.kalshi, world.poly, policy=Policy())
            assert [(r.key, r.filled) for r in report.rebooked] == [(result.poly.key, D("0"))]
            [settled] = report.arbs
            assert [(e.leg.exchange, e.quantity) for e in settled.exposure] == [("kalshi", D("10"))]
            assert [(u.leg.action, u.filled) for u in settled.unwinds] == [("sell", D("10"))]
            positions = ledger.positions()
            assert (positions[("kalshi", KALSHI_TICKER)], positions.get(("poly", POLY_NO), D("0"))) == (0, 0)
            assert report.clean and ledger.exposure_records(result.arb_id, open_only=True) == []


async def test_overfilled_poly_buy_entry_is_sold_back_exactly(tmp_path):
    """The NO ask sits at 0.53: a BUY of 10 at limit 0.55 spends 5.50 and gets 10.37 shares; the 0.37
    are exposure, sold back by a SELL (sized in shares, so exact)."""
    opportunity = Opportunity(
        KLEG, Leg("poly", POLY_NO, "buy", D("10"), D("0.55"), tick_size=D("0.01"), neg_risk=False), D("0")
    )
    async with paper() as world:
        with ledger_at(world, tmp_path / "l.sqlite") as ledger:
            result = await execute_arb(world.kalshi, world.poly, opportunity, ledger)
            assert result.poly.filled == D("10.37")
            assert [(e.leg.exchange, e.leg.action, e.quantity) for e in result.exposure] == [("poly", "buy", D("0.37"))]
            assert [(u.leg.action, u.filled) for u in result.unwinds] == [("sell", D("0.37"))]
            assert result.residual == () and ledger.positions()[("poly", POLY_NO)] == D("10")
            assert POLY_YES not in {i for _, i in ledger.positions()}
