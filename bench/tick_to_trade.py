"""Tick-to-trade of the arb engine on loopback: from the book frame that makes an arb arriving at the feed client to
both orders' bytes written to their sockets (Kalshi's RSA signature and Polymarket's EIP-712 signature included),
p50/p99 in one run, with the feeds carrying 1,000 book updates a second across 50 pairs; and what detection
costs per book update.

    .venv/bin/python bench/tick_to_trade.py [--seconds 20] [--pairs 50] [--rate 1000] [--arbs 10]

Two processes. The paper exchanges run in a child process (`--serve`) that also drives their books: `--rate`
Polymarket requotes a second spread over the pairs (each one `price_change` frame, never an arb), and `--arbs`
times a second a Kalshi requote that opens an arb on one pair (its YES bid to 0.55: a NO at 0.45 against the
Polymarket YES ask at 0.50), put back 0.2 s later. The engine runs in this process on the real clients and feeds, its
ledger on disk (every intent is fsynced before its order goes out, as in production). The probes: the time each
arb-making frame reaches the feed socket's reader, the time aiohttp has written each order request (its trace
hook after the body), and the time `Engine.evaluate` takes on every book update.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clients.kalshi import KalshiClient  # noqa: E402 - after the path set-up above
from clients.kalshi.feed import KalshiFeed  # noqa: E402
from clients.polymarket import PolymarketClient  # noqa: E402
from clients.polymarket.feed import PolymarketFeed  # noqa: E402
from simulator.credentials import kalshi_test_credentials  # noqa: E402
from simulator.poly.config import HARDHAT_0, Level  # noqa: E402
from trader.engine import Engine  # noqa: E402
from trader.ledger import Ledger  # noqa: E402
from trader.pairs import parse_pairs  # noqa: E402

HARDHAT_0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
TRIGGER_BID = "0.5500"  # the Kalshi YES bid that opens an arb; never used otherwise
QUIET_BID, ASK = "0.40", "0.60"  # Kalshi YES quotes with no arb
POLY_ASKS = ("0.50", "0.51")  # the Polymarket YES ask, alternating (no arb against a NO at 0.60)


def ticker(i: int) -> str:
    return f"KXTICK-26DEC31-M{i:03d}"


def token(i: int, outcome: int) -> str:
    return str(10**70 + 2 * i + outcome)


def condition(i: int) -> str:
    return "0x" + f"{i:064x}"


def state(pairs: int, public_pem: str, key_id: str) -> dict[str, Any]:
    kalshi = [
        {"ticker": ticker(i), "book": {"yes_dollars": [[QUIET_BID, "10"]], "no_dollars": [["0.40", "10"]]}}
        for i in range(pairs)
    ]
    poly = [
        {
            "condition_id": condition(i),
            "tokens": [
                {"token_id": token(i, 0), "outcome": "Yes", "asks": [{"price": POLY_ASKS[0], "size": "1000"}]},
                {"token_id": token(i, 1), "outcome": "No", "asks": [{"price": "0.55", "size": "1000"}]},
            ],
        }
        for i in range(pairs)
    ]
    return {
        "kalshi": {
            "markets": kalshi,
            "accounts": [{"name": "default", "balance": "100000000.00", "api_keys": {key_id: public_pem}}],
            "feed": {"ping_interval_s": 5},
        },
        "poly": {"markets": poly, "accounts": [{"address": HARDHAT_0, "balance": "100000000"}]},
    }


def pairs_toml(pairs: int) -> str:
    tables = [
        f"""[[pairs]]
