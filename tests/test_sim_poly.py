"""Paper Polymarket endpoints against the real payloads: statuses, keys, types and formats."""

from __future__ import annotations

import base64
import hashlib
import re

import aiohttp
import orjson
import pytest
from client_helpers import HARDHAT_ADDRESS, HARDHAT_KEY
from sim_poly_helpers import MARKET, NO, NR_YES, YES, Trader, error_body, make_app, payload, shape

from clients.polymarket.signing import sign_order
from simulator.poly import EXCHANGE, default_fault_body
from simulator.poly.config import DEFAULT_SECTION, parse_section
from simulator.state import StateError

# -- public endpoints ---------------------------------------------------------------------------


async def test_time_ok_version(http):
    assert await (await http.get("/time")).json() == 1_800_000_000
    assert await (await http.get("/ok")).json() == "OK"
    assert await (await http.get("/version")).json() == {"version": 2}


async def test_book_matches_the_captured_book_and_its_hash(http):
    response = await http.get("/book", params={"token_id": YES})
    assert response.status == 200
    body = await response.json()
    real = payload("real__get_book_200_rest_captured")
    assert list(body) == list(real)
    assert shape(body) == shape(real) | {"asks": [{"price": "decimal", "size": "decimal"}], "last_trade_price": "empty"}
    assert [level["price"] for level in body["bids"]] == ["0.46", "0.47"]  # best LAST
    assert [level["price"] for level in body["asks"]] == ["0.5", "0.49"]
    assert body["timestamp"] == "1800000000000" and body["tick_size"] == "0.01" and body["min_order_size"] == "5"
    unhashed = orjson.dumps({**body, "hash": ""})
    assert body["hash"] == hashlib.sha1(unhashed).hexdigest()


async def test_book_errors(http):
    for params, status, name in (
        ({}, 400, "official_docs__get_book__400__example"),
        ({"token_id": "123"}, 404, "official_docs__get_book__404__example"),
    ):
        response = await http.get("/book", params=params)
        assert response.status == status
        assert await response.json() == payload(name)


async def test_tick_size_is_a_json_number_and_neg_risk_a_bool(http):
    response = await http.get("/tick-size", params={"token_id": NR_YES})
    assert await response.text() == '{"minimum_tick_size":0.001}'
    body = await (await http.get("/tick-size", params={"token_id": YES})).json()
    assert shape(body) == shape(payload("official_docs__get_tick_size__200__example"))
    assert await (await http.get("/neg-risk", params={"token_id": NR_YES})).json() == {"neg_risk": True}
    assert await (await http.get("/neg-risk", params={"token_id": YES})).json() == {"neg_risk": False}
    missing = await http.get("/tick-size", params={"token_id": "9"})
    assert missing.status == 404 and await missing.json() == payload("official_docs__get_tick_size__404__example")
    bad = await http.get("/tick-size", params={"token_id": "0xabc"})
    assert bad.status == 400 and await bad.json() == payload("official_docs__get_tick_size__400__example")


async def test_market_by_token_names_the_condition_and_both_tokens(http):
    body = await (await http.get(f"/markets-by-token/{NO}")).json()
    assert shape(body) == shape(payload("official_docs__get_market_by_token__200__example"))
    assert body == {"condition_id": MARKET, "primary_token_id": YES, "secondary_token_id": NO}
    missing = await http.get("/markets-by-token/9")
    assert (missing.status, await missing.json()) == (404, {"error": "market not found"})
    for bad_id in ("0xabc", "١٢٣"):  # not a decimal, and Arabic-Indic digits int() would read as 123
        bad = await http.get(f"/markets-by-token/{bad_id}")
        assert (bad.status, await bad.json()) == (400, {"error": "Invalid token id"})


