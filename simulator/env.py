"""`tradetape sim env`: the `export` lines that point a shell's clients at tradetape with the demo accounts.

`eval "$(tradetape sim env)"` and the clients (and `tradetape trader`) talk to the default listeners of
`tradetape record` / `replay` / `passthrough`; with `--direct`, to `tradetape sim` itself. The
credentials are the paper-only demo accounts every simulator accepts (simulator/demo_accounts.py).
"""

from __future__ import annotations

import shlex

import click

from proxy.exchanges import PROFILES

from . import demo_accounts

PROXY_LISTEN = {name: profile.listen for name, profile in PROFILES.items()}
# Set elsewhere, these would override or contradict the demo credentials the lines export.
CONFLICTING = ("KALSHI_PRIVATE_KEY_PATH", "POLY_FUNDER")


def base_urls(listen: dict[str, tuple[str, int]]) -> dict[str, str]:
    """KALSHI_BASE_URL and POLY_CLOB_URL (each profile's variable) for listeners at `listen`, and the feeds'
    KALSHI_WS_URL and POLY_WS_URL on the same hosts."""
    urls = {}
    for name, profile in PROFILES.items():
        host, port = listen[name]
        urls[profile.base_url_env] = f"http://{host}:{port}{profile.api_prefix}"
        urls[profile.websocket.url_env] = f"ws://{host}:{port}{profile.websocket.client_path}"
    return urls


def demo_credentials() -> dict[str, str]:
    return {
        "KALSHI_API_KEY_ID": demo_accounts.KALSHI_KEY_ID,
        "KALSHI_PRIVATE_KEY": demo_accounts.KALSHI_PRIVATE_KEY_PEM,
        "POLY_PRIVATE_KEY": demo_accounts.POLY_PRIVATE_KEY,
        "POLY_API_KEY": demo_accounts.POLY_API_KEY,
        "POLY_API_SECRET": demo_accounts.POLY_API_SECRET,
        "POLY_API_PASSPHRASE": demo_accounts.POLY_API_PASSPHRASE,
        "POLY_SIGNATURE_TYPE": "0",
    }


def env_script(listen: dict[str, tuple[str, int]]) -> str:
    """POSIX shell lines: a comment that says what these are, the exports, and unsets of what would conflict."""
    values = {**base_urls(listen), **demo_credentials()}
    lines = ["# tradetape paper-only demo accounts: they work on the simulator only and are worth nothing elsewhere"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    lines += [f"unset {name}" for name in CONFLICTING]
    return "\n".join(lines)


@click.command("env")
@click.option("--direct", is_flag=True, help="Point at `tradetape sim` itself (9787/9788), not at the proxy.")
def env_command(direct: bool) -> None:
    """Print export lines for the clients: demo credentials and base URLs. Use: eval "$(tradetape sim env)"."""
    from .cli import DEFAULT_LISTEN as SIM_LISTEN

    click.echo(env_script(SIM_LISTEN if direct else PROXY_LISTEN))
