"""The runlog CLI, through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from runlog import Experiment, Run
from runlog.cli import main


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


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


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


def test_metrics_in_every_format(seeded: Run) -> None:
    """`runlog metrics RUN` as a table, JSON (round-trips to get_metrics) and CSV; --name filters."""
    assert "0.01" in invoke("metrics", seeded.id)
    assert json.loads(invoke("metrics", seeded.id, "--format", "json")) == seeded.get_metrics()
    rows = list(csv.reader(io.StringIO(invoke("metrics", seeded.id, "--format", "csv", "--name", "loss"))))
    assert [r[:3] + r[4:] for r in rows] == [
        ["name", "index", "step", "column", "value"], ["loss", "0", "0", "", "0.9"], ["loss", "1", "1", "", "0.5"], ["loss", "2", "2", "", "0.25"],
    ]  # fmt: skip
    assert all(r[3].startswith("20") for r in rows[1:])  # each value's time (UTC)
    result = CliRunner().invoke(main, ["metrics", seeded.id, "--name", "los"])
    assert result.exit_code != 0 and "Did you mean loss" in result.output


def test_files_download_and_zip(seeded: Run, tmp_path: Path) -> None:
    """`runlog files` lists files; `runlog download` copies them or writes a zip of them."""
    assert invoke("files", seeded.id).split() == ["logs/driver_log.txt", "outputs/f.txt"]
    invoke("download", seeded.id, "--output", str(tmp_path / "dl"), "--name", "outputs/f.txt")
    assert (tmp_path / "dl" / "outputs" / "f.txt").read_text() == "file body"
    invoke("download", seeded.id, "--zip", str(tmp_path / "all.zip"))
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        assert sorted(zf.namelist()) == ["logs/driver_log.txt", "outputs/f.txt"]
        assert zf.read("outputs/f.txt") == b"file body"


def test_logs_prints_the_driver_log(seeded: Run) -> None:
    """`runlog logs RUN` prints the driver log."""
    assert invoke("logs", seeded.id) == "line one\nline two\n"


def test_an_unknown_run_id_suggests_close_matches(seeded: Run) -> None:
    """A mistyped run id fails with 'Did you mean <id>?'."""
    result = CliRunner().invoke(main, ["show", seeded.id[:-1] + "x"])
    assert result.exit_code == 1
    assert f"Did you mean {seeded.id}" in result.output


def test_an_unknown_command_suggests_the_close_one() -> None:
    """A mistyped command name fails with a suggestion and a usage hint."""
    result = CliRunner().invoke(main, ["rnus"])
    assert result.exit_code == 2
    assert "Did you mean 'runs'" in result.output and "--help" in result.output


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
