"""The viewer's read side: the runs table of a large store, and chart data of a 1,000,000-point metric.

    python benchmarks/bench_ui.py [--runs 1000] [--metrics 20] [--steps 50] [--points 1000000] [--quick]

Side by side, in one process:
- runs table (last/min/max of every metric of every run): the viewer's cached `StoreQuery.runs()`
  cold (first call parses everything), warm (nothing changed: only `stat` calls), after one run
  appended a step (only the new bytes are parsed), against the naive way (read every run's events
  with `RunReader.metric_events()` and fold them, what a viewer without a cache does per request);
- chart data of one metric with `--points` values: first request (parses the file), later requests
  (from the cache, min/max-downsampled to ~2,000 points), a zoomed range, and the naive way
  (`run.get_metric_history()` then downsampling).
With Starlette and uvicorn installed (`pip install 'runlog[ui]'`) the same requests are also timed
end to end over HTTP on 127.0.0.1 (JSON encoding included), with the runs table's own request (a page
of 100 sorted by a metric) and the bytes of an answer; with Playwright and a chromium, the pages are
timed in the browser too (runs table first rows, a jump to the last row, the 1,000,000-point chart).

Prints markdown. A plain script, not a test: nothing passes or fails on a time.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _harness import machine  # noqa: E402

import runlog  # noqa: E402
from runlog._store import RunReader  # noqa: E402
from runlog.ui.downsample import minmax_downsample  # noqa: E402
from runlog.ui.query import MAX_PAGE, StoreQuery  # noqa: E402


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def row(name: str, ms: list[float], base: float | None) -> str:
    med = statistics.median(ms)
    ratio = f"{med / base:.3f}" if base else "1.000"
    return f"| {name} | {med:.1f} | {min(ms):.1f} | {max(ms):.1f} | {len(ms)} | {ratio} |"


# The runs table's first request in a process of its own (`runlog ui` just started): its time, in ms.
NEW_PROCESS_PAGE = """
import sys, time
from runlog.ui.query import StoreQuery
q = StoreQuery(sys.argv[1])
start = time.perf_counter()
q.runs(max_results=100, order_by=["metrics.m00 DESC"])
print((time.perf_counter() - start) * 1000)
"""


def new_process_page(store: Path) -> list[float]:
    env_path = str(HERE.parent)
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n" + NEW_PROCESS_PAGE, str(store)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return [float(done.stdout.split()[-1])]


HEADER = "| case | median ms | min | max | repeats | ratio to baseline |\n|---|---:|---:|---:|---:|---:|"


def build_store(root: Path, runs: int, metrics: int, steps: int, json_lines: bool = False) -> list[runlog.Run]:
    """``json_lines``: every value as an ``s`` JSON line, as store format 1 wrote them (for comparison)."""
    ws = runlog.Workspace(root)
    made = []
    for e in range(max(1, runs // 100)):
        exp = runlog.Experiment(ws, f"exp{e}")
        for _ in range(min(100, runs - len(made))):
            run = exp.start_logging(outputs=False)
            run.tag("batch", str(e))
            w = run._writer
            for step in range(steps):
                values = {f"m{k:02d}": math.sin(step * 0.1 + k) for k in range(metrics)}
                if json_lines:
                    for name, value in values.items():
                        w.metric("s", name, repr(value), step)
                else:
                    w.scalars(values, step)
            run.complete()
            made.append(run)
    return made


def naive_runs_table(store: Path) -> dict[str, dict[str, tuple[Any, Any, Any]]]:
    table = {}
    for exp_dir in sorted((store / "experiments").iterdir()):
        for run_dir in sorted((exp_dir / "runs").iterdir()):
            reader = RunReader(run_dir)
            reader.state()
            summary: dict[str, list[Any]] = {}
            for kind, name, value, _step, _t in (e[:5] for e in reader.metric_events()):
                if kind != "s":
                    continue
                s = summary.setdefault(name, [None, math.inf, -math.inf])
                s[0] = value
                if isinstance(value, (int, float)):
                    s[1], s[2] = min(s[1], value), max(s[2], value)
            table[run_dir.name] = {k: (v[0], v[1], v[2]) for k, v in summary.items()}
    return table


def http_client(store: Path) -> tuple[Any, Callable[[], None]] | None:
    try:
        import httpx
        import uvicorn

        from runlog.ui import create_app
    except ImportError:
        return None
    import socket
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    client = httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=120)

    def stop() -> None:
        client.close()
        server.should_exit = True
        thread.join(10)
        sock.close()

    return client, stop


def browser_rows(store: Path, repeats: int, big_run: str | None = None, points: int = 0) -> None:
    """The viewer in headless Chromium (when Playwright and a chromium are installed), navigation to drawn: the
    runs table's first rows and a jump to its last row; with ``big_run``, the chart of its ``points``-point metric."""
    import shutil

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("\n(Playwright not installed: browser rows skipped)")
        return
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    served = http_client(store)
    if served is None or chromium is None:
        print("\n(no chromium or no Starlette/uvicorn: browser rows skipped)")
        return
    client, stop = served
    url = str(client.base_url).rstrip("/")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            print("\n| in Chromium (navigation to drawn) | median ms | min | max | repeats | ratio to baseline |\n|---|---:|---:|---:|---:|---:|")
            if big_run is None:

                def first_rows() -> None:
                    page.goto("about:blank")
                    page.goto(url + "/#/?order_by=metrics.m00+DESC")
                    page.wait_for_selector('#runs-scroll[aria-busy="false"] tr[data-run]')

                def last_row() -> None:
                    page.locator("#runs-scroll").evaluate("e => { e.scrollTop = 0; }")
                    page.wait_for_timeout(50)
                    page.locator("#runs-scroll").evaluate("e => { e.scrollTop = e.scrollHeight; }")
                    page.wait_for_function(
                        "() => { const r = [...document.querySelectorAll('#runs-table tr[data-run]')].pop();"
                        " return r && Number(r.dataset.index) === parseInt(document.querySelector('#run-count').textContent) - 1; }"
                    )

                first_rows()
                print(row("runs table: first rows, sorted by a metric (server side)", timed(first_rows, repeats), None))
                in_dom = page.locator("#runs-table tbody tr").count()
                print(row("runs table: jump to the last run (its page fetched, rows redrawn)", timed(last_row, repeats), None))
                print(f"\n({in_dom} rows in the DOM for a 900-pixel-high window, whatever the number of runs)")
            else:

                def chart() -> None:
                    page.goto("about:blank")
                    page.goto(f"{url}/#/run/{big_run}?tab=charts")
                    page.wait_for_selector('.card[data-chart="loss"] canvas')

                chart()
                print(row(f"chart of the {points:,}-point metric (warm)", timed(chart, repeats), None))
            browser.close()
    finally:
        stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 runs, 200,000 points")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.points, args.repeats = 100, 200_000, 3

    print(f"machine: {machine()}\n")
    with tempfile.TemporaryDirectory(prefix="runlog-bench-ui-") as tmp:
        store = Path(tmp) / "store"
        start = time.perf_counter()
        runs = build_store(store, args.runs, args.metrics, args.steps)
        built = time.perf_counter() - start
        events = args.runs * args.metrics * args.steps
        print(f"### Runs table: {args.runs} runs x {args.metrics} metrics x {args.steps} steps ({events:,} events)\n")
        print(f"(store written in {built:.1f} s)\n")
        print(HEADER)
        naive = timed(lambda: naive_runs_table(store), max(1, args.repeats // 2))
        base = statistics.median(naive)
        print(row("naive: parse every run's events per request (baseline)", naive, None))
        # Before anything here builds the run index: a new process's first page builds it, the next reuses it.
        print(row("the table's page of 100 sorted by a metric, cold, in a new process (the run index built)", new_process_page(store), base))
        print(row("the same in another new process (the run index kept)", new_process_page(store), base))
        q = StoreQuery(store)
        every = min(args.runs, MAX_PAGE)  # /api/runs answers pages; the largest is every run of this store
        cold = timed(lambda: q.runs(max_results=every), 1)
        print(row("StoreQuery.runs(), cold (first request parses all)", cold, base))
        json_store = Path(tmp) / "store-json"
        build_store(json_store, args.runs, args.metrics, args.steps, json_lines=True)
        q_json = StoreQuery(json_store)
        print(row("StoreQuery.runs(), cold, the same store as format-1 JSON lines", timed(lambda: q_json.runs(max_results=every), 1), base))
        warm = timed(lambda: q.runs(max_results=every), args.repeats)
        print(row("StoreQuery.runs(), warm (nothing changed)", warm, base))
        victim = runs[len(runs) // 2]

        def one_more() -> None:
            victim._writer.scalars({"m00": 5.0}, None)
            q.runs(max_results=every)

        print(row("StoreQuery.runs() after one run logged a step", timed(one_more, args.repeats), base))
        check = q.runs(max_results=every)
        assert len(check["runs"]) == args.runs and len(check["metric_names"]) == args.metrics
        sizes: dict[str, int] = {}
        served = http_client(store)
        if served is not None:
            client, stop = served
            try:
                whole = client.get("/api/runs", params={"max_results": every})
                print(row("GET /api/runs over HTTP, every run (the largest page), warm (JSON included)", timed(lambda: client.get("/api/runs", params={"max_results": every}).raise_for_status(), args.repeats), base))
                # What the viewer's runs table asks for: a page of 100, sorted by a metric on the server.
                page = {"max_results": 100, "order_by": "metrics.m00 DESC"}
                first = client.get("/api/runs", params=page)
                print(row("GET /api/runs, a page of 100 sorted by a metric (the table's request), warm", timed(lambda: client.get("/api/runs", params=page).raise_for_status(), args.repeats), base))
                token = {**page, "page_token": first.json()["next_page_token"]}
                print(row("GET /api/runs, the next page (page_token), warm", timed(lambda: client.get("/api/runs", params=token).raise_for_status(), args.repeats), base))
                sizes.update(whole=len(whole.content), page=len(first.content))
            finally:
                stop()
        browser_rows(store, args.repeats)
        if sizes:
            print(
                f"\nOne answer: every run {sizes['whole'] / 1024:.0f} kB; a page of 100 runs {sizes['page'] / 1024:.0f} kB "
                "(the table asks for pages of 100 runs, fewer for runs with many metrics so that a page stays under 150 kB, "
                "and draws only the rows in view)."
            )
        print()

        exp = runlog.Experiment(runlog.Workspace(store), "big")
        big = exp.start_logging(outputs=False)
        w = big._writer
        start = time.perf_counter()
        for i in range(args.points):
            w.scalar("loss", 1.0 / (1 + i) + 0.01 * math.sin(i / 1000), i)
        big.complete()
        print(f"### Chart data of one metric with {args.points:,} points\n")
        print(f"(written in {time.perf_counter() - start:.1f} s)\n")
        print(HEADER)

        def naive_chart() -> None:
            history = big.get_metric_history("loss")
            minmax_downsample([float(p.step or 0) for p in history], [float(p.value) for p in history], 2000)

        naive = timed(naive_chart, max(1, args.repeats // 2))
        base = statistics.median(naive)
        print(row("naive: get_metric_history() + downsample per request (baseline)", naive, None))
        q2 = StoreQuery(store)
        print(row("StoreQuery.series(), first request (parses the file)", timed(lambda: q2.series(big.id, "loss"), 1), base))
        old_style = exp.start_logging(outputs=False)
        for i in range(args.points):
            old_style._writer.metric("s", "loss", repr(1.0 / (1 + i) + 0.01 * math.sin(i / 1000)), i)
        old_style.complete()
        q3 = StoreQuery(store)
        print(row("StoreQuery.series(), first request, the same metric as format-1 JSON lines", timed(lambda: q3.series(old_style.id, "loss"), 1), base))
        print(row("StoreQuery.series(), later requests (~2,000 points)", timed(lambda: q2.series(big.id, "loss"), args.repeats), base))
        lo, hi = args.points * 0.4, args.points * 0.41
        print(row("StoreQuery.series(), zoomed to 1% of the range", timed(lambda: q2.series(big.id, "loss", xmin=lo, xmax=hi), args.repeats), base))
        result = q2.series(big.id, "loss")
        assert result["total"] == args.points and len(result["x"]) <= 2002
        served = http_client(store)
        if served is not None:
            client, stop = served
            try:
                url = f"/api/runs/{big.id}/series?name=loss"
                print(row("GET .../series over HTTP, first request", timed(lambda: client.get(url).raise_for_status(), 1), base))
                print(row("GET .../series over HTTP, later requests", timed(lambda: client.get(url).raise_for_status(), args.repeats), base))
            finally:
                stop()
        else:
            print("\n(Starlette/uvicorn not installed: HTTP rows skipped; pip install 'runlog[ui]')")
        browser_rows(store, args.repeats, big.id, args.points)
        print(
            "\nThe first request for a series pays for reading the events files once (numeric points are "
            "32-byte records, decoded column by column; format-1 JSON lines for comparison); `runlog ui` "
            "does that in a background thread when it starts, and afterwards only appended bytes are read."
        )


if __name__ == "__main__":
    main()
