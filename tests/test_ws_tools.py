"""The session tools over WebSocket recordings: inspect, fsck, export --har, audit; and the pytest plugin."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from proxy.cli.main import main
from proxy.replay.sources import load_sources
from proxy.replay.volatile import volatile_sets
from proxy.tape.frames import MAX_QUIET
from proxy.tape.schema import FixtureError
from tests.replay_helpers import KALSHI, ORDERS, fixture
from tests.ws_helpers import Tape

pytest_plugins = ["pytester"]
KALSHI_WS = "/trade-api/ws/v2"


def session(directory: Path) -> Path:
    tape = Tape(directory)
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "client", text={"id": 1, "cmd": "subscribe"})
    tape.message(ws, "exchange", text={"type": "subscribed", "id": 1})
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "seq": 1})
    tape.message(ws, "exchange", text={"type": "orderbook_delta", "seq": 2})
    tape.request("order")
    tape.answer("order", fixture("kalshi", "POST", KALSHI + ORDERS, {"ticker": "KXTEST-26"}, 201, {"order_id": "o1"}))
    tape.message(ws, "exchange", text={"type": "fill", "msg": {"order_id": "o1"}})
    tape.message(ws, "exchange", "binary", base64="AAEC")
    tape.message(ws, "client", "close", code=1000, reason="")
    return tape.write()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_inspect_places_messages_between_fixtures_folded_per_run(tmp_path):
    code, out = run("inspect", str(session(tmp_path / "s")))
    assert code == 0
    rows = [line.split()[:4] for line in out.splitlines()[1:]]
    assert rows == [
        ["1", rows[0][1], "kalshi", "GET"],
        ["2-5", rows[1][1], "kalshi", "WS#1"],
        ["6", rows[2][1], "kalshi", "POST"],
        ["7-9", rows[3][1], "kalshi", "WS#1"],
    ]
    assert "4 messages: client 1 (subscribe 1), exchange 3 (orderbook_delta 2, subscribed 1)" in out
    assert "3 messages: client 1 (close(1000) 1), exchange 2 (fill 1, binary 1)" in out


def test_inspect_frames_shows_every_message(tmp_path):
    code, out = run("inspect", "--frames", str(session(tmp_path / "s")))
    assert code == 0
    lines = out.splitlines()[1:]
    assert [line.split()[0] for line in lines] == [str(n) for n in range(1, 10)]
    assert "exchange" in lines[3] and 'orderbook_delta {"type":"orderbook_delta","seq":1}' in lines[3]


def test_fsck_counts_messages_on_the_clock_and_reports_torn_lines_and_strays(tmp_path):
    directory = session(tmp_path / "s")
    code, out = run("fsck", str(directory))
    assert code == 0 and "0 problems" in out
    frames = directory / "001_GET_kalshi_ws.frames.jsonl"
    frames.write_bytes(frames.read_bytes() + b'{"seq": 10, "t": 1.0, "fro')  # a write cut by a crash
    (directory / "077_GET_kalshi_ws.frames.jsonl").write_bytes(b"")
    lines = frames.read_bytes().splitlines(keepends=True)
    frames.write_bytes(b"".join(lines[:2] + lines[3:]))  # seq 4 lost
    code, out = run("fsck", str(directory))
    assert code == 1
    assert "001_GET_kalshi_ws.frames.jsonl: last line cut short (26 bytes" in out
    assert "077_GET_kalshi_ws.frames.jsonl: a frames file no fixture names" in out
    assert "s: gap, seq 4 missing" in out


def test_fsck_and_replay_name_the_file_and_line_of_a_damaged_message(tmp_path):
    directory = session(tmp_path / "s")
    frames = directory / "001_GET_kalshi_ws.frames.jsonl"
    lines = frames.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"seq": 4, "t": 1.0, "from": "bot", "kind": "text", "text": "x"}\n'
    frames.write_bytes(b"".join(lines))
    code, out = run("fsck", str(directory))
    assert code == 1 and "001_GET_kalshi_ws.frames.jsonl: line 3: from is 'bot', not client or exchange" in out
    code, out = run("replay", str(directory))
    assert code != 0 and "001_GET_kalshi_ws.frames.jsonl: line 3: from is 'bot'" in out


def retimed(directory: Path, change: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Rewrite the `t` of the session's frames lines with `change` (a hand edit); the lines as written."""
    frames = directory / "001_GET_kalshi_ws.frames.jsonl"
    lines = [orjson.loads(line) for line in frames.read_bytes().splitlines()]
    change(lines)
    frames.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return lines


