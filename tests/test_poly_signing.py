"""Polymarket signing against values the official SDKs produced (tests/data/poly_reference.json)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from client_helpers import HARDHAT_KEY
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

import ctf_order
from clients.polymarket import PolymarketClient
from clients.polymarket import signing as ps

REFERENCE = json.loads((Path(__file__).parent / "data" / "poly_reference.json").read_text())
ORDERS = {case["name"]: case for case in REFERENCE["orders"]}


def client_for(inputs: dict) -> PolymarketClient:
    api = REFERENCE["api"]
    return PolymarketClient(
        private_key=HARDHAT_KEY,
        api_key=api["api_key"],
        api_secret=api["secret"],
        api_passphrase=api["passphrase"],
        signature_type=inputs["signature_type"],
        funder=inputs["funder"],
    )


def build(case: dict):
    inputs = {k: v for k, v in case["inputs"].items() if k not in ("signature_type", "funder")}
    return client_for(case["inputs"]).build_order(**inputs)


def test_reference_covers_the_matrix():
    inputs = [case["inputs"] for case in REFERENCE["orders"]]
    assert {i["side"] for i in inputs} == {"BUY", "SELL"}
    assert {i["order_type"] for i in inputs} == {"GTC", "GTD", "FOK", "FAK"}
    assert {i["signature_type"] for i in inputs} == {0, 1, 2, 3}
    assert {i["domain_version"] for i in inputs} == {2, 3}
    assert {i["neg_risk"] for i in inputs} == {True, False}
    assert REFERENCE["sdk"]["py-clob-client-v2"] and REFERENCE["sdk"]["polymarket-client"]


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_order_matches_sdk_byte_for_byte(name):
    case = ORDERS[name]
    signed = build(case)
    assert signed.order_id == case["order_id"]
    assert signed.signature == case["signature"]
    assert signed.body == case["body"]
    assert orjson.dumps(signed.body).decode() == case["body_json"]
    assert signed.typed_data["domain"]["verifyingContract"] == case["verifying_contract"]


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_order_id_is_the_eip712_digest_eth_account_computes(name):
    signed = build(ORDERS[name])
    encoded = encode_typed_data(full_message=signed.typed_data)
    assert "0x" + keccak(b"\x19" + encoded.version + encoded.header + encoded.body).hex() == signed.order_id


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_post_order_l2_hmac_matches_sdk(name):
    case = ORDERS[name]
    headers = client_for(case["inputs"]).l2_headers(
        "POST", "/order", case["body_json"].encode(), timestamp=case["l2_post_order"]["timestamp"]
    )
    assert headers["POLY_SIGNATURE"] == case["l2_post_order"]["POLY_SIGNATURE"]
    assert headers["POLY_ADDRESS"] == REFERENCE["key_address"]  # the EOA, also for proxy/Safe/wallet


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_recovered_signer_is_the_key(name):
    case = ORDERS[name]
    order = case["body"]["order"]
    inputs = case["inputs"]
    assert ps.recover_order_signer(order, inputs["domain_version"], inputs["neg_risk"]) == REFERENCE["key_address"]


def test_signer_and_maker_per_signature_type():
    wallet = ORDERS["gtc_buy_deposit_wallet"]["body"]["order"]
    assert wallet["maker"] == wallet["signer"] == ps.to_checksum_address("0x" + "33" * 20)
    assert len(wallet["signature"]) == 636  # 65 + 32 + 32 + type string + 2, as hex with 0x
    proxy = ORDERS["gtd_buy_proxy"]["body"]["order"]
    assert proxy["maker"] != proxy["signer"] == REFERENCE["key_address"]


def tampered(order: dict, **changes) -> dict:
    return {**order, **changes}


def test_tampered_eoa_order_is_refused():
    order = ORDERS["gtc_buy_ctf_eoa"]["body"]["order"]
    with pytest.raises(ValueError, match=r"not order\.signer"):
        ps.recover_order_signer(tampered(order, makerAmount="5000001"))
    with pytest.raises(ValueError, match=r"not order\.signer"):
        ps.recover_order_signer(order, 2, neg_risk=True)  # signed for CTF, checked as neg-risk


def test_expiration_is_not_signed():
    order = ORDERS["gtd_buy_proxy"]["body"]["order"]
    assert ps.recover_order_signer(tampered(order, expiration="0")) == REFERENCE["key_address"]


@pytest.mark.parametrize(
    "signature, reason",
    [
        ("0x1234", "65-byte"),
        ("nothex", "expected 0x-hex"),
        ("0x" + "zz" * 65, "not valid hex"),
        ("0x" + "00" * 64 + "1b", "not a recoverable"),
    ],
)
def test_malformed_plain_signature(signature, reason):
    order = ORDERS["gtc_buy_ctf_eoa"]["body"]["order"]
    with pytest.raises(ValueError, match=reason):
        ps.recover_order_signer(tampered(order, signature=signature))


def test_deposit_wallet_wrapper_checks():
    case = ORDERS["gtc_buy_v3_deposit_wallet"]
    order = case["body"]["order"]
    assert ps.recover_order_signer(order, 3) == REFERENCE["key_address"]
    with pytest.raises(ValueError, match="struct hash does not match"):
        ps.recover_order_signer(tampered(order, takerAmount="6000001"), 3)
    with pytest.raises(ValueError, match="domain separator"):
        ps.recover_order_signer(order, 2)
    raw = bytes.fromhex(order["signature"][2:])
    with pytest.raises(ValueError, match="too short"):
        ps.recover_order_signer(tampered(order, signature="0x" + raw[:100].hex()), 3)
    with pytest.raises(ValueError, match="does not match its type-string length"):
        ps.recover_order_signer(tampered(order, signature="0x" + raw[:-3].hex() + raw[-2:].hex()), 3)
    other_type = raw[:129] + raw[129:-2].replace(b"salt", b"sall") + raw[-2:]
    with pytest.raises(ValueError, match="contents type"):
        ps.recover_order_signer(tampered(order, signature="0x" + other_type.hex()), 3)


def _nested_7739(typed: dict, wallet: str, chain_id: int) -> dict:
    """The ERC-7739 TypedDataSign a deposit wallet's owner signs, encoded by eth_account (not the wrapper code)."""
    return {
        "primaryType": "TypedDataSign",
        "types": {
            **typed["types"],
            "TypedDataSign": [
                {"name": "contents", "type": "Order"},
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
                {"name": "salt", "type": "bytes32"},
            ],
        },
        "domain": typed["domain"],
        "message": {
            "contents": typed["message"],
            "name": "DepositWallet",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": wallet,
            "salt": ctf_order.BYTES32_ZERO,
        },
    }


