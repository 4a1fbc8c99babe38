"""A request that gets no answer raises TransportError without carrying the signed request along."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from clients.errors import TransportError
from clients.kalshi import KalshiClient
from clients.polymarket import PolymarketClient
from simulator.credentials import kalshi_test_credentials

HARDHAT_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_kalshi_transport_error_has_no_chained_request():
    key_id, key, _ = kalshi_test_credentials()
    async with KalshiClient(closed_port_url() + "/trade-api/v2", key_id, key) as kalshi:
        with pytest.raises(TransportError) as caught:
            await kalshi.create_order("KX-A", "yes", "buy", Decimal("1"), Decimal("0.5"))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert key_id not in str(caught.value)


async def test_poly_transport_error_has_no_chained_request():
    async with PolymarketClient(
        closed_port_url(),
        private_key=HARDHAT_0,
        api_key="key-uuid",
        api_secret="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cz0=",
        api_passphrase="very-secret-passphrase",
    ) as poly:
        with pytest.raises(TransportError) as caught:
            await poly.get_order("0x" + "ab" * 32)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "very-secret-passphrase" not in str(caught.value)
