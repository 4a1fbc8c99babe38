"""A seeded chaos walk over the trader, the real clients and both paper exchanges (loopback, frozen clock).

Each seed builds a fresh pair of paper exchanges on a clock that moves only when the walk moves it, and
takes `steps` random steps: arbs of random size, price and side with faults armed on either leg (every
kind `simulator.faults` has), lagging or failing reads, single legs, book changes, clock jumps, crashes
mid-arb, restarts (racy ones while received orders are still to execute) and `recover()`. After every
step the invariants that must always hold are checked; at `settle` steps (and at the end) the walk lets
every fault play out, recovers until nothing is open, and checks that the ledger agrees with the
exchanges exactly: positions, each order's fills, cash, exposures, and that `recover()` is then clean
and idempotent.

    python tests/chaos_walk.py --seeds 20 --steps 200        # or: make chaos SEEDS=20 STEPS=200

prints the counts of every fault kind and event exercised; on a violation, the seed, the step and the
actions that led there (rerun with `--seeds 1 --first-seed N` to see it again).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from paper_helpers import KALSHI_TICKER, POLY_NO, POLY_YES, Paper, paper

from simulator.faults import Fault, parse_fault
from simulator.poly.config import Level
from trader.arb import Policy, execute_arb
from trader.execute import execute_leg
from trader.exposure import imbalance
from trader.ledger import Intent, Ledger
from trader.legs import Leg, Opportunity
from trader.recovery import RecoveryPolicy, RecoveryReport, recover

D = Decimal
ZERO = D(0)
ORDERS = "/trade-api/v2/portfolio/events/orders"
KALSHI_READS = r"/trade-api/v2/portfolio/(orders|fills)"
POLY_READS = r"/data/(order/.*|trades)"
WINDOW = 30.0  # RecoveryPolicy.not_found_window: longer than any late execution or read lag below
MAX_LATE_MS = 8_000
MAX_LAG_MS = 8_000
LEG_TIMEOUT = 1.0  # real seconds the trader waits for an answer (a held execute_late request waits this long)
POST_FAULTS = (
    "respond_5xx",
    "drop_before",
    "act_then_drop",
    "act_then_5xx",
    "garble_truncate",
    "garble_junk",
    "garble_cut",
    "execute_late_hold",
    "execute_late_drop",
    "fail_trades",
)
READ_FAULTS = ("read_lag", "read_5xx")
FAULT_KINDS = POST_FAULTS + READ_FAULTS


class Crash(BaseException):
    """The trading process dies here (not an Exception: nothing in the trader may catch it)."""


@dataclass
class Violation(AssertionError):
    seed: int
    step: int
    message: str
    actions: list[str]

    def __str__(self) -> str:
        tail = "\n".join(f"  {line}" for line in self.actions[-25:])
        return f"chaos violation, seed {self.seed}, step {self.step}: {self.message}\nactions:\n{tail}"


class Crashing:
    """A real client that dies (raises Crash) at its `at`-th order send, before or after the exchange saw it."""

    def __init__(self, client: Any, at: int, after_send: bool) -> None:
        self._client, self._at, self._after, self.sends = client, at, after_send, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def _send(self, call: Callable[[], Awaitable[Any]]) -> Any:
        self.sends += 1
        if self.sends == self._at and not self._after:
            raise Crash("crashed before sending")
        result = await call()
        if self.sends == self._at:
            raise Crash("crashed after sending")
        return result

    def prepare_order(self, *args: Any, **kwargs: Any) -> Callable[[], Awaitable[Any]]:
        start = self._client.prepare_order(*args, **kwargs)
        return lambda: self._send(start)

    def prepare_post(self, signed: Any) -> Callable[[], Awaitable[Any]]:
        start = self._client.prepare_post(signed)
        return lambda: self._send(start)


class Walk:
    def __init__(
        self, seed: int, steps: int, world: Paper, directory: Path, counts: Counter, leg_timeout: float
    ) -> None:
        self.seed, self.steps, self.world, self.counts = seed, steps, world, counts
        self.rng = random.Random(seed)
        self.path = directory / f"ledger-{seed}.sqlite"
        self.actions: list[str] = []
        self.step = 0
        self.dirty = False  # a fault, crash or restart since the last settle
        self.armed: list[tuple[str, Fault, int]] = []
        self.leg_timeout = leg_timeout
        self.policy = Policy(on_exposure="unwind" if self.rng.random() < 0.8 else "hold", leg_timeout=leg_timeout)
        self.recover_policy = Policy(leg_timeout=leg_timeout) if self.rng.random() < 0.8 else None
        self.settle_rules = RecoveryPolicy(not_found_window=WINDOW, recheck_delay=1.0, sleep=self.sleep)
        self.kalshi, self.poly = world.kalshi, world.poly
        self.lanes = seed % 2 == 0  # even seeds send the orders on the clients' order lanes, odd ones by aiohttp
        self.ledger = Ledger(self.path, clock=self.ledger_clock)
        kalshi_account = world.kalshi_exchange.accounts["default"]
        self.kalshi_cash0 = kalshi_account.cash
        self.poly_cash0 = world.poly_exchange.accounts[world.poly.address].balance
        self.poly_shares0 = dict(world.poly_exchange.accounts[world.poly.address].positions)

    # -- plumbing -------------------------------------------------------------------------------

    def ledger_clock(self) -> str:
        return datetime.fromtimestamp(self.world.sim.clock.now(), UTC).isoformat(timespec="microseconds")

    async def sleep(self, seconds: float) -> None:
        """Waiting, in the simulated world: the clock moves (and late executions may happen)."""
        await self.advance(seconds)

    async def advance(self, seconds: float) -> None:
        before = self.world.sim.clock.pending
        failing = self._failed_trades()
        await self.world.sim.clock.advance(seconds)
        self.counts["late_executed"] += before - self.world.sim.clock.pending
        self.counts["trades_failed"] += self._failed_trades() - failing

    def _failed_trades(self) -> int:
        return sum(1 for t in self.world.poly_exchange.trades if t.status == "FAILED")

    def log(self, text: str) -> None:
        self.actions.append(f"{self.step:>4} {text}")

    def fail(self, message: str) -> None:
        raise Violation(self.seed, self.step, message, self.actions)

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.fail(message)

    async def arm(self, kind: str, exchange: str) -> None:
        """Arm one fault of `kind` for the next request it matches on `exchange`."""
        post = {"method": "POST", "path": ORDERS if exchange == "kalshi" else "/order"}
        reads = {"method": "GET", "path": KALSHI_READS if exchange == "kalshi" else POLY_READS}
        late = self.rng.randrange(500, MAX_LATE_MS)
        spec = {
            "respond_5xx": {**post, "action": "respond", "status": self.rng.choice([500, 502, 504])},
            "drop_before": {**post, "action": "drop_before"},
            "act_then_drop": {**post, "action": "act_then_drop"},
            "act_then_5xx": {**post, "action": "act_then_respond", "status": self.rng.choice([500, 502, 504])},
            "garble_truncate": {**post, "action": "act_then_garble", "garble": "truncate"},
            "garble_junk": {**post, "action": "act_then_garble", "garble": "junk"},
            "garble_cut": {**post, "action": "act_then_garble", "garble": "cut"},
            "execute_late_hold": {**post, "action": "execute_late", "late_ms": late, "answer": "hold"},
            "execute_late_drop": {**post, "action": "execute_late", "late_ms": late, "answer": "drop"},
            "fail_trades": {**post, "action": "fail_trades"},
            "read_lag": {**reads, "action": "lag", "lag_ms": self.rng.randrange(500, MAX_LAG_MS)},
            "read_5xx": {**reads, "action": "respond", "status": 500},
        }[kind]
        times = self.rng.randint(1, 3) if kind in READ_FAULTS else 1
        fault = parse_fault(exchange, {**spec, "times": times})
        self.world.sim.faults.arm(fault)
        self.armed.append((kind, fault, times))
        self.dirty = True

    def fault_names(self) -> list[str]:
        return [f"{kind}@{fault.exchange}" for kind, fault, _ in self.armed]

    async def arm_some(self, exchanges: Iterable[str], chance: float) -> None:
        for exchange in exchanges:
            if self.rng.random() < chance:
                kinds = [k for k in POST_FAULTS if k != "fail_trades" or exchange == "poly"]
                await self.arm(self.rng.choice(kinds), exchange)
            if self.rng.random() < chance / 3:
                await self.arm(self.rng.choice(READ_FAULTS), exchange)

    def disarm(self) -> None:
        """Count the faults the step used, and drop the ones it did not reach."""
        for kind, fault, times in self.armed:
            if fault.times < times:
                self.counts[kind] += 1
        self.world.sim.faults.clear()
        self.armed = []

    # -- the walk -------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.open_lanes()
        try:
            for step in range(1, self.steps + 1):
                self.step = step
                await self.take_step()
                self.disarm()
                self.check_always()
            self.step += 1
            self.log("settle (end of walk)")
            await self.settle()
        finally:
            self.ledger.close()
            await self.close_clients()

    async def open_lanes(self) -> None:
        if self.lanes:
            await asyncio.gather(self.kalshi.open_lane(), self.poly.open_lane())

    async def close_clients(self) -> None:
        """Close the clients a restart opened (the world closes its own)."""
        for client in (self.kalshi, self.poly):
            if client not in (self.world.kalshi, self.world.poly):
                await client.close()

    async def take_step(self) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            await self.arb()
        elif roll < 0.52:
            await self.single_leg()
        elif roll < 0.60:
            await self.crash_arb()
        elif roll < 0.68:
            self.books()
        elif roll < 0.78:
            seconds = round(self.rng.uniform(0.2, 12), 3)
            self.log(f"advance {seconds} s")
            await self.advance(seconds)
        elif roll < 0.85:
            await self.arm_some(("kalshi", "poly"), 0.3)
            self.log(f"recover (faults {self.fault_names()})")
            await self.recover()
        elif roll < 0.93:
            await self.restart()
        else:
            self.log("settle")
            await self.settle()

    def opportunity(self) -> Opportunity:
        count = D(self.rng.randint(2, 30))
        kalshi_price = D(self.rng.choice(["0.50", "0.52", "0.53", "0.54", "0.55", "0.56"]))
        kalshi = Leg("kalshi", KALSHI_TICKER, self.rng.choice(["buy", "buy", "sell"]), count, kalshi_price, "yes")
        if kalshi.action == "sell":
            kalshi = Leg("kalshi", KALSHI_TICKER, "sell", count, D(self.rng.choice(["0.44", "0.45", "0.47"])), "yes")
        if self.rng.random() < 0.65:
            price = D(self.rng.choice(["0.51", "0.53", "0.54", "0.55", "0.56"]))
            poly = Leg("poly", POLY_NO, "buy", count, price, tick_size=D("0.01"), neg_risk=False)
        else:
            price = D(self.rng.choice(["0.44", "0.46", "0.47", "0.48"]))
            poly = Leg("poly", POLY_YES, "sell", count, price, tick_size=D("0.01"), neg_risk=False)
        return Opportunity(kalshi, poly, D("0.01"))

    async def arb(self) -> None:
        opportunity = self.opportunity()
        await self.arm_some(("kalshi", "poly"), 0.45)
        policy = self.policy
        self.log(f"arb {_describe(opportunity)} ({policy.on_exposure}) faults {self.fault_names()}")
        result = await execute_arb(self.kalshi, self.poly, opportunity, self.ledger, policy)
        self.log(
            f"  -> kalshi {result.kalshi.status} {result.kalshi.filled},"
            f" poly {result.poly.status} {result.poly.filled},"
            f" unwinds {[(u.status, u.filled) for u in result.unwinds]},"
            f" residual {[e.describe() for e in result.residual]}"
        )
        self.counts["arbs"] += 1
        if result.uncertain:  # an injected fault, or the trader gave up on a slow answer: both need recovery
            self.counts["uncertain_arbs"] += 1
            self.dirty = True
            return
        if any(u.filled > u.leg.count for u in (result.kalshi, result.poly, *result.unwinds)):
            self.counts["overfills"] += 1
        entries = [opportunity.kalshi, opportunity.poly]
        legs = [result.kalshi, result.poly]
        actual = imbalance(entries, [(r.leg, self.truth_filled(r.key, r.leg)) for r in legs if r.key])
        self.check(
            _exposures(result.exposure) == _exposures(actual), f"reported exposure {result.exposure} != actual {actual}"
        )
        orders = [*legs, *result.unwinds]
        actual = imbalance(entries, [(r.leg, self.truth_filled(r.key, r.leg)) for r in orders if r.key])
        self.check(
            _exposures(result.residual) == _exposures(actual), f"reported residual {result.residual} != actual {actual}"
        )

    async def single_leg(self) -> None:
        opportunity = self.opportunity()
        leg = self.rng.choice([opportunity.kalshi, opportunity.poly])
        await self.arm_some([leg.exchange], 0.5)
        self.log(f"leg {leg.describe()} faults {self.fault_names()}")
        client = self.kalshi if leg.exchange == "kalshi" else self.poly
        result = await execute_leg(client, leg, self.ledger, timeout=self.leg_timeout, purpose="manual")
        self.log(f"  -> {result.status} {result.filled}")
        self.dirty |= result.status == "unknown"

    async def crash_arb(self) -> None:
        opportunity = self.opportunity()
        await self.arm_some(("kalshi", "poly"), 0.3)
        victim = self.rng.choice(["kalshi", "poly"])
        after = self.rng.random() < 0.6
        at = self.rng.choice([1, 1, 2])  # the entry, or an unwind
        clients = {"kalshi": self.kalshi, "poly": self.poly}
        clients[victim] = Crashing(clients[victim], at, after)
        self.log(
            f"crash-arb {_describe(opportunity)}: {victim} send {at} {'after' if after else 'before'} sending,"
            f" faults {self.fault_names()}"
        )
        try:
            await execute_arb(clients["kalshi"], clients["poly"], opportunity, self.ledger, self.policy)
            self.log("  -> no crash (that send never came)")
        except Crash as crash:
            self.counts["crash_after_send" if after else "crash_before_send"] += 1
            self.log(f"  -> {crash}")
            self.dirty = True
            await self.restart(after_crash=True)

    def books(self) -> None:
        """New market-maker liquidity on both exchanges, around the usual prices."""
        bid, ask = D(self.rng.choice(["0.44", "0.45", "0.46", "0.47"])), D(self.rng.choice(["0.52", "0.53", "0.54"]))
        depth = [D(self.rng.randint(5, 80)) for _ in range(4)]
        self.world.kalshi_exchange.set_book(
            KALSHI_TICKER,
            [(bid, depth[0]), (bid - D("0.02"), depth[1])],
            [(ask, depth[2]), (ask + D("0.02"), depth[3])],
        )
        for token, (b, a) in ((POLY_YES, (D("0.47"), D("0.49"))), (POLY_NO, (D("0.51"), D("0.53")))):
            shift = D(self.rng.choice(["-0.02", "-0.01", "0", "0.01"]))
            levels = [D(self.rng.randint(5, 300)) for _ in range(4)]
            self.world.poly_exchange.set_book(
                token,
                [Level(b + shift, levels[0]), Level(b + shift - D("0.01"), levels[1])],
                [Level(a + shift, levels[2]), Level(a + shift + D("0.01"), levels[3])],
            )
        self.log(f"books: kalshi {bid}/{ask} {depth}")
        self.counts["book_changes"] += 1

    async def restart(self, after_crash: bool = False) -> None:
        """A new process: the ledger reopened, fresh clients, `recover()` at once (racy if orders are in flight)."""
        racy = self.world.sim.clock.pending > 0
        self.counts["racy_restarts" if racy else "restarts"] += 1
        self.dirty = True
        self.ledger.close()
        await self.close_clients()
        self.kalshi, self.poly = self.world.reopen()
        await self.open_lanes()
        self.ledger = Ledger(self.path, clock=self.ledger_clock)
        self.log(f"restart{' after the crash' if after_crash else ''}{' (orders still in flight)' if racy else ''}")
        await self.recover()

    async def recover(self) -> RecoveryReport:
        report = await recover(
            self.ledger, self.kalshi, self.poly, policy=self.recover_policy, settle=self.settle_rules
        )
        self.log(
            f"  recover: resolved {[(r.state, r.filled) for r in report.resolved]},"
            f" unresolved {len(report.unresolved)},"
            f" rebooked {len(report.rebooked)}, arbs {[(len(a.exposure), len(a.unwinds)) for a in report.arbs]},"
            f" differences {len(report.differences)}"
        )
        self.counts["recovery_unwinds"] += sum(len(a.unwinds) for a in report.arbs)
        self.counts["recovered_intents"] += len(report.resolved)
        return report

    async def settle(self) -> None:
        """Let every fault play out, recover until nothing is open, then check the ledger against the exchanges."""
        self.world.sim.faults.clear()
        clean_sequence = not self.dirty
        first: RecoveryReport | None = None
        for _ in range(6):
            await self.advance(WINDOW + 12)
            report = await self.recover()
            first = first or report
            if not self.ledger.intents(open_only=True) and not self.ledger.unreconciled():
                break
        else:
            self.fail(f"still open after settling: {self.ledger.intents(open_only=True)} {self.ledger.unreconciled()}")
        if clean_sequence:
            self.check(first.clean and first.resolved == (), f"recover after a clean sequence was not clean: {first}")
            self.check(all(not a.unwinds for a in first.arbs), "recover after a clean sequence traded")
        self.check(report.clean, f"recover not clean after settling: {report.differences} {report.unresolved}")
        self.check_settled()
        fills_before = self._ledger_fills()
        again = await self.recover()
        self.check(
            again.clean and not again.resolved and not again.rebooked and all(not a.unwinds for a in again.arbs),
            f"recover is not idempotent: {again}",
        )
        self.check(self._ledger_fills() == fills_before, "a second recover changed the ledger's fills")
        self.dirty = False
        self.counts["settles"] += 1

    # -- ground truth ---------------------------------------------------------------------------

    def truth_fills(self, intent_key: str, leg: Leg) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """(id, quantity, price of the leg's outcome, fee) of every fill that counts at the exchange."""
        if leg.exchange == "kalshi":
            exchange = self.world.kalshi_exchange
            orders = [o for o in exchange.orders.values() if o.client_order_id == intent_key]
            if not orders:
                return []
            fills = [f for f in exchange.fills if f.order_id == orders[0].order_id]
            return [
                (f.fill_id, f.count, f.yes_price if leg.outcome == "yes" else 1 - f.yes_price, f.fee) for f in fills
            ]
        trades = [t for t in self.world.poly_exchange.trades if t.taker.id == intent_key and t.status != "FAILED"]
        return [(t.id, t.size, t.price, t.fee) for t in trades]

    def truth_filled(self, intent_key: str | None, leg: Leg) -> Decimal:
        return sum((q for _, q, _, _ in self.truth_fills(intent_key, leg)), ZERO) if intent_key else ZERO

    def _ledger_fills(self) -> dict[str, list[Any]]:
        return {i.key: self.ledger.fills(i.key) for i in self.ledger.intents()}

    # -- invariants -----------------------------------------------------------------------------

    def check_always(self) -> None:
        """What holds after every step, faults or not."""
        seen: set[str] = set()
        for intent in self.ledger.intents():
            fills = self.ledger.fills(intent.key)
            if intent.state in ("pending", "unknown"):
                self.check(not fills, f"open intent {intent.key} has fills")
                continue
            total = sum((f.quantity for f in fills), ZERO)
            self.check(total == (intent.filled or ZERO), f"intent {intent.key}: filled {intent.filled}, fills {total}")
            truth = {fid: (q, p, fee) for fid, q, p, fee in self.truth_fills(intent.key, intent.leg)}
            for fill in fills:
                if fill.source != "exchange":
                    continue
                self.check(fill.external_id not in seen, f"fill {fill.external_id} counted twice")
                seen.add(fill.external_id)
                if intent.leg.exchange == "poly":  # a booked trade may have FAILED since: it must exist, though
                    exists = any(
                        t.id == fill.external_id and t.taker.id == intent.key for t in self.world.poly_exchange.trades
                    )
                    self.check(exists, f"phantom trade {fill.external_id} on {intent.key}")
                    continue
                self.check(
                    truth.get(fill.external_id) == (fill.quantity, fill.price, fill.fee),
                    f"fill {fill.external_id} of {intent.key}: ledger {fill}, exchange {truth.get(fill.external_id)}",
                )
            if all(f.final for f in fills):
                self.check(
                    total == sum((q for q, _, _ in truth.values()), ZERO),
                    f"settled intent {intent.key}: ledger {total}, exchange {sum(q for q, _, _ in truth.values())}",
                )

    def check_settled(self) -> None:
        """Once nothing is open: the ledger equals the exchanges, order by order and in sum."""
        intents = self.ledger.intents()
        for intent in intents:
            ledger = sorted((f.external_id, f.quantity, f.price, f.fee) for f in self.ledger.fills(intent.key))
            truth = sorted(self.truth_fills(intent.key, intent.leg))
            self.check(
                ledger == truth, f"intent {intent.key} ({intent.leg.describe()}): ledger {ledger}, exchange {truth}"
            )
        positions = self.ledger.positions()
        kalshi_account = self.world.kalshi_exchange.accounts["default"]
        held = kalshi_account.positions.get(KALSHI_TICKER)
        kalshi_position = held.position if held is not None else ZERO
        self.check(
            positions.get(("kalshi", KALSHI_TICKER), ZERO) == kalshi_position,
            f"kalshi position: ledger {positions.get(('kalshi', KALSHI_TICKER), ZERO)}, exchange {kalshi_position}",
        )
        poly_account = self.world.poly_exchange.accounts[self.world.poly.address]
        for token in (POLY_YES, POLY_NO):
            actual = poly_account.shares(token) - D(self.poly_shares0.get(token, ZERO))
            self.check(
                positions.get(("poly", token), ZERO) == actual,
                f"poly position {token[:8]}: ledger {positions.get(('poly', token), ZERO)}, exchange {actual}",
            )
        self.check_cash(intents, kalshi_account.cash, poly_account.balance, kalshi_position)
        self.check_exposures(intents)

    def check_cash(self, intents: list[Intent], kalshi_cash: Decimal, poly_cash: Decimal, position: Decimal) -> None:
        """Cash moved by fills x price and fees, as each exchange books them (Kalshi: a YES sale is a NO
        purchase at 1 - p, and each YES+NO pair held is redeemed for $1)."""
        flows = {"kalshi": ZERO, "poly": ZERO}
        sold, no_bought = ZERO, ZERO
        for intent in intents:
            for fill in self.ledger.fills(intent.key):
                sign = 1 if intent.leg.action == "sell" else -1
                flows[intent.leg.exchange] += sign * fill.quantity * fill.price - (fill.fee or ZERO)
                if intent.leg.exchange == "kalshi":
                    sold += fill.quantity if intent.leg.action == "sell" else ZERO
                    buys_no = (intent.leg.outcome == "no") == (intent.leg.action == "buy")
                    no_bought += fill.quantity if buys_no else ZERO
        redeemed = no_bought - max(-position, ZERO)
        # The ledger knows the trade fees; Kalshi also floors the balance to the cent after each fill, which costs
        # an order at most a cent beyond its fills and fees (docs/wire/kalshi.md, fee rounding).
        exchange = self.world.kalshi_exchange
        mine = [f for f in exchange.fills if f.account == "default"]
        rounding = sum((f.rounding for f in mine), ZERO)
        orders = len({f.order_id for f in mine})
        self.check(ZERO <= rounding <= orders * D("0.01"), f"kalshi balance rounding {rounding} over {orders} orders")
        expected = self.kalshi_cash0 + flows["kalshi"] - sold + redeemed - rounding
        self.check(kalshi_cash == expected, f"kalshi cash {kalshi_cash}, from the ledger's fills {expected}")
        expected = self.poly_cash0 + flows["poly"]
        self.check(poly_cash == expected, f"poly cash {poly_cash}, from the ledger's fills {expected}")

    def check_exposures(self, intents: list[Intent]) -> None:
        """Each arb's open exposure rows are exactly the imbalance of its orders' fills at the exchanges."""
        for arb_id in dict.fromkeys(i.arb_id for i in intents if i.arb_id):
            orders = [i for i in intents if i.arb_id == arb_id]
            entries = [i.leg for i in orders if i.purpose == "entry"]
            actual = imbalance(entries, [(i.leg, self.truth_filled(i.key, i.leg)) for i in orders])
            rows = self.ledger.exposure_records(arb_id, open_only=True)
            recorded = sorted((r.exchange, r.instrument, r.outcome, r.action, r.quantity) for r in rows)
            expected = sorted(
                (e.leg.exchange, e.leg.instrument, e.leg.outcome, e.leg.action, e.quantity) for e in actual
            )
            self.check(recorded == expected, f"arb {arb_id}: open exposure rows {recorded}, actual {expected}")


def _describe(opportunity: Opportunity) -> str:
    return f"{opportunity.kalshi.describe()} + {opportunity.poly.describe()}"


def _exposures(items: Iterable[Any]) -> list[tuple[str, str, str | None, str, Decimal]]:
    return sorted((e.leg.exchange, e.leg.instrument, e.leg.outcome, e.leg.action, e.quantity) for e in items)


async def walk(seed: int, steps: int, directory: Path, counts: Counter, leg_timeout: float = LEG_TIMEOUT) -> None:
    """One seed: fresh paper exchanges, `steps` steps, a final settle; raises Violation."""
    shares = {POLY_YES: "100000", POLY_NO: "100000"}
    async with paper(poly_shares=shares, fee_rate="0.04", kalshi_backoff=0.0) as world:
        await Walk(seed, steps, world, directory, counts, leg_timeout).run()


async def main(seeds: int, steps: int, first_seed: int) -> int:
    logging.basicConfig(level=logging.ERROR)  # the trader's alerts are expected here by the hundred
    counts: Counter = Counter()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tradetape-chaos-") as directory:
        for seed in range(first_seed, first_seed + seeds):
            try:
                await walk(seed, steps, Path(directory), counts)
            except Violation as violation:
                print(violation)
                return 1
            print(f"seed {seed}: {steps} steps ok", flush=True)
    print(f"\n{seeds} seeds x {steps} steps clean in {time.monotonic() - started:.0f} s")
    print("fault kinds exercised:")
    for kind in FAULT_KINDS:
        print(f"  {kind:<20} {counts[kind]}")
    print("events:")
    for event in sorted(set(counts) - set(FAULT_KINDS)):
        print(f"  {event:<20} {counts[event]}")
    missing = [kind for kind in FAULT_KINDS if not counts[kind]]
    if missing:
        print(f"NOT exercised: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1)
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.seeds, options.steps, options.first_seed)))
