"""`tradetape report`: sessions as one self-contained HTML page (the work is in proxy.report)."""

from __future__ import annotations

from pathlib import Path

import click

from proxy.replay.sources import SourceError, resolve_source
from proxy.report.clock import ALIGNMENTS
from proxy.report.write import write_report


@click.command("report")
@click.argument("sessions", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option(
    "--align",
    type=click.Choice(ALIGNMENTS),
    default="sequence",
    show_default=True,
    help="How several sessions share the axis: one after another, all from zero, or by the wall clock.",
)
@click.option(
    "--capture-dir",
    envvar="CAPTURE_DIR",
    default="./fixtures",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where session names are resolved (env CAPTURE_DIR).",
)
def report_command(sessions: tuple[str, ...], output: Path, align: str, capture_dir: Path) -> None:
    """Write SESSION… (directories, fixture files or names under --capture-dir) as one HTML report:
    books, orders, answers, fills, positions and exposure on one time axis, beside the list of entries."""
    try:
        paths = [resolve_source(spec, capture_dir) for spec in sessions]
        written = write_report(paths, output, align)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write ({exc.strerror})") from None
    for warning in written.data["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(written.summary())
