"""Drift against a fresh simulator recording, and `record --drift-against` (the DriftWatch addon) in the proxy."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from click.testing import CliRunner

from clients.errors import InsufficientBalance
from clients.polymarket import PolymarketClient
from proxy.cli.drift import drift_command
from proxy.cli.main import main
from proxy.cli.record import summary
from proxy.cli.tools import fsck_command
from proxy.drift import watch as watch_module
from proxy.drift.samples import Sample, load
from proxy.drift.shapes import infer
from proxy.drift.watch import DriftWatch
from proxy.engine.proxy import Proxy
from proxy.exchanges.upstream import Upstream
from proxy.record.mode import record_mode
from proxy.tape.fixture import DRIFT, session_files
from scenarios.canon import KALSHI_TICKER, POLY_MARKET
from scenarios.harness import PAPER_POLY_KEY, Credentials, loopback_proxy, open_clients, proxy_urls
from simulator.credentials import kalshi_test_credentials
from simulator.server import Simulator
from tests.proxy_helpers import listeners_for, running_app, upstream_app

YES_TOKEN = POLY_MARKET["tokens"][0]["token_id"]
# What Kalshi removed on 2026-07-09 (docs/wire/kalshi.md): the June demo recordings in the corpus still carry them,
# the simulator speaks the current format.
JULY_REMOVALS = {
    ("GET /markets/{id}", "/market/fractional_trading_enabled"),
    ("GET /markets/{id}", "/market/response_price_units"),
    ("GET /portfolio/positions", "/market_positions/*/resting_orders_count"),
}


async def tour(kalshi: Any, poly: Any) -> None:
    """Reads, orders, a cancel and a refused order on both exchanges: the answers a bot depends on."""
    await kalshi.get_balance()
    await kalshi.get_market(KALSHI_TICKER)
    await kalshi.get_orderbook(KALSHI_TICKER)
    filled = await kalshi.create_order(KALSHI_TICKER, "yes", "buy", "2", "0.54")
    await kalshi.get_order(filled.order_id)
    resting = await kalshi.create_order(KALSHI_TICKER, "yes", "buy", "1", "0.10", time_in_force="good_till_canceled")
    await kalshi.cancel_order(resting.order_id)
    await kalshi.list_orders(ticker=KALSHI_TICKER)
    await kalshi.get_fills(ticker=KALSHI_TICKER)
    await kalshi.get_positions()
    with pytest.raises(InsufficientBalance):
        await kalshi.create_order(KALSHI_TICKER, "yes", "buy", "5000", "0.99", time_in_force="good_till_canceled")
    await poly.get_book(YES_TOKEN)
    await poly.get_tick_size(YES_TOKEN)
    live = await poly.create_order(YES_TOKEN, "BUY", "0.45", size="10")
    await poly.get_order(live.order_id)
    await poly.cancel_order(live.order_id)
    await poly.create_order(YES_TOKEN, "BUY", "0.49", size="10", order_type="FOK")
    await poly.get_trades()


async def record_tour(directory: Path, against: str | None = None) -> tuple[list[DriftWatch], str]:
    """The tour recorded (filter all) through the proxy in front of a fresh simulator; the watches it ran."""
    key_id, private_key, pem = kalshi_test_credentials()
    watches: list[DriftWatch] = []
    known = infer(load(against).samples) if against else {}

    def watchers(session: Path) -> list[Any]:
        watches.extend([DriftWatch(known, against, session)] if against else [])
        return list(watches)

    async with Simulator() as sim:
        async with aiohttp.ClientSession() as http:
            await http.post(sim.kalshi_url + "/__sim/kalshi/keys", json={"key_id": key_id, "public_key_pem": pem})
        async with PolymarketClient(base_url=sim.poly_url, private_key=PAPER_POLY_KEY) as setup:
            creds = Credentials(key_id, private_key, await setup.create_or_derive_api_key())
        upstreams = {"kalshi": Upstream("kalshi", sim.kalshi_url, False), "poly": Upstream("poly", sim.poly_url, False)}
        counts: Counter[str] = Counter()
        mode = record_mode(directory, {"session": directory.name}, "all", [], counts, watchers)
        async with loopback_proxy(upstreams, mode, counts) as proxy:
            kalshi, poly = open_clients(proxy_urls(proxy), creds)
            kalshi.clock = sim.clock.now
            async with kalshi, poly:
                await tour(kalshi, poly)
        return watches, summary(proxy)


def findings_of(output: str) -> list[dict[str, Any]]:
    return orjson.loads(output)["findings"]


async def test_corpus_against_a_fresh_simulator_recording(tmp_path):
    await record_tour(tmp_path / "tour")
    result = CliRunner().invoke(drift_command, ["corpus", str(tmp_path / "tour"), "--json"])
    assert result.exit_code == 1, result.output
    findings = findings_of(result.output)
    removed = {(f["key"], f["pointer"]) for f in findings if f["kind"] == "field_removed"}
    assert removed >= JULY_REMOVALS
    compared = {s.key for s in load("corpus").samples} & {s.key for s in load(str(tmp_path / "tour")).samples}
    assert {"POST /portfolio/events/orders", "GET /portfolio/fills", "POST /order", "GET /book"} <= compared
    for key in ("POST /portfolio/events/orders", "POST /order"):  # the order answers match real traffic's shape
        assert [f for f in findings if f["key"] == key and f["severity"] == "breaking"] == [], key
    # the refused order says what the real exchange says
    assert not [f for f in findings if f["key"] == "POST /portfolio/events/orders" and f["group"] == "400"]


async def test_record_drift_against_the_corpus_warns_once_per_endpoint_and_writes_drift_json(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tradetape.drift")
    session = tmp_path / "tour"
    watches, stopped = await record_tour(session, "corpus")
    document = orjson.loads((session / DRIFT).read_bytes())
    assert document["format"] == 1 and document["against"] == "corpus"
    removed = {(f["key"], f["pointer"]) for f in document["findings"] if f["kind"] == "field_removed"}
    assert removed >= JULY_REMOVALS
    market = next(f for f in document["findings"] if f["pointer"] == "/market/response_price_units")
    assert market["example"] == "real_demo__markets__single.json"  # where the missing field was seen
    fixtures = {f["fixture"] for f in document["findings"]}
    assert fixtures and all((session / name).is_file() for name in fixtures)  # filter all: every answer written
    warned = [r.getMessage() for r in caplog.records if r.name == "tradetape.drift"]
    endpoints = [message.split(" (against", 1)[0] for message in warned]
    assert "drift on kalshi GET /markets/{id}" in endpoints
    assert len(endpoints) == len(set(endpoints))  # once per endpoint
    assert "drift against corpus: " in stopped and f"({DRIFT} in the session when any)" in stopped
    assert watches[0].status()["drift"]["breaking"] >= len(JULY_REMOVALS)


def test_fsck_accepts_the_drift_file(tmp_path):
    session = tmp_path / "s"
    session.mkdir()
    (session / DRIFT).write_bytes(b"{}")
    result = CliRunner().invoke(fsck_command, [str(session)])
    assert "not a fixture file name" not in result.output


def test_record_refuses_a_drift_source_it_cannot_read(tmp_path):
    result = CliRunner().invoke(main, ["record", "--drift-against", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "--drift-against: " in result.output and "nope: no such session" in result.output


# ---- the watch never holds up or breaks an answer -----------------------------------------------------


def known_api_key() -> dict[tuple[str, str], Any]:
    return infer([Sample("kalshi", "GET /auth/api-key", 200, {"apiKey": 1, "secret": 2, "data": []}, "old.json")])


async def send(proxy: Any, path: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(proxy.url("kalshi") + path) as response:
        await response.read()
        return response.status


def watched(tmp_path: Path, known: dict[tuple[str, str], Any], capture: str = "all") -> tuple[Any, list[DriftWatch]]:
    """A proxy factory (upstream URL -> Proxy) recording into tmp_path/s with a DriftWatch against `known`."""
    watches: list[DriftWatch] = []

    def watchers(session: Path) -> list[Any]:
        watches.append(DriftWatch(known, "old", session))
        return list(watches)

    counts: Counter[str] = Counter()
    mode = record_mode(tmp_path / "s", {"session": "s"}, capture, [], counts, watchers)
    return lambda url: Proxy(listeners_for(url), mode, counts=counts), watches


async def test_answers_do_not_wait_for_the_comparison(tmp_path, monkeypatch):
    release, started = threading.Event(), threading.Event()
    real_check = DriftWatch.check

    def slow_check(self: DriftWatch, sample: Sample) -> None:
        started.set()
        release.wait(10)
        real_check(self, sample)

    monkeypatch.setattr(DriftWatch, "check", slow_check)
    monkeypatch.setattr(watch_module, "QUEUE_LIMIT", 1)
    make, watches = watched(tmp_path, known_api_key())
    async with running_app(upstream_app()) as upstream:
        proxy = make(upstream)
        async with proxy:
            assert await send(proxy, "/auth/api-key") == 200  # answered while its check has not run
            assert started.wait(10)
            assert await send(proxy, "/auth/api-key") == 200  # queued behind the first
            assert await send(proxy, "/auth/api-key") == 200  # the queue is full: skipped, still answered
            assert not (tmp_path / "s" / DRIFT).exists()
            release.set()
    assert watches[0].skipped == 1
    assert (tmp_path / "s" / DRIFT).is_file()


async def test_a_failing_check_is_logged_and_later_answers_are_still_checked(tmp_path, monkeypatch, caplog):
    real_departures = watch_module.departures
    calls: list[str] = []

    def flaky(known: Any, sample: Sample) -> Any:
        calls.append(sample.key)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real_departures(known, sample)

    monkeypatch.setattr(watch_module, "departures", flaky)
    make, _ = watched(tmp_path, known_api_key())
    async with running_app(upstream_app()) as upstream:
        proxy = make(upstream)
        async with proxy:
            assert await send(proxy, "/auth/api-key") == 200
            assert await send(proxy, "/auth/api-key") == 200
    assert calls == ["GET /auth/api-key", "GET /auth/api-key"]
    assert any("drift check failed on GET /auth/api-key" in r.getMessage() for r in caplog.records)
    assert orjson.loads((tmp_path / "s" / DRIFT).read_bytes())["findings"]


async def test_secrets_in_an_answer_never_reach_the_drift_file(tmp_path):
    make, _ = watched(tmp_path, known_api_key())
    async with running_app(upstream_app()) as upstream:
        proxy = make(upstream)
        async with proxy:
            assert await send(proxy, "/auth/api-key") == 200
    written = (tmp_path / "s" / DRIFT).read_bytes()
    findings = orjson.loads(written)["findings"]
    assert {(f["pointer"], f["kind"]) for f in findings} >= {("/apiKey", "type_changed"), ("/secret", "type_changed")}
    assert b"[REDACTED]" in written
    assert b"k-123" not in written and b"c2VjcmV0" not in written


async def test_answers_the_capture_filter_skips_are_checked_too(tmp_path):
    make, _ = watched(tmp_path, known_api_key(), capture="orders")
    async with running_app(upstream_app()) as upstream:
        proxy = make(upstream)
        async with proxy:
            assert await send(proxy, "/auth/api-key") == 200
    assert not session_files(tmp_path / "s")
    findings = orjson.loads((tmp_path / "s" / DRIFT).read_bytes())["findings"]
    assert findings and all(f["fixture"] is None for f in findings)
