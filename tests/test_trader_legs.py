from decimal import Decimal as D

import pytest

from trader.legs import Leg, Opportunity


def kalshi_leg(**kw):
    args = dict(exchange="kalshi", instrument="KXT-1", action="buy", count=D("10"), price=D("0.45"), outcome="yes")
    return Leg(**{**args, **kw})


def poly_leg(**kw):
    args = dict(
        exchange="poly",
        instrument="123",
        action="buy",
        count=D("10"),
        price=D("0.52"),
        tick_size=D("0.01"),
        neg_risk=False,
    )
    return Leg(**{**args, **kw})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("count", 10, "finite Decimal"),
        ("count", 10.0, "finite Decimal"),
        ("count", D("0"), "positive"),
        ("count", D("-1"), "positive"),
        ("count", D("NaN"), "finite Decimal"),
        ("price", 0.45, "finite Decimal"),
        ("price", D("0"), "strictly between 0 and 1"),
        ("price", D("1"), "strictly between 0 and 1"),
        ("price", D("0.455"), "not a multiple of the tick size 0.01"),
        ("action", "hold", "'buy' or 'sell'"),
        ("outcome", None, "outcome 'yes' or 'no'"),
        ("outcome", "maybe", "outcome 'yes' or 'no'"),
        ("exchange", "binance", "one of"),
        ("instrument", " ", "non-empty"),
        ("neg_risk", True, "Polymarket field"),
    ],
)
def test_kalshi_leg_rejects_bad_fields(field, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        kalshi_leg(**{field: value})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tick_size", None, "tick_size must be a finite Decimal"),
        ("neg_risk", None, "neg_risk True or False"),
        ("outcome", "yes", "names its outcome by token id"),
        ("price", D("0.525"), "not a multiple"),
    ],
)
def test_poly_leg_rejects_bad_fields(field, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        poly_leg(**{field: value})


def test_sub_penny_tick_is_accepted_when_declared():
    assert poly_leg(price=D("0.525"), tick_size=D("0.001")).price == D("0.525")
    assert kalshi_leg(price=D("0.455"), tick_size=D("0.005")).tick == D("0.005")


def test_legs_are_frozen():
    leg = kalshi_leg()
    with pytest.raises(AttributeError):
        leg.count = D("1")


def test_closing_a_buy_sells_at_most_the_slippage_below_entry_on_the_tick_grid():
    close = kalshi_leg().closing(D("4"), D("0.4533"), D("0.05"))
    assert (close.action, close.count, close.price, close.outcome) == ("sell", D("4"), D("0.41"), "yes")


def test_closing_a_sell_buys_at_most_the_slippage_above_entry():
    close = poly_leg(action="sell").closing(D("3"), D("0.52"), D("0.05"))
    assert (close.action, close.count, close.price, close.tick_size, close.neg_risk) == (
        "buy",
        D("3"),
        D("0.57"),
        D("0.01"),
        False,
    )


def test_closing_price_stays_inside_the_price_range():
    assert kalshi_leg(price=D("0.02")).closing(D("1"), D("0.02"), D("0.05")).price == D("0.01")
    assert poly_leg(action="sell", price=D("0.98")).closing(D("1"), D("0.98"), D("0.05")).price == D("0.99")


def test_opportunity_checks_each_leg_exchange():
    Opportunity(kalshi_leg(), poly_leg(), D("0.03"))
    with pytest.raises(ValueError, match=r"Opportunity\.kalshi must be a Kalshi Leg"):
        Opportunity(poly_leg(), poly_leg(), D("0.03"))
    with pytest.raises(ValueError, match=r"Opportunity\.poly must be a Polymarket Leg"):
        Opportunity(kalshi_leg(), kalshi_leg(), D("0.03"))
    with pytest.raises(TypeError, match="edge"):
        Opportunity(kalshi_leg(), poly_leg(), 0.03)


def test_a_polymarket_buy_may_state_the_dollars_to_spend():
    leg = Leg("poly", "123", "buy", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=False, amount=D("5.10"))
    assert leg.amount == D("5.10")
    assert leg.closing(D("10"), D("0.51"), D("0.05")).amount is None  # the unwind sells shares
    with pytest.raises(ValueError, match=r"Leg\.amount is the pUSD of a Polymarket buy"):
        Leg("poly", "123", "sell", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=False, amount=D("5"))
    with pytest.raises(ValueError, match=r"Leg\.amount"):
        Leg("poly", "123", "buy", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=False, amount=D("0"))
    with pytest.raises(TypeError, match=r"Leg\.amount must be a finite Decimal"):
        Leg("poly", "123", "buy", D("10"), D("0.52"), tick_size=D("0.01"), neg_risk=False, amount=5)  # type: ignore[arg-type]
