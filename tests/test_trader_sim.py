"""The trader with the real clients against the paper exchanges (loopback only)."""

from decimal import Decimal as D

import aiohttp
import pytest
from client_helpers import HARDHAT_KEY
from cryptography.hazmat.primitives import serialization

from clients.kalshi import KalshiClient
from clients.polymarket import PolymarketClient
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT
from simulator.server import Simulator
from trader.arb import execute_arb
from trader.execute import execute_leg
from trader.fakes import FakeKalshi, FakePoly
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity
from trader.recovery import PositionDifference, recover

TICKER = "KX-TRADER-A"
POLY_NO = POLY_DEFAULT["markets"][0]["tokens"][1]["token_id"]  # asks 0.53 x 500, bids 0.51 x 500, tick 0.01
ORDERS = "/trade-api/v2/portfolio/events/orders"


def state(rsa_key, positions=None):
    public = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    # YES bids 0.44 x 20; NO bids 0.55 x 6, i.e. YES asks 0.45 x 6
    market = {
        "ticker": TICKER,
        "event_ticker": "KX-TRADER",
        "title": "t",
        "book": {"yes_dollars": [["0.4400", "20.00"]], "no_dollars": [["0.5500", "6.00"]]},
    }
    account = {"name": "default", "balance": "1000.00", "api_keys": {"kid": public}, "positions": positions or {}}
    return {"kalshi": {"markets": [market], "accounts": [account]}}


@pytest.fixture
async def sim(rsa_key, request):
    async with Simulator(state(rsa_key, getattr(request, "param", None))) as running:
        yield running


@pytest.fixture
async def sim_kalshi(sim, rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    async with KalshiClient(sim.kalshi_url + "/trade-api/v2", "kid", pem) as client:
        client.sim_url = sim.kalshi_url
        yield client


@pytest.fixture
async def sim_poly(sim):
    async with PolymarketClient(sim.poly_url, HARDHAT_KEY) as client:
        await client.create_or_derive_api_key()
        yield client


async def arm(url, **fault):
    async with aiohttp.ClientSession() as session, session.post(url + "/__sim/faults", json=fault) as response:
        assert response.status < 300, await response.text()


async def test_partial_ioc_books_what_filled_and_positions_agree(sim_kalshi, tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_leg(sim_kalshi, Leg("kalshi", TICKER, "buy", D("10"), D("0.45"), "yes"), ledger)
        assert (result.status, result.filled, result.avg_price) == ("partial", D("6"), D("0.45"))
        no = await execute_leg(sim_kalshi, Leg("kalshi", TICKER, "buy", D("2"), D("0.56"), "no"), ledger)
        assert (no.status, no.filled) == ("filled", D("2"))
        assert ledger.positions() == {("kalshi", TICKER): D("4")}
        report = await recover(ledger, sim_kalshi, FakePoly())
    assert report.clean, report


async def test_lost_answer_is_recovered_after_restart(sim_kalshi, tmp_path):
    await arm(sim_kalshi.sim_url, method="POST", path=ORDERS, action="act_then_drop")
    leg = Leg("kalshi", TICKER, "sell", D("5"), D("0.44"), "yes")
    with Ledger(tmp_path / "l.sqlite") as ledger:
        lost = await execute_leg(sim_kalshi, leg, ledger)
    assert lost.status == "unknown"
    with Ledger(tmp_path / "l.sqlite") as ledger:
        report = await recover(ledger, sim_kalshi, FakePoly())
        assert [(r.key, r.state, r.filled) for r in report.resolved] == [(lost.key, "filled", D("5"))]
        assert [f.price for f in ledger.fills(lost.key)] == [D("0.44")]
        assert ledger.positions() == {("kalshi", TICKER): D("-5")}
    assert report.clean, report


@pytest.mark.parametrize("sim", [{TICKER: "3.00"}], indirect=True)
async def test_position_the_ledger_does_not_know_is_reported(sim_kalshi, tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        report = await recover(ledger, sim_kalshi, FakePoly())
    assert report.differences == (PositionDifference("kalshi", TICKER, D("0"), D("3")),)


async def test_arb_partial_kalshi_unwinds_poly_and_recovery_agrees(sim_kalshi, sim_poly, tmp_path):
    opportunity = Opportunity(
        Leg("kalshi", TICKER, "buy", D("10"), D("0.45"), "yes"),
        Leg("poly", POLY_NO, "buy", D("10"), D("0.53"), tick_size=D("0.01"), neg_risk=False),
        D("0.02"),
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_arb(sim_kalshi, sim_poly, opportunity, ledger)
        assert (result.kalshi.status, result.kalshi.filled, result.poly.status, result.poly.filled) == (
            "partial",
            D("6"),
            "filled",
            D("10"),
        )
        [unwind] = result.unwinds
        assert (unwind.leg.action, unwind.leg.count, unwind.leg.price) == ("sell", D("4"), D("0.48"))
        assert unwind.status == "filled" and unwind.avg_price == D("0.51") and result.residual == ()
        assert ledger.positions() == {("kalshi", TICKER): D("6"), ("poly", POLY_NO): D("6")}
        report = await recover(ledger, sim_kalshi, sim_poly)
    assert report.clean, report


async def test_poly_lost_answer_is_recovered_by_order_hash(sim, sim_poly, tmp_path):
    await arm(sim.poly_url, method="POST", path="/order", action="act_then_drop")
    leg = Leg("poly", POLY_NO, "buy", D("10"), D("0.53"), tick_size=D("0.01"), neg_risk=False)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        lost = await execute_leg(sim_poly, leg, ledger)
    assert lost.status == "unknown"
    with Ledger(tmp_path / "l.sqlite") as ledger:
        report = await recover(ledger, FakeKalshi(), sim_poly)
        assert [(r.key, r.state, r.filled) for r in report.resolved] == [(lost.key, "filled", D("10"))]
        assert ledger.intent(lost.key).order_id == lost.key
        assert ledger.positions() == {("poly", POLY_NO): D("10")}
    assert report.differences == ()