async def test_clob_market_info_has_the_official_keys_and_types(http):
    """The official example's keys and JSON types, except the two the docs say can differ: `gst` is null
    without a game start and `itode` is left out when false; plus `nr` (only when true) and the keys the
    SDK's MarketDetails also maps (c, ao, sd, cbos)."""
    body = await (await http.get(f"/clob-markets/{MARKET}")).json()
    official = payload("official_docs__get_clob_market_info__200__example")
    assert {k: shape(v) for k, v in body.items() if k in official and k != "gst"} == {
        k: shape(v) for k, v in official.items() if k not in ("gst", "itode")
    }
    assert body["gst"] is None and "itode" not in body and "nr" not in body
    assert body["t"] == [{"t": YES, "o": "Yes"}, {"t": NO, "o": "No"}]
    assert (body["c"], body["ao"], body["fd"]) == (MARKET, True, {"r": 0, "e": 1, "to": True})
    raw = await (await http.get(f"/clob-markets/{MARKET}")).text()
    assert '"mos":5,' in raw and '"mts":0.01,' in raw  # JSON numbers from the Decimal text
    neg_risk = await (await http.get(f"/clob-markets/{DEFAULT_SECTION['markets'][1]['condition_id']}")).json()
    assert (neg_risk["nr"], neg_risk["mts"], neg_risk["t"][0]["t"]) == (True, 0.001, NR_YES)
    missing = await http.get("/clob-markets/0x" + "00" * 32)
    assert (missing.status, await missing.json()) == (404, {"error": "market not found"})


async def test_fee_curve_and_closed_markets_in_market_info(aiohttp_client):
    section = {"markets": [dict(DEFAULT_SECTION["markets"][0], fee_rate="0.04", accepting_orders=False)]}
    client = await aiohttp_client(make_app(section))
    body = await (await client.get(f"/clob-markets/{MARKET}")).json()
    assert (body["fd"], body["ao"]) == ({"r": 0.04, "e": 1, "to": True}, False)


async def test_unknown_paths_and_methods_answer_in_the_json_error_shape(http):
    missing = await http.get("/no-such-endpoint")
    assert (missing.status, missing.content_type) == (404, "application/json")
    assert await missing.json() == {"error": "not found"}
    wrong = await http.put("/order")
    assert (wrong.status, await wrong.json()) == (405, {"error": "method not allowed"})
    assert "POST" in wrong.headers["Allow"]
    admin = await http.get("/__sim/poly/no-such-thing")
    assert admin.status == 404 and admin.content_type == "text/plain"  # the admin API is not the exchange


# -- L1 API keys ----------------------------------------------------------------------------------


async def test_create_then_derive_the_same_key(http, trader):
    creds = trader.client.creds
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", creds.api_key)
    assert len(creds.secret) == 44 and base64.urlsafe_b64decode(creds.secret)
    assert re.fullmatch(r"[0-9a-f]{64}", creds.passphrase)
    assert await trader.call("POST", "/auth/api-key", l1_nonce=0) == (400, {"error": "Could not create api key"})
    status, derived = await trader.call("GET", "/auth/derive-api-key", l1_nonce=0)
    assert status == 200 and derived == {
        "apiKey": creds.api_key,
        "secret": creds.secret,
        "passphrase": creds.passphrase,
    }
    assert await trader.call("GET", "/auth/derive-api-key", l1_nonce=7) == (400, {"error": "Could not derive api key!"})


async def test_another_nonce_is_another_key(http, trader):
    other = await Trader.login(http, nonce=1)
    assert other.client.creds.api_key != trader.client.creds.api_key


async def test_l1_refuses_a_bad_or_missing_signature(http, trader):
    headers = trader.client.l1_headers(nonce=0)
    headers["POLY_TIMESTAMP"] = str(int(headers["POLY_TIMESTAMP"]) + 1)  # signature no longer covers it
    response = await http.post("/auth/api-key", headers=headers)
    assert response.status == 401 and await response.json() == {"error": "Invalid L1 Request headers"}
    response = await http.get("/auth/derive-api-key")
    assert response.status == 401 and await response.json() == {"error": "Invalid L1 Request headers"}


# -- order entry ----------------------------------------------------------------------------------


async def test_resting_gtc_is_live_with_empty_amounts(http, trader):
    status, body = await trader.post(trader.order(price="0.45", size="10"))
    real = payload("real__post_order_200_live")
    assert status == 200
    assert list(body) == list(real) and shape(body) == shape(real)
    assert body["status"] == "live" and body["makingAmount"] == "" and body["takingAmount"] == ""
    book = await (await http.get("/book", params={"token_id": YES})).json()
    assert book["bids"][-1] == {"price": "0.47", "size": "500"}
    assert {"price": "0.45", "size": "10"} in book["bids"]


