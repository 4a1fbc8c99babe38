"""Record and passthrough modes against a local upstream."""

from __future__ import annotations

import asyncio
import base64
import gzip

import aiohttp
import orjson
import pytest
from aiohttp import web
from yarl import URL

from proxy.tape.fixture import MANIFEST, session_files
from tests.proxy_helpers import fixtures_in, passing_through, recording, running_app, running_proxy, upstream_app

ORDER_PATH = "/trade-api/v2/portfolio/events/orders"
KALSHI_BODY = (
    b'{"ticker":"KXTEST-26","side":"ask","count":"5.00","price":"0.5500","time_in_force":"immediate_or_cancel"}'
)


@pytest.fixture
async def upstream():
    async with running_app(upstream_app()) as url:
        yield url


async def test_forwards_path_query_headers_and_body_bytes_unchanged(upstream, tmp_path):
    client = aiohttp.ClientSession(skip_auto_headers=["User-Agent"])
    async with running_proxy(upstream, recording(tmp_path / "s")) as proxy, client as http:
        url = proxy.url("kalshi") + ORDER_PATH + "?b=2&a=%2F1"
        headers = {
            "KALSHI-ACCESS-KEY": "key-id",
            "KALSHI-ACCESS-SIGNATURE": "c2ln",
            "X-Custom": "1",
            "Content-Type": "application/json",
        }
        async with http.post(URL(url, encoded=True), data=KALSHI_BODY, headers=headers) as resp:
            seen = await resp.json()
    assert seen["path_qs"] == ORDER_PATH + "?b=2&a=%2F1"
    assert base64.b64decode(seen["body_b64"]) == KALSHI_BODY
    sent = {k.lower(): v for k, v in seen["headers"]}
    assert sent["kalshi-access-key"] == "key-id" and sent["kalshi-access-signature"] == "c2ln"
    assert sent["host"] == upstream.removeprefix("http://")
    assert "user-agent" not in sent  # nothing added that the client did not send


async def test_fixture_content_names_and_manifest(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session)) as proxy, aiohttp.ClientSession() as http:
        async with http.post(
            proxy.url("kalshi") + ORDER_PATH,
            data=KALSHI_BODY,
            headers={"Content-Type": "application/json", "KALSHI-ACCESS-KEY": "key-id"},
        ) as resp:
            assert resp.status == 200
            raw = await resp.read()
        async with http.get(proxy.url("kalshi") + "/trade-api/v2/portfolio/orders/ab12-cd?status=resting") as resp:
            await resp.read()
        async with http.delete(proxy.url("poly") + "/order", data=b'{"orderID":"0x1"}') as resp:
            await resp.read()
    names = [p.name for p in session_files(session)]
    assert names == ["001_POST_kalshi_orders.json", "002_GET_kalshi_orders.json", "003_DELETE_poly_order.json"]
    first = fixtures_in(session)[0]
    assert list(first)[:5] == ["seq", "exchange", "captured_at", "latency_ms", "request"]
    assert first["seq"] == 1 and first["exchange"] == "kalshi"
    assert first["request"]["url"] == upstream + ORDER_PATH
    assert first["request"]["body"]["count"] == "5.00"
    assert first["request"]["headers"]["kalshi-access-key"] == "[REDACTED]"
    assert first["response"]["status"] == 200
    assert first["response"]["body_raw"] == raw.decode()
    assert first["response"]["body_parsed"] == orjson.loads(raw)
    assert first["captured_at"].endswith("Z") and first["latency_ms"] >= 0
    manifest = orjson.loads((session / MANIFEST).read_bytes())
    assert manifest["format"] == 1 and manifest["session"] == "s"
    assert [e["file"] for e in manifest["fixtures"]] == names
    assert manifest["fixtures"][1]["url"].endswith("?status=resting")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("orders", ["001_POST_kalshi_orders.json", "002_GET_poly_trades.json"]),
        (
            "all",
            [
                "001_GET_kalshi_balance.json",
                "002_POST_kalshi_orders.json",
                "003_GET_poly_book.json",
                "004_GET_poly_trades.json",
            ],
        ),
        ("/book$", ["001_GET_poly_book.json"]),
    ],
)
async def test_capture_filter_decides_what_is_written_not_what_is_forwarded(upstream, tmp_path, spec, expected):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, spec)) as proxy, aiohttp.ClientSession() as http:
        for exchange, method, path in [
            ("kalshi", "GET", "/trade-api/v2/portfolio/balance"),
            ("kalshi", "POST", ORDER_PATH),
            ("poly", "GET", "/book"),
            ("poly", "GET", "/data/trades"),
        ]:
            async with http.request(method, proxy.url(exchange) + path) as resp:
                assert resp.status == 200  # forwarded whatever the filter says
        assert proxy.counts["forwarded"] == 4
    assert [p.name for p in session_files(session)] == expected


