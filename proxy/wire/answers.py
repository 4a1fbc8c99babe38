"""Answers as the listener sends them: the Answer type, the proxy's own (always marked) answers, and rendering.

An answer the proxy makes itself carries the `X-Tradetape-Error` header, so a client never mistakes it for an
exchange's. The status line and headers of an answer are rendered here, once, so a recording served many times
is rendered at load and never again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from tapecontract import ERROR_FIELD, ERROR_HEADER

# Framing is the listener's job: an answer's own length, chunking and connection headers never go out.
FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
PHRASES = {status.value: status.phrase for status in HTTPStatus}
LEGAL_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
LINE_BREAK = re.compile(r"[\r\n\0]")


class Switch(Protocol):
    """What takes a client connection over once its 101 is written: a relay to the exchange, or a replay."""

    def attach(self, transport: Any, leftover: bytes, ended: Callable[[Any], None]) -> Any:
        """Take over `transport` (bytes the client sent after its upgrade request in `leftover`); returns the
        connection object the listener keeps (it has close(), abort() and check_timeouts(now)) and later passes
        to `ended` once it is over."""

    def abandon(self) -> None:
        """The client went away before its 101 could be written: release what was prepared for it."""


@dataclass(slots=True)
class Answer:
    """A response to give the client: the exchange's, or one the proxy made itself."""

    status: int
    headers: CIMultiDict[str] | CIMultiDictProxy[str]
    body: bytes
    reason: str | None = None
    head: bytes | None = None  # status line and headers already rendered (a recording served many times)
    switch: Switch | None = None  # a 101: what carries the connection on once the head is written


def tradetape_answer(status: int, kind: str, **fields: Any) -> Answer:
    body = orjson.dumps({ERROR_FIELD: kind, **fields})
    headers = CIMultiDict({"Content-Type": "application/json", ERROR_HEADER: kind})
    return Answer(status, headers, body)


class UnsendableAnswer(ValueError):
    """An answer that cannot go on the wire as it is (a recorded 1xx, a line break inside a header)."""


def check_headers(headers: Any) -> None:
    """A fixture's headers must not carry a line break into the answer, so replay checks them at load.
    Forwarded answers need no check (llhttp refuses such headers) and neither do correlated ones
    (correlation never maps a value with a line break)."""
    for name, value in headers.items():
        if not LEGAL_NAME.fullmatch(name) or LINE_BREAK.search(value):
            raise UnsendableAnswer(f"header {name!r} would break the answer's framing ({value[:40]!r})")


def status_and_headers(status: int, reason: str | None, headers: Any) -> bytes:
    """The status line and the answer's own headers, each line ending in CRLF: all but the framing."""
    if not 200 <= status <= 999:
        raise UnsendableAnswer(f"status {status} cannot be a final answer")
    lines = [f"HTTP/1.1 {status} {reason or PHRASES.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in FRAMING]
    lines.append("")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")
