/* runlog viewer: the compare page (loaded by index.html after app.js; no build step). Same safety rule as app.js:
 * strings from runs reach the page through textContent or setAttribute, never innerHTML (the plots are SVG built
 * with createElementNS, their labels set with textContent).
 *
 * A side-by-side table (parameters, metrics last/min/max, tags; "only differences"), parallel coordinates over
 * the parameters and a chosen metric, a scatter of any two columns, and the runs' charts; every run keeps the
 * colour of the run key (runColor) everywhere.
 */
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/* A value as a number when it is one (a property "0.01" is), else null. */
function asNumber(v) {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v)) return Number(v);
  return null;
}

/* The columns the compare page knows, each {key, label, group, get(detail)}. */
function compareColumns(details) {
  const metric = (d, n) => d.metrics_list.find((m) => m.name === n);
  const names = [...new Set(details.flatMap((d) => d.metrics_list.filter((m) => (m.kind === "s" || m.kind === "l") && !isSystem(m.name)).map((m) => m.name)))].sort();
  const single = names.filter((n) => details.every((d) => (metric(d, n) || { count: 0 }).count <= 1));
  const series = names.filter((n) => !single.includes(n));
  const props = [...new Set(details.flatMap((d) => Object.keys(d.properties || {})))].sort();
  const tags = [...new Set(details.flatMap((d) => Object.keys(d.tags || {})))].sort();
  const cols = [
    { key: "a:experiment", label: "experiment", group: "Attributes", get: (d) => d.experiment },
    { key: "a:status", label: "status", group: "Attributes", get: (d) => d.status },
    { key: "a:start_time", label: "started", group: "Attributes", get: (d) => d.start_time, show: fmtTime },
    { key: "a:duration", label: "duration", group: "Attributes", get: (d) => (d.duration === null ? null : Math.round(d.duration)), show: fmtDuration },
    ...props.map((p) => ({ key: "p:" + p, label: p, group: "Parameters", get: (d) => (d.properties || {})[p] })),
    ...single.map((n) => ({ key: "m:" + n, label: n, group: "Parameters", get: (d) => metric(d, n)?.last })),
  ];
  for (const n of series) {
    for (const agg of ["last", "min", "max"]) cols.push({ key: `m:${n}:${agg}`, label: `${n} (${agg})`, group: "Metrics", metric: n, agg, get: (d) => metric(d, n)?.[agg] });
  }
  cols.push(...tags.map((t) => ({ key: "t:" + t, label: t, group: "Tags", get: (d) => (d.tags || {})[t], show: (v) => (v === "" ? "✓" : String(v)) })));
  return { cols, series, params: cols.filter((c) => c.group === "Parameters") };
}

/* The side-by-side table: a row per column, a cell per run; rows whose values are all equal can be hidden. */
function compareTable(details, cols) {
  const onlyDiff = parseHash().params.get("diff") === "1";
  const shown = (c, v) => (v === null || v === undefined ? "" : c.show ? c.show(v) : fmt(v));
  const same = (c) => new Set(details.map((d) => (c.get(d) === undefined || c.get(d) === null ? "\u0000" : shown(c, c.get(d))))).size <= 1;  // as shown
  let group = null;
  const rows = [];
  for (const c of cols) {
    if (c.group !== group) {  // a group's heading row: hidden with "only differences" when every row of the group agrees
      group = c.group;
      const agree = cols.filter((x) => x.group === group).every(same);
      rows.push(el("tr", { class: "group-row" + (agree ? " same" : "") }, el("th", { colspan: details.length + 1 }, group)));
    }
    rows.push(el("tr", { "data-row": c.key, class: same(c) ? "same" : "differs" }, el("th", { scope: "row" }, c.label),
      details.map((d) => { const v = c.get(d); return el("td", { class: typeof v === "number" ? "num" : "", "data-run": d.id }, shown(c, v)); })));
  }
  const table = el("table", { class: "grid compare" + (onlyDiff ? " only-diff" : ""), id: "compare-table" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), details.map((d, i) => el("th", { "data-run": d.id }, el("span", { style: `color:${runColor(d.id, i)}` }, "■ "),
      el("a", { href: "#/run/" + enc(d.id) }, d.display_name))))),
    el("tbody", {}, rows));
  const toggle = el("label", {}, el("input", { type: "checkbox", id: "only-diff", checked: onlyDiff, onchange: (e) => {
    table.classList.toggle("only-diff", e.target.checked); setHashParams({ diff: e.target.checked ? "1" : "" }); } }), "only differences");
  return el("div", { class: "card", id: "compare-card" }, el("div", { class: "toolbar" }, el("h3", {}, "Side by side"), toggle), el("div", { class: "table-wrap" }, table));
}

