/* runlog viewer: a small single-page app over the JSON API (docs/viewer.md).
 *
 * Safety rule: every string that comes from a run (names, tags, log lines, file
 * names, values) reaches the page through textContent or an attribute set with
 * setAttribute; this file never assigns innerHTML.
 */
"use strict";

const App = { timers: [], charts: [], runsCache: null };
const PALETTE = ["#2f6fde", "#e4572e", "#17a398", "#f3a712", "#7d4fd0", "#29335c", "#d33f49", "#4f9d2d", "#a05a2c", "#00a8e8"];
const TERMINAL = new Set(["Completed", "Failed", "Canceled"]);
const MAX_LOG_LINES = 20000;  // the log view renders at most this many lines (docs/viewer.md)
// A followed log keeps at most this many lines in memory (whole chunks are let go, oldest first;
// "Show earlier lines" fetches them again). window.RUNLOG_KEEP_LINES overrides it (tests).
const MAX_KEPT_LINES = Number(window.RUNLOG_KEEP_LINES) || 200000;
// System metrics (docs/system-metrics.md): their own section, charted against wall time.
const SYSTEM_PREFIX = "system/";
const isSystem = (name) => name.startsWith(SYSTEM_PREFIX);
const SYSTEM_ORDER = ["cpu_", "process_cpu", "system_memory", "process_memory", "process_count", "gpu_", "disk_", "network_"];
function systemRank(name) {
  const short = name.slice(SYSTEM_PREFIX.length);
  const i = SYSTEM_ORDER.findIndex((p) => short.startsWith(p));
  return [i < 0 ? SYSTEM_ORDER.length : i, short];
}
function bySystemOrder(a, b) {
  const [x, y] = [systemRank(a), systemRank(b)];
  return x[0] - y[0] || x[1].localeCompare(y[1]);
}

// -- helpers -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const resp = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!resp.ok) {
    let message = resp.status + " " + resp.statusText;
    try { message = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return resp.json();
}

const enc = encodeURIComponent;
const runPath = (id) => "/api/runs/" + enc(id);
const filePath = (id, name) => runPath(id) + "/files/" + name.split("/").map(enc).join("/");

