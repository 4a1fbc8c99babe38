"""The order lane (clients/lane.py) against servers that answer oddly: what it may hand back as an order's answer,
and which connection it may write the next order on. Raw asyncio servers on loopback, scripted byte by byte."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal

import pytest
from client_helpers import HARDHAT_KEY, Reply, ScriptedExchange
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from clients.errors import ExchangeError, TransportError
from clients.kalshi import KalshiClient
from clients.lane import Lane, request_bytes
from clients.polymarket import PolymarketClient
from clients.transport import DEFAULT_TIMEOUT
from clients.types import Answer
from trader.arb import Policy, launch_arb
from trader.execute import execute_leg
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity

BODY = b'{"ticker":"KX-EDGE","count":"1.00"}'
OK = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
CONFLICT = b'HTTP/1.1 409 Conflict\r\nContent-Length: 14\r\n\r\n{"error":"no"}'


POLY_SECRET = base64.urlsafe_b64encode(b"s" * 32).decode()


async def loopback_clients(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], rsa_key: rsa.RSAPrivateKey
) -> tuple[asyncio.Server, KalshiClient, PolymarketClient]:
    """A raw server on 127.0.0.1 running `handler` per connection, and a Kalshi and a Polymarket client of it."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    kalshi = KalshiClient(url + "/trade-api/v2", "kid", rsa_key)
    return server, kalshi, PolymarketClient(url, HARDHAT_KEY, "api-key", POLY_SECRET, "pass")


def post(url: str) -> bytes:
    return request_bytes("POST", URL(url) / "order", {"Content-Type": "application/json"}, BODY)


HANG_UP = b"<hang up>"  # a reply ending in this is written without it, then the connection is closed


class Scripted:
    """A raw HTTP server: its Nth request (counted over all connections) is answered with replies[N] in one write,
    then the connection is closed if the reply ends in HANG_UP. It reads each whole request first."""

    def __init__(self, replies: Sequence[bytes]) -> None:
        self.replies = list(replies)
        self.requests = 0
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(len(BODY))
                reply = self.replies[self.requests]
                self.requests += 1
                writer.write(reply.removesuffix(HANG_UP))
                await writer.drain()
                if reply.endswith(HANG_UP):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Sequence[bytes]], Awaitable[tuple[Scripted, Lane]]]]:
    servers: list[asyncio.Server] = []
    lanes: list[Lane] = []

    async def make(replies: Sequence[bytes]) -> tuple[Scripted, Lane]:
        script = Scripted(replies)
        server = await asyncio.start_server(script.serve, "127.0.0.1", 0)
        servers.append(server)
        lane = Lane(
            "kalshi", URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"), size=1, timeout=DEFAULT_TIMEOUT
        )
        lanes.append(lane)
        await lane.open()
        return script, lane

    yield make
    for lane in lanes:
        await lane.close()
    for server in servers:
        server.close()


async def send_next(lane: Lane, url: str = "http://127.0.0.1:1") -> asyncio.Future[Answer] | None:
    """Send once a connection is idle (the lane reopens after a drop); None if it never is."""
    for _ in range(300):
        sent = lane.send(post(url), "POST /order")
        if sent is not None:
            return sent
        await asyncio.sleep(0.01)
    return None


@pytest.mark.parametrize(
    "stray",
    [b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", OK, b"HTTP/1.1 100 Continue\r\n\r\n"],
    ids=["half-answer", "whole-answer", "100-continue"],
)
async def test_bytes_after_the_answer_in_the_same_read_are_never_taken_for_the_next_orders_answer(scripted, stray):
    """The first answer arrives with the start of another, unasked-for one in the same read. Nothing that follows on
    that connection can be matched to a request: the next order must not be given the stray answer's status (200)
    with the real answer's bytes as its body; it goes on a new connection."""
    script, lane = await scripted([OK + stray, CONFLICT, CONFLICT])
    assert (await lane.send(post("http://x"), "POST /order")).status == 201
    sent = await send_next(lane)
    assert sent is not None
    answer = await sent
    assert (answer.status, answer.body) == (409, b'{"error":"no"}')
    assert script.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n',
        b"HTTP/1.1 201 Created\r\nContent-Length: 20\r\n\r\n{}",
    ],
    ids=["100-continue-only", "chunked-cut", "content-length-cut"],
)
async def test_an_answer_cut_short_by_the_close_is_a_transport_error(scripted, reply):
    _, lane = await scripted([reply + HANG_UP])
    sent = lane.send(post("http://x"), "POST /order")
    with pytest.raises(TransportError, match="closed before a whole answer"):
        await sent


