"""The injection harness: the paper exchanges (REST and WebSocket), the recording proxy and the arb engine in one
process, driven the way a market moves.

A test or scenario sets and moves books through the simulator's admin API, so every price change reaches the
engine through the real feeds; arms REST and feed faults; waits for the engine's decisions, orders and fills; kills
the engine (every task it started is cancelled, as a crash would cut them) and starts a new one on the same
ledger; and reads the ledger, the exchanges' positions and the recorded session. REST goes through the proxy in
record mode (`<workdir>/<name>/`). The feeds connect to the simulator directly: the proxy does not relay
WebSocket yet (issue 17), so the session holds the REST half of the run only.

```python
async with Harness("demo", workdir) as h:
    await h.start_engine()
    await h.kalshi_book(bids=[("0.55", "20")], asks=[("0.60", "20")])  # Kalshi NO at 0.45: an arb
    await h.until(lambda: h.kinds().count(("result", "matched")) == 1)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from clients.kalshi import KalshiClient
from clients.kalshi.feed import KalshiFeed
from clients.polymarket import PolymarketClient
from clients.polymarket.feed import PolymarketFeed
from clients.polymarket.types import ApiCreds
from proxy.exchanges.upstream import Upstream
from proxy.record.mode import record_mode, session_info
from proxy.tape.fixture import session_files
from simulator.credentials import kalshi_test_credentials
from simulator.kalshi.config import DEFAULT_SECTION as KALSHI_DEFAULT
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT
from simulator.poly.config import HARDHAT_0
from simulator.server import RunningSimulator, start_simulator
from trader.decisions import Decision
from trader.engine import Engine
from trader.ledger import Ledger
from trader.pairs import PairsFile, parse_pairs
from trader.recovery import RecoveryPolicy, kalshi_positions, poly_positions

from .harness import PAPER_POLY_KEY, loopback_proxy, proxy_urls

KALSHI_MARKET = KALSHI_DEFAULT["markets"][0]
POLY_MARKET = POLY_DEFAULT["markets"][0]
TICKER = KALSHI_MARKET["ticker"]
CONDITION = POLY_MARKET["condition_id"]
POLY_YES = POLY_MARKET["tokens"][0]["token_id"]
POLY_NO = POLY_MARKET["tokens"][1]["token_id"]
STALE_AFTER = 0.5  # seconds: the harness's feeds ping four times as often, so only a fault makes a book stale
PATIENCE = 10.0  # seconds any wait may take before the harness gives up

# The simulator's first Kalshi market and first Polymarket market ask the same question ("same": Kalshi YES pays
# with the Polymarket YES token). Limits small enough for a scenario to reach them.
PAIRS = f"""
[[pairs]]
name = "ali"
kalshi_ticker = "{TICKER}"
poly_condition_id = "{CONDITION}"
poly_yes_token = "{POLY_YES}"
poly_no_token = "{POLY_NO}"
outcomes = "same"
poly_tick_size = "{POLY_MARKET["tick_size"]}"
poly_neg_risk = false
poly_fee_rate = "0"
poly_min_order_size = "{POLY_MARKET["min_order_size"]}"
min_edge = "0.01"
max_size = 10
max_position = 100

