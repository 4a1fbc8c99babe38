"""Write tests/data/poly_reference.json from the official Polymarket SDKs.

Run it in a throwaway venv, never the project's (the SDKs pin other eth-account versions):

    python3 -m venv .venv-polyref
    .venv-polyref/bin/pip install py-clob-client-v2==1.2.1 polymarket-client==0.14.0
    .venv-polyref/bin/python tools/poly_reference/generate.py tests/data/poly_reference.json

Signed orders, bodies and L2/L1 headers come from py-clob-client-v2 (salt and timestamp pinned
by patching its clock and salt source); each signature is re-derived with polymarket-client's
typed data and the script stops if the two SDKs disagree. Amounts come from polymarket-client
(exact Decimal); py-clob-client-v2's float results are recorded next to them to show the trap.
The key is Hardhat account #0, public and never funded; the API secret is made up.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from importlib.metadata import version

from eth_account import Account
from polymarket._internal.actions.orders.limit import _compute_limit_order_amounts
from polymarket._internal.actions.orders.market import _compute_market_order_amounts
from polymarket._internal.actions.orders.typed_data import build_order_signature, build_order_typed_data
from polymarket._internal.actions.orders.types import UnsignedOrder
from polymarket._internal.hmac import build_hmac_signature as uni_hmac
from polymarket._internal.l1_auth import sign_api_key_auth
from py_clob_client_v2.clob_types import (
    ApiCreds,
    CreateOrderOptions,
    MarketOrderArgsV2,
    OrderArgsV2,
    RequestArgs,
)
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_builder import builder as py_builder
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer

PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Hardhat #0
API = {
    "api_key": "00000000-0000-4000-8000-000000000001",
    "secret": "dGVzdC1zZWNyZXQtbm90LXJlYWwtMDEyMzQ1Njc4OWFiY2RlZg==",
    "passphrase": "test-passphrase",
}
FUNDERS = {
    0: None,
    1: "0x1111111111111111111111111111111111111111",
    2: "0x2222222222222222222222222222222222222222",
    3: "0x3333333333333333333333333333333333333333",
}
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
BUILDER = "0x" + "ab" * 32
SALT = 479_001_599
TIMESTAMP_MS = 1_767_225_600_000
CONTRACTS = {
    (2, False): "0xE111180000d2663C0091e4f400237545B87B996B",
    (2, True): "0xe2222d279d744050d28e00520010520000310F59",
    (3, False): "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa",
}

# name, side, order_type, price, size (limit) or amount (market), tick, neg_risk, version, sig type, extras
ORDER_CASES = [
    ("gtc_buy_ctf_eoa", "BUY", "GTC", "0.5", {"size": "10"}, "0.01", False, 2, 0, {}),
    ("gtc_sell_negrisk_eoa", "SELL", "GTC", "0.42", {"size": "12.5"}, "0.01", True, 2, 0, {}),
    ("gtd_buy_proxy", "BUY", "GTD", "0.37", {"size": "20"}, "0.01", False, 2, 1, {"expiration": 1_767_229_200}),
    ("gtc_sell_safe_postonly", "SELL", "GTC", "0.66", {"size": "5"}, "0.01", True, 2, 2, {"post_only": True}),
    ("gtc_buy_deposit_wallet", "BUY", "GTC", "0.25", {"size": "8"}, "0.01", False, 2, 3, {}),
    ("gtc_buy_v3_deposit_wallet", "BUY", "GTC", "0.305", {"size": "6"}, "0.005", False, 3, 3, {}),
    ("gtc_sell_v3_eoa_builder", "SELL", "GTC", "0.9", {"size": "3"}, "0.1", False, 3, 0, {"builder": BUILDER}),
    ("fok_buy_amount_ctf_eoa", "BUY", "FOK", "0.5", {"amount": "10"}, "0.01", False, 2, 0, {}),
    ("fak_buy_amount_negrisk_safe", "BUY", "FAK", "0.64", {"amount": "25"}, "0.01", True, 2, 2, {}),
    ("fak_sell_amount_proxy", "SELL", "FAK", "0.3", {"amount": "7"}, "0.01", False, 2, 1, {}),
    ("fok_sell_amount_v3_deposit_wallet", "SELL", "FOK", "0.0025", {"amount": "40"}, "0.0025", False, 3, 3, {}),
    ("fak_buy_size_ctf_eoa", "BUY", "FAK", "0.57", {"size": "7"}, "0.01", False, 2, 0, {}),
    ("fak_buy_size_negrisk_deposit_wallet", "BUY", "FAK", "0.45", {"size": "10"}, "0.01", True, 2, 3, {}),
]

# kind, side, price, size or amount, tick: includes values where binary floats floor wrongly.
AMOUNT_CASES = [
    ("limit", "BUY", "0.58", "2.03", "0.01"),
    ("limit", "SELL", "0.58", "2.03", "0.01"),
    ("limit", "BUY", "0.57", "33.3", "0.01"),
    ("limit", "SELL", "0.29", "100", "0.01"),
    ("limit", "BUY", "0.5", "2.03", "0.1"),
    ("limit", "SELL", "0.7", "19.99", "0.1"),
    ("limit", "BUY", "0.585", "2.03", "0.005"),
    ("limit", "SELL", "0.995", "1.01", "0.005"),
    ("limit", "BUY", "0.5825", "33.3", "0.0025"),
    ("limit", "SELL", "0.0025", "4.09", "0.0025"),
    ("limit", "BUY", "0.058", "2.03", "0.001"),
    ("limit", "SELL", "0.999", "9.99", "0.001"),
    ("limit", "BUY", "0.0058", "2.03", "0.0001"),
    ("limit", "SELL", "0.9999", "0.57", "0.0001"),
    ("market", "BUY", "0.58", "2.03", "0.01"),
    ("market", "SELL", "0.58", "2.03", "0.01"),
    ("market", "BUY", "0.3", "10", "0.1"),
    ("market", "SELL", "0.7", "4.1", "0.1"),
    ("market", "BUY", "0.57", "10", "0.01"),
    ("market", "BUY", "0.25", "33.3", "0.005"),
    ("market", "SELL", "0.125", "2.03", "0.005"),
    ("market", "SELL", "0.0025", "40", "0.0025"),
    ("market", "BUY", "0.5", "1.15", "0.001"),
    ("market", "SELL", "0.333", "3.3", "0.001"),
    ("market", "BUY", "0.5", "0.58", "0.0001"),
    ("market", "SELL", "0.1234", "7.77", "0.0001"),
    # quotients with more than the 4 decimals the server accepts for market BUY takers
    ("market", "BUY", "0.003", "1", "0.001"),
    ("market", "BUY", "0.0007", "1.01", "0.0001"),
]

HMAC_CASES = [
    ("1767225600", "GET", "/data/trades", None),
    ("1767225600", "DELETE", "/order", '{"orderID":"0x' + "12" * 32 + '"}'),
    ("1767225601", "GET", "/balance-allowance", ""),
]


class _FixedClock:
    @staticmethod
    def time_ns() -> int:
        return TIMESTAMP_MS * 1_000_000


def _pin_sdk() -> None:
    """Make py-clob-client-v2 deterministic: fixed order timestamp and salt."""
    py_builder.time = _FixedClock
    ExchangeOrderBuilderV2.__init__.__defaults__ = (lambda: str(SALT), "2")


def _sdk_order(case: tuple) -> dict:
    name, side, order_type, price, qty, tick, neg_risk, domain_version, sig_type, extras = case
    funder = FUNDERS[sig_type]
    builder = OrderBuilder(Signer(PRIVATE_KEY, 137), SignatureTypeV2(sig_type), funder)
    options = CreateOrderOptions(tick_size=tick, neg_risk=neg_risk)
    code = extras.get("builder", "0x" + "00" * 32)
    if order_type in ("GTC", "GTD"):
        args = OrderArgsV2(
            token_id=TOKEN,
            price=float(price),
            size=float(qty["size"]),
            side=side,
            expiration=extras.get("expiration", 0),
            builder_code=code,
        )
        signed = builder.build_order(args, options, version=domain_version)
    elif "amount" in qty:
        args = MarketOrderArgsV2(
            token_id=TOKEN,
            amount=float(qty["amount"]),
            side=side,
            price=float(price),
            order_type=order_type,
            builder_code=code,
        )
        signed = builder.build_market_order(args, options, version=domain_version)
    else:  # exact quantity: the SDKs have no such builder, so sign the rule's amounts directly
        signed = _exact_size_order(builder, side, price, qty["size"], neg_risk, domain_version, sig_type, funder)
    body = order_to_json_v2(signed, API["api_key"], order_type, post_only=extras.get("post_only", False))
    contract = CONTRACTS[(domain_version, neg_risk and domain_version == 2)]
    exchange = ExchangeOrderBuilderV2(contract, 137, Signer(PRIVATE_KEY, 137), domain_version=str(domain_version))
    order_id = exchange.build_order_hash(exchange.build_order_typed_data(signed))
    _check_with_uni(signed, order_type, domain_version, contract)
    serialized = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    headers = create_level_2_headers(
        Signer(PRIVATE_KEY, 137),
        ApiCreds(API["api_key"], API["secret"], API["passphrase"]),
        RequestArgs(method="POST", request_path="/order", body=body, serialized_body=serialized),
        timestamp=TIMESTAMP_MS // 1000,
    )
    return {
        "name": name,
        "inputs": {
            "token_id": TOKEN,
            "side": side,
            "order_type": order_type,
            "price": price,
            **qty,
            "tick_size": tick,
            "neg_risk": neg_risk,
            "domain_version": domain_version,
            "signature_type": sig_type,
            "funder": funder,
            "salt": SALT,
            "timestamp_ms": TIMESTAMP_MS,
            "expiration": extras.get("expiration", 0),
            "builder": extras.get("builder"),
            "post_only": extras.get("post_only", False),
        },
        "verifying_contract": contract,
        "order_id": order_id,
        "signature": signed.signature,
        "body": body,
        "body_json": serialized,
        "l2_post_order": {"timestamp": str(TIMESTAMP_MS // 1000), "POLY_SIGNATURE": headers["POLY_SIGNATURE"]},
    }


def _exact_size_order(
    builder: OrderBuilder,
    side: str,
    price: str,
    size: str,
    neg_risk: bool,
    domain_version: int,
    sig_type: int,
    funder: str | None,
):
    shares, cost = Decimal(size), Decimal(size) * Decimal(price)
    maker, taker = (cost, shares) if side == "BUY" else (shares, cost)
    signer = Signer(PRIVATE_KEY, 137)
    contract = CONTRACTS[(domain_version, neg_risk and domain_version == 2)]
    exchange = ExchangeOrderBuilderV2(contract, 137, signer, domain_version=str(domain_version))
    maker_address = funder or signer.address()
    return exchange.build_signed_order(
        OrderDataV2(
            maker=maker_address,
            tokenId=TOKEN,
            makerAmount=str(int(maker * 10**6)),
            takerAmount=str(int(taker * 10**6)),
            side=Side.BUY if side == "BUY" else Side.SELL,
            signer=maker_address if sig_type == 3 else signer.address(),
            signatureType=SignatureTypeV2(sig_type),
            timestamp=str(TIMESTAMP_MS),
        )
    )


def _check_with_uni(signed, order_type: str, domain_version: int, contract: str) -> None:
    """Re-sign with polymarket-client's typed data; stop if the SDKs disagree."""
    unsigned = UnsignedOrder(
        chain_id=137,
        builder=signed.builder,
        exchange_address=contract,
        expiration=int(signed.expiration),
        maker=signed.maker,
        maker_amount=int(signed.makerAmount),
        metadata=signed.metadata,
        order_type=order_type,
        salt=int(signed.salt),
        side="BUY" if signed.side == Side.BUY else "SELL",
        signature_type=int(signed.signatureType),
        signer=signed.signer,
        taker_amount=int(signed.takerAmount),
        timestamp=int(signed.timestamp),
        token_id=signed.tokenId,
        protocol_version=str(domain_version),
    )
    typed = build_order_typed_data(unsigned)
    inner = "0x" + Account.from_key(PRIVATE_KEY).sign_typed_data(full_message=typed).signature.hex()
    if build_order_signature(unsigned, inner) != signed.signature:
        sys.exit(f"py-clob-client-v2 and polymarket-client disagree on {signed}")


