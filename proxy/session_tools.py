"""Session tools: read a session at a glance (inspect), check and re-index it (fsck), export it (HAR 1.2)."""

from __future__ import annotations

import os
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click
import orjson

from .answers import failure_answer
from .fixture import DRIFT, MANIFEST, FixtureError, body_bytes, fixture_seq, load_fixture, session_files
from .modes import tradetape_version
from .session import build_manifest
from .sources import DROPPED, SourceError, check_fixture, read_source, recorded_failure, seq_report

REQUEST_FIELDS = ("ticker", "side", "count", "price", "time_in_force", "orderType", "makerAmount", "takerAmount")
RESPONSE_FIELDS = (
    "order_id",
    "status",
    "fill_count",
    "remaining_count",
    "average_fill_price",
    "orderID",
    "success",
    "errorMsg",
    "makingAmount",
    "takingAmount",
    "size_matched",
    "error",  # Polymarket's refusals: {"error": "not enough balance / allowance"}
)
WHY = ("error", "errorMsg", "message", "code")  # shown wider: they are the reason a request failed
KALSHI_PREFIX = "/trade-api/v2"


def _load(session: str) -> list[tuple[Path, dict[str, Any]]]:
    try:
        return read_source(Path(session))
    except (FixtureError, SourceError) as exc:
        raise click.ClickException(f"{exc} (run `tradetape fsck` for every problem)") from None


# ---- inspect -------------------------------------------------------------------------------------


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
    request = fixture["request"]
    parts = urlsplit(request["url"])
    path = parts.path.removeprefix(KALSHI_PREFIX) + (f"?{parts.query}" if parts.query else "")
    if "response" in fixture:
        response = fixture["response"]
        status = str(response["status"])
        answer = _fields(response.get("body_parsed"), RESPONSE_FIELDS)
    else:
        error = fixture["error"]
        status = f"{error.get('status', '-')} {error.get('tradetape_error')}"
        answer = []
    latency = fixture.get("latency_ms")
    details = _fields(request.get("body"), REQUEST_FIELDS) + (["->", *answer] if answer else [])
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
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )


@click.command("inspect")
@click.argument("session", type=click.Path(exists=True))
def inspect_command(session: str) -> None:
    """A timeline of a session (or one fixture file): seq, time, exchange, endpoint, status, key fields."""
    click.echo(timeline([f for _, f in _load(session)]))


# ---- fsck ----------------------------------------------------------------------------------------


