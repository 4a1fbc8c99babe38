"""Polymarket CLOB V2/V3 signing: EIP-712 orders, the POLY_1271 wrapper, ClobAuth and the L2 HMAC.

Pure functions, no I/O: the client signs with them and the simulator verifies with them, so both
sides agree by construction. Orders are taken in the wire form of the `POST /order` body's
`order` object (docs/wire/polymarket.md §4.5): salt and signatureType numbers, amounts, tokenId and
timestamp strings, side "BUY"/"SELL".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from coincurve import PrivateKey
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import to_checksum_address

from ctf_order import (
    EXCHANGE_DOMAIN_NAME,
    ORDER_TYPE_STRING,
    POLYGON,
    SIG_POLY_1271,
    address_field,
    address_word,
    domain_separator,
    exchange_address,
    keccak256,
    order_digest,
    order_message,
    order_struct_hash,
    uint_field,
)

PUSD = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"

ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
# ERC-7739 nested typed data: the deposit wallet's domain wraps the exchange's Order.
TYPED_DATA_SIGN_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
DEPOSIT_WALLET_NAME = "DepositWallet"
DEPOSIT_WALLET_VERSION = "1"

CLOB_AUTH_DOMAIN_NAME = "ClobAuthDomain"
CLOB_AUTH_VERSION = "1"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
CLOB_AUTH_FIELDS = [
    {"name": "address", "type": "address"},
    {"name": "timestamp", "type": "string"},
    {"name": "nonce", "type": "uint256"},
    {"name": "message", "type": "string"},
]

_TYPED_DATA_SIGN_TYPE_HASH = keccak256(TYPED_DATA_SIGN_TYPE_STRING.encode())
_DEPOSIT_WALLET_NAME_HASH = keccak256(DEPOSIT_WALLET_NAME.encode())
_DEPOSIT_WALLET_VERSION_HASH = keccak256(DEPOSIT_WALLET_VERSION.encode())
_ORDER_TYPE_BYTES = ORDER_TYPE_STRING.encode()
_ECDSA_LEN = 65
_WRAPPER_FIXED_LEN = _ECDSA_LEN + 32 + 32 + 2


def exchange_domain(domain_version: int, neg_risk: bool, chain_id: int = POLYGON) -> dict[str, Any]:
    """The EIP-712 domain of the exchange that verifies the order."""
    return {
        "name": EXCHANGE_DOMAIN_NAME,
        "version": str(domain_version),
        "chainId": chain_id,
        "verifyingContract": exchange_address(domain_version, neg_risk, chain_id),
    }


def order_typed_data(
    order: Mapping[str, Any], domain_version: int = 2, neg_risk: bool = False, chain_id: int = POLYGON
) -> dict[str, Any]:
    """Full EIP-712 typed data (JSON-serializable; bytes32 as 0x-hex) for eth_account and the SDKs."""
    return {
        "primaryType": "Order",
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Order": ORDER_FIELDS},
        "domain": exchange_domain(domain_version, neg_risk, chain_id),
        "message": order_message(order),
    }


def _wrapped_digest(wallet: int, separator: bytes, struct_hash: bytes, chain_id: int) -> bytes:
    """The digest the deposit wallet's owner signs for POLY_1271 (ERC-7739 TypedDataSign); `wallet` is the integer
    of the deposit wallet's address word. Every field is static: the encoding is their 32-byte words in turn."""
    wrapper_hash = keccak256(
        b"".join(
            (
                _TYPED_DATA_SIGN_TYPE_HASH,
                struct_hash,
                _DEPOSIT_WALLET_NAME_HASH,
                _DEPOSIT_WALLET_VERSION_HASH,
                chain_id.to_bytes(32, "big"),
                wallet.to_bytes(32, "big"),
                bytes(32),  # the salt
            )
        )
    )
    return order_digest(separator, wrapper_hash)


@lru_cache(maxsize=8)
def _signing_key(private_key: str) -> PrivateKey:
    """The secp256k1 key of a 0x-hex private key, parsed once (kept only in memory, like the client's own copy)."""
    return PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))


