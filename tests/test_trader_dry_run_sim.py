"""The README's quick start for the engine, end to end as a user runs it: `tradetape sim` (built-in state, free
loopback ports) in one process, `eval "$(tradetape sim env --direct)"` and `tradetape trader run --dry-run` in a
real shell in another. A book moved through the simulator's admin API opens an arb; the dry run logs what it would
take and sends nothing: the simulator holds no order of the demo accounts."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request
from decimal import Decimal

from cli_helpers import FREE_PORTS, TRADETAPE, clean_env, decision_lines, start

from scenarios.e2e import PAIRS, TICKER
from simulator.demo_accounts import POLY_ADDRESS
from trader.ledger import Ledger

# The e2e pairs (the simulator's first markets of each exchange), with the default risk limits: the harness's
# half-second staleness assumes its own fast pings, `tradetape sim` pings at the exchanges' pace.
DRY_PAIRS = PAIRS.split("[risk]")[0]


def admin(url: str, path: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def demo_orders(urls: dict[str, str]) -> tuple[list, list]:
    kalshi = admin(urls["kalshi"], "/__sim/kalshi/orders")["orders"]  # the account the demo key signs for
    poly = [o for o in admin(urls["poly"], "/__sim/poly/orders") if o["account"] == POLY_ADDRESS]
    return kalshi, poly


async def test_a_dry_run_against_tradetape_sim_logs_the_arb_and_sends_nothing(tmp_path):
    pairs, ledger = tmp_path / "pairs.toml", tmp_path / "bot.sqlite"
    pairs.write_text(DRY_PAIRS)
    sim = start("sim", *FREE_PORTS)
    try:
        urls = sim.urls
        script = (
            'eval "$("$TRADETAPE" sim env --direct)"\n'
            f"export KALSHI_BASE_URL={urls['kalshi']}/trade-api/v2 KALSHI_WS_URL={urls['kalshi'].replace('http', 'ws')}"
            f"/trade-api/ws/v2 POLY_CLOB_URL={urls['poly']} POLY_WS_URL={urls['poly'].replace('http', 'ws')}/ws\n"
            f'exec "$TRADETAPE" trader run --pairs {pairs} --ledger {ledger} --dry-run --no-status\n'
        )
        engine = await asyncio.create_subprocess_exec(
            "sh", "-c", script, env=clean_env(TRADETAPE=TRADETAPE), stderr=asyncio.subprocess.PIPE
        )
        assert engine.stderr is not None
        try:
            await decision_lines(engine.stderr, "recovery")  # recovered (nothing to do): the feeds start
            # Kalshi YES bids up to 0.55: a NO costs 0.45, against the 0.49 Polymarket YES ask of the built-in book
            admin(urls["kalshi"], "/__sim/kalshi/book", {"ticker": TICKER, "yes_dollars": [["0.5500", "20.00"]]})
            lines = await decision_lines(engine.stderr, "would_take")
        finally:
            engine.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(engine.wait(), 20)
        assert code == 0
        assert demo_orders(urls) == ([], [])
    finally:
        sim.stop()
    would = lines[-1]
    assert (would["pair"], would["reason"], would["outcome"], would["count"]) == ("ali", "dry_run", "no", "10")
    assert (Decimal(would["kalshi_price"]), Decimal(would["poly_price"])) == (Decimal("0.45"), Decimal("0.49"))
    assert not any(line["kind"] in ("taken", "result") for line in lines)
    with Ledger(ledger) as book:
        assert book.intents() == [] and book.positions() == {}
        assert [d.kind for d in book.decisions() if d.kind != "recovery"] == ["would_take"]