async def test_matched_buy_reports_human_amounts_and_trade_ids(http, trader):
    status, body = await trader.post(trader.order(price="0.49", size="10", order_type="FOK"))
    assert status == 200
    real = payload("real__post_order_200_matched_sell_v2")
    assert set(real) <= set(body) and shape({k: body[k] for k in real}) == shape(real)
    assert body["status"] == "matched" and body["success"] is True and body["errorMsg"] == ""
    assert body["makingAmount"] == "4.9" and body["takingAmount"] == "10"
    assert len(body["tradeIDs"]) == 1 and re.fullmatch(r"0x[0-9a-f]{64}", body["transactionsHashes"][0])


async def test_market_buy_spends_the_amount_across_levels(http, trader):
    # $300 at worst 0.50: 500 x 0.49 = 245 leaves 55, which buys 110 at 0.50.
    status, body = await trader.post(trader.order(price="0.50", amount="300", order_type="FOK"))
    assert status == 200
    assert (body["makingAmount"], body["takingAmount"]) == ("300", "610")
    assert len(body["tradeIDs"]) == 2
    book = await (await http.get("/book", params={"token_id": YES})).json()
    assert book["asks"] == [{"price": "0.5", "size": "890"}]


async def test_matched_sell_amounts_like_the_real_reply(http, trader):
    await http.post("/__sim/poly/balance", json={"address": HARDHAT_ADDRESS, "positions": {YES: "60.47"}})
    await http.post(
        "/__sim/poly/book",
        json={"token_id": YES, "bids": [{"price": "0.13", "size": "100"}], "asks": [{"price": "0.2", "size": "10"}]},
    )
    status, body = await trader.post(trader.order(side="SELL", price="0.13", amount="60.47", order_type="FAK"))
    assert status == 200 and (body["makingAmount"], body["takingAmount"]) == ("60.47", "7.8611")


async def test_partial_fak_is_matched_for_the_filled_part_and_never_rests(http, trader):
    await http.post("/__sim/poly/book", json={"token_id": YES, "asks": [{"price": "0.49", "size": "4"}]})
    status, body = await trader.post(trader.order(price="0.49", size="10", order_type="FAK"))
    assert status == 200 and body["status"] == "matched"
    assert (body["makingAmount"], body["takingAmount"]) == ("1.96", "4")
    book = await (await http.get("/book", params={"token_id": YES})).json()
    assert book["bids"] == [] and book["asks"] == []


async def test_fok_not_filled_and_fak_no_match_are_400(http, trader):
    fok = await trader.post(trader.order(price="0.49", size="600", order_type="FOK"))
    assert fok == (400, {"error": "order couldn't be fully filled. FOK orders are fully filled or killed."})
    fak = await trader.post(trader.order(price="0.30", size="10", order_type="FAK"))
    assert fak == (
        400,
        {
            "error": "no orders found to match with FAK order. FAK orders are partially filled or "
            "killed if no match is found."
        },
    )
    book = await (await http.get("/book", params={"token_id": YES})).json()
    assert book["asks"][-1] == {"price": "0.49", "size": "500"}  # the killed FOK took nothing


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(price="0.45", size="1.08"), "Size (1.08) lower than the minimum: 5"),
        (
            dict(token_id=NR_YES, price="0.1", size="4", tick="0.001", neg_risk=True),
            "Size (4) lower than the minimum: 5",
        ),
    ],
)
async def test_minimum_size(trader, kwargs, message):
    status, answer = await trader.post(trader.order(**kwargs))
    assert status == 400
    assert re.fullmatch(r"order 0x[0-9a-f]{64} is invalid\. " + re.escape(message), answer["error"]), answer
    assert shape(answer) == shape(error_body("real__error_400_min_size"))


async def test_off_tick_price(trader):
    body = trader.order(token_id=NR_YES, price="0.125", size="10", tick="0.001", neg_risk=True)
    assert (await trader.post(body))[0] == 200  # on the 0.001 grid
    body = trader.order(price="0.455", size="10", tick="0.001")  # 0.455 on a 0.01 market
    status, answer = await trader.post(body)
    assert status == 400
    assert re.fullmatch(
        r"order 0x[0-9a-f]{64} is invalid\. Price \(0\.455\) breaks minimum tick size rule: 0\.01", answer["error"]
    ), answer


