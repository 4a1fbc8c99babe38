"""The paper Kalshi exchange over HTTP, against the real payloads in tests/data/payloads/kalshi/.

Each scenario replays what the Fortuna demo recording did (same book: YES bid 0.47 x 3, NO bid 0.48 x 3)
and compares status, keys, value types and decimal formats with the recorded answer; error bodies
are compared whole. Fields Kalshi removed after the June-2026 recordings are dropped from the
expectation (see simulator/kalshi/wire.py).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from corpus import payload_dir

from clients.kalshi.auth import auth_headers
from simulator.clock import SimClock
from simulator.faults import FaultInjector
from simulator.kalshi import create_kalshi_app

PAYLOADS = payload_dir("kalshi")
REMOVED_SINCE_RECORDING = {"service", "resting_orders_count", "fractional_trading_enabled", "response_price_units"}
# Required by the official SDK's models since the recordings (kalshi-python-async 3.28.0 and 3.31.0; docs/wire/kalshi.md
# §10), with their JSON types: the simulator sends them, so the expected shape is the recorded one plus these.
ADDED_SINCE_RECORDING = {
    "fill": {"exchange_index": "int"},
    "market_position": {"exchange_index": "int"},
    "market": {"exchange_index": "int", "settlement_bounds_type": "str"},
}
T = "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP"
ORDERS = "/trade-api/v2/portfolio/events/orders"
SECTION = {
    "markets": [
        {
            "ticker": T,
            "event_ticker": "KXWTACHALLENGERMATCH-26JUN11JIMLEP",
            "title": "Lepchenko to win?",
            "yes_sub_title": "Varvara Lepchenko",
            "no_sub_title": "Varvara Lepchenko",
            "custom_strike": {"tennis_competitor": "367dcce8-d796-4ed5-80ff-ddec69845a41"},
            "early_close_condition": "This market will close and expire after a winner is declared.",
            "book": {"yes_dollars": [["0.4700", "3.00"]], "no_dollars": [["0.4800", "3.00"]]},
        },
        {"ticker": "KXOTHER-26DEC31-X", "status": "active"},
    ],
    # The recorded demo balance (June 2026) is kept to the centicent, as a direct member's is (docs/wire/kalshi.md,
    # fee rounding): the account is one here so the recording's figures carry over.
    "accounts": [{"name": "default", "balance": "98.0186", "direct_member": True}],
}

_DEC = re.compile(r"^-?\d+\.(\d+)$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def shape(value: Any) -> Any:
    """Keys, JSON types and string formats (decimal places, RFC3339, UUID) of a body."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k not in REMOVED_SINCE_RECORDING}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return type(value).__name__
    if isinstance(value, str):
        if match := _DEC.match(value):
            return f"decimal/{len(match.group(1))}dp"
        return "time" if _TIME.match(value) else "uuid" if _UUID.match(value) else "str"
    return "null"


def real(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())["payload"]


def real_error(name: str) -> Any:
    body = real(name)
    return {"error": {k: v for k, v in body["error"].items() if k not in REMOVED_SINCE_RECORDING}}


@dataclass
class Kalshi:
    client: Any
    clock: SimClock
    key_id: str
    private_key: Any

    async def call(
        self, method: str, path: str, body: Any = None, *, sign_path: str | None = None, ts_ms: int | None = None
    ) -> tuple[int, Any]:
        ts = self.clock.now_ms() if ts_ms is None else ts_ms
        headers = auth_headers(self.key_id, self.private_key, method, sign_path or path, ts)
        data = json.dumps(body) if body is not None else None
        response = await self.client.request(method, path, data=data, headers=headers)
        text = await response.text()
        return response.status, json.loads(text) if text else None

    async def order(self, **fields: Any) -> tuple[int, Any]:
        body = {
            "ticker": T,
            "side": "bid",
            "count": "1.00",
            "price": "0.0100",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
            "client_order_id": str(uuid.uuid4()),
        } | fields
        return await self.call("POST", ORDERS, body)

    async def admin(self, path: str, body: Any) -> Any:
        response = await self.client.post(f"/__sim{path}", json=body)
        assert response.status < 300, await response.text()
        return await response.json()


@pytest.fixture
async def kalshi(aiohttp_client: Any, kalshi_credentials: tuple[str, Any, str]) -> Kalshi:
    clock = SimClock()
    client = await aiohttp_client(create_kalshi_app(SECTION, clock, FaultInjector()))
    key_id, private_key, pem = kalshi_credentials
    harness = Kalshi(client, clock, key_id, private_key)
    await harness.admin("/kalshi/keys", {"key_id": key_id, "public_key_pem": pem})
    return harness


