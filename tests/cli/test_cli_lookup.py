"""The CLI for looking at runs (issue 15, item 10): run id prefixes and `latest`, an 80-column runs
table, metric histories, no store created by reading, download never overwriting, coloured statuses."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runlog import Experiment, Run, Workspace
from runlog.cli import main, short_ids


def invoke(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fail(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code != 0, result.output
    return result.output


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


def test_a_unique_prefix_or_latest_names_a_run_in_every_command(exp: Experiment, three: list[Run], tmp_path: Path) -> None:
    """show, metrics, files, logs and download take a unique prefix or `latest` as RUN."""
    assert "run xyz" in invoke("show", "xy")
    assert json.loads(invoke("metrics", "abc-2", "--format", "json"))["loss"] == [0.5, 0.25]
    assert json.loads(invoke("metrics", "x", "--format", "json"))["loss"] == [1 / 3, 0.5 / 3]
    latest = invoke("show", "latest", "--format", "json")
    assert json.loads(latest)["runId"] == max(three, key=lambda r: r._state().start_time or 0).id
    for command in (["files", "x"], ["logs", "x"], ["download", "x", "--output", str(tmp_path / "d")]):
        invoke(*command)


def test_an_ambiguous_prefix_lists_the_candidates(three: list[Run]) -> None:
    """A prefix of several runs is an error naming each of them; an unknown one suggests close ids."""
    out = fail("show", "abc")
    assert "ambiguous" in out and "abc-1" in out and "abc-2" in out and "xyz" not in out
    assert "no run 'q'" in fail("show", "q")


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


def test_short_ids_are_unique_prefixes() -> None:
    """short_ids cuts each id to the shortest unique prefix (at least 8 characters), and keeps an id whole
    when its prefix would be another run's whole id."""
    every = ["exp_1700000000_aaaa", "exp_1700000000_aabb", "exp_1700000999_cccc", "short", "shorter"]
    cut = short_ids(every, every)
    assert cut["exp_1700000000_aaaa"] == "exp_1700000000_aaa"
    assert cut["exp_1700000999_cccc"] == "exp_17000009"
    assert cut["short"] == "short" and cut["shorter"] == "shorter"
    assert len(set(cut.values())) == len(every)


def test_metrics_name_prints_the_history_as_table_csv_and_json(three: list[Run]) -> None:
    """`runlog metrics RUN --name N`: every (step, time, value), in the table, CSV and JSON."""
    table = invoke("metrics", "xyz", "--name", "loss")
    assert "step" in table and "time" in table and "0.333333" in table and "0.166667" in table
    assert "│ 5" in table or " 5 " in table
    rows = list(csv.DictReader(io.StringIO(invoke("metrics", "xyz", "--name", "loss", "--format", "csv"))))
    assert [(r["step"], float(r["value"])) for r in rows] == [("0", 1 / 3), ("5", 0.5 / 3)]
    assert all(r["time"].startswith("20") for r in rows)
    history = json.loads(invoke("metrics", "xyz", "--name", "loss", "--format", "json"))["loss"]
    assert [(p["step"], p["value"]) for p in history] == [(0, 1 / 3), (5, 0.5 / 3)]


def test_a_folder_without_a_store_is_an_error_and_stays_empty(tmp_path: Path) -> None:
    """`--store` naming a folder that holds no store is an error saying so, for the CLI and `runlog ui`;
    nothing is created."""
    missing, empty = tmp_path / "typo", tmp_path / "empty"
    empty.mkdir()
    for folder in (missing, empty):
        for args in (["runs"], ["experiments"], ["show", "latest"], ["ui", "--port", "0"]):
            out = fail(*args, "--store", str(folder))
            assert "store" in out and str(folder) in out, out
    assert not missing.exists() and list(empty.iterdir()) == []


def test_download_never_overwrites_without_force(three: list[Run], tmp_path: Path) -> None:
    """`runlog download` refuses an existing file (folder or zip) and writes it with --force."""
    run = three[0]
    run._writer.write_log("log text\n")
    invoke("download", "abc-1", "--output", str(tmp_path / "d"))
    target = tmp_path / "d" / "logs" / "driver_log.txt"
    target.write_text("mine")
    out = fail("download", "abc-1", "--output", str(tmp_path / "d"))
    assert "--force" in out and target.read_text() == "mine"
    invoke("download", "abc-1", "--output", str(tmp_path / "d"), "--force")
    assert target.read_text() == "log text\n"
    (tmp_path / "a.zip").write_text("mine")
    assert "--force" in fail("download", "abc-1", "--zip", str(tmp_path / "a.zip"))
    invoke("download", "abc-1", "--zip", str(tmp_path / "a.zip"), "--force")
    assert (tmp_path / "a.zip").read_bytes().startswith(b"PK")


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


def test_logs_strip_colours_in_a_pipe_and_keep_them_on_a_terminal(exp: Experiment) -> None:
    """`runlog logs`: ANSI colours stripped when stdout is not a terminal; kept on one (FORCE_COLOR here),
    where other escapes (a window title) are still dropped."""
    run = exp.start_logging(outputs=None)
    run._writer.write_log("\x1b[32mgreen\x1b[0m ok\x1b]0;pwned\x07\n")
    run.complete()
    assert invoke("logs", run.id) == "green ok\n"
    coloured = invoke("logs", run.id, env={"FORCE_COLOR": "1"})
    assert coloured == "\x1b[32mgreen\x1b[0m ok\n"


def test_follow_draws_a_progress_bar_on_one_line(exp: Experiment) -> None:
    """`runlog logs --follow` on a terminal draws a bar's successive states over each other (\\r, clear line);
    in a pipe every line is kept, as plain text."""
    from runlog.cli import _LogOutput, progress_key

    states = [f"2026-12-04T10:00:0{i}.000Z [stderr] train: {p:3d}%|##  | {p}/100" for i, p in enumerate((10, 40, 100))]
    assert progress_key(states[0]) == progress_key(states[2]) == "[stderr] tqdm:train:"
    assert progress_key("2026-12-04T10:00:00.000Z epoch 1 done") is None
    run = exp.start_logging(outputs=None)
    run._writer.write_log("start\n" + "\n".join(states) + "\n\x1b[1mdone\x1b[0m\n")
    run.complete()
    drawn = invoke("logs", run.id, "--follow", env={"FORCE_COLOR": "1"})
    assert drawn.count("\r\x1b[K") == 2 and drawn.endswith("100/100\n\x1b[1mdone\x1b[0m\n")
    assert drawn.splitlines()[0].endswith("start") and "\n" not in drawn.split("train:  10%")[1].split("100/100")[0]
    piped = invoke("logs", run.id, "--follow")
    assert all(s in piped for s in states) and "\x1b" not in piped and "done" in piped
    out = io.StringIO()
    writer = _LogOutput(out, terminal=True)
    writer.write(states[0] + "\n" + states[1])
    writer.close()  # the unfinished last line is written, and the terminal line ended
    assert out.getvalue() == states[0] + "\r\x1b[K" + states[1] + "\n"
