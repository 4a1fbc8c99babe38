"""Kalshi request signing: the exact string signed, verified with the public key (RSA-PSS is randomized)."""

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from clients.kalshi import KalshiClient
from clients.kalshi.auth import auth_headers, load_private_key, string_to_sign

# Verification parameters written out independently of the module under test: salt 32 = SHA-256 size.
VERIFY_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def verify(rsa_key: rsa.RSAPrivateKey, signature_b64: str, message: str) -> None:
    rsa_key.public_key().verify(
        base64.b64decode(signature_b64, validate=True), message.encode(), VERIFY_PSS, hashes.SHA256()
    )


def test_string_to_sign_matches_the_reference_examples():
    assert (
        string_to_sign(1703123456789, "GET", "/trade-api/v2/portfolio/balance")
        == "1703123456789GET/trade-api/v2/portfolio/balance"
    )
    assert (
        string_to_sign(1703123456789, "get", "/trade-api/v2/portfolio/orders?limit=5")
        == "1703123456789GET/trade-api/v2/portfolio/orders"
    )


def test_auth_headers_verify_over_the_exact_string(rsa_key):
    headers = auth_headers("key-1", rsa_key, "POST", "/trade-api/v2/portfolio/events/orders", 1781159360866)
    assert headers["KALSHI-ACCESS-KEY"] == "key-1"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1781159360866"
    verify(rsa_key, headers["KALSHI-ACCESS-SIGNATURE"], "1781159360866POST/trade-api/v2/portfolio/events/orders")
    with pytest.raises(InvalidSignature):  # the short path without the prefix is a different message
        verify(rsa_key, headers["KALSHI-ACCESS-SIGNATURE"], "1781159360866POST/portfolio/events/orders")


@pytest.mark.parametrize(
    "base_url, path, signed_path",
    [
        ("http://127.0.0.1:8787/trade-api/v2", "/portfolio/orders", "/trade-api/v2/portfolio/orders"),
        ("https://proxy.example/kalshi/trade-api/v2/", "/portfolio/balance", "/kalshi/trade-api/v2/portfolio/balance"),
        ("http://127.0.0.1:8787/trade-api/v2", "/portfolio/orders/a%2Fb", "/trade-api/v2/portfolio/orders/a%2Fb"),
    ],
)
def test_client_signs_the_path_from_the_host_root(rsa_key, base_url, path, signed_path):
    client = KalshiClient(base_url, "key-1", rsa_key, clock=lambda: 1781159360.8669)
    url = client.url(path).with_query({"ticker": "T", "limit": "1000"})
    headers = client.sign_headers("GET", url)
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1781159360866"
    verify(rsa_key, headers["KALSHI-ACCESS-SIGNATURE"], f"1781159360866GET{signed_path}")
    with pytest.raises(InvalidSignature):  # the query string is never part of what is signed
        verify(rsa_key, headers["KALSHI-ACCESS-SIGNATURE"], f"1781159360866GET{signed_path}?ticker=T&limit=1000")


def test_unauthenticated_client_sends_no_auth_headers():
    client = KalshiClient("http://127.0.0.1:1/trade-api/v2")
    assert client.sign_headers("GET", client.url("/markets/T")) == {}


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
@pytest.mark.parametrize("as_text", [True, False])
def test_load_private_key_accepts_pem_text_and_bytes(rsa_key, fmt, as_text):
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    loaded = load_private_key(pem.decode() if as_text else pem)
    headers = auth_headers("k", loaded, "GET", "/trade-api/v2/x", 1)
    verify(rsa_key, headers["KALSHI-ACCESS-SIGNATURE"], "1GET/trade-api/v2/x")
    assert load_private_key(rsa_key) is rsa_key


def test_load_private_key_refuses_garbage_without_echoing_it():
    with pytest.raises(ValueError, match="not an unencrypted PEM") as info:
        load_private_key("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PRIVATE KEY-----\n")
    assert "c2VjcmV0" not in str(info.value)
    with pytest.raises(TypeError, match="RSA key object or PEM"):
        load_private_key(12345)  # type: ignore[arg-type]  # the wrong type is what is tested


def test_load_private_key_refuses_a_non_rsa_key():
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="must be an RSA key"):
        load_private_key(pem)


def test_key_id_and_key_go_together(rsa_key):
    with pytest.raises(ValueError, match="give both or neither"):
        KalshiClient("http://127.0.0.1:1/trade-api/v2", key_id="k")
    with pytest.raises(ValueError, match="give both or neither"):
        KalshiClient("http://127.0.0.1:1/trade-api/v2", private_key=rsa_key)
