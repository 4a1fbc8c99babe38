"""`tradetape drift OLD NEW`: what changed in the exchanges' answers between two recordings (or the corpus)."""

from __future__ import annotations

import click
import orjson

from proxy.drift.compare import BREAKING, compare
from proxy.drift.render import json_report, text_report
from proxy.drift.samples import DriftInputError, load
from proxy.drift.shapes import infer


class DriftUsageError(click.ClickException):
    exit_code = 2  # 1 is the answer "breaking changes found"


@click.command("drift")
@click.argument("old")
@click.argument("new")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def drift_command(old: str, new: str, as_json: bool) -> None:
    """Report how the exchanges' answers changed from OLD to NEW, by severity; exit 1 on a breaking change.

    OLD and NEW are each a session directory, a directory of sessions, a fixture file, a payload corpus
    directory, or `corpus`: the repository's tests/data/payloads/ (only in a checkout of tradetape;
    an installed package has no tests/, so pass the path there). Exit 0: nothing breaking; 1: breaking
    changes; 2: an argument could not be read.
    """
    try:
        before, after = load(old), load(new)
    except DriftInputError as exc:
        raise DriftUsageError(str(exc)) from None
    findings = compare(infer(before.samples), infer(after.samples))
    if as_json:
        click.echo(orjson.dumps(json_report(before, after, findings), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(text_report(before, after, findings))
    if any(f.severity == BREAKING for f in findings):
        raise click.exceptions.Exit(1)
