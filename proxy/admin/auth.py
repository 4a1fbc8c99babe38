"""Who may drive the admin API: this user's own programs, never a web page or another user.

A browser page can send a "simple" cross-origin POST (text/plain, no preflight) to 127.0.0.1, and a
page whose DNS name is rebound to 127.0.0.1 can even read the answers. So an admin request with an
`Origin` header, or a `Host` that is not the listener's own loopback address, is refused; a call that
changes state also needs `Content-Type: application/json` (a page cannot send that without a CORS
preflight, which the proxy never answers) and the per-process token, sent as `X-Tradetape-Token`.
The token is printed at start-up and written to a file only the user can read.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tapecontract import ADMIN_FORBIDDEN, ADMIN_UNAUTHORIZED, ADMIN_UNSUPPORTED_MEDIA_TYPE

if TYPE_CHECKING:
    from proxy.engine.proxy import Listener
    from proxy.wire.listener import Request

TOKEN_HEADER = "X-Tradetape-Token"
TOKEN_FILE_ENV = "TRADETAPE_ADMIN_TOKEN_FILE"
DEFAULT_TOKEN_FILE = "~/.tradetape/admin-token"
READS = frozenset({"GET", "HEAD"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def token_file_path(flag: str | None) -> Path:
    """--admin-token-file, else $TRADETAPE_ADMIN_TOKEN_FILE, else ~/.tradetape/admin-token."""
    return Path(flag or os.environ.get(TOKEN_FILE_ENV) or DEFAULT_TOKEN_FILE).expanduser()


def write_token_file(path: Path, token: str) -> None:
    """The token in a file only the user can read (0600, in a 0700 directory it creates)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have been created with other permissions
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)


def remove_token_file(path: Path, token: str) -> None:
    """Remove the file at exit, unless another proxy has since written its own token there."""
    with contextlib.suppress(OSError):
        if path.read_text().strip() == token:
            path.unlink()


def own_hosts(listener: Listener) -> frozenset[str]:
    """The Host values that name this listener: its loopback names and its own address, with its port."""
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    return frozenset(f"{name}:{listener.port}" for name in (*LOOPBACK_NAMES, host))


def refusal(request: Request, listener: Listener, token: str) -> tuple[int, str, str] | None:
    """(status, kind, detail) when the admin request must be refused, else None."""
    headers = request.headers
    if "Origin" in headers:
        return 403, ADMIN_FORBIDDEN, "admin requests with an Origin header (a web page) are refused"
    host = headers.get("Host", "").lower()
    if host not in own_hosts(listener):
        return 403, ADMIN_FORBIDDEN, f"Host {host!r} is not this listener's own loopback address"
    if request.method in READS:
        return None
    content_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        return 415, ADMIN_UNSUPPORTED_MEDIA_TYPE, "state-changing admin calls need Content-Type: application/json"
    if not hmac.compare_digest(headers.get(TOKEN_HEADER, "").encode(), token.encode()):
        return 401, ADMIN_UNAUTHORIZED, f"send the token printed at start-up in {TOKEN_HEADER}"
    return None
