"""Kalshi response bodies → typed results (docs/wire/kalshi.md §3–6).

Parsers prefer the current fixed-point strings (`*_fp` counts, `*_dollars` money) and fall back to
the pre-2026 integer fields (counts, cents) so old recordings still parse. A body without the
documented shape raises UnexpectedResponse naming the endpoint and field, never KeyError.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from clients.errors import ExchangeError, UnexpectedResponse
from clients.kalshi.errors import item_error
from clients.kalshi.orders import outcome_price
from clients.kalshi.types import (
    CancelResult,
    CreateAck,
    KalshiFill,
    KalshiMarket,
    KalshiPosition,
    Orderbook,
    OrderUpdate,
    PriceLevel,
    PriceRange,
)
from clients.types import OrderResult

T = TypeVar("T")
ZERO = Decimal(0)
CENT = Decimal("0.01")


def unexpected(where: str, problem: str, body: Any) -> UnexpectedResponse:
    return UnexpectedResponse(f"{where}: {problem}", exchange="kalshi", body=body)


def obj(body: Any, where: str, key: str | None = None) -> dict[str, Any]:
    """`body` (or `body[key]`) as a JSON object."""
    value = body.get(key) if key is not None and isinstance(body, dict) else body
    if not isinstance(value, dict):
        name = f"field {key!r}" if key else "body"
        raise unexpected(where, f"{name} is not a JSON object", body)
    return value


def items(body: Any, where: str, key: str) -> list[Any]:
    """`body[key]` as a list; a missing or null list is empty (Kalshi omits empty sides)."""
    value = obj(body, where).get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise unexpected(where, f"field {key!r} is not a list", body)
    return value


def optional_text(o: dict[str, Any], name: str, *fallbacks: str) -> str | None:
    """A string field (first present of name and fallbacks), or None."""
    for key in (name, *fallbacks):
        value = o.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def text(o: dict[str, Any], where: str, name: str, *fallbacks: str) -> str:
    """A string field that must be there (first present of name and fallbacks)."""
    value = optional_text(o, name, *fallbacks)
    if value is None:
        raise unexpected(where, f"field {name!r} missing or not a string", o)
    return value


def number(value: Any, where: str, name: str, body: Any) -> Decimal:
    """A Decimal from a fixed-point string, or from a JSON number via its text (never via float math)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise unexpected(where, f"field {name!r} is not a number: {value!r}", body)
    try:
        result = Decimal(value if isinstance(value, (str, int)) else str(value))
    except InvalidOperation:
        raise unexpected(where, f"field {name!r} is not a decimal: {value!r}", body) from None
    if not result.is_finite():
        raise unexpected(where, f"field {name!r} is not finite: {value!r}", body)
    return result


def _pick(o: dict[str, Any], names: tuple[str | None, ...]) -> str | None:
    """The first of `names` holding a string, else the first holding anything: strings are preferred."""
    present = [n for n in names if n is not None and o.get(n) is not None]
    return next((n for n in present if isinstance(o[n], str)), present[0] if present else None)


def optional_count(o: dict[str, Any], where: str, name: str, legacy: str | None = None) -> Decimal | None:
    """A contract count: the fixed-point string `name` (or `legacy`), else the pre-2026 integer; None if absent."""
    key = _pick(o, (name, legacy))
    return number(o[key], where, key, o) if key is not None else None


def count(o: dict[str, Any], where: str, name: str, legacy: str | None = None) -> Decimal:
    """A contract count that must be there."""
    value = optional_count(o, where, name, legacy)
    if value is None:
        raise unexpected(where, f"field {name!r} missing", o)
    return value


def optional_dollars(o: dict[str, Any], where: str, name: str, cents: str | None = None) -> Decimal | None:
    """Money in dollars: the string `name`, else the pre-2026 integer-cent field `cents`; None if absent."""
    if o.get(name) is not None:
        return number(o[name], where, name, o)
    if cents is not None and o.get(cents) is not None:
        return number(o[cents], where, cents, o) * CENT
    return None


def dollars(o: dict[str, Any], where: str, name: str, cents: str | None = None) -> Decimal:
    """Money in dollars that must be there."""
    value = optional_dollars(o, where, name, cents)
    if value is None:
        raise unexpected(where, f"field {name!r} missing", o)
    return value


