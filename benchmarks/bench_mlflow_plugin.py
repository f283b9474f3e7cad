"""`mlflow.log_metric` through runlog's tracking store vs MLflow's own local stores, and vs `run.log`.

    python benchmarks/bench_mlflow_plugin.py [--n 5000] [--repeats 5]

Cases, alternating in one process so that machine noise hits all of them:

- `mlflow.log_metric` into a run of the runlog store (`runlog:///...`, the plugin);
- the same call into MLflow's sqlite store and into its file store (`MLFLOW_ALLOW_FILE_STORE=true`);
- the same call into a store whose `log_batch` does nothing: MLflow's own client-side work, which no
  store avoids. The plugin's own cost is the runlog case minus this one, reported as a share of the call;
- `run.log` of the same values (runlog's own API).

Every case stores the point before the call returns (no `synchronous=False`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, measure, table

import runlog

Case = Callable[[int], None]


def _mlflow_case(uri: str, experiment: str) -> Case:
    """``mlflow.log_metric`` in an active run (``with mlflow.start_run():``, the usual training loop)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    run = mlflow.start_run()
    run_id = run.info.run_id
    mlflow.end_run()
    step = [0]

    def case(n: int) -> None:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        log_metric = mlflow.log_metric
        s = step[0]
        with mlflow.start_run(run_id=run_id):
            for i in range(n):
                log_metric("loss", 0.5, step=s + i)
        step[0] = s + n

    return case


def _null_store_uri() -> str:
    """A tracking store that keeps nothing: registers the scheme `nullstore` in this process."""
    from mlflow.entities import Experiment, LifecycleStage, Run, RunData, RunInfo
    from mlflow.store.tracking.abstract_store import AbstractStore
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    class NullStore(AbstractStore):  # type: ignore[misc]
        def __init__(self, store_uri: Any = None, artifact_uri: Any = None) -> None:
            super().__init__()

        def get_experiment_by_name(self, name: str) -> Experiment:
            return Experiment("1", name, "file:///tmp", LifecycleStage.ACTIVE)

        def get_experiment(self, experiment_id: str) -> Experiment:
            return Experiment("1", "null", "file:///tmp", LifecycleStage.ACTIVE)

        def create_run(self, *args: Any, **kwargs: Any) -> Run:
            return self.get_run("null-run")

        def get_run(self, run_id: str) -> Run:
            info = RunInfo(run_id, "1", "me", "RUNNING", 0, None, LifecycleStage.ACTIVE, "file:///tmp", "null")
            return Run(info, RunData())

        def update_run_info(self, run_id: str, *args: Any, **kwargs: Any) -> RunInfo:
            return self.get_run(run_id).info

        def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
            return None

    _tracking_store_registry.register("nullstore", NullStore)
    return "nullstore:///x"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 1000, 3
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    tmp = Path(tempfile.mkdtemp(prefix="runlog-mlflow-plugin-"))
    ws = runlog.Workspace(tmp / "store")
    run = runlog.Experiment(ws, "bench").start_logging(outputs=False)

    def run_log(n: int) -> None:
        log = run.log
        for i in range(n):
            log("loss", 0.5, step=i)

    cases: dict[str, Case] = {
        "mlflow.log_metric -> runlog store (plugin)": _mlflow_case(ws.get_mlflow_tracking_uri(), "bench-plugin"),
        "mlflow.log_metric -> MLflow sqlite store": _mlflow_case(f"sqlite:///{tmp}/mlflow.db", "bench-sqlite"),
        "mlflow.log_metric -> MLflow file store": _mlflow_case((tmp / "mlruns").as_uri(), "bench-file"),
        "mlflow.log_metric -> a store that keeps nothing": _mlflow_case(_null_store_uri(), "bench-null"),
        "runlog run.log": run_log,
    }
    # Time spent inside the plugin itself: its log_batch, timed around every call.
    import time

    from runlog.mlflow import RunlogTrackingStore

    inside = [0.0, 0]
    original = RunlogTrackingStore.log_batch

    def timed(self: RunlogTrackingStore, *a: Any, **k: Any) -> None:
        start = time.perf_counter()
        try:
            original(self, *a, **k)
        finally:
            inside[0] += time.perf_counter() - start
            inside[1] += 1

    RunlogTrackingStore.log_batch = timed  # type: ignore[method-assign]
    for case in cases.values():
        case(50)  # warm up: imports, first writes
    # The fast cases alternate with each other; sqlite and the file store (a transaction or files per
    # call: far slower) alternate among themselves with fewer calls, so the run stays short.
    slow = {k: v for k, v in cases.items() if "sqlite" in k or "file store" in k}
    fast = {k: v for k, v in cases.items() if k not in slow}
    inside[:] = [0.0, 0]
    results = measure(fast, args.n, args.repeats)
    own_us = inside[0] / max(1, inside[1]) * 1e6
    results.update(measure(slow, max(50, args.n // 20), args.repeats))
    plugin = results["mlflow.log_metric -> runlog store (plugin)"].median
    null = results["mlflow.log_metric -> a store that keeps nothing"].median
    print(f"machine: {machine()}\n")
    print("### A metric point through MLflow's client, by tracking store (until stored)\n")
    print(table(results, "mlflow.log_metric -> runlog store (plugin)"))
    sqlite = results["mlflow.log_metric -> MLflow sqlite store"].median
    file_store = results["mlflow.log_metric -> MLflow file store"].median
    print(
        f"\n- runlog store vs MLflow's sqlite store: **{sqlite / plugin:.0f}x faster** (target ≥ 20x); "
        f"vs its file store: {file_store / plugin:.1f}x faster"
    )
    print(
        f"- the plugin's own cost (time inside its `log_batch`, measured around every call): {own_us:.1f} µs of the "
        f"{plugin:.0f} µs call = **{own_us / plugin * 100:.1f}%** (target < 10%); the call into a store that keeps "
        f"nothing takes {null:.0f} µs: MLflow's client-side work, which no store avoids"
    )
    print(f"- `run.log` of the same point: {results['runlog run.log'].median:.2f} µs")
    run.complete()


if __name__ == "__main__":
    main()