function fmt(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const a = Math.abs(value);
    return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? value.toExponential(4) : String(+value.toPrecision(6));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function fmtTime(ts) {
  if (ts === null || ts === undefined) return "";
  const d = new Date(ts * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h ${m}m ${sec}s` : m ? `${m}m ${sec}s` : `${sec}s`;
}

function statusBadge(status) { return el("span", { class: "status " + status, "data-status": status }, status); }

function clearTimers() {
  App.timers.forEach((t) => clearInterval(t));
  App.timers = [];
  App.charts.forEach((c) => c.destroy());
  App.charts = [];
}

function every(ms, fn) { App.timers.push(setInterval(fn, ms)); }

function mount(...nodes) {
  const root = document.getElementById("app");
  root.replaceChildren(...nodes.flat(Infinity));
}

function showError(err) { mount(el("p", { class: "error" }, String(err.message || err))); }

// -- routing -------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

/* Change some parameters of the current address without a new history entry or a re-render. */
function setHashParams(updates) {
  const { parts, params } = parseHash();
  for (const [k, v] of Object.entries(updates)) { if (v) params.set(k, v); else params.delete(k); }
  const q = params.toString();
  history.replaceState(null, "", "#/" + parts.map(enc).join("/") + (q ? "?" + q : ""));
}

async function route() {
  App.routeSeq = (App.routeSeq || 0) + 1;  // a page still loading for an older address must not mount
  clearTimers();
  const { parts, params } = parseHash();
  try {
    if (parts[0] === "run" && parts[1]) await runPage(parts[1], params.get("tab") || "overview");
    else if (parts[0] === "compare") await comparePage((params.get("runs") || "").split(",").filter(Boolean));
    else await runsPage(params);
  } catch (err) {
    showError(err);
  }
}

window.addEventListener("hashchange", route);
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => App.charts.forEach((c) => c.setSize({ width: chartWidth(c.root.parentNode), height: c.height })), 150);
});
window.addEventListener("DOMContentLoaded", route);

// -- runs table ------------------------------------------------------------------------------

const RunsState = { sort: "created", desc: true, agg: "last", selected: new Set(), filters: { experiment: "", status: "", tag: "", filter: "" } };

/* The runs page's state in the address (#/?filter=...&status=...): a reload or a shared link shows the same table. */
function runsStateToHash() {
  if (parseHash().parts.length) return;  // the user has gone to another page meanwhile
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(RunsState.filters)) if (v) p.set(k, v);
  if (RunsState.sort !== "created" || !RunsState.desc) p.set("sort", (RunsState.desc ? "-" : "") + RunsState.sort);
  if (RunsState.agg !== "last") p.set("agg", RunsState.agg);
  if (RunsState.selected.size) p.set("selected", [...RunsState.selected].join(","));
  const hash = "#/" + (p.toString() ? "?" + p.toString() : "");
  if (location.hash !== hash && !(hash === "#/" && !location.hash)) history.replaceState(null, "", hash);
}

function runsStateFromHash(params) {
  const f = RunsState.filters;
  for (const k of Object.keys(f)) f[k] = params.get(k) || "";
  if (!f.filter && params.get("q")) f.filter = params.get("q");
  const sort = params.get("sort") || "-created";
  RunsState.desc = sort.startsWith("-");
  RunsState.sort = sort.replace(/^-/, "");
  const agg = params.get("agg");
  RunsState.agg = ["last", "min", "max"].includes(agg) ? agg : "last";
  RunsState.selected = new Set((params.get("selected") || "").split(",").filter(Boolean));
}

async function runsPage(params) {
  const seq = App.routeSeq;
  runsStateFromHash(params || new URLSearchParams());
  document.title = "Runs · runlog";
  const experiments = (await api("/api/experiments")).experiments;
  if (seq !== App.routeSeq) return;
  const f = RunsState.filters;
  const expSelect = el("select", { id: "filter-experiment", onchange: (e) => { f.experiment = e.target.value; load(); } },
    el("option", { value: "" }, "all experiments"),
    experiments.map((x) => el("option", { value: x.name, selected: x.name === f.experiment }, `${x.name} (${x.runs})`)));
  const statuses = ["", "Running", "Completed", "Failed", "Canceled", "NotStarted", "Queued", "Preparing", "Starting", "Finalizing", "CancelRequested"];
  const statusSelect = el("select", { id: "filter-status", onchange: (e) => { f.status = e.target.value; load(); } },
    statuses.map((s) => el("option", { value: s, selected: s === f.status }, s || "any status")));
  const tagInput = el("input", { type: "text", id: "filter-tag", placeholder: "tag or tag=value", value: f.tag, onchange: (e) => { f.tag = e.target.value.trim(); load(); } });
  let typing = null;
  const search = el("input", { type: "search", id: "filter-q", class: "filter-box", value: f.filter, spellcheck: "false",
    placeholder: "name or id, or metrics.acc > 0.9 and params.lr = '0.01'",
    title: "Plain words search run names, ids and experiments. MLflow's search syntax filters: metrics.x > 0.9, params.lr = '0.01', tags.k = 'v', attributes.status = 'Failed', attributes.run_name LIKE '%sgd%', joined by and.",
    oninput: (e) => { f.filter = e.target.value; clearTimeout(typing); typing = setTimeout(() => load().catch(showError), 250); } });
  const filterError = el("div", { class: "error small", id: "filter-error", role: "alert" });
  const agg = el("span", { class: "seg", id: "agg" }, ["last", "min", "max"].map((a) =>
    el("label", {}, el("input", { type: "radio", name: "agg", value: a, checked: a === RunsState.agg, onchange: () => { RunsState.agg = a; runsStateToHash(); render(); } }), a)));
  const compare = el("button", { id: "compare", onclick: () => { location.hash = "#/compare?runs=" + [...RunsState.selected].map(enc).join(","); } }, "Compare");
  const count = el("span", { class: "muted", id: "run-count" });
  const wrap = el("div", { class: "table-wrap" });
  mount(el("div", { class: "toolbar" }, expSelect, statusSelect, tagInput, search, el("span", { class: "muted" }, "metric value:"), agg, compare, count), filterError, wrap);

  let data = { runs: [], metric_names: [] };
  async function load() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
    runsStateToHash();
    const resp = await fetch("/api/runs?" + p.toString(), { credentials: "same-origin", cache: "no-store" });
    if (resp.status === 400 && f.filter) {  // a filter that does not parse: say why under the box, keep the table
      let message = "this filter does not parse";
      try { message = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
      filterError.textContent = message;
      search.classList.add("invalid");
      return;
    }
    if (!resp.ok) throw new Error((await resp.json().catch(() => null))?.error?.message || resp.status + " " + resp.statusText);
    filterError.textContent = "";
    search.classList.remove("invalid");
    data = await resp.json();
    render();
  }

  function sortValue(run, key) {
    if (key.startsWith("m:")) {
      const m = run.metrics[key.slice(2)];
      return m ? m[RunsState.agg] : null;
    }
    if (key === "tags") return Object.entries(run.tags).map(([k, v]) => k + "=" + v).join(",");
    return run[key];
  }

  function render() {
    const key = RunsState.sort;
    const rows = data.runs.slice().sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return RunsState.desc ? -c : c;
    });
    const head = (label, k, cls) => el("th", { "data-sort": k, class: cls, onclick: () => {
      RunsState.desc = RunsState.sort === k ? !RunsState.desc : false; RunsState.sort = k; runsStateToHash(); render(); } },
      label, RunsState.sort === k ? (RunsState.desc ? " ▼" : " ▲") : "");
    const allBox = el("input", { type: "checkbox", title: "select all", onchange: (e) => {
      rows.forEach((r) => e.target.checked ? RunsState.selected.add(r.id) : RunsState.selected.delete(r.id)); render(); } });
    const thead = el("thead", {}, el("tr", {}, el("th", {}, allBox), head("Run", "display_name"), head("Experiment", "experiment"),
      head("Status", "status"), head("Started", "start_time"), head("Duration", "duration"), head("Tags", "tags"),
      data.metric_names.map((m) => head(m, "m:" + m, "num"))));
    const tbody = el("tbody", {}, rows.map((run) => el("tr", { "data-run": run.id },
      el("td", {}, el("input", { type: "checkbox", class: "select-run", "data-run": run.id, checked: RunsState.selected.has(run.id),
        onchange: (e) => { e.target.checked ? RunsState.selected.add(run.id) : RunsState.selected.delete(run.id); updateCompare(); } })),
      el("td", {}, el("a", { href: "#/run/" + enc(run.id), class: "run-link" }, run.display_name),
        run.display_name !== run.id ? el("div", { class: "muted small" }, run.id) : null,
        run.parent_id ? el("div", { class: "muted small" }, "child of " + run.parent_id) : null),
      el("td", {}, run.experiment),
      el("td", {}, statusBadge(run.status)),
      el("td", {}, fmtTime(run.start_time)),
      el("td", { class: "num" }, fmtDuration(run.duration)),
      el("td", {}, Object.entries(run.tags).map(([k, v]) => el("span", { class: "tag" }, v ? k + "=" + v : k))),
      data.metric_names.map((m) => {
        const s = run.metrics[m];
        return el("td", { class: "num metric", "data-metric": m }, s ? fmt(s[RunsState.agg]) : "");
      }))));
    wrap.replaceChildren(el("table", { class: "grid", id: "runs-table" }, thead, tbody));
    count.textContent = `${rows.length} run(s)`;
    updateCompare();
  }

  function updateCompare() {
    runsStateToHash();
    const n = RunsState.selected.size;
    compare.disabled = n === 0;
    compare.textContent = n ? `Compare ${n} run(s)` : "Select runs to compare";
  }

  await load();
  if (seq !== App.routeSeq) return;
  every(5000, () => { if (data.runs.some((r) => !TERMINAL.has(r.status))) load().catch(() => {}); });
}

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

async function comparePage(ids) {
  if (!ids.length) { location.hash = "#/"; return; }
  const seq = App.routeSeq;
  const details = await Promise.all(ids.map((id) => api(runPath(id))));
  if (seq !== App.routeSeq) return;
  document.title = `Compare ${details.map((d) => d.display_name).join(", ")} · runlog`;
  const runs = details.map((d) => ({ run: d.id, label: d.display_name }));
  const view = chartsView(runs, details);
  mount(el("div", { class: "run-head" }, el("h2", {}, `Comparing ${ids.length} run(s)`),
    details.map((d, i) => el("span", {}, el("span", { style: `color:${PALETTE[i % PALETTE.length]}` }, "■ "), el("a", { href: "#/run/" + enc(d.id) }, d.display_name)))),
    view);
  every(3000, async () => {
    const live = await Promise.all(ids.map((id) => api(runPath(id)))).catch(() => []);
    if (live.some((d) => d.live)) view.refresh();
  });
}

// -- run page ------------------------------------------------------------------------------------

async function runPage(id, tab) {
  const seq = App.routeSeq;
  let detail = await api(runPath(id));
  if (seq !== App.routeSeq) return;
  const tabs = ["overview", "charts", "images", "files", "logs"];
  document.title = `${detail.display_name} · ${tab} · runlog`;
  const status = el("span", {}, statusBadge(detail.status));
  const liveDot = el("span", { class: "muted small" });
  const setLive = () => { liveDot.replaceChildren(...(detail.live ? [el("span", { class: "live-dot" }), "live"] : [])); };
  setLive();
  const head = el("div", { class: "run-head" },
    el("h2", { id: "run-title" }, detail.display_name), status, liveDot,
    el("span", { class: "muted" }, detail.experiment + " · " + detail.id),
    el("a", { class: "button", id: "download-all", href: runPath(id) + "/download", download: id + ".zip" }, "Download all"));
  const nav = el("div", { class: "tabs" }, tabs.map((t) => el("a", { href: `#/run/${enc(id)}?tab=${t}`, class: t === tab ? "active" : "", "data-tab": t }, t[0].toUpperCase() + t.slice(1))));
  const body = el("div", { id: "tab-body" });
  mount(head, nav, body);

  let refresh = null;
  const names = (d) => d.metrics_list.map((m) => m.name + ":" + m.kind).join("\n");
  if (tab === "charts") {
    let view = chartsView([{ run: id, label: detail.display_name }], [detail]);
    let known = names(detail);
    body.append(view);
    refresh = (d) => {
      if (names(d) === known) { view.refresh(); return; }
      known = names(d);  // a metric appeared: lay the charts out again
      App.charts.forEach((c) => c.destroy());
      App.charts = [];
      view = chartsView([{ run: id, label: d.display_name }], [d]);
      body.replaceChildren(view);
    };
  } else if (tab === "images") {
    body.append(imagesView(detail));
    let count = detail.images.length;
    refresh = (d) => { if (d.images.length !== count) { count = d.images.length; body.replaceChildren(imagesView(d)); } };
  } else if (tab === "files") {
    body.append(filesView(detail));
    let known = detail.files.map((f) => f.name).join("\n");
    refresh = (d) => {
      const now = d.files.map((f) => f.name).join("\n");
      if (now !== known && !document.querySelector("#file-text, #file-table")) { known = now; body.replaceChildren(filesView(d)); }
    };
  } else if (tab === "logs") refresh = logsView(detail, body);
  else body.append(overview(detail));

  every(2000, async () => {
    if (!detail.live) return;
    try { detail = await api(runPath(id)); } catch (e) { return; }
    status.replaceChildren(statusBadge(detail.status));
    setLive();
    if (tab === "overview") body.replaceChildren(overview(detail));
    if (refresh) refresh(detail);
  });
}

function kvList(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return el("p", { class: "muted" }, "none");
  return el("dl", { class: "kv" }, entries.map(([k, v]) => [el("dt", {}, k), el("dd", {}, fmt(v))]));
}

function overview(d) {
  const rec = d.record || {};
  const info = {
    status: d.status, experiment: d.experiment, "run id": d.id, "display name": d.display_name,
    type: d.run_type, started: fmtTime(d.start_time), ended: fmtTime(d.end_time),
    duration: fmtDuration(d.duration), user: rec.user, host: rec.host, python: rec.python,
    command: Array.isArray(rec.argv) ? rec.argv.join(" ") : "",
  };
  const userMetrics = d.metrics_list.filter((m) => !isSystem(m.name));
  const systemMetrics = d.metrics_list.filter((m) => isSystem(m.name) && m.min !== null && m.min !== undefined).sort((a, b) => bySystemOrder(a.name, b.name));
  const metrics = userMetrics.length ? el("table", { class: "grid", id: "metrics-list" },
    el("thead", {}, el("tr", {}, ["metric", "kind", "last", "min", "max", "count", "description"].map((h) => el("th", {}, h)))),
    el("tbody", {}, userMetrics.map((m) => el("tr", { "data-metric": m.name },
      el("td", {}, m.name), el("td", {}, { s: "scalar", l: "list", table: "table", image: "image" }[m.kind] || m.kind),
      el("td", { class: "num" }, m.kind === "table" ? (m.columns || []).join(", ") : fmt(m.last)),
      el("td", { class: "num" }, fmt(m.min)), el("td", { class: "num" }, fmt(m.max)),
      el("td", { class: "num" }, fmt(m.count)), el("td", {}, m.description || "")))))
    : el("p", { class: "muted" }, "No metrics yet.");
  const related = el("dl", { class: "kv" },
    d.parent_id ? [el("dt", {}, "parent run"), el("dd", {}, el("a", { href: "#/run/" + enc(d.parent_id) }, d.parent_id))] : null,
    d.children.length ? [el("dt", {}, "child runs"), el("dd", { id: "children" }, d.children.map((c) =>
      el("div", {}, el("a", { href: "#/run/" + enc(c.id) }, c.display_name), " ", statusBadge(c.status))))] : null);
  return el("div", { class: "cards" },
    el("div", { class: "card" }, el("h3", {}, "Details"), kvList(info), related, d.description ? el("p", {}, d.description) : null,
      d.error ? el("pre", { class: "error" }, d.error.message || JSON.stringify(d.error, null, 2)) : null),
    el("div", { class: "card" }, el("h3", {}, "Tags"), kvList(d.tags), el("h3", {}, "Properties"), kvList(d.properties)),
    el("div", { class: "card", style: "grid-column: 1 / -1" }, el("h3", {}, "Metrics"), el("div", { class: "table-wrap" }, metrics)),
    systemMetrics.length ? el("div", { class: "card", id: "system-summary", style: "grid-column: 1 / -1" }, el("h3", {}, "System"),
      el("div", { class: "table-wrap" }, el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ["system metric", "last", "min", "max", "samples"].map((h) => el("th", {}, h)))),
        el("tbody", {}, systemMetrics.map((m) => el("tr", { "data-metric": m.name },
          el("td", {}, m.name.slice(SYSTEM_PREFIX.length)), el("td", { class: "num" }, fmt(m.last)),
          el("td", { class: "num" }, fmt(m.min)), el("td", { class: "num" }, fmt(m.max)), el("td", { class: "num" }, fmt(m.count)))))))) : null);
}

