"""The real Kalshi client (clients/kalshi/) against the paper exchange: auth, trading, errors, recovery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from clients.errors import AuthError, InsufficientBalance, MarketClosed, OrderNotFilled, TransportError
from clients.kalshi import KalshiClient
from simulator.credentials import kalshi_test_credentials
from simulator.server import RunningSimulator, Simulator

ALI = "KXDEMOMATCH-26DEC31ALIBOB-ALI"


@pytest.fixture
async def sim(kalshi_credentials: tuple[str, Any, str]) -> AsyncIterator[RunningSimulator]:
    key_id, _, pem = kalshi_credentials
    async with Simulator() as running, aiohttp.ClientSession() as http:
        async with http.post(
            running.kalshi_url + "/__sim/kalshi/keys", json={"key_id": key_id, "public_key_pem": pem}
        ) as response:
            assert response.status == 201
        yield running


def client_for(sim: RunningSimulator, kalshi_credentials: tuple[str, Any, str], **kwargs: Any) -> KalshiClient:
    key_id, private_key, _ = kalshi_credentials
    return KalshiClient(sim.kalshi_url + "/trade-api/v2", key_id, private_key, clock=sim.clock.now, **kwargs)


async def test_client_trades_against_the_simulator(
    sim: RunningSimulator, kalshi_credentials: tuple[str, Any, str]
) -> None:
    async with client_for(sim, kalshi_credentials) as kalshi:
        assert await kalshi.get_balance() == Decimal("1000.0000")
        book = await kalshi.get_orderbook(ALI)
        assert book.yes_asks[0][0] == Decimal("0.52")
        # buy 30 YES up to 0.54: 25 at 0.52, 5 at 0.54
        result = await kalshi.create_order(ALI, "yes", "buy", "30", "0.54")
        assert (result.status, result.filled, result.remaining) == ("executed", Decimal("30.00"), Decimal("0.00"))
        assert result.avg_price == Decimal("0.5233")  # the create answer's average is 4 dp, as on Kalshi
        assert (await kalshi.get_order(result.order_id)).cost == Decimal("15.70")
        # buy 10 NO at 0.53 = ask YES at 0.47: sells into the 0.47 YES bid, netting the YES position
        no = await kalshi.create_order(ALI, "no", "buy", "10", "0.53")
        assert (no.status, no.avg_price) == ("executed", Decimal("0.53"))
        [position] = await kalshi.get_positions()
        assert position.position == Decimal("20.00")
        fills = await kalshi.get_fills(ticker=ALI)
        assert sum(f.count for f in fills) == Decimal("40.00")
        resting = await kalshi.create_order(ALI, "yes", "buy", "5", "0.10", time_in_force="good_till_canceled")
        assert resting.status == "resting"
        canceled = await kalshi.cancel_order(resting.order_id)
        assert canceled.reduced_by == Decimal("5.00")


async def test_client_maps_simulator_errors(sim: RunningSimulator, kalshi_credentials: tuple[str, Any, str]) -> None:
    async with client_for(sim, kalshi_credentials) as kalshi:
        with pytest.raises(InsufficientBalance):
            await kalshi.create_order(ALI, "yes", "buy", "5000", "0.99", time_in_force="good_till_canceled")
        with pytest.raises(OrderNotFilled):
            await kalshi.create_order(ALI, "yes", "buy", "500", "0.60", time_in_force="fill_or_kill")
        async with aiohttp.ClientSession() as http:
            await http.post(sim.kalshi_url + f"/__sim/kalshi/markets/{ALI}/status", json={"status": "paused"})
        with pytest.raises(MarketClosed):
            await kalshi.create_order(ALI, "yes", "buy", "1", "0.52")
    _, wrong_key, _ = kalshi_test_credentials()
    async with KalshiClient(
        sim.kalshi_url + "/trade-api/v2", kalshi_credentials[0], wrong_key, clock=sim.clock.now
    ) as bad:
        with pytest.raises(AuthError):
            await bad.get_balance()


async def test_act_then_drop_is_recovered_by_client_order_id(
    sim: RunningSimulator, kalshi_credentials: tuple[str, Any, str]
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sim.kalshi_url + "/__sim/faults",
            json={"method": "POST", "path": "/trade-api/v2/portfolio/events/orders", "action": "act_then_drop"},
        ) as r,
    ):
        assert r.status == 201
    client_order_id = str(uuid.uuid4())
    async with client_for(sim, kalshi_credentials) as kalshi:
        with pytest.raises(TransportError):
            await kalshi.create_order(ALI, "yes", "buy", "3", "0.52", client_order_id=client_order_id)
        recovered = await kalshi.find_order_by_client_order_id(client_order_id, ticker=ALI)
        assert recovered is not None and (recovered.status, recovered.filled) == ("executed", Decimal("3.00"))
        # the client's own retry sees 409 order_already_exists and returns the existing order
        again = await kalshi.create_order(ALI, "yes", "buy", "3", "0.52", client_order_id=client_order_id)
        assert again.order_id == recovered.order_id


async def test_resting_and_partly_filled_orders_carry_their_limit_price(
    sim: RunningSimulator, kalshi_credentials: tuple[str, Any, str]
) -> None:
    """The limit is of the outcome traded, as Leg.price: a NO bid at 0.30 reads 0.30, not its YES-leg 0.70."""
    async with client_for(sim, kalshi_credentials) as kalshi:
        partly = await kalshi.create_order(ALI, "yes", "buy", "30", "0.52", time_in_force="good_till_canceled")
        assert (partly.status, partly.filled, partly.remaining) == ("resting", Decimal("25.00"), Decimal("5.00"))
        assert (partly.limit_price, partly.avg_price) == (Decimal("0.52"), Decimal("0.52"))
        read = await kalshi.get_order(partly.order_id)
        assert (read.status, read.filled, read.limit_price) == ("resting", Decimal("25.00"), Decimal("0.52"))
        no = await kalshi.create_order(ALI, "no", "buy", "4", "0.30", time_in_force="good_till_canceled")
        assert (no.status, no.avg_price, no.limit_price) == ("resting", None, Decimal("0.30"))
        assert (await kalshi.get_order(no.order_id)).limit_price == Decimal("0.30")
        listed = {o.order_id: o.limit_price for o in await kalshi.list_orders(ticker=ALI, status="resting")}
        assert listed == {partly.order_id: Decimal("0.52"), no.order_id: Decimal("0.30")}