name = "p{i:03d}"
kalshi_ticker = "{ticker(i)}"
poly_condition_id = "{condition(i)}"
poly_yes_token = "{token(i, 0)}"
poly_no_token = "{token(i, 1)}"
outcomes = "same"
poly_tick_size = "0.01"
poly_neg_risk = false
poly_fee_rate = "0"
min_edge = "0.01"
max_size = 10
max_position = 1000000
"""
        for i in range(pairs)
    ]
    risk = "[risk]\nmax_exposure_usd = 1000000\nmax_failures = 1000000\ncooldown_s = 0\ndaily_loss_usd = 1000000\n"
    return "\n".join(tables) + risk


# ---- the exchanges' process -------------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    """Start the paper exchanges, print their URLs, drive the books until killed."""
    from simulator import start_simulator
    from simulator.kalshi import EXCHANGE as KALSHI_EXCHANGE
    from simulator.poly import EXCHANGE as POLY_EXCHANGE

    sim = await start_simulator(args.state)
    print(json.dumps({"kalshi": sim.kalshi_url, "poly": sim.poly_url}), flush=True)
    kalshi = sim.kalshi_app[KALSHI_EXCHANGE].exchange
    poly = sim.poly_app[POLY_EXCHANGE]
    asks = [(Decimal(ASK), Decimal(10))]
    rng = random.Random(1)
    tick, requotes, next_arb = 0.01, 0, time.perf_counter() + 1.0
    loop = asyncio.get_running_loop()
    while True:
        started = time.perf_counter()
        for _ in range(max(1, int(args.rate * tick))):  # this tick's share of the Polymarket requotes
            i = rng.randrange(args.pairs)
            price = Decimal(POLY_ASKS[requotes % 2])
            poly.set_book(token(i, 0), [], [Level(price, Decimal(1000))])
            requotes += 1
        if started >= next_arb:
            i = rng.randrange(args.pairs)
            kalshi.set_book(ticker(i), [(Decimal(TRIGGER_BID), Decimal(10))], asks)
            loop.call_later(0.2, kalshi.set_book, ticker(i), [(Decimal(QUIET_BID), Decimal(10))], asks)
            next_arb += 1 / args.arbs
        await asyncio.sleep(max(0.0, tick - (time.perf_counter() - started)))


# ---- the engine's process ---------------------------------------------------------------------------------------


class Probes:
    """When arb-making frames arrived, when order requests were written, how long each evaluation took."""

    def __init__(self) -> None:
        self.triggers: dict[str, list[float]] = {}  # ticker -> arrival times of its arb-making frames
        self.writes: list[tuple[float, str, str]] = []  # (time, exchange, ticker or token)
        self.evaluations: list[float] = []
        self.taken: dict[str, list[float]] = {}  # ticker -> when the engine decided to take an arb on it

    def watch_frames(self, feed: KalshiFeed) -> None:
        for socket in feed._sockets:
            original = socket._receive

            def receive(text: str, original: Any = original) -> None:
                if TRIGGER_BID in text and '"side":"yes"' in text and '"delta_fp":"10.00"' in text:
                    market = orjson.loads(text)["msg"]["market_ticker"]
                    self.triggers.setdefault(market, []).append(time.perf_counter())
                original(text)

            socket._receive = receive  # type: ignore[method-assign]  # a bench probe

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def written(session: Any, context: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
            now = time.perf_counter()
            if params.method != "POST" or not params.chunk:
                return
            body = orjson.loads(params.chunk)
            if "ticker" in body:
                self.writes.append((now, "kalshi", body["ticker"]))
            elif "order" in body:
                self.writes.append((now, "poly", body["order"]["tokenId"]))

        config.on_request_chunk_sent.append(written)
        return config

    def time_evaluations(self, engine: Engine) -> None:
        original = engine.evaluate
        decide = engine.decide
        tickers = {p.name: p.kalshi_ticker for p in engine.pairs}

        def decided(decision: Any) -> None:
            if decision.kind == "taken":
                self.taken.setdefault(tickers[decision.pair], []).append(time.perf_counter())
            decide(decision)

        engine.decide = decided  # type: ignore[method-assign]  # a bench probe

        def evaluate(pair: Any) -> None:
            started = time.perf_counter()
            original(pair)
            self.evaluations.append(time.perf_counter() - started)

        engine.evaluate = evaluate  # type: ignore[method-assign]  # a bench probe

    def tick_to_trade(self, pairs: int) -> list[tuple[float, float]]:
        """For each arb: (frame -> decision, frame -> the later of its two order writes)."""
        pair_of = {ticker(i): i for i in range(pairs)} | {token(i, 0): i for i in range(pairs)}
        pending: dict[int, dict[str, float]] = {}
        samples = []
        for when, exchange, market in sorted(self.writes):
            i = pair_of[market]
            pending.setdefault(i, {})[exchange] = when
            if len(pending[i]) == 2:
                written = max(pending.pop(i).values())
                opened = [t for t in self.triggers.get(ticker(i), []) if t <= written]
                decided = [t for t in self.taken.get(ticker(i), []) if t <= written]
                if opened and decided and decided[-1] >= opened[-1]:
                    samples.append((decided[-1] - opened[-1], written - opened[-1]))
        return samples


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> None:
    key_id, private_key, public_pem = kalshi_test_credentials()
    workdir = Path(tempfile.mkdtemp(prefix="tradetape-tick-"))
    (workdir / "state.json").write_text(json.dumps(state(args.pairs, public_pem, key_id)))
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(workdir / "state.json"), "--pairs", str(args.pairs),
        "--rate", str(args.rate), "--arbs", str(args.arbs), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    urls = json.loads(await child.stdout.readline())
    probes = Probes()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    load_before = os.getloadavg()
    try:
        async with aiohttp.ClientSession(trace_configs=[probes.trace()]) as http:
            kalshi = KalshiClient(urls["kalshi"] + "/trade-api/v2", key_id, pem, session=http)
            poly = PolymarketClient(urls["poly"], HARDHAT_0_KEY, session=http)
            creds = await poly.create_or_derive_api_key()
            poly = PolymarketClient(
                urls["poly"], HARDHAT_0_KEY, creds.api_key, creds.secret, creds.passphrase, session=http
            )
            config = parse_pairs(pairs_toml(args.pairs))
            kalshi_feed = KalshiFeed(
                "ws" + urls["kalshi"].removeprefix("http") + "/trade-api/ws/v2",
                key_id, pem, markets=[ticker(i) for i in range(args.pairs)], book_events=True,
            )  # fmt: skip
            poly_feed = PolymarketFeed(
                "ws" + urls["poly"].removeprefix("http") + "/ws",
                assets=[token(i, o) for i in range(args.pairs) for o in (0, 1)],
            )
            probes.watch_frames(kalshi_feed)
            with Ledger(Path(args.ledger_dir or workdir) / "bot.sqlite") as ledger:
                engine = Engine(config, kalshi, poly, kalshi_feed, poly_feed, ledger)
                probes.time_evaluations(engine)
                task = asyncio.create_task(engine.run())
                await asyncio.sleep(args.seconds)
                engine.stop()
                await asyncio.wait_for(task, 60)
                decisions = ledger.decisions()
    finally:
        child.kill()
        await child.wait()
    load_after = os.getloadavg()
    report(args, probes, decisions, load_before, load_after)


def report(args: argparse.Namespace, probes: Probes, decisions: list[Any], before: Any, after: Any) -> None:
    samples = probes.tick_to_trade(args.pairs)
    taken = sum(1 for d in decisions if d.kind == "taken")
    results = [d for d in decisions if d.kind == "result"]
    evaluations = probes.evaluations
    print(f"tick-to-trade, {args.seconds:g} s, {args.pairs} pairs, {args.rate:g} Polymarket book updates/s,")
    print(f"  {args.arbs:g} arbs opened/s on Kalshi; {os.cpu_count()} CPUs")
    print(f"  load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, after {after[0]:.2f} {after[1]:.2f}")
    print(f"  book updates evaluated: {len(evaluations)} ({len(evaluations) / args.seconds:.0f}/s)")
    print(f"  arbs taken {taken}, results {len(results)} ({sum(r.reason == 'matched' for r in results)} matched)")
    if samples:
        to_decision = [d * 1000 for d, _ in samples]
        ms = [w * 1000 for _, w in samples]
        print(
            f"  tick-to-trade over {len(ms)} arbs: p50 {quantile(ms, 0.5):.2f} ms, p99 {quantile(ms, 0.99):.2f} ms,"
            f" max {max(ms):.2f} ms (targets: p50 <= 2 ms, p99 <= 10 ms)"
        )
        print(
            f"    of which frame -> decision: p50 {quantile(to_decision, 0.5):.2f} ms,"
            f" p99 {quantile(to_decision, 0.99):.2f} ms; decision -> both written (two fsynced intents,"
            f" two signatures): p50 {quantile([w - d for d, w in zip(to_decision, ms, strict=True)], 0.5):.2f} ms"
        )
    if evaluations:
        us = [e * 1e6 for e in evaluations]
        print(
            "  detection per book update (Engine.evaluate: both boxes, sizing, risk):"
            f" mean {statistics.fmean(us):.0f} us, p50 {quantile(us, 0.5):.0f} us, p99 {quantile(us, 0.99):.0f} us"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000.0, help="Polymarket book updates per second, all pairs")
    parser.add_argument("--arbs", type=float, default=10.0, help="arbs opened per second")
    parser.add_argument("--ledger-dir", help="where the ledger lives (default: a temporary directory on disk)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        args.state = json.loads(Path(args.serve).read_text())
    asyncio.run(serve(args) if args.serve else run(args))


if __name__ == "__main__":
    main()
