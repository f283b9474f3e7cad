"""Searching a store's runs as it grows: the run index vs reading every run, side by side.

    python benchmarks/bench_index.py [--sizes 1000 10000 100000] [--quick]

Stores beyond 1,000 runs are filled with copies: 1,000 runs made through the API, then their folders
copied under new run ids (what the index and a search cost depends on the folders and files, not on
how they were made; making 100,000 runs through the API alone takes most of an hour here).

For each store size (small runs: 10 `loss` points, one `acc`, one tag, one property each):

- reading every run (what `find_runs` costs without an index: run.json, meta and metric files of each);
- the index built from scratch (the first search of a store, answering one page);
- a filtered, sorted first page from another process (the index file made current from the journal, the
  page answered in SQL), and the same through `runlog runs --filter` in a new process (imports included);
- a filtered, sorted first page (`metrics.acc > 0.3`, `metrics.loss ASC`, 50 rows) in that process, a new
  query and the same again, and `metrics.loss < 0.5`, `metrics.acc DESC` after one running run logged a point;
- the bytes of one page of the viewer's `/api/runs` answer (100 runs), disk per run and the index's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

import runlog
from runlog._store.index import INDEX_FILE
from runlog._store.search import find_runs, index_for, iter_run_dirs, run_row


def make_store(store: Path, n: int) -> None:
    os.environ["RUNLOG_SYSTEM_METRICS"] = "0"
    ws = runlog.Workspace(store)
    exp = runlog.Experiment(ws, "sweep")
    for i in range(n):
        run = exp.start_logging(outputs=False)
        for step in range(10):
            run.log("loss", 1.0 / (step + 1 + i % 7), step=step)
        run.log("acc", (i % 100) / 100)
        run.tag("lr", str(0.1 / (1 + i % 5)))
        run.add_properties({"seed": str(i)})
        run.complete()


def fill_store(store: Path, n: int, made: int = 1000) -> None:
    """``made`` runs through the API, then copies of their folders under new run ids up to ``n``."""
    import json
    import secrets
    import shutil

    make_store(store, min(n, made))
    runs = store / "experiments" / "sweep" / "runs"
    templates = sorted(runs.iterdir())
    for i in range(n - len(templates)):
        run_id = f"sweep_{1700000000 + i}_{secrets.token_hex(4)}"
        shutil.copytree(templates[i % len(templates)], runs / run_id)
        record = json.loads((runs / run_id / "run.json").read_text())
        record["run_id"] = run_id
        (runs / run_id / "run.json").write_text(json.dumps(record))


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--store", type=Path, help="reuse this store for the largest size (filled by fill_store when empty; its index is deleted first)")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [500, 2000]
    from runlog.ui.query import StoreQuery

    print(f"machine: {machine()}\n")
    print("### Searching the runs of a store: run index vs reading every run\n")
    print(
        "| runs | read every run | index built from scratch (first search, one page) | first page from another process (index file) "
        "| `runlog runs --filter` (new process) | first page, warm, new query | same query again "
        "| after a running run logged | one /api/runs page | disk per run | index file |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    query = ("metrics.loss < 0.5", ["metrics.acc DESC"], 50)
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="runlog-index-") as tmp:
            store = args.store if args.store and n == max(args.sizes) else Path(tmp) / "store"
            if not (store / "experiments").is_dir():
                fill_store(store, n)
            index_for(store).forget()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store / INDEX_FILE}{suffix}").unlink(missing_ok=True)
            every = timed(lambda s=store: [run_row(d) for d in iter_run_dirs(s)])
            build = timed(lambda s=store: find_runs(s, max_results=50))  # made current, then one page
            index_for(store).forget()
            other = timed(lambda s=store: find_runs(s, *query))
            cli = timed(lambda s=store: subprocess.run(
                [sys.executable, "-m", "runlog.cli", "runs", "--store", str(s), "--filter", query[0], "--order-by",
                 query[1][0], "--limit", str(query[2])], check=True, capture_output=True,
            ))  # fmt: skip
            warm = timed(lambda s=store: find_runs(s, "metrics.acc > 0.3", ["metrics.loss ASC"], 50))
            again = timed(lambda s=store: find_runs(s, "metrics.acc > 0.3", ["metrics.loss ASC"], 50))
            live = runlog.Experiment(runlog.Workspace(store), "sweep").start_logging(outputs=False)
            live.log("loss", 0.25)
            find_runs(store, *query)
            live.log("loss", 0.2)
            changed = timed(lambda s=store: find_runs(s, *query))
            live.complete()
            answer = StoreQuery(store).runs(filter_string=query[0], order_by=query[1], max_results=100)
            page_bytes = len(json.dumps(answer))
            runs_bytes = du(store / "experiments") / n
            print(
                f"| {n:,} | {every:.2f} s | {build:.2f} s | {other:.2f} s | {cli:.2f} s | {warm:.3f} s | {again:.3f} s "
                f"| {changed:.3f} s | {page_bytes / 1024:.0f} kB | {runs_bytes / 1024:.1f} kB "
                f"| {sum(Path(f'{store / INDEX_FILE}{x}').stat().st_size for x in ('', '-wal')) / n:.0f} B/run |"
            )
    print(
        "\nA search first makes the index current: it reads the store's change journal from the point the index "
        "was last synced to (`runlog._store.journal`), checks the runs it names and the runs still running, and "
        "lists a runs folder again only when its time moved; then the filter and order-by run in SQL and only "
        "the page's rows are decoded (`runlog._store.sqlsearch`)."
    )


if __name__ == "__main__":
    main()
