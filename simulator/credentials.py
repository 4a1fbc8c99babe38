"""Throwaway credentials for tests and the demo: generated in memory, never written anywhere."""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def kalshi_test_credentials() -> tuple[str, rsa.RSAPrivateKey, str]:
    """A fresh (key_id, private key, public PEM) to register with the simulator's Kalshi listener
    (state `api_keys` or `POST /__sim/kalshi/keys`); sign with clients.kalshi.auth."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return str(uuid.uuid4()), private_key, public_pem
