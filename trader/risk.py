"""The engine's risk limits and the state they are checked against.

`Limits` comes from the pairs file's `[risk]` table. `Risk` answers one question before every arb, "may this pair
trade now, and how many contracts at most?", and learns from every arb's result. Positions, open exposure and the
day's profit and loss are read from the ledger (so a restart starts from what really happened, not from zero) and
refreshed after each arb; the rest (arbs in flight, cooldowns, consecutive failures, the kill switch) lives in the
running engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from clients.errors import (
    AuthError,
    DeprecatedEndpoint,
    InsufficientBalance,
    MarketClosed,
    MarketNotFound,
    ReplayMismatch,
    SpendingGuardRefused,
)
from trader.arb import ArbResult, Policy
from trader.execute import LegResult
from trader.ledger import Ledger

# Errors no retry can fix: the engine stops trading and says why.
PERMANENT = (
    InsufficientBalance,
    MarketClosed,
    MarketNotFound,
    AuthError,
    SpendingGuardRefused,
    DeprecatedEndpoint,
    ReplayMismatch,
)
ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Limits:
    """The pairs file's `[risk]` table. Dollars are Decimal, times seconds; ValueError names a bad field."""

    max_exposure_usd: Decimal = Decimal("50")  # open unhedged exposure, all pairs, at most this
    cooldown_s: float = 30.0  # a pair that left exposure waits this long before trading again
    max_failures: int = 3  # consecutive failed arbs before the kill switch
    daily_loss_usd: Decimal = Decimal("100")  # the day's (UTC) worst-case loss before the kill switch
    stale_after_s: float = 20.0  # a feed silent this long marks its books stale
    on_exposure: str = "unwind"
    max_unwind_slippage: Decimal = Decimal("0.05")
    leg_timeout_s: float = 10.0
    rebook_timeout_s: float = 5.0  # after an arb, its legs' books updating later than this is said (trader.rebook)

    def __post_init__(self) -> None:
        if self.on_exposure not in ("unwind", "hold"):
            raise ValueError(f"on_exposure: must be unwind or hold, got {self.on_exposure!r}")
        if not 0 <= self.max_unwind_slippage < 1:
            raise ValueError(f"max_unwind_slippage: must be in [0, 1), got {self.max_unwind_slippage}")
        if self.max_failures < 1:
            raise ValueError(f"max_failures: must be at least 1, got {self.max_failures}")
        for name in ("stale_after_s", "leg_timeout_s", "rebook_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be above 0 seconds, got {getattr(self, name)}")
        for name in ("cooldown_s", "max_exposure_usd", "daily_loss_usd"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")

    @property
    def policy(self) -> Policy:
        return Policy(self.on_exposure, self.max_unwind_slippage, self.leg_timeout_s)  # type: ignore[arg-type]  # checked above


@dataclass
class Risk:
    """What the limits are checked against. `clock` is the engine's monotonic clock (seconds)."""

    limits: Limits
    # pair -> (contracts its arb in flight may leave unhedged, the most that arb may lose)
    in_flight: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    cooldown_until: dict[str, float] = field(default_factory=dict)
    failures: int = 0
    killed: str | None = None
    positions: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    open_exposure_usd: Decimal = ZERO
    daily_pnl: Decimal = ZERO
    day: str | None = None  # the UTC date daily_pnl is of
    arbs: int = 0

    def refresh(self, ledger: Ledger, today: datetime) -> None:
        """Positions, open exposure and the day's PnL from the ledger (at start and after every arb)."""
        self.positions = ledger.positions()
        self.open_exposure_usd = open_exposure_usd(ledger)
        self.day = today.date().isoformat()
        self.daily_pnl = daily_pnl(ledger, self.day)
        if self.daily_pnl < -self.limits.daily_loss_usd and self.killed is None:
            self.killed = f"daily loss limit: {self.daily_pnl} below -{self.limits.daily_loss_usd}"

    def launched(self, pair: str, count: Decimal, worst_loss: Decimal) -> None:
        """An arb of `count` contracts that may lose `worst_loss` is out on `pair` until `landed`."""
        self.in_flight[pair] = (count, worst_loss)

    def landed(self, pair: str) -> None:
        self.in_flight.pop(pair, None)

    def blocked(self, pair: str, now: float) -> str | None:
        """Why `pair` may not trade now (None: it may)."""
        if self.killed is not None:
            return f"kill switch: {self.killed}"
        if pair in self.in_flight:
            return "arb in flight on this pair"
        until = self.cooldown_until.get(pair)
        if until is not None and now < until:
            return f"cooldown after exposure ({until - now:.1f} s left)"
        if self.committed_usd >= self.limits.max_exposure_usd:
            return f"open exposure ${self.committed_usd} at the limit ${self.limits.max_exposure_usd}"
        return None

    @property
    def committed_usd(self) -> Decimal:
        """Open exposure plus $1 a contract for the arbs in flight (each may yet be left unhedged)."""
        return self.open_exposure_usd + sum((count for count, _ in self.in_flight.values()), ZERO)

    def loss_refusal(self, loss: Decimal) -> str | None:
        """Why an arb that may lose `loss` dollars may not be taken (None: it may): the day's PnL, less the worst
        case of every arb in flight and of this one, would fall below -daily_loss_usd."""
        limit = self.limits.daily_loss_usd
        room = limit + self.daily_pnl - sum((loss for _, loss in self.in_flight.values()), ZERO)
        if loss <= room:
            return None
        return f"daily loss limit: this arb may lose ${_dollars(loss)}, ${_dollars(room)} left of ${limit} today"

    def headroom(self, held: Decimal, max_size: Decimal, max_position: Decimal) -> tuple[Decimal, str]:
        """Whole contracts the next arb may take, and the limit that binds: the pair's size and position limits,
        and the exposure limit counted at $1 a contract (the most one unhedged contract can cost)."""
        exposure_room = (self.limits.max_exposure_usd - self.committed_usd).to_integral_value(ROUND_FLOOR)
        room, binding = min(
            (max_size, "max_size"), (max_position - held, "position_limit"), (exposure_room, "exposure_limit")
        )
        return max(ZERO, room), binding

    def record(self, pair: str, result: ArbResult, now: float) -> None:
        """Learn from one arb: failures, cooldown, and the kill switch on a permanent error."""
        self.arbs += 1
        permanent = permanent_error((result.kalshi, result.poly, *result.unwinds))
        if permanent is not None:
            self.killed = f"{type(permanent).__name__}: {permanent}"
        legs = (result.kalshi, result.poly)
        failed = result.matched <= 0 or result.uncertain or any(r.status == "rejected" for r in legs)
        self.failures = self.failures + 1 if failed else 0
        if self.failures >= self.limits.max_failures and self.killed is None:
            self.killed = f"{self.failures} consecutive failed arbs"
        if result.exposure or result.uncertain:
            self.cooldown_until[pair] = now + self.limits.cooldown_s


def permanent_error(results: Iterable[LegResult]) -> Exception | None:
    """The first error among `results` no retry can fix (None: there is none)."""
    return next((r.error for r in results if isinstance(r.error, PERMANENT)), None)


def _dollars(amount: Decimal) -> str:
    """At least the cents, no trailing zeros beyond: 5.00000 -> 5.00, 4.12345 -> 4.12345."""
    cents = amount.quantize(CENT)
    return f"{cents if cents == amount else amount.normalize():f}"


def open_exposure_usd(ledger: Ledger) -> Decimal:
    """Open exposure rows at the price their arb paid for that leg (its limit when nothing says better)."""
    total = ZERO
    for record in ledger.exposure_records(open_only=True):
        prices = [
            i.avg_price or i.leg.price
            for i in ledger.arb_intents(record.arb_id)
            if i.leg.exchange == record.exchange and i.leg.instrument == record.instrument and i.purpose == "entry"
        ]
        total += record.quantity * (prices[0] if prices else Decimal(1))
    return total


def daily_pnl(ledger: Ledger, day: str) -> Decimal:
    """Worst-case profit and loss of the arbs opened on `day` (UTC date): cash paid and received for their fills,
    fees, and $1 for every contract both exchanges hold as a box (one side of a box pays $1); unhedged
    positions count for nothing."""
    total = ZERO
    held: dict[str, dict[str, Decimal]] = {}
    for arb_id, exchange, action, quantity, price, fee in ledger.arb_fills(day):
        sign = 1 if action == "buy" else -1
        total -= sign * quantity * price + (fee or ZERO)
        position = held.setdefault(arb_id, {"kalshi": ZERO, "poly": ZERO})
        position[exchange] += sign * quantity
    return total + sum((max(ZERO, min(h["kalshi"], h["poly"])) for h in held.values()), ZERO)
