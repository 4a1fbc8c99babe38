"""Simulator core: clock, state files, fault injection (incl. act-then-drop), in-process server, CLI parsing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import click
import pytest

from clients.kalshi.auth import auth_headers
from simulator.cli import parse_listen
from simulator.clock import SimClock
from simulator.faults import FaultInjector, FaultSpecError, parse_fault
from simulator.server import Simulator, start_simulator
from simulator.state import StateError, load_state

ORDERS = "/trade-api/v2/portfolio/events/orders"
TICKER = "KXDEMOMATCH-26DEC31ALIBOB-ALI"


async def test_clock_advances_and_runs_hooks() -> None:
    clock = SimClock(start=1_000.0, source=lambda: 0.0)
    seen: list[float] = []

    async def async_hook(now: float) -> None:
        seen.append(-now)

    clock.on_advance(seen.append)
    clock.on_advance(async_hook)
    assert (clock.now(), clock.now_ms()) == (1_000.0, 1_000_000)
    assert await clock.advance(2.5) == 1_002.5
    assert seen == [1_002.5, -1_002.5]
    with pytest.raises(ValueError):
        await clock.advance(-1)


def test_state_file_json_and_toml(tmp_path: Path) -> None:
    as_json = tmp_path / "state.json"
    as_json.write_text(json.dumps({"kalshi": {"markets": []}}))
    assert load_state(as_json) == {"kalshi": {"markets": []}, "poly": None}
    as_toml = tmp_path / "state.toml"
    as_toml.write_text('[[kalshi.markets]]\nticker = "KX-A"\n[poly]\n')
    assert load_state(as_toml) == {"kalshi": {"markets": [{"ticker": "KX-A"}]}, "poly": {}}


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("{", "not valid JSON"),
        ('{"kalshi": [], "poly": null}', "kalshi: must be an object"),
        ('{"bitmex": {}}', "unknown section(s) bitmex"),
    ],
)
def test_state_file_errors_name_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(StateError) as err:
        load_state(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


@pytest.mark.parametrize(
    "section,fragment",
    [
        ({"markets": [{"title": "no ticker"}]}, "kalshi.markets[0].ticker: required"),
        ({"markets": [{"ticker": "A", "status": "open"}]}, "kalshi.markets[0].status: must be one of"),
        ({"markets": [{"ticker": "A", "book": {"yes_dollars": [["0.515", "1.00"]]}}]}, "off the price grid"),
        (
            {"markets": [{"ticker": "A", "book": {"yes_dollars": [[0.5, "1.00"]]}}]},
            "kalshi.markets[0].book.yes_dollars[0][0]: must be a decimal string",
        ),
        ({"accounts": [{"name": "a", "balance": 10.5}]}, "kalshi.accounts[0].balance: must be a decimal string"),
        (
            {"accounts": [{"name": "a", "api_keys": {"k1": "not a pem"}}]},
            "kalshi.accounts[0].api_keys.k1: is not a PEM",
        ),
        ({"accounts": [{"name": "a", "positions": {"NOPE": "1.00"}}]}, "kalshi.accounts[0].positions.NOPE: unknown"),
    ],
)
async def test_kalshi_section_errors_name_file_and_field(tmp_path: Path, section: dict, fragment: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"kalshi": section}))
    with pytest.raises(StateError) as err:
        await start_simulator(path)
    assert str(err.value).startswith(f"{path}: ") and fragment in str(err.value)


async def test_state_file_registers_keys_balances_and_books(
    tmp_path: Path, kalshi_credentials: tuple[str, Any, str]
) -> None:
    key_id, private_key, pem = kalshi_credentials
    state = {
        "kalshi": {
            "markets": [{"ticker": "KXS-26-A", "book": {"no_dollars": [["0.4000", "2.00"]]}}],
            "accounts": [
                {"name": "alice", "balance": "12.34", "api_keys": {key_id: pem}, "positions": {"KXS-26-A": "-3.00"}}
            ],
        }
    }
    path = tmp_path / "state.toml"
    path.write_text(_toml(state))
    async with Simulator(path) as sim, aiohttp.ClientSession() as http:
        url = "/trade-api/v2/portfolio/balance"
        headers = auth_headers(key_id, private_key, "GET", url, sim.clock.now_ms())
        async with http.get(sim.kalshi_url + url, headers=headers) as response:
            assert (response.status, (await response.json())["balance_dollars"]) == (200, "12.3400")
        url = "/trade-api/v2/portfolio/positions"
        headers = auth_headers(key_id, private_key, "GET", url, sim.clock.now_ms())
        async with http.get(sim.kalshi_url + url, headers=headers) as response:
            assert (await response.json())["market_positions"][0]["position_fp"] == "-3.00"
        async with http.get(sim.kalshi_url + "/trade-api/v2/markets/KXS-26-A/orderbook") as response:
            assert await response.json() == {"orderbook_fp": {"no_dollars": [["0.4000", "2.00"]], "yes_dollars": []}}


def _toml(state: dict) -> str:
    """Just enough TOML for the test's state (tables of strings and arrays)."""
    market, account = state["kalshi"]["markets"][0], state["kalshi"]["accounts"][0]
    key_id, pem = next(iter(account["api_keys"].items()))
    return (
        f'[[kalshi.markets]]\nticker = "{market["ticker"]}"\n'
        f'book = {{ no_dollars = [["0.4000", "2.00"]] }}\n'
        f'[[kalshi.accounts]]\nname = "alice"\nbalance = "12.34"\n'
        f'positions = {{ "KXS-26-A" = "-3.00" }}\n'
        f'[kalshi.accounts.api_keys]\n"{key_id}" = """{pem}"""\n'
    )


