"""The pairs file: which Kalshi market is the same question as which Polymarket market, and how to trade it.

A TOML file (read with `tomllib`, numbers as exact Decimals) with an optional `[defaults]` table, one `[[pairs]]`
table per pair and an optional `[risk]` table (`trader.risk.Limits`). Every field is checked when the file is read;
a bad one is refused with the file and the field named (`pairs.toml: pairs[1].poly_tick_size: must be one of ...`),
never discovered as an exchange rejection after one leg has filled. Unknown keys are refused too: a misspelt limit
must not silently fall back to its default.

```toml
[defaults]
min_edge = "0.01"        # dollars per contract, net of both taker fees
max_size = 50            # contracts per arb
max_position = 200       # contracts held per pair

[[pairs]]
name = "ali"
kalshi_ticker = "KXDEMOMATCH-26DEC31ALIBOB-ALI"
poly_condition_id = "0x6917..."
poly_yes_token = "7972..."
poly_no_token = "5128..."
outcomes = "same"        # Kalshi YES pays when the Polymarket YES token pays ("inverted": when NO pays)
poly_tick_size = "0.01"
poly_neg_risk = false
poly_fee_rate = "0.04"   # the most the market charges takers (GET /clob-markets/{condition_id} -> fd.r)
```

`poly_fee_rate` prices every box. The engine checks it against the exchange before trading the pair
(`trader.market_check`): an exchange rate above it keeps the pair untraded; one at or below it leaves it in use.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from ctf_order import decimal_digits
from trader.risk import Limits

POLY_TICK_SIZES = tuple(Decimal(t) for t in ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"))
KALSHI_TICK_SIZES = (Decimal("0.01"), Decimal("0.001"))
CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}")
Outcomes = Literal["same", "inverted"]

# Fields a pair may take from [defaults]; the identity fields (name, market ids, outcomes) are always its own.
TUNABLE = {
    "kalshi_tick_size": Decimal("0.01"),
    "poly_tick_size": None,
    "poly_neg_risk": None,
    "poly_fee_rate": None,
    "poly_min_order_size": Decimal("5"),
    "min_edge": None,
    "max_size": None,
    "max_position": None,
}
IDENTITY = ("name", "kalshi_ticker", "poly_condition_id", "poly_yes_token", "poly_no_token", "outcomes")


class PairsError(ValueError):
    """A pairs file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One Kalshi market and the Polymarket market asking the same question, with its trading limits."""

    name: str
    kalshi_ticker: str
    poly_condition_id: str
    poly_yes_token: str
    poly_no_token: str
    outcomes: Outcomes
    kalshi_tick_size: Decimal
    poly_tick_size: Decimal
    poly_neg_risk: bool
    poly_fee_rate: Decimal
    poly_min_order_size: Decimal
    min_edge: Decimal
    max_size: Decimal
    max_position: Decimal

    def poly_token_against(self, kalshi_outcome: str) -> str:
        """The Polymarket token that pays exactly when `kalshi_outcome` (yes/no) on Kalshi does not."""
        pays_with_kalshi_yes = self.poly_yes_token if self.outcomes == "same" else self.poly_no_token
        pays_with_kalshi_no = self.poly_no_token if self.outcomes == "same" else self.poly_yes_token
        return pays_with_kalshi_no if kalshi_outcome == "yes" else pays_with_kalshi_yes

    @property
    def poly_tokens(self) -> tuple[str, str]:
        return (self.poly_yes_token, self.poly_no_token)


@dataclass(frozen=True, slots=True)
class PairsFile:
    pairs: tuple[Pair, ...]
    limits: Limits

    def by_kalshi(self, ticker: str) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if p.kalshi_ticker == ticker)

    def by_poly(self, token: str) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if token in p.poly_tokens)


def load_pairs(path: str | Path) -> PairsFile:
    """Read and check a pairs file; PairsError names the file and the field of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PairsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return parse_pairs(text)
    except PairsError as exc:
        raise PairsError(f"{path}: {exc}") from None


def parse_pairs(text: str) -> PairsFile:
    """The pairs of a TOML document (see the module doc)."""
    try:
        doc = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PairsError(f"not valid TOML: {exc}") from None
    _no_unknown(doc, ("defaults", "pairs", "risk"), "")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise PairsError("defaults: must be a table")
    _no_unknown(defaults, tuple(TUNABLE), "defaults.")
    tables = doc.get("pairs")
    if not isinstance(tables, list) or not tables:
        raise PairsError("pairs: at least one [[pairs]] table is needed")
    pairs = tuple(_pair(table, defaults, f"pairs[{i}]") for i, table in enumerate(tables))
    _unique(pairs)
    risk = doc.get("risk", {})
    if not isinstance(risk, dict):
        raise PairsError("risk: must be a table")
    return PairsFile(pairs, _limits(risk))