async def test_redaction_of_headers_and_body_fields_at_any_depth(upstream, tmp_path):
    session = tmp_path / "s"
    body = orjson.dumps(
        {
            "order": {"salt": 1, "signature": "0xsig"},
            "owner": "api-key-uuid",
            "nested": [{"deep": {"PassPhrase": "pp", "api_key": "ak", "private_key": "0x" + "ab" * 32}}],
        }
    )
    headers = {
        "POLY_API_KEY": "ak",
        "POLY_PASSPHRASE": "pp",
        "POLY_SIGNATURE": "sig",
        "POLY_ADDRESS": "0xaddr",
        "Authorization": "Bearer t",
        "Cookie": "c=1",
    }
    async with running_proxy(upstream, recording(session, "all")) as proxy, aiohttp.ClientSession() as http:
        async with http.post(proxy.url("poly") + "/accepted", data=body, headers=headers) as resp:
            assert resp.status == 200
        async with http.get(proxy.url("poly") + "/auth/api-key") as resp:
            client_sees = await resp.json()
    assert client_sees["secret"] == "c2VjcmV0"  # the client still gets the real answer
    order, keys = fixtures_in(session)
    h = order["request"]["headers"]
    assert h["poly_api_key"] == h["poly_passphrase"] == h["poly_signature"] == "[REDACTED]"
    assert h["authorization"] == h["cookie"] == "[REDACTED]" and h["poly_address"] == "0xaddr"
    b = order["request"]["body"]
    assert b["owner"] == "[REDACTED]" and b["order"]["signature"] == "0xsig"
    assert b["nested"][0]["deep"] == {"PassPhrase": "[REDACTED]", "api_key": "[REDACTED]", "private_key": "[REDACTED]"}
    parsed = keys["response"]["body_parsed"]
    assert parsed["apiKey"] == parsed["secret"] == parsed["passphrase"] == parsed["data"][0]["owner"] == "[REDACTED]"
    raw = keys["response"]["body_raw"]
    for secret in ("k-123", "c2VjcmV0", "owner-uuid"):
        assert secret not in raw
    assert '"id": "0xabc"' in raw  # the rest of the raw body is untouched
    for path in session_files(session):
        for secret in (b"k-123", b"c2VjcmV0", b"owner-uuid", b"Bearer t", b"ab" * 32):
            assert secret not in path.read_bytes()


async def test_gzip_response_reaches_client_encoded_and_fixture_decoded(upstream, tmp_path):
    session = tmp_path / "s"
    async with (
        running_proxy(upstream, recording(session, "all")) as proxy,
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(proxy.url("kalshi") + "/gzip") as resp,
    ):
        wire = await resp.read()
        assert resp.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(wire)) == {"order_id": "gz1", "fill_count": "1.00"}
    (fixture,) = fixtures_in(session)
    assert fixture["response"]["body_parsed"] == {"order_id": "gz1", "fill_count": "1.00"}
    assert fixture["response"]["headers"]["content-encoding"] == "gzip"


