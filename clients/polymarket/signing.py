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
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from coincurve import PrivateKey
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak, to_checksum_address

POLYGON = 137
AMOY = 80002

CTF_EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_V3 = "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
EXCHANGE_V3_AMOY = "0x9fE6e61422AdB6F610d8597F9684b16912D50C3D"
PUSD = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"

EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
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
DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
# ERC-7739 nested typed data: the deposit wallet's domain wraps the exchange's Order.
TYPED_DATA_SIGN_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
DEPOSIT_WALLET_NAME = "DepositWallet"
DEPOSIT_WALLET_VERSION = "1"

SIG_EOA, SIG_POLY_PROXY, SIG_POLY_GNOSIS_SAFE, SIG_POLY_1271 = 0, 1, 2, 3
SIDES = {"BUY": 0, "SELL": 1}
BYTES32_ZERO = "0x" + "00" * 32

CLOB_AUTH_DOMAIN_NAME = "ClobAuthDomain"
CLOB_AUTH_VERSION = "1"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
CLOB_AUTH_FIELDS = [
    {"name": "address", "type": "address"},
    {"name": "timestamp", "type": "string"},
    {"name": "nonce", "type": "uint256"},
    {"name": "message", "type": "string"},
]

_ORDER_TYPE_HASH = keccak(text=ORDER_TYPE_STRING)
_DOMAIN_TYPE_HASH = keccak(text=DOMAIN_TYPE_STRING)
_TYPED_DATA_SIGN_TYPE_HASH = keccak(text=TYPED_DATA_SIGN_TYPE_STRING)
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_BYTES32 = re.compile(r"0x[0-9a-fA-F]{0,64}")
_ECDSA_LEN = 65
_WRAPPER_FIXED_LEN = _ECDSA_LEN + 32 + 32 + 2


def exchange_address(domain_version: int, neg_risk: bool, chain_id: int = POLYGON) -> str:
    """The verifying contract: CTF V2 or neg-risk V2 for version 2, ExchangeV3 for version 3.

    ExchangeV3 has no neg-risk split (py-clob-client-v2 ignores neg_risk there, and so do we).
    """
    if chain_id not in (POLYGON, AMOY):
        raise ValueError(f"unsupported chain_id {chain_id}: Polymarket exchanges exist on 137 and 80002")
    if domain_version == 2:
        return NEG_RISK_EXCHANGE_V2 if neg_risk else CTF_EXCHANGE_V2
    if domain_version == 3:
        return EXCHANGE_V3 if chain_id == POLYGON else EXCHANGE_V3_AMOY
    raise ValueError(f"unsupported domain_version {domain_version}: CLOB V1 is retired, use 2 (or 3 for ExchangeV3)")


def exchange_domain(domain_version: int, neg_risk: bool, chain_id: int = POLYGON) -> dict[str, Any]:
    """The EIP-712 domain of the exchange that verifies the order."""
    return {
        "name": EXCHANGE_DOMAIN_NAME,
        "version": str(domain_version),
        "chainId": chain_id,
        "verifyingContract": exchange_address(domain_version, neg_risk, chain_id),
    }


def _uint(order: Mapping[str, Any], name: str) -> int:
    value = order.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"order.{name}: expected an unsigned integer (number or decimal string), got {value!r}")
    if isinstance(value, str) and not value.isdigit():
        raise ValueError(f"order.{name}: expected a decimal integer string, got {value!r}")
    number = int(value)
    if number < 0 or number >= 2**256:
        raise ValueError(f"order.{name}: {number} is outside uint256")
    return number


def _address(order: Mapping[str, Any], name: str) -> str:
    value = order.get(name)
    try:
        return to_checksum_address(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"order.{name}: expected a 20-byte hex address, got {value!r}") from exc


def bytes32_hex(value: Any, name: str) -> str:
    """A 0x-hex bytes32, left-padded and lower-case; "" or None is zero (the OpenAPI example sends "")."""
    value = value or BYTES32_ZERO
    if not (isinstance(value, str) and _HEX_BYTES32.fullmatch(value)):
        raise ValueError(f"{name}: expected 0x-hex of at most 32 bytes, got {value!r}")
    return "0x" + value[2:].rjust(64, "0").lower()


def _side(order: Mapping[str, Any]) -> int:
    value = order.get("side")
    if value in SIDES:
        return SIDES[value]
    if value in (0, 1) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"order.side: expected 'BUY' or 'SELL', got {value!r}")


