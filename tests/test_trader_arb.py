import logging
import sqlite3
from decimal import Decimal as D

import pytest
from trader_helpers import LedgerClock

from clients.errors import InsufficientBalance, MarketClosed, TransportError
from trader.arb import Policy, execute_arb, launch_arb
from trader.decisions import Decision
from trader.fakes import FakeKalshi, FakePoly, Plan
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity
from trader.recovery import RecoveryPolicy, recover

OPP = Opportunity(
    Leg("kalshi", "KXT-1", "buy", D("10"), D("0.45"), "yes"),
    Leg("poly", "tok-no", "buy", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=False),
    D("0.03"),
)
BALANCE = InsufficientBalance("not enough balance", exchange="poly", status=400)


def created(fake):
    return [args for name, args in fake.calls if name in ("create_order", "build_order")]


async def test_both_sides_fill_is_fully_matched(ledger):
    result = await execute_arb(FakeKalshi(), FakePoly(), OPP, ledger)
    assert (result.kalshi.status, result.poly.status, result.matched) == ("filled", "filled", D("10"))
    assert result.exposure == () and result.unwinds == () and result.alerts == () and not result.uncertain
    assert ledger.positions() == {("kalshi", "KXT-1"): D("10"), ("poly", "tok-no"): D("10")}
    assert {i.arb_id for i in ledger.intents()} == {result.arb_id}


async def test_kalshi_fills_poly_fails_unwinds_kalshi_within_slippage(ledger):
    kalshi, poly = FakeKalshi(), FakePoly([Plan(error=BALANCE)])
    result = await execute_arb(kalshi, poly, OPP, ledger)
    assert (result.kalshi.filled, result.poly.status, result.matched) == (D("10"), "rejected", D("0"))
    assert [(e.leg.exchange, e.leg.action, e.quantity) for e in result.exposure] == [("kalshi", "buy", D("10"))]
    [unwind] = result.unwinds
    assert (unwind.leg.action, unwind.leg.outcome, unwind.leg.count, unwind.leg.price) == (
        "sell",
        "yes",
        D("10"),
        D("0.40"),
    )
    assert unwind.status == "filled" and result.residual == ()
    assert created(kalshi)[1][:5] == ("KXT-1", "yes", "sell", D("10"), D("0.40"))
    assert ledger.positions() == {("kalshi", "KXT-1"): D("0")}
    assert ledger.intent(unwind.key).purpose == "unwind"
    assert ledger.exposures(result.arb_id) == [("kalshi", "KXT-1", "yes", "buy", D("10"), "unwind")]


async def test_kalshi_fails_poly_fills_unwinds_poly(ledger):
    kalshi = FakeKalshi([Plan(error=MarketClosed("market closed", exchange="kalshi", status=400))])
    poly = FakePoly()
    result = await execute_arb(kalshi, poly, OPP, ledger)
    [unwind] = result.unwinds
    assert (unwind.leg.exchange, unwind.leg.action, unwind.leg.price, unwind.filled) == (
        "poly",
        "sell",
        D("0.47"),
        D("10"),
    )
    assert created(poly)[1][:4] == ("tok-no", "SELL", D("0.47"), D("10"))
    assert ledger.positions()[("poly", "tok-no")] == D("0")


async def test_both_partial_unwinds_the_difference_only(ledger):
    result = await execute_arb(FakeKalshi([Plan(fill=D("6"))]), FakePoly([Plan(fill=D("4"))]), OPP, ledger)
    assert (result.kalshi.status, result.poly.status, result.matched) == ("partial", "partial", D("4"))
    assert [(e.leg.exchange, e.quantity) for e in result.exposure] == [("kalshi", D("2"))]
    assert [(u.leg.count, u.filled) for u in result.unwinds] == [(D("2"), D("2"))]
    assert ledger.positions() == {("kalshi", "KXT-1"): D("4"), ("poly", "tok-no"): D("4")}


async def test_partial_unwind_reports_the_residual_exposure(ledger, caplog):
    kalshi = FakeKalshi([Plan(), Plan(fill=D("3"))])
    with caplog.at_level(logging.WARNING, logger="trader"):
        result = await execute_arb(kalshi, FakePoly([Plan(error=BALANCE)]), OPP, ledger)
    assert result.unwinds[0].status == "partial"
    assert [(e.leg.exchange, e.quantity) for e in result.residual] == [("kalshi", D("7"))]
    assert any("exposure left: kalshi KXT-1 yes buy 7" in a for a in result.alerts)
    assert "exposure left" in caplog.text
    assert ledger.positions()[("kalshi", "KXT-1")] == D("7")