def sign_hash(digest: bytes, private_key: str) -> bytes:
    """r || s || v (v = 27 + recovery id) over a 32-byte digest, as `eth_account`'s `unsafe_sign_hash` makes it:
    libsecp256k1's deterministic (RFC 6979), low-s signature, straight from coincurve."""
    recoverable = _signing_key(private_key).sign_recoverable(digest, hasher=None)
    return recoverable[:64] + bytes([recoverable[64] + 27])


def sign_order(
    order: Mapping[str, Any],
    private_key: str,
    domain_version: int = 2,
    neg_risk: bool = False,
    chain_id: int = POLYGON,
) -> str:
    """The order's `signature`: plain EIP-712 for types 0-2, the ERC-7739 wrapper for type 3.

    For type 3 `order.signer` is the deposit wallet and `private_key` its owner EOA's.
    """
    return signed_order_hash(order, private_key, domain_version, neg_risk, chain_id)[0]


def signed_order_hash(
    order: Mapping[str, Any],
    private_key: str,
    domain_version: int = 2,
    neg_risk: bool = False,
    chain_id: int = POLYGON,
) -> tuple[str, str]:
    """(signature, order hash) from one struct hash: what a client needs to send an order and book its intent."""
    struct_hash = order_struct_hash(order)
    signature_type = uint_field(order, "signatureType")
    signer = address_word(order, "signer") if signature_type == SIG_POLY_1271 else 0
    return sign_struct_hash(struct_hash, signature_type, signer, private_key, domain_version, neg_risk, chain_id)


def sign_struct_hash(
    struct_hash: bytes,
    signature_type: int,
    signer: int,
    private_key: str,
    domain_version: int = 2,
    neg_risk: bool = False,
    chain_id: int = POLYGON,
) -> tuple[str, str]:
    """(signature, order hash) of an order given by its hashStruct: plain EIP-712 for types 0-2, the ERC-7739
    wrapper for type 3, whose `signer` (the integer of its address word; unused by the other types) is the deposit
    wallet."""
    separator = domain_separator(domain_version, neg_risk, chain_id)
    digest = order_digest(separator, struct_hash)
    if signature_type != SIG_POLY_1271:
        return "0x" + sign_hash(digest, private_key).hex(), "0x" + digest.hex()
    inner = sign_hash(_wrapped_digest(signer, separator, struct_hash, chain_id), private_key)
    wrapped = inner + separator + struct_hash + _ORDER_TYPE_BYTES + len(_ORDER_TYPE_BYTES).to_bytes(2, "big")
    return "0x" + wrapped.hex(), "0x" + digest.hex()


def _signature_bytes(order: Mapping[str, Any]) -> bytes:
    value = order.get("signature")
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"order.signature: expected 0x-hex, got {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ValueError("order.signature: not valid hex") from exc


