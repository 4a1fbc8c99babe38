"""Polymarket's CTF exchange order as the chain sees it: the EIP-712 domains, hashStruct(Order) and the order hash.

The order hash is Polymarket's `orderID` (the contract's `hashOrder`). The client signs over it
(clients.polymarket.signing), the simulator verifies with it, and the replay proxy computes it to
correlate a recorded order's id with the live one, which changes with every salt: one definition for
all three, so they agree by construction. Orders are in the wire form of the `POST /order` body's
`order` object (docs/wire/polymarket.md §4.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from Crypto.Hash import keccak as _keccak
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

POLYGON = 137
AMOY = 80002

CTF_EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_V3 = "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
EXCHANGE_V3_AMOY = "0x9fE6e61422AdB6F610d8597F9684b16912D50C3D"

EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)

DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

SIG_EOA, SIG_POLY_PROXY, SIG_POLY_GNOSIS_SAFE, SIG_POLY_1271 = 0, 1, 2, 3
SIDES = {"BUY": 0, "SELL": 1}
BYTES32_ZERO = "0x" + "00" * 32


def keccak256(data: bytes) -> bytes:
    """Keccak-256 from pycryptodome (eth_hash's own backend) called straight: eth_utils.keccak's argument conversion
    and backend dispatch cost as much as the hash of an order."""
    return _keccak.new(data=data, digest_bits=256).digest()


ORDER_TYPE_HASH = keccak256(ORDER_TYPE_STRING.encode())
DOMAIN_TYPE_HASH = keccak256(DOMAIN_TYPE_STRING.encode())
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_BYTES32 = re.compile(r"0x[0-9a-fA-F]{0,64}")


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


def decimal_digits(text: str) -> bool:
    """A decimal integer as the wire spells one: ASCII digits only (str.isdigit alone takes "²" and "١٢٣", which
    int() reads as an error or as 123 while the text on the wire says otherwise)."""
    return text.isascii() and text.isdigit()


def uint_field(order: Mapping[str, Any], name: str) -> int:
    value = order.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"order.{name}: expected an unsigned integer (number or decimal string), got {value!r}")
    if isinstance(value, str) and not decimal_digits(value):
        raise ValueError(f"order.{name}: expected a decimal integer string, got {value!r}")
    number = int(value)
    if number < 0 or number >= 2**256:
        raise ValueError(f"order.{name}: {number} is outside uint256")
    return number


def address_field(order: Mapping[str, Any], name: str) -> str:
    value = order.get(name)
    try:
        return _checksummed(value) if isinstance(value, str) else to_checksum_address(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"order.{name}: expected a 20-byte hex address, got {value!r}") from exc


@lru_cache(maxsize=256)
def _checksummed(address: str) -> str:
    """EIP-55 of an address (a keccak each time otherwise; a client's maker and signer repeat on every order)."""
    return to_checksum_address(address)


def bytes32_hex(value: Any, name: str) -> str:
    """A 0x-hex bytes32, left-padded and lower-case; "" or None is zero (the OpenAPI example sends "")."""
    value = value or BYTES32_ZERO
    if not (isinstance(value, str) and _HEX_BYTES32.fullmatch(value)):
        raise ValueError(f"{name}: expected 0x-hex of at most 32 bytes, got {value!r}")
    return "0x" + value[2:].rjust(64, "0").lower()


def side_field(order: Mapping[str, Any]) -> int:
    value = order.get("side")
    if value in SIDES:
        return SIDES[value]
    if value in (0, 1) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"order.side: expected 'BUY' or 'SELL', got {value!r}")


def order_message(order: Mapping[str, Any]) -> dict[str, Any]:
    """The 11 signed fields of a wire-form order as EIP-712 values (expiration is not signed)."""
    signature_type = uint_field(order, "signatureType")
    if signature_type > SIG_POLY_1271:
        raise ValueError(f"order.signatureType: expected 0, 1, 2 or 3, got {signature_type}")
    return {
        "salt": uint_field(order, "salt"),
        "maker": address_field(order, "maker"),
        "signer": address_field(order, "signer"),
        "tokenId": uint_field(order, "tokenId"),
        "makerAmount": uint_field(order, "makerAmount"),
        "takerAmount": uint_field(order, "takerAmount"),
        "side": side_field(order),
        "signatureType": signature_type,
        "timestamp": uint_field(order, "timestamp"),
        "metadata": bytes32_hex(order.get("metadata"), "order.metadata"),
        "builder": bytes32_hex(order.get("builder"), "order.builder"),
    }


@lru_cache(maxsize=32)
def domain_separator(domain_version: int, neg_risk: bool, chain_id: int = POLYGON) -> bytes:
    """hashStruct(EIP712Domain) of the exchange (a handful exist: computed once each)."""
    return domain_hash(
        EXCHANGE_DOMAIN_NAME, str(domain_version), chain_id, exchange_address(domain_version, neg_risk, chain_id)
    )


def domain_hash(name: str, version: str, chain_id: int, contract: str) -> bytes:
    return keccak256(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPE_HASH, keccak256(name.encode()), keccak256(version.encode()), chain_id, contract],
        )
    )


