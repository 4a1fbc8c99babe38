"""Exact numbers from callers: every amount the clients sign or send starts here."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def exact_decimal(value: Decimal | str | int, name: str) -> Decimal:
    """A finite Decimal from a Decimal, str or int; floats are refused because they cannot carry exact amounts."""
    if type(value) is Decimal and value.is_finite():  # the common case first: an order's numbers pass here often
        return value
    if isinstance(value, float):
        raise TypeError(f"{name} must be a Decimal or str, not float ({value!r}): floats cannot carry exact amounts")
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise TypeError(f"{name} must be a Decimal or str, not {type(value).__name__}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} must be finite ({value!r} is not a finite number)")
    return result
