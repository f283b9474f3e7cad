/* runlog viewer: file previews and images (loaded by index.html after app.js; no build step). Same safety rule as app.js:
 * strings from runs reach the page through textContent or setAttribute, never innerHTML. */
"use strict";

/* The images: a figure per name; a name logged several times (log_image(..., step=)) gets a slider that scrubs
   through its images by step (the newest shown first), the chosen step kept in the URL. */
function imagesView(d) {
  if (!d.images.length) return el("p", { class: "muted" }, "No images (run.log_image) yet.");
  const byName = new Map();
  for (const img of d.images) { if (!byName.has(img.name)) byName.set(img.name, []); byName.get(img.name).push(img); }
  const wanted = parseHash().params;
  return el("div", { class: "gallery", id: "gallery" }, [...byName].map(([name, imgs]) => {
    const stepOf = (img, i) => (img.step === null || img.step === undefined ? i : img.step);
    imgs = imgs.map((img, i) => ({ ...img, shownStep: stepOf(img, i) })).sort((a, b) => a.shownStep - b.shownStep || a.time - b.time);
    const param = "step." + name;
    const asked = wanted.get(param) === null ? NaN : Number(wanted.get(param));
    let at = imgs.findIndex((img) => img.shownStep === asked);
    if (at < 0) at = imgs.length - 1;
    const image = el("img", { alt: name, loading: "lazy" });
    const link = el("a", { target: "_blank", rel: "noopener" }, image);
    const caption = el("figcaption", {});
    const show = (i) => {
      const img = imgs[i];
      image.setAttribute("src", filePath(d.id, img.file));
      link.setAttribute("href", filePath(d.id, img.file));
      caption.textContent = `${name} · step ${img.shownStep}` + (imgs.length > 1 ? ` (${i + 1} of ${imgs.length})` : "") + ` · ${fmtTime(img.time)}`;
      figure.dataset.step = String(img.shownStep);
    };
    const slider = imgs.length > 1 ? el("input", { type: "range", class: "image-step", min: "0", max: String(imgs.length - 1), value: String(at), "aria-label": name + " step",
      oninput: (e) => { const i = Number(e.target.value); show(i); setHashParams({ [param]: i === imgs.length - 1 ? "" : String(imgs[i].shownStep) }); } }) : null;
    const figure = el("figure", { "data-image": name }, link, caption, slider);
    show(at);
    return figure;
  }));
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

