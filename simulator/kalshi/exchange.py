"""The Kalshi paper exchange: order entry, collateral, fees, positions, settlement; and `KalshiSim`, one
listener's live exchange, rebuilt from the state section on reset.

Synchronous and free of HTTP so the matching properties can be tested directly. Every change to
a book, an order or a fill is announced to `listeners` (the hook WebSocket feeds will use).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from simulator.clock import SimClock
from simulator.kalshi.book import Book
from simulator.kalshi.config import KalshiSetup, parse_section
from simulator.kalshi.errors import NOT_FOUND, KalshiError, invalid_order, nested
from simulator.kalshi.matching import Plan, plan_taker
from simulator.kalshi.model import (
    CENT,
    CENTICENT,
    ONE,
    PAUSED,
    TRADABLE,
    ZERO,
    Account,
    Fill,
    Market,
    Order,
    OrderRequest,
    Position,
)

TAKER_FEE_RATE = Decimal("0.07")
MICRODOLLAR = Decimal("0.000001")
SMALLEST_COUNT = Decimal("0.01")  # counts have 2 decimals
MARKET_MAKER = "market-maker"


def taker_fee(count: Decimal, yes_price: Decimal) -> Decimal:
    """0.07 x count x p x (1 - p), rounded up to the centicent (Kalshi fee_rounding)."""
    return (TAKER_FEE_RATE * count * yes_price * (ONE - yes_price)).quantize(CENTICENT, rounding=ROUND_CEILING)


def round_balance_change(change: Decimal, precision: Decimal, accumulator: Decimal) -> tuple[Decimal, Decimal]:
    """Kalshi fee_rounding: a fill's balance change (revenue - trade fee) floored to the account's precision, the
    rounding fee added to the order's accumulator, which rebates a whole cent once it exceeds one (a rounding fee
    is under a cent, so one rebate per fill is enough). Returns the change applied and the accumulator after."""
    applied = change.quantize(precision, rounding=ROUND_FLOOR)
    accumulator += change - applied
    if accumulator > CENT:
        applied += CENT
        accumulator -= CENT
    return applied, accumulator


def collateral(account: Account, remaining: Decimal, leg_price: Decimal, accumulator: Decimal) -> Decimal:
    """The most a resting order's fills can still take from the balance: their cost plus the rounding its fee
    accumulator (at most a cent once settled, `round_balance_change`) has yet to charge, to the account's precision;
    a balance that held only the cost could go below zero when the fills are floored. No rounding is held where
    none can happen: a fill of the smallest count (0.01) already of the account's precision."""
    if not remaining:
        return ZERO
    cost = remaining * leg_price
    if not (leg_price * SMALLEST_COUNT) % account.balance_precision:
        return cost
    return (cost + CENT - accumulator).quantize(account.balance_precision, rounding=ROUND_FLOOR)


@dataclass
class Event:
    """A change a feed could publish: kind is book, order, fill or position."""

    kind: str
    data: dict[str, Any]


@dataclass
class Execution:
    """The result of a create or amend: the order and the taker fills it made."""

    order: Order
    fills: list[Fill]


