"""Execute an arbitrage: both legs at once, then reconcile what filled and deal with the excess.

matched = the smaller entry fill; what the fills leave unhedged is exposure (`trader.exposure`).
Policy `unwind` closes it at once with one immediate order at most `max_unwind_slippage` worse than
the leg's entry price and reports what that achieved (the residual, from everything the orders
filled, in either direction); policy `hold` records it and alerts. A leg whose outcome is unknown
(lost answer) is looked up once; if it stays unknown nothing is unwound, since closing a position
that may be hedged after all would create the exposure it meant to remove: `recover()` settles the
leg later and then applies the policy through `settle_arb`. The ledger's exposures table follows
every step: open rows are the arb's exposure as it stands, closed rows say what closed them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, cast

from trader.decisions import Decision
from trader.exchanges import Client, KalshiTrading, PolyTrading
from trader.execute import LegResult, Prepared, Sent, prepare_leg, result_from_booking, send_leg, start_leg
from trader.exposure import Exposure, direction, imbalance
from trader.ledger import Intent, Ledger
from trader.legs import Leg, Opportunity
from trader.lookup import resolve

__all__ = ["ArbResult", "ArbSettlement", "Exposure", "Policy", "execute_arb", "launch_arb", "settle_arb"]

log = logging.getLogger("trader")


@dataclass(frozen=True, slots=True)
class Policy:
    """How `execute_arb` handles exposure; `leg_timeout` bounds each order's round trip (seconds)."""

    on_exposure: Literal["unwind", "hold"] = "unwind"
    max_unwind_slippage: Decimal = Decimal("0.05")
    leg_timeout: float | None = 10.0
    resolve_unknown: bool = True

    def __post_init__(self) -> None:
        if self.on_exposure not in ("unwind", "hold"):
            raise ValueError(f"Policy.on_exposure must be 'unwind' or 'hold', got {self.on_exposure!r}")
        if not isinstance(self.max_unwind_slippage, Decimal) or not 0 <= self.max_unwind_slippage < 1:
            raise ValueError(
                f"Policy.max_unwind_slippage must be a Decimal in [0, 1), got {self.max_unwind_slippage!r}"
            )


@dataclass(frozen=True, slots=True)
class ArbResult:
    """Both legs, the matched quantity, the exposure they left, the unwind attempts and what remains.

    `uncertain` means a leg's outcome is unknown: exposure is then computed from the fills seen so far
    and nothing was unwound; run `recover()`.
    """

    arb_id: str
    opportunity: Opportunity
    kalshi: LegResult
    poly: LegResult
    matched: Decimal
    exposure: tuple[Exposure, ...]
    unwinds: tuple[LegResult, ...]
    residual: tuple[Exposure, ...]
    policy: Policy
    alerts: tuple[str, ...] = field(default=())

    @property
    def uncertain(self) -> bool:
        return any(r.status == "unknown" for r in (self.kalshi, self.poly, *self.unwinds))


@dataclass(frozen=True, slots=True)
class ArbSettlement:
    """What `settle_arb` found an arb's orders left, the unwinds it placed and what remains."""

    arb_id: str
    exposure: tuple[Exposure, ...]
    unwinds: tuple[LegResult, ...]
    residual: tuple[Exposure, ...]
    alerts: tuple[str, ...]


async def execute_arb(
    kalshi: KalshiTrading, poly: PolyTrading, opportunity: Opportunity, ledger: Ledger | None, policy: Policy = Policy()
) -> ArbResult:
    """Place both legs concurrently, reconcile, and apply `policy` to any exposure."""
    return await launch_arb(kalshi, poly, opportunity, ledger, policy)


def launch_arb(
    kalshi: KalshiTrading,
    poly: PolyTrading,
    opportunity: Opportunity,
    ledger: Ledger | None,
    policy: Policy = Policy(),
    *,
    decisions: Sequence[Decision] = (),
    arb_id: str | None = None,
) -> Coroutine[Any, Any, ArbResult]:
    """Start an arb now and return what finishes it: both legs built and signed, both intents and the `decisions`
    that took the arb committed in one transaction (one fsync, both durable before either order leaves), then both
    orders sent at once (on the clients' order lanes, written before this returns). Await the result to reconcile;
    a ledger that cannot commit raises here, with nothing sent. Needs a running event loop. `arb_id`
    is the caller's when its decision to take the arb names it (new_arb_id()), else a new one."""
    arb_id = arb_id or new_arb_id()
    clients: dict[str, Client] = {"kalshi": kalshi, "poly": poly}
    sends = _launch(
        clients, (opportunity.kalshi, opportunity.poly), ledger, policy, "entry", arb_id, decisions, together=True
    )
    return _reconcile(clients, opportunity, arb_id, sends, ledger, policy)


