"""The arb engine: both exchanges' feeds in, the pairs a book update touches priced, arbs out through `execute_arb`.

On start it runs `recover()` (with the configured policy, so exposure left by the last run is handled like any
other) until every intent is settled and the positions agree, then reads each pair's Polymarket market
(`trader.market_check`: a pair whose market charges more than its `poly_fee_rate`, lacks its tokens or takes no
orders is not traded; one whose market could not be read is not traded until a read every `market_retry_s`
succeeds), and only then starts the feeds. While it runs it reads each market again every `market_recheck_s`: a
reading refusing the pair stops it, one passing re-admits it. Then every book
update re-prices the pairs on that market (`trader.detect`); an opportunity that clears the pair's minimum edge is
checked against the book's health and the risk limits (`trader.risk`) and taken (one arb in flight per pair),
skipped with the reason, or, in a dry run, logged as what it would take. After an arb its pair waits until each
leg's book has updated again (`trader.rebook`): until then the books may still show the levels the arb took. The
user channels feed the status and trigger a reconciliation (`recover()` again, with no arb in flight) when a
Polymarket trade FAILED or a user channel came back after a drop. Every decision is a JSON log line and a ledger
row (`trader.decisions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clients.book import BookView
from clients.errors import TradingError
from clients.feed import Feed
from clients.feed_events import (
    BookInvalid,
    BookStale,
    BookUpdated,
    Connected,
    Disconnected,
    FeedEvent,
    FeedFailed,
    FillReversed,
    UserFill,
)
from clients.polymarket.types import ClobMarket
from trader.arb import ArbResult, Policy, launch_arb, new_arb_id
from trader.decisions import KILL, RECOVERY, RESULT, RESUMED, SKIPPED, TAKEN, WOULD_TAKE, Decision
from trader.detect import BoxQuote, best_box, deeper_than, may_clear, top_edges, unusable
from trader.exchanges import KalshiTrading, PolyTrading
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity
from trader.market_check import market_refusal
from trader.pairs import Pair, PairsFile
from trader.rebook import Book, Rebook, books_named
from trader.recovery import RecoveryPolicy, RecoveryReport, recover
from trader.risk import Risk, permanent_error

log = logging.getLogger("trader.engine")
SETTLE = RecoveryPolicy()
ZERO = Decimal(0)
UNCAPPED = Decimal(10) ** 9  # the size asked of detection to learn what the books alone would offer
PRESIGN_EVERY = 1.0  # seconds between Kalshi order signatures made ahead (the client keeps one usable 2 s)
MARKET_RETRY_S = 5.0  # seconds between reads of a pair's market info after one failed
# seconds between reads of each pair's market info while the engine runs: the longest a change of Polymarket's category
# fee rates (rare: docs/wire/polymarket.md 4.4) goes unseen, for one public GET a pair each time; far longer than a
# recorded scenario (about 20 s), which so makes no read but the one at start
MARKET_RECHECK_S = 300.0
NOT_READ = "its Polymarket market info is not read yet"
STOPPING = "the engine is stopping: arbs in flight finish, no new one starts"


@dataclass
class PairStatus:
    """What the status view shows for one pair."""

    pair: Pair
    kalshi: BookView | None = None
    poly: dict[str, BookView | None] = field(default_factory=dict)
    problem: str | None = None
    arbs: int = 0
    last: Decision | None = None

    @property
    def edges(self) -> dict[str, Decimal | None]:
        """Each box's edge at the top of the books last evaluated (computed when shown, not on every update)."""
        books = {token: book for token, book in self.poly.items() if book is not None}
        if self.kalshi is None or len(books) < len(self.pair.poly_tokens):
            return {}
        return top_edges(self.pair, self.kalshi, books)


