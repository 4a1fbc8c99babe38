"""A replay miss in words: one line a person reads in two seconds, then the details, every value cut short.

`unmatched POST /portfolio/events/orders: closest 001_POST_kalshi_orders.json differs at /count
(live 2.00, recorded 10.00)`. The 599 body carries the line and the details, so the client's exception,
`tradetape replay`'s summary and the pytest plugin's failure all say the same thing. A value is never
shown whole when it is long, and a PEM block never at all.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.exchanges import PROFILES

WIDTH = 40  # a value in a sentence
BODY_WIDTH = 200  # a value in the 599's JSON body
PEM_MARK = "-----BEGIN "


def clip(text: str, width: int = WIDTH) -> str:
    if PEM_MARK in text:
        return f"[PEM block, {len(text)} chars]"
    return text if len(text) <= width else text[: width - 1] + "…"


def shown(value: Any, width: int = WIDTH) -> str:
    """A value as a person reads it: strings bare, a one-item query list as its item, JSON otherwise."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return clip(text, width)


def clipped(value: Any, width: int = BODY_WIDTH) -> Any:
    """`value` with every string cut to `width` and every PEM block replaced: what a 599 body may carry."""
    if isinstance(value, str):
        return clip(value, width)
    if isinstance(value, dict):
        return {k: clipped(v, width) for k, v in value.items()}
    if isinstance(value, list):
        return [clipped(v, width) for v in value]
    return value


def display_path(exchange: str, path: str, query: str = "") -> str:
    """The path as the client's code wrote it: without the API prefix its base URL carries."""
    profile = PROFILES.get(exchange)
    path = (path.removeprefix(profile.api_prefix) if profile else path) or "/"
    return f"{path}?{clip(query)}" if query else path


def _leaves(differs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(where, live, recorded) for every difference, in the order a person checks them."""
    out = [
        (f"in {part}", differs[part]["live"], differs[part]["recorded"])
        for part in ("method", "path")
        if part in differs
    ]
    out += [(f"at ?{name}", d["live"], d["recorded"]) for name, d in differs.get("query", {}).items()]
    out += [(f"at {pointer}", d["live"], d["recorded"]) for pointer, d in differs.get("body", {}).items()]
    return out


def difference_words(differs: Any) -> list[str]:
    """Each difference as `differs at /count (live 2.00, recorded 10.00)`."""
    if not isinstance(differs, dict):
        return [str(differs)]
    return [
        f"differs {where} (live {shown(live)}, recorded {shown(recorded)})"
        for where, live, recorded in _leaves(differs)
    ]


def file_of(candidate: dict[str, Any]) -> str:
    return str(candidate["fixture"]).rsplit("/", 1)[-1]


def summary(
    kind: str,
    exchange: str,
    method: str,
    path: str,
    query: str,
    candidates: list[dict[str, Any]],
    detail: str,
    outside_filter: dict[str, Any] | None = None,
) -> str:
    """The one line: what was asked, and the single most useful reason it was not answered."""
    head = f"{kind} {method} {display_path(exchange, path, query)}"
    if outside_filter:
        spec = outside_filter["filter"]
        shown_filter = repr(spec) if isinstance(spec, str) else " / ".join(map(repr, spec))
        return f"{head}: never recorded, outside the capture filter {shown_filter} (record with --filter all)"
    if kind == "unmatched" and candidates:
        words = difference_words(candidates[0]["differs"])
        more = f", and {len(words) - 1} more" if len(words) > 1 else ""
        return f"{head}: closest {file_of(candidates[0])} {words[0]}{more}"
    if kind == "exhausted" and candidates:
        return f"{head}: every recording of it has been served (the last: {file_of(candidates[0])})"
    if kind == "unmatched":
        return f"{head}: no {exchange} recording left to compare with"
    return f"{head}: {clip(detail, 120)}"


def explanation(detail: str, candidates: list[dict[str, Any]]) -> list[str]:
    """The lines after the summary: the detail, then each candidate and all it differs in."""
    lines = [detail]
    for candidate in candidates:
        served = (
            "" if "consumed" not in candidate else ", already served" if candidate["consumed"] else ", not served yet"
        )
        lines.append(f"candidate {candidate['fixture']} (seq {candidate.get('seq')}{served}):")
        lines += [f"  {words}" for words in difference_words(candidate["differs"])]
    return lines


def message_summary(
    kind: str, message_kind: str, exchange: str, path: str, connection: int, candidates: list[dict[str, Any]]
) -> tuple[str, list[str]]:
    """A client WebSocket message no recording matches: the one line and the details, as for a request.
    `candidates` are {"frames", "seq", "differs"} with the payload's differences by JSON pointer."""
    head = f"{kind} {message_kind} message on {display_path(exchange, path)} (connection {connection})"
    as_fixtures = [{"fixture": c["frames"], "seq": c["seq"], "differs": {"body": c["differs"]}} for c in candidates]
    detail = "no recorded client message matches it; the connection was closed (1008)"
    if not as_fixtures:
        return f"{head}: every recorded client message of this connection has been received", [detail]
    words = difference_words(as_fixtures[0]["differs"])
    more = f", and {len(words) - 1} more" if len(words) > 1 else ""
    closest = f"{file_of(as_fixtures[0])} seq {as_fixtures[0]['seq']}"
    first = f"{head}: closest {closest} {words[0] if words else 'is identical'}{more}"
    return first, explanation(detail, as_fixtures)
