"""Print the path of a Python >= 3.13 for the interop environment (the official Kalshi SDK needs one).

Looks at $INTEROP_PYTHON, then python3.13, python3.14 and python3 on PATH, then pyenv's versions; each
candidate is asked for its version, so a pyenv shim without an installed version does not count. Exits 1,
printing nothing, when there is none; exits 2, saying why, when $INTEROP_PYTHON is set to one that cannot serve
(the user chose it: falling back to another, or skipping, would hide the mistake). Standard library only: it
runs before any environment exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

MINIMUM = (3, 13)
NAMES = ("python3.13", "python3.14", "python3")


def candidates() -> Iterator[str]:
    if os.environ.get("INTEROP_PYTHON"):
        yield os.environ["INTEROP_PYTHON"]
    for name in NAMES:
        found = shutil.which(name)
        if found:
            yield found
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in sorted((root / "versions").glob("3.*"), key=lambda p: p.name):
        yield str(version / "bin" / "python3")


def recent_enough(python: str) -> bool:
    check = f"import sys; sys.exit(0 if sys.version_info >= {MINIMUM} else 1)"
    try:
        return subprocess.run([python, "-c", check], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def main() -> int:
    chosen = os.environ.get("INTEROP_PYTHON")
    if chosen and not recent_enough(chosen):
        print(f"INTEROP_PYTHON={chosen}: not a runnable Python >= 3.13 (the official SDKs need one)", file=sys.stderr)
        return 2
    for python in candidates():
        if recent_enough(python):
            print(python)
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
