"""`tradetape scenarios list | capture | run`."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path

import click

from proxy.exchanges.pricing import worst_case
from proxy.record.guard import SpendingGuard
from trader.cli import DECIMAL, kalshi_leg, poly_leg

from .canon import Legs
from .catalogue import SCENARIOS, Scenario, select
from .e2e_catalogue import E2E_BY_NAME, E2E_SCENARIOS, E2EScenario
from .e2e_catalogue import capture as capture_e2e
from .e2e_catalogue import replay as replay_e2e
from .harness import Outcome, capture, capture_live, replay

FIXTURES = Path("fixtures")


def scenarios_or_fail(names: tuple[str, ...]) -> list[Scenario]:
    try:
        return select(names)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="NAME") from None


def quiet() -> None:
    """The trader's and the feeds' warnings are what the scenarios provoke: the outcome lines say what matters."""
    logging.getLogger("trader").setLevel(logging.CRITICAL)
    logging.getLogger("clients").setLevel(logging.CRITICAL)


def split_names(names: tuple[str, ...]) -> tuple[list[Scenario], list[E2EScenario]]:
    """The catalogue's replayed scenarios and the end-to-end ones among `names` (all of both when none)."""
    if not names:
        return list(SCENARIOS), list(E2E_SCENARIOS)
    e2e = [E2E_BY_NAME[n] for n in names if n in E2E_BY_NAME]
    rest = tuple(n for n in names if n not in E2E_BY_NAME)
    return (scenarios_or_fail(rest) if rest else []), e2e


def outcome_lines(outcome: Outcome) -> list[str]:
    verdict = "ok" if outcome.ok else "FAILED"
    lines = [f"{outcome.phase} {outcome.scenario}: {verdict} ({outcome.fixtures} fixtures, {outcome.seconds:.2f} s)"]
    lines += [f"    {failure}" for failure in outcome.failures]
    return lines


@click.group()
def scenarios() -> None:
    """The scenario catalogue: capture each scenario through the proxy, replay it through the real code."""


@scenarios.command("list")
def list_command() -> None:
    """Every scenario: what triggers it, what it tests, and the fixtures it replays."""
    for s in SCENARIOS:
        kind = "captured" if s.captured else "composed of " + " + ".join(s.composed_of)
        click.echo(f"{s.name:<30} {s.exchange:<7} {s.how}")
        click.echo(f"{'':<38} tests: {s.tests}; {kind}")
    for e in E2E_SCENARIOS:
        click.echo(f"{e.name:<30} {e.exchange:<7} {e.how}")
        click.echo(f"{'':<38} tests: {e.tests}; the engine end to end, captured (REST and WebSocket)")


def live_plan(chosen: list[Scenario], legs: Legs) -> tuple[list[Scenario], Decimal, list[str]]:
    """The scenarios that can run live, the money at risk, and the lines that say so."""
    runnable = [s for s in chosen if s.live_capturable]
    lines, total = [], Decimal(0)
    for s in chosen:
        if not s.live_capturable or s.role is None:  # live_capturable means a role: said again for the type
            why = "needs the simulator (fault injection)" if s.captured else "composed from captured ones"
            lines.append(f"  skip {s.name}: {why}")
            continue
        leg = legs.role(s.role)
        risk = worst_case(leg.action == "buy", leg.count, leg.price)
        total += risk
        lines.append(f"  {s.name}: {s.how}. Places {leg.describe()}: worst case ${risk:.2f}")
    return runnable, total, lines