def cursor(body: Any, where: str) -> str | None:
    """The next page's cursor; "", null and a missing cursor all mean the last page."""
    value = obj(body, where).get("cursor")
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise unexpected(where, f"field 'cursor' is not a string: {value!r}", body)
    return value


# --- orders -------------------------------------------------------------------------------------


def parse_ack(body: Any, where: str) -> CreateAck:
    """A V2 create / batch item / amend acknowledgement (counts without `_fp`, YES-leg averages)."""
    o = obj(body, where)
    return CreateAck(
        order_id=text(o, where, "order_id"),
        client_order_id=optional_text(o, "client_order_id"),
        fill_count=optional_count(o, where, "fill_count"),
        remaining_count=optional_count(o, where, "remaining_count"),
        average_fill_price=optional_dollars(o, where, "average_fill_price"),
        average_fee_paid=optional_dollars(o, where, "average_fee_paid"),
        raw=body,
    )


def create_status(filled: Decimal, remaining: Decimal, requested: Decimal) -> str:
    """The status a create answer implies (it carries none): docs/wire/kalshi.md §4.1."""
    if remaining > 0:
        return "resting"
    return "executed" if filled >= requested else "canceled"


def order_result_from_ack(
    ack: CreateAck, *, requested: Decimal, outcome: str, where: str, limit_price: Decimal | None = None
) -> OrderResult:
    """The OrderResult of a create answer for `requested` contracts of `outcome` at `limit_price` (the answer
    carries no price: the caller knows what it sent).

    avg_price is of the outcome (NO: 1 − the YES-leg average_fill_price); average_fee_paid is per
    contract (OpenAPI: "volume-weighted average fee paid per contract"), so fees = filled × it.
    """
    filled = ack.fill_count if ack.fill_count is not None else _missing(where, "fill_count", ack.raw)
    remaining = ack.remaining_count if ack.remaining_count is not None else _missing(where, "remaining_count", ack.raw)
    avg = None
    if filled > 0:
        if ack.average_fill_price is None:
            raise unexpected(where, "field 'average_fill_price' missing although contracts filled", ack.raw)
        avg = outcome_price(outcome, ack.average_fill_price)
    if filled == 0:
        fees: Decimal | None = ZERO
    else:
        fees = filled * ack.average_fee_paid if ack.average_fee_paid is not None else None
    return OrderResult(
        exchange="kalshi",
        order_id=ack.order_id,
        client_order_id=ack.client_order_id,
        status=create_status(filled, remaining, requested),
        filled=filled,
        remaining=remaining,
        avg_price=avg,
        cost=filled * avg if avg is not None else ZERO,
        fees=fees,
        limit_price=limit_price,
        raw=ack.raw,
    )


def _missing(where: str, name: str, body: Any) -> Decimal:
    raise unexpected(where, f"field {name!r} missing", body)


def order_result_from_order(order: Any, where: str = "order object") -> OrderResult:
    """The OrderResult of a GET order object (current or pre-2026 fields).

    Fill costs are dollars paid for the order's outcome side, so avg_price = cost / filled, and the limit is
    that side's price too (see order_limit).
    """
    o = obj(order, where)
    filled = count(o, where, "fill_count_fp", "fill_count")
    costs = [optional_dollars(o, where, f"{who}_fill_cost_dollars", f"{who}_fill_cost") for who in ("taker", "maker")]
    fees = [optional_dollars(o, where, f"{who}_fees_dollars", f"{who}_fees") for who in ("taker", "maker")]
    cost = sum((c for c in costs if c is not None), ZERO)
    if filled > 0 and all(c is None for c in costs):
        raise unexpected(where, "fields 'taker_fill_cost_dollars'/'maker_fill_cost_dollars' missing although filled", o)
    return OrderResult(
        exchange="kalshi",
        order_id=text(o, where, "order_id"),
        client_order_id=optional_text(o, "client_order_id"),
        status=text(o, where, "status"),
        filled=filled,
        remaining=optional_count(o, where, "remaining_count_fp", "remaining_count"),
        avg_price=cost / filled if filled > 0 else None,
        cost=cost,
        fees=None if all(f is None for f in fees) else sum((f for f in fees if f is not None), ZERO),
        limit_price=order_limit(o, where),
        raw=order,
    )


BOOK_SIDE_OUTCOME = {"bid": "yes", "ask": "no"}  # a bid buys YES, an ask buys NO (docs/wire/kalshi.md §5)


