"""In-memory exchanges with the clients' trading methods, for tests of the trader and of code built on it.

Each order follows the next `Plan` (default: fill everything at the limit). The fakes keep what
really happened (orders, fills, trades) apart from what they answer, so a lost answer
(`Plan(lose_answer=True)`) leaves an executed order that only a look-up reveals, as on a real exchange.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clients.errors import MarketNotFound, OrderNotFilled, OrderNotFound, TransportError
from clients.kalshi.types import KalshiFill, KalshiPosition
from clients.polymarket.types import ClobMarket, FeeDetails, PolyTrade
from clients.types import OrderResult, OrderStart
from trader.pairs import Pair

ZERO = Decimal(0)


@dataclass(frozen=True)
class Plan:
    """What the next order does: fill `fill` (None = all), or raise `error` without placing the order.

    `lose_answer` executes the order, then raises a TransportError instead of answering;
    `execute_late` raises the TransportError at once and executes the order only when the test calls
    `run_late()` (the exchange had the request when the client gave up); `status` overrides the
    status word of the answer (e.g. Polymarket `delayed`).
    """

    fill: Decimal | None = None
    error: Exception | None = None
    lose_answer: bool = False
    execute_late: bool = False
    status: str | None = None


@dataclass
class _Exchange:
    """`stale_reads` makes that many upcoming reads miss every order, fill and trade (reads lagging writes)."""

    plans: list[Plan] = field(default_factory=list)
    fee_per_contract: Decimal = ZERO
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    fail_reads: Exception | None = None
    stale_reads: int = 0
    late: list[Callable[[], Any]] = field(default_factory=list)
    lanes_opened: int = 0  # open_lane calls
    _ids: itertools.count = field(default_factory=itertools.count)

    def next_plan(self) -> Plan:
        return self.plans.pop(0) if self.plans else Plan()

    def read(self, name: str, *args: Any, lags: bool = True) -> bool:
        """Record the read; raise `fail_reads`; False when this read lags (sees nothing new)."""
        self.calls.append((name, args))
        if self.fail_reads is not None:
            raise self.fail_reads
        if lags and self.stale_reads:
            self.stale_reads -= 1
            return False
        return True

    def deferred(self, plan: Plan, execute: Callable[[], Any]) -> None:
        """Queue `execute` for `run_late()` and give up on the answer, as a client that timed out."""
        if not plan.execute_late:
            return
        self.late.append(execute)
        raise TransportError("timed out waiting for the answer (the exchange still has the request)")

    def run_late(self) -> None:
        """The exchange executes the orders it received but had not executed yet."""
        while self.late:
            self.late.pop(0)()


@dataclass
class FakeKalshi(_Exchange):
    """Kalshi: IOC orders by client_order_id, fills (outcome bought, as Kalshi books them), positions."""

    orders: dict[str, OrderResult] = field(default_factory=dict)
    fills: list[KalshiFill] = field(default_factory=list)
    extra_positions: dict[str, Decimal] = field(default_factory=dict)
    presigned: int = 0  # presign_order calls (the fake signs nothing)

    def presign_order(self) -> None:
        self.presigned += 1

    async def open_lane(self) -> None:
        """Nothing to open (the fake has no connections): counted."""
        self.lanes_opened += 1

    def prepare_order(self, *args: Any, **kwargs: Any) -> OrderStart:
        """create_order(...) when started: a test's override of create_order is what the trader sends through."""
        return lambda: self.create_order(*args, **kwargs)

    async def create_order(
        self,
        ticker: str,
        outcome: str,
        action: str,
        count: Decimal,
        price: Decimal,
        time_in_force: str = "immediate_or_cancel",
        client_order_id: str | None = None,
    ) -> OrderResult:
        self.calls.append(("create_order", (ticker, outcome, action, count, price, time_in_force, client_order_id)))
        plan = self.next_plan()
        if plan.error is not None:
            raise plan.error
        self.deferred(plan, lambda: self._execute(plan, ticker, outcome, action, count, price, client_order_id))
        result = self._execute(plan, ticker, outcome, action, count, price, client_order_id)
        if plan.lose_answer:
            raise TransportError(f"connection reset (client_order_id {client_order_id})")
        return result

    def _execute(
        self,
        plan: Plan,
        ticker: str,
        outcome: str,
        action: str,
        count: Decimal,
        price: Decimal,
        client_order_id: str | None,
    ) -> OrderResult:
        filled = count if plan.fill is None else plan.fill
        order_id = f"k-{next(self._ids)}"
        fees = filled * self.fee_per_contract
        result = OrderResult(
            "kalshi",
            order_id,
            client_order_id,
            plan.status or _kalshi_status(filled, count),
            filled,
            ZERO,
            price if filled else None,
            filled * price,
            fees,
            limit_price=price,
        )
        self.orders[client_order_id or order_id] = result
        if filled:
            self._book_fill(order_id, ticker, outcome, action, filled, price, fees)
        return result

    def _book_fill(
        self, order_id: str, ticker: str, outcome: str, action: str, count: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        if action == "sell":  # Kalshi books a YES sale as a NO purchase at the complement
            outcome, action, price = ("no" if outcome == "yes" else "yes"), "buy", 1 - price
        yes_price = price if outcome == "yes" else 1 - price
        self.fills.append(
            KalshiFill(
                f"f-{next(self._ids)}", order_id, ticker, outcome, action, count, yes_price, price, fee, True, None
            )
        )

    async def find_order_by_client_order_id(
        self, client_order_id: str, ticker: str | None = None
    ) -> OrderResult | None:
        if not self.read("find_order_by_client_order_id", client_order_id, ticker):
            return None
        return self.orders.get(client_order_id)

    async def get_fills(self, order_id: str | None = None, ticker: str | None = None) -> list[KalshiFill]:
        if not self.read("get_fills", order_id, ticker):
            return []
        return [f for f in self.fills if order_id in (None, f.order_id) and ticker in (None, f.ticker)]

    async def get_positions(self) -> list[KalshiPosition]:
        self.read("get_positions", lags=False)
        held = dict(self.extra_positions)
        for f in self.fills:
            held[f.ticker] = held.get(f.ticker, ZERO) + (f.count if f.outcome == "yes" else -f.count)
        return [KalshiPosition(t, q, None, None, None) for t, q in held.items() if q]


def _kalshi_status(filled: Decimal, count: Decimal) -> str:
    return "executed" if filled >= count else "canceled"


@dataclass(frozen=True)
class FakeSigned:
    order_id: str
    token_id: str
    side: str
    price: Decimal
    shares: Decimal


@dataclass
class FakePoly(_Exchange):
    """Polymarket: FAK orders keyed by their (fake) order hash, trades as `/data/trades` rows (taker side).

    `fee_rate_bps` is the taker fee rate the trades carry (None: the field is absent). `markets` answer
    `get_clob_market` (`listed(pairs)` makes ones that agree with a pairs file), after `market_errors`, raised one a
    read.
    """

    orders: dict[str, OrderResult] = field(default_factory=dict)
    trades: list[PolyTrade] = field(default_factory=list)
    fee_rate_bps: Decimal | None = None
    markets: dict[str, ClobMarket] = field(default_factory=dict)
    market_errors: list[Exception] = field(default_factory=list)

    def build_order(
        self,
        token_id: str,
        side: str,
        price: Decimal,
        *,
        size: Decimal | None = None,
        amount: Decimal | None = None,
        order_type: str = "FAK",
        tick_size: Decimal | None = None,
        neg_risk: bool | None = None,
    ) -> FakeSigned:
        """`amount` (a BUY's pUSD) fills at the limit: amount / price shares."""
        if size is None:
            if amount is None:
                raise ValueError("give size or amount")
            size = amount / price
        self.calls.append(("build_order", (token_id, side, price, size, order_type, tick_size, neg_risk)))
        digest = hashlib.sha256(f"{token_id}|{side}|{price}|{size}|{next(self._ids)}".encode()).hexdigest()
        return FakeSigned("0x" + digest, token_id, side, price, size)

    async def open_lane(self) -> None:
        """Nothing to open (the fake has no connections): counted."""
        self.lanes_opened += 1

    def prepare_post(self, signed: FakeSigned) -> OrderStart:
        """post_order(signed) when started: a test's override of post_order is what the trader sends through."""
        return lambda: self.post_order(signed)

    async def post_order(self, signed: FakeSigned) -> OrderResult:
        self.calls.append(("post_order", (signed.order_id,)))
        plan = self.next_plan()
        if plan.error is not None:
            raise plan.error
        self.deferred(plan, lambda: self._execute(plan, signed))
        result = self._execute(plan, signed)
        if plan.lose_answer:
            raise TransportError("connection reset")
        return result

    def _execute(self, plan: Plan, signed: FakeSigned) -> OrderResult:
        filled = signed.shares if plan.fill is None else plan.fill
        if not filled and plan.status is None:
            raise OrderNotFilled("no orders found to match with FAK order", exchange="poly", status=400)
        result = OrderResult(
            "poly",
            signed.order_id,
            None,
            plan.status or "matched",
            filled,
            None,
            signed.price if filled else None,
            filled * signed.price,
            None,
            limit_price=signed.price,
        )
        self.orders[signed.order_id] = result
        if filled:
            self.trades.append(
                PolyTrade(
                    f"t-{next(self._ids)}",
                    signed.order_id,
                    "m",
                    signed.token_id,
                    signed.side,
                    filled,
                    signed.price,
                    "MATCHED",
                    "0",
                    "TAKER",
                    self.fee_rate_bps,
                    None,
                )
            )
        return result

    async def get_order(self, order_id: str) -> OrderResult:
        if not self.read("get_order", order_id) or order_id not in self.orders:
            raise OrderNotFound("Order not found", exchange="poly", status=404)
        return self.orders[order_id]

    async def get_trades(self, *, asset_id: str | None = None, **_: Any) -> list[PolyTrade]:
        if not self.read("get_trades", asset_id):
            return []
        return [t for t in self.trades if asset_id in (None, t.asset_id)]

    async def get_clob_market(self, condition_id: str) -> ClobMarket:
        self.calls.append(("get_clob_market", (condition_id,)))
        if self.market_errors:
            raise self.market_errors.pop(0)
        if condition_id not in self.markets:
            raise MarketNotFound("market not found", exchange="poly", status=404)
        return self.markets[condition_id]


def listed(pairs: tuple[Pair, ...] | list[Pair]) -> dict[str, ClobMarket]:
    """Each pair's market as the exchange would list it when it agrees with the pairs file (its fee rate, tokens,
    flags), accepting orders."""
    return {
        pair.poly_condition_id: ClobMarket(
            condition_id=pair.poly_condition_id,
            tokens={pair.poly_yes_token: "Yes", pair.poly_no_token: "No"},
            tick_size=pair.poly_tick_size,
            min_order_size=pair.poly_min_order_size,
            neg_risk=pair.poly_neg_risk,
            fees=FeeDetails(rate=pair.poly_fee_rate, exponent=Decimal(1), taker_only=True),
            accepting_orders=True,
        )
        for pair in pairs
    }