/* A scale for an axis of values: numbers linearly, anything else as evenly spaced categories. */
function axisScale(values, lo, hi) {
  const nums = values.map(asNumber);
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length && present.every((v) => asNumber(v) !== null)) {
    let min = Math.min(...nums.filter((v) => v !== null)), max = Math.max(...nums.filter((v) => v !== null));
    if (min === max) { min -= Math.abs(min) * 0.1 || 1; max += Math.abs(max) * 0.1 || 1; }
    const at = (v) => (asNumber(v) === null ? null : lo + (hi - lo) * (asNumber(v) - min) / (max - min));
    const ticks = [min, (min + max) / 2, max];
    return { at, ticks: ticks.map((t, i) => [at(t), tickLabels(ticks, (max - min) / 2)[i]]) };
  }
  const cats = [...new Set(present.map(String))].sort();
  const at = (v) => (v === null || v === undefined ? null : cats.length === 1 ? (lo + hi) / 2 : lo + (hi - lo) * cats.indexOf(String(v)) / (cats.length - 1));
  return { at, ticks: cats.map((c) => [at(c), c.length > 14 ? c.slice(0, 13) + "…" : c]) };
}

/* Parallel coordinates: an axis per parameter and one for the chosen metric, a line per run in its colour. */
function parallelPlot(details, axes, width) {
  const h = 300, top = 34, bottom = h - 24, left = 40, right = Math.max(left + 1, width - 70);
  const node = svg("svg", { id: "parallel", class: "plot", width, height: h, viewBox: `0 0 ${width} ${h}` });
  if (axes.length < 2) { node.append(svg("text", { x: 10, y: 40, class: "muted-text" }, "Parallel coordinates need at least two columns (parameters and a metric).")); return node; }
  const xs = axes.map((_, i) => left + (right - left) * i / (axes.length - 1));
  const scales = axes.map((a) => axisScale(details.map((d) => a.get(d)), bottom, top));
  details.forEach((d, r) => {
    const pts = axes.map((a, i) => [xs[i], scales[i].at(a.get(d))]);
    let path = "", pen = false;
    for (const [x, y] of pts) { if (y === null) continue; path += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1); pen = true; }  // a missing value: the line goes on to the next axis
    node.append(svg("path", { d: path, fill: "none", stroke: runColor(d.id, r), "stroke-width": 2, "data-run": d.id, class: "pc-line" }, svg("title", {}, d.display_name)));
  });
  axes.forEach((a, i) => {
    node.append(svg("line", { x1: xs[i], x2: xs[i], y1: top, y2: bottom, class: "axis-line" }));
    node.append(svg("text", { x: xs[i], y: 16, "text-anchor": "middle", class: "axis-label", "data-axis": a.key }, a.label));
    for (const [y, label] of scales[i].ticks) node.append(svg("text", { x: xs[i] + 4, y: y + 4, class: "tick-label" }, label));
  });
  return node;
}

/* A scatter of two columns: a dot per run in its colour (runs missing either value are left out). */
function scatterPlot(details, cx, cy, width) {
  const h = 300, left = 60, right = width - 20, top = 16, bottom = h - 40, inset = 12;
  const node = svg("svg", { id: "scatter", class: "plot", width, height: h, viewBox: `0 0 ${width} ${h}` });
  const sx = axisScale(details.map((d) => cx.get(d)), left + inset, right - inset), sy = axisScale(details.map((d) => cy.get(d)), bottom - inset, top + inset);
  node.append(svg("line", { x1: left, x2: right, y1: bottom, y2: bottom, class: "axis-line" }), svg("line", { x1: left, x2: left, y1: top, y2: bottom, class: "axis-line" }));
  for (const [x, label] of sx.ticks) node.append(svg("text", { x, y: bottom + 16, "text-anchor": "middle", class: "tick-label" }, label));
  for (const [y, label] of sy.ticks) node.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick-label" }, label));
  node.append(svg("text", { x: (left + right) / 2, y: h - 6, "text-anchor": "middle", class: "axis-label" }, cx.label));
  node.append(svg("text", { x: 14, y: (top + bottom) / 2, "text-anchor": "middle", class: "axis-label", transform: `rotate(-90 14 ${(top + bottom) / 2})` }, cy.label));
  details.forEach((d, r) => {
    const x = sx.at(cx.get(d)), y = sy.at(cy.get(d));
    if (x === null || y === null) return;
    node.append(svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 6, fill: runColor(d.id, r), "data-run": d.id, class: "dot" },
      svg("title", {}, `${d.display_name}: ${fmt(cx.get(d))}, ${fmt(cy.get(d))}`)));
  });
  return node;
}

