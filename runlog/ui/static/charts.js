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

/* Ticks of a step axis fall on whole steps (1, 2, 5, 10, 20, 50, ...): never "0.25, 1.3" for a 3-step run. */
const STEP_INCRS = Array.from({ length: 16 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();

const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [1, 5]];  // the n-th metric of a run on one chart

/* Chart settings shared by every chart of a view, kept in the address (smooth=0.6&logy=1&outliers=hide&ymin=&ymax=&xmin=&xmax=). */
const ChartOpts = { smooth: 0, logx: false, logy: false, hideOutliers: false, ymin: null, ymax: null, xmin: null, xmax: null };

function chartOptsFromHash() {
  const p = parseHash().params;
  const num = (k) => (p.get(k) === null || p.get(k) === "" || !Number.isFinite(Number(p.get(k))) ? null : Number(p.get(k)));
  ChartOpts.smooth = Math.min(0.999, Math.max(0, num("smooth") || 0));
  ChartOpts.logx = p.get("logx") === "1";
  ChartOpts.logy = p.get("logy") === "1";
  ChartOpts.hideOutliers = p.get("outliers") === "hide";
  ChartOpts.ymin = num("ymin");
  ChartOpts.ymax = num("ymax");
  ChartOpts.xmin = num("xmin");
  ChartOpts.xmax = num("xmax");
}

function chartOptsToHash() {
  const o = ChartOpts;
  setHashParams({ smooth: o.smooth ? String(o.smooth) : "", logx: o.logx ? "1" : "", logy: o.logy ? "1" : "", outliers: o.hideOutliers ? "hide" : "",
    ymin: o.ymin === null ? "" : String(o.ymin), ymax: o.ymax === null ? "" : String(o.ymax),
    xmin: o.xmin === null ? "" : String(o.xmin), xmax: o.xmax === null ? "" : String(o.xmax) });
}

/* Exponential moving average as TensorBoard draws it: debiased, so the first points are not pulled to 0;
   gaps and non-finite values are passed through. */
function smoothEma(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v === null || v === undefined || !Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

/* The value at quantile q (0..1) of the finite numbers in `arrays`. */
function quantile(arrays, q) {
  const all = [];
  for (const a of arrays) for (const v of a) if (typeof v === "number" && Number.isFinite(v)) all.push(v);
  if (!all.length) return null;
  all.sort((x, y) => x - y);
  return all[Math.min(all.length - 1, Math.max(0, Math.round(q * (all.length - 1))))];
}

/* Tick labels that read well and never repeat: the fewest significant digits that tell the ticks apart. */
function tickLabels(splits, incr) {
  const clean = splits.map((v) => (v !== null && Math.abs(v) < Math.abs(incr || 0) * 1e-9 ? 0 : v));
  for (let p = 1; p <= 15; p++) {
    const labels = clean.map((v) => (v === null ? "" : fmtNumber(+v.toPrecision(p))));
    if (new Set(labels).size === labels.length) return labels;
  }
  return clean.map((v) => (v === null ? "" : fmtNumber(v)));
}

/* One uPlot chart: `sources` are [{label, x: [...], y: [...], color, dash}] aligned with uPlot.join.
   ChartOpts apply: smoothing (the raw line stays, faint), log scales, hidden outliers, a y range. */
function drawChart(target, sources, opts) {
  const o = ChartOpts;
  const logx = o.logx && !opts.time, logy = o.logy;
  const prepared = sources.map((s) => prepareSource(s, logx, logy));
  const smooth = o.smooth > 0 && !opts.noSmoothing;
  const aligned = chartData(sources, opts);
  const value = (u, v) => (v === null || v === undefined ? "" : fmt(v));
  const series = [{ label: opts.xLabel || "x", value: opts.time ? undefined : value }];
  prepared.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    series.push({ label: s.label, stroke: color, width: 1.5, dash: s.dash || [], spanGaps: true, points: { show: opts.points || false, size: 4 }, value });
    if (smooth) series.push({ label: s.label + " (raw)", stroke: color + "55", width: 1, dash: s.dash || [], spanGaps: true, points: { show: false }, value, class: "raw" });
  });
  const ys = prepared.map((s) => s.y);
  let yRange = null;
  if (o.hideOutliers) {  // the 1st..99th percentile, with a margin: a spike no longer flattens the rest
    const lo = quantile(ys, 0.01), hi = quantile(ys, 0.99);
    if (lo !== null && hi !== null) { const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1; yRange = [logy ? lo / 1.1 : lo - pad, logy ? hi * 1.1 : hi + pad]; }
  }
  const css = getComputedStyle(document.documentElement);  // axis colours of the current (light/dark) theme
  const axis = { stroke: css.getPropertyValue("--muted").trim() || "#6b7280", grid: { stroke: css.getPropertyValue("--line").trim() || "#e3e6ec" }, ticks: { stroke: css.getPropertyValue("--line").trim() || "#e3e6ec" } };
  const numericTicks = (u, splits, ax, space, incr) => tickLabels(splits, incr);
  const y = { distr: logy ? 3 : 1, log: 10, auto: true };
  if (yRange || o.ymin !== null || o.ymax !== null) {
    y.range = (u, lo, hi) => {
      let [a, b] = yRange || [lo, hi];
      if (o.ymin !== null && (!logy || o.ymin > 0)) a = o.ymin;
      if (o.ymax !== null && (!logy || o.ymax > 0)) b = o.ymax;
      return a < b ? [a, b] : [lo, hi];
    };
  }
  const x = xScale(!!opts.time);
  if (logx) { x.distr = 3; x.log = 10; delete x.range; }
  if (!opts.time && (o.xmin !== null || o.xmax !== null)) {  // an x range (step or relative time axes)
    const auto = x.range;
    x.range = (u, lo, hi) => {
      let [a, b] = auto ? auto(u, lo, hi) : [lo, hi];
      if (o.xmin !== null && (!logx || o.xmin > 0)) a = o.xmin;
      if (o.xmax !== null && (!logx || o.xmax > 0)) b = o.xmax;
      return a < b ? [a, b] : [lo, hi];
    };
  }
  const chart = new uPlot({
    width: chartWidth(target), height: opts.height || 240,
    scales: { x, y },
    axes: [{ ...axis, ...(opts.time ? {} : { values: numericTicks }), ...(opts.xLabel === "step" && !logx ? { incrs: STEP_INCRS } : {}) }, { ...axis, values: numericTicks, size: 60 }],
    series,
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    hooks: opts.hooks || {},
  }, aligned, target);
  chart.root.querySelectorAll(".u-legend .u-series").forEach((row, i) => { if (series[i] && series[i].class === "raw") row.classList.add("raw"); });
  target.dataset.series = String(sources.length);
  target.dataset.smoothed = smooth ? String(o.smooth) : "";
  target.dataset.logY = logy ? "1" : "";
  App.charts.push(chart);
  return chart;
}

