"""The record mode: a session directory, the capture filter, and the recorder after any guard addons."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxy.engine.mode import Mode
from proxy.exchanges.upstream import Upstream
from proxy.record.recorder import Recorder
from proxy.record.session import Session
from proxy.tape.capture_filter import build_filter
from proxy.tape.manifest import tradetape_version


def default_session_name(now: float | None = None) -> str:
    return time.strftime("session_%Y-%m-%d_%H%M%S", time.localtime(now))


def session_info(
    name: str, upstreams: dict[str, Upstream], filter_spec: str, sim_upstreams: set[str]
) -> dict[str, Any]:
    return {
        "session": name,
        "upstreams": {
            ex: {"url": u.url, "live": u.live, "simulator": ex in sim_upstreams} for ex, u in upstreams.items()
        },
        "capture_filter": filter_spec,
        "tradetape_version": tradetape_version(),
    }


def record_mode(
    directory: Path,
    info: dict[str, Any],
    filter_spec: str,
    addons: list[Any],
    counts: Any,
    watchers: Callable[[Path], list[Any]] | None = None,
    append: bool = False,
    sim_admin: bool = False,
) -> Mode:
    """`addons` run before the recorder; `watchers(directory)` after it, so they see flow.notes["fixture"]. An
    existing session in `directory` is refused (SessionError) unless `append`; the simulator's admin calls are
    recorded only with `sim_admin` (tape/capture_filter.py)."""
    session = Session(directory, info, append)
    recorder = Recorder(session, build_filter(filter_spec, sim_admin=sim_admin), counts)
    return Mode("record", forwards=True, addons=[*addons, recorder, *(watchers(directory) if watchers else [])])
