"""Request targets the proxy accepts: a plain origin-form path and query that every server reads the same way.

The spending guard, the capture filter and replay matching all read the path; the exchange reads it too.
Anything one of them could read differently from another (a fragment, `;` parameters, percent-encoded
ASCII such as `%2F` or `%65`, NUL and other controls, a backslash, dot segments) is refused with a 400
before the request reaches anything else. Percent-encoding in the path is accepted only for non-ASCII
UTF-8, which has no plain spelling and so only one reading.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

_PATH = r"/(?:[A-Za-z0-9\-._~!$&'()*+,=:@/]|%[89A-Fa-f][0-9A-Fa-f])*"
# Any visible ASCII but '#' (a fragment) and ';' (a separator to some servers, dropped by others);
# a '%' must start an escape, and escapes of control characters are refused.
_QUERY = r"(?:[!-\"$&-:<-~]|%(?![01][0-9A-Fa-f]|7[Ff])[0-9A-Fa-f]{2})*"
PLAIN_TARGET = re.compile(rf"{_PATH}(?:\?{_QUERY})?")
DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\?|$)")


def target_problem(target: str) -> str | None:
    """None for a plain target, else why it is refused (one precompiled match on the common path)."""
    if PLAIN_TARGET.fullmatch(target) is None:
        return f"request target '{target}' is not a plain path and query: {_why(target)}"
    path = target.partition("?")[0]
    if DOT_SEGMENT.search(path):
        return f"request target '{target}' has a '.' or '..' segment, which servers resolve differently"
    if "%" in path:
        try:
            unquote_to_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            return f"request target '{target}' has percent-encoded bytes that are not UTF-8"
    return None


def _why(target: str) -> str:
    """The first thing wrong with a target PLAIN_TARGET refused (only runs on a refusal)."""
    path, _, query = target.partition("?")
    if "#" in target:
        return "a fragment ('#') never reaches a server, and servers disagree on what to do with one"
    if ";" in target:
        return "';' starts path parameters or splits a query for some servers and not others"
    if "\\" in path:
        return "some servers read a backslash as '/'"
    if re.search(r"%(?![0-9A-Fa-f]{2})", target):
        return "a '%' that does not start an escape"
    if re.search(r"%[0-7][0-9A-Fa-f]", path):
        return "percent-encoded ASCII in the path ('%2F', '%00', '%25', ...) reads differently decoded and not"
    if re.search(r"%(?:[01][0-9A-Fa-f]|7[Ff])", query):
        return "a percent-encoded control character in the query"
    return "a control character, space or character outside the URL syntax"