async def test_binary_text_and_large_bodies(upstream, tmp_path):
    session = tmp_path / "s"
    upload = bytes(range(256)) * 100  # not UTF-8
    async with running_proxy(upstream, recording(session, "all")) as proxy, aiohttp.ClientSession() as http:
        async with http.get(proxy.url("kalshi") + "/binary") as resp:
            assert await resp.read() == bytes(range(256)) * 4
        async with http.get(proxy.url("poly") + "/text") as resp:
            assert resp.status == 425 and await resp.text() == "service not ready"
        async with http.get(proxy.url("kalshi") + "/large?size=6000000") as resp:
            assert len(await resp.read()) > 6_000_000
        async with http.post(proxy.url("kalshi") + "/upload", data=upload) as resp:
            assert base64.b64decode((await resp.json())["body_b64"]) == upload
    binary, textual, big, posted = fixtures_in(session)
    assert binary["response"]["body_encoding"] == "base64"
    assert base64.b64decode(binary["response"]["body_raw"]) == bytes(range(256)) * 4
    assert binary["response"]["body_parsed"] is None
    assert textual["response"]["body_raw"] == "service not ready" and textual["response"]["status"] == 425
    assert len(big["response"]["body_parsed"]["data"]) == 6_000_000
    assert posted["request"]["body_encoding"] == "base64"
    assert base64.b64decode(posted["request"]["body"]) == upload


async def test_500_concurrent_requests_give_500_unique_gap_free_fixtures(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(i: int) -> int:
                exchange = "kalshi" if i % 2 else "poly"
                async with http.post(proxy.url(exchange) + f"/orders?i={i}", data=b'{"i":%d}' % i) as resp:
                    await resp.read()
                    return resp.status

            statuses = await asyncio.gather(*(one(i) for i in range(500)))
    assert statuses == [200] * 500
    fixtures = fixtures_in(session)
    assert [f["seq"] for f in fixtures] == list(range(1, 501))
    assert sorted(f["request"]["body"]["i"] for f in fixtures) == list(range(500))
    manifest = orjson.loads((session / MANIFEST).read_bytes())
    assert len(manifest["fixtures"]) == 500


async def test_passthrough_writes_nothing(upstream, tmp_path):
    async with running_proxy(upstream, passing_through()) as proxy, aiohttp.ClientSession() as http:
        async with http.post(proxy.url("kalshi") + ORDER_PATH, data=KALSHI_BODY) as resp:
            assert resp.status == 200
        assert proxy.counts["forwarded"] == 1 and proxy.counts["captured"] == 0
    assert list(tmp_path.iterdir()) == []


async def test_status_endpoint_is_answered_by_the_proxy(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session)) as proxy, aiohttp.ClientSession() as http:
        async with http.post(proxy.url("kalshi") + ORDER_PATH, data=KALSHI_BODY) as resp:
            await resp.read()
        async with http.get(proxy.url("poly") + "/__tradetape/status") as resp:
            status = await resp.json()
        async with http.get(proxy.url("poly") + "/__tradetape/nope") as resp:
            assert resp.status == 404 and resp.headers["X-Tradetape-Error"] == "admin_not_found"
    assert status["mode"] == "record" and status["session_dir"] == str(session)
    assert status["counts"]["forwarded"] == 1 and status["counts"]["captured"] == 1
    assert status["listener"] == "poly"
    assert len(session_files(session)) == 1  # admin traffic is never recorded or forwarded


