"""One time axis for every session of a report: seconds from its start.

A session has one clock, so its entries keep their recorded spacing. A composed set (sessions recorded on
different runs, often days apart) is laid out by `align`: `sequence` puts each session after the one before
(the order given, as replay takes its sources), `start` starts them all at zero (legs recorded apart that
ran together), `wall` keeps the recorded wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from proxy.report.inputs import Session

ALIGNMENTS = ("sequence", "start", "wall")
MIN_GAP = 0.001  # seconds between sessions laid in sequence


def entry_walls(session: Session) -> list[float]:
    """Each entry's wall time; one without a time takes the time of the entry before it (or the first timed)."""
    first = next((e.wall for e in session.entries if e.wall is not None), 0.0)
    walls, last = [], first
    for entry in session.entries:
        last = entry.wall if entry.wall is not None else last
        walls.append(last)
    return walls


def _ends(session: Session) -> float:
    """The session's last moment: its last answer (a fixture's start plus its latency) or entry."""
    ends = []
    for entry, wall in zip(session.entries, entry_walls(session), strict=True):
        latency = entry.record.get("latency_ms") if entry.kind == "rest" else None
        ends.append(wall + (latency / 1000 if isinstance(latency, (int, float)) else 0.0))
    return max(ends, default=0.0)


def offsets(sessions: Sequence[Session], align: str) -> list[float]:
    """The axis time of each session's first entry."""
    if align not in ALIGNMENTS:
        raise ValueError(f"align must be one of {', '.join(ALIGNMENTS)}, got {align!r}")
    starts = [entry_walls(s)[0] if s.entries else 0.0 for s in sessions]
    if align == "start":
        return [0.0] * len(sessions)
    if align == "wall":
        origin = min(starts, default=0.0)
        return [round(start - origin, 6) for start in starts]
    spans = [_ends(s) - start for s, start in zip(sessions, starts, strict=True)]
    gap = max(MIN_GAP, 0.1 * max(spans, default=0.0))
    out, at = [], 0.0
    for span in spans:
        out.append(round(at, 6))
        at += span + gap
    return out


def axis_times(session: Session, offset: float) -> list[float]:
    """Each entry's time on the axis (seconds), microsecond precision."""
    walls = entry_walls(session)
    start = walls[0] if walls else 0.0
    return [round(wall - start + offset, 6) for wall in walls]
