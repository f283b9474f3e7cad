"""The run this process was started for, named by its environment.

A submitted script (and each of its ranks) is started with ``RUNLOG_RUN_ID`` /
``RUNLOG_EXPERIMENT`` / ``RUNLOG_STORE``; a job started by torchrun (or a similar launcher)
without them has ``RANK`` and ``WORLD_SIZE``, and its ranks meet in one run through a
rendezvous in the store (:func:`runlog._jobs.distributed.launcher_run`). This fills the run
model's ``environment_run`` seam (:mod:`runlog._model.hooks`): ``runlog._model.context``
asks once per process.
"""

from __future__ import annotations

import logging
import os

from .._model.context import ENV_EXPERIMENT, ENV_RUN_ID, ENV_STORE
from .._model.run import Run
from .._model.workspace import Experiment, Workspace
from .distributed import launcher_run, register_process

__all__ = ["environment_run"]

_log = logging.getLogger("runlog.run")


def environment_run() -> Run | None:
    """The run named by this process's environment, or ``None``; never raises (a warning says why)."""
    run_id = os.environ.get(ENV_RUN_ID)
    if run_id:
        try:
            ws = Workspace(os.environ.get(ENV_STORE))
            exp = Experiment(ws, os.environ.get(ENV_EXPERIMENT) or ws.find_run_experiment(run_id))
            run = Run(exp, run_id)
            _log.debug("found the submitted run %s in %s", run_id, ws.store)
            if os.environ.get("RANK") is not None:
                register_process(run)
            return run
        except Exception as exc:  # never let a broken environment break the script
            _log.warning(
                "RUNLOG_RUN_ID=%s names no readable run (%s); logging to a new local run instead. "
                "Set the level of the 'runlog' logger to DEBUG for details",
                run_id,
                exc,
            )
            return None
    if os.environ.get("RANK") is not None and os.environ.get("WORLD_SIZE") is not None:
        # Started by torchrun (or a similar launcher): the ranks share one run.
        try:
            joined = launcher_run()
            if joined is not None:
                register_process(joined)
            return joined
        except Exception as exc:
            _log.warning("could not join the run of this multi-process job (%s); using a local run", exc)
    return None