async def test_proxy_keeps_no_cookies_of_its_own(tmp_path):
    async def set_cookie(request):
        return web.json_response({"cookie": request.headers.get("Cookie")}, headers={"Set-Cookie": "sid=abc; Path=/"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", set_cookie)
    async with (
        running_app(app) as url,
        running_proxy(url, passing_through()) as proxy,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        for _ in range(2):
            async with http.get(proxy.url("kalshi") + "/x") as resp:
                seen = await resp.json()
                assert resp.headers["Set-Cookie"] == "sid=abc; Path=/"  # passed to the client
    assert seen == {"cookie": None}  # but never replayed upstream by the proxy


def test_durability_falls_back_to_fsync_per_file(tmp_path, monkeypatch):
    import proxy.record.session as session

    synced: list[str] = []
    monkeypatch.setattr(session, "_SYNCFS", None)
    monkeypatch.setattr(session, "_fsync_path", synced.append)
    session.make_durable(str(tmp_path), [str(tmp_path / "a"), str(tmp_path / "b")])
    assert synced == [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path)]


async def test_manifest_rebuilt_from_the_files_equals_the_recorded_one(upstream, tmp_path):
    from proxy.tape.fixture import load_fixture
    from proxy.tape.manifest import build_manifest

    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy, aiohttp.ClientSession() as http:
        for path in ("/trade-api/v2/portfolio/fills", "/reset", "/data/trades"):
            async with http.get(proxy.url("kalshi") + path) as resp:
                await resp.read()
    recorded = (session / MANIFEST).read_bytes()
    info = {k: v for k, v in orjson.loads(recorded).items() if k != "fixtures"}
    rebuilt = build_manifest(session, info, [(p.name, load_fixture(p)) for p in session_files(session)])
    assert rebuilt == recorded


def test_recorded_base64_bodies_round_trip_and_damaged_ones_fail():
    import binascii

    from proxy.tape.fixture import body_bytes, raw_body_fields

    data = bytes(range(256))
    assert body_bytes(raw_body_fields(data, None), "body_raw") == data
    with pytest.raises(binascii.Error):
        body_bytes({"body_raw": "!!!", "body_encoding": "base64"}, "body_raw")


@pytest.mark.parametrize(
    "raw, secret",
    [
        (b'{"passphrase":"pa\\u0026ss<1","id":7}', b"pa\\u0026ss"),  # Go escapes & < > in JSON strings
        (b'{"data":[{"owner":"own\\/er-9","id":7}]}', b"own\\/er-9"),  # some servers escape '/'
    ],
)
def test_a_secret_escaped_differently_from_orjson_never_reaches_body_raw(raw, secret):
    from multidict import CIMultiDict

    from proxy.record.recorder import response_record
    from proxy.tape.secrets import Credentials
    from proxy.wire.answers import Answer

    record = response_record(Answer(200, CIMultiDict(), raw), Credentials(), [])
    assert secret not in record["body_raw"].encode()
    assert "[REDACTED]" in record["body_raw"] and orjson.loads(record["body_raw"]) == record["body_parsed"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"api\\u004bey":"live-key-1","id":7}',  # a key name written with a JSON escape
        b'{"api__key":"live-key-1","id":7}',  # the field names are compared with every '_' and '-' removed
    ],
)
def test_secret_field_names_the_fast_path_cannot_see_are_still_redacted(raw):
    from multidict import CIMultiDict

    from proxy.record.recorder import response_record
    from proxy.tape.secrets import Credentials
    from proxy.wire.answers import Answer

    record = response_record(Answer(200, CIMultiDict(), raw), Credentials(), [])
    assert "live-key-1" not in record["body_raw"] and "live-key-1" not in str(record["body_parsed"])


