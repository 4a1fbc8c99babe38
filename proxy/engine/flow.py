"""One request/response exchange as it moves through the proxy and its addons, and why one failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy

from proxy.wire.answers import Answer, tradetape_answer


@dataclass(slots=True)
class Failure:
    """Why no upstream answer exists: what the client is told and what the session records."""

    kind: str  # upstream_unreachable, upstream_timeout, upstream_disconnected, upstream_invalid_response, ...
    status: int  # the status of the proxy's own answer (502, 504, 403, 599)
    detail: Any
    upstream: str | None = None


@dataclass(slots=True)
class Flow:
    exchange: str
    method: str
    path: str  # without the query string
    path_qs: str  # raw, exactly as the client sent it
    headers: CIMultiDictProxy[str]
    body: bytes
    upstream: str
    wall_start: float
    started: float
    response: Answer | None = None
    failure: Failure | None = None
    drop: bool = False  # close the client connection without an answer
    upgrade: bool = False  # a WebSocket upgrade request
    peer: Any = None  # after a 101: what carries the connection on (the upstream connection, or a replay)
    latency_ms: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The upstream URL the request went (or would go) to: never the proxy's."""
        return self.upstream + self.path_qs


def failure_answer(failure: Failure) -> Answer:
    """What the client is told about a failure: the proxy's own answer, marked as such."""
    fields: dict[str, Any] = {"detail": failure.detail}
    if failure.upstream is not None:
        fields = {"upstream": failure.upstream, **fields}
    return tradetape_answer(failure.status, failure.kind, **fields)