async def test_maker_order_lifecycle_matches_recording(kalshi: Kalshi) -> None:
    status, created = await kalshi.order(post_only=False)
    assert status == 201
    assert shape(created) == shape(real("real_demo__orders__create_v2_maker"))
    assert (created["fill_count"], created["remaining_count"]) == ("0.00", "1.00")

    status, got = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{created['order_id']}")
    assert status == 200
    assert shape(got) == shape(real("real_demo__orders__get_after_create"))
    assert got["order"]["status"] == "resting" and got["order"]["no_price_dollars"] == "0.9900"

    status, duplicate = await kalshi.order(client_order_id=created["client_order_id"])
    assert (status, duplicate) == (409, real_error("real_demo__orders__duplicate_client_order_id"))

    status, canceled = await kalshi.call("DELETE", f"{ORDERS}/{created['order_id']}")
    assert status == 200
    assert shape(canceled) == shape(real("real_demo__orders__cancel_v2"))
    assert canceled["reduced_by"] == "1.00"

    status, again = await kalshi.call("DELETE", f"{ORDERS}/{created['order_id']}")
    assert (status, again) == (404, real_error("real_demo__orders__cancel_already_canceled"))
    status, reused = await kalshi.order(client_order_id=created["client_order_id"])
    assert (status, reused) == (409, real_error("real_demo__orders__reuse_canceled_client_id"))
    status, unknown = await kalshi.call("DELETE", f"{ORDERS}/00000000-0000-0000-0000-000000000000")
    assert (status, unknown) == (404, real_error("real_demo__orders__cancel_unknown_id"))


async def test_ioc_taker_fills_fees_positions_balance_match_recording(kalshi: Kalshi) -> None:
    status, taker = await kalshi.order(price="0.9900", time_in_force="immediate_or_cancel")
    assert status == 201
    recorded = real("real_demo__orders__create_v2_taker_ioc")
    assert shape(taker) == shape(recorded)
    # Same book as the recording, so the same numbers: filled at the 0.52 ask, fee 0.07*.52*.48 rounded up.
    assert {k: taker[k] for k in ("average_fee_paid", "average_fill_price", "fill_count", "remaining_count")} == {
        k: recorded[k] for k in ("average_fee_paid", "average_fill_price", "fill_count", "remaining_count")
    }

    status, fills = await kalshi.call("GET", "/trade-api/v2/portfolio/fills?limit=10")
    expected = shape(real("real_demo__fills__after_taker"))
    expected["fills"][0] |= ADDED_SINCE_RECORDING["fill"]
    assert status == 200 and shape(fills) == expected
    fill = fills["fills"][0]
    assert fill["exchange_index"] == 0
    assert (fill["fee_cost"], fill["yes_price_dollars"], fill["no_price_dollars"], fill["is_taker"]) == (
        "0.017500",
        "0.5200",
        "0.4800",
        True,
    )
    assert fills["cursor"] == ""

    status, order = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{taker['order_id']}")
    assert order["order"]["status"] == "executed"
    assert (order["order"]["taker_fill_cost_dollars"], order["order"]["taker_fees_dollars"]) == ("0.520000", "0.017500")

    status, listed = await kalshi.call("GET", "/trade-api/v2/portfolio/orders?limit=10")
    assert status == 200 and shape(listed) == shape(real("real_demo__portfolio__orders_list"))

    status, positions = await kalshi.call("GET", "/trade-api/v2/portfolio/positions")
    expected = shape(real("real_demo__portfolio__positions"))
    expected["market_positions"][0] |= ADDED_SINCE_RECORDING["market_position"]
    assert status == 200 and shape(positions) == expected
    assert positions["market_positions"][0]["exchange_index"] == 0
    assert positions["market_positions"][0]["position_fp"] == "1.00"
    assert positions["market_positions"][0]["market_exposure_dollars"] == "0.520000"

    status, balance = await kalshi.call("GET", "/trade-api/v2/portfolio/balance")
    assert status == 200 and shape(balance) == shape(real("real_demo__auth__balance_ok"))
    assert balance["balance_dollars"] == "97.4811"  # 98.0186 - 0.52 - 0.0175
    assert balance["balance"] == 9748

    status, executed = await kalshi.call("DELETE", f"{ORDERS}/{taker['order_id']}")
    assert (status, executed) == (404, real_error("real_demo__orders__cancel_executed"))


