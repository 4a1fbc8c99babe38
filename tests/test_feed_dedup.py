"""The feeds' memory of what they have seen is bounded: a repeat within the window (`remembered`, 10,000 per kind by
default) is dropped, and past it the oldest ids are forgotten, so a run of any length holds at most that many.
Frames are fed as the sockets hand them over (`KalshiFeed.received`, `PolymarketFeed.on_trade` / `on_order`),
shaped like the corpus's official examples."""

from __future__ import annotations

import orjson
from corpus import payload_dir

from clients.feed import REMEMBERED
from clients.feed_events import FillReversed, UserFill, UserOrder
from clients.kalshi.feed import KalshiFeed
from clients.polymarket.feed import PolymarketFeed
from clients.polymarket.types import ApiCreds
from simulator.credentials import kalshi_test_credentials

KALSHI, POLY = payload_dir("kalshi"), payload_dir("polymarket")


def example(path):
    return orjson.loads(path.read_bytes())["payload"]


def drain(feed) -> list:
    out = []
    while not feed.events.empty():
        out.append(feed.events.get_nowait())
    return out


def kalshi_feed(remembered: int = REMEMBERED) -> KalshiFeed:
    _, key, _ = kalshi_test_credentials()
    return KalshiFeed("ws://127.0.0.1:9/trade-api/ws/v2", "key", key, markets=[], remembered=remembered)


def kalshi_fill(trade_id: str) -> str:
    frame = example(KALSHI / "official_asyncapi_latest__fill.json")
    frame["msg"]["trade_id"] = trade_id
    return orjson.dumps(frame).decode()


def kalshi_order(remaining: int) -> str:
    frame = example(KALSHI / "official_asyncapi_latest__userOrder.json")
    frame["msg"]["remaining_count_fp"] = f"{remaining}.00"
    return orjson.dumps(frame).decode()


def poly_trade(trade_id: str, status: str = "MATCHED") -> dict:
    return example(POLY / "official_docs__ws_user__trade.json") | {"id": trade_id, "status": status}


def poly_order(size_matched: int) -> dict:
    return example(POLY / "official_docs__ws_user__order.json") | {"size_matched": str(size_matched)}


def test_the_default_window_is_the_documented_size():
    assert kalshi_feed().remembered == REMEMBERED == 10_000
    assert PolymarketFeed("ws://127.0.0.1:9", assets=[], creds=ApiCreds("k", "s", "p")).remembered == REMEMBERED


def test_kalshi_fill_repeats_within_the_window_are_dropped_and_the_oldest_forgotten():
    feed = kalshi_feed(remembered=3)
    for trade_id in ["a", "b", "a", "c", "b", "d", "a"]:
        feed.received(kalshi_fill(trade_id))
    fills = [e.fill_id for e in drain(feed) if isinstance(e, UserFill)]
    # a and b repeat inside the window of 3 and are dropped; d pushes a out, so the last a is new again
    assert fills == ["a", "b", "c", "d", "a"]
    assert feed.duplicates == 2
    assert list(feed.fills) == ["c", "d", "a"]


def test_kalshi_order_updates_are_remembered_in_a_bounded_window():
    feed = kalshi_feed(remembered=2)
    for remaining in [10, 10, 9, 10, 8, 10]:
        feed.received(kalshi_order(remaining))
    orders = [e for e in drain(feed) if isinstance(e, UserOrder)]
    # 10 repeats at once (dropped) and after 9 (still in the window of 2: dropped); after 8, 10 was forgotten
    assert len(orders) == 4 and feed.duplicates == 2


def test_a_long_run_holds_at_most_the_window():
    feed = kalshi_feed(remembered=50)
    for n in range(1_000):
        feed.received(kalshi_fill(f"t{n}"))
        feed.received(kalshi_order(n))
    assert len(feed.fills) == 50 and len(feed._remembered) == 50
    assert len([e for e in drain(feed) if isinstance(e, UserFill)]) == 1_000


def test_poly_trade_statuses_orders_and_reversals_are_remembered_in_a_bounded_window():
    feed = PolymarketFeed("ws://127.0.0.1:9", assets=[], creds=ApiCreds("k", "s", "p"), remembered=3)
    for trade_id, status in [("a", "MATCHED"), ("a", "MATCHED"), ("a", "MINED"), ("b", "MATCHED"), ("a", "MINED")]:
        feed.on_trade(poly_trade(trade_id, status))
    events = drain(feed)
    assert [type(e).__name__ for e in events] == ["UserFill", "FillStatus", "UserFill"]
    assert feed.duplicates == 2
    feed.on_trade(poly_trade("a", "FAILED"))
    feed.on_trade(poly_trade("a", "FAILED"))
    assert [type(e) for e in drain(feed)] == [FillReversed] and "a" not in feed.fills
    for n in range(1_000):
        feed.on_trade(poly_trade(f"t{n}"))
        feed.on_trade(poly_trade(f"t{n}", "FAILED"))
        feed.on_order(poly_order(n))
    assert len(feed.fills) <= 3 and feed.duplicates == 3
    assert (len(feed._trade_statuses), len(feed._orders_seen), len(feed._reversed)) == (3, 3, 3)
    assert len([e for e in drain(feed) if isinstance(e, UserOrder)]) == 1_000
    feed.on_order(poly_order(999))  # the last order event is still in the window: dropped
    assert drain(feed) == [] and feed.duplicates == 4
