"""pytest plugin: `@pytest.mark.tradetape("fixtures/kalshi_full_fill", ...)` and the `tradetape` fixture.

Each test gets its own replay proxy on free loopback ports, running on its own event-loop thread so
sync and async tests alike can call it, and KALSHI_BASE_URL / POLY_CLOB_URL and the feeds' KALSHI_WS_URL /
POLY_WS_URL point at it for the test. A test fails when a request or a client WebSocket message went unmatched
or, unless the marker says allow_unused=True, when a fixture was never served or a replayed connection left
recorded messages unconsumed: a replay that was not fully used proved less than it seems.
An `async def` test with the marker runs on asyncio even in a project with no asyncio plugin or config.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

MARKER_OPTIONS = (
    "allow_unused",
    "on_exhausted",
    "strict_order",
    "latency",
    "ignore_fields",
    "ws_pacing",
    "speed",
    "causal_timeout",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tradetape(*sources, allow_unused=False, on_exhausted='error', strict_order=False, latency='none', "
        "ignore_fields=(), ws_pacing='causal', speed=1.0, causal_timeout=5.0): replay these sessions, fixture "
        "files or scenario names for the `tradetape` fixture",
    )


def _marker_settings(node: pytest.Item) -> tuple[list[str], dict[str, Any]]:
    marker = node.get_closest_marker("tradetape")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{node.nodeid}: the tradetape fixture needs @pytest.mark.tradetape(SOURCE, ...)")
    unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
    if unknown:
        raise pytest.UsageError(
            f"{node.nodeid}: @pytest.mark.tradetape: unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(MARKER_OPTIONS)})"
        )
    return [str(s) for s in marker.args], dict(marker.kwargs)


@pytest.fixture
def tradetape(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An in-process replay proxy for this test; sources come from @pytest.mark.tradetape."""
    from proxy.exchanges import PROFILES
    from proxy.replay.replayer import ReplayOptions
    from proxy.replay.server import ReplayServer

    sources, settings = _marker_settings(request.node)
    root = request.config.rootpath
    resolved = [str(root / s) if (root / s).exists() else s for s in sources]
    options = ReplayOptions(
        settings.get("on_exhausted", "error"),
        bool(settings.get("strict_order", False)),
        settings.get("latency", "none"),
        settings.get("ws_pacing", "causal"),
        float(settings.get("speed", 1.0)),
        float(settings.get("causal_timeout", 5.0)),
    )
    server = ReplayServer(
        resolved,
        root / "fixtures",
        tuple(settings.get("ignore_fields", ())),
        options,
        bool(settings.get("allow_unused", False)),
    )
    server.start()
    for name, profile in PROFILES.items():
        monkeypatch.setenv(profile.base_url_env, server.base_url(name))
        monkeypatch.setenv(profile.websocket.url_env, server.ws_url(name))
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an `async def` test this plugin marks on a fresh event loop, so it needs no asyncio plugin or config.

    A test an asyncio plugin runs (pytest-asyncio in auto mode, or marked asyncio) reaches this hook already
    wrapped as a plain function and is left alone.
    """
    if pyfuncitem.get_closest_marker("tradetape") is None or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**arguments))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After a passing test body: fail it if its replay saw unmatched requests or messages, or left fixtures or
    messages unused."""
    result = yield
    server = getattr(item, "funcargs", {}).get("tradetape")
    if server is not None and type(server).__name__ == "ReplayServer":
        problems = server.problems()
        if problems:
            hint = (
                ""
                if server.allow_unused
                else "\n(@pytest.mark.tradetape(..., allow_unused=True) accepts unused fixtures)"
            )
            pytest.fail("tradetape replay:\n" + "\n".join(problems) + hint, pytrace=False)
    return result
