"""WebSocket through the proxy: relay and record of exchange->client messages, and replay in `fast` pacing.

Beside a direct connection to the same feed server (bench/ws_upstream.py, its own process), in one run: a bare
relay (bench/bare_ws_relay.py: the proxy's layers, nothing recorded: what any relay hop costs here), `tradetape
passthrough`, and `tradetape record`, all up at once. For 1 connection and then 50: messages per second the
clients receive in a burst (about 200 bytes of JSON each) and each relay's CPU time per message (the figure load
moves least). Then the one-way latency of paced messages (p50/p99), in rounds where the relays take turns; the
latency a relay adds is its p50 minus direct's in the same round. `record` counts only if every message its
clients received is in the session's frames files. Last, `replay` serves the recording's first connection with
`tradetape replay --ws-pacing fast`. The load average is printed before and after: the wall-clock figures are
only as quiet as the machine was.

    .venv/bin/python bench/ws_proxy.py [--messages 100000] [--paced 3000] [--rounds 3] [--before DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
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
import websockets

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
    cpu_us: float | None = None  # the proxy process's CPU time per message of the burst (all its threads)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """A process, and the first URL it prints for kalshi (tradetape) or 'ready' (the feed server)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            return proc, ""
        match = re.match(r"kalshi\s+(http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError(f"{args[0]} exited before it was ready")


def tradetape(*args: str, code: str | None = None) -> tuple[subprocess.Popen[str], str]:
    """`tradetape` of this checkout, or of the checkout `code` (--before)."""
    env = {**os.environ, "PYTHONPATH": code} if code else None
    return start(TRADETAPE, *args, "--listen", "kalshi=127.0.0.1:0", "--listen", "poly=127.0.0.1:0", env=env)


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


async def measure_burst(label: str, url: str, connections: int, total: int, pid: int) -> Figures:
    before = cpu_seconds(pid) if pid else 0.0
    figures = await burst(url, connections, total)
    if pid:
        figures.cpu_us = (cpu_seconds(pid) - before) / figures.messages * 1e6
    figures.label = label
    return figures


def recorded_messages(session: Path) -> int:
    return sum(
        1
        for frames in session.glob("*.frames.jsonl")
        for line in frames.read_bytes().splitlines()
        if b'"from":"exchange","kind":"text"' in line
    )


def session_name(label: str) -> str:
    return label.replace(" ", "").replace("(", "-").replace(")", "")


def ws(url: str) -> str:
    return url.replace("http", "ws", 1) + PATH


async def latency_rounds(urls: dict[str, str], args: argparse.Namespace) -> dict[str, list[tuple[float, float]]]:
    """Paced latency of every relay, `args.rounds` times, the relays taking turns within a round (so a burst of
    load on the machine falls on all of them alike)."""
    out: dict[str, list[tuple[float, float]]] = {label: [] for label in urls}
    for _ in range(args.rounds):
        for label, url in urls.items():
            out[label].append(await paced(url, args.paced))
    return out


async def run(args: argparse.Namespace, work: Path) -> tuple[list[Figures], dict[str, list[tuple[float, float]]]]:
    """Every relay up at once beside the feed server; bursts per relay, then paced rounds, then replay."""
    results = []
    port, bare_port = free_port(), free_port()
    feed, _ = start(sys.executable, str(ROOT / "bench" / "ws_upstream.py"), str(port))
    upstream = f"http://127.0.0.1:{port}"
    procs = [feed]
    try:
        bare, _ = start(sys.executable, str(ROOT / "bench" / "bare_ws_relay.py"), str(bare_port), str(port))
        procs.append(bare)
        passthrough, passthrough_url = tradetape(
            "passthrough", "--upstream", f"kalshi={upstream}", "--upstream", f"poly={upstream}"
        )
        procs.append(passthrough)
        relays = {
            "direct": (ws(upstream), 0),
            "bare relay": (ws(f"http://127.0.0.1:{bare_port}"), bare.pid),
            "passthrough": (ws(passthrough_url), passthrough.pid),
        }
        codes = {"record": None, **({"record (before)": args.before} if args.before else {})}
        recorders = {}
        for label, code in codes.items():
            proc, url = tradetape(
                "record", "--upstream", f"kalshi={upstream}", "--upstream", f"poly={upstream}",
                "--capture-dir", str(work), "--session", session_name(label), code=code,
            )  # fmt: skip
            procs.append(proc)
            recorders[label] = proc
            relays[label] = (ws(url), proc.pid)
        for connections in (1, 50):
            for label, (url, pid) in relays.items():
                results.append(await measure_burst(label, url, connections, args.messages, pid))
        rounds = await latency_rounds({label: url for label, (url, _) in relays.items()}, args) if args.paced else {}
        for label, proc in recorders.items():
            proc.terminate()
            proc.wait(20)
            expected = sum(r.messages for r in results if r.label == label) + args.paced * args.rounds
            got = recorded_messages(work / session_name(label))
            if got != expected:
                raise SystemExit(f"{label}: {got} exchange messages in the session, {expected} received: not counted")
        replay, replay_url = tradetape("replay", "--ws-pacing", "fast", str(work / session_name("record")))
        procs.append(replay)
        # the recording's first connection is the 1-connection burst: replay serves it in full, fast
        results.append(await measure_burst("replay fast", ws(replay_url), 1, args.messages, replay.pid))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(20)
    return results, rounds


def burst_table(results: list[Figures]) -> str:
    direct = {r.connections: r for r in results if r.label == "direct"}
    rows = [
        "| mode | connections | messages | messages/s | × direct | CPU µs/message |",
        "|" + "---|" * 6,
    ]
    for r in sorted(results, key=lambda r: r.connections):
        ratio = f"{r.per_second / direct[r.connections].per_second:.2f}"
        cpu = f"{r.cpu_us:.1f}" if r.cpu_us is not None else ""
        rows.append(f"| {r.label} | {r.connections} | {r.messages} | {r.per_second:,.0f} | {ratio} | {cpu} |")
    return "\n".join(rows)


def latency_table(rounds: dict[str, list[tuple[float, float]]]) -> str:
    """Per relay: the median over rounds of p50 and p99, and of the p50 added to direct in the same round."""
    direct = [p50 for p50, _ in rounds["direct"]]
    rows = [
        "| mode | p50 ms (median of rounds) | p99 ms (median) | added p50 ms (median) | added p50 ms per round |",
        "|" + "---|" * 5,
    ]
    for label, figures in rounds.items():
        added = [p50 - d for (p50, _), d in zip(figures, direct, strict=True)]
        median_added = f"{statistics.median(added):.3f}" if label != "direct" else ""
        each = " ".join(f"{a:.3f}" for a in added) if label != "direct" else ""
        p50 = statistics.median(p for p, _ in figures)
        p99 = statistics.median(p for _, p in figures)
        rows.append(f"| {label} | {p50:.3f} | {p99:.3f} | {median_added} | {each} |")
    return "\n".join(rows)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per burst (split over connections)")
    parser.add_argument("--paced", type=int, default=3000, help="paced messages per latency round (0: none)")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds, the relays taking turns in each")
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="a checkout of tradetape (e.g. `git worktree add /tmp/before main`) whose record runs beside this one's, "
        "as `record (before)`",
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"kernel {platform.release()}, uvloop {uvloop.__version__}, websockets {websockets.__version__}"
    )
    print(f"load average before: {load()}")
    work = Path(tempfile.mkdtemp(prefix="tradetape-ws-bench-"))
    try:
        results, rounds = uvloop.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(burst_table(results))
    if rounds:
        print(
            f"\none-way latency, one message every {PACE_US} µs, {args.paced} per round (first tenth dropped), "
            f"{args.rounds} rounds:"
        )
        print(latency_table(rounds))
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
