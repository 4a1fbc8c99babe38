"""The real `tradetape record` process: SIGKILL at any moment loses no answered request and leaves a session every
tool reads; SIGTERM writes the summary."""

from __future__ import annotations

import asyncio
import re
import signal
import stat
import sys
from pathlib import Path

import aiohttp
import orjson
from click.testing import CliRunner

from proxy.cli.options import parse_listeners
from proxy.cli.tools import audit_command, export_command, fsck_command, inspect_command
from proxy.replay.sources import load_sources
from proxy.replay.volatile import volatile_sets
from proxy.tape.fixture import MANIFEST, fixture_seq, load_fixture, session_files
from proxy.tape.frames import read_frames
from proxy.tape.journal import JOURNAL
from proxy.tape.stored import session_fixtures
from tests.proxy_helpers import running_app, upstream_app
from tests.ws_helpers import scripted_exchange, ws_url

TRADETAPE = str(Path(sys.executable).with_name("tradetape"))


async def start_tradetape(
    *args: str, token_file: Path
) -> tuple[asyncio.subprocess.Process, dict[str, str], dict[str, str], str]:
    """The process, the listener and upstream URL of each exchange as it printed them, and its admin token."""
    proc = await asyncio.create_subprocess_exec(
        TRADETAPE,
        *args,
        "--listen",
        "kalshi=127.0.0.1:0",
        "--listen",
        "poly=127.0.0.1:0",
        "--admin-token-file",
        str(token_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    urls: dict[str, str] = {}
    upstreams: dict[str, str] = {}
    token = ""
    while len(urls) < 2 or not token:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, (await proc.stderr.read()).decode()
        match = re.match(r"(kalshi|poly)\s+(http://\S+) -> (\S+)", line)
        if match:
            urls[match.group(1)], upstreams[match.group(1)] = match.group(2), match.group(3)
        token = re.match(r"admin token: (\S+)", line).group(1) if line.startswith("admin token: ") else token
    return proc, urls, upstreams, token


async def start_record(
    upstream: str, capture: Path, *more: str
) -> tuple[asyncio.subprocess.Process, dict[str, str], str]:
    proc, urls, _, token = await start_tradetape(
        "record",
        *more,
        "--upstream",
        f"kalshi={upstream}",
        "--upstream",
        f"poly={upstream}",
        "--capture-dir",
        str(capture),
        "--session",
        "burst",
        "--filter",
        "all",
        token_file=capture / "admin-token",
    )
    return proc, urls, token


def test_default_listeners_are_loopback_8787_and_8788():
    assert parse_listeners((), False) == {"kalshi": ("127.0.0.1", 8787), "poly": ("127.0.0.1", 8788)}


async def post_orders(
    url: str, count: int, answered: list[int], concurrency: int, enough: asyncio.Event | None = None, at: int = 0
) -> None:
    """`count` create orders, each body numbered; the numbers whose answer arrived go to `answered`, and
    `enough` is set once `at` have."""
    limit = asyncio.Semaphore(concurrency)

    async def one(http: aiohttp.ClientSession, i: int) -> None:
        async with limit:
            try:
                async with http.post(
                    url + "/trade-api/v2/portfolio/events/orders", data=orjson.dumps({"i": i})
                ) as resp:
                    await resp.read()
                    answered.append(i)
                    if enough is not None and len(answered) >= at:
                        enough.set()
            except aiohttp.ClientError:
                pass

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(one(http, i) for i in range(count)))


def check_killed_session(session: Path, answered: list[int]) -> list[dict]:
    """What a SIGKILL at any moment must leave: every answered request recorded, seqs gap-free, every file
    whole, and every tool able to read the session; fsck then gives the closed form. The fixtures, by seq."""
    stored = session_fixtures(session)
    fixtures = [s.load() for s in stored]  # every fixture whole and valid, from the journal or its file
    assert set(answered) <= {f["request"]["body"]["i"] for f in fixtures}
    assert [f["seq"] for f in fixtures] == list(range(1, len(fixtures) + 1))
    assert all(load_fixture(p)["seq"] == fixture_seq(p.name) for p in session_files(session))  # files are whole
    assert len([p for p in session.iterdir() if p.name.endswith(".tmp")]) <= 1  # at most the file being written
    runner = CliRunner()
    timeline = runner.invoke(inspect_command, [str(session)])
    assert timeline.exit_code == 0 and len(timeline.output.splitlines()) == len(fixtures) + 1, timeline.output
    har = session.parent / "killed.har"
    assert runner.invoke(export_command, [str(session), "--har", "-o", str(har)]).exit_code == 0
    assert [e["_tradetape"]["seq"] for e in orjson.loads(har.read_bytes())["log"]["entries"]] == [
        f["seq"] for f in fixtures
    ]
    audit = runner.invoke(audit_command, [str(session)])
    assert audit.exit_code == 0, audit.output
    loaded = load_sources([str(session)], session.parent, volatile_sets())
    assert [r.seq for r in loaded.recordings] == [f["seq"] for f in fixtures]
    assert all("leftover of an interrupted write" in warning for warning in loaded.warnings), loaded.warnings
    held = {s.path.name: s.data for s in stored if s.data is not None}
    fsck = runner.invoke(fsck_command, [str(session)])
    assert f"{len(fixtures)} valid fixtures" in fsck.output, fsck.output
    assert fsck.exit_code == 0 or "did not finish writing" in fsck.output, fsck.output  # only a torn end
    assert not (session / JOURNAL).exists()
    files = session_files(session)
    assert [p.name for p in files] == [s.path.name for s in stored]
    assert all(p.read_bytes() == held[p.name] for p in files if p.name in held)  # byte for byte the journal's
    manifest = orjson.loads((session / MANIFEST).read_bytes())
    assert [e["file"] for e in manifest["fixtures"]] == [p.name for p in files]
    return fixtures


async def test_sigkill_during_a_burst_loses_no_answered_request_and_every_tool_reads_the_session(tmp_path):
    async with running_app(upstream_app()) as upstream:
        proc, urls, _ = await start_record(upstream, tmp_path)
        answered: list[int] = []
        enough = asyncio.Event()
        burst = asyncio.create_task(post_orders(urls["kalshi"], 3000, answered, 64, enough, 300))
        await enough.wait()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await burst
    assert 300 <= len(answered) < 3000
    assert (tmp_path / "burst" / JOURNAL).exists()  # killed mid-session: what the journal holds is the truth
    check_killed_session(tmp_path / "burst", answered)


async def test_sigkill_while_files_are_written_from_the_journal(tmp_path):
    """Once requests pause, the recorder writes the fixture files from the journal; killed meanwhile."""
    session = tmp_path / "burst"
    async with running_app(upstream_app()) as upstream:
        proc, urls, _ = await start_record(upstream, tmp_path)
        answered: list[int] = []
        await post_orders(urls["kalshi"], 400, answered, 16)
        while not session_files(session):  # noqa: ASYNC110 (a file system has no event): files are being written
            await asyncio.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert len(answered) == 400 and (session / JOURNAL).exists()
    assert len(check_killed_session(session, answered)) == 400


async def test_a_killed_session_is_continued_without_a_gap(tmp_path):
    async with running_app(upstream_app()) as upstream:
        proc, urls, _ = await start_record(upstream, tmp_path)
        answered: list[int] = []
        await post_orders(urls["kalshi"], 50, answered, 8)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        proc, urls, _ = await start_record(upstream, tmp_path, "--append")  # the same --session
        await post_orders(urls["kalshi"], 5, answered, 1)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    session = tmp_path / "burst"
    assert not (session / JOURNAL).exists()
    fixtures = [load_fixture(p) for p in session_files(session)]
    assert [f["seq"] for f in fixtures] == list(range(1, 56))
    assert [f["request"]["body"]["i"] for f in fixtures[50:]] == [0, 1, 2, 3, 4]


async def test_sigterm_finishes_writes_manifest_and_prints_summary(tmp_path):
    async with running_app(upstream_app()) as upstream:
        proc, urls, _ = await start_record(upstream, tmp_path)
        async with aiohttp.ClientSession() as http:
            for i in range(3):
                async with http.get(urls["poly"] + f"/data/trades?i={i}") as resp:
                    assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "forwarded 3, captured 3" in out.decode()
    manifest = orjson.loads((tmp_path / "burst" / MANIFEST).read_bytes())
    assert [e["seq"] for e in manifest["fixtures"]] == [1, 2, 3]
    assert manifest["upstreams"]["poly"] == {"url": upstream, "live": False, "simulator": False}
    assert (tmp_path / "burst" / "003_GET_poly_trades.json").exists()


async def test_record_with_no_upstream_records_against_the_built_in_simulator(tmp_path):
    proc, urls, upstreams, _ = await start_tradetape(
        "record", "--capture-dir", str(tmp_path), "--session", "sim", "--filter", "all", token_file=tmp_path / "t"
    )
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", u) for u in upstreams.values())  # the in-process simulator
    async with aiohttp.ClientSession() as http:
        async with http.get(urls["kalshi"] + "/trade-api/v2/markets") as resp:
            markets = await resp.json()
        async with http.get(urls["poly"] + "/version") as resp:
            version = await resp.json()
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 20)
    assert markets["markets"] and markets["cursor"] == ""
    assert version == {"version": 2}
    manifest = orjson.loads((tmp_path / "sim" / MANIFEST).read_bytes())
    assert manifest["upstreams"]["kalshi"]["simulator"] and manifest["upstreams"]["poly"]["simulator"]
    assert [e["file"] for e in manifest["fixtures"]] == ["001_GET_kalshi_markets.json", "002_GET_poly_version.json"]