async def test_a_non_direct_members_balance_answer_is_whole_cents(
    aiohttp_client: Any, kalshi_credentials: tuple[str, Any, str]
) -> None:
    """The default account is an ordinary API user's: the same fill as above, 0.52 + fee 0.0175 = 0.5375, takes
    98.01 to 97.4725, floored to the cent (docs/wire/kalshi.md, fee rounding); fee_cost still shows the trade fee."""
    clock = SimClock()
    section = SECTION | {"accounts": [{"name": "default", "balance": "98.01"}]}
    client = await aiohttp_client(create_kalshi_app(section, clock, FaultInjector()))
    key_id, private_key, pem = kalshi_credentials
    kalshi = Kalshi(client, clock, key_id, private_key)
    await kalshi.admin("/kalshi/keys", {"key_id": key_id, "public_key_pem": pem})
    status, taker = await kalshi.order(price="0.9900", time_in_force="immediate_or_cancel")
    assert (status, taker["average_fee_paid"]) == (201, "0.0175")
    _, balance = await kalshi.call("GET", "/trade-api/v2/portfolio/balance")
    assert (balance["balance"], balance["balance_dollars"]) == (9747, "97.4700")
    _, fills = await kalshi.call("GET", "/trade-api/v2/portfolio/fills")
    assert fills["fills"][0]["fee_cost"] == "0.017500"
    _, positions = await kalshi.call("GET", "/trade-api/v2/portfolio/positions")
    assert positions["market_positions"][0]["fees_paid_dollars"] == "0.017500"


async def test_order_refusals_have_the_real_bodies(kalshi: Kalshi) -> None:
    request = real("real_demo__orders__insufficient_balance__request")
    assert await kalshi.call("POST", ORDERS, request) == (400, real_error("real_demo__orders__insufficient_balance"))
    request = real("real_demo__orders__invalid_price_structure__request")
    assert await kalshi.call("POST", ORDERS, request) == (400, real("real_prod_pasted__invalid_price_400"))
    request = real("real_demo__orders__numeric_field_types__request")
    assert await kalshi.call("POST", ORDERS, request) == (400, real("real_demo__orders__numeric_field_types"))
    request = real("real_demo__orders__post_only_cross__request")
    assert await kalshi.call("POST", ORDERS, request) == (400, real("real_demo__orders__post_only_cross"))
    status, body = await kalshi.order(ticker="KXNOPE-1")
    assert (status, body) == (404, {"error": {"code": "market_not_found", "message": "market not found"}})
    status, body = await kalshi.order(price="0.5000", count="5.00", time_in_force="fill_or_kill")
    assert status == 409 and body["error"]["code"] == "fill_or_kill_insufficient_resting_volume"
    status, body = await kalshi.order(side="buy")
    assert (status, body) == (400, {"error": {"code": "invalid_parameters", "message": "invalid parameters"}})
    status, body = await kalshi.order(count="1.005")
    assert status == 400 and body["error"]["code"] == "invalid_order_size"
    status, body = await kalshi.order(time_in_force="immediate_or_cancel", expiration_time=int(kalshi.clock.now()) + 60)
    assert status == 400 and body["error"]["code"] == "invalid_order"


async def test_market_status_refusals(kalshi: Kalshi) -> None:
    await kalshi.admin(f"/kalshi/markets/{T}/status", {"status": "paused"})
    assert await kalshi.order() == (409, real("real_prod_pasted__trading_is_paused_409"))
    await kalshi.admin(f"/kalshi/markets/{T}/status", {"status": "closed"})
    status, body = await kalshi.order()
    assert (status, body["error"]["code"]) == (409, "market_closed")
    _, market = await kalshi.call("GET", f"/trade-api/v2/markets/{T}")
    assert market["market"]["status"] == "closed"
    _, listed = await kalshi.call("GET", "/trade-api/v2/markets?status=open")
    assert [m["ticker"] for m in listed["markets"]] == ["KXOTHER-26DEC31-X"]


async def test_self_trade_prevention_kills_the_taker_like_the_recording(kalshi: Kalshi) -> None:
    status, resting = await kalshi.order(price="0.4800")
    assert status == 201 and resting["remaining_count"] == "1.00"
    request = real("real_demo__orders__stp_self_cross__request") | {"ticker": T, "client_order_id": str(uuid.uuid4())}
    status, killed = await kalshi.call("POST", ORDERS, request)
    assert status == 201
    assert shape(killed) == shape(real("real_demo__orders__stp_self_cross"))
    assert (killed["fill_count"], killed["remaining_count"]) == ("0.00", "0.00")
    _, after = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{resting['order_id']}")
    assert shape(after) == shape(real("real_demo__orders__stp_resting_after"))
    assert after["order"]["status"] == "resting"


