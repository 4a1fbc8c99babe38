"""WebSocket feed figures on loopback, one process: how many frames per second the paper exchanges stream and the
feed clients apply (one market and 100 markets), and the latency from a REST order's answer to the matching book
update at a feed client (p50/p99).

    .venv/bin/python bench/ws_feeds.py [--frames 20000] [--orders 200]

Streaming: the market maker's book is requoted as fast as the engine allows (Kalshi: 8 `orderbook_delta` per
requote; Polymarket: one `price_change` carrying 8 levels), round-robin over the markets, and three readers count:
- `sim -> socket`: a bare aiohttp WebSocket that only counts frames (what the simulator can stream);
- `sim -> client`: the feed client, which parses and applies every frame to its books;
- `client only`: the same frames handed to a fresh client from memory (parse and apply, no socket).
Latency: a GTC order far from the touch is placed then cancelled over REST, `--orders` times; each sample is the
time the feed applied the change minus the time the REST answer arrived. The exchange queues the frames before it
answers, so a sample can be negative (the book moved before the answer came back), as on the real exchanges.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clients.feed import Feed  # noqa: E402 - after the path set-up above
from clients.kalshi import KalshiClient  # noqa: E402
from clients.kalshi.auth import auth_headers  # noqa: E402
from clients.kalshi.feed import KalshiFeed  # noqa: E402
from clients.polymarket import PolymarketClient  # noqa: E402
from clients.polymarket.feed import PolymarketFeed  # noqa: E402
from simulator import RunningSimulator, start_simulator  # noqa: E402
from simulator.credentials import kalshi_test_credentials  # noqa: E402
from simulator.kalshi import EXCHANGE as KALSHI_EXCHANGE  # noqa: E402
from simulator.poly import EXCHANGE as POLY_EXCHANGE  # noqa: E402
from simulator.poly.config import HARDHAT_0, Level  # noqa: E402

HARDHAT_0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
QUOTES = [  # two market-maker quotes to alternate between: every level changes each time
    ([("0.40", "10"), ("0.41", "20")], [("0.59", "10"), ("0.60", "20")]),
    ([("0.42", "11"), ("0.43", "21")], [("0.57", "11"), ("0.58", "21")]),
]


def tickers(n: int) -> list[str]:
    return [f"KXBENCH-26DEC31-M{i:03d}" for i in range(n)]


def tokens(n: int) -> list[str]:
    return [str(10**70 + i) for i in range(n)]


def state(n: int) -> dict[str, Any]:
    poly_markets = [
        {"condition_id": "0x" + f"{i:064x}", "tokens": [{"token_id": token}]} for i, token in enumerate(tokens(n))
    ]
    return {
        "kalshi": {
            "markets": [{"ticker": t} for t in tickers(n)],
            "accounts": [{"name": "default", "balance": "1000000.00"}],
        },
        "poly": {"markets": poly_markets, "accounts": [{"address": HARDHAT_0, "balance": "1000000"}]},
    }


class Counting:
    """Counts a feed's applied book changes (and when each happened) by wrapping `Feed.updated`."""

    def __init__(self, feed: Feed) -> None:
        self.times: list[float] = []
        original = feed.updated

        def updated(market: str) -> None:
            self.times.append(time.perf_counter())
            original(market)

        feed.updated = updated  # type: ignore[method-assign]  # a bench probe, not a client feature


class Requoter:
    """Moves the market maker's quotes back and forth so every level changes on every requote."""

    def __init__(self, sim: RunningSimulator, exchange: str, markets: list[str]) -> None:
        self.sim, self.exchange, self.markets = sim, exchange, markets
        self.count = 0

    def requote(self) -> None:
        bids, asks = QUOTES[self.count % 2]
        self.count += 1
        if self.exchange == "kalshi":
            engine = self.sim.kalshi_app[KALSHI_EXCHANGE].exchange
            kalshi_bids = [(Decimal(p), Decimal(s)) for p, s in bids]
            kalshi_asks = [(Decimal(p), Decimal(s)) for p, s in asks]
            for ticker in self.markets:
                engine.set_book(ticker, kalshi_bids, kalshi_asks)
        else:
            poly = self.sim.poly_app[POLY_EXCHANGE]
            poly_bids = [Level(Decimal(p), Decimal(s)) for p, s in bids]
            poly_asks = [Level(Decimal(p), Decimal(s)) for p, s in asks]
            for token in self.markets:
                poly.set_book(token, poly_bids, poly_asks)

    async def drive(self, rounds: int) -> None:
        for _ in range(rounds):
            self.requote()
            await asyncio.sleep(0)  # let the writers and readers run


