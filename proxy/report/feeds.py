"""Recorded WebSocket messages to events, read with the feed clients' own parsers and their `LocalBook`.

Books: Kalshi's snapshot and deltas (YES leg; NO levels become YES asks unless the connection's subscribe asked
`use_yes_price`, when they already are), Polymarket's `book` dumps and `price_change` level totals. A book the
feed would not trust is drawn as a gap with a note: a Kalshi `seq` gap (until the next snapshot), a delta that
would take a level below zero, a Polymarket best bid/ask the exchange contradicts. Fills: Kalshi `fill`
messages, Polymarket `trade` events with their status (MATCHED, MINED, CONFIRMED, RETRYING, FAILED); a maker
order counts as this account's when its maker address is one the session's REST requests used.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from clients.book import ASK, BID, BookInconsistent, LocalBook
from clients.kalshi.feed import parse_delta, parse_position_update, parse_snapshot, parse_user_fill
from clients.kalshi.orders import outcome_price
from clients.kalshi.parse import optional_dollars
from clients.polymarket.feed import events_of, parse_levels, parse_price_changes, parse_trade_fills
from proxy.report.events import Book, Events, Fill, Note, Reported, Side
from proxy.report.inputs import Entry, Session
from proxy.report.poly import trade_status

NO_BID, NO_ASK = Decimal(0), Decimal(1)  # what Polymarket says for an empty side
SIDES: dict[str, Side] = {"BUY": "buy", "SELL": "sell"}


def poly_addresses(session: Session) -> set[str]:
    """The account addresses the session's Polymarket requests name (L2 header, signed order maker)."""
    found = set()
    for entry in session.entries:
        if entry.kind != "rest" or entry.exchange != "poly":
            continue
        request = entry.record["request"]
        headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
        body = request.get("body")
        order = body.get("order") if isinstance(body, dict) else None
        for value in (headers.get("poly_address"), order.get("maker") if isinstance(order, dict) else None):
            if isinstance(value, str):
                found.add(value.lower())
    return found


