"""The engine on in-memory exchanges and hand-fed books: what it takes, what it skips and why, the limits, the kill
switch, and recovery at start. (The same engine against the paper exchanges and their real feeds: tests/test_e2e.py.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal as D

import pytest
from feed_helpers import eventually
from trader_helpers import pair_fields

from clients.errors import AuthError, InsufficientBalance
from clients.feed import Feed
from clients.feed_events import Connected, Disconnected, FillReversed, UserFill
from trader.engine import Engine
from trader.fakes import FakeKalshi, FakePoly, Plan, listed
from trader.ledger import Ledger
from trader.pairs import parse_pairs
from trader.recovery import RecoveryPolicy

YES = "1001"
NO = "1002"
TICKER = "KX-ALI"
PAIRS = "[[pairs]]\n" + pair_fields(
    YES, NO, TICKER, poly_fee_rate="0", poly_min_order_size=1, min_edge="0.01", max_size=10, max_position=30
)
QUICK = RecoveryPolicy(not_found_window=0, recheck_delay=0)
OPEN: list[Ledger] = []


@pytest.fixture(autouse=True)
def close_ledgers():
    """The ledgers stay open for the assertions after the engine stopped; closed after the test."""
    yield
    while OPEN:
        OPEN.pop().close()


class FakeFeed(Feed):
    """A feed with no socket: the test sets its books and announces them as the real feeds do."""

    def __init__(self, exchange: str) -> None:
        super().__init__()
        self.exchange = exchange

    def set_book(self, market: str, bids=(), asks=(), *, stale: bool = False) -> None:
        book = self.local(market)
        book.replace([(D(p), D(s)) for p, s in bids], [(D(p), D(s)) for p, s in asks])
        book.stale = stale
        self.updated(market)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """An engine over fakes, running in the background."""

    def __init__(self, tmp_path, risk: str = "", pairs: str = PAIRS, kalshi_plans=(), poly_plans=(), **engine):
        config = parse_pairs(pairs + (f"\n[risk]\n{risk}\n" if risk else ""))
        self.kalshi = FakeKalshi(list(kalshi_plans))
        self.poly = FakePoly(list(poly_plans), markets=listed(config.pairs))
        self.kfeed, self.pfeed = FakeFeed("kalshi"), FakeFeed("poly")
        self.ledger = Ledger(tmp_path / "bot.sqlite")
        self.clock = Clock()
        self.engine = Engine(
            config,
            self.kalshi,
            self.poly,
            self.kfeed,
            self.pfeed,
            self.ledger,
            settle=QUICK,
            clock=self.clock,
            **engine,
        )
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Rig:
        self.task = asyncio.create_task(self.engine.run())
        await eventually(lambda: self.engine.ready or self.task.done())
        return self

    async def __aexit__(self, *exc) -> None:
        self.engine.stop()
        await asyncio.wait_for(self.task, 5)
        OPEN.append(self.ledger)

    def books(
        self,
        kalshi_bids=(("0.55", "100"),),
        kalshi_asks=(("0.60", "100"),),
        yes=(("0.50", "100"),),
        no=(("0.45", "100"),),
        stale=False,
    ) -> None:
        """Default: Kalshi NO at 1 - 0.55 = 0.45 plus Polymarket YES at 0.50 costs 0.95 plus the Kalshi fee
        (at most 0.02 a contract and 0.01 an order, trader.detect): an edge of about 0.03 on the NO box; the YES box
        costs 1.05."""
        self.pfeed.set_book(YES, asks=yes)
        self.pfeed.set_book(NO, asks=no)
        self.kfeed.set_book(TICKER, kalshi_bids, kalshi_asks, stale=stale)

    def kinds(self) -> list[tuple[str, str]]:
        return [(d.kind, d.reason) for d in self.ledger.decisions() if d.kind != "recovery"]

    def orders(self) -> list[tuple]:
        return [c for c in self.kalshi.calls + self.poly.calls if c[0] in ("create_order", "build_order")]


async def test_an_arb_in_the_books_is_taken_with_both_legs_and_recorded(tmp_path):
    async with Rig(tmp_path) as rig:
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    taken, result = [d for d in rig.ledger.decisions() if d.kind in ("taken", "result")]
    assert (taken.pair, taken.outcome, taken.count, taken.kalshi_price, taken.poly_price) == (
        "ali",
        "no",
        D(10),
        D("0.45"),
        D("0.50"),
    )
    # 10 x (1 - 0.45 - 0.50) = 0.50, less the Kalshi fee (1,000 pieces x 0.0002 = 0.20, + 0.01): 0.29
    assert taken.edge == D("0.029")
    assert "sized down from 100 to the pair's max_size 10" in taken.detail
    assert result.arb_id is not None and "matched 10" in result.detail
    assert taken.arb_id == result.arb_id  # the decision names the arb its intents were recorded under
    assert {i.arb_id for i in rig.ledger.arb_intents(result.arb_id)} == {result.arb_id}
    # the Kalshi NO leg at its worst level, the Polymarket YES leg spending exactly its walk (10 x 0.50)
    (kalshi_order, poly_order) = rig.orders()
    assert kalshi_order[1][:5] == (TICKER, "no", "buy", D(10), D("0.45"))
    assert poly_order[1][:4] == (YES, "BUY", D("0.50"), D("10"))
    assert rig.ledger.positions() == {("kalshi", TICKER): D(-10), ("poly", YES): D(10)}
    assert rig.kalshi.presigned >= 2  # a Kalshi order signature made ahead at start, and again after the arb


async def test_a_dry_run_logs_what_it_would_take_once_and_sends_nothing(tmp_path):
    async with Rig(tmp_path, dry_run=True) as rig:
        rig.books()
        rig.books()  # the same opportunity again: not a new decision
        await eventually(lambda: ("would_take", "dry_run") in rig.kinds())
        await asyncio.sleep(0.01)
    assert rig.kinds() == [("would_take", "dry_run")]
    assert rig.orders() == [] and rig.kalshi.presigned == 0


async def test_no_trade_on_a_stale_or_crossed_book_and_nothing_decided_on_an_untrusted_one(tmp_path):
    async with Rig(tmp_path) as rig:
        rig.books(stale=True)
        await eventually(lambda: ("skipped", "stale") in rig.kinds())
        rig.books(kalshi_bids=(("0.61", "100"),))  # bid above the 0.60 ask
        await eventually(lambda: ("skipped", "crossed") in rig.kinds())
        rig.kfeed.invalidate([TICKER], "seq gap")
        await asyncio.sleep(0.01)
        assert rig.engine.status["ali"].problem.startswith("kalshi: no trusted book")
        assert rig.orders() == []
        rig.books()  # fresh and sane again: trading resumes
        await eventually(lambda: ("result", "matched") in rig.kinds())
    # the three books of the last change are three updates: the two after the first meet the arb in flight
    assert [k for k in rig.kinds() if k != ("skipped", "in_flight")] == [
        ("skipped", "stale"),
        ("skipped", "crossed"),
        ("taken", "edge"),
        ("result", "matched"),
    ]


async def test_a_skip_is_shown_at_once_and_recorded_when_the_loop_turn_ends(tmp_path):
    """Skips wait for no fsync: recorded at the end of the loop turn (or with the next decision recorded, before
    it), in the order they were made."""
    async with Rig(tmp_path) as rig:
        rig.books(stale=True)
        (pair,) = rig.engine.pairs
        rig.engine.evaluate(pair)  # the consumers have not run yet: this evaluation decides
        assert rig.engine.status["ali"].last.reason == "stale"
        assert rig.kinds() == []
        await asyncio.sleep(0)  # the turn ends
        assert rig.kinds() == [("skipped", "stale")]
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    assert [k for k in rig.kinds() if k != ("skipped", "in_flight")] == [
        ("skipped", "stale"),
        ("taken", "edge"),
        ("result", "matched"),
    ]


async def test_an_arbs_orders_start_before_the_updates_queued_behind_it_are_evaluated(tmp_path):
    timeline = []

    class Recording(FakeKalshi):
        async def create_order(self, *args, **kwargs):
            timeline.append("kalshi order")
            return await super().create_order(*args, **kwargs)

    rig = Rig(tmp_path)
    rig.kalshi = rig.engine.kalshi = Recording()
    evaluate = rig.engine.evaluate

    def recorded(pair):
        timeline.append("evaluate")
        evaluate(pair)

    rig.engine.evaluate = recorded
    async with rig:
        rig.books()  # the arb is taken on the first of these three updates the engine evaluates
        for _ in range(4):  # four more queued behind them, before the engine runs
            rig.pfeed.set_book(YES, asks=(("0.50", "100"),))
        await eventually(lambda: ("result", "matched") in rig.kinds())
    assert timeline.count("evaluate") >= 7
    # the taking update and at most the other feed's one before the Kalshi order: not the queue behind them
    assert timeline.index("kalshi order") <= 2, timeline


async def test_no_second_arb_on_books_that_do_not_yet_show_the_first_arbs_fills(tmp_path):
    """The first arb takes 10 Kalshi NO at 0.45 and 10 Polymarket YES at 0.50; the fakes answer, but the feeds'
    books still show the levels it consumed. An update of the pair's other book (the Polymarket NO token) finds the
    same arb there: skipped (once), not taken again. A Kalshi update alone is not enough; once the YES book too has
    shown an update received after the arb's answers, the pair trades again."""
    async with Rig(tmp_path) as rig:
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
        rig.pfeed.set_book(NO, asks=(("0.45", "100"),))  # not a leg's book: the consumed levels still show
        await eventually(lambda: ("skipped", "awaiting_book") in rig.kinds() or len(rig.orders()) > 2)
        assert len(rig.orders()) == 2, rig.kinds()
        rig.pfeed.set_book(NO, asks=(("0.46", "100"),))  # evaluated again during the same wait: not recorded again
        rig.kfeed.set_book(TICKER, (("0.55", "90"),), (("0.60", "100"),))  # the Kalshi book caught up
        await eventually(lambda: rig.engine.status["ali"].kalshi.bids[0].size == D(90))
        assert len(rig.orders()) == 2
        rig.pfeed.set_book(YES, asks=(("0.50", "90"),))  # and the Polymarket YES book
        await eventually(lambda: rig.kinds().count(("result", "matched")) == 2)
    assert [k for k in rig.kinds() if k != ("skipped", "in_flight")] == [
        ("taken", "edge"),
        ("result", "matched"),
        ("skipped", "awaiting_book"),
        ("taken", "edge"),
        ("result", "matched"),
    ]
    _, first, skip, _, second = [d for d in rig.ledger.decisions() if d.kind != "recovery" and d.reason != "in_flight"]
    assert skip.detail.startswith(
        f"awaiting an update of the kalshi {TICKER} book and the poly {YES} book after arb {first.arb_id}'s orders"
    )
    assert first.arb_id != second.arb_id and len(rig.orders()) == 4