/* A source on log axes: points at x <= 0 dropped (log x), values <= 0 as gaps (log y). */
function prepareSource(s, logx, logy) {
  let x = s.x, y = s.y;
  if (logx) { const keep = x.map((v, i) => (v > 0 ? i : -1)).filter((i) => i >= 0); x = keep.map((i) => s.x[i]); y = keep.map((i) => s.y[i]); }
  if (logy) y = y.map((v) => (typeof v === "number" && v > 0 ? v : null));
  return { ...s, x, y };
}

/* uPlot's data for `sources` under ChartOpts: per source the (smoothed) line, and the raw line when smoothed. */
function chartData(sources, opts) {
  const o = ChartOpts, smooth = o.smooth > 0 && !(opts && opts.noSmoothing);
  const columns = [];
  sources.forEach((src) => {
    const s = prepareSource(src, o.logx && !(opts && opts.time), o.logy);
    columns.push([s.x, smooth ? smoothEma(s.y, o.smooth) : s.y]);
    if (smooth) columns.push([s.x, s.y]);
  });
  return uPlot.join(columns);
}

/* A card charting scalar metric(s) of one or more runs; refetches a zoomed range at full detail. */
function seriesCard(title, requests, xAxis, heading) {
  const body = el("div", { class: "chart" });
  const note = el("div", { class: "muted small" });
  const card = el("div", { class: "card", "data-chart": title }, el("h3", {}, heading || title), body, note);
  let chart = null;
  let zoomed = false;

  async function fetchAll(range) {
    // A zoomed range, else the settings' x range (not on wall time): its points at full detail.
    const o = ChartOpts, set = xAxis !== "time" ? [o.xmin, o.xmax] : [null, null];
    const [lo, hi] = range || set;
    const extra = (lo !== null ? `&xmin=${lo}` : "") + (hi !== null ? `&xmax=${hi}` : "");
    return Promise.all(requests.map(async (r) => {
      const rank = r.rank === undefined || r.rank === null ? "" : `&rank=${r.rank}`;
      const d = await api(`${runPath(r.run)}/series?name=${enc(r.metric)}&x=${xAxis}${extra}${rank}`);
      return { label: r.label, color: r.color, dash: r.dash, x: d.x, y: d.y, total: d.total, inRange: d.in_range, downsampled: d.downsampled };
    }));
  }

  function describe(sources) {
    const sum = (key) => sources.reduce((a, s) => a + s[key], 0);
    const total = sum("total"), inRange = sum("inRange"), shown = sources.reduce((a, s) => a + s.x.length, 0);
    if (sources.some((s) => s.downsampled)) note.textContent = `${shown} of ${inRange} points shown (min/max per bucket; drag to zoom for detail)`;
    else if (zoomed) note.textContent = `${inRange} of ${total} points in view (double-click to zoom out)`;
    else if (inRange < total) note.textContent = `${inRange} of ${total} points in the x range`;
    else note.textContent = `${total} point(s)`;
  }

  async function load() {
    const sources = await fetchAll(null);
    describe(sources);
    if (chart) { chart.setData(chartData(sources, { time: xAxis === "time" })); return; }
    chart = drawChart(body, sources, {
      time: xAxis === "time", xLabel: xAxis, points: sources.every((s) => s.x.length < 60),
      hooks: {
        setSelect: [async (u) => {
          if (u.select.width < 2) return;
          const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
          zoomed = true;
          const detail = await fetchAll([lo, hi]);
          describe(detail);
          u.setData(chartData(detail, { time: xAxis === "time" }), false);
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
        const k = yCols.indexOf(c);  // several runs: the run's colour, a dash per column; one run: a colour per column
        const style = runs.length > 1 ? { color: t.color, dash: DASHES[k % DASHES.length] } : { color: PALETTE[k % PALETTE.length] };
        sources.push({ label, ...style, x: order.map((i) => xs[i]), y: order.map((i) => (typeof t.data[c][i] === "number" ? t.data[c][i] : null)) });
      }
    }
    if (!sources.length) { body.append(el("p", { class: "muted" }, `Column ${xCol} has no numbers to put on the x axis.`)); return; }
    // uPlot.join needs distinct x values per source; duplicate x (e.g. ROC steps) are nudged apart.
    sources.forEach((s) => { for (let i = 1; i < s.x.length; i++) if (s.x[i] <= s.x[i - 1]) s.x[i] = s.x[i - 1] + Math.abs(s.x[i - 1] || 1) * 1e-12 + 1e-15; });
    chart = drawChart(body, sources, { xLabel: xCol, noSmoothing: true, points: sources.every((s) => s.x.length < 60) });
  }

  async function load() {
    tables = await Promise.all(runs.map(async (r) => ({ label: r.label, color: r.color, ...(await api(`${runPath(r.run)}/table?name=${enc(name)}`)) })));
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

/* Metrics that hold one value in every run (a hyper-parameter logged with run.log, a final score): shown as
   values, not as one-dot charts (several ranks: one value per rank). A live run's metrics stay charts (their next
   value makes a series). */
function singleValueNames(names, details) {
  if (details.some((d) => d.live)) return new Set();
  const single = (m) => m.count <= Math.max(1, (m.ranks || []).length);  // each rank that logged it: one value
  return new Set(names.filter((n) => details.every((d) => single(d.metrics_list.find((m) => m.name === n) || { count: 0 }))));
}

function valuesCard(names, runs, details, ranks) {
  const value = (d, n) => { const m = d.metrics_list.find((x) => x.name === n); return m ? fmt(m.last) : ""; };
  if (ranks) return rankValuesCard(names, runs[0].run, details[0], ranks);
  return el("div", { class: "card values", id: "values" }, el("h3", {}, "Values"),
    el("div", { class: "table-wrap" }, el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, el("th", {}, "metric"), runs.map((r) => el("th", { class: "num" }, runs.length > 1 ? el("span", { style: `color:${r.color}` }, "■ ") : null, r.label)))),
      el("tbody", {}, names.map((n) => el("tr", { "data-metric": n }, el("td", {}, n), details.map((d) => el("td", { class: "num", "data-run": d.id }, value(d, n)))))))));
}

/* The single values of a multi-rank run: a column per rank (each rank's own value, from its series), so two
   ranks' final scores are told apart; a rank that did not log a metric has an empty cell. */
function rankValuesCard(names, run, detail, ranks) {
  const cell = (n, rank) => {
    const td = el("td", { class: "num", "data-rank": String(rank) });
    const logged = (detail.metrics_list.find((m) => m.name === n) || { ranks: [] }).ranks || [];
    if (logged.includes(rank)) {
      api(`${runPath(run)}/series?name=${enc(n)}&x=step&rank=${rank}`)
        .then((d) => { td.textContent = d.y.length ? fmt(d.y[d.y.length - 1]) : ""; })
        .catch((err) => { td.textContent = "?"; td.title = String(err.message); });
    }
    return td;
  };
  return el("div", { class: "card values", id: "values" }, el("h3", {}, "Values"),
    el("div", { class: "table-wrap" }, el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, el("th", {}, "metric"), ranks.ranks.map((r) => el("th", { class: "num" }, el("span", { style: `color:${ranks.colour(r)}` }, "■ "), `rank ${r}`)))),
      el("tbody", {}, names.map((n) => el("tr", { "data-metric": n }, el("td", {}, n), ranks.ranks.map((r) => cell(n, r))))))));
}