def order_limit(o: dict[str, Any], where: str) -> Decimal | None:
    """The limit price of the outcome the order buys: `yes_price_dollars` (YES leg) turned to `outcome_side`
    (old objects: `side`, cents `yes_price`). V2 has no sell: an ask placed to sell YES reads as buying NO."""
    yes_price = optional_dollars(o, where, "yes_price_dollars", "yes_price")
    outcome = o.get("outcome_side") or o.get("side") or BOOK_SIDE_OUTCOME.get(o.get("book_side", ""))
    if yes_price is None or outcome not in ("yes", "no"):
        return None
    return outcome_price(outcome, yes_price)


def parse_order(body: Any, where: str) -> OrderResult:
    """`{"order": Order}` (GET order; the retired v1 create and decrease answers share it)."""
    return order_result_from_order(obj(body, where, "order"), where)


def parse_orders(body: Any, where: str) -> list[OrderResult]:
    return [order_result_from_order(o, f"{where} orders[{i}]") for i, o in enumerate(items(body, where, "orders"))]


def _batch(body: Any, where: str, parse_item: Callable[[Any, str], T]) -> list[T | ExchangeError]:
    """Each batch item parsed, or its own `error` mapped into the taxonomy."""
    results: list[T | ExchangeError] = []
    for i, item in enumerate(items(body, where, "orders")):
        item_where = f"{where} orders[{i}]"
        o = obj(item, item_where)
        results.append(item_error(o["error"], endpoint=item_where) if o.get("error") else parse_item(o, item_where))
    return results


def parse_batch_create(body: Any, where: str) -> list[CreateAck | ExchangeError]:
    return _batch(body, where, parse_ack)


def parse_cancel(body: Any, where: str) -> CancelResult:
    """A V2 cancel answer, or a retired v1 `{order, reduced_by_fp}` one from an old recording."""
    o = obj(body, where)
    ids = obj(o, where, "order") if "order" in o else o
    return CancelResult(
        order_id=text(ids, where, "order_id"),
        client_order_id=optional_text(ids, "client_order_id"),
        reduced_by=count(o, where, "reduced_by", "reduced_by_fp"),
        raw=body,
    )


def parse_batch_cancel(body: Any, where: str) -> list[CancelResult | ExchangeError]:
    return _batch(body, where, parse_cancel)


def parse_update(body: Any, where: str, outcome: str | None = None) -> OrderUpdate:
    """An amend or decrease answer; averages converted to `outcome` when it is known."""
    ack = parse_ack(body, where)
    filled = ack.fill_count
    avg = None
    if ack.average_fill_price is not None and outcome is not None:
        avg = outcome_price(outcome, ack.average_fill_price)
    fees = filled * ack.average_fee_paid if filled is not None and ack.average_fee_paid is not None else None
    return OrderUpdate(ack.order_id, ack.client_order_id, filled, ack.remaining_count, avg, fees, raw=body)


# --- portfolio ----------------------------------------------------------------------------------


def parse_fill(fill: Any, where: str) -> KalshiFill:
    """One fill. Current fills say `outcome_side` (what was bought); old ones `side` and `action`."""
    o = obj(fill, where)
    outcome = optional_text(o, "outcome_side")
    action = "buy"
    if outcome is None:  # pre-2026: v1 side/action
        outcome = text(o, where, "side")
        action = text(o, where, "action")
    if outcome not in ("yes", "no"):
        raise unexpected(where, f"field 'outcome_side' is {outcome!r}, not yes/no", o)
    yes_price = optional_dollars(o, where, "yes_price_dollars", "yes_price")
    no_price = optional_dollars(o, where, "no_price_dollars", "no_price")
    if yes_price is None:
        yes_price = outcome_price("no", no_price) if no_price is not None else _missing(where, "yes_price_dollars", o)
    price = no_price if outcome == "no" and no_price is not None else outcome_price(outcome, yes_price)
    is_taker = o.get("is_taker")
    return KalshiFill(
        fill_id=text(o, where, "fill_id", "trade_id"),
        order_id=text(o, where, "order_id"),
        ticker=text(o, where, "ticker", "market_ticker"),
        outcome=outcome,
        action=action,
        count=count(o, where, "count_fp", "count"),
        yes_price=yes_price,
        price=price,
        fee=optional_dollars(o, where, "fee_cost"),
        is_taker=is_taker if isinstance(is_taker, bool) else None,
        ts=_fill_ts(o, where),
        raw=fill,
    )


