"""runlog.cli.runs: `runlog experiments`, `runlog runs` and `runlog show`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import invoke
from click.testing import CliRunner

from runlog import Experiment, Run, Workspace
from runlog.cli import main, short_ids
from runlog.cli.runs import _listed, _run_rows, experiments


def test_experiments_and_runs_list_status_and_last_values(seeded: Run) -> None:
    """`runlog experiments` lists the experiment; `runlog runs` shows status and each metric's last value."""
    assert "test-exp" in invoke("experiments")
    out = invoke("runs", "--experiment", "test-exp")
    assert seeded.id in out and "Completed" in out
    assert "loss=0.25" in out and "lr=0.01" in out


def test_show_prints_details_metrics_and_files(seeded: Run) -> None:
    """`runlog show RUN` prints status, tags, metrics and files."""
    out = invoke("show", seeded.id)
    assert "Completed" in out and "best" in out and "seeded" in out
    assert "loss: [0.9, 0.5, 0.25]" in out and "outputs/f.txt" in out


def test_unknown_experiment_is_a_clear_error(seeded: Run) -> None:
    """`runlog runs --experiment` with an unknown name lists close names."""
    result = CliRunner().invoke(main, ["runs", "--experiment", "test-ex"])
    assert result.exit_code == 1 and "Did you mean test-exp" in result.output


def test_a_large_first_search_shows_a_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """While many runs are read into the run index, a bar shows on a terminal's stderr (never in a pipe)."""
    import sys

    from runlog.cli import _IndexProgress

    with _IndexProgress() as piped:
        piped(10, 10_000)
    assert piped._bar is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with _IndexProgress() as small:
        small(10, 20)
    assert small._bar is None  # a few runs: no bar
    with _IndexProgress() as progress:
        progress(10, 10_000)
        assert progress._bar is not None and progress._bar.live.is_started
        progress(10_000, 10_000)
        assert progress._bar.tasks[0].completed == 10_000
    assert not progress._bar.live.is_started


def test_runs_fits_80_columns_with_ids_cut_to_a_unique_prefix(exp: Experiment) -> None:
    """`runlog runs` in an 80-column terminal: no line is wider, each id is shown whole or as a unique
    prefix, and the prefix shown works as RUN."""
    runs = [exp.start_logging() for _ in range(3)]
    for run in runs:
        run.log("val_accuracy", 0.91)
        run.log("training_loss", 0.123456)
        run.complete()
    out = invoke("runs", env={"COLUMNS": "80"})
    assert max(len(line) for line in out.splitlines()) <= 80, out
    shown = short_ids([r.id for r in runs], [r.id for r in runs])
    for run in runs:
        assert shown[run.id] in out
        assert run.id in invoke("show", shown[run.id])
    assert "Completed" in out


def test_statuses_are_coloured_only_on_a_terminal(exp: Experiment) -> None:
    """A Failed run's status is red on a terminal (FORCE_COLOR) and plain text in a pipe."""
    run = exp.start_logging()
    run.fail(error_details="boom")
    coloured = invoke("runs", env={"FORCE_COLOR": "1"})
    assert "\x1b[1;31mFailed" in coloured
    plain = invoke("runs")
    assert "Failed" in plain and "\x1b[" not in plain
    assert "\x1b[1;31mFailed" in invoke("show", run.id, env={"FORCE_COLOR": "1"})


def test_the_store_is_read_not_created_by_runs(ws: Workspace) -> None:
    """An existing store reads fine: runs on an empty store prints an empty table."""
    assert "run" in invoke("runs", "--store", str(ws.store))


def test_runs_filter_and_order_by_use_mlflow_syntax(three: list[Run]) -> None:
    """`runlog runs --filter ... --order-by ... --limit N` selects and orders with MLflow's search syntax;
    a bad filter is a usage error carrying the parser's message."""
    out = invoke("runs", "--filter", "metrics.loss < 0.4", "--order-by", "metrics.loss ASC", "--format", "json")
    assert [r["run"] for r in json.loads(out)] == ["xyz", "abc-2"]
    out = invoke("runs", "--order-by", "attributes.run_name DESC", "--limit", "2", "--format", "json")
    assert [r["run"] for r in json.loads(out)] == ["xyz", "abc-2"]
    assert [r["run"] for r in json.loads(invoke("runs", "--filter", "abc-1", "--format", "json"))] == ["abc-1"]
    result = CliRunner().invoke(main, ["runs", "--filter", "metrics.loss >> 1"])
    assert result.exit_code == 2 and "--filter" in result.output and "position" in result.output


def test_runs_as_json_carry_status_start_and_last_values(seeded: Run) -> None:
    (row,) = json.loads(invoke("runs", "--format", "json"))
    assert (row["run"], row["experiment"], row["status"], row["damaged"]) == (seeded.id, "test-exp", "Completed", None)
    assert row["started"].startswith("20") and row["metrics"] == {"loss": 0.25, "lr": 0.01}


def test_show_as_json_adds_the_path_files_and_damage(seeded: Run) -> None:
    shown = json.loads(invoke("show", seeded.id, "--format", "json"))
    assert shown["path"] == str(seeded.path) and shown["damaged"] is None
    assert shown["files"] == ["logs/driver_log.txt", "outputs/f.txt"] and shown["metrics"]["lr"] == 0.01


def test_a_run_that_cannot_be_read_is_a_row_saying_why(seeded: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Run) -> Any:
        raise OSError("disk on fire")

    monkeypatch.setattr(Run, "_state", broken)
    assert _listed("test-exp", seeded)[3:] == (None, "unreadable: disk on fire")
    rows = _run_rows([seeded.experiment])
    assert [(r[1], r[2].id if r[2] else None, r[4]) for r in rows] == [
        ("test-exp", seeded.id, "unreadable: disk on fire")
    ]
    assert "unreadable: disk on fire" in invoke("runs")


def test_experiments_lists_each_with_its_run_count(seeded: Run, exp: Experiment) -> None:
    Run._start(Experiment(exp.workspace, "other"), run_id="o-1", outputs=None).complete()
    out = CliRunner().invoke(experiments, []).output
    assert "test-exp" in out and "other" in out
    assert [line.split("│")[2].strip() for line in out.splitlines() if "test-exp" in line or "other" in line] == [
        "1",
        "1",
    ]
