"""The real Polymarket client against the paper CLOB on calls the trader does not make."""

from __future__ import annotations

from decimal import Decimal

from clients.polymarket import PolymarketClient
from scenarios.harness import PAPER_POLY_KEY
from simulator.server import Simulator


async def test_balance_refresh_answers_empty_and_the_client_reads_the_balance_after_it():
    async with Simulator() as sim, PolymarketClient(sim.poly_url, private_key=PAPER_POLY_KEY) as poly:
        await poly.create_or_derive_api_key()
        balance = await poly.get_balance_allowance(update=True)
    assert balance.balance == Decimal("1000")
