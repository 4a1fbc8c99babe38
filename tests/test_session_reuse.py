"""Reusing a session name is refused without --append: two recordings in one directory would mix their answers."""

from __future__ import annotations

import urllib.request
from collections import Counter

import aiohttp
import orjson
import pytest
from click.testing import CliRunner

from proxy.admin.routes import handle as admin_routes
from proxy.cli.main import main
from proxy.cli.modes import forwarding_factories
from proxy.engine.mode import passthrough_mode
from proxy.engine.proxy import Proxy
from proxy.tape.fixture import session_files
from tests.cli_helpers import FREE_PORTS, start
from tests.proxy_helpers import listeners_for
from tests.replay_helpers import KALSHI, fixture, write_session

LOOPBACK_UPSTREAMS = ("--upstream", "kalshi=http://127.0.0.1:9", "--upstream", "poly=http://127.0.0.1:9")


def existing(tmp_path):
    return write_session(tmp_path / "s1", [fixture("kalshi", "GET", KALSHI + "/trade-api/v2/markets", answer={})])


def test_record_refuses_an_existing_session_without_append_and_touches_nothing(tmp_path):
    session = existing(tmp_path)
    before = {p.name: p.read_bytes() for p in session.iterdir()}
    args = ["record", "--capture-dir", str(tmp_path), "--session", "s1", *LOOPBACK_UPSTREAMS, *FREE_PORTS]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert (
        f"--session: session {session} already exists (1 fixtures); choose another name, or pass --append to add to it"
        in result.output
    )
    assert {p.name: p.read_bytes() for p in session.iterdir()} == before


def test_a_session_of_an_earlier_run_that_recorded_nothing_is_refused_too(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "manifest.json").write_text('{"format": 1, "fixtures": []}')
    args = ["record", "--capture-dir", str(tmp_path), "--session", "s1", *LOOPBACK_UPSTREAMS, *FREE_PORTS]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "already exists (0 fixtures)" in result.output


def test_append_continues_the_session_after_its_last_seq(tmp_path):
    existing(tmp_path)
    running = start(
        "record", *FREE_PORTS, "--capture-dir", str(tmp_path), "--session", "s1", "--append", "--filter", "all"
    )
    try:
        with urllib.request.urlopen(running.urls["kalshi"] + "/trade-api/v2/markets") as resp:
            assert resp.status == 200
    finally:
        running.stop()
    assert [p.name for p in session_files(tmp_path / "s1")] == [
        "001_GET_kalshi_markets.json",
        "002_GET_kalshi_markets.json",
    ]


@pytest.mark.parametrize(
    "options, status, says",
    [
        ({}, 400, "already exists (1 fixtures); choose another name, or pass --append"),
        ({"append": True}, 200, None),
        ({"append": "yes"}, 400, "append: expected true or false, got 'yes'"),
    ],
)
async def test_a_runtime_switch_to_record_refuses_an_existing_session_unless_append(tmp_path, options, status, says):
    existing(tmp_path)
    counts: Counter[str] = Counter()
    proxy = Proxy(listeners_for("http://127.0.0.1:9"), passthrough_mode([]), counts=counts, admin=admin_routes)
    upstreams = {listener.exchange: listener.upstream for listener in proxy.listeners}
    proxy.mode_factories = forwarding_factories(upstreams, set(), tmp_path, "all", None, counts)
    async with proxy, aiohttp.ClientSession() as http:
        body = orjson.dumps({"mode": "record", "session": "s1", **options})
        headers = {"X-Tradetape-Token": proxy.admin_token, "Content-Type": "application/json"}
        async with http.post(proxy.url("kalshi") + "/__tradetape/mode", data=body, headers=headers) as resp:
            answer = orjson.loads(await resp.read())
    assert resp.status == status, answer
    if says is None:
        assert answer["mode"] == "record"
    else:
        assert says in answer["detail"]