def test_parse_fault_validates_fields() -> None:
    fault = parse_fault("kalshi", {"method": "post", "path": ORDERS, "status": 503})
    assert (fault.method, fault.action, fault.times) == ("POST", "respond", 1)
    assert parse_fault("kalshi", {"method": "GET", "path": "/x", "latency_ms": 5}).action == "delay"
    for spec, fragment in [
        ({"path": "/x"}, "'method'"),
        ({"method": "GET", "path": "/x", "action": "respond"}, "needs 'status'"),
        ({"method": "GET", "path": "(", "status": 500}, "regular expression"),
        ({"method": "GET", "path": "/x", "times": 0}, "'times'"),
    ]:
        with pytest.raises(FaultSpecError, match=fragment):
            parse_fault("kalshi", spec)


class Signed:
    """A signing HTTP helper against a running simulator's Kalshi listener."""

    def __init__(self, sim: Any, http: aiohttp.ClientSession, kalshi_credentials: tuple[str, Any, str]) -> None:
        self.sim, self.http = sim, http
        self.key_id, self.private_key, self.pem = kalshi_credentials

    async def register(self) -> None:
        async with self.http.post(
            self.sim.kalshi_url + "/__sim/kalshi/keys", json={"key_id": self.key_id, "public_key_pem": self.pem}
        ) as response:
            assert response.status == 201

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = auth_headers(self.key_id, self.private_key, method, path, self.sim.clock.now_ms())
        async with self.http.request(method, self.sim.kalshi_url + path, json=body, headers=headers) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def arm(self, fault: dict) -> None:
        async with self.http.post(self.sim.kalshi_url + "/__sim/faults", json=fault) as response:
            assert response.status == 201, await response.text()


def _order(client_order_id: str) -> dict:
    return {
        "ticker": TICKER,
        "side": "bid",
        "count": "2.00",
        "price": "0.5200",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
        "client_order_id": client_order_id,
    }


async def test_act_then_drop_executes_the_order_but_the_client_sees_a_disconnect(
    kalshi_credentials: tuple[str, Any, str],
) -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        kalshi = Signed(sim, http, kalshi_credentials)
        await kalshi.register()
        await kalshi.arm({"method": "POST", "path": ORDERS, "action": "act_then_drop"})
        client_order_id = str(uuid.uuid4())
        with pytest.raises(aiohttp.ClientConnectionError):
            await kalshi.request("POST", ORDERS, _order(client_order_id))
        status, listed = await kalshi.request("GET", "/trade-api/v2/portfolio/orders")
        assert status == 200
        [order] = [o for o in listed["orders"] if o["client_order_id"] == client_order_id]
        assert (order["status"], order["fill_count_fp"]) == ("executed", "2.00")
        assert (await kalshi.request("POST", ORDERS, _order(client_order_id)))[0] == 409  # the retry is a duplicate


async def test_drop_before_leaves_no_order(kalshi_credentials: tuple[str, Any, str]) -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        kalshi = Signed(sim, http, kalshi_credentials)
        await kalshi.register()
        await kalshi.arm(
            {"method": "POST", "path": r"/trade-api/v2/portfolio/events/orders.*", "action": "drop_before", "times": 2}
        )
        for _ in range(2):
            with pytest.raises(aiohttp.ClientConnectionError):
                await kalshi.request("POST", ORDERS, _order(str(uuid.uuid4())))
        _, listed = await kalshi.request("GET", "/trade-api/v2/portfolio/orders")
        assert listed["orders"] == []
        assert (await kalshi.request("POST", ORDERS, _order(str(uuid.uuid4()))))[0] == 201