async def test_market_orderbook_and_status_match_recording(kalshi: Kalshi) -> None:
    status, market = await kalshi.call("GET", f"/trade-api/v2/markets/{T}")
    expected = shape(real("real_demo__markets__single"))
    expected["market"] |= ADDED_SINCE_RECORDING["market"]
    assert status == 200 and shape(market) == expected
    assert (market["market"]["settlement_bounds_type"], market["market"]["exchange_index"]) == ("default", 0)
    recorded = real("real_demo__markets__single")["market"]
    for key in (
        "yes_bid_dollars",
        "yes_ask_dollars",
        "no_bid_dollars",
        "no_ask_dollars",
        "yes_bid_size_fp",
        "yes_ask_size_fp",
        "price_ranges",
        "status",
        "market_type",
    ):
        assert market["market"][key] == recorded[key], key
    status, book = await kalshi.call("GET", f"/trade-api/v2/markets/{T}/orderbook")
    assert (status, book) == (200, real("real_demo__orderbook__base"))
    status, empty = await kalshi.call("GET", "/trade-api/v2/markets/KXOTHER-26DEC31-X/orderbook")
    assert (status, empty) == (200, {"orderbook_fp": {"no_dollars": [], "yes_dollars": []}})  # the SDK requires both
    status, exchange = await kalshi.call("GET", "/trade-api/v2/exchange/status")
    assert (status, exchange) == (200, real("real_demo__exchange__status"))
    status, over = await kalshi.call("GET", "/trade-api/v2/markets?limit=1001")
    assert (status, over) == (400, real("real_demo__markets__limit_over_max"))
    status, missing = await kalshi.call("GET", "/trade-api/v2/markets/KXNOPE-1")
    assert (status, missing["error"]["code"]) == (404, "market_not_found")


async def test_public_market_data_needs_no_signature(kalshi: Kalshi) -> None:
    response = await kalshi.client.get(f"/trade-api/v2/markets/{T}/orderbook")
    assert response.status == 200
    response = await kalshi.client.get("/trade-api/v2/portfolio/balance")
    assert (response.status, await response.json()) == (401, real("real_demo__auth__missing_signature_header"))


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/trade-api/v2/portfolio/orders"),
        ("DELETE", "/trade-api/v2/portfolio/orders/abc"),
        ("POST", "/trade-api/v2/portfolio/orders/abc/amend"),
        ("POST", "/trade-api/v2/portfolio/orders/abc/decrease"),
        ("POST", "/trade-api/v2/portfolio/orders/batched"),
        ("DELETE", "/trade-api/v2/portfolio/orders/batched"),
    ],
)
async def test_retired_v1_writes_answer_410(kalshi: Kalshi, method: str, path: str) -> None:
    assert await kalshi.call(method, path, {}) == (410, real("real_prod_pasted__deprecated_v1_create_410"))


async def test_auth_failures_have_the_real_bodies(kalshi: Kalshi, kalshi_credentials: tuple[str, Any, str]) -> None:
    path = "/trade-api/v2/portfolio/balance"
    now = kalshi.clock.now_ms()
    assert await kalshi.call("GET", path, ts_ms=now - 30_000) == (401, real("real_demo__auth__skew_minus30s"))
    assert await kalshi.call("GET", path, ts_ms=now + 300_000) == (401, real("real_demo__auth__skew_plus5min"))
    assert (await kalshi.call("GET", path, ts_ms=now - 5_000))[0] == 200
    # the signature must cover /trade-api/v2 and leave the query out
    assert await kalshi.call("GET", path, sign_path="/portfolio/balance") == (
        401,
        real("real_demo__auth__bad_signature"),
    )
    orders = "/trade-api/v2/portfolio/orders?limit=5"
    assert (await kalshi.call("GET", orders))[0] == 200
    assert await kalshi.call("GET", orders, sign_path=orders.replace("?", "%3F")) == (
        401,
        real("real_demo__auth__bad_signature"),
    )
    headers = auth_headers(kalshi.key_id, kalshi.private_key, "GET", path, now)
    tampered = headers | {"KALSHI-ACCESS-SIGNATURE": headers["KALSHI-ACCESS-SIGNATURE"][::-1]}
    response = await kalshi.client.get(path, headers=tampered)
    assert (response.status, await response.json()) == (401, real("real_demo__auth__bad_signature"))
    unknown = headers | {"KALSHI-ACCESS-KEY": str(uuid.uuid4())}
    response = await kalshi.client.get(path, headers=unknown)
    assert (response.status, await response.json()) == (401, real("real_demo__auth__unknown_key_id"))
    superscript = headers | {"KALSHI-ACCESS-TIMESTAMP": f"{now}\u00b2"}  # "²": a digit to str.isdigit, not to int()
    response = await kalshi.client.get(path, headers=superscript)
    assert (response.status, await response.json()) == (401, real("real_demo__auth__skew_minus30s"))
    missing = {k: v for k, v in headers.items() if k != "KALSHI-ACCESS-SIGNATURE"}
    response = await kalshi.client.get(path, headers=missing)
    assert (response.status, await response.json()) == (401, real("real_demo__auth__missing_signature_header"))


async def test_skew_window_follows_the_sim_clock(kalshi: Kalshi) -> None:
    wall = kalshi.clock.now_ms()
    await kalshi.admin("/clock/advance", {"seconds": 60})
    assert await kalshi.call("GET", "/trade-api/v2/portfolio/balance", ts_ms=wall) == (
        401,
        real("real_demo__auth__skew_minus30s"),
    )
    assert (await kalshi.call("GET", "/trade-api/v2/portfolio/balance"))[0] == 200


