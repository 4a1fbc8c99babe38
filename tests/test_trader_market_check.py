"""The engine reads each pair's Polymarket market (`GET /clob-markets`) before trading it and fails closed: a fee
rate above the pairs file's, tokens that are not the pair's, a market taking no orders, or a read that failed (until a
later read succeeds) leave the pair untraded, with a decision naming the field and both values. While it runs it reads
each market again every `market_recheck_s`: a reading that refuses the pair stops it, one that passes re-admits it, and
a failed re-read leaves it trading on its last good reading for one more period at most."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal as D

import pytest
from feed_helpers import eventually
from test_trader_engine import NO, TICKER, YES, GatedKalshi, Rig
from trader_helpers import pair_fields

from clients.errors import TransportError, UnexpectedResponse
from clients.polymarket.types import FeeDetails
from trader.fakes import listed
from trader.market_check import market_refusal
from trader.pairs import parse_pairs

CONDITION = "0x" + "ab" * 32
FEE_PAIRS = "[[pairs]]\n" + pair_fields(
    YES, NO, TICKER, poly_fee_rate="0.01", poly_min_order_size=1, min_edge="0.01", max_size=10, max_position=30
)


class Periods:
    """The engine's wait between reads of the pair's market, stepped by the test (no real waiting): a wait lasts until
    `next()`, which moves the engine's clock on by the seconds asked, as that much time passing would."""

    def __init__(self) -> None:
        self.rig: Rig | None = None
        self._wake: asyncio.Future[None] | None = None

    async def __call__(self, seconds: float) -> None:
        self._wake = asyncio.get_running_loop().create_future()
        await self._wake
        assert self.rig is not None
        self.rig.clock.now += seconds

    async def next(self) -> None:
        """End the wait; return once the engine has read the market and waits again."""
        await self.next_ending()
        await eventually(lambda: self._wake is not None)

    async def next_ending(self) -> None:
        """End the wait (the engine may not wait again)."""
        await eventually(lambda: self._wake is not None)
        wake, self._wake = self._wake, None
        assert wake is not None
        wake.set_result(None)


def stepped(tmp_path, **engine) -> tuple[Rig, Periods]:
    periods = Periods()
    periods.rig = Rig(tmp_path, market_sleep=periods, **engine)
    return periods.rig, periods


def reads(rig: Rig) -> int:
    return len([c for c in rig.poly.calls if c[0] == "get_clob_market"])


def market_as(rig: Rig, **changes) -> None:
    rig.poly.markets[CONDITION] = replace(rig.poly.markets[CONDITION], **changes)


def skips(rig: Rig) -> list[tuple[str, str]]:
    """The pair's skips but those of a second update of the books while an arb is in flight."""
    decisions = rig.ledger.decisions()
    return [
        (d.reason, d.detail) for d in decisions if d.kind == "skipped" and d.pair == "ali" and d.reason != "in_flight"
    ]


async def untraded(rig: Rig, because: str) -> None:
    """The books hold an arb; the engine priced the pair (its problem is shown) and sent nothing."""
    rig.books()
    await eventually(lambda: because in (rig.engine.status["ali"].problem or ""))
    assert rig.orders() == []
    assert not [k for k in rig.kinds() if k[0] in ("taken", "result")]


async def test_an_exchange_fee_rate_above_the_files_keeps_the_pair_untraded(tmp_path):
    rig = Rig(tmp_path, pairs=FEE_PAIRS)
    market_as(rig, fees=FeeDetails(rate=D("0.05"), exponent=D(1), taker_only=True))
    async with rig:
        await untraded(rig, "fd.r")
    ((reason, detail),) = skips(rig)
    assert reason == "fee_rate"
    assert "fd.r (taker fee rate) 0.05 is above the pairs file's poly_fee_rate 0.01" in detail


async def test_an_exchange_rate_at_or_below_the_files_trades_priced_at_the_files_rate(tmp_path):
    """max(file, exchange): the exchange's 0.005 is below the file's 0.01, so the box is priced at 0.01. The most 10
    shares at 0.50 can pay (trader.detect) is 0.030 at 0.01 (0.020 at 0.005), so the edge of the default books (0.29
    before the Polymarket fee) is 0.26, 0.026 a contract (0.027 at the exchange's rate)."""
    rig = Rig(tmp_path, pairs=FEE_PAIRS)
    market_as(rig, fees=FeeDetails(rate=D("0.005"), exponent=D(2), taker_only=False))
    async with rig:
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    (taken,) = [d for d in rig.ledger.decisions() if d.kind == "taken"]
    assert taken.edge == D("0.026")
    assert not [reason for reason, _ in skips(rig) if reason in ("fee_rate", "market_unread")]


