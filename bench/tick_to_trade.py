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
arb-making frame reaches the feed socket's reader, the time each order's bytes were handed to the kernel (on the
order lane, `clients.lane`: when its `transport.write` returned; an order that found no lane connection idle goes
by aiohttp: its trace hook after the body), and the time `Engine.evaluate` takes on every book update.
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
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trader.engine  # noqa: E402
from clients.kalshi import KalshiClient  # noqa: E402 - after the path set-up above
from clients.kalshi.feed import KalshiFeed  # noqa: E402
from clients.lane import Lane  # noqa: E402
from clients.polymarket import PolymarketClient  # noqa: E402
from clients.polymarket.feed import PolymarketFeed  # noqa: E402
from simulator.credentials import kalshi_test_credentials  # noqa: E402
from simulator.poly.config import HARDHAT_0, Level  # noqa: E402
from trader.arb import launch_arb  # noqa: E402
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
    """Start the paper exchanges, print their URLs, drive the books until killed, and print what was sent once a
    second (one JSON line: the parent reads the last)."""
    from simulator import start_simulator
    from simulator.kalshi import EXCHANGE as KALSHI_EXCHANGE
    from simulator.poly import EXCHANGE as POLY_EXCHANGE

    sim = await start_simulator(args.state)
    print(json.dumps({"kalshi": sim.kalshi_url, "poly": sim.poly_url}), flush=True)
    kalshi = sim.kalshi_app[KALSHI_EXCHANGE].exchange
    poly = sim.poly_app[POLY_EXCHANGE]
    asks = [(Decimal(ASK), Decimal(10))]
    rng = random.Random(1)
    flips = [0] * args.pairs  # each requote moves its token's ask to the other price, so each one is a frame
    requotes = arbs = 0
    loop = asyncio.get_running_loop()
    started = next_report = time.perf_counter()
    next_arb = started + 1.0
    while True:
        now = time.perf_counter()
        for _ in range(int(args.rate * (now - started)) - requotes):  # catch up with the schedule
            i = rng.randrange(args.pairs)
            flips[i] += 1
            poly.set_book(token(i, 0), [], [Level(Decimal(POLY_ASKS[flips[i] % 2]), Decimal(1000))])
            requotes += 1
        if now >= next_arb:
            i = rng.randrange(args.pairs)
            kalshi.set_book(ticker(i), [(Decimal(TRIGGER_BID), Decimal(10))], asks)
            loop.call_later(0.2, kalshi.set_book, ticker(i), [(Decimal(QUIET_BID), Decimal(10))], asks)
            next_arb += 1 / args.arbs
            arbs += 1
        if now >= next_report:
            print(json.dumps({"requotes": requotes, "arbs": arbs, "seconds": now - started}), flush=True)
            next_report += 1.0
        await asyncio.sleep(0.002)


# ---- the engine's process ---------------------------------------------------------------------------------------


MILESTONES = (  # (name, what it is), in the order an arb usually meets them
    ("evaluate", "the engine starts evaluating the pair (the frame's event out of the queue)"),
    ("taken", "the decision to take it (detection, sizing, risk done)"),
    ("signed", "the Polymarket order signed (EIP-712)"),
    ("durable", "both intents committed (fsync)"),
    ("kalshi_request", "the Kalshi request started (on the lane: its write called; else aiohttp's request)"),
    ("poly_request", "the Polymarket request started (as Kalshi's)"),
    ("kalshi_written", "the Kalshi order's bytes written"),
    ("poly_written", "the Polymarket order's bytes written"),
    ("first_written", "the first order's bytes written"),
    ("written", "both orders' bytes written"),
)


