"""What one client may cost the proxy: header and body size, time to send a header, idle time, connections.

Without limits, one client could make the proxy hold a 64 MB header in memory, or open connections until
the process runs out of file descriptors, and the bot's next order would find no connection left.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

FD_RESERVE = 64  # descriptors kept for upstream connections, fixture files and the session directory


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 64 * 1024  # request line and headers; more gets a 431
    max_body_bytes: int = 16 * 1024 * 1024  # a request body; more gets a 413
    header_timeout: float = 10.0  # seconds from a request's first byte to the end of its headers; then a 408
    idle_timeout: float = 75.0  # seconds a connection may wait for its next request (or a body's next byte)
    max_connections: int = 512  # open client connections per listener; the next gets a 503


def connection_cap(wanted: int, soft_fd_limit: int | None = -1) -> int:
    """`wanted`, lowered so that FD_RESERVE descriptors stay free under the process's `ulimit -n`."""
    if soft_fd_limit == -1:
        soft_fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        soft_fd_limit = None if soft_fd_limit == resource.RLIM_INFINITY else soft_fd_limit
    if soft_fd_limit is None or wanted <= soft_fd_limit - FD_RESERVE:
        return wanted
    return max(1, soft_fd_limit - FD_RESERVE)
