"""The interoperability check: the official SDKs through `record` in front of `sim`, then through `replay`.

    python tools/interop/run.py --sdk-python .venv-interop/bin/python

Starts `tradetape sim` (a state whose Kalshi account holds a throwaway key made here, in memory) and
`tradetape record --filter all` in front of it on free loopback ports, runs tools/interop/sdk_calls.py with
the SDKs' interpreter, stops both, starts `tradetape replay --strict` of the recording and runs the same
calls again, then has tools/interop/model_walk.py parse every recorded answer with the SDKs' models.
Passes when every call came to what it expects through record and to the same outcome through replay,
replay used every fixture and matched every request, and no model refused an answer. Runs in tradetape's
environment; the SDKs live only in the interpreter given.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from simulator.credentials import kalshi_test_credentials
from simulator.kalshi.config import DEFAULT_SECTION as KALSHI_DEFAULT
from simulator.poly.config import DEFAULT_SECTION as POLY_DEFAULT

HERE = Path(__file__).resolve().parent
TRADETAPE = Path(sys.executable).parent / "tradetape"
HARDHAT_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # public test key, never funded
LISTENER = re.compile(r"^(kalshi|poly)\s+(http://\S+)")
FREE_PORTS = ["--listen", "kalshi=127.0.0.1:0", "--listen", "poly=127.0.0.1:0"]
STOP_TIMEOUT_S = 60
CALLS_TIMEOUT_S = 300


class InteropError(Exception):
    """The check could not run (a process would not start or died); the message says which."""


@dataclass
class Served:
    """A running `tradetape` command: its listeners, then (once stopped) its exit status and report."""

    urls: dict[str, str]
    returncode: int | None = None
    report: str = ""


@contextmanager
def serving(name: str, args: list[str], work: Path) -> Iterator[Served]:
    """Run `tradetape ARGS` until its two listener lines appear; stop it with SIGINT on leaving."""
    log = work / f"{name}.log"
    with log.open("w") as err:
        process = subprocess.Popen([str(TRADETAPE), *args], stdout=subprocess.PIPE, stderr=err, text=True)
    served = Served({})
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = LISTENER.match(line)
            if match:
                served.urls[match[1]] = match[2]
            if len(served.urls) == 2:
                break
        if len(served.urls) != 2:
            process.wait(STOP_TIMEOUT_S)
            raise InteropError(f"tradetape {name} did not start (exit {process.returncode}); see {log}")
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            served.report, _ = process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            served.report, _ = process.communicate()
        served.returncode = process.returncode


def state_file(directory: Path, key_id: str, public_pem: str) -> Path:
    """The default state, its Kalshi account holding the throwaway public key."""
    kalshi = json.loads(json.dumps(KALSHI_DEFAULT))
    kalshi["accounts"][0]["api_keys"] = {key_id: public_pem}
    path = directory / "state.json"
    path.write_text(json.dumps({"kalshi": kalshi, "poly": POLY_DEFAULT}))
    return path


def run_calls(sdk_python: str, config: dict[str, Any], out: Path) -> dict[str, Any]:
    """The SDK calls against the URLs in `config`: {"sdks": versions, "calls": one outcome per call}, also
    written to `out`."""
    done = subprocess.run(
        [sdk_python, str(HERE / "sdk_calls.py")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=CALLS_TIMEOUT_S,
    )
    if not done.stdout.strip():
        raise InteropError(f"sdk_calls.py produced no outcomes (exit {done.returncode}):\n{done.stderr[-3000:]}")
    out.write_text(done.stdout)
    return json.loads(done.stdout)


def compare(recorded: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> list[str]:
    """One line per call whose outcome differs between the recorded run and the replay."""
    problems = []
    for index in range(max(len(recorded), len(replayed))):
        a = recorded[index] if index < len(recorded) else None
        b = replayed[index] if index < len(replayed) else None
        if a != b:
            name = (a or b or {}).get("call")
            problems.append(
                f"{name}: record {json.dumps(a and a['outcome'])} != replay {json.dumps(b and b['outcome'])}"
            )
    return problems


def unexpected(results: list[dict[str, Any]]) -> list[str]:
    """Calls that did not come to what they expect through record, in front of the simulator."""
    return [
        f"{r['call']}: expected {r['expect']}, got {json.dumps(r['outcome'])}" for r in results if not r["as_expected"]
    ]


def check(sdk_python: str, work: Path) -> tuple[dict[str, Any], list[str]]:
    """(what the recorded run saw, the problems) of one record-then-replay check in `work`."""
    key_id, private_key, public_pem = kalshi_test_credentials()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    yes_token = POLY_DEFAULT["markets"][0]["tokens"][0]["token_id"]
    config = {
        "kalshi_key_id": key_id,
        "kalshi_private_key_pem": private_pem,  # travels on a pipe, never to disk
        "kalshi_ticker": KALSHI_DEFAULT["markets"][0]["ticker"],
        "kalshi_other_ticker": KALSHI_DEFAULT["markets"][1]["ticker"],
        "poly_private_key": HARDHAT_0,
        "poly_token": yes_token,
    }
    state = state_file(work, key_id, public_pem)
    with serving("sim", ["sim", "--state", str(state), *FREE_PORTS], work) as sim:
        upstreams = ["--upstream", f"kalshi={sim.urls['kalshi']}", "--upstream", f"poly={sim.urls['poly']}"]
        record_args = ["record", *upstreams, "--filter", "all", "--capture-dir", str(work), "--session", "interop"]
        with serving("record", [*record_args, *FREE_PORTS], work) as proxy:
            recorded = run_calls(sdk_python, config | url_config(proxy), work / "recorded.json")
    problems = unexpected(recorded["calls"]) + stopped_badly(sim, "sim") + stopped_badly(proxy, "record")
    with serving("replay", ["replay", str(work / "interop"), "--strict", *FREE_PORTS], work) as proxy:
        replayed = run_calls(sdk_python, config | url_config(proxy), work / "replayed.json")
    problems += compare(recorded["calls"], replayed["calls"]) + stopped_badly(proxy, "replay --strict")
    return recorded, problems + walk_models(sdk_python, work / "interop")


def walk_models(sdk_python: str, session: Path) -> list[str]:
    """model_walk.py over the recording: every answer through the SDKs' response models."""
    done = subprocess.run(
        [sdk_python, str(HERE / "model_walk.py"), str(session)], capture_output=True, text=True, timeout=120
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return [f"model_walk.py failed (exit {done.returncode}):\n{done.stderr[-3000:]}"]
    uncovered = [f"no SDK model checks the answers of {endpoint}" for endpoint in report["uncovered"]]
    return [f"SDK model refused a recorded answer: {p}" for p in report["problems"]] + uncovered


def url_config(proxy: Served) -> dict[str, str]:
    return {"kalshi_url": proxy.urls["kalshi"], "poly_url": proxy.urls["poly"]}


def stopped_badly(served: Served, name: str) -> list[str]:
    """A command that did not end cleanly on SIGINT (replay --strict: fixtures unused or requests unmatched)."""
    if served.returncode in (0, -signal.SIGINT):
        return []
    return [f"tradetape {name} exited {served.returncode}:\n{served.report.strip()}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdk-python", required=True, help="Python (>= 3.13) with the official SDKs installed")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory (recording and logs)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tradetape-interop-"))
    started = time.monotonic()
    try:
        recorded, problems = check(args.sdk_python, work)
    except InteropError as exc:
        recorded, problems = {}, [str(exc)]
    for problem in problems:
        print(f"FAIL {problem}")
    sdks = ", ".join(f"{name} {number}" for name, number in recorded.get("sdks", {}).items())
    took = f"{time.monotonic() - started:.0f} s"
    if problems:
        print(f"interop: FAILED ({sdks or 'SDKs not reached'}; {took}); recording, outcomes and logs kept in {work}")
        return 1
    calls = len(recorded["calls"])
    print(f"interop: {calls} SDK calls ({sdks}) as expected through record, the same through replay ({took})")
    if args.keep:
        print(f"interop: recording, outcomes and logs kept in {work}")
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