/* The plots card: parallel coordinates (parameters + a metric) and a scatter (any two columns), choices in the URL. */
function plotsCard(details, model) {
  const p = parseHash().params;
  const plottable = model.cols.filter((c) => c.group !== "Tags" && c.key !== "a:experiment" && c.key !== "a:status" && details.some((d) => c.get(d) !== null && c.get(d) !== undefined));
  const metricCols = model.cols.filter((c) => c.group === "Metrics" && c.agg === "last");
  const pick = (id, options, wanted, fallback) => el("select", { id }, options.map((c) => el("option", { value: c.key, selected: c.key === (options.some((o) => o.key === wanted) ? wanted : fallback) }, c.label)));
  const pcMetric = pick("pc-metric", metricCols, p.get("pc"), metricCols[0]?.key);
  const defaultX = model.params[0]?.key || plottable[0]?.key, defaultY = metricCols[0]?.key || plottable[1]?.key;
  const sxSel = pick("scatter-x", plottable, p.get("sx"), defaultX), sySel = pick("scatter-y", plottable, p.get("sy"), defaultY);
  const pcBox = el("div", { class: "plot-box" }), scBox = el("div", { class: "plot-box" });
  const byKey = new Map(model.cols.map((c) => [c.key, c]));
  function draw() {
    const width = Math.max(360, Math.floor((card.clientWidth || 1000) / 2) - 30);
    // The parameters that differ between the runs (an axis where every run agrees tells nothing), then the metric.
    const varies = (c) => details.length < 2 || new Set(details.map((d) => JSON.stringify(c.get(d) ?? null))).size > 1;
    const axes = [...model.params.filter((c) => c !== byKey.get(pcMetric.value) && varies(c)), ...(byKey.get(pcMetric.value) ? [byKey.get(pcMetric.value)] : [])];
    pcBox.replaceChildren(parallelPlot(details, axes, width));
    const cx = byKey.get(sxSel.value), cy = byKey.get(sySel.value);
    scBox.replaceChildren(cx && cy ? scatterPlot(details, cx, cy, width) : el("p", { class: "muted" }, "No columns to plot."));
  }
  const changed = () => { setHashParams({ pc: pcMetric.value, sx: sxSel.value, sy: sySel.value }); draw(); };
  [pcMetric, sxSel, sySel].forEach((s) => s.addEventListener("change", changed));
  const card = el("div", { class: "card", id: "plots" },
    el("div", { class: "plots" },
      el("div", {}, el("div", { class: "toolbar" }, el("h3", {}, "Parallel coordinates"), metricCols.length ? el("label", {}, "metric:", pcMetric) : null), pcBox),
      el("div", {}, el("div", { class: "toolbar" }, el("h3", {}, "Scatter"), el("label", {}, "x:", sxSel), el("label", {}, "y:", sySel)), scBox)));
  card.draw = draw;
  return card;
}

async function comparePage(ids) {
  if (!ids.length) { location.hash = "#/"; return; }
  const seq = App.routeSeq;
  const details = await Promise.all(ids.map((id) => api(runPath(id))));
  if (seq !== App.routeSeq) return;
  document.title = `Compare ${details.map((d) => d.display_name).join(", ")} · runlog`;
  const runs = details.map((d, i) => ({ run: d.id, label: d.display_name, color: runColor(d.id, i) }));
  const model = compareColumns(details);
  const plots = plotsCard(details, model);
  const view = chartsView(runs, details);
  mount(el("div", { class: "run-head", id: "run-key" }, el("h2", {}, `Comparing ${ids.length} run(s)`),
    details.map((d, i) => el("span", { "data-run": d.id }, el("span", { style: `color:${runColor(d.id, i)}` }, "■ "), el("a", { href: "#/run/" + enc(d.id) }, d.display_name)))),
    compareTable(details, model.cols), plots, el("h3", {}, "Charts"), view);
  plots.draw();
  every(3000, async () => {
    const live = await Promise.all(ids.map((id) => api(runPath(id)))).catch(() => []);
    if (live.some((d) => d.live)) view.refresh();
  });
}
