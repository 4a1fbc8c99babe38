"""Where drift's examples come from: recorded sessions and the payload corpus, as (exchange, key, status, body).

A key names what a body answers: `METHOD /path/template` for REST (ids folded by the fixture format's
rule, Kalshi's `/trade-api/v2` prefix dropped so documentation paths and recorded URLs agree) or
`WS type` for a WebSocket message. Sessions hold REST exchanges today; a recorded frame becomes samples
through ws_samples(), which the corpus already uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson

from proxy.replay.sources import SourceError, read_source
from proxy.tape.fixture import FixtureError, path_template
from proxy.tape.stored import is_session

API_PREFIXES = {"kalshi": "/trade-api/v2"}
WS_TYPE_FIELD = {"kalshi": "type", "poly": "event_type"}  # the field that names a server message
CORPUS_EXCHANGES = {"kalshi": "kalshi", "polymarket": "poly"}  # corpus directory -> exchange
CORPUS_NAME = "corpus"
# The payload corpus lives in the repository's tests/, so the keyword finds it only in a checkout.
REPOSITORY_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "payloads"

_CLIENT_SENT = re.compile(r"(?i)request body|_request|command|client->server")
_ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[^\s,)'\"]*)")
_STATUS = re.compile(r"\b(?:HTTP|response) ([1-5]\d\d)\b")
_WS_KIND = re.compile(r"(?i)^ws[_ ]")


class DriftInputError(ValueError):
    """An OLD/NEW argument that cannot be read; the message names it (and the file, when one is bad)."""


class Sample(NamedTuple):
    exchange: str
    key: str  # "POST /portfolio/events/orders" or "WS orderbook_delta"
    status: int | None  # None for a WebSocket message
    body: Any  # parsed JSON, else the text; None when there was no body (or not text)
    origin: str  # the file it came from


@dataclass
class Examples:
    """What one side of a comparison holds: its samples, and the files it could not place (corpus only)."""

    name: str
    samples: list[Sample]
    unplaced: list[str] = field(default_factory=list)
    sessions: int = 0


def rest_key(exchange: str, method: str, path: str) -> str:
    path = urlsplit(path).path or "/"
    prefix = API_PREFIXES.get(exchange)
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return f"{method.upper()} {path_template(path)}"


def ws_samples(exchange: str, frame: Any, origin: str) -> Iterator[Sample]:
    """A server frame's messages (Polymarket sends some as a JSON array); a message naming no type is skipped."""
    name = WS_TYPE_FIELD[exchange]
    for message in frame if isinstance(frame, list) else [frame]:
        if isinstance(message, dict) and isinstance(message.get(name), str):
            yield Sample(exchange, f"WS {message[name]}", None, message, origin)


def answer_body(parsed: Any, text: str | None) -> Any:
    """What an answer said: its JSON, else its text (a plain-text error says something too), else None."""
    return parsed if parsed is not None else (text or None)


def fixture_sample(fixture: dict[str, Any], origin: str) -> Sample | None:
    """A validated fixture's answer; None for a proxy failure (the exchange said nothing)."""
    if "response" not in fixture:
        return None
    request, response = fixture["request"], fixture["response"]
    key = rest_key(fixture["exchange"], request["method"], request["url"])
    text = None if response.get("body_encoding") == "base64" else response["body_raw"]
    return Sample(fixture["exchange"], key, response["status"], answer_body(response.get("body_parsed"), text), origin)


def session_samples(path: Path) -> list[Sample]:
    """The answers of a session directory (or one fixture file), every file validated first."""
    try:
        fixtures = read_source(path)
    except (FixtureError, SourceError) as exc:
        raise DriftInputError(str(exc)) from None
    found = (fixture_sample(fixture, f"{path.name}/{p.name}" if path.is_dir() else p.name) for p, fixture in fixtures)
    return [s for s in found if s is not None]


def corpus_samples(exchange: str, entry: Any, origin: str) -> list[Sample]:
    """The samples of one corpus file (`{"source", "kind", "payload"}`), placed by what its source text says.

    REST bodies need a `METHOD /path` and a status (`HTTP 201`, `response 200`) in `kind` or `source`;
    WebSocket messages (kind `ws_...`/`WS ...`) are keyed by their own type field. Request bodies and
    client commands are what a bot sends, not what an exchange answers: they place nowhere.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str) or "payload" not in entry:
        raise DriftInputError(f"{origin}: not a corpus file (expected source, kind and payload)")
    kind, payload = entry["kind"], entry["payload"]
    if _CLIENT_SENT.search(kind):
        return []
    if _WS_KIND.match(kind):
        return list(ws_samples(exchange, payload, origin))
    text = f"{kind}\n{entry.get('source', '')}"
    route, status_match = _ROUTE.search(text), _STATUS.search(text)
    if route is None or status_match is None:
        return []
    status = int(status_match.group(1))
    if isinstance(payload, dict) and payload.get("status") == status:  # pasted traffic: {"status", "body"}
        if "body" not in payload:
            return []
        payload = payload["body"]
    return [Sample(exchange, rest_key(exchange, route.group(1), route.group(2)), status, payload, origin)]


def is_corpus(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_dir() for name in CORPUS_EXCHANGES)


def load_corpus(root: Path, name: str) -> Examples:
    examples = Examples(name, [])
    for directory, exchange in CORPUS_EXCHANGES.items():
        for path in sorted((root / directory).glob("*.json")):
            try:
                entry = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise DriftInputError(f"{path}: cannot be read as JSON ({exc})") from None
            placed = corpus_samples(exchange, entry, path.name)
            examples.samples += placed
            if not placed:
                examples.unplaced.append(path.name)
    return examples


def load_sessions(path: Path, name: str) -> Examples:
    """A session directory, one fixture file, or a directory whose subdirectories are sessions."""
    if path.is_file() or is_session(path):
        return Examples(name, session_samples(path), sessions=1)
    sessions = [d for d in sorted(path.iterdir()) if d.is_dir() and is_session(d)]
    if not sessions:
        raise DriftInputError(f"{name}: {path} holds no session (no NNN_METHOD_exchange_endpoint.json files)")
    return Examples(name, [s for d in sessions for s in session_samples(d)], sessions=len(sessions))


def load(spec: str) -> Examples:
    """`corpus` (the repository's payload corpus), a corpus directory, a session, or a directory of sessions."""
    if spec == CORPUS_NAME:
        if Path(spec).exists():
            raise DriftInputError(
                f"{CORPUS_NAME}: names both the repository's payload corpus and ./{CORPUS_NAME} here; "
                f"pass ./{CORPUS_NAME} for the local one"
            )
        if not is_corpus(REPOSITORY_CORPUS):
            raise DriftInputError(
                f"{CORPUS_NAME}: the payload corpus is in the repository's tests/data/payloads/, which this "
                "installation does not have; run from a checkout or pass the corpus directory's path"
            )
        return load_corpus(REPOSITORY_CORPUS, CORPUS_NAME)
    path = Path(spec)
    if not path.exists():
        raise DriftInputError(f"{spec}: no such session, directory of sessions or corpus directory")
    return load_corpus(path, spec) if is_corpus(path) else load_sessions(path, spec)
