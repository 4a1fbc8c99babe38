"""`tradetape demo` (`make demo`): the whole loop on the built-in simulator, no account, no money.

For every scenario: a simulator set up for it, the proxy recording in front of it, the real client
and trader code triggering it; then every scenario (combined ones composed from the captured
directories) replayed through the same code with nothing but the fixtures. One table at the end, and one
report page per scenario (`tradetape report` of its sessions) in the reports directory.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click

from proxy.replay.sources import SourceError
from proxy.report.write import Written, write_report

from .catalogue import SCENARIOS, Scenario
from .cli import quiet
from .e2e_catalogue import E2E_SCENARIOS, E2EScenario
from .e2e_catalogue import capture as capture_e2e
from .e2e_catalogue import replay as replay_e2e
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


REPLAYS = 10


@dataclass
class E2EOutcome:
    """One end-to-end scenario in the demo: its capture and its replays."""

    scenario: E2EScenario
    captured: Outcome
    replays: list[Outcome]

    @property
    def failures(self) -> list[str]:
        failed = [f"capture: {f}" for f in self.captured.failures]
        return failed + [f"replay {i + 1}: {f}" for i, r in enumerate(self.replays) for f in r.failures]


async def run_e2e(fixtures_dir: Path, replays: int = REPLAYS) -> list[E2EOutcome]:
    """Capture each end-to-end scenario, then replay it `replays` times (each must match the capture)."""
    done = []
    for scenario in E2E_SCENARIOS:
        captured = await capture_e2e(scenario, fixtures_dir)
        done.append(E2EOutcome(scenario, captured, [await replay_e2e(scenario, fixtures_dir) for _ in range(replays)]))
    return done


def e2e_table(outcomes: list[E2EOutcome]) -> tuple[str, int]:
    """The end-to-end scenarios: captured through the proxy (REST and WebSocket), replayed causal."""
    rows = [("scenario", "fixtures", "capture", "replays identical", "time")]
    for o in outcomes:
        same = sum(r.ok for r in o.replays)
        seconds = o.captured.seconds + sum(r.seconds for r in o.replays)
        rows.append(
            (
                o.scenario.name,
                str(o.captured.fixtures),
                "PASS" if o.captured.ok else "FAIL",
                f"{same}/{len(o.replays)}" + ("" if same == len(o.replays) else " FAIL"),
                f"{seconds:.2f} s",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{o.scenario.name}: {f}" for o in outcomes for f in o.failures]
    return "\n".join(lines + (["", *notes] if notes else [])), sum(bool(o.failures) for o in outcomes)


def write_reports(fixtures_dir: Path, reports_dir: Path) -> tuple[list[Written], list[str]]:
    """One report per scenario from its sessions in `fixtures_dir` (a composed one: its sources, in order), the
    end-to-end ones included."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    written, problems = [], []
    sessions = [(s.name, s.sources) for s in SCENARIOS] + [(s.name, (s.name,)) for s in E2E_SCENARIOS]
    for name, sources in sessions:
        try:
            written.append(write_report([fixtures_dir / source for source in sources], reports_dir / f"{name}.html"))
        except (SourceError, OSError) as exc:
            problems.append(f"{name}: no report: {exc}")
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
@click.option("--keep", is_flag=True, help="Keep the temporary directory of captured sessions (its path is printed).")
def demo(capture_dir: Path | None, reports_dir: Path, keep: bool) -> None:
    """Record every scenario against the simulator through the proxy, replay each, print a table."""
    quiet()
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
        e2e = asyncio.run(run_e2e(workdir))
        written, problems = write_reports(workdir, reports_dir)
    finally:
        if removed:
            shutil.rmtree(workdir, ignore_errors=True)
    text, failed = table(captured, replayed)
    click.echo(text)
    click.echo(
        f"\nThe arb engine end to end: {len(E2E_SCENARIOS)} scenarios, each driven through the simulator's admin API"
        f" and captured through the proxy (REST and WebSocket), then replayed causal {REPLAYS} times through the"
        " real engine: the same decisions and the same ledger every time\n"
    )
    e2e_text, e2e_failed = e2e_table(e2e)
    click.echo(e2e_text)
    click.echo("\n" + "\n".join([reports_line(reports_dir, written), *problems]))
    failed += e2e_failed
    passed = len(SCENARIOS) + len(E2E_SCENARIOS) - failed
    click.echo(f"\n{passed} passed, {failed} failed in {time.perf_counter() - started:.1f} s")
    if not removed:
        click.echo(f"sessions kept in {workdir} (try: tradetape inspect {workdir / SCENARIOS[0].name})")
    if failed:
        raise SystemExit(1)