async def test_precision_rules(trader):
    limit_buy = trader.order(price="0.5", size="10")
    limit_buy["order"]["takerAmount"] = "10001000"  # 10.001 shares: 3 decimals
    limit_buy["order"]["signature"] = sign_order(limit_buy["order"], HARDHAT_KEY)  # only precision can refuse it
    assert await trader.post(limit_buy) == (400, error_body("real__error_400_invalid_amounts_limit_buy"))
    market_buy = trader.order(price="0.5", amount="10", order_type="FAK")
    market_buy["order"]["makerAmount"] = "10005000"  # $10.005: 3 decimals
    market_buy["order"]["signature"] = sign_order(market_buy["order"], HARDHAT_KEY)
    assert await trader.post(market_buy) == (400, error_body("real__error_400_invalid_amounts_market_buy"))


@pytest.mark.parametrize("field", ["tokenId", "makerAmount", "timestamp"])
async def test_an_order_number_in_non_ascii_digits_is_an_invalid_payload(trader, field):
    """Arabic-Indic "10" is digits to str.isdigit and 10 to int(), but no number the exchange's wire spells."""
    order = trader.order(price="0.5", size="10")
    order["order"][field] = "\u0661\u0660"
    assert await trader.post(order) == (400, {"error": "Invalid order payload"})


async def test_balance_and_reservations(http, trader):
    await http.post("/__sim/poly/balance", json={"address": HARDHAT_ADDRESS, "balance": "10"})
    assert (await trader.post(trader.order(price="0.45", size="20")))[0] == 200  # reserves 9
    refused = await trader.post(trader.order(price="0.45", size="5"))  # needs 2.25, 1 left
    assert refused == (400, error_body("real__error_400_not_enough_balance_allowance"))
    sell = await trader.post(trader.order(side="SELL", price="0.55", size="5"))  # no shares
    assert sell == (400, error_body("real__error_400_not_enough_balance_allowance"))
    await http.post("/__sim/poly/balance", json={"address": HARDHAT_ADDRESS, "balance": "100", "allowance": "10"})
    capped = await trader.post(trader.order(price="0.45", size="5"))
    assert capped == (400, error_body("real__error_400_not_enough_balance_allowance"))


async def test_duplicate_order(trader):
    body = trader.order(price="0.45", size="10")
    first = await trader.post(body)
    status, answer = await trader.post(body)
    assert status == 400 and answer == {"error": f"order {first[1]['orderID']} is invalid. Duplicated."}


async def test_gtd_expiration_rules_and_expiry(http, trader):
    now = 1_800_000_000
    too_soon = trader.order(price="0.45", size="10", order_type="GTD", expiration=now + 60)
    assert await trader.post(too_soon) == (400, {"error": "invalid expiration"})
    status, body = await trader.post(trader.order(price="0.45", size="10", order_type="GTD", expiration=now + 90))
    assert status == 200 and body["status"] == "live"
    await http.post("/__sim/clock/advance", json={"seconds": 29})
    assert (await trader.call("GET", f"/data/order/{body['orderID']}"))[1]["status"] == "LIVE"
    await http.post("/__sim/clock/advance", json={"seconds": 1})  # expiration - 60 s reached
    assert (await trader.call("GET", f"/data/order/{body['orderID']}"))[1]["status"] == "CANCELED"
    book = await (await http.get("/book", params={"token_id": YES})).json()
    assert {"price": "0.45", "size": "10"} not in book["bids"]


async def test_post_only(http, trader):
    crossing = trader.order(price="0.49", size="10", post_only=True)
    assert await trader.post(crossing) == (400, {"error": "invalid post-only order: order crosses book"})
    resting = trader.order(price="0.48", size="10", post_only=True)
    assert (await trader.post(resting))[1]["status"] == "live"


async def test_market_not_accepting_orders_and_closed(http, trader):
    await http.post("/__sim/poly/market", json={"token_id": YES, "accepting_orders": False})
    refused = await trader.post(trader.order(price="0.45", size="10"))
    assert refused == (400, {"error": "the market is not yet ready to process new orders"})
    await http.post("/__sim/poly/market", json={"condition_id": MARKET, "accepting_orders": True, "closed": True})
    assert (await http.get("/book", params={"token_id": YES})).status == 404


@pytest.mark.parametrize(
    "mode, name",
    [
        ("cancel_only", "official_docs__post_order__503__cancel_only"),
        ("disabled", "official_docs__post_order__503__trading_disabled"),
    ],
)
async def test_trading_modes_503(http, trader, mode, name):
    await http.post("/__sim/poly/mode", json={"mode": mode})
    assert await trader.post(trader.order(price="0.45", size="10")) == (503, payload(name))


