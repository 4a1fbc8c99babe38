"""`tradetape export --har`: a session as HAR 1.2, for browser devtools and HTTP tools."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from proxy.engine.flow import failure_answer
from proxy.replay.sources import DROPPED, recorded_failure
from proxy.tape.fixture import body_bytes
from proxy.tape.frames import frames_file_of, read_frames
from proxy.tape.manifest import tradetape_version


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


OPCODES = {"text": 1, "binary": 2, "close": 8, "ping": 9, "pong": 10}


def websocket_messages(fixture: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """A recorded connection's messages as Chrome exports them (`_webSocketMessages`): type send or receive,
    time in seconds, opcode, data (a close's data is its code and reason; a drop has no frame and is left out)."""
    name = frames_file_of(fixture)
    if name is None:
        return []
    out = []
    for line in read_frames(path.parent / name).frames:
        kind = line["kind"]
        if kind == "drop":
            continue
        if kind == "close":
            data = f"{line.get('code') or ''} {line.get('reason', '')}".strip()
        else:
            data = line.get("text", line.get("base64", ""))
        sent = "send" if line["from"] == "client" else "receive"
        out.append({"type": sent, "time": line["t"], "opcode": OPCODES[kind], "data": data})
    return out


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
        **_websocket(fixture, path),
    }


def _websocket(fixture: dict[str, Any], path: Path) -> dict[str, Any]:
    messages = websocket_messages(fixture, path)
    return {"_resourceType": "websocket", "_webSocketMessages": messages} if frames_file_of(fixture) else {}


def har(fixtures: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "tradetape", "version": tradetape_version()},
            "entries": [har_entry(f, p) for p, f in fixtures],
        }
    }
