"""The manifest of a session directory: its facts (upstreams, filter, version) and one line per fixture.

The manifest is an index, rebuilt from the fixture files by `tradetape fsck`; the fixture files are the record.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

from proxy.tape.fixture import FORMAT


def tradetape_version() -> str:
    try:
        return version("tradetape")
    except PackageNotFoundError:
        return "unknown"


def manifest_entry(fixture: dict[str, Any], name: str) -> dict[str, Any]:
    request = fixture["request"]
    response = fixture.get("response")
    return {
        "seq": fixture["seq"],
        "file": name,
        "exchange": fixture["exchange"],
        "method": request["method"],
        "url": request["url"],
        "status": response["status"] if response else None,
        "latency_ms": fixture.get("latency_ms"),
        **({"error": fixture["error"].get("tradetape_error")} if "error" in fixture else {}),
    }


def manifest_bytes(info: dict[str, Any], entries: bytes) -> bytes:
    """The manifest: the session's facts indented, then one compact line per fixture."""
    facts = {k: v for k, v in info.items() if k not in ("format", "fixtures")}
    head = orjson.dumps({"format": FORMAT, **facts, "fixtures": []}, option=orjson.OPT_INDENT_2)
    return head[: head.rindex(b"[")] + b"[" + entries + b"]\n}\n"


def build_manifest(directory: Path, info: dict[str, Any], fixtures: list[tuple[str, dict[str, Any]]]) -> bytes:
    """A manifest rebuilt from the fixture files themselves (fsck)."""
    return manifest_bytes(info, b",\n    ".join(orjson.dumps(manifest_entry(f, name)) for name, f in fixtures))
