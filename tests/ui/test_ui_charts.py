"""runlog.ui.charts: a chart's series (x modes, zoom, ranks, downsampled) and a table metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import runlog
from runlog.ui.cache import RunCache
from runlog.ui.charts import MAX_POINTS, MetricNotFound, describe_metric, series, table
from runlog.ui.query import StoreQuery


def test_long_series_is_downsampled_keeping_extremes(store: Path) -> None:
    """A 50,000-point series comes back as about `points` points that still hold its min and max spikes."""
    exp = runlog.Experiment(runlog.Workspace(store), "big")
    run = exp.start_logging(outputs=False)
    values = [float(i % 100) for i in range(50_000)]
    values[12_345] = -500.0
    values[40_000] = 900.0
    for i, v in enumerate(values):
        run._writer.scalar("loss", v, i)
    run.complete()
    s = StoreQuery(store).series(run.id, "loss", points=1000)
    assert s["total"] == 50_000 and s["downsampled"] is True
    assert len(s["x"]) <= 1002
    assert min(s["y"]) == -500.0 and max(s["y"]) == 900.0
    assert 12_345 in s["x"] and 40_000 in s["x"]
    assert s["x"] == sorted(s["x"]) and s["x"][0] == 0 and s["x"][-1] == 49_999


def cache_of(run: runlog.Run) -> RunCache:
    cache = RunCache(run.experiment.name, run.id, run.path)
    cache.refresh()
    return cache


@pytest.fixture()
def run(store: Path) -> Any:
    run = runlog.Experiment(runlog.Workspace(store), "charts").start_logging(outputs=False)
    yield run
    run.complete()


def test_x_by_step_time_or_since_the_start(run: runlog.Run) -> None:
    for step in (0, 10, 20):
        run.log("loss", step / 10, step=step)
    cache = cache_of(run)
    by_step = series(cache, "loss")
    assert (by_step["x"], by_step["y"], by_step["total"], by_step["downsampled"]) == (
        [0, 10, 20],
        [0.0, 1.0, 2.0],
        3,
        False,
    )
    by_time = series(cache, "loss", x="time")
    assert by_time["x"] == sorted(by_time["x"]) and by_time["x"][0] > 1e9
    relative = series(cache, "loss", x="relative")
    start = cache.state.start_time
    assert relative["x"] == pytest.approx([t - start for t in by_time["x"]])
    with pytest.raises(ValueError, match="x must be"):
        series(cache, "loss", x="wall")


def test_a_zoom_keeps_the_points_in_range(run: runlog.Run) -> None:
    for step in range(100):
        run.log("loss", float(step), step=step)
    zoom = series(cache_of(run), "loss", xmin=10, xmax=19.5)
    assert zoom["x"] == list(range(10, 20)) and zoom["in_range"] == 10 and zoom["total"] == 100
    assert series(cache_of(run), "loss", xmin=95)["x"] == [95, 96, 97, 98, 99]


def test_points_are_clamped_and_a_missing_or_unchartable_metric_is_named(run: runlog.Run) -> None:
    for i in range(10):
        run.log("loss", float(i))
    run.log_row("eval", acc=0.9)
    cache = cache_of(run)
    assert len(series(cache, "loss", points=1)["x"]) <= 4  # at least 4 points: min/max of a bucket
    assert series(cache, "loss", points=10**9)["downsampled"] is False and MAX_POINTS == 100_000
    with pytest.raises(MetricNotFound, match="no scalar or list metric 'eval'; it has: eval, loss"):
        series(cache, "eval")
    with pytest.raises(MetricNotFound, match="no row or table metric 'loss'"):
        table(cache, "loss")


def test_a_table_merges_rows_and_tables_in_order(run: runlog.Run) -> None:
    run.log_row("eval", acc=0.5)
    run.log_table("eval", {"acc": [0.6, float("nan")], "f1": [0.1, 0.2]})
    answer = table(cache_of(run), "eval")
    assert answer["columns"] == ["acc", "f1"] and answer["rows"] == 3
    assert answer["data"] == {"acc": [0.5, 0.6, "NaN"], "f1": [None, 0.1, 0.2]}


def test_a_single_process_run_has_no_ranks_and_rank_all_is_refused(run: runlog.Run) -> None:
    run.log("loss", 1.0)
    cache = cache_of(run)
    answer = series(cache, "loss", rank=0)
    assert (answer["ranks"], answer["rank"], answer["y"]) == ([], None, [1.0])
    with pytest.raises(ValueError, match="one series per answer"):
        series(cache, "loss", rank="all")
    with pytest.raises(ValueError, match="no rank 3"):
        series(cache, "loss", rank=3)


def test_describe_metric_summarises_each_kind(run: runlog.Run) -> None:
    run.log("loss", 2.0)
    run.log("loss", 1.0)
    run.log_row("eval", acc=0.5, f1=0.1)
    cache = cache_of(run)
    images: list[dict[str, Any]] = []
    parts = cache.series_by_name()
    loss = describe_metric("loss", parts["loss"], cache.state, images, [0])
    assert (loss["kind"], loss["count"], loss["min"], loss["max"], loss["ranks"]) == ("s", 2, 1.0, 2.0, [0])
    evals = describe_metric("eval", parts["eval"], cache.state, images)
    assert (evals["kind"], evals["count"], evals["columns"], evals["ranks"]) == ("table", 1, ["acc", "f1"], [])
    assert images == []