def _recover(digest: bytes, signature: bytes) -> str:
    if len(signature) != _ECDSA_LEN:
        raise ValueError(f"order.signature: expected a 65-byte ECDSA signature, got {len(signature)} bytes")
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    try:
        public_key = keys.Signature(signature[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError) as exc:
        raise ValueError(f"order.signature: not a recoverable secp256k1 signature ({exc})") from exc
    return public_key.to_checksum_address()


def _unwrap_1271(order: Mapping[str, Any], separator: bytes, struct_hash: bytes) -> bytes:
    """Check the ERC-7739 wrapper against the order and return the inner 65-byte signature."""
    raw = _signature_bytes(order)
    if len(raw) < _WRAPPER_FIXED_LEN:
        raise ValueError(f"order.signature: {len(raw)} bytes is too short for a POLY_1271 wrapper")
    type_len = int.from_bytes(raw[-2:], "big")
    if len(raw) != _WRAPPER_FIXED_LEN + type_len:
        raise ValueError(f"order.signature: wrapper length {len(raw)} does not match its type-string length {type_len}")
    inner, embedded_separator = raw[:65], raw[65:97]
    embedded_struct_hash, type_string = raw[97:129], raw[129:-2]
    if type_string != _ORDER_TYPE_BYTES:
        raise ValueError("order.signature: the wrapper's contents type is not the V2 Order type string")
    if embedded_separator != separator:
        raise ValueError(
            "order.signature: the wrapper's domain separator is not this exchange's (wrong version, neg_risk or chain)"
        )
    if embedded_struct_hash != struct_hash:
        raise ValueError(
            "order.signature: the wrapper's struct hash does not match the order (order fields changed after signing)"
        )
    return inner


def recover_order_signer(
    order: Mapping[str, Any], domain_version: int = 2, neg_risk: bool = False, chain_id: int = POLYGON
) -> str:
    """The checksummed EOA that signed the order; ValueError with the reason if it cannot be valid.

    Types 0-2: the recovered address must equal `order.signer`. Type 3: the wrapper's embedded
    domain separator and struct hash must match the order; the result is the wallet owner's EOA,
    which the caller checks against the wallet's owner (it is not in the order).
    """
    separator = domain_separator(domain_version, neg_risk, chain_id)
    struct_hash = order_struct_hash(order)
    if uint_field(order, "signatureType") == SIG_POLY_1271:
        inner = _unwrap_1271(order, separator, struct_hash)
        return _recover(_wrapped_digest(address_word(order, "signer"), separator, struct_hash, chain_id), inner)
    recovered = _recover(order_digest(separator, struct_hash), _signature_bytes(order))
    signer = address_field(order, "signer")
    if recovered != signer:
        raise ValueError(
            f"order.signature: recovers to {recovered}, not order.signer {signer} "
            "(tampered order, wrong key, or wrong domain version/neg_risk)"
        )
    return recovered


def _urlsafe_b64decode(secret: str) -> bytes:
    """Decode the API secret, re-padding as ts-v2 and polymarket-client do."""
    try:
        return base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("api secret: not urlsafe base64") from exc


def l2_signature(secret: str, timestamp: str, method: str, path: str, body: bytes | None) -> str:
    """POLY_SIGNATURE: urlsafe-b64(HMAC-SHA256(b64decode(secret), ts + METHOD + path + body)).

    `path` excludes the query string; `body` is exactly the bytes sent (None or b"" for none).
    """
    if "?" in path:
        raise ValueError(f"l2 signature path {path!r}: the HMAC covers the path without its query string")
    message = f"{timestamp}{method.upper()}{path}".encode() + (body or b"")
    digest = hmac.new(_urlsafe_b64decode(secret), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def clob_auth_typed_data(address: str, timestamp: str, nonce: int = 0, chain_id: int = POLYGON) -> dict[str, Any]:
    """EIP-712 ClobAuth for L1 headers; its domain has no verifyingContract."""
    return {
        "primaryType": "ClobAuth",
        "types": {"EIP712Domain": DOMAIN_FIELDS[:3], "ClobAuth": CLOB_AUTH_FIELDS},
        "domain": {"name": CLOB_AUTH_DOMAIN_NAME, "version": CLOB_AUTH_VERSION, "chainId": chain_id},
        "message": {
            "address": to_checksum_address(address),
            "timestamp": str(timestamp),
            "nonce": int(nonce),
            "message": CLOB_AUTH_MESSAGE,
        },
    }


def sign_clob_auth(private_key: str, timestamp: str, nonce: int = 0, chain_id: int = POLYGON) -> str:
    """POLY_SIGNATURE for L1 headers, signed by the EOA that owns (or will own) the API key."""
    address = Account.from_key(private_key).address
    encoded = encode_typed_data(full_message=clob_auth_typed_data(address, timestamp, nonce, chain_id))
    signature: bytes = Account.sign_message(encoded, private_key).signature
    return "0x" + signature.hex()


def recover_clob_auth_signer(address: str, timestamp: str, nonce: int, signature: str, chain_id: int = POLYGON) -> str:
    """The EOA that signed these L1 headers; ValueError when it is not `address` or unreadable."""
    encoded = encode_typed_data(full_message=clob_auth_typed_data(address, timestamp, nonce, chain_id))
    try:
        recovered: str = Account.recover_message(encoded, signature=signature)
    except Exception as exc:  # bad hex, length or v/r/s
        raise ValueError(f"POLY_SIGNATURE: not a recoverable ClobAuth signature ({exc})") from exc
    if recovered != to_checksum_address(address):
        raise ValueError(f"POLY_SIGNATURE: ClobAuth recovers to {recovered}, not POLY_ADDRESS {address}")
    return recovered
