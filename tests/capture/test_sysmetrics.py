"""System metrics (runlog._capture.sysmetrics): the sampler's sources, NVML through a fake, the switch and the interval."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from _repo import REPO

import runlog
from runlog._capture import sysmetrics as _sysmetrics
from runlog._capture.sysmetrics import Sampler, SystemMetricsThread, _CgroupMemory

# -- a fake pynvml: the functions runlog calls, with the shapes nvidia-ml-py returns ---------------


class FakeNVMLError(Exception):
    pass


def fake_pynvml(gpus: int = 2, *, fail: frozenset[str] = frozenset(), init_error: bool = False) -> types.ModuleType:
    """A module named pynvml whose functions answer like NVML for ``gpus`` devices; names in ``fail`` raise."""
    module = types.ModuleType("pynvml")
    calls: list[str] = []

    def call(name: str, result: Any) -> Any:
        calls.append(name)
        if name in fail:
            raise FakeNVMLError(f"{name}: Not Supported")
        return result

    def init() -> None:
        calls.append("nvmlInit")
        if init_error:
            raise FakeNVMLError("Driver Not Loaded")

    module.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
    module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    module.calls = calls  # type: ignore[attr-defined]
    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = lambda: calls.append("nvmlShutdown")  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: call("nvmlDeviceGetCount", gpus)  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: call("nvmlDeviceGetHandleByIndex", f"handle-{i}")  # type: ignore[attr-defined]

    def index(handle: str) -> int:
        return int(handle.rpartition("-")[2])

    module.nvmlDeviceGetMemoryInfo = lambda h: call(  # type: ignore[attr-defined]
        "nvmlDeviceGetMemoryInfo", types.SimpleNamespace(used=(index(h) + 1) * 2_000_000_000, total=16_000_000_000, free=0)
    )
    module.nvmlDeviceGetUtilizationRates = lambda h: call(  # type: ignore[attr-defined]
        "nvmlDeviceGetUtilizationRates", types.SimpleNamespace(gpu=40 + index(h), memory=10)
    )
    module.nvmlDeviceGetPowerUsage = lambda h: call("nvmlDeviceGetPowerUsage", 150_000 + 1000 * index(h))  # type: ignore[attr-defined]
    module.nvmlDeviceGetEnforcedPowerLimit = lambda h: call("nvmlDeviceGetEnforcedPowerLimit", 300_000)  # type: ignore[attr-defined]
    module.nvmlDeviceGetTemperature = lambda h, sensor: call("nvmlDeviceGetTemperature", 60 + index(h) + sensor)  # type: ignore[attr-defined]
    return module


@pytest.fixture()
def debug_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="runlog.sysmetrics")
    yield caplog


def _own_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "runlog.sysmetrics"]


def test_gpu_metrics_come_from_nvml_with_mlflows_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """With NVML answering for two GPUs, each gets MLflow's gpu_<i>_* names with values derived from NVML's."""
    nvml = fake_pynvml(2)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    sampler = Sampler(lambda: [os.getpid()])
    values = sampler.sample()
    sampler.close()
    assert values["gpu_0_memory_usage_megabytes"] == 2000.0
    assert values["gpu_1_memory_usage_megabytes"] == 4000.0
    assert values["gpu_1_memory_usage_percentage"] == pytest.approx(25.0)
    assert values["gpu_0_utilization_percentage"] == 40.0
    assert values["gpu_1_utilization_percentage"] == 41.0
    assert values["gpu_1_power_usage_watts"] == 151.0
    assert values["gpu_0_power_usage_percentage"] == pytest.approx(50.0)
    assert values["gpu_1_temperature_celsius"] == 61.0
    assert not [k for k in values if k.startswith("gpu_2")]
    assert nvml.calls[0] == "nvmlInit" and nvml.calls[-1] == "nvmlShutdown"  # type: ignore[attr-defined]


def test_every_sampled_name_is_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each name a sample holds (GPU names with their index replaced by {i}) is listed in SYSTEM_METRICS."""
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(1))
    sampler = Sampler(lambda: [os.getpid()])
    names = {k.replace("gpu_0_", "gpu_{i}_") for k in sampler.sample()}
    sampler.close()
    assert names == set(_sysmetrics.SYSTEM_METRICS)