def new_arb_id() -> str:
    """An arb's id: a UUID4, made before the arb when the decision that takes it is to name it."""
    return str(uuid.uuid4())


async def _reconcile(
    clients: dict[str, Client],
    opportunity: Opportunity,
    arb_id: str,
    sends: Awaitable[list[LegResult | BaseException]],
    ledger: Ledger | None,
    policy: Policy,
) -> ArbResult:
    """Wait for both legs, then the exposure they left and the policy's answer to it."""
    entries = (opportunity.kalshi, opportunity.poly)
    legs = [_unknown_on_crash(leg, outcome) for leg, outcome in zip(entries, await sends, strict=True)]
    k, p = legs
    exposure = imbalance(entries, _filled(legs))
    alerts = [
        f"{r.leg.describe()}: outcome unknown (key {r.key}); nothing unwound, run `tradetape trader recover`"
        for r in legs
        if r.status == "unknown"
    ]
    _track(ledger, arb_id, exposure, policy.on_exposure, "entries")
    unwinds: list[LegResult] = []
    if exposure and not alerts and policy.on_exposure == "unwind":
        unwinds = await _unwind(clients, exposure, {r.leg: r.avg_price for r in legs}, ledger, policy, arb_id)
    residual = imbalance(entries, _filled([*legs, *unwinds]))
    if unwinds:
        _track(ledger, arb_id, residual, policy.on_exposure, _by_unwinds(unwinds))
    alerts += _unwind_alerts(unwinds, residual, policy.on_exposure)
    for alert in alerts:
        log.warning("arb %s: %s", arb_id, alert)
    return ArbResult(
        arb_id, opportunity, k, p, min(k.filled, p.filled), exposure, tuple(unwinds), residual, policy, tuple(alerts)
    )


def _launch(
    clients: dict[str, Client],
    legs: Sequence[Leg],
    ledger: Ledger | None,
    policy: Policy,
    purpose: str,
    arb_id: str,
    decisions: Sequence[Decision] = (),
    *,
    together: bool = False,
) -> asyncio.Future[list[LegResult | BaseException]]:
    """Build every leg, commit their intents (and `decisions`) in one transaction, then send every order at once, in
    order (on the clients' order lanes their bytes are written before this returns), and gather what finishes
    them; a leg that cannot be built is rejected (or, raising outside the taxonomy, unknown) and the others still
    go, unless they go `together` (an arb's entries: `_all_or_none`)."""
    prepared = [_prepare(clients[leg.exchange], leg) for leg in legs]
    if together:
        prepared = _all_or_none(prepared)
    ready = [p for p in prepared if isinstance(p, Prepared)]
    if ledger is not None and (ready or decisions):
        ledger.record_intents([(p.leg, p.key) for p in ready], purpose=purpose, arb_id=arb_id, decisions=decisions)
    started = [start_leg(p) if isinstance(p, Prepared) else p for p in prepared]
    return asyncio.gather(
        *(_settled(clients[leg.exchange], s, ledger, policy) for leg, s in zip(legs, started, strict=True)),
        return_exceptions=True,
    )


def _prepare(client: Client, leg: Leg) -> Prepared | LegResult | Exception:
    try:
        return prepare_leg(client, leg)
    except Exception as exc:  # a bug while building one order: that leg is unknown, the others still go (not an arb's)
        return exc


def _all_or_none(prepared: list[Prepared | LegResult | Exception]) -> list[Prepared | LegResult | Exception]:
    """Legs that go together or not at all: when one cannot be built the others are held back, rejected for its
    reason (sent alone, they would be exposure by construction); a bug while building goes up, nothing sent."""
    built: list[Prepared | LegResult] = []
    for p in prepared:
        if isinstance(p, Exception):
            raise p
        built.append(p)
    refused = next((p for p in built if isinstance(p, LegResult)), None)
    if refused is None:
        return prepared
    for p in built:
        if isinstance(p, Prepared):
            log.warning("not sent: %s, held back: %s could not be built", p.leg.describe(), refused.leg.describe())
    return [
        p
        if isinstance(p, LegResult)
        else LegResult(p.leg, None, "rejected", Decimal(0), None, None, None, refused.error)
        for p in built
    ]


