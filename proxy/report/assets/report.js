// tradetape report: draws the JSON blob in #tradetape-data with uPlot (inlined above), no network.
// Charts share one x axis (seconds from the start) and one cursor; markers are drawn in uPlot's draw hook
// and hit-tested here, so a click on a marker selects its entry in the list, and a click on an entry
// marks its time on every chart.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("tradetape-data").textContent);
  var charts = [];
  var markers = []; // {id, chart, t, v, scale, shape, color, fill, label, item}
  var byItem = {}; // item id -> markers drawn from it
  var selected = { item: null, t: null, marker: null };
  var span = data.span[1] - data.span[0];
  var pad = Math.max(span * 0.04, 0.0005);
  var X0 = data.span[0] - pad, X1 = data.span[1] + pad;
  var COLORS = { buy: "#1f6fd1", sell: "#d9480f", bid: "#2b8a3e", ask: "#c92a2a", fill: "#5f3dc4",
    bad: "#e03131", muted: "#868e96", pos: ["#1f6fd1", "#d9480f", "#0c8599", "#9c36b5", "#5c940d"], usd: "#495057" };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function fmtT(t) {
    if (t == null) return "";
    return span < 2 ? (t * 1000).toFixed(span < 0.05 ? 3 : 1) + " ms" : t.toFixed(3) + " s";
  }
  function ticks(u, splits) {
    // as many decimals as the spacing of the ticks needs, in ms below 2 s of span
    var scale = span < 2 ? 1000 : 1, step = splits.length > 1 ? (splits[1] - splits[0]) * scale : 1;
    var places = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step) + 0.001)));
    return splits.map(function (t) { return (t * scale).toFixed(places) + (scale === 1000 ? " ms" : " s"); });
  }
  function num(s) { return s == null ? null : Number(s); }
  function short(market) { return market.length > 24 ? market.slice(0, 8) + "…" + market.slice(-8) : market; }

  // ---- markers -------------------------------------------------------------------------------

  function addMarker(m) {
    m.index = markers.length;
    markers.push(m);
    (byItem[m.item] = byItem[m.item] || []).push(m);
    return m;
  }

  function orderLabel(o) {
    var a = o.answer;
    var text = o.side + " " + o.size + " @ " + o.price + " " + o.kind;
    if (!a) return text;
    text += " → " + a.status;
    if (a.filled != null) text += ", filled " + a.filled + (a.avg_price != null ? " @ " + a.avg_price : "");
    if (a.error) text += " (" + a.error + ")";
    return text;
  }

  function marketMarkers(m, chart) {
    m.orders.forEach(function (o, i) {
      var color = COLORS[o.side];
      addMarker({ id: m.key + "#order" + i, chart: chart, t: o.t, v: num(o.price), scale: "y", item: o.item,
        shape: o.side === "buy" ? "up" : "down", color: color, fill: true, label: "order " + orderLabel(o),
        to: o.answer ? o.answer.t : null });
      if (!o.answer) return;
      var a = o.answer;
      addMarker({ id: m.key + "#answer" + i, chart: chart, t: a.t, v: num(o.price), scale: "y", item: o.item,
        shape: a.error || a.filled == null ? "x" : "circle", color: a.error || a.filled == null ? COLORS.bad : color,
        fill: false, label: "answer " + a.status + (a.filled != null ? ", filled " + a.filled : "") +
          (a.error ? ": " + a.error : "") });
    });
    m.fills.forEach(function (f, i) {
      var back = Number(f.size) < 0;
      addMarker({ id: m.key + "#fill" + i, chart: chart, t: f.t, v: num(f.price), scale: "y", item: f.item,
        shape: "diamond", color: back ? COLORS.bad : COLORS.fill, fill: !back, big: true,
        label: (back ? "fill taken back " : "fill ") + f.side + " " + f.size + " @ " + f.price +
          (f.fill_id ? " (" + f.fill_id + ")" : " (order " + f.order_id + ")") });
    });
    m.notes.forEach(function (n, i) {
      addMarker({ id: m.key + "#note" + i, chart: chart, t: n.t, v: chart.noteAt, scale: "y", item: n.item,
        shape: "tag", color: COLORS.bad, text: "⚠ " + n.text.split(":")[0], label: n.text });
    });
    m.trades.forEach(function (s, i) {
      addMarker({ id: m.key + "#trade" + i, chart: chart, t: s.t, v: num(s.price), scale: "y", item: s.item,
        shape: "tag", color: s.status === "FAILED" ? COLORS.bad : COLORS.muted, text: s.status,
        label: "trade " + s.fill_id + " " + s.status });
    });
  }

  function exchangeMarkers(e, chart) {
    e.reported.forEach(function (r, i) {
      addMarker({ id: e.exchange + "#reported" + i, chart: chart, t: r.t, v: num(r.position), scale: "pos",
        item: r.item, shape: "square", color: COLORS.usd, fill: false,
        label: "reported by " + e.exchange + ": " + short(r.market) + " position " + r.position +
          (r.exposure != null ? ", exposure $" + r.exposure : "") });
    });
    e.points.forEach(function (p, i) {
      addMarker({ id: e.exchange + "#point" + i, chart: chart, t: p.t, v: num(p.position), scale: "pos",
        item: p.item, shape: "dot", color: COLORS.pos[0], fill: true,
        label: short(p.market) + " position " + p.position + ", exposure " +
          (p.exposure == null ? "unknown" : "$" + p.exposure) });
    });
  }

  function shape(ctx, m, x, y, r) {
    ctx.beginPath();
    if (m.shape === "up") { ctx.moveTo(x, y - r); ctx.lineTo(x + r, y + r); ctx.lineTo(x - r, y + r); ctx.closePath(); }
    else if (m.shape === "down") { ctx.moveTo(x, y + r); ctx.lineTo(x + r, y - r); ctx.lineTo(x - r, y - r); ctx.closePath(); }
    else if (m.shape === "diamond") { ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath(); }
    else if (m.shape === "square") { ctx.rect(x - r, y - r, 2 * r, 2 * r); }
    else if (m.shape === "x") { ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); }
    else { ctx.arc(x, y, m.shape === "dot" ? r * 0.6 : r, 0, 2 * Math.PI); }
  }

  function drawMarkers(u) {
    var ctx = u.ctx, dpr = window.devicePixelRatio || 1, r = 5 * dpr;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.lineWidth = 1.5 * dpr;
    markers.forEach(function (m) {
      if (m.chart !== u || m.v == null) return;
      var x = u.valToPos(m.t, "x", true), y = u.valToPos(m.v, m.scale, true);
      if (m.to != null) { // order -> its answer, at the order's price
        ctx.strokeStyle = m.color; ctx.globalAlpha = 0.5; ctx.beginPath();
        ctx.moveTo(x, y); ctx.lineTo(u.valToPos(m.to, "x", true), y); ctx.stroke(); ctx.globalAlpha = 1;
      }
      if (m.shape === "flag") { // a decision: a staff from the axis, a dot, its words
        ctx.strokeStyle = m.color; ctx.fillStyle = m.color; ctx.globalAlpha = 0.6; ctx.beginPath();
        ctx.moveTo(x, u.bbox.top + u.bbox.height); ctx.lineTo(x, y); ctx.stroke(); ctx.globalAlpha = 1;
        ctx.beginPath(); ctx.arc(x, y, (m === selected.marker ? 1.6 : 1) * r * 0.7, 0, 2 * Math.PI); ctx.fill();
        ctx.font = (11 * dpr) + "px sans-serif";
        var w = ctx.measureText(m.text).width, lx = x + 6 * dpr;
        if (lx + w > u.bbox.left + u.bbox.width) lx = x - 6 * dpr - w;
        ctx.fillText(m.text, lx, y + 4 * dpr);
        return;
      }
      if (m.shape === "tag") {
        ctx.fillStyle = m.color; ctx.font = (10 * dpr) + "px sans-serif";
        var wide = ctx.measureText(m.text).width, left = x + 4 * dpr;
        if (left + wide > u.bbox.left + u.bbox.width) left = x - 4 * dpr - wide; // keep it inside the plot
        ctx.fillText(m.text, left, y - 8 * dpr - (m.index % 3) * 10 * dpr);
        return;
      }
      ctx.strokeStyle = m.color; ctx.fillStyle = m.color;
      shape(ctx, m, x, y, (m.big ? 1.4 : 1) * (m === selected.marker ? r * 1.6 : r));
      if (m.fill && m.shape !== "x") {
        ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = dpr; ctx.stroke(); ctx.lineWidth = 1.5 * dpr;
      } else ctx.stroke();
    });
    if (selected.t != null) {
      var sx = u.valToPos(selected.t, "x", true);
      ctx.strokeStyle = "#f08c00"; ctx.setLineDash([4 * dpr, 3 * dpr]); ctx.beginPath();
      ctx.moveTo(sx, u.bbox.top); ctx.lineTo(sx, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.setLineDash([]);
    }
    ctx.restore();
  }

  function drawDepth(u, book) {
    var ctx = u.ctx, dpr = window.devicePixelRatio || 1, most = 0;
    book.forEach(function (b) {
      b.bids.concat(b.asks).forEach(function (l) { most = Math.max(most, Number(l[1])); });
    });
    if (!most) return;
    ctx.save();
    ctx.beginPath(); ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height); ctx.clip();
    book.forEach(function (b, i) {
      if (b.invalid) return;
      var x0 = u.valToPos(b.t, "x", true), x1 = u.valToPos(i + 1 < book.length ? book[i + 1].t : X1, "x", true);
      [["bids", COLORS.bid], ["asks", COLORS.ask]].forEach(function (side) {
        b[side[0]].forEach(function (l) {
          var y = u.valToPos(Number(l[0]), "y", true);
          ctx.fillStyle = side[1]; ctx.globalAlpha = 0.08 + 0.35 * Number(l[1]) / most;
          ctx.fillRect(x0, y - 2 * dpr, Math.max(x1 - x0, dpr), 4 * dpr);
        });
      });
    });
    ctx.restore();
  }

  // ---- charts ----------------------------------------------------------------------------------

  function columns(times, seriesPoints) {
    // x: every time used plus both ends. A series holds its last value (a step) until its next point; null
    // before its first point and where a point is null (a book not trusted), so those show as gaps.
    var xs = [X0, X1].concat(times);
    seriesPoints.forEach(function (pts) { pts.forEach(function (p) { xs.push(p[0]); }); });
    xs = Array.from(new Set(xs)).sort(function (a, b) { return a - b; });
    var cols = [xs];
    seriesPoints.forEach(function (pts) {
      var sorted = pts.slice().sort(function (a, b) { return a[0] - b[0]; });
      var j = 0, held = null;
      cols.push(xs.map(function (x) {
        while (j < sorted.length && sorted[j][0] <= x) { held = sorted[j][1]; j += 1; }
        return held;
      }));
    });
    return cols;
  }

  function range(values, lo, hi) {
    var vs = values.filter(function (v) { return v != null && isFinite(v); });
    if (!vs.length) return [lo == null ? 0 : lo, hi == null ? 1 : hi];
    var min = Math.min.apply(null, vs), max = Math.max.apply(null, vs);
    var p = Math.max((max - min) * 0.15, Math.abs(max) * 0.02, 0.01);
    min -= p; max += p;
    if (lo != null) min = Math.max(min, lo);
    if (hi != null) max = Math.min(max, hi);
    return [min, max];
  }

  function stepped() { return uPlot.paths.stepped({ align: 1 }); }

  var AXIS = 64; // every chart's y axes take the same room, so one time is at one x on every chart
  var syncing = false;
  function baseOpts(height) {
    return {
      width: chartWidth(), height: height,
      scales: { x: { time: false } },
      cursor: { sync: { key: "tradetape" }, drag: { x: true, y: false }, points: { show: false } },
      legend: { show: true, live: false },
      hooks: {
        draw: [drawMarkers],
        setScale: [function (u, key) {
          if (key !== "x" || syncing) return;
          syncing = true;
          charts.forEach(function (c) {
            if (c !== u) c.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
          });
          syncing = false;
        }],
        ready: [function (u) { hook(u); }],
      },
      axes: [{ values: ticks }],
    };
  }

  function chartWidth() { return Math.max(320, $("charts").clientWidth - 24); }

  function panel(title, sub) {
    var box = el("div", "panel");
    var head = el("h3", null, title);
    if (sub) head.appendChild(el("span", "sub", sub));
    box.appendChild(head);
    $("charts").appendChild(box);
    return box;
  }

  function marketChart(m) {
    var box = panel(m.exchange + " " + short(m.market), m.leg + " price · " + m.orders.length + " orders, " +
      m.fills.length + " fills, " + m.book.length + " books");
    box.title = m.market;
    function best(side) { // null where the book is not trusted or the side is empty: a gap in the line
      return m.book.map(function (b) { return [b.t, b.invalid || !b[side].length ? null : num(b[side][0][0])]; });
    }
    var bids = best("bids"), asks = best("asks");
    var prices = [];
    m.book.forEach(function (b) { b.bids.concat(b.asks).forEach(function (l) { prices.push(num(l[0])); }); });
    m.orders.forEach(function (o) { prices.push(num(o.price)); });
    m.fills.forEach(function (f) { prices.push(num(f.price)); });
    var yr = range(prices, 0, 1);
    var opts = baseOpts(170);
    opts.legend.show = false; // the page's legend names the lines
    opts.scales.y = { range: function () { return yr; } };
    opts.axes.push({ scale: "y", label: m.leg + " price", size: AXIS });
    opts.axes.push({ scale: "y", label: m.leg + " price", side: 1, size: AXIS, grid: { show: false } });
    opts.series = [{}, { label: "best bid", stroke: COLORS.bid, width: 2, paths: stepped(), points: { show: false } },
      { label: "best ask", stroke: COLORS.ask, width: 2, paths: stepped(), points: { show: false } }];
    opts.hooks.drawClear = [function (u) { drawDepth(u, m.book); }];
    var u = new uPlot(opts, columns(markerTimes(m), [bids, asks]), box);
    u.noteAt = yr[0] + (yr[1] - yr[0]) * 0.75;
    charts.push(u);
    marketMarkers(m, u);
    return u;
  }

  function markerTimes(m) {
    var ts = [];
    m.orders.forEach(function (o) { ts.push(o.t); if (o.answer) ts.push(o.answer.t); });
    m.fills.forEach(function (f) { ts.push(f.t); });
    return ts;
  }

  function exchangeChart(e) {
    var names = [];
    e.points.concat(e.reported).forEach(function (p) { if (names.indexOf(p.market) < 0) names.push(p.market); });
    var box = panel(e.exchange + " position and exposure", names.length + " market(s) · ■ reported by the exchange");
    var start = [data.span[0], 0]; // positions start at zero with the session
    var perMarket = names.map(function (name) {
      return [start].concat(e.points.filter(function (p) { return p.market === name; })
        .map(function (p) { return [p.t, num(p.position)]; }));
    });
    var exposure = [start].concat(e.points.map(function (p) { return [p.t, num(p.exposure)]; }));
    var opts = baseOpts(130);
    var pos = [0], usd = [0];
    e.points.concat(e.reported).forEach(function (p) { pos.push(num(p.position)); usd.push(num(p.exposure)); });
    var pr = range(pos), ur = range(usd, 0);
    var zero = (0 - pr[0]) / (pr[1] - pr[0]); // put $0 level with position 0 when that leaves room to read both
    if (zero > 0 && zero <= 0.5) ur[0] = -zero * ur[1] / (1 - zero);
    opts.scales.pos = { range: function () { return pr; } };
    opts.scales.usd = { range: function () { return ur; } };
    opts.axes.push({ scale: "pos", label: "position", size: AXIS });
    opts.axes.push({ scale: "usd", label: "exposure $", side: 1, grid: { show: false }, size: AXIS });
    opts.series = [{}].concat(names.map(function (name, i) {
      return { label: short(name), scale: "pos", stroke: COLORS.pos[i % COLORS.pos.length], width: 2, paths: stepped(),
        points: { show: false } };
    }), [{ label: "exposure $", scale: "usd", stroke: COLORS.usd, width: 1.5, dash: [6, 4], paths: stepped(),
      points: { show: false } }]);
    var u = new uPlot(opts, columns([], perMarket.concat([exposure])), box);
    charts.push(u);
    exchangeMarkers(e, u);
  }

  function decisionChart(kind, list) {
    if (!list.length) return;
    var untimed = list.filter(function (d) { return d.t == null; }).length;
    var box = panel(kind, list.length + " in the engine's ledger" +
      (untimed ? ", " + untimed + " not placed in time (listed at the end)" : ""));
    list = list.filter(function (d) { return d.t != null; });
    var opts = baseOpts(110);
    opts.legend.show = false;
    opts.scales.y = { range: function () { return [0, 1]; } };
    opts.axes.push({ scale: "y", label: " ", size: AXIS, values: function () { return []; } });
    opts.axes.push({ scale: "y", label: " ", side: 1, size: AXIS, grid: { show: false }, values: function () { return []; } });
    opts.series = [{}];
    var u = new uPlot(opts, columns(list.map(function (d) { return d.t; }), []), box);
    charts.push(u);
    list.forEach(function (d, i) {
      addMarker({ id: kind + "#" + i, chart: u, t: d.t, v: 0.8 - (i % 3) * 0.3, scale: "y", item: d.item, shape: "flag",
        color: d.taken === false ? COLORS.muted : COLORS.fill, text: d.short || d.label,
        label: d.label + (d.placed ? " (placed " + d.placed + ")" : "") });
    });
  }

  // ---- interaction ---------------------------------------------------------------------------

  var tip;
  function nearest(u, ev) {
    // from the pointer's page position: offsetX would be relative to whichever child of the plot was hit
    var box = u.over.getBoundingClientRect(), px = ev.clientX - box.left, py = ev.clientY - box.top;
    var best = null, bestD = 9;
    markers.forEach(function (m) {
      if (m.chart !== u || m.v == null) return;
      var d = Math.hypot(u.valToPos(m.t, "x") - px, u.valToPos(m.v, m.scale) - py);
      if (d < bestD) { best = m; bestD = d; }
    });
    return best;
  }

  function hook(u) {
    u.over.addEventListener("mousemove", function (ev) {
      var m = nearest(u, ev);
      u.over.style.cursor = m ? "pointer" : "crosshair";
      if (!m) { tip.style.display = "none"; return; }
      tip.textContent = fmtT(m.t) + " · " + m.label;
      tip.style.display = "block";
      tip.style.left = ev.pageX + 12 + "px";
      tip.style.top = ev.pageY + 12 + "px";
    });
    u.over.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    u.over.addEventListener("click", function (ev) {
      var m = nearest(u, ev);
      if (m) selectMarker(m);
    });
  }

  function selectMarker(m) {
    selected.marker = m;
    select(m.item, m.t, true);
  }

  function select(item, t, fromChart) {
    var it = data.items[item];
    if (!it) return;
    if (!fromChart) selected.marker = null;
    selected.item = item;
    selected.t = t != null ? t : it.t;
    var rows = document.querySelectorAll("#list tr.selected");
    rows.forEach(function (r) { r.classList.remove("selected"); });
    var row = $("row-" + item);
    if (row) {
      row.classList.add("selected");
      if (row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
    }
    charts.forEach(function (c) {
      var min = c.scales.x.min, max = c.scales.x.max;
      if (selected.t < min || selected.t > max) c.setScale("x", { min: X0, max: X1 });
      c.redraw(false);
    });
    showDetail(it);
    $("selection").textContent = "selected: #" + item + " at " + fmtT(selected.t) +
      (selected.marker ? " · " + selected.marker.label : "");
    document.documentElement.dataset.selected = String(item);
  }

  function showDetail(it) {
    var box = $("detail");
    box.textContent = "";
    box.appendChild(el("h4", null, it.session + "/" + it.file));
    box.appendChild(el("div", "meta", "seq " + it.seq + " · " + fmtT(it.t) + (it.end != null ? " → " + fmtT(it.end) : "") +
      " · " + (it.at || "no time recorded")));
    if (it.problem) box.appendChild(el("div", "problem", "not drawn: " + it.problem));
    var drawn = byItem[it.id] || [];
    if (drawn.length) {
      var ul = el("ul", "drawn");
      drawn.forEach(function (m) {
        var li = el("li", null, m.label);
        li.addEventListener("click", function () { selectMarker(m); });
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    if (it.context && it.context.path) {
      box.appendChild(el("div", "meta", "connection " + it.context.path + " (" + it.context.handshake + ")"));
    }
    if (it.context && it.context.placed) box.appendChild(el("div", "meta", "placed " + it.context.placed));
    if (it.context && it.context.untimed) box.appendChild(el("div", "meta", "not placed in time: it names no arb"));
    box.appendChild(el("pre", "record", JSON.stringify(it.record, null, 2)));
    if (typeof it.record.text === "string") {
      try {
        var parsed = JSON.parse(it.record.text);
        box.appendChild(el("div", "meta", "its text, parsed:"));
        box.appendChild(el("pre", "record", JSON.stringify(parsed, null, 2)));
      } catch (e) { /* not JSON: the text above is all there is */ }
    }
  }

  function buildList() {
    var table = el("table");
    var many = data.sessions.length > 1;
    data.items.forEach(function (it) {
      var tr = el("tr", it.kind + (it.problem ? " problem" : ""));
      tr.id = "row-" + it.id;
      tr.appendChild(el("td", "t", it.t == null ? "—" : fmtT(it.t)));
      if (many) tr.appendChild(el("td", "session", it.session));
      tr.appendChild(el("td", "ex", it.exchange || ""));
      var main = el("td", "label", it.label || it.file);
      if (it.summary) main.appendChild(el("div", "summary", it.summary));
      tr.appendChild(main);
      tr.appendChild(el("td", "status" + (/^[45]|upstream|rejected/.test(it.status || "") ? " bad" : ""), it.status || ""));
      tr.addEventListener("click", function () { select(it.id); });
      table.appendChild(tr);
    });
    $("list").appendChild(table);
  }

  function header() {
    var names = data.sessions.map(function (s) {
      var sc = s.scenario ? " — " + s.scenario.how : "";
      var kinds = Object.keys(s.kinds).sort().map(function (k) { return s.kinds[k] + " " + k; }).join(", ");
      return s.name + " (" + kinds + sc + ")";
    });
    $("title").textContent = "tradetape report: " + data.sessions.map(function (s) { return s.name; }).join(" + ");
    $("facts").textContent = names.join(" · ") + " · span " + fmtT(span) + " · aligned by " + data.align +
      " · tradetape " + data.tradetape;
    var warn = $("warnings");
    data.warnings.forEach(function (w) { warn.appendChild(el("li", null, w)); });
  }

  function fromHash() {
    var h = decodeURIComponent(location.hash.slice(1));
    if (h.indexOf("item=") === 0) select(Number(h.slice(5)));
    if (h.indexOf("marker=") === 0) {
      var m = markers.filter(function (x) { return x.id === h.slice(7); })[0];
      if (m) selectMarker(m);
    }
  }

  tip = el("div", "tip");
  document.body.appendChild(tip);
  header();
  buildList();
  data.markets.forEach(marketChart);
  data.exchanges.forEach(exchangeChart);
  decisionChart("opportunities", data.opportunities);
  decisionChart("decisions", data.decisions);
  if (!charts.length) $("charts").appendChild(el("p", "empty", "Nothing to draw: no orders, fills or books in these sessions."));
  charts.forEach(function (c) { c.redraw(false); });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.setSize({ width: chartWidth(), height: c.height }); });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
  window.tradetape = { data: data, markers: markers, charts: charts, select: select };
  var root = document.documentElement;
  root.dataset.charts = String(charts.length);
  root.dataset.markers = String(markers.length);
  root.dataset.rendered = "ok";
})();