function imagesView(d) {
  if (!d.images.length) return el("p", { class: "muted" }, "No images (run.log_image) yet.");
  return el("div", { class: "gallery", id: "gallery" }, d.images.map((img) => el("figure", {},
    el("a", { href: filePath(d.id, img.file), target: "_blank", rel: "noopener" }, el("img", { src: filePath(d.id, img.file), alt: img.name, loading: "lazy" })),
    el("figcaption", {}, `${img.name} · ${fmtTime(img.time)}`))));
}

function humanSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = bytes, i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/* RFC 4180 rows of a CSV/TSV text (quoted fields, doubled quotes, newlines inside quotes). */
function parseDelimited(text, sep) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') { if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false; }
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === sep) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

const MAX_PREVIEW_ROWS = 2000;
const MAX_NUMBERED_LINES = 50000;

/* A preview of a text file: CSV/TSV as a table, JSON pretty-printed, anything else with line numbers. */
function textPreview(name, text) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".csv") || lower.endsWith(".tsv")) {
    const rows = parseDelimited(text, lower.endsWith(".tsv") ? "\t" : ",");
    if (rows.length) {
      const [head, ...body] = rows;
      const shown = body.slice(0, MAX_PREVIEW_ROWS);
      return el("div", { class: "file-preview" },
        el("p", { class: "muted small" }, `${body.length} row(s) × ${head.length} column(s)` + (body.length > shown.length ? `; the first ${shown.length} shown` : "")),
        el("div", { class: "table-wrap" }, el("table", { class: "grid csv", id: "file-table" },
          el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
          el("tbody", {}, shown.map((r) => el("tr", {}, r.map((v) => el("td", { class: /^-?[\d.]+(e[-+]?\d+)?$/i.test(v) ? "num" : "" }, v))))))));
    }
  }
  if (lower.endsWith(".json")) {
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not valid JSON: shown as it is */ }
  }
  const lines = text.replace(/\n$/, "").split("\n");
  if (lines.length > MAX_NUMBERED_LINES) return el("pre", { class: "file", id: "file-text" }, text);
  return el("pre", { class: "file numbered", id: "file-text" }, lines.map((l) => el("span", { class: "ln" }, l + "\n")));
}

