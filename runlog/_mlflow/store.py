"""The tracking store itself: MLflow's ``AbstractStore`` over a runlog store (see :mod:`runlog.mlflow`)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import (
    Experiment as MlflowExperiment,
)
from mlflow.entities import (
    ExperimentTag,
    LifecycleStage,
    Metric,
    Param,
    RunInfo,
    RunTag,
    ViewType,
)
from mlflow.entities import (
    Run as MlflowRun,
)
from mlflow.entities import (
    RunStatus as MlflowStatus,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT, SEARCH_MAX_RESULTS_THRESHOLD
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_MODELS, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils
from mlflow.utils.validation import (
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_experiment_name,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag_name,
)

from .._errors import RunlogError
from .._jobs.processes import pid_alive
from .._model import context as _context
from .._model.run import Run, RunStatus
from .._model.workspace import Experiment, Workspace
from .._store import RunReader, layout, writer_for
from .._store.index import signature
from .._store.latest import LatestValues
from .._store.mlflow_names import DEFAULT_EXPERIMENT, DEFAULT_EXPERIMENT_ID, experiment_folder, store_path
from .._store.mlflow_names import experiment_id as _exp_id
from .._store.search import InvalidSearch, find_runs, paginate, run_row
from .entities import I64, MAX_MS, entity, is_number, ms_or_zero, not_found, point
from .models import LoggedModels

__all__ = ["RunlogTrackingStore"]

_log = logging.getLogger("runlog.mlflow")

# MLflow status -> runlog status (runlog -> MLflow is _mlflow_names.MLFLOW_STATUS).
_FROM_MLFLOW = {
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.QUEUED,
    "FINISHED": RunStatus.COMPLETED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.CANCELED,
}
MLFLOW_RUN_TYPE = "mlflow"  # run.json's run_type of runs created by an MLflow client

# Runs an MLflow client created in this process (it owns them: its end_run ends them), by folder.
_owned: dict[Path, Run] = {}
_owned_lock = threading.Lock()


class RunlogTrackingStore(LoggedModels, AbstractStore):  # type: ignore[misc]
    """An MLflow tracking store backed by a runlog store (``runlog:///abs/path``)."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        try:
            path = store_path(store_uri) if store_uri else None
        except ValueError as exc:
            raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from exc
        self.workspace = Workspace.from_config() if path is None else Workspace(path)
        self.store = self.workspace.store
        # Inside `mlflow server` / `mlflow ui` the runs belong to the clients, not to the server process.
        self._server = bool(os.environ.get("_MLFLOW_SERVER_FILE_STORE"))
        self._run_dirs: dict[str, Path] = {}
        self._exp_folders: dict[str, str] = {}  # MLflow experiment id -> folder
        self._valid_keys: set[str] = set()  # metric names MLflow's validation accepted already
        self._linking: dict[Path, set[str]] = {}  # runs whose next batch may hold a linked model's copies
        self._params_lock = threading.Lock()
        self._history: tuple[Path, str, str, list[tuple[float, int, int]]] | None = None  # the last history read
        self._latest = LatestValues()  # each run's latest metrics, read incrementally (get_run is frequent)
        _log.debug("MLflow tracking store on %s", self.store)

    # -- experiments ----------------------------------------------------------------

    def _experiment_record(self, folder: str) -> dict[str, Any] | None:
        try:
            data = layout.read_json(layout.experiment_dir(self.store, folder) / layout.EXPERIMENT_RECORD)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _experiment_entity(self, folder: str, record: dict[str, Any]) -> MlflowExperiment:
        created_ms = ms_or_zero(record.get("created")) or None
        tags = record.get("tags")
        if not isinstance(tags, dict):
            tags = {}
        return MlflowExperiment(
            experiment_id=_exp_id(folder),
            name=str(record.get("mlflow_name") or folder),
            artifact_location=layout.experiment_dir(self.store, folder).as_uri(),
            lifecycle_stage=LifecycleStage.ACTIVE,
            tags=[ExperimentTag(str(k), str(v)) for k, v in tags.items()],
            creation_time=created_ms,
            last_update_time=ms_or_zero(record.get("updated")) or created_ms,
        )

    def _folders(self) -> list[str]:
        root = self.store / layout.EXPERIMENTS_DIR
        try:
            return sorted(p.name for p in root.iterdir() if (p / layout.EXPERIMENT_RECORD).is_file())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _folder_of(self, exp_id: Any) -> str:
        """The folder of an experiment id; RESOURCE_DOES_NOT_EXIST if there is none."""
        exp_id = str(exp_id)
        if exp_id == DEFAULT_EXPERIMENT_ID:
            self._ensure_experiment(DEFAULT_EXPERIMENT)
            return DEFAULT_EXPERIMENT
        folder = self._exp_folders.get(exp_id)
        if folder is None:
            self._exp_folders = {_exp_id(f): f for f in self._folders()}
            folder = self._exp_folders.get(exp_id)
        if folder is None:
            raise MlflowException(f"Could not find experiment with ID {exp_id}", RESOURCE_DOES_NOT_EXIST)
        return folder

    def _ensure_experiment(self, folder: str, name: str | None = None, tags: dict[str, str] | None = None) -> Experiment:
        experiment = Experiment(self.workspace, folder, _skip_name_validation=True)
        if (name is not None and name != folder) or tags:
            record = self._experiment_record(folder) or {}
            if name is not None and name != folder:
                record["mlflow_name"] = name
            if tags:
                record["tags"] = {**(record.get("tags") or {}), **tags}
            layout.write_json_atomic(experiment.path / layout.EXPERIMENT_RECORD, record)
        self._exp_folders[_exp_id(folder)] = folder
        return experiment

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Any]:
        if view_type == ViewType.DELETED_ONLY:
            return PagedList([], None)
        experiments = []
        for folder in self._folders():
            record = self._experiment_record(folder)
            if record is not None:
                experiments.append(self._experiment_entity(folder, record))
        experiments = SearchExperimentsUtils.filter(experiments, filter_string)
        experiments = SearchExperimentsUtils.sort(experiments, order_by or [])
        page, token = SearchUtils.paginate(experiments, page_token, max_results)
        return PagedList(page, token)

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] | None = None) -> str:
        _validate_experiment_name(name)
        if self.get_experiment_by_name(name) is not None:
            raise MlflowException(f"Experiment '{name}' already exists.", RESOURCE_ALREADY_EXISTS)
        folder = experiment_folder(name)
        self._ensure_experiment(folder, name, {t.key: str(t.value) for t in tags or []})
        _log.debug("MLflow client created experiment %r (%s)", name, folder)
        return _exp_id(folder)

    def get_experiment(self, experiment_id: str) -> MlflowExperiment:
        folder = self._folder_of(experiment_id)
        record = self._experiment_record(folder)
        if record is None:
            raise MlflowException(f"Could not find experiment with ID {experiment_id}", RESOURCE_DOES_NOT_EXIST)
        return self._experiment_entity(folder, record)

    def get_experiment_by_name(self, experiment_name: str) -> MlflowExperiment | None:
        folder = experiment_folder(experiment_name)
        record = self._experiment_record(folder)
        if record is None and experiment_name == DEFAULT_EXPERIMENT:
            self._ensure_experiment(DEFAULT_EXPERIMENT)
            record = self._experiment_record(folder)
        if record is None or str(record.get("mlflow_name") or folder) != experiment_name:
            return None
        return self._experiment_entity(folder, record)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        _validate_tag_name(tag.key)
        folder = self._folder_of(experiment_id)
        self._ensure_experiment(folder, tags={tag.key: str(tag.value)})

    def delete_experiment(self, experiment_id: str) -> None:
        raise MlflowException(
            "a runlog store keeps every experiment: remove its folder "
            f"{layout.experiment_dir(self.store, self._folder_of(experiment_id))} to delete it",
            INVALID_STATE,
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        raise MlflowException(
            "runlog experiments cannot be renamed (their name is their folder); create a new experiment",
            INVALID_STATE,
        )

    # -- runs -----------------------------------------------------------------------

    def _run_dir(self, run_id: Any) -> Path:
        """The folder of run ``run_id``; RESOURCE_DOES_NOT_EXIST if the store has none."""
        found = self._run_dirs.get(run_id)
        if found is not None:
            return found
        _validate_run_id(run_id)
        for folder in self._folders():
            candidate = layout.run_dir(self.store, folder, run_id)
            if (candidate / layout.RUN_RECORD).is_file():
                self._run_dirs[run_id] = candidate
                return candidate
        raise not_found(run_id)

    def _existing_run_dir(self, run_id: Any) -> Path:
        """``_run_dir``, checking that a remembered run still has its folder (it may have been removed)."""
        run_dir = self._run_dir(run_id)
        if not (run_dir / layout.RUN_RECORD).is_file():
            self._run_dirs.pop(run_id, None)
            raise not_found(run_id)
        return run_dir

    def _done(self, writer: Any) -> None:
        """In a server, close what a request opened: it serves many runs and owns none (no descriptor per run)."""
        if self._server:
            writer.close()

    def create_run(
        self,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Sequence[RunTag] | None,
        run_name: str | None,
    ) -> MlflowRun:
        folder = self._folder_of(experiment_id)
        tag_map = {t.key: str(t.value) for t in tags or []}
        run_name = run_name or tag_map.pop(MLFLOW_RUN_NAME, None) or None
        tag_map.pop(MLFLOW_RUN_NAME, None)
        parent_id = tag_map.get(MLFLOW_PARENT_RUN_ID)
        extra: dict[str, Any] = {"parent_id": parent_id, "run_type": MLFLOW_RUN_TYPE}
        if user_id:
            extra["user"] = user_id
        experiment = self._ensure_experiment(folder)
        if self._server:  # the server's clients own the run: nothing of this process follows it
            run = Run._create(experiment, display_name=run_name, run_type=MLFLOW_RUN_TYPE, extra=extra)
        else:  # this process's active run while it runs (RunHandler writes into it), sampled, uploaded
            mlflow_samples = os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "").lower() in ("true", "1")
            run = Run._start(
                experiment, display_name=run_name, outputs=None, run_type=MLFLOW_RUN_TYPE, extra=extra,
                system_metrics=False if mlflow_samples else None,  # MLflow's own monitor writes the same names
            )  # fmt: skip
            with _owned_lock:
                _owned[run.path] = run
        for key, value in tag_map.items():
            run._writer.meta("tag", key, value, keep_open=not self._server)
        self._done(run._writer)
        self._run_dirs[run.id] = run.path
        _log.debug("MLflow client created run %s in experiment %s", run.id, folder)
        return self.get_run(run.id)

    def get_run(self, run_id: str) -> MlflowRun:
        return self._entity(self._existing_run_dir(run_id))

    def _entity(self, run_dir: Path) -> MlflowRun:
        return entity(run_row(run_dir, self._latest))

    def update_run_info(self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None) -> RunInfo:
        run_dir = self._run_dir(run_id)
        if not (run_dir / layout.RUN_RECORD).is_file():  # its folder was removed: let go of it, and say so
            with _owned_lock:
                owned = _owned.pop(run_dir, None)
            if owned is not None:
                owned._finished = True
                owned._stop_system_metrics()
                _context.finished(owned)
            run_dir = self._existing_run_dir(run_id)
        writer = writer_for(run_dir)
        state = RunReader(run_dir).state()
        try:
            if run_name and run_name != (state.display_name or run_id):
                writer.meta("name", None, str(run_name), keep_open=False)
            status = MlflowStatus.to_string(run_status) if isinstance(run_status, int) else str(run_status)
            target = _FROM_MLFLOW.get(status)
            if target in RunStatus.TERMINAL:
                self._end(run_dir, target, status, ended_already=state.status in RunStatus.TERMINAL)
            elif target is not None and state.status in RunStatus.TERMINAL:
                _log.debug("run %s is %s: an MLflow client asked for %s; a runlog run does not reopen", run_id, state.status, status)
        except RunlogError as exc:
            raise MlflowException(f"could not update run {run_id}: {exc}", INTERNAL_ERROR) from exc
        finally:
            self._done(writer)
        return self._entity(run_dir).info

    def _end(self, run_dir: Path, status: str, mlflow_status: str, *, ended_already: bool = False) -> None:
        """End a run an MLflow client ended, unless runlog's API started it and its owner still runs."""
        with _owned_lock:
            owned = _owned.pop(run_dir, None)
        if owned is not None:  # ours: let go of it (context, sampler, upload) even if it was ended elsewhere
            try:
                if not owned._ended_elsewhere():
                    owned._end(status)
            except Exception as exc:  # e.g. ended another way in between: the first end stands
                _log.debug("run %s: %s", run_dir.name, exc)
            return
        if ended_already:
            return
        if self._owner_alive(run_dir):
            _log.debug(
                "run %s: an MLflow client ended it (%s); it stays running until its owner ends it "
                "(run.complete(), the end of the with block or of the submitted script)",
                run_dir.name, mlflow_status,
            )
            return
        writer_for(run_dir).meta("status", status, None, keep_open=False)
        for run in list(_context._process_runs):  # a runlog object of this process for the same run
            if run.path == run_dir:
                _context.finished(run)

    @staticmethod
    def _owner_alive(run_dir: Path) -> bool:
        """True when runlog's API started the run and the process that will end it still runs."""
        try:
            record = layout.read_json(run_dir / layout.RUN_RECORD)
        except (OSError, ValueError):
            return False
        if not isinstance(record, dict) or record.get("run_type") == MLFLOW_RUN_TYPE:
            return False
        pid = record.get("pid")
        if pid == os.getpid():
            return any(r.path == run_dir and not r._finished for r in _context._process_runs) or (
                _context.environment_run() is not None and _context.environment_run().path == run_dir  # type: ignore[union-attr]
            )
        if not isinstance(pid, int):
            return False
        if record.get("host") != socket.gethostname():
            return True  # another machine's process: cannot be checked from here, so it is not ended for it
        return pid_alive(pid)

    def delete_run(self, run_id: str) -> None:
        raise MlflowException(
            f"a runlog store keeps every run: remove the folder {self._run_dir(run_id)} to delete run {run_id}",
            INVALID_STATE,
        )

    def restore_run(self, run_id: str) -> None:
        self._run_dir(run_id)  # every run of a runlog store is active

    # -- logging --------------------------------------------------------------------

    def log_batch(self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> None:
        run_dir = self._run_dirs.get(run_id)
        if run_dir is None:
            run_dir = self._run_dir(run_id)
        if len(metrics) == 1 and not params and not tags and not self._server:  # log_metric: the hot path
            m = metrics[0]
            value, step, timestamp = m.value, m.step, m.timestamp
            if (
                m.key in self._valid_keys and (type(value) is float or type(value) is int) and type(step) is int
                and type(timestamp) is int and 0 <= timestamp < MAX_MS and -I64 <= step < I64 and m.model_id is None
            ):  # fmt: skip
                try:
                    writer = writer_for(run_dir)
                    writer.points([(m.key, float(value), step, timestamp / 1000.0)])
                    if run_dir not in _owned:  # maybe an ended run: the run index must see the change
                        writer.touch()
                except RunlogError as exc:
                    raise MlflowException(f"could not log to run {run_id}: {exc}", INTERNAL_ERROR) from exc
                return
        metrics, params, tags = _validate_batch_log_data(metrics, params, tags)
        if len(metrics) > 1 or params or tags:
            _validate_batch_log_limits(metrics, params, tags)
            _validate_param_keys_unique(params)
        points = [point(m) for m in metrics]  # refuses what MLflow's validation lets through (NaN times, ...)
        self._valid_keys.update(m.key for m in metrics)
        writer = writer_for(run_dir)
        try:
            if params:
                self._log_params(run_dir, run_id, params)
            for tag in tags:
                if tag.key == MLFLOW_RUN_NAME:
                    writer.meta("name", None, str(tag.value), keep_open=not self._server)
                else:
                    writer.meta("tag", tag.key, str(tag.value), keep_open=not self._server)
            if points:
                linking = {m.model_id for m in metrics if m.model_id is not None} & self._linking.pop(run_dir, set())
                if linking:  # the copies MLflow 3 sends right after log_outputs to link a model: not stored twice
                    points = self._without_copies(run_dir, metrics, points, linking)
                writer.points(points)
                if run_dir not in _owned:  # maybe an ended run: the run index must see the change
                    writer.touch()
        except RunlogError as exc:  # the store could not take it (a full disk, a removed run folder)
            raise MlflowException(f"could not log to run {run_id}: {exc}", INTERNAL_ERROR) from exc
        finally:
            self._done(writer)

    def _log_params(self, run_dir: Path, run_id: str, params: Sequence[Param]) -> None:
        with self._params_lock:  # MLflow's async queue logs from several threads: check and write as one
            self._log_params_locked(run_dir, run_id, params)

    def _log_params_locked(self, run_dir: Path, run_id: str, params: Sequence[Param]) -> None:
        current = RunReader(run_dir).state().properties
        new: dict[str, str] = {}
        for param in params:
            value = str(param.value)
            old = current.get(param.key, new.get(param.key))
            if old is not None and old != value:
                raise MlflowException(
                    f"Changing param values is not allowed. Param with key='{param.key}' was already logged with "
                    f"value='{old}' for run ID='{run_id}'. Attempted logging new value '{value}'.",
                    INVALID_PARAMETER_VALUE,
                )
            if old is None:
                new[param.key] = value
        writer = writer_for(run_dir)
        for key, value in new.items():
            writer.meta("prop", key, value, keep_open=not self._server)

    @staticmethod
    def _without_copies(
        run_dir: Path, metrics: Sequence[Metric], points: list[tuple[str, float, int, float]], linking: set[str]
    ) -> list[tuple[str, float, int, float]]:
        """The points of a batch but the copies of points the run has (same key, value, step and ms)."""
        columns = RunReader(run_dir).metric_columns()
        seen = {
            (name, repr(float(v)), step if type(step) is int else 0, ms_or_zero(ts))
            for kind, name, v, step, ts in zip(columns.kinds, columns.names, columns.values, columns.steps, columns.times)
            if kind == "s" and is_number(v)
        }
        return [
            p for m, p in zip(metrics, points)
            if m.model_id not in linking or (p[0], repr(p[1]), p[2], ms_or_zero(p[3])) not in seen
        ]  # fmt: skip

    def delete_tag(self, run_id: str, key: str) -> None:
        run_dir = self._run_dir(run_id)
        if key not in RunReader(run_dir).state().tags:
            raise MlflowException(f"No tag with name: {key} in run with id {run_id}", RESOURCE_DOES_NOT_EXIST)
        writer = writer_for(run_dir)
        writer.meta("untag", key, None, keep_open=not self._server)
        self._done(writer)

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        run_dir = self._run_dir(run_id)
        history = RunReader(run_dir).state().tags.get(MLFLOW_LOGGED_MODELS)
        try:
            models = json.loads(history) if history else []
        except ValueError:
            models = []
        models.append(mlflow_model.get_tags_dict())
        writer = writer_for(run_dir)
        writer.meta("tag", MLFLOW_LOGGED_MODELS, json.dumps(models), keep_open=not self._server)
        self._done(writer)

    def log_inputs(self, run_id: str, datasets: Any = None, models: Any = None) -> None:
        self._run_dir(run_id)  # datasets and model inputs are not kept (docs/mlflow-clients.md)

    def log_outputs(self, run_id: str, models: Any) -> None:
        """A model linked to the run: MLflow sends the run's metrics again next, tagged with its id (not kept twice)."""
        run_dir = self._run_dir(run_id)
        self._linking.setdefault(run_dir, set()).update(str(m.model_id) for m in models or [])

    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Any]:
        run_dir = self._existing_run_dir(run_id)
        sig = signature(run_dir)
        cached = self._history
        if cached is not None and cached[:3] == (run_dir, metric_key, sig):
            history = cached[3]  # the next page of the same history: not read again
        else:
            columns = RunReader(run_dir).metric_columns()
            history = [
                (float(v), ms_or_zero(ts), step if type(step) is int else 0)
                for kind, name, v, step, ts in zip(columns.kinds, columns.names, columns.values, columns.steps, columns.times)
                if name == metric_key and kind == "s" and is_number(v)
            ]
            self._history = (run_dir, metric_key, sig, history)
        if max_results is None and page_token is None:
            page: list[Any] = history
            token = None
        else:
            try:
                page, token = paginate(history, page_token, max_results or len(history) or 1)
            except InvalidSearch as exc:
                raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from exc
        return PagedList([Metric(metric_key, v, ts, st) for v, ts, st in page], token)

    def _search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> tuple[list[MlflowRun], str | None]:
        if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
            raise MlflowException(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_MAX_RESULTS_THRESHOLD}, but got value {max_results}",
                INVALID_PARAMETER_VALUE,
            )
        folders: list[str] = []
        for exp_id in experiment_ids:
            try:
                folder = self._folder_of(exp_id)
            except MlflowException:
                continue
            if folder not in folders:  # an id given twice ("0" and Default's id) lists its runs once
                folders.append(folder)
        if run_view_type == ViewType.DELETED_ONLY or not folders:  # a runlog store deletes nothing
            return [], None
        try:  # runlog's one search implementation (MLflow's syntax and semantics)
            page, token = find_runs(
                self.store, filter_string, order_by, max_results, page_token, experiments=folders, latest=self._latest,
                plain_words=False,
            )
        except InvalidSearch as exc:
            raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from exc
        return [entity(row) for row in page], token

    # -- traces: not kept -----------------------------------------------------------------

    def search_traces(self, *args: Any, **kwargs: Any) -> tuple[list[Any], str | None]:
        return [], None
