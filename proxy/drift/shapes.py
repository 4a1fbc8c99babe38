"""Shape inference: what each endpoint's answers (and each WebSocket message type) looked like over their examples.

genson infers the structure: object properties, array items, JSON types, and `required` as the keys
present in every example of their object ("field in every example = always present"). genson keeps no
values and no string formats, and its `enum` strategy is only ever seeded from a given schema, never
inferred; so two strategies, plugged in through genson's own extension point (EXTRA_STRATEGIES), also
keep each string and number node's distinct values (up to MAX_VALUES, for enum-like fields) and each
numeric string's decimal places ("0.52" has 2, "0.5200" 4). The schema is then flattened to JSON
pointers (`*` stands for every item of an array), which is what comparison works on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from genson import SchemaBuilder
from genson.schema.strategies import Number, String

from proxy.drift.samples import Sample
from proxy.tape.frames import pointer_segment

MAX_VALUES = 32  # a node with more distinct values than this is not enum-like: its values are dropped
FRAME = "frame"  # the status group of a WebSocket message
ERROR_MESSAGE_TYPES = frozenset({"WS error"})  # WebSocket message types that carry an error, like a 4xx does
_NUMERIC = re.compile(r"^-?\d+(?:\.(\d+))?$")
_IDS = re.compile(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class _Values:
    """Distinct values of a scalar node, dropped once there are more than MAX_VALUES."""

    def __init__(self) -> None:
        self.values: set[Any] | None = set()

    def remember(self, value: Any) -> None:
        if self.values is not None:
            self.values.add(value)
            if len(self.values) > MAX_VALUES:
                self.values = None

    def keywords(self) -> dict[str, Any]:
        return {} if self.values is None else {"x-values": sorted(self.values, key=repr)}


class TrackedString(String):  # type: ignore[misc]  # genson has no type hints: the base is Any
    """genson's string strategy, plus values and the decimal places of numeric strings."""

    def __init__(self, node_class: Any) -> None:
        super().__init__(node_class)
        self._values = _Values()
        self._places: set[int] | None = set()  # None once a string is not a number
        self._padded = False  # a numeric string ending in a fractional zero ("0.50"): written at a fixed scale

    def add_object(self, obj: str) -> None:
        super().add_object(obj)
        self._values.remember(obj)
        match = _NUMERIC.match(obj)
        if match is None:
            self._places = None
        elif self._places is not None:
            fraction = match.group(1) or ""
            self._places.add(len(fraction))
            self._padded = self._padded or fraction.endswith("0")

    def to_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {**super().to_schema(), **self._values.keywords()}
        if self._places is not None:
            schema["x-places"] = sorted(self._places)
            schema["x-padded"] = self._padded
        return schema


class TrackedNumber(Number):  # type: ignore[misc]  # genson has no type hints: the base is Any
    """genson's number strategy, plus values (numeric error codes are enum-like too)."""

    def __init__(self, node_class: Any) -> None:
        super().__init__(node_class)
        self._values = _Values()

    def add_object(self, obj: float) -> None:
        super().add_object(obj)
        self._values.remember(obj)

    def to_schema(self) -> dict[str, Any]:
        return {**super().to_schema(), **self._values.keywords()}


class ShapeBuilder(SchemaBuilder):  # type: ignore[misc]  # genson has no type hints: the base is Any
    EXTRA_STRATEGIES = (TrackedString, TrackedNumber)


@dataclass(frozen=True, slots=True)
class Field:
    """One JSON pointer over the examples: its types, whether every example of its parent object had it."""

    types: frozenset[str]  # JSON Schema type names: object, array, string, integer, number, boolean, null
    required: bool
    places: frozenset[int] | None = None  # decimal places of its strings, when every string was a number
    padded: bool = False  # one of them ended in a fractional zero ("0.50"): the writer pads to a fixed scale
    values: frozenset[Any] | None = None  # distinct string/number values; None when there were too many


@dataclass(frozen=True)
class Shape:
    """One endpoint (or WebSocket message type) over its examples."""

    statuses: dict[int, int]  # status -> examples (empty for WebSocket messages)
    bodies: dict[str, dict[str, Field]]  # status group ("2xx", "404", "frame") -> pointer -> field
    errors: dict[str, str]  # error identity -> its status group
    origins: dict[str, str]  # status group or error identity -> the first file that showed it


