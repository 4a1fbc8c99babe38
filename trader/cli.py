"""`tradetape trader`: ledger positions, restart recovery, one arbitrage, and the arb engine (`run`).

The clients are built from the environment (KALSHI_BASE_URL / POLY_CLOB_URL choose where requests
go, e.g. a tradetape proxy) and imported only by the commands that trade.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from trader.arb import ArbResult, Policy, execute_arb
from trader.execute import LegResult, is_ambiguous
from trader.ledger import DEFAULT_PATH, Ledger
from trader.legs import Leg, Opportunity
from trader.recovery import RecoveryPolicy, RecoveryReport, recover


class DecimalType(click.ParamType):
    name = "decimal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number", param, ctx)
        if not parsed.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return parsed


DECIMAL = DecimalType()


def _split_order(spec: str, fields: int, form: str) -> tuple[list[str], Decimal, Decimal]:
    """`A:B:...:COUNT@PRICE` into its leading fields, count and price; ValueError names the form."""
    head, at, price = spec.rpartition("@")
    parts = head.split(":") if at else []
    if len(parts) != fields + 1 or not all(parts):
        raise ValueError(f"{spec!r} is not of the form {form}")
    try:
        return parts[:-1], Decimal(parts[-1]), Decimal(price)
    except InvalidOperation:
        raise ValueError(f"{spec!r}: count and price must be decimal numbers ({form})") from None


def kalshi_leg(spec: str, tick_size: Decimal | None = None) -> Leg:
    """`TICKER:yes|no:buy|sell:COUNT@PRICE`, PRICE being the outcome's limit in dollars."""
    (ticker, outcome, action), count, price = _split_order(spec, 3, "TICKER:yes|no:buy|sell:COUNT@PRICE")
    return Leg("kalshi", ticker, action, count, price, outcome, tick_size)  # type: ignore[arg-type]  # typed str: Leg checks the words


def poly_leg(spec: str, tick_size: Decimal, neg_risk: bool) -> Leg:
    """`TOKEN_ID:buy|sell:COUNT@PRICE`, COUNT in shares."""
    (token, action), count, price = _split_order(spec, 2, "TOKEN_ID:buy|sell:COUNT@PRICE")
    return Leg("poly", token, action, count, price, None, tick_size, neg_risk)  # type: ignore[arg-type]  # Leg checks action


def _leg_or_fail(build: Any, option: str, *args: Any) -> Leg:
    try:
        return build(*args)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@asynccontextmanager
async def open_clients() -> AsyncIterator[tuple[Any, Any]]:
    """Both clients from the environment; refuses (ClickException) without credentials."""
    from clients.kalshi import KalshiClient
    from clients.polymarket import PolymarketClient

    try:
        kalshi, poly = KalshiClient.from_env(), PolymarketClient.from_env()
    except ValueError as exc:
        raise click.ClickException(f"bad exchange configuration: {exc}") from None
    missing = []
    if kalshi.key_id is None:
        missing.append("Kalshi (KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH or KALSHI_PRIVATE_KEY)")
    if poly.address is None or poly.creds is None:
        missing.append("Polymarket (POLY_PRIVATE_KEY, POLY_API_KEY, POLY_API_SECRET, POLY_API_PASSPHRASE)")
    if missing:  # nothing to close yet: the clients open their sessions on first use
        raise click.ClickException("credentials missing for " + " and ".join(missing) + "; refusing to run")
    async with kalshi, poly:
        yield kalshi, poly


def _ledger_option(must_exist: bool) -> Any:
    return click.option(
        "--ledger",
        "ledger_path",
        default=DEFAULT_PATH,
        show_default=True,
        type=click.Path(dir_okay=False, exists=must_exist, path_type=Path),
        help="the SQLite ledger file",
    )


def _seconds_option(name: str, default: float, help: str) -> Any:
    return click.option(name, type=click.FloatRange(min=0), default=default, show_default=True, help=help)


