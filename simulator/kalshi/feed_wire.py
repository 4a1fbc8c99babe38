"""The `msg` bodies of the paper Kalshi feed's frames, key for key as the AsyncAPI examples and the demo recordings
(docs/wire/kalshi.md §8): fixed-point strings only, counts 2 dp, prices 4 dp, costs and fees 6 dp.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from simulator.kalshi.book import Book
from simulator.kalshi.exchange import KalshiExchange
from simulator.kalshi.model import ONE, ZERO, Account, Fill, Market, Order, Position
from simulator.kalshi.wire import dollars4, dollars6, fp, rfc3339

_MARKET_IDS = uuid.UUID("6f1c1c2e-7d5e-4f0a-9c1b-3e2a5d4c7b18")


def market_id(ticker: str) -> str:
    """A stable UUID per ticker (the real exchange's market_id is a UUID too)."""
    return str(uuid.uuid5(_MARKET_IDS, ticker))


def ms(ts: float) -> int:
    return int(ts * 1000)


def leg(book_side: str, yes_price: Decimal, use_yes_price: bool) -> tuple[str, Decimal]:
    """(side, price) of a YES-leg level as the feed shows it: asks are NO bids, at NO-leg prices unless
    the subscription asked for `use_yes_price`."""
    if book_side == "bid":
        return "yes", yes_price
    return "no", yes_price if use_yes_price else ONE - yes_price


def snapshot_msg(ticker: str, book: Book, use_yes_price: bool) -> dict[str, Any]:
    """`orderbook_snapshot`: each leg's bids ascending by that leg's price (best last); empty legs left out."""
    body: dict[str, Any] = {"market_ticker": ticker, "market_id": market_id(ticker)}
    yes = list(reversed(book.levels("bid")))
    no = list(reversed([(ONE - p, c) for p, c in book.levels("ask")]))
    if yes:
        body["yes_dollars_fp"] = [[dollars4(p), fp(c)] for p, c in yes]
    if no:
        body["no_dollars_fp"] = [[dollars4(ONE - p if use_yes_price else p), fp(c)] for p, c in no]
    return body


def delta_msg(data: dict[str, Any], use_yes_price: bool, now: float, own: Order | None) -> dict[str, Any]:
    """`orderbook_delta` for one change of one level; `own` is the subscriber's order that caused it, if any."""
    side, price = leg(data["book_side"], data["price"], use_yes_price)
    body: dict[str, Any] = {
        "market_ticker": data["ticker"],
        "market_id": market_id(data["ticker"]),
        "price_dollars": dollars4(price),
        "delta_fp": fp(data["delta"]),
        "side": side,
        "ts": rfc3339(now),
        "ts_ms": ms(now),
    }
    if own is not None:
        if own.client_order_id:
            body["client_order_id"] = own.client_order_id
        body["subaccount"] = 0
    return body


def trade_msg(fill: Fill) -> dict[str, Any]:
    """The public `trade` print of a match, from the taker's fill."""
    outcome = "yes" if fill.book_side == "bid" else "no"
    return {
        "trade_id": fill.fill_id,
        "market_ticker": fill.ticker,
        "yes_price_dollars": dollars4(fill.yes_price),
        "no_price_dollars": dollars4(ONE - fill.yes_price),
        "count_fp": fp(fill.count),
        "taker_side": outcome,
        "taker_outcome_side": outcome,
        "taker_book_side": fill.book_side,
        "is_block_trade": False,
        "ts": int(fill.created_time),
        "ts_ms": ms(fill.created_time),
    }


def fill_msg(fill: Fill, order: Order | None, post_position: Decimal) -> dict[str, Any]:
    """The user's `fill`: per-fill deltas, the YES price only, the position after it."""
    outcome = "yes" if fill.book_side == "bid" else "no"
    body: dict[str, Any] = {"trade_id": fill.fill_id, "order_id": fill.order_id}
    if order is not None and order.client_order_id:
        body["client_order_id"] = order.client_order_id
    return body | {
        "market_ticker": fill.ticker,
        "exchange_index": 0,
        "is_taker": fill.is_taker,
        "side": outcome,
        "yes_price_dollars": dollars4(fill.yes_price),
        "count_fp": fp(fill.count),
        "fee_cost": dollars6(fill.fee),
        "action": "buy",
        "ts": int(fill.created_time),
        "ts_ms": ms(fill.created_time),
        "post_position_fp": fp(post_position),
        "purchased_side": outcome,
        "outcome_side": outcome,
        "book_side": fill.book_side,
    }


def position_msg(account: Account, ticker: str, pos: Position, volume: Decimal) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "market_ticker": ticker,
        "position_fp": fp(pos.position),
        "position_cost_dollars": dollars4(pos.exposure),
        "realized_pnl_dollars": dollars4(pos.realized_pnl),
        "fees_paid_dollars": dollars4(pos.fees_paid),
        "position_fee_cost_dollars": dollars4(pos.fees_paid if pos.position else ZERO),
        "volume_fp": fp(volume),
    }


