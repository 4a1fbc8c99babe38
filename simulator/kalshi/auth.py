"""Kalshi request signatures: RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) or Ed25519 over
`timestamp_ms + METHOD + path` (path from the host root, without the query), within ±10 s of the sim clock.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from simulator.kalshi.errors import AUTH_BAD_SIGNATURE, AUTH_EXPIRED, AUTH_MISSING, AUTH_UNKNOWN_KEY, KalshiError
from simulator.kalshi.exchange import KalshiExchange

SKEW_MS = 10_000
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _verify(public_key: ed25519.Ed25519PublicKey | rsa.RSAPublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        else:
            public_key.verify(signature, message, _PSS, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def authenticate(request: web.Request, exchange: KalshiExchange, now_ms: int) -> str:
    """The account a signed request belongs to, or KalshiError 401 with Kalshi's real body."""
    key_id = request.headers.get("KALSHI-ACCESS-KEY")
    timestamp = request.headers.get("KALSHI-ACCESS-TIMESTAMP")
    signature = request.headers.get("KALSHI-ACCESS-SIGNATURE")
    if not key_id or not timestamp or not signature:
        raise KalshiError(401, AUTH_MISSING)
    entry = exchange.keys.get(key_id)
    if entry is None:
        raise KalshiError(401, AUTH_UNKNOWN_KEY)
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(int(timestamp) - now_ms) > SKEW_MS:
        raise KalshiError(401, AUTH_EXPIRED)
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise KalshiError(401, AUTH_BAD_SIGNATURE) from None
    path = request.raw_path.split("?", 1)[0]
    account, public_key = entry
    if not _verify(public_key, raw_signature, f"{timestamp}{request.method.upper()}{path}".encode()):
        raise KalshiError(401, AUTH_BAD_SIGNATURE)
    return account
