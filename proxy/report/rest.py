"""One recorded REST exchange as the exchange readers (kalshi.py, poly.py) see it: times on the axis, parts parsed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from proxy.exchanges import PROFILES
from proxy.report.events import Answer
from proxy.tape.fixture import body_bytes


@dataclass(frozen=True, slots=True)
class Rest:
    item: int
    sent: float  # on the report's axis, seconds
    answered: float
    exchange: str
    method: str
    path: str  # after the exchange's API prefix, ids kept
    query: dict[str, str]
    headers: dict[str, str]  # the request's, as recorded (secrets redacted)
    body: Any  # the request's JSON
    status: int | None  # None: the exchange never answered (the proxy's failure)
    answer: Any  # the response's JSON, or None
    raw: bytes  # the response body
    failure: str | None  # the proxy's failure kind (upstream_disconnected, …)

    @property
    def endpoint(self) -> str:
        """As the clients name it in their errors: "POST /portfolio/events/orders"."""
        return f"{self.method} {self.path}"

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def rest_view(fixture: dict[str, Any], item: int, sent: float) -> Rest:
    """The parts of a loaded (validated) fixture the readers need."""
    request = fixture["request"]
    parts = urlsplit(request["url"])
    prefix = PROFILES[fixture["exchange"]].api_prefix
    latency = fixture.get("latency_ms")
    answered = round(sent + (latency / 1000 if isinstance(latency, (int, float)) else 0.0), 6)
    response = fixture.get("response")
    error = fixture.get("error")
    return Rest(
        item=item,
        sent=sent,
        answered=answered,
        exchange=fixture["exchange"],
        method=request["method"].upper(),
        path=parts.path.removeprefix(prefix) or "/",
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={k.lower(): v for k, v in request.get("headers", {}).items() if isinstance(v, str)},
        body=request.get("body") if request.get("body_encoding") != "base64" else None,
        status=response["status"] if response else None,
        answer=response.get("body_parsed") if response else None,
        raw=body_bytes(response, "body_raw") if response else b"",
        failure=error.get("tradetape_error") if isinstance(error, dict) else None,
    )


def failed_answer(rest: Rest, error: str | None) -> Answer:
    """The answer of an order the exchange refused (error) or never answered (the proxy's failure kind)."""
    if rest.failure is not None:
        return Answer(rest.answered, rest.failure, error="the exchange's answer never arrived")
    return Answer(rest.answered, "rejected", error=error)