async def test_record_switches_to_replay_and_passthrough_at_runtime(tmp_path):
    async with running_app(upstream_app()) as upstream:
        proc, urls, token = await start_record(upstream, tmp_path)
        order = urls["kalshi"] + "/trade-api/v2/portfolio/events/orders"
        async with aiohttp.ClientSession() as http:
            async with http.post(order, data=b'{"i":1}') as resp:
                recorded = await resp.read()
            admin = {"X-Tradetape-Token": token}  # json= sends Content-Type: application/json
            async with http.post(
                urls["kalshi"] + "/__tradetape/mode",
                json={"mode": "replay", "sources": [str(tmp_path / "burst")]},
                headers=admin,
            ) as resp:
                assert resp.status == 200 and (await resp.json())["mode"] == "replay"
            async with http.post(order, data=b'{"i":1}') as resp:
                assert await resp.read() == recorded
            async with http.post(order, data=b'{"i":1}') as resp:
                assert resp.status == 599 and resp.headers["X-Tradetape-Error"] == "exhausted"
            async with http.get(urls["kalshi"] + "/__tradetape/status") as resp:
                counts = (await resp.json())["counts"]
            assert counts["forwarded"] == 1 and counts["replayed"] == 1  # nothing more went upstream
            async with http.post(
                urls["poly"] + "/__tradetape/mode", json={"mode": "passthrough"}, headers=admin
            ) as resp:
                assert (await resp.json())["mode"] == "passthrough"
            async with http.post(urls["poly"] + "/__tradetape/mode", json={"mode": "bogus"}, headers=admin) as resp:
                assert resp.status == 409 and "available: passthrough, record, replay" in (await resp.text())
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)