def _back(lines: list[dict[str, Any]]) -> None:
    lines[3]["t"] = lines[2]["t"] - 60.0


def _far_ahead(lines: list[dict[str, Any]]) -> None:
    lines[3]["t"] += 1e9  # a digit typed wrong: 31 years on


def _all_far_ahead(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        line["t"] += 1e9


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_back, "line 4: t {t3} is earlier than line 3's {t2} (times in a frames file never go back)"),
        (_far_ahead, "line 4: t {t3} is 1000000000 s after line 3's {t2} (more than 604800 s"),
        (_all_far_ahead, "line 1: t {t0} is 1000000000 s after the connection's 101 at 2026-11-19T20:15:00.000Z (more"),
    ],
)
def test_fsck_and_replay_refuse_a_frames_time_that_goes_back_or_far_ahead_naming_file_line_and_value(
    tmp_path, change, problem
):
    directory = session(tmp_path / "s")
    lines = retimed(directory, change)
    expected = "001_GET_kalshi_ws.frames.jsonl: " + problem.format(t0=lines[0]["t"], t2=lines[2]["t"], t3=lines[3]["t"])
    code, out = run("fsck", str(directory))
    assert code == 1 and expected in out
    code, out = run("replay", str(directory))
    assert code != 0 and expected in out and "Traceback" not in out


@pytest.mark.parametrize("damage", ["time", "echo"])
def test_fsck_names_only_the_real_problem_of_a_damaged_frames_file_not_a_missing_handshake(tmp_path, damage):
    """The handshake fixture refused for its frames file still names it: that file is no orphan."""
    if damage == "time":
        directory = session(tmp_path / "s")
        retimed(directory, _back)
        frames, problem = "001_GET_kalshi_ws.frames.jsonl", "line 4: t "
    else:
        directory = echo_session(tmp_path / "s", "/maker_orders/1/owner")
        frames, problem = "001_GET_poly_user.frames.jsonl", "line 2: echoes pointer "
    (directory / "077_GET_kalshi_ws.frames.jsonl").write_bytes(b"")  # a true orphan beside it
    code, out = run("fsck", str(directory))
    assert code == 1 and f"{frames}: {problem}" in out
    assert f"{frames}: a frames file no fixture names" not in out
    assert "077_GET_kalshi_ws.frames.jsonl: a frames file no fixture names" in out
    code, out = run("replay", str(directory))  # refuses the session before it would list strays
    assert code != 0 and f"{frames}: {problem}" in out and "no fixture names" not in out


def test_a_connection_quiet_for_up_to_a_week_and_messages_sharing_a_time_pass_fsck_and_load(tmp_path):
    def change(lines: list[dict[str, Any]]) -> None:
        lines[2]["t"] = lines[1]["t"]  # one read completed both: one time
        lines[-1]["t"] = lines[-2]["t"] + MAX_QUIET  # the client's close, a week after the last message

    directory = session(tmp_path / "s")
    lines = retimed(directory, change)
    code, out = run("fsck", str(directory))
    assert code == 0 and "0 problems" in out
    (rec,) = [r for r in load_sources([str(directory)], tmp_path, volatile_sets()).recordings if r.messages]
    assert [m.t for m in rec.messages or []] == [line["t"] for line in lines]


def test_a_torn_last_line_is_skipped_with_a_warning_when_replaying(tmp_path):
    directory = session(tmp_path / "s")
    frames = directory / "001_GET_kalshi_ws.frames.jsonl"
    frames.write_bytes(frames.read_bytes() + b'{"seq": 10')
    loaded = load_sources([str(directory)], tmp_path, volatile_sets())
    assert len(loaded.recordings[0].messages or []) == 7
    assert loaded.warnings == [
        "s/001_GET_kalshi_ws.frames.jsonl: last line cut short (10 bytes, an interrupted write): skipped"
    ]


def test_a_frames_file_no_fixture_names_is_named_in_a_warning_when_replaying(tmp_path):
    directory = session(tmp_path / "s")
    (directory / "012_GET_kalshi_ws.frames.jsonl").write_bytes(b"")  # killed before its handshake fixture was written
    loaded = load_sources([str(directory)], tmp_path, volatile_sets())
    assert f"{directory}/012_GET_kalshi_ws.frames.jsonl: a frames file no fixture names, ignored" in loaded.warnings


