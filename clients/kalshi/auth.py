"""Kalshi request signing (docs/wire/kalshi.md §2).

The signed text is `timestamp_ms + METHOD + path`, where path runs from the host root (so a base
URL's `/trade-api/v2` prefix is part of it) and never includes the query string or the body.
RSA-PSS with SHA-256, MGF1-SHA-256 and a salt as long as the digest; base64 output.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_HEADER = "KALSHI-ACCESS-KEY"
TIMESTAMP_HEADER = "KALSHI-ACCESS-TIMESTAMP"
SIGNATURE_HEADER = "KALSHI-ACCESS-SIGNATURE"

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def load_private_key(key: rsa.RSAPrivateKey | bytes | str) -> rsa.RSAPrivateKey:
    """An RSA private key from a key object or PEM text (PKCS#1 or PKCS#8, unencrypted)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise TypeError(f"Kalshi private_key must be an RSA key object or PEM bytes/str, not {type(key).__name__}")
    try:
        loaded = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        # The message never includes the key material.
        raise ValueError("Kalshi private_key is not an unencrypted PEM private key") from exc
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"Kalshi private_key must be an RSA key, got {type(loaded).__name__}")
    return loaded


def string_to_sign(ts_ms: int, method: str, path: str) -> str:
    """The exact text Kalshi verifies: query string dropped, method upper-cased."""
    return f"{ts_ms}{method.upper()}{path.split('?', 1)[0]}"


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    """Standard (padded) base64 RSA-PSS signature of `message`."""
    return base64.b64encode(private_key.sign(message.encode(), PSS, hashes.SHA256())).decode()


def auth_headers(key_id: str, private_key: rsa.RSAPrivateKey, method: str, path: str, ts_ms: int) -> dict[str, str]:
    """The three KALSHI-ACCESS-* headers for one request."""
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: str(ts_ms),
        SIGNATURE_HEADER: sign(private_key, string_to_sign(ts_ms, method, path)),
    }


def env_credentials(env: Mapping[str, str] | None = None) -> tuple[str | None, bytes | str | None]:
    """(key id, PEM) from KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH or KALSHI_PRIVATE_KEY (PEM text, `\\n`
    escapes allowed on one line); (None, None) when neither is set, ValueError when only one is."""
    env = os.environ if env is None else env
    key_id = env.get("KALSHI_API_KEY_ID") or None
    key_path = env.get("KALSHI_PRIVATE_KEY_PATH")
    pem: bytes | str | None = env.get("KALSHI_PRIVATE_KEY") or None
    if key_path:
        try:
            pem = Path(key_path).expanduser().read_bytes()
        except OSError as exc:
            raise ValueError(f"KALSHI_PRIVATE_KEY_PATH {key_path}: cannot read the key file ({exc.strerror})") from None
    elif isinstance(pem, str) and "\n" not in pem:
        pem = pem.replace("\\n", "\n")  # PEM pasted into one env line
    if (key_id is None) != (pem is None):
        raise ValueError("set both KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH (or KALSHI_PRIVATE_KEY), or neither")
    return key_id, pem
