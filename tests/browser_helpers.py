"""Headless Chromium for the report tests and the README's screenshot: the system's package, never downloaded."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MISSING = (
    "headless Chromium not installed (none of: " + ", ".join(NAMES) + "); install the system package "
    "(Debian: apt-get install -y chromium) to run the report's browser test"
)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", "--hide-scrollbars")


def chromium() -> str | None:
    return next((path for name in NAMES if (path := shutil.which(name))), None)


def run(args: list[str], profile: Path) -> str:
    """Chromium with a throwaway profile; the page's scripts get 5 s of virtual time to settle."""
    browser = chromium()
    assert browser, MISSING
    command = [browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def dump_dom(page: Path, profile: Path, fragment: str = "") -> str:
    """The DOM after the page's scripts ran (file:// only: no network)."""
    return run(["--dump-dom", page.resolve().as_uri() + fragment], profile)


def screenshot(page: Path, png: Path, profile: Path, size: str = "1400,900", fragment: str = "") -> None:
    run([f"--screenshot={png}", f"--window-size={size}", page.resolve().as_uri() + fragment], profile)


def root_data(dom: str) -> dict[str, str]:
    """The data-* attributes of <html>: the page writes rendered, errors, charts, markers, selected there."""
    match = re.search(r"<html([^>]*)>", dom)
    assert match, "no <html> element in the dumped DOM"
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', match.group(1)))