async def test_an_interim_answer_then_the_answer_is_the_answer(scripted):
    _, lane = await scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + CONFLICT])
    answer = await lane.send(post("http://x"), "POST /order")
    assert (answer.status, answer.body) == (409, b'{"error":"no"}')


async def test_an_answer_with_connection_close_is_the_answer_and_that_connection_is_not_reused(scripted):
    closing = b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    script, lane = await scripted([closing, CONFLICT])
    assert (await lane.send(post("http://x"), "POST /order")).status == 201
    assert (await (await send_next(lane))).status == 409
    assert script.connections == 2


async def test_an_answer_delimited_by_the_close_is_a_transport_error_not_a_truncated_body(scripted):
    """No Content-Length, no chunking: the body runs to the close. The lane does not read it (fail closed: the leg
    ends unknown and recovery looks the order up), and never hands back a partial body as the answer."""
    _, lane = await scripted([b'HTTP/1.1 201 Created\r\n\r\n{"order_id"' + HANG_UP])
    sent = lane.send(post("http://x"), "POST /order")
    with pytest.raises(TransportError):
        await sent


async def test_closing_the_lane_while_an_answer_is_awaited_ends_it_in_a_transport_error():
    held = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        held.set()
        await asyncio.sleep(30)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    lane = Lane(
        "kalshi", URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"), size=2, timeout=DEFAULT_TIMEOUT
    )
    try:
        await lane.open()
        sent = lane.send(post("http://x"), "POST /order")
        await held.wait()
        await lane.close()
        with pytest.raises(TransportError, match="closed before a whole answer"):
            await asyncio.wait_for(sent, 5)
        assert lane.idle == 0 and lane.send(post("http://x"), "POST /order") is None
        await asyncio.sleep(0.05)
        assert lane.idle == 0  # nothing reopened after close
    finally:
        server.close()


