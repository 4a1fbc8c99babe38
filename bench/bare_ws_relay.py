"""The calibration peer of bench/ws_proxy.py: a bare WebSocket relay on the proxy's own layers (uvloop, asyncio
protocols, the `websockets` sans-I/O parser), with no recording, no redaction, no addons and no HTTP parser.

It relays the upgrade request and the 101 as bytes, then joins the two sockets: each read is parsed into frames
(as the recording proxy does, to know which messages it completed) and written to the other side in the same
loop turn. What it adds to a direct connection is what any relay hop costs on this machine.

    python bench/bare_ws_relay.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from websockets.protocol import OPEN, Protocol, Side

HEAD_END = b"\r\n\r\n"


class Leg(asyncio.Protocol):
    """One socket of a relayed connection: what it reads is parsed, then written to its peer."""

    def __init__(self, side: Side) -> None:
        self.parser = Protocol(side, state=OPEN, max_size=None)
        self.transport: asyncio.Transport | None = None
        self.peer: Leg | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.receive_data(data)
        self.parser.data_to_send()
        self.parser.events_received()  # the frames this read completed (a recorder would write them here)
        assert self.peer is not None and self.peer.transport is not None
        self.peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class Upgrade(asyncio.Protocol):
    """A client connection until its upgrade is relayed; then its leg of the relay."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.joining: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if HEAD_END in self.buffer:
            assert self.transport is not None
            self.transport.pause_reading()
            self.joining = asyncio.ensure_future(self.join(self.buffer))

    async def join(self, request: bytes) -> None:
        assert self.transport is not None
        head = b"\r\n".join(
            line for line in request.split(b"\r\n") if not line.lower().startswith(b"sec-websocket-extensions")
        )
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        client, exchange = Leg(Side.SERVER), Leg(Side.CLIENT)
        transport, _ = await loop.create_connection(
            lambda: HeadReader(reply, exchange), "127.0.0.1", self.upstream_port
        )
        transport.write(head)
        answer, leftover = await reply
        client.transport, client.peer, exchange.peer = self.transport, exchange, client
        self.transport.write(answer)
        self.transport.set_protocol(client)
        self.transport.resume_reading()
        if leftover:
            exchange.data_received(leftover)


class HeadReader(asyncio.Protocol):
    """The upstream connection until its 101 head is whole; then the exchange's leg."""

    def __init__(self, reply: asyncio.Future[tuple[bytes, bytes]], leg: Leg) -> None:
        self.reply = reply
        self.leg = leg
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.leg.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head, found, rest = self.buffer.partition(HEAD_END)
        if found:
            assert self.leg.transport is not None
            self.leg.transport.set_protocol(self.leg)
            self.reply.set_result((head + HEAD_END, rest))


async def serve(port: int, upstream_port: int) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: Upgrade(upstream_port), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
