import asyncio
import uuid
from decimal import Decimal as D

import pytest

from clients.errors import (
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientBalance,
    MarketClosed,
    MarketNotFound,
    ProxyUpstreamError,
    ReplayMismatch,
    SpendingGuardRefused,
    TransportError,
)
from trader.execute import execute_leg
from trader.fakes import FakeKalshi, FakePoly, Plan
from trader.legs import Leg

KLEG = Leg("kalshi", "KXT-1", "buy", D("10"), D("0.45"), "no")
PLEG = Leg("poly", "123", "buy", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=True)


async def test_kalshi_full_fill_sends_ioc_with_a_fresh_uuid_and_books_it(ledger):
    kalshi = FakeKalshi(fee_per_contract=D("0.0175"))
    result = await execute_leg(kalshi, KLEG, ledger)
    name, (ticker, outcome, action, count, price, tif, cid) = kalshi.calls[0]
    assert (name, ticker, outcome, action, count, price, tif) == (
        "create_order",
        "KXT-1",
        "no",
        "buy",
        D("10"),
        D("0.45"),
        "immediate_or_cancel",
    )
    assert uuid.UUID(cid).version == 4 and result.key == cid
    assert (result.status, result.requested, result.filled, result.avg_price, result.fees) == (
        "filled",
        D("10"),
        D("10"),
        D("0.45"),
        D("0.1750"),
    )
    intent = ledger.intent(cid)
    assert (intent.state, intent.filled, intent.order_id) == ("filled", D("10"), result.order_id)
    assert ledger.positions() == {("kalshi", "KXT-1"): D("-10")}


async def test_kalshi_partial_fill_books_only_what_filled(ledger):
    result = await execute_leg(FakeKalshi([Plan(fill=D("6"))]), KLEG, ledger)
    assert (result.status, result.filled) == ("partial", D("6"))
    assert ledger.positions() == {("kalshi", "KXT-1"): D("-6")}


async def test_kalshi_no_fill_is_none_with_no_position(ledger):
    result = await execute_leg(FakeKalshi([Plan(fill=D("0"))]), KLEG, ledger)
    assert (result.status, result.filled, result.error) == ("none", D("0"), None)
    assert ledger.intent(result.key).state == "none"
    assert ledger.positions() == {}


@pytest.mark.parametrize(
    "error",
    [
        InsufficientBalance("insufficient balance", exchange="kalshi", status=400, code="insufficient_balance"),
        MarketNotFound("market not found", exchange="kalshi", status=404),
        MarketClosed("market closed", exchange="kalshi", status=400),
        ExchangeUnavailable("exchange in maintenance", exchange="kalshi", status=503),
        SpendingGuardRefused("spending_guard", "over --max-order-usd", status=403),
        ReplayMismatch("unmatched", "no recording", status=599),
    ],
)
async def test_refusals_are_rejected_with_the_typed_error(ledger, error):
    result = await execute_leg(FakeKalshi([Plan(error=error)]), KLEG, ledger)
    assert result.status == "rejected" and result.error is error and result.filled == 0
    intent = ledger.intent(result.key)
    assert intent.state == "rejected" and type(error).__name__ in intent.error
    assert ledger.intents(open_only=True) == []


@pytest.mark.parametrize(
    "error",
    [
        TransportError("connection reset"),
        ProxyUpstreamError("upstream_timeout", "504", status=504),
        ExchangeUnavailable("internal error", exchange="kalshi", status=500),
        DuplicateOrder("order already exists", exchange="kalshi", status=409),
    ],
)
async def test_lost_or_ambiguous_answers_are_unknown_and_stay_open(ledger, error):
    result = await execute_leg(FakeKalshi([Plan(error=error)]), KLEG, ledger)
    assert (result.status, result.filled, result.error) == ("unknown", D("0"), error)
    assert [i.key for i in ledger.intents(open_only=True)] == [result.key]
    assert ledger.intent(result.key).state == "unknown"


async def test_timeout_is_unknown(ledger):
    class Hanging(FakeKalshi):
        async def create_order(self, *args, **kwargs):
            await asyncio.Event().wait()

    result = await execute_leg(Hanging(), KLEG, ledger, timeout=0)
    assert result.status == "unknown" and isinstance(result.error, TimeoutError)
    assert ledger.intent(result.key).state == "unknown"


async def test_intent_is_written_before_the_order_is_sent(ledger):
    seen = []

    class Watching(FakeKalshi):
        async def create_order(self, ticker, outcome, action, count, price, time_in_force, client_order_id=None):
            seen.append(ledger.intent(client_order_id).state)
            return await super().create_order(ticker, outcome, action, count, price, time_in_force, client_order_id)

    await execute_leg(Watching(), KLEG, ledger)
    assert seen == ["pending"]


async def test_poly_full_fill_uses_fak_with_the_legs_tick_and_neg_risk(ledger):
    poly = FakePoly()
    result = await execute_leg(poly, PLEG, ledger)
    assert poly.calls[0] == ("build_order", ("123", "BUY", D("0.52"), D("10"), "FAK", D("0.01"), True))
    assert poly.calls[1] == ("post_order", (result.key,))
    assert (result.status, result.filled, result.avg_price) == ("filled", D("10"), D("0.52"))
    assert ledger.positions() == {("poly", "123"): D("10")}


async def test_poly_fak_no_match_is_none_not_rejected(ledger):
    result = await execute_leg(FakePoly([Plan(fill=D("0"))]), PLEG, ledger)
    assert result.status == "none" and type(result.error).__name__ == "OrderNotFilled"
    assert ledger.intent(result.key).state == "none"
    assert ledger.positions() == {}


@pytest.mark.parametrize(
    "plan", [Plan(fill=D("0"), status="delayed"), Plan(fill=D("0"), status="matched"), Plan(fill=D("0"), status="live")]
)
async def test_poly_answer_without_a_final_fill_is_unknown(ledger, plan):
    result = await execute_leg(FakePoly([plan]), PLEG, ledger)
    assert result.status == "unknown"
    assert ledger.intent(result.key).state == "unknown"
    assert ledger.intent(result.key).order_id == result.key


async def test_poly_build_failure_sends_nothing_and_records_nothing(ledger):
    class BadBuild(FakePoly):
        def build_order(self, *args, **kwargs):
            raise ValueError("size 0.001 below the 2 dp precision")

    result = await execute_leg(BadBuild(), PLEG, ledger)
    assert result.status == "rejected" and result.key is None and "precision" in str(result.error)
    assert ledger.intents() == []


async def test_execute_leg_works_without_a_ledger():
    result = await execute_leg(FakeKalshi([Plan(fill=D("3"))]), KLEG)
    assert (result.status, result.filled) == ("partial", D("3"))


async def test_client_input_check_after_the_intent_is_booked_rejected(ledger):
    class NoCreds(FakePoly):
        async def post_order(self, signed):
            raise ValueError("signed order's owner is not this client's API key")

    result = await execute_leg(NoCreds(), PLEG, ledger)
    assert result.status == "rejected" and ledger.intent(result.key).state == "rejected"


@pytest.mark.parametrize("status", ["ORDER_STATUS_LIVE", "LIVE", "resting"])
async def test_open_status_spellings_are_unknown(ledger, status):
    result = await execute_leg(FakePoly([Plan(fill=D("2"), status=status)]), PLEG, ledger)
    assert (result.status, result.filled) == ("unknown", D("2"))
    assert ledger.positions() == {}
