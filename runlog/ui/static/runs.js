/* runlog viewer: the runs table (loaded by index.html after app.js; no build step). Same safety rule as app.js:
 * strings from runs reach the page through textContent or setAttribute, never innerHTML.
 *
 * The table asks /api/runs for pages of at most RUNS_PAGE runs (filter, order_by, max_results, page_token: the
 * server filters and sorts) and keeps only the rows in view in the DOM, so 100,000 runs scroll smoothly.
 */
"use strict";

// Runs per /api/runs request (a page of 100 small runs is ~40 kB); window.RUNLOG_RUNS_PAGE overrides it (tests).
// Runs with many metrics get smaller pages: a page stays under RUNS_PAGE_BYTES.
const RUNS_PAGE = Number(window.RUNLOG_RUNS_PAGE) || 100;
const RUNS_PAGE_BYTES = 150000;
const RUNS_OVERSCAN = 10;  // rows drawn above and below the visible ones
const ATTRIBUTE_COLUMNS = [  // [key, label, order_by or null (not sortable)]
  ["status", "Status", "attributes.status"], ["start_time", "Started", "attributes.start_time"], ["duration", "Duration", null],
  ["experiment", "Experiment", "attributes.experiment"], ["tags", "Tags", null],
];
const RunsState = { sort: "", desc: true, agg: "last", selected: new Set(), hidden: new Set(), filters: { experiment: "", status: "", tag: "", filter: "" } };

/* A column key (data-sort) as MLflow's order_by clause, and back. */
function orderByOf(key, desc) {
  const quote = (k) => "`" + k + "`";
  let clause = null;
  if (key === "display_name") clause = "attributes.run_name";
  else if (key.startsWith("m:")) clause = "metrics." + quote(key.slice(2));
  else if (key.startsWith("p:")) clause = "params." + quote(key.slice(2));
  else clause = (ATTRIBUTE_COLUMNS.find((c) => c[0] === key) || [])[2] || null;
  return clause && clause + (desc ? " DESC" : " ASC");
}

