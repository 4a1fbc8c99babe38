"""The demo's "what happened" column is computed from the results the real code returned: other results, other words."""

from __future__ import annotations

from decimal import Decimal as D
from types import SimpleNamespace

from clients.errors import InsufficientBalance, TransportError
from scenarios.story import arb_story, leg_story, recovery_story, retry_story
from trader.arb import ArbResult, Exposure, Policy
from trader.execute import LegResult
from trader.legs import Leg, Opportunity

KALSHI = Leg("kalshi", "KX-A", "buy", D("10"), D("0.52"), outcome="yes")
POLY = Leg("poly", "7123", "buy", D("10"), D("0.45"), tick_size=D("0.01"), neg_risk=False)


def leg(template: Leg, status: str, filled: str, price: str | None = None, error: BaseException | None = None):
    return LegResult(template, "k", status, D(filled), D(price) if price else None, None, "o", error)  # type: ignore[arg-type]


def arb(k: LegResult, p: LegResult, unwinds=(), residual=()) -> ArbResult:
    matched = min(k.filled, p.filled)
    exposure = tuple(Exposure(r.leg, r.filled - matched) for r in (k, p) if r.filled > matched)
    return ArbResult(
        "a", Opportunity(KALSHI, POLY, D("0.03")), k, p, matched, exposure, tuple(unwinds), residual, Policy()
    )


def test_leg_stories_follow_the_figures():
    assert leg_story(leg(KALSHI, "partial", "7.00", "0.5100"), D("7")) == (
        "Kalshi: bought 7 of 10 at 0.51, rest canceled; position 7"
    )
    refused = InsufficientBalance("no", exchange="poly", status=400)
    assert leg_story(leg(POLY, "rejected", "0", error=refused), D("3")) == (
        "Polymarket: refused (InsufficientBalance), nothing traded; position 3"
    )
    unknown = leg(KALSHI, "unknown", "0", error=TransportError("reset"))
    assert leg_story(unknown, D("0")) == "Kalshi: outcome unknown (TransportError), left for recovery; position 0"


def test_arb_stories_say_matched_exposure_unwinds_and_what_is_left():
    both = arb(leg(KALSHI, "filled", "10", "0.52"), leg(POLY, "filled", "10", "0.45"))
    assert arb_story(both) == "Kalshi 10/10, Polymarket 10/10: matched 10, no exposure"
    k, p = leg(KALSHI, "partial", "8", "0.52"), leg(POLY, "partial", "3", "0.45")
    sell = leg(KALSHI.closing(D("5"), D("0.52"), D("0.05")), "partial", "4", "0.48")
    left = (Exposure(KALSHI, D("1")),)
    assert arb_story(arb(k, p, [sell], left)) == (
        "Kalshi 8/10, Polymarket 3/10: matched 3; exposure 5 on Kalshi, unwound: sold 4 of 5 at 0.48, rest canceled; "
        "still open: 1 on Kalshi"
    )


def test_recovery_and_retry_stories():
    first = leg(KALSHI, "unknown", "0", error=TransportError("lost"))
    resolved = [SimpleNamespace(state="partial", filled=D("6.00"))]
    assert recovery_story(first, resolved, False, D("6")) == (
        "Kalshi: answer lost (TransportError), outcome unknown; after a restart recover() booked partial 6; "
        "position 6, ledger and exchange DIFFER"
    )
    assert retry_story("TransportError", "executed", D("10"), D("20")).endswith("the exchange filled 20 (DOUBLED)")
