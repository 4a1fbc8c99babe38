"""`tradetape record` and `tradetape passthrough`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from proxy.cli.modes import runtime_factories
from proxy.cli.options import (
    Serving,
    capture_options,
    config_errors,
    limits_from_context,
    listen_options,
    parse_listeners,
    parse_upstreams,
    parse_usd,
    run,
    serve,
    simulator_for,
    upstream_options,
)
from proxy.drift.samples import DriftInputError, load
from proxy.drift.shapes import infer
from proxy.drift.watch import DriftWatch
from proxy.engine.mode import Mode, passthrough_mode
from proxy.engine.proxy import Proxy, build_listeners
from proxy.exchanges.upstream import Upstream
from proxy.record.guard import SpendingGuard, guard_addons
from proxy.record.mode import default_session_name, record_mode, session_info
from proxy.record.session import SessionError
from proxy.tape.capture_filter import build_filter, describe_filter
from proxy.tape.fixture import DRIFT
from proxy.tape.journal import JOURNAL


def summary(proxy: Proxy) -> str:
    counts = proxy.counts
    lines = [
        f"tradetape {proxy.mode.name} stopped: forwarded {counts['forwarded']}, captured {counts['captured']}, "
        f"failed {counts['failed']}, refused {counts['refused']}"
    ]
    status = proxy.mode.status()
    if "close_error" in status:
        lines.append(
            f"WARNING: session {status['session_dir']} could not be closed ({status['close_error']}): fixture files "
            f"or manifest.json are missing, but its {status['fixtures']} fixtures are whole in {JOURNAL}: "
            f"run `tradetape fsck {status['session_dir']}` once there is space"
        )
    elif "session_dir" in status:
        lines.append(f"session: {status['session_dir']} ({status['fixtures']} fixtures, manifest.json written)")
    if "drift" in status:
        found = ", ".join(f"{n} {severity}" for severity, n in status["drift"].items())
        lines.append(f"drift against {status['drift_against']}: {found} ({DRIFT} in the session when any)")
    if counts["capture_failed"]:
        lines.append(f"WARNING: {counts['capture_failed']} responses could not be written (see the log above)")
    return "\n".join(lines)


def guard_from(live: bool, max_order_usd: str, max_session_usd: str) -> SpendingGuard | None:
    order_cap = parse_usd(max_order_usd, "--max-order-usd")
    session_cap = parse_usd(max_session_usd, "--max-session-usd")
    return SpendingGuard(order_cap, session_cap) if live else None


def drift_watchers(spec: str | None) -> Callable[[Path], list[Any]] | None:
    """The --drift-against watch, its known shapes inferred once, before anything is forwarded."""
    if spec is None:
        return None
    try:
        known = infer(load(spec).samples)
    except DriftInputError as exc:
        raise click.UsageError(f"--drift-against: {exc}") from None
    return lambda directory: [DriftWatch(known, spec, directory)]


async def _record(
    listen: dict[str, tuple[str, int]],
    upstreams: dict[str, Upstream],
    directory: Path,
    name: str,
    filter_spec: str,
    guard: SpendingGuard | None,
    upstream_timeout: float,
    state: str | None,
    append: bool,
    serving: Serving,
    watchers: Callable[[Path], list[Any]] | None = None,
) -> None:
    sims = {ex for ex, u in upstreams.items() if u.is_sim}
    async with simulator_for(upstreams, state) as resolved:
        counts: Counter[str] = Counter()
        info = session_info(name, resolved, filter_spec, sims)

        def make_mode() -> Mode:  # once the ports are bound: a busy port leaves no session directory behind
            try:
                addons = guard_addons(resolved, guard, counts)
                return record_mode(directory, info, filter_spec, addons, counts, watchers, append=append)
            except SessionError as exc:
                raise click.UsageError(f"{exc.option}: {exc}") from None

        placeholder = Mode("record", forwards=False)  # until make_mode(), after the ports are bound
        proxy = serving.proxy(build_listeners(listen, resolved), placeholder, upstream_timeout, counts)
        proxy.mode_factories.update(runtime_factories(resolved, sims, directory.parent, filter_spec, guard, counts))
        intro = (f"session {directory}", f"filter  {describe_filter(filter_spec)}")
        await serve(proxy, summary, serving.token_file, intro, make_mode, serving.ready_file)


async def _passthrough(
    listen: dict[str, tuple[str, int]],
    upstreams: dict[str, Upstream],
    guard: SpendingGuard | None,
    upstream_timeout: float,
    capture_dir: Path,
    filter_spec: str,
    state: str | None,
    serving: Serving,
) -> None:
    sims = {ex for ex, u in upstreams.items() if u.is_sim}
    async with simulator_for(upstreams, state) as resolved:
        counts: Counter[str] = Counter()
        mode = passthrough_mode(guard_addons(resolved, guard, counts))
        proxy = serving.proxy(build_listeners(listen, resolved), mode, upstream_timeout, counts)
        proxy.mode_factories.update(runtime_factories(resolved, sims, capture_dir, filter_spec, guard, counts))
        await serve(proxy, summary, serving.token_file, ready_file=serving.ready_file)


@click.command()
@listen_options
@upstream_options
@capture_options(
    capture_dir_help="Where session directories are created (env CAPTURE_DIR).",
    filter_help="orders (order and fill endpoints), all, or a regular expression over the path (env CAPTURE_FILTER).",
)
@click.option("--session", "session_name", default=None, help="Session directory name (default session_<date>_<time>).")
@click.option("--append", is_flag=True, help="Add to the --session directory when it already holds a session.")
@click.option(
    "--drift-against",
    default=None,
    metavar="SOURCE",
    help="Compare each answer with the shapes of SOURCE (corpus, a corpus directory, a session or a directory "
    "of sessions): warn once per endpoint that departs, and write the findings to the session's drift.json.",
)
@config_errors
def record(
    listen: tuple[str, ...],
    allow_remote: bool,
    ready_file: Path | None,
    sim_state: str | None,
    admin_token_file: str | None,
    upstream: tuple[str, ...],
    live: bool,
    allow_live_replay: bool,
    max_order_usd: str,
    max_session_usd: str,
    upstream_timeout: float,
    capture_dir: str,
    session_name: str | None,
    append: bool,
    filter_spec: str,
    drift_against: str | None,
) -> None:
    """Forward to the exchanges and write each captured request/response as a fixture."""
    build_filter(filter_spec)
    listeners = parse_listeners(listen, allow_remote)
    upstreams = parse_upstreams(upstream, live)
    guard = guard_from(live, max_order_usd, max_session_usd)
    name = session_name or default_session_name()
    if "/" in name or name in ("", ".", ".."):
        raise click.UsageError(f"--session: {name!r} is not a directory name")
    directory, watchers = Path(capture_dir) / name, drift_watchers(drift_against)
    serving = Serving(admin_token_file, allow_live_replay, limits_from_context(), ready_file)
    run(
        _record(
            listeners,
            upstreams,
            directory,
            name,
            filter_spec,
            guard,
            upstream_timeout,
            sim_state,
            append,
            serving,
            watchers,
        )
    )


@click.command()
@listen_options
@upstream_options
@config_errors
def passthrough(
    listen: tuple[str, ...],
    allow_remote: bool,
    ready_file: Path | None,
    sim_state: str | None,
    admin_token_file: str | None,
    upstream: tuple[str, ...],
    live: bool,
    allow_live_replay: bool,
    max_order_usd: str,
    max_session_usd: str,
    upstream_timeout: float,
) -> None:
    """Forward only: no capture work at all (POST /__tradetape/mode can switch to record or replay)."""
    listeners = parse_listeners(listen, allow_remote)
    upstreams = parse_upstreams(upstream, live)
    capture_dir, filter_spec = (
        Path(os.environ.get("CAPTURE_DIR") or "./fixtures"),
        os.environ.get("CAPTURE_FILTER") or "orders",
    )
    run(
        _passthrough(
            listeners,
            upstreams,
            guard_from(live, max_order_usd, max_session_usd),
            upstream_timeout,
            capture_dir,
            filter_spec,
            sim_state,
            Serving(admin_token_file, allow_live_replay, limits_from_context(), ready_file),
        )
    )
