"""Proxy overhead: direct vs passthrough, record and replay (and peers) at concurrency 1 and 32.

Prints req/s, p50/p99 latency, the proxy's CPU time per request, and each mode's ratio to direct in the
same run. The load generator is wrk when installed (say so), else a Python aiohttp loop. Everything
runs on 127.0.0.1.

    .venv/bin/python bench/proxy_overhead.py [--seconds 5] [--memory-requests 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/trade-api/v2/portfolio/events/orders"
BODY = (
    '{"ticker":"KXBENCH-26NOV23","client_order_id":"6f1c2e4a-1111-4b2b-9c3d-5e6f7a8b9c0d","side":"ask",'
    '"count":"5.00","price":"0.5500","time_in_force":"immediate_or_cancel","self_trade_prevention_type":"taker_at_cross"}'
)
# The replay source is recorded with the client_order_id the upstream's answer carries, and wrk sends another,
# so every replayed request goes through correlation: learned recorded -> live, and the answer rewritten.
RECORDED_ID, LIVE_ID = "4a75f0b2-8f4e-4f59-a2f1-0c1d9e3b7a55", "6f1c2e4a-1111-4b2b-9c3d-5e6f7a8b9c0d"
TRADETAPE = str(Path(sys.executable).with_name("tradetape"))
CLK = os.sysconf("SC_CLK_TCK")
MITMDUMP = os.environ.get("MITMDUMP") or shutil.which("mitmdump") or ""


@dataclass
class Result:
    label: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def start(args: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---- load generators ---------------------------------------------------------------------

WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["KALSHI-ACCESS-KEY"] = "bench-key"
"""