def test_wallet_owner_recovered_by_full_erc7739_typed_data():
    """Independent of the hand-rolled wrapper digest: eth_account encodes the nested TypedDataSign."""
    order = ORDERS["gtc_buy_deposit_wallet"]["body"]["order"]
    nested = _nested_7739(ps.order_typed_data(order), order["signer"], 137)
    inner = bytes.fromhex(order["signature"][2:])[:65]
    assert Account.recover_message(encode_typed_data(full_message=nested), signature=inner) == REFERENCE["key_address"]


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("side", "buy", "order.side"),
        ("tokenId", "0x12", "order.tokenId"),
        ("salt", -1, "order.salt"),
        ("maker", "0x123", "order.maker"),
        ("builder", "0x" + "00" * 33, "order.builder"),
        ("signatureType", 4, "order.signatureType"),
    ],
)
def test_bad_order_fields_are_named(field, value, reason):
    order = tampered(ORDERS["gtc_buy_ctf_eoa"]["body"]["order"], **{field: value})
    with pytest.raises(ValueError, match=reason):
        ctf_order.order_hash(order)


@pytest.mark.parametrize("seed", range(8))
def test_the_fast_signature_is_eth_accounts_byte_for_byte(seed):
    """coincurve straight: the same deterministic low-s signature and v as eth_account's unsafe_sign_hash."""
    key = "0x" + keccak(text=f"key {seed}").hex()
    digest = keccak(text=f"digest {seed}")
    assert ps.sign_hash(digest, key) == bytes(Account.unsafe_sign_hash(digest, key).signature)
    assert ps.sign_hash(digest, key.removeprefix("0x")) == ps.sign_hash(digest, key)


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_one_struct_hash_gives_the_signature_and_the_order_id(name):
    inputs = ORDERS[name]["inputs"]
    order = ORDERS[name]["body"]["order"]
    unsigned = {k: v for k, v in order.items() if k != "signature"}
    version, neg_risk = inputs["domain_version"], inputs["neg_risk"]
    signature, order_id = ps.signed_order_hash(unsigned, HARDHAT_KEY, version, neg_risk)
    assert (signature, order_id) == (order["signature"], ORDERS[name]["order_id"])
    assert order_id == ctf_order.order_hash(order, version, neg_risk)


