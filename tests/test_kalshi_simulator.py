"""KalshiClient against the project's paper Kalshi exchange (simulator/), in-process on 127.0.0.1.

A cross-check of two independent readings of docs/wire/kalshi.md: the client's requests must be accepted
(signatures, V2 bodies) and the simulator's answers parsed into the same numbers its books imply.
"""

from decimal import Decimal

import pytest

from clients import errors
from clients.kalshi import KalshiClient
from simulator.credentials import kalshi_test_credentials
from simulator.server import Simulator

TICKER = "KX-A"
SECTION = {
    "markets": [
        {
            "ticker": TICKER,
            "event_ticker": "KX",
            "status": "active",
            "title": "A",
            "book": {"yes_dollars": [["0.4700", "3.00"]], "no_dollars": [["0.4800", "3.00"]]},
        }
    ],
}


@pytest.fixture
async def client():
    key_id, key, public_pem = kalshi_test_credentials()
    state = {
        "kalshi": {**SECTION, "accounts": [{"name": "default", "balance": "100.00", "api_keys": {key_id: public_pem}}]}
    }
    async with Simulator(state) as sim, KalshiClient(sim.kalshi_url + "/trade-api/v2", key_id, key) as kalshi:
        yield kalshi


async def test_buy_no_partial_ioc_then_positions_and_fills(client):
    book = await client.get_orderbook(TICKER)
    assert book.no_asks == ((Decimal("0.5300"), Decimal("3.00")),)  # YES bid 0.47 = NO ask 0.53
    result = await client.create_order(TICKER, "no", "buy", Decimal("5"), Decimal("0.53"), client_order_id="cid-1")
    assert (result.status, result.filled, result.remaining, result.avg_price) == (
        "canceled",
        Decimal(3),
        Decimal(0),
        Decimal("0.53"),
    )
    assert result.cost == Decimal("1.59")
    (fill,) = await client.get_fills(order_id=result.order_id)
    assert (fill.outcome, fill.count, fill.price) == ("no", Decimal(3), Decimal("0.53"))
    (position,) = await client.get_positions()
    assert position.position == Decimal(-3)
    again = await client.create_order(TICKER, "no", "buy", Decimal("5"), Decimal("0.53"), client_order_id="cid-1")
    assert (again.order_id, again.filled, again.avg_price) == (result.order_id, Decimal(3), Decimal("0.53"))


async def test_errors_from_the_simulator_map_to_the_taxonomy(client):
    with pytest.raises(errors.MarketNotFound):
        await client.create_order("KX-NOPE", "yes", "buy", "1", "0.5")
    with pytest.raises(errors.InvalidOrder):
        await client.create_order(TICKER, "yes", "buy", "1", "0.505")
    with pytest.raises(errors.OrderNotFilled):
        await client.create_order(TICKER, "yes", "buy", "10", "0.99", time_in_force="fill_or_kill")
    resting = await client.create_order(TICKER, "yes", "buy", "1", "0.01", time_in_force="good_till_canceled")
    assert resting.status == "resting"
    assert (await client.cancel_order(resting.order_id)).reduced_by == Decimal(1)
    with pytest.raises(errors.OrderNotFound):
        await client.cancel_order(resting.order_id)
