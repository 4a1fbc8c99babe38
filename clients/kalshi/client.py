"""Async client for Kalshi's Trade API v2 as it stands in late 2026 (docs/wire/kalshi.md).

Every request goes through `KalshiClient._request`, which signs it and sends it over the shared
transport (`clients.transport`: answers the tradetape proxy made itself raise ProxyAnswer errors,
never retried; Kalshi error bodies map onto the shared taxonomy; JSON is parsed). On top of it, only
GETs are retried (5xx, 425, 429; bounded exponential backoff); order writes never are. Order writes
use the V2 `/portfolio/events/orders` family.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from clients.errors import (
    AuthError,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    RateLimited,
    TransportError,
    UnexpectedResponse,
)
from clients.kalshi.auth import auth_headers, env_credentials, load_private_key
from clients.kalshi.errors import kalshi_error
from clients.kalshi.orders import Action, OrderSpec, Outcome, format_count, v2_side_price
from clients.kalshi.parse import (
    cursor,
    order_result_from_ack,
    parse_ack,
    parse_balance,
    parse_batch_cancel,
    parse_batch_create,
    parse_cancel,
    parse_fills,
    parse_market,
    parse_order,
    parse_orderbook,
    parse_orders,
    parse_positions,
    parse_update,
    unexpected,
)
from clients.kalshi.types import (
    CancelResult,
    CreateAck,
    KalshiFill,
    KalshiMarket,
    KalshiPosition,
    Orderbook,
    OrderUpdate,
)
from clients.lane import LANE_SIZE, request_bytes
from clients.transport import DEFAULT_TIMEOUT, Transport
from clients.types import OrderResult, OrderStart

DEFAULT_BASE_URL = "https://api.elections.kalshi.com/trade-api/v2"
ORDERS = "/portfolio/events/orders"
WHERE_ORDERS = f"POST {ORDERS}"
PAGE_LIMIT = 1000
PRESIGNED_FOR = 2.0  # seconds a presigned order POST stays usable; Kalshi accepts ~5 s of skew (docs/wire/kalshi.md)

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class KalshiClient:
    """One shared aiohttp session, signed requests, typed results. Use as `async with`."""

    def __init__(
        self,
        base_url: str | None = None,
        key_id: str | None = None,
        private_key: rsa.RSAPrivateKey | bytes | str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        max_retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (key_id is None) != (private_key is None):
            raise ValueError("Kalshi key_id and private_key go together: give both or neither")
        self.base_url = URL((base_url or DEFAULT_BASE_URL).rstrip("/"))
        if not self.base_url.is_absolute():
            raise ValueError(f"Kalshi base_url must be an absolute URL, got {base_url!r}")
        self.key_id = key_id
        self._private_key = load_private_key(private_key) if private_key is not None else None
        self._transport = Transport("kalshi", kalshi_error, session=session, timeout=timeout)
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self._presigned: tuple[float, dict[str, str]] | None = None  # (when, headers) for the next order POST

    @classmethod
    def from_env(cls, **kwargs: Any) -> KalshiClient:
        """KALSHI_BASE_URL (default production), KALSHI_API_KEY_ID, and KALSHI_PRIVATE_KEY_PATH or
        KALSHI_PRIVATE_KEY (PEM text). Without a key id the client makes unsigned requests."""
        key_id, pem = env_credentials()
        return cls(os.environ.get("KALSHI_BASE_URL") or None, key_id, pem, **kwargs)

    async def __aenter__(self) -> KalshiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the order lane, and the session if this client created it."""
        await self._transport.close()

    async def open_lane(self, size: int = LANE_SIZE) -> None:
        """Open the order lane (`clients.lane`): warm connections on which an order POST is written at once."""
        await self._transport.open_lane(self.base_url, size)

    # --- transport ------------------------------------------------------------------------------

    def url(self, path: str) -> URL:
        """The full URL of an API path (already percent-encoded) under the base URL."""
        return URL(f"{self.base_url}{path}", encoded=True)

    def sign_headers(self, method: str, url: URL) -> dict[str, str]:
        """KALSHI-ACCESS-* headers for a request to `url`; empty for an unauthenticated client."""
        if self.key_id is None or self._private_key is None:
            return {}
        return auth_headers(self.key_id, self._private_key, method, url.raw_path, int(self._clock() * 1000))

    def presign_order(self) -> None:
        """Sign the next order's POST now, off its path: the signature covers the time, the method and the path,
        never the body, so the next order placed within PRESIGNED_FOR seconds goes out with it (once) instead of
        spending an RSA signature on its way out."""
        if self.key_id is not None:
            self._presigned = (self._clock(), self.sign_headers("POST", self.url(ORDERS)))

    def _auth(self, method: str, url: URL) -> tuple[dict[str, str], bool]:
        """The presigned headers for an order POST while they are fresh (used once), else a new signature; and
        whether they were presigned."""
        if self._presigned is not None and method == "POST" and url.raw_path == self.url(ORDERS).raw_path:
            (signed_at, headers), self._presigned = self._presigned, None
            if 0 <= self._clock() - signed_at <= PRESIGNED_FOR:
                return headers, True
        return self.sign_headers(method, url), False

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        signed: tuple[dict[str, str], bool] | None = None,
    ) -> Any:
        """Sign and send through the shared transport (signed afresh for each attempt, the first with `signed`,
        auth headers and whether they were presigned, when given). Only GETs are retried, only on RateLimited or
        ExchangeUnavailable; a proxy answer never is. An order refused for its presigned timestamp (older by up
        to PRESIGNED_FOR, so nearer the exchange's skew limit) was not placed: it goes once more, signed now."""
        url = self.url(path)
        where = f"{method} {path}"
        attempt = 0
        while True:
            auth, presigned = signed or self._auth(method, url)
            signed = None
            try:
                return await self._transport.request(
                    method, url, where=where, headers={**_headers(body), **auth}, params=params, body=body
                )
            except AuthError as error:
                if _refused_presigned(error, presigned):
                    signed = self.sign_headers(method, url), False  # now: a newer presigned one is the next order's
                    continue
                raise
            except (RateLimited, ExchangeUnavailable) as error:
                if method != "GET" or attempt >= self._max_retries:
                    raise
                await self._sleep(self._delay(attempt, error))
            attempt += 1

    def _delay(self, attempt: int, error: ExchangeError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self._max_backoff)
        return min(self._backoff * 2.0**attempt, self._max_backoff)

    async def _pages(self, path: str, params: dict[str, str], parse: Callable[[Any, str], list[T]]) -> list[T]:
        """Every item of a cursor-paginated list, each page read by `parse` (same filters on each page)."""
        where = f"GET {path}"
        collected: list[T] = []
        seen: set[str] = set()
        page_params = {**params, "limit": str(PAGE_LIMIT)}
        while True:
            body = await self._request("GET", path, params=page_params)
            collected.extend(parse(body, where))
            next_cursor = cursor(body, where)
            if next_cursor is None:
                return collected
            if next_cursor in seen:
                raise unexpected(where, f"cursor {next_cursor!r} repeated: pagination would never end", body)
            seen.add(next_cursor)
            page_params = {**page_params, "cursor": next_cursor}

    # --- order writes (V2) ----------------------------------------------------------------------

    def prepare_order(
        self,
        ticker: str,
        outcome: Outcome,
        action: Action,
        count: Decimal | str | int,
        price: Decimal | str | int,
        time_in_force: str = "immediate_or_cancel",
        client_order_id: str | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        expiration_time: int | None = None,
        self_trade_prevention_type: str = "taker_at_cross",
    ) -> OrderStart:
        """One order made ready to send: its body, its auth headers (the presigned ones while fresh, else signed
        now) and its request bytes. Calling the result sends it (on the order lane when a connection is idle:
        written before the call returns); awaiting what that returns gives what create_order would. Invalid
        values raise ValueError here, before anything is sent."""
        extra = {"client_order_id": client_order_id} if client_order_id is not None else {}
        spec = OrderSpec(
            ticker,
            outcome,
            action,
            count,
            price,
            time_in_force,
            post_only=post_only,
            reduce_only=reduce_only,
            expiration_time=expiration_time,
            self_trade_prevention_type=self_trade_prevention_type,
            **extra,
        )
        body = orjson.dumps(spec.body())
        url = self.url(ORDERS)
        signed = self._auth("POST", url)
        request = request_bytes("POST", url, {**_headers(body), **signed[0]}, body)
        return lambda: self._placed(spec, self._send_order(request, body, signed))

    async def create_order(self, *args: Any, **kwargs: Any) -> OrderResult:
        """Place one order (prepare_order's arguments): `price` is the limit price of `outcome` in dollars.

        Never retried. A 409 order_already_exists means an earlier attempt with this client_order_id
        was placed: that order is looked up and returned. On a TransportError or ExchangeUnavailable
        the order may or may not exist; recover with find_order_by_client_order_id.
        """
        return await self.prepare_order(*args, **kwargs)()

    def _send_order(self, request: bytes, body: bytes, signed: tuple[dict[str, str], bool]) -> Awaitable[Any]:
        """Write the order now on the lane when one of its connections is idle, else the normal path."""
        sent = self._transport.send_now(request, WHERE_ORDERS)
        if sent is None:
            return self._request("POST", ORDERS, body=body, signed=signed)
        return self._lane_answer(sent, body, presigned=signed[1])

    async def _lane_answer(self, sent: Awaitable[Any], body: bytes, *, presigned: bool) -> Any:
        """The lane's answer, read; an order refused for its presigned timestamp (not placed) goes once more by the
        normal path, signed now."""
        try:
            return await sent
        except AuthError as error:
            if not _refused_presigned(error, presigned):
                raise
        url = self.url(ORDERS)  # signed now: a newer presigned signature is the next order's
        return await self._request("POST", ORDERS, body=body, signed=(self.sign_headers("POST", url), False))

    async def _placed(self, spec: OrderSpec, sent: Awaitable[Any]) -> OrderResult:
        """The result of the create `sent`: a 409 is the order an earlier attempt placed, a lost answer names the
        client_order_id to look it up by."""
        try:
            answer = await sent
        except DuplicateOrder as duplicate:
            return await self._placed_earlier(spec, duplicate)
        except TransportError as exc:
            raise TransportError(f"{exc} (client_order_id {spec.client_order_id})") from None
        if isinstance(answer, dict) and "order" in answer:  # retired v1 answer in an old recording
            return parse_order(answer, WHERE_ORDERS)
        return await self._result_from_ack(parse_ack(answer, WHERE_ORDERS), spec, WHERE_ORDERS)

    async def _placed_earlier(self, spec: OrderSpec, duplicate: DuplicateOrder) -> OrderResult:
        """The order an earlier attempt placed under this client_order_id; the 409 itself when it
        cannot be read, so a failed lookup never passes for a refused order."""
        try:
            existing = await self.find_order_by_client_order_id(spec.client_order_id, ticker=spec.ticker)
        except (ExchangeError, TransportError) as exc:
            raise duplicate from exc
        if existing is None:
            raise duplicate
        return existing

    async def _result_from_ack(self, ack: CreateAck, spec: OrderSpec, where: str) -> OrderResult:
        """The create's OrderResult; when fills came without an average price, read the order back.

        The order exists by then: a failed read-back is UnexpectedResponse (outcome unknown), never
        the read's own error, which a caller would take for the exchange refusing the order.
        """
        if ack.fill_count is not None and ack.fill_count > 0 and ack.average_fill_price is None:
            try:
                return await self.get_order(ack.order_id)
            except (ExchangeError, TransportError) as exc:
                problem = f"order {ack.order_id} filled {ack.fill_count} without average_fill_price"
                raise unexpected(where, f"{problem}; reading it back failed: {exc}", ack.raw) from exc
        return order_result_from_ack(
            ack, requested=spec.requested_count(), outcome=spec.outcome, where=where, limit_price=spec.limit_price()
        )

    async def batch_create_orders(self, orders: Sequence[OrderSpec]) -> list[OrderResult | ExchangeError]:
        """Place several orders at once; each item is its OrderResult or its own error (mapped
        from Kalshi's, or UnexpectedResponse when a placed order's answer cannot be read)."""
        if not orders:
            return []
        body = orjson.dumps({"orders": [spec.body() for spec in orders]})
        where = f"POST {ORDERS}/batched"
        answer = await self._request("POST", f"{ORDERS}/batched", body=body)
        acks = parse_batch_create(answer, where)
        if len(acks) != len(orders):
            raise unexpected(where, f"{len(acks)} results for {len(orders)} orders", answer)
        results: list[OrderResult | ExchangeError] = []
        for i, (ack, spec) in enumerate(zip(acks, orders, strict=True)):
            if isinstance(ack, ExchangeError):
                results.append(ack)
                continue
            try:
                results.append(await self._result_from_ack(ack, spec, f"{where} orders[{i}]"))
            except UnexpectedResponse as exc:  # one unreadable answer must not drop the others
                results.append(exc)
        return results

    async def cancel_order(self, order_id: str, ticker: str | None = None) -> CancelResult:
        """Cancel a resting order. Unknown, canceled and executed orders all give OrderNotFound."""
        params = {"market_ticker": ticker} if ticker else None
        path = f"{ORDERS}/{_segment(order_id, 'order_id')}"
        return parse_cancel(await self._request("DELETE", path, params=params), f"DELETE {path}")

    async def batch_cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult | ExchangeError]:
        """Cancel several orders; each item is its CancelResult or its own mapped error."""
        if not order_ids:
            return []
        body = orjson.dumps({"orders": [{"order_id": _nonempty(oid, "order_id")} for oid in order_ids]})
        path = f"{ORDERS}/batched"
        return parse_batch_cancel(await self._request("DELETE", path, body=body), f"DELETE {path}")

    async def cancel_all_orders(self, subaccount: int | None = None) -> None:
        """Cancel every resting order (of one subaccount, or all). Kalshi may also cancel orders
        placed in the minute after this request."""
        params = {"subaccount": str(subaccount)} if subaccount is not None else None
        await self._request("DELETE", ORDERS, params=params)

    async def amend_order(
        self,
        order_id: str,
        ticker: str,
        outcome: str,
        action: str,
        price: Decimal | str | int,
        count: Decimal | str | int,
        client_order_id: str | None = None,
        updated_client_order_id: str | None = None,
        expiration_time: int | None = None,
    ) -> OrderUpdate:
        """Change price and/or size. `count` is the new total (filled + desired resting), `price`
        the outcome's price, as in create_order."""
        side, leg_price = v2_side_price(outcome, action, price)
        fields: dict[str, Any] = {"ticker": ticker, "side": side, "price": leg_price, "count": format_count(count)}
        optional = {
            "client_order_id": client_order_id,
            "updated_client_order_id": updated_client_order_id,
            "expiration_time": expiration_time,
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        path = f"{ORDERS}/{_segment(order_id, 'order_id')}/amend"
        answer = await self._request("POST", path, body=orjson.dumps(fields))
        return parse_update(answer, f"POST {path}", outcome)

    async def decrease_order(
        self, order_id: str, reduce_by: Decimal | str | int | None = None, reduce_to: Decimal | str | int | None = None
    ) -> OrderUpdate:
        """Shrink a resting order by `reduce_by` or to `reduce_to` contracts (exactly one)."""
        if reduce_by is not None and reduce_to is None:
            fields = {"reduce_by": format_count(reduce_by, "reduce_by")}
        elif reduce_to is not None and reduce_by is None:
            fields = {"reduce_to": format_count(reduce_to, "reduce_to", allow_zero=True)}
        else:
            raise ValueError("decrease_order needs exactly one of reduce_by and reduce_to")
        path = f"{ORDERS}/{_segment(order_id, 'order_id')}/decrease"
        answer = await self._request("POST", path, body=orjson.dumps(fields))
        return parse_update(answer, f"POST {path}")

    # --- reads ----------------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> OrderResult:
        path = f"/portfolio/orders/{_segment(order_id, 'order_id')}"
        return parse_order(await self._request("GET", path), f"GET {path}")

    async def list_orders(self, ticker: str | None = None, status: str | None = None) -> list[OrderResult]:
        """All orders (every page), optionally of one market and/or status (resting/canceled/executed)."""
        params = {k: v for k, v in {"ticker": ticker, "status": status}.items() if v}
        return await self._pages("/portfolio/orders", params, parse_orders)

    async def find_order_by_client_order_id(
        self, client_order_id: str, ticker: str | None = None
    ) -> OrderResult | None:
        """The order carrying our client_order_id, or None (restart recovery, duplicate creates)."""
        for order in await self.list_orders(ticker=ticker):
            if order.client_order_id == client_order_id:
                return order
        return None

    async def get_fills(self, order_id: str | None = None, ticker: str | None = None) -> list[KalshiFill]:
        """All fills (every page), optionally of one order and/or market."""
        params = {k: v for k, v in {"order_id": order_id, "ticker": ticker}.items() if v}
        return await self._pages("/portfolio/fills", params, parse_fills)

    async def get_positions(self) -> list[KalshiPosition]:
        """Unsettled market positions (every page); `position` is + YES / − NO."""
        return await self._pages("/portfolio/positions", {}, parse_positions)

    async def get_balance(self) -> Decimal:
        """Available balance in dollars."""
        return parse_balance(await self._request("GET", "/portfolio/balance"), "GET /portfolio/balance")

    async def get_market(self, ticker: str) -> KalshiMarket:
        path = f"/markets/{_segment(ticker, 'ticker')}"
        return parse_market(await self._request("GET", path), f"GET {path}")

    async def get_orderbook(self, ticker: str) -> Orderbook:
        path = f"/markets/{_segment(ticker, 'ticker')}/orderbook"
        return parse_orderbook(await self._request("GET", path), f"GET {path}", ticker)


def _headers(body: bytes | None) -> dict[str, str]:
    return (
        {"Accept": "application/json", "Content-Type": "application/json"}
        if body is not None
        else {"Accept": "application/json"}
    )


def _refused_presigned(error: AuthError, presigned: bool) -> bool:
    """An order refused for its presigned timestamp: not placed, so it may go once more, signed now."""
    return presigned and error.code == "header_timestamp_expired"


def _nonempty(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _segment(value: str, name: str) -> str:
    """One path segment, percent-encoded (an id or ticker can never change the path)."""
    return quote(_nonempty(value, name), safe="")
