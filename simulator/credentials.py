"""Throwaway credentials for tests and the demo: generated in memory, never written anywhere."""

from __future__ import annotations

import base64
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def kalshi_test_credentials() -> tuple[str, rsa.RSAPrivateKey, str]:
    """A fresh (key_id, private key, public PEM) to register with the simulator's Kalshi listener."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return str(uuid.uuid4()), private_key, public_pem


def kalshi_auth_headers(key_id: str, private_key: rsa.RSAPrivateKey, method: str, path: str,
                        ts_ms: int) -> dict[str, str]:
    """Kalshi's three auth headers: RSA-PSS (SHA-256, salt 32) over ts + METHOD + path without query."""
    message = f"{ts_ms}{method.upper()}{path.split('?', 1)[0]}".encode()
    signature = private_key.sign(
        message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": str(ts_ms),
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode("ascii"),
    }