async def test_failing_unwind_leaves_the_whole_exposure(ledger):
    kalshi = FakeKalshi([Plan(), Plan(error=MarketClosed("trading halted", exchange="kalshi", status=400))])
    result = await execute_arb(kalshi, FakePoly([Plan(error=BALANCE)]), OPP, ledger)
    assert result.unwinds[0].status == "rejected"
    assert [e.quantity for e in result.residual] == [D("10")]
    assert ledger.positions()[("kalshi", "KXT-1")] == D("10")


async def test_unwind_starts_from_the_average_fill_price(ledger):
    class BetterFill(FakeKalshi):
        async def create_order(self, ticker, outcome, action, count, price, time_in_force, client_order_id=None):
            return await super().create_order(
                ticker, outcome, action, count, D("0.43") if action == "buy" else price, time_in_force, client_order_id
            )

    result = await execute_arb(
        BetterFill(), FakePoly([Plan(error=BALANCE)]), OPP, ledger, Policy(max_unwind_slippage=D("0.02"))
    )
    assert result.unwinds[0].leg.price == D("0.41")


async def test_hold_policy_records_exposure_and_alerts_without_trading(ledger, caplog):
    kalshi = FakeKalshi()
    with caplog.at_level(logging.WARNING, logger="trader"):
        result = await execute_arb(kalshi, FakePoly([Plan(fill=D("0"))]), OPP, ledger, Policy(on_exposure="hold"))
    assert result.poly.status == "none" and result.unwinds == ()
    assert [(e.leg.exchange, e.quantity) for e in result.residual] == [("kalshi", D("10"))]
    assert len(created(kalshi)) == 1
    assert ledger.exposures(result.arb_id) == [("kalshi", "KXT-1", "yes", "buy", D("10"), "hold")]
    assert "exposure left: kalshi KXT-1 yes buy 10 (hold)" in caplog.text


async def test_lost_answer_is_looked_up_once_and_reconciled(ledger):
    kalshi = FakeKalshi([Plan(lose_answer=True)])
    result = await execute_arb(kalshi, FakePoly([Plan(fill=D("4"))]), OPP, ledger)
    assert (result.kalshi.status, result.kalshi.filled, type(result.kalshi.error)) == (
        "filled",
        D("10"),
        TransportError,
    )
    assert result.matched == D("4") and [u.leg.count for u in result.unwinds] == [D("6")]
    assert ledger.intents(open_only=True) == []
    assert ledger.positions()[("kalshi", "KXT-1")] == D("4")


async def test_unknown_leg_blocks_unwind_and_alerts(ledger):
    kalshi = FakeKalshi([Plan(lose_answer=True)], fail_reads=TransportError("still down"))
    result = await execute_arb(kalshi, FakePoly(), OPP, ledger)
    assert result.kalshi.status == "unknown" and result.uncertain
    assert result.unwinds == () and len(created(kalshi)) == 1
    assert [(e.leg.exchange, e.quantity) for e in result.exposure] == [("poly", D("10"))]
    assert any("outcome unknown" in a and "recover" in a for a in result.alerts)
    assert [i.key for i in ledger.intents(open_only=True)] == [result.kalshi.key]


async def test_unknown_resolution_can_be_turned_off(ledger):
    kalshi = FakeKalshi([Plan(lose_answer=True)])
    result = await execute_arb(kalshi, FakePoly(), OPP, ledger, Policy(resolve_unknown=False))
    assert result.kalshi.status == "unknown"
    assert [name for name, _ in kalshi.calls] == ["create_order"]


async def test_poly_lost_answer_not_found_stays_unknown_until_recovery(ledger):
    """Right after a lost answer, "no such order" may only mean the request is still in flight."""

    class Lost(FakePoly):
        async def post_order(self, signed):
            raise TransportError("reset before the exchange saw it")

    poly = Lost()
    result = await execute_arb(FakeKalshi(), poly, OPP, ledger)
    assert result.poly.status == "unknown" and result.uncertain
    assert result.unwinds == ()  # nothing unwound on a guess
    assert any("outcome unknown" in alert for alert in result.alerts)
    assert [i.key for i in ledger.intents(open_only=True)] == [result.poly.key]
    report = await recover(ledger, FakeKalshi(), poly)  # a prompt restart cannot tell either
    assert report.resolved == () and not report.clean


