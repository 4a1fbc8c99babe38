"""`tradetape inspect`: a session (or one fixture file) at a glance, one row per fixture with its key fields."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from proxy.exchanges import PROFILES

WHY = ("error", "errorMsg", "message", "code")  # shown wider: they are the reason a request failed


def _short(value: Any, width: int = 14) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


def _fields(value: Any, names: tuple[str, ...]) -> list[str]:
    """`name=value` for the interesting fields of a body, looking inside an `order` object too."""
    if isinstance(value, list):
        return [f"items={len(value)}"]
    if not isinstance(value, dict):
        return []
    out = [
        f"{k}={_short(value[k], 40 if k in WHY else 14)}"
        for k in names
        if k in value and not isinstance(value[k], (dict, list))
    ]
    for key, item in value.items():
        if isinstance(item, dict) and key in ("order", "error"):
            out += _fields(item, (*names, "code", "message"))
        elif isinstance(item, list):
            out.append(f"{key}={len(item)}")
    return out


def timeline_row(fixture: dict[str, Any]) -> list[str]:
    profile = PROFILES[fixture["exchange"]]
    request = fixture["request"]
    parts = urlsplit(request["url"])
    path = parts.path.removeprefix(profile.api_prefix) + (f"?{parts.query}" if parts.query else "")
    if "response" in fixture:
        response = fixture["response"]
        status = str(response["status"])
        answer = _fields(response.get("body_parsed"), profile.inspect_response)
    else:
        error = fixture["error"]
        status = f"{error.get('status', '-')} {error.get('tradetape_error')}"
        answer = []
    latency = fixture.get("latency_ms")
    details = _fields(request.get("body"), profile.inspect_request) + (["->", *answer] if answer else [])
    return [
        str(fixture["seq"]),
        str(fixture.get("captured_at", ""))[11:23],
        fixture["exchange"],
        request["method"],
        _short(path, 44),
        status,
        f"{latency:.0f}ms" if isinstance(latency, (int, float)) else "-",
        " ".join(details),
    ]


def timeline(fixtures: list[dict[str, Any]]) -> str:
    rows = [["seq", "time", "exchange", "method", "endpoint", "status", "latency", "fields"]]
    rows += [timeline_row(f) for f in fixtures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    # the last column is not padded: zip stops at the padded ones
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )
