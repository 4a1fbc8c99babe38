"""The pairs file: a good one is read exactly (Decimals, defaults, outcome mapping), a bad one is refused naming the
file and the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from trader_helpers import pair_fields

from trader.pairs import PairsError, load_pairs, parse_pairs
from trader.risk import Limits

YES = "79724115531796500154169490257471921577484206843216046510639004913120922178416"
NO = "51288545342541818958055448777263985995768425756818071463056658856703683003905"
CONDITION = "0x69178dcea3b5ef51300982f5cff10988188058ce6040b0e5323c7804a2446c54"

PAIR = pair_fields(YES, NO, "KXDEMOMATCH-26DEC31ALIBOB-ALI", CONDITION)
DEFAULTS = """
[defaults]
min_edge = "0.01"
max_size = 50
max_position = 200
"""


def document(pair: str = PAIR, defaults: str = DEFAULTS, extra: str = "") -> str:
    return f"{defaults}\n[[pairs]]\n{pair}\n{extra}"


def test_a_pair_is_read_with_exact_decimals_and_its_defaults():
    pairs = parse_pairs(document(extra="[risk]\ncooldown_s = 5\nmax_exposure_usd = 25.50\n"))
    (pair,) = pairs.pairs
    assert pair.poly_tick_size == Decimal("0.01") and isinstance(pair.poly_tick_size, Decimal)
    assert (pair.min_edge, pair.max_size, pair.max_position) == (Decimal("0.01"), Decimal(50), Decimal(200))
    assert pair.kalshi_tick_size == Decimal("0.01") and pair.poly_min_order_size == Decimal(5)
    assert pairs.limits == Limits(cooldown_s=5.0, max_exposure_usd=Decimal("25.50"))
    assert pairs.by_kalshi("KXDEMOMATCH-26DEC31ALIBOB-ALI") == (pair,)
    assert pairs.by_poly(NO) == (pair,) and pairs.by_poly("1") == ()


def test_a_pair_overrides_a_default():
    (pair,) = parse_pairs(document(PAIR + "max_size = 10\n")).pairs
    assert pair.max_size == Decimal(10)


@pytest.mark.parametrize(
    ("outcomes", "against_yes", "against_no"),
    [("same", NO, YES), ("inverted", YES, NO)],
)
def test_the_outcome_mapping_chooses_the_polymarket_token_that_hedges(outcomes, against_yes, against_no):
    """ "same": Kalshi YES pays with the Polymarket YES token, so Kalshi YES is hedged by buying Polymarket NO."""
    (pair,) = parse_pairs(document(PAIR.replace('outcomes = "same"', f'outcomes = "{outcomes}"'))).pairs
    assert pair.poly_token_against("yes") == against_yes
    assert pair.poly_token_against("no") == against_no


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("poly_tick_size = 0.01", "poly_tick_size = 0.02"), "pairs[0].poly_tick_size: must be one of 0.1, 0.01"),
        (("poly_tick_size = 0.01", ""), "pairs[0].poly_tick_size: missing"),
        (("poly_neg_risk = false", 'poly_neg_risk = "no"'), "pairs[0].poly_neg_risk: must be true or false"),
        (('poly_fee_rate = "0.04"', 'poly_fee_rate = "1.5"'), "pairs[0].poly_fee_rate: must be in [0, 1)"),
        (('poly_fee_rate = "0.04"', 'poly_fee_rate = "x"'), "pairs[0].poly_fee_rate: 'x' is not a decimal number"),
        (('outcomes = "same"', 'outcomes = "yes"'), "pairs[0].outcomes: must be one of same, inverted"),
        ((f'poly_no_token = "{NO}"', 'poly_no_token = "0xabc"'), "pairs[0].poly_no_token: must be the decimal token"),
        ((f'poly_no_token = "{NO}"', 'poly_no_token = "١٢٣"'), "pairs[0].poly_no_token: must be the decimal token"),
        ((f'poly_no_token = "{NO}"', f'poly_no_token = "{YES}"'), "pairs[0].poly_no_token: the same token as"),
        ((f'"{CONDITION}"', '"0x1234"'), "pairs[0].poly_condition_id: must be 0x and 64 hex digits"),
        (('name = "ali"', 'name = ""'), "pairs[0].name: must be a non-empty string"),
        (('name = "ali"', 'name = "ali"\nmax_sise = 3'), "pairs[0].max_sise: unknown field"),
        (('name = "ali"', 'name = "ali"\nmax_size = 2.5'), "pairs[0].max_size: must be a whole number above 0"),
        (('name = "ali"', 'name = "ali"\nmax_size = 500'), "pairs[0].max_size: 500 is above max_position 200"),
    ],
)
def test_a_bad_field_is_refused_by_name(change, message):
    old, new = change
    assert old in PAIR
    with pytest.raises(PairsError) as refused:
        parse_pairs(document(PAIR.replace(old, new)))
    assert str(refused.value).startswith(message)


def test_a_missing_default_is_named_on_the_pair_that_needs_it():
    with pytest.raises(PairsError, match=r"^pairs\[0\]\.min_edge: missing"):
        parse_pairs(document(defaults="[defaults]\nmax_size = 5\nmax_position = 5\n"))


def test_duplicates_and_empty_files_are_refused():
    second = PAIR.replace('name = "ali"', 'name = "bob"')
    with pytest.raises(PairsError, match=r"pairs\[1\]\.kalshi_ticker: .* is already used by pairs\[0\]"):
        parse_pairs(document(extra=f"[[pairs]]\n{second}"))
    with pytest.raises(PairsError, match=r"^pairs: at least one"):
        parse_pairs(DEFAULTS)
    with pytest.raises(PairsError, match=r"^not valid TOML"):
        parse_pairs("[[pairs]\n")
    with pytest.raises(PairsError, match=r"^limits: unknown field"):
        parse_pairs(document(extra="[limits]\nx = 1\n"))


@pytest.mark.parametrize(
    ("risk", "message"),
    [
        ('on_exposure = "ignore"', "risk.on_exposure: must be one of unwind, hold"),
        ("max_failures = 0", "risk.max_failures: must be a whole number above 0"),
        ("max_unwind_slippage = 1", "risk.max_unwind_slippage: must be in [0, 1)"),
        ("stale_after_s = 0", "risk.stale_after_s: must be above 0 seconds"),
        ("rebook_timeout_s = -1", "risk.rebook_timeout_s: must be above 0 seconds"),
        ("daily_loss_usd = -1", "risk.daily_loss_usd: must not be negative"),
        ("kill = true", "risk.kill: unknown field"),
    ],
)
def test_bad_risk_limits_are_refused_by_name(risk, message):
    with pytest.raises(PairsError) as refused:
        parse_pairs(document(extra=f"[risk]\n{risk}\n"))
    assert str(refused.value).startswith(message)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "pairs.toml"
    path.write_text(document(PAIR.replace("poly_tick_size = 0.01", "poly_tick_size = 0.3")))
    with pytest.raises(PairsError, match=rf"^{path}: pairs\[0\]\.poly_tick_size"):
        load_pairs(path)
    with pytest.raises(PairsError, match=rf"^{tmp_path / 'missing.toml'}: cannot read"):
        load_pairs(tmp_path / "missing.toml")
    path.write_text(document())
    assert load_pairs(path).pairs[0].name == "ali"


def test_a_polymarket_token_used_by_two_pairs_is_refused_by_name():
    """A token belongs to one condition: two pairs holding it would be priced and traded as two markets, each
    against a position limit that the other's fills count toward."""
    other = pair_fields(NO, "123", "KX-BOB", "0x" + "cd" * 32, name="bob")  # pair 0's NO token as its YES
    with pytest.raises(PairsError, match=r"pairs\[1\]\.poly_yes_token: .* is already used by pairs\[0\]"):
        parse_pairs(document(extra=f"[[pairs]]\n{other}"))
