"""The exchanges' official Python SDKs, unchanged, through one call sequence each; prints every call's outcome.

Runs in the interop environment (Python >= 3.13 with kalshi-python-async and py-clob-client-v2), never in
tradetape's: it imports nothing of tradetape, as a bot written against the real exchanges would not.
`tools/interop/run.py` feeds it a JSON config on stdin (URLs, the throwaway Kalshi key, ids of the simulator's
markets) and reads JSON on stdout: the SDK versions and one `{"call", "expect", "outcome", "as_expected"}` per call. An
outcome keeps what must not change between a run and its replay (statuses, counts, prices, error codes) and
drops what must (ids, times). Every Kalshi answer is parsed by the SDK's own response model (a missing or
mistyped field is an `invalid_answer`), and every field the model documents as a fixed-point count (2
decimals) or dollar string (up to 6) is checked against that format. Exits 1 when a call is not as expected.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from kalshi_python_async import Configuration, KalshiClient
from kalshi_python_async.exceptions import ApiException
from kalshi_python_async.models import BatchCancelOrdersV2RequestOrdersInner, CreateOrderV2Request
from py_clob_client_v2 import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    ClobClient,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderPayload,
    OrderType,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException
from pydantic import BaseModel, ValidationError

SDKS = ("kalshi-python-async", "py-clob-client-v2", "polymarket-client")
OK = "ok"
UNKNOWN_ORDER_ID = "00000000-0000-4000-8000-000000000000"  # fixed: a replay must see the same request
# How the SDK's models describe their decimal strings, and the format each description promises.
FORMATS = {
    "Fixed-point contract count string": re.compile(r"-?\d+\.\d{2}"),  # "responses always emit 2 decimals"
    "Fixed-point US dollar string": re.compile(r"-?\d+\.\d{1,6}"),  # "responses emit up to 6"
}
Outcome = dict[str, Any]
Summary = Callable[[Any], Outcome]


class Sequence:
    """Calls in order, each with what it should come to: OK, or the HTTP status of the expected refusal."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.results: list[dict[str, Any]] = []

    def record(self, call: str, expect: str | int, outcome: Outcome) -> None:
        """`outcome` is {"ok": summary} or {"refused": {...}} (an HTTP refusal has a "status")."""
        refusal = outcome.get("refused")
        as_expected = refusal is None if expect == OK else (refusal or {}).get("status") == expect
        self.results.append(
            {"call": f"{self.exchange}.{call}", "expect": expect, "outcome": outcome, "as_expected": as_expected}
        )


def format_problems(value: Any, where: str = "") -> list[str]:
    """Fields of a parsed SDK model whose documented decimal format the value breaks, recursively; orderbook
    sides (`yes_dollars`, `no_dollars`: lists the model types only as string pairs) as [dollars, count]."""
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in format_problems(item, f"{where}[{index}]")]
    if not isinstance(value, BaseModel):
        return []
    problems = []
    for name, info in type(value).model_fields.items():
        item, at = getattr(value, name), f"{where}.{name}"
        for text, pattern in FORMATS.items():
            if isinstance(item, str) and text in (info.description or "") and not pattern.fullmatch(item):
                problems.append(f"{at}={item!r} is not a {text.lower()}")
        if name in ("yes_dollars", "no_dollars") and isinstance(item, list):
            problems += [f"{at}: level {level} is not [dollars, count]" for level in item if not is_level(level)]
        problems += format_problems(item, at)
    return problems


def is_level(level: list[str]) -> bool:
    count, dollars = FORMATS.values()
    return dollars.fullmatch(level[0]) is not None and count.fullmatch(level[1]) is not None


def kalshi_failure(exc: Exception) -> Outcome:
    if isinstance(exc, ApiException):
        body = json.loads(exc.body) if exc.body else None
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else (body or {}).get("code")
        return {"status": exc.status, "code": code}
    if isinstance(exc, ValidationError):  # the SDK's model refused the exchange's answer
        return {"invalid_answer": [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]}
    return {"exception": type(exc).__name__, "message": str(exc)[:300]}


def poly_failure(exc: Exception) -> Outcome:
    if isinstance(exc, PolyApiException):
        return {"status": exc.status_code, "error": exc.error_msg}
    return {"exception": type(exc).__name__, "message": str(exc)[:300]}


def unexpected(answer: Any) -> Outcome:
    """The summary of a call that should have been refused."""
    return {"unexpected": "success"}


