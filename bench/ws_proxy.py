"""WebSocket through the proxy: relay and record of exchange->client messages, and replay in `fast` pacing.

For 1 connection and then 50, in one run beside a direct connection to the same feed server (bench/ws_upstream.py,
its own process): messages per second the client receives in a burst (about 200 bytes of JSON each), and the
one-way latency of paced messages (p50/p99; the latency the proxy adds is the difference to direct). `record` is
`tradetape record` in its own process, and counts only if every message the clients received is in the session's
frames files. `replay` serves that recording with `tradetape replay --ws-pacing fast`. The machine's load average
is printed before and after: the figures are only as quiet as the machine was.

    .venv/bin/python bench/ws_proxy.py [--messages 100000] [--paced 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
TRADETAPE = str(Path(sys.executable).with_name("tradetape"))
PATH = "/trade-api/ws/v2"
CLK = os.sysconf("SC_CLK_TCK")
PACE_US = 500  # one paced message every 0.5 ms: the feed is busy, but no queue builds up


@dataclass
class Figures:
    label: str
    connections: int
    messages: int
    per_second: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_us: float | None = None  # the proxy process's CPU time per message of the burst (all its threads)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """A process, and the first URL it prints for kalshi (tradetape) or 'ready' (the feed server)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            return proc, ""
        match = re.match(r"kalshi\s+(http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError(f"{args[0]} exited before it was ready")


def tradetape(*args: str) -> tuple[subprocess.Popen[str], str]:
    return start(TRADETAPE, *args, "--listen", "kalshi=127.0.0.1:0", "--listen", "poly=127.0.0.1:0")


async def burst(url: str, connections: int, total: int) -> Figures:
    """Every connection asks for its share at once; messages per second from the first to the last received."""
    each = total // connections
    firsts: list[float] = []
    lasts: list[float] = []

    async def one(http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(url, max_msg_size=0) as ws:
            await ws.send_str(f"burst:{each}")
            for n in range(each):
                await ws.receive()
                if n == 0:
                    firsts.append(time.perf_counter())
            lasts.append(time.perf_counter())

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http) for _ in range(connections)))
    return Figures("", connections, each * connections, each * connections / (max(lasts) - min(firsts)))


async def paced(url: str, count: int) -> tuple[float, float]:
    """(p50, p99) one-way latency in ms of `count` messages sent one every PACE_US."""
    delays = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        await ws.send_str(f"paced:{count}:{PACE_US}")
        for _ in range(count):
            message = await ws.receive()
            delays.append((time.monotonic_ns() - orjson.loads(message.data)["sent_ns"]) / 1e6)
    cuts = statistics.quantiles(delays[count // 10 :], n=100)  # the first tenth warms up
    return cuts[49], cuts[98]


async def measure(label: str, url: str, args: argparse.Namespace, connections: int, pid: int = 0) -> Figures:
    before = cpu_seconds(pid) if pid else 0.0
    figures = await burst(url, connections, args.messages)
    if pid:
        figures.cpu_us = (cpu_seconds(pid) - before) / figures.messages * 1e6
    figures.label = label
    if connections == 1 and args.paced and label != "replay fast":  # a replay's timestamps are the recording's
        figures.p50_ms, figures.p99_ms = await paced(url, args.paced)
    return figures


def recorded_messages(session: Path) -> int:
    return sum(
        1
        for frames in session.glob("*.frames.jsonl")
        for line in frames.read_bytes().splitlines()
        if b'"from":"exchange","kind":"text"' in line
    )


async def run(args: argparse.Namespace, work: Path) -> list[Figures]:
    results = []
    port = free_port()
    feed, _ = start(sys.executable, str(ROOT / "bench" / "ws_upstream.py"), str(port))
    upstream = f"http://127.0.0.1:{port}"
    try:
        for connections in (1, 50):
            direct = await measure("direct", upstream.replace("http", "ws") + PATH, args, connections)
            results.append(direct)
            session = work / f"record{connections}"
            proc, url = tradetape(
                "record", "--upstream", f"kalshi={upstream}", "--upstream", f"poly={upstream}",
                "--capture-dir", str(work), "--session", session.name,
            )  # fmt: skip
            try:
                results.append(await measure("record", url.replace("http", "ws") + PATH, args, connections, proc.pid))
            finally:
                proc.terminate()
                proc.wait(20)
            expected = args.messages // connections * connections + (args.paced if connections == 1 else 0)
            got = recorded_messages(session)
            if got != expected:
                raise SystemExit(f"record: {got} exchange messages in the session, {expected} received: not counted")
            if connections == 1:
                proc, url = tradetape("replay", "--ws-pacing", "fast", str(session))
                try:
                    results.append(await measure("replay fast", url.replace("http", "ws") + PATH, args, 1, proc.pid))
                finally:
                    proc.terminate()
                    proc.wait(20)
    finally:
        feed.terminate()
        feed.wait(20)
    return results


def table(results: list[Figures]) -> str:
    direct = {r.connections: r for r in results if r.label == "direct"}
    rows = [
        "| mode | connections | messages | messages/s | × direct | p50 ms | p99 ms | added p50 ms | CPU µs/message |",
        "|" + "---|" * 9,
    ]
    for r in results:
        base = direct[r.connections]
        added = (
            f"{r.p50_ms - base.p50_ms:.3f}"
            if r.p50_ms is not None and base.p50_ms is not None and r is not base
            else ""
        )
        p50 = f"{r.p50_ms:.3f}" if r.p50_ms is not None else ""
        p99 = f"{r.p99_ms:.3f}" if r.p99_ms is not None else ""
        ratio = f"{r.per_second / base.per_second:.2f}"
        cpu = f"{r.cpu_us:.1f}" if r.cpu_us is not None else ""
        rows.append(
            f"| {r.label} | {r.connections} | {r.messages} | {r.per_second:,.0f} | {ratio} | {p50} | {p99} | {added} "
            f"| {cpu} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per burst (split over connections)")
    parser.add_argument("--paced", type=int, default=3000, help="paced messages for the latency figures (0: none)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    work = Path(tempfile.mkdtemp(prefix="tradetape-ws-bench-"))
    try:
        results = uvloop.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