class GatedKalshi(FakeKalshi):
    """Orders wait for `gate`: an arb stays in flight until the test opens it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()

    async def create_order(self, *args, **kwargs):
        await self.gate.wait()
        return await super().create_order(*args, **kwargs)


async def test_updates_during_an_arb_do_not_count_and_a_book_that_never_catches_up_is_said_once(tmp_path):
    """Updates the feeds applied while the arb was in flight came before its answers: they cannot show its fills.
    With no update after them within rebook_timeout_s the pair stays blocked, and one row says why; what the
    other books show meanwhile adds no row. Fresh updates of both legs' books end the wait."""
    async with Rig(tmp_path, risk="rebook_timeout_s = 0.05") as rig:
        rig.engine.kalshi = rig.kalshi = GatedKalshi()
        rig.books()
        await eventually(lambda: ("taken", "edge") in rig.kinds())
        rig.books()  # all three books update while the orders are out
        await eventually(lambda: ("skipped", "in_flight") in rig.kinds())
        rig.kalshi.gate.set()
        await eventually(lambda: ("skipped", "awaiting_book") in rig.kinds())
        (late,) = [d for d in rig.ledger.decisions() if d.reason == "awaiting_book"]
        (result,) = [d for d in rig.ledger.decisions() if d.kind == "result"]
        assert late.detail == (
            f"no update of the kalshi {TICKER} book and the poly {YES} book within rebook_timeout_s 0.05 s of "
            f"arb {result.arb_id}'s answers: the pair stays blocked until one arrives"
        )
        rig.pfeed.set_book(NO, asks=(("0.44", "100"),))
        await eventually(lambda: rig.engine.status["ali"].poly[NO].asks[0].price == D("0.44"))
        assert len(rig.orders()) == 2 and rig.kinds().count(("skipped", "awaiting_book")) == 1
        rig.books(kalshi_bids=(("0.56", "100"),))
        await eventually(lambda: rig.kinds().count(("result", "matched")) == 2)
    assert rig.kinds().count(("skipped", "awaiting_book")) == 1


