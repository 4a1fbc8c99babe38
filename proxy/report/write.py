"""Sessions in, one report file out: what `tradetape report` and the demo call."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.report.build import build
from proxy.report.decisions import DecisionsInput
from proxy.report.frames import FramesInput
from proxy.report.inputs import Input, load_sessions
from proxy.report.page import render

INPUTS: tuple[Input, ...] = (FramesInput(), DecisionsInput())  # read beside the REST fixtures of every session


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    size: int  # bytes
    data: dict[str, Any]

    def summary(self) -> str:
        d = self.data
        orders = sum(len(m["orders"]) for m in d["markets"])
        fills = sum(len(m["fills"]) for m in d["markets"])
        return (
            f"{self.path}: {len(d['items'])} entries from {len(d['sessions'])} session(s), "
            f"{len(d['markets'])} market(s), {orders} orders, {fills} fills; {self.size / 1024:.0f} KiB"
        )


def write_report(paths: Sequence[Path], output: Path, align: str = "sequence") -> Written:
    """Read every session (or raise naming the bad file), then write the page atomically (temp file, rename)."""
    data = build(load_sessions(paths, INPUTS), align, INPUTS)
    page = render(data).encode("utf-8")
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_bytes(page)
    os.replace(temporary, output)
    return Written(output, len(page), data)
