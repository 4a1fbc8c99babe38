"""The fields a state file may use, so a misspelled one is an error naming it, not a silent default.

Each object kind lists its known keys; a key maps to the schema of its value (an object, or a list of
such objects) or to None (a scalar, a free map such as `positions`, or a list of pairs). Types are
left to the section parsers: this only answers "is that a field we know?".
"""

from __future__ import annotations

import difflib
from typing import Any

from .state import StateError

Schema = dict[str, Any]  # key -> Schema | None


def scalars(names: str) -> Schema:
    return dict.fromkeys(names.split())


PRICE_RANGE = scalars("start end step")
FEED = None  # the WebSocket feed's object: simulator/feed.py checks its own fields
KALSHI: Schema = {
    "markets": {
        **scalars(
            "ticker event_ticker status title yes_sub_title no_sub_title open_time close_time rules_primary "
            "rules_secondary custom_strike early_close_condition strike_type can_close_early price_level_structure"
        ),
        "price_ranges": PRICE_RANGE,
        "book": scalars("yes_dollars no_dollars"),
    },
    "accounts": scalars("name balance api_keys positions direct_member"),
    "feed": FEED,
}
LEVEL = scalars("price size")
POLY: Schema = {
    "markets": {
        **scalars("condition_id tick_size min_order_size neg_risk domain_version fee_rate accepting_orders closed"),
        "tokens": {**scalars("token_id outcome"), "bids": LEVEL, "asks": LEVEL},
    },
    "accounts": scalars("address signature_type funder balance positions allowance deposit_wallet_required"),
    **scalars("mined_after_s confirmed_after_s page_size"),
    "feed": FEED,
}
SCHEMAS = {"kalshi": KALSHI, "poly": POLY}


def unknown_field(key: str, known: Schema) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field; {hint}(known: {', '.join(sorted(known))})"


def check_keys(value: Any, schema: Schema, where: str) -> None:
    """StateError at the first key of `value` (an object or a list of objects) that `schema` does not know."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_keys(item, schema, f"{where}[{index}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key not in schema:
            raise StateError(f"{where}.{key}", unknown_field(str(key), schema))
        if schema[key] is not None:
            check_keys(item, schema[key], f"{where}.{key}")


def check_sections(sections: dict[str, dict[str, Any] | None], where: str) -> None:
    for name, section in sections.items():
        if section is not None:
            check_keys(section, SCHEMAS[name], f"{where}: {name}")
