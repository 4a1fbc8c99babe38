"""The trader's orders on the clients' order lanes (clients/lane.py), against servers on loopback."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections import Counter
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from client_helpers import HARDHAT_KEY, Reply, ScriptedExchange
from proxy_helpers import fixtures_in, listeners_for, recording
from test_trader_sim import POLY_NO, TICKER, sim, sim_kalshi, sim_poly  # noqa: F401 - fixtures
from yarl import URL

from clients import errors
from clients.errors import TransportError
from clients.kalshi import KalshiClient
from clients.polymarket import PolymarketClient
from proxy.admin.routes import handle as admin_routes
from proxy.engine.proxy import Proxy
from trader.arb import Policy, execute_arb, launch_arb
from trader.execute import execute_leg
from trader.fakes import FakeKalshi, FakePoly
from trader.ledger import Ledger
from trader.legs import Leg, Opportunity

ORDERS = "/portfolio/events/orders"
KALSHI_LEG = Leg("kalshi", "KX-LANE", "buy", D("2"), D("0.45"), "yes")
POLY_LEG = Leg("poly", "7" * 20, "buy", D("2"), D("0.53"), tick_size=D("0.01"), neg_risk=False)
EXPIRED = {"error": {"code": "header_timestamp_expired", "message": "header timestamp expired"}}
ACK = {"order_id": "o-1", "fill_count": "2.00", "remaining_count": "0.00", "average_fill_price": "0.4500"}


def by_lane(seen) -> bool:
    """The lane asks for no compressed answer (it reads bodies as sent); aiohttp always does."""
    return "Accept-Encoding" not in seen.headers


class Orders(ThreadingHTTPServer):
    """A plain HTTP/1.1 server on its own threads: it sees requests even while the test's event loop is blocked."""

    def __init__(self, posts: int) -> None:
        self.seen: list[str] = []
        self.all_seen = threading.Event()
        self.posts = posts
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                server.seen.append(self.path)
                if len(server.seen) == server.posts:
                    server.all_seen.set()
                body = b'{"error":"busy"}'
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


