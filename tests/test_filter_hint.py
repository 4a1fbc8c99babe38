"""A replay miss for a path the recording's capture filter never wrote says so and names the filter;
`record` says at start which filter it uses and where the session goes."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from proxy.replay.filter_hint import manifest_filter, outside_filters
from tests.cli_helpers import FREE_PORTS, start
from tests.replay_helpers import KALSHI, ORDERS, fixture, replaying, write_session

POSITIONS = "/trade-api/v2/portfolio/positions"


def session_with_filter(tmp_path, spec: str | None, name: str = "mine"):
    directory = write_session(tmp_path / name, [fixture("kalshi", "POST", KALSHI + ORDERS, {"count": "1"})])
    if spec is not None:
        (directory / "manifest.json").write_bytes(orjson.dumps({"format": 1, "capture_filter": spec}))
    return directory


async def miss(proxy, path: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(proxy.url("kalshi") + path) as resp:
        assert resp.status == 599 and resp.headers["X-Tradetape-Error"] == "unmatched"
        return await resp.json()


async def test_a_path_outside_the_orders_filter_gets_a_599_naming_the_filter_and_the_fix(tmp_path):
    async with replaying([session_with_filter(tmp_path, "orders")]) as proxy:
        body = await miss(proxy, POSITIONS)
    assert body["outside_capture_filter"] == {"filter": "orders", "sources": ["mine"]}
    assert body["detail"].startswith(f"{POSITIONS} is outside the capture filter 'orders' of mine")
    assert "--filter all" in body["detail"]


async def test_a_path_the_filter_records_is_an_ordinary_miss(tmp_path):
    async with replaying([session_with_filter(tmp_path, "orders")]) as proxy:
        body = await miss(proxy, "/trade-api/v2/portfolio/fills?order_id=x")
    assert "outside_capture_filter" not in body and body["detail"] == "no recording matches this request"


@pytest.mark.parametrize("spec", ["all", None, "(unreadable"])  # recorded everything; no manifest; a bad filter
async def test_no_filter_hint_without_a_filter_that_excludes_the_path(tmp_path, spec):
    async with replaying([session_with_filter(tmp_path, spec)]) as proxy:
        body = await miss(proxy, POSITIONS)
    assert "outside_capture_filter" not in body


def test_one_source_that_would_have_recorded_the_path_is_enough_to_say_nothing(tmp_path):
    filters = {"a": "orders", "b": "positions"}
    assert outside_filters("kalshi", POSITIONS, filters) is None
    assert outside_filters("kalshi", POSITIONS, {"a": "orders", "b": "balance"})["filter"] == ["balance", "orders"]


def test_a_fixture_file_source_uses_its_directorys_manifest(tmp_path):
    directory = session_with_filter(tmp_path, "orders")
    assert manifest_filter(next(directory.glob("001_*.json"))) == "orders"


def test_record_says_at_start_which_filter_it_uses_and_where_the_session_goes(tmp_path):
    running = start("record", *FREE_PORTS, "--capture-dir", str(tmp_path), "--session", "s1")
    out, _ = running.stop()
    assert f"session {tmp_path / 's1'}\n" in out
    assert "filter  orders: only order and fill endpoints are recorded" in out and "--filter all" in out
