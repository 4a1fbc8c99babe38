"""The WebSocket frames of the payload corpus against the paper exchanges and the feed clients.

- Every server frame in the corpus is matched in shape by what the simulator streams for the same event: the
  same keys, the same JSON types, the same string formats (UUID, RFC3339, 0x..., decimals with the same number
  of places on Kalshi). Newest official examples and real recordings are matched in full; the June-2026 AsyncAPI
  examples, whose prices still had 3 places, by keys only. Differences the docs explain are listed with the reason.
- Every command and subscription request in the corpus is understood by the simulator, and the ones the feed
  clients send have the corpus's shape.
- The real demo recordings replayed through the Kalshi feed leave the book the recording implies.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from corpus import payload_dir
from feed_helpers import ALI, CONDITION, YES, eventually, frame, frames_until, paper, scripted_feed

from clients.kalshi.feed import KalshiFeed
from clients.polymarket.feed import PolymarketFeed
from clients.polymarket.types import ApiCreds
from simulator.credentials import kalshi_test_credentials
from simulator.poly.config import HARDHAT_0

KALSHI, POLY = payload_dir("kalshi"), payload_dir("polymarket")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DECIMAL = re.compile(r"^-?\d+(?:\.(\d+))?$")


def load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())["payload"]


def string_format(value: str, fixed_point: bool) -> str:
    if UUID.match(value):
        return "uuid"
    if RFC3339.match(value):
        return "rfc3339"
    if value.startswith("0x"):
        return "0x"
    number = DECIMAL.match(value)
    if number:
        return f"decimal.{len(number.group(1) or '')}" if fixed_point else "decimal"
    return "text"


def leaf(value: Any, formats: bool, fixed_point: bool) -> str:
    if isinstance(value, str):
        return string_format(value, fixed_point) if formats else "str"
    return type(value).__name__


def differences(
    sim: Any, ref: Any, *, formats: bool, fixed_point: bool, allowed: dict[str, set[str]], path: str = ""
) -> list[str]:
    """Where `sim` differs from `ref` in shape; `allowed` names keys that may be missing, extra, or any format."""
    if isinstance(ref, dict) and isinstance(sim, dict):
        found = [f"{path}{k}: missing" for k in ref.keys() - sim.keys() - allowed.get("missing", set())]
        found += [f"{path}{k}: not in the reference" for k in sim.keys() - ref.keys() - allowed.get("extra", set())]
        for key in sorted(ref.keys() & sim.keys() - allowed.get("any", set())):
            found += differences(
                sim[key], ref[key], formats=formats, fixed_point=fixed_point, allowed=allowed, path=f"{path}{key}."
            )
        return found
    if isinstance(ref, list) and isinstance(sim, list):
        if ref and sim:
            return differences(sim[0], ref[0], formats=formats, fixed_point=fixed_point, allowed=allowed, path=path)
        return []
    got, want = leaf(sim, formats, fixed_point), leaf(ref, formats, fixed_point)
    return [] if got == want else [f"{path.rstrip('.')}: {got}, reference {want}"]


# -- Kalshi ---------------------------------------------------------------------------------------------------

KALSHI_ALLOWED: dict[str, dict[str, set[str]]] = {
    # subaccount: only on fills of a subaccount; client_order_id: only when the order has one, and the client
    # chooses its value (the example's "my-order-1", the Kalshi client's UUIDs)
    "fill": {"missing": {"subaccount", "client_order_id"}, "any": {"client_order_id"}},
    # order_group_id, expiration_*: only for orders in a group or with an expiration; last_update_* are in the
    # user_order field list of docs/wire/kalshi.md §8 though not in the example
    "user_order": {
        "missing": {"order_group_id", "expiration_time", "expiration_ts_ms"},
        "extra": {"last_update_time", "last_updated_ts_ms"},
        "any": {"client_order_id"},
    },
    # the example's user_id is a placeholder ("user123"); user_order's example has a UUID, as the simulator
    "market_position": {"any": {"user_id"}},
}
NOT_STREAMED = {
    "official_asyncapi_20260610__orderGroupUpdates_0.json": "order groups are not implemented (REST or feed)",
    "official_asyncapi_latest__orderGroupUpdates.json": "order groups are not implemented (REST or feed)",
    "official_asyncapi_20260610__errorResponse_0.json": "code 6 Already subscribed is retired: repeats merge",
    "official_asyncapi_20260610__errorResponse_3.json": "code 9: the simulator refuses an unsigned upgrade with 401",
    "official_docs__ws_market__marketResolved.json": "custom-feature market events are not streamed",
    "official_docs__ws_market__newMarket.json": "custom-feature market events are not streamed",
    "official_docs__ws_market__prose_market_resolved.json": "custom-feature market events are not streamed",
    "official_docs__ws_market__prose_new_market.json": "custom-feature market events are not streamed",
}
KALSHI_COMMAND = re.compile(r"(subscribe_cmd|Command|_command)")


def kalshi_frames() -> list[Path]:
    return sorted(
        p
        for p in KALSHI.glob("*.json")
        if ("__ws_" in p.name or "asyncapi" in p.name) and not KALSHI_COMMAND.search(p.name)
    )


@pytest.fixture(scope="module")
def kalshi_streamed() -> list[dict[str, Any]]:
    """Every frame the paper Kalshi feed sent in a session that exercises all its frame types."""
    return asyncio.run(_kalshi_session())


async def _kalshi_session() -> list[dict[str, Any]]:
    async for env in paper():
        ws = await env.kalshi_ws()
        commands = [
            {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta", "trade"], "market_ticker": ALI}},
            {"id": 2, "cmd": "subscribe", "params": {"channels": ["ticker"], "send_initial_snapshot": True}},
            {"id": 3, "cmd": "subscribe", "params": {"channels": ["fill", "user_orders", "market_positions"]}},
        ]
        for command in commands:
            await ws.send_json(command)
        seen = await frames_until(ws, lambda f: f["msg"].get("channel") == "market_positions")
        async with env.kalshi() as kalshi:
            await kalshi.create_order(ALI, "yes", "buy", "30", "0.54")
            await kalshi.create_order(ALI, "yes", "buy", "2", "0.30", time_in_force="good_till_canceled")
        bad = [
            {"id": 10, "cmd": "subscribe"},
            {"id": 11, "cmd": "subscribe", "params": {"channels": ["nope"]}},
            {"id": 12, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}},
            {"id": 13, "cmd": "unsubscribe", "params": {"sids": [99]}},
            {"id": 14, "cmd": "subscribe", "params": {"channels": ["ticker"], "market_ticker": "NOPE"}},
            {"id": 15, "cmd": "update_subscription", "params": {"sids": [1], "action": "get_snapshot"}},
            {"id": 16, "cmd": "unsubscribe", "params": {"sids": [2]}},
        ]
        for command in bad:
            await ws.send_json(command)
        seen += await frames_until(ws, lambda f: f.get("type") == "unsubscribed")
        await ws.close()
        return seen
    raise AssertionError("unreachable")


def kalshi_counterpart(ref: dict[str, Any], streamed: list[dict[str, Any]]) -> dict[str, Any]:
    """The streamed frame of the same type (an error with the same code; a delta the subscriber did not cause)."""
    for sent in streamed:
        if sent["type"] != ref["type"]:
            continue
        if ref["type"] == "error" and sent["msg"]["code"] != ref["msg"]["code"]:
            continue
        if ref["type"] == "orderbook_delta" and "client_order_id" in sent["msg"]:
            continue
        return sent
    raise AssertionError(f"the simulator sent no {ref['type']} frame like {ref}")


@pytest.mark.parametrize("path", kalshi_frames(), ids=lambda p: p.name)
def test_kalshi_frames_match_the_simulator(path: Path, kalshi_streamed: list[dict[str, Any]]) -> None:
    if path.name in NOT_STREAMED:
        pytest.skip(NOT_STREAMED[path.name])
    ref = load(path)
    sim = kalshi_counterpart(ref, kalshi_streamed)
    full = "official_asyncapi_20260610" not in path.name
    allowed = KALSHI_ALLOWED.get(ref["type"], {})
    if not full:  # older examples: their keys are all still sent; newer keys (and trade's seq) may be added
        allowed = allowed | {"extra": set(sim["msg"]) | {"seq"} | allowed.get("extra", set())}
    assert differences(sim, ref, formats=full, fixed_point=True, allowed=allowed) == []


async def test_kalshi_commands_in_the_corpus_are_understood() -> None:
    """Subscribe to the corpus's own markets with its own commands; sids from other sessions are unknown (7)."""
    names = ["CPI-22DEC-TN0.1", "FED-23DEC-T3.00", "CORIVER-2024-T1030", "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP"]
    names += ["MARKET-1", "MARKET-2", "MARKET-3", "NEW-MARKET-1", "NEW-MARKET-2"]
    state = {"kalshi": {"markets": [{"ticker": t} for t in names]}}
    commands = sorted(p for p in KALSHI.glob("*.json") if KALSHI_COMMAND.search(p.name))
    async for env in paper(state):
        ws = await env.kalshi_ws()
        for path in commands:
            command = load(path)
            await ws.send_json(command)
            await ws.send_json({"id": 999, "cmd": "list_subscriptions"})
            replies = await frames_until(ws, lambda f: f.get("id") == 999)
            kinds = {f["type"] for f in replies[:-1] if "id" in f and f["id"] == command.get("id", 0)}
            sids = command.get("params", {}).get("sids", [])
            if command["cmd"] == "subscribe":
                assert kinds == {"subscribed"}, path.name
            elif 456 in sids:  # a sid of the session the example came from
                assert [f["msg"]["code"] for f in replies if f["type"] == "error"] == [7], path.name
            else:
                assert kinds == {"unsubscribed"}, (path.name, replies)
        await ws.close()