async def test_respond_fault_custom_body_and_headers_then_clear(kalshi_credentials: tuple[str, Any, str]) -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        kalshi = Signed(sim, http, kalshi_credentials)
        await kalshi.register()
        await kalshi.arm(
            {
                "method": "GET",
                "path": "/trade-api/v2/portfolio/balance",
                "status": 503,
                "times": 5,
                "headers": {"Retry-After": "2"},
            }
        )
        async with http.get(sim.kalshi_url + "/trade-api/v2/portfolio/balance") as response:
            assert response.status == 503 and response.headers["Retry-After"] == "2"
            assert (await response.json())["error"]["code"] == "service_unavailable"
        async with http.get(sim.kalshi_url + "/__sim/faults") as response:
            assert [f["times"] for f in (await response.json())["faults"]] == [4]
        async with http.delete(sim.kalshi_url + "/__sim/faults") as response:
            assert response.status == 200
        assert (await kalshi.request("GET", "/trade-api/v2/portfolio/balance"))[0] == 200
        async with http.post(sim.kalshi_url + "/__sim/faults", json={"method": "GET"}) as response:
            assert response.status == 400 and "'path'" in (await response.json())["sim_error"]


async def test_latency_uses_the_injected_sleep(kalshi_credentials: tuple[str, Any, str]) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with Simulator(faults=FaultInjector(sleep=fake_sleep)) as sim, aiohttp.ClientSession() as http:
        kalshi = Signed(sim, http, kalshi_credentials)
        await kalshi.register()
        await kalshi.arm({"method": "POST", "path": ORDERS, "latency_ms": 1500, "status": 500})
        assert (await kalshi.request("POST", ORDERS, _order(str(uuid.uuid4()))))[0] == 500
        await kalshi.arm({"method": "POST", "path": ORDERS, "latency_ms": 250})
        status, created = await kalshi.request("POST", ORDERS, _order(str(uuid.uuid4())))
        assert (status, created["fill_count"]) == (201, "2.00")
        assert slept == [1.5, 0.25]


async def test_faults_are_per_listener() -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        async with http.post(
            sim.kalshi_url + "/__sim/faults", json={"method": "GET", "path": "/.*", "status": 500, "times": 10}
        ) as response:
            assert response.status == 201
        async with http.get(sim.poly_url + "/__sim/faults") as response:
            assert (await response.json())["faults"] == []
        async with http.get(sim.kalshi_url + "/trade-api/v2/exchange/status") as response:
            assert response.status == 500


async def test_simulator_serves_both_listeners_and_shares_the_clock() -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        assert sim.kalshi_url.startswith("http://127.0.0.1:") and sim.kalshi_url.count("/") == 2
        async with http.get(sim.kalshi_url + "/trade-api/v2/exchange/status") as response:
            assert await response.json() == {"exchange_active": True, "trading_active": True}
        before = sim.clock.now()
        async with http.post(sim.kalshi_url + "/__sim/clock/advance", json={"seconds": 3600}) as response:
            assert response.status == 200
        assert sim.clock.now() - before >= 3600
        async with http.post(sim.poly_url + "/__sim/clock/advance", json={"seconds": 60}) as response:
            assert response.status == 200
        assert sim.clock.now() - before >= 3660
        async with http.post(sim.kalshi_url + "/__sim/clock/advance", json={"seconds": -1}) as response:
            assert response.status == 400
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.get(sim.kalshi_url + "/trade-api/v2/exchange/status")


def test_parse_listen() -> None:
    assert parse_listen(()) == {"kalshi": ("127.0.0.1", 9787), "poly": ("127.0.0.1", 9788)}
    assert parse_listen(("kalshi=127.0.0.1:1234", "poly=[::1]:99"))["poly"] == ("::1", 99)
    for bad in ("kalshi", "kalshi=host", "ftx=127.0.0.1:1", "poly=:80", "poly=127.0.0.1:8\u00b2"):  # "²" fails int()
        with pytest.raises(click.BadParameter):
            parse_listen((bad,))


def test_sim_command_refuses_bad_state_and_remote_bind(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from simulator.cli import sim

    path = tmp_path / "state.json"
    path.write_text('{"kalshi": {"markets": [{"ticker": "A", "status": "nope"}]}}')
    result = CliRunner().invoke(
        sim, ["--state", str(path), "--listen", "kalshi=127.0.0.1:0", "--listen", "poly=127.0.0.1:0"]
    )
    assert result.exit_code != 0 and f"{path}: kalshi.markets[0].status" in result.output
    result = CliRunner().invoke(sim, ["--listen", "kalshi=0.0.0.0:0"])
    assert result.exit_code != 0 and "--allow-remote" in result.output
