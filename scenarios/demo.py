"""`tradetape demo` (`make demo`): the whole loop on the built-in simulator, no account, no money.

For every scenario: a simulator set up for it, the proxy recording in front of it, the real client
and trader code triggering it; then every scenario (combined ones composed from the captured
directories) replayed through the same code with nothing but the fixtures. One table at the end, and one
report page per scenario (`tradetape report` of its sessions) in the reports directory.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path

import click

from proxy.replay.sources import SourceError
from proxy.report.write import Written, write_report

from .catalogue import SCENARIOS, Scenario
from .harness import Outcome, capture, replay


def fixture_count(scenario: Scenario, captured: dict[str, Outcome]) -> str:
    if scenario.captured:
        return str(captured[scenario.name].fixtures)
    return f"{sum(captured[s].fixtures for s in scenario.composed_of)} (composed)"


def verdict(scenario: Scenario, captured: dict[str, Outcome], replayed: Outcome) -> tuple[bool, list[str]]:
    problems = [f"capture: {f}" for f in captured[scenario.name].failures] if scenario.captured else []
    problems += [f"replay: {f}" for f in replayed.failures]
    return not problems, problems


def table(captured: dict[str, Outcome], replayed: dict[str, Outcome]) -> tuple[str, int]:
    rows = [("scenario", "exchange", "fixtures", "replay", "time")]
    notes, failed = [], 0
    for s in SCENARIOS:
        ok, problems = verdict(s, captured, replayed[s.name])
        failed += not ok
        seconds = replayed[s.name].seconds + (captured[s.name].seconds if s.captured else 0)
        rows.append((s.name, s.exchange, fixture_count(s, captured), "PASS" if ok else "FAIL", f"{seconds:.2f} s"))
        notes += [f"{s.name}: {p}" for p in problems]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + (["", *notes] if notes else [])), failed


async def run_demo(fixtures_dir: Path) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    captured = {s.name: await capture(s, fixtures_dir) for s in SCENARIOS if s.captured}
    replayed = {s.name: await replay(s, fixtures_dir) for s in SCENARIOS}
    return captured, replayed


def write_reports(fixtures_dir: Path, reports_dir: Path) -> tuple[list[Written], list[str]]:
    """One report per scenario from its sessions in `fixtures_dir` (a composed one: its sources, in order)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    written, problems = [], []
    for s in SCENARIOS:
        try:
            written.append(
                write_report([fixtures_dir / source for source in s.sources], reports_dir / f"{s.name}.html")
            )
        except (SourceError, OSError) as exc:
            problems.append(f"{s.name}: no report: {exc}")
    return written, problems


def reports_line(reports_dir: Path, written: list[Written]) -> str:
    sizes = sorted(w.size for w in written)
    if not sizes:
        return f"reports: none written in {reports_dir}"
    return (
        f"reports: {len(written)} pages, one per scenario, in {reports_dir}/ "
        f"(SCENARIO.html, {sizes[0] / 1024:.0f}–{sizes[-1] / 1024:.0f} KiB each; open one in a browser)"
    )


@click.command()
@click.option(
    "--capture-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the captured sessions here (default: a temporary directory, removed afterwards).",
)
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-reports"),
    show_default=True,
    help="Write one report page per scenario here.",
)
def demo(capture_dir: Path | None, reports_dir: Path) -> None:
    """Record every scenario against the simulator through the proxy, replay each, print a table."""
    logging.getLogger("trader").setLevel(logging.ERROR)
    started = time.perf_counter()
    workdir = capture_dir or Path(tempfile.mkdtemp(prefix="tradetape-demo-"))
    click.echo(
        f"tradetape demo: simulator -> recording proxy -> real clients and trader, then replay "
        f"({len(SCENARIOS)} scenarios, sessions in {workdir})\n"
    )
    try:
        captured, replayed = asyncio.run(run_demo(workdir))
        written, problems = write_reports(workdir, reports_dir)
    finally:
        if capture_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text, failed = table(captured, replayed)
    click.echo(text)
    passed = len(SCENARIOS) - failed
    click.echo("\n" + "\n".join([reports_line(reports_dir, written), *problems]))
    click.echo(f"\n{passed} passed, {failed} failed in {time.perf_counter() - started:.1f} s")
    if failed:
        raise SystemExit(1)