async def test_a_market_without_the_pairs_tokens_is_not_traded(tmp_path):
    rig = Rig(tmp_path)
    market_as(rig, tokens={YES: "Yes", "999": "No"})
    async with rig:
        await untraded(rig, "lacks")
    ((reason, detail),) = skips(rig)
    assert reason == "tokens"
    assert f"t (the market's tokens) {YES}, 999 lacks the pairs file's {NO}" in detail


async def test_a_market_not_accepting_orders_is_not_traded(tmp_path):
    rig = Rig(tmp_path)
    market_as(rig, accepting_orders=False)
    async with rig:
        await untraded(rig, "ao (accepting orders) is false")
    assert [reason for reason, _ in skips(rig)] == ["not_accepting"]


async def test_a_failed_read_leaves_the_pair_untraded_and_says_why(tmp_path):
    """A body not as documented (the client names the field) or no answer: the pair waits for a later read."""
    rig = Rig(tmp_path, market_retry_s=3600)
    rig.poly.market_errors = [
        UnexpectedResponse(f"GET /clob-markets/{CONDITION} fd: field 'r' is missing", exchange="poly", status=200)
    ]
    async with rig:
        await untraded(rig, "field 'r' is missing")
    ((reason, detail),) = skips(rig)
    assert reason == "market_unread"
    assert "UnexpectedResponse" in detail and "not traded until a read succeeds (again every 3600 s)" in detail


async def test_a_failed_read_is_retried_until_one_succeeds_and_the_pair_then_trades(tmp_path):
    rig = Rig(tmp_path, market_retry_s=0)
    rig.poly.market_errors = [TransportError("connection refused"), TransportError("connection refused")]
    rig.books()  # the arb stands in the books before the engine starts: it is taken once the market is read
    async with rig:
        await eventually(lambda: ("result", "matched") in rig.kinds())
    reads = [c for c in rig.poly.calls if c[0] == "get_clob_market"]
    assert reads == [("get_clob_market", (CONDITION,))] * 3
    decided = [k for k in rig.kinds() if k[0] != "result" and k[1] != "in_flight"]
    # the same failure again is said once; that the pair is traded again, once
    assert decided == [("skipped", "market_unread"), ("resumed", "market_read"), ("taken", "edge")]


async def test_a_fee_rate_rise_seen_mid_run_stops_the_pair_and_the_arb_in_flight_finishes(tmp_path):
    rig, periods = stepped(tmp_path, pairs=FEE_PAIRS)
    async with rig:
        rig.engine.kalshi = rig.kalshi = GatedKalshi()
        rig.books()
        await eventually(lambda: ("taken", "edge") in rig.kinds())
        market_as(rig, fees=FeeDetails(rate=D("0.02"), exponent=D(1), taker_only=True))
        await periods.next()
        assert ("skipped", "fee_rate") in rig.kinds()
        rig.kalshi.gate.set()
        await eventually(lambda: ("result", "matched") in rig.kinds())
        rig.books(kalshi_bids=(("0.56", "100"),))  # every book updates after the answers: a better box stands
        await eventually(lambda: rig.engine.status["ali"].kalshi.bids[0].price == D("0.56"))
        assert "fd.r" in (rig.engine.status["ali"].problem or "")
    decided = [k for k in rig.kinds() if k[1] != "in_flight"]
    assert decided == [("taken", "edge"), ("skipped", "fee_rate"), ("result", "matched")]
    ((_, detail),) = skips(rig)
    assert "fd.r (taker fee rate) 0.02 is above the pairs file's poly_fee_rate 0.01" in detail
    assert len(rig.orders()) == 2 and reads(rig) == 2


@pytest.mark.parametrize("rate", ["0.01", "0.004"])
async def test_a_fee_rate_at_or_below_the_files_seen_mid_run_keeps_the_pair_trading(tmp_path, rate):
    rig, periods = stepped(tmp_path, pairs=FEE_PAIRS)
    async with rig:
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
        market_as(rig, fees=FeeDetails(rate=D(rate), exponent=D(1), taker_only=True))
        await periods.next()
        rig.books(kalshi_bids=(("0.56", "100"),))
        await eventually(lambda: rig.kinds().count(("result", "matched")) == 2)
    assert skips(rig) == [] and reads(rig) == 2


