"""Issue 13, class 3: redaction by name, by value, and failing closed; audit finds what escaped; replay never
hands a client the redaction marker where it expects a credential.

Every secret planted here is a realistic-looking value that must never reach a file in the session.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from aiohttp import web
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from proxy.cli.main import main
from tests.proxy_helpers import fixtures_in, recording, running_app, running_proxy
from tests.replay_helpers import KALSHI, POLY, fixture, replaying, write_session

API_KEY = "3f1c9a52-7d4e-4b8a-9c21-5e6f7a8b9c0d"
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw=="
PASSPHRASE = "9b2e" * 16


def secret(n: int) -> str:
    return f"PLANTED-SECRET-{n:02d}-" + "x7Q9" * 4


async def echo(request: web.Request) -> web.Response:
    """Answers with the bytes it was sent, under the content type it was sent."""
    return web.Response(
        body=await request.read(), content_type=request.content_type or "application/octet-stream", charset=None
    )


async def api_key(request: web.Request) -> web.Response:
    return web.json_response({"apiKey": API_KEY, "secret": SECRET, "passphrase": PASSPHRASE})


async def mentions(request: web.Request) -> web.Response:
    """An exchange error that quotes a credential back under a name nobody would call secret."""
    return web.json_response({"error": f"order rejected for key {API_KEY}", "detail": request.query.get("q", "")})


def echo_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/auth/api-key", api_key)
    app.router.add_route("*", "/data/orders", mentions)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def upstream():
    async with running_app(echo_app()) as url:
        yield url


def on_disk(session: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(session.iterdir()) if p.is_file())


async def send(proxy, exchange: str, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> int:
    async with aiohttp.ClientSession() as http:
        url = aiohttp.client.URL(proxy.url(exchange) + path, encoded=True)
        async with http.request(method, url, data=body, headers=headers or {}) as resp:
            await resp.read()
            return resp.status


# ---- recording: bodies that cannot be scrubbed with certainty are not recorded ----------------------


@pytest.mark.parametrize(
    "body, why",
    [
        (b'{"secret":"%s","secret":null}' % secret(1).encode(), "secret"),
        (b'{"token":"%s","x":NaN}' % secret(2).encode(), "JSON"),
        (b'\xef\xbb\xbf{"passphrase":"%s"}' % secret(3).encode(), "JSON"),
        (b'{"a":1}\n{"apiKey":"%s"}\n' % secret(4).encode(), "JSON"),
        ('{"ſecret":"%s","ｓｅｃｒｅｔ":null}'.replace("%s", secret(5)).encode(), "ſecret"),
        (b'{"auth":"key:%s:pass"}' % secret(6).encode(), "/auth is an auth field"),
    ],
)
async def test_a_json_body_read_two_ways_is_recorded_as_omitted_with_the_reason(upstream, tmp_path, body, why):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "poly", "POST", "/echo", body, {"Content-Type": "application/json"}) == 200
    (recorded,) = fixtures_in(session)
    assert recorded["request"]["body"] is None and why in recorded["request"]["body_omitted"]
    assert recorded["response"]["body_raw"] is None and why in recorded["response"]["body_omitted"]
    assert b"PLANTED-SECRET" not in on_disk(session)


async def test_secrets_in_the_query_string_never_reach_the_fixture_or_the_manifest(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        target = f"/trade-api/v2/markets?api_key={secret(6)}&limit=5&access_token={secret(7)}&Password={secret(8)}"
        assert await send(proxy, "kalshi", "GET", target) == 200
    (recorded,) = fixtures_in(session)
    assert recorded["request"]["url"].endswith(
        "/markets?api_key=[REDACTED]&limit=5&access_token=[REDACTED]&Password=[REDACTED]"
    )
    manifest = orjson.loads((session / "manifest.json").read_bytes())
    assert manifest["fixtures"][0]["url"] == recorded["request"]["url"]
    assert b"PLANTED-SECRET" not in on_disk(session)


BRACKET_NAMES = [
    "api_key[0]",  # a PHP/Rails array element
    "api_key[]",
    "auth[token]",  # a nested name: a bracketed segment is secret-named
    "creds[secret]",
    "api[key]",  # the segments run together, as '_' and '-' are dropped: apikey
    "api_key%5B0%5D",  # percent-encoded brackets, kept as sent
    "auth%5btoken%5d",
    "%61uth[token]",
]


@pytest.mark.parametrize(
    "form, stored",
    [
        (
            f"username=bob&password={secret(9)}&client_secret={quote(secret(10))}&scope=trade",
            "username=bob&password=[REDACTED]&client_secret=[REDACTED]&scope=trade",
        ),
        *(
            (f"username=bob&{n}={quote(secret(41))}&scope=trade", f"username=bob&{n}=[REDACTED]&scope=trade")
            for n in BRACKET_NAMES
        ),
    ],
)
async def test_a_form_body_is_redacted_by_field_name(upstream, tmp_path, form, stored):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        assert await send(proxy, "kalshi", "POST", "/oauth", form.encode(), headers) == 200
    (recorded,) = fixtures_in(session)
    assert recorded["request"]["body"] == stored == recorded["response"]["body_raw"]  # the echo, redacted alike
    assert b"PLANTED-SECRET" not in on_disk(session)


# PHP (and frameworks following it) read '.', ' ' and '+' (a space in a query) in a parameter name as '_'.
PHP_NAMES = ["api.key", "api+key", "api%20key", "api%2Ekey", "API.Key", "access.token", "private%20key", "a.secret"]


@pytest.mark.parametrize("name", PHP_NAMES)
async def test_a_parameter_name_php_reads_as_a_secret_one_is_redacted_in_query_and_form(upstream, tmp_path, name):
    form = f"username=bob&{name}={secret(44)}&api.version=2".encode()
    query, posted = await query_and_form(upstream, tmp_path / "s", f"limit=5&{name}={secret(45)}", form)
    assert query["request"]["url"].endswith(f"/markets?limit=5&{name}=[REDACTED]")
    stored = f"username=bob&{name}=[REDACTED]&api.version=2"
    assert posted["request"]["body"] == stored == posted["response"]["body_raw"]
    assert b"PLANTED-SECRET" not in on_disk(tmp_path / "s")


async def query_and_form(upstream: Any, session: Path, query: str, form: bytes) -> list[dict[str, Any]]:
    """The fixtures of GET /markets?`query` and of POSTing `form` as a form, recorded into `session`."""
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "kalshi", "GET", f"/trade-api/v2/markets?{query}") == 200
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        assert await send(proxy, "kalshi", "POST", "/orders", form, headers) == 200
    return fixtures_in(session)


@pytest.mark.parametrize("name", BRACKET_NAMES)
async def test_a_bracketed_query_name_with_a_secret_named_part_is_redacted(upstream, tmp_path, name):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "kalshi", "GET", f"/trade-api/v2/markets?limit=5&{name}={secret(40)}") == 200
    (recorded,) = fixtures_in(session)
    assert recorded["request"]["url"].endswith(f"/markets?limit=5&{name}=[REDACTED]")
    assert b"PLANTED-SECRET" not in on_disk(session)


@pytest.mark.parametrize(
    "query, form",
    [
        (  # 'tokens' ends in no secret
            "filter[ticker]=KX-1&ids[]=7&ids%5B%5D=8&page%5Bsize%5D=5&tokens[id]=9",
            b"order[side]=yes&order%5Bcount%5D=5&token_id[0]=12",
        ),
        ("api.version=2&key+id=7", b"api.version=2&key.id=7&pass+through=yes"),  # read as PHP does: no secret either
    ],
)
async def test_a_bracketed_or_dotted_name_with_no_secret_named_part_is_kept_as_sent(upstream, tmp_path, query, form):
    markets, orders = await query_and_form(upstream, tmp_path / "s", query, form)
    assert markets["request"]["url"].endswith(f"/markets?{query}")
    assert orders["request"]["body"] == form.decode() == orders["response"]["body_raw"]


async def test_secret_headers_and_fields_by_name_case_insensitively_at_any_depth(upstream, tmp_path):
    session = tmp_path / "s"
    headers = {
        "X-Api-Key": secret(11),
        "X-Auth-Token": secret(12),
        "POLY_API_SECRET": secret(13),
        "Content-Type": "application/json",
        "X-Request-Id": "req-1",
    }
    body = orjson.dumps(
        {
            "login": {"Password": secret(14), "user": "bob"},
            "auth": [{"token": secret(15)}, {"ACCESS_TOKEN": secret(16)}],
            "upstream": {"Authorization": "Bearer " + secret(17)},
            "tokenId": "7" * 70,
        }
    )
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "poly", "POST", "/login", body, headers) == 200
    (recorded,) = fixtures_in(session)
    sent = recorded["request"]["headers"]
    assert sent["x-api-key"] == sent["x-auth-token"] == sent["poly_api_secret"] == "[REDACTED]"
    assert sent["x-request-id"] == "req-1"
    request = recorded["request"]["body"]
    assert request["login"] == {"Password": "[REDACTED]", "user": "bob"}
    assert request["auth"] == [{"token": "[REDACTED]"}, {"ACCESS_TOKEN": "[REDACTED]"}]
    assert request["upstream"] == {"Authorization": "[REDACTED]"}  # a field, named as the header is
    assert request["tokenId"] == "7" * 70  # an outcome token id is public
    assert b"PLANTED-SECRET" not in on_disk(session)


async def test_credentials_seen_in_the_session_are_scrubbed_wherever_they_appear(upstream, tmp_path):
    """The API key from a (not captured) key creation and from an auth header, quoted back in error bodies,
    in a text body and percent-encoded in a query string."""
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "orders")) as proxy:
        assert await send(proxy, "poly", "POST", "/auth/api-key") == 200  # outside the capture filter
        assert await send(proxy, "poly", "GET", f"/data/orders?q={quote(SECRET, safe='')}") == 200
        text = f"passphrase was {PASSPHRASE}!".encode()
        assert await send(proxy, "poly", "POST", "/order", text, {"Content-Type": "text/plain"}) == 200
        header_key = secret(17)
        note = orjson.dumps({"note": f"signed with {header_key}"})
        assert await send(proxy, "poly", "POST", "/orders", note, {"POLY_API_KEY": header_key}) == 200
    fixtures = fixtures_in(session)
    assert [f["request"]["url"].rsplit("/", 1)[1].split("?")[0] for f in fixtures] == ["orders", "order", "orders"]
    assert fixtures[0]["response"]["body_parsed"]["error"] == "order rejected for key [REDACTED]"
    assert fixtures[1]["request"]["body"] == "passphrase was [REDACTED]!"
    assert fixtures[2]["response"]["body_parsed"] == {"note": "signed with [REDACTED]"}
    disk = on_disk(session)
    for value in (API_KEY, SECRET, quote(SECRET, safe=""), PASSPHRASE, header_key):
        assert value.encode() not in disk, value


async def test_text_and_binary_bodies_that_cannot_be_scrubbed_are_omitted(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        text = f"user=bob\npassword: {secret(18)}\n".encode()
        assert await send(proxy, "kalshi", "POST", "/notes", text, {"Content-Type": "text/plain"}) == 200
        key = secret(19)
        binary = b"\x00\x01\xff" + key.encode("utf-8") + b"\xfe"
        assert await send(proxy, "kalshi", "POST", "/blob", binary, {"X-Api-Key": key}) == 200
    notes, blob = fixtures_in(session)
    assert notes["request"]["body"] is None and "secret" in notes["request"]["body_omitted"]
    assert blob["request"]["body"] is None and "credential" in blob["request"]["body_omitted"]
    assert b"PLANTED-SECRET" not in on_disk(session)


TEXT_NAMING_SECRET_PARAMS = [
    (f"api_key[0]={secret(40)}", "application/octet-stream"),  # aiohttp's type for bytes; Rack reads forms in it
    (f"a=1&auth[token]={secret(41)}", "text/plain"),
    (f"api_key[0]={secret(42)}\n", "application/x-www-form-urlencoded"),  # a trailing newline: no strict form
    (f"note=a b&creds[secret]={secret(43)}", "application/x-www-form-urlencoded"),  # a raw space
    (f"a=1&%61pi_key={secret(44)}", "text/plain"),  # a percent-encoded name
    (f"api[key]={secret(45)}", "text/plain"),  # parts run together
]


@pytest.mark.parametrize("text, content_type", TEXT_NAMING_SECRET_PARAMS)
async def test_a_text_body_giving_a_secret_named_parameter_a_value_is_omitted(upstream, tmp_path, text, content_type):
    """A server that reads the body as a form reads a secret there (is_secret_param), whatever the content type
    says or whether the text is a strict form: it cannot be scrubbed with certainty, so it is not recorded."""
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "kalshi", "POST", "/notes", text.encode(), {"Content-Type": content_type}) == 200
    (recorded,) = fixtures_in(session)
    assert recorded["request"]["body"] is None and "secret-ish name" in recorded["request"]["body_omitted"]
    assert recorded["response"]["body_raw"] is None and "secret-ish name" in recorded["response"]["body_omitted"]
    assert b"PLANTED-SECRET" not in on_disk(session)


@pytest.mark.parametrize("text, content_type", TEXT_NAMING_SECRET_PARAMS)
def test_audit_flags_and_redact_removes_a_stored_text_body_giving_a_secret_named_parameter_a_value(
    tmp_path, text, content_type
):
    session = tmp_path / "s"
    session.mkdir()
    stored = fixture("kalshi", "POST", KALSHI + "/notes", answer={"ok": True})
    stored["request"]["body"] = text
    write_session(session, [stored])
    found = CliRunner().invoke(main, ["audit", str(session)])
    assert found.exit_code == 1 and "001_POST_kalshi_notes.json: request.body" in found.output, found.output
    assert CliRunner().invoke(main, ["audit", "--redact", str(session)]).exit_code == 0
    assert b"PLANTED-SECRET" not in on_disk(session)


def test_record_and_audit_share_one_rule_set():
    from proxy.tape import redact
    from proxy.tools import audit

    assert audit.is_secret_field is redact.is_secret_field and audit.is_secret_header is redact.is_secret_header


# ---- audit: a hand-edited session with every planted secret ------------------------------------


def planted_session(directory: Path) -> list[str]:
    """Two fixtures and a manifest, hand-edited to hold every kind of escaped secret; the planted values."""
    directory.mkdir()
    first = fixture("poly", "POST", POLY + f"/order?api_key={secret(20)}", body={"x": 1}, answer={"ok": True})
    first["request"]["headers"].update({"X-Api-Key": secret(21), "X-Auth-Token": secret(22)})
    first["request"]["headers"]["POLY_API_SECRET"] = secret(23)
    first["request"]["body"] = {"password": secret(24), "token": secret(25), "deep": [{"access_token": secret(26)}]}
    first["response"]["body_raw"] = f'{{"secret":"{secret(27)}","secret":null}}'
    first["response"]["body_parsed"] = {"secret": None}
    second = fixture("kalshi", "POST", KALSHI + "/login", answer={"ok": True})
    second["request"]["body"] = f"user=bob&password={secret(28)}"
    second["response"]["body_raw"] = f'{{"a":1}}\n{{"apiKey":"{secret(29)}"}}\n'
    second["response"]["body_parsed"] = None
    third = fixture("kalshi", "GET", KALSHI + "/x", answer={"ok": True})
    third["response"]["body_raw"] = f'{{"token":"{secret(30)}","n":NaN}}'
    fourth = fixture("kalshi", "GET", KALSHI + "/y", answer={"ok": True})
    fourth["response"]["body_raw"] = f'\ufeff{{"passphrase":"{secret(31)}"}}'
    fourth["response"]["body_parsed"] = {"note": f"echoed {secret(21)}"}  # a header's value, under a plain name
    write_session(directory, [first, second, third, fourth])
    # a duplicate key in the fixture file itself: a reader may take either value
    path = next(directory.glob("003_*.json"))
    planted_twice = b'"headers": {"x-api-key": "%s", "x-api-key": "[REDACTED]", ' % secret(32).encode()
    path.write_bytes(path.read_bytes().replace(b'"headers": {', planted_twice, 1))
    manifest = {
        "format": 1,
        "fixtures": [{"seq": 1, "file": "001_POST_poly_order.json", "url": first["request"]["url"]}],
    }
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest))
    return [secret(n) for n in range(20, 33)]


def test_audit_finds_every_planted_secret_and_redact_fixes_them(tmp_path):
    session = tmp_path / "hand_edited"
    planted = planted_session(session)
    result = CliRunner().invoke(main, ["audit", str(session)])
    assert result.exit_code == 1
    disk = on_disk(session).decode()
    for value in planted:
        assert value in disk  # planted as described
    report = result.output
    for where in (
        "001_POST_poly_order.json: request.url",
        "001_POST_poly_order.json: request.headers.X-Api-Key",
        "001_POST_poly_order.json: request.headers.X-Auth-Token",
        "001_POST_poly_order.json: request.headers.POLY_API_SECRET",
        "001_POST_poly_order.json: request.body.password",
        "001_POST_poly_order.json: request.body.token",
        "001_POST_poly_order.json: request.body.deep[0].access_token",
        "001_POST_poly_order.json: response.body_raw",
        "002_POST_kalshi_login.json: request.body",
        "002_POST_kalshi_login.json: response.body_raw",
        "003_GET_kalshi_x.json: response.body_raw",
        "003_GET_kalshi_x.json: (file)",
        "004_GET_kalshi_y.json: response.body_raw",
        "004_GET_kalshi_y.json: response.body_parsed.note",
        "manifest.json: fixtures[0].url",
    ):
        assert where in report, (where, report)
    fixed = CliRunner().invoke(main, ["audit", "--redact", str(session)])
    assert fixed.exit_code == 0, fixed.output
    disk = on_disk(session).decode()
    for value in planted:
        assert value not in disk, value
    assert CliRunner().invoke(main, ["audit", str(session)]).exit_code == 0


# ---- replay: stand-ins, never the marker ----------------------------------------------------------


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def replayed(session: Path, exchange: str, method: str, path: str, headers: dict | None = None) -> dict:
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        resp = await http.request(method, proxy.url(exchange) + path, headers=headers or {})
        assert resp.status == 200
        return orjson.loads(await resp.read())


async def test_a_replayed_api_key_creation_answer_carries_format_valid_stand_ins(tmp_path):
    marker = {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"}
    session = write_session(tmp_path / "keys", [fixture("poly", "POST", POLY + "/auth/api-key", answer=marker)])
    answer = await replayed(session, "poly", "POST", "/auth/api-key")
    assert "[REDACTED]" not in orjson.dumps(answer).decode()
    assert UUID.fullmatch(answer["apiKey"])
    assert len(base64.urlsafe_b64decode(answer["secret"].encode())) == 32  # strict: brackets would not decode
    with pytest.raises(binascii.Error):
        base64.b64decode("[REDACTED]", validate=True)
    assert re.fullmatch(r"[0-9a-f]{64}", answer["passphrase"])


async def test_the_poly_client_gets_usable_credentials_from_a_replayed_key_creation(tmp_path):
    from clients.polymarket import PolymarketClient

    marker = {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"}
    session = write_session(tmp_path / "keys", [fixture("poly", "POST", POLY + "/auth/api-key", answer=marker)])
    hardhat = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # public test key, never funded
    async with (
        replaying([session]) as proxy,
        PolymarketClient(base_url=proxy.url("poly"), private_key=hardhat) as client,
    ):
        creds = await client.create_or_derive_api_key()
    assert "[REDACTED]" not in (creds.api_key, creds.secret, creds.passphrase)
    base64.urlsafe_b64decode(creds.secret)


async def test_a_replayed_kalshi_key_generation_carries_a_loadable_private_key(tmp_path):
    marker = {"api_key_id": "[REDACTED]", "private_key": "[REDACTED]"}
    url = KALSHI + "/trade-api/v2/api_keys/generate"
    session = write_session(tmp_path / "keys", [fixture("kalshi", "POST", url, answer=marker, status=201)])
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        resp = await http.post(proxy.url("kalshi") + "/trade-api/v2/api_keys/generate")
        answer = orjson.loads(await resp.read())
    assert UUID.fullmatch(answer["api_key_id"])
    load_pem_private_key(answer["private_key"].encode(), password=None)


@pytest.mark.parametrize("live_key", [API_KEY, None])
async def test_an_owner_field_carries_the_live_requests_api_key(tmp_path, live_key):
    answer = {"id": "0xabc", "owner": "[REDACTED]", "status": "LIVE"}
    session = write_session(tmp_path / "order", [fixture("poly", "GET", POLY + "/data/order/0xabc", answer=answer)])
    headers = {"POLY_API_KEY": live_key} if live_key else {}
    got = await replayed(session, "poly", "GET", "/data/order/0xabc", headers)
    if live_key:
        assert got["owner"] == live_key
    else:
        assert UUID.fullmatch(got["owner"]) and got["owner"] != "[REDACTED]"
    assert got["id"] == "0xabc" and got["status"] == "LIVE"
    uuid.UUID(got["owner"])


@pytest.mark.parametrize(
    "recorded, live",
    [("api_key", "api_key"), ("api_key%5B0%5D", "api_key[0]")],  # matching reads a name as recording does
)
async def test_a_recording_with_a_redacted_query_parameter_replays_for_any_live_value(
    upstream, tmp_path, recorded, live
):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "kalshi", "GET", f"/trade-api/v2/markets?limit=5&{recorded}={secret(33)}") == 200
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        resp = await http.get(proxy.url("kalshi") + f"/trade-api/v2/markets?{live}={secret(34)}&limit=5")
        assert resp.status == 200
        missed = await http.get(proxy.url("kalshi") + f"/trade-api/v2/markets?{live}={secret(35)}&limit=6")
        report = await missed.read()
    assert missed.status == 599 and secret(35).encode() not in report  # a miss report never echoes a secret


async def test_a_recorded_form_with_a_secret_field_replays_for_any_live_value(upstream, tmp_path):
    session = tmp_path / "s"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    form = "username=bob&api_key={}&scope=trade"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        assert await send(proxy, "kalshi", "POST", "/oauth", form.format(secret(46)).encode(), headers) == 200
    (recorded,) = fixtures_in(session)
    assert recorded["request"]["body"] == form.format("[REDACTED]")
    async with replaying([session]) as proxy, aiohttp.ClientSession() as http:
        resp = await http.post(proxy.url("kalshi") + "/oauth", data=form.format(secret(47)).encode(), headers=headers)
        assert resp.status == 200
        other = form.format(secret(48)).replace("bob", "eve").encode()
        missed = await http.post(proxy.url("kalshi") + "/oauth", data=other, headers=headers)
        report = await missed.read()
    assert missed.status == 599 and b"eve" in report and secret(48).encode() not in report  # the miss never echoes it


def test_redacted_credentials_replay_as_one_account_so_create_then_derive_agree():
    """Was a bug: every redacted field got a fresh stand-in, so a replayed derive-api-key answered other credentials
    than the create before it (the official SDK's interop sequence saw `same_key` false)."""
    from proxy.replay.stand_ins import fill

    created, _ = fill(b'{"apiKey":"[REDACTED]","secret":"[REDACTED]","passphrase":"[REDACTED]"}')
    derived, _ = fill(b'{"apiKey":"[REDACTED]","secret":"[REDACTED]","passphrase":"[REDACTED]"}')
    assert b"[REDACTED]" not in created
    assert orjson.loads(created) == orjson.loads(derived)
    assert len(set(orjson.loads(created).values())) == 3  # still a distinct value per field kind
