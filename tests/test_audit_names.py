"""audit's file-name checks against what the recorder really writes: names it makes pass, names holding a secret
do not, and malformed fixtures are reported, never a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from click.testing import CliRunner
from yarl import URL

from proxy.cli.main import main
from proxy.tape.fixture import MAX_ENDPOINT
from proxy.tape.journal import JOURNAL
from proxy.tools.audit import audit_tree, tree_files
from tests.proxy_helpers import recording, running_app, running_proxy, upstream_app
from tests.ws_helpers import PATIENCE, received, through_proxy, ws_url

PATH_KEY = "zqxwvutsrponmlkj-abcd"  # a credential that reads as a path's meaningful segment (lower-case letters)
LONG = "q" * (MAX_ENDPOINT + 40)
UNUSUAL = [
    "/",
    "/trade-api/v2/markets/",  # a trailing slash
    "/trade-api/v2//markets//",  # empty segments
    "/trade-api/v2/portfolio/orders?state=resting&next=/a/b/c&x=%2F",  # a query holding slashes
    "/trade-api/v2/markets/KX-TEST-26/order-book",  # '-' in the endpoint, an id with '-'
    "/trade-api/v2/markets/KX-TEST-26",  # the id skipped
    "/trade-api/v2/caf%C3%A9/markets/caf%C3%A9",  # percent-encoded UTF-8 segments
    "/trade-api/v2/caf%C3%A9-menu/trades",
    f"/trade-api/v2/{LONG}",  # an endpoint cut to MAX_ENDPOINT
    f"/trade-api/v2/{LONG}-x/{LONG[:5]}_y",
    "/a:b/orders@x/c=d/ok~",  # sub-delims in segments
    "/a_b-/c--d",
    "/trade-api/v2/Markets/UPPER",  # no meaningful segment but the first ones
    "/123/456",  # none at all: root
]


def audited(directory: Path) -> list[str]:
    return [str(f) for f in audit_tree(list(tree_files([directory])))[0]]


@pytest.fixture
async def upstream():
    async with running_app(upstream_app()) as url:
        yield url


async def send_all(base: str, targets: list[str], headers: dict[str, str] | None = None) -> None:
    async with aiohttp.ClientSession() as http:
        for target in targets:
            async with http.get(URL(base + target, encoded=True), headers=headers or {}) as resp:
                assert resp.status == 200, (target, await resp.text())


async def test_the_recorder_s_names_at_unusual_paths_pass_audit_in_the_journal_and_as_files(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        await send_all(proxy.url("kalshi"), UNUSUAL)
        await send_all(proxy.url("poly"), UNUSUAL[:3])
        assert (session / JOURNAL).exists()
        assert audited(session) == []  # records still in the journal (or some materialised)
    names = sorted(p.name for p in session.iterdir())
    assert len(names) == len(UNUSUAL) + 3 + 1 and "001_GET_kalshi_root.json" in names
    assert f"009_GET_kalshi_{'q' * MAX_ENDPOINT}.json" in names
    assert audited(session) == []


async def test_a_credential_in_the_path_recorded_then_appended_to_passes_and_holds_no_key(upstream, tmp_path):
    """GET /keys/<key> after the key was learned from a header: named `redacted`; a session continued with
    --append names its fixtures the same way; audit finds nothing, and no name holds the key."""
    session = tmp_path / "s"
    key = {"KALSHI-ACCESS-KEY": PATH_KEY}
    paths = [f"/trade-api/v2/keys/{PATH_KEY}", f"/trade-api/v2/keys/{PATH_KEY}/orders", f"/keys/my-{PATH_KEY}"]
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        await send_all(proxy.url("kalshi"), paths, key)
    async with running_proxy(upstream, recording(session, "all", append=True)) as proxy:
        await send_all(proxy.url("kalshi"), paths[:1] + UNUSUAL[1:3], key)
    names = sorted(p.name for p in session.iterdir())
    assert names[:2] == ["001_GET_kalshi_redacted.json", "002_GET_kalshi_orders.json"]
    assert "004_GET_kalshi_redacted.json" in names and len(names) == 7
    assert not any(PATH_KEY.replace("-", "_") in name for name in names)
    assert audited(session) == []


async def test_a_websocket_handshake_and_its_frames_pass_audit(tmp_path):
    session = tmp_path / "s"
    async with through_proxy(recording(session, "all")) as (_, proxy, http):
        for path in ("/trade-api/ws/v2", "/ws/market-feed/", "/ws/KX-1?token=abc"):
            async with http.ws_connect(ws_url(proxy.url("kalshi"), path)) as ws:
                await ws.send_str("hello")
                assert (await received(ws)).data == "hello"
    handshakes = sorted(p.name for p in session.glob("*.json") if p.name != "manifest.json")
    assert [name[4:] for name in handshakes] == [
        "GET_kalshi_ws.json",
        "GET_kalshi_market_feed.json",
        "GET_kalshi_ws.json",
    ]
    assert len(list(session.glob("*.frames.jsonl"))) == 3
    assert audited(session) == []


async def raw_request(base: str, head: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), PATIENCE)
    writer.close()
    return answer


async def test_methods_the_proxy_takes_from_a_raw_request_line_pass_audit(upstream, tmp_path):
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        for method in (b"get", b"M-SEARCH", b"PATCH"):
            head = method + b" /trade-api/v2/order-groups/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            await raw_request(proxy.url("kalshi"), head)
    methods = {orjson.loads(p.read_bytes())["request"]["method"]: p.name for p in session.glob("0*.json")}
    assert set(methods) == {"M-SEARCH", "PATCH"}, methods  # the parser refuses a lower-case method: not recorded
    assert audited(session) == []


# ---- malformed fixtures: reported or passed, never a crash -----------------------------------------------------


def fixture(**request: Any) -> dict[str, Any]:
    return {
        "seq": 1,
        "exchange": "kalshi",
        "request": {"method": "GET", "url": "http://x/trade-api/v2/keys", "headers": {}, "body": None, **request},
        "response": {"status": 200, "headers": {}, "body_raw": "{}", "body_parsed": {}},
    }


@pytest.mark.parametrize(
    "data",
    [
        fixture(url="http://["),  # urlsplit raises ValueError
        fixture(url="http://x\uff03y/keys"),  # a netloc that NFKC-normalises to '#': urlsplit raises too
        fixture(url=None),
        fixture(url=5),
        fixture(method=None),
        {**fixture(), "seq": 7},
        {**fixture(), "request": ["GET", "http://x/keys"]},
        {**fixture(), "exchange": None},
        [fixture()],
        "not a fixture",
    ],
)
def test_a_malformed_fixture_with_a_recorder_s_name_does_not_crash_audit(tmp_path, data):
    (tmp_path / "001_GET_kalshi_keys.json").write_bytes(orjson.dumps(data))
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1) and "Traceback" not in result.output


def test_a_name_whose_url_does_not_parse_is_named_as_unchecked(tmp_path):
    """A recorder-made name beside a URL urlsplit refuses: the name cannot be checked against it, so it is said."""
    (tmp_path / "001_GET_kalshi_zqxwvutsrponmlkj_abcd.json").write_bytes(orjson.dumps(fixture(url="http://[/keys")))
    findings = audit_tree([tmp_path / "001_GET_kalshi_zqxwvutsrponmlkj_abcd.json"])[0]
    assert [(f.field, "does not parse" in f.reason) for f in findings] == [("(file name)", True)]


# ---- names holding a secret ------------------------------------------------------------------------------------


async def test_a_frames_file_named_before_its_key_was_known_is_named_once_the_tree_shows_the_key(tmp_path):
    """A handshake at /ws/<key> recorded before the key was learned: the fixture and frames file names hold the key
    with its '-' written '_' (as every name does). A tree that shows the key elsewhere must name both files, and
    --redact, having taken the key out of the URL, must still name both."""
    session = tmp_path / "s"
    async with (
        through_proxy(recording(session, "all")) as (_, proxy, http),
        http.ws_connect(ws_url(proxy.url("kalshi"), f"/ws/{PATH_KEY}")) as ws,
    ):
        await ws.send_str("hello")
        await received(ws)
    (tmp_path / "keys.json").write_bytes(orjson.dumps({"api_key": PATH_KEY}))
    stem = f"001_GET_kalshi_{PATH_KEY.replace('-', '_')}"
    named = {f.file.name for f in audit_tree(list(tree_files([tmp_path])))[0] if f.field == "(file name)"}
    assert named == {f"{stem}.json", f"{stem}.frames.jsonl"}
    result = CliRunner().invoke(main, ["audit", "--redact", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{stem}.json: (file name)" in result.output and f"{stem}.frames.jsonl: (file name)" in result.output


async def test_a_credential_whose_tail_is_the_endpoint_segment_never_names_a_fixture(upstream, tmp_path):
    """A token with a '/' (standard base64) sent in a path: its last piece reads as the endpoint, and the stored
    URL has the whole token scrubbed. The name must not keep the piece (audit rightly flags one that does)."""
    token = "Xy12Zm9vYmFy/zqxwvutsrponmlkj"
    session = tmp_path / "s"
    async with running_proxy(upstream, recording(session, "all")) as proxy:
        await send_all(proxy.url("kalshi"), [f"/auth/session/{token}"], {"Authorization": f"Bearer {token}"})
    names = sorted(p.name for p in session.iterdir())
    assert names == ["001_GET_kalshi_redacted.json", "manifest.json"]
    assert not any(token.encode() in p.read_bytes() or b"zqxwvutsrponmlkj" in p.read_bytes() for p in session.iterdir())
    assert audited(session) == []
