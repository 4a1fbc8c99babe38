"""Why replay has no recording of a request: was its path ever recorded at all?

Each session's manifest names the capture filter it was recorded with. A request outside the filter
of every source was forwarded but never written, so no amount of re-running fixes it; re-recording
with a wider filter does, and the 599 says so instead of leaving the user to guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from proxy.exchanges import ConfigError
from proxy.tape.capture_filter import build_filter
from proxy.tape.fixture import MANIFEST


def manifest_filter(source: Path) -> str | None:
    """The capture filter in the manifest of a session directory (or of a fixture file's directory)."""
    directory = source if source.is_dir() else source.parent
    try:
        manifest = orjson.loads((directory / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    spec = manifest.get("capture_filter") if isinstance(manifest, dict) else None
    return spec if isinstance(spec, str) and spec else None


def _captures(spec: str, exchange: str, path: str) -> bool | None:
    try:
        return build_filter(spec)(exchange, path)
    except ConfigError:
        return None  # a manifest filter this version cannot read tells nothing


def outside_filters(exchange: str, path: str, filters: dict[str, str]) -> dict[str, Any] | None:
    """{"filter", "sources", "detail"} when no source's capture filter would have recorded `path`, else None."""
    verdicts = {name: _captures(spec, exchange, path) for name, spec in filters.items()}
    known = {name: filters[name] for name, verdict in verdicts.items() if verdict is not None}
    if not known or any(verdicts[name] for name in known):
        return None
    specs = sorted(set(known.values()))
    shown = " / ".join(repr(s) for s in specs)
    return {
        "filter": specs[0] if len(specs) == 1 else specs,
        "sources": sorted(known),
        "detail": (
            f"{path} is outside the capture filter {shown} of {', '.join(sorted(known))}: it was forwarded but never "
            "recorded; record again with --filter all (or a filter that matches it) to replay it"
        ),
    }