def _amount_case(case: tuple) -> dict:
    kind, side, price, qty, tick = case
    config = ROUNDING_CONFIG[tick]
    py_builder_ = OrderBuilder(Signer(PRIVATE_KEY, 137))
    if kind == "limit":
        maker, taker = _compute_limit_order_amounts(
            price=Decimal(price), size=Decimal(qty), side=side, tick_size=Decimal(tick)
        )
        _, py_maker, py_taker = py_builder_.get_order_amounts(side, float(qty), float(price), config)
    else:
        maker, taker = _compute_market_order_amounts(
            amount=Decimal(qty), price=Decimal(price), side=side, tick_size=Decimal(tick)
        )
        _, py_maker, py_taker = py_builder_.get_market_order_amounts(side, float(qty), float(price), config)
    return {
        "kind": kind,
        "side": side,
        "price": price,
        "quantity": qty,
        "tick_size": tick,
        "maker_amount": maker,
        "taker_amount": taker,
        "py_clob_client_v2_float": {"maker_amount": py_maker, "taker_amount": py_taker},
    }


def _hmac_case(case: tuple) -> dict:
    ts, method, path, body = case
    py_v2 = create_level_2_headers(
        Signer(PRIVATE_KEY, 137),
        ApiCreds(API["api_key"], API["secret"], API["passphrase"]),
        RequestArgs(method=method, request_path=path, body=None, serialized_body=body),
        timestamp=int(ts),
    )
    uni = uni_hmac(secret=API["secret"], timestamp=int(ts), method=method, path=path, body=body or None)
    if uni != py_v2["POLY_SIGNATURE"]:
        sys.exit(f"HMAC disagreement for {case}")
    return {"timestamp": ts, "method": method, "path": path, "body": body, "POLY_SIGNATURE": uni, "headers": py_v2}


