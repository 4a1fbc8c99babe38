"""Paper Polymarket auth: L2 HMAC, owner, signer and EIP-712 checks with the real refusal bodies,
every signature type and both domain versions; and the real client end to end."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from client_helpers import HARDHAT_ADDRESS, HARDHAT_KEY
from eth_account import Account
from sim_poly_helpers import NR_YES, YES, Trader, error_body, make_app, other_key, payload

from clients.errors import AuthError, OrderNotFilled, OrderNotFound
from clients.polymarket import PolymarketClient
from clients.polymarket.signing import sign_order
from simulator.poly.config import DEFAULT_SECTION
from simulator.server import Simulator


def with_account(**account) -> dict:
    """The default section with one account replaced."""
    return {**DEFAULT_SECTION, "accounts": [account]}


# -- L2 -----------------------------------------------------------------------------------------------


async def test_l2_refusals_carry_the_real_401_body(http, trader):
    unauthorized = (401, error_body("real__error_401_invalid_api_key"))
    path = "/data/orders"
    good = trader.client.l2_headers("GET", path, None)
    for tamper in (
        {"POLY_API_KEY": "f4f247b7-4ac7-4f29-a152-04fda0a8755a"},
        {"POLY_PASSPHRASE": "0" * 64},
        {"POLY_SIGNATURE": ("B" if good["POLY_SIGNATURE"][0] == "A" else "A") + good["POLY_SIGNATURE"][1:]},
        {"POLY_ADDRESS": Account.from_key(other_key(1)).address},
        {"POLY_TIMESTAMP": str(int(good["POLY_TIMESTAMP"]) + 1)},
    ):
        response = await http.get(path, headers={**good, **tamper})
        assert (response.status, await response.json()) == unauthorized, tamper
    response = await http.get(path)
    assert (response.status, await response.json()) == unauthorized
    assert (await http.get(path, headers=good)).status == 200


async def test_hmac_covers_the_exact_body_bytes(http, trader):
    body = orjson.dumps(trader.order(price="0.45", size="10"))
    headers = trader.client.l2_headers("POST", "/order", body)
    spaced = body.replace(b'"orderType":"GTC"', b'"orderType": "GTC"')
    response = await http.post("/order", data=spaced, headers=headers)
    assert (response.status, await response.json()) == (401, error_body("real__error_401_invalid_api_key"))
    assert (await http.post("/order", data=body, headers=headers)).status == 200


async def test_hmac_ignores_the_query_string(trader):
    status, _ = await trader.call("GET", "/data/orders", params={"next_cursor": "MA==", "market": "0x1"})
    assert status == 200


# -- orders -------------------------------------------------------------------------------------------


async def test_owner_must_be_the_api_key(trader):
    body = trader.order(price="0.45", size="10")
    body["owner"] = "f4f247b7-4ac7-ff29-a152-04fda0a8755a"
    assert await trader.post(body) == (400, payload("official_docs__post_order__400__owner_mismatch"))


async def test_signer_must_be_the_api_keys_address(http, trader):
    stranger = await Trader.login(http, other_key(2))
    body = stranger.order(price="0.45", size="10")  # validly signed by someone else
    body["owner"] = trader.client.creds.api_key
    assert await trader.post(body) == (400, error_body("real__error_400_signer_not_api_key"))


async def test_tampered_order_is_an_invalid_signature(trader):
    body = trader.order(price="0.45", size="10")
    body["order"]["makerAmount"] = "4400000"  # a better price than the one signed
    assert await trader.post(body) == (400, error_body("real__error_400_invalid_signature"))


async def test_wrong_domain_is_an_invalid_signature(trader):
    body = trader.order(price="0.45", size="10", neg_risk=True)  # YES is a plain CTF market
    assert await trader.post(body) == (400, error_body("real__error_400_invalid_signature"))
    body = trader.order(price="0.45", size="10", domain_version=3)
    assert await trader.post(body) == (400, error_body("real__error_400_invalid_signature"))


async def test_v1_order_is_a_version_mismatch(trader):
    body = trader.order(price="0.45", size="10")
    order = body["order"]
    for name in ("timestamp", "metadata", "builder"):
        del order[name]
    order.update(taker="0x" + "00" * 20, nonce="0", feeRateBps="0")
    assert await trader.post(body) == (400, error_body("real__error_400_order_version_mismatch"))


async def test_malformed_order_is_an_invalid_payload(trader):
    body = trader.order(price="0.45", size="10")
    body["order"]["salt"] = str(body["order"]["salt"])  # salt must be a JSON number
    assert await trader.post(body) == (400, payload("official_docs__post_order__400__invalid_payload"))
    assert await trader.call("POST", "/order", raw=b"{not json") == (
        400,
        payload("official_docs__post_order__400__invalid_payload"),
    )


async def test_unknown_account_trades_from_an_empty_wallet(http):
    stranger = await Trader.login(http, other_key(3))
    assert await stranger.post(stranger.order(price="0.45", size="10")) == (
        400,
        error_body("real__error_400_not_enough_balance_allowance"),
    )


async def test_neg_risk_market_uses_the_neg_risk_exchange(trader):
    body = trader.order(token_id=NR_YES, price="0.1", size="10", tick="0.001", neg_risk=True)
    status, answer = await trader.post(body)
    assert status == 200 and answer["status"] == "live"


async def test_exchange_v3_markets_take_version_3_signatures(aiohttp_client):
    section = {**DEFAULT_SECTION, "markets": [{**DEFAULT_SECTION["markets"][0], "domain_version": 3}]}
    trader = await Trader.login(await aiohttp_client(make_app(section)))
    assert (await trader.post(trader.order(price="0.45", size="10", domain_version=3)))[0] == 200
    assert await trader.post(trader.order(price="0.45", size="10")) == (
        400,
        error_body("real__error_400_invalid_signature"),
    )


@pytest.mark.parametrize("signature_type", [1, 2, 3])
async def test_wallet_signature_types(aiohttp_client, signature_type):
    wallet = Account.from_key(other_key(10 + signature_type)).address
    section = with_account(address=HARDHAT_ADDRESS, signature_type=signature_type, funder=wallet, balance="100")
    http = await aiohttp_client(make_app(section))
    trader = await Trader.login(http, signature_type=signature_type, funder=wallet)
    status, body = await trader.post(trader.order(price="0.49", size="10", order_type="FOK"))
    assert status == 200 and body["status"] == "matched"
    order = (await trader.call("GET", f"/data/order/{body['orderID']}"))[1]
    assert order["maker_address"] == wallet
    elsewhere = await Trader.login(
        http, nonce=1, signature_type=signature_type, funder=Account.from_key(other_key(99)).address
    )
    refused = await elsewhere.post(elsewhere.order(price="0.49", size="10", order_type="FOK"))
    expected = "real__error_400_signer_not_api_key" if signature_type == 3 else "real__error_400_invalid_signature"
    assert refused == (400, error_body(expected))


async def test_deposit_wallet_flow_is_required_for_new_accounts(aiohttp_client):
    wallet = Account.from_key(other_key(20)).address
    section = with_account(
        address=HARDHAT_ADDRESS, signature_type=3, funder=wallet, balance="100", deposit_wallet_required=True
    )
    http = await aiohttp_client(make_app(section))
    eoa = await Trader.login(http)
    assert await eoa.post(eoa.order(price="0.45", size="10")) == (
        400,
        error_body("real__error_400_maker_not_allowed_deposit_wallet"),
    )
    wallet_trader = await Trader.login(http, nonce=1, signature_type=3, funder=wallet)
    assert (await wallet_trader.post(wallet_trader.order(price="0.45", size="10")))[0] == 200


async def test_tampered_deposit_wallet_signature(aiohttp_client):
    wallet = Account.from_key(other_key(21)).address
    section = with_account(address=HARDHAT_ADDRESS, signature_type=3, funder=wallet, balance="100")
    trader = await Trader.login(await aiohttp_client(make_app(section)), signature_type=3, funder=wallet)
    body = trader.order(price="0.45", size="10")
    body["order"]["signature"] = sign_order(body["order"], other_key(22))  # a stranger owns no such wallet
    assert await trader.post(body) == (400, error_body("real__error_400_invalid_signature"))


# -- the real client end to end -----------------------------------------------------------------------


async def test_real_client_trades_against_the_simulator():
    async with Simulator() as sim:
        async with PolymarketClient(base_url=sim.poly_url, private_key=HARDHAT_KEY, clock=sim.clock.now) as client:
            creds = await client.create_or_derive_api_key()
            again = PolymarketClient(base_url=sim.poly_url, private_key=HARDHAT_KEY, clock=sim.clock.now)
            async with again:
                assert (await again.create_or_derive_api_key()).api_key == creds.api_key  # create fails, derive
            book = await client.get_book(YES)
            assert book.asks[0].price == Decimal("0.49") and book.bids[0].price == Decimal("0.47")
            tick = await client.get_tick_size(YES)
            assert tick == Decimal("0.01") and await client.get_neg_risk(YES) is False
            result = await client.create_order(YES, "BUY", Decimal("0.49"), size=Decimal("10"), order_type="FOK")
            assert (result.status, result.filled, result.cost, result.avg_price) == (
                "matched",
                Decimal("10"),
                Decimal("4.9"),
                Decimal("0.49"),
            )
            trades = await client.get_trades()
            assert [t.taker_order_id for t in trades] == [result.order_id]
            resting = await client.create_order(YES, "BUY", Decimal("0.40"), size=Decimal("10"))
            assert resting.status == "live" and resting.remaining == Decimal("10")
            assert (await client.get_order(resting.order_id)).status == "LIVE"
            await client.cancel_order(resting.order_id)
            with pytest.raises(OrderNotFound):
                await client.cancel_order(resting.order_id)
            with pytest.raises(OrderNotFilled):
                await client.create_order(YES, "BUY", Decimal("0.49"), size=Decimal("1000"), order_type="FOK")
            balance = await client.get_balance_allowance(update=True)
            assert balance.balance == Decimal("995.1")
            await sim.clock.advance(10)
            assert [t.status for t in await client.get_trades()] == ["CONFIRMED"]
        stale = PolymarketClient(
            base_url=sim.poly_url,
            private_key=HARDHAT_KEY,
            api_key=creds.api_key,
            api_secret=creds.secret,
            api_passphrase="0" * 64,
        )
        async with stale:
            with pytest.raises(AuthError):
                await stale.get_open_orders()
