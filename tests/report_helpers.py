"""A hand-written session with both exchanges' feeds beside REST, for the report's browser test."""

from __future__ import annotations

from pathlib import Path

from tests.replay_helpers import KALSHI, ORDERS, POLY, fixture
from tests.ws_helpers import Tape

TICKER = "KXNBA-26NOV30-BOS"
TOKEN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def book_frame(kind: str, seq: int, **msg: object) -> dict[str, object]:
    return {"type": kind, "sid": 1, "seq": seq, "msg": {"market_ticker": TICKER, **msg}}


def feed_session(directory: Path) -> Path:
    """Books moving on both exchanges, a Kalshi seq gap, an order, its fill over WebSocket, a trade confirmed."""
    tape = Tape(directory)
    kalshi = tape.open("kalshi", "/trade-api/ws/v2")
    tape.message(kalshi, "client", text={"id": 1, "cmd": "subscribe", "params": {"use_yes_price": True}})
    snapshot = {"yes_dollars_fp": [["0.4700", "25.00"]], "no_dollars_fp": [["0.5200", "6.00"], ["0.5400", "50.00"]]}
    tape.message(kalshi, "exchange", text=book_frame("orderbook_snapshot", 1, **snapshot))
    body = {"ticker": TICKER, "side": "bid", "count": "6.00", "price": "0.5200", "client_order_id": "c1"}
    ack = {"order_id": "o1", "fill_count": "6.00", "remaining_count": "0.00", "average_fill_price": "0.5200"}
    tape.request("create")
    tape.answer("create", fixture("kalshi", "POST", KALSHI + ORDERS, body, 201, ack))
    tape.message(
        kalshi, "exchange", text=book_frame("orderbook_delta", 2, price_dollars="0.5200", delta_fp="-6.00", side="no")
    )
    fill = {"trade_id": "f1", "order_id": "o1", "market_ticker": TICKER, "outcome_side": "yes", "action": "buy"}
    tape.message(
        kalshi,
        "exchange",
        text={"type": "fill", "sid": 2, "msg": {**fill, "count_fp": "6.00", "yes_price_dollars": "0.5200"}},
    )
    tape.message(
        kalshi, "exchange", text=book_frame("orderbook_delta", 5, price_dollars="0.4800", delta_fp="3.00", side="yes")
    )
    tape.message(
        kalshi,
        "exchange",
        text=book_frame(
            "orderbook_snapshot", 6, yes_dollars_fp=[["0.4800", "3.00"]], no_dollars_fp=[["0.5400", "50.00"]]
        ),
    )

    market = tape.open("poly", "/ws/market", POLY)
    user = tape.open("poly", "/ws/user", POLY)
    levels = {
        "bids": [{"price": "0.43", "size": "500"}],
        "asks": [{"price": "0.45", "size": "4"}, {"price": "0.47", "size": "1000"}],
    }
    tape.message(market, "exchange", text=[{"event_type": "book", "asset_id": TOKEN, **levels}])
    trade = {"event_type": "trade", "id": "t1", "taker_order_id": "0xo1", "asset_id": TOKEN, "side": "BUY", "size": "4"}
    trade = {**trade, "price": "0.45", "outcome": "No", "trader_side": "TAKER", "maker_orders": []}
    change = {"asset_id": TOKEN, "price": "0.45", "size": "0", "side": "SELL", "best_bid": "0.43", "best_ask": "0.47"}
    tape.message(market, "exchange", text={"event_type": "price_change", "price_changes": [change]})
    for status in ("MATCHED", "MINED", "CONFIRMED"):
        tape.message(user, "exchange", text={**trade, "status": status})
    return tape.write()