def wrk_unit(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, concurrency: int, seconds: float, script: Path) -> tuple[int, float, float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = wrk_unit(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = wrk_unit(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    return requests, rps, p50, p99


async def python_load(url: str, concurrency: int, seconds: float, body: str = BODY) -> tuple[int, float, float, float]:
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json", "KALSHI-ACCESS-KEY": "bench-key"}

    async def worker(http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return (
        len(latencies),
        len(latencies) / elapsed,
        statistics.median(latencies),
        latencies[int(len(latencies) * 0.99) - 1],
    )


def load(url: str, concurrency: int, seconds: float, script: Path | None) -> tuple[int, float, float, float]:
    if script is not None:
        return run_wrk(url, concurrency, seconds, script)
    return asyncio.run(python_load(url, concurrency, seconds))


# ---- modes -------------------------------------------------------------------------------


def proxy_args(mode: str, upstream: str, port: int, capture: Path) -> list[str]:
    if mode == "bare":
        return [
            sys.executable,
            str(ROOT / "bench" / "bare_forwarder.py"),
            str(port),
            upstream,
            str(capture / f"bare_{port}.jsonl"),
        ]
    if mode == "mitmdump":
        return [
            MITMDUMP,
            "--mode",
            f"reverse:{upstream}",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
            "-w",
            str(capture / f"mitm_{port}.flows"),
            "-q",
        ]
    common = [
        "--listen",
        f"kalshi=127.0.0.1:{port}",
        "--listen",
        f"poly=127.0.0.1:{free_port()}",
        "--admin-token-file",
        str(capture / f"admin-token-{port}"),  # the bench's own, not the user's ~/.tradetape/admin-token
        "--upstream",
        f"kalshi={upstream}",
        "--upstream",
        f"poly={upstream}",
    ]
    if mode == "record":
        return [TRADETAPE, "record", *common, "--capture-dir", str(capture), "--session", f"bench_{port}"]
    if mode == "replay":
        return [TRADETAPE, "replay", str(capture / "replay_source"), "--on-exhausted", "repeat-last", *common[:6]]
    return [TRADETAPE, mode, *common]


def measure(label: str, url: str, pid: int | None, concurrency: int, seconds: float, script: Path | None) -> Result:
    load(url, concurrency, min(1.0, seconds), script)  # warm up
    cpu0 = cpu_seconds(pid) if pid else 0.0
    requests, rps, p50, p99 = load(url, concurrency, seconds, script)
    cpu = (cpu_seconds(pid) - cpu0) / requests * 1e6 if pid else None
    return Result(label, concurrency, requests, rps, p50, p99, cpu)


def make_replay_source(capture: Path, upstream: str) -> None:
    """One recorded create-order exchange, replayed with repeat-last (and correlation: see RECORDED_ID)."""
    port = free_port()
    proc = start(
        [
            TRADETAPE,
            "record",
            "--listen",
            f"kalshi=127.0.0.1:{port}",
            "--listen",
            f"poly=127.0.0.1:{free_port()}",
            "--upstream",
            f"kalshi={upstream}",
            "--upstream",
            f"poly={upstream}",
            "--capture-dir",
            str(capture),
            "--session",
            "replay_source",
        ],
        port,
    )
    asyncio.run(python_load(f"http://127.0.0.1:{port}{PATH}", 1, 0.01, BODY.replace(LIVE_ID, RECORDED_ID)))
    stop(proc)
    for extra in sorted((capture / "replay_source").glob("[0-9]*.json"))[1:]:
        extra.unlink()


def check_correlated(url: str) -> None:
    """The replayed answer must carry the live client_order_id, or the replay figures measure less than they say."""
    request = urllib.request.Request(
        url, data=BODY.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read().decode()
    if LIVE_ID not in body or RECORDED_ID in body:
        raise SystemExit(f"replay did not correlate the client_order_id: {body}")


def check_all_captured(port: int, session: Path) -> None:
    """Every forwarded request has its fixture file, or the record figures measure less than they say."""
    time.sleep(0.5)  # requests wrk abandoned at the end of its run are still finishing
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__tradetape/status", timeout=10) as answer:
        counts = json.loads(answer.read())["counts"]
    files = sum(1 for _ in session.glob("[0-9]*.json"))
    if not counts["forwarded"] or counts["captured"] != counts["forwarded"] or files != counts["forwarded"]:
        raise SystemExit(f"record did not capture every request: {counts}, {files} fixture files in {session}")


def memory_growth(upstream: str, capture: Path, requests: int, script: Path | None) -> tuple[float, float, int]:
    port = free_port()
    proc = start(proxy_args("record", upstream, port, capture), port)
    url = f"http://127.0.0.1:{port}{PATH}"
    load(url, 8, 0.5, script)
    before = rss_mb(proc.pid)
    done = 0
    while done < requests:
        done += load(url, 32, 2.0, script)[0]
    after = rss_mb(proc.pid)
    stop(proc)
    return before, after, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--modes",
        default="passthrough,record,replay,bare" + (",mitmdump" if MITMDUMP else ""),
        help="passthrough, record, replay, and the peers: bare (a bare aiohttp forwarder appending to one "
        "file) and mitmdump (mitmproxy recording in reverse mode; set MITMDUMP or put it on PATH)",
    )
    parser.add_argument(
        "--memory-requests", type=int, default=0, help="also record this many requests and report RSS growth"
    )
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk exists")
    parser.add_argument(
        "--fast-upstream", action="store_true", help="upstream on aiohttp's low-level server and uvloop"
    )
    opts = parser.parse_args()

    use_wrk = shutil.which("wrk") is not None and not opts.python_load
    capture = Path(tempfile.mkdtemp(prefix="tradetape-bench-"))
    script = None
    if use_wrk:
        script = capture / "post.lua"
        script.write_text(WRK_SCRIPT)
    print(
        f"load generator: {'wrk (1 thread)' if use_wrk else 'Python aiohttp loop (wrk not installed)'}; "
        f"{opts.seconds:g} s per run; {os.cpu_count()} cores; POST {PATH}; upstream: "
        f"{'aiohttp low-level server on uvloop' if opts.fast_upstream else 'aiohttp application on asyncio'}"
    )

    up_port = free_port()
    upstream_args = [sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]
    upstream_proc = start(upstream_args + (["--fast"] if opts.fast_upstream else []), up_port)
    upstream = f"http://127.0.0.1:{up_port}"
    results: list[Result] = []
    try:
        modes = [m for m in opts.modes.split(",") if m]
        if "replay" in modes:
            make_replay_source(capture, upstream)
        for concurrency in (1, 32):
            results.append(measure("direct", upstream + PATH, None, concurrency, opts.seconds, script))
            for mode in modes:
                port = free_port()
                proc = start(proxy_args(mode, upstream, port, capture), port)
                try:
                    if mode == "replay":
                        check_correlated(f"http://127.0.0.1:{port}{PATH}")
                    results.append(
                        measure(mode, f"http://127.0.0.1:{port}{PATH}", proc.pid, concurrency, opts.seconds, script)
                    )
                    if mode == "record":
                        check_all_captured(port, capture / f"bench_{port}")
                finally:
                    stop(proc)
        report(results)
        if opts.memory_requests:
            before, after, done = memory_growth(upstream, capture, opts.memory_requests, script)
            print(
                f"\nmemory: recording {done} requests grew the proxy's RSS from {before:.1f} MB to {after:.1f} MB "
                f"(+{after - before:.1f} MB)"
            )
    finally:
        stop(upstream_proc)
        shutil.rmtree(capture, ignore_errors=True)


def report(results: list[Result]) -> None:
    direct = {r.concurrency: r for r in results if r.label == "direct"}
    print(
        f"\n{'mode':<12}{'conc':>5}{'req/s':>10}{'x direct':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'+p50 ms':>9}{'CPU us/req':>12}"
    )
    for r in results:
        base = direct[r.concurrency]
        cpu = "upstream" if r.label == "direct" else f"{r.cpu_us:.0f}"
        print(
            f"{r.label:<12}{r.concurrency:>5}{r.rps:>10.0f}{r.rps / base.rps:>10.2f}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}"
            f"{r.p50_ms - base.p50_ms:>9.3f}{cpu:>12}"
        )


if __name__ == "__main__":
    main()
