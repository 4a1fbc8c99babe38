"""A fixture as the journal holds it when that is cheaper: its metadata as compact JSON, and the bodies that need
no redaction as they came; expanded into the fixture file's bytes off the hot path (when files are written,
and by every tool that reads a journal).

Parsing a JSON body and serialising it back, pretty, cost more than the rest of recording an exchange. A body
needs neither before it reaches the disk when nothing in it can be secret: `deferrable` says when that is
certain, and its fields in the fixture are then the same whenever they are computed (redact.py, with no
credential: none is found in it by name, and Session.write checks the whole record by value). The record:

    [["request", <length>], ["response", <length>]]    the deferred bodies, in order (one or both)
    {"seq": ..., "request": {...}, ...}                 the fixture without those bodies' fields
    <request body bytes><response body bytes>
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.tape.redact import request_body, response_body
from proxy.tape.secrets import Credentials, may_name_secrets

MARK = b"["  # a record in this form; a fixture file's bytes (the other form) start with "{"
_WHERE = ("request", "response")


def deferrable(data: bytes) -> bool:
    """Whether a body can reach the disk as it came and be parsed later: a JSON object or array in ASCII with no
    escape (so its strings are its text, byte for byte) that names nothing secret-ish (secrets.may_name_secrets).
    Its fields then do not depend on the credentials of the session, and never go through redaction. It holds
    no line starting "@" (JSON never does): a torn record is searched for the next one, which must not be in it.
    Nor a '%': a body that only starts like JSON may be a form whose secret parameter's name is percent-encoded
    (`[x]=1&%61pi_key=v`), which its file omits but the journal would hold as it came."""
    return (
        data[:1] in (b"{", b"[")
        and data.isascii()
        and b"\\" not in data
        and b"%" not in data
        and (b"\n" not in data or b"\n@" not in data)  # a one-byte search is a memchr, many times faster
        and not may_name_secrets(data)
    )


def pack_parts(fixture: dict[str, Any], deferred: list[tuple[str, bytes]]) -> list[bytes]:
    """The record of `fixture` (its bodies' fields not set) and its `deferred` (where, body) in order, in parts
    (the journal joins them once, with its header)."""
    spans = orjson.dumps([[where, len(body)] for where, body in deferred])
    return [spans, b"\n", orjson.dumps(fixture), b"\n", *(body for _, body in deferred)]


def pack(fixture: dict[str, Any], deferred: list[tuple[str, bytes]]) -> bytes:
    """The record of pack_parts in one piece (the recorder hands the parts to the journal instead)."""
    return b"".join(pack_parts(fixture, deferred))


def _split(data: bytes) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """A record in this form: the fixture without its deferred bodies' fields, and those bodies (where, bytes)."""
    first = data.index(b"\n")
    second = data.index(b"\n", first + 1)
    spans = orjson.loads(data[:first])
    fixture = orjson.loads(data[first + 1 : second])
    if not isinstance(fixture, dict):
        raise ValueError("a journal record's fixture is no JSON object")
    pos = second + 1
    bodies = []
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2 and type(span[1]) is int and span[1] >= 0):
            raise ValueError(f"a journal record's body span {span!r} is no [where, length]")
        where, length = span
        if where not in _WHERE:
            raise ValueError(f"a journal record defers a body of {where!r}")
        bodies.append((where, data[pos : pos + length]))
        pos += length
    if pos != len(data):
        raise ValueError("a journal record's bodies do not add up to its length")
    return fixture, bodies


def unpack(data: bytes) -> dict[str, Any]:
    """The whole fixture of a record in this form, each deferred body's fields computed as redact.py does."""
    fixture, bodies = _split(data)
    for where, body in bodies:
        holder = fixture.get(where)
        if not isinstance(holder, dict):
            raise ValueError(f"a journal record defers the body of a {where} it does not hold")
        fields = request_body if where == "request" else response_body
        holder.update(fields(body, "", Credentials(), []))
    return fixture


def deferred_bodies(data: bytes) -> list[tuple[str, bytes]]:
    """(where, bytes) of the bodies a journal record holds as they came (none for a fixture file's bytes): what
    is on the disk before redact.py parses it, for audit."""
    return _split(data)[1] if data[:1] == MARK else []


def file_bytes(data: bytes) -> bytes:
    """The fixture file a journal record becomes: its bytes as they are, or this form expanded."""
    if data[:1] != MARK:
        return data
    return orjson.dumps(unpack(data), option=orjson.OPT_INDENT_2)
