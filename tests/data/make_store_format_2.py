"""Writes tests/data/store-format-2: a small store as runlog's store format 2 writer wrote it.

It was run once with the format 2 writer (runlog at commit 7db1348, before format 3) and its output
checked in, with ``expected.json`` saying what was logged; ``tests/test_store_formats.py`` reads it
with today's readers. Running it again with a newer runlog writes that runlog's format instead.

    PYTHONPATH=. python tests/data/make_store_format_2.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import runlog

HERE = Path(__file__).resolve().parent
STORE = HERE / "store-format-2"


def main() -> None:
    shutil.rmtree(STORE, ignore_errors=True)
    ws = runlog.Workspace(STORE, name="format-2")
    exp = runlog.Experiment(ws, "fixture")
    run = exp.start_logging(outputs=False, display_name="format two")
    expected: dict[str, object] = {}
    losses = [1.0 / (i + 1) for i in range(10)]
    for i, value in enumerate(losses):
        run.log("loss", value, step=i)
    run.log("acc", 0.75)
    run.log("epochs", 3)
    run.log("converged", True)
    run.log("nothing", None)
    run.log("phase", "done")
    run.log("huge", 2**80)
    run.log("nan", float("nan"))
    run.log_list("fib", [0, 1, 1, 2, 3])
    run.log_row("row", x=1, y=2.5)
    run.log_table("table", {"a": [1, 2], "b": ["u", "v"]})
    run.tag("lr", "0.1")
    run.add_properties({"seed": "42"})
    run.complete()
    expected["run_id"] = run.id
    expected["status"] = "Completed"
    expected["tags"] = {"lr": "0.1"}
    expected["properties"] = {"seed": "42"}
    expected["display_name"] = "format two"
    expected["metrics"] = {
        "loss": losses,
        "acc": 0.75,
        "epochs": 3,
        "converged": True,
        "nothing": None,
        "phase": "done",
        "huge": 2**80,
        "nan": "NaN",
        "fib": [0, 1, 1, 2, 3],
        "row": {"x": 1, "y": 2.5},
        "table": {"a": [1, 2], "b": ["u", "v"]},
    }
    expected["loss_steps"] = list(range(10))
    (HERE / "store-format-2.expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
