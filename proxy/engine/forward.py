"""Sending a request to its upstream unchanged, and naming what went wrong when that fails."""

from __future__ import annotations

from proxy.engine.flow import Failure, Flow
from proxy.wire.answers import Answer
from proxy.wire.headers import client_headers, upstream_headers
from proxy.wire.upstream import UpstreamFailure, UpstreamPool
from proxy.wire.websocket import websocket_request_headers
from tapecontract import UPSTREAM_INVALID_RESPONSE


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

    async def upgrade(self, flow: Flow) -> Answer | Failure:
        """A WebSocket upgrade, on a connection of its own; a 101 leaves that connection in `flow.peer`."""
        try:
            reply, conn = await self.pool.upgrade(flow.upstream, flow.path_qs, websocket_request_headers(flow.headers))
        except UpstreamFailure as failure:
            return Failure(failure.kind, failure.status, failure.detail, flow.upstream)
        if reply.status != 101:
            return Answer(reply.status, client_headers(reply.headers), reply.body, reply.reason)
        if "Sec-WebSocket-Extensions" in reply.headers:
            conn.abort()
            detail = "the upstream's 101 accepted an extension the proxy did not offer (Sec-WebSocket-Extensions)"
            return Failure(UPSTREAM_INVALID_RESPONSE, 502, detail, flow.upstream)
        flow.peer = conn
        return Answer(101, client_headers(reply.headers), b"", reply.reason)