def test_no_nvml_means_no_gpu_names_and_one_debug_record(monkeypatch: pytest.MonkeyPatch, debug_records: pytest.LogCaptureFixture) -> None:
    """Without nvidia-ml-py (import fails) samples have no gpu_ names, and only one DEBUG record says why."""
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    samplers = [Sampler(lambda: [os.getpid()]) for _ in range(1)]
    values = [samplers[0].sample() for _ in range(3)]
    assert all(not any(k.startswith("gpu_") for k in v) for v in values)
    assert all("cpu_utilization_percentage" in v for v in values)
    records = _own_records(debug_records)
    assert [r.levelno for r in records] == [logging.DEBUG]
    assert "runlog[gpu]" in records[0].getMessage()


def test_nvml_that_fails_to_start_is_one_debug_record(monkeypatch: pytest.MonkeyPatch, debug_records: pytest.LogCaptureFixture) -> None:
    """nvmlInit raising (no driver, no GPU): no GPU names, no warning, one DEBUG record over many samples."""
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(init_error=True))
    sampler = Sampler(lambda: [os.getpid()])
    for _ in range(3):
        assert not any(k.startswith("gpu_") for k in sampler.sample())
    sampler.close()
    records = _own_records(debug_records)
    assert len(records) == 1 and records[0].levelno == logging.DEBUG
    assert "Driver Not Loaded" in records[0].getMessage()


def test_one_failing_nvml_query_skips_only_its_names(monkeypatch: pytest.MonkeyPatch, debug_records: pytest.LogCaptureFixture) -> None:
    """A GPU whose power query is not supported still reports memory, utilization and temperature; said once."""
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(2, fail=frozenset({"nvmlDeviceGetPowerUsage"})))
    sampler = Sampler(lambda: [os.getpid()])
    for _ in range(3):
        values = sampler.sample()
        assert "gpu_1_utilization_percentage" in values and "gpu_1_temperature_celsius" in values
        assert not any("power" in k for k in values)
    sampler.close()
    assert len([r for r in _own_records(debug_records) if "power" in r.getMessage()]) == 1


# -- the run's process tree ------------------------------------------------------------------------


@pytest.fixture(params=["proc-children", "psutil-scan"])
def tree_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of listing the tree: Linux's /proc/<pid>/task/*/children, and psutil's scan (other systems)."""
    if request.param == "psutil-scan":
        monkeypatch.setattr(_sysmetrics, "_linux_children", lambda pid: None)
    elif _sysmetrics._linux_children(os.getpid()) is None:
        raise RuntimeError("this kernel has no /proc/<pid>/task/<tid>/children files")
    return str(request.param)


def test_process_tree_counts_children_and_their_memory(tmp_path: Path, tree_mode: str) -> None:
    """A root's child holding 60 MB is part of the tree: its RSS is in the total and it is counted."""
    ready = tmp_path / "ready"
    holder = f"import time, pathlib; b = bytearray(60_000_000); pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"
    root = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {holder!r}])"])
    try:
        _wait_for(ready.exists)
        sampler = Sampler(lambda: [root.pid], gpus=False)
        assert sampler._proc_children is (tree_mode == "proc-children")
        values = sampler.sample()
        assert values["process_count"] == 2
        assert values["process_memory_rss_megabytes"] >= 60.0 + psutil.Process(root.pid).memory_info().rss / 1e6 * 0.5
    finally:
        for proc in psutil.Process(root.pid).children(recursive=True):
            proc.kill()
        root.kill()
        root.wait()


def test_process_cpu_is_the_trees_cpu_time_over_the_interval() -> None:
    """Busy work between two samples shows up as process CPU; an idle interval as (nearly) none."""
    sampler = Sampler(lambda: [os.getpid()], gpus=False)
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    busy = sampler.sample()["process_cpu_utilization_percentage"]
    time.sleep(0.3)
    idle = sampler.sample()["process_cpu_utilization_percentage"]
    assert busy > 30.0
    assert idle < busy


def test_a_process_gone_mid_sample_is_skipped(monkeypatch: pytest.MonkeyPatch, tree_mode: str) -> None:
    """A root that no longer exists and a process that exits between listing and reading are skipped, not fatal."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # The root reaps its child and lives on: killing the grandchild must not end the root (it did, racing the read).
    root = subprocess.Popen([
        sys.executable, "-c",
        "import subprocess, sys, time; subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)",
    ])  # fmt: skip
    try:
        _wait_for(lambda: len(psutil.Process(root.pid).children()) == 1)
        (grandchild,) = psutil.Process(root.pid).children()
        sampler = Sampler(lambda: [gone.pid, root.pid], gpus=False)  # its baseline sees the grandchild alive
        assert len(sampler._cpu_seen) == 2
        real = sampler._tree_pids

        def listed_then_exits() -> list[int]:
            listed = real()
            assert grandchild.pid in listed
            grandchild.kill()  # listed, then gone before its memory and CPU are read
            grandchild.wait(10)
            return listed

        monkeypatch.setattr(sampler, "_tree_pids", listed_then_exits)
        values = sampler.sample()
        assert values["process_count"] == 1  # the root; the grandchild exited mid-sample, the other root is gone
        assert values["process_memory_rss_megabytes"] > 0
    finally:
        root.kill()
        root.wait()


# -- memory limits of a container ----------------------------------------------------------------


def _fake_cgroup_v2(tmp_path: Path, limit: str, current: int, inactive: int) -> _CgroupMemory:
    root = tmp_path / "cgroup"
    folder = root / "job.slice"
    folder.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (folder / "memory.max").write_text(limit + "\n")
    (folder / "memory.current").write_text(f"{current}\n")
    (folder / "memory.stat").write_text(f"anon 1\ninactive_file {inactive}\nactive_file 3\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("0::/job.slice\n")
    return _CgroupMemory(root, proc)


def test_cgroup_v2_limit_is_the_total_and_working_set_the_use(tmp_path: Path) -> None:
    """In a cgroup v2 container limited to 2 GB, memory % is its working set over the limit, not the host's."""
    cgroup = _fake_cgroup_v2(tmp_path, "2000000000", current=700_000_000, inactive=200_000_000)
    sampler = Sampler(lambda: [os.getpid()], cgroup=cgroup, gpus=False)
    values = sampler.sample()
    assert values["system_memory_usage_megabytes"] == pytest.approx(500.0)
    assert values["system_memory_usage_percentage"] == pytest.approx(25.0)


def test_cgroup_without_a_limit_leaves_the_hosts_memory(tmp_path: Path) -> None:
    """memory.max 'max' (no limit): the host's used/total from psutil."""
    cgroup = _fake_cgroup_v2(tmp_path, "max", current=700_000_000, inactive=0)
    assert cgroup.read(psutil.virtual_memory().total) is None
    values = Sampler(lambda: [], cgroup=cgroup, gpus=False).sample()
    host = psutil.virtual_memory()
    assert values["system_memory_usage_percentage"] == pytest.approx(host.used / host.total * 100, abs=5)


