"""Polymarket's CLOB as the proxy knows it (docs/wire/polymarket.md): hosts, order endpoints, volatile, secret fields.

Order bodies carry a signed order whose size and price come from makerAmount/takerAmount (6 decimals): a BUY
pays makerAmount for takerAmount shares, a SELL gives makerAmount shares for takerAmount.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ctf_order import order_hashes
from proxy.exchanges.pricing import Unreadable, decimal, each, field, one
from proxy.exchanges.profile import ExchangeProfile, HarmlessWrite, OrderEndpoint, OrderWrite, WebSocketProfile

MICRO = Decimal("0.000001")


def order(item: Any) -> Decimal:
    signed = field(item, "order") if isinstance(item, dict) else None
    if not isinstance(signed, dict):
        raise Unreadable("missing order object")
    maker = decimal(field(signed, "makerAmount"), "order.makerAmount") * MICRO
    taker = decimal(field(signed, "takerAmount"), "order.takerAmount") * MICRO
    side = field(signed, "side")
    if isinstance(side, (bool, float)):  # false == 0 and 1.0 == 1 in Python; no server spells a side so
        raise Unreadable(f"order.side={side!r}")
    if side in ("BUY", 0, "0"):
        return maker  # size (taker) x price (maker / taker)
    if side in ("SELL", 1, "1"):
        if taker > maker:
            raise Unreadable("SELL takerAmount above makerAmount: price over 1")
        return maker - taker  # size (maker) x (1 - taker / maker)
    raise Unreadable(f"order.side={side!r}")


def order_ids(body: Any) -> dict[str, str]:
    """The order hash (`orderID`) of each signed order in a `POST /order` or `/orders` body, under every domain
    the order may have been signed for: `/order#v2@137` -> 0x.... Nothing for a body that holds no order."""
    items = body if isinstance(body, list) else [body]
    out = {}
    for index, item in enumerate(items):
        signed = item.get("order") if isinstance(item, dict) else None
        if not isinstance(signed, dict):
            continue
        try:
            hashes = order_hashes(signed)
        except ValueError:  # not a hashable order: nothing to correlate
            continue
        where = f"/{index}/order" if isinstance(body, list) else "/order"
        out.update({f"{where}#{domain}": value for domain, value in hashes.items()})
    return out


POLY = ExchangeProfile(
    name="poly",
    live_url="https://clob.polymarket.com",
    demo_url=None,
    listen=("127.0.0.1", 8788),
    api_prefix="",
    base_url_env="POLY_CLOB_URL",
    endpoints_at_root=True,
    order_endpoints=(
        OrderEndpoint("/order", writes=(OrderWrite("POST", "", one(order)),)),
        OrderEndpoint("/orders", writes=(OrderWrite("POST", "", each(order, None)),)),
        OrderEndpoint("/data/order"),
        OrderEndpoint("/data/orders"),
        OrderEndpoint("/data/trades"),
        OrderEndpoint("/cancel-all"),
        OrderEndpoint("/cancel-market-orders"),
    ),
    # Per-order randomness (salt, timestamp, expiration, the signature over them) and the values derived from
    # the account behind the L2 headers (`owner` is the API key, `maker`/`signer` the address), so a recording
    # made with one account replays for a test key.
    volatile_fields=("salt", "signature", "timestamp", "expiration", "owner", "maker", "signer"),
    # the time filters of trades, prices history and rewards earnings by date
    volatile_query=("before", "after", "startTs", "endTs", "date"),
    secret_headers=(
        "poly_api_key",
        "poly_signature",
        "poly_passphrase",
        "poly-api-key",
        "poly-signature",
        "poly-passphrase",
    ),
    # the L2 credentials (POST /auth/api-key answers apiKey, secret, passphrase; SDKs name them api_*), and the
    # order's owner, which is the API key (the user channel also names it order_owner and trade_owner)
    secret_fields=(
        "owner",
        "secret",
        "passphrase",
        "apiKey",
        "api_secret",
        "api_passphrase",
        "order_owner",
        "trade_owner",
    ),
    # docs/wire/polymarket.md §3, §6-7: cancels, API-key management, heartbeats, public reads sent as POST,
    # reward scoring of given order ids (the balance-allowance refresh is a GET)
    harmless_writes=(
        *(HarmlessWrite("DELETE", path) for path in ("/order", "/orders", "/cancel-all", "/cancel-market-orders")),
        *(HarmlessWrite(m, p) for m in ("POST", "DELETE") for p in ("/auth/api-key", "/auth/readonly-api-key")),
        *(HarmlessWrite("POST", path) for path in ("/v1/heartbeats", "/heartbeats", "/orders-scoring")),
        *(HarmlessWrite("POST", f"/{r}") for r in ("books", "prices", "midpoints", "spreads", "last-trades-prices")),
    ),
    mints_credentials=("/auth/api-key", "/auth/derive-api-key", "/auth/readonly-api-key"),
    inspect_request=("side", "orderType", "makerAmount", "takerAmount"),
    inspect_response=(
        "status",
        "orderID",
        "success",
        "errorMsg",
        "error",  # a refusal: {"error": "not enough balance / allowance"}
        "makingAmount",
        "takingAmount",
        "size_matched",
    ),
    websocket=WebSocketProfile(
        paths=("/ws/market", "/ws/user"),
        url_env="POLY_WS_URL",
        client_path="/ws",
        live_url="https://ws-subscriptions-clob.polymarket.com",
        volatile_fields=("auth",),  # the user channel's credentials (redacted in recordings)
        keepalive=(("PING", "PONG"),),
    ),
    derived_ids=order_ids,
)
