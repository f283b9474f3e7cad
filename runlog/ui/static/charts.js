/* runlog viewer: charts of scalar and table metrics (loaded by index.html after app.js; no build step). Same safety rule as app.js:
 * strings from runs reach the page through textContent or setAttribute, never innerHTML. */
"use strict";

// -- charts ------------------------------------------------------------------------------------

function chartWidth(node) { return Math.max(320, (node.clientWidth || 480) - 4); }

/* A single x value (one point per series) gets a small range around it, not uPlot's 0..100. */
function xScale(time) {
  const pad = time ? 60 : 1;
  return { time, range: (u, lo, hi) => {
    const xs = u.data[0];
    return xs.length === 1 && xs[0] !== null ? [xs[0] - pad, xs[0] + pad] : [lo, hi];
  } };
}

/* One uPlot chart: `sources` are [{label, x: [...], y: [...]}] aligned with uPlot.join. */
function drawChart(target, sources, opts) {
  const aligned = uPlot.join(sources.map((s) => [s.x, s.y]));
  const series = [{ label: opts.xLabel || "x", value: opts.time ? undefined : (u, v) => (v === null || v === undefined ? "" : fmt(v)) }];
  sources.forEach((s, i) => series.push({
    label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
    points: { show: opts.points || false, size: 4 }, value: (u, v) => (v === null || v === undefined ? "" : fmt(v)),
  }));
  const css = getComputedStyle(document.documentElement);  // axis colours of the current (light/dark) theme
  const axis = { stroke: css.getPropertyValue("--muted").trim() || "#6b7280", grid: { stroke: css.getPropertyValue("--line").trim() || "#e3e6ec" }, ticks: { stroke: css.getPropertyValue("--line").trim() || "#e3e6ec" } };
  const chart = new uPlot({
    width: chartWidth(target), height: opts.height || 240,
    scales: { x: xScale(!!opts.time) },
    axes: [{ ...axis }, { ...axis }],
    series,
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    hooks: opts.hooks || {},
  }, aligned, target);
  target.dataset.series = String(sources.length);
  App.charts.push(chart);
  return chart;
}

/* A card charting scalar metric(s) of one or more runs; refetches a zoomed range at full detail. */
function seriesCard(title, requests, xAxis, heading) {
  const body = el("div", { class: "chart" });
  const note = el("div", { class: "muted small" });
  const card = el("div", { class: "card", "data-chart": title }, el("h3", {}, heading || title), body, note);
  let chart = null;
  let zoomed = false;

  async function fetchAll(range) {
    const extra = range ? `&xmin=${range[0]}&xmax=${range[1]}` : "";
    return Promise.all(requests.map(async (r) => {
      const d = await api(`${runPath(r.run)}/series?name=${enc(r.metric)}&x=${xAxis}${extra}`);
      return { label: r.label, x: d.x, y: d.y, total: d.total, inRange: d.in_range, downsampled: d.downsampled };
    }));
  }

  function describe(sources) {
    const sum = (key) => sources.reduce((a, s) => a + s[key], 0);
    const total = sum("total"), inRange = sum("inRange"), shown = sources.reduce((a, s) => a + s.x.length, 0);
    if (sources.some((s) => s.downsampled)) note.textContent = `${shown} of ${inRange} points shown (min/max per bucket; drag to zoom for detail)`;
    else if (zoomed) note.textContent = `${inRange} of ${total} points in view (double-click to zoom out)`;
    else note.textContent = `${total} point(s)`;
  }

  async function load() {
    const sources = await fetchAll(null);
    describe(sources);
    if (chart) { chart.setData(uPlot.join(sources.map((s) => [s.x, s.y]))); return; }
    chart = drawChart(body, sources, {
      time: xAxis === "time", xLabel: xAxis, points: sources.every((s) => s.x.length < 60),
      hooks: {
        setSelect: [async (u) => {
          if (u.select.width < 2) return;
          const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
          zoomed = true;
          const detail = await fetchAll([lo, hi]);
          describe(detail);
          u.setData(uPlot.join(detail.map((s) => [s.x, s.y])), false);
          u.setScale("x", { min: lo, max: hi });
        }],
      },
    });
    chart.over.addEventListener("dblclick", () => { if (zoomed) { zoomed = false; chart.destroy(); App.charts = App.charts.filter((c) => c !== chart); chart = null; body.replaceChildren(); load(); } });
  }
  card.refresh = () => (zoomed ? Promise.resolve() : load());
  load().catch((err) => body.replaceChildren(el("p", { class: "error" }, String(err.message))));
  return card;
}

