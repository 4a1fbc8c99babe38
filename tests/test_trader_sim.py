"""The trader with the real clients against the paper exchanges (loopback only)."""

import copy
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


def state(rsa_key, positions=None, no_bids=(("0.5500", "6.00"),), poly_fee_rate="0", poly_shares=None):
    public = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    # YES bids 0.44 x 20; NO bids 0.55 x 6 by default, i.e. YES asks 0.45 x 6
    market = {
        "ticker": TICKER,
        "event_ticker": "KX-TRADER",
        "title": "t",
        "book": {"yes_dollars": [["0.4400", "20.00"]], "no_dollars": [list(level) for level in no_bids]},
    }
    account = {"name": "default", "balance": "1000.00", "api_keys": {"kid": public}, "positions": positions or {}}
    poly = copy.deepcopy(POLY_DEFAULT)
    poly["markets"][0]["fee_rate"] = poly_fee_rate
    poly["accounts"][0]["positions"] = poly_shares or {}
    return {"kalshi": {"markets": [market], "accounts": [account]}, "poly": poly}


@pytest.fixture
async def sim(rsa_key, request):
    async with Simulator(state(rsa_key, **getattr(request, "param", {}))) as running:
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


@pytest.mark.parametrize("sim", [{"positions": {TICKER: "3.00"}}], indirect=True)
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


@pytest.mark.parametrize("sim", [{"no_bids": (("0.5500", "3.00"), ("0.5400", "4.00"))}], indirect=True)
async def test_kalshi_fill_across_levels_is_booked_exactly(sim_kalshi, tmp_path):
    """Finding 4: 3 @ 0.45 + 4 @ 0.46 costs 3.19 with fees 0.0520 + 0.0696; the create answer's 4-decimal
    averages (0.4557, 0.0174 a contract) would book 3.1899 and 0.1218."""
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_leg(sim_kalshi, Leg("kalshi", TICKER, "buy", D("7"), D("0.46"), "yes"), ledger)
        assert (result.status, result.filled) == ("filled", D("7"))
        fills = ledger.fills(result.key)
        assert sum(f.quantity * f.price for f in fills) == D("3.19")
        assert sum(f.fee for f in fills) == D("0.1216")
        assert result.fees == D("0.1216") and ledger.intent(result.key).fees == D("0.1216")


POLY_YES = POLY_DEFAULT["markets"][0]["tokens"][0]["token_id"]  # asks 0.49 x 500, bids 0.47 x 500
FEE_04 = {"poly_fee_rate": "0.04"}


@pytest.mark.parametrize("sim", [FEE_04], indirect=True)
async def test_poly_fees_are_booked_on_the_order_path(sim_poly, tmp_path):
    """Finding 3: 10 @ 0.53 at rate 0.04 pays 10 x 0.04 x 0.53 x 0.47 = 0.09964 (docs/wire/polymarket.md §4.4)."""
    leg = Leg("poly", POLY_NO, "buy", D("10"), D("0.53"), tick_size=D("0.01"), neg_risk=False)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_leg(sim_poly, leg, ledger)
        assert (result.status, result.filled) == ("filled", D("10"))
        assert [f.fee for f in ledger.fills(result.key)] == [D("0.09964")]
        assert result.fees == D("0.09964")


@pytest.mark.parametrize("sim", [FEE_04], indirect=True)
async def test_poly_fees_are_booked_on_the_recovery_path(sim, sim_poly, tmp_path):
    await arm(sim.poly_url, method="POST", path="/order", action="act_then_drop")
    leg = Leg("poly", POLY_NO, "buy", D("10"), D("0.53"), tick_size=D("0.01"), neg_risk=False)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        lost = await execute_leg(sim_poly, leg, ledger)
        assert lost.status == "unknown"
        await recover(ledger, FakeKalshi(), sim_poly)
        assert [f.fee for f in ledger.fills(lost.key)] == [D("0.09964")]
        assert ledger.intent(lost.key).fees == D("0.09964")


@pytest.mark.parametrize("sim", [{"poly_shares": {POLY_YES: "50"}}], indirect=True)
async def test_poly_fak_buy_unwind_that_overfills_is_residual_exposure(sim_kalshi, sim_poly, tmp_path):
    """Finding 2 on the paper exchange: the unwind BUY of 11 at limit 0.52 spends 5.72 pUSD, which
    at the 0.49 ask buys 11.67 shares; the account is 0.67 long, and the report says so."""
    opportunity = Opportunity(
        Leg("kalshi", TICKER, "buy", D("11"), D("0.40"), "yes"),  # nothing offered at 0.40: fills 0
        Leg("poly", POLY_YES, "sell", D("11"), D("0.47"), tick_size=D("0.01"), neg_risk=False),
        D("0.02"),
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_arb(sim_kalshi, sim_poly, opportunity, ledger)
        assert (result.kalshi.status, result.poly.status, result.poly.filled) == ("none", "filled", D("11"))
        [unwind] = result.unwinds
        assert (unwind.leg.action, unwind.leg.count, unwind.leg.price, unwind.filled) == (
            "buy",
            D("11"),
            D("0.52"),
            D("11.67"),
        )
        assert [(e.leg.exchange, e.leg.action, e.quantity) for e in result.residual] == [("poly", "buy", D("0.67"))]
        assert ledger.positions()[("poly", POLY_YES)] == D("0.67")


async def test_a_polymarket_buy_through_two_levels_spends_their_cost_and_gets_the_walked_shares(sim_poly, tmp_path):
    """NO asks 0.53 x 500 then 0.54 x 1000: 510 shares cost 500 x 0.53 + 10 x 0.54 = 265.00 + 5.40 = 270.40.
    Sent by size at the 0.54 limit it would spend 510 x 0.54 = 275.40 and buy more; by amount it buys 510."""
    leg = Leg("poly", POLY_NO, "buy", D("510"), D("0.54"), tick_size=D("0.01"), neg_risk=False, amount=D("270.40"))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_leg(sim_poly, leg, ledger)
        assert (result.status, result.filled) == ("filled", D("510"))
        assert ledger.positions() == {("poly", POLY_NO): D("510")}
