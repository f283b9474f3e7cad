"""A small training-like loop that logs every metric kind, then prints what it stored.

Run it with ``make demo``. It writes to ``./runlog-store`` (or ``$RUNLOG_STORE``).
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import runlog
from runlog import Experiment, Run, Workspace

log = logging.getLogger("quickstart")


def main() -> Run:
    # The program's own logging reaches the run's driver log with one extra handler.
    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(), runlog.RunHandler()])
    ws = Workspace.from_config()
    experiment = Experiment(workspace=ws, name="quickstart")
    random.seed(0)
    with experiment.start_logging(display_name="quickstart demo") as run:
        run.log("learning_rate", 0.01, description="the optimiser's step size")
        run.log("optimizer", "sgd")
        run.tag("demo")
        loss = 2.0
        for epoch in range(20):
            loss *= 0.85 + random.random() * 0.05
            run.log("loss", loss, step=epoch)
            run.log("accuracy", 1 - loss / 2.5, step=epoch)
            run.log_row("per-epoch", epoch=epoch, loss=loss, lr=0.01 * 0.95**epoch)
            if epoch % 5 == 4:  # a tagged record: a log line and metrics in one call
                log.info("epoch %d done", epoch, extra=runlog.metrics(val_loss=loss * 1.1, step=epoch))
        run.log_list("layer sizes", [784, 256, 64, 10])
        run.log_table("confusion", {"class": ["cat", "dog"], "precision": [0.91, 0.88], "recall": [0.87, 0.93]})
        xs = [i / 10 for i in range(-30, 31)]
        plt.plot(xs, [math.tanh(x) for x in xs])
        plt.title("tanh")
        run.log_image("tanh", plot=plt)
        run.upload_file("outputs/notes.txt", _notes())
    fetched = Run(experiment, run.id)
    print(f"run {fetched.id}: {fetched.get_status()}")
    for name, value in fetched.get_metrics().items():
        if isinstance(value, list):
            shown = f"{len(value)} values, last {value[-1]}"
        elif isinstance(value, dict):
            shown = "table with columns " + ", ".join(value)
        else:
            shown = value
        print(f"  {name}: {shown}")
    print(f"files: {', '.join(fetched.get_file_names())}")
    print(f"driver log: {len(fetched.get_details_with_logs()['logFiles']['logs/driver_log.txt'].splitlines())} lines")
    print(f"stored in: {fetched.path}")
    cli = runlog_command()
    steps = [
        (f"{cli} show {fetched.id}", "this run in the terminal"),
        (f"{cli} runs", "every run of the store"),
        (f"make ui   (or: {cli} ui)", "the web viewer, http://127.0.0.1:5050/"),
    ]
    width = max(len(command) for command, _ in steps)
    print("next steps:")
    for command, what in steps:
        print(f"  {command.ljust(width)}   # {what}")
    return fetched


def runlog_command() -> str:
    """How to type the `runlog` command here: `runlog` when it is on PATH, else its path (`.venv/bin/runlog`)."""
    script = Path(sys.executable).parent / ("runlog.exe" if os.name == "nt" else "runlog")
    on_path = shutil.which("runlog")
    if on_path is not None and (not script.exists() or Path(on_path).resolve() == script.resolve()):
        return "runlog"
    if not script.exists():
        return f"{sys.executable} -m runlog.cli"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())


def _notes() -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("trained for 20 epochs\n")
        return fh.name


if __name__ == "__main__":
    main()
