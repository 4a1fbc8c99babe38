"""Runtime control of a running proxy (POST mode, load, reset) and the `tradetape replay` command."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.admin.routes import handle as admin_routes
from proxy.cli.modes import forwarding_factories
from proxy.engine.mode import passthrough_mode
from proxy.engine.proxy import Proxy
from proxy.replay.replayer import ReplayOptions, replay_factory
from proxy.replay.volatile import volatile_sets
from proxy.tape.fixture import session_files
from tests.proxy_helpers import listeners_for, running_app
from tests.replay_helpers import KALSHI, fixture, write_session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def upstream():
    hits: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        hits.append(request.raw_path)
        return web.json_response({"live": len(hits)})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with running_app(app) as url:
        yield url, hits


async def admin(http: aiohttp.ClientSession, proxy: Proxy, name: str, body: object = None) -> tuple[int, dict]:
    async with http.post(
        proxy.url("kalshi") + f"/__tradetape/{name}",
        data=orjson.dumps(body) if body is not None else None,
        headers={"X-Tradetape-Token": proxy.admin_token, "Content-Type": "application/json"},
    ) as resp:
        return resp.status, orjson.loads(await resp.read())


async def get(http: aiohttp.ClientSession, proxy: Proxy, path: str) -> tuple[int, dict]:
    async with http.get(proxy.url("kalshi") + path) as resp:
        return resp.status, orjson.loads(await resp.read())


async def test_switch_between_replay_passthrough_and_record_at_runtime_then_load_and_reset(upstream, tmp_path):
    url, hits = upstream
    first = write_session(tmp_path / "first", [fixture("kalshi", "GET", KALSHI + "/x", answer={"replayed": 1})])
    counts: Counter[str] = Counter()
    make_replay = replay_factory([str(first)], tmp_path, volatile_sets(), ReplayOptions(), counts)
    proxy = Proxy(listeners_for(url), make_replay({}), counts=counts, admin=admin_routes)
    upstreams = {each.exchange: each.upstream for each in proxy.listeners}
    proxy.mode_factories = {
        "replay": make_replay,
        **forwarding_factories(upstreams, set(), tmp_path, "all", None, counts),
    }
    await proxy.start()
    try:
        async with aiohttp.ClientSession() as http:
            assert await get(http, proxy, "/x") == (200, {"replayed": 1})
            status, body = await admin(http, proxy, "mode", {"mode": "passthrough"})
            assert status == 200 and body["mode"] == "passthrough"
            assert await get(http, proxy, "/x") == (200, {"live": 1})
            status, body = await admin(http, proxy, "reset")
            assert status == 409 and body["tradetape_error"] == "not_replaying"

            status, body = await admin(http, proxy, "mode", {"mode": "record", "session": "second"})
            assert status == 200 and body["mode"] == "record"
            assert await get(http, proxy, "/x?n=2") == (200, {"live": 2})

            status, body = await admin(http, proxy, "mode", {"mode": "replay"})  # back to the configured sources
            assert status == 200 and body["mode"] == "replay" and body["unused"] == ["first/001_GET_kalshi_x.json"]
            assert [p.name for p in session_files(tmp_path / "second")] == ["001_GET_kalshi_x.json"]

            status, body = await admin(http, proxy, "load", {"sources": ["second"]})  # a name under the fixtures dir
            assert status == 200 and body["unused"] == ["second/001_GET_kalshi_x.json"]
            assert await get(http, proxy, "/x?n=2") == (200, {"live": 2})
            assert (await get(http, proxy, "/x?n=2"))[0] == 599
            status, body = await admin(http, proxy, "reset")
            assert status == 200 and body["unmatched"] == [] and body["unused"] == ["second/001_GET_kalshi_x.json"]
            assert await get(http, proxy, "/x?n=2") == (200, {"live": 2})
        assert len(hits) == 2  # only the passthrough and record requests reached the upstream
    finally:
        await proxy.stop(grace=1)


async def test_a_failed_load_or_unknown_mode_leaves_the_running_replay_untouched(tmp_path):
    good = write_session(tmp_path / "good", [fixture("kalshi", "GET", KALSHI + "/x", answer={"ok": True})])
    bad = write_session(tmp_path / "bad", [fixture("kalshi", "GET", KALSHI + "/x", answer={})])
    (bad / "002_GET_kalshi_y.json").write_bytes(b"{not json")
    counts: Counter[str] = Counter()
    make_replay = replay_factory([str(good)], tmp_path, volatile_sets(), ReplayOptions(), counts)
    proxy = Proxy(listeners_for("http://127.0.0.1:9"), make_replay({}), counts=counts, admin=admin_routes)
    proxy.mode_factories = {"replay": make_replay}
    await proxy.start()
    try:
        async with aiohttp.ClientSession() as http:
            status, body = await admin(http, proxy, "load", {"sources": [str(bad)]})
            assert status == 400 and body["tradetape_error"] == "load_failed"
            assert "002_GET_kalshi_y.json" in body["detail"] and "invalid JSON at line 1" in body["detail"]
            status, body = await admin(http, proxy, "mode", {"mode": "record"})
            assert status == 409 and "available: replay" in body["detail"]
            status, body = await admin(http, proxy, "load", {"sources": []})
            assert status == 400
            status, body = await admin(http, proxy, "mode", {})
            assert status == 400 and body["tradetape_error"] == "bad_request"
            assert await get(http, proxy, "/x") == (200, {"ok": True})
    finally:
        await proxy.stop(grace=1)


async def test_a_proxy_given_no_admin_routes_still_keeps_the_prefix_and_forwards_nothing(upstream):
    url, hits = upstream
    proxy = Proxy(listeners_for(url), passthrough_mode([]))
    async with proxy, aiohttp.ClientSession() as http:
        async with http.get(proxy.url("kalshi") + "/__tradetape/status") as resp:
            status, kind, body = resp.status, resp.headers["X-Tradetape-Error"], orjson.loads(await resp.read())
        assert await get(http, proxy, "/x") == (200, {"live": 1})
    assert (status, kind, body["tradetape_error"]) == (404, "admin_not_found", "admin_not_found")
    assert "no admin routes" in body["detail"] and hits == ["/x"]


async def _read_listeners(stdout: asyncio.StreamReader) -> dict[str, str]:
    urls: dict[str, str] = {}
    while len(urls) < 2:
        line = (await asyncio.wait_for(stdout.readline(), 20)).decode()
        assert line, "tradetape replay exited before listening"
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("kalshi", "poly") and parts[1].startswith("http://"):
            urls[parts[0]] = parts[1]
    return urls


async def _run_replay(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from proxy.cli.main import main; main()",
        "replay",
        *args,
        "--listen",
        "kalshi=127.0.0.1:0",
        "--listen",
        "poly=127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def test_replay_command_serves_reports_at_shutdown_and_strict_fails(tmp_path):
    session = write_session(
        tmp_path / "s",
        [
            fixture("kalshi", "GET", KALSHI + "/x", answer={"one": 1}),
            fixture("kalshi", "GET", KALSHI + "/y", answer={"two": 2}),
        ],
    )
    process = await _run_replay(str(session), "--strict")
    urls = await _read_listeners(process.stdout)
    async with aiohttp.ClientSession() as http:
        async with http.get(urls["kalshi"] + "/x") as resp:
            assert (resp.status, await resp.json()) == (200, {"one": 1})
        async with http.get(urls["kalshi"] + "/nope?q=1") as resp:
            assert resp.status == 599
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 20)
    text = out.decode()
    assert process.returncode == 1, err.decode()
    assert "replayed 1, unmatched 1" in text
    assert "unused fixtures (1):\n  s/002_GET_kalshi_y.json" in text
    first = "unmatched GET /nope?q=1: closest 002_GET_kalshi_y.json differs in path (live /nope, recorded /y)"
    assert f"\n  {first}" in text


async def test_replay_command_stops_at_load_on_a_malformed_fixture(tmp_path):
    session = write_session(tmp_path / "s", [fixture("kalshi", "GET", KALSHI + "/x", answer={})])
    (session / "002_GET_kalshi_y.json").write_bytes(b'{"seq": 2, "exchange": "kalshi"}')
    process = await _run_replay(str(session))
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode != 0
    assert "002_GET_kalshi_y.json: missing key request" in err.decode()
    assert "listening" not in out.decode()


def test_replay_command_rejects_bad_flags_naming_them(tmp_path):
    from click.testing import CliRunner

    from proxy.cli.replay import replay

    runner = CliRunner()
    for args, flag in (
        (["--latency", "sometimes"], "--latency"),
        (["--ignore-field", "binance:/x"], "--ignore-field"),
        (["--ignore-field", "kalshi"], "--ignore-field"),
    ):
        result = runner.invoke(replay, [str(tmp_path), *args])
        assert result.exit_code == 2 and flag in result.output
