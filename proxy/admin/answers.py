"""The admin routes' answers: indented JSON, and errors marked like every answer the proxy makes itself."""

from __future__ import annotations

from typing import Any

import orjson
from multidict import CIMultiDict

from proxy.wire.answers import Answer
from tapecontract import ERROR_FIELD, ERROR_HEADER


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        status,
        CIMultiDict({"Content-Type": "application/json", **(headers or {})}),
        orjson.dumps(value, option=orjson.OPT_INDENT_2),
    )


def admin_error(status: int, kind: str, detail: Any) -> Answer:
    return json_response({ERROR_FIELD: kind, "detail": detail}, status, {ERROR_HEADER: kind})
