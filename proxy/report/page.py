"""The report's HTML: one file, with uPlot, the page's script and style and the data inline (no network).

The data is one JSON blob in `<script type="application/json" id="tradetape-data">`, so a test (or a person
with a text editor) reads exactly the numbers the page draws: `report_data(html)` gets them back.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any

import orjson

DATA_ID = "tradetape-data"
_DATA = re.compile(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', re.S)


def asset(name: str) -> str:
    return files("proxy.report").joinpath("assets", name).read_text(encoding="utf-8")


@cache
def inline(name: str) -> str:
    """A script or style of assets/, checked once: inlined text must never close its element early."""
    text = asset(name)
    if re.search(r"</(script|style)", text, re.I):
        raise ValueError(f"proxy/report/assets/{name} contains a closing script/style tag and cannot be inlined")
    return text


def embed_json(data: Any) -> str:
    """JSON safe inside a <script> element: `<` written as \\u003c, so no `</script>` or `<!--` can appear."""
    return orjson.dumps(data).decode("utf-8").replace("<", "\\u003c")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(data: dict[str, Any]) -> str:
    """The page for `data` (build.build's result)."""
    title = "tradetape report: " + " + ".join(s["name"] for s in data["sessions"])
    parts = {
        "TITLE": _escape(title),
        "UPLOT_CSS": inline("vendor/uPlot.min.css"),
        "REPORT_CSS": inline("report.css"),
        "DATA": embed_json(data),
        "UPLOT_JS": inline("vendor/uPlot.iife.min.js"),
        "REPORT_JS": inline("report.js"),
    }
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: parts[m.group(1)], asset("page.html"))


def report_data(html: str) -> Any:
    """The data blob of a rendered report."""
    match = _DATA.search(html)
    if match is None:
        raise ValueError(f"no <script id={DATA_ID!r}> in this page: not a tradetape report")
    return orjson.loads(match.group(1))