async def test_post_only_mode_tells_when_to_retry(http, trader):
    await http.post("/__sim/poly/mode", json={"mode": "post_only", "seconds": 79})
    body = orjson.dumps(trader.order(price="0.45", size="10"))
    response = await http.post("/order", data=body, headers=trader.client.l2_headers("POST", "/order", body))
    assert response.status == 503 and response.headers["Retry-After"] == "79"
    assert await response.json() == payload("official_docs__post_order__503__post_only_mode")
    assert (await trader.post(trader.order(price="0.45", size="10", post_only=True)))[0] == 200
    await http.post("/__sim/clock/advance", json={"seconds": 79})
    assert (await trader.post(trader.order(price="0.44", size="10")))[0] == 200


# -- batch orders -----------------------------------------------------------------------------------


async def test_batch_results_inside_a_200_array(trader):
    good = trader.order(price="0.45", size="10")
    small = trader.order(price="0.44", size="1")
    status, body = await trader.call("POST", "/orders", [good, small])
    assert status == 200 and len(body) == 2
    assert body[0]["success"] is True and body[0]["status"] == "live"
    assert body[1]["success"] is False and "lower than the minimum: 5" in body[1]["errorMsg"]
    example = payload("official_docs__post_orders__200__post_only_mode")[0]
    assert list(body[1]) == list(example)


async def test_batch_limits_and_whole_request_errors(http, trader):
    many = [trader.order(price="0.45", size=str(10 + i)) for i in range(20)]
    assert await trader.call("POST", "/orders", many) == (
        400,
        payload("official_docs__post_orders__400__too_many_orders"),
    )
    assert await trader.call("POST", "/orders", []) == (400, payload("official_docs__post_orders__400__empty_payload"))
    wrong_owner = trader.order(price="0.45", size="10")
    wrong_owner["owner"] = "f4f247b7-4ac7-ff29-a152-04fda0a8755a"
    assert await trader.call("POST", "/orders", [wrong_owner]) == (
        400,
        payload("official_docs__post_orders__400__owner_mismatch"),
    )


async def test_batch_in_post_only_mode(http, trader):
    await http.post("/__sim/poly/mode", json={"mode": "post_only", "seconds": 60})
    status, body = await trader.call(
        "POST",
        "/orders",
        [trader.order(price="0.45", size="10"), trader.order(price="0.44", size="10", post_only=True)],
    )
    assert status == 200
    assert body[0] == payload("official_docs__post_orders__200__post_only_mode")[0]
    assert body[1]["status"] == "live"


# -- cancels ------------------------------------------------------------------------------------------


async def test_cancel_one_many_all_and_market(http, trader):
    ids = [
        (await trader.post(trader.order(price=p, size="10")))[1]["orderID"] for p in ("0.41", "0.42", "0.43", "0.44")
    ]
    status, body = await trader.call("DELETE", "/order", {"orderID": ids[0]})
    assert status == 200 and shape(body) == shape(payload("official_docs__cancel_order__200__canceled"))
    assert body == {"canceled": [ids[0]], "not_canceled": {}}
    again = await trader.call("DELETE", "/order", {"orderID": ids[0]})
    assert again == (200, {"canceled": [], "not_canceled": {ids[0]: "Order not found or already canceled"}})
    status, body = await trader.call("DELETE", "/orders", [ids[1], ids[1]])
    assert body == {"canceled": [ids[1]], "not_canceled": {}}
    status, body = await trader.call("DELETE", "/cancel-market-orders", {"asset_id": NO})
    assert body == {"canceled": [], "not_canceled": {}}
    status, body = await trader.call("DELETE", "/cancel-all")
    assert status == 200 and sorted(body["canceled"]) == sorted(ids[2:]) and body["not_canceled"] == {}
    assert shape(await (await http.get("/book", params={"token_id": YES})).json())["bids"]


async def test_cancel_a_matched_order(trader):
    matched = (await trader.post(trader.order(price="0.49", size="10", order_type="FOK")))[1]["orderID"]
    assert await trader.call("DELETE", "/order", {"orderID": matched}) == (
        200,
        {"canceled": [], "not_canceled": {matched: "Order already matched"}},
    )


async def test_cancel_errors(trader):
    assert await trader.call("DELETE", "/order", {"orderID": "nope"}) == (
        400,
        payload("official_docs__cancel_order__400__invalid_order_id"),
    )
    assert await trader.call("DELETE", "/order", ["0xab"]) == (
        400,
        payload("official_docs__cancel_order__400__invalid_payload"),
    )
    assert await trader.call("DELETE", "/orders", ["0xab"] * 1001) == (
        400,
        payload("official_docs__cancel_orders__400__too_many_orders"),
    )


