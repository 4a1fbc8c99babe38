from dataclasses import replace
from decimal import Decimal as D

import pytest
from trader_helpers import LedgerClock

import trader.recovery as recovery
from clients.errors import RateLimited, TransportError
from clients.polymarket.types import PolyTrade
from trader.execute import execute_leg
from trader.fakes import FakeKalshi, FakePoly, Plan
from trader.ledger import Booking, Fill, Ledger
from trader.legs import Leg
from trader.recovery import PositionDifference, recover

KLEG = Leg("kalshi", "KXT-1", "sell", D("10"), D("0.45"), "yes")
PLEG = Leg("poly", "tok", "buy", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=False)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "ledger.sqlite"


async def test_restart_after_lost_kalshi_answer_books_the_executed_order(path):
    kalshi, poly = FakeKalshi([Plan(fill=D("6"), lose_answer=True)], fee_per_contract=D("0.01")), FakePoly()
    with Ledger(path) as ledger:
        lost = await execute_leg(kalshi, KLEG, ledger)
    assert lost.status == "unknown"
    with Ledger(path) as ledger:  # the bot restarts
        report = await recover(ledger, kalshi, poly)
        [resolved] = report.resolved
        assert (resolved.key, resolved.state, resolved.filled) == (lost.key, "partial", D("6"))
        intent = ledger.intent(lost.key)
        assert (intent.state, intent.filled, intent.order_id) == ("partial", D("6"), kalshi.orders[lost.key].order_id)
        [fill] = ledger.fills(lost.key)
        # Kalshi reports the YES sale as a NO purchase at 0.55; the ledger keeps the leg's terms
        assert (fill.quantity, fill.price, fill.fee, fill.source, fill.external_id) == (
            D("6"),
            D("0.45"),
            D("0.06"),
            "exchange",
            kalshi.fills[0].fill_id,
        )
        assert ledger.positions() == {("kalshi", "KXT-1"): D("-6")}
    assert report.unresolved == () and report.differences == () and report.clean
    assert ("find_order_by_client_order_id", (lost.key, "KXT-1")) in kalshi.calls


async def test_intent_never_sent_is_booked_none(path):
    clock = LedgerClock()
    with Ledger(path, clock=clock) as ledger:
        ledger.record_intent(KLEG, "crashed-before-send")
        ledger.record_intent(PLEG, "0xdead")
        clock.advance(3600)
        report = await recover(ledger, FakeKalshi(), FakePoly(), settle=recovery.RecoveryPolicy(sleep=_no_sleep))
        assert {(r.key, r.state) for r in report.resolved} == {("crashed-before-send", "none"), ("0xdead", "none")}
        assert ledger.intents(open_only=True) == [] and ledger.positions() == {}
    assert report.clean


async def test_poly_lost_answer_is_found_by_order_hash_and_trades(path):
    poly = FakePoly([Plan(fill=D("4"), lose_answer=True)])
    with Ledger(path) as ledger:
        lost = await execute_leg(poly, PLEG, ledger)
        report = await recover(ledger, FakeKalshi(), poly)
        assert [(r.state, r.filled) for r in report.resolved] == [("partial", D("4"))]
        assert [f.external_id for f in ledger.fills(lost.key)] == [poly.trades[0].id]
        assert ledger.positions() == {("poly", "tok"): D("4")}
    assert ("get_order", (lost.key,)) in poly.calls and report.clean


async def test_poly_order_unknown_but_traded_is_booked_from_trades(path):
    poly = FakePoly([Plan(fill=D("10"), lose_answer=True)])
    with Ledger(path) as ledger:
        lost = await execute_leg(poly, PLEG, ledger)
        poly.orders.clear()  # the order endpoint forgot it; the trades remain
        report = await recover(ledger, FakeKalshi(), poly)
        assert [(r.state, r.filled) for r in report.resolved] == [("filled", D("10"))]
        assert ledger.intent(lost.key).avg_price == D("0.52")
    assert report.clean