def test_cgroup_v1_limit(tmp_path: Path) -> None:
    """cgroup v1 (memory controller): limit_in_bytes is the total, usage less total_inactive_file the use."""
    folder = tmp_path / "cgroup" / "memory" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "memory.limit_in_bytes").write_text("1000000000\n")
    (folder / "memory.usage_in_bytes").write_text("600000000\n")
    (folder / "memory.stat").write_text("cache 5\ntotal_inactive_file 100000000\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    assert _CgroupMemory(tmp_path / "cgroup", proc).read(8_000_000_000) == (500_000_000, 1_000_000_000)


# -- the switch, the interval and the thread ---------------------------------------------------------


def test_switch_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """On by default; RUNLOG_SYSTEM_METRICS=0/false/off turns it off; an argument wins over the variable."""
    monkeypatch.delenv(_sysmetrics.ENV_SWITCH, raising=False)
    assert _sysmetrics.enabled() is True
    for off in ("0", "false", "OFF", " no "):
        monkeypatch.setenv(_sysmetrics.ENV_SWITCH, off)
        assert _sysmetrics.enabled() is False
    assert _sysmetrics.enabled(True) is True
    monkeypatch.setenv(_sysmetrics.ENV_SWITCH, "1")
    assert _sysmetrics.enabled(False) is False


def test_interval_from_environment_and_a_bad_one_warned_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The interval is RUNLOG_SYSTEM_METRICS_INTERVAL seconds; a non-positive or non-number one is one WARNING and 10 s."""
    monkeypatch.setattr(_sysmetrics, "_warned", set())
    monkeypatch.delenv(_sysmetrics.ENV_INTERVAL, raising=False)
    assert _sysmetrics.interval() == 10.0
    monkeypatch.setenv(_sysmetrics.ENV_INTERVAL, "0.25")
    assert _sysmetrics.interval() == 0.25
    for bad in ("-1", "abc", "0", "inf"):
        monkeypatch.setenv(_sysmetrics.ENV_INTERVAL, bad)
        assert _sysmetrics.interval() == 10.0
    warnings = [r for r in caplog.records if r.name == "runlog.sysmetrics" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and _sysmetrics.ENV_INTERVAL in warnings[0].getMessage()


class _ListWriter:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[tuple[dict[str, Any], int]] = []
        self.fail = fail

    def scalars(self, values: dict[str, Any], step: Any = None) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.batches.append((values, step))


def test_thread_writes_prefixed_batches_with_millisecond_steps() -> None:
    """The thread writes one batch per interval, every name under system/, step = ms since the run was created."""
    writer = _ListWriter()
    created = time.time() - 5.0
    thread = SystemMetricsThread(writer, lambda: [os.getpid()], created=created, interval=0.05).start()
    deadline = time.monotonic() + 30
    while len(writer.batches) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    thread.stop()
    assert not thread.running
    count = len(writer.batches)
    assert count >= 3
    values, step = writer.batches[0]
    assert all(k.startswith("system/") for k in values)
    assert "system/process_memory_rss_megabytes" in values
    assert 5000 <= step < 5000 + 30_000
    steps = [s for _, s in writer.batches]
    assert steps == sorted(steps)
    time.sleep(0.2)
    assert len(writer.batches) == count  # nothing after stop


def test_write_errors_are_one_debug_record_and_never_raise(debug_records: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that keeps failing (a full disk) costs one DEBUG record; the thread keeps going until stopped."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    writer = _ListWriter(fail=True)
    thread = SystemMetricsThread(writer, lambda: [os.getpid()], created=time.time(), interval=0.02).start()
    time.sleep(0.3)
    assert thread.running
    thread.stop()
    messages = [r.getMessage() for r in _own_records(debug_records)]
    assert len([m for m in messages if "not written" in m]) == 1


def test_a_sampler_that_cannot_start_ends_the_thread_quietly(debug_records: pytest.LogCaptureFixture) -> None:
    """If the sampler cannot even be built, the thread ends with one DEBUG record and nothing is written."""

    def broken(roots: Any) -> Sampler:
        raise RuntimeError("no /proc")

    writer = _ListWriter()
    thread = SystemMetricsThread(writer, lambda: [], created=time.time(), interval=0.01, make_sampler=broken).start()
    thread._thread.join(10)
    assert not thread.running and writer.batches == []
    assert ["no /proc" in r.getMessage() for r in _own_records(debug_records)] == [True]


# -- where it runs: an interactive run's thread, a submitted run's supervisor ----------------------

RSS = "system/process_memory_rss_megabytes"


def _sampling(monkeypatch: pytest.MonkeyPatch, interval: float = 0.1) -> None:
    monkeypatch.setenv(_sysmetrics.ENV_SWITCH, "1")
    monkeypatch.setenv(_sysmetrics.ENV_INTERVAL, str(interval))


def _wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _sampler_threads(run: runlog.Run) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"runlog-system-metrics-{run.id}"]


def test_interactive_run_gets_system_series_at_the_interval(monkeypatch: pytest.MonkeyPatch, exp: runlog.Experiment) -> None:
    """start_logging() samples in a daemon thread every RUNLOG_SYSTEM_METRICS_INTERVAL s until the run ends."""
    _sampling(monkeypatch, 0.1)
    run = exp.start_logging()
    (thread,) = _sampler_threads(run)
    assert thread.daemon
    run.log("loss", 0.5)
    _wait_for(lambda: len(run.get_metric_history(RSS)) >= 4)
    run.complete()
    assert not thread.is_alive()
    points = run.get_metric_history(RSS)
    own = psutil.Process().memory_info().rss / 1e6
    assert all(p.value > own / 4 for p in points)  # this process's resident memory is in every sample
    times = [p.time for p in points]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.09  # never more often than the interval
    created = run._record["created"]
    assert all(abs(p.step - (p.time - created) * 1000) < 50 for p in points)  # step: ms since the run was created
    for name in ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes", "system/process_count"):
        assert len(run.get_metric_history(name)) == len(points)
    count = len(points)
    time.sleep(0.3)
    assert len(run.get_metric_history(RSS)) == count  # nothing after the end


def test_switched_off_by_argument_or_environment(monkeypatch: pytest.MonkeyPatch, exp: runlog.Experiment) -> None:
    """start_logging(log_system_metrics=False) and RUNLOG_SYSTEM_METRICS=0 start no sampler."""
    _sampling(monkeypatch, 0.05)
    off = exp.start_logging(log_system_metrics=False)
    assert _sampler_threads(off) == []
    off.complete()
    monkeypatch.setenv(_sysmetrics.ENV_SWITCH, "0")
    off_env = exp.start_logging()
    forced = exp.start_logging(log_system_metrics=True)
    assert _sampler_threads(off_env) == [] and len(_sampler_threads(forced)) == 1
    time.sleep(0.3)
    off_env.complete()
    forced.complete()
    assert off_env.get_metric_history(RSS) == [] and forced.get_metric_history(RSS) != []


def test_child_runs_start_no_second_sampler(monkeypatch: pytest.MonkeyPatch, exp: runlog.Experiment) -> None:
    """A child run in the same process shares its parent's machine: only the parent samples."""
    _sampling(monkeypatch, 0.05)
    with exp.start_logging() as parent:
        child = parent.child_run("c")
        assert _sampler_threads(child) == [] and len(_sampler_threads(parent)) == 1
        child.complete()


def test_a_script_that_never_ends_its_run_still_exits(tmp_path: Path, store: Path) -> None:
    """The sampler thread never keeps the interpreter alive; the run is completed at exit with its system series."""
    script = tmp_path / "work" / "forgets.py"
    script.write_text("import time, runlog\nrun = runlog.Run.get_context()\nrun.log('x', 1)\ntime.sleep(0.5)\nprint(run.id)\n")
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO), "RUNLOG_SYSTEM_METRICS": "1", "RUNLOG_SYSTEM_METRICS_INTERVAL": "0.1"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path / "work", env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    run = runlog.Workspace(store).get_run(proc.stdout.strip())
    assert run.get_status() == "Completed"
    assert len(run.get_metric_history(RSS)) >= 1


