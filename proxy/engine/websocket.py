"""A relayed WebSocket connection: the bytes go both ways as they came, each message shown to the addons first.

After the upstream's 101, the client's connection and the upstream connection are joined by two asyncio
protocols (one per leg). Each read is parsed by a `FrameReader` only to learn which messages it completed; the
addons that asked for messages see them (the recorder appends them to the session), and only then are the
bytes written to the other leg, unchanged: fragmentation, masks, pings, pongs and close codes pass as sent.
With no addon asking (passthrough, a path the capture filter skips) nothing is parsed at all.

Addon hooks, besides those in proxy.engine.mode:
  websocket_start(flow) -> bool            the 101 is decided, the client does not have it yet; True: show messages
  websocket_messages(flow, messages, t)    what one read completed (either direction), before it is relayed
  websocket_end(flow)                      both legs are closed
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from proxy.engine.flow import Flow
from proxy.tape.secrets import shown_url
from proxy.wire.upstream import UpstreamConnection
from proxy.wire.websocket import CLIENT, EXCHANGE, FrameReader, Message, WebSocketError

log = logging.getLogger("tradetape.proxy")

Ended = Callable[[Any], None]
STOPPED = "tradetape stopped: it closed the connection"  # the reason of the drop a stop of the proxy records


class Leg(asyncio.Protocol):
    """One side of a relayed connection."""

    def __init__(self, relay: Relay, sender: str, observed: bool) -> None:
        self.relay = relay
        self.sender = sender
        self.reader = FrameReader(sender) if observed else None
        self.transport: asyncio.Transport | None = None
        self.sent_close = False  # this side sent a close frame: its TCP close is not a drop
        self.closed_by_proxy = False  # the proxy closed this side (the other one ended, or a stop)
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.relay.received(self, data)

    def eof_received(self) -> bool:
        return False  # close the transport: a WebSocket has no half-open state worth keeping

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.lost(self)

    def pause_writing(self) -> None:
        self.relay.other(self).pause_reading()  # the far end reads no faster than this one drains

    def resume_writing(self) -> None:
        self.relay.other(self).resume_reading()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.closed_by_proxy = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.closed_by_proxy = True
            self.transport.abort()


class Relay:
    """A client and an upstream joined after a 101; `observers` are the addons that record its messages."""

    def __init__(self, flow: Flow, observers: list[Any], counts: Any, ended: Ended) -> None:
        self.flow = flow
        self.observers = observers
        self.counts = counts
        self.ended = ended
        self.client = Leg(self, CLIENT, bool(observers))
        self.exchange = Leg(self, EXCHANGE, bool(observers))

    def start(self, client: asyncio.Transport, leftover: bytes, upstream: UpstreamConnection) -> None:
        self.client.transport = client
        client.set_protocol(self.client)
        self.exchange.transport = cast(asyncio.Transport, upstream.transport)
        self.exchange.transport.set_protocol(self.exchange)
        early, upstream.leftover = upstream.leftover, b""
        if early:
            self.received(self.exchange, early)
        if leftover:
            self.received(self.client, leftover)
        if upstream.closed:  # it ended before the relay took over: end the relay once it is registered
            asyncio.get_running_loop().call_soon(self.lost, self.exchange)

    def other(self, leg: Leg) -> Leg:
        return self.exchange if leg is self.client else self.client

    def received(self, leg: Leg, data: bytes) -> None:
        if leg.reader is not None:
            try:
                messages = leg.reader.feed(data)
            except WebSocketError as exc:
                log.warning("WebSocket %s: %s; closing both sides", shown_url(self.flow.url), exc)
                self._show([Message(leg.sender, "drop", reason=str(exc))])
                leg.sent_close = True  # recorded above, not again as a plain drop
                self.abort()
                return
            if messages:
                self._show(messages)
                if messages[-1].kind == "close":  # nothing is parsed after a close frame
                    leg.sent_close = True
        other = self.other(leg).transport
        if other is not None and not other.is_closing():
            other.write(data)

    def _show(self, messages: list[Message]) -> None:
        now = time.time()
        for observer in self.observers:
            try:
                observer.websocket_messages(self.flow, messages, now)
            except Exception:  # the messages still go through: a recording failure must not cut a live feed
                self.counts["capture_failed"] += 1
                log.exception("a hook failed on WebSocket messages of %s", shown_url(self.flow.url))

    def lost(self, leg: Leg) -> None:
        if leg.lost:
            return
        leg.lost = True
        if leg.reader is not None and not leg.sent_close and not leg.closed_by_proxy:
            self._show([Message(leg.sender, "drop")])
        self.other(leg).close()
        if self.client.lost and self.exchange.lost:
            for observer in self.observers:
                observer.websocket_end(self.flow)
            self.ended(self)

    def check_timeouts(self, now: float) -> None:
        """The listener's idle timeouts are for HTTP: a feed may be quiet, and its keepalives are the ends' own."""

    def close(self) -> None:
        """The proxy is stopping: close both sides. The client's connection ends with no close frame, as if the
        exchange had dropped it, so that is what the recording says (with the reason) unless the exchange had
        sent its close already; a replay then ends the connection the same way."""
        if not (self.client.lost or self.exchange.lost or self.exchange.sent_close):
            self._show([Message(EXCHANGE, "drop", reason=STOPPED)])
        self.client.close()  # their connection_lost records nothing more: the proxy closed them
        self.exchange.close()

    def abort(self) -> None:
        self.client.abort()
        self.exchange.abort()


class RelayStart:
    """The Switch of a forwarded 101: joins the client to the upstream connection once the 101 is written."""

    def __init__(self, flow: Flow, upstream: UpstreamConnection, observers: list[Any], counts: Any) -> None:
        self.flow = flow
        self.upstream = upstream
        self.observers = observers
        self.counts = counts

    def attach(self, transport: Any, leftover: bytes, ended: Ended) -> Relay:
        relay = Relay(self.flow, self.observers, self.counts, ended)
        relay.start(transport, leftover, self.upstream)
        return relay

    def abandon(self) -> None:
        self.upstream.abort()
        for observer in self.observers:
            observer.websocket_end(self.flow)


def relay_start(flow: Flow, upstream: UpstreamConnection, addons: list[Any], counts: Any) -> RelayStart:
    """The Switch for a forwarded 101, with the addons that want this connection's messages."""
    observers = [a for a in addons if hasattr(a, "websocket_start") and a.websocket_start(flow)]
    return RelayStart(flow, upstream, observers, counts)
