"""Kalshi fixtures to events, read with the Kalshi client's own parsers; prices on the YES leg.

Creates (V2 single and batched, the retired v1 create), order reads, fills, positions and order books.
Anything else is listed but draws nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from clients.kalshi.errors import kalshi_error
from clients.kalshi.orders import ONE, outcome_price, yes_leg
from clients.kalshi.parse import (
    BOOK_SIDE_OUTCOME,
    create_status,
    order_result_from_order,
    parse_ack,
    parse_fills,
    parse_orderbook,
    parse_positions,
)
from proxy.report.events import Answer, Book, Events, Fill, Order, OrderState, Reported, Side
from proxy.report.rest import Rest, failed_answer

V2_SIDE: dict[str, Side] = {"bid": "buy", "ask": "sell"}  # on the YES leg
_ORDERBOOK = re.compile(r"^/markets/([^/]+)/orderbook$")
_ORDER_READ = re.compile(r"^/portfolio/(?:events/)?orders(?:/[^/]+)?$")


def _side(outcome: str, action: str) -> Side:
    return V2_SIDE[yes_leg(outcome, action, ONE)[0]]


def _error(rest: Rest) -> str:
    exc = kalshi_error(rest.status, rest.raw, endpoint=rest.endpoint)
    return f"{type(exc).__name__}: {exc}"


def _v2_order(rest: Rest, body: Any, answer: Any) -> tuple[Order, OrderState | None]:
    """One V2 create body and its answer (an ack, an error object of a batch item, or None)."""
    count, price = Decimal(body["count"]), Decimal(body["price"])
    side = V2_SIDE[body["side"]]
    state = None
    if rest.failure is not None or not isinstance(answer, dict):
        reply = failed_answer(rest, None if rest.failure else _error(rest))
    elif answer.get("error"):
        reply = failed_answer(rest, f"{answer['error'].get('code')}: {answer['error'].get('message')}")
    else:
        ack = parse_ack(answer, rest.endpoint)
        filled = ack.fill_count or Decimal(0)
        status = create_status(filled, ack.remaining_count or Decimal(0), count)
        reply = Answer(rest.answered, status, ack.order_id, filled, ack.average_fill_price)
        state = OrderState(
            rest.answered, rest.item, "kalshi", body["ticker"], ack.order_id, side, filled, ack.average_fill_price
        )
    order = Order(
        rest.sent,
        rest.item,
        "kalshi",
        body["ticker"],
        side,
        price,
        count,
        body.get("time_in_force", "good_till_canceled"),
        reply,
        body.get("client_order_id"),
    )
    return order, state


def create(rest: Rest) -> Events:
    if not isinstance(rest.body, dict):
        return Events()
    answer = rest.answer if rest.ok else None
    order, state = _v2_order(rest, rest.body, answer)
    return Events(orders=[order], states=[state] if state else [])


def batch_create(rest: Rest) -> Events:
    bodies = rest.body.get("orders") if isinstance(rest.body, dict) else None
    answers = rest.answer.get("orders") if rest.ok and isinstance(rest.answer, dict) else None
    events = Events()
    for i, body in enumerate(bodies or []):
        answer = answers[i] if isinstance(answers, list) and i < len(answers) else None
        order, state = _v2_order(rest, body, answer)
        events.orders.append(order)
        events.states += [state] if state else []
    return events


def order_state(o: dict[str, Any], rest: Rest, where: str) -> OrderState:
    """An order object (GET orders, the retired v1 create answer) as a cumulative fill on the YES leg."""
    result = order_result_from_order(o, where)
    outcome = o.get("outcome_side") or o.get("side") or BOOK_SIDE_OUTCOME.get(o.get("book_side", ""), "yes")
    side = V2_SIDE[o["book_side"]] if o.get("book_side") in V2_SIDE else _side(outcome, o.get("action", "buy"))
    avg = outcome_price(outcome, result.avg_price) if result.avg_price is not None else None
    return OrderState(rest.answered, rest.item, "kalshi", o["ticker"], result.order_id, side, result.filled, avg)


def v1_create(rest: Rest) -> Events:
    """The retired 2025 create: side yes/no and action buy/sell, cents or dollar prices; answers an order object."""
    body = rest.body
    if not isinstance(body, dict):
        return Events()
    outcome, action = body["side"], body["action"]
    dollars = body.get(f"{outcome}_price_dollars")
    price = Decimal(dollars) if dollars is not None else Decimal(body[f"{outcome}_price"]) / 100
    count = Decimal(body.get("count_fp") or body["count"])
    state = None
    if rest.ok and isinstance(rest.answer, dict) and isinstance(rest.answer.get("order"), dict):
        state = order_state(rest.answer["order"], rest, rest.endpoint)
        reply = Answer(rest.answered, rest.answer["order"].get("status", "?"), state.order_id, state.filled)
    else:
        reply = failed_answer(rest, None if rest.failure else _error(rest))
    side = _side(outcome, action)
    yes_price = outcome_price(outcome, price)
    order = Order(
        rest.sent, rest.item, "kalshi", body["ticker"], side, yes_price, count, body.get("type", "limit"), reply
    )
    return Events(orders=[order], states=[state] if state else [])


def order_reads(rest: Rest) -> Events:
    answer = rest.answer
    objects = answer.get("orders") if "orders" in answer else [answer.get("order")]
    where = rest.endpoint
    return Events(states=[order_state(o, rest, f"{where} orders[{i}]") for i, o in enumerate(objects or [])])


def fills(rest: Rest) -> Events:
    return Events(
        fills=[
            Fill(
                rest.answered,
                rest.item,
                "kalshi",
                f.ticker,
                f.order_id,
                f.fill_id,
                _side(f.outcome, f.action),
                f.count,
                f.yes_price,
            )
            for f in parse_fills(rest.answer, rest.endpoint)
        ]
    )


def positions(rest: Rest) -> Events:
    return Events(
        reported=[
            Reported(rest.answered, rest.item, "kalshi", p.ticker, p.position, p.exposure)
            for p in parse_positions(rest.answer, rest.endpoint)
        ]
    )


def orderbook(rest: Rest) -> Events:
    match = _ORDERBOOK.match(rest.path)
    ticker = match.group(1) if match else "?"
    book = parse_orderbook(rest.answer, rest.endpoint, ticker)
    asks = tuple((ONE - price, size) for price, size in book.no_bids)  # a NO bid at p is a YES ask at 1 - p
    return Events(books=[Book(rest.answered, rest.item, "kalshi", ticker, book.yes_bids, asks)])


def reader(rest: Rest) -> Callable[[Rest], Events] | None:
    """The reader of this request, or None when it draws nothing (reads only count when answered 2xx)."""
    if rest.method == "POST":
        return {
            "/portfolio/events/orders": create,
            "/portfolio/events/orders/batched": batch_create,
            "/portfolio/orders": v1_create,
        }.get(rest.path)
    if rest.method != "GET" or not rest.ok or not isinstance(rest.answer, dict):
        return None
    if rest.path == "/portfolio/fills":
        return fills
    if rest.path == "/portfolio/positions":
        return positions
    if _ORDERBOOK.match(rest.path):
        return orderbook
    return order_reads if _ORDER_READ.match(rest.path) else None