async def test_both_orders_are_written_before_launch_arb_returns(rsa_key, tmp_path):
    """The server runs on threads of its own and the loop is blocked once launch_arb returns: nothing of the loop
    (no aiohttp task) can send meanwhile, so both requests it sees were written inside launch_arb's call."""
    server = Orders(posts=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = base64.urlsafe_b64encode(b"s" * 32).decode()
    kalshi = KalshiClient(server.url + "/trade-api/v2", "kid", rsa_key)
    poly = PolymarketClient(server.url, HARDHAT_KEY, "api-key", secret, "pass")
    try:
        await asyncio.gather(kalshi.open_lane(), poly.open_lane())
        with Ledger(tmp_path / "l.sqlite") as ledger:
            arb = launch_arb(
                kalshi, poly, Opportunity(KALSHI_LEG, POLY_LEG, D("0.02")), ledger, Policy(resolve_unknown=False)
            )
            assert server.all_seen.wait(5), server.seen  # blocks the loop
            assert sorted(server.seen) == ["/order", "/trade-api/v2" + ORDERS]
            result = await arb
            assert (result.kalshi.status, result.poly.status) == ("unknown", "unknown")  # a 500 may have placed it
            assert [i.state for i in ledger.intents()] == ["unknown", "unknown"]
    finally:
        await kalshi.close()
        await poly.close()
        server.shutdown()
        server.server_close()


async def test_a_connection_lost_before_the_answer_leaves_the_leg_unknown(rsa_key, tmp_path):
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/trade-api/v2"
    async with server, KalshiClient(url, "kid", rsa_key) as kalshi:
        await kalshi.open_lane(size=1)
        with Ledger(tmp_path / "l.sqlite") as ledger:
            result = await execute_leg(kalshi, KALSHI_LEG, ledger)
            [intent] = ledger.intents()
    assert result.status == "unknown" and intent.state == "unknown"
    assert "the connection closed before a whole answer" in str(result.error)
    assert f"client_order_id {intent.key}" in str(result.error)


@pytest.fixture
async def exchange(aiohttp_server) -> ScriptedExchange:
    fake = ScriptedExchange(prefix="/trade-api/v2")
    await fake.serve(aiohttp_server)
    return fake


async def test_an_order_with_no_idle_connection_goes_by_aiohttp(exchange, rsa_key):
    exchange.on("POST", ORDERS, Reply(201, ACK))
    async with KalshiClient(exchange.url, "kid", rsa_key) as kalshi:
        await kalshi.open_lane(size=1)
        first = kalshi.prepare_order("KX-LANE", "yes", "buy", D("2"), D("0.45"), client_order_id="c1")()
        second = kalshi.prepare_order("KX-LANE", "yes", "buy", D("2"), D("0.45"), client_order_id="c2")()
        results = await asyncio.gather(first, second)
    assert [r.filled for r in results] == [D("2"), D("2")]
    lanes = {s.body["client_order_id"]: by_lane(s) for s in exchange.requests("POST", ORDERS)}
    assert lanes == {"c1": True, "c2": False}


async def test_an_order_refused_for_its_presigned_timestamp_goes_once_more_signed_now(exchange, rsa_key):
    exchange.on("POST", ORDERS, Reply(401, EXPIRED), Reply(201, ACK))
    now = [1000.0]
    async with KalshiClient(exchange.url, "kid", rsa_key, clock=lambda: now[0]) as kalshi:
        await kalshi.open_lane(size=1)
        kalshi.presign_order()
        now[0] += 1.5
        result = await kalshi.create_order("KX-LANE", "yes", "buy", D("2"), D("0.45"), client_order_id="c1")
    assert result.filled == D("2")
    posts = exchange.requests("POST", ORDERS)
    assert [(by_lane(p), p.headers["KALSHI-ACCESS-TIMESTAMP"]) for p in posts] == [
        (True, "1000000"),
        (False, "1001500"),
    ]


async def test_a_lane_order_refused_for_a_fresh_signature_is_not_sent_again(exchange, rsa_key):
    exchange.on("POST", ORDERS, Reply(401, EXPIRED))
    async with KalshiClient(exchange.url, "kid", rsa_key) as kalshi:
        await kalshi.open_lane(size=1)
        with pytest.raises(Exception, match="header_timestamp_expired"):
            await kalshi.create_order("KX-LANE", "yes", "buy", D("2"), D("0.45"))
    assert [by_lane(p) for p in exchange.requests("POST", ORDERS)] == [True]


async def test_the_recording_proxy_records_the_lanes_orders(sim, sim_kalshi, sim_poly, tmp_path):  # noqa: F811
    """tradetape record in front of the simulator: an arb's two orders, written on the lanes, are recorded and
    answered as aiohttp's would be."""
    counts: Counter[str] = Counter()
    session = tmp_path / "session"
    listeners = listeners_for(sim.kalshi_url, sim.poly_url)
    async with Proxy(listeners, recording(session)(counts), 30.0, counts=counts, admin=admin_routes) as proxy:
        kalshi = KalshiClient(proxy.url("kalshi") + "/trade-api/v2", "kid", sim_kalshi._private_key)
        poly = PolymarketClient(
            proxy.url("poly"), HARDHAT_KEY, sim_poly.creds.api_key, sim_poly.creds.secret, sim_poly.creds.passphrase
        )
        async with kalshi, poly:
            await asyncio.gather(kalshi.open_lane(), poly.open_lane())
            opportunity = Opportunity(
                Leg("kalshi", TICKER, "buy", D("5"), D("0.45"), "yes"),
                Leg("poly", POLY_NO, "buy", D("5"), D("0.53"), tick_size=D("0.01"), neg_risk=False),
                D("0.02"),
            )
            with Ledger(tmp_path / "l.sqlite") as ledger:
                result = await execute_arb(kalshi, poly, opportunity, ledger)
    assert (result.kalshi.status, result.poly.status, result.matched) == ("filled", "filled", D("5"))
    posts = [f for f in fixtures_in(session) if f["request"]["method"] == "POST"]
    assert sorted(URL(f["request"]["url"]).path for f in posts) == ["/order", "/trade-api/v2" + ORDERS]
    assert all(f["response"]["status"] in (200, 201) for f in posts)
    kalshi_post = next(f for f in posts if f["request"]["url"].endswith(ORDERS))
    assert kalshi_post["request"]["body"]["client_order_id"] == result.kalshi.key
    assert not any("accept-encoding" in f["request"]["headers"] for f in posts)  # written by the lanes, not aiohttp
    assert kalshi_post["request"]["headers"]["kalshi-access-signature"] == "[REDACTED]"


class Starting(FakeKalshi):
    """A Kalshi whose order start raises `error` in the caller's turn (as a lane write could), or sends normally."""

    def __init__(self, error: Exception | None) -> None:
        super().__init__()
        self.error = error

    def prepare_order(self, *args, **kwargs):
        start = super().prepare_order(*args, **kwargs)
        if self.error is None:
            return start

        def raising():
            raise self.error

        return raising


@pytest.mark.parametrize(
    "error, status, state",
    [
        (TransportError("connection reset while writing"), "unknown", "unknown"),
        (ValueError("bad input"), "rejected", "rejected"),
        (RuntimeError("a bug"), "unknown", "pending"),  # outside the taxonomy: unknown, the intent left to recover()
    ],
)
async def test_a_leg_whose_start_raises_ends_as_a_failed_send_would(tmp_path, error, status, state):
    opportunity = Opportunity(
        KALSHI_LEG, Leg("poly", "5", "buy", D("2"), D("0.53"), tick_size=D("0.01"), neg_risk=False), D("0.02")
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        result = await execute_arb(Starting(error), FakePoly(), opportunity, ledger, Policy(resolve_unknown=False))
        states = {i.leg.exchange: i.state for i in ledger.intents()}
    assert (result.kalshi.status, result.poly.status) == (status, "filled")
    assert result.kalshi.error is error
    assert states["kalshi"] == state and states["poly"] == "filled"


@pytest.mark.parametrize(
    "reply, error, text",
    [
        (
            Reply(599, {"tradetape_error": "unmatched", "detail": {}}, {"X-Tradetape-Error": "unmatched"}),
            errors.ReplayMismatch,
            "unmatched",
        ),
        (Reply(307, None, {"Location": "http://127.0.0.1:1/elsewhere"}), errors.UnexpectedResponse, "not followed"),
        (
            Reply(400, {"error": {"code": "insufficient_balance", "message": "no money"}}),
            errors.InsufficientBalance,
            "insufficient_balance",
        ),
        (Reply(201, "not json"), errors.UnexpectedResponse, "not JSON"),
    ],
)
async def test_a_lane_answer_is_read_as_the_transport_reads_one(exchange, rsa_key, reply, error, text):
    exchange.on("POST", ORDERS, reply)
    async with KalshiClient(exchange.url, "kid", rsa_key) as kalshi:
        await kalshi.open_lane(size=1)
        with pytest.raises(error, match=text):
            await kalshi.create_order("KX-LANE", "yes", "buy", D("2"), D("0.45"))
    assert [by_lane(p) for p in exchange.requests("POST", ORDERS)] == [True]


LIVE = {"success": True, "errorMsg": "", "orderID": "0xr", "status": "live", "makingAmount": "", "takingAmount": ""}


@pytest.mark.parametrize("seconds", [None, 0, -1.0])
async def test_with_timeout_none_a_kalshi_order_on_the_lane_is_answered_and_its_connection_reused(
    exchange, rsa_key, seconds
):
    """timeout=None is aiohttp's "no timeout", and so is a timeout of 0 or less (aiohttp.helpers.ceil_timeout): the
    lane sets no timer, writes the order and waits for its answer; the connection goes back to the lane (the second
    order, on a one-connection lane, goes by it too)."""
    exchange.on("POST", ORDERS, Reply(201, ACK))
    exchange.on("GET", "/portfolio/balance", Reply(200, {"balance": 100, "portfolio_value": 0, "updated_ts": 1}))
    async with KalshiClient(exchange.url, "kid", rsa_key, timeout=seconds) as kalshi:
        await kalshi.open_lane(size=1)
        for key in ("c1", "c2"):
            result = await kalshi.create_order("KX-LANE", "yes", "buy", D("2"), D("0.45"), client_order_id=key)
            assert result.filled == D("2")
        await kalshi.get_balance()  # aiohttp's path, without a timeout too
    assert [by_lane(p) for p in exchange.requests("POST", ORDERS)] == [True, True]
    assert len(exchange.requests("GET", "/portfolio/balance")) == 1


async def test_with_timeout_none_a_polymarket_order_on_the_lane_is_answered_and_its_connection_reused(aiohttp_server):
    clob = ScriptedExchange()
    await clob.serve(aiohttp_server)
    clob.on("POST", "/order", Reply(200, LIVE))
    secret = base64.urlsafe_b64encode(b"s" * 32).decode()
    async with PolymarketClient(clob.url, HARDHAT_KEY, "api-key", secret, "pass", timeout=None) as poly:
        await poly.open_lane(size=1)
        for salt in (1, 2):
            result = await poly.create_order("7" * 20, "BUY", "0.3", size="12", salt=salt, timestamp_ms=salt)
            assert result.status == "live"
    assert [by_lane(p) for p in clob.requests("POST", "/order")] == [True, True]
