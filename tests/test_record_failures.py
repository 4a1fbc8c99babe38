"""Upstream failures, the spending guard, and the CLI's refusals."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from decimal import Decimal

import aiohttp
import orjson
import pytest
from click.testing import CliRunner

from proxy.cli.main import main
from proxy.record.guard import GuardAddon, SpendingGuard, order_amounts
from tests.proxy_helpers import fixtures_in, recording, running_app, running_proxy, upstream_app

V2 = "/trade-api/v2/portfolio/events/orders"


@pytest.fixture
async def upstream():
    async with running_app(upstream_app()) as url:
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def garbage_server() -> tuple[asyncio.AbstractServer, str]:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT-HTTP garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def fetch(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    async with aiohttp.ClientSession() as http, http.request(method, url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), orjson.loads(await resp.read())


async def test_connection_refused_is_502_and_recorded_as_error(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_proxy(dead, recording(tmp_path / "s")) as proxy:
        status, headers, body = await fetch(proxy.url("kalshi") + V2, "POST", b"{}")
        assert proxy.counts["failed"] == 1
    assert status == 502 and headers["X-Tradetape-Error"] == "upstream_unreachable"
    assert body["tradetape_error"] == "upstream_unreachable" and body["upstream"] == dead and body["detail"]
    (fixture,) = fixtures_in(tmp_path / "s")
    assert "response" not in fixture
    assert fixture["error"]["tradetape_error"] == "upstream_unreachable" and fixture["error"]["status"] == 502


async def test_timeout_is_504(upstream, tmp_path):
    async with running_proxy(upstream, recording(tmp_path / "s", "all"), timeout=0.3) as proxy:
        status, _headers, body = await fetch(proxy.url("kalshi") + "/slow?seconds=3")
    assert status == 504 and body["tradetape_error"] == "upstream_timeout"
    assert fixtures_in(tmp_path / "s")[0]["error"]["tradetape_error"] == "upstream_timeout"


async def test_reset_mid_body_is_502(upstream, tmp_path):
    async with running_proxy(upstream, recording(tmp_path / "s", "all")) as proxy:
        status, _headers, body = await fetch(proxy.url("kalshi") + "/reset")
    assert status == 502 and body["tradetape_error"] == "upstream_disconnected"
    assert fixtures_in(tmp_path / "s")[0]["error"]["tradetape_error"] == "upstream_disconnected"


async def test_a_request_whose_redaction_fails_is_forwarded_answered_and_not_recorded(upstream, tmp_path, monkeypatch):
    """The request's half of its fixture is made before forwarding; its failure is still the capture's (counted,
    logged, nothing recorded), not a refusal of the request, as when the whole fixture was made after the answer."""
    from proxy.record import recorder

    def broken(*args: object) -> dict:
        raise RuntimeError("redaction broke")

    monkeypatch.setattr(recorder, "request_record", broken)
    async with running_proxy(upstream, recording(tmp_path / "s", "all")) as proxy:
        status, headers, body = await fetch(proxy.url("kalshi") + V2, "POST", b'{"ticker": "KX"}')
        assert proxy.counts["forwarded"] == 1 and proxy.counts["capture_failed"] == 1
        assert proxy.counts["captured"] == 0
    assert status == 200 and "X-Tradetape-Error" not in headers and body["method"] == "POST"
    assert fixtures_in(tmp_path / "s") == []


async def test_invalid_http_is_502(tmp_path):
    server, url = await garbage_server()
    async with server, running_proxy(url, recording(tmp_path / "s", "all")) as proxy:
        status, headers, _body = await fetch(proxy.url("poly") + "/order")
    assert status == 502 and headers["X-Tradetape-Error"].startswith("upstream_")
    assert fixtures_in(tmp_path / "s")[0]["error"]["status"] == 502


def kalshi_order(side: str, count: str, price: str) -> bytes:
    return orjson.dumps(
        {
            "ticker": "T",
            "side": side,
            "count": count,
            "price": price,
            "time_in_force": "immediate_or_cancel",
            "self_trade_prevention_type": "taker_at_cross",
        }
    )


def poly_order(side: str, maker: int, taker: int) -> dict:
    return {"order": {"side": side, "makerAmount": str(maker), "takerAmount": str(taker)}, "orderType": "FAK"}


@pytest.mark.parametrize(
    "exchange, path, body, expected",
    [
        ("kalshi", V2, kalshi_order("bid", "10.00", "0.5500"), [Decimal("5.5")]),
        ("kalshi", V2, kalshi_order("ask", "10.00", "0.5500"), [Decimal("4.5")]),  # YES sell = NO buy at 0.45
        (
            "kalshi",
            V2 + "/batched",
            orjson.dumps(
                {
                    "orders": [
                        orjson.loads(kalshi_order("bid", "2", "0.10")),
                        orjson.loads(kalshi_order("ask", "1", "0.90")),
                    ]
                }
            ),
            [Decimal("0.2"), Decimal("0.1")],
        ),
        (
            "kalshi",
            "/trade-api/v2/portfolio/orders",
            orjson.dumps({"side": "no", "action": "buy", "count": 5, "no_price": 45}),
            [Decimal("2.25")],
        ),
        ("poly", "/order", orjson.dumps(poly_order("BUY", 5_700_000, 10_000_000)), [Decimal("5.7")]),
        ("poly", "/order", orjson.dumps(poly_order("SELL", 10_000_000, 5_700_000)), [Decimal("4.3")]),
        ("poly", "/orders", orjson.dumps([poly_order("BUY", 1_000_000, 2_000_000)] * 3), [Decimal(1)] * 3),
        ("kalshi", "/trade-api/v2/portfolio/balance", b"", None),
        ("poly", "/book", b"", None),
    ],
)
def test_worst_case_loss_per_order(exchange, path, body, expected):
    assert order_amounts(exchange, "POST" if body else "GET", path, body) == expected


async def test_guard_refuses_over_caps_and_never_forwards(upstream, tmp_path):
    guard = SpendingGuard(Decimal("10"), Decimal("12"))
    counts: Counter = Counter()
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, addons=[GuardAddon(guard, counts)])) as proxy:
        ok = await fetch(proxy.url("kalshi") + V2, "POST", kalshi_order("bid", "10.00", "0.6000"))  # 6.00
        over_order = await fetch(
            proxy.url("poly") + "/order", "POST", orjson.dumps(poly_order("BUY", 11_000_000, 20_000_000))
        )
        over_session = await fetch(
            proxy.url("poly") + "/order", "POST", orjson.dumps(poly_order("BUY", 7_000_000, 10_000_000))
        )
        unreadable = await fetch(proxy.url("kalshi") + V2, "POST", b'{"side":"bid","count":5}')
        not_json = await fetch(proxy.url("poly") + "/order", "POST", b"garbage")
        forwarded = proxy.counts["forwarded"]
    assert ok[0] == 200 and forwarded == 1
    for status, headers, _body in (over_order, over_session, unreadable, not_json):
        assert status == 403 and headers["X-Tradetape-Error"] == "spending_guard"
    assert over_order[2]["detail"] == {"reason": "max_order_usd", "cap": "10", "amount": "11.000000"}
    assert over_session[2]["detail"]["reason"] == "max_session_usd" and over_session[2]["detail"]["cap"] == "12"
    assert unreadable[2]["detail"]["reason"] == "unreadable_order"
    assert guard.spent == Decimal("6.0000")
    assert counts["refused"] == 4
    errors = [f["error"] for f in fixtures_in(session) if "error" in f]
    assert [e["tradetape_error"] for e in errors] == ["spending_guard"] * 4  # refusals are logged in the session


@pytest.mark.parametrize(
    "args, message",
    [
        (["--upstream", "bogus=http://127.0.0.1:1"], "unknown exchange 'bogus'"),
        (["--upstream", "kalshi=ftp://x"], "is neither an http(s) URL nor one of the keywords live"),
        (["--upstream", "kalshi=http://127.0.0.1:1/trade-api/v2"], "scheme and host only"),
        (["--upstream", "poly=demo"], "poly has no demo host"),
        (["--upstream", "kalshi=live"], "pass --live"),
        (["--upstream", "kalshi=https://api.elections.kalshi.com"], "pass --live"),
        (["--listen", "kalshi=0.0.0.0:8787"], "--allow-remote"),
        (["--listen", "kalshi=127.0.0.1:http"], "is not a number"),
        (["--listen", "kalshi"], "EXCHANGE=VALUE"),
        (["--filter", "(unclosed"], "invalid regular expression"),
        (["--max-order-usd", "ten"], "--max-order-usd"),
        (["--session", "../x"], "--session"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(args, message, tmp_path):
    result = CliRunner().invoke(main, ["record", "--capture-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unwritable_capture_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = [
        "record",
        "--capture-dir",
        str(blocker),
        "--upstream",
        "kalshi=http://127.0.0.1:9",
        "--upstream",
        "poly=http://127.0.0.1:9",
        "--listen",
        "kalshi=127.0.0.1:0",
        "--listen",
        "poly=127.0.0.1:0",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "--capture-dir" in result.output and str(blocker) in result.output


def test_env_filter_is_validated_too(tmp_path):
    result = CliRunner().invoke(main, ["record", "--capture-dir", str(tmp_path)], env={"CAPTURE_FILTER": "[x"})
    assert result.exit_code == 2 and "invalid regular expression" in result.output


def test_passthrough_refuses_live_upstream_without_live_flag():
    result = CliRunner().invoke(main, ["passthrough", "--upstream", "poly=live"])
    assert result.exit_code == 2 and "pass --live" in result.output


async def test_never_an_open_proxy_absolute_urls_and_connect_are_refused(upstream, tmp_path):
    async with running_proxy(upstream, recording(tmp_path / "s", "all")) as proxy:
        port = proxy.listeners[0].port
        for target in (b"GET http://example.com/x HTTP/1.1", b"CONNECT example.com:443 HTTP/1.1"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(target + b"\r\nHost: example.com\r\n\r\n")
            head = await asyncio.wait_for(reader.read(4096), 5)
            writer.close()
            assert head.startswith(b"HTTP/1.1 400") and b"X-Tradetape-Error: not_a_path" in head
        assert proxy.counts["forwarded"] == 0
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("0*.json"))


def test_a_session_with_a_malformed_fixture_is_not_continued(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "001_GET_kalshi_x.json").write_text("{bad")
    args = [
        "record",
        "--capture-dir",
        str(tmp_path),
        "--session",
        "s1",
        "--append",
        "--upstream",
        "kalshi=http://127.0.0.1:9",
        "--upstream",
        "poly=http://127.0.0.1:9",
        "--listen",
        "kalshi=127.0.0.1:0",
        "--listen",
        "poly=127.0.0.1:0",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "--session:" in result.output and "001_GET_kalshi_x.json: invalid JSON at line 1" in result.output
    assert (tmp_path / "s1" / "001_GET_kalshi_x.json").read_text() == "{bad"  # nothing recorded is lost


async def test_a_session_is_continued_after_its_last_seq(upstream, tmp_path):
    async with running_proxy(upstream, recording(tmp_path / "s", "all")) as proxy:
        await fetch(proxy.url("kalshi") + "/a")
    async with running_proxy(upstream, recording(tmp_path / "s", "all", append=True)) as proxy:
        await fetch(proxy.url("poly") + "/b")
    fixtures = fixtures_in(tmp_path / "s")
    assert [f["seq"] for f in fixtures] == [1, 2]
    manifest = orjson.loads((tmp_path / "s" / "manifest.json").read_bytes())
    assert [e["file"] for e in manifest["fixtures"]] == ["001_GET_kalshi_a.json", "002_GET_poly_b.json"]


@pytest.mark.parametrize(
    "exchange, path",
    [
        ("poly", "//order"),  # a base URL with a trailing slash
        ("poly", "/order/"),
        ("poly", "/x/../order"),
        ("kalshi", "/trade-api/v2/portfolio/events/orders/"),
        ("kalshi", "/trade-api/v2//portfolio/events/orders/batched/"),
    ],
)
def test_an_order_path_spelled_differently_is_still_priced(exchange, path):
    body = (
        orjson.dumps(poly_order("BUY", 5_700_000, 10_000_000))
        if exchange == "poly"
        else kalshi_order("bid", "10.00", "0.5500")
    )
    if path.endswith("batched/"):
        body = orjson.dumps({"orders": [orjson.loads(body)]})
    assert order_amounts(exchange, "POST", path, body) == [Decimal("5.7") if exchange == "poly" else Decimal("5.5")]


@pytest.mark.parametrize(
    "exchange, method, path, reason",
    [
        ("kalshi", "PUT", V2, "unlisted_write"),
        ("kalshi", "POST", V2 + "/abc/replace", "unlisted_write"),
        ("kalshi", "PATCH", "/trade-api/v2/portfolio/orders/abc", "unlisted_write"),
        ("kalshi", "POST", "/trade-api/v2/Portfolio/Events/Orders", "unreadable_order"),  # priced as an order
        ("poly", "PUT", "/order", "unlisted_write"),
        ("poly", "POST", "/orders/batch", "unlisted_write"),
    ],
)
def test_an_unknown_write_on_an_order_endpoint_is_refused(exchange, method, path, reason):
    refusal = SpendingGuard(Decimal(10), Decimal(50)).check(exchange, method, path, b"{}")
    assert refusal is not None and refusal.reason == reason
    assert f"{method} {path}" in refusal.detail["detail"]


def test_a_legacy_amend_is_priced():
    body = orjson.dumps({"side": "yes", "action": "buy", "count": 10, "yes_price": 60})
    assert order_amounts("kalshi", "POST", "/trade-api/v2/portfolio/orders/abc/amend", body) == [Decimal(6)]


def test_a_field_the_exchange_would_read_in_another_case_is_refused():
    body = b'{"side":"bid","count":"1.00","price":"0.50","COUNT":"900.00"}'  # Go's JSON decoder takes the last
    refusal = SpendingGuard(Decimal(10), Decimal(50)).check("kalshi", "POST", V2, body)
    assert refusal is not None and refusal.reason == "unreadable_order" and "COUNT" in refusal.detail["detail"]


async def test_requests_arriving_while_stopping_are_refused_not_forwarded(upstream, tmp_path):
    proxy = running_proxy(upstream, recording(tmp_path / "s", "all"))
    await proxy.start()
    kept_alive = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    other = aiohttp.ClientSession()
    try:
        async with kept_alive.get(proxy.url("kalshi") + "/a") as resp:
            assert resp.status == 200  # its connection stays open in the pool
        slow = asyncio.create_task(other.get(proxy.url("kalshi") + "/slow?seconds=0.5"))
        await asyncio.sleep(0.1)
        stopping = asyncio.create_task(proxy.stop(grace=5))
        await asyncio.sleep(0.1)
        async with kept_alive.post(proxy.url("kalshi") + V2, data=b"{}") as resp:
            assert resp.status == 503 and resp.headers["X-Tradetape-Error"] == "shutting_down"
        assert (await slow).status == 200  # what was in flight finishes
        await stopping
    finally:
        await kept_alive.close()
        await other.close()
    assert [f["request"]["url"].rsplit("/", 1)[1] for f in fixtures_in(tmp_path / "s")] == ["a", "slow?seconds=0.5"]