async def test_pagination_ends_with_empty_cursor(kalshi: Kalshi) -> None:
    ids = [(await kalshi.order())[1]["order_id"] for _ in range(3)]
    status, first = await kalshi.call("GET", "/trade-api/v2/portfolio/orders?limit=2")
    assert status == 200 and len(first["orders"]) == 2 and first["cursor"] != ""
    status, second = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders?limit=2&cursor={first['cursor']}")
    assert len(second["orders"]) == 1 and second["cursor"] == ""
    assert {o["order_id"] for o in first["orders"] + second["orders"]} == set(ids)
    assert [o["order_id"] for o in first["orders"]] == ids[::-1][:2]  # newest first
    status, resting = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders?status=resting&ticker={T}")
    assert len(resting["orders"]) == 3


async def test_batch_create_and_cancel(kalshi: Kalshi) -> None:
    good = {
        "ticker": T,
        "side": "bid",
        "count": "2.00",
        "price": "0.0500",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        "client_order_id": str(uuid.uuid4()),
    }
    taker = good | {
        "side": "ask",
        "price": "0.4700",
        "count": "1.00",
        "time_in_force": "immediate_or_cancel",
        "client_order_id": str(uuid.uuid4()),
    }
    bad = good | {"price": "0.0550", "client_order_id": str(uuid.uuid4())}
    status, batch = await kalshi.call("POST", f"{ORDERS}/batched", {"orders": [good, taker, bad]})
    assert status == 201
    assert shape(batch["orders"][1]) == shape(real("official_openapi__batch_create_orders_v2_response")["orders"][1])
    assert batch["orders"][0]["remaining_count"] == "2.00"
    assert (batch["orders"][1]["fill_count"], batch["orders"][1]["average_fill_price"]) == ("1.00", "0.4700")
    assert batch["orders"][2] == {
        "client_order_id": bad["client_order_id"],
        "error": {"code": "invalid_price", "message": "invalid price"},
    }
    status, numeric = await kalshi.call("POST", f"{ORDERS}/batched", {"orders": [good | {"count": 2}]})
    assert status == 400 and numeric["code"] == "bad_request"
    first = batch["orders"][0]["order_id"]
    status, canceled = await kalshi.call(
        "DELETE", f"{ORDERS}/batched", {"orders": [{"order_id": first}, {"order_id": "nope"}]}
    )
    assert status == 200
    assert canceled["orders"][0]["reduced_by"] == "2.00"
    assert canceled["orders"][1]["error"]["code"] == "not_found"


async def test_amend_and_decrease(kalshi: Kalshi) -> None:
    _, order = await kalshi.order(count="10.00", price="0.4000")
    path = f"{ORDERS}/{order['order_id']}"
    amend = {
        "ticker": T,
        "side": "bid",
        "price": "0.4000",
        "count": "8.00",
        "client_order_id": order["client_order_id"],
        "updated_client_order_id": str(uuid.uuid4()),
    }
    status, amended = await kalshi.call("POST", f"{path}/amend", amend)
    assert status == 200
    assert shape(amended) == shape(real("official_openapi__amend_order_v2_response"))
    assert (amended["remaining_count"], amended["client_order_id"]) == ("8.00", amend["updated_client_order_id"])
    status, reused = await kalshi.call("POST", f"{path}/amend", amend | {"client_order_id": ""})
    assert (status, reused["error"]["code"]) == (409, "order_already_exists")  # updated id already taken
    amend = amend | {"client_order_id": "", "updated_client_order_id": ""}
    # moving the price across the 0.52 ask trades it as a taker
    status, crossed = await kalshi.call("POST", f"{path}/amend", amend | {"price": "0.5200"})
    assert status == 200 and crossed["fill_count"] == "3.00" and crossed["remaining_count"] == "5.00"
    status, mismatch = await kalshi.call("POST", f"{path}/amend", amend | {"side": "ask"})
    assert (status, mismatch["error"]["code"]) == (400, "order_side_mismatch")
    status, decreased = await kalshi.call("POST", f"{path}/decrease", {"reduce_by": "2.00"})
    assert status == 200 and shape(decreased) == shape(real("official_openapi__decrease_order_v2_response"))
    assert decreased["remaining_count"] == "3.00"
    status, both = await kalshi.call("POST", f"{path}/decrease", {"reduce_by": "1.00", "reduce_to": "1.00"})
    assert (status, both["error"]["code"]) == (400, "invalid_parameters")
    status, gone = await kalshi.call("POST", f"{path}/decrease", {"reduce_to": "0.00"})
    assert status == 200 and gone["remaining_count"] == "0.00"
    _, final = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{order['order_id']}")
    assert final["order"]["status"] == "canceled" and final["order"]["fill_count_fp"] == "3.00"


