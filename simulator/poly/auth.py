"""API keys and the two auth levels: L1 ClobAuth signatures and L2 HMAC headers.

Credentials are never shipped in state files: each (address, nonce) maps to a key, secret and
passphrase derived from a random per-process server secret, so a client must do the real
create-or-derive flow, and a restarted simulator invalidates old credentials as a real key
rotation would. The one exception is the paper-only demo account (simulator/demo_accounts.py),
whose credentials every simulator holds so that they are the same in every run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from aiohttp import web
from eth_utils import is_hex_address, to_checksum_address

from clients.polymarket.signing import l2_signature, recover_clob_auth_signer
from ctf_order import decimal_digits
from simulator import demo_accounts
from simulator.poly.errors import PolyError

INVALID_L1 = "Invalid L1 Request headers"
INVALID_L2 = "Unauthorized/Invalid api key"


@dataclass(frozen=True)
class ApiCreds:
    api_key: str
    secret: str
    passphrase: str
    address: str  # checksummed EOA that owns the key
    nonce: int

    def wire(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


DEMO_CREDS = ApiCreds(
    demo_accounts.POLY_API_KEY,
    demo_accounts.POLY_API_SECRET,
    demo_accounts.POLY_API_PASSPHRASE,
    demo_accounts.POLY_ADDRESS,
    demo_accounts.POLY_API_NONCE,
)


class ApiKeys:
    """The keys created so far; derivation is deterministic within one process."""

    def __init__(self, server_secret: bytes | None = None, preset: tuple[ApiCreds, ...] = ()) -> None:
        self._server_secret = server_secret or secrets.token_bytes(32)
        self._by_key: dict[str, ApiCreds] = {}
        self._by_owner: dict[tuple[str, int], ApiCreds] = {}
        for creds in preset:  # held from the start (the paper-only demo account), as if created earlier
            self._keep(creds)

    def _keep(self, creds: ApiCreds) -> None:
        self._by_key[creds.api_key] = creds
        self._by_owner[(creds.address.lower(), creds.nonce)] = creds

    def _derive(self, address: str, nonce: int) -> ApiCreds:
        def mac(label: str) -> bytes:
            return hmac.new(self._server_secret, f"{label}|{address.lower()}|{nonce}".encode(), hashlib.sha256).digest()

        return ApiCreds(
            api_key=str(uuid.UUID(bytes=mac("key")[:16], version=4)),
            secret=base64.urlsafe_b64encode(mac("secret")).decode(),
            passphrase=mac("passphrase").hex(),
            address=address,
            nonce=nonce,
        )

    def create(self, address: str, nonce: int) -> ApiCreds | None:
        """A new key, or None when this (address, nonce) already has one (the client then derives)."""
        if (address.lower(), nonce) in self._by_owner:
            return None
        creds = self._derive(address, nonce)
        self._keep(creds)
        return creds

    def derive(self, address: str, nonce: int) -> ApiCreds | None:
        """The existing key for (address, nonce), or None if it was never created."""
        return self._by_owner.get((address.lower(), nonce))

    def lookup(self, api_key: str) -> ApiCreds | None:
        return self._by_key.get(api_key)


def verify_l1(request: web.Request) -> tuple[str, int]:
    """(EOA, nonce) of a valid ClobAuth header set; 401 `Invalid L1 Request headers` otherwise."""
    headers = request.headers
    address, signature = headers.get("POLY_ADDRESS", ""), headers.get("POLY_SIGNATURE", "")
    timestamp, nonce_text = headers.get("POLY_TIMESTAMP", ""), headers.get("POLY_NONCE", "0")
    if not (is_hex_address(address) and signature and decimal_digits(timestamp) and decimal_digits(nonce_text)):
        raise PolyError(401, INVALID_L1)
    try:
        recover_clob_auth_signer(address, timestamp, int(nonce_text), signature)
    except ValueError:
        raise PolyError(401, INVALID_L1) from None
    return to_checksum_address(address), int(nonce_text)


def verify_l2(request: web.Request, body: bytes, keys: ApiKeys) -> ApiCreds:
    """The credentials behind valid L2 headers (HMAC over ts + METHOD + path + body); 401 otherwise."""
    headers = request.headers
    creds = keys.lookup(headers.get("POLY_API_KEY", ""))
    timestamp, signature = headers.get("POLY_TIMESTAMP", ""), headers.get("POLY_SIGNATURE", "")
    address = headers.get("POLY_ADDRESS", "")
    if creds is None or not timestamp or not hmac.compare_digest(headers.get("POLY_PASSPHRASE", ""), creds.passphrase):
        raise PolyError(401, INVALID_L2)
    if not is_hex_address(address) or to_checksum_address(address) != creds.address:
        raise PolyError(401, INVALID_L2)
    expected = l2_signature(creds.secret, timestamp, request.method, request.rel_url.raw_path, body)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise PolyError(401, INVALID_L2)
    return creds
