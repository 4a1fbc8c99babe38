"""The spending guard: caps the worst-case loss of orders sent to a live exchange in one session.

Worst-case loss of one order: BUY size x price, SELL size x (1 - price). Kalshi `bid` is a YES buy
and `ask` a YES sell at the YES-leg price; Polymarket size and price come from the signed
makerAmount/takerAmount. A write (anything but GET/HEAD/OPTIONS) is priced, or on the exchange's list
of harmless writes (harmless_writes.py), or refused; an order body is read strictly (strict_json.py).
The guard exists for the case nobody thought of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .flow import Failure, Flow
from .harmless_writes import is_harmless
from .strict_json import Ambiguous, folded
from .strict_json import loads as strict_loads

ONE = Decimal(1)
MICRO = Decimal("0.000001")


class Unreadable(ValueError):
    """An order body the guard cannot price."""


class Unlisted(Unreadable):
    """A write the guard neither prices nor knows to place nothing."""


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # "max_order_usd", "max_session_usd", "unreadable_order", "unlisted_write" or "method_override"
    detail: dict[str, Any]


def _object(value: Any, what: str) -> dict[str, Any]:
    """An order object keyed the way a case-folding server looks keys up (strict_json made them unique)."""
    if not isinstance(value, dict):
        raise Unreadable(f"{what} is not an object")
    return folded(value)


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


def kalshi_v2_order(value: Any) -> Decimal:
    order = _object(value, "order")
    side = order.get("side")
    if side not in ("bid", "ask"):
        raise Unreadable(f"side={side!r} is not bid or ask")
    return worst_case(side == "bid", _decimal(order.get("count"), "count"), _decimal(order.get("price"), "price"))


def kalshi_v1_order(value: Any) -> Decimal:
    """Retired 2025 body (old clients): side yes/no, action buy/sell, cents or dollar prices."""
    order = _object(value, "order")
    side, action = order.get("side"), order.get("action")
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise Unreadable("side/action missing")
    count_fp, count = order.get("count_fp"), order.get("count")
    count = _decimal(count if count_fp is None else count_fp, "count")
    dollars = order.get(f"{side}_price_dollars")
    if dollars is not None:
        price = _decimal(dollars, f"{side}_price_dollars")
    else:
        price = _decimal(order.get(f"{side}_price"), f"{side}_price") / 100
    return worst_case(action == "buy", count, price)


def poly_order(item: Any) -> Decimal:
    order = _object(_object(item, "order item").get("order"), "order")
    maker = _decimal(order.get("makeramount"), "order.makerAmount") * MICRO
    taker = _decimal(order.get("takeramount"), "order.takerAmount") * MICRO
    side = order.get("side")
    if side in ("BUY", 0, "0"):
        return maker  # size (taker) x price (maker / taker)
    if side in ("SELL", 1, "1"):
        if taker > maker:
            raise Unreadable("SELL takerAmount above makerAmount: price over 1")
        return maker - taker  # size (maker) x (1 - taker / maker)
    raise Unreadable(f"order.side={side!r}")


def _items(body: Any, key: str | None) -> list[Any]:
    items = _object(body, "body").get(key) if key else body
    if not isinstance(items, list) or not items:
        raise Unreadable(f"expected a non-empty list of orders{f' under {key!r}' if key else ''}")
    return items


def _each(price: Callable[[Any], Decimal], key: str | None) -> Callable[[Any], list[Decimal]]:
    return lambda body: [price(item) for item in _items(body, key)]


def _one(price: Callable[[Any], Decimal]) -> Callable[[Any], list[Decimal]]:
    return lambda body: [price(body)]


# (exchange, method, path regex) -> amounts of the orders the request would place. Matched case-insensitively
# anywhere in the path: a spelling a lenient server may route to an order endpoint is priced as one.
ORDER_WRITES: list[tuple[str, str, re.Pattern[str], Callable[[Any], list[Decimal]]]] = [
    (exchange, method, re.compile(pattern, re.I), price)
    for exchange, method, pattern, price in [
        ("kalshi", "POST", r"/portfolio/events/orders/batched$", _each(kalshi_v2_order, "orders")),
        ("kalshi", "POST", r"/portfolio/events/orders/[^/]+/amend$", _one(kalshi_v2_order)),
        ("kalshi", "POST", r"/portfolio/events/orders$", _one(kalshi_v2_order)),
        ("kalshi", "POST", r"/portfolio/orders/batched$", _each(kalshi_v1_order, "orders")),
        ("kalshi", "POST", r"/portfolio/orders/[^/]+/amend$", _one(kalshi_v1_order)),
        ("kalshi", "POST", r"/portfolio/orders$", _one(kalshi_v1_order)),
        ("poly", "POST", r"^/order$", _one(poly_order)),
        ("poly", "POST", r"^/orders$", _each(poly_order, None)),
    ]
]
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers some frameworks honour to run a request as another method: a GET that a server reads as a POST.
METHOD_OVERRIDES = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


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
    if method in READS:
        return None
    normal = server_path(path)
    for ex, verb, pattern, price in ORDER_WRITES:
        if ex == exchange and verb == method and pattern.search(normal):
            try:
                parsed = strict_loads(body)
            except Ambiguous as exc:
                raise Unreadable(f"body: {exc}") from None
            return price(parsed)
    if is_harmless(exchange, method, normal):
        return None
    raise Unlisted(f"{method} {path} is neither an order the guard can price nor a write known to place none")


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
        except Unlisted as exc:
            return Refusal("unlisted_write", {"detail": str(exc)})
        except Unreadable as exc:
            return Refusal("unreadable_order", {"detail": f"cannot price {method} {path}: {exc}"})
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


def overridden(headers: Any) -> Refusal | None:
    """A method-override header makes a request's method a matter of which server reads it: refused."""
    for name in METHOD_OVERRIDES:
        if name in headers:
            return Refusal("method_override", {"detail": f"{name}: a server may run this request as another method"})
    return None


class GuardAddon:
    """Refuses, before anything is forwarded, orders over the caps of a live session."""

    def __init__(self, guard: SpendingGuard, counts: Any) -> None:
        self.guard = guard
        self.counts = counts

    async def request(self, flow: Flow) -> None:
        refusal = self.guard.check(flow.exchange, flow.method, flow.path, flow.body) or overridden(flow.headers)
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
