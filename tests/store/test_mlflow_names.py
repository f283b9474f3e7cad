"""runlog._store.mlflow_names: the runlog: tracking URI, MLflow experiment names and ids, statuses."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from runlog import RunStatus
from runlog._store import layout
from runlog._store.mlflow_names import (
    DEFAULT_EXPERIMENT,
    DEFAULT_EXPERIMENT_ID,
    MLFLOW_STATUS,
    experiment_folder,
    experiment_id,
    experiment_name,
    script_environment,
    store_path,
    tracking_uri,
)


@pytest.mark.parametrize("folder", ["plain", "with space", "per%cent", "ünï"])
def test_tracking_uri_and_store_path_round_trip(tmp_path: Path, folder: str) -> None:
    store = tmp_path / folder
    uri = tracking_uri(store)
    assert uri.startswith("runlog:///") and " " not in uri
    assert store_path(uri) == store


def test_tracking_uri_is_absolute_for_a_relative_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tracking_uri("store") == tracking_uri(tmp_path / "store")


def test_store_path_forms() -> None:
    assert store_path("runlog:") is None
    assert store_path("runlog:/abs/path") == Path("/abs/path")
    assert store_path("runlog:///abs/path") == Path("/abs/path")
    assert store_path("runlog:rel") == Path.cwd() / "rel"


@pytest.mark.parametrize(
    ("uri", "message"), [("file:///x", "not a runlog tracking URI"), ("runlog://host/x", "names a host")]
)
def test_store_path_refuses_other_schemes_and_hosts(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store_path(uri)


def test_a_valid_experiment_name_is_its_own_folder() -> None:
    assert experiment_folder("mnist-v2_run") == "mnist-v2_run"


@pytest.mark.parametrize("name", ["with space", "a/b", "_lead", "é", "   ", "x" * 300])
def test_any_other_name_is_a_valid_folder_with_a_hash(name: str) -> None:
    folder = experiment_folder(name)
    assert re.fullmatch(r"[a-zA-Z0-9][\w\-]{0,254}", folder), folder
    assert folder == experiment_folder(name)  # the same name, the same folder
    assert re.search(r"-[0-9a-f]{8}$", folder)


def test_two_names_that_clean_to_the_same_text_get_different_folders() -> None:
    assert experiment_folder("a b") != experiment_folder("a/b")


def test_experiment_ids() -> None:
    assert experiment_id(DEFAULT_EXPERIMENT) == DEFAULT_EXPERIMENT_ID == "0"
    assert experiment_id("mnist") == str(uuid.uuid5(uuid.NAMESPACE_URL, "runlog:mnist"))
    assert experiment_id("mnist") != experiment_id("cifar")


def test_experiment_name_is_the_recorded_mlflow_name_or_the_folder(tmp_path: Path) -> None:
    folder = layout.experiment_dir(tmp_path, "a-b-12345678")
    folder.mkdir(parents=True)
    assert experiment_name(tmp_path, "a-b-12345678") == "a-b-12345678"  # no record
    (folder / layout.EXPERIMENT_RECORD).write_text(json.dumps({"name": "a-b-12345678", "mlflow_name": "a b"}))
    assert experiment_name(tmp_path, "a-b-12345678") == "a b"
    (folder / layout.EXPERIMENT_RECORD).write_text(json.dumps({"mlflow_name": ""}))
    assert experiment_name(tmp_path, "a-b-12345678") == "a-b-12345678"
    (folder / layout.EXPERIMENT_RECORD).write_text("[damaged")
    assert experiment_name(tmp_path, "a-b-12345678") == "a-b-12345678"


def test_script_environment_names_the_run_for_mlflow_clients(tmp_path: Path) -> None:
    env = script_environment(tmp_path, "exp", "exp_1_a")
    assert env == {
        "MLFLOW_TRACKING_URI": tracking_uri(tmp_path),
        "MLFLOW_RUN_ID": "exp_1_a",
        "MLFLOW_EXPERIMENT_NAME": "exp",
        "MLFLOW_EXPERIMENT_ID": experiment_id("exp"),
    }
    assert script_environment(tmp_path, "exp", "r", "http://remote")["RUNLOG_TRACKING_URI"] == "http://remote"


def test_every_run_status_has_an_mlflow_status() -> None:
    assert set(MLFLOW_STATUS) == set(RunStatus.list())
    assert set(MLFLOW_STATUS.values()) <= {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}
    assert [MLFLOW_STATUS[s] for s in ("Completed", "Failed", "Canceled")] == ["FINISHED", "FAILED", "KILLED"]