async def test_cancel_all_answers_204(kalshi: Kalshi) -> None:
    await kalshi.order()
    await kalshi.order()
    assert await kalshi.call("DELETE", ORDERS) == (204, None)
    _, resting = await kalshi.call("GET", "/trade-api/v2/portfolio/orders?status=resting")
    assert resting["orders"] == []


async def test_clock_advance_expires_gtc_orders(kalshi: Kalshi) -> None:
    expires = int(kalshi.clock.now()) + 30
    _, order = await kalshi.order(expiration_time=expires)
    _, before = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{order['order_id']}")
    assert before["order"]["status"] == "resting" and before["order"]["expiration_time"].endswith("Z")
    await kalshi.admin("/clock/advance", {"seconds": 31})
    _, after = await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{order['order_id']}")
    assert after["order"]["status"] == "canceled"
    status, past = await kalshi.order(expiration_time=expires)
    assert (status, past["error"]["details"]) == (400, "Expiration timestamp must be in the future")


# The fields kalshi-python-async 3.34.0's response models require (kalshi_python_async/models/*.py) with the
# JSON type each needs ("count": fixed-point 2 dp; "dollars": up to 6 dp, as the models' descriptions say), and
# their enums: the machine-readable form of Kalshi's schema. tools/interop/ runs the SDK itself where a
# Python >= 3.13 exists; this keeps the simulator to the same fields everywhere else.
TIME, COUNT, DOLLARS = "time", "count", "dollars"
SDK_REQUIRED: dict[str, dict[str, Any]] = {
    "Market": {
        "ticker": str,
        "event_ticker": str,
        "market_type": str,
        "yes_sub_title": str,
        "no_sub_title": str,
        "created_time": TIME,
        "updated_time": TIME,
        "open_time": TIME,
        "close_time": TIME,
        "latest_expiration_time": TIME,
        "settlement_timer_seconds": int,
        "status": str,
        "yes_bid_dollars": DOLLARS,
        "yes_bid_size_fp": COUNT,
        "yes_ask_dollars": DOLLARS,
        "yes_ask_size_fp": COUNT,
        "no_bid_dollars": DOLLARS,
        "no_ask_dollars": DOLLARS,
        "last_price_dollars": DOLLARS,
        "volume_fp": COUNT,
        "volume_24h_fp": COUNT,
        "result": str,
        "can_close_early": bool,
        "open_interest_fp": COUNT,
        "notional_value_dollars": DOLLARS,
        "previous_yes_bid_dollars": DOLLARS,
        "previous_yes_ask_dollars": DOLLARS,
        "previous_price_dollars": DOLLARS,
        "settlement_bounds_type": str,
        "expiration_value": str,
        "rules_primary": str,
        "rules_secondary": str,
        "price_level_structure": str,
        "price_ranges": list,
    },
    "Order": {
        "order_id": str,
        "user_id": str,
        "client_order_id": str,
        "ticker": str,
        "outcome_side": str,
        "book_side": str,
        "type": str,
        "status": str,
        "yes_price_dollars": DOLLARS,
        "no_price_dollars": DOLLARS,
        "fill_count_fp": COUNT,
        "remaining_count_fp": COUNT,
        "initial_count_fp": COUNT,
        "taker_fill_cost_dollars": DOLLARS,
        "maker_fill_cost_dollars": DOLLARS,
        "taker_fees_dollars": DOLLARS,
        "maker_fees_dollars": DOLLARS,
    },
    "Fill": {
        "fill_id": str,
        "exchange_index": int,
        "trade_id": str,
        "order_id": str,
        "ticker": str,
        "market_ticker": str,
        "outcome_side": str,
        "book_side": str,
        "count_fp": COUNT,
        "yes_price_dollars": DOLLARS,
        "no_price_dollars": DOLLARS,
        "is_taker": bool,
        "fee_cost": DOLLARS,
    },
    "MarketPosition": {
        "ticker": str,
        "exchange_index": int,
        "total_traded_dollars": DOLLARS,
        "position_fp": COUNT,
        "market_exposure_dollars": DOLLARS,
        "realized_pnl_dollars": DOLLARS,
        "fees_paid_dollars": DOLLARS,
        "last_updated_ts": TIME,
    },
    "EventPosition": {
        "event_ticker": str,
        "total_cost_dollars": DOLLARS,
        "total_cost_shares_fp": COUNT,
        "event_exposure_dollars": DOLLARS,
        "realized_pnl_dollars": DOLLARS,
        "fees_paid_dollars": DOLLARS,
    },
    "GetBalanceResponse": {"balance": int, "balance_dollars": DOLLARS, "portfolio_value": int, "updated_ts": int},
    "CreateOrderV2Response": {"order_id": str, "fill_count": COUNT, "remaining_count": COUNT, "ts_ms": int},
    "AmendOrderV2Response": {"order_id": str, "ts_ms": int},
    "DecreaseOrderV2Response": {"order_id": str, "remaining_count": COUNT, "ts_ms": int},
    "CancelOrderV2Response": {"order_id": str, "reduced_by": COUNT, "ts_ms": int},
    "OrderbookCountFp": {"yes_dollars": list, "no_dollars": list},
    "ExchangeStatus": {"exchange_active": bool, "trading_active": bool},
}
SDK_ENUMS: dict[str, dict[str, set[str]]] = {
    "Market": {
        "status": {"initialized", "inactive", "active", "closed", "determined", "disputed", "amended", "finalized"},
        "market_type": {"binary", "scalar"},
        "result": {"yes", "no", "scalar", ""},
        "settlement_bounds_type": {"default", "floor"},
        "strike_type": {
            "greater",
            "greater_or_equal",
            "less",
            "less_or_equal",
            "between",
            "functional",
            "custom",
            "structured",
        },
    },
    "Order": {
        "type": {"limit", "market"},
        "status": {"resting", "canceled", "executed"},
        "outcome_side": {"yes", "no"},
        "book_side": {"bid", "ask"},
    },
    "Fill": {"outcome_side": {"yes", "no"}, "book_side": {"bid", "ask"}},
}
_FORMATS = {TIME: _TIME, COUNT: re.compile(r"^-?\d+\.\d{2}$"), DOLLARS: re.compile(r"^-?\d+\.\d{1,6}$")}


