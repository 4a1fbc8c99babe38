"""Capture a scenario through the recording proxy, and replay it through the real client and trader code.

Capture: a fresh simulator set up for the scenario, the proxy in record mode in front of it, the
real clients pointed at the proxy, the trigger, the expectations. Replay: the proxy answering from
the scenario's fixture directories only, the same trigger with fresh throwaway credentials, the
same expectations, and nothing left unmatched or unused.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.kalshi import KalshiClient
from clients.polymarket import PolymarketClient
from clients.polymarket.types import ApiCreds
from proxy.admin.routes import handle as admin_routes
from proxy.engine.mode import Mode
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges.kalshi import KALSHI
from proxy.exchanges.upstream import LIVE_UPSTREAMS, Upstream
from proxy.record.guard import GuardAddon, SpendingGuard
from proxy.record.mode import record_mode, session_info
from proxy.replay.replayer import ReplayOptions, find_replayer, replay_mode
from proxy.replay.volatile import volatile_sets
from proxy.tape.fixture import session_files
from simulator.credentials import kalshi_test_credentials
from simulator.faults import parse_fault
from simulator.server import Simulator
from trader.ledger import Ledger

from .canon import SIM_LEGS, Legs
from .catalogue import Run, Scenario, check

# Replay never forwards: its listeners name an upstream nobody listens on.
REPLAY_ONLY = {ex: Upstream(ex, "http://127.0.0.1:9", False) for ex in ("kalshi", "poly")}
# Hardhat account #0: publicly known, used by the official libraries' tests, never funded anywhere.
# Scenarios sign with it in capture and in replay, so the recorded maker/signer match.
PAPER_POLY_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@dataclass
class Outcome:
    scenario: str
    phase: str  # capture or replay
    observed: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    fixtures: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class Credentials:
    kalshi_key_id: str
    kalshi_key: Any
    poly_creds: ApiCreds | None = None


def throwaway_credentials() -> Credentials:
    key_id, private_key, _ = kalshi_test_credentials()
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return Credentials(key_id, private_key, ApiCreds(key_id, secret, "replay-passphrase"))


def open_clients(urls: dict[str, str], creds: Credentials) -> tuple[KalshiClient, PolymarketClient]:
    kalshi = KalshiClient(
        base_url=urls["kalshi"] + KALSHI.api_prefix, key_id=creds.kalshi_key_id, private_key=creds.kalshi_key
    )
    c = creds.poly_creds
    poly = PolymarketClient(
        base_url=urls["poly"],
        private_key=PAPER_POLY_KEY,
        api_key=c.api_key if c else None,
        api_secret=c.secret if c else None,
        api_passphrase=c.passphrase if c else None,
    )
    return kalshi, poly


async def run_trigger(
    scenario: Scenario, make_clients: Callable[[], tuple[Any, Any]], legs: Legs = SIM_LEGS
) -> dict[str, Any]:
    """The scenario's trigger with a throwaway ledger; every client it opened is closed afterwards."""
    opened: list[Any] = []

    async def reopen() -> tuple[Any, Any]:
        clients = make_clients()
        opened.extend(clients)
        return clients

    with tempfile.TemporaryDirectory(prefix="tradetape-ledger-") as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite")
        try:
            kalshi, poly = await reopen()
            return await scenario.trigger(Run(kalshi, poly, ledger, reopen, legs))
        finally:
            for client in opened:
                await client.close()
            ledger.close()


def loopback_proxy(upstreams: dict[str, Upstream], mode: Mode, counts: Counter) -> Proxy:
    """A proxy on free loopback ports in front of `upstreams` (start it with `async with`)."""
    listeners = [Listener(ex, "127.0.0.1", 0, upstream) for ex, upstream in upstreams.items()]
    return Proxy(listeners, mode, counts=counts, admin=admin_routes)


def scenario_recording(
    scenario: Scenario, fixtures_dir: Path, upstreams: dict[str, Upstream], addons: list[Any], counts: Counter
) -> Mode:
    """Record mode into fixtures_dir/<name>/, replacing what was there; the manifest names the scenario."""
    directory = fixtures_dir / scenario.name
    shutil.rmtree(directory, ignore_errors=True)
    sims = set() if any(u.live for u in upstreams.values()) else set(upstreams)
    info = session_info(scenario.name, upstreams, scenario.capture_filter, sims)
    info["scenario"] = {"name": scenario.name, "how": scenario.how, "tests": scenario.tests}
    return record_mode(directory, info, scenario.capture_filter, addons, counts)


