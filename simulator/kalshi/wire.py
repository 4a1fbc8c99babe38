"""Kalshi's JSON shapes for the paper exchange's records, key for key as the recorded payloads.

Formats: counts 2 dp (`"3.00"`), prices 4 dp (`"0.5200"`), costs and fees 6 dp, times RFC3339 with
Go's trimmed microseconds. Fields Kalshi removed after the June-2026 recordings are left out
(`resting_orders_count`, `response_price_units`, `fractional_trading_enabled`, error `service`); fields the
official SDK (kalshi-python-async 3.34.0) requires since are sent: `exchange_index` on fills and positions
(3.28.0), `settlement_bounds_type` on markets (3.31.0). The paper exchange is one shard, index 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from simulator.kalshi.book import Book
from simulator.kalshi.exchange import KalshiExchange
from simulator.kalshi.model import ONE, ZERO, Account, Fill, Market, Order, Position

EXCHANGE_INDEX = 0  # the only shard of the paper exchange


def fp(count: Decimal) -> str:
    return str(count.quantize(Decimal("0.01")))


def dollars4(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.0001")))


def dollars6(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.000001")))


def rfc3339(ts: float, fraction: bool = True) -> str:
    """Go's time.RFC3339Nano at microsecond precision: trailing zeros of the fraction trimmed."""
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = f"{moment.microsecond:06d}".rstrip("0")
    return f"{text}.{micros}Z" if fraction and micros else f"{text}Z"


def _direction(book_side: str) -> dict[str, str]:
    """Deprecated side/action plus outcome_side: a bid buys YES, an ask buys NO."""
    outcome = "yes" if book_side == "bid" else "no"
    return {"action": "buy", "side": outcome, "outcome_side": outcome, "book_side": book_side}


def order_json(order: Order, account: Account) -> dict[str, Any]:
    body = {
        **_direction(order.book_side),
        "client_order_id": order.client_order_id,
        "created_time": rfc3339(order.created_time),
        "fill_count_fp": fp(order.fill_count),
        "initial_count_fp": fp(order.initial_count),
        "last_update_time": rfc3339(order.last_update_time),
        "maker_fees_dollars": dollars6(order.maker_fees),
        "maker_fill_cost_dollars": dollars6(order.maker_fill_cost),
        "no_price_dollars": dollars4(ONE - order.price),
        "order_id": order.order_id,
        "remaining_count_fp": fp(order.remaining),
        "self_trade_prevention_type": order.self_trade_prevention_type,
        "status": order.status,
        "subaccount_number": 0,
        "taker_fees_dollars": dollars6(order.taker_fees),
        "taker_fill_cost_dollars": dollars6(order.taker_fill_cost),
        "ticker": order.ticker,
        "type": "limit",
        "user_id": account.user_id,
        "yes_price_dollars": dollars4(order.price),
    }
    if order.expiration_time is not None:
        body["expiration_time"] = rfc3339(order.expiration_time, fraction=False)
    return body


def fill_json(fill: Fill) -> dict[str, Any]:
    return {
        **_direction(fill.book_side),
        "count_fp": fp(fill.count),
        "created_time": rfc3339(fill.created_time),
        "exchange_index": EXCHANGE_INDEX,
        "fee_cost": dollars6(fill.fee),
        "fill_id": fill.fill_id,
        "is_taker": fill.is_taker,
        "market_ticker": fill.ticker,
        "no_price_dollars": dollars4(ONE - fill.yes_price),
        "order_id": fill.order_id,
        "subaccount_number": 0,
        "ticker": fill.ticker,
        "trade_id": fill.fill_id,
        "ts": int(fill.created_time),
        "yes_price_dollars": dollars4(fill.yes_price),
    }


def execution_json(order: Order, fills: list[Fill], now_ms: int, *, counts: bool = True) -> dict[str, Any]:
    """The V2 create/amend answer: counts without `_fp`, averages over this request's fills, if any."""
    body: dict[str, Any] = {"order_id": order.order_id}
    if order.client_order_id:
        body["client_order_id"] = order.client_order_id
    if counts:
        body["fill_count"] = fp(order.fill_count)
        body["remaining_count"] = fp(order.remaining)
    filled = sum((f.count for f in fills), ZERO)
    if filled:
        body["average_fill_price"] = dollars4(sum((f.count * f.yes_price for f in fills), ZERO) / filled)
        body["average_fee_paid"] = dollars4(sum((f.fee for f in fills), ZERO) / filled)
    body["ts_ms"] = now_ms
    return body


def market_position_json(ticker: str, pos: Position) -> dict[str, Any]:
    return {
        "exchange_index": EXCHANGE_INDEX,
        "fees_paid_dollars": dollars6(pos.fees_paid),
        "last_updated_ts": rfc3339(pos.last_updated),
        "market_exposure_dollars": dollars6(pos.exposure),
        "position_fp": fp(pos.position),
        "realized_pnl_dollars": dollars6(pos.realized_pnl),
        "ticker": ticker,
        "total_traded_dollars": dollars6(pos.total_traded),
    }