def check_session(directory: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(valid fixtures in seq order, problems): every file validated, seq gaps, duplicates, stray files."""
    problems: list[str] = []
    for path in sorted(directory.iterdir()):
        if path.name in (MANIFEST, DRIFT) or not path.is_file():
            continue
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            problems.append(f"{path}: leftover temporary file (an interrupted write)")
        elif path.suffix == ".json" and fixture_seq(path.name) is None:
            problems.append(f"{path}: not a fixture file name (NNN_METHOD_exchange_endpoint.json)")
    valid: list[tuple[Path, dict[str, Any]]] = []
    for path in session_files(directory):
        try:
            fixture = load_fixture(path)
            check_fixture(fixture, path)
        except FixtureError as exc:
            problems.append(str(exc))
            continue
        if fixture["seq"] != fixture_seq(path.name):
            problems.append(f"{path}: seq {fixture['seq']} in the file but {fixture_seq(path.name)} in its name")
        valid.append((path, fixture))
    problems += seq_report(directory.name, [(p.name, f["seq"]) for p, f in valid])
    return [(p.name, f) for p, f in valid], problems


def manifest_info(directory: Path) -> dict[str, Any]:
    """What the old manifest said about the session (upstreams, filter, ...), when it can still be read."""
    try:
        old = orjson.loads((directory / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        old = None
    info = {k: v for k, v in old.items() if k not in ("format", "fixtures")} if isinstance(old, dict) else {}
    info.setdefault("session", directory.name)
    info.setdefault("tradetape_version", tradetape_version())
    return info


def write_manifest(directory: Path, fixtures: list[tuple[str, dict[str, Any]]]) -> None:
    data = build_manifest(directory, manifest_info(directory), fixtures)
    temp = directory / f".{MANIFEST}.tmp"
    temp.write_bytes(data)
    os.replace(temp, directory / MANIFEST)


@click.command("fsck")
@click.argument("session", type=click.Path(exists=True, file_okay=False))
def fsck_command(session: str) -> None:
    """Validate every fixture file, report seq gaps and duplicates, and rebuild manifest.json from the files."""
    directory = Path(session)
    if not session_files(directory) and not (directory / MANIFEST).exists():
        raise click.ClickException(
            f"{directory}: no fixture files (NNN_METHOD_exchange_endpoint.json) and no {MANIFEST}: not a session "
            "directory, nothing checked and nothing written"
        )
    fixtures, problems = check_session(directory)
    write_manifest(directory, fixtures)
    for problem in problems:
        click.echo(problem, err=True)
    click.echo(f"{directory}: {len(fixtures)} valid fixtures, {len(problems)} problems; {MANIFEST} rebuilt")
    if problems:
        raise click.exceptions.Exit(1)


# ---- export --har --------------------------------------------------------------------------------


def _pairs(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers.items()]


def _content(data: bytes, holder: dict[str, Any], key: str, mime: str) -> dict[str, Any]:
    content: dict[str, Any] = {"size": len(data), "mimeType": mime, "text": holder.get(key) if data else ""}
    if not isinstance(content["text"], str):
        content["text"] = data.decode("utf-8")
    if holder.get("body_encoding") == "base64":
        content["encoding"] = "base64"
    return content


def har_response(fixture: dict[str, Any], path: Path) -> dict[str, Any]:
    if "response" in fixture:
        response = fixture["response"]
        status, headers = response["status"], response["headers"]
        data = body_bytes(response, "body_raw")
        content = _content(data, response, "body_raw", headers.get("content-type", "application/octet-stream"))
    else:
        failure = recorded_failure(fixture["error"], path)
        if failure.kind == DROPPED:
            status, headers, content = 0, {}, {"size": 0, "mimeType": "x-unknown", "text": ""}
        else:
            answer = failure_answer(failure)
            status, headers = failure.status, dict(answer.headers)
            content = {"size": len(answer.body), "mimeType": "application/json", "text": answer.body.decode()}
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return {
        "status": status,
        "statusText": reason,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(headers),
        "content": content,
        "redirectURL": headers.get("location", ""),
        "headersSize": -1,
        "bodySize": content["size"],
    }


def har_entry(fixture: dict[str, Any], path: Path) -> dict[str, Any]:
    request = fixture["request"]
    body = body_bytes(request, "body")
    latency = fixture.get("latency_ms") if isinstance(fixture.get("latency_ms"), (int, float)) else 0
    har_request: dict[str, Any] = {
        "method": request["method"],
        "url": request["url"],
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(request.get("headers", {})),
        "queryString": [
            {"name": k, "value": v} for k, v in parse_qsl(urlsplit(request["url"]).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": len(body),
    }
    if body:
        mime = request.get("headers", {}).get("content-type", "application/json")
        har_request["postData"] = {"mimeType": mime, "text": body.decode("utf-8", "replace")}
    return {
        "startedDateTime": fixture.get("captured_at") or "1970-01-01T00:00:00.000Z",
        "time": latency,
        "request": har_request,
        "response": har_response(fixture, path),
        "cache": {},
        "timings": {"send": 0, "wait": latency, "receive": 0},
        "_tradetape": {"seq": fixture["seq"], "exchange": fixture["exchange"], "file": path.name},
    }


def har(fixtures: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "tradetape", "version": tradetape_version()},
            "entries": [har_entry(f, p) for p, f in fixtures],
        }
    }


@click.command("export")
@click.argument("session", type=click.Path(exists=True))
@click.option("--har", "as_har", is_flag=True, required=True, help="Write HAR 1.2 (the only format so far).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
def export_command(session: str, as_har: bool, output: str) -> None:
    """Export a session as HAR 1.2, for browser devtools and HTTP tools."""
    document = har(_load(session))
    Path(output).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    click.echo(f"{output}: {len(document['log']['entries'])} entries (HAR 1.2)")
