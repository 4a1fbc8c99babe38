"""A log line never shows a credential of a session being recorded: a path, URL or error the proxy logs is
scrubbed of every credential the session has seen, whichever module logs it (the listener, the engine, the
WebSocket relay, the recorder)."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from pathlib import Path

import aiohttp
import pytest
from websockets.frames import Frame, Opcode

from proxy.engine.flow import Flow
from proxy.record.recorder import Recorder
from proxy.tape.secrets import LOGGERS, Credentials, scrub_logs
from proxy.wire.websocket import CLIENT, EXCHANGE, FrameReader
from tests.proxy_helpers import recording, running_app, running_proxy, upstream_app
from tests.ws_helpers import PATIENCE, through_proxy

TOKEN = "tok-0123456789abcdef"  # a bearer token, which the client also puts in a path and a query


def failing_request_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's request hook fails on the path holding the token (the listener logs the request)."""
    real = Recorder.request

    async def request(self: Recorder, flow: Flow) -> None:
        await real(self, flow)
        if TOKEN in flow.path:
            raise RuntimeError(f"cannot take {flow.url}")

    monkeypatch.setattr(Recorder, "request", request)


def failing_done_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's done hook fails on the path holding the token (the engine logs the flow)."""
    real = Recorder.done

    def done(self: Recorder, flow: Flow) -> None:
        real(self, flow)
        if TOKEN in flow.path:
            raise RuntimeError(f"cannot take {flow.url}")

    monkeypatch.setattr(Recorder, "done", done)


@pytest.mark.parametrize("failing", [failing_request_hook, failing_done_hook], ids=["listener", "engine"])
async def test_a_rest_request_logged_never_shows_a_credential_in_its_path_or_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failing
) -> None:
    failing(monkeypatch)
    caplog.set_level(logging.WARNING)  # the upstream's access log (INFO) is not the proxy's
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        running_app(upstream_app()) as url,
        running_proxy(url, recording(tmp_path / "s", "all")) as proxy,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(proxy.url("kalshi") + "/trade-api/v2/portfolio/balance", headers=bearer) as resp:
            assert resp.status == 200
        target = f"/trade-api/v2/keys/{TOKEN}?v=1&s={TOKEN}"
        async with http.get(proxy.url("kalshi") + target, headers=bearer) as resp:
            await resp.read()
    logged = [r for r in caplog.records if r.name.startswith("tradetape")]
    assert any(r.exc_text and "GET" in r.getMessage() and "/keys/[REDACTED]" in r.getMessage() for r in logged)
    assert TOKEN not in caplog.text  # the messages and the tracebacks
    assert "cannot take" in caplog.text


async def test_a_websocket_url_logged_never_shows_a_credential_of_the_session(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tradetape.proxy")
    async with through_proxy(recording(tmp_path / "s", "all")) as (_, proxy, _):
        host, port = proxy.url("kalshi").removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET /trade-api/ws/v2?v=1&sub={TOKEN} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nX-Api-Key: {TOKEN}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)).startswith(b"HTTP/1.1 101")
        writer.write(b"\x81\x05hello")  # a client frame without a mask: invalid, and logged
        assert await asyncio.wait_for(reader.read(), PATIENCE) == b""  # the proxy closed the connection
        writer.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "tradetape.proxy"]
    assert any(re.search(r"invalid WebSocket frame", line) and "sub=[REDACTED]" in line for line in logged)
    assert TOKEN not in caplog.text


def test_every_logger_of_the_proxy_is_scrubbed():
    """A module logging under a name of its own would print what the others scrub."""
    root = Path(__file__).resolve().parent.parent / "proxy"
    named = {m for p in root.rglob("*.py") for m in re.findall(r"getLogger\(\"([^\"]+)\"\)", p.read_text())}
    assert named and named <= set(LOGGERS)


def test_a_malformed_log_call_still_fails_only_in_the_handler_and_shows_no_credential(caplog):
    creds = Credentials()
    creds.learn([TOKEN])
    scrub_logs(creds)
    with caplog.at_level(logging.WARNING, logger="tradetape.proxy"):
        logging.getLogger("tradetape.proxy").warning("%s and %s", TOKEN)  # one argument short
    assert caplog.records and TOKEN not in caplog.text


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize(
    ("message", "args"),
    [("%(missing)s", ({"other": TOKEN},)), ("%s", (Unprintable(),)), ("%d", (TOKEN,)), (Unprintable(), ())],
    ids=["missing-key", "str-raises", "wrong-type", "message-str-raises"],
)
def test_a_log_call_whose_message_cannot_be_formatted_never_fails_its_caller(caplog, message, args):
    """Without the filter, formatting is the handler's, whose errors logging reports and swallows: a filter that
    formats must not turn a bad log call into an exception in the proxy's code."""
    creds = Credentials()
    creds.learn([TOKEN])
    scrub_logs(creds)
    with caplog.at_level(logging.WARNING, logger="tradetape.proxy"):
        logging.getLogger("tradetape.proxy").warning(message, *args)
    assert caplog.records and TOKEN not in caplog.text


class OwnTraceback(logging.Handler):
    """A handler formatting the exception itself, as JSON formatters and error trackers do."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text + (record.exc_text or ""))


def test_a_handler_formatting_the_exception_itself_never_sees_a_credential():
    creds = Credentials()
    creds.learn([TOKEN])
    scrub_logs(creds)
    handler = OwnTraceback()
    logger = logging.getLogger("tradetape.record")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"cannot take /keys/{TOKEN}")
        except RuntimeError:
            logger.exception("failed on %s", f"/keys/{TOKEN}")
    finally:
        logger.removeHandler(handler)
    assert handler.lines and "cannot take /keys/[REDACTED]" in handler.lines[0]
    assert TOKEN not in "".join(handler.lines)


@pytest.mark.parametrize("sender", [CLIENT, EXCHANGE])
def test_the_relays_frame_parser_logs_no_frame_even_at_debug(caplog, sender):
    """websockets logs each frame it parses at DEBUG (its head and tail: a Polymarket user channel's auth message
    shows its secret), under a logger of its own, before the recorder has learned the secret to scrub it."""
    caplog.set_level(logging.DEBUG)
    text = '{"auth":{"secret":"' + TOKEN + '"},"type":"user"}'
    frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=sender == CLIENT, extensions=[])
    assert [m.data for m in FrameReader(sender).feed(frame)] == [text.encode()]
    assert TOKEN not in caplog.text
