"""The paper Polymarket exchange: accounts, books, order entry, matching, cancels and settlement.

Every change is announced to `listeners` as `(kind, record)` with kind "order", "trade" or
"book", so WebSocket feeds can be added later without touching the engine. Time comes only from
the SimClock; `sweep` applies what time did (GTD expiry, MATCHED -> MINED -> CONFIRMED).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import secrets
import uuid
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from eth_utils import keccak

from simulator.clock import SimClock
from simulator.poly.auth import ApiCreds
from simulator.poly.book import Book
from simulator.poly.config import Level, PolyState
from simulator.poly.errors import PolyError
from simulator.poly.matching import Fill, complete, plan
from simulator.poly.model import (
    BUY,
    CANCELED,
    IMMEDIATE,
    LIVE,
    MARKET_MAKER_ADDRESS,
    MARKET_MAKER_OWNER,
    MATCHED,
    ONE,
    RESOLVED,
    SELL,
    TRADE_CONFIRMED,
    TRADE_FAILED,
    TRADE_MATCHED,
    TRADE_MINED,
    TRADE_RETRYING,
    ZERO,
    Account,
    MakerFill,
    Order,
    Token,
    Trade,
)
from simulator.poly.orders import OrderRequest
from simulator.poly.wire import decimals, human

Listener = Callable[[str, Any], None]

# Exchange-wide trading modes (docs: error codes, matching-engine restarts).
NORMAL, POST_ONLY, CANCEL_ONLY, DISABLED = "normal", "post_only", "cancel_only", "disabled"
MODES = (NORMAL, POST_ONLY, CANCEL_ONLY, DISABLED)
DISABLED_MSG = "Trading is currently disabled. Check polymarket.com for updates"
CANCEL_ONLY_MSG = "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed."
POST_ONLY_MODE_MSG = "post-only mode: only post-only orders and cancels are allowed"

NOT_READY = "the market is not yet ready to process new orders"
MARKET_NOT_FOUND = "market not found"
NO_FUNDS = "not enough balance / allowance"
BAD_EXPIRATION = "invalid expiration"
POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
POST_ONLY_TYPE = "invalid post-only order: only GTC and GTD orders can be post-only"
FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_KILLED = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
NOT_FOUND_OR_CANCELED = "Order not found or already canceled"
ALREADY_MATCHED = "Order already matched"
GTD_THRESHOLD_S = 60  # the server's security threshold: a GTD order lives until expiration - 60 s

# Amount decimals of a limit order's pUSD side, per tick (py-clob-client-v2, uni and ts-v2 agree).
AMOUNT_DECIMALS = {
    Decimal("0.1"): 3,
    Decimal("0.01"): 4,
    Decimal("0.005"): 5,
    Decimal("0.0025"): 6,
    Decimal("0.001"): 5,
    Decimal("0.0001"): 6,
}
FEE_QUANTUM = Decimal("0.00001")


def taker_fee(size: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """V2 taker fee of one trade row: size x rate x p x (1 - p), rounded to 5 decimals (wire notes §4.4)."""
    return (size * rate * price * (ONE - price)).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


class PolyExchange:
    def __init__(self, initial: PolyState, clock: SimClock, run_id: str | None = None) -> None:
        """`run_id` seeds the ids the exchange makes up (trades, transaction hashes, market-maker orders):
        random by default, so sessions recorded on separate simulator runs never share an id; a test that
        needs fixed ids passes its own."""
        self.clock = clock
        self.listeners: list[Listener] = []
        self._initial = initial
        self.run_id = run_id if run_id is not None else secrets.token_hex(8)
        self._minted = itertools.count(1)  # never reset: ids stay unique across resets too
        self.reset()

    def reset(self) -> None:
        """Back to the state file's markets, books and balances (API keys survive a reset)."""
        state = copy.deepcopy(self._initial)
        self.settings = state.settings
        self.tokens: dict[str, Token] = state.tokens
        self.markets = {m.condition_id: m for m in state.markets}
        self.accounts: dict[str, Account] = state.accounts
        self.books: dict[str, Book] = {token_id: Book() for token_id in self.tokens}
        self.orders: dict[str, Order] = {}
        self.trades: list[Trade] = []
        self.mode = NORMAL
        self.mode_until: float | None = None  # when a timed post-only mode ends
        self._seq = 0
        for token_id, (bids, asks) in state.books.items():
            self.set_book(token_id, bids, asks)
        self.emit("reset", None)

    # -- time -------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock.now())

    def sweep(self, now: float | None = None) -> None:
        """Apply the passing of time: end post-only mode, expire GTD orders, move trades along."""
        now = self.clock.now() if now is None else now
        if self.mode_until is not None and now >= self.mode_until:
            self.mode, self.mode_until = NORMAL, None
        for order in list(self.orders.values()):
            if order.status == LIVE and order.order_type == "GTD" and now >= order.expiration - GTD_THRESHOLD_S:
                self._close(order, CANCELED)
        for trade in self.trades:
            status = self._trade_status(trade, now)
            if status != trade.status:
                trade.status, trade.last_update = status, int(now)
                if status == TRADE_FAILED:
                    _reverse(trade)
                self.emit("trade", trade)

    def _trade_status(self, trade: Trade, now: float) -> str:
        """MATCHED -> MINED -> CONFIRMED as the clock passes; a failing trade RETRYING, then FAILED."""
        age = now - trade.created_ts
        if age >= self.settings.confirmed_after_s:
            return TRADE_FAILED if trade.fails else TRADE_CONFIRMED
        if age >= self.settings.mined_after_s:
            return TRADE_RETRYING if trade.fails else TRADE_MINED
        return TRADE_MATCHED

    def emit(self, kind: str, record: Any) -> None:
        for listener in self.listeners:
            listener(kind, record)

    # -- accounts and funds -----------------------------------------------------------------

    def account(self, address: str) -> Account:
        """The account of an EOA; an address that made an API key but is not in the state trades
        from its own empty EOA wallet, as a new real account would."""
        if address not in self.accounts:
            self.accounts[address] = Account(address=address, signature_type=0, funder=address, balance=ZERO)
        return self.accounts[address]

    def open_orders(self, account: Account) -> Iterable[Order]:
        return (o for o in self.orders.values() if o.account is account and o.status == LIVE)

    def reserved_pusd(self, account: Account) -> Decimal:
        return sum((o.remaining * o.price for o in self.open_orders(account) if o.side == BUY), ZERO)

    def reserved_shares(self, account: Account, token_id: str) -> Decimal:
        return sum(
            (o.remaining for o in self.open_orders(account) if o.side == SELL and o.token.token_id == token_id), ZERO
        )

    def _check_funds(self, account: Account, req: OrderRequest) -> None:
        if req.side == BUY:
            need = req.maker_amount + req.maker_amount * req.token.market.fee_rate
            reserved = self.reserved_pusd(account)
            short = account.balance - reserved < need
            if account.allowance is not None and reserved + need > account.allowance:
                short = True
        else:
            short = (
                account.shares(req.token.token_id) - self.reserved_shares(account, req.token.token_id)
                < req.maker_amount
            )
        if short:
            raise PolyError(400, NO_FUNDS)

    # -- order entry ------------------------------------------------------------------------

    def token(self, token_id: str) -> Token:
        token = self.tokens.get(token_id)
        if token is None:
            raise PolyError(404, MARKET_NOT_FOUND)
        return token

    def check_mode(self, post_only: bool) -> None:
        """503 while trading is disabled or cancel-only, or (for non-post-only orders) post-only."""
        self.sweep()
        if self.mode == DISABLED:
            raise PolyError(503, DISABLED_MSG)
        if self.mode == CANCEL_ONLY:
            raise PolyError(503, CANCEL_ONLY_MSG)
        if self.mode == POST_ONLY and not post_only:
            retry = max(1, math.ceil((self.mode_until or self.clock.now()) - self.clock.now()))
            raise PolyError(
                503,
                POST_ONLY_MODE_MSG,
                extra={"code": "post_only_mode", "retry_after_seconds": retry},
                headers={"Retry-After": str(retry)},
            )

    def set_mode(self, mode: str, seconds: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.mode_until = self.clock.now() + seconds if seconds is not None and mode == POST_ONLY else None

    def place(self, creds: ApiCreds, account: Account, req: OrderRequest, *, fail: bool = False) -> dict[str, Any]:
        """Validate, match and (for GTC/GTD remainders) rest one order; the `POST /order` body.
        `fail` makes the trades of this order fail settlement later (fault `fail_trades`)."""
        market = req.token.market
        if market.closed or not market.accepting_orders:
            raise PolyError(400, NOT_READY)
        limit = self._check_rules(req)
        if req.id in self.orders:
            raise PolyError(400, f"order {req.id} is invalid. Duplicated.")
        self._check_funds(account, req)
        market_buy = req.order_type in IMMEDIATE and req.side == BUY
        size = dict(budget=req.maker_amount) if market_buy else dict(shares=req.shares)
        book = self.books[req.token.token_id]
        fills = plan(book, req.side, limit, **size)
        if req.post_only and fills:
            raise PolyError(400, POST_ONLY_CROSSES)
        if req.order_type == "FOK" and not complete(fills, limit, **size):
            raise PolyError(400, FOK_KILLED)
        if req.order_type == "FAK" and not fills:
            raise PolyError(400, FAK_KILLED)
        order = self._new_order(account, creds.api_key, req, limit, fills)
        trades = self.execute(order, fills)
        for trade in trades:
            trade.fails = trade.fails or fail  # a feed fault may have marked it already
        if req.order_type in IMMEDIATE or order.remaining <= ZERO:
            order.status = MATCHED if fills else CANCELED
        else:
            book.add(order)
            self.emit("book", req.token.token_id)
        self.orders[order.id] = order
        self.emit("order", order)
        return self._placed(order, fills, trades)

    def _check_rules(self, req: OrderRequest) -> Decimal:
        """Order type, expiration, amount precision, tick and minimum size; returns the limit price."""
        market = req.token.market
        immediate = req.order_type in IMMEDIATE
        if req.post_only and immediate:
            raise PolyError(400, POST_ONLY_TYPE)
        if req.order_type == "GTD":
            if req.expiration <= self.clock.now() + GTD_THRESHOLD_S:
                raise PolyError(400, BAD_EXPIRATION)
        elif req.expiration != 0:
            raise PolyError(400, BAD_EXPIRATION)
        if req.maker_amount <= ZERO or req.taker_amount <= ZERO:
            raise PolyError(400, "Invalid order payload")
        _check_precision(req, AMOUNT_DECIMALS[market.tick_size])
        limit = req.pusd / req.shares
        tick = market.tick_size
        on_grid = tick <= limit <= ONE - tick and (immediate or limit % tick == ZERO)
        if not on_grid:
            shown = limit.quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
            raise PolyError(
                400, f"order {req.id} is invalid. Price ({human(shown)}) breaks minimum tick size rule: {human(tick)}"
            )
        if immediate and req.side == BUY and req.maker_amount < ONE:
            raise PolyError(
                400, f"invalid amount for a marketable BUY order (${human(req.maker_amount)}), min size: $1"
            )
        if not immediate and req.shares < market.min_order_size:
            raise PolyError(
                400,
                f"order {req.id} is invalid. Size ({human(req.shares)}) lower than the minimum: "
                f"{human(market.min_order_size)}",
            )
        return limit

    def _new_order(
        self, account: Account | None, owner: str, req: OrderRequest, limit: Decimal, fills: list[Fill]
    ) -> Order:
        self._seq += 1
        shown = (
            limit.quantize(req.token.market.tick_size, rounding=ROUND_DOWN) if req.order_type in IMMEDIATE else limit
        )
        filled = sum((f.size for f in fills), ZERO)
        return Order(
            id=req.id,
            account=account,
            owner=owner,
            maker_address=req.maker,
            token=req.token,
            side=req.side,
            price=shown,
            original_size=max(req.shares, filled),
            order_type=req.order_type,
            expiration=req.expiration,
            created_at=self.now(),
            seq=self._seq,
            created_ts=self.clock.now(),
        )

    def _placed(self, order: Order, fills: list[Fill], trades: list[Trade]) -> dict[str, Any]:
        """The 200 body, in the real key order; a resting order reports "" amounts."""
        if not fills:
            return {
                "errorMsg": "",
                "orderID": order.id,
                "takingAmount": "",
                "makingAmount": "",
                "status": "live",
                "success": True,
            }
        shares = sum((f.size for f in fills), ZERO)
        pusd = sum((f.cost for f in fills), ZERO)
        making, taking = (pusd, shares) if order.side == BUY else (shares, pusd)
        return {
            "errorMsg": "",
            "orderID": order.id,
            "takingAmount": human(taking),
            "makingAmount": human(making),
            "status": "matched",
            "success": True,
            "transactionsHashes": [t.transaction_hash for t in trades],
            "tradeIDs": [t.id for t in trades],
        }

    # -- matching ---------------------------------------------------------------------------

    def execute(self, taker: Order, fills: list[Fill]) -> list[Trade]:
        """Move shares and pUSD for each fill and record one trade per price level; the taker's fee is
        charged per trade row (the rule a client can check from the row's size, price and fee_rate_bps)."""
        trades: list[Trade] = []
        book = self.books[taker.token.token_id]
        for fill in fills:
            maker, price = fill.maker, fill.price
            _settle(taker.account, taker, fill.size, price)
            _settle(maker.account, maker, fill.size, price)
            maker.size_matched += fill.size
            taker.size_matched += fill.size
            if maker.remaining <= ZERO:
                maker.status = MATCHED
                book.remove(maker)
            if not trades or trades[-1].price != price:
                trades.append(self._new_trade(taker, price, len(trades)))
            trade = trades[-1]
            trade.size += fill.size
            trade.makers.append(MakerFill(maker, fill.size))
            for order in (maker, taker):
                if trade.id not in order.associate_trades:
                    order.associate_trades.append(trade.id)
            if maker.account is not None:
                self.emit("order", maker)
        for trade in trades:
            trade.fee = taker_fee(trade.size, trade.price, taker.token.market.fee_rate)
            if taker.account is not None:
                taker.account.balance -= trade.fee
        if fills:
            taker.token.last_trade_price = fills[-1].price
            self.trades.extend(trades)
            for trade in trades:
                self.emit("trade", trade)
            self.emit("book", taker.token.token_id)
        return trades

    def _mint(self, kind: str) -> bytes:
        """32 bytes no other id of this run, or of another run, starts from."""
        return hashlib.sha256(f"tradetape-poly-{kind}-{self.run_id}-{next(self._minted)}".encode()).digest()

    def _new_trade(self, taker: Order, price: Decimal, bucket: int) -> Trade:
        trade_id = str(uuid.UUID(bytes=self._mint("trade")[:16], version=4))
        now = self.now()
        return Trade(
            id=trade_id,
            taker=taker,
            price=price,
            size=ZERO,
            fee=ZERO,
            match_time=now,
            bucket_index=bucket,
            makers=[],
            transaction_hash="0x" + keccak(text=trade_id).hex(),
            last_update=now,
            created_ts=self.clock.now(),
        )

    # -- market maker -----------------------------------------------------------------------

    def set_book(self, token_id: str, bids: list[Level], asks: list[Level]) -> list[Trade]:
        """Replace the market maker's liquidity; new levels that cross users' resting orders trade
        with them first (the users are the makers)."""
        token = self.token(token_id)
        book = self.books[token_id]
        for order in book.orders():
            if order.account is None:
                book.remove(order)
        trades: list[Trade] = []
        for side, levels in ((BUY, bids), (SELL, asks)):
            for level in levels:
                self._seq += 1
                order = Order(
                    id="0x" + self._mint("mm-order").hex(),
                    account=None,
                    owner=MARKET_MAKER_OWNER,
                    maker_address=MARKET_MAKER_ADDRESS,
                    token=token,
                    side=side,
                    price=level.price,
                    original_size=level.size,
                    order_type="GTC",
                    expiration=0,
                    created_at=self.now(),
                    seq=self._seq,
                )
                trades += self.execute(order, plan(book, side, level.price, shares=level.size))
                if order.remaining > ZERO:
                    book.add(order)
        self.emit("book", token_id)
        return trades

    # -- cancels and settlement -------------------------------------------------------------

    def cancel(self, account: Account, order_ids: Iterable[str]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in dict.fromkeys(order_ids):
            order = self.orders.get(order_id)
            if order is None or order.account is not account or order.status != LIVE:
                reason = (
                    ALREADY_MATCHED
                    if order is not None and order.account is account and order.status == MATCHED
                    else NOT_FOUND_OR_CANCELED
                )
                not_canceled[order_id] = reason
                continue
            self._close(order, CANCELED)
            canceled.append(order_id)
        return {"canceled": canceled, "not_canceled": not_canceled}

    def _close(self, order: Order, status: str) -> None:
        order.status = status
        self.books[order.token.token_id].remove(order)
        self.emit("order", order)
        self.emit("book", order.token.token_id)

    def settle(self, condition_id: str, winning_token_id: str) -> None:
        """Resolve a market: cancel its orders, pay 1 pUSD per winning share, burn the rest."""
        market = self.markets.get(condition_id)
        if market is None:
            raise ValueError(f"unknown condition_id {condition_id}")
        if winning_token_id not in market.token_ids:
            raise ValueError(f"token {winning_token_id} is not an outcome of market {condition_id}")
        market.closed, market.accepting_orders = True, False
        for order in list(self.orders.values()):
            if order.status == LIVE and order.token.market is market:
                self._close(order, RESOLVED)
        for token_id in market.token_ids:
            self.books[token_id] = Book()
            for account in self.accounts.values():
                shares = account.positions.pop(token_id, ZERO)
                if token_id == winning_token_id:
                    account.balance += shares
            self.emit("book", token_id)


def _reverse(trade: Trade) -> None:
    """A FAILED trade moved nothing on chain: undo both sides of each fill and refund the taker's fee."""
    taker = trade.taker
    for maker_fill in trade.makers:
        _settle(taker.account, taker, maker_fill.size, trade.price, -1)
        _settle(maker_fill.order.account, maker_fill.order, maker_fill.size, trade.price, -1)
    if taker.account is not None:
        taker.account.balance += trade.fee


def _settle(account: Account | None, order: Order, size: Decimal, price: Decimal, sign: int = 1) -> None:
    """One side of a fill: a BUY pays size x price for shares, a SELL the reverse; sign -1 undoes it."""
    if account is None:
        return
    token_id = order.token.token_id
    direction = sign if order.side == BUY else -sign
    account.balance -= direction * size * price
    account.positions[token_id] = account.shares(token_id) + direction * size


def _check_precision(req: OrderRequest, amount_decimals: int) -> None:
    """The server's accuracy rules: shares at 2 decimals; pUSD per tick (limit) or 2/4 (market)."""
    immediate = req.order_type in IMMEDIATE
    if req.side == BUY:
        maker_max, taker_max = (2, 4) if immediate else (amount_decimals, 2)
    else:
        maker_max, taker_max = 2, (max(4, amount_decimals) if immediate else amount_decimals)
    if decimals(req.maker_amount) > maker_max or decimals(req.taker_amount) > taker_max:
        kind = ("market " if immediate else "") + ("buy" if req.side == BUY else "sell")
        raise PolyError(
            400,
            f"invalid amounts, the {kind} orders maker amount supports a max accuracy of "
            f"{maker_max} decimals, taker amount a max of {taker_max} decimals",
        )
