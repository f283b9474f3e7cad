"""Fixtures of the producers' tests (OpenTelemetry providers, a running run, MLflow's tracking URI, RunHandler
with each of its two ``handle``s)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from _logging_helpers import PythonRunHandler, require_c_handle
from otel_helpers import Providers

import runlog


@pytest.fixture(params=["C handle", "Python handle"])
def handler_class(request: pytest.FixtureRequest) -> type[runlog.RunHandler]:
    """``runlog.RunHandler`` with its C ``handle`` (``runlog._capture._hot``), then with the Python one. Where
    the C module was not built the first is skipped, unless RUNLOG_REQUIRE_C is set (as ``make test``
    sets it where a C compiler is), which fails it."""
    if request.param == "Python handle":
        return PythonRunHandler
    require_c_handle()
    return runlog.RunHandler


@pytest.fixture()
def providers() -> Iterator[Providers]:
    """OTel providers made by the test, shut down after it."""
    made = Providers()
    yield made
    for provider in made.items:
        provider.shutdown()


@pytest.fixture()
def run(exp: runlog.Experiment) -> runlog.Run:
    """A running run, active for the whole process."""
    return exp.start_logging()


@pytest.fixture()
def uri(ws: runlog.Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """MLflow's global tracking URI set to this test's store (and every MLflow global reset after)."""
    import mlflow
    from mlflow.tracking import fluent

    tracking_uri = ws.get_mlflow_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    yield tracking_uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    fluent._active_experiment_id = None
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):  # set_experiment exports them
        os.environ.pop(name, None)


@pytest.fixture()
def server_store(ws: runlog.Workspace, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The MLflow tracking store on this test's store as `mlflow server` uses it (the runs it creates are not
    this process's)."""
    from runlog._mlflow.store import RunlogTrackingStore

    monkeypatch.setenv("_MLFLOW_SERVER_FILE_STORE", "1")
    return RunlogTrackingStore(ws.get_mlflow_tracking_uri())