function filesView(d) {
  const viewer = el("div", { id: "file-viewer" }, el("p", { class: "muted" }, "Choose a file."));
  const root = {};
  const link = (name) => `#/run/${enc(d.id)}?tab=files&file=${enc(name)}`;
  for (const f of d.files) {
    let node = root;
    const parts = f.name.split("/");
    parts.slice(0, -1).forEach((p) => { node = node[p + "/"] = node[p + "/"] || {}; });
    node[parts[parts.length - 1]] = f;
  }
  async function open(f) {
    const url = filePath(d.id, f.name);
    setHashParams({ file: f.name });
    document.querySelectorAll("#file-tree li.file.open").forEach((n) => n.classList.remove("open"));
    document.querySelector(`#file-tree li.file[data-file="${CSS.escape(f.name)}"]`)?.classList.add("open");
    const actions = el("div", { class: "toolbar" }, el("strong", {}, f.name), el("span", { class: "muted", title: `${f.size} bytes` }, humanSize(f.size)),
      el("a", { class: "button secondary", href: url + "?download=1", download: f.name.split("/").pop() }, "Download"),
      el("a", { class: "small", id: "file-link", href: link(f.name) }, "link to this file"));
    if (f.image) { viewer.replaceChildren(actions, el("img", { src: url, alt: f.name, style: "max-width:100%" })); return; }
    if (f.size > 2 * 1024 * 1024) { viewer.replaceChildren(actions, el("p", { class: "muted" }, "Too large to show here: download it.")); return; }
    const resp = await fetch(url, { credentials: "same-origin" });
    const buf = new Uint8Array(await resp.arrayBuffer());
    const binary = buf.subarray(0, 4096).some((b) => b === 0);
    viewer.replaceChildren(actions, binary ? el("p", { class: "muted" }, "Binary file: download it.") : textPreview(f.name, new TextDecoder().decode(buf)));
  }
  function list(node) {
    return el("ul", {}, Object.keys(node).sort().map((key) => {
      const v = node[key];
      if (key.endsWith("/")) return el("li", {}, el("details", { open: true }, el("summary", {}, key), list(v)));
      return el("li", { class: "file", "data-file": v.name },
        el("a", { class: "name", href: link(v.name), onclick: (e) => { e.preventDefault(); open(v).catch(showError); } }, key),
        el("span", { class: "muted small", title: `${v.size} bytes` }, humanSize(v.size)),
        el("a", { class: "small", href: filePath(d.id, v.name) + "?download=1", download: key }, "download"));
    }));
  }
  const view = el("div", { class: "files" },
    el("div", { class: "card tree", id: "file-tree" }, el("div", { class: "toolbar" }, el("a", { class: "button", href: runPath(d.id) + "/download", download: d.id + ".zip" }, "Download all")),
      d.files.length ? list(root) : el("p", { class: "muted" }, "No files.")),
    el("div", {}, viewer));
  const wanted = parseHash().params.get("file");
  const chosen = d.files.find((f) => f.name === wanted);
  if (chosen) setTimeout(() => open(chosen).catch(showError), 0);
  return view;
}