async def kalshi_call(seq: Sequence, call: str, expect: str | int, action: Awaitable[Any], summary: Summary) -> Any:
    try:
        answer = await action
        problems = format_problems(answer)
        seq.record(call, expect, {"refused": {"format": problems}} if problems else {"ok": summary(answer)})
    except Exception as exc:  # every failure is an outcome to compare, never a crash
        seq.record(call, expect, {"refused": kalshi_failure(exc)})
        return None
    return answer


def poly_call(seq: Sequence, call: str, expect: str | int, action: Callable[[], Any], summary: Summary) -> Any:
    try:
        answer = action()
        seq.record(call, expect, {"ok": summary(answer)})
    except Exception as exc:
        seq.record(call, expect, {"refused": poly_failure(exc)})
        return None
    return answer


# -- Kalshi ----------------------------------------------------------------------------------------


def order_summary(order: Any) -> Outcome:
    return {
        "status": order.status.value,
        "book_side": order.book_side.value,
        "yes_price_dollars": order.yes_price_dollars,
        "fill_count_fp": order.fill_count_fp,
        "remaining_count_fp": order.remaining_count_fp,
        "has_expiration": order.expiration_time is not None,
    }


def counts(answer: Any) -> Outcome:
    """Counts of a create, amend or batch item (None where the answer leaves them out)."""
    return {"fill_count": answer.fill_count, "remaining_count": answer.remaining_count}


def book_summary(answer: Any) -> Outcome:
    return {"yes": answer.orderbook_fp.yes_dollars, "no": answer.orderbook_fp.no_dollars}


