"""Shared set-up for the paper Polymarket tests: a frozen SimClock, the app, and traders that sign with the
real client's pure functions. The `http` and `trader` fixtures built on them are in conftest.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient
from client_helpers import HARDHAT_KEY
from corpus import payload_dir

from clients.polymarket import PolymarketClient
from clients.polymarket.parse import parse_api_creds
from simulator.clock import SimClock
from simulator.faults import FaultInjector
from simulator.poly import EXCHANGE, create_poly_app
from simulator.poly.config import DEFAULT_SECTION

PAYLOADS = payload_dir("polymarket")
START = 1_800_000_000.0

YES = DEFAULT_SECTION["markets"][0]["tokens"][0]["token_id"]
NO = DEFAULT_SECTION["markets"][0]["tokens"][1]["token_id"]
MARKET = DEFAULT_SECTION["markets"][0]["condition_id"]
NR_YES = DEFAULT_SECTION["markets"][1]["tokens"][0]["token_id"]


def payload(name: str) -> Any:
    """The `payload` of a real (or official) Polymarket payload file."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())["payload"]


def error_body(name: str) -> Any:
    """The error body of a payload file, whether it wraps `{status, body}` or is the body."""
    data = payload(name)
    return data["body"] if isinstance(data, dict) and "body" in data else data


def frozen_clock(start: float = START) -> SimClock:
    """A clock that moves only when advanced."""
    return SimClock(start, source=lambda: 0.0)


def make_app(
    section: dict | None = None, clock: SimClock | None = None, faults: FaultInjector | None = None
) -> web.Application:
    clock = clock or frozen_clock()
    return create_poly_app(section, clock, faults or FaultInjector())


def shape(value: Any) -> Any:
    """The JSON type and string format of a value, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value == "":
        return "empty"
    if re.fullmatch(r"0x[0-9a-fA-F]+(\.\.\.)?", value):  # published logs truncate ids with "..."
        return "hex"
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return "decimal"
    return "text"


@dataclass
class Trader:
    """One account talking to the app: the real client builds, signs and authenticates."""

    http: TestClient
    client: PolymarketClient

    @classmethod
    async def login(
        cls,
        http: TestClient,
        key: str = HARDHAT_KEY,
        *,
        nonce: int = 0,
        signature_type: int = 0,
        funder: str | None = None,
    ) -> Trader:
        clock = http.app[EXCHANGE].clock
        client = PolymarketClient(
            base_url=str(http.make_url("")),
            private_key=key,
            clock=clock.now,
            signature_type=signature_type,
            funder=funder,
        )
        trader = cls(http, client)
        status, body = await trader.call("POST", "/auth/api-key", l1_nonce=nonce)
        assert status == 200, body
        client.creds = parse_api_creds(body, "POST /auth/api-key")
        return trader

    @property
    def address(self) -> str:
        assert self.client.address is not None
        return self.client.address

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        raw: bytes | None = None,
        l1_nonce: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text) of a signed request; `raw` sends exact bytes."""
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        if l1_nonce is not None:
            auth = self.client.l1_headers(nonce=l1_nonce)
        else:
            auth = self.client.l2_headers(method, path, data)
        response = await self.http.request(method, path, data=data, params=params, headers={**auth, **(headers or {})})
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text

    def order(
        self,
        token_id: str = YES,
        side: str = "BUY",
        price: str = "0.50",
        size: str | None = "10",
        amount: str | None = None,
        order_type: str = "GTC",
        tick: str = "0.01",
        neg_risk: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A signed `POST /order` body."""
        signed = self.client.build_order(
            token_id,
            side,
            Decimal(price),
            size=None if amount else Decimal(size or "0"),
            amount=Decimal(amount) if amount else None,
            order_type=order_type,
            tick_size=Decimal(tick),
            neg_risk=neg_risk,
            **kwargs,
        )
        return signed.body

    async def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.call("POST", "/order", body)


def other_key(seed: int) -> str:
    """A throwaway private key (never funded anywhere)."""
    return "0x" + (seed + 1).to_bytes(32, "big").hex()