def test_policy_validation():
    with pytest.raises(ValueError, match="'unwind' or 'hold'"):
        Policy(on_exposure="panic")
    with pytest.raises(ValueError, match="max_unwind_slippage"):
        Policy(max_unwind_slippage=0.05)


async def test_without_ledger_arb_still_reconciles():
    result = await execute_arb(FakeKalshi([Plan(fill=D("6"))]), FakePoly([Plan(fill=D("4"))]), OPP, None)
    assert result.matched == D("4") and [u.filled for u in result.unwinds] == [D("2")]


async def test_a_leg_crashing_outside_the_taxonomy_after_it_was_sent_leaves_the_other_reconciled_and_alerted(ledger):
    class Broken(FakePoly):
        async def post_order(self, signed):
            raise RuntimeError("event loop bug while sending")

    poly = Broken()
    result = await execute_arb(FakeKalshi(), poly, OPP, ledger)
    assert result.kalshi.status == "filled" and result.poly.status == "unknown"
    assert isinstance(result.poly.error, RuntimeError)
    assert [(e.leg.exchange, e.quantity) for e in result.exposure] == [("kalshi", D("10"))]
    assert result.unwinds == () and any("outcome unknown" in a for a in result.alerts)
    assert [i.state for i in ledger.intents(open_only=True)] == ["pending"]  # the crashed one, left to recovery


async def test_an_entry_leg_that_cannot_be_built_keeps_the_other_back(ledger):
    """Sent alone, the Kalshi leg would be exposure by construction, unwound at a loss: an arb's legs go together
    or not at all. Nothing was sent, so nothing is recorded but the decision, and no exposure is left."""

    class BadBuild(FakePoly):
        def build_order(self, *args, **kwargs):
            raise ValueError("amount 5.123 above the 2 dp precision")

    kalshi, poly = FakeKalshi(), BadBuild()
    result = await launch_arb(kalshi, poly, OPP, ledger, decisions=[TAKEN])
    assert (result.kalshi.status, result.poly.status, result.matched) == ("rejected", "rejected", D("0"))
    assert "precision" in str(result.poly.error) and "precision" in str(result.kalshi.error)
    assert created(kalshi) == [] and result.exposure == () and result.unwinds == () and not result.uncertain
    assert ledger.intents() == [] and ledger.positions() == {}
    assert [d.kind for d in ledger.decisions()] == ["taken"]


async def test_an_entry_leg_crashing_while_it_is_built_sends_neither(ledger):
    """A bug while signing (outside the error taxonomy) goes up from the launch with nothing sent or recorded, as a
    ledger that cannot commit does: the engine stops rather than guess."""

    class Broken(FakePoly):
        def build_order(self, *args, **kwargs):
            raise RuntimeError("disk full while signing")

    kalshi = FakeKalshi()
    with pytest.raises(RuntimeError, match="disk full"):
        launch_arb(kalshi, Broken(), OPP, ledger, decisions=[TAKEN])
    assert created(kalshi) == [] and ledger.intents() == [] and ledger.decisions() == []


SELL_OPP = Opportunity(
    Leg("kalshi", "KXT-1", "buy", D("11"), D("0.45"), "yes"),
    Leg("poly", "tok-yes", "sell", D("11"), D("0.54"), tick_size=D("0.01"), neg_risk=False),
    D("0.01"),
)
CLOSED = MarketClosed("market closed", exchange="kalshi", status=400)


async def test_overfilling_unwind_leaves_the_reverse_exposure(ledger, caplog):
    """Finding 2: a FAK BUY spends dollars, so a better ask buys more shares than the unwind asked for."""
    poly = FakePoly([Plan(), Plan(fill=D("12.37"))])
    with caplog.at_level(logging.WARNING, logger="trader"):
        result = await execute_arb(FakeKalshi([Plan(error=CLOSED)]), poly, SELL_OPP, ledger)
    [unwind] = result.unwinds
    assert (unwind.leg.action, unwind.leg.count, unwind.filled) == ("buy", D("11"), D("12.37"))
    assert [(e.leg.exchange, e.leg.action, e.quantity) for e in result.residual] == [("poly", "buy", D("1.37"))]
    assert "exposure left: poly tok-yes buy 1.37 (unwind)" in result.alerts
    assert ledger.positions() == {("poly", "tok-yes"): D("1.37")}