async def test_a_refused_pair_is_traded_once_a_later_reading_passes(tmp_path):
    rig, periods = stepped(tmp_path)
    market_as(rig, accepting_orders=False)
    rig.books()  # the arb stands in the books from the start
    async with rig:
        await periods.next()  # refused again: nothing new to say
        assert rig.kinds() == [("skipped", "not_accepting")] and rig.orders() == []
        market_as(rig, accepting_orders=True)
        await periods.next()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    decided = [k for k in rig.kinds() if k[1] != "in_flight"]
    assert decided == [
        ("skipped", "not_accepting"),
        ("resumed", "market_read"),
        ("taken", "edge"),
        ("result", "matched"),
    ]
    (resumed,) = [d for d in rig.ledger.decisions() if d.kind == "resumed"]
    assert (
        resumed.pair == "ali"
        and "traded again" in resumed.detail
        and "ao (accepting orders) is false" in resumed.detail
    )
    assert reads(rig) == 3


async def test_a_failed_re_read_keeps_the_last_good_reading_one_more_period_then_stops_the_pair(tmp_path):
    """Read at start (t), again every 300 s, every 100 s after a failure: the re-reads at t+300, +400, +500 fail and
    the pair trades on the reading of t; the one at t+600 fails too, a period after the first failure: the pair stops
    until the read at t+700 succeeds."""
    rig, periods = stepped(tmp_path, market_recheck_s=300, market_retry_s=100)
    async with rig:
        rig.poly.market_errors = [TransportError("connection refused")] * 4
        await periods.next()  # t+300
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
        await periods.next()  # t+400
        await periods.next()  # t+500
        assert skips(rig) == []
        await periods.next()  # t+600
        ((reason, detail),) = skips(rig)
        rig.books(kalshi_bids=(("0.56", "100"),))
        await eventually(lambda: rig.engine.status["ali"].kalshi.bids[0].price == D("0.56"))
        assert len(rig.orders()) == 2
        await periods.next()  # t+700
        await eventually(lambda: rig.kinds().count(("result", "matched")) == 2)
    assert reason == "market_unread"
    assert (
        "TransportError: connection refused" in detail
        and "no read succeeded within 300 s (market_recheck_s) of the first re-read that failed" in detail
    )
    resumed = [k for k in rig.kinds() if k[0] == "resumed"]
    assert resumed == [("resumed", "market_read")] and reads(rig) == 6


async def test_a_re_read_that_succeeds_within_the_period_says_nothing_and_the_pair_trades_on(tmp_path):
    rig, periods = stepped(tmp_path, market_recheck_s=300, market_retry_s=100)
    async with rig:
        rig.poly.market_errors = [TransportError("connection refused")] * 2
        await periods.next()  # t+300: fails
        await periods.next()  # t+400: fails
        await periods.next()  # t+500: read
        await periods.next()  # t+800: fails; the pair may trade on the reading of t+500 until t+1100
        await periods.next()  # t+900: read
        rig.books()
        await eventually(lambda: ("result", "matched") in rig.kinds())
    assert skips(rig) == [] and reads(rig) == 6


def test_the_refusals_name_the_field_and_both_values():
    (pair,) = parse_pairs(FEE_PAIRS).pairs
    market = listed([pair])[CONDITION]
    assert market_refusal(pair, market) is None
    cases = {
        "fd.e (fee curve exponent) 0.5 is below the 1": replace(
            market, fees=FeeDetails(rate=D(0), exponent=D("0.5"), taker_only=True)
        ),
        "nr (neg risk) true differs from the pairs file's poly_neg_risk false": replace(market, neg_risk=True),
        "mos (minimum order size) 5 is above the pairs file's poly_min_order_size 1": replace(
            market, min_order_size=D(5)
        ),
    }
    for said, refused in cases.items():
        refusal = market_refusal(pair, refused)
        assert refusal is not None and said in refusal[1]


async def test_a_re_read_that_raises_outside_the_client_errors_stops_the_engine(tmp_path):
    """A bug in reading the market would leave the pair trading on a reading that ages unseen: the kill switch."""
    rig, periods = stepped(tmp_path)
    async with rig:
        rig.poly.market_errors = [KeyError("fd")]
        await periods.next_ending()
        await asyncio.wait_for(rig.task, 5)
    (kill,) = [d for d in rig.ledger.decisions() if d.kind == "kill"]
    assert kill.detail == "reading the market of ali raised KeyError: 'fd'"
