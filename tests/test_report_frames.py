"""tradetape report over WebSocket recordings: books from snapshots and deltas, fills and trade statuses from
the user channels, untrusted books drawn as gaps, frames in the list on the session clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.replay.sources import SourceError
from proxy.report.build import build
from proxy.report.inputs import load_sessions
from proxy.report.page import report_data
from proxy.report.write import INPUTS, write_report
from tests.replay_helpers import KALSHI, ORDERS, POLY, fixture
from tests.ws_helpers import Tape

TICKER = "KXNBA-26NOV30-BOS"
TOKEN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
ME = "0x00000000000000000000000000000000000000aa"


def report(directory: Path) -> dict[str, Any]:
    return build(load_sessions([directory], INPUTS), inputs=INPUTS)


def kalshi(tape: Tape, use_yes_price: bool) -> str:
    ws = tape.open("kalshi", "/trade-api/ws/v2")
    params = {"channels": ["orderbook_delta", "fill"], "market_tickers": [TICKER], "use_yes_price": use_yes_price}
    tape.message(ws, "client", text={"id": 1, "cmd": "subscribe", "params": params})
    tape.message(ws, "exchange", text={"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}})
    return ws


def snapshot(seq: int, yes: list[list[str]], no: list[list[str]]) -> dict[str, Any]:
    msg = {"market_ticker": TICKER, "yes_dollars_fp": yes, "no_dollars_fp": no}
    return {"type": "orderbook_snapshot", "sid": 1, "seq": seq, "msg": msg}


def delta(seq: int, side: str, price: str, change: str) -> dict[str, Any]:
    msg = {"market_ticker": TICKER, "price_dollars": price, "delta_fp": change, "side": side}
    return {"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": msg}


def test_kalshi_books_follow_snapshot_and_deltas_and_a_seq_gap_is_a_gap_until_the_next_snapshot(tmp_path):
    tape = Tape(tmp_path / "k")
    ws = kalshi(tape, use_yes_price=True)  # NO levels arrive already as YES asks
    tape.message(ws, "exchange", text=snapshot(1, [["0.4700", "25.00"], ["0.4500", "50.00"]], [["0.5200", "6.00"]]))
    tape.message(ws, "exchange", text=delta(2, "no", "0.5200", "-6.00"))  # the 0.52 ask is taken
    tape.message(ws, "exchange", text=delta(2, "no", "0.5200", "-6.00"))  # a repeat: applied once
    tape.message(ws, "exchange", text=delta(4, "yes", "0.4800", "10.00"))  # seq 3 was missed
    tape.message(ws, "exchange", text=delta(5, "yes", "0.4900", "1.00"))  # ignored: the book is not trusted
    tape.message(ws, "exchange", text=snapshot(6, [["0.4800", "10.00"]], [["0.5400", "50.00"]]))
    data = report(tape.write())

    (market,) = data["markets"]
    best = [(b["bids"][0][0] if b["bids"] else None, b["asks"][0][0] if b["asks"] else None) for b in market["book"]]
    assert best == [("0.4700", "0.5200"), ("0.4700", None), ("0.4700", None), ("0.4800", "0.5400")]
    gap = market["book"][2]
    assert gap["invalid"] == "seq gap on sid 1: expected 3, got 4"
    (note,) = market["notes"]
    assert note["text"] == "book not trusted: seq gap on sid 1: expected 3, got 4" and note["item"] == gap["item"]
    assert data["items"][gap["item"]]["label"] == "WS ← orderbook_delta"


def test_kalshi_no_levels_become_yes_asks_without_use_yes_price(tmp_path):
    tape = Tape(tmp_path / "k")
    ws = kalshi(tape, use_yes_price=False)
    tape.message(ws, "exchange", text=snapshot(1, [["0.4700", "25.00"]], [["0.4800", "6.00"], ["0.4600", "50.00"]]))
    tape.message(ws, "exchange", text=delta(2, "no", "0.4800", "-2.00"))
    (market,) = report(tape.write())["markets"]
    assert [b["asks"] for b in market["book"]] == [
        [["0.5200", "6.00"], ["0.5400", "50.00"]],
        [["0.5200", "4.00"], ["0.5400", "50.00"]],
    ]


def test_kalshi_fills_and_positions_from_the_user_channels_count_once_beside_the_rest_answers(tmp_path):
    tape = Tape(tmp_path / "k")
    ws = kalshi(tape, use_yes_price=True)
    body = {"ticker": TICKER, "side": "bid", "count": "10.00", "price": "0.5200", "client_order_id": "c1"}
    ack = {"order_id": "o1", "fill_count": "6.00", "remaining_count": "0.00", "average_fill_price": "0.5200"}
    tape.request("create")
    fill = {
        "trade_id": "f1",
        "order_id": "o1",
        "market_ticker": TICKER,
        "outcome_side": "yes",
        "action": "buy",
        "count_fp": "6.00",
        "yes_price_dollars": "0.5200",
        "is_taker": True,
    }
    tape.message(ws, "exchange", text={"type": "fill", "sid": 2, "msg": fill})  # the fill arrives before the answer
    tape.answer("create", fixture("kalshi", "POST", KALSHI + ORDERS, body, 201, ack))
    sold = {**fill, "trade_id": "f2", "order_id": "o2", "outcome_side": "no", "count_fp": "2.00"}
    tape.message(ws, "exchange", text={"type": "fill", "sid": 2, "msg": {**sold, "yes_price_dollars": "0.4700"}})
    position = {"market_ticker": TICKER, "position_fp": "4.00", "position_cost_dollars": "2.0800"}
    tape.message(ws, "exchange", text={"type": "market_position", "sid": 3, "msg": position})
    data = report(tape.write())

    (market,) = data["markets"]
    assert [(f["side"], f["size"], f["price"], f["fill_id"]) for f in market["fills"]] == [
        ("buy", "6.00", "0.5200", "f1"),
        ("sell", "2.00", "0.4700", "f2"),  # a NO purchase sells the YES leg
    ]
    (kalshi_exchange,) = data["exchanges"]
    assert [(p["position"], p["exposure"]) for p in kalshi_exchange["points"]] == [
        ("6.00", "3.120000"),
        ("4.00", "2.080000"),
    ]
    (reported,) = kalshi_exchange["reported"]
    assert (reported["position"], reported["exposure"]) == ("4.00", "2.0800")


def poly_tape(tape: Tape) -> tuple[str, str]:
    body = {"order": {"tokenId": TOKEN, "side": "BUY", "makerAmount": "5700000", "takerAmount": "10000000"}}
    order = fixture("poly", "POST", POLY + "/order", {**body, "orderType": "FAK"}, 200, None)
    order["request"]["headers"]["poly_address"] = ME
    tape.request("order")
    tape.answer("order", order)
    market = tape.open("poly", "/ws/market", POLY)
    user = tape.open("poly", "/ws/user", POLY)
    return market, user


def trade(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "trade",
        "id": "t1",
        "taker_order_id": "0xo1",
        "asset_id": TOKEN,
        "side": "BUY",
        "size": "10",
        "price": "0.57",
        "status": status,
        "outcome": "YES",
        "trader_side": "TAKER",
        "maker_orders": [],
        **extra,
    }


def test_polymarket_books_from_the_dump_and_price_changes_checked_against_the_exchange(tmp_path):
    tape = Tape(tmp_path / "p")
    market, _ = poly_tape(tape)
    book = {
        "event_type": "book",
        "asset_id": TOKEN,
        "bids": [{"price": "0.48", "size": "30"}, {"price": "0.50", "size": "15"}],
        "asks": [{"price": "0.54", "size": "10"}, {"price": "0.52", "size": "25"}],
    }
    tape.message(market, "exchange", text=[book])  # the initial dump is an array
    change = {"asset_id": TOKEN, "price": "0.52", "size": "0", "side": "SELL", "best_bid": "0.50", "best_ask": "0.54"}
    tape.message(market, "exchange", text={"event_type": "price_change", "price_changes": [change]})
    wrong = {"asset_id": TOKEN, "price": "0.49", "size": "5", "side": "BUY", "best_bid": "0.51", "best_ask": "0.54"}
    tape.message(market, "exchange", text={"event_type": "price_change", "price_changes": [wrong]})
    (drawn,) = report(tape.write())["markets"]
    assert [(b["bids"][0], b["asks"][0]) for b in drawn["book"]] == [
        (["0.50", "15"], ["0.52", "25"]),
        (["0.50", "15"], ["0.54", "10"]),
        (["0.50", "15"], ["0.54", "10"]),
    ]
    assert drawn["book"][2]["invalid"].startswith("best bid/ask")
    assert drawn["notes"][0]["text"].startswith("book not trusted: best bid/ask")


def test_a_polymarket_trade_moves_matched_to_confirmed_or_failed_and_failed_takes_the_fill_back(tmp_path):
    tape = Tape(tmp_path / "p")
    _, user = poly_tape(tape)
    for status in ("MATCHED", "MATCHED", "MINED", "CONFIRMED"):
        tape.message(user, "exchange", text=trade(status))
    tape.message(user, "exchange", text=trade("MATCHED", id="t2", taker_order_id="0xo2"))
    tape.message(user, "exchange", text=trade("RETRYING", id="t2", taker_order_id="0xo2"))
    tape.message(user, "exchange", text=trade("FAILED", id="t2", taker_order_id="0xo2"))
    data = report(tape.write())
    (market,) = data["markets"]
    assert [(s["fill_id"], s["status"]) for s in market["trades"]] == [
        ("t1", "MATCHED"),
        ("t1", "MINED"),
        ("t1", "CONFIRMED"),
        ("t2", "MATCHED"),
        ("t2", "RETRYING"),
        ("t2", "FAILED"),
    ]
    assert [(f["fill_id"], f["size"]) for f in market["fills"]] == [("t1", "10"), ("t2", "10"), ("t2", "-10")]
    assert [p["position"] for p in data["exchanges"][0]["points"]] == ["10", "20", "10"]


def test_only_this_accounts_maker_orders_count(tmp_path):
    tape = Tape(tmp_path / "p")
    _, user = poly_tape(tape)
    makers = [
        {"order_id": "0xm1", "maker_address": ME.upper().replace("0X", "0x"), "matched_amount": "3", "price": "0.57"},
        {"order_id": "0xm2", "maker_address": "0x" + "bb" * 20, "matched_amount": "7", "price": "0.57"},
    ]
    makers = [{**m, "side": "SELL", "outcome": "YES", "owner": "[REDACTED]", "asset_id": TOKEN} for m in makers]
    tape.message(user, "exchange", text=trade("MATCHED", trader_side="MAKER", maker_orders=makers))
    (market,) = report(tape.write())["markets"]
    assert [(f["order_id"], f["side"], f["size"]) for f in market["fills"]] == [("0xm1", "sell", "3")]


def test_frames_are_listed_on_the_session_clock_as_on_disk(tmp_path):
    tape = Tape(tmp_path / "k")
    ws = kalshi(tape, use_yes_price=True)
    tape.message(ws, "exchange", text=snapshot(1, [["0.4700", "25.00"]], [["0.5200", "6.00"]]))
    tape.message(ws, "exchange", "close", code=1000, reason="")
    directory = tape.write()
    out = tmp_path / "r.html"
    written = write_report([directory], out)
    data = report_data(out.read_text())
    assert data == written.data
    frames = [i for i in data["items"] if i["kind"] == "frame"]
    lines = [orjson.loads(line) for line in (directory / ws).read_bytes().splitlines()]
    assert [f["record"] for f in frames] == lines
    assert [f["seq"] for f in frames] == [line["seq"] for line in lines] == sorted(f["seq"] for f in frames)
    assert [f["label"] for f in frames] == [
        "WS → subscribe",
        "WS ← subscribed",
        "WS ← orderbook_snapshot",
        "WS ← close(1000)",
    ]
    assert frames[0]["context"] == {"handshake": "001_GET_kalshi_ws.json", "path": "/trade-api/ws/v2"}
    assert frames[1]["t"] - frames[0]["t"] == pytest.approx(0.01)  # the recorded spacing
    assert written.data["sessions"][0]["kinds"] == {"rest": 1, "frame": 4}


def test_a_torn_frames_line_is_skipped_with_a_warning_and_a_bad_one_names_the_file(tmp_path):
    tape = Tape(tmp_path / "k")
    ws = kalshi(tape, use_yes_price=True)
    directory = tape.write()
    frames = directory / ws
    frames.write_bytes(frames.read_bytes() + b'{"seq": 9, "t": 1.0, "fro')
    data = report(directory)
    assert data["warnings"] == [f"k/{ws}: last line cut short (25 bytes): skipped"]
    frames.write_bytes(frames.read_bytes().replace(b'"from":"client"', b'"from":"bot"', 1))
    with pytest.raises(SourceError, match=f"{ws}: line 1: from is 'bot', not client or exchange"):
        report(directory)