class Capture:
    """A raw HTTP server that keeps each request's bytes as received and answers each with `reply`."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                writer.write(self.reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def head_of(raw: bytes, volatile: frozenset[str]) -> tuple[str, list[tuple[str, str]], bytes]:
    """(request line, headers in order with the names as written, body), leaving out Accept-Encoding (the lane asks
    for no compression) and the values of `volatile` ones (a fresh signature each time)."""
    head, body = raw.split(b"\r\n\r\n", 1)
    line, *fields = head.decode("ascii").split("\r\n")
    kept = []
    for field in fields:
        name, value = field.split(": ", 1)
        if name.lower() == "accept-encoding":
            continue
        kept.append((name, "<volatile>" if name.lower() in volatile else value))
    return line, kept, body


def refusal(body: bytes) -> bytes:
    return b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


async def captured(reply: bytes, send: Callable[[str, bool], Awaitable[None]]) -> list[bytes]:
    """The bytes of one request sent by `send(url, on_lane)` on the lane, then one sent by aiohttp."""
    capture = Capture(reply)
    server = await asyncio.start_server(capture.serve, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for on_lane in (True, False):
            await send(url, on_lane)
    finally:
        server.close()
    return capture.requests


async def test_a_kalshi_order_on_the_lane_is_the_request_aiohttp_sends(rsa_key):
    """Under a base URL with a path prefix: the same request line, Host, headers (names as written, in order, the
    signature's value aside), Content-Length and body as aiohttp's; both refusals read the same way."""
    errors: list[str] = []

    async def send(url: str, on_lane: bool) -> None:
        async with KalshiClient(url + "/pre/trade-api/v2", "kid", rsa_key, clock=lambda: 1767225600.0) as kalshi:
            if on_lane:
                await kalshi.open_lane(size=1)
            with pytest.raises(ExchangeError) as raised:
                await kalshi.create_order("KX-EDGE", "yes", "buy", "2", "0.45", client_order_id="c-1")
            errors.append(f"{type(raised.value).__name__}: {raised.value}")

    lane, plain = await captured(refusal(b'{"error":{"code":"invalid_order","message":"no"}}'), send)
    assert by_lane(lane) and not by_lane(plain)
    volatile = frozenset({"kalshi-access-signature"})
    assert head_of(lane, volatile) == head_of(plain, volatile)
    assert errors[0] == errors[1]


async def test_a_polymarket_order_on_the_lane_is_the_request_aiohttp_sends():
    errors: list[str] = []

    async def send(url: str, on_lane: bool) -> None:
        async with PolymarketClient(
            url + "/clob", HARDHAT_KEY, "api-key", POLY_SECRET, "pass", clock=lambda: 1767225600.0
        ) as poly:
            if on_lane:
                await poly.open_lane(size=1)
            signed = poly.build_order("7" * 20, "BUY", "0.53", size="2", order_type="FAK", salt=5, timestamp_ms=1)
            with pytest.raises(ExchangeError) as raised:
                await poly.post_order(signed)
            errors.append(f"{type(raised.value).__name__}: {raised.value}")

    lane, plain = await captured(refusal(b'{"error":"invalid order"}'), send)
    assert by_lane(lane) and not by_lane(plain)
    assert head_of(lane, frozenset()) == head_of(plain, frozenset())
    assert errors[0] == errors[1]


def by_lane(raw: bytes) -> bool:
    """The lane asks for no compressed answer (it reads bodies as sent); aiohttp always does."""
    return b"\r\naccept-encoding:" not in raw.lower()


@pytest.fixture
async def kalshi_exchange(aiohttp_server) -> ScriptedExchange:
    fake = ScriptedExchange(prefix="/trade-api/v2")
    await fake.serve(aiohttp_server)
    return fake


@pytest.mark.parametrize("on_lane", [True, False], ids=["lane", "aiohttp"])
async def test_the_resend_after_a_refused_presigned_timestamp_is_signed_now_and_leaves_the_next_presign(
    kalshi_exchange, rsa_key, on_lane
):
    """The engine presigns again while an order is out (every PRESIGN_EVERY, after each arb). An order refused for
    its presigned timestamp goes once more signed now, as documented: not with the newer presigned signature, which
    is older than now (and may be refused again) and belongs to the next order."""
    orders = "/portfolio/events/orders"
    ack = {"order_id": "o-1", "fill_count": "2.00", "remaining_count": "0.00", "average_fill_price": "0.4500"}
    kalshi_exchange.on("POST", orders, Reply(401, EXPIRED), Reply(201, ack))
    now = [1000.0]
    async with KalshiClient(kalshi_exchange.url, "kid", rsa_key, clock=lambda: now[0]) as kalshi:
        if on_lane:
            await kalshi.open_lane(size=1)
        kalshi.presign_order()
        now[0] += 1.5
        start = kalshi.prepare_order("KX-LANE", "yes", "buy", "2", "0.45", client_order_id="c1")
        kalshi.presign_order()  # the next order's, made while this one is out
        now[0] += 0.5
        assert (await start()).filled == Decimal("2")
        await kalshi.create_order("KX-LANE", "yes", "buy", "2", "0.45", client_order_id="c2")
    posts = kalshi_exchange.requests("POST", orders)
    stamps = [(p.body["client_order_id"], p.headers["KALSHI-ACCESS-TIMESTAMP"]) for p in posts]
    assert stamps == [("c1", "1000000"), ("c1", "1002000"), ("c2", "1001500")]


EXPIRED = {"error": {"code": "header_timestamp_expired", "message": "header timestamp expired"}}


async def test_cancelling_an_arb_after_its_orders_are_written_leaves_both_intents_open_for_recovery(rsa_key, tmp_path):
    """Both orders went out on the lanes; the arb's task is cancelled before their answers. Nothing may book them
    (`none`/`rejected` would say not placed): both intents stay pending for `recover()`, and the answers that come
    late are matched to nothing (each connection dropped and reopened, never reused mid-answer)."""
    requests: list[bytes] = []
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            requests.append(head + await reader.readexactly(length))
            await release.wait()
            writer.write(refusal(b'{"error":"late"}'))
            await writer.drain()
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server, kalshi, poly = await loopback_clients(hold, rsa_key)
    try:
        await asyncio.gather(kalshi.open_lane(size=1), poly.open_lane(size=1))
        with Ledger(tmp_path / "l.sqlite") as ledger:
            arb = asyncio.ensure_future(
                launch_arb(kalshi, poly, Opportunity(KALSHI_LEG, POLY_LEG, Decimal("0.02")), ledger, Policy())
            )
            for _ in range(500):
                if len(requests) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(requests) == 2
            arb.cancel()
            with pytest.raises(asyncio.CancelledError):
                await arb
            release.set()
            for _ in range(300):
                if (
                    kalshi._transport._lane is not None
                    and kalshi._transport._lane.idle == 1
                    and poly._transport._lane is not None
                    and poly._transport._lane.idle
                ):
                    break
                await asyncio.sleep(0.01)
            assert [i.state for i in ledger.intents()] == ["pending", "pending"]
            assert (
                kalshi._transport._lane.idle == 1 and poly._transport._lane.idle == 1
            )  # replaced once the late answers came
    finally:
        await kalshi.close()
        await poly.close()
        server.close()


KALSHI_LEG = Leg("kalshi", "KX-LANE", "buy", Decimal("2"), Decimal("0.45"), "yes")
POLY_LEG = Leg("poly", "7" * 20, "buy", Decimal("2"), Decimal("0.53"), tick_size=Decimal("0.01"), neg_risk=False)


async def test_an_upgrade_answer_is_a_transport_error_not_an_answer(scripted):
    """101 Switching Protocols to an order POST: llhttp stops parsing (httptools raises HttpParserUpgrade, not an
    HttpParserError, which asyncio would log as a fatal protocol error); the order's outcome is unknown, said as
    such, and the connection is not reused."""
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    script, lane = await scripted([upgrade + b"\x81\x02{}", CONFLICT])
    sent = lane.send(post("http://x"), "POST /order")
    with pytest.raises(TransportError, match=r"no answer \(an answer llhttp refuses \(HttpParserUpgrade"):
        await asyncio.wait_for(sent, 5)
    assert (await (await send_next(lane))).status == 409
    assert script.connections == 2


@pytest.mark.parametrize("exchange", ["kalshi", "poly"])
@pytest.mark.parametrize("server_does", ["hang_up", "half_answer", "nothing"])
async def test_a_lane_order_without_a_whole_answer_leaves_its_leg_unknown(rsa_key, tmp_path, exchange, server_does):
    """The order's bytes reached the server, whose answer never came whole (closed after reading it, closed mid-
    answer, or silent past the leg's timeout): placed or not is unknown, so the leg and its intent say `unknown`,
    never `rejected` or `none`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if server_does == "half_answer":
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"success":true')
                await writer.drain()
            if server_does == "nothing":
                await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server, kalshi, poly = await loopback_clients(serve, rsa_key)
    client = kalshi if exchange == "kalshi" else poly
    try:
        await client.open_lane(size=1)
        with Ledger(tmp_path / "l.sqlite") as ledger:
            leg = KALSHI_LEG if exchange == "kalshi" else POLY_LEG
            result = await execute_leg(client, leg, ledger, timeout=0.2)
            [intent] = ledger.intents()
    finally:
        await kalshi.close()
        await poly.close()
        server.close()
    assert (result.status, intent.state) == ("unknown", "unknown")
