"""tradetape report: the numbers a report draws, read back from the written file and checked against the fixtures."""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from proxy.cli.report import report_command
from proxy.report.build import build
from proxy.report.inputs import load_sessions
from proxy.report.page import embed_json, render, report_data
from proxy.report.positions import Change, series
from proxy.report.write import write_report
from scenarios.catalogue import SCENARIOS
from scenarios.demo import reports_line, write_reports
from scenarios.e2e_catalogue import E2E_SCENARIOS
from tests.replay_helpers import KALSHI, ORDERS, POLY, fixture, write_session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
D = Decimal


def files_of(session: str) -> list[dict]:
    return [orjson.loads(p.read_bytes()) for p in sorted((FIXTURES / session).glob("0*.json"))]


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def written(tmp_path: Path, *sessions: str, align: str = "sequence") -> dict:
    """Write the report and read its data back out of the HTML, as the page does."""
    out = tmp_path / "report.html"
    write_report([FIXTURES / s for s in sessions], out, align)
    return report_data(out.read_text())


def test_restart_recovery_report_draws_the_lost_order_and_the_position_the_reads_reveal(tmp_path):
    data = written(tmp_path, "restart_recovery")
    create, orders_read, fills_read, positions_read = files_of("restart_recovery")
    start = seconds(create["captured_at"])

    assert [i["file"] for i in data["items"]] == sorted(p.name for p in (FIXTURES / "restart_recovery").glob("0*"))
    assert [i["record"] for i in data["items"]] == [create, orders_read, fills_read, positions_read]  # as on disk
    (market,) = data["markets"]
    assert market["key"] == "kalshi:" + create["request"]["body"]["ticker"]
    (order,) = market["orders"]
    body = create["request"]["body"]
    assert (order["side"], order["price"], order["size"]) == ("buy", body["price"], body["count"])  # a bid buys YES
    assert order["t"] == 0.0 and order["item"] == 0
    assert order["answer"]["status"] == create["error"]["tradetape_error"]
    assert order["answer"]["t"] == pytest.approx(create["latency_ms"] / 1000)
    assert order["answer"]["filled"] is None  # the answer never came: nothing is assumed

    # the fill is learned from the orders read after the restart, when that read was answered
    (fill,) = market["fills"]
    recovered = orders_read["response"]["body_parsed"]["orders"][0]
    assert fill["item"] == 1 and fill["order_id"] == recovered["order_id"]
    assert D(fill["size"]) == D(recovered["fill_count_fp"])
    assert D(fill["price"]) == D(recovered["yes_price_dollars"])
    learned = seconds(orders_read["captured_at"]) - start + orders_read["latency_ms"] / 1000
    assert fill["t"] == pytest.approx(learned, abs=1e-6)  # microseconds on the axis

    # derived position and exposure agree with what the exchange reported in the positions read
    (kalshi,) = data["exchanges"]
    reported = positions_read["response"]["body_parsed"]["market_positions"][0]
    (point,) = kalshi["points"]
    assert D(point["position"]) == D(reported["position_fp"])
    assert D(point["exposure"]) == D(reported["market_exposure_dollars"])
    (shown,) = kalshi["reported"]
    assert (D(shown["position"]), D(shown["exposure"]), shown["item"]) == (
        D(reported["position_fp"]),
        D(reported["market_exposure_dollars"]),
        3,
    )
    assert data["warnings"] == []


