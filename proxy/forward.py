"""Sending a request to its upstream unchanged, and naming what went wrong when that fails."""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict

from .flow import Answer, Failure, Flow
from .http_upstream import UpstreamFailure, UpstreamPool

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}
NOT_RETURNED = HOP_BY_HOP | {"content-length"}


def without(headers: Any, dropped: frozenset[str]) -> CIMultiDict[str]:
    """`headers` minus `dropped` and minus what their own Connection header names as hop-by-hop."""
    connection = headers.get("Connection")
    if connection:
        dropped = dropped | {token.strip().lower() for token in connection.split(",")}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in dropped:
            out.add(name, value)
    return out


def upstream_headers(headers: Any) -> CIMultiDict[str]:
    return without(headers, NOT_FORWARDED)


def client_headers(headers: Any) -> CIMultiDict[str]:
    return without(headers, NOT_RETURNED)


class Forwarder:
    """The proxy's one connection pool, shared by all its upstreams."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.pool = UpstreamPool(timeout)

    async def close(self) -> None:
        self.pool.close()

    async def send(self, flow: Flow) -> Answer | Failure:
        try:
            reply = await self.pool.send(
                flow.upstream, flow.method, flow.path_qs, upstream_headers(flow.headers), flow.body
            )
        except UpstreamFailure as failure:
            return Failure(failure.kind, failure.status, failure.detail, flow.upstream)
        headers = client_headers(reply.headers)
        if flow.method == "HEAD" and "Content-Length" in reply.headers:
            headers["Content-Length"] = reply.headers["Content-Length"]  # the size of what GET would send
        return Answer(reply.status, headers, reply.body, reply.reason)