def order_message(order: Mapping[str, Any]) -> dict[str, Any]:
    """The 11 signed fields of a wire-form order as EIP-712 values (expiration is not signed)."""
    signature_type = _uint(order, "signatureType")
    if signature_type > SIG_POLY_1271:
        raise ValueError(f"order.signatureType: expected 0, 1, 2 or 3, got {signature_type}")
    return {
        "salt": _uint(order, "salt"),
        "maker": _address(order, "maker"),
        "signer": _address(order, "signer"),
        "tokenId": _uint(order, "tokenId"),
        "makerAmount": _uint(order, "makerAmount"),
        "takerAmount": _uint(order, "takerAmount"),
        "side": _side(order),
        "signatureType": signature_type,
        "timestamp": _uint(order, "timestamp"),
        "metadata": bytes32_hex(order.get("metadata"), "order.metadata"),
        "builder": bytes32_hex(order.get("builder"), "order.builder"),
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


@lru_cache(maxsize=32)
def domain_separator(domain_version: int, neg_risk: bool, chain_id: int = POLYGON) -> bytes:
    """hashStruct(EIP712Domain) of the exchange (a handful exist: computed once each)."""
    return _domain_hash(
        EXCHANGE_DOMAIN_NAME, str(domain_version), chain_id, exchange_address(domain_version, neg_risk, chain_id)
    )


def _domain_hash(name: str, version: str, chain_id: int, contract: str) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [_DOMAIN_TYPE_HASH, keccak(text=name), keccak(text=version), chain_id, contract],
        )
    )


def order_struct_hash(order: Mapping[str, Any]) -> bytes:
    """hashStruct(Order) over the 11 signed fields: the type hash and each field as one 32-byte ABI word (every
    field is static, so the encoding is their concatenation, as `abi.encode` in the exchange contract makes it)."""
    signature_type = _uint(order, "signatureType")
    if signature_type > SIG_POLY_1271:
        raise ValueError(f"order.signatureType: expected 0, 1, 2 or 3, got {signature_type}")
    words = (
        _uint(order, "salt"),
        _address_word(order, "maker"),
        _address_word(order, "signer"),
        _uint(order, "tokenId"),
        _uint(order, "makerAmount"),
        _uint(order, "takerAmount"),
        _side(order),
        signature_type,
        _uint(order, "timestamp"),
    )
    metadata = bytes32_hex(order.get("metadata"), "order.metadata")
    builder = bytes32_hex(order.get("builder"), "order.builder")
    return keccak(
        _ORDER_TYPE_HASH
        + b"".join(word.to_bytes(32, "big") for word in words)
        + bytes.fromhex(metadata[2:])
        + bytes.fromhex(builder[2:])
    )


def _address_word(order: Mapping[str, Any], name: str) -> int:
    """An address field as the integer of its ABI word; anything but 0x and 40 hex digits goes through the checked
    conversion, so its error names the field."""
    value = order.get(name)
    if not (isinstance(value, str) and _HEX_ADDRESS.fullmatch(value)):
        value = _address(order, name)
    return int(value, 16)


def _digest(separator: bytes, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + separator + struct_hash)


def order_hash(
    order: Mapping[str, Any], domain_version: int = 2, neg_risk: bool = False, chain_id: int = POLYGON
) -> str:
    """The EIP-712 digest of the order, 0x-hex: Polymarket's orderID (contract `hashOrder`)."""
    return "0x" + _digest(domain_separator(domain_version, neg_risk, chain_id), order_struct_hash(order)).hex()


@lru_cache(maxsize=8)
def _signing_key(private_key: str) -> PrivateKey:
    """The secp256k1 key of a 0x-hex private key, parsed once (kept only in memory, like the client's own copy)."""
    return PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))


def sign_hash(digest: bytes, private_key: str) -> bytes:
    """r || s || v (v = 27 + recovery id) over a 32-byte digest, as `eth_account`'s `unsafe_sign_hash` makes it:
    libsecp256k1's deterministic (RFC 6979), low-s signature, straight from coincurve."""
    recoverable = _signing_key(private_key).sign_recoverable(digest, hasher=None)
    return recoverable[:64] + bytes([recoverable[64] + 27])


def _wrapped_digest(order: Mapping[str, Any], separator: bytes, struct_hash: bytes, chain_id: int) -> bytes:
    """The digest the deposit wallet's owner signs for POLY_1271 (ERC-7739 TypedDataSign)."""
    wallet = _address(order, "signer")
    wrapper_hash = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                _TYPED_DATA_SIGN_TYPE_HASH,
                struct_hash,
                keccak(text=DEPOSIT_WALLET_NAME),
                keccak(text=DEPOSIT_WALLET_VERSION),
                chain_id,
                wallet,
                b"\x00" * 32,
            ],
        )
    )
    return _digest(separator, wrapper_hash)


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
    separator = domain_separator(domain_version, neg_risk, chain_id)
    struct_hash = order_struct_hash(order)
    order_id = "0x" + _digest(separator, struct_hash).hex()
    if _uint(order, "signatureType") != SIG_POLY_1271:
        return "0x" + sign_hash(bytes.fromhex(order_id[2:]), private_key).hex(), order_id
    inner = sign_hash(_wrapped_digest(order, separator, struct_hash, chain_id), private_key)
    type_bytes = ORDER_TYPE_STRING.encode()
    wrapped = inner + separator + struct_hash + type_bytes + len(type_bytes).to_bytes(2, "big")
    return "0x" + wrapped.hex(), order_id


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
    if type_string != ORDER_TYPE_STRING.encode():
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
    if _uint(order, "signatureType") == SIG_POLY_1271:
        inner = _unwrap_1271(order, separator, struct_hash)
        return _recover(_wrapped_digest(order, separator, struct_hash, chain_id), inner)
    recovered = _recover(_digest(separator, struct_hash), _signature_bytes(order))
    signer = _address(order, "signer")
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