@pytest.mark.parametrize("named", ["../outside.frames.jsonl", "{outside}", "sub/001_GET_kalshi_ws.frames.jsonl"])
def test_fsck_and_replay_refuse_a_handshake_whose_frames_file_is_not_in_its_session(tmp_path, named):
    directory = session(tmp_path / "s")
    outside = tmp_path / "outside.frames.jsonl"
    (directory / "001_GET_kalshi_ws.frames.jsonl").rename(outside)
    handshake = directory / "001_GET_kalshi_ws.json"
    fixture = orjson.loads(handshake.read_bytes())
    fixture["websocket"]["frames"] = named.format(outside=outside)
    handshake.write_bytes(orjson.dumps(fixture))
    for command in ("fsck", "replay"):
        code, out = run(command, str(directory))
        assert code != 0 and "001_GET_kalshi_ws.json: websocket.frames" in out and "Traceback" not in out


def test_export_har_writes_websocket_messages_as_chrome_does(tmp_path):
    out = tmp_path / "s.har"
    code, _ = run("export", "--har", str(session(tmp_path / "s")), "-o", str(out))
    assert code == 0
    entry = orjson.loads(out.read_bytes())["log"]["entries"][0]
    assert entry["response"]["status"] == 101 and entry["_resourceType"] == "websocket"
    messages = entry["_webSocketMessages"]
    assert [(m["type"], m["opcode"]) for m in messages] == [
        ("send", 1),
        ("receive", 1),
        ("receive", 1),
        ("receive", 1),
        ("receive", 1),
        ("receive", 2),
        ("send", 8),
    ]
    assert messages[0]["data"] == '{"id":1,"cmd":"subscribe"}' and messages[5]["data"] == "AAEC"
    assert isinstance(messages[0]["time"], float) and messages[-1]["data"] == "1000"


def test_audit_finds_and_redacts_secrets_in_messages(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("poly", "/ws/user", "https://ws-subscriptions-clob.polymarket.com")
    tape.message(ws, "client", text={"auth": {"apiKey": "k-1", "secret": "c2VjcmV0", "passphrase": "p"}})
    tape.message(ws, "exchange", text={"event_type": "trade", "trade_owner": "k-1"})
    directory = tape.write()
    code, out = run("audit", str(directory))
    assert code == 1
    assert "001_GET_poly_user.frames.jsonl: line 1.text.auth.secret: secret field is not redacted" in out
    assert "line 2.text.trade_owner: secret field is not redacted" in out
    code, out = run("audit", "--redact", str(directory))
    assert code == 0 and "0 findings remain" in out
    text = (directory / "001_GET_poly_user.frames.jsonl").read_text()
    assert "c2VjcmV0" not in text and "k-1" not in text
    assert run("replay", "--help")[0] == 0  # the file is still a valid frames file: fsck reads it
    assert run("fsck", str(directory))[0] == 0


def test_audit_redact_scrubs_a_secret_from_a_close_reason_and_counts_what_remains_by_every_value_it_found(tmp_path):
    tape = Tape(tmp_path / "s")
    ws = tape.open("poly", "/ws/user", "https://ws-subscriptions-clob.polymarket.com")
    tape.message(ws, "client", text={"auth": {"apiKey": "k-1", "secret": "c2VjcmV0c2VjcmV0", "passphrase": "p"}})
    tape.message(ws, "exchange", "close", code=4000, reason="bad c2VjcmV0c2VjcmV0")
    directory = tape.write()
    code, out = run("audit", str(directory))
    assert code == 1 and "001_GET_poly_user.frames.jsonl: [1].reason: holds a secret value" in out
    code, out = run("audit", "--redact", str(directory))
    assert code == 0 and "0 findings remain" in out
    assert "c2VjcmV0c2VjcmV0" not in (directory / "001_GET_poly_user.frames.jsonl").read_text()


def test_the_pytest_plugin_serves_websocket_replays_and_fails_on_unmatched_and_unconsumed(tmp_path, pytester):
    session(tmp_path / "s")
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import os
            import aiohttp
            import orjson
            import pytest

            SESSION = {str(tmp_path / "s")!r}

            async def subscribe(payload):
                async with aiohttp.ClientSession() as http:
                    async with http.ws_connect(os.environ["KALSHI_WS_URL"]) as ws:
                        await ws.send_str(orjson.dumps(payload).decode())
                        return (await ws.receive()).data

            @pytest.mark.tradetape(SESSION, allow_unused=True)
            async def test_served(tradetape):
                assert os.environ["KALSHI_WS_URL"].endswith("/trade-api/ws/v2")
                assert '"subscribed"' in await subscribe({{"id": 1, "cmd": "subscribe"}})

            @pytest.mark.tradetape(SESSION, allow_unused=True)
            async def test_unmatched(tradetape):
                await subscribe({{"id": 1, "cmd": "unsubscribe"}})

            @pytest.mark.tradetape(SESSION)
            async def test_unconsumed(tradetape):
                await subscribe({{"id": 1, "cmd": "subscribe"}})
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*unmatched text message on /trade-api/ws/v2 (connection 1): closest 001_GET_kalshi_ws.frames.jsonl seq *",
            "*s/001_GET_kalshi_ws.frames.jsonl (connection 1): 2 exchange messages never sent, from seq 7*",
        ]
    )