def test_submitted_two_rank_job_is_sampled_by_the_supervisor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exp: runlog.Experiment
) -> None:
    """Both ranks (each holding 40 MB) are in the supervisor's process-tree samples, written at the interval."""
    _sampling(monkeypatch, 0.1)
    work = tmp_path / "work"
    (work / "ranks.py").write_text(
        "import os, time, runlog\n"
        "block = bytearray(40_000_000)\n"
        "runlog.Run.get_context().log('rank', int(os.environ['RANK']))\n"
        "time.sleep(1.5)\n"
    )
    config = runlog.ScriptRunConfig(source_directory=".", script="ranks.py", distributed_job_config=runlog.PyTorchConfiguration(process_count=2))
    run = exp.submit(config)
    run.wait_for_completion(raise_on_error=True)
    counts = [p.value for p in run.get_metric_history("system/process_count")]
    rss = [p.value for p in run.get_metric_history(RSS)]
    assert len(rss) >= 3 and len(counts) == len(rss)
    assert max(counts) == 2  # the two ranks; the supervisor is not one of the job's processes
    assert max(rss) >= 80.0
    times = [p.time for p in run.get_metric_history(RSS)]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.09
    assert run.get_metrics().keys() == {"rank"}  # what the ranks logged, and only that
    assert run.get_metrics()["rank"] == 0 and sorted(run.get_metrics(rank="merged")["rank"]) == [0, 1]  # rank 0 by default (issue 15)
    assert runlog.get_rank_metrics(run) == {0: {"rank": 0}, 1: {"rank": 1}}  # the supervisor's samples are no "rank"
    assert len(run.get_metrics(system=True)[RSS]) == len(rss)


def test_submitted_run_switched_off_by_argument_or_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exp: runlog.Experiment
) -> None:
    """submit(log_system_metrics=False) and RUNLOG_SYSTEM_METRICS=0 in the Environment's variables: no system series."""
    _sampling(monkeypatch, 0.05)
    (tmp_path / "work" / "nap.py").write_text("import time\ntime.sleep(0.6)\n")
    by_argument = exp.submit(runlog.ScriptRunConfig(source_directory=".", script="nap.py"), log_system_metrics=False)
    env = runlog.Environment("no-sampling")
    env.environment_variables = {"RUNLOG_SYSTEM_METRICS": "0"}
    by_environment = exp.submit(runlog.ScriptRunConfig(source_directory=".", script="nap.py", environment=env))
    sampled = exp.submit(runlog.ScriptRunConfig(source_directory=".", script="nap.py"))
    for run in (by_argument, by_environment, sampled):
        run.wait_for_completion(raise_on_error=True)
    assert by_argument.get_metric_history(RSS) == [] and by_environment.get_metric_history(RSS) == []
    assert sampled.get_metric_history(RSS) != []  # the same script, sampled: the switches are what made the difference

