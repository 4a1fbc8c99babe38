"""The injection harness: the paper exchanges (REST and WebSocket), the recording proxy and the arb engine in one
process, driven the way a market moves; and the same script replayed from the recording with no exchange at all.

A test or scenario sets and moves books through the simulator's admin API, so every price change reaches the
engine through the real feeds; arms REST and feed faults; waits for the engine's decisions, orders and fills; kills
the engine (every task it started is cancelled, as a crash would cut them) and starts a new one on the same
ledger; and reads the ledger, the exchanges' positions and the recorded session.

Everything goes through the proxy: the engine's REST and both feeds, and the harness's own admin calls and
position reads. Capturing (`Harness(name, fixtures_dir)`), the proxy records all of it into
`<fixtures_dir>/<name>/` on one session clock. Replaying (`replay=True`), the proxy answers from that session,
`causal`: an exchange frame recorded after one of the harness's admin answers (the book it set) goes out only once
the replaying script has made that call again, so the same script makes the engine see the same events in the
same order. The replayed feeds send no keepalives, so a replay raises the engine's `stale_after_s` (a quiet
replayed feed is not a silent exchange) unless the scenario is about staleness.

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
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from clients.kalshi import KalshiClient
from clients.kalshi.feed import KalshiFeed
from clients.polymarket import PolymarketClient
from clients.polymarket.feed import PolymarketFeed
from proxy.exchanges.upstream import Upstream
from proxy.record.mode import record_mode, session_info
from proxy.replay.replayer import ReplayOptions, find_replayer, replay_mode
from proxy.replay.volatile import volatile_sets
from proxy.tape.stored import session_fixtures
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

from .harness import PAPER_POLY_KEY, REPLAY_ONLY, loopback_proxy, proxy_urls, throwaway_credentials

KALSHI_MARKET = KALSHI_DEFAULT["markets"][0]
POLY_MARKET = POLY_DEFAULT["markets"][0]
TICKER = KALSHI_MARKET["ticker"]
CONDITION = POLY_MARKET["condition_id"]
POLY_YES = POLY_MARKET["tokens"][0]["token_id"]
POLY_NO = POLY_MARKET["tokens"][1]["token_id"]
STALE_AFTER = 0.5  # seconds: the harness's feeds ping four times as often, so only a fault makes a book stale
REPLAY_STALE_AFTER = 60.0  # a replay sends no keepalives: quiet is not silence there
PING_INTERVAL = 5.0  # Polymarket's text PING, at most this far apart
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


def sim_state(key_id: str, public_pem: str) -> dict[str, Any]:
    """The simulator's default markets (no arb in them), the Kalshi key registered, feeds pinging often enough
    for `STALE_AFTER`, and Polymarket trades confirming (or failing) within seconds."""
    kalshi = copy.deepcopy(KALSHI_DEFAULT)
    kalshi["accounts"][0]["api_keys"] = {key_id: public_pem}
    kalshi["feed"] = {"ping_interval_s": STALE_AFTER / 4}
    section = copy.deepcopy(POLY_DEFAULT)
    section |= {"mined_after_s": 1, "confirmed_after_s": 2}
    return {"kalshi": kalshi, "poly": section}


class Harness:
    """Simulator + recording proxy + engine, or the replay of such a session (see the module doc)."""

    def __init__(
        self,
        name: str,
        fixtures_dir: Path,
        *,
        replay: bool = False,
        pairs: str = PAIRS,
        replay_stale_after: float = REPLAY_STALE_AFTER,
    ) -> None:
        self.name = name
        self.fixtures_dir = fixtures_dir
        self.session_dir = fixtures_dir / name
        self.replaying = replay
        config = parse_pairs(pairs)
        if replay:
            config = replace(config, limits=replace(config.limits, stale_after_s=replay_stale_after))
        self.config: PairsFile = config
        self.counts: Counter[str] = Counter()
        self.engine: Engine | None = None
        self.starts = 0
        self._task: asyncio.Task[str | None] | None = None
        self._closing: list[Any] = []
        self._ledger_dir = tempfile.TemporaryDirectory(prefix=f"tradetape-{name}-")
        self.ledger_path = Path(self._ledger_dir.name) / "ledger.sqlite"
        self.sim: RunningSimulator | None = None

    # -- exchanges and proxy -------------------------------------------------------------------

    async def __aenter__(self) -> Harness:
        if self.replaying:
            creds = throwaway_credentials()
            assert creds.poly_creds is not None
            self.key_id, self.private_key, self.poly_creds = creds.kalshi_key_id, creds.kalshi_key, creds.poly_creds
            options = ReplayOptions(causal_timeout=PATIENCE)
            mode = replay_mode([self.name], self.fixtures_dir, volatile_sets(), options, self.counts)
            upstreams = REPLAY_ONLY
        else:
            self.key_id, self.private_key, public_pem = kalshi_test_credentials()
            self.sim = await start_simulator(sim_state(self.key_id, public_pem))
            async with PolymarketClient(base_url=self.sim.poly_url, private_key=PAPER_POLY_KEY) as setup:
                self.poly_creds = await setup.create_or_derive_api_key()  # setup, straight to the exchange
            upstreams = {
                "kalshi": Upstream("kalshi", self.sim.kalshi_url, False),
                "poly": Upstream("poly", self.sim.poly_url, False),
            }
            shutil.rmtree(self.session_dir, ignore_errors=True)
            info = session_info(self.name, upstreams, "all", set(upstreams))
            # sim_admin: the harness's own book moves and faults are replayed in order (the causal clock needs them)
            mode = record_mode(self.session_dir, info, "all", [], self.counts, sim_admin=True)
        self._proxy = loopback_proxy(upstreams, mode, self.counts)
        await self._proxy.start()
        self.urls = proxy_urls(self._proxy)
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._task is not None and not self._task.done():
                await self.kill_engine()
            await self._close_engine_resources()
            await self._http.close()
            await self._proxy.stop(grace=2)
        finally:
            if self.sim is not None:
                await self.sim.stop()
            self._ledger_dir.cleanup()

    def replay_problems(self) -> list[str]:
        """What the replay did not match or never used (empty when capturing, or when the replay was exact)."""
        replayer = find_replayer(self._proxy.mode)
        return replayer.problems() if replayer is not None else []

    # -- the engine ----------------------------------------------------------------------------

    def clients(self) -> tuple[Any, Any]:
        """Fresh clients (KalshiClient, PolymarketClient) through the proxy."""
        kalshi = KalshiClient(self.urls["kalshi"] + "/trade-api/v2", self.key_id, self.private_key)
        c = self.poly_creds
        poly = PolymarketClient(self.urls["poly"], PAPER_POLY_KEY, c.api_key, c.secret, c.passphrase)
        return kalshi, poly

    def feeds(self) -> tuple[KalshiFeed, PolymarketFeed]:
        """Fresh feeds through the proxy: books of the pairs' markets and the user channels."""
        stale = self.config.limits.stale_after_s
        kalshi = KalshiFeed(
            "ws" + self.urls["kalshi"].removeprefix("http") + "/trade-api/ws/v2",
            self.key_id,
            self.private_key,
            markets=[p.kalshi_ticker for p in self.config.pairs],
            stale_after=stale,
            backoff=0.05,
        )
        poly = PolymarketFeed(
            "ws" + self.urls["poly"].removeprefix("http") + "/ws",
            assets=[t for p in self.config.pairs for t in p.poly_tokens],
            creds=self.poly_creds,
            markets=[p.poly_condition_id for p in self.config.pairs],
            stale_after=stale,
            ping_interval=min(stale / 4, PING_INTERVAL),
            backoff=0.05,
        )
        return kalshi, poly

    async def start_engine(self, *, dry_run: bool = False) -> Engine:
        """A new engine (new clients, feeds and ledger connection, the same ledger file); returns once it trades
        with every book in hand, or stopped during recovery."""
        await self._close_engine_resources()
        kalshi, poly = self.clients()
        self.kalshi_feed, self.poly_feed = self.feeds()
        ledger = Ledger(self.ledger_path)
        self._closing = [kalshi, poly, ledger]
        settle = RecoveryPolicy(not_found_window=PATIENCE, recheck_delay=0.05)
        self.engine = Engine(
            self.config, kalshi, poly, self.kalshi_feed, self.poly_feed, ledger, dry_run=dry_run, settle=settle
        )
        task = self._task = asyncio.create_task(self.engine.run())
        self.starts += 1
        engine = self.engine
        await self.until(lambda: (engine.ready and self._books_ready()) or task.done())
        return engine

    @property
    def duplicates(self) -> int:
        """Frames the current engine's feeds dropped as repeats."""
        return self.kalshi_feed.duplicates + self.poly_feed.duplicates

    def _books_ready(self) -> bool:
        pairs = self.config.pairs
        kalshi, poly = self.kalshi_feed, self.poly_feed
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

    async def finish(self) -> None:
        """The end of a script: the engine, if still running, is cut off (the same way in capture and replay)."""
        if self._task is not None and not self._task.done():
            await self.kill_engine()
        await self._close_engine_resources()

    async def stop_engine(self) -> str | None:
        """Stop the engine cleanly (arbs in flight finish); returns its kill-switch reason, if any."""
        assert self.engine is not None
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

    def ledger(self) -> Ledger:
        """A connection of its own to the engine's ledger file (close it, or use `with`)."""
        return Ledger(self.ledger_path)

    def decisions(self) -> list[Decision]:
        with self.ledger() as ledger:
            return ledger.decisions()

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, reason) of every decision but the in-flight skips (their number depends on timing)."""
        return [(d.kind, d.reason) for d in self.decisions() if d.reason != "in_flight"]

    def ledger_positions(self) -> dict[tuple[str, str], Decimal]:
        with self.ledger() as ledger:
            return {k: v for k, v in ledger.positions().items() if v}

    async def exchange_positions(self) -> dict[tuple[str, str], Decimal]:
        """Kalshi's positions endpoint and Polymarket's trades, read through the proxy (recorded, then replayed)."""
        kalshi, poly = self.clients()
        async with kalshi, poly:
            held = {("kalshi", t): q for t, q in (await kalshi_positions(kalshi))[0].items()}
            tokens = [t for p in self.config.pairs for t in p.poly_tokens]
            held |= {("poly", t): q for t, q in (await poly_positions(poly, tokens))[0].items()}
        return {k: v for k, v in held.items() if v}

    def recorded(self) -> list[str]:
        """The session's REST fixtures (and WebSocket handshakes), in order: files, and the journal while it records."""
        return [f.path.name for f in session_fixtures(self.session_dir)]

    async def until(self, condition: Callable[[], bool], timeout: float = PATIENCE) -> None:  # noqa: ASYNC109 - a harness wait, bounded by design
        """Poll `condition` (ledger rows and engine counters have no event of their own)."""
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - see above
                await asyncio.sleep(0.01)

    # -- the admin API, through the proxy: books, balances, faults, the clock ------------------

    async def admin(self, exchange: str, path: str, body: Any) -> Any:
        async with self._http.post(self.urls[exchange] + path, json=body) as response:
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
