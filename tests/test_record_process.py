"""The real `tradetape record` process: SIGKILL mid-burst leaves only whole fixtures, SIGTERM writes the summary."""

from __future__ import annotations

import asyncio
import re
import signal
import stat
import sys
from pathlib import Path

import aiohttp
import orjson

from proxy.cli.options import parse_listeners
from proxy.tape.fixture import MANIFEST, load_fixture, session_files
from proxy.tape.frames import read_frames
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


async def start_record(upstream: str, capture: Path) -> tuple[asyncio.subprocess.Process, dict[str, str], str]:
    proc, urls, _, token = await start_tradetape(
        "record",
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


async def test_sigkill_during_a_burst_leaves_whole_files_and_loses_no_answered_request(tmp_path):
    async with running_app(upstream_app()) as upstream:
        proc, urls, _ = await start_record(upstream, tmp_path)
        answered: list[int] = []
        enough = asyncio.Event()  # 300 answered: the kill lands in the middle of the burst

        async def one(http: aiohttp.ClientSession, i: int) -> None:
            try:
                async with http.post(
                    urls["kalshi"] + "/trade-api/v2/portfolio/events/orders", data=orjson.dumps({"i": i})
                ) as resp:
                    await resp.read()
                    answered.append(i)
                    if len(answered) >= 300:
                        enough.set()
            except aiohttp.ClientError:
                pass

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            tasks = [asyncio.create_task(one(http, i)) for i in range(3000)]
            await enough.wait()
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await asyncio.gather(*tasks)
    assert 300 <= len(answered) < 3000
    session = tmp_path / "burst"
    fixtures = [load_fixture(p) for p in session_files(session)]  # every file whole and valid
    recorded = {f["request"]["body"]["i"] for f in fixtures}
    assert set(answered) <= recorded
    seqs = [f["seq"] for f in fixtures]
    assert seqs == list(range(1, len(seqs) + 1))
    leftovers = [p.name for p in session.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= 1  # at most the one file being written at the moment of the kill


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
    assert 2000 <= len(got) < 50000 and got == list(range(len(got)))
    frames = read_frames(tmp_path / "burst" / "001_GET_kalshi_ws.frames.jsonl")  # whole lines; a torn one skipped
    sent = [orjson.loads(f["text"])["i"] for f in frames.frames if f["from"] == "exchange"]
    assert sent[: len(got)] == got  # every frame the client got was in the session first, in order
    assert [f["seq"] for f in frames.frames] == list(range(2, 2 + len(frames.frames)))