/* A card charting columns of a table metric: one column on x (chosen), one or more on y. */
function tableCard(name, runs) {
  const body = el("div", { class: "chart" });
  const controls = el("div", { class: "toolbar small" });
  const card = el("div", { class: "card", "data-chart": name, "data-kind": "table" }, el("h3", {}, name + " (table)"), controls, body);
  let tables = [];
  let chart = null;

  function draw() {
    const xCol = controls.querySelector("select.x-column").value;
    const yCols = [...controls.querySelectorAll("input.y-column:checked")].map((i) => i.value);
    if (chart) { chart.destroy(); App.charts = App.charts.filter((c) => c !== chart); chart = null; }
    body.replaceChildren();
    if (!yCols.length) { body.append(el("p", { class: "muted" }, "Choose a column for the y axis.")); return; }
    const sources = [];
    for (const t of tables) {
      const xs = t.data[xCol];
      if (!xs) continue;
      const order = xs.map((_, i) => i).filter((i) => typeof xs[i] === "number").sort((a, b) => xs[a] - xs[b]);
      for (const c of yCols) {
        if (!t.data[c]) continue;
        const label = runs.length > 1 ? `${t.label}: ${c}` : c;
        sources.push({ label, x: order.map((i) => xs[i]), y: order.map((i) => (typeof t.data[c][i] === "number" ? t.data[c][i] : null)) });
      }
    }
    if (!sources.length) { body.append(el("p", { class: "muted" }, `Column ${xCol} has no numbers to put on the x axis.`)); return; }
    // uPlot.join needs distinct x values per source; duplicate x (e.g. ROC steps) are nudged apart.
    sources.forEach((s) => { for (let i = 1; i < s.x.length; i++) if (s.x[i] <= s.x[i - 1]) s.x[i] = s.x[i - 1] + Math.abs(s.x[i - 1] || 1) * 1e-12 + 1e-15; });
    chart = drawChart(body, sources, { xLabel: xCol, points: sources.every((s) => s.x.length < 60) });
  }

  async function load() {
    tables = await Promise.all(runs.map(async (r) => ({ label: r.label, ...(await api(`${runPath(r.run)}/table?name=${enc(name)}`)) })));
    const columns = [...new Set(tables.flatMap((t) => t.columns))];
    const numeric = columns.filter((c) => tables.some((t) => (t.data[c] || []).some((v) => typeof v === "number")));
    const previousX = controls.querySelector("select.x-column")?.value;
    const previousY = new Set([...controls.querySelectorAll("input.y-column:checked")].map((i) => i.value));
    const xDefault = previousX || numeric[0] || columns[0];
    const xSelect = el("select", { class: "x-column", onchange: draw }, columns.map((c) => el("option", { value: c, selected: c === xDefault }, c)));
    const yBoxes = columns.map((c) => el("label", {}, el("input", { type: "checkbox", class: "y-column", value: c,
      checked: previousY.size ? previousY.has(c) : (c !== xDefault && numeric.includes(c)), onchange: draw }), c));
    controls.replaceChildren(el("label", {}, "x:", xSelect), el("span", { class: "muted" }, "y:"), ...yBoxes);
    draw();
  }
  card.refresh = load;
  load().catch((err) => body.replaceChildren(el("p", { class: "error" }, String(err.message))));
  return card;
}

/* The charts of one or several runs: one card per metric, a custom card for several metrics together. */
function chartsView(runs, details) {
  const xWanted = parseHash().params.get("x");
  const xSelect = el("select", { id: "x-axis" }, el("option", { value: "step" }, "step"),
    el("option", { value: "relative", selected: xWanted === "relative" }, "relative time (s)"), el("option", { value: "time", selected: xWanted === "time" }, "wall time"));
  const chartable = [...new Set(details.flatMap((d) => d.metrics_list.filter((m) => m.kind === "s" || m.kind === "l").filter((m) => m.min !== null && m.min !== undefined).map((m) => m.name)))].sort();
  const scalarNames = chartable.filter((n) => !isSystem(n));
  const systemNames = chartable.filter(isSystem).sort(bySystemOrder);
  const systemCards = el("div", { class: "cards", id: "system-charts" });
  const system = el("div", { class: "system-section", id: "system", hidden: !systemNames.length },
    el("h3", {}, "System"), el("p", { class: "muted small" }, "Sampled while the run ran (docs/system-metrics.md); x axis: wall time."), systemCards);
  const tableNames = [...new Set(details.flatMap((d) => d.metrics_list.filter((m) => m.kind === "table").map((m) => m.name)))].sort();
  const combineBoxes = scalarNames.map((n) => el("label", {}, el("input", { type: "checkbox", class: "combine-metric", value: n }), n));
  const custom = el("div", { class: "cards custom" });
  const cards = el("div", { class: "cards", id: "charts" });
  const combine = el("button", { class: "secondary", id: "combine", onclick: () => {
    const chosen = combineBoxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!chosen.length) return;
    const req = runs.flatMap((r) => chosen.filter((m) => hasMetric(r.run, m)).map((m) => ({ run: r.run, metric: m, label: runs.length > 1 ? `${r.label}: ${m}` : m })));
    custom.prepend(seriesCard(chosen.join(" + "), req, xSelect.value));
  } }, "Chart together");
  const byRun = new Map(details.map((d) => [d.id, new Set(d.metrics_list.map((m) => m.name))]));
  const hasMetric = (run, m) => byRun.get(run)?.has(m);

  function build() {
    App.charts.forEach((c) => c.destroy());
    App.charts = [];
    custom.replaceChildren();
    cards.replaceChildren(
      ...scalarNames.map((m) => seriesCard(m, runs.filter((r) => hasMetric(r.run, m)).map((r) => ({ run: r.run, metric: m, label: r.label })), xSelect.value)),
      ...tableNames.map((m) => tableCard(m, runs.filter((r) => hasMetric(r.run, m)))));
    if (!scalarNames.length && !tableNames.length) cards.append(el("p", { class: "muted" }, "No chartable metrics yet."));
    systemCards.replaceChildren(...systemNames.map((m) => seriesCard(m, runs.filter((r) => hasMetric(r.run, m)).map((r) => ({ run: r.run, metric: m, label: r.label })), "time", m.slice(SYSTEM_PREFIX.length))));
  }
  xSelect.addEventListener("change", () => { setHashParams({ x: xSelect.value === "step" ? "" : xSelect.value }); build(); });
  build();
  const view = el("div", {},
    el("div", { class: "toolbar" }, el("label", {}, "x axis:", xSelect),
      scalarNames.length > 1 ? el("span", { class: "combine" }, el("span", { class: "muted" }, "several metrics on one chart:"), combineBoxes, combine) : null),
    custom, cards, system);
  view.refresh = () => [...cards.children, ...custom.children, ...systemCards.children].forEach((c) => c.refresh && c.refresh().catch(() => {}));
  return view;
}

