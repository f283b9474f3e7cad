"""Tests of runlog._mlflow.entities: runlog's records as MLflow entities, and MLflow's checks of metric points."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from runlog._mlflow.entities import I64, MAX_MS, entity, is_number, ms, ms_or_zero, not_found, point
from runlog._store.search import RunRow


def test_ms_rounds_seconds_to_milliseconds() -> None:
    assert ms(1.2345) == 1234 and ms(1.2346) == 1235 and ms(0) == 0


@pytest.mark.parametrize("value", [None, "12", True, math.nan, math.inf, [1]])
def test_ms_or_zero_is_zero_for_what_is_no_finite_time(value: object) -> None:
    assert ms_or_zero(value) == 0


def test_ms_or_zero_of_a_time() -> None:
    assert ms_or_zero(1764858516.25) == 1764858516250 and ms_or_zero(2) == 2000


def test_a_point_is_name_value_step_and_seconds() -> None:
    assert point(Metric("loss", 0.5, 1764858516250, 3)) == ("loss", 0.5, 3, 1764858516.25)
    assert point(Metric("n", 2, 0, None)) == ("n", 2.0, 0, 0.0)  # no step: 0
    assert point(Metric("big", 1.0, MAX_MS - 1, I64 // 2))[2] == I64 // 2
    assert point(Metric("neg", 1.0, 0, -I64))[2] == -I64


@pytest.mark.parametrize("step", [2**53 + 1, I64 - 1, -(2**60) - 3])
def test_a_whole_step_beyond_what_a_float_holds_is_kept_exactly(step: int) -> None:
    """An int step is whole however large (a float of it would round 2**53 + 1 to 2**53)."""
    assert point(Metric("m", 1.0, 0, step))[2] == step
    assert point(Metric("m", 1.0, 0, 3.0))[2] == 3  # (a whole float is still taken)


@pytest.mark.parametrize(
    ("value", "timestamp", "step"),
    [
        ("text", 0, 0),
        (1j, 0, 0),
        (1.0, math.nan, 0),
        (1.0, -1, 0),
        (1.0, MAX_MS, 0),  # beyond what a float holds to the millisecond
        (1.0, 0, I64),
        (1.0, 0, -I64 - 1),
        (1.0, 0, 1.5),  # not a whole step
    ],
)
def test_a_point_no_store_can_keep_is_mlflows_invalid_parameter(value: object, timestamp: object, step: object) -> None:
    with pytest.raises(MlflowException, match="metric 'm'") as info:
        point(Metric("m", value, timestamp, step))  # type: ignore[arg-type]
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_is_number_takes_only_the_builtin_number_types() -> None:
    assert is_number(1) and is_number(1.5) and is_number(True)
    assert not is_number("1") and not is_number(None) and not is_number(1j)

    class MyFloat(float):
        pass

    assert not is_number(MyFloat(1.0))  # the exact types only (what the writer stored as a number)


def test_not_found_is_mlflows_resource_does_not_exist() -> None:
    error = not_found("abc")
    assert isinstance(error, MlflowException) and error.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "Run 'abc' not found" in str(error)


def test_a_search_row_becomes_an_mlflow_run() -> None:
    row = RunRow(
        run_id="r1",
        run_name="first",
        status="Completed",
        start_time=1000,
        end_time=2000,
        user_id="ann",
        experiment_id="7",
        artifact_uri="file:///store/r1/files",
        metrics={"loss": 0.25, "acc": 0.9},
        metric_points={"loss": [4, 1500]},
        params={"lr": "0.1"},
        tags={"mlflow.runName": "first", "team": "vision"},
    )
    run = entity(row)
    info = run.info
    assert (info.run_id, info.run_name, info.status, info.experiment_id) == ("r1", "first", "FINISHED", "7")
    assert (info.start_time, info.end_time, info.user_id, info.artifact_uri) == (1000, 2000, "ann", row.artifact_uri)
    assert run.data.metrics == {"loss": 0.25, "acc": 0.9}
    assert run.data.params == {"lr": "0.1"} and run.data.tags["team"] == "vision"
    loss = next(m for m in run.data._metric_objs if m.key == "loss")
    acc = next(m for m in run.data._metric_objs if m.key == "acc")
    assert (loss.step, loss.timestamp) == (4, 1500)
    assert (acc.step, acc.timestamp) == (0, 0)  # no recorded point: step 0 at time 0


@pytest.mark.parametrize(
    ("status", "mlflow"),
    [
        ("Running", "RUNNING"),
        ("Failed", "FAILED"),
        ("Canceled", "KILLED"),
        ("Queued", "SCHEDULED"),
        ("Bogus", "RUNNING"),
    ],
)
def test_the_status_is_mlflows_name_for_it(status: str, mlflow: str) -> None:
    assert entity(RunRow(run_id="r", status=status)).info.status == mlflow
