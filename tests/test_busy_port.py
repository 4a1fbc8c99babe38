"""A port already in use: one line naming the port and the flag to change, exit 2, nothing created."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.engine.mode import Mode
from proxy.engine.proxy import Listener, Proxy
from proxy.exchanges.upstream import Upstream
from proxy.wire.listen_error import ListenError
from tests.cli_helpers import run

FIXTURE = str(Path(__file__).resolve().parent.parent / "fixtures" / "kalshi_full_fill")


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    yield holder.getsockname()[1]
    holder.close()


@pytest.mark.parametrize(
    "command",
    [
        ["record", "--session", "s"],
        ["replay", FIXTURE],
        ["passthrough"],
        ["sim"],
    ],
)
@pytest.mark.parametrize("exchange, other", [("kalshi", "poly"), ("poly", "kalshi")])
def test_a_busy_port_is_one_line_exit_2_and_nothing_created(tmp_path, busy_port, command, exchange, other):
    done = run(
        *command,
        "--listen",
        f"{exchange}=127.0.0.1:{busy_port}",
        "--listen",
        f"{other}=127.0.0.1:0",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: port {busy_port} on 127.0.0.1 ({exchange}) is already in use: choose another with "
        f"--listen {exchange}=127.0.0.1:PORT (port 0 picks a free one)\n"
    )
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # record made no ./fixtures/s (nor ./fixtures)


async def test_proxy_bind_leaves_nothing_bound_when_a_later_listener_fails(busy_port):
    upstream = Upstream("kalshi", "http://127.0.0.1:9", False)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    first_port = free.getsockname()[1]
    free.close()
    listeners = [
        Listener("kalshi", "127.0.0.1", first_port, upstream),
        Listener("poly", "127.0.0.1", busy_port, upstream),
    ]
    proxy = Proxy(listeners, Mode("replay", forwards=False))
    with pytest.raises(ListenError, match=f"port {busy_port} on 127.0.0.1 \\(poly\\) is already in use"):
        await proxy.bind()
    again = socket.socket()
    again.bind(("127.0.0.1", first_port))  # the first listener's port was released
    again.close()


def test_a_port_that_cannot_be_listened_on_for_another_reason_says_why(tmp_path):
    done = run("passthrough", "--listen", "kalshi=127.0.0.2:0", "--listen", "poly=192.0.2.1:0", "--allow-remote")
    assert done.returncode == 2 and "(poly) cannot be listened on (" in done.stderr
    assert "--listen poly=192.0.2.1:PORT" in done.stderr and len(done.stderr.splitlines()) == 1
