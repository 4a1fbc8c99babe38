"""Polymarket fixtures to events, read with the Polymarket client's own parsers; prices of each token.

Orders (`POST /order`, `POST /orders`): side, size and price come from the signed makerAmount/takerAmount
(a BUY pays makerAmount pUSD for takerAmount shares, a SELL the reverse), as the exchange reads them.
Order reads, trades (with their status: MATCHED, then MINED/CONFIRMED, or RETRYING/FAILED) and books.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from clients.errors import ExchangeError, UnexpectedResponse
from clients.polymarket.errors import poly_error
from clients.polymarket.orders import from_units
from clients.polymarket.parse import parse_book, parse_order, parse_page, parse_post_order, parse_trade
from clients.polymarket.types import PolyTrade, SignedOrder
from proxy.report.events import Answer, Book, Events, Fill, Order, OrderState, Side
from proxy.report.rest import Rest, failed_answer

PRICE_STEP = Decimal("0.000001")  # a price derived by division is shown to the amounts' own 6 decimals
SIDES: dict[str, Side] = {"BUY": "buy", "SELL": "sell", "0": "buy", "1": "sell"}


def signed_view(item: Any) -> SignedOrder:
    """The parts of a posted order the parsers read, from the body as recorded (nothing is signed here)."""
    order = item["order"]
    side = "BUY" if SIDES[str(order["side"])] == "buy" else "SELL"
    maker, taker = from_units(order["makerAmount"]), from_units(order["takerAmount"])
    shares, pusd = (taker, maker) if side == "BUY" else (maker, taker)
    return SignedOrder(
        order_id="",
        signature="",
        body=item,
        token_id=str(order["tokenId"]),
        side=side,
        price=(pusd / shares).quantize(PRICE_STEP).normalize() if shares else Decimal(0),
        shares=shares,
        maker_amount=maker,
        taker_amount=taker,
        order_type=item.get("orderType", "GTC"),
        domain_version=0,
        neg_risk=False,
    )


def _error(rest: Rest) -> str:
    exc = poly_error(rest.status, rest.raw, endpoint=rest.endpoint)
    return f"{type(exc).__name__}: {exc}"


def _order(rest: Rest, item: Any, answer: Any) -> tuple[Order, OrderState | None]:
    signed = signed_view(item)
    side = SIDES[signed.side]
    state = None
    if rest.failure is not None or answer is None:
        reply = failed_answer(rest, None if rest.failure else _error(rest))
    else:
        try:
            result = parse_post_order(answer, signed, rest.endpoint)
        except UnexpectedResponse:
            raise
        except ExchangeError as exc:  # success:false or errorMsg: the order was refused
            reply = failed_answer(rest, f"{type(exc).__name__}: {exc}")
        else:
            reply = Answer(rest.answered, result.status, result.order_id, result.filled, result.avg_price)
            state = OrderState(
                rest.answered,
                rest.item,
                "poly",
                signed.token_id,
                result.order_id,
                side,
                result.filled,
                result.avg_price,
            )
    order = Order(
        rest.sent, rest.item, "poly", signed.token_id, side, signed.price, signed.shares, signed.order_type, reply
    )
    return order, state


def post_order(rest: Rest) -> Events:
    if not isinstance(rest.body, dict):
        return Events()
    order, state = _order(rest, rest.body, rest.answer if rest.ok else None)
    return Events(orders=[order], states=[state] if state else [])


def post_orders(rest: Rest) -> Events:
    items = rest.body if isinstance(rest.body, list) else []
    answers = rest.answer if rest.ok and isinstance(rest.answer, list) else None
    events = Events()
    for i, item in enumerate(items):
        order, state = _order(rest, item, answers[i] if answers is not None and i < len(answers) else None)
        events.orders.append(order)
        events.states += [state] if state else []
    return events


def _state(body: Any, rest: Rest) -> OrderState:
    result = parse_order(body, rest.endpoint)
    side = SIDES[str(body.get("side", "")).upper()]
    return OrderState(
        rest.answered, rest.item, "poly", str(body["asset_id"]), result.order_id, side, result.filled, result.avg_price
    )


def order_read(rest: Rest) -> Events:
    return Events(states=[_state(rest.answer, rest)])


def order_list(rest: Rest) -> Events:
    data = rest.answer if isinstance(rest.answer, list) else parse_page(rest.answer, rest.endpoint)[0]
    return Events(states=[_state(o, rest) for o in data])


def trade_status(status: str) -> str:
    """MATCHED, MINED, CONFIRMED, RETRYING, FAILED: the OpenAPI's TRADE_STATUS_ spelling is accepted too."""
    return status.upper().removeprefix("TRADE_STATUS_")


def _ours(trade: PolyTrade, address: str) -> list[tuple[str, Side, Decimal, Decimal]]:
    """(order id, side, size, price) of this account's part of a trade: the taking order, or its maker orders."""
    if trade.trader_side != "MAKER":
        return [(trade.taker_order_id, SIDES[trade.side.upper()], trade.size, trade.price)]
    makers = trade.raw.get("maker_orders") or []
    return [
        (m["order_id"], SIDES[str(m["side"]).upper()], Decimal(m["matched_amount"]), Decimal(m["price"]))
        for m in makers
        if isinstance(m, dict) and str(m.get("maker_address", "")).lower() == address
    ]


def trades(rest: Rest) -> Events:
    data = rest.answer if isinstance(rest.answer, list) else parse_page(rest.answer, rest.endpoint)[0]
    address = rest.headers.get("poly_address", "").lower()
    events = Events()
    for raw in data:
        trade = parse_trade(raw, rest.endpoint)
        for order_id, side, size, price in _ours(trade, address):
            events.fills.append(
                Fill(
                    rest.answered,
                    rest.item,
                    "poly",
                    trade.asset_id,
                    order_id,
                    trade.id,
                    side,
                    size,
                    price,
                    trade_status(trade.status),
                )
            )
    return events


def book(rest: Rest) -> Events:
    parsed = parse_book(rest.answer, rest.endpoint)
    bids = tuple((level.price, level.size) for level in parsed.bids)
    asks = tuple((level.price, level.size) for level in parsed.asks)
    return Events(books=[Book(rest.answered, rest.item, "poly", parsed.asset_id, bids, asks)])


def reader(rest: Rest) -> Callable[[Rest], Events] | None:
    """The reader of this request, or None when it draws nothing (reads only count when answered 2xx)."""
    if rest.method == "POST":
        return {"/order": post_order, "/orders": post_orders}.get(rest.path)
    if rest.method != "GET" or not rest.ok or rest.answer is None:
        return None
    if rest.path.startswith("/data/order/"):
        return order_read
    return {"/data/orders": order_list, "/data/trades": trades, "/book": book}.get(rest.path)
