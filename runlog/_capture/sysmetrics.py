"""System metrics: what the machine and the run's processes were doing, sampled while the run runs.

One sampler per run, a daemon thread: in the supervisor of a submitted run (it owns the
script's process tree: every rank and what they start), or in the process that started an
interactive run (``start_logging()``, ``Run.get_context()``'s offline run). Every interval it
writes one batch of ``system/...`` scalars through the run's one writer (one ``os.write``),
with step = whole milliseconds since the run was created, so the series of every sampler of
a run line up on wall time. The names are MLflow's (``mlflow/system_metrics/metrics/*.py``)
plus runlog's own for GPU temperature and the run's process tree (see ``SYSTEM_METRICS``).

Nothing here may hurt the program it watches: the heavy imports (``psutil``, ``pynvml``) and
NVML's start happen in the thread, a failing source is skipped with one DEBUG record on
``runlog.sysmetrics`` (said once per source and kind of failure), a process that exits
mid-sample is skipped, and the thread never keeps the interpreter alive.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._model.metrics import SYSTEM_PREFIX

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = [
    "DEFAULT_INTERVAL",
    "ENV_INTERVAL",
    "ENV_SWITCH",
    "PREFIX",
    "SYSTEM_METRICS",
    "Sampler",
    "SystemMetricsThread",
    "enabled",
    "start_for_run",
    "interval",
    "is_system_metric",
]

_log = logging.getLogger("runlog.sysmetrics")

ENV_SWITCH = "RUNLOG_SYSTEM_METRICS"
ENV_INTERVAL = "RUNLOG_SYSTEM_METRICS_INTERVAL"
DEFAULT_INTERVAL = 10.0  # seconds, as MLflow's sampling_interval
PREFIX = SYSTEM_PREFIX
MB = 1e6  # MLflow's megabytes are 10**6 bytes

# Name (without the prefix; ``{i}`` is a GPU's index) -> what it is. The first block is MLflow's set.
SYSTEM_METRICS: dict[str, str] = {
    "cpu_utilization_percentage": "CPU utilization of the machine, all cores (100 = every core busy)",
    "system_memory_usage_megabytes": "memory in use (in a container with a memory limit: the container's)",
    "system_memory_usage_percentage": "memory in use, % of the total (or of the container's limit)",
    "disk_usage_percentage": "used space of the root file system, %",
    "disk_usage_megabytes": "used space of the root file system",
    "disk_available_megabytes": "free space of the root file system",
    "network_receive_megabytes": "bytes received by every network interface since the sampler started",
    "network_transmit_megabytes": "bytes sent by every network interface since the sampler started",
    "gpu_{i}_utilization_percentage": "GPU i: time a kernel was running, % (NVML)",
    "gpu_{i}_memory_usage_megabytes": "GPU i: memory in use",
    "gpu_{i}_memory_usage_percentage": "GPU i: memory in use, % of its total",
    "gpu_{i}_power_usage_watts": "GPU i: power draw",
    "gpu_{i}_power_usage_percentage": "GPU i: power draw, % of its enforced limit",
    # runlog's own
    "gpu_{i}_temperature_celsius": "GPU i: core temperature",
    "process_memory_rss_megabytes": "resident memory of the run's process tree (all ranks and their children)",
    "process_cpu_utilization_percentage": "CPU of the run's process tree (100 = one core)",
    "process_count": "processes in the run's process tree",
}

_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"", "1", "true", "yes", "on"})
_warned: set[str] = set()


def is_system_metric(name: str) -> bool:
    return name.startswith(PREFIX)


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning(message, *args)


def enabled(argument: bool | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to sample: the argument when given, else ``RUNLOG_SYSTEM_METRICS`` (on unless 0/false/no/off)."""
    if argument is not None:
        return bool(argument)
    value = (os.environ if environ is None else environ).get(ENV_SWITCH, "").strip().lower()
    if value in _OFF:
        return False
    if value not in _ON:
        _warn_once(ENV_SWITCH, "%s=%r is not one of 1/0, true/false, yes/no, on/off: sampling system metrics", ENV_SWITCH, value)
    return True