def _pair(table: Any, defaults: Mapping[str, Any], where: str) -> Pair:
    if not isinstance(table, dict):
        raise PairsError(f"{where}: must be a table")
    _no_unknown(table, (*IDENTITY, *TUNABLE), f"{where}.")
    merged = {name: table.get(name, defaults.get(name, default)) for name, default in TUNABLE.items()}

    def field(name: str, check: Callable[[Any, str], Any]) -> Any:
        value = table.get(name) if name in IDENTITY else merged[name]
        if value is None:
            raise PairsError(f"{where}.{name}: missing")
        return check(value, f"{where}.{name}")

    outcomes = field("outcomes", _one_of("same", "inverted"))
    pair = Pair(
        name=field("name", _text),
        kalshi_ticker=field("kalshi_ticker", _text),
        poly_condition_id=field("poly_condition_id", _condition_id),
        poly_yes_token=field("poly_yes_token", _token),
        poly_no_token=field("poly_no_token", _token),
        outcomes=outcomes,
        kalshi_tick_size=field("kalshi_tick_size", _choice(KALSHI_TICK_SIZES)),
        poly_tick_size=field("poly_tick_size", _choice(POLY_TICK_SIZES)),
        poly_neg_risk=field("poly_neg_risk", _bool),
        poly_fee_rate=field("poly_fee_rate", _decimal_in(Decimal(0), Decimal(1))),
        poly_min_order_size=field("poly_min_order_size", _decimal_in(Decimal(0), None)),
        min_edge=field("min_edge", _decimal_in(Decimal(0), Decimal(1))),
        max_size=field("max_size", _positive_whole),
        max_position=field("max_position", _positive_whole),
    )
    if pair.poly_yes_token == pair.poly_no_token:
        raise PairsError(f"{where}.poly_no_token: the same token as poly_yes_token")
    if pair.max_size > pair.max_position:
        raise PairsError(f"{where}.max_size: {pair.max_size} is above max_position {pair.max_position}")
    return pair


def _limits(table: Mapping[str, Any]) -> Limits:
    """The `[risk]` table: decimals for dollars and slippage, floats for seconds, an int for max_failures."""
    known = tuple(Limits.__dataclass_fields__)
    _no_unknown(table, known, "risk.")
    values: dict[str, Any] = {}
    for name, value in table.items():
        where = f"risk.{name}"
        if name == "on_exposure":
            values[name] = _one_of("unwind", "hold")(value, where)
        elif name == "max_failures":
            values[name] = int(_positive_whole(value, where))
        elif name.endswith("_s"):
            values[name] = float(to_decimal(value, where))
        else:
            values[name] = to_decimal(value, where)
    try:
        return Limits(**values)
    except ValueError as exc:
        raise PairsError(f"risk.{exc}") from None


def _unique(pairs: tuple[Pair, ...]) -> None:
    for name in ("name", "kalshi_ticker", "poly_condition_id"):
        seen: dict[str, int] = {}
        for i, pair in enumerate(pairs):
            value = getattr(pair, name)
            if value in seen:
                raise PairsError(f"pairs[{i}].{name}: {value!r} is already used by pairs[{seen[value]}]")
            seen[value] = i
    tokens: dict[str, int] = {}
    for i, pair in enumerate(pairs):
        for name in ("poly_yes_token", "poly_no_token"):
            value = getattr(pair, name)
            if value in tokens and tokens[value] != i:
                raise PairsError(f"pairs[{i}].{name}: {value!r} is already used by pairs[{tokens[value]}]")
            tokens[value] = i


def _no_unknown(table: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise PairsError(f"{prefix}{unknown[0]}: unknown field (known: {', '.join(known)})")


# ---- field checks: each takes (value, where) and returns the value or raises PairsError naming `where` ------


def to_decimal(value: Any, where: str) -> Decimal:
    """A TOML number or a decimal string as an exact Decimal; PairsError (naming `where`) otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise PairsError(f"{where}: must be a number or a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise PairsError(f"{where}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise PairsError(f"{where}: must be finite, got {value!r}")
    return number


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PairsError(f"{where}: must be a non-empty string")
    return value


def _token(value: Any, where: str) -> str:
    if not isinstance(value, str) or not decimal_digits(value):
        raise PairsError(f"{where}: must be the decimal token id as a string, got {value!r}")
    return value


def _condition_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not CONDITION_ID.fullmatch(value):
        raise PairsError(f"{where}: must be 0x and 64 hex digits, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise PairsError(f"{where}: must be true or false, got {value!r}")
    return value


def _one_of(*allowed: str) -> Callable[[Any, str], str]:
    def check(value: Any, where: str) -> str:
        if value not in allowed:
            raise PairsError(f"{where}: must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return check


def _choice(allowed: tuple[Decimal, ...]) -> Callable[[Any, str], Decimal]:
    def check(value: Any, where: str) -> Decimal:
        number = to_decimal(value, where)
        if number not in allowed:
            raise PairsError(f"{where}: must be one of {', '.join(map(str, allowed))}, got {value!r}")
        return number

    return check


def _decimal_in(low: Decimal, high: Decimal | None) -> Callable[[Any, str], Decimal]:
    """At least `low`, below `high` (no upper bound when None)."""

    def check(value: Any, where: str) -> Decimal:
        number = to_decimal(value, where)
        if number < low or (high is not None and number >= high):
            bound = f"in [{low}, {high})" if high is not None else f">= {low}"
            raise PairsError(f"{where}: must be {bound}, got {value!r}")
        return number

    return check


def _positive_whole(value: Any, where: str) -> Decimal:
    """A whole number of contracts above zero: the engine trades whole contracts on both exchanges."""
    number = to_decimal(value, where)
    if number <= 0 or number != number.to_integral_value():
        raise PairsError(f"{where}: must be a whole number above 0, got {value!r}")
    return number
