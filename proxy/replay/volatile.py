"""Request fields whose value changes on every run: matching ignores them, correlation maps them.

The defaults are each exchange profile's `volatile_fields` and `volatile_query` (proxy.exchanges): ids
and times a client computes, per-order randomness, values derived from the account. Secret fields are always
volatile: a recording stores them as "[REDACTED]", so they could never match. Query parameters that carry a
time (a bot asks for "fills since an hour ago") keep their name in the key but not their value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from proxy.exchanges import PROFILES, ConfigError, check_exchange
from proxy.tape.frames import pointer_segment
from proxy.tape.redact import is_secret_field

VOLATILE_VALUE = "(volatile)"


class Volatile:
    """The volatile fields of one exchange: body names (at any depth), JSON pointers (`*` = any key) and
    query parameter names."""

    __slots__ = ("_by_name", "derived_ids", "names", "pointers", "query_names")

    def __init__(
        self,
        names: Iterable[str],
        pointers: Iterable[str] = (),
        query_names: Iterable[str] = (),
        derived_ids: Callable[[Any], dict[str, str]] | None = None,
    ) -> None:
        self.names = frozenset(names)
        self.pointers = tuple(tuple(p.split("/")[1:]) for p in pointers)
        self.query_names = frozenset(query_names)
        self.derived_ids = derived_ids  # the exchange profile's: ids computed from a body, correlated like fields
        self._by_name: dict[str, bool] = {}

    def __repr__(self) -> str:
        pointers = ["/" + "/".join(p) for p in self.pointers]
        return f"Volatile(names={sorted(self.names)}, pointers={pointers}, query={sorted(self.query_names)})"

    def query(self, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """Decoded query pairs with the values of volatile parameters replaced by one marker."""
        if not self.query_names:
            return pairs
        return tuple((name, VOLATILE_VALUE if name in self.query_names else value) for name, value in pairs)

    def _named(self, key: str) -> bool:
        hit = self._by_name[key] = key in self.names or is_secret_field(key)
        return hit

    def _pointed(self, pointer: str) -> bool:
        segments = pointer.split("/")[1:]
        return any(
            len(p) == len(segments) and all(a in ("*", b) for a, b in zip(p, segments, strict=True))
            for p in self.pointers
        )

    def strip_request(self, body: Any, found: dict[str, Any]) -> Any:
        """`strip` a request body, after noting in `found` the ids the exchange derives from it (order hashes):
        they are computed over the volatile fields, so before those go."""
        if self.derived_ids is not None and (type(body) is dict or type(body) is list):
            found.update(self.derived_ids(body))
        return self.strip(body, found)

    def strip(self, value: Any, found: dict[str, Any] | None = None, prefix: str = "") -> Any:
        """Remove the volatile members of `value` in place; each removed value goes to found[pointer]."""
        if type(value) is dict:
            doomed: list[str] = []
            by_name = self._by_name
            for key, item in value.items():
                named = by_name.get(key)
                if named is None:
                    named = self._named(key)
                if named or (self.pointers and self._pointed(f"{prefix}/{pointer_segment(key)}")):
                    doomed.append(key)
                    if found is not None:
                        found[f"{prefix}/{pointer_segment(key)}"] = item
                elif type(item) is dict or type(item) is list:
                    self.strip(item, found, f"{prefix}/{pointer_segment(key)}")
            for key in doomed:
                del value[key]
        elif type(value) is list:
            for index, item in enumerate(value):
                if type(item) is dict or type(item) is list:
                    self.strip(item, found, f"{prefix}/{index}")
        return value


def parse_ignore_field(spec: str, flag: str = "--ignore-field") -> tuple[str, str]:
    """`poly:/order/nonce` -> ("poly", "/order/nonce"); a bare name (`poly:nonce`) means any depth; `?name`
    (`kalshi:?min_ts`) is a query parameter."""
    exchange, sep, field = spec.partition(":")
    if not sep or not field:
        raise ConfigError(f"{flag}: expected EXCHANGE:JSONPOINTER (e.g. poly:/order/nonce), got {spec!r}")
    return check_exchange(exchange.strip(), flag), field.strip()


def volatile_sets(ignore_fields: Iterable[str] = (), defaults: bool = True) -> dict[str, Volatile]:
    """The volatile set of each exchange: the defaults plus every `--ignore-field`."""
    names = {ex: list(profile.volatile_fields) if defaults else [] for ex, profile in PROFILES.items()}
    queries = {ex: list(profile.volatile_query) if defaults else [] for ex, profile in PROFILES.items()}
    pointers: dict[str, list[str]] = {ex: [] for ex in PROFILES}
    for spec in ignore_fields:
        exchange, field = parse_ignore_field(spec)
        if field.startswith("?"):
            queries[exchange].append(field[1:])
        else:
            (pointers if field.startswith("/") else names)[exchange].append(field)
    return {ex: Volatile(names[ex], pointers[ex], queries[ex], PROFILES[ex].derived_ids) for ex in PROFILES}


def message_volatile(rest: dict[str, Volatile]) -> dict[str, Volatile]:
    """The volatile set of each exchange's WebSocket client messages: the REST body fields (and any
    `--ignore-field`) plus the profile's own (Kalshi's command `/id`, Polymarket's `auth`)."""
    out = {}
    for ex, volatile in rest.items():
        extra = PROFILES[ex].websocket.volatile_fields
        pointers = ["/" + "/".join(p) for p in volatile.pointers] + [f for f in extra if f.startswith("/")]
        out[ex] = Volatile(volatile.names | {f for f in extra if not f.startswith("/")}, pointers)
    return out
