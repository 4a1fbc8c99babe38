"""Fixtures every test module may use; plain helpers live in tests/*_helpers.py and tests/corpus.py."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric import rsa
from sim_poly_helpers import Trader, make_app

from simulator.credentials import kalshi_test_credentials
from trader.ledger import Ledger

# Tests must never reach a real exchange: drop any base URL or credential a developer has exported.
for _name in (
    "KALSHI_BASE_URL",
    "POLY_CLOB_URL",
    "KALSHI_WS_URL",
    "POLY_WS_URL",
    "KALSHI_API_KEY_ID",
    "KALSHI_PRIVATE_KEY_PATH",
    "KALSHI_PRIVATE_KEY",
    "POLY_PRIVATE_KEY",
    "POLY_API_KEY",
    "POLY_API_SECRET",
    "POLY_API_PASSPHRASE",
    "CAPTURE_DIR",
    "CAPTURE_FILTER",
):
    os.environ.pop(_name, None)

# Proxies started by the CLI in tests write their admin token here, not into the developer's home.
os.environ["TRADETAPE_ADMIN_TOKEN_FILE"] = os.path.join(tempfile.mkdtemp(prefix="tradetape-test-"), "admin-token")


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A throwaway 2048-bit RSA key for Kalshi signing (made once: generating one is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def kalshi_credentials() -> tuple[str, rsa.RSAPrivateKey, str]:
    """(key id, private key, public PEM) the paper Kalshi exchange accepts once registered."""
    return kalshi_test_credentials()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh trader ledger in the test's temporary directory."""
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


@pytest.fixture
async def http(aiohttp_client: Any) -> TestClient:
    """The paper Polymarket app in its default state, under aiohttp's test client."""
    client: TestClient = await aiohttp_client(make_app())
    return client


@pytest.fixture
async def trader(http: TestClient) -> Trader:
    """Hardhat #0 on the paper Polymarket app, with a freshly created API key."""
    return await Trader.login(http)
