"""Concurrency-1 latency of several proxies measured request by request in alternation, for A/B comparisons.

On a shared VM the host's load changes from one second to the next, so two modes measured in turn (as
proxy_overhead.py does) can differ by more than the change being judged. Here the upstream and every
proxy run at once, each request kind goes to each of them in a shuffled order per round, and each mode's
latency is compared with passthrough's in the same round: the median of those paired differences is what
a mode adds over forwarding alone, nearly free of the host's drift. The host's steal time during the run
is printed (time the VM wanted a CPU and did not get one).

The client is a plain blocking socket loop, and the proxies take turns, so every process runs on colder
caches than under wrk: the absolute figures are higher than proxy_overhead.py's and are not the targets'
figures; the differences between modes are the point.

    .venv/bin/python bench/interleaved.py [--seconds 20] [--modes passthrough,record,record-before --before DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from proxy_overhead import (
    CLK,
    ROOT,
    check_all_captured,
    check_correlated,
    code_env,
    cpu_seconds,
    free_port,
    make_replay_source,
    proxy_args,
    start,
    steal_ticks,
    stop,
)
from workload import WORKLOADS, Kind

MODES = ("passthrough", "record", "replay")
BASELINE = "passthrough"


def request_bytes(kind: Kind) -> bytes:
    headers = kind.headers()
    body = (kind.body or "").encode()
    if kind.body is not None:
        headers["Content-Length"] = str(len(body))
    head = f"{kind.method} {kind.target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    return (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body


def exchange(conn: socket.socket, request: bytes, label: str) -> float:
    """Send one request and read its whole answer; the seconds it took. An answer that is not 2xx stops the run."""
    started = time.perf_counter()
    conn.sendall(request)
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        data += receive(conn, label)
    head = data[:end].decode("latin-1")
    status = head.split(" ", 2)[1]
    if not status.startswith("2"):
        raise SystemExit(f"{label} answered {head.splitlines()[0]!r}")
    lengths = [line.split(":", 1)[1] for line in head.split("\r\n") if line.lower().startswith("content-length:")]
    if not lengths:
        raise SystemExit(f"{label} answered without a Content-Length")
    while len(data) < end + 4 + int(lengths[0]):
        data += receive(conn, label)
    return time.perf_counter() - started


def receive(conn: socket.socket, label: str) -> bytes:
    chunk = conn.recv(65536)
    if not chunk:
        raise SystemExit(f"{label} closed the connection mid-answer")
    return chunk


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def rounds(conns: list[socket.socket], labels: list[str], kinds: list[bytes], seconds: float) -> list[list[float]]:
    """Latencies per target, one per round: each round sends the next kind to every target in a shuffled order."""
    latencies: list[list[float]] = [[] for _ in conns]
    order = list(range(len(conns)))
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        request = kinds[n % len(kinds)]
        n += 1
        random.shuffle(order)
        for i in order:
            latencies[i].append(exchange(conns[i], request, labels[i]))
    return latencies


def report(
    labels: list[str], latencies: list[list[float]], cpu: list[float | None], steal: int, seconds: float
) -> None:
    n = len(latencies[0])
    stolen = steal / CLK / (seconds * (os.cpu_count() or 1)) * 100
    print(f"{n} rounds in {seconds:g} s; the host took {stolen:.1f} % of this VM's CPU time meanwhile (steal)\n")
    print(f"{'target':20s} {'p50 µs':>8s} {'p90 µs':>8s} {'CPU µs/req':>11s} {'paired +µs over ' + BASELINE:>28s}")
    base = labels.index(BASELINE) if BASELINE in labels else None
    for label, lat, used in zip(labels, latencies, cpu, strict=True):
        p50, p90 = statistics.median(lat) * 1e6, statistics.quantiles(lat, n=10)[-1] * 1e6
        paired = ""
        if base is not None and label not in ("direct", BASELINE):
            diffs = [(a - b) * 1e6 for a, b in zip(lat, latencies[base], strict=True)]
            q1, median, q3 = statistics.quantiles(diffs, n=4)
            paired = f"{median:7.1f} (IQR {q1:.0f} to {q3:.0f})"
        used_text = f"{used * 1e6 / n:11.1f}" if used is not None else f"{'upstream':>11s}"
        print(f"{label:20s} {p50:8.1f} {p90:8.1f} {used_text} {paired:>28s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--modes", default="passthrough,record", help=f"any of {', '.join(MODES)}, each also as MODE-before"
    )
    parser.add_argument("--workload", default="mixed", choices=list(WORKLOADS))
    parser.add_argument("--before", metavar="DIR", help="a checkout of tradetape whose code the -before modes run")
    opts = parser.parse_args()
    modes = [m for m in opts.modes.split(",") if m]
    unknown = [m for m in modes if m.removesuffix("-before") not in MODES]
    if unknown or len(set(modes)) != len(modes):
        parser.error(f"--modes: {', '.join(unknown) or 'a mode twice'} (known: {', '.join(MODES)}, and MODE-before)")
    envs = [code_env(mode, opts.before) for mode in modes]  # a -before mode without --before stops here
    sys.stdout.reconfigure(line_buffering=True)
    capture = Path(tempfile.mkdtemp(prefix="tradetape-interleaved-"))
    up_port = free_port()
    procs = [start([sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)], up_port)]
    upstream = f"http://127.0.0.1:{up_port}"
    try:
        if any(plain == "replay" for plain, _ in envs):
            make_replay_source(capture, upstream)
        labels, ports = ["direct"], [up_port]
        for mode, (plain, env) in zip(modes, envs, strict=True):
            port = free_port()
            procs.append(start(proxy_args(plain, upstream, port, capture), port, env))
            if plain == "replay":
                check_correlated(f"http://127.0.0.1:{port}")
            labels.append(mode)
            ports.append(port)
        conns = [connect(port) for port in ports]
        kinds = [request_bytes(kind) for kind in WORKLOADS[opts.workload]]
        rounds(conns, labels, kinds, min(2.0, opts.seconds))  # warm up
        used0, steal0 = [cpu_seconds(p.pid) for p in procs[1:]], steal_ticks()
        latencies = rounds(conns, labels, kinds, opts.seconds)
        used = [None] + [cpu_seconds(p.pid) - u for p, u in zip(procs[1:], used0, strict=True)]
        report(labels, latencies, used, steal_ticks() - steal0, opts.seconds)
        for conn in conns:
            conn.close()
        for (plain, _), port, proc in zip(envs, ports[1:], procs[1:], strict=True):
            if plain == "record":
                check_all_captured(port, proc, capture / f"bench_{port}", 0)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(capture, ignore_errors=True)


if __name__ == "__main__":
    main()
