"""Done when: a bot that follows both exchanges' books and its user channels through the feed clients, trades over
REST and learns of its fills over WebSocket, is recorded through the proxy against the simulator, then replayed
`causal` ten times with the same frames, the same answers and the same decisions every time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from clients.feed import Feed
from clients.feed_events import BookUpdated, UserFill
from clients.kalshi import KalshiClient
from clients.kalshi.feed import KalshiFeed
from clients.polymarket import PolymarketClient
from clients.polymarket.feed import PolymarketFeed
from proxy.admin.routes import handle as admin_routes
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges.upstream import Upstream
from proxy.record.mode import record_mode
from proxy.tape.redact import redact_body
from scenarios.harness import PAPER_POLY_KEY
from tests.feed_helpers import ALI, CONDITION, PATIENCE, YES, Paper, event_where, paper
from tests.replay_helpers import replaying
from tests.ws_helpers import session_frames

REPLAYS = 10


@dataclass
class Run:
    """What one run of the bot saw and did."""

    decisions: list[str] = field(default_factory=list)
    answers: list[tuple[str, str, str]] = field(default_factory=list)  # (exchange, status, filled) of each order
    frames: dict[str, list[str]] = field(default_factory=dict)  # per feed socket, every text frame received
    # ids of this run's own (client_order_id, and the Polymarket order hash, salted): they differ per run
    live_ids: list[str] = field(default_factory=list)

    def same_frames(self) -> dict[str, list[Any]]:
        """The frames as compared across runs: this run's own ids put back to one placeholder each,
        keepalive answers left out (Polymarket's PONG: how many depends on the client's timer, and a replay
        answers them live), and secret fields redacted (a maker's API key in a trade event is another
        account's secret: no recording holds it, so a replay cannot give it back; the client's own key it does)."""
        out = {}
        for name, frames in self.frames.items():
            shown = [f for f in frames if f != "PONG"]
            for live in self.live_ids:
                shown = [f.replace(live, f"<own id {self.live_ids.index(live)}>") for f in shown]
            out[name] = [redact_body(orjson.loads(f)) for f in shown]
        return out


def watch_frames(feed: Feed, run: Run) -> None:
    """Keep every text frame each socket of `feed` hands its channel (what the client received, in order)."""
    for socket in feed._sockets:
        seen = run.frames.setdefault(f"{feed.exchange} {socket.channel.name}", [])
        original: Callable[[str], None] = socket._receive

        def receive(text: str, original: Callable[[str], None] = original, seen: list[str] = seen) -> None:
            seen.append(text)
            original(text)

        socket._receive = receive  # type: ignore[method-assign]


def best_ask(feed: Feed, market: str) -> Decimal:
    book = feed.book(market)
    assert book is not None and book.asks, f"{feed.exchange} {market}: no book"
    return book.asks[0].price


async def bot(urls: dict[str, str], credentials: Paper | dict[str, Any], clock: Callable[[], float]) -> Run:
    """Both books and both user channels; buy on Kalshi at its best ask, then on Polymarket at its best ask
    once the Kalshi fill has come over the feed; decide the next step from the books after both fills."""
    creds = credentials.poly_creds if isinstance(credentials, Paper) else credentials["poly_creds"]
    key_id = credentials.key_id if isinstance(credentials, Paper) else credentials["key_id"]
    private_key = credentials.private_key if isinstance(credentials, Paper) else credentials["private_key"]
    run = Run()
    kalshi_feed = KalshiFeed(urls["kalshi_ws"], key_id, private_key, markets=[ALI], clock=clock, book_events=True)
    poly_feed = PolymarketFeed(urls["poly_ws"], assets=[YES], creds=creds, markets=[CONDITION], ping_interval=1.0)
    watch_frames(kalshi_feed, run)
    watch_frames(poly_feed, run)
    async with (
        kalshi_feed,
        poly_feed,
        KalshiClient(urls["kalshi"], key_id, private_key, clock=clock) as kalshi,
        PolymarketClient(
            urls["poly"], PAPER_POLY_KEY, creds.api_key, creds.secret, creds.passphrase, clock=clock
        ) as poly,
    ):
        await event_where(kalshi_feed.events, lambda e: isinstance(e, BookUpdated) and e.market == ALI)
        await event_where(poly_feed.events, lambda e: isinstance(e, BookUpdated) and e.market == YES)
        ask = best_ask(kalshi_feed, ALI)
        run.decisions.append(f"kalshi: buy 2 YES at the best ask {ask}")
        placed = await kalshi.create_order(ALI, "yes", "buy", Decimal("2"), ask)
        run.live_ids.append(placed.client_order_id or "")
        run.answers.append(("kalshi", placed.status, str(placed.filled)))
        fill = await event_where(
            kalshi_feed.events, lambda e: isinstance(e, UserFill) and e.order_id == placed.order_id
        )
        run.decisions.append(f"kalshi: filled {fill.size} at {fill.price}, now poly")
        poly_ask = best_ask(poly_feed, YES)
        run.decisions.append(f"poly: buy 10 at the best ask {poly_ask}")
        taken = await poly.create_order(YES, "BUY", poly_ask, Decimal("10"))
        run.live_ids.append(taken.order_id)
        run.answers.append(("poly", taken.status, str(taken.filled)))
        poly_fill = await event_where(
            poly_feed.events, lambda e: isinstance(e, UserFill) and e.order_id == taken.order_id
        )
        run.decisions.append(f"poly: filled {poly_fill.size} at {poly_fill.price} ({poly_fill.status})")
        await kalshi_feed.until(lambda: best_ask(kalshi_feed, ALI) != ask or kalshi_feed.book(ALI).asks[0].size < 25)
        run.decisions.append(
            f"next: kalshi ask {kalshi_feed.book(ALI).asks[0]}, poly ask {poly_feed.book(YES).asks[0]}"
        )
    return run


def proxy_in_front(p: Paper, directory: Path) -> Proxy:
    counts: Counter[str] = Counter()
    listeners = [
        Listener("kalshi", "127.0.0.1", 0, Upstream("kalshi", p.sim.kalshi_url, False)),
        Listener("poly", "127.0.0.1", 0, Upstream("poly", p.sim.poly_url, False)),
    ]
    info = {"session": directory.name, "upstreams": {}, "capture_filter": "all"}
    mode = record_mode(directory, info, "all", [], counts)
    return Proxy(listeners, mode, counts=counts, admin=admin_routes)


def urls_of(proxy: Proxy) -> dict[str, str]:
    kalshi, poly = proxy.url("kalshi"), proxy.url("poly")
    return {
        "kalshi": kalshi + "/trade-api/v2",
        "poly": poly,
        "kalshi_ws": "ws" + kalshi.removeprefix("http") + "/trade-api/ws/v2",
        "poly_ws": "ws" + poly.removeprefix("http") + "/ws",
    }


async def test_a_bot_with_feeds_recorded_then_replayed_causal_ten_times_decides_the_same(tmp_path):
    session = tmp_path / "bot"
    async for p in paper():
        async with proxy_in_front(p, session) as proxy:
            recorded = await asyncio.wait_for(bot(urls_of(proxy), p, p.sim.clock.now), PATIENCE * 3)
        credentials = {"poly_creds": p.poly_creds, "key_id": p.key_id, "private_key": p.private_key}
    connections = session_frames(session)
    assert sorted(f["request"]["url"].rsplit("/", 2)[-1] for f, _ in connections) == ["market", "user", "v2"]
    assert all(any(line["from"] == "exchange" for line in lines) for _, lines in connections)
    assert recorded.answers == [("kalshi", "executed", "2.00"), ("poly", "matched", "10")]

    replays = []
    for _ in range(REPLAYS):
        async with replaying([session], causal_timeout=PATIENCE) as proxy:
            replays.append(await asyncio.wait_for(bot(urls_of(proxy), credentials, time.time), PATIENCE * 3))
            replayer = proxy.mode.addons[0]
            assert replayer.unmatched == [] and replayer.causal_waits == []
    for run in replays:
        assert run.decisions == recorded.decisions
        assert run.answers == recorded.answers
        assert run.same_frames() == recorded.same_frames()
    assert len({run.live_ids[0] for run in replays}) == REPLAYS  # every run its own client_order_id, yet the same
    assert len({run.live_ids[1] for run in replays}) == REPLAYS  # and its own order hash, named in its trade frame
    key = credentials["poly_creds"].api_key
    for run in replays:
        (trade,) = [orjson.loads(f) for f in run.frames["poly user"] if f != "PONG"]
        assert trade["owner"] == trade["trade_owner"] == key  # the client's own key, put back where it was
        assert {maker["owner"] for maker in trade["maker_orders"]} == {"[REDACTED]"}  # another account's: never