async def test_overfilled_entry_is_exposure_on_the_overfilled_leg(ledger):
    result = await execute_arb(FakeKalshi(), FakePoly([Plan(fill=D("10.5"))]), OPP, ledger)
    assert [(e.leg.exchange, e.leg.action, e.quantity) for e in result.exposure] == [("poly", "buy", D("0.5"))]
    assert [(u.leg.action, u.leg.count, u.filled) for u in result.unwinds] == [("sell", D("0.5"), D("0.5"))]
    assert result.residual == () and result.alerts == ()


async def test_recovery_reports_what_an_uncertain_arb_really_left_and_holds_by_default(ledger):
    """The follow-up: an arb left uncertain by a lost answer turns out unhedged once recovery settles it."""
    kalshi = FakeKalshi([Plan(fill=D("4"), lose_answer=True)], fail_reads=TransportError("still down"))
    poly = FakePoly()
    result = await execute_arb(kalshi, poly, OPP, ledger)
    assert result.uncertain and result.unwinds == ()
    kalshi.fail_reads = None
    report = await recover(ledger, kalshi, poly)
    assert ledger.exposures(result.arb_id) == [
        ("poly", "tok-no", None, "buy", D("10"), "unwind"),
        ("poly", "tok-no", None, "buy", D("6"), "hold"),
    ]
    assert [(e.status, e.closed_by) for e in ledger.exposure_records(result.arb_id)] == [
        ("closed", f"recovery: settled {result.kalshi.key}"),
        ("open", None),
    ]
    assert any("exposure left: poly tok-no buy 6 (hold)" in a for a in report.alerts)
    assert len(created(poly)) == 1  # held: nothing traded


async def test_recovery_unwinds_what_an_uncertain_arb_left_under_the_unwind_policy(ledger):
    kalshi = FakeKalshi([Plan(fill=D("4"), lose_answer=True)], fail_reads=TransportError("still down"))
    poly = FakePoly()
    result = await execute_arb(kalshi, poly, OPP, ledger)
    kalshi.fail_reads = None
    report = await recover(ledger, kalshi, poly, policy=Policy())
    [settled] = report.arbs
    assert [(e.leg.exchange, e.quantity) for e in settled.exposure] == [("poly", D("6"))]
    [unwind] = settled.unwinds
    assert (unwind.leg.action, unwind.leg.count, unwind.leg.price, unwind.filled) == ("sell", D("6"), D("0.47"), D("6"))
    assert settled.residual == () and ledger.exposure_records(result.arb_id, open_only=True) == []
    assert ledger.positions() == {("kalshi", "KXT-1"): D("4"), ("poly", "tok-no"): D("4")}


async def test_recovery_closes_the_exposure_of_an_arb_that_was_hedged_after_all(ledger):
    kalshi = FakeKalshi([Plan(lose_answer=True)], fail_reads=TransportError("still down"))
    poly = FakePoly()
    result = await execute_arb(kalshi, poly, OPP, ledger)
    assert [(e.leg.exchange, e.quantity) for e in result.exposure] == [("poly", D("10"))]
    kalshi.fail_reads = None
    report = await recover(ledger, kalshi, poly, policy=Policy())
    assert report.arbs[0].exposure == () and report.alerts == ()
    [record] = ledger.exposure_records(result.arb_id)
    assert (record.status, record.closed_by) == ("closed", f"recovery: settled {result.kalshi.key}")
    assert len(created(poly)) == 1


class Crash(BaseException):
    """The process dies (not an exception the trader handles)."""


TAKEN = Decision("taken", "ali", "edge", "edge 0.03 per contract", "yes", D("10"), D("0.45"), D("0.52"), D("0.03"))


def seen_from_another_connection(path) -> tuple[list[str], list[str]]:
    """What a second process reading the ledger file sees: committed intents' exchanges and decision kinds."""
    with Ledger(path) as other:
        return [i.leg.exchange for i in other.intents()], [d.kind for d in other.decisions()]


async def test_both_intents_and_the_decision_are_committed_before_either_order_is_sent(ledger):
    seen = []

    class Watching(FakeKalshi):
        async def create_order(self, *args, **kwargs):
            seen.append(("kalshi send", seen_from_another_connection(ledger.path)))
            return await super().create_order(*args, **kwargs)

    class WatchingPoly(FakePoly):
        async def post_order(self, signed):
            seen.append(("poly send", seen_from_another_connection(ledger.path)))
            return await super().post_order(signed)

    finish = launch_arb(Watching(), WatchingPoly(), OPP, ledger, decisions=[TAKEN])
    assert seen == []  # launched: both sends are tasks that have not run yet
    result = await finish
    assert seen == [  # each send already finds both intents and the decision on disk
        ("kalshi send", (["kalshi", "poly"], ["taken"])),
        ("poly send", (["kalshi", "poly"], ["taken"])),
    ]
    assert result.matched == D("10") and [d.kind for d in ledger.decisions()] == ["taken"]


