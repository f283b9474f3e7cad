"""Tests of runlog._mlflow.store: the tracking store MLflow clients read and write a runlog store through."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, Metric
from mlflow.exceptions import MlflowException

import runlog
from runlog._mlflow import store as mlflow_store
from runlog._mlflow.store import RunlogTrackingStore


def test_latest_value_is_the_last_logged_and_model_copies_are_not_doubled(ws: runlog.Workspace, uri: str) -> None:
    """Step-less points at one timestamp: the latest is the last logged; MLflow 3's model-linked copies are dropped."""
    client = MlflowClient()
    with mlflow.start_run() as active:
        run_id = active.info.run_id
        client.log_batch(run_id, metrics=[Metric("alpha", 2.0, 1000, 0), Metric("alpha", 1.0, 1000, 0)])
        # mlflow 3.17 Model.log: log_outputs(run, [LoggedModelOutput(model, step)]), then the step's history
        # again with the model's id (log_model_metrics_for_step).
        client.log_outputs(run_id, [LoggedModelOutput("m-1", step=0)])
        copies = [
            Metric("alpha", m.value, m.timestamp, m.step, model_id="m-1")
            for m in client.get_metric_history(run_id, "alpha")
        ]
        client.log_batch(run_id, metrics=copies)
        client.log_batch(run_id, metrics=[Metric("beta", 3.0, 2000, 0, model_id="m-1")])  # not a copy: kept
        client.log_batch(
            run_id, metrics=[Metric("alpha", 1.0, 1000, 0, model_id="m-1")]
        )  # an active model's point: kept
    assert client.get_run(run_id).data.metrics["alpha"] == 1.0
    assert ws.get_run(run_id).experiment.name == "Default"  # no experiment set: MLflow's id "0"
    assert client.get_run(run_id).info.experiment_id == "0"
    assert ws.get_run(run_id).get_metrics() == {"alpha": [2.0, 1.0, 1.0], "beta": 3.0}


