"""The report in a real browser: headless Chromium opens the file from disk and its scripts run without errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import MISSING, chromium, dump_dom, root_data
from report_helpers import feed_session

from proxy.report.page import report_data
from proxy.report.write import write_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
pytestmark = pytest.mark.skipif(chromium() is None, reason=MISSING)


def report(tmp_path: Path, *sessions: str) -> Path:
    out = tmp_path / "report.html"
    write_report([FIXTURES / s for s in sessions], out)
    return out


def expected_markers(data: dict) -> int:
    """What the page should draw: each order and its answer, fills, trade statuses, position points."""
    count = 0
    for market in data["markets"]:
        count += sum(1 + (o["answer"] is not None) for o in market["orders"])
        count += len(market["fills"]) + len(market["trades"]) + len(market["notes"])
    for exchange in data["exchanges"]:
        count += len(exchange["points"]) + len(exchange["reported"])
    return count + sum(d["t"] is not None for d in data["opportunities"] + data["decisions"])


@pytest.mark.parametrize(
    "sessions",
    [
        ("arb_partial_observed",),
        ("restart_recovery",),
        ("kalshi_partial_fill", "poly_partial_fill", "kalshi_unwind_partial"),
    ],
    ids=["arb_partial_observed", "restart_recovery", "arb_both_partial"],
)
def test_a_report_renders_every_chart_and_marker_without_script_errors(tmp_path, sessions):
    page = report(tmp_path, *sessions)
    data = report_data(page.read_text())
    dom = dump_dom(page, tmp_path / "profile")
    state = root_data(dom)
    assert state.get("errors") == "0", re.search(r'<pre id="tradetape-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert state.get("rendered") == "ok"
    strips = sum(any(d["t"] is not None for d in data[k]) for k in ("opportunities", "decisions"))
    assert int(state["charts"]) == len(data["markets"]) + len(data["exchanges"]) + strips
    assert int(state["markers"]) == expected_markers(data) > 0
    assert len(re.findall(r'<tr class="[^"]*" id="row-\d+">', dom)) == len(data["items"])
    assert dom.count("<canvas") == int(state["charts"])


def test_a_session_with_both_feeds_renders_books_gaps_fills_and_trade_statuses(tmp_path):
    page = tmp_path / "feeds.html"
    written = write_report([feed_session(tmp_path / "feeds")], page)
    data = written.data
    assert [len(m["notes"]) for m in data["markets"]] == [1, 0]  # the Kalshi seq gap
    assert [s["status"] for s in data["markets"][1]["trades"]] == ["MATCHED", "MINED", "CONFIRMED"]
    dom = dump_dom(page, tmp_path / "profile")
    state = root_data(dom)
    assert state.get("errors") == "0" and state.get("rendered") == "ok"
    assert int(state["markers"]) == expected_markers(data)
    assert dom.count('<tr class="frame') == sum(i["kind"] == "frame" for i in data["items"]) > 0


def test_an_entry_selected_by_the_url_is_highlighted_and_shown_as_on_disk(tmp_path):
    page = report(tmp_path, "kalshi_partial_fill", "poly_partial_fill", "kalshi_unwind_partial")
    unwind = report_data(page.read_text())["markets"][0]["orders"][1]["item"]
    dom = dump_dom(page, tmp_path / "profile", f"#item={unwind}")
    assert root_data(dom)["selected"] == str(unwind)
    assert re.search(rf'<tr class="rest selected" id="row-{unwind}">', dom)
    detail = dom.split('<div id="detail">', 1)[1]
    assert "kalshi_unwind_partial/001_POST_kalshi_orders.json" in detail
    assert "[REDACTED]" in detail  # secrets are shown as they are on disk


def test_a_marker_selected_by_the_url_selects_the_entry_it_came_from(tmp_path):
    page = report(tmp_path, "restart_recovery")
    market = report_data(page.read_text())["markets"][0]
    dom = dump_dom(page, tmp_path / "profile", "#marker=" + market["key"] + "%23fill0")
    assert root_data(dom)["selected"] == str(market["fills"][0]["item"])
    assert "fill buy 10.00 @ 0.5200" in dom.split('<div id="selection">', 1)[1].split("</div>", 1)[0]


def test_a_script_error_on_the_page_is_caught_by_the_check(tmp_path):
    page = report(tmp_path, "kalshi_full_fill")
    page.write_text(page.read_text().replace("</body>", "<script>undefined.crash()</script></body>"))
    dom = dump_dom(page, tmp_path / "profile")
    assert root_data(dom)["errors"] == "1"
    assert "TypeError" in dom.split('<pre id="tradetape-errors"', 1)[1].split("</pre>", 1)[0]


CLICKS = """<script>
(function () {
  var tt = window.tradetape, out = [];
  function clickMarker(m) {  // move, press, release, click where the marker is drawn: the chart's own hit test
    var box = m.chart.over.getBoundingClientRect();
    var x = box.left + m.chart.valToPos(m.t, "x"), y = box.top + m.chart.valToPos(m.v, m.scale);
    ["mousemove", "mousedown", "mouseup", "click"].forEach(function (kind) {
      var at = {clientX: x, clientY: y, bubbles: true, cancelable: true, view: window, button: 0, buttons: 1};
      m.chart.over.dispatchEvent(new MouseEvent(kind, at));
    });
    out.push("marker " + m.id + "=" + document.documentElement.dataset.selected);
  }
  tt.markers.filter(function (m) { return m.v != null; }).forEach(clickMarker);
  document.getElementById("row-0").click();
  out.push("row 0=" + document.documentElement.dataset.selected);
  document.body.setAttribute("data-clicks", out.join("|"));
})();
</script></body>"""


def test_clicking_markers_and_entries_selects_them(tmp_path):
    page = report(tmp_path, "restart_recovery")
    data = report_data(page.read_text())
    page.write_text(page.read_text().replace("</body>", CLICKS))
    dom = dump_dom(page, tmp_path / "profile")
    assert root_data(dom)["errors"] == "0"
    clicks = re.search(r'data-clicks="([^"]*)"', dom)
    assert clicks, "the click script did not run"
    results = dict(line.rsplit("=", 1) for line in clicks.group(1).split("|"))
    market, exchange = data["markets"][0], data["exchanges"][0]
    expected = {f"marker {market['key']}#order0": "0", f"marker {market['key']}#fill0": str(market["fills"][0]["item"])}
    expected["marker kalshi#reported0"] = str(exchange["reported"][0]["item"])
    for key, item in expected.items():
        assert results[key] == item, (key, results)
    assert results["row 0"] == "0"
