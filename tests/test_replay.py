"""Replay mode end to end: round trip against a recording, order, echo/correlation, misses, failures, latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

import ctf_order
from proxy.exchanges.poly import order_ids
from proxy.replay.sources import SourceError
from proxy.tape.fixture import FixtureError
from tests.proxy_helpers import recording, running_app, running_proxy
from tests.replay_helpers import KALSHI, ORDERS, POLY, failure, fixture, replaying, write_session
from tests.ws_helpers import admin

CREATE = {
    "ticker": "KXTEST-26",
    "client_order_id": "cid-recorded-0001",
    "side": "bid",
    "count": "5.00",
    "price": "0.5500",
    "time_in_force": "immediate_or_cancel",
}


@pytest.fixture
async def upstream():
    """A local exchange whose every answer is unique (a counter), and which counts the requests it sees."""
    hits: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        hits.append(request.raw_path)
        body = await request.read()
        payload = {"n": len(hits), "path_qs": request.raw_path, "body": body.decode()}
        return web.json_response(payload, status=int(request.query.get("reply_status", 200)))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with running_app(app) as url:
        yield url, hits


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with http.request(method, url, data=body, headers=headers) as resp:
        return resp.status, await resp.read(), resp


def script(kalshi: str, poly: str) -> list[tuple[str, str, bytes | None]]:
    """A trading session: create, read the same order twice, list, and a Polymarket order and list."""
    return [
        ("POST", kalshi + ORDERS, orjson.dumps(CREATE)),
        ("GET", kalshi + "/trade-api/v2/portfolio/orders?ticker=KXTEST-26&status=resting", None),
        ("GET", kalshi + "/trade-api/v2/portfolio/orders?ticker=KXTEST-26&status=resting", None),
        (
            "POST",
            poly + "/order",
            b'{"order":{"salt":123456789,"side":"BUY","makerAmount":"5000000"},"orderType":"FOK"}',
        ),
        ("GET", kalshi + "/trade-api/v2/portfolio/fills?ticker=KXTEST-26", None),
        ("GET", poly + "/data/orders?market=0xabc&next_cursor=MA%3D%3D", None),
        (
            "POST",
            kalshi + ORDERS + "?reply_status=409",
            orjson.dumps({**CREATE, "client_order_id": "cid-recorded-0002"}),
        ),
    ]


async def test_round_trip_replays_byte_identical_bodies_in_order_without_contacting_upstream(upstream, tmp_path):
    url, hits = upstream
    session = tmp_path / "session"
    recorded = []
    async with running_proxy(url, recording(session, "all")) as proxy, aiohttp.ClientSession() as http:
        for method, target, body in script(proxy.url("kalshi"), proxy.url("poly")):
            status, data, _ = await call(http, method, target, body, {"KALSHI-ACCESS-SIGNATURE": "sig-at-record"})
            recorded.append((status, data))
    assert len(hits) == 7 and len({data for _, data in recorded}) == 7  # every answer differs
    hits.clear()

    async with replaying([session], upstream_url=url) as proxy, aiohttp.ClientSession() as http:
        replayed = []
        for method, target, body in script(proxy.url("kalshi"), proxy.url("poly")):
            status, data, resp = await call(http, method, target, body, {"KALSHI-ACCESS-SIGNATURE": "other-sig"})
            replayed.append((status, data))
            assert "X-Tradetape-Error" not in resp.headers
        # once everything is consumed a further request still never goes upstream
        status, data, resp = await call(http, "POST", proxy.url("kalshi") + ORDERS, orjson.dumps(CREATE))
        status_body = orjson.loads(await (await http.get(proxy.url("kalshi") + "/__tradetape/status")).read())
    assert replayed == recorded
    assert recorded[1][1] != recorded[2][1]  # identical requests got successive responses
    assert status == 599 and resp.headers["X-Tradetape-Error"] == "exhausted"
    assert hits == []
    assert status_body["mode"] == "replay" and status_body["unused"] == []
    assert status_body["counts"]["replayed"] == 7 and status_body["counts"]["unmatched"] == 1


async def test_matching_ignores_headers_query_order_key_order_and_volatile_fields(tmp_path):
    session = write_session(
        tmp_path / "s",
        [
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/orders?a=1&b=2&b=3", answer={"orders": []}),
            fixture(
                "poly",
                "POST",
                POLY + "/order",
                answer={"success": True, "orderID": "0xhash"},
                body={
                    "order": {
                        "salt": 1,
                        "timestamp": "1767225600000",
                        "expiration": "0",
                        "side": "BUY",
                        "signature": "0xaaa",
                        "maker": "0xM1",
                        "signer": "0xM1",
                        "makerAmount": "5000000",
                    },
                    "owner": "[REDACTED]",
                    "orderType": "GTC",
                },
            ),
        ],
    )
    live_poly = {
        "orderType": "GTC",
        "owner": "live-api-key",
        "order": {
            "makerAmount": "5000000",
            "side": "BUY",
            "salt": 987,
            "timestamp": "1767229999999",
            "expiration": "1767230000",
            "signature": "0xbbb",
            "maker": "0xM2",
            "signer": "0xM2",
        },
    }
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        status, data, _ = await call(
            http,
            "GET",
            proxy.url("kalshi") + "/trade-api/v2/portfolio/orders?b=2&a=1&b=3",
            headers={"X-Anything": "differs"},
        )
        assert (status, orjson.loads(data)) == (200, {"orders": []})
        status, data, _ = await call(http, "POST", proxy.url("poly") + "/order", orjson.dumps(live_poly))
        assert (status, orjson.loads(data)["orderID"]) == (200, "0xhash")


async def test_a_non_volatile_body_field_that_differs_is_unmatched_with_both_values(tmp_path):
    session = write_session(
        tmp_path / "s",
        [
            fixture("kalshi", "POST", KALSHI + ORDERS, body=CREATE, status=201, answer={"order_id": "o1"}),
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/orders?ticker=KXTEST-26", answer={"orders": []}),
        ],
    )
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        status, data, resp = await call(
            http,
            "POST",
            proxy.url("kalshi") + ORDERS,
            orjson.dumps({**CREATE, "price": "0.5600", "client_order_id": "live-id-9"}),
        )
        _, data2, _ = await call(http, "GET", proxy.url("kalshi") + "/trade-api/v2/portfolio/orders?ticker=OTHER&x=1")
        _, data3, _ = await call(http, "DELETE", proxy.url("kalshi") + ORDERS)
        status_body = orjson.loads(await (await http.get(proxy.url("poly") + "/__tradetape/status")).read())
    miss = orjson.loads(data)
    assert status == 599 and resp.headers["X-Tradetape-Error"] == "unmatched"
    assert miss["tradetape_error"] == "unmatched"
    assert miss["request"]["method"] == "POST" and miss["request"]["body"]["price"] == "0.5600"
    best = miss["candidates"][0]
    assert best["fixture"] == "s/001_POST_kalshi_orders.json" and best["consumed"] is False
    assert best["differs"] == {"body": {"/price": {"live": "0.5600", "recorded": "0.5500"}}}
    query_miss = orjson.loads(data2)["candidates"][0]["differs"]
    assert query_miss == {
        "query": {
            "ticker": {"live": ["OTHER"], "recorded": ["KXTEST-26"]},
            "x": {"live": ["1"], "recorded": "(absent)"},
        }
    }
    assert orjson.loads(data3)["candidates"][0]["differs"]["method"] == {"live": "DELETE", "recorded": "POST"}
    assert len(status_body["unmatched"]) == 3
    assert sorted(status_body["unused"]) == ["s/001_POST_kalshi_orders.json", "s/002_GET_kalshi_orders.json"]


async def test_unmatched_diagnostics_never_show_secret_body_fields(tmp_path):
    session = write_session(tmp_path / "s", [fixture("poly", "POST", POLY + "/order", body={"a": 1}, answer={})])
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        _, data, _ = await call(http, "POST", proxy.url("poly") + "/order", b'{"a":2,"owner":"api-key-secret"}')
    assert b"api-key-secret" not in data
    assert orjson.loads(data)["request"]["body"]["owner"] == "[REDACTED]"


async def test_exhausted_key_errors_by_default_and_repeats_last_when_asked(tmp_path):
    session = write_session(
        tmp_path / "s",
        [
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/balance", answer={"balance": 1}),
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/balance", answer={"balance": 2}),
        ],
    )
    target = "/trade-api/v2/portfolio/balance"
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        bodies = [await call(http, "GET", proxy.url("kalshi") + target) for _ in range(3)]
    assert [orjson.loads(b[1]).get("balance") for b in bodies[:2]] == [1, 2]
    status, data, resp = bodies[2]
    miss = orjson.loads(data)
    assert status == 599 and resp.headers["X-Tradetape-Error"] == "exhausted"
    assert miss["candidates"] == [
        {"fixture": "s/002_GET_kalshi_balance.json", "seq": 2, "differs": "already consumed", "consumed": True}
    ]

    async with replaying([session], on_exhausted="repeat-last") as proxy, aiohttp.ClientSession() as http:
        bodies = [await call(http, "GET", proxy.url("kalshi") + target) for _ in range(4)]
    assert [(b[0], orjson.loads(b[1])["balance"]) for b in bodies] == [(200, 1), (200, 2), (200, 2), (200, 2)]


async def test_correlation_maps_recorded_ids_to_live_ones_in_answers_and_later_requests(tmp_path):
    recorded_id = "cid-recorded-0001"
    session = write_session(
        tmp_path / "s",
        [
            fixture(
                "kalshi",
                "POST",
                KALSHI + ORDERS,
                body=CREATE,
                status=201,
                answer={"order_id": "ord-1", "client_order_id": recorded_id, "fill_count": "5.00"},
            ),
            fixture(
                "kalshi",
                "GET",
                KALSHI + f"/trade-api/v2/portfolio/orders?client_order_id={recorded_id}",
                answer={"orders": [{"order_id": "ord-1", "client_order_id": recorded_id, "status": "executed"}]},
                headers={"x-order-link": f"/orders/{recorded_id}"},
            ),
            fixture(
                "kalshi",
                "POST",
                KALSHI + "/trade-api/v2/portfolio/events/orders/ord-1/amend",
                body={
                    "ticker": "KXTEST-26",
                    "client_order_id": recorded_id,
                    "updated_client_order_id": "cid-recorded-0002",
                    "side": "bid",
                    "price": "0.5600",
                    "count": "5.00",
                },
                answer={"order_id": "ord-1", "client_order_id": "cid-recorded-0002"},
            ),
            fixture(
                "kalshi", "GET", KALSHI + f"/trade-api/v2/lookup/{recorded_id}", answer={"note": f"x{recorded_id}"}
            ),
        ],
    )
    live_id = "live-7e1d-4b0a-9c2f"
    base = "/trade-api/v2/portfolio"
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        k = proxy.url("kalshi")
        _, created, _ = await call(http, "POST", k + ORDERS, orjson.dumps({**CREATE, "client_order_id": live_id}))
        status, listed, resp = await call(http, "GET", k + f"{base}/orders?client_order_id={live_id}")
        link = resp.headers["x-order-link"]
        _, amended, _ = await call(
            http,
            "POST",
            k + f"{base}/events/orders/ord-1/amend",
            orjson.dumps(
                {
                    "ticker": "KXTEST-26",
                    "client_order_id": live_id,
                    "updated_client_order_id": "live-second-id",
                    "side": "bid",
                    "price": "0.5600",
                    "count": "5.00",
                }
            ),
        )
        _, looked_up, _ = await call(http, "GET", k + f"/trade-api/v2/lookup/{live_id}")
    assert orjson.loads(created) == {"order_id": "ord-1", "client_order_id": live_id, "fill_count": "5.00"}
    assert status == 200 and orjson.loads(listed)["orders"][0]["client_order_id"] == live_id
    assert link == f"/orders/{live_id}"
    assert orjson.loads(amended)["client_order_id"] == "live-second-id"
    assert orjson.loads(looked_up) == {"note": f"x{recorded_id}"}  # whole values only, never substrings


async def test_clock_derived_expiry_and_time_filters_replay_and_keep_the_correlation(tmp_path):
    """A GTC order whose expiration_time comes from the clock, then reads filtered by time: the live values
    differ from the recorded ones, yet every request matches and later answers carry the live id."""
    recorded_id = "cid-recorded-0001"
    orders = f"/trade-api/v2/portfolio/orders?ticker=KXTEST-26&min_ts=1781150000&client_order_id={recorded_id}"
    create = {**CREATE, "client_order_id": recorded_id, "expiration_time": 1781159348}
    created = {"order_id": "ord-1", "client_order_id": recorded_id, "remaining_count": "5.00"}
    listed = {"orders": [created | {"status": "resting"}]}
    recordings = [
        fixture("kalshi", "POST", KALSHI + ORDERS, body=create, status=201, answer=created),
        fixture("kalshi", "GET", KALSHI + orders, answer=listed),
    ]
    session = write_session(tmp_path / "s", recordings)
    live_id = "live-7e1d-4b0a-9c2f"
    async with replaying([session], strict_order=True) as proxy, aiohttp.ClientSession() as http:
        k = proxy.url("kalshi")
        live_create = {**CREATE, "client_order_id": live_id, "expiration_time": 1790000000}
        created_status, live_created, _ = await call(http, "POST", k + ORDERS, orjson.dumps(live_create))
        later = f"/trade-api/v2/portfolio/orders?min_ts=1789990000&ticker=KXTEST-26&client_order_id={live_id}"
        listed_status, live_listed, _ = await call(http, "GET", k + later)
    assert (created_status, orjson.loads(live_created)["client_order_id"]) == (201, live_id)
    assert listed_status == 200 and orjson.loads(live_listed)["orders"][0]["client_order_id"] == live_id


async def test_a_live_id_sent_again_correlates_with_the_next_recording_not_with_the_first(tmp_path):
    # The recording used two ids where the live client resends one (a retry): the second answer must
    # still carry the live id, not the first recorded one the request was mapped back to.
    session = write_session(
        tmp_path / "s",
        [
            fixture(
                "kalshi",
                "POST",
                KALSHI + ORDERS,
                body={**CREATE, "client_order_id": rec},
                status=201,
                answer={"order_id": f"ord-{n}", "client_order_id": rec},
            )
            for n, rec in enumerate(("cid-recorded-0001", "cid-recorded-0002"), 1)
        ],
    )
    live_id = "live-7e1d-4b0a-9c2f"
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        answers = [
            orjson.loads(
                (
                    await call(
                        http, "POST", proxy.url("kalshi") + ORDERS, orjson.dumps({**CREATE, "client_order_id": live_id})
                    )
                )[1]
            )
            for _ in range(2)
        ]
    assert answers == [
        {"order_id": "ord-1", "client_order_id": live_id},
        {"order_id": "ord-2", "client_order_id": live_id},
    ]


async def test_recorded_failures_replay_as_the_same_failure_or_a_dropped_connection(tmp_path):
    session = write_session(
        tmp_path / "s",
        [
            failure("kalshi", "POST", KALSHI + ORDERS, "upstream_timeout", 504, body=CREATE),
            failure("kalshi", "POST", KALSHI + ORDERS, "connection_dropped", body={**CREATE, "count": "1.00"}),
        ],
    )
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        status, data, resp = await call(http, "POST", proxy.url("kalshi") + ORDERS, orjson.dumps(CREATE))
        with pytest.raises(aiohttp.ServerDisconnectedError):  # a POST: aiohttp retries idempotent requests
            await call(http, "POST", proxy.url("kalshi") + ORDERS, orjson.dumps({**CREATE, "count": "1.00"}))
    assert status == 504 and resp.headers["X-Tradetape-Error"] == "upstream_timeout"
    assert orjson.loads(data) == {
        "tradetape_error": "upstream_timeout",
        "upstream": KALSHI,
        "detail": "recorded failure",
    }


async def test_strict_order_reports_the_first_divergence_per_exchange(tmp_path):
    session = write_session(
        tmp_path / "s",
        [
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/a", answer={"k": "a"}),
            fixture("poly", "GET", POLY + "/p", answer={"p": 1}),
            fixture("kalshi", "GET", KALSHI + "/trade-api/v2/b", answer={"k": "b"}),
        ],
    )
    async with replaying([session], strict_order=True) as proxy, aiohttp.ClientSession() as http:
        k, p = proxy.url("kalshi"), proxy.url("poly")
        status, data, resp = await call(http, "GET", k + "/trade-api/v2/b")
        poly_first, _, _ = await call(http, "GET", p + "/p")  # the other exchange has its own order
        in_order = [(await call(http, "GET", k + path))[0] for path in ("/trade-api/v2/a", "/trade-api/v2/b")]
    assert status == 599 and resp.headers["X-Tradetape-Error"] == "out_of_order"
    miss = orjson.loads(data)
    assert miss["candidates"][0]["fixture"] == "s/001_GET_kalshi_a.json"
    assert miss["candidates"][0]["differs"] == {"path": {"live": "/trade-api/v2/b", "recorded": "/trade-api/v2/a"}}
    assert "001_GET_kalshi_a.json" in miss["detail"]
    assert poly_first == 200 and in_order == [200, 200]

    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:  # without the flag, any order
        assert (await call(http, "GET", proxy.url("kalshi") + "/trade-api/v2/b"))[0] == 200


async def test_composition_keeps_each_source_order_and_reports_collisions_and_gaps(tmp_path):
    balance = KALSHI + "/trade-api/v2/portfolio/balance"
    first = write_session(tmp_path / "kalshi_full_fill", [fixture("kalshi", "GET", balance, answer={"from": "first"})])
    second = write_session(
        tmp_path / "poly_partial_fill",
        [
            fixture("poly", "GET", POLY + "/data/orders", answer={"from": "second"}),
            fixture("kalshi", "GET", balance, answer={"from": "second"}),
        ],
    )
    (second / "003_GET_kalshi_x.json").write_bytes(
        (second / "002_GET_kalshi_balance.json").read_bytes().replace(b'"seq": 2', b'"seq": 5')
    )
    single = write_session(tmp_path / "single", [fixture("poly", "GET", POLY + "/one", answer={"one": 1})])
    single_file = next(single.iterdir())
    async with replaying([first, second, single_file]) as proxy, aiohttp.ClientSession() as http:
        answers = [
            orjson.loads((await call(http, "GET", proxy.url("kalshi") + "/trade-api/v2/portfolio/balance"))[1])
            for _ in range(3)
        ]
        one = orjson.loads((await call(http, "GET", proxy.url("poly") + "/one"))[1])
        status = orjson.loads(await (await http.get(proxy.url("kalshi") + "/__tradetape/status")).read())
    assert [a["from"] for a in answers] == ["first", "second", "second"] and one == {"one": 1}
    assert [s["name"] for s in status["sources"]] == ["kalshi_full_fill", "poly_partial_fill", "001_GET_poly_one"]
    warnings = "\n".join(status["warnings"])
    assert "gap, seq 3-4 missing" in warnings
    assert (
        "collision: kalshi GET /trade-api/v2/portfolio/balance is recorded by kalshi_full_fill, poly_partial_fill"
        in warnings
    )
    assert status["unused"] == ["poly_partial_fill/001_GET_poly_orders.json"]


async def test_scenario_names_resolve_under_the_fixtures_dir(tmp_path):
    write_session(
        tmp_path / "fixtures" / "kalshi_full_fill", [fixture("kalshi", "GET", KALSHI + "/x", answer={"ok": 1})]
    )
    async with (
        replaying(["kalshi_full_fill"], fixtures_dir=tmp_path / "fixtures") as proxy,
        aiohttp.ClientSession() as http,
    ):
        assert (await call(http, "GET", proxy.url("kalshi") + "/x"))[1] == b'{"ok":1}'
    with pytest.raises(SourceError, match=r"no_such_scenario.*no such session directory"):
        async with replaying(["no_such_scenario"], fixtures_dir=tmp_path / "fixtures"):
            pass


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{"seq": 2, "exchange": "kalshi",\n  "request": {', "invalid JSON at line 2"),
        (b'{"seq": 2, "exchange": "kalshi", "request": {"method": "GET"}, "response": {}}', "missing key request.url"),
        (
            b'{"seq": 2, "exchange": "kalshi", "request": {"method": "GET", "url": "http://x/y"}, "error": "boom"}',
            "error must be an object",
        ),
        (
            b'{"seq": 2, "exchange": "kalshi", "request": {"method": "GET", "url": "http://x/y"},'
            b' "response": {"status": 200, "headers": {"x-n": 5}, "body_raw": null}}',
            "response.headers.x-n has the wrong type",
        ),
        (
            b'{"seq": 2, "exchange": "kalshi", "request": {"method": "GET", "url": "http://x/y"},'
            b' "response": {"status": 200, "headers": {}, "body_raw": "abcde", "body_encoding": "base64"}}',
            "response.body_raw is not valid base64",
        ),
        (
            b'{"seq": 2, "exchange": "kalshi", "request": {"method": "GET", "url": "http://[::1/y"},'
            b' "response": {"status": 200, "headers": {}, "body_raw": null}}',
            "request.url is not a URL",
        ),
    ],
)
async def test_a_malformed_fixture_stops_the_load_naming_file_and_reason(tmp_path, content, reason):
    session = write_session(tmp_path / "s", [fixture("kalshi", "GET", KALSHI + "/x", answer={})])
    (session / "002_GET_kalshi_y.json").write_bytes(content)
    with pytest.raises(FixtureError) as caught:
        async with replaying([session]):
            pass
    assert caught.value.path.name == "002_GET_kalshi_y.json" and reason in str(caught.value)


async def test_latency_modes_wait_as_configured(tmp_path):
    session = write_session(tmp_path / "s", [fixture("kalshi", "GET", KALSHI + "/x", answer={}, latency_ms=120)] * 2)
    waits: dict[str, list[float]] = {}
    for spec in ("none", "recorded", "scale:0.5", "fixed:30"):
        slept: list[float] = []

        async def sleep(seconds: float, slept=slept) -> None:
            slept.append(seconds)

        async with replaying([session], latency=spec, sleep=sleep) as proxy, aiohttp.ClientSession() as http:
            for _ in range(2):
                await call(http, "GET", proxy.url("kalshi") + "/x")
        waits[spec] = slept
    assert waits == {"none": [], "recorded": [0.12, 0.12], "scale:0.5": [0.06, 0.06], "fixed:30": [0.03, 0.03]}


async def test_fixed_latency_really_waits_at_least_that_long(tmp_path):
    session = write_session(tmp_path / "s", [fixture("kalshi", "GET", KALSHI + "/x", answer={})])
    async with replaying([session], latency="fixed:40") as proxy, aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await call(http, "GET", proxy.url("kalshi") + "/x")
        assert time.perf_counter() - started >= 0.04


@pytest.mark.parametrize(
    "options, message",
    [
        ({"latency": "slow"}, "--latency"),
        ({"latency": "scale:-1"}, "--latency"),
        ({"on_exhausted": "loop"}, "--on-exhausted"),
    ],
)
def test_bad_replay_options_name_the_flag(options, message):
    from proxy.exchanges import ConfigError
    from proxy.replay.replayer import ReplayOptions

    with pytest.raises(ConfigError, match=message):
        ReplayOptions(**options)


async def test_concurrent_identical_requests_each_get_a_distinct_recording(tmp_path):
    session = write_session(
        tmp_path / "s", [fixture("kalshi", "GET", KALSHI + "/x", answer={"n": n}) for n in range(20)]
    )
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(call(http, "GET", proxy.url("kalshi") + "/x") for _ in range(20)))
    assert sorted(orjson.loads(data)["n"] for _, data, _ in results) == list(range(20))


async def test_problem_report_lists_misses_then_unused_and_stays_short(tmp_path):
    session = write_session(tmp_path / "s", [fixture("kalshi", "GET", KALSHI + f"/x{n}", answer={}) for n in range(60)])
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        await call(http, "GET", proxy.url("kalshi") + "/x0")
        await call(http, "GET", proxy.url("kalshi") + "/y?a=1")
        replayer = proxy.mode.addons[0]
        lines = replayer.problems(limit=5)
        assert replayer.problems(allow_unused=True) == lines[:12]
    first = (
        "  unmatched GET /y?a=1: closest 002_GET_kalshi_root.json differs in path (live /y, recorded /x1)"
        + ", and 1 more"
    )
    assert lines[:3] == ["unmatched requests (1):", first, "      no recording matches this request"]
    assert lines[3:6] == [
        "      candidate s/002_GET_kalshi_root.json (seq 2, not served yet):",
        "        differs in path (live /y, recorded /x1)",
        "        differs at ?a (live 1, recorded (absent))",
    ]
    unused = lines.index("unused fixtures (59):")
    assert unused == 12 and lines[unused + 1] == "  s/002_GET_kalshi_root.json"
    assert lines[-1] == "  ... and 54 more" and len(lines) == unused + 7


async def test_gzip_binary_and_text_answers_round_trip_through_record_and_replay(tmp_path):
    from tests.proxy_helpers import upstream_app

    session = tmp_path / "s"
    paths = ["/gzip", "/binary", "/text"]
    async with (
        running_app(upstream_app()) as url,
        running_proxy(url, recording(session, "all")) as proxy,
        aiohttp.ClientSession() as http,
    ):
        recorded = [await call(http, "GET", proxy.url("poly") + p) for p in paths]
    async with replaying([session]) as proxy, aiohttp.ClientSession(auto_decompress=False) as http:
        replayed = [await call(http, "GET", proxy.url("poly") + p) for p in paths]
    for (status, body, _), (status2, body2, resp) in zip(recorded, replayed, strict=True):
        assert (status2, body2) == (status, body)  # the recorded gzip answer is served decoded
        assert "Content-Encoding" not in resp.headers
    assert replayed[1][2].headers["Content-Type"] == "application/octet-stream" and replayed[2][0] == 425


def poly_order(salt: int) -> dict[str, Any]:
    """A signed-order body as a client sends it (the signature is not checked by replay)."""
    order = {
        "salt": salt,
        "maker": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "signer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "tokenId": "71321045679252212594626385532706912750332728571942532289631379312455583992563",
        "makerAmount": "5000000",
        "takerAmount": "10000000",
        "side": "BUY",
        "expiration": "0",
        "signatureType": 0,
        "timestamp": str(1781150000000 + salt),
        "metadata": "0x" + "00" * 32,
        "builder": "0x" + "00" * 32,
        "signature": "0x" + "ab" * 65,
    }
    return {"order": order, "owner": "[REDACTED]", "orderType": "FOK", "deferExec": False, "postOnly": False}


async def test_a_polymarket_order_hash_correlates_when_the_recorded_answer_was_lost(tmp_path):
    # The order hash (orderID) is computed from the signed order, salt included, so it differs every run. When the
    # recorded POST /order answer was lost, the client looks its order up by the hash it computed itself: replay
    # must map the recorded hash to the live one in that lookup and in its answer.
    recorded, live = poly_order(1111), poly_order(2222)
    recorded_hash = ctf_order.order_hash(recorded["order"])
    live_hash = ctf_order.order_hash(live["order"])
    assert recorded_hash != live_hash
    session = write_session(
        tmp_path / "s",
        [
            failure("poly", "POST", POLY + "/order", "upstream_timeout", status=504, body=recorded),
            fixture(
                "poly",
                "GET",
                POLY + f"/data/order/{recorded_hash}",
                answer={"id": recorded_hash, "status": "MATCHED", "size_matched": "10"},
            ),
        ],
    )
    async with replaying([session], strict_order=True) as proxy, aiohttp.ClientSession() as http:
        p = proxy.url("poly")
        posted, _, _ = await call(http, "POST", p + "/order", orjson.dumps(live))
        status, looked_up, _ = await call(http, "GET", p + f"/data/order/{live_hash}")
    assert posted == 504
    assert status == 200 and orjson.loads(looked_up) == {"id": live_hash, "status": "MATCHED", "size_matched": "10"}


def test_order_ids_hash_every_signed_order_of_a_body_and_nothing_else():
    single = poly_order(7)
    ids = order_ids(single)
    assert ids["/order#v2@137"] == ctf_order.order_hash(single["order"])
    assert ids["/order#v2-negrisk@137"] == ctf_order.order_hash(single["order"], 2, True)
    assert len(ids) == len(ctf_order.ORDER_DOMAINS) == len(set(ids.values()))
    batch = order_ids([poly_order(7), {"order": "not an order"}, poly_order(8)])
    assert {k.split("#")[0] for k in batch} == {"/0/order", "/2/order"}
    assert batch["/0/order#v3@137"] == ctf_order.order_hash(single["order"], 3)
    unhashable = {"order": {**single["order"], "salt": "not a number"}}
    assert order_ids(unhashable) == {} and order_ids({"market": "x"}) == {} and order_ids("text") == {}


async def test_a_miss_report_never_shows_the_clients_credentials_under_another_name(tmp_path):
    session = write_session(tmp_path / "s", [fixture("poly", "GET", POLY + "/data/orders", answer={"data": []})])
    key, passphrase = "live-api-key-0001", "live-passphrase-0001"
    headers = {"POLY_API_KEY": key, "POLY_PASSPHRASE": passphrase, "POLY_ADDRESS": "0xabc"}
    body = orjson.dumps({"market": key, "note": f"pass {passphrase}", "secret": "body-secret-0001"})
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        status, answer, _ = await call(http, "POST", proxy.url("poly") + f"/data/trades?id={key}", body, headers)
        async with http.get(proxy.url("poly") + "/__tradetape/status", headers=admin(proxy)) as resp:
            report = await resp.read()
    assert status == 599
    request = orjson.loads(answer)["request"]
    assert request["body"] == {"market": "[REDACTED]", "note": "pass [REDACTED]", "secret": "[REDACTED]"}
    assert request["query"] == "id=[REDACTED]"
    for shown in (answer, report):
        assert all(value.encode() not in shown for value in (key, passphrase, "body-secret-0001"))