async def test_failed_trades_do_not_count(path):
    poly = FakePoly([Plan(fill=D("10"), lose_answer=True)])
    with Ledger(path) as ledger:
        await execute_leg(poly, PLEG, ledger)
        poly.orders.clear()
        poly.trades[0] = replace(poly.trades[0], status="FAILED")
        report = await recover(ledger, FakeKalshi(), poly)
        assert [r.state for r in report.resolved] == ["none"] and ledger.positions() == {}


async def test_order_still_open_stays_unresolved(path):
    poly = FakePoly([Plan(fill=D("0"), status="delayed")])
    with Ledger(path) as ledger:
        held = await execute_leg(poly, PLEG, ledger)
        report = await recover(ledger, FakeKalshi(), poly)
        assert [(u.key, u.reason) for u in report.unresolved] == [(held.key, f"order {held.key} is still delayed")]
        assert ledger.intent(held.key).state == "unknown"
    assert not report.clean


async def test_lookup_failure_leaves_the_intent_open_and_continues(path):
    kalshi = FakeKalshi(fail_reads=RateLimited("slow down", exchange="kalshi", status=429))
    clock = LedgerClock()
    with Ledger(path, clock=clock) as ledger:
        ledger.record_intent(KLEG, "k")
        ledger.record_intent(PLEG, "0xp")
        clock.advance(3600)
        report = await recover(ledger, kalshi, FakePoly(), settle=recovery.RecoveryPolicy(sleep=_no_sleep))
        assert [u.key for u in report.unresolved] == ["k"] and "RateLimited" in report.unresolved[0].reason
        assert [r.key for r in report.resolved] == ["0xp"]
        assert [i.key for i in ledger.intents(open_only=True)] == ["k"]
    assert report.compared == ("poly",) and "kalshi positions not compared" in report.notes[0]


async def test_every_position_difference_is_reported(path):
    kalshi = FakeKalshi(extra_positions={"KXOTHER": D("3")})
    poly = FakePoly()
    with Ledger(path) as ledger:
        await execute_leg(kalshi, KLEG, ledger)
        await execute_leg(poly, PLEG, ledger)
        kalshi.fills.clear()  # e.g. settled: gone from the positions endpoint
        poly.trades.append(
            PolyTrade("t-x", "0xelse", "m", "tok", "SELL", D("2.5"), D("0.6"), "CONFIRMED", "0", "TAKER", None, None)
        )
        report = await recover(ledger, kalshi, poly)
    assert report.differences == (
        PositionDifference("kalshi", "KXOTHER", D("0"), D("3")),
        PositionDifference("kalshi", "KXT-1", D("-10"), D("0")),
        PositionDifference("poly", "tok", D("10"), D("7.5")),
    )
    assert [d.delta for d in report.differences] == [D("3"), D("10"), D("-2.5")]
    assert not report.clean


async def test_fill_records_that_do_not_add_up_book_the_order_figures(path):
    kalshi = FakeKalshi([Plan(lose_answer=True)])
    with Ledger(path) as ledger:
        lost = await execute_leg(kalshi, KLEG, ledger)
        kalshi.fills.clear()  # fill records lag behind the order
        report = await recover(ledger, kalshi, FakePoly())
        assert ledger.fills(lost.key) == [Fill(D("10"), D("0.45"), D("0"), "order")]
    assert "fill records add up to 0" in report.resolved[0].note


async def test_maker_trades_are_noted_not_counted(path):
    poly = FakePoly()
    with Ledger(path) as ledger:
        await execute_leg(poly, PLEG, ledger)
        poly.trades.append(
            PolyTrade("t-m", "0xother", "m", "tok", "BUY", D("5"), D("0.5"), "MATCHED", "0", "MAKER", None, None)
        )
        report = await recover(ledger, FakeKalshi(), poly)
    assert report.differences == () and report.notes == ("poly trade t-m on tok: this account was maker, not counted",)


async def test_transport_error_during_position_fetch_is_noted(path):
    poly = FakePoly(fail_reads=TransportError("down"))
    with Ledger(path) as ledger:
        ledger.record_intent(PLEG, "0xp")
        ledger.book("0xp", Booking("none"))
        report = await recover(ledger, FakeKalshi(), poly)
    assert report.compared == ("kalshi",) and report.notes == ("poly positions not compared: TransportError: down",)


