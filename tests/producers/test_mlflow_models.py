"""Tests of runlog._mlflow.models: MLflow 3 logged models kept as JSON records in a runlog store."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.entities import LoggedModelParameter, LoggedModelStatus, LoggedModelTag
from mlflow.exceptions import MlflowException

import runlog
from runlog._mlflow.models import MODELS_DIR, LoggedModels
from runlog._mlflow.store import RunlogTrackingStore


def _not_found(call: object) -> None:
    with pytest.raises(MlflowException) as info:
        call()  # type: ignore[operator]
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_the_store_keeps_logged_models() -> None:
    assert issubclass(RunlogTrackingStore, LoggedModels)


def test_a_models_files_go_among_its_source_runs_files(ws: runlog.Workspace, server_store: RunlogTrackingStore) -> None:
    exp_id = server_store.create_experiment("models")
    run_id = server_store.create_run(exp_id, None, None, [], "train").info.run_id
    first = server_store.create_logged_model(
        exp_id, "net/v1", run_id, [LoggedModelTag("k", 1)], [LoggedModelParameter("lr", 0.1)]
    )
    second = server_store.create_logged_model(exp_id, "net/v1", run_id)
    files = ws.get_run(run_id).path / "files"
    stem = next(p.name for p in (files / MODELS_DIR).iterdir() if not p.name.endswith("_1"))
    assert Path(first.artifact_location.removeprefix("file://")) == files / MODELS_DIR / stem
    assert Path(second.artifact_location.removeprefix("file://")) == files / MODELS_DIR / f"{stem}_1"  # not shared
    assert (first.status, first.tags, first.params) == (LoggedModelStatus.PENDING, {"k": "1"}, {"lr": "0.1"})
    assert first.model_id.startswith("m-") and first.model_id != second.model_id
    assert (server_store.store / MODELS_DIR / f"{first.model_id}.json").is_file()


def test_a_model_without_a_run_keeps_its_files_in_the_store(server_store: RunlogTrackingStore) -> None:
    model = server_store.create_logged_model()
    assert model.name == "model" and model.experiment_id == "0"
    assert (
        Path(model.artifact_location.removeprefix("file://"))
        == server_store.store / MODELS_DIR / model.model_id / "artifacts"
    )


def test_a_model_is_finalized_tagged_and_given_params(server_store: RunlogTrackingStore) -> None:
    model_id = server_store.create_logged_model(name="m").model_id
    ready = server_store.finalize_logged_model(model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    server_store.set_logged_model_tags(model_id, [LoggedModelTag("stage", "prod"), LoggedModelTag("n", 2)])
    server_store.log_logged_model_params(model_id, [LoggedModelParameter("depth", 4)])
    server_store.delete_logged_model_tag(model_id, "n")
    read = server_store.get_logged_model(model_id)
    assert (read.status, read.tags, read.params) == (LoggedModelStatus.READY, {"stage": "prod"}, {"depth": "4"})
    assert read.last_updated_timestamp >= read.creation_timestamp
    _not_found(lambda: server_store.delete_logged_model_tag(model_id, "never-set"))


def test_a_deleted_model_is_gone_and_a_bad_id_names_no_file(server_store: RunlogTrackingStore) -> None:
    model_id = server_store.create_logged_model(name="m").model_id
    server_store.delete_logged_model(model_id)
    _not_found(lambda: server_store.get_logged_model(model_id))
    _not_found(lambda: server_store.delete_logged_model(model_id))
    for bad in ("../../etc/passwd", "m-1/../x", "", 5):
        _not_found(lambda bad=bad: server_store.get_logged_model(bad))


def test_search_keeps_the_experiments_asked_for_with_mlflows_filter_order_and_pages(
    server_store: RunlogTrackingStore,
) -> None:
    one, two = server_store.create_experiment("one"), server_store.create_experiment("two")
    for name in ("b", "a", "c"):
        server_store.create_logged_model(one, name)
    server_store.create_logged_model(two, "a")
    (server_store.store / MODELS_DIR / "m-broken.json").write_text("{not json")  # skipped, not an error
    ordered = server_store.search_logged_models([one], order_by=[{"field_name": "name", "ascending": True}])
    assert [m.name for m in ordered] == ["a", "b", "c"]
    assert [m.name for m in server_store.search_logged_models([one, two], filter_string="name = 'a'")] == ["a", "a"]
    page = server_store.search_logged_models([one], max_results=2, order_by=[{"field_name": "name", "ascending": True}])
    assert [m.name for m in page] == ["a", "b"] and page.token
    rest = server_store.search_logged_models(
        [one], page_token=page.token, order_by=[{"field_name": "name", "ascending": True}]
    )
    assert [m.name for m in rest] == ["c"] and not rest.token