async def test_cancel_works_in_cancel_only_but_not_when_disabled(http, trader):
    order_id = (await trader.post(trader.order(price="0.45", size="10")))[1]["orderID"]
    await http.post("/__sim/poly/mode", json={"mode": "disabled"})
    assert await trader.call("DELETE", "/order", {"orderID": order_id}) == (
        503,
        payload("official_docs__cancel_order__503__example"),
    )
    await http.post("/__sim/poly/mode", json={"mode": "cancel_only"})
    assert (await trader.call("DELETE", "/order", {"orderID": order_id}))[1]["canceled"] == [order_id]


# -- reads ----------------------------------------------------------------------------------------------


async def test_get_order_and_open_orders(trader):
    order_id = (await trader.post(trader.order(price="0.45", size="10")))[1]["orderID"]
    status, order = await trader.call("GET", f"/data/order/{order_id}")
    example = payload("official_docs__get_order__200__example")
    assert status == 200 and list(order) == list(example)
    # the example's asset_id is a placeholder ("0xabc123def456..."); real token ids are decimal
    assert shape(order) == shape(example) | {"associate_trades": [], "asset_id": "decimal"}
    assert (order["status"], order["original_size"], order["size_matched"], order["price"]) == (
        "LIVE",
        "10",
        "0",
        "0.45",
    )
    assert order["owner"] == trader.client.creds.api_key and order["maker_address"] == HARDHAT_ADDRESS
    status, page = await trader.call("GET", "/data/orders", params={"market": MARKET})
    assert status == 200 and list(page) == list(payload("official_docs__get_orders__200__example"))
    assert page["next_cursor"] == "LTE=" and page["count"] == 1 and page["data"] == [order]
    missing = "0x" + "ab" * 32
    assert await trader.call("GET", f"/data/order/{missing}") == (
        404,
        payload("official_docs__get_order__404__example"),
    )
    assert await trader.call("GET", "/data/order/xyz") == (400, payload("official_docs__get_order__400__example"))
    assert await trader.call("GET", "/data/orders", params={"next_cursor": "%%"}) == (
        400,
        payload("official_docs__get_orders__400__example"),
    )


async def test_trades_move_matched_mined_confirmed(http, trader):
    body = (await trader.post(trader.order(price="0.50", amount="300", order_type="FAK")))[1]
    status, page = await trader.call("GET", "/data/trades")
    example = payload("official_docs__get_trades__200__example")
    assert status == 200 and page["count"] == 2 and page["next_cursor"] == "LTE="
    trade = page["data"][0]
    assert list(trade) == list(example["data"][0])
    assert shape(trade) | {"transaction_hash": "hex", "maker_orders": []} == shape(example["data"][0])
    assert [t["id"] for t in page["data"]] == body["tradeIDs"]
    assert [t["bucket_index"] for t in page["data"]] == [0, 1]
    assert (trade["status"], trade["trader_side"], trade["transaction_hash"]) == ("MATCHED", "TAKER", "")
    assert trade["maker_orders"][0]["matched_amount"] == "500" and trade["size"] == "500" and trade["price"] == "0.49"
    await http.post("/__sim/clock/advance", json={"seconds": 2})
    trade = (await trader.call("GET", "/data/trades", params={"id": trade["id"]}))[1]["data"][0]
    assert trade["status"] == "MINED" and trade["transaction_hash"] == body["transactionsHashes"][0]
    assert trade["last_update"] == "1800000002" and trade["match_time"] == "1800000000"
    await http.post("/__sim/clock/advance", json={"seconds": 8})
    trade = (await trader.call("GET", "/data/trades", params={"id": trade["id"]}))[1]["data"][0]
    assert trade["status"] == "CONFIRMED"


async def test_pagination_cursors(aiohttp_client):
    http = await aiohttp_client(make_app({**DEFAULT_SECTION, "page_size": 2}))
    trader = await Trader.login(http)
    for price in ("0.41", "0.42", "0.43", "0.44", "0.45"):
        await trader.post(trader.order(price=price, size="10"))
    cursors, seen = ["MA=="], []
    while cursors[-1] != "LTE=":
        page = (await trader.call("GET", "/data/orders", params={"next_cursor": cursors[-1]}))[1]
        seen += [o["price"] for o in page["data"]]
        cursors.append(page["next_cursor"])
    assert cursors == ["MA==", "Mg==", "NA==", "LTE="] and seen == ["0.41", "0.42", "0.43", "0.44", "0.45"]
    assert len(await trader.client.get_open_orders()) == 5  # the real client walks the same pages


