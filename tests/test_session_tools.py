"""tradetape inspect, fsck and export --har on hand-written sessions."""

from __future__ import annotations

import orjson
from click.testing import CliRunner

from proxy.cli.tools import export_command, fsck_command, inspect_command
from proxy.tape.fixture import MANIFEST
from tests.replay_helpers import KALSHI, ORDERS, POLY, failure, fixture, write_session

CREATE = {
    "ticker": "KXNBA-26",
    "client_order_id": "c1",
    "side": "ask",
    "count": "5.00",
    "price": "0.5500",
    "time_in_force": "immediate_or_cancel",
}


def session(tmp_path):
    return write_session(
        tmp_path / "s",
        [
            fixture(
                "kalshi",
                "POST",
                KALSHI + ORDERS,
                body=CREATE,
                status=201,
                latency_ms=142.4,
                answer={"order_id": "abc123", "fill_count": "5.00", "remaining_count": "0.00"},
            ),
            fixture(
                "poly",
                "POST",
                POLY + "/order",
                body={"order": {"side": "BUY", "makerAmount": "5000000"}, "orderType": "FOK"},
                answer={"success": True, "orderID": "0x" + "ab" * 32, "status": "matched"},
            ),
            fixture(
                "kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/fills?ticker=KXNBA-26", answer={"fills": [{}, {}]}
            ),
            failure("kalshi", "POST", KALSHI + ORDERS, "upstream_timeout", 504, body=CREATE),
        ],
    )