def test_addresses_in_any_case_hash_alike():
    order = ORDERS["gtc_buy_ctf_eoa"]["body"]["order"]
    lower = tampered(order, maker=order["maker"].lower(), signer=order["signer"].upper().replace("0X", "0x"))
    assert ctf_order.order_hash(lower) == ctf_order.order_hash(order)


def test_empty_metadata_is_zero():
    order = ORDERS["gtc_buy_ctf_eoa"]["body"]["order"]
    assert ctf_order.order_hash(tampered(order, metadata="")) == ctf_order.order_hash(order)


def test_exchange_addresses():
    assert ctf_order.exchange_address(2, False) == "0xE111180000d2663C0091e4f400237545B87B996B"
    assert ctf_order.exchange_address(2, True) == "0xe2222d279d744050d28e00520010520000310F59"
    assert (
        ctf_order.exchange_address(3, False)
        == ctf_order.exchange_address(3, True)
        == "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
    )
    assert ctf_order.exchange_address(3, False, chain_id=80002) == "0x9fE6e61422AdB6F610d8597F9684b16912D50C3D"
    with pytest.raises(ValueError, match="V1 is retired"):
        ctf_order.exchange_address(1, False)
    with pytest.raises(ValueError, match="chain_id"):
        ctf_order.exchange_address(2, False, chain_id=1)


@pytest.mark.parametrize("case", REFERENCE["hmac"], ids=lambda c: f"{c['method']} {c['path']}")
def test_l2_hmac_matches_sdks(case):
    body = case["body"].encode() if case["body"] else None
    assert (
        ps.l2_signature(REFERENCE["api"]["secret"], case["timestamp"], case["method"], case["path"], body)
        == case["POLY_SIGNATURE"]
    )


def test_l2_hmac_details():
    secret = REFERENCE["api"]["secret"]
    signed = ps.l2_signature(secret, "1", "get", "/data/trades", None)
    assert signed == ps.l2_signature(secret.rstrip("="), "1", "GET", "/data/trades", b"")  # re-padding, upper
    assert signed != ps.l2_signature(secret, "1", "GET", "/data/orders", None)
    with pytest.raises(ValueError, match="without its query string"):
        ps.l2_signature(secret, "1", "GET", "/data/trades?next_cursor=MA==", None)
    with pytest.raises(ValueError, match="urlsafe base64"):
        ps.l2_signature("not*base64", "1", "GET", "/x", None)


@pytest.mark.parametrize("case", REFERENCE["clob_auth"], ids=lambda c: f"nonce{c['nonce']}")
def test_clob_auth_matches_sdks(case):
    client = PolymarketClient(private_key=HARDHAT_KEY)
    headers = client.l1_headers(timestamp=case["timestamp"], nonce=case["nonce"])
    assert headers == case["headers"]
    assert (
        ps.recover_clob_auth_signer(
            headers["POLY_ADDRESS"], case["timestamp"], case["nonce"], headers["POLY_SIGNATURE"]
        )
        == REFERENCE["key_address"]
    )


def test_clob_auth_recovery_refuses_mismatch():
    case = REFERENCE["clob_auth"][0]
    signature = case["headers"]["POLY_SIGNATURE"]
    with pytest.raises(ValueError, match="not POLY_ADDRESS"):
        ps.recover_clob_auth_signer(REFERENCE["key_address"], case["timestamp"], 99, signature)
    with pytest.raises(ValueError, match="not a recoverable"):
        ps.recover_clob_auth_signer(REFERENCE["key_address"], case["timestamp"], 0, "0x1234")