function keyOfOrderBy(text) {
  const m = /^\s*(metrics|params|attributes)\.(`?)(.+?)\2\s+(ASC|DESC)\s*$/i.exec(text || "");
  if (!m) return null;
  const kind = m[1].toLowerCase(), name = m[3], desc = m[4].toUpperCase() === "DESC";
  if (kind === "metrics") return ["m:" + name, desc];
  if (kind === "params") return ["p:" + name, desc];
  if (name === "run_name") return ["display_name", desc];
  const col = ATTRIBUTE_COLUMNS.find((c) => c[2] === "attributes." + name);
  return col ? [col[0], desc] : null;
}

/* The runs page's state in the address (#/?filter=...&order_by=...&hide=...): a reload or a shared link shows the same table. */
function runsStateToHash() {
  if (parseHash().parts.length) return;  // the user has gone to another page meanwhile
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(RunsState.filters)) if (v) p.set(k, v);
  if (RunsState.sort) p.set("order_by", orderByOf(RunsState.sort, RunsState.desc));
  if (RunsState.agg !== "last") p.set("agg", RunsState.agg);
  if (RunsState.hidden.size) p.set("hide", [...RunsState.hidden].join(","));
  if (RunsState.selected.size) p.set("selected", [...RunsState.selected].join(","));
  const hash = "#/" + (p.toString() ? "?" + p.toString() : "");
  if (location.hash !== hash && !(hash === "#/" && !location.hash)) history.replaceState(null, "", hash);
}

function runsStateFromHash(params) {
  const f = RunsState.filters;
  for (const k of Object.keys(f)) f[k] = params.get(k) || "";
  if (!f.filter && params.get("q")) f.filter = params.get("q");
  let sorted = keyOfOrderBy(params.get("order_by"));
  const old = params.get("sort");  // links made before order_by: sort=-m:loss
  if (!sorted && old && old.replace(/^-/, "") !== "created") sorted = [old.replace(/^-/, ""), old.startsWith("-")];
  [RunsState.sort, RunsState.desc] = sorted && orderByOf(sorted[0], sorted[1]) ? sorted : ["", true];
  const agg = params.get("agg");
  RunsState.agg = ["last", "min", "max"].includes(agg) ? agg : "last";
  RunsState.hidden = new Set((params.get("hide") || "").split(",").filter(Boolean));
  RunsState.selected = new Set((params.get("selected") || "").split(",").filter(Boolean));
}

/* A page token for the n-th run: MLflow's offset token, which /api/runs accepts (docs/viewer.md). */
const offsetToken = (n) => btoa(JSON.stringify({ offset: n }));

async function runsPage(params) {
  const seq = App.routeSeq;
  runsStateFromHash(params || new URLSearchParams());
  document.title = "Runs · runlog";
  const experiments = (await api("/api/experiments")).experiments;
  if (seq !== App.routeSeq) return;
  const f = RunsState.filters;
  const reload = () => { runsStateToHash(); data.reset(); };
  const expSelect = el("select", { id: "filter-experiment", onchange: (e) => { f.experiment = e.target.value; reload(); } },
    el("option", { value: "" }, "all experiments"),
    experiments.map((x) => el("option", { value: x.name, selected: x.name === f.experiment }, `${x.name} (${x.runs})`)));
  const statuses = ["", "Running", "Completed", "Failed", "Canceled", "NotStarted", "Queued", "Preparing", "Starting", "Finalizing", "CancelRequested"];
  const statusSelect = el("select", { id: "filter-status", onchange: (e) => { f.status = e.target.value; reload(); } },
    statuses.map((s) => el("option", { value: s, selected: s === f.status }, s || "any status")));
  const tagInput = el("input", { type: "text", id: "filter-tag", placeholder: "tag or tag=value", value: f.tag, onchange: (e) => { f.tag = e.target.value.trim(); reload(); } });
  let typing = null;
  const search = el("input", { type: "search", id: "filter-q", class: "filter-box", value: f.filter, spellcheck: "false",
    placeholder: "name or id, or metrics.acc > 0.9 and params.lr = '0.01'",
    title: "Plain words search run names, ids and experiments. MLflow's search syntax filters: metrics.x > 0.9, params.lr = '0.01', tags.k = 'v', attributes.status = 'Failed', attributes.run_name LIKE '%sgd%', joined by and.",
    oninput: (e) => { f.filter = e.target.value; clearTimeout(typing); typing = setTimeout(reload, 250); } });
  const filterError = el("div", { class: "error small", id: "filter-error", role: "alert" });
  const agg = el("span", { class: "seg", id: "agg" }, ["last", "min", "max"].map((a) =>
    el("label", {}, el("input", { type: "radio", name: "agg", value: a, checked: a === RunsState.agg, onchange: () => { RunsState.agg = a; runsStateToHash(); table.draw(true); } }), a)));
  const compare = el("button", { id: "compare", onclick: () => { location.hash = "#/compare?runs=" + [...RunsState.selected].map(enc).join(","); } }, "Compare");
  const count = el("span", { class: "muted", id: "run-count" });
  const picker = el("details", { class: "picker", id: "column-picker" }, el("summary", { class: "button secondary" }, "Columns"), el("div", { class: "picker-body card" }));
  const scroller = el("div", { class: "table-wrap runs-scroll", id: "runs-scroll", "aria-busy": "true" });
  mount(el("div", { class: "toolbar" }, expSelect, statusSelect, tagInput, search, el("span", { class: "muted" }, "metric value:"), agg, picker, compare, count), filterError, scroller);

  /* The rows fetched so far (a sparse array by position), for the current filter and order. */
  const data = {
    gen: 0, total: null, rows: [], pageSize: RUNS_PAGE, loading: new Set(), metricInfo: new Map(), params: new Set(), error: null,
    // A change of filter or order: the first page replaces the rows when it comes (no blank table meanwhile).
    reset() { this.gen++; this.loading = new Set(); scroller.scrollTop = 0; scroller.setAttribute("aria-busy", "true"); this.fetchPage(0).catch(showError); },
    row(i) { return this.rows[i]; },
    loaded() { return this.rows.filter(Boolean); },
    pageOf(i) { return Math.floor(i / this.pageSize); },
    async fetchPage(k, keep) {
      const busy = this.pageSize + ":" + k;
      if (this.loading.has(busy)) return;
      const gen = this.gen;
      this.loading.add(busy);
      const p = new URLSearchParams();
      for (const [key, v] of Object.entries(f)) if (v) p.set(key, v);
      if (RunsState.sort) p.set("order_by", orderByOf(RunsState.sort, RunsState.desc));
      const size = this.pageSize, offset = k * size;
      p.set("max_results", String(size));
      if (offset) p.set("page_token", offsetToken(offset));
      try {
        const resp = await fetch("/api/runs?" + p.toString(), { credentials: "same-origin", cache: "no-store" });
        if (gen !== this.gen || seq !== App.routeSeq) return;
        if (resp.status === 400 && f.filter) {  // a filter that does not parse: say why under the box, keep the table
          let message = "this filter does not parse";
          try { message = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
          filterError.textContent = message;
          search.classList.add("invalid");
          this.gen--;  // the last good answer stays, and stays current
          scroller.setAttribute("aria-busy", "false");
          return;
        }
        if (!resp.ok) throw new Error((await resp.json().catch(() => null))?.error?.message || resp.status + " " + resp.statusText);
        const text = await resp.text();
        const answer = JSON.parse(text);
        if (gen !== this.gen) return;
        if (k === 0 && !keep) scroller.setAttribute("aria-busy", "false");  // the rows shown answer the current filter and order
        filterError.textContent = "";
        search.classList.remove("invalid");
        if (!keep && k === 0) this.rows = [];
        answer.runs.forEach((r, i) => { this.rows[offset + i] = r; });
        if (answer.runs.length) {  // wide runs (many metrics): smaller pages from now on
          const fit = Math.floor(RUNS_PAGE_BYTES / (text.length / answer.runs.length));
          this.pageSize = Math.max(10, Math.min(RUNS_PAGE, fit, this.pageSize));
        }
        this.total = answer.total ?? answer.runs.length;
        const before = this.columnsKey();
        for (const r of answer.runs) this.learn(r);
        table.draw(this.columnsKey() !== before);
      } finally { this.loading.delete(busy); }
    },
    learn(run) {  // which metric names hold a single value (shown with the parameters), which params exist
      for (const [name, s] of Object.entries(run.metrics)) {
        if (isSystem(name)) continue;
        const seen = this.metricInfo.get(name) || { single: true };
        seen.single = seen.single && s.count <= 1;
        this.metricInfo.set(name, seen);
      }
      for (const name of Object.keys(run.params || {})) this.params.add(name);
    },
    columnsKey() { return [...this.params].sort().join("\n") + "\n--\n" + [...this.metricInfo].map(([n, s]) => n + s.single).sort().join("\n"); },
  };

  /* The columns in groups: [{group, columns: [{key, label, sort, cls, cell(run)}]}]. */
  function columns() {
    const metricNames = [...data.metricInfo.keys()].sort();
    const metricCell = (m) => (run) => {
      const s = run.metrics[m];
      return el("td", { class: "num metric", "data-metric": m }, s ? fmt(s[RunsState.agg]) : "");
    };
    const attrs = {
      experiment: (run) => el("td", {}, run.experiment),
      status: (run) => el("td", {}, statusBadge(run.status)),
      start_time: (run) => el("td", {}, fmtTime(run.start_time)),
      duration: (run) => el("td", { class: "num" }, fmtDuration(run.duration)),
      tags: (run) => el("td", { class: "tags" }, Object.entries(run.tags).map(([k, v]) => el("span", { class: "tag" }, v ? k + "=" + v : k))),
    };
    // Metrics first (what a run is judged by), then what it was run with, then the rest.
    return [
      { group: "Metrics", id: "metrics", columns: metricNames.filter((m) => !data.metricInfo.get(m).single).map((m) => ({ key: "m:" + m, label: m, cls: "num", cell: metricCell(m) })) },
      { group: "Parameters", id: "params", columns: [
        ...[...data.params].sort().map((p) => ({ key: "p:" + p, label: p, cell: (run) => el("td", { "data-param": p }, fmt((run.params || {})[p])) })),
        ...metricNames.filter((m) => data.metricInfo.get(m).single).map((m) => ({ key: "m:" + m, label: m, cls: "num", cell: metricCell(m) })),
      ] },
      { group: "Attributes", id: "attributes", columns: ATTRIBUTE_COLUMNS.map(([key, label]) => ({ key, label, cell: attrs[key] })) },
    ];
  }

  function renderPicker(groups) {
    const body = picker.querySelector(".picker-body");
    const toggle = (key, shown) => { if (shown) RunsState.hidden.delete(key); else RunsState.hidden.add(key); runsStateToHash(); table.draw(true); };
    body.replaceChildren(...groups.filter((g) => g.columns.length).map((g) => el("fieldset", { "data-group": g.id },
      el("legend", {}, g.group, " ",
        el("button", { type: "button", class: "link small", onclick: () => { g.columns.forEach((c) => RunsState.hidden.delete(c.key)); runsStateToHash(); table.draw(true); renderPicker(groups); } }, "all"), " ",
        el("button", { type: "button", class: "link small", onclick: () => { g.columns.forEach((c) => RunsState.hidden.add(c.key)); runsStateToHash(); table.draw(true); renderPicker(groups); } }, "none")),
      g.columns.map((c) => el("label", {}, el("input", { type: "checkbox", class: "col-toggle", value: c.key, checked: !RunsState.hidden.has(c.key),
        onchange: (e) => toggle(c.key, e.target.checked) }), c.label)))));
  }

  /* The virtualized table: a header, a spacer for the rows above, the rows in view, a spacer for those below. */
  const table = {
    rowH: 40, groups: [], shown: [], first: -1, last: -1, frame: 0,
    draw(columnsChanged) {
      if (columnsChanged || !this.node) this.build();
      this.first = -1;
      this.update();
    },
    build() {
      this.groups = columns();
      renderPicker(this.groups);
      this.shown = this.groups.map((g) => ({ ...g, columns: g.columns.filter((c) => !RunsState.hidden.has(c.key)) }));
      const head = (label, k, sortable, cls) => el("th", { "data-sort": k, class: (cls || "") + (sortable ? " sortable" : ""), title: sortable ? "sort (on the server; metrics by their last value)" : null,
        onclick: sortable ? () => { RunsState.desc = RunsState.sort === k ? !RunsState.desc : false; RunsState.sort = k; reload(); } : null },
        label, RunsState.sort === k ? (RunsState.desc ? " ▼" : " ▲") : "");
      this.allBox = el("input", { type: "checkbox", title: "select the loaded runs", onchange: (e) => {
        data.loaded().forEach((r) => (e.target.checked ? RunsState.selected.add(r.id) : RunsState.selected.delete(r.id))); updateCompare(); this.draw(false); } });
      const visible = this.shown.filter((g) => g.columns.length);
      const groupRow = el("tr", { class: "groups" }, el("th", { class: "pin pin-0" }), el("th", { class: "pin pin-1" }),
        visible.map((g) => el("th", { colspan: g.columns.length, class: "group group-" + g.id, "data-group": g.id }, g.group)));
      const colRow = el("tr", { class: "cols" }, el("th", { class: "pin pin-0" }, this.allBox), head("Run", "display_name", true, "pin pin-1"),
        visible.map((g) => g.columns.map((c, i) => head(c.label, c.key, !!orderByOf(c.key, false), [c.cls, "g-" + g.id, i === 0 ? "group-start" : ""].filter(Boolean).join(" ")))));
      this.ncols = 2 + visible.reduce((a, g) => a + g.columns.length, 0);
      this.tbody = el("tbody");
      this.thead = el("thead", {}, groupRow, colRow);
      this.node = el("table", { class: "grid runs", id: "runs-table" }, this.thead, this.tbody);
      this.sizer = el("div", { class: "sizer" }, this.node);  // as tall as every row: the scroll bar is the whole list
      scroller.replaceChildren(this.sizer);
    },
    rowNode(run, i) {
      if (!run) return el("tr", { class: "placeholder", "data-index": i }, el("td", { class: "pin pin-0" }), el("td", { class: "pin pin-1 muted" }, "…"), el("td", { colspan: this.ncols - 2 }));
      const checkbox = el("input", { type: "checkbox", class: "select-run", "data-run": run.id, checked: RunsState.selected.has(run.id),
        onchange: (e) => { e.target.checked ? RunsState.selected.add(run.id) : RunsState.selected.delete(run.id); updateCompare(); } });
      const nameCell = el("td", { class: "pin pin-1 run-name", title: run.parent_id ? "child of " + run.parent_id : run.id },
        el("div", { class: "clip" }, el("a", { href: "#/run/" + enc(run.id), class: "run-link" }, run.display_name)),
        el("div", { class: "clip muted small" }, run.parent_id ? "↳ " + run.id : run.display_name !== run.id ? run.id : ""));
      return el("tr", { "data-run": run.id, "data-index": i }, el("td", { class: "pin pin-0" }, checkbox), nameCell,
        this.shown.map((g) => g.columns.map((c, j) => { const td = c.cell(run); if (j === 0) td.classList.add("group-start"); return td; })));
    },
    update() {
      if (!this.node) return;
      const total = data.total || 0;
      const view = scroller.clientHeight || 600;
      const first = Math.max(0, Math.floor(scroller.scrollTop / this.rowH) - RUNS_OVERSCAN);
      const last = Math.min(total, Math.ceil((scroller.scrollTop + view) / this.rowH) + RUNS_OVERSCAN);
      if (first === this.first && last === this.last) return;
      this.first = first; this.last = last;
      const rows = [];
      for (let i = first; i < last; i++) {
        const run = data.row(i);
        if (run === undefined) data.fetchPage(data.pageOf(i), true).catch(showError);
        rows.push(this.rowNode(run, i));
      }
      // The rows in view only: the table starts `first` rows down (its header stays pinned at the top).
      this.tbody.replaceChildren(...rows);
      this.node.style.marginTop = first * this.rowH + "px";
      this.sizer.style.height = this.thead.getBoundingClientRect().height + total * this.rowH + "px";
      const real = this.tbody.querySelector("tr[data-run]");
      const h = real ? real.getBoundingClientRect().height : 0;
      if (h && Math.abs(h - this.rowH) > 0.5) { this.rowH = h; this.first = -1; this.update(); return; }  // measured once, then exact
      const loadedHere = rows.filter((r) => r.dataset.run).length;
      count.textContent = total === 0 ? "no runs" : `${total} run(s)` + (loadedHere < last - first ? " (loading…)" : "");
      this.allBox.checked = data.loaded().length > 0 && data.loaded().every((r) => RunsState.selected.has(r.id));
      if (total === 0) this.tbody.replaceChildren(el("tr", {}, el("td", { colspan: this.ncols, class: "muted" }, f.filter || f.tag || f.status || f.experiment ? "No run matches." : "No runs yet.")));
    },
  };
  scroller.addEventListener("scroll", () => { cancelAnimationFrame(table.frame); table.frame = requestAnimationFrame(() => table.update()); });

  function updateCompare() {
    runsStateToHash();
    const n = RunsState.selected.size;
    compare.disabled = n === 0;
    compare.textContent = n ? `Compare ${n} run(s)` : "Select runs to compare";
  }
  updateCompare();

  await data.fetchPage(0);
  if (seq !== App.routeSeq) return;
  every(5000, () => {  // live runs: refetch the pages in view
    if (!data.loaded().some((r) => !TERMINAL.has(r.status))) return;
    const pages = new Set();
    for (let i = table.first; i < table.last; i++) pages.add(data.pageOf(i));
    pages.forEach((k) => data.fetchPage(k, true).catch(() => {}));
  });
}
