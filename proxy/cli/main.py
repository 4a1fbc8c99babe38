"""The `tradetape` command: a thin group whose subcommands live with the package that owns them.

Subcommands are declared as `tradetape.commands` entry points and imported only when used, so
`tradetape record` never pays for loading the simulator or the trader.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click


def _command_entries() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group="tradetape.commands")}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_entries())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = _command_entries().get(name)
        if entry is None:
            return None
        try:
            command: click.Command = entry.load()
        except ImportError as exc:
            return _unavailable(name, exc)
        return command


def _unavailable(name: str, exc: Exception) -> click.Command:
    @click.command(name, help=f"(unavailable: {exc})", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"command {name!r} cannot load: {exc}")

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradetape")
def main() -> None:
    """Record and replay Kalshi and Polymarket traffic so a trading bot is tested before it goes live."""