def test_a_composed_arb_shows_both_legs_and_the_unwind_with_exposure_from_the_answers(tmp_path):
    sessions = ("kalshi_partial_fill", "poly_partial_fill", "kalshi_unwind_partial")
    data = written(tmp_path, *sessions)
    entry, poly_entry, unwind = (files_of(s)[0] for s in sessions)  # each session's order (then a fills read)
    kalshi_market, poly_market = data["markets"]
    assert [s["name"] for s in data["sessions"]] == list(sessions)

    buy, sell = kalshi_market["orders"]
    assert (buy["side"], sell["side"]) == ("buy", "sell")  # bid, then the unwind's ask
    assert sell["price"] == unwind["request"]["body"]["price"] and sell["size"] == unwind["request"]["body"]["count"]
    first, then = (f["response"]["body_parsed"] for f in (entry, unwind))
    assert buy["answer"]["filled"] == first["fill_count"] and buy["answer"]["avg_price"] == first["average_fill_price"]
    assert [(f["side"], f["size"], f["price"]) for f in kalshi_market["fills"]] == [
        ("buy", first["fill_count"], first["average_fill_price"]),
        ("sell", then["fill_count"], then["average_fill_price"]),
    ]

    # Polymarket: size and price from the signed amounts, the fill from makingAmount/takingAmount
    signed = poly_entry["request"]["body"]["order"]
    answer = poly_entry["response"]["body_parsed"]
    (order,) = poly_market["orders"]
    assert poly_market["market"] == signed["tokenId"]
    assert D(order["size"]) == D(signed["takerAmount"]) / 10**6
    assert D(order["price"]) == D(signed["makerAmount"]) / D(signed["takerAmount"])
    (fill,) = poly_market["fills"]
    assert D(fill["size"]) == D(answer["takingAmount"])
    assert D(fill["price"]) == D(answer["makingAmount"]) / D(answer["takingAmount"])

    kalshi, poly = data["exchanges"]
    bought, kept = D(first["fill_count"]), D(first["fill_count"]) - D(then["fill_count"])
    assert [(D(p["position"]), D(p["exposure"])) for p in kalshi["points"]] == [
        (bought, bought * D(first["average_fill_price"])),
        (kept, kept * D(first["average_fill_price"])),  # closing releases the cost at the entry price
    ]
    assert [(D(p["position"]), D(p["exposure"])) for p in poly["points"]] == [
        (D(answer["takingAmount"]), D(answer["makingAmount"]))
    ]

    # laid one after another, in the order given
    offsets = [s["offset"] for s in data["sessions"]]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    assert poly_market["orders"][0]["t"] == offsets[1] and sell["t"] == offsets[2]


def named(session: str, part: str) -> list[dict]:
    """The fixtures of `session` whose file name contains `part`, in seq order."""
    return [orjson.loads(p.read_bytes()) for p in sorted((FIXTURES / session).glob(f"0*{part}*.json"))]


def test_the_observed_arb_draws_the_books_each_leg_met_and_positions_the_exchange_confirms(tmp_path):
    data = written(tmp_path, "arb_partial_observed")
    files = files_of("arb_partial_observed")
    kalshi_market, poly_market = data["markets"]
    kalshi_books = [f["response"]["body_parsed"]["orderbook_fp"] for f in files if "orderbook" in f["request"]["url"]]
    poly_books = [f["response"]["body_parsed"] for f in files if "/book?" in f["request"]["url"]]

    def best(levels, pick):
        return pick(levels, key=lambda level: D(level[0]))

    for drawn, book in zip(kalshi_market["book"], kalshi_books, strict=True):
        assert D(drawn["bids"][0][0]) == D(best(book["yes_dollars"], max)[0])
        assert D(drawn["asks"][0][0]) == 1 - D(best(book["no_dollars"], max)[0])  # YES ask = 1 - best NO bid
    for drawn, book in zip(poly_market["book"], poly_books, strict=True):
        asks = [(a["price"], a["size"]) for a in book["asks"]]
        assert drawn["asks"][0] == list(best(asks, min))
    # the entry took the 0.52 ask away; the ask the page draws after the arb is the next level
    assert [b["asks"][0][0] for b in kalshi_market["book"]] == ["0.5200", "0.5400"]

    posts = [i for i, f in enumerate(files) if f["request"]["method"] == "POST"]
    kalshi_posts = [i for i in posts if files[i]["exchange"] == "kalshi"]
    assert [o["item"] for o in kalshi_market["orders"]] == kalshi_posts  # the entry, then the unwind
    assert [o["item"] for o in poly_market["orders"]] == [i for i in posts if i not in kalshi_posts]
    trade = named("arb_partial_observed", "poly_trades")[-1]["response"]["body_parsed"]["data"][0]
    (status,) = poly_market["trades"]  # read twice, the same status: one marker
    assert (status["fill_id"], status["status"]) == (trade["id"], trade["status"])
    (order,) = named("arb_partial_observed", "POST_poly")
    assert D(poly_market["fills"][0]["size"]) == D(order["response"]["body_parsed"]["takingAmount"])

    kalshi, poly = data["exchanges"]
    (positions,) = named("arb_partial_observed", "positions")
    reported = positions["response"]["body_parsed"]["market_positions"][0]
    last = kalshi["points"][-1]
    assert (D(last["position"]), D(last["exposure"])) == (
        D(reported["position_fp"]),
        D(reported["market_exposure_dollars"]),
    )
    assert [p["position"] for p in poly["points"]] == ["4"]