async def test_an_arb_cut_off_by_a_crash_records_no_wait_after_the_engine_stopped(tmp_path):
    rig = Rig(tmp_path, risk="rebook_timeout_s = 0.01")
    rig.engine.kalshi = rig.kalshi = GatedKalshi()
    async with rig:
        rig.books()
        await eventually(lambda: ("taken", "edge") in rig.kinds())
        rig.task.cancel()  # as a crash: the arb's task is cancelled too, and its wait starts as it ends
        with pytest.raises(asyncio.CancelledError):
            await rig.task
        rig.task = asyncio.create_task(asyncio.sleep(0))  # for __aexit__
        await asyncio.sleep(0.05)  # five timeouts
    assert ("skipped", "awaiting_book") not in rig.kinds() and not rig.engine.ready


async def test_one_arb_in_flight_per_pair(tmp_path):
    async with Rig(tmp_path) as rig:
        rig.engine.kalshi = rig.kalshi = GatedKalshi()
        rig.books()
        await eventually(lambda: ("taken", "edge") in rig.kinds())
        rig.books(kalshi_bids=(("0.56", "100"),))  # a better opportunity while the first is in flight
        await eventually(lambda: ("skipped", "in_flight") in rig.kinds())
        rig.kalshi.gate.set()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    assert len([c for c in rig.kalshi.calls if c[0] == "create_order"]) == 1


async def test_insufficient_balance_trips_the_kill_switch_and_says_why(tmp_path):
    refused = InsufficientBalance("not enough balance", exchange="poly", status=400)
    rig = Rig(tmp_path, poly_plans=[Plan(error=refused)])
    async with rig:
        rig.books()
        reason = await asyncio.wait_for(rig.task, 5)
        rig.books(kalshi_bids=(("0.57", "100"),))  # after the kill: nothing more is looked at
    assert reason == f"InsufficientBalance: {refused}"
    assert rig.kinds()[-2:] == [("result", "exposure"), ("kill", "killed")]
    assert rig.ledger.decisions()[-1].detail == reason
    # the Kalshi leg filled and was unwound under the default policy: create, then the unwind's sell
    assert [c[1][2] for c in rig.kalshi.calls if c[0] == "create_order"] == ["buy", "sell"]


