"""MLflow 3 logged models in a runlog store: JSON records in ``<store>/models/``, their files among
the source run's files (``models/<name>``), searched with MLflow's own filter and order rules."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import LoggedModel, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchLoggedModelsUtils
from mlflow.utils.validation import _validate_tag_name

from .._store import layout
from .._store.mlflow_names import DEFAULT_EXPERIMENT_ID
from .._store.mlflow_names import experiment_id as _exp_id

__all__ = ["MODELS_DIR", "LoggedModels"]

MODELS_DIR = "models"


def _model(data: Any) -> LoggedModel:
    model = LoggedModel.from_dictionary(data)
    assert isinstance(model, LoggedModel)
    return model


class LoggedModels:
    """The logged-model half of the tracking store (a base of ``RunlogTrackingStore``)."""

    store: Path

    if TYPE_CHECKING:

        def _folder_of(self, exp_id: Any) -> str: ...

        def _run_dir(self, run_id: Any) -> Path: ...

    def _model_path(self, model_id: str) -> Path:
        if not isinstance(model_id, str) or not model_id.replace("-", "").isalnum():
            raise MlflowException(f"Logged model with ID '{model_id}' not found.", RESOURCE_DOES_NOT_EXIST)
        return self.store / MODELS_DIR / f"{model_id}.json"

    def _save_model(self, model: LoggedModel) -> LoggedModel:
        layout.write_json_atomic(self._model_path(model.model_id), model.to_dictionary())
        return model

    def create_logged_model(
        self,
        experiment_id: str = DEFAULT_EXPERIMENT_ID,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[Any] | None = None,
        params: Sequence[Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        folder = self._folder_of(experiment_id)
        model_id = f"m-{uuid.uuid4().hex}"
        name = name or "model"
        if source_run_id:
            files = self._run_dir(source_run_id) / layout.FILES_DIR
            stem = f"{MODELS_DIR}/{layout.safe_file_stem(name)}"
            relative, n = stem, 1
            while (files / relative).exists():
                relative, n = f"{stem}_{n}", n + 1
            location = files / relative
        else:
            location = self.store / MODELS_DIR / model_id / "artifacts"
        location.mkdir(parents=True, exist_ok=True)
        now = int(time.time() * 1000)
        model = LoggedModel(
            experiment_id=_exp_id(folder),
            model_id=model_id,
            name=name,
            artifact_location=location.as_uri(),
            creation_timestamp=now,
            last_updated_timestamp=now,
            model_type=model_type,
            source_run_id=source_run_id,
            status=LoggedModelStatus.PENDING,
            tags={t.key: str(t.value) for t in tags or []},
            params={p.key: str(p.value) for p in params or []},
        )
        return self._save_model(model)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        try:
            data = layout.read_json(self._model_path(model_id))
        except (OSError, ValueError) as exc:
            raise MlflowException(f"Logged model with ID '{model_id}' not found.", RESOURCE_DOES_NOT_EXIST) from exc
        return _model(data)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        model = self.get_logged_model(model_id)
        model.status = status
        model.last_updated_timestamp = int(time.time() * 1000)
        return self._save_model(model)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[Any]) -> None:
        model = self.get_logged_model(model_id)
        for tag in tags:
            _validate_tag_name(tag.key)
            model.tags[tag.key] = str(tag.value)
        self._save_model(model)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        model = self.get_logged_model(model_id)
        if key not in model.tags:
            raise MlflowException(f"No tag with key {key!r} found for model with ID {model_id!r}.", RESOURCE_DOES_NOT_EXIST)
        del model.tags[key]
        self._save_model(model)

    def log_logged_model_params(self, model_id: str, params: Sequence[Any]) -> None:
        model = self.get_logged_model(model_id)
        for param in params:
            model.params[param.key] = str(param.value)
        self._save_model(model)

    def delete_logged_model(self, model_id: str) -> None:
        path = self._model_path(model_id)
        if not path.is_file():
            raise MlflowException(f"Logged model with ID '{model_id}' not found.", RESOURCE_DOES_NOT_EXIST)
        path.unlink()

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Any]:
        wanted = {str(e) for e in experiment_ids}
        models = []
        for path in sorted((self.store / MODELS_DIR).glob("m-*.json")):
            try:
                model = _model(layout.read_json(path))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if model.experiment_id in wanted:
                models.append(model)
        filtered = SearchLoggedModelsUtils.filter_logged_models(models, filter_string, datasets)
        ordered = SearchLoggedModelsUtils.sort(filtered, order_by)
        page, token = SearchLoggedModelsUtils.paginate(ordered, page_token, max_results or 100)
        return PagedList(page, token)