class Probes:
    """Time stamps on the engine's path: frames received, evaluations, decisions, intents made durable, orders
    signed, requests started and written; the feeds' event queues; the process's CPU time."""

    def __init__(self) -> None:
        self.triggers: dict[str, list[float]] = {}  # ticker -> arrival times of its arb-making frames
        self.frames = {"kalshi": 0, "poly": 0}
        self.marks: dict[str, list[tuple[float, str]]] = {}  # ticker -> (time, milestone) on that pair's arbs
        self.writes: list[tuple[float, str, str]] = []  # (time, exchange, ticker or token) of entry orders
        self.paths: Counter[str] = Counter()  # entry orders written by the order lane / by aiohttp (no idle lane)
        self.evaluations: list[float] = []
        self.depths: list[int] = []  # events waiting in both queues when the engine takes the next one
        self.cpu: list[float] = []  # process CPU time at the start and end of the window
        self.window: list[float] = []
        self._evaluating = 0.0
        self._cpu_at: dict[float, float] = {}  # a stamp's wall time -> the loop thread's CPU time then
        self._ticker: dict[str, str] = {}  # ticker or token -> the pair's ticker

    def attach(self, engine: Engine, kalshi_feed: KalshiFeed, poly_feed: PolymarketFeed) -> None:
        self._ticker = {p.kalshi_ticker: p.kalshi_ticker for p in engine.pairs} | {
            t: p.kalshi_ticker for p in engine.pairs for t in p.poly_tokens
        }
        self._watch_frames(kalshi_feed, poly_feed)
        self._watch_engine(engine)

    def start(self) -> None:
        self.cpu, self.window = [time.process_time()], [time.perf_counter()]
        self.frames = {"kalshi": 0, "poly": 0}
        self.evaluations.clear()
        self.depths.clear()

    def stop(self) -> None:
        self.cpu.append(time.process_time())
        self.window.append(time.perf_counter())

    def stamp(self) -> float:
        """perf_counter now, remembering the thread's CPU time with it (load-proof: no time spent descheduled)."""
        now = time.perf_counter()
        self._cpu_at[now] = time.thread_time()
        return now

    def mark(self, instrument: str, milestone: str) -> None:
        self.marks.setdefault(self._ticker[instrument], []).append((self.stamp(), milestone))

    def _watch_frames(self, kalshi_feed: KalshiFeed, poly_feed: PolymarketFeed) -> None:
        for exchange, feed in (("kalshi", kalshi_feed), ("poly", poly_feed)):
            for socket in feed._sockets:
                original = socket._receive

                def receive(text: str, original: Any = original, exchange: str = exchange) -> None:
                    if (
                        exchange == "kalshi"
                        and TRIGGER_BID in text
                        and '"side":"yes"' in text
                        and '"delta_fp":"10.00"' in text
                    ):
                        market = orjson.loads(text)["msg"]["market_ticker"]
                        self.triggers.setdefault(market, []).append(self.stamp())
                    self.frames[exchange] += text != "PONG"
                    original(text)

                socket._receive = receive  # type: ignore[method-assign]  # a bench probe

    def _watch_engine(self, engine: Engine) -> None:
        evaluate, on_event = engine.evaluate, engine.on_event

        def timed_evaluate(pair: Any) -> None:
            self._evaluating = started = self.stamp()
            evaluate(pair)
            self.evaluations.append(time.perf_counter() - started)

        def launching(kalshi: Any, poly: Any, opportunity: Any, *args: Any, **kwargs: Any) -> Any:
            """The decision to take the arb: launch_arb called (its orders are written before it returns)."""
            ticker = opportunity.kalshi.instrument
            self.marks.setdefault(ticker, []).extend([(self._evaluating, "evaluate"), (self.stamp(), "taken")])
            return launch_arb(kalshi, poly, opportunity, *args, **kwargs)

        def event(item: Any) -> None:
            self.depths.append(sum(feed.events.qsize() for feed in engine.feeds.values()))
            on_event(item)

        engine.evaluate, engine.on_event = timed_evaluate, event  # type: ignore[method-assign]
        trader.engine.launch_arb = launching  # type: ignore[assignment]  # a bench probe
        self._wrap_ledger(engine.ledger)
        build = engine.poly.build_order

        def build_order(token_id: str, *args: Any, **kwargs: Any) -> Any:
            signed = build(token_id, *args, **kwargs)
            self.mark(token_id, "signed")
            return signed

        engine.poly.build_order = build_order  # type: ignore[method-assign]

    def _wrap_ledger(self, ledger: Ledger) -> None:
        for name in ("record_intent", "record_intents"):
            original = getattr(ledger, name, None)
            if original is None:
                continue

            def recorded(*args: Any, original: Any = original, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                legs = [leg for leg in args if hasattr(leg, "instrument")] + [
                    item[0] for arg in args if isinstance(arg, (list, tuple)) for item in arg
                ]
                for leg in legs:
                    self.mark(leg.instrument, "durable")
                return result

            setattr(ledger, name, recorded)

    def trace(self) -> aiohttp.TraceConfig:
        """aiohttp's hooks: an order that went by the normal path (no idle lane connection), its request started and
        its body written."""
        config = aiohttp.TraceConfig()

        async def started(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
            context.started = self.stamp()

        async def written(session: Any, context: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
            now = self.stamp()
            if params.method == "POST" and params.chunk:
                self._written(context.started, now, params.chunk, "aiohttp")

        config.on_request_start.append(started)
        config.on_request_chunk_sent.append(written)
        return config

    def watch_lanes(self) -> None:
        """The order lanes' writes: `Lane.send` returns once `transport.write` has handed the bytes to the kernel."""
        send = Lane.send

        def timed_send(lane: Lane, request: bytes, where: str) -> Any:
            started = self.stamp()
            sent = send(lane, request, where)
            if sent is not None:
                self._written(started, self.stamp(), request.split(b"\r\n\r\n", 1)[1], "lane")
            return sent

        Lane.send = timed_send  # type: ignore[method-assign]  # a bench probe

    def _written(self, started: float, now: float, body: bytes, path: str) -> None:
        """An entry order's bytes written (`path`: the lane or aiohttp), with the time its request started."""
        order = orjson.loads(body)
        if order.get("side") == "ask":  # a Kalshi entry: this bench's arbs buy NO (a YES ask); unwinds sell it
            instrument, exchange = order["ticker"], "kalshi"
        elif order.get("order", {}).get("side") == "BUY":
            instrument, exchange = order["order"]["tokenId"], "poly"
        else:
            return
        self.paths[path] += 1
        self.writes.append((now, exchange, instrument))
        marks = self.marks.setdefault(self._ticker[instrument], [])
        marks += [(started, f"{exchange}_request"), (now, f"{exchange}_written")]

    def arbs(self) -> tuple[list[dict[str, float]], int]:
        """Per arb taken on an arb-making frame: ms from that frame to each milestone; and how many takes
        followed no fresh frame of their own (a second take on the same frame's book)."""
        pending: dict[str, dict[str, float]] = {}
        samples, retakes = [], 0
        for when, exchange, instrument in sorted(self.writes):
            ticker = self._ticker[instrument]
            pending.setdefault(ticker, {})[exchange] = when
            if len(pending[ticker]) < 2:
                continue
            legs = pending.pop(ticker)
            written = max(legs.values())
            marks = [(t, m) for t, m in self.marks.get(ticker, []) if t <= written]
            taken = max((t for t, m in marks if m == "taken"), default=None)
            opened = [t for t in self.triggers.get(ticker, []) if taken is not None and t <= taken]
            if taken is None or not opened or any(opened[-1] <= t < taken for t, m in marks if m == "taken"):
                retakes += 1
                continue
            frame = opened[-1]
            stamps = {m: t for t, m in marks if t >= self._evaluating_of(marks, taken)}
            stamps["first_written"], stamps["written"] = min(legs.values()), written
            sample = {m: (t - frame) * 1000 for m, t in stamps.items()}
            sample |= {f"cpu_{m}": (self._cpu_at[t] - self._cpu_at[frame]) * 1000 for m, t in stamps.items()}
            sample["cpu"] = sample["cpu_written"]
            samples.append(sample)
        return samples, retakes

    @staticmethod
    def _evaluating_of(marks: list[tuple[float, str]], taken: float) -> float:
        return max(t for t, m in marks if m == "evaluate" and t <= taken)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Child:
    """The exchanges' process: its URLs, then what it has sent so far (read from its stdout as it goes)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.reports: list[tuple[float, dict[str, float]]] = []  # (time here, the child's counters)

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.reports.append((time.perf_counter(), json.loads(line)))

    def requotes(self, start: float, end: float) -> float:
        """Polymarket requotes a second the child made between two of our times (its reports nearest them)."""
        inside = [r for t, r in self.reports if start <= t <= end + 1.0]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1]["requotes"] - inside[0]["requotes"]) / (inside[-1]["seconds"] - inside[0]["seconds"])


async def run(args: argparse.Namespace) -> None:
    key_id, private_key, public_pem = kalshi_test_credentials()
    workdir = Path(tempfile.mkdtemp(prefix="tradetape-tick-"))
    (workdir / "state.json").write_text(json.dumps(state(args.pairs, public_pem, key_id)))
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(workdir / "state.json"), "--pairs", str(args.pairs),
        "--rate", str(args.rate), "--arbs", str(args.arbs), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    urls = json.loads(await process.stdout.readline())
    child = Child(process)
    reader = asyncio.create_task(child.read())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    load_before = os.getloadavg()
    try:
        config = parse_pairs(pairs_toml(args.pairs))
        kalshi_feed = KalshiFeed(
            "ws" + urls["kalshi"].removeprefix("http") + "/trade-api/ws/v2",
            key_id, pem, markets=[ticker(i) for i in range(args.pairs)], book_events=True,
        )  # fmt: skip
        poly_feed = PolymarketFeed(
            "ws" + urls["poly"].removeprefix("http") + "/ws",
            assets=[token(i, o) for i in range(args.pairs) for o in (0, 1)],
        )
        probes = Probes()
        probes.watch_lanes()
        async with aiohttp.ClientSession(trace_configs=[probes.trace()]) as http:
            kalshi = KalshiClient(urls["kalshi"] + "/trade-api/v2", key_id, pem, session=http)
            poly = PolymarketClient(urls["poly"], HARDHAT_0_KEY, session=http)
            creds = await poly.create_or_derive_api_key()
            poly = PolymarketClient(
                urls["poly"], HARDHAT_0_KEY, creds.api_key, creds.secret, creds.passphrase, session=http
            )
            ledger_dir = (
                Path(tempfile.mkdtemp(prefix="tradetape-tick-", dir=args.ledger_dir)) if args.ledger_dir else workdir
            )
            with Ledger(ledger_dir / "bot.sqlite") as ledger:
                engine = Engine(config, kalshi, poly, kalshi_feed, poly_feed, ledger)
                probes.attach(engine, kalshi_feed, poly_feed)
                task = asyncio.create_task(engine.run())
                await asyncio.sleep(1.0)  # the feeds connect and take their snapshots
                probes.start()
                await asyncio.sleep(args.seconds)
                probes.stop()
                engine.stop()
                await asyncio.wait_for(task, 60)
                decisions = ledger.decisions()
                await kalshi.close()  # their order lanes, before the exchanges go
                await poly.close()
    finally:
        process.kill()
        await process.wait()
        reader.cancel()
    load_after = os.getloadavg()
    report(args, probes, child, decisions, load_before, load_after)


def report(
    args: argparse.Namespace, probes: Probes, child: Child, decisions: list[Any], before: Any, after: Any
) -> None:
    seconds = probes.window[1] - probes.window[0]
    taken = sum(1 for d in decisions if d.kind == "taken")
    results = [d for d in decisions if d.kind == "result"]
    evaluations = probes.evaluations
    offered = child.requotes(*probes.window)
    print(f"tick-to-trade, {seconds:.1f} s, {args.pairs} pairs, {args.rate:g} Polymarket book updates/s asked,")
    print(f"  {args.arbs:g} arbs opened/s on Kalshi; {os.cpu_count()} CPUs")
    print(f"  load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, after {after[0]:.2f} {after[1]:.2f}")
    print(
        f"  feeds: the exchanges sent {offered:.0f} Polymarket updates/s; frames received"
        f" {probes.frames['poly'] / seconds:.0f}/s Polymarket, {probes.frames['kalshi'] / seconds:.0f}/s Kalshi;"
        f" book updates evaluated {len(evaluations) / seconds:.0f}/s"
    )
    if probes.depths:
        print(
            f"  events waiting when the engine takes the next: p50 {quantile(probes.depths, 0.5)},"
            f" p99 {quantile(probes.depths, 0.99)}, max {max(probes.depths)}"
            " (0: the engine keeps up; growing: it falls behind)"
        )
    cpu = probes.cpu[1] - probes.cpu[0]
    print(
        f"  engine process CPU: {cpu / seconds * 100:.0f}% of one core,"
        f" {cpu / max(1, len(evaluations)) * 1e6:.0f} us per book update evaluated (all work included)"
    )
    print(f"  arbs taken {taken}, results {len(results)} ({sum(r.reason == 'matched' for r in results)} matched)")
    print(
        f"  entry orders written by the order lane {probes.paths['lane']},"
        f" by aiohttp (no lane connection idle) {probes.paths['aiohttp']}"
    )
    samples, retakes = probes.arbs()
    if samples:
        ms = [s["written"] for s in samples]
        print(
            f"  tick-to-trade over {len(ms)} arbs: p50 {quantile(ms, 0.5):.2f} ms, p99 {quantile(ms, 0.99):.2f} ms,"
            f" max {max(ms):.2f} ms (targets: p50 <= 2 ms, p99 <= 10 ms)"
            + (f"; {retakes} later takes on an already-taken frame left out" if retakes else "")
        )
        cpu = [s["cpu"] for s in samples]
        print(
            f"  CPU the engine's thread spent from the frame to both written: p50 {quantile(cpu, 0.5):.2f} ms,"
            f" p99 {quantile(cpu, 0.99):.2f} ms (no time descheduled or waiting for the fsync; the other"
            " events it handled meanwhile included)"
        )
        print("    from the arb-making frame to (ms, p50 / p99; wall, then the engine thread's CPU):")
        for name, what in MILESTONES:
            at = [s[name] for s in samples if name in s]
            cpu = [s[f"cpu_{name}"] for s in samples if name in s]
            if at:
                print(
                    f"      {name:<15} {quantile(at, 0.5):7.2f} / {quantile(at, 0.99):7.2f}"
                    f"   cpu {quantile(cpu, 0.5):5.2f} / {quantile(cpu, 0.99):5.2f}  {what}"
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
    parser.add_argument(
        "--ledger-dir", help="a directory for the ledger's fresh one (default: a temporary one on disk)"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        args.state = json.loads(Path(args.serve).read_text())
    asyncio.run(serve(args) if args.serve else run(args))


if __name__ == "__main__":
    main()