def test_align_start_overlays_the_sessions_and_wall_keeps_the_recorded_clock(tmp_path):
    sessions = ("kalshi_full_fill", "poly_full_fill")
    starts = [seconds(files_of(s)[0]["captured_at"]) for s in sessions]
    overlaid = written(tmp_path, *sessions, align="start")
    assert [m["orders"][0]["t"] for m in overlaid["markets"]] == [0.0, 0.0]
    walled = written(tmp_path, *sessions, align="wall")
    assert walled["markets"][1]["orders"][0]["t"] == pytest.approx(starts[1] - starts[0])


def test_a_duplicate_retry_counts_the_order_once(tmp_path):
    data = written(tmp_path, "duplicate_submission_retry")
    (market,) = data["markets"]
    first, retry = market["orders"]
    assert first["answer"]["status"] == "upstream_disconnected"
    assert retry["answer"]["status"] == "rejected" and retry["answer"]["error"].startswith("DuplicateOrder:")
    assert first["client_order_id"] == retry["client_order_id"]
    (fill,) = market["fills"]  # the orders read and the fills read report the same 10: counted once
    assert fill["size"] == "10.00"
    assert [p["position"] for p in data["exchanges"][0]["points"]] == ["10.00"]


def test_refused_orders_carry_the_error_the_client_would_raise(tmp_path):
    data = written(tmp_path, "poly_no_fill", "kalshi_invalid_ticker", "kalshi_insufficient_balance")
    errors = [o["answer"]["error"].split(":")[0] for m in data["markets"] for o in m["orders"]]
    assert sorted(errors) == ["InsufficientBalance", "MarketNotFound", "OrderNotFilled"]
    assert all(not m["fills"] for m in data["markets"]) and data["exchanges"] == []


# ---- books and reads, in a hand-written session -----------------------------------------------

TICKER = "KXNBA-26NOV30-BOS"
TOKEN = "123456789"
BOOK = "/trade-api/v2/markets/" + TICKER + "/orderbook"


