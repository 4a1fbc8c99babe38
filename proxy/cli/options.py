"""Options and the serve loop shared by every proxy command (record, passthrough, replay)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from proxy.admin.auth import TOKEN_FILE_ENV, TOKEN_HEADER, remove_token_file, token_file_path, write_token_file
from proxy.admin.routes import handle as admin_routes
from proxy.cli.readiness import (
    announce_ready,
    clear_ready_file,
    emit,
    prepare_ready_file,
    ready_event,
    stopped_event,
)
from proxy.engine.mode import Mode
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges import EXCHANGES, ConfigError
from proxy.exchanges.upstream import (
    DEFAULT_LISTEN,
    Upstream,
    is_loopback_host,
    parse_listen,
    resolve_upstream,
    split_assignment,
)
from proxy.wire.limits import Limits
from proxy.wire.listen_error import ListenError

READY_FILE_HELP = "Once listening, write the ready JSON line (ports, base URLs) to this file; removed at exit."


@dataclass(frozen=True, slots=True)
class Serving:
    """How a proxy command serves: its admin token file, whether admin may switch a live proxy to replay,
    and the limits on what one client may cost."""

    token_file: str | None
    allow_live_replay: bool
    limits: Limits
    ready_file: Path | None = None  # where the ready JSON line goes too

    def proxy(self, listeners: list[Listener], mode: Any, upstream_timeout: float, counts: Any) -> Proxy:
        return Proxy(
            listeners,
            mode,
            upstream_timeout,
            counts,
            admin=admin_routes,
            allow_live_replay=self.allow_live_replay,
            limits=self.limits,
        )


def _positive(kind: type) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if not (value > 0 and math.isfinite(value)):
            raise click.BadParameter("must be a positive number", ctx, param)
        ctx.meta.setdefault("tradetape.limits", {})[param.name] = kind(value)
        return value

    return check


LIMIT_OPTIONS = [
    ("--max-header-bytes", int, "Largest request line and headers; a larger one gets a 431."),
    ("--max-body-bytes", int, "Largest request body; a larger one gets a 413."),
    ("--header-timeout", float, "Seconds a client may take to send a request's headers; then a 408."),
    ("--idle-timeout", float, "Seconds a kept-alive connection may sit idle (or a body stall) before it is closed."),
    (
        "--max-connections",
        int,
        "Open client connections per listener (fewer under a low ulimit -n); the next gets 503.",
    ),
]


def limit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The five limit flags (proxy.wire.limits); a command reads them with limits_from_context()."""
    for flag, kind, text in reversed(LIMIT_OPTIONS):
        name = flag.lstrip("-").replace("-", "_")
        fn = click.option(
            flag,
            name,
            type=kind,
            default=getattr(Limits(), name),
            show_default=True,
            expose_value=False,
            callback=_positive(kind),
            help=text,
        )(fn)
    return fn


def limits_from_context() -> Limits:
    return Limits(**click.get_current_context().meta.get("tradetape.limits", {}))


def listen_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = limit_options(fn)
    fn = click.option(
        "--ready-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help=READY_FILE_HELP
    )(fn)
    fn = click.option(
        "--admin-token-file",
        envvar=TOKEN_FILE_ENV,
        default=None,
        type=click.Path(dir_okay=False),
        help=f"Where the admin token is written, mode 0600 (default ~/.tradetape/admin-token; env {TOKEN_FILE_ENV}).",
    )(fn)
    fn = click.option("--allow-remote", is_flag=True, help="Allow listening on a non-loopback address.")(fn)
    fn = click.option(
        "--listen",
        "listen",
        multiple=True,
        metavar="EXCHANGE=HOST:PORT",
        help="Listener per exchange (defaults kalshi=127.0.0.1:8787, poly=127.0.0.1:8788; port 0 picks a free port).",
    )(fn)
    return fn


def capture_options(capture_dir_help: str, filter_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--capture-dir and --filter, shared by record and replay; each says what they mean to it."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option(
            "--filter", "filter_spec", envvar="CAPTURE_FILTER", default="orders", show_default=True, help=filter_help
        )(fn)
        return click.option(
            "--capture-dir",
            envvar="CAPTURE_DIR",
            default="./fixtures",
            show_default=True,
            type=click.Path(file_okay=False),
            help=capture_dir_help,
        )(fn)

    return decorate


def upstream_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--upstream-timeout",
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds to wait for an upstream answer.",
    )(fn)
    fn = click.option(
        "--max-session-usd",
        default="50",
        show_default=True,
        help="Spending guard: worst-case loss per session, both exchanges (live upstreams).",
    )(fn)
    fn = click.option(
        "--max-order-usd",
        default="10",
        show_default=True,
        help="Spending guard: worst-case loss per order (live upstreams).",
    )(fn)
    fn = click.option(
        "--allow-live-replay",
        is_flag=True,
        help="Let the admin API switch a --live proxy to replay (or load other sources); refused otherwise.",
    )(fn)
    fn = click.option(
        "--live", is_flag=True, help="Allow a non-loopback (real exchange) upstream; enables the spending guard."
    )(fn)
    fn = click.option(
        "--upstream",
        "upstream",
        multiple=True,
        metavar="EXCHANGE=URL",
        help="scheme://host, or live, demo (Kalshi), sim (built-in simulator, the default).",
    )(fn)
    fn = click.option(
        "--state",
        "sim_state",
        type=click.Path(dir_okay=False),
        default=None,
        help="State file of the built-in simulator (as `tradetape sim --state`).",
    )(fn)
    return fn


