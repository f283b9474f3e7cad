"""runlog.cli.metrics: `runlog metrics`, a run's metrics or the history of named ones."""

from __future__ import annotations

import csv
import io
import json

import click
import pytest
from cli_helpers import invoke
from click.testing import CliRunner

from runlog import Run
from runlog.cli import main
from runlog.cli.metrics import RANK, metrics


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


def test_the_rank_option_takes_a_number_or_all() -> None:
    assert (RANK.convert("2", None, None), RANK.convert("all", None, None), RANK.convert(3, None, None)) == (
        2,
        "all",
        3,
    )
    with pytest.raises(click.BadParameter, match="expected a rank number"):
        RANK.convert("-1", None, None)


def test_a_rank_the_run_does_not_have_is_an_error(seeded: Run) -> None:
    result = CliRunner().invoke(metrics, [seeded.id, "--rank", "2"])
    assert result.exit_code == 1 and f"run {seeded.id}" in result.output


def test_a_row_metric_by_name_is_its_columns(seeded: Run) -> None:
    assert json.loads(invoke("metrics", seeded.id, "--name", "per-class", "--format", "json")) == {
        "per-class": {"cls": "cat", "f1": 0.8}
    }
    rows = list(csv.DictReader(io.StringIO(invoke("metrics", seeded.id, "--name", "per-class", "--format", "csv"))))
    assert [(r["column"], r["value"]) for r in rows] == [("cls", "cat"), ("f1", "0.8")]
