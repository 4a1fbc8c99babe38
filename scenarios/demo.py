"""`tradetape demo` (`make demo`): the whole loop on the built-in simulator, no account, no money.

For every scenario: a simulator set up for it, the proxy recording in front of it, the real client
and trader code triggering it; then every scenario (combined ones composed from the captured
directories) replayed through the same code with nothing but the fixtures. One table at the end.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path

import click

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
    rows = [("scenario", "exchange", "fixtures", "replay", "time", "what happened (replayed through the real code)")]
    notes, failed = [], 0
    for s in SCENARIOS:
        ok, problems = verdict(s, captured, replayed[s.name])
        failed += not ok
        seconds = replayed[s.name].seconds + (captured[s.name].seconds if s.captured else 0)
        story = str(replayed[s.name].observed.get("story", "(no result)"))
        rows.append(
            (s.name, s.exchange, fixture_count(s, captured), "PASS" if ok else "FAIL", f"{seconds:.2f} s", story)
        )
        notes += [f"{s.name}: {p}" for p in problems]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]  # the story column is not padded
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]) for row in rows]
    lines.insert(1, "  ".join(["-" * w for w in widths] + ["-" * len(rows[0][-1])]))
    return "\n".join(lines + (["", *notes] if notes else [])), failed


async def run_demo(fixtures_dir: Path) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    captured = {s.name: await capture(s, fixtures_dir) for s in SCENARIOS if s.captured}
    replayed = {s.name: await replay(s, fixtures_dir) for s in SCENARIOS}
    return captured, replayed


@click.command()
@click.option(
    "--capture-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the captured sessions here (default: a temporary directory, removed afterwards).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary directory of captured sessions (its path is printed).")
def demo(capture_dir: Path | None, keep: bool) -> None:
    """Record every scenario against the simulator through the proxy, replay each, print a table."""
    logging.getLogger("trader").setLevel(logging.ERROR)
    started = time.perf_counter()
    workdir = capture_dir or Path(tempfile.mkdtemp(prefix="tradetape-demo-"))
    removed = capture_dir is None and not keep
    where = "a temporary directory removed at the end (--keep keeps it)" if removed else str(workdir)
    click.echo(
        f"tradetape demo: simulator -> recording proxy -> real clients and trader, then replay "
        f"({len(SCENARIOS)} scenarios, sessions in {where})\n"
    )
    try:
        captured, replayed = asyncio.run(run_demo(workdir))
    finally:
        if removed:
            shutil.rmtree(workdir, ignore_errors=True)
    text, failed = table(captured, replayed)
    click.echo(text)
    passed = len(SCENARIOS) - failed
    click.echo(f"\n{passed} passed, {failed} failed in {time.perf_counter() - started:.1f} s")
    if not removed:
        click.echo(f"sessions kept in {workdir} (try: tradetape inspect {workdir / SCENARIOS[0].name})")
    if failed:
        raise SystemExit(1)
