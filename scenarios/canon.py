"""The canonical arb every scenario shares, and the simulator states that make each outcome happen.

Single-exchange scenarios place the same order (same ticker or token, count and price), so their
fixtures compose into the combined scenarios: Kalshi buys 10 YES at 0.52, Polymarket buys 10 of the
other outcome at 0.45, an edge of 0.03.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from simulator.kalshi.config import DEFAULT_SECTION as KALSHI_DEFAULT
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT
from trader.legs import Leg, Opportunity

KALSHI_TICKER = KALSHI_DEFAULT["markets"][0]["ticker"]
BAD_TICKER = "KXDEMOMATCH-26DEC31ALIBOB-NOPE"
POLY_MARKET = POLY_DEFAULT["markets"][0]
POLY_TOKEN = POLY_MARKET["tokens"][1]["token_id"]  # the "No" outcome of the same question
COUNT = Decimal("10")
KALSHI_PRICE = Decimal("0.52")
POLY_PRICE = Decimal("0.45")
SLIPPAGE = Decimal("0.05")
Levels = Sequence[tuple[str, str]]

PARTIAL_EXCESS = Decimal("2")  # Kalshi partial (6) minus Polymarket partial (4)


def unwind_leg(leg: Leg, quantity: Decimal) -> Leg:
    """The order the trader sends to close `quantity` of `leg` bought at its limit."""
    return leg.closing(quantity, leg.price, SLIPPAGE)


@dataclass(frozen=True)
class Legs:
    """The two entry legs a scenario trades; the simulator's by default, the user's own when capturing live."""

    kalshi: Leg
    poly: Leg

    def role(self, name: str) -> Leg:
        return {
            "kalshi": self.kalshi,
            "poly": self.poly,
            "kalshi_bad_ticker": replace(self.kalshi, instrument=BAD_TICKER),
            "kalshi_unwind_full": unwind_leg(self.kalshi, self.kalshi.count),
            "kalshi_unwind_partial": unwind_leg(self.kalshi, PARTIAL_EXCESS),
            "poly_unwind_full": unwind_leg(self.poly, self.poly.count),
        }[name]

    @property
    def opportunity(self) -> Opportunity:
        return Opportunity(self.kalshi, self.poly, 1 - self.kalshi.price - self.poly.price)


SIM_LEGS = Legs(
    Leg("kalshi", KALSHI_TICKER, "buy", COUNT, KALSHI_PRICE, outcome="yes"),
    Leg(
        "poly",
        POLY_TOKEN,
        "buy",
        COUNT,
        POLY_PRICE,
        tick_size=Decimal(POLY_MARKET["tick_size"]),
        neg_risk=POLY_MARKET["neg_risk"],
    ),
)


# ---- Kalshi states: the YES asks an order at 0.52 meets come from NO bids at 1 - price ------------


def kalshi_state(
    *,
    yes_asks: list[tuple[str, str]] | None = None,
    yes_bids: list[tuple[str, str]] | None = None,
    balance: str = "1000.00",
    status: str | None = None,
    position: str | None = None,
) -> dict[str, Any]:
    section = copy.deepcopy(KALSHI_DEFAULT)
    market = section["markets"][0]
    book = market["book"]
    if yes_asks is not None:
        book["no_dollars"] = sorted(
            ([f"{1 - Decimal(p):.4f}", c] for p, c in yes_asks), key=lambda level: Decimal(level[0])
        )
    if yes_bids is not None:
        book["yes_dollars"] = [[p, c] for p, c in yes_bids]
    if status is not None:
        market["status"] = status
    account = section["accounts"][0]
    account["balance"] = balance
    if position is not None:
        account["positions"] = {KALSHI_TICKER: position}
    return section


def poly_state(
    *,
    asks: Levels = (("0.46", "500"),),
    bids: Levels = (("0.43", "500"),),
    balance: str = "1000",
    shares: str | None = None,
) -> dict[str, Any]:
    """The market maker's book of the canonical token (the default one is priced for no arb)."""
    section = copy.deepcopy(POLY_DEFAULT)
    token = section["markets"][0]["tokens"][1]
    token["asks"] = [{"price": p, "size": s} for p, s in asks]
    token["bids"] = [{"price": p, "size": s} for p, s in bids]
    account = section["accounts"][0]
    account["balance"] = balance
    if shares is not None:
        account["positions"] = {POLY_TOKEN: shares}
    return section
