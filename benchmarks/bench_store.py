"""run.log end to end vs logger.info through a logging.FileHandler; get_metrics of 1,000,000 points.

    python benchmarks/bench_store.py [--n 100000] [--points 1000000]

Prints markdown tables (medians of several repetitions with min and max, and ratios to the
baseline measured in the same run).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, measure, table

import runlog


def bench_log(n: int, repeats: int) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-"))
    ws = runlog.Workspace(tmp / "store")
    run = runlog.Experiment(ws, "bench").start_logging(outputs=False)
    logger = logging.getLogger("bench.filehandler")
    logger.propagate = False
    handler = logging.FileHandler(tmp / "plain.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s:%(name)s:%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    jsonl = open(tmp / "floor.jsonl", "a")
    import json

    def run_log(count: int) -> None:
        log = run.log
        for i in range(count):
            log("loss", i * 0.001)

    def run_log_step(count: int) -> None:
        log = run.log
        for i in range(count):
            log("loss_step", i * 0.001, step=i)

    def file_handler(count: int) -> None:
        info = logger.info
        for i in range(count):
            info("step %d loss %f", i, i * 0.001)

    def json_floor(count: int) -> None:
        fd = jsonl.fileno()
        dumps = json.dumps
        write = os.write
        now = time.time
        for i in range(count):
            write(fd, (dumps({"name": "loss", "value": i * 0.001, "time": now()}) + "\n").encode())

    results = measure(
        {
            "logger.info -> logging.FileHandler": file_handler,
            "run.log(name, float)": run_log,
            "run.log(name, float, step=i)": run_log_step,
            "json.dumps line + os.write (floor)": json_floor,
        },
        n,
        repeats,
    )
    run.complete()
    return table(results, "logger.info -> logging.FileHandler")


def bench_read(points: int, repeats: int) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-"))
    run = runlog.Experiment(runlog.Workspace(tmp / "store"), "bench").start_logging(outputs=False)
    log = run.log
    for i in range(points):
        log("loss", i * 1e-6, step=i)
    run.complete()
    fetched = runlog.Workspace(tmp / "store").get_run(run.id)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        values = fetched.get_metrics()["loss"]
        times.append(time.perf_counter() - start)
        assert len(values) == points
    times.sort()
    return (
        f"| get_metrics() of {points:,} points | median {times[len(times) // 2]:.3f} s "
        f"| min {times[0]:.3f} s | max {times[-1]:.3f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    print(f"### A metric point / a log record, end to end ({args.n:,} calls)\n")
    print(bench_log(args.n, args.repeats))
    print("\n### Read-back\n")
    print(bench_read(args.points, args.repeats))


if __name__ == "__main__":
    main()
