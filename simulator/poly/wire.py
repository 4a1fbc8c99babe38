"""How the paper Polymarket writes numbers, orders, trades and pages on the wire, as the real server does.

Human-unit decimals are minimal strings (`"60.47"`, `"0.952"`, `"10"`); balances and signed amounts are
1e-6 integer strings. Orders, trades and pages are rendered as the real `/data/*` endpoints render them:
statuses in the plain spelling (`LIVE`, `MATCHED`; the user WebSocket's and the reference's), sizes as
human-unit share strings, times as unix-second strings except the order's integer `created_at`. Pages
follow the `next_cursor` scheme: base64 offsets from `MA==`, `LTE=` at the end.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from aiohttp import web

from simulator.poly.model import TRADE_MATCHED, Account, Market, Order, Token, Trade

UNIT = Decimal("0.000001")
SCALE = 10**6
MAX_UINT256 = str(2**256 - 1)
T = TypeVar("T")


def human(value: Decimal) -> str:
    """Minimal decimal string: 60.470 -> "60.47", 10.00 -> "10", 0 -> "0"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0.0") else text


def units(value: Decimal) -> str:
    """Human units to a 1e-6 integer string (exact; sub-unit dust is floored)."""
    return str(int((value * SCALE).to_integral_value(rounding="ROUND_FLOOR")))


def from_units(text: str) -> Decimal:
    """A 1e-6 integer string to human units, exactly."""
    return Decimal(int(text)).scaleb(-6)


def decimals(value: Decimal) -> int:
    """Digits after the point once trailing zeros are dropped."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers)


def number(value: Decimal) -> orjson.Fragment:
    """A JSON number written from the Decimal's text (tick sizes, minimum sizes, fee rates), never via float."""
    return orjson.Fragment(human(value).encode())


END_CURSOR = "LTE="


def market_by_token_view(market: Market) -> dict[str, Any]:
    """`GET /markets-by-token/{token_id}`: the condition id and both outcome tokens (primary = Yes)."""
    tokens = [*market.token_ids, "", ""]
    return {"condition_id": market.condition_id, "primary_token_id": tokens[0], "secondary_token_id": tokens[1]}


def clob_market_view(market: Market, tokens: dict[str, Token]) -> dict[str, Any]:
    """`GET /clob-markets/{condition_id}` in its compact keys (docs: get-clob-market-info; py-clob-client-v2
    `MarketDetails`): tokens `t`, minimum tick `mts` and order size `mos` as JSON numbers, fee curve `fd`
    (fee = shares x r x (p(1-p))^e, taker only: the simulator's e = 1), base fees, flags. `nr` and `itode`
    are left out when false, as the real server does; the paper exchange has no rewards, RFQ or taker delay."""
    view: dict[str, Any] = {
        "c": market.condition_id,
        "gst": None,
        "r": {},
        "t": [{"t": token_id, "o": tokens[token_id].outcome} for token_id in market.token_ids],
        "mos": number(market.min_order_size),
        "mts": number(market.tick_size),
        "mbf": 0,
        "tbf": 0,
        "rfqe": False,
        "ibce": False,
        "fd": {"r": number(market.fee_rate), "e": 1, "to": True},
        "oas": 0,
        "ao": market.accepting_orders and not market.closed,
        "sd": 0,
        "cbos": False,
    }
    if market.neg_risk:
        view["nr"] = True
    return view


def order_view(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "owner": order.owner,
        "maker_address": order.maker_address,
        "market": order.token.market.condition_id,
        "asset_id": order.token.token_id,
        "side": order.side,
        "original_size": human(order.original_size),
        "size_matched": human(order.size_matched),
        "price": human(order.price),
        "outcome": order.token.outcome,
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "associate_trades": list(order.associate_trades),
        "created_at": order.created_at,
    }


def trade_view(trade: Trade, viewer: Account | None) -> dict[str, Any]:
    """A trade as `viewer` sees it: TAKER when they sent the taking order, MAKER otherwise."""
    taker, token = trade.taker, trade.taker.token
    fee_bps = token.market.fee_rate_bps
    return {
        "id": trade.id,
        "taker_order_id": taker.id,
        "market": token.market.condition_id,
        "asset_id": token.token_id,
        "side": taker.side,
        "size": human(trade.size),
        "fee_rate_bps": fee_bps,
        "price": human(trade.price),
        "status": trade.status,
        "match_time": str(trade.match_time),
        "last_update": str(trade.last_update),
        "outcome": token.outcome,
        "bucket_index": trade.bucket_index,
        "owner": taker.owner,
        "maker_address": taker.maker_address,
        "transaction_hash": "" if trade.status == TRADE_MATCHED else trade.transaction_hash,
        "trader_side": "TAKER" if viewer is not None and taker.account is viewer else "MAKER",
        "maker_orders": [
            {
                "order_id": m.order.id,
                "owner": m.order.owner,
                "maker_address": m.order.maker_address,
                "matched_amount": human(m.size),
                "price": human(m.order.price),
                "fee_rate_bps": "0",
                "asset_id": token.token_id,
                "outcome": token.outcome,
                "side": m.order.side,
            }
            for m in trade.makers
        ],
    }


def decode_cursor(cursor: str | None) -> int:
    """Offset of a `next_cursor` (-1 for the end); ValueError when it is not one of ours."""
    if not cursor:
        return 0
    try:
        offset = int(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(f"bad cursor {cursor!r}") from None
    if offset < -1:
        raise ValueError(f"bad cursor {cursor!r}")
    return offset


def page(items: Sequence[T], cursor: str | None, size: int) -> tuple[list[T], str]:
    """One page of `items` and the cursor of the next (END_CURSOR after the last)."""
    offset = decode_cursor(cursor)
    if offset < 0:
        return [], END_CURSOR
    chunk = list(items[offset : offset + size])
    following = offset + size
    return chunk, base64.b64encode(str(following).encode()).decode() if following < len(items) else END_CURSOR


def page_body(data: list[dict[str, Any]], next_cursor: str, limit: int) -> dict[str, Any]:
    return {"limit": limit, "next_cursor": next_cursor, "count": len(data), "data": data}
