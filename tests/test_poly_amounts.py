"""makerAmount/takerAmount for every tick size, against polymarket-client's exact Decimal values."""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from clients.polymarket.orders import (
    ROUND_CONFIG,
    check_price,
    decimal_places,
    exact_amounts,
    exact_buy_step,
    from_units,
    limit_amounts,
    market_amounts,
    round_config,
    to_units,
)

REFERENCE = json.loads((Path(__file__).parent / "data" / "poly_reference.json").read_text())
AMOUNTS = REFERENCE["amounts"]


def ident(case: dict) -> str:
    return f"{case['kind']}-{case['side']}-{case['price']}x{case['quantity']}@{case['tick_size']}"


def ours(case: dict) -> tuple[int, int]:
    build = limit_amounts if case["kind"] == "limit" else market_amounts
    return build(case["side"], Decimal(case["price"]), Decimal(case["quantity"]), Decimal(case["tick_size"]))


def test_table_covers_every_tick_size_and_kind():
    assert {Decimal(c["tick_size"]) for c in AMOUNTS} == set(ROUND_CONFIG)
    for tick in ROUND_CONFIG:
        kinds = {(c["kind"], c["side"]) for c in AMOUNTS if Decimal(c["tick_size"]) == tick}
        assert {("limit", "BUY"), ("limit", "SELL")} <= kinds, tick
        assert {k for k, _ in kinds} == {"limit", "market"}, tick


@pytest.mark.parametrize("case", AMOUNTS, ids=ident)
def test_amounts_match_polymarket_client(case):
    maker, taker = ours(case)
    assert maker == case["maker_amount"]
    if case["kind"] == "market" and case["side"] == "BUY":
        # the server takes at most 4 decimals for a market BUY taker (py-clob-client-v2#99);
        # polymarket-client 0.14.0 can send 5 or 6 on fine ticks, this client truncates to 4
        expected = from_units(case["taker_amount"]).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)
        assert from_units(taker) == expected
    else:
        assert taker == case["taker_amount"]


def test_market_buy_taker_cap_is_exercised():
    capped = [
        c
        for c in AMOUNTS
        if c["kind"] == "market" and c["side"] == "BUY" and decimal_places(from_units(c["taker_amount"])) > 4
    ]
    assert capped, "the reference should include quotients past 4 decimals"
    for case in capped:
        assert ours(case)[1] < case["taker_amount"]
        assert decimal_places(from_units(ours(case)[1])) <= 4


def test_float_trap_values_differ_from_py_clob_client_v2():
    """2.03 shares and 0.58 are where binary floats floor one unit low; Decimal must not."""
    trap = [c for c in AMOUNTS if c["quantity"] == "2.03" or c["price"] == "0.58"]
    assert len(trap) >= 4
    for case in trap:
        float_result = case["py_clob_client_v2_float"]
        assert ours(case) != (float_result["maker_amount"], float_result["taker_amount"]), ident(case)
    buy = next(c for c in trap if c["kind"] == "limit" and c["side"] == "BUY" and c["price"] == "0.58")
    assert ours(buy) == (1_177_400, 2_030_000)  # 2.03 shares x 0.58 = 1.1774 pUSD


def test_exact_size_buy_amounts():
    assert exact_amounts("BUY", Decimal("0.57"), Decimal("7"), Decimal("0.01")) == (3_990_000, 7_000_000)
    assert exact_amounts("BUY", Decimal("0.5"), Decimal("2.04"), Decimal("0.01")) == (1_020_000, 2_040_000)
    assert exact_amounts("SELL", Decimal("0.57"), Decimal("7.5"), Decimal("0.01")) == (7_500_000, 4_275_000)


def test_exact_size_buy_refuses_three_decimal_cost():
    with pytest.raises(ValueError, match=r"makerAmount 4\.275 has 3 decimals.*multiple of 1\.00"):
        exact_amounts("BUY", Decimal("0.57"), Decimal("7.5"), Decimal("0.01"))


@pytest.mark.parametrize(
    "price, step",
    [
        ("0.57", "1"),
        ("0.5", "0.02"),
        ("0.25", "0.04"),
        ("0.1", "0.1"),
        ("0.001", "10"),
        ("0.0025", "4"),
        ("0.0001", "100"),
    ],
)
def test_exact_buy_step(price, step):
    result = exact_buy_step(Decimal(price))
    assert result == Decimal(step)
    assert decimal_places(result * Decimal(price)) <= 2
    if result > Decimal("0.01"):
        assert decimal_places((result - Decimal("0.01")) * Decimal(price)) > 2


@pytest.mark.parametrize(
    "price, tick, reason",
    [
        ("0.585", "0.01", "not a multiple of tick size 0.01"),
        ("0.0", "0.01", "between 0.01 and 0.99"),
        ("1", "0.1", "between 0.1 and 0.9"),
        ("0.5", "0.02", "not a Polymarket tick size"),
        ("abc", "0.01", "not a number"),
    ],
)
def test_bad_prices_are_refused(price, tick, reason):
    with pytest.raises(ValueError, match=reason):
        check_price(price, tick)


def test_floats_are_refused():
    with pytest.raises(TypeError, match="not float"):
        limit_amounts("BUY", 0.58, Decimal("2.03"), Decimal("0.01"))  # type: ignore[arg-type]  # a float is what is tested


@pytest.mark.parametrize(
    "size, reason",
    [("2.035", "at most 2 decimals"), ("0", "must be positive"), ("-1", "must be positive"), ("NaN", "not a finite")],
)
def test_bad_sizes_are_refused(size, reason):
    with pytest.raises(ValueError, match=reason):
        limit_amounts("BUY", Decimal("0.5"), size, Decimal("0.01"))


def test_units_round_trip():
    assert to_units(Decimal("1.177400")) == 1_177_400
    assert from_units("45091977") == Decimal("45.091977")
    with pytest.raises(ValueError, match="finer than 1e-6"):
        to_units(Decimal("0.0000001"))
    assert round_config("0.001").amount == 5