async def test_balance_allowance(http, trader):
    status, body = await trader.call(
        "GET", "/balance-allowance", params={"asset_type": "COLLATERAL", "signature_type": "0"}
    )
    real = payload("real__balance_allowance_200_v2_collateral")
    assert status == 200 and body == {"balance": "1000000000", "allowances": real["allowances"]}
    await trader.post(trader.order(price="0.49", size="10", order_type="FOK"))
    assert await trader.call(
        "GET", "/balance-allowance/update", params={"asset_type": "COLLATERAL", "signature_type": "0"}
    ) == (200, "")
    body = (await trader.call("GET", "/balance-allowance", params={"asset_type": "COLLATERAL", "signature_type": "0"}))[
        1
    ]
    assert body["balance"] == "995100000"
    body = (
        await trader.call(
            "GET", "/balance-allowance", params={"asset_type": "CONDITIONAL", "token_id": YES, "signature_type": "0"}
        )
    )[1]
    assert body["balance"] == "10000000" and shape(body) == shape(real)
    other_wallet = (
        await trader.call("GET", "/balance-allowance", params={"asset_type": "COLLATERAL", "signature_type": "1"})
    )[1]
    assert other_wallet["balance"] == "0"
    assert (
        await trader.call(
            "GET", "/balance-allowance", params={"asset_type": "COLLATERAL", "signature_type": "POLY_PROXY"}
        )
    )[0] == 400


# -- admin ------------------------------------------------------------------------------------------


async def test_moving_the_book_fills_resting_orders_as_maker(http, trader):
    order_id = (await trader.post(trader.order(price="0.45", size="10")))[1]["orderID"]
    response = await http.post(
        "/__sim/poly/book",
        json={"token_id": YES, "bids": [{"price": "0.40", "size": "100"}], "asks": [{"price": "0.44", "size": "4"}]},
    )
    assert response.status == 200
    order = (await trader.call("GET", f"/data/order/{order_id}"))[1]
    assert (order["status"], order["size_matched"]) == ("LIVE", "4")
    trades = (await trader.call("GET", "/data/trades"))[1]["data"]
    assert len(trades) == 1 and trades[0]["trader_side"] == "MAKER" and trades[0]["price"] == "0.45"
    assert trades[0]["maker_orders"][0]["order_id"] == order_id
    accounts = await (await http.get("/__sim/poly/accounts")).json()
    assert accounts[0]["balance"] == "998.2" and accounts[0]["positions"] == {YES: "4"}
    assert accounts[0]["reserved"] == "2.7"


async def test_settle_pays_winners_and_cancels_orders(http, trader):
    await trader.post(trader.order(price="0.49", size="10", order_type="FOK"))
    order_id = (await trader.post(trader.order(price="0.45", size="10")))[1]["orderID"]
    response = await http.post("/__sim/poly/settle", json={"condition_id": MARKET, "winning_token_id": YES})
    assert response.status == 200
    accounts = await (await http.get("/__sim/poly/accounts")).json()
    assert accounts[0]["balance"] == "1005.1" and accounts[0]["positions"] == {}
    assert (await trader.call("GET", f"/data/order/{order_id}"))[1]["status"] == "CANCELED_MARKET_RESOLVED"


async def test_reset_and_inspection(http, trader):
    await trader.post(trader.order(price="0.49", size="10", order_type="FOK"))
    assert len(await (await http.get("/__sim/poly/trades")).json()) == 1
    assert len(await (await http.get("/__sim/poly/orders")).json()) == 1
    await http.post("/__sim/poly/reset")
    assert await (await http.get("/__sim/poly/trades")).json() == []
    assert (await (await http.get("/__sim/poly/accounts")).json())[0]["balance"] == "1000"
    assert (await trader.post(trader.order(price="0.45", size="10")))[0] == 200  # keys survive a reset