def event_position_json(event_ticker: str, positions: list[Position]) -> dict[str, Any]:
    exposure = sum((p.exposure for p in positions), ZERO)
    return {
        "event_exposure_dollars": dollars6(exposure),
        "event_ticker": event_ticker,
        "fees_paid_dollars": dollars6(sum((p.fees_paid for p in positions), ZERO)),
        "realized_pnl_dollars": dollars6(sum((p.realized_pnl for p in positions), ZERO)),
        "total_cost_dollars": dollars6(exposure),
        "total_cost_shares_fp": fp(sum((abs(p.position) for p in positions), ZERO)),
    }


def cents(amount: Decimal) -> int:
    """Whole cents, truncated, as Kalshi's integer balance fields."""
    return int((amount * 100).to_integral_value(rounding=ROUND_DOWN))


def balance_json(exchange: KalshiExchange, account: Account) -> dict[str, Any]:
    available = exchange.available(account)
    value = ZERO
    for ticker, pos in account.positions.items():
        mark = exchange.markets[ticker].last_price
        value += pos.position * mark if pos.position > 0 else -pos.position * (ONE - mark)
    return {
        "balance": cents(available),
        "balance_breakdown": [{"balance": dollars4(available), "exchange_index": EXCHANGE_INDEX}],
        "balance_dollars": dollars4(available),
        "portfolio_value": cents(value),
        "updated_ts": int(account.updated_ts),
    }


def orderbook_json(book: Book, depth: int = 0) -> dict[str, Any]:
    """Bids only per leg, ascending (best last); NO bids at NO-leg prices. An empty side is `[]`: the SDK's
    OrderbookCountFp requires both keys."""
    sides: dict[str, list[list[str]]] = {}
    yes = book.levels("bid")
    no = [(ONE - price, count) for price, count in book.levels("ask")]
    for key, levels in (("no_dollars", no), ("yes_dollars", yes)):
        if depth:
            levels = levels[:depth]
        sides[key] = [[dollars4(p), fp(c)] for p, c in reversed(levels)]
    return {"orderbook_fp": sides}


def market_json(exchange: KalshiExchange, market: Market) -> dict[str, Any]:
    extras = market.details
    book = exchange.books[market.ticker]
    bid, ask = book.best("bid"), book.best("ask")
    yes_bid, yes_ask = (bid[0] if bid else ZERO), (ask[0] if ask else ONE)
    volume = sum((f.count for f in exchange.fills if f.ticker == market.ticker and f.is_taker), ZERO)
    day_ago = exchange.now() - 86400
    volume_24h = sum(
        (f.count for f in exchange.fills if f.ticker == market.ticker and f.is_taker and f.created_time >= day_ago),
        ZERO,
    )
    open_interest = sum(
        (
            max(a.positions[market.ticker].position, ZERO)
            for a in exchange.accounts.values()
            if market.ticker in a.positions
        ),
        ZERO,
    )
    close = rfc3339(market.close_time, fraction=False)
    return {
        "can_close_early": extras.get("can_close_early", True),
        "close_time": close,
        "created_time": rfc3339(market.created_time),
        "custom_strike": extras.get("custom_strike", {}),
        "early_close_condition": extras.get("early_close_condition", ""),
        "event_ticker": market.event_ticker,
        "exchange_index": EXCHANGE_INDEX,
        "expected_expiration_time": close,
        "expiration_time": close,
        "expiration_value": "",
        "last_price_dollars": dollars4(market.last_price),
        "latest_expiration_time": close,
        "liquidity_dollars": "0.0000",
        "market_type": "binary",
        "no_ask_dollars": dollars4(ONE - yes_bid),
        "no_bid_dollars": dollars4(ONE - yes_ask),
        "no_sub_title": market.no_sub_title,
        "notional_value_dollars": "1.0000",
        "occurrence_datetime": close,
        "open_interest_fp": fp(open_interest),
        "open_time": rfc3339(market.open_time, fraction=False),
        "previous_price_dollars": "0.0000",
        "previous_yes_ask_dollars": "0.0000",
        "previous_yes_bid_dollars": "0.0000",
        "price_level_structure": extras.get("price_level_structure", "linear_cent"),
        "price_ranges": [
            {"end": dollars4(e), "start": dollars4(s), "step": dollars4(st)} for s, e, st in market.price_ranges
        ],
        "result": market.result,
        "rules_primary": market.rules_primary,
        "rules_secondary": market.rules_secondary,
        "settlement_bounds_type": "default",  # no floor: a binary market settles at 0 or 1
        "settlement_timer_seconds": 60,
        "status": market.status,
        "strike_type": extras.get("strike_type", "structured"),
        "ticker": market.ticker,
        "title": market.title,
        "updated_time": rfc3339(market.updated_time or market.created_time),
        "volume_24h_fp": fp(volume_24h),
        "volume_fp": fp(volume),
        "yes_ask_dollars": dollars4(yes_ask),
        "yes_ask_size_fp": fp(ask[1] if ask else ZERO),
        "yes_bid_dollars": dollars4(yes_bid),
        "yes_bid_size_fp": fp(bid[1] if bid else ZERO),
        "yes_sub_title": market.yes_sub_title,
    } | (
        {"settlement_value_dollars": dollars4(market.settlement_value), "settlement_ts": rfc3339(market.settlement_ts)}
        if market.settlement_value is not None and market.settlement_ts is not None
        else {}
    )
