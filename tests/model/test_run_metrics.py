"""runlog._model.run_metrics: logging metrics into a run and reading them back (the metric half of Run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

import runlog
from runlog import Experiment, StoreError
from runlog._model.run_metrics import RunMetrics
from runlog._store import RunReader, layout

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def test_log_list_accepts_any_iterable_and_concatenates(exp: Experiment) -> None:
    """log_list takes lists, tuples, ranges, generators and numpy arrays; always a list back."""
    run = exp.start_logging()
    run.log_list("one", [5])
    run.log_list("l", range(3))
    run.log_list("l", np.array([3.5, 4.5]))
    assert run.get_metrics() == {"one": [5], "l": [0, 1, 2, 3.5, 4.5]}
    with pytest.raises(runlog.InvalidMetricValue, match="Use run.log for a single value"):
        run.log_list("s", "abc")
    with pytest.raises(runlog.InvalidMetricValue, match="log_list takes an iterable"):
        run.log_list("n", 3)
    with pytest.raises(runlog.InvalidMetricValue, match="must be scalars"):
        run.log_list("nested", [[1], [2]])


def test_table_columns_of_unequal_length_name_the_columns_and_lengths(exp: Experiment) -> None:
    """log_table with ragged columns raises an error naming each column and its length."""
    run = exp.start_logging()
    with pytest.raises(runlog.InvalidMetricValue, match=r"'a': 2, 'b': 3"):
        run.log_table("t", {"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(runlog.InvalidMetricValue, match="dict of columns"):
        run.log_table("t", [1, 2])
    with pytest.raises(runlog.InvalidMetricValue, match="at least one column"):
        run.log_row("r")
    assert run.get_metrics() == {}


def test_steps_are_kept_in_the_history(exp: Experiment) -> None:
    """run.log(step=...) stores the step; get_metric_history returns value, step and time."""
    run = exp.start_logging()
    run.log("loss", 0.5, step=10)
    run.log("loss", 0.25, step=20)
    run.log("loss", 0.2)
    points = run.get_metric_history("loss")
    assert [(p.value, p.step) for p in points] == [(0.5, 10), (0.25, 20), (0.2, None)]
    assert points[0].time <= points[1].time <= points[2].time
    with pytest.raises(runlog.InvalidMetricValue, match="step must be an int"):
        run.log("loss", 1.0, step=1.5)
    assert run.get_metrics(name="loss") == {"loss": [0.5, 0.25, 0.2]}


def test_log_image_from_a_path_and_argument_errors(exp: Experiment, tmp_path: Path) -> None:
    """log_image(path=...) stores the file; both or neither of path/plot is an error."""
    run = exp.start_logging()
    fig = plt.figure()
    plt.plot([1, 2])
    fig.savefig(tmp_path / "x.png")
    run.log_image("curve", path=str(tmp_path / "x.png"))
    run.log_image("curve", plot=fig)
    plt.close("all")
    images = run.get_metrics()["curve"]
    assert len(images) == 2 and len(set(images)) == 2
    assert all(name in run.get_file_names() for name in images)
    with pytest.raises(ValueError, match="exactly one of path= .* or plot="):
        run.log_image("bad")
    with pytest.raises(ValueError, match="got both"):
        run.log_image("bad", path="x.png", plot=plt)
    with pytest.raises(FileNotFoundError, match="no such file"):
        run.log_image("bad", path=str(tmp_path / "missing.png"))


def test_a_run_has_the_metric_half(exp: Experiment) -> None:
    assert isinstance(exp.start_logging(), RunMetrics)


def test_a_description_is_written_once_per_new_text(exp: Experiment) -> None:
    run = exp.start_logging()
    for i in range(3):
        run.log("loss", float(i), description="training loss")
    run.log("loss", 3.0, description="the loss")
    run.log_list("l", [1], description="a list")
    meta = RunReader(run.path).meta_events()
    assert [e[1:3] for e in meta if e[0] == "metric_description"] == [
        ["loss", "training loss"], ["loss", "the loss"], ["l", "a list"],
    ]  # fmt: skip
    assert RunReader(run.path).state().metric_descriptions == {"loss": "the loss", "l": "a list"}


def test_nothing_can_be_logged_to_a_finished_run(exp: Experiment) -> None:
    run = exp.start_logging()
    run.complete()
    for call in (lambda: run.log("x", 1), lambda: run.log_list("x", [1]), lambda: run.log_row("x", a=1),
                 lambda: run.log_table("x", {"a": [1]}), lambda: run.log_image("x", path=__file__)):  # fmt: skip
        with pytest.raises(runlog.RunFinishedError, match="is Completed"):
            call()
    assert runlog.Run(exp, run.id).get_metrics() == {}


def test_log_image_steps_and_plots(exp: Experiment, tmp_path: Path) -> None:
    run = exp.start_logging()
    image = tmp_path / "a.jpg"
    image.write_bytes(b"not really a jpeg")
    run.log_image("val/sample", path=image, step=3)
    (point,) = run.get_metric_history("val/sample")
    assert point.step == 3 and point.value.startswith("images/val_sample_") and point.value.endswith(".jpg")
    for step in (-1, 1.5, True):
        with pytest.raises(ValueError, match="step must be a whole number"):
            run.log_image("x", path=image, step=step)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="savefig"):
        run.log_image("x", plot=object())


def test_get_metric_history_is_one_series(exp: Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 1.0)
    with pytest.raises(ValueError, match="one series"):
        run.get_metric_history("loss", rank="all")
    assert [p.value for p in run.get_metric_history("loss", rank="merged")] == [1.0]


def test_get_metrics_by_rank_of_a_single_process_run(exp: Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 1.0)
    assert run.get_metrics(rank=0) == run.get_metrics(rank="merged") == run.get_metrics() == {"loss": 1.0}
    assert run.get_metrics(rank="all") == {None: {"loss": 1.0}}
    with pytest.raises(ValueError, match="has no rank 1"):
        run.get_metrics(rank=1)


def test_recursive_metrics_can_keep_one_run_type(exp: Experiment) -> None:
    parent = exp.start_logging()
    parent.log("p", 1)
    child = parent.child_run()
    child.log("c", 2)
    assert parent.get_metrics(recursive=True, run_type="no such type") == {}
    assert parent.get_metrics(recursive=True, run_type=child.type) == {parent.id: {"p": 1}, child.id: {"c": 2}}


def test_a_value_the_store_did_not_take_is_kept_and_later_ones_queue_behind_it(
    exp: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = exp.start_logging(strict=False)
    writer = run._writer
    real = writer.scalar
    calls: list[Any] = []

    def full_once(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise StoreError("No space left on device")
        real(*args, **kwargs)

    monkeypatch.setattr(writer, "scalar", full_once)
    run.log("loss", 1.0)
    run.log("loss", 2.0)  # the store works again, but this one waits behind the kept one
    assert run._pending is not None and len(run._pending) == 2
    run.flush()
    assert run._pending is not None and len(run._pending) == 0
    assert [p.value for p in run.get_metric_history("loss")] == [1.0, 2.0]


def test_strict_runs_raise_what_the_store_raised(exp: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    run = exp.start_logging(strict=True)

    def full(*args: Any, **kwargs: Any) -> None:
        raise StoreError("No space left on device")

    monkeypatch.setattr(run._writer, "metric", full)
    with pytest.raises(StoreError, match="No space"):
        run.log_list("l", [1])
    assert run._pending is None
    assert not list((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))