async def test_consecutive_failures_trip_the_kill_switch(tmp_path):
    nothing = [Plan(fill=D(0)), Plan(fill=D(0))]
    rig = Rig(tmp_path, risk="max_failures = 2\ncooldown_s = 0", kalshi_plans=nothing, poly_plans=[Plan(fill=D(0))] * 2)
    async with rig:
        rig.books()
        await eventually(lambda: ("result", "none") in rig.kinds())
        rig.books(kalshi_bids=(("0.56", "100"),))
        reason = await asyncio.wait_for(rig.task, 5)
    assert reason == "2 consecutive failed arbs"


async def test_exposure_starts_a_cooldown_on_the_pair(tmp_path):
    """Polymarket fills 4 of 10: exposure 6 on Kalshi, unwound; the pair waits `cooldown_s` on the engine's
    clock before it trades again."""
    rig = Rig(tmp_path, risk="cooldown_s = 30", poly_plans=[Plan(fill=D(4))])
    async with rig:
        rig.books()
        await eventually(lambda: ("result", "exposure") in rig.kinds())
        rig.books(kalshi_bids=(("0.56", "100"),))
        await eventually(lambda: ("skipped", "cooldown") in rig.kinds())
        rig.clock.now += 31
        rig.books(kalshi_bids=(("0.57", "100"),))
        await eventually(lambda: rig.kinds().count(("taken", "edge")) == 2)
        await eventually(lambda: rig.kinds()[-1][0] == "result")


async def test_the_position_limit_sizes_an_arb_down_and_then_stops_it(tmp_path):
    """max_position 30, max_size 10: three arbs of 10, then no room."""
    async with Rig(tmp_path, risk="cooldown_s = 0\nmax_exposure_usd = 100") as rig:
        for done, bid in enumerate(("0.55", "0.56", "0.57", "0.58")):
            rig.books(kalshi_bids=((bid, "100"),))
            await eventually(
                lambda n=done: len([k for k in rig.kinds() if k[0] == "result" or k[1] == "position_limit"]) > n
            )
    assert rig.kinds().count(("result", "matched")) == 3
    assert rig.kinds()[-1] == ("skipped", "position_limit")
    assert rig.ledger.decisions()[-1].detail == "no room: 0 contracts within the position limit"
    assert rig.ledger.positions()[("kalshi", TICKER)] == D(-30)


async def test_the_exposure_limit_sizes_the_next_arb_to_what_a_contract_can_lose(tmp_path):
    """max_exposure_usd 6: an arb is at most 6 contracts ($1 each at worst)."""
    async with Rig(tmp_path, risk="max_exposure_usd = 6") as rig:
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    taken = next(d for d in rig.ledger.decisions() if d.kind == "taken")
    assert taken.count == D(6) and "sized down from 10 to 6 (exposure limit)" in taken.detail


async def test_held_exposure_counts_against_the_exposure_limit(tmp_path):
    """Policy hold, Polymarket fills nothing: the first arb (1 contract, the $1.50 limit's room) leaves 1 Kalshi NO
    open at 0.45; $1.05 of room is 1 more contract (NO at 0.44); then $0.61 is none."""
    risk = 'on_exposure = "hold"\nmax_exposure_usd = "1.50"\ncooldown_s = 0\nmax_failures = 5'
    rig = Rig(tmp_path, risk=risk, poly_plans=[Plan(fill=D(0))] * 2)
    async with rig:
        for done, bid in enumerate(("0.55", "0.56", "0.57")):
            rig.books(kalshi_bids=((bid, "100"),))
            await eventually(
                lambda n=done: len([k for k in rig.kinds() if k[0] == "result" or k[1] == "exposure_limit"]) > n
            )
    assert [d.count for d in rig.ledger.decisions() if d.kind == "taken"] == [D(1), D(1)]
    assert rig.kinds()[-1] == ("skipped", "exposure_limit")
    # 0.45 + 0.44 (the second arb's NO at 1 - 0.56)
    assert rig.engine.risk.open_exposure_usd == D("0.89")


async def test_the_daily_loss_limit_trips_the_kill_switch(tmp_path):
    """Hold the 10 Kalshi NO (worth nothing in the worst case). The arb may lose 5.00 (the Polymarket leg, the
    dearer, if the other fills nothing), within the $5 limit, so it is taken; but the exchange charges 0.06 a
    contract, more than the estimate: the day is down 4.50 + 0.60, past $5, and the kill switch trips."""
    rig = Rig(tmp_path, risk='on_exposure = "hold"\ndaily_loss_usd = 5\nmax_failures = 5', poly_plans=[Plan(fill=D(0))])
    rig.kalshi.fee_per_contract = D("0.06")
    async with rig:
        rig.books()
        reason = await asyncio.wait_for(rig.task, 5)
    assert reason.startswith("daily loss limit: -5.10")


