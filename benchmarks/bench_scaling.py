"""Memory and scaling of run.log: RSS while logging 10,000,000 points; cost per point as a run
grows from 10^3 to 10^7 points; cost per point as 1 -> 8 processes write at once; disk per run
(files and bytes of a tiny run: 10 ``loss`` points, one ``acc``, one tag, completed).

    python benchmarks/bench_scaling.py [--max-points 10000000] [--procs 1,2,4,8] [--only disk]

Memory is sampled (ru_maxrss and current RSS) in a fresh process at checkpoints while it logs;
"flat" means RSS does not grow with points logged once the store is being written. A
baseline process that keeps the same points in a Python list is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

MEMORY_CHILD = r"""
import json, sys, time
import runlog
mode, total, store = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20
# "upload-down": a tracking server that never answers (a closed loopback port); the uploader
# retries in the background while the loop logs. Memory must stay flat all the same.
tracking = "http://127.0.0.1:9" if mode == "upload-down" else None
run = runlog.Experiment(runlog.Workspace(store, tracking_uri=tracking), "mem").start_logging(outputs=False)
kept = []
log = run.log
out = []
checkpoints = sorted({total // 100, total // 10, total // 4, total // 2, total})
done = 0
start = time.perf_counter()
for cp in checkpoints:
    if mode in ("runlog", "upload-down"):
        for i in range(done, cp):
            log("loss", i * 1e-7, step=i)
    else:
        for i in range(done, cp):
            kept.append((i * 1e-7, i, time.time()))
    done = cp
    out.append([cp, round(rss_mb(), 1)])
run.complete()
print(json.dumps({"points": out, "seconds": time.perf_counter() - start}))
"""


def memory(total: int) -> str:
    lines = [
        "| points logged | runlog RSS (MiB) | runlog, upload server down (MiB) | baseline: same points kept in a list (MiB) |",
        "|---:|---:|---:|---:|",
    ]
    results = {}
    env = {**os.environ, "RUNLOG_UPLOAD_TIMEOUT": "1", "RUNLOG_UPLOAD_RETRY_MAX": "2"}
    for mode in ("runlog", "upload-down", "list"):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD, mode, str(total), tmp], capture_output=True, text=True, env=env
            )
            results[mode] = json.loads(proc.stdout) if proc.returncode == 0 else {"points": [], "error": proc.stderr[-300:]}
    for mode, result in results.items():
        if "error" in result:
            lines.append(f"\n{mode} failed: {result['error']}")
    for (cp, rss), (_, down), (_, base) in zip(results["runlog"]["points"], results["upload-down"]["points"], results["list"]["points"]):
        lines.append(f"| {cp:,} | {rss} | {down} | {base} |")
    secs = results["runlog"]["seconds"]
    lines.append(f"\n{total:,} points through run.log in {secs:.1f} s ({secs / total * 1e6:.2f} µs/point).")
    return "\n".join(lines)


def growth(max_points: int) -> str:
    import runlog

    lines = ["| points already in the run | µs/point for the next 100,000 (median of 3) |", "|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        run = runlog.Experiment(runlog.Workspace(tmp), "grow").start_logging(outputs=False)
        log = run.log
        logged = 0
        size = 1000
        while size <= max_points:
            for i in range(logged, size):
                log("loss", i * 1e-7, step=i)
            logged = size
            samples = []
            for _ in range(3):
                t = time.perf_counter()
                for i in range(100_000):
                    log("probe", i * 1e-7, step=i)
                samples.append((time.perf_counter() - t) / 100_000 * 1e6)
            lines.append(f"| {size:,} | {statistics.median(samples):.2f} |")
            size *= 10
        run.complete()
    return "\n".join(lines)


def _writer(store: str, run_id: str, n: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import runlog

    run = runlog.Workspace(store).get_run(run_id)
    log = run.log
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        log("loss", i * 1e-7, step=i)
    queue.put(((time.perf_counter() - t) / n * 1e6, (time.process_time() - c) / n * 1e6))


def processes(counts: list[int], n: int) -> str:
    import runlog

    lines = [
        "| writer processes on one run | wall µs/point per process (median) | CPU µs/point per process (median) | CPU vs 1 process |",
        "|---:|---:|---:|---:|",
    ]
    ctx = multiprocessing.get_context("spawn")
    base = None
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            run = runlog.Experiment(runlog.Workspace(tmp), "procs").start_logging(outputs=False)
            queue = ctx.Queue()
            procs = [ctx.Process(target=_writer, args=(tmp, run.id, n, queue)) for _ in range(count)]
            for p in procs:
                p.start()
            per = [queue.get(timeout=600) for _ in procs]
            for p in procs:
                p.join()
            run.complete()
        wall = statistics.median(p[0] for p in per)
        cpu = statistics.median(p[1] for p in per)
        base = base or cpu
        lines.append(f"| {count} | {wall:.2f} | {cpu:.2f} | {cpu / base:.2f} |")
    lines.append(
        f"\n({n:,} points per process; the machine has {multiprocessing.cpu_count()} cores, so beyond that "
        "processes share a core and wall time per point grows with the time-slicing, not with contention in the store.)"
    )
    return "\n".join(lines)


def disk_per_run(runs: int = 200) -> str:
    """Files and bytes on disk per tiny run (10 ``loss`` points, one ``acc``, one tag, completed)."""
    import runlog

    store = Path(tempfile.mkdtemp(prefix="runlog-bench-")) / "store"
    exp = runlog.Experiment(runlog.Workspace(store), "tiny")
    run_dirs = []
    for _ in range(runs):
        run = exp.start_logging(outputs=False)
        for i in range(10):
            run.log("loss", 1.0 / (i + 1), step=i)
        run.log("acc", 0.5)
        run.tag("lr", "0.1")
        run.complete()
        run_dirs.append(run.path)
    files = folders = size = blocks = 0
    for run_dir in run_dirs:
        for dirpath, _dirnames, filenames in os.walk(run_dir):
            folders += 1
            st = os.stat(dirpath)
            blocks += st.st_blocks * 512
            for name in filenames:
                st = os.stat(os.path.join(dirpath, name))
                files += 1
                size += st.st_size
                blocks += st.st_blocks * 512
    return (
        "| files per run | folders per run | bytes in files per run | on disk per run (allocated, with folders) |\n"
        "|---:|---:|---:|---:|\n"
        f"| {files / runs:.1f} | {folders / runs:.1f} | {size / runs:,.0f} | {blocks / runs / 1024:,.1f} kB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-points", type=int, default=10_000_000)
    parser.add_argument("--procs", default="1,2,4,8")
    parser.add_argument("--per-proc", type=int, default=200_000)
    parser.add_argument("--only", choices=["disk"], help="only the disk-per-run figures")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    print("### Disk per tiny run (10 loss points, one acc, one tag, completed)\n")
    print(disk_per_run())
    if args.only == "disk":
        return
    print(f"### Memory while logging {args.max_points:,} points\n")
    print(memory(args.max_points))
    print("\n### Cost per point as the run grows\n")
    print(growth(args.max_points))
    print("\n### Concurrent writer processes\n")
    print(processes([int(c) for c in args.procs.split(",")], args.per_proc))


if __name__ == "__main__":
    main()
