"""Metrics and logs of multi-process runs told apart by rank: get_metrics, the CLI and the viewer's API."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from job_helpers import INTERLEAVED
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
    for bad in (True, -1, 1.0, "1"):
        with pytest.raises(ValueError, match="rank must be a rank number"):
            ranked.get_metrics(rank=bad)

    class Index:  # a numpy integer is accepted as its int (anything with __index__)
        def __index__(self) -> int:
            return 1

    assert ranked.get_metrics(rank=Index()) == ranked.get_metrics(rank=1)  # type: ignore[arg-type]


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


RANK0 = "2026-01-01T00:00:01.000Z start 0\n2026-01-01T00:00:03.000Z step 0\n"
RANK1 = "2026-01-01T00:00:02.000Z start 1\nno time here\n2026-01-01T00:00:04.000Z step 1\n"


@pytest.fixture
def rank_logs_run(tmp_path: Path) -> runlog.Run:
    """A finished run with two ranks' driver logs whose lines start with their UTC time (as a submitted run's)."""
    run = runlog.Experiment(runlog.Workspace(tmp_path / "store"), "logs").start_logging(outputs=False, snapshot_directory=None)
    logs = run.path / "files" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "driver_log_rank_0.txt").write_text(RANK0)
    (logs / "driver_log_rank_1.txt").write_text(RANK1)
    run.complete()
    return run


def test_cli_logs_rank_all_interleaves_and_rank_n_picks_one(rank_logs_run: runlog.Run) -> None:
    """`runlog logs RUN --rank all` prints every rank's lines by time, prefixed; --rank 1 rank 1's log only;
    a rank the run does not have is an error naming its ranks; --name with --rank is refused."""
    runner = CliRunner()
    store = str(rank_logs_run.experiment.workspace.store)
    result = runner.invoke(main, ["logs", rank_logs_run.id, "--rank", "all", "--store", store])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == INTERLEAVED
    result = runner.invoke(main, ["logs", rank_logs_run.id, "--rank", "1", "--store", store])
    assert result.output == RANK1
    result = runner.invoke(main, ["logs", rank_logs_run.id, "--rank", "1", "--follow", "--store", store])
    assert result.exit_code == 0 and result.output == RANK1
    result = runner.invoke(main, ["logs", rank_logs_run.id, "--rank", "all", "--follow", "--store", store])
    assert result.exit_code == 0 and result.output.splitlines() == INTERLEAVED
    result = runner.invoke(main, ["logs", rank_logs_run.id, "--rank", "4", "--store", store])
    assert result.exit_code != 0 and "no rank 4; its ranks: 0, 1" in result.output
    result = runner.invoke(main, ["logs", rank_logs_run.id, "--rank", "1", "--name", "driver_log_rank_0.txt", "--store", store])
    assert result.exit_code == 2 and "not both" in result.output


def test_viewer_logs_api_lists_ranks_and_interleaves(rank_logs_run: runlog.Run) -> None:
    """GET /logs lists each rank's driver log; ?rank=all interleaves them by time (and a poll with offsets=next_offsets
    gets only new lines); ?rank=1 is rank 1's log; a bad rank or offsets is a 400."""
    pytest.importorskip("starlette")
    from ui_helpers import serve

    with serve(rank_logs_run.experiment.workspace.store) as url:
        base = f"{url}/api/runs/{rank_logs_run.id}/logs"
        listed = httpx.get(base).json()
        assert listed["ranks"] == [{"rank": 0, "name": "logs/driver_log_rank_0.txt"}, {"rank": 1, "name": "logs/driver_log_rank_1.txt"}]
        assert {"logs/driver_log_rank_0.txt", "logs/driver_log_rank_1.txt"} <= set(listed["logs"])
        view = httpx.get(base, params={"rank": "all"}).json()
        assert view["text"].splitlines() == INTERLEAVED
        assert [line["rank"] for line in view["lines"]] == [0, 1, 1, 0, 1]
        assert view["next_offsets"] == f"0:{len(RANK0)},1:{len(RANK1)}"
        with open(rank_logs_run.path / "files" / "logs" / "driver_log_rank_1.txt", "a") as fh:
            fh.write("2026-01-01T00:00:05.000Z more 1\n")
        poll = httpx.get(base, params={"rank": "all", "offsets": view["next_offsets"]}).json()
        assert poll["text"] == "[rank 1] 2026-01-01T00:00:05.000Z more 1\n"
        one = httpx.get(base, params={"rank": "1"}).json()
        assert (one["name"], one["text"]) == ("logs/driver_log_rank_1.txt", RANK1 + "2026-01-01T00:00:05.000Z more 1\n")
        bad = httpx.get(base, params={"rank": "9"})
        assert bad.status_code == 400 and "its ranks: 0, 1" in bad.json()["error"]["message"]
        bad = httpx.get(base, params={"rank": "all", "offsets": "zero"})
        assert bad.status_code == 400 and "RANK:OFFSET" in bad.json()["error"]["message"]


def test_cli_submit_nproc_streams_every_rank_prefixed() -> None:
    """`runlog submit --nproc 2` streams both ranks' driver logs as they grow, each line prefixed with its rank."""
    Path("ddp.py").write_text("import os\nprint(f\"hello from rank {os.environ['RANK']}\", flush=True)\n")
    result = CliRunner().invoke(main, ["submit", "ddp.py", "--nproc", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("[rank 0] ") and line.endswith("hello from rank 0") for line in lines)
    assert any(line.startswith("[rank 1] ") and line.endswith("hello from rank 1") for line in lines)


def test_progress_bars_of_different_ranks_are_different_bars() -> None:
    """In an interleaved view each rank's tqdm bar is its own bar (a follower redraws a bar only over its own rank's)."""
    from runlog.cli import progress_key

    line = "2026-01-01T00:00:01.000Z train:  45%|####5     | 45/100"
    assert progress_key(f"[rank 0] {line}") == progress_key(f"[rank 0] {line.replace('45', '46')}")
    assert progress_key(f"[rank 0] {line}") != progress_key(f"[rank 1] {line}")
    assert progress_key(line) is not None and progress_key("[rank 1] plain text") is None
