"""What the system-metrics sampler costs: `run.log` with it on vs off, and the CPU of one sample.

    python benchmarks/bench_sysmetrics.py [--n 300000] [--repeats 7] [--interval 0.05] [--quick]

1. `run.log(name, float)` in a loop while the sampler thread samples every ``--interval``
   seconds (200x the default rate of one sample per 10 s, so that a round of the loop sees
   several samples: an upper bound of what the default costs), against the same loop with no
   sampler, alternating rounds in one process (target: <= 1.05x).
2. One sample (`Sampler.sample()`: CPU, memory, disk, network, the process tree; no GPU here)
   plus its write (`writer.scalars`, one batch), CPU time of this process per sample, for a
   process tree of 1 and of 9 processes (8 idle children, as DataLoader workers).

Prints markdown. Not a test: nothing passes or fails on a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, measure, table

import runlog
from runlog._capture.sysmetrics import Sampler, SystemMetricsThread


def bench_log(n: int, repeats: int, interval: float) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-"))
    exp = runlog.Experiment(runlog.Workspace(tmp / "store"), "bench")
    run = exp.start_logging(outputs=False, log_system_metrics=False)
    pid = run._record["pid"]
    sampler = Sampler(lambda: [pid], gpus=False)  # built once: the rounds measure sampling, not psutil's import
    samples = []

    def off(count: int) -> None:
        log = run.log
        for i in range(count):
            log("loss", i * 0.001)

    def on(count: int) -> None:
        thread = SystemMetricsThread(run._writer, lambda: [pid], created=time.time(), interval=interval, make_sampler=lambda roots: sampler)
        thread.start()
        log = run.log
        for i in range(count):
            log("loss", i * 0.001)
        thread.stop()
        samples.append(thread.samples)

    on_name = f"run.log, sampler every {interval:g} s"
    results = measure({"run.log, no sampler": off, on_name: on}, n, repeats)
    run.complete()
    per_round = sorted(samples)[len(samples) // 2]
    # Steadier on a shared machine than the ratio of the medians: each round's on/off, back to back.
    paired = statistics.median(a / b for a, b in zip(results[on_name].per_call_us, results["run.log, no sampler"].per_call_us))
    return (
        f"### `run.log` with the sampler on vs off ({n:,} calls per round, {repeats} rounds; "
        f"median {per_round} samples per round with the sampler on)\n\n" + table(results, "run.log, no sampler")
        + f"\n\nPaired ratio (median over rounds of on / off measured back to back): **{paired:.2f}**"
    )


def bench_sample(count: int, repeats: int) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-"))
    run = runlog.Experiment(runlog.Workspace(tmp / "store"), "bench").start_logging(outputs=False, log_system_metrics=False)
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(8)]
    try:
        pid = run._record["pid"]
        alone = Sampler(lambda: [pid], gpus=False)
        own_tree = [pid, *(c.pid for c in children)]
        tree = Sampler(lambda: own_tree, gpus=False)
        writer = run._writer

        def one(sampler: Sampler) -> None:
            values = sampler.sample()
            writer.scalars({"system/" + k: v for k, v in values.items()}, 0)

        cases = {
            "sample + write, tree of 1 process": lambda k: [one(alone) for _ in range(k)] and None,
            "sample + write, tree of 9 processes": lambda k: [one(tree) for _ in range(k)] and None,
        }
        results = measure(cases, count, repeats, cpu=True)
        names = len(alone.sample())
    finally:
        for c in children:
            c.kill()
            c.wait()
        run.complete()
    return (
        f"### One sample ({names} values, no GPU) and its write: CPU time per sample ({count} samples x {repeats})\n\n"
        + table(results, "sample + write, tree of 1 process", unit="µs CPU/sample")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="100,000 calls, 100 samples, 5 rounds")
    args = parser.parse_args()
    n, samples, repeats = (100_000, 100, 5) if args.quick else (args.n, args.samples, args.repeats)
    print(f"machine: {machine()}\n")
    print(bench_log(n, repeats, args.interval))
    print()
    print(bench_sample(samples, repeats))


if __name__ == "__main__":
    main()