def test_a_short_write_still_puts_a_whole_fixture_in_place(tmp_path, monkeypatch):
    import os

    import proxy.record.session as session_module
    from proxy.record.session import Session
    from proxy.tape.fixture import load_fixture

    real_write = os.write
    monkeypatch.setattr(
        session_module.os, "write", lambda fd, data: real_write(fd, bytes(data[: max(1, len(data) // 3)]))
    )
    session = Session(tmp_path / "s", {"session": "s"})
    fixture = {
        "seq": 0,
        "exchange": "kalshi",
        "request": {"method": "GET", "url": "http://x/a"},
        "response": {"status": 200, "headers": {}, "body_raw": "y" * 5000},
    }
    name = session.write(fixture, "GET", "kalshi", "/a")
    session.close()
    assert load_fixture(tmp_path / "s" / name)["response"]["body_raw"] == "y" * 5000


def test_a_failed_write_leaves_no_temp_file_and_no_gap(tmp_path, monkeypatch):
    import errno

    import proxy.record.session as session_module
    from proxy.record.session import Session

    session = Session(tmp_path / "s", {"session": "s"})
    fixture = {
        "seq": 0,
        "exchange": "kalshi",
        "request": {"method": "GET", "url": "http://x/a"},
        "response": {"status": 200, "headers": {}, "body_raw": ""},
    }

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(session_module.os, "write", disk_full)
        with pytest.raises(OSError):
            session.write(dict(fixture), "GET", "kalshi", "/a")
    assert session.write(dict(fixture), "GET", "kalshi", "/b") == "001_GET_kalshi_b.json"
    session.close()
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["001_GET_kalshi_b.json", "manifest.json"]


async def test_brotli_answers_are_recorded_decoded_and_redacted(tmp_path):
    import brotli

    async def api_key(request):
        payload = orjson.dumps({"apiKey": "k-1", "secret": "s-1", "passphrase": "p-1"})
        return web.Response(
            body=brotli.compress(payload), headers={"Content-Encoding": "br", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/auth/api-key", api_key)
    async with (
        running_app(app) as url,
        running_proxy(url, recording(tmp_path / "s", "all")) as proxy,
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(proxy.url("poly") + "/auth/api-key") as resp,
    ):
        assert brotli.decompress(await resp.read())  # the client gets the answer as sent
    (fixture,) = fixtures_in(tmp_path / "s")
    assert fixture["response"]["body_parsed"] == {
        "apiKey": "[REDACTED]",
        "secret": "[REDACTED]",
        "passphrase": "[REDACTED]",
    }


async def test_bodies_that_cannot_be_decoded_are_not_recorded(tmp_path):
    seen: list[bytes] = []

    async def opaque(request):
        seen.append(await request.read())
        return web.Response(body=b"\x28\xb5\x2f\xfd-not-really-zstd", headers={"Content-Encoding": "zstd"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", opaque)
    async with (
        running_app(app, auto_decompress=False) as url,
        running_proxy(url, recording(tmp_path / "s", "all")) as proxy,
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.post(
            proxy.url("poly") + "/order", data=b"\x00compressed-owner-secret", headers={"Content-Encoding": "zstd"}
        ) as resp,
    ):
        assert await resp.read() == b"\x28\xb5\x2f\xfd-not-really-zstd"
    assert seen == [b"\x00compressed-owner-secret"]  # forwarded exactly as the client sent it
    (fixture,) = fixtures_in(tmp_path / "s")
    assert fixture["request"]["body"] is None and "zstd" in fixture["request"]["body_omitted"]
    assert fixture["response"]["body_raw"] is None and "zstd" in fixture["response"]["body_omitted"]
    raw = next((tmp_path / "s").glob("001_*.json")).read_bytes()
    assert b"compressed-owner-secret" not in raw and b"not-really" not in raw


async def test_gzip_request_body_is_forwarded_as_sent_and_recorded_decoded_and_redacted(tmp_path):
    seen: list[bytes] = []

    async def accept(request):
        seen.append(await request.read())
        return web.json_response({"success": True})

    app = web.Application()
    app.router.add_post("/order", accept)
    sent = gzip.compress(orjson.dumps({"order": {"side": "BUY"}, "owner": "api-key-uuid"}))
    async with (
        running_app(app, auto_decompress=False) as url,
        running_proxy(url, recording(tmp_path / "s")) as proxy,
        aiohttp.ClientSession() as http,
        http.post(proxy.url("poly") + "/order", data=sent, headers={"Content-Encoding": "gzip"}) as resp,
    ):
        assert resp.status == 200
    assert seen == [sent]
    (fixture,) = fixtures_in(tmp_path / "s")
    assert fixture["request"]["body"] == {"order": {"side": "BUY"}, "owner": "[REDACTED]"}


def test_headers_named_in_connection_are_hop_by_hop_too():
    from multidict import CIMultiDict

    from proxy.wire.headers import client_headers, upstream_headers

    sent = CIMultiDict(
        [
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Host", "127.0.0.1:8787"),
            ("KALSHI-ACCESS-KEY", "k"),
            ("X-Custom", "a"),
            ("X-Custom", "b"),
        ]
    )
    assert list(upstream_headers(sent).items()) == [("KALSHI-ACCESS-KEY", "k"), ("X-Custom", "a"), ("X-Custom", "b")]
    answered = CIMultiDict([("Content-Length", "2"), ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")])
    assert list(client_headers(answered).items()) == [("Content-Encoding", "gzip")]
