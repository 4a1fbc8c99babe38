"""Kalshi, as the proxy knows it (docs/wire/kalshi.md): hosts, API prefix, order endpoints, volatile and secret fields.

Order bodies: the current (2026) body has side bid/ask on the YES leg (`bid` buys YES, `ask` sells it) with
decimal-string count and price; the retired 2025 body (old clients) has side yes/no, action buy/sell, and cents
or dollar prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from proxy.exchanges.pricing import ONE, Pricer, Unreadable, decimal, each, field, one, worst_case
from proxy.exchanges.profile import ID, ExchangeProfile, HarmlessWrite, OrderEndpoint, OrderWrite, WebSocketProfile
from proxy.exchanges.strict_json import fold

CENT = Decimal("0.01")
# Retired 2025 spellings of an order's size, price, direction or kind: not in the V2 body, so a V2 order carrying
# one has two readings (the server may honour it over count, price or side), and is refused.
RETIRED_IN_V2 = (
    "count_fp",
    "yes_price",
    "no_price",
    "yes_price_dollars",
    "no_price_dollars",
    "action",
    "type",
    "buy_max_cost",
)


def order_v2(order: Any) -> Decimal:
    if not isinstance(order, dict):
        raise Unreadable("order is not an object")
    retired = [name for name in RETIRED_IN_V2 if field(order, name) is not None]
    if retired:
        raise Unreadable(f"{retired[0]} is a retired field a server may read instead of count, price or side")
    side = field(order, "side")
    if side not in ("bid", "ask"):
        raise Unreadable(f"side={side!r} is not bid or ask")
    return worst_case(side == "bid", decimal(field(order, "count"), "count"), decimal(field(order, "price"), "price"))


def order_v1(order: Any) -> Decimal:
    """Retired 2025 body (old clients): side yes/no, action buy/sell, cents or dollar prices."""
    if not isinstance(order, dict):
        raise Unreadable("order is not an object")
    side, action = field(order, "side"), field(order, "action")
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise Unreadable("side/action missing")
    kind = field(order, "type")
    if kind not in (None, "limit"):  # a market order pays what the book asks (up to buy_max_cost), not its price
        raise Unreadable(f"type={kind!r} is not a limit order")
    size = one_reading(order, {"count": ONE, "count_fp": ONE}, "count")
    price = one_reading(order, {f"{side}_price": CENT, f"{side}_price_dollars": ONE}, f"{side}_price")
    opposite = "no" if side == "yes" else "yes"
    against = [name for name in (f"{opposite}_price", f"{opposite}_price_dollars") if field(order, name) is not None]
    if against:  # the order's price given as the other side's: a server may read either, so refuse, never guess
        raise Unreadable(f"{against[0]} on a {side} order")
    return worst_case(action == "buy", size, price)


def one_reading(order: dict[str, Any], units: dict[str, Decimal], name: str) -> Decimal:
    """The value that every present spelling of one quantity gives (cents and dollars, count and count_fp);
    Unreadable when none is present or two disagree (which one a server would take is a guess)."""
    values = {
        key: decimal(field(order, key), key) * unit for key, unit in units.items() if field(order, key) is not None
    }
    if not values:
        raise Unreadable(f"{name} missing")
    if len(set(values.values())) > 1:
        raise Unreadable(" and ".join(f"{key}={field(order, key)!r}" for key in values) + " disagree")
    return next(iter(values.values()))


def decrease_v2(body: Any) -> list[Decimal]:
    """A V2 decrease places nothing when its body is plainly one: exactly one of reduce_by/reduce_to."""
    return decrease(
        body, {"reduce_by": ("reduce_by",), "reduce_to": ("reduce_to",)}, ("exchange_index", "market_ticker")
    )


def decrease_v1(body: Any) -> list[Decimal]:
    """The retired decrease: reduce_by/reduce_to as ints or _fp strings (both spellings must agree)."""
    spellings = {"reduce_by": ("reduce_by", "reduce_by_fp"), "reduce_to": ("reduce_to", "reduce_to_fp")}
    return decrease(body, spellings, ("subaccount", "exchange_index"))


def decrease(body: Any, spellings: Mapping[str, tuple[str, ...]], others: tuple[str, ...]) -> list[Decimal]:
    """Costs nothing, or Unreadable: a body with any other field (an amend's count, price or side) is not only a
    decrease, and one that names no count, or both, is not a decrease a server reads one way."""
    if not isinstance(body, dict):
        raise Unreadable("decrease body is not an object")
    known = {fold(name) for name in (*others, *(name for names in spellings.values() for name in names))}
    unknown = [key for key in body if fold(key) not in known]
    if unknown:
        raise Unreadable(f"{unknown[0]} is not a field of a decrease")
    given = [quantity for quantity, names in spellings.items() if any(field(body, n) is not None for n in names)]
    if len(given) != 1:
        raise Unreadable("a decrease needs exactly one of reduce_by and reduce_to")
    one_reading(body, dict.fromkeys(spellings[given[0]], ONE), given[0])
    return []


def _orders(path: str, price: Any, reduce: Pricer) -> OrderEndpoint:
    """An orders endpoint: create, batch create and amend place orders; a decrease is read as strictly and
    costs nothing (cancels are harmless)."""
    return OrderEndpoint(
        path,
        writes=(
            OrderWrite("POST", "/batched", each(price, "orders")),
            OrderWrite("POST", f"/{ID}/amend", one(price)),
            OrderWrite("POST", f"/{ID}/decrease", reduce),
            OrderWrite("POST", "", one(price)),
        ),
    )


KALSHI = ExchangeProfile(
    name="kalshi",
    live_url="https://api.elections.kalshi.com",
    demo_url="https://demo-api.kalshi.co",
    listen=("127.0.0.1", 8787),
    api_prefix="/trade-api/v2",
    base_url_env="KALSHI_BASE_URL",
    endpoints_at_root=False,
    order_endpoints=(
        _orders("/portfolio/events/orders", order_v2, decrease_v2),
        _orders("/portfolio/orders", order_v1, decrease_v1),  # retired 2025 paths, still sent by old clients
        OrderEndpoint("/portfolio/fills"),
    ),
    # client-generated dedupe ids; order expiry times, Unix seconds computed from the clock (expiration_time:
    # create/amend V2 and batch items; expiration_ts: retired v1 create, block trades)
    volatile_fields=(
        "client_order_id",
        "updated_client_order_id",
        "client_transfer_id",
        "expiration_time",
        "expiration_ts",
    ),
    # the time filters of the read endpoints (SDK api/*.py, docs/wire/): orders, fills, trades and settlements,
    # market filters, candlesticks
    volatile_query=(
        "min_ts",
        "max_ts",
        "start_ts",
        "end_ts",
        "min_close_ts",
        "max_close_ts",
        "min_created_ts",
        "max_created_ts",
        "min_updated_ts",
        "max_updated_ts",
        "min_settled_ts",
        "max_settled_ts",
        "minimum_start_date",
    ),
    secret_headers=("kalshi-access-key", "kalshi-access-signature"),
    secret_fields=(),
    # docs/wire/kalshi.md §2-3: cancel (one, batch at .../batched, all), the retired v1 cancel (410 since
    # 2026-06), API-key creation (decreases are read with the order writes)
    harmless_writes=(
        HarmlessWrite("DELETE", f"/portfolio/events/orders/{ID}"),
        HarmlessWrite("DELETE", "/portfolio/events/orders"),
        HarmlessWrite("DELETE", f"/portfolio/orders/{ID}"),
        HarmlessWrite("POST", "/api_keys/generate"),
    ),
    mints_credentials=("/api_keys", "/api_keys/generate"),
    inspect_request=("ticker", "side", "count", "price", "time_in_force"),
    inspect_response=("order_id", "status", "fill_count", "remaining_count", "average_fill_price"),
    websocket=WebSocketProfile(
        paths=("/trade-api/ws/v2",),
        url_env="KALSHI_WS_URL",
        client_path="/trade-api/ws/v2",
        live_url="https://api.elections.kalshi.com",  # the feed on the REST host (docs/wire/kalshi.md §1)
        volatile_fields=("/id",),  # the command id a client numbers its commands with; replies echo it
    ),
)