def sdk_problems(model: str, body: dict[str, Any]) -> list[str]:
    """What the official SDK's model `model` would refuse in `body`: a missing field, a wrong type or format."""
    problems = []
    for field, kind in SDK_REQUIRED[model].items():
        value = body.get(field)
        if isinstance(kind, str):
            ok = isinstance(value, str) and _FORMATS[kind].match(value) is not None
        else:
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not ok:
            problems.append(f"{model}.{field} = {value!r}")
    for field, allowed in SDK_ENUMS.get(model, {}).items():
        if field in body and body[field] not in allowed:
            problems.append(f"{model}.{field} = {body[field]!r} is not one of {sorted(allowed)}")
    return problems


async def test_every_answer_has_what_the_official_sdk_models_require(kalshi: Kalshi) -> None:
    answers: list[tuple[str, Any]] = []
    status, taker = await kalshi.order(price="0.5200", time_in_force="immediate_or_cancel")
    answers.append(("CreateOrderV2Response", taker))
    _, maker = await kalshi.order(price="0.3000", count="3.00", expiration_time=int(kalshi.clock.now()) + 600)
    answers.append(("CreateOrderV2Response", maker))
    for order_id in (taker["order_id"], maker["order_id"]):
        answers.append(("Order", (await kalshi.call("GET", f"/trade-api/v2/portfolio/orders/{order_id}"))[1]["order"]))
    amend = {"ticker": T, "side": "bid", "price": "0.3100", "count": "3.00"}
    answers.append(
        ("AmendOrderV2Response", (await kalshi.call("POST", f"{ORDERS}/{maker['order_id']}/amend", amend))[1])
    )
    decrease = (await kalshi.call("POST", f"{ORDERS}/{maker['order_id']}/decrease", {"reduce_by": "1.00"}))[1]
    answers.append(("DecreaseOrderV2Response", decrease))
    _, fills = await kalshi.call("GET", "/trade-api/v2/portfolio/fills")
    answers += [("Fill", fill) for fill in fills["fills"]]
    _, positions = await kalshi.call("GET", "/trade-api/v2/portfolio/positions")
    answers += [("MarketPosition", p) for p in positions["market_positions"]]
    answers += [("EventPosition", p) for p in positions["event_positions"]]
    answers.append(("GetBalanceResponse", (await kalshi.call("GET", "/trade-api/v2/portfolio/balance"))[1]))
    _, markets = await kalshi.call("GET", "/trade-api/v2/markets")
    answers += [("Market", m) for m in markets["markets"]]
    for ticker in (T, "KXOTHER-26DEC31-X"):
        book = (await kalshi.call("GET", f"/trade-api/v2/markets/{ticker}/orderbook"))[1]["orderbook_fp"]
        answers.append(("OrderbookCountFp", book))
    answers.append(("ExchangeStatus", (await kalshi.call("GET", "/trade-api/v2/exchange/status"))[1]))
    answers.append(("CancelOrderV2Response", (await kalshi.call("DELETE", f"{ORDERS}/{maker['order_id']}"))[1]))
    assert status == 201 and len(answers) >= 15
    assert [p for model, body in answers for p in sdk_problems(model, body)] == []
    assert sdk_problems("Fill", {k: v for k, v in fills["fills"][0].items() if k != "exchange_index"}) == [
        "Fill.exchange_index = None"
    ]  # the check itself bites