def config_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ConfigError into a click usage error naming the flag."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None

    return wrapper


def parse_listeners(specs: tuple[str, ...], allow_remote: bool) -> dict[str, tuple[str, int]]:
    listen = dict(DEFAULT_LISTEN)
    for spec in specs:
        exchange, host, port = parse_listen(spec)
        listen[exchange] = (host, port)
    for exchange, (host, _) in listen.items():
        if not is_loopback_host(host) and not allow_remote:
            raise ConfigError(
                f"--listen: {exchange}={host} is not a loopback address; pass --allow-remote to listen there"
            )
    return listen


def parse_upstreams(specs: tuple[str, ...], live: bool) -> dict[str, Upstream]:
    upstreams = {exchange: resolve_upstream(exchange, "sim") for exchange in EXCHANGES}
    for spec in specs:
        exchange, value = split_assignment(spec, "--upstream")
        upstreams[exchange] = resolve_upstream(exchange, value)
    for upstream in upstreams.values():
        if upstream.live and not live:
            raise ConfigError(
                f"--upstream: {upstream.exchange}={upstream.url} is a real exchange; pass --live to trade real "
                "money through it (the spending guard then applies)"
            )
    return upstreams


def parse_usd(value: str, flag: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{flag}: {value!r} is not a dollar amount") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"{flag}: {value!r} must be a non-negative amount")
    return amount


@contextlib.asynccontextmanager
async def simulator_for(upstreams: dict[str, Upstream], state: str | None = None) -> AsyncIterator[dict[str, Upstream]]:
    """Start the built-in simulator in-process when an upstream is `sim`, and point those upstreams at it."""
    if not any(u.is_sim for u in upstreams.values()):
        if state is not None:
            raise click.UsageError(
                "--state: no --upstream is the built-in simulator (sim), so there is no state to load"
            )
        yield upstreams
        return
    try:
        from simulator.server import start_simulator
        from simulator.state import StateError
    except ImportError as exc:
        raise click.ClickException(f"the built-in simulator is not available ({exc}); pass --upstream") from None
    try:
        sim = await start_simulator(state)
    except StateError as exc:
        raise click.UsageError(f"--state {exc}") from None
    try:
        urls = {"kalshi": sim.kalshi_url, "poly": sim.poly_url}
        yield {ex: Upstream(ex, urls[ex], False) if u.is_sim else u for ex, u in upstreams.items()}
    finally:
        await sim.stop()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def print_listeners(proxy: Proxy, out: Any = None) -> None:
    out = out or sys.stdout
    for listener in proxy.listeners:
        print(f"{listener.exchange:<6} http://{listener.host}:{listener.port} -> {listener.upstream.url}", file=out)
    out.flush()


class StartError(click.ClickException):
    """The command cannot start (a port in use): one line, exit 2 like a usage error, nothing created."""

    exit_code = 2


def ready_file_or_fail(ready_file: Path | None) -> None:
    """A stale ready file removed and the place writable, or StartError naming the flag."""
    try:
        prepare_ready_file(ready_file)
    except OSError as exc:
        raise StartError(f"--ready-file {ready_file}: cannot write there ({exc.strerror or exc})") from None


def publish_token(proxy: Proxy, token_file: Path) -> None:
    """Print the admin token and write it to `token_file` (0600); a file that cannot be written is said."""
    try:
        write_token_file(token_file, proxy.admin_token)
        where = f"also in {token_file}"
    except OSError as exc:
        where = f"could not be written to {token_file}: {exc.strerror}"
    print(f"admin token: {proxy.admin_token} (send it as {TOKEN_HEADER}; {where})", flush=True)


async def serve(
    proxy: Proxy,
    summary: Callable[[Proxy], str],
    token_file: str | None = None,
    intro: tuple[str, ...] = (),
    make_mode: Callable[[], Mode] | None = None,
    ready_file: Path | None = None,
) -> None:
    """Bind, then set the mode `make_mode` builds (so a busy port creates nothing), say it is ready (a JSON
    line, and `ready_file`), run until SIGINT/SIGTERM, finish in-flight requests and print the summary and the
    stopped JSON line."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    ready_file_or_fail(ready_file)
    try:
        await proxy.bind()
    except ListenError as exc:
        raise StartError(str(exc)) from None
    if make_mode is not None:
        try:
            proxy.switch(make_mode())
        except BaseException:
            await proxy.stop(grace=0)
            raise
    await proxy.start()
    print(f"tradetape {proxy.mode.name}: listening (Ctrl-C to stop)")
    print_listeners(proxy)
    for line in intro:
        print(line, flush=True)
    path = token_file_path(token_file)
    publish_token(proxy, path)
    urls = {listener.exchange: proxy.url(listener.exchange) for listener in proxy.listeners}
    facts = {"mode": proxy.mode.name, **session_of(proxy), "admin_token_file": str(path)}
    announce_ready(ready_event(urls, **facts), ready_file)
    try:
        await stop.wait()
    finally:
        await proxy.stop()
        clear_ready_file(ready_file)
        remove_token_file(path, proxy.admin_token)
        print(summary(proxy), flush=True)
        emit(stopped_event(proxy))


def session_of(proxy: Proxy) -> dict[str, Any]:
    status = proxy.mode.status()
    return {"session": status["session_dir"]} if "session_dir" in status else {}


def run(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)