# -- get_metrics() leaves system/ out unless asked -------------------------------------------------


def test_get_metrics_hides_system_names_unless_asked(exp: runlog.Experiment) -> None:
    """System series are not in get_metrics(); system=True or the name brings them; user shapes are unchanged."""
    run = exp.start_logging(log_system_metrics=False)
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log_row("table", a=1, b=2)
    run._writer.scalars({"system/cpu_utilization_percentage": 12.5, "system/process_count": 3}, 1000)
    run._writer.scalars({"system/cpu_utilization_percentage": 20.0, "system/process_count": 3}, 2000)
    run.complete()
    assert run.get_metrics() == {"loss": [0.5, 0.25], "table": {"a": 1, "b": 2}}
    assert run.get_metrics(system=True) == {
        "loss": [0.5, 0.25],
        "table": {"a": 1, "b": 2},
        "system/cpu_utilization_percentage": [12.5, 20.0],
        "system/process_count": [3, 3],
    }
    assert run.get_metrics("system/cpu_utilization_percentage") == {"system/cpu_utilization_percentage": [12.5, 20.0]}
    assert run.get_metrics(recursive=True) == {run.id: {"loss": [0.5, 0.25], "table": {"a": 1, "b": 2}}}
    assert run.get_metrics(recursive=True, system=True)[run.id]["system/process_count"] == [3, 3]
    assert [p.step for p in run.get_metric_history("system/process_count")] == [1000, 2000]


def test_only_system_metrics_give_an_empty_dict(exp: runlog.Experiment) -> None:
    """A run with nothing but system samples has get_metrics() == {} (as a run that logged nothing)."""
    run = exp.start_logging(log_system_metrics=False)
    run._writer.scalars({"system/process_count": 1}, 10)
    run.complete()
    assert run.get_metrics() == {}
    assert run.get_metrics(system=True) == {"system/process_count": 1}


# -- runlog show --------------------------------------------------------------------------------------


def _seed_system(exp: runlog.Experiment) -> runlog.Run:
    run = exp.start_logging(log_system_metrics=False)
    run.log("loss", 0.5)
    for i, (cpu, rss, gpu0, gpu1) in enumerate([(50.0, 900.0, 10.0, 30.0), (70.0, 1500.0, 50.0, 70.0)]):
        run._writer.scalars(
            {
                "system/cpu_utilization_percentage": cpu,
                "system/system_memory_usage_megabytes": 4000.0 + i * 1000,
                "system/system_memory_usage_percentage": 20.0 + i * 5,
                "system/process_memory_rss_megabytes": rss,
                "system/gpu_0_utilization_percentage": gpu0,
                "system/gpu_1_utilization_percentage": gpu1,
            },
            (i + 1) * 10_000,
        )
    run.complete()
    return run


def test_show_prints_one_system_line(exp: runlog.Experiment) -> None:
    """`runlog show` sums system metrics up in one line (peaks, means) and lists only user metrics."""
    from click.testing import CliRunner

    from runlog.cli import main

    run = _seed_system(exp)
    out = CliRunner().invoke(main, ["show", run.id], catch_exceptions=False).output
    (line,) = [line for line in out.splitlines() if line.startswith("system:")]
    assert line == (
        "system: peak RSS 1.50 GB (the run's processes), peak memory 5.00 GB (25%), mean CPU 60%, "
        "mean GPU 40% (2 GPUs); 2 samples"
    )
    assert "system/cpu_utilization_percentage" not in out and "loss: 0.5" in out


def test_show_without_system_metrics_prints_no_line(exp: runlog.Experiment) -> None:
    """A run without system samples gets no system line."""
    from click.testing import CliRunner

    from runlog.cli import main

    run = exp.start_logging(log_system_metrics=False)
    run.log("loss", 1)
    run.complete()
    out = CliRunner().invoke(main, ["show", run.id], catch_exceptions=False).output
    assert "system:" not in out


