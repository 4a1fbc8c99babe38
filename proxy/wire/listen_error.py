"""A listener that cannot bind: one line naming the exchange, the address and the flag that changes it."""

from __future__ import annotations

import errno


class ListenError(OSError):
    """Raised before anything is served or written, so the command can stop with nothing created."""

    def __init__(self, exchange: str, host: str, port: int, cause: OSError) -> None:
        if cause.errno == errno.EADDRINUSE:
            reason = "is already in use"
        else:
            reason = f"cannot be listened on ({cause.strerror or cause})"
        super().__init__(
            f"port {port} on {host} ({exchange}) {reason}: choose another with --listen {exchange}={host}:PORT "
            "(port 0 picks a free one)"
        )
        self.exchange = exchange
        self.port = port