async def test_kalshi_feed_commands_have_the_corpus_shape() -> None:
    snapshot = {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": ALI}}
    gap = {"type": "orderbook_delta", "sid": 1, "seq": 3, "msg": load(KALSHI / _real("frame4_orderbook_delta"))["msg"]}
    script = [
        orjson.dumps(f).decode()
        for f in ({"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}}, snapshot, gap)
    ]
    _, key, _ = kalshi_test_credentials()
    async with scripted_feed([script]) as (url, heard), KalshiFeed(url + "/trade-api/ws/v2", "key", key, markets=[ALI]):
        await eventually(lambda: len(heard) == 1 and len(heard[0]) == 3)
    subscribe, user, snapshot_request = (orjson.loads(text) for text in heard[0])
    relaxed = {"any": {"id"}}
    real = load(KALSHI / "real_demo__ws__orderbook_trade_yes__subscribe_cmd.json")
    assert differences(subscribe, real, formats=True, fixed_point=True, allowed=relaxed) == []
    official_user = load(KALSHI / "official_asyncapi_20260610__subscribeCommand_2.json")
    assert differences(user, official_user, formats=True, fixed_point=True, allowed=relaxed) == []
    official_snapshot = load(KALSHI / "official_asyncapi_20260610__updateSubscriptionGetSnapshotCommand_0.json")
    assert differences(snapshot_request, official_snapshot, formats=True, fixed_point=True, allowed=relaxed) == []


def _real(suffix: str) -> str:
    return f"real_demo__ws__orderbook_trade_noleg__{suffix}.json"


@pytest.mark.parametrize(
    ("recording", "use_yes_price", "bids", "asks"),
    [
        ("noleg", False, [("0.4700", "3.00")], [("0.5200", "1.00")]),
        ("yes", True, [("0.4700", "3.00")], [("0.5200", "2.00")]),
    ],
)
def test_real_demo_recordings_replay_to_the_book_they_imply(
    recording: str, use_yes_price: bool, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
) -> None:
    _, key, _ = kalshi_test_credentials()
    frames = sorted(KALSHI.glob(f"real_demo__ws__orderbook_trade_{recording}__frame*.json"))
    ticker = load(frames[2])["msg"]["market_ticker"]
    feed = KalshiFeed("ws://127.0.0.1:9/trade-api/ws/v2", "key", key, markets=[ticker], use_yes_price=use_yes_price)
    for path in frames:
        feed.received(orjson.dumps(load(path)).decode())
    book = feed.book(ticker)
    assert book is not None and feed.malformed == 0
    assert [(lv.price, lv.size) for lv in book.bids] == [(Decimal(p), Decimal(s)) for p, s in bids]
    assert [(lv.price, lv.size) for lv in book.asks] == [(Decimal(p), Decimal(s)) for p, s in asks]


# -- Polymarket -----------------------------------------------------------------------------------------------

POLY_ALLOWED: dict[str, dict[str, set[str]]] = {
    # the official book example predates tick_size / last_trade_price and shows a placeholder hash "0xabc123...";
    # the captured frame (matched in full below) has both keys and a plain sha1 hash
    "official_docs__ws_market__book.json": {"extra": {"tick_size", "last_trade_price"}, "any": {"hash"}},
}
POLY_REQUEST = re.compile(r"[sS]ubscriptionRequest")


def poly_frames() -> list[Path]:
    return sorted(p for p in POLY.glob("*ws_*.json") if not POLY_REQUEST.search(p.name))


@pytest.fixture(scope="module")
def poly_streamed() -> list[dict[str, Any]]:
    return asyncio.run(_poly_session())


async def _poly_session() -> list[dict[str, Any]]:
    async for env in paper():
        market = await env.poly_ws("market")
        await market.send_json({"assets_ids": [YES], "type": "market", "custom_feature_enabled": True})
        user = await env.poly_ws("user")
        await user.send_json(env.user_auth())
        seen: list[dict[str, Any]] = list(await frame(market))
        async with env.poly() as poly:
            await poly.create_order(YES, "BUY", "0.40", "10")  # price_change, order PLACEMENT
            await poly.create_order(YES, "BUY", "0.48", "5")  # a new best bid: best_bid_ask
            await poly.create_order(YES, "BUY", "0.49", "10")  # last_trade_price, book, trade
        await env.admin("poly", "/__sim/poly/tick-size", {"condition_id": CONDITION, "tick_size": "0.001"})
        for ws in (market, user):
            await ws.send_str("PING")
            seen += [f for f in await frames_until(ws, lambda f: f == "PONG") if f != "PONG"]
            await ws.close()
        return seen
    raise AssertionError("unreachable")


@pytest.mark.parametrize("path", poly_frames(), ids=lambda p: p.name)
def test_poly_frames_match_the_simulator(path: Path, poly_streamed: list[dict[str, Any]]) -> None:
    if path.name in NOT_STREAMED:
        pytest.skip(NOT_STREAMED[path.name])
    ref = load(path)
    sim = next((f for f in reversed(poly_streamed) if f["event_type"] == ref["event_type"]), None)  # after trades
    assert sim is not None, f"the simulator sent no {ref['event_type']} event"
    allowed = POLY_ALLOWED.get(path.name, {})
    assert differences(sim, ref, formats=True, fixed_point=False, allowed=allowed) == []


async def test_poly_requests_in_the_corpus_are_understood() -> None:
    """The corpus's own subscription requests, on a simulator holding the corpus's own tokens."""
    book = load(POLY / "official_docs__ws_market__book.json")
    change = load(POLY / "official_docs__ws_market__priceChange.json")
    other = load(POLY / "official_docs__ws_market__subscriptionRequest.json")["assets_ids"][1]
    markets = [
        {"condition_id": book["market"], "tokens": [{"token_id": book["asset_id"]}, {"token_id": other}]},
        {"condition_id": change["market"], "tokens": [{"token_id": change["price_changes"][0]["asset_id"]}]},
    ]
    async for env in paper({"poly": {"markets": markets}}):
        ws = await env.poly_ws("market")
        await ws.send_json(load(POLY / "official_docs__ws_market__subscriptionRequest.json"))
        assert [b["asset_id"] for b in await frame(ws)] == [book["asset_id"], other]
        await ws.send_json(load(POLY / "official_docs__ws_market__subscriptionRequestUpdate.json"))
        assert [b["asset_id"] for b in await frame(ws)] == [change["price_changes"][0]["asset_id"]]
        user = await env.poly_ws("user")
        request = load(POLY / "official_docs__ws_user__userSubscriptionRequest.json")
        await user.send_json(request | {"auth": env.user_auth()["auth"]})
        await user.send_json(load(POLY / "official_docs__ws_user__userSubscriptionRequestUpdate.json"))
        await user.send_str("PING")
        assert await frame(user) == "PONG"  # still connected: both requests were accepted
        connections = (await env.admin("poly", "/__sim/feeds", method="GET"))["connections"]
        assert [c.get("address") for c in connections if c["channel"] == "user"] == [HARDHAT_0]


async def test_poly_feed_requests_have_the_corpus_shape() -> None:
    async with scripted_feed([[]]) as (url, heard):
        feed = PolymarketFeed(url, assets=[YES], creds=ApiCreds("k", "s", "p"))
        async with feed:
            await eventually(lambda: len(heard) == 2 and all(heard))
    sent = sorted((orjson.loads(h[0]) for h in heard), key=lambda body: body["type"])
    market, user = sent
    documented = {"extra": {"initial_dump", "custom_feature_enabled"}}  # docs/wire/polymarket.md §8
    reference = load(POLY / "official_docs__ws_market__subscriptionRequest.json")
    assert differences(market, reference, formats=True, fixed_point=False, allowed=documented) == []
    reference = load(POLY / "official_docs__ws_user__userSubscriptionRequest.json")
    assert differences(user, reference, formats=False, fixed_point=False, allowed={}) == []


def test_the_shape_comparison_sees_keys_types_and_formats() -> None:
    ref = {"type": "fill", "msg": {"yes_price_dollars": "0.7500", "count_fp": "1.00", "ts": 1, "id": "x"}}
    same = {"type": "fill", "msg": {"yes_price_dollars": "0.5200", "count_fp": "9.00", "ts": 7, "id": "y"}}
    assert differences(same, ref, formats=True, fixed_point=True, allowed={}) == []
    wrong = {"type": "fill", "msg": {"yes_price_dollars": "0.520", "count_fp": 9, "ts": "7", "extra": True}}
    assert sorted(differences(wrong, ref, formats=True, fixed_point=True, allowed={})) == [
        "msg.count_fp: int, reference decimal.2",
        "msg.extra: not in the reference",
        "msg.id: missing",
        "msg.ts: decimal.0, reference int",
        "msg.yes_price_dollars: decimal.3, reference decimal.4",
    ]
