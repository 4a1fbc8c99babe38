"""Factories for the forwarding modes; replay adds its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .capture_filter import build_filter
from .exchanges import ConfigError, Upstream
from .guard import GuardAddon, SpendingGuard
from .mode import Mode
from .record import Recorder
from .replay import ReplayOptions, replay_factory
from .session import Session
from .volatile import volatile_sets


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
) -> Mode:
    """`addons` run before the recorder; `watchers(directory)` after it, so they see flow.notes["fixture"]. An
    existing session in `directory` is refused (SessionError) unless `append`."""
    session = Session(directory, info, append)
    recorder = Recorder(session, build_filter(filter_spec), counts)
    return Mode("record", forwards=True, addons=[*addons, recorder, *(watchers(directory) if watchers else [])])


def passthrough_mode(addons: list[Any]) -> Mode:
    return Mode("passthrough", forwards=True, addons=addons)


def forwarding_factories(
    upstreams: dict[str, Upstream],
    sims: set[str],
    capture_dir: Path,
    filter_spec: str,
    guard: SpendingGuard | None,
    counts: Any,
) -> dict[str, Callable[[dict[str, Any]], Mode]]:
    """record and passthrough factories for a runtime switch (POST /__tradetape/mode)."""

    def record(options: dict[str, Any]) -> Mode:
        name = options.get("session") or default_session_name()
        if not isinstance(name, str) or "/" in name or name in (".", ".."):
            raise ConfigError(f"session: {name!r} is not a directory name")
        append = options.get("append", False)
        if not isinstance(append, bool):
            raise ConfigError(f"append: expected true or false, got {append!r}")
        info = session_info(name, upstreams, filter_spec, sims)
        addons = guard_addons(upstreams, guard, counts)
        return record_mode(capture_dir / name, info, filter_spec, addons, counts, append=append)

    def passthrough(options: dict[str, Any]) -> Mode:
        return passthrough_mode(guard_addons(upstreams, guard, counts))

    return {"record": record, "passthrough": passthrough}


def runtime_factories(
    upstreams: dict[str, Upstream],
    sims: set[str],
    capture_dir: Path,
    filter_spec: str,
    guard: SpendingGuard | None,
    counts: Any,
) -> dict[str, Callable[[dict[str, Any]], Mode]]:
    """Every mode a forwarding command can switch to at runtime; replay needs `sources` in the request."""
    factories = forwarding_factories(upstreams, sims, capture_dir, filter_spec, guard, counts)
    factories["replay"] = replay_factory([], capture_dir, volatile_sets(), ReplayOptions(), counts)
    return factories