async def raw_socket(sim: RunningSimulator, exchange: str, markets: list[str], creds: tuple[str, Any]) -> Any:
    session = aiohttp.ClientSession()
    if exchange == "kalshi":
        headers = auth_headers(creds[0], creds[1], "GET", "/trade-api/ws/v2", sim.clock.now_ms())
        ws = await session.ws_connect(sim.kalshi_ws_url, headers=headers, max_msg_size=0)
        params = {"channels": ["orderbook_delta"], "market_tickers": markets, "use_yes_price": True}  # as the client
        await ws.send_json({"id": 1, "cmd": "subscribe", "params": params})
        ready = len(markets) + 1  # subscribed + one snapshot per market
    else:
        ws = await session.ws_connect(sim.poly_ws_url + "/market", max_msg_size=0)
        await ws.send_json({"assets_ids": markets, "type": "market"})
        ready = 1  # the dump is one array
    opening = [(await ws.receive()).data for _ in range(ready)]
    return session, ws, opening


async def stream_rate(
    sim: RunningSimulator, exchange: str, n: int, frames: int, creds: tuple[str, Any]
) -> dict[str, float]:
    """Frames per second through a bare socket, through the feed client, and into the client from memory."""
    markets = tickers(n) if exchange == "kalshi" else tokens(n)
    per_round = n * (8 if exchange == "kalshi" else 1)
    rounds = max(1, frames // per_round)
    total = rounds * per_round
    requoter = Requoter(sim, exchange, markets)
    requoter.requote()  # from here on each requote replaces four resting levels with four new ones

    session, ws, opening = await raw_socket(sim, exchange, markets, creds)
    captured: list[str] = []
    start = time.perf_counter()
    driver = asyncio.create_task(requoter.drive(rounds))
    while len(captured) < total:
        captured.append((await ws.receive()).data)
    raw = total / (time.perf_counter() - start)
    await driver
    await ws.close()
    await session.close()

    feed = make_feed(sim, exchange, markets, creds)
    counting = Counting(feed)
    async with feed:
        await asyncio.wait_for(feed.until(lambda: all(feed.book(m) for m in markets)), 60)
        applied_before = len(counting.times)
        start = time.perf_counter()
        driver = asyncio.create_task(requoter.drive(rounds))
        await asyncio.wait_for(feed.until(lambda: len(counting.times) - applied_before >= total), 300)
        through_client = total / (time.perf_counter() - start)
        await driver

    fresh = make_feed(sim, exchange, markets, creds)
    channel = fresh._sockets[0].channel  # the market channel (Kalshi: the feed itself)
    for text in opening:
        channel.received(text)
    start = time.perf_counter()
    for text in captured:
        channel.received(text)
    in_memory = total / (time.perf_counter() - start)
    fed = [fresh.book(m) for m in markets]
    assert fresh.malformed == 0 and all(book is not None and len(book.bids) == 2 for book in fed), "replay went wrong"
    return {"frames": total, "sim -> socket": raw, "sim -> client": through_client, "client only": in_memory}


def make_feed(sim: RunningSimulator, exchange: str, markets: list[str], creds: tuple[str, Any]) -> Feed:
    if exchange == "kalshi":
        return KalshiFeed(
            sim.kalshi_ws_url, creds[0], creds[1], markets=markets, user=False, clock=sim.clock.now, book_events=False
        )
    return PolymarketFeed(sim.poly_ws_url, assets=markets, book_events=False)


async def latency(sim: RunningSimulator, exchange: str, orders: int, creds: tuple[str, Any]) -> list[float]:
    """Milliseconds from each REST answer to the feed applying the book change it made."""
    market = tickers(1)[0] if exchange == "kalshi" else tokens(1)[0]
    feed = make_feed(sim, exchange, [market], creds)
    counting = Counting(feed)
    samples: list[float] = []
    async with feed, rest_client(sim, exchange, creds) as rest:
        await asyncio.wait_for(feed.until(lambda: feed.book(market) is not None), 60)
        place, cancel = order_calls(rest, exchange, market)
        for i in range(orders):
            for call in (place, cancel):
                before = len(counting.times)
                await call(i)
                answered = time.perf_counter()
                await asyncio.wait_for(feed.until(lambda b=before: len(counting.times) > b), 30)
                samples.append((counting.times[before] - answered) * 1000)
    return samples


def rest_client(sim: RunningSimulator, exchange: str, creds: tuple[str, Any]) -> Any:
    if exchange == "kalshi":
        return KalshiClient(sim.kalshi_url + "/trade-api/v2", creds[0], creds[1], clock=sim.clock.now)
    return PolymarketClient(sim.poly_url, HARDHAT_0_KEY, clock=sim.clock.now)


def order_calls(
    rest: Any, exchange: str, market: str
) -> tuple[Callable[[int], Awaitable[None]], Callable[[int], Awaitable[None]]]:
    placed: list[str] = []

    async def place(i: int) -> None:
        price = Decimal("0.20") + Decimal(i % 10) / 100
        if exchange == "kalshi":
            result = await rest.create_order(market, "yes", "buy", "1", price, time_in_force="good_till_canceled")
        else:
            if rest.creds is None:
                await rest.create_or_derive_api_key()
            result = await rest.create_order(market, "BUY", price, "5")
        placed.append(result.order_id)

    async def cancel(i: int) -> None:
        await rest.cancel_order(placed.pop())

    return place, cancel


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(frames: int, orders: int) -> None:
    key_id, private_key, pem = kalshi_test_credentials()
    sections = state(100)
    sections["kalshi"]["accounts"][0]["api_keys"] = {key_id: pem}
    sections["kalshi"]["accounts"][0]["balance"] = "1000000.00"
    creds = (key_id, private_key)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    columns = ("sim -> socket", "sim -> client", "client only")
    print(f"{'exchange':8} {'markets':>7} {'frames':>7} " + " ".join(f"{c:>14}" for c in columns) + "  (frames/s)")
    for exchange in ("kalshi", "poly"):
        for n in (1, 100):
            sim = await start_simulator(state_for(sections, n))
            try:
                rates = await stream_rate(sim, exchange, n, frames, creds)
            finally:
                await sim.stop()
            figures = " ".join(f"{rates[c]:>14,.0f}" for c in columns)
            print(f"{exchange:8} {n:>7} {rates['frames']:>7.0f} {figures}")
    print(f"\nREST answer -> book update at the feed client, {2 * orders} samples (place + cancel), ms:")
    for exchange in ("kalshi", "poly"):
        sim = await start_simulator(state_for(sections, 1))
        try:
            samples = await latency(sim, exchange, orders, creds)
        finally:
            await sim.stop()
        early = sum(1 for s in samples if s < 0) / len(samples)
        print(
            f"{exchange:8} p50 {percentile(samples, 0.5):7.3f}  p99 {percentile(samples, 0.99):7.3f}  "
            f"mean {statistics.fmean(samples):7.3f}  book moved before the answer arrived in {early:.0%}"
        )
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")


def state_for(sections: dict[str, Any], n: int) -> dict[str, Any]:
    kalshi = dict(sections["kalshi"], markets=sections["kalshi"]["markets"][:n])
    poly = dict(sections["poly"], markets=sections["poly"]["markets"][:n])
    return {"kalshi": kalshi, "poly": poly}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20_000, help="frames streamed per measurement")
    parser.add_argument("--orders", type=int, default=200, help="orders placed (and cancelled) for the latency")
    args = parser.parse_args()
    asyncio.run(run(args.frames, args.orders))


if __name__ == "__main__":
    main()
