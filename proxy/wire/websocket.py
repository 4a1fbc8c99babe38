"""WebSocket on the wire: recognising an upgrade, the 101 head, and frames parsed and written by `websockets`.

The proxy owns its sockets (asyncio protocols), so it uses the sans-I/O layer of the `websockets` library: a
`Protocol` object parses bytes into frames and turns frames into bytes; nothing here reads or writes a socket,
and no frame is parsed by hand. permessage-deflate is never negotiated through the proxy (the upgrade goes
upstream without `Sec-WebSocket-Extensions`), so every frame on both legs is plain and recorded as sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict
from websockets.exceptions import ProtocolError
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import OPEN, Protocol, Side
from websockets.utils import accept_key

from proxy.wire.headers import upstream_headers

CLIENT = "client"  # who sent a message: the bot
EXCHANGE = "exchange"  # or the exchange (or the replay standing in for it)
DATA_KINDS = ("text", "binary")
CONTROL_KINDS = ("ping", "pong", "close")
KINDS = (*DATA_KINDS, *CONTROL_KINDS, "drop")  # drop: the sender's TCP connection ended without a close frame
NOT_RELAYED = frozenset({"sec-websocket-extensions"})  # no compression through the proxy (see the module doc)
OPCODE_KIND = {
    Opcode.TEXT: "text",
    Opcode.BINARY: "binary",
    Opcode.PING: "ping",
    Opcode.PONG: "pong",
    Opcode.CLOSE: "close",
}
NO_CODE = 1005  # what a close frame without a status code reads as (RFC 6455 7.1.5); never sent
POLICY_VIOLATION = 1008
GOING_AWAY = 1001


class WebSocketError(ValueError):
    """Bytes that are not a valid WebSocket stream for their side (unmasked client frames, bad opcodes...)."""


@dataclass(slots=True)
class Message:
    """One WebSocket message (a data message, whole even if it came fragmented) or control frame, or a drop."""

    sender: str  # CLIENT or EXCHANGE
    kind: str  # one of KINDS
    data: bytes = b""
    code: int | None = None  # close frames: None when the frame carried no code
    reason: str = ""

    def text(self) -> str | None:
        """The payload as text, or None when it is not UTF-8."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def shown(self) -> str:
        """The payload for a person: its text, else base64."""
        text = self.text()
        return text if text is not None else base64.b64encode(self.data).decode("ascii")


def is_websocket_upgrade(method: str, headers: Any) -> bool:
    """A GET asking to switch to WebSocket (RFC 6455 4.1); other upgrades (h2c) are not WebSocket."""
    if method != "GET":
        return False
    upgrade = headers.get("Upgrade", "")
    connection = headers.get("Connection", "")
    return "websocket" in upgrade.lower() and "upgrade" in connection.lower()


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: a replayed 101 must answer the live key."""
    return accept_key(key)


def switching_head(reason: str | None, headers: Any) -> bytes:
    """The 101 answer's status line and headers: the upstream's own (or a recording's), with the upgrade
    headers the handshake needs and no framing headers (nothing follows the head but frames)."""
    lines = [f"HTTP/1.1 101 {reason or 'Switching Protocols'}", "Upgrade: websocket", "Connection: Upgrade"]
    skip = {"upgrade", "connection", "content-length", "transfer-encoding", "keep-alive"}
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in skip]
    lines += ["", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def _control(sender: str, frame: Frame) -> Message:
    kind = OPCODE_KIND[frame.opcode]
    data = bytes(frame.data)
    if kind != "close":
        return Message(sender, kind, data)
    close = Close.parse(data)
    code = None if close.code == NO_CODE else int(close.code)
    return Message(sender, "close", data, code, close.reason)


class FrameReader:
    """Messages in one direction of a connection, whole (fragments joined) or control frames as they come.

    As a relay's reader (`answers=False`) it only says which messages the bytes completed, so each can be
    recorded before the other end gets it: the relay forwards the bytes as they came (masks, fragmentation
    and all) and the parser's own replies (pong, close echo) are discarded, since the far end answers.
    """

    __slots__ = ("_answers", "_kind", "_parts", "protocol", "sender")

    def __init__(self, sender: str, answers: bool = False) -> None:
        self.sender = sender
        side = Side.SERVER if sender == CLIENT else Side.CLIENT  # a server reads masked (client) frames
        self.protocol = Protocol(side, state=OPEN, max_size=None)
        # websockets logs each frame at DEBUG, under loggers of its own: a message may hold a secret (Polymarket's
        # user channel auth) the recorder has not learned yet, so nothing could scrub it
        self.protocol.debug = False
        self._answers = answers
        self._parts: list[bytes] = []
        self._kind = ""

    def feed(self, data: bytes) -> list[Message]:
        protocol = self.protocol
        protocol.receive_data(data)
        if not self._answers:
            protocol.data_to_send()
        out: list[Message] = []
        for frame in protocol.events_received():
            if not isinstance(frame, Frame):
                continue  # an open connection only has frames; requests and responses belong to handshakes
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    out.append(Message(self.sender, OPCODE_KIND[opcode], bytes(frame.data)))
                else:
                    self._kind, self._parts = OPCODE_KIND[opcode], [bytes(frame.data)]
            elif opcode is Opcode.CONT:
                self._parts.append(bytes(frame.data))
                if frame.fin:
                    out.append(Message(self.sender, self._kind, b"".join(self._parts)))
                    self._parts = []
            else:
                out.append(_control(self.sender, frame))
        if protocol.parser_exc is not None and not isinstance(protocol.parser_exc, EOFError):
            raise WebSocketError(f"the {self.sender} sent an invalid WebSocket frame: {protocol.parser_exc}")
        return out


class ServerEnd(FrameReader):
    """The proxy as the WebSocket server of a client connection (replay): reads the client's messages,
    answers its pings and its close, and frames what the replay sends."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(CLIENT, answers=True)

    @property
    def open(self) -> bool:
        return self.protocol.state is OPEN

    def send(self, message: Message) -> None:
        """Frame one message for the client (a close starts the closing handshake)."""
        protocol = self.protocol
        if protocol.state is not OPEN:
            return
        kind = message.kind
        try:
            if kind == "text":
                protocol.send_text(message.data)
            elif kind == "binary":
                protocol.send_binary(message.data)
            elif kind == "ping":
                protocol.send_ping(message.data)
            elif kind == "pong":
                protocol.send_pong(message.data)
            elif kind == "close":
                protocol.send_close(message.code, message.reason) if message.code else protocol.send_close()
        except ProtocolError as exc:  # a close code that cannot be sent (1005, 1006, ...)
            raise WebSocketError(f"cannot send {kind}: {exc}") from None

    def fail(self, code: int, reason: str) -> None:
        """Close with `code` (1008 for a frame the replay cannot answer) and read nothing more."""
        self.protocol.fail(code, reason)

    def output(self) -> tuple[list[bytes], bool]:
        """(bytes to write, whether the TCP connection should then be closed)."""
        chunks = self.protocol.data_to_send()
        eof = bool(chunks) and chunks[-1] == b""
        return [c for c in chunks if c], eof


def websocket_request_headers(headers: Any) -> CIMultiDict[str]:
    """An upgrade request's headers as they go upstream: the client's own minus hop-by-hop ones and the
    extensions offer (no compression through the proxy), with the upgrade asked for again."""
    out = upstream_headers(headers)
    for name in NOT_RELAYED:
        out.popall(name, None)
    out["Upgrade"] = "websocket"
    out["Connection"] = "Upgrade"
    return out
