"""`tradetape replay SOURCE...`: serve captured sessions back, never contacting an exchange."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click

from proxy.cli.modes import forwarding_factories
from proxy.cli.options import (
    Serving,
    capture_options,
    config_errors,
    limits_from_context,
    listen_options,
    parse_listeners,
    parse_upstreams,
    run,
    serve,
    simulator_for,
    upstream_options,
)
from proxy.cli.record import guard_from
from proxy.cli.record import summary as forwarding_summary
from proxy.engine.proxy import Proxy, build_listeners
from proxy.exchanges.upstream import Upstream, no_upstreams
from proxy.record.guard import SpendingGuard
from proxy.replay.pacing import PACINGS
from proxy.replay.replayer import ON_EXHAUSTED, ReplayOptions, find_replayer, replay_factory
from proxy.replay.sources import SourceError
from proxy.replay.volatile import volatile_sets
from proxy.tape.capture_filter import build_filter
from proxy.tape.fixture import FixtureError


def replay_summary(proxy: Proxy) -> str:
    replayer = find_replayer(proxy.mode)
    if replayer is None:
        return forwarding_summary(proxy)
    counts = proxy.counts
    lines = [f"tradetape replay stopped: replayed {counts['replayed']}, unmatched {counts['unmatched']}"]
    lines += replayer.problems()
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def _upstreams(upstreams: dict[str, Upstream] | None, state: str | None) -> AsyncIterator[dict[str, Upstream]]:
    if upstreams is None:
        if state is not None:
            raise click.UsageError("--state: replay starts the built-in simulator only with --upstream ...=sim")
        yield no_upstreams()
        return
    async with simulator_for(upstreams, state) as resolved:
        yield resolved


async def _replay(
    listen: dict[str, tuple[str, int]],
    sources: list[str],
    capture_dir: Path,
    ignore_fields: tuple[str, ...],
    options: ReplayOptions,
    upstreams: dict[str, Upstream] | None,
    filter_spec: str,
    guard: SpendingGuard | None,
    upstream_timeout: float,
    outcome: dict[str, Any],
    state: str | None,
    serving: Serving,
) -> None:
    counts: Counter[str] = Counter()
    make_replay = replay_factory(sources, capture_dir, volatile_sets(ignore_fields), options, counts)
    try:
        mode = make_replay({})
    except (FixtureError, SourceError) as exc:
        raise click.ClickException(str(exc)) from None
    replayer = find_replayer(mode)
    assert replayer is not None
    for warning in replayer.loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    sims = {ex for ex, u in (upstreams or {}).items() if u.is_sim}
    async with _upstreams(upstreams, state) as resolved:
        proxy = serving.proxy(build_listeners(listen, resolved), mode, upstream_timeout, counts)
        proxy.mode_factories["replay"] = make_replay
        if upstreams is not None:
            proxy.mode_factories.update(forwarding_factories(resolved, sims, capture_dir, filter_spec, guard, counts))
        await serve(proxy, replay_summary, serving.token_file, ready_file=serving.ready_file)
    final = find_replayer(proxy.mode)
    outcome["problems"] = bool(final and final.problems())


@click.command()
@click.argument("sources", nargs=-1, required=True)
@listen_options
@upstream_options
@capture_options(
    capture_dir_help="Where scenario names are resolved (and where a runtime switch to record writes; "
    "env CAPTURE_DIR).",
    filter_help="Capture filter for a runtime switch to record (env CAPTURE_FILTER).",
)
@click.option(
    "--ignore-field",
    "ignore_fields",
    multiple=True,
    metavar="EXCHANGE:JSONPOINTER",
    help="Another volatile request field: poly:/order/nonce (JSON pointer), a bare name (any depth), or ?name "
    "(a query parameter, e.g. kalshi:?since).",
)
@click.option(
    "--on-exhausted",
    type=click.Choice(ON_EXHAUSTED),
    default="error",
    show_default=True,
    help="When every recording of a request has been served: a 599 error, or the last one again.",
)
@click.option("--strict-order", is_flag=True, help="Requests must arrive in the recorded order of their exchange.")
@click.option(
    "--latency", default="none", show_default=True, help="none | recorded | scale:FACTOR | fixed:MILLISECONDS"
)
@click.option(
    "--ws-pacing",
    type=click.Choice(PACINGS),
    default="causal",
    show_default=True,
    help="WebSocket messages: causal (after what preceded them in the recording happened live), timed, or fast.",
)
@click.option("--speed", type=float, default=1.0, show_default=True, help="timed pacing: recorded offsets / SPEED.")
@click.option(
    "--causal-timeout",
    type=float,
    default=5.0,
    show_default=True,
    help="causal pacing: seconds a REST answer waits for the WebSocket events recorded before it.",
)
@click.option("--step", is_flag=True, help="Hold every exchange message until POST /__tradetape/ws/step.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit non-zero when fixtures or messages are left unused or requests or messages went unmatched.",
)
@config_errors
def replay(
    sources: tuple[str, ...],
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
    filter_spec: str,
    ignore_fields: tuple[str, ...],
    on_exhausted: str,
    strict_order: bool,
    latency: str,
    ws_pacing: str,
    speed: float,
    causal_timeout: float,
    step: bool,
    strict: bool,
) -> None:
    """Answer from captured sessions, in recorded order; never contact an exchange.

    SOURCE is a session directory, a fixture file or a scenario name (under --capture-dir). Several
    sources compose one replay, each in its own order. --upstream is only needed to allow switching to
    record or passthrough at runtime (POST /__tradetape/mode).
    """
    listeners = parse_listeners(listen, allow_remote)
    options = ReplayOptions(on_exhausted, strict_order, latency, ws_pacing, speed, causal_timeout, step)
    volatile_sets(ignore_fields)  # bad --ignore-field fails before anything starts
    upstreams = parse_upstreams(upstream, live) if upstream else None
    build_filter(filter_spec)
    guard = guard_from(live, max_order_usd, max_session_usd)
    outcome: dict[str, Any] = {}
    run(
        _replay(
            listeners,
            list(sources),
            Path(capture_dir),
            ignore_fields,
            options,
            upstreams,
            filter_spec,
            guard,
            upstream_timeout,
            outcome,
            sim_state,
            Serving(admin_token_file, allow_live_replay, limits_from_context(), ready_file),
        )
    )
    if strict and outcome.get("problems"):
        raise click.exceptions.Exit(1)
