"""Every answer of a recorded session through the official SDKs' own response models.

    .venv-interop/bin/python tools/interop/model_walk.py SESSION_DIR

Runs in the interop environment. Each 2xx answer of the session is parsed by the model the SDK uses for
that endpoint: kalshi-python-async's generated models (then the decimal formats their descriptions
promise, as in sdk_calls.py) and polymarket-client's CLOB models and parsers (the unified SDK, which the
call sequence does not drive: this is where its models meet the simulator). Prints JSON (models checked,
problems, answers no model covers) and exits 1 on a problem. Error answers are the call sequence's job.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kalshi_python_async.models as kalshi
from polymarket._internal.actions.orders.market_data import (
    _parse_condition_by_token,
    _parse_market_info,
    _parse_neg_risk,
    _parse_tick_size,
)
from polymarket.models.clob.account import BalanceAllowance, ClobTrade, OpenOrder
from polymarket.models.clob.api_key import ApiKeyCreds
from polymarket.models.clob.cancel import CancelOrdersResponse
from polymarket.models.clob.order_book import OrderBook
from polymarket.models.clob.order_response import RawOrderResponse
from sdk_calls import format_problems

Parser = Callable[[Any], Any]
K = "/trade-api/v2"
ORDERS = f"{K}/portfolio/events/orders"
ID = r"[^/]+"


def kalshi_model(name: str) -> Parser:
    model = getattr(kalshi, name)

    def parse(body: Any) -> Any:
        parsed = model.from_dict(body)
        problems = format_problems(parsed)
        if problems:
            raise ValueError("; ".join(problems))
        return parsed

    parse.__name__ = name
    return parse


def page_of(model: Any) -> Parser:
    """A `{data: [...], next_cursor, ...}` page whose rows are `model`."""

    def parse(body: Any) -> Any:
        return [model.model_validate(row) for row in body["data"]]

    parse.__name__ = f"page of {model.__name__}"
    return parse


def each(model: Any) -> Parser:
    def parse(body: Any) -> Any:
        return [model.model_validate(item) for item in body]

    parse.__name__ = f"list of {model.__name__}"
    return parse


def validator(model: Any) -> Parser:
    def parse(body: Any) -> Any:
        return model.model_validate(body)

    parse.__name__ = model.__name__
    return parse


def version_number(body: Any) -> int:
    """`GET /version`: py-clob-client-v2 reads `version` and signs for it (1, 2; 3 for ExchangeV3 markets)."""
    if type(body.get("version")) is not int:
        raise ValueError(f"version must be an integer, got {body!r}")
    return int(body["version"])


# (exchange, method, path pattern) -> the SDK's parser for that answer
PARSERS: list[tuple[str, str, str, Parser]] = [
    ("kalshi", "GET", f"{K}/portfolio/balance", kalshi_model("GetBalanceResponse")),
    ("kalshi", "GET", f"{K}/exchange/status", kalshi_model("ExchangeStatus")),
    ("kalshi", "GET", f"{K}/markets", kalshi_model("GetMarketsResponse")),
    ("kalshi", "GET", f"{K}/markets/{ID}", kalshi_model("GetMarketResponse")),
    ("kalshi", "GET", f"{K}/markets/{ID}/orderbook", kalshi_model("GetMarketOrderbookResponse")),
    ("kalshi", "POST", ORDERS, kalshi_model("CreateOrderV2Response")),
    ("kalshi", "POST", f"{ORDERS}/batched", kalshi_model("BatchCreateOrdersV2Response")),
    ("kalshi", "DELETE", f"{ORDERS}/batched", kalshi_model("BatchCancelOrdersV2Response")),
    ("kalshi", "DELETE", f"{ORDERS}/{ID}", kalshi_model("CancelOrderV2Response")),
    ("kalshi", "POST", f"{ORDERS}/{ID}/amend", kalshi_model("AmendOrderV2Response")),
    ("kalshi", "POST", f"{ORDERS}/{ID}/decrease", kalshi_model("DecreaseOrderV2Response")),
    ("kalshi", "GET", f"{K}/portfolio/orders", kalshi_model("GetOrdersResponse")),
    ("kalshi", "GET", f"{K}/portfolio/orders/{ID}", kalshi_model("GetOrderResponse")),
    ("kalshi", "GET", f"{K}/portfolio/fills", kalshi_model("GetFillsResponse")),
    ("kalshi", "GET", f"{K}/portfolio/positions", kalshi_model("GetPositionsResponse")),
    ("poly", "GET", "/version", version_number),
    ("poly", "GET", "/book", validator(OrderBook)),
    ("poly", "GET", "/tick-size", _parse_tick_size),
    ("poly", "GET", "/neg-risk", _parse_neg_risk),
    ("poly", "GET", f"/markets-by-token/{ID}", _parse_condition_by_token),
    ("poly", "GET", f"/clob-markets/{ID}", _parse_market_info),
    ("poly", "POST", "/auth/api-key", validator(ApiKeyCreds)),
    ("poly", "GET", "/auth/derive-api-key", validator(ApiKeyCreds)),
    ("poly", "GET", "/balance-allowance", validator(BalanceAllowance)),
    ("poly", "POST", "/order", validator(RawOrderResponse)),
    ("poly", "POST", "/orders", each(RawOrderResponse)),
    ("poly", "GET", f"/data/order/{ID}", validator(OpenOrder)),
    ("poly", "GET", "/data/orders", page_of(OpenOrder)),
    ("poly", "GET", "/data/trades", page_of(ClobTrade)),
    ("poly", "DELETE", "/order", validator(CancelOrdersResponse)),
    ("poly", "DELETE", "/orders", validator(CancelOrdersResponse)),
    ("poly", "DELETE", "/cancel-all", validator(CancelOrdersResponse)),
    ("poly", "DELETE", "/cancel-market-orders", validator(CancelOrdersResponse)),
]
BODYLESS = {("kalshi", "DELETE", ORDERS), ("poly", "GET", "/balance-allowance/update")}  # 204 / empty 200


def parser_for(exchange: str, method: str, path: str) -> Parser | None:
    for ex, verb, pattern, parse in PARSERS:
        if (ex, verb) == (exchange, method) and re.fullmatch(pattern, path):
            return parse
    return None


def answer_of(fixture: dict[str, Any]) -> Any:
    response = fixture["response"]
    if "body_parsed" in response:
        return response["body_parsed"]
    return json.loads(response["body_raw"]) if response.get("body_raw") else None


def walk(session: Path) -> dict[str, Any]:
    checked: dict[str, int] = {}
    problems: list[str] = []
    uncovered: set[str] = set()
    for path in sorted(session.glob("0*.json")):
        fixture = json.loads(path.read_text())
        response = fixture.get("response")
        if response is None or not 200 <= response["status"] < 300:
            continue
        method = fixture["request"]["method"]
        url_path = re.sub(r"^https?://[^/]+", "", fixture["request"]["url"]).split("?")[0]
        key = (fixture["exchange"], method, url_path)
        parse = parser_for(*key)
        if parse is None:
            if key not in BODYLESS:
                uncovered.add(" ".join(key))
            continue
        try:
            parse(answer_of(fixture))
        except Exception as exc:  # a model refusing the simulator's answer is the finding
            problems.append(f"{path.name} ({parse.__name__}): {type(exc).__name__}: {str(exc)[:500]}")
        checked[parse.__name__] = checked.get(parse.__name__, 0) + 1
    return {"checked": checked, "problems": problems, "uncovered": sorted(uncovered)}


def main() -> int:
    report = walk(Path(sys.argv[1]))
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 1 if report["problems"] or report["uncovered"] else 0


if __name__ == "__main__":
    sys.exit(main())
