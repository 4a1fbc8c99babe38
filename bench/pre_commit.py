"""The engine's CPU before an arb's commit, step by step: from `Engine.evaluate` on the book update that makes an arb
to both intents durable, per arb, with the real Polymarket signing and a real ledger on disk.

    .venv/bin/python bench/pre_commit.py [--arbs 400] [--ledger-dir DIR] [--profile out.prof]

The engine runs over in-memory exchanges (`trader.fakes`) whose Polymarket `build_order` is the real
`PolymarketClient.build_order` (EIP-712 signing, secp256k1), on the books of bench/tick_to_trade.py (a Kalshi NO at
0.45 against a Polymarket YES at 0.50, max_size 10). Each arb is taken by one `Engine.evaluate`, run to its result,
and the books are set again for the next. Each step is timed by a wrapper: CPU (this thread's, robust to load) and
wall (the fsync shows there), p50 / p90 in microseconds per arb. `commit` is the transaction's COMMIT alone (the
fsync); `record_intents` includes it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tick_to_trade import ASK, HARDHAT_0_KEY, POLY_ASKS, TRIGGER_BID, pairs_toml, ticker, token  # noqa: E402

import trader.engine  # noqa: E402 - after the path set-up above
from clients.feed import Feed  # noqa: E402
from clients.polymarket import PolymarketClient  # noqa: E402
from trader.engine import Engine  # noqa: E402
from trader.fakes import FakeKalshi, FakePoly, listed  # noqa: E402
from trader.ledger import Ledger  # noqa: E402
from trader.pairs import parse_pairs  # noqa: E402

YES, NO, TICKER = token(0, 0), token(0, 1), ticker(0)
STEPS = (  # (name, what it is), the order they start in
    ("evaluate", "Engine.evaluate on the arb-making update: everything below"),
    ("best_box", "trader.detect.best_box, all its calls for the arb"),
    ("size_and_take", "Engine._size_and_take: sizing, risk, the decision, launch_arb"),
    ("opportunity", "Engine.opportunity: the two legs"),
    ("build_order", "PolymarketClient.build_order: amounts, EIP-712 hash, signature"),
    ("record_intents", "Ledger.record_intents: both intents and the decision, one transaction"),
    ("commit", "the COMMIT alone (the fsync)"),
)


class BenchFeed(Feed):
    """A feed with no socket: the bench sets its books."""

    def __init__(self, exchange: str) -> None:
        super().__init__()
        self.exchange = exchange

    def set_book(self, market: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.local(market).replace(
            [(Decimal(p), Decimal(s)) for p, s in bids], [(Decimal(p), Decimal(s)) for p, s in asks]
        )
        self.updated(market)


class Timer:
    """Per-arb CPU and wall time of each wrapped step (summed over its calls within the arb)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.arbs: list[tuple[dict[str, float], dict[str, float], dict[str, int]]] = []
        self.running: set[str] = set()

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            self.running.add(name)
            try:
                return function(*args, **kwargs)
            finally:
                self.running.discard(name)
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - cpu
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed

    def next_arb(self) -> None:
        self.arbs.append((self.cpu, self.wall, self.calls))
        self.cpu, self.wall, self.calls = {}, {}, {}


class TimedCommit:
    """The ledger's connection with the COMMIT of `record_intents` timed (everything else passed through)."""

    def __init__(self, db: Any, timer: Timer) -> None:
        self._db, self._timer = db, timer
        self._commit = timer.wrap("commit", db.execute)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and "record_intents" in self._timer.running:
            return self._commit(sql, *args)
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def instrument(engine: Engine, poly: FakePoly, client: PolymarketClient, ledger: Ledger, timer: Timer) -> None:
    engine.evaluate = timer.wrap("evaluate", engine.evaluate)  # type: ignore[method-assign]
    engine._size_and_take = timer.wrap("size_and_take", engine._size_and_take)  # type: ignore[method-assign]
    engine.opportunity = timer.wrap("opportunity", engine.opportunity)  # type: ignore[method-assign]
    trader.engine.best_box = timer.wrap("best_box", trader.engine.best_box)
    poly.build_order = timer.wrap("build_order", client.build_order)  # type: ignore[method-assign]
    ledger.record_intents = timer.wrap("record_intents", ledger.record_intents)  # type: ignore[method-assign]
    ledger._db = TimedCommit(ledger._db, timer)  # type: ignore[assignment]