@pytest.mark.parametrize(("limit", "taken"), [("5", True), ("4.99", False)])
async def test_an_arb_that_could_breach_the_daily_loss_limit_is_skipped_before_it_is_sent(tmp_path, limit, taken):
    """10 NO at 0.45 (4.50 + fee 0.21) and 10 YES at 0.50 (5.00, no fee): if one leg fills and the other does not,
    the day loses up to 5.00. Within a $5 limit it is taken; within $4.99 it is skipped, and nothing is sent."""
    async with Rig(tmp_path, risk=f"daily_loss_usd = {limit}") as rig:
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds() or ("skipped", "daily_loss") in rig.kinds())
    if taken:
        assert ("taken", "edge") in rig.kinds() and ("skipped", "daily_loss") not in rig.kinds()
        return
    assert rig.kinds() == [("skipped", "daily_loss")]
    (skip,) = [d for d in rig.ledger.decisions() if d.kind == "skipped"]
    assert skip.detail == "daily loss limit: this arb may lose $5.00, $4.99 left of $4.99 today"
    assert rig.orders() == []


async def test_arbs_in_flight_count_against_the_daily_loss_room(tmp_path):
    """$9 a day: the first arb may lose 5.00; while it is in flight a second one (the same 5.00) does not fit in
    the 4.00 left."""
    rig = await second_pair_behind_an_arb_in_flight(tmp_path, "daily_loss_usd = 9", "daily_loss")
    skip = next(d for d in rig.ledger.decisions() if d.reason == "daily_loss")
    assert (skip.pair, skip.detail) == ("bob", "daily loss limit: this arb may lose $5.00, $4.00 left of $9 today")


async def second_pair_behind_an_arb_in_flight(tmp_path, risk: str, skipped: str) -> Rig:
    """Pair ali's arb is held in flight while pair bob's books open the same arb, until bob is skipped with the
    reason `skipped`; then ali's arb completes."""
    bob = pair_fields("2001", "2002", "KX-BOB", "0x" + "cd" * 32, name="bob", poly_fee_rate="0", poly_min_order_size=1)
    pairs = PAIRS + "\n[[pairs]]\n" + bob + 'min_edge = "0.01"\nmax_size = 10\nmax_position = 30\n'
    async with Rig(tmp_path, risk=risk, pairs=pairs) as rig:
        rig.engine.kalshi = rig.kalshi = GatedKalshi()
        rig.books()
        await eventually(lambda: ("taken", "edge") in rig.kinds())
        rig.pfeed.set_book("2001", asks=(("0.50", "100"),))
        rig.pfeed.set_book("2002", asks=(("0.45", "100"),))
        rig.kfeed.set_book("KX-BOB", (("0.55", "100"),), (("0.60", "100"),))
        await eventually(lambda: ("skipped", skipped) in rig.kinds())
        rig.kalshi.gate.set()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    return rig


async def test_no_arb_starts_once_the_engine_is_stopping(tmp_path):
    """stop() waits for ali's arb in flight; bob's books opening an arb meanwhile start none, and the status says
    why."""
    from trader.engine import STOPPING

    bob = pair_fields("2001", "2002", "KX-BOB", "0x" + "cd" * 32, name="bob", poly_fee_rate="0", poly_min_order_size=1)
    pairs = PAIRS + "\n[[pairs]]\n" + bob + 'min_edge = "0.01"\nmax_size = 10\nmax_position = 30\n'
    async with Rig(tmp_path, pairs=pairs) as rig:
        rig.engine.kalshi = rig.kalshi = GatedKalshi()
        rig.books()
        await eventually(lambda: ("taken", "edge") in rig.kinds())
        rig.engine.stop()
        rig.pfeed.set_book("2001", asks=(("0.50", "100"),))
        rig.pfeed.set_book("2002", asks=(("0.45", "100"),))
        rig.kfeed.set_book("KX-BOB", (("0.55", "100"),), (("0.60", "100"),))
        await eventually(lambda: rig.engine.status["bob"].problem == STOPPING)
        assert not rig.task.done()  # still waiting for ali's arb
        rig.kalshi.gate.set()
        await asyncio.wait_for(rig.task, 5)
    assert [d.pair for d in rig.ledger.decisions() if d.kind == "taken"] == ["ali"]
    assert ("result", "matched") in rig.kinds() and len(rig.orders()) == 2


async def test_start_recovers_the_last_runs_open_intent_before_trading(tmp_path):
    """The last run sent the Kalshi leg (it filled) and died before booking it; the engine settles it first,
    then the difference is gone and trading starts."""
    rig = Rig(tmp_path)
    from trader.legs import Leg

    leg = Leg("kalshi", TICKER, "buy", D(3), D("0.45"), "no")
    rig.ledger.record_intent(leg, "k-key", arb_id="old")
    await rig.kalshi.create_order(TICKER, "no", "buy", D(3), D("0.45"), client_order_id="k-key")
    async with rig:
        assert rig.engine.ready
    first = rig.ledger.decisions()[0]
    assert (first.kind, first.reason) == ("recovery", "clean")
    assert "1 settled" in first.detail
    assert rig.ledger.intent("k-key").state == "filled"


