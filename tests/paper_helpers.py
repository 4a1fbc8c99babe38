"""Both paper exchanges on a clock that moves only when told, with the real clients signed in (loopback)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from clients.kalshi import KalshiClient
from clients.polymarket import PolymarketClient
from scenarios.harness import PAPER_POLY_KEY
from simulator.clock import SimClock
from simulator.credentials import kalshi_test_credentials
from simulator.kalshi import EXCHANGE as KALSHI_APP
from simulator.kalshi.config import DEFAULT_SECTION as KALSHI_DEFAULT
from simulator.kalshi.exchange import KalshiExchange
from simulator.poly import EXCHANGE as POLY_APP
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT
from simulator.poly.exchange import PolyExchange
from simulator.server import RunningSimulator, Simulator

START = 1_795_000_000.0  # 2026-11-18, a fixed moment: runs are reproducible
KALSHI_TICKER = KALSHI_DEFAULT["markets"][0]["ticker"]
POLY_YES = POLY_DEFAULT["markets"][0]["tokens"][0]["token_id"]
POLY_NO = POLY_DEFAULT["markets"][0]["tokens"][1]["token_id"]


@dataclass
class Paper:
    sim: RunningSimulator
    kalshi: KalshiClient
    poly: PolymarketClient
    key_id: str
    private_key: Any
    kalshi_backoff: float = 0.25

    @property
    def kalshi_exchange(self) -> KalshiExchange:
        return self.sim.kalshi_app[KALSHI_APP].exchange

    @property
    def poly_exchange(self) -> PolyExchange:
        return self.sim.poly_app[POLY_APP]

    async def arm(self, exchange: str, **fault: Any) -> None:
        url = self.sim.kalshi_url if exchange == "kalshi" else self.sim.poly_url
        async with aiohttp.ClientSession() as session, session.post(url + "/__sim/faults", json=fault) as response:
            assert response.status == 201, await response.text()

    def reopen(self) -> tuple[KalshiClient, PolymarketClient]:
        """Fresh clients for the same accounts (a restarted bot)."""
        kalshi = KalshiClient(
            self.sim.kalshi_url + "/trade-api/v2",
            self.key_id,
            self.private_key,
            clock=self.sim.clock.now,
            timeout=5,
            backoff=self.kalshi_backoff,
        )
        poly = PolymarketClient(
            self.sim.poly_url,
            PAPER_POLY_KEY,
            self.poly.creds.api_key,
            self.poly.creds.secret,
            self.poly.creds.passphrase,
            clock=self.sim.clock.now,
            timeout=5,
        )
        return kalshi, poly


def paper_state(public_pem: str, key_id: str, poly_shares: dict[str, str] | None = None, fee_rate: str = "0") -> dict:
    kalshi = copy.deepcopy(KALSHI_DEFAULT)
    kalshi["accounts"] = [{"name": "default", "balance": "100000.00", "api_keys": {key_id: public_pem}}]
    poly = copy.deepcopy(POLY_DEFAULT)
    poly["markets"][0]["fee_rate"] = fee_rate
    poly["accounts"][0]["balance"] = "100000"
    poly["accounts"][0]["positions"] = poly_shares or {}
    return {"kalshi": kalshi, "poly": poly}


@asynccontextmanager
async def paper(kalshi_backoff: float = 0.25, **state: Any) -> AsyncIterator[Paper]:
    """The paper exchanges (default markets, deep pockets) on a frozen clock, and both real clients
    (`kalshi_backoff` 0 makes the Kalshi client retry reads without waiting)."""
    key_id, private_key, public_pem = kalshi_test_credentials()
    clock = SimClock(START, source=lambda: 0.0)
    async with Simulator(paper_state(public_pem, key_id, **state), clock=clock) as sim:
        kalshi = KalshiClient(
            sim.kalshi_url + "/trade-api/v2", key_id, private_key, clock=clock.now, timeout=5, backoff=kalshi_backoff
        )
        poly = PolymarketClient(sim.poly_url, PAPER_POLY_KEY, clock=clock.now, timeout=5)
        async with kalshi, poly:
            await poly.create_or_derive_api_key()
            yield Paper(sim, kalshi, poly, key_id, private_key, kalshi_backoff)