/* The charts' settings bar: smoothing, log scales, outliers, a y range (every chart of the view; in the URL). */
function chartSettings(onChange) {
  const o = ChartOpts;
  const changed = () => { chartOptsToHash(); onChange(); };
  const smoothValue = el("span", { class: "muted small", id: "smoothing-value" }, o.smooth ? String(o.smooth) : "off");
  let sliding = null;
  const slider = el("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: String(o.smooth), title: "exponential moving average, as TensorBoard",
    oninput: (e) => { o.smooth = Number(e.target.value); smoothValue.textContent = o.smooth ? String(o.smooth) : "off"; clearTimeout(sliding); sliding = setTimeout(changed, 150); } });
  const box = (id, label, get, set) => el("label", {}, el("input", { type: "checkbox", id, checked: get(), onchange: (e) => { set(e.target.checked); changed(); } }), label);
  const bound = (id, key, ph) => el("input", { type: "number", id, class: "range-input", placeholder: ph, step: "any", value: o[key] === null ? "" : String(o[key]),
    onchange: (e) => { o[key] = e.target.value === "" || !Number.isFinite(Number(e.target.value)) ? null : Number(e.target.value); changed(); } });
  return el("div", { class: "toolbar chart-settings", id: "chart-settings" },
    el("label", {}, "smoothing", slider, smoothValue),
    box("log-x", "log x", () => o.logx, (v) => { o.logx = v; }), box("log-y", "log y", () => o.logy, (v) => { o.logy = v; }),
    box("hide-outliers", "hide outliers", () => o.hideOutliers, (v) => { o.hideOutliers = v; }),
    el("label", {}, "x from", bound("x-min", "xmin", "auto"), "to", bound("x-max", "xmax", "auto")),
    el("label", {}, "y from", bound("y-min", "ymin", "auto"), "to", bound("y-max", "ymax", "auto")));
}