@scenarios.command("capture")
@click.argument("names", nargs=-1)
@click.option(
    "--upstream",
    type=click.Choice(["sim", "live"]),
    default="sim",
    show_default=True,
    help="sim: a fresh built-in simulator per scenario; live: the production exchanges (needs --live).",
)
@click.option("--live", is_flag=True, help="Confirm that real orders with real money will be placed.")
@click.option("--fixtures-dir", type=click.Path(file_okay=False, path_type=Path), default=FIXTURES, show_default=True)
@click.option("--kalshi", "kalshi_spec", help="Live: the Kalshi entry leg, TICKER:yes|no:buy|sell:COUNT@PRICE.")
@click.option("--poly", "poly_spec", help="Live: the Polymarket entry leg, TOKEN_ID:buy|sell:COUNT@PRICE.")
@click.option("--poly-tick-size", type=DECIMAL, default=Decimal("0.01"), show_default=True)
@click.option("--neg-risk/--no-neg-risk", default=False, show_default=True)
@click.option("--max-order-usd", type=DECIMAL, default=Decimal("10"), show_default=True)
@click.option("--max-session-usd", type=DECIMAL, default=Decimal("50"), show_default=True)
@click.option("--yes", is_flag=True, help="Live: do not ask for confirmation.")
def capture_command(
    names: tuple[str, ...],
    upstream: str,
    live: bool,
    fixtures_dir: Path,
    kalshi_spec: str | None,
    poly_spec: str | None,
    poly_tick_size: Decimal,
    neg_risk: bool,
    max_order_usd: Decimal,
    max_session_usd: Decimal,
    yes: bool,
) -> None:
    """Record each single-exchange scenario (and each e2e_* one: the engine, REST and WebSocket) through the proxy
    into FIXTURES_DIR/<name>/."""
    classic, e2e = split_names(names)
    if upstream != "sim":
        if names and e2e:
            raise click.UsageError(f"{', '.join(s.name for s in e2e)}: end-to-end scenarios need the simulator")
        e2e = []
    chosen = [s for s in classic if s.captured]
    quiet()
    if upstream == "sim":
        outcomes = asyncio.run(_capture_sim(chosen, fixtures_dir)) + asyncio.run(_capture_e2e(e2e, fixtures_dir))
    else:
        outcomes = _capture_live(
            chosen,
            fixtures_dir,
            live,
            kalshi_spec,
            poly_spec,
            poly_tick_size,
            neg_risk,
            SpendingGuard(max_order_usd, max_session_usd),
            yes,
        )
    for outcome in outcomes:
        click.echo("\n".join(outcome_lines(outcome)))
    if upstream == "sim" and not all(o.ok for o in outcomes):
        raise SystemExit(1)


async def _capture_sim(chosen: list[Scenario], fixtures_dir: Path) -> list[Outcome]:
    return [await capture(s, fixtures_dir) for s in chosen]


async def _capture_e2e(chosen: list[E2EScenario], fixtures_dir: Path) -> list[Outcome]:
    return [await capture_e2e(s, fixtures_dir) for s in chosen]


def _capture_live(
    chosen: list[Scenario],
    fixtures_dir: Path,
    live: bool,
    kalshi_spec: str | None,
    poly_spec: str | None,
    tick: Decimal,
    neg_risk: bool,
    guard: SpendingGuard,
    yes: bool,
) -> list[Outcome]:
    if not live:
        raise click.UsageError("--upstream live places real orders with real money: add --live to confirm")
    if not kalshi_spec or not poly_spec:
        raise click.UsageError("--upstream live needs --kalshi and --poly: the legs to trade on markets that exist")
    try:
        legs = Legs(kalshi_leg(kalshi_spec), poly_leg(poly_spec, tick, neg_risk))
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--kalshi/--poly") from None
    runnable, total, lines = live_plan(chosen, legs)
    click.echo(
        "Live capture plan (credentials from the environment; spending guard "
        f"${guard.max_order}/order, ${guard.max_session}/session):"
    )
    click.echo("\n".join(lines))
    click.echo(
        f"Money at risk, worst case: ${total:.2f}. Expectations were written for the simulator's books: "
        "live observations are reported, not judged."
    )
    if not yes:
        click.confirm("Place these orders?", abort=True)
    return asyncio.run(_run_live(runnable, fixtures_dir, legs, guard))


async def _run_live(runnable: list[Scenario], fixtures_dir: Path, legs: Legs, guard: SpendingGuard) -> list[Outcome]:
    return [await capture_live(s, fixtures_dir, legs, guard) for s in runnable]


@scenarios.command("run")
@click.argument("names", nargs=-1)
@click.option("--fixtures-dir", type=click.Path(file_okay=False, path_type=Path), default=FIXTURES, show_default=True)
def run_command(names: tuple[str, ...], fixtures_dir: Path) -> None:
    """Replay each scenario's fixtures through the real client and trader code (the e2e_* ones through the arb
    engine, causal) and check its expectations."""
    chosen, e2e = split_names(names)
    quiet()
    outcomes = asyncio.run(_replay_all(chosen, fixtures_dir)) + asyncio.run(_replay_e2e(e2e, fixtures_dir))
    for outcome in outcomes:
        click.echo("\n".join(outcome_lines(outcome)))
    passed = sum(o.ok for o in outcomes)
    click.echo(f"{passed} passed, {len(outcomes) - passed} failed")
    if passed != len(outcomes):
        raise SystemExit(1)


async def _replay_all(chosen: list[Scenario], fixtures_dir: Path) -> list[Outcome]:
    return [await replay(s, fixtures_dir) for s in chosen]


async def _replay_e2e(chosen: list[E2EScenario], fixtures_dir: Path) -> list[Outcome]:
    return [await replay_e2e(s, fixtures_dir) for s in chosen]
