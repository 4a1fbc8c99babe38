"""The payload corpus under tests/data/payloads/: found relative to this file, never skipped when missing."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def payload_dir(exchange: str) -> Path:
    """`kalshi` or `polymarket`: the directory of that exchange's real payloads, which must exist and be non-empty."""
    path = DATA / "payloads" / exchange
    if not any(path.glob("*.json")):
        raise FileNotFoundError(f"payload corpus missing or empty: {path} (it is part of the repository)")
    return path
