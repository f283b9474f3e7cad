"""Fixtures of the CLI's tests: a seeded run, and three runs whose ids share a prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from runlog import Experiment, Run


@pytest.fixture()
def seeded(exp: Experiment, tmp_path: Path) -> Run:
    """A completed run with scalars, a row metric, a tag, a file and a log."""
    run = exp.start_logging(display_name="seeded")
    for i, loss in enumerate([0.9, 0.5, 0.25]):
        run.log("loss", loss, step=i)
    run.log("lr", 0.01)
    run.log_row("per-class", cls="cat", f1=0.8)
    run.tag("best")
    (tmp_path / "f.txt").write_text("file body")
    run.upload_file("outputs/f.txt", str(tmp_path / "f.txt"))
    run._writer.write_log("line one\nline two\n")
    run.complete()
    return run


@pytest.fixture()
def three(exp: Experiment) -> list[Run]:
    """Three runs with ids sharing a long prefix (``abc-1``, ``abc-2``, ``xyz``), the newest last."""
    runs = []
    for i, run_id in enumerate(["abc-1", "abc-2", "xyz"]):
        run = Run._start(exp, run_id=run_id, display_name=f"run {run_id}", outputs=None)
        run.log("loss", 1.0 / (i + 1), step=0)
        run.log("loss", 0.5 / (i + 1), step=5)
        run.complete()
        runs.append(run)
    return runs