async def test_unknown_paths_and_methods_answer_in_kalshi_error_shape(kalshi: Kalshi) -> None:
    assert await kalshi.call("GET", "/trade-api/v2/no/such/endpoint") == (
        404,
        {"error": {"code": "not_found", "message": "not found"}},
    )
    wrong = await kalshi.client.put(f"/trade-api/v2/markets/{T}")
    assert (wrong.status, await wrong.json()) == (
        405,
        {"error": {"code": "method_not_allowed", "message": "method not allowed"}},
    )
    assert "GET" in wrong.headers["Allow"]
    admin = await kalshi.client.get("/__sim/kalshi/no-such-thing")
    assert admin.status == 404 and admin.content_type == "text/plain"  # the admin API is not the exchange


async def test_settlement_pays_winners_and_moves_positions_to_settled(kalshi: Kalshi) -> None:
    await kalshi.order(price="0.5200", count="2.00", time_in_force="immediate_or_cancel")
    _, before = await kalshi.call("GET", "/trade-api/v2/portfolio/balance")
    await kalshi.admin("/kalshi/settle", {"ticker": T, "result": "yes"})
    _, after = await kalshi.call("GET", "/trade-api/v2/portfolio/balance")
    assert after["balance"] - before["balance"] == 200
    _, open_positions = await kalshi.call("GET", "/trade-api/v2/portfolio/positions")
    assert open_positions["market_positions"] == []
    _, settled = await kalshi.call("GET", "/trade-api/v2/portfolio/positions?settlement_status=settled")
    position = settled["market_positions"][0]
    assert position["position_fp"] == "0.00"
    assert position["realized_pnl_dollars"] == "0.960000"  # 2 x (1 - 0.52)
    status, body = await kalshi.order()
    assert (status, body["error"]["code"]) == (409, "market_closed")


async def test_admin_book_balance_and_inspection(kalshi: Kalshi) -> None:
    book = await kalshi.admin(
        "/kalshi/book", {"ticker": T, "yes_dollars": [["0.3000", "5.00"]], "no_dollars": [["0.6000", "7.00"]]}
    )
    assert book == {"orderbook_fp": {"no_dollars": [["0.6000", "7.00"]], "yes_dollars": [["0.3000", "5.00"]]}}
    balance = await kalshi.admin("/kalshi/balance", {"balance": "5.00"})
    assert balance["balance_dollars"] == "5.0000"
    status, body = await kalshi.order(price="0.4000", count="10.00", time_in_force="immediate_or_cancel")
    assert (status, body["fill_count"]) == (201, "7.00")  # NO bid 0.60 = YES ask 0.40
    fills = await (await kalshi.client.get("/__sim/kalshi/fills")).json()
    assert [f["count_fp"] for f in fills["fills"]] == ["7.00"]
    crossed = await kalshi.client.post(
        "/__sim/kalshi/book",
        json={"ticker": T, "yes_dollars": [["0.5000", "1.00"]], "no_dollars": [["0.6000", "1.00"]]},
    )
    assert crossed.status == 400 and "crossed" in (await crossed.json())["sim_error"]
    off_grid = await kalshi.client.post("/__sim/kalshi/balance", json={"balance": 5.5})
    assert off_grid.status == 400 and "balance" in (await off_grid.json())["sim_error"]
    await kalshi.admin("/kalshi/reset", {})
    _, reset_book = await kalshi.call("GET", f"/trade-api/v2/markets/{T}/orderbook")
    assert reset_book == real("real_demo__orderbook__base")


async def test_default_fault_bodies(kalshi: Kalshi) -> None:
    await kalshi.admin("/faults", {"method": "POST", "path": ORDERS, "status": 429})
    assert await kalshi.order() == (429, real("official_docs__rate_limit_429_body"))
    assert (await kalshi.order())[0] == 201  # times defaults to 1


async def test_state_file_accounts_and_positions_carry_the_start_time(
    aiohttp_client: Any, kalshi_credentials: tuple[str, Any, str]
) -> None:
    """Not the epoch: a fresh account's balance and a seeded position were last updated when the sim started."""
    start = 1_781_159_348
    clock = SimClock(float(start), source=lambda: 0.0)
    section = SECTION | {
        "accounts": [{"name": "default", "balance": "98.0186", "direct_member": True, "positions": {T: "3.00"}}]
    }
    client = await aiohttp_client(create_kalshi_app(section, clock, FaultInjector()))
    key_id, private_key, pem = kalshi_credentials
    kalshi = Kalshi(client, clock, key_id, private_key)
    await kalshi.admin("/kalshi/keys", {"key_id": key_id, "public_key_pem": pem})
    _, balance = await kalshi.call("GET", "/trade-api/v2/portfolio/balance")
    assert balance["updated_ts"] == start
    _, positions = await kalshi.call("GET", "/trade-api/v2/portfolio/positions")
    assert positions["market_positions"][0]["last_updated_ts"] == "2026-06-11T06:29:08Z"
