"""The engine reads each pair's Polymarket market (`GET /clob-markets`) before trading it and fails closed: a fee
rate above the pairs file's, tokens that are not the pair's, a market taking no orders, or a read that failed (until a
later read succeeds) leave the pair untraded, with a decision naming the field and both values."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from feed_helpers import eventually
from test_trader_engine import NO, TICKER, YES, Rig
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


def market_as(rig: Rig, **changes) -> None:
    rig.poly.markets[CONDITION] = replace(rig.poly.markets[CONDITION], **changes)


def skips(rig: Rig) -> list[tuple[str, str]]:
    return [(d.reason, d.detail) for d in rig.ledger.decisions() if d.kind == "skipped" and d.pair == "ali"]


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
    assert decided == [("skipped", "market_unread"), ("taken", "edge")]  # the same failure again is said once


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