def test_metrics_command_finds_a_system_series_by_name(exp: runlog.Experiment) -> None:
    """`runlog metrics RUN --name system/...` prints that series; without --name only user metrics."""
    from click.testing import CliRunner

    from runlog.cli import main

    run = _seed_system(exp)
    named = CliRunner().invoke(main, ["metrics", run.id, "--name", "system/cpu_utilization_percentage", "--format", "json"])
    assert named.exit_code == 0, named.output
    history = json.loads(named.output)["system/cpu_utilization_percentage"]  # the history (issue 15)
    assert [point["value"] for point in history] == [50.0, 70.0]
    plain = CliRunner().invoke(main, ["metrics", run.id, "--format", "json"], catch_exceptions=False)
    assert json.loads(plain.output) == {"loss": 0.5}


# -- the viewer: a System section against wall time ---------------------------------------------------


def test_viewer_api_keeps_system_names_out_of_the_runs_columns(exp: runlog.Experiment, store: Path) -> None:
    """The runs table gets no column per system/ name; the run page lists them; their series chart by time."""
    from runlog.ui.query import StoreQuery

    run = _seed_system(exp)
    query = StoreQuery(store)
    assert query.runs()["metric_names"] == ["loss"]
    listed = {m["name"] for m in query.run(run.id)["metrics_list"]}
    assert {"loss", "system/cpu_utilization_percentage", "system/gpu_1_utilization_percentage"} <= listed
    series = query.series(run.id, "system/cpu_utilization_percentage", x="time")
    assert series["y"] == [50.0, 70.0] and series["x_axis"] == "time"
    assert series["x"][0] > 1e9  # unix seconds


def test_viewer_run_page_has_a_system_section(exp: runlog.Experiment, store: Path) -> None:
    """In a real browser: the charts tab has a System section (wall-time charts), the overview a System table."""
    import shutil

    from playwright.sync_api import sync_playwright
    from ui_helpers import serve

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("the browser tests need Debian's chromium: run `make test` (or apt-get install -y chromium)")
    run = _seed_system(exp)
    with serve(store) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/#/run/{run.id}?tab=charts")
        cpu = page.locator('#system .card[data-chart="system/cpu_utilization_percentage"]')
        cpu.locator("canvas").wait_for(timeout=15_000)
        assert cpu.locator("h3").inner_text() == "cpu_utilization_percentage"
        assert cpu.locator(".u-legend .u-series").first.inner_text().startswith("time")  # the x axis: wall time
        titles = page.locator("#system .card h3").all_inner_texts()
        assert titles[0] == "cpu_utilization_percentage" and "gpu_0_utilization_percentage" in titles
        assert page.locator('#values tr[data-metric="loss"]').count() == 1  # one value: shown as a value (issue 15)
        assert page.locator('#charts .card[data-chart^="system/"]').count() == 0
        page.goto(f"{url}/#/run/{run.id}?tab=overview")
        page.locator("#system-summary").wait_for(timeout=15_000)
        assert page.locator('#metrics-list tr[data-metric^="system/"]').count() == 0
        assert page.locator('#system-summary tr[data-metric="system/process_memory_rss_megabytes"]').inner_text().split("\t")[1:3] == ["1500", "900"]
        browser.close()
        assert errors == []


# -- shipped: MLflow system metrics, OpenTelemetry semantic conventions -------------------------------