class KalshiExchange:
    def __init__(
        self, markets: list[Market], accounts: list[Account], keys: dict[str, tuple[str, Any]], now: Callable[[], float]
    ) -> None:
        self.now = now
        self.markets = {m.ticker: m for m in markets}
        self.accounts = {a.name: a for a in accounts}
        self.accounts.setdefault(MARKET_MAKER, Account(MARKET_MAKER, str(uuid.uuid4()), ZERO, unlimited=True))
        self.keys = dict(keys)  # key_id -> (account name, RSA public key)
        self.books = {ticker: Book() for ticker in self.markets}
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.trading_active = True
        self.listeners: list[Callable[[Event], None]] = []
        self._seq = 0

    # -- announcements -------------------------------------------------------------------------

    def _emit(self, kind: str, **data: Any) -> None:
        event = Event(kind, data)
        for listener in self.listeners:
            listener(event)

    def _book_delta(self, order: Order, delta: Decimal, traded: bool = False) -> None:
        """Announce a change of `delta` contracts at the order's level; `traded` when a match (not the
        order's owner) caused it."""
        if delta:
            data = {"ticker": order.ticker, "book_side": order.book_side, "price": order.price, "delta": delta}
            self._emit("book", **data, order=order, traded=traded)

    # -- lookups -------------------------------------------------------------------------------

    def market(self, ticker: str) -> Market:
        market = self.markets.get(ticker)
        if market is None:
            raise nested(404, "market_not_found", "market not found")
        return market

    def own_order(self, account: str, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            raise nested(404, *NOT_FOUND)
        return order

    def position(self, account: Account, ticker: str) -> Position:
        return account.positions.setdefault(ticker, Position())

    def _closable(self, account: Account, ticker: str, book_side: str) -> Decimal:
        """Contracts of the other leg the account holds, which a `book_side` fill closes (a YES+NO pair pays $1)."""
        pos = account.positions.get(ticker)
        held = pos.position if pos is not None else ZERO
        return max(-held if book_side == "bid" else held, ZERO)

    def held(self, account: Account) -> Decimal:
        """Collateral reserved for the account's resting orders."""
        return sum(
            (
                collateral(account, o.remaining, o.leg_price, o.fee_accumulator)
                for b in self.books.values()
                for o in b.orders()
                if o.account == account.name
            ),
            ZERO,
        )

    def available(self, account: Account) -> Decimal:
        return account.cash - self.held(account)

    # -- checks --------------------------------------------------------------------------------

    def _check_tradable(self, market: Market) -> None:
        if not self.trading_active or market.status == PAUSED:
            raise nested(409, "trading_is_paused", "trading is paused")
        if market.status != TRADABLE:
            raise nested(409, "market_closed", "market closed")

    def _check_price(self, market: Market, price: Decimal) -> None:
        if not market.on_grid(price):
            raise nested(400, "invalid_price", "invalid price")

    def _check_expiration(self, req: OrderRequest) -> None:
        if req.expiration_time is None:
            return
        if req.time_in_force != "good_till_canceled":
            raise invalid_order("expiration_time is only allowed on good_till_canceled orders")
        if req.expiration_time <= self.now():
            raise invalid_order("Expiration timestamp must be in the future")

    def _cost(self, account: Account, ticker: str, plan: Plan, side: str, rest: Decimal, limit_leg: Decimal) -> Decimal:
        """Dollars the taker needs: fills at the makers' prices plus fees, each rounded up to the balance precision
        (no rebate counted), less $1 for each contract of the other leg those fills close, plus collateral for what
        rests."""
        cost = collateral(account, rest, limit_leg, ZERO) - min(plan.filled, self._closable(account, ticker, side))
        for maker, n in plan.fills:
            leg = maker.price if side == "bid" else ONE - maker.price
            cost += (n * leg + taker_fee(n, maker.price)).quantize(account.balance_precision, rounding=ROUND_CEILING)
        return cost

    def _check_balance(self, account: Account, plan: Plan, cost: Decimal) -> None:
        freed = sum((collateral(account, o.remaining, o.leg_price, o.fee_accumulator) for o in plan.stp_cancels), ZERO)
        if not account.unlimited and cost > self.available(account) + freed:
            raise nested(400, "insufficient_balance", "insufficient balance")

    # -- order writes --------------------------------------------------------------------------

    def create(self, account_name: str, req: OrderRequest) -> Execution:
        """Place an order: validate, match what crosses, rest (GTC) or cancel (IOC) the remainder."""
        self.expire_due()
        account = self.accounts[account_name]
        market = self.market(req.ticker)
        self._check_price(market, req.price)
        self._check_tradable(market)
        self._check_expiration(req)
        if req.client_order_id and req.client_order_id in account.client_order_ids:
            raise nested(409, "order_already_exists", "order already exists")
        count = self._reduce_only_cap(account, req) if req.reduce_only else req.count
        book = self.books[req.ticker]
        plan = plan_taker(book, account_name, req.book_side, req.price, count, req.self_trade_prevention_type)
        if req.post_only and (plan.fills or plan.stp_cancels or plan.killed_by_stp):
            raise invalid_order("post only cross")
        if req.time_in_force == "fill_or_kill" and plan.filled < count:
            raise nested(409, "fill_or_kill_insufficient_resting_volume", "fill or kill insufficient resting volume")
        rests = req.time_in_force == "good_till_canceled" and not plan.killed_by_stp
        rest = count - plan.filled if rests else ZERO
        leg = req.price if req.book_side == "bid" else ONE - req.price
        self._check_balance(account, plan, self._cost(account, req.ticker, plan, req.book_side, rest, leg))
        order = self._new_order(account_name, req)
        if req.client_order_id:
            account.client_order_ids.add(req.client_order_id)
        fills = self._execute(order, plan, count, rests)
        return Execution(order, fills)

    def _reduce_only_cap(self, account: Account, req: OrderRequest) -> Decimal:
        if req.time_in_force != "immediate_or_cancel":
            raise invalid_order("reduce_only orders must be immediate_or_cancel")
        return min(req.count, self._closable(account, req.ticker, req.book_side))

    def _new_order(self, account: str, req: OrderRequest) -> Order:
        now = self.now()
        self._seq += 1
        order = Order(
            str(uuid.uuid4()),
            account,
            req.client_order_id,
            req.ticker,
            req.book_side,
            req.price,
            req.count,
            req.time_in_force,
            req.self_trade_prevention_type,
            now,
            self._seq,
            post_only=req.post_only,
            expiration_time=req.expiration_time,
            last_update_time=now,
        )
        self.orders[order.order_id] = order
        return order

    def _execute(self, order: Order, plan: Plan, count: Decimal, rests: bool) -> list[Fill]:
        """Apply a plan: self-trade cancels, trades at the makers' prices, then rest or cancel the remainder."""
        for maker in plan.stp_cancels:
            self._close(maker, "canceled")
        fills = [self._trade(order, maker, n) for maker, n in plan.fills]
        left = count - plan.filled
        if rests and left > 0:
            order.remaining = left
            order.status = "resting"
            self.books[order.ticker].add(order)
            self._book_delta(order, left)
        else:
            order.remaining = ZERO
            order.status = "executed" if order.fill_count == order.initial_count else "canceled"
        order.last_update_time = self.now()
        self._emit("order", order=order)
        return fills

    def _trade(self, taker: Order, maker: Order, n: Decimal) -> Fill:
        now, price = self.now(), maker.price
        fee = taker_fee(n, price)
        taker_fill = Fill(
            str(uuid.uuid4()), taker.order_id, taker.account, taker.ticker, taker.book_side, n, price, True, fee, now
        )
        maker_fill = Fill(
            str(uuid.uuid4()), maker.order_id, maker.account, maker.ticker, maker.book_side, n, price, False, ZERO, now
        )
        taker.fill_count += n
        taker.taker_fill_cost += n * (price if taker.book_side == "bid" else ONE - price)
        taker.taker_fees += fee
        maker.fill_count += n
        maker.remaining -= n
        maker.maker_fill_cost += n * maker.leg_price
        maker.last_update_time = now
        self._book_delta(maker, -n, traded=True)
        if maker.remaining == 0:
            self.books[maker.ticker].remove(maker)
            maker.status = "executed"
        self._emit("order", order=maker)
        for fill in (maker_fill, taker_fill):
            self._account_fill(fill)
        self.markets[taker.ticker].last_price = price
        return taker_fill

    def _account_fill(self, fill: Fill) -> None:
        """Move cash and the signed position for one side of a trade; a YES+NO pair redeems for $1."""
        account = self.accounts[fill.account]
        pos = self.position(account, fill.ticker)
        leg = fill.yes_price if fill.book_side == "bid" else ONE - fill.yes_price
        direction = 1 if fill.book_side == "bid" else -1
        opposite_held = max(-pos.position * direction, ZERO)
        closing = min(fill.count, opposite_held)
        self._pay(account, fill, closing - fill.count * leg - fill.fee)
        if closing:
            removed = (
                pos.exposure
                if closing == opposite_held
                else (pos.exposure * closing / opposite_held).quantize(MICRODOLLAR, rounding=ROUND_HALF_EVEN)
            )
            pos.exposure -= removed
            pos.realized_pnl += closing * (ONE - leg) - removed
        pos.exposure += (fill.count - closing) * leg
        pos.position += direction * fill.count
        pos.total_traded += fill.count * leg
        pos.fees_paid += fill.fee
        pos.last_updated = account.updated_ts = fill.created_time
        self.fills.append(fill)
        self._emit("fill", fill=fill)
        self._emit("position", account=account.name, ticker=fill.ticker, position=pos)

    def _pay(self, account: Account, fill: Fill, change: Decimal) -> None:
        """Move the account's cash by a fill's balance change, rounded as Kalshi rounds it for the account; the
        rounding is kept on the fill and accumulated on its order."""
        order = self.orders[fill.order_id]
        applied, order.fee_accumulator = round_balance_change(change, account.balance_precision, order.fee_accumulator)
        fill.rounding = change - applied
        account.cash += applied

    def _close(self, order: Order, status: str) -> Decimal:
        """Take a resting order off the book; returns the count removed."""
        reduced = order.remaining
        if order.status == "resting":
            self.books[order.ticker].remove(order)
            self._book_delta(order, -reduced)
        order.remaining = ZERO
        order.status = status
        order.last_update_time = self.now()
        self._emit("order", order=order)
        return reduced

    def cancel(self, account: str, order_id: str) -> tuple[Order, Decimal]:
        self.expire_due()
        order = self.own_order(account, order_id)
        if order.status != "resting":
            raise nested(404, *NOT_FOUND)
        return order, self._close(order, "canceled")

    def cancel_all(self, account: str) -> int:
        resting = [o for o in self.orders.values() if o.account == account and o.status == "resting"]
        for order in resting:
            self._close(order, "canceled")
        return len(resting)

    def decrease(self, account: str, order_id: str, reduce_by: Decimal | None, reduce_to: Decimal | None) -> Order:
        self.expire_due()
        order = self.own_order(account, order_id)
        if order.status != "resting":
            raise nested(404, *NOT_FOUND)
        target = reduce_to if reduce_to is not None else order.remaining - (reduce_by or ZERO)
        target = max(target, ZERO)
        if target >= order.remaining:
            return order
        if target == 0:
            self._close(order, "canceled")
            return order
        self._book_delta(order, target - order.remaining)
        order.remaining = target
        order.last_update_time = self.now()
        self._emit("order", order=order)
        return order

    def amend(
        self,
        account_name: str,
        order_id: str,
        req: OrderRequest,
        updated_client_order_id: str | None,
        expiration: int | Literal["keep"] | None,
    ) -> tuple[Execution, bool]:
        """Change price and/or total count; returns the execution and whether size or fills changed.

        A pure size decrease keeps queue priority; anything else re-enters the book as a new taker.
        `expiration` is "keep", None (remove) or Unix seconds.
        """
        self.expire_due()
        account = self.accounts[account_name]
        order = self.own_order(account_name, order_id)
        if order.status != "resting":
            raise nested(404, *NOT_FOUND)
        if req.ticker != order.ticker:
            raise nested(400, "order_ticker_mismatch", "order ticker mismatch")
        if req.book_side != order.book_side:
            raise nested(400, "order_side_mismatch", "order side mismatch")
        if req.client_order_id and req.client_order_id != order.client_order_id:
            raise nested(400, "order_id_and_client_order_id_mismatch", "order id and client order id mismatch")
        market = self.market(req.ticker)
        self._check_price(market, req.price)
        self._check_tradable(market)
        new_remaining = req.count - order.fill_count
        if new_remaining <= 0:
            raise nested(400, "invalid_order_size", "invalid order size")
        if updated_client_order_id and updated_client_order_id in account.client_order_ids:
            raise nested(409, "order_already_exists", "order already exists")
        if isinstance(expiration, int) and expiration <= self.now():
            raise invalid_order("Expiration timestamp must be in the future")
        book = self.books[order.ticker]
        if req.price == order.price and new_remaining <= order.remaining:
            changed = new_remaining != order.remaining
            self._book_delta(order, new_remaining - order.remaining)
            order.remaining = new_remaining
            fills: list[Fill] = []
        else:
            book.remove(order)
            plan = plan_taker(
                book, account_name, order.book_side, req.price, new_remaining, order.self_trade_prevention_type
            )
            try:
                if order.post_only and (plan.fills or plan.stp_cancels or plan.killed_by_stp):
                    raise invalid_order("post only cross")
                rest = ZERO if plan.killed_by_stp else new_remaining - plan.filled
                leg = req.price if order.book_side == "bid" else ONE - req.price
                cost = self._cost(account, order.ticker, plan, order.book_side, rest, leg)
                self._check_balance(account, plan, cost)
            except KalshiError:
                book.add(order)
                raise
            self._book_delta(order, -order.remaining)
            self._seq += 1
            order.seq, order.price, order.initial_count = self._seq, req.price, req.count
            changed = True
            fills = self._execute(order, plan, new_remaining, rests=not plan.killed_by_stp)
        order.initial_count = req.count
        if updated_client_order_id:
            order.client_order_id = updated_client_order_id
            account.client_order_ids.add(updated_client_order_id)
        if expiration != "keep":
            order.expiration_time = expiration
        order.last_update_time = self.now()
        return Execution(order, fills), changed or bool(fills)

    def expire_due(self) -> list[Order]:
        """Cancel GTC orders whose expiration_time has passed on the sim clock."""
        now = self.now()
        due = [
            o
            for o in self.orders.values()
            if o.status == "resting" and o.expiration_time is not None and o.expiration_time <= now
        ]
        for order in due:
            self._close(order, "canceled")
        return due

    # -- admin ---------------------------------------------------------------------------------

    def set_book(self, ticker: str, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> None:
        """Replace the market maker's resting liquidity (YES-leg bids and asks); users' orders stay."""
        market, book = self.market(ticker), self.books[ticker]
        for price, count in bids + asks:
            if not market.on_grid(price) or count <= 0:
                raise ValueError(f"book level {price} x {count} is off the price grid or not positive")
        others = [o for o in book.orders() if o.account != MARKET_MAKER]
        best_bid = max([p for p, _ in bids] + [o.price for o in others if o.book_side == "bid"], default=None)
        best_ask = min([p for p, _ in asks] + [o.price for o in others if o.book_side == "ask"], default=None)
        if best_bid is not None and best_ask is not None and best_bid >= best_ask:
            raise ValueError(f"book would be crossed: best bid {best_bid} >= best ask {best_ask}")
        for order in [o for o in book.orders() if o.account == MARKET_MAKER]:
            self._close(order, "canceled")
        for side, levels in (("bid", bids), ("ask", asks)):
            for price, count in levels:
                req = OrderRequest(ticker, side, price, count, "good_till_canceled", "maker")
                order = self._new_order(MARKET_MAKER, req)
                order.remaining = count
                book.add(order)
                self._book_delta(order, count)

    def set_status(self, ticker: str, status: str) -> None:
        market = self.market(ticker)
        market.status = status
        market.updated_time = self.now()
        if status not in (TRADABLE, PAUSED):
            for order in [o for o in self.books[ticker].orders()]:
                self._close(order, "canceled")

    def settle(self, ticker: str, result: str) -> None:
        """Pay $1 per winning contract, close positions and resting orders, finalize the market."""
        market = self.market(ticker)
        self.set_status(ticker, "finalized")
        market.result = result
        market.settlement_value = ONE if result == "yes" else ZERO
        market.settlement_ts = self.now()
        for account in self.accounts.values():
            pos = account.positions.get(ticker)
            if pos is None or pos.settled:
                continue
            wins = pos.position > 0 if result == "yes" else pos.position < 0
            payout = abs(pos.position) if wins else ZERO
            account.cash += payout
            pos.realized_pnl += payout - pos.exposure
            pos.position, pos.exposure, pos.settled = ZERO, ZERO, True
            pos.last_updated = account.updated_ts = self.now()
            self._emit("position", account=account.name, ticker=ticker, position=pos)


def build_exchange(setup: KalshiSetup, clock: SimClock) -> KalshiExchange:
    exchange = KalshiExchange(setup.markets, setup.accounts, setup.keys, clock.now)
    for ticker, (bids, asks) in setup.books.items():
        if bids or asks:
            exchange.set_book(ticker, bids, asks)
    return exchange


class KalshiSim:
    """Holds the section so `reset` can rebuild the exchange; feed listeners survive a reset."""

    def __init__(self, section: dict | None, clock: SimClock) -> None:
        self.section = section
        self.clock = clock
        self.listeners: list[Callable[[Event], None]] = []
        self.exchange = self._build()

    def _build(self) -> KalshiExchange:
        exchange = build_exchange(parse_section(self.section, self.clock.now()), self.clock)
        exchange.listeners = self.listeners
        return exchange

    def reset(self) -> None:
        """Rebuild from the section; listeners hear `reset` (feeds drop their clients, whose books are now wrong)."""
        self.exchange = self._build()
        for listener in self.listeners:
            listener(Event("reset", {}))

    def on_clock(self, now: float) -> None:
        """After the clock jumps: expire GTC orders whose expiration_time has passed."""
        self.exchange.expire_due()

    def on_event(self, listener: Callable[[Event], Any]) -> None:
        """Subscribe to book, order, fill and position changes (for WebSocket feeds)."""
        self.listeners.append(listener)