/* The ranks of a run whose metrics several processes logged (a `submit --nproc N` or torchrun job), else [] . */
function runRanks(detail) {
  return [...new Set(detail.metrics_list.flatMap((m) => m.ranks || []))].sort((a, b) => a - b);
}

/* The rank switch of a multi-rank run's charts (`rank=N` or `rank=all` in the address; left out: the lowest rank).
   Returns null for a single-process run (no switch) or several runs (each run's lowest rank, as today). */
function rankSwitch(runs, details, onChange) {
  const ranks = runs.length === 1 ? runRanks(details[0]) : [];
  if (ranks.length < 2) return null;
  const wanted = parseHash().params.get("rank");
  const choice = wanted === "all" ? "all" : ranks.includes(Number(wanted)) && wanted !== "" ? Number(wanted) : ranks[0];
  const sw = { ranks, choice, colour: (rank) => PALETTE[Math.max(0, ranks.indexOf(rank)) % PALETTE.length] };
  sw.select = el("select", { id: "rank", title: "the rank (process) whose values are drawn",
    onchange: () => {
      sw.choice = sw.select.value === "all" ? "all" : Number(sw.select.value);
      setHashParams({ rank: sw.choice === ranks[0] ? "" : String(sw.choice) });
      onChange();
    } },
  ranks.map((r) => el("option", { value: String(r), selected: r === choice }, `rank ${r}`)),
  el("option", { value: "all", selected: choice === "all" }, "all ranks"));
  /* The requests of one metric under the switch: the chosen rank's series (a metric it did not log: the lowest
     rank that did, said in the label), or one series per rank in the rank's colour. */
  sw.requests = (base, ranksOfMetric, metric, k, several) => {
    if (!ranksOfMetric.length) return [base];  // logged by a process with no rank (the job's supervisor)
    if (sw.choice === "all") {
      return ranksOfMetric.map((rank) => ({ ...base, rank, color: sw.colour(rank), dash: DASHES[k % DASHES.length],
        label: several ? `${metric} · rank ${rank}` : `rank ${rank}` }));
    }
    const shown = ranksOfMetric.includes(sw.choice) ? sw.choice : ranksOfMetric[0];
    return [{ ...base, rank: shown, label: shown === sw.choice ? base.label : `${base.label} (rank ${shown})` }];
  };
  return sw;
}

