"""The simulator's state file: `{"kalshi": {...}, "poly": {...}}` in JSON or TOML.

Each exchange module validates its own section; this module loads the file and offers the small
field readers both use, so every error names the file and the field (`state.toml: kalshi.markets[0].ticker: ...`).
"""

from __future__ import annotations

import json
import re
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SECTIONS = ("kalshi", "poly")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class StateError(ValueError):
    """A state file (or section) that cannot be used; the message names the file and field."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem

    def in_file(self, path: str | Path) -> StateError:
        return StateError(f"{path}: {self.where}", self.problem)


def load_state(path: str | Path) -> dict[str, dict | None]:
    """Read a JSON or TOML state file into its exchange sections (None where absent)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix.lower() == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(
            str(path), f"not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}"
        ) from None
    return split_sections(data, str(path))


def split_sections(data: Any, where: str = "state") -> dict[str, dict | None]:
    """Check the top level and return each exchange's section (None where absent)."""
    if not isinstance(data, dict):
        raise StateError(where, "top level must be an object with 'kalshi' and/or 'poly'")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise StateError(where, f"unknown section(s) {', '.join(unknown)} (expected kalshi, poly)")
    sections: dict[str, dict | None] = {}
    for name in SECTIONS:
        section = data.get(name)
        if section is not None and not isinstance(section, dict):
            raise StateError(f"{where}: {name}", "must be an object")
        sections[name] = section
    return sections


def read_str(obj: dict, key: str, where: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or (value == "" and default is None):
        raise StateError(f"{where}.{key}", "required (a non-empty string)" if value is None else "must be a string")
    return value


def read_decimal(value: Any, where: str) -> Decimal:
    """A Decimal from a string (or an int); floats are refused, they would round money."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise StateError(where, f'must be a decimal string like "12.50", got {value!r}')
    text = str(value)
    if not _DECIMAL.match(text):
        raise StateError(where, f'must be a decimal string like "12.50", got {value!r}')
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already guards this
        raise StateError(where, f"not a decimal: {value!r}") from None


def read_bool(obj: dict, key: str, where: str, default: bool) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise StateError(f"{where}.{key}", f"must be true or false, got {value!r}")
    return value


def read_list(obj: dict, key: str, where: str) -> list:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise StateError(f"{where}.{key}", "must be a list")
    return value
