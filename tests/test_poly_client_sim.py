"""The real Polymarket client against the paper CLOB on calls the trader's other tests do not show."""

from __future__ import annotations

from decimal import Decimal

from clients.polymarket import PolymarketClient
from scenarios.harness import PAPER_POLY_KEY
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT
from simulator.server import Simulator


async def test_balance_refresh_answers_empty_and_the_client_reads_the_balance_after_it():
    async with Simulator() as sim, PolymarketClient(sim.poly_url, private_key=PAPER_POLY_KEY) as poly:
        await poly.create_or_derive_api_key()
        balance = await poly.get_balance_allowance(update=True)
    assert balance.balance == Decimal("1000")


async def test_fak_buy_by_size_spends_its_dollars_and_may_get_more_shares():
    """A market BUY is filled by its dollar amount (docs/wire/polymarket.md §4.3): size 10 at limit 0.55
    spends 5.50 pUSD, which at the 0.53 ask buys 10.37 shares; a SELL by size sells exactly that many."""
    no_token = "51288545342541818958055448777263985995768425756818071463056658856703683003905"
    async with Simulator() as sim, PolymarketClient(sim.poly_url, private_key=PAPER_POLY_KEY) as poly:
        await poly.create_or_derive_api_key()
        buy = poly.build_order(no_token, "BUY", Decimal("0.55"), size=Decimal("10"), order_type="FAK")
        assert (buy.maker_amount, buy.taker_amount) == (Decimal("5.5"), Decimal("10"))
        bought = await poly.post_order(buy)
        assert (bought.filled, bought.cost) == (Decimal("10.37"), Decimal("5.4961"))
        sell = poly.build_order(no_token, "SELL", Decimal("0.50"), size=Decimal("10"), order_type="FAK")
        sold = await poly.post_order(sell)
        assert sold.filled == Decimal("10")


async def test_resting_and_partly_filled_orders_carry_their_limit_price():
    """A GTC buy at 0.49 for 600 shares: 500 fill at the 0.49 ask, 100 rest, and the limit reads 0.49 both in
    the placement's answer and in the order read back."""
    yes = POLY_DEFAULT["markets"][0]["tokens"][0]["token_id"]
    async with Simulator() as sim, PolymarketClient(sim.poly_url, private_key=PAPER_POLY_KEY) as poly:
        await poly.create_or_derive_api_key()
        placed = await poly.create_order(yes, "BUY", Decimal("0.49"), size=Decimal("600"), order_type="GTC")
        read = await poly.get_order(placed.order_id)
        resting = await poly.create_order(yes, "BUY", Decimal("0.40"), size=Decimal("10"), order_type="GTC")
        open_orders = {o.order_id: o.limit_price for o in await poly.get_open_orders()}
    assert (placed.status, placed.filled, placed.remaining) == ("matched", Decimal("500"), Decimal("100"))
    assert placed.limit_price == read.limit_price == Decimal("0.49")
    assert (read.status, read.filled, read.remaining) == ("LIVE", Decimal("500"), Decimal("100"))
    assert (resting.status, resting.avg_price, resting.limit_price) == ("live", None, Decimal("0.40"))
    assert open_orders == {placed.order_id: Decimal("0.49"), resting.order_id: Decimal("0.4")}


async def test_clob_market_reads_the_simulators_market_info():
    """The compact market info as the paper CLOB serves it: both tokens, the fee curve, the flags."""
    first, second = POLY_DEFAULT["markets"][0], POLY_DEFAULT["markets"][1]
    async with Simulator() as sim, PolymarketClient(sim.poly_url) as poly:
        market = await poly.get_clob_market(first["condition_id"])
        neg_risk = await poly.get_clob_market(second["condition_id"])
    assert set(market.tokens) == {t["token_id"] for t in first["tokens"]}
    assert (market.fees.rate, market.fees.exponent, market.fees.taker_only) == (Decimal(0), Decimal(1), True)
    assert market.accepting_orders and not market.neg_risk
    assert neg_risk.neg_risk
