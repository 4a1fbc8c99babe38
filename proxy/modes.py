"""Factories for the forwarding modes; replay adds its own."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .capture_filter import build_filter
from .exchanges import Upstream
from .guard import GuardAddon, SpendingGuard
from .mode import Mode
from .record import Recorder
from .session import Session


def tradetape_version() -> str:
    try:
        return version("tradetape")
    except PackageNotFoundError:
        return "unknown"


def default_session_name(now: float | None = None) -> str:
    return time.strftime("session_%Y-%m-%d_%H%M%S", time.localtime(now))


def guard_addons(upstreams: dict[str, Upstream], guard: SpendingGuard | None, counts: Any) -> list[Any]:
    """The spending guard applies whenever an upstream is a real exchange."""
    if guard is not None and any(u.live for u in upstreams.values()):
        return [GuardAddon(guard, counts)]
    return []


def session_info(name: str, upstreams: dict[str, Upstream], filter_spec: str, sim_upstreams: set[str]) -> dict[str, Any]:
    return {
        "session": name,
        "upstreams": {ex: {"url": u.url, "live": u.live, "simulator": ex in sim_upstreams} for ex, u in upstreams.items()},
        "capture_filter": filter_spec,
        "tradetape_version": tradetape_version(),
    }


def record_mode(directory: Path, info: dict[str, Any], filter_spec: str, addons: list[Any], counts: Any) -> Mode:
    session = Session(directory, info)
    recorder = Recorder(session, build_filter(filter_spec), counts)
    return Mode("record", forwards=True, addons=[*addons, recorder])


def passthrough_mode(addons: list[Any]) -> Mode:
    return Mode("passthrough", forwards=True, addons=addons)