async def test_positions_that_differ_from_the_exchange_stop_the_engine_before_it_trades(tmp_path):
    rig = Rig(tmp_path)
    rig.kalshi.extra_positions[TICKER] = D(5)
    async with rig:
        reason = await asyncio.wait_for(rig.task, 5)
    assert reason == f"positions differ from the exchanges: kalshi {TICKER}: ledger 0, exchange 5"
    assert rig.kinds() == [("kill", "killed")]


async def test_a_reversed_fill_reconciles_with_the_exchange(tmp_path):
    async with Rig(tmp_path) as rig:
        fill = UserFill("poly", "t-1", "o", YES, "BUY", "Yes", D("0.5"), D(1), None, True, "MATCHED")
        rig.pfeed.emit(fill)
        rig.pfeed.emit(FillReversed("poly", fill))
        await eventually(lambda: any("reversed" in d.detail for d in rig.ledger.decisions()))
    assert (rig.engine.fills_seen, rig.engine.fills_reversed) == (1, 1)


@pytest.mark.parametrize("stale", [True])
async def test_status_follows_the_books(tmp_path, stale):
    async with Rig(tmp_path, dry_run=True) as rig:
        rig.books(stale=stale)
        await eventually(lambda: rig.engine.status["ali"].edges)
    status = rig.engine.status["ali"]
    assert status.problem == "book stale (feed silent)"
    # NO box at the top: 1 - 0.45 - 0.50 - 0.03 (0.02 + 0.01) = 0.02; YES box: 1 - 0.60 - 0.45 - 0.03 = -0.08
    assert status.edges == {"yes": D("-0.08"), "no": D("0.02")}


async def test_the_status_view_shows_books_edges_arbs_and_the_kill_switch(tmp_path):
    from trader.status import render

    refused = InsufficientBalance("not enough balance", exchange="poly", status=400)
    rig = Rig(tmp_path, poly_plans=[Plan(error=refused)])
    async with rig:
        rig.books()
        await asyncio.wait_for(rig.task, 5)
    view = render(rig.engine)
    head, _, columns, row, *rest = view.splitlines()
    assert head.startswith("tradetape trader run: starting | pairs 1 | arbs 1 | open exposure $0.00")
    assert columns.split()[:3] == ["pair", "kalshi", "bid/ask"]
    # the pair, Kalshi 0.55/0.6, both Polymarket asks, the two top-of-book edges, one arb, the last decision
    assert row.split()[:7] == ["ali", "0.55/0.6", "0.5", "0.45", "-0.0800", "+0.0200", "1"]
    assert "result exposure" in row
    assert rest[-1] == f"KILL SWITCH: InsufficientBalance: {refused}"


async def test_arbs_in_flight_on_other_pairs_count_against_the_exposure_limit(tmp_path):
    """max_exposure_usd 10, two pairs: while pair ali has 10 contracts in flight (each can be left unhedged, $1 at
    worst), pair bob has no room left; once ali's arb is matched, bob trades."""
    rig = await second_pair_behind_an_arb_in_flight(tmp_path, "max_exposure_usd = 10", "exposure_limit")
    taken = [d for d in rig.ledger.decisions() if d.kind == "taken"]
    assert [(d.pair, d.count) for d in taken] == [("ali", D(10))]


async def test_a_permanent_error_on_the_unwind_trips_the_kill_switch(tmp_path):
    """Polymarket fills 4 of 10; unwinding the 6 Kalshi contracts is refused for good (credentials revoked): no
    retry can fix that, so the engine stops, as it does when an entry leg meets it."""
    refused = AuthError("key revoked", exchange="kalshi", status=401)
    rig = Rig(tmp_path, kalshi_plans=[Plan(), Plan(error=refused)], poly_plans=[Plan(fill=D(4))])
    async with rig:
        rig.books()
        reason = await asyncio.wait_for(rig.task, 5)
    assert reason == f"AuthError: {refused}"
    assert rig.kinds()[-2:] == [("result", "exposure"), ("kill", "killed")]


async def left_uncertain(rig: Rig) -> None:
    """An arb on the default books whose Polymarket leg never answers (planned `execute_late`): uncertain."""
    rig.books()
    await eventually(lambda: ("result", "uncertain") in rig.kinds())