def kalshi_book(yes: list[list[str]], no: list[list[str]]) -> dict:
    return fixture("kalshi", "GET", KALSHI + BOOK, answer={"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}})


def poly_book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> dict:
    levels = lambda side: [{"price": p, "size": s} for p, s in side]  # noqa: E731
    answer = {
        "market": "0xc0",
        "asset_id": TOKEN,
        "timestamp": "1",
        "hash": "h",
        "bids": levels(bids),
        "asks": levels(asks),
    }
    return fixture("poly", "GET", POLY + "/book?token_id=" + TOKEN, answer=answer)


def timed(items: list[dict]) -> list[dict]:
    """One entry every 10 ms, in order."""
    return [{**f, "captured_at": f"2026-11-19T20:15:00.{100 + 10 * i:03d}Z"} for i, f in enumerate(items)]


def test_books_are_drawn_on_the_yes_leg_best_first_with_depth(tmp_path):
    session = write_session(
        tmp_path / "books",
        timed(
            [
                kalshi_book([["0.4800", "30.00"], ["0.5000", "12.00"]], [["0.4600", "5.00"], ["0.4700", "8.00"]]),
                poly_book([("0.44", "100"), ("0.45", "50")], [("0.47", "70"), ("0.46", "20")]),
            ]
        ),
    )
    data = build(load_sessions([session]))
    kalshi, poly = data["markets"]
    (book,) = kalshi["book"]
    assert book["bids"] == [["0.5000", "12.00"], ["0.4800", "30.00"]]
    assert book["asks"] == [["0.5300", "8.00"], ["0.5400", "5.00"]]  # a NO bid at p is a YES ask at 1 - p
    assert book["t"] == pytest.approx(0.010)  # when the answer came: sent at 0, 10 ms latency
    (pbook,) = poly["book"]
    assert pbook["bids"][0] == ["0.45", "50"] and pbook["asks"][0] == ["0.46", "20"]
    assert pbook["t"] == pytest.approx(0.020)


def trade(trade_id: str, order_id: str, status: str, size: str = "10", **extra: object) -> dict:
    return {
        "id": trade_id,
        "taker_order_id": order_id,
        "market": "0xc0",
        "asset_id": TOKEN,
        "side": "BUY",
        "size": size,
        "price": "0.45",
        "status": status,
        "match_time": "1",
        "trader_side": "TAKER",
        **extra,
    }


ORDER_READ = {
    "id": "0xo1",
    "status": "MATCHED",
    "asset_id": TOKEN,
    "side": "BUY",
    "original_size": "10",
    "size_matched": "10",
    "price": "0.45",
}
POLY_ORDER = {"order": {"tokenId": TOKEN, "side": "BUY", "makerAmount": "4500000", "takerAmount": "10000000"}}
MATCHED = {"success": True, "orderID": "0xo1", "status": "matched", "makingAmount": "4.5", "takingAmount": "10"}


def trades_read(*rows: dict) -> dict:
    return fixture(
        "poly",
        "GET",
        POLY + "/data/trades?id=t1",
        answer={"data": list(rows), "next_cursor": "LTE="},
        headers={},
    )


def test_a_polymarket_trade_matched_then_failed_takes_the_fill_back(tmp_path):
    session = write_session(
        tmp_path / "failed",
        timed(
            [
                fixture("poly", "POST", POLY + "/order", body={**POLY_ORDER, "orderType": "FAK"}, answer=MATCHED),
                trades_read(trade("t1", "0xo1", "MATCHED")),
                trades_read(trade("t1", "0xo1", "RETRYING")),
                trades_read(trade("t1", "0xo1", "TRADE_STATUS_FAILED")),  # the OpenAPI's spelling
                trades_read(trade("t1", "0xo1", "FAILED")),
                fixture("poly", "GET", POLY + "/data/order/0xo1", answer=ORDER_READ),  # still says 10 matched
            ]
        ),
    )
    data = build(load_sessions([session]))
    (market,) = data["markets"]
    assert [(f["size"], f["item"]) for f in market["fills"]] == [("10", 0), ("-10", 3)]
    assert [(s["status"], s["item"]) for s in market["trades"]] == [("MATCHED", 1), ("RETRYING", 2), ("FAILED", 3)]
    assert [(p["position"], p["exposure"]) for p in data["exchanges"][0]["points"]] == [
        ("10", "4.500000"),
        ("0", "0.000000"),
    ]


def test_a_trade_seen_only_as_failed_takes_back_what_the_answer_reported(tmp_path):
    session = write_session(
        tmp_path / "failed_first",
        timed(
            [
                fixture("poly", "POST", POLY + "/order", body={**POLY_ORDER, "orderType": "FAK"}, answer=MATCHED),
                trades_read(trade("t1", "0xo1", "FAILED", size="4")),
            ]
        ),
    )
    points = build(load_sessions([session]))["exchanges"][0]["points"]
    assert [p["position"] for p in points] == ["10", "6"]


def test_maker_trades_count_only_this_accounts_maker_orders(tmp_path):
    me, other = "0xAbC0000000000000000000000000000000000001", "0x0000000000000000000000000000000000000002"
    maker = lambda order, address, amount: {  # noqa: E731
        "order_id": order,
        "maker_address": address,
        "matched_amount": amount,
        "price": "0.55",
        "side": "SELL",
    }
    row = trade(
        "t9",
        "0xtaker",
        "CONFIRMED",
        trader_side="MAKER",
        maker_orders=[maker("0xm1", me, "3"), maker("0xm2", other, "7")],
    )
    read = trades_read(row)
    read["request"]["headers"]["poly_address"] = me.lower()
    data = build(load_sessions([write_session(tmp_path / "maker", timed([read]))]))
    (market,) = data["markets"]
    assert [(f["order_id"], f["side"], f["size"], f["price"]) for f in market["fills"]] == [
        ("0xm1", "sell", "3", "0.55")
    ]


def test_answers_and_fill_rows_of_one_order_count_once_and_rows_add_what_answers_missed(tmp_path):
    create = fixture(
        "kalshi",
        "POST",
        KALSHI + ORDERS,
        body={"ticker": TICKER, "side": "bid", "count": "10.00", "price": "0.5200", "client_order_id": "c"},
        status=201,
        answer={"order_id": "o1", "fill_count": "6.00", "remaining_count": "4.00", "average_fill_price": "0.5100"},
    )
    row = lambda fill_id, count, price: {  # noqa: E731
        "fill_id": fill_id,
        "order_id": "o1",
        "ticker": TICKER,
        "outcome_side": "yes",
        "count_fp": count,
        "yes_price_dollars": price,
    }
    fills = fixture(
        "kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/fills", answer={"fills": [row("f1", "6.00", "0.5100")]}
    )
    more = fixture(
        "kalshi",
        "GET",
        KALSHI + "/trade-api/v2/portfolio/fills",
        answer={"fills": [row("f1", "6.00", "0.5100"), row("f2", "4.00", "0.5200")]},
    )
    data = build(load_sessions([write_session(tmp_path / "rows", timed([create, fills, more]))]))
    (market,) = data["markets"]
    assert [(f["size"], f["price"], f["item"]) for f in market["fills"]] == [
        ("6.00", "0.5100", 0),
        ("4.00", "0.5200", 2),
    ]
    assert [(p["position"], p["exposure"]) for p in data["exchanges"][0]["points"]] == [
        ("6.00", "3.060000"),
        ("10.00", "5.140000"),
    ]


def test_a_sale_past_zero_opens_the_other_side_at_one_minus_the_price(tmp_path):
    def order(side: str, count: str, price: str, order_id: str) -> dict:
        return fixture(
            "kalshi",
            "POST",
            KALSHI + ORDERS,
            body={"ticker": TICKER, "side": side, "count": count, "price": price},
            status=201,
            answer={"order_id": order_id, "fill_count": count, "remaining_count": "0.00", "average_fill_price": price},
        )

    session = write_session(
        tmp_path / "cross", timed([order("bid", "4.00", "0.5000", "a"), order("ask", "10.00", "0.6000", "b")])
    )
    points = build(load_sessions([session]))["exchanges"][0]["points"]
    # long 4 at 0.50 (cost 2.00); selling 10 closes 4 and opens 6 short YES at 1 - 0.60 = 0.40 each
    assert [(p["position"], p["exposure"]) for p in points] == [("4.00", "2.000000"), ("-6.00", "2.400000")]


# ---- bad input, and the page itself ------------------------------------------------------------


def test_an_unreadable_answer_is_named_and_the_rest_still_drawn(tmp_path):
    broken = fixture("kalshi", "GET", KALSHI + "/trade-api/v2/portfolio/fills", answer={"fills": [{"order_id": "o"}]})
    session = write_session(tmp_path / "broken", timed([kalshi_book([["0.5", "1"]], []), broken]))
    data = build(load_sessions([session]))
    assert data["markets"][0]["book"]
    (warning,) = data["warnings"]
    assert warning.startswith("broken/002_GET_kalshi_fills.json: not drawn:") and "fills[0]" in warning
    assert "problem" in data["items"][1]


def test_a_malformed_fixture_stops_the_report_naming_the_file(tmp_path):
    session = write_session(tmp_path / "bad", [kalshi_book([], [])])
    (path,) = session.glob("0*.json")
    path.write_text('{"seq": 1, "exchange": "kalshi"')
    result = CliRunner().invoke(report_command, [str(session), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert str(path) in result.output and "invalid JSON" in result.output
    assert not (tmp_path / "r.html").exists()


def test_cli_resolves_session_names_and_prints_what_it_wrote(tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        report_command, ["kalshi_full_fill", "poly_full_fill", "-o", str(out), "--capture-dir", str(FIXTURES)]
    )
    assert result.exit_code == 0, result.output
    entries = len(files_of("kalshi_full_fill")) + len(files_of("poly_full_fill"))
    assert result.output.startswith(f"{out}: {entries} entries from 2 session(s), 2 market(s), 2 orders, 2 fills;")
    assert [s["name"] for s in report_data(out.read_text())["sessions"]] == ["kalshi_full_fill", "poly_full_fill"]
    missing = CliRunner().invoke(report_command, ["no_such_session", "-o", str(out), "--capture-dir", str(FIXTURES)])
    assert missing.exit_code == 1 and "no_such_session" in missing.output


def test_the_page_is_self_contained_and_a_body_cannot_close_its_script(tmp_path):
    hostile = fixture(
        "kalshi", "GET", KALSHI + "/trade-api/v2/exchange/status", answer={"text": "</script><b>x</b><!--"}
    )
    data = build(load_sessions([write_session(tmp_path / "s", [hostile])]))
    page = render(data)
    assert report_data(page) == orjson.loads(orjson.dumps(data))
    assert page.count("</script>") == 4  # the error catcher, the data, uPlot, the page's own script
    assert "<script src" not in page and "<link" not in page and "http://" not in page.split("tradetape-data")[0]
    assert "</script" not in embed_json({"a": "</script>"})


def test_the_vendored_chart_library_is_the_one_documented():
    vendor = Path(__file__).resolve().parent.parent / "proxy" / "report" / "assets" / "vendor"
    assert (vendor / "uPlot.iife.min.js").read_text().startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "uplot@1.6.32" in (vendor / "README.md").read_text()
    assert "MIT License" in (vendor / "uPlot.LICENSE").read_text()


def test_the_demo_writes_one_report_per_scenario_from_its_sessions(tmp_path):
    written, problems = write_reports(FIXTURES, tmp_path / "reports")
    assert problems == []
    expected = [(s.name, list(s.sources)) for s in SCENARIOS] + [(s.name, [s.name]) for s in E2E_SCENARIOS]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(f"{name}.html" for name, _ in expected)
    for page, (name, sources) in zip(written, expected, strict=True):
        assert page.path.name == f"{name}.html"
        assert [s["name"] for s in page.data["sessions"]] == sources
        assert report_data(page.path.read_text()) == page.data
    line = reports_line(tmp_path / "reports", written)
    assert line.startswith(f"reports: {len(expected)} pages, one per scenario, in {tmp_path / 'reports'}/")

    (tmp_path / "partial").mkdir()
    shutil.copytree(FIXTURES / "kalshi_full_fill", tmp_path / "partial" / "kalshi_full_fill")
    written, problems = write_reports(tmp_path / "partial", tmp_path / "more")
    assert [w.path.name for w in written] == ["kalshi_full_fill.html"]
    assert problems[0].startswith("kalshi_partial_fill: no report: replay source")


def test_a_fill_without_a_price_makes_the_exposure_unknown_never_a_guess():
    priced = Change(0.0, 0, "kalshi", "A", "o1", "buy", D("2"), D("0.40"))
    unpriced = Change(1.0, 1, "kalshi", "B", "o2", "buy", D("3"), None)
    points = series([priced, unpriced])["kalshi"]
    assert [(p.market, p.position, p.exposure) for p in points] == [("A", D("2"), D("0.80")), ("B", D("3"), None)]
