"""Reading a `POST /order` item: shape, version, owner, signer and the EIP-712 signature.

Checks run in the order that gives each failure its real message: a V1-shaped order is
`order_version_mismatch` before anything else is looked at, a wrong owner or signer is named
before the signature is recovered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils import is_hex_address, to_checksum_address

from clients.polymarket.signing import recover_order_signer
from ctf_order import SIG_POLY_1271, decimal_digits, order_hash
from simulator.poly.auth import ApiCreds
from simulator.poly.errors import PolyError
from simulator.poly.model import BUY, ORDER_TYPES, SELL, Account, Token
from simulator.poly.wire import from_units

INVALID_PAYLOAD = "Invalid order payload"
VERSION_MISMATCH = "order_version_mismatch"
OWNER_MISMATCH = "the order owner has to be the owner of the API KEY"
SIGNER_MISMATCH = "the order signer address has to be the address of the API KEY"
INVALID_SIGNATURE = "invalid signature"
DEPOSIT_WALLET_ONLY = "maker address not allowed, please use the deposit wallet flow"

_V1_ONLY = ("taker", "nonce", "feeRateBps")
_STRINGS = ("maker", "signer", "tokenId", "makerAmount", "takerAmount", "expiration", "timestamp", "signature")


@dataclass(frozen=True)
class OrderRequest:
    id: str
    token: Token
    side: str
    maker_amount: Decimal  # human units: pUSD for a BUY, shares for a SELL
    taker_amount: Decimal
    order_type: str
    post_only: bool
    expiration: int
    maker: str

    @property
    def shares(self) -> Decimal:
        return self.taker_amount if self.side == BUY else self.maker_amount

    @property
    def pusd(self) -> Decimal:
        return self.maker_amount if self.side == BUY else self.taker_amount


def check_shape(item: Any) -> Mapping[str, Any]:
    """The `order` object of a well-formed body; V1 orders are told apart from malformed ones."""
    if not isinstance(item, dict) or not isinstance(item.get("order"), dict):
        raise PolyError(400, INVALID_PAYLOAD)
    order = item["order"]
    if any(name in order for name in _V1_ONLY) or "timestamp" not in order:
        raise PolyError(400, VERSION_MISMATCH)
    if not all(isinstance(order.get(name), str) for name in _STRINGS):
        raise PolyError(400, INVALID_PAYLOAD)
    if not all(isinstance(order.get(n), int) and not isinstance(order.get(n), bool) for n in ("salt", "signatureType")):
        raise PolyError(400, INVALID_PAYLOAD)
    if order.get("side") not in (BUY, SELL) or not all(
        decimal_digits(order[n]) for n in ("tokenId", "makerAmount", "takerAmount", "expiration", "timestamp")
    ):
        raise PolyError(400, INVALID_PAYLOAD)
    if not (is_hex_address(order["maker"]) and is_hex_address(order["signer"])):
        raise PolyError(400, INVALID_PAYLOAD)
    if item.get("orderType", "GTC") not in ORDER_TYPES or not isinstance(item.get("owner"), str):
        raise PolyError(400, INVALID_PAYLOAD)
    if not isinstance(item.get("postOnly", False), bool) or not isinstance(item.get("deferExec", False), bool):
        raise PolyError(400, INVALID_PAYLOAD)
    return order


def check_owner(item: Mapping[str, Any], creds: ApiCreds) -> None:
    if item["owner"] != creds.api_key:
        raise PolyError(400, OWNER_MISMATCH)


def check_signer(order: Mapping[str, Any], account: Account) -> None:
    """Types 0-2 are signed by the key's EOA; type 3 by the account's deposit wallet."""
    signer = to_checksum_address(order["signer"])
    expected = account.funder if order["signatureType"] == SIG_POLY_1271 else account.address
    if signer != expected:
        raise PolyError(400, SIGNER_MISMATCH)
    if account.deposit_wallet_required and order["signatureType"] != SIG_POLY_1271:
        raise PolyError(400, DEPOSIT_WALLET_ONLY)


def check_signature(order: Mapping[str, Any], token: Token, account: Account) -> str:
    """Recover the signer under the token's exchange domain; returns the orderID (the digest).

    The maker must be the account's wallet for that signature type, as the exchange contract
    would find (a wrong funder or signature type is `invalid signature` on the real server too).
    """
    market = token.market
    try:
        recovered = recover_order_signer(order, market.domain_version, market.neg_risk)
        order_id = order_hash(order, market.domain_version, market.neg_risk)
    except ValueError:
        raise PolyError(400, INVALID_SIGNATURE) from None
    if recovered != account.address:
        raise PolyError(400, INVALID_SIGNATURE)
    if order["signatureType"] != account.signature_type or to_checksum_address(order["maker"]) != account.funder:
        raise PolyError(400, INVALID_SIGNATURE)
    return order_id


def order_request(item: Mapping[str, Any], order: Mapping[str, Any], token: Token, order_id: str) -> OrderRequest:
    return OrderRequest(
        id=order_id,
        token=token,
        side=order["side"],
        maker_amount=from_units(order["makerAmount"]),
        taker_amount=from_units(order["takerAmount"]),
        order_type=item.get("orderType", "GTC"),
        post_only=item.get("postOnly", False),
        expiration=int(order["expiration"]),
        maker=to_checksum_address(order["maker"]),
    )