async def test_a_permanent_error_on_a_reconciliation_unwind_trips_the_kill_switch(tmp_path):
    """The Polymarket leg never answers (the arb is left uncertain, nothing unwound). The user channel drops and
    comes back: the reconciliation finds the Polymarket order never executed and unwinds the 10 Kalshi NO, and
    that unwind is refused for good: the engine stops, as it does when an entry or an arb's own unwind meets it."""
    refused = AuthError("key revoked", exchange="kalshi", status=401)
    rig = Rig(tmp_path, poly_plans=[Plan(execute_late=True)])
    async with rig:
        await left_uncertain(rig)
        rig.kalshi.plans.append(Plan(error=refused))
        rig.pfeed.emit(Disconnected("poly", "user", "dropped"))
        rig.pfeed.emit(Connected("poly", "user", 1))
        reason = await asyncio.wait_for(rig.task, 5)
    assert reason == f"AuthError: {refused} (an unwind placed by recovery)"
    unwinds = [c for c in rig.kalshi.calls if c[0] == "create_order" and c[1][2] == "sell"]
    assert len(unwinds) == 1
    assert rig.kinds()[-1] == ("kill", "killed")


async def test_a_permanent_error_on_a_recovery_unwind_at_start_stops_the_engine_before_it_trades(tmp_path):
    """The same, found by the next run's recovery at start: it never starts trading."""
    refused = InsufficientBalance("not enough balance", exchange="kalshi", status=400)
    first = Rig(tmp_path, poly_plans=[Plan(execute_late=True)])
    async with first:
        await left_uncertain(first)
    first.kalshi.plans.append(Plan(error=refused))
    second = Rig(tmp_path)
    second.engine.kalshi, second.engine.poly = second.kalshi, second.poly = first.kalshi, first.poly
    async with second:
        reason = await asyncio.wait_for(second.task, 5)
    assert reason == f"InsufficientBalance: {refused} (an unwind placed by recovery)"
    assert not second.engine.ready and second.kinds()[-1] == ("kill", "killed")


class SlowPositionsKalshi(FakeKalshi):
    """get_positions waits for `gate` once armed: a reconciliation stays running until the test opens it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.armed = False

    async def get_positions(self):
        if self.armed:
            await self.gate.wait()
        return await super().get_positions()


async def test_no_arb_is_taken_while_a_reconciliation_runs(tmp_path):
    async with Rig(tmp_path) as rig:
        rig.engine.kalshi = rig.kalshi = SlowPositionsKalshi()
        rig.kalshi.armed = True
        fill = UserFill("poly", "t-1", "o", YES, "BUY", "Yes", D("0.5"), D(1), None, True, "MATCHED")
        rig.pfeed.emit(FillReversed("poly", fill))
        await eventually(lambda: rig.engine.reconciling)
        rig.books()
        await eventually(lambda: ("skipped", "reconciling") in rig.kinds())
        assert rig.orders() == []
        rig.kalshi.gate.set()  # reconciled: the pairs are re-priced and the arb still on the books is taken
        await eventually(lambda: ("result", "matched") in rig.kinds())


async def test_an_arb_right_behind_a_reversed_fill_waits_for_the_reconciliation(tmp_path):
    """The book update is already queued behind the FillReversed: the engine must not take it before the
    reconciliation the reversal asked for has even started."""
    async with Rig(tmp_path) as rig:
        rig.engine.kalshi = rig.kalshi = SlowPositionsKalshi()
        rig.kalshi.armed = True
        fill = UserFill("poly", "t-1", "o", YES, "BUY", "Yes", D("0.5"), D(1), None, True, "MATCHED")
        rig.pfeed.emit(FillReversed("poly", fill))
        rig.books()
        await eventually(lambda: ("skipped", "reconciling") in rig.kinds() or rig.orders())
        assert rig.orders() == []
        rig.kalshi.gate.set()
        await eventually(lambda: ("result", "matched") in rig.kinds())


@pytest.mark.parametrize("books_since", [True, False])
async def test_an_unwind_a_reconciliation_places_makes_its_pair_wait_for_that_book(tmp_path, books_since):
    """The arb's Polymarket leg never answers; then (`books_since`) every book updates, with no arb in them, or
    none does. The user channel drops and comes back; while the reconciliation runs the Kalshi book shows the arb
    again: skipped. The reconciliation unwinds the 10 Kalshi NO into the Kalshi book: the re-pricing after it skips
    the arb until that book updates again, and, if it has not since the arb, the Polymarket YES book too."""
    rig = Rig(tmp_path, risk="cooldown_s = 0", poly_plans=[Plan(execute_late=True)])
    rig.engine.kalshi = rig.kalshi = SlowPositionsKalshi()
    async with rig:
        await left_uncertain(rig)
        if books_since:
            rig.books(kalshi_bids=(("0.40", "100"),))
            await eventually(lambda: rig.engine.status["ali"].kalshi.bids[0].price == D("0.40"))
        rig.kalshi.armed = True
        rig.pfeed.emit(Disconnected("poly", "user", "dropped"))
        rig.pfeed.emit(Connected("poly", "user", 1))
        await eventually(lambda: rig.engine.reconciling)
        rig.kfeed.set_book(TICKER, (("0.55", "100"),), (("0.60", "100"),))
        await eventually(lambda: ("skipped", "reconciling") in rig.kinds())
        rig.kalshi.gate.set()
        await eventually(
            lambda: ("skipped", "awaiting_book") in rig.kinds() or rig.kinds().count(("taken", "edge")) > 1
        )
        (wait,) = [d for d in rig.ledger.decisions() if d.reason == "awaiting_book"]
        books = f"the kalshi {TICKER} book" + ("" if books_since else f" and the poly {YES} book")
        assert wait.detail.startswith(f"awaiting an update of {books} after arb ")
        assert rig.kinds().count(("taken", "edge")) == 1
        rig.kfeed.set_book(TICKER, (("0.55", "100"),), (("0.60", "100"),))
        if not books_since:
            await eventually(rig.kfeed.events.empty)  # the update evaluated (taken at once, if it were)
            assert rig.kinds().count(("taken", "edge")) == 1
            rig.pfeed.set_book(YES, asks=(("0.50", "100"),))
        await eventually(lambda: rig.kinds().count(("result", "matched")) == 1)
    # the arb's buy, the reconciliation's unwind, the next arb's buy
    assert [c[1][2] for c in rig.kalshi.calls if c[0] == "create_order"] == ["buy", "sell", "buy"]


async def test_a_dry_run_sends_nothing_even_for_exposure_the_last_run_left(tmp_path):
    """The last run's Polymarket leg never answered (the arb was left uncertain, nothing unwound); at the next
    start recovery finds it never executed, so 10 Kalshi NO are unhedged. A dry run reports that and sends
    nothing: the unwind is the real run's to place."""
    first = Rig(tmp_path, poly_plans=[Plan(execute_late=True)])
    async with first:
        first.books()
        await eventually(lambda: ("result", "uncertain") in first.kinds())
    sent = len(first.orders())
    dry = Rig(tmp_path, dry_run=True)
    dry.engine.kalshi, dry.engine.poly = dry.kalshi, dry.poly = first.kalshi, first.poly
    async with dry:
        assert dry.engine.ready or dry.task.done()
    assert len(dry.orders()) == sent


