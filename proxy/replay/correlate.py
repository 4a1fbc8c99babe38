"""Correlation: recorded volatile value A -> the live client's value B, learned as the replay goes.

Once a live request carries B where the recording had A (a client_order_id), responses say B where
they recorded A, and later requests carrying B match recordings carrying A. Values are replaced
whole (a path segment, a query value, a JSON string), never as substrings, so nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from multidict import CIMultiDict

from proxy.tape.redact import REDACTED

MIN_LENGTH = 6  # shorter values ("0", "BUY") are not ids: correlating them would rewrite unrelated text
HEADER_TOKEN = re.compile(r"[^\s,;=/?&\"<>]+")  # the whole values a header can carry (path segments, params)


def correlatable(value: Any) -> bool:
    """An id worth mapping; never one with a line break or NUL, which could end up inside a header."""
    return (
        type(value) is str
        and len(value) >= MIN_LENGTH
        and value != REDACTED
        and "\r" not in value
        and "\n" not in value
        and "\0" not in value
    )


def json_strings(value: Any, out: set[str]) -> None:
    """Every string value in a parsed JSON value (the candidates for what an answer mentions)."""
    if type(value) is str:
        out.add(value)
    elif type(value) is dict:
        for item in value.values():
            json_strings(item, out)
    elif type(value) is list:
        for item in value:
            json_strings(item, out)


class Correlation:
    __slots__ = ("live_of", "recorded_of")

    def __init__(self) -> None:
        self.live_of: dict[str, str] = {}  # A -> B
        self.recorded_of: dict[str, str] = {}  # B -> A

    def __bool__(self) -> bool:
        return bool(self.recorded_of)

    def clear(self) -> None:
        self.live_of.clear()
        self.recorded_of.clear()

    def learn(self, recorded: dict[str, Any], live: dict[str, Any]) -> None:
        """Remember A -> B for every volatile field whose live value differs from the recorded one."""
        for pointer, old in recorded.items():
            new = live.get(pointer)
            if isinstance(new, str) and new != old and correlatable(old) and correlatable(new):
                self.live_of[old] = new
                self.recorded_of[new] = old

    # ---- live request -> recorded terms ------------------------------------------------------

    def request(self, path: str, query: str, body: Any) -> tuple[str, str, Any]:
        """Path segments, query values and JSON string values carrying a live value, put back to A."""
        back = self.recorded_of
        segments = path.split("/")
        if not back.keys().isdisjoint(segments):
            path = "/".join(back.get(s, s) for s in segments)
        if query:
            query = "&".join(self._query_pair(pair) for pair in query.split("&"))
        if type(body) is dict or type(body) is list:
            self._body(body)
        elif type(body) is str:
            body = back.get(body, body)
        return path, query, body

    def _query_pair(self, pair: str) -> str:
        name, sep, value = pair.partition("=")
        return f"{name}={self.recorded_of[value]}" if sep and value in self.recorded_of else pair

    def _body(self, value: Any) -> None:
        back = self.recorded_of
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in list(items):
            if type(item) is str:
                if item in back:
                    value[key] = back[item]
            elif type(item) is dict or type(item) is list:
                self._body(item)

    # ---- recorded response -> live terms ------------------------------------------------------

    def body(self, body: bytes, mentions: Iterable[str]) -> bytes:
        """`body` with each recorded value it mentions (as a JSON string) replaced by the live one."""
        for old in mentions:
            new = self.live_of.get(old)
            if new is not None:
                body = body.replace(orjson.dumps(old), orjson.dumps(new))
        return body

    def headers(self, headers: CIMultiDict[str], mentions: Iterable[str]) -> CIMultiDict[str]:
        """`headers` with each recorded value they mention (as a whole HEADER_TOKEN) replaced by the live one."""
        live = {old: self.live_of[old] for old in mentions if old in self.live_of}
        if not live:
            return headers

        def swap(token: re.Match[str]) -> str:
            return live.get(token[0], token[0])

        out: CIMultiDict[str] = CIMultiDict()
        for name, value in headers.items():
            out.add(name, HEADER_TOKEN.sub(swap, value))
        return out