@click.group()
def trader() -> None:
    """Trade through the clients (base URLs and credentials from the environment) and keep the ledger."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@trader.command()
@_ledger_option(must_exist=True)
def positions(ledger_path: Path) -> None:
    """Positions per instrument derived from the ledger's fills (Kalshi: + YES / - NO), open intents and
    open exposures."""
    with Ledger(ledger_path) as ledger:
        held = ledger.positions()
        open_intents = ledger.intents(open_only=True)
        exposures = ledger.exposure_records(open_only=True)
    if not held:
        click.echo("no fills in the ledger")
    for (exchange, instrument), quantity in held.items():
        click.echo(f"{exchange:6} {instrument}  {quantity}")
    for intent in open_intents:
        click.echo(
            f"open intent {intent.key}: {intent.leg.describe()} ({intent.state}), run `tradetape trader recover`"
        )
    for record in exposures:
        outcome = f" {record.outcome}" if record.outcome else ""
        click.echo(
            f"open exposure of arb {record.arb_id}: {record.exchange} {record.instrument}{outcome}"
            f" {record.action} {record.quantity} ({record.policy})"
        )


@trader.command(name="recover")
@click.option(
    "--policy",
    type=click.Choice(["hold", "unwind"]),
    default="hold",
    show_default=True,
    help="what to do with exposure an arb settled now turns out to have: alert only, or close it",
)
@click.option("--max-unwind-slippage", type=DECIMAL, default=Decimal("0.05"), show_default=True)
@_seconds_option(
    "--not-found-window",
    RecoveryPolicy().not_found_window,
    "seconds after the send before an order the exchange does not know is taken as never placed",
)
@_seconds_option(
    "--recheck-delay", RecoveryPolicy().recheck_delay, "seconds between the two reads that must agree it does not exist"
)
@_ledger_option(must_exist=True)  # a new, empty ledger would compare nothing and could report clean
def recover_command(
    policy: str, max_unwind_slippage: Decimal, not_found_window: float, recheck_delay: float, ledger_path: Path
) -> None:
    """Settle intents whose outcome is unknown, book fills from the exchanges' records, settle the arbs this
    touched, then compare positions with the exchanges. Exit 1 unless clean."""
    try:
        rules = Policy("unwind", max_unwind_slippage) if policy == "unwind" else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-unwind-slippage") from None
    settle = RecoveryPolicy(not_found_window=not_found_window, recheck_delay=recheck_delay)
    report = asyncio.run(_recover(ledger_path, rules, settle))
    click.echo(format_report(report))
    if not report.clean:
        raise SystemExit(1)


async def _recover(ledger_path: Path, policy: Policy | None, settle: RecoveryPolicy) -> RecoveryReport:
    async with open_clients() as (kalshi, poly):
        with Ledger(ledger_path) as ledger:
            return await recover(ledger, kalshi, poly, policy=policy, settle=settle)


def format_report(report: RecoveryReport) -> str:
    lines = [f"resolved {r.key}: {r.leg.describe()} -> {r.state} {r.filled} ({r.note})" for r in report.resolved]
    lines += [f"rebooked {r.key}: {r.leg.describe()} -> {r.state} {r.filled} ({r.note})" for r in report.rebooked]
    lines += [f"UNRESOLVED {u.key}: {u.leg.describe()}: {u.reason}" for u in report.unresolved]
    for settled in report.arbs:
        lines += [f"arb {settled.arb_id}: exposure {e.describe()}" for e in settled.exposure]
        lines += [_leg_line(u, f"arb {settled.arb_id}: unwind ") for u in settled.unwinds]
    lines += [
        f"DIFFERENCE {d.exchange} {d.instrument}: ledger {d.ledger}, exchange {d.exchange_position}"
        for d in report.differences
    ]
    lines += [f"note: {n}" for n in report.notes]
    lines += [f"ALERT {a}" for a in report.alerts]
    lines.append("clean: ledger and exchanges agree" if report.clean else "NOT clean")
    return "\n".join(lines)


@trader.command()
@click.option("--kalshi", "kalshi_spec", required=True, metavar="TICKER:yes|no:buy|sell:COUNT@PRICE")
@click.option("--poly", "poly_spec", required=True, metavar="TOKEN_ID:buy|sell:COUNT@PRICE")
@click.option("--kalshi-tick-size", type=DECIMAL, default=None, help="Kalshi price grid (default 0.01)")
@click.option("--poly-tick-size", type=DECIMAL, default=Decimal("0.01"), show_default=True)
@click.option("--neg-risk/--no-neg-risk", default=False, show_default=True, help="Polymarket neg-risk market")
@click.option("--edge", type=DECIMAL, default=Decimal(0), show_default=True, help="expected edge per contract")
@click.option("--policy", type=click.Choice(["unwind", "hold"]), default="unwind", show_default=True)
@click.option("--max-unwind-slippage", type=DECIMAL, default=Decimal("0.05"), show_default=True)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True, help="seconds per order"
)
@_ledger_option(must_exist=False)
def arb(
    kalshi_spec: str,
    poly_spec: str,
    kalshi_tick_size: Decimal | None,
    poly_tick_size: Decimal,
    neg_risk: bool,
    edge: Decimal,
    policy: str,
    max_unwind_slippage: Decimal,
    timeout: float,
    ledger_path: Path,
) -> None:
    """Place one arbitrage (both legs at once) and report it. Exit 1 if exposure is left or a leg is unknown."""
    opportunity = Opportunity(
        _leg_or_fail(kalshi_leg, "--kalshi", kalshi_spec, kalshi_tick_size),
        _leg_or_fail(poly_leg, "--poly", poly_spec, poly_tick_size, neg_risk),
        edge,
    )
    try:
        rules = Policy(policy, max_unwind_slippage, timeout)  # type: ignore[arg-type]  # click.Choice: a Literal value
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-unwind-slippage") from None
    result = asyncio.run(_arb(opportunity, rules, ledger_path))
    click.echo(format_arb(result))
    if result.residual or result.uncertain:
        raise SystemExit(1)


async def _arb(opportunity: Opportunity, policy: Policy, ledger_path: Path) -> ArbResult:
    async with open_clients() as (kalshi, poly):
        with Ledger(ledger_path) as ledger:
            return await execute_arb(kalshi, poly, opportunity, ledger, policy)


def _leg_line(r: LegResult, label: str = "") -> str:
    """`kalshi TICKER yes buy 10@0.52: filled 10/10 avg 0.52`; an error the leg recovered from is said as such."""
    price = f" avg {r.avg_price}" if r.avg_price is not None else ""
    error = ""
    if r.error is not None:
        cause = f"{type(r.error).__name__}: {r.error}"
        settled = r.status != "unknown" and is_ambiguous(r.error)  # the answer was lost, the look-up found the order
        error = f" (after {cause}; settled by a look-up)" if settled else f" ({cause})"
    return f"{label}{r.leg.describe()}: {r.status} {r.filled}/{r.requested}{price}{error}"


def format_arb(result: ArbResult) -> str:
    lines = [
        f"arb {result.arb_id}",
        _leg_line(result.kalshi),
        _leg_line(result.poly),
        f"matched {result.matched}",
    ]
    lines += [f"exposure {e.describe()}" for e in result.exposure]
    lines += [_leg_line(u, "unwind ") for u in result.unwinds]
    lines += [f"ALERT {a}" for a in result.alerts]
    return "\n".join(lines)


@trader.command(name="run")
@click.option(
    "--pairs",
    "pairs_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the pairs file (TOML: pairs, defaults, risk limits)",
)
@_ledger_option(must_exist=False)
@click.option("--dry-run", is_flag=True, help="log the arbs it would take; send nothing")
@click.option("--status/--no-status", default=None, help="the live view (default: on when stdout is a terminal)")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="decision log lines go here (default: stderr; with the live view, <ledger>.log)",
)
@click.option(
    "--not-found-window",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="seconds after which recovery believes an exchange that knows no such order",
)
def run_command(
    pairs_path: Path,
    ledger_path: Path,
    dry_run: bool,
    status: bool | None,
    log_file: Path | None,
    not_found_window: float,
) -> None:
    """Trade the pairs' arbitrages from both exchanges' feeds (recovering first). Exit 3 on the kill switch."""
    from trader.pairs import PairsError, load_pairs

    try:
        config = load_pairs(pairs_path)
    except PairsError as exc:
        raise click.BadParameter(str(exc), param_hint="--pairs") from None
    view = sys.stdout.isatty() if status is None else status
    _engine_logging(log_file or (ledger_path.with_suffix(".log") if view else None))
    reason = asyncio.run(_run(config, ledger_path, dry_run, view, not_found_window))
    if reason is not None:
        click.echo(f"stopped by the kill switch: {reason}", err=True)
        raise SystemExit(3)


def _engine_logging(path: Path | None) -> None:
    """Decision lines (INFO on trader.engine) to `path`, or to stderr."""
    handler: logging.Handler = logging.FileHandler(path) if path is not None else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    engine_log = logging.getLogger("trader.engine")
    engine_log.setLevel(logging.INFO)
    engine_log.addHandler(handler)
    engine_log.propagate = False


async def _run(config: Any, ledger_path: Path, dry_run: bool, view: bool, window: float) -> str | None:
    from clients.kalshi.feed import KalshiFeed
    from clients.polymarket.feed import PolymarketFeed
    from trader.engine import Engine
    from trader.recovery import RecoveryPolicy
    from trader.status import CLEAR, render, show

    stale = config.limits.stale_after_s
    try:
        kalshi_feed = KalshiFeed.from_env([p.kalshi_ticker for p in config.pairs], stale_after=stale)
    except ValueError as exc:
        raise click.ClickException(f"Kalshi feed: {exc}") from None
    tokens = [t for p in config.pairs for t in p.poly_tokens]
    poly_feed = PolymarketFeed.from_env(tokens, [p.poly_condition_id for p in config.pairs], stale_after=stale)
    async with open_clients() as (kalshi, poly):
        with Ledger(ledger_path) as ledger:
            engine = Engine(
                config,
                kalshi,
                poly,
                kalshi_feed,
                poly_feed,
                ledger,
                dry_run=dry_run,
                settle=RecoveryPolicy(not_found_window=window),
            )
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, engine.stop)
            viewer = asyncio.create_task(show(engine, sys.stdout)) if view else None
            try:
                return await engine.run()
            finally:
                if viewer is not None:
                    viewer.cancel()
                    sys.stdout.write(CLEAR + render(engine) + "\n")
