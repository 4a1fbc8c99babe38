"""Running the real `tradetape` commands as a user does: in a subprocess, on free loopback ports."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRADETAPE = str(Path(sys.executable).with_name("tradetape"))
FREE_PORTS = ("--listen", "kalshi=127.0.0.1:0", "--listen", "poly=127.0.0.1:0")
README = Path(__file__).resolve().parent.parent / "README.md"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any exchange setting (conftest drops them too), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "POLY_", "CAPTURE_"))}
    return {**env, **extra}


@dataclass
class Running:
    proc: subprocess.Popen[str]
    urls: dict[str, str]
    lines: list[str] = field(default_factory=list)
    ready: dict[str, object] = field(default_factory=dict)

    def stop(self, timeout: float = 30) -> tuple[str, str]:
        """SIGTERM, then everything it printed (stdout after the start lines, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        out = self.proc.stdout.read()  # type: ignore[union-attr]  # not communicate(): it skips what readline buffered
        err = self.proc.stderr.read()  # type: ignore[union-attr]
        self.proc.wait(timeout)
        return "".join(self.lines) + out, err


def start(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 30) -> Running:
    """Start `tradetape ARGS` and wait for its ready line (`{"event":"ready",...}`): where both exchanges listen."""
    proc = subprocess.Popen(
        [TRADETAPE, *args],
        cwd=cwd,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    while True:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            proc.wait(timeout)
            raise AssertionError(f"tradetape {' '.join(args)} exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        lines.append(line)
        if line.startswith('{"event":"ready"'):
            ready = json.loads(line)
            return Running(proc, {"kalshi": ready["kalshi"], "poly": ready["poly"]}, lines, ready)


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRADETAPE, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )


def readme_block(name: str) -> str:
    """The fenced code block right after `<!-- example: NAME -->` in README.md (tests run it as written)."""
    text = README.read_text()
    marker = f"<!-- example: {name} -->"
    assert marker in text, f"README.md has no {marker}"
    after = text.split(marker, 1)[1]
    match = re.match(r"\s*```[a-z]*\n(.*?)```", after, re.S)
    assert match, f"README.md: no code block right after {marker}"
    return match.group(1)


def sim_env() -> dict[str, str]:
    """The variables `eval "$(tradetape sim env)"` sets, read back through a real shell."""
    script = 'eval "$("$TRADETAPE" sim env)" && env -0'
    done = subprocess.run(
        ["sh", "-c", script], env=clean_env(TRADETAPE=TRADETAPE), capture_output=True, text=True, timeout=60, check=True
    )
    pairs = (item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith(("KALSHI_", "POLY_"))}


def record_readme_bot(project: Path) -> str:
    """The README's first hour in `project`: my_bot.py, run through `tradetape record` into
    fixtures/my_first_session; returns what record printed."""
    (project / "my_bot.py").write_text(readme_block("client"))
    running = start("record", *FREE_PORTS, "--session", "my_first_session", "--capture-dir", str(project / "fixtures"))
    try:
        env = clean_env(**sim_env())
        env.update(KALSHI_BASE_URL=running.urls["kalshi"] + "/trade-api/v2", POLY_CLOB_URL=running.urls["poly"])
        bot = subprocess.run(
            [sys.executable, "my_bot.py"], cwd=project, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        out, err = running.stop()
    assert bot.returncode == 0, bot.stderr
    assert "captured 2" in out, err
    return out


async def decision_lines(stream: asyncio.StreamReader, kind: str) -> list[dict[str, Any]]:
    """The engine's JSON decision lines (`tradetape trader run`'s log) up to the first of `kind` (30 s per line at
    most)."""
    seen: list[dict[str, Any]] = []
    while True:
        line = await asyncio.wait_for(stream.readline(), 30)
        assert line, f"the engine's log ended before a {kind!r} decision: {seen}"
        text = line.decode()
        if '{"event":"decision"' in text:
            seen.append(json.loads(text[text.index("{") :]))
            if seen[-1]["kind"] == kind:
                return seen
