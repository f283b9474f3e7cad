/* runlog viewer: the log view (loaded by index.html after app.js; no build step). Same safety rule as app.js:
 * strings from runs reach the page through textContent or setAttribute, never innerHTML. */
"use strict";

// -- log lines: ANSI colours as styled spans (built with DOM calls, never HTML), progress bars in place --

// CSI (colours, cursor moves), OSC (titles, links) and two-character escapes; only SGR ("m") styles text.
const ESCAPES = /\x1b\[([0-?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
const LOG_PREFIX = /^(\d{4}-\d\d-\d\dT[\d:.]+Z )?(\[stderr\] )?/;
// What starts each line of the "all ranks" view (runlog._jobs.stream.rank_prefix, as `runlog logs --rank all`).
const RANK_TAG = /^\[rank (\d+)\] /;

/* What a terminal would show of a line redrawn with \r: its last state. */
function lastState(line) {
  const trimmed = line.replace(/\r+$/, "");
  const at = trimmed.lastIndexOf("\r");
  return at < 0 ? trimmed : trimmed.slice(at + 1);
}

function stripAnsi(line) { return line.replace(ESCAPES, ""); }

/* A progress bar's identity (tqdm "desc: 45%|", keras "45/100 [==>"), else null: consecutive lines with the
   same key are states of one bar (the driver log keeps a redrawn bar's state every few seconds). */
function progressKey(line, ranked) {
  const tag = ranked ? RANK_TAG.exec(line) : null;  // the same bar of two ranks is two bars
  if (tag) { const key = progressKey(line.slice(tag[0].length), false); return key === null ? null : tag[0] + key; }
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

/* One log line as a node: the last \r state, its colours, the search matches marked. `ranked` (the "all
   ranks" view): the line starts with "[rank N] ", drawn as a tag in the rank's colour (data-rank on the line). */
function logLineNode(line, needle, ranked) {
  const node = document.createElement("span");
  node.className = "line";
  const key = progressKey(line, ranked);
  if (key !== null) node.dataset.progress = key;
  const tag = ranked ? RANK_TAG.exec(line) : null;
  if (tag) {
    const rank = Number(tag[1]);
    node.dataset.rank = String(rank);
    const badge = el("span", { class: "rank-tag" }, tag[0]);
    badge.style.color = PALETTE[rank % PALETTE.length];
    node.append(badge);
    line = line.slice(tag[0].length);
  }
  const segments = ansiSegments(lastState(line));
  const plain = segments.map((s) => s.text).join("");
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

/* The log view: tail -f by polling ?offset=, a search filter, follow-the-end. A multi-process run gets a rank
   selector: one rank's driver log, or every rank's interleaved by time (?rank=all&offsets=). Returns the refresher. */
function logsView(d, body) {
  if (!d.logs.length) { body.append(el("p", { class: "muted" }, "No logs yet.")); return (nd) => { if (nd.logs.length) route(); }; }
  const wanted = parseHash().params;
  const rankLogs = (d.log_ranks || []).filter((r) => d.logs.includes(r.name));
  const multi = rankLogs.length > 1;
  const rankWanted = multi ? wanted.get("rank") : null;
  const rankLog = rankLogs.find((r) => String(r.rank) === rankWanted);
  const fallback = d.logs.includes("logs/driver_log.txt") ? "logs/driver_log.txt" : rankLogs.length ? rankLogs[0].name : d.logs[0];
  const state = { name: rankLog ? rankLog.name : d.logs.includes(wanted.get("log")) ? wanted.get("log") : fallback,
    all: rankWanted === "all", offsets: null, offset: null, first: 0, lines: [], chunks: [], busy: false, again: false, gen: 0 };
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
  function restart() {
    state.gen++;
    state.offset = null; state.offsets = null; state.lines = []; state.chunks = [];
    pre.replaceChildren();
    earlier.hidden = true;
    pick.hidden = state.all;
    syncRank();
    poll();
  }
  const pick = el("select", { id: "log-name", hidden: state.all, onchange: (e) => {
    state.name = e.target.value; state.all = false; setHashParams({ log: state.name, rank: "" }); restart();
  } }, d.logs.map((n) => el("option", { value: n, selected: n === state.name }, n)));
  // The rank selector (a multi-process run): a rank's driver log, or all ranks interleaved by time.
  const rankPick = multi ? el("select", { id: "log-rank", title: "the rank (process) whose driver log is shown", onchange: (e) => {
    const v = e.target.value;
    if (!v) return;
    state.all = v === "all";
    if (!state.all) { state.name = rankLogs.find((r) => String(r.rank) === v).name; pick.value = state.name; }
    setHashParams({ rank: v, log: "" });
    restart();
  } }) : null;
  function syncRank() {
    if (!rankPick) return;
    const current = state.all ? "all" : String((rankLogs.find((r) => r.name === state.name) || { rank: "" }).rank);
    rankPick.replaceChildren(
      ...(current === "" ? [el("option", { value: "", selected: true }, "—")] : []),  // a log that is no rank's
      ...rankLogs.map((r) => el("option", { value: String(r.rank), selected: String(r.rank) === current }, `rank ${r.rank}`)),
      el("option", { value: "all", selected: current === "all" }, "all ranks, by time"));
  }
  syncRank();
  const search = el("input", { type: "search", id: "log-search", placeholder: "search the log", value: wanted.get("q") || "",
    oninput: () => { setHashParams({ q: search.value }); rerender(); } });
  const follow = el("input", { type: "checkbox", id: "log-follow", checked: true });
  const info = el("span", { class: "muted small", id: "log-info" });
  const pre = el("pre", { class: "log", id: "log" });
  body.append(el("div", { class: "toolbar" }, rankPick ? el("label", {}, "rank:", rankPick) : null, pick, search, el("label", {}, follow, "follow the end"), earlier, info), pre);

  const visibleText = (l) => stripAnsi(lastState(l)).toLowerCase();
  /* Lines as shown: the successive states of one progress bar collapse into the last. */
  function collapse(lines) {
    const out = [];
    let last = null;
    for (const line of lines) {
      const key = progressKey(line, state.all);
      if (state.all) {  // every rank's bar is its own line: a new state replaces its rank's last line, if that was the bar
        const at = key === null ? -1 : lastOfRank(out.length, (i) => RANK_TAG.exec(out[i])?.[1], RANK_TAG.exec(line)[1]);
        if (at >= 0 && progressKey(out[at], true) === key) out[at] = line; else out.push(line);
      } else if (key !== null && key === last) out[out.length - 1] = line; else out.push(line);
      last = key;
    }
    return out;
  }
  function rerender() {
    const needle = search.value.toLowerCase();
    const shown = needle ? state.lines.filter((l) => visibleText(l).includes(needle)) : state.lines;
    pre.replaceChildren(...collapse(shown).slice(-MAX_LOG_LINES).map((l) => logLineNode(l, needle, state.all)));
    info.textContent = needle ? `${shown.length} of ${state.lines.length} lines match` : linesInfo();
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }
  function append(lines) {
    const needle = search.value.toLowerCase();
    const add = (needle ? lines.filter((l) => visibleText(l).includes(needle)) : lines).slice(-MAX_LOG_LINES);
    for (const line of add) {  // a new state of the bar on the last line replaces it, in place
      const key = progressKey(line, state.all);
      const node = logLineNode(line, needle, state.all);
      let previous = pre.lastChild;
      if (state.all && key !== null) {  // the bar's line is its rank's last line, maybe with other ranks' lines after it
        const nodes = pre.childNodes, at = lastOfRank(nodes.length, (i) => nodes[i].dataset?.rank, node.dataset.rank);
        previous = at >= 0 ? nodes[at] : null;
      }
      if (key !== null && previous && previous.dataset && previous.dataset.progress === key) previous.replaceWith(node);
      else pre.append(node);
    }
    // A followed log keeps growing: the view keeps its newest MAX_LOG_LINES lines, as rerender() does.
    for (let extra = pre.childNodes.length - MAX_LOG_LINES; extra > 0; extra--) pre.firstChild.remove();
    info.textContent = linesInfo();
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }
  /* The index of the last of `count` lines whose rank (`rankAt(i)`) is `rank`, looking back at most 64 lines; -1 if none. */
  function lastOfRank(count, rankAt, rank) {
    for (let i = count - 1; i >= Math.max(0, count - 64); i--) if (rankAt(i) === rank) return i;
    return -1;
  }
  const linesInfo = () => `${state.lines.length} lines` + (state.all ? ` of ${rankLogs.length} ranks, by time` : "");
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
  /* The "all ranks" view: every rank's new lines, interleaved by the server, each prefixed [rank N]. It opens on
     each rank's last 256 KiB; a followed view lets go of its oldest lines past MAX_KEPT_LINES (no paging back). */
  async function pollAll(gen) {
    const q = state.offsets === null ? "" : `&offsets=${enc(state.offsets)}`;
    const chunk = await api(`${runPath(d.id)}/logs?rank=all${q}`);
    if (gen !== state.gen) return;  // switched away while it loaded
    if (chunk.reset && state.offsets !== null) { state.offsets = null; state.lines = []; pre.replaceChildren(); return pollAll(gen); }
    state.offsets = chunk.next_offsets;
    if (chunk.lines.length) {
      const lines = chunk.lines.map((l) => `[rank ${l.rank}] ${l.text}`);
      for (const line of lines) state.lines.push(line);
      if (state.lines.length > MAX_KEPT_LINES) { state.lines.splice(0, state.lines.length - MAX_KEPT_LINES); rerender(); } else append(lines);
    } else if (!state.lines.length) info.textContent = "empty so far";
  }
  async function poll() {
    if (state.busy) { state.again = true; return; }  // a switch while a read is under way: read again after it
    state.busy = true;
    const gen = state.gen;
    try {
      if (state.all) { await pollAll(gen); return; }
      const q = state.offset === null ? "" : `&offset=${state.offset}`;
      const chunk = await api(`${runPath(d.id)}/logs?name=${enc(state.name)}${q}`);
      if (gen !== state.gen) return;  // another log was chosen meanwhile
      if (chunk.reset) { state.lines = []; state.chunks = []; pre.replaceChildren(); }
      if (state.offset === null || chunk.reset) { state.first = chunk.offset; earlier.hidden = state.first === 0; }
      state.offset = chunk.next_offset;
      if (chunk.text) {
        const lines = chunk.text.replace(/\n$/, "").split("\n");
        for (const line of lines) state.lines.push(line);  // (a spread of 100,000+ arguments throws)
        state.chunks.push([chunk.offset, lines.length]);
        if (letGo()) rerender(); else append(lines);
      } else if (!state.lines.length) info.textContent = "empty so far";
    } finally {
      state.busy = false;
      if (state.again) { state.again = false; poll().catch(() => {}); }
    }
  }
  poll();
  every(1500, () => { if (d.live) poll().catch(() => {}); });
  return (nd) => { const wasLive = d.live; d = nd; if (wasLive && !nd.live) poll().catch(() => {}); };
}