def status_group(status: int | None) -> str:
    """Successes share one body shape whatever their status (201 becoming 200 still compares fields)."""
    if status is None:
        return FRAME
    return "2xx" if 200 <= status < 300 else str(status)


def is_error(key: str, group: str) -> bool:
    return key in ERROR_MESSAGE_TYPES or (group.isdigit() and int(group) >= 400)


def _normalised(text: str) -> str:
    """A message with its ids and numbers folded to #, cut at 100 characters."""
    text = _NUMBERS.sub("#", _IDS.sub("#", text.strip()))
    return text if len(text) <= 100 else text[:99] + "…"


def error_identity(body: Any) -> str | None:
    """What an error answer says, ids and numbers folded: `invalid_price "invalid price"`, `"not enough balance"`."""
    if isinstance(body, str):
        return f'"{_normalised(body)}"'
    if not isinstance(body, dict):
        return None
    for holder in (body.get("error"), body.get("msg"), body):
        if isinstance(holder, str):
            return f'"{_normalised(holder)}"'
        if isinstance(holder, dict):
            code = holder.get("code")
            text = next(
                (holder[k] for k in ("message", "msg", "errorMsg", "error") if isinstance(holder.get(k), str)), None
            )
            code_part = [] if code is None else [_IDS.sub("#", str(code))]  # a numeric code is the code itself
            parts = code_part + ([] if text is None else [f'"{_normalised(text)}"'])
            if parts:
                return " ".join(parts)
    return None


def _branch_values(branch: dict[str, Any], types: set[str]) -> set[Any] | None:
    if "x-values" in branch:
        return set(branch["x-values"])
    return None if types & {"string", "integer", "number"} else set()


def flatten(
    schema: dict[str, Any], pointer: str = "", required: bool = True, out: dict[str, Field] | None = None
) -> dict[str, Field]:
    """{pointer: Field} for a genson schema (root pointer "")."""
    out = {} if out is None else out
    types: set[str] = set()
    places: frozenset[int] | None = None
    padded = False
    values: set[Any] | None = set()
    for branch in schema.get("anyOf", [schema]):
        kinds = branch.get("type", [])
        branch_types = set(kinds) if isinstance(kinds, list) else {kinds}
        types |= branch_types
        if "x-places" in branch:
            places, padded = frozenset(branch["x-places"]), branch["x-padded"]
        branch_values = _branch_values(branch, branch_types)
        values = None if values is None or branch_values is None else values | branch_values
        for name, sub in branch.get("properties", {}).items():
            flatten(sub, f"{pointer}/{pointer_segment(name)}", name in branch.get("required", ()), out)
        if "items" in branch:
            flatten(branch["items"], f"{pointer}/*", True, out)
    out[pointer] = Field(frozenset(types), required, places, padded, None if values is None else frozenset(values))
    return out


@dataclass
class _Collector:
    statuses: Counter[int] = field(default_factory=Counter)
    builders: dict[str, ShapeBuilder] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def add(self, sample: Sample) -> None:
        group = status_group(sample.status)
        if sample.status is not None:
            self.statuses[sample.status] += 1
        self.origins.setdefault(group, sample.origin)
        if sample.body is None:
            return
        self.builders.setdefault(group, ShapeBuilder(schema_uri=None)).add_object(sample.body)
        identity = error_identity(sample.body) if is_error(sample.key, group) else None
        if identity is not None and identity not in self.errors:
            self.errors[identity] = group
            self.origins.setdefault(identity, sample.origin)

    def shape(self) -> Shape:
        bodies = {group: flatten(builder.to_schema()) for group, builder in self.builders.items()}
        return Shape(dict(self.statuses), bodies, self.errors, self.origins)


def infer(samples: Iterable[Sample]) -> dict[tuple[str, str], Shape]:
    """(exchange, key) -> Shape, from every sample given."""
    collectors: dict[tuple[str, str], _Collector] = {}
    for sample in samples:
        collectors.setdefault((sample.exchange, sample.key), _Collector()).add(sample)
    return {key: collector.shape() for key, collector in collectors.items()}
