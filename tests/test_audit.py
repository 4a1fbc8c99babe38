"""`tradetape audit`: secrets that escaped redaction are found and named; public ids are not."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from proxy.cli.main import main
from proxy.tools.audit import audit_file, audit_tree, tree_files

ORDER_HASH = "0x" + "ab12" * 16
ZERO32 = "0x" + "0" * 64


def fixture(request_headers=None, request_body=None, response_body=None) -> dict:
    body = response_body if response_body is not None else {"orderID": ORDER_HASH, "status": "matched"}
    return {
        "seq": 1,
        "exchange": "poly",
        "captured_at": "2026-11-19T20:15:00.123Z",
        "latency_ms": 1.0,
        "request": {
            "method": "POST",
            "url": "https://clob.polymarket.com/order",
            "headers": request_headers or {"poly_api_key": "[REDACTED]", "poly_address": "0xf39F"},
            "body": request_body
            if request_body is not None
            else {
                "order": {
                    "salt": 1,
                    "tokenId": "7" * 70,
                    "metadata": ZERO32,
                    "builder": ZERO32,
                    "signature": "0x" + "cd" * 65,
                },
                "owner": "[REDACTED]",
            },
        },
        "response": {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body_raw": orjson.dumps(body).decode(),
            "body_parsed": body,
        },
    }


def write(tmp_path, name: str, data: dict) -> None:
    (tmp_path / name).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def test_clean_fixtures_pass_and_public_ids_are_not_flagged(tmp_path):
    write(
        tmp_path,
        "001_POST_poly_order.json",
        fixture(
            response_body={
                "orderID": ORDER_HASH,
                "market": "0x" + "69" * 32,
                "transactionsHashes": ["0x" + "12" * 32],
                "hash_key": ZERO32,
            }
        ),
    )
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 files, no secrets found" in result.output


@pytest.mark.parametrize(
    "data, field, reason",
    [
        (fixture(request_headers={"POLY_API_KEY": "real-key"}), "request.headers.POLY_API_KEY", "not redacted"),
        (fixture(request_body={"order": {"owner": "uuid-of-key"}}), "request.body.order.owner", "not redacted"),
        (
            fixture(response_body={"data": [{"Secret": "c2VjcmV0"}]}),
            "response.body_parsed.data[0].Secret",
            "not redacted",
        ),
        (
            fixture(response_body={"note": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"}),
            "response.body_parsed.note",
            "PEM block",
        ),
        (
            fixture(request_body={"wallet": {"signing_key": "0x" + "9f" * 32}}),
            "request.body.wallet.signing_key",
            "64-hex",
        ),
    ],
)
def test_each_kind_of_escaped_secret_is_named(tmp_path, data, field, reason):
    path = tmp_path / "001_POST_poly_order.json"
    write(tmp_path, path.name, data)
    findings = audit_file(path)
    assert any(f.field == field and reason in f.reason for f in findings), findings
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{path}: {field}" in result.output


def test_secret_in_body_raw_alone_is_found(tmp_path):
    data = fixture()
    data["response"]["body_raw"] = '{"apiKey":"live-key","orderID":"0x1"}'
    write(tmp_path, "001_GET_poly_api_key.json", data)
    assert [f.field for f in audit_file(tmp_path / "001_GET_poly_api_key.json")] == ["response.body_raw.apiKey"]


def test_pem_in_any_file_and_invalid_json_are_reported(tmp_path):
    (tmp_path / "notes.txt").write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    (tmp_path / "002_GET_kalshi_fills.json").write_text("{not json")
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 1
    assert "notes.txt: (file): PEM block" in result.output
    assert "002_GET_kalshi_fills.json: (file): not valid JSON" in result.output


def test_redact_rewrites_a_session_so_that_it_passes(tmp_path):
    data = fixture(
        request_headers={"Authorization": "Bearer t", "poly_address": "0xf39F"},
        response_body={"apiKey": "k", "secret": "s", "passphrase": "p", "orderID": ORDER_HASH},
    )
    write(tmp_path, "001_POST_poly_order.json", data)
    result = CliRunner().invoke(main, ["audit", "--redact", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "rewrote 1 files; 0 findings remain" in result.output
    fixed = orjson.loads((tmp_path / "001_POST_poly_order.json").read_bytes())
    assert fixed["request"]["headers"] == {"Authorization": "[REDACTED]", "poly_address": "0xf39F"}
    assert fixed["response"]["body_parsed"]["secret"] == "[REDACTED]"
    assert fixed["response"]["body_parsed"]["orderID"] == ORDER_HASH
    assert orjson.loads(fixed["response"]["body_raw"])["apiKey"] == "[REDACTED]"
    assert list(fixed) == list(data)  # key order kept
    assert CliRunner().invoke(main, ["audit", str(tmp_path)]).exit_code == 0


def test_audit_needs_an_existing_path():
    result = CliRunner().invoke(main, ["audit", "/nonexistent/fixtures"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_secret_in_body_raw_after_leading_whitespace_is_found_and_redacted(tmp_path):
    data = fixture()
    data["response"]["body_raw"] = '\n  {"apiKey":"live-key","orderID":"0x1"}'
    write(tmp_path, "001_GET_poly_api_key.json", data)
    assert [f.field for f in audit_file(tmp_path / "001_GET_poly_api_key.json")] == ["response.body_raw.apiKey"]
    assert CliRunner().invoke(main, ["audit", "--redact", str(tmp_path)]).exit_code == 0
    assert "live-key" not in (tmp_path / "001_GET_poly_api_key.json").read_text()


KEY = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"


def keyed(url: str, seq: int = 1) -> dict:
    data = fixture()
    data.update(seq=seq, exchange="kalshi")
    data["request"].update(method="GET", url=url)
    return data


def test_a_name_holding_what_its_url_had_scrubbed_is_named(tmp_path):
    """A fixture is named from the path as sent; the URL it stores had the credential scrubbed: the name is the
    only place the key is left, and it reads as clean JSON, so the name itself is judged."""
    write(tmp_path, f"001_GET_kalshi_{KEY.replace('-', '_')}.json", keyed("https://x/trade-api/v2/keys/[REDACTED]"))
    findings = audit_file(tmp_path / f"001_GET_kalshi_{KEY.replace('-', '_')}.json")
    assert [(f.field, "no segment of the recorded URL's path" in f.reason) for f in findings] == [("(file name)", True)]


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("001_GET_kalshi_redacted.json", "https://x/trade-api/v2/keys/[REDACTED]"),  # the recorder's own name
        ("001_GET_kalshi_root.json", "https://x/"),
        ("001_GET_kalshi_api_keys.json", "https://x/trade-api/v2/api-keys/abc123"),  # '-' in a name is '_'
        ("001_GET_kalshi_v2.json", "https://x/trade-api/v2/"),
        ("fills_by_hand.json", "https://x/trade-api/v2/keys/[REDACTED]"),  # not a recorder's name: not judged
        ("001_POST_kalshi_keys.json", "https://x/trade-api/v2/keys"),  # another method: made by hand
    ],
)
def test_names_the_recorded_url_gives_pass(tmp_path, name, url):
    write(tmp_path, name, keyed(url))
    assert audit_file(tmp_path / name) == []


def test_a_file_name_holding_a_secret_found_elsewhere_is_named_and_left_by_redact(tmp_path):
    """The key leaked in one fixture's header is also in another file's name: --redact fixes the header and
    says the name is left (renaming would break what refers to it)."""
    write(tmp_path, "001_POST_poly_order.json", fixture(request_headers={"poly_api_key": KEY}))
    (tmp_path / f"notes_{KEY}.txt").write_text("nothing here")
    findings, _ = audit_tree(list(tree_files([tmp_path])))
    assert {(f.file.name, f.field) for f in findings} == {
        ("001_POST_poly_order.json", "request.headers.poly_api_key"),
        (f"notes_{KEY}.txt", "(file name)"),
    }
    result = CliRunner().invoke(main, ["audit", "--redact", str(tmp_path)])
    assert result.exit_code == 1
    assert "1 findings remain" in result.output and f"notes_{KEY}.txt: (file name): holds a secret" in result.output


def test_a_journal_record_named_apart_from_its_url_is_named(tmp_path):
    from proxy.tape.compact import pack
    from proxy.tape.journal import JOURNAL, record_bytes

    session = tmp_path / "s"
    session.mkdir()
    record = pack(keyed("https://x/trade-api/v2/keys/[REDACTED]"), [])
    name = f"001_GET_kalshi_{KEY.replace('-', '_')}.json"
    (session / JOURNAL).write_bytes(b"tradetape journal 2\n" + record_bytes(name, record))
    findings, _ = audit_tree(list(tree_files([session])))
    assert [(f.file.name, f.field) for f in findings] == [(f"{JOURNAL} ({name})", "(file name)")]
