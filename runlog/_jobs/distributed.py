"""Processes of one multi-process job logging into one run.

- Started by ``experiment.submit`` / ``runlog submit --nproc N``: every rank gets
  ``RUNLOG_RUN_ID`` and finds the run through the environment.
- Started by a launcher of its own (``torchrun``, ``torch.distributed.launch``,
  DeepSpeed): ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are set but no
  ``RUNLOG_RUN_ID``. The ranks meet in a rendezvous file of the store,
  ``<store>/rendezvous/<key>.json``, whose key hashes what all ranks of one job
  launch share and no other launch does: the host, the launcher's pid and start
  time (the ranks' parent), ``TORCHELASTIC_RUN_ID``, ``TORCHELASTIC_RESTART_COUNT``,
  ``MASTER_ADDR``, ``MASTER_PORT`` and ``WORLD_SIZE``. The first rank to ask
  (an ``O_EXCL`` create) creates the run and writes its id there; the others wait
  for it (up to 60 s). The ranks then set ``RUNLOG_RUN_ID`` for their own children.
  The run ends when its ranks do: a rank that dies from an uncaught exception
  fails it at once; the last rank to exit cleanly completes it. (One machine:
  ranks on other nodes would need the store on a shared filesystem.)

Each rank records itself with a ``process`` meta event (pid, rank, local rank,
world size, host and the stem of its events files), so the rank of every metric
event can be told from the events file it is in: :func:`get_rank_metrics`.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import socket
import sys
import time
from typing import Any

from .._model.context import ENV_EXPERIMENT, ENV_RUN_ID, ENV_STORE
from .._model.metrics import shape_metrics
from .._model.run import Run, RunStatus
from .._model.workspace import Experiment, Workspace, _script_experiment_name
from .._store import layout
from .._store.reader import read_columns

__all__ = ["get_rank_metrics", "launched_rank", "launcher_run", "register_process"]

RENDEZVOUS_DIR = "rendezvous"
RENDEZVOUS_TIMEOUT = 60.0


def launched_rank() -> int | None:
    """This process's rank when a launcher set ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; else None."""
    env = os.environ
    if not all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return None
    try:
        return int(env["RANK"])
    except ValueError:
        return None


def _process_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rfind(b")") + 2 :].split()[19].decode()
    except (OSError, IndexError):
        return ""


def job_key() -> str:
    env = os.environ
    ppid = os.getppid()
    parts = [
        socket.gethostname(),
        str(ppid),
        _process_start_time(ppid),
        env.get("TORCHELASTIC_RUN_ID", ""),
        env.get("TORCHELASTIC_RESTART_COUNT", ""),
        env.get("MASTER_ADDR", ""),
        env.get("MASTER_PORT", ""),
        env.get("WORLD_SIZE", ""),
    ]
    return "|".join(parts)


def register_process(run: Run) -> None:
    """Record this rank in the run (a ``process`` meta event keyed by pid)."""
    env = os.environ
    try:
        run._writer.meta(
            "process",
            str(os.getpid()),
            {
                "rank": _int(env.get("RANK")),
                "local_rank": _int(env.get("LOCAL_RANK")),
                "world_size": _int(env.get("WORLD_SIZE")),
                "host": socket.gethostname(),
                "pidns": pid_namespace(),
                "events": run._writer._proc_id(),
            },
        )
    except Exception:  # recording the rank must never stop the script
        pass


def pid_namespace() -> int | None:
    """This process's pid namespace (the inode of ``/proc/self/ns/pid``): pids mean the same only within one."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def get_rank_metrics(run: Run) -> dict[int | None, dict[str, Any]]:
    """Each rank's metrics (``get_metrics()`` shapes) by rank; ``None`` collects processes that recorded no rank.

    ``run.get_metrics()`` merges every rank's values into one list per name (in
    time order); this tells them apart, e.g. ``{0: {"loss": [...]}, 1: {"loss": [...]}}``.
    """
    processes = run._reader.state().extra.get("process", {})
    rank_of = {str(p.get("events")).partition(".")[0]: p.get("rank") for p in processes.values() if isinstance(p, dict)}
    groups: dict[int | None, list[Any]] = {}
    for path in run._reader._event_files(layout.METRICS_SUFFIX):
        stem = path.name[: -len(layout.METRICS_SUFFIX)].partition(".")[0]  # "<proc>.<n>": files the process went on in
        groups.setdefault(rank_of.get(stem), []).append(path)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    shaped = {rank: shape_metrics(read_columns(files)) for rank, files in ordered}
    if shaped.get(None) == {}:  # only system metrics (a submitted run's supervisor): not a group of the user's
        del shaped[None]
    return shaped


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def launcher_run() -> Run | None:
    """The run shared by the ranks of a job started by torchrun (or a similar launcher)."""
    rank = launched_rank()
    if rank is None:
        return None
    ws = Workspace.from_config()
    exp = Experiment(ws, os.environ.get(ENV_EXPERIMENT) or _script_experiment_name())
    key = job_key()
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = ws.store / RENDEZVOUS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{digest}.json"
    try:
        fd = os.open(folder / f"{digest}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        run = _wait_for(exp, marker)
    else:
        os.close(fd)
        run = Run._create(
            exp,
            run_type="distributed",
            extra={"launcher": "torchrun", "world_size": _int(os.environ.get("WORLD_SIZE")), "job_key": key},
        )
        layout.write_json_atomic(marker, {"run_id": run.id, "experiment": exp.name, "key": key, "created": time.time()})
    os.environ[ENV_STORE] = str(ws.store)
    os.environ[ENV_EXPERIMENT] = run.experiment.name
    os.environ[ENV_RUN_ID] = run.id
    _install_rank_end(run, rank)
    return run


def _wait_for(exp: Any, marker: Any) -> Run:
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
    while True:
        try:
            data = layout.read_json(marker)
            return Run(Experiment(exp.workspace, data["experiment"], _skip_name_validation=True), data["run_id"])
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"rank {os.environ.get('RANK')} waited {RENDEZVOUS_TIMEOUT:.0f} s for the run of this job "
                    f"({marker}) to be created by another rank; set RUNLOG_RUN_ID to a run id to skip the rendezvous"
                ) from None
            time.sleep(0.05)


_failure: list[BaseException] = []


def _install_rank_end(run: Run, rank: int) -> None:
    previous = sys.excepthook

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        _failure.append(exc)
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    pid = os.getpid()

    def at_exit() -> None:
        if os.getpid() != pid:
            return
        _end_rank(run, rank)

    atexit.register(at_exit)


def _end_rank(run: Run, rank: int) -> None:
    try:
        ok = not _failure
        run._writer.meta("rank_end", str(rank), {"ok": ok, "pid": os.getpid()})
        state = run._reader.state()
        if state.status in RunStatus.TERMINAL:
            return
        if not ok:
            run.fail(error_details=_failure[-1])
            return
        ended = state.extra.get("rank_end", {})
        world = _int(os.environ.get("WORLD_SIZE")) or 1
        if isinstance(ended, dict) and len(ended) >= world and all(v.get("ok") for v in ended.values()):
            run.complete()
    except Exception:  # at exit there is nobody left to raise to
        pass
