"""Scaffolding for the replay tests: hand-written sessions and an in-process replay proxy."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from proxy.admin.routes import handle as admin_routes
from proxy.engine.proxy import Proxy
from proxy.replay.replayer import ReplayOptions, replay_mode
from proxy.replay.volatile import volatile_sets
from proxy.tape.fixture import fixture_name, raw_body_fields
from tests.proxy_helpers import listeners_for

KALSHI = "https://api.elections.kalshi.com"
POLY = "https://clob.polymarket.com"
ORDERS = "/trade-api/v2/portfolio/events/orders"


def fixture(
    exchange: str,
    method: str,
    url: str,
    body: Any = None,
    status: int = 200,
    answer: Any = None,
    headers: dict[str, str] | None = None,
    latency_ms: float = 10.0,
    raw: bytes | None = None,
) -> dict[str, Any]:
    """One fixture in the recorded format; `answer` is the JSON response (or `raw` its exact bytes)."""
    data = raw if raw is not None else orjson.dumps(answer)
    parsed = answer if raw is None else None
    return {
        "seq": 0,
        "exchange": exchange,
        "captured_at": "2026-11-19T20:15:00.123Z",
        "latency_ms": latency_ms,
        "request": {"method": method, "url": url, "headers": {"content-type": "application/json"}, "body": body},
        "response": {
            "status": status,
            "headers": {"content-type": "application/json", **(headers or {})},
            **raw_body_fields(data, parsed),
        },
    }


def failure(exchange: str, method: str, url: str, kind: str, status: int = 502, body: Any = None) -> dict[str, Any]:
    return {
        "seq": 0,
        "exchange": exchange,
        "captured_at": "2026-11-19T20:15:00.123Z",
        "latency_ms": 5,
        "request": {"method": method, "url": url, "headers": {}, "body": body},
        "error": {"tradetape_error": kind, "status": status, "detail": "recorded failure", "upstream": KALSHI},
    }


def write_session(directory: Path, fixtures: list[dict[str, Any]], first_seq: int = 1) -> Path:
    """Write `fixtures` with consecutive seq numbers, the way record names them."""
    directory.mkdir(parents=True, exist_ok=True)
    for seq, item in enumerate(fixtures, first_seq):
        item = {**item, "seq": seq}
        path = item["request"]["url"].split("://", 1)[1].split("/", 1)[1]
        name = fixture_name(seq, item["request"]["method"], item["exchange"], "/" + path)
        (directory / name).write_bytes(orjson.dumps(item, option=orjson.OPT_INDENT_2))
    return directory


@contextlib.asynccontextmanager
async def replaying(
    sources: list[Path | str],
    upstream_url: str = "http://127.0.0.1:9",
    fixtures_dir: Path | None = None,
    ignore_fields: tuple[str, ...] = (),
    sleep: Any = None,
    **options: Any,
) -> AsyncIterator[Proxy]:
    """A started proxy in replay mode over `sources` (its upstream is never contacted)."""
    counts: Counter[str] = Counter()
    extra = {"sleep": sleep} if sleep is not None else {}
    mode = replay_mode(
        [str(s) for s in sources],
        fixtures_dir or Path("fixtures"),
        volatile_sets(ignore_fields),
        ReplayOptions(**options),
        counts,
        **extra,
    )
    proxy = Proxy(listeners_for(upstream_url), mode, counts=counts, admin=admin_routes)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop(grace=2)
