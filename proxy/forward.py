"""Sending a request to its upstream unchanged, and naming what went wrong when that fails."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .flow import Answer, Failure, Flow

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}
NOT_RETURNED = HOP_BY_HOP | {"content-length"}
AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


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
    """One pooled aiohttp client session for all upstreams of a proxy."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, auto_decompress=False, skip_auto_headers=AUTO_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),  # a proxy never keeps or adds cookies of its own
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, flow: Flow) -> Answer | Failure:
        assert self._session is not None, "Forwarder.start() first"
        try:
            async with self._session.request(
                flow.method, URL(flow.url, encoded=True), data=flow.body or None,
                headers=upstream_headers(flow.headers), allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return Answer(resp.status, client_headers(resp.headers), body, resp.reason)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            return Failure("upstream_timeout", 504, f"no answer within {self.timeout.total} s ({type(exc).__name__})", flow.upstream)
        except aiohttp.ClientConnectorError as exc:
            return Failure("upstream_unreachable", 502, str(exc), flow.upstream)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            return Failure("upstream_disconnected", 502, f"{type(exc).__name__}: {exc}", flow.upstream)
        except aiohttp.ClientResponseError as exc:
            return Failure("upstream_invalid_response", 502, f"{type(exc).__name__}: {exc.message}", flow.upstream)
        except aiohttp.ClientError as exc:
            return Failure("upstream_error", 502, f"{type(exc).__name__}: {exc}", flow.upstream)