def proxy_urls(proxy: Proxy) -> dict[str, str]:
    return {ex: proxy.url(ex) for ex in ("kalshi", "poly")}


def scenario_state(scenario: Scenario, public_pem: str, key_id: str) -> dict[str, Any]:
    kalshi = scenario.kalshi_state or {}
    if kalshi:
        kalshi = {
            **kalshi,
            "accounts": [dict(kalshi["accounts"][0], api_keys={key_id: public_pem}), *kalshi["accounts"][1:]],
        }
    return {"kalshi": kalshi or None, "poly": scenario.poly_state}


async def capture(scenario: Scenario, fixtures_dir: Path) -> Outcome:
    """Record `scenario` against a fresh simulator into fixtures_dir/<name>/ (replacing what was there)."""
    started = time.perf_counter()
    key_id, private_key, public_pem = kalshi_test_credentials()
    creds = Credentials(key_id, private_key)
    async with Simulator(scenario_state(scenario, public_pem, key_id)) as sim:
        for exchange, spec in scenario.faults:
            sim.faults.arm(parse_fault(exchange, spec))
        async with PolymarketClient(base_url=sim.poly_url, private_key=PAPER_POLY_KEY) as setup:
            creds.poly_creds = await setup.create_or_derive_api_key()
        upstreams = {"kalshi": Upstream("kalshi", sim.kalshi_url, False), "poly": Upstream("poly", sim.poly_url, False)}
        counts: Counter[str] = Counter()
        mode = scenario_recording(scenario, fixtures_dir, upstreams, [], counts)
        async with loopback_proxy(upstreams, mode, counts) as proxy:
            urls = proxy_urls(proxy)
            observed = await run_trigger(scenario, lambda: open_clients(urls, creds))
    return Outcome(
        scenario.name,
        "capture",
        observed,
        check(scenario.expect, observed),
        counts["captured"],
        time.perf_counter() - started,
    )


async def replay(scenario: Scenario, fixtures_dir: Path) -> Outcome:
    """Run `scenario` against `tradetape replay` of its sources; unmatched or unused fixtures fail it."""
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    mode = replay_mode(list(scenario.sources), fixtures_dir, volatile_sets(), ReplayOptions(), counts)
    replayer = find_replayer(mode)
    async with loopback_proxy(REPLAY_ONLY, mode, counts) as proxy:
        urls, creds = proxy_urls(proxy), throwaway_credentials()
        observed = await run_trigger(scenario, lambda: open_clients(urls, creds))
        status = replayer.status() if replayer else {}
    failures = check(scenario.expect, observed)
    failures += [f"unmatched request: {u.get('request', u)}" for u in status.get("unmatched", [])]
    failures += [f"unused fixture: {name}" for name in status.get("unused", [])]
    fixtures = sum(len(session_files(fixtures_dir / source)) for source in scenario.sources)
    return Outcome(scenario.name, "replay", observed, failures, fixtures, time.perf_counter() - started)


# ---- live capture: the user's own accounts, real money, the spending guard -------------------------


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Point the clients' base URLs at the proxy the way a user does: through the environment."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def env_clients() -> tuple[KalshiClient, PolymarketClient]:
    return KalshiClient.from_env(), PolymarketClient.from_env()


async def capture_live(scenario: Scenario, fixtures_dir: Path, legs: Legs, guard: SpendingGuard) -> Outcome:
    """Record `scenario` against the production exchanges with the user's credentials from the environment."""
    started = time.perf_counter()
    upstreams = {ex: Upstream(ex, url, True) for ex, url in LIVE_UPSTREAMS.items()}
    counts: Counter[str] = Counter()
    mode = scenario_recording(scenario, fixtures_dir, upstreams, [GuardAddon(guard, counts)], counts)
    async with loopback_proxy(upstreams, mode, counts) as proxy:
        urls = proxy_urls(proxy)
        with environment({"KALSHI_BASE_URL": urls["kalshi"] + KALSHI.api_prefix, "POLY_CLOB_URL": urls["poly"]}):
            observed = await run_trigger(scenario, env_clients, legs)
    return Outcome(
        scenario.name,
        "capture",
        observed,
        check(scenario.expect, observed),
        counts["captured"],
        time.perf_counter() - started,
    )
