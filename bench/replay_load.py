"""Replay load time and memory: a session of N fixtures (default 10,000) written like a real capture,
then loaded into a replay mode as `tradetape replay` does. Prints seconds and the process's RSS.

    .venv/bin/python bench/replay_load.py [--fixtures 10000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when tradetape is not installed

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.engine.flow import Flow
from proxy.record.recorder import fixture_record
from proxy.record.session import Session
from proxy.replay.replayer import ReplayOptions, replay_mode
from proxy.replay.volatile import volatile_sets
from proxy.wire.answers import Answer

PATH = "/trade-api/v2/portfolio/events/orders"
HEADERS = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json", "KALSHI-ACCESS-KEY": "k"}))


def kalshi_exchange(i: int) -> Flow:
    """One create order and its answer, as the recorder sees them (ids unique per fixture)."""
    coid, oid = str(uuid.uuid4()), str(uuid.uuid4())
    body = (
        f'{{"ticker":"KXBENCH-26NOV23-T{i % 50}","client_order_id":"{coid}","side":"bid","count":"{1 + i % 9}.00",'
        f'"price":"0.5{i % 10}00","time_in_force":"immediate_or_cancel","self_trade_prevention_type":"taker_at_cross"}}'
    )
    answer = (
        f'{{"order_id":"{oid}","client_order_id":"{coid}","fill_count":"1.00","remaining_count":"0.00",'
        f'"average_fill_price":"0.5200","average_fee_paid":"0.0175","ts_ms":{1781159360866 + i}}}'
    )
    flow = Flow(
        "kalshi",
        "POST",
        PATH,
        PATH,
        HEADERS,
        body.encode(),
        "https://api.elections.kalshi.com",
        time.time(),
        time.perf_counter(),
    )
    flow.response = Answer(201, CIMultiDict({"Content-Type": "application/json"}), answer.encode())
    flow.latency_ms = 42.0
    return flow


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=int, default=10_000)
    count = parser.parse_args().fixtures
    workdir = Path(tempfile.mkdtemp(prefix="tradetape-replay-load-"))
    try:
        session = Session(workdir / "big", {"session": "big"})
        for i in range(count):
            flow = kalshi_exchange(i)
            session.write(fixture_record(flow), flow.method, flow.exchange, flow.path)
        session.close()
        before = rss_mb()
        started = time.perf_counter()
        mode = replay_mode([str(workdir / "big")], workdir, volatile_sets(), ReplayOptions(), Counter())
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"replay load: {count} fixtures in {seconds:.2f} s; RSS {before:.0f} MB before, {rss_mb():.0f} MB after, "
            f"peak {peak:.0f} MB ({len(mode.addons)} replay addon)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