def user_order_msg(order: Order, account: Account) -> dict[str, Any]:
    outcome = "yes" if order.book_side == "bid" else "no"
    body: dict[str, Any] = {
        "order_id": order.order_id,
        "user_id": account.user_id,
        "ticker": order.ticker,
        "exchange_index": 0,
        "status": order.status,
        "side": outcome,
        "is_yes": outcome == "yes",
        "outcome_side": outcome,
        "book_side": order.book_side,
        "yes_price_dollars": dollars4(order.price),
        "fill_count_fp": fp(order.fill_count),
        "remaining_count_fp": fp(order.remaining),
        "initial_count_fp": fp(order.initial_count),
        "taker_fill_cost_dollars": dollars6(order.taker_fill_cost),
        "maker_fill_cost_dollars": dollars6(order.maker_fill_cost),
        "taker_fees_dollars": dollars6(order.taker_fees),
        "maker_fees_dollars": dollars6(order.maker_fees),
        "client_order_id": order.client_order_id,
        "self_trade_prevention_type": order.self_trade_prevention_type,
        "created_time": rfc3339(order.created_time),
        "created_ts_ms": ms(order.created_time),
        "last_update_time": rfc3339(order.last_update_time),
        "last_updated_ts_ms": ms(order.last_update_time),
    }
    if order.expiration_time is not None:
        body["expiration_time"] = rfc3339(order.expiration_time, fraction=False)
        body["expiration_ts_ms"] = ms(order.expiration_time)
    return body | {"subaccount_number": 0}


def ticker_msg(exchange: KalshiExchange, market: Market, now: float) -> dict[str, Any]:
    """Last price, top of book with sizes, volume and open interest of one market."""
    book = exchange.books[market.ticker]
    bid, ask = book.best("bid"), book.best("ask")
    trades = [f for f in exchange.fills if f.ticker == market.ticker and f.is_taker]
    volume = sum((f.count for f in trades), ZERO)
    interest = sum(
        (
            max(a.positions[market.ticker].position, ZERO)
            for a in exchange.accounts.values()
            if market.ticker in a.positions
        ),
        ZERO,
    )
    return {
        "market_id": market_id(market.ticker),
        "market_ticker": market.ticker,
        "price_dollars": dollars4(market.last_price),
        "yes_bid_dollars": dollars4(bid[0] if bid else ZERO),
        "yes_ask_dollars": dollars4(ask[0] if ask else ONE),
        "volume_fp": fp(volume),
        "open_interest_fp": fp(interest),
        "dollar_volume": int(sum((f.count * f.yes_price for f in trades), ZERO)),
        "dollar_open_interest": int(interest * market.last_price),
        "yes_bid_size_fp": fp(bid[1] if bid else ZERO),
        "yes_ask_size_fp": fp(ask[1] if ask else ZERO),
        "last_trade_size_fp": fp(trades[-1].count if trades else ZERO),
        "ts": int(now),
        "ts_ms": ms(now),
        "time": rfc3339(now, fraction=False),
    }