async def test_admin_errors_name_the_field(http):
    response = await http.post("/__sim/poly/book", json={"token_id": YES, "asks": [{"price": "0.455", "size": "1"}]})
    assert response.status == 400 and "asks[0].price" in (await response.json())["sim_error"]
    response = await http.post("/__sim/poly/book", json={"token_id": "1"})
    assert response.status == 400 and "token_id" in (await response.json())["sim_error"]
    response = await http.post("/__sim/poly/mode", json={"mode": "sleepy"})
    assert response.status == 400 and "mode" in (await response.json())["sim_error"]
    response = await http.post("/__sim/poly/balance", json={"address": HARDHAT_ADDRESS, "balance": 1.5})
    assert response.status == 400 and "balance" in (await response.json())["sim_error"]


async def test_listeners_hear_book_order_and_trade_changes(http, trader):
    heard: list[str] = []
    http.app[EXCHANGE].listeners.append(lambda kind, record: heard.append(kind))
    await trader.post(trader.order(price="0.49", size="10", order_type="FOK"))
    assert heard == ["trade", "book", "order"]
    heard.clear()
    await http.post("/__sim/clock/advance", json={"seconds": 10})
    assert heard == ["trade"]


# -- faults ---------------------------------------------------------------------------------------------


FAULT_BODIES = [
    (425, "text/plain", b"service not ready"),
    (429, "application/json", b'{"error":"Too Many Requests"}'),
    (500, "application/json", b'{"error":"Internal server error"}'),
    (503, "application/json", b'{"error":"Trading is currently disabled. Check polymarket.com for updates"}'),
]


@pytest.mark.parametrize("status, content_type, body", FAULT_BODIES)
def test_default_fault_bodies(status, content_type, body):
    assert default_fault_body(status) == (content_type, body)


@pytest.mark.parametrize("status, content_type, body", FAULT_BODIES)
async def test_injected_faults_answer_with_polymarket_bodies(http, status, content_type, body):
    armed = await http.post("/__sim/faults", json={"method": "POST", "path": "/order", "status": status})
    assert armed.status == 201
    response = await http.post("/order", data=b"{}")
    assert response.status == status and await response.read() == body
    assert response.content_type == content_type


async def test_act_then_drop_places_the_order_but_loses_the_answer(http, trader):
    await http.post("/__sim/faults", json={"method": "POST", "path": "/order", "action": "act_then_drop"})
    body = trader.order(price="0.45", size="10")
    with pytest.raises(aiohttp.ClientError):
        await trader.post(body)
    orders = (await trader.call("GET", "/data/orders"))[1]["data"]
    assert [o["price"] for o in orders] == ["0.45"]


# -- state section ----------------------------------------------------------------------------------------


def market(**changes) -> dict:
    return {**DEFAULT_SECTION["markets"][0], **changes}


@pytest.mark.parametrize(
    "section, field",
    [
        ({"markets": [market(tick_size="0.02")]}, "poly.markets[0].tick_size"),
        ({"markets": [market(tick_size=0.01)]}, "poly.markets[0].tick_size"),  # floats are refused
        ({"markets": [market(domain_version=1)]}, "poly.markets[0].domain_version"),
        ({"markets": [market(condition_id="0x12")]}, "poly.markets[0].condition_id"),
        (
            {
                "markets": [
                    market(
                        tokens=[
                            {
                                "token_id": "1",
                                "bids": [{"price": "0.5", "size": "1"}],
                                "asks": [{"price": "0.5", "size": "1"}],
                            }
                        ]
                    )
                ]
            },
            "poly.markets[0].tokens[0]",
        ),
        (
            {"markets": [market(tokens=[{"token_id": "1", "asks": [{"price": "0.505", "size": "1"}]}])]},
            "poly.markets[0].tokens[0].asks[0].price",
        ),
        (
            {"markets": [market(tokens=[{"token_id": "1", "asks": [{"price": "0.5", "size": "1.001"}]}])]},
            "poly.markets[0].tokens[0].asks[0].size",
        ),
        ({"accounts": [{"address": "0x12"}]}, "poly.accounts[0].address"),
        ({"accounts": [{"address": HARDHAT_ADDRESS, "signature_type": 2}]}, "poly.accounts[0].funder"),
        ({"accounts": [{"address": HARDHAT_ADDRESS, "positions": {"9": "1"}}]}, "poly.accounts[0].positions.9"),
        ({"confirmed_after_s": 1}, "poly.confirmed_after_s"),
    ],
)
def test_bad_state_names_the_field(section, field):
    with pytest.raises(StateError) as caught:
        parse_section(section)
    assert caught.value.where == field, str(caught.value)
