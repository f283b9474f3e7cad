"""Searching a store's runs as it grows: the run index vs reading every run, side by side.

    python benchmarks/bench_index.py [--sizes 1000 10000] [--quick]

For each store size (small runs: 10 `loss` points, one `acc`, one tag, one property each):

- reading every run (what `find_runs` costs without an index: run.json, meta and metric files of each);
- the index built from scratch (the first search of a store);
- a search from another process (the index file; each run's events signature checked);
- a search again in the same process (a viewer: rows kept in memory, signatures checked);
- a filtered, sorted first page (`metrics.loss < 0.5`, `metrics.acc DESC`, 50 rows) in that process;
- disk per run and the index file's size.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

import runlog
from runlog._store.index import INDEX_FILE
from runlog._store.search import find_runs, index_for, iter_run_dirs, run_row, search


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


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [500, 2000]
    print(f"machine: {machine()}\n")
    print("### Searching the runs of a store: run index vs reading every run\n")
    print(
        "| runs | read every run | index built (first search) | search from another process (index file) "
        "| search again in-process | filtered, sorted first page | disk per run | index file |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="runlog-index-") as tmp:
            store = Path(tmp) / "store"
            make_store(store, n)
            every = timed(lambda s=store: [run_row(d) for d in iter_run_dirs(s)])
            build = timed(lambda s=store: find_runs(s))
            index_for(store).forget()
            other = timed(lambda s=store: find_runs(s))
            again = timed(lambda s=store: find_runs(s))
            rows, _ = find_runs(store)
            page = timed(lambda r=rows: search(r, "metrics.loss < 0.5", ["metrics.acc DESC"], 50))
            page_total = again + page
            runs_bytes = du(store / "experiments") / n
            print(
                f"| {n:,} | {every:.2f} s | {build:.2f} s | {other:.2f} s | {again:.2f} s | {page_total:.2f} s "
                f"| {runs_bytes / 1024:.1f} kB | {(store / INDEX_FILE).stat().st_size / n:.0f} B/run |"
            )
    print(
        "\nEvery search lists the run folders and checks each run's signature (an ended run: one `stat` of its "
        "events folder; a running one: a `scandir`), so it stays linear in the number of runs, but reads no "
        "unchanged run's files."
    )


if __name__ == "__main__":
    main()