/* The charts of one or several runs: one card per metric, a custom card for several metrics together.
   `runs`: [{run, label, color}] (the compare page's run key colours). */
function chartsView(runs, details) {
  chartOptsFromHash();
  runs = runs.map((r, i) => ({ ...r, color: r.color || runColor(r.run, i) }));
  const xWanted = parseHash().params.get("x");
  const xSelect = el("select", { id: "x-axis" }, el("option", { value: "step" }, "step"),
    el("option", { value: "relative", selected: xWanted === "relative" }, "relative time (s)"), el("option", { value: "time", selected: xWanted === "time" }, "wall time"));
  const chartable = [...new Set(details.flatMap((d) => d.metrics_list.filter((m) => m.kind === "s" || m.kind === "l").filter((m) => m.min !== null && m.min !== undefined).map((m) => m.name)))].sort();
  const userNames = chartable.filter((n) => !isSystem(n));
  const single = singleValueNames(userNames, details);
  const scalarNames = userNames.filter((n) => !single.has(n));
  const systemNames = chartable.filter(isSystem).sort(bySystemOrder);
  const systemCards = el("div", { class: "cards", id: "system-charts" });
  const system = el("div", { class: "system-section", id: "system", hidden: !systemNames.length },
    el("h3", {}, "System"), el("p", { class: "muted small" }, "Sampled while the run ran (docs/system-metrics.md); x axis: wall time."), systemCards);
  const tableNames = [...new Set(details.flatMap((d) => d.metrics_list.filter((m) => m.kind === "table").map((m) => m.name)))].sort();
  const combineBoxes = scalarNames.map((n) => el("label", {}, el("input", { type: "checkbox", class: "combine-metric", value: n }), n));
  const custom = el("div", { class: "cards custom" });
  const cards = el("div", { class: "cards", id: "charts" });
  const byRun = new Map(details.map((d) => [d.id, new Map(d.metrics_list.map((m) => [m.name, m.ranks || []]))]));
  const hasMetric = (run, m) => byRun.get(run)?.has(m);
  const ranks = rankSwitch(runs, details, () => build());
  // Colours follow the run key (one run: a colour per metric); a run's second metric on one chart is dashed.
  const request = (r, m, k, several) => ({ run: r.run, metric: m, label: several && runs.length > 1 ? `${r.label}: ${m}` : runs.length > 1 ? r.label : m,
    color: runs.length > 1 ? r.color : PALETTE[k % PALETTE.length], dash: runs.length > 1 ? DASHES[k % DASHES.length] : [] });
  // A multi-rank run: each request becomes the chosen rank's (or one per rank, "all ranks").
  const requests = (r, m, k, several) => (ranks ? ranks.requests(request(r, m, k, several), byRun.get(r.run).get(m), m, k, several) : [request(r, m, k, several)]);
  const card = (m, xAxis, heading) => {
    const reqs = runs.filter((r) => hasMetric(r.run, m)).flatMap((r) => requests(r, m, 0, false));
    const c = seriesCard(m, reqs, xAxis, heading);
    if (ranks) c.dataset.rank = String(ranks.choice);
    return c;
  };
  let combined = [];
  const combine = el("button", { class: "secondary", id: "combine", onclick: () => {
    const chosen = combineBoxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!chosen.length) return;
    combined.push(chosen);
    custom.prepend(combinedCard(chosen));
  } }, "Chart together");
  const combinedCard = (chosen) => seriesCard(chosen.join(" + "), runs.flatMap((r) => chosen.flatMap((m, k) => (hasMetric(r.run, m) ? requests(r, m, k, true) : []))), xSelect.value);

  function build() {
    App.charts.forEach((c) => c.destroy());
    App.charts = [];
    custom.replaceChildren(...combined.map(combinedCard).reverse());
    cards.replaceChildren(
      ...scalarNames.map((m) => card(m, xSelect.value)),
      ...tableNames.map((m) => tableCard(m, runs.filter((r) => hasMetric(r.run, m)))));
    if (!scalarNames.length && !tableNames.length) cards.append(el("p", { class: "muted" }, single.size ? "Every metric holds a single value (above)." : "No chartable metrics yet."));
    systemCards.replaceChildren(...systemNames.map((m) => card(m, "time", m.slice(SYSTEM_PREFIX.length))));
  }
  xSelect.addEventListener("change", () => { setHashParams({ x: xSelect.value === "step" ? "" : xSelect.value }); build(); });
  build();
  const view = el("div", {},
    el("div", { class: "toolbar" }, el("label", {}, "x axis:", xSelect), ranks ? el("label", {}, "rank:", ranks.select) : null,
      scalarNames.length > 1 ? el("span", { class: "combine" }, el("span", { class: "muted" }, "several metrics on one chart:"), combineBoxes, combine) : null),
    chartSettings(build),
    single.size ? valuesCard([...single], runs, details, ranks) : null,
    custom, cards, system);
  view.refresh = () => [...cards.children, ...custom.children, ...systemCards.children].forEach((c) => c.refresh && c.refresh().catch(() => {}));
  return view;
}
