"""Rendering a drift report: readable text grouped by severity and endpoint, or JSON for machines."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Any

from proxy.drift.compare import SEVERITIES, Finding
from proxy.drift.samples import Examples

UNSEEN_SHOWN = 6  # endpoints not seen in NEW are listed on one line per exchange, this many by name


def describe(examples: Examples) -> str:
    """`corpus: 183 samples (50 files place nowhere)` or `fixtures: 12 sessions, 21 samples`."""
    parts = [f"{examples.sessions} sessions"] if examples.sessions > 1 else []
    parts.append(f"{len(examples.samples)} samples")
    text = f"{examples.name}: {', '.join(parts)}"
    if examples.unplaced:
        text += f" ({len(examples.unplaced)} files are requests or name no endpoint and status: not used)"
    return text


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    found = list(findings)
    return {severity: sum(f.severity == severity for f in found) for severity in SEVERITIES}


def _where(finding: Finding) -> str:
    group = f" [{finding.group}]" if finding.group else ""
    return f"{finding.exchange} {finding.key}{group}"


def _line(finding: Finding) -> str:
    pointer = "" if finding.pointer is None else f"{finding.pointer or '(body)'}  "
    example = f"  ({finding.example})" if finding.example else ""
    return f"    {pointer}{finding.detail}{example}"


def _unseen_lines(findings: list[Finding]) -> list[str]:
    lines = []
    for exchange, group in groupby(findings, key=lambda f: f.exchange):
        keys = [f.key for f in group]
        shown = ", ".join(keys[:UNSEEN_SHOWN]) + (
            f", … {len(keys) - UNSEEN_SHOWN} more" if len(keys) > UNSEEN_SHOWN else ""
        )
        lines.append(
            f"  {exchange}: {len(keys)} endpoints/message types of OLD not seen in NEW (not compared): {shown}"
        )
    return lines


def section(severity: str, findings: list[Finding]) -> list[str]:
    unseen = [f for f in findings if f.kind == "unseen"]
    rest = [f for f in findings if f.kind != "unseen"]
    lines = [f"{severity.upper()} ({len(findings)})"]
    for where, group in groupby(rest, key=_where):
        lines.append(f"  {where}")
        lines += [_line(f) for f in group]
    return lines + _unseen_lines(unseen)


def text_report(old: Examples, new: Examples, findings: list[Finding]) -> str:
    lines = [f"OLD {describe(old)}", f"NEW {describe(new)}", ""]
    for severity in SEVERITIES:
        chosen = [f for f in findings if f.severity == severity]
        if chosen:
            lines += [*section(severity, chosen), ""]
    total = counts(findings)
    lines.append(", ".join(f"{total[s]} {s}" for s in SEVERITIES))
    return "\n".join(lines)


def json_report(old: Examples, new: Examples, findings: list[Finding]) -> dict[str, Any]:
    def side(examples: Examples) -> dict[str, Any]:
        return {
            "name": examples.name,
            "sessions": examples.sessions,
            "samples": len(examples.samples),
            "unplaced": examples.unplaced,
        }

    return {"old": side(old), "new": side(new), "counts": counts(findings), "findings": [f.to_json() for f in findings]}