def test_nested_runs_and_search_runs_with_filter_order_and_paging(ws: runlog.Workspace, uri: str) -> None:
    """A sweep of nested runs: search_runs takes MLflow's filter and order-by, pages, and returns a DataFrame."""
    exp_id = mlflow.set_experiment("sweep").experiment_id
    with mlflow.start_run(run_name="parent") as parent:
        for i, lr in enumerate(["0.1", "0.01", "0.01", "0.001"]):
            with mlflow.start_run(run_name=f"child-{i}", nested=True):
                mlflow.log_param("lr", lr)
                mlflow.log_metric("val_acc", 0.5 + 0.1 * i)
    native = runlog.Run._start(runlog.Experiment(ws, "sweep"), outputs=None)  # a run of runlog's own API
    native.log("val_acc", 0.99)
    native.add_properties({"lr": "0.01"})
    native.complete()
    frame = mlflow.search_runs(
        experiment_names=["sweep"], filter_string="metrics.val_acc > 0.55 and params.lr = '0.01'",
        order_by=["metrics.val_acc DESC"],
    )  # fmt: skip
    assert list(frame["metrics.val_acc"]) == [0.99, 0.7, 0.6]
    assert frame["run_id"].iloc[0] == native.id
    children = mlflow.search_runs([exp_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(children["tags.mlflow.runName"]) == ["child-0", "child-1", "child-2", "child-3"]
    client = MlflowClient()
    seen, token = [], None
    while True:
        page = client.search_runs([exp_id], max_results=2, page_token=token, order_by=["attributes.start_time ASC"])
        assert len(page) <= 2
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6
    assert [e.name for e in client.search_experiments(filter_string="name = 'sweep'")] == ["sweep"]


def test_bad_input_gets_mlflows_errors_and_never_damages_the_run(ws: runlog.Workspace, uri: str) -> None:
    """Unknown run or experiment, a param logged twice with another value, a metric that is not a number:
    MlflowException with MLflow's error codes; what was logged stays readable."""
    client = MlflowClient()
    with pytest.raises(MlflowException) as missing:
        client.get_run("no_such_run")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_exp:
        client.get_experiment("12345")
    assert no_exp.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with mlflow.start_run() as active:
        mlflow.log_param("lr", "0.1")
        mlflow.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("lr", "0.2")
        assert changed.value.error_code == "INVALID_PARAMETER_VALUE" and "already logged" in str(changed.value)
        with pytest.raises(MlflowException) as nan:
            mlflow.log_metric("loss", "not a number")  # type: ignore[arg-type]
        assert nan.value.error_code == "INVALID_PARAMETER_VALUE"
        mlflow.log_metric("loss", 0.5)
        with pytest.raises(MlflowException):
            client.delete_tag(active.info.run_id, "never-set")
    run = ws.get_run(active.info.run_id)
    assert run.get_metrics() == {"loss": 0.5} and run.get_properties() == {"lr": "0.1"}
    assert run.get_status() == "Completed"
    gone = mlflow.start_run()  # the run's folder removed under it: MLflow's exceptions, not others
    shutil.rmtree(ws.get_run(gone.info.run_id).path)
    with pytest.raises(MlflowException) as removed:
        mlflow.log_metric("first", 1.0)
    assert removed.value.error_code == "INTERNAL_ERROR" and "removed" in str(removed.value)
    with pytest.raises(MlflowException) as ended:
        mlflow.end_run()
    assert ended.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert runlog._model.context.active_run() is None  # let go of: no longer this process's active run
    for bad in (Metric("m", 1.0, float("nan"), 0), Metric("m", 1.0, 1, float("inf")), Metric("m", 1.0, -5, 0),
                Metric("m", 1.0, 1, 2**70)):  # fmt: skip
        with pytest.raises(MlflowException) as refused:
            client.log_batch(run.id, metrics=[bad])
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.id).data.metrics == {"loss": 0.5}  # nothing stored, the run still reads


def test_a_run_an_mlflow_client_starts_is_sampled_unless_mlflow_samples_it(
    ws: runlog.Workspace, uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlflow.start_run() gets runlog's system metrics like start_logging(); not when MLflow's own monitor is
    on (MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING), which writes the same system/ names."""
    monkeypatch.setenv("RUNLOG_SYSTEM_METRICS", "1")
    monkeypatch.setenv("RUNLOG_SYSTEM_METRICS_INTERVAL", "0.1")
    with mlflow.start_run() as active:
        run = ws.get_run(active.info.run_id)
        deadline = time.monotonic() + 30
        while not run.get_metric_history("system/cpu_utilization_percentage"):
            assert time.monotonic() < deadline, "no system metrics sampled"
            time.sleep(0.05)
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    from runlog._mlflow.store import _owned

    with mlflow.start_run(log_system_metrics=False) as second:
        mine = _owned[ws.get_run(second.info.run_id).path]
        assert mine._sampler is None


def test_an_mlflow_run_ended_elsewhere_is_let_go_by_end_run(ws: runlog.Workspace, uri: str) -> None:
    """Canceled from another process while an MLflow client runs it: end_run keeps the Canceled status and this
    process stops treating it as its active run."""
    from runlog._mlflow.store import _owned

    active = mlflow.start_run()
    run_id = active.info.run_id
    code = "import runlog, sys; runlog.Workspace(sys.argv[1]).get_run(sys.argv[2]).cancel()"
    subprocess.run([sys.executable, "-c", code, str(ws.store), run_id], check=True)
    assert runlog._model.context.active_run() is not None  # this process has not looked yet
    mlflow.end_run()
    assert ws.get_run(run_id).get_status() == "Canceled"
    assert runlog._model.context.active_run() is None
    assert ws.get_run(run_id).path not in _owned


def test_a_metric_logged_into_an_ended_run_shows_in_searches(exp: runlog.Experiment, uri: str) -> None:
    """The run index checks an ended run by its events folder's time: a point an MLflow client adds after the
    end (or a late tag) changes it, so searches and get_run show it."""
    from runlog._store.search import find_runs

    run = exp.start_logging(outputs=False)
    run.log("loss", 0.5)
    run.complete()
    assert find_runs(exp.workspace.store, "metrics.late > 0")[0] == []
    MlflowClient().log_metric(run.id, "late", 1.0)
    assert [r.run_id for r in find_runs(exp.workspace.store, "metrics.late > 0")[0]] == [run.id]
    run.tag("after", "end")
    assert [r.run_id for r in find_runs(exp.workspace.store, "tags.after = 'end'")[0]] == [run.id]


def test_the_uri_names_the_store_and_a_host_is_refused(ws: runlog.Workspace, tmp_path: Path) -> None:
    assert RunlogTrackingStore(ws.get_mlflow_tracking_uri()).store == ws.store
    assert RunlogTrackingStore(f"runlog:{tmp_path / 'other'}").store == tmp_path / "other"
    assert RunlogTrackingStore("runlog:").store == runlog.Workspace.from_config().store  # the configured store
    with pytest.raises(MlflowException, match="names a host") as info:
        RunlogTrackingStore("runlog://somehost/data")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_experiments_are_created_found_and_tagged(server_store: RunlogTrackingStore) -> None:
    from mlflow.entities import ExperimentTag

    exp_id = server_store.create_experiment("team/sweep", tags=[ExperimentTag("owner", "ann")])
    found = server_store.get_experiment_by_name("team/sweep")
    assert found is not None and (found.experiment_id, found.name) == (exp_id, "team/sweep")
    assert server_store.get_experiment_by_name("team_sweep") is None  # another name, even if folders look alike
    server_store.set_experiment_tag(exp_id, ExperimentTag("stage", "dev"))
    assert server_store.get_experiment(exp_id).tags == {"owner": "ann", "stage": "dev"}
    with pytest.raises(MlflowException) as twice:
        server_store.create_experiment("team/sweep")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert server_store.get_experiment_by_name("Default").experiment_id == "0"  # made on demand


def test_experiments_are_never_deleted_or_renamed(server_store: RunlogTrackingStore) -> None:
    exp_id = server_store.create_experiment("kept")
    for call in (lambda: server_store.delete_experiment(exp_id), lambda: server_store.rename_experiment(exp_id, "new")):
        with pytest.raises(MlflowException) as refused:
            call()
        assert refused.value.error_code == "INVALID_STATE"
    with pytest.raises(MlflowException) as missing:
        server_store.get_experiment("999999")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_run_created_and_ended_through_the_store(ws: runlog.Workspace, server_store: RunlogTrackingStore) -> None:
    from mlflow.entities import RunTag

    exp_id = server_store.create_experiment("runs")
    tags = [RunTag("mlflow.runName", "first"), RunTag("team", "vision")]
    created = server_store.create_run(exp_id, "ann", 1000, tags, None)
    run_id = created.info.run_id
    native = ws.get_run(run_id)
    assert (native.display_name, native.get_tags()["team"], native.get_status()) == ("first", "vision", "Running")
    assert runlog._model.context.active_run() is None  # a server's run belongs to its client
    info = server_store.update_run_info(run_id, "FINISHED", 2000, "renamed")
    assert (info.status, info.run_name) == ("FINISHED", "renamed")
    assert ws.get_run(run_id).get_status() == "Completed"
    server_store.update_run_info(run_id, "RUNNING", None, None)  # a runlog run does not reopen
    assert ws.get_run(run_id).get_status() == "Completed"


def test_statuses_map_both_ways() -> None:
    from runlog._store.mlflow_names import MLFLOW_STATUS

    assert set(mlflow_store._FROM_MLFLOW) == {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}
    for mlflow_status, status in mlflow_store._FROM_MLFLOW.items():
        assert MLFLOW_STATUS[status] == mlflow_status  # a round trip keeps the status