async def settle_arb(
    ledger: Ledger, clients: dict[str, Client], arb_id: str, policy: Policy | None, cause: str, *, act: bool
) -> ArbSettlement:
    """The exposure an arb's booked orders really left, recorded in the exposures table (rows that no
    longer hold are closed by `cause`); with `act` and an `unwind` policy it is closed like `execute_arb`
    would (one attempt), otherwise held and alerted on. Every intent of the arb must be settled."""
    intents = ledger.arb_intents(arb_id)
    entries = [i.leg for i in intents if i.purpose == "entry"]
    orders = [(i.leg, i.filled or Decimal(0)) for i in intents]
    exposure = imbalance(entries, orders)
    on_exposure = policy.on_exposure if policy is not None else "hold"
    _track(ledger, arb_id, exposure, on_exposure, cause)
    unwinds: list[LegResult] = []
    if exposure and act and policy is not None and policy.on_exposure == "unwind":
        prices = {item.leg: _entry_price(intents, item.leg) for item in exposure}
        unwinds = await _unwind(clients, exposure, prices, ledger, policy, arb_id)
    residual = imbalance(entries, [*orders, *_filled(unwinds)]) if unwinds else exposure
    if unwinds:
        _track(ledger, arb_id, residual, on_exposure, _by_unwinds(unwinds))
    alerts = _unwind_alerts(unwinds, residual, on_exposure)
    for alert in alerts:
        log.warning("arb %s: %s", arb_id, alert)
    return ArbSettlement(arb_id, exposure, tuple(unwinds), residual, tuple(alerts))


def _filled(results: Sequence[LegResult]) -> list[tuple[Leg, Decimal]]:
    return [(r.leg, r.filled) for r in results]


def _entry_price(intents: Sequence[Intent], leg: Leg) -> Decimal | None:
    """Average price of the arb's fills that built the position `leg` describes (None without any)."""
    total, paid = Decimal(0), Decimal(0)
    for i in intents:
        if i.leg.exchange == leg.exchange and direction(i.leg, leg) == 1 and i.filled and i.avg_price is not None:
            total, paid = total + i.filled, paid + i.filled * i.avg_price
    return paid / total if total else None


def _track(ledger: Ledger | None, arb_id: str, exposure: Sequence[Exposure], policy: str, closed_by: str) -> None:
    if ledger is not None:
        ledger.update_exposures(arb_id, [(item.leg, item.quantity) for item in exposure], policy, closed_by)


def _by_unwinds(unwinds: Sequence[LegResult]) -> str:
    return "unwind " + ", ".join(str(r.key) for r in unwinds)


def _unwind_alerts(unwinds: Sequence[LegResult], residual: Sequence[Exposure], on_exposure: str) -> list[str]:
    alerts = [
        f"unwind {r.leg.describe()}: outcome unknown (key {r.key}), run `tradetape trader recover`"
        for r in unwinds
        if r.status == "unknown"
    ]
    return alerts + [f"exposure left: {item.describe()} ({on_exposure})" for item in residual]


def _unknown_on_crash(leg: Leg, outcome: LegResult | BaseException) -> LegResult:
    """A leg that raised outside the error taxonomy is unknown: the other leg is still reconciled and alerted on."""
    if isinstance(outcome, LegResult):
        return outcome
    if not isinstance(outcome, Exception):  # cancellation and the like go up unchanged
        raise outcome
    log.error("leg %s raised %s: %s", leg.describe(), type(outcome).__name__, outcome)
    return LegResult(leg, None, "unknown", Decimal(0), None, None, None, outcome)


async def _settled(
    client: Client, sent: Sent | LegResult | Exception, ledger: Ledger | None, policy: Policy
) -> LegResult:
    """send_leg, then one look-up at the exchange if the outcome came back unknown.

    Only an order the exchange reports settles the leg here; "no such order" is left for `recover()`,
    since the lost request may still be in flight or the exchange's reads may lag its writes.
    """
    if isinstance(sent, Exception):
        raise sent
    if isinstance(sent, LegResult):
        return sent
    leg = sent.leg
    result = await send_leg(client, sent, ledger, timeout=policy.leg_timeout)
    if result.status != "unknown" or not policy.resolve_unknown or result.key is None:
        return result
    resolution = await resolve(client, leg, result.key)
    if resolution.booking is None or not resolution.found:  # "not found" this soon proves nothing
        log.warning(
            "outcome unknown, even after a look-up: %s (key %s): %s", leg.describe(), result.key, resolution.note
        )
        return result
    log.info("settled by a look-up: %s: %s", leg.describe(), resolution.note)
    if ledger is not None:
        ledger.book(result.key, resolution.booking)
    return result_from_booking(leg, result.key, resolution.booking, result.error)


async def _unwind(
    clients: dict[str, Client],
    exposure: Sequence[Exposure],
    prices: dict[Leg, Decimal | None],
    ledger: Ledger | None,
    policy: Policy,
    arb_id: str,
) -> list[LegResult]:
    """Close each exposure with one immediate order, at most the slippage worse than its entry price."""
    closing = [
        item.leg.closing(item.quantity, prices.get(item.leg) or item.leg.price, policy.max_unwind_slippage)
        for item in exposure
    ]
    results = await _launch(clients, closing, ledger, policy, "unwind", arb_id)
    for result in results:
        if isinstance(result, BaseException):  # a bug in an unwind goes up, as it always has
            raise result
    return cast(list[LegResult], results)