class FeedReader:
    """One session's messages in seq order: books kept per market, Kalshi seq checked per connection and sid."""

    def __init__(self, session: Session) -> None:
        self.books: dict[tuple[str, str], LocalBook] = {}
        self.yes_prices: dict[str, bool] = {}  # per connection (frames file): did its subscribe ask use_yes_price
        self.seqs: dict[tuple[str, int], int] = {}
        self.tickers: dict[str, set[str]] = {}  # per connection, the Kalshi books it feeds
        self.addresses = poly_addresses(session)

    def read(self, entry: Entry, item: int, t: float) -> Events:
        message = payload(entry.record)
        if message is None:
            return Events()
        if entry.record["from"] == "client":
            self._command(entry.file, message)
            return Events()
        if entry.exchange == "kalshi":
            return self._kalshi(entry.file, message, item, t)
        return self._poly(message, item, t)

    def _command(self, connection: str, message: Any) -> None:
        params = message.get("params") if isinstance(message, dict) else None
        if isinstance(params, dict) and message.get("cmd") == "subscribe" and "use_yes_price" in params:
            self.yes_prices[connection] = params["use_yes_price"] is True

    def _book(self, exchange: str, market: str) -> LocalBook:
        return self.books.setdefault((exchange, market), LocalBook(exchange, market))

    def _drawn(self, book: LocalBook, item: int, t: float, invalid: str | None = None) -> Book:
        view = book.view()
        bids = tuple((level.price, level.size) for level in view.bids)
        asks = tuple((level.price, level.size) for level in view.asks)
        return Book(t, item, book.exchange, book.market, bids, asks, invalid)

    def _invalid(self, book: LocalBook, item: int, t: float, reason: str) -> Events:
        book.invalidate()
        note = Note(t, item, book.exchange, book.market, f"book not trusted: {reason}")
        return Events(books=[self._drawn(book, item, t, reason)], notes=[note])

    # -- Kalshi ---------------------------------------------------------------------------------

    def _kalshi(self, connection: str, frame: Any, item: int, t: float) -> Events:
        kind = frame.get("type") if isinstance(frame, dict) else None
        msg = frame.get("msg") if isinstance(frame, dict) else None
        if kind in ("orderbook_snapshot", "orderbook_delta"):
            gap = self._gap(connection, frame)
            if gap == "repeat":
                return Events()
            if kind == "orderbook_snapshot":
                ticker, bids, asks = parse_snapshot(msg, self.yes_prices.get(connection, False))
                self.tickers.setdefault(connection, set()).add(ticker)
                book = self._book("kalshi", ticker)
                book.replace(bids, asks)
                return Events(books=[self._drawn(book, item, t)])
            if gap:
                events = Events()
                for ticker in sorted(self.tickers.get(connection, ())):
                    events.extend(self._invalid(self._book("kalshi", ticker), item, t, gap))
                return events
            return self._delta(connection, msg, item, t)
        if kind == "fill":
            fill = parse_user_fill(msg)
            side: Side = "buy" if fill.outcome == "yes" else "sell"  # Kalshi books a YES sale as a NO purchase
            yes_price = outcome_price(fill.outcome, fill.price)
            return Events(
                fills=[Fill(t, item, "kalshi", fill.market, fill.order_id, fill.fill_id, side, fill.size, yes_price)]
            )
        if kind == "market_position":
            update = parse_position_update(msg)
            cost = optional_dollars(msg, "market_position", "position_cost_dollars") if isinstance(msg, dict) else None
            return Events(reported=[Reported(t, item, "kalshi", update.market, update.position, cost)])
        return Events()

    def _gap(self, connection: str, frame: dict[str, Any]) -> str | None:
        """None in sequence, "repeat" for a seq already seen, else what was missed."""
        sid, seq = frame.get("sid"), frame.get("seq")
        if not isinstance(sid, int) or not isinstance(seq, int):
            return None
        last = self.seqs.get((connection, sid))
        if last is not None and seq <= last:
            return "repeat"
        self.seqs[(connection, sid)] = seq
        if last is not None and seq != last + 1:
            return f"seq gap on sid {sid}: expected {last + 1}, got {seq}"
        return None

    def _delta(self, connection: str, msg: Any, item: int, t: float) -> Events:
        ticker, side, price, change = parse_delta(msg, self.yes_prices.get(connection, False))
        book = self._book("kalshi", ticker)
        if not book.valid:
            return Events()  # untrusted until the next snapshot
        try:
            book.add(side, price, change)
        except BookInconsistent as exc:
            return self._invalid(book, item, t, str(exc))
        return Events(books=[self._drawn(book, item, t)])

    # -- Polymarket -----------------------------------------------------------------------------

    def _poly(self, frame: Any, item: int, t: float) -> Events:
        events = Events()
        for event in events_of(frame):
            kind = event["event_type"]
            if kind == "book":
                book = self._book("poly", str(event["asset_id"]))
                book.replace(parse_levels(event, "bids"), parse_levels(event, "asks"))
                events.books.append(self._drawn(book, item, t))
            elif kind == "price_change":
                events.extend(self._price_change(event, item, t))
            elif kind == "trade":
                events.fills += self._trade(event, item, t)
        return events

    def _price_change(self, event: dict[str, Any], item: int, t: float) -> Events:
        touched: dict[str, tuple[Decimal | None, Decimal | None]] = {}
        for asset, side, price, size, best_bid, best_ask in parse_price_changes(event):
            book = self._book("poly", asset)
            if book.valid:
                book.set_level(side, price, size)
            touched[asset] = (best_bid, best_ask)
        events = Events()
        for asset, (best_bid, best_ask) in touched.items():
            book = self._book("poly", asset)
            if not book.valid:
                continue
            mine = (book.best(BID) or NO_BID, book.best(ASK) or NO_ASK)
            theirs = (best_bid if best_bid is not None else mine[0], best_ask if best_ask is not None else mine[1])
            if mine != theirs:
                events.extend(self._invalid(book, item, t, f"best bid/ask {mine} but the exchange says {theirs}"))
            else:
                events.books.append(self._drawn(book, item, t))
        return events

    def _trade(self, event: dict[str, Any], item: int, t: float) -> list[Fill]:
        trade_id, status = str(event.get("id")), trade_status(str(event.get("status")))
        fills = []
        for fill in parse_trade_fills(event, None):
            maker = str(fill.raw.get("maker_address", "")).lower() if not fill.is_taker else None
            if maker is not None and maker not in self.addresses:
                continue  # another account's maker order in this trade
            side = SIDES[fill.side.upper()]
            fills.append(
                Fill(t, item, "poly", fill.market, fill.order_id, trade_id, side, fill.size, fill.price, status)
            )
        return fills


def payload(record: dict[str, Any]) -> Any:
    """The JSON a text message carries, or None."""
    text = record.get("text")
    if not isinstance(text, str):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