def interval(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between samples: ``RUNLOG_SYSTEM_METRICS_INTERVAL``, else 10."""
    raw = (os.environ if environ is None else environ).get(ENV_INTERVAL, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        _warn_once(
            ENV_INTERVAL,
            "%s=%r is not a positive number of seconds: sampling system metrics every %g s; set it to e.g. 10 or unset it",
            ENV_INTERVAL, raw, DEFAULT_INTERVAL,
        )  # fmt: skip
        return DEFAULT_INTERVAL
    return value


class _Once:
    """DEBUG diagnostics said once per key: a source that keeps failing is not a record per sample."""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def __call__(self, key: str, message: str, *args: Any) -> None:
        if key not in self.said:
            self.said.add(key)
            _log.debug(message, *args)


class _Gpus:
    """NVML's GPUs, when ``nvidia-ml-py`` (module ``pynvml``) is installed and a driver answers."""

    def __init__(self, say: _Once) -> None:
        self.say = say
        self.nvml: Any = None
        self.handles: list[Any] = []
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            say("gpu-import", "no GPU metrics: nvidia-ml-py is not installed (pip install 'runlog[gpu]')")
            return
        try:
            nvml.nvmlInit()
        except Exception as exc:  # NVMLError: no driver, no GPU
            say("gpu-init", "no GPU metrics: NVML did not start (%s)", exc)
            return
        self.nvml = nvml
        try:
            self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(int(nvml.nvmlDeviceGetCount()))]
        except Exception as exc:
            say("gpu-count", "no GPU metrics: NVML lists no GPU (%s)", exc)
            self.handles = []

    def sample(self, out: dict[str, float]) -> None:
        nvml = self.nvml
        for i, handle in enumerate(self.handles):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                out[f"gpu_{i}_memory_usage_megabytes"] = memory.used / MB
                if memory.total:
                    out[f"gpu_{i}_memory_usage_percentage"] = memory.used / memory.total * 100
            except Exception as exc:
                self.say("gpu-memory", "GPU memory not sampled: %s", exc)
            try:
                out[f"gpu_{i}_utilization_percentage"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception as exc:
                self.say("gpu-utilization", "GPU utilization not sampled: %s", exc)
            try:
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                out[f"gpu_{i}_power_usage_watts"] = milliwatts / 1000
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
                if limit:
                    out[f"gpu_{i}_power_usage_percentage"] = milliwatts / limit * 100
            except Exception as exc:
                self.say("gpu-power", "GPU power not sampled: %s", exc)
            try:
                out[f"gpu_{i}_temperature_celsius"] = float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
            except Exception as exc:
                self.say("gpu-temperature", "GPU temperature not sampled: %s", exc)

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass
            self.nvml = None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # "max": no limit


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class _CgroupMemory:
    """The memory limit and use of this process's cgroup (v2 or v1), if it has a limit.

    psutil reports the host's memory; in a container with a limit the limit is what an OOM
    kill is about, so it is the total, and the cgroup's working set (usage less inactive
    file cache, as ``docker stats`` counts it) is the used memory.
    """

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")) -> None:
        self.usage: Path | None = None
        self.limit: Path | None = None
        self.stat: Path | None = None
        self.inactive_key = ""
        try:
            lines = proc_cgroup.read_text().splitlines()
        except OSError:
            return
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            hierarchy, controllers, rel = parts[0], parts[1], parts[2].lstrip("/")
            if hierarchy == "0" and controllers == "":  # v2: one unified hierarchy
                for folder in (root / rel, root):  # in a container's namespace the path is "/"
                    if (folder / "memory.max").exists():
                        self.usage, self.limit, self.stat = folder / "memory.current", folder / "memory.max", folder / "memory.stat"
                        self.inactive_key = "inactive_file"
                        return
            elif "memory" in controllers.split(","):  # v1
                for folder in (root / "memory" / rel, root / "memory"):
                    if (folder / "memory.limit_in_bytes").exists():
                        self.usage, self.limit = folder / "memory.usage_in_bytes", folder / "memory.limit_in_bytes"
                        self.stat, self.inactive_key = folder / "memory.stat", "total_inactive_file"
                        return

    def read(self, host_total: int) -> tuple[int, int] | None:
        """``(used, limit)`` in bytes when the cgroup's limit is below the host's memory, else None."""
        if self.limit is None or self.usage is None or self.stat is None:
            return None
        limit = _read_int(self.limit)
        if limit is None or not 0 < limit < host_total:
            return None
        usage = _read_int(self.usage)
        if usage is None:
            return None
        return max(usage - _stat_value(self.stat, self.inactive_key), 0), limit


def _linux_children(pid: int) -> list[int] | None:
    """The pids of ``pid``'s children from ``/proc/<pid>/task/*/children``; None if it cannot be read."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    children: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                children.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # a thread that ended while listing
            return None  # the kernel has no children files
        except (OSError, ValueError):
            continue
    return children


class Sampler:
    """Takes one sample: ``{name without the prefix: value}``; each source fails on its own.

    ``roots`` gives the pids whose process trees are "the run's processes" at each sample
    (the ranks of a submitted job; the process itself for an interactive run).
    """

    def __init__(self, roots: Callable[[], Iterable[int]], *, cgroup: _CgroupMemory | None = None, gpus: bool = True) -> None:
        import psutil

        self.psutil = psutil
        self.roots = roots
        self.say = _Once()
        self.cgroup = cgroup if cgroup is not None else _CgroupMemory()
        self.gpus = _Gpus(self.say) if gpus else None
        self._cpu_seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds at the last sample
        self._procs: dict[int, Any] = {}  # pid -> psutil.Process of the last sample (kept: its create time is read once)
        self._proc_children = _linux_children(os.getpid()) is not None
        self._last = time.time()
        psutil.cpu_percent(None)  # the first call only sets the baseline
        self._net0: tuple[float, float] | None = None
        try:
            net = psutil.net_io_counters()
            self._net0 = (net.bytes_recv / MB, net.bytes_sent / MB)
        except Exception as exc:
            self.say("network", "network not sampled: %s", exc)
        self._tree({})  # baseline of the processes' CPU times

    def sample(self) -> dict[str, float]:
        psutil = self.psutil
        out: dict[str, float] = {}
        try:
            out["cpu_utilization_percentage"] = float(psutil.cpu_percent(None))
        except Exception as exc:
            self.say("cpu", "CPU not sampled: %s", exc)
        try:
            memory = psutil.virtual_memory()
            used, total = memory.used, memory.total
            limited = self.cgroup.read(total)
            if limited is not None:
                used, total = limited
            out["system_memory_usage_megabytes"] = used / MB
            out["system_memory_usage_percentage"] = used / total * 100
        except Exception as exc:
            self.say("memory", "memory not sampled: %s", exc)
        try:
            disk = psutil.disk_usage(os.sep)
            out["disk_usage_percentage"] = float(disk.percent)
            out["disk_usage_megabytes"] = disk.used / MB
            out["disk_available_megabytes"] = disk.free / MB
        except Exception as exc:
            self.say("disk", "disk not sampled: %s", exc)
        if self._net0 is not None:
            try:
                net = psutil.net_io_counters()
                out["network_receive_megabytes"] = net.bytes_recv / MB - self._net0[0]
                out["network_transmit_megabytes"] = net.bytes_sent / MB - self._net0[1]
            except Exception as exc:
                self.say("network", "network not sampled: %s", exc)
        if self.gpus is not None:
            self.gpus.sample(out)
        try:
            self._tree(out)
        except Exception as exc:
            self.say("processes", "the run's processes not sampled: %s", exc)
        return out

    def _tree(self, out: dict[str, float]) -> None:
        """RSS, CPU and count of the roots' process trees; a process gone mid-sample is skipped."""
        psutil = self.psutil
        now = time.time()
        rss = 0
        cpu_seconds = 0.0
        count = 0
        seen: dict[tuple[int, float], float] = {}
        procs: dict[int, Any] = {}
        for pid in self._tree_pids():
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = psutil.Process(pid)
                with proc.oneshot():
                    key = (pid, proc.create_time())
                    times = proc.cpu_times()
                    resident = proc.memory_info().rss
            except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied
                continue
            procs[pid] = proc
            total = times.user + times.system
            # A process new since the last sample counts from its start (within this interval).
            before = self._cpu_seen.get(key, 0.0 if key[1] >= self._last else total)
            cpu_seconds += max(total - before, 0.0)
            seen[key] = total
            rss += resident
            count += 1
        elapsed = now - self._last
        self._cpu_seen, self._last, self._procs = seen, now, procs
        out["process_memory_rss_megabytes"] = rss / MB
        out["process_cpu_utilization_percentage"] = cpu_seconds / elapsed * 100 if elapsed > 0 else 0.0
        out["process_count"] = count

    def _tree_pids(self) -> list[int]:
        """The roots and their descendants.

        Linux lists a process's children in ``/proc/<pid>/task/<tid>/children``: a few small
        reads per process of the tree, where psutil's ``children()`` reads the status of every
        process of the machine. Elsewhere (or a kernel without it) one psutil scan per sample.
        """
        roots = list(dict.fromkeys(self.roots()))
        if self._proc_children:
            found: list[int] = []
            pending = roots
            listed: set[int] = set()
            while pending:
                pid = pending.pop()
                if pid in listed:
                    continue
                listed.add(pid)
                children = _linux_children(pid)
                if children is None:  # gone (or not ours to read): not part of the tree
                    continue
                found.append(pid)
                pending.extend(children)
            return found
        parents: dict[int, list[int]] = {}
        for proc in self.psutil.process_iter(["ppid"]):
            parents.setdefault(proc.info["ppid"], []).append(proc.pid)
        found, pending, listed = [], roots, set()
        while pending:
            pid = pending.pop()
            if pid not in listed:
                listed.add(pid)
                found.append(pid)
                pending.extend(parents.get(pid, ()))
        return found

    def close(self) -> None:
        if self.gpus is not None:
            self.gpus.close()


class SystemMetricsThread:
    """The sampler of one run: a daemon thread writing a batch of ``system/...`` scalars every ``interval`` s.

    ``writer`` is the run's writer in this process (``scalars(values, step)``); ``created``
    the run's creation time (step 0). ``start`` returns at once: psutil and NVML are loaded
    in the thread.
    """

    def __init__(
        self,
        writer: Any,
        roots: Callable[[], Iterable[int]],
        *,
        created: float,
        interval: float,
        name: str = "runlog-system-metrics",
        make_sampler: Callable[[Callable[[], Iterable[int]]], Sampler] = Sampler,
    ) -> None:
        self.writer = writer
        self.roots = roots
        self.created = created
        self.interval = interval
        self.samples = 0
        self._make_sampler = make_sampler
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> SystemMetricsThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling (a sample being taken is finished first, up to ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            sampler = self._make_sampler(self.roots)
        except Exception as exc:
            _log.debug("system metrics not sampled: the sampler did not start (%s)", exc)
            return
        said_write_error = False
        try:
            while not self._stop.wait(self.interval):
                values = sampler.sample()
                if not values or self._stop.is_set():
                    continue
                now = time.time()
                try:
                    self.writer.scalars({PREFIX + k: v for k, v in values.items()}, max(int((now - self.created) * 1000), 0))
                    self.samples += 1
                except Exception as exc:  # a full disk, a removed run folder: the run's code goes on
                    if not said_write_error:
                        said_write_error = True
                        _log.debug("system metrics not written: %s", exc)
        except Exception as exc:
            _log.debug("system metrics sampling stopped: %s", exc)
        finally:
            sampler.close()


def _values(metrics: Mapping[str, Any], name: str) -> list[float]:
    value = metrics.get(PREFIX + name)
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _megabytes(value: float) -> str:
    return f"{value / 1000:.2f} GB" if value >= 1000 else f"{value:.0f} MB"


def summary(metrics: Mapping[str, Any]) -> str | None:
    """One line about a run's system metrics (``get_metrics(system=True)`` shapes), or None without any.

    Peak process-tree RSS, peak memory in use, mean CPU and mean GPU utilization (over every GPU).
    """
    parts: list[str] = []
    rss = _values(metrics, "process_memory_rss_megabytes")
    if rss:
        parts.append(f"peak RSS {_megabytes(max(rss))} (the run's processes)")
    memory = _values(metrics, "system_memory_usage_megabytes")
    if memory:
        percent = _values(metrics, "system_memory_usage_percentage")
        parts.append(f"peak memory {_megabytes(max(memory))}" + (f" ({max(percent):.0f}%)" if percent else ""))
    cpu = _values(metrics, "cpu_utilization_percentage")
    if cpu:
        parts.append(f"mean CPU {sum(cpu) / len(cpu):.0f}%")
    gpus = sorted({m for m in metrics if m.startswith(PREFIX + "gpu_") and m.endswith("_utilization_percentage")})
    gpu = [v for m in gpus for v in _values(metrics, m[len(PREFIX) :])]
    if gpu:
        parts.append(f"mean GPU {sum(gpu) / len(gpu):.0f}% ({len(gpus)} GPU{'s' if len(gpus) != 1 else ''})")
    if not parts:
        return None
    samples = max(len(rss), len(cpu), len(memory))
    return ", ".join(parts) + f"; {samples} sample{'s' if samples != 1 else ''}"


def start_for_run(
    run: Run, enabled_by: bool | None, roots: Callable[[], Iterable[int]], environ: Mapping[str, str] | None = None
) -> SystemMetricsThread | None:
    """Sample system metrics of ``run`` in a daemon thread until stopped (``None`` when switched off).

    ``roots``: the pids whose process trees are the run's processes; ``environ``: where
    ``RUNLOG_SYSTEM_METRICS*`` are read (default ``os.environ``). Fills the run model's
    ``start_sampler`` seam (:mod:`runlog._model.hooks`).
    """
    if not enabled(enabled_by, environ):
        return None
    thread = SystemMetricsThread(
        run._writer,
        roots,
        created=float(run._record.get("created") or time.time()),
        interval=interval(environ),
        name=f"runlog-system-metrics-{run.id}",
    ).start()
    _log.debug("run %s: sampling system metrics every %g s", run.id, thread.interval)
    return thread
