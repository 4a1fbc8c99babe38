"""Reading an order body's worst-case loss: BUY size x price, SELL size x (1 - price).

The readers of each exchange's order bodies (kalshi.py, poly.py) are built from these. Anything they cannot
read with certainty raises Unreadable, and the spending guard refuses the request: money fails closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from proxy.exchanges.strict_json import fold, folded

ONE = Decimal(1)
# The one spelling of a number every parser reads alike: ASCII digits, an optional fraction. Exponents, signs,
# spaces, '_' and non-ASCII digits are read by some parsers and not others, or to other values ("1e-2").
PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")

Pricer = Callable[[Any], list[Decimal]]  # a parsed request body -> the worst-case loss of each order it places


class Unreadable(ValueError):
    """An order body the guard cannot price."""


def field(obj: dict[str, Any], name: str) -> Any:
    """obj's member `name` as a case-folding server reads it (Go matches keys case-insensitively, with Unicode
    folding), None when absent. The body was read with strict_json, which refused any two keys one fold apart."""
    if name in obj:
        return obj[name]
    return folded(obj).get(fold(name))


def decimal(value: Any, name: str) -> Decimal:
    """A non-negative JSON integer, or a string of plain decimal digits; Unreadable otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Unreadable(f"{name} is not a decimal string")
    if isinstance(value, int):
        if value < 0:
            raise Unreadable(f"{name}={value!r} is negative")
        return Decimal(value)
    if PLAIN_DECIMAL.fullmatch(value) is None:
        raise Unreadable(f"{name}={value!r} is not written as plain decimal digits (0-9, an optional '.fraction')")
    return Decimal(value)


def worst_case(buy: bool, size: Decimal, price: Decimal) -> Decimal:
    if not ONE >= price >= 0:
        raise Unreadable(f"price {price} outside [0, 1]")
    return size * price if buy else size * (ONE - price)


def _items(body: Any, key: str | None) -> list[Any]:
    if key and not isinstance(body, dict):
        raise Unreadable(f"expected an object with a list of orders under {key!r}")
    items = field(body, key) if key else body
    if not isinstance(items, list) or not items:
        raise Unreadable(f"expected a non-empty list of orders{f' under {key!r}' if key else ''}")
    return items


def each(price: Callable[[Any], Decimal], key: str | None) -> Pricer:
    """A batch: every order of the list (under `key`, or the body itself when None)."""
    return lambda body: [price(item) for item in _items(body, key)]


def one(price: Callable[[Any], Decimal]) -> Pricer:
    """A single order: the body itself."""
    return lambda body: [price(body)]