[risk]
stale_after_s = {STALE_AFTER}
cooldown_s = 1
max_exposure_usd = 50
"""
Levels = Sequence[tuple[str, str]]


def sim_state(key_id: str, public_pem: str, *, poly: dict[str, Any] | None = None) -> dict[str, Any]:
    """The simulator's default markets (no arb in them), the Kalshi key registered, feeds pinging often enough
    for `STALE_AFTER`, and Polymarket trades confirming (or failing) within seconds."""
    kalshi = copy.deepcopy(KALSHI_DEFAULT)
    kalshi["accounts"][0]["api_keys"] = {key_id: public_pem}
    kalshi["feed"] = {"ping_interval_s": STALE_AFTER / 4}
    section = copy.deepcopy(POLY_DEFAULT)
    section |= {"mined_after_s": 1, "confirmed_after_s": 2} | (poly or {})
    return {"kalshi": kalshi, "poly": section}


class Harness:
    """Simulator + recording proxy + engine (see the module doc). `async with` starts and stops the exchanges."""

    def __init__(
        self, name: str, workdir: Path, *, pairs: str = PAIRS, poly_settings: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self.workdir = workdir
        self.config: PairsFile = parse_pairs(pairs)
        self._poly_settings = poly_settings
        self.counts: Counter[str] = Counter()
        self.engine: Engine | None = None
        self.ledger: Ledger | None = None
        self.starts = 0
        self._task: asyncio.Task[str | None] | None = None
        self._closing: list[Any] = []
        self._session: aiohttp.ClientSession | None = None

    # -- exchanges and proxy -------------------------------------------------------------------

    async def __aenter__(self) -> Harness:
        self.key_id, self.private_key, public_pem = kalshi_test_credentials()
        self.sim: RunningSimulator = await start_simulator(sim_state(self.key_id, public_pem, poly=self._poly_settings))
        self._session = aiohttp.ClientSession()
        async with PolymarketClient(base_url=self.sim.poly_url, private_key=PAPER_POLY_KEY) as setup:
            self.poly_creds: ApiCreds = await setup.create_or_derive_api_key()
        upstreams = {
            "kalshi": Upstream("kalshi", self.sim.kalshi_url, False),
            "poly": Upstream("poly", self.sim.poly_url, False),
        }
        info = session_info(self.name, upstreams, "all", set(upstreams))
        self.session_dir = self.workdir / self.name
        mode = record_mode(self.session_dir, info, "all", [], self.counts)
        self._proxy = loopback_proxy(upstreams, mode, self.counts)
        await self._proxy.__aenter__()
        self.urls = proxy_urls(self._proxy)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None and not self._task.done():
            await self.kill_engine()
        await self._close_engine_resources()
        await self._proxy.__aexit__(None, None, None)
        if self._session is not None:
            await self._session.close()
        await self.sim.stop()

    # -- the engine ----------------------------------------------------------------------------

    def clients(self) -> tuple[Any, Any]:
        """Fresh clients (KalshiClient, PolymarketClient) through the recording proxy."""
        kalshi = KalshiClient(self.urls["kalshi"] + "/trade-api/v2", self.key_id, self.private_key)
        c = self.poly_creds
        poly = PolymarketClient(self.urls["poly"], PAPER_POLY_KEY, c.api_key, c.secret, c.passphrase)
        return kalshi, poly

    def feeds(self) -> tuple[KalshiFeed, PolymarketFeed]:
        """Fresh feeds on the simulator's WebSocket endpoints, books of the pairs' markets and the user channels."""
        stale = self.config.limits.stale_after_s
        kalshi = KalshiFeed(
            self.sim.kalshi_ws_url,
            self.key_id,
            self.private_key,
            markets=[p.kalshi_ticker for p in self.config.pairs],
            stale_after=stale,
            backoff=0.05,
        )
        poly = PolymarketFeed(
            self.sim.poly_ws_url,
            assets=[t for p in self.config.pairs for t in p.poly_tokens],
            creds=self.poly_creds,
            markets=[p.poly_condition_id for p in self.config.pairs],
            stale_after=stale,
            ping_interval=stale / 4,
            backoff=0.05,
        )
        return kalshi, poly

    async def start_engine(self, *, dry_run: bool = False, not_found_window: float = 0.5) -> Engine:
        """A new engine (new clients, feeds and ledger connection, the same ledger file); returns once it trades
        or stopped during recovery."""
        await self._close_engine_resources()
        kalshi, poly = self.clients()
        kalshi_feed, poly_feed = self.kalshi_feed, self.poly_feed = self.feeds()
        self.ledger = Ledger(self.workdir / f"{self.name}.sqlite")
        self._closing = [kalshi, poly, self.ledger]
        settle = RecoveryPolicy(not_found_window=not_found_window, recheck_delay=0.05)
        self.engine = Engine(
            self.config, kalshi, poly, kalshi_feed, poly_feed, self.ledger, dry_run=dry_run, settle=settle
        )
        self._task = asyncio.create_task(self.engine.run())
        self.starts += 1
        engine, task = self.engine, self._task
        await self.until(lambda: (engine.ready and self._books_ready()) or task.done())
        return engine

    @property
    def duplicates(self) -> int:
        """Frames the current engine's feeds dropped as repeats."""
        return self.kalshi_feed.duplicates + self.poly_feed.duplicates

    def _books_ready(self) -> bool:
        assert self.engine is not None
        pairs = self.config.pairs
        kalshi, poly = self.engine.feeds["kalshi"], self.engine.feeds["poly"]
        return all(kalshi.book(p.kalshi_ticker) for p in pairs) and all(
            poly.book(t) for p in pairs for t in p.poly_tokens
        )

    async def kill_engine(self) -> None:
        """Cut the engine off where it stands, as a crash would: its tasks are cancelled, nothing is booked after."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._close_engine_resources()

    async def stop_engine(self) -> str | None:
        """Stop the engine cleanly (arbs in flight finish); returns its kill-switch reason, if any."""
        assert self.engine is not None and self._task is not None
        self.engine.stop()
        return await self.stopped()

    async def stopped(self) -> str | None:
        """Wait for the engine to stop by itself (the kill switch) and return why."""
        assert self._task is not None
        return await asyncio.wait_for(asyncio.shield(self._task), PATIENCE)

    async def _close_engine_resources(self) -> None:
        for resource in self._closing:
            if isinstance(resource, Ledger):
                resource.close()
            else:
                await resource.close()
        self._closing = []

    # -- what a test reads ---------------------------------------------------------------------

    def decisions(self) -> list[Decision]:
        with Ledger(self.workdir / f"{self.name}.sqlite") as ledger:
            return ledger.decisions()

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, reason) of every decision but the in-flight skips (their number depends on timing)."""
        return [(d.kind, d.reason) for d in self.decisions() if d.reason != "in_flight"]

    def ledger_positions(self) -> dict[tuple[str, str], Decimal]:
        with Ledger(self.workdir / f"{self.name}.sqlite") as ledger:
            return {k: v for k, v in ledger.positions().items() if v}

    async def exchange_positions(self) -> dict[tuple[str, str], Decimal]:
        """Kalshi's positions endpoint and Polymarket's trades, read directly from the simulator (not recorded)."""
        kalshi: Any = KalshiClient(self.sim.kalshi_url + "/trade-api/v2", self.key_id, self.private_key)
        async with kalshi:
            held = {("kalshi", t): q for t, q in (await kalshi_positions(kalshi))[0].items()}
        c = self.poly_creds
        async with PolymarketClient(self.sim.poly_url, PAPER_POLY_KEY, c.api_key, c.secret, c.passphrase) as poly:
            tokens = [t for p in self.config.pairs for t in p.poly_tokens]
            held |= {("poly", t): q for t, q in (await poly_positions(poly, tokens))[0].items()}
        return {k: v for k, v in held.items() if v}

    def recorded(self) -> list[str]:
        """The recorded session's requests, `METHOD exchange path` in order."""
        return [f.name for f in session_files(self.session_dir)]

    async def until(self, condition: Callable[[], bool], timeout: float = PATIENCE) -> None:  # noqa: ASYNC109 - a harness wait, bounded by design
        """Poll `condition` (ledger rows and engine counters have no event of their own)."""
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - see above
                await asyncio.sleep(0.01)

    # -- the admin API: books, balances, faults, the clock -------------------------------------

    async def admin(self, exchange: str, path: str, body: Any) -> Any:
        assert self._session is not None
        base = self.sim.kalshi_url if exchange == "kalshi" else self.sim.poly_url
        async with self._session.post(base + path, json=body) as response:
            answer = await response.json(content_type=None)
            if response.status >= 300:
                raise RuntimeError(f"simulator admin {path}: HTTP {response.status}: {answer}")
            return answer

    async def kalshi_book(self, bids: Levels, asks: Levels, ticker: str = TICKER) -> None:
        """Set the Kalshi market maker's book in YES prices (asks go in as NO bids at 1 - price)."""
        book = {
            "yes_dollars": [[p, c] for p, c in bids],
            "no_dollars": [[f"{1 - Decimal(p):.4f}", c] for p, c in asks],
        }
        await self.admin("kalshi", "/__sim/kalshi/book", {"ticker": ticker} | book)

    async def poly_book(self, token: str, bids: Levels, asks: Levels) -> None:
        levels = {side: [{"price": p, "size": s} for p, s in lv] for side, lv in (("bids", bids), ("asks", asks))}
        await self.admin("poly", "/__sim/poly/book", {"token_id": token} | levels)

    async def move_poly_book(self, token: str, by: str) -> None:
        await self.admin("poly", "/__sim/poly/book/move", {"token_id": token, "by": by})

    async def poly_balance(self, balance: str) -> None:
        await self.admin("poly", "/__sim/poly/balance", {"address": HARDHAT_0, "balance": balance})

    async def fault(self, exchange: str, **spec: Any) -> None:
        """A REST fault (simulator/faults.py)."""
        await self.admin(exchange, "/__sim/faults", spec)

    async def feed_fault(self, exchange: str, **spec: Any) -> None:
        """A feed fault (simulator/feed_faults.py)."""
        await self.admin(exchange, "/__sim/feeds/faults", spec)

    async def advance(self, seconds: float) -> None:
        await self.admin("poly", "/__sim/clock/advance", {"seconds": seconds})
