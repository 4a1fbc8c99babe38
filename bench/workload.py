"""The request kinds the benchmarks send and the answers bench/upstream.py gives, shaped like real Kalshi traffic.

`create`: a v2 create order (226-byte JSON body) answered by a 201 carrying the whole order (~670 bytes, the
shape of tests/data/payloads/kalshi/real_demo__orders__legacy_create.json). `fills`: GET /portfolio/fills?limit=5
answered by five fills (~2 KB, the shape of real_demo__fills__after_taker.json). Both carry Kalshi's three auth
headers, as a signed client sends them. `mixed` alternates the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

ORDERS = "/trade-api/v2/portfolio/events/orders"
FILLS = "/trade-api/v2/portfolio/fills?limit=5"
# The replay source is recorded with the client_order_id the upstream's answer carries, and the load sends
# another, so every replayed create goes through correlation: learned recorded -> live, the answer rewritten.
RECORDED_ID, LIVE_ID = "4a75f0b2-8f4e-4f59-a2f1-0c1d9e3b7a55", "6f1c2e4a-1111-4b2b-9c3d-5e6f7a8b9c0d"
TICKER = "KXBENCHMATCH-26NOV23ABC-ABC"
FILL_TICKER = "KXBENCH-26NOV23"

CREATE_BODY = orjson.dumps(
    {
        "ticker": TICKER,
        "client_order_id": LIVE_ID,
        "side": "ask",
        "count": "5.00",
        "price": "0.5500",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
    }
).decode()

AUTH_HEADERS = {
    "KALSHI-ACCESS-KEY": "a952bcbe-ec3b-4b5b-b8f9-11dae589608c",
    "KALSHI-ACCESS-TIMESTAMP": "1781159360866",
    # the length of a base64 RSA-PSS 2048 signature
    "KALSHI-ACCESS-SIGNATURE": ("Zm9vYmFyYmF6" * 29)[:342] + "==",
}


def _order(client_order_id: str) -> dict[str, object]:
    return {
        "order": {
            "action": "sell",
            "book_side": "ask",
            "client_order_id": client_order_id,
            "created_time": "2026-11-23T06:29:43.527478Z",
            "fill_count_fp": "5.00",
            "initial_count_fp": "5.00",
            "last_update_time": "2026-11-23T06:29:43.527478Z",
            "maker_fees_dollars": "0.000000",
            "maker_fill_cost_dollars": "0.000000",
            "no_price_dollars": "0.4500",
            "order_id": "2597c0de-6a1c-4b1e-9d0f-2f4b0c6b2a11",
            "outcome_side": "yes",
            "remaining_count_fp": "0.00",
            "side": "yes",
            "status": "executed",
            "taker_fees_dollars": "0.087500",
            "taker_fill_cost_dollars": "2.750000",
            "ticker": TICKER,
            "type": "limit",
            "user_id": "f50604b8-d25a-4b0c-b3c9-ce5b48ffcad0",
            "yes_price_dollars": "0.5500",
        }
    }


def _fill(i: int) -> dict[str, object]:
    fill_id = f"f4a42159-b500-57c6-efa2-c31d94d916c{i}"
    return {
        "action": "buy",
        "book_side": "bid",
        "count_fp": "1.00",
        "created_time": f"2026-11-23T06:29:3{i}.164956Z",
        "fee_cost": "0.017500",
        "fill_id": fill_id,
        "is_taker": True,
        "market_ticker": FILL_TICKER,
        "no_price_dollars": "0.4800",
        "order_id": f"97ec18b7-10d3-4557-9de0-8598aad625f{i}",
        "outcome_side": "yes",
        "side": "yes",
        "subaccount_number": 0,
        "ticker": FILL_TICKER,
        "trade_id": fill_id,
        "ts": 1781159370 + i,
        "yes_price_dollars": "0.5200",
    }


CREATE_ANSWER = orjson.dumps(_order(RECORDED_ID))
FILLS_ANSWER = orjson.dumps({"cursor": "", "fills": [_fill(i) for i in range(5)]})


@dataclass(frozen=True)
class Kind:
    """One request kind: what the client sends."""

    name: str
    method: str
    target: str
    body: str | None

    def headers(self) -> dict[str, str]:
        return {**AUTH_HEADERS, **({"Content-Type": "application/json"} if self.body is not None else {})}


CREATE = Kind("create", "POST", ORDERS, CREATE_BODY)
GET_FILLS = Kind("fills", "GET", FILLS, None)
WORKLOADS: dict[str, tuple[Kind, ...]] = {"mixed": (CREATE, GET_FILLS), "create": (CREATE,), "fills": (GET_FILLS,)}


def upstream_answer(method: str, path: str) -> tuple[int, bytes]:
    """What the exchange stand-in answers: the fills list for a fills GET, else the created order."""
    if method == "GET" and path.endswith("/portfolio/fills"):
        return 200, FILLS_ANSWER
    return 201, CREATE_ANSWER


def wrk_script(kinds: tuple[Kind, ...]) -> str:
    """A wrk Lua script sending the kinds in turn (each wrk connection alternates)."""

    def lua(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    requests = []
    for kind in kinds:
        headers = "{" + ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in kind.headers().items()) + "}"
        body = lua(kind.body) if kind.body is not None else "nil"
        requests.append(f"wrk.format({lua(kind.method)}, {lua(kind.target)}, {headers}, {body})")
    return (
        "local requests = {}\n"
        "local i = 0\n"
        "init = function(args)\n"  # wrk knows the Host header only from here on
        "  requests = {" + ", ".join(requests) + "}\n"
        "end\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return requests[(i - 1) % #requests + 1]\n"
        "end\n"
    )
