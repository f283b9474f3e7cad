"""Metrics and logs of multi-process runs told apart by rank: get_metrics, the CLI and the viewer's API."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from rank_helpers import two_rank_run

import runlog
from runlog.cli import main


@pytest.fixture
def ranked(tmp_path: Path) -> runlog.Run:
    return two_rank_run(tmp_path / "store")


def test_get_metrics_gives_rank_0s_values_by_default_and_each_rank_on_request(ranked: runlog.Run) -> None:
    """By default a name both ranks logged is rank 0's (no merged saw-tooth), names one rank logged are kept;
    rank=N, rank="all" and rank="merged" give one rank's, each rank's, and every value in time order."""
    run = ranked
    assert run.get_metrics() == {"loss": [0.0, 1.0, 2.0], "only0": 0, "only1": 1}
    assert run.get_metrics(rank=1) == {"loss": [10.0, 11.0, 12.0], "only1": 1}
    assert run.get_metrics(rank="all") == {0: {"loss": [0.0, 1.0, 2.0], "only0": 0}, 1: {"loss": [10.0, 11.0, 12.0], "only1": 1}}
    assert run.get_metrics(rank="all") == runlog.get_rank_metrics(run)
    assert sorted(run.get_metrics(rank="merged")["loss"]) == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
    assert run.get_metrics("loss", rank=1) == {"loss": [10.0, 11.0, 12.0]}
    assert [(p.step, p.value) for p in run.get_metric_history("loss", rank=1)] == [(0, 10.0), (1, 11.0), (2, 12.0)]
    assert [p.value for p in run.get_metric_history("loss")] == [0.0, 1.0, 2.0]


def test_bad_or_missing_rank_is_a_clear_error(ranked: runlog.Run) -> None:
    """A rank the run does not have names the ranks it has; a rank of the wrong type says what is accepted."""
    with pytest.raises(ValueError, match=r"no rank 5; its ranks: 0, 1"):
        ranked.get_metrics(rank=5)
    with pytest.raises(ValueError, match="rank must be a rank number"):
        ranked.get_metrics(rank="first")
    with pytest.raises(ValueError, match="one series"):
        ranked.get_metric_history("loss", rank="all")


def test_a_single_process_run_is_the_same_whatever_the_rank(tmp_path: Path) -> None:
    """A run of one process: the default, rank=0 and rank="merged" agree (rank 0 is the whole run); rank=1 is an error."""
    run = runlog.Experiment(runlog.Workspace(tmp_path / "store"), "one").start_logging(outputs=False, snapshot_directory=None)
    for i in range(3):
        run.log("loss", float(i))
    expected = {"loss": [0.0, 1.0, 2.0]}
    assert run.get_metrics() == run.get_metrics(rank=0) == run.get_metrics(rank="merged") == expected
    assert run.get_metrics(rank="all") == {None: expected}
    with pytest.raises(ValueError, match="a single process"):
        run.get_metrics(rank=1)
    run.complete()


def test_cli_metrics_rank_option(ranked: runlog.Run) -> None:
    """`runlog metrics RUN --name loss` prints rank 0's history; --rank 1 rank 1's; --rank all each rank's (CSV gains a
    rank column, JSON one entry per rank); a missing rank is an error naming the ranks."""
    runner = CliRunner()
    store = str(ranked.experiment.workspace.store)
    result = runner.invoke(main, ["metrics", ranked.id, "--name", "loss", "--format", "json", "--store", store])
    assert result.exit_code == 0, result.output
    assert [p["value"] for p in json.loads(result.output)["loss"]] == [0.0, 1.0, 2.0]
    result = runner.invoke(main, ["metrics", ranked.id, "--name", "loss", "--rank", "1", "--format", "json", "--store", store])
    assert [p["value"] for p in json.loads(result.output)["loss"]] == [10.0, 11.0, 12.0]
    result = runner.invoke(main, ["metrics", ranked.id, "--name", "loss", "--rank", "all", "--format", "csv", "--store", store])
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["rank", "name", "index", "step", "time", "column", "value"]
    assert [(r[0], r[3], r[6]) for r in rows[1:]] == [
        ("0", "0", "0.0"), ("0", "1", "1.0"), ("0", "2", "2.0"), ("1", "0", "10.0"), ("1", "1", "11.0"), ("1", "2", "12.0"),
    ]  # fmt: skip
    result = runner.invoke(main, ["metrics", ranked.id, "--name", "only1", "--rank", "all", "--format", "json", "--store", store])
    assert list(json.loads(result.output)) == ["1"]  # only the rank that logged it
    result = runner.invoke(main, ["metrics", ranked.id, "--rank", "all", "--store", store])
    assert "(rank 0)" in result.output and "(rank 1)" in result.output
    result = runner.invoke(main, ["metrics", ranked.id, "--rank", "7", "--store", store])
    assert result.exit_code != 0 and "no rank 7; its ranks: 0, 1" in result.output
    result = runner.invoke(main, ["metrics", ranked.id, "--rank", "first", "--store", store])
    assert result.exit_code == 2 and "a rank number" in result.output


def test_viewer_series_answers_rank_0_by_default_and_lists_the_ranks(ranked: runlog.Run) -> None:
    """GET /api/runs/{id}/series: rank 0's loss by default with `ranks: [0, 1]`; ?rank=1 rank 1's; ?rank=merged both
    by time; a missing rank or a bad value is a 400 naming the choices; the run page lists each metric's ranks."""
    pytest.importorskip("starlette")
    from ui_helpers import serve

    with serve(ranked.experiment.workspace.store) as url:
        base = f"{url}/api/runs/{ranked.id}"
        s = httpx.get(f"{base}/series", params={"name": "loss"}).json()
        assert (s["x"], s["y"], s["ranks"], s["rank"]) == ([0, 1, 2], [0.0, 1.0, 2.0], [0, 1], 0)
        s = httpx.get(f"{base}/series", params={"name": "loss", "rank": "1"}).json()
        assert (s["y"], s["rank"]) == ([10.0, 11.0, 12.0], 1)
        s = httpx.get(f"{base}/series", params={"name": "loss", "rank": "merged", "x": "time"}).json()
        assert (s["y"], s["rank"]) == ([0.0, 1.0, 2.0, 10.0, 11.0, 12.0], None)  # rank 1 logged after rank 0
        s = httpx.get(f"{base}/series", params={"name": "only1"}).json()
        assert (s["y"], s["ranks"], s["rank"]) == ([1.0], [1], 1)  # a name one rank logged: that rank's
        bad = httpx.get(f"{base}/series", params={"name": "loss", "rank": "3"})
        assert bad.status_code == 400 and "its ranks: 0, 1" in bad.json()["error"]["message"]
        bad = httpx.get(f"{base}/series", params={"name": "loss", "rank": "first"})
        assert bad.status_code == 400 and "merged" in bad.json()["error"]["message"]
        missing = httpx.get(f"{base}/series", params={"name": "only1", "rank": "0"})
        assert missing.status_code == 404 and "ranks that did: 1" in missing.json()["error"]["message"]
        page = httpx.get(base).json()
        assert {m["name"]: m["ranks"] for m in page["metrics_list"]} == {"loss": [0, 1], "only0": [0], "only1": [1]}


def test_viewer_series_of_a_single_process_run_has_no_ranks(tmp_path: Path) -> None:
    """A run of one process: `ranks` is empty, `rank` null, and rank=0 is the whole run."""
    from runlog.ui.query import StoreQuery

    run = runlog.Experiment(runlog.Workspace(tmp_path / "store"), "one").start_logging(outputs=False, snapshot_directory=None)
    for i in range(3):
        run.log("loss", float(i))
    q = StoreQuery(tmp_path / "store")
    s = q.series(run.id, "loss")
    assert (s["y"], s["ranks"], s["rank"]) == ([0.0, 1.0, 2.0], [], None)
    assert q.series(run.id, "loss", rank=0)["y"] == s["y"]
    run.complete()