async def test_a_ledger_that_cannot_commit_stops_the_engine_with_nothing_sent(tmp_path):
    """The launch cannot commit the arb's intents: nothing is sent and the kill switch stops the engine, though the
    kill decision itself cannot be recorded either (it is logged)."""
    async with Rig(tmp_path) as rig:
        failing = sqlite3.OperationalError("disk I/O error")

        def cannot_write(*args, **kwargs):
            raise failing

        rig.ledger.record_intents = cannot_write
        rig.ledger.record_decisions = cannot_write
        rig.books()
        await asyncio.wait_for(asyncio.shield(rig.task), 5)
        assert rig.task.result() == "arb on ali raised OperationalError: disk I/O error"
        assert not rig.engine.ready
    assert [n for n, _ in rig.kalshi.calls + rig.poly.calls if n in ("create_order", "post_order")] == []


async def test_the_daily_loss_room_starts_afresh_when_the_utc_day_changes(tmp_path):
    """Today's arbs left 10 Kalshi NO held (bought for 4.50 + 0.21, worth nothing in the worst case): with $9 a day,
    4.29 is left and the next arb (it may lose 5.00) is skipped. After midnight UTC the room is the whole $9 again,
    though no arb or reconciliation has refreshed the day's figures since: the same arb is taken."""
    from datetime import UTC, datetime, timedelta

    from trader.ledger import Booking, Fill
    from trader.legs import Leg

    now = [datetime.now(UTC)]
    rig = Rig(tmp_path, risk="daily_loss_usd = 9", today=lambda: now[0])
    rig.ledger.record_intent(Leg("kalshi", TICKER, "buy", D(10), D("0.45"), "no"), "k-old", arb_id="old")
    fill = Fill(D(10), D("0.45"), D("0.21"), "exchange", "f-old", final=True)
    rig.ledger.book("k-old", Booking("filled", "o-old", D(10), D("0.45"), D("0.21"), fills=(fill,)))
    rig.kalshi.extra_positions[TICKER] = D(-10)
    async with rig:
        rig.books()
        await eventually(lambda: ("skipped", "daily_loss") in rig.kinds())
        assert rig.orders() == []
        now[0] += timedelta(days=1)
        (pair,) = rig.engine.pairs
        rig.engine.evaluate(pair)  # the books as they stand, on the new day
        assert (rig.engine.status["ali"].last.kind, rig.engine.status["ali"].last.reason) == ("taken", "edge")
        await eventually(lambda: ("result", "matched") in rig.kinds())
    assert rig.kinds() == [("skipped", "daily_loss"), ("taken", "edge"), ("result", "matched")]


async def test_the_engine_opens_the_order_lanes_before_it_trades_and_not_in_a_dry_run(tmp_path):
    async with Rig(tmp_path) as rig:
        assert (rig.kalshi.lanes_opened, rig.poly.lanes_opened) == (1, 1)
    (tmp_path / "dry").mkdir()
    async with Rig(tmp_path / "dry", dry_run=True) as dry:
        assert (dry.kalshi.lanes_opened, dry.poly.lanes_opened) == (0, 0)