def test_inspect_prints_a_timeline_with_key_fields(tmp_path):
    result = CliRunner().invoke(inspect_command, [str(session(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["seq", "time", "exchange", "method", "endpoint", "status", "latency", "fields"]
    first = lines[1].split()
    assert first[:8] == [
        "1",
        "20:15:00.123",
        "kalshi",
        "POST",
        "/portfolio/events/orders",
        "201",
        "142ms",
        "ticker=KXNBA-26",
    ]
    assert "side=ask count=5.00 price=0.5500" in lines[1] and "-> order_id=abc123 fill_count=5.00" in lines[1]
    assert (
        "orderType=FOK side=BUY makerAmount=5000000 -> status=matched orderID=0xabababababa… success=true" in lines[2]
    )
    assert "/portfolio/fills?ticker=KXNBA-26" in lines[3] and "fills=2" in lines[3]
    assert "504 upstream_timeout" in lines[4]


def test_inspect_stops_on_a_malformed_fixture_naming_it(tmp_path):
    directory = session(tmp_path)
    (directory / "005_GET_kalshi_x.json").write_bytes(b'{"seq": 5,\n "exchange": }')
    result = CliRunner().invoke(inspect_command, [str(directory)])
    assert result.exit_code == 1
    assert "005_GET_kalshi_x.json: invalid JSON at line 2" in result.output


def test_fsck_of_a_clean_session_rebuilds_the_manifest(tmp_path):
    directory = session(tmp_path)
    (directory / MANIFEST).write_bytes(
        orjson.dumps(
            {
                "format": 1,
                "session": "s",
                "capture_filter": "orders",
                "upstreams": {"kalshi": {"url": KALSHI}},
                "fixtures": [],
            }
        )
    )
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 0, result.output
    assert "4 valid fixtures, 0 problems" in result.output
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    assert manifest["capture_filter"] == "orders" and manifest["upstreams"] == {"kalshi": {"url": KALSHI}}
    assert [e["seq"] for e in manifest["fixtures"]] == [1, 2, 3, 4]
    assert manifest["fixtures"][0]["file"] == "001_POST_kalshi_orders.json" and manifest["fixtures"][0]["status"] == 201
    assert manifest["fixtures"][3]["error"] == "upstream_timeout" and manifest["fixtures"][3]["status"] is None


def test_fsck_reports_every_problem_and_indexes_the_valid_files(tmp_path):
    directory = session(tmp_path)
    (directory / "002_POST_poly_order.json").unlink()  # a gap
    (directory / "004_POST_kalshi_orders.json").rename(directory / "003_POST_kalshi_dup.json")  # seq 4 under name 3
    (directory / "007_GET_kalshi_bad.json").write_bytes(
        b'{"seq": 7, "exchange": "kalshi", "request": {"method": "GET"}}'
    )
    (directory / "008_GET_kalshi_broken.json").write_bytes(b'{"seq": 8, "exchange": "kal')
    (directory / "notes.json").write_bytes(b"{}")
    (directory / ".009_GET_kalshi_x.json.tmp").write_bytes(b"")
    result = CliRunner().invoke(fsck_command, [str(directory)])
    output = result.output  # stdout and stderr
    assert result.exit_code == 1
    assert "007_GET_kalshi_bad.json: missing key request.url" in output
    assert "008_GET_kalshi_broken.json: invalid JSON at line 1 column" in output
    assert "notes.json: not a fixture file name" in output
    assert ".009_GET_kalshi_x.json.tmp: leftover temporary file of an interrupted write, moved to" in output
    assert "003_POST_kalshi_dup.json: seq 4 in the file but 3 in its name" in output
    assert "s: gap, seq 2 missing" in output
    assert "3 valid fixtures, 5 problems" in output  # the leftover is moved aside, not a problem forever
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    assert [e["file"] for e in manifest["fixtures"]] == [
        "001_POST_kalshi_orders.json",
        "003_GET_kalshi_fills.json",
        "003_POST_kalshi_dup.json",
    ]
    assert manifest["session"] == "s"


def test_fsck_reports_duplicate_seq_numbers(tmp_path):
    directory = session(tmp_path)
    data = (directory / "003_GET_kalshi_fills.json").read_bytes()
    (directory / "003_GET_kalshi_again.json").write_bytes(data)
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 1 and "seq 3 appears twice" in result.output


def test_export_har_is_a_valid_har_1_2_log(tmp_path):
    directory = session(tmp_path)
    out = tmp_path / "s.har"
    result = CliRunner().invoke(export_command, [str(directory), "--har", "-o", str(out)])
    assert result.exit_code == 0, result.output
    log = orjson.loads(out.read_bytes())["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "tradetape" and len(log["entries"]) == 4
    for entry in log["entries"]:
        assert set(entry) >= {"startedDateTime", "time", "request", "response", "cache", "timings"}
        assert set(entry["request"]) >= {
            "method",
            "url",
            "httpVersion",
            "cookies",
            "headers",
            "queryString",
            "headersSize",
            "bodySize",
        }
        assert set(entry["response"]) >= {
            "status",
            "statusText",
            "httpVersion",
            "cookies",
            "headers",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        }
        assert entry["timings"]["wait"] == entry["time"] >= 0
    first, _second, third, fourth = log["entries"]
    assert first["request"]["postData"]["mimeType"] == "application/json"
    assert orjson.loads(first["request"]["postData"]["text"]) == CREATE
    assert first["response"]["status"] == 201 and first["response"]["statusText"] == "Created"
    assert orjson.loads(first["response"]["content"]["text"])["order_id"] == "abc123"
    assert first["startedDateTime"] == "2026-11-19T20:15:00.123Z" and first["time"] == 142.4
    assert (
        third["request"]["queryString"] == [{"name": "ticker", "value": "KXNBA-26"}]
        and "postData" not in third["request"]
    )
    assert fourth["response"]["status"] == 504
    assert {"name": "X-Tradetape-Error", "value": "upstream_timeout"} in fourth["response"]["headers"]
    assert orjson.loads(fourth["response"]["content"]["text"])["tradetape_error"] == "upstream_timeout"


def test_export_needs_the_har_flag(tmp_path):
    result = CliRunner().invoke(export_command, [str(session(tmp_path)), "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--har" in result.output


def test_fsck_rejects_what_replay_would_refuse_to_load(tmp_path):
    directory = session(tmp_path)
    bad = orjson.loads((directory / "003_GET_kalshi_fills.json").read_bytes())
    bad["response"]["headers"]["x-count"] = 3  # valid JSON, valid top-level keys, but not a header value
    (directory / "003_GET_kalshi_fills.json").write_bytes(orjson.dumps(bad))
    result = CliRunner().invoke(fsck_command, [str(directory)])
    assert result.exit_code == 1
    assert "003_GET_kalshi_fills.json: response.headers.x-count has the wrong type (int)" in result.output