// -- log lines: ANSI colours as styled spans (built with DOM calls, never HTML), progress bars in place --

// CSI (colours, cursor moves), OSC (titles, links) and two-character escapes; only SGR ("m") styles text.
const ESCAPES = /\x1b\[([0-?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
const LOG_PREFIX = /^(\d{4}-\d\d-\d\dT[\d:.]+Z )?(\[stderr\] )?/;

/* What a terminal would show of a line redrawn with \r: its last state. */
function lastState(line) {
  const trimmed = line.replace(/\r+$/, "");
  const at = trimmed.lastIndexOf("\r");
  return at < 0 ? trimmed : trimmed.slice(at + 1);
}

function stripAnsi(line) { return line.replace(ESCAPES, ""); }

/* A progress bar's identity (tqdm "desc: 45%|", keras "45/100 [==>"), else null: consecutive lines with the
   same key are states of one bar (the driver log keeps a redrawn bar's state every few seconds). */
function progressKey(line) {
  const text = stripAnsi(lastState(line));
  const prefix = LOG_PREFIX.exec(text);
  const stream = prefix[2] || "", body = text.slice(prefix[0].length);
  let m = /^(.*?)\s*\d{1,3}%\|/.exec(body);
  if (m) return stream + "tqdm:" + m[1];
  m = /^\s*\d+\/(\d+) \[[=>.]*\]/.exec(body);
  return m ? stream + "keras:" + m[1] : null;
}

const ANSI_RGB = (n) => {  // xterm's 256 colours, 16..255, as [r, g, b]
  if (n < 232) { const c = [Math.floor((n - 16) / 36), Math.floor((n - 16) / 6) % 6, (n - 16) % 6]; return c.map((v) => (v ? 55 + v * 40 : 0)); }
  const g = 8 + (n - 232) * 10; return [g, g, g];
};

/* Segments {text, style} of a line: SGR parameters applied, every other escape dropped. */
function ansiSegments(line) {
  const out = [];
  let style = {};
  let at = 0;
  const colour = (params, i) => {  // 38;5;n or 38;2;r;g;b: [css colour or palette index, params used]
    if (params[i + 1] === 5 && params[i + 2] >= 0 && params[i + 2] <= 255) {
      const n = params[i + 2];
      return [n < 16 ? n : "rgb(" + ANSI_RGB(n).join(",") + ")", 2];
    }
    if (params[i + 1] === 2 && params.slice(i + 2, i + 5).length === 3 && params.slice(i + 2, i + 5).every((v) => v >= 0 && v <= 255)) {
      return ["rgb(" + params.slice(i + 2, i + 5).join(",") + ")", 4];
    }
    return [null, 0];
  };
  for (const m of line.matchAll(ESCAPES)) {
    if (m.index > at) out.push({ text: line.slice(at, m.index), style });
    at = m.index + m[0].length;
    if (m[2] !== "m" || m[1] === undefined) continue;
    const params = (m[1] === "" ? "0" : m[1]).split(/[;:]/).map((v) => (v === "" ? 0 : Number(v)));
    style = { ...style };
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p === 0) style = {};
      else if (p === 1) style.bold = true;
      else if (p === 2) style.dim = true;
      else if (p === 3) style.italic = true;
      else if (p === 4) style.underline = true;
      else if (p === 7) style.inverse = true;
      else if (p === 22) { delete style.bold; delete style.dim; }
      else if (p === 23) delete style.italic;
      else if (p === 24) delete style.underline;
      else if (p === 27) delete style.inverse;
      else if (p >= 30 && p <= 37) style.fg = p - 30;
      else if (p >= 90 && p <= 97) style.fg = p - 90 + 8;
      else if (p === 39) delete style.fg;
      else if (p >= 40 && p <= 47) style.bg = p - 40;
      else if (p >= 100 && p <= 107) style.bg = p - 100 + 8;
      else if (p === 49) delete style.bg;
      else if (p === 38 || p === 48) {
        const [c, used] = colour(params, i);
        if (c !== null) style[p === 38 ? "fg" : "bg"] = c;
        i += used;
      }
    }
  }
  if (at < line.length) out.push({ text: line.slice(at), style });
  return out;
}

function styledSpan(text, style) {
  if (!Object.keys(style).length) return document.createTextNode(text);
  const span = document.createElement("span");
  span.textContent = text;
  const cls = [];
  for (const flag of ["bold", "dim", "italic", "underline", "inverse"]) if (style[flag]) cls.push("ansi-" + flag);
  for (const [key, prop] of [["fg", "color"], ["bg", "backgroundColor"]]) {
    const c = style[key];
    if (typeof c === "number") cls.push(`ansi-${key}-${c}`);
    else if (typeof c === "string") span.style[prop] = c;  // "rgb(n,n,n)" built from checked numbers
  }
  span.className = cls.join(" ");
  return span;
}

/* One log line as a node: the last \r state, its colours, the search matches marked. */
function logLineNode(line, needle) {
  const segments = ansiSegments(lastState(line));
  const plain = segments.map((s) => s.text).join("");
  const node = document.createElement("span");
  node.className = "line";
  const key = progressKey(line);
  if (key !== null) node.dataset.progress = key;
  const marks = [];
  if (needle) {
    const low = plain.toLowerCase();
    for (let i = low.indexOf(needle); i >= 0; i = low.indexOf(needle, i + needle.length)) marks.push([i, i + needle.length]);
  }
  let pos = 0;
  for (const seg of segments) {
    const end = pos + seg.text.length;
    let cut = pos;
    for (const [a, b] of marks) {
      if (b <= cut || a >= end) continue;
      if (a > cut) node.append(styledSpan(plain.slice(cut, a), seg.style));
      const mark = document.createElement("mark");
      mark.append(styledSpan(plain.slice(Math.max(a, cut), Math.min(b, end)), seg.style));
      node.append(mark);
      cut = Math.min(b, end);
    }
    if (cut < end) node.append(styledSpan(plain.slice(cut, end), seg.style));
    pos = end;
  }
  node.append("\n");
  return node;
}

/* The log view: tail -f by polling ?offset=, a search filter, follow-the-end. Returns the refresher. */
function logsView(d, body) {
  if (!d.logs.length) { body.append(el("p", { class: "muted" }, "No logs yet.")); return (nd) => { if (nd.logs.length) route(); }; }
  const wanted = parseHash().params;
  const state = { name: d.logs.includes(wanted.get("log")) ? wanted.get("log") : d.logs.includes("logs/driver_log.txt") ? "logs/driver_log.txt" : d.logs[0], offset: null, first: 0, lines: [], chunks: [], busy: false };
  const earlier = el("button", { type: "button", class: "secondary", id: "log-earlier", hidden: true, onclick: async () => {
    const chunk = await api(`${runPath(d.id)}/logs?name=${enc(state.name)}&before=${state.first}`);
    state.first = chunk.offset;
    earlier.hidden = state.first === 0;
    if (chunk.text) {
      const lines = chunk.text.replace(/\n$/, "").split("\n");
      state.lines = lines.concat(state.lines);
      state.chunks.unshift([chunk.offset, lines.length]);
    }
    follow.checked = false;
    const fromBottom = pre.scrollHeight - pre.scrollTop;
    rerender();
    pre.scrollTop = pre.scrollHeight - fromBottom;  // stay on the lines that were in view
  } }, "Show earlier lines");
  const pick = el("select", { id: "log-name", onchange: (e) => { state.name = e.target.value; setHashParams({ log: state.name }); state.offset = null; state.lines = []; state.chunks = []; pre.replaceChildren(); poll(); } },
    d.logs.map((n) => el("option", { value: n, selected: n === state.name }, n)));
  const search = el("input", { type: "search", id: "log-search", placeholder: "search the log", value: wanted.get("q") || "",
    oninput: () => { setHashParams({ q: search.value }); rerender(); } });
  const follow = el("input", { type: "checkbox", id: "log-follow", checked: true });
  const info = el("span", { class: "muted small", id: "log-info" });
  const pre = el("pre", { class: "log", id: "log" });
  body.append(el("div", { class: "toolbar" }, pick, search, el("label", {}, follow, "follow the end"), earlier, info), pre);

  const visibleText = (l) => stripAnsi(lastState(l)).toLowerCase();
  /* Lines as shown: the successive states of one progress bar collapse into the last. */
  function collapse(lines) {
    const out = [];
    let last = null;
    for (const line of lines) {
      const key = progressKey(line);
      if (key !== null && key === last) out[out.length - 1] = line; else out.push(line);
      last = key;
    }
    return out;
  }
  function rerender() {
    const needle = search.value.toLowerCase();
    const shown = needle ? state.lines.filter((l) => visibleText(l).includes(needle)) : state.lines;
    pre.replaceChildren(...collapse(shown).slice(-MAX_LOG_LINES).map((l) => logLineNode(l, needle)));
    info.textContent = needle ? `${shown.length} of ${state.lines.length} lines match` : `${state.lines.length} lines`;
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }
  function append(lines) {
    const needle = search.value.toLowerCase();
    const add = (needle ? lines.filter((l) => visibleText(l).includes(needle)) : lines).slice(-MAX_LOG_LINES);
    for (const line of add) {  // a new state of the bar on the last line replaces it, in place
      const key = progressKey(line);
      const node = logLineNode(line, needle);
      if (key !== null && pre.lastChild && pre.lastChild.dataset && pre.lastChild.dataset.progress === key) pre.lastChild.replaceWith(node);
      else pre.append(node);
    }
    // A followed log keeps growing: the view keeps its newest MAX_LOG_LINES lines, as rerender() does.
    for (let extra = pre.childNodes.length - MAX_LOG_LINES; extra > 0; extra--) pre.firstChild.remove();
    info.textContent = `${state.lines.length} lines`;
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }
  function letGo() {  // keep at most MAX_KEPT_LINES in memory: drop whole chunks, oldest first
    let drop = 0, count = 0;
    while (state.lines.length - drop > MAX_KEPT_LINES && count < state.chunks.length - 1) drop += state.chunks[count++][1];
    if (!count) return false;
    state.chunks.splice(0, count);
    state.lines.splice(0, drop);
    state.first = state.chunks[0][0];
    earlier.hidden = false;
    return true;
  }
  async function poll() {
    if (state.busy) return;
    state.busy = true;
    try {
      const q = state.offset === null ? "" : `&offset=${state.offset}`;
      const chunk = await api(`${runPath(d.id)}/logs?name=${enc(state.name)}${q}`);
      if (chunk.reset) { state.lines = []; state.chunks = []; pre.replaceChildren(); }
      if (state.offset === null || chunk.reset) { state.first = chunk.offset; earlier.hidden = state.first === 0; }
      state.offset = chunk.next_offset;
      if (chunk.text) {
        const lines = chunk.text.replace(/\n$/, "").split("\n");
        for (const line of lines) state.lines.push(line);  // (a spread of 100,000+ arguments throws)
        state.chunks.push([chunk.offset, lines.length]);
        if (letGo()) rerender(); else append(lines);
      } else if (!state.lines.length) info.textContent = "empty so far";
    } finally { state.busy = false; }
  }
  poll();
  every(1500, () => { if (d.live) poll().catch(() => {}); });
  return (nd) => { const wasLive = d.live; d = nd; if (wasLive && !nd.live) poll().catch(() => {}); };
}
