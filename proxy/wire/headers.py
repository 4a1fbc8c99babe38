"""Header helpers for both sides of the wire: raw bytes as text, and the hop-by-hop headers a proxy never passes on."""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict

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


def decode(raw: bytes) -> str:
    """Header bytes as text that encodes back to the same bytes, whatever they were."""
    return raw.decode("utf-8", "surrogateescape")


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
