"""The spending guard: caps the worst-case loss of orders sent to a live exchange in one session.

Worst-case loss of one order: BUY size x price, SELL size x (1 - price). Kalshi `bid` is a YES buy
and `ask` a YES sell at the YES-leg price; Polymarket size and price come from the signed
makerAmount/takerAmount. Anything on an order endpoint the guard cannot read is refused, never let
through: the guard exists for the case nobody thought of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from proxy.engine.flow import Failure, Flow
from proxy.exchanges.upstream import Upstream

ONE = Decimal(1)
MICRO = Decimal("0.000001")


class Unreadable(ValueError):
    """An order body the guard cannot price."""


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # "max_order_usd", "max_session_usd" or "unreadable_order"
    detail: dict[str, Any]


def _field(obj: dict[str, Any], name: str) -> Any:
    """obj[name] (None when absent); a key that differs only in case is refused, since the
    exchange may read it as `name` (Go's JSON decoder matches keys case-insensitively, last wins)."""
    for key in obj:
        if key != name and key.lower() == name.lower():
            raise Unreadable(f"{key!r} may be read as {name!r}")
    return obj.get(name)


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Unreadable(f"{field} is not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Unreadable(f"{field}={value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise Unreadable(f"{field}={value!r} is not a finite non-negative number")
    return number


def worst_case(buy: bool, size: Decimal, price: Decimal) -> Decimal:
    if not ONE >= price >= 0:
        raise Unreadable(f"price {price} outside [0, 1]")
    return size * price if buy else size * (ONE - price)


def kalshi_v2_order(order: Any) -> Decimal:
    if not isinstance(order, dict):
        raise Unreadable("order is not an object")
    side = _field(order, "side")
    if side not in ("bid", "ask"):
        raise Unreadable(f"side={side!r} is not bid or ask")
    return worst_case(
        side == "bid", _decimal(_field(order, "count"), "count"), _decimal(_field(order, "price"), "price")
    )


def kalshi_v1_order(order: Any) -> Decimal:
    """Retired 2025 body (old clients): side yes/no, action buy/sell, cents or dollar prices."""
    if not isinstance(order, dict):
        raise Unreadable("order is not an object")
    side, action = _field(order, "side"), _field(order, "action")
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise Unreadable("side/action missing")
    count_fp, count = _field(order, "count_fp"), _field(order, "count")
    count = _decimal(count if count_fp is None else count_fp, "count")
    dollars = _field(order, f"{side}_price_dollars")
    if dollars is not None:
        price = _decimal(dollars, f"{side}_price_dollars")
    else:
        price = _decimal(_field(order, f"{side}_price"), f"{side}_price") / 100
    return worst_case(action == "buy", count, price)


def poly_order(item: Any) -> Decimal:
    order = _field(item, "order") if isinstance(item, dict) else None
    if not isinstance(order, dict):
        raise Unreadable("missing order object")
    maker = _decimal(_field(order, "makerAmount"), "order.makerAmount") * MICRO
    taker = _decimal(_field(order, "takerAmount"), "order.takerAmount") * MICRO
    side = _field(order, "side")
    if side in ("BUY", 0, "0"):
        return maker  # size (taker) x price (maker / taker)
    if side in ("SELL", 1, "1"):
        if taker > maker:
            raise Unreadable("SELL takerAmount above makerAmount: price over 1")
        return maker - taker  # size (maker) x (1 - taker / maker)
    raise Unreadable(f"order.side={side!r}")


def _items(body: Any, key: str | None) -> list[Any]:
    items = body.get(key) if key and isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise Unreadable(f"expected a non-empty list of orders{f' under {key!r}' if key else ''}")
    return items


def _each(price: Callable[[Any], Decimal], key: str | None) -> Callable[[Any], list[Decimal]]:
    return lambda body: [price(item) for item in _items(body, key)]


def _one(price: Callable[[Any], Decimal]) -> Callable[[Any], list[Decimal]]:
    return lambda body: [price(body)]


# (exchange, method, path regex) -> amounts of the orders the request would place
ORDER_WRITES: list[tuple[str, str, re.Pattern[str], Callable[[Any], list[Decimal]]]] = [
    ("kalshi", "POST", re.compile(r"/portfolio/events/orders/batched$"), _each(kalshi_v2_order, "orders")),
    ("kalshi", "POST", re.compile(r"/portfolio/events/orders/[^/]+/amend$"), _one(kalshi_v2_order)),
    ("kalshi", "POST", re.compile(r"/portfolio/events/orders$"), _one(kalshi_v2_order)),
    ("kalshi", "POST", re.compile(r"/portfolio/orders/batched$"), _each(kalshi_v1_order, "orders")),
    ("kalshi", "POST", re.compile(r"/portfolio/orders/[^/]+/amend$"), _one(kalshi_v1_order)),
    ("kalshi", "POST", re.compile(r"/portfolio/orders$"), _one(kalshi_v1_order)),
    ("poly", "POST", re.compile(r"^/order$"), _one(poly_order)),
    ("poly", "POST", re.compile(r"^/orders$"), _each(poly_order, None)),
]


# Where orders live: a write there that ORDER_WRITES cannot price is refused, unless it only reduces.
ORDER_AREAS = {
    "kalshi": re.compile(r"/portfolio/(?:events/)?orders(?:/|$)", re.I),
    "poly": re.compile(r"^/orders?(?:/|$)", re.I),
}
REDUCES_ONLY = {"kalshi": re.compile(r"/portfolio/(?:events/)?orders/[^/]+/decrease$")}
PLACES_NOTHING = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})  # reads and cancels


def server_path(path: str) -> str:
    """`path` as a lenient server may read it: slashes merged, dot segments resolved, no trailing slash."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)


def order_amounts(exchange: str, method: str, path: str, body: bytes) -> list[Decimal] | None:
    """Worst-case loss of each order the request places; None when it places none; Unreadable if unsure."""
    if method in PLACES_NOTHING:
        return None
    normal = server_path(path)
    for ex, verb, pattern, price in ORDER_WRITES:
        if ex == exchange and verb == method and pattern.search(normal):
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise Unreadable("body is not JSON") from None
            return price(parsed)
    area, reduces = ORDER_AREAS.get(exchange), REDUCES_ONLY.get(exchange)
    if area and area.search(normal) and not (reduces and reduces.search(normal)):
        raise Unreadable(f"{method} {path} is a write on an order endpoint that the guard does not know")
    return None


class SpendingGuard:
    """Per-order and per-session caps, summed over both exchanges."""

    def __init__(self, max_order_usd: Decimal, max_session_usd: Decimal) -> None:
        self.max_order = max_order_usd
        self.max_session = max_session_usd
        self.spent = Decimal(0)

    def check(self, exchange: str, method: str, path: str, body: bytes) -> Refusal | None:
        """None to let the request through (and count it); a Refusal otherwise."""
        try:
            amounts = order_amounts(exchange, method, path, body)
        except Unreadable as exc:
            return Refusal("unreadable_order", {"detail": f"cannot price the order: {exc}"})
        if amounts is None:
            return None
        for amount in amounts:
            if amount > self.max_order:
                return Refusal("max_order_usd", {"cap": str(self.max_order), "amount": str(amount)})
        total = sum(amounts, Decimal(0))
        if self.spent + total > self.max_session:
            return Refusal(
                "max_session_usd",
                {
                    "cap": str(self.max_session),
                    "amount": str(total),
                    "session_spent": str(self.spent),
                },
            )
        self.spent += total
        return None


def guard_addons(upstreams: dict[str, Upstream], guard: SpendingGuard | None, counts: Any) -> list[Any]:
    """The spending guard applies whenever an upstream is a real exchange."""
    if guard is not None and any(u.live for u in upstreams.values()):
        return [GuardAddon(guard, counts)]
    return []


class GuardAddon:
    """Refuses, before anything is forwarded, orders over the caps of a live session."""

    def __init__(self, guard: SpendingGuard, counts: Any) -> None:
        self.guard = guard
        self.counts = counts

    async def request(self, flow: Flow) -> None:
        refusal = self.guard.check(flow.exchange, flow.method, flow.path, flow.body)
        if refusal is not None:
            self.counts["refused"] += 1
            flow.failure = Failure("spending_guard", 403, {"reason": refusal.reason, **refusal.detail})

    def status(self) -> dict[str, Any]:
        return {
            "guard": {
                "max_order_usd": str(self.guard.max_order),
                "max_session_usd": str(self.guard.max_session),
                "session_spent_usd": str(self.guard.spent),
            }
        }