class Engine:
    """One engine over one ledger. `run()` trades until `stop()`, the kill switch, or cancellation."""

    def __init__(
        self,
        config: PairsFile,
        kalshi: KalshiTrading,
        poly: PolyTrading,
        kalshi_feed: Feed,
        poly_feed: Feed,
        ledger: Ledger,
        *,
        dry_run: bool = False,
        settle: RecoveryPolicy = SETTLE,
        clock: Callable[[], float] | None = None,
        today: Callable[[], datetime] = lambda: datetime.now(UTC),
        market_retry_s: float = MARKET_RETRY_S,
        market_recheck_s: float = MARKET_RECHECK_S,
        market_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pairs = config.pairs
        self.limits = config.limits
        self.policy = config.limits.policy
        self.kalshi, self.poly = kalshi, poly
        self.feeds = {"kalshi": kalshi_feed, "poly": poly_feed}
        self.ledger = ledger
        self.dry_run = dry_run
        self.settle = settle
        self._clock = clock
        self._today = today
        self.risk = Risk(config.limits)
        self.status = {p.name: PairStatus(p) for p in self.pairs}
        self.decisions = 0
        self.fills_seen = 0
        self.fills_reversed = 0
        self.books_invalidated = 0
        self.reconciling = False
        self.ready = False
        self._index: dict[tuple[str, str], list[Pair]] = {}
        for pair in self.pairs:
            self._index.setdefault(("kalshi", pair.kalshi_ticker), []).append(pair)
            for token in pair.poly_tokens:
                self._index.setdefault(("poly", token), []).append(pair)
        self._seen: dict[str, tuple[Any, ...]] = {}  # the last decision per pair, so a standing one is logged once
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._launched = False  # an arb was launched by the event being handled
        self._unrecorded: list[Decision] = []  # decided, logged, to be recorded at the end of this loop turn
        self._stopped = asyncio.Event()
        self._reconcile_pending = False
        self._kill_said = False
        self._down: set[tuple[str, str]] = set()
        self._rebook: dict[str, Rebook] = {}  # pair -> its last arb's legs' books, until each has updated since
        self.market_retry_s = market_retry_s
        self.market_recheck_s = market_recheck_s
        self._market_sleep = market_sleep  # the wait between reads of a market (tests step it)
        # pair -> why it is not traded: its market info is unread, unreadable or refused (trader.market_check)
        self.unchecked = {p.name: NOT_READ for p in self.pairs}

    # -- lifecycle -----------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def run(self) -> str | None:
        """Recover, then trade; returns why the kill switch stopped it (None: stopped by `stop()`)."""
        await self._recover_until_settled()
        if self.risk.killed is not None:
            return self.risk.killed
        unread = await self.check_markets()
        if not self.dry_run:  # warm connections for the orders (`clients.lane`), before anything can trade
            await asyncio.gather(self.kalshi.open_lane(), self.poly.open_lane())
        for feed in self.feeds.values():
            await feed.start()
        consumers = [asyncio.create_task(self._consume(feed)) for feed in self.feeds.values()]
        consumers += [asyncio.create_task(self._keep_market_read(pair, pair not in unread)) for pair in self.pairs]
        consumers.append(asyncio.create_task(self._keep_presigned()))
        self.ready = True
        try:
            await self._stopped.wait()
            await self._idle.wait()  # arbs in flight finish (a cancellation, like a crash, cuts them off)
        finally:
            self.ready = False
            with _unwritable_logged("the decisions still waiting"):
                self._record_unrecorded()  # before anything that could be cut short
            for rebook in self._rebook.values():
                rebook.cancel()
            for task in [*consumers, *self._tasks]:  # after a clean stop only a reconciliation may be left
                task.cancel()
            for feed in self.feeds.values():
                await feed.stop()
        return self.risk.killed

    @property
    def _recovering(self) -> Policy | None:
        """What recovery may do with exposure it finds: nothing in a dry run (it sends no order of any kind)."""
        return None if self.dry_run else self.policy

    def stop(self) -> None:
        self._stopped.set()

    async def _consume(self, feed: Feed) -> None:
        """Each event in turn; after one that launched an arb, one loop turn, one more event, one more turn: an order
        the order lane could not take goes by aiohttp, which starts its request in a task and writes the body from
        a task of its own before Python 3.12, each running only then; so it too leaves before the rest of the
        queue is evaluated (an order on the lane was written when the arb was launched)."""
        launched = 0
        while True:
            self.on_event(await feed.events.get())
            if self._launched:
                self._launched, launched = False, 2
            if launched:
                launched -= 1
                await asyncio.sleep(0)

    async def _keep_presigned(self) -> None:
        """A Kalshi order signature made ahead, renewed every PRESIGN_EVERY seconds and after each arb, so an arb's
        Kalshi order spends no RSA signature between its decision and its bytes (none in a dry run)."""
        while not self.dry_run:
            self.kalshi.presign_order()
            await asyncio.sleep(PRESIGN_EVERY)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the pairs' markets as the exchange has them (trader.market_check) -------------------------

    async def check_markets(self) -> list[Pair]:
        """Read every pair's market once (`run` does, after recovery); the pairs whose read failed."""
        return [pair for pair in self.pairs if not await self._check_market(pair)]

    async def _check_market(self, pair: Pair) -> bool:
        """Read the pair's market info and clear the pair or refuse it; False when the read failed: the pair is then
        not traded (a decision naming the failure) and is read again later."""
        failure = await self._read_market(pair)
        if failure is not None:
            self._unread(pair, failure)
        return failure is None

    async def _read_market(self, pair: Pair) -> str | None:
        """Read the pair's market info and apply it (`_apply_market`); what failed, if the read did."""
        try:
            market = await self.poly.get_clob_market(pair.poly_condition_id)
        except TradingError as exc:
            return f"GET /clob-markets/{pair.poly_condition_id} failed ({type(exc).__name__}: {exc})"
        self._apply_market(pair, market)
        return None

    def _apply_market(self, pair: Pair, market: ClobMarket) -> None:
        """Refuse the pair (a decision naming the field and both values) or clear it; a pair that was not traded and
        is cleared is said to be traded again and priced on the books as they stand. An arb in flight goes on."""
        refusal = market_refusal(pair, market)
        if refusal is not None:
            self._untraded(pair, *refusal)
            return
        was = self.unchecked.pop(pair.name, None)
        if was is None:
            return  # traded, and still may be
        log.info(
            "market of %s: fd.r %s <= poly_fee_rate %s, tokens and flags agree: priced at the pairs file's rate",
            pair.name,
            market.fees.rate,
            pair.poly_fee_rate,
        )
        if was != NOT_READ:
            detail = (
                f"GET /clob-markets/{pair.poly_condition_id}: fd.r {market.fees.rate} <= poly_fee_rate "
                f"{pair.poly_fee_rate}, tokens and flags agree: traded again (it was not: {was})"
            )
            self.decide(Decision(RESUMED, pair.name, "market_read", detail))
        if self.ready and self.risk.killed is None:
            self.evaluate(pair)

    def _untraded(self, pair: Pair, code: str, detail: str) -> None:
        """The pair is not traded from now on, and why (said once: the same reason again is not news)."""
        if self.unchecked.get(pair.name) == detail:
            return
        self.unchecked[pair.name] = detail
        self.status[pair.name].problem = detail
        self._seen.pop(pair.name, None)  # a skip said before this is news again once it is traded again
        self.decide(Decision(SKIPPED, pair.name, code, detail))

    def _unread(self, pair: Pair, failure: str, lapsed: bool = False) -> None:
        """The pair is not traded: its market could not be read (`lapsed`: for a period after a re-read failed)."""
        why = (
            f"no read succeeded within {self.market_recheck_s:g} s (market_recheck_s) of the first re-read that "
            "failed; "
            if lapsed
            else ""
        )
        detail = f"{failure}: {why}not traded until a read succeeds (again every {self.market_retry_s:g} s)"
        self._untraded(pair, "market_unread", detail)

    async def _keep_market_read(self, pair: Pair, read: bool) -> None:
        """`_watch_market`; should it raise (a bug, not an exchange answer), the pair's reading would age unseen:
        stop trading rather than guess."""
        try:
            await self._watch_market(pair, read)
        except Exception as exc:
            log.exception("reading the market of %s raised", pair.name)
            self._kill(f"reading the market of {pair.name} raised {type(exc).__name__}: {exc}")

    async def _watch_market(self, pair: Pair, read: bool) -> None:
        """Read the pair's market again every `market_recheck_s` while the engine runs, every `market_retry_s` after a
        read failed (`read`: the last one succeeded). A traded pair whose re-read fails trades on its last good
        reading for one more `market_recheck_s` at most, reading again meanwhile; then it is not traded until a read
        succeeds (fail closed, with the age of the reading it trades on bounded)."""
        until: float | None = None  # a re-read failed: the last good reading is traded on until then
        lapsed = False  # no read succeeded by then: the pair stopped
        while True:
            wait = self.market_recheck_s if read else self.market_retry_s
            if until is not None:
                wait = max(0.0, min(wait, until - self.now()))
            await self._market_sleep(wait)
            failure = await self._read_market(pair)
            read = failure is None
            if failure is None:
                until, lapsed = None, False
            elif pair.name in self.unchecked or (until is not None and self.now() >= until):
                lapsed = lapsed or until is not None
                until = None
                self._unread(pair, failure, lapsed)
            else:
                until = until if until is not None else self.now() + self.market_recheck_s
                log.warning("%s: %s: traded on its last good reading for now", pair.name, failure)

    # -- recovery ------------------------------------------------------------------------------

    async def _recover_until_settled(self) -> None:
        """recover() until no intent is left open and both exchanges were compared; then a position difference
        stops the engine before it trades (fail closed)."""
        while True:
            report = await recover(self.ledger, self.kalshi, self.poly, policy=self._recovering, settle=self.settle)
            self._recorded(report, "start")
            if not report.unresolved and set(report.compared) == {"kalshi", "poly"}:
                break
            await self.settle.sleep(max(self.settle.recheck_delay, 0.05))
        self.risk.refresh(self.ledger, self._today())
        self._check_positions(report)
        if self.risk.killed is not None:
            self._kill(self.risk.killed)

    def _recorded(self, report: RecoveryReport, when: str) -> None:
        detail = (
            f"recovery ({when}): {len(report.resolved)} settled, {len(report.unresolved)} open, "
            f"{len(report.rebooked)} rebooked, {len(report.arbs)} arbs settled, "
            f"{len(report.differences)} position differences"
        )
        self.decide(Decision(RECOVERY, None, "clean" if report.clean else "not_clean", detail))
        refused = permanent_error(u for s in report.arbs for u in s.unwinds)
        if refused is not None:  # the callers stop on it, as on an entry's
            self.risk.killed = self.risk.killed or f"{type(refused).__name__}: {refused} (an unwind placed by recovery)"
        for settlement in report.arbs:
            residual = ", ".join(e.describe() for e in settlement.residual) or "none"
            self.decide(
                Decision(
                    RECOVERY,
                    None,
                    "arb_settled",
                    f"unwinds {len(settlement.unwinds)}, residual {residual}",
                    arb_id=settlement.arb_id,
                )
            )

    def _cool_down(self, arb_ids: list[str]) -> None:
        """Exposure found after the fact (a reversed fill) starts the pair's cooldown, as an arb's own does."""
        for arb_id in arb_ids:
            tickers = {i.leg.instrument for i in self.ledger.arb_intents(arb_id) if i.leg.exchange == "kalshi"}
            for ticker in tickers:
                for pair in self._index.get(("kalshi", ticker), ()):
                    self.risk.cooldown_until[pair.name] = self.now() + self.limits.cooldown_s

    def _check_positions(self, report: RecoveryReport) -> None:
        if report.differences:
            listed = "; ".join(
                f"{d.exchange} {d.instrument}: ledger {d.ledger}, exchange {d.exchange_position}"
                for d in report.differences
            )
            self._kill(f"positions differ from the exchanges: {listed}")

    def _schedule_reconcile(self, why: str) -> None:
        if not self._reconcile_pending:
            self._reconcile_pending = True
            self.reconciling = True  # from now: the events already queued behind this one must not trade
            self._spawn(self._reconcile(why))

    async def _reconcile(self, why: str) -> None:
        """recover() with no arb in flight (new arbs wait), after a reversed fill or a user channel drop."""
        self.reconciling = True
        try:
            await self._idle.wait()
            log.info("reconciling: %s", why)
            report = await recover(self.ledger, self.kalshi, self.poly, policy=self._recovering, settle=self.settle)
            self._recorded(report, why)
            self._cool_down([s.arb_id for s in report.arbs if s.exposure])
            self._await_unwound(report)
            self.risk.refresh(self.ledger, self._today())
            self._check_positions(report)
            if self.risk.killed is not None:
                self._kill(self.risk.killed)
        finally:
            self.reconciling = False
            self._reconcile_pending = False
        if self.risk.killed is None:
            for pair in self.pairs:  # what was skipped while reconciling stands on the books as they are now
                self.evaluate(pair)

    # -- events --------------------------------------------------------------------------------

    def on_event(self, event: FeedEvent) -> None:
        """One feed event: re-price the pairs a book change touches, track fills and the user channels."""
        if isinstance(event, BookInvalid):
            self.books_invalidated += 1
        if isinstance(event, (BookUpdated, BookStale, BookInvalid)):
            for pair in self._index.get((event.exchange, event.market), ()):
                self.evaluate(pair)
        elif isinstance(event, UserFill):
            self.fills_seen += 1
        elif isinstance(event, FillReversed):
            self.fills_reversed += 1
            self._schedule_reconcile(f"{event.exchange} fill {event.fill.fill_id} reversed (trade FAILED)")
        elif isinstance(event, Disconnected) and event.channel in ("kalshi", "user"):
            self._down.add((event.exchange, event.channel))
        elif isinstance(event, Connected) and (event.exchange, event.channel) in self._down:
            self._down.discard((event.exchange, event.channel))
            self._schedule_reconcile(f"{event.exchange} user channel reconnected")
        elif isinstance(event, FeedFailed):
            self._kill(f"{event.exchange} feed stopped: {type(event.error).__name__}: {event.error}")

    def evaluate(self, pair: Pair) -> None:
        """Price the pair on the books as they stand and decide: take, skip (and why), or nothing to do."""
        status = self.status[pair.name]
        kalshi = self.feeds["kalshi"].book(pair.kalshi_ticker)
        poly = {token: self.feeds["poly"].book(token) for token in pair.poly_tokens}
        status.kalshi, status.poly = kalshi, dict(poly)
        if self._stopped.is_set():
            status.problem = STOPPING
            return  # arbs in flight finish; no new one starts
        missing = next((name for name, book in (("kalshi", kalshi), *poly.items()) if book is None), None)
        if kalshi is None or missing is not None:
            status.problem = f"{missing}: {unusable(None)}"
            return  # nothing is decided on a book the feed does not trust
        if pair.name in self.unchecked:
            status.problem = self.unchecked[pair.name]
            return  # said once, when its market was read
        books = {token: book for token, book in poly.items() if book is not None}
        box = best_box(pair, kalshi, books, cap=pair.max_size) if may_clear(pair, kalshi, books) else None
        status.problem = unusable(kalshi) or next((p for p in map(unusable, books.values()) if p), None)
        if box is None:
            self._seen.pop(pair.name, None)
            return
        if status.problem is not None:
            code = "stale" if "stale" in status.problem else "crossed"
            self._skip(pair, box, code, status.problem)
            return
        blocked = self.risk.blocked(pair.name, self.now())
        if blocked is None and self.reconciling:
            blocked = "reconciling positions with the exchanges"
        if blocked is not None:
            self._skip(pair, box, _code(blocked), blocked)
            return
        awaiting = self._awaiting(pair)
        if awaiting is not None:
            rebook, detail = awaiting
            if not rebook.said:  # once per wait: it stands whatever the books show meanwhile
                rebook.said = True
                self._seen.pop(pair.name, None)  # a new wait, even if the last one skipped the same box
                self._skip(pair, box, "awaiting_book", detail)
            return
        self._size_and_take(pair, kalshi, books, box)

    # -- after an arb: its legs' books catch up (trader.rebook) ---------------------------------

    def _book_updates(self, exchange: str, market: str) -> int:
        return self.feeds[exchange].book_updates[market]

    def _await_books(self, pair: Pair, books: tuple[Book, ...], arb_id: str | None) -> None:
        """From the arb's last answer on, the pair waits for each leg's book to apply a later update (and still for
        those an earlier wait has not seen update); one that has not within `rebook_timeout_s` is said once (the pair
        stays blocked)."""
        marks = {book: self._book_updates(*book) for book in books}
        previous = self._rebook.pop(pair.name, None)
        if previous is not None:
            previous.cancel()
            marks = {book: previous.marks[book] for book in previous.waiting(self._book_updates)} | marks
        rebook = Rebook(arb_id, dict(sorted(marks.items())))
        loop = asyncio.get_running_loop()
        rebook.timer = loop.call_later(self.limits.rebook_timeout_s, self._rebook_overdue, pair, rebook)
        self._rebook[pair.name] = rebook

    def _await_unwound(self, report: RecoveryReport) -> None:
        """The books a reconciliation's unwinds took levels of make their pairs wait too, as an arb's do."""
        for settlement in report.arbs:
            unwound = {(u.leg.exchange, u.leg.instrument) for u in settlement.unwinds}
            for pair in {p.name: p for book in unwound for p in self._index.get(book, ())}.values():
                self._await_books(pair, tuple(unwound), settlement.arb_id)

    def _awaiting(self, pair: Pair) -> tuple[Rebook, str] | None:
        """The pair's wait and why it stands (None: no wait, or every leg's book has updated since the arb)."""
        rebook = self._rebook.get(pair.name)
        if rebook is None:
            return None
        waiting = rebook.waiting(self._book_updates)
        if not waiting:
            rebook.cancel()
            del self._rebook[pair.name]
            return None
        detail = (
            f"awaiting an update of {books_named(waiting)} after arb {rebook.arb_id}'s orders were answered "
            "(until then it may still show the levels the arb took)"
        )
        return rebook, detail

    def _rebook_overdue(self, pair: Pair, rebook: Rebook) -> None:
        """`rebook_timeout_s` after the answers: a wait still standing is recorded (again, if an opportunity skipped
        during it already was: that it is late is news); nothing after the engine stopped (a cancelled arb's wait)."""
        waiting = rebook.waiting(self._book_updates)
        if not self.ready or self._rebook.get(pair.name) is not rebook or not waiting:
            return
        detail = (
            f"no update of {books_named(waiting)} within rebook_timeout_s {self.limits.rebook_timeout_s:g} s of "
            f"arb {rebook.arb_id}'s answers: the pair stays blocked until one arrives"
        )
        rebook.said = True  # the wait is said: what the books show meanwhile adds nothing
        self._decide_soon(Decision(SKIPPED, pair.name, "awaiting_book", detail))

    def _size_and_take(self, pair: Pair, kalshi: BookView, books: dict[str, BookView], box: BoxQuote) -> None:
        notes = []
        if box.count == pair.max_size and deeper_than(pair, kalshi, books, pair.max_size):
            offered = best_box(pair, kalshi, books, cap=UNCAPPED)
            if offered is not None and offered.count > box.count:
                notes.append(f"sized down from {_n(offered.count)} to the pair's max_size {_n(pair.max_size)}")
        room, binding = self.risk.headroom(self._held(pair), pair.max_size, pair.max_position)
        if room < box.count:
            sized = best_box(pair, kalshi, books, cap=room)
            if sized is None:
                self._skip(pair, box, binding, f"no room: {_n(room)} contracts within the {binding.replace('_', ' ')}")
                return
            notes.append(f"sized down from {_n(box.count)} to {_n(sized.count)} ({binding.replace('_', ' ')})")
            box = sized
        today = self._today()
        if self.risk.day != today.date().isoformat():  # a new UTC day: its loss room starts afresh, not yesterday's
            self.risk.refresh(self.ledger, today)
            if self.risk.killed is not None:
                self._kill(self.risk.killed)
                return
        refused = self.risk.loss_refusal(box.worst_loss)
        if refused is not None:
            self._skip(pair, box, "daily_loss", refused)
            return
        detail = "; ".join([f"edge {box.edge_per_contract:.6f} per contract, {box.edge:.6f} in all", *notes])
        if self.dry_run:
            self._decide_once(pair, _decision(WOULD_TAKE, pair, "dry_run", detail, box))
            return
        self._seen.pop(pair.name, None)
        arb_id = new_arb_id()
        decision = _decision(TAKEN, pair, "edge", detail, box, arb_id)
        decisions = [*self._unrecorded, decision]  # recorded with both intents, in their commit
        try:
            arb = launch_arb(
                self.kalshi,
                self.poly,
                self.opportunity(pair, box, books[box.poly_token]),
                self.ledger,
                self.policy,
                decisions=decisions,
                arb_id=arb_id,
            )
        except Exception as exc:  # the ledger could not commit, or a bug: nothing was sent; stop rather than guess
            log.exception("arb on %s not launched", pair.name)
            self._kill(f"arb on {pair.name} raised {type(exc).__name__}: {exc}")
            return
        self._unrecorded.clear()
        self._launched = True
        self._noted(decision)
        self.risk.launched(pair.name, box.count, box.worst_loss)
        self._idle.clear()
        self._spawn(self._execute(pair, arb, (("kalshi", pair.kalshi_ticker), ("poly", box.poly_token))))

    def _held(self, pair: Pair) -> Decimal:
        """Contracts the pair holds: the larger of the Kalshi position and the Polymarket shares."""
        positions = self.risk.positions
        kalshi = abs(positions.get(("kalshi", pair.kalshi_ticker), ZERO))
        poly = sum((positions.get(("poly", token), ZERO) for token in pair.poly_tokens), ZERO)
        return max(kalshi, poly)

    async def _execute(self, pair: Pair, arb: Coroutine[Any, Any, ArbResult], books: tuple[Book, ...]) -> None:
        result: ArbResult | None = None
        try:
            result = await arb
        except Exception as exc:  # a bug, not an exchange answer: stop trading rather than guess
            log.exception("arb on %s raised", pair.name)
            self._kill(f"arb on {pair.name} raised {type(exc).__name__}: {exc}")
            return
        finally:
            self.risk.landed(pair.name)
            if not self.risk.in_flight:
                self._idle.set()
            self._await_books(pair, books, result.arb_id if result is not None else None)
        self.kalshi.presign_order()  # the next arb's (the one made ahead went out with this arb's order)
        self.status[pair.name].arbs += 1
        self.risk.record(pair.name, result, self.now())
        self.risk.refresh(self.ledger, self._today())
        self.decide(_result(pair, result))
        if self.risk.killed is not None:
            self._kill(self.risk.killed)

    def opportunity(self, pair: Pair, box: BoxQuote, poly_book: BookView) -> Opportunity:
        """The two legs of a box: Kalshi IOC at the worst level walked, Polymarket FAK spending the walk's cost, at the
        tick of `poly_book` (the box's token's book as it was priced) or else the pair's."""
        tick = poly_book.tick_size or pair.poly_tick_size
        kalshi = Leg(
            "kalshi",
            pair.kalshi_ticker,
            "buy",
            box.count,
            box.kalshi.limit,
            box.kalshi_outcome,  # type: ignore[arg-type]  # "yes" or "no", from detect
            pair.kalshi_tick_size,
        )
        poly = Leg(
            "poly", box.poly_token, "buy", box.count, box.poly.limit, None, tick, pair.poly_neg_risk, box.poly.cost
        )
        return Opportunity(kalshi, poly, box.edge_per_contract)

    # -- decisions -----------------------------------------------------------------------------

    def decide(self, decision: Decision) -> None:
        """Log and record one decision (after those still waiting to be, in one transaction)."""
        self._noted(decision)
        self.ledger.record_decisions([*self._unrecorded, decision])
        self._unrecorded.clear()

    def _decide_soon(self, decision: Decision) -> None:
        """Log a decision now and record it, with the time it was made, at the end of this turn of the event loop
        (or with the next one recorded, before it): a skip waits for no fsync, and no order an arb just started
        waits for its fsync."""
        self._noted(decision)
        self._unrecorded.append(replace(decision, at=self.ledger.now().isoformat(timespec="microseconds")))
        if len(self._unrecorded) == 1:
            asyncio.get_running_loop().call_soon(self._record_unrecorded)

    def _record_unrecorded(self) -> None:
        if self._unrecorded:
            self.ledger.record_decisions(self._unrecorded)
            self._unrecorded.clear()

    def _noted(self, decision: Decision) -> None:
        """Count, show and log a decision (recording it is the caller's)."""
        self.decisions += 1
        if decision.pair is not None:
            self.status[decision.pair].last = decision
        if log.isEnabledFor(logging.INFO):
            log.info(decision.log_line())

    def _decide_once(self, pair: Pair, decision: Decision) -> None:
        """A standing decision (the same skip on every update) is logged and recorded once."""
        key = (
            decision.kind,
            decision.reason,
            decision.outcome,
            decision.count,
            decision.kalshi_price,
            decision.poly_price,
        )
        if self._seen.get(pair.name) != key:
            self._seen[pair.name] = key
            self._decide_soon(decision)

    def _skip(self, pair: Pair, box: BoxQuote, code: str, detail: str) -> None:
        self._decide_once(pair, _decision(SKIPPED, pair, code, detail, box))

    def _kill(self, reason: str) -> None:
        """Stop trading for good and say why (once: the first reason stands)."""
        self.risk.killed = self.risk.killed or reason
        self._stopped.set()  # first: a ledger that cannot record the kill must not keep the engine trading
        if not self._kill_said:
            self._kill_said = True
            log.error("kill switch: %s", self.risk.killed)
            with _unwritable_logged("the kill switch"):
                self.decide(Decision(KILL, None, "killed", self.risk.killed))


@contextlib.contextmanager
def _unwritable_logged(what: str) -> Iterator[None]:
    """A ledger that cannot write (disk full, I/O error, closed) as the engine stops: logged, the stop goes on."""
    try:
        yield
    except sqlite3.Error:
        log.exception("%s not recorded: the ledger cannot write", what)


def _decision(kind: str, pair: Pair, reason: str, detail: str, box: BoxQuote, arb_id: str | None = None) -> Decision:
    return Decision(
        kind,
        pair.name,
        reason,
        detail,
        box.kalshi_outcome,
        box.count,
        box.kalshi.limit,
        box.poly.limit,
        box.edge_per_contract,
        arb_id,
    )


def _result(pair: Pair, result: ArbResult) -> Decision:
    k, p = result.kalshi, result.poly
    exposure = ", ".join(e.describe() for e in result.residual) or "none"
    detail = (
        f"kalshi {k.status} {k.filled}, poly {p.status} {p.filled}, matched {result.matched}, "
        f"unwinds {len(result.unwinds)}, exposure left {exposure}"
    )
    reason = (
        "uncertain" if result.uncertain else "exposure" if result.exposure else "matched" if result.matched else "none"
    )
    return Decision(
        RESULT,
        pair.name,
        reason,
        detail,
        k.leg.outcome,
        result.matched,
        k.leg.price,
        p.leg.price,
        result.opportunity.edge,
        result.arb_id,
    )


def _n(count: Decimal) -> str:
    """A count as people write it: 50.00 -> 50."""
    return f"{count.normalize():f}"


def _code(blocked: str) -> str:
    """The short reason code of a risk refusal (its sentence starts with what it is)."""
    for prefix, code in (
        ("kill switch", "killed"),
        ("arb in flight", "in_flight"),
        ("cooldown", "cooldown"),
        ("open exposure", "exposure_limit"),
        ("reconciling", "reconciling"),
    ):
        if blocked.startswith(prefix):
            return code
    return "blocked"
