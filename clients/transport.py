"""The HTTP transport both exchange clients share: send one request, read what came back.

Reading an answer goes in this order, the same for both exchanges:
1. an answer the tradetape proxy made itself (`X-Tradetape-Error`) raises its ProxyAnswer, never an
   exchange error, so nothing above retries it;
2. a redirect is refused, never followed: following it would resend the signed headers (and a 307
   the order body) to its Location;
3. any other non-2xx answer raises the exchange's own error, mapped by the client's `ErrorMapper`;
4. a 2xx body is parsed as JSON, an empty body being no body (None).
A request that gets no answer (refused, reset, timed out) raises TransportError with no chained cause:
aiohttp's errors carry the request, signed headers included.
Retrying is the caller's decision (Kalshi retries GETs on top of this); this module sends once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import aiohttp
import orjson
from yarl import URL

from clients.errors import ExchangeError, TransportError, UnexpectedResponse, proxy_answer
from clients.lane import LANE_SIZE, Lane
from clients.types import Answer

DEFAULT_TIMEOUT = 10.0  # seconds per request; aiohttp's own default would wait 5 minutes
SNIPPET = 120  # bytes of an unreadable body quoted in an error message


class ErrorMapper(Protocol):
    """An exchange's error answer (status, body, "METHOD /path", headers) -> its ExchangeError."""

    def __call__(
        self, status: int | None, body: bytes, *, endpoint: str, headers: Mapping[str, str] | None = None
    ) -> ExchangeError: ...


class Transport:
    """One aiohttp session for one exchange; a given session is the caller's to close. `timeout` bounds each
    request in seconds, on aiohttp's path and on the order lane alike; None waits as long as the answer takes."""

    def __init__(
        self,
        exchange: str,
        error_for: ErrorMapper,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.exchange = exchange
        self._error_for = error_for
        self._session = session
        self._owns_session = session is None
        self._seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._lane: Lane | None = None

    async def open_lane(self, origin: URL, size: int = LANE_SIZE) -> None:
        """Open the order lane to `origin` (`clients.lane`): warm connections on which a request is written at once."""
        if self._lane is None:
            self._lane = Lane(self.exchange, origin, size=size, timeout=self._seconds)
        await self._lane.open()

    def send_now(self, request: bytes, where: str) -> Awaitable[Any] | None:
        """Write `request` (its bytes, `clients.lane.request_bytes`) now on an idle lane connection and return what
        reads its answer as `request` reads one; None when no lane connection is idle (the caller sends by
        `request`)."""
        sent = self._lane.send(request, where) if self._lane is not None else None
        return None if sent is None else self.answer(sent, where)

    async def close(self) -> None:
        """Close the order lane, and the session if this transport created it."""
        if self._lane is not None:
            await self._lane.close()
            self._lane = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        url: URL,
        *,
        where: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        """Send once and read the answer: parsed JSON, None for an empty body, or the error it means.

        `where` ("METHOD /path") names the request in every error; no answer at all is TransportError.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                answer = Answer(response.status, response.headers, await response.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            # str, never repr, and no chained cause: aiohttp's errors carry the request headers.
            raise TransportError(
                f"{self.exchange} {where}: no answer ({type(exc).__name__}: {exc}) from {url.origin()}"
            ) from None
        return self.read(answer, where)

    async def answer(self, sent: Awaitable[Answer], where: str) -> Any:
        """`read` an answer that comes by another way (the order lane's, `clients.lane`) once it comes."""
        return self.read(await sent, where)

    def read(self, answer: Answer, where: str) -> Any:
        """Parsed JSON of a 2xx answer (None when empty); raise what any other answer means."""
        proxied = proxy_answer(answer.status, answer.headers, answer.body)
        if proxied is not None:
            raise proxied
        if 300 <= answer.status < 400:
            location = answer.headers.get("Location")
            raise UnexpectedResponse(
                f"{where}: HTTP {answer.status} to {location!r}, not followed",
                exchange=self.exchange,
                status=answer.status,
            )
        if not 200 <= answer.status < 300:
            raise self._error_for(answer.status, answer.body, endpoint=where, headers=answer.headers)
        return self.json(answer, where)

    def json(self, answer: Answer, where: str) -> Any:
        """The body as JSON; an empty body is no body (None), anything else unreadable is UnexpectedResponse."""
        if not answer.body:
            return None
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            raise UnexpectedResponse(
                f"{where}: HTTP {answer.status} body is not JSON: {answer.body[:SNIPPET]!r}",
                exchange=self.exchange,
                status=answer.status,
                body=answer.body.decode("utf-8", "replace"),
            ) from None
