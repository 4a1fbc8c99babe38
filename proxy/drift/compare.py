"""Comparison: what changed between two sets of shapes, each change a Finding with a severity.

breaking       a field always present before is in no example now; a JSON type never seen before
               (a number now a string, a value now null); success answers with another status (201 -> 200);
               an endpoint that answered 2xx now answers only 405/410 (or 404 on a path without ids).
notable        a new field present in every example; a field always present before now sometimes missing;
               a new value of an enum-like field; a fixed-scale decimal string with another number of places
               ("0.52" -> "0.5200"); a status never seen before; an error answer never seen before; a new
               WebSocket message type.
informational  a new field present in some examples; a new REST endpoint; what OLD had and NEW did not show
               (an endpoint, message type or status that was not exercised: absence in examples proves nothing).

Enum-like: a field whose name says it picks from a set (`status`, `type`, `side`, `action`, `code`,
`reason`, `state`, `channel`, `time_in_force`, or ending in `_status`, `_type`, `Type`, ...), whose
OLD values were few (see shapes.MAX_VALUES); only short tokens (`resting`, `FOK`) or integers count as
new values, so free text under such a name never does. Error answers are compared by what they say
(shapes.error_identity) instead, so a new error code is reported once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from proxy.drift.shapes import Field, Shape, is_error, status_group

BREAKING, NOTABLE, INFORMATIONAL = "breaking", "notable", "informational"
SEVERITIES = (BREAKING, NOTABLE, INFORMATIONAL)
GONE = frozenset({405, 410})
SHOWN = 40  # characters of a value shown in a finding
_ENUM_NAME = re.compile(
    r"^(?:status|type|side|action|code|reason|state|channel|time_in_force)$"
    r"|_(?:status|type|side|action|code|reason|state)$|[a-z](?:Status|Type|Side|Action|Code|Reason|State)$"
)
_TOKEN = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str
    kind: str
    exchange: str
    key: str  # "POST /portfolio/events/orders" or "WS fill"
    group: str | None  # status group of the bodies compared ("2xx", "400", "frame"); None for the endpoint
    pointer: str | None  # JSON pointer ("" is the whole body, * every array item)
    detail: str
    example: str | None = None  # a file that shows it

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


Change = tuple[str, str, str]  # severity, kind, detail


def enum_like(pointer: str) -> bool:
    name = pointer.rsplit("/", 1)[-1]
    return bool(_ENUM_NAME.search(name))


def is_token(value: Any) -> bool:
    return (type(value) is int) or (isinstance(value, str) and bool(_TOKEN.match(value)))


def _parent(pointer: str) -> str:
    return pointer.rsplit("/", 1)[0]


def _holds_fields(fields: dict[str, Field], pointer: str) -> bool:
    """Whether examples showed `pointer` as an object, so a field absent under it was really absent."""
    found = fields.get(pointer)
    return found is not None and "object" in found.types


def _types(field: Field) -> set[str]:
    """Integer is a kind of number: a field seen as number accepts integers."""
    types = set(field.types)
    return types | {"integer"} if "number" in types else types


def _shown_types(field: Field) -> str:
    names = sorted(field.types)
    if field.places is not None and "string" in field.types:
        names = ["numeric string" if n == "string" else n for n in names]
    return " | ".join(names)


def _one(values: frozenset[Any] | None) -> str:
    """One value of a field, for showing what a change looks like (cut short: a body can be a whole page)."""
    shown = repr(sorted(values, key=repr)[0]) if values else "?"
    return shown if len(shown) <= SHOWN else shown[: SHOWN - 1] + "…"


def type_change(old: Field, new: Field) -> Change | None:
    if not new.types - _types(old):
        return None
    return BREAKING, "type_changed", f"type {_shown_types(old)} -> {_shown_types(new)} (e.g. {_one(new.values)})"


def _at_places(values: frozenset[Any] | None, places: Iterable[int]) -> str:
    """A value written with one of `places` decimal places, for showing a format change."""
    wanted = set(places)
    found = [v for v in values or () if isinstance(v, str) and len(v.partition(".")[2]) in wanted]
    return repr(min(found)) if found else "?"


def places_change(old: Field, new: Field) -> Change | None:
    """Numeric strings of a fixed scale before (one scale, and zero-padded: "0.50") now written at another.

    Without a padded value the scale is not shown to be fixed ("0.5" and "0.45" are one writer trimming
    zeros), so variable-precision fields never count.
    """
    if old.places is None or new.places is None or len(old.places) != 1 or not old.padded:
        return None
    other = new.places - old.places
    if not other:
        return None
    shown = f"{_at_places(old.values, old.places)} -> {_at_places(new.values, other)}"
    return NOTABLE, "decimal_places_changed", f"decimal places {_codes(old.places)} -> {_codes(new.places)}: {shown}"


def enum_change(pointer: str, old: Field, new: Field) -> Change | None:
    if not enum_like(pointer) or not old.values or new.values is None:
        return None
    added = sorted((v for v in new.values - old.values if is_token(v)), key=repr)
    if not added:
        return None
    known = ", ".join(repr(v) for v in sorted(old.values, key=repr))
    return NOTABLE, "enum_value_added", f"new value {', '.join(map(repr, added))} (known: {known})"


def presence_change(old: Field, new: Field) -> Change | None:
    if old.required and not new.required:
        return NOTABLE, "field_now_optional", "always present before, now missing from some examples"
    return None


def field_changes(old: dict[str, Field], new: dict[str, Field], error: bool) -> Iterator[tuple[str, Change]]:
    """(pointer, change) for every difference between two flattened bodies of one endpoint and status group."""
    for pointer in sorted(old.keys() | new.keys()):
        before, after = old.get(pointer), new.get(pointer)
        if before is None and after is not None:
            if _holds_fields(old, _parent(pointer)):
                severity = NOTABLE if after.required else INFORMATIONAL
                presence = "in every example" if after.required else "in some examples"
                yield pointer, (severity, "field_added", f"new field ({_shown_types(after)}, {presence})")
        elif after is None and before is not None:
            if before.required and _holds_fields(new, _parent(pointer)):
                yield pointer, (BREAKING, "field_removed", "always present before, in no example now")
        elif before is not None and after is not None:
            checks = [type_change(before, after), presence_change(before, after), places_change(before, after)]
            if not error:
                checks.append(enum_change(pointer, before, after))
            yield from ((pointer, change) for change in checks if change is not None)


def _gone(key: str, statuses: set[int]) -> bool:
    return bool(statuses & GONE) or (404 in statuses and "{id}" not in key)


def _codes(numbers: Iterable[int]) -> str:
    return "/".join(str(n) for n in sorted(numbers))


def status_changes(key: str, old: Shape, new: Shape) -> Iterator[tuple[str | None, Change]]:
    """(status group, change) for the statuses an endpoint answered with."""
    old_ok = {s for s in old.statuses if 200 <= s < 300}
    new_ok = {s for s in new.statuses if 200 <= s < 300}
    moved = bool(old_ok and new_ok and not old_ok & new_ok)
    if moved:
        yield "2xx", (BREAKING, "success_status_changed", f"success status {_codes(old_ok)} -> {_codes(new_ok)}")
    if old_ok and not new_ok and _gone(key, set(new.statuses)):
        gone = f"answered {_codes(old_ok)} before, now only {_codes(new.statuses)}"
        yield status_group(min(new.statuses)), (BREAKING, "endpoint_gone", gone)
    for status in sorted(new.statuses.keys() - old.statuses.keys()):
        if not (200 <= status < 300 and old_ok):
            says = [e for e, group in new.errors.items() if group == str(status)]
            yield (
                status_group(status),
                (NOTABLE, "status_added", f"new status {status}" + (f": {says[0]}" if says else "")),
            )
    unseen = old.statuses.keys() - new.statuses.keys() - (old_ok if moved else set())
    if unseen:
        yield None, (INFORMATIONAL, "status_unseen", f"status {_codes(unseen)} not seen in NEW (not compared)")


def endpoint_findings(exchange: str, key: str, old: Shape, new: Shape) -> Iterator[Finding]:
    for group, (severity, kind, detail) in status_changes(key, old, new):
        origin = new.origins.get(group) if group else None
        yield Finding(severity, kind, exchange, key, group, None, detail, origin)
    for identity, group in new.errors.items():  # a new status is reported above, with what it says
        if identity not in old.errors and group in old.bodies:
            detail = f"new error answer: {identity}"
            yield Finding(NOTABLE, "error_added", exchange, key, group, None, detail, new.origins.get(identity))
    for group in sorted(old.bodies.keys() & new.bodies.keys()):
        error = is_error(key, group)
        for pointer, (severity, kind, detail) in field_changes(old.bodies[group], new.bodies[group], error):
            origin = (old if kind == "field_removed" else new).origins.get(group)
            yield Finding(severity, kind, exchange, key, group, pointer, detail, origin)


def presence_findings(old: dict[tuple[str, str], Shape], new: dict[tuple[str, str], Shape]) -> Iterator[Finding]:
    for exchange, key in sorted(new.keys() - old.keys()):
        origin = next(iter(new[exchange, key].origins.values()), None)
        if key.startswith("WS "):
            yield Finding(NOTABLE, "message_type_added", exchange, key, None, None, "new message type", origin)
        else:
            yield Finding(INFORMATIONAL, "endpoint_added", exchange, key, None, None, "new endpoint", origin)
    for exchange, key in sorted(old.keys() - new.keys()):
        yield Finding(INFORMATIONAL, "unseen", exchange, key, None, None, "not seen in NEW (not compared)")


def compare(old: dict[tuple[str, str], Shape], new: dict[tuple[str, str], Shape]) -> list[Finding]:
    """Every finding, most severe first, then by exchange and endpoint."""
    found = list(presence_findings(old, new))
    for exchange, key in sorted(old.keys() & new.keys()):
        found += endpoint_findings(exchange, key, old[exchange, key], new[exchange, key])
    return sorted(
        found, key=lambda f: (SEVERITIES.index(f.severity), f.exchange, f.key, f.group or "", f.pointer or "")
    )
