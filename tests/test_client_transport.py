"""The transport both clients share (clients/transport.py): checked through each client, and on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from client_helpers import HARDHAT_KEY, Reply, ScriptedExchange, closed_port_url
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from clients.errors import ExchangeError, ProxyUpstreamError, TransportError, UnexpectedResponse
from clients.kalshi import KalshiClient
from clients.polymarket import PolymarketClient
from clients.transport import Transport

KEY_ID = "3f1c0d3e-0000-4000-8000-000000000001"
PASSPHRASE = "very-secret-passphrase"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
# per exchange: the API prefix, and one GET every client has
READ = {"kalshi": ("/trade-api/v2", "/portfolio/balance"), "poly": ("", "/tick-size")}


def client_for(exchange: str, url: str, rsa_key: rsa.RSAPrivateKey, **kwargs: Any) -> KalshiClient | PolymarketClient:
    if exchange == "kalshi":
        return KalshiClient(url + READ["kalshi"][0], KEY_ID, rsa_key, **kwargs)
    return PolymarketClient(
        url,
        private_key=HARDHAT_KEY,
        api_key="key-uuid",
        api_secret="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cz0=",
        api_passphrase=PASSPHRASE,
        **kwargs,
    )


async def read(client: KalshiClient | PolymarketClient) -> Any:
    if isinstance(client, KalshiClient):
        return await client.get_balance()
    return await client.get_tick_size(TOKEN)


@pytest.mark.parametrize("exchange", ["kalshi", "poly"])
async def test_no_answer_is_a_transport_error_without_the_signed_request(exchange, rsa_key):
    url = closed_port_url()
    async with client_for(exchange, url, rsa_key) as client:
        with pytest.raises(TransportError) as caught:
            await read(client)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    message = str(caught.value)
    assert message.startswith(f"{exchange} GET {READ[exchange][1]}: no answer (") and message.endswith(f"from {url}")
    assert KEY_ID not in message and PASSPHRASE not in message


@pytest.mark.parametrize("exchange", ["kalshi", "poly"])
async def test_a_silent_exchange_times_out_and_is_asked_once(exchange, rsa_key, aiohttp_server):
    prefix, path = READ[exchange]
    fake = ScriptedExchange(prefix=prefix)
    fake.on("GET", path, Reply(200, hang=True))
    url = await fake.serve(aiohttp_server)
    async with client_for(exchange, url.removesuffix(prefix), rsa_key, timeout=0.05) as client:
        with pytest.raises(TransportError, match=f"GET {path}: no answer \\(.*Timeout"):
            await read(client)
    assert len(fake.seen) == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("exchange", ["kalshi", "poly"])
async def test_redirects_are_refused_never_followed(exchange, status, rsa_key, aiohttp_server):
    # Following one would resend the signed headers (and a 307 or 308 the body) to its Location.
    prefix, path = READ[exchange]
    fake = ScriptedExchange(prefix=prefix)
    fake.on("GET", path, Reply(status, {"balance": 1}, {"Location": "/elsewhere"}))
    url = await fake.serve(aiohttp_server)
    async with client_for(exchange, url.removesuffix(prefix), rsa_key) as client:
        with pytest.raises(
            UnexpectedResponse, match=f"GET {path}: HTTP {status} to '/elsewhere', not followed"
        ) as caught:
            await read(client)
    assert caught.value.status == status and caught.value.exchange == exchange
    assert [s.path for s in fake.seen] == [path]


class Mapped:
    """An error mapper that remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, bytes, str, Mapping[str, str] | None]] = []

    def __call__(
        self, status: int | None, body: bytes, *, endpoint: str, headers: Mapping[str, str] | None = None
    ) -> ExchangeError:
        self.calls.append((status, body, endpoint, headers))
        return ExchangeError("mapped", exchange="test", status=status)


@pytest.fixture
async def transport():
    mapped = Mapped()
    sender = Transport("test", mapped)
    yield sender, mapped
    await sender.close()


async def test_an_empty_2xx_body_is_no_body(transport, aiohttp_server):
    sender, _ = transport
    fake = ScriptedExchange()
    fake.on("POST", "/x", Reply(204))
    fake.on("GET", "/x", Reply(200, b""))
    url = URL(await fake.serve(aiohttp_server))
    assert await sender.request("POST", url / "x", where="POST /x", headers={}, body=b"{}") is None
    assert await sender.request("GET", url / "x", where="GET /x", headers={}) is None


async def test_a_2xx_body_that_is_not_json_is_unexpected(transport, aiohttp_server):
    sender, _ = transport
    fake = ScriptedExchange()
    fake.on("GET", "/x", Reply(200, "<html>maintenance</html>"))
    url = URL(await fake.serve(aiohttp_server))
    with pytest.raises(UnexpectedResponse, match="GET /x: HTTP 200 body is not JSON") as caught:
        await sender.request("GET", url / "x", where="GET /x", headers={})
    assert caught.value.status == 200 and caught.value.body == "<html>maintenance</html>"


async def test_an_error_answer_goes_to_the_exchanges_mapper_with_its_headers(transport, aiohttp_server):
    sender, mapped = transport
    fake = ScriptedExchange()
    fake.on("GET", "/x", Reply(429, b"slow down", {"Retry-After": "3"}))
    url = URL(await fake.serve(aiohttp_server))
    with pytest.raises(ExchangeError, match="mapped"):
        await sender.request("GET", url / "x", where="GET /x", headers={})
    [(status, body, endpoint, headers)] = mapped.calls
    assert (status, body, endpoint) == (429, b"slow down", "GET /x") and headers["Retry-After"] == "3"


async def test_a_proxy_answer_is_never_given_to_the_mapper(transport, aiohttp_server):
    sender, mapped = transport
    fake = ScriptedExchange()
    fake.on(
        "GET",
        "/x",
        Reply(502, {"tradetape_error": "upstream_unreachable"}, {"X-Tradetape-Error": "upstream_unreachable"}),
    )
    url = URL(await fake.serve(aiohttp_server))
    with pytest.raises(ProxyUpstreamError):
        await sender.request("GET", url / "x", where="GET /x", headers={})
    assert mapped.calls == []


async def test_a_given_session_is_left_open():
    async with aiohttp.ClientSession() as session:
        sender = Transport("test", Mapped(), session=session)
        await sender.close()
        assert not session.closed
