"""A multi-process run made quickly: real rank processes joining one run (as `runlog submit --nproc` starts them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import runlog

RANK_LOGGER = """
import os, sys, time
import runlog
run = runlog.Run.get_context()
rank = int(os.environ["RANK"])
for step in range(3):
    run.log("loss", 10.0 * rank + step, step=step)
run.log(f"only{rank}", rank)
"""


def two_rank_run(store: Path, experiment: str = "ranks", extra: str = "") -> runlog.Run:
    """A run whose metrics were logged by two processes of ranks 0 and 1 (``loss`` by both, ``only<r>`` by each;
    ``extra``: more lines of each rank's script, with ``run`` and ``rank`` defined)."""
    run = runlog.Experiment(runlog.Workspace(store), experiment).start_logging(outputs=False, snapshot_directory=None)
    root = Path(__file__).resolve().parent.parent
    for rank in (0, 1):
        env = {
            **os.environ, "RUNLOG_RUN_ID": run.id, "RUNLOG_STORE": str(store), "RUNLOG_EXPERIMENT": experiment,
            "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "PYTHONPATH": str(root),
        }  # fmt: skip
        subprocess.run([sys.executable, "-c", RANK_LOGGER + extra], env=env, check=True, timeout=120)
    return run
