"""`tradetape sim`: run the paper exchanges until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from pathlib import Path

import click

from proxy.cli.options import READY_FILE_HELP, StartError, ready_file_or_fail
from proxy.cli.readiness import announce_ready, clear_ready_file, ready_event
from proxy.wire.listen_error import ListenError

from .env import env_command
from .server import start_simulator
from .state import StateError

DEFAULT_LISTEN = {"kalshi": ("127.0.0.1", 9787), "poly": ("127.0.0.1", 9788)}


def parse_listen(values: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """`kalshi=HOST:PORT` / `poly=HOST:PORT` (IPv6 as [::1]:PORT) over the defaults."""
    listen = dict(DEFAULT_LISTEN)
    for value in values:
        name, sep, address = value.partition("=")
        host, colon, port = address.rpartition(":")
        if not sep or name not in listen or not colon or not (port.isascii() and port.isdigit()) or not host:
            raise click.BadParameter(f"{value!r}: expected kalshi=HOST:PORT or poly=HOST:PORT", param_hint="--listen")
        listen[name] = (host.strip("[]"), int(port))
    return listen


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _run(state: str | None, listen: dict[str, tuple[str, int]], ready_file: Path | None = None) -> None:
    hosts = {host for host, _ in listen.values()}
    if len(hosts) != 1:
        raise click.UsageError("--listen: both exchanges must use the same host")
    host = hosts.pop()
    ready_file_or_fail(ready_file)
    try:
        sim = await start_simulator(state, host, listen["kalshi"][1], listen["poly"][1])
    except StateError as exc:
        raise click.ClickException(f"--state {exc}") from None
    except ListenError as exc:
        raise StartError(str(exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo(f"kalshi  {sim.kalshi_url}  (client base URL {sim.kalshi_url}/trade-api/v2)")
    click.echo(f"poly    {sim.poly_url}")
    click.echo(f"state   {state or 'built-in default'}; admin under /__sim/ on each listener; Ctrl-C stops")
    announce_ready(ready_event({"kalshi": sim.kalshi_url, "poly": sim.poly_url}, mode="sim"), ready_file)
    try:
        await stop.wait()
    finally:
        await sim.stop()
        clear_ready_file(ready_file)


@click.group("sim", invoke_without_command=True)
@click.option(
    "--listen",
    "listen",
    multiple=True,
    metavar="EXCHANGE=HOST:PORT",
    help="Where an exchange listens (defaults kalshi=127.0.0.1:9787, poly=127.0.0.1:9788).",
)
@click.option(
    "--state",
    "state",
    type=click.Path(dir_okay=False),
    default=None,
    help="State file (JSON or TOML): markets, books, accounts and keys. Default: built-in demo state.",
)
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help=READY_FILE_HELP)
@click.pass_context
def sim(
    ctx: click.Context, listen: tuple[str, ...], state: str | None, allow_remote: bool, ready_file: Path | None
) -> None:
    """Run the paper Kalshi and Polymarket exchanges (the simulator) until interrupted.

    `tradetape sim env` prints the shell lines that point clients at it (or at the proxy) with the
    paper-only demo accounts every simulator accepts.
    """
    if ctx.invoked_subcommand is not None:
        return
    addresses = parse_listen(listen)
    remote = [f"{name}={host}" for name, (host, _) in addresses.items() if not _is_loopback(host)]
    if remote and not allow_remote:
        raise click.UsageError(f"--listen {', '.join(remote)} is not loopback; add --allow-remote to bind it")
    asyncio.run(_run(state, addresses, ready_file))


sim.add_command(env_command)
