"""The paper-only demo accounts: `tradetape sim env`, and the README's client and trader examples working as
written against `tradetape record` (embedded simulator) and `tradetape sim`, with nothing but those lines."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson
import pytest
from click.testing import CliRunner

from proxy.cli.main import main
from proxy.tape.fixture import load_fixture, session_files
from proxy.tools.audit import audit_file
from proxy.tools.paper_keys import PAPER_ONLY, fingerprint
from simulator import demo_accounts
from tests.cli_helpers import FREE_PORTS, TRADETAPE, clean_env, readme_block, sim_env, start

PROXY_URLS = {"KALSHI_BASE_URL": "http://127.0.0.1:8787/trade-api/v2", "POLY_CLOB_URL": "http://127.0.0.1:8788"}


def test_sim_env_prints_exports_for_the_proxy_and_direct_for_the_simulator():
    result = CliRunner().invoke(main, ["sim", "env"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# tradetape paper-only demo accounts")
    assert "export KALSHI_BASE_URL=http://127.0.0.1:8787/trade-api/v2\n" in result.output
    assert "export POLY_CLOB_URL=http://127.0.0.1:8788\n" in result.output
    assert f"export KALSHI_API_KEY_ID={demo_accounts.KALSHI_KEY_ID}\n" in result.output
    assert "unset KALSHI_PRIVATE_KEY_PATH\n" in result.output
    direct = CliRunner().invoke(main, ["sim", "env", "--direct"])
    assert "export KALSHI_BASE_URL=http://127.0.0.1:9787/trade-api/v2\n" in direct.output
    assert "export POLY_CLOB_URL=http://127.0.0.1:9788\n" in direct.output


async def test_sim_env_feed_urls_are_the_simulators_own_on_the_same_hosts():
    from simulator import Simulator
    from simulator.env import base_urls

    async with Simulator() as sim:
        ports = {"kalshi": int(sim.kalshi_url.rsplit(":", 1)[1]), "poly": int(sim.poly_url.rsplit(":", 1)[1])}
        urls = base_urls({ex: ("127.0.0.1", port) for ex, port in ports.items()})
    assert urls["KALSHI_WS_URL"] == sim.kalshi_ws_url and urls["POLY_WS_URL"] == sim.poly_ws_url
    assert urls["KALSHI_BASE_URL"] == sim.kalshi_url + "/trade-api/v2" and urls["POLY_CLOB_URL"] == sim.poly_url
    proxy_lines = CliRunner().invoke(main, ["sim", "env"]).output
    assert "export KALSHI_WS_URL=ws://127.0.0.1:8787/trade-api/ws/v2\n" in proxy_lines
    assert "export POLY_WS_URL=ws://127.0.0.1:8788/ws\n" in proxy_lines


def test_eval_of_sim_env_in_a_real_shell_sets_the_demo_credentials_and_drops_a_key_path():
    env = sim_env()
    assert {k: env[k] for k in PROXY_URLS} == PROXY_URLS
    assert env["KALSHI_PRIVATE_KEY"] == demo_accounts.KALSHI_PRIVATE_KEY_PEM  # the multi-line PEM survives eval
    assert env["POLY_PRIVATE_KEY"] == demo_accounts.POLY_PRIVATE_KEY
    assert env["POLY_API_SECRET"] == demo_accounts.POLY_API_SECRET
    script = 'KALSHI_PRIVATE_KEY_PATH=/elsewhere.pem; export KALSHI_PRIVATE_KEY_PATH; eval "$("$T" sim env)"; env'
    shell = subprocess.run(["sh", "-c", script], env=clean_env(T=TRADETAPE), capture_output=True, text=True, check=True)
    assert "KALSHI_PRIVATE_KEY_PATH" not in shell.stdout


def client_env(urls: dict[str, str]) -> dict[str, str]:
    """What a user's shell holds after `eval "$(tradetape sim env)"`, with the ports this test got."""
    env = sim_env()
    env.update(KALSHI_BASE_URL=urls["kalshi"] + "/trade-api/v2", POLY_CLOB_URL=urls["poly"])
    return clean_env(**env)


