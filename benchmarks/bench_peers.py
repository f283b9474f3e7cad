"""A metric point, end to end: runlog vs MLflow (local sqlite and a loopback server) vs wandb offline.

    python benchmarks/bench_peers.py [--n 20000] [--repeats 5]

Each case logs float points until they are stored and reports microseconds per point
(median, min, max over repetitions) and its ratio to `run.log`, all measured in this one run.
Caller-thread time (what a training loop feels) and total process CPU time (including the
peers' background threads and, for wandb, its service process is not counted: see notes) are
reported separately. Cases whose library is not installed are listed as skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

import runlog

Case = Callable[[int], None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mlflow_server(tmp: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp}/server.db",
         "--artifacts-destination", str(tmp / "art"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def measure_case(case: Case, n: int, repeats: int) -> tuple[list[float], list[float], list[float]]:
    """Per point, in µs: end to end (until stored), in the logging calls on the caller's thread,
    and process CPU time (all threads of this process)."""
    walls, callers, cpus = [], [], []
    for _ in range(repeats):
        _marks.clear()
        w0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            case(n)
        end, c1 = time.perf_counter(), time.process_time()
        start = _marks.get("calls_start", w0)
        walls.append((end - start) / n * 1e6)
        callers.append((_marks.get("calls_end", end) - start) / n * 1e6)
        cpus.append((c1 - c0) / n * 1e6)
    return walls, callers, cpus


def runlog_cases(tmp: Path) -> dict[str, tuple[Case, float]]:
    run = runlog.Experiment(runlog.Workspace(tmp / "runlog-store"), "bench").start_logging(outputs=False)

    def run_log(n: int) -> None:
        log = run.log
        for i in range(n):
            log("loss", i * 0.001, step=i)

    fh = open(tmp / "floor.jsonl", "a")

    def json_floor(n: int) -> None:
        fd, dumps, write, now = fh.fileno(), json.dumps, os.write, time.time
        for i in range(n):
            write(fd, (dumps({"name": "loss", "value": i * 0.001, "step": i, "time": now()}) + "\n").encode())

    return {"runlog run.log": (run_log, 1.0), "json.dumps line + os.write (floor)": (json_floor, 1.0)}


def mlflow_cases(tmp: Path, tracking_uri: str, label: str) -> dict[str, tuple[Case, float]]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    exp_id = client.create_experiment(f"bench-{label}-{time.time_ns()}")

    # One run per case, started before measuring: the figures are per point, not per run.
    sync_run = client.create_run(exp_id).info.run_id
    async_run = client.create_run(exp_id).info.run_id

    def sync(n: int) -> None:
        mlflow.set_tracking_uri(tracking_uri)  # the fluent API is global: each case sets its own
        with mlflow.start_run(run_id=sync_run):
            for i in range(n):
                mlflow.log_metric("loss", i * 0.001, step=i)

    def asynchronous(n: int) -> None:
        mlflow.set_tracking_uri(tracking_uri)
        with mlflow.start_run(run_id=async_run):
            _marks["calls_start"] = time.perf_counter()
            for i in range(n):
                mlflow.log_metric("loss", i * 0.001, step=i, synchronous=False)
            _marks["calls_end"] = time.perf_counter()
            mlflow.flush_async_logging()  # until stored

    def batch(n: int) -> None:
        run_id = client.create_run(exp_id).info.run_id
        now = int(time.time() * 1000)
        for start in range(0, n, 1000):
            client.log_batch(run_id, metrics=[Metric("loss", i * 0.001, now, i) for i in range(start, min(n, start + 1000))])

    # Sync calls cost milliseconds each: measure them on fewer points (a fraction of n).
    return {
        f"mlflow.log_metric sync ({label})": (sync, 0.01),
        f"mlflow.log_metric synchronous=False ({label})": (asynchronous, 0.05),
        f"MlflowClient.log_batch of 1000 ({label})": (batch, 1.0),
    }


def wandb_cases(tmp: Path) -> dict[str, tuple[Case, float]]:
    import wandb

    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_DIR"] = str(tmp)
    os.environ["WANDB_SILENT"] = "true"

    def offline(n: int) -> None:
        # wandb.init (seconds: it starts a service process) is outside the figure; finish(),
        # which waits until the points are written, is inside: "until stored".
        with contextlib.redirect_stdout(io.StringIO()):
            run = wandb.init(project="bench", dir=str(tmp), mode="offline")
        _marks["calls_start"] = time.perf_counter()
        for i in range(n):
            run.log({"loss": i * 0.001}, step=i)
        _marks["calls_end"] = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            run.finish()

    return {"wandb.log offline (+ finish)": (offline, 0.2)}


# A case may mark where its logging calls start and end: set-up before the start is excluded,
# and the calls alone are the caller-thread cost (the rest is waiting until stored).
_marks: dict[str, float] = {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-server", action="store_true", help="skip the loopback mlflow server cases")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runlog-peers-"))
    cases: dict[str, tuple[Case, float]] = runlog_cases(tmp)
    skipped = []
    with contextlib.ExitStack() as stack:
        try:
            cases.update(mlflow_cases(tmp, f"sqlite:///{tmp}/mlflow.db", "local sqlite"))
            if not args.no_server:
                uri = stack.enter_context(mlflow_server(tmp))
                cases.update(mlflow_cases(tmp, uri, "loopback server"))
        except ImportError:
            skipped.append("mlflow (not installed)")
        try:
            cases.update(wandb_cases(tmp))
        except ImportError:
            skipped.append("wandb (not installed)")
        results = {}
        for name, (case, fraction) in cases.items():
            n = max(200, int(args.n * fraction))
            with contextlib.redirect_stdout(io.StringIO()):
                case(min(n, 200))  # warm up (imports, connections, first-run set-up)
            results[name] = (n, *measure_case(case, n, args.repeats))
    base = statistics.median(results["runlog run.log"][1])
    print(f"machine: {machine()}\n")
    print("### A metric point, end to end (until stored), and what the caller's thread feels\n")
    print(
        "| case | points per repetition | end to end µs/point (median) | min | max "
        "| caller-thread µs/point | process CPU µs/point | end-to-end ratio to run.log |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (n, walls, callers, cpus) in results.items():
        med = statistics.median(walls)
        print(
            f"| {name} | {n:,} | {med:.2f} | {min(walls):.2f} | {max(walls):.2f} "
            f"| {statistics.median(callers):.2f} | {statistics.median(cpus):.2f} | {med / base:.1f} |"
        )
    print(
        "\nProcess CPU excludes work done in other processes (wandb's service process, the mlflow "
        "server), so for those it understates the total."
    )
    if skipped:
        print(f"\nskipped: {', '.join(skipped)}")


if __name__ == "__main__":
    main()