def _fill_ts(o: dict[str, Any], where: str) -> int | None:
    ts = o.get("ts")
    if isinstance(ts, int) and not isinstance(ts, bool):
        return ts
    created = o.get("created_time")
    if isinstance(created, str):
        try:
            return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
        except ValueError:
            raise unexpected(where, f"field 'created_time' is not a timestamp: {created!r}", o) from None
    return None


def parse_fills(body: Any, where: str) -> list[KalshiFill]:
    return [parse_fill(f, f"{where} fills[{i}]") for i, f in enumerate(items(body, where, "fills"))]


def parse_position(position: Any, where: str) -> KalshiPosition:
    o = obj(position, where)
    return KalshiPosition(
        ticker=text(o, where, "ticker", "market_ticker"),
        position=count(o, where, "position_fp", "position"),
        exposure=optional_dollars(o, where, "market_exposure_dollars", "market_exposure"),
        realized_pnl=optional_dollars(o, where, "realized_pnl_dollars", "realized_pnl"),
        fees_paid=optional_dollars(o, where, "fees_paid_dollars", "fees_paid"),
        raw=position,
    )


def parse_positions(body: Any, where: str) -> list[KalshiPosition]:
    return [
        parse_position(p, f"{where} market_positions[{i}]")
        for i, p in enumerate(items(body, where, "market_positions"))
    ]


def parse_balance(body: Any, where: str) -> Decimal:
    """Dollars: `balance_dollars`, else the integer-cent `balance` (truncated cents)."""
    return dollars(obj(body, where), where, "balance_dollars", "balance")


# --- markets ------------------------------------------------------------------------------------


def parse_market(body: Any, where: str) -> KalshiMarket:
    o = obj(body, where, "market")
    prices = {
        name: optional_dollars(o, where, f"{name}_dollars", name)
        for name in ("yes_bid", "yes_ask", "no_bid", "no_ask", "last_price")
    }
    return KalshiMarket(
        ticker=text(o, where, "ticker"),
        event_ticker=optional_text(o, "event_ticker"),
        status=text(o, where, "status"),
        price_ranges=_price_ranges(o, where),
        raw=body,
        **prices,
    )


def _price_ranges(o: dict[str, Any], where: str) -> tuple[PriceRange, ...]:
    """The tick grid; old markets without `price_ranges` carry a `tick_size` in cents (a JSON number)."""
    if o.get("price_ranges") is None and o.get("tick_size") is not None:
        step = number(o["tick_size"], where, "tick_size", o) * CENT
        return (PriceRange(Decimal("0.0000"), Decimal("1.0000"), step),)
    ranges = []
    for i, r in enumerate(items(o, where, "price_ranges")):
        r_where = f"{where} price_ranges[{i}]"
        r = obj(r, r_where)
        ranges.append(PriceRange(*(dollars(r, r_where, name) for name in ("start", "end", "step"))))
    return tuple(ranges)


def parse_orderbook(body: Any, where: str, ticker: str) -> Orderbook:
    """`orderbook_fp` (dollar strings), else the pre-2026 `orderbook` (cents); bids sorted best first."""
    o = obj(body, where)
    if o.get("orderbook_fp") is not None:
        book, yes_key, no_key, scale = obj(o, where, "orderbook_fp"), "yes_dollars", "no_dollars", Decimal(1)
    else:
        book, yes_key, no_key, scale = obj(o, where, "orderbook"), "yes", "no", CENT
    return Orderbook(
        ticker=ticker,
        yes_bids=_levels(book, f"{where} {yes_key}", yes_key, scale),
        no_bids=_levels(book, f"{where} {no_key}", no_key, scale),
        raw=body,
    )


def _levels(book: dict[str, Any], where: str, key: str, scale: Decimal) -> tuple[PriceLevel, ...]:
    levels = []
    for level in items(book, where, key):
        if not isinstance(level, list) or len(level) != 2:
            raise unexpected(where, f"level {level!r} is not [price, count]", book)
        levels.append((number(level[0], where, "price", book) * scale, number(level[1], where, "count", book)))
    return tuple(sorted(levels, key=lambda lv: lv[0], reverse=True))
