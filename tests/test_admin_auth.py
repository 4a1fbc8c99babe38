"""Issue 13, class 2: no web page and no other program can drive the admin API of a running proxy."""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest

from proxy.admin.auth import TOKEN_HEADER, write_token_file
from proxy.admin.routes import handle as admin_routes
from proxy.cli.modes import runtime_factories
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges.upstream import Upstream
from tests.proxy_helpers import passing_through, running_app, running_proxy, upstream_app
from tests.replay_helpers import KALSHI, fixture, write_session


@pytest.fixture
async def upstream():
    async with running_app(upstream_app()) as url:
        yield url


def switchable(proxy: Proxy, capture_dir: Path) -> Proxy:
    upstreams = {listener.exchange: listener.upstream for listener in proxy.listeners}
    proxy.mode_factories.update(runtime_factories(upstreams, set(), capture_dir, "all", None, proxy.counts))
    return proxy


def authorised(proxy: Proxy) -> dict[str, str]:
    return {TOKEN_HEADER: proxy.admin_token, "Content-Type": "application/json"}


async def post(proxy: Proxy, name: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    url = proxy.url("kalshi") + f"/__tradetape/{name}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), orjson.loads(await resp.read())


async def test_a_cross_origin_simple_request_cannot_switch_a_recording_proxy_to_replay(upstream, tmp_path):
    """The issue's reproduction: text/plain, Origin http://evil.example, POST /__tradetape/mode."""
    session = write_session(
        tmp_path / "fake", [fixture("kalshi", "POST", KALSHI + "/x", answer={"status": "executed"})]
    )
    options = orjson.dumps({"mode": "replay", "sources": [str(session)]})
    async with running_proxy(upstream, passing_through()) as proxy:
        switchable(proxy, tmp_path)
        page = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
        status, headers, body = await post(proxy, "mode", options, page)
        with_token = await post(proxy, "mode", options, {**authorised(proxy), "Origin": "http://evil.example"})
        assert proxy.mode.name == "passthrough"
    assert status == 403 and headers["X-Tradetape-Error"] == "admin_forbidden" and "Origin" in body["detail"]
    assert with_token[0] == 403  # a page cannot send it, and neither may anything that looks like one


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8787", "127.0.0.1:1", "localhost.evil.example"])
async def test_a_host_that_is_not_the_listeners_own_loopback_address_is_refused(upstream, tmp_path, host):
    """DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its own Host."""
    async with running_proxy(upstream, passing_through()) as proxy:
        switchable(proxy, tmp_path)
        changed = await post(proxy, "mode", b'{"mode":"record"}', {**authorised(proxy), "Host": host})
        status_url = proxy.url("kalshi") + "/__tradetape/status"
        async with aiohttp.ClientSession() as http, http.get(status_url, headers={"Host": host}) as resp:
            read = resp.status
        assert proxy.mode.name == "passthrough"
    assert changed[0] == 403 and changed[2]["tradetape_error"] == "admin_forbidden"
    assert read == 403


@pytest.mark.parametrize(
    "headers, status, kind",
    [
        ({"Content-Type": "application/json"}, 401, "admin_unauthorized"),
        ({"Content-Type": "application/json", TOKEN_HEADER: "guess"}, 401, "admin_unauthorized"),
        ({"Content-Type": "text/plain", TOKEN_HEADER: None}, 415, "admin_unsupported_media_type"),
        (
            {"Content-Type": "application/x-www-form-urlencoded", TOKEN_HEADER: None},
            415,
            "admin_unsupported_media_type",
        ),
        ({TOKEN_HEADER: None}, 415, "admin_unsupported_media_type"),
    ],
)
async def test_state_changing_calls_need_the_token_and_a_json_content_type(upstream, tmp_path, headers, status, kind):
    async with running_proxy(upstream, passing_through()) as proxy:
        switchable(proxy, tmp_path)
        sent = {k: proxy.admin_token if v is None else v for k, v in headers.items()}
        for name, body in (("mode", b'{"mode":"record"}'), ("reset", b""), ("load", b'{"sources":["x"]}')):
            answer = await post(proxy, name, body, sent)
            assert answer[0] == status and answer[2]["tradetape_error"] == kind, (name, answer)
        assert proxy.mode.name == "passthrough"


async def test_the_listeners_own_address_and_the_token_are_enough(upstream, tmp_path):
    async with running_proxy(upstream, passing_through()) as proxy:
        switchable(proxy, tmp_path)
        port = proxy.url("kalshi").rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            status, _, body = await post(proxy, "mode", b'{"mode":"passthrough"}', {**authorised(proxy), "Host": host})
            assert status == 200 and body["mode"] == "passthrough"
        charset = {**authorised(proxy), "Content-Type": "application/json; charset=utf-8"}
        status, _, body = await post(proxy, "mode", b'{"mode":"record","session":"s"}', charset)
        assert status == 200 and body["mode"] == "record"
        async with aiohttp.ClientSession() as http, http.get(proxy.url("poly") + "/__tradetape/status") as resp:
            assert resp.status == 200  # reading the status needs no token


def test_two_proxies_have_different_tokens():
    listeners = [Listener("kalshi", "127.0.0.1", 0, Upstream("kalshi", "http://127.0.0.1:9", False))]
    first, second = Proxy(listeners, passing_through()(Counter())), Proxy(listeners, passing_through()(Counter()))
    assert len(first.admin_token) >= 32 and first.admin_token != second.admin_token


def test_the_token_file_is_readable_only_by_the_user(tmp_path):
    path = tmp_path / "private" / "admin-token"
    write_token_file(path, "t0ken")
    write_token_file(path, "t0ken2")  # a second start replaces it, still private
    assert path.read_text() == "t0ken2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def live_listeners(url: str) -> list[Listener]:
    """Listeners whose upstream counts as a real exchange (live=True), though it is a loopback test app."""
    return [Listener(ex, "127.0.0.1", 0, Upstream(ex, url, True)) for ex in ("kalshi", "poly")]


@pytest.mark.parametrize("allow", [False, True])
async def test_a_live_proxy_is_switched_to_replay_only_when_started_to_allow_it(upstream, tmp_path, allow):
    session = write_session(
        tmp_path / "fake", [fixture("kalshi", "POST", KALSHI + "/x", answer={"status": "executed"})]
    )
    proxy = Proxy(live_listeners(upstream), passing_through()(Counter()), admin=admin_routes, allow_live_replay=allow)
    switchable(proxy, tmp_path)
    async with proxy:
        to_replay = await post(
            proxy, "mode", orjson.dumps({"mode": "replay", "sources": [str(session)]}), authorised(proxy)
        )
        mode_after_switch = proxy.mode.name
        load = await post(proxy, "load", orjson.dumps({"sources": [str(session)]}), authorised(proxy))
        to_record = await post(proxy, "mode", b'{"mode":"record","session":"s"}', authorised(proxy))
    if allow:
        assert to_replay[0] == 200 and mode_after_switch == "replay" and load[0] == 200
    else:
        for status, _, body in (to_replay, load):
            assert status == 403 and body["tradetape_error"] == "live_switch_refused"
            assert "--allow-live-replay" in body["detail"]
        assert mode_after_switch == "passthrough"
    assert to_record[0] == 200  # recording a live exchange is what --live is for
