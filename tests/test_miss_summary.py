"""A replay miss reads in two seconds: one line saying what was asked and what differed, the details after,
long values cut and PEM blocks never shown; the client's exception, the CLI and the pytest plugin agree."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from clients.errors import ReplayMismatch
from clients.kalshi import KalshiClient
from proxy.replay.miss_summary import clip, clipped, difference_words, message_summary, summary
from tests.replay_helpers import KALSHI, fixture, replaying, write_session

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TICKER = "KXDEMOMATCH-26DEC31ALIBOB-ALI"
FIRST_LINE = (
    "unmatched POST /portfolio/events/orders: closest 001_POST_kalshi_orders.json differs at /count "
    "(live 2.00, recorded 10.00)"
)
PEM = "-----BEGIN PUBLIC KEY-----\n" + "A" * 300 + "\n-----END PUBLIC KEY-----\n"


async def test_the_clients_exception_starts_with_one_readable_line_then_the_details():
    async with (
        replaying([FIXTURES / "kalshi_full_fill"]) as proxy,
        KalshiClient(proxy.url("kalshi") + "/trade-api/v2") as kalshi,
    ):
        with pytest.raises(ReplayMismatch) as caught:
            await kalshi.create_order(TICKER, "yes", "buy", Decimal("2"), Decimal("0.52"))
    lines = str(caught.value).splitlines()
    assert lines[0] == FIRST_LINE
    assert lines[1:4] == [
        "  no recording matches this request",
        "  candidate kalshi_full_fill/001_POST_kalshi_orders.json (seq 1, not served yet):",
        "    differs at /count (live 2.00, recorded 10.00)",
    ]
    assert lines[4] == "  candidate kalshi_full_fill/002_GET_kalshi_fills.json (seq 2, not served yet):"
    assert all(line.startswith("    differs ") for line in lines[5:]) and len(str(caught.value)) < 1000
    assert caught.value.kind == "unmatched" and caught.value.body["summary"] == FIRST_LINE


async def test_a_candidate_holding_a_pem_or_a_long_value_is_shown_cut_short(tmp_path):
    keys = "/__sim/kalshi/keys"
    session = write_session(tmp_path / "s", [fixture("kalshi", "POST", KALSHI + keys, {"public_key_pem": PEM})])
    async with (
        replaying([session]) as proxy,
        aiohttp.ClientSession() as http,
        http.post(proxy.url("kalshi") + keys, json={"public_key_pem": "x" * 500}) as resp,
    ):
        body = await resp.json()
    text = str(body)
    assert "BEGIN PUBLIC KEY" not in text and "x" * 201 not in text
    assert body["summary"].startswith(
        "unmatched POST /__sim/kalshi/keys: closest 001_POST_kalshi_keys.json differs at /public_key_pem (live xxx"
    )
    assert "recorded [PEM block, 353 chars])" in body["summary"] and len(body["summary"]) < 200
    assert body["request"]["body"]["public_key_pem"] == "x" * 199 + "…"


def test_words_for_each_kind_of_difference():
    differs = {
        "method": {"live": "DELETE", "recorded": "POST"},
        "query": {"limit": {"live": ["5"], "recorded": "(absent)"}},
        "body": {"/order/price": {"live": "0.5", "recorded": {"a": 1}}},
    }
    assert difference_words(differs) == [
        "differs in method (live DELETE, recorded POST)",
        "differs at ?limit (live 5, recorded (absent))",
        'differs at /order/price (live 0.5, recorded {"a":1})',
    ]
    line = summary(
        "unmatched",
        "poly",
        "DELETE",
        "/order",
        "",
        [{"fixture": "s/001_DELETE_poly_order.json", "differs": differs}],
        "",
    )
    assert (
        line
        == "unmatched DELETE /order: closest 001_DELETE_poly_order.json differs in method (live DELETE, recorded POST),"
        " and 2 more"
    )


def test_other_kinds_have_their_own_first_line():
    exhausted = summary(
        "exhausted",
        "kalshi",
        "GET",
        "/trade-api/v2/portfolio/balance",
        "",
        [{"fixture": "s/002_GET_kalshi_balance.json", "differs": "already consumed"}],
        "",
    )
    assert (
        exhausted == "exhausted GET /portfolio/balance: every recording of it has been served"
        " (the last: 002_GET_kalshi_balance.json)"
    )
    assert (
        summary("unmatched", "poly", "GET", "/book", "token_id=1", [], "")
        == "unmatched GET /book?token_id=1: no poly recording left to compare with"
    )
    order = summary(
        "out_of_order", "kalshi", "GET", "/a", "", [], "next recorded kalshi request is s/001_GET_kalshi_a.json"
    )
    assert order == "out_of_order GET /a: next recorded kalshi request is s/001_GET_kalshi_a.json"


def test_clipping_keeps_short_values_and_never_shows_a_pem():
    assert clip("2.00") == "2.00" and clip("y" * 50) == "y" * 39 + "…"
    assert clipped({"a": [PEM, 3, "ok"]}) == {"a": ["[PEM block, 353 chars]", 3, "ok"]}


PLUGIN_TEST = """
import asyncio
from decimal import Decimal

import pytest

from clients.errors import ReplayMismatch
from clients.kalshi import KalshiClient


async def place():
    async with KalshiClient.from_env() as kalshi:
        await kalshi.create_order("KXDEMOMATCH-26DEC31ALIBOB-ALI", "yes", "buy", Decimal("2"), Decimal("0.52"))


@pytest.mark.tradetape("fixtures/kalshi_full_fill")
def test_wrong_count_swallowed(tradetape):
    try:
        asyncio.run(place())
    except ReplayMismatch as exc:
        print(f"bot logged: {exc}")
"""


def test_the_pytest_plugin_fails_with_the_same_first_line_as_the_exception(pytester):
    shutil.copytree(FIXTURES / "kalshi_full_fill", pytester.path / "fixtures" / "kalshi_full_fill")
    pytester.makepyfile(test_mine=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert f"bot logged: {FIRST_LINE}\n" in output  # the client's exception
    assert f"\n  {FIRST_LINE}\n" in output  # the plugin's failure: the same words
    assert "\n        differs at /count (live 2.00, recorded 10.00)\n" in output


def test_a_client_websocket_message_miss_reads_like_a_request_miss():
    candidates = [
        {"frames": "s/002_GET_kalshi_ws.frames.jsonl", "seq": 3, "differs": {"/cmd": {"live": "x", "recorded": "y"}}}
    ]
    line, lines = message_summary("unmatched", "text", "kalshi", "/trade-api/ws/v2", 1, candidates)
    assert line == (
        "unmatched text message on /trade-api/ws/v2 (connection 1): closest 002_GET_kalshi_ws.frames.jsonl seq 3 "
        "differs at /cmd (live x, recorded y)"
    )
    assert lines[1:] == [
        "candidate s/002_GET_kalshi_ws.frames.jsonl (seq 3):",
        "  differs at /cmd (live x, recorded y)",
    ]
    exhausted, _ = message_summary("exhausted", "text", "poly", "/ws/user", 2, [])
    assert exhausted.endswith("every recorded client message of this connection has been received")
