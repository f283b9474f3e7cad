"""Upload speed against one real MLflow server, side by side (ratios; not a pass/fail test).

1. throughput for 100,000 points: runlog's uploader (``runlog sync`` path) vs
   ``MlflowClient.log_batch`` with 1000 metrics per call (MLflow's best client path)
   vs ``mlflow.log_metric(..., synchronous=False)`` (MLflow's async path);
2. the cost of ``run.log`` with an uploader attached (uploading while logging) vs without.

Run: ``.venv/bin/python benchmarks/bench_upload.py [--points 100000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit("mlflow server did not start")


def bench_runlog_sync(url: str, store: Path, points: int) -> float:
    import runlog
    from runlog._upload import Uploader, UploadOptions, make_target

    ws = runlog.Workspace(store)  # no tracking URI: log offline, then time the upload alone
    run = runlog.Experiment(ws, "bench-runlog").start_logging(outputs=False)
    for i in range(points):
        run.log("loss", 1.0 / (i + 1))
    run.complete()
    options = UploadOptions()
    uploader = Uploader(run.path, make_target(url, options), options)
    started = time.perf_counter()
    assert uploader.sync()
    elapsed = time.perf_counter() - started
    assert uploader.stats.metric_events == points
    return elapsed


def bench_log_batch(url: str, points: int) -> float:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    exp = client.create_experiment(f"bench-log-batch-{time.time()}")
    run_id = client.create_run(exp).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (i + 1), now + i // 100, i) for i in range(points)]
    started = time.perf_counter()
    for i in range(0, points, 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    return time.perf_counter() - started


def bench_log_metric_async(url: str, points: int) -> float:
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(f"bench-async-{time.time()}")
    with mlflow.start_run():
        started = time.perf_counter()
        for i in range(points):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
        mlflow.flush_async_logging()
        elapsed = time.perf_counter() - started
    return elapsed


def bench_run_log_cost(url: str | None, store: Path, points: int) -> float:
    import runlog

    ws = runlog.Workspace(store, tracking_uri=url) if url else runlog.Workspace(store)
    run = runlog.Experiment(ws, "bench-cost").start_logging(outputs=False)
    log = run.log
    started = time.perf_counter()
    for i in range(points):
        log("loss", 1.0 / (i + 1))
    elapsed = time.perf_counter() - started
    run.complete()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--async-points", type=int, default=2_000, help="points for the (slow) async path")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best round of each path counts")
    args = parser.parse_args()
    os.environ.setdefault("RUNLOG_UPLOAD_TIMEOUT", "600")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc, url = start_server(root)
        try:
            n = args.points
            bench_log_batch(url, 2000)  # warm the server up (lazy imports, first connections)
            bench_runlog_sync(url, root / "warm", 2000)
            runlog_times, batch_times, off, on = [], [], [], []
            for r in range(args.repeat):  # interleaved, so that a busy moment of the machine hits both
                batch_times.append(bench_log_batch(url, n))
                runlog_times.append(bench_runlog_sync(url, root / f"store{r}", n))
            with contextlib.redirect_stdout(io.StringIO()):  # mlflow prints "View run ..." lines
                async_times = [bench_log_metric_async(url, args.async_points) * n / args.async_points]
            for r in range(3):
                off.append(bench_run_log_cost(None, root / f"store-off{r}", n) / n * 1e6)
                on.append(bench_run_log_cost(url, root / f"store-on{r}", n) / n * 1e6)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    t_runlog = statistics.median(runlog_times)
    print(f"### Upload of {n:,} points to one MLflow server (sqlite) on 127.0.0.1\n")
    print("| path | median s | min | max | points/s | ratio: runlog faster by |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, times in (
        ("runlog uploader (`runlog sync`)", runlog_times),
        ("`MlflowClient.log_batch`, 1000 per call", batch_times),
        (f"`mlflow.log_metric(synchronous=False)` (measured on {args.async_points:,} points, scaled)", async_times),
    ):
        med = statistics.median(times)
        print(f"| {label} | {med:.2f} | {min(times):.2f} | {max(times):.2f} | {n / med:,.0f} | {med / t_runlog:.2f} |")
    print(f"\n### `run.log` cost with an uploader attached ({n:,} calls, 3 repetitions)\n")
    print("| case | median µs/call | min | max | ratio to without |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(off)
    for label, values in (("without uploader", off), ("with uploader attached (server up)", on)):
        med = statistics.median(values)
        print(f"| {label} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
