"""runlog's records as MLflow entities and back: runs from search rows, metric points with
MLflow's validation (finite millisecond timestamps, 64-bit steps), MLflow's not-found error."""

from __future__ import annotations

import math
import operator
from typing import Any

from mlflow.entities import LifecycleStage, Metric, Param, RunData, RunInfo, RunInputs, RunOutputs, RunTag
from mlflow.entities import Run as MlflowRun
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

from .._store.mlflow_names import MLFLOW_STATUS
from .._store.search import RunRow

__all__ = ["I64", "MAX_MS", "entity", "is_number", "ms", "ms_or_zero", "not_found", "point"]


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def ms_or_zero(seconds: Any) -> int:
    ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds)
    return ms(seconds) if ok else 0


I64 = 1 << 63
MAX_MS = 1 << 53  # timestamps a float holds to the millisecond


def point(m: Metric) -> tuple[str, float, int, float]:
    """A metric as the writer's ``(name, value, step, time)``; MlflowException for what no store can keep."""
    value, step, timestamp = m.value, m.step, m.timestamp
    try:
        if isinstance(value, complex) or isinstance(step, complex) or isinstance(timestamp, complex):
            raise TypeError("a complex number")
        when, number = float(timestamp), float(value)
        try:
            st = operator.index(step or 0)  # an integer of any kind (numpy's too): exact however large
            whole = True
        except TypeError:  # a float (or another number): whole when it equals its int
            st = int(step or 0)
            whole = st == float(step or 0)
        if not (math.isfinite(when) and 0 <= when < MAX_MS) or not -I64 <= st < I64 or not whole:
            raise ValueError(f"timestamp {timestamp!r} / step {step!r}")
    except (TypeError, ValueError, OverflowError) as exc:
        raise MlflowException(
            f"metric {m.key!r}: value {value!r}, timestamp {timestamp!r} and step {step!r} must be a real number, a "
            f"finite millisecond timestamp (>= 0) and a whole step within 64 bits ({exc})",
            INVALID_PARAMETER_VALUE,
        ) from exc
    return m.key, number, st, when / 1000.0


def is_number(value: Any) -> bool:
    t = type(value)
    return t is float or t is int or t is bool


def not_found(run_id: str) -> MlflowException:
    return MlflowException(f"Run '{run_id}' not found", RESOURCE_DOES_NOT_EXIST)


def entity(row: RunRow) -> MlflowRun:
    """An MLflow run from a search row (its tags carry mlflow.runName and mlflow.parentRunId)."""
    points = row.metric_points
    metrics = [Metric(name, v, points.get(name, [0, 0])[1], points.get(name, [0, 0])[0]) for name, v in row.metrics.items()]
    info = RunInfo(
        run_id=row.run_id,
        experiment_id=row.experiment_id,
        user_id=row.user_id,
        status=MLFLOW_STATUS.get(row.status, "RUNNING"),
        start_time=row.start_time or 0,
        end_time=row.end_time,
        lifecycle_stage=LifecycleStage.ACTIVE,
        artifact_uri=row.artifact_uri,
        run_name=row.run_name,
    )
    data = RunData(
        metrics=metrics,
        params=[Param(k, v) for k, v in row.params.items()],
        tags=[RunTag(k, v) for k, v in row.tags.items()],
    )
    return MlflowRun(info, data, RunInputs(dataset_inputs=[]), RunOutputs(model_outputs=[]))