@pytest.mark.parametrize("signature_type", [0, 1, 2, 3])
@pytest.mark.parametrize("domain", ctf_order.ORDER_DOMAINS, ids=lambda d: f"v{d[0]}{'-negrisk' * d[1]}@{d[2]}")
def test_the_fast_path_signs_as_eth_account_under_every_domain_and_signature_type(domain, signature_type):
    """Amoy has no SDK vector: the fast path (packed struct hash, cached separator, coincurve) against eth_account's
    own EIP-712 encoding and signature, byte for byte, for every domain an order can be signed for."""
    version, neg_risk, chain = domain
    order = {k: v for k, v in ORDERS["gtc_buy_ctf_eoa"]["body"]["order"].items() if k != "signature"}
    if signature_type == 3:  # the signer is the deposit wallet, the key its owner's
        order = {**order, "signer": order["maker"]}
    order = {**order, "signatureType": signature_type}
    typed = ps.order_typed_data(order, version, neg_risk, chain)
    signature, order_id = ps.signed_order_hash(order, HARDHAT_KEY, version, neg_risk, chain)
    encoded = encode_typed_data(full_message=typed)
    assert order_id == "0x" + keccak(b"\x19" + encoded.version + encoded.header + encoded.body).hex()
    expected = typed if signature_type != 3 else _nested_7739(typed, order["signer"], chain)
    reference = Account.sign_message(encode_typed_data(full_message=expected), HARDHAT_KEY).signature
    assert bytes.fromhex(signature[2:])[:65] == bytes(reference)
    assert ctf_order.order_hash(order, version, neg_risk, chain) == order_id


@pytest.mark.parametrize("signature_type", [0, 1, 2, 3])
@pytest.mark.parametrize("domain", ctf_order.ORDER_DOMAINS, ids=lambda d: f"v{d[0]}{'-negrisk' * d[1]}@{d[2]}")
def test_build_order_signs_as_eth_account_under_every_domain_and_signature_type(domain, signature_type):
    """The client's own path (its addresses' words, no wire-form read-back, no typed data built) against
    eth_account's EIP-712 encoding and signature of the order's typed data, and against the wire-form path."""
    version, neg_risk, chain = domain
    funder = None if signature_type == 0 else "0x" + f"{signature_type}4" * 20
    client = PolymarketClient(private_key=HARDHAT_KEY, signature_type=signature_type, funder=funder, chain_id=chain)
    signed = client.build_order(
        str(2**255 + 12345),
        "SELL",
        "0.37",
        size="12.34",
        order_type="FAK",
        tick_size="0.01",
        neg_risk=neg_risk,
        domain_version=version,
        salt=2**53 - 7,
        timestamp_ms=1767225600123,
        builder="0x" + "be" * 32,
    )
    typed = signed.typed_data
    assert typed["domain"]["chainId"] == chain
    assert typed["message"]["builder"] == "0x" + "be" * 32
    encoded = encode_typed_data(full_message=typed)
    assert signed.order_id == "0x" + keccak(b"\x19" + encoded.version + encoded.header + encoded.body).hex()
    order = signed.body["order"]
    expected = typed if signature_type != 3 else _nested_7739(typed, order["signer"], chain)
    reference = Account.sign_message(encode_typed_data(full_message=expected), HARDHAT_KEY).signature
    assert bytes.fromhex(signed.signature[2:])[:65] == bytes(reference)
    unsigned = {k: v for k, v in order.items() if k != "signature"}
    assert ps.signed_order_hash(unsigned, HARDHAT_KEY, version, neg_risk, chain) == (signed.signature, signed.order_id)


@pytest.mark.parametrize(
    "overrides, reason",
    [({"salt": -1}, "order.salt"), ({"salt": 2**256}, "order.salt"), ({"token_id": str(2**256)}, "order.tokenId")],
)
def test_build_order_names_a_field_outside_uint256(overrides, reason):
    inputs = {"side": "BUY", "price": "0.5", "size": "10", "token_id": "1", "salt": 1, "timestamp_ms": 1} | overrides
    with pytest.raises(ValueError, match=reason):
        PolymarketClient(private_key=HARDHAT_KEY).build_order(**inputs)


def test_keccak256_is_eth_utils_keccak():
    for data in (b"", b"abc", bytes(range(256)) * 3):
        assert ctf_order.keccak256(data) == keccak(data)
