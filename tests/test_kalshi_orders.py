"""V2 order bodies: outcome/action/outcome-price → YES-leg side and price, strings, validation."""

import json
from decimal import Decimal

import pytest
from corpus import payload_dir

from clients.kalshi.orders import OrderSpec, format_count, format_price

PAYLOADS = payload_dir("kalshi")


@pytest.mark.parametrize(
    "outcome, action, price, side, leg_price",
    [
        ("yes", "buy", "0.45", "bid", "0.4500"),
        ("yes", "sell", "0.45", "ask", "0.4500"),
        ("no", "buy", "0.45", "ask", "0.5500"),
        ("no", "sell", "0.45", "bid", "0.5500"),
        ("no", "buy", Decimal("0.0125"), "ask", "0.9875"),
    ],
)
def test_four_outcome_action_combinations(outcome, action, price, side, leg_price):
    body = OrderSpec("KX-T", outcome, action, Decimal("5"), price, client_order_id="cid").body()
    assert body == {
        "ticker": "KX-T",
        "client_order_id": "cid",
        "side": side,
        "count": "5.00",
        "price": leg_price,
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
    }


def test_optional_flags_appear_only_when_set():
    body = OrderSpec(
        "T",
        "yes",
        "buy",
        "1",
        "0.3",
        time_in_force="good_till_canceled",
        client_order_id="c",
        post_only=True,
        reduce_only=True,
        expiration_time=1781159999,
        self_trade_prevention_type="maker",
    ).body()
    assert body["post_only"] is True and body["reduce_only"] is True
    assert body["expiration_time"] == 1781159999 and body["self_trade_prevention_type"] == "maker"
    assert "post_only" not in OrderSpec("T", "yes", "buy", "1", "0.3").body()


def test_client_order_id_is_generated_when_absent():
    a, b = OrderSpec("T", "yes", "buy", "1", "0.3"), OrderSpec("T", "yes", "buy", "1", "0.3")
    assert len(a.client_order_id) == 36 and a.client_order_id != b.client_order_id


@pytest.mark.parametrize("field", ["count", "price"])
def test_floats_are_refused_with_a_clear_type_error(field):
    args = {"count": "1", "price": "0.5", field: 0.5}
    with pytest.raises(TypeError, match=f"{field} must be a Decimal or str, not float"):
        OrderSpec("T", "yes", "buy", args["count"], args["price"]).body()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": "1.005"}, "count 1.005 has more precision"),
        ({"count": "0"}, "count must be positive"),
        ({"count": "abc"}, "count is not a number"),
        ({"price": "0.45001"}, "price 0.45001 has more precision"),
        ({"price": "1"}, "between 0 and 1"),
        ({"price": "0"}, "between 0 and 1"),
        ({"price": "NaN"}, "must be finite"),
        ({"outcome": "maybe"}, "outcome must be 'yes' or 'no'"),
        ({"action": "hold"}, "action must be 'buy' or 'sell'"),
        ({"time_in_force": "good_till_time"}, "time_in_force must be one of"),
        ({"self_trade_prevention_type": "none"}, "self_trade_prevention_type must be one of"),
        ({"expiration_time": 1781159999}, "expiration_time needs time_in_force 'good_till_canceled'"),
        ({"ticker": ""}, "ticker must not be empty"),
    ],
)
def test_bad_input_names_the_field(kwargs, message):
    args = {"ticker": "T", "outcome": "yes", "action": "buy", "count": "1", "price": "0.5", **kwargs}
    with pytest.raises(ValueError, match=message):
        OrderSpec(**args).body()


def test_format_helpers_keep_exact_strings():
    assert format_count(Decimal("10")) == "10.00" and format_count("0.01") == "0.01"
    assert format_price("0.56") == "0.5600" and format_price(Decimal("0.0001")) == "0.0001"
    assert format_count("0", allow_zero=True) == "0.00"


def real_create_requests():
    for path in sorted(PAYLOADS.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc["kind"] == "create_order_v2_request":
            yield pytest.param(doc["payload"], id=path.name)


@pytest.mark.parametrize("recorded", list(real_create_requests()))
def test_bodies_match_real_v2_requests(recorded):
    """Each recorded V2 create is rebuilt from the trader's view, stated both as YES and as NO."""
    yes_price = Decimal(recorded["price"])
    common = {
        "ticker": recorded["ticker"],
        "count": recorded["count"],
        "time_in_force": recorded["time_in_force"],
        "client_order_id": recorded["client_order_id"],
        "post_only": recorded.get("post_only", False),
        "self_trade_prevention_type": recorded["self_trade_prevention_type"],
    }
    as_yes = OrderSpec(outcome="yes", action="buy" if recorded["side"] == "bid" else "sell", price=yes_price, **common)
    as_no = OrderSpec(
        outcome="no", action="sell" if recorded["side"] == "bid" else "buy", price=1 - yes_price, **common
    )
    expected = {k: v for k, v in recorded.items() if v is not False}  # false flags are omitted
    assert as_yes.body() == expected
    assert as_no.body() == expected
