"""Async Polymarket CLOB V2 client: signed V2/V3 orders, L1/L2 auth, orders, trades, books.

Every request goes through `PolymarketClient._request`, which signs it and sends it once over the
shared transport (`clients.transport`: proxy answers, transport errors, redirects, JSON), with
Polymarket's error texts mapped onto `clients.errors`; bodies are then parsed into typed results.
Nothing is retried here: the trader decides.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from eth_account import Account
from eth_utils import to_checksum_address
from yarl import URL

import ctf_order
from clients.decimals import exact_decimal
from clients.errors import ExchangeError
from clients.lane import LANE_SIZE, request_bytes
from clients.polymarket import signing
from clients.polymarket.errors import EXCHANGE, poly_error
from clients.polymarket.orders import check_flags, from_units, order_amounts
from clients.polymarket.parse import (
    parse_api_creds,
    parse_balance,
    parse_book,
    parse_cancel,
    parse_clob_market,
    parse_neg_risk,
    parse_order,
    parse_page,
    parse_post_order,
    parse_tick_size,
    parse_trade,
    unexpected,
)
from clients.polymarket.types import ApiCreds, BalanceAllowance, ClobMarket, PolyBook, PolyTrade, SignedOrder
from clients.transport import DEFAULT_TIMEOUT, Transport
from clients.types import OrderResult, OrderStart

DEFAULT_CLOB_URL = "https://clob.polymarket.com"
FIRST_CURSOR = "MA=="
LAST_CURSOR = "LTE="
SALT_BITS = 53  # the salt travels as a JSON number: keep it exact in every JSON reader
WHERE_ORDER = "POST /order"
PATH_ID = re.compile(r"[0-9A-Za-z_-]+")  # an id placed in a URL path must stay one segment


class PolymarketClient:
    """One Polymarket account: an EOA key, optional funder (proxy, Safe or deposit wallet), L2 creds."""

    def __init__(
        self,
        base_url: str | None = None,
        private_key: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        api_passphrase: str | None = None,
        signature_type: int = 0,
        funder: str | None = None,
        chain_id: int = ctf_order.POLYGON,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if signature_type not in (0, 1, 2, 3):
            raise ValueError(
                f"signature_type {signature_type!r}: expected 0 (EOA), 1 (proxy), 2 (Safe) or 3 (deposit wallet)"
            )
        self.base_url = (base_url or DEFAULT_CLOB_URL).rstrip("/")
        self._base = URL(self.base_url)
        if not self._base.is_absolute():
            raise ValueError(f"Polymarket base_url must be an absolute URL, got {base_url!r}")
        self._private_key = private_key
        self.address: str | None = Account.from_key(private_key).address if private_key else None
        self.creds = (
            ApiCreds(api_key, api_secret, api_passphrase) if api_key and api_secret and api_passphrase else None
        )
        self.signature_type = signature_type
        self.funder = to_checksum_address(funder) if funder else None
        self.chain_id = chain_id
        self._transport = Transport(EXCHANGE, poly_error, session=session, timeout=timeout)
        self._clock = clock
        self.maker = self._maker()
        self.signer = self.maker if signature_type == ctf_order.SIG_POLY_1271 else self.address

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> PolymarketClient:
        """A client configured from POLY_CLOB_URL, POLY_PRIVATE_KEY, POLY_API_*, POLY_SIGNATURE_TYPE, POLY_FUNDER."""
        env = os.environ if env is None else env
        raw_type = env.get("POLY_SIGNATURE_TYPE") or "0"
        if not ctf_order.decimal_digits(raw_type):
            raise ValueError(f"POLY_SIGNATURE_TYPE={raw_type!r}: expected 0, 1, 2 or 3")
        return cls(
            base_url=env.get("POLY_CLOB_URL") or DEFAULT_CLOB_URL,
            private_key=env.get("POLY_PRIVATE_KEY") or None,
            api_key=env.get("POLY_API_KEY") or None,
            api_secret=env.get("POLY_API_SECRET") or None,
            api_passphrase=env.get("POLY_API_PASSPHRASE") or None,
            signature_type=int(raw_type),
            funder=env.get("POLY_FUNDER") or None,
            **kwargs,
        )

    def _maker(self) -> str | None:
        """The order's maker: the EOA for type 0, else the funder (proxy, Safe, deposit wallet)."""
        if self.signature_type == ctf_order.SIG_EOA:
            if self.funder and self.address and self.funder != self.address:
                raise ValueError(
                    f"funder {self.funder}: signature type 0 trades from the key's own address {self.address}"
                )
            return self.address
        if not self.funder:
            raise ValueError(
                f"signature_type {self.signature_type} needs a funder (POLY_FUNDER): the proxy, Safe or deposit wallet"
            )
        return self.funder

    async def __aenter__(self) -> PolymarketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the order lane, and the HTTP session if this client created it."""
        await self._transport.close()

    async def open_lane(self, size: int = LANE_SIZE) -> None:
        """Open the order lane (`clients.lane`): warm connections on which an order POST is written at once."""
        await self._transport.open_lane(self._base, size)

    # --- authentication -------------------------------------------------------------------

    def _key(self) -> str:
        if not self._private_key:
            raise ValueError("POLY_PRIVATE_KEY is not set: signing needs the EOA private key")
        return self._private_key

    def _eoa(self) -> str:
        """The EOA that owns the API key (POLY_ADDRESS), also for proxy, Safe and deposit wallets."""
        if self.address is None:
            raise ValueError("POLY_PRIVATE_KEY is not set: Polymarket auth headers name the key's EOA")
        return self.address

    def l1_headers(self, timestamp: int | str | None = None, nonce: int = 0) -> dict[str, str]:
        """ClobAuth headers for `POST /auth/api-key` and `GET /auth/derive-api-key`."""
        ts = str(timestamp if timestamp is not None else int(self._clock()))
        return {
            "POLY_ADDRESS": self._eoa(),
            "POLY_SIGNATURE": signing.sign_clob_auth(self._key(), ts, nonce, self.chain_id),
            "POLY_TIMESTAMP": ts,
            "POLY_NONCE": str(nonce),
        }

    def l2_headers(
        self, method: str, path: str, body: bytes | None, timestamp: int | str | None = None
    ) -> dict[str, str]:
        """HMAC headers over timestamp + METHOD + path (query dropped) + the exact body bytes sent."""
        if self.creds is None:
            raise ValueError(
                "POLY_API_KEY, POLY_API_SECRET and POLY_API_PASSPHRASE are not all set "
                "(create_or_derive_api_key() can make them)"
            )
        ts = str(timestamp if timestamp is not None else int(self._clock()))
        return {
            "POLY_ADDRESS": self._eoa(),
            "POLY_SIGNATURE": signing.l2_signature(self.creds.secret, ts, method, path.split("?")[0], body),
            "POLY_TIMESTAMP": ts,
            "POLY_API_KEY": self.creds.api_key,
            "POLY_PASSPHRASE": self.creds.passphrase,
        }

    async def create_or_derive_api_key(self, nonce: int = 0) -> ApiCreds:
        """Create the API key for `nonce`, or derive it when it exists; the client then uses it."""
        try:
            body = await self._request("POST", "/auth/api-key", auth="l1", nonce=nonce)
            endpoint = "POST /auth/api-key"
        except ExchangeError as exc:  # 400 "Could not create api key": it exists
            if exc.status != 400:
                raise
            body = await self._request("GET", "/auth/derive-api-key", auth="l1", nonce=nonce)
            endpoint = "GET /auth/derive-api-key"
        self.creds = parse_api_creds(body, endpoint)
        return self.creds

    # --- orders ---------------------------------------------------------------------------

    def build_order(
        self,
        token_id: str,
        side: str,
        price: Decimal | str,
        size: Decimal | str | None = None,
        amount: Decimal | str | None = None,
        order_type: str = "GTC",
        tick_size: Decimal | str = Decimal("0.01"),
        neg_risk: bool = False,
        domain_version: int = 2,
        expiration: int = 0,
        salt: int | None = None,
        timestamp_ms: int | None = None,
        builder: str | None = None,
        post_only: bool = False,
    ) -> SignedOrder:
        """Sign one order; pure and deterministic when salt and timestamp_ms are given.

        GTC/GTD take `size` in shares. FOK/FAK take `amount` (BUY: pUSD to spend, SELL: shares)
        like the SDKs, or `size` in shares: a SELL sells exactly that many; a BUY spends size x
        price (at most 2 decimals) and, as the exchange fills market BUYs by their dollar amount,
        gets at least `size` shares, more when the book is better than `price`. Invalid
        combinations raise ValueError before anything is signed.
        """
        amounts = order_amounts(side, price, size, amount, order_type, tick_size)
        check_flags(order_type, expiration, post_only, timestamp_ms)
        self._eoa()
        if not ctf_order.decimal_digits(str(token_id)):
            raise ValueError(f"token_id {token_id!r}: expected the decimal uint256 token (or position) id")
        order: dict[str, Any] = {
            "salt": salt if salt is not None else secrets.randbits(SALT_BITS),
            "maker": self.maker,
            "signer": self.signer,
            "tokenId": str(token_id),
            "makerAmount": str(amounts[0]),
            "takerAmount": str(amounts[1]),
            "side": side,
            "expiration": str(expiration),
            "signatureType": self.signature_type,
            "timestamp": str(timestamp_ms if timestamp_ms is not None else int(self._clock() * 1000)),
            "metadata": ctf_order.BYTES32_ZERO,
            "builder": ctf_order.bytes32_hex(builder, "builder"),
        }
        signature, order_id = signing.signed_order_hash(order, self._key(), domain_version, neg_risk, self.chain_id)
        order["signature"] = signature
        maker_amount, taker_amount = from_units(amounts[0]), from_units(amounts[1])
        return SignedOrder(
            order_id=order_id,
            signature=signature,
            body={
                "order": order,
                "owner": self.creds.api_key if self.creds else "",
                "orderType": order_type,
                "deferExec": False,
                "postOnly": post_only,
            },
            token_id=str(token_id),
            side=side,
            price=exact_decimal(price, "price"),
            shares=taker_amount if side == "BUY" else maker_amount,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            order_type=order_type,
            domain_version=domain_version,
            neg_risk=neg_risk,
            chain_id=self.chain_id,
        )

    def prepare_post(self, signed: SignedOrder) -> OrderStart:
        """post_order's request made now (the body, its L2 HMAC headers, the request bytes). Calling the result
        sends it (on the order lane when a connection is idle: written before the call returns); awaiting what
        that returns gives what post_order would."""
        if self.creds is None or signed.body.get("owner") != self.creds.api_key:
            raise ValueError("signed order's owner is not this client's API key: build it after the key is set")
        body = orjson.dumps(signed.body)
        headers = {"Content-Type": "application/json", **self.l2_headers("POST", "/order", body)}
        url = self._url("/order")
        request = request_bytes("POST", url, headers, body)
        return lambda: self._posted(signed, self._send_order(url, headers, body, request))

    async def post_order(self, signed: SignedOrder) -> OrderResult:
        """POST the signed order; the order type travels in its body."""
        return await self.prepare_post(signed)()

    def _send_order(self, url: URL, headers: dict[str, str], body: bytes, request: bytes) -> Awaitable[Any]:
        """Write the order now on the lane when one of its connections is idle, else the normal path."""
        sent = self._transport.send_now(request, WHERE_ORDER)
        if sent is None:
            return self._transport.request("POST", url, where=WHERE_ORDER, headers=headers, body=body)
        return sent

    async def _posted(self, signed: SignedOrder, sent: Awaitable[Any]) -> OrderResult:
        return parse_post_order(await sent, signed)

    async def create_order(self, *args: Any, **kwargs: Any) -> OrderResult:
        """build_order(...) then post_order(...)."""
        return await self.post_order(self.build_order(*args, **kwargs))

    async def get_order(self, order_id: str) -> OrderResult:
        if not isinstance(order_id, str) or not PATH_ID.fullmatch(order_id):
            raise ValueError(f"order_id {order_id!r}: expected the 0x order hash (one path segment)")
        path = f"/data/order/{order_id}"
        return parse_order(await self._request("GET", path, auth="l2"), f"GET {path}")

    async def cancel_order(self, order_id: str) -> None:
        """Cancel one order; raises the mapped reason (e.g. OrderNotFound) when it was not canceled."""
        body = await self._request("DELETE", "/order", auth="l2", body=orjson.dumps({"orderID": order_id}))
        parse_cancel(body, order_id)

    async def get_trades(
        self,
        id: str | None = None,
        market: str | None = None,
        asset_id: str | None = None,
        maker_address: str | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> list[PolyTrade]:
        """All pages of `/data/trades` for the filters given."""
        filters = {
            "id": id,
            "market": market,
            "asset_id": asset_id,
            "maker_address": maker_address,
            "before": before,
            "after": after,
        }
        query = {k: str(v) for k, v in filters.items() if v is not None}
        rows = await self._all_pages("/data/trades", query)
        return [parse_trade(row) for row in rows]

    async def get_open_orders(
        self, id: str | None = None, market: str | None = None, asset_id: str | None = None
    ) -> list[OrderResult]:
        """All pages of `/data/orders` (open orders), as OrderResults like get_order's."""
        filters = {"id": id, "market": market, "asset_id": asset_id}
        rows = await self._all_pages("/data/orders", {k: v for k, v in filters.items() if v is not None})
        return [parse_order(row, "GET /data/orders") for row in rows]

    async def _all_pages(self, path: str, query: dict[str, str]) -> list[Any]:
        rows: list[Any] = []
        cursor, seen = FIRST_CURSOR, set()
        while cursor != LAST_CURSOR:
            if cursor in seen:
                raise unexpected(f"GET {path}", f"next_cursor {cursor!r} repeats (pagination loop)", None)
            seen.add(cursor)
            page = await self._request("GET", path, auth="l2", params={**query, "next_cursor": cursor})
            data, cursor = parse_page(page, f"GET {path}")
            rows.extend(data)
        return rows

    # --- account and market data ----------------------------------------------------------

    async def get_balance_allowance(
        self, asset_type: str = "COLLATERAL", token_id: str | None = None, update: bool = False
    ) -> BalanceAllowance:
        """Balance and allowances; `update=True` first refreshes the server's cached values."""
        query = {"asset_type": asset_type, "signature_type": str(self.signature_type)}
        if token_id is not None:
            query["token_id"] = str(token_id)
        if update:
            await self._request("GET", "/balance-allowance/update", auth="l2", params=query)
        return parse_balance(await self._request("GET", "/balance-allowance", auth="l2", params=query))

    async def get_book(self, token_id: str) -> PolyBook:
        return parse_book(await self._request("GET", "/book", params={"token_id": str(token_id)}))

    async def get_tick_size(self, token_id: str) -> Decimal:
        return parse_tick_size(await self._request("GET", "/tick-size", params={"token_id": str(token_id)}))

    async def get_neg_risk(self, token_id: str) -> bool:
        return parse_neg_risk(await self._request("GET", "/neg-risk", params={"token_id": str(token_id)}))

    async def get_clob_market(self, condition_id: str) -> ClobMarket:
        """The market's trading parameters as the exchange has them now: tokens, tick, minimum size, the taker fee
        rate (`fd`), whether it accepts orders. Public: no auth."""
        if not isinstance(condition_id, str) or not PATH_ID.fullmatch(condition_id):
            raise ValueError(f"condition_id {condition_id!r}: expected the 0x condition id (one path segment)")
        path = f"/clob-markets/{condition_id}"
        return parse_clob_market(await self._request("GET", path), condition_id, f"GET {path}")

    # --- transport --------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = None,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        nonce: int = 0,
    ) -> Any:
        """Sign (L1 or L2) and send once through the shared transport; nothing is retried here."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if auth == "l2":
            headers.update(self.l2_headers(method, path, body))
        elif auth == "l1":
            headers.update(self.l1_headers(nonce=nonce))
        return await self._transport.request(
            method, self._url(path), where=f"{method} {path}", headers=headers, params=params, body=body
        )

    def _url(self, path: str) -> URL:
        return URL(f"{self._base}{path}", encoded=True)  # paths are built from checked ids only