async def test_a_crash_between_the_shared_commit_and_the_second_send_leaves_both_intents_to_recovery(tmp_path):
    """Kalshi executes the first order and the process dies before the Polymarket one leaves: after the restart
    both intents are there, recovery books the Kalshi fill, finds no Polymarket order and unwinds the exposure."""
    clock = LedgerClock()

    class DiesAfterSending(FakeKalshi):
        async def create_order(self, *args, **kwargs):
            if kwargs.get("time_in_force") == "immediate_or_cancel" and not self.orders:
                try:
                    return await super().create_order(*args, **kwargs)
                except TransportError:
                    raise Crash("died after the Kalshi order left") from None
            return await super().create_order(*args, **kwargs)

    class DiesBeforeSending(FakePoly):
        async def post_order(self, signed):
            raise Crash("never sent")

    kalshi, poly = DiesAfterSending([Plan(lose_answer=True)]), DiesBeforeSending()
    with Ledger(tmp_path / "bot.sqlite", clock=clock) as ledger, pytest.raises(Crash):
        await execute_arb(kalshi, poly, OPP, ledger)
    with Ledger(tmp_path / "bot.sqlite", clock=clock) as ledger:  # the restart
        assert [(i.leg.exchange, i.state) for i in ledger.intents()] == [("kalshi", "pending"), ("poly", "pending")]
        clock.advance(3600)  # past the not-found window
        report = await recover(ledger, kalshi, FakePoly(), policy=Policy(), settle=RecoveryPolicy(sleep=_no_sleep))
        assert [(r.leg.exchange, r.state, r.filled) for r in report.resolved] == [
            ("kalshi", "filled", D("10")),
            ("poly", "none", D("0")),
        ]
        [settled] = report.arbs
        assert [(e.leg.exchange, e.quantity) for e in settled.exposure] == [("kalshi", D("10"))]
        assert [u.status for u in settled.unwinds] == ["filled"] and settled.residual == ()
        assert ledger.positions() == {("kalshi", "KXT-1"): D("0")}


async def test_a_crash_between_the_shared_commit_and_either_send_is_settled_by_recovery_with_nothing_traded(tmp_path):
    """Both intents durable, neither order left: recovery finds neither order (after the window), books both `none`
    and the arb leaves no exposure and places no unwind."""
    clock = LedgerClock()

    class KalshiDies(FakeKalshi):
        async def create_order(self, *args, **kwargs):
            raise Crash("never sent")

    class PolyDies(FakePoly):
        async def post_order(self, signed):
            raise Crash("never sent")

    with Ledger(tmp_path / "bot.sqlite", clock=clock) as ledger, pytest.raises(Crash):
        await execute_arb(KalshiDies(), PolyDies(), OPP, ledger)
    with Ledger(tmp_path / "bot.sqlite", clock=clock) as ledger:  # the restart
        early = await recover(ledger, FakeKalshi(), FakePoly(), policy=Policy(), settle=RecoveryPolicy(sleep=_no_sleep))
        assert [u.leg.exchange for u in early.unresolved] == ["kalshi", "poly"] and not early.clean  # may be in flight
        clock.advance(3600)
        kalshi, poly = FakeKalshi(), FakePoly()
        report = await recover(ledger, kalshi, poly, policy=Policy(), settle=RecoveryPolicy(sleep=_no_sleep))
        assert [(r.leg.exchange, r.state) for r in report.resolved] == [("kalshi", "none"), ("poly", "none")]
        [settled] = report.arbs
        assert settled.exposure == () and settled.unwinds == () and report.clean
        assert created(kalshi) == [] and created(poly) == [] and ledger.positions() == {}


async def test_a_ledger_that_cannot_commit_sends_nothing(ledger):
    kalshi, poly = FakeKalshi(), FakePoly()
    ledger.close()  # a closed connection: every write raises
    with pytest.raises(sqlite3.ProgrammingError):
        launch_arb(kalshi, poly, OPP, ledger, decisions=[TAKEN])
    assert created(kalshi) == [] and [n for n, _ in poly.calls if n == "post_order"] == []


async def _no_sleep(seconds):
    return None