def _clob_auth_case(timestamp: int, nonce: int) -> dict:
    py_v2 = create_level_1_headers(Signer(PRIVATE_KEY, 137), nonce=nonce, timestamp=timestamp)
    uni = sign_api_key_auth(Account.from_key(PRIVATE_KEY), chain_id=137, timestamp=timestamp, nonce=nonce)
    if uni.signature != py_v2["POLY_SIGNATURE"]:
        sys.exit(f"ClobAuth disagreement for {timestamp}/{nonce}")
    return {"timestamp": str(timestamp), "nonce": nonce, "headers": py_v2}


def main(out: str) -> None:
    _pin_sdk()
    reference = {
        "generated_by": "tools/poly_reference/generate.py",
        "sdk": {name: version(name) for name in ("py-clob-client-v2", "polymarket-client", "eth-account")},
        "key_address": Account.from_key(PRIVATE_KEY).address,
        "api": API,
        "orders": [_sdk_order(case) for case in ORDER_CASES],
        "amounts": [_amount_case(case) for case in AMOUNT_CASES],
        "hmac": [_hmac_case(case) for case in HMAC_CASES],
        "clob_auth": [_clob_auth_case(1_767_225_600, 0), _clob_auth_case(1_767_225_600, 7)],
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(reference, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/poly_reference.json")