def run_client_example(env: dict[str, str], tmp_path) -> str:
    bot = tmp_path / "my_bot.py"
    bot.write_text(readme_block("client"))
    done = subprocess.run([sys.executable, str(bot)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_trader_example(env: dict[str, str], tmp_path) -> str:
    env = {**env, "PATH": f"{TRADETAPE.rsplit('/', 1)[0]}:{env['PATH']}"}
    done = subprocess.run(
        ["sh", "-e", "-c", readme_block("trader")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_readme_examples_work_as_written_against_record_and_nothing_secret_is_recorded(tmp_path):
    running = start("record", *FREE_PORTS, "--capture-dir", str(tmp_path / "fixtures"), "--session", "mine")
    try:
        env = client_env(running.urls)
        trader = run_trader_example(env, tmp_path)  # first: its recover compares the ledger with all positions
        client = run_client_example(env, tmp_path)
    finally:
        out, err = running.stop()
    assert "kalshi executed 5.00 0.52" in client and "poly matched 10 0.53" in client
    assert "matched 10" in trader and "clean: ledger and exchanges agree" in trader
    assert "tradetape record stopped: forwarded" in out, err
    files = session_files(tmp_path / "fixtures" / "mine")
    fixtures = [load_fixture(p) for p in files]
    assert all(f["response"]["status"] in (200, 201) for f in fixtures)  # signed and accepted: no 401 anywhere
    assert len([f for f in fixtures if f["request"]["method"] == "POST"]) == 4
    assert [f for p in files for f in audit_file(p)] == []  # the demo keys never reach a fixture
    assert demo_accounts.KALSHI_KEY_ID not in b"".join(p.read_bytes() for p in files).decode()


def test_readme_client_example_works_against_tradetape_sim(tmp_path):
    running = start("sim", *FREE_PORTS)
    try:
        out = run_client_example(client_env(running.urls), tmp_path)
    finally:
        running.stop()
    assert "kalshi executed 5.00" in out and "poly matched 10" in out


def test_record_takes_the_simulators_state_file(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"kalshi": {"accounts": [{"name": "me", "balance": "12.34"}]}}))
    running = start("record", *FREE_PORTS, "--capture-dir", str(tmp_path), "--state", str(state))
    try:
        script = (
            "import asyncio\nfrom clients.kalshi import KalshiClient\n"
            "async def main():\n    async with KalshiClient.from_env() as k:\n        print(await k.get_balance())\n"
            "asyncio.run(main())\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], env=client_env(running.urls), capture_output=True, text=True, timeout=60
        )
    finally:
        running.stop()
    assert done.returncode == 0, done.stderr
    assert "12.34" in done.stdout  # the demo key signs for the state's first account


def test_record_with_an_unreadable_state_file_says_so_and_creates_nothing(tmp_path):
    done = subprocess.run(
        [TRADETAPE, "record", *FREE_PORTS, "--capture-dir", str(tmp_path / "fx"), "--state", str(tmp_path / "no.json")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--state" in done.stderr and "no.json: cannot read" in done.stderr
    assert not (tmp_path / "fx").exists()


# ---- audit: published paper-only keys pass in docs and code, never in a session ------------------


def test_paper_only_fingerprints_are_the_simulators_demo_keys():
    shipped = {
        demo_accounts.KALSHI_PRIVATE_KEY_PEM,
        demo_accounts.kalshi_public_pem(),
        demo_accounts.POLY_PRIVATE_KEY,
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",  # Hardhat #0, the tests' key
    }
    assert {fingerprint(k) for k in shipped} == PAPER_ONLY


def test_audit_lets_the_demo_key_stand_in_docs_but_flags_any_other_key_there(tmp_path):
    doc = tmp_path / "guide.md"
    doc.write_text(f"Paper-only demo key:\n\n```\n{demo_accounts.KALSHI_PRIVATE_KEY_PEM}```\n")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"kalshi": {"accounts": [{"api_keys": {"k": demo_accounts.kalshi_public_pem()}}]}}))
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "paper-only demo keys allowed outside sessions in 2 files" in result.output
    other = tmp_path / "other.md"
    other.write_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n")
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 1 and f"{other}: (file): PEM block" in result.output


@pytest.mark.parametrize(
    "name, secret",
    [
        ("001_POST_kalshi_keys.json", demo_accounts.kalshi_public_pem()),
        ("002_POST_kalshi_keys.json", demo_accounts.KALSHI_PRIVATE_KEY_PEM),
        ("har.json", demo_accounts.KALSHI_PRIVATE_KEY_PEM),  # any file of a session directory
    ],
)
def test_audit_flags_the_demo_key_in_a_session(tmp_path, name, secret):
    session = tmp_path / "s"
    session.mkdir()
    (session / "manifest.json").write_text("{}")
    body = {"public_key_pem": secret}
    fixture = {"seq": 1, "exchange": "kalshi", "request": {"method": "POST", "url": "http://x/", "body": body}}
    (session / name).write_bytes(orjson.dumps(fixture))
    result = CliRunner().invoke(main, ["audit", str(session)])
    assert result.exit_code == 1 and f"{session / name}: request.body.public_key_pem: PEM block" in result.output
