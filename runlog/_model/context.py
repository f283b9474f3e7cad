"""Which run is active: the one every producer (handler, processor, exporter) logs to.

In order: the run of the innermost ``with run:`` / ``start_logging()`` in this
context; else the newest running run started in this process (threads started
before the run and forked children see it too); else the run a submitted script
was started for, named by the ``RUNLOG_*`` environment variables.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

from .hooks import seams

if TYPE_CHECKING:
    from .run import Run

__all__ = ["ENV_EXPERIMENT", "ENV_RUN_ID", "ENV_STORE", "active_run"]

ENV_STORE = "RUNLOG_STORE"
ENV_EXPERIMENT = "RUNLOG_EXPERIMENT"
ENV_RUN_ID = "RUNLOG_RUN_ID"

_log = logging.getLogger("runlog.run")

_current: ContextVar[Run | None] = ContextVar("runlog_current_run", default=None)
_process_runs: list[Run] = []
_lock = threading.RLock()
_env_run: Run | None = None
_env_checked = False


def active_run() -> Run | None:
    """The run that producers log to now, or ``None`` when there is none."""
    run = _current.get()
    if run is not None and not run._finished:
        return run
    for run in reversed(_process_runs):
        if not run._finished:
            return run
    return environment_run()


def environment_run() -> Run | None:
    """The run a submitted script (``RUNLOG_RUN_ID``) or a rank of a multi-process job was started for.

    Found once per process through the ``environment_run`` seam (script runs fill it: see
    :mod:`runlog._jobs.environment`).
    """
    global _env_run, _env_checked
    if _env_checked:
        return _env_run if _env_run is not None and not _env_run._finished else None
    with _lock:
        if not _env_checked:
            _env_run = seams.environment_run()
            _env_checked = True
    return _env_run if _env_run is not None and not _env_run._finished else None


def push(run: Run) -> object:
    """Make ``run`` the active run of this context; returns a token for :func:`pop`."""
    return _current.set(run)


def pop(token: object) -> None:
    try:
        _current.reset(token)  # type: ignore[arg-type]
    except ValueError:  # reset from another context (e.g. a generator finished elsewhere)
        _current.set(None)


def started(run: Run) -> None:
    """Record a run started in this process (it becomes active for every thread).

    The run is also named in the ``RUNLOG_*`` environment variables (unless this process
    already runs for a submitted run), so that processes started from here by spawn or
    exec (multiprocessing "spawn" workers, subprocesses) find it through
    ``Run.get_context()`` and the logging handler, as forked children do.
    """
    with _lock:
        _process_runs.append(run)
        _export(run)
    _current.set(run)
    for hook in seams.run_started:  # capture: hooks for uncaught exceptions, records logged before the run
        hook(run)


def finished(run: Run) -> None:
    """Forget ``run`` (ended): every object of this process for the same run is marked finished too.

    A run can be ended through another object than the one that started it
    (``Run(experiment, run.id).complete()``); the started one must then stop being
    active and refuse ``run.log`` as well.
    """
    global _env_run
    with _lock:
        for other in [r for r in _process_runs if r == run]:
            other._finished = True
            _process_runs.remove(other)
        _unexport(run)
        _uncaught_in.pop(run, None)
        if _env_run is not None and _env_run == run:
            _env_run._finished = True
    current = _current.get()
    if current is not None and current == run:
        current._finished = True
        _current.set(None)


# Runs whose names this process put into the environment, oldest first, with what was there before.
_exported: list[tuple[Run, dict[str, str | None]]] = []
_ENV_NAMES = (ENV_STORE, ENV_EXPERIMENT, ENV_RUN_ID)


def _export(run: Run) -> None:
    if os.environ.get(ENV_RUN_ID) and not _exported:
        return  # this process runs for a run named by its parent (a submitted script): keep that name
    before = {name: os.environ.get(name) for name in _ENV_NAMES}
    _exported.append((run, before))
    os.environ[ENV_STORE] = str(run.experiment.workspace.store)
    os.environ[ENV_EXPERIMENT] = run.experiment.name
    os.environ[ENV_RUN_ID] = run.id


def _unexport(run: Run) -> None:
    for i, (exported, before) in enumerate(_exported):
        if exported == run:
            del _exported[i]
            if i == len(_exported):  # it was the newest: name the previous run again, or what was there
                previous = _exported[-1][0] if _exported else None
                if previous is not None:
                    os.environ[ENV_STORE] = str(previous.experiment.workspace.store)
                    os.environ[ENV_EXPERIMENT] = previous.experiment.name
                    os.environ[ENV_RUN_ID] = previous.id
                else:
                    for name, value in (before if not _exported else {}).items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
            elif i < len(_exported):  # a newer one inherits what was there before this one
                newer, _ = _exported[i]
                _exported[i] = (newer, before)
            return


_uncaught: list[BaseException] = []
# The last uncaught exception noted while each run was running: only those runs end Failed at exit.
_uncaught_in: dict[Run, BaseException] = {}


def note_uncaught(exc: BaseException) -> None:
    """Remember an uncaught exception so that the runs running now, if ended at exit, are marked Failed."""
    _uncaught.append(exc)
    with _lock:
        for run in _process_runs:
            if not run._finished:
                _uncaught_in[run] = exc


@atexit.register
def _finish_at_exit() -> None:
    pid = os.getpid()
    for run in list(reversed(_process_runs)):
        if run._finished or run._owner_pid != pid:
            continue
        try:
            if run._ended_elsewhere():  # e.g. canceled from another process: keep that status
                continue
            uncaught = _uncaught_in.get(run)
            if uncaught is not None:
                run.fail(error_details=uncaught)
            else:
                run.complete()
        except Exception as exc:  # at exit there is nobody left to raise to
            _log.warning("could not finish run %s at exit: %s", run.id, exc)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
