/* runlog viewer: the compare page (loaded by index.html after app.js; no build step). Same safety rule as app.js:
 * strings from runs reach the page through textContent or setAttribute, never innerHTML. */
"use strict";

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

