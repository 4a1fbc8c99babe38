"""The modes a running proxy can switch to (POST /__tradetape/mode), as `Proxy.mode_factories` entries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxy.engine.mode import Mode, passthrough_mode
from proxy.exchanges import ConfigError
from proxy.exchanges.upstream import Upstream
from proxy.record.guard import SpendingGuard, guard_addons
from proxy.record.mode import default_session_name, record_mode, session_info
from proxy.replay.replayer import ReplayOptions, replay_factory
from proxy.replay.volatile import volatile_sets

ModeFactory = Callable[[dict[str, Any]], Mode]


def forwarding_factories(
    upstreams: dict[str, Upstream],
    sims: set[str],
    capture_dir: Path,
    filter_spec: str,
    guard: SpendingGuard | None,
    counts: Any,
) -> dict[str, ModeFactory]:
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
) -> dict[str, ModeFactory]:
    """Every mode a forwarding command can switch to at runtime; replay needs `sources` in the request."""
    factories = forwarding_factories(upstreams, sims, capture_dir, filter_spec, guard, counts)
    factories["replay"] = replay_factory([], capture_dir, volatile_sets(), ReplayOptions(), counts)
    return factories
