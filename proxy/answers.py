"""Answers the proxy makes itself: always marked, so a client never mistakes them for an exchange's."""

from __future__ import annotations

from typing import Any

import orjson
from multidict import CIMultiDict

from .flow import Answer, Failure

ERROR_HEADER = "X-Tradetape-Error"


def tradetape_answer(status: int, kind: str, **fields: Any) -> Answer:
    body = orjson.dumps({"tradetape_error": kind, **fields})
    headers = CIMultiDict({"Content-Type": "application/json", ERROR_HEADER: kind})
    return Answer(status, headers, body)


def failure_answer(failure: Failure) -> Answer:
    fields: dict[str, Any] = {"detail": failure.detail}
    if failure.upstream is not None:
        fields = {"upstream": failure.upstream, **fields}
    return tradetape_answer(failure.status, failure.kind, **fields)