def order_struct_hash(order: Mapping[str, Any]) -> bytes:
    """hashStruct(Order) over the 11 signed fields of a wire-form order, each checked (a bad one is named)."""
    signature_type = uint_field(order, "signatureType")
    if signature_type > SIG_POLY_1271:
        raise ValueError(f"order.signatureType: expected 0, 1, 2 or 3, got {signature_type}")
    words = (
        uint_field(order, "salt"),
        address_word(order, "maker"),
        address_word(order, "signer"),
        uint_field(order, "tokenId"),
        uint_field(order, "makerAmount"),
        uint_field(order, "takerAmount"),
        side_field(order),
        signature_type,
        uint_field(order, "timestamp"),
    )
    metadata = bytes32_hex(order.get("metadata"), "order.metadata")
    builder = bytes32_hex(order.get("builder"), "order.builder")
    return order_words_hash(words, bytes.fromhex(metadata[2:]), bytes.fromhex(builder[2:]))


def order_words_hash(words: Iterable[int], metadata: bytes, builder: bytes) -> bytes:
    """hashStruct(Order) from its nine integer fields in the type's order (salt, maker, signer, tokenId, makerAmount,
    takerAmount, side, signatureType, timestamp; an address as the integer of its word), each below 2**256, and
    the two bytes32: the type hash and each field as one 32-byte ABI word (every field is static, so the encoding
    is their concatenation, as `abi.encode` in the exchange contract makes it)."""
    return keccak256(b"".join((ORDER_TYPE_HASH, *(word.to_bytes(32, "big") for word in words), metadata, builder)))


def address_word(order: Mapping[str, Any], name: str) -> int:
    """An address field as the integer of its ABI word; anything but 0x and 40 hex digits goes through the checked
    conversion, so its error names the field."""
    value = order.get(name)
    if not (isinstance(value, str) and _HEX_ADDRESS.fullmatch(value)):
        value = address_field(order, name)
    return int(value, 16)


def order_digest(separator: bytes, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + separator + struct_hash)


def order_hash(
    order: Mapping[str, Any], domain_version: int = 2, neg_risk: bool = False, chain_id: int = POLYGON
) -> str:
    """The EIP-712 digest of the order, 0x-hex: Polymarket's orderID (contract `hashOrder`)."""
    return "0x" + order_digest(domain_separator(domain_version, neg_risk, chain_id), order_struct_hash(order)).hex()


# Every (domain version, neg_risk, chain) an order can be signed for: the proxy does not know which one a
# client chose, so it hashes for all (ExchangeV3 has no neg-risk split: one entry per chain).
ORDER_DOMAINS = tuple(
    (version, neg_risk, chain) for chain in (POLYGON, AMOY) for version, neg_risk in ((2, False), (2, True), (3, False))
)


def order_hashes(order: Mapping[str, Any]) -> dict[str, str]:
    """The order's hash under every domain in ORDER_DOMAINS, keyed `v<version>[-negrisk]@<chain>`.

    ValueError when the order cannot be hashed (a field missing or of the wrong type).
    """
    struct_hash = order_struct_hash(order)
    return {
        f"v{version}{'-negrisk' if neg_risk else ''}@{chain}": "0x"
        + order_digest(domain_separator(version, neg_risk, chain), struct_hash).hex()
        for version, neg_risk, chain in ORDER_DOMAINS
    }
