"""The commands that work on recorded sessions: inspect, fsck, export, audit (the work is in proxy.tools)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from proxy.replay.sources import SourceError, read_source
from proxy.tape.fixture import MANIFEST, FixtureError
from proxy.tape.journal import JOURNAL, JournalBusy
from proxy.tape.schema import list_session
from proxy.tape.stored import settle_journal
from proxy.tools.audit import audit_tree, redact_file, tree_files
from proxy.tools.fsck import check_session, write_manifest
from proxy.tools.har import har
from proxy.tools.timeline import timeline


def _load(session: str) -> list[tuple[Path, dict[str, Any]]]:
    try:
        return read_source(Path(session))
    except (FixtureError, SourceError) as exc:
        raise click.ClickException(f"{exc} (run `tradetape fsck` for every problem)") from None


@click.command("inspect")
@click.argument("session", type=click.Path(exists=True))
@click.option("--frames", "expand", is_flag=True, help="One row per WebSocket message instead of folded runs.")
def inspect_command(session: str, expand: bool) -> None:
    """A timeline of a session (or one fixture file): seq, time, exchange, endpoint, status, key fields, with
    WebSocket messages in place (runs of one connection folded with counts unless --frames)."""
    click.echo(timeline(_load(session), expand))


@click.command("fsck")
@click.argument("session", type=click.Path(exists=True, file_okay=False))
def fsck_command(session: str) -> None:
    """Write the fixture files a killed recorder left in the journal, validate every fixture file, report seq gaps
    and duplicates, and rebuild manifest.json from the files."""
    directory = Path(session)
    listing = list_session(directory)
    if not (listing.fixtures or listing.problems or (directory / MANIFEST).exists() or (directory / JOURNAL).exists()):
        raise click.ClickException(
            f"{directory}: no fixture files (NNN_METHOD_exchange_endpoint.json) and no {MANIFEST}: not a session "
            "directory, nothing checked and nothing written"
        )
    try:
        fixtures, problems, notes = check_session(directory)
    except JournalBusy as exc:
        raise click.ClickException(f"{exc}: stop it before checking the session") from None
    for note in notes:
        click.echo(note)
    try:
        write_manifest(directory, fixtures)
        rebuilt = f"{MANIFEST} rebuilt"
    except OSError as exc:  # a full disk: say so, with the summary, rather than a traceback
        rebuilt = f"could not rebuild {MANIFEST}: {exc.strerror or exc}"
        problems.append(f"{directory}: {rebuilt}")
    for problem in problems:
        click.echo(problem, err=True)
    click.echo(f"{directory}: {len(fixtures)} valid fixtures, {len(problems)} problems; {rebuilt}")
    if problems:
        raise click.exceptions.Exit(1)


@click.command("export")
@click.argument("session", type=click.Path(exists=True))
@click.option("--har", "as_har", is_flag=True, required=True, help="Write HAR 1.2 (the only format so far).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
def export_command(session: str, as_har: bool, output: str) -> None:
    """Export a session as HAR 1.2, for browser devtools and HTTP tools."""
    document = har(_load(session))
    Path(output).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    click.echo(f"{output}: {len(document['log']['entries'])} entries (HAR 1.2)")


@click.command("audit")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--redact", is_flag=True, help="Rewrite the files so that they pass.")
def audit_command(paths: tuple[Path, ...], redact: bool) -> None:
    """Scan fixture trees for secrets that escaped redaction; exit 1 naming file and field."""
    if redact:  # a journal's fixtures become files first (as fsck writes them), so that they can be rewritten
        for journal in [p for p in tree_files(list(paths)) if p.name == JOURNAL]:
            try:
                settle_journal(journal.parent)
            except JournalBusy as exc:
                raise click.ClickException(f"{exc}: stop it before redacting the session") from None
    files = list(tree_files(list(paths)))
    allowed: list[Path] = []
    findings, creds = audit_tree(files, allowed)
    if redact:
        rewritten = sorted({f.file for f in findings if f.file.exists()})  # not the records of a damaged journal
        for path in rewritten:
            redact_file(path, creds)
        remaining = audit_tree(files, known=creds)[0]  # a file name keeps a secret --redact took out
        click.echo(f"audit --redact: rewrote {len(rewritten)} files; {len(remaining)} findings remain")
        findings = remaining
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        sys.exit(1)
    if not redact:
        paper = f" (paper-only demo keys allowed outside sessions in {len(allowed)} files)" if allowed else ""
        click.echo(f"audit: {len(files)} files, no secrets found{paper}")
