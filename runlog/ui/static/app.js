/* runlog viewer: a small single-page app over the JSON API (docs/viewer.md).
 *
 * Safety rule: every string that comes from a run (names, tags, log lines, file
 * names, values) reaches the page through textContent or an attribute set with
 * setAttribute; this file never assigns innerHTML.
 */
"use strict";

const App = { timers: [], charts: [], runsCache: null };
const PALETTE = ["#2f6fde", "#e4572e", "#17a398", "#f3a712", "#7d4fd0", "#29335c", "#d33f49", "#4f9d2d", "#a05a2c", "#00a8e8"];
/* The colour of the i-th run of a page's run key (the compare page's order): every chart, table and plot uses it. */
const runColor = (id, i) => PALETTE[i % PALETTE.length];
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
  if (typeof value === "number") return fmtNumber(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/* A number as people write it: 0.0001 (not 1.0000e-4), 0.93 (not 0.930000), 1234567; an exponent only
   where plain digits would be long (below 1e-6, from 1e21), with no trailing zeros. */
function fmtNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  return String(+value.toPrecision(6));
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

