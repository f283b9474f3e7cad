"""Every example program runs (as `make demo` would) and produces what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_logs_every_metric_kind(tmp_path: Path) -> None:
    """examples/quickstart.py completes a run with scalars, lists, rows, a table, an image and a file."""
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "store"), "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    ).stdout
    assert ": Completed" in out
    for expected in (
        "loss: 20 values", "val_loss: 4 values", "layer sizes: 4 values", "confusion: table with columns",
        "tanh: images/", "outputs/notes.txt", "driver log: 4 lines",
    ):  # fmt: skip
        assert expected in out
    import runlog

    run_id = out.split()[1].rstrip(":")
    run = runlog.Workspace(tmp_path / "store").get_run(run_id)
    assert len(run.get_metrics()["loss"]) == 20
    log = run.get_details_with_logs()["logFiles"]["logs/driver_log.txt"]
    assert "INFO:quickstart:epoch 19 done" in log


def test_quickstart_next_steps_work_as_printed(tmp_path: Path) -> None:
    """The demo's printed next steps run as printed (the full path of `runlog` when it is not on PATH)."""
    import shlex

    bare_path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if not (Path(p) / "runlog").exists())
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "store"), "MPLBACKEND": "Agg", "PATH": bare_path}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    ).stdout
    run_id = out.split()[1].rstrip(":")
    steps = [line.split("#")[0].strip() for line in out.splitlines()[out.splitlines().index("next steps:") + 1 :]]
    show = next(s for s in steps if " show " in s)
    runs = next(s for s in steps if s.endswith(" runs"))
    assert "make ui" in out
    assert not show.startswith("runlog ")  # not on PATH here: the printed command says where it is
    assert run_id in subprocess.run(shlex.split(show), capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout
    listed = subprocess.run(shlex.split(runs), capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout
    assert "Completed" in listed
