"""tradetape drift on pairs of hand-written sessions, one kind of change each; WebSocket messages; the corpus."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from proxy.cli.drift import drift_command
from proxy.drift import samples
from proxy.drift.compare import compare, enum_like
from proxy.drift.samples import Sample, corpus_samples, load, ws_samples
from proxy.drift.shapes import error_identity, infer
from tests.corpus import payload_dir
from tests.replay_helpers import KALSHI, ORDERS, POLY, failure, fixture, write_session

FILLED = {
    "order_id": "a1",
    "client_order_id": "c1",
    "fill_count": "5.00",
    "remaining_count": "0.00",
    "average_fill_price": "0.5200",
    "ts_ms": 1781159360866,
}
RESTING = {**FILLED, "order_id": "a2", "fill_count": "0.00", "remaining_count": "5.00", "average_fill_price": "0.5000"}
ORDER = {"order": {"order_id": "a1", "status": "resting", "yes_price_dollars": "0.5200", "side": "yes"}}
EXISTS = {"error": {"code": "order_already_exists", "message": "order already exists", "service": "exchange"}}
FILLS = {"cursor": "", "fills": [{"side": "yes", "count_fp": "5.00"}, {"side": "no", "count_fp": "1.00"}]}
POLY_ORDER = {"success": True, "orderID": "0xab", "status": "matched", "makingAmount": "4.9", "takingAmount": "10"}


def answers() -> dict[str, Any]:
    """The answers of the OLD session, by name; a test changes one and writes NEW from them."""
    return {
        "create": [FILLED, RESTING],
        "order": ORDER,
        "exists": EXISTS,
        "fills": FILLS,
        "poly": POLY_ORDER,
        "legacy": {"order": {"order_id": "v1", "status": "executed"}},
        "settlements": {"cursor": "", "settlements": []},
    }


def fixtures_of(given: dict[str, Any], create_status: int = 201, legacy_status: int = 201) -> list[dict[str, Any]]:
    fixtures = [
        fixture("kalshi", "POST", KALSHI + ORDERS, status=create_status, answer=answer) for answer in given["create"]
    ]
    fixtures += [
        fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/orders/a1", answer=given["order"]),
        fixture("kalshi", "POST", KALSHI + ORDERS, status=409, answer=given["exists"]),
        fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/fills?limit=10", answer=given["fills"]),
        fixture(
            "kalshi", "POST", KALSHI + "/trade-api/v2/portfolio/orders", status=legacy_status, answer=given["legacy"]
        ),
        fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/settlements", answer=given["settlements"]),
        fixture("poly", "POST", POLY + "/order", answer=given["poly"]),
        failure("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/balance", "upstream_timeout", 504),
    ]
    return fixtures


def write(directory, given: dict[str, Any], **statuses: int):
    return write_session(directory, fixtures_of(given, **statuses))


def drift(tmp_path, change=None, *args: str, **statuses: int):
    """Run `tradetape drift OLD NEW` where NEW is OLD with `change` applied to its answers."""
    old = write(tmp_path / "old", answers())
    new_answers = answers()
    if change:
        change(new_answers)
    new = write(tmp_path / "new", new_answers, **statuses)
    return CliRunner().invoke(drift_command, [str(old), str(new), *args])


def report(tmp_path, change=None, **statuses: int) -> tuple[int, list[dict[str, Any]]]:
    result = drift(tmp_path, change, "--json", **statuses)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, orjson.loads(result.output)["findings"]


def only(findings: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(findings) == 1, findings
    return findings[0]


def test_identical_sessions_report_nothing_and_exit_0(tmp_path):
    result = drift(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "0 breaking, 0 notable, 0 informational"


def test_a_removed_field_is_breaking_and_exits_1(tmp_path):
    def change(a):
        a["create"] = [{k: v for k, v in item.items() if k != "remaining_count"} for item in a["create"]]

    code, findings = report(tmp_path, change)
    assert code == 1
    found = only(findings)
    assert (found["severity"], found["kind"], found["key"]) == (
        "breaking",
        "field_removed",
        "POST /portfolio/events/orders",
    )
    assert (found["group"], found["pointer"]) == ("2xx", "/remaining_count")


def test_a_field_in_every_new_example_is_notable_in_some_informational(tmp_path):
    def change(a):
        a["create"] = [{**a["create"][0], "exchange_index": 0}, {**a["create"][1], "exchange_index": 1}]
        a["order"] = {"order": {**ORDER["order"], "settlement_bounds_type": "fixed"}}
        a["fills"] = {**FILLS, "fills": [{**FILLS["fills"][0], "fee_cost": "0.01"}, FILLS["fills"][1]]}

    code, findings = report(tmp_path, change)
    assert code == 0
    added = {(f["pointer"], f["severity"]) for f in findings}
    assert added == {
        ("/exchange_index", "notable"),
        ("/order/settlement_bounds_type", "notable"),
        ("/fills/*/fee_cost", "informational"),
    }
    assert all(f["kind"] == "field_added" for f in findings)


def test_a_number_becoming_a_string_is_a_breaking_type_change(tmp_path):
    def change(a):
        a["create"] = [{**item, "ts_ms": str(item["ts_ms"])} for item in a["create"]]

    code, findings = report(tmp_path, change)
    found = only(findings)
    assert code == 1 and (found["kind"], found["pointer"]) == ("type_changed", "/ts_ms")
    assert found["detail"] == "type integer -> numeric string (e.g. '1781159360866')"


def test_a_decimal_string_becoming_a_number_and_a_value_becoming_null_are_breaking(tmp_path):
    def change(a):
        a["create"] = [{**item, "fill_count": float(item["fill_count"])} for item in a["create"]]
        a["order"] = {"order": {**ORDER["order"], "yes_price_dollars": None}}

    code, findings = report(tmp_path, change)
    assert code == 1
    details = {f["pointer"]: f["detail"] for f in findings}
    assert details == {
        "/fill_count": "type numeric string -> number (e.g. 0.0)",
        "/order/yes_price_dollars": "type numeric string -> null (e.g. ?)",
    }


def test_decimal_places_of_a_fixed_scale_field_changing_is_notable(tmp_path):
    def change(a):  # "0.5200" -> "0.52": Kalshi's four-place prices written with two
        a["create"] = [{**item, "average_fill_price": item["average_fill_price"][:4]} for item in a["create"]]

    code, findings = report(tmp_path, change)
    found = only(findings)
    assert code == 0 and (found["severity"], found["kind"]) == ("notable", "decimal_places_changed")
    assert found["detail"] == "decimal places 4 -> 2: '0.5000' -> '0.50'"


def test_a_scale_not_shown_to_be_fixed_is_not_a_format_change(tmp_path):
    # "0.52" -> "0.5": no padded value showed a fixed scale, so this is a writer trimming zeros
    old = write(tmp_path / "old", {**answers(), "order": {"order": {**ORDER["order"], "yes_price_dollars": "0.52"}}})
    new = write(tmp_path / "new", {**answers(), "order": {"order": {**ORDER["order"], "yes_price_dollars": "0.5"}}})
    result = CliRunner().invoke(drift_command, [str(old), str(new), "--json"])
    assert result.exit_code == 0 and orjson.loads(result.output)["findings"] == []


def test_a_new_value_of_an_enum_like_field_is_notable_free_text_is_not(tmp_path):
    def change(a):
        a["order"] = {"order": {**ORDER["order"], "status": "canceled"}}
        a["fills"] = {**FILLS, "fills": [{**FILLS["fills"][0], "side": "maybe"}]}
        a["legacy"] = {"order": {"order_id": "v2", "status": "executed"}}  # an id is not an enum

    code, findings = report(tmp_path, change)
    assert code == 0
    assert {(f["pointer"], f["detail"]) for f in findings} == {
        ("/order/status", "new value 'canceled' (known: 'resting')"),
        ("/fills/*/side", "new value 'maybe' (known: 'no', 'yes')"),
    }
    assert {f["kind"] for f in findings} == {"enum_value_added"}


def test_enum_like_names():
    for name in ("status", "type", "event_type", "side", "book_side", "orderType", "time_in_force", "code"):
        assert enum_like(f"/a/{name}"), name
    for name in ("order_id", "ticker", "message", "price", "types", "subtype_count"):
        assert not enum_like(f"/a/{name}"), name


def test_a_new_error_answer_under_a_known_status_is_notable(tmp_path):
    def change(a):
        a["exists"] = {"error": {"code": "market_closed", "message": "market closed", "service": "exchange"}}

    code, findings = report(tmp_path, change)
    found = only(findings)
    assert code == 0 and (found["kind"], found["group"]) == ("error_added", "409")
    assert found["detail"] == 'new error answer: market_closed "market closed"'


def test_error_identity_folds_ids_and_numbers():
    body = {"error": "order 0xc17b83 is invalid. Size (1.08) lower than the minimum: 5"}
    assert error_identity(body) == '"order # is invalid. Size (#) lower than the minimum: #"'
    assert error_identity({"id": 1, "type": "error", "msg": {"code": 6, "msg": "Already subscribed"}}) == (
        '6 "Already subscribed"'
    )
    assert (
        error_identity({"code": "bad_request", "message": "bad request", "details": "x"}) == 'bad_request "bad request"'
    )
    assert error_identity({"error": {"code": "user_not_found:_2597b999-f887-4195-8bac-c3f97a1f2021"}}) == (
        "user_not_found:_#"  # Kalshi's dynamic codes (docs/wire/kalshi.md)
    )
    assert error_identity([1, 2]) is None


def test_a_new_status_is_notable_with_what_it_says(tmp_path):
    old = write(tmp_path / "old", answers())
    new = write_session(
        tmp_path / "new",
        [fixture("kalshi", "POST", KALSHI + ORDERS, status=400, answer={"error": {"code": "invalid_price"}})],
    )
    result = CliRunner().invoke(drift_command, [str(old), str(new), "--json"])
    findings = orjson.loads(result.output)["findings"]
    added = [f for f in findings if f["kind"] == "status_added"]
    assert only(added)["detail"] == "new status 400: invalid_price"
    unseen = [f for f in findings if f["kind"] == "status_unseen"]
    assert only(unseen)["detail"] == "status 201/409 not seen in NEW (not compared)"
    assert result.exit_code == 0  # the creates that succeeded before were not tried: nothing says they broke


def test_a_changed_success_status_is_breaking(tmp_path):
    code, findings = report(tmp_path, create_status=200)
    found = only(findings)
    assert code == 1 and (found["kind"], found["detail"]) == ("success_status_changed", "success status 201 -> 200")


def test_an_endpoint_answering_410_is_gone(tmp_path):
    def change(a):
        a["legacy"] = {
            "error": {"code": "deprecated_v1_order_endpoint", "message": "Please switch to the V2 endpoints"}
        }

    code, findings = report(tmp_path, change, legacy_status=410)
    assert code == 1
    gone = [f for f in findings if f["kind"] == "endpoint_gone"]
    assert only(gone)["detail"] == "answered 201 before, now only 410"
    assert {f["kind"] for f in findings} == {"endpoint_gone", "status_added", "status_unseen"}


def test_new_and_unseen_endpoints_are_informational(tmp_path):
    old = write(tmp_path / "old", answers())
    kept = [f for f in fixtures_of(answers()) if not f["request"]["url"].endswith("/portfolio/orders")]
    status = fixture("kalshi", "GET", KALSHI + "/trade-api/v2/exchange/status", answer={"trading_active": True})
    new = write_session(tmp_path / "new", [*kept, status])
    result = CliRunner().invoke(drift_command, [str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "  kalshi GET /exchange/status\n    new endpoint  (new/009_GET_kalshi_status.json)" in result.output
    assert "kalshi: 1 endpoints/message types of OLD not seen in NEW (not compared): POST /portfolio/orders" in (
        result.output
    )


def test_a_field_sometimes_missing_now_is_notable(tmp_path):
    def change(a):
        a["create"] = [a["create"][0], {k: v for k, v in a["create"][1].items() if k != "client_order_id"}]

    code, findings = report(tmp_path, change)
    found = only(findings)
    assert code == 0 and (found["kind"], found["pointer"]) == ("field_now_optional", "/client_order_id")


def test_items_of_an_array_empty_before_are_not_new_fields(tmp_path):
    def change(a):
        a["settlements"] = {"cursor": "", "settlements": [{"ticker": "KX-1", "revenue": "1.00"}]}

    code, findings = report(tmp_path, change)
    assert (code, findings) == (0, [])


def test_text_report_groups_by_severity_then_endpoint(tmp_path):
    def change(a):
        a["create"] = [{k: v for k, v in item.items() if k != "ts_ms"} for item in a["create"]]
        a["order"] = {"order": {**ORDER["order"], "status": "canceled"}}

    result = drift(tmp_path, change)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:2] == ["OLD " + str(tmp_path / "old") + ": 8 samples", "NEW " + str(tmp_path / "new") + ": 8 samples"]
    assert lines[3:9] == [
        "BREAKING (1)",
        "  kalshi POST /portfolio/events/orders [2xx]",
        "    /ts_ms  always present before, in no example now  (old/001_POST_kalshi_orders.json)",
        "",
        "NOTABLE (1)",
        "  kalshi GET /portfolio/orders/{id} [2xx]",
    ]
    assert lines[-1] == "1 breaking, 1 notable, 0 informational"


def test_a_directory_of_sessions_is_one_side(tmp_path):
    old = write(tmp_path / "old", answers())
    write(tmp_path / "runs" / "monday", answers())
    write(tmp_path / "runs" / "tuesday", answers())
    result = CliRunner().invoke(drift_command, [str(old), str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == f"NEW {tmp_path / 'runs'}: 2 sessions, 16 samples"


def test_bad_arguments_exit_2_naming_what_is_wrong(tmp_path):
    old = write(tmp_path / "old", answers())
    missing = CliRunner().invoke(drift_command, [str(old), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope: no such session, directory of sessions or corpus directory" in (
        missing.output
    )
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(drift_command, [str(tmp_path / "empty"), str(old)])
    assert empty.exit_code == 2 and "holds no session" in empty.output
    (old / "002_POST_kalshi_orders.json").write_text("{not json")
    broken = CliRunner().invoke(drift_command, [str(old), str(old)])
    assert broken.exit_code == 2 and "002_POST_kalshi_orders.json: invalid JSON at line 1" in broken.output


# ---- WebSocket messages -----------------------------------------------------------------------------

DELTA = {
    "type": "orderbook_delta",
    "sid": 1,
    "seq": 2,
    "msg": {"price_dollars": "0.5200", "delta_fp": "-1.00", "side": "no"},
}


def frames(*messages: Any) -> list[Sample]:
    return [s for i, m in enumerate(messages) for s in ws_samples("kalshi", m, f"frame{i}")]


def test_websocket_messages_are_keyed_by_their_type_and_compared_like_bodies():
    changed = copy.deepcopy(DELTA)
    changed["msg"]["price_dollars"] = 0.52
    del changed["seq"]
    findings = compare(infer(frames(DELTA)), infer(frames(changed, {"type": "market_lifecycle_v2", "msg": {}})))
    assert [(f.severity, f.kind, f.key, f.pointer) for f in findings] == [
        ("breaking", "type_changed", "WS orderbook_delta", "/msg/price_dollars"),
        ("breaking", "field_removed", "WS orderbook_delta", "/seq"),
        ("notable", "message_type_added", "WS market_lifecycle_v2", None),
    ]


def test_polymarket_frames_holding_an_array_give_one_sample_per_typed_event():
    frame = [{"event_type": "book", "bids": []}, {"event_type": "price_change"}, {"no_type": True}]
    assert [s.key for s in ws_samples("poly", frame, "f")] == ["WS book", "WS price_change"]


# ---- the payload corpus ------------------------------------------------------------------------------


def corpus_file(exchange_dir: str, name: str) -> Any:
    return orjson.loads((payload_dir(exchange_dir) / name).read_bytes())


@pytest.mark.parametrize(
    ("directory", "name", "key", "status"),
    [
        ("kalshi", "real_demo__orders__create_v2_maker.json", "POST /portfolio/events/orders", 201),
        ("kalshi", "real_demo__orders__cancel_v2.json", "DELETE /portfolio/events/orders/{id}", 200),
        ("kalshi", "real_demo__orderbook__base.json", "GET /markets/{id}/orderbook", 200),
        ("kalshi", "real_prod_pasted__deprecated_v1_create_410.json", "POST /portfolio/orders", 410),
        ("kalshi", "real_demo__ws__orderbook_trade_yes__frame4_orderbook_delta.json", "WS orderbook_delta", None),
        ("polymarket", "official_docs__get_order__404__example.json", "GET /data/order/{id}", 404),
        ("polymarket", "real__balance_allowance_200_v2_collateral.json", "GET /balance-allowance", 200),
        ("polymarket", "official_docs__ws_user__trade.json", "WS trade", None),
    ],
)
def test_corpus_files_are_placed_by_their_source_text(directory, name, key, status):
    exchange = samples.CORPUS_EXCHANGES[directory]
    entry = corpus_file(directory, name)
    [placed] = corpus_samples(exchange, entry, name)
    assert (placed.exchange, placed.key, placed.status, placed.body) == (exchange, key, status, entry["payload"])


def test_pasted_traffic_is_unwrapped_and_requests_and_commands_place_nowhere():
    entry = corpus_file("polymarket", "real__error_400_min_size.json")
    [placed] = corpus_samples("poly", entry, "f")
    assert (placed.key, placed.status, placed.body) == ("POST /order", 400, entry["payload"]["body"])
    for directory, name in [
        ("kalshi", "real_demo__orders__create_v2_maker__request.json"),
        ("kalshi", "official_asyncapi_20260610__subscribeCommand_0.json"),
        ("polymarket", "official_docs__ws_market__subscriptionRequest.json"),
        ("polymarket", "official_docs__post_order__request__example.json"),
        ("polymarket", "real__error_425_service_not_ready.json"),  # a printed message, not the body
    ]:
        assert corpus_samples(samples.CORPUS_EXCHANGES[directory], corpus_file(directory, name), name) == []


def test_the_corpus_keyword_loads_the_repository_corpus_and_says_where_it_lives_when_absent(tmp_path, monkeypatch):
    corpus = load("corpus")
    assert len(corpus.samples) > 150 and all(f.endswith(".json") for f in corpus.unplaced)
    assert {s.exchange for s in corpus.samples} == {"kalshi", "poly"}
    monkeypatch.setattr(samples, "REPOSITORY_CORPUS", tmp_path / "nothing")
    result = CliRunner().invoke(drift_command, ["corpus", str(tmp_path)])
    assert result.exit_code == 2
    assert "tests/data/payloads/, which this installation does not have" in result.output


def test_the_corpus_keyword_with_a_local_directory_of_that_name_is_refused_as_ambiguous(tmp_path, monkeypatch):
    (tmp_path / "corpus").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(drift_command, ["corpus", str(tmp_path)])
    assert result.exit_code == 2
    assert "corpus: names both the repository's payload corpus and ./corpus here; pass ./corpus" in result.output


def test_a_file_in_a_corpus_directory_that_is_not_a_corpus_entry_is_named(tmp_path):
    (tmp_path / "kalshi").mkdir()
    (tmp_path / "kalshi" / "odd.json").write_bytes(orjson.dumps({"hello": 1}))
    result = CliRunner().invoke(drift_command, [str(tmp_path), str(tmp_path)])
    assert result.exit_code == 2 and "odd.json: not a corpus file (expected source, kind and payload)" in result.output


def test_a_plain_text_answer_is_compared_by_what_it_says(tmp_path):
    refused = {"error": "invalid signature"}
    old = write_session(tmp_path / "old", [fixture("poly", "POST", POLY + "/order", status=400, answer=refused)])
    page = b"<html><body><h1>400 Bad Request</h1> the request could not be read by the gateway</body></html>"
    new = write_session(tmp_path / "new", [fixture("poly", "POST", POLY + "/order", status=400, raw=page)])
    result = CliRunner().invoke(drift_command, [str(old), str(new), "--json"])
    assert result.exit_code == 1, result.output
    found = {(f["kind"], f["pointer"]): f["detail"] for f in orjson.loads(result.output)["findings"]}
    assert found == {
        ("error_added", None): 'new error answer: "<html><body><h#># Bad Request</h#> the request could not be read by '
        'the gateway</body></html>"',
        ("type_changed", ""): "type object -> string (e.g. '<html><body><h1>400 Bad Request</h1> t…)",
    }