def test_otlp_upload_uses_semantic_convention_names(exp: runlog.Experiment) -> None:
    """system/ values reach an OTLP receiver as system.cpu.utilization, process.memory.usage, hw.gpu.* ... in their units."""
    from otlp_receiver import Receiver, fast_options

    from runlog._upload import Uploader
    from runlog._upload.otlp import OtlpTarget

    run = exp.start_logging(log_system_metrics=False)
    run.log("loss", 0.5)
    run._writer.scalars(
        {
            "system/cpu_utilization_percentage": 50.0,
            "system/system_memory_usage_megabytes": 2000.0,
            "system/network_receive_megabytes": 1.5,
            "system/network_transmit_megabytes": 0.5,
            "system/process_memory_rss_megabytes": 300.0,
            "system/process_cpu_utilization_percentage": 100.0 * (os.cpu_count() or 1),
            "system/process_count": 3,
            "system/gpu_1_utilization_percentage": 80.0,
            "system/gpu_1_power_usage_watts": 150.0,
            "system/gpu_1_power_usage_percentage": 50.0,
        },
        1000,
    )
    run.complete()
    receiver = Receiver().start()
    try:
        assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    finally:
        receiver.stop()
    got = {(p["name"], tuple(sorted(p["attributes"].items()))): p["value"] for p in receiver.points}
    assert got == {
        ("loss", ()): 0.5,
        ("system.cpu.utilization", ()): pytest.approx(0.5),
        ("system.memory.usage", (("system.memory.state", "used"),)): pytest.approx(2e9),
        ("system.network.io", (("network.io.direction", "receive"),)): pytest.approx(1.5e6),
        ("system.network.io", (("network.io.direction", "transmit"),)): pytest.approx(0.5e6),
        ("process.memory.usage", ()): pytest.approx(3e8),
        ("process.cpu.utilization", ()): pytest.approx(1.0),  # every CPU busy: 1 (the run's host is this one)
        ("system/process_count", ()): 3,  # no convention for "the run's process tree": runlog's name
        ("hw.gpu.utilization", (("hw.id", "gpu_1"), ("hw.type", "gpu"))): pytest.approx(0.8),
        ("hw.power", (("hw.id", "gpu_1"), ("hw.type", "gpu"))): pytest.approx(150.0),
        ("system/gpu_1_power_usage_percentage", ()): 50.0,
    }


def test_otlp_metrics_carry_semantic_convention_units() -> None:
    """Mapped series carry the conventions' units (1 for ratios, By for bytes, W, Cel); others none."""
    from runlog._upload.otlp import OtlpTarget, semconv_point

    target = OtlpTarget("http://127.0.0.1:9")
    request = target._metrics_request(
        [("system/gpu_0_temperature_celsius", 70.0, 1, 1), ("system/disk_usage_megabytes", 10.0, 1, 1), ("loss", 1.0, 1, 1)]
    )
    units = {m.name: m.unit for m in request.resource_metrics[0].scope_metrics[0].metrics}
    assert units == {"hw.temperature": "Cel", "system.filesystem.usage": "By", "loss": ""}
    assert semconv_point("system/process_cpu_utilization_percentage", 50.0, None) is None  # CPU count unknown
    assert semconv_point("system/disk_usage_percentage", 40.0) == (
        "system.filesystem.utilization", pytest.approx(0.4), "1",
        {"system.filesystem.state": "used", "system.filesystem.mountpoint": "/"},
    )  # fmt: skip


def test_mlflow_server_gets_system_metrics_under_their_names(exp: runlog.Experiment, tmp_path: Path) -> None:
    """A real `mlflow server` receives system/ keys unchanged (its UI's system-metrics section shows system/ keys)."""
    import urllib.parse
    import urllib.request

    from _fault_proxy import MlflowServer

    from runlog._upload import Uploader, UploadOptions
    from runlog._upload.mlflow import MlflowTarget

    run = _seed_system(exp)
    server = MlflowServer(tmp_path)
    server.start()

    def rest(path: str, **params: Any) -> Any:  # MLflow's REST API, read straight (no client library in between)
        with urllib.request.urlopen(f"{server.url}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(params)}", timeout=30) as response:
            return json.loads(response.read())

    try:
        options = UploadOptions(retry_initial=0.01, retry_max=0.1, interval=0.02, log_interval=0.0, finish_timeout=20.0, request_timeout=10.0)
        target = MlflowTarget(server.url, options=options)
        try:
            assert Uploader(run.path, target, options).sync(timeout=60)
        finally:
            target.close()
        experiment_id = rest("experiments/get-by-name", experiment_name=exp.name)["experiment"]["experiment_id"]
        request = urllib.request.Request(
            f"{server.url}/api/2.0/mlflow/runs/search", data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            (remote,) = json.loads(response.read())["runs"]
        remote_id = remote["info"]["run_id"]
        keys = {m["key"] for m in remote["data"]["metrics"]}
        assert "loss" in keys
        history = rest("metrics/get-history", run_id=remote_id, metric_key="system/cpu_utilization_percentage")["metrics"]
        assert [(m["value"], int(m["step"])) for m in history] == [(50.0, 10_000), (70.0, 20_000)]
        assert {k for k in keys if k.startswith("system/")} == {
            "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
            "system/system_memory_usage_percentage", "system/process_memory_rss_megabytes",
            "system/gpu_0_utilization_percentage", "system/gpu_1_utilization_percentage",
        }  # fmt: skip
    finally:
        server.stop()
