from contextlib import asynccontextmanager
from decimal import Decimal as D

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

import trader.cli as cli
from clients.errors import InsufficientBalance
from trader.fakes import FakeKalshi, FakePoly, Plan
from trader.ledger import Booking, Fill, Ledger
from trader.legs import Leg

ARB = ["--kalshi", "KXT-26NOV20-A:yes:buy:10@0.45", "--poly", "7123:buy:10@0.52"]


@pytest.fixture
def fakes(monkeypatch):
    kalshi, poly = FakeKalshi(), FakePoly()

    @asynccontextmanager
    async def open_fakes():
        yield kalshi, poly

    monkeypatch.setattr(cli, "open_clients", open_fakes)
    return kalshi, poly


def run(*args, **kwargs):
    return CliRunner().invoke(cli.trader, list(args), catch_exceptions=False, **kwargs)


def test_positions_lists_derived_positions_and_open_intents(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.record_intent(Leg("kalshi", "KXT", "buy", D("10"), D("0.45"), "no"), "k1")
        ledger.book("k1", Booking("partial", "o", D("6"), fills=(Fill(D("6"), D("0.45"), None, "order"),)))
        ledger.record_intent(Leg("poly", "7123", "buy", D("5"), D("0.5"), tick_size=D("0.01"), neg_risk=False), "0xabc")
    result = run("positions", "--ledger", str(path))
    assert result.exit_code == 0
    assert "kalshi KXT  -6" in result.output
    assert "open intent 0xabc: poly 7123 buy 5@0.5 (pending)" in result.output


def test_positions_of_a_missing_ledger_is_an_error(tmp_path):
    result = run("positions", "--ledger", str(tmp_path / "nope.sqlite"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_recover_of_a_missing_ledger_is_an_error_not_a_clean_empty_one(fakes, tmp_path):
    """Run from the wrong directory (or with a typo), recover would create an empty ledger, compare nothing
    the real ledger knows and report "clean" while the real one still holds open intents."""
    result = run("recover", "--ledger", str(tmp_path / "nope.sqlite"))
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "nope.sqlite").exists()


def test_arb_refuses_without_credentials(tmp_path):
    result = run("arb", *ARB, "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 1
    assert "credentials missing for Kalshi (KALSHI_API_KEY_ID" in result.output
    assert "Polymarket (POLY_PRIVATE_KEY" in result.output and "refusing to run" in result.output


def test_recover_names_only_the_missing_exchange(tmp_path, monkeypatch, rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_bytes(pem)
    monkeypatch.setenv("KALSHI_API_KEY_ID", "key-id")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "k.pem"))
    Ledger(tmp_path / "l.sqlite").close()
    result = run("recover", "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 1
    assert "credentials missing for Polymarket" in result.output and "Kalshi (" not in result.output


def test_half_configured_client_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KALSHI_API_KEY_ID", "key-id")
    Ledger(tmp_path / "l.sqlite").close()
    result = run("recover", "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 1 and "bad exchange configuration" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kalshi", "KXT:yes:buy:10", "--poly", "7123:buy:10@0.52"], "is not of the form TICKER:yes|no"),
        (["--kalshi", "KXT:yes:buy:ten@0.45", "--poly", "7123:buy:10@0.52"], "must be decimal numbers"),
        (["--kalshi", "KXT:maybe:buy:10@0.45", "--poly", "7123:buy:10@0.52"], "outcome 'yes' or 'no'"),
        (["--kalshi", "KXT:yes:buy:10@1.45", "--poly", "7123:buy:10@0.52"], "strictly between 0 and 1"),
        (["--kalshi", "KXT:yes:buy:10@0.45", "--poly", "7123:yes:buy:10@0.52"], "is not of the form TOKEN_ID"),
        (["--kalshi", "KXT:yes:buy:10@0.45", "--poly", "7123:buy:10@0.525"], "not a multiple of the tick size"),
        (["--kalshi", "KXT:yes:buy:10@0.45", "--poly", "7123:buy:10@0.52", "--edge", "lots"], "not a decimal number"),
        (["--kalshi", "KXT:yes:buy:10@0.45", "--poly", "7123:buy:10@0.52", "--policy", "panic"], "'unwind', 'hold'"),
        (
            ["--kalshi", "KXT:yes:buy:10@0.45", "--poly", "7123:buy:10@0.52", "--max-unwind-slippage", "2"],
            "max_unwind_slippage",
        ),
        (["--kalshi", "KXT:yes:buy:10@0.45"], "Missing option '--poly'"),
    ],
)
def test_arb_argument_errors(fakes, tmp_path, args, message):
    result = run("arb", *args, "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 2 and message in result.output
    assert fakes[0].calls == [] and fakes[1].calls == []


def test_arb_places_both_legs_and_reports(fakes, tmp_path):
    result = run("arb", *ARB, "--poly-tick-size", "0.001", "--neg-risk", "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 0, result.output
    assert "\nkalshi KXT-26NOV20-A yes buy 10@0.45: filled 10/10 avg 0.45\n" in result.output
    assert "kalshi kalshi" not in result.output and "poly   poly" not in result.output
    assert "matched 10" in result.output
    assert fakes[1].calls[0] == ("build_order", ("7123", "BUY", D("0.52"), D("10"), "FAK", D("0.001"), True))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.positions() == {("kalshi", "KXT-26NOV20-A"): D("10"), ("poly", "7123"): D("10")}


def test_arb_with_exposure_left_exits_1(fakes, tmp_path):
    fakes[1].plans.append(Plan(error=InsufficientBalance("not enough balance", exchange="poly", status=400)))
    result = run("arb", *ARB, "--policy", "hold", "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 1
    assert "exposure kalshi KXT-26NOV20-A yes buy 10" in result.output
    assert "ALERT exposure left: kalshi KXT-26NOV20-A yes buy 10 (hold)" in result.output


def test_recover_reports_and_exits_0_when_clean(fakes, tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path, clock=lambda: "2026-11-20T00:00:00+00:00") as ledger:  # written long before this run
        ledger.record_intent(Leg("kalshi", "KXT", "buy", D("10"), D("0.45"), "no"), "never-sent")
    result = run("recover", "--recheck-delay", "0", "--ledger", str(path))
    assert result.exit_code == 0, result.output
    assert "resolved never-sent: kalshi KXT no buy 10@0.45 -> none 0" in result.output
    assert "clean: ledger and exchanges agree" in result.output
    assert [name for name, _ in fakes[0].calls].count("find_order_by_client_order_id") == 2


def test_recover_leaves_a_fresh_unknown_intent_open_and_alerts(fakes, tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.record_intent(Leg("kalshi", "KXT", "buy", D("10"), D("0.45"), "no"), "just-sent")
    result = run("recover", "--ledger", str(path))
    assert result.exit_code == 1
    assert "UNRESOLVED just-sent: kalshi KXT no buy 10@0.45: not found" in result.output
    assert "ALERT kalshi KXT no buy 10@0.45 (key just-sent): not found" in result.output


def test_recover_unwinds_an_arb_it_settles_only_when_asked(fakes, tmp_path):
    path = tmp_path / "l.sqlite"
    kalshi_leg = Leg("kalshi", "KXT", "buy", D("10"), D("0.45"), "yes")
    with Ledger(path) as ledger:
        ledger.record_intent(kalshi_leg, "k-entry", arb_id="arb-1")
        ledger.book(
            "k-entry", Booking("filled", "o", D("10"), D("0.45"), fills=(Fill(D("10"), D("0.45"), None, "order"),))
        )
        ledger.record_exposure("arb-1", kalshi_leg, D("10"), "unwind")  # the process stopped before unwinding
    held = run("recover", "--ledger", str(path))
    assert "ALERT exposure left: kalshi KXT yes buy 10 (hold)" in held.output
    assert [name for name, _ in fakes[0].calls].count("create_order") == 0
    unwound = run("recover", "--policy", "unwind", "--ledger", str(path))
    assert "arb arb-1: unwind kalshi KXT yes sell 10@0.40: filled 10/10" in unwound.output, unwound.output
    with Ledger(path) as ledger:
        assert ledger.exposure_records(open_only=True) == []


def test_recover_exits_1_on_a_difference(fakes, tmp_path):
    fakes[0].extra_positions["KXOTHER"] = D("3")
    Ledger(tmp_path / "l.sqlite").close()
    result = run("recover", "--ledger", str(tmp_path / "l.sqlite"))
    assert result.exit_code == 1
    assert "DIFFERENCE kalshi KXOTHER: ledger 0, exchange 3" in result.output and "NOT clean" in result.output
