"""What replay serves where a recording says "[REDACTED]": a client expecting a credential gets one that parses.

`owner` (Polymarket's API key, docs/wire/polymarket.md §4.5) carries the live request's API key, so a bot
that checks an order is its own sees itself. Other secret fields of an answer (an API-key creation:
apiKey, secret, passphrase; Kalshi's api_key_id and private_key) carry stand-ins in the real format, made
once per process and field kind: a UUID, urlsafe base64 of 32 bytes, 64 hex digits, an RSA private key in PEM.
Once, because a recording holds one account: creating a key and then deriving it answers the same credentials
on the exchange, and so must replay.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
import uuid
from typing import Any

import orjson

from proxy.tape.secrets import REDACTED, is_secret_field, norm

MARKER = orjson.dumps(REDACTED)
OWNER_FIELDS = frozenset({"owner"})
LIVE_KEY_HEADERS = {"poly": "POLY_API_KEY", "kalshi": "KALSHI-ACCESS-KEY"}
OWNER_SLOT = orjson.dumps(f"tradetape-owner-{uuid.uuid4().hex}")  # filled per request at serve time


@functools.cache
def private_key_pem() -> str:
    """One throwaway RSA key per process: generating one costs ~0.1 s, and no replay needs two."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def stand_in(name: str) -> str:
    """A value in the format the field `name` has on the wire, the same for every field of that kind."""
    return _stand_in(norm(name))


@functools.cache
def _stand_in(folded: str) -> str:
    if folded.endswith("secret"):
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if folded.endswith("passphrase"):
        return os.urandom(32).hex()
    if folded.endswith("privatekey"):
        return private_key_pem()
    if folded.endswith(("apikey", "apikeyid", "accesskey", "accesskeyid")):
        return str(uuid.uuid4())
    return secrets.token_urlsafe(32)


def _fill(value: Any, slots: list[bool]) -> Any:
    if type(value) is dict:
        for key, item in value.items():
            if item == REDACTED and is_secret_field(key):
                if norm(key) in OWNER_FIELDS:
                    value[key] = orjson.loads(OWNER_SLOT)
                    slots.append(True)
                else:
                    value[key] = stand_in(key)
            else:
                _fill(item, slots)
    elif type(value) is list:
        for item in value:
            _fill(item, slots)
    return value


def fill(body: bytes) -> tuple[bytes, bool]:
    """`body` with a stand-in in every redacted secret field (at load), and whether owner slots remain."""
    if MARKER not in body:
        return body, False
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, False
    slots: list[bool] = []
    return orjson.dumps(_fill(parsed, slots)), bool(slots)


def owner(body: bytes, headers: Any, exchange: str, fallback: str) -> bytes:
    """The owner slots of a served answer, filled with the live request's API key (or a stand-in)."""
    live = headers.get(LIVE_KEY_HEADERS.get(exchange, ""), "") or fallback
    return body.replace(OWNER_SLOT, orjson.dumps(live))
