"""`tradetape inspect`: a session (or one fixture file) at a glance, one row per fixture with its key fields."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from proxy.exchanges import PROFILES
from proxy.tape.frames import frames_file_of, read_frames

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


def message_label(line: dict[str, Any]) -> str:
    """What a recorded message is, in a word: its JSON type (type, event_type or cmd), else its kind or text."""
    kind = line["kind"]
    if kind not in ("text", "binary") or "text" not in line:
        return kind if kind != "close" else f"close({line.get('code')})"
    try:
        value = orjson.loads(line["text"])
    except orjson.JSONDecodeError:
        return _short(line["text"], 20)
    if isinstance(value, list):
        inner = {message_label({"kind": "text", "text": orjson.dumps(v).decode()}) for v in value[:20]}
        return f"[{','.join(sorted(inner))}]"
    if isinstance(value, dict):
        for key in ("type", "event_type", "cmd"):
            label = value.get(key)
            if isinstance(label, str):
                return label
    return str(kind)


def _clock_time(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _counted(lines: list[dict[str, Any]]) -> str:
    """`exchange 30 (orderbook_delta 28, fill 2), client 1 (subscribe 1)`"""
    parts = []
    for sender in ("client", "exchange"):
        labels = Counter(message_label(line) for line in lines if line["from"] == sender)
        if labels:
            shown = ", ".join(f"{label} {n}" for label, n in labels.most_common())
            parts.append(f"{sender} {sum(labels.values())} ({shown})")
    return ", ".join(parts)


def message_rows(connection: str, fixture: dict[str, Any], lines: list[dict[str, Any]]) -> list[list[str]]:
    """One row per message of a run (expanded), or one row for the whole run (folded when several)."""
    path = urlsplit(fixture["request"]["url"]).path
    first = lines[0]
    if len(lines) == 1 or connection.endswith("*"):
        return [
            [
                str(line["seq"]),
                _clock_time(line["t"]),
                fixture["exchange"],
                connection.rstrip("*"),
                _short(path, 44),
                line["from"],
                "",
                message_label(line) + (f" {_short(line['text'], 60)}" if "text" in line else ""),
            ]
            for line in lines
        ]
    seqs = f"{first['seq']}-{lines[-1]['seq']}"
    summary = f"{len(lines)} messages: {_counted(lines)}"
    return [[seqs, _clock_time(first["t"]), fixture["exchange"], connection, _short(path, 44), "", "", summary]]


def timeline(fixtures: list[tuple[Path, dict[str, Any]]], expand: bool = False) -> str:
    """Fixtures and WebSocket messages in seq order; a run of messages of one connection with nothing else
    between them is folded into one row with counts, unless `expand`."""
    events: list[tuple[int, Any]] = []
    connections = 0
    for path, fixture in fixtures:
        events.append((fixture["seq"], timeline_row(fixture)))
        name = frames_file_of(fixture)
        if name is not None:
            connections += 1
            label = f"WS#{connections}" + ("*" if expand else "")
            events += [(line["seq"], (label, fixture, line)) for line in read_frames(path.parent / name).frames]
    events.sort(key=lambda e: e[0])
    rows = [["seq", "time", "exchange", "method", "endpoint", "status", "latency", "fields"]]
    for _, run in itertools.groupby(events, key=lambda e: e[1][0] if isinstance(e[1], tuple) else id(e)):
        items = [item for _, item in run]
        if isinstance(items[0], tuple):
            rows += message_rows(items[0][0], items[0][1], [line for _, _, line in items])
        else:
            rows += items
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    # the last column is not padded: zip stops at the padded ones
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )
