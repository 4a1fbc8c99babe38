"""Machine-readable lines for test harnesses in any language: where a command listens, and how it ended.

Once listening, `record`, `replay`, `passthrough` and `sim` print one JSON line on stdout,
`{"event":"ready","kalshi":"http://127.0.0.1:PORT",...}` (the same object goes to `--ready-file`, written
atomically, so "the file exists" means "requests are accepted"); at shutdown the proxy commands print
`{"event":"stopped",...}` with the counts, and for a replay every unmatched request and unused fixture.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from proxy.engine.proxy import Proxy
from proxy.exchanges import PROFILES
from proxy.replay.replayer import find_replayer


def ready_event(urls: dict[str, str], **facts: Any) -> dict[str, Any]:
    """`urls`: exchange -> scheme://host:port; the clients' base URLs are derived from them."""
    return {
        "event": "ready",
        **facts,
        **urls,
        "kalshi_base_url": urls["kalshi"] + PROFILES["kalshi"].api_prefix,
        "poly_clob_url": urls["poly"] + PROFILES["poly"].api_prefix,
        "pid": os.getpid(),
    }


def emit(event: dict[str, Any]) -> None:
    print(orjson.dumps(event).decode(), flush=True)


def clear_ready_file(path: Path | None) -> None:
    """Remove a ready file (a stale one from an earlier run would point a harness at dead ports)."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def prepare_ready_file(path: Path | None) -> None:
    """Before anything starts: the stale file gone and the place writable, or OSError."""
    if path is not None:
        clear_ready_file(path)
        probe = path.with_name(f".{path.name}.tmp")
        probe.write_bytes(b"")
        probe.unlink()


def stopped_event(proxy: Proxy) -> dict[str, Any]:
    """How a proxy command ended: its counts, its session, and a replay's verdict (unmatched, unused)."""
    status = proxy.mode.status()
    event: dict[str, Any] = {"event": "stopped", "mode": proxy.mode.name, "counts": proxy.status()["counts"]}
    if "session_dir" in status:
        event.update(session=status["session_dir"], fixtures=status["fixtures"])
    replayer = find_replayer(proxy.mode)
    if replayer is not None:
        event.update(unmatched=[miss["summary"] for miss in replayer.unmatched], unused=replayer.unused())
    return event


def announce_ready(event: dict[str, Any], ready_file: Path | None) -> None:
    """The ready line on stdout, and the ready file put in place whole (written, then renamed)."""
    if ready_file is not None:
        temp = ready_file.with_name(f".{ready_file.name}.tmp")
        temp.write_bytes(orjson.dumps(event) + b"\n")
        os.replace(temp, ready_file)
    emit(event)
