"""The faults a chaos run needs, on both paper exchanges, through the real clients (loopback, frozen clock)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from paper_helpers import KALSHI_TICKER, POLY_NO, paper

from clients.errors import ExchangeUnavailable, OrderNotFound, TransportError, UnexpectedResponse
from simulator.clock import SimClock
from simulator.faults import FaultSpecError, parse_fault

ORDERS = "/trade-api/v2/portfolio/events/orders"


def kalshi_buy(world, cid, count="5"):
    return world.kalshi.create_order(KALSHI_TICKER, "yes", "buy", D(count), D("0.54"), client_order_id=cid)


def poly_buy(world, size="10"):
    return world.poly.build_order(POLY_NO, "BUY", D("0.53"), size=D(size), order_type="FAK")


async def test_clock_stops_at_each_timer_on_its_way():
    clock = SimClock(100.0, source=lambda: 0.0)
    seen = []

    def at(label):
        async def timer():
            seen.append((label, clock.now()))

        return timer

    clock.call_at(130.0, at("late"))
    clock.call_at(105.0, at("early"))
    await clock.advance(10)
    assert seen == [("early", 105.0)] and clock.now() == 110.0 and clock.pending == 1
    await clock.advance(60)
    assert seen == [("early", 105.0), ("late", 130.0)] and clock.now() == 170.0


async def test_kalshi_received_order_executes_late_even_after_the_client_gave_up():
    async with paper() as world:
        await world.arm("kalshi", method="POST", path=ORDERS, action="execute_late", late_ms=30_000)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # the client gives up; the exchange keeps the request
                await kalshi_buy(world, "late-1")
        assert await world.kalshi.find_order_by_client_order_id("late-1") is None
        await world.sim.clock.advance(30)  # signed 30 s ago: still accepted, the gateway checked it on receipt
        order = await world.kalshi.find_order_by_client_order_id("late-1")
        assert (order.status, order.filled) == ("executed", D("5"))
        [fill] = await world.kalshi.get_fills(order_id=order.order_id)
        assert fill.ts == int(world.sim.clock.now())  # executed when it was due


async def test_poly_received_order_executes_late_and_drop_answers_at_once():
    async with paper() as world:
        await world.arm("poly", method="POST", path="/order", action="execute_late", late_ms=2_000, answer="drop")
        signed = poly_buy(world)
        with pytest.raises(TransportError):
            await world.poly.post_order(signed)
        with pytest.raises(OrderNotFound):
            await world.poly.get_order(signed.order_id)
        await world.sim.clock.advance(2)
        assert (await world.poly.get_order(signed.order_id)).filled == D("10")
        assert world.poly_exchange.accounts[world.poly.address].positions[POLY_NO] == D("10")


@pytest.mark.parametrize("exchange", ["kalshi", "poly"])
async def test_act_then_5xx_executes_and_answers_an_error(exchange):
    async with paper() as world:
        if exchange == "kalshi":
            await world.arm("kalshi", method="POST", path=ORDERS, action="act_then_respond", status=502)
            with pytest.raises(ExchangeUnavailable) as error:
                await kalshi_buy(world, "act-5xx")
            assert (await world.kalshi.find_order_by_client_order_id("act-5xx")).filled == D("5")
        else:
            await world.arm("poly", method="POST", path="/order", action="act_then_respond", status=500)
            signed = poly_buy(world)
            with pytest.raises(ExchangeUnavailable) as error:
                await world.poly.post_order(signed)
            assert (await world.poly.get_order(signed.order_id)).filled == D("10")
        assert error.value.status in (500, 502)


@pytest.mark.parametrize(
    ("garble", "error"), [("truncate", UnexpectedResponse), ("junk", UnexpectedResponse), ("cut", TransportError)]
)
@pytest.mark.parametrize("exchange", ["kalshi", "poly"])
async def test_act_then_garbled_answer(exchange, garble, error):
    async with paper() as world:
        if exchange == "kalshi":
            await world.arm("kalshi", method="POST", path=ORDERS, action="act_then_garble", garble=garble)
            with pytest.raises(error):
                await kalshi_buy(world, f"garbled-{garble}")
            assert (await world.kalshi.find_order_by_client_order_id(f"garbled-{garble}")).filled == D("5")
        else:
            await world.arm("poly", method="POST", path="/order", action="act_then_garble", garble=garble)
            signed = poly_buy(world)
            with pytest.raises(error):
                await world.poly.post_order(signed)
            assert (await world.poly.get_order(signed.order_id)).filled == D("10")


async def test_kalshi_reads_lag_writes():
    async with paper() as world:
        order = await kalshi_buy(world, "fresh")
        await world.arm(
            "kalshi", method="GET", path=r"/trade-api/v2/portfolio/(orders|fills)", action="lag", lag_ms=5_000, times=2
        )
        assert await world.kalshi.find_order_by_client_order_id("fresh") is None
        assert await world.kalshi.get_fills(order_id=order.order_id) == []
        assert (await world.kalshi.find_order_by_client_order_id("fresh")).filled == D("5")  # the lag was for 2 reads
        await world.arm("kalshi", method="GET", path=r"/trade-api/v2/portfolio/fills", action="lag", lag_ms=5_000)
        await world.sim.clock.advance(5)
        assert len(await world.kalshi.get_fills(order_id=order.order_id)) == 1  # old enough to show


async def test_poly_reads_lag_writes():
    async with paper() as world:
        signed = poly_buy(world)
        await world.poly.post_order(signed)
        await world.arm("poly", method="GET", path=r"/data/(order/.*|trades)", action="lag", lag_ms=3_000, times=2)
        with pytest.raises(OrderNotFound):
            await world.poly.get_order(signed.order_id)
        assert await world.poly.get_trades(asset_id=POLY_NO) == []
        assert len(await world.poly.get_trades(asset_id=POLY_NO)) == 1


async def test_poly_trades_matched_then_failed_are_reversed():
    async with paper(fee_rate="0.04") as world:
        account = world.poly_exchange.accounts[world.poly.address]
        before = account.balance
        await world.arm("poly", method="POST", path="/order", action="fail_trades")
        signed = poly_buy(world)
        result = await world.poly.post_order(signed)
        [trade] = await world.poly.get_trades(asset_id=POLY_NO)
        assert (result.filled, trade.status, account.positions[POLY_NO]) == (D("10"), "MATCHED", D("10"))
        assert account.balance == before - D("5.3") - D("0.09964")
        await world.sim.clock.advance(2)
        assert [t.status for t in await world.poly.get_trades(asset_id=POLY_NO)] == ["RETRYING"]
        await world.sim.clock.advance(8)
        assert [t.status for t in await world.poly.get_trades(asset_id=POLY_NO)] == ["FAILED"]
        assert (account.balance, account.positions[POLY_NO]) == (before, D("0"))
        assert (await world.poly.get_order(signed.order_id)).filled == D("10")  # the order matched; its trade failed


@pytest.mark.parametrize(
    ("exchange", "spec", "message"),
    [
        ("kalshi", {"action": "fail_trades"}, "only on poly"),
        ("poly", {"action": "act_then_respond"}, "needs 'status'"),
        ("poly", {"action": "act_then_garble", "garble": "shred"}, "'garble' must be one of truncate, junk, cut"),
        ("poly", {"action": "execute_late", "answer": "later"}, "'answer' must be one of hold, drop"),
        ("poly", {"action": "lag", "lag_ms": -1}, "'lag_ms' must be an integer >= 0"),
    ],
)
def test_bad_fault_specs_name_the_field(exchange, spec, message):
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(exchange, {"method": "POST", "path": "/order", **spec})
