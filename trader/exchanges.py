"""What the trader needs from each exchange client, as typing Protocols.

The trader never imports the clients (only the CLI does, lazily), so tests drive it with in-memory
fakes and the real `KalshiClient` / `PolymarketClient` satisfy these by shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from clients.polymarket.types import ClobMarket
from clients.types import OrderResult, OrderStart


class KalshiTrading(Protocol):
    def prepare_order(
        self,
        ticker: str,
        outcome: str,
        action: str,
        count: Decimal,
        price: Decimal,
        *,
        time_in_force: str = ...,
        client_order_id: str | None = ...,
    ) -> OrderStart:
        """The order made ready to send (body, signature, request); calling the result sends it at once."""

    async def open_lane(self) -> None:
        """Open the order lane: warm connections on which a prepared order is written at once."""

    async def find_order_by_client_order_id(
        self, client_order_id: str, *, ticker: str | None = ...
    ) -> OrderResult | None: ...

    async def get_fills(self, *, order_id: str | None = ..., ticker: str | None = ...) -> Sequence[Any]: ...

    async def get_positions(self) -> Sequence[Any]: ...

    def presign_order(self) -> None:
        """Sign the next order's request ahead of it (Kalshi signs the time, method and path, not the body)."""


class PolyTrading(Protocol):
    def build_order(
        self,
        token_id: str,
        side: str,
        price: Decimal,
        *,
        size: Decimal | None = ...,
        amount: Decimal | None = ...,
        order_type: str,
        tick_size: Decimal,
        neg_risk: bool,
    ) -> Any:
        """A signed order whose `order_id` (the local order hash) is known before it is posted; `size` in shares,
        or `amount` in pUSD for a BUY."""

    def prepare_post(self, signed: Any) -> OrderStart:
        """post_order's request made ready (body, L2 headers); calling the result sends it at once."""

    async def open_lane(self) -> None:
        """Open the order lane: warm connections on which a prepared order is written at once."""

    async def get_order(self, order_id: str) -> OrderResult: ...

    async def get_trades(self, *, asset_id: str | None = ...) -> Sequence[Any]: ...

    async def get_clob_market(self, condition_id: str) -> ClobMarket:
        """The market's parameters as the exchange has them now (`GET /clob-markets/{condition_id}`)."""


Client = KalshiTrading | PolyTrading