@pytest.mark.parametrize(
    ("kind", "fields", "problem"),
    [
        ("ping", {"text": "p" * 126}, "ping payload of 126 bytes"),  # a control frame carries at most 125
        ("close", {"code": 99999, "reason": "bye"}, "close code 99999"),  # codes end at 4999
        ("close", {"code": 1005, "reason": ""}, "close code 1005"),  # "no code": never sent (RFC 6455 7.4.1)
        ("close", {"code": None, "reason": "why"}, "a close reason needs a code"),
    ],
)
def test_fsck_and_replay_refuse_by_line_a_control_frame_no_websocket_could_send(tmp_path, kind, fields, problem):
    tape = Tape(tmp_path / "s")
    ws = tape.open("kalshi", KALSHI_WS)
    tape.message(ws, "exchange", text={"type": "subscribed"})
    tape.message(ws, "exchange", kind, **fields)
    directory = tape.write()
    for command in ("fsck", "replay"):
        code, out = run(command, str(directory))
        assert code != 0 and f"001_GET_kalshi_ws.frames.jsonl: line 2: {problem}" in out


TRADE = {"event_type": "trade", "owner": "[REDACTED]", "maker_orders": [{"owner": "[REDACTED]"}]}


def echo_session(directory: Path, target: str) -> Path:
    """A Polymarket user channel whose trade message's `echoes` puts the client's API key at `target`."""
    tape = Tape(directory)
    ws = tape.open("poly", "/ws/user", "https://ws-subscriptions-clob.polymarket.com")
    redacted = {"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]"}
    tape.message(ws, "client", text={"auth": redacted, "type": "user"})
    tape.message(ws, "exchange", text=TRADE, echoes={target: "/auth/apiKey"})
    return tape.write()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("/maker_orders/x/owner", "step 'x' is not an index of the list there (length 1)"),  # hand-edited
        ("/maker_orders/1/owner", "step '1' is not an index of the list there (length 1)"),
        ("/maker_orders/-1/owner", "step '-1' is not an index"),  # RFC 6901: no sign
        ("/maker_orders/00/owner", "step '00' is not an index"),  # nor a leading zero
        ("/maker_orders/²/owner", "step '²' is not an index"),  # nor any digit but ASCII's
        ("/maker_orders/x", "step 'x' is not an index"),  # the last step too
        ("owner", "does not start with '/'"),
    ],
)
def test_fsck_and_replay_refuse_by_line_an_echo_pointer_a_replay_cannot_follow(tmp_path, target, problem):
    directory = echo_session(tmp_path / "s", target)
    code, out = run("fsck", str(directory))
    assert code == 1 and f"001_GET_poly_user.frames.jsonl: line 2: echoes pointer {target!r}: {problem}" in out
    with pytest.raises(FixtureError, match=f"line 2: echoes pointer {re.escape(repr(target))}: {re.escape(problem)}"):
        load_sources([str(directory)], tmp_path, volatile_sets())


@pytest.mark.parametrize("target", ["/maker_orders/0/owner", "/nobody/owner", "/owner/inner", "/maker_orders/0"])
def test_an_echo_pointer_to_a_place_the_payload_may_lack_is_no_problem(tmp_path, target):
    """Recording writes a pointer into a field whose whole value it then redacted (a string now), or keys it
    scrubbed: a replay leaves such an echo out. Only a step through a list must be one of its indexes."""
    code, out = run("fsck", str(echo_session(tmp_path / "s", target)))
    assert code == 0 and "0 problems" in out