async def kalshi_sequence(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Balance, markets, book, create (fill, rest, with expiration), get, list, fills, positions, amend,
    decrease, batches, cancel, cancel-all and the expected refusals."""
    seq = Sequence("kalshi")
    settings = Configuration(host=config["kalshi_url"] + "/trade-api/v2")
    settings.api_key_id = config["kalshi_key_id"]
    settings.private_key_pem = config["kalshi_private_key_pem"]
    ticker, other = config["kalshi_ticker"], config["kalshi_other_ticker"]
    async with KalshiClient(settings) as k:

        def create(**fields: Any) -> Awaitable[Any]:
            return k.create_order_v2(**order_fields(ticker, fields))

        async def call(name: str, action: Awaitable[Any], summary: Summary, expect: str | int = OK) -> Any:
            return await kalshi_call(seq, name, expect, action, summary)

        await call("get_balance", k.get_balance(), lambda a: {"balance_dollars": a.balance_dollars})
        await call("get_exchange_status", k.get_exchange_status(), lambda a: {"trading": a.trading_active})
        await call("get_markets", k.get_markets(limit=10), lambda a: {"tickers": [m.ticker for m in a.markets]})
        await call(
            "get_market",
            k.get_market(ticker),
            lambda a: {"status": a.market.status, "bounds": a.market.settlement_bounds_type},
        )
        await call("get_market_orderbook", k.get_market_orderbook(ticker), book_summary)
        await call("get_market_orderbook other market", k.get_market_orderbook(other), book_summary)
        ioc = dict(side="bid", count="5", price="0.52", time_in_force="immediate_or_cancel")
        await call("create_order_v2 ioc fill", create(**ioc), counts)
        resting = await call("create_order_v2 gtc rest", create(**gtc_bid("0.40", count="3")), counts)
        expiring_id = str(uuid.uuid4())
        expiring = await call(
            "create_order_v2 gtc with expiration",
            create(
                side="ask",
                count="2",
                price="0.60",
                time_in_force="good_till_canceled",
                expiration_time=int(time.time()) + 3600,
                client_order_id=expiring_id,
            ),
            counts,
        )
        for order in (resting, expiring):
            if order is not None:
                await call("get_order", k.get_order(order.order_id), lambda a: order_summary(a.order))
        await call(
            "get_orders",
            k.get_orders(ticker=ticker, min_ts=int(time.time()) - 3600),
            lambda a: {"orders": [order_summary(o) for o in a.orders], "cursor": a.cursor},
        )
        await call(
            "get_fills",
            k.get_fills(ticker=ticker),
            lambda a: {"fills": [(f.count_fp, f.yes_price_dollars, f.is_taker, f.exchange_index) for f in a.fills]},
        )
        await call(
            "get_positions",
            k.get_positions(),
            lambda a: {
                "markets": [(p.ticker, p.position_fp, p.exchange_index) for p in a.market_positions],
                "events": [(e.event_ticker, e.total_cost_shares_fp) for e in a.event_positions],
            },
        )
        if expiring is not None:
            await call(
                "amend_order_v2",
                k.amend_order_v2(
                    expiring.order_id,
                    ticker=ticker,
                    side="ask",
                    price="0.61",
                    count="4",
                    client_order_id=expiring_id,
                    updated_client_order_id=str(uuid.uuid4()),
                    expiration_time=int(time.time()) + 7200,
                ),
                counts,
            )
            await call(
                "decrease_order_v2",
                k.decrease_order_v2(expiring.order_id, reduce_by="1"),
                lambda a: {"remaining_count": a.remaining_count},
            )
        batch = await call(
            "batch_create_orders_v2",
            k.batch_create_orders_v2(
                orders=[
                    CreateOrderV2Request(**order_fields(ticker, gtc_bid("0.35"))),
                    CreateOrderV2Request(**order_fields(ticker, gtc_bid("0.305"))),  # off the grid: an item error
                ]
            ),
            lambda a: {"orders": [{**counts(o), "error": o.error and o.error.code} for o in a.orders]},
        )
        if batch is not None and batch.orders[0].order_id:
            await call(
                "batch_cancel_orders_v2",
                k.batch_cancel_orders_v2(
                    orders=[
                        BatchCancelOrdersV2RequestOrdersInner(order_id=batch.orders[0].order_id),
                        BatchCancelOrdersV2RequestOrdersInner(order_id=UNKNOWN_ORDER_ID),
                    ]
                ),
                lambda a: {"orders": [(o.reduced_by, o.error and o.error.code) for o in a.orders]},
            )
        if resting is not None:
            await call("cancel_order_v2", k.cancel_order_v2(resting.order_id), lambda a: {"reduced_by": a.reduced_by})
            await call("cancel_order_v2 again", k.cancel_order_v2(resting.order_id), unexpected, expect=404)
        await call("create_order_v2 gtc on the other market", create(**gtc_bid("0.30", ticker=other)), counts)
        await call("cancel_all_orders", k.cancel_all_orders(), lambda a: {"answer": a})
        await call(
            "get_orders resting after cancel-all", k.get_orders(status="resting"), lambda a: {"n": len(a.orders)}
        )
        refusals = [
            ("fill_or_kill too large", 409, dict(side="bid", count="500", price="0.55", time_in_force="fill_or_kill")),
            ("duplicate client_order_id", 409, gtc_bid("0.30", client_order_id=expiring_id)),
            ("off-grid price", 400, gtc_bid("0.305")),
            ("past expiration", 400, gtc_bid("0.30", expiration_time=1)),
            ("unknown market", 404, gtc_bid("0.30", ticker="KXNOSUCH-00JAN01-X")),
        ]
        for name, status, fields in refusals:
            await call(f"create_order_v2 {name}", create(**fields), counts, expect=status)
        await call("get_market unknown", k.get_market("KXNOSUCH-00JAN01-X"), unexpected, expect=404)
        await call("get_order unknown", k.get_order(UNKNOWN_ORDER_ID), unexpected, expect=404)
    return seq.results


def gtc_bid(price: str, **fields: Any) -> dict[str, Any]:
    """A resting YES bid for one contract unless `fields` say otherwise."""
    return {"side": "bid", "count": "1", "price": price, "time_in_force": "good_till_canceled", **fields}


def order_fields(ticker: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A V2 create: the market's ticker, a fresh client_order_id and taker_at_cross unless given."""
    return {
        "ticker": ticker,
        "client_order_id": str(uuid.uuid4()),
        "self_trade_prevention_type": "taker_at_cross",
        **fields,
    }


# -- Polymarket ------------------------------------------------------------------------------------


def posted_summary(answer: Any) -> Outcome:
    return {
        "success": answer.get("success"),
        "status": answer.get("status"),
        "makingAmount": answer.get("makingAmount"),
        "takingAmount": answer.get("takingAmount"),
        "trades": len(answer.get("tradeIDs") or []),
        "hashes": len(answer.get("transactionsHashes") or []),
    }


def poly_order_summary(order: Any) -> Outcome:
    keys = ("status", "side", "original_size", "size_matched", "price", "outcome", "order_type")
    return {key: order.get(key) for key in keys}


def cancel_summary(answer: Any) -> Outcome:
    return {"canceled": len(answer["canceled"]), "not_canceled": sorted(answer["not_canceled"].values())}


def poly_sequence(config: dict[str, Any]) -> list[dict[str, Any]]:
    """API-key creation and derivation, book, tick size, neg risk, balance allowance, limit GTC/GTD, market
    FOK/FAK, get, open orders, trades, cancel, cancel-all and the expected refusals."""
    seq = Sequence("poly")
    token = config["poly_token"]
    client = ClobClient(config["poly_url"], chain_id=137, key=config["poly_private_key"])

    def call(name: str, action: Callable[[], Any], summary: Summary, expect: str | int = OK) -> Any:
        return poly_call(seq, name, expect, action, summary)

    def post(args: Any, order_type: str) -> Callable[[], Any]:
        return lambda: client.create_and_post_order(args, order_type=order_type)

    def post_market(args: Any) -> Callable[[], Any]:
        return lambda: client.create_and_post_market_order(args, order_type=args.order_type)

    created = call("create_api_key", client.create_api_key, lambda a: {"has_key": bool(a.api_key)})
    call("create_api_key again", client.create_api_key, unexpected, expect=400)
    derived = call(
        "derive_api_key",
        client.derive_api_key,
        lambda a: {"same_key": created is not None and a.api_key == created.api_key},
    )
    client.set_api_creds(derived or created or ApiCreds("", "", ""))
    book = call(
        "get_order_book",
        lambda: client.get_order_book(token),
        lambda a: {"bids": a["bids"], "asks": a["asks"], "tick_size": a["tick_size"], "neg_risk": a["neg_risk"]},
    )
    if book is not None:
        hashed = client.get_order_book_hash(book)
        agrees = hashed == book["hash"]
        seq.record("get_order_book_hash", OK, {"ok": {"agrees": True}} if agrees else {"refused": {"sdk_hash": hashed}})
    call("get_tick_size", lambda: client.get_tick_size(token), lambda a: {"tick_size": a})
    call("get_neg_risk", lambda: client.get_neg_risk(token), lambda a: {"neg_risk": a})
    collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    call(
        "get_balance_allowance",
        lambda: client.get_balance_allowance(collateral),
        lambda a: {"balance": a["balance"], "spenders": len(a["allowances"])},
    )
    call("update_balance_allowance", lambda: client.update_balance_allowance(collateral), lambda a: {"answer": a})
    gtc = call("limit GTC", post(OrderArgsV2(token, 0.40, 10, "BUY"), OrderType.GTC), posted_summary)
    gtd_args = OrderArgsV2(token, 0.41, 10, "BUY", expiration=int(time.time()) + 60 + 3600)
    gtd = call("limit GTD", post(gtd_args, OrderType.GTD), posted_summary)
    with_balance = OrderArgsV2(token, 0.42, 10, "BUY", user_usdc_balance=500.0)
    call("limit GTC given a balance", post(with_balance, OrderType.GTC), posted_summary)
    call("market FOK buy", post_market(MarketOrderArgsV2(token, 5.0, "BUY", order_type=OrderType.FOK)), posted_summary)
    call(
        "market FAK sell", post_market(MarketOrderArgsV2(token, 5.0, "SELL", order_type=OrderType.FAK)), posted_summary
    )
    for name, placed in (("get_order GTC", gtc), ("get_order GTD", gtd)):
        if placed is not None:
            call(name, lambda p=placed: client.get_order(p["orderID"]), poly_order_summary)
    call(
        "get_open_orders",
        lambda: client.get_open_orders(OpenOrderParams(asset_id=token)),
        lambda a: {"prices": sorted(o["price"] for o in a)},
    )
    call(
        "get_trades",
        lambda: client.get_trades(TradeParams(asset_id=token, after=int(time.time()) - 3600)),
        lambda a: {"trades": [(t["side"], t["size"], t["price"], t["trader_side"]) for t in a]},
    )
    if gtc is not None:
        call("cancel_order", lambda: client.cancel_order(OrderPayload(orderID=gtc["orderID"])), cancel_summary)
    call("cancel_all", client.cancel_all, cancel_summary)
    beyond = MarketOrderArgsV2(token, 5.0, "BUY", price=0.30, order_type=OrderType.FOK)
    call("market FOK buy beyond the book", post_market(beyond), posted_summary, expect=400)
    call("get_order unknown", lambda: client.get_order("0x" + "ab" * 32), unexpected, expect=404)
    return seq.results


def main() -> int:
    config = json.load(sys.stdin)
    results = asyncio.run(kalshi_sequence(config)) + poly_sequence(config)
    sdks = {name: version(name) for name in SDKS}
    json.dump({"sdks": sdks, "calls": results}, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    return 0 if all(r["as_expected"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
