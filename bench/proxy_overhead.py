"""Proxy overhead: direct vs passthrough, record and replay (and peers) at concurrency 1 and 32.

Prints req/s, p50/p99 latency, the proxy's CPU time per request, and each mode's ratio to direct in the
same run, per workload (bench/workload.py): `mixed` alternates a Kalshi create order and a fills GET,
`create` and `fills` send one kind only, so each kind's CPU cost shows. `record-10k` records into a
session that already holds 10,000 fixtures. The 1-minute load average after each measurement is printed
with it, and the share of the VM's CPU time its host took during it (steal%): the machine may be shared, so
compare figures of one run only, and repeat (--repeat).
The load generator is wrk when installed (say so), else a Python aiohttp loop. Everything runs on 127.0.0.1.

    .venv/bin/python bench/proxy_overhead.py [--seconds 5] [--repeat 3] [--memory-requests 100000]
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
from typing import Any

from workload import CREATE, GET_FILLS, LIVE_ID, RECORDED_ID, WORKLOADS, Kind, wrk_script

ROOT = Path(__file__).resolve().parent.parent
TRADETAPE = str(Path(sys.executable).with_name("tradetape"))
CLK = os.sysconf("SC_CLK_TCK")
MITMDUMP = os.environ.get("MITMDUMP") or shutil.which("mitmdump") or ""
LONG_SESSION = 10_000  # fixtures already in the session for record-10k


@dataclass
class Result:
    workload: str
    label: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None
    load1: float  # the machine's 1-minute load average right after the measurement
    steal: float  # % of the machine's CPU time the host took from this VM during the measurement (see steal_ticks)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def steal_ticks() -> int:
    """The VM's steal time so far, in clock ticks (the 8th field of /proc/stat's cpu line): time it had work to run
    and the host ran something else. A few % and figures of one run stop being comparable with another's."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fs_type(path: Path) -> str:
    """The file system type the sessions are written to (the per-file cost depends on it)."""
    best = ("", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        mount, kind = line.split()[1:3]
        if str(path).startswith(mount) and len(mount) > len(best[0]):
            best = (mount, kind)
    return best[1]


def wait_port(proc: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(proc.args)} exited: {proc.stderr.read().decode()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def start(args: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    wait_port(proc, port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(300)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---- load generators ---------------------------------------------------------------------


def wrk_unit(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(base: str, concurrency: int, seconds: float, script: Path) -> tuple[int, float, float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), base + "/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = wrk_unit(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = wrk_unit(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    if "Non-2xx" in out:
        raise SystemExit(f"wrk got error answers from {base}:\n{out}")
    return requests, rps, p50, p99


async def python_load(
    base: str, kinds: tuple[Kind, ...], concurrency: int, seconds: float = 0.0, count: int = 0
) -> tuple[int, float, float, float]:
    """Each worker sends the kinds in turn, for `seconds` or until `count` requests are done."""
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    sent = 0

    def more() -> bool:
        return sent < count if count else time.perf_counter() < deadline

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        i = 0
        while more():
            kind = kinds[i % len(kinds)]
            i += 1
            sent += 1
            t0 = time.perf_counter()
            async with http.request(kind.method, base + kind.target, data=kind.body, headers=kind.headers()) as resp:
                await resp.read()
                if resp.status >= 300:
                    raise SystemExit(f"{kind.method} {base + kind.target} answered {resp.status}")
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
        latencies[max(0, int(len(latencies) * 0.99) - 1)],
    )


@dataclass
class Load:
    """How requests of one workload are generated: wrk with its script, or the Python loop."""

    workload: str
    script: Path | None

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return WORKLOADS[self.workload]

    def run(self, base: str, concurrency: int, seconds: float) -> tuple[int, float, float, float]:
        if self.script is not None:
            return run_wrk(base, concurrency, seconds, self.script)
        return asyncio.run(python_load(base, self.kinds, concurrency, seconds))


# ---- modes -------------------------------------------------------------------------------


def tradetape_args(command: str, upstream: str, port: int, capture: Path, *extra: str) -> list[str]:
    listen = ["--listen", f"kalshi=127.0.0.1:{port}", "--listen", f"poly=127.0.0.1:{free_port()}"]
    token = ["--admin-token-file", str(capture / f"admin-token-{port}")]  # the bench's own, not the user's
    upstreams = ["--upstream", f"kalshi={upstream}", "--upstream", f"poly={upstream}"]
    return [TRADETAPE, command, *extra, *listen, *token, *(upstreams if command != "replay" else [])]


def record_args(upstream: str, port: int, capture: Path, session: str, *more: str) -> list[str]:
    return tradetape_args("record", upstream, port, capture, "--capture-dir", str(capture), "--session", session, *more)


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
    if mode == "record":
        return record_args(upstream, port, capture, f"bench_{port}")
    if mode == "record-10k":  # continues the copy of a 10,000-fixture session
        return record_args(upstream, port, capture, f"bench_{port}", "--append")
    if mode == "replay":
        source = str(capture / "replay_source")
        return tradetape_args("replay", upstream, port, capture, source, "--on-exhausted", "repeat-last")
    return tradetape_args(mode, upstream, port, capture)


def measure(load: Load, label: str, base: str, pid: int | None, concurrency: int, seconds: float) -> Result:
    load.run(base, concurrency, min(1.0, seconds))  # warm up
    cpu0 = cpu_seconds(pid) if pid else 0.0
    steal0, started = steal_ticks(), time.monotonic()
    requests, rps, p50, p99 = load.run(base, concurrency, seconds)
    cpu = (cpu_seconds(pid) - cpu0) / requests * 1e6 if pid else None
    stolen = (steal_ticks() - steal0) / CLK / ((time.monotonic() - started) * (os.cpu_count() or 1)) * 100
    return Result(load.workload, label, concurrency, requests, rps, p50, p99, cpu, os.getloadavg()[0], stolen)


def send_one(base: str, kind: Kind, body: str | None) -> bytes:
    request = urllib.request.Request(
        base + kind.target, data=body.encode() if body else None, method=kind.method, headers=kind.headers()
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def make_replay_source(capture: Path, upstream: str) -> None:
    """One recorded create (see RECORDED_ID) and one fills GET, replayed with repeat-last."""
    port = free_port()
    proc = start(record_args(upstream, port, capture, "replay_source"), port)
    base = f"http://127.0.0.1:{port}"
    send_one(base, CREATE, CREATE.body.replace(LIVE_ID, RECORDED_ID))
    send_one(base, GET_FILLS, None)
    stop(proc)


def make_long_session(capture: Path, upstream: str) -> Path:
    """A session of LONG_SESSION mixed fixtures, recorded through the proxy and closed; copied for each use."""
    port = free_port()
    proc = start(record_args(upstream, port, capture, "long_source"), port)
    asyncio.run(python_load(f"http://127.0.0.1:{port}", WORKLOADS["mixed"], 32, count=LONG_SESSION))
    stop(proc)
    return capture / "long_source"


def check_correlated(base: str) -> None:
    """The replayed answer must carry the live client_order_id, or the replay figures measure less than they say."""
    body = send_one(base, CREATE, CREATE.body).decode()
    if LIVE_ID not in body or RECORDED_ID in body:
        raise SystemExit(f"replay did not correlate the client_order_id: {body}")


def status_counts(port: int) -> tuple[dict[str, int], int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__tradetape/status", timeout=10) as answer:
        status = json.loads(answer.read())
    return status["counts"], status["fixtures"]


def fixture_files(session: Path) -> int:
    return sum(1 for _ in session.glob("[0-9]*.json"))


def check_all_captured(port: int, proc: subprocess.Popen, session: Path, before: int) -> None:
    """Every forwarded request is in the session while it runs and has its fixture file once it is stopped,
    or the record figures measure less than they say."""
    time.sleep(0.5)  # requests wrk abandoned at the end of its run are still finishing
    counts, fixtures = status_counts(port)
    stop(proc)
    files = fixture_files(session)
    forwarded = counts["forwarded"]
    if not forwarded or counts["captured"] != forwarded or fixtures != before + forwarded or files != fixtures:
        raise SystemExit(
            f"record did not capture every request: {counts}, {fixtures} fixtures in the session "
            f"({before} before), {files} fixture files in {session} after stopping"
        )


def code_env(mode: str, before: str | None) -> tuple[str, dict[str, str] | None]:
    """(the mode, the environment that runs it): a `-before` mode runs the code of the --before checkout."""
    plain = mode.removesuffix("-before")
    if plain == mode:
        return mode, None
    if before is None or not Path(before, "proxy", "__init__.py").is_file():
        raise SystemExit(f"--modes {mode}: needs --before DIR, a checkout of tradetape (DIR/proxy/__init__.py)")
    return plain, {**os.environ, "PYTHONPATH": before}


def run_mode(
    mode: str, load: Load, upstream: str, capture: Path, long_source: Path | None, concurrency: int, opts: Any
) -> Result:
    plain, env = code_env(mode, opts.before)
    port = free_port()
    before = 0
    if plain == "record-10k":
        shutil.copytree(long_source, capture / f"bench_{port}")
        before = LONG_SESSION
    proc = start(proxy_args(plain, upstream, port, capture), port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        if plain == "replay":
            check_correlated(base)
        result = measure(load, mode, base, proc.pid, concurrency, opts.seconds)
        if plain.startswith("record"):
            check_all_captured(port, proc, capture / f"bench_{port}", before)
    finally:
        stop(proc)  # the session stays until the end: deleting files makes creating files slower for a while
    return result


def memory_growth(
    load: Load, upstream: str, capture: Path, requests: int, env: dict[str, str] | None
) -> tuple[float, float, int]:
    port = free_port()
    proc = start(proxy_args("record", upstream, port, capture), port, env)
    base = f"http://127.0.0.1:{port}"
    load.run(base, 8, 0.5)
    before = rss_mb(proc.pid)
    done = 0
    while done < requests:
        done += load.run(base, 32, 2.0)[0]
    after = rss_mb(proc.pid)
    started = time.monotonic()
    stop(proc)
    print(f"  stopping it took {time.monotonic() - started:.1f} s (the files not written yet are written at close)")
    return before, after, done


def one_run(
    opts: argparse.Namespace, loads: list[Load], upstream: str, capture: Path, long_source: Path | None
) -> list[Result]:
    modes = [m for m in opts.modes.split(",") if m]
    concurrencies = [int(c) for c in opts.concurrency.split(",")]
    results: list[Result] = []
    for load in loads:
        for concurrency in concurrencies:
            results.append(measure(load, "direct", upstream, None, concurrency, opts.seconds))
            for mode in modes:
                results.append(run_mode(mode, load, upstream, capture, long_source, concurrency, opts))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--modes",
        default="passthrough,record,record-10k,replay,bare" + (",mitmdump" if MITMDUMP else ""),
        help="passthrough, record, record-10k (into a session already holding 10,000 fixtures), replay, and "
        "the peers: bare (a bare aiohttp forwarder appending to one file) and mitmdump (mitmproxy recording in "
        "reverse mode; set MITMDUMP or put it on PATH)",
    )
    parser.add_argument(
        "--workloads", default="mixed,create,fills", help=f"any of {', '.join(WORKLOADS)} (bench/workload.py)"
    )
    parser.add_argument("--concurrency", default="1,32", help="client connections, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="whole runs, each printed; then the spread")
    parser.add_argument(
        "--memory-requests", type=int, default=0, help="also record this many requests and report RSS growth"
    )
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="a checkout of tradetape to measure in the same run (e.g. `git worktree add /tmp/before main`): "
        "modes ending in -before (record-before, record-10k-before, ...) run its code",
    )
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk exists")
    parser.add_argument(
        "--fast-upstream", action="store_true", help="upstream on aiohttp's low-level server and uvloop"
    )
    opts = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    workloads = [w for w in opts.workloads.split(",") if w]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"--workloads: unknown {', '.join(unknown)} (known: {', '.join(WORKLOADS)})")

    use_wrk = shutil.which("wrk") is not None and not opts.python_load
    capture = Path(tempfile.mkdtemp(prefix="tradetape-bench-"))
    loads = []
    for workload in workloads:
        script = None
        if use_wrk:
            script = capture / f"{workload}.lua"
            script.write_text(wrk_script(WORKLOADS[workload]))
        loads.append(Load(workload, script))
    print(
        f"load generator: {'wrk (1 thread)' if use_wrk else 'Python aiohttp loop (wrk not installed)'}; "
        f"{opts.seconds:g} s per run; {os.cpu_count()} cores; sessions on {fs_type(capture)}; upstream: "
        f"{'aiohttp low-level server on uvloop' if opts.fast_upstream else 'aiohttp application on asyncio'}"
    )

    up_port = free_port()
    upstream_args = [sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]
    upstream_proc = start(upstream_args + (["--fast"] if opts.fast_upstream else []), up_port)
    upstream = f"http://127.0.0.1:{up_port}"
    runs: list[list[Result]] = []
    try:
        if "replay" in opts.modes:
            make_replay_source(capture, upstream)
        long_source = make_long_session(capture, upstream) if "record-10k" in opts.modes else None
        for i in range(opts.repeat):
            print(f"\nrun {i + 1} of {opts.repeat} (load average at start {os.getloadavg()[0]:.2f})")
            runs.append(one_run(opts, loads, upstream, capture, long_source))
            report(runs[-1])
        if opts.repeat > 1:
            spread(runs)
        if opts.memory_requests:
            for label, env in [("", None)] + (
                [(" (--before)", code_env("record-before", opts.before)[1])] if opts.before else []
            ):
                before, after, done = memory_growth(loads[0], upstream, capture, opts.memory_requests, env)
                print(
                    f"\nmemory{label} ({loads[0].workload}): recording {done} requests grew the proxy's RSS from "
                    f"{before:.1f} MB to {after:.1f} MB (+{after - before:.1f} MB)"
                )
    finally:
        stop(upstream_proc)
        shutil.rmtree(capture, ignore_errors=True)


def ratios(results: list[Result]) -> dict[tuple[str, str, int], tuple[float, float]]:
    """(workload, mode, concurrency) -> (× direct, added p50 ms), against direct in the same run."""
    direct = {(r.workload, r.concurrency): r for r in results if r.label == "direct"}
    out = {}
    for r in results:
        base = direct[r.workload, r.concurrency]
        out[r.workload, r.label, r.concurrency] = (r.rps / base.rps, r.p50_ms - base.p50_ms)
    return out


def report(results: list[Result]) -> None:
    added = ratios(results)
    print(
        f"{'workload':<9}{'mode':<12}{'conc':>5}{'req/s':>9}{'x direct':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'+p50 ms':>9}{'CPU us/req':>11}{'load1':>7}{'steal%':>7}"
    )
    for r in results:
        times, plus = added[r.workload, r.label, r.concurrency]
        cpu = "upstream" if r.cpu_us is None else f"{r.cpu_us:.0f}"
        print(
            f"{r.workload:<9}{r.label:<12}{r.concurrency:>5}{r.rps:>9.0f}{times:>9.2f}{r.p50_ms:>9.3f}"
            f"{r.p99_ms:>9.3f}{plus:>9.3f}{cpu:>11}{r.load1:>7.2f}{r.steal:>7.1f}"
        )


def spread(runs: list[list[Result]]) -> None:
    """Median and range over the runs of each figure that has a target: CPU per request, × direct, added p50."""
    print(f"\nspread over {len(runs)} runs: median (min-max)")
    print(f"{'workload':<9}{'mode':<12}{'conc':>5}{'CPU us/req':>22}{'x direct':>22}{'+p50 ms':>24}")
    per_run = [ratios(run) for run in runs]
    for r in runs[0]:
        if r.label == "direct":
            continue
        key = (r.workload, r.label, r.concurrency)
        cpu = [next(x.cpu_us for x in run if (x.workload, x.label, x.concurrency) == key) for run in runs]
        times = [ratios_[key][0] for ratios_ in per_run]
        plus = [ratios_[key][1] for ratios_ in per_run]
        print(
            f"{r.workload:<9}{r.label:<12}{r.concurrency:>5}{_range(cpu, '.0f'):>22}{_range(times, '.2f'):>22}"
            f"{_range(plus, '.3f'):>24}"
        )


def _range(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


if __name__ == "__main__":
    main()