async def test_recovered_average_price_comes_from_the_trades(path):
    poly = FakePoly([Plan(fill=D("10"), lose_answer=True)])
    with Ledger(path) as ledger:
        lost = await execute_leg(poly, PLEG, ledger)
        first = poly.trades[0]
        poly.trades[0:1] = [replace(first, size=D("4"), price=D("0.50")), replace(first, id="t-2", size=D("6"))]
        await recover(ledger, FakeKalshi(), poly)
        assert ledger.intent(lost.key).avg_price == D("0.512")
        assert [f.external_id for f in ledger.fills(lost.key)] == [first.id, "t-2"]


async def test_order_still_in_flight_is_not_settled_as_never_placed(path):
    """Finding 1: the exchange had the request when the answer was lost and executes it after the
    restart's first look; a single "not found" this soon must leave the intent open, not book `none`."""
    clock = LedgerClock()
    kalshi = FakeKalshi([Plan(fill=D("6"), execute_late=True)])
    with Ledger(path, clock=clock) as ledger:
        lost = await execute_leg(kalshi, KLEG, ledger)
    assert lost.status == "unknown" and kalshi.orders == {}
    clock.advance(2)
    with Ledger(path, clock=clock) as ledger:  # a prompt restart
        report = await recover(ledger, kalshi, FakePoly())
        assert report.resolved == ()
        assert [u.key for u in report.unresolved] == [lost.key]
        assert ledger.intent(lost.key).state == "unknown" and not report.clean
        kalshi.run_late()  # the exchange executes it now
        clock.advance(120)
        report = await recover(ledger, kalshi, FakePoly())
        assert [(r.key, r.state, r.filled) for r in report.resolved] == [(lost.key, "partial", D("6"))]
        assert ledger.positions() == {("kalshi", "KXT-1"): D("-6")}
    assert report.clean


async def test_in_flight_intent_is_alerted_on(path):
    clock = LedgerClock()
    with Ledger(path, clock=clock) as ledger:
        ledger.record_intent(PLEG, "0xin-flight")
        ledger.mark_unknown("0xin-flight", "TransportError: timed out")
        clock.advance(5)
        report = await recover(ledger, FakeKalshi(), FakePoly())
    [alert] = report.alerts
    assert "0xin-flight" in alert and "not found 5 s after it was sent" in alert


async def test_not_found_after_the_window_needs_two_consistent_reads(path):
    """A lagging read after the window is read again; the order it missed is booked, not `none`."""
    clock = LedgerClock()
    kalshi = FakeKalshi([Plan(fill=D("6"), lose_answer=True)])
    naps = []

    async def nap(seconds):
        naps.append(seconds)

    with Ledger(path, clock=clock) as ledger:
        lost = await execute_leg(kalshi, KLEG, ledger)
        clock.advance(600)
        kalshi.stale_reads = 1
        report = await recover(ledger, kalshi, FakePoly(), settle=recovery.RecoveryPolicy(sleep=nap))
        assert [(r.key, r.state, r.filled) for r in report.resolved] == [(lost.key, "partial", D("6"))]
    assert naps == [recovery.RecoveryPolicy().recheck_delay]


async def test_never_sent_is_booked_none_after_the_window_and_two_reads(path):
    clock = LedgerClock()
    kalshi, poly = FakeKalshi(), FakePoly()
    with Ledger(path, clock=clock) as ledger:
        ledger.record_intent(KLEG, "crashed-before-send")
        clock.advance(recovery.RecoveryPolicy().not_found_window)
        report = await recover(ledger, kalshi, poly, settle=recovery.RecoveryPolicy(sleep=_no_sleep))
        assert [(r.key, r.state) for r in report.resolved] == [("crashed-before-send", "none")]
    assert [n for n, _ in kalshi.calls].count("find_order_by_client_order_id") == 2
    assert report.clean


async def _no_sleep(seconds):
    return None