async def test_the_admin_token_is_printed_at_start_up_and_written_to_a_file_only_the_user_can_read(tmp_path):
    async with running_app(upstream_app()) as upstream:
        proc, urls, token = await start_record(upstream, tmp_path)
        token_file = tmp_path / "admin-token"
        written, permissions = token_file.read_text(), stat.S_IMODE(token_file.stat().st_mode)
        mode = urls["kalshi"] + "/__tradetape/mode"
        async with aiohttp.ClientSession() as http, http.post(mode, json={"mode": "passthrough"}) as resp:
            without = resp.status
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert len(token) >= 32 and written == token + "\n" and permissions == 0o600
    assert without == 401
    assert not token_file.exists()  # removed at exit: a stale token opens nothing, but it is tidier


async def test_sigkill_during_a_frame_burst_loses_no_frame_the_client_received(tmp_path):
    async with scripted_exchange() as exchange:
        proc, urls, _, _ = await start_tradetape(
            "record",
            "--upstream",
            f"kalshi={exchange.url}",
            "--upstream",
            f"poly={exchange.url}",
            "--capture-dir",
            str(tmp_path),
            "--session",
            "burst",
            token_file=tmp_path / "admin-token",
        )
        got: list[int] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(urls["kalshi"], "/trade-api/ws/v2")) as ws:
            await ws.send_str("burst:50000")
            async for message in ws:
                got.append(orjson.loads(message.data)["i"])
                if len(got) == 2000:
                    proc.send_signal(signal.SIGKILL)  # the rest of the burst keeps arriving until the socket dies
        await proc.wait()
    # Usually the kill lands mid-burst; on a loaded machine the proxy may have relayed all of it into the socket
    # first. Either way every frame the client got must have been in the session before it was sent.
    assert 2000 <= len(got) <= 50000 and got == list(range(len(got)))
    frames = read_frames(tmp_path / "burst" / "001_GET_kalshi_ws.frames.jsonl")  # whole lines; a torn one skipped
    sent = [orjson.loads(f["text"])["i"] for f in frames.frames if f["from"] == "exchange"]
    assert sent[: len(got)] == got  # every frame the client got was in the session first, in order
    assert [f["seq"] for f in frames.frames] == list(range(2, 2 + len(frames.frames)))