def set_books(kalshi: BenchFeed, poly: BenchFeed) -> None:
    """bench/tick_to_trade.py's arb: Kalshi YES bid 0.55 (a NO at 0.45) against the Polymarket YES ask 0.50."""
    poly.set_book(YES, [], [(POLY_ASKS[0], "1000")])
    poly.set_book(NO, [], [("0.55", "1000")])
    kalshi.set_book(TICKER, [(TRIGGER_BID, "10")], [(ASK, "10")])


async def run(args: argparse.Namespace) -> Timer:
    ledger_dir = Path(tempfile.mkdtemp(prefix="tradetape-precommit-", dir=args.ledger_dir))
    client = PolymarketClient("http://127.0.0.1:9", HARDHAT_0_KEY, "key", "c2VjcmV0", "pass")
    config = parse_pairs(pairs_toml(1))
    kalshi, poly = FakeKalshi(), FakePoly(markets=listed(config.pairs))
    kfeed, pfeed = BenchFeed("kalshi"), BenchFeed("poly")
    timer = Timer()
    with Ledger(ledger_dir / "bot.sqlite") as ledger:
        engine = Engine(config, kalshi, poly, kfeed, pfeed, ledger)
        await engine.check_markets()  # as run() does before the feeds start: the pair is cleared to trade
        instrument(engine, poly, client, ledger, timer)
        engine.ready = True
        pair = engine.pairs[0]
        profile = cProfile.Profile() if args.profile else None
        for i in range(args.warmup + args.arbs):
            set_books(kfeed, pfeed)
            for feed in (kfeed, pfeed):
                while not feed.events.empty():
                    feed.events.get_nowait()
            if profile is not None and i >= args.warmup:
                profile.enable()
            engine.evaluate(pair)
            if profile is not None:
                profile.disable()
            if engine.decisions and engine.risk.killed is not None:
                raise SystemExit(f"the engine stopped: {engine.risk.killed}")
            await engine._idle.wait()
            await asyncio.sleep(0)  # the arb's decision recorded, its wait set
            if i >= args.warmup:
                timer.next_arb()
            else:
                timer.cpu, timer.wall, timer.calls = {}, {}, {}
        taken = sum(1 for d in ledger.decisions() if d.kind == "taken")
        if taken != args.warmup + args.arbs:
            raise SystemExit(f"{taken} arbs taken of {args.warmup + args.arbs}: the bench did not measure what it says")
        if profile is not None:
            profile.dump_stats(args.profile)
    return timer


def report(args: argparse.Namespace, timer: Timer, load: tuple[float, float, float]) -> None:
    print(f"pre-commit CPU per arb, {len(timer.arbs)} arbs (after {args.warmup} warm-up); {os.cpu_count()} CPUs,")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; microseconds, p50 / p90")
    print(f"  {'step':<15} {'calls':>5} {'CPU p50':>8} {'CPU p90':>8} {'wall p50':>9} {'wall p90':>9}")
    for name, what in STEPS:
        cpu = [c.get(name, 0.0) * 1e6 for c, _, _ in timer.arbs]
        wall = [w.get(name, 0.0) * 1e6 for _, w, _ in timer.arbs]
        calls = quantile([n.get(name, 0) for _, _, n in timer.arbs], 0.5)
        print(
            f"  {name:<15} {calls:>5} {quantile(cpu, 0.5):8.0f} {quantile(cpu, 0.9):8.0f}"
            f" {quantile(wall, 0.5):9.0f} {quantile(wall, 0.9):9.0f}  {what}"
        )
    rest = [(c["record_intents"] - c["commit"]) * 1e6 for c, _, _ in timer.arbs]
    print(
        f"  record_intents without its COMMIT: CPU p50 {quantile(rest, 0.5):.0f} us, p90 {quantile(rest, 0.9):.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arbs", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--ledger-dir", help="where the ledger's temporary directory goes (default: the system's)")
    parser.add_argument("--profile", help="write a cProfile of the measured evaluations to this file")
    args = parser.parse_args()
    load = os.getloadavg()
    timer = asyncio.run(run(args))
    report(args, timer, load)


if __name__ == "__main__":
    main()
